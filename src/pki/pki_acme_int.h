/*
 * pki_acme_int.h — what the ACME server's files share (pki_acme*.c) and
 * nothing else includes: the server object, the request/response shapes
 * the protocol core works on, the JWS envelope, nonces, the store rows
 * and the validator.
 *
 * Errors inside the ACME code are struct bw_err with code = the HTTP
 * status to answer and reason = the ACME error type without its URN
 * prefix ("badNonce", "malformed", ...); acme_fail() fills one.
 *
 * Locking: a->tmu (rwlock) guards the tenant table; the nonce table has
 * its own mutex; everything else is in the store, whose write jobs
 * serialise state transitions (each transition is a conditional UPDATE
 * checked by its change count, so two racing requests cannot both move
 * an order or a challenge).
 */
#ifndef BW_PKI_ACME_INT_H
#define BW_PKI_ACME_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "crypto/crypto.h"
#include "http/http.h"
#include "json/json.h"
#include "pki/pki_acme_limits.h"
#include "pki/pki_int.h"

struct loop;
struct net_fetch;

int acme_fail(struct bw_err *err, int status, const char *type,
	      const char *fmt, ...) BW_PRINTF(4, 5);
extern const struct json_limits acme_json_limits;
/* [A-Za-z0-9_-]{n}: resource ids and EAB kids. */
bool acme_id_ok(const char *p, size_t n);
/* A fresh random id (PKI_ACME_ID_LEN base64url characters + NUL). */
void acme_id_new(char out[PKI_ACME_ID_LEN + 1]);

/* ------------------------------------------------------------- JWS */

struct acme_jws {
	enum jose_alg alg;
	const struct json_value *header; /* the protected header */
	struct bw_str nonce;    /* empty when absent */
	bool has_nonce;
	struct bw_str url;
	struct bw_str kid;      /* empty when jwk is given */
	const struct json_value *jwk_json; /* NULL when kid is given */
	struct jose_jwk *jwk;   /* parsed from jwk_json; owned */
	const char *signing_input;
	size_t signing_input_len;
	uint8_t *sig;
	size_t sig_len;
	uint8_t *payload;       /* decoded, NUL-terminated; read only after
				   acme_jws_verify */
	size_t payload_len;
	bool post_as_get;       /* the payload is the empty string */
};

/*
 * Parses a flattened-JSON JWS request body (at most PKI_ACME_BODY_MAX)
 * into arena memory and checks the protected header's shape: alg on the
 * allow-list, url present, exactly one of jwk/kid, no crit/jku/x5u/x5c,
 * a public, acceptable jwk. Does not verify the signature. Returns 0 or
 * -1 with err (ACME error types); release with acme_jws_fini either way.
 */
int acme_jws_parse(struct bw_arena *a, const char *body, size_t len,
		   struct acme_jws *out, struct bw_err *err);
int acme_jws_from_json(struct bw_arena *a, const struct json_value *obj,
		       struct acme_jws *out, struct bw_err *err);
void acme_jws_fini(struct acme_jws *j);
/* Verifies j's signature with key (which must fit j->alg). 0 or -1. */
int acme_jws_verify(const struct acme_jws *j, const struct jose_jwk *key,
		    struct bw_err *err);
int acme_jwk_thumbprint(const struct jose_jwk *k,
			char out[PKI_ACME_THUMB_LEN + 1], struct bw_err *err);

/* An external account binding, parsed (not yet verified). */
struct acme_eab {
	char kid[PKI_ACME_EAB_KID_LEN + 1];
	struct bw_str url;
	const char *compact;    /* protected.payload.signature */
	size_t compact_len;
};
int acme_eab_parse(struct bw_arena *a, const struct json_value *eab,
		   struct acme_eab *out, struct bw_err *err);
/* HS256 over the binding with key, its url equal to url, its payload the
 * account key. 0 or -1 with err ("unauthorized", "malformed"). */
int acme_eab_verify(struct bw_arena *a, const struct acme_eab *eab,
		    const uint8_t *key, size_t keylen,
		    const struct jose_jwk *account_key, struct bw_str url,
		    struct bw_err *err);

/* ------------------------------------------------------------- nonces */

struct acme_nonces;
struct acme_nonces *acme_nonces_new(size_t n, int64_t ttl_s);
void acme_nonces_free(struct acme_nonces *s);
void acme_nonce_new(struct acme_nonces *s, char out[PKI_ACME_NONCE_B64 + 1]);
/* True once per issued nonce (then it is gone). */
bool acme_nonce_consume(struct acme_nonces *s, const char *p, size_t len);
void acme_nonces_stats(struct acme_nonces *s, uint64_t *issued,
		       uint64_t *accepted, uint64_t *refused);

/* ------------------------------------------------------------- the server */

struct acme_tenant_row {
	char tenant[PKI_TENANT_MAX + 1];
	struct pki_acme_tenant cfg;
};

struct pki_acme {
	struct pki *pki;
	struct store *st;
	struct tpool *pool;
	struct audit_log *audit;
	char base_url[PKI_ACME_BASE_URL_MAX + 1]; /* "" when derived */
	char tos[PKI_ACME_URL_MAX + 1];
	uint16_t http01_port, tlsalpn01_port;
	char vaddr[64];          /* validation_addr or "" */
	char dns_addr[64];       /* "" = system resolver */
	uint16_t dns_port;
	uint8_t seal_key[32];
	bool have_seal;
	int64_t order_ttl_s;

	struct acme_nonces *nonces;

	pthread_rwlock_t tmu;
	struct acme_tenant_row *tenants;
	size_t ntenants;

	/* validator */
	struct loop *vloop;
	pthread_t vthread;
	bool vthread_started;
	struct net_fetch *fetch; /* used on vloop only */
	struct tpool *vpool;
	atomic_size_t inflight;
	size_t inflight_max;

	atomic_uint_fast64_t requests, refused, accounts_created,
		orders_created, certificates_issued, revocations,
		validations_started, validations_ok, validations_failed,
		validations_refused;
};

/* The tenant's configuration (copy) or -1 (not configured / disabled). */
int acme_tenant_lookup(struct pki_acme *a, const char *tenant,
		       struct pki_acme_tenant *out);

/* ------------------------------------------------------------- requests */

/* What the protocol core needs from an HTTP request (all borrowed). */
struct acme_http_req {
	enum http_method method;
	struct bw_str path;
	bool has_query;
	struct bw_str content_type;
	struct bw_str body;
	struct bw_str host;      /* for a derived base URL */
	bool tls;
	const char *peer_ip;     /* may be NULL */
	const char *request_id;  /* may be NULL */
};

#define ACME_LINKS_MAX 4

/* The answer the core builds; the handler sends it. */
struct acme_resp {
	int status;
	const char *ctype;       /* static string */
	struct bw_buf body;
	char location[PKI_ACME_URL_MAX + 1];
	char links[ACME_LINKS_MAX][PKI_ACME_URL_MAX + 32];
	size_t nlinks;
	char nonce[PKI_ACME_NONCE_B64 + 1];
	int retry_after;         /* seconds; 0: no header */
	bool no_nonce;           /* directory: no Replay-Nonce needed */
};

void acme_resp_init(struct acme_resp *rs);
void acme_resp_fini(struct acme_resp *rs);
/*
 * Serves one request completely (blocking: JWS verification, store
 * reads and writes, issuance, audit). Runs on a pool thread in the
 * daemon, inline in tests. Never fails: errors become problem documents
 * in rs.
 */
void acme_serve(struct pki_acme *a, const struct acme_http_req *rq,
		struct acme_resp *rs);

/* ------------------------------------------------------------- store */

extern const char *const acme_schema[];
extern const size_t acme_schema_steps;

enum acme_status {
	ACME_ST_PENDING = 0,
	ACME_ST_READY,
	ACME_ST_PROCESSING,
	ACME_ST_VALID,
	ACME_ST_INVALID,
	ACME_ST_DEACTIVATED,
	ACME_ST_EXPIRED,
	ACME_ST_REVOKED,
	ACME_ST_MAX_,
};
const char *acme_status_name(enum acme_status s);
enum acme_status acme_status_from(struct bw_str s);

enum acme_chall_type {
	ACME_CH_HTTP01 = 0,
	ACME_CH_DNS01,
	ACME_CH_TLSALPN01,
	ACME_CH_MAX_,
};
const char *acme_chall_name(enum acme_chall_type t);
int acme_chall_from(struct bw_str s); /* -1 unknown */

struct acme_account {
	char id[PKI_ACME_ID_LEN + 1];
	char tenant[PKI_TENANT_MAX + 1];
	char thumb[PKI_ACME_THUMB_LEN + 1];
	char *jwk;               /* public JWK JSON; malloc'd */
	enum acme_status status;
	char contact[PKI_ACME_CONTACTS_JSON_MAX + 1]; /* JSON array */
	bool tos;
	char eab_kid[PKI_ACME_EAB_KID_LEN + 1];
	int64_t created;
};
void acme_account_fini(struct acme_account *ac);

struct acme_chall {
	char id[PKI_ACME_ID_LEN + 1];
	enum acme_chall_type type;
	char token[PKI_ACME_TOKEN_LEN + 1];
	enum acme_status status;
	int64_t validated;
	char err_type[48];
	char err_detail[256];
};

struct acme_authz {
	char id[PKI_ACME_ID_LEN + 1];
	char tenant[PKI_TENANT_MAX + 1];
	char order_id[PKI_ACME_ID_LEN + 1];
	char account_id[PKI_ACME_ID_LEN + 1];
	int pos;
	bool ip;                 /* identifier type "ip", else "dns" */
	char value[PKI_DNS_NAME_MAX + 1]; /* without "*." */
	bool wildcard;
	enum acme_status status;
	int64_t expires;
	struct acme_chall ch[ACME_CH_MAX_];
	size_t nch;
};

struct acme_order {
	char id[PKI_ACME_ID_LEN + 1];
	char tenant[PKI_TENANT_MAX + 1];
	char account_id[PKI_ACME_ID_LEN + 1];
	enum acme_status status;
	int64_t expires, created;
	char err_type[48];
	char err_detail[256];
	char cert_serial[41];
	/* its authorizations, in identifier order */
	struct acme_authz *authz; /* malloc'd array */
	size_t nauthz;
};
void acme_order_fini(struct acme_order *o);

/* Effective status: pending/ready past expiry reads invalid; a pending
 * authorization past expiry reads expired. */
enum acme_status acme_order_status(const struct acme_order *o, int64_t now);
enum acme_status acme_authz_status(const struct acme_authz *z, int64_t now);

/* Store calls: 1 found / 0 not found / -1 error where "get"; 0/-1 else.
 * Errors are already ACME-typed (serverInternal). */
int acme_db_tenants_load(struct pki_acme *a, struct bw_err *err);
int acme_db_tenant_put(struct pki_acme *a, const char *tenant,
		       const struct pki_acme_tenant *cfg, struct bw_err *err);
int acme_db_account_by_thumb(struct pki_acme *a, const char *tenant,
			     const char *thumb, struct acme_account *out,
			     struct bw_err *err);
int acme_db_account_get(struct pki_acme *a, const char *tenant, const char *id,
			struct acme_account *out, struct bw_err *err);
/* Inserts ac; with eab_kid set, consumes that EAB key in the same
 * transaction (fails 400 unauthorized when it is unknown or used).
 * 409 "conflict" when the key is already an account. */
int acme_db_account_insert(struct pki_acme *a, const struct acme_account *ac,
			   struct bw_err *err);
int acme_db_account_update(struct pki_acme *a, const struct acme_account *ac,
			   struct bw_err *err);
/* Key change: replaces the key when no other account of the tenant has
 * new_thumb (else 409 with *other set). */
int acme_db_account_rekey(struct pki_acme *a, const struct acme_account *ac,
			  const char *new_thumb, const char *new_jwk,
			  char other[PKI_ACME_ID_LEN + 1], struct bw_err *err);
/* The EAB key for kid of tenant, unsealed, when unused: 1 found. */
int acme_db_eab_key(struct pki_acme *a, const char *tenant, const char *kid,
		    uint8_t key[PKI_ACME_EAB_KEY_LEN], struct bw_err *err);
int acme_db_orders_pending(struct pki_acme *a, const char *account_id,
			   int64_t now, int64_t *n, struct bw_err *err);
int acme_db_order_insert(struct pki_acme *a, const struct acme_order *o,
			 struct bw_err *err);
int acme_db_order_get(struct pki_acme *a, const char *tenant, const char *id,
		      struct acme_order *out, struct bw_err *err);
/* Moves the order from `from` to `to` (with an optional error and serial);
 * 0 when it moved, 409 "orderNotReady"-typed failure when it was not in
 * `from`. */
int acme_db_order_move(struct pki_acme *a, const char *id, enum acme_status from,
		       enum acme_status to, const char *err_type,
		       const char *err_detail, const char *serial,
		       struct bw_err *err);
int acme_db_order_list(struct pki_acme *a, const char *account_id,
		       void (*fn)(void *arg, const char *order_id), void *arg,
		       struct bw_err *err);
/* The order holding serial, if any (for revocation by account). */
int acme_db_order_by_serial(struct pki_acme *a, const char *tenant,
			    const char *serial, char account_id[PKI_ACME_ID_LEN + 1],
			    struct bw_err *err);
int acme_db_authz_get(struct pki_acme *a, const char *tenant, const char *id,
		      struct acme_authz *out, struct bw_err *err);
/* Challenge chall_id of authz: pending -> processing when the
 * authorization is pending (1 moved, 0 not pending). */
int acme_db_chall_start(struct pki_acme *a, const char *authz_id,
			const char *chall_id, struct bw_err *err);
/* Records a validation outcome: challenge and authorization valid or
 * invalid, then the order ready (all valid) or invalid (one invalid). */
int acme_db_chall_finish(struct pki_acme *a, const char *authz_id,
			 const char *chall_id, bool ok, const char *err_type,
			 const char *err_detail, struct bw_err *err);
int acme_db_authz_deactivate(struct pki_acme *a, const char *authz_id,
			     struct bw_err *err);
/* Calls fn for every challenge still "processing" (restart). */
int acme_db_processing(struct pki_acme *a,
		       void (*fn)(void *arg, const struct acme_authz *z,
				  const struct acme_chall *c, const char *thumb),
		       void *arg, struct bw_err *err);

/* ------------------------------------------------------------- validation */

struct acme_validation {
	struct pki_acme *a;
	char tenant[PKI_TENANT_MAX + 1];
	char authz_id[PKI_ACME_ID_LEN + 1];
	char chall_id[PKI_ACME_ID_LEN + 1];
	enum acme_chall_type type;
	bool ip;
	char ident[PKI_DNS_NAME_MAX + 1];
	char keyauth[PKI_ACME_KEYAUTH_LEN + 1];
	/* outcome */
	bool ok;
	struct bw_err err;
};

int acme_validator_start(struct pki_acme *a, struct bw_err *err);
void acme_validator_stop(struct pki_acme *a);
/*
 * Queues a validation (copied). Thread-safe. 0, or -1 with a rateLimited
 * err when PKI_ACME_VALIDATIONS in flight are reached. The outcome is
 * recorded with acme_db_chall_finish, audited and emitted.
 */
int acme_validate(struct pki_acme *a, const struct acme_validation *v,
		  struct bw_err *err);
/* The checks themselves, blocking (exposed for tests). */
void acme_check_dns01(struct acme_validation *v);
void acme_check_tlsalpn01(struct acme_validation *v);
/* http-01's body comparison (trailing whitespace ignored). */
bool acme_http01_body_ok(const char *keyauth, const char *body, size_t len);
/* Records an outcome (blocking). */
void acme_validation_record(struct acme_validation *v);

/* ------------------------------------------------------------- audit */

/* One audit record (when a log is configured) for an ACME state change;
 * details a JSON object text or NULL. 0, or -1 when the log refused. */
int acme_audit(struct pki_acme *a, const char *tenant, const char *account_id,
	       const char *ip, const char *request_id, const char *action,
	       const char *target, bool ok, const char *details);

#endif
