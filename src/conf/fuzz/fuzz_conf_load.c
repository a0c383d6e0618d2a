/*
 * Fuzz target for the YAML loader: load the input from memory with small
 * limits (so the fuzzer reaches them), and when it loads, walk the whole
 * tree through the public API — paths, lookups, every typed converter and
 * a binder table — checking the tree's structural invariants as it goes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_conf {
	const char *name;
	bool on;
	int n;
	size_t sz;
	uint64_t dur;
	int mode;
	uint16_t port;
	struct conf_strlist tags;
	struct conf_list items;
	const struct conf_node *raw;
};

struct fz_item {
	const char *host;
	uint16_t port;
};

static const char *const fz_modes[] = {"block", "detect", "off", NULL};

static const struct conf_field fz_item_fields[] = {
    {.name = "host", CONF_STR(struct fz_item, host), .required = true},
    {.name = "port", CONF_PORT(struct fz_item, port), .def = "443"},
};

static const struct conf_field fz_fields[] = {
    {.name = "name", CONF_STR(struct fz_conf, name), .max = 64},
    {.name = "on", CONF_BOOL(struct fz_conf, on), .def = "true"},
    {.name = "n", CONF_INT(struct fz_conf, n), .min = -5, .max = 1000},
    {.name = "size", CONF_SIZE(struct fz_conf, sz), .def = "16k"},
    {.name = "timeout", CONF_DURATION(struct fz_conf, dur), .def = "30s"},
    {.name = "mode", CONF_ENUM(struct fz_conf, mode, fz_modes)},
    {.name = "port", CONF_PORT(struct fz_conf, port)},
    {.name = "tags", CONF_STRLIST(struct fz_conf, tags), .max = 10},
    {.name = "items",
     CONF_LIST(struct fz_conf, items, fz_item_fields, struct fz_item)},
    {.name = "raw", CONF_NODE(struct fz_conf, raw)},
};

static void walk(const struct conf_node *n, const struct conf_doc *doc,
		 size_t depth, size_t *count)
{
	struct bw_err err;
	char path[128];
	if (!n || n->doc != doc || depth > 64 || n->line == 0 || n->column == 0)
		abort();
	(*count)++;
	conf_node_path(n, path, sizeof(path));
	if (strlen(path) >= sizeof(path))
		abort();
	if (n->kind == CONF_SCALAR) {
		if (!n->str || strlen(n->str) != n->len)
			abort(); /* copies are NUL-terminated, NUL-free */
		const char *s;
		bool b;
		int64_t i;
		uint64_t u;
		uint16_t p;
		int e;
		(void)!conf_as_str(n, &s, &err);
		(void)!conf_as_bool(n, &b, &err);
		(void)!conf_as_int(n, INT64_MIN, INT64_MAX, &i, &err);
		(void)!conf_as_uint64(n, 0, UINT64_MAX, &u, &err);
		(void)!conf_as_size(n, 0, UINT64_MAX, &u, &err);
		(void)!conf_as_duration(n, 0, UINT64_MAX, &u, &err);
		(void)!conf_as_enum(n, fz_modes, &e, &err);
		(void)!conf_as_port(n, &p, &err);
		(void)!conf_as_path(n, &s, &err);
		return;
	}
	for (size_t k = 0; k < conf_len(n); k++) {
		const struct conf_node *c = conf_at(n, k);
		if (c->parent != n)
			abort();
		if (n->kind == CONF_MAPPING) {
			/* every key must be found again, and be unique */
			if (!c->key || conf_get(n, c->key) != c)
				abort();
		} else if (c->index != k) {
			abort();
		}
		walk(c, doc, depth + 1, count);
	}
	if (n->kind == CONF_MAPPING) {
		static const char *const allowed[] = {"name", "port", "mode",
						      NULL};
		(void)!conf_check_keys(n, allowed, &err);
		struct fz_conf fc;
		memset(&fc, 0, sizeof(fc));
		(void)!conf_bind(n, fz_fields, BW_ARRAY_LEN(fz_fields), &fc,
				 &err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_arena *a = bw_arena_new(16384, 64u * 1024 * 1024);
	struct bw_err err;
	struct conf_limits lim = {.max_bytes = 256 * 1024,
				  .max_depth = 24,
				  .max_nodes = 20000,
				  .max_scalar = 4096,
				  .max_key = 64,
				  .max_keys = 500,
				  .max_items = 2000};
	if (!a)
		return 0;
	struct conf_doc *doc = conf_load_string_lim(
	    "fuzz.yaml", (const char *)data, size, &lim, a, &err);
	if (doc) {
		size_t count = 0;
		walk(doc->root, doc, 1, &count);
		if (count != doc->nodes)
			abort();
	} else if (err.msg[0] == '\0') {
		abort(); /* every failure explains itself */
	}
	bw_arena_free(a);
	return 0;
}
