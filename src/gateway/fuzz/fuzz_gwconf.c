/*
 * Fuzz target: the gateway's config section. The input is loaded as YAML
 * and bound with gateway_conf_bind (every converter, cross-field check and
 * error path); it is also fed, as a NUL-terminated string, to the pattern
 * parsers config relies on (CIDR, host pattern, server address). gateway_new
 * is not called: it resolves names, which a fuzzer must not do.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct bw_arena *a = bw_arena_new(8192, 32u << 20);
	if (!a)
		return 0;
	struct bw_err err;
	struct conf_doc *doc = conf_load_string("fuzz.yaml", (const char *)data, size, a, &err);
	if (doc) {
		struct gateway_conf gc;
		const struct conf_node *sec = conf_get(doc->root, "gateway");
		if (gateway_conf_bind(sec ? sec : doc->root, a, &gc, &err) < 0 &&
		    err.msg[0] == '\0')
			abort(); /* every refusal says why */
	}
	char *s = bw_arena_strndup(a, (const char *)data, size < 300 ? size : 300);
	if (s && strlen(s) == (size < 300 ? size : 300)) {
		struct gw_cidr c;
		if (gw_cidr_parse(s, strlen(s), &c) == 0 && c.bits > 128)
			abort();
		struct gw_hostpat hp;
		const char *why;
		if (gw_hostpat_parse(a, s, &hp, &why) == 0) {
			if (!gw_hostpat_match(&hp, bw_str_make(s, strlen(s))) && !hp.wildcard)
				abort(); /* an exact pattern matches its own text */
		}
		char host[GW_MAX_HOST_LEN];
		uint16_t port;
		if (gw_server_split(s, host, sizeof(host), &port) == 0 && port == 0)
			abort();
	}
	bw_arena_free(a);
	return 0;
}
