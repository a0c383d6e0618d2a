/*
 * pki.c — the CA object's life cycle (open, load, free), the schedule
 * (pki_tick), tenant policies in the store, counters and events.
 *
 * Invariants: after pki_new every ACTIVE CA has been offered a responder
 * and a CRL (failures are logged and retried by pki_tick); options are
 * clamped to the bounds in pki_limits.h, never trusted as given.
 */
#include "pki/pki_int.h"

#include <string.h>

#include "event/event.h"

static int64_t clamp(int64_t v, int64_t dflt, int64_t lo, int64_t hi)
{
	if (v <= 0)
		return dflt;
	return v < lo ? lo : v > hi ? hi : v;
}

void pki_emit(const char *action, const char *tenant, bool ok,
	      const char *message, const char *k1, const char *v1,
	      const char *k2, const char *v2)
{
	struct bw_event ev;
	bw_event_init(&ev, "configuration", action,
		      ok ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE);
	BW_EVENT_SET(&ev, tenant, tenant ? tenant : "");
	BW_EVENT_SET(&ev, message, message ? message : "");
	if (k1 && v1)
		bw_event_add_field(&ev, k1, v1);
	if (k2 && v2)
		bw_event_add_field(&ev, k2, v2);
	(void)bw_event_emit(&ev); /* telemetry: refused events are counted */
}

struct pki *pki_new(const struct pki_options *o, struct bw_err *err)
{
	if (!o || !o->store || !o->keys || !o->keys->generate || !o->keys->open) {
		bw_err_set(err, 400, PKI_MOD, "bad_option", "store and keys are required");
		return NULL;
	}
	if (o->public_url && strlen(o->public_url) > PKI_URL_MAX) {
		bw_err_set(err, 400, PKI_MOD, "bad_option", "public_url longer than %d",
			   PKI_URL_MAX);
		return NULL;
	}
	struct pki *p = calloc(1, sizeof(*p));
	if (!p) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		return NULL;
	}
	p->st = o->store;
	p->keys = o->keys;
	if (o->public_url) {
		bw_snprintf(p->public_url, sizeof(p->public_url), "%s", o->public_url);
		size_t n = strlen(p->public_url);
		while (n > 0 && p->public_url[n - 1] == '/')
			p->public_url[--n] = '\0';
	}
	p->crl_validity_s = clamp(o->crl_validity_s, PKI_CRL_VALIDITY_DEFAULT_S, 3600,
				  PKI_CRL_VALIDITY_MAX_S);
	p->ocsp_validity_s = clamp(o->ocsp_validity_s, PKI_OCSP_VALIDITY_DEFAULT_S,
				   PKI_OCSP_VALIDITY_MIN_S, PKI_OCSP_VALIDITY_MAX_S);
	/* Re-sign well before a cached response expires. */
	p->ocsp_refresh_s = clamp(o->ocsp_refresh_s, PKI_OCSP_REFRESH_DEFAULT_S, 60,
				  p->ocsp_validity_s / 2);
	p->ocsp_responder_validity_s =
		clamp(o->ocsp_responder_validity_s, PKI_OCSP_RESPONDER_VALIDITY_DEFAULT_S,
		      86400, PKI_OCSP_RESPONDER_VALIDITY_MAX_S);
	p->ocsp_sign_nonces = o->ocsp_sign_nonces;
	pthread_rwlock_init(&p->mu, NULL);
	pthread_mutex_init(&p->tick_mu, NULL);
	size_t cmax = o->ocsp_cache_max ? o->ocsp_cache_max : PKI_OCSP_CACHE_DEFAULT;
	if (cmax > PKI_OCSP_CACHE_HARD)
		cmax = PKI_OCSP_CACHE_HARD;
	p->cas = calloc(PKI_CA_MAX, sizeof(*p->cas));
	p->cache = pki_ocsp_cache_new(cmax);
	if (!p->cas || !p->cache) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		goto fail;
	}
	if (store_migrate(p->st, "pki", pki_schema, pki_schema_steps, err) < 0 ||
	    pki_ca_load_all(p, err) < 0)
		goto fail;
	struct bw_err e;
	if (pki_tick(p, &e) < 0)
		log_warnx("pki: first tick: %s", e.msg);
	log_info("pki: %zu CAs loaded", p->ncas);
	return p;
fail:
	pki_free(p);
	return NULL;
}

void pki_free(struct pki *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->cas && i < p->ncas; i++)
		pki_ca_free(p->cas[i]);
	free(p->cas);
	pki_ocsp_cache_free(p->cache);
	pthread_rwlock_destroy(&p->mu);
	pthread_mutex_destroy(&p->tick_mu);
	free(p);
}

void pki_stats_get(struct pki *p, struct pki_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->issued = atomic_load(&p->issued);
	out->revoked = atomic_load(&p->revoked);
	out->issue_refused = atomic_load(&p->issue_refused);
	out->crls_generated = atomic_load(&p->crls_generated);
	out->ocsp_requests = atomic_load(&p->ocsp_requests);
	out->ocsp_cache_hits = atomic_load(&p->ocsp_hits);
	out->ocsp_signed = atomic_load(&p->ocsp_signed);
	out->ocsp_malformed = atomic_load(&p->ocsp_malformed);
	out->ocsp_unauthorized = atomic_load(&p->ocsp_unauthorized);
	out->ocsp_unknown = atomic_load(&p->ocsp_unknown);
	out->ocsp_cache_entries = pki_ocsp_cache_count(p);
}

/* ------------------------------------------------------------ schedule */

struct warm_row {
	char serial[41];
	char ca_id[PKI_ID_LEN + 1];
};

struct warm_ctx {
	struct warm_row *rows;
	size_t n, cap;
};

static int warm_cb(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct warm_ctx *w = arg;
	if (w->n >= w->cap)
		return STORE_ROW_STOP;
	struct bw_str s = store_row_text(row, 0), c = store_row_text(row, 1);
	bw_snprintf(w->rows[w->n].serial, 41, "%.*s", (int)s.len, s.p);
	bw_snprintf(w->rows[w->n].ca_id, PKI_ID_LEN + 1, "%.*s", (int)c.len, c.p);
	w->n++;
	return STORE_ROW_NEXT;
}

/* Pre-signs responses for certificates not cached yet (after a restart),
 * a batch per tick, walking the inventory by serial. */
static void warm(struct pki *p, int64_t now, size_t budget)
{
	if (p->warm_done || budget == 0)
		return;
	struct warm_ctx w = { calloc(budget, sizeof(struct warm_row)), 0, budget };
	if (!w.rows)
		return;
	struct bw_err e;
	struct store_value v[] = { store_text_str(p->warm_cursor), store_int(now),
				   store_int((int64_t)budget) };
	if (store_query(p->st, "SELECT serial, ca_id FROM pki_cert WHERE serial > ?"
			       " AND not_after >= ? ORDER BY serial LIMIT ?",
			v, 3, warm_cb, &w, &e) < 0) {
		log_warnx("pki: OCSP warm-up: %s", e.msg);
		free(w.rows);
		return;
	}
	for (size_t i = 0; i < w.n; i++) {
		uint8_t sb[20];
		size_t sl;
		struct pki_ca *ca = pki_ca_lookup(p, NULL, w.rows[i].ca_id, NULL);
		if (ca && bw_hex_decode(w.rows[i].serial, strlen(w.rows[i].serial), sb,
					sizeof(sb), &sl) == 0 &&
		    pki_ocsp_presign(p, ca, sb, sl, &e) < 0 && e.code != 503)
			log_warnx("pki: OCSP warm-up %s: %s", w.rows[i].serial, e.msg);
	}
	if (w.n < budget)
		p->warm_done = true;
	else
		memcpy(p->warm_cursor, w.rows[w.n - 1].serial, sizeof(p->warm_cursor));
	free(w.rows);
}

int pki_tick(struct pki *p, struct bw_err *err)
{
	pthread_mutex_lock(&p->tick_mu);
	int64_t now = bw_clock_now_s();
	int rc = 0;
	for (size_t i = 0;; i++) {
		pthread_rwlock_rdlock(&p->mu);
		struct pki_ca *ca = i < p->ncas ? p->cas[i] : NULL;
		bool usable = ca && ca->cert && ca->signer && ca->state != PKI_CA_PENDING;
		bool crl_due = usable && (!ca->crl_der ||
					  now >= ca->crl_this_update + p->crl_validity_s / 2);
		bool resp_due = usable &&
				(!ca->resp ||
				 ca->resp->not_after - now < p->ocsp_responder_validity_s / 3);
		pthread_rwlock_unlock(&p->mu);
		if (!ca)
			break;
		struct bw_err e;
		if (resp_due && pki_ca_new_responder(p, ca, &e) < 0) {
			log_warnx("pki: CA %s: OCSP responder: %s", ca->id, e.msg);
			rc = bw_err_set(err, e.code, PKI_MOD, e.reason, "%s", e.msg);
		}
		if (crl_due && pki_crl_generate_ca(p, ca, &e) < 0) {
			log_warnx("pki: CA %s: CRL: %s", ca->id, e.msg);
			rc = bw_err_set(err, e.code, PKI_MOD, e.reason, "%s", e.msg);
		}
	}
	pki_ocsp_tick(p, now);
	warm(p, now, PKI_OCSP_REFRESH_BATCH);
	pthread_mutex_unlock(&p->tick_mu);
	return rc;
}

/* ------------------------------------------------------------ policy */

struct policy_row {
	struct bw_buf *out;
};

static int policy_cb(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct policy_row *r = arg;
	struct bw_str s = store_row_text(row, 0);
	if (bw_buf_append(r->out, s.p, s.len) < 0)
		return bw_err_set(err, 413, PKI_MOD, "too_large", "policy too large");
	return STORE_ROW_STOP;
}

static int policy_text(struct pki *p, const char *tenant, struct bw_buf *out,
		       struct bw_err *err)
{
	struct policy_row r = { out };
	struct store_value v[] = { store_text_str(tenant) };
	return store_query_one(p->st, "SELECT doc FROM pki_policy WHERE tenant = ?", v,
			       1, policy_cb, &r, err);
}

int pki_policy_load(struct pki *p, const char *tenant, struct pki_policy *pol,
		    struct bw_err *err)
{
	struct bw_buf b;
	bw_buf_init(&b, PKI_POLICY_JSON_MAX);
	int found = policy_text(p, tenant, &b, err);
	if (found == 1 && pki_policy_parse(b.data, b.len, pol, err) < 0)
		found = -1;
	bw_buf_fini(&b);
	return found;
}

int pki_policy_set(struct pki *p, const char *tenant, const char *json,
		   size_t len, struct bw_err *err)
{
	struct pki_policy pol;
	if (!tenant || !*tenant || strlen(tenant) > PKI_TENANT_MAX)
		return bw_err_set(err, 400, PKI_MOD, "bad_tenant", "bad tenant id");
	if (pki_policy_parse(json, len, &pol, err) < 0)
		return -1;
	pki_policy_fini(&pol);
	struct store_value v[] = { store_text_str(tenant), store_text(json, len),
				   store_int(bw_clock_now_s()) };
	return store_exec(p->st,
			  "INSERT INTO pki_policy (tenant, doc, updated) VALUES (?, ?, ?)"
			  " ON CONFLICT (tenant) DO UPDATE SET doc = excluded.doc,"
			  " updated = excluded.updated",
			  v, 3, NULL, err);
}

int pki_policy_get(struct pki *p, const char *tenant, struct bw_buf *out,
		   struct bw_err *err)
{
	int found = policy_text(p, tenant, out, err);
	if (found < 0)
		return -1;
	if (found == 0 && bw_buf_append_str(out, "{}") < 0)
		return bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	return 0;
}
