/*
 * iam — bulwark's identity core: tenants (realms), users, groups and
 * attributes, passwords (Argon2id, NIST SP 800-63B policy, history,
 * rotation), failed-login monitoring and lockout, TOTP and recovery codes,
 * sessions and API keys, and the bearer-token authentication the admin API
 * uses. State lives in the store (docs/internals/STORE.md); the guide is
 * docs/internals/IAM.md.
 *
 * Invariants:
 *  - tenant isolation: every row carries its tenant, every query binds the
 *    tenant it was asked for, and every function takes the tenant
 *    explicitly; an id from tenant A is "not found" in tenant B;
 *  - secrets at rest: passwords as Argon2id PHC strings; session tokens,
 *    API key secrets and recovery codes as SHA-256 (they carry >= 80 bits
 *    of entropy, so a slow hash adds nothing); TOTP seeds sealed through
 *    struct iam_sealer (the kms will implement it);
 *  - login never tells whether a user exists: unknown users, disabled
 *    users and wrong passwords give the same status and message, and
 *    unknown users cost one Argon2id verification against a dummy hash;
 *  - every login attempt is an event (category "authentication") with
 *    tenant, user, source IP and reason;
 *  - all time is bw_clock time, so tests move it instead of sleeping.
 *
 * Threading: everything here may block (store, Argon2id) except where
 * marked; call it from the thread pool or the CLI, never from an event
 * loop. iam_login_async() is the loop-safe way to log in.
 */
#ifndef BW_IAM_H
#define BW_IAM_H

#include "core/core.h"
#include "iam/iam_limits.h"
#include "iam/iam_fed_limits.h"
#include "iam/iam_web_limits.h"

struct store;
struct tpool;
struct loop;

/* --------------------------------------------------------------- sealer */

/*
 * Seals and opens small secrets (TOTP seeds) bound to a context string
 * (aad: "tenant/user/purpose"), so a sealed value moved to another row
 * does not open. The keystore process (kms) will implement this; until
 * then iam_sealer_local() does AES-256-GCM in-process. Both callbacks
 * append to out and return 0, or -1 with err; open fails with 400
 * "bad_tag" on anything tampered with.
 */
struct iam_sealer {
	int (*seal)(void *ctx, const uint8_t *pt, size_t n, const char *aad,
		    struct bw_buf *out, struct bw_err *err);
	int (*open)(void *ctx, const uint8_t *ct, size_t n, const char *aad,
		    struct bw_buf *out, struct bw_err *err);
	void *ctx;
	void (*free)(void *ctx); /* called by iam_free; may be NULL */
};

/* IN-PROCESS STOPGAP until the kms exists: a sealer using AES-256-GCM
 * with a key held in this process (copied, wiped on free). */
int iam_sealer_local(struct iam_sealer *s, const uint8_t key[32],
		     struct bw_err *err) BW_WUR;

/* ----------------------------------------------------------------- open */

struct iam_argon2 {
	uint32_t m_kib; /* memory in KiB */
	uint32_t t;	/* passes */
	uint32_t p;	/* lanes */
};

struct iam_options {
	struct store *store;	    /* borrowed; required */
	struct tpool *pool;	    /* borrowed; needed for iam_login_async */
	struct iam_sealer sealer;   /* taken over (its free runs at iam_free) */
	struct iam_argon2 argon2;   /* 0 fields: defaults (iam_limits.h) */
	const char *blocklist_path; /* optional, see IAM.md for the format */
	size_t blocklist_max;	    /* 0: IAM_BLOCKLIST_ENTRIES_DEFAULT */
	/* Called after a user set their own password (the forced change at
	 * login or a self-service change), on the calling thread (a pool
	 * thread). The server retires the bootstrap token the first time a
	 * platform administrator does so. May be NULL. */
	void (*password_set)(void *arg, const char *tenant,
			     const char *user_id);
	void *password_set_arg;
	/* Called after a membership was added or removed (also for each
	 * membership a group or user deletion removed), and after a tenant
	 * was deleted, on the calling thread, so that roles granted to
	 * "group:ID#member" follow the identity module's groups (the server
	 * mirrors them into the authorization engine). May be NULL. */
	void (*membership_changed)(void *arg, const char *tenant, const char *group_id,
				   const char *user_id, bool added);
	void (*tenant_deleted)(void *arg, const char *tenant);
	/* Does user_id hold role (a platform role of the authorization
	 * engine, e.g. "tenant-admin", directly, through a group or through
	 * a role that includes it) in tenant? 1 yes, 0 no, -1 with err. With
	 * user_id NULL: 0 when role is a known role name, else -1 with 400.
	 * Consulted by the per-role "MFA required" policy; NULL: roles are
	 * not known and that policy cannot be set (400). */
	int (*role_held)(void *arg, const char *tenant, const char *user_id,
			 const char *role, struct bw_err *err);
	void *hooks_arg;
};

struct iam;

/*
 * Opens the identity core: migrates the "iam" schema, loads the blocklist,
 * computes the dummy hash. Argon2id parameters below OWASP's floor are
 * refused (400 "weak_argon2"), as are ones above the hard maxima. Returns
 * NULL with err on failure. Boot-time only.
 */
struct iam *iam_new(const struct iam_options *o, struct bw_err *err) BW_WUR;
void iam_free(struct iam *iam); /* accepts NULL */
/* Sets (or clears, with NULL) the thread pool iam_login_async uses, for a
 * pool created after iam_new. Start-up only, before any async login. */
void iam_set_pool(struct iam *iam, struct tpool *pool);

/* -------------------------------------------------------------- tenants */

/*
 * A tenant's policy. Zero-initialise and call iam_policy_defaults; the
 * API and the loader check every value against iam_limits.h with
 * iam_policy_check.
 */
struct iam_policy {
	/* passwords (NIST SP 800-63B) */
	uint32_t pw_min_length; /* code points */
	uint32_t pw_max_length; /* code points, >= 64 */
	uint32_t pw_min_lower, pw_min_upper, pw_min_digit, pw_min_symbol;
	bool pw_blocklist;	  /* refuse blocklisted passwords */
	bool pw_forbid_names;	  /* refuse passwords containing the user or
				     tenant name */
	uint32_t pw_history;	  /* refuse the last N passwords */
	uint32_t pw_max_age_days; /* 0: never expires */
	uint32_t pw_warn_days;	  /* warn this long before expiry */
	/* lockout */
	uint32_t lock_window_s;
	uint32_t lock_pair_threshold;	 /* account+IP failures before delays */
	uint32_t lock_account_threshold; /* account failures before a lock */
	uint32_t lock_ip_threshold;	 /* IP failures before throttling */
	/* MFA and sessions */
	bool mfa_required; /* users without TOTP cannot log in */
	bool mfa_enrol_at_login; /* where MFA is required, a user without a
				    factor enrols TOTP at sign-in instead of
				    being refused */
	uint32_t session_idle_s;
	uint32_t session_absolute_s;
	/* step-up on sensitive admin API routes (iam_stepup.c) */
	uint32_t step_up_s;	  /* how recent the last strong authentication
				     must be (IAM_STEPUP_DEFAULT_S) */
	bool step_up_require_mfa; /* users without a second factor are
				     refused (enrol first) instead of
				     stepping up with their password */
};
void iam_policy_defaults(struct iam_policy *p);
/* 0, or -1 with 400 "bad_policy" naming the field out of range. */
int iam_policy_check(const struct iam_policy *p, struct bw_err *err) BW_WUR;

struct iam_tenant {
	char name[IAM_TENANT_MAX + 1];
	char display_name[IAM_TEXT_MAX + 1];
	bool disabled;
	int64_t created, updated;
	struct iam_policy policy;
};

/* The platform tenant holds bulwark's own operators. */
#define IAM_PLATFORM_TENANT "platform"

/*
 * Creates tenant `name` ([a-z0-9-], 1..63, not starting with '-'); policy
 * NULL means the defaults. 409 "conflict" if it exists, 400 "bad_name".
 * OUT: t (may be NULL).
 */
int iam_tenant_create(struct iam *iam, const char *name,
		      const char *display_name, const struct iam_policy *policy,
		      struct iam_tenant *t, struct bw_err *err) BW_WUR;
/* 0 with *t filled, or -1: 404 "not_found". */
int iam_tenant_get(struct iam *iam, const char *name, struct iam_tenant *t,
		   struct bw_err *err) BW_WUR;
/* Updates display name (NULL: unchanged) and policy (NULL: unchanged). */
int iam_tenant_update(struct iam *iam, const char *name,
		      const char *display_name, const struct iam_policy *policy,
		      struct bw_err *err) BW_WUR;
/* Disabling refuses every login and bearer token of the tenant at once
 * (sessions are kept, so re-enabling restores them). */
int iam_tenant_set_disabled(struct iam *iam, const char *name, bool disabled,
			    struct bw_err *err) BW_WUR;
/* Deletes the tenant and, by cascade, everything in it: users, groups,
 * sessions, API keys, MFA secrets. The platform tenant cannot be deleted
 * (403 "protected"). */
int iam_tenant_delete(struct iam *iam, const char *name,
		      struct bw_err *err) BW_WUR;
/* Calls fn for every tenant (name order); fn returns non-zero to stop. */
int iam_tenant_list(struct iam *iam,
		    int (*fn)(void *arg, const struct iam_tenant *t), void *arg,
		    struct bw_err *err) BW_WUR;

/* ---------------------------------------------------------------- users */

struct iam_user {
	char tenant[IAM_TENANT_MAX + 1];
	char id[IAM_ID_LEN + 1];
	char name[IAM_NAME_MAX + 1];
	char display_name[IAM_TEXT_MAX + 1];
	char email[IAM_TEXT_MAX + 1];
	char attrs[IAM_ATTRS_MAX + 1]; /* a JSON object, "{}" when none */
	bool disabled;
	bool must_change_password;
	bool has_password;
	bool mfa_enrolled;
	int64_t created, updated, password_changed;
};

/* What to create or change. NULL / unset fields: not given. */
struct iam_user_spec {
	const char *name; /* create only; case-insensitively unique */
	const char *display_name;
	const char *email;
	const char *attrs;    /* a JSON object of at most IAM_ATTRS_MAX */
	const char *password; /* create only: initial password */
	size_t password_len;
	bool must_change_password; /* create only */
};

/*
 * Creates a user in tenant. The initial password, if any, must pass the
 * tenant's policy (400 with the policy reason). 409 "conflict" when the
 * name is taken, 404 when the tenant does not exist. OUT: u (may be NULL).
 */
int iam_user_create(struct iam *iam, const char *tenant,
		    const struct iam_user_spec *spec, struct iam_user *u,
		    struct bw_err *err) BW_WUR;
/* By id or by (case-insensitive) name. 404 "not_found". */
int iam_user_get(struct iam *iam, const char *tenant, const char *id,
		 struct iam_user *u, struct bw_err *err) BW_WUR;
int iam_user_find(struct iam *iam, const char *tenant, const char *name,
		  struct iam_user *u, struct bw_err *err) BW_WUR;
/* Changes display_name / email / attrs where given. */
int iam_user_update(struct iam *iam, const char *tenant, const char *id,
		    const struct iam_user_spec *spec,
		    struct bw_err *err) BW_WUR;
/*
 * Disabling: logins are refused, every session is revoked and API keys
 * stop authenticating (they are kept, so enabling restores them).
 */
int iam_user_set_disabled(struct iam *iam, const char *tenant, const char *id,
			  bool disabled, struct bw_err *err) BW_WUR;
/*
 * Deletes the user and by cascade its sessions, API keys, MFA secrets,
 * recovery codes, password history and group memberships. Tokens it held
 * stop working at once. Audit records keep its id, which is random and
 * never reused, so they stay unambiguous.
 */
int iam_user_delete(struct iam *iam, const char *tenant, const char *id,
		    struct bw_err *err) BW_WUR;
/* Every user of tenant in name order; fn returns non-zero to stop. */
int iam_user_list(struct iam *iam, const char *tenant,
		  int (*fn)(void *arg, const struct iam_user *u), void *arg,
		  struct bw_err *err) BW_WUR;

/* --------------------------------------------------------------- groups */

struct iam_group {
	char tenant[IAM_TENANT_MAX + 1];
	char id[IAM_ID_LEN + 1];
	char name[IAM_NAME_MAX + 1];
	char description[IAM_TEXT_MAX + 1];
	int64_t created;
};

int iam_group_create(struct iam *iam, const char *tenant, const char *name,
		     const char *description, struct iam_group *g,
		     struct bw_err *err) BW_WUR;
int iam_group_get(struct iam *iam, const char *tenant, const char *id,
		  struct iam_group *g, struct bw_err *err) BW_WUR;
int iam_group_delete(struct iam *iam, const char *tenant, const char *id,
		     struct bw_err *err) BW_WUR;
/* Renames a group and/or sets its description (NULL: unchanged); the id,
 * memberships and role assignments stay (iam_groups.c). 404, 409 when the
 * name is taken, 400 for a bad name or text. */
int iam_group_update(struct iam *iam, const char *tenant, const char *id,
		     const char *name, const char *description,
		     struct bw_err *err) BW_WUR;
int iam_group_list(struct iam *iam, const char *tenant,
		   int (*fn)(void *arg, const struct iam_group *g), void *arg,
		   struct bw_err *err) BW_WUR;
/* Membership: both must exist in tenant (404 otherwise). Adding twice is
 * a no-op; removing a non-member is 404. */
int iam_group_add_member(struct iam *iam, const char *tenant,
			 const char *group_id, const char *user_id,
			 struct bw_err *err) BW_WUR;
int iam_group_remove_member(struct iam *iam, const char *tenant,
			    const char *group_id, const char *user_id,
			    struct bw_err *err) BW_WUR;
/* Members of a group, or groups of a user (fn gets ids and names). */
int iam_group_members(struct iam *iam, const char *tenant, const char *group_id,
		      int (*fn)(void *arg, const char *user_id,
				const char *name),
		      void *arg, struct bw_err *err) BW_WUR;
int iam_user_groups(struct iam *iam, const char *tenant, const char *user_id,
		    int (*fn)(void *arg, const char *group_id,
			      const char *name),
		    void *arg, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ passwords */

/*
 * Checks password against tenant policy p for a user named user_name in
 * tenant tenant_name (no store access, no history). Returns 0 or -1 with
 * 400 and reason "too_short", "too_long", "bad_encoding", "blocklisted",
 * "contains_name", "repetitive" or "composition".
 */
int iam_password_check(struct iam *iam, const struct iam_policy *p,
		       const char *tenant_name, const char *user_name,
		       const char *password, size_t len,
		       struct bw_err *err) BW_WUR;

/*
 * The user changes their own password: old must verify (else 401
 * "bad_password", counted like a failed login), new must pass the policy
 * and not be one of the last pw_history passwords (400 "reused"). Other
 * sessions of the user are revoked; keep_session (a session handle, may be
 * NULL) survives.
 */
int iam_password_change(struct iam *iam, const char *tenant,
			const char *user_id, const char *old_pw, size_t old_len,
			const char *new_pw, size_t new_len,
			const char *keep_session, struct bw_err *err) BW_WUR;

/*
 * An administrator sets a password: policy applies (history does not),
 * the user must change it at the next login, every session is revoked.
 */
int iam_password_reset(struct iam *iam, const char *tenant, const char *user_id,
		       const char *new_pw, size_t new_len,
		       struct bw_err *err) BW_WUR;

/* True when the blocklist holds s (case-insensitively). Non-blocking. */
bool iam_blocklist_contains(const struct iam *iam, const char *s, size_t n);
size_t iam_blocklist_size(const struct iam *iam);

/* ---------------------------------------------------------------- login */

struct iam_login_request {
	const char *tenant;
	const char *username;
	const char *password;
	size_t password_len;
	const char *source_ip; /* for lockout and events; required */
};

enum iam_login_status {
	IAM_LOGIN_OK,		   /* session_token is set */
	IAM_LOGIN_MFA_REQUIRED,	   /* challenge is set: call iam_login_mfa */
	IAM_LOGIN_CHANGE_PASSWORD, /* challenge is set: call
				      iam_login_change_password */
	IAM_LOGIN_FAILED,	   /* wrong credentials (or no such user,
				      or disabled: indistinguishable) */
	IAM_LOGIN_THROTTLED,	   /* too many failures: retry_after_s */
	IAM_LOGIN_ERROR,	   /* internal error (err): answer 503 */
	IAM_LOGIN_ENROL_REQUIRED,  /* challenge is set: MFA is required, the
				      user has no factor and the tenant's
				      mfa_enrol_at_login lets them enrol:
				      iam_login_enrol_begin / _finish */
};

struct iam_login_result {
	enum iam_login_status status;
	char session_token[IAM_TOKEN_MAX]; /* IAM_LOGIN_OK */
	char challenge[IAM_TOKEN_MAX];	   /* MFA / change password */
	int64_t retry_after_s;		   /* THROTTLED */
	int64_t password_expires_s;	   /* > 0: seconds left, when inside
					      the warning period */
	char user_id[IAM_ID_LEN + 1];	   /* set on OK / MFA / CHANGE only */
	struct bw_err err;		   /* IAM_LOGIN_ERROR */
};

/* A stable, generic message for a status (same for every failure). */
const char *iam_login_status_message(enum iam_login_status s);

/*
 * Password login. Blocking (Argon2id + store). Order: per-IP, per
 * account+IP and per-account throttles (the account lock is skipped for
 * sources this user logged in from recently), user lookup (unknown users
 * verify against the dummy hash), verification, counters, event. On
 * success the hash is re-computed if its parameters differ from the
 * current ones. Then: a forced password change (admin reset or expiry)
 * gives CHANGE_PASSWORD; MFA enrolment (or the tenant's mfa_required)
 * gives MFA_REQUIRED; otherwise a session.
 */
void iam_login(struct iam *iam, const struct iam_login_request *req,
	       struct iam_login_result *out);

/*
 * The same on the thread pool: copies the request (the password into
 * memory wiped afterwards) and calls done(arg, result) on loop `reply`
 * (the result is valid during the call only). Returns 0 when queued, or
 * -1 with 503 "overloaded" (queue full) — never blocks. Non-blocking.
 */
int iam_login_async(struct iam *iam, const struct iam_login_request *req,
		    struct loop *reply,
		    void (*done)(void *arg, const struct iam_login_result *r),
		    void *arg, struct bw_err *err) BW_WUR;

/* Second step with a TOTP code or a recovery code. A wrong code counts
 * against the challenge (5 tries) and the lockout counters. */
void iam_login_mfa(struct iam *iam, const char *tenant, const char *challenge,
		   const char *code, const char *source_ip,
		   struct iam_login_result *out);
/* Sets a new password through a CHANGE_PASSWORD challenge, then continues
 * like a login (MFA, session). Policy failures come back as
 * IAM_LOGIN_ERROR with a 400 err and the challenge stays valid. */
void iam_login_change_password(struct iam *iam, const char *tenant,
			       const char *challenge, const char *new_pw,
			       size_t new_len, const char *source_ip,
			       struct iam_login_result *out);

/*
 * Forced enrolment at sign-in (policy mfa_enrol_at_login): begin gives a
 * fresh TOTP secret (SHA-1, 6 digits, what every authenticator app reads)
 * for the user of an "enrol" challenge (401 "bad_challenge" when it is
 * unknown or expired); finish confirms it with a code, which ends the
 * challenge and issues a session that passed MFA (IAM_LOGIN_OK, OUT:
 * codes, the user's new recovery codes). A wrong code counts against the
 * challenge and the lockout like the MFA step. Blocking.
 */
struct iam_totp_enrolment;
int iam_login_enrol_begin(struct iam *iam, const char *tenant,
			  const char *challenge, const char *issuer,
			  struct iam_totp_enrolment *e,
			  struct bw_err *err) BW_WUR;
void iam_login_enrol_finish(
    struct iam *iam, const char *tenant, const char *challenge,
    const char *code, const char *source_ip,
    char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1],
    struct iam_login_result *out);

/* Administrator unlock: clears the account's lockout counters. */
void iam_lockout_unlock(struct iam *iam, const char *tenant,
			const char *username);

/* ------------------------------------------------------------------ MFA */

enum iam_totp_alg { IAM_TOTP_SHA1, IAM_TOTP_SHA256, IAM_TOTP_SHA512 };

/* RFC 4226 HOTP value of counter with secret, `digits` long, into out
 * (digits + NUL). Returns 0, or -1 for bad parameters. Non-blocking. */
int iam_hotp(const uint8_t *secret, size_t n, enum iam_totp_alg alg,
	     unsigned digits, uint64_t counter, char out[16]) BW_WUR;

struct iam_totp_enrolment {
	char secret_b32[128];	   /* for manual entry */
	char uri[IAM_OTPAUTH_MAX]; /* otpauth://totp/... */
};

/*
 * Starts (or restarts) TOTP enrolment: a fresh secret sealed at rest,
 * unconfirmed until iam_totp_confirm. issuer names the service in the
 * authenticator app. OUT: e.
 */
int iam_totp_begin(struct iam *iam, const char *tenant, const char *user_id,
		   const char *issuer, enum iam_totp_alg alg, unsigned digits,
		   struct iam_totp_enrolment *e, struct bw_err *err) BW_WUR;
/*
 * Confirms enrolment with a current code and creates recovery codes.
 * OUT: codes (shown once; stored hashed). 400 "bad_code".
 */
int iam_totp_confirm(struct iam *iam, const char *tenant, const char *user_id,
		     const char *code,
		     char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1],
		     struct bw_err *err) BW_WUR;
/*
 * Verifies a TOTP code of a confirmed enrolment: ±1 step, and never a
 * step at or before the last one accepted (a code works once). 400
 * "bad_code" / "replayed", 404 when not enrolled.
 */
int iam_totp_verify(struct iam *iam, const char *tenant, const char *user_id,
		    const char *code, struct bw_err *err) BW_WUR;
/* Removes TOTP and the recovery codes. */
int iam_totp_disable(struct iam *iam, const char *tenant, const char *user_id,
		     struct bw_err *err) BW_WUR;
/* Replaces the user's recovery codes. OUT: codes. */
int iam_recovery_codes_new(
    struct iam *iam, const char *tenant, const char *user_id,
    char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1],
    struct bw_err *err) BW_WUR;
/* Uses one recovery code (each works once). 400 "bad_code". */
int iam_recovery_code_use(struct iam *iam, const char *tenant,
			  const char *user_id, const char *code,
			  struct bw_err *err) BW_WUR;

/*
 * QR code of text (an otpauth URI) as an SVG document (malloc'd,
 * NUL-terminated; caller frees) or a PNG image (malloc'd, *len bytes).
 * NULL with err on failure. Non-blocking.
 */
char *iam_qr_svg(const char *text, struct bw_err *err);
uint8_t *iam_qr_png(const char *text, unsigned scale, size_t *len,
		    struct bw_err *err);

/* ----------------------------------------------------- sessions, keys */

enum iam_principal_kind { IAM_PRINCIPAL_SESSION = 1, IAM_PRINCIPAL_API_KEY };

/* Who a bearer token stands for. */
struct iam_principal {
	enum iam_principal_kind kind;
	char tenant[IAM_TENANT_MAX + 1];
	char user_id[IAM_ID_LEN + 1];
	char user_name[IAM_NAME_MAX + 1];
	char credential_id[IAM_ID_LEN + 1]; /* session handle or key id */
	char scopes[IAM_SCOPES_MAX + 1];    /* API keys: granted scopes */
	bool mfa;			    /* sessions: MFA was passed */
	int64_t expires;		    /* 0: none */
};

/*
 * Authenticates a bearer token: a session ("bws_...") or an API key
 * ("bwk_..."). Checks the hash in constant time, expiry (idle and
 * absolute for sessions), revocation, and that user and tenant are
 * enabled; touches last_seen / last_used (at most once a minute).
 * Returns 0 with *out filled, -1 when the token is not valid (answer
 * 401), -2 when the store failed (answer 503). Blocking (one read).
 */
int iam_authenticate_bearer(struct iam *iam, const char *token, size_t len,
			    struct iam_principal *out);

struct iam_session_info {
	char handle[IAM_ID_LEN + 1];
	char ip[48];
	bool mfa;
	int64_t created, last_seen, expires;
};
int iam_session_list(struct iam *iam, const char *tenant, const char *user_id,
		     int (*fn)(void *arg, const struct iam_session_info *s),
		     void *arg, struct bw_err *err) BW_WUR;
/* Revokes one session by handle (404 if not this user's). */
int iam_session_revoke(struct iam *iam, const char *tenant, const char *user_id,
		       const char *handle, struct bw_err *err) BW_WUR;
/* Revokes every session of the user except `keep` (may be NULL). */
int iam_session_revoke_all(struct iam *iam, const char *tenant,
			   const char *user_id, const char *keep,
			   struct bw_err *err) BW_WUR;
/* Ends the session a token names (logout); unknown tokens are ignored. */
int iam_logout(struct iam *iam, const char *token, size_t len,
	       struct bw_err *err) BW_WUR;

struct iam_apikey_info {
	char id[IAM_ID_LEN + 1];
	char name[IAM_NAME_MAX + 1];
	char scopes[IAM_SCOPES_MAX + 1];
	int64_t created, expires, last_used; /* expires 0: never */
};
/* Length of an API key token: "bwk_" id(16 hex) "_" secret(43) crc(8). */
#define IAM_APIKEY_LEN 72

/*
 * Creates an API key for a user: OUT token (NUL-terminated, shown once),
 * info. ttl_s 0 means no expiry. scopes is space-separated
 * ([a-z0-9.:_-] words).
 */
int iam_apikey_create(struct iam *iam, const char *tenant, const char *user_id,
		      const char *name, const char *scopes, int64_t ttl_s,
		      char token[IAM_APIKEY_LEN + 1],
		      struct iam_apikey_info *info, struct bw_err *err) BW_WUR;
/* A new key with the same name and scopes; the old one keeps working for
 * overlap_s more seconds (0: revoked at once). */
int iam_apikey_rotate(struct iam *iam, const char *tenant, const char *user_id,
		      const char *key_id, int64_t overlap_s,
		      char token[IAM_APIKEY_LEN + 1],
		      struct iam_apikey_info *info, struct bw_err *err) BW_WUR;
int iam_apikey_revoke(struct iam *iam, const char *tenant, const char *user_id,
		      const char *key_id, struct bw_err *err) BW_WUR;
int iam_apikey_list(struct iam *iam, const char *tenant, const char *user_id,
		    int (*fn)(void *arg, const struct iam_apikey_info *k),
		    void *arg, struct bw_err *err) BW_WUR;
/* True when token has the shape and checksum of a bulwark API key (for
 * leak scanners). Non-blocking. */
bool iam_apikey_looks_valid(const char *token, size_t len);

/* ------------------------------------------------------------------ OIDC */

/*
 * The per-tenant OAuth 2 / OIDC provider core (iam_oidc.c): signing keys
 * (sealed at rest, published as a JWKS, rotated with overlap), clients,
 * authorization code with PKCE (S256 only), client credentials, refresh
 * tokens with rotation and reuse detection (a reused refresh token
 * revokes its whole family), JWT access tokens (RFC 9068 "at+jwt") and ID
 * tokens, introspection (RFC 7662) and revocation (RFC 7009). issuer is
 * the tenant's issuer URL (e.g. https://idp.example/t/acme), chosen by
 * the HTTP layer; tokens carry it and are verified against it.
 *
 * Error reasons follow RFC 6749 section 5.2 where a client sees them:
 * "invalid_client" (401), "invalid_grant", "invalid_request",
 * "invalid_scope", "unauthorized_client", "unsupported_grant_type" (400).
 */
#define IAM_OIDC_ACCESS_TTL_S 600
#define IAM_OIDC_ID_TTL_S 600
#define IAM_OIDC_CODE_TTL_S 60
#define IAM_OIDC_REFRESH_TTL_S (30 * 86400)
#define IAM_OIDC_TOKEN_MAX 2048
#define IAM_OIDC_URIS_MAX 2048

struct iam_oidc_client_spec {
	const char *name;
	const char *redirect_uris; /* space-separated, exact-match, https or
				      http://localhost / 127.0.0.1 */
	const char *grant_types;   /* space-separated: authorization_code
				      refresh_token client_credentials */
	const char *scopes;	   /* space-separated scopes it may ask for */
	bool public_client;	   /* no secret; PKCE S256 mandatory */
};

/* Registers a client. OUT: client_id, secret (empty for public clients;
 * shown once, stored hashed). */
int iam_oidc_client_create(struct iam *iam, const char *tenant,
			   const struct iam_oidc_client_spec *spec,
			   char client_id[IAM_ID_LEN + 1],
			   char secret[IAM_TOKEN_MAX],
			   struct bw_err *err) BW_WUR;
int iam_oidc_client_delete(struct iam *iam, const char *tenant,
			   const char *client_id, struct bw_err *err) BW_WUR;
/* A registered client as listings show it (never the secret). */
struct iam_oidc_client_info {
	char client_id[IAM_ID_LEN + 1];
	char name[IAM_NAME_MAX + 1];
	char redirect_uris[IAM_OIDC_URIS_MAX + 1];
	char grant_types[128];
	char scopes[IAM_SCOPES_MAX + 1];
	bool public_client;
	int64_t created;
};
/* Every client of tenant (client id order); fn returns non-zero to stop. */
int iam_oidc_client_list(struct iam *iam, const char *tenant,
			 int (*fn)(void *arg,
				   const struct iam_oidc_client_info *c),
			 void *arg, struct bw_err *err) BW_WUR;

/*
 * Makes a new signing key (alg ES256, EdDSA or RS256) the active one.
 * Earlier keys stay published (verification overlap) until
 * iam_oidc_keys_prune removes keys retired more than keep_s ago.
 */
int iam_oidc_key_rotate(struct iam *iam, const char *tenant, int alg,
			struct bw_err *err) BW_WUR;
int iam_oidc_keys_prune(struct iam *iam, const char *tenant, int64_t keep_s,
			struct bw_err *err) BW_WUR;
/* Appends the tenant's public JWKS document to out. */
int iam_oidc_jwks(struct iam *iam, const char *tenant, struct bw_buf *out,
		  struct bw_err *err) BW_WUR;
/* Appends the OpenID discovery document for issuer to out. */
int iam_oidc_discovery(const char *issuer, struct bw_buf *out,
		       struct bw_err *err) BW_WUR;

struct iam_oidc_tokens {
	char access_token[IAM_OIDC_TOKEN_MAX];
	char id_token[IAM_OIDC_TOKEN_MAX]; /* empty unless scope has openid */
	char refresh_token[IAM_TOKEN_MAX]; /* empty when not granted */
	char scope[IAM_SCOPES_MAX + 1];
	int64_t expires_in;
};

/*
 * Authorization endpoint, after the user authenticated (user_id) and
 * consented: checks client, exact redirect_uri, scope subset, PKCE
 * (code_challenge of 43 base64url chars, method "S256"); nonce may be
 * NULL. OUT: code (single use, IAM_OIDC_CODE_TTL_S).
 */
int iam_oidc_authorize(struct iam *iam, const char *tenant, const char *user_id,
		       const char *client_id, const char *redirect_uri,
		       const char *scope, const char *code_challenge,
		       const char *method, const char *nonce,
		       char code[IAM_TOKEN_MAX], struct bw_err *err) BW_WUR;
/* How the user authenticated, for the ID token: auth_time (the session's
 * last authentication: sign-in or step-up) and whether it passed a second
 * factor (the ID token then says "amr": ["mfa"], RFC 8176). */
struct iam_oidc_auth {
	int64_t auth_time;
	bool mfa;
};
/* iam_oidc_authorize for a known authentication (auth NULL: now, no
 * second factor — what iam_oidc_authorize records). */
int iam_oidc_authorize_as(struct iam *iam, const char *tenant,
			  const char *user_id, const char *client_id,
			  const char *redirect_uri, const char *scope,
			  const char *code_challenge, const char *method,
			  const char *nonce, const struct iam_oidc_auth *auth,
			  char code[IAM_TOKEN_MAX], struct bw_err *err) BW_WUR;
/* The authentication behind session `handle` of tenant (iam_stepup.c):
 * 0 with *out filled, -1 with err (404 when no such live session). */
int iam_session_auth(struct iam *iam, const char *tenant, const char *handle,
		     struct iam_oidc_auth *out, struct bw_err *err) BW_WUR;
/* Token endpoint, grant authorization_code. client_secret NULL for public
 * clients. The code is consumed whatever the outcome. */
int iam_oidc_token_code(struct iam *iam, const char *tenant, const char *issuer,
			const char *client_id, const char *client_secret,
			const char *code, const char *code_verifier,
			const char *redirect_uri, struct iam_oidc_tokens *t,
			struct bw_err *err) BW_WUR;
/* Token endpoint, grant refresh_token: rotates the refresh token; a token
 * used twice revokes its family (400 invalid_grant, reason "reuse"). */
int iam_oidc_token_refresh(struct iam *iam, const char *tenant,
			   const char *issuer, const char *client_id,
			   const char *client_secret, const char *refresh_token,
			   struct iam_oidc_tokens *t,
			   struct bw_err *err) BW_WUR;
/* Token endpoint, grant client_credentials (confidential clients). */
int iam_oidc_token_client(struct iam *iam, const char *tenant,
			  const char *issuer, const char *client_id,
			  const char *client_secret, const char *scope,
			  struct iam_oidc_tokens *t, struct bw_err *err) BW_WUR;
/* RFC 7662: appends {"active":false} or the active token's claims. */
int iam_oidc_introspect(struct iam *iam, const char *tenant, const char *issuer,
			const char *token, struct bw_buf *out,
			struct bw_err *err) BW_WUR;
/* RFC 7009: revokes a refresh token (its family) or an access token
 * (by jti until it expires). Unknown tokens succeed silently. */
int iam_oidc_revoke(struct iam *iam, const char *tenant, const char *issuer,
		    const char *token, struct bw_err *err) BW_WUR;

/*
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): checks an
 * id_token_hint issued by this tenant (signature and issuer; an expired
 * one is still a good hint), that client_id (may be NULL) is its audience,
 * and that post_logout_uri (may be NULL) is one of the client's registered
 * redirect URIs. OUT: sub (the user id), client. 0, or -1 with 400
 * "invalid_request".
 */
int iam_oidc_logout_check(struct iam *iam, const char *tenant,
			  const char *issuer, const char *id_token_hint,
			  const char *client_id, const char *post_logout_uri,
			  char sub[IAM_ID_LEN + 1], char client[IAM_ID_LEN + 1],
			  struct bw_err *err) BW_WUR;

/* OIDC userinfo for an access token with scope openid: appends
 * {"sub", "name"/"preferred_username" (profile), "email" (email)}. 401
 * "invalid_token", 403 "insufficient_scope". */
int iam_oidc_userinfo(struct iam *iam, const char *tenant, const char *issuer,
		      const char *token, struct bw_buf *out,
		      struct bw_err *err) BW_WUR;

/*
 * The OIDC endpoints over HTTP (iam_oidc_http.c), mounted at
 * BASE/oidc/{tenant}/: .well-known/openid-configuration, jwks, authorize,
 * token, introspect, revoke, userinfo. The issuer of tenant T is
 * "BASE/oidc/T" (base: the public origin, e.g. "https://idp.example").
 * A NULL or empty base follows the origin each request used (scheme by
 * TLS, the Host header when it is a plain host[:port]): right for a
 * single origin and for tests on port 0; set it when several names reach
 * the server, so tokens always carry one issuer.
 */
struct iam_oidc_http;
struct iam_oidc_http *iam_oidc_http_new(struct iam *iam, struct tpool *pool,
					const char *base, struct bw_err *err);
void iam_oidc_http_free(struct iam_oidc_http *h);

/* A request and response independent of the network layer (tests and
 * other front ends use these directly). Strings are borrowed. */
struct iam_http_req {
	int method;	     /* enum http_method */
	struct bw_str path;  /* "/oidc/acme/token" */
	struct bw_str query; /* after '?' */
	struct bw_str body;
	struct bw_str authorization; /* Authorization header value */
	struct bw_str content_type;
	struct bw_str cookie; /* Cookie header: the login pages' session */
	struct bw_str host;   /* Host header: the issuer when no base is set */
	bool tls;	      /* arrived over TLS (https issuer) */
	const char *peer_ip;
};
struct iam_http_resp {
	int status;
	const char *content_type;
	char location[2560]; /* 302 target when set */
	char www_auth[96];   /* WWW-Authenticate when set */
	char set_cookie[160]; /* Set-Cookie when set (logout clears one) */
	struct bw_buf body;  /* the caller inits (ceiling) and frees */
};
/* Handles one request (blocking: store, signing). */
void iam_oidc_http_dispatch(struct iam_oidc_http *h,
			    const struct iam_http_req *rq,
			    struct iam_http_resp *rs);
/* net handler (arg: the struct iam_oidc_http): runs dispatch on the pool
 * and answers from the loop. Mount it for paths under /oidc/. */
struct net_exchange;
void iam_oidc_net_handler(struct net_exchange *x, void *arg);

/* ----------------------------------------------------- WebAuthn / FIDO2 */

/*
 * Security keys (W3C WebAuthn Level 2; iam_webauthn*.c): registration and
 * assertion with ES256, EdDSA and RS256, attestation "none" and "packed"
 * (self or x5c), signature counters (a counter that does not grow is
 * refused and reported with reason "counter"). Credentials are stored per
 * user per tenant: public keys only. All blocking (store).
 */
struct iam_webauthn_rp {
	const char *rp_id;	    /* "id.example"; a registrable suffix of
				       the origins' hosts */
	const char *rp_name;	    /* shown by the browser */
	const char *const *origins; /* exact origins accepted in client data */
	size_t norigins;
	bool require_uv; /* demand user verification (PIN, biometrics) */
	/* Trusted attestation roots (from iam_webauthn_roots_load; borrowed)
	 * or NULL. When set, a registration must carry a "packed" statement
	 * whose x5c chain verifies up to one of them (x5c[1..] as
	 * intermediates, at bw_clock time); "none" and self attestation are
	 * refused with reason "untrusted_attestation". */
	const void *attestation_roots;
};

/* Reads a PEM file of trusted attestation root certificates (e.g. the
 * FIDO Metadata Service roots of the key models you accept; at most
 * IAM_WEBAUTHN_ROOTS_MAX certificates, IAM_WEBAUTHN_ROOTS_BYTES_MAX
 * bytes). Returns a handle for struct iam_webauthn_rp, freed with
 * iam_webauthn_roots_free, or NULL with err (400 "bad_roots" when the
 * file holds no certificate or too many). Boot-time only. */
void *iam_webauthn_roots_load(const char *path, struct bw_err *err);
void iam_webauthn_roots_free(void *roots); /* accepts NULL */

struct iam_webauthn_cred_info {
	char handle[IAM_ID_LEN + 1]; /* hex of SHA-256(credential id)[0..16) */
	char name[IAM_WEBAUTHN_NAME_MAX + 1];
	int alg; /* COSE: -7 ES256, -8 EdDSA, -257 RS256 */
	uint32_t sign_count;
	char fmt[8], att_type[8];
	int64_t created, last_used;
};

/* Starts a registration for a user: a fresh challenge (stored hashed,
 * IAM_WEBAUTHN_CHALLENGE_TTL_S) and, appended to options, the JSON of
 * PublicKeyCredentialCreationOptions with binary members in base64url.
 * 409 "too_many" past IAM_WEBAUTHN_CREDS_PER_USER. */
int iam_webauthn_register_begin(struct iam *iam,
				const struct iam_webauthn_rp *rp,
				const char *tenant, const char *user_id,
				struct bw_buf *options,
				struct bw_err *err) BW_WUR;
/* Finishes it: client data JSON and attestation object in base64url;
 * the challenge must be one issued to this user (used once). OUT: info
 * (may be NULL). 400 with the failed check's reason. */
int iam_webauthn_register_finish(struct iam *iam,
				 const struct iam_webauthn_rp *rp,
				 const char *tenant, const char *user_id,
				 const char *name, const char *client_data_b64,
				 const char *attestation_b64,
				 struct iam_webauthn_cred_info *info,
				 struct bw_err *err) BW_WUR;
/* Starts an assertion for a user (allowCredentials = their keys):
 * appends PublicKeyCredentialRequestOptions JSON. 404 when the user has
 * no security key. */
int iam_webauthn_assert_begin(struct iam *iam, const struct iam_webauthn_rp *rp,
			      const char *tenant, const char *user_id,
			      struct bw_buf *options, struct bw_err *err) BW_WUR;
/* Verifies an assertion (all base64url) for that user, updates the
 * counter. A counter that did not grow: 400 "counter" and an event. */
int iam_webauthn_assert_finish(struct iam *iam,
			       const struct iam_webauthn_rp *rp,
			       const char *tenant, const char *user_id,
			       const char *cred_id_b64,
			       const char *client_data_b64,
			       const char *auth_data_b64, const char *sig_b64,
			       struct bw_err *err) BW_WUR;
int iam_webauthn_list(struct iam *iam, const char *tenant, const char *user_id,
		      int (*fn)(void *arg,
				const struct iam_webauthn_cred_info *c),
		      void *arg, struct bw_err *err) BW_WUR;
int iam_webauthn_delete(struct iam *iam, const char *tenant,
			const char *user_id, const char *handle,
			struct bw_err *err) BW_WUR;

/* ------------------------------------------- one-time codes: e-mail, SMS */

enum iam_otp_channel { IAM_OTP_EMAIL = 1, IAM_OTP_SMS };

/* Where codes go. smtp_url "smtp://host:port" (plain, or STARTTLS when
 * the server offers it and smtp_starttls is set); sms_url an http(s)
 * webhook that receives {"to","message","code"} as JSON. */
struct iam_otp_delivery {
	const char *smtp_url, *smtp_from;
	bool smtp_starttls;
	const char *sms_url, *sms_bearer; /* bearer: optional */
	const char *issuer;		  /* names the service in messages */
};

/*
 * Sends a fresh 6-digit code to the user's e-mail address or phone (user
 * attribute "phone"), stored as SHA-256 keyed by the user, valid
 * IAM_OTP_TTL_S, single use. Rate limited per user and channel (429
 * "rate_limited"; IAM_OTP_* in iam_web_limits.h). 404 "no_address" when
 * the user has none. Blocking (store, network).
 */
int iam_otp_send(struct iam *iam, const struct iam_otp_delivery *d,
		 const char *tenant, const char *user_id,
		 enum iam_otp_channel ch, struct bw_err *err) BW_WUR;
/* Checks a code (constant time); it works once. 400 "bad_code". */
int iam_otp_verify(struct iam *iam, const char *tenant, const char *user_id,
		   enum iam_otp_channel ch, const char *code,
		   struct bw_err *err) BW_WUR;

/* ------------------------------------------------- MFA policy, step-up */

/* Members of these groups must pass MFA at login even when the tenant
 * does not require it (per-role policy). */
int iam_mfa_group_set(struct iam *iam, const char *tenant,
		      const char *group_id, bool required,
		      struct bw_err *err) BW_WUR;
/* Holders of these platform roles (per tenant) must pass MFA at login
 * (iam_stepup.c): role is checked through iam_options.role_held (400
 * "bad_role" for an unknown one, 400 "no_roles" when no hook is set). */
int iam_mfa_role_set(struct iam *iam, const char *tenant, const char *role,
		     bool required, struct bw_err *err) BW_WUR;
/* The roles of tenant that require MFA, in name order; fn returns
 * non-zero to stop. */
int iam_mfa_role_list(struct iam *iam, const char *tenant,
		      int (*fn)(void *arg, const char *role), void *arg,
		      struct bw_err *err) BW_WUR;
/* 1 when the tenant, one of the user's groups or one of the roles they
 * hold requires MFA, 0 not, -1 store error. */
int iam_mfa_required_for(struct iam *iam, const char *tenant,
			 const char *user_id, struct bw_err *err);
/* Records that the session of token passed MFA now (step-up). */
int iam_stepup_mark(struct iam *iam, const char *token, size_t len,
		    struct bw_err *err) BW_WUR;
/* 1 when the session of token passed MFA within max_age_s, 0 not, -1
 * store error. */
int iam_stepup_fresh(struct iam *iam, const char *token, size_t len,
		     int64_t max_age_s, struct bw_err *err);

/*
 * Step-up on the admin API (iam_stepup.c). A session's last strong
 * authentication is the latest of: a sign-in with a second factor, a
 * step-up (iam_stepup_mark, iam_stepup_verify), and — for a user with no
 * second factor, in a tenant that does not demand one — the password
 * sign-in itself. A sensitive route needs it within the tenant's
 * policy.step_up_s.
 */
enum iam_stepup_state {
	IAM_STEPUP_FRESH, /* recent enough */
	IAM_STEPUP_STALE, /* step up first */
	IAM_STEPUP_ENROL, /* no second factor, step_up_require_mfa: enrol */
};
/* The state of session `handle` of tenant. OUT: *window_s (the tenant's
 * step-up window). 0, or -1 with err (404 when no such live session). */
int iam_stepup_state(struct iam *iam, const char *tenant, const char *handle,
		     enum iam_stepup_state *state, int64_t *window_s,
		     struct bw_err *err) BW_WUR;
/* What a step-up presents: a code, a password, or a security-key
 * assertion (base64url members, for a challenge from
 * iam_webauthn_assert_begin, checked against rp). Unused members NULL. */
struct iam_stepup_proof {
	const char *code;
	const char *password;
	size_t password_len;
	const struct iam_webauthn_rp *rp;
	const char *wa_credential_id, *wa_client_data, *wa_authenticator_data,
	    *wa_signature;
};
/*
 * Steps session `handle` (of user_id in tenant) up. A user with a second
 * factor gives code (a TOTP code or a recovery code) or a security-key
 * assertion (password, when given too, must verify as well); a user
 * without one gives password, unless the tenant's step_up_require_mfa
 * refuses them (403 "mfa_enrolment_required"). Throttled like sign-in
 * (429 "throttled"), failures count against the lockout; 401 "bad_code" /
 * "bad_password" / "bad_assertion"; 400 "code_required" /
 * "password_required" / "use_security_key" (a code from a user whose
 * only factor is a security key) / "no_security_key" / "use_account_page"
 * (codes by e-mail or SMS are the factor where MFA is required: the pages
 * send them). Every outcome is an "authentication" event (action
 * "step-up"). Blocking (Argon2id when a password is given). OUT:
 * *window_s (may be NULL).
 */
int iam_stepup_verify(struct iam *iam, const char *tenant, const char *user_id,
		      const char *handle, const struct iam_stepup_proof *proof,
		      const char *source_ip, int64_t *window_s,
		      struct bw_err *err) BW_WUR;

/* ----------------------------------------------------- login HTML pages */

/*
 * Server-rendered login, MFA, consent, password-change and account pages
 * (iam_pages*.c) under /auth/{tenant}/, for the OIDC authorization-code
 * flow and the platform's own sign-in. They work without JavaScript
 * (WebAuthn aside), carry a strict CSP, a CSRF token on every form, and
 * set __Host- cookies (HttpOnly, Secure, SameSite).
 */
struct audit_log;
struct iam_pages_options {
	struct iam *iam;	  /* borrowed */
	struct tpool *pool;	  /* borrowed; NULL: run inline (tests) */
	struct tpool *hash_pool;  /* borrowed; Argon2id posts (sign-in,
				     password change); NULL: pool */
	struct audit_log *audit;  /* borrowed; NULL: no audit records */
	const char *rp_id;	  /* WebAuthn RP id; NULL: the request host */
	const char *const *origins; /* accepted origins; none: the request's */
	size_t norigins;
	struct iam_otp_delivery otp;
	bool require_uv;  /* WebAuthn user verification */
	int64_t stepup_s; /* 0: IAM_STEPUP_DEFAULT_S */
	/* Per-tenant attestation trust roots: PEM files (read at
	 * iam_pages_new), tenant "*" for every tenant without its own. */
	const char *const *att_tenants;
	const char *const *att_files;
	size_t natt;
};
#define IAM_PAGES_ORIGINS_MAX 8
/* Tenants with their own attestation roots file ("*" counts as one). */
#define IAM_PAGES_ATT_ROOTS_MAX 16

/* The `pages` and `otp` mappings of the config's `iam` section
 * (iam_pages_conf.c; the keys are listed there), bound into options that
 * point into the config tree and into this struct. Unknown keys and bad
 * values: -1 with err. Call iam_pages_conf_fini after iam_pages_new (it
 * wipes the SMS token read from its file). */
struct conf_node;
struct iam_pages_conf {
	struct iam_pages_options opt; /* iam, pool, audit left for the caller */
	const char *origins[IAM_PAGES_ORIGINS_MAX];
	const char *att_tenants[IAM_PAGES_ATT_ROOTS_MAX];
	const char *att_files[IAM_PAGES_ATT_ROOTS_MAX];
	char sms_bearer[256];
};
int iam_pages_conf_bind(const struct conf_node *iam_section,
			struct iam_pages_conf *c, struct bw_err *err) BW_WUR;
void iam_pages_conf_fini(struct iam_pages_conf *c);
struct iam_pages;
struct iam_pages *iam_pages_new(const struct iam_pages_options *o,
				struct bw_err *err);
void iam_pages_free(struct iam_pages *p); /* accepts NULL */
/* net handler (arg: the struct iam_pages), mounted at /auth/. */
void iam_pages_net_handler(struct net_exchange *x, void *arg);

/* ------------------------------------------------------------ federation */

/*
 * Federation (iam_fed.c): a tenant delegates login to an upstream OpenID
 * provider, with bulwark as the relying party — discovery, authorization
 * code flow with PKCE S256, state bound to the browser and a nonce, the
 * ID token checked against the upstream's JWKS (asymmetric algorithms
 * only, exact issuer, audience, expiry). On a first login the upstream
 * subject is linked to a local user: one with the same verified e-mail
 * (link_email) or a new one (provision); later logins follow the link.
 * Deleting the user deletes its links; deleting the provider deletes
 * every link through it. Guide: docs/identity.md.
 */
struct iam_fed_provider {
	char tenant[IAM_TENANT_MAX + 1];
	char name[IAM_FED_NAME_MAX + 1];
	char issuer[IAM_FED_URL_MAX + 1];
	char client_id[IAM_FED_CLIENT_ID_MAX + 1];
	char scopes[IAM_SCOPES_MAX + 1];
	char username_claim[IAM_FED_CLAIM_MAX + 1];
	bool has_secret; /* the secret itself is never returned */
	bool link_email; /* link to a local user with the same verified e-mail */
	bool provision;	 /* create a local user on first login */
	bool disabled;
	int64_t created, updated;
};

/* What to create or change; NULL strings and negative flags: not given
 * (create: defaults scopes "openid profile email", username_claim
 * "preferred_username", link_email off, provision on). */
struct iam_fed_provider_spec {
	const char *name; /* create only: [a-z0-9-], 1..IAM_FED_NAME_MAX */
	const char *issuer; /* https URL (http only for loopback hosts) */
	const char *client_id;
	const char *client_secret; /* sealed at rest; "" clears it */
	const char *scopes;	   /* must contain "openid" */
	const char *username_claim;
	int link_email, provision, disabled;
};

/* Registers an upstream provider in tenant. OUT: p (may be NULL). 409
 * when the name is taken, 400 "bad_request" naming the bad field, 413
 * "too_many" past IAM_FED_PROVIDERS_MAX. */
int iam_fed_provider_create(struct iam *iam, const char *tenant,
			    const struct iam_fed_provider_spec *s,
			    struct iam_fed_provider *p,
			    struct bw_err *err) BW_WUR;
/* Changes the given fields of provider `name`. 404 when unknown. */
int iam_fed_provider_update(struct iam *iam, const char *tenant,
			    const char *name,
			    const struct iam_fed_provider_spec *s,
			    struct iam_fed_provider *p,
			    struct bw_err *err) BW_WUR;
int iam_fed_provider_get(struct iam *iam, const char *tenant, const char *name,
			 struct iam_fed_provider *p, struct bw_err *err) BW_WUR;
/* Deletes the provider and every link through it (the linked users stay). */
int iam_fed_provider_delete(struct iam *iam, const char *tenant,
			    const char *name, struct bw_err *err) BW_WUR;
int iam_fed_provider_list(struct iam *iam, const char *tenant,
			  int (*fn)(void *arg, const struct iam_fed_provider *p),
			  void *arg, struct bw_err *err) BW_WUR;

/* The federation runtime: its own loop thread for upstream requests
 * (net_fetch) and a small pool for logins waiting on them. */
struct iam_fed_options {
	struct iam *iam;     /* borrowed */
	const char *base;    /* public origin ("https://id.example"); NULL:
				the origin each request used (Host header) */
	const char *ca_file; /* trust anchors for upstreams; NULL: system */
};
struct iam_fed;
/* Migrates the "iam_fed" schema and starts the thread. NULL with err.
 * net_fetch_global_init must have run. Boot-time only. */
struct iam_fed *iam_fed_new(const struct iam_fed_options *o,
			    struct bw_err *err) BW_WUR;
/* Finishes the logins in flight, stops the thread. Accepts NULL. */
void iam_fed_free(struct iam_fed *f);
/* The iam section's public_url, blocklist_file and federation keys
 * (iam_fed_conf.c);
 * strings point into the config tree. 0 or -1 with a positioned err. */
struct iam_fed_conf {
	const char *public_url; /* NULL: the origin of each request */
	const char *ca_file;	/* NULL: the system trust store */
	const char *blocklist_file; /* NULL: no blocklist */
};
struct conf_node;
int iam_fed_conf_bind(const struct conf_node *iam_section,
		      struct iam_fed_conf *c, struct bw_err *err) BW_WUR;
/* net handler (arg: the struct iam_fed) for paths under /federation/:
 * GET /federation/{tenant}/{provider}/login starts a login (302 to the
 * upstream), GET .../callback finishes it (a session, see IAM.md). */
void iam_fed_net_handler(struct net_exchange *x, void *arg);

/* ------------------------------------------------------------ bootstrap */

#define IAM_BOOTSTRAP_PW_LEN 24

/*
 * For `bulwark init`: creates platform user `name` with a random one-time
 * password (24 base64url characters, 144 bits) that must be changed at
 * the first login. OUT: password (NUL-terminated; show it once, then wipe
 * it), u (may be NULL). 409 "conflict" when the user exists.
 */
int iam_bootstrap_admin(struct iam *iam, const char *name,
			char password[IAM_BOOTSTRAP_PW_LEN + 1],
			struct iam_user *u, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------------ CLI */

/* `bulwark iam ...` (iam_cli.c): argv[0] is "iam". Returns the exit
 * status (0 ok, 1 failure, 2 usage). */
int iam_cli_main(int argc, char **argv);

/* ---------------------------------------------------------------- stats */

struct iam_stats {
	uint64_t logins_ok, logins_failed, logins_throttled;
	uint64_t dummy_verifications; /* unknown-user Argon2id runs */
	uint64_t rehashes;	      /* hashes upgraded at login */
	uint64_t mfa_ok, mfa_failed;
};
void iam_stats_get(struct iam *iam, struct iam_stats *out);

/* ------------------------------------------------------------------ API */

/*
 * Registers the identity REST routes (src/iam/iam_api.c) with the admin
 * API for this iam (kept for the process lifetime). Start-up only.
 */
int iam_api_register(struct iam *iam) BW_WUR;

#endif
