/*
 * pki_int.h — what the pki files share and no other module includes: the
 * in-memory CA table, the OCSP cache, the signing glue, CSR and name
 * parsing, policy evaluation and the store schema.
 *
 * Locking: p->mu (rwlock) guards the CA table and every mutable field of
 * a struct pki_ca (state, responder, CRL bytes). CA records are never
 * freed before pki_free, so a pointer taken under the lock stays valid;
 * fields that are replaced (responder, CRL) are copied or reference-
 * counted before the lock is dropped. A CA's crl_mu serialises CRL
 * generation so CRL numbers are strictly increasing. The OCSP cache has
 * its own sharded locks (pki_ocsp.c).
 */
#ifndef BW_PKI_INT_H
#define BW_PKI_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/pki.h"
#include "store/store.h"

#define PKI_MOD "pki"
#define PKI_ID_LEN 16 /* hex chars of a CA id */
#define PKI_SERIAL_BYTES 16

int pki_err_ssl(struct bw_err *err, const char *reason, const char *what);

/* ---------------------------------------------------------- signing */

enum pki_md pki_md_for(enum pki_key_type t);
const EVP_MD *pki_md_evp(enum pki_md md);

/*
 * Signs with the shadow-key method (see pki.h): x/crl/req must be fully
 * built but unsigned. Return a new, parsed object whose signature was
 * verified against signer->pub, or NULL with err. The input is not
 * consumed (it is modified: its AlgorithmIdentifiers are set).
 */
X509 *pki_sign_cert(const struct pki_signer *s, X509 *x, struct bw_err *err);
X509_CRL *pki_sign_crl(const struct pki_signer *s, X509_CRL *crl,
		       struct bw_err *err);
X509_REQ *pki_sign_req(const struct pki_signer *s, X509_REQ *req,
		       struct bw_err *err);
/*
 * Signs basic response bs (statuses and extensions added) as the
 * responder whose certificate is rcert (responderID byName, producedAt,
 * rcert in certs), and returns the DER OCSPResponse (malloc'd) in *der.
 * stand_in comes from pki_sign_ocsp_stand_in for the same signer and
 * rcert (built once per responder).
 */
X509 *pki_sign_ocsp_stand_in(const struct pki_signer *s, X509 *rcert,
			    struct bw_err *err);
int pki_sign_ocsp(const struct pki_signer *s, X509 *rcert, X509 *stand_in,
		  OCSP_BASICRESP *bs, int64_t produced_at, uint8_t **der,
		  size_t *der_len, struct bw_err *err);

/* ---------------------------------------------------------- names */

enum pki_name_type { PKI_NAME_DNS = 1, PKI_NAME_IP, PKI_NAME_URI };

struct pki_name {
	enum pki_name_type type;
	char *text;       /* DNS (lower case), URI, or the IP's text form */
	uint8_t ip[16];
	uint8_t iplen;    /* 4 or 16 for IP */
};

struct pki_names {
	struct pki_name v[PKI_SANS_MAX];
	size_t n;
};

void pki_names_fini(struct pki_names *n);
/* Validates and appends one name. DNS: LDH labels, lower-cased, optional
 * leading "*." label; IP: dotted quad or RFC 4291 text; URI: a scheme,
 * printable ASCII, spiffe:// IDs checked against the SPIFFE rules. 400
 * "bad_name" / "too_many_names". */
int pki_names_add(struct pki_names *n, enum pki_name_type t, const char *s,
		  size_t len, struct bw_err *err);
int pki_names_add_ip_bytes(struct pki_names *n, const uint8_t *ip, size_t len,
			   struct bw_err *err);
bool pki_names_has(const struct pki_names *n, enum pki_name_type t,
		   const char *s);
int pki_dns_check(const char *s, size_t len, bool allow_wildcard,
		  struct bw_err *err);
int pki_spiffe_check(const char *s, size_t len, struct bw_err *err);
int pki_cidr_parse(const char *s, uint8_t addr[16], uint8_t *alen,
		   unsigned *prefix);

/* ---------------------------------------------------------- CSR */

struct pki_csr {
	EVP_PKEY *pub;            /* owned */
	enum pki_key_type key_type;
	char cn[PKI_CN_MAX + 1];  /* "" when absent */
	struct pki_names names;
};

/*
 * Parses a CSR (PEM with one CERTIFICATE REQUEST block, or DER that is
 * consumed exactly) of at most max bytes, verifies its self-signature,
 * classifies its key and extracts CN and SANs (DNS, IP, URI; any other
 * SAN type is refused). Returns 0 with *out filled (release with
 * pki_csr_fini) or -1 with err: 413 "too_large", 400 "csr_parse",
 * "csr_signature", "csr_version", "csr_san", "csr_subject", key_*,
 * bad_name.
 */
int pki_csr_parse(const char *p, size_t len, size_t max, struct pki_csr *out,
		  struct bw_err *err);
void pki_csr_fini(struct pki_csr *c);

/* ---------------------------------------------------------- policy */

struct pki_policy {
	char *dns[PKI_POLICY_LIST_MAX]; size_t ndns;
	struct { uint8_t addr[16]; uint8_t alen; unsigned prefix; } ip[PKI_POLICY_LIST_MAX];
	size_t nip;
	char *uri[PKI_POLICY_LIST_MAX]; size_t nuri;
	char *cn[PKI_POLICY_LIST_MAX]; size_t ncn;
	bool allow_wildcards;
	unsigned key_types;  /* PKI_KEY_BIT set */
	unsigned profiles;   /* PKI_PROFILE_BIT set */
	int64_t max_validity_s;
};

/* Parses a policy JSON document (see pki.h). Returns 0 or -1 with err. */
int pki_policy_parse(const char *json, size_t len, struct pki_policy *out,
		     struct bw_err *err);
void pki_policy_fini(struct pki_policy *pol);
/* 0 when every name, the CN (when not one of the names), key type,
 * profile and validity are allowed; else -1 with 403 "policy". */
int pki_policy_check(const struct pki_policy *pol, enum pki_profile prof,
		     enum pki_key_type kt, const char *cn,
		     const struct pki_names *names, int64_t validity_s,
		     struct bw_err *err);

/* ---------------------------------------------------------- CAs */

struct pki_responder {
	atomic_int refs;
	X509 *cert;
	X509 *stand_in; /* see pki_sign_ocsp_stand_in */
	struct pki_signer *signer;
	int64_t not_after;
};
void pki_responder_unref(struct pki_responder *r);

struct pki_ca {
	uint32_t idx;
	char id[PKI_ID_LEN + 1];
	char tenant[PKI_TENANT_MAX + 1];
	char name[PKI_NAME_MAX + 1];
	char parent_id[PKI_ID_LEN + 1];
	char subject[PKI_SUBJECT_MAX + 1];
	char key_id[PKI_KEY_ID_MAX];
	enum pki_key_type key_type;
	int path_len;
	bool root;
	int64_t created;

	/* under p->mu */
	enum pki_ca_state state;
	struct pki_signer *signer;   /* NULL only if the key failed to open */
	X509 *cert;                  /* NULL while PENDING */
	uint8_t *cert_der; size_t cert_der_len;
	STACK_OF(X509) *chain;       /* issuers above, nearest first */
	X509_REQ *csr;               /* PENDING only */
	/* CertID matching: issuer name and key hashes, SHA-1 and SHA-256 */
	uint8_t name_sha1[20], key_sha1[20], name_sha256[32], key_sha256[32];
	struct pki_responder *resp;
	uint8_t *crl_der; size_t crl_len;
	int64_t crl_number, crl_this_update, crl_next_update;

	pthread_mutex_t crl_mu;
};

struct pki_ocsp_cache;

struct pki {
	struct store *st;
	const struct pki_keystore *keys;
	char public_url[PKI_URL_MAX + 1];
	int64_t crl_validity_s, ocsp_validity_s, ocsp_refresh_s,
		ocsp_responder_validity_s;
	bool ocsp_sign_nonces;

	pthread_rwlock_t mu;
	struct pki_ca **cas;
	size_t ncas;

	struct pki_ocsp_cache *cache;
	/* pki_tick's pre-signing cursor over the inventory (serial hex) */
	pthread_mutex_t tick_mu;
	char warm_cursor[41];
	bool warm_done;

	atomic_uint_fast64_t issued, revoked, issue_refused, crls_generated,
		ocsp_requests, ocsp_hits, ocsp_signed, ocsp_malformed,
		ocsp_unauthorized, ocsp_unknown;
};

/* Under p->mu (read or write): the CA with this id, or NULL. */
struct pki_ca *pki_ca_find_locked(struct pki *p, const char *id);
/* Takes p->mu for reading; the CA of tenant with id, or NULL with 404. */
struct pki_ca *pki_ca_lookup(struct pki *p, const char *tenant,
			     const char *id, struct bw_err *err);
/* Fills CA hashes, cert_der from ca->cert. */
int pki_ca_set_cert(struct pki_ca *ca, X509 *cert, struct bw_err *err);
void pki_ca_info_fill(const struct pki_ca *ca, struct pki_ca_info *info);
int pki_ca_load_all(struct pki *p, struct bw_err *err);
/* Appends (PEM) the CA's certificate when self, then its issuers. Takes
 * p->mu for reading. -1 when out is full. */
int pki_ca_chain_append(struct pki *p, struct pki_ca *ca, bool self,
			struct bw_buf *out);
/* Emits a pki event on the bus (best effort). */
void pki_emit(const char *action, const char *tenant, bool ok,
	      const char *message, const char *k1, const char *v1,
	      const char *k2, const char *v2);
/* The tenant's policy from the store: 1 found, 0 none, -1 error. */
int pki_policy_load(struct pki *p, const char *tenant, struct pki_policy *pol,
		    struct bw_err *err);
void pki_ca_free(struct pki_ca *ca);
/* Returns the responder with a reference taken (under p->mu read). */
struct pki_responder *pki_ca_responder(struct pki *p, struct pki_ca *ca);
/* Creates (or replaces) the CA's delegated OCSP responder. Blocking. */
int pki_ca_new_responder(struct pki *p, struct pki_ca *ca, struct bw_err *err);

/* ---------------------------------------------------------- issuance */

/* What pki_build_cert needs besides the CA. */
struct pki_tbs {
	enum pki_profile profile;
	EVP_PKEY *pub;                 /* borrowed */
	const char *cn;                /* may be NULL or "" */
	X509_NAME *subject;            /* overrides cn when set (CAs) */
	const struct pki_names *names; /* may be NULL */
	int64_t not_before, not_after;
	int path_len;                  /* CA profiles; -1 none */
	const struct pki_name_constraints *nc; /* CA profiles */
	bool self_signed;
	bool no_urls;                  /* omit AIA/CDP (OCSP responder) */
	uint8_t serial[PKI_SERIAL_BYTES];
};

/* Builds and signs a certificate under ca (or self-signed with
 * ca_signer when tbs->self_signed). Returns the signed certificate or
 * NULL with err. */
X509 *pki_build_cert(struct pki *p, const struct pki_ca *ca,
		     const struct pki_signer *signer, const struct pki_tbs *tbs,
		     struct bw_err *err);
void pki_serial_random(uint8_t serial[PKI_SERIAL_BYTES]);
void pki_serial_hex(const uint8_t *b, size_t n, char out[41]);
/* An inventory row being written. */
struct pki_cert_ins {
	char serial[41];
	const char *tenant, *ca_id, *subject, *profile; /* borrowed */
	char sans[4096];
	int64_t nb, na;
	uint8_t *der;
	size_t der_len;
};
int pki_cert_ins_fill(struct pki_cert_ins *c, const struct pki_ca *ca, X509 *x,
		      enum pki_profile prof, const char *subject,
		      struct bw_err *err);
void pki_cert_ins_fini(struct pki_cert_ins *c);
/* Inside a write job: inserts the row (409 on a repeated serial). */
int pki_cert_insert_tx(struct store_tx *tx, const struct pki_cert_ins *c,
		       struct bw_err *err);
/* Inserts an issued certificate into the inventory. Blocking. */
int pki_store_cert(struct pki *p, const struct pki_ca *ca, X509 *x,
		   enum pki_profile prof, const char *subject, struct bw_err *err);
int pki_x509_to_der(X509 *x, uint8_t **der, size_t *len, struct bw_err *err);
int pki_append_pem(struct bw_buf *out, const char *label, const uint8_t *der,
		   size_t len);
X509_NAME *pki_subject_parse(const char *s, struct bw_err *err);
int pki_time_to_epoch(const ASN1_TIME *t, int64_t *out);

/* ---------------------------------------------------------- store */

extern const char *const pki_schema[];
extern const size_t pki_schema_steps;

/* ---------------------------------------------------------- OCSP */

struct pki_ocsp_req {
	int hash_nid;                   /* NID_sha1 or NID_sha256 */
	uint8_t name_hash[64]; size_t name_hash_len;
	uint8_t key_hash[64]; size_t key_hash_len;
	uint8_t serial[20]; size_t serial_len;
	uint8_t nonce[PKI_OCSP_NONCE_MAX]; size_t nonce_len;
	bool has_nonce;
	OCSP_REQUEST *req;              /* owned */
	OCSP_CERTID *cid;               /* inside req: echoed in the response */
};

/* Parses a DER OCSPRequest: exactly one CertID with a SHA-1 or SHA-256
 * hash, a serial of 1..20 octets, an optional nonce of 1..32 octets, no
 * unknown critical extension. 0 or -1 with 400 and a reason. */
int pki_ocsp_req_parse(const uint8_t *der, size_t len, struct pki_ocsp_req *out,
		       struct bw_err *err);
void pki_ocsp_req_fini(struct pki_ocsp_req *r);
/* The fast path for the plain RFC 5019 request shape in strict DER; false
 * sends the caller to pki_ocsp_req_parse (see pki_ocsp.c). */
bool pki_ocsp_req_fast(const uint8_t *der, size_t len, struct pki_ocsp_req *out);

struct pki_ocsp_cache *pki_ocsp_cache_new(size_t max);
void pki_ocsp_cache_free(struct pki_ocsp_cache *c);
/* Signs and caches the response for one certificate (status from the
 * store unless given). Blocking. */
int pki_ocsp_presign(struct pki *p, struct pki_ca *ca, const uint8_t *serial,
		     size_t serial_len, struct bw_err *err);
void pki_ocsp_tick(struct pki *p, int64_t now);
size_t pki_ocsp_cache_count(struct pki *p);

/* The GET form's path segment (percent-encoded base64 of the DER
 * request) into out. 0, or -1 when it is not that. */
int pki_http_ocsp_get_decode(const char *p, size_t len, uint8_t *out,
			     size_t cap, size_t *outlen);

/* CRL */
int pki_crl_generate_ca(struct pki *p, struct pki_ca *ca, struct bw_err *err);

#endif
