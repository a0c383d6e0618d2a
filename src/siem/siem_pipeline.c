/*
 * siem_pipeline.c — the pipeline thread: takes batches in arrival order,
 * gives every event its id and day partition, raises alerts (Sigma
 * detections that generate, correlations, and the extensions: threat
 * intelligence, anomalies, impossible travel), serialises events to their
 * compact stored form (ECS JSON too when events are forwarded) and submits one store job per batch, keeping at most
 * store_inflight jobs in flight.
 *
 * The correlation engine is not thread-safe and lives here alone. Its
 * windows run on event time; a 1-second timer (the timed wait below)
 * calls siem_corr_advance so "fewer than N" windows close without an
 * event. A batch matched with an older generation than the correlation
 * engine's skips correlation (its rule indices mean other rules) and is
 * counted as stale; a newer one rebuilds the engine (windows restart).
 *
 * Invariants: batches are submitted to the store in the order they were
 * queued, so the store's FIFO writer commits them in order and ids grow
 * with commit order; svc->queued drops only when a batch is final.
 */
#include "siem/siem_svc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

struct siem_pipe {
	struct siem_corr *corr;
	struct siem_gen *corr_gen; /* referenced */
	int64_t last_advance_ms;
	struct siem_batch *cur; /* being processed: correlation callback */
	struct siem_rec *cur_rec;
	bool busy;
	/* held while pipeline state (correlation, alerts, anomalies) is in
	 * use: by the pipeline thread, and by tests driving the timer */
	pthread_mutex_t state_mu;
};

/* --------------------------------------------------------- correlation */

static void corr_alert_cb(const struct siem_alert *a, void *arg)
{
	struct siem_service *svc = arg;
	struct siem_pipe *p = svc->pipe;
	struct siem_batch *b = p->cur;
	struct siem_gen *g = p->corr_gen;
	if (atomic_load(&g->disabled[a->rule]))
		return;
	const struct siem_rule_info *in = siem_ruleset_info(g->rs, a->rule);
	char group[SIEM_CORR_KEY_MAX + 1];
	size_t gl = strlen(a->group);
	if (gl > SIEM_CORR_KEY_MAX)
		gl = SIEM_CORR_KEY_MAX;
	for (size_t i = 0; i < gl; i++)
		group[i] = a->group[i] == '\x1f' ? ',' : a->group[i];
	group[gl] = '\0';
	struct bw_buf ctx;
	bw_buf_init(&ctx, 4096);
	struct json_writer w;
	json_writer_init(&w, &ctx);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "explanation", "correlation threshold reached");
	json_write_key(&w, "count");
	json_write_uint(&w, a->count);
	json_write_kv_string(&w, "group", group);
	json_write_kv_int(&w, "window_start_ms", a->first_ns / 1000000);
	json_write_kv_int(&w, "time_ms", a->time_ns / 1000000);
	json_write_kv_bool(&w, "window_closed", a->event == NULL);
	json_write_object_end(&w);
	struct siem_alert_in ai = {
		.rule_key = g->rule_keys[a->rule],
		.title = in->title,
		.name = in->name,
		.kind = "correlation",
		.level = in->level,
		.group = group,
		.tenant = NULL,
		.ts = a->time_ns,
		.first_ts = a->first_ns,
		.count = a->count,
		.event_id = (a->event && p->cur_rec) ? p->cur_rec->id : 0,
		.context = json_writer_finish(&w) == 0 ? ctx.data : "{}",
	};
	if (a->event) {
		struct bw_str t = siem_event_get(a->event, SIEM_F_TENANT);
		if (t.p)
			ai.tenant = bw_arena_strndup(b->arena, t.p, t.len);
	}
	atomic_fetch_add(&svc->c.correlations, 1);
	(void)siem_alert_raise(svc, b, &ai);
	bw_buf_fini(&ctx);
}

static void corr_for(struct siem_service *svc, struct siem_gen *g)
{
	struct siem_pipe *p = svc->pipe;
	siem_corr_free(p->corr);
	siem_gen_unref(p->corr_gen);
	p->corr = siem_corr_new(g->rs, g->conf.corr_groups);
	p->corr_gen = g;
	siem_gen_ref(g);
	if (!p->corr)
		log_warnx("siem: no memory for the correlation engine");
}

/* ------------------------------------------------------------- records */

static int64_t pick_day(const struct siem_gen *g, int64_t ts, int64_t now)
{
	int64_t keep = (int64_t)g->conf.retention.default_ms;
	const struct siem_retention_conf *p = g->conf.retention.policies.v;
	for (size_t i = 0; i < g->conf.retention.policies.n; i++)
		if ((int64_t)p[i].keep_ms > keep)
			keep = (int64_t)p[i].keep_ms;
	int64_t lo = now - keep * 1000000LL - 86400LL * 1000000000LL;
	int64_t hi = now + 86400LL * 1000000000LL;
	return siem_day_of(ts < lo || ts > hi ? now : ts);
}

static int detection_alerts(struct siem_service *svc, struct siem_batch *b,
			    struct siem_rec *r)
{
	struct siem_gen *g = b->gen;
	for (unsigned k = 0; k < r->nmatched; k++) {
		uint32_t id = r->matched[k];
		const struct siem_rule_info *in = siem_ruleset_info(g->rs, id);
		if (!in || !in->generate || atomic_load(&g->disabled[id]) ||
		    in->level < (enum siem_level)g->conf.alerts.min_level)
			continue;
		const struct siem_event *ev = &r->ev;
		struct bw_str grp = ev->f[SIEM_F_SOURCE_IP];
		if (!grp.p)
			grp = ev->f[SIEM_F_USER_NAME];
		if (!grp.p)
			grp = ev->f[SIEM_F_HOST_NAME];
		char gbuf[256];
		size_t gl = grp.p ? (grp.len < sizeof(gbuf) - 1 ? grp.len : sizeof(gbuf) - 1) : 0;
		if (gl)
			memcpy(gbuf, grp.p, gl);
		gbuf[gl] = '\0';
		struct bw_buf ctx;
		bw_buf_init(&ctx, 8192);
		struct json_writer w;
		json_writer_init(&w, &ctx);
		json_write_object_begin(&w);
		json_write_kv_string(&w, "explanation", "Sigma detection matched the event");
		json_write_key(&w, "rule_file");
		json_write_string(&w, in->file ? in->file : "");
		static const enum siem_field show[] = {
			SIEM_F_EVENT_ACTION, SIEM_F_EVENT_OUTCOME, SIEM_F_SOURCE_IP,
			SIEM_F_USER_NAME,    SIEM_F_HOST_NAME,     SIEM_F_PROCESS_NAME,
			SIEM_F_URL_PATH,     SIEM_F_MESSAGE,
		};
		json_write_key(&w, "event");
		json_write_object_begin(&w);
		for (size_t i = 0; i < BW_ARRAY_LEN(show); i++) {
			struct bw_str v = ev->f[show[i]];
			if (!v.p)
				continue;
			json_write_key(&w, siem_field_name(show[i]));
			json_write_stringn(&w, v.p, v.len > 512 ? 512 : v.len);
		}
		json_write_object_end(&w);
		json_write_object_end(&w);
		struct bw_str t = ev->f[SIEM_F_TENANT];
		struct siem_alert_in ai = {
			.rule_key = g->rule_keys[id],
			.title = in->title,
			.name = in->name,
			.kind = "sigma",
			.level = in->level,
			.group = gbuf,
			.tenant = t.p ? bw_arena_strndup(b->arena, t.p, t.len) : NULL,
			.ts = ev->ts_ns,
			.first_ts = ev->ts_ns,
			.count = 1,
			.event_id = r->id,
			.context = json_writer_finish(&w) == 0 ? ctx.data : "{}",
		};
		int rc = siem_alert_raise(svc, b, &ai);
		bw_buf_fini(&ctx);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Runs of same-day records become blocks, each with the bloom of its
 * events' tokens, built event by event while the event is still in cache
 * (a pass over the whole batch afterwards missed it for every field).
 * Done before the store so its writer thread only writes. */
static void block_add(struct siem_batch *b, size_t i)
{
	struct siem_rec *r = &b->recs[i];
	struct siem_block *bl = b->nblocks ? &b->blocks[b->nblocks - 1] : NULL;
	if (!bl || bl->day != r->day) {
		if (b->nblocks == b->blocks_cap) {
			size_t cap = b->blocks_cap ? b->blocks_cap * 2 : 1;
			struct siem_block *nb = realloc(b->blocks, cap * sizeof(*nb));
			if (!nb) {
				/* the batch then fails to store as a whole */
				log_warnx("siem: no memory for a batch's blocks");
				b->blocks_failed = true;
				return;
			}
			b->blocks = nb;
			b->blocks_cap = cap;
		}
		memset(&b->memo, 0, sizeof(b->memo));
		bl = &b->blocks[b->nblocks++];
		memset(bl, 0, sizeof(*bl));
		bl->day = r->day;
		bl->first = i;
		bl->ts_min = INT64_MAX;
		bl->ts_max = INT64_MIN;
		bl->packed_off = r->doc_off - SIEM_PACK_HDR;
		bl->bloom[SIEM_BLOOM_BYTES] = SIEM_BLOOM_V2;
	}
	siem_bloom_event_memo(bl->bloom, &r->ev, &b->memo);
	bl->packed_len = r->doc_off + r->doc_len - bl->packed_off;
	bl->n++;
	if (r->ev.ts_ns < bl->ts_min)
		bl->ts_min = r->ev.ts_ns;
	if (r->ev.ts_ns > bl->ts_max)
		bl->ts_max = r->ev.ts_ns;
}

void siem_batch_pack(struct siem_batch *b, size_t i, int64_t now_ns)
{
	struct siem_rec *r = &b->recs[i];
	r->day = pick_day(b->gen, r->ev.ts_ns, now_ns);
	if (i == 0 && b->docs.cap < b->cap * 512 &&
	    bw_buf_reserve(&b->docs, b->cap * 512) < 0)
		log_warnx("siem: document buffer reservation failed");
	/* the packed entry's header (length, id delta: siem_batch_ids fills
	 * it), then the document, so a block's entries are one contiguous
	 * run of docs that the store binds as it is */
	static const uint8_t hdr[SIEM_PACK_HDR];
	if (bw_buf_append(&b->docs, hdr, sizeof(hdr)) < 0)
		log_warnx("siem: document buffer full");
	size_t off = b->docs.len;
	if (siem_event_write_bin(&r->ev, &b->docs) < 0) {
		/* cannot happen below the 256 MiB ceiling; store the event
		 * with what fits rather than lose it */
		struct siem_event bare;
		siem_event_init(&bare, r->ev.arena);
		bare.ts_ns = r->ev.ts_ns;
		if (siem_event_write_bin(&bare, &b->docs) < 0)
			log_warnx("siem: document buffer full");
	}
	r->doc_off = (uint32_t)off;
	r->doc_len = (uint32_t)(b->docs.len - off);
	r->nlabels_doc = r->ev.nlabels;
	r->dropped_doc = r->ev.labels_dropped;
	if (!b->blocks_failed)
		block_add(b, i);
	b->npacked = i + 1;
}

/* Once the records have ids: each block's id range and each packed
 * entry's header (document length, id minus the block's first). */
static void batch_ids(struct siem_batch *b)
{
	for (size_t k = 0; k < b->nblocks; k++) {
		struct siem_block *bl = &b->blocks[k];
		bl->id_first = b->recs[bl->first].id;
		bl->id_last = b->recs[bl->first + (size_t)bl->n - 1].id;
		for (size_t i = bl->first; i < bl->first + (size_t)bl->n; i++) {
			const struct siem_rec *r = &b->recs[i];
			uint8_t *h = (uint8_t *)b->docs.data + r->doc_off - SIEM_PACK_HDR;
			uint32_t len = r->doc_len, delta = (uint32_t)(r->id - bl->id_first);
			for (int j = 0; j < 4; j++) {
				h[j] = (uint8_t)(len >> (8 * j));
				h[4 + j] = (uint8_t)(delta >> (8 * j));
			}
		}
	}
}

static void process(struct siem_service *svc, struct siem_batch *b)
{
	struct siem_pipe *p = svc->pipe;
	p->cur = b;
	bool correlate = true;
	if (b->gen != p->corr_gen) {
		if (!p->corr_gen || b->gen->id > p->corr_gen->id) {
			corr_for(svc, b->gen);
		} else {
			correlate = false;
			atomic_fetch_add(&svc->c.stale_batches, 1);
		}
	}
	int64_t now = bw_clock_now_ns();
	/* ECS JSON only when some destination forwards events: the store
	 * keeps the compact form, which is a third of the size and far
	 * cheaper to write than escaped JSON */
	bool want_json = false;
	const struct siem_fwd_conf *fc = b->gen->conf.forward.v;
	for (size_t k = 0; k < b->gen->conf.forward.n; k++)
		want_json |= fc[k].events;
	if (want_json && bw_buf_reserve(&b->json, b->n * 1024) < 0)
		log_warnx("siem: document buffer reservation failed");
	/* Records whose document and bloom were made on the ingest loop
	 * keep them unless an extension below adds labels to one of them
	 * (a threat-intelligence match): then the batch's documents and
	 * blocks are made again here, all of them, in order. */
	size_t packed = b->npacked;
	for (size_t i = 0; i < b->n; i++) {
		struct siem_rec *r = &b->recs[i];
		r->id = svc->next_id++;
		p->cur_rec = r;
		(void)detection_alerts(svc, b, r);
		if (correlate && p->corr && r->nmatched)
			(void)siem_corr_feed(p->corr, &r->ev, r->matched, r->nmatched,
					     corr_alert_cb, svc);
		siem_ext_event(svc, b, r);
		if (i < packed && (r->ev.nlabels != r->nlabels_doc ||
				   r->ev.labels_dropped != r->dropped_doc)) {
			/* from here on made again (those before keep theirs
			 * only if the whole batch is redone: blocks are runs) */
			packed = 0;
			b->npacked = 0;
			b->nblocks = 0;
			b->blocks_failed = false;
			bw_buf_reset(&b->docs);
			for (size_t k = 0; k < i; k++)
				siem_batch_pack(b, k, now);
		}
		if (i >= packed)
			siem_batch_pack(b, i, now);
		if (want_json) {
			size_t off = b->json.len;
			if (siem_event_write_json(&r->ev, &b->json) < 0) {
				b->json.len = off;
				if (bw_buf_append_str(&b->json, "{}") < 0)
					log_warnx("siem: document buffer full");
			}
			r->json_off = (uint32_t)off;
			r->json_len = (uint32_t)(b->json.len - off);
		}
	}
	batch_ids(b);
	p->cur_rec = NULL;
	p->cur = NULL;
}

/* ---------------------------------------------------------- submission */

/* The catalog learns a stored batch's days from its blocks (a block's
 * id and time ranges are its records'), not record by record: a batch's
 * records are a megabyte of memory the pipeline is done with. */
static void update_catalog(struct siem_service *svc, struct siem_batch *b)
{
	pthread_mutex_lock(&svc->part_mu);
	for (size_t i = 0; i < b->nblocks; i++) {
		const struct siem_block *bl = &b->blocks[i];
		if (bl->n == 0)
			continue;
		struct siem_partition *pt = NULL;
		for (size_t k = svc->nparts; k-- > 0;)
			if (svc->parts[k].day == bl->day) {
				pt = &svc->parts[k];
				break;
			}
		if (!pt) {
			if (svc->nparts == svc->parts_cap) {
				size_t cap = svc->parts_cap ? svc->parts_cap * 2 : 64;
				struct siem_partition *np = realloc(svc->parts, cap * sizeof(*np));
				if (!np)
					continue; /* search misses it until restart */
				svc->parts = np;
				svc->parts_cap = cap;
			}
			pt = &svc->parts[svc->nparts++];
			*pt = (struct siem_partition){ .day = bl->day, .min_ts = INT64_MAX,
						       .max_ts = INT64_MIN, .stored = true };
		}
		if (bl->ts_min < pt->min_ts)
			pt->min_ts = bl->ts_min;
		if (bl->ts_max > pt->max_ts)
			pt->max_ts = bl->ts_max;
		if (bl->id_last > pt->max_id)
			pt->max_id = bl->id_last;
	}
	pthread_mutex_unlock(&svc->part_mu);
}

static void batch_done(void *arg, int rc, const struct bw_err *err)
{
	struct siem_batch *b = arg;
	struct siem_service *svc = b->svc;
	b->rc = rc;
	if (rc == 0) {
		atomic_fetch_add(&svc->c.stored, b->n);
		update_catalog(svc, b);
		siem_ext_stored(svc, b);
	} else {
		atomic_fetch_add(&svc->c.store_failed, b->n);
		if (err)
			b->err = *err;
		log_kv(BW_LOG_WARN, "siem: batch not stored; nothing of it is acknowledged",
		       "error", err ? err->msg : "", NULL);
	}
	uint64_t left = atomic_fetch_sub(&svc->queued, b->n) - b->n;
	pthread_mutex_lock(&svc->q_mu);
	svc->inflight--;
	pthread_cond_broadcast(&svc->inflight_cv);
	pthread_mutex_unlock(&svc->q_mu);
	if (left <= atomic_load(&svc->queue_max) / 2)
		siem_ingest_resume_all(svc);
	siem_batch_final(b);
}

static void submit(struct siem_service *svc, struct siem_batch *b)
{
	struct siem_gen *g = b->gen;
	pthread_mutex_lock(&svc->q_mu);
	while (svc->inflight >= g->conf.store_inflight)
		pthread_cond_wait(&svc->inflight_cv, &svc->q_mu);
	svc->inflight++;
	pthread_mutex_unlock(&svc->q_mu);
	struct bw_err err;
	for (int tries = 0;; tries++) {
		if (store_write_async(svc->st, siem_store_batch_job, b, batch_done, b,
				      &err) == 0)
			return;
		if (strcmp(err.reason, "overloaded") != 0 || tries > 5000)
			break;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	batch_done(b, -1, &err);
}

/* ---------------------------------------------------------------- thread */

void siem_pipe_enqueue(struct siem_service *svc, struct siem_batch *b)
{
	atomic_fetch_add(&svc->queued, b->n);
	pthread_mutex_lock(&svc->q_mu);
	if (svc->q_tail)
		svc->q_tail->next = b;
	else
		svc->q_head = b;
	svc->q_tail = b;
	b->next = NULL;
	atomic_fetch_add(&svc->q_len, 1);
	pthread_cond_signal(&svc->q_cv);
	pthread_mutex_unlock(&svc->q_mu);
}

/* Alerts raised with no batch of events (windows closed by time): an
 * empty batch carries them to the store. */
static void advance(struct siem_service *svc)
{
	struct siem_pipe *p = svc->pipe;
	struct siem_batch *b = siem_batch_new(svc, NULL);
	if (!b)
		return;
	b->ictx = NULL;
	p->cur = b;
	p->cur_rec = NULL;
	int64_t now = bw_clock_now_ns();
	if (p->corr && b->gen == p->corr_gen)
		(void)siem_corr_advance(p->corr, now, corr_alert_cb, svc);
	siem_anomaly_advance(svc, b, now);
	p->cur = NULL;
	if (b->nalerts == 0) {
		siem_batch_free(b);
		return;
	}
	submit(svc, b);
}

/* Tests: run the timer work now (correlation windows, anomaly buckets)
 * on the calling thread, which must not race the pipeline thread (call
 * with the pipeline drained and the clock moved). */
void siem_pipe_advance_now(struct siem_service *svc)
{
	pthread_mutex_lock(&svc->pipe->state_mu);
	advance(svc);
	pthread_mutex_unlock(&svc->pipe->state_mu);
}

static void *pipe_main(void *arg)
{
	struct siem_service *svc = arg;
	struct siem_pipe *p = svc->pipe;
	(void)pthread_setname_np(pthread_self(), "siem-pipeline");
	for (;;) {
		pthread_mutex_lock(&svc->q_mu);
		if (!svc->q_head && !svc->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&svc->q_cv, &svc->q_mu, &ts);
		}
		struct siem_batch *b = svc->q_head;
		if (b) {
			svc->q_head = b->next;
			atomic_fetch_sub(&svc->q_len, 1);
			if (!svc->q_head)
				svc->q_tail = NULL;
			p->busy = true;
		}
		bool stop = svc->stopping && !b;
		pthread_mutex_unlock(&svc->q_mu);
		if (b) {
			pthread_mutex_lock(&p->state_mu);
			process(svc, b);
			pthread_mutex_unlock(&p->state_mu);
			submit(svc, b);
			pthread_mutex_lock(&svc->q_mu);
			p->busy = false;
			pthread_cond_broadcast(&svc->inflight_cv);
			pthread_mutex_unlock(&svc->q_mu);
		}
		int64_t mono = bw_clock_mono_ms();
		siem_bus_steal(svc, mono);
		/* The resume that batch_done posts can miss a sender paused
		 * just as the last batch in flight finished (it was not yet
		 * marked as waiting), leaving its buffered lines unread until
		 * more traffic came: check again here, at most every 20 ms
		 * (only loops with a paused sender are woken). */
		if (atomic_load(&svc->queued) <= atomic_load(&svc->queue_max) / 2)
			siem_ingest_resume_all(svc);
		if (mono - p->last_advance_ms >= 1000) {
			p->last_advance_ms = mono;
			pthread_mutex_lock(&p->state_mu);
			advance(svc);
			pthread_mutex_unlock(&p->state_mu);
		}
		if (stop)
			break;
	}
	return NULL;
}

int siem_pipe_start(struct siem_service *svc, struct bw_err *err)
{
	svc->pipe = calloc(1, sizeof(*svc->pipe));
	if (!svc->pipe)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	svc->pipe->last_advance_ms = bw_clock_mono_ms();
	pthread_mutex_init(&svc->pipe->state_mu, NULL);
	if (pthread_create(&svc->pipe_th, NULL, pipe_main, svc) != 0) {
		free(svc->pipe);
		svc->pipe = NULL;
		return SIEM_SVC_ERR(err, 500, "thread", "cannot start the pipeline thread");
	}
	return 0;
}

void siem_pipe_drain(struct siem_service *svc)
{
	if (!svc->pipe)
		return;
	pthread_mutex_lock(&svc->q_mu);
	pthread_cond_signal(&svc->q_cv);
	while (svc->q_head || svc->pipe->busy || svc->inflight)
		pthread_cond_wait(&svc->inflight_cv, &svc->q_mu);
	pthread_mutex_unlock(&svc->q_mu);
}

void siem_pipe_stop(struct siem_service *svc)
{
	if (!svc->pipe)
		return;
	pthread_mutex_lock(&svc->q_mu);
	svc->stopping = true;
	pthread_cond_signal(&svc->q_cv);
	pthread_mutex_unlock(&svc->q_mu);
	pthread_join(svc->pipe_th, NULL);
	siem_pipe_drain(svc);
	siem_corr_free(svc->pipe->corr);
	siem_gen_unref(svc->pipe->corr_gen);
	siem_alert_state_free(svc);
	siem_anomaly_free(svc);
	pthread_mutex_destroy(&svc->pipe->state_mu);
	free(svc->pipe);
	svc->pipe = NULL;
}
