/*
 * Step-up for sensitive admin API operations, and the per-role "MFA
 * required" policy.
 *
 * Step-up: the admin API asks iam_stepup_state before a route marked
 * step_up runs for a human session. A session's last strong
 * authentication is the latest of its MFA sign-in, its step-up marks
 * (table iam_stepup, written here and by the account pages) and — only for
 * a user with no second factor in a tenant that does not demand one — its
 * password sign-in. iam_stepup_verify renews it with a TOTP or recovery
 * code (or the password for users without a factor), throttled and
 * counted like a sign-in, so the endpoint is no oracle for guessing codes.
 *
 * Per-role MFA: a tenant lists platform roles (table iam_mfa_role); at
 * sign-in iam_mfa_required_for asks the authorization engine, through the
 * role_held hook, whether the user holds one of them (directly, through a
 * group or through an including role such as platform-admin).
 *
 * Invariants: a step-up mark only ever attaches to a live session of the
 * same tenant and user (it hangs off the session row and dies with it);
 * every verification outcome is an "authentication" event; all time is
 * bw_clock time.
 */
#include "iam/iam_int.h"

#include <string.h>

/* ------------------------------------------------------------ sessions */

struct stepup_row {
	char user_id[IAM_ID_LEN + 1];
	int64_t created, mfa_at;
	bool mfa;
};

static int stepup_row_fn(void *arg, const struct store_row *row,
			 struct bw_err *err)
{
	struct stepup_row *s = arg;
	if (iam_row_text(row, 0, s->user_id, sizeof(s->user_id), err) < 0)
		return -1;
	s->created = store_row_int64(row, 1);
	s->mfa = store_row_int64(row, 2) != 0;
	s->mfa_at = store_row_is_null(row, 3) ? 0 : store_row_int64(row, 3);
	return STORE_ROW_NEXT;
}

/* The live session (tenant, handle) with its latest step-up mark. 1, 0
 * (none), -1 error. */
static int session_load(struct iam *iam, const char *tenant,
			const char *handle, struct stepup_row *s,
			struct bw_err *err)
{
	memset(s, 0, sizeof(*s));
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(handle),
				  store_int(bw_clock_now_s())};
	return store_query_one(iam->store,
			       "SELECT s.user_id, s.created, s.mfa, m.mfa_at"
			       " FROM iam_session s LEFT JOIN iam_stepup m"
			       " ON m.session_hash = s.hash WHERE s.tenant = ?"
			       " AND s.handle = ? AND s.expires > ?",
			       k, 3, stepup_row_fn, s, err);
}

int iam_session_auth(struct iam *iam, const char *tenant, const char *handle,
		     struct iam_oidc_auth *out, struct bw_err *err)
{
	struct stepup_row s;
	int rc = session_load(iam, tenant, handle, &s, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 404, "iam", "not_found",
					   "no such session");
	out->auth_time = s.mfa_at > s.created ? s.mfa_at : s.created;
	out->mfa = s.mfa;
	return 0;
}

/* A second factor the REST step-up or the account page can check. */
static bool has_factor(const struct iam_mfa_methods *m)
{
	return m->totp || m->webauthn;
}

int iam_stepup_state(struct iam *iam, const char *tenant, const char *handle,
		     enum iam_stepup_state *state, int64_t *window_s,
		     struct bw_err *err)
{
	struct iam_tenant t;
	struct stepup_row s;
	struct iam_mfa_methods mm;
	if (iam_tenant_get(iam, tenant, &t, err) < 0)
		return -1;
	int rc = session_load(iam, tenant, handle, &s, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 404, "iam", "not_found",
					   "no such session");
	if (iam_mfa_methods(iam, tenant, s.user_id, &mm, err) < 0)
		return -1;
	*window_s = t.policy.step_up_s;
	if (!has_factor(&mm) && t.policy.step_up_require_mfa) {
		*state = IAM_STEPUP_ENROL;
		return 0;
	}
	int64_t strong = s.mfa_at;
	/* A sign-in with a second factor is strong; a password sign-in is
	 * the strongest a user without a factor can give. */
	if ((s.mfa || !has_factor(&mm)) && s.created > strong)
		strong = s.created;
	*state = strong > 0 && bw_clock_now_s() - strong <= t.policy.step_up_s
		     ? IAM_STEPUP_FRESH
		     : IAM_STEPUP_STALE;
	return 0;
}

/* Marks the session stepped up now; mfa: with a second factor, which the
 * session then carries (its OIDC ID tokens say "amr": ["mfa"]). */
static int stepup_mark_handle(struct iam *iam, const char *tenant,
			      const char *user_id, const char *handle, bool mfa,
			      struct bw_err *err)
{
	int64_t changes = 0;
	struct store_value v[] = {store_int(bw_clock_now_s()),
				  store_text_str(tenant),
				  store_text_str(user_id),
				  store_text_str(handle)};
	if (store_exec(iam->store,
		       "INSERT INTO iam_stepup (session_hash, mfa_at)"
		       " SELECT hash, ? FROM iam_session WHERE tenant = ?"
		       " AND user_id = ? AND handle = ?"
		       " ON CONFLICT (session_hash) DO UPDATE SET mfa_at ="
		       " excluded.mfa_at",
		       v, 4, &changes, err) < 0)
		return -1;
	if (!changes)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such session");
	return mfa ? store_exec(iam->store,
				"UPDATE iam_session SET mfa = 1 WHERE tenant = ?"
				" AND user_id = ? AND handle = ?",
				v + 1, 3, NULL, err)
		   : 0;
}

/* A security-key assertion for user_id: 0, or -1 with err (401
 * "bad_assertion" for any failed check; the counter rule's event is
 * raised by the WebAuthn layer). */
static int check_assertion(struct iam *iam, const char *tenant,
			   const char *user_id,
			   const struct iam_stepup_proof *p, struct bw_err *err)
{
	if (!p->rp || !p->wa_credential_id || !p->wa_client_data ||
	    !p->wa_authenticator_data)
		return bw_err_set(err, 400, "iam", "bad_request",
				  "an assertion needs credential_id, "
				  "client_data, authenticator_data, signature");
	if (iam_webauthn_assert_finish(iam, p->rp, tenant, user_id,
				       p->wa_credential_id, p->wa_client_data,
				       p->wa_authenticator_data,
				       p->wa_signature, err) == 0)
		return 0;
	if (err->code < 500)
		bw_err_set(err, 401, "iam", "bad_assertion",
			   "the security key's answer is not valid");
	return -1;
}

/* The factor check itself: 0 verified, -1 with err (4xx: a wrong or
 * missing answer, counted; 5xx: an error). */
static int stepup_check_factor(struct iam *iam, const struct iam_tenant *t,
			       const char *user_id,
			       const struct iam_stepup_proof *p,
			       struct bw_err *err)
{
	const char *code = p->code, *pw = p->password;
	struct iam_mfa_methods mm;
	if (iam_mfa_methods(iam, t->name, user_id, &mm, err) < 0)
		return -1;
	if (!has_factor(&mm)) {
		if (t->policy.step_up_require_mfa)
			return bw_err_set(err, 403, "iam",
					  "mfa_enrolment_required",
					  "enrol a second factor first");
		/* Where MFA is required, codes by e-mail or SMS are the
		 * user's factor: the account page sends and checks them. */
		int need = (mm.email || mm.phone)
			       ? iam_mfa_required_for(iam, t->name, user_id, err)
			       : 0;
		if (need < 0)
			return -1;
		if (need)
			return bw_err_set(err, 400, "iam", "use_account_page",
					  "step up on the account page with a "
					  "code sent to you");
		if (!pw)
			return bw_err_set(err, 400, "iam", "password_required",
					  "give your password");
	} else if (p->wa_signature) {
		if (!mm.webauthn)
			return bw_err_set(err, 400, "iam", "no_security_key",
					  "you have no security key");
		if (check_assertion(iam, t->name, user_id, p, err) < 0)
			return -1;
	} else if (!code || !*code || (!mm.totp && !mm.recovery)) {
		return bw_err_set(err, 400, "iam",
				  mm.totp || mm.recovery ? "code_required"
							 : "use_security_key",
				  mm.totp || mm.recovery
				      ? "give a code from your authenticator "
					"app or a recovery code"
				      : "your second factor is a security key:"
					" answer the step-up's WebAuthn "
					"challenge");
	} else if (iam_mfa_code_verify(iam, t->name, user_id, code, err) < 0) {
		if (err->code < 500)
			bw_err_set(err, 401, "iam", "bad_code",
				   "the code is not valid");
		return -1;
	}
	if (pw) {
		int ok = iam_password_verify_current(iam, t->name, user_id, pw,
						     p->password_len, err);
		if (ok < 0)
			return -1;
		if (!ok)
			return bw_err_set(err, 401, "iam", "bad_password",
					  "the password is wrong");
	}
	return 0;
}

int iam_stepup_verify(struct iam *iam, const char *tenant, const char *user_id,
		      const char *handle, const struct iam_stepup_proof *proof,
		      const char *source_ip, int64_t *window_s,
		      struct bw_err *err)
{
	struct iam_tenant t;
	struct iam_user u;
	struct stepup_row s;
	const char *ip = source_ip ? source_ip : "";
	if (iam_tenant_require(iam, tenant, &t, err) < 0 ||
	    iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	int rc = session_load(iam, tenant, handle, &s, err);
	if (rc < 0)
		return -1;
	if (rc == 0 || strcmp(s.user_id, user_id) != 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such session");
	int64_t now = bw_clock_now_s();
	int64_t wait = iam_lockout_check(&iam->lockout, &t.policy, tenant,
					 u.name, ip, true, now);
	if (wait > 0) {
		iam_emit_login(tenant, u.name, ip, false, "step-up",
			       "throttled");
		return bw_err_set(err, 429, "iam", "throttled",
				  "too many attempts; retry in %lld s",
				  (long long)wait);
	}
	if (stepup_check_factor(iam, &t, user_id, proof, err) < 0) {
		if (err->code == 401) {
			iam_lockout_failure(&iam->lockout, &t.policy, tenant,
					    u.name, ip, now);
			atomic_fetch_add(&iam->mfa_failed, 1);
		}
		iam_emit_login(tenant, u.name, ip, false, "step-up",
			       err->reason);
		return -1;
	}
	bool factor = proof->wa_signature || (proof->code && *proof->code);
	if (stepup_mark_handle(iam, tenant, user_id, handle, factor, err) < 0)
		return -1;
	iam_lockout_success(&iam->lockout, tenant, u.name, ip);
	atomic_fetch_add(&iam->mfa_ok, 1);
	iam_emit_login(tenant, u.name, ip, true, "step-up",
		       proof->wa_signature ? "security_key"
		       : factor		   ? "code"
					   : "password");
	if (window_s)
		*window_s = t.policy.step_up_s;
	return 0;
}

/* -------------------------------------------------------- MFA per role */

static bool role_name_ok(const char *r)
{
	size_t n = r ? strlen(r) : 0;
	if (n == 0 || n > IAM_ROLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') || r[i] == '-'))
			return false;
	return true;
}

static int count_fn(void *arg, const struct store_row *row, struct bw_err *err)
{
	(void)err;
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

int iam_mfa_role_set(struct iam *iam, const char *tenant, const char *role,
		     bool required, struct bw_err *err)
{
	if (!role_name_ok(role))
		return bw_err_set(err, 400, "iam", "bad_role",
				  "a role is a platform role name");
	if (!iam->role_held)
		return bw_err_set(err, 400, "iam", "no_roles",
				  "roles are not known to this process");
	if (iam_mfa_ready(iam, err) < 0 ||
	    iam_tenant_get(iam, tenant, NULL, err) < 0)
		return -1;
	struct store_value v[] = {store_text_str(tenant), store_text_str(role)};
	if (!required) {
		int64_t changes = 0;
		if (store_exec(iam->store,
			       "DELETE FROM iam_mfa_role WHERE tenant = ? AND"
			       " role = ?",
			       v, 2, &changes, err) < 0)
			return -1;
		return changes ? 0
			       : bw_err_set(err, 404, "iam", "not_found",
					    "the role does not require MFA");
	}
	if (iam->role_held(iam->hooks_arg, tenant, NULL, role, err) < 0) {
		if (err->code < 500)
			bw_err_set(err, 400, "iam", "bad_role",
				   "unknown role \"%s\"", role);
		return -1;
	}
	int64_t n = 0;
	if (store_query_one(iam->store,
			    "SELECT COUNT(*) FROM iam_mfa_role WHERE tenant = ?",
			    v, 1, count_fn, &n, err) < 0)
		return -1;
	if (n >= IAM_MFA_ROLES_MAX)
		return bw_err_set(err, 413, "iam", "too_many",
				  "at most %d roles", IAM_MFA_ROLES_MAX);
	return store_exec(iam->store,
			  "INSERT INTO iam_mfa_role (tenant, role) VALUES"
			  " (?, ?) ON CONFLICT DO NOTHING",
			  v, 2, NULL, err);
}

struct role_list {
	int (*fn)(void *arg, const char *role);
	void *arg;
};

static int role_row_fn(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	struct role_list *l = arg;
	char role[IAM_ROLE_NAME_MAX + 1];
	if (iam_row_text(row, 0, role, sizeof(role), err) < 0)
		return -1;
	return l->fn(l->arg, role) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_mfa_role_list(struct iam *iam, const char *tenant,
		      int (*fn)(void *arg, const char *role), void *arg,
		      struct bw_err *err)
{
	struct role_list l = {fn, arg};
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant)};
	return store_query(iam->store,
			   "SELECT role FROM iam_mfa_role WHERE tenant = ?"
			   " ORDER BY role",
			   k, 1, role_row_fn, &l, err);
}

struct role_held_ctx {
	struct iam *iam;
	const char *tenant, *user_id;
	int held;
	struct bw_err *err;
};

static int role_held_fn(void *arg, const char *role)
{
	struct role_held_ctx *c = arg;
	c->held = c->iam->role_held(c->iam->hooks_arg, c->tenant, c->user_id,
				    role, c->err);
	/* A role the engine no longer knows is held by nobody. */
	if (c->held < 0 && c->err->code < 500)
		c->held = 0;
	return c->held != 0; /* held, or an error: stop */
}

int iam_mfa_role_held(struct iam *iam, const char *tenant,
		      const char *user_id, struct bw_err *err)
{
	if (!iam->role_held)
		return 0;
	struct role_held_ctx c = {iam, tenant, user_id, 0, err};
	if (iam_mfa_role_list(iam, tenant, role_held_fn, &c, err) < 0)
		return -1;
	return c.held;
}
