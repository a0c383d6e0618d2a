/* Internals of the iam module shared between its files. */
#ifndef BW_IAM_INT_H
#define BW_IAM_INT_H

#include "iam/iam.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>

/* ------------------------------------------------------------ blocklist */

/*
 * An open-addressing set of 64-bit keyed hashes of lower-cased entries.
 * Zero marks an empty slot (a hash that comes out 0 is stored as 1).
 * Immutable after load, so lookups need no lock.
 */
struct iam_blockset {
	uint64_t *slots;
	size_t mask; /* capacity - 1, capacity a power of two */
	size_t n;
	uint64_t seed;
};
int iam_blockset_load(struct iam_blockset *s, const char *path, size_t max,
		      struct bw_err *err);
void iam_blockset_fini(struct iam_blockset *s);
bool iam_blockset_has(const struct iam_blockset *s, const char *p, size_t n);
/* For tests: insert one entry (grows nothing: capacity must suffice). */
int iam_blockset_init(struct iam_blockset *s, size_t capacity);
void iam_blockset_add(struct iam_blockset *s, const char *p, size_t n);

/* -------------------------------------------------------------- lockout */

/* One counter: failures in the current window, an active lock, and the
 * level of progressive locking (doubling the delay each time). */
struct iam_lock_entry {
	uint64_t key_hash;  /* keyed 64-bit hash of the key; 0: free */
	uint64_t acct_hash; /* pair entries: their account's key hash */
	uint32_t failures;
	uint32_t level;
	int64_t window_start;
	int64_t locked_until;
	int64_t last_seen;
};

struct iam_lock_table {
	struct iam_lock_entry *e;
	size_t size; /* power of two */
};

/*
 * Three tables behind one mutex: per account (tenant + lower-cased name,
 * whether or not the user exists, so locks never reveal existence), per
 * account+IP pair, per IP.
 */
struct iam_lockout {
	pthread_mutex_t mu;
	uint64_t seed;
	struct iam_lock_table account, pair, ip;
};

int iam_lockout_init(struct iam_lockout *lo, size_t size);
void iam_lockout_fini(struct iam_lockout *lo);
/* 0 when an attempt may proceed, else the seconds to wait. known: the
 * source has logged in to this account recently (skips the account lock). */
int64_t iam_lockout_check(struct iam_lockout *lo, const struct iam_policy *p,
			  const char *tenant, const char *name, const char *ip,
			  bool known, int64_t now);
void iam_lockout_failure(struct iam_lockout *lo, const struct iam_policy *p,
			 const char *tenant, const char *name, const char *ip,
			 int64_t now);
void iam_lockout_success(struct iam_lockout *lo, const char *tenant,
			 const char *name, const char *ip);
void iam_lockout_clear_account(struct iam_lockout *lo, const char *tenant,
			       const char *name);

/* ---------------------------------------------------------------- core */

struct iam {
	struct store *store;
	struct tpool *pool;
	struct iam_sealer sealer;
	struct iam_argon2 argon2;
	struct iam_blockset blocklist;
	struct iam_lockout lockout;
	char dummy_hash[IAM_PHC_MAX];
	void (*password_set)(void *arg, const char *tenant, const char *user_id);
	void *password_set_arg;
	void (*membership_changed)(void *arg, const char *tenant, const char *group_id,
				   const char *user_id, bool added);
	void (*tenant_deleted)(void *arg, const char *tenant);
	int (*role_held)(void *arg, const char *tenant, const char *user_id,
			 const char *role, struct bw_err *err);
	void *hooks_arg;
	_Atomic uint64_t logins_ok, logins_failed, logins_throttled;
	_Atomic uint64_t dummy_verifications, rehashes, mfa_ok, mfa_failed;
	_Atomic int mfa_schema; /* 1 once iam_mfa_ready migrated */
	/* The login pages of this iam, set at start-up by iam_pages_new (for
	 * the WebAuthn relying party of REST step-up); NULL without pages. */
	struct iam_pages *pages;
};

/* Argon2id PHC hashing (iam_password.c). */
int iam_hash_password(const struct iam *iam, const char *pw, size_t n,
		      char out[IAM_PHC_MAX], struct bw_err *err);
/* 1 match, 0 mismatch, -1 error (malformed PHC string). */
int iam_verify_password(const char *phc, const char *pw, size_t n);
/* True when phc was made with other parameters than iam's current ones. */
bool iam_needs_rehash(const struct iam *iam, const char *phc);

/* Helpers (iam_store.c). */
void iam_new_id(char out[IAM_ID_LEN + 1]);
bool iam_valid_tenant_name(const char *s);
bool iam_valid_name(const char *s);
/* Copies row text col into out (cap bytes incl. NUL); -1 with err
 * "corrupt" when it does not fit. */
int iam_row_text(const struct store_row *row, int col, char *out, size_t cap,
		 struct bw_err *err);
/* Lower-cases ASCII letters of s into out (same length, NUL-terminated). */
void iam_name_key(const char *s, char *out, size_t cap);
/* Display names, e-mails, descriptions: NULL, or at most IAM_TEXT_MAX
 * bytes without control characters (iam_user.c). */
bool iam_text_ok(const char *s);
int iam_policy_to_json(const struct iam_policy *p, struct bw_buf *out);
int iam_policy_from_json(const char *s, size_t n, struct iam_policy *p,
			 struct bw_err *err);
/* The tenant must exist and be enabled: 0, or -1 with 404 / 403. t may be
 * NULL. */
int iam_tenant_require(struct iam *iam, const char *tenant,
		       struct iam_tenant *t, struct bw_err *err);

/* Password storage (iam_password.c): set hash + history in one job. */
int iam_password_store(struct iam *iam, const char *tenant, const char *user_id,
		       const char *phc, bool must_change, uint32_t history,
		       struct bw_err *err);

/* 1 when pw is one of the user's last `history` passwords, 0 not, -1
 * store error. */
int iam_password_in_history(struct iam *iam, const char *tenant,
			    const char *user_id, uint32_t history,
			    const char *pw, size_t n, struct bw_err *err);

/* Sessions (iam_session.c). OUT: token. */
int iam_session_create(struct iam *iam, const char *tenant, const char *user_id,
		       const char *ip, bool mfa, const struct iam_policy *p,
		       char token[IAM_TOKEN_MAX], struct bw_err *err);
/* An opaque random token "prefix" + 43 base64url chars, and its hash. */
void iam_token_new(const char *prefix, char token[IAM_TOKEN_MAX],
		   uint8_t hash[32]);
/* Login challenges (iam_login.c). */
int iam_challenge_create(struct iam *iam, const char *tenant,
			 const char *user_id, const char *purpose,
			 char token[IAM_TOKEN_MAX], struct bw_err *err);

/* Forms (iam_form.c): application/x-www-form-urlencoded, strict. */
#define IAM_FORM_BODY_MAX 8192 /* OAuth requests are a few hundred bytes */
#define IAM_FORM_FIELDS_MAX 16 /* the token endpoint takes at most 8 */
#define IAM_FORM_NAME_MAX 64
struct iam_form {
	size_t n;
	char *names[IAM_FORM_FIELDS_MAX];
	char *values[IAM_FORM_FIELDS_MAX];
	char buf[IAM_FORM_BODY_MAX + 2 * IAM_FORM_FIELDS_MAX + 2];
};
/* 0, or -1 with 400 "invalid_request" / 413 "too_large". */
int iam_form_parse(struct iam_form *f, const char *p, size_t n,
		   struct bw_err *err);
const char *iam_form_get(const struct iam_form *f, const char *name);
/* "Basic base64(id:secret)" with both parts form-decoded: 0 or -1. */
int iam_basic_parse(const char *v, size_t n, char *id, size_t idcap,
		    char *secret, size_t seccap);

/* Appends "?key=value" (or "&key=value") to the URL in loc, the value
 * percent-encoded (RFC 3986 unreserved characters stay). 0, or -1 when
 * cap bytes do not suffice. */
int iam_url_add_param(char *loc, size_t cap, const char *key,
		      const char *value);

/* Authenticates a confidential OIDC client (introspection, revocation):
 * 0, or -1 with 401 "invalid_client". */
int iam_oidc_client_check(struct iam *iam, const char *tenant,
			  const char *client_id, const char *secret,
			  struct bw_err *err);

/* The public origin for a request (iam_oidc_http.c): base when set,
 * else scheme (by tls) and the Host header when it is a plain
 * host[:port]. Into out; -1 for a Host we will not build URLs from. */
int iam_http_origin(const char *base, struct bw_str host, bool tls, char *out,
		    size_t cap);

/* Events. */
void iam_emit_login(const char *tenant, const char *user, const char *ip,
		    bool ok, const char *action, const char *reason);

/* Sealing helpers (iam_seal.c): aad "tenant/user/purpose". */
int iam_seal(struct iam *iam, const char *tenant, const char *user_id,
	     const char *purpose, const uint8_t *pt, size_t n,
	     struct bw_buf *out, struct bw_err *err);
int iam_unseal(struct iam *iam, const char *tenant, const char *user_id,
	       const char *purpose, const uint8_t *ct, size_t n,
	       struct bw_buf *out, struct bw_err *err);

/* ------------------------------------------- browser half: MFA and pages */

#include <sys/types.h> /* ssize_t */

/* The schema of the MFA extras (WebAuthn credentials and challenges,
 * one-time codes, consents, step-up, MFA groups; iam_pages_state.c),
 * migrated on first use as store module "iam_mfa". 0 or -1 with err. */
int iam_mfa_ready(struct iam *iam, struct bw_err *err);

/* 1 when user_id holds one of the tenant's "MFA required" roles, 0 not,
 * -1 with err (iam_stepup.c). */
int iam_mfa_role_held(struct iam *iam, const char *tenant,
		      const char *user_id, struct bw_err *err);

/* Consents (iam_pages_state.c): 1 when the user granted client at least
 * scope before, 0 not, -1 error. */
int iam_consent_has(struct iam *iam, const char *tenant, const char *user_id,
		    const char *client_id, const char *scope,
		    struct bw_err *err);
int iam_consent_scope(struct iam *iam, const char *tenant, const char *user_id,
		      const char *client_id, char *out, size_t cap,
		      struct bw_err *err);
int iam_consent_grant(struct iam *iam, const char *tenant, const char *user_id,
		      const char *client_id, const char *scope,
		      struct bw_err *err);
/* An OIDC client's name (into name, cap bytes) and whether redirect_uri
 * is one it registered (exact match): 1 registered, 0 not (or no such
 * client: name stays empty), -1 store error. For error answers that go
 * back to the client without a code (consent denied, prompt=none). */
int iam_oidc_client_redirect(struct iam *iam, const char *tenant,
			     const char *client_id, const char *redirect_uri,
			     char *name, size_t cap, struct bw_err *err);
/* True when every space-separated word of want is in have. */
bool iam_scope_subset(const char *want, const char *have);
/* The user's phone number for SMS codes: attribute "phone" in E.164
 * ("+" and 8..15 digits). 0 (copied to out when out is not NULL) or -1. */
int iam_user_phone(const struct iam_user *u, char *out, size_t cap);
/* Second factors a user has. */
struct iam_mfa_methods {
	bool totp, webauthn;
	bool email, phone; /* an address on file for one-time codes */
	bool recovery;	   /* unused recovery codes left */
};
int iam_mfa_methods(struct iam *iam, const char *tenant, const char *user_id,
		    struct iam_mfa_methods *m, struct bw_err *err);

/* CBOR (iam_cbor.c): a flat pre-order decode; node[i].end is the index
 * just past node i's subtree. */
enum iam_cbor_type {
	IAM_CBOR_UINT,
	IAM_CBOR_NINT, /* value -1 - val */
	IAM_CBOR_BYTES,
	IAM_CBOR_TEXT,
	IAM_CBOR_ARRAY, /* val: items */
	IAM_CBOR_MAP,	/* val: pairs; children alternate key, value */
	IAM_CBOR_TAG,	/* val: tag; one child */
	IAM_CBOR_SIMPLE,
	IAM_CBOR_FLOAT,
};
struct iam_cbor_node {
	enum iam_cbor_type type;
	uint64_t val;	     /* integer, length, count, tag or simple value */
	const uint8_t *data; /* BYTES / TEXT payload */
	const uint8_t *raw;  /* the whole encoded item */
	size_t raw_len;
	size_t end;
};
/* Decodes one item from (p, len) into nodes[0..cap). consumed NULL: the
 * item must fill the input; else *consumed says how much it used. 0, or
 * -1 with 400 "bad_cbor" (413 when cap nodes do not suffice). */
int iam_cbor_parse(const uint8_t *p, size_t len, struct iam_cbor_node *nodes,
		   size_t cap, size_t *count, size_t *consumed,
		   struct bw_err *err);
/* Index of the value under an integer / text key of map node `map`, or
 * -1. */
ssize_t iam_cbor_map_find_int(const struct iam_cbor_node *nodes, size_t map,
			      int64_t key);
ssize_t iam_cbor_map_find_text(const struct iam_cbor_node *nodes, size_t map,
			       const char *key);
/* A UINT / NINT node as int64: 0, or -1 (other type or out of range). */
int iam_cbor_int(const struct iam_cbor_node *n, int64_t *out);

/* WebAuthn verification (iam_webauthn.c). */
#define IAM_COSE_ES256 (-7)
#define IAM_COSE_EDDSA (-8)
#define IAM_COSE_RS256 (-257)
#define IAM_WA_FLAG_UP 0x01
#define IAM_WA_FLAG_UV 0x04
#define IAM_WA_FLAG_AT 0x40
#define IAM_WA_FLAG_ED 0x80
struct iam_authdata {
	const uint8_t *rp_id_hash; /* 32 bytes */
	uint8_t flags;
	uint32_t sign_count;
	uint8_t aaguid[16];
	const uint8_t *cred_id, *cose_key; /* AT only */
	size_t cred_id_len, cose_key_len;
};
int iam_authdata_parse(const uint8_t *p, size_t n, struct iam_authdata *ad,
		       struct bw_err *err);
/* COSE_Key -> EVP_PKEY (OUT *pkey, caller frees) and its COSE alg. */
int iam_cose_key_parse(const uint8_t *p, size_t n, int *alg, void **pkey,
		       struct bw_err *err);
/* 0 when sig is alg's signature of msg under pkey, else -1. */
int iam_webauthn_sig_verify(void *pkey, int alg, const uint8_t *msg,
			    size_t n, const uint8_t *sig, size_t siglen);
/* Checks type, origin and crossOrigin; OUT: the decoded challenge. */
int iam_webauthn_client_data_check(const struct iam_webauthn_rp *rp,
				   const uint8_t *cdj, size_t n,
				   const char *type, uint8_t *challenge,
				   size_t *challenge_len, struct bw_err *err);
struct iam_webauthn_reg {
	uint8_t challenge[IAM_WEBAUTHN_CHALLENGE_LEN];
	size_t challenge_len;
	uint8_t cred_id[IAM_WEBAUTHN_CRED_ID_MAX];
	size_t cred_id_len;
	uint8_t cose_key[IAM_WEBAUTHN_COSE_MAX];
	size_t cose_key_len;
	uint8_t aaguid[16];
	int alg;
	uint32_t sign_count;
	bool uv;
	char fmt[8];	  /* "none" / "packed" */
	char att_type[8]; /* "none" / "self" / "basic" */
};
struct iam_webauthn_assert {
	uint8_t challenge[IAM_WEBAUTHN_CHALLENGE_LEN];
	size_t challenge_len;
	uint32_t sign_count;
	bool uv;
};
/* The two ceremonies' checks (the caller matches the challenge it got
 * back against the one it issued, and stores the result). The assertion
 * fails with reason "counter" when the counter did not grow. */
int iam_webauthn_verify_registration(const struct iam_webauthn_rp *rp,
				     const uint8_t *cdj, size_t cdn,
				     const uint8_t *att, size_t an,
				     struct iam_webauthn_reg *out,
				     struct bw_err *err);
int iam_webauthn_verify_assertion(const struct iam_webauthn_rp *rp,
				  const uint8_t *cdj, size_t cdn,
				  const uint8_t *adp, size_t adn,
				  const uint8_t *sig, size_t sn,
				  const uint8_t *cose, size_t coselen,
				  uint32_t stored_count,
				  struct iam_webauthn_assert *out,
				  struct bw_err *err);

/* The WebAuthn relying party of a tenant as the login pages see it for a
 * request that reached host (the Host header) over TLS or not: the
 * configured RP id and origins, else the request's own (iam_pages.c). */
struct iam_rp_buf {
	struct iam_webauthn_rp rp;
	char rp_id[256];
	char origin[300];
	const char *origins[IAM_PAGES_ORIGINS_MAX];
};
/* 0 with out filled, or -1 when this process runs no login pages (the
 * pages register themselves with their iam at iam_pages_new). */
int iam_pages_rp(const struct iam *iam, const char *tenant, struct bw_str host,
		 bool tls, struct iam_rp_buf *out);

/* The MFA step with any verifier (iam_login.c): finds the "mfa"
 * challenge, checks throttles, calls verify(arg, tenant, user_id, err)
 * (0 ok, -1 with err: 4xx counts as a wrong code, 5xx is an error), then
 * issues the session like iam_login_mfa. action names the event. */
typedef int (*iam_mfa_verify_fn)(void *arg, struct iam *iam,
				 const char *tenant, const char *user_id,
				 struct bw_err *err);
void iam_login_mfa_with(struct iam *iam, const char *tenant,
			const char *challenge, const char *source_ip,
			const char *action, iam_mfa_verify_fn verify,
			void *arg, struct iam_login_result *out);
/* A TOTP code or, by its shape, a recovery code of the user (iam_login.c):
 * 0, or -1 with err (400 "bad_code" / "replayed", 404 not enrolled). */
int iam_mfa_code_verify(struct iam *iam, const char *tenant,
			const char *user_id, const char *code,
			struct bw_err *err);
/* The user's current password verifies (Argon2id): 1 yes, 0 no (or no
 * password), -1 store error (iam_password.c). */
int iam_password_verify_current(struct iam *iam, const char *tenant,
				const char *user_id, const char *pw, size_t n,
				struct bw_err *err);
/* The user of a live "mfa" challenge (no attempt is counted): 1 found,
 * 0 not, -1 store error. */
int iam_login_challenge_user(struct iam *iam, const char *tenant,
			     const char *challenge,
			     char user_id[IAM_ID_LEN + 1], struct bw_err *err);

#endif
