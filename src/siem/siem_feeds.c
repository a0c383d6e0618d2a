/*
 * siem_feeds.c — threat-intelligence feeds on a schedule, and the match
 * against every event.
 *
 * The service thread checks each configured feed every tick: a file feed
 * is re-read when its modification time changed or its refresh interval
 * passed; a URL feed is fetched (net_fetch, bounded response) every
 * refresh interval. Each feed keeps its last good content, so a feed that
 * fails to load keeps its previous indicators. When any content changed,
 * a complete new indicator set is built from all feeds in config order
 * and swapped in under the mutex; batches in the pipeline keep the set
 * they started with through their reference.
 *
 * The match (pipeline thread) looks up source/destination addresses,
 * domains (with parents), URLs (exactly, and by their host) and file
 * hashes carried in labels. A hit adds labels threat.indicator / .feed /
 * .type to the event (so searches find it) and raises an alert of kind
 * "intel" whose context names the field, the indicator and its feed's
 * description.
 */
#include "siem/siem_svc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define FEEDS_MAX 64

struct feed_state {
	char *content; /* last good content (malloc) */
	size_t len;
	int64_t loaded_mono_ms;
	int64_t mtime;
	bool fetching;
	bool failed_once;
};

struct siem_intel {
	pthread_mutex_t mu;
	struct siem_intel_set *set; /* current; NULL: none */
	struct feed_state f[FEEDS_MAX];
	struct siem_gen *gen; /* the feeds' config when contents were kept */
	bool dirty;
};

int siem_feeds_init(struct siem_service *svc, struct bw_err *err)
{
	struct siem_intel *in = calloc(1, sizeof(*in));
	if (!in)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	pthread_mutex_init(&in->mu, NULL);
	svc->intel = in;
	return 0;
}

void siem_feeds_fini(struct siem_service *svc)
{
	struct siem_intel *in = svc->intel;
	if (!in)
		return;
	for (size_t i = 0; i < FEEDS_MAX; i++)
		free(in->f[i].content);
	siem_intel_set_unref(in->set);
	siem_gen_unref(in->gen);
	pthread_mutex_destroy(&in->mu);
	free(in);
	svc->intel = NULL;
}

size_t siem_feeds_count(struct siem_service *svc)
{
	struct siem_intel *in = svc->intel;
	if (!in)
		return 0;
	pthread_mutex_lock(&in->mu);
	size_t n = siem_intel_set_count(in->set);
	pthread_mutex_unlock(&in->mu);
	return n;
}

static void rebuild(struct siem_service *svc, struct siem_intel *in, struct siem_gen *g)
{
	struct siem_intel_set *s = siem_intel_set_new();
	if (!s)
		return;
	const struct siem_feed_conf *fc = g->conf.intel.feeds.v;
	for (size_t i = 0; i < g->conf.intel.feeds.n && i < FEEDS_MAX; i++) {
		if (!in->f[i].content)
			continue;
		struct siem_indicator ctx = { .feed = fc[i].name, .level = fc[i].level,
					      .confidence = -1 };
		struct bw_err err;
		int n = fc[i].format == 1 ?
				siem_intel_parse_stix(s, in->f[i].content, in->f[i].len, &ctx, &err) :
				siem_intel_parse_csv(s, in->f[i].content, in->f[i].len, &ctx, &err);
		if (n < 0)
			log_kv(BW_LOG_WARN, "siem intel: feed refused", "feed", fc[i].name, "error",
			       err.msg, NULL);
	}
	if (siem_intel_finish(s) < 0) {
		siem_intel_set_unref(s);
		return;
	}
	char nb[24], bb[24];
	snprintf(nb, sizeof(nb), "%zu", siem_intel_set_count(s));
	snprintf(bb, sizeof(bb), "%zu", siem_intel_set_bad(s));
	log_kv(BW_LOG_INFO, "siem intel: indicators loaded", "indicators", nb, "refused", bb,
	       NULL);
	pthread_mutex_lock(&in->mu);
	struct siem_intel_set *old = in->set;
	in->set = s;
	/* the feeds' names in indicators borrow this generation's strings */
	if (in->gen != g) {
		siem_gen_unref(in->gen);
		in->gen = g;
		siem_gen_ref(g);
	}
	pthread_mutex_unlock(&in->mu);
	siem_intel_set_unref(old);
	(void)svc;
}

struct fetch_ctx {
	struct siem_service *svc;
	size_t i;
	struct siem_gen *g;
};

static void fetched(void *arg, const struct net_fetch_result *r)
{
	struct fetch_ctx *fc = arg;
	struct siem_intel *in = fc->svc->intel;
	struct feed_state *f = &in->f[fc->i];
	f->fetching = false;
	f->loaded_mono_ms = bw_clock_mono_ms();
	if (!r->error && r->status == 200 && r->body.len) {
		char *c = malloc(r->body.len + 1);
		if (c) {
			memcpy(c, r->body.p, r->body.len);
			c[r->body.len] = '\0';
			free(f->content);
			f->content = c;
			f->len = r->body.len;
			in->dirty = true;
		}
	} else {
		const struct siem_feed_conf *cf = fc->g->conf.intel.feeds.v;
		log_kv(BW_LOG_WARN, "siem intel: feed fetch failed; keeping the last one", "feed",
		       cf[fc->i].name, "error", r->error ? r->error : "status", NULL);
	}
	siem_gen_unref(fc->g);
	free(fc);
}

void siem_feeds_tick(struct siem_service *svc, struct siem_gen *g)
{
	struct siem_intel *in = svc->intel;
	if (!in)
		return;
	if (in->gen && in->gen != g) {
		/* new config: feeds may have moved; reload everything */
		for (size_t i = 0; i < FEEDS_MAX; i++) {
			free(in->f[i].content);
			in->f[i] = (struct feed_state){ 0 };
		}
		in->dirty = true;
		pthread_mutex_lock(&in->mu);
		siem_gen_unref(in->gen);
		in->gen = g;
		siem_gen_ref(g);
		pthread_mutex_unlock(&in->mu);
	} else if (!in->gen) {
		pthread_mutex_lock(&in->mu);
		in->gen = g;
		siem_gen_ref(g);
		pthread_mutex_unlock(&in->mu);
	}
	const struct siem_feed_conf *fc = g->conf.intel.feeds.v;
	int64_t now = bw_clock_mono_ms();
	for (size_t i = 0; i < g->conf.intel.feeds.n && i < FEEDS_MAX; i++) {
		struct feed_state *f = &in->f[i];
		bool due = !f->loaded_mono_ms ||
			   now - f->loaded_mono_ms >= (int64_t)fc[i].refresh_ms;
		if (fc[i].path) {
			struct stat st;
			if (stat(fc[i].path, &st) < 0) {
				if (!f->failed_once)
					log_kv(BW_LOG_WARN, "siem intel: feed file missing", "feed",
					       fc[i].name, NULL);
				f->failed_once = true;
				continue;
			}
			int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
			if (!due && mt == f->mtime)
				continue;
			struct bw_err err;
			size_t len;
			char *c = bw_file_read(fc[i].path, SIEM_INTEL_FEED_MAX, &len, &err);
			f->loaded_mono_ms = now;
			if (!c) {
				log_kv(BW_LOG_WARN, "siem intel: cannot read feed", "feed", fc[i].name,
				       "error", err.msg, NULL);
				continue;
			}
			if (f->content && f->len == len && memcmp(f->content, c, len) == 0) {
				free(c);
			} else {
				free(f->content);
				f->content = c;
				f->len = len;
				in->dirty = true;
			}
			f->mtime = mt;
		} else if (fc[i].url && due && !f->fetching && svc->fetch) {
			struct fetch_ctx *x = calloc(1, sizeof(*x));
			struct net_fetch_request req = { .method = "GET", .url = fc[i].url,
							 .timeout_ms = 60000,
							 .max_response = SIEM_INTEL_FEED_MAX,
							 .ca_file = fc[i].ca_file };
			struct bw_err err;
			if (!x)
				continue;
			x->svc = svc;
			x->i = i;
			x->g = g;
			siem_gen_ref(g);
			f->fetching = true;
			f->loaded_mono_ms = now;
			if (net_fetch_start(svc->fetch, &req, fetched, x, &err) < 0) {
				f->fetching = false;
				siem_gen_unref(g);
				free(x);
			}
		}
	}
	if (in->dirty) {
		in->dirty = false;
		rebuild(svc, in, g);
	}
}

/* -------------------------------------------------------------- match */

static void raise_intel(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r,
			const struct siem_indicator *ind, const char *field, struct bw_str value)
{
	struct siem_event *ev = &r->ev;
	char *v = bw_arena_strndup(b->arena, value.p, value.len);
	if (!v)
		return;
	const char *feed = ind->feed ? ind->feed : "intel";
	(void)siem_event_label(ev, "threat.indicator", 16, bw_arena_strdup(b->arena, ind->value),
			       strlen(ind->value));
	(void)siem_event_label(ev, "threat.feed", 11, bw_arena_strdup(b->arena, feed),
			       strlen(feed));
	const char *tn = siem_ioc_type_name(ind->type);
	(void)siem_event_label(ev, "threat.type", 11, tn, strlen(tn));
	atomic_fetch_add(&svc->c.intel_matches, 1);
	struct bw_buf ctx;
	bw_buf_init(&ctx, 16384);
	struct json_writer w;
	json_writer_init(&w, &ctx);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "explanation", "an event field matched a threat indicator");
	json_write_kv_string(&w, "field", field);
	json_write_kv_string(&w, "value", v);
	json_write_kv_string(&w, "indicator", ind->value);
	json_write_kv_string(&w, "indicator_type", tn);
	json_write_kv_string(&w, "feed", feed);
	if (ind->name)
		json_write_kv_string(&w, "name", ind->name);
	if (ind->description)
		json_write_kv_string(&w, "description", ind->description);
	if (ind->ref)
		json_write_kv_string(&w, "stix_id", ind->ref);
	if (ind->confidence >= 0)
		json_write_kv_int(&w, "confidence", ind->confidence);
	json_write_object_end(&w);
	char key[160], title[200];
	snprintf(key, sizeof(key), "intel:%s", feed);
	snprintf(title, sizeof(title), "Threat intelligence match (%s)", feed);
	struct bw_str t = ev->f[SIEM_F_TENANT];
	struct siem_alert_in ai = {
		.rule_key = key,
		.title = title,
		.kind = "intel",
		.level = (enum siem_level)ind->level,
		.group = ind->value,
		.tenant = t.p ? bw_arena_strndup(b->arena, t.p, t.len) : NULL,
		.ts = ev->ts_ns,
		.first_ts = ev->ts_ns,
		.count = 1,
		.event_id = r->id,
		.context = json_writer_finish(&w) == 0 ? ctx.data : "{}",
	};
	(void)siem_alert_raise(svc, b, &ai);
	bw_buf_fini(&ctx);
}

/* The host of a URL ("https://user@Host:8080/x" -> "Host"). */
static struct bw_str url_host(struct bw_str u)
{
	const char *p = u.p, *end = u.p + u.len;
	const char *s = memmem(p, u.len, "://", 3);
	if (!s)
		return bw_str_make(NULL, 0);
	p = s + 3;
	const char *e = p;
	while (e < end && *e != '/' && *e != '?' && *e != '#')
		e++;
	const char *at = memchr(p, '@', (size_t)(e - p));
	if (at)
		p = at + 1;
	const char *colon = memchr(p, ':', (size_t)(e - p));
	if (colon && *p != '[')
		e = colon;
	return bw_str_make(p, (size_t)(e - p));
}

void siem_feeds_event(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r)
{
	struct siem_intel *in = svc->intel;
	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	struct siem_intel_set *s = in->set;
	if (s)
		siem_intel_set_ref(s);
	pthread_mutex_unlock(&in->mu);
	if (!s)
		return;
	const struct siem_event *ev = &r->ev;
	static const enum siem_field ipf[] = { SIEM_F_SOURCE_IP, SIEM_F_DESTINATION_IP };
	for (size_t i = 0; i < BW_ARRAY_LEN(ipf); i++) {
		struct bw_str v = ev->f[ipf[i]];
		const struct siem_indicator *ind = v.p ? siem_intel_match_ip(s, v.p, v.len) : NULL;
		if (ind)
			raise_intel(svc, b, r, ind, siem_field_name(ipf[i]), v);
	}
	static const enum siem_field domf[] = { SIEM_F_SOURCE_DOMAIN, SIEM_F_DESTINATION_DOMAIN };
	for (size_t i = 0; i < BW_ARRAY_LEN(domf); i++) {
		struct bw_str v = ev->f[domf[i]];
		const struct siem_indicator *ind =
			v.p ? siem_intel_match_domain(s, v.p, v.len) : NULL;
		if (ind)
			raise_intel(svc, b, r, ind, siem_field_name(domf[i]), v);
	}
	struct bw_str url = ev->f[SIEM_F_URL_ORIGINAL];
	if (url.p) {
		const struct siem_indicator *ind = siem_intel_match(s, SIEM_IOC_URL, url.p, url.len);
		struct bw_str host = url_host(url);
		if (!ind && host.p) {
			ind = siem_intel_match_domain(s, host.p, host.len);
			if (!ind)
				ind = siem_intel_match_ip(s, host.p, host.len);
		}
		if (ind)
			raise_intel(svc, b, r, ind, "url.original", url);
	}
	/* file hashes arrive as labels (CEF fileHash, NDJSON file.hash.*) */
	for (unsigned i = 0; i < ev->nlabels; i++) {
		struct bw_str k = ev->labels[i].key, v = ev->labels[i].value;
		bool hashy = (k.len >= 4 && memmem(k.p, k.len, "hash", 4)) ||
			     (k.len >= 6 && memmem(k.p, k.len, "sha256", 6)) ||
			     (k.len >= 3 && memmem(k.p, k.len, "md5", 3));
		if (!hashy || !(v.len == 32 || v.len == 40 || v.len == 64))
			continue;
		const struct siem_indicator *ind = siem_intel_match(s, SIEM_IOC_HASH, v.p, v.len);
		if (ind) {
			char kb[128];
			snprintf(kb, sizeof(kb), "%.*s", (int)(k.len > 100 ? 100 : k.len), k.p);
			raise_intel(svc, b, r, ind, kb, v);
		}
	}
	siem_intel_set_unref(s);
}
