/*
 * siem_doc.c — the compact stored form of an event ("binary document"):
 * what the store keeps per event instead of ECS JSON text, because
 * writing, escaping and storing JSON was the largest share of the cost of
 * ingesting an event, and most of a parsed event's values are substrings
 * of its raw line, which is stored anyway.
 *
 * Layout (all integers LEB128 varints; version 1):
 *
 *   0xEC 0x01                         magic, version
 *   zigzag(ts_ns)  labels_dropped
 *   olen+1 [olen bytes]               event.original; 0 = absent
 *   { field-id value }* 0xFF          every other present field, ascending
 *   nlabels { klen key value }*       labels in order
 *
 *   value := (len << 2 | 1) off       bytes [off, off+len) of the original
 *          | (idx << 2 | 2)           word idx of the dictionary below
 *          | (len << 2)     bytes     a literal
 *   key   := (idx << 1 | 1) | (len << 1) bytes    a label key: word or literal
 *
 * The dictionary holds the words bulwark's parsers set themselves (event
 * categories, actions, datasets...) and the RFC 5424 registered structured
 * data parameters as label keys: a value that is none of the line's bytes
 * is usually one of them. It is part of the format: append only.
 * The writer references the original whenever a value's bytes are the
 * original's bytes at the same offset (a value inside the original, or
 * inside the parser's working copy where nothing was unescaped before it),
 * and writes a literal otherwise. The reader copies the document into the
 * arena once and points every value into that copy, so it allocates once
 * per event and never trusts an offset or length it has not checked.
 *
 * Invariant (tested, fuzzed): siem_event_from_bin(siem_event_write_bin(ev))
 * has exactly ev's timestamp, fields (present/absent, bytes) and labels in
 * order, so its ECS JSON is byte-identical to ev's.
 */
#include <pthread.h>
#include <string.h>

#include "siem/siem_int.h"

#define DOC_MAGIC 0xECu
#define DOC_VERSION 1u
#define DOC_END 0xFFu

/* Writing goes straight into memory reserved once per event (the bound
 * below), not through an append call per value: this runs for every
 * stored event. */
#define VAR_MAX 10 /* bytes of a 64-bit varint */

static inline uint8_t *put_var(uint8_t *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	return o;
}

static const char *const dict[] = {
	/* 0 */ "event", "authentication", "session", "network", "web", "process", "iam",
	"configuration", "host", "file", "intrusion_detection", "malware", "package",
	/* 13 */ "start", "end", "info", "denied", "allowed", "connection", "change",
	"creation", "deletion", "user", "group", "access", "error", "admin",
	/* 27 */ "success", "failure", "unknown",
	/* 30 */ "sshd", "sshd-session", "sshd-auth", "sudo", "pam", "auth", "syslog",
	"web.access", "netfilter", "cef", "leef", "bulwark", "ndjson", "raw", "su",
	"login", "kernel", "cron", "crond", "systemd-logind", "nginx", "httpd", "apache2",
	"useradd", "userdel", "usermod", "groupadd", "groupdel", "passwd", "gpasswd",
	"chage",
	/* 61 */ "ssh_login", "ssh_disconnect", "ssh_connection_closed", "ssh_invalid_user",
	"ssh_no_identification", "ssh_max_auth_exceeded", "ssh_user_not_allowed",
	"ssh_negotiation_failed", "ssh_listening", "ssh_connection", "ssh_bad_banner",
	"ssh_auth_timeout", "session_opened", "session_closed", "password_changed",
	"pam_authentication_failure", "user_created", "user_deleted", "group_created",
	"group_deleted", "user_added_to_group", "sudo_denied", "sudo_auth_failure",
	/* 84 */ "tcp", "udp", "icmp", "ipv6-icmp", "password", "publickey",
	"keyboard-interactive", "root", "platform", "GET", "POST", "HEAD", "PUT", "DELETE",
	"1.1", "2",
	/* 100: label keys */ "ssh.method", "session.id", "tty", "pam.type", "pam.service",
	"pam.module", "netfilter.mac", "sd.origin.software", "sd.origin.swVersion",
	"sd.origin.ip", "sd.origin.enterpriseId", "sd.meta.sequenceId", "sd.meta.sysUpTime",
	"sd.meta.language", "sd.timeQuality.tzKnown", "sd.timeQuality.isSynced",
	"sd.timeQuality.syncAccuracy", "source.geo.country_iso_code", "source.geo.city_name",
	"source.geo.location.lat", "source.geo.location.lon", "threat.indicator",
	"threat.feed", "threat.type",
};

#define DICT_SLOTS 512 /* a power of two, over twice the words */
static int16_t dict_tab[DICT_SLOTS]; /* index + 1, 0 = empty */
static uint8_t dict_len[BW_ARRAY_LEN(dict)];
static pthread_once_t dict_once = PTHREAD_ONCE_INIT;

/* Length and three bytes: cheap for every literal written, and spread
 * enough over the words that probes stay short (the table is sparse). */
static uint32_t dict_hash(const char *p, size_t n)
{
	const uint8_t *u = (const uint8_t *)p;
	uint32_t h = (uint32_t)n * 0x9E3779B1u;
	h ^= (uint32_t)u[0] * 0x85EBCA77u;
	h ^= (uint32_t)u[n / 2] * 0xC2B2AE3Du;
	h ^= (uint32_t)u[n - 1] * 0x27D4EB2Fu;
	return h ^ (h >> 15);
}

static void dict_init(void)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(dict); i++) {
		dict_len[i] = (uint8_t)strlen(dict[i]);
		uint32_t h = dict_hash(dict[i], dict_len[i]) & (DICT_SLOTS - 1);
		while (dict_tab[h])
			h = (h + 1) & (DICT_SLOTS - 1);
		dict_tab[h] = (int16_t)(i + 1);
	}
}

/* a == b over n bytes (1..32): eight bytes at a time, the last word
 * overlapping, instead of a memcmp call for every word looked up. */
static inline bool eq_short(const char *a, const char *b, size_t n)
{
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return false;
		return true;
	}
	uint64_t x, y;
	for (size_t i = 0; i + 8 < n; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			return false;
	}
	memcpy(&x, a + n - 8, 8);
	memcpy(&y, b + n - 8, 8);
	return x == y;
}

/* The dictionary index of v, or -1. */
static int dict_find(struct bw_str v)
{
	if (v.len == 0 || v.len > 32)
		return -1;
	uint32_t h = dict_hash(v.p, v.len) & (DICT_SLOTS - 1);
	for (int16_t e; (e = dict_tab[h]) != 0; h = (h + 1) & (DICT_SLOTS - 1)) {
		if (dict_len[e - 1] == v.len && eq_short(dict[e - 1], v.p, v.len))
			return e - 1;
	}
	return -1;
}

/* How many leading bytes of the parser's working copy still equal the
 * original (a parser unescapes in place, after which bytes move): values
 * that end before it are references without comparing them one by one
 * (a memcmp per value showed in profiles), eight bytes per step. */
static size_t same_prefix(const char *a, const char *b, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			break;
	}
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

static inline uint8_t *put_value(uint8_t *o, struct bw_str v, struct bw_str orig,
				 const char *work, size_t clean)
{
	if (orig.p && v.len > 0) {
		size_t off = SIZE_MAX;
		if (v.p >= orig.p && v.p + v.len <= orig.p + orig.len)
			off = (size_t)(v.p - orig.p);
		else if (work && v.p >= work && v.p + v.len <= work + orig.len &&
			 ((size_t)(v.p - work) + v.len <= clean ||
			  memcmp(orig.p + (v.p - work), v.p, v.len) == 0))
			off = (size_t)(v.p - work);
		if (off != SIZE_MAX)
			return put_var(put_var(o, (uint64_t)v.len << 2 | 1), off);
	}
	int w = dict_find(v);
	if (w >= 0)
		return put_var(o, (uint64_t)w << 2 | 2);
	o = put_var(o, (uint64_t)v.len << 2);
	if (v.len)
		memcpy(o, v.p, v.len);
	return o + v.len;
}

int siem_event_write_bin(const struct siem_event *ev, struct bw_buf *out)
{
	pthread_once(&dict_once, dict_init);
	struct bw_str orig = ev->f[SIEM_F_EVENT_ORIGINAL];
	/* an upper bound of what is written: every value as a literal */
	size_t need = 2 + 4 * VAR_MAX + orig.len + 1;
	for (int f = 0; f < SIEM_F__COUNT; f++)
		if (ev->f[f].p && __builtin_add_overflow(need, 1 + 2 * VAR_MAX + ev->f[f].len, &need))
			return -1;
	for (unsigned i = 0; i < ev->nlabels; i++)
		if (__builtin_add_overflow(need, 3 * VAR_MAX + ev->labels[i].key.len +
							 ev->labels[i].value.len, &need))
			return -1;
	if (bw_buf_reserve(out, need) < 0)
		return -1;
	size_t clean = ev->work && orig.p ? same_prefix(orig.p, ev->work, orig.len) : 0;
	uint8_t *o0 = (uint8_t *)out->data + out->len, *o = o0;
	uint64_t zz = ((uint64_t)ev->ts_ns << 1) ^ (uint64_t)(ev->ts_ns >> 63);
	*o++ = DOC_MAGIC;
	*o++ = DOC_VERSION;
	o = put_var(o, zz);
	o = put_var(o, ev->labels_dropped);
	o = put_var(o, orig.p ? (uint64_t)orig.len + 1 : 0);
	if (orig.len)
		memcpy(o, orig.p, orig.len);
	o += orig.len;
	for (int f = 0; f < SIEM_F__COUNT; f++) {
		if (f == SIEM_F_EVENT_ORIGINAL || !ev->f[f].p)
			continue;
		*o++ = (uint8_t)f;
		o = put_value(o, ev->f[f], orig, ev->work, clean);
	}
	*o++ = DOC_END;
	o = put_var(o, ev->nlabels);
	for (unsigned i = 0; i < ev->nlabels; i++) {
		const struct siem_label *l = &ev->labels[i];
		int w = dict_find(l->key);
		if (w >= 0) {
			o = put_var(o, (uint64_t)w << 1 | 1);
		} else {
			o = put_var(o, (uint64_t)l->key.len << 1);
			if (l->key.len)
				memcpy(o, l->key.p, l->key.len);
			o += l->key.len;
		}
		o = put_value(o, l->value, orig, ev->work, clean);
	}
	out->len += (size_t)(o - o0);
	out->data[out->len] = '\0'; /* bw_buf's trailing NUL */
	return 0;
}

/* ---------------------------------------------------------------- read */

struct rd {
	const uint8_t *p;
	size_t n, i;
};

static int get_var(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned s = 0; s < 64; s += 7) {
		if (r->i >= r->n)
			return -1;
		uint8_t c = r->p[r->i++];
		x |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

static int get_bytes(struct rd *r, uint64_t len, const char **out)
{
	if (len > r->n - r->i)
		return -1;
	*out = (const char *)r->p + r->i;
	r->i += (size_t)len;
	return 0;
}

static int get_value(struct rd *r, struct bw_str orig, struct bw_str *out)
{
	uint64_t tag, off;
	const char *p;
	if (get_var(r, &tag) < 0)
		return -1;
	uint64_t len = tag >> 2;
	switch (tag & 3) {
	case 1:
		if (!orig.p || get_var(r, &off) < 0 || off > orig.len ||
		    len > orig.len - off)
			return -1;
		*out = bw_str_make(orig.p + off, (size_t)len);
		return 0;
	case 2:
		if (len >= BW_ARRAY_LEN(dict))
			return -1;
		*out = bw_str_make(dict[len], strlen(dict[len]));
		return 0;
	case 0:
		if (get_bytes(r, len, &p) < 0)
			return -1;
		*out = bw_str_make(p, (size_t)len);
		return 0;
	default:
		return -1;
	}
}

static int get_key(struct rd *r, struct bw_str *out)
{
	uint64_t tag;
	const char *p;
	if (get_var(r, &tag) < 0)
		return -1;
	if (tag & 1) {
		if ((tag >> 1) >= BW_ARRAY_LEN(dict))
			return -1;
		*out = bw_str_make(dict[tag >> 1], strlen(dict[tag >> 1]));
		return 0;
	}
	if (get_bytes(r, tag >> 1, &p) < 0)
		return -1;
	*out = bw_str_make(p, (size_t)(tag >> 1));
	return 0;
}

bool siem_doc_is_bin(const void *p, size_t len)
{
	const uint8_t *b = p;
	return len >= 2 && b[0] == DOC_MAGIC && b[1] == DOC_VERSION;
}

bool siem_doc_ts(const void *p, size_t len, int64_t *ts)
{
	struct rd r = { p, len, 2 };
	uint64_t zz;
	if (!siem_doc_is_bin(p, len) || get_var(&r, &zz) < 0)
		return false;
	*ts = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
	return true;
}

int siem_event_from_bin(const void *p, size_t len, struct bw_arena *a,
			struct siem_event *ev, struct bw_err *err)
{
	siem_event_init(ev, a);
	if (len > SIEM_DOC_MAX)
		return SIEM_ERR(err, 413, "too_large", "stored event of %zu bytes", len);
	if (!siem_doc_is_bin(p, len))
		return SIEM_ERR(err, 400, "document", "not a stored event");
	/* one copy: every value then points into the arena */
	uint8_t *copy = bw_arena_alloc(a, len ? len : 1);
	if (!copy)
		return SIEM_ERR(err, 500, "memory", "event arena exhausted");
	memcpy(copy, p, len);
	struct rd r = { copy, len, 2 };
	uint64_t zz, dropped, olen, id, nl;
	struct bw_str orig = bw_str_make(NULL, 0);
	const char *s;
	if (get_var(&r, &zz) < 0 || get_var(&r, &dropped) < 0 || dropped > UINT16_MAX ||
	    get_var(&r, &olen) < 0)
		goto bad;
	ev->ts_ns = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
	ev->labels_dropped = (uint16_t)dropped;
	if (olen) {
		if (get_bytes(&r, olen - 1, &s) < 0)
			goto bad;
		orig = bw_str_make(s, (size_t)(olen - 1));
		ev->f[SIEM_F_EVENT_ORIGINAL] = orig;
	}
	for (;;) {
		if (r.i >= r.n)
			goto bad;
		id = r.p[r.i++];
		if (id == DOC_END)
			break;
		if (id >= SIEM_F__COUNT || id == SIEM_F_EVENT_ORIGINAL ||
		    get_value(&r, orig, &ev->f[id]) < 0)
			goto bad;
	}
	if (get_var(&r, &nl) < 0 || nl > SIEM_MAX_LABELS)
		goto bad;
	if (nl) {
		ev->labels = bw_arena_alloc(a, nl * sizeof(*ev->labels));
		if (!ev->labels)
			return SIEM_ERR(err, 500, "memory", "event arena exhausted");
		ev->labels_cap = (uint16_t)nl;
	}
	for (uint64_t i = 0; i < nl; i++) {
		struct siem_label *l = &ev->labels[i];
		if (get_key(&r, &l->key) < 0 || get_value(&r, orig, &l->value) < 0)
			goto bad;
		ev->nlabels++;
	}
	if (r.i != r.n)
		goto bad;
	return 0;
bad:
	siem_event_init(ev, a);
	return SIEM_ERR(err, 400, "document", "stored event is malformed");
}
