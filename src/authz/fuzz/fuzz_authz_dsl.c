/*
 * Fuzz target for the modelling-language DSL reader. Any input must either
 * be refused with a positioned message or give a model whose DSL and JSON
 * forms read back to the same JSON (the writers' round-trip invariant).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authz/authz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *json_of(const struct authz_model *m, size_t *len)
{
	struct bw_buf b;
	bw_buf_init(&b, (size_t)16 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	authz_model_write_json(m, &w, false);
	if (json_writer_finish(&w) < 0)
		abort();
	return bw_buf_detach(&b, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_err err;
	struct authz_model *m = authz_model_parse_dsl((const char *)data, size, &err);
	if (!m) {
		if (err.code != 400 && err.code != 413)
			abort();
		if (err.code == 400 && (err.msg[0] < '0' || err.msg[0] > '9'))
			abort(); /* DSL errors always start with LINE:COL */
		return 0;
	}
	size_t jl, jl2, jl3;
	char *j = json_of(m, &jl);
	struct authz_model *m2 = authz_model_parse_json(j, jl, &err);
	if (!m2)
		abort();
	char *j2 = json_of(m2, &jl2);
	struct bw_buf d;
	bw_buf_init(&d, (size_t)16 << 20);
	if (authz_model_write_dsl(m, &d) < 0)
		abort();
	struct authz_model *m3 = authz_model_parse_dsl(d.data, d.len, &err);
	if (!m3)
		abort();
	char *j3 = json_of(m3, &jl3);
	if (jl != jl2 || memcmp(j, j2, jl) != 0 || jl != jl3 || memcmp(j, j3, jl) != 0)
		abort();
	free(j);
	free(j2);
	free(j3);
	bw_buf_fini(&d);
	authz_model_free(m);
	authz_model_free(m2);
	authz_model_free(m3);
	return 0;
}
