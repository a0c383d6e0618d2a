/*
 * pki_lcert.c — the certificates of bulwark's own TLS listeners: obtained
 * and renewed from bulwark's private CA (pki_issue, no ACME) or from any
 * ACME CA (pki_lcert_acme.c), hot-swapped into the running listeners,
 * stapled with a fresh OCSP response, and watched for expiry together with
 * every certificate the CA issued.
 *
 * One thread does all of it (blocking work: issuance, keystore signatures,
 * HTTP), woken every check interval or by pki_lcert_kick. Every decision
 * reads the settable clock (bw_clock_now_s), so tests move time instead of
 * waiting; the interval is only how often the thread looks.
 *
 * Listeners come and go with configuration generations: the daemon
 * attaches each listener's struct net_tls when it builds it and detaches
 * it before the generation is freed. A managed listener's certificate is
 * slot 0 (the default) of its net_tls; connections already open keep the
 * certificate they started with (net_tls_set_cert), so a renewal drops
 * nothing.
 *
 * Locking: m->mu guards the certificate states, the attachments, the
 * http-01 tokens and the alert memory. Blocking work runs without it on
 * copies; results are installed under it. Private keys of listener
 * certificates exist only in this process's memory (the worker holds TLS
 * keys anyway), as PEM in OpenSSL's secure heap-free buffers that are
 * wiped when replaced; ACME account keys live in the keystore.
 */
#include "pki/pki_lcert_int.h"
#include "audit/audit.h"
#include "event/event.h"
#include "json/json.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lc {
	struct pki_lcert_spec spec; /* strings owned (strdup) */
	char *names_store[PKI_LCERT_NAMES_MAX];
	/* current certificate (under m->mu) */
	char *chain_pem; size_t chain_len; /* leaf first */
	char *key_pem; size_t key_len;     /* wiped when replaced */
	char serial[41];
	int64_t not_before, not_after;
	/* renewal bookkeeping */
	int64_t next_attempt, backoff;
	bool force;
	uint64_t renewals, failures;
	char last_error[256];
	char kid[512];                     /* ACME account URL */
	char account_key[PKI_KEY_ID_MAX];  /* ACME account key (keystore id) */
	/* identities: the parsed current certificate, chain and key handed to
	 * TLS clients (references taken under m->mu) */
	X509 *leaf;
	STACK_OF(X509) *chain;
	EVP_PKEY *pkey;
	uint64_t generation;
};

struct attach {
	char listener[32];
	struct net_tls *tls;
	/* the stapled response of slot 0 */
	uint8_t *ocsp; size_t ocsp_len;
	int64_t ocsp_this, ocsp_next;
	char ocsp_serial[41];
	char ocsp_error[160];
	int64_t ocsp_retry;
};

struct token {
	char token[PKI_LCERT_TOKEN_MAX + 1];
	char keyauth[PKI_LCERT_TOKEN_MAX + 64];
};

struct pki_lcert {
	struct pki *pki;
	struct store *st;
	const struct pki_keystore *keys;
	struct audit_log *audit;
	char key_tenant[PKI_TENANT_MAX + 1];
	int64_t check_ms;
	int alert_days[PKI_LCERT_ALERTS_MAX];
	size_t nalerts;
	bool staple;
	struct pki_lcert_sealer sealer; /* .seal NULL: nothing is kept */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool started, stop, kicked;

	struct lc *lcs; size_t nlcs;
	struct attach att[PKI_LCERT_ATTACH_MAX]; size_t natt;
	struct token tokens[PKI_LCERT_TOKENS_MAX]; size_t ntokens;
	uint64_t *alerted; size_t nalerted; /* open addressing, 0 = empty */
	uint64_t alerts_sent;
};

static const char *const lcert_schema[] = {
	/* 1: the ACME account per directory (its key is in the keystore) */
	"CREATE TABLE pki_lcert_account (directory TEXT PRIMARY KEY,"
	" key_id TEXT NOT NULL, kid TEXT NOT NULL, created BIGINT NOT NULL)",
	/* 2: each listener's current certificate, its key sealed, and the
	 * spec it was obtained for (a changed spec is not restored) */
	"CREATE TABLE pki_lcert_current (listener TEXT PRIMARY KEY,"
	" spec TEXT NOT NULL, chain TEXT NOT NULL, sealed_key BLOB NOT NULL,"
	" not_after BIGINT NOT NULL, updated BIGINT NOT NULL)",
};

bool pki_lcert_stopping(struct pki_lcert *m)
{
	pthread_mutex_lock(&m->mu);
	bool s = m->stop;
	pthread_mutex_unlock(&m->mu);
	return s;
}

static void wipe_free(char *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
	free(p);
}

static void audit_sys(struct pki_lcert *m, const char *action, const char *target,
		      bool ok, const char *details)
{
	if (!m->audit)
		return;
	struct audit_record r = {
		.actor = { .tenant = bw_str_make("platform", 8), .kind = AUDIT_ACTOR_SYSTEM,
			   .id = bw_str_make("pki-lcert", 9) },
		.action = bw_str_make(action, strlen(action)),
		.target = bw_str_make(target, strlen(target)),
		.outcome = ok ? AUDIT_OUTCOME_SUCCESS : AUDIT_OUTCOME_FAILURE,
		.details = bw_str_make(details, strlen(details)),
	};
	struct bw_err e;
	if (audit_append(m->audit, &r, NULL, &e) < 0)
		log_warnx("pki: audit refused %s: %s", action, e.msg);
}

/* ----------------------------------------------------------- http-01 */

static void publish(void *arg, const char *token, const char *keyauth)
{
	struct pki_lcert *m = arg;
	pthread_mutex_lock(&m->mu);
	if (m->ntokens < PKI_LCERT_TOKENS_MAX) {
		struct token *t = &m->tokens[m->ntokens++];
		bw_snprintf(t->token, sizeof(t->token), "%s", token);
		bw_snprintf(t->keyauth, sizeof(t->keyauth), "%s", keyauth);
	}
	pthread_mutex_unlock(&m->mu);
}

static void unpublish(void *arg, const char *token)
{
	struct pki_lcert *m = arg;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->ntokens; i++)
		if (strcmp(m->tokens[i].token, token) == 0) {
			m->tokens[i] = m->tokens[--m->ntokens];
			break;
		}
	pthread_mutex_unlock(&m->mu);
}

int pki_lcert_challenge(struct pki_lcert *m, const char *token, size_t len,
			struct bw_buf *out)
{
	if (!m || len == 0 || len > PKI_LCERT_TOKEN_MAX)
		return 0;
	int found = 0;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->ntokens && !found; i++)
		if (bw_ct_equal(m->tokens[i].token, strlen(m->tokens[i].token), token, len)) {
			found = bw_buf_append_str(out, m->tokens[i].keyauth) == 0 ? 1 : -1;
		}
	pthread_mutex_unlock(&m->mu);
	return found;
}

/* ----------------------------------------------------------- install */

/* Leaf facts from a PEM chain: serial, validity. */
static int chain_facts(const char *pem, size_t len, char serial[41], int64_t *nb,
		       int64_t *na, X509 **leaf_out)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!x)
		return -1;
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	pki_serial_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
	int rc = pki_time_to_epoch(X509_get0_notBefore(x), nb) |
		 pki_time_to_epoch(X509_get0_notAfter(x), na);
	if (leaf_out && rc == 0)
		*leaf_out = x;
	else
		X509_free(x);
	return rc ? -1 : 0;
}

/* Under m->mu: puts lc's certificate into every attached TLS of its
 * listener. */
static void install_locked(struct pki_lcert *m, struct lc *lc)
{
	struct net_tls_cert c = { .name = lc->spec.listener,
				  .cert_pem = bw_str_make(lc->chain_pem, lc->chain_len),
				  .key_pem = bw_str_make(lc->key_pem, lc->key_len) };
	for (size_t i = 0; i < m->natt; i++) {
		struct attach *a = &m->att[i];
		if (strcmp(a->listener, lc->spec.listener) != 0)
			continue;
		struct bw_err e;
		if (net_tls_set_cert(a->tls, 0, &c, &e) < 0) {
			log_warnx("pki: listener %s: certificate not installed: %s",
				  a->listener, e.msg);
			continue;
		}
		/* a new leaf needs its own staple */
		free(a->ocsp);
		a->ocsp = NULL;
		a->ocsp_len = 0;
		a->ocsp_next = a->ocsp_this = a->ocsp_retry = 0;
		a->ocsp_serial[0] = '\0';
	}
}

/* ----------------------------------------------------------- sources */

static int obtain_from_ca(struct pki_lcert *m, struct lc *lc, char **chain,
			  size_t *chain_len, char **key, size_t *key_len,
			  struct bw_err *err)
{
	const char *dns[PKI_LCERT_NAMES_MAX], *ips[PKI_LCERT_NAMES_MAX];
	size_t nd = 0, ni = 0;
	for (size_t i = 0; i < lc->spec.nnames; i++) {
		uint8_t b[16];
		const char *n = lc->spec.names[i];
		if (inet_pton(AF_INET, n, b) == 1 || inet_pton(AF_INET6, n, b) == 1)
			ips[ni++] = n;
		else
			dns[nd++] = n;
	}
	const char *uris[1] = { lc->spec.uri };
	bool id = lc->spec.identity != NULL;
	struct pki_issue_req q = {
		.tenant = lc->spec.tenant, .ca_id = lc->spec.ca,
		.profile = id ? PKI_PROFILE_SERVICE : PKI_PROFILE_TLS_SERVER,
		.gen_key = lc->spec.key_type,
		.dns = dns, .ndns = id ? 0 : nd, .ips = ips, .nips = id ? 0 : ni,
		.uris = uris, .nuris = id ? 1 : 0,
		.validity_s = lc->spec.validity_s,
		/* The operator named these in the daemon's own configuration;
		 * a tenant policy is for API callers. */
		.skip_policy = true,
	};
	struct pki_issued is;
	memset(&is, 0, sizeof(is));
	if (pki_issue(m->pki, &q, &is, err) < 0)
		return -1;
	struct bw_buf b;
	bw_buf_init(&b, 64 * 1024);
	int rc = pki_cert_export(m->pki, lc->spec.tenant, is.serial, PKI_PEM, true,
				 &b, err);
	if (rc == 0 && bw_buf_append_byte(&b, '\0') == 0) {
		*chain = bw_buf_detach(&b, chain_len);
		*chain_len -= 1;
		*key = is.key_pem;
		*key_len = is.key_pem_len;
		is.key_pem = NULL; /* ours now; wiped by the caller */
		is.key_pem_len = 0;
	} else {
		rc = rc < 0 ? -1 : bw_err_set(err, 500, PKI_MOD, "memory", "chain too large");
	}
	bw_buf_fini(&b);
	pki_issued_fini(&is);
	return rc;
}

struct acct_row {
	char key_id[PKI_KEY_ID_MAX];
	char kid[512];
	bool found;
};

static int acct_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct acct_row *a = arg;
	struct bw_str k = store_row_text(row, 0), u = store_row_text(row, 1);
	bw_snprintf(a->key_id, sizeof(a->key_id), "%.*s", (int)k.len, k.p);
	bw_snprintf(a->kid, sizeof(a->kid), "%.*s", (int)u.len, u.p);
	a->found = true;
	(void)err;
	return 0;
}

struct acct_put {
	const char *dir, *key_id, *kid;
};

static int acct_put(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct acct_put *a = arg;
	struct store_value v[] = { store_text_str(a->dir), store_text_str(a->key_id),
				   store_text_str(a->kid), store_int(bw_clock_now_s()) };
	return store_tx_exec(tx,
			     "INSERT INTO pki_lcert_account (directory, key_id, kid, created)"
			     " VALUES (?, ?, ?, ?) ON CONFLICT (directory) DO UPDATE SET"
			     " key_id = excluded.key_id, kid = excluded.kid",
			     v, 4, err);
}

static int obtain_from_acme(struct pki_lcert *m, struct lc *lc, char **chain,
			    size_t *chain_len, char **key, size_t *key_len,
			    struct bw_err *err)
{
	/* The account: its key in the keystore, found again by directory. */
	struct acct_row ar = { .found = false };
	struct store_value dv[] = { store_text_str(lc->spec.directory) };
	if (store_query(m->st, "SELECT key_id, kid FROM pki_lcert_account WHERE directory = ?",
			dv, 1, acct_row, &ar, err) < 0)
		return -1;
	if (!ar.found &&
	    m->keys->generate(m->keys->ctx, m->key_tenant, PKI_KEY_EC_P256, ar.key_id, err) < 0)
		return -1;
	struct pki_signer *acct = m->keys->open(m->keys->ctx, m->key_tenant, ar.key_id, err);
	if (!acct)
		return -1;
	EVP_PKEY *ck = pki_key_generate(lc->spec.key_type, err);
	int rc = -1;
	if (!ck)
		goto out;
	struct pki_lcert_acme_req q = {
		.directory = lc->spec.directory, .ca_file = lc->spec.ca_file,
		.contact = lc->spec.contact, .eab_kid = lc->spec.eab_kid,
		.eab_hmac = lc->spec.eab_hmac, .names = lc->spec.names,
		.nnames = lc->spec.nnames, .account = acct, .cert_key = ck,
		.publish = publish, .unpublish = unpublish, .arg = m, .m = m,
	};
	bw_snprintf(q.kid, sizeof(q.kid), "%s", ar.kid);
	rc = pki_lcert_acme_obtain(&q, chain, chain_len, err);
	if (q.kid[0] && strcmp(q.kid, ar.kid) != 0) {
		struct acct_put ap = { lc->spec.directory, ar.key_id, q.kid };
		struct bw_err e2;
		if (store_write(m->st, acct_put, &ap, &e2) < 0)
			log_warnx("pki: ACME account not remembered: %s", e2.msg);
		else
			audit_sys(m, "pki.listener_cert.acme_account", lc->spec.listener, true,
				  "{}");
	}
	bw_snprintf(lc->kid, sizeof(lc->kid), "%s", q.kid);
	bw_snprintf(lc->account_key, sizeof(lc->account_key), "%s", ar.key_id);
	if (rc == 0) {
		BIO *b = BIO_new(BIO_s_secmem());
		BUF_MEM *bm = NULL;
		if (b && PEM_write_bio_PrivateKey(b, ck, NULL, NULL, 0, NULL, NULL) == 1 &&
		    BIO_get_mem_ptr(b, &bm) == 1 && (*key = malloc(bm->length + 1)) != NULL) {
			memcpy(*key, bm->data, bm->length);
			(*key)[bm->length] = '\0';
			*key_len = bm->length;
		} else {
			rc = bw_err_set(err, 500, PKI_MOD, "memory", "key export");
			free(*chain);
			*chain = NULL;
		}
		BIO_free(b);
	}
out:
	EVP_PKEY_free(ck);
	pki_signer_free(acct);
	return rc;
}

/* An identity's PEM chain and key as OpenSSL objects. 0 or -1. */
static int identity_parse(const char *chain, size_t chain_len, const char *key,
			  size_t key_len, X509 **leaf, STACK_OF(X509) **rest, EVP_PKEY **pkey)
{
	BIO *b = BIO_new_mem_buf(chain, (int)chain_len);
	BIO *k = BIO_new_mem_buf(key, (int)key_len);
	*rest = sk_X509_new_null();
	*leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	*pkey = k ? PEM_read_bio_PrivateKey(k, NULL, NULL, NULL) : NULL;
	X509 *x;
	while (b && *rest && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(*rest, x) <= 0)
			X509_free(x);
	ERR_clear_error(); /* the loop ends on "no start line" */
	BIO_free(b);
	BIO_free(k);
	if (*leaf && *pkey && *rest && X509_check_private_key(*leaf, *pkey) == 1)
		return 0;
	X509_free(*leaf);
	EVP_PKEY_free(*pkey);
	sk_X509_pop_free(*rest, X509_free);
	*leaf = NULL;
	*pkey = NULL;
	*rest = NULL;
	return -1;
}

/* Checks a certificate and its key and makes them lc's current ones:
 * installed into its listeners, or handed to TLS clients for an identity.
 * Takes *chain and *key (set to NULL) on success. OUT: serial, not_after.
 * Runs on the manager thread; lc's state is written under m->mu. */
static int adopt(struct pki_lcert *m, struct lc *lc, char **chain, size_t chain_len,
		 char **key, size_t key_len, char serial[41], int64_t *na,
		 struct bw_err *err)
{
	int64_t nb = 0;
	if (chain_facts(*chain, chain_len, serial, &nb, na, NULL) < 0)
		return bw_err_set(err, 502, PKI_MOD, "bad_cert", "the certificate does not parse");
	/* The key must fit before anything is swapped. */
	X509 *leaf = NULL;
	STACK_OF(X509) *chain_x = NULL;
	EVP_PKEY *pkey = NULL;
	if (lc->spec.identity &&
	    identity_parse(*chain, chain_len, *key, key_len, &leaf, &chain_x, &pkey) < 0)
		return bw_err_set(err, 500, PKI_MOD, "bad_cert", "identity does not parse");
	struct net_tls_config tc = {
		.certs = &(struct net_tls_cert){ .name = lc->spec.listener,
						 .cert_pem = bw_str_make(*chain, chain_len),
						 .key_pem = bw_str_make(*key, key_len) },
		.ncerts = 1,
	};
	struct net_tls *probe = net_tls_new(&tc, err);
	if (!probe) {
		X509_free(leaf);
		sk_X509_pop_free(chain_x, X509_free);
		EVP_PKEY_free(pkey);
		return -1;
	}
	net_tls_free(probe);
	pthread_mutex_lock(&m->mu);
	wipe_free(lc->key_pem, lc->key_len);
	free(lc->chain_pem);
	lc->chain_pem = *chain;
	lc->chain_len = chain_len;
	lc->key_pem = *key;
	lc->key_len = key_len;
	*chain = *key = NULL;
	bw_snprintf(lc->serial, sizeof(lc->serial), "%s", serial);
	lc->not_before = nb;
	lc->not_after = *na;
	lc->force = false;
	lc->backoff = 0;
	lc->next_attempt = 0;
	lc->last_error[0] = '\0';
	lc->generation++;
	if (lc->spec.identity) {
		X509_free(lc->leaf);
		sk_X509_pop_free(lc->chain, X509_free);
		EVP_PKEY_free(lc->pkey);
		lc->leaf = leaf;
		lc->chain = chain_x;
		lc->pkey = pkey;
	} else {
		install_locked(m, lc);
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/* ------------------------------------------------ kept across restarts */

/* What a kept certificate must have been obtained for to be served
 * again: source, issuer, key type and names (account details such as the
 * contact may change freely). */
static int spec_text(const struct lc *lc, struct bw_buf *b)
{
	const struct pki_lcert_spec *s = &lc->spec;
	/* b's limit is far above a spec's bounded fields; a spec that could
	 * not be written whole matches nothing, which only costs a renewal */
	if (bw_buf_printf(b, "v1|%s|%s|%s|%s|%d|%s",
			  s->source == PKI_LCERT_SOURCE_CA ? "ca" : "acme",
			  s->tenant ? s->tenant : "", s->ca ? s->ca : "",
			  s->directory ? s->directory : "", (int)s->key_type,
			  s->uri ? s->uri : "") < 0)
		return -1;
	for (size_t i = 0; i < s->nnames; i++)
		if (bw_buf_printf(b, "|%s", s->names[i]) < 0)
			return -1;
	return 0;
}

static void seal_aad(const struct lc *lc, char *aad, size_t n)
{
	bw_snprintf(aad, n, "pki-lcert/%s", lc->spec.listener);
}

struct kept {
	const char *listener;
	struct bw_buf spec, chain, sealed;
	int64_t not_after;
	bool found;
};

static int kept_put(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct kept *k = arg;
	struct store_value v[] = { store_text_str(k->listener),
				   store_text(k->spec.data, k->spec.len),
				   store_text(k->chain.data, k->chain.len),
				   store_blob(k->sealed.data, k->sealed.len),
				   store_int(k->not_after), store_int(bw_clock_now_s()) };
	return store_tx_exec(tx,
			     "INSERT INTO pki_lcert_current (listener, spec, chain, sealed_key,"
			     " not_after, updated) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (listener)"
			     " DO UPDATE SET spec = excluded.spec, chain = excluded.chain,"
			     " sealed_key = excluded.sealed_key, not_after = excluded.not_after,"
			     " updated = excluded.updated",
			     v, BW_ARRAY_LEN(v), err);
}

static void kept_init(struct kept *k, const struct lc *lc)
{
	*k = (struct kept){ .listener = lc->spec.listener };
	bw_buf_init(&k->spec, 4096);
	bw_buf_init(&k->chain, PKI_LCERT_KEPT_MAX);
	bw_buf_init(&k->sealed, PKI_LCERT_KEPT_MAX);
}

static void kept_fini(struct kept *k)
{
	bw_buf_fini(&k->spec);
	bw_buf_fini(&k->chain);
	bw_buf_fini(&k->sealed);
}

/* Stores lc's new certificate with its key sealed. A failure costs only
 * a new certificate at the next start, so it is logged, not fatal. */
static void keep(struct pki_lcert *m, struct lc *lc)
{
	if (!m->sealer.seal)
		return;
	struct kept k;
	kept_init(&k, lc);
	char aad[96];
	seal_aad(lc, aad, sizeof(aad));
	struct bw_err err;
	int rc = 0;
	if (spec_text(lc, &k.spec) < 0)
		rc = bw_err_set(&err, 413, PKI_MOD, "too_large", "spec too large to keep");
	pthread_mutex_lock(&m->mu);
	k.not_after = lc->not_after;
	if (rc == 0 && bw_buf_append(&k.chain, lc->chain_pem, lc->chain_len) < 0)
		rc = bw_err_set(&err, 413, PKI_MOD, "too_large", "chain too large to keep");
	if (rc == 0)
		rc = m->sealer.seal(m->sealer.ctx, (const uint8_t *)lc->key_pem, lc->key_len,
				    aad, &k.sealed, &err);
	pthread_mutex_unlock(&m->mu);
	if (rc == 0)
		rc = store_write(m->st, kept_put, &k, &err);
	if (rc < 0)
		log_warnx("pki: listener %s: certificate not kept for restarts: %s",
			  lc->spec.listener, err.msg);
	kept_fini(&k);
}

static int kept_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct kept *k = arg;
	struct bw_str sp = store_row_text(row, 0), ch = store_row_text(row, 1);
	size_t n = 0;
	const void *sealed = store_row_blob(row, 2, &n);
	if (bw_buf_append(&k->spec, sp.p, sp.len) < 0 ||
	    bw_buf_append(&k->chain, ch.p, ch.len) < 0 ||
	    (n && bw_buf_append(&k->sealed, sealed, n) < 0))
		return bw_err_set(err, 413, PKI_MOD, "too_large", "kept certificate too large");
	k->not_after = store_row_int64(row, 3);
	k->found = true;
	return 0;
}

/* Whether the kept leaf's validity has begun (a certificate obtained
 * while the clock was ahead must not be served once it is back). */
static bool kept_valid_yet(const struct kept *k, int64_t now)
{
	char serial[41];
	int64_t nb = 0, na = 0;
	return chain_facts(k->chain.data, k->chain.len, serial, &nb, &na, NULL) == 0 &&
	       nb <= now;
}

/* A NUL-terminated copy (PEM text for OpenSSL's readers). */
static char *dup_text(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		fatalx("pki: out of memory");
	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* At start: serves lc's kept certificate again when it was obtained for
 * the same spec, opens with the sealer and has not entered its renewal
 * window (then the normal check renews it). */
static void restore(struct pki_lcert *m, struct lc *lc, int64_t now)
{
	struct kept k;
	kept_init(&k, lc);
	struct bw_buf want, key;
	bw_buf_init(&want, 4096);
	bw_buf_init(&key, PKI_LCERT_KEPT_MAX);
	struct bw_err err;
	struct store_value v[] = { store_text_str(lc->spec.listener) };
	const char *why = NULL;
	if (spec_text(lc, &want) < 0)
		goto out;
	if (store_query(m->st, "SELECT spec, chain, sealed_key, not_after FROM pki_lcert_current"
			       " WHERE listener = ?", v, 1, kept_row, &k, &err) < 0)
		why = err.msg;
	else if (!k.found)
		goto out; /* nothing kept: the first start */
	else if (k.spec.len != want.len || memcmp(k.spec.data, want.data, want.len) != 0)
		why = "its configuration changed";
	else if (k.not_after <= now)
		why = "it has expired";
	else if (!kept_valid_yet(&k, now))
		why = "it is not valid yet (the clock went back)";
	if (!why) {
		char aad[96];
		seal_aad(lc, aad, sizeof(aad));
		if (m->sealer.open(m->sealer.ctx, (const uint8_t *)k.sealed.data, k.sealed.len,
				   aad, &key, &err) < 0)
			why = err.msg;
	}
	if (!why) {
		char *chain = dup_text(k.chain.data, k.chain.len);
		char *kp = dup_text(key.data, key.len);
		char serial[41];
		int64_t na = 0;
		if (adopt(m, lc, &chain, k.chain.len, &kp, key.len, serial, &na, &err) < 0)
			why = err.msg;
		else
			log_info("pki: %s %s serves its kept certificate (serial %s, until %lld)",
				 lc->spec.identity ? "identity" : "listener", lc->spec.listener,
				 serial, (long long)na);
		wipe_free(kp, key.len);
		free(chain);
	}
	if (why)
		log_info("pki: listener %s: kept certificate not used (%s); obtaining a new one",
			 lc->spec.listener, why);
out:
	bw_buf_wipe_fini(&key);
	bw_buf_fini(&want);
	kept_fini(&k);
}

/* Obtains a new certificate for lc and installs it. Runs unlocked on the
 * manager thread (lc's spec is immutable; its state is written under
 * m->mu). */
static void renew(struct pki_lcert *m, struct lc *lc, int64_t now)
{
	char *chain = NULL, *key = NULL;
	size_t chain_len = 0, key_len = 0;
	struct bw_err err;
	memset(&err, 0, sizeof(err));
	int rc = lc->spec.source == PKI_LCERT_SOURCE_CA ?
			 obtain_from_ca(m, lc, &chain, &chain_len, &key, &key_len, &err) :
			 obtain_from_acme(m, lc, &chain, &chain_len, &key, &key_len, &err);
	char serial[41] = "";
	int64_t na = 0;
	if (rc == 0)
		rc = adopt(m, lc, &chain, chain_len, &key, key_len, serial, &na, &err);
	char details[512];
	pthread_mutex_lock(&m->mu);
	if (rc == 0) {
		lc->renewals++;
	} else {
		lc->failures++;
		lc->backoff = lc->backoff ? lc->backoff * 2 : PKI_LCERT_RETRY_MIN_S;
		if (lc->backoff > PKI_LCERT_RETRY_MAX_S)
			lc->backoff = PKI_LCERT_RETRY_MAX_S;
		lc->next_attempt = now + lc->backoff;
		lc->force = false;
		bw_snprintf(lc->last_error, sizeof(lc->last_error), "%s", err.msg);
	}
	pthread_mutex_unlock(&m->mu);
	if (rc == 0) {
		keep(m, lc);
		log_info("pki: %s %s has a new certificate (serial %s, until %lld)",
			 lc->spec.identity ? "identity" : "listener", lc->spec.listener, serial,
			 (long long)na);
		bw_snprintf(details, sizeof(details),
			    "{\"serial\":\"%s\",\"source\":\"%s\",\"not_after\":%lld}", serial,
			    lc->spec.source == PKI_LCERT_SOURCE_CA ? "ca" : "acme", (long long)na);
		audit_sys(m, "pki.listener_cert.install", lc->spec.listener, true, details);
		pki_emit(lc->spec.identity ? "identity-certificate-renewed" :
					     "listener-certificate-renewed",
			 "platform", true, lc->spec.listener, "serial", serial, "listener",
			 lc->spec.listener);
	} else {
		log_warnx("pki: listener %s: certificate renewal failed: %s", lc->spec.listener,
			  err.msg);
		bw_snprintf(details, sizeof(details), "{\"source\":\"%s\"}",
			    lc->spec.source == PKI_LCERT_SOURCE_CA ? "ca" : "acme");
		audit_sys(m, "pki.listener_cert.install", lc->spec.listener, false, details);
		pki_emit("listener-certificate-renewal-failed", "platform", false, err.msg,
			 "listener", lc->spec.listener, NULL, NULL);
	}
	wipe_free(key, key_len);
	free(chain);
}

/* When lc is due: no certificate yet, forced, or within renew_before of
 * its end (a third of its lifetime when not configured). */
static bool due(const struct lc *lc, int64_t now)
{
	if (lc->force)
		return true;
	if (now < lc->next_attempt)
		return false;
	if (!lc->chain_pem)
		return true;
	int64_t before = lc->spec.renew_before_s;
	if (before <= 0)
		before = (lc->not_after - lc->not_before) / 3;
	return now >= lc->not_after - before;
}

/* ----------------------------------------------------------- stapling */

/* The CA of this process that issued leaf, or NULL (under p->mu read). */
static struct pki_ca *local_issuer_locked(struct pki *p, X509 *leaf)
{
	for (size_t i = 0; i < p->ncas; i++) {
		struct pki_ca *ca = p->cas[i];
		if (ca->state == PKI_CA_ACTIVE && ca->cert &&
		    X509_check_issued(ca->cert, leaf) == X509_V_OK)
			return ca;
	}
	return NULL;
}

/*
 * A fresh OCSP response for leaf: from this process's responder when a
 * local CA issued it, else from the leaf's AIA OCSP URL. The answer must
 * verify (responder authorised by the issuer) and say good. OUT: der,
 * this/next update. 0 or -1 with err.
 */
static int fetch_staple(struct pki_lcert *m, X509 *leaf, STACK_OF(X509) *chain,
			uint8_t **der, size_t *len, int64_t *this_up, int64_t *next_up,
			struct bw_err *err)
{
	*der = NULL;
	X509 *issuer = NULL;
	char ca_id[PKI_ID_LEN + 1] = "";
	pthread_rwlock_rdlock(&m->pki->mu);
	struct pki_ca *ca = local_issuer_locked(m->pki, leaf);
	if (ca) {
		issuer = X509_dup(ca->cert);
		bw_snprintf(ca_id, sizeof(ca_id), "%s", ca->id);
	}
	pthread_rwlock_unlock(&m->pki->mu);
	for (int i = 0; !issuer && i < sk_X509_num(chain); i++)
		if (X509_check_issued(sk_X509_value(chain, i), leaf) == X509_V_OK)
			issuer = X509_dup(sk_X509_value(chain, i));
	if (!issuer)
		return bw_err_set(err, 404, PKI_MOD, "no_issuer",
				  "the issuer is neither a local CA nor in the chain");
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
	unsigned char *reqder = NULL;
	int reqlen = -1;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	X509_STORE *store = NULL;
	struct bw_buf out;
	bw_buf_init(&out, PKI_LCERT_HTTP_BODY_MAX);
	int rc = -1;
	if (!req || !id || !OCSP_request_add0_id(req, id)) {
		OCSP_CERTID_free(id);
		pki_err_ssl(err, "ocsp", "OCSP request");
		goto out;
	}
	reqlen = i2d_OCSP_REQUEST(req, &reqder);
	if (reqlen <= 0) {
		pki_err_ssl(err, "ocsp", "OCSP request");
		goto out;
	}
	if (ca_id[0]) {
		if (pki_ocsp_respond(m->pki, ca_id, reqder, (size_t)reqlen, &out, err) < 0)
			goto out;
	} else {
		STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(leaf);
		const char *url = urls && sk_OPENSSL_STRING_num(urls) > 0 ?
					  sk_OPENSSL_STRING_value(urls, 0) : NULL;
		struct pki_http_resp h;
		if (!url) {
			bw_err_set(err, 404, PKI_MOD, "no_ocsp_url",
				   "the certificate names no OCSP responder");
		} else if (pki_http_do("POST", url, NULL, "application/ocsp-request", reqder,
				       (size_t)reqlen, NULL, m, &h, err) == 0) {
			if (h.status == 200 &&
			    bw_buf_append(&out, h.body.data ? h.body.data : "", h.body.len) == 0)
				rc = 0;
			else
				bw_err_set(err, 502, PKI_MOD, "ocsp", "%s: HTTP %ld", url, h.status);
			pki_http_resp_fini(&h);
		}
		X509_email_free(urls);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	const unsigned char *p = (const unsigned char *)out.data;
	resp = out.len ? d2i_OCSP_RESPONSE(NULL, &p, (long)out.len) : NULL;
	if (!resp || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    !(bs = OCSP_response_get1_basic(resp))) {
		bw_err_set(err, 502, PKI_MOD, "ocsp", "the responder did not answer successfully");
		goto out;
	}
	store = X509_STORE_new();
	/* The issuer is the anchor even when it is an intermediate: what
	 * matters is that it authorised the responder. */
	if (store)
		X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	if (!store || X509_STORE_add_cert(store, issuer) != 1 ||
	    OCSP_basic_verify(bs, chain, store, OCSP_TRUSTOTHER) <= 0) {
		pki_err_ssl(err, "ocsp", "the OCSP response does not verify");
		goto out;
	}
	int status = -1, reason = -1;
	ASN1_GENERALIZEDTIME *tu = NULL, *nu = NULL;
	OCSP_CERTID *cid = OCSP_cert_to_id(NULL, leaf, issuer);
	int found = cid && OCSP_resp_find_status(bs, cid, &status, &reason, NULL, &tu, &nu);
	OCSP_CERTID_free(cid);
	if (!found || status != V_OCSP_CERTSTATUS_GOOD || !tu || !nu ||
	    pki_time_to_epoch(tu, this_up) < 0 || pki_time_to_epoch(nu, next_up) < 0) {
		bw_err_set(err, 409, PKI_MOD, "ocsp_status",
			   "the responder does not say good (status %d)", status);
		goto out;
	}
	*der = (uint8_t *)bw_buf_detach(&out, len);
	rc = 0;
out:
	bw_buf_fini(&out);
	X509_STORE_free(store);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OPENSSL_free(reqder);
	OCSP_REQUEST_free(req);
	X509_free(issuer);
	return rc;
}

/* Refreshes the staple of every attachment past half its validity. The
 * TLS object stays valid while unlocked: detach waits for m->mu and
 * callers detach before freeing. To be safe against that, the work is
 * done on a leaf copy and the result installed after re-finding the
 * attachment under the lock. */
static void staple_all(struct pki_lcert *m, int64_t now)
{
	for (size_t i = 0;; i++) {
		pthread_mutex_lock(&m->mu);
		if (i >= m->natt) {
			pthread_mutex_unlock(&m->mu);
			return;
		}
		struct attach *a = &m->att[i];
		struct net_tls *tls = a->tls;
		bool need = now >= a->ocsp_retry &&
			    (!a->ocsp || now >= a->ocsp_this + (a->ocsp_next - a->ocsp_this) / 2);
		X509 *leaf = NULL;
		STACK_OF(X509) *chain = NULL;
		if (need && net_tls_get_chain(tls, 0, &leaf, &chain) < 0)
			need = false;
		pthread_mutex_unlock(&m->mu);
		if (!need)
			continue;
		uint8_t *der = NULL;
		size_t len = 0;
		int64_t tu = 0, nu = 0;
		struct bw_err err;
		int rc = fetch_staple(m, leaf, chain, &der, &len, &tu, &nu, &err);
		char serial[41];
		const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
		pki_serial_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
		pthread_mutex_lock(&m->mu);
		/* the attachment may have moved or gone while unlocked */
		for (size_t k = 0; k < m->natt; k++) {
			struct attach *b = &m->att[k];
			if (b->tls != tls)
				continue;
			X509 *cur = NULL;
			STACK_OF(X509) *cc = NULL;
			bool same = net_tls_get_chain(tls, 0, &cur, &cc) == 0 &&
				    X509_cmp(cur, leaf) == 0;
			X509_free(cur);
			sk_X509_pop_free(cc, X509_free);
			if (!same)
				break; /* swapped meanwhile: the next pass staples it */
			if (rc == 0 && net_tls_set_ocsp(tls, 0, der, len, &err) == 0) {
				free(b->ocsp);
				b->ocsp = der;
				der = NULL;
				b->ocsp_len = len;
				b->ocsp_this = tu;
				b->ocsp_next = nu;
				b->ocsp_error[0] = '\0';
				bw_snprintf(b->ocsp_serial, sizeof(b->ocsp_serial), "%s", serial);
			} else {
				bw_snprintf(b->ocsp_error, sizeof(b->ocsp_error), "%s", err.msg);
				b->ocsp_retry = now + PKI_LCERT_RETRY_MIN_S;
			}
			break;
		}
		pthread_mutex_unlock(&m->mu);
		free(der);
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
	}
}

/* ----------------------------------------------------------- expiry */

/* Remembers (id, threshold); true when it was new. Under m->mu. */
static bool alert_once_locked(struct pki_lcert *m, const char *id, int days)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *c = id; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ULL;
	h = (h ^ (uint64_t)(days + 1)) * 1099511628211ULL;
	if (h == 0)
		h = 1;
	if (m->nalerted * 2 >= PKI_LCERT_ALERTED_MAX) {
		memset(m->alerted, 0, PKI_LCERT_ALERTED_MAX * sizeof(*m->alerted));
		m->nalerted = 0;
	}
	size_t i = (size_t)(h % PKI_LCERT_ALERTED_MAX);
	while (m->alerted[i]) {
		if (m->alerted[i] == h)
			return false;
		i = (i + 1) % PKI_LCERT_ALERTED_MAX;
	}
	m->alerted[i] = h;
	m->nalerted++;
	return true;
}

/* The smallest threshold (days) the certificate has crossed, or -1. */
static int crossed(const struct pki_lcert *m, int64_t not_after, int64_t now)
{
	int best = -1;
	for (size_t i = 0; i < m->nalerts; i++)
		if (not_after - now <= (int64_t)m->alert_days[i] * 86400 &&
		    (best < 0 || m->alert_days[i] < best))
			best = m->alert_days[i];
	return best;
}

static void alert(struct pki_lcert *m, const char *kind, const char *serial,
		  const char *tenant, const char *what, int64_t not_after, int64_t now)
{
	int th = not_after <= now ? 0 : crossed(m, not_after, now);
	if (th < 0)
		return;
	char id[96];
	bw_snprintf(id, sizeof(id), "%s:%s", kind, serial);
	pthread_mutex_lock(&m->mu);
	bool fresh = alert_once_locked(m, id, th);
	if (fresh)
		m->alerts_sent++;
	pthread_mutex_unlock(&m->mu);
	if (!fresh)
		return;
	long long days = (long long)((not_after - now) / 86400);
	char ds[24], ths[24], msg[300];
	bw_snprintf(ds, sizeof(ds), "%lld", days);
	bw_snprintf(ths, sizeof(ths), "%d", th);
	bw_snprintf(msg, sizeof(msg), "%s certificate %s (%s) %s", kind, serial, what,
		    th == 0 ? "has expired" : "expires soon");
	log_warnx("pki: %s certificate %s (%s) %s (%lld days left)", kind, serial, what,
		  th == 0 ? "has expired" : "expires soon", days);
	struct bw_event ev;
	bw_event_init(&ev, "configuration", th == 0 ? "certificate-expired" :
						      "certificate-expiring",
		      BW_OUTCOME_FAILURE);
	BW_EVENT_SET(&ev, tenant, tenant);
	BW_EVENT_SET(&ev, message, msg);
	bw_event_add_field(&ev, "serial", serial);
	bw_event_add_field(&ev, "kind", kind);
	bw_event_add_field(&ev, "days_left", ds);
	bw_event_add_field(&ev, "threshold_days", ths);
	bw_event_add_field(&ev, "name", what);
	(void)bw_event_emit(&ev);
}

struct scan {
	struct pki_lcert *m;
	int64_t now;
};

static int scan_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct scan *s = arg;
	struct bw_str sn = store_row_text(row, 0), tn = store_row_text(row, 1),
		      sub = store_row_text(row, 2);
	char serial[41], tenant[PKI_TENANT_MAX + 1], subject[128];
	bw_snprintf(serial, sizeof(serial), "%.*s", (int)sn.len, sn.p);
	bw_snprintf(tenant, sizeof(tenant), "%.*s", (int)tn.len, tn.p);
	bw_snprintf(subject, sizeof(subject), "%.*s", (int)sub.len, sub.p);
	alert(s->m, "issued", serial, tenant, subject, store_row_int64(row, 3), s->now);
	(void)err;
	return 0;
}

static void expiry_scan(struct pki_lcert *m, int64_t now)
{
	if (m->nalerts == 0)
		return;
	int maxd = 0;
	for (size_t i = 0; i < m->nalerts; i++)
		if (m->alert_days[i] > maxd)
			maxd = m->alert_days[i];
	/* Issued and still good, ending within the widest threshold (and
	 * not expired for more than a day: those were reported already). */
	struct store_value v[] = { store_int(now + (int64_t)maxd * 86400),
				   store_int(now - 86400),
				   store_int(PKI_LCERT_SCAN_MAX) };
	struct scan s = { m, now };
	struct bw_err err;
	if (store_query(m->st,
			"SELECT serial, tenant, subject, not_after FROM pki_cert WHERE status = 0"
			" AND not_after < ? AND not_after > ? AND profile <> 'ocsp'"
			" ORDER BY not_after LIMIT ?",
			v, 3, scan_row, &s, &err) < 0)
		log_warnx("pki: expiry scan: %s", err.msg);
	/* CA certificates (created here or imported for an offline root). */
	for (size_t i = 0;; i++) {
		char serial[41] = "", tenant[PKI_TENANT_MAX + 1], name[PKI_NAME_MAX + 1];
		int64_t na = 0;
		bool have = false;
		pthread_rwlock_rdlock(&m->pki->mu);
		bool more = i < m->pki->ncas;
		if (more) {
			const struct pki_ca *ca = m->pki->cas[i];
			if (ca->cert && ca->state == PKI_CA_ACTIVE &&
			    pki_time_to_epoch(X509_get0_notAfter(ca->cert), &na) == 0) {
				const ASN1_INTEGER *sn = X509_get0_serialNumber(ca->cert);
				pki_serial_hex(ASN1_STRING_get0_data(sn),
					       (size_t)ASN1_STRING_length(sn), serial);
				bw_snprintf(tenant, sizeof(tenant), "%s", ca->tenant);
				bw_snprintf(name, sizeof(name), "%s", ca->name);
				have = true;
			}
		}
		pthread_rwlock_unlock(&m->pki->mu);
		if (!more)
			break;
		if (have)
			alert(m, "ca", serial, tenant, name, na, now);
	}
	/* Served certificates: every listener's default certificate. */
	for (size_t i = 0;; i++) {
		pthread_mutex_lock(&m->mu);
		if (i >= m->natt) {
			pthread_mutex_unlock(&m->mu);
			break;
		}
		X509 *leaf = NULL;
		STACK_OF(X509) *chain = NULL;
		int rc = net_tls_get_chain(m->att[i].tls, 0, &leaf, &chain);
		char listener[32];
		bw_snprintf(listener, sizeof(listener), "%s", m->att[i].listener);
		pthread_mutex_unlock(&m->mu);
		int64_t na = 0;
		if (rc == 0 && pki_time_to_epoch(X509_get0_notAfter(leaf), &na) == 0) {
			char serial[41];
			const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
			pki_serial_hex(ASN1_STRING_get0_data(sn),
				       (size_t)ASN1_STRING_length(sn), serial);
			alert(m, "served", serial, "platform", listener, na, now);
		}
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
	}
}

/* ----------------------------------------------------------- thread */

static void check(struct pki_lcert *m)
{
	int64_t now = bw_clock_now_s();
	for (size_t i = 0; i < m->nlcs && !pki_lcert_stopping(m); i++) {
		struct lc *lc = &m->lcs[i];
		pthread_mutex_lock(&m->mu);
		bool d = due(lc, now);
		pthread_mutex_unlock(&m->mu);
		if (d)
			renew(m, lc, now);
	}
	if (m->staple && !pki_lcert_stopping(m))
		staple_all(m, now);
	if (!pki_lcert_stopping(m))
		expiry_scan(m, now);
}

static void *lcert_main(void *arg)
{
	struct pki_lcert *m = arg;
	if (m->sealer.open)
		for (size_t i = 0; i < m->nlcs && !pki_lcert_stopping(m); i++)
			restore(m, &m->lcs[i], bw_clock_now_s());
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		pthread_mutex_unlock(&m->mu);
		check(m);
		pthread_mutex_lock(&m->mu);
		if (m->stop)
			break;
		if (!m->kicked) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t ns = ts.tv_nsec + (m->check_ms % 1000) * 1000000LL;
			ts.tv_sec += (time_t)(m->check_ms / 1000 + ns / 1000000000LL);
			ts.tv_nsec = (long)(ns % 1000000000LL);
			while (!m->kicked && !m->stop &&
			       pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT)
				;
		}
		m->kicked = false;
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ----------------------------------------------------------- public */

static char *xdup(const char *s)
{
	return s ? bw_xstrdup(s) : NULL;
}

struct pki_lcert *pki_lcert_new(const struct pki_lcert_options *o, struct bw_err *err)
{
	if (!o || !o->pki || !o->store || !o->keys || o->nspecs > PKI_LCERT_MAX ||
	    o->nalerts > PKI_LCERT_ALERTS_MAX) {
		bw_err_set(err, 400, PKI_MOD, "bad_option", "listener certificates: bad options");
		return NULL;
	}
	for (size_t i = 0; i < o->nspecs; i++) {
		const struct pki_lcert_spec *s = &o->specs[i];
		bool ok = s->identity ?
			  s->source == PKI_LCERT_SOURCE_CA && s->tenant && s->ca && s->uri &&
				  strncmp(s->uri, "spiffe://", 9) == 0 :
			  s->listener && s->nnames > 0 && s->nnames <= PKI_LCERT_NAMES_MAX &&
				  (s->source == PKI_LCERT_SOURCE_CA ? s->tenant && s->ca :
				   s->source == PKI_LCERT_SOURCE_ACME ? s->directory != NULL :
									  false);
		if (!ok) {
			bw_err_set(err, 400, PKI_MOD, "bad_option",
				   "listener certificate %zu: incomplete", i);
			return NULL;
		}
	}
	if (store_migrate(o->store, "pki_lcert", lcert_schema, BW_ARRAY_LEN(lcert_schema),
			  err) < 0)
		return NULL;
	struct pki_lcert *m = calloc(1, sizeof(*m));
	if (!m || !(m->alerted = calloc(PKI_LCERT_ALERTED_MAX, sizeof(*m->alerted))) ||
	    (o->nspecs && !(m->lcs = calloc(o->nspecs, sizeof(*m->lcs))))) {
		if (m)
			free(m->alerted);
		free(m);
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		return NULL;
	}
	m->pki = o->pki;
	m->st = o->store;
	m->keys = o->keys;
	m->audit = o->audit;
	bw_snprintf(m->key_tenant, sizeof(m->key_tenant), "%s",
		    o->key_tenant ? o->key_tenant : "platform");
	m->check_ms = o->check_interval_ms > 0 ? o->check_interval_ms :
						 PKI_LCERT_CHECK_DEFAULT_MS;
	m->staple = !o->no_staple;
	if (o->sealer)
		m->sealer = *o->sealer;
	if (o->alert_days) {
		for (size_t i = 0; i < o->nalerts; i++)
			m->alert_days[i] = o->alert_days[i];
		m->nalerts = o->nalerts;
	} else {
		static const int def[] = { 30, 14, 7 };
		memcpy(m->alert_days, def, sizeof(def));
		m->nalerts = 3;
	}
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (size_t i = 0; i < o->nspecs; i++) {
		const struct pki_lcert_spec *s = &o->specs[i];
		struct lc *lc = &m->lcs[i];
		lc->spec = *s;
		/* an identity is keyed by its name where a listener is */
		lc->spec.listener = xdup(s->identity ? s->identity : s->listener);
		lc->spec.identity = xdup(s->identity);
		lc->spec.uri = xdup(s->uri);
		lc->spec.tenant = xdup(s->tenant);
		lc->spec.ca = xdup(s->ca);
		lc->spec.directory = xdup(s->directory);
		lc->spec.ca_file = xdup(s->ca_file);
		lc->spec.contact = xdup(s->contact);
		lc->spec.eab_kid = xdup(s->eab_kid);
		lc->spec.eab_hmac = xdup(s->eab_hmac);
		if (lc->spec.key_type == PKI_KEY_NONE)
			lc->spec.key_type = PKI_KEY_EC_P256;
		for (size_t k = 0; k < s->nnames; k++)
			lc->names_store[k] = bw_xstrdup(s->names[k]);
		lc->spec.names = (const char *const *)lc->names_store;
	}
	m->nlcs = o->nspecs;
	if (pthread_create(&m->th, NULL, lcert_main, m) != 0) {
		pki_lcert_free(m);
		bw_err_set(err, 500, PKI_MOD, "thread", "cannot start the certificate thread");
		return NULL;
	}
	m->started = true;
	return m;
}

void pki_lcert_free(struct pki_lcert *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->started)
		pthread_join(m->th, NULL);
	for (size_t i = 0; i < m->nlcs; i++) {
		struct lc *lc = &m->lcs[i];
		wipe_free(lc->key_pem, lc->key_len);
		free(lc->chain_pem);
		free((char *)lc->spec.listener);
		free((char *)lc->spec.identity);
		free((char *)lc->spec.uri);
		X509_free(lc->leaf);
		sk_X509_pop_free(lc->chain, X509_free);
		EVP_PKEY_free(lc->pkey);
		free((char *)lc->spec.tenant);
		free((char *)lc->spec.ca);
		free((char *)lc->spec.directory);
		free((char *)lc->spec.ca_file);
		free((char *)lc->spec.contact);
		free((char *)lc->spec.eab_kid);
		wipe_free((char *)lc->spec.eab_hmac,
			  lc->spec.eab_hmac ? strlen(lc->spec.eab_hmac) : 0);
		for (size_t k = 0; k < lc->spec.nnames; k++)
			free(lc->names_store[k]);
	}
	for (size_t i = 0; i < m->natt; i++)
		free(m->att[i].ocsp);
	free(m->lcs);
	free(m->alerted);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int pki_lcert_attach(struct pki_lcert *m, const char *listener, struct net_tls *t,
		     struct bw_err *err)
{
	if (!m)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&m->mu);
	if (m->natt == PKI_LCERT_ATTACH_MAX) {
		rc = bw_err_set(err, 503, PKI_MOD, "attach", "too many TLS listeners attached");
	} else {
		struct attach *a = &m->att[m->natt++];
		memset(a, 0, sizeof(*a));
		bw_snprintf(a->listener, sizeof(a->listener), "%s", listener);
		a->tls = t;
		for (size_t i = 0; i < m->nlcs; i++)
			if (!m->lcs[i].spec.identity &&
			    strcmp(m->lcs[i].spec.listener, listener) == 0 && m->lcs[i].chain_pem)
				install_locked(m, &m->lcs[i]);
		m->kicked = true;
		pthread_cond_signal(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void pki_lcert_detach(struct pki_lcert *m, struct net_tls *t)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->natt; i++)
		if (m->att[i].tls == t) {
			free(m->att[i].ocsp);
			m->att[i] = m->att[--m->natt];
			break;
		}
	pthread_mutex_unlock(&m->mu);
}

void pki_lcert_kick(struct pki_lcert *m)
{
	pthread_mutex_lock(&m->mu);
	m->kicked = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

int pki_lcert_renew(struct pki_lcert *m, const char *listener, struct bw_err *err)
{
	int found = 0;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->nlcs; i++)
		if (strcmp(m->lcs[i].spec.listener, listener) == 0) {
			m->lcs[i].force = true;
			found = 1;
		}
	m->kicked = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (!found)
		return bw_err_set(err, 404, PKI_MOD, "not_found",
				  "listener '%s' has no managed certificate", listener);
	return 0;
}

/* Writes one served certificate's facts (under m->mu). */
static void write_served(struct pki_lcert *m, struct attach *a, struct json_writer *w,
			 int64_t now)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	json_write_object_begin(w);
	json_write_kv_string(w, "listener", a->listener);
	if (net_tls_get_chain(a->tls, 0, &leaf, &chain) == 0) {
		char serial[41], subj[256] = "", iss[256] = "";
		const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
		pki_serial_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
		X509_NAME_oneline(X509_get_subject_name(leaf), subj, sizeof(subj));
		X509_NAME_oneline(X509_get_issuer_name(leaf), iss, sizeof(iss));
		int64_t na = 0;
		(void)pki_time_to_epoch(X509_get0_notAfter(leaf), &na);
		json_write_kv_string(w, "serial", serial);
		json_write_kv_string(w, "subject", subj);
		json_write_kv_string(w, "issuer", iss);
		json_write_kv_int(w, "not_after", na);
		json_write_kv_int(w, "days_left", (na - now) / 86400);
	}
	const struct lc *lc = NULL;
	for (size_t i = 0; i < m->nlcs; i++)
		if (strcmp(m->lcs[i].spec.listener, a->listener) == 0)
			lc = &m->lcs[i];
	json_write_kv_string(w, "source", !lc ? "file" :
				 lc->spec.source == PKI_LCERT_SOURCE_CA ? "ca" : "acme");
	if (lc) {
		json_write_kv_int(w, "renewals", (int64_t)lc->renewals);
		json_write_kv_int(w, "failures", (int64_t)lc->failures);
		json_write_kv_string(w, "last_error", lc->last_error);
		if (lc->kid[0])
			json_write_kv_string(w, "acme_account", lc->kid);
	}
	json_write_kv_bool(w, "stapled", a->ocsp != NULL);
	if (a->ocsp)
		json_write_kv_int(w, "ocsp_next_update", a->ocsp_next);
	if (a->ocsp_error[0])
		json_write_kv_string(w, "ocsp_error", a->ocsp_error);
	json_write_object_end(w);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
}

int pki_lcert_status(struct pki_lcert *m, struct json_writer *w)
{
	int64_t now = bw_clock_now_s();
	pthread_mutex_lock(&m->mu);
	json_write_object_begin(w);
	json_write_key(w, "listeners");
	json_write_array_begin(w);
	/* one entry per listener name (generations share the name) */
	for (size_t i = 0; i < m->natt; i++) {
		bool dup = false;
		for (size_t k = 0; k < i; k++)
			dup = dup || strcmp(m->att[k].listener, m->att[i].listener) == 0;
		if (!dup)
			write_served(m, &m->att[i], w, now);
	}
	json_write_array_end(w);
	json_write_key(w, "identities");
	json_write_array_begin(w);
	for (size_t i = 0; i < m->nlcs; i++) {
		const struct lc *lc = &m->lcs[i];
		if (!lc->spec.identity)
			continue;
		json_write_object_begin(w);
		json_write_kv_string(w, "name", lc->spec.identity);
		json_write_kv_string(w, "uri", lc->spec.uri);
		json_write_kv_string(w, "serial", lc->serial);
		json_write_kv_int(w, "not_after", lc->not_after);
		json_write_kv_int(w, "renewals", (int64_t)lc->renewals);
		json_write_kv_int(w, "failures", (int64_t)lc->failures);
		json_write_kv_string(w, "last_error", lc->last_error);
		json_write_object_end(w);
	}
	json_write_array_end(w);
	json_write_key(w, "cas");
	json_write_array_begin(w);
	pthread_rwlock_rdlock(&m->pki->mu);
	for (size_t i = 0; i < m->pki->ncas; i++) {
		const struct pki_ca *ca = m->pki->cas[i];
		int64_t na = 0;
		if (!ca->cert || pki_time_to_epoch(X509_get0_notAfter(ca->cert), &na) < 0)
			continue;
		json_write_object_begin(w);
		json_write_kv_string(w, "id", ca->id);
		json_write_kv_string(w, "tenant", ca->tenant);
		json_write_kv_string(w, "name", ca->name);
		json_write_kv_string(w, "subject", ca->subject);
		json_write_kv_bool(w, "root", ca->root);
		json_write_kv_int(w, "not_after", na);
		json_write_kv_int(w, "days_left", (na - now) / 86400);
		json_write_object_end(w);
	}
	pthread_rwlock_unlock(&m->pki->mu);
	json_write_array_end(w);
	json_write_key(w, "alert_days");
	json_write_array_begin(w);
	for (size_t i = 0; i < m->nalerts; i++)
		json_write_int(w, m->alert_days[i]);
	json_write_array_end(w);
	json_write_kv_int(w, "alerts_sent", (int64_t)m->alerts_sent);
	json_write_object_end(w);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

/* ----------------------------------------------------------- identities */

/* What a client context presents: the manager and the identity's name. */
struct id_hook {
	struct pki_lcert *m;
	char name[64];
};

static int id_ex_index = -1;
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void id_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		       void *argp)
{
	free(ptr);
}

static void id_ex_init(void)
{
	id_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, id_ex_free);
}

static struct lc *identity_find_locked(struct pki_lcert *m, const char *name)
{
	for (size_t i = 0; i < m->nlcs; i++)
		if (m->lcs[i].spec.identity && strcmp(m->lcs[i].spec.identity, name) == 0)
			return &m->lcs[i];
	return NULL;
}

int pki_lcert_identity_get(struct pki_lcert *m, const char *name, X509 **leaf,
			   STACK_OF(X509) **chain, EVP_PKEY **pkey, uint64_t *generation)
{
	int rc = -1;
	pthread_mutex_lock(&m->mu);
	struct lc *lc = identity_find_locked(m, name);
	if (lc && lc->leaf) {
		X509_up_ref(lc->leaf);
		EVP_PKEY_up_ref(lc->pkey);
		*leaf = lc->leaf;
		*pkey = lc->pkey;
		if (chain)
			*chain = X509_chain_up_ref(lc->chain);
		if (generation)
			*generation = lc->generation;
		rc = 0;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* Called when a server asks this client for a certificate: the
 * identity's current certificate, chain and key, so a rotation needs no
 * new context. No identity yet: none is sent (the server decides). */
static int id_cert_cb(SSL *ssl, void *arg)
{
	struct id_hook *h = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), id_ex_index);
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *pkey = NULL;
	if (!h || pki_lcert_identity_get(h->m, h->name, &leaf, &chain, &pkey, NULL) < 0)
		return 1;
	int ok = SSL_use_certificate(ssl, leaf) == 1 && SSL_use_PrivateKey(ssl, pkey) == 1;
	for (int i = 0; ok && chain && i < sk_X509_num(chain); i++)
		ok = SSL_add1_chain_cert(ssl, sk_X509_value(chain, i)) == 1;
	X509_free(leaf);
	EVP_PKEY_free(pkey);
	sk_X509_pop_free(chain, X509_free);
	return ok ? 1 : 0;
}

int pki_lcert_identity_use(struct pki_lcert *m, const char *name, SSL_CTX *ctx,
			   struct bw_err *err)
{
	pthread_once(&id_once, id_ex_init);
	pthread_mutex_lock(&m->mu);
	bool known = identity_find_locked(m, name) != NULL;
	pthread_mutex_unlock(&m->mu);
	if (!known)
		return bw_err_set(err, 404, PKI_MOD, "not_found", "no identity '%s'", name);
	struct id_hook *h = calloc(1, sizeof(*h));
	if (!h)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	h->m = m;
	bw_snprintf(h->name, sizeof(h->name), "%s", name);
	if (SSL_CTX_set_ex_data(ctx, id_ex_index, h) != 1) {
		free(h);
		return pki_err_ssl(err, "identity", "SSL_CTX_set_ex_data");
	}
	SSL_CTX_set_cert_cb(ctx, id_cert_cb, NULL);
	return 0;
}
