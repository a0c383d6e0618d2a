/*
 * siem_http.c — NDJSON ingest over HTTPS with per-source API keys, and
 * the keys themselves.
 *
 * A source key is "bws_<16 hex id>_<43 base64url secret>"; the store
 * keeps only its SHA-256 (compared with bw_ct_equal), its id, name,
 * tenant and state. The tenant of every event posted with a key is the
 * key's tenant, whatever the body says, so one source cannot write into
 * another tenant.
 *
 * A request is all or nothing: the body is validated first (every line
 * one JSON object, at most http_max_lines), then its events go into the
 * loop's batches; the response waits for every batch holding them and is
 * 200 only when all are durably stored (503 if any failed, in which case
 * the client retries the whole body). A full queue answers 503 with
 * Retry-After before anything is taken.
 */
#include "siem/siem_svc_int.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>

struct siem_key {
	char id[17];
	char name[65];
	char tenant[65];
	uint8_t hash[32];
	int64_t created;
	bool revoked;
};

struct siem_http_wait {
	struct net_exchange *x;
	struct siem_ictx *ictx;
	unsigned pending; /* batches holding events of this request */
	bool failed;
	size_t accepted;
};

/* ------------------------------------------------------------------ keys */

static int key_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct siem_service *svc = arg;
	if (svc->nkeys == SIEM_SOURCE_KEYS_MAX)
		return STORE_ROW_STOP;
	struct siem_key *k = &svc->keys[svc->nkeys];
	memset(k, 0, sizeof(*k));
	struct bw_str id = store_row_text(row, 0), name = store_row_text(row, 1),
		      tenant = store_row_text(row, 2);
	size_t hl = 0;
	const void *h = store_row_blob(row, 3, &hl);
	if (id.len >= sizeof(k->id) || name.len >= sizeof(k->name) ||
	    tenant.len >= sizeof(k->tenant) || hl != sizeof(k->hash))
		return STORE_ROW_NEXT; /* not one we wrote: ignore */
	memcpy(k->id, id.p, id.len);
	memcpy(k->name, name.p, name.len);
	memcpy(k->tenant, tenant.p, tenant.len);
	memcpy(k->hash, h, hl);
	k->created = store_row_int64(row, 4);
	k->revoked = !store_row_is_null(row, 5);
	svc->nkeys++;
	return STORE_ROW_NEXT;
}

int siem_keys_load(struct siem_service *svc, struct bw_err *err)
{
	pthread_mutex_lock(&svc->keys_mu);
	if (!svc->keys)
		svc->keys = calloc(SIEM_SOURCE_KEYS_MAX, sizeof(*svc->keys));
	svc->nkeys = 0;
	int rc = svc->keys ? store_query(svc->st,
					 "SELECT id, name, tenant, hash, created, revoked"
					 " FROM siem_source_key ORDER BY created, id",
					 NULL, 0, key_row, svc, err) :
			     SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	pthread_mutex_unlock(&svc->keys_mu);
	return rc;
}

void siem_keys_free(struct siem_service *svc)
{
	free(svc->keys);
	svc->keys = NULL;
	svc->nkeys = 0;
}

static void b64url(const uint8_t *in, size_t n, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
		out[o++] = t[v & 63];
	}
	if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
	} else if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
	}
	out[o] = '\0';
}

struct key_job {
	const struct siem_key *k;
	const char *actor;
	const char *id;
	int64_t now;
	bool revoke;
};

static int key_write_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct key_job *j = arg;
	if (j->revoke) {
		struct store_value v[] = { store_int(j->now), store_text_str(j->id) };
		if (store_tx_exec(tx,
				  "UPDATE siem_source_key SET revoked = ?"
				  " WHERE id = ? AND revoked IS NULL",
				  v, 2, err) < 0)
			return -1;
		if (store_tx_changes(tx) != 1)
			return SIEM_SVC_ERR(err, 404, "not_found", "no such active key");
		return 0;
	}
	struct store_value v[] = { store_text_str(j->k->id), store_text_str(j->k->name),
				   store_text_str(j->k->tenant),
				   store_blob(j->k->hash, sizeof(j->k->hash)),
				   store_int(j->k->created), store_text_str(j->actor) };
	return store_tx_exec(tx,
			     "INSERT INTO siem_source_key (id, name, tenant, hash, created,"
			     " created_by) VALUES (?, ?, ?, ?, ?, ?)",
			     v, 6, err);
}

int siem_key_create(struct siem_service *svc, const char *name, const char *tenant,
		    const char *actor, char token[96], char id_out[17],
		    struct bw_err *err)
{
	if (!name || !*name || strlen(name) > 64 || !tenant || !*tenant ||
	    strlen(tenant) > 64)
		return SIEM_SVC_ERR(err, 400, "bad_request",
				    "name and tenant are required (1-64 bytes)");
	pthread_mutex_lock(&svc->keys_mu);
	size_t n = svc->nkeys;
	pthread_mutex_unlock(&svc->keys_mu);
	if (n >= SIEM_SOURCE_KEYS_MAX)
		return SIEM_SVC_ERR(err, 409, "limit", "too many source keys");
	struct siem_key k = { 0 };
	uint8_t idb[8], sec[32];
	bw_random(idb, sizeof(idb));
	bw_random(sec, sizeof(sec));
	bw_hex_encode(idb, sizeof(idb), k.id);
	char s64[48];
	b64url(sec, sizeof(sec), s64);
	bw_wipe(sec, sizeof(sec));
	snprintf(token, 96, "bws_%s_%s", k.id, s64);
	bw_wipe(s64, sizeof(s64));
	SHA256((const unsigned char *)token, strlen(token), k.hash);
	bw_snprintf(k.name, sizeof(k.name), "%s", name);
	bw_snprintf(k.tenant, sizeof(k.tenant), "%s", tenant);
	k.created = bw_clock_now_s();
	struct key_job j = { .k = &k, .actor = actor };
	if (store_write(svc->st, key_write_job, &j, err) < 0) {
		bw_wipe(token, 96);
		return -1;
	}
	memcpy(id_out, k.id, sizeof(k.id));
	return siem_keys_load(svc, err);
}

int siem_key_revoke(struct siem_service *svc, const char *id, struct bw_err *err)
{
	struct key_job j = { .id = id, .revoke = true, .now = bw_clock_now_s() };
	if (store_write(svc->st, key_write_job, &j, err) < 0)
		return -1;
	return siem_keys_load(svc, err);
}

void siem_keys_write_json(struct siem_service *svc, struct json_writer *w)
{
	pthread_mutex_lock(&svc->keys_mu);
	json_write_array_begin(w);
	for (size_t i = 0; i < svc->nkeys; i++) {
		const struct siem_key *k = &svc->keys[i];
		json_write_object_begin(w);
		json_write_kv_string(w, "id", k->id);
		json_write_kv_string(w, "name", k->name);
		json_write_kv_string(w, "tenant", k->tenant);
		json_write_kv_int(w, "created", k->created);
		json_write_kv_bool(w, "revoked", k->revoked);
		json_write_object_end(w);
	}
	json_write_array_end(w);
	pthread_mutex_unlock(&svc->keys_mu);
}

/* Finds the key a bearer token names and checks its hash. OUT: tenant. */
static bool key_check(struct siem_service *svc, struct bw_str tok, char tenant[65])
{
	if (tok.len < 4 + 16 + 1 + 1 || tok.len > 95 || memcmp(tok.p, "bws_", 4) != 0)
		return false;
	uint8_t h[32];
	SHA256((const unsigned char *)tok.p, tok.len, h);
	bool ok = false;
	pthread_mutex_lock(&svc->keys_mu);
	for (size_t i = 0; i < svc->nkeys; i++) {
		const struct siem_key *k = &svc->keys[i];
		if (memcmp(k->id, tok.p + 4, 16) != 0)
			continue;
		if (!k->revoked && bw_ct_equal(h, sizeof(h), k->hash, sizeof(k->hash))) {
			memcpy(tenant, k->tenant, sizeof(k->tenant));
			ok = true;
		}
		break;
	}
	pthread_mutex_unlock(&svc->keys_mu);
	bw_wipe(h, sizeof(h));
	return ok;
}

/* ---------------------------------------------------------------- ingest */

static void respond_json(struct net_exchange *x, int status, const char *code,
			 const char *msg)
{
	struct bw_buf b;
	bw_buf_init(&b, 4096);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "error");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "code", code);
	json_write_kv_string(&w, "message", msg);
	json_write_object_end(&w);
	json_write_object_end(&w);
	bool ok = json_writer_finish(&w) == 0;
	net_add_header(x, "Cache-Control", "no-store");
	net_respond(x, status, "application/json", ok ? b.data : "{}", ok ? b.len : 2);
	bw_buf_fini(&b);
}

static void emit_auth(struct net_exchange *x, bool ok, const char *tenant)
{
	struct bw_event ev;
	bw_event_init(&ev, "authentication", "siem-ingest-authenticate",
		      ok ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE);
	ev.severity = ok ? 0 : 3;
	BW_EVENT_SET(&ev, source_ip, net_peer_ip(x));
	BW_EVENT_SET(&ev, request_id, net_request_id(x));
	if (tenant)
		BW_EVENT_SET(&ev, tenant, tenant);
	(void)bw_event_emit(&ev);
}

void siem_http_wait_done(struct siem_http_wait *w, bool ok, struct siem_batch *b)
{
	if (!ok)
		w->failed = true;
	if (--w->pending > 0)
		return;
	if (w->failed) {
		net_add_header(w->x, "Retry-After", "1");
		respond_json(w->x, 503, "not_stored",
			     "the events could not be stored; send them again");
	} else {
		char body[64];
		int n = snprintf(body, sizeof(body), "{\"accepted\":%zu}", w->accepted);
		net_add_header(w->x, "Cache-Control", "no-store");
		net_respond(w->x, 200, "application/json", body, (size_t)n);
	}
	free(w);
}

/* Next non-empty line of body from *off, without its CR/LF. */
static bool next_line(struct bw_str body, size_t *off, struct bw_str *line)
{
	while (*off < body.len) {
		size_t s = *off;
		const char *nl = memchr(body.p + s, '\n', body.len - s);
		size_t e = nl ? (size_t)(nl - body.p) : body.len;
		*off = nl ? e + 1 : body.len;
		size_t l = e - s;
		if (l && body.p[s + l - 1] == '\r')
			l--;
		if (l) {
			*line = bw_str_make(body.p + s, l);
			return true;
		}
	}
	return false;
}

bool siem_http_ingest(struct net_exchange *x, void *arg)
{
	struct siem_service *svc = arg;
	const struct http_request *req = net_request(x);
	if (!bw_str_eq_lit(req->path, "/api/v1/siem/ingest"))
		return false;
	atomic_fetch_add(&svc->c.http_requests, 1);
	if (req->method != HTTP_METHOD_POST) {
		net_add_header(x, "Allow", "POST");
		respond_json(x, 405, "method_not_allowed", "use POST");
		return true;
	}
	const struct http_header *h =
		http_header_find(req->headers, req->nheaders, "authorization");
	char tenant[65];
	if (!h || h->value.len < 8 || !bw_str_caseeq_lit(bw_str_make(h->value.p, 7), "bearer ") ||
	    !key_check(svc, bw_str_make(h->value.p + 7, h->value.len - 7), tenant)) {
		emit_auth(x, false, NULL);
		net_set_outcome_reason(x, "bad_source_key");
		net_add_header(x, "WWW-Authenticate", "Bearer realm=\"bulwark-siem\"");
		respond_json(x, 401, "unauthenticated", "a valid source key is required");
		return true;
	}
	emit_auth(x, true, tenant);
	struct siem_gen *g = siem_gen_get(svc);
	size_t max_body = g->conf.http_body, max_lines = g->conf.http_lines;
	siem_gen_unref(g);
	struct bw_str body = net_request_body(x);
	if (body.len > max_body) {
		respond_json(x, 413, "too_large", "request body over the NDJSON limit");
		return true;
	}
	/* validate everything first: all or nothing */
	struct bw_arena *scratch = net_arena(x);
	size_t off = 0, nlines = 0;
	struct bw_str line;
	while (next_line(body, &off, &line)) {
		if (++nlines > max_lines) {
			respond_json(x, 413, "too_many_lines", "too many events in one request");
			return true;
		}
		struct bw_err err;
		struct json_value *v = json_parse(scratch, line.p, line.len, NULL, &err);
		if (!v || v->type != JSON_OBJECT) {
			char msg[160];
			snprintf(msg, sizeof(msg), "line %zu: not a JSON object%s%s", nlines,
				 v ? "" : ": ", v ? "" : err.reason);
			respond_json(x, 400, "bad_event", msg);
			return true;
		}
	}
	if (nlines == 0) {
		respond_json(x, 400, "empty", "no events in the body");
		return true;
	}
	if (siem_queue_full(svc, nlines)) {
		atomic_fetch_add(&svc->c.refused_http, 1);
		net_add_header(x, "Retry-After", "1");
		respond_json(x, 503, "overloaded", "the ingest queue is full; retry later");
		return true;
	}
	struct siem_ictx *ix = siem_ictx_for_loop(svc, net_loop(x));
	struct siem_http_wait *w = calloc(1, sizeof(*w));
	if (!ix || !w) {
		free(w);
		respond_json(x, 503, "overloaded", "out of memory");
		return true;
	}
	w->x = x;
	w->ictx = ix;
	/* the request's events start a batch of their own */
	siem_ictx_flush(ix);
	off = 0;
	while (next_line(body, &off, &line)) {
		struct siem_batch *b = siem_ingest_cur(ix);
		if (!b) {
			w->failed = true;
			break;
		}
		struct siem_rec *r = &b->recs[b->n];
		memset(r, 0, sizeof(*r));
		struct bw_err err;
		if (siem_event_from_json(line.p, line.len, b->arena, &r->ev, &err) < 0) {
			w->failed = true; /* validated above: only memory */
			break;
		}
		if (siem_event_setc(&r->ev, SIEM_F_TENANT, tenant, strlen(tenant)) < 0 ||
		    (!r->ev.f[SIEM_F_OBSERVER_IP].p &&
		     siem_event_setc(&r->ev, SIEM_F_OBSERVER_IP, net_peer_ip(x),
				     strlen(net_peer_ip(x))) < 0)) {
			w->failed = true;
			break;
		}
		if (!r->ev.f[SIEM_F_EVENT_MODULE].p)
			siem_event_setz(&r->ev, SIEM_F_EVENT_MODULE, "ndjson");
		if (!r->ev.ts_ns)
			r->ev.ts_ns = bw_clock_now_ns();
		siem_ext_enrich(svc, b, &r->ev);
		(void)siem_ingest_event(ix, b, SIEM_SRC_HTTP);
		w->accepted++;
		if (b->n == b->cap) {
			if (siem_ingest_add_http_ack(ix, w) < 0) {
				w->failed = true;
				break;
			}
			w->pending++;
			siem_ictx_flush(ix);
		}
	}
	if (ix->cur && ix->cur->n) {
		if (siem_ingest_add_http_ack(ix, w) < 0)
			w->failed = true;
		else
			w->pending++;
		siem_ictx_flush(ix);
	}
	if (w->pending == 0) {
		/* nothing queued (failed before the first batch) */
		w->pending = 1;
		siem_http_wait_done(w, false, NULL);
	}
	return true;
}
