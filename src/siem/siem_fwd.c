/*
 * siem_fwd.c — the SIEM adaptor (forwarding selected events and alerts to
 * external SIEMs) and alert notifications.
 *
 * Forwarding: each destination (forward: in the config) has a spool file
 * in DATA/forward/NAME/ — an append-only file of records ("E <ECS JSON>"
 * or "A <alert JSON>", one per line) and the offset delivered so far. The
 * store writer hands stored records over in memory (bounded; past the
 * bound they are counted as dropped); the service thread appends them to
 * the spool, and delivers from the offset in batches: syslog with CEF,
 * LEEF or JSON over UDP or TCP, Splunk HEC or Elasticsearch bulk over
 * HTTP(S) with net_fetch. A failed delivery is retried every `retry`;
 * the offset only moves after the destination accepted the batch (HTTP
 * 2xx with no "errors": true, or the bytes written to TCP), so records
 * survive restarts and outages up to `buffer` bytes, after which new
 * records are dropped and counted. Delivery is at least once.
 *
 * Notifications: alerts at or above a notifier's min_level go out by
 * signed webhook (JSON, X-Bulwark-Signature: sha256=HMAC(key,
 * "TIMESTAMP.BODY") with X-Bulwark-Timestamp), SMTP (libcurl) or syslog
 * (CEF over UDP). They are best effort, counted sent or failed.
 *
 * Threads: siem_ext_stored runs on the store writer (copies and returns);
 * everything else on the service thread. The only shared state is the
 * hand-over buffers under fwd->mu.
 */
#include "siem/siem_svc_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FWD_PENDING_MAX (16u << 20) /* per destination, in memory */
#define NOTES_MAX (4u << 20)
#define FWD_MAX_DEST 16
#define FWD_READ_MAX (4u << 20)

struct fwd_dest {
	struct siem_fwd_conf c;
	char dir[600];
	char *token;
	uint64_t size, offset;
	bool inflight;
	int64_t retry_at_ms;
	int sock; /* syslog TCP, or -1 */
	uint64_t sending; /* bytes of the batch in flight */
	struct siem_service *svc;
};

struct siem_fwd {
	pthread_mutex_t mu;
	struct bw_buf pending[FWD_MAX_DEST];
	struct bw_buf notes;
	struct siem_gen *next_gen; /* to apply on the service thread */
	struct siem_gen *gen;	   /* the destinations' config */
	struct fwd_dest d[FWD_MAX_DEST];
	size_t n;
	char *hmac_key[32]; /* per notifier (webhook secret / smtp password) */
	size_t hmac_len[32];
	_Atomic bool kick;
};

static int64_t mono_ms(void)
{
	return bw_clock_mono_ms();
}

/* ------------------------------------------------------------ records */

static void alert_json(const struct siem_alert_row *a, struct bw_buf *o)
{
	struct json_writer w;
	json_writer_init(&w, o);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "kind", "alert");
	json_write_kv_int(&w, "id", a->id);
	char t[32];
	bw_time_format(a->ts, t);
	json_write_kv_string(&w, "@timestamp", t);
	json_write_kv_string(&w, "rule", a->rule_id ? a->rule_id : "");
	json_write_kv_string(&w, "title", a->rule_title ? a->rule_title : "");
	json_write_kv_string(&w, "type", a->kind ? a->kind : "");
	json_write_kv_string(&w, "level", a->level ? a->level : "");
	json_write_kv_int(&w, "severity", a->severity);
	json_write_kv_string(&w, "group", a->group_key ? a->group_key : "");
	if (a->tenant)
		json_write_kv_string(&w, "tenant", a->tenant);
	if (a->event_id)
		json_write_kv_int(&w, "event_id", a->event_id);
	json_write_key(&w, "context");
	/* context is JSON we wrote; copy it as a string only if it does not
	 * parse (never splice unchecked text) */
	struct bw_err err;
	struct bw_arena *ar = bw_arena_new(4096, 1u << 20);
	struct json_value *v = ar && a->context ?
				       json_parse(ar, a->context, strlen(a->context), NULL, &err) :
				       NULL;
	if (v)
		json_write_value(&w, v);
	else
		json_write_null(&w);
	bw_arena_free(ar);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		bw_buf_reset(o);
}

static bool category_ok(const struct siem_fwd_conf *c, struct bw_str cat)
{
	if (c->categories.n == 0)
		return true;
	for (size_t i = 0; i < c->categories.n; i++)
		if (cat.p && bw_str_eq_lit(cat, c->categories.v[i]))
			return true;
	return false;
}

static void fwd_kick_task(void *arg);

void siem_ext_stored(struct siem_service *svc, struct siem_batch *b)
{
	struct siem_fwd *f = svc->fwd;
	if (!f)
		return;
	struct siem_gen *g = b->gen;
	bool any = false;
	struct bw_buf ab;
	bw_buf_init(&ab, 1u << 20);
	pthread_mutex_lock(&f->mu);
	const struct siem_fwd_conf *fc = g->conf.forward.v;
	for (size_t k = 0; k < g->conf.forward.n && k < FWD_MAX_DEST; k++) {
		struct bw_buf *p = &f->pending[k];
		if (fc[k].events)
			for (size_t i = 0; i < b->n; i++) {
				const struct siem_rec *r = &b->recs[i];
				if (!category_ok(&fc[k], r->ev.f[SIEM_F_EVENT_CATEGORY]))
					continue;
				if (!r->json_len || p->len + r->json_len + 3 > FWD_PENDING_MAX ||
				    bw_buf_append(p, "E ", 2) < 0 ||
				    bw_buf_append(p, b->json.data + r->json_off, r->json_len) < 0 ||
				    bw_buf_append_byte(p, '\n') < 0) {
					atomic_fetch_add(&svc->c.fwd_dropped, 1);
					continue;
				}
				any = true;
			}
		if (fc[k].alerts)
			for (size_t i = 0; i < b->nalerts; i++) {
				if (b->alerts[i].update)
					continue;
				bw_buf_reset(&ab);
				alert_json(&b->alerts[i], &ab);
				if (!ab.len || p->len + ab.len + 3 > FWD_PENDING_MAX ||
				    bw_buf_append(p, "A ", 2) < 0 ||
				    bw_buf_append(p, ab.data, ab.len) < 0 ||
				    bw_buf_append_byte(p, '\n') < 0) {
					atomic_fetch_add(&svc->c.fwd_dropped, 1);
					continue;
				}
				any = true;
			}
	}
	/* notifications: new alerts at or above the lowest notifier level */
	const struct siem_notify_conf *nc = g->conf.alerts.notify.v;
	int lowest = 99;
	for (size_t k = 0; k < g->conf.alerts.notify.n; k++)
		if (nc[k].min_level < lowest)
			lowest = nc[k].min_level;
	for (size_t i = 0; i < b->nalerts && lowest < 99; i++) {
		if (b->alerts[i].update || b->alerts[i].severity < lowest)
			continue;
		bw_buf_reset(&ab);
		alert_json(&b->alerts[i], &ab);
		if (!ab.len || f->notes.len + ab.len + 1 > NOTES_MAX ||
		    bw_buf_append(&f->notes, ab.data, ab.len) < 0 ||
		    bw_buf_append_byte(&f->notes, '\n') < 0) {
			atomic_fetch_add(&svc->c.notify_failed, 1);
			continue;
		}
		any = true;
	}
	pthread_mutex_unlock(&f->mu);
	bw_buf_fini(&ab);
	bool expected = false;
	if (any && svc->sloop && atomic_compare_exchange_strong(&f->kick, &expected, true) &&
	    loop_post(svc->sloop, fwd_kick_task, svc) < 0)
		atomic_store(&f->kick, false);
}

/* --------------------------------------------------------------- spool */

static int mkdirs(const char *path)
{
	char tmp[600];
	if (bw_snprintf(tmp, sizeof(tmp), "%s", path) < 0)
		return -1;
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int read_offset(struct fwd_dest *d)
{
	char p[700];
	snprintf(p, sizeof(p), "%s/spool", d->dir);
	struct stat st;
	d->size = stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
	snprintf(p, sizeof(p), "%s/offset", d->dir);
	FILE *f = fopen(p, "r");
	unsigned long long off = 0;
	if (f) {
		if (fscanf(f, "%llu", &off) != 1)
			off = 0;
		fclose(f);
	}
	d->offset = off <= d->size ? off : 0;
	return 0;
}

static void write_offset(struct fwd_dest *d)
{
	char p[700], v[32];
	snprintf(p, sizeof(p), "%s/offset", d->dir);
	int n = snprintf(v, sizeof(v), "%llu\n", (unsigned long long)d->offset);
	struct bw_err err;
	if (bw_file_write_atomic(p, v, (size_t)n, 0600, &err) < 0)
		log_kv(BW_LOG_WARN, "siem forward: cannot save the offset", "error", err.msg,
		       NULL);
	if (d->offset == d->size && d->size > 0) {
		/* everything delivered: start the spool afresh */
		snprintf(p, sizeof(p), "%s/spool", d->dir);
		if (truncate(p, 0) == 0) {
			d->size = d->offset = 0;
			snprintf(p, sizeof(p), "%s/offset", d->dir);
			if (bw_file_write_atomic(p, "0\n", 2, 0600, &err) < 0)
				log_warnx("siem forward: cannot reset the offset");
		}
	}
}

static void spool_append(struct siem_service *svc, struct fwd_dest *d, struct bw_buf *b)
{
	if (!b->len)
		return;
	if (d->size + b->len > d->c.buffer_max) {
		/* the disk buffer is full: the newest records are the ones that
		 * cannot be kept; count each */
		size_t lines = 0;
		for (size_t i = 0; i < b->len; i++)
			lines += b->data[i] == '\n';
		atomic_fetch_add(&svc->c.fwd_dropped, lines);
		log_kv(BW_LOG_WARN, "siem forward: buffer full, records dropped", "destination",
		       d->c.name, NULL);
		return;
	}
	char p[700];
	snprintf(p, sizeof(p), "%s/spool", d->dir);
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("siem forward: %s", p);
		return;
	}
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(fd, b->data + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	d->size += off;
}

/* ------------------------------------------------------------ delivery */

static int severity_of_level(const char *level)
{
	return strcmp(level, "critical") == 0 ? 10 :
	       strcmp(level, "high") == 0     ? 8 :
	       strcmp(level, "medium") == 0   ? 5 :
	       strcmp(level, "low") == 0      ? 3 :
						1;
}

/* One spool record in the destination's wire format, appended to out. */
static int format_record(struct fwd_dest *d, const char *rec, size_t n, struct bw_buf *out)
{
	if (n < 2)
		return 0;
	bool alert = rec[0] == 'A';
	const char *json = rec + 2;
	size_t jl = n - 2;
	struct bw_arena *a = bw_arena_new(16384, 8u << 20);
	if (!a)
		return -1;
	struct bw_err err;
	int rc = 0;
	struct siem_event ev;
	const struct json_value *av = NULL;
	if (alert) {
		av = json_parse(a, json, jl, NULL, &err);
		if (!av) {
			bw_arena_free(a);
			return 0; /* not ours: skip */
		}
		siem_event_init(&ev, a);
		if (siem_time_parse_rfc3339(json_get_str(av, "@timestamp", ""),
					    strlen(json_get_str(av, "@timestamp", "")),
					    &ev.ts_ns) < 0)
			ev.ts_ns = bw_clock_now_ns();
		siem_event_setz(&ev, SIEM_F_EVENT_KIND, "alert");
		siem_event_setz(&ev, SIEM_F_EVENT_CATEGORY, "alert");
		siem_event_setz(&ev, SIEM_F_RULE_NAME, json_get_str(av, "title", ""));
		siem_event_setz(&ev, SIEM_F_MESSAGE, json_get_str(av, "title", ""));
		siem_event_setz(&ev, SIEM_F_EVENT_ID, json_get_str(av, "rule", ""));
	} else if (siem_event_from_json(json, jl, a, &ev, &err) < 0) {
		bw_arena_free(a);
		return 0;
	}
	if (d->c.kind == SIEM_FWD_SYSLOG) {
		struct bw_buf body;
		bw_buf_init(&body, 2u << 20);
		struct bw_str host = ev.f[SIEM_F_HOST_NAME];
		char h[256] = "bulwark";
		if (host.p && host.len < sizeof(h)) {
			memcpy(h, host.p, host.len);
			h[host.len] = '\0';
		}
		const char *sig = alert ? json_get_str(av, "rule", "alert") : NULL;
		int sev = alert ? severity_of_level(json_get_str(av, "level", "")) : 3;
		struct bw_str act = ev.f[SIEM_F_EVENT_ACTION];
		char sigbuf[128];
		if (!alert) {
			snprintf(sigbuf, sizeof(sigbuf), "%.*s", act.p ? (int)(act.len > 100 ? 100 : act.len) : 5,
				 act.p ? act.p : "event");
			sig = sigbuf;
			struct bw_str sv = ev.f[SIEM_F_EVENT_SEVERITY];
			uint64_t s;
			if (sv.p && bw_str_to_u64(sv, &s) == 0)
				sev = (int)(s > 10 ? 10 : s);
		}
		const char *name = alert ? json_get_str(av, "title", "alert") : sig;
		if (d->c.format == SIEM_FMT_CEF)
			rc = siem_format_cef(&ev, sig, name, sev, &body);
		else if (d->c.format == SIEM_FMT_LEEF)
			rc = siem_format_leef(&ev, sig, sev, &body);
		else
			rc = bw_buf_append(&body, json, jl);
		if (rc == 0)
			rc = siem_format_syslog(ev.ts_ns, h, alert ? 12 : 14, body.data, body.len, out);
		if (rc == 0)
			rc = bw_buf_append_byte(out, '\n');
		bw_buf_fini(&body);
	} else if (d->c.kind == SIEM_FWD_HEC) {
		struct json_writer w;
		json_writer_init(&w, out);
		json_write_object_begin(&w);
		json_write_key(&w, "time");
		json_write_double(&w, (double)(ev.ts_ns / 1000000) / 1000.0);
		struct bw_str host = ev.f[SIEM_F_HOST_NAME];
		json_write_key(&w, "host");
		if (host.p)
			json_write_stringn(&w, host.p, host.len);
		else
			json_write_string(&w, "bulwark");
		json_write_kv_string(&w, "source", "bulwark");
		json_write_kv_string(&w, "sourcetype", alert ? "bulwark:alert" : "bulwark:ecs");
		if (d->c.index)
			json_write_kv_string(&w, "index", d->c.index);
		json_write_key(&w, "event");
		const struct json_value *v = json_parse(a, json, jl, NULL, &err);
		if (v)
			json_write_value(&w, v);
		else
			json_write_null(&w);
		json_write_object_end(&w);
		rc = json_writer_finish(&w) < 0 ? -1 : bw_buf_append_byte(out, '\n');
	} else {
		/* Elasticsearch bulk: action line, then the document */
		rc = bw_buf_printf(out, "{\"index\":{\"_index\":\"%s\"}}\n",
				   d->c.index ? d->c.index : "bulwark");
		const struct json_value *v = json_parse(a, json, jl, NULL, &err);
		struct json_writer w;
		json_writer_init(&w, out);
		if (v)
			json_write_value(&w, v);
		else
			json_write_null(&w);
		if (rc == 0)
			rc = json_writer_finish(&w) < 0 ? -1 : bw_buf_append_byte(out, '\n');
	}
	bw_arena_free(a);
	return rc;
}

struct send_ctx {
	struct siem_service *svc;
	struct fwd_dest *d;
	uint64_t records;
};

static void delivered(struct fwd_dest *d, bool ok, uint64_t records)
{
	struct siem_service *svc = d->svc;
	d->inflight = false;
	if (ok) {
		d->offset += d->sending;
		atomic_fetch_add(&svc->c.fwd_sent, records);
		write_offset(d);
		d->retry_at_ms = 0;
	} else {
		atomic_fetch_add(&svc->c.fwd_failed, 1);
		d->retry_at_ms = mono_ms() + (int64_t)d->c.retry_ms;
	}
	d->sending = 0;
}

static void http_done(void *arg, const struct net_fetch_result *r)
{
	struct send_ctx *s = arg;
	bool ok = !r->error && r->status >= 200 && r->status < 300;
	/* the bulk API answers 200 with "errors": true when items failed */
	if (ok && s->d->c.kind == SIEM_FWD_ELASTIC && r->body.p &&
	    memmem(r->body.p, r->body.len, "\"errors\":true", 13))
		ok = false;
	if (!ok)
		log_kv(BW_LOG_WARN, "siem forward: delivery failed; will retry", "destination",
		       s->d->c.name, "error", r->error ? r->error : "status", NULL);
	delivered(s->d, ok, s->records);
	free(s);
}

static int syslog_send(struct fwd_dest *d, const char *p, size_t n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, d->c.address, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(d->c.port);
		sl = sizeof(*v4);
	} else if (inet_pton(AF_INET6, d->c.address, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(d->c.port);
		sl = sizeof(*v6);
	} else {
		return -1;
	}
	if (d->c.transport == 0) {
		int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		int rc = 0;
		/* one datagram per line */
		for (size_t i = 0; i < n;) {
			const char *nl = memchr(p + i, '\n', n - i);
			size_t e = nl ? (size_t)(nl - p) : n;
			if (sendto(fd, p + i, e - i, 0, (struct sockaddr *)&ss, sl) < 0)
				rc = -1;
			i = e + 1;
		}
		close(fd);
		return rc;
	}
	if (d->sock < 0) {
		d->sock = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timeval tv = { 2, 0 };
		if (d->sock < 0)
			return -1;
		(void)setsockopt(d->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(d->sock, (struct sockaddr *)&ss, sl) < 0) {
			close(d->sock);
			d->sock = -1;
			return -1;
		}
	}
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(d->sock, p + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(d->sock);
			d->sock = -1;
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

static void deliver(struct siem_service *svc, struct fwd_dest *d)
{
	if (d->inflight || d->offset >= d->size ||
	    (d->retry_at_ms && mono_ms() < d->retry_at_ms))
		return;
	char p[700];
	snprintf(p, sizeof(p), "%s/spool", d->dir);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size_t want = d->size - d->offset > FWD_READ_MAX ? FWD_READ_MAX : (size_t)(d->size - d->offset);
	char *buf = malloc(want + 1);
	ssize_t got = buf ? pread(fd, buf, want, (off_t)d->offset) : -1;
	close(fd);
	if (got <= 0) {
		free(buf);
		return;
	}
	/* whole records only, at most `batch` of them */
	size_t used = 0, recs = 0;
	struct bw_buf out;
	bw_buf_init(&out, 64u << 20);
	while (used < (size_t)got && recs < d->c.batch) {
		const char *nl = memchr(buf + used, '\n', (size_t)got - used);
		if (!nl)
			break;
		size_t e = (size_t)(nl - buf);
		if (format_record(d, buf + used, e - used, &out) < 0)
			break;
		used = e + 1;
		recs++;
	}
	free(buf);
	if (used == 0) {
		bw_buf_fini(&out);
		return;
	}
	d->sending = used;
	if (d->c.kind == SIEM_FWD_SYSLOG) {
		delivered(d, syslog_send(d, out.data, out.len) == 0, recs);
		bw_buf_fini(&out);
		return;
	}
	struct send_ctx *s = calloc(1, sizeof(*s));
	char auth[600] = "";
	const char *hdrs[4] = { NULL };
	size_t nh = 0;
	if (d->c.kind == SIEM_FWD_HEC) {
		snprintf(auth, sizeof(auth), "Authorization: Splunk %s", d->token ? d->token : "");
		hdrs[nh++] = auth;
		hdrs[nh++] = "Content-Type: application/json";
	} else {
		if (d->token) {
			snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", d->token);
			hdrs[nh++] = auth;
		}
		hdrs[nh++] = "Content-Type: application/x-ndjson";
	}
	char url[2200];
	const char *u = d->c.url;
	if (d->c.kind == SIEM_FWD_ELASTIC && !strstr(u, "/_bulk"))
		snprintf(url, sizeof(url), "%s%s_bulk", u, u[strlen(u) - 1] == '/' ? "" : "/");
	else
		snprintf(url, sizeof(url), "%s", u);
	struct net_fetch_request req = { .method = "POST", .url = url, .headers = hdrs,
					 .body = out.data, .body_len = out.len,
					 .timeout_ms = 30000, .ca_file = d->c.ca_file };
	struct bw_err err;
	if (!s || !svc->fetch) {
		free(s);
		delivered(d, false, 0);
	} else {
		s->svc = svc;
		s->d = d;
		s->records = recs;
		d->inflight = true;
		if (net_fetch_start(svc->fetch, &req, http_done, s, &err) < 0) {
			free(s);
			delivered(d, false, 0);
		}
	}
	bw_wipe(auth, sizeof(auth));
	bw_buf_fini(&out);
}

/* --------------------------------------------------------- notifications */

static char *read_secret(const char *path, size_t *len)
{
	struct bw_err err;
	char *s = bw_file_read(path, 4096, len, &err);
	while (s && *len && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
		s[--*len] = '\0';
	return s;
}

struct note_ctx {
	struct siem_service *svc;
};

static void note_done(void *arg, const struct net_fetch_result *r)
{
	struct note_ctx *n = arg;
	bool ok = !r->error && r->status >= 200 && r->status < 300;
	atomic_fetch_add(ok ? &n->svc->c.notify_sent : &n->svc->c.notify_failed, 1);
	free(n);
}

static void notify_webhook(struct siem_service *svc, const struct siem_notify_conf *c,
			   const char *key, size_t keylen, const char *body, size_t n)
{
	char ts[24], sig[128] = "X-Bulwark-Signature: sha256=", tsh[64];
	snprintf(ts, sizeof(ts), "%lld", (long long)bw_clock_now_s());
	snprintf(tsh, sizeof(tsh), "X-Bulwark-Timestamp: %s", ts);
	uint8_t mac[32];
	unsigned ml = 0;
	/* HMAC-SHA256 over "TIMESTAMP.BODY" */
	struct bw_buf m;
	bw_buf_init(&m, n + 32);
	if (bw_buf_append_str(&m, ts) < 0 || bw_buf_append_byte(&m, '.') < 0 ||
	    bw_buf_append(&m, body, n) < 0 ||
	    !HMAC(EVP_sha256(), key ? key : "", (int)keylen, (const unsigned char *)m.data,
		  m.len, mac, &ml)) {
		bw_buf_fini(&m);
		atomic_fetch_add(&svc->c.notify_failed, 1);
		return;
	}
	bw_buf_fini(&m);
	bw_hex_encode(mac, 32, sig + strlen(sig));
	const char *hdrs[] = { "Content-Type: application/json", sig, tsh, NULL };
	struct net_fetch_request req = { .method = "POST", .url = c->url, .headers = hdrs,
					 .body = body, .body_len = n, .timeout_ms = 10000,
					 .ca_file = c->ca_file };
	struct note_ctx *nc = calloc(1, sizeof(*nc));
	struct bw_err err;
	if (!nc || !svc->fetch) {
		free(nc);
		atomic_fetch_add(&svc->c.notify_failed, 1);
		return;
	}
	nc->svc = svc;
	if (net_fetch_start(svc->fetch, &req, note_done, nc, &err) < 0) {
		free(nc);
		atomic_fetch_add(&svc->c.notify_failed, 1);
	}
}

struct smtp_src {
	const char *p;
	size_t left;
};

static size_t smtp_read(char *buf, size_t sz, size_t nm, void *arg)
{
	struct smtp_src *s = arg;
	size_t n = sz * nm < s->left ? sz * nm : s->left;
	memcpy(buf, s->p, n);
	s->p += n;
	s->left -= n;
	return n;
}

/* SMTP through libcurl (blocking; the service thread only). */
static void notify_smtp(struct siem_service *svc, const struct siem_notify_conf *c,
			const char *pass, const char *body, size_t n)
{
	struct bw_arena *a = bw_arena_new(8192, 1u << 20);
	struct bw_err err;
	const struct json_value *v = a ? json_parse(a, body, n, NULL, &err) : NULL;
	struct bw_buf msg;
	bw_buf_init(&msg, 1u << 20);
	char date[32];
	bw_time_format(bw_clock_now_ns(), date);
	/* subject and headers: no CR/LF from the alert can reach them */
	char subject[300];
	const char *title = v ? json_get_str(v, "title", "alert") : "alert";
	const char *level = v ? json_get_str(v, "level", "") : "";
	size_t k = 0;
	for (const char *p = title; *p && k < 200; p++)
		subject[k++] = (*p == '\r' || *p == '\n') ? ' ' : *p;
	subject[k] = '\0';
	int rc = bw_buf_printf(&msg, "From: <%s>\r\n", c->from);
	for (size_t i = 0; i < c->to.n; i++)
		rc |= bw_buf_printf(&msg, "To: <%s>\r\n", c->to.v[i]);
	rc |= bw_buf_printf(&msg, "Subject: [bulwark %s] %s\r\nX-Bulwark-Date: %s\r\n"
			    "Content-Type: application/json\r\n\r\n",
			    level, subject, date);
	rc |= bw_buf_append(&msg, body, n);
	rc |= bw_buf_append_str(&msg, "\r\n");
	bw_arena_free(a);
	CURL *e = rc ? NULL : curl_easy_init();
	bool ok = false;
	if (e) {
		struct curl_slist *rcpt = NULL;
		for (size_t i = 0; i < c->to.n; i++)
			rcpt = curl_slist_append(rcpt, c->to.v[i]);
		struct smtp_src src = { msg.data, msg.len };
		curl_easy_setopt(e, CURLOPT_URL, c->url);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		curl_easy_setopt(e, CURLOPT_MAIL_FROM, c->from);
		curl_easy_setopt(e, CURLOPT_MAIL_RCPT, rcpt);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, smtp_read);
		curl_easy_setopt(e, CURLOPT_READDATA, &src);
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_USE_SSL, (long)(strncmp(c->url, "smtps:", 6) == 0 ?
							    CURLUSESSL_ALL :
							    CURLUSESSL_TRY));
		if (c->ca_file)
			curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
		if (c->username) {
			curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
			curl_easy_setopt(e, CURLOPT_PASSWORD, pass ? pass : "");
		}
		CURLcode cc = curl_easy_perform(e);
		ok = cc == CURLE_OK;
		if (!ok)
			log_kv(BW_LOG_WARN, "siem notify: smtp failed", "error",
			       curl_easy_strerror(cc), NULL);
		curl_slist_free_all(rcpt);
		curl_easy_cleanup(e);
	}
	bw_buf_fini(&msg);
	atomic_fetch_add(ok ? &svc->c.notify_sent : &svc->c.notify_failed, 1);
}

static void notify_syslog(struct siem_service *svc, const struct siem_notify_conf *c,
			  const char *body, size_t n)
{
	struct fwd_dest d = { .sock = -1 };
	d.c.address = c->address;
	d.c.port = c->port;
	d.c.transport = 0;
	d.c.kind = SIEM_FWD_SYSLOG;
	d.c.format = SIEM_FMT_CEF;
	d.svc = svc;
	struct bw_buf rec, out;
	bw_buf_init(&rec, n + 8);
	bw_buf_init(&out, 2u << 20);
	bool ok = bw_buf_append(&rec, "A ", 2) == 0 && bw_buf_append(&rec, body, n) == 0 &&
		  format_record(&d, rec.data, rec.len, &out) == 0 && out.len &&
		  syslog_send(&d, out.data, out.len) == 0;
	atomic_fetch_add(ok ? &svc->c.notify_sent : &svc->c.notify_failed, 1);
	bw_buf_fini(&rec);
	bw_buf_fini(&out);
}

static void notify_all(struct siem_service *svc, struct siem_fwd *f, struct siem_gen *g,
		       const char *notes, size_t len)
{
	const struct siem_notify_conf *nc = g->conf.alerts.notify.v;
	struct bw_arena *a = bw_arena_new(8192, 1u << 20);
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(notes + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - notes) : len;
		const char *body = notes + i;
		size_t n = e - i;
		i = e + 1;
		struct bw_err err;
		const struct json_value *v = a ? json_parse(a, body, n, NULL, &err) : NULL;
		int sev = v ? (int)json_get_int(v, "severity", 0) : 0;
		for (size_t k = 0; k < g->conf.alerts.notify.n && k < 32; k++) {
			if (sev < nc[k].min_level)
				continue;
			if (nc[k].kind == SIEM_NOTIFY_WEBHOOK)
				notify_webhook(svc, &nc[k], f->hmac_key[k], f->hmac_len[k], body, n);
			else if (nc[k].kind == SIEM_NOTIFY_SMTP)
				notify_smtp(svc, &nc[k], f->hmac_key[k], body, n);
			else
				notify_syslog(svc, &nc[k], body, n);
		}
	}
	bw_arena_free(a);
}

/* ------------------------------------------------------------ lifecycle */

static void dests_free(struct siem_fwd *f)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->d[i].token) {
			bw_wipe(f->d[i].token, strlen(f->d[i].token));
			free(f->d[i].token);
		}
		if (f->d[i].sock >= 0)
			close(f->d[i].sock);
	}
	f->n = 0;
	for (size_t i = 0; i < 32; i++) {
		if (f->hmac_key[i]) {
			bw_wipe(f->hmac_key[i], f->hmac_len[i]);
			free(f->hmac_key[i]);
		}
		f->hmac_key[i] = NULL;
	}
	siem_gen_unref(f->gen);
	f->gen = NULL;
}

/* Service thread: make g's destinations current (spools persist). */
static void dests_build(struct siem_service *svc, struct siem_fwd *f, struct siem_gen *g)
{
	bool any_inflight = false;
	for (size_t i = 0; i < f->n; i++)
		any_inflight |= f->d[i].inflight;
	if (any_inflight)
		return; /* after the callbacks came back */
	dests_free(f);
	f->gen = g;
	siem_gen_ref(g);
	const struct siem_fwd_conf *fc = g->conf.forward.v;
	for (size_t i = 0; i < g->conf.forward.n && i < FWD_MAX_DEST; i++) {
		struct fwd_dest *d = &f->d[f->n++];
		memset(d, 0, sizeof(*d));
		d->c = fc[i];
		d->sock = -1;
		d->svc = svc;
		char name[72];
		size_t k = 0;
		for (const char *p = fc[i].name; *p && k < 64; p++)
			name[k++] = (siem_isalnum(*p) || *p == '-' || *p == '_') ? *p : '_';
		name[k] = '\0';
		snprintf(d->dir, sizeof(d->dir), "%s/forward/%s", svc->data_dir, name);
		if (mkdirs(d->dir) < 0)
			log_warn("siem forward: %s", d->dir);
		read_offset(d);
		if (fc[i].token_file) {
			size_t l;
			d->token = read_secret(fc[i].token_file, &l);
		}
	}
	const struct siem_notify_conf *nc = g->conf.alerts.notify.v;
	for (size_t i = 0; i < g->conf.alerts.notify.n && i < 32; i++)
		if (nc[i].secret_file)
			f->hmac_key[i] = read_secret(nc[i].secret_file, &f->hmac_len[i]);
}

int siem_fwd_init(struct siem_service *svc, struct bw_err *err)
{
	struct siem_fwd *f = calloc(1, sizeof(*f));
	if (!f)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	pthread_mutex_init(&f->mu, NULL);
	for (size_t i = 0; i < FWD_MAX_DEST; i++)
		bw_buf_init(&f->pending[i], FWD_PENDING_MAX + 4096);
	bw_buf_init(&f->notes, NOTES_MAX + 4096);
	svc->fwd = f;
	return 0;
}

void siem_fwd_apply_gen(struct siem_service *svc, struct siem_gen *g)
{
	struct siem_fwd *f = svc->fwd;
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	siem_gen_unref(f->next_gen);
	f->next_gen = g;
	siem_gen_ref(g);
	pthread_mutex_unlock(&f->mu);
}

void siem_fwd_tick(struct siem_service *svc)
{
	struct siem_fwd *f = svc->fwd;
	if (!f)
		return;
	struct bw_buf take[FWD_MAX_DEST], notes;
	pthread_mutex_lock(&f->mu);
	struct siem_gen *ng = f->next_gen;
	f->next_gen = NULL;
	for (size_t i = 0; i < FWD_MAX_DEST; i++) {
		take[i] = f->pending[i];
		bw_buf_init(&f->pending[i], FWD_PENDING_MAX + 4096);
	}
	notes = f->notes;
	bw_buf_init(&f->notes, NOTES_MAX + 4096);
	pthread_mutex_unlock(&f->mu);
	if (ng) {
		dests_build(svc, f, ng);
		if (f->gen != ng) {
			/* still waiting for deliveries in flight: try next tick */
			pthread_mutex_lock(&f->mu);
			if (!f->next_gen)
				f->next_gen = ng;
			else
				siem_gen_unref(ng);
			pthread_mutex_unlock(&f->mu);
		} else {
			siem_gen_unref(ng);
		}
	}
	for (size_t i = 0; i < f->n && i < FWD_MAX_DEST; i++)
		spool_append(svc, &f->d[i], &take[i]);
	for (size_t i = 0; i < FWD_MAX_DEST; i++)
		bw_buf_fini(&take[i]);
	for (size_t i = 0; i < f->n; i++)
		deliver(svc, &f->d[i]);
	if (notes.len && f->gen)
		notify_all(svc, f, f->gen, notes.data, notes.len);
	bw_buf_fini(&notes);
}

static void fwd_kick_task(void *arg)
{
	struct siem_service *svc = arg;
	atomic_store(&svc->fwd->kick, false);
	siem_fwd_tick(svc);
}

void siem_fwd_fini(struct siem_service *svc)
{
	struct siem_fwd *f = svc->fwd;
	if (!f)
		return;
	dests_free(f);
	siem_gen_unref(f->next_gen);
	for (size_t i = 0; i < FWD_MAX_DEST; i++)
		bw_buf_fini(&f->pending[i]);
	bw_buf_fini(&f->notes);
	pthread_mutex_destroy(&f->mu);
	free(f);
	svc->fwd = NULL;
}

/* Records waiting in destination i's spool (tests, stats). */
uint64_t siem_fwd_backlog(struct siem_service *svc, size_t i)
{
	struct siem_fwd *f = svc->fwd;
	return f && i < f->n ? f->d[i].size - f->d[i].offset : 0;
}
