/*
 * pki_ocsp.c — the OCSP responder core (RFC 6960, nonces per RFC 8954):
 * request parsing, response signing by each CA's delegated responder,
 * and the cache of pre-signed responses that makes serving a lookup.
 *
 * Cache: keyed by (CA index, CertID hash algorithm, serial). A response
 * is pre-signed (SHA-1 CertID, what clients send by default) when a
 * certificate is issued or revoked and re-signed by pki_tick once older
 * than ocsp_refresh_s; requests with a SHA-256 CertID are signed once on
 * their first miss and cached the same way. Responses for unknown
 * serials and responses echoing a nonce are never cached, so nothing an
 * unauthenticated client sends can fill the cache.
 *
 * Invariants: a cached response is replaced, never edited; readers copy
 * it under the shard's read lock. The cache never holds more than its
 * configured maximum (inserts past it are counted and skipped).
 */
#include "pki/pki_int.h"

#include <string.h>

#include <openssl/err.h>

#define SHARDS 64

struct ocsp_entry {
	struct ocsp_entry *next;
	uint32_t ca_idx;
	uint8_t alg;        /* 0 SHA-1, 1 SHA-256 */
	uint8_t serial_len;
	uint8_t serial[20];
	int64_t produced;
	uint8_t *der;
	size_t len;
};

struct shard {
	pthread_rwlock_t mu;
	struct ocsp_entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
};

struct pki_ocsp_cache {
	struct shard shards[SHARDS];
	size_t max;
	atomic_size_t count;
	/* Fixed error answers, encoded once by OpenSSL. */
	uint8_t *malformed, *unauthorized, *try_later;
	size_t malformed_len, unauthorized_len, try_later_len;
};

static uint64_t key_hash(uint32_t ca, uint8_t alg, const uint8_t *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	uint8_t hdr[5] = { (uint8_t)ca, (uint8_t)(ca >> 8), (uint8_t)(ca >> 16),
			   (uint8_t)(ca >> 24), alg };
	for (size_t i = 0; i < sizeof(hdr); i++)
		h = (h ^ hdr[i]) * 1099511628211ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

static int status_der(int status, uint8_t **der, size_t *len)
{
	OCSP_RESPONSE *r = OCSP_response_create(status, NULL);
	unsigned char *d = NULL;
	int n = r ? i2d_OCSP_RESPONSE(r, &d) : -1;
	OCSP_RESPONSE_free(r);
	if (n <= 0)
		return -1;
	*der = malloc((size_t)n);
	if (*der)
		memcpy(*der, d, (size_t)n);
	OPENSSL_free(d);
	*len = (size_t)n;
	return *der ? 0 : -1;
}

struct pki_ocsp_cache *pki_ocsp_cache_new(size_t max)
{
	struct pki_ocsp_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->max = max;
	size_t per = max / SHARDS + 1, nb = 16;
	while (nb < per)
		nb <<= 1;
	for (int i = 0; i < SHARDS; i++) {
		pthread_rwlock_init(&c->shards[i].mu, NULL);
		c->shards[i].nbuckets = nb;
		c->shards[i].buckets = calloc(nb, sizeof(struct ocsp_entry *));
		if (!c->shards[i].buckets)
			goto fail;
	}
	if (status_der(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, &c->malformed,
		       &c->malformed_len) < 0 ||
	    status_der(OCSP_RESPONSE_STATUS_UNAUTHORIZED, &c->unauthorized,
		       &c->unauthorized_len) < 0 ||
	    status_der(OCSP_RESPONSE_STATUS_TRYLATER, &c->try_later,
		       &c->try_later_len) < 0)
		goto fail;
	return c;
fail:
	pki_ocsp_cache_free(c);
	return NULL;
}

void pki_ocsp_cache_free(struct pki_ocsp_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shards[i];
		for (size_t b = 0; s->buckets && b < s->nbuckets; b++) {
			struct ocsp_entry *e = s->buckets[b];
			while (e) {
				struct ocsp_entry *n = e->next;
				free(e->der);
				free(e);
				e = n;
			}
		}
		free(s->buckets);
		pthread_rwlock_destroy(&s->mu);
	}
	free(c->malformed);
	free(c->unauthorized);
	free(c->try_later);
	free(c);
}

size_t pki_ocsp_cache_count(struct pki *p)
{
	return atomic_load(&p->cache->count);
}

/* Copies the cached response into out. 1 hit, 0 miss, -1 out full. */
static int cache_get(struct pki_ocsp_cache *c, uint32_t ca, uint8_t alg,
		     const uint8_t *serial, size_t n, struct bw_buf *out)
{
	uint64_t h = key_hash(ca, alg, serial, n);
	struct shard *s = &c->shards[h % SHARDS];
	int rc = 0;
	pthread_rwlock_rdlock(&s->mu);
	for (struct ocsp_entry *e = s->buckets[(h / SHARDS) & (s->nbuckets - 1)]; e;
	     e = e->next) {
		if (e->ca_idx == ca && e->alg == alg && e->serial_len == n &&
		    memcmp(e->serial, serial, n) == 0) {
			rc = bw_buf_append(out, e->der, e->len) < 0 ? -1 : 1;
			break;
		}
	}
	pthread_rwlock_unlock(&s->mu);
	return rc;
}

/* Inserts or replaces; takes ownership of der (freed when not kept). */
static void cache_put(struct pki_ocsp_cache *c, uint32_t ca, uint8_t alg,
		      const uint8_t *serial, size_t n, int64_t produced,
		      uint8_t *der, size_t len)
{
	uint64_t h = key_hash(ca, alg, serial, n);
	struct shard *s = &c->shards[h % SHARDS];
	pthread_rwlock_wrlock(&s->mu);
	struct ocsp_entry **head = &s->buckets[(h / SHARDS) & (s->nbuckets - 1)];
	for (struct ocsp_entry *e = *head; e; e = e->next) {
		if (e->ca_idx == ca && e->alg == alg && e->serial_len == n &&
		    memcmp(e->serial, serial, n) == 0) {
			uint8_t *old = e->der;
			e->der = der;
			e->len = len;
			e->produced = produced;
			pthread_rwlock_unlock(&s->mu);
			free(old);
			return;
		}
	}
	struct ocsp_entry *e = NULL;
	if (atomic_load(&c->count) < c->max && (e = calloc(1, sizeof(*e))) != NULL) {
		e->ca_idx = ca;
		e->alg = alg;
		e->serial_len = (uint8_t)n;
		memcpy(e->serial, serial, n);
		e->produced = produced;
		e->der = der;
		e->len = len;
		e->next = *head;
		*head = e;
		s->count++;
		atomic_fetch_add(&c->count, 1);
	}
	pthread_rwlock_unlock(&s->mu);
	if (!e)
		free(der);
}

/* ------------------------------------------------------------ requests */

void pki_ocsp_req_fini(struct pki_ocsp_req *r)
{
	OCSP_REQUEST_free(r->req);
	r->req = NULL;
	r->cid = NULL;
}

/* One DER TLV at *p (before end) with tag `tag` and a minimal definite
 * length below 64 KiB: OUT its contents [*c, *c + *n); *p moves past it. */
static bool tlv(const uint8_t **p, const uint8_t *end, uint8_t tag, const uint8_t **c,
		size_t *n)
{
	const uint8_t *q = *p;
	if (end - q < 2 || q[0] != tag)
		return false;
	size_t len = q[1];
	q += 2;
	if (len == 0x81) {
		if (end - q < 1 || q[0] < 0x80)
			return false;
		len = q[0];
		q += 1;
	} else if (len == 0x82) {
		if (end - q < 2 || q[0] == 0)
			return false;
		len = (size_t)q[0] << 8 | q[1];
		q += 2;
	} else if (len > 0x7f) {
		return false;
	}
	if ((size_t)(end - q) < len)
		return false;
	*c = q;
	*n = len;
	*p = q + len;
	return true;
}

/*
 * The fast path of the request parser: the one shape every browser and
 * `openssl ocsp` without a nonce send (RFC 5019), in strict DER —
 * OCSPRequest { tbsRequest { requestList { Request { CertID } } } } with
 * no version, requestor name, extensions or signature, a SHA-1 or SHA-256
 * AlgorithmIdentifier (parameters NULL or absent) and a positive, minimally
 * encoded serial. Anything else returns false and goes to the full parser
 * (OpenSSL's), so this only ever accepts a subset of what that accepts,
 * with the same fields (fuzz_pki_ocsp checks both agree). OUT: out's
 * hashes and serial (req and cid stay NULL).
 */
bool pki_ocsp_req_fast(const uint8_t *der, size_t len, struct pki_ocsp_req *out)
{
	static const uint8_t sha1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
	static const uint8_t sha256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
	const uint8_t *end = der + len, *p = der, *c, *tbs, *list, *rq, *cid, *alg, *oid;
	size_t n;
	memset(out, 0, sizeof(*out));
	if (!tlv(&p, end, 0x30, &c, &n) || p != end)
		return false; /* OCSPRequest, nothing after it */
	p = c, end = c + n;
	if (!tlv(&p, end, 0x30, &tbs, &n) || p != end)
		return false; /* tbsRequest only: no optionalSignature */
	p = tbs, end = tbs + n;
	if (!tlv(&p, end, 0x30, &list, &n) || p != end)
		return false; /* requestList only: no version, name, extensions */
	p = list, end = list + n;
	if (!tlv(&p, end, 0x30, &rq, &n) || p != end)
		return false; /* exactly one Request */
	p = rq, end = rq + n;
	if (!tlv(&p, end, 0x30, &cid, &n) || p != end)
		return false; /* CertID, no singleRequestExtensions */
	p = cid, end = cid + n;
	const uint8_t *cend = end;
	if (!tlv(&p, cend, 0x30, &alg, &n))
		return false;
	const uint8_t *a = alg, *aend = alg + n;
	size_t on;
	if (!tlv(&a, aend, 0x06, &oid, &on))
		return false;
	if (a != aend && !(aend - a == 2 && a[0] == 0x05 && a[1] == 0x00))
		return false; /* parameters: absent or NULL */
	size_t hl;
	if (on == sizeof(sha1) && memcmp(oid, sha1, on) == 0)
		out->hash_nid = NID_sha1, hl = 20;
	else if (on == sizeof(sha256) && memcmp(oid, sha256, on) == 0)
		out->hash_nid = NID_sha256, hl = 32;
	else
		return false;
	const uint8_t *nh, *kh, *sn;
	size_t nl, kl, sl;
	if (!tlv(&p, cend, 0x04, &nh, &nl) || nl != hl || !tlv(&p, cend, 0x04, &kh, &kl) ||
	    kl != hl || !tlv(&p, cend, 0x02, &sn, &sl) || p != cend)
		return false;
	/* positive, minimal: a leading 0x00 only before a byte >= 0x80 */
	if (sl == 0 || sn[0] >= 0x80 || (sn[0] == 0 && (sl == 1 || sn[1] < 0x80)))
		return false;
	if (sn[0] == 0)
		sn++, sl--;
	if (sl > sizeof(out->serial))
		return false;
	memcpy(out->name_hash, nh, hl);
	memcpy(out->key_hash, kh, hl);
	out->name_hash_len = out->key_hash_len = hl;
	memcpy(out->serial, sn, sl);
	out->serial_len = sl;
	return true;
}

static int bad(struct bw_err *err, const char *reason, const char *msg)
{
	ERR_clear_error();
	return bw_err_set(err, 400, PKI_MOD, reason, "%s", msg);
}

int pki_ocsp_req_parse(const uint8_t *der, size_t len, struct pki_ocsp_req *out,
		       struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (len == 0 || len > PKI_OCSP_REQ_MAX)
		return bad(err, "ocsp_size", "OCSP request empty or too large");
	const unsigned char *q = der;
	out->req = d2i_OCSP_REQUEST(NULL, &q, (long)len);
	if (!out->req || q != der + len) {
		pki_ocsp_req_fini(out);
		return bad(err, "ocsp_parse", "not a DER OCSPRequest");
	}
	/* One certificate per request, as the Lightweight OCSP Profile (RFC
	 * 5019) and every browser do: it keeps responses cacheable. */
	if (OCSP_request_onereq_count(out->req) != 1)
		goto count;
	OCSP_ONEREQ *one = OCSP_request_onereq_get0(out->req, 0);
	out->cid = OCSP_onereq_get0_id(one);
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *sn = NULL;
	if (!out->cid || !OCSP_id_get0_info(&nh, &md, &kh, &sn, out->cid))
		goto malformed;
	out->hash_nid = OBJ_obj2nid(md);
	size_t hl = out->hash_nid == NID_sha1 ? 20 : out->hash_nid == NID_sha256 ? 32 : 0;
	if (hl == 0) {
		pki_ocsp_req_fini(out);
		return bad(err, "ocsp_hash", "CertID hash must be SHA-1 or SHA-256");
	}
	if ((size_t)ASN1_STRING_length(nh) != hl || (size_t)ASN1_STRING_length(kh) != hl)
		goto malformed;
	memcpy(out->name_hash, ASN1_STRING_get0_data(nh), hl);
	memcpy(out->key_hash, ASN1_STRING_get0_data(kh), hl);
	out->name_hash_len = out->key_hash_len = hl;
	int sl = ASN1_STRING_length(sn);
	if (ASN1_STRING_type(sn) != V_ASN1_INTEGER || sl < 1 || sl > 20)
		goto malformed;
	memcpy(out->serial, ASN1_STRING_get0_data(sn), (size_t)sl);
	out->serial_len = (size_t)sl;
	for (int i = 0; i < OCSP_ONEREQ_get_ext_count(one); i++)
		if (X509_EXTENSION_get_critical(OCSP_ONEREQ_get_ext(one, i)))
			goto critical;
	for (int i = 0; i < OCSP_REQUEST_get_ext_count(out->req); i++) {
		X509_EXTENSION *x = OCSP_REQUEST_get_ext(out->req, i);
		if (OBJ_obj2nid(X509_EXTENSION_get_object(x)) != NID_id_pkix_OCSP_Nonce) {
			if (X509_EXTENSION_get_critical(x))
				goto critical;
			continue;
		}
		if (out->has_nonce)
			goto malformed;
		/* Nonce ::= OCTET STRING inside the extension's OCTET STRING */
		const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(x);
		const unsigned char *p = ASN1_STRING_get0_data(v);
		ASN1_OCTET_STRING *inner =
			d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(v));
		int il = inner ? ASN1_STRING_length(inner) : -1;
		bool ok = inner && p == ASN1_STRING_get0_data(v) + ASN1_STRING_length(v) &&
			  il >= 1 && il <= PKI_OCSP_NONCE_MAX;
		if (ok) {
			memcpy(out->nonce, ASN1_STRING_get0_data(inner), (size_t)il);
			out->nonce_len = (size_t)il;
			out->has_nonce = true;
		}
		ASN1_OCTET_STRING_free(inner);
		if (!ok) {
			pki_ocsp_req_fini(out);
			return bad(err, "ocsp_nonce", "nonce must be an OCTET STRING of "
						      "1 to 32 bytes");
		}
	}
	ERR_clear_error();
	return 0;
count:
	pki_ocsp_req_fini(out);
	return bad(err, "ocsp_count", "exactly one CertID per request");
critical:
	pki_ocsp_req_fini(out);
	return bad(err, "ocsp_critical", "unknown critical extension");
malformed:
	pki_ocsp_req_fini(out);
	return bad(err, "ocsp_parse", "malformed CertID or extension");
}

/* ------------------------------------------------------------ responses */

struct cert_status {
	bool found;
	int64_t status, revoked_at, reason;
};

static int status_cb(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct cert_status *s = arg;
	s->found = true;
	s->status = store_row_int64(row, 0);
	s->revoked_at = store_row_int64(row, 1);
	s->reason = store_row_int64(row, 2);
	return STORE_ROW_STOP;
}

static int lookup_status(struct pki *p, const struct pki_ca *ca,
			 const uint8_t *serial, size_t n, struct cert_status *st,
			 struct bw_err *err)
{
	char hex[41];
	memset(st, 0, sizeof(*st));
	if (n == 0 || n > 20)
		return 0;
	pki_serial_hex(serial, n, hex);
	struct store_value v[] = { store_text_str(hex), store_text_str(ca->id) };
	return store_query_one(p->st, "SELECT status, revoked_at, reason FROM pki_cert"
				      " WHERE serial = ? AND ca_id = ?",
			       v, 2, status_cb, st, err) < 0 ? -1 : 0;
}

/* Signs one response for cid. nonce may be NULL. */
static int sign_response(struct pki *p, struct pki_responder *r,
			 OCSP_CERTID *cid, const struct cert_status *st,
			 const uint8_t *nonce, size_t nonce_len, int64_t now,
			 uint8_t **der, size_t *len, struct bw_err *err)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	ASN1_TIME *tu = ASN1_TIME_new(), *nu = ASN1_TIME_new(), *rt = NULL;
	int rc = -1;
	if (!bs || !tu || !nu ||
	    !ASN1_GENERALIZEDTIME_set(tu, (time_t)now) ||
	    !ASN1_GENERALIZEDTIME_set(nu, (time_t)(now + p->ocsp_validity_s)))
		goto ssl;
	int status = V_OCSP_CERTSTATUS_UNKNOWN, reason = OCSP_REVOKED_STATUS_NOSTATUS;
	if (st->found && st->status == PKI_CERT_REVOKED) {
		status = V_OCSP_CERTSTATUS_REVOKED;
		rt = ASN1_TIME_new();
		if (!rt || !ASN1_GENERALIZEDTIME_set(rt, (time_t)st->revoked_at))
			goto ssl;
		if (st->reason != PKI_REASON_UNSPECIFIED)
			reason = (int)st->reason;
	} else if (st->found) {
		status = V_OCSP_CERTSTATUS_GOOD;
	}
	if (!OCSP_basic_add1_status(bs, cid, status, reason, rt, tu, nu))
		goto ssl;
	if (nonce && !OCSP_basic_add1_nonce(bs, (unsigned char *)nonce, (int)nonce_len))
		goto ssl;
	rc = pki_sign_ocsp(r->signer, r->cert, r->stand_in, bs, now, der, len, err);
	if (rc == 0)
		atomic_fetch_add(&p->ocsp_signed, 1);
	goto out;
ssl:
	pki_err_ssl(err, "encode", "OCSP response");
out:
	OCSP_BASICRESP_free(bs);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	ASN1_TIME_free(rt);
	return rc;
}

static int append_fixed(struct bw_buf *out, const uint8_t *d, size_t n,
			struct bw_err *err)
{
	if (bw_buf_append(out, d, n) < 0)
		return bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	return 1;
}

int pki_ocsp_presign(struct pki *p, struct pki_ca *ca, const uint8_t *serial,
		     size_t serial_len, struct bw_err *err)
{
	struct cert_status st;
	if (lookup_status(p, ca, serial, serial_len, &st, err) < 0)
		return -1;
	if (!st.found)
		return bw_err_set(err, 404, PKI_MOD, "not_found", "no such certificate");
	struct pki_responder *r = pki_ca_responder(p, ca);
	if (!r)
		return bw_err_set(err, 503, PKI_MOD, "no_responder",
				  "the CA has no OCSP responder yet");
	int rc = -1;
	uint8_t *der = NULL;
	size_t len = 0;
	BIGNUM *bn = BN_bin2bn(serial, (int)serial_len, NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	pthread_rwlock_rdlock(&p->mu);
	OCSP_CERTID *cid = ai ? OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca->cert),
						 X509_get0_pubkey_bitstr(ca->cert), ai) :
				NULL;
	pthread_rwlock_unlock(&p->mu);
	if (!cid) {
		pki_err_ssl(err, "encode", "CertID");
		goto out;
	}
	int64_t now = bw_clock_now_s();
	if (sign_response(p, r, cid, &st, NULL, 0, now, &der, &len, err) < 0)
		goto out;
	cache_put(p->cache, ca->idx, 0, serial, serial_len, now, der, len);
	rc = 0;
out:
	OCSP_CERTID_free(cid);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	pki_responder_unref(r);
	return rc;
}

/* The CA the request names, checked against the CA in the URL. */
static struct pki_ca *match_ca(struct pki *p, const char *ca_id,
			       const struct pki_ocsp_req *r)
{
	pthread_rwlock_rdlock(&p->mu);
	struct pki_ca *ca = pki_ca_find_locked(p, ca_id);
	if (ca && ca->cert) {
		bool sha1 = r->hash_nid == NID_sha1;
		const uint8_t *nh = sha1 ? ca->name_sha1 : ca->name_sha256;
		const uint8_t *kh = sha1 ? ca->key_sha1 : ca->key_sha256;
		if (memcmp(nh, r->name_hash, r->name_hash_len) != 0 ||
		    memcmp(kh, r->key_hash, r->key_hash_len) != 0)
			ca = NULL;
	} else {
		ca = NULL;
	}
	pthread_rwlock_unlock(&p->mu);
	return ca;
}

int pki_ocsp_lookup(struct pki *p, const char *ca_id, const uint8_t *req,
		    size_t len, struct bw_buf *out, struct bw_err *err)
{
	struct pki_ocsp_cache *c = p->cache;
	struct pki_ocsp_req r;
	atomic_fetch_add(&p->ocsp_requests, 1);
	if (!pki_ocsp_req_fast(req, len, &r) && pki_ocsp_req_parse(req, len, &r, NULL) < 0) {
		atomic_fetch_add(&p->ocsp_malformed, 1);
		return append_fixed(out, c->malformed, c->malformed_len, err);
	}
	int rc = 0;
	struct pki_ca *ca = match_ca(p, ca_id, &r);
	if (!ca) {
		atomic_fetch_add(&p->ocsp_unauthorized, 1);
		rc = append_fixed(out, c->unauthorized, c->unauthorized_len, err);
	} else if (!(r.has_nonce && p->ocsp_sign_nonces)) {
		rc = cache_get(c, ca->idx, r.hash_nid == NID_sha1 ? 0 : 1, r.serial,
			       r.serial_len, out);
		if (rc < 0)
			bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
		else if (rc == 1)
			atomic_fetch_add(&p->ocsp_hits, 1);
	}
	pki_ocsp_req_fini(&r);
	return rc;
}

int pki_ocsp_respond(struct pki *p, const char *ca_id, const uint8_t *req,
		     size_t len, struct bw_buf *out, struct bw_err *err)
{
	struct pki_ocsp_cache *c = p->cache;
	struct pki_ocsp_req r;
	if (pki_ocsp_req_parse(req, len, &r, NULL) < 0)
		return append_fixed(out, c->malformed, c->malformed_len, err) < 0 ? -1 : 0;
	int rc = -1;
	uint8_t *der = NULL;
	size_t dlen = 0;
	struct pki_responder *resp = NULL;
	struct pki_ca *ca = match_ca(p, ca_id, &r);
	uint8_t alg = r.hash_nid == NID_sha1 ? 0 : 1;
	bool with_nonce = r.has_nonce && p->ocsp_sign_nonces;
	if (!ca) {
		rc = append_fixed(out, c->unauthorized, c->unauthorized_len, err) < 0 ? -1 : 0;
		goto out;
	}
	if (!with_nonce) {
		int hit = cache_get(c, ca->idx, alg, r.serial, r.serial_len, out);
		if (hit != 0) {
			rc = hit < 0 ? bw_err_set(err, 413, PKI_MOD, "too_large", "full") : 0;
			goto out;
		}
	}
	struct cert_status st;
	resp = pki_ca_responder(p, ca);
	if (!resp || lookup_status(p, ca, r.serial, r.serial_len, &st, err) < 0) {
		/* RFC 6960 2.3: tryLater when the responder cannot answer now */
		rc = append_fixed(out, c->try_later, c->try_later_len, err) < 0 ? -1 : 0;
		goto out;
	}
	int64_t now = bw_clock_now_s();
	if (sign_response(p, resp, r.cid, &st, with_nonce ? r.nonce : NULL, r.nonce_len,
			  now, &der, &dlen, err) < 0) {
		rc = append_fixed(out, c->try_later, c->try_later_len, err) < 0 ? -1 : 0;
		goto out;
	}
	if (bw_buf_append(out, der, dlen) < 0) {
		bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
		goto out;
	}
	if (!st.found)
		atomic_fetch_add(&p->ocsp_unknown, 1);
	if (st.found && !with_nonce) {
		cache_put(c, ca->idx, alg, r.serial, r.serial_len, now, der, dlen);
		der = NULL;
	}
	rc = 0;
out:
	free(der);
	pki_responder_unref(resp);
	pki_ocsp_req_fini(&r);
	return rc;
}

/* ------------------------------------------------------------ refresh */

struct stale {
	uint32_t ca_idx;
	uint8_t alg, serial_len;
	uint8_t serial[20];
};

void pki_ocsp_tick(struct pki *p, int64_t now)
{
	struct pki_ocsp_cache *c = p->cache;
	size_t cap = PKI_OCSP_REFRESH_BATCH, n = 0;
	struct stale *list = malloc(cap * sizeof(*list));
	if (!list)
		return;
	int64_t cutoff = now - p->ocsp_refresh_s;
	for (int i = 0; i < SHARDS && n < cap; i++) {
		struct shard *s = &c->shards[i];
		pthread_rwlock_rdlock(&s->mu);
		for (size_t b = 0; b < s->nbuckets && n < cap; b++)
			for (struct ocsp_entry *e = s->buckets[b]; e && n < cap; e = e->next)
				if (e->produced <= cutoff) {
					list[n].ca_idx = e->ca_idx;
					list[n].alg = e->alg;
					list[n].serial_len = e->serial_len;
					memcpy(list[n].serial, e->serial, e->serial_len);
					n++;
				}
		pthread_rwlock_unlock(&s->mu);
	}
	for (size_t i = 0; i < n; i++) {
		pthread_rwlock_rdlock(&p->mu);
		struct pki_ca *ca = list[i].ca_idx < p->ncas ? p->cas[list[i].ca_idx] : NULL;
		X509 *cacert = ca ? ca->cert : NULL;
		pthread_rwlock_unlock(&p->mu);
		if (!ca || !cacert)
			continue;
		struct bw_err e;
		if (list[i].alg == 0) {
			if (pki_ocsp_presign(p, ca, list[i].serial, list[i].serial_len, &e) < 0)
				log_warnx("pki: OCSP refresh on CA %s: %s", ca->id, e.msg);
			continue;
		}
		/* SHA-256 CertIDs: rebuild the CertID the same way. */
		struct cert_status st;
		struct pki_responder *r = pki_ca_responder(p, ca);
		BIGNUM *bn = BN_bin2bn(list[i].serial, list[i].serial_len, NULL);
		ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
		OCSP_CERTID *cid = ai ? OCSP_cert_id_new(EVP_sha256(),
							 X509_get_subject_name(cacert),
							 X509_get0_pubkey_bitstr(cacert), ai) :
					NULL;
		uint8_t *der = NULL;
		size_t len = 0;
		if (r && cid &&
		    lookup_status(p, ca, list[i].serial, list[i].serial_len, &st, &e) == 0 &&
		    st.found &&
		    sign_response(p, r, cid, &st, NULL, 0, now, &der, &len, &e) == 0)
			cache_put(c, ca->idx, 1, list[i].serial, list[i].serial_len, now,
				  der, len);
		OCSP_CERTID_free(cid);
		ASN1_INTEGER_free(ai);
		BN_free(bn);
		pki_responder_unref(r);
	}
	free(list);
}
