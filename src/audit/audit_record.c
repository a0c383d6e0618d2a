/*
 * audit_record — the audit log's line formats: validating a record from a
 * caller, writing record and STH lines in RFC 8785 canonical form, the
 * strict RFC 3339 time form, and the STH signature message.
 *
 * Lines are written here without a general JSON writer: every member name
 * is a literal in the order RFC 8785 sorts them (UTF-16 code unit order,
 * which for these ASCII names is byte order), strings go through
 * audit_jcs_string and details through json_canonicalize. The tests check
 * each line against json_canonicalize_text, and the reader at the end of
 * this file refuses any line that is not byte-identical to its canonical
 * form, so writer and reader cannot silently disagree.
 *
 * The validation rules for fields live here once (text_ok, action_ok,
 * ip_ok) and are applied both on append and when a line is read back.
 */
#include "audit/audit_int.h"
#include "json/json.h"

#include <arpa/inet.h>
#include <string.h>

const char *audit_outcome_name(enum audit_outcome o)
{
	switch (o) {
	case AUDIT_OUTCOME_SUCCESS:
		return "success";
	case AUDIT_OUTCOME_FAILURE:
		return "failure";
	case AUDIT_OUTCOME_DENIED:
		return "denied";
	}
	return NULL;
}

const char *audit_actor_kind_name(enum audit_actor_kind k)
{
	switch (k) {
	case AUDIT_ACTOR_SYSTEM:
		return "system";
	case AUDIT_ACTOR_USER:
		return "user";
	case AUDIT_ACTOR_KEY:
		return "key";
	}
	return NULL;
}

/* ---------------------------------------------------------------- time */

static const int64_t MS_PER_DAY = 86400000;

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 1970): count
 * years in 400-year eras, each of 146097 days, shifting the year to start
 * in March so the leap day is the last day of the shifted year. */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = y / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

int audit_time_parse(struct bw_str s, int64_t *ms)
{
	/* 0123456789012345678901234
	 * YYYY-MM-DDTHH:MM:SS.mmmZ */
	if (s.len != 24)
		return -1;
	const char *p = s.p;
	if (p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' ||
	    p[16] != ':' || p[19] != '.' || p[23] != 'Z')
		return -1;
	int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
	int h = digits(p + 11, 2), mi = digits(p + 14, 2);
	int sec = digits(p + 17, 2), frac = digits(p + 20, 3);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 59 || frac < 0)
		return -1;
	*ms = days_from_civil(y, mo, d) * MS_PER_DAY +
	      ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac;
	return 0;
}

/* The inverse of days_from_civil (same era arithmetic). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = z / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

size_t audit_time_format(int64_t ms, char out[32])
{
	/* Formatted here rather than with bw_time_format (nanoseconds)
	 * because a parsed time may be as late as year 9999, far past what
	 * int64 nanoseconds reach. */
	if (ms < 0)
		ms = 0;
	int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
	int y, mo, d;
	civil_from_days(days, &y, &mo, &d);
	int n = bw_snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y,
			    mo, d, (int)(rem / 3600000),
			    (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
			    (int)(rem % 1000));
	return n < 0 ? 0 : (size_t)n;
}

/* ---------------------------------------------------------- validation */

/* Length of the valid UTF-8 sequence at p (<= n bytes left), or 0. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned cp, min;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Field text: valid UTF-8, no C0 control characters and no DEL, so a
 * record can never smuggle terminal escapes or line breaks to a reader. */
static bool text_ok(struct bw_str s, size_t max)
{
	if (s.len > max)
		return false;
	const unsigned char *p = (const unsigned char *)s.p;
	for (size_t i = 0; i < s.len;) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
		size_t k = utf8_seq(p + i, s.len - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* "user.create", "kms.key.rotate": lower-case segments of [a-z0-9_-],
 * starting with a letter, joined by single dots. */
static bool action_ok(struct bw_str s)
{
	if (s.len == 0 || s.len > AUDIT_ACTION_MAX)
		return false;
	bool seg_start = true;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c == '.') {
			if (seg_start)
				return false;
			seg_start = true;
			continue;
		}
		bool lower = c >= 'a' && c <= 'z';
		if (seg_start && !lower)
			return false;
		if (!lower && !(c >= '0' && c <= '9') && c != '_' && c != '-')
			return false;
		seg_start = false;
	}
	return !seg_start;
}

static bool ip_ok(struct bw_str s)
{
	if (s.len == 0)
		return true;
	if (s.len > AUDIT_IP_MAX)
		return false;
	char tmp[AUDIT_IP_MAX + 1];
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	if (strlen(tmp) != s.len)
		return false;
	unsigned char addr[16];
	return inet_pton(AF_INET, tmp, addr) == 1 ||
	       inet_pton(AF_INET6, tmp, addr) == 1;
}

static struct bw_str nz(struct bw_str s)
{
	return s.p ? s : bw_str_make("", 0);
}

/* The record rules shared by append and read-back; details are checked
 * by the caller (they arrive as text on append, as a tree on read). */
static int record_fields_check(const struct audit_record *r,
			       struct bw_err *err)
{
	if (!action_ok(nz(r->action)))
		return bw_err_set(err, 400, "audit", "action",
				  "action must be 1-%d bytes of dotted "
				  "lower-case segments",
				  AUDIT_ACTION_MAX);
	if (!audit_actor_kind_name(r->actor.kind))
		return bw_err_set(err, 400, "audit", "actor_kind",
				  "unknown actor kind %d", (int)r->actor.kind);
	if (!text_ok(nz(r->actor.tenant), AUDIT_TENANT_MAX))
		return bw_err_set(err, 400, "audit", "tenant",
				  "tenant must be printable UTF-8, <= %d bytes",
				  AUDIT_TENANT_MAX);
	if (!text_ok(nz(r->actor.id), AUDIT_ACTOR_ID_MAX) ||
	    (r->actor.kind != AUDIT_ACTOR_SYSTEM && nz(r->actor.id).len == 0))
		return bw_err_set(err, 400, "audit", "actor_id",
				  "actor id must be printable UTF-8, <= %d "
				  "bytes, and set for users and keys",
				  AUDIT_ACTOR_ID_MAX);
	if (!ip_ok(nz(r->actor.ip)))
		return bw_err_set(err, 400, "audit", "ip",
				  "actor ip must be an IPv4/IPv6 address or "
				  "empty");
	if (!text_ok(nz(r->target), AUDIT_TARGET_MAX))
		return bw_err_set(err, 400, "audit", "target",
				  "target must be printable UTF-8, <= %d bytes",
				  AUDIT_TARGET_MAX);
	if (!audit_outcome_name(r->outcome))
		return bw_err_set(err, 400, "audit", "outcome",
				  "unknown outcome %d", (int)r->outcome);
	if (!text_ok(nz(r->request_id), AUDIT_REQUEST_ID_MAX))
		return bw_err_set(err, 400, "audit", "request_id",
				  "request_id must be printable UTF-8, <= %d "
				  "bytes",
				  AUDIT_REQUEST_ID_MAX);
	return 0;
}

/* ------------------------------------------------------------- writing */

int audit_jcs_string(struct bw_buf *b, struct bw_str s)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s.p;
	if (bw_buf_append_byte(b, '"') < 0)
		return -1;
	size_t run = 0; /* start of the pending run of literal bytes */
	for (size_t i = 0; i < s.len;) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t k = utf8_seq(p + i, s.len - i);
			if (k == 0)
				return -1;
			i += k;
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (bw_buf_append(b, p + run, i - run) < 0)
			return -1;
		char esc[7] = { '\\', 0, 0, 0, 0, 0, 0 };
		size_t elen = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\t': esc[1] = 't'; break;
		case '\n': esc[1] = 'n'; break;
		case '\f': esc[1] = 'f'; break;
		case '\r': esc[1] = 'r'; break;
		default:
			/* RFC 8785 §3.2.2.2: other controls as \u00xx in
			 * lower-case hex. */
			esc[1] = 'u', esc[2] = '0', esc[3] = '0';
			esc[4] = hexd[c >> 4], esc[5] = hexd[c & 15];
			elen = 6;
			break;
		}
		if (bw_buf_append(b, esc, elen) < 0)
			return -1;
		i++;
		run = i;
	}
	if (bw_buf_append(b, p + run, s.len - run) < 0)
		return -1;
	return bw_buf_append_byte(b, '"');
}

static const struct json_limits details_limits = {
	.max_bytes = AUDIT_DETAILS_MAX,
	.max_depth = AUDIT_DETAILS_DEPTH,
	.max_string = AUDIT_DETAILS_MAX,
	.max_members = AUDIT_DETAILS_MEMBERS,
	.dup = JSON_DUP_REJECT,
};

static int append_details(struct bw_buf *b, struct bw_str d,
			  struct bw_err *err)
{
	if (d.p == NULL)
		return bw_buf_append_str(b, "{}") < 0
			       ? bw_err_set(err, 413, "audit", "too_large",
					    "record line too long")
			       : 0;
	if (d.len > AUDIT_DETAILS_MAX)
		return bw_err_set(err, 413, "audit", "details_too_large",
				  "details are %zu bytes, limit %u", d.len,
				  AUDIT_DETAILS_MAX);
	struct bw_arena *a = bw_arena_new(16384, (size_t)AUDIT_DETAILS_MAX * 8);
	if (!a)
		return bw_err_set(err, 500, "audit", "nomem", "out of memory");
	int rc = -1;
	struct bw_err jerr = { 0 };
	struct json_value *v = json_parse(a, d.p, d.len, &details_limits, &jerr);
	if (!v) {
		bw_err_set(err, jerr.code == 413 ? 413 : 400, "audit",
			   "details", "details: %s", jerr.msg);
		goto out;
	}
	if (v->type != JSON_OBJECT) {
		bw_err_set(err, 400, "audit", "details",
			   "details must be a JSON object");
		goto out;
	}
	if (json_canonicalize(v, b) < 0) {
		bw_err_set(err, 413, "audit", "too_large",
			   "record line too long (or details not "
			   "representable canonically)");
		goto out;
	}
	rc = 0;
out:
	bw_arena_free(a);
	return rc;
}

int audit_prep_record(const struct audit_record *rec, size_t line_max,
		      struct audit_prep *p, struct bw_err *err)
{
	if (record_fields_check(rec, err) < 0)
		return -1;
	if (line_max <= AUDIT_PREP_OVERHEAD)
		return bw_err_set(err, 400, "audit", "line_max",
				  "line_max too small");
	bw_buf_reset(&p->buf);
	p->buf.max = line_max - AUDIT_PREP_OVERHEAD;
	struct bw_buf *b = &p->buf;
	bool ok = bw_buf_append_str(b, "{\"action\":") == 0 &&
		  audit_jcs_string(b, rec->action) == 0 &&
		  bw_buf_append_str(b, ",\"actor\":{\"id\":") == 0 &&
		  audit_jcs_string(b, nz(rec->actor.id)) == 0 &&
		  bw_buf_append_str(b, ",\"ip\":") == 0 &&
		  audit_jcs_string(b, nz(rec->actor.ip)) == 0 &&
		  bw_buf_append_str(b, ",\"kind\":\"") == 0 &&
		  bw_buf_append_str(b, audit_actor_kind_name(rec->actor.kind)) ==
			  0 &&
		  bw_buf_append_str(b, "\",\"tenant\":") == 0 &&
		  audit_jcs_string(b, nz(rec->actor.tenant)) == 0 &&
		  bw_buf_append_str(b, "},\"details\":") == 0;
	if (!ok)
		return bw_err_set(err, 413, "audit", "too_large",
				  "record line too long");
	if (append_details(b, rec->details, err) < 0)
		return -1;
	ok = bw_buf_append_str(b, ",\"outcome\":\"") == 0 &&
	     bw_buf_append_str(b, audit_outcome_name(rec->outcome)) == 0 &&
	     bw_buf_append_byte(b, '"') == 0;
	p->a = b->len;
	ok = ok && bw_buf_append_str(b, ",\"request_id\":") == 0 &&
	     audit_jcs_string(b, nz(rec->request_id)) == 0;
	p->b = b->len;
	ok = ok && bw_buf_append_str(b, ",\"target\":") == 0 &&
	     audit_jcs_string(b, nz(rec->target)) == 0;
	if (!ok)
		return bw_err_set(err, 413, "audit", "too_large",
				  "record line too long");
	return 0;
}

int audit_line_build(struct bw_buf *out, const struct audit_prep *p,
		     uint64_t seq, int64_t time_ms,
		     const uint8_t prev[AUDIT_HASH_LEN])
{
	char hex[2 * AUDIT_HASH_LEN + 1], ts[32];
	bw_hex_encode(prev, AUDIT_HASH_LEN, hex);
	audit_time_format(time_ms, ts);
	const char *d = p->buf.data;
	if (bw_buf_append(out, d, p->a) < 0 ||
	    bw_buf_printf(out, ",\"prev\":\"%s\"", hex) < 0 ||
	    bw_buf_append(out, d + p->a, p->b - p->a) < 0 ||
	    bw_buf_printf(out, ",\"seq\":%llu", (unsigned long long)seq) < 0 ||
	    bw_buf_append(out, d + p->b, p->buf.len - p->b) < 0 ||
	    bw_buf_printf(out, ",\"time\":\"%s\",\"type\":\"record\"}\n", ts) <
		    0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- STH */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void audit_sth_message(uint64_t tree_size, int64_t time_ms,
		       const uint8_t root[AUDIT_HASH_LEN],
		       uint8_t msg[AUDIT_STH_MSG_LEN])
{
	memcpy(msg, AUDIT_STH_LABEL, sizeof(AUDIT_STH_LABEL)); /* with NUL */
	put_be64(msg + sizeof(AUDIT_STH_LABEL), tree_size);
	put_be64(msg + sizeof(AUDIT_STH_LABEL) + 8, (uint64_t)time_ms);
	memcpy(msg + sizeof(AUDIT_STH_LABEL) + 16, root, AUDIT_HASH_LEN);
}

int audit_sth_line_build(struct bw_buf *out, uint64_t tree_size,
			 int64_t time_ms, const uint8_t root[AUDIT_HASH_LEN],
			 const uint8_t pubkey[AUDIT_PUBKEY_LEN],
			 const uint8_t sig[AUDIT_SIG_LEN])
{
	char pk[2 * AUDIT_PUBKEY_LEN + 1], rh[2 * AUDIT_HASH_LEN + 1];
	char sg[2 * AUDIT_SIG_LEN + 1], ts[32];
	bw_hex_encode(pubkey, AUDIT_PUBKEY_LEN, pk);
	bw_hex_encode(root, AUDIT_HASH_LEN, rh);
	bw_hex_encode(sig, AUDIT_SIG_LEN, sg);
	audit_time_format(time_ms, ts);
	return bw_buf_printf(out,
			     "{\"pubkey\":\"%s\",\"root_hash\":\"%s\","
			     "\"sig\":\"%s\",\"time\":\"%s\",\"tree_size\":%llu,"
			     "\"type\":\"sth\"}\n",
			     pk, rh, sg, ts, (unsigned long long)tree_size);
}

/* ------------------------------------------------------------- reading */

static const struct json_limits line_limits = {
	.max_bytes = AUDIT_LINE_MAX_HARD,
	.max_depth = AUDIT_LINE_DEPTH,
	.max_string = AUDIT_LINE_MAX_HARD,
	.max_members = AUDIT_DETAILS_MEMBERS,
	.dup = JSON_DUP_REJECT,
};

static int bad(struct bw_err *err, const char *what)
{
	return bw_err_set(err, 400, "audit", "malformed", "%s", what);
}

/* Exactly these members, every one present: a missing or extra member is
 * malformed (the canonical check alone would accept extras). */
static int members_exactly(const struct json_value *o, const char *what,
			   const char *const *names, size_t n,
			   struct bw_err *err)
{
	if (o->u.obj.n != n)
		return bw_err_set(err, 400, "audit", "malformed",
				  "%s has the wrong number of members", what);
	for (size_t i = 0; i < n; i++)
		if (!json_get(o, names[i]))
			return bw_err_set(err, 400, "audit", "malformed",
					  "member \"%s\" missing", names[i]);
	return 0;
}

static bool get_str(const struct json_value *o, const char *k,
		    struct bw_str *out)
{
	const struct json_value *v = json_get(o, k);
	if (!v || v->type != JSON_STRING)
		return false;
	*out = v->u.str;
	return true;
}

static bool get_count(const struct json_value *o, const char *k, uint64_t *out)
{
	const struct json_value *v = json_get(o, k);
	if (!v || v->type != JSON_NUMBER || !v->u.num.is_int ||
	    v->u.num.i < 0 || (uint64_t)v->u.num.i > AUDIT_SEQ_MAX)
		return false;
	*out = (uint64_t)v->u.num.i;
	return true;
}

static bool enum_of(struct bw_str s, const char *(*name)(int), int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (bw_str_eq_lit(s, name(i))) {
			*out = i;
			return true;
		}
	return false;
}

static const char *outcome_n(int i)
{
	return audit_outcome_name((enum audit_outcome)i);
}

static const char *kind_n(int i)
{
	return audit_actor_kind_name((enum audit_actor_kind)i);
}

static int parse_record(const struct json_value *o, struct audit_line *out,
			struct bw_err *err)
{
	static const char *const names[] = { "action", "actor",   "details",
					     "outcome", "prev",   "request_id",
					     "seq",    "target",  "time",
					     "type" };
	static const char *const anames[] = { "id", "ip", "kind", "tenant" };
	if (members_exactly(o, "record", names, BW_ARRAY_LEN(names), err) < 0)
		return -1;
	struct audit_record *r = &out->rec;
	struct bw_str s;
	int e;
	if (!get_count(o, "seq", &out->seq))
		return bad(err, "seq must be an integer in [0, 2^53)");
	if (!get_str(o, "prev", &s) ||
	    !audit_hex_parse(s, out->prev, AUDIT_HASH_LEN))
		return bad(err, "prev must be 64 lower-case hex digits");
	if (!get_str(o, "time", &s) || audit_time_parse(s, &out->time_ms) < 0)
		return bad(err, "time must be YYYY-MM-DDTHH:MM:SS.mmmZ");
	if (!get_str(o, "action", &r->action) ||
	    !get_str(o, "target", &r->target) ||
	    !get_str(o, "request_id", &r->request_id))
		return bad(err, "action, target and request_id must be strings");
	if (!get_str(o, "outcome", &s) ||
	    !enum_of(s, outcome_n, 3, &e))
		return bad(err, "outcome must be success, failure or denied");
	r->outcome = (enum audit_outcome)e;
	const struct json_value *act = json_get(o, "actor");
	if (act->type != JSON_OBJECT ||
	    members_exactly(act, "actor", anames, BW_ARRAY_LEN(anames),
			    err) < 0)
		return bad(err, "actor must be {id, ip, kind, tenant}");
	if (!get_str(act, "id", &r->actor.id) ||
	    !get_str(act, "ip", &r->actor.ip) ||
	    !get_str(act, "tenant", &r->actor.tenant))
		return bad(err, "actor id, ip and tenant must be strings");
	if (!get_str(act, "kind", &s) || !enum_of(s, kind_n, 3, &e))
		return bad(err, "actor kind must be system, user or key");
	r->actor.kind = (enum audit_actor_kind)e;
	const struct json_value *det = json_get(o, "details");
	if (det->type != JSON_OBJECT)
		return bad(err, "details must be an object");
	r->details = bw_str_make(NULL, 0); /* the tree is in the arena */
	struct bw_err ferr = { 0 };
	if (record_fields_check(r, &ferr) < 0)
		return bw_err_set(err, 400, "audit", "malformed", "%s (%s)",
				  ferr.msg, ferr.reason);
	return 0;
}

static int parse_sth(const struct json_value *o, struct audit_line *out,
		     struct bw_err *err)
{
	static const char *const names[] = { "pubkey", "root_hash", "sig",
					     "time",   "tree_size", "type" };
	if (members_exactly(o, "sth", names, BW_ARRAY_LEN(names), err) < 0)
		return -1;
	struct bw_str s;
	if (!get_count(o, "tree_size", &out->tree_size))
		return bad(err, "tree_size must be an integer in [0, 2^53)");
	if (!get_str(o, "root_hash", &s) ||
	    !audit_hex_parse(s, out->root, AUDIT_HASH_LEN))
		return bad(err, "root_hash must be 64 lower-case hex digits");
	if (!get_str(o, "pubkey", &s) ||
	    !audit_hex_parse(s, out->pubkey, AUDIT_PUBKEY_LEN))
		return bad(err, "pubkey must be 64 lower-case hex digits");
	if (!get_str(o, "sig", &s) ||
	    !audit_hex_parse(s, out->sig, AUDIT_SIG_LEN))
		return bad(err, "sig must be 128 lower-case hex digits");
	if (!get_str(o, "time", &s) || audit_time_parse(s, &out->time_ms) < 0)
		return bad(err, "time must be YYYY-MM-DDTHH:MM:SS.mmmZ");
	return 0;
}

int audit_line_parse(struct bw_arena *a, const char *p, size_t len,
		     struct audit_line *out, struct bw_err *err)
{
	struct bw_buf scratch;
	bw_buf_init(&scratch, (size_t)AUDIT_LINE_MAX_HARD + 1);
	int rc = audit_line_parse_scratch(a, p, len, out, &scratch, err);
	bw_buf_fini(&scratch);
	return rc;
}

int audit_line_parse_scratch(struct bw_arena *a, const char *p, size_t len,
			     struct audit_line *out, struct bw_buf *canon,
			     struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (len > AUDIT_LINE_MAX_HARD)
		return bw_err_set(err, 413, "audit", "too_large",
				  "line of %zu bytes exceeds %u", len,
				  AUDIT_LINE_MAX_HARD);
	/* Canonical lines start with '{' and contain no whitespace outside
	 * strings, so reject the obvious cases before building a tree. */
	if (len == 0 || p[0] != '{' || p[len - 1] != '}')
		return bw_err_set(err, 400, "audit", "malformed",
				  "line is not a JSON object");
	struct bw_err jerr = { 0 };
	struct json_value *v = json_parse(a, p, len, &line_limits, &jerr);
	if (!v)
		return bw_err_set(err, jerr.code == 413 ? 413 : 400, "audit",
				  jerr.code == 413 ? "too_large" : "malformed",
				  "invalid JSON: %s", jerr.msg);
	if (v->type != JSON_OBJECT)
		return bw_err_set(err, 400, "audit", "malformed",
				  "line is not a JSON object");
	struct bw_str type;
	if (!get_str(v, "type", &type))
		return bad(err, "member \"type\" missing or not a string");
	int rc;
	if (bw_str_eq_lit(type, "record")) {
		out->type = AUDIT_LINE_RECORD;
		rc = parse_record(v, out, err);
	} else if (bw_str_eq_lit(type, "sth")) {
		out->type = AUDIT_LINE_STH;
		rc = parse_sth(v, out, err);
	} else {
		rc = bad(err, "unknown line type (not record or sth)");
	}
	if (rc < 0)
		return -1;
	/* Byte-for-byte canonical: the hash covers exactly these bytes, and
	 * any other spelling of the same JSON would be a second valid
	 * encoding an attacker could swap in unnoticed by a JSON reader. */
	bw_buf_reset(canon);
	canon->max = (size_t)AUDIT_LINE_MAX_HARD + 1;
	if (json_canonicalize(v, canon) < 0 || canon->len != len ||
	    memcmp(canon->data, p, len) != 0) {
		size_t at = 0;
		while (at < len && at < canon->len && canon->data[at] == p[at])
			at++;
		return bw_err_set(err, 400, "audit", "not_canonical",
				  "line is not in RFC 8785 canonical form "
				  "(first difference at byte %zu)",
				  at);
	}
	return 0;
}
