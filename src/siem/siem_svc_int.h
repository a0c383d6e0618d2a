/*
 * siem_svc_int.h — internals of the SIEM service (ingest, pipeline,
 * storage, search, alerts, cases, API) shared between its files and their
 * tests; no other module includes this.
 *
 * Data flow and who owns what:
 *
 *   worker loop threads            pipeline thread           store writer
 *   ───────────────────            ───────────────           ────────────
 *   struct siem_ictx (one per loop): frames, parses and matches into the
 *   current struct siem_batch ──queue──▶ correlate, alert, serialise ──job──▶
 *   durable commit ──done──▶ acks posted back to the batch's loop.
 *
 *  - A batch owns an arena holding every record's strings; it is created
 *    by one ingest context, handed to the pipeline whole, and freed once
 *    its store job is final and its acknowledgements are sent (on its
 *    loop) — nothing points into it afterwards.
 *  - svc->queued counts events accepted and not yet final; senders are
 *    paused or refused while it is at queue_max (never a silent drop).
 *  - A generation (struct siem_gen) holds one compiled rule set and the
 *    config copied out of YAML; it is reference-counted: batches hold the
 *    generation their matcher used, so rule indices always mean the rules
 *    they were matched with.
 */
#ifndef BW_SIEM_SVC_INT_H
#define BW_SIEM_SVC_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "siem/siem_int.h"
#include "conf/conf.h"
#include "loop/loop.h"
#include "net/net.h"
#include "store/store.h"
#include "event/event.h"
#include "json/json.h"

#define SIEM_BLOOM_BYTES 4096u
/* A stored bloom is SIEM_BLOOM_BYTES of bits; since v2 one version byte
 * follows. v1 (exactly SIEM_BLOOM_BYTES, FNV-1a tokens) is what blocks
 * stored before carry: still read, never written. v2 hashes tokens with a
 * byte table and a rotation (half the per-byte latency of FNV-1a's
 * multiply), finished by a 64-bit mixer. */
#define SIEM_BLOOM_V1 1
#define SIEM_BLOOM_V2 2

#define SIEM_SVC_ERR(err, code, reason, ...)                                   \
	bw_err_set((err), (code), "siem", (reason), __VA_ARGS__)

/* ================================================================ config */

struct siem_retention_conf {
	const char *tenant;   /* NULL: any */
	const char *category; /* NULL: any */
	uint64_t keep_ms;
};

struct siem_suppress_conf {
	const char *rule;  /* rule id, name or title */
	const char *group; /* group key or NULL for every group */
	uint64_t for_ms;
};

enum siem_notify_kind { SIEM_NOTIFY_WEBHOOK, SIEM_NOTIFY_SMTP, SIEM_NOTIFY_SYSLOG };

struct siem_notify_conf {
	int kind;	     /* enum siem_notify_kind */
	const char *url;     /* webhook URL / smtp(s):// URL */
	const char *secret_file; /* webhook HMAC key / SMTP password file */
	const char *ca_file;
	const char *from;
	struct conf_strlist to;
	const char *username;
	const char *address; /* syslog: host IP */
	uint16_t port;
	int min_level; /* enum siem_level */
};

enum siem_fwd_kind { SIEM_FWD_SYSLOG, SIEM_FWD_HEC, SIEM_FWD_ELASTIC };
enum siem_fwd_format { SIEM_FMT_CEF, SIEM_FMT_LEEF, SIEM_FMT_JSON };

struct siem_fwd_conf {
	const char *name;
	int kind;   /* enum siem_fwd_kind */
	int format; /* enum siem_fwd_format (syslog only) */
	const char *url;
	const char *address;
	uint16_t port;
	int transport; /* 0 udp, 1 tcp */
	const char *token_file;
	const char *index;
	const char *ca_file;
	bool events, alerts;
	struct conf_strlist categories; /* empty: all */
	size_t buffer_max;		/* disk buffer bytes */
	uint64_t retry_ms;
	size_t batch;
};

struct siem_feed_conf {
	const char *name;
	const char *path;
	const char *url;
	int format; /* 0 csv, 1 stix */
	uint64_t refresh_ms;
	int level;
	const char *ca_file;
};

struct siem_conf {
	bool enabled;
	const char *database;
	int durability; /* 0 full, 1 normal */
	struct conf_strlist rules;
	const char *mapping; /* field/logsource mapping file, or NULL */
	const char *tenant;
	int tz_offset_min;
	size_t max_line;
	size_t relp_max_data;
	unsigned relp_window;
	unsigned batch_events;
	uint64_t flush_ms;
	unsigned queue_events;
	unsigned store_inflight;
	size_t http_body;
	unsigned http_lines;
	unsigned corr_groups;
	uint64_t search_scan;
	struct siem_retention_sec {
		uint64_t default_ms;
		uint64_t interval_ms;
		struct conf_list policies; /* struct siem_retention_conf */
	} retention;
	struct siem_geoip_sec {
		const char *database;
		unsigned max_kmh;
		uint64_t window_ms;
	} geoip;
	struct siem_alerts_sec {
		uint64_t dedup_ms;
		int min_level;
		struct conf_list suppress; /* struct siem_suppress_conf */
		struct conf_list notify;   /* struct siem_notify_conf */
	} alerts;
	struct conf_list forward; /* struct siem_fwd_conf */
	struct siem_intel_sec {
		struct conf_list feeds; /* struct siem_feed_conf */
	} intel;
	struct siem_anomaly_sec {
		bool enabled;
		uint64_t bucket_ms;
		unsigned min_buckets;
		unsigned threshold; /* z-score */
		unsigned min_count;
		struct conf_strlist first_seen; /* fields, per user */
	} anomaly;
};

/* Binds the `siem:` section (NULL: defaults) into out; strings and lists
 * point into section's arena — siem_conf_copy detaches them. */
int siem_conf_bind(const struct conf_node *section, struct siem_conf *out,
		   struct bw_err *err) BW_WUR;
/* Deep copy of c into arena a (strings, lists). -1 when a is full. */
int siem_conf_copy(const struct siem_conf *c, struct bw_arena *a,
		   struct siem_conf *out) BW_WUR;

/* ============================================================ generation */

struct siem_gen {
	_Atomic int refs;
	uint64_t id;
	struct bw_arena *arena; /* config copy, rule keys */
	struct siem_conf conf;
	struct siem_ruleset *rs;
	_Atomic uint8_t *disabled; /* [rule count]: set when disabled via API */
	const char **rule_keys;	   /* [rule count]: id, else name, else title */
};

void siem_gen_ref(struct siem_gen *g);
void siem_gen_unref(struct siem_gen *g);
/* Current generation with a reference taken (never NULL once started). */
struct siem_gen *siem_gen_get(struct siem_service *svc);

/* ================================================================ batches */

enum siem_src {
	SIEM_SRC_UDP,
	SIEM_SRC_TCP,
	SIEM_SRC_TLS,
	SIEM_SRC_RELP,
	SIEM_SRC_HTTP,
	SIEM_SRC_BUS,
};

struct siem_rec {
	struct siem_event ev; /* first: siem_ingest_line clears what follows */
	uint32_t *matched; /* arena: detection rules matched (generation's) */
	uint16_t nmatched;
	uint8_t src;
	bool parse_failed;
	/* labels when its document was written on the loop (siem_batch_pack):
	 * the pipeline rewrites the batch's documents if an extension added
	 * labels after */
	uint16_t nlabels_doc, dropped_doc;
	/* filled by the pipeline */
	int64_t id;
	int64_t day;
	uint32_t doc_off, doc_len;   /* compact stored form, in batch->docs */
	uint32_t json_off, json_len; /* ECS JSON in batch->json (forwarding) */
};

struct siem_sconn;
struct siem_http_wait;

/* What to acknowledge once the batch is durable. */
struct siem_ack {
	struct siem_sconn *conn;	/* RELP connection (referenced) */
	struct siem_http_wait *http; /* an NDJSON request waiting */
	uint32_t txnr;
};

struct siem_ictx;

struct siem_alert_row; /* siem_alert.c */

/* One run of same-day records of a batch, with the bloom of its tokens
 * (the full-text skip index row). */
struct siem_block {
	int64_t day;
	int64_t id_first, id_last, ts_min, ts_max, n;
	size_t first; /* index of its first record in the batch */
	/* its packed events in batch->docs (siem_store.c: the block layout) */
	size_t packed_off, packed_len;
	uint8_t bloom[SIEM_BLOOM_BYTES + 1]; /* bits, then SIEM_BLOOM_V2 */
};

/* Values already added to one bloom by the previous event (the batch
 * keeps one for its last block): a repeat is skipped. Zero it for a new bloom. */
#define SIEM_BLOOM_KEYS 8
#define SIEM_BLOOM_VOCAB 10
struct siem_bloom_memo {
	struct bw_str key[SIEM_BLOOM_KEYS];
	struct bw_str vocab[SIEM_BLOOM_VOCAB];
};

/* A packed event inside a stored block: u32 LE document length, u32 LE id
 * minus the block's id_first, then the compact document. */
#define SIEM_PACK_HDR 8u

struct siem_batch {
	struct siem_batch *next;
	struct siem_service *svc;
	struct bw_arena *arena;
	struct siem_gen *gen; /* referenced */
	struct siem_ictx *ictx; /* where acks go (NULL: none) */
	struct siem_rec *recs;
	size_t n, cap;
	struct siem_ack *acks;
	size_t nacks, acks_cap;
	int64_t first_mono_ms;
	/* pipeline output */
	struct bw_buf docs; /* compact stored events (siem_event_write_bin) */
	struct bw_buf json; /* ECS JSON, only when a destination forwards events */
	struct siem_alert_row *alerts;
	size_t nalerts, alerts_cap;
	struct siem_block *blocks;
	size_t nblocks, blocks_cap;
	struct siem_bloom_memo memo; /* of the last block (siem_batch_pack) */
	size_t npacked; /* records [0, npacked) have their document and bloom */
	bool blocks_failed; /* out of memory building them: store nothing */
	int rc; /* store result */
	struct bw_err err;
};

/* ========================================================= ingest context */

/* A stream connection (syslog over TCP/TLS, or RELP). Loop thread only;
 * refs counts the connection itself (until on_close) and every batch
 * holding an ack for it. */
struct siem_sconn {
	struct siem_ictx *ictx;
	struct net_stream_conn *sc; /* NULL once closed */
	int proto;		    /* SIEM_INGEST_* */
	int refs;
	char peer[48];
	struct siem_framer fr;
	/* RELP */
	bool opened;
	bool closing;
	bool paused_window; /* waiting for acks (window or ordered rsp) */
	bool paused_queue;  /* waiting for queue room */
	uint32_t pending;   /* syslog transactions not yet acknowledged */
	struct siem_sconn *pnext; /* ictx->paused list */
	bool on_plist;
	struct bw_buf out;
};

struct siem_ictx {
	struct siem_ictx *next; /* svc registry */
	struct siem_service *svc;
	struct loop *loop;	  /* NULL for the bus context */
	struct siem_matcher *m;	  /* for m_gen */
	struct siem_gen *m_gen;
	struct siem_batch *cur;
	struct loop_timer timer; /* flushes cur after flush_ms */
	struct siem_sconn *paused;
	_Atomic bool resume_posted;
	_Atomic bool want_resume;
	struct net_stream *streams[4]; /* per proto, created on attach */
	struct net_udp *udp[8];
	size_t nudp;
	struct siem_http_wait *waits; /* HTTP requests waiting (for stop) */
};

/* ================================================================ stats */

struct siem_counters {
	_Atomic uint64_t received, stored, parse_failed, truncated,
		framing_errors, store_failed, refused_udp, refused_http,
		refused_bus, refused_relp, paused, relp_acks, relp_conns,
		stream_conns, udp_datagrams, bus_events, http_requests,
		alerts, alerts_deduped, alerts_suppressed, correlations,
		stale_batches, retention_deleted, notify_sent, notify_failed,
		fwd_sent, fwd_failed, fwd_dropped, intel_matches, anomalies,
		geo_lookups, auth_failures;
};

/* ============================================================== service */

struct siem_partition {
	int64_t day;
	int64_t min_ts, max_ts, max_id;
	bool stored; /* catalog row exists */
};

struct siem_pipe; /* pipeline-thread state (siem_pipeline.c) */
struct siem_fwd;  /* forwarders (siem_fwd.c) */
struct siem_intel;
struct siem_geo;
struct siem_notify;

/* A day's segment file open for appending (writer thread only). */
struct siem_seg_file {
	int64_t day;
	int fd; /* -1: free slot */
	int64_t end; /* where the next block goes */
	uint64_t used;
};

struct siem_service {
	/* The batch insert statements of the last day written, reused by the
	 * store's writer thread (the only thread running siem_store_batch_job):
	 * kept here rather than in thread-local storage, which every thread
	 * of the process would carry and touch. */
	struct {
		char many[8192], one[512];
		int64_t many_day, one_day;
	} insert_sql;
	char data_dir[512];
	char db_path[600];
	struct store *st;

	pthread_mutex_t gen_mu;
	struct siem_gen *gen;
	uint64_t gen_seq;

	/* pipeline queue */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;	  /* work arrived or stopping */
	pthread_cond_t inflight_cv; /* a store job finished */
	struct siem_batch *q_head, *q_tail;
	_Atomic unsigned q_len; /* batches queued, not yet taken by the pipeline */
	/* q_len at which ingest loops pack their batches themselves
	 * (SIEM_PACK_ON_LOOP_QUEUED; tests set 0: always) */
	_Atomic unsigned pack_on_loop;
	unsigned inflight;
	_Atomic uint64_t queued; /* events accepted, not final */
	_Atomic uint64_t queue_max;
	bool stopping;
	bool started;
	pthread_t pipe_th;
	struct siem_pipe *pipe;

	/* ingest contexts */
	pthread_mutex_t ictx_mu;
	struct siem_ictx *ictxs;
	pthread_mutex_t bus_mu;
	struct siem_ictx *bus;

	/* catalog of partitions (pipeline thread writes; search reads under
	 * part_mu) */
	pthread_mutex_t part_mu;
	/* batches done with, kept for their record array and document
	 * buffers (warm memory instead of fresh pages per batch) */
	pthread_mutex_t pool_mu;
	struct siem_batch *pool[SIEM_BATCH_POOL];
	size_t npool;
	/* days stored before the block layout (one row per event in
	 * siem_ev_YYYYMMDD): found at open, never changed after, so the
	 * writer and readers agree on a day's layout without a lock */
	int64_t *row_days;
	size_t nrow_days;
	/* days stored in blocks inside the database (siem_evb_YYYYMMDD,
	 * before segment files): found at open like row_days; every other
	 * day keeps its documents in segment files (siem_seg.c) */
	int64_t *blob_days;
	size_t nblob_days;
	/* segment files open for appending: the store writer's only */
	struct siem_seg_file segs[SIEM_SEG_OPEN];
	uint64_t seg_tick;
	bool seg_sync; /* durability full: fdatasync each append */
	struct siem_partition *parts;
	size_t nparts, parts_cap;
	int64_t next_id;

	/* ingest keys (siem_http.c), cached from the store */
	pthread_mutex_t keys_mu;
	struct siem_key *keys;
	size_t nkeys;

	/* service thread: loop for timers and outbound HTTP */
	struct loop *sloop;
	pthread_t svc_th;
	bool svc_running;
	struct loop_timer tick_timer;
	struct net_fetch *fetch;
	int64_t last_retention_s;

	struct siem_fwd *fwd;
	struct siem_intel *intel;
	struct siem_geo *geo;
	struct siem_notify *notify;
	void *alert_state; /* siem_alert.c, pipeline thread only */
	void *anomaly;	   /* siem_anomaly.c, pipeline thread only */
	void *ext;	   /* siem_ext.c */

	struct siem_counters c;
};

/* ---------------------------------------------------------- storage */

/* Creates the schema (store_migrate "siem") and loads the partition
 * catalog and next id. */
int siem_store_open(struct siem_service *svc, struct bw_err *err) BW_WUR;
/* The write job for one processed batch (events, blocks, alerts). */
int siem_store_batch_job(struct store_tx *tx, void *arg, struct bw_err *err);
/* Partition table name for a day number: "siem_ev_20240615" (rows, the
 * layout before blocks) or "siem_evb_20240615" (blocks of events). */
void siem_part_name(int64_t day, char out[32]);
void siem_blk_name(int64_t day, char out[32]);
/* "siem_evs_20240615": the block rows of a day whose documents are in
 * its segment file (the layout of every day made now). */
void siem_seg_name(int64_t day, char out[32]);
/* Whether a day is stored one row per event (made before blocks). */
bool siem_day_rows(const struct siem_service *svc, int64_t day);
/* How a day's events are stored: fixed when the day is first written. */
enum siem_layout {
	SIEM_LAYOUT_SEGS,  /* blocks, documents in the day's segment file */
	SIEM_LAYOUT_BLOBS, /* blocks, documents in the database row */
	SIEM_LAYOUT_ROWS,  /* one row per event */
};
enum siem_layout siem_day_layout(const struct siem_service *svc, int64_t day);
/*
 * The block table of a day in a block layout (OUT name) and the columns
 * to select for its documents, which siem_blk_bytes reads back from a
 * row starting at column col: *p, *n are the packed documents, valid
 * until the row callback returns or, when *owned is set, until the
 * caller frees *owned (the bytes read from a segment file).
 */
const char *siem_blk_table(const struct siem_service *svc, int64_t day, char name[32]);
int siem_blk_bytes(const struct siem_service *svc, int64_t day, const struct store_row *row,
		   int col, const uint8_t **p, size_t *n, uint8_t **owned,
		   struct bw_err *err) BW_WUR;
/* The same bytes, always in a buffer of the caller's (*copy, malloc'd). */
int siem_blk_copy(const struct siem_service *svc, int64_t day, const struct store_row *row,
		  int col, uint8_t **copy, size_t *n, struct bw_err *err) BW_WUR;

/* Segment files (siem_seg.c). */
int siem_seg_init(struct siem_service *svc, struct bw_err *err) BW_WUR;
void siem_seg_fini(struct siem_service *svc);
void siem_seg_path(const struct siem_service *svc, int64_t day, char *out, size_t cap);
uint64_t siem_seg_sum(const uint8_t *p, size_t n);
/* Appends a block's bytes to its day's file (writer thread, inside a
 * store job, before the row naming them); OUT *off where they start. */
int siem_seg_append(struct siem_service *svc, struct store_tx *tx, int64_t day,
		    const uint8_t *p, size_t n, int64_t *off, struct bw_err *err) BW_WUR;
/* Closes and deletes a day's file (writer thread, its partition dropped). */
void siem_seg_drop(struct siem_service *svc, int64_t day);
/* Reads and checks the bytes a committed row names; *out is malloc'd. */
int siem_seg_read(const struct siem_service *svc, int64_t day, int64_t off, int64_t len,
		  int64_t sum, uint8_t **out, struct bw_err *err) BW_WUR;
/*
 * Walks the packed events of a stored block (p, n): calls fn with each
 * event's id, time and compact document (borrowed, valid during the
 * call). fn returns 0 to go on, 1 to stop, -1 to fail. Returns 0, 1 when
 * fn stopped, -1 with err 500 "corrupt" for a malformed block.
 */
typedef int (*siem_pack_fn)(void *arg, int64_t id, int64_t ts, const uint8_t *doc,
			    size_t len, struct bw_err *err);
int siem_pack_walk(const uint8_t *p, size_t n, int64_t id_first, siem_pack_fn fn,
		   void *arg, struct bw_err *err);
/*
 * Every stored event of a day partition, whatever its layout, in id
 * order: fn gets the id, time and stored document (compact, or JSON for
 * rows written before). For tests and tools; any thread.
 */
int siem_store_each(struct siem_service *svc, int64_t day, siem_pack_fn fn, void *arg,
		    struct bw_err *err);
/* Runs retention now (deletes past policy); returns rows deleted or -1. */
int64_t siem_retention_run(struct siem_service *svc, struct bw_err *err);

/* Token bloom filters of the full-text skip index. */
void siem_bloom_event(uint8_t *bloom, const struct siem_event *ev);
void siem_bloom_event_memo(uint8_t *bloom, const struct siem_event *ev,
			   struct siem_bloom_memo *memo);
void siem_bloom_add_text(uint8_t *bloom, const char *p, size_t n);
/* Adds one token (v2 hash, as every bloom written now). */
void siem_bloom_add_token(uint8_t *bloom, const char *p, size_t n);
/* Whether a bloom of the given version (SIEM_BLOOM_V1 or _V2) may hold
 * the token; false only when it certainly does not. */
bool siem_bloom_has_token(const uint8_t *bloom, int version, const char *p, size_t n);
/* The version of a stored bloom blob of len bytes, 0 when it is none
 * (then it prunes nothing). */
int siem_bloom_version(const uint8_t *blob, size_t len);
/* Calls fn for every token of text: maximal runs of [A-Za-z0-9_] and
 * bytes >= 0x80 of at most SIEM_TOKEN_MAX bytes (the callee lowercases).
 * Only simple runs: a query word like "example.com" must find
 * "www.example.com", so blocks are pruned by the word's parts. */
#define SIEM_TOKEN_MAX 64u
void siem_tokens(const char *p, size_t n,
		 void (*fn)(void *arg, const char *t, size_t tn), void *arg);

/* ---------------------------------------------------------- pipeline */

int siem_pipe_start(struct siem_service *svc, struct bw_err *err) BW_WUR;
void siem_pipe_stop(struct siem_service *svc);
/* Hands a full batch to the pipeline (takes it). Never blocks. */
void siem_pipe_enqueue(struct siem_service *svc, struct siem_batch *b);
/* Blocks until everything queued so far is final (tests, shutdown). */
void siem_pipe_drain(struct siem_service *svc);
/* One pipeline step without the thread (tests): processes every queued
 * batch on the calling thread. */
void siem_pipe_run_once(struct siem_service *svc);
void siem_pipe_advance_now(struct siem_service *svc);

/* ------------------------------------------------------------ ingest */

struct siem_batch *siem_batch_new(struct siem_service *svc,
				  struct siem_ictx *ictx);
void siem_batch_free(struct siem_batch *b);
/* Frees the batches kept for reuse (service teardown, nothing in flight). */
void siem_batch_pool_free(struct siem_service *svc);
/* Parses one line into the context's current batch (creating it),
 * matching it with the context's matcher. Returns the record or NULL
 * when memory ran out (counted). */
struct siem_rec *siem_ingest_line(struct siem_ictx *x, const char *p,
				  size_t n, enum siem_src src, const char *peer,
				  const char *tenant, bool truncated);
/* Flushes the current batch to the pipeline. */
void siem_ictx_flush(struct siem_ictx *x);
/* The context of loop l, created on first use (loop thread). */
struct siem_ictx *siem_ictx_for_loop(struct siem_service *svc,
				     struct loop *l);
/* True when the queue has no room for n more events. */
bool siem_queue_full(struct siem_service *svc, size_t n);
/* Called when the queue fell below its low-water mark: resumes paused
 * senders on every loop (posts to them). */
void siem_ingest_resume_all(struct siem_service *svc);
/*
 * Record i of b (the next one not packed, i == b->npacked) gets its day
 * partition, its compact document after an 8-byte pack header in
 * b->docs, and its tokens in the bloom of its day's block (a new block
 * when the day changes). Runs where the event is still in cache: on the
 * ingest loop as a line is parsed (so this work spreads over the loop
 * threads instead of the one pipeline thread), or in the pipeline for
 * records added otherwise. Ids are not known yet: siem_batch_ids fills
 * the headers and block ids once the pipeline numbers the records.
 */
void siem_batch_pack(struct siem_batch *b, size_t i, int64_t now_ns);

/* Runs on the writer thread after a batch's job: counts, acks, frees. */
void siem_batch_final(struct siem_batch *b);
/* Matches ev with the context's matcher (rebuilding it for a new
 * generation); fills rec->matched. */
int siem_ictx_match(struct siem_ictx *x, struct siem_batch *b,
		    struct siem_rec *r);

/* ----------------------------------------------------------- search */

#define SIEM_TERM_MAX 512

/* One query term: a word/phrase (field empty) or field:value. */
struct siem_term {
	char field[129];
	char value[SIEM_TERM_MAX]; /* lowercased */
	size_t len;
	bool neg, prefix;
	int slot;   /* ECS slot of field, or -1 (label) */
	int column; /* key column index, or -1 */
};

struct siem_query {
	struct siem_term terms[SIEM_SEARCH_TERMS_MAX];
	size_t nterms;
};

/* Parses query text into q (appending to what q holds). 400 "query" on
 * syntax errors, 413 past SIEM_SEARCH_QUERY_MAX. */
int siem_query_parse(struct siem_query *q, const char *text, size_t len,
		     struct bw_err *err) BW_WUR;
/* Adds an exact (value* = prefix) field filter. */
int siem_query_add_filter(struct siem_query *q, const char *field,
			  const char *value, struct bw_err *err) BW_WUR;

struct siem_scan_opts {
	int64_t from_ns, to_ns; /* inclusive */
	const char *tenant;	/* NULL: every tenant */
	uint64_t max_scan;	/* rows examined at most (0: default) */
	int64_t per_partition_limit; /* matches per SQL query (0: all) */
	bool oldest_first;
};

/* A matching row; col[] are the key columns in the order tenant,
 * category, action, outcome, dataset, host, source_ip, user_name. */
struct siem_scan_row {
	int64_t id, ts;
	struct bw_str col[8];
	void *priv;
};
/* The row's event read from its stored document (cached per row), or
 * NULL. */
struct siem_event *siem_scan_event(struct siem_scan_row *r);
/* The row's document as ECS JSON (compact rows are converted; cached per
 * row); {NULL, 0} on failure. Valid until the callback returns. */
struct bw_str siem_scan_doc(const struct siem_scan_row *r);

/* 0 next row, 1 stop (success), -1 fail. */
typedef int (*siem_scan_fn)(void *arg, const struct siem_scan_row *r);

struct siem_scan_stats {
	uint64_t scanned, partitions, blocks, blocks_skipped;
	bool truncated;
};

/* Calls fn for every stored event that matches q within o. Any thread. */
int siem_scan(struct siem_service *svc, const struct siem_query *q,
	      const struct siem_scan_opts *o, siem_scan_fn fn, void *arg,
	      struct siem_scan_stats *stats, struct bw_err *err) BW_WUR;

struct siem_hit {
	int64_t id, ts;
	char *doc;
	size_t doc_len;
};

struct siem_search_result {
	struct siem_hit *hits;
	size_t n, cap;
	bool more; /* matches exist past this page */
	struct siem_scan_stats stats;
};

/* One page of matches, newest first. */
int siem_search(struct siem_service *svc, const struct siem_query *q,
		const struct siem_scan_opts *o, size_t offset, size_t limit,
		struct siem_search_result *res, struct bw_err *err) BW_WUR;
void siem_search_result_free(struct siem_search_result *res);
/* Counts by time bucket (and by field value, top values) as JSON. */
int siem_aggregate(struct siem_service *svc, const struct siem_query *q,
		   const struct siem_scan_opts *o, const char *field,
		   int64_t interval_ns, size_t top, struct json_writer *w,
		   struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ alerts */

struct siem_alert_row {
	int64_t id;
	int64_t ts, first_ts, last_ts;
	const char *rule_id, *rule_title, *kind, *level;
	int severity;
	const char *tenant, *group_key, *dedup_key;
	int64_t count;
	int64_t event_id;
	const char *context; /* JSON object text */
	bool update;	     /* dedup: bump count on the existing alert */
};

/* ------------------------------------------------- service internals */

void siem_ictx_free(struct siem_ictx *x);
/* Rebuilds the generation from the running config (rules changed
 * through the API). */
int siem_service_rebuild(struct siem_service *svc, struct bw_err *err) BW_WUR;
/* Source keys (siem_http.c). */
struct siem_key;
int siem_keys_load(struct siem_service *svc, struct bw_err *err) BW_WUR;
void siem_keys_free(struct siem_service *svc);
/* Creates a key for tenant; OUT: token (shown once, NUL-terminated) and
 * its id. Blocking (thread pool or tests). */
int siem_key_create(struct siem_service *svc, const char *name,
		    const char *tenant, const char *actor, char token[96],
		    char id_out[17], struct bw_err *err) BW_WUR;
int siem_key_revoke(struct siem_service *svc, const char *id,
		    struct bw_err *err) BW_WUR;
void siem_keys_write_json(struct siem_service *svc, struct json_writer *w);

/* Extensions that run beside the pipeline: forwarding, notifications,
 * threat intelligence, GeoIP and anomaly state (siem_ext.c and their own
 * files). init runs once after the store is open; apply_gen whenever a
 * generation becomes current (config may have changed); tick every
 * second on the service thread; fini at shutdown. */
int siem_ext_init(struct siem_service *svc, struct bw_err *err) BW_WUR;
void siem_svc_apply_gen(struct siem_service *svc, struct siem_gen *g);
void siem_ext_tick(struct siem_service *svc, struct siem_gen *g);
void siem_ext_fini(struct siem_service *svc);

/* Ingest-thread enrichment before matching (GeoIP labels). */
void siem_ext_enrich(struct siem_service *svc, struct siem_batch *b,
		     struct siem_event *ev);
/* Pipeline-thread checks on every stored event (threat intelligence,
 * anomalies, impossible travel); they raise alerts into b. */
void siem_ext_event(struct siem_service *svc, struct siem_batch *b,
		    struct siem_rec *r);
/* After a batch is durable: new alerts to notify and records to
 * forward (writer thread; copies what it needs and returns). */
void siem_ext_stored(struct siem_service *svc, struct siem_batch *b);

/* ingest helpers used by siem_http.c */
struct siem_rec *siem_ingest_event(struct siem_ictx *x, struct siem_batch *b,
				   enum siem_src src);
struct siem_batch *siem_ingest_cur(struct siem_ictx *x);
int siem_ingest_add_http_ack(struct siem_ictx *x, struct siem_http_wait *w);
void siem_http_wait_done(struct siem_http_wait *w, bool ok, struct siem_batch *b);
void siem_bus_steal(struct siem_service *svc, int64_t now_mono_ms);

/* ---------------------------------------------------------- alerting */

struct siem_alert_in {
	const char *rule_key; /* id, name or title: dedup and suppression */
	const char *title;
	const char *name; /* the rule's name, or NULL */
	const char *kind; /* sigma, correlation, intel, anomaly, travel */
	enum siem_level level;
	const char *group;  /* grouping value ("" none) */
	const char *tenant; /* NULL: none */
	int64_t ts, first_ts;
	uint64_t count;
	int64_t event_id; /* 0: none */
	const char *context; /* JSON object text, copied */
};
/* Pipeline thread: applies suppression and deduplication, then adds an
 * alert row (or a count update) to b. Returns 1 raised, 0 folded or
 * suppressed, -1 out of memory. */
int siem_alert_raise(struct siem_service *svc, struct siem_batch *b,
		     const struct siem_alert_in *in);
void siem_alert_state_free(struct siem_service *svc);

/* The stored document of event id (ts_hint: its time if known, to try
 * its day first). Returns 1 found (doc appended, *ts set), 0 not found,
 * -1 error. */
int siem_event_doc(struct siem_service *svc, int64_t id, int64_t ts_hint,
		   struct bw_buf *doc, int64_t *ts, struct bw_err *err);

/* The access report (CSV, or HTML when html). */
int siem_report_access(struct siem_service *svc, int64_t from, int64_t to,
		       const char *tenant, bool html, struct bw_buf *out,
		       struct bw_err *err) BW_WUR;
bool siem_case_transition_ok(const char *from, const char *to);

/* API jobs (siem_api.c) and the handlers in other files. */
struct sjob;
struct bw_arena *siem_sjob_arena(struct sjob *j);
struct siem_service *siem_sjob_svc(struct sjob *j);
const struct json_value *siem_sjob_body(struct sjob *j);
const char *siem_sjob_id(struct sjob *j);
const char *siem_sjob_actor(struct sjob *j);
const char *siem_sjob_tenant(struct sjob *j);
struct bw_buf *siem_sjob_out(struct sjob *j);
const char *siem_sjob_param(struct sjob *j, const char *name);
bool siem_sjob_range(struct sjob *j, int64_t span_ns, int64_t *from, int64_t *to,
		     const char **tenant);
void siem_sjob_status(struct sjob *j, int status);
bool siem_sjob_failed(struct sjob *j);
void siem_sjob_fail(struct sjob *j, int status, const char *code, const char *msg);
void siem_sjob_fail_err(struct sjob *j, const struct bw_err *err);
void siem_sjob_content_type(struct sjob *j, const char *ct);
void siem_sjob_target(struct sjob *j, const char *target);
void siem_api_cases_list(struct sjob *j);
void siem_api_case_create(struct sjob *j);
void siem_api_case_get(struct sjob *j);
void siem_api_case_timeline(struct sjob *j);
void siem_api_case_assign(struct sjob *j);
void siem_api_case_status(struct sjob *j);
void siem_api_case_note(struct sjob *j);
void siem_api_case_link(struct sjob *j);
void siem_api_report(struct sjob *j);

/* Output formats (siem_fmt.c): append to o; -1 (o unchanged) when o's
 * ceiling is reached. severity 0..10. */
int siem_format_cef(const struct siem_event *ev, const char *sig, const char *name,
		    int severity, struct bw_buf *o) BW_WUR;
int siem_format_leef(const struct siem_event *ev, const char *event_id, int severity,
		     struct bw_buf *o) BW_WUR;
/* "<PRI>1 TIMESTAMP HOST bulwark - - - MSG" (RFC 5424). */
int siem_format_syslog(int64_t ts_ns, const char *host, int pri, const char *msg,
		       size_t n, struct bw_buf *o) BW_WUR;

/* Forwarding and notifications (siem_fwd.c). */
int siem_fwd_init(struct siem_service *svc, struct bw_err *err) BW_WUR;
void siem_fwd_apply_gen(struct siem_service *svc, struct siem_gen *g);
void siem_fwd_tick(struct siem_service *svc);
void siem_fwd_fini(struct siem_service *svc);
uint64_t siem_fwd_backlog(struct siem_service *svc, size_t i);

/* Threat intelligence (siem_intel.c: the set and its parsers;
 * siem_feeds.c: loading feeds and matching events). */
enum siem_ioc_type { SIEM_IOC_IP, SIEM_IOC_CIDR, SIEM_IOC_DOMAIN, SIEM_IOC_URL, SIEM_IOC_HASH };

struct siem_indicator {
	int type;
	const char *value;
	const char *feed; /* borrowed from the generation's config */
	const char *name, *description, *ref; /* STIX name, description, id */
	int level;	/* enum siem_level of the feed */
	int confidence; /* STIX confidence, -1 unknown */
};

struct siem_intel_set;
struct siem_intel_set *siem_intel_set_new(void);
void siem_intel_set_ref(struct siem_intel_set *s);
void siem_intel_set_unref(struct siem_intel_set *s); /* accepts NULL */
size_t siem_intel_set_count(const struct siem_intel_set *s);
const char *siem_intel_intern(struct siem_intel_set *s, const char *str);
size_t siem_intel_set_bad(const struct siem_intel_set *s);
const struct siem_indicator *siem_intel_set_at(const struct siem_intel_set *s, size_t i);
/* type -1: detect. ctx (may be NULL) gives feed, level and context. */
int siem_intel_add(struct siem_intel_set *s, int type, const char *v, size_t n,
		   const struct siem_indicator *ctx);
/* Parsers: return the number of indicators added, or -1 with err when the
 * feed as a whole is unusable (too large, not a STIX bundle). Bad
 * entries are skipped and counted (siem_intel_set_bad). */
int siem_intel_parse_csv(struct siem_intel_set *s, const char *p, size_t n,
			 const struct siem_indicator *ctx, struct bw_err *err);
int siem_intel_parse_stix(struct siem_intel_set *s, const char *p, size_t n,
			  const struct siem_indicator *ctx, struct bw_err *err);
/* After the last add: builds the lookup tables. */
int siem_intel_finish(struct siem_intel_set *s) BW_WUR;
const struct siem_indicator *siem_intel_match_ip(const struct siem_intel_set *s,
						 const char *p, size_t n);
const struct siem_indicator *siem_intel_match_domain(const struct siem_intel_set *s,
						     const char *p, size_t n);
const struct siem_indicator *siem_intel_match(const struct siem_intel_set *s, int type,
					      const char *p, size_t n);
const char *siem_ioc_type_name(int t);

int siem_feeds_init(struct siem_service *svc, struct bw_err *err) BW_WUR;
void siem_feeds_tick(struct siem_service *svc, struct siem_gen *g);
void siem_feeds_fini(struct siem_service *svc);
void siem_feeds_event(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r);
/* Indicators loaded now (tests, stats). */
size_t siem_feeds_count(struct siem_service *svc);

/* GeoIP and impossible travel (siem_geo.c). */
int siem_geo_init(struct siem_service *svc, struct bw_err *err) BW_WUR;
void siem_geo_apply(struct siem_service *svc, struct siem_gen *g);
void siem_geo_fini(struct siem_service *svc);
void siem_geo_enrich(struct siem_service *svc, struct siem_batch *b, struct siem_event *ev);
void siem_geo_travel(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r);
/* Great-circle distance in km. */
double siem_geo_km(double lat1, double lon1, double lat2, double lon2);

/* Anomaly baselines (siem_anomaly.c), pipeline thread. */
void siem_anomaly_event(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r);
void siem_anomaly_advance(struct siem_service *svc, struct siem_batch *b, int64_t now_ns);
void siem_anomaly_free(struct siem_service *svc);

/* ----------------------------------------------------------- helpers */

/* Day number (UTC) of ns since the epoch. */
static inline int64_t siem_day_of(int64_t ts_ns)
{
	int64_t d = ts_ns / (86400LL * 1000000000LL);
	if (ts_ns < 0 && ts_ns % (86400LL * 1000000000LL))
		d--;
	return d;
}

const char *siem_level_name(enum siem_level l);

#endif
