/*
 * The normalised event: field table, setters, conversion from the
 * foundation's struct bw_event, and ECS JSON output and input.
 *
 * Invariants: an absent field has p == NULL; every string an event points
 * to lives in its arena or in memory the caller promised outlives it; at
 * most SIEM_MAX_LABELS labels, the rest counted in labels_dropped. JSON
 * output groups dotted names into nested objects, which works because the
 * output order (names sorted) keeps every shared prefix contiguous.
 */
#include "siem/siem_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "event/event.h"
#include "json/json.h"

struct field_def {
	const char *name;
	bool numeric;
};

static const struct field_def fields[SIEM_F__COUNT] = {
	[SIEM_F_MESSAGE] = { "message", false },
	[SIEM_F_EVENT_ORIGINAL] = { "event.original", false },
	[SIEM_F_EVENT_KIND] = { "event.kind", false },
	[SIEM_F_EVENT_CATEGORY] = { "event.category", false },
	[SIEM_F_EVENT_TYPE] = { "event.type", false },
	[SIEM_F_EVENT_ACTION] = { "event.action", false },
	[SIEM_F_EVENT_OUTCOME] = { "event.outcome", false },
	[SIEM_F_EVENT_SEVERITY] = { "event.severity", true },
	[SIEM_F_EVENT_DATASET] = { "event.dataset", false },
	[SIEM_F_EVENT_MODULE] = { "event.module", false },
	[SIEM_F_EVENT_CODE] = { "event.code", false },
	[SIEM_F_EVENT_REASON] = { "event.reason", false },
	[SIEM_F_EVENT_ID] = { "event.id", false },
	[SIEM_F_SOURCE_IP] = { "source.ip", false },
	[SIEM_F_SOURCE_PORT] = { "source.port", true },
	[SIEM_F_SOURCE_DOMAIN] = { "source.domain", false },
	[SIEM_F_DESTINATION_IP] = { "destination.ip", false },
	[SIEM_F_DESTINATION_PORT] = { "destination.port", true },
	[SIEM_F_DESTINATION_DOMAIN] = { "destination.domain", false },
	[SIEM_F_USER_NAME] = { "user.name", false },
	[SIEM_F_USER_EFFECTIVE_NAME] = { "user.effective.name", false },
	[SIEM_F_USER_TARGET_NAME] = { "user.target.name", false },
	[SIEM_F_GROUP_NAME] = { "group.name", false },
	[SIEM_F_HOST_NAME] = { "host.name", false },
	[SIEM_F_PROCESS_NAME] = { "process.name", false },
	[SIEM_F_PROCESS_PID] = { "process.pid", true },
	[SIEM_F_PROCESS_EXECUTABLE] = { "process.executable", false },
	[SIEM_F_PROCESS_COMMAND_LINE] = { "process.command_line", false },
	[SIEM_F_PROCESS_WORKING_DIRECTORY] = { "process.working_directory",
					       false },
	[SIEM_F_HTTP_REQUEST_METHOD] = { "http.request.method", false },
	[SIEM_F_HTTP_REQUEST_REFERRER] = { "http.request.referrer", false },
	[SIEM_F_HTTP_REQUEST_ID] = { "http.request.id", false },
	[SIEM_F_HTTP_RESPONSE_STATUS_CODE] = { "http.response.status_code",
					       true },
	[SIEM_F_HTTP_RESPONSE_BODY_BYTES] = { "http.response.body.bytes", true },
	[SIEM_F_HTTP_VERSION] = { "http.version", false },
	[SIEM_F_URL_ORIGINAL] = { "url.original", false },
	[SIEM_F_URL_PATH] = { "url.path", false },
	[SIEM_F_URL_QUERY] = { "url.query", false },
	[SIEM_F_USER_AGENT_ORIGINAL] = { "user_agent.original", false },
	[SIEM_F_NETWORK_TRANSPORT] = { "network.transport", false },
	[SIEM_F_NETWORK_PROTOCOL] = { "network.protocol", false },
	[SIEM_F_OBSERVER_HOSTNAME] = { "observer.hostname", false },
	[SIEM_F_OBSERVER_IP] = { "observer.ip", false },
	[SIEM_F_OBSERVER_VENDOR] = { "observer.vendor", false },
	[SIEM_F_OBSERVER_PRODUCT] = { "observer.product", false },
	[SIEM_F_OBSERVER_VERSION] = { "observer.version", false },
	[SIEM_F_OBSERVER_INGRESS_INTERFACE] = {
		"observer.ingress.interface.name", false },
	[SIEM_F_OBSERVER_EGRESS_INTERFACE] = {
		"observer.egress.interface.name", false },
	[SIEM_F_RULE_NAME] = { "rule.name", false },
	[SIEM_F_LOG_SYSLOG_FACILITY] = { "log.syslog.facility.code", true },
	[SIEM_F_LOG_SYSLOG_SEVERITY] = { "log.syslog.severity.code", true },
	[SIEM_F_LOG_SYSLOG_MSGID] = { "log.syslog.msgid", false },
	[SIEM_F_TENANT] = { "tenant", false },
};

/* Field ids sorted by name: lookups bisect it, JSON output walks it. */
static uint8_t by_name[SIEM_F__COUNT];
static void seg_init(void);
static pthread_once_t by_name_once = PTHREAD_ONCE_INIT;

static int cmp_field(const void *a, const void *b)
{
	return strcmp(fields[*(const uint8_t *)a].name,
		      fields[*(const uint8_t *)b].name);
}

static void by_name_init(void)
{
	for (unsigned i = 0; i < SIEM_F__COUNT; i++)
		by_name[i] = (uint8_t)i;
	qsort(by_name, SIEM_F__COUNT, 1, cmp_field);
	seg_init();
}

const char *siem_field_name(enum siem_field f)
{
	return (unsigned)f < SIEM_F__COUNT ? fields[f].name : "?";
}

bool siem_field_numeric(enum siem_field f)
{
	return (unsigned)f < SIEM_F__COUNT && fields[f].numeric;
}

int siem_field_by_name(const char *name, size_t len)
{
	pthread_once(&by_name_once, by_name_init);
	size_t lo = 0, hi = SIEM_F__COUNT;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *n = fields[by_name[mid]].name;
		size_t nl = strlen(n);
		int c = memcmp(n, name, nl < len ? nl : len);
		if (c == 0)
			c = nl < len ? -1 : (nl > len ? 1 : 0);
		if (c == 0)
			return by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void siem_event_init(struct siem_event *ev, struct bw_arena *arena)
{
	memset(ev, 0, sizeof(*ev));
	ev->arena = arena;
}

void siem_event_set(struct siem_event *ev, enum siem_field f, const char *p,
		    size_t len)
{
	ev->f[f] = p ? bw_str_make(p, len) : bw_str_make(NULL, 0);
}

void siem_event_setz(struct siem_event *ev, enum siem_field f, const char *s)
{
	siem_event_set(ev, f, s, s ? strlen(s) : 0);
}

int siem_event_setc(struct siem_event *ev, enum siem_field f, const char *p,
		    size_t len)
{
	char *c = bw_arena_strndup(ev->arena, p ? p : "", len);
	if (!c)
		return -1;
	siem_event_set(ev, f, c, len);
	return 0;
}

int siem_event_setu(struct siem_event *ev, enum siem_field f, uint64_t v)
{
	/* parsers call this for every syslog PRI: no printf on that path */
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return siem_event_setc(ev, f, tmp + i, sizeof(tmp) - i);
}

int siem_event_label(struct siem_event *ev, const char *k, size_t klen,
		     const char *v, size_t vlen)
{
	if (ev->nlabels >= SIEM_MAX_LABELS) {
		if (ev->labels_dropped < UINT16_MAX)
			ev->labels_dropped++;
		return -1;
	}
	if (ev->nlabels == ev->labels_cap) {
		/* most events carry a handful of labels: start small (a
		 * 64-entry array per event made every batch's arena 2 KiB an
		 * event larger, in page faults and cache misses) */
		uint16_t cap = ev->labels_cap ? (uint16_t)(ev->labels_cap * 2) : 8;
		if (cap > SIEM_MAX_LABELS)
			cap = SIEM_MAX_LABELS;
		struct siem_label *l = bw_arena_alloc(ev->arena, cap * sizeof(*l));
		if (!l) {
			if (ev->labels_dropped < UINT16_MAX)
				ev->labels_dropped++;
			return -1;
		}
		if (ev->nlabels)
			memcpy(l, ev->labels, ev->nlabels * sizeof(*l));
		ev->labels = l;
		ev->labels_cap = cap;
	}
	ev->labels[ev->nlabels].key = bw_str_make(k, klen);
	ev->labels[ev->nlabels].value = bw_str_make(v, vlen);
	ev->nlabels++;
	return 0;
}

struct bw_str siem_event_label_get(const struct siem_event *ev, const char *k,
				   size_t klen)
{
	for (size_t i = 0; i < ev->nlabels; i++)
		if (ev->labels[i].key.len == klen &&
		    memcmp(ev->labels[i].key.p, k, klen) == 0)
			return ev->labels[i].value;
	return bw_str_make(NULL, 0);
}

/* ------------------------------------------------------------ from bw */

static int copy_field(struct siem_event *ev, enum siem_field f, const char *s)
{
	if (!s || !*s)
		return 0;
	return siem_event_setc(ev, f, s, strlen(s));
}

int siem_event_from_bw(const struct bw_event *in, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err)
{
	siem_event_init(ev, a);
	ev->ts_ns = in->time_ns ? in->time_ns : bw_clock_now_ns();
	siem_event_setz(ev, SIEM_F_EVENT_KIND, "event");
	siem_event_setz(ev, SIEM_F_EVENT_MODULE, "bulwark");
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "bulwark");
	if (in->outcome != BW_OUTCOME_UNKNOWN)
		siem_event_setz(ev, SIEM_F_EVENT_OUTCOME,
				bw_outcome_name(in->outcome));
	if (copy_field(ev, SIEM_F_EVENT_CATEGORY, in->category) < 0 ||
	    copy_field(ev, SIEM_F_EVENT_ACTION, in->action) < 0 ||
	    copy_field(ev, SIEM_F_TENANT, in->tenant) < 0 ||
	    copy_field(ev, SIEM_F_USER_NAME, in->user) < 0 ||
	    copy_field(ev, SIEM_F_SOURCE_IP, in->source_ip) < 0 ||
	    copy_field(ev, SIEM_F_DESTINATION_IP, in->dest_ip) < 0 ||
	    copy_field(ev, SIEM_F_HTTP_REQUEST_ID, in->request_id) < 0 ||
	    copy_field(ev, SIEM_F_MESSAGE, in->message) < 0 ||
	    siem_event_setu(ev, SIEM_F_EVENT_SEVERITY, in->severity) < 0)
		goto mem;
	if (in->source_port &&
	    siem_event_setu(ev, SIEM_F_SOURCE_PORT, in->source_port) < 0)
		goto mem;
	if (in->dest_port &&
	    siem_event_setu(ev, SIEM_F_DESTINATION_PORT, in->dest_port) < 0)
		goto mem;
	for (unsigned i = 0; i < in->nfields && i < EVENT_MAX_FIELDS; i++) {
		const struct bw_event_field *fl = &in->fields[i];
		size_t kl = strnlen(fl->key, sizeof(fl->key));
		size_t vl = strnlen(fl->value, sizeof(fl->value));
		int id = siem_field_by_name(fl->key, kl);
		if (id < 0 && kl == 6 && memcmp(fl->key, "reason", 6) == 0)
			id = SIEM_F_EVENT_REASON;
		if (id >= 0) {
			if (siem_event_setc(ev, (enum siem_field)id, fl->value,
					    vl) < 0)
				goto mem;
			continue;
		}
		char *k = bw_arena_strndup(a, fl->key, kl);
		char *v = bw_arena_strndup(a, fl->value, vl);
		if (!k || !v)
			goto mem;
		(void)siem_event_label(ev, k, kl, v, vl);
	}
	return 0;
mem:
	return SIEM_ERR(err, 500, "memory", "event arena exhausted");
}

/* -------------------------------------------------------- JSON output */

static bool is_int_text(struct bw_str s)
{
	if (s.len == 0 || s.len > 18)
		return false;
	size_t i = (s.p[0] == '-') ? 1 : 0;
	if (i == s.len)
		return false;
	if (s.p[i] == '0' && s.len > i + 1)
		return false;
	for (; i < s.len; i++)
		if (!siem_isdigit(s.p[i]))
			return false;
	return true;
}

/*
 * The writer below is the storage hot path (one document per stored
 * event), so it writes straight into the buffer: field names are split
 * into their dotted segments once (seg_init), every value reserves its
 * worst case once (6 bytes per input byte: a control character becomes
 * \u00XX) and strings are scanned 8 bytes at a time, falling back to one
 * byte at a time only for chunks holding a quote, backslash, control
 * character or non-ASCII byte. The escaping is RFC 8785's minimal one,
 * as src/json writes it, with U+FFFD for bytes that are not UTF-8, so the
 * output reads back with any JSON parser (siem_event_from_json, fuzzed).
 */
struct seg_def {
	uint8_t n;
	uint8_t off[8], len[8];
};
static struct seg_def segs[SIEM_F__COUNT];

static void seg_init(void)
{
	for (unsigned f = 0; f < SIEM_F__COUNT; f++) {
		const char *name = fields[f].name;
		struct seg_def *d = &segs[f];
		size_t s = 0, i = 0;
		for (;; i++) {
			if (name[i] != '.' && name[i] != '\0')
				continue;
			d->off[d->n] = (uint8_t)s;
			d->len[d->n] = (uint8_t)(i - s);
			d->n++;
			if (name[i] == '\0' || d->n == BW_ARRAY_LEN(d->off))
				break;
			s = i + 1;
		}
	}
}

/* Length of the UTF-8 sequence at p (at most n bytes), 0 when it is not
 * well-formed (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t l;
	unsigned lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		l = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		l = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		l = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < l || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < l; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return l;
}

/* True when the 8 bytes hold a byte that needs a look: < 0x20, '"',
 * '\\' or >= 0x80 (exact: the has-less-than and has-zero tricks never
 * miss such a byte; a false alarm only costs the slow path). */
static inline bool chunk_special(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	uint64_t t = ((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x;
	return ((t | x) & high) != 0;
}

/* Appends the JSON string (p, n) with its quotes; room for 6n+2 bytes must
 * have been reserved. Returns the new end. */
static char *put_str(char *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	*o++ = '"';
	while (p < end) {
		if (end - p >= 8) {
			uint64_t x;
			memcpy(&x, p, 8);
			if (!chunk_special(x)) {
				memcpy(o, p, 8);
				o += 8;
				p += 8;
				continue;
			}
		}
		/* one byte (or one UTF-8 sequence) at a time, up to the
		 * end of this 8-byte window */
		const unsigned char *stop = end - p > 8 ? p + 8 : end;
		while (p < stop) {
			unsigned c = *p;
			if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
				*o++ = (char)c;
				p++;
				continue;
			}
			if (c >= 0x80) {
				size_t l = utf8_seq(p, (size_t)(end - p));
				if (l) {
					memcpy(o, p, l);
					o += l;
					p += l;
				} else {
					memcpy(o, "\xEF\xBF\xBD", 3);
					o += 3;
					p++;
				}
				continue;
			}
			*o++ = '\\';
			switch (c) {
			case '"': *o++ = '"'; break;
			case '\\': *o++ = '\\'; break;
			case '\b': *o++ = 'b'; break;
			case '\f': *o++ = 'f'; break;
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			default:
				memcpy(o, "u00", 3);
				o[3] = hex[c >> 4];
				o[4] = hex[c & 15];
				o += 5;
				break;
			}
			p++;
		}
	}
	*o++ = '"';
	return o;
}

/* bw_time_format, with the text up to the seconds remembered per thread:
 * the events of a batch mostly share their second, and gmtime plus
 * printf per event showed in profiles. */
static size_t time_text(int64_t ns, char out[32])
{
	static _Thread_local int64_t sec = INT64_MIN;
	static _Thread_local char head[20]; /* "YYYY-MM-DDTHH:MM:SS." */
	int64_t s = ns / 1000000000LL, ms = (ns % 1000000000LL) / 1000000LL;
	if (ms < 0) {
		ms += 1000;
		s--;
	}
	if (s != sec) {
		size_t n = bw_time_format(ns, out);
		if (n != 24) /* years past 9999 or before 0: no shortcut */
			return n;
		memcpy(head, out, 20);
		sec = s;
		return n;
	}
	memcpy(out, head, 20);
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
	return 24;
}

/* Room for n more bytes at the end of out, or NULL past its ceiling. */
static char *room(struct bw_buf *out, size_t n)
{
	return bw_buf_reserve(out, n) < 0 ? NULL : out->data + out->len;
}

/* Reserves for a key of kn bytes plus a value of vn bytes (worst cases)
 * and the punctuation around them. */
static char *room_kv(struct bw_buf *out, size_t kn, size_t vn)
{
	size_t need;
	if (__builtin_mul_overflow(vn + kn, 6, &need) ||
	    __builtin_add_overflow(need, 16, &need))
		return NULL;
	return room(out, need);
}

int siem_event_write_json(const struct siem_event *ev, struct bw_buf *out)
{
	pthread_once(&by_name_once, by_name_init);
	size_t start = out->len;
	char *o = room(out, 64);
	if (!o)
		return -1;
	char ts[32];
	size_t tl = time_text(ev->ts_ns, ts);
	memcpy(o, "{\"@timestamp\":\"", 15);
	memcpy(o + 15, ts, tl);
	o += 15 + tl;
	*o++ = '"';
	out->len = (size_t)(o - out->data);

	/* open[] holds the field whose segments are the objects now open */
	int open_f = -1;
	size_t nopen = 0;
	for (unsigned k = 0; k < SIEM_F__COUNT; k++) {
		enum siem_field f = by_name[k];
		struct bw_str v = ev->f[f];
		if (!v.p)
			continue;
		const char *name = fields[f].name;
		const struct seg_def *sd = &segs[f];
		size_t common = 0;
		if (open_f >= 0) {
			const struct seg_def *od = &segs[open_f];
			const char *oname = fields[open_f].name;
			while (common < nopen && common + 1 < sd->n &&
			       od->len[common] == sd->len[common] &&
			       memcmp(oname + od->off[common], name + sd->off[common],
				      sd->len[common]) == 0)
				common++;
		}
		if (!(o = room_kv(out, strlen(name) + 2 * sd->n + nopen, v.len)))
			goto fail;
		for (; nopen > common; nopen--)
			*o++ = '}';
		*o++ = ',';
		for (; nopen + 1 < sd->n; nopen++) {
			*o++ = '"';
			memcpy(o, name + sd->off[nopen], sd->len[nopen]);
			o += sd->len[nopen];
			memcpy(o, "\":{", 3);
			o += 3;
		}
		open_f = (int)f;
		size_t last = sd->n - 1u;
		*o++ = '"';
		memcpy(o, name + sd->off[last], sd->len[last]);
		o += sd->len[last];
		*o++ = '"';
		*o++ = ':';
		if (f == SIEM_F_EVENT_CATEGORY || f == SIEM_F_EVENT_TYPE) {
			*o++ = '[';
			o = put_str(o, v.p, v.len);
			*o++ = ']';
		} else if (fields[f].numeric && is_int_text(v)) {
			/* is_int_text admits canonical integers only; "-0"
			 * is the one text JSON writes differently */
			if (v.len == 2 && v.p[0] == '-' && v.p[1] == '0') {
				*o++ = '0';
			} else {
				memcpy(o, v.p, v.len);
				o += v.len;
			}
		} else {
			o = put_str(o, v.p, v.len);
		}
		out->len = (size_t)(o - out->data);
	}
	if (!(o = room(out, 16)))
		goto fail;
	for (; nopen > 0; nopen--)
		*o++ = '}';
	out->len = (size_t)(o - out->data);
	if (ev->nlabels) {
		if (!(o = room(out, 16)))
			goto fail;
		memcpy(o, ",\"labels\":{", 11);
		o += 11;
		out->len = (size_t)(o - out->data);
		bool first = true;
		for (size_t i = 0; i < ev->nlabels; i++) {
			/* JSON objects should not repeat keys; keep the
			 * first of a repeated label, as lookups do */
			bool dup = false;
			for (size_t j = 0; j < i && !dup; j++)
				dup = bw_str_eq(ev->labels[j].key, ev->labels[i].key);
			if (dup)
				continue;
			/* label keys are ours to name: one longer than 255
			 * bytes is cut */
			size_t kl = ev->labels[i].key.len < 255 ? ev->labels[i].key.len : 255;
			if (!(o = room_kv(out, kl, ev->labels[i].value.len)))
				goto fail;
			if (!first)
				*o++ = ',';
			first = false;
			o = put_str(o, ev->labels[i].key.p, kl);
			*o++ = ':';
			o = put_str(o, ev->labels[i].value.p, ev->labels[i].value.len);
			out->len = (size_t)(o - out->data);
		}
		if (!(o = room(out, 2)))
			goto fail;
		*o++ = '}';
		out->len = (size_t)(o - out->data);
	}
	if (!(o = room(out, 2)))
		goto fail;
	*o++ = '}';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0'; /* struct bw_buf keeps data terminated */
	return 0;
fail:
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	return -1;
}

/* --------------------------------------------------------- JSON input */

struct jin {
	struct siem_event *ev;
	struct bw_arena *a;
	struct bw_err *err;
	char path[256];
};

static int jin_scalar_text(struct jin *j, const struct json_value *v,
			   struct bw_str *out)
{
	switch (v->type) {
	case JSON_STRING:
		*out = v->u.str; /* already in the arena */
		return 1;
	case JSON_NUMBER:
		*out = v->u.num.raw;
		return 1;
	case JSON_TRUE:
		*out = BW_STR("true");
		return 1;
	case JSON_FALSE:
		*out = BW_STR("false");
		return 1;
	case JSON_ARRAY:
		/* ECS keyword arrays (event.category): first item */
		if (v->u.arr.n > 0)
			return jin_scalar_text(j, v->u.arr.items[0], out);
		return 0;
	default:
		return 0;
	}
}

static int jin_leaf(struct jin *j, size_t plen, const struct json_value *v)
{
	struct bw_str s;
	if (!jin_scalar_text(j, v, &s))
		return 0; /* null, empty array: absent */
	if (plen == 10 && memcmp(j->path, "@timestamp", 10) == 0) {
		int64_t t;
		if (v->type == JSON_NUMBER && v->u.num.is_int &&
		    v->u.num.i >= 0 && v->u.num.i < INT64_MAX / 1000000 &&
		    siem_ts_valid(v->u.num.i * 1000000)) {
			j->ev->ts_ns = v->u.num.i * 1000000; /* epoch ms */
			return 0;
		}
		if (v->type != JSON_STRING ||
		    siem_time_parse_rfc3339(s.p, s.len, &t) < 0)
			return SIEM_ERR(j->err, 400, "timestamp",
					"@timestamp is not an RFC 3339 time");
		j->ev->ts_ns = t;
		return 0;
	}
	int id = siem_field_by_name(j->path, plen);
	if (id >= 0) {
		siem_event_set(j->ev, (enum siem_field)id, s.p, s.len);
		return 0;
	}
	const char *k = j->path;
	size_t kl = plen;
	if (plen > 7 && memcmp(j->path, "labels.", 7) == 0)
		k += 7, kl -= 7;
	char *kc = bw_arena_strndup(j->a, k, kl);
	if (!kc)
		return SIEM_ERR(j->err, 500, "memory", "event arena exhausted");
	(void)siem_event_label(j->ev, kc, kl, s.p, s.len);
	return 0;
}

static int jin_walk(struct jin *j, size_t plen, const struct json_value *v,
		    unsigned depth)
{
	if (v->type != JSON_OBJECT)
		return jin_leaf(j, plen, v);
	if (depth > SIEM_JSON_DEPTH_MAX)
		return SIEM_ERR(j->err, 400, "depth",
				"event nests deeper than %u objects",
				SIEM_JSON_DEPTH_MAX);
	for (size_t i = 0; i < v->u.obj.n; i++) {
		const struct json_member *m = &v->u.obj.members[i];
		size_t need = plen + (plen ? 1 : 0) + m->key.len;
		if (need >= sizeof(j->path) || memchr(m->key.p, 0, m->key.len))
			continue; /* unnameable key: ignore, do not fail */
		size_t np = plen;
		if (np)
			j->path[np++] = '.';
		memcpy(j->path + np, m->key.p, m->key.len);
		np += m->key.len;
		j->path[np] = '\0';
		if (jin_walk(j, np, m->value, depth + 1) < 0)
			return -1;
		j->path[plen] = '\0';
	}
	return 0;
}

int siem_event_from_json(const char *p, size_t len, struct bw_arena *a,
			 struct siem_event *ev, struct bw_err *err)
{
	siem_event_init(ev, a);
	ev->ts_ns = bw_clock_now_ns();
	if (len > SIEM_LINE_MAX_HARD)
		return SIEM_ERR(err, 413, "too_large",
				"event of %zu bytes exceeds the limit of %u",
				len, SIEM_LINE_MAX_HARD);
	struct json_limits lim = json_default_limits;
	lim.max_bytes = SIEM_LINE_MAX_HARD;
	lim.max_depth = SIEM_JSON_DEPTH_MAX + 2;
	lim.dup = JSON_DUP_LAST;
	struct bw_err jerr;
	const struct json_value *v = json_parse(a, p, len, &lim, &jerr);
	if (!v) {
		if (jerr.code == 500)
			return SIEM_ERR(err, 500, "memory", "%s", jerr.msg);
		return SIEM_ERR(err, 400, "json", "%s", jerr.msg);
	}
	if (v->type != JSON_OBJECT)
		return SIEM_ERR(err, 400, "not_object",
				"an event must be a JSON object");
	struct jin j = { .ev = ev, .a = a, .err = err };
	return jin_walk(&j, 0, v, 0);
}
