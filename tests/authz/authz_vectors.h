/*
 * The vector runner's driver interface: one implementation calls the
 * engine in process (vec_lib.c), the other a daemon's OpenFGA-compatible
 * HTTP API (vec_http.c). Each test gets a fresh store from setup().
 */
#ifndef BW_AUTHZ_VECTORS_H
#define BW_AUTHZ_VECTORS_H

#include "authz/authz.h"

struct vec_query {
	struct authz_tuple *contextual;
	size_t ncontextual;
	const struct json_value *context;
};

struct vec_driver {
	/* new store named name with the DSL model; err on refusal */
	int (*setup)(struct vec_driver *d, const char *name, const char *dsl, struct bw_err *err);
	void (*teardown)(struct vec_driver *d);
	int (*write)(struct vec_driver *d, const struct authz_write_req *req, struct bw_err *err);
	int (*check)(struct vec_driver *d, const struct vec_query *q, const char *user,
		     const char *relation, const char *object, bool *allowed, struct bw_err *err);
	int (*list_objects)(struct vec_driver *d, const struct vec_query *q, const char *type,
			    const char *relation, const char *user, struct bw_arena *a,
			    const char ***objs, size_t *n, struct bw_err *err);
	int (*list_users)(struct vec_driver *d, const struct vec_query *q, const char *object,
			  const char *relation, const char *ftype, const char *frel,
			  struct bw_arena *a, const char ***users, size_t *n, struct bw_err *err);
	void (*close)(struct vec_driver *d);
};

struct vec_driver *vec_lib_driver(void);
struct vec_driver *vec_http_driver(const char *url, const char *token);
/* YAML node -> JSON value in arena a (NULL for NULL). */
struct conf_node;
const struct json_value *vec_json(struct bw_arena *a, const struct conf_node *n);

#endif
