/*
 * waf_tx.c — the transaction API and the rule engine: request/response
 * intake (populating variables the way ModSecurity v3 does), the five
 * phases, rule and chain evaluation, skip/skipAfter/allow, disruptive
 * actions and the match records the explain and audit output read.
 *
 * Invariants:
 *  - everything a transaction holds is in tx->arena, so waf_tx_free is
 *    one arena release (plus the XML document, registered as a cleanup);
 *  - phases run in order, each at most once; after a disruptive decision
 *    no request/response phase runs rules again (logging still does);
 *  - the rule set is only read, never written, so transactions on many
 *    threads share it;
 *  - a memory failure sets tx->oom, stops rule evaluation and makes the
 *    phase call return -1; callers in blocking mode fail closed.
 */
#include "waf/waf_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------- creation */

static void tx_set(struct waf_tx *tx, enum waf_var_id v, const char *s)
{
	if (waf_scal_set(tx, v, s, strlen(s)) != 0)
		tx->oom = true;
}

struct waf_tx *waf_tx_new(const struct waf_ruleset *rs,
			  const struct waf_tx_opts *opts, struct bw_err *err)
{
	struct waf_tx_opts def = { .mode = WAF_MODE_BLOCK };
	if (!opts)
		opts = &def;
	size_t amax = opts->arena_max ? opts->arena_max : WAF_TX_ARENA_DEFAULT;
	if (amax > WAF_TX_ARENA_HARD)
		amax = WAF_TX_ARENA_HARD;
	struct bw_arena *a = bw_arena_new(32 << 10, amax);
	if (!a) {
		bw_err_set(err, 500, "waf", "out_of_memory", "out of memory");
		return NULL;
	}
	struct waf_tx *tx = bw_arena_zalloc(a, sizeof(*tx));
	if (!tx) {
		bw_arena_free(a);
		bw_err_set(err, 500, "waf", "out_of_memory", "out of memory");
		return NULL;
	}
	tx->rs = rs;
	tx->arena = a;
	tx->mode = opts->mode;
	tx->engine = rs->settings.rule_engine;
	tx->start_ns = bw_clock_now_ns();
	tx->start_mono = bw_clock_mono_ns();
	tx->highest_severity = 255;
	tx->reqbody_access = rs->settings.request_body_access;
	tx->resbody_access = rs->settings.response_body_access;
	tx->reqbody_limit = rs->settings.request_body_limit;
	tx->audit_engine = rs->settings.audit_engine;
	tx->audit_parts = rs->settings.audit_log_parts;
	bw_buf_init(&tx->reqbody, rs->settings.request_body_limit + 1);
	bw_buf_init(&tx->resbody, rs->settings.response_body_limit + 1);
	tx->col[WAF_VAR_TX].indexed = true;
	if (opts->unique_id && *opts->unique_id) {
		if (bw_snprintf(tx->id, sizeof(tx->id), "%s", opts->unique_id) < 0)
			memcpy(tx->id, opts->unique_id, sizeof(tx->id) - 1);
	} else {
		uint8_t rnd[8];
		char hex[17];
		bw_random(rnd, sizeof(rnd));
		bw_hex_encode(rnd, sizeof(rnd), hex);
		(void)bw_snprintf(tx->id, sizeof(tx->id), "%lld.%s",
				  (long long)(tx->start_ns / 1000), hex);
	}
	const char *cip = opts->client_ip ? opts->client_ip : "";
	const char *sip = opts->server_ip ? opts->server_ip : "";
	tx_set(tx, WAF_VAR_REMOTE_ADDR, cip);
	tx_set(tx, WAF_VAR_REMOTE_HOST, cip);
	tx_set(tx, WAF_VAR_SERVER_ADDR, sip);
	if (waf_scal_set_num(tx, WAF_VAR_REMOTE_PORT, opts->client_port) ||
	    waf_scal_set_num(tx, WAF_VAR_SERVER_PORT, opts->server_port))
		tx->oom = true;
	tx_set(tx, WAF_VAR_UNIQUE_ID, tx->id);
	tx_set(tx, WAF_VAR_URLENCODED_ERROR, "0");
	if (rs->settings.web_app_id)
		tx_set(tx, WAF_VAR_WEBAPPID, rs->settings.web_app_id);
	if (tx->oom) {
		waf_tx_free(tx);
		bw_err_set(err, 500, "waf", "out_of_memory", "out of memory");
		return NULL;
	}
	return tx;
}

void waf_tx_free(struct waf_tx *tx)
{
	if (!tx)
		return;
	bw_buf_fini(&tx->reqbody);
	bw_buf_fini(&tx->resbody);
	if (tx->xml_doc)
		waf_body_xml_free(tx->xml_doc);
	bw_arena_free(tx->arena); /* tx itself lives in the arena */
}

/* ---------------------------------------------------------- request line */

/* Apache's ap_unescape-like decoding v3 applies to the URI: valid %XX
 * only, '+' stays. Returns the new length (in place). */
static size_t uri_decode(char *s, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char h[3] = { s[i + 1], s[i + 2], 0 };
			s[j++] = (char)strtol(h, NULL, 16);
			i += 2;
		} else {
			s[j++] = s[i];
		}
	}
	return j;
}

int waf_add_arg(struct waf_tx *tx, const char *origin, const char *k,
		size_t klen, const char *v, size_t vlen)
{
	if (tx->rs->settings.arguments_limit &&
	    tx->nargs >= tx->rs->settings.arguments_limit)
		return 0; /* ModSecurity skips arguments over the limit */
	char *kk = waf_tx_strdup(tx, k, klen);
	char *vv = waf_tx_strdup(tx, v, vlen);
	if (!kk || !vv)
		return -1;
	struct waf_kv kv = { .key = bw_str_make(kk, klen),
			     .val = bw_str_make(vv, vlen), .vid = ++tx->nvid };
	kv.khash = waf_key_hash(kv.key);
	struct waf_kv nm = { .key = kv.key, .val = kv.key, .vid = ++tx->nvid,
			     .khash = kv.khash };
	enum waf_var_id c = WAF_VAR_NONE, cn = WAF_VAR_NONE;
	if (strcmp(origin, "GET") == 0) {
		c = WAF_VAR_ARGS_GET;
		cn = WAF_VAR_ARGS_GET_NAMES;
	} else if (strcmp(origin, "POST") == 0) {
		c = WAF_VAR_ARGS_POST;
		cn = WAF_VAR_ARGS_POST_NAMES;
	}
	/* waf_col_add copies; pushing the same strings avoids that. */
	struct waf_col *cols[4] = { &tx->col[WAF_VAR_ARGS],
				    &tx->col[WAF_VAR_ARGS_NAMES],
				    c ? &tx->col[c] : NULL,
				    cn ? &tx->col[cn] : NULL };
	for (int i = 0; i < 4; i++) {
		struct waf_col *col = cols[i];
		if (!col)
			continue;
		if (col->n == col->cap) {
			uint32_t nc = col->cap ? col->cap * 2 : 16;
			struct waf_kv *nv =
				bw_arena_alloc(tx->arena, nc * sizeof(*nv));
			if (!nv) {
				tx->oom = true;
				return -1;
			}
			if (col->n)
				memcpy(nv, col->v, col->n * sizeof(*nv));
			col->v = nv;
			col->cap = nc;
		}
		col->v[col->n++] = (i & 1) ? nm : kv;
	}
	tx->nargs++;
	tx->args_combined += klen + vlen;
	char num[24];
	size_t nl = waf_i64_str((int64_t)tx->args_combined, num);
	return waf_scal_set(tx, WAF_VAR_ARGS_COMBINED_SIZE, num, nl);
}

size_t waf_urldecode_nonstrict(char *s, size_t len, bool *invalid)
{
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
			    isxdigit((unsigned char)s[i + 2])) {
				char h[3] = { s[i + 1], s[i + 2], 0 };
				s[j++] = (char)strtol(h, NULL, 16);
				i += 2;
			} else {
				*invalid = true;
				s[j++] = s[i];
			}
		} else if (s[i] == '+') {
			s[j++] = ' ';
		} else {
			s[j++] = s[i];
		}
	}
	return j;
}

/* Split name=value pairs on the argument separator, percent-decode both
 * leniently and add them (ModSecurity's extractArguments). */
int waf_body_urlencoded(struct waf_tx *tx, const char *p, size_t n,
			const char *origin)
{
	char sep = tx->rs->settings.argument_separator
			   ? tx->rs->settings.argument_separator
			   : '&';
	size_t i = 0;
	while (i < n) {
		const char *e = memchr(p + i, sep, n - i);
		size_t end = e ? (size_t)(e - p) : n;
		const char *pair = p + i;
		size_t plen = end - i;
		const char *eq = memchr(pair, '=', plen);
		size_t kl = eq ? (size_t)(eq - pair) : plen;
		size_t vl = eq ? plen - kl - 1 : 0;
		char *k = waf_tx_strdup(tx, pair, kl);
		char *v = waf_tx_strdup(tx, eq ? eq + 1 : "", vl);
		if (!k || !v)
			return -1;
		bool bad = false;
		kl = waf_urldecode_nonstrict(k, kl, &bad);
		vl = waf_urldecode_nonstrict(v, vl, &bad);
		k[kl] = 0;
		v[vl] = 0;
		if (bad && waf_scal_set(tx, WAF_VAR_URLENCODED_ERROR, "1", 1))
			return -1;
		if (waf_add_arg(tx, origin, k, kl, v, vl) != 0)
			return -1;
		i = end + 1;
	}
	return 0;
}

int waf_tx_request_line(struct waf_tx *tx, const char *method, size_t mlen,
			const char *target, size_t tlen, const char *proto,
			size_t plen)
{
	if (tx->oom)
		return -1;
	char *m = waf_tx_strdup(tx, method, mlen);
	char *raw = waf_tx_strdup(tx, target, tlen);
	char *pr = waf_tx_strdup(tx, proto, plen);
	char *dec = waf_tx_strdup(tx, target, tlen);
	size_t llen = mlen + 1 + tlen + 1 + plen;
	char *line = bw_arena_alloc(tx->arena, llen + 1);
	if (!m || !raw || !pr || !dec || !line) {
		tx->oom = true;
		return -1;
	}
	tx->method = bw_str_make(m, mlen);
	tx->uri_raw = bw_str_make(raw, tlen);
	tx->proto = bw_str_make(pr, plen);
	(void)bw_snprintf(line, llen + 1, "%s %s %s", m, raw, pr);
	int rc = 0;
	rc |= waf_scal_set(tx, WAF_VAR_REQUEST_METHOD, m, mlen);
	rc |= waf_scal_set(tx, WAF_VAR_REQUEST_LINE, line, llen);
	rc |= waf_scal_set(tx, WAF_VAR_REQUEST_PROTOCOL, pr, plen);
	size_t dlen = uri_decode(dec, tlen);
	dec[dlen] = 0;
	const char *q = memchr(dec, '?', dlen);
	const char *qraw = memchr(raw, '?', tlen);
	if (qraw)
		rc |= waf_scal_set(tx, WAF_VAR_QUERY_STRING, qraw + 1,
				   tlen - (size_t)(qraw - raw) - 1);
	size_t pathlen = q ? (size_t)(q - dec) : dlen;
	rc |= waf_scal_set(tx, WAF_VAR_PATH_INFO, dec, pathlen);
	rc |= waf_scal_set(tx, WAF_VAR_REQUEST_FILENAME, dec, pathlen);
	for (size_t i = pathlen; i-- > 0;) {
		if (dec[i] == '/' || dec[i] == '\\') {
			if (i + 1 < pathlen)
				rc |= waf_scal_set(tx, WAF_VAR_REQUEST_BASENAME,
						   dec + i + 1, pathlen - i - 1);
			break;
		}
	}
	/* REQUEST_URI drops scheme://host of an absolute-form target. */
	const char *uri = dec;
	size_t ulen = dlen;
	if (dlen && dec[0] != '/') {
		const char *colon = memchr(dec, ':', dlen);
		if (colon && (size_t)(colon - dec) + 3 <= dlen &&
		    colon[1] == '/' && colon[2] == '/') {
			const char *host = colon + 3;
			const char *slash =
				memchr(host, '/', dlen - (size_t)(host - dec));
			if (slash) {
				uri = slash;
				ulen = dlen - (size_t)(slash - dec);
			}
		}
	}
	rc |= waf_scal_set(tx, WAF_VAR_REQUEST_URI, uri, ulen);
	rc |= waf_scal_set(tx, WAF_VAR_REQUEST_URI_RAW, raw, tlen);
	if (rc)
		return -1;
	if (tx->scal_set[WAF_VAR_QUERY_STRING] &&
	    tx->scal[WAF_VAR_QUERY_STRING].len &&
	    waf_body_urlencoded(tx, tx->scal[WAF_VAR_QUERY_STRING].p,
				tx->scal[WAF_VAR_QUERY_STRING].len, "GET") != 0)
		return -1;
	return 0;
}

/* Cookie: a=b; c=d — split on ';', left-trim names, skip empty names;
 * the value runs to the next ';' (ModSecurity v3.0.9). */
static int parse_cookies(struct waf_tx *tx, const char *v, size_t n)
{
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	size_t i = 0;
	while (i < n) {
		const char *e = memchr(v + i, ';', n - i);
		size_t end = e ? (size_t)(e - v) : n;
		const char *c = v + i;
		size_t cl = end - i;
		i = end + 1;
		if (!cl)
			continue;
		const char *eq = memchr(c, '=', cl);
		size_t kl = eq ? (size_t)(eq - c) : cl;
		const char *k = c;
		while (kl && isspace((unsigned char)*k)) {
			k++;
			kl--;
		}
		if (!kl)
			continue;
		const char *val = eq ? eq + 1 : "";
		size_t vl = eq ? cl - (size_t)(eq - c) - 1 : 0;
		if (waf_col_add(tx, WAF_VAR_REQUEST_COOKIES_NAMES, k, kl, k, kl) ||
		    waf_col_add(tx, WAF_VAR_REQUEST_COOKIES, k, kl, val, vl))
			return -1;
	}
	return 0;
}

static bool prefix_ci(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && strncasecmp(s, lit, l) == 0;
}

int waf_tx_request_header(struct waf_tx *tx, const char *name, size_t nlen,
			  const char *value, size_t vlen)
{
	if (tx->oom)
		return -1;
	if (waf_col_add(tx, WAF_VAR_REQUEST_HEADERS_NAMES, name, nlen, name,
			nlen) ||
	    waf_col_add(tx, WAF_VAR_REQUEST_HEADERS, name, nlen, value, vlen))
		return -1;
	struct bw_str nm = bw_str_make(name, nlen);
	if (bw_str_caseeq_lit(nm, "authorization")) {
		const char *sp = memchr(value, ' ', vlen);
		if (waf_scal_set(tx, WAF_VAR_AUTH_TYPE, value,
				 sp ? (size_t)(sp - value) : vlen))
			return -1;
	} else if (bw_str_caseeq_lit(nm, "cookie")) {
		if (parse_cookies(tx, value, vlen))
			return -1;
	} else if (bw_str_caseeq_lit(nm, "content-type")) {
		if (prefix_ci(value, vlen, "multipart/form-data")) {
			tx->body_kind = WAF_BODYK_MULTIPART;
			if (waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR,
					 "MULTIPART", 9))
				return -1;
		}
		if (prefix_ci(value, vlen, "application/x-www-form-urlencoded")) {
			tx->body_kind = WAF_BODYK_URLENCODED;
			if (waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR,
					 "URLENCODED", 10))
				return -1;
		}
	} else if (bw_str_caseeq_lit(nm, "host")) {
		const char *colon = memchr(value, ':', vlen);
		if (waf_scal_set(tx, WAF_VAR_SERVER_NAME, value,
				 colon ? (size_t)(colon - value) : vlen))
			return -1;
	}
	return 0;
}

int waf_tx_append_request_body(struct waf_tx *tx, const void *p, size_t n)
{
	if (tx->oom)
		return -1;
	uint64_t lim = tx->reqbody_limit;
	size_t room = lim > tx->reqbody.len ? (size_t)(lim - tx->reqbody.len) : 0;
	if (n > room) {
		tx->reqbody_over = true;
		if (waf_scal_set(tx, WAF_VAR_INBOUND_DATA_ERROR, "1", 1))
			return -1;
		n = room; /* ProcessPartial keeps what fits; Reject denies */
	}
	if (n && bw_buf_append(&tx->reqbody, p, n) != 0) {
		tx->oom = true;
		return -1;
	}
	return 0;
}

int waf_tx_response_status(struct waf_tx *tx, int status, const char *proto,
			   size_t plen)
{
	if (tx->oom)
		return -1;
	tx->status = status;
	if (waf_scal_set_num(tx, WAF_VAR_RESPONSE_STATUS, status) ||
	    waf_scal_set_num(tx, WAF_VAR_STATUS, status) ||
	    waf_scal_set(tx, WAF_VAR_RESPONSE_PROTOCOL, proto, plen))
		return -1;
	return 0;
}

int waf_tx_response_header(struct waf_tx *tx, const char *name, size_t nlen,
			   const char *value, size_t vlen)
{
	if (tx->oom)
		return -1;
	if (waf_col_add(tx, WAF_VAR_RESPONSE_HEADERS_NAMES, name, nlen, name,
			nlen) ||
	    waf_col_add(tx, WAF_VAR_RESPONSE_HEADERS, name, nlen, value, vlen))
		return -1;
	if (bw_str_caseeq_lit(bw_str_make(name, nlen), "content-type")) {
		const char *semi = memchr(value, ';', vlen);
		if (waf_scal_set(tx, WAF_VAR_RESPONSE_CONTENT_TYPE, value,
				 semi ? (size_t)(semi - value) : vlen))
			return -1;
	}
	return 0;
}

int waf_tx_append_response_body(struct waf_tx *tx, const void *p, size_t n)
{
	if (tx->oom)
		return -1;
	uint64_t lim = tx->rs->settings.response_body_limit;
	size_t room = lim > tx->resbody.len ? (size_t)(lim - tx->resbody.len) : 0;
	if (n > room) {
		if (waf_scal_set(tx, WAF_VAR_OUTBOUND_DATA_ERROR, "1", 1))
			return -1;
		n = room;
	}
	if (n && bw_buf_append(&tx->resbody, p, n) != 0) {
		tx->oom = true;
		return -1;
	}
	return 0;
}

bool waf_tx_full_request(struct waf_tx *tx, struct bw_str *out, bool length)
{
	if (tx->last_phase < 2)
		return false;
	const struct waf_col *h = &tx->col[WAF_VAR_REQUEST_HEADERS];
	size_t n = 2 + tx->reqbody.len;
	for (uint32_t i = 0; i < h->n; i++)
		n += h->v[i].key.len + 2 + h->v[i].val.len + 1;
	if (length) {
		char tmp[24];
		int l = bw_snprintf(tmp, sizeof(tmp), "%zu", n);
		char *d = waf_tx_strdup(tx, tmp, (size_t)l);
		if (!d)
			return false;
		*out = bw_str_make(d, (size_t)l);
		return true;
	}
	char *d = bw_arena_alloc(tx->arena, n + 1);
	if (!d) {
		tx->oom = true;
		return false;
	}
	size_t o = 0;
	for (uint32_t i = 0; i < h->n; i++) {
		memcpy(d + o, h->v[i].key.p, h->v[i].key.len);
		o += h->v[i].key.len;
		d[o++] = ':';
		d[o++] = ' ';
		memcpy(d + o, h->v[i].val.p, h->v[i].val.len);
		o += h->v[i].val.len;
		d[o++] = '\n';
	}
	d[o++] = '\n';
	d[o++] = '\n';
	if (tx->reqbody.len)
		memcpy(d + o, tx->reqbody.data, tx->reqbody.len);
	o += tx->reqbody.len;
	d[o] = 0;
	*out = bw_str_make(d, o);
	return true;
}

/* ------------------------------------------------------------ matching */

static bool enforcing(const struct waf_tx *tx)
{
	return tx->mode == WAF_MODE_BLOCK && tx->engine == WAF_ENGINE_ON;
}

static bool running(const struct waf_tx *tx)
{
	return tx->mode != WAF_MODE_OFF && tx->engine != WAF_ENGINE_OFF &&
	       !tx->oom;
}

static void clear_matched(struct waf_tx *tx)
{
	tx->scal_set[WAF_VAR_MATCHED_VAR] = false;
	tx->scal_set[WAF_VAR_MATCHED_VAR_NAME] = false;
	tx->col[WAF_VAR_MATCHED_VARS].n = 0;
	tx->col[WAF_VAR_MATCHED_VARS_NAMES].n = 0;
}

static int on_value_match(struct waf_tx *tx, const struct waf_rule *l,
			  const struct waf_val *v, struct bw_str tv)
{
	struct bw_str name;
	if (waf_val_name(tx, v, &name) != 0)
		return -1;
	tx->scal[WAF_VAR_MATCHED_VAR] = tv;
	tx->scal_set[WAF_VAR_MATCHED_VAR] = true;
	tx->scal_vid[WAF_VAR_MATCHED_VAR] = 0; /* changes per match: no cache */
	tx->scal[WAF_VAR_MATCHED_VAR_NAME] = name;
	tx->scal_set[WAF_VAR_MATCHED_VAR_NAME] = true;
	tx->scal_vid[WAF_VAR_MATCHED_VAR_NAME] = 0;
	/* The collections share the strings: no copies. */
	struct waf_col *mv = &tx->col[WAF_VAR_MATCHED_VARS];
	struct waf_col *mn = &tx->col[WAF_VAR_MATCHED_VARS_NAMES];
	for (int i = 0; i < 2; i++) {
		struct waf_col *c = i ? mn : mv;
		if (c->n == c->cap) {
			uint32_t nc = c->cap ? c->cap * 2 : 8;
			struct waf_kv *nv = bw_arena_alloc(tx->arena,
							   nc * sizeof(*nv));
			if (!nv) {
				tx->oom = true;
				return -1;
			}
			if (c->n)
				memcpy(nv, c->v, c->n * sizeof(*nv));
			c->v = nv;
			c->cap = nc;
		}
		c->v[c->n++] = (struct waf_kv){ .key = name,
						.val = i ? name : tv };
	}
	tx->last_match = (struct waf_val){ v->var, v->count, name, v->val, 0 };
	return waf_act_setvars(tx, l);
}

/* Group member l may match value v: false only when the group scanned
 * v (same value id, so the same text) and found none of l's factors. */
static bool sk_value_may_match(const struct waf_tx *tx, const struct waf_rule *l,
			       const struct waf_val *v, bool *hit)
{
	*hit = false;
	if (!l->sk_group || !v->vid || !tx->sk_vcap)
		return true;
	size_t gi = l->sk_group - 1;
	if (v->vid >= tx->sk_vcap[gi] ||
	    !((tx->sk_vknown[gi][v->vid / 64] >> (v->vid % 64)) & 1))
		return true;
	size_t words = (tx->rs->skg[gi].nmembers + 63) / 64;
	*hit = (tx->sk_vhit[gi][(size_t)v->vid * words + l->sk_bit / 64] >>
		(l->sk_bit % 64)) & 1;
	return *hit;
}

/* Evaluate one link and, when it matched, the rest of its chain; runs the
 * link's after-match actions when the whole rest matched. 1, 0 or -1. */
static int eval_link(struct waf_tx *tx, const struct waf_rule *l)
{
	bool any = false;
	tx->cur_link = l;
	if (l->kind == WAF_RULE_SECACTION) {
		tx->last_match = (struct waf_val){ WAF_VAR_NONE, false,
						   BW_STR(""), BW_STR(""), 0 };
		if (waf_act_setvars(tx, l) != 0)
			return -1;
		any = true;
	} else {
		if (waf_var_collect(tx, l) != 0)
			return -1;
		/* The list is reused by nested links; walk a private copy
		 * only if this rule has a chain (values stay in place). */
		struct waf_val *vals = tx->vals.v;
		size_t nv = tx->vals.n;
		if (l->chain_next && nv) {
			struct waf_val *cp =
				bw_arena_alloc(tx->arena, nv * sizeof(*cp));
			if (!cp) {
				tx->oom = true;
				return -1;
			}
			memcpy(cp, vals, nv * sizeof(*cp));
			vals = cp;
		}
		for (size_t i = 0; i < nv; i++) {
			const struct waf_val *v = &vals[i];
			if (l->act.multi_match) {
				/* the raw value and every changed step */
				struct bw_str prev = { NULL, 0 };
				for (size_t k = 0; k <= l->eff.ntfns; k++) {
					struct bw_str tv;
					if (waf_tfn_prefix(tx, l, v, k, &tv))
						return -1;
					if (k && tv.p == prev.p && tv.len == prev.len)
						continue;
					prev = tv;
					int m = waf_op_eval(tx, l, tv);
					if (m < 0)
						return -1;
					if (m) {
						any = true;
						if (on_value_match(tx, l, v, tv))
							return -1;
					}
				}
				continue;
			}
			bool hit;
			if (!sk_value_may_match(tx, l, v, &hit))
				continue;
			struct bw_str tv;
			if (waf_tfn_chain(tx, l, v, &tv) != 0)
				return -1;
			tx->pf_hit = hit;
			int m = waf_op_eval(tx, l, tv);
			tx->pf_hit = false;
			if (m < 0)
				return -1;
			if (m) {
				any = true;
				if (on_value_match(tx, l, v, tv) != 0)
					return -1;
			}
		}
	}
	if (!any) {
		clear_matched(tx);
		return 0;
	}
	if (l->chain_next) {
		int r = eval_link(tx, l->chain_next);
		if (r <= 0)
			return r;
	}
	return waf_act_after_match(tx, l) == 0 ? 1 : -1;
}

/* The CRS's running anomaly totals: inbound and outbound, every paranoia
 * level. A rule's score is how much they grew since the last logged
 * match (explain output). */
static int64_t anomaly_totals(const struct waf_tx *tx)
{
	static const char *const keys[] = {
		"anomaly_score_pl1", "anomaly_score_pl2", "anomaly_score_pl3",
		"anomaly_score_pl4", "outbound_anomaly_score_pl1",
		"outbound_anomaly_score_pl2", "outbound_anomaly_score_pl3",
		"outbound_anomaly_score_pl4",
	};
	int64_t sum = 0;
	for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
		const struct waf_kv *kv = waf_col_get(
			tx, WAF_VAR_TX, bw_str_make(keys[i], strlen(keys[i])));
		if (kv)
			sum += waf_atoi(kv->val);
	}
	return sum;
}

/* First capacity of a transaction's match list (grown by doubling up to
 * WAF_MATCHES_MAX): one allocation for a benign request under the CRS. */
#define MATCHES_FIRST 128

static int record_match(struct waf_tx *tx, const struct waf_rule *r,
			int phase)
{
	if (tx->nmatches >= WAF_MATCHES_MAX)
		return 0;
	if (!tx->matches) {
		/* Sized once for what a rule set of this size records: the
		 * CRS records ~80 matches on a benign GET (setup rules and
		 * paranoia-level skips match too), and growing 8, 16, 32,
		 * 64 copied 18 KB per request. */
		size_t first = tx->rs->nrules < MATCHES_FIRST ? tx->rs->nrules
							      : MATCHES_FIRST;
		if (first < 8)
			first = 8;
		tx->matches = bw_arena_alloc(tx->arena, first * sizeof(*tx->matches));
		if (!tx->matches) {
			tx->oom = true;
			return -1;
		}
		tx->cap_matches = first;
	}
	if (waf_grow(tx->arena, (void **)&tx->matches, &tx->cap_matches,
		     tx->nmatches, sizeof(*tx->matches)) != 0) {
		tx->oom = true;
		return -1;
	}
	struct waf_match_int *mi = &tx->matches[tx->nmatches];
	memset(mi, 0, sizeof(*mi));
	struct waf_match *m = &mi->pub;
	mi->rule = r;
	m->rule_id = r->act.id;
	m->phase = phase;
	m->file = r->file;
	m->line = r->line;
	struct bw_str s;
	if (waf_macro_expand(tx, r->eff.msg, &s) != 0)
		return -1;
	m->msg = s.p ? s.p : "";
	if (waf_macro_expand(tx, r->eff.logdata, &s) != 0)
		return -1;
	m->logdata = s.p ? s.p : "";
	m->severity = r->eff.severity;
	if (r->eff.ntags) {
		const char **tags =
			bw_arena_alloc(tx->arena, r->eff.ntags * sizeof(*tags));
		if (!tags) {
			tx->oom = true;
			return -1;
		}
		for (size_t i = 0; i < r->eff.ntags; i++) {
			if (waf_macro_expand(tx, r->eff.tags[i], &s) != 0)
				return -1;
			tags[i] = s.p;
		}
		m->tags = tags;
		m->ntags = r->eff.ntags;
	}
	m->var_name = tx->last_match.key.p ? tx->last_match.key.p : "";
	m->var_value = tx->last_match.val.p ? tx->last_match.val.p : "";
	const struct waf_rule *last = r;
	while (last->chain_next)
		last = last->chain_next;
	m->tfns = tx->cur_link && tx->cur_link->tfn_text
			  ? tx->cur_link->tfn_text
			  : "";
	m->op = waf_op_name(last->op.id);
	m->logged = r->eff.logged;
	if (m->logged) {
		int64_t now = anomaly_totals(tx);
		m->score = now - tx->score_seen;
		tx->score_seen = now;
	}
	m->ver = r->act.ver;
	m->rev = r->act.rev;
	m->maturity = r->act.maturity;
	m->accuracy = r->act.accuracy;
	if (r->eff.severity >= 0 && r->eff.severity < tx->highest_severity)
		tx->highest_severity = r->eff.severity;
	tx->nmatches++;
	return 0;
}

static int disrupt(struct waf_tx *tx, const struct waf_rule *r, int phase)
{
	enum waf_disruptive d = r->eff.disruptive;
	if (d == WAF_DIS_PASS || d == WAF_DIS_UNSET || d == WAF_DIS_BLOCK)
		return 0;
	if (!enforcing(tx))
		return 0;
	if (d == WAF_DIS_ALLOW) {
		tx->allowed = true;
		tx->allow = r->eff.allow_scope;
		tx->allow_phase = phase;
		if (tx->allow == WAF_ALLOW_ALL) {
			tx->dec.verdict = WAF_ALLOW;
			tx->dec.rule_id = r->act.id;
			tx->dec.phase = phase;
		}
		return 0;
	}
	tx->disrupted = true;
	tx->dec.rule_id = r->act.id;
	tx->dec.phase = phase;
	if (tx->nmatches)
		tx->matches[tx->nmatches - 1].pub.disruptive = true;
	switch (d) {
	case WAF_DIS_DENY:
		tx->dec.verdict = WAF_DENY;
		tx->dec.status = r->eff.status ? r->eff.status : 403;
		break;
	case WAF_DIS_DROP:
		tx->dec.verdict = WAF_DROP;
		tx->dec.status = 0;
		break;
	case WAF_DIS_REDIRECT: {
		struct bw_str loc;
		if (waf_macro_expand(tx, r->eff.redirect, &loc) != 0)
			return -1;
		tx->dec.verdict = WAF_REDIRECT;
		int st = r->eff.status;
		tx->dec.status = (st == 301 || st == 302 || st == 303 ||
				  st == 307 || st == 308)
					 ? st
					 : 302;
		tx->dec.location = loc.p;
		break;
	}
	default:
		break;
	}
	return 0;
}

static bool allow_skips(const struct waf_tx *tx, int phase)
{
	if (!tx->allowed)
		return false;
	switch (tx->allow) {
	case WAF_ALLOW_ALL:
		return phase != 5;
	case WAF_ALLOW_REQUEST:
		return phase <= 2;
	case WAF_ALLOW_PHASE:
		return phase == tx->allow_phase;
	}
	return false;
}

/* Makes room for value ids below tx->nvid + 1 in group gi's per-value
 * tables (new entries unknown). 0 or -1 (memory). */
static int sk_vgrow(struct waf_tx *tx, size_t gi, size_t words)
{
	uint32_t need = tx->nvid + 1;
	uint32_t cap = tx->sk_vcap[gi];
	if (need <= cap)
		return 0;
	uint32_t nc = cap ? cap : 64;
	while (nc < need)
		nc *= 2;
	size_t kw_old = ((size_t)cap + 63) / 64, kw = ((size_t)nc + 63) / 64;
	uint64_t *known = bw_arena_zalloc(tx->arena, kw * sizeof(*known));
	uint64_t *hit = bw_arena_alloc(tx->arena, (size_t)nc * words * sizeof(*hit));
	if (!known || !hit)
		return -1;
	if (cap) {
		memcpy(known, tx->sk_vknown[gi], kw_old * sizeof(*known));
		memcpy(hit, tx->sk_vhit[gi], (size_t)cap * words * sizeof(*hit));
	}
	tx->sk_vknown[gi] = known;
	tx->sk_vhit[gi] = hit;
	tx->sk_vcap[gi] = nc;
	return 0;
}

/* Whether starter r (a member of a group prefilter, see waf_int.h) can
 * match in this phase: 1 yes or maybe, 0 no (skip it), -1 memory. The
 * group's universe is collected once per phase; each group scans each
 * value once per transaction (by value id; values without an id once per
 * phase), transformed by the group's shared chain, and remembers per
 * value which members' factors it holds (see sk_value_may_match). */
static int sk_can_match(struct waf_tx *tx, const struct waf_step *st, int phase)
{
	const struct waf_ruleset *rs = tx->rs;
	size_t gi = st->sk_group - 1;
	const struct waf_skgroup *g = &rs->skg[gi];
	size_t words = (g->nmembers + 63) / 64;
	if (!tx->sk_phase) {
		size_t n = rs->nskg;
		tx->sk_phase = bw_arena_zalloc(tx->arena, n * sizeof(*tx->sk_phase));
		tx->sk_bits = bw_arena_zalloc(tx->arena, n * sizeof(*tx->sk_bits));
		tx->sk_vcap = bw_arena_zalloc(tx->arena, n * sizeof(*tx->sk_vcap));
		tx->sk_vknown = bw_arena_zalloc(tx->arena, n * sizeof(*tx->sk_vknown));
		tx->sk_vhit = bw_arena_zalloc(tx->arena, n * sizeof(*tx->sk_vhit));
		if (!tx->sk_phase || !tx->sk_bits || !tx->sk_vcap ||
		    !tx->sk_vknown || !tx->sk_vhit)
			goto oom;
	}
	if (tx->sk_phase[gi] != phase) {
		if (waf_var_collect(tx, g->uni) != 0)
			return -1;
		const struct waf_val *uni = tx->vals.v;
		size_t nuni = tx->vals.n;
		if (nuni >= WAF_VALUES_MAX)
			return 1; /* truncated: a member might see values the
				     universe lacks */
		uint64_t *bits = tx->sk_bits[gi];
		if (!bits) {
			bits = bw_arena_alloc(tx->arena, words * sizeof(*bits));
			if (!bits)
				goto oom;
			tx->sk_bits[gi] = bits;
		}
		memset(bits, 0, words * sizeof(*bits));
		if (sk_vgrow(tx, gi, words) != 0)
			goto oom;
		uint64_t *known = tx->sk_vknown[gi];
		uint64_t one[WAF_SK_WORDS_MAX];
		for (size_t i = 0; i < nuni; i++) {
			uint32_t vid = uni[i].vid;
			uint64_t *row = vid ? &tx->sk_vhit[gi][(size_t)vid * words] : one;
			if (!vid || !((known[vid / 64] >> (vid % 64)) & 1)) {
				struct bw_str tv;
				if (waf_tfn_chain(tx, g->rep, &uni[i], &tv) != 0)
					return -1;
				memset(row, 0, words * sizeof(*row));
				if (waf_hs_scan_group(rs, g, tv.p, tv.len, row) != 0) {
					memset(bits, 0xff, words * sizeof(*bits));
					break;
				}
				if (vid)
					known[vid / 64] |= (uint64_t)1 << (vid % 64);
			}
			for (size_t w = 0; w < words; w++)
				bits[w] |= row[w];
		}
		tx->sk_phase[gi] = phase;
	}
	return (int)((tx->sk_bits[gi][st->sk_bit / 64] >> (st->sk_bit % 64)) & 1);
oom:
	tx->oom = true;
	return -1;
}

static int run_phase(struct waf_tx *tx, int phase);

/* ------------------------------------------------------ phase-1 snapshot
 *
 * After ModSecurity's recommended rules (which only pick a body
 * processor), the CRS begins phase 1 with ~22 rules whose outcome
 * depends on the configuration alone (900990, 901001, 901100-901167
 * "&TX:x @eq 0 -> setvar default", 901200's setvars). They read only TX,
 * RULE and MATCHED_* and write only TX, MATCHED_*, the match list and the
 * skip state. So they run once, at load, on a scratch transaction
 * (rs->snap): from the first such rule (snap_first) to the first rule
 * that is not such (snap_resume; a rule that would disrupt ends it too).
 * A transaction reaching snap_first with everything they read as the
 * scratch had it (snap_applies: TX and MATCHED_* empty, nothing removed,
 * no skip, no logged score, same engine mode) takes the result and goes
 * on at snap_resume: the same engine code on the same inputs, hence the
 * same result. The copy renumbers value ids so they stay unique in the
 * transaction. BW_WAF_NO_SNAPSHOT=1 turns it off, for comparison.
 */

/* Variables a snapshot-safe rule may read: state that starts empty (or
 * fixed) in every transaction and that only such rules changed so far. */
static bool snap_var_ok(enum waf_var_id v)
{
	return v == WAF_VAR_TX || v == WAF_VAR_RULE ||
	       v == WAF_VAR_MATCHED_VAR || v == WAF_VAR_MATCHED_VAR_NAME ||
	       v == WAF_VAR_MATCHED_VARS || v == WAF_VAR_MATCHED_VARS_NAMES;
}

static bool macro_snap_safe(const struct waf_macro *m)
{
	if (!m || m->constant)
		return true;
	for (size_t i = 0; i < m->nsegs; i++)
		if (m->segs[i].kind == WAF_SEG_VAR && !snap_var_ok(m->segs[i].var))
			return false;
	return true;
}

static bool link_snap_safe(const struct waf_rule *l)
{
	for (size_t i = 0; i < l->ntargets; i++)
		if (l->targets[i].var != WAF_VAR_TX)
			return false;
	switch (l->op.id) {
	case WAF_OP_RBL:
	case WAF_OP_GEO_LOOKUP:
	case WAF_OP_VALIDATE_DTD:
	case WAF_OP_VALIDATE_SCHEMA:
		return false;
	default:
		break;
	}
	if (!macro_snap_safe(l->op.marg))
		return false;
	/* only TX setvars: no ctl, persistent collections, env, expiry */
	for (size_t i = 0; i < l->eff.nexecs; i++) {
		const struct waf_exec *x = &l->eff.execs[i];
		if (x->kind != WAF_EXEC_SETVAR || x->col != WAF_VAR_TX ||
		    !macro_snap_safe(x->key) || !macro_snap_safe(x->value))
			return false;
	}
	/* expanded when the match is recorded */
	if (!macro_snap_safe(l->eff.msg) || !macro_snap_safe(l->eff.logdata))
		return false;
	for (size_t i = 0; i < l->eff.ntags; i++)
		if (!macro_snap_safe(l->eff.tags[i]))
			return false;
	return true;
}

static bool rule_snap_safe(const struct waf_rule *r)
{
	if (r->kind != WAF_RULE_SECRULE && r->kind != WAF_RULE_SECACTION)
		return false;
	for (const struct waf_rule *l = r; l; l = l->chain_next)
		if (!link_snap_safe(l))
			return false;
	return true;
}

/* A matched rule the snapshot may include: one that does not disrupt or
 * allow, whatever the mode. */
static bool snap_pass(const struct waf_rule *r)
{
	enum waf_disruptive d = r->eff.disruptive;
	return d == WAF_DIS_PASS || d == WAF_DIS_UNSET || d == WAF_DIS_BLOCK;
}

/* ----------------------------------------- rules decided by the snapshot
 *
 * After the snapshot, the CRS keeps testing configuration values: the
 * paranoia-level gates of every file (9xx011-9xx014 "TX:EXECUTING_
 * PARANOIA_LEVEL @lt N"), the exclusion packages (9001000-9006000),
 * sampling (901400, 901500). Such a rule reads only TX keys by name. When
 * no rule that can run before it (any phase up to its own, the
 * snapshot's rules excepted) may write one of those keys — by setvar or
 * expirevar with that key, with a key macro whose literal start could
 * spell it, or by capture (TX:0-9) — a transaction that took the
 * snapshot still has the snapshot's values there, so the rule's outcome
 * is the one it has on the snapshot. The ones that do not match are
 * marked (waf_step.no_match_after_snap) and pass by as a non-matching
 * rule does; the ones that match and run no actions (the gates: nolog,
 * skipAfter) keep their matching values (match_after_snap), so the
 * transaction records the match without collecting and testing again.
 * Removed targets (ctl:ruleRemoveTarget*) turn both off.
 */

/* Whether a TX write with key macro m can write key k (case-insensitive). */
static bool key_may_write(const struct waf_macro *m, struct bw_str k)
{
	if (!m)
		return true;
	if (m->constant)
		return m->raw.len == k.len && strncasecmp(m->raw.p, k.p, k.len) == 0;
	size_t off = 0;
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct waf_macro_seg *g = &m->segs[i];
		if (g->kind != WAF_SEG_LITERAL)
			return true; /* the rest is known at run time only */
		if (off + g->text.len > k.len ||
		    strncasecmp(k.p + off, g->text.p, g->text.len) != 0)
			return false;
		off += g->text.len;
	}
	return off == k.len;
}

/* Whether link l may write TX key k when it runs. */
static bool link_may_write(const struct waf_rule *l, struct bw_str k)
{
	if (l->act.capture && k.len == 1 && k.p[0] >= '0' && k.p[0] <= '9')
		return true;
	for (size_t i = 0; i < l->eff.nexecs; i++) {
		const struct waf_exec *x = &l->eff.execs[i];
		if ((x->kind == WAF_EXEC_SETVAR || x->kind == WAF_EXEC_EXPIREVAR) &&
		    x->col == WAF_VAR_TX && key_may_write(x->key, k))
			return true;
	}
	return false;
}

/* Whether a rule that may run before step k of phase ph (the snapshot's
 * own rules excepted) may write TX key key. */
static bool written_before(const struct waf_ruleset *rs, int ph, size_t k,
			   struct bw_str key)
{
	for (int p = 1; p <= ph; p++) {
		const struct waf_phase_rules *pr = &rs->phase[p];
		size_t end = p == ph ? k : pr->n;
		for (size_t i = 0; i < end; i++) {
			if (p == 1 && i >= rs->snap_first && i < rs->snap_resume)
				continue;
			if (pr->steps[i].kind == WAF_RULE_MARKER)
				continue;
			for (const struct waf_rule *l = pr->steps[i].r; l; l = l->chain_next)
				if (link_may_write(l, key))
					return true;
		}
	}
	return false;
}

/* A rule whose outcome the snapshot's TX decides: one link, TX keys by
 * name only (also as &TX:key), an operator without regex (no match limit
 * to trip) whose parameter reads TX keys or RULE only, nothing written
 * before it to those keys. */
static bool snap_decides(const struct waf_ruleset *rs, int ph, size_t k,
			 const struct waf_rule *r)
{
	if (r->kind != WAF_RULE_SECRULE || r->chain_next || r->act.capture ||
	    r->act.multi_match || !rule_snap_safe(r))
		return false;
	switch (r->op.id) {
	case WAF_OP_EQ: case WAF_OP_GE: case WAF_OP_GT: case WAF_OP_LE:
	case WAF_OP_LT: case WAF_OP_STREQ: case WAF_OP_WITHIN:
	case WAF_OP_CONTAINS: case WAF_OP_BEGINS_WITH: case WAF_OP_ENDS_WITH:
		break;
	default:
		return false;
	}
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct waf_target *t = &r->targets[i];
		if (t->exclude || t->sel_kind != WAF_SEL_NAME ||
		    written_before(rs, ph, k, t->sel))
			return false;
	}
	const struct waf_macro *m = r->op.marg;
	for (size_t i = 0; m && !m->constant && i < m->nsegs; i++) {
		const struct waf_macro_seg *g = &m->segs[i];
		if (g->kind != WAF_SEG_VAR)
			continue;
		if (g->var == WAF_VAR_RULE)
			continue;
		if (g->var != WAF_VAR_TX || !g->key.len ||
		    written_before(rs, ph, k, g->key))
			return false;
	}
	return true;
}

/* Which values of rule r match on the snapshot's state (tested there
 * without running its actions): into *out (rs arena). 0 or -1. */
static int snap_matches(struct waf_ruleset *rs, const struct waf_rule *r,
			struct waf_replay *out)
{
	struct waf_tx *s = rs->snap;
	s->last_phase = r->phase;
	if (waf_var_collect(s, r) != 0)
		return -1;
	size_t n = s->vals.n;
	*out = (struct waf_replay){ 0 };
	if (!n)
		return 0;
	out->vals = bw_arena_alloc(rs->arena, n * sizeof(*out->vals));
	out->tvs = bw_arena_alloc(rs->arena, n * sizeof(*out->tvs));
	if (!out->vals || !out->tvs)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct bw_str tv;
		if (waf_tfn_chain(s, r, &s->vals.v[i], &tv) != 0)
			return -1;
		int m = waf_op_eval(s, r, tv);
		if (m < 0)
			return -1;
		if (m) {
			out->vals[out->n] = s->vals.v[i];
			out->tvs[out->n] = tv;
			out->n++;
		}
	}
	return 0;
}

/* A decided rule that matches can be replayed from its values when a
 * match runs nothing per value or after it (no setvar, ctl...), logs
 * nothing (no score to compute) and does not disrupt. */
static bool snap_replayable(const struct waf_rule *r)
{
	return r->eff.nexecs == 0 && !r->eff.logged && snap_pass(r);
}

static void snap_fold(struct waf_ruleset *rs)
{
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++) {
		struct waf_phase_rules *pr = &rs->phase[ph];
		for (size_t i = 0; i < pr->n; i++) {
			struct waf_step *st = &pr->steps[i];
			if (ph == 1 && i < rs->snap_resume)
				continue;
			if (st->kind == WAF_RULE_MARKER ||
			    !snap_decides(rs, ph, i, st->r))
				continue;
			struct waf_replay rep;
			if (snap_matches(rs, st->r, &rep) != 0)
				continue;
			if (rep.n == 0) {
				st->no_match_after_snap = true;
			} else if (snap_replayable(st->r)) {
				struct waf_replay *keep =
					bw_arena_alloc(rs->arena, sizeof(*keep));
				if (keep) {
					*keep = rep;
					st->match_after_snap = keep;
				}
			}
		}
	}
	rs->snap->last_phase = 1;
}

/* What eval_link does for a rule whose matching values the snapshot
 * decided (waf_step.match_after_snap): the per-value match bookkeeping,
 * then the after-match actions. 1 or -1. */
static int snap_replay(struct waf_tx *tx, const struct waf_rule *r,
		       const struct waf_replay *rep)
{
	tx->cur_link = r;
	for (size_t i = 0; i < rep->n; i++)
		if (on_value_match(tx, r, &rep->vals[i], rep->tvs[i]) != 0)
			return -1;
	return waf_act_after_match(tx, r) == 0 ? 1 : -1;
}

void waf_ruleset_snapshot(struct waf_ruleset *rs)
{
	rs->snap = NULL;
	rs->snap_resume = 0;
	if (!rs->phase[1].n || rs->settings.rule_engine == WAF_ENGINE_OFF)
		return;
	const char *off = getenv("BW_WAF_NO_SNAPSHOT");
	if (off && *off && *off != '0')
		return;
	/* The run starts at the first snapshot-safe rule: the rules before
	 * it (ModSecurity's recommended set picks body processors there)
	 * run per transaction, and the snapshot is taken only when they
	 * left everything it reads as it was (snap_applies). */
	const struct waf_phase_rules *pr = &rs->phase[1];
	size_t a = 0;
	while (a < pr->n && (pr->steps[a].kind == WAF_RULE_MARKER ||
			     !rule_snap_safe(pr->steps[a].r)))
		a++;
	if (a == pr->n)
		return;
	rs->snap_first = a;
	size_t limit = pr->n;
	/* each retry ends the run before the rule that disrupted */
	for (int attempt = 0; attempt < 8; attempt++) {
		struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK,
					 .unique_id = "snapshot" };
		struct waf_tx *tx = waf_tx_new(rs, &o, NULL);
		if (!tx)
			return;
		tx->snap_build = true;
		tx->snap_limit = limit;
		tx->snap_stop = rs->phase[1].n;
		if (run_phase(tx, 1) != 0 || tx->oom || tx->disrupted ||
		    tx->allowed) {
			waf_tx_free(tx);
			return;
		}
		if (tx->snap_bad) {
			limit = tx->snap_stop;
			waf_tx_free(tx);
			continue;
		}
		if (tx->snap_stop <= a) {
			waf_tx_free(tx);
			return;
		}
		tx->snap_build = false;
		rs->snap = tx;
		rs->snap_resume = tx->snap_stop;
		waf_col_memo_selectors(rs, &tx->col[WAF_VAR_TX]);
		snap_fold(rs);
		return;
	}
}

/* The transaction reached the snapshot's first rule in the state the
 * snapshot started from: TX and MATCHED_* empty, nothing removed, no
 * allow, no skip, no logged score yet, the same engine mode. Earlier
 * rules' matches may be there: the snapshot's follow them. */
static bool snap_applies(const struct waf_tx *tx)
{
	const struct waf_tx *s = tx->rs->snap;
	return s && tx->engine == s->rs->settings.rule_engine &&
	       tx->col[WAF_VAR_TX].n == 0 && tx->score_seen == 0 &&
	       tx->col[WAF_VAR_MATCHED_VARS].n == 0 &&
	       tx->col[WAF_VAR_MATCHED_VARS_NAMES].n == 0 &&
	       !tx->scal_set[WAF_VAR_MATCHED_VAR] &&
	       !tx->scal_set[WAF_VAR_MATCHED_VAR_NAME] && !tx->allowed &&
	       !tx->disrupted && !tx->skip_next && !tx->skip_marker &&
	       !tx->n_rm_ids && !tx->n_rm_tags && !tx->n_rm_msgs &&
	       !tx->n_rm_tgts;
}

/* Copies collection c of the snapshot into tx (own arrays, so later
 * writes stay in tx); strings are shared with the snapshot. */
static int snap_copy_col(struct waf_tx *tx, const struct waf_col *from,
			 struct waf_col *to)
{
	if (!from->n)
		return 0;
	struct waf_kv *v = bw_arena_alloc(tx->arena, from->cap * sizeof(*v));
	if (!v)
		return -1;
	memcpy(v, from->v, from->n * sizeof(*v));
	uint32_t *idx = NULL;
	if (from->idx_cap) {
		idx = bw_arena_alloc(tx->arena, from->idx_cap * sizeof(*idx));
		if (!idx)
			return -1;
		memcpy(idx, from->idx, from->idx_cap * sizeof(*idx));
	}
	to->v = v;
	to->n = from->n;
	to->cap = from->cap;
	to->idx = idx;
	to->idx_cap = from->idx_cap;
	/* value ids name one text within a transaction */
	for (uint32_t i = 0; i < to->n; i++)
		if (v[i].vid)
			v[i].vid = ++tx->nvid;
	return 0;
}

static int snap_apply(struct waf_tx *tx)
{
	const struct waf_tx *s = tx->rs->snap;
	static const enum waf_var_id cols[] = { WAF_VAR_TX, WAF_VAR_MATCHED_VARS,
						WAF_VAR_MATCHED_VARS_NAMES };
	for (size_t i = 0; i < BW_ARRAY_LEN(cols); i++)
		if (snap_copy_col(tx, &s->col[cols[i]], &tx->col[cols[i]]) != 0)
			goto oom;
	static const enum waf_var_id scal[] = { WAF_VAR_MATCHED_VAR,
						WAF_VAR_MATCHED_VAR_NAME };
	for (size_t i = 0; i < BW_ARRAY_LEN(scal); i++) {
		tx->scal[scal[i]] = s->scal[scal[i]];
		tx->scal_set[scal[i]] = s->scal_set[scal[i]];
		tx->scal_vid[scal[i]] = 0; /* not cached (as on_value_match) */
	}
	if (s->nmatches) {
		size_t n = tx->nmatches + s->nmatches;
		size_t cap = n > s->cap_matches ? n : s->cap_matches;
		struct waf_match_int *m = bw_arena_alloc(tx->arena, cap * sizeof(*m));
		if (!m)
			goto oom;
		if (tx->nmatches)
			memcpy(m, tx->matches, tx->nmatches * sizeof(*m));
		memcpy(m + tx->nmatches, s->matches, s->nmatches * sizeof(*m));
		tx->matches = m;
		tx->nmatches = n;
		tx->cap_matches = cap;
		tx->last_match = s->last_match;
		tx->last_match.vid = 0;
		tx->last_tfn = s->last_tfn;
	}
	if (s->highest_severity < tx->highest_severity)
		tx->highest_severity = s->highest_severity;
	tx->score_seen = s->score_seen;
	tx->cur_link = s->cur_link;
	tx->snap_used = true;
	tx->skip_next = s->skip_next;
	tx->skip_marker = s->skip_marker;
	return 0;
oom:
	tx->oom = true;
	return -1;
}

static int run_phase(struct waf_tx *tx, int phase)
{
	const struct waf_phase_rules *pr = &tx->rs->phase[phase];
	tx->last_phase = phase;
	if (!running(tx))
		return tx->oom ? -1 : 0;
	/* where phase 1's configuration-only rules start (see the snapshot
	 * above), or where building the snapshot starts */
	size_t snap_at = SIZE_MAX, first = 0;
	if (phase == 1 && tx->snap_build)
		first = tx->rs->snap_first;
	else if (phase == 1 && tx->rs->snap)
		snap_at = tx->rs->snap_first;
	/* Rules are passed by through their steps (struct waf_step): the
	 * rule itself is read only when it is evaluated. */
	for (size_t i = first; i < pr->n; i++) {
		const struct waf_step *st = &pr->steps[i];
		const struct waf_rule *r = st->r;
		if (st->kind == WAF_RULE_MARKER) {
			if (tx->skip_marker &&
			    strcmp(tx->skip_marker, r->marker) == 0)
				tx->skip_marker = NULL;
			continue;
		}
		if (tx->skip_marker)
			continue;
		if (tx->skip_next) {
			tx->skip_next--;
			continue;
		}
		if (allow_skips(tx, phase))
			continue;
		if ((tx->n_rm_ids || tx->n_rm_tags || tx->n_rm_msgs) &&
		    waf_rule_removed(tx, r))
			continue;
		if (i == snap_at && snap_applies(tx)) {
			/* these rules ran at load: take their result */
			if (snap_apply(tx) != 0)
				return -1;
			i = tx->rs->snap_resume - 1;
			continue;
		}
		if (st->no_match_after_snap && tx->snap_used && !tx->n_rm_tgts) {
			/* what eval_link does when nothing matched */
			tx->cur_link = r;
			clear_matched(tx);
			continue;
		}
		if (tx->snap_build &&
		    (i >= tx->snap_limit || !rule_snap_safe(r))) {
			tx->snap_stop = i;
			return 0;
		}
		bool replay = st->match_after_snap && tx->snap_used && !tx->n_rm_tgts;
		if (st->sk_group && !replay) {
			int can = sk_can_match(tx, st, phase);
			if (can < 0)
				return -1;
			if (!can) {
				/* what eval_link does when nothing matched */
				tx->cur_link = r;
				clear_matched(tx);
				continue;
			}
		}
		tx->cur_rule = r;
		int m = replay ? snap_replay(tx, r, st->match_after_snap)
			       : eval_link(tx, r);
		tx->cur_rule = NULL;
		if (m < 0 || tx->oom)
			return -1;
		if (!m)
			continue;
		if (tx->snap_build && !snap_pass(r)) {
			/* a disruptive match ends the snapshot before r */
			tx->snap_stop = i;
			tx->snap_bad = true;
			return 0;
		}
		tx->cur_rule = r;
		int rc = record_match(tx, r, phase);
		if (rc == 0)
			rc = disrupt(tx, r, phase);
		tx->cur_rule = NULL;
		if (rc)
			return -1;
		if (tx->disrupted || !running(tx))
			break;
		if (r->act.skip)
			tx->skip_next = r->act.skip;
		if (r->act.skip_after) {
			/* continue after the marker (or end the phase) */
			if (r->skip_after_index >= pr->n)
				break;
			i = r->skip_after_index;
		}
	}
	return 0;
}

/* --------------------------------------------------------------- phases */

static void decision_out(const struct waf_tx *tx, struct waf_decision *d)
{
	if (d)
		*d = tx->dec;
}

static int phase_gate(struct waf_tx *tx, int phase, struct waf_decision *d)
{
	decision_out(tx, d);
	if (tx->oom)
		return -1;
	if (tx->last_phase >= phase || tx->disrupted)
		return 1; /* already ran, or decided: nothing to do */
	return 0;
}

int waf_tx_process_request_headers(struct waf_tx *tx, struct waf_decision *d)
{
	int g = phase_gate(tx, 1, d);
	if (g)
		return g < 0 ? -1 : 0;
	int rc = run_phase(tx, 1);
	decision_out(tx, d);
	return rc;
}

static int process_body(struct waf_tx *tx)
{
	enum waf_body_kind k = tx->body_ctl_set ? tx->body_ctl : tx->body_kind;
	const char *p = tx->reqbody.data ? tx->reqbody.data : "";
	size_t n = tx->reqbody.len;
	int rc = 0;
	const char *what = NULL;
	if (waf_scal_set(tx, WAF_VAR_INBOUND_DATA_ERROR,
			 tx->reqbody_over ? "1" : "0", 1))
		return -1;
	switch (k) {
	case WAF_BODYK_XML:
		rc = waf_body_xml(tx, p, n);
		what = "XML";
		break;
	case WAF_BODYK_JSON:
		rc = waf_body_json(tx, p, n);
		what = "JSON";
		break;
	case WAF_BODYK_MULTIPART:
		rc = waf_body_multipart(tx, p, n);
		what = "Multipart";
		break;
	case WAF_BODYK_URLENCODED:
		rc = waf_body_urlencoded(tx, p, n, "POST");
		break;
	default:
		break;
	}
	if (rc < 0)
		return -1;
	/* Body processors return 1 for a parse error and set
	 * REQBODY_ERROR_MSG themselves. */
	(void)what;
	if (rc == 0) {
		if (waf_scal_set(tx, WAF_VAR_REQBODY_ERROR, "0", 1) ||
		    waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR_ERROR, "0", 1))
			return -1;
	}
	return 0;
}

int waf_tx_process_request_body(struct waf_tx *tx, struct waf_decision *d)
{
	int g = phase_gate(tx, 2, d);
	if (g)
		return g < 0 ? -1 : 0;
	if (tx->last_phase < 1 && waf_tx_process_request_headers(tx, d) != 0)
		return -1;
	if (tx->disrupted)
		return 0;
	tx->last_phase = 2;
	if (!running(tx))
		return tx->oom ? -1 : 0;
	if (tx->reqbody_over &&
	    tx->rs->settings.request_body_limit_action == WAF_LIMIT_REJECT &&
	    enforcing(tx)) {
		tx->disrupted = true;
		tx->dec = (struct waf_decision){ WAF_DENY, 413, NULL, 0, 2 };
		decision_out(tx, d);
		return 0;
	}
	if (process_body(tx) != 0)
		return -1;
	/* ModSecurity v3 runs no phase-2 rule at all without body access. */
	if (!tx->reqbody_access) {
		decision_out(tx, d);
		return 0;
	}
	if (tx->reqbody.len) {
		if (waf_scal_set(tx, WAF_VAR_REQUEST_BODY, tx->reqbody.data,
				 tx->reqbody.len) ||
		    waf_scal_set_num(tx, WAF_VAR_REQUEST_BODY_LENGTH,
				     (int64_t)tx->reqbody.len))
			return -1;
	}
	int rc = run_phase(tx, 2);
	decision_out(tx, d);
	return rc;
}

static bool mime_inspected(const struct waf_tx *tx)
{
	const struct waf_settings *s = &tx->rs->settings;
	if (!tx->scal_set[WAF_VAR_RESPONSE_CONTENT_TYPE])
		return false;
	struct bw_str ct = tx->scal[WAF_VAR_RESPONSE_CONTENT_TYPE];
	if (!s->response_body_mime_types)
		return bw_str_caseeq_lit(ct, "text/plain") ||
		       bw_str_caseeq_lit(ct, "text/html");
	for (size_t i = 0; i < s->n_response_body_mime_types; i++)
		if (bw_str_caseeq_lit(ct, s->response_body_mime_types[i]))
			return true;
	return false;
}

int waf_tx_process_response_headers(struct waf_tx *tx, struct waf_decision *d)
{
	int g = phase_gate(tx, 3, d);
	if (g)
		return g < 0 ? -1 : 0;
	int rc = run_phase(tx, 3);
	decision_out(tx, d);
	return rc;
}

int waf_tx_process_response_body(struct waf_tx *tx, struct waf_decision *d)
{
	int g = phase_gate(tx, 4, d);
	if (g)
		return g < 0 ? -1 : 0;
	tx->last_phase = 4;
	if (!tx->resbody_access || !mime_inspected(tx)) {
		decision_out(tx, d);
		return 0;
	}
	if (waf_scal_set(tx, WAF_VAR_RESPONSE_BODY,
			 tx->resbody.data ? tx->resbody.data : "",
			 tx->resbody.len) ||
	    waf_scal_set_num(tx, WAF_VAR_RESPONSE_CONTENT_LENGTH,
			     (int64_t)tx->resbody.len))
		return -1;
	int rc = run_phase(tx, 4);
	decision_out(tx, d);
	return rc;
}

int waf_tx_process_logging(struct waf_tx *tx)
{
	if (tx->oom)
		return -1;
	if (tx->last_phase >= 5)
		return 0;
	/* Logging runs after a disruption too; skip state does not carry
	 * over from the request phases. */
	bool dis = tx->disrupted;
	tx->disrupted = false;
	tx->skip_marker = NULL;
	tx->skip_next = 0;
	int rc = run_phase(tx, 5);
	tx->disrupted = dis || tx->disrupted;
	if (rc == 0 && !tx->oom)
		(void)waf_tx_audit_log(tx);
	return rc;
}

void waf_tx_decision(const struct waf_tx *tx, struct waf_decision *d)
{
	*d = tx->dec;
}

size_t waf_tx_match_count(const struct waf_tx *tx)
{
	return tx->nmatches;
}

const struct waf_match *waf_tx_match_get(const struct waf_tx *tx, size_t i)
{
	return i < tx->nmatches ? &tx->matches[i].pub : NULL;
}

const char *waf_tx_var(const struct waf_tx *tx, const char *collection,
		       const char *key)
{
	const struct waf_var_info *vi =
		waf_var_lookup(collection, strlen(collection));
	if (!vi)
		return NULL;
	struct bw_str out;
	/* waf_var_first may format computed values into the arena, which
	 * is why it takes a mutable transaction. */
	if (!waf_var_first((struct waf_tx *)tx, vi->id,
			   bw_str_make(key ? key : "", key ? strlen(key) : 0),
			   &out))
		return NULL;
	return out.p;
}

int64_t waf_tx_score(const struct waf_tx *tx, const char *tx_key)
{
	const struct waf_kv *kv = waf_col_get(tx, WAF_VAR_TX,
					      bw_str_make(tx_key, strlen(tx_key)));
	return kv ? waf_atoi(kv->val) : 0;
}

const char *waf_tx_unique_id(const struct waf_tx *tx)
{
	return tx->id;
}
