/*
 * The login flow: password step (throttles, Argon2id, dummy hash for
 * unknown users, rehash on parameter change, expiry and forced change),
 * the MFA step and the forced-password-change step through short-lived
 * challenges, the async wrapper for event loops, and login events.
 *
 * Invariants: every failure of the password step reports the same status
 * and message whatever the cause (unknown tenant, unknown user, disabled
 * user, no password, wrong password), and every path that does not stop
 * at a throttle runs exactly one Argon2id verification, so neither the
 * answer nor its timing tells whether an account exists; the reason is
 * recorded only in the event for the SIEM. Challenges are stored hashed,
 * expire after IAM_CHALLENGE_TTL_S and die after IAM_CHALLENGE_ATTEMPTS
 * wrong codes.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"
#include "event/event.h"
#include "loop/loop.h"

#include <stdlib.h>
#include <string.h>

void iam_emit_login(const char *tenant, const char *user, const char *ip,
		    bool ok, const char *action, const char *reason)
{
	struct bw_event ev;
	bw_event_init(&ev, "authentication", action,
		      ok ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE);
	ev.severity = ok ? 0 : 3;
	BW_EVENT_SET(&ev, tenant, tenant ? tenant : "");
	BW_EVENT_SET(&ev, user, user ? user : "");
	BW_EVENT_SET(&ev, source_ip, ip ? ip : "");
	bw_event_add_field(&ev, "reason", reason);
	(void)bw_event_emit(&ev); /* telemetry: refusal is counted by the bus */
}

const char *iam_login_status_message(enum iam_login_status s)
{
	switch (s) {
	case IAM_LOGIN_OK:
		return "logged in";
	case IAM_LOGIN_MFA_REQUIRED:
		return "a second factor is required";
	case IAM_LOGIN_CHANGE_PASSWORD:
		return "the password must be changed";
	case IAM_LOGIN_ENROL_REQUIRED:
		return "a second factor must be set up";
	case IAM_LOGIN_FAILED:
		return "invalid user name or password";
	case IAM_LOGIN_THROTTLED:
		return "too many attempts; try again later";
	case IAM_LOGIN_ERROR:
		break;
	}
	return "login is unavailable";
}

/* ----------------------------------------------------------- challenges */

int iam_challenge_create(struct iam *iam, const char *tenant,
			 const char *user_id, const char *purpose,
			 char token[IAM_TOKEN_MAX], struct bw_err *err)
{
	uint8_t hash[32];
	iam_token_new("bwc_", token, hash);
	struct store_value v[] = {
	    store_blob(hash, sizeof(hash)), store_text_str(tenant),
	    store_text_str(user_id), store_text_str(purpose),
	    store_int(bw_clock_now_s() + IAM_CHALLENGE_TTL_S)};
	int rc = store_exec(iam->store,
			    "INSERT INTO iam_challenge (hash, tenant, user_id,"
			    " purpose, expires) VALUES (?, ?, ?, ?, ?)",
			    v, 5, NULL, err);
	if (rc < 0)
		bw_wipe(token, IAM_TOKEN_MAX);
	return rc;
}

struct challenge {
	uint8_t hash[32];
	char user_id[IAM_ID_LEN + 1];
	int64_t expires, attempts;
};

static int challenge_row(void *arg, const struct store_row *row,
			 struct bw_err *err)
{
	struct challenge *c = arg;
	c->expires = store_row_int64(row, 1);
	c->attempts = store_row_int64(row, 2);
	return iam_row_text(row, 0, c->user_id, sizeof(c->user_id), err);
}

/* 1 found and live, 0 absent/expired/spent, -1 store error. */
static int challenge_find(struct iam *iam, const char *tenant,
			  const char *token, const char *purpose,
			  struct challenge *c, struct bw_err *err)
{
	size_t n = token ? strlen(token) : 0;
	if (n < 5 || n >= IAM_TOKEN_MAX || memcmp(token, "bwc_", 4) != 0)
		return 0;
	crypto_sha256(token, n, c->hash);
	struct store_value k[] = {store_blob(c->hash, 32),
				  store_text_str(tenant),
				  store_text_str(purpose)};
	int rc = store_query_one(iam->store,
				 "SELECT user_id, expires, attempts FROM"
				 " iam_challenge WHERE hash = ? AND tenant = ?"
				 " AND purpose = ?",
				 k, 3, challenge_row, c, err);
	if (rc <= 0)
		return rc;
	if (bw_clock_now_s() >= c->expires ||
	    c->attempts >= IAM_CHALLENGE_ATTEMPTS)
		return 0;
	return 1;
}

static void challenge_delete(struct iam *iam, const struct challenge *c)
{
	struct bw_err err;
	struct store_value k[] = {store_blob(c->hash, 32)};
	if (store_exec(iam->store, "DELETE FROM iam_challenge WHERE hash = ?",
		       k, 1, NULL, &err) < 0)
		log_warnx("iam: challenge not deleted: %s", err.msg);
}

static void challenge_strike(struct iam *iam, const struct challenge *c)
{
	struct bw_err err;
	struct store_value k[] = {store_blob(c->hash, 32)};
	if (store_exec(iam->store,
		       "UPDATE iam_challenge SET attempts = attempts + 1"
		       " WHERE hash = ?",
		       k, 1, NULL, &err) < 0)
		log_warnx("iam: challenge attempt not counted: %s", err.msg);
}

/* -------------------------------------------------------- known sources */

static bool known_source(struct iam *iam, const char *tenant,
			 const char *user_id, const char *ip, int64_t now)
{
	struct bw_err err;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id), store_text_str(ip),
				  store_int(now - IAM_KNOWN_SOURCE_TTL_S)};
	return store_query_one(iam->store,
			       "SELECT 1 FROM iam_known_source WHERE tenant = ?"
			       " AND user_id = ? AND ip = ? AND last_ok > ?",
			       k, 4, NULL, NULL, &err) == 1;
}

struct source_args {
	const char *tenant, *user_id, *ip;
	int64_t now;
};

static int source_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct source_args *a = arg;
	struct store_value v[] = {store_text_str(a->tenant),
				  store_text_str(a->user_id),
				  store_text_str(a->ip), store_int(a->now)};
	if (store_tx_exec(
		tx,
		"INSERT INTO iam_known_source (tenant, user_id, ip, last_ok)"
		" VALUES (?, ?, ?, ?) ON CONFLICT (tenant, user_id, ip)"
		" DO UPDATE SET last_ok = excluded.last_ok",
		v, 4, err) < 0)
		return -1;
	struct store_value d[] = {
	    store_text_str(a->tenant), store_text_str(a->user_id),
	    store_text_str(a->tenant), store_text_str(a->user_id),
	    store_int(IAM_KNOWN_SOURCES_MAX)};
	return store_tx_exec(
	    tx,
	    "DELETE FROM iam_known_source WHERE tenant = ? AND user_id = ?"
	    " AND ip NOT IN (SELECT ip FROM iam_known_source WHERE"
	    " tenant = ? AND user_id = ? ORDER BY last_ok DESC LIMIT ?)",
	    d, 5, err);
}

/* --------------------------------------------------------- password step */

struct login_user {
	bool found;
	char id[IAM_ID_LEN + 1];
	char name[IAM_NAME_MAX + 1];
	char phc[IAM_PHC_MAX];
	bool has_phc, disabled, must_change, mfa;
	int64_t pw_changed;
};

static int login_user_row(void *arg, const struct store_row *row,
			  struct bw_err *err)
{
	struct login_user *u = arg;
	u->found = true;
	if (iam_row_text(row, 0, u->id, sizeof(u->id), err) < 0 ||
	    iam_row_text(row, 1, u->name, sizeof(u->name), err) < 0)
		return -1;
	u->disabled = store_row_int64(row, 2) != 0;
	u->must_change = store_row_int64(row, 3) != 0;
	u->has_phc = !store_row_is_null(row, 4);
	if (u->has_phc && iam_row_text(row, 4, u->phc, sizeof(u->phc), err) < 0)
		return -1;
	u->pw_changed = store_row_int64(row, 5);
	u->mfa = store_row_int64(row, 6) != 0;
	return STORE_ROW_NEXT;
}

static int load_login_user(struct iam *iam, const char *tenant, const char *key,
			   struct login_user *u, struct bw_err *err)
{
	struct store_value k[] = {store_text_str(tenant), store_text_str(key)};
	return store_query_one(
	    iam->store,
	    "SELECT u.id, u.name, u.disabled, u.must_change, u.password_hash,"
	    " u.password_changed, EXISTS (SELECT 1 FROM iam_totp t"
	    " WHERE t.tenant = u.tenant AND t.user_id = u.id"
	    " AND t.confirmed = 1) FROM iam_user u"
	    " WHERE u.tenant = ? AND u.name_key = ?",
	    k, 2, login_user_row, u, err);
}

static void set_error(struct iam_login_result *out, const struct bw_err *err)
{
	out->status = IAM_LOGIN_ERROR;
	if (err)
		out->err = *err;
	out->session_token[0] = out->challenge[0] = 0;
	out->user_id[0] = 0;
}

/* After the password (or the forced change) succeeded: decide between a
 * forced change, the MFA step and a session. */
static void finish(struct iam *iam, const char *tenant,
		   const struct iam_policy *p, const struct login_user *u,
		   const char *ip, bool pw_expired,
		   struct iam_login_result *out)
{
	struct bw_err err;
	bw_snprintf(out->user_id, sizeof(out->user_id), "%s", u->id);
	if (u->must_change || pw_expired) {
		if (iam_challenge_create(iam, tenant, u->id, "pwchange",
					 out->challenge, &err) < 0)
			return set_error(out, &err);
		out->status = IAM_LOGIN_CHANGE_PASSWORD;
		iam_emit_login(tenant, u->name, ip, true, "login",
			       pw_expired ? "password_expired"
					  : "password_change_required");
		return;
	}
	struct iam_mfa_methods mm = {0};
	int need = iam_mfa_required_for(iam, tenant, u->id, &err);
	if (need < 0 || iam_mfa_methods(iam, tenant, u->id, &mm, &err) < 0)
		return set_error(out, &err);
	/* Out-of-band codes count as a factor only where MFA is required:
	 * elsewhere an address on file does not make a login two-step. */
	if (u->mfa || mm.webauthn ||
	    ((p->mfa_required || need == 1) && (mm.email || mm.phone))) {
		if (iam_challenge_create(iam, tenant, u->id, "mfa",
					 out->challenge, &err) < 0)
			return set_error(out, &err);
		out->status = IAM_LOGIN_MFA_REQUIRED;
		iam_emit_login(tenant, u->name, ip, true, "login",
			       "mfa_required");
		return;
	}
	if ((p->mfa_required || need == 1) && p->mfa_enrol_at_login) {
		/* The tenant lets such users enrol an authenticator app
		 * now (the right password is what got them here). */
		if (iam_challenge_create(iam, tenant, u->id, "enrol",
					 out->challenge, &err) < 0)
			return set_error(out, &err);
		out->status = IAM_LOGIN_ENROL_REQUIRED;
		iam_emit_login(tenant, u->name, ip, true, "login",
			       "mfa_enrolment_required");
		return;
	}
	if (p->mfa_required || need == 1) {
		/* The tenant (or a group or role of the user) demands a
		 * second factor this user does not have: an administrator
		 * must enrol them first. */
		out->status = IAM_LOGIN_FAILED;
		out->user_id[0] = 0;
		iam_emit_login(tenant, u->name, ip, false, "login",
			       "mfa_not_enrolled");
		return;
	}
	if (iam_session_create(iam, tenant, u->id, ip, false, p,
			       out->session_token, &err) < 0)
		return set_error(out, &err);
	out->status = IAM_LOGIN_OK;
	atomic_fetch_add(&iam->logins_ok, 1);
	iam_emit_login(tenant, u->name, ip, true, "login", "ok");
}

void iam_login(struct iam *iam, const struct iam_login_request *req,
	       struct iam_login_result *out)
{
	struct iam_tenant t;
	struct login_user u;
	struct bw_err err;
	char key[IAM_NAME_MAX + 1] = "";
	const char *reason = "bad_password";
	const char *ip = req->source_ip ? req->source_ip : "";
	memset(out, 0, sizeof(*out));
	memset(&u, 0, sizeof(u));
	/* A disabled tenant leaves err untouched: clear it so the 5xx test
	 * below only ever sees a real store failure. */
	bw_err_clear(&err);
	bool tenant_ok = iam_valid_tenant_name(req->tenant) &&
			 iam_tenant_get(iam, req->tenant, &t, &err) == 0 &&
			 !t.disabled;
	if (!tenant_ok) {
		if (iam_valid_tenant_name(req->tenant) && err.code >= 500)
			return set_error(out, &err);
		iam_policy_defaults(&t.policy);
		reason = "unknown_tenant";
	}
	const char *tenant = req->tenant ? req->tenant : "";
	const char *name = req->username ? req->username : "";
	bool name_ok = iam_valid_name(name);
	if (tenant_ok && name_ok) {
		iam_name_key(name, key, sizeof(key));
		if (load_login_user(iam, tenant, key, &u, &err) < 0)
			return set_error(out, &err);
	}
	int64_t now = bw_clock_now_s();
	/* The lookup runs for unknown users too (an id that matches
	 * nothing), so both paths make the same store queries. */
	bool known = known_source(iam, tenant, u.found ? u.id : "", ip, now) &&
		     u.found;
	int64_t wait = iam_lockout_check(&iam->lockout, &t.policy, tenant, name,
					 ip, known, now);
	if (wait > 0) {
		out->status = IAM_LOGIN_THROTTLED;
		out->retry_after_s = wait;
		atomic_fetch_add(&iam->logins_throttled, 1);
		iam_emit_login(tenant, name, ip, false, "login", "throttled");
		return;
	}
	int ok = 0;
	if (u.found && u.has_phc) {
		ok = iam_verify_password(u.phc, req->password,
					 req->password_len);
		if (ok == 1 && u.disabled) {
			ok = 0;
			reason = "disabled";
		} else if (ok < 0) {
			reason = "corrupt_hash";
			ok = 0;
		}
	} else {
		/* Same cost as a real check, result thrown away. */
		(void)iam_verify_password(iam->dummy_hash, req->password,
					  req->password_len);
		atomic_fetch_add(&iam->dummy_verifications, 1);
		if (tenant_ok)
			reason = !name_ok || !u.found ? "unknown_user"
						      : "no_password";
	}
	if (ok != 1) {
		iam_lockout_failure(&iam->lockout, &t.policy, tenant, name, ip,
				    now);
		atomic_fetch_add(&iam->logins_failed, 1);
		out->status = IAM_LOGIN_FAILED;
		iam_emit_login(tenant, name, ip, false, "login", reason);
		goto out;
	}
	iam_lockout_success(&iam->lockout, tenant, name, ip);
	struct source_args sa = {tenant, u.id, ip, now};
	if (store_write(iam->store, source_job, &sa, &err) < 0)
		log_warnx("iam: known source not recorded: %s", err.msg);
	if (iam_needs_rehash(iam, u.phc)) {
		char phc[IAM_PHC_MAX];
		if (iam_hash_password(iam, req->password, req->password_len,
				      phc, &err) == 0) {
			struct store_value v[] = {
			    store_text_str(phc), store_text_str(tenant),
			    store_text_str(u.id), store_text_str(u.phc)};
			/* Only if the hash is still the one we verified. */
			if (store_exec(iam->store,
				       "UPDATE iam_user SET password_hash = ?"
				       " WHERE tenant = ? AND id = ? AND "
				       "password_hash = ?",
				       v, 4, NULL, &err) == 0)
				atomic_fetch_add(&iam->rehashes, 1);
			else
				log_warnx("iam: rehash not stored: %s",
					  err.msg);
		}
		bw_wipe(phc, sizeof(phc));
	}
	bool expired = false;
	if (t.policy.pw_max_age_days) {
		int64_t expires =
		    u.pw_changed + (int64_t)t.policy.pw_max_age_days * 86400;
		if (now >= expires)
			expired = true;
		else if (expires - now <=
			 (int64_t)t.policy.pw_warn_days * 86400)
			out->password_expires_s = expires - now;
	}
	finish(iam, tenant, &t.policy, &u, ip, expired, out);
out:
	bw_wipe(u.phc, sizeof(u.phc));
}

/* ------------------------------------------------------------- MFA step */

static bool looks_like_recovery(const char *code)
{
	return strlen(code) == IAM_RECOVERY_CODE_LEN || strlen(code) == 16;
}

/* Loads what the later steps need about a challenge's user. */
static int step_user(struct iam *iam, const char *tenant, const char *user_id,
		     struct iam_tenant *t, struct login_user *lu,
		     struct bw_err *err)
{
	struct iam_user u;
	if (iam_tenant_require(iam, tenant, t, err) < 0 ||
	    iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	memset(lu, 0, sizeof(*lu));
	lu->found = true;
	memcpy(lu->id, u.id, sizeof(lu->id));
	memcpy(lu->name, u.name, sizeof(lu->name));
	lu->disabled = u.disabled;
	lu->mfa = u.mfa_enrolled;
	lu->pw_changed = u.password_changed;
	if (u.disabled)
		return bw_err_set(err, 403, "iam", "disabled", "user disabled");
	return 0;
}

/* The step after the password through a challenge of `purpose` ("mfa",
 * "enrol"): throttles, verify, then a session that passed MFA. */
static void second_step(struct iam *iam, const char *tenant,
			const char *challenge, const char *purpose,
			const char *source_ip, const char *action,
			iam_mfa_verify_fn verify, void *arg,
			struct iam_login_result *out)
{
	struct challenge c;
	struct iam_tenant t;
	struct login_user lu;
	struct bw_err err;
	const char *ip = source_ip ? source_ip : "";
	memset(out, 0, sizeof(*out));
	int rc = iam_valid_tenant_name(tenant)
		     ? challenge_find(iam, tenant, challenge, purpose, &c, &err)
		     : 0;
	if (rc < 0)
		return set_error(out, &err);
	if (rc == 0 || step_user(iam, tenant, c.user_id, &t, &lu, &err) < 0) {
		out->status = IAM_LOGIN_FAILED;
		iam_emit_login(tenant, "", ip, false, action, "bad_challenge");
		return;
	}
	int64_t now = bw_clock_now_s();
	int64_t wait = iam_lockout_check(&iam->lockout, &t.policy, tenant,
					 lu.name, ip, true, now);
	if (wait > 0) {
		out->status = IAM_LOGIN_THROTTLED;
		out->retry_after_s = wait;
		iam_emit_login(tenant, lu.name, ip, false, action, "throttled");
		return;
	}
	if (verify(arg, iam, tenant, lu.id, &err) < 0) {
		if (err.code >= 500)
			return set_error(out, &err);
		challenge_strike(iam, &c);
		iam_lockout_failure(&iam->lockout, &t.policy, tenant, lu.name,
				    ip, now);
		atomic_fetch_add(&iam->mfa_failed, 1);
		out->status = IAM_LOGIN_FAILED;
		iam_emit_login(tenant, lu.name, ip, false, action, err.reason);
		return;
	}
	challenge_delete(iam, &c);
	atomic_fetch_add(&iam->mfa_ok, 1);
	if (iam_session_create(iam, tenant, lu.id, ip, true, &t.policy,
			       out->session_token, &err) < 0)
		return set_error(out, &err);
	bw_snprintf(out->user_id, sizeof(out->user_id), "%s", lu.id);
	out->status = IAM_LOGIN_OK;
	atomic_fetch_add(&iam->logins_ok, 1);
	iam_emit_login(tenant, lu.name, ip, true, action, "ok");
}

void iam_login_mfa_with(struct iam *iam, const char *tenant,
			const char *challenge, const char *source_ip,
			const char *action, iam_mfa_verify_fn verify,
			void *arg, struct iam_login_result *out)
{
	second_step(iam, tenant, challenge, "mfa", source_ip, action, verify,
		    arg, out);
}

int iam_login_challenge_user(struct iam *iam, const char *tenant,
			     const char *challenge,
			     char user_id[IAM_ID_LEN + 1], struct bw_err *err)
{
	struct challenge c;
	if (!iam_valid_tenant_name(tenant))
		return 0;
	int rc = challenge_find(iam, tenant, challenge, "mfa", &c, err);
	if (rc == 1)
		memcpy(user_id, c.user_id, IAM_ID_LEN + 1);
	return rc;
}

int iam_mfa_code_verify(struct iam *iam, const char *tenant,
			const char *user_id, const char *code,
			struct bw_err *err)
{
	const char *cd = code ? code : "";
	return looks_like_recovery(cd)
		   ? iam_recovery_code_use(iam, tenant, user_id, cd, err)
		   : iam_totp_verify(iam, tenant, user_id, cd, err);
}

/* TOTP or a recovery code. */
static int verify_code(void *arg, struct iam *iam, const char *tenant,
		       const char *user_id, struct bw_err *err)
{
	return iam_mfa_code_verify(iam, tenant, user_id, arg, err);
}

void iam_login_mfa(struct iam *iam, const char *tenant, const char *challenge,
		   const char *code, const char *source_ip,
		   struct iam_login_result *out)
{
	iam_login_mfa_with(iam, tenant, challenge, source_ip, "login-mfa",
			   verify_code, (void *)(uintptr_t)code, out);
}

/* ------------------------------------------------- enrolment at sign-in */

struct enrol_arg {
	const char *code;
	char (*codes)[IAM_RECOVERY_CODE_LEN + 1];
};

int iam_login_enrol_begin(struct iam *iam, const char *tenant,
			  const char *challenge, const char *issuer,
			  struct iam_totp_enrolment *e, struct bw_err *err)
{
	struct challenge c;
	int rc = iam_valid_tenant_name(tenant)
		     ? challenge_find(iam, tenant, challenge, "enrol", &c, err)
		     : 0;
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 401, "iam", "bad_challenge",
					   "the sign-in expired; sign in again");
	return iam_totp_begin(iam, tenant, c.user_id, issuer, IAM_TOTP_SHA1, 6,
			      e, err);
}

/* Confirms the enrolment the challenge's user began (arg: where the
 * recovery codes go). */
static int verify_enrol(void *arg, struct iam *iam, const char *tenant,
			const char *user_id, struct bw_err *err)
{
	struct enrol_arg *e = arg;
	return iam_totp_confirm(iam, tenant, user_id, e->code, e->codes, err);
}

void iam_login_enrol_finish(
    struct iam *iam, const char *tenant, const char *challenge,
    const char *code, const char *source_ip,
    char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1],
    struct iam_login_result *out)
{
	struct enrol_arg e = {code ? code : "", codes};
	second_step(iam, tenant, challenge, "enrol", source_ip, "login-enrol",
		    verify_enrol, &e, out);
}

void iam_login_change_password(struct iam *iam, const char *tenant,
			       const char *challenge, const char *new_pw,
			       size_t new_len, const char *source_ip,
			       struct iam_login_result *out)
{
	struct challenge c;
	struct iam_tenant t;
	struct login_user lu;
	struct bw_err err;
	char phc[IAM_PHC_MAX] = "";
	const char *ip = source_ip ? source_ip : "";
	memset(out, 0, sizeof(*out));
	int rc =
	    iam_valid_tenant_name(tenant)
		? challenge_find(iam, tenant, challenge, "pwchange", &c, &err)
		: 0;
	if (rc < 0)
		return set_error(out, &err);
	if (rc == 0 || step_user(iam, tenant, c.user_id, &t, &lu, &err) < 0) {
		out->status = IAM_LOGIN_FAILED;
		iam_emit_login(tenant, "", ip, false, "password-change",
			       "bad_challenge");
		return;
	}
	if (iam_password_check(iam, &t.policy, tenant, lu.name, new_pw, new_len,
			       &err) < 0)
		return set_error(out, &err);
	/* History applies here too: the forced change must be a change. */
	int h = iam_password_in_history(iam, tenant, lu.id, t.policy.pw_history,
					new_pw, new_len, &err);
	if (h != 0) {
		if (h > 0)
			bw_err_set(&err, 400, "iam", "reused",
				   "password was used recently");
		return set_error(out, &err);
	}
	if (iam_hash_password(iam, new_pw, new_len, phc, &err) < 0)
		return set_error(out, &err);
	if (iam_password_store(iam, tenant, lu.id, phc, false,
			       t.policy.pw_history, &err) < 0 ||
	    iam_session_revoke_all(iam, tenant, lu.id, NULL, &err) < 0) {
		bw_wipe(phc, sizeof(phc));
		return set_error(out, &err);
	}
	bw_wipe(phc, sizeof(phc));
	challenge_delete(iam, &c);
	iam_emit_login(tenant, lu.name, ip, true, "password-change", "changed");
	if (iam->password_set)
		iam->password_set(iam->password_set_arg, tenant, lu.id);
	lu.must_change = false;
	finish(iam, tenant, &t.policy, &lu, ip, false, out);
}

/* ----------------------------------------------------------------- async */

struct login_job {
	struct iam *iam;
	char tenant[IAM_TENANT_MAX + 1];
	char username[IAM_NAME_MAX + 1];
	char ip[64];
	char *password;
	size_t password_len;
	void (*done)(void *arg, const struct iam_login_result *r);
	void *arg;
	struct iam_login_result result;
};

static void login_work(void *arg)
{
	struct login_job *j = arg;
	struct iam_login_request req = {.tenant = j->tenant,
					.username = j->username,
					.password = j->password,
					.password_len = j->password_len,
					.source_ip = j->ip};
	iam_login(j->iam, &req, &j->result);
	bw_wipe(j->password, j->password_len);
}

static void login_done(void *arg)
{
	struct login_job *j = arg;
	j->done(j->arg, &j->result);
	free(j->password);
	bw_wipe(j, sizeof(*j));
	free(j);
}

int iam_login_async(struct iam *iam, const struct iam_login_request *req,
		    struct loop *reply,
		    void (*done)(void *arg, const struct iam_login_result *r),
		    void *arg, struct bw_err *err)
{
	if (!iam->pool)
		return bw_err_set(err, 500, "iam", "no_pool",
				  "no thread pool configured");
	if (req->password_len > IAM_PW_BYTES_MAX)
		return bw_err_set(err, 400, "iam", "too_long",
				  "password too long");
	struct login_job *j = calloc(1, sizeof(*j));
	if (!j)
		return bw_err_set(err, 503, "iam", "overloaded",
				  "out of memory");
	j->password = malloc(req->password_len + 1);
	if (!j->password) {
		free(j);
		return bw_err_set(err, 503, "iam", "overloaded",
				  "out of memory");
	}
	/* An over-long name becomes an invalid one (a control character), so
	 * its truncation can never match a real tenant or user: it fails like
	 * any unknown name, after the dummy hash. */
	if (bw_snprintf(j->tenant, sizeof(j->tenant), "%s",
			req->tenant ? req->tenant : "") < 0)
		memcpy(j->tenant, "\001", 2);
	if (bw_snprintf(j->username, sizeof(j->username), "%s",
			req->username ? req->username : "") < 0)
		memcpy(j->username, "\001", 2);
	if (bw_snprintf(j->ip, sizeof(j->ip), "%s",
			req->source_ip ? req->source_ip : "") < 0)
		memcpy(j->ip, "?", 2);
	memcpy(j->password, req->password, req->password_len);
	j->password[req->password_len] = 0;
	j->password_len = req->password_len;
	j->iam = iam;
	j->done = done;
	j->arg = arg;
	if (tpool_submit(iam->pool, login_work, login_done, j, reply) < 0) {
		bw_wipe(j->password, j->password_len);
		free(j->password);
		free(j);
		return bw_err_set(err, 503, "iam", "overloaded",
				  "login queue full");
	}
	return 0;
}
