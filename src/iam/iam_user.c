/*
 * Users, their attributes and groups with membership.
 *
 * Invariants: names are unique per tenant case-insensitively (name_key is
 * the ASCII-lower-cased name, with a UNIQUE index); attributes are always
 * a valid JSON object of bounded size and depth; every statement binds the
 * tenant, so ids never cross tenants.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

#define USER_COLS                                                              \
	"u.tenant, u.id, u.name, u.display_name, u.email, u.attrs, "           \
	"u.disabled,"                                                          \
	" u.must_change, u.password_hash IS NOT NULL, u.created, u.updated,"   \
	" u.password_changed,"                                                 \
	" EXISTS (SELECT 1 FROM iam_totp t WHERE t.tenant = u.tenant"          \
	" AND t.user_id = u.id AND t.confirmed = 1)"

static int user_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct iam_user *u = arg;
	memset(u, 0, sizeof(*u));
	if (iam_row_text(row, 0, u->tenant, sizeof(u->tenant), err) < 0 ||
	    iam_row_text(row, 1, u->id, sizeof(u->id), err) < 0 ||
	    iam_row_text(row, 2, u->name, sizeof(u->name), err) < 0 ||
	    iam_row_text(row, 3, u->display_name, sizeof(u->display_name),
			 err) < 0 ||
	    iam_row_text(row, 4, u->email, sizeof(u->email), err) < 0 ||
	    iam_row_text(row, 5, u->attrs, sizeof(u->attrs), err) < 0)
		return -1;
	u->disabled = store_row_int64(row, 6) != 0;
	u->must_change_password = store_row_int64(row, 7) != 0;
	u->has_password = store_row_int64(row, 8) != 0;
	u->created = store_row_int64(row, 9);
	u->updated = store_row_int64(row, 10);
	u->password_changed = store_row_int64(row, 11);
	u->mfa_enrolled = store_row_int64(row, 12) != 0;
	return STORE_ROW_NEXT;
}

/* attrs must be a JSON object within the limits. */
static int check_attrs(const char *attrs, struct bw_err *err)
{
	size_t n = strlen(attrs);
	if (n > IAM_ATTRS_MAX)
		return bw_err_set(err, 413, "iam", "too_large",
				  "attributes over %d bytes", IAM_ATTRS_MAX);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	if (!a)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	struct json_limits lim = {.max_bytes = IAM_ATTRS_MAX,
				  .max_depth = IAM_ATTRS_DEPTH,
				  .max_members = 256};
	const struct json_value *v = json_parse(a, attrs, n, &lim, err);
	int rc = 0;
	if (!v)
		rc = -1;
	else if (v->type != JSON_OBJECT)
		rc = bw_err_set(err, 400, "iam", "bad_attrs",
				"attributes must be a JSON object");
	bw_arena_free(a);
	if (rc < 0 && err && err->code != 413) {
		err->code = 400;
		bw_snprintf(err->module, sizeof(err->module), "iam");
	}
	return rc;
}

bool iam_text_ok(const char *s)
{
	if (!s)
		return true;
	size_t n = strlen(s);
	if (n > IAM_TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return true;
}

int iam_user_get(struct iam *iam, const char *tenant, const char *id,
		 struct iam_user *u, struct bw_err *err)
{
	struct store_value k[] = {store_text_str(tenant), store_text_str(id)};
	int rc = store_query_one(iam->store,
				 "SELECT " USER_COLS " FROM iam_user u"
				 " WHERE u.tenant = ? AND u.id = ?",
				 k, 2, user_row, u, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return bw_err_set(err, 404, "iam", "not_found", "no such user");
	return 0;
}

int iam_user_find(struct iam *iam, const char *tenant, const char *name,
		  struct iam_user *u, struct bw_err *err)
{
	char key[IAM_NAME_MAX + 1];
	if (!iam_valid_name(name))
		return bw_err_set(err, 404, "iam", "not_found", "no such user");
	iam_name_key(name, key, sizeof(key));
	struct store_value k[] = {store_text_str(tenant), store_text_str(key)};
	int rc = store_query_one(iam->store,
				 "SELECT " USER_COLS " FROM iam_user u"
				 " WHERE u.tenant = ? AND u.name_key = ?",
				 k, 2, user_row, u, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return bw_err_set(err, 404, "iam", "not_found", "no such user");
	return 0;
}

int iam_user_create(struct iam *iam, const char *tenant,
		    const struct iam_user_spec *spec, struct iam_user *u,
		    struct bw_err *err)
{
	struct iam_tenant t;
	char phc[IAM_PHC_MAX] = "";
	char key[IAM_NAME_MAX + 1];
	char id[IAM_ID_LEN + 1];
	int rc = -1;
	if (!iam_valid_name(spec->name))
		return bw_err_set(
		    err, 400, "iam", "bad_name",
		    "user names are 1..%d bytes without control characters"
		    " or outer spaces",
		    IAM_NAME_MAX);
	if (!iam_text_ok(spec->display_name) || !iam_text_ok(spec->email))
		return bw_err_set(err, 400, "iam", "bad_text",
				  "display name / e-mail too long or with "
				  "control characters");
	const char *attrs = spec->attrs ? spec->attrs : "{}";
	if (check_attrs(attrs, err) < 0)
		return -1;
	if (iam_tenant_get(iam, tenant, &t, err) < 0)
		return -1;
	if (spec->password) {
		if (iam_password_check(iam, &t.policy, tenant, spec->name,
				       spec->password, spec->password_len,
				       err) < 0)
			return -1;
		if (iam_hash_password(iam, spec->password, spec->password_len,
				      phc, err) < 0)
			return -1;
	}
	iam_name_key(spec->name, key, sizeof(key));
	iam_new_id(id);
	int64_t now = bw_clock_now_s();
	struct store_value v[] = {
	    store_text_str(tenant),
	    store_text_str(id),
	    store_text_str(spec->name),
	    store_text_str(key),
	    store_text_str(spec->display_name ? spec->display_name
					      : spec->name),
	    store_text_str(spec->email ? spec->email : ""),
	    store_text_str(attrs),
	    phc[0] ? store_text_str(phc) : store_null(),
	    store_int(phc[0] ? now : 0),
	    store_bool(spec->must_change_password),
	    store_int(now),
	    store_int(now),
	};
	if (store_exec(iam->store,
		       "INSERT INTO iam_user (tenant, id, name, name_key,"
		       " display_name, email, attrs, password_hash,"
		       " password_changed, must_change, created, updated)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       v, BW_ARRAY_LEN(v), NULL, err) < 0) {
		if (err && err->code == 409)
			bw_err_set(err, 409, "iam", "conflict",
				   "user name taken");
		goto out;
	}
	if (phc[0]) {
		struct store_value h[] = {store_text_str(tenant),
					  store_text_str(id),
					  store_text_str(phc), store_int(now)};
		if (store_exec(iam->store,
			       "INSERT INTO iam_pw_history (tenant, user_id,"
			       " seq, hash, created) VALUES (?, ?, 1, ?, ?)",
			       h, 4, NULL, err) < 0)
			goto out;
	}
	rc = u ? iam_user_get(iam, tenant, id, u, err) : 0;
out:
	bw_wipe(phc, sizeof(phc));
	return rc;
}

int iam_user_update(struct iam *iam, const char *tenant, const char *id,
		    const struct iam_user_spec *spec, struct bw_err *err)
{
	int64_t changes = 0;
	if (!iam_text_ok(spec->display_name) || !iam_text_ok(spec->email))
		return bw_err_set(err, 400, "iam", "bad_text",
				  "display name / e-mail too long or with "
				  "control characters");
	if (spec->attrs && check_attrs(spec->attrs, err) < 0)
		return -1;
	struct store_value v[] = {
	    spec->display_name ? store_text_str(spec->display_name)
			       : store_null(),
	    spec->email ? store_text_str(spec->email) : store_null(),
	    spec->attrs ? store_text_str(spec->attrs) : store_null(),
	    store_int(bw_clock_now_s()),
	    store_text_str(tenant),
	    store_text_str(id),
	};
	if (store_exec(
		iam->store,
		"UPDATE iam_user SET"
		" display_name = COALESCE(?, display_name),"
		" email = COALESCE(?, email), attrs = COALESCE(?, attrs),"
		" updated = ? WHERE tenant = ? AND id = ?",
		v, BW_ARRAY_LEN(v), &changes, err) < 0)
		return -1;
	if (changes != 1)
		return bw_err_set(err, 404, "iam", "not_found", "no such user");
	return 0;
}

struct disable_args {
	const char *tenant, *id;
	bool disabled;
};

static int disable_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct disable_args *a = arg;
	struct store_value v[] = {
	    store_bool(a->disabled), store_int(bw_clock_now_s()),
	    store_text_str(a->tenant), store_text_str(a->id)};
	if (store_tx_exec(tx,
			  "UPDATE iam_user SET disabled = ?, updated = ?"
			  " WHERE tenant = ? AND id = ?",
			  v, 4, err) < 0)
		return -1;
	if (store_tx_changes(tx) != 1)
		return bw_err_set(err, 404, "iam", "not_found", "no such user");
	if (!a->disabled)
		return 0;
	struct store_value k[] = {store_text_str(a->tenant),
				  store_text_str(a->id)};
	if (store_tx_exec(
		tx, "DELETE FROM iam_session WHERE tenant = ? AND user_id = ?",
		k, 2, err) < 0 ||
	    store_tx_exec(
		tx,
		"DELETE FROM iam_challenge WHERE tenant = ? AND user_id = ?", k,
		2, err) < 0)
		return -1;
	return 0;
}

int iam_user_set_disabled(struct iam *iam, const char *tenant, const char *id,
			  bool disabled, struct bw_err *err)
{
	struct disable_args a = {tenant, id, disabled};
	return store_write(iam->store, disable_job, &a, err);
}

/* Ids collected before a deletion, to report the memberships it removed
 * (iam_options.membership_changed) once it has succeeded. */
struct id_list {
	char (*ids)[IAM_ID_LEN + 1];
	size_t n, cap;
	bool failed;
};

static int id_collect(void *arg, const char *id, const char *name)
{
	(void)name;
	struct id_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *p = realloc(l->ids, cap * sizeof(*l->ids));
		if (!p) {
			l->failed = true;
			return 1; /* stop */
		}
		l->ids = p;
		l->cap = cap;
	}
	bw_snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", id);
	return 0;
}

/* Deletes the user or group `id` of tenant (the foreign keys remove its
 * memberships), then reports each membership that went with it. */
static int delete_reporting(struct iam *iam, const char *tenant, const char *id,
			    bool group, struct bw_err *err)
{
	struct id_list other = {0}; /* the groups of a user, the members of a group */
	if (iam->membership_changed) {
		int rc = group ? iam_group_members(iam, tenant, id, id_collect, &other, err)
			       : iam_user_groups(iam, tenant, id, id_collect, &other, err);
		if (rc < 0 || other.failed) {
			free(other.ids);
			return other.failed ? bw_err_set(err, 500, "iam", "memory", "out of memory")
					    : -1;
		}
	}
	int64_t changes = 0;
	struct store_value k[] = {store_text_str(tenant), store_text_str(id)};
	int rc = store_exec(iam->store,
			    group ? "DELETE FROM iam_group WHERE tenant = ? AND id = ?"
				  : "DELETE FROM iam_user WHERE tenant = ? AND id = ?",
			    k, 2, &changes, err);
	if (rc == 0 && changes != 1)
		rc = bw_err_set(err, 404, "iam", "not_found", group ? "no such group" : "no such user");
	for (size_t i = 0; rc == 0 && i < other.n; i++)
		iam->membership_changed(iam->hooks_arg, tenant, group ? id : other.ids[i],
					group ? other.ids[i] : id, false);
	free(other.ids);
	return rc;
}

int iam_user_delete(struct iam *iam, const char *tenant, const char *id,
		    struct bw_err *err)
{
	return delete_reporting(iam, tenant, id, false, err);
}

struct user_list_ctx {
	int (*fn)(void *arg, const struct iam_user *u);
	void *arg;
};

static int user_list_row(void *arg, const struct store_row *row,
			 struct bw_err *err)
{
	struct user_list_ctx *c = arg;
	struct iam_user u;
	if (user_row(&u, row, err) < 0)
		return -1;
	return c->fn(c->arg, &u) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_user_list(struct iam *iam, const char *tenant,
		  int (*fn)(void *arg, const struct iam_user *u), void *arg,
		  struct bw_err *err)
{
	struct user_list_ctx c = {fn, arg};
	struct store_value k[] = {store_text_str(tenant)};
	return store_query(iam->store,
			   "SELECT " USER_COLS " FROM iam_user u"
			   " WHERE u.tenant = ? ORDER BY u.name_key",
			   k, 1, user_list_row, &c, err);
}

/* ---------------------------------------------------------------- groups */

static int group_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct iam_group *g = arg;
	memset(g, 0, sizeof(*g));
	if (iam_row_text(row, 0, g->tenant, sizeof(g->tenant), err) < 0 ||
	    iam_row_text(row, 1, g->id, sizeof(g->id), err) < 0 ||
	    iam_row_text(row, 2, g->name, sizeof(g->name), err) < 0 ||
	    iam_row_text(row, 3, g->description, sizeof(g->description), err) <
		0)
		return -1;
	g->created = store_row_int64(row, 4);
	return STORE_ROW_NEXT;
}

#define GROUP_COLS "tenant, id, name, description, created"

int iam_group_create(struct iam *iam, const char *tenant, const char *name,
		     const char *description, struct iam_group *g,
		     struct bw_err *err)
{
	char key[IAM_NAME_MAX + 1], id[IAM_ID_LEN + 1];
	if (!iam_valid_name(name))
		return bw_err_set(err, 400, "iam", "bad_name",
				  "bad group name");
	if (!iam_text_ok(description))
		return bw_err_set(err, 400, "iam", "bad_text",
				  "description too long");
	if (iam_tenant_get(iam, tenant, NULL, err) < 0)
		return -1;
	iam_name_key(name, key, sizeof(key));
	iam_new_id(id);
	struct store_value v[] = {
	    store_text_str(tenant),
	    store_text_str(id),
	    store_text_str(name),
	    store_text_str(key),
	    store_text_str(description ? description : ""),
	    store_int(bw_clock_now_s())};
	if (store_exec(iam->store,
		       "INSERT INTO iam_group (tenant, id, name, name_key,"
		       " description, created) VALUES (?, ?, ?, ?, ?, ?)",
		       v, 6, NULL, err) < 0) {
		if (err && err->code == 409)
			bw_err_set(err, 409, "iam", "conflict",
				   "group name taken");
		return -1;
	}
	return g ? iam_group_get(iam, tenant, id, g, err) : 0;
}

int iam_group_get(struct iam *iam, const char *tenant, const char *id,
		  struct iam_group *g, struct bw_err *err)
{
	struct iam_group tmp;
	struct store_value k[] = {store_text_str(tenant), store_text_str(id)};
	int rc = store_query_one(iam->store,
				 "SELECT " GROUP_COLS " FROM iam_group"
				 " WHERE tenant = ? AND id = ?",
				 k, 2, group_row, g ? g : &tmp, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such group");
	return 0;
}

int iam_group_delete(struct iam *iam, const char *tenant, const char *id,
		     struct bw_err *err)
{
	return delete_reporting(iam, tenant, id, true, err);
}

struct group_list_ctx {
	int (*fn)(void *arg, const struct iam_group *g);
	void *arg;
};

static int group_list_row(void *arg, const struct store_row *row,
			  struct bw_err *err)
{
	struct group_list_ctx *c = arg;
	struct iam_group g;
	if (group_row(&g, row, err) < 0)
		return -1;
	return c->fn(c->arg, &g) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_group_list(struct iam *iam, const char *tenant,
		   int (*fn)(void *arg, const struct iam_group *g), void *arg,
		   struct bw_err *err)
{
	struct group_list_ctx c = {fn, arg};
	struct store_value k[] = {store_text_str(tenant)};
	return store_query(iam->store,
			   "SELECT " GROUP_COLS " FROM iam_group"
			   " WHERE tenant = ? ORDER BY name_key",
			   k, 1, group_list_row, &c, err);
}

struct member_args {
	const char *tenant, *group_id, *user_id;
	bool add;
};

static int member_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct member_args *a = arg;
	struct store_value k[] = {store_text_str(a->tenant),
				  store_text_str(a->group_id),
				  store_text_str(a->user_id)};
	if (!a->add) {
		if (store_tx_exec(tx,
				  "DELETE FROM iam_member WHERE tenant = ?"
				  " AND group_id = ? AND user_id = ?",
				  k, 3, err) < 0)
			return -1;
		if (store_tx_changes(tx) != 1)
			return bw_err_set(err, 404, "iam", "not_found",
					  "not a member");
		return 0;
	}
	/* Both ends must exist in this tenant; the foreign keys would catch
	 * it too, but a 404 says which. */
	struct store_value g[] = {store_text_str(a->tenant),
				  store_text_str(a->group_id)};
	struct store_value u[] = {store_text_str(a->tenant),
				  store_text_str(a->user_id)};
	int rc = store_tx_query_one(
	    tx, "SELECT 1 FROM iam_group WHERE tenant = ? AND id = ?", g, 2,
	    NULL, NULL, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 404, "iam", "not_found",
					   "no such group");
	rc = store_tx_query_one(
	    tx, "SELECT 1 FROM iam_user WHERE tenant = ? AND id = ?", u, 2,
	    NULL, NULL, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 404, "iam", "not_found",
					   "no such user");
	struct store_value v[] = {
	    store_text_str(a->tenant), store_text_str(a->group_id),
	    store_text_str(a->user_id), store_int(bw_clock_now_s())};
	return store_tx_exec(
	    tx,
	    "INSERT INTO iam_member (tenant, group_id, user_id, added)"
	    " VALUES (?, ?, ?, ?) ON CONFLICT (tenant, group_id, user_id)"
	    " DO NOTHING",
	    v, 4, err);
}

int iam_group_add_member(struct iam *iam, const char *tenant,
			 const char *group_id, const char *user_id,
			 struct bw_err *err)
{
	struct member_args a = {tenant, group_id, user_id, true};
	if (store_write(iam->store, member_job, &a, err) < 0)
		return -1;
	if (iam->membership_changed)
		iam->membership_changed(iam->hooks_arg, tenant, group_id, user_id, true);
	return 0;
}

int iam_group_remove_member(struct iam *iam, const char *tenant,
			    const char *group_id, const char *user_id,
			    struct bw_err *err)
{
	struct member_args a = {tenant, group_id, user_id, false};
	if (store_write(iam->store, member_job, &a, err) < 0)
		return -1;
	if (iam->membership_changed)
		iam->membership_changed(iam->hooks_arg, tenant, group_id, user_id, false);
	return 0;
}

struct pair_ctx {
	int (*fn)(void *arg, const char *id, const char *name);
	void *arg;
};

static int pair_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct pair_ctx *c = arg;
	char id[IAM_ID_LEN + 1], name[IAM_NAME_MAX + 1];
	if (iam_row_text(row, 0, id, sizeof(id), err) < 0 ||
	    iam_row_text(row, 1, name, sizeof(name), err) < 0)
		return -1;
	return c->fn(c->arg, id, name) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_group_members(struct iam *iam, const char *tenant, const char *group_id,
		      int (*fn)(void *arg, const char *user_id,
				const char *name),
		      void *arg, struct bw_err *err)
{
	if (iam_group_get(iam, tenant, group_id, NULL, err) < 0)
		return -1;
	struct pair_ctx c = {fn, arg};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(group_id)};
	return store_query(
	    iam->store,
	    "SELECT u.id, u.name FROM iam_member m"
	    " JOIN iam_user u ON u.tenant = m.tenant AND u.id = m.user_id"
	    " WHERE m.tenant = ? AND m.group_id = ? ORDER BY u.name_key",
	    k, 2, pair_row, &c, err);
}

int iam_user_groups(struct iam *iam, const char *tenant, const char *user_id,
		    int (*fn)(void *arg, const char *group_id,
			      const char *name),
		    void *arg, struct bw_err *err)
{
	struct pair_ctx c = {fn, arg};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	return store_query(
	    iam->store,
	    "SELECT g.id, g.name FROM iam_member m"
	    " JOIN iam_group g ON g.tenant = m.tenant AND g.id = m.group_id"
	    " WHERE m.tenant = ? AND m.user_id = ? ORDER BY g.name_key",
	    k, 2, pair_row, &c, err);
}

int iam_bootstrap_admin(struct iam *iam, const char *name,
			char password[IAM_BOOTSTRAP_PW_LEN + 1],
			struct iam_user *u, struct bw_err *err)
{
	uint8_t rnd[IAM_BOOTSTRAP_PW_LEN * 3 / 4];
	bw_random(rnd, sizeof(rnd));
	crypto_b64url_encode_to(rnd, sizeof(rnd), password);
	bw_wipe(rnd, sizeof(rnd));
	struct iam_user_spec s = {.name = name,
				  .display_name = "Platform administrator",
				  .password = password,
				  .password_len = IAM_BOOTSTRAP_PW_LEN,
				  .must_change_password = true};
	int rc = iam_user_create(iam, IAM_PLATFORM_TENANT, &s, u, err);
	if (rc < 0)
		bw_wipe(password, IAM_BOOTSTRAP_PW_LEN + 1);
	return rc;
}
