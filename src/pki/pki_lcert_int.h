/*
 * pki_lcert_int.h — what the listener-certificate files share: the
 * blocking HTTP client the ACME client and OCSP fetches use, the ACME
 * client itself and the manager's state. No other module includes it.
 */
#ifndef BW_PKI_LCERT_INT_H
#define BW_PKI_LCERT_INT_H

#include "pki/pki_int.h"

/* ------------------------------------------------------- HTTP (blocking) */

struct pki_http_resp {
	long status;
	struct bw_buf body;       /* bounded by PKI_LCERT_HTTP_BODY_MAX */
	char nonce[128];          /* Replay-Nonce, "" if none */
	char location[512];       /* Location, "" if none */
	char content_type[128];
};

/*
 * One blocking request with libcurl's easy interface on the calling
 * thread (the manager's own thread; never an event loop). Strict like
 * net_fetch: http and https only, no redirects, TLS 1.2+, peer and host
 * verified against ca_file (NULL: the system store), no proxy from the
 * environment, PKI_LCERT_HTTP_TIMEOUT_MS, bodies bounded. method is
 * "GET", "HEAD" or "POST" (body, ctype); header, when not NULL, is one
 * more request header line ("Authorization: Bearer ..."); stop, when not
 * NULL, aborts the transfer as soon as that manager is stopping (so a
 * shutdown never waits for a slow CA). OUT: r (release with
 * pki_http_resp_fini). Returns 0 when a response arrived (any status) or
 * -1 with err (502 "fetch").
 */
struct pki_lcert;
int pki_http_do(const char *method, const char *url, const char *ca_file,
		const char *ctype, const void *body, size_t len, const char *header,
		struct pki_lcert *stop, struct pki_http_resp *r, struct bw_err *err);
void pki_http_resp_fini(struct pki_http_resp *r);

/* ------------------------------------------------------- ACME client */

struct pki_lcert_acme_req {
	const char *directory;   /* directory URL */
	const char *ca_file;     /* trust for the ACME server; NULL: system */
	const char *contact;     /* "mailto:..." or NULL */
	const char *eab_kid, *eab_hmac; /* external account binding or NULL */
	const char *const *names; size_t nnames; /* DNS names or IPs */
	/* the account key, in the keystore (borrowed) */
	const struct pki_signer *account;
	char kid[512];           /* IN/OUT: the account URL once known */
	EVP_PKEY *cert_key;      /* the certificate's key (borrowed) */
	/* http-01: the manager publishes token -> key authorization */
	void (*publish)(void *arg, const char *token, const char *keyauth);
	void (*unpublish)(void *arg, const char *token);
	void *arg;
	struct pki_lcert *m;     /* for the stop flag */
};

/*
 * Runs RFC 8555 end to end: directory, nonce, account (new or found by
 * its key), order, http-01 for every authorization, finalize with a CSR
 * for cert_key, polling, download. OUT: *chain_pem (malloc'd PEM chain,
 * leaf first). Blocking; bounded in time by PKI_LCERT_ACME_DEADLINE_S.
 * Returns 0 or -1 with err (the ACME problem's type and detail).
 */
int pki_lcert_acme_obtain(struct pki_lcert_acme_req *q, char **chain_pem,
			  size_t *chain_len, struct bw_err *err);

/* true once pki_lcert_free started: long operations stop. */
bool pki_lcert_stopping(struct pki_lcert *m);

/* The RFC 7638 thumbprint (base64url SHA-256) and public JWK (JSON
 * text) of an ES256 / RS256 key. 0 or -1. */
int pki_lcert_jwk(EVP_PKEY *pub, struct bw_buf *jwk, char thumb[64]);

#endif
