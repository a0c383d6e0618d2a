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
	_Atomic uint64_t logins_ok, logins_failed, logins_throttled;
	_Atomic uint64_t dummy_verifications, rehashes, mfa_ok, mfa_failed;
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

/* Authenticates a confidential OIDC client (introspection, revocation):
 * 0, or -1 with 401 "invalid_client". */
int iam_oidc_client_check(struct iam *iam, const char *tenant,
			  const char *client_id, const char *secret,
			  struct bw_err *err);

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

#endif
