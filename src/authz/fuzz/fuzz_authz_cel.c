/*
 * Fuzz target for the condition language: compile the input as a CEL
 * expression over a fixed set of typed parameters and, when it compiles,
 * evaluate it with values present and with every parameter missing. The
 * evaluator must terminate with a result for every program.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authz/authz_cel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cel_param params[] = {
	{ "i", { CEL_T_INT, CEL_T_ANY } },       { "u", { CEL_T_UINT, CEL_T_ANY } },
	{ "d", { CEL_T_DOUBLE, CEL_T_ANY } },    { "s", { CEL_T_STRING, CEL_T_ANY } },
	{ "b", { CEL_T_BOOL, CEL_T_ANY } },      { "t", { CEL_T_TIMESTAMP, CEL_T_ANY } },
	{ "dur", { CEL_T_DURATION, CEL_T_ANY } }, { "ip", { CEL_T_IPADDR, CEL_T_ANY } },
	{ "l", { CEL_T_LIST, CEL_T_STRING } },   { "m", { CEL_T_MAP, CEL_T_INT } },
	{ "x", { CEL_T_ANY, CEL_T_ANY } },
};
#define NP (sizeof(params) / sizeof(params[0]))

static const char ctx[] =
	"{\"i\": -7, \"u\": 18446744073709551615, \"d\": 2.5, \"s\": \"hello\", \"b\": true,"
	" \"t\": \"2024-02-29T23:59:59.999Z\", \"dur\": \"-1h30m\", \"ip\": \"10.1.2.3\","
	" \"l\": [\"a\", \"hello\"], \"m\": {\"k\": 1, \"hello\": -9223372036854775808},"
	" \"x\": [1, {\"y\": null}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_arena *a = bw_arena_new(4096, (size_t)64 << 20);
	struct bw_err err;
	size_t off;
	struct cel_prog *p = authz_cel_compile(a, (const char *)data, size, params, NP, &off, &err);
	if (!p) {
		if (err.code != 400 || off > size)
			abort();
		bw_arena_free(a);
		return 0;
	}
	struct cel_value args[NP];
	const struct json_value *v = json_parse(a, ctx, sizeof(ctx) - 1, NULL, &err);
	if (!v)
		abort();
	for (size_t i = 0; i < NP; i++)
		if (authz_cel_from_json(a, json_get(v, params[i].name), params[i].type, &args[i], &err) < 0)
			abort();
	char msg[64];
	enum cel_result r = authz_cel_eval(p, args, a, msg, sizeof(msg));
	if (r > CEL_ERROR)
		abort();
	for (size_t i = 0; i < NP; i++)
		args[i].t = CEL_T_UNKNOWN;
	r = authz_cel_eval(p, args, a, msg, sizeof(msg));
	if (r > CEL_ERROR)
		abort();
	bw_arena_free(a);
	return 0;
}
