/*
 * bulwark's own authorization on the engine: the built-in platform model
 * (platform.fga, compiled in as authz_platform_fga), one "bulwark-platform"
 * store per tenant holding the object tenant:<tenant>, the 18 platform
 * roles as assignable relations on it, and the permission check the admin
 * API calls for every route.
 *
 * Invariants:
 *  - a permission string maps to the relation "can_" + the string with
 *    dots replaced by underscores, and only to a relation the built-in
 *    model defines (an unknown permission is denied, never guessed);
 *  - platform-admin is granted only in the tenant "platform";
 *  - every failure of authz_platform_check answers false (fail closed);
 *  - the role table (docs/roles.md) is generated from the compiled model,
 *    so documentation and enforcement cannot drift apart.
 */
#include "authz/authz_int.h"
#include "event/event.h"

#include <stdio.h>
#include <string.h>

static const char *const roles[] = {
	"platform-admin", "tenant-admin",   "security-admin",     "user-admin",
	"auditor",        "compliance-officer", "key-admin",      "key-user",
	"cert-admin",     "cert-requester", "waf-admin",          "gateway-operator",
	"siem-admin",     "siem-analyst",   "incident-responder", "forensic-investigator",
	"backup-operator", "viewer",
};
_Static_assert(BW_ARRAY_LEN(roles) == AUTHZ_PLATFORM_NROLES, "18 platform roles");

const char *authz_platform_role(size_t i)
{
	return i < BW_ARRAY_LEN(roles) ? roles[i] : NULL;
}

const char *authz_platform_model_text(void)
{
	return authz_platform_fga;
}

/* "key-admin" -> "key_admin" (out holds AUTHZ_RELATION_NAME_MAX + 1). */
static bool role_relation(const char *role, char *out, size_t cap)
{
	bool known = false;
	for (size_t i = 0; i < BW_ARRAY_LEN(roles) && !known; i++)
		known = strcmp(roles[i], role) == 0;
	if (!known || strlen(role) >= cap)
		return false;
	size_t i = 0;
	for (; role[i]; i++)
		out[i] = role[i] == '-' ? '_' : role[i];
	out[i] = 0;
	return true;
}

/* "kms.key.use" -> "can_kms_key_use"; only [a-z0-9.] in the permission. */
static bool perm_relation(const char *perm, char *out, size_t cap)
{
	size_t n = perm ? strlen(perm) : 0;
	if (n == 0 || n + 5 > cap)
		return false;
	memcpy(out, "can_", 4);
	for (size_t i = 0; i < n; i++) {
		char c = perm[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'))
			return false;
		out[4 + i] = c == '.' ? '_' : c;
	}
	out[4 + n] = 0;
	return true;
}

/* ------------------------------------------------------------ subjects */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int authz_subject_decode(const char *in, size_t n, char *out, size_t cap)
{
	if (!in || !out || cap == 0 || n == 0 || n > AUTHZ_SUBJECT_MAX * 3)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k + 1 >= cap || k >= AUTHZ_SUBJECT_MAX)
			return -1;
		unsigned char c = (unsigned char)in[i];
		if (c == '%') {
			int hi = i + 2 < n ? bw_hex_digit(in[i + 1]) : -1;
			int lo = hi >= 0 ? bw_hex_digit(in[i + 2]) : -1;
			if (lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c <= 0x20 || c >= 0x7f)
			return -1; /* NUL, controls, space, non-ASCII */
		out[k++] = (char)c;
	}
	out[k] = 0;
	/* TYPE ':' ID [ '#' RELATION ] */
	const char *colon = memchr(out, ':', k);
	if (!colon || colon == out)
		return -1;
	for (const char *c = out; c < colon; c++)
		if (!name_char(*c))
			return -1;
	const char *id = colon + 1, *hash = strchr(id, '#');
	const char *id_end = hash ? hash : out + k;
	if (id_end == id || memchr(id, ':', (size_t)(id_end - id)))
		return -1;
	if (hash) {
		if (!hash[1])
			return -1;
		for (const char *c = hash + 1; *c; c++)
			if (!name_char(*c))
				return -1;
	}
	return (int)k;
}

/* ------------------------------------------------------ tenant stores */

/* The tenant's platform store id, or "" (engine table lock taken inside). */
static bool find_store(struct authz_engine *e, const char *tenant, char id[AUTHZ_ID_LEN + 1])
{
	bool found = false;
	pthread_rwlock_rdlock(&e->lock);
	for (size_t i = 0; i < e->nstores && !found; i++)
		if (strcmp(e->stores[i]->tenant, tenant) == 0 &&
		    strcmp(e->stores[i]->name, AUTHZ_PLATFORM_STORE) == 0) {
			memcpy(id, e->stores[i]->id, AUTHZ_ID_LEN + 1);
			found = true;
		}
	pthread_rwlock_unlock(&e->lock);
	return found;
}

bool authz_platform_has_store(struct authz_engine *e, const char *tenant)
{
	char id[AUTHZ_ID_LEN + 1];
	return e && tenant && find_store(e, tenant, id);
}

bool authz_platform_store_is(struct authz_engine *e, const char *tenant, const char *store_id)
{
	char id[AUTHZ_ID_LEN + 1];
	return e && tenant && store_id && find_store(e, tenant, id) && strcmp(id, store_id) == 0;
}

static int init_one(struct authz_engine *e, const char *tenant, struct bw_err *err);

/* The platform tenant's start-up also brings every other tenant's platform
 * store to the built-in model, so a permission added to platform.fga
 * exists in every tenant after an upgrade (not only in the platform one). */
int authz_platform_init(struct authz_engine *e, const char *tenant, struct bw_err *err)
{
	if (init_one(e, tenant, err) < 0)
		return -1;
	if (strcmp(tenant, AUTHZ_PLATFORM_TENANT) != 0)
		return 0;
	for (size_t i = 0;; i++) {
		char other[AUTHZ_TENANT_MAX + 1] = "";
		pthread_rwlock_rdlock(&e->lock);
		size_t k = 0;
		for (size_t j = 0; j < e->nstores && !other[0]; j++)
			if (strcmp(e->stores[j]->name, AUTHZ_PLATFORM_STORE) == 0 &&
			    strcmp(e->stores[j]->tenant, AUTHZ_PLATFORM_TENANT) != 0 && k++ == i)
				memcpy(other, e->stores[j]->tenant, sizeof(other));
		pthread_rwlock_unlock(&e->lock);
		if (!other[0])
			return 0;
		if (init_one(e, other, err) < 0)
			return -1;
	}
}

static int init_one(struct authz_engine *e, const char *tenant, struct bw_err *err)
{
	char id[AUTHZ_ID_LEN + 1];
	if (!find_store(e, tenant, id)) {
		struct authz_store_info info;
		if (authz_store_create(e, tenant, AUTHZ_PLATFORM_STORE, &info, err) < 0)
			return -1;
		memcpy(id, info.id, sizeof(id));
	}
	struct authz_model *m = authz_model_parse_dsl(authz_platform_fga, strlen(authz_platform_fga),
						      err);
	if (!m)
		return -1; /* the built-in model is tested; this is a broken build */
	/* Write a new version only when the built-in model changed. */
	struct bw_buf want, have;
	bw_buf_init(&want, AUTHZ_MODEL_MAX_BYTES * 4);
	bw_buf_init(&have, AUTHZ_MODEL_MAX_BYTES * 4);
	struct json_writer w;
	json_writer_init(&w, &want);
	authz_model_write_json(m, &w, false);
	int rc = json_writer_finish(&w);
	bool same = false;
	struct authz_fstore *s = rc == 0 ? authz_store_acquire(e, tenant, id, false, err) : NULL;
	if (s) {
		if (s->nmodels) {
			json_writer_init(&w, &have);
			authz_model_write_json(s->models[s->nmodels - 1], &w, false);
			same = json_writer_finish(&w) == 0 && have.len == want.len &&
			       memcmp(have.data, want.data, want.len) == 0;
		}
		authz_store_release(e, s, false);
	} else {
		rc = -1;
	}
	bw_buf_fini(&want);
	bw_buf_fini(&have);
	if (rc < 0 || same) {
		authz_model_free(m);
		return rc;
	}
	char mid[AUTHZ_ID_LEN + 1];
	return authz_model_write(e, tenant, id, m, mid, err);
}

/* Writes (add) or deletes one tuple of the platform store, idempotently. */
static int write_one(struct authz_engine *e, const char *tenant, const char *id, const char *obj,
		     const char *rel, const char *user, bool add, struct bw_err *err)
{
	struct authz_tuple t = { .object = obj, .relation = rel, .user = user };
	struct authz_write_req req = { .on_duplicate = AUTHZ_CONFLICT_IGNORE,
				       .on_missing = AUTHZ_CONFLICT_IGNORE };
	if (add) {
		req.writes = &t;
		req.nwrites = 1;
	} else {
		req.deletes = &t;
		req.ndeletes = 1;
	}
	return authz_write(e, tenant, id, &req, err);
}

int authz_platform_assign(struct authz_engine *e, const char *tenant, const char *subject,
			  const char *role, bool grant, struct bw_err *err)
{
	char rel[AUTHZ_RELATION_NAME_MAX + 1];
	if (!role || !role_relation(role, rel, sizeof(rel)))
		return bw_err_set(err, 400, "authz", "validation_error", "unknown role '%.40s'",
				  role ? role : "");
	if (strcmp(role, "platform-admin") == 0 && strcmp(tenant, AUTHZ_PLATFORM_TENANT) != 0)
		return bw_err_set(err, 400, "authz", "validation_error",
				  "platform-admin exists only in the platform tenant");
	char id[AUTHZ_ID_LEN + 1];
	if (!find_store(e, tenant, id))
		return bw_err_set(err, 404, "authz", "store_not_found",
				  "tenant '%.40s' has no platform store", tenant);
	char obj[AUTHZ_OBJECT_MAX + 1];
	if (bw_snprintf(obj, sizeof(obj), "tenant:%s", tenant) < 0)
		return bw_err_set(err, 400, "authz", "validation_error", "tenant id too long");
	return write_one(e, tenant, id, obj, rel, subject, grant, err);
}

int authz_platform_drop(struct authz_engine *e, const char *tenant, struct bw_err *err)
{
	if (!e || !tenant || strcmp(tenant, AUTHZ_PLATFORM_TENANT) == 0)
		return bw_err_set(err, 400, "authz", "validation_error",
				  "the platform tenant's roles cannot be dropped");
	char id[AUTHZ_ID_LEN + 1];
	if (!find_store(e, tenant, id))
		return 0;
	return authz_store_delete(e, tenant, id, err);
}

int authz_platform_membership(struct authz_engine *e, const char *tenant, const char *group,
			      const char *subject, bool add, struct bw_err *err)
{
	char obj[AUTHZ_OBJECT_MAX + 1];
	if (!e || !tenant || !group || !subject || !*group || strchr(group, ':') ||
	    strchr(group, '#') || bw_snprintf(obj, sizeof(obj), "group:%s", group) < 0)
		return bw_err_set(err, 400, "authz", "validation_error", "bad group id");
	if (add && !authz_platform_has_store(e, tenant) && authz_platform_init(e, tenant, err) < 0)
		return -1;
	char id[AUTHZ_ID_LEN + 1];
	if (!find_store(e, tenant, id))
		return add ? bw_err_set(err, 404, "authz", "store_not_found",
					"tenant '%.40s' has no platform store", tenant) :
			     0; /* nothing was ever mirrored there */
	return write_one(e, tenant, id, obj, "member", subject, add, err);
}

static bool platform_check(struct authz_engine *e, const char *tenant, const char *subject,
			   const char *permission)
{
	char rel[AUTHZ_RELATION_NAME_MAX + 8], obj[AUTHZ_OBJECT_MAX + 1], id[AUTHZ_ID_LEN + 1];
	if (!e || !tenant || !subject || !permission || !perm_relation(permission, rel, sizeof(rel)) ||
	    bw_snprintf(obj, sizeof(obj), "tenant:%s", tenant) < 0 || !find_store(e, tenant, id))
		return false;
	struct authz_query q = { .tenant = tenant, .store_id = id };
	bool allowed = false;
	struct bw_err err;
	if (authz_check(e, &q, subject, rel, obj, &allowed, &err) < 0) {
		/* an unknown permission is a 400 "relation not found": deny */
		if (err.code >= 500)
			log_warnx("authz: platform check failed: %s", err.msg);
		return false;
	}
	return allowed;
}

int authz_platform_holds(struct authz_engine *e, const char *tenant, const char *subject,
			 const char *role, struct bw_err *err)
{
	char rel[AUTHZ_RELATION_NAME_MAX + 1], obj[AUTHZ_OBJECT_MAX + 1], id[AUTHZ_ID_LEN + 1];
	if (!role || !role_relation(role, rel, sizeof(rel)))
		return bw_err_set(err, 400, "authz", "validation_error", "unknown role '%.40s'",
				  role ? role : "");
	if (!subject)
		return 0;
	if (!e || !tenant || bw_snprintf(obj, sizeof(obj), "tenant:%s", tenant) < 0 ||
	    !find_store(e, tenant, id))
		return 0;
	struct authz_query q = { .tenant = tenant, .store_id = id };
	bool held = false;
	if (authz_check(e, &q, subject, rel, obj, &held, err) < 0)
		return -1;
	return held ? 1 : 0;
}

bool authz_platform_check(struct authz_engine *e, const char *tenant, const char *subject,
			  const char *permission)
{
	bool allowed = platform_check(e, tenant, subject, permission);
	if (!allowed) {
		/* every denial is a security event (the API layer audits it) */
		struct bw_event ev;
		bw_event_init(&ev, "iam", "authorization-denied", BW_OUTCOME_FAILURE);
		ev.severity = 3;
		BW_EVENT_SET(&ev, tenant, tenant ? tenant : "");
		BW_EVENT_SET(&ev, user, subject ? subject : "");
		bw_event_add_field(&ev, "permission", permission ? permission : "");
		/* refused only when the bus is full or stopped; counted there */
		(void)bw_event_emit(&ev);
	}
	return allowed;
}

/* ----------------------------------------------------------- role table */

struct assign_ctx {
	int (*fn)(void *arg, const char *role, const char *subject);
	void *arg;
};

int authz_platform_assignments(struct authz_engine *e, const char *tenant, size_t max,
			       int (*fn)(void *arg, const char *role, const char *subject),
			       void *arg, struct bw_err *err)
{
	char id[AUTHZ_ID_LEN + 1], obj[AUTHZ_OBJECT_MAX + 1];
	if (!find_store(e, tenant, id))
		return 0;
	if (bw_snprintf(obj, sizeof(obj), "tenant:%s", tenant) < 0)
		return bw_err_set(err, 400, "authz", "validation_error", "tenant id too long");
	const char *token = "";
	char tok[256]; /* the continuation token outlives its page's arena */
	size_t seen = 0;
	int rc = 0;
	do {
		struct bw_arena *a = bw_arena_new(16384, AUTHZ_QUERY_ARENA_MAX);
		struct authz_tuple_rec *recs;
		size_t n;
		const char *next;
		if (!a)
			return bw_err_set(err, 500, "authz", "memory", "out of memory");
		rc = authz_read(e, tenant, id, obj, NULL, NULL, AUTHZ_PAGE_MAX, token, a, &recs, &n,
				&next, err);
		for (size_t i = 0; rc == 0 && i < n && seen < max; i++, seen++) {
			/* relation "key_admin" -> role "key-admin" */
			char role[AUTHZ_RELATION_NAME_MAX + 1];
			size_t k = 0;
			for (; recs[i].relation[k] && k < sizeof(role) - 1; k++)
				role[k] = recs[i].relation[k] == '_' ? '-' : recs[i].relation[k];
			role[k] = 0;
			if (fn(arg, role, recs[i].user) != 0)
				rc = bw_err_set(err, 500, "authz", "internal", "listing stopped");
		}
		bool more = rc == 0 && next && *next && seen < max && strlen(next) < sizeof(tok);
		if (more) {
			memcpy(tok, next, strlen(next) + 1);
			token = tok;
		}
		bw_arena_free(a);
		if (!more)
			break;
	} while (rc == 0);
	return rc;
}

/* Does relation `rel` of t include role relation `role` through unions
 * and computed usersets (how the platform model composes roles)? */
static bool includes(const struct authz_type *t, const struct authz_rel *rel,
		     const struct authz_rel *role, int depth)
{
	if (rel == role)
		return true;
	if (depth > 32)
		return false;
	const struct authz_rw *rw = rel->rw;
	const struct authz_rw *one[1] = { rw };
	const struct authz_rw *const *kids = one;
	size_t n = 1;
	if (rw->kind == AUTHZ_RW_UNION) {
		kids = (const struct authz_rw *const *)rw->child;
		n = rw->n;
	}
	for (size_t i = 0; i < n; i++)
		if (kids[i]->kind == AUTHZ_RW_COMPUTED &&
		    includes(t, &t->rels[kids[i]->rel_idx], role, depth + 1))
			return true;
	return false;
}

int authz_platform_roles_md(struct bw_buf *o)
{
	struct bw_err err;
	struct authz_model *m =
		authz_model_parse_dsl(authz_platform_fga, strlen(authz_platform_fga), &err);
	if (!m)
		return -1;
	const struct authz_type *t = authz_model_type(m, "tenant", 6);
	int rc = t ? 0 : -1;
	static const char *const abbrev[] = { "PA", "TA", "SA", "UA", "AU", "CO", "KA", "KU", "CA",
					      "CR", "WA", "GO", "SM", "AN", "IR", "FI", "BO", "VW" };
	rc |= bw_buf_append_str(
		o, "# Platform roles\n\n"
		   "<!-- Generated from src/authz/platform.fga by `bulwark authz roles-md`;\n"
		   "     test_authz_platform fails when this file differs. Do not edit. -->\n\n"
		   "bulwark's 18 predefined roles. Each is a relation on the tenant object in\n"
		   "the tenant's `bulwark-platform` store, assignable to users (`user:ID`), API\n"
		   "keys (`apikey:ID`) and groups (`group:ID#member`). platform-admin exists only\n"
		   "in the `platform` tenant; the other 17 exist in every tenant. A role never\n"
		   "grants anything in another tenant.\n\n"
		   "| abbrev | role | includes |\n|---|---|---|\n");
	for (size_t r = 0; t && r < BW_ARRAY_LEN(roles); r++) {
		char rel[AUTHZ_RELATION_NAME_MAX + 1];
		if (!role_relation(roles[r], rel, sizeof(rel)))
			return -1;
		const struct authz_rel *rr = authz_type_rel(t, rel, strlen(rel));
		rc |= bw_buf_printf(o, "| %s | %s | ", abbrev[r], roles[r]);
		bool first = true;
		for (size_t k = 0; k < BW_ARRAY_LEN(roles); k++) {
			char kr[AUTHZ_RELATION_NAME_MAX + 1];
			if (k == r || !role_relation(roles[k], kr, sizeof(kr)))
				continue;
			const struct authz_rel *kk = authz_type_rel(t, kr, strlen(kr));
			if (rr && kk && includes(t, kk, rr, 0)) {
				rc |= bw_buf_printf(o, "%s%s", first ? "" : ", ", roles[k]);
				first = false;
			}
		}
		rc |= bw_buf_append_str(o, first ? "— |\n" : " |\n");
	}
	rc |= bw_buf_append_str(o, "\n| permission |");
	for (size_t r = 0; r < BW_ARRAY_LEN(roles); r++)
		rc |= bw_buf_printf(o, " %s |", abbrev[r]);
	rc |= bw_buf_append_str(o, "\n|---|");
	for (size_t r = 0; r < BW_ARRAY_LEN(roles); r++)
		rc |= bw_buf_append_str(o, ":-:|");
	rc |= bw_buf_append_byte(o, '\n');
	for (size_t p = 0; t && p < t->nrels; p++) {
		const struct authz_rel *pr = &t->rels[p];
		if (strncmp(pr->name, "can_", 4) != 0)
			continue;
		char perm[AUTHZ_RELATION_NAME_MAX + 1];
		size_t i = 0;
		for (const char *c = pr->name + 4; *c; c++)
			perm[i++] = *c == '_' ? '.' : *c;
		perm[i] = 0;
		rc |= bw_buf_printf(o, "| `%s` |", perm);
		for (size_t r = 0; r < BW_ARRAY_LEN(roles); r++) {
			char rel[AUTHZ_RELATION_NAME_MAX + 1];
			(void)role_relation(roles[r], rel, sizeof(rel));
			const struct authz_rel *rr = authz_type_rel(t, rel, strlen(rel));
			/* a role holds a permission when the permission relation
			 * includes the role relation */
			rc |= bw_buf_append_str(o, rr && includes(t, pr, rr, 0) ? " ✓ |" : "   |");
		}
		rc |= bw_buf_append_byte(o, '\n');
	}
	authz_model_free(m);
	return rc ? -1 : 0;
}

int authz_platform_grants(int (*fn)(void *arg, const char *role, const char *perm), void *arg)
{
	struct bw_err err;
	struct authz_model *m =
		authz_model_parse_dsl(authz_platform_fga, strlen(authz_platform_fga), &err);
	const struct authz_type *t = m ? authz_model_type(m, "tenant", 6) : NULL;
	int rc = t ? 0 : -1;
	for (size_t r = 0; t && r < BW_ARRAY_LEN(roles) && rc == 0; r++) {
		char rel[AUTHZ_RELATION_NAME_MAX + 1];
		const struct authz_rel *rr = role_relation(roles[r], rel, sizeof(rel)) ?
						     authz_type_rel(t, rel, strlen(rel)) : NULL;
		for (size_t p = 0; rr && p < t->nrels && rc == 0; p++) {
			const struct authz_rel *pr = &t->rels[p];
			if (strncmp(pr->name, "can_", 4) != 0 || !includes(t, pr, rr, 0))
				continue;
			char perm[AUTHZ_RELATION_NAME_MAX + 1];
			size_t i = 0;
			for (const char *c = pr->name + 4; *c && i < sizeof(perm) - 1; c++)
				perm[i++] = *c == '_' ? '.' : *c;
			perm[i] = 0;
			if (fn(arg, roles[r], perm) != 0)
				rc = -1;
		}
	}
	authz_model_free(m);
	return rc;
}
