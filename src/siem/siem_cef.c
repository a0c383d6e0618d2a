/*
 * CEF (ArcSight Common Event Format) and LEEF (IBM QRadar Log Event
 * Extended Format) 1.0/2.0 parsers.
 *
 * Both work in place on the parser's writable copy of the line: escapes
 * are removed by shifting bytes left, which never lengthens a field, and
 * every event field points into that copy. Keys with an ECS meaning go to
 * their slot; the rest become labels (CEF csN/cnN custom fields take
 * their csNLabel name when the record gives one).
 */
#include "siem/siem_int.h"

#include <stdlib.h>

struct keymap {
	const char *key;
	enum siem_field f;
};

static const struct keymap cef_keys[] = {
	{ "act", SIEM_F_EVENT_ACTION },
	{ "app", SIEM_F_NETWORK_PROTOCOL },
	{ "deviceProcessName", SIEM_F_PROCESS_NAME },
	{ "dhost", SIEM_F_DESTINATION_DOMAIN },
	{ "dpt", SIEM_F_DESTINATION_PORT },
	{ "dst", SIEM_F_DESTINATION_IP },
	{ "duser", SIEM_F_USER_TARGET_NAME },
	{ "dvc", SIEM_F_OBSERVER_IP },
	{ "dvchost", SIEM_F_OBSERVER_HOSTNAME },
	{ "externalId", SIEM_F_EVENT_ID },
	{ "msg", SIEM_F_MESSAGE },
	{ "outcome", SIEM_F_EVENT_OUTCOME },
	{ "proto", SIEM_F_NETWORK_TRANSPORT },
	{ "reason", SIEM_F_EVENT_REASON },
	{ "request", SIEM_F_URL_ORIGINAL },
	{ "requestClientApplication", SIEM_F_USER_AGENT_ORIGINAL },
	{ "requestContext", SIEM_F_HTTP_REQUEST_REFERRER },
	{ "requestMethod", SIEM_F_HTTP_REQUEST_METHOD },
	{ "shost", SIEM_F_SOURCE_DOMAIN },
	{ "spid", SIEM_F_PROCESS_PID },
	{ "sproc", SIEM_F_PROCESS_NAME },
	{ "spt", SIEM_F_SOURCE_PORT },
	{ "src", SIEM_F_SOURCE_IP },
	{ "suser", SIEM_F_USER_NAME },
};

static const struct keymap leef_keys[] = {
	{ "accountName", SIEM_F_USER_NAME },
	{ "action", SIEM_F_EVENT_ACTION },
	{ "dst", SIEM_F_DESTINATION_IP },
	{ "dstPort", SIEM_F_DESTINATION_PORT },
	{ "identHostName", SIEM_F_HOST_NAME },
	{ "method", SIEM_F_HTTP_REQUEST_METHOD },
	{ "msg", SIEM_F_MESSAGE },
	{ "policy", SIEM_F_RULE_NAME },
	{ "proto", SIEM_F_NETWORK_TRANSPORT },
	{ "referrer", SIEM_F_HTTP_REQUEST_REFERRER },
	{ "sev", SIEM_F_EVENT_SEVERITY },
	{ "src", SIEM_F_SOURCE_IP },
	{ "srcPort", SIEM_F_SOURCE_PORT },
	{ "url", SIEM_F_URL_ORIGINAL },
	{ "userAgent", SIEM_F_USER_AGENT_ORIGINAL },
	{ "usrName", SIEM_F_USER_NAME },
};

static int map_key(const struct keymap *m, size_t n, const char *k, size_t kl)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(m[i].key) == kl && memcmp(m[i].key, k, kl) == 0)
			return (int)m[i].f;
	return -1;
}

static bool lower_eq(struct bw_str s, const char *lit)
{
	return bw_str_caseeq_lit(s, lit);
}

static bool contains_ci(struct bw_str s, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= s.len; i++) {
		size_t j = 0;
		while (j < n && siem_lower(s.p[i + j]) == needle[j])
			j++;
		if (j == n)
			return true;
	}
	return false;
}

/* Firewall-ish verbs to ECS event.type allowed/denied. */
static void classify_action(struct siem_event *ev)
{
	struct bw_str act = ev->f[SIEM_F_EVENT_ACTION];
	const char *type = NULL;
	if (act.p) {
		static const char *const deny[] = { "block", "deny", "denied",
						    "drop", "reject",
						    "quarantin", "prevent" };
		static const char *const allow[] = { "allow", "accept",
						     "permit", "pass" };
		for (size_t i = 0; i < BW_ARRAY_LEN(deny) && !type; i++)
			if (contains_ci(act, deny[i]))
				type = "denied";
		for (size_t i = 0; i < BW_ARRAY_LEN(allow) && !type; i++)
			if (contains_ci(act, allow[i]))
				type = "allowed";
	}
	if (type) {
		siem_event_setz(ev, SIEM_F_EVENT_TYPE, type);
		if (ev->f[SIEM_F_SOURCE_IP].p || ev->f[SIEM_F_DESTINATION_IP].p)
			siem_event_setz(ev, SIEM_F_EVENT_CATEGORY, "network");
	}
	struct bw_str out = ev->f[SIEM_F_EVENT_OUTCOME];
	if (out.p) {
		/* ECS allows success/failure/unknown only */
		if (contains_ci(out, "success"))
			siem_event_setz(ev, SIEM_F_EVENT_OUTCOME, "success");
		else if (contains_ci(out, "fail"))
			siem_event_setz(ev, SIEM_F_EVENT_OUTCOME, "failure");
		else
			siem_event_setz(ev, SIEM_F_EVENT_OUTCOME, "unknown");
	}
	struct bw_str tr = ev->f[SIEM_F_NETWORK_TRANSPORT];
	if (tr.p) { /* ECS wants lowercase */
		char *w = (char *)tr.p;
		for (size_t i = 0; i < tr.len; i++)
			w[i] = siem_lower(w[i]);
	}
}

/* A timestamp in rt / devTime: epoch ms, "MMM dd yyyy HH:mm:ss[.SSS]",
 * or RFC 3339. Unknown forms leave the receive time. */
static void set_time(struct siem_event *ev, struct bw_str v,
		     const struct siem_parse_opts *o)
{
	bool digits = v.len > 0 && v.len <= 15;
	for (size_t i = 0; i < v.len && digits; i++)
		digits = siem_isdigit(v.p[i]);
	int64_t t;
	if (digits) {
		uint64_t ms;
		if (bw_str_to_u64(v, &ms) == 0 && ms < INT64_MAX / 1000000 &&
		    siem_ts_valid((int64_t)ms * 1000000))
			ev->ts_ns = (int64_t)ms * 1000000;
		return;
	}
	if (siem_bsd_time(v.p, v.len, o, &t))
		ev->ts_ns = t;
	else if (siem_time_parse_rfc3339(v.p, v.len, &t) == 0)
		ev->ts_ns = t;
}

/* ---------------------------------------------------------------- CEF */

static bool cef_keych(char c)
{
	return siem_isalnum(c) || c == '_' || c == '.' || c == '-' ||
	       c == '[' || c == ']';
}

/* Unescape a CEF extension value in place. Returns the new length. */
static size_t cef_unescape(char *p, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n) {
			char e = p[i + 1];
			if (e == 'n' || e == 'r') {
				p[w++] = e == 'n' ? '\n' : '\r';
				i++;
				continue;
			}
			if (e == '=' || e == '\\' || e == '|') {
				p[w++] = e;
				i++;
				continue;
			}
		}
		p[w++] = p[i];
	}
	return w;
}

static int cef_ext(struct siem_event *ev, char *p, size_t len,
		   const struct siem_parse_opts *o, struct bw_err *err)
{
	size_t i = 0;
	while (i < len && p[i] == ' ')
		i++;
	while (i < len) {
		size_t k0 = i;
		while (i < len && cef_keych(p[i]))
			i++;
		if (i == k0 || i >= len || p[i] != '=')
			return SIEM_ERR(err, 400, "cef_extension",
					"extension expects key=value at byte %zu",
					k0);
		size_t kl = i - k0;
		i++;
		size_t v0 = i, vend = len;
		/* The value runs to the space before the next key=. */
		while (i < len) {
			if (p[i] == '\\' && i + 1 < len) {
				i += 2;
				continue;
			}
			if (p[i] == ' ') {
				size_t k = i + 1;
				while (k < len && cef_keych(p[k]))
					k++;
				if (k > i + 1 && k < len && p[k] == '=') {
					vend = i;
					break;
				}
			}
			i++;
		}
		if (i >= len)
			vend = len;
		size_t vl = cef_unescape(p + v0, vend - v0);
		struct bw_str v = siem_trim(bw_str_make(p + v0, vl));
		const char *key = p + k0;
		if (kl == 2 && memcmp(key, "rt", 2) == 0) {
			set_time(ev, v, o);
		} else {
			int f = map_key(cef_keys, BW_ARRAY_LEN(cef_keys), key,
					kl);
			if (f >= 0)
				siem_event_set(ev, (enum siem_field)f, v.p,
					       v.len);
			else
				(void)siem_event_label(ev, key, kl, v.p, v.len);
		}
		i = vend;
		while (i < len && p[i] == ' ')
			i++;
	}
	/* csN=value plus csNLabel=Name: name the label after its label */
	for (size_t a = 0; a < ev->nlabels; a++) {
		struct bw_str k = ev->labels[a].key;
		if (k.len <= 5 || memcmp(k.p + k.len - 5, "Label", 5) != 0)
			continue;
		for (size_t b = 0; b < ev->nlabels; b++) {
			struct bw_str kb = ev->labels[b].key;
			if (kb.len == k.len - 5 && memcmp(kb.p, k.p, kb.len) == 0 &&
			    ev->labels[a].value.len > 0) {
				ev->labels[b].key = ev->labels[a].value;
				break;
			}
		}
	}
	return 0;
}

/* Splits n header fields separated by unescaped '|', unescaping \| and
 * \\ in place. Returns bytes consumed (after the last '|') or 0. */
static size_t split_header(char *p, size_t len, struct bw_str *out, size_t n)
{
	size_t i = 0;
	for (size_t f = 0; f < n; f++) {
		size_t s = i, w = i;
		for (;;) {
			if (i >= len)
				return 0;
			if (p[i] == '\\' && i + 1 < len &&
			    (p[i + 1] == '|' || p[i + 1] == '\\')) {
				p[w++] = p[i + 1];
				i += 2;
				continue;
			}
			if (p[i] == '|')
				break;
			p[w++] = p[i++];
		}
		out[f] = bw_str_make(p + s, w - s);
		i++;
	}
	return i;
}

static int cef_severity(struct siem_event *ev, struct bw_str s,
			struct bw_err *err)
{
	static const struct {
		const char *name, *num;
	} names[] = { { "low", "3" },
		      { "medium", "5" },
		      { "high", "8" },
		      { "very-high", "10" },
		      { "unknown", NULL } };
	s = siem_trim(s);
	uint64_t v;
	if (bw_str_to_u64(s, &v) == 0 && v <= 10) {
		siem_event_set(ev, SIEM_F_EVENT_SEVERITY, s.p, s.len);
		return 0;
	}
	for (size_t i = 0; i < BW_ARRAY_LEN(names); i++)
		if (lower_eq(s, names[i].name)) {
			if (names[i].num)
				siem_event_setz(ev, SIEM_F_EVENT_SEVERITY,
						names[i].num);
			return 0;
		}
	return SIEM_ERR(err, 400, "cef_severity",
			"CEF severity must be 0-10 or Low/Medium/High/"
			"Very-High/Unknown");
}

int siem_cef_body(struct siem_event *ev, char *p, size_t len,
		  const struct siem_parse_opts *o, struct bw_err *err)
{
	if (!siem_str_startswith(p, len, "CEF:"))
		return SIEM_ERR(err, 400, "cef_header", "not a CEF record");
	struct bw_str h[7];
	size_t n = split_header(p + 4, len - 4, h, 7);
	if (!n)
		return SIEM_ERR(err, 400, "cef_header",
				"CEF header needs 7 '|'-separated fields");
	uint64_t ver;
	if (bw_str_to_u64(siem_trim(h[0]), &ver) < 0 || ver > 1)
		return SIEM_ERR(err, 400, "cef_header",
				"unsupported CEF version");
	siem_event_setz(ev, SIEM_F_EVENT_MODULE, "cef");
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "cef");
	siem_event_set(ev, SIEM_F_OBSERVER_VENDOR, h[1].p, h[1].len);
	siem_event_set(ev, SIEM_F_OBSERVER_PRODUCT, h[2].p, h[2].len);
	siem_event_set(ev, SIEM_F_OBSERVER_VERSION, h[3].p, h[3].len);
	siem_event_set(ev, SIEM_F_EVENT_CODE, h[4].p, h[4].len);
	siem_event_set(ev, SIEM_F_RULE_NAME, h[5].p, h[5].len);
	if (cef_severity(ev, h[6], err) < 0)
		return -1;
	if (cef_ext(ev, p + 4 + n, len - 4 - n, o, err) < 0)
		return -1;
	if (!ev->f[SIEM_F_MESSAGE].p)
		siem_event_set(ev, SIEM_F_MESSAGE, h[5].p, h[5].len);
	classify_action(ev);
	return 0;
}

int siem_parse_cef(const char *p, size_t len, const struct siem_parse_opts *o,
		   struct bw_arena *a, struct siem_event *ev,
		   struct bw_err *err)
{
	char *c = siem_parse_begin(p, len, o, a, ev, err);
	if (!c)
		return -1;
	while (len && (c[len - 1] == '\n' || c[len - 1] == '\r'))
		len--;
	return siem_cef_body(ev, c, len, o, err);
}

/* --------------------------------------------------------------- LEEF */

int siem_leef_body(struct siem_event *ev, char *p, size_t len,
		   const struct siem_parse_opts *o, struct bw_err *err)
{
	if (!siem_str_startswith(p, len, "LEEF:"))
		return SIEM_ERR(err, 400, "leef_header", "not a LEEF record");
	struct bw_str h[6];
	size_t n = split_header(p + 5, len - 5, h, 5);
	if (!n)
		return SIEM_ERR(err, 400, "leef_header",
				"LEEF header needs 5 '|'-separated fields");
	size_t i = 5 + n;
	char delim = '\t';
	if (bw_str_eq_lit(h[0], "2.0")) {
		/* the delimiter field: one character, or x09 / 0x09 */
		size_t d0 = i;
		while (i < len && p[i] != '|')
			i++;
		if (i >= len)
			return SIEM_ERR(err, 400, "leef_delimiter",
					"LEEF 2.0 header lacks the delimiter "
					"field");
		struct bw_str d = bw_str_make(p + d0, i - d0);
		i++;
		if (d.len >= 2 && (d.p[0] == 'x' || d.p[0] == 'X' ||
				   (d.len >= 3 && d.p[0] == '0' &&
				    (d.p[1] == 'x' || d.p[1] == 'X')))) {
			size_t s = d.p[0] == '0' ? 2 : 1;
			int v = 0;
			if (d.len - s < 1 || d.len - s > 2)
				return SIEM_ERR(err, 400, "leef_delimiter",
						"bad hex delimiter");
			for (size_t k = s; k < d.len; k++) {
				int hv = bw_hex_digit(d.p[k]);
				if (hv < 0)
					return SIEM_ERR(err, 400,
							"leef_delimiter",
							"bad hex delimiter");
				v = v * 16 + hv;
			}
			if (v == 0)
				return SIEM_ERR(err, 400, "leef_delimiter",
						"NUL delimiter");
			delim = (char)v;
		} else if (d.len == 1) {
			delim = d.p[0];
		} else if (d.len != 0) {
			return SIEM_ERR(err, 400, "leef_delimiter",
					"delimiter must be one character");
		}
	} else if (!bw_str_eq_lit(h[0], "1.0") && !bw_str_eq_lit(h[0], "1")) {
		return SIEM_ERR(err, 400, "leef_header",
				"unsupported LEEF version");
	}
	siem_event_setz(ev, SIEM_F_EVENT_MODULE, "leef");
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "leef");
	siem_event_set(ev, SIEM_F_OBSERVER_VENDOR, h[1].p, h[1].len);
	siem_event_set(ev, SIEM_F_OBSERVER_PRODUCT, h[2].p, h[2].len);
	siem_event_set(ev, SIEM_F_OBSERVER_VERSION, h[3].p, h[3].len);
	siem_event_set(ev, SIEM_F_EVENT_CODE, h[4].p, h[4].len);
	struct bw_str devtime = { NULL, 0 };
	while (i < len) {
		size_t a0 = i;
		while (i < len && p[i] != delim)
			i++;
		struct bw_str kv = bw_str_make(p + a0, i - a0);
		i++;
		const char *eq = memchr(kv.p, '=', kv.len);
		if (!eq || eq == kv.p)
			continue; /* stray text between delimiters */
		struct bw_str k = siem_trim(bw_str_make(kv.p, (size_t)(eq - kv.p)));
		struct bw_str v = siem_trim(bw_str_make(
			eq + 1, (size_t)(kv.p + kv.len - (eq + 1))));
		if (bw_str_eq_lit(k, "devTime")) {
			devtime = v;
			continue;
		}
		int f = map_key(leef_keys, BW_ARRAY_LEN(leef_keys), k.p, k.len);
		if (f >= 0)
			siem_event_set(ev, (enum siem_field)f, v.p, v.len);
		else
			(void)siem_event_label(ev, k.p, k.len, v.p, v.len);
	}
	if (devtime.p)
		set_time(ev, devtime, o);
	if (!ev->f[SIEM_F_MESSAGE].p)
		siem_event_set(ev, SIEM_F_MESSAGE, h[4].p, h[4].len);
	classify_action(ev);
	return 0;
}

int siem_parse_leef(const char *p, size_t len, const struct siem_parse_opts *o,
		    struct bw_arena *a, struct siem_event *ev,
		    struct bw_err *err)
{
	char *c = siem_parse_begin(p, len, o, a, ev, err);
	if (!c)
		return -1;
	while (len && (c[len - 1] == '\n' || c[len - 1] == '\r'))
		len--;
	return siem_leef_body(ev, c, len, o, err);
}
