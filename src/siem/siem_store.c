/*
 * siem_store.c — durable event storage on the store interface: the
 * schema, day partitions, the full-text skip index, the batch write job
 * and retention.
 *
 * Layout (portable SQL only, see docs/internals/STORE.md):
 *  - one table per UTC day of event time, siem_ev_YYYYMMDD (id, ts,
 *    key columns, doc = the compact stored event as a BLOB, see
 *    siem_doc.c; rows written before it hold ECS JSON text, and readers
 *    take both); an
 *    event whose time lies outside [now - longest retention, now + 1 day]
 *    is filed under its receive day instead, so a bogus timestamp cannot
 *    create tables at random;
 *  - siem_partition catalogs the tables with their time and id ranges, so
 *    a search opens only the days it needs;
 *  - siem_block is the full-text skip index: per stored batch and day, a
 *    4 KiB bloom filter of every token of its events (and of
 *    "field=value" for the key fields). A search reads blooms, not rows,
 *    and scans only the id ranges whose bloom holds every query token.
 *    No engine-specific full-text feature is needed.
 *
 * Table names are built from a day number (an integer we compute), never
 * from input, so formatting them into SQL cannot inject anything; every
 * value is still bound. Invariants: an event id is unique and increases
 * in the order events were processed; a block's id range holds only
 * events of its day; a partition row exists before any of its events is
 * visible (same transaction).
 */
#include "siem/siem_svc_int.h"

#include <endian.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const schema[] = {
	/* 1 */
	"CREATE TABLE siem_partition (day BIGINT PRIMARY KEY, name TEXT NOT NULL,"
	" min_ts BIGINT NOT NULL, max_ts BIGINT NOT NULL, max_id BIGINT NOT NULL,"
	" events BIGINT NOT NULL, created BIGINT NOT NULL);"
	"CREATE TABLE siem_block (day BIGINT NOT NULL, id_first BIGINT NOT NULL,"
	" id_last BIGINT NOT NULL, ts_min BIGINT NOT NULL, ts_max BIGINT NOT NULL,"
	" n BIGINT NOT NULL, bloom BLOB NOT NULL, PRIMARY KEY (day, id_first));"
	"CREATE TABLE siem_alert (id BIGINT PRIMARY KEY, ts BIGINT NOT NULL,"
	" first_ts BIGINT NOT NULL, last_ts BIGINT NOT NULL, rule_id TEXT,"
	" rule_title TEXT NOT NULL, kind TEXT NOT NULL, level TEXT NOT NULL,"
	" severity BIGINT NOT NULL, tenant TEXT, group_key TEXT,"
	" dedup_key TEXT NOT NULL, count BIGINT NOT NULL, status TEXT NOT NULL,"
	" acked_by TEXT, acked_at BIGINT, event_id BIGINT, context TEXT,"
	" case_id TEXT);"
	"CREATE INDEX siem_alert_ts ON siem_alert (ts);"
	"CREATE INDEX siem_alert_dedup ON siem_alert (dedup_key, last_ts);"
	"CREATE TABLE siem_source_key (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
	" tenant TEXT NOT NULL, hash BLOB NOT NULL, created BIGINT NOT NULL,"
	" created_by TEXT, revoked BIGINT);"
	"CREATE TABLE siem_rule_src (name TEXT PRIMARY KEY, text TEXT NOT NULL,"
	" updated BIGINT NOT NULL, updated_by TEXT);"
	"CREATE TABLE siem_rule_state (rule_key TEXT PRIMARY KEY,"
	" enabled BOOLEAN NOT NULL, updated BIGINT NOT NULL);"
	"CREATE TABLE siem_case (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
	" severity TEXT NOT NULL, status TEXT NOT NULL, assignee TEXT,"
	" tenant TEXT, created BIGINT NOT NULL, updated BIGINT NOT NULL,"
	" created_by TEXT);"
	"CREATE TABLE siem_case_alert (case_id TEXT NOT NULL, alert_id BIGINT NOT NULL,"
	" PRIMARY KEY (case_id, alert_id));"
	"CREATE TABLE siem_case_event (case_id TEXT NOT NULL, event_id BIGINT NOT NULL,"
	" ts BIGINT NOT NULL, PRIMARY KEY (case_id, event_id));"
	"CREATE TABLE siem_case_log (id TEXT PRIMARY KEY, case_id TEXT NOT NULL,"
	" ts BIGINT NOT NULL, actor TEXT, kind TEXT NOT NULL, text TEXT NOT NULL);"
	"CREATE INDEX siem_case_log_case ON siem_case_log (case_id, ts);"
	"CREATE TABLE siem_retention_log (ts BIGINT NOT NULL, day BIGINT NOT NULL,"
	" tenant TEXT, category TEXT, deleted BIGINT NOT NULL, dropped BOOLEAN NOT NULL)",
};

static void day_name(const char *prefix, int64_t day, char out[32])
{
	/* civil date of the day number (Howard Hinnant's algorithm) */
	int64_t z = day + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	if (y < 0 || y > 9999)
		y = 0;
	snprintf(out, 32, "%s%04d%02d%02d", prefix, (int)y, (int)m, (int)d);
}

void siem_part_name(int64_t day, char out[32])
{
	day_name("siem_ev_", day, out);
}

void siem_blk_name(int64_t day, char out[32])
{
	day_name("siem_evb_", day, out);
}

void siem_seg_name(int64_t day, char out[32])
{
	day_name("siem_evs_", day, out);
}

static bool day_in(const int64_t *days, size_t n, int64_t day)
{
	for (size_t i = 0; i < n; i++)
		if (days[i] == day)
			return true;
	return false;
}

bool siem_day_rows(const struct siem_service *svc, int64_t day)
{
	return day_in(svc->row_days, svc->nrow_days, day);
}

enum siem_layout siem_day_layout(const struct siem_service *svc, int64_t day)
{
	if (day_in(svc->row_days, svc->nrow_days, day))
		return SIEM_LAYOUT_ROWS;
	if (day_in(svc->blob_days, svc->nblob_days, day))
		return SIEM_LAYOUT_BLOBS;
	return SIEM_LAYOUT_SEGS;
}

const char *siem_blk_table(const struct siem_service *svc, int64_t day, char name[32])
{
	if (siem_day_layout(svc, day) == SIEM_LAYOUT_BLOBS) {
		siem_blk_name(day, name);
		return "docs";
	}
	siem_seg_name(day, name);
	return "seg_off, seg_len, seg_sum";
}

int siem_blk_bytes(const struct siem_service *svc, int64_t day, const struct store_row *row,
		   int col, const uint8_t **p, size_t *n, uint8_t **owned, struct bw_err *err)
{
	*owned = NULL;
	if (siem_day_layout(svc, day) == SIEM_LAYOUT_BLOBS) {
		*n = 0;
		*p = store_row_blob(row, col, n);
		return 0;
	}
	if (siem_seg_read(svc, day, store_row_int64(row, col), store_row_int64(row, col + 1),
			  store_row_int64(row, col + 2), owned, err) < 0)
		return -1;
	*p = *owned;
	*n = (size_t)store_row_int64(row, col + 1);
	return 0;
}

int siem_blk_copy(const struct siem_service *svc, int64_t day, const struct store_row *row,
		  int col, uint8_t **copy, size_t *n, struct bw_err *err)
{
	const uint8_t *p;
	if (siem_blk_bytes(svc, day, row, col, &p, n, copy, err) < 0)
		return -1;
	if (*copy)
		return 0;
	if (!(*copy = malloc(*n ? *n : 1)))
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	memcpy(*copy, p, *n);
	return 0;
}

/* ------------------------------------------------------ packed blocks */

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int siem_pack_walk(const uint8_t *p, size_t n, int64_t id_first, siem_pack_fn fn,
		   void *arg, struct bw_err *err)
{
	size_t i = 0;
	while (i < n) {
		if (n - i < SIEM_PACK_HDR)
			goto corrupt;
		uint32_t len = rd32(p + i), delta = rd32(p + i + 4);
		i += SIEM_PACK_HDR;
		int64_t ts;
		if (len > n - i || !siem_doc_ts(p + i, len, &ts))
			goto corrupt;
		int rc = fn(arg, id_first + delta, ts, p + i, len, err);
		if (rc != 0)
			return rc;
		i += len;
	}
	return 0;
corrupt:
	return SIEM_SVC_ERR(err, 500, "corrupt", "malformed event block at %lld",
			    (long long)id_first);
}

/* -------------------------------------------------------------- tokens */

static inline bool tok_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}
void siem_tokens(const char *p, size_t n,
		 void (*fn)(void *arg, const char *t, size_t tn), void *arg)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && !tok_char((unsigned char)p[i]))
			i++;
		size_t s = i;
		while (i < n && tok_char((unsigned char)p[i]))
			i++;
		/* longer runs (hashes, base64) are not indexed: a query for
		 * one skips no block, and verification still finds it */
		if (i > s && i - s <= SIEM_TOKEN_MAX)
			fn(arg, p + s, i - s);
	}
}

/* v1 (blocks stored before v2): FNV-1a over the lowercased token. */
static uint64_t tok_hash_v1(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)siem_lower(p[i]);
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * v2: per byte h = rotl(h, 5) ^ tok_tab[byte], a cyclic-polynomial
 * ("buzhash") step whose dependency chain is two one-cycle operations
 * where FNV-1a's is a multiply; then a 64-bit finaliser (MurmurHash3's
 * fmix64) so the bloom's bit positions see every input bit. tok_tab maps
 * a token byte (letters case-folded) to a fixed pseudo-random non-zero
 * word and a separator to 0, so one lookup both classifies and hashes.
 * The table is part of the stored format: its generator (splitmix64 from
 * a fixed seed) must never change.
 */
#define TOK_SEED 0x62756c7761726b32ULL /* "bulwark2" */
static uint64_t tok_tab[256];
static pthread_once_t tok_tab_once = PTHREAD_ONCE_INIT;

static void tok_tab_init(void)
{
	uint64_t s = TOK_SEED, v[256];
	for (unsigned c = 0; c < 256; c++) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		v[c] = (z ^ (z >> 31)) | 1u; /* never 0: 0 means separator */
	}
	for (unsigned c = 0; c < 256; c++)
		tok_tab[c] = tok_char((unsigned char)c) ? v[(uint8_t)siem_lower((char)c)] : 0;
}

static inline uint64_t tok_step(uint64_t h, uint64_t t)
{
	return ((h << 5) | (h >> 59)) ^ t;
}

/* A byte's word in a token given whole (field=value tokens and query
 * words are not split here): separators count too, as their own value. */
static inline uint64_t tok_word(unsigned char c)
{
	uint64_t t = tok_tab[c];
	return t ? t : (uint64_t)c << 1;
}

static inline uint64_t tok_fin(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

static inline uint64_t rotl64(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t rd64le(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

/* The checksum of a block in a segment file (siem_seg.c): two
 * independent lanes of 8 bytes each per step, so the multiplies of one
 * do not wait for the other (a block of 1,024 events, 350 KB, is summed
 * in a few tens of microseconds), finished like a token's hash. Part of
 * the format. */
uint64_t siem_seg_sum(const uint8_t *p, size_t n)
{
	const uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
	uint64_t a = k1 ^ (uint64_t)n, b = k2;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		a = rotl64(a ^ rd64le(p + i), 31) * k1;
		b = rotl64(b ^ rd64le(p + i + 8), 29) * k2;
	}
	uint64_t t = 0;
	for (size_t s = 0; i < n; i++, s += 8)
		t ^= (uint64_t)p[i] << (s & 63);
	a = rotl64(a ^ t, 31) * k1;
	return tok_fin(a ^ rotl64(b, 17));
}

/* The v2 stream state before a token's first byte. */
#define TOK_V2_INIT 0x2545f4914f6cdd1dULL

static uint64_t tok_hash_v2(const char *p, size_t n)
{
	pthread_once(&tok_tab_once, tok_tab_init);
	uint64_t h = TOK_V2_INIT;
	for (size_t i = 0; i < n; i++)
		h = tok_step(h, tok_word((unsigned char)p[i]));
	return tok_fin(h);
}

static inline void bloom_set(uint8_t *bloom, uint64_t h);

void siem_bloom_add_token(uint8_t *bloom, const char *p, size_t n)
{
	bloom_set(bloom, tok_hash_v2(p, n));
}

int siem_bloom_version(const uint8_t *blob, size_t len)
{
	if (len == SIEM_BLOOM_BYTES)
		return SIEM_BLOOM_V1;
	if (len == SIEM_BLOOM_BYTES + 1 && blob && blob[SIEM_BLOOM_BYTES] == SIEM_BLOOM_V2)
		return SIEM_BLOOM_V2;
	return 0;
}

/* v2 bit layout, a blocked bloom: the hash picks one 64-bit word (8
 * bytes, little-endian) and three bits in it, so adding a token is one
 * read-modify-write where v1's three bits in three places were three
 * (profiles showed those stores, not the hashing, as the cost). */
static inline uint64_t bloom_mask_v2(uint64_t h, size_t *word)
{
	*word = (size_t)(h & (SIEM_BLOOM_BYTES / 8u - 1u));
	return (1ULL << ((h >> 16) & 63)) | (1ULL << ((h >> 24) & 63)) |
	       (1ULL << ((h >> 32) & 63));
}

bool siem_bloom_has_token(const uint8_t *bloom, int version, const char *p, size_t n)
{
	if (version != SIEM_BLOOM_V1 && version != SIEM_BLOOM_V2)
		return true;
	if (version == SIEM_BLOOM_V2) {
		size_t w;
		uint64_t m = bloom_mask_v2(tok_hash_v2(p, n), &w), v;
		memcpy(&v, bloom + w * 8, 8);
		return (le64toh(v) & m) == m;
	}
	uint64_t h = tok_hash_v1(p, n);
	uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
	for (uint32_t k = 0; k < 3; k++) {
		uint32_t bit = (h1 + k * h2) % (SIEM_BLOOM_BYTES * 8u);
		if (!(bloom[bit >> 3] & (1u << (bit & 7))))
			return false;
	}
	return true;
}

/* Sets a token's bits (v2: every bloom written now). */
static inline void bloom_set(uint8_t *bloom, uint64_t h)
{
	size_t w;
	uint64_t m = bloom_mask_v2(h, &w), v;
	memcpy(&v, bloom + w * 8, 8);
	v = htole64(le64toh(v) | m);
	memcpy(bloom + w * 8, &v, 8);
}

/*
 * siem_tokens + siem_bloom_add_token in one pass: the hash is computed
 * while the token is scanned (this runs over every stored line, and the
 * callback per token showed in profiles). Sets exactly the bits the two
 * would (test_siem_service checks it on random text).
 */
void siem_bloom_add_text(uint8_t *bloom, const char *p, size_t n)
{
	pthread_once(&tok_tab_once, tok_tab_init);
	const unsigned char *s = (const unsigned char *)p;
	uint64_t h = TOK_V2_INIT;
	size_t tl = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t = tok_tab[s[i]];
		if (t) {
			h = tok_step(h, t);
			tl++;
			continue;
		}
		if (tl && tl <= SIEM_TOKEN_MAX)
			bloom_set(bloom, tok_fin(h));
		h = TOK_V2_INIT;
		tl = 0;
	}
	if (tl && tl <= SIEM_TOKEN_MAX)
		bloom_set(bloom, tok_fin(h));
}

/* ---------------------------------------------------------------- open */

static int day_add(int64_t **days, size_t *n, int64_t day, struct bw_err *err)
{
	int64_t *d = realloc(*days, (*n + 1) * sizeof(*d));
	if (!d)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	*days = d;
	d[(*n)++] = day;
	return 0;
}

static int part_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct siem_service *svc = arg;
	if (svc->nparts == svc->parts_cap) {
		size_t cap = svc->parts_cap ? svc->parts_cap * 2 : 64;
		struct siem_partition *p = realloc(svc->parts, cap * sizeof(*p));
		if (!p)
			return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
		svc->parts = p;
		svc->parts_cap = cap;
	}
	struct siem_partition *p = &svc->parts[svc->nparts++];
	p->day = store_row_int64(row, 0);
	p->min_ts = store_row_int64(row, 1);
	p->max_ts = store_row_int64(row, 2);
	p->max_id = store_row_int64(row, 3);
	p->stored = true;
	struct bw_str name = store_row_text(row, 4);
	if (name.len >= 8 && memcmp(name.p, "siem_ev_", 8) == 0 &&
	    day_add(&svc->row_days, &svc->nrow_days, p->day, err) < 0)
		return -1;
	if (name.len >= 9 && memcmp(name.p, "siem_evb_", 9) == 0 &&
	    day_add(&svc->blob_days, &svc->nblob_days, p->day, err) < 0)
		return -1;
	if (p->max_id >= svc->next_id)
		svc->next_id = p->max_id + 1;
	return STORE_ROW_NEXT;
}

static int maxid_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	int64_t *v = arg;
	int64_t x = store_row_int64(row, 0);
	if (x >= *v)
		*v = x + 1;
	return STORE_ROW_NEXT;
}

int siem_store_open(struct siem_service *svc, struct bw_err *err)
{
	if (store_migrate(svc->st, "siem", schema, BW_ARRAY_LEN(schema), err) < 0)
		return -1;
	svc->nparts = 0;
	free(svc->row_days);
	svc->row_days = NULL;
	svc->nrow_days = 0;
	free(svc->blob_days);
	svc->blob_days = NULL;
	svc->nblob_days = 0;
	/* ids: later than anything stored, and time-based so that a wiped
	 * catalog still yields fresh ids */
	int64_t now_us = bw_clock_now_ns() / 1000;
	svc->next_id = now_us > 0 ? now_us * 16 : 1;
	if (store_query(svc->st,
			"SELECT day, min_ts, max_ts, max_id, name FROM siem_partition"
			" ORDER BY day",
			NULL, 0, part_row, svc, err) < 0)
		return -1;
	if (store_query(svc->st, "SELECT MAX(id) FROM siem_alert", NULL, 0,
			maxid_row, &svc->next_id, err) < 0)
		return -1;
	return 0;
}

/* ----------------------------------------------------------- batch job */

/* The hash state after "name=" for each key field: a "field=value"
 * token's hash continues from it over the value (FNV-1a is a stream), so
 * the name is neither copied nor hashed per event. Same bits as
 * siem_bloom_add_token over the whole token. */
static uint64_t key_prefix[SIEM_BLOOM_KEYS];
static void key_names_init(void);

static void add_field_token(uint8_t *bloom, size_t k, struct bw_str v)
{
	if (!v.p || v.len == 0 || v.len > 200)
		return;
	uint64_t h = key_prefix[k];
	for (size_t i = 0; i < v.len; i++)
		h = tok_step(h, tok_word((unsigned char)v.p[i]));
	bloom_set(bloom, tok_fin(h));
}

/* Key columns: indexed in SQL-visible columns and as field tokens. */
static const enum siem_field key_fields[SIEM_BLOOM_KEYS] = {
	SIEM_F_TENANT,	      SIEM_F_EVENT_CATEGORY, SIEM_F_EVENT_ACTION,
	SIEM_F_EVENT_OUTCOME, SIEM_F_EVENT_DATASET,  SIEM_F_HOST_NAME,
	SIEM_F_SOURCE_IP,     SIEM_F_USER_NAME,
};

/* Fields whose values are vocabulary (set by parsers, not copied from the
 * line): tokenised even when event.original is present. */
static const enum siem_field vocab_fields[SIEM_BLOOM_VOCAB] = {
	SIEM_F_EVENT_KIND,    SIEM_F_EVENT_CATEGORY, SIEM_F_EVENT_TYPE,
	SIEM_F_EVENT_ACTION,  SIEM_F_EVENT_OUTCOME,  SIEM_F_EVENT_DATASET,
	SIEM_F_EVENT_MODULE,  SIEM_F_TENANT,	     SIEM_F_OBSERVER_IP,
	SIEM_F_NETWORK_TRANSPORT,
};

static void key_names_init(void)
{
	pthread_once(&tok_tab_once, tok_tab_init);
	for (size_t k = 0; k < SIEM_BLOOM_KEYS; k++) {
		const char *n = siem_field_name(key_fields[k]);
		uint64_t h = TOK_V2_INIT;
		for (; *n; n++)
			h = tok_step(h, tok_word((unsigned char)*n));
		key_prefix[k] = tok_step(h, tok_word('='));
	}
}

/* Whether v was already added to this bloom as the previous value of its
 * slot (then its tokens are all set already); remembers v otherwise. */
static bool memo_seen(struct bw_str *last, struct bw_str v)
{
	if (last->p && last->len == v.len &&
	    (last->p == v.p || memcmp(last->p, v.p, v.len) == 0))
		return true;
	*last = v;
	return false;
}

/* Whether every token of label value v is a token of the raw line: v is
 * the line's bytes at the same offset (it points into the line or into
 * the parser's working copy before any unescape) and neither neighbour
 * extends a token across its ends. */
static bool inside_line(const struct siem_event *ev, struct bw_str v)
{
	struct bw_str o = ev->f[SIEM_F_EVENT_ORIGINAL];
	size_t off;
	if (!o.p || !v.p)
		return false;
	if (v.p >= o.p && v.p + v.len <= o.p + o.len)
		off = (size_t)(v.p - o.p);
	else if (ev->work && v.p >= ev->work && v.p + v.len <= ev->work + o.len &&
		 memcmp(o.p + (v.p - ev->work), v.p, v.len) == 0)
		off = (size_t)(v.p - ev->work);
	else
		return false;
	if (off > 0 && tok_char((unsigned char)o.p[off - 1]) && v.len &&
	    tok_char((unsigned char)v.p[0]))
		return false;
	if (off + v.len < o.len && v.len && tok_char((unsigned char)v.p[v.len - 1]) &&
	    tok_char((unsigned char)o.p[off + v.len]))
		return false;
	return true;
}

/*
 * The tokens of one event: its raw line when it has one (every value a
 * parser extracted is a substring of it, so tokenising each field again
 * would only repeat work), the vocabulary fields parsers set themselves,
 * labels (enrichment adds them) unless they are bytes of the line, and
 * "field=value" for the key fields. An event without a raw line (bus,
 * NDJSON) has every field tokenised. memo (may be NULL) carries the
 * previous event's values of the same bloom: a value repeated from it is
 * skipped, its bits being set already, so the bloom is the same either
 * way (test_siem_service checks it).
 */
void siem_bloom_event_memo(uint8_t *bloom, const struct siem_event *ev,
			   struct siem_bloom_memo *memo)
{
	struct siem_bloom_memo none;
	if (!memo) {
		memset(&none, 0, sizeof(none));
		memo = &none;
	}
	struct bw_str orig = ev->f[SIEM_F_EVENT_ORIGINAL];
	if (orig.p) {
		siem_bloom_add_text(bloom, orig.p, orig.len);
		for (size_t k = 0; k < SIEM_BLOOM_VOCAB; k++) {
			struct bw_str v = ev->f[vocab_fields[k]];
			if (v.p && !memo_seen(&memo->vocab[k], v))
				siem_bloom_add_text(bloom, v.p, v.len);
		}
	} else {
		for (int f = 0; f < SIEM_F__COUNT; f++) {
			struct bw_str v = ev->f[f];
			if (v.p)
				siem_bloom_add_text(bloom, v.p, v.len);
		}
	}
	for (unsigned i = 0; i < ev->nlabels; i++)
		if (!inside_line(ev, ev->labels[i].value))
			siem_bloom_add_text(bloom, ev->labels[i].value.p,
					    ev->labels[i].value.len);
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, key_names_init);
	for (size_t k = 0; k < SIEM_BLOOM_KEYS; k++) {
		struct bw_str v = ev->f[key_fields[k]];
		if (v.p && !memo_seen(&memo->key[k], v))
			add_field_token(bloom, k, v);
	}
}

void siem_bloom_event(uint8_t *bloom, const struct siem_event *ev)
{
	siem_bloom_event_memo(bloom, ev, NULL);
}

static struct store_value opt_text(struct bw_str s)
{
	return s.p ? store_text(s.p, s.len) : store_null();
}

/* The block layouts: one row per stored block of a day's events, keyed
 * by its first id (on SQLite the rowid), with its id and time bounds and
 * either the packed compact documents (docs, the layout before segment
 * files) or where they lie in the day's segment file. */
static int ensure_blocks(struct store_tx *tx, const char *name, bool segs, bool sqlite,
			 struct bw_err *err)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s (id_first %s PRIMARY KEY,"
		 " id_last BIGINT NOT NULL, ts_min BIGINT NOT NULL, ts_max BIGINT NOT NULL,"
		 " n BIGINT NOT NULL, %s)",
		 name, sqlite ? "INTEGER" : "BIGINT",
		 segs ? "seg_off BIGINT NOT NULL, seg_len BIGINT NOT NULL,"
			" seg_sum BIGINT NOT NULL"
		      : "docs BLOB NOT NULL");
	return store_tx_exec(tx, sql, NULL, 0, err) < 0 ? -1 : 0;
}

static int ensure_partition(struct store_tx *tx, int64_t day, bool sqlite,
			    struct bw_err *err)
{
	char name[32], sql[512];
	siem_part_name(day, name);
	snprintf(sql, sizeof(sql),
		 /* no index on ts: time ranges are found through siem_block
		  * (ts_min/ts_max per id range), which costs nothing per row.
		  * On SQLite "INTEGER PRIMARY KEY" makes the id the rowid
		  * (64-bit there), so a row is one B-tree insert instead of
		  * two (table plus primary-key index); other engines keep
		  * BIGINT, whose INTEGER is 32-bit. Tables made before keep
		  * their layout; both read the same. */
		 "CREATE TABLE IF NOT EXISTS %s (id %s PRIMARY KEY,"
		 " ts BIGINT NOT NULL, tenant TEXT, category TEXT, action TEXT,"
		 " outcome TEXT, dataset TEXT, host TEXT, source_ip TEXT,"
		 " user_name TEXT, doc BLOB NOT NULL)",
		 name, sqlite ? "INTEGER" : "BIGINT");
	if (store_tx_exec(tx, sql, NULL, 0, err) < 0)
		return -1;
	return 0;
}

static int write_alerts(struct store_tx *tx, struct siem_batch *b,
			struct bw_err *err)
{
	for (size_t i = 0; i < b->nalerts; i++) {
		const struct siem_alert_row *a = &b->alerts[i];
		if (a->update) {
			struct store_value v[] = { store_int(a->count),
						   store_int(a->last_ts),
						   store_int(a->id) };
			if (store_tx_exec(tx,
					  "UPDATE siem_alert SET count = count + ?,"
					  " last_ts = ? WHERE id = ?",
					  v, 3, err) < 0)
				return -1;
			continue;
		}
		struct store_value v[] = {
			store_int(a->id),	      store_int(a->ts),
			store_int(a->first_ts),	      store_int(a->last_ts),
			store_text_str(a->rule_id),   store_text_str(a->rule_title),
			store_text_str(a->kind),      store_text_str(a->level),
			store_int(a->severity),	      store_text_str(a->tenant),
			store_text_str(a->group_key), store_text_str(a->dedup_key),
			store_int(a->count),	      a->event_id ? store_int(a->event_id) :
								    store_null(),
			store_text_str(a->context),
		};
		if (store_tx_exec(tx,
				  "INSERT INTO siem_alert (id, ts, first_ts, last_ts,"
				  " rule_id, rule_title, kind, level, severity, tenant,"
				  " group_key, dedup_key, count, status, event_id, context)"
				  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
				  v, BW_ARRAY_LEN(v), err) < 0)
			return -1;
	}
	return 0;
}

static int flush_block(struct store_tx *tx, const struct siem_block *bl, const char *name,
		       struct bw_err *err)
{
	if (bl->n == 0)
		return 0;
	struct store_value v[] = { store_int(bl->day),	  store_int(bl->id_first),
				   store_int(bl->id_last), store_int(bl->ts_min),
				   store_int(bl->ts_max),  store_int(bl->n),
				   store_blob(bl->bloom, sizeof(bl->bloom)) };
	if (store_tx_exec(tx,
			  "INSERT INTO siem_block (day, id_first, id_last, ts_min,"
			  " ts_max, n, bloom) VALUES (?, ?, ?, ?, ?, ?, ?)",
			  v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	struct store_value p[] = { store_int(bl->day),	  store_text_str(name),
				   store_int(bl->ts_min),  store_int(bl->ts_max),
				   store_int(bl->id_last), store_int(bl->n),
				   store_int(bw_clock_now_s()) };
	return store_tx_exec(tx,
			     "INSERT INTO siem_partition (day, name, min_ts, max_ts,"
			     " max_id, events, created) VALUES (?, ?, ?, ?, ?, ?, ?)"
			     " ON CONFLICT (day) DO UPDATE SET"
			     " min_ts = CASE WHEN excluded.min_ts < siem_partition.min_ts"
			     " THEN excluded.min_ts ELSE siem_partition.min_ts END,"
			     " max_ts = CASE WHEN excluded.max_ts > siem_partition.max_ts"
			     " THEN excluded.max_ts ELSE siem_partition.max_ts END,"
			     " max_id = excluded.max_id,"
			     " events = siem_partition.events + excluded.events",
			     p, BW_ARRAY_LEN(p), err);
}

static void bind_row(struct store_value *v, const struct siem_batch *b,
		     const struct siem_rec *r)
{
	const struct siem_event *ev = &r->ev;
	v[0] = store_int(r->id);
	v[1] = store_int(ev->ts_ns);
	v[2] = opt_text(ev->f[SIEM_F_TENANT]);
	v[3] = opt_text(ev->f[SIEM_F_EVENT_CATEGORY]);
	v[4] = opt_text(ev->f[SIEM_F_EVENT_ACTION]);
	v[5] = opt_text(ev->f[SIEM_F_EVENT_OUTCOME]);
	v[6] = opt_text(ev->f[SIEM_F_EVENT_DATASET]);
	v[7] = opt_text(ev->f[SIEM_F_HOST_NAME]);
	v[8] = opt_text(ev->f[SIEM_F_SOURCE_IP]);
	v[9] = opt_text(ev->f[SIEM_F_USER_NAME]);
	v[10] = store_blob(b->docs.data + r->doc_off, r->doc_len);
}

#define ROW_COLS 11u
/* Rows per multi-row INSERT: 64 x 11 = 704 binds, under the store's
 * 1,000; one statement per 64 rows instead of 64. */
#define ROWS_PER_STMT 64u

static int insert_sql(char *sql, size_t cap, const char *name, size_t rows)
{
	int w = snprintf(sql, cap,
			 "INSERT INTO %s (id, ts, tenant, category, action, outcome,"
			 " dataset, host, source_ip, user_name, doc) VALUES ",
			 name);
	for (size_t i = 0; i < rows && w > 0 && (size_t)w < cap; i++)
		w += snprintf(sql + w, cap - (size_t)w, "%s(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			      i ? ", " : "");
	return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* A block of a segment-layout day: its bytes appended to the day's file
 * first, then its row naming them (so a committed row always names
 * bytes that are there), its bloom and the catalog. */
static int seg_block(struct store_tx *tx, struct siem_batch *b, const struct siem_block *bl,
		     bool sqlite, struct bw_err *err)
{
	char name[32], sql[192];
	siem_seg_name(bl->day, name);
	if (ensure_blocks(tx, name, true, sqlite, err) < 0)
		return -1;
	const uint8_t *p = (const uint8_t *)b->docs.data + bl->packed_off;
	int64_t off = 0;
	if (siem_seg_append(b->svc, tx, bl->day, p, bl->packed_len, &off, err) < 0)
		return -1;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s (id_first, id_last, ts_min, ts_max, n, seg_off, seg_len,"
		 " seg_sum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", name);
	struct store_value v[] = {
		store_int(bl->id_first), store_int(bl->id_last),
		store_int(bl->ts_min),	 store_int(bl->ts_max),
		store_int(bl->n),	 store_int(off),
		store_int((int64_t)bl->packed_len),
		store_int((int64_t)siem_seg_sum(p, bl->packed_len)),
	};
	if (store_tx_exec(tx, sql, v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	return flush_block(tx, bl, name, err);
}

/*
 * The job stores every record of the batch (rows of one day together,
 * 64 per statement), the blocks the pipeline computed (one bloom per run
 * of same-day records) and the batch's alerts. It runs on the writer
 * thread inside the group commit, so it does nothing but bind and step:
 * serialising and tokenising happened on the pipeline thread. On any
 * failure the whole batch is rolled back and reported failed, so nothing
 * of it is acknowledged.
 */
int siem_store_batch_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct siem_batch *b = arg;
	if (b->blocks_failed)
		return SIEM_SVC_ERR(err, 500, "memory", "no memory for the batch's blocks");
	char *many = b->svc->insert_sql.many, *one = b->svc->insert_sql.one;
	int64_t *many_day = &b->svc->insert_sql.many_day, *one_day = &b->svc->insert_sql.one_day;
	struct store_value *v = malloc(ROWS_PER_STMT * ROW_COLS * sizeof(*v));
	if (!v)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	int rc = -1;
	char name[32];
	bool sqlite = strcmp(store_driver_name(b->svc->st), "sqlite") == 0;
	for (size_t k = 0; k < b->nblocks; k++) {
		const struct siem_block *bl = &b->blocks[k];
		enum siem_layout lay = siem_day_layout(b->svc, bl->day);
		if (lay == SIEM_LAYOUT_SEGS) {
			if (seg_block(tx, b, bl, sqlite, err) < 0)
				goto out;
			continue;
		}
		if (lay == SIEM_LAYOUT_BLOBS) {
			/* the block layout: one row for the whole block */
			siem_blk_name(bl->day, name);
			if (ensure_blocks(tx, name, false, sqlite, err) < 0)
				goto out;
			char bsql[160];
			snprintf(bsql, sizeof(bsql),
				 "INSERT INTO %s (id_first, id_last, ts_min, ts_max, n, docs)"
				 " VALUES (?, ?, ?, ?, ?, ?)", name);
			struct store_value bv[] = {
				store_int(bl->id_first), store_int(bl->id_last),
				store_int(bl->ts_min),	 store_int(bl->ts_max),
				store_int(bl->n),
				store_blob(b->docs.data + bl->packed_off, bl->packed_len),
			};
			if (store_tx_exec(tx, bsql, bv, BW_ARRAY_LEN(bv), err) < 0 ||
			    flush_block(tx, bl, name, err) < 0)
				goto out;
			continue;
		}
		if (ensure_partition(tx, bl->day, sqlite, err) < 0)
			goto out;
		siem_part_name(bl->day, name);
		size_t i = bl->first;
		while (i < bl->first + (size_t)bl->n) {
			size_t left = bl->first + (size_t)bl->n - i;
			size_t rows = left >= ROWS_PER_STMT ? ROWS_PER_STMT : 1;
			const char *sql;
			if (rows == ROWS_PER_STMT) {
				if (*many_day != bl->day &&
				    insert_sql(many, sizeof(b->svc->insert_sql.many), name,
					       ROWS_PER_STMT) < 0)
					goto out;
				*many_day = bl->day;
				sql = many;
			} else {
				if (*one_day != bl->day &&
				    insert_sql(one, sizeof(b->svc->insert_sql.one), name, 1) < 0)
					goto out;
				*one_day = bl->day;
				sql = one;
			}
			for (size_t r = 0; r < rows; r++)
				bind_row(v + r * ROW_COLS, b, &b->recs[i + r]);
			if (store_tx_exec(tx, sql, v, rows * ROW_COLS, err) < 0)
				goto out;
			i += rows;
		}
		if (flush_block(tx, bl, name, err) < 0)
			goto out;
	}
	if (write_alerts(tx, b, err) < 0)
		goto out;
	rc = 0;
out:
	free(v);
	return rc;
}

/* ------------------------------------------------------------ reading */

struct each_ctx {
	siem_pack_fn fn;
	void *arg;
	int rc;
	int64_t last;
	const struct siem_service *svc;
	int64_t day;
};

static int each_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct each_ctx *e = arg;
	size_t n = 0;
	const uint8_t *doc = store_row_blob(row, 2, &n);
	e->rc = e->fn(e->arg, store_row_int64(row, 0), store_row_int64(row, 1), doc, n, err);
	return e->rc == 0 ? STORE_ROW_NEXT : e->rc > 0 ? STORE_ROW_STOP : -1;
}

static int each_block(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct each_ctx *e = arg;
	size_t n = 0;
	const uint8_t *p;
	uint8_t *owned;
	if (siem_blk_bytes(e->svc, e->day, row, 1, &p, &n, &owned, err) < 0) {
		e->rc = -1;
		return -1;
	}
	e->last = store_row_int64(row, 0);
	e->rc = siem_pack_walk(p, n, e->last, e->fn, e->arg, err);
	free(owned);
	return e->rc == 0 ? STORE_ROW_NEXT : e->rc > 0 ? STORE_ROW_STOP : -1;
}

int siem_store_each(struct siem_service *svc, int64_t day, siem_pack_fn fn, void *arg,
		    struct bw_err *err)
{
	char name[32], sql[160];
	struct each_ctx e = { fn, arg, 0, 0, svc, day };
	if (siem_day_rows(svc, day)) {
		siem_part_name(day, name);
		snprintf(sql, sizeof(sql), "SELECT id, ts, doc FROM %s ORDER BY id", name);
		return store_query(svc->st, sql, NULL, 0, each_row, &e, err) < 0 ? -1 : e.rc;
	}
	const char *cols = siem_blk_table(svc, day, name);
	snprintf(sql, sizeof(sql), "SELECT id_first, %s FROM %s ORDER BY id_first", cols, name);
	return store_query(svc->st, sql, NULL, 0, each_block, &e, err) < 0 ? -1 : e.rc;
}

/* ----------------------------------------------------------- retention */

struct ret_ctx {
	struct siem_service *svc;
	const struct siem_conf *conf;
	int64_t now;
	int64_t deleted;
	struct bw_buf report;
};

static int int_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

/* Longest keep of any policy (or the default): a whole day partition
 * older than that can be dropped without looking at its rows. */
static uint64_t longest_keep(const struct siem_conf *c)
{
	uint64_t m = c->retention.default_ms;
	const struct siem_retention_conf *p = c->retention.policies.v;
	for (size_t i = 0; i < c->retention.policies.n; i++)
		if (p[i].keep_ms > m)
			m = p[i].keep_ms;
	return m;
}

struct ret_job {
	struct siem_service *svc;
	int64_t day;
	bool drop;
	enum siem_layout layout;
	const struct siem_conf *conf;
	int64_t now;
	int64_t deleted;
};

static int log_deleted(struct store_tx *tx, const struct ret_job *j,
		       const struct siem_retention_conf *p, int64_t n, struct bw_err *err)
{
	struct store_value l[] = { store_int(j->now / 1000000000LL), store_int(j->day),
				   store_text_str(p ? p->tenant : NULL),
				   store_text_str(p ? p->category : NULL), store_int(n),
				   store_bool(false) };
	return store_tx_exec(tx,
			     "INSERT INTO siem_retention_log (ts, day, tenant, category,"
			     " deleted, dropped) VALUES (?, ?, ?, ?, ?, ?)",
			     l, 6, err);
}

/* ------------------------------------------------ retention of blocks */

static bool str_is(struct bw_str v, const char *s)
{
	size_t n = strlen(s);
	return v.p && v.len == n && memcmp(v.p, s, n) == 0;
}

/* The value or "" (SQL's COALESCE(col, '') = ?). */
static bool str_or_empty_is(struct bw_str v, const char *s)
{
	return v.p ? str_is(v, s) : s[0] == '\0';
}

/* Policies in the order the row layout applies them: most specific first
 * (tenant and category, then category, then tenant), config order within
 * one level. OUT order[]; returns how many. */
static size_t policy_order(const struct siem_conf *c, size_t *order)
{
	const struct siem_retention_conf *p = c->retention.policies.v;
	size_t n = 0;
	for (int spec = 3; spec >= 1; spec--)
		for (size_t i = 0; i < c->retention.policies.n; i++)
			if ((p[i].tenant ? 1 : 0) + (p[i].category ? 2 : 0) == spec)
				order[n++] = i;
	return n;
}

/*
 * Which rule deletes an event, exactly as the row layout's statements
 * would: the first policy in order whose tenant and category equal the
 * event's and whose cutoff it is older than (index into policies), else
 * the default (np) when no policy names the event and it is older than
 * the default's cutoff, else -1 (kept).
 */
static long deleted_by(const struct siem_conf *c, const size_t *order, size_t nord,
		       const struct siem_event *ev, int64_t now)
{
	const struct siem_retention_conf *p = c->retention.policies.v;
	struct bw_str t = ev->f[SIEM_F_TENANT], cat = ev->f[SIEM_F_EVENT_CATEGORY];
	for (size_t k = 0; k < nord; k++) {
		const struct siem_retention_conf *q = &p[order[k]];
		if (ev->ts_ns < now - (int64_t)q->keep_ms * 1000000LL &&
		    (!q->tenant || str_is(t, q->tenant)) &&
		    (!q->category || str_is(cat, q->category)))
			return (long)order[k];
	}
	if (ev->ts_ns >= now - (int64_t)c->retention.default_ms * 1000000LL)
		return -1;
	for (size_t i = 0; i < c->retention.policies.n; i++) {
		bool tn = p[i].tenant && str_or_empty_is(t, p[i].tenant);
		bool ct = p[i].category && str_or_empty_is(cat, p[i].category);
		if (p[i].tenant && p[i].category ? tn && ct : tn || ct)
			return -1;
	}
	return (long)c->retention.policies.n;
}

/* One block being filtered: the kept entries are copied to out. */
struct ret_block {
	const struct siem_conf *conf;
	const size_t *order;
	size_t nord;
	int64_t now;
	int64_t *counts; /* per policy, then the default */
	struct bw_arena *a;
	struct bw_buf out;
	int64_t kept, dropped, ts_min, ts_max;
};

static int ret_entry(void *arg, int64_t id, int64_t ts, const uint8_t *doc, size_t len,
		     struct bw_err *err)
{
	struct ret_block *rb = arg;
	struct siem_event ev;
	bw_arena_free(rb->a);
	rb->a = bw_arena_new(16384, SIEM_DOC_MAX * 2);
	if (!rb->a)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	if (siem_event_from_bin(doc, len, rb->a, &ev, err) < 0)
		return -1;
	long by = deleted_by(rb->conf, rb->order, rb->nord, &ev, rb->now);
	if (by >= 0) {
		rb->counts[by]++;
		rb->dropped++;
		return 0;
	}
	/* kept: header and document as they were (same id_first) */
	if (bw_buf_append(&rb->out, doc - SIEM_PACK_HDR, len + SIEM_PACK_HDR) < 0)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	rb->kept++;
	if (ts < rb->ts_min)
		rb->ts_min = ts;
	if (ts > rb->ts_max)
		rb->ts_max = ts;
	(void)id;
	return 0;
}

struct blk_list {
	int64_t *ids;
	uint8_t **docs;
	size_t *lens;
	size_t n;
	const struct siem_service *svc;
	int64_t day;
};

#define RET_BLOCKS_PER_STEP 16

static int blk_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct blk_list *l = arg;
	size_t n = 0;
	uint8_t *copy;
	if (siem_blk_copy(l->svc, l->day, row, 1, &copy, &n, err) < 0)
		return -1;
	l->ids[l->n] = store_row_int64(row, 0);
	l->docs[l->n] = copy;
	l->lens[l->n] = n;
	l->n++;
	return STORE_ROW_NEXT;
}

/* A segment-layout block keeps its row; its kept events are appended to
 * the day's file and the row names them (the old bytes go with the
 * file when the day is dropped). */
static int seg_rewrite(struct store_tx *tx, struct ret_job *j, const char *name,
		       int64_t id_first, const struct ret_block *rb, struct bw_err *err)
{
	const uint8_t *p = (const uint8_t *)rb->out.data;
	int64_t off = 0;
	if (siem_seg_append(j->svc, tx, j->day, p, rb->out.len, &off, err) < 0)
		return -1;
	char sql[192];
	snprintf(sql, sizeof(sql),
		 "UPDATE %s SET seg_off = ?, seg_len = ?, seg_sum = ?, n = ?, ts_min = ?,"
		 " ts_max = ? WHERE id_first = ?", name);
	struct store_value u[] = { store_int(off), store_int((int64_t)rb->out.len),
				   store_int((int64_t)siem_seg_sum(p, rb->out.len)),
				   store_int(rb->kept), store_int(rb->ts_min),
				   store_int(rb->ts_max), store_int(id_first) };
	return store_tx_exec(tx, sql, u, BW_ARRAY_LEN(u), err);
}

/*
 * Retention of a day stored in blocks: every block that may hold an
 * expired event is read, its events decided as the row layout's
 * statements would decide them, and the block rewritten without them (or
 * deleted when none is left). Blocks are read RET_BLOCKS_PER_STEP at a
 * time, so memory stays bounded on a day of millions of events. Each
 * policy's count is logged as the row layout logs it.
 */
static int retention_blocks(struct store_tx *tx, struct ret_job *j, struct bw_err *err)
{
	const struct siem_conf *c = j->conf;
	size_t np = c->retention.policies.n;
	size_t order[SIEM_RETENTION_POLICIES_MAX];
	size_t nord = policy_order(c, order);
	int64_t counts[SIEM_RETENTION_POLICIES_MAX + 1] = { 0 };
	/* the latest cutoff of any rule: a block starting after it keeps
	 * everything */
	int64_t cut = j->now - (int64_t)c->retention.default_ms * 1000000LL;
	const struct siem_retention_conf *p = c->retention.policies.v;
	for (size_t i = 0; i < np; i++)
		if (j->now - (int64_t)p[i].keep_ms * 1000000LL > cut)
			cut = j->now - (int64_t)p[i].keep_ms * 1000000LL;
	char name[32], sql[256];
	const char *cols = siem_blk_table(j->svc, j->day, name);
	int64_t ids[RET_BLOCKS_PER_STEP];
	uint8_t *docs[RET_BLOCKS_PER_STEP];
	size_t lens[RET_BLOCKS_PER_STEP];
	struct ret_block rb = { .conf = c, .order = order, .nord = nord, .now = j->now,
				.counts = counts };
	bw_buf_init(&rb.out, 256u << 20);
	int64_t after = INT64_MIN;
	int rc = 0;
	for (;;) {
		struct blk_list l = { ids, docs, lens, 0, j->svc, j->day };
		snprintf(sql, sizeof(sql),
			 "SELECT id_first, %s FROM %s WHERE id_first > ? AND ts_min < ?"
			 " ORDER BY id_first LIMIT %d", cols, name, RET_BLOCKS_PER_STEP);
		struct store_value v[] = { store_int(after), store_int(cut) };
		if (store_tx_query(tx, sql, v, 2, blk_row, &l, err) < 0) {
			rc = -1;
			l.n = 0; /* blk_row copies are freed below */
		}
		for (size_t k = 0; k < l.n && rc == 0; k++) {
			after = ids[k];
			bw_buf_reset(&rb.out);
			rb.kept = rb.dropped = 0;
			rb.ts_min = INT64_MAX;
			rb.ts_max = INT64_MIN;
			if (siem_pack_walk(docs[k], lens[k], ids[k], ret_entry, &rb, err) != 0) {
				rc = -1;
				break;
			}
			if (rb.dropped == 0)
				continue;
			if (rb.kept == 0) {
				snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id_first = ?", name);
				struct store_value d[] = { store_int(ids[k]) };
				rc = store_tx_exec(tx, sql, d, 1, err);
			} else if (j->layout == SIEM_LAYOUT_SEGS) {
				rc = seg_rewrite(tx, j, name, ids[k], &rb, err);
			} else {
				snprintf(sql, sizeof(sql),
					 "UPDATE %s SET docs = ?, n = ?, ts_min = ?, ts_max = ?"
					 " WHERE id_first = ?", name);
				struct store_value u[] = { store_blob(rb.out.data, rb.out.len),
							   store_int(rb.kept), store_int(rb.ts_min),
							   store_int(rb.ts_max), store_int(ids[k]) };
				rc = store_tx_exec(tx, sql, u, 5, err);
			}
		}
		for (size_t k = 0; k < l.n; k++)
			free(docs[k]);
		if (rc != 0 || l.n < RET_BLOCKS_PER_STEP)
			break;
	}
	bw_buf_fini(&rb.out);
	bw_arena_free(rb.a);
	if (rc != 0)
		return -1;
	for (size_t k = 0; k < nord; k++)
		if (counts[order[k]] > 0) {
			j->deleted += counts[order[k]];
			if (log_deleted(tx, j, &p[order[k]], counts[order[k]], err) < 0)
				return -1;
		}
	if (counts[np] > 0) {
		j->deleted += counts[np];
		if (log_deleted(tx, j, NULL, counts[np], err) < 0)
			return -1;
	}
	return 0;
}

/*
 * One day partition per job. Policies are applied most specific first
 * (tenant+category, then category, then tenant), each deleting its rows
 * older than its cutoff; the default then applies to rows no policy
 * names. Rows are chosen by the key columns, so no JSON is parsed.
 */
static int retention_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct ret_job *j = arg;
	char name[32], sql[1024];
	bool rows = j->layout == SIEM_LAYOUT_ROWS;
	if (rows)
		siem_part_name(j->day, name);
	else
		(void)siem_blk_table(j->svc, j->day, name);
	j->deleted = 0;
	if (j->drop) {
		struct store_value d[] = { store_int(j->day) };
		int64_t n = 0;
		/* count first so the log says how much went */
		snprintf(sql, sizeof(sql),
			 rows ? "SELECT COUNT(*) FROM %s" : "SELECT COALESCE(SUM(n), 0) FROM %s",
			 name);
		if (store_tx_query_one(tx, sql, NULL, 0, int_row, &n, err) < 0)
			return -1;
		j->deleted = n;
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", name);
		if (store_tx_exec(tx, sql, NULL, 0, err) < 0 ||
		    store_tx_exec(tx, "DELETE FROM siem_block WHERE day = ?", d, 1, err) < 0 ||
		    store_tx_exec(tx, "DELETE FROM siem_partition WHERE day = ?", d, 1, err) < 0)
			return -1;
		/* the file goes now, on the writer thread that appends to it:
		 * should the commit fail, the rows left name expired events
		 * whose bytes are gone, and the next run drops them again */
		if (j->layout == SIEM_LAYOUT_SEGS)
			siem_seg_drop(j->svc, j->day);
		struct store_value l[] = { store_int(j->now / 1000000000LL), store_int(j->day),
					   store_null(), store_null(), store_int(j->deleted),
					   store_bool(true) };
		return store_tx_exec(tx,
				     "INSERT INTO siem_retention_log (ts, day, tenant, category,"
				     " deleted, dropped) VALUES (?, ?, ?, ?, ?, ?)",
				     l, 6, err);
	}
	if (!rows)
		return retention_blocks(tx, j, err);
	const struct siem_retention_conf *p = j->conf->retention.policies.v;
	size_t np = j->conf->retention.policies.n;
	/* specificity order: 3 = both, 2 = category, 1 = tenant */
	for (int spec = 3; spec >= 1; spec--) {
		for (size_t i = 0; i < np; i++) {
			int s = (p[i].tenant ? 1 : 0) + (p[i].category ? 2 : 0);
			if (s != spec)
				continue;
			int64_t cutoff = j->now - (int64_t)p[i].keep_ms * 1000000LL;
			struct store_value v[3];
			size_t nv = 0;
			v[nv++] = store_int(cutoff);
			int w = snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE ts < ?", name);
			if (p[i].tenant) {
				w += snprintf(sql + w, sizeof(sql) - (size_t)w, " AND tenant = ?");
				v[nv++] = store_text_str(p[i].tenant);
			}
			if (p[i].category) {
				w += snprintf(sql + w, sizeof(sql) - (size_t)w,
					      " AND category = ?");
				v[nv++] = store_text_str(p[i].category);
			}
			if (store_tx_exec(tx, sql, v, nv, err) < 0)
				return -1;
			int64_t n = store_tx_changes(tx);
			if (n > 0) {
				j->deleted += n;
				if (log_deleted(tx, j, &p[i], n, err) < 0)
					return -1;
			}
		}
	}
	/* the default: rows that no policy covers */
	int64_t cutoff = j->now - (int64_t)j->conf->retention.default_ms * 1000000LL;
	int w = snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE ts < ?", name);
	struct store_value v[1 + 2 * SIEM_RETENTION_POLICIES_MAX];
	size_t nv = 0;
	v[nv++] = store_int(cutoff);
	for (size_t i = 0; i < np && w > 0 && (size_t)w < sizeof(sql) - 80; i++) {
		if (p[i].tenant && p[i].category) {
			w += snprintf(sql + w, sizeof(sql) - (size_t)w,
				      " AND NOT (COALESCE(tenant, '') = ?"
				      " AND COALESCE(category, '') = ?)");
			v[nv++] = store_text_str(p[i].tenant);
			v[nv++] = store_text_str(p[i].category);
		} else if (p[i].tenant) {
			w += snprintf(sql + w, sizeof(sql) - (size_t)w,
				      " AND COALESCE(tenant, '') <> ?");
			v[nv++] = store_text_str(p[i].tenant);
		} else if (p[i].category) {
			w += snprintf(sql + w, sizeof(sql) - (size_t)w,
				      " AND COALESCE(category, '') <> ?");
			v[nv++] = store_text_str(p[i].category);
		}
	}
	if (w <= 0 || (size_t)w >= sizeof(sql))
		return SIEM_SVC_ERR(err, 500, "retention", "too many policies for one statement");
	if (store_tx_exec(tx, sql, v, nv, err) < 0)
		return -1;
	int64_t n = store_tx_changes(tx);
	if (n > 0) {
		j->deleted += n;
		if (log_deleted(tx, j, NULL, n, err) < 0)
			return -1;
	}
	return 0;
}

int64_t siem_retention_run(struct siem_service *svc, struct bw_err *err)
{
	struct siem_gen *g = siem_gen_get(svc);
	const struct siem_conf *c = &g->conf;
	int64_t now = bw_clock_now_ns();
	int64_t longest = (int64_t)longest_keep(c) * 1000000LL;
	int64_t shortest = (int64_t)c->retention.default_ms * 1000000LL;
	const struct siem_retention_conf *p = c->retention.policies.v;
	for (size_t i = 0; i < c->retention.policies.n; i++)
		if ((int64_t)p[i].keep_ms * 1000000LL < shortest)
			shortest = (int64_t)p[i].keep_ms * 1000000LL;
	/* snapshot the catalog: partitions that may hold expired rows */
	pthread_mutex_lock(&svc->part_mu);
	size_t n = svc->nparts;
	struct siem_partition *snap = n ? malloc(n * sizeof(*snap)) : NULL;
	if (n && !snap) {
		pthread_mutex_unlock(&svc->part_mu);
		siem_gen_unref(g);
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	}
	if (n)
		memcpy(snap, svc->parts, n * sizeof(*snap));
	pthread_mutex_unlock(&svc->part_mu);
	int64_t total = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!snap[i].stored || snap[i].min_ts >= now - shortest)
			continue;
		struct ret_job j = { .svc = svc, .day = snap[i].day, .conf = c, .now = now,
				     .layout = siem_day_layout(svc, snap[i].day),
				     .drop = snap[i].max_ts < now - longest };
		if (store_write(svc->st, retention_job, &j, err) < 0) {
			rc = -1;
			break;
		}
		if (j.drop) {
			pthread_mutex_lock(&svc->part_mu);
			for (size_t k = 0; k < svc->nparts; k++)
				if (svc->parts[k].day == j.day) {
					svc->parts[k] = svc->parts[--svc->nparts];
					break;
				}
			pthread_mutex_unlock(&svc->part_mu);
		}
		if (j.deleted > 0 || j.drop) {
			char name[32];
			if (j.layout == SIEM_LAYOUT_ROWS)
				siem_part_name(j.day, name);
			else
				(void)siem_blk_table(svc, j.day, name);
			char nbuf[24];
			snprintf(nbuf, sizeof(nbuf), "%lld", (long long)j.deleted);
			log_kv(BW_LOG_INFO, "siem retention deleted events", "partition", name,
			       "deleted", nbuf, "dropped", j.drop ? "true" : "false", NULL);
			struct bw_event ev;
			bw_event_init(&ev, "configuration", "siem-retention-deleted",
				      BW_OUTCOME_SUCCESS);
			BW_EVENT_SET(&ev, tenant, "platform");
			snprintf(ev.message, sizeof(ev.message),
				 "retention deleted %lld events from %s%s", (long long)j.deleted,
				 name, j.drop ? " (partition dropped)" : "");
			bw_event_add_field(&ev, "siem.partition", name);
			bw_event_add_field(&ev, "siem.deleted", nbuf);
			(void)bw_event_emit(&ev);
		}
		total += j.deleted;
	}
	free(snap);
	siem_gen_unref(g);
	atomic_fetch_add(&svc->c.retention_deleted, (uint64_t)total);
	return rc < 0 ? -1 : total;
}
