/*
 * siem_service.c — the SIEM as a running service: construction from the
 * `siem:` config section, rule generations (build, compile, swap on
 * reload, keep the old one on any error), the pipeline and service
 * threads, the 1-second tick (retention, feeds, forwarding, correlation
 * windows) and orderly shutdown.
 *
 * Threads owned here: the pipeline thread (siem_pipeline.c) and the
 * service thread, which runs a loop with the tick timer and the outbound
 * HTTP client (webhooks, feeds, forwarding). Worker loops only call the
 * attach functions and the handlers; the bus dispatcher only calls
 * siem_bus_subscriber.
 *
 * Invariants: svc->gen is never NULL after siem_service_new succeeded;
 * a generation is freed only when its last reference (service, batch or
 * matcher) is dropped.
 */
#include "siem/siem_svc_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

const char *siem_level_name(enum siem_level l)
{
	static const char *const n[] = { "none", "informational", "low",
					 "medium", "high", "critical" };
	return (unsigned)l < BW_ARRAY_LEN(n) ? n[l] : "none";
}

/* ---------------------------------------------------------- generations */

void siem_gen_ref(struct siem_gen *g)
{
	atomic_fetch_add(&g->refs, 1);
}

void siem_gen_unref(struct siem_gen *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	siem_ruleset_free(g->rs);
	free((void *)g->disabled);
	bw_arena_free(g->arena);
	free(g);
}

struct siem_gen *siem_gen_get(struct siem_service *svc)
{
	pthread_mutex_lock(&svc->gen_mu);
	struct siem_gen *g = svc->gen;
	siem_gen_ref(g);
	pthread_mutex_unlock(&svc->gen_mu);
	return g;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_rule_file(const char *n)
{
	size_t l = strlen(n);
	return n[0] != '.' && ((l > 4 && strcmp(n + l - 4, ".yml") == 0) ||
			       (l > 5 && strcmp(n + l - 5, ".yaml") == 0));
}

/* Loads a file, or every *.yml / *.yaml of a directory in name order. */
static int load_rules_path(struct siem_ruleset *rs, const char *path,
			   struct bw_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return SIEM_SVC_ERR(err, 400, "rules", "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return siem_ruleset_add_file(rs, path, err);
	DIR *d = opendir(path);
	if (!d)
		return SIEM_SVC_ERR(err, 400, "rules", "%s: %s", path, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!is_rule_file(de->d_name))
			continue;
		if (n == SIEM_RULES_MAX) {
			rc = SIEM_SVC_ERR(err, 413, "limit", "%s: too many rule files", path);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				rc = SIEM_SVC_ERR(err, 500, "memory", "out of memory");
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = SIEM_SVC_ERR(err, 500, "memory", "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			char full[1024];
			if (bw_snprintf(full, sizeof(full), "%s/%s", path, names[i]) < 0)
				rc = SIEM_SVC_ERR(err, 400, "rules", "%s: path too long", path);
			else
				rc = siem_ruleset_add_file(rs, full, err);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

struct rule_src_ctx {
	struct siem_ruleset *rs;
	struct bw_err *err;
	int rc;
};

static int rule_src_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct rule_src_ctx *c = arg;
	struct bw_str name = store_row_text(row, 0);
	struct bw_str text = store_row_text(row, 1);
	char nm[160];
	bw_snprintf(nm, sizeof(nm), "api:%.*s", (int)(name.len > 120 ? 120 : name.len),
		    name.p);
	if (siem_ruleset_add_string(c->rs, nm, text.p, text.len, c->err) < 0) {
		c->rc = -1;
		return STORE_ROW_STOP;
	}
	return STORE_ROW_NEXT;
}

struct state_ctx {
	struct siem_gen *g;
	size_t n;
};

static int rule_state_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct state_ctx *c = arg;
	struct bw_str key = store_row_text(row, 0);
	bool enabled = store_row_int64(row, 1) != 0;
	for (size_t i = 0; i < c->n; i++)
		if (strlen(c->g->rule_keys[i]) == key.len &&
		    memcmp(c->g->rule_keys[i], key.p, key.len) == 0)
			atomic_store(&c->g->disabled[i], enabled ? 0 : 1);
	return STORE_ROW_NEXT;
}

/* Builds a complete generation: config copy, every rule file and every
 * rule stored through the API, compiled; rule states applied. */
static struct siem_gen *gen_build(struct siem_service *svc,
				  const struct siem_conf *c, struct bw_err *err)
{
	struct siem_gen *g = calloc(1, sizeof(*g));
	if (!g || !(g->arena = bw_arena_new(16384, 64u << 20)) ||
	    !(g->rs = siem_ruleset_new())) {
		SIEM_SVC_ERR(err, 500, "memory", "out of memory");
		goto fail;
	}
	atomic_store(&g->refs, 1);
	if (siem_conf_copy(c, g->arena, &g->conf) < 0) {
		SIEM_SVC_ERR(err, 500, "memory", "config copy: out of memory");
		goto fail;
	}
	/* the mapping first: it applies to the rules loaded after it */
	if (g->conf.mapping &&
	    siem_ruleset_add_mapping_file(g->rs, g->conf.mapping, err) < 0)
		goto fail;
	for (size_t i = 0; i < g->conf.rules.n; i++)
		if (load_rules_path(g->rs, g->conf.rules.v[i], err) < 0)
			goto fail;
	if (svc->st) {
		struct rule_src_ctx rc = { g->rs, err, 0 };
		if (store_query(svc->st, "SELECT name, text FROM siem_rule_src ORDER BY name",
				NULL, 0, rule_src_row, &rc, err) < 0 ||
		    rc.rc < 0)
			goto fail;
	}
	if (siem_ruleset_compile(g->rs, err) < 0)
		goto fail;
	size_t n = siem_ruleset_count(g->rs);
	g->disabled = calloc(n ? n : 1, 1);
	g->rule_keys = bw_arena_zalloc(g->arena, (n ? n : 1) * sizeof(char *));
	if (!g->disabled || !g->rule_keys) {
		SIEM_SVC_ERR(err, 500, "memory", "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct siem_rule_info *in = siem_ruleset_info(g->rs, i);
		g->rule_keys[i] = in->id ? in->id : in->name ? in->name : in->title;
	}
	if (svc->st) {
		struct state_ctx sc = { g, n };
		if (store_query(svc->st, "SELECT rule_key, enabled FROM siem_rule_state",
				NULL, 0, rule_state_row, &sc, err) < 0)
			goto fail;
	}
	g->id = ++svc->gen_seq;
	return g;
fail:
	if (g) {
		siem_ruleset_free(g->rs);
		free((void *)g->disabled);
		bw_arena_free(g->arena);
		free(g);
	}
	return NULL;
}

/* Binds the section in a scratch arena-less way: conf strings live in the
 * section's own arena, which outlives this call; the generation copies. */
static struct siem_gen *gen_from_section(struct siem_service *svc,
					 const struct conf_node *section,
					 struct bw_err *err)
{
	struct siem_conf c;
	if (siem_conf_bind(section, &c, err) < 0)
		return NULL;
	return gen_build(svc, &c, err);
}

int siem_service_reload(struct siem_service *svc, const struct conf_node *section,
			struct bw_err *err)
{
	struct siem_gen *g = gen_from_section(svc, section, err);
	if (!g) {
		log_kv(BW_LOG_WARN, "siem reload refused; keeping the running rules",
		       "error", err ? err->msg : "", NULL);
		return -1;
	}
	siem_svc_apply_gen(svc, g);
	pthread_mutex_lock(&svc->gen_mu);
	struct siem_gen *old = svc->gen;
	svc->gen = g;
	pthread_mutex_unlock(&svc->gen_mu);
	atomic_store(&svc->queue_max, g->conf.queue_events);
	log_info("siem: generation %llu with %zu rules", (unsigned long long)g->id,
		 siem_ruleset_count(g->rs));
	siem_gen_unref(old);
	return 0;
}

/* Rebuilds the current generation with the same config (rules stored or
 * enabled through the API changed). */
int siem_service_rebuild(struct siem_service *svc, struct bw_err *err)
{
	struct siem_gen *cur = siem_gen_get(svc);
	struct siem_gen *g = gen_build(svc, &cur->conf, err);
	siem_gen_unref(cur);
	if (!g)
		return -1;
	siem_svc_apply_gen(svc, g);
	pthread_mutex_lock(&svc->gen_mu);
	struct siem_gen *old = svc->gen;
	svc->gen = g;
	pthread_mutex_unlock(&svc->gen_mu);
	siem_gen_unref(old);
	return 0;
}

/* ------------------------------------------------------------- service */

struct siem_service *siem_service_new(const struct conf_node *section,
				      const char *data_dir, struct bw_err *err)
{
	struct siem_service *svc = calloc(1, sizeof(*svc));
	if (!svc) {
		SIEM_SVC_ERR(err, 500, "memory", "out of memory");
		return NULL;
	}
	svc->insert_sql.many_day = svc->insert_sql.one_day = INT64_MIN; /* none built yet */
	for (size_t i = 0; i < SIEM_SEG_OPEN; i++)
		svc->segs[i].fd = -1; /* no segment file open */
	pthread_mutex_init(&svc->gen_mu, NULL);
	pthread_mutex_init(&svc->q_mu, NULL);
	pthread_cond_init(&svc->q_cv, NULL);
	pthread_cond_init(&svc->inflight_cv, NULL);
	pthread_mutex_init(&svc->ictx_mu, NULL);
	pthread_mutex_init(&svc->bus_mu, NULL);
	pthread_mutex_init(&svc->part_mu, NULL);
	pthread_mutex_init(&svc->pool_mu, NULL);
	pthread_mutex_init(&svc->keys_mu, NULL);
	if (bw_snprintf(svc->data_dir, sizeof(svc->data_dir), "%s",
			data_dir ? data_dir : ".") < 0) {
		SIEM_SVC_ERR(err, 400, "data_dir", "data directory path too long");
		goto fail;
	}
	struct siem_conf c;
	if (siem_conf_bind(section, &c, err) < 0)
		goto fail;
	if (c.database[0] == '/')
		bw_snprintf(svc->db_path, sizeof(svc->db_path), "%s", c.database);
	else if (bw_snprintf(svc->db_path, sizeof(svc->db_path), "%s/%s",
			     svc->data_dir, c.database) < 0) {
		SIEM_SVC_ERR(err, 400, "database", "database path too long");
		goto fail;
	}
	struct store_options so = {
		.path = svc->db_path,
		.durability = c.durability ? STORE_DURABILITY_NORMAL : STORE_DURABILITY_FULL,
		.queue_max = 4096,
		/* events are appended in bulk: 16 KiB pages mean fewer pages
		 * and B-tree levels per row, and checkpoints on their own
		 * thread keep their fsyncs out of the ingest commits */
		.page_size = SIEM_STORE_PAGE_SIZE,
		.checkpoint_pages = SIEM_STORE_CHECKPOINT_PAGES,
	};
	if (!(svc->st = store_open(&so, err)))
		goto fail;
	svc->seg_sync = !c.durability;
	if (siem_seg_init(svc, err) < 0)
		goto fail;
	if (siem_store_open(svc, err) < 0)
		goto fail;
	if (!(svc->gen = gen_build(svc, &c, err)))
		goto fail;
	atomic_store(&svc->queue_max, c.queue_events);
	atomic_store(&svc->pack_on_loop, SIEM_PACK_ON_LOOP_QUEUED);
	if (siem_keys_load(svc, err) < 0 || siem_ext_init(svc, err) < 0)
		goto fail;
	siem_svc_apply_gen(svc, svc->gen);
	return svc;
fail:
	siem_service_free(svc);
	return NULL;
}

static void tick_cb(struct loop *l, struct loop_timer *t)
{
	struct siem_service *svc = t->data;
	siem_service_tick(svc);
	if (loop_timer_arm(l, t, 1000) < 0)
		log_warnx("siem: cannot re-arm the tick timer");
}

static void *svc_thread(void *arg)
{
	struct siem_service *svc = arg;
	(void)pthread_setname_np(pthread_self(), "siem-service");
	loop_timer_init(&svc->tick_timer, tick_cb, svc);
	if (loop_timer_arm(svc->sloop, &svc->tick_timer, 1000) < 0)
		log_warnx("siem: cannot arm the tick timer");
	if (loop_run(svc->sloop) < 0)
		log_warnx("siem: service loop failed");
	return NULL;
}

int siem_service_start(struct siem_service *svc, struct bw_err *err)
{
	if (svc->started)
		return 0;
	if (siem_pipe_start(svc, err) < 0)
		return -1;
	svc->started = true;
	if (!(svc->sloop = loop_new(256, err)))
		return -1;
	svc->fetch = net_fetch_new(svc->sloop, 64, err);
	if (!svc->fetch)
		log_kv(BW_LOG_WARN, "siem: no outbound HTTP (webhooks, feeds, forwarding)",
		       "error", err ? err->msg : "", NULL);
	if (pthread_create(&svc->svc_th, NULL, svc_thread, svc) != 0)
		return SIEM_SVC_ERR(err, 500, "thread", "cannot start the service thread");
	svc->svc_running = true;
	return 0;
}

void siem_service_tick(struct siem_service *svc)
{
	struct siem_gen *g = siem_gen_get(svc);
	int64_t now_s = bw_clock_now_s();
	int64_t every = (int64_t)(g->conf.retention.interval_ms / 1000);
	if (every < 1)
		every = 1;
	if (svc->last_retention_s == 0)
		svc->last_retention_s = now_s;
	if (now_s - svc->last_retention_s >= every) {
		svc->last_retention_s = now_s;
		struct bw_err e;
		if (siem_retention_run(svc, &e) < 0)
			log_kv(BW_LOG_WARN, "siem retention failed", "error", e.msg, NULL);
	}
	siem_ext_tick(svc, g);
	siem_gen_unref(g);
}

void siem_service_flush(struct siem_service *svc)
{
	pthread_mutex_lock(&svc->bus_mu);
	if (svc->bus && svc->bus->cur)
		siem_ictx_flush(svc->bus);
	pthread_mutex_unlock(&svc->bus_mu);
	siem_pipe_drain(svc);
}

static void stop_loop_cb(void *arg)
{
	loop_stop(arg);
}

void siem_service_free(struct siem_service *svc)
{
	if (!svc)
		return;
	if (svc->started) {
		siem_service_flush(svc);
		siem_pipe_stop(svc);
	}
	if (svc->svc_running) {
		if (loop_post(svc->sloop, stop_loop_cb, svc->sloop) < 0)
			loop_stop(svc->sloop);
		pthread_join(svc->svc_th, NULL);
	}
	siem_ext_fini(svc);
	net_fetch_free(svc->fetch);
	loop_free(svc->sloop);
	/* ingest contexts: their loops are gone or detached by now */
	while (svc->ictxs) {
		struct siem_ictx *x = svc->ictxs;
		svc->ictxs = x->next;
		siem_ictx_free(x);
	}
	if (svc->bus)
		siem_ictx_free(svc->bus);
	store_close(svc->st);
	siem_gen_unref(svc->gen);
	siem_keys_free(svc);
	free(svc->parts);
	free(svc->row_days);
	free(svc->blob_days);
	siem_seg_fini(svc);
	siem_batch_pool_free(svc);
	pthread_mutex_destroy(&svc->pool_mu);
	pthread_mutex_destroy(&svc->gen_mu);
	pthread_mutex_destroy(&svc->q_mu);
	pthread_cond_destroy(&svc->q_cv);
	pthread_cond_destroy(&svc->inflight_cv);
	pthread_mutex_destroy(&svc->ictx_mu);
	pthread_mutex_destroy(&svc->bus_mu);
	pthread_mutex_destroy(&svc->part_mu);
	pthread_mutex_destroy(&svc->keys_mu);
	free(svc);
}

void siem_service_stats(struct siem_service *svc, struct siem_stats *o)
{
	memset(o, 0, sizeof(*o));
#define C(x) o->x = atomic_load(&svc->c.x)
	C(received);
	C(stored);
	C(parse_failed);
	C(truncated);
	C(framing_errors);
	C(store_failed);
	C(refused_udp);
	C(refused_http);
	C(refused_bus);
	C(bus_events);
	C(refused_relp);
	C(paused);
	C(relp_acks);
	C(alerts);
	C(alerts_deduped);
	C(alerts_suppressed);
	C(retention_deleted);
	C(notify_sent);
	C(notify_failed);
	C(fwd_sent);
	C(fwd_failed);
	C(fwd_dropped);
	C(intel_matches);
	C(anomalies);
#undef C
	o->queued = atomic_load(&svc->queued);
	pthread_mutex_lock(&svc->ictx_mu);
	for (struct siem_ictx *x = svc->ictxs; x; x = x->next)
		for (size_t i = 0; i < x->nudp; i++)
			o->udp_kernel_drops += net_udp_drops(x->udp[i]);
	pthread_mutex_unlock(&svc->ictx_mu);
}

int siem_metrics_write(struct siem_service *svc, struct bw_buf *b)
{
	struct siem_stats s;
	siem_service_stats(svc, &s);
	int rc = 0;
#define M(name, help, v)                                                       \
	rc |= bw_buf_printf(b, "# TYPE bulwark_siem_" name " counter\n# HELP bulwark_siem_" \
			    name " " help "\nbulwark_siem_" name "_total %llu\n",     \
			    (unsigned long long)(v))
	M("events_received", "Events accepted from every source.", s.received);
	M("events_stored", "Events durably stored.", s.stored);
	M("events_unparsed", "Events stored without a recognised format.", s.parse_failed);
	M("events_truncated", "Frames cut at the line limit.", s.truncated);
	M("framing_errors", "Connections closed for broken framing.", s.framing_errors);
	M("store_failures", "Events whose batch failed to store (not acknowledged).",
	  s.store_failed);
	M("refused_udp", "UDP datagrams refused because the queue was full.", s.refused_udp);
	M("udp_kernel_drops", "UDP datagrams the kernel dropped (receive buffer full).",
	  s.udp_kernel_drops);
	M("refused_http", "NDJSON requests answered 503 because the queue was full.",
	  s.refused_http);
	M("refused_bus", "Internal events refused because the queue was full.", s.refused_bus);
	M("refused_relp", "RELP transactions refused (answered 500).", s.refused_relp);
	M("stream_pauses", "Times a TCP/TLS/RELP sender was paused for back-pressure.",
	  s.paused);
	M("relp_acks", "RELP transactions acknowledged after durable storage.", s.relp_acks);
	M("alerts", "Alerts raised.", s.alerts);
	M("alerts_deduplicated", "Detections folded into an existing alert.",
	  s.alerts_deduped);
	M("alerts_suppressed", "Detections inside a suppression window.",
	  s.alerts_suppressed);
	M("retention_deleted", "Events deleted by retention.", s.retention_deleted);
	M("notifications_sent", "Alert notifications delivered.", s.notify_sent);
	M("notifications_failed", "Alert notifications that failed.", s.notify_failed);
	M("forwarded", "Records forwarded to external SIEMs.", s.fwd_sent);
	M("forward_failures", "Forwarding attempts that failed (retried).", s.fwd_failed);
	M("forward_dropped", "Records dropped because a forwarding buffer was full.",
	  s.fwd_dropped);
	M("intel_matches", "Events that matched a threat-intelligence indicator.",
	  s.intel_matches);
	M("anomalies", "Anomaly alerts.", s.anomalies);
#undef M
	rc |= bw_buf_printf(b, "# TYPE bulwark_siem_queue_events gauge\n"
			    "# HELP bulwark_siem_queue_events Events accepted, not yet stored.\n"
			    "bulwark_siem_queue_events %llu\n",
			    (unsigned long long)s.queued);
	return rc ? -1 : 0;
}
