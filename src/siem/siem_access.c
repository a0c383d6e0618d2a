/*
 * nginx / Apache access logs in the "combined" format (and "common",
 * which lacks the last two quoted fields):
 *   client ident user [dd/Mon/yyyy:hh:mm:ss +zzzz] "request" status bytes
 *   "referrer" "user-agent"
 * Anything after the user agent (nginx setups often append timings) is
 * ignored. Quoted fields may contain \" (Apache) or \x22 (nginx), which
 * stay as written: the raw text is what rules were written against.
 * Outcome follows the status: 4xx and 5xx are failures.
 */
#include "siem/siem_int.h"

static size_t word(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && p[i] != ' ')
		i++;
	return i;
}

/* "..." at p; returns bytes consumed including quotes, or 0. */
static size_t quoted(const char *p, size_t len, struct bw_str *out)
{
	if (len < 2 || p[0] != '"')
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (p[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (p[i] == '"') {
			*out = bw_str_make(p + 1, i - 1);
			return i + 1;
		}
	}
	return 0;
}

/* [10/Oct/2000:13:55:36 -0700] */
static size_t clf_time(const char *p, size_t len, int64_t *out)
{
	unsigned d, y, h, mi, s, oh, om;
	if (len < 28 || p[0] != '[' || !siem_digits(p + 1, 2, &d) ||
	    p[3] != '/' || p[7] != '/' || !siem_digits(p + 8, 4, &y) ||
	    p[12] != ':' || !siem_digits(p + 13, 2, &h) || p[15] != ':' ||
	    !siem_digits(p + 16, 2, &mi) || p[18] != ':' ||
	    !siem_digits(p + 19, 2, &s) || p[21] != ' ' ||
	    (p[22] != '+' && p[22] != '-') || !siem_digits(p + 23, 2, &oh) ||
	    !siem_digits(p + 25, 2, &om) || p[27] != ']')
		return 0;
	unsigned mo = siem_month_parse(p + 4);
	/* build an RFC 3339 string and reuse its validation */
	char tmp[32];
	if (!mo || bw_snprintf(tmp, sizeof(tmp),
			       "%04u-%02u-%02uT%02u:%02u:%02u%c%02u:%02u", y,
			       mo, d, h, mi, s, p[22], oh, om) < 0)
		return 0;
	if (siem_time_parse_rfc3339(tmp, strlen(tmp), out) < 0)
		return 0;
	return 28;
}

static void split_request(struct siem_event *ev, struct bw_str r)
{
	siem_event_set(ev, SIEM_F_URL_ORIGINAL, r.p, r.len);
	const char *sp1 = memchr(r.p, ' ', r.len);
	if (!sp1)
		return;
	const char *rest = sp1 + 1;
	size_t rl = r.len - (size_t)(rest - r.p);
	const char *sp2 = memchr(rest, ' ', rl);
	/* the version is the last token; a URI may not contain spaces, but
	 * garbage requests do, so split on the last space */
	if (sp2) {
		const char *last = r.p + r.len;
		while (last > rest && last[-1] != ' ')
			last--;
		sp2 = last - 1;
	}
	siem_event_set(ev, SIEM_F_HTTP_REQUEST_METHOD, r.p,
		       (size_t)(sp1 - r.p));
	size_t ul = sp2 ? (size_t)(sp2 - rest) : rl;
	siem_event_set(ev, SIEM_F_URL_ORIGINAL, rest, ul);
	const char *q = memchr(rest, '?', ul);
	siem_event_set(ev, SIEM_F_URL_PATH, rest,
		       q ? (size_t)(q - rest) : ul);
	if (q)
		siem_event_set(ev, SIEM_F_URL_QUERY, q + 1,
			       ul - (size_t)(q + 1 - rest));
	if (sp2) {
		struct bw_str v = bw_str_make(sp2 + 1,
					      (size_t)(r.p + r.len - sp2 - 1));
		if (siem_str_startswith(v.p, v.len, "HTTP/"))
			siem_event_set(ev, SIEM_F_HTTP_VERSION, v.p + 5,
				       v.len - 5);
	}
}

int siem_access_body(struct siem_event *ev, char *p, size_t len,
		     struct bw_err *err)
{
	size_t i = 0, n;
	n = word(p, len);
	if (!n || n >= len)
		goto bad;
	if (siem_is_ip(p, n))
		siem_event_set(ev, SIEM_F_SOURCE_IP, p, n);
	else
		siem_event_set(ev, SIEM_F_SOURCE_DOMAIN, p, n);
	i = n + 1;
	n = word(p + i, len - i); /* ident, always "-" in practice */
	if (!n || i + n >= len)
		goto bad;
	i += n + 1;
	n = word(p + i, len - i);
	if (!n || i + n >= len)
		goto bad;
	if (!(n == 1 && p[i] == '-'))
		siem_event_set(ev, SIEM_F_USER_NAME, p + i, n);
	i += n + 1;
	int64_t t;
	n = clf_time(p + i, len - i, &t);
	if (!n)
		goto bad;
	ev->ts_ns = t;
	i += n;
	if (i >= len || p[i] != ' ')
		goto bad;
	i++;
	struct bw_str req;
	n = quoted(p + i, len - i, &req);
	if (!n)
		goto bad;
	i += n;
	if (i >= len || p[i] != ' ')
		goto bad;
	i++;
	n = word(p + i, len - i);
	if (n != 3 || !siem_isdigit(p[i]) || !siem_isdigit(p[i + 1]) ||
	    !siem_isdigit(p[i + 2]))
		goto bad;
	siem_event_set(ev, SIEM_F_HTTP_RESPONSE_STATUS_CODE, p + i, 3);
	bool failed = p[i] >= '4';
	i += n;
	if (i < len && p[i] == ' ') {
		i++;
		n = word(p + i, len - i);
		bool num = n > 0;
		for (size_t k = 0; k < n; k++)
			num = num && siem_isdigit(p[i + k]);
		if (num)
			siem_event_set(ev, SIEM_F_HTTP_RESPONSE_BODY_BYTES,
				       p + i, n);
		else if (!(n == 1 && p[i] == '-'))
			goto bad;
		i += n;
	}
	struct bw_str ref, ua;
	if (i + 1 < len && p[i] == ' ' && (n = quoted(p + i + 1, len - i - 1,
						      &ref))) {
		i += 1 + n;
		if (!(ref.len == 1 && ref.p[0] == '-'))
			siem_event_set(ev, SIEM_F_HTTP_REQUEST_REFERRER, ref.p,
				       ref.len);
		if (i + 1 < len && p[i] == ' ' &&
		    (n = quoted(p + i + 1, len - i - 1, &ua))) {
			if (!(ua.len == 1 && ua.p[0] == '-'))
				siem_event_set(ev, SIEM_F_USER_AGENT_ORIGINAL,
					       ua.p, ua.len);
		}
	}
	if (!(req.len == 1 && req.p[0] == '-'))
		split_request(ev, req);
	siem_event_setz(ev, SIEM_F_EVENT_DATASET, "web.access");
	if (!ev->f[SIEM_F_EVENT_MODULE].p)
		siem_event_setz(ev, SIEM_F_EVENT_MODULE, "access");
	siem_event_classify(ev, "web", "access", NULL,
			    failed ? "failure" : "success");
	if (!ev->f[SIEM_F_MESSAGE].p)
		siem_event_set(ev, SIEM_F_MESSAGE, req.p, req.len);
	return 0;
bad:
	return SIEM_ERR(err, 400, "access",
			"not a combined/common access log line (at byte %zu)",
			i);
}

int siem_parse_access(const char *p, size_t len,
		      const struct siem_parse_opts *o, struct bw_arena *a,
		      struct siem_event *ev, struct bw_err *err)
{
	char *c = siem_parse_begin(p, len, o, a, ev, err);
	if (!c)
		return -1;
	while (len && (c[len - 1] == '\n' || c[len - 1] == '\r'))
		len--;
	return siem_access_body(ev, c, len, err);
}
