/*
 * siem_search.c — search, aggregation and the scans behind reports.
 *
 * Query text (q): whitespace-separated terms, all of which must hold:
 *   word            the word appears in the event (token match, any case)
 *   "two words"     the phrase appears
 *   pre*            a token starting with "pre"
 *   field:value     the field equals value (any case); field:val* prefix;
 *                   field is an ECS name (source.ip) or a label key
 *   -term           negation of any of the above
 * plus field=value filters given separately (URL parameters), a time
 * range [from, to] and an optional tenant restriction.
 *
 * Execution: only day partitions overlapping the range are opened. When
 * the query has positive words or key-field filters, the blooms of the
 * partition's blocks are read first and only id ranges whose bloom holds
 * every required token are scanned; otherwise rows are read by the ts
 * index. Every candidate row is verified exactly (a bloom only says
 * "maybe"). Rows examined are bounded by search_max_scan: past it the
 * result says truncated. Results are newest first (ts, then id).
 *
 * Invariants: the parser is bounded (SIEM_SEARCH_QUERY_MAX bytes,
 * SIEM_SEARCH_TERMS_MAX terms); no query text reaches SQL (table names
 * come from day numbers, values are bound).
 */
#include "siem/siem_svc_int.h"

#include <stdio.h>
#include <stdlib.h>

/* ----------------------------------------------------------------- parse */

static bool field_name_ok(const char *p, size_t n)
{
	if (n == 0 || n > 128 || !siem_isalpha(p[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!siem_isalnum(p[i]) && p[i] != '.' && p[i] != '_' && p[i] != '-' &&
		    p[i] != '@')
			return false;
	return true;
}

static int add_term(struct siem_query *q, const char *p, size_t n, bool neg,
		    bool phrase, struct bw_err *err)
{
	if (n == 0)
		return 0;
	if (q->nterms == SIEM_SEARCH_TERMS_MAX)
		return SIEM_SVC_ERR(err, 400, "query", "more than %u terms",
				    SIEM_SEARCH_TERMS_MAX);
	struct siem_term *t = &q->terms[q->nterms];
	memset(t, 0, sizeof(*t));
	t->neg = neg;
	const char *colon = phrase ? NULL : memchr(p, ':', n);
	if (colon && field_name_ok(p, (size_t)(colon - p)) && (size_t)(colon - p) + 1 < n) {
		size_t fl = (size_t)(colon - p);
		memcpy(t->field, p, fl);
		t->field[fl] = '\0';
		p = colon + 1;
		n -= fl + 1;
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p++;
			n -= 2;
		}
	}
	if (!phrase && n > 1 && p[n - 1] == '*') {
		t->prefix = true;
		n--;
	}
	if (n == 0 || n >= sizeof(t->value))
		return SIEM_SVC_ERR(err, 400, "query", "empty or overlong term");
	for (size_t i = 0; i < n; i++)
		t->value[i] = siem_lower(p[i]);
	t->value[n] = '\0';
	t->len = n;
	if (t->field[0]) {
		int id = siem_field_by_name(t->field, strlen(t->field));
		t->slot = id;
		t->column = -1;
		static const enum siem_field cols[] = {
			SIEM_F_TENANT,	      SIEM_F_EVENT_CATEGORY, SIEM_F_EVENT_ACTION,
			SIEM_F_EVENT_OUTCOME, SIEM_F_EVENT_DATASET,  SIEM_F_HOST_NAME,
			SIEM_F_SOURCE_IP,     SIEM_F_USER_NAME,
		};
		for (size_t k = 0; k < BW_ARRAY_LEN(cols); k++)
			if (id == (int)cols[k])
				t->column = (int)k;
	}
	q->nterms++;
	return 0;
}

int siem_query_parse(struct siem_query *q, const char *text, size_t len,
		     struct bw_err *err)
{
	if (len > SIEM_SEARCH_QUERY_MAX)
		return SIEM_SVC_ERR(err, 413, "query", "query longer than %u bytes",
				    SIEM_SEARCH_QUERY_MAX);
	size_t i = 0;
	while (i < len) {
		while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
				   text[i] == '\r' || text[i] == '+'))
			i++;
		if (i >= len)
			break;
		bool neg = false;
		if (text[i] == '-' && i + 1 < len && text[i + 1] != ' ') {
			neg = true;
			i++;
		}
		if (i < len && text[i] == '"') {
			size_t s = ++i;
			while (i < len && text[i] != '"')
				i++;
			if (i >= len)
				return SIEM_SVC_ERR(err, 400, "query", "unterminated quote");
			if (add_term(q, text + s, i - s, neg, true, err) < 0)
				return -1;
			i++;
			continue;
		}
		size_t s = i;
		bool inq = false;
		while (i < len && (inq || (text[i] != ' ' && text[i] != '\t'))) {
			if (text[i] == '"')
				inq = !inq;
			i++;
		}
		if (inq)
			return SIEM_SVC_ERR(err, 400, "query", "unterminated quote");
		if (add_term(q, text + s, i - s, neg, false, err) < 0)
			return -1;
	}
	return 0;
}

int siem_query_add_filter(struct siem_query *q, const char *field, const char *value,
			  struct bw_err *err)
{
	size_t fl = strlen(field), vl = strlen(value);
	if (!field_name_ok(field, fl))
		return SIEM_SVC_ERR(err, 400, "query", "bad field name");
	char buf[SIEM_TERM_MAX + 160];
	if (fl + vl + 1 >= sizeof(buf))
		return SIEM_SVC_ERR(err, 400, "query", "filter too long");
	memcpy(buf, field, fl);
	buf[fl] = ':';
	memcpy(buf + fl + 1, value, vl);
	return add_term(q, buf, fl + 1 + vl, false, false, err);
}

/* ---------------------------------------------------------------- verify */

static bool tok_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

/* Case-insensitive search of needle (lowercase) in hay with token
 * boundaries on both sides (only on the left when prefix). */
static bool find_word(const char *hay, size_t hn, const char *needle, size_t nn,
		      bool prefix)
{
	if (nn == 0 || nn > hn)
		return nn == 0;
	char first = needle[0];
	for (size_t i = 0; i + nn <= hn; i++) {
		if (siem_lower(hay[i]) != first)
			continue;
		size_t k = 1;
		while (k < nn && siem_lower(hay[i + k]) == needle[k])
			k++;
		if (k < nn)
			continue;
		if (i > 0 && tok_char((unsigned char)hay[i - 1]) && tok_char((unsigned char)needle[0]))
			continue;
		if (!prefix && i + nn < hn && tok_char((unsigned char)hay[i + nn]) &&
		    tok_char((unsigned char)needle[nn - 1]))
			continue;
		return true;
	}
	return false;
}

static bool value_eq(struct bw_str v, const struct siem_term *t)
{
	if (!v.p)
		return false;
	if (t->prefix ? v.len < t->len : v.len != t->len)
		return false;
	for (size_t i = 0; i < t->len; i++)
		if (siem_lower(v.p[i]) != t->value[i])
			return false;
	return true;
}

struct row {
	int64_t id, ts;
	struct bw_str raw; /* the stored document: compact (bin) or JSON */
	bool bin;
	struct bw_str doc; /* as ECS JSON once known (json_ok) */
	struct bw_str col[8];
};

struct scan_ctx {
	struct siem_service *svc;
	const struct siem_query *q;
	siem_scan_fn fn;
	void *arg;
	uint64_t budget;
	uint64_t scanned;
	bool truncated, stopped;
	struct bw_arena *ev_arena;
	struct siem_event ev;
	bool ev_ok;
	struct bw_buf json; /* a compact row written as JSON */
	bool json_ok;
	struct row cur;
	int64_t limit_per_query; /* matches wanted from one SQL query */
	int64_t matched_here;
	uint64_t blocks, blocks_skipped;
};

static struct siem_event *row_event(struct scan_ctx *c)
{
	if (c->ev_ok)
		return &c->ev;
	bw_arena_free(c->ev_arena);
	c->ev_arena = bw_arena_new(16384, 8u << 20);
	struct bw_err err;
	if (!c->ev_arena)
		return NULL;
	if (c->cur.bin ? siem_event_from_bin(c->cur.raw.p, c->cur.raw.len, c->ev_arena,
					     &c->ev, &err) < 0 :
			 siem_event_from_json(c->cur.raw.p, c->cur.raw.len, c->ev_arena,
					      &c->ev, &err) < 0)
		return NULL;
	c->ev_ok = true;
	return &c->ev;
}

/* The row as ECS JSON: a JSON row as stored, a compact one written by the
 * same writer that wrote JSON rows (so results read the same). */
static struct bw_str row_doc(struct scan_ctx *c)
{
	if (c->json_ok)
		return c->cur.doc;
	struct siem_event *ev = row_event(c);
	bw_buf_reset(&c->json);
	if (!ev || siem_event_write_json(ev, &c->json) < 0)
		return bw_str_make(NULL, 0);
	c->cur.doc = bw_str_make(c->json.data, c->json.len);
	c->json_ok = true;
	return c->cur.doc;
}

struct siem_event *siem_scan_event(struct siem_scan_row *r)
{
	return row_event((struct scan_ctx *)r->priv);
}

struct bw_str siem_scan_doc(const struct siem_scan_row *r)
{
	return row_doc((struct scan_ctx *)r->priv);
}

static bool term_holds(struct scan_ctx *c, const struct siem_term *t)
{
	if (!t->field[0]) {
		struct bw_str d = row_doc(c);
		return d.p && find_word(d.p, d.len, t->value, t->len, t->prefix);
	}
	if (t->column >= 0)
		return value_eq(c->cur.col[t->column], t);
	struct siem_event *ev = row_event(c);
	if (!ev)
		return false;
	struct bw_str v = t->slot >= 0 ? siem_event_get(ev, (enum siem_field)t->slot) :
					 siem_event_label_get(ev, t->field, strlen(t->field));
	return value_eq(v, t);
}

static bool row_matches(struct scan_ctx *c)
{
	for (size_t i = 0; i < c->q->nterms; i++) {
		const struct siem_term *t = &c->q->terms[i];
		if (term_holds(c, t) == t->neg)
			return false;
	}
	return true;
}

/* The current row (c->cur filled) against the query, then the callback.
 * Returns STORE_ROW_NEXT, STORE_ROW_STOP or -1. */
static int row_process(struct scan_ctx *c)
{
	if (!row_matches(c))
		return STORE_ROW_NEXT;
	struct siem_scan_row r = { .id = c->cur.id, .ts = c->cur.ts, .priv = c };
	for (int i = 0; i < 8; i++)
		r.col[i] = c->cur.col[i];
	int rc = c->fn(c->arg, &r);
	if (rc != 0) {
		c->stopped = rc > 0;
		return rc > 0 ? STORE_ROW_STOP : -1;
	}
	if (c->limit_per_query > 0 && ++c->matched_here >= c->limit_per_query)
		return STORE_ROW_STOP;
	return STORE_ROW_NEXT;
}

static int row_cb(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct scan_ctx *c = arg;
	if (++c->scanned > c->budget) {
		c->truncated = true;
		return STORE_ROW_STOP;
	}
	c->cur.id = store_row_int64(row, 0);
	c->cur.ts = store_row_int64(row, 1);
	size_t rawlen = 0;
	const void *raw = store_row_blob(row, 2, &rawlen);
	c->cur.raw = bw_str_make(raw, rawlen);
	c->cur.bin = siem_doc_is_bin(raw, rawlen);
	c->json_ok = !c->cur.bin;
	c->cur.doc = c->json_ok ? c->cur.raw : bw_str_make(NULL, 0);
	for (int i = 0; i < 8; i++)
		c->cur.col[i] = store_row_is_null(row, 3 + i) ? bw_str_make(NULL, 0) :
								store_row_text(row, 3 + i);
	c->ev_ok = false;
	return row_process(c);
}

/* ------------------------------------------------------------------ scan */

/* An array v of n elements of elem bytes with room for one more: v itself
 * or a larger copy (*cap updated, doubling from first); NULL when memory
 * ran out, v then still valid and owned by the caller. */
static void *grow(void *v, size_t *cap, size_t n, size_t elem, size_t first)
{
	if (n < *cap)
		return v;
	size_t nc = *cap ? *cap * 2 : first;
	void *p = realloc(v, nc * elem);
	if (p)
		*cap = nc;
	return p;
}

struct range {
	int64_t lo, hi;
};

struct block_ctx {
	const struct siem_query *q;
	bool use_bloom;
	struct range *r;
	size_t n, cap;
	uint64_t blocks, skipped;
};

struct tokcheck {
	const uint8_t *bloom;
	int version;
	bool ok;
};

static void tokcheck_cb(void *arg, const char *t, size_t n)
{
	struct tokcheck *tc = arg;
	if (tc->ok && !siem_bloom_has_token(tc->bloom, tc->version, t, n))
		tc->ok = false;
}

/* Does a block's bloom admit every positive word and key filter? */
static bool bloom_admits(const struct siem_query *q, const uint8_t *bloom, int version)
{
	for (size_t i = 0; i < q->nterms; i++) {
		const struct siem_term *t = &q->terms[i];
		if (t->neg || t->prefix)
			continue;
		if (!t->field[0]) {
			struct tokcheck tc = { bloom, version, true };
			siem_tokens(t->value, t->len, tokcheck_cb, &tc);
			if (!tc.ok)
				return false;
		} else if (t->column >= 0) {
			char tok[SIEM_TERM_MAX + 160];
			int l = snprintf(tok, sizeof(tok), "%s=%s", t->field, t->value);
			if (l > 0 && (size_t)l < sizeof(tok) &&
			    !siem_bloom_has_token(bloom, version, tok, (size_t)l))
				return false;
		}
	}
	return true;
}

static int block_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct block_ctx *b = arg;
	b->blocks++;
	size_t bl = 0;
	const uint8_t *bloom = store_row_blob(row, 2, &bl);
	int ver = siem_bloom_version(bloom, bl);
	if (b->use_bloom && ver && !bloom_admits(b->q, bloom, ver)) {
		b->skipped++;
		return STORE_ROW_NEXT;
	}
	int64_t lo = store_row_int64(row, 0), hi = store_row_int64(row, 1);
	if (b->n && lo <= b->r[b->n - 1].hi + 1 && lo >= b->r[b->n - 1].lo) {
		if (hi > b->r[b->n - 1].hi)
			b->r[b->n - 1].hi = hi;
		return STORE_ROW_NEXT;
	}
	struct range *r = grow(b->r, &b->cap, b->n, sizeof(*r), 64);
	if (!r)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	b->r = r;
	b->r[b->n++] = (struct range){ lo, hi };
	return STORE_ROW_NEXT;
}

static bool needs_blooms(const struct siem_query *q)
{
	for (size_t i = 0; i < q->nterms; i++) {
		const struct siem_term *t = &q->terms[i];
		if (!t->neg && !t->prefix && (!t->field[0] || t->column >= 0))
			return true;
	}
	return false;
}

static int scan_blocks(struct scan_ctx *c, const struct siem_partition *p,
		       const struct siem_scan_opts *o, const struct range *r, size_t nr,
		       struct bw_err *err);

#define COLS "id, ts, doc, tenant, category, action, outcome, dataset, host, source_ip, user_name"

static int scan_partition(struct scan_ctx *c, const struct siem_partition *p,
			  const struct siem_scan_opts *o, struct bw_err *err)
{
	char name[32], sql[4096];
	siem_part_name(p->day, name);
	struct store_value v[2 * 64 + 4];
	/* every scan goes through the blocks: their time bounds prune id
	 * ranges (there is no ts index), their blooms prune words */
	struct block_ctx bc = { .q = c->q, .use_bloom = needs_blooms(c->q) };
	struct store_value bv[] = { store_int(p->day), store_int(o->from_ns), store_int(o->to_ns) };
	if (store_query(c->svc->st,
			"SELECT id_first, id_last, bloom FROM siem_block WHERE day = ?"
			" AND ts_max >= ? AND ts_min <= ? ORDER BY id_first",
			bv, 3, block_row, &bc, err) < 0) {
		free(bc.r);
		return -1;
	}
	c->blocks += bc.blocks;
	c->blocks_skipped += bc.skipped;
	if (!siem_day_rows(c->svc, p->day)) {
		int brc = scan_blocks(c, p, o, bc.r, bc.n, err);
		free(bc.r);
		return brc;
	}
	int rc = 0;
	/* candidate ranges in groups of 64 per statement */
	for (size_t g = 0; g < bc.n && rc == 0 && !c->truncated && !c->stopped; g += 64) {
		size_t k = bc.n - g < 64 ? bc.n - g : 64, nv = 0;
		int w = snprintf(sql, sizeof(sql), "SELECT " COLS " FROM %s WHERE ts >= ? AND ts <= ?",
				 name);
		v[nv++] = store_int(o->from_ns);
		v[nv++] = store_int(o->to_ns);
		if (o->tenant) {
			w += snprintf(sql + w, sizeof(sql) - (size_t)w, " AND tenant = ?");
			v[nv++] = store_text_str(o->tenant);
		}
		w += snprintf(sql + w, sizeof(sql) - (size_t)w, " AND (");
		for (size_t i = 0; i < k; i++) {
			w += snprintf(sql + w, sizeof(sql) - (size_t)w, "%s(id >= ? AND id <= ?)",
				      i ? " OR " : "");
			v[nv++] = store_int(bc.r[g + i].lo);
			v[nv++] = store_int(bc.r[g + i].hi);
		}
		snprintf(sql + w, sizeof(sql) - (size_t)w, ") ORDER BY ts %s, id %s",
			 o->oldest_first ? "ASC" : "DESC", o->oldest_first ? "ASC" : "DESC");
		c->matched_here = 0;
		rc = store_query(c->svc->st, sql, v, nv, row_cb, c, err);
	}
	free(bc.r);
	return rc;
}

/* ------------------------------------------------------- block layout */

/* The key columns of the row layout, in COLS order, read from the event
 * in the block layout. */
static const enum siem_field col_fields[8] = {
	SIEM_F_TENANT,	      SIEM_F_EVENT_CATEGORY, SIEM_F_EVENT_ACTION,
	SIEM_F_EVENT_OUTCOME, SIEM_F_EVENT_DATASET,  SIEM_F_HOST_NAME,
	SIEM_F_SOURCE_IP,     SIEM_F_USER_NAME,
};

/* One event of the blocks read for a group of ranges. */
struct cand {
	int64_t id, ts;
	const uint8_t *doc;
	uint32_t len;
};

struct blk_read {
	const struct siem_service *svc;
	int64_t day;
	const struct siem_scan_opts *o;
	const struct range *r;
	size_t nr;
	uint8_t **copies;
	size_t ncopies, copies_cap;
	struct cand *v;
	size_t n, cap;
};

static bool in_ranges(const struct range *r, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= r[i].lo && id <= r[i].hi)
			return true;
	return false;
}

static int cand_add(void *arg, int64_t id, int64_t ts, const uint8_t *doc, size_t len,
		    struct bw_err *err)
{
	struct blk_read *br = arg;
	if (ts < br->o->from_ns || ts > br->o->to_ns || !in_ranges(br->r, br->nr, id))
		return 0;
	struct cand *v = grow(br->v, &br->cap, br->n, sizeof(*v), 1024);
	if (!v)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	br->v = v;
	br->v[br->n++] = (struct cand){ id, ts, doc, (uint32_t)len };
	return 0;
}

/* Copies a block (row data dies with the callback) and collects its
 * events that fall in the time and id ranges. */
static int blk_read_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct blk_read *br = arg;
	uint8_t **c = grow(br->copies, &br->copies_cap, br->ncopies, sizeof(*c), 16);
	if (!c)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	br->copies = c;
	size_t n = 0;
	uint8_t *copy;
	if (siem_blk_copy(br->svc, br->day, row, 1, &copy, &n, err) < 0)
		return -1;
	br->copies[br->ncopies++] = copy;
	return siem_pack_walk(copy, n, store_row_int64(row, 0), cand_add, br, err) < 0 ?
		       -1 : STORE_ROW_NEXT;
}

static int cmp_cand_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? 1 : -1;
	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

static int cmp_cand_asc(const void *a, const void *b)
{
	return cmp_cand_desc(b, a);
}

/* Ranges per group: the blocks of a group are held in memory together
 * (a block is at most one batch, SIEM_BATCH_BYTES_DEFAULT of events). */
#define BLK_GROUP 8

/*
 * A day in the block layout, with the row layout's results: the blocks of
 * each group of candidate id ranges are read, their events in [from, to]
 * (and of the tenant asked for) ordered by time as the row layout's ORDER
 * BY orders them, then each is decoded and checked like a row, with the
 * same budget and per-query limit.
 */
static int scan_blocks(struct scan_ctx *c, const struct siem_partition *p,
		       const struct siem_scan_opts *o, const struct range *r, size_t nr,
		       struct bw_err *err)
{
	char name[32], sql[256];
	const char *cols = siem_blk_table(c->svc, p->day, name);
	int rc = 0;
	for (size_t g = 0; g < nr && rc == 0 && !c->truncated && !c->stopped; g += BLK_GROUP) {
		size_t k = nr - g < BLK_GROUP ? nr - g : BLK_GROUP;
		struct blk_read br = { .svc = c->svc, .day = p->day, .o = o, .r = r + g, .nr = k };
		for (size_t i = 0; i < k && rc == 0; i++) {
			/* a block lies in a range when its first id does: ranges
			 * are unions of whole blocks (siem_block rows) */
			snprintf(sql, sizeof(sql),
				 "SELECT id_first, %s FROM %s WHERE id_first >= ? AND id_first <= ?"
				 " AND ts_max >= ? AND ts_min <= ?", cols, name);
			struct store_value v[] = { store_int(r[g + i].lo), store_int(r[g + i].hi),
						   store_int(o->from_ns), store_int(o->to_ns) };
			rc = store_query(c->svc->st, sql, v, 4, blk_read_row, &br, err);
		}
		if (rc == 0 && br.n)
			qsort(br.v, br.n, sizeof(*br.v), o->oldest_first ? cmp_cand_asc : cmp_cand_desc);
		c->matched_here = 0;
		for (size_t i = 0; i < br.n && rc == 0; i++) {
			c->cur.id = br.v[i].id;
			c->cur.ts = br.v[i].ts;
			c->cur.raw = bw_str_make((const char *)br.v[i].doc, br.v[i].len);
			c->cur.bin = true;
			c->json_ok = false;
			c->ev_ok = false;
			struct siem_event *ev = row_event(c);
			if (!ev) {
				rc = SIEM_SVC_ERR(err, 500, "corrupt", "stored event %lld unreadable",
						  (long long)br.v[i].id);
				break;
			}
			for (int f = 0; f < 8; f++)
				c->cur.col[f] = ev->f[col_fields[f]];
			/* the row layout's SQL filtered the tenant before counting */
			if (o->tenant && (!c->cur.col[0].p || !bw_str_eq_lit(c->cur.col[0], o->tenant)))
				continue;
			if (++c->scanned > c->budget) {
				c->truncated = true;
				break;
			}
			int x = row_process(c);
			if (x < 0)
				rc = -1;
			if (x != STORE_ROW_NEXT)
				break;
		}
		for (size_t i = 0; i < br.ncopies; i++)
			free(br.copies[i]);
		free(br.copies);
		free(br.v);
	}
	return rc;
}

static int cmp_part_desc(const void *a, const void *b)
{
	const struct siem_partition *x = a, *y = b;
	return x->day < y->day ? 1 : x->day > y->day ? -1 : 0;
}

int siem_scan(struct siem_service *svc, const struct siem_query *q,
	      const struct siem_scan_opts *o, siem_scan_fn fn, void *arg,
	      struct siem_scan_stats *stats, struct bw_err *err)
{
	struct scan_ctx c = { .svc = svc, .q = q, .fn = fn, .arg = arg,
			      .budget = o->max_scan ? o->max_scan : SIEM_SEARCH_SCAN_DEFAULT,
			      .limit_per_query = o->per_partition_limit };
	bw_buf_init(&c.json, SIEM_DOC_MAX * 4);
	pthread_mutex_lock(&svc->part_mu);
	size_t n = 0;
	struct siem_partition *ps = svc->nparts ? malloc(svc->nparts * sizeof(*ps)) : NULL;
	for (size_t i = 0; ps && i < svc->nparts; i++)
		if (svc->parts[i].stored && svc->parts[i].max_ts >= o->from_ns &&
		    svc->parts[i].min_ts <= o->to_ns)
			ps[n++] = svc->parts[i];
	pthread_mutex_unlock(&svc->part_mu);
	if (svc->nparts && !ps)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	if (n)
		qsort(ps, n, sizeof(*ps), cmp_part_desc);
	int rc = 0;
	for (size_t k = 0; k < n && rc == 0 && !c.truncated && !c.stopped; k++) {
		size_t i = o->oldest_first ? n - 1 - k : k;
		rc = scan_partition(&c, &ps[i], o, err);
	}
	free(ps);
	bw_arena_free(c.ev_arena);
	bw_buf_fini(&c.json);
	if (stats) {
		stats->scanned = c.scanned > c.budget ? c.budget : c.scanned;
		stats->truncated = c.truncated;
		stats->partitions = n;
		stats->blocks = c.blocks;
		stats->blocks_skipped = c.blocks_skipped;
	}
	return rc;
}

/* ---------------------------------------------------------------- search */

static int collect_cb(void *arg, const struct siem_scan_row *r)
{
	struct siem_search_result *res = arg;
	if (res->n == res->cap) {
		size_t cap = res->cap ? res->cap * 2 : 64;
		struct siem_hit *h = realloc(res->hits, cap * sizeof(*h));
		if (!h)
			return -1;
		res->hits = h;
		res->cap = cap;
	}
	struct siem_hit *h = &res->hits[res->n];
	h->id = r->id;
	h->ts = r->ts;
	struct bw_str doc = siem_scan_doc(r);
	if (!doc.p)
		return -1;
	h->doc = malloc(doc.len + 1);
	if (!h->doc)
		return -1;
	memcpy(h->doc, doc.p, doc.len);
	h->doc[doc.len] = '\0';
	h->doc_len = doc.len;
	res->n++;
	return 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct siem_hit *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? 1 : -1;
	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

int siem_search(struct siem_service *svc, const struct siem_query *q,
		const struct siem_scan_opts *o, size_t offset, size_t limit,
		struct siem_search_result *res, struct bw_err *err)
{
	memset(res, 0, sizeof(*res));
	if (limit == 0 || limit > SIEM_SEARCH_PAGE_MAX || offset > SIEM_SEARCH_OFFSET_MAX)
		return SIEM_SVC_ERR(err, 400, "paging", "limit 1..%u, offset up to %u",
				    SIEM_SEARCH_PAGE_MAX, SIEM_SEARCH_OFFSET_MAX);
	struct siem_scan_opts so = *o;
	/* each SQL query returns rows newest first: the first offset+limit+1
	 * matches of each are all a page can need */
	so.per_partition_limit = (int64_t)(offset + limit + 1);
	so.oldest_first = false;
	if (siem_scan(svc, q, &so, collect_cb, res, &res->stats, err) < 0) {
		siem_search_result_free(res);
		return SIEM_SVC_ERR(err, 500, "search", "%s", err ? err->msg : "scan failed");
	}
	if (res->n)
		qsort(res->hits, res->n, sizeof(*res->hits), cmp_hit);
	res->more = res->n > offset + limit;
	/* keep [offset, offset+limit) */
	size_t keep_from = offset < res->n ? offset : res->n;
	size_t keep_to = offset + limit < res->n ? offset + limit : res->n;
	for (size_t i = 0; i < res->n; i++)
		if (i < keep_from || i >= keep_to)
			free(res->hits[i].doc);
	if (keep_to > keep_from)
		memmove(res->hits, res->hits + keep_from,
			(keep_to - keep_from) * sizeof(*res->hits));
	res->n = keep_to - keep_from;
	return 0;
}

void siem_search_result_free(struct siem_search_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->hits[i].doc);
	free(res->hits);
	res->hits = NULL;
	res->n = res->cap = 0;
}

/* ----------------------------------------------------------- aggregation */

struct agg_ctx {
	const char *field;
	int slot, column;
	int64_t from, interval;
	size_t nbuckets;
	/* values: up to SIEM_AGG_VALUES_MAX distinct, then "(other)" */
	char **values;
	size_t nvalues;
	uint64_t *counts; /* [nbuckets][nvalues_max + 1] */
	uint64_t *totals; /* [nbuckets] */
	uint64_t matched;
};

static int agg_cb(void *arg, const struct siem_scan_row *r)
{
	struct agg_ctx *a = arg;
	size_t b = (size_t)((r->ts - a->from) / a->interval);
	if (r->ts < a->from || b >= a->nbuckets)
		return 0;
	a->totals[b]++;
	a->matched++;
	if (!a->field)
		return 0;
	struct bw_str v = { NULL, 0 };
	if (a->column >= 0) {
		v = r->col[a->column];
	} else {
		struct siem_event *ev = siem_scan_event((struct siem_scan_row *)r);
		if (ev)
			v = a->slot >= 0 ? siem_event_get(ev, (enum siem_field)a->slot) :
					   siem_event_label_get(ev, a->field, strlen(a->field));
	}
	if (!v.p)
		return 0;
	if (v.len > 256)
		v.len = 256;
	size_t k;
	for (k = 0; k < a->nvalues; k++)
		if (strlen(a->values[k]) == v.len && memcmp(a->values[k], v.p, v.len) == 0)
			break;
	if (k == a->nvalues) {
		if (a->nvalues < SIEM_AGG_VALUES_MAX) {
			char *s = malloc(v.len + 1);
			if (!s)
				return -1;
			memcpy(s, v.p, v.len);
			s[v.len] = '\0';
			a->values[a->nvalues++] = s;
		} else {
			k = SIEM_AGG_VALUES_MAX; /* "(other)" */
		}
	}
	a->counts[b * (SIEM_AGG_VALUES_MAX + 1) + k]++;
	return 0;
}

int siem_aggregate(struct siem_service *svc, const struct siem_query *q,
		   const struct siem_scan_opts *o, const char *field, int64_t interval_ns,
		   size_t top, struct json_writer *w, struct bw_err *err)
{
	if (interval_ns <= 0 || o->to_ns < o->from_ns)
		return SIEM_SVC_ERR(err, 400, "interval", "bad interval or range");
	uint64_t nb = (uint64_t)(o->to_ns - o->from_ns) / (uint64_t)interval_ns + 1;
	if (nb > SIEM_AGG_BUCKETS_MAX)
		return SIEM_SVC_ERR(err, 400, "interval",
				    "%llu buckets; at most %u (use a longer interval)",
				    (unsigned long long)nb, SIEM_AGG_BUCKETS_MAX);
	struct agg_ctx a = { .field = field && *field ? field : NULL, .from = o->from_ns,
			     .interval = interval_ns, .nbuckets = (size_t)nb, .column = -1,
			     .slot = -1 };
	if (a.field) {
		if (!field_name_ok(a.field, strlen(a.field)))
			return SIEM_SVC_ERR(err, 400, "field", "bad field name");
		a.slot = siem_field_by_name(a.field, strlen(a.field));
		static const enum siem_field cols[] = {
			SIEM_F_TENANT,	      SIEM_F_EVENT_CATEGORY, SIEM_F_EVENT_ACTION,
			SIEM_F_EVENT_OUTCOME, SIEM_F_EVENT_DATASET,  SIEM_F_HOST_NAME,
			SIEM_F_SOURCE_IP,     SIEM_F_USER_NAME,
		};
		for (size_t k = 0; k < BW_ARRAY_LEN(cols); k++)
			if (a.slot == (int)cols[k])
				a.column = (int)k;
		a.values = calloc(SIEM_AGG_VALUES_MAX, sizeof(char *));
		a.counts = calloc((size_t)nb * (SIEM_AGG_VALUES_MAX + 1), sizeof(uint64_t));
	}
	a.totals = calloc((size_t)nb, sizeof(uint64_t));
	int rc = -1;
	struct siem_scan_stats st;
	if ((a.field && (!a.values || !a.counts)) || !a.totals) {
		SIEM_SVC_ERR(err, 500, "memory", "out of memory");
		goto out;
	}
	struct siem_scan_opts so = *o;
	so.per_partition_limit = 0;
	if (siem_scan(svc, q, &so, agg_cb, &a, &st, err) < 0)
		goto out;
	/* the top values over the whole range */
	size_t nv = a.nvalues + (a.field ? 1 : 0);
	uint64_t *vt = calloc(nv ? nv : 1, sizeof(uint64_t));
	size_t *order = calloc(nv ? nv : 1, sizeof(size_t));
	if (!vt || !order) {
		free(vt);
		free(order);
		SIEM_SVC_ERR(err, 500, "memory", "out of memory");
		goto out;
	}
	for (size_t b = 0; b < a.nbuckets && a.field; b++)
		for (size_t k = 0; k < nv; k++) {
			size_t col = k < a.nvalues ? k : SIEM_AGG_VALUES_MAX;
			vt[k] += a.counts[b * (SIEM_AGG_VALUES_MAX + 1) + col];
		}
	for (size_t k = 0; k < nv; k++)
		order[k] = k;
	/* selection of the top values by total (stable, small n) */
	for (size_t i = 0; i < nv; i++)
		for (size_t j = i + 1; j < nv; j++)
			if (vt[order[j]] > vt[order[i]]) {
				size_t t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
	if (top == 0 || top > SIEM_AGG_VALUES_MAX)
		top = 10;
	size_t shown = nv < top ? nv : top;
	json_write_object_begin(w);
	json_write_kv_int(w, "from_ms", o->from_ns / 1000000);
	json_write_kv_int(w, "to_ms", o->to_ns / 1000000);
	json_write_kv_int(w, "interval_ms", interval_ns / 1000000);
	if (a.field)
		json_write_kv_string(w, "field", a.field);
	json_write_key(w, "matched");
	json_write_uint(w, a.matched);
	json_write_kv_bool(w, "truncated", st.truncated);
	if (a.field) {
		json_write_key(w, "top");
		json_write_array_begin(w);
		for (size_t i = 0; i < shown; i++) {
			size_t k = order[i];
			if (!vt[k])
				continue;
			json_write_object_begin(w);
			json_write_kv_string(w, "value", k < a.nvalues ? a.values[k] : "(other)");
			json_write_key(w, "count");
			json_write_uint(w, vt[k]);
			json_write_object_end(w);
		}
		json_write_array_end(w);
	}
	json_write_key(w, "buckets");
	json_write_array_begin(w);
	for (size_t b = 0; b < a.nbuckets; b++) {
		json_write_object_begin(w);
		json_write_kv_int(w, "t_ms", (o->from_ns + (int64_t)b * interval_ns) / 1000000);
		json_write_key(w, "count");
		json_write_uint(w, a.totals[b]);
		if (a.field) {
			json_write_key(w, "values");
			json_write_object_begin(w);
			for (size_t i = 0; i < shown; i++) {
				size_t k = order[i];
				size_t col = k < a.nvalues ? k : SIEM_AGG_VALUES_MAX;
				uint64_t cnt = a.counts[b * (SIEM_AGG_VALUES_MAX + 1) + col];
				if (!cnt)
					continue;
				json_write_key(w, k < a.nvalues ? a.values[k] : "(other)");
				json_write_uint(w, cnt);
			}
			json_write_object_end(w);
		}
		json_write_object_end(w);
	}
	json_write_array_end(w);
	json_write_object_end(w);
	free(vt);
	free(order);
	rc = 0;
out:
	for (size_t i = 0; i < a.nvalues; i++)
		free(a.values[i]);
	free(a.values);
	free(a.counts);
	free(a.totals);
	return rc;
}

/* ---------------------------------------------------------- one event */

struct doc_ctx {
	struct bw_buf *doc;
	int64_t *ts;
	int rc;
	int64_t want;
	const struct siem_service *svc;
	int64_t day;
};

/* A stored document as ECS JSON: JSON rows as they are, compact ones
 * decoded and written as the JSON they stand for. */
static int doc_json(const void *p, size_t n, struct bw_buf *out, struct bw_err *err)
{
	if (!siem_doc_is_bin(p, n)) {
		if (bw_buf_append(out, p, n) < 0)
			return SIEM_SVC_ERR(err, 413, "too_large", "event document too large");
		return 0;
	}
	struct bw_arena *a = bw_arena_new(16384, 8u << 20);
	struct siem_event ev;
	int rc = !a ? SIEM_SVC_ERR(err, 500, "memory", "out of memory") :
		 siem_event_from_bin(p, n, a, &ev, err) < 0 ? -1 :
		 siem_event_write_json(&ev, out) < 0 ?
				SIEM_SVC_ERR(err, 413, "too_large", "event document too large") :
				0;
	bw_arena_free(a);
	return rc;
}

static int doc_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct doc_ctx *d = arg;
	size_t n = 0;
	const void *p = store_row_blob(row, 1, &n);
	*d->ts = store_row_int64(row, 0);
	if (doc_json(p, n, d->doc, err) < 0)
		return -1;
	d->rc = 1;
	return STORE_ROW_STOP;
}

/* In the block layout: the one event of the block whose id it is. */
static int doc_entry(void *arg, int64_t id, int64_t ts, const uint8_t *doc, size_t len,
		     struct bw_err *err)
{
	struct doc_ctx *d = arg;
	if (id != d->want)
		return 0;
	*d->ts = ts;
	if (doc_json(doc, len, d->doc, err) < 0)
		return -1;
	d->rc = 1;
	return 1;
}

static int doc_block(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct doc_ctx *d = arg;
	size_t n = 0;
	const uint8_t *p;
	uint8_t *owned;
	if (siem_blk_bytes(d->svc, d->day, row, 1, &p, &n, &owned, err) < 0)
		return -1;
	int rc = siem_pack_walk(p, n, store_row_int64(row, 0), doc_entry, arg, err);
	free(owned);
	return rc < 0 ? -1 : STORE_ROW_STOP;
}

int siem_event_doc(struct siem_service *svc, int64_t id, int64_t ts_hint,
		   struct bw_buf *doc, int64_t *ts, struct bw_err *err)
{
	pthread_mutex_lock(&svc->part_mu);
	size_t n = svc->nparts;
	int64_t *days = n ? malloc(n * sizeof(*days)) : NULL;
	size_t k = 0;
	int64_t hint = ts_hint ? siem_day_of(ts_hint) : INT64_MIN;
	for (size_t i = 0; days && i < n; i++)
		if (svc->parts[i].stored && svc->parts[i].max_id >= id)
			days[k++] = svc->parts[i].day;
	pthread_mutex_unlock(&svc->part_mu);
	if (n && !days)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	/* the hinted day first */
	for (size_t i = 0; i < k; i++)
		if (days[i] == hint) {
			days[i] = days[0];
			days[0] = hint;
			break;
		}
	struct doc_ctx d = { doc, ts, 0, id, svc, 0 };
	int rc = 0;
	for (size_t i = 0; i < k && d.rc == 0 && rc == 0; i++) {
		char name[32], sql[256];
		struct store_value v[] = { store_int(id) };
		if (siem_day_rows(svc, days[i])) {
			siem_part_name(days[i], name);
			snprintf(sql, sizeof(sql), "SELECT ts, doc FROM %s WHERE id = ?", name);
			rc = store_query_one(svc->st, sql, v, 1, doc_row, &d, err);
		} else {
			/* the block holding it starts at or before it */
			const char *cols = siem_blk_table(svc, days[i], name);
			d.day = days[i];
			snprintf(sql, sizeof(sql),
				 "SELECT id_first, %s FROM %s WHERE id_first <= ? AND id_last >= ?"
				 " ORDER BY id_first DESC LIMIT 1", cols, name);
			struct store_value v2[] = { store_int(id), store_int(id) };
			rc = store_query_one(svc->st, sql, v2, 2, doc_block, &d, err);
		}
	}
	free(days);
	return rc < 0 ? -1 : d.rc;
}
