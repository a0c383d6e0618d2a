/*
 * Syslog parsers: RFC 5424 and RFC 3164 (BSD) with the variations real
 * senders produce, and siem_parse_line, which recognises any supported
 * line format.
 *
 * Each parser copies the line into the arena once (event.original) and
 * then points every field into that copy; only RFC 5424 structured-data
 * values with escapes are unescaped in place (the unescaped text is never
 * longer, and the copy is ours). Nothing reads past len.
 */
#include "siem/siem_int.h"

static const char *const sev_names[8] = { "0", "1", "2", "3",
					   "4", "5", "6", "7" };

/* "<PRI>" at p: 1-3 digits, 0..191, no leading zero except "<0>".
 * Returns bytes consumed or 0. */
static size_t parse_pri(const char *p, size_t len, unsigned *pri)
{
	if (len < 3 || p[0] != '<')
		return 0;
	size_t i = 1;
	unsigned v = 0;
	while (i < len && i <= 4 && siem_isdigit(p[i]))
		v = v * 10 + (unsigned)(p[i++] - '0');
	if (i == 1 || i > 4 || i >= len || p[i] != '>' || v > 191 ||
	    (p[1] == '0' && i > 2))
		return 0;
	*pri = v;
	return i + 1;
}

static int set_pri(struct siem_event *ev, unsigned pri)
{
	if (siem_event_setu(ev, SIEM_F_LOG_SYSLOG_FACILITY, pri >> 3) < 0)
		return -1;
	siem_event_setz(ev, SIEM_F_LOG_SYSLOG_SEVERITY, sev_names[pri & 7]);
	return 0;
}

static void set_pid(struct siem_event *ev, const char *p, size_t n)
{
	bool num = n > 0 && n <= 10;
	for (size_t i = 0; i < n && num; i++)
		num = siem_isdigit(p[i]);
	if (num)
		siem_event_set(ev, SIEM_F_PROCESS_PID, p, n);
	else if (n)
		(void)siem_event_label(ev, "log.syslog.procid", 17, p, n);
}

/* One header token up to the next space: 1..max printable US-ASCII. */
static size_t token(const char *p, size_t len, size_t max)
{
	size_t i = 0;
	while (i < len && p[i] != ' ') {
		if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126)
			return 0;
		i++;
	}
	return (i == 0 || i > max) ? 0 : i;
}

static int run_program(struct siem_event *ev, const struct siem_parse_opts *o,
		       struct bw_err *err)
{
	if (o && o->no_program)
		return 0;
	if (siem_msg_dispatch(ev) < 0)
		return SIEM_ERR(err, 500, "memory", "event arena exhausted");
	return 0;
}

/* Structured data: "-" or one or more [ID param="value" ...]. Values are
 * unescaped in place (\" \\ \] lose their backslash). Each param becomes
 * the label "sd.<id>.<name>". Returns bytes consumed or -1. */
static long parse_sd(struct siem_event *ev, char *p, size_t len)
{
	if (len >= 1 && p[0] == '-')
		return 1;
	size_t i = 0;
	if (len == 0 || p[0] != '[')
		return -1;
	while (i < len && p[i] == '[') {
		i++;
		size_t id0 = i;
		while (i < len && p[i] != ' ' && p[i] != ']' && p[i] != '=' &&
		       p[i] != '"' && (unsigned char)p[i] > 32 &&
		       (unsigned char)p[i] < 127)
			i++;
		size_t idl = i - id0;
		if (idl == 0 || idl > SIEM_5424_SDNAME_MAX)
			return -1;
		while (i < len && p[i] == ' ') {
			i++;
			size_t n0 = i;
			while (i < len && p[i] != ' ' && p[i] != ']' &&
			       p[i] != '=' && p[i] != '"' &&
			       (unsigned char)p[i] > 32 &&
			       (unsigned char)p[i] < 127)
				i++;
			size_t nl = i - n0;
			if (nl == 0 || nl > SIEM_5424_SDNAME_MAX ||
			    len - i < 2 || p[i] != '=' || p[i + 1] != '"')
				return -1;
			i += 2;
			size_t v0 = i, w = i;
			for (;;) {
				if (i >= len)
					return -1;
				if (p[i] == '"')
					break;
				if (p[i] == '\\' && i + 1 < len &&
				    (p[i + 1] == '"' || p[i + 1] == '\\' ||
				     p[i + 1] == ']'))
					i++;
				p[w++] = p[i++];
			}
			size_t vl = w - v0;
			i++; /* closing quote */
			/* key "sd.<id>.<name>" in the arena */
			/* (names are at most 32 bytes, checked above) */
			size_t kl = 3 + idl + 1 + nl;
			char *k = bw_arena_alloc(ev->arena, kl + 1);
			if (!k)
				return -2;
			memcpy(k, "sd.", 3);
			memcpy(k + 3, p + id0, idl);
			k[3 + idl] = '.';
			memcpy(k + 4 + idl, p + n0, nl);
			k[kl] = '\0';
			(void)siem_event_label(ev, k, kl, p + v0, vl);
		}
		if (i >= len || p[i] != ']')
			return -1;
		i++;
	}
	return (long)i;
}

static int rfc5424_body(struct siem_event *ev, char *c, size_t len,
			const struct siem_parse_opts *o, struct bw_err *err)
{
	unsigned pri;
	size_t i = parse_pri(c, len, &pri);
	if (!i)
		return SIEM_ERR(err, 400, "pri", "missing or invalid <PRI>");
	if (i + 2 > len || c[i] != '1' || c[i + 1] != ' ')
		return SIEM_ERR(err, 400, "version",
				"RFC 5424 version must be 1");
	i += 2;
	if (set_pri(ev, pri) < 0)
		goto mem;
	siem_event_setz(ev, SIEM_F_EVENT_MODULE, "syslog");

	/* TIMESTAMP */
	size_t n = token(c + i, len - i, 64);
	if (!n)
		return SIEM_ERR(err, 400, "timestamp", "missing TIMESTAMP");
	if (!(n == 1 && c[i] == '-')) {
		int64_t t;
		if (siem_time_parse_rfc3339(c + i, n, &t) < 0)
			return SIEM_ERR(err, 400, "timestamp",
					"TIMESTAMP is not RFC 3339: '%.*s'",
					(int)n, c + i);
		ev->ts_ns = t;
	}
	i += n;
	static const struct {
		size_t max;
		int field;
	} hdr[] = {
		{ SIEM_5424_HOSTNAME_MAX, SIEM_F_HOST_NAME },
		{ SIEM_5424_APPNAME_MAX, SIEM_F_PROCESS_NAME },
		{ SIEM_5424_PROCID_MAX, -1 },
		{ SIEM_5424_MSGID_MAX, SIEM_F_LOG_SYSLOG_MSGID },
	};
	for (size_t h = 0; h < BW_ARRAY_LEN(hdr); h++) {
		if (i >= len || c[i] != ' ')
			return SIEM_ERR(err, 400, "header",
					"truncated RFC 5424 header");
		i++;
		n = token(c + i, len - i, hdr[h].max);
		if (!n)
			return SIEM_ERR(err, 400, "header",
					"empty or invalid header field %zu",
					h + 2);
		if (!(n == 1 && c[i] == '-')) {
			if (hdr[h].field < 0)
				set_pid(ev, c + i, n);
			else
				siem_event_set(ev, (enum siem_field)hdr[h].field,
					       c + i, n);
		}
		i += n;
	}
	if (i >= len || c[i] != ' ')
		return SIEM_ERR(err, 400, "sd", "missing STRUCTURED-DATA");
	i++;
	long sd = parse_sd(ev, c + i, len - i);
	if (sd == -2)
		goto mem;
	if (sd < 0)
		return SIEM_ERR(err, 400, "sd", "malformed STRUCTURED-DATA");
	i += (size_t)sd;
	if (i < len) {
		if (c[i] != ' ')
			return SIEM_ERR(err, 400, "sd",
					"STRUCTURED-DATA not followed by SP");
		i++;
		/* MSG: a UTF-8 BOM says "this is UTF-8"; it is not text */
		if (len - i >= 3 && (unsigned char)c[i] == 0xEF &&
		    (unsigned char)c[i + 1] == 0xBB &&
		    (unsigned char)c[i + 2] == 0xBF)
			i += 3;
		struct bw_str m = siem_trim(bw_str_make(c + i, len - i));
		siem_event_set(ev, SIEM_F_MESSAGE, m.p, m.len);
	}
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "syslog");
	return run_program(ev, o, err);
mem:
	return SIEM_ERR(err, 500, "memory", "event arena exhausted");
}

int siem_parse_rfc5424(const char *p, size_t len,
		       const struct siem_parse_opts *o, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err)
{
	char *c = siem_parse_begin(p, len, o, a, ev, err);
	if (!c)
		return -1;
	return rfc5424_body(ev, c, len, o, err);
}

/* TAG[PID]: at p. Sets process.name/pid. Returns bytes consumed
 * (including ": " / ":") or 0 when p does not start with a tag. */
static size_t parse_tag(struct siem_event *ev, const char *p, size_t len)
{
	size_t i = 0;
	/* "host CEF:0|..." : the record starts, there is no tag */
	if (siem_str_startswith(p, len, "CEF:") ||
	    siem_str_startswith(p, len, "LEEF:"))
		return 0;
	while (i < len && i <= SIEM_3164_TAG_MAX && p[i] != '[' &&
	       p[i] != ':' && p[i] != ' ' && (unsigned char)p[i] > 32 &&
	       (unsigned char)p[i] < 127)
		i++;
	size_t tl = i;
	if (tl == 0 || tl > SIEM_3164_TAG_MAX || i >= len)
		return 0;
	size_t pid0 = 0, pidl = 0;
	if (p[i] == '[') {
		pid0 = ++i;
		while (i < len && p[i] != ']' && i - pid0 <= 32)
			i++;
		if (i >= len || p[i] != ']')
			return 0;
		pidl = i - pid0;
		i++;
	}
	if (i >= len || p[i] != ':')
		return 0;
	i++;
	siem_event_set(ev, SIEM_F_PROCESS_NAME, p, tl);
	if (pidl)
		set_pid(ev, p + pid0, pidl);
	if (i < len && p[i] == ' ')
		i++;
	return i;
}

static int rfc3164_body(struct siem_event *ev, char *c, size_t len,
			const struct siem_parse_opts *o, struct bw_err *err)
{
	size_t i = 0;
	unsigned pri;
	siem_event_setz(ev, SIEM_F_EVENT_MODULE, "syslog");
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "syslog");
	if (len && c[0] == '<') {
		i = parse_pri(c, len, &pri);
		if (!i)
			return SIEM_ERR(err, 400, "pri",
					"missing or invalid <PRI>");
		if (set_pri(ev, pri) < 0)
			goto mem;
	}
	/* Timestamp: BSD "Mmm dd hh:mm:ss" or RFC 3339 (rsyslog's
	 * high-precision format). Without one, the receive time stands. */
	int64_t t;
	size_t n = siem_bsd_time(c + i, len - i, o, &t);
	if (n) {
		ev->ts_ns = t;
		i += n;
	} else {
		size_t tl = token(c + i, len - i, 64);
		if (tl >= 19 && siem_time_parse_rfc3339(c + i, tl, &t) == 0) {
			ev->ts_ns = t;
			i += tl;
			n = tl;
		}
	}
	while (n && i < len && c[i] == ' ')
		i++;
	/* HOSTNAME, unless the next token already is the TAG: many local
	 * senders (and /dev/log relays) omit the hostname. */
	size_t tag = parse_tag(ev, c + i, len - i);
	if (!tag && n) {
		size_t hl = token(c + i, len - i, SIEM_5424_HOSTNAME_MAX);
		if (hl && i + hl < len) {
			siem_event_set(ev, SIEM_F_HOST_NAME, c + i, hl);
			i += hl + 1;
			tag = parse_tag(ev, c + i, len - i);
		}
	}
	i += tag;
	struct bw_str m = siem_trim(bw_str_make(c + i, len - i));
	siem_event_set(ev, SIEM_F_MESSAGE, m.p, m.len);
	return run_program(ev, o, err);
mem:
	return SIEM_ERR(err, 500, "memory", "event arena exhausted");
}

int siem_parse_rfc3164(const char *p, size_t len,
		       const struct siem_parse_opts *o, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err)
{
	char *c = siem_parse_begin(p, len, o, a, ev, err);
	if (!c)
		return -1;
	/* trailing CR/LF/NUL from sloppy UDP senders */
	while (len && (c[len - 1] == '\n' || c[len - 1] == '\r' ||
		       c[len - 1] == '\0'))
		len--;
	return rfc3164_body(ev, c, len, o, err);
}

static bool is_5424(const char *p, size_t len)
{
	unsigned pri;
	size_t i = parse_pri(p, len, &pri);
	return i && len - i >= 2 && p[i] == '1' && p[i + 1] == ' ';
}

int siem_parse_syslog(const char *p, size_t len,
		      const struct siem_parse_opts *o, struct bw_arena *a,
		      struct siem_event *ev, struct bw_err *err)
{
	if (is_5424(p, len))
		return siem_parse_rfc5424(p, len, o, a, ev, err);
	return siem_parse_rfc3164(p, len, o, a, ev, err);
}

int siem_parse_line(const char *p, size_t len, const struct siem_parse_opts *o,
		    struct bw_arena *a, struct siem_event *ev,
		    struct bw_err *err)
{
	if (len && p[0] == '<')
		return siem_parse_syslog(p, len, o, a, ev, err);
	if (siem_str_startswith(p, len, "CEF:"))
		return siem_parse_cef(p, len, o, a, ev, err);
	if (siem_str_startswith(p, len, "LEEF:"))
		return siem_parse_leef(p, len, o, a, ev, err);
	/* An access log line starts with the client address and "- ". */
	size_t sp = 0;
	while (sp < len && sp < 64 && p[sp] != ' ')
		sp++;
	if (sp < len && siem_is_ip(p, sp))
		return siem_parse_access(p, len, o, a, ev, err);
	return siem_parse_rfc3164(p, len, o, a, ev, err);
}
