/*
 * pki — bulwark's certificate authority: per-tenant CA hierarchies (roots,
 * intermediates, the offline-root flow), issuance from CSRs or for fresh
 * keys through profiles and per-tenant policy, an inventory in the store,
 * revocation, CRLs and an OCSP responder whose answers are pre-signed and
 * served from memory. The HTTP surfaces (admin REST routes and the public
 * CRL/OCSP/CA-issuer handler) are in this header too, and so is the ACME
 * server (RFC 8555).
 *
 * Private keys. Every private-key operation goes through struct
 * pki_signer: the CA module hands it the bytes to be signed and receives
 * a signature, never the key. Keys are created and opened through struct
 * pki_keystore, which the kms implements so CA keys live only inside the
 * keystore process. pki_keystore_dev_new() is an IN-PROCESS stand-in that
 * keeps keys in the store unencrypted: for tests and development only,
 * until the kms lands.
 *
 * Encoding. All ASN.1 (certificates, CRLs, CSRs, OCSP) is produced and
 * parsed by OpenSSL 3. Because a pki_signer has no private key object,
 * structures are first encoded by OpenSSL with a process-local "shadow"
 * key of the same algorithm (which fills in the AlgorithmIdentifiers), the
 * to-be-signed bytes are then signed by the real signer, and the result is
 * assembled with an OpenSSL ASN.1 template, parsed back and verified
 * against the real public key before anyone sees it (pki_sign.c).
 *
 * Threading: one struct pki is shared by every worker and pool thread.
 * Functions marked "blocking" do store writes or signatures: call them from
 * the thread pool or the CLI, never on an event loop. The OCSP fast path
 * (pki_ocsp_lookup) and the CRL/CA-certificate getters only take a read
 * lock and copy bytes.
 *
 * Errors: struct bw_err with module "pki"; codes 400 (bad input, with a
 * reason token), 403 "policy" (refused by tenant policy; reason names the
 * rule), 404, 409, 413, 500, 503.
 */
#ifndef BW_PKI_H
#define BW_PKI_H

#include <openssl/types.h>

#include "core/core.h"
#include "pki/pki_limits.h"

struct store;
struct net_exchange;
struct tpool;

/* ------------------------------------------------------------- keys */

enum pki_key_type {
	PKI_KEY_NONE = 0,
	PKI_KEY_EC_P256,
	PKI_KEY_EC_P384,
	PKI_KEY_ED25519,
	PKI_KEY_RSA_2048,
	PKI_KEY_RSA_3072,
	PKI_KEY_RSA_4096,
	PKI_KEY_TYPE_MAX_,
};
#define PKI_KEY_BIT(t) (1u << (t))

/* "ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096". */
const char *pki_key_type_name(enum pki_key_type t);
/* PKI_KEY_NONE for an unknown name. */
enum pki_key_type pki_key_type_from_name(const char *s);
/* The type of a public key: RSA is classed by modulus size (an RSA key of
 * 2048..8191 bits is RSA_2048 .. by the largest size it reaches, so policy
 * on "rsa-2048" admits 2048..3071 bits). PKI_KEY_NONE with err for
 * anything bulwark does not accept (400 "key_type", "key_weak",
 * "rsa_exponent", "ec_explicit"). */
enum pki_key_type pki_key_type_of(EVP_PKEY *pub, struct bw_err *err);

/* Digest a signer is asked to use; NONE means the key signs the message
 * itself (Ed25519). */
enum pki_md { PKI_MD_NONE = 0, PKI_MD_SHA256, PKI_MD_SHA384, PKI_MD_SHA512 };

/*
 * A private-key operation provider for one key. sign() signs the message
 * (tbs, len) — hashing it with md first unless md is PKI_MD_NONE — in the
 * key's natural scheme: ECDSA with a DER Ecdsa-Sig-Value, RSA PKCS#1 v1.5,
 * pure Ed25519. It writes at most sigcap (>= PKI_SIG_MAX) bytes and sets
 * *siglen. It may block (a kms round trip) and is called from any thread
 * at once. Returns 0 or -1 with err.
 *
 * Invariants: pub holds the public part only and is owned by the signer;
 * key_id names the key in its backend (for logs and the store), never
 * key material. Every signature is verified with pub before it is used
 * unless trusted_output is set, which only the in-process signer does
 * (OpenSSL signing with a key it holds; RSA-CRT results are checked by
 * OpenSSL itself): a signer across a process boundary is checked.
 */
struct pki_signer {
	int (*sign)(void *ctx, enum pki_md md, const uint8_t *tbs, size_t len,
		    uint8_t *sig, size_t sigcap, size_t *siglen,
		    struct bw_err *err);
	void (*free)(void *ctx); /* may be NULL */
	void *ctx;
	EVP_PKEY *pub;
	enum pki_key_type type;
	char key_id[PKI_KEY_ID_MAX];
	bool trusted_output;
};

/* Frees s: calls s->free(s->ctx), drops pub. Accepts NULL. */
void pki_signer_free(struct pki_signer *s);

/*
 * IN-PROCESS signer over an OpenSSL private key (tests, development, and
 * short-lived keys that never leave this process). Takes a new reference
 * to key (the caller keeps its own). key_id may be NULL ("local").
 * Returns NULL with err (400 "key_type" when the key is not acceptable).
 */
struct pki_signer *pki_signer_local_new(EVP_PKEY *key, const char *key_id,
					struct bw_err *err) BW_WUR;

/* Generates a private key of type t in this process. Returns an EVP_PKEY
 * the caller frees, or NULL with err. */
EVP_PKEY *pki_key_generate(enum pki_key_type t, struct bw_err *err) BW_WUR;

/*
 * Where CA keys live. generate() creates a new non-exportable key of type
 * t for tenant and writes its id into key_id; open() returns a signer for
 * an existing key (the caller frees it with pki_signer_free). Both may
 * block and are called from pool threads. The kms implements this; ctx is
 * its own.
 */
struct pki_keystore {
	int (*generate)(void *ctx, const char *tenant, enum pki_key_type t,
			char key_id[PKI_KEY_ID_MAX], struct bw_err *err);
	struct pki_signer *(*open)(void *ctx, const char *tenant,
				   const char *key_id, struct bw_err *err);
	void (*free)(void *ctx); /* may be NULL */
	void *ctx;
};

/*
 * DEVELOPMENT / TEST ONLY: a key backend that keeps PKCS#8 private keys
 * UNENCRYPTED in the store (table pki_devkey) and signs in this process.
 * It exists so the CA works before the kms does; a daemon must use the
 * kms. Logs a warning once when created. Returns NULL with err.
 */
struct pki_keystore *pki_keystore_dev_new(struct store *st,
					  struct bw_err *err) BW_WUR;
void pki_keystore_free(struct pki_keystore *ks); /* accepts NULL */

/* ------------------------------------------------------------- the CA */

struct pki_options {
	struct store *store;             /* borrowed; required */
	const struct pki_keystore *keys; /* borrowed; required */
	/* Public base URL of the plain-HTTP listener serving /crl, /ocsp and
	 * /ca (e.g. "http://pki.example.net"); put into AIA and CDP
	 * extensions. Empty or NULL: certificates carry neither. */
	const char *public_url;
	int64_t crl_validity_s;       /* 0: default */
	int64_t ocsp_validity_s;      /* 0: default */
	int64_t ocsp_refresh_s;       /* 0: default */
	int64_t ocsp_responder_validity_s; /* 0: default */
	size_t ocsp_cache_max;        /* 0: default */
	/* true: requests carrying a nonce get a freshly signed response that
	 * echoes it (slower: a signature per request); false: the nonce is
	 * ignored and the cached response served (RFC 8954 allows both). */
	bool ocsp_sign_nonces;
};

struct pki;

/*
 * Opens the CA: applies the store migrations (module "pki"), loads every
 * CA, its signer, its OCSP responder and its latest CRL. opts is borrowed
 * (strings copied; store and keys must outlive the pki). Blocking.
 * Returns NULL with err.
 */
struct pki *pki_new(const struct pki_options *opts, struct bw_err *err) BW_WUR;
void pki_free(struct pki *p); /* accepts NULL */

/* ------------------------------------------------------------- CAs */

enum pki_ca_state {
	PKI_CA_ACTIVE = 1,  /* has a certificate; issues */
	PKI_CA_PENDING = 2, /* offline flow: key and CSR, waiting for its
			       certificate */
	PKI_CA_RETIRED = 3, /* no more issuance; CRL and OCSP continue */
};

/* Name constraints on a CA (RFC 5280 4.2.1.10). DNS entries are domain
 * names ("example.com" covers it and its subdomains), IP entries CIDR
 * ("10.0.0.0/8"), URI entries hosts/domains (".example.com"). */
struct pki_name_constraints {
	const char *const *permitted_dns; size_t n_permitted_dns;
	const char *const *excluded_dns;  size_t n_excluded_dns;
	const char *const *permitted_ip;  size_t n_permitted_ip;
	const char *const *excluded_ip;   size_t n_excluded_ip;
	const char *const *permitted_uri; size_t n_permitted_uri;
	const char *const *excluded_uri;  size_t n_excluded_uri;
};

struct pki_ca_spec {
	const char *tenant;
	const char *name;     /* unique per tenant: [a-z0-9._-]{1,64} */
	const char *subject;  /* "CN=Example Root CA,O=Example" */
	enum pki_key_type key_type;
	/* The issuing CA's id for an intermediate; NULL for a self-signed
	 * root, or for an intermediate whose parent is offline (external). */
	const char *parent_id;
	/* Offline-root flow: create the key and a CSR, leave the CA PENDING
	 * until pki_ca_import_cert gets its certificate. */
	bool external;
	int path_len;         /* -1: no pathLenConstraint */
	int64_t validity_s;   /* 0: default */
	struct pki_name_constraints nc;
};

struct pki_ca_info {
	char id[33];
	char tenant[PKI_TENANT_MAX + 1];
	char name[PKI_NAME_MAX + 1];
	char parent_id[33];     /* "" for roots and external parents */
	char subject[PKI_SUBJECT_MAX + 1];
	char key_id[PKI_KEY_ID_MAX];
	enum pki_key_type key_type;
	enum pki_ca_state state;
	bool root;              /* self-signed */
	int path_len;           /* -1 none */
	int64_t not_before, not_after; /* 0 while pending */
	int64_t crl_number;
};

/*
 * Creates a CA: a key through the keystore, then a self-signed root, an
 * intermediate signed by parent_id (same tenant, ACTIVE, path length
 * permitting), or (external) a PENDING CA with a CSR. The CA's subject is
 * parsed from text with one RDN per ','-separated "TYPE=value" (types CN,
 * O, OU, C, ST, L, DC, serialNumber; ',' inside values is not allowed).
 * Blocking. OUT: info (may be NULL). Returns 0 or -1 with err: 400
 * (bad_name, bad_subject, key_type, bad_constraint, path_len), 404
 * (parent), 409 (name taken), 500.
 */
int pki_ca_create(struct pki *p, const struct pki_ca_spec *spec,
		  struct pki_ca_info *info, struct bw_err *err) BW_WUR;

/* The CA ca_id of tenant. Returns 0, or -1 with err (404). */
int pki_ca_get(struct pki *p, const char *tenant, const char *ca_id,
	       struct pki_ca_info *info, struct bw_err *err) BW_WUR;

/* Calls fn for each CA of tenant in creation order. Returns 0 or -1. */
int pki_ca_list(struct pki *p, const char *tenant,
		void (*fn)(void *arg, const struct pki_ca_info *ca), void *arg,
		struct bw_err *err) BW_WUR;

/* Appends the PEM CSR of a PENDING CA (offline flow) to out. Returns 0 or
 * -1 with err (404, 409 "not_pending"). */
int pki_ca_csr_pem(struct pki *p, const char *tenant, const char *ca_id,
		   struct bw_buf *out, struct bw_err *err) BW_WUR;

/*
 * Offline flow, second half: installs the certificate (PEM or DER, at most
 * PKI_CSR_MAX_HARD bytes) signed for a PENDING CA. Checks that it carries
 * the CA's own public key, is a CA certificate (basicConstraints CA:TRUE,
 * keyCertSign) and is currently valid; optional chain_pem holds the
 * issuer chain up to the offline root (kept for chain downloads).
 * Blocking. Returns 0 or -1 with err (400 "bad_cert", "key_mismatch",
 * "not_ca", "expired"; 404; 409 "not_pending").
 */
int pki_ca_import_cert(struct pki *p, const char *tenant, const char *ca_id,
		       const char *cert, size_t len, const char *chain_pem,
		       size_t chain_len, struct bw_err *err) BW_WUR;

/* Marks a CA RETIRED (it stops issuing; its CRL and OCSP go on).
 * Blocking. Returns 0 or -1 with err. */
int pki_ca_retire(struct pki *p, const char *tenant, const char *ca_id,
		  struct bw_err *err) BW_WUR;

enum pki_format { PKI_PEM = 0, PKI_DER = 1 };

/* Appends the CA's certificate (fmt) to out; with chain, the issuers up to
 * the root follow (PEM only: a DER file holds one certificate). Returns 0
 * or -1 with err (404, 409 "not_active"). */
int pki_ca_cert(struct pki *p, const char *tenant, const char *ca_id,
		enum pki_format fmt, bool chain, struct bw_buf *out,
		struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- policy */

/*
 * A tenant's issuance policy, kept in the store as a JSON document:
 *
 *  {"dns": ["example.com", "*.example.com", ".corp.example.com"],
 *   "ip": ["10.0.0.0/8", "2001:db8::/32"],
 *   "uri": ["spiffe://example.org/"],
 *   "cn": ["Example Code Signing*"],
 *   "allow_wildcards": false,
 *   "key_types": ["ec-p256", "ec-p384", "ed25519", "rsa-2048", ...],
 *   "profiles": ["tls-server", "tls-client", "code-signing", "service"],
 *   "max_validity_s": 7776000}
 *
 * dns: "name" allows exactly that name; "*.name" allows any one label
 * below name (and, with allow_wildcards, the wildcard name "*.name");
 * ".name" allows any name below it at any depth. ip: CIDR ranges. uri:
 * prefixes (a URI must start with one). cn: common names that are not
 * also SANs (code signing, client identities): exact, or a prefix when
 * the pattern ends in '*'. A tenant without a policy may issue nothing.
 *
 * Sets tenant's policy after validating the document (unknown keys,
 * malformed entries and over-long lists are refused with 400, the
 * message naming the entry). Blocking. Returns 0 or -1 with err.
 */
int pki_policy_set(struct pki *p, const char *tenant, const char *json,
		   size_t len, struct bw_err *err) BW_WUR;
/* Appends tenant's policy JSON (as stored) to out; "{}" when none. */
int pki_policy_get(struct pki *p, const char *tenant, struct bw_buf *out,
		   struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- issuance */

enum pki_profile {
	PKI_PROFILE_NONE = 0,
	PKI_PROFILE_TLS_SERVER,   /* serverAuth, SAN required */
	PKI_PROFILE_TLS_CLIENT,   /* clientAuth */
	PKI_PROFILE_CODE_SIGNING, /* codeSigning, CN required */
	PKI_PROFILE_SERVICE,      /* SPIFFE X.509-SVID: one spiffe:// URI SAN,
				     serverAuth + clientAuth */
	PKI_PROFILE_SUB_CA,       /* a subordinate CA from a CSR (another
				     bulwark's offline flow); admin only */
	PKI_PROFILE_OCSP,         /* internal: delegated OCSP responder */
	PKI_PROFILE_MAX_,
};
#define PKI_PROFILE_BIT(p) (1u << (p))

/* "tls-server", "tls-client", "code-signing", "service", "sub-ca",
 * "ocsp". */
const char *pki_profile_name(enum pki_profile p);
enum pki_profile pki_profile_from_name(const char *s);

struct pki_issue_req {
	const char *tenant;
	const char *ca_id;
	enum pki_profile profile;
	/* Either a CSR (PEM or DER) whose names and key are used... */
	const char *csr;
	size_t csr_len;
	/* ...or no CSR: a key of gen_key is generated here and returned,
	 * and the names come from the fields below. */
	enum pki_key_type gen_key;
	/* Names. With a CSR, non-empty lists replace the CSR's SANs (which
	 * must then include them all: nothing is added the CSR did not ask
	 * for); common_name likewise. */
	const char *common_name;
	const char *const *dns; size_t ndns;
	const char *const *ips; size_t nips;
	const char *const *uris; size_t nuris;
	int64_t validity_s;   /* 0: the policy's maximum or the default */
	int path_len;         /* SUB_CA only; -1: none */
	/* Bypass the tenant's name policy (SUB_CA and internal use; the
	 * REST layer sets it only for callers with the CA-admin right). */
	bool skip_policy;
};

struct pki_issued {
	char serial[41];      /* lower-case hex, no leading zeros beyond one
				 byte's worth */
	int64_t not_before, not_after;
	uint8_t *der;         /* the certificate; malloc'd */
	size_t der_len;
	char *key_pem;        /* PKCS#8 PEM of a generated key, or NULL;
				 malloc'd, wiped by pki_issued_fini */
	size_t key_pem_len;
};

/*
 * Issues one certificate. Checks, in order: the CA is ACTIVE and belongs
 * to tenant; the CSR parses within PKI_CSR_MAX_DEFAULT and its
 * self-signature verifies; the key type is acceptable and allowed by
 * policy; every name is well-formed and allowed by policy; the profile's
 * requirements; the validity. Then builds the certificate (random 127-bit
 * serial, SKI/AKI, key usage and EKU per profile, SANs, AIA, CDP,
 * critical basicConstraints), signs it through the CA's signer, verifies
 * the chain it forms, stores it in the inventory and pre-signs its OCSP
 * response. Blocking. OUT: out (release with pki_issued_fini). Returns 0
 * or -1 with err: 400 (csr_*, key_*, bad_name, profile, ...), 403
 * "policy", 404 (no such CA), 409 "ca_not_active", 413 "too_large", 500.
 */
int pki_issue(struct pki *p, const struct pki_issue_req *req,
	      struct pki_issued *out, struct bw_err *err) BW_WUR;
void pki_issued_fini(struct pki_issued *out);

/* ------------------------------------------------------------ inventory */

enum pki_cert_status { PKI_CERT_GOOD = 0, PKI_CERT_REVOKED = 1 };

struct pki_cert_info {
	char serial[41];
	char tenant[PKI_TENANT_MAX + 1];
	char ca_id[33];
	char subject[PKI_SUBJECT_MAX + 1];
	char sans[1024];      /* "dns:a.example.com,ip:10.0.0.1,..."
				 (truncated with "..." when longer) */
	char profile[16];
	enum pki_cert_status status;
	int revocation_reason;
	int64_t not_before, not_after, revoked_at;
};

struct pki_search {
	const char *tenant;
	const char *ca_id;    /* NULL: all CAs */
	const char *text;     /* substring of subject or SANs; NULL: any */
	int status;           /* -1 any, else enum pki_cert_status */
	int64_t expiring_before; /* 0: any; else not_after < this */
	const char *profile;  /* NULL: any */
	size_t limit;         /* 0: PKI_LIST_DEFAULT; capped at PKI_LIST_MAX */
	size_t offset;
};

/* Calls fn for each matching certificate, newest not_after last. Returns
 * the number of rows, or -1 with err. */
int pki_cert_search(struct pki *p, const struct pki_search *q,
		    void (*fn)(void *arg, const struct pki_cert_info *c),
		    void *arg, struct bw_err *err) BW_WUR;

/* One certificate by serial (hex). OUT: info; der (may be NULL) receives
 * the certificate's DER appended. Returns 0 or -1 with err (404). */
int pki_cert_get(struct pki *p, const char *tenant, const char *serial,
		 struct pki_cert_info *info, struct bw_buf *der,
		 struct bw_err *err) BW_WUR;

/* Appends the certificate (PEM or DER) and, with chain, its issuers (PEM
 * only) to out. Returns 0 or -1 with err. */
int pki_cert_export(struct pki *p, const char *tenant, const char *serial,
		    enum pki_format fmt, bool chain, struct bw_buf *out,
		    struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ revocation */

/* RFC 5280 CRLReason values bulwark accepts. */
enum pki_reason {
	PKI_REASON_UNSPECIFIED = 0,
	PKI_REASON_KEY_COMPROMISE = 1,
	PKI_REASON_CA_COMPROMISE = 2,
	PKI_REASON_AFFILIATION_CHANGED = 3,
	PKI_REASON_SUPERSEDED = 4,
	PKI_REASON_CESSATION = 5,
	PKI_REASON_PRIVILEGE_WITHDRAWN = 9,
};
/* "unspecified", "keyCompromise", ... (RFC 5280 names); -1 unknown. */
int pki_reason_from_name(const char *s);
const char *pki_reason_name(int reason);

/*
 * Revokes tenant's certificate serial with reason, regenerates its CA's
 * CRL and re-signs its OCSP response. Revoking twice is 409
 * "already_revoked" (except superseding a reason with keyCompromise,
 * which RFC 5280 permits). Blocking. Returns 0 or -1 with err.
 */
int pki_revoke(struct pki *p, const char *tenant, const char *serial,
	       int reason, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ CRL, OCSP */

/* Regenerates the CA's CRL now (v2, next CRL number, AKI, nextUpdate).
 * Blocking. Returns 0 or -1 with err. */
int pki_crl_generate(struct pki *p, const char *ca_id,
		     struct bw_err *err) BW_WUR;

/* Appends the CA's current CRL (DER) to out. Fast (a copy under a read
 * lock). Returns 0, or -1 with err (404). */
int pki_crl_get(struct pki *p, const char *ca_id, struct bw_buf *out,
		struct bw_err *err) BW_WUR;

/* Appends the CA's own certificate (DER) to out, for the public
 * CA-issuers URL. Fast. Returns 0 or -1 with err (404). */
int pki_ca_cert_public(struct pki *p, const char *ca_id, struct bw_buf *out,
		       struct bw_err *err) BW_WUR;

/*
 * OCSP responder core (RFC 6960). Answers one DER OCSPRequest addressed
 * to CA ca_id (the CA in the URL). The answer is always an OCSPResponse
 * (DER) appended to out: malformedRequest for what does not parse,
 * unauthorized for a CertID that names another issuer, otherwise a
 * successful response for the one certificate asked about (good, revoked,
 * unknown), signed by the CA's delegated responder.
 *
 * pki_ocsp_lookup is the fast path: a parse and a cache lookup. It
 * returns 1 with the response appended when it could answer from memory
 * (including the error responses), or 0 when the answer needs a signature
 * (cache miss, unknown serial, nonce to echo): then the caller runs the
 * blocking pki_ocsp_respond on a pool thread. -1 only when out is full.
 * pki_ocsp_respond always answers (signing when needed); 0 or -1 with err
 * when out is full or signing failed (then the caller answers 500 or an
 * OCSP internalError).
 */
int pki_ocsp_lookup(struct pki *p, const char *ca_id, const uint8_t *req,
		    size_t len, struct bw_buf *out, struct bw_err *err) BW_WUR;
int pki_ocsp_respond(struct pki *p, const char *ca_id, const uint8_t *req,
		     size_t len, struct bw_buf *out, struct bw_err *err) BW_WUR;

/*
 * The schedule. The daemon calls this from a timer (every minute is
 * plenty) on a pool thread: it regenerates CRLs past half their validity,
 * replaces OCSP responder certificates with a third of their life left,
 * re-signs cached OCSP responses older than ocsp_refresh_s and pre-signs
 * responses for certificates not cached yet, at most
 * PKI_OCSP_REFRESH_BATCH per call. Blocking. Returns 0, or -1 with err
 * after doing what it could.
 */
int pki_tick(struct pki *p, struct bw_err *err) BW_WUR;

struct pki_stats {
	uint64_t issued, revoked, issue_refused;
	uint64_t crls_generated;
	uint64_t ocsp_requests, ocsp_cache_hits, ocsp_signed, ocsp_malformed,
		ocsp_unauthorized, ocsp_unknown;
	uint64_t ocsp_cache_entries;
};
void pki_stats_get(struct pki *p, struct pki_stats *out);

/* ------------------------------------------------------------ HTTP */

/*
 * The public, unauthenticated endpoints, as a net handler for a plain-HTTP
 * listener (arg: struct pki_http):
 *   GET  /ca/{ca}.crt          the CA certificate (DER,
 *                              application/pkix-cert)
 *   GET  /crl/{ca}.crl         the current CRL (DER, application/pkix-crl)
 *   POST /ocsp/{ca}            OCSP (application/ocsp-request)
 *   GET  /ocsp/{ca}/{base64}   OCSP, the RFC 6960 appendix A GET form
 * Answers from memory on the loop thread; OCSP answers that need a
 * signature go to the thread pool.
 */
struct pki_lcert;
struct pki_http {
	struct pki *pki;     /* borrowed */
	struct tpool *pool;  /* borrowed */
	/* borrowed; may be NULL. When set, GET
	 * /.well-known/acme-challenge/{token} answers the http-01 key
	 * authorizations of bulwark's own ACME client (pki_lcert). */
	struct pki_lcert *lcert;
};
void pki_http_handle(struct net_exchange *x, void *arg);

/*
 * Registers the admin REST routes under /api/v1/pki (CAs, policy,
 * issuance, inventory, downloads, revocation, CRL regeneration). p is
 * borrowed and must outlive the API. Start-up only. Returns 0 or -1.
 */
int pki_api_register(struct pki *p) BW_WUR;

/* ------------------------------------------------------------ ACME */

/*
 * The ACME server (RFC 8555), one directory per tenant under
 * /acme/{tenant}/directory: nonces, accounts (JWS with RS256, ES256,
 * ES384, EdDSA), external account binding, orders, authorizations,
 * http-01, dns-01 and tls-alpn-01 challenges, finalize, certificate
 * download, revocation and account key rollover. Issuance goes through
 * pki_issue (profile tls-server) under the tenant's policy, from the CA
 * the tenant's ACME configuration names. All state but the nonces is in
 * the store; every state change is an audit record (when an audit log is
 * given) and an event. docs/internals/PKI.md has the guide.
 */
struct audit_log;
struct loop;

struct pki_acme_options {
	struct pki *pki;          /* borrowed; required */
	struct store *store;      /* borrowed; required (usually pki's) */
	struct tpool *pool;       /* borrowed; request work runs here; NULL:
				     inline on the caller's thread (tests) */
	struct audit_log *audit;  /* borrowed; NULL: no audit records (tests) */
	/* The external base URL clients use, without a trailing '/', e.g.
	 * "https://acme.example.net" (a path prefix is allowed). URLs in
	 * responses are built from it and the JWS "url" must match it. NULL:
	 * derived per request from the Host header and the listener's TLS. */
	const char *base_url;
	/* Validation targets. Ports 0 mean the standard ones (80 for
	 * http-01, 443 for tls-alpn-01); tests point them at loopback.
	 * validation_addr, when set (an IPv4/IPv6 literal), is connected to
	 * instead of resolving the identifier: for tests only. */
	uint16_t http01_port, tlsalpn01_port;
	const char *validation_addr;
	/* dns-01: the resolver asked for _acme-challenge TXT records, "IP" or
	 * "IP:port" ("[v6]:port"); NULL: the system's resolv.conf. */
	const char *dns_resolver;
	/* Seals EAB HMAC keys in the store (AES-256-GCM). NULL: they are kept
	 * in clear until used (a warning is logged); a used key is wiped
	 * either way. */
	const uint8_t *eab_seal_key; /* 32 bytes */
	const char *terms_of_service; /* URL for the directory's meta; NULL */
	size_t nonces_max;        /* 0: PKI_ACME_NONCES_DEFAULT */
	int64_t nonce_ttl_s;      /* 0: default */
	int64_t order_ttl_s;      /* 0: default */
	size_t validations_max;   /* in flight; 0: default */
	unsigned validator_threads; /* 0: default */
};

struct pki_acme;

/*
 * Starts the ACME server: applies its store migrations (module
 * "pki_acme"), loads the tenants' ACME configurations, and starts the
 * validator (a thread with its own loop and outbound HTTP client for
 * http-01, and a small pool for the blocking dns-01 and tls-alpn-01
 * checks). Challenges left "processing" by a previous run are validated
 * again. net_fetch_global_init must have run. Blocking (start-up).
 * Returns NULL with err.
 */
struct pki_acme *pki_acme_new(const struct pki_acme_options *o,
			      struct bw_err *err) BW_WUR;
/* Stops the validator (in-flight validations are cancelled and their
 * challenges stay "processing" for the next start) and frees. No request
 * may be in flight. Accepts NULL. */
void pki_acme_free(struct pki_acme *a);

/*
 * The net handler for /acme/{tenant}/... (arg: the struct pki_acme).
 * Mount it on an HTTPS listener (RFC 8555 requires TLS); every answer
 * carries a fresh Replay-Nonce and errors are RFC 7807 problem documents
 * with ACME error types. Parsing is bounded on the loop thread; JWS
 * verification, store work and issuance run on the pool.
 */
void pki_acme_handle(struct net_exchange *x, void *arg);

/* A tenant's ACME directory. */
struct pki_acme_tenant {
	char ca_id[33];       /* the issuing CA (an ACTIVE CA of the tenant) */
	bool eab_required;    /* newAccount needs an external account binding */
	int64_t validity_s;   /* certificate lifetime; 0: the policy's */
	bool enabled;         /* false: the directory answers 404 */
};

/*
 * Creates or replaces tenant's ACME configuration (the CA must be the
 * tenant's and ACTIVE). Blocking. Returns 0 or -1 with err (400, 404 the
 * CA, 413 too many tenants).
 */
int pki_acme_tenant_set(struct pki_acme *a, const char *tenant,
			const struct pki_acme_tenant *cfg,
			struct bw_err *err) BW_WUR;
/* OUT: cfg. Returns 0, or -1 with err (404 not configured). Fast. */
int pki_acme_tenant_get(struct pki_acme *a, const char *tenant,
			struct pki_acme_tenant *cfg, struct bw_err *err) BW_WUR;

/*
 * Creates an external account binding key for tenant (RFC 8555 section
 * 7.3.4): OUT kid (22 base64url characters + NUL) and key (32 bytes,
 * given to the subscriber once, e.g. base64url-encoded). A key binds one
 * account and is wiped when it does. label (may be NULL) is a note for
 * administrators. Blocking. Returns 0 or -1 with err (413 too many unused
 * keys).
 */
int pki_acme_eab_create(struct pki_acme *a, const char *tenant,
			const char *label, char kid[32], uint8_t key[32],
			struct bw_err *err) BW_WUR;
/* Deletes an unused EAB key. Returns 0 or -1 with err (404, 409 used). */
int pki_acme_eab_delete(struct pki_acme *a, const char *tenant,
			const char *kid, struct bw_err *err) BW_WUR;

/*
 * Admin REST routes under /api/v1/pki/acme (configuration, EAB keys,
 * accounts), audited like the CA's. a is borrowed and must outlive the
 * API. Start-up only. Returns 0 or -1.
 */
int pki_acme_api_register(struct pki_acme *a) BW_WUR;

struct pki_acme_stats {
	uint64_t requests, refused;      /* refused: any problem answered */
	uint64_t nonces_issued, nonces_accepted, nonces_refused;
	uint64_t accounts_created, orders_created, certificates_issued,
		 revocations;
	uint64_t validations_started, validations_ok, validations_failed,
		 validations_refused; /* refused: too many in flight */
};
void pki_acme_stats_get(struct pki_acme *a, struct pki_acme_stats *out);

/* ------------------------------------------------ listener certificates */

/*
 * The certificates of bulwark's own TLS listeners (pki_lcert.c): obtained
 * and renewed from the private CA directly or from any ACME CA (RFC 8555
 * client, http-01 answered by the pki listener, account key in the
 * keystore), hot-swapped into the running listeners without dropping a
 * connection, stapled with a verified OCSP response (from this process's
 * responder for local CAs, else from the certificate's AIA OCSP URL), and
 * watched for expiry with every certificate the CA issued: events
 * "certificate-expiring" / "certificate-expired" once per certificate and
 * threshold, "listener-certificate-renewed" / "-renewal-failed", audit
 * records "pki.listener_cert.install". docs/certificates.md is the guide.
 */
enum pki_lcert_source { PKI_LCERT_SOURCE_CA = 1, PKI_LCERT_SOURCE_ACME };

struct pki_lcert_spec {
	const char *listener;      /* the listener's name */
	enum pki_lcert_source source;
	const char *const *names;  /* DNS names or IP literals; first = CN */
	size_t nnames;             /* 1..PKI_LCERT_NAMES_MAX */
	enum pki_key_type key_type;/* NONE: EC P-256 */
	int64_t renew_before_s;    /* 0: a third of the lifetime */
	/* source CA */
	const char *tenant, *ca;   /* the CA's tenant and id */
	int64_t validity_s;        /* 0: the CA's default */
	/* source ACME */
	const char *directory;     /* directory URL */
	const char *ca_file;       /* trust for the ACME server; NULL: system */
	const char *contact;       /* "mailto:..."; may be NULL */
	const char *eab_kid, *eab_hmac; /* external account binding; may be NULL */
	/* A component identity instead of a listener certificate: listener
	 * and names are unused; a short-lived SPIFFE X.509-SVID (profile
	 * service) for uri from the private CA, rotated like the others and
	 * presented by TLS clients through pki_lcert_identity_use. */
	const char *identity;      /* its name, e.g. "gateway" */
	const char *uri;           /* "spiffe://..." */
};

/*
 * Seals listener-certificate private keys at rest (the daemon passes one
 * backed by the keystore). seal/open append to out and return 0, or -1
 * with err; open fails on anything tampered with or sealed under another
 * aad. The callbacks run on the manager's thread and may block.
 */
struct pki_lcert_sealer {
	int (*seal)(void *ctx, const uint8_t *pt, size_t n, const char *aad,
		    struct bw_buf *out, struct bw_err *err);
	int (*open)(void *ctx, const uint8_t *ct, size_t n, const char *aad,
		    struct bw_buf *out, struct bw_err *err);
	void *ctx;
};

struct pki_lcert_options {
	struct pki *pki;                 /* borrowed; required */
	struct store *store;             /* borrowed; required */
	const struct pki_keystore *keys; /* borrowed; ACME account keys */
	struct audit_log *audit;         /* borrowed; may be NULL */
	const char *key_tenant;          /* keystore partition; NULL: "platform" */
	const struct pki_lcert_spec *specs; /* copied */
	size_t nspecs;                   /* 0..PKI_LCERT_MAX */
	int64_t check_interval_ms;       /* 0: PKI_LCERT_CHECK_DEFAULT_MS */
	const int *alert_days;           /* NULL: 30, 14, 7 */
	size_t nalerts;
	bool no_staple;                  /* true: no OCSP stapling */
	/* Each certificate is kept in the store with its key sealed, and a
	 * restart serves it again instead of ordering a new one (an ACME CA
	 * limits how many certificates one may order for the same names).
	 * NULL: nothing is kept; every start obtains new certificates. The
	 * struct is copied, ctx borrowed until pki_lcert_free. */
	const struct pki_lcert_sealer *sealer;
};

struct pki_lcert;
struct net_tls;
struct json_writer;

/* Starts the manager's thread (it obtains missing certificates at once).
 * Returns NULL with err (400 bad options, 500). */
struct pki_lcert *pki_lcert_new(const struct pki_lcert_options *o,
				struct bw_err *err) BW_WUR;
/* Stops the thread (an ACME run in progress gives up) and frees. Every
 * net_tls must be detached first or outlive m. Accepts NULL. */
void pki_lcert_free(struct pki_lcert *m);
/* Listener `listener` serves with t (borrowed until detached): t's slot 0
 * gets the managed certificate (now, if there is one, and at every
 * renewal) and a staple. 0, or -1 with err (503 table full). m may be
 * NULL (no-op). */
int pki_lcert_attach(struct pki_lcert *m, const char *listener,
		     struct net_tls *t, struct bw_err *err) BW_WUR;
/* Forgets t (before its server is freed). m may be NULL. */
void pki_lcert_detach(struct pki_lcert *m, struct net_tls *t);
/* Checks now instead of at the next interval. */
void pki_lcert_kick(struct pki_lcert *m);
/* Renews listener's certificate now. 0, or -1 with 404. */
int pki_lcert_renew(struct pki_lcert *m, const char *listener,
		    struct bw_err *err) BW_WUR;
/* The http-01 key authorization for token (len bytes) appended to out:
 * 1 found, 0 unknown, -1 out full. m may be NULL. */
int pki_lcert_challenge(struct pki_lcert *m, const char *token, size_t len,
			struct bw_buf *out);
/* Writes the status object ({listeners: [...], alert_days, alerts_sent}). */
int pki_lcert_status(struct pki_lcert *m, struct json_writer *w);
/*
 * Component identities (mTLS between bulwark's parts and to upstreams).
 * pki_lcert_identity_get: OUT the identity's current certificate, its
 * chain (may pass NULL) and key, each with a reference the caller drops,
 * and a generation that changes at every rotation; -1 when it has none
 * yet. pki_lcert_identity_use: a TLS client context ctx presents identity
 * `name` whenever a server asks for a client certificate, always the
 * current one (rotations need no new context). 0, or -1 with err (404
 * unknown identity).
 */
struct x509_st;
struct stack_st_X509;
struct evp_pkey_st;
struct ssl_ctx_st;
int pki_lcert_identity_get(struct pki_lcert *m, const char *name,
			   struct x509_st **leaf, struct stack_st_X509 **chain,
			   struct evp_pkey_st **pkey, uint64_t *generation) BW_WUR;
int pki_lcert_identity_use(struct pki_lcert *m, const char *name,
			   struct ssl_ctx_st *ctx, struct bw_err *err) BW_WUR;

/* Admin routes: GET /api/v1/pki/listener-certs, POST
 * /api/v1/pki/listener-certs/{listener}/renew. m is kept. */
int pki_lcert_api_register(struct pki_lcert *m) BW_WUR;

/*
 * The `pki:` section of the configuration, bound strictly (unknown keys
 * are errors). Strings point into the document's arena. Listener
 * certificates become specs (names, key types and durations checked).
 */
struct conf_node;
struct bw_arena;
struct pki_conf {
	const char *public_url;
	const char *acme_base_url;
	const char *acme_validation_addr; /* tests: connect here to validate */
	uint16_t acme_http01_port, acme_tlsalpn01_port;
	uint64_t cert_check_interval_ms;
	int alert_days[PKI_LCERT_ALERTS_MAX];
	size_t nalerts;
	bool staple;
	struct pki_lcert_spec specs[PKI_LCERT_MAX]; /* listeners, then identities */
	size_t nspecs;
};
int pki_conf_bind(const struct conf_node *node, struct bw_arena *arena,
		  struct pki_conf *out, struct bw_err *err) BW_WUR;

/* `bulwark pki ...` (pki_cli.c) against the running daemon's admin API:
 * argv[0] is "pki". Returns the exit status (0 ok,
 * 1 failure, 2 usage). */
int pki_cli_main(int argc, char **argv);

#endif
