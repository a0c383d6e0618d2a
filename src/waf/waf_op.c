/*
 * waf_op.c — SecLang operators evaluated against one (transformed) value.
 *
 * waf_op_eval returns the operator's result after negation (!@op), and
 * on a match fills TX:0..9 when the rule has the capture action, as
 * ModSecurity v3 does for @rx, @pm and @detectSQLi.
 *
 * Fast paths: @pm/@pmFromFile scan a Hyperscan literal database; @rx first
 * scans its Hyperscan prefilter database and runs PCRE2 (JIT) only when
 * the prefilter matched. PCRE2 runs with the rule set's match limit; a
 * tripped limit counts as "no match" and sets MSC_PCRE_LIMITS_EXCEEDED,
 * as ModSecurity does. Match data and the match context are per thread.
 *
 * Operators that need the network or a database (@rbl, @geoLookup) never
 * match: bulwark does no DNS lookups on the request path and ships no
 * GeoIP data (documented in WAF-ENGINE.md).
 */
#include "waf/waf_int.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

static __thread pcre2_match_data *tl_md;
static __thread pcre2_match_context *tl_mctx;
static __thread uint64_t tl_mctx_limit;

/* A thread-exit destructor frees the thread's match data (with the heap
 * frames PCRE2 keeps in it) and match context; worker threads come and go
 * with reloads and shutdown. */
struct tl_pcre {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
};
static pthread_key_t tl_pcre_key;
static pthread_once_t tl_pcre_once = PTHREAD_ONCE_INIT;
static __thread struct tl_pcre tl_pcre;

static void tl_pcre_free(void *arg)
{
	struct tl_pcre *t = arg;
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	t->md = NULL;
	t->mctx = NULL;
	tl_md = NULL;
	tl_mctx = NULL;
}

static void tl_pcre_init(void)
{
	(void)pthread_key_create(&tl_pcre_key, tl_pcre_free);
}

static void tl_pcre_track(void)
{
	pthread_once(&tl_pcre_once, tl_pcre_init);
	tl_pcre.md = tl_md;
	tl_pcre.mctx = tl_mctx;
	(void)pthread_setspecific(tl_pcre_key, &tl_pcre);
}

pcre2_match_data *waf_match_data(void)
{
	if (!tl_md) {
		tl_md = pcre2_match_data_create(16, NULL);
		tl_pcre_track();
	}
	return tl_md;
}

pcre2_match_context *waf_match_context(const struct waf_ruleset *rs)
{
	uint64_t lim = rs->settings.pcre_match_limit;
	if (!tl_mctx) {
		tl_mctx = pcre2_match_context_create(NULL);
		tl_pcre_track();
	}
	if (tl_mctx && tl_mctx_limit != lim) {
		pcre2_set_match_limit(tl_mctx, lim > UINT32_MAX ? UINT32_MAX
								: (uint32_t)lim);
		tl_mctx_limit = lim;
	}
	return tl_mctx;
}

static int set_capture(struct waf_tx *tx, unsigned i, const char *p,
		       size_t n)
{
	char k[2] = { (char)('0' + i), 0 };
	return waf_col_set(tx, WAF_VAR_TX, bw_str_make(k, 1), bw_str_make(p, n));
}

/* PCRE2's study of the pattern (waf_operator.rx_*): false when the value
 * is too short, lacks the required byte or has no byte a match can start
 * with — PCRE2 would report no match after its own start-up checks. */
bool waf_rx_possible(const struct waf_operator *op, struct bw_str v)
{
	if (v.len < op->rx_minlen)
		return false;
	if (op->rx_req > 0) {
		unsigned c = (unsigned)op->rx_req;
		bool alpha = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
		if (!memchr(v.p, (int)c, v.len) &&
		    !(alpha && memchr(v.p, (int)(c ^ 0x20), v.len)))
			return false;
	}
	if (!op->rx_has_start)
		return true;
	const unsigned char *s = (const unsigned char *)v.p;
	for (size_t i = 0; i < v.len; i++)
		if (op->rx_start[s[i] / 8] & (1u << (s[i] % 8)))
			return true;
	return false;
}

/* PCRE2 match; captures into TX:0..9 when asked. 1, 0 or -1 (memory). */
static int rx_match(struct waf_tx *tx, const pcre2_code *re, struct bw_str v,
		    bool capture)
{
	pcre2_match_data *md = waf_match_data();
	if (!md)
		return -1;
	int rc = pcre2_match(re, (PCRE2_SPTR)v.p, v.len, 0, 0, md,
			     waf_match_context(tx->rs));
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
		if (waf_scal_set(tx, WAF_VAR_MSC_PCRE_LIMITS_EXCEEDED, "1", 1))
			return -1;
		return 0;
	}
	if (rc < 0)
		return 0;
	if (capture) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		uint32_t n = rc == 0 ? pcre2_get_ovector_count(md) : (uint32_t)rc;
		for (uint32_t i = 0; i < n && i < 10; i++) {
			if (ov[2 * i] == PCRE2_UNSET)
				continue;
			if (set_capture(tx, i, v.p + ov[2 * i],
					ov[2 * i + 1] - ov[2 * i]) != 0)
				return -1;
		}
	}
	return 1;
}

/* A per-transaction compile of an @rx whose pattern has macros. */
static void code_free(void *c)
{
	pcre2_code_free(c);
}

static const pcre2_code *rx_dynamic(struct waf_tx *tx,
				    const struct waf_operator *op)
{
	struct bw_str pat;
	if (waf_macro_expand(tx, op->marg, &pat) != 0)
		return NULL;
	int ec;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat.p, pat.len,
				       PCRE2_DOTALL | PCRE2_MULTILINE, &ec,
				       &off, NULL);
	if (!re)
		return NULL; /* a bad expanded regex never matches */
	if (bw_arena_cleanup(tx->arena, code_free, re) != 0) {
		pcre2_code_free(re);
		tx->oom = true;
		return NULL;
	}
	return re;
}

/* Caseless substring search for the portable @pm path. */
static const char *memcasemem(const char *h, size_t hl, const char *n,
			      size_t nl)
{
	if (nl == 0)
		return h;
	for (size_t i = 0; i + nl <= hl; i++)
		if (strncasecmp(h + i, n, nl) == 0)
			return h + i;
	return NULL;
}

static int op_pm(struct waf_tx *tx, const struct waf_rule *r, struct bw_str v)
{
	const struct waf_operator *op = &r->op;
	size_t from = 0, to = 0;
	int m = 0;
	if (op->hs) {
		m = waf_hs_scan(tx->rs, op, v.p, v.len, &from, &to);
		if (m < 0)
			m = 0;
	} else {
		for (size_t i = 0; i < op->nphrases; i++) {
			const struct bw_str *ph = &op->phrases[i];
			if (!ph->len)
				continue;
			const char *hit = memcasemem(v.p, v.len, ph->p, ph->len);
			if (hit) {
				from = (size_t)(hit - v.p);
				to = from + ph->len;
				m = 1;
				break;
			}
		}
	}
	if (m && r->act.capture &&
	    set_capture(tx, 0, v.p + from, to - from) != 0)
		return -1;
	return m;
}

static bool ip_in(const struct waf_operator *op, struct bw_str v)
{
	char buf[INET6_ADDRSTRLEN + 1];
	uint8_t a[16] = { 0 };
	int fam;
	if (v.len == 0 || v.len >= sizeof(buf))
		return false;
	memcpy(buf, v.p, v.len);
	buf[v.len] = 0;
	if (inet_pton(AF_INET, buf, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		fam = AF_INET6;
	else
		return false;
	for (size_t i = 0; i < op->nnets; i++) {
		const struct waf_ipnet *n = &op->nets[i];
		if (n->family != fam)
			continue;
		unsigned bits = n->prefix, k = 0;
		bool ok = true;
		for (; bits >= 8; bits -= 8, k++)
			if (a[k] != n->addr[k]) {
				ok = false;
				break;
			}
		if (ok && bits) {
			uint8_t mask = (uint8_t)(0xff << (8 - bits));
			ok = (a[k] & mask) == (n->addr[k] & mask);
		}
		if (ok)
			return true;
	}
	return false;
}

static bool is_hexc(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* True when v holds an invalid %-encoding. */
static bool bad_url_encoding(struct bw_str v)
{
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] != '%')
			continue;
		if (i + 2 >= v.len)
			return true; /* not enough characters */
		if (!is_hexc(v.p[i + 1]) || !is_hexc(v.p[i + 2]))
			return true;
		i += 2;
	}
	return false;
}

/* True when v is not well-formed UTF-8 (truncated, bad continuation,
 * overlong, or beyond U+10FFFF). */
static bool bad_utf8(struct bw_str v)
{
	const unsigned char *p = (const unsigned char *)v.p;
	size_t n = v.len;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t l;
		unsigned cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			l = 2;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			l = 3;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			l = 4;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return true;
		}
		if (i + l > n)
			return true;
		for (size_t k = 1; k < l; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return true;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff)
			return true;
		i += l;
	}
	return false;
}

static bool luhn(const char *p, size_t n)
{
	int sum = 0, digits = 0;
	bool dbl = false;
	for (size_t i = n; i-- > 0;) {
		if (p[i] < '0' || p[i] > '9')
			continue;
		int d = p[i] - '0';
		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
		digits++;
	}
	return digits >= 13 && sum % 10 == 0;
}

static bool word_char(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       c == '_';
}

static bool contains_word(struct bw_str v, struct bw_str w)
{
	if (w.len == 0)
		return true;
	for (size_t i = 0; i + w.len <= v.len; i++) {
		if (memcmp(v.p + i, w.p, w.len) != 0)
			continue;
		bool lb = i == 0 || !word_char(v.p[i - 1]);
		bool rb = i + w.len == v.len || !word_char(v.p[i + w.len]);
		if (lb && rb)
			return true;
	}
	return false;
}

static int param(struct waf_tx *tx, const struct waf_operator *op,
		 struct bw_str *out)
{
	if (!op->marg) {
		*out = op->arg;
		return 0;
	}
	return waf_macro_expand(tx, op->marg, out);
}

static int num_param(struct waf_tx *tx, const struct waf_operator *op,
		     int64_t *out)
{
	if (op->num_const) {
		*out = op->num;
		return 0;
	}
	struct bw_str s;
	if (param(tx, op, &s) != 0)
		return -1;
	*out = waf_atoi(s);
	return 0;
}

/* The operator without negation. */
static int eval_raw(struct waf_tx *tx, const struct waf_rule *r,
		    struct bw_str v)
{
	const struct waf_operator *op = &r->op;
	struct bw_str p;
	int64_t n;
	switch (op->id) {
	case WAF_OP_RX:
	case WAF_OP_RX_GLOBAL:
	case WAF_OP_VERIFY_CC:
	case WAF_OP_VERIFY_CPF:
	case WAF_OP_VERIFY_SSN:
	case WAF_OP_VERIFY_SVNR: {
		const pcre2_code *re = op->re;
		if (!re) {
			re = rx_dynamic(tx, op);
			if (!re)
				return tx->oom ? -1 : 0;
		} else if (op->hs && !tx->pf_hit) {
			int h = waf_hs_scan(tx->rs, op, v.p, v.len, NULL, NULL);
			if (h == 0)
				return 0; /* the prefilter proves no match */
		} else if (!op->hs && (!waf_rx_possible(op, v) ||
				       (op->rx_has_fbytes &&
					!waf_rx_factors_possible(tx->rs, op, v)))) {
			return 0;
		}
		if (op->id == WAF_OP_VERIFY_CC) {
			/* a regex candidate that also passes Luhn */
			pcre2_match_data *md = waf_match_data();
			int rc = pcre2_match(re, (PCRE2_SPTR)v.p, v.len, 0, 0,
					     md, waf_match_context(tx->rs));
			if (rc < 0)
				return 0;
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
			if (!luhn(v.p + ov[0], ov[1] - ov[0]))
				return 0;
			if (r->act.capture &&
			    set_capture(tx, 0, v.p + ov[0], ov[1] - ov[0]))
				return -1;
			return 1;
		}
		return rx_match(tx, re, v, r->act.capture);
	}
	case WAF_OP_PM:
	case WAF_OP_PM_FROM_FILE:
		return op_pm(tx, r, v);
	case WAF_OP_STREQ:
		if (param(tx, op, &p))
			return -1;
		return p.len == v.len && memcmp(p.p, v.p, v.len) == 0;
	case WAF_OP_STRMATCH:
	case WAF_OP_CONTAINS:
		if (param(tx, op, &p))
			return -1;
		return memmem(v.p, v.len, p.p, p.len) != NULL || p.len == 0;
	case WAF_OP_CONTAINS_WORD:
		if (param(tx, op, &p))
			return -1;
		return contains_word(v, p);
	case WAF_OP_BEGINS_WITH:
		if (param(tx, op, &p))
			return -1;
		return v.len >= p.len && memcmp(v.p, p.p, p.len) == 0;
	case WAF_OP_ENDS_WITH:
		if (param(tx, op, &p))
			return -1;
		return v.len >= p.len &&
		       memcmp(v.p + v.len - p.len, p.p, p.len) == 0;
	case WAF_OP_WITHIN:
		if (param(tx, op, &p))
			return -1;
		/* the value occurs in the parameter; "" is in everything */
		return v.len == 0 || memmem(p.p, p.len, v.p, v.len) != NULL;
	case WAF_OP_EQ:
		if (num_param(tx, op, &n))
			return -1;
		return waf_atoi(v) == n;
	case WAF_OP_GE:
		if (num_param(tx, op, &n))
			return -1;
		return waf_atoi(v) >= n;
	case WAF_OP_GT:
		if (num_param(tx, op, &n))
			return -1;
		return waf_atoi(v) > n;
	case WAF_OP_LE:
		if (num_param(tx, op, &n))
			return -1;
		return waf_atoi(v) <= n;
	case WAF_OP_LT:
		if (num_param(tx, op, &n))
			return -1;
		return waf_atoi(v) < n;
	case WAF_OP_IP_MATCH:
	case WAF_OP_IP_MATCH_FROM_FILE:
		return ip_in(op, v);
	case WAF_OP_VALIDATE_BYTE_RANGE:
		for (size_t i = 0; i < v.len; i++) {
			unsigned char c = (unsigned char)v.p[i];
			if (!(op->byte_ok[c >> 3] & (1u << (c & 7))))
				return 1;
		}
		return 0;
	case WAF_OP_VALIDATE_URL_ENCODING:
		return bad_url_encoding(v);
	case WAF_OP_VALIDATE_UTF8_ENCODING:
		return bad_utf8(v);
	case WAF_OP_DETECT_SQLI: {
		char fp[8];
		if (!waf_sqli_detect(v.p, v.len, fp))
			return 0;
		if (r->act.capture && set_capture(tx, 0, fp, strlen(fp)))
			return -1;
		return 1;
	}
	case WAF_OP_DETECT_XSS:
		return waf_xss_detect(v.p, v.len);
	case WAF_OP_UNCONDITIONAL_MATCH:
		return 1;
	case WAF_OP_NO_MATCH:
	case WAF_OP_RBL:
	case WAF_OP_GEO_LOOKUP:
		return 0;
	case WAF_OP_VALIDATE_DTD:
	case WAF_OP_VALIDATE_SCHEMA:
		/* validation runs against the parsed XML body; without one
		 * there is nothing to validate */
		return 0;
	case WAF_OP__COUNT:
		break;
	}
	return 0;
}

int waf_op_eval(struct waf_tx *tx, const struct waf_rule *r, struct bw_str v)
{
	int m = eval_raw(tx, r, v);
	if (m < 0)
		return -1;
	return r->op.negated ? !m : m;
}
