/*
 * WAF glue: runs a route's requests through the SecLang engine (src/waf)
 * at the five hook points of the proxy — request head (phase 1), request
 * body (2), response head (3), response body (4), logging (5) — in the
 * route's mode (off / detect / block), and turns what matched into events.
 *
 * Invariants:
 *  - one transaction per exchange, created before phase 1 and freed by
 *    gw_waf_end on every way out (answered, blocked, failed upstream);
 *  - in block mode a transaction that runs out of memory fails closed
 *    (403 "waf_error"); in detect mode it fails open and says so;
 *  - every transaction that matched a logged rule or disrupted emits one
 *    event with the rule ids, the anomaly score and the verdict, and
 *    leaves its match details in the explain ring (GET
 *    /api/v1/waf/explain/{request id});
 *  - the rule set's JSON audit log (SecAuditEngine / SecAuditLog in the
 *    rule files) is opened with the rule set and written at phase 5 by
 *    the engine, off the data path (src/waf/waf_auditlog.c).
 */
#include "gateway/gateway_int.h"
#include "event/event.h"
#include "waf/waf.h"

#include <string.h>

struct gw_waf_tx {
	struct waf_tx *tx;
	enum gateway_waf_mode mode;
	const char *route; /* the route's name, owned by the generation */
	bool blocked;
	int status;
	const char *reason;   /* static token */
	const char *location; /* redirect target, owned by the tx */
};

int gw_waf_load(struct gateway *gw, const struct gateway_conf *c, struct bw_err *err)
{
	gw->waf = NULL;
	if (c->waf.rules.n == 0)
		return 0;
	struct waf_ruleset *rs = NULL;
	if (waf_ruleset_load(c->waf.rules.v, c->waf.rules.n, NULL, &rs, err) < 0)
		return -1;
	int al = waf_ruleset_audit_log_open(rs, NULL, err);
	if (al < 0) {
		waf_ruleset_free(rs);
		return -1;
	}
	if (al > 0)
		log_info("gateway: WAF JSON audit log: %s",
			 waf_ruleset_settings(rs)->audit_log);
	gw->waf = rs;
	size_t n = 0;
	for (int p = WAF_PHASE_MIN; p <= WAF_PHASE_MAX; p++)
		n += waf_ruleset_rule_count(rs, p);
	log_info("gateway: WAF rules loaded: %zu rules from %zu files", n,
		 c->waf.rules.n);
	return 0;
}

void gw_waf_free(struct gateway *gw)
{
	waf_ruleset_free(gw->waf);
	gw->waf = NULL;
}

void *gw_waf_begin(struct gateway *gw, const struct gw_route *r,
		   struct net_exchange *x, const struct gw_client *cl)
{
	if (!gw->waf || r->waf == GATEWAY_WAF_OFF)
		return NULL;
	struct gw_waf_tx *w = bw_arena_zalloc(net_arena(x), sizeof(*w));
	if (!w)
		return NULL;
	struct waf_tx_opts o = {
		.mode = r->waf == GATEWAY_WAF_BLOCK ? WAF_MODE_BLOCK : WAF_MODE_DETECT,
		.client_ip = cl->ip_text,
		.client_port = net_peer_port(x),
		.unique_id = net_request_id(x),
	};
	struct bw_err err;
	w->tx = waf_tx_new(gw->waf, &o, &err);
	w->mode = r->waf;
	w->route = r->name;
	if (!w->tx)
		log_warnx("gateway: WAF transaction: %s", err.msg);
	return w;
}

/* Records what a decision means for the exchange; returns true when it
 * must be refused (w->status, and w->location for a redirect). The caller
 * answers only after gw_waf_end, which still reads the exchange. */
static bool act(struct gw_waf_tx *w, const struct waf_decision *d, int rc,
		bool response)
{
	if (rc < 0 || !w->tx) {
		if (w->mode != GATEWAY_WAF_BLOCK)
			return false; /* detect: fail open, logged by waf_end */
		w->blocked = true;
		w->status = 403;
		w->reason = "waf_error";
		return true;
	}
	switch (d->verdict) {
	case WAF_PASS:
	case WAF_ALLOW:
		return false;
	case WAF_REDIRECT:
		if (!response && d->location) {
			w->blocked = true;
			w->status = d->status >= 300 && d->status < 400 ? d->status : 302;
			w->location = d->location;
			w->reason = "waf_redirect";
			return true;
		}
		/* a redirect cannot replace a response already chosen */
		__attribute__((fallthrough));
	case WAF_DENY:
	case WAF_DROP:
		/* net cannot drop a connection unanswered: a drop is a 403 */
		w->blocked = true;
		w->status = d->verdict == WAF_DENY && d->status >= 400 && d->status < 600 ?
				    d->status : 403;
		w->reason = "waf_blocked";
		return true;
	}
	return false;
}

/* Ends the transaction, then answers the refused request. */
static void refuse(struct gw_waf_tx *w, struct net_exchange *x,
		   const struct gw_client *cl)
{
	char loc[512] = "";
	if (w->location && bw_snprintf(loc, sizeof(loc), "%s", w->location) < 0)
		loc[0] = '\0';
	int status = w->status;
	const char *reason = w->reason;
	gw_waf_end(w, x, cl); /* frees the tx (and location with it) */
	if (loc[0])
		net_add_header(x, "Location", loc);
	gw_respond_error(x, status, reason);
}

int gw_waf_request(struct gateway *gw, const struct gw_route *r, void *txp,
		   struct net_exchange *x, const struct gw_client *cl)
{
	struct gw_waf_tx *w = txp;
	const struct http_request *req = net_request(x);
	struct waf_decision d = { 0 };
	int rc = -1;
	if (w->tx) {
		const char *proto = req->version_minor ? "HTTP/1.1" : "HTTP/1.0";
		rc = waf_tx_request_line(w->tx, req->method_str.p, req->method_str.len,
					 req->target.p, req->target.len, proto, 8);
		/* HTTP/2 carries the host in :authority, which is not among
		 * the fields; the rules must see it as a Host header, or the
		 * CRS scores every HTTP/2 request as "missing a Host header"
		 * (920280). HTTP/1.1's Host is in the list already. */
		bool have_host = false;
		for (size_t i = 0; i < req->nheaders && !have_host; i++)
			have_host = bw_str_caseeq_lit(req->headers[i].name, "host");
		if (rc == 0 && !have_host && req->host.len)
			rc = waf_tx_request_header(w->tx, "Host", 4, req->host.p,
						   req->host.len);
		for (size_t i = 0; rc == 0 && i < req->nheaders; i++)
			rc = waf_tx_request_header(w->tx, req->headers[i].name.p,
						   req->headers[i].name.len,
						   req->headers[i].value.p,
						   req->headers[i].value.len);
		if (rc == 0)
			rc = waf_tx_process_request_headers(w->tx, &d);
	}
	if (act(w, &d, rc, false)) {
		refuse(w, x, cl);
		return 1;
	}
	struct bw_str body = net_request_body(x);
	rc = -1;
	if (w->tx) {
		rc = body.len ? waf_tx_append_request_body(w->tx, body.p, body.len) : 0;
		if (rc == 0)
			rc = waf_tx_process_request_body(w->tx, &d);
	}
	if (act(w, &d, rc, false)) {
		refuse(w, x, cl);
		return 1;
	}
	return 0;
}

int gw_waf_response(void *txp, const struct gw_route *r, int status,
		    const struct http_header *h, size_t nh, struct bw_str body,
		    struct net_exchange *x, const struct gw_client *cl)
{
	struct gw_waf_tx *w = txp;
	if (!w || !w->tx)
		return 0;
	struct waf_decision d = { 0 };
	int rc = waf_tx_response_status(w->tx, status, "HTTP/1.1", 8);
	for (size_t i = 0; rc == 0 && i < nh; i++)
		rc = waf_tx_response_header(w->tx, h[i].name.p, h[i].name.len,
					    h[i].value.p, h[i].value.len);
	if (rc == 0)
		rc = waf_tx_process_response_headers(w->tx, &d);
	if (act(w, &d, rc, true))
		return w->status;
	rc = body.len ? waf_tx_append_response_body(w->tx, body.p, body.len) : 0;
	if (rc == 0)
		rc = waf_tx_process_response_body(w->tx, &d);
	if (act(w, &d, rc, true))
		return w->status;
	return 0;
}

void gw_waf_end(void *txp, struct net_exchange *x, const struct gw_client *cl)
{
	struct gw_waf_tx *w = txp;
	if (!w)
		return;
	if (!w->tx) {
		if (w->mode == GATEWAY_WAF_DETECT)
			gw_event(x, cl, "gateway-waf-error", BW_OUTCOME_UNKNOWN, 5,
				 "WAF could not inspect this request (detect mode: "
				 "let through)", NULL);
		return;
	}
	(void)waf_tx_process_logging(w->tx);
	size_t n = waf_tx_match_count(w->tx);
	char ids[160];
	size_t len = 0;
	bool logged = false;
	const char *first_msg = NULL;
	ids[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct waf_match *m = waf_tx_match_get(w->tx, i);
		if (!m->logged && !m->disruptive)
			continue;
		logged = true;
		if (!first_msg && m->msg && m->msg[0])
			first_msg = m->msg;
		int wr = bw_snprintf(ids + len, sizeof(ids) - len, "%s%llu",
				     len ? "," : "", (unsigned long long)m->rule_id);
		if (wr < 0)
			break;
		len += (size_t)wr;
	}
	if (w->blocked || logged) {
		if (waf_explain_record(w->tx, w->route,
				       w->mode == GATEWAY_WAF_BLOCK ? "block" : "detect") < 0)
			log_warnx("gateway: WAF explain record: out of memory");
		char score[24], st[8];
		bw_snprintf(score, sizeof(score), "%lld",
			    (long long)waf_tx_score(w->tx, "anomaly_score"));
		bw_snprintf(st, sizeof(st), "%d", w->status);
		if (w->blocked)
			GW_COUNT(waf_blocked);
		else
			GW_COUNT(waf_detected);
		gw_event(x, cl, w->blocked ? "gateway-waf-blocked" : "gateway-waf-detected",
			 w->blocked ? BW_OUTCOME_FAILURE : BW_OUTCOME_UNKNOWN,
			 w->blocked ? 7 : 4, first_msg ? first_msg : "WAF rules matched",
			 "rule.id", ids, "waf.anomaly_score", score, "waf.mode",
			 w->mode == GATEWAY_WAF_BLOCK ? "block" : "detect",
			 "http.response.status_code", w->blocked ? st : "", NULL);
	}
	waf_tx_free(w->tx);
	w->tx = NULL;
}
