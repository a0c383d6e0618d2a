/*
 * The gateway generation (gateway_new / gateway_free) and the request
 * pipeline every exchange on a gateway listener goes through:
 *
 *   client address (trusted proxies) -> route -> L7 DDoS -> rate limits
 *   -> bots -> edge auth (hook) -> WAF phases 1-2 -> builtin app | proxy
 *   -> WAF phases 3-4 -> response -> WAF phase 5 (logging)
 *
 * Each step that refuses a request answers it with a specific status and
 * reason token, counts it, and emits one event saying why.
 *
 * Invariants: a struct gateway is immutable after gateway_new except for
 * the shared atomics and mutex-guarded tables documented in
 * gateway_int.h; it is freed when its last reference goes (the owner's,
 * dropped by gateway_free, and one per thread that used it).
 */
#include "gateway/gateway_int.h"
#include "event/event.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct gw_counters gw_stats;
static _Atomic uint64_t next_id = 1;

void gateway_stats_get(struct gateway_stats *o)
{
#define G(f) atomic_load_explicit(&gw_stats.f, memory_order_relaxed)
	o->requests = G(requests);
	o->proxied = G(proxied);
	o->upstream_errors = G(upstream_errors);
	o->retries = G(retries);
	o->status_502 = G(s502);
	o->status_503 = G(s503);
	o->status_504 = G(s504);
	o->rate_limited = G(rate_limited);
	o->ddos_blocked = G(ddos_blocked);
	o->bot_blocked = G(bot_blocked);
	o->bot_challenged = G(bot_challenged);
	o->waf_blocked = G(waf_blocked);
	o->waf_detected = G(waf_detected);
	o->pool_reused = G(pool_reused);
	o->pool_new = G(pool_new);
	o->circuit_opened = G(circuit_opened);
	o->streamed = G(streamed);
	o->auth_ok = G(auth_ok);
	o->auth_failed = G(auth_failed);
	o->authz_denied = G(authz_denied);
	o->websockets = G(websockets);
#undef G
}

/* ------------------------------------------------------------ lifecycle */

static void gw_destroy(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nupstreams; i++)
		SSL_CTX_free(gw->upstreams[i].ssl_ctx);
	for (size_t i = 0; i < gw->nroutes; i++) {
		pthread_mutex_destroy(&gw->routes[i].anomaly_mu);
		gw_auth_free(gw->routes[i].authc);
	}
	bw_wipe(gw->id_key, sizeof(gw->id_key));
	gw_rl_free(gw->rl);
	gw_ddos_free(gw->ddos);
	gw_waf_free(gw);
	bw_wipe(gw->chal_key, sizeof(gw->chal_key));
	bw_arena_free(gw->arena);
	free(gw);
}

void gateway_ref(struct gateway *gw)
{
	atomic_fetch_add(&gw->refs, 1);
}

void gw_unref(struct gateway *gw)
{
	if (gw && atomic_fetch_sub(&gw->refs, 1) == 1)
		gw_destroy(gw);
}

void gateway_free(struct gateway *gw)
{
	if (!gw)
		return;
	atomic_store_explicit(&gw->retired, true, memory_order_release);
	gw_unref(gw);
}

static int parse_cidrs(struct gateway *gw, const struct conf_strlist *l,
		       struct gw_cidr **out, size_t *n, struct bw_err *err)
{
	*n = 0;
	*out = l->n ? bw_arena_zalloc(gw->arena, l->n * sizeof(**out)) : NULL;
	if (l->n && !*out)
		return bw_err_set(err, 500, "gateway", "nomem", "out of memory");
	for (size_t i = 0; i < l->n; i++)
		if (gw_cidr_parse(l->v[i], strlen(l->v[i]), &(*out)[(*n)++]) < 0)
			return bw_err_set(err, 400, "gateway", "bad_cidr",
					  "'%s' is not an address or CIDR", l->v[i]);
	return 0;
}

static SSL_CTX *tls_ctx(const struct gateway_upstream_conf *uc, struct bw_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		bw_err_openssl(err, "gateway", "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a close-delimited body ends with the TCP close; OpenSSL 3 would
	 * call a missing close_notify an error */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	if (uc->tls.verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		int ok = uc->tls.ca_file ?
				 SSL_CTX_load_verify_locations(ctx, uc->tls.ca_file, NULL) :
				 SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1)
			goto fail;
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (uc->tls.client_cert &&
	    (SSL_CTX_use_certificate_chain_file(ctx, uc->tls.client_cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, uc->tls.client_key, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(ctx) != 1))
		goto fail;
	return ctx;
fail:
	bw_err_openssl(err, "gateway", uc->name);
	SSL_CTX_free(ctx);
	return NULL;
}

static int build_upstream(struct gateway *gw, const struct gateway_upstream_conf *uc,
			  struct gw_upstream *u, size_t index, struct bw_err *err)
{
	u->name = bw_arena_strdup(gw->arena, uc->name);
	u->index = index;
	u->balance = (enum gateway_balance)uc->balance;
	u->connect_ms = uc->connect_timeout_ms;
	u->read_ms = uc->read_timeout_ms;
	u->write_ms = uc->write_timeout_ms;
	u->retries = uc->retries;
	u->max_fails = uc->max_fails ? uc->max_fails : 1;
	u->open_for_ms = uc->open_for_ms;
	u->pool_idle = uc->pool_idle;
	u->pool_idle_ms = uc->pool_idle_timeout_ms;
	u->verify = uc->tls.verify;
	u->identity = uc->tls.identity ? bw_arena_strdup(gw->arena, uc->tls.identity) : NULL;
	u->server_name = uc->tls.server_name ?
				 bw_arena_strdup(gw->arena, uc->tls.server_name) : NULL;
	u->health_path = uc->health.path ? bw_arena_strdup(gw->arena, uc->health.path) :
					   NULL;
	u->health_interval_ms = uc->health.interval_ms;
	u->health_timeout_ms = uc->health.timeout_ms;
	u->nservers = uc->servers.n;
	u->servers = bw_arena_zalloc(gw->arena, u->nservers * sizeof(*u->servers));
	if (!u->name || !u->servers || (uc->tls.identity && !u->identity))
		return bw_err_set(err, 500, "gateway", "nomem", "out of memory");
	for (size_t i = 0; i < u->nservers; i++) {
		struct gw_server *s = &u->servers[i];
		s->index = i;
		atomic_store(&s->healthy, 1);
		if (gw_server_split(uc->servers.v[i], s->host, sizeof(s->host), &s->port) < 0)
			return bw_err_set(err, 400, "gateway", "bad_server",
					  "upstream %s: bad server '%s'", uc->name,
					  uc->servers.v[i]);
		bool v6 = strchr(s->host, ':') != NULL;
		bw_snprintf(s->hostport, sizeof(s->hostport), v6 ? "[%s]:%u" : "%s:%u",
			    s->host, s->port);
		char port[8];
		bw_snprintf(port, sizeof(port), "%u", s->port);
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_NUMERICSERV };
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(s->host, port, &hints, &res);
		if (rc != 0 || !res)
			return bw_err_set(err, 400, "gateway", "resolve",
					  "upstream %s: cannot resolve '%s': %s",
					  uc->name, s->host, gai_strerror(rc));
		memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
		s->addrlen = res->ai_addrlen;
		freeaddrinfo(res);
	}
	if (uc->tls.enabled && !(u->ssl_ctx = tls_ctx(uc, err)))
		return -1;
	return 0;
}

int gateway_use_identities(struct gateway *gw,
			   int (*use)(void *arg, const char *name, void *ssl_ctx,
				      struct bw_err *err),
			   void *arg, struct bw_err *err)
{
	for (size_t i = 0; i < gw->nupstreams; i++) {
		struct gw_upstream *u = &gw->upstreams[i];
		if (u->identity && u->ssl_ctx && use(arg, u->identity, u->ssl_ctx, err) < 0)
			return -1;
	}
	return 0;
}

static int build_route(struct gateway *gw, const struct gateway_conf *c,
		       const struct gateway_route_conf *rc, struct gw_route *r,
		       size_t index, struct bw_err *err)
{
	r->index = index;
	r->name = bw_arena_strdup(gw->arena, rc->name);
	const char *path = rc->path ? rc->path : "/";
	r->prefix = bw_str_make(bw_arena_strdup(gw->arena, path), strlen(path));
	r->builtin = (enum gateway_builtin)rc->builtin;
	r->waf = (enum gateway_waf_mode)rc->waf;
	r->bot = (enum gateway_bot_mode)rc->bot;
	r->auth = (enum gateway_auth)rc->auth;
	r->preserve_host = rc->preserve_host;
	r->websocket = rc->websocket;
	r->websocket_idle_ms = rc->websocket_idle_ms ? rc->websocket_idle_ms : 300000;
	r->upstream = -1;
	pthread_mutex_init(&r->anomaly_mu, NULL);
	if (!r->name || !r->prefix.p)
		return bw_err_set(err, 500, "gateway", "nomem", "out of memory");
	if (rc->upstream) {
		const struct gateway_upstream_conf *uc = c->upstreams.v;
		for (size_t k = 0; k < c->upstreams.n; k++)
			if (strcmp(uc[k].name, rc->upstream) == 0)
				r->upstream = (int)k;
		if (r->upstream < 0)
			return bw_err_set(err, 400, "gateway", "no_upstream",
					  "route %s: no upstream '%s'", rc->name,
					  rc->upstream);
	}
	r->nhosts = rc->hosts.n;
	r->hosts = bw_arena_zalloc(gw->arena, (r->nhosts + 1) * sizeof(*r->hosts));
	if (!r->hosts)
		return bw_err_set(err, 500, "gateway", "nomem", "out of memory");
	for (size_t i = 0; i < r->nhosts; i++) {
		const char *why = "";
		if (gw_hostpat_parse(gw->arena, rc->hosts.v[i], &r->hosts[i], &why) < 0)
			return bw_err_set(err, 400, "gateway", "bad_host",
					  "route %s: host '%s': %s", rc->name,
					  rc->hosts.v[i], why);
	}
	if (rc->methods.n) {
		r->nmethods = rc->methods.n;
		r->methods = bw_arena_zalloc(gw->arena,
					     (r->nmethods + 1) * sizeof(*r->methods));
		if (!r->methods)
			return bw_err_set(err, 500, "gateway", "nomem", "out of memory");
		for (size_t i = 0; i < r->nmethods; i++)
			r->methods[i] = bw_arena_strdup(gw->arena, rc->methods.v[i]);
	}
	if (gw_auth_build(gw, rc, r, err) < 0)
		return -1;
	const struct gateway_limit_conf *lc = rc->rate_limits.v;
	for (size_t i = 0; i < rc->rate_limits.n && i < GW_MAX_ROUTE_LIMITS; i++) {
		struct gw_limit *l = &r->limits[r->nlimits++];
		l->key = (enum gateway_rl_key)lc[i].key;
		l->header = lc[i].header ? bw_arena_strdup(gw->arena, lc[i].header) : NULL;
		uint64_t per_ns = lc[i].rate.per_ms * 1000000ull;
		l->interval_ns = per_ns / (lc[i].rate.count ? lc[i].rate.count : 1);
		if (l->interval_ns == 0)
			l->interval_ns = 1;
		l->burst = lc[i].burst ? lc[i].burst : lc[i].rate.count;
		l->id = (uint32_t)(index * GW_MAX_ROUTE_LIMITS + i + 1);
	}
	return 0;
}

struct gateway *gateway_new(const struct gateway_conf *c, struct bw_err *err)
{
	struct gateway *gw = calloc(1, sizeof(*gw));
	if (!gw || !(gw->arena = bw_arena_new(16384, 64u << 20))) {
		free(gw);
		bw_err_set(err, 500, "gateway", "nomem", "out of memory");
		return NULL;
	}
	atomic_store(&gw->refs, 1);
	gw->id = atomic_fetch_add(&next_id, 1);
	gw->configured = c->configured;
	gw->send_forwarded = c->send_forwarded;
	gw->max_response = c->max_response ? c->max_response : GW_DEF_MAX_RESPONSE;
	if (parse_cidrs(gw, &c->trusted_proxies, &gw->trusted, &gw->ntrusted, err) < 0 ||
	    parse_cidrs(gw, &c->rate_limit.allowlist, &gw->allow, &gw->nallow, err) < 0)
		goto fail;

	gw->nupstreams = c->upstreams.n;
	gw->upstreams = bw_arena_zalloc(gw->arena, (gw->nupstreams + 1) * sizeof(*gw->upstreams));
	gw->routes = bw_arena_zalloc(gw->arena, (c->routes.n + 1) * sizeof(*gw->routes));
	if (!gw->upstreams || !gw->routes) {
		bw_err_set(err, 500, "gateway", "nomem", "out of memory");
		goto fail;
	}
	const struct gateway_upstream_conf *uc = c->upstreams.v;
	for (size_t i = 0; i < gw->nupstreams; i++)
		if (build_upstream(gw, &uc[i], &gw->upstreams[i], i, err) < 0)
			goto fail;
	if (c->identity.key_file &&
	    gw_identity_key_load(gw, c->identity.key_file, err) < 0)
		goto fail;
	const struct gateway_route_conf *rc = c->routes.v;
	for (size_t i = 0; i < c->routes.n; i++) {
		gw->nroutes++; /* counted first so gw_destroy sees its mutex */
		if (build_route(gw, c, &rc[i], &gw->routes[i], i, err) < 0)
			goto fail;
	}

	gw->rl = gw_rl_new(c->rate_limit.entries ? c->rate_limit.entries : 65536);
	struct gw_ddos_conf dc = {
		.enabled = c->ddos.enabled,
		.window_ns = (int64_t)(c->ddos.window_ms ? c->ddos.window_ms : 1000) * 1000000,
		.ip_min = c->ddos.ip_min ? c->ddos.ip_min : 200,
		.route_min = c->ddos.route_min ? c->ddos.route_min : 2000,
		.factor = c->ddos.factor ? c->ddos.factor : 10,
		.block_ns = (int64_t)(c->ddos.block_for_ms ? c->ddos.block_for_ms : 60000) * 1000000,
		.conns_per_ip = c->ddos.conns_per_ip,
	};
	gw->ddos = gw_ddos_new(&dc, c->rate_limit.entries ? c->rate_limit.entries : 65536);
	if (!gw->rl || !gw->ddos) {
		bw_err_set(err, 500, "gateway", "nomem", "out of memory");
		goto fail;
	}
	if (c->bot.challenge_key) {
		gw->chal_key_len = strlen(c->bot.challenge_key);
		if (gw->chal_key_len > sizeof(gw->chal_key))
			gw->chal_key_len = sizeof(gw->chal_key);
		memcpy(gw->chal_key, c->bot.challenge_key, gw->chal_key_len);
	} else {
		gw->chal_key_len = 32;
		bw_random(gw->chal_key, gw->chal_key_len);
	}
	gw->chal_ttl_s = (int64_t)(c->bot.cookie_ttl_ms ? c->bot.cookie_ttl_ms : 3600000) / 1000;
	gw->challenge = (enum gateway_challenge)c->bot.challenge;
	gw->pow_bits = gw->challenge == GATEWAY_CHALLENGE_POW ?
			       (c->bot.pow_bits ? c->bot.pow_bits : 16) : 0;
	if (gw_waf_load(gw, c, err) < 0)
		goto fail;
	return gw;
fail:
	gw_destroy(gw);
	return NULL;
}

/* ------------------------------------------------------------ pipeline */

static void respond_429(struct net_exchange *x, int64_t retry_ns, const char *reason)
{
	char ra[24];
	int64_t s = (retry_ns + 999999999) / 1000000000;
	bw_snprintf(ra, sizeof(ra), "%lld", (long long)(s < 1 ? 1 : s));
	net_add_header(x, "Retry-After", ra);
	gw_respond_error(x, 429, reason);
}

/* L7 DDoS and rate limits. Returns true when the exchange was answered. */
static bool limits_check(struct gateway *gw, struct gw_route *r,
			 struct net_exchange *x, const struct gw_client *cl)
{
	if (gw->nallow && gw_cidr_list_match(gw->allow, gw->nallow, &cl->ip))
		return false;
	int64_t now = bw_clock_now_ns(), until = 0;
	bool attack = false, new_attack = false;
	enum gw_ddos_verdict v =
		gw_ddos_check(gw->ddos, r, &cl->ip, now, &until, &attack, &new_attack);
	if (new_attack) {
		log_kv(BW_LOG_WARN, "gateway: route request-rate anomaly", "route",
		       r->name, NULL);
		gw_event(x, cl, "gateway-ddos-route-anomaly", BW_OUTCOME_UNKNOWN, 8,
			 "request rate far above the route's baseline", "route",
			 r->name, NULL);
	}
	if (v != GW_DDOS_PASS) {
		GW_COUNT(ddos_blocked);
		if (v == GW_DDOS_NEW_BLOCK) {
			char sec[24];
			bw_snprintf(sec, sizeof(sec), "%lld",
				    (long long)((until - now) / 1000000000));
			gw_event(x, cl, "gateway-ddos-ip-blocked", BW_OUTCOME_FAILURE, 7,
				 "client request rate far above its baseline; "
				 "temporarily blocked",
				 "route", r->name, "block_seconds", sec,
				 "route_under_attack", attack ? "true" : "false", NULL);
		}
		respond_429(x, until - now, "ddos_blocked");
		return true;
	}
	const struct http_request *req = net_request(x);
	for (size_t i = 0; i < r->nlimits; i++) {
		const struct gw_limit *l = &r->limits[i];
		const void *key = cl->ip.a;
		size_t klen = sizeof(cl->ip.a);
		const char *kind = "ip";
		if (l->key == GATEWAY_RL_ROUTE) {
			key = "";
			klen = 0;
			kind = "route";
		} else if (l->key == GATEWAY_RL_HEADER) {
			const struct http_header *h =
				http_header_find(req->headers, req->nheaders, l->header);
			/* without the header the client is keyed by address */
			if (h && h->value.len) {
				key = h->value.p;
				klen = h->value.len;
				kind = "header";
			}
		}
		int64_t retry = 0;
		if (gw_rl_take(gw->rl, l->id, key, klen, now, l->interval_ns, l->burst,
			       &retry))
			continue;
		GW_COUNT(rate_limited);
		char ra[24];
		bw_snprintf(ra, sizeof(ra), "%lld", (long long)(retry / 1000000));
		gw_event(x, cl, "gateway-rate-limited", BW_OUTCOME_FAILURE, 3,
			 "rate limit exceeded", "route", r->name, "limit.key", kind,
			 "retry_after_ms", ra, NULL);
		respond_429(x, retry, "rate_limited");
		return true;
	}
	return false;
}

/* Literal formats (macros, so -Wformat-nonliteral can check them). */
#define CHALLENGE_COOKIE_JS                                                    \
	"document.cookie=\"" GW_CHALLENGE_COOKIE "=%s; Max-Age=%lld; Path=/; "   \
	"SameSite=Lax%s\";location.reload();"

#define CHALLENGE_POW_JS \
	"(async()=>{const p=\"%s\",b=%u;const e=new TextEncoder();" \
	"for(let c=0;;c++){const s=p+\".\"+c;const d=new Uint8Array(await " \
	"crypto.subtle.digest(\"SHA-256\",e.encode(s)));let z=0;for(const x of d)" \
	"{if(x===0){z+=8;continue}z+=Math.clz32(x)-24;break}if(z>=b){document." \
	"cookie=\"" GW_CHALLENGE_COOKIE "=\"+s+\"; Max-Age=%lld; Path=/; " \
	"SameSite=Lax%s\";location.reload();return}}})();"

static void serve_challenge(struct gateway *gw, struct net_exchange *x,
			    const struct gw_client *cl)
{
	char token[GW_CHALLENGE_COOKIE_MAX];
	int64_t exp = bw_clock_now_s() + gw->chal_ttl_s;
	int rc = gw->pow_bits ?
			 gw_challenge_make_pow(gw->chal_key, gw->chal_key_len,
					       cl->ip_text, exp, token, sizeof(token)) :
			 gw_challenge_make(gw->chal_key, gw->chal_key_len, cl->ip_text,
					   exp, token, sizeof(token));
	struct bw_arena *a = net_arena(x);
	const char *secure = net_is_tls(x) ? "; Secure" : "";
	char *js = rc < 0 ? NULL :
		   gw->pow_bits ? bw_arena_printf(a, CHALLENGE_POW_JS, token,
						  gw->pow_bits, (long long)gw->chal_ttl_s,
						  secure) :
				  bw_arena_printf(a, CHALLENGE_COOKIE_JS, token,
						  (long long)gw->chal_ttl_s, secure);
	char *page = js ? bw_arena_printf(a,
			"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			"<title>One moment</title></head><body><p>Checking your browser"
			"&hellip;</p><noscript>This site needs JavaScript to let you in."
			"</noscript><script>%s</script></body></html>\n", js) : NULL;
	if (!page) {
		gw_respond_error(x, 503, "challenge_failed");
		return;
	}
	GW_COUNT(bot_challenged);
	net_set_outcome_reason(x, "bot_challenge");
	net_add_header(x, "Cache-Control", "no-store");
	net_add_header(x, "X-Content-Type-Options", "nosniff");
	net_respond(x, 403, "text/html; charset=utf-8", page, strlen(page));
}

static void reasons_text(const struct gw_bot_result *b, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < b->nreasons; i++) {
		int w = bw_snprintf(out + n, cap - n, "%s%s", i ? "," : "", b->reasons[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* Bot management. Returns true when the exchange was answered. */
static bool bot_check(struct gateway *gw, const struct gw_route *r,
		      struct net_exchange *x, const struct gw_client *cl)
{
	if (r->bot == GATEWAY_BOT_OFF)
		return false;
	struct gw_bot_result b;
	gw_bot_classify(net_request(x), &b);
	if (b.cls == GW_BOT_HUMAN)
		return false;
	char why[160], score[16];
	reasons_text(&b, why, sizeof(why));
	bw_snprintf(score, sizeof(score), "%d", b.score);
	const char *cls = b.cls == GW_BOT_TOOL ? "attack_tool" : "suspicious";
	if (b.cls == GW_BOT_TOOL && r->bot >= GATEWAY_BOT_BLOCK) {
		GW_COUNT(bot_blocked);
		gw_event(x, cl, "gateway-bot-blocked", BW_OUTCOME_FAILURE, 6,
			 "known attack tool", "route", r->name, "bot.class", cls,
			 "bot.reasons", why, "bot.tool", b.tool, "bot.score", score, NULL);
		gw_respond_error(x, 403, "bot_blocked");
		return true;
	}
	if (b.cls == GW_BOT_SUSPICIOUS && r->bot == GATEWAY_BOT_CHALLENGE) {
		struct bw_str v;
		if (gw_cookie_get(net_request(x), GW_CHALLENGE_COOKIE, &v) &&
		    gw_challenge_check(gw->chal_key, gw->chal_key_len, cl->ip_text,
				       bw_clock_now_s(), v, gw->pow_bits)) {
			gw_event(x, cl, "gateway-bot-challenge-passed", BW_OUTCOME_SUCCESS,
				 1, "suspicious client holds a valid challenge cookie",
				 "route", r->name, "bot.reasons", why, NULL);
			return false;
		}
		gw_event(x, cl, "gateway-bot-challenged", BW_OUTCOME_UNKNOWN, 4,
			 "suspicious client challenged", "route", r->name,
			 "bot.class", cls, "bot.reasons", why, "bot.score", score, NULL);
		serve_challenge(gw, x, cl);
		return true;
	}
	gw_event(x, cl, "gateway-bot-detected", BW_OUTCOME_UNKNOWN,
		 b.cls == GW_BOT_TOOL ? 5 : 2, "automated client let through",
		 "route", r->name, "bot.class", cls, "bot.reasons", why,
		 "bot.tool", b.tool, "bot.score", score, NULL);
	return false;
}


static void serve_local(struct net_exchange *x, const struct gw_local_resp *lr)
{
	for (size_t i = 0; i < lr->nhdr; i++)
		net_add_header(x, lr->hdr_name[i], lr->hdr_value[i]);
	net_respond(x, lr->status, lr->content_type, lr->body, lr->len);
}

static void serve_builtin(const struct gw_route *r, struct net_exchange *x,
			  const struct gw_client *cl, void *tx)
{
	struct gw_local_resp lr;
	gw_demo_serve(net_arena(x), net_request(x), net_request_body(x),
		      net_request_id(x), &lr);
	if (tx) {
		struct http_header h[1] = { { BW_STR("Content-Type"),
					      bw_str_make(lr.content_type,
							  strlen(lr.content_type)) } };
		int st = gw_waf_response(tx, r, lr.status, h, 1,
					 bw_str_make(lr.body, lr.len), x, cl);
		gw_waf_end(tx, x, cl);
		if (st) {
			gw_respond_error(x, st, "waf_blocked_response");
			return;
		}
	}
	serve_local(x, &lr);
}

/* Whether a route needs the whole request body before it can go on: the
 * WAF inspects it (phase 2), or the builtin app answers from it. Anything
 * else streams it to the upstream. */
static bool route_needs_body(const struct gateway *gw, const struct gw_route *r)
{
	return r->builtin != GATEWAY_BUILTIN_NONE ||
	       (r->waf != GATEWAY_WAF_OFF && gw->waf != NULL);
}

/* The pipeline after edge authentication: WAF phases 1-2, then the
 * builtin app or the proxy. idh: the signed identity headers. */
static void after_auth(struct gateway *gw, struct gw_route *r, struct net_exchange *x,
		       const struct gw_client *cl, const struct gw_hdr *idh, size_t nidh)
{
	void *tx = gw_waf_begin(gw, r, x, cl);
	if (tx && gw_waf_request(gw, r, tx, x, cl))
		return;
	if (r->builtin == GATEWAY_BUILTIN_DEMO) {
		serve_builtin(r, x, cl, tx);
		return;
	}
	gw_proxy_start(gw, r, x, cl, tx, idh, nidh);
}

void gateway_handle(struct net_exchange *x, void *arg)
{
	struct gateway *gw = arg;
	const struct http_request *req = net_request(x);
	if (net_request_body_pending(x)) {
		/* net dispatched at the end of the head: buffer the body when
		 * something must see all of it, and come back here with it */
		const struct gw_route *br =
			gw->configured ? gw_route_select(gw->routes, gw->nroutes,
							 req->host_name, req->path,
							 req->method_str) : NULL;
		/* small bodies of known length are read whole too: one write
		 * upstream, and the request stays retryable */
		bool small = req->framing == HTTP_FRAMING_LENGTH &&
			     req->content_length <= GW_STREAM_MIN_BODY;
		if (!gw->configured || small || (br && route_needs_body(gw, br))) {
			net_request_body_buffer(x, gateway_handle, gw);
			return;
		}
	}
	GW_COUNT(requests);
	struct gw_client cl;
	if (gw_client_derive(gw->trusted, gw->ntrusted, net_peer_ip(x), req, &cl) < 0) {
		memset(&cl, 0, sizeof(cl));
		bw_snprintf(cl.ip_text, sizeof(cl.ip_text), "%s", net_peer_ip(x));
	}
	if (!gw->configured) {
		/* no gateway section: the demo answers everything */
		struct gw_local_resp lr;
		gw_demo_serve(net_arena(x), req, net_request_body(x), net_request_id(x), &lr);
		serve_local(x, &lr);
		return;
	}
	if (req->method == HTTP_METHOD_CONNECT) {
		net_add_header(x, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
		gw_respond_error(x, 405, "connect_not_supported");
		return;
	}
	if (gw_path_is_suspicious(req->path)) {
		gw_event(x, &cl, "gateway-request-refused", BW_OUTCOME_FAILURE, 4,
			 "dot segment or encoded slash in path", NULL);
		gw_respond_error(x, 400, "ambiguous_path");
		return;
	}
	const struct gw_route *cr = gw_route_select(gw->routes, gw->nroutes,
						    req->host_name, req->path,
						    req->method_str);
	if (!cr) {
		gw_respond_error(x, 404, "no_route");
		return;
	}
	/* the route's anomaly state is the one mutable part (own mutex) */
	struct gw_route *r = &gw->routes[cr->index];
	if (limits_check(gw, r, x, &cl) || bot_check(gw, r, x, &cl))
		return;
	/* edge authentication, then the rest (maybe later, from the pool) */
	gw_auth_run(gw, r, x, &cl, after_auth);
}

bool gateway_conn_admit(struct gateway *gw, const char *ip)
{
	struct gw_ip a;
	if (!gw || gw_ip_parse(ip, strlen(ip), &a) < 0)
		return true;
	if (gw->nallow && gw_cidr_list_match(gw->allow, gw->nallow, &a))
		return true;
	return gw_ddos_conn_admit(gw->ddos, &a);
}

void gateway_conn_release(struct gateway *gw, const char *ip)
{
	struct gw_ip a;
	if (!gw || gw_ip_parse(ip, strlen(ip), &a) < 0)
		return;
	if (gw->nallow && gw_cidr_list_match(gw->allow, gw->nallow, &a))
		return;
	gw_ddos_conn_release(gw->ddos, &a);
}
