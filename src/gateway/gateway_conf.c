/*
 * The `gateway:` config section -> struct gateway_conf, with the binder's
 * tables, then the checks that involve several fields (route upstream
 * names, server and CIDR syntax, host patterns). Runtime code never sees a
 * conf_node: gateway_new compiles the struct.
 *
 * Invariant: a bound struct gateway_conf is valid input for gateway_new
 * except for what only gateway_new can find out (names that do not
 * resolve, unreadable TLS or rule files).
 */
#include "gateway/gateway_int.h"

#include <stddef.h>
#include <string.h>

static const char *const balance_names[] = { "round_robin", "least_conn", NULL };
static const char *const waf_names[] = { "off", "detect", "block", NULL };
static const char *const bot_names[] = { "off", "detect", "block", "challenge", NULL };
static const char *const key_names[] = { "ip", "route", "header", NULL };
static const char *const auth_names[] = { "public", "session", "api_key", "jwt",
					  "any", NULL };
static const char *const builtin_names[] = { "none", "demo", NULL };
static const char *const challenge_names[] = { "cookie", "pow", NULL };

/* "100/s", "6000/m", "10/h", "5/100ms": count per duration. */
static int parse_rate(const struct conf_node *v, void *dst, struct bw_err *err)
{
	struct gateway_rate *r = dst;
	if (v->kind != CONF_SCALAR || v->null)
		return conf_err(v, err, "type", "must be a rate like 100/s");
	const char *slash = strchr(v->str, '/');
	uint64_t n, per;
	if (!slash || bw_str_to_u64(bw_str_make(v->str, (size_t)(slash - v->str)), &n) < 0 ||
	    n == 0 || n > GW_MAX_RATE)
		return conf_err(v, err, "range",
				"must be COUNT/PERIOD with COUNT 1..%llu, e.g. 100/s",
				(unsigned long long)GW_MAX_RATE);
	const char *unit = slash + 1;
	if (strcmp(unit, "s") == 0)
		per = 1000;
	else if (strcmp(unit, "m") == 0)
		per = 60000;
	else if (strcmp(unit, "h") == 0)
		per = 3600000;
	else if (strcmp(unit, "d") == 0)
		per = 86400000;
	else if (conf_parse_duration(unit, strlen(unit), &per) < 0 || per == 0 ||
		 per > 86400000)
		return conf_err(v, err, "range",
				"period must be s, m, h, d or a duration up to 1d");
	r->count = n;
	r->per_ms = per;
	return 0;
}

#define T struct gateway_tls_conf
static const struct conf_field tls_fields[] = {
	{ .name = "enabled", CONF_BOOL(T, enabled), .def = "true",
	  .help = "speak TLS to the servers" },
	{ .name = "verify", CONF_BOOL(T, verify), .def = "true",
	  .help = "verify the server certificate chain and name" },
	{ .name = "ca_file", CONF_PATH(T, ca_file), .help = "trust anchors (PEM)" },
	{ .name = "client_cert", CONF_PATH(T, client_cert), .help = "mTLS certificate" },
	{ .name = "client_key", CONF_SECRET_PATH(T, client_key),
	  .help = "mTLS key (mode 0600)" },
	{ .name = "identity", CONF_STR(T, identity), .max = 64,
	  .help = "mTLS with this bulwark component identity (pki listener_certs)" },
	{ .name = "server_name", CONF_STR(T, server_name), .max = 253,
	  .help = "SNI and checked name; default: the server's host" },
};
#undef T

#define T struct gateway_health_conf
static const struct conf_field health_fields[] = {
	{ .name = "path", CONF_STR(T, path), .max = GW_MAX_PREFIX_LEN,
	  .help = "GET this path on every server; 2xx/3xx is healthy" },
	{ .name = "interval", CONF_DURATION(T, interval_ms),
	  .min = GW_MIN_HEALTH_INTERVAL_MS, .max = GW_MAX_TIMEOUT_MS,
	  .def = GW_DEF_HEALTH_INTERVAL },
	{ .name = "timeout", CONF_DURATION(T, timeout_ms), .min = 10,
	  .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_HEALTH_TIMEOUT },
};
#undef T

#define T struct gateway_upstream_conf
static const struct conf_field upstream_fields[] = {
	{ .name = "name", CONF_STR(T, name), .required = true, .min = 1, .max = 64 },
	{ .name = "servers", CONF_STRLIST(T, servers), .min = 1,
	  .max = GW_MAX_SERVERS, .required = true, .help = "host:port list" },
	{ .name = "balance", CONF_ENUM(T, balance, balance_names),
	  .def = "round_robin" },
	{ .name = "connect_timeout", CONF_DURATION(T, connect_timeout_ms), .min = 1,
	  .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_CONNECT_TIMEOUT },
	{ .name = "read_timeout", CONF_DURATION(T, read_timeout_ms), .min = 1,
	  .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_READ_TIMEOUT,
	  .help = "longest wait between two reads of the response" },
	{ .name = "write_timeout", CONF_DURATION(T, write_timeout_ms), .min = 1,
	  .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_WRITE_TIMEOUT },
	{ .name = "retries", CONF_UINT(T, retries), .max = GW_MAX_RETRIES,
	  .def = GW_DEF_RETRIES, .help = "extra attempts, idempotent methods only" },
	{ .name = "max_fails", CONF_UINT(T, max_fails), .min = 1,
	  .max = GW_MAX_MAX_FAILS, .def = GW_DEF_MAX_FAILS,
	  .help = "consecutive failures that open the circuit" },
	{ .name = "open_for", CONF_DURATION(T, open_for_ms), .min = 1,
	  .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_OPEN_FOR },
	{ .name = "pool_idle", CONF_UINT(T, pool_idle), .max = GW_MAX_POOL_IDLE,
	  .def = GW_DEF_POOL_IDLE, .help = "idle keep-alive connections per server and thread" },
	{ .name = "pool_idle_timeout", CONF_DURATION(T, pool_idle_timeout_ms), .min = 1,
	  .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_POOL_IDLE_TIMEOUT },
	{ .name = "tls", CONF_SECTION(T, tls, tls_fields) },
	{ .name = "health", CONF_SECTION(T, health, health_fields) },
};
#undef T

#define T struct gateway_limit_conf
static const struct conf_field limit_fields[] = {
	{ .name = "key", CONF_ENUM(T, key, key_names), .def = "ip" },
	{ .name = "header", CONF_STR(T, header), .max = 64,
	  .help = "key: header — the API key header, e.g. X-Api-Key" },
	{ .name = "rate", CONF_CUSTOM(T, rate, parse_rate), .required = true },
	{ .name = "burst", CONF_UINT(T, burst), .max = GW_MAX_BURST, .def = "0",
	  .help = "bucket size; 0: the rate's count" },
};
#undef T

#define T struct gateway_jwt_conf
static const struct conf_field jwt_fields[] = {
	{ .name = "jwks_file", CONF_PATH(T, jwks_file),
	  .help = "the issuer's key set (JWKS JSON)" },
	{ .name = "jwks_url", CONF_STR(T, jwks_url), .min = 8, .max = 1024,
	  .help = "the issuer's key set URL (https, or http on loopback)" },
	{ .name = "ca_file", CONF_PATH(T, ca_file),
	  .help = "trust anchors for jwks_url (default: the system store)" },
	{ .name = "bulwark_tenant", CONF_STR(T, bulwark_tenant), .min = 1, .max = 63,
	  .help = "verify with bulwark's own issuer keys of this tenant" },
	{ .name = "issuer", CONF_STR(T, issuer), .min = 1, .max = 255 },
	{ .name = "audience", CONF_STR(T, audience), .min = 1, .max = 255 },
	{ .name = "algs", CONF_STRLIST(T, algs), .max = 8,
	  .help = "allowed algorithms (default RS256 PS256 ES256 ES384 EdDSA)" },
	{ .name = "leeway", CONF_DURATION(T, leeway_ms), .max = 300000, .def = "30s" },
	{ .name = "cache", CONF_DURATION(T, cache_ms), .min = 1000,
	  .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_JWKS_CACHE },
};
#undef T

#define T struct gateway_authz_conf
static const struct conf_field authz_fields[] = {
	{ .name = "relation", CONF_STR(T, relation), .required = true, .min = 1,
	  .max = 64 },
	{ .name = "object", CONF_STR(T, object), .required = true, .min = 3,
	  .max = GW_MAX_AUTHZ_OBJECT, .help = "e.g. document:{1} (path segment 1)" },
	{ .name = "store", CONF_STR(T, store), .required = true, .min = 1, .max = 64 },
};
#undef T

#define T struct gateway_route_conf
static const struct conf_field route_fields[] = {
	{ .name = "name", CONF_STR(T, name), .required = true, .min = 1, .max = 64 },
	{ .name = "hosts", CONF_STRLIST(T, hosts), .max = GW_MAX_ROUTE_HOSTS },
	{ .name = "path", CONF_STR(T, path), .min = 1, .max = GW_MAX_PREFIX_LEN,
	  .def = "/" },
	{ .name = "methods", CONF_STRLIST(T, methods), .max = GW_MAX_ROUTE_METHODS },
	{ .name = "upstream", CONF_STR(T, upstream), .max = 64 },
	{ .name = "builtin", CONF_ENUM(T, builtin, builtin_names), .def = "none" },
	{ .name = "waf", CONF_ENUM(T, waf, waf_names), .def = "off" },
	{ .name = "bot", CONF_ENUM(T, bot, bot_names), .def = "off" },
	{ .name = "auth", CONF_ENUM(T, auth, auth_names), .def = "public" },
	{ .name = "tenant", CONF_STR(T, tenant), .min = 1, .max = 63,
	  .def = "platform", .help = "tenant of sessions, API keys and checks" },
	{ .name = "jwt", CONF_SECTION(T, jwt, jwt_fields) },
	{ .name = "authz", CONF_SECTION(T, authz, authz_fields) },
	{ .name = "preserve_host", CONF_BOOL(T, preserve_host), .def = "true" },
	{ .name = "websocket", CONF_BOOL(T, websocket), .def = "false",
	  .help = "pass WebSocket upgrades through as a byte tunnel" },
	{ .name = "websocket_idle_timeout", CONF_DURATION(T, websocket_idle_ms),
	  .min = 1000, .max = GW_MAX_TIMEOUT_MS, .def = GW_DEF_WS_IDLE },
	{ .name = "rate_limits",
	  CONF_LIST(T, rate_limits, limit_fields, struct gateway_limit_conf),
	  .max = GW_MAX_ROUTE_LIMITS },
};
#undef T

#define T struct gateway_conf
static const struct conf_field rl_fields[] = {
	{ .name = "allowlist", CONF_STRLIST(T, rate_limit.allowlist),
	  .max = GW_MAX_CIDRS },
	{ .name = "entries", CONF_UINT(T, rate_limit.entries), .min = 64,
	  .max = GW_MAX_RL_ENTRIES, .def = GW_DEF_RL_ENTRIES },
};
static const struct conf_field ddos_fields[] = {
	{ .name = "enabled", CONF_BOOL(T, ddos.enabled), .def = "false" },
	{ .name = "window", CONF_DURATION(T, ddos.window_ms), .min = 100,
	  .max = 60000, .def = GW_DEF_DDOS_WINDOW },
	{ .name = "ip_min", CONF_UINT(T, ddos.ip_min), .min = 1,
	  .max = 100000000, .def = GW_DEF_DDOS_IP_MIN,
	  .help = "requests per window below which an IP is never anomalous" },
	{ .name = "route_min", CONF_UINT(T, ddos.route_min), .min = 1,
	  .max = 1000000000, .def = GW_DEF_DDOS_ROUTE_MIN },
	{ .name = "factor", CONF_UINT(T, ddos.factor), .min = 2, .max = 1000,
	  .def = GW_DEF_DDOS_FACTOR, .help = "anomaly: rate > factor x baseline" },
	{ .name = "block_for", CONF_DURATION(T, ddos.block_for_ms), .min = 1000,
	  .max = GW_MAX_DDOS_BLOCK_MS, .def = GW_DEF_DDOS_BLOCK_FOR },
	{ .name = "conns_per_ip", CONF_UINT(T, ddos.conns_per_ip),
	  .max = GW_MAX_CONNS_PER_IP, .def = GW_DEF_CONNS_PER_IP },
};
static const struct conf_field bot_fields[] = {
	{ .name = "challenge_key", CONF_STR(T, bot.challenge_key),
	  .min = GW_MIN_CHALLENGE_KEY, .max = GW_MAX_CHALLENGE_KEY,
	  .help = "HMAC key of challenge cookies; default: random per start" },
	{ .name = "cookie_ttl", CONF_DURATION(T, bot.cookie_ttl_ms), .min = 60000,
	  .max = 7 * 86400000ull, .def = GW_DEF_CHALLENGE_TTL },
	{ .name = "challenge", CONF_ENUM(T, bot.challenge, challenge_names),
	  .def = "cookie" },
	{ .name = "pow_bits", CONF_UINT(T, bot.pow_bits), .min = 1,
	  .max = GW_MAX_POW_BITS, .def = GW_DEF_POW_BITS },
};
static const struct conf_field waf_fields[] = {
	{ .name = "rules", CONF_STRLIST(T, waf.rules), .max = GW_MAX_WAF_FILES,
	  .help = "SecLang files, e.g. the CRS setup and rules" },
};
static const struct conf_field identity_fields[] = {
	{ .name = "key_file", CONF_PATH(T, identity.key_file),
	  .help = "HMAC key signing X-Bulwark-Identity (0600, >= 32 bytes)" },
};
static const struct conf_field gw_fields[] = {
	{ .name = "trusted_proxies", CONF_STRLIST(T, trusted_proxies),
	  .max = GW_MAX_CIDRS },
	{ .name = "send_forwarded", CONF_BOOL(T, send_forwarded), .def = "false" },
	{ .name = "max_response", CONF_SIZE(T, max_response), .min = 1024,
	  .max = GW_MAX_MAX_RESPONSE, .def = "8m" },
	{ .name = "upstreams",
	  CONF_LIST(T, upstreams, upstream_fields, struct gateway_upstream_conf),
	  .max = GW_MAX_UPSTREAMS },
	{ .name = "routes", CONF_LIST(T, routes, route_fields, struct gateway_route_conf),
	  .max = GW_MAX_ROUTES },
	/* nested sections bind into this same struct: their fields carry
	 * offsets from struct gateway_conf and the section offset is 0 */
	{ .name = "rate_limit", .type = CONF_T_SECTION, .offset = 0, .sub = rl_fields,
	  .nsub = BW_ARRAY_LEN(rl_fields) },
	{ .name = "ddos", .type = CONF_T_SECTION, .offset = 0, .sub = ddos_fields,
	  .nsub = BW_ARRAY_LEN(ddos_fields) },
	{ .name = "bot", .type = CONF_T_SECTION, .offset = 0, .sub = bot_fields,
	  .nsub = BW_ARRAY_LEN(bot_fields) },
	{ .name = "waf", .type = CONF_T_SECTION, .offset = 0, .sub = waf_fields,
	  .nsub = BW_ARRAY_LEN(waf_fields) },
	{ .name = "identity", .type = CONF_T_SECTION, .offset = 0, .sub = identity_fields,
	  .nsub = BW_ARRAY_LEN(identity_fields) },
};
#undef T

int gw_server_split(const char *s, char *host, size_t hostcap, uint16_t *port)
{
	size_t len = strlen(s);
	const char *colon;
	const char *h = s;
	size_t hl;
	if (len && s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(end - s) - 1;
		colon = end + 1;
		struct gw_ip ip;
		if (gw_ip_parse(h, hl, &ip) < 0 || ip.v4)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		hl = (size_t)(colon - s);
		for (size_t i = 0; i < hl; i++) {
			char c = s[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
				return -1;
		}
	}
	uint64_t p;
	const char *ps = colon + 1;
	if (hl == 0 || hl >= hostcap || !*ps || strlen(ps) > 5 ||
	    bw_str_to_u64(bw_str_make(ps, strlen(ps)), &p) < 0 || p == 0 || p > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int check_cidrs(const struct conf_node *sec, const char *key,
		       const struct conf_strlist *l, struct bw_err *err)
{
	const struct conf_node *n = conf_get(sec, key);
	for (size_t i = 0; i < l->n; i++) {
		struct gw_cidr c;
		if (gw_cidr_parse(l->v[i], strlen(l->v[i]), &c) < 0)
			return conf_err(conf_at(n, i), err, "range",
					"'%s' is not an IP address or CIDR "
					"(host bits must be zero)", l->v[i]);
	}
	return 0;
}

static int check_upstreams(const struct conf_node *sec, struct gateway_conf *c,
			   struct bw_err *err)
{
	const struct conf_node *list = conf_get(sec, "upstreams");
	struct gateway_upstream_conf *u = c->upstreams.v;
	for (size_t i = 0; i < c->upstreams.n; i++) {
		const struct conf_node *un = conf_at(list, i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(u[j].name, u[i].name) == 0)
				return conf_err(conf_get(un, "name"), err, "duplicate_key",
						"upstream '%s' is defined twice", u[i].name);
		for (size_t s = 0; s < u[i].servers.n; s++) {
			char host[GW_MAX_HOST_LEN];
			uint16_t port;
			if (gw_server_split(u[i].servers.v[s], host, sizeof(host), &port) < 0)
				return conf_err(conf_at(conf_get(un, "servers"), s), err,
						"range",
						"'%s' must be host:port or [ipv6]:port",
						u[i].servers.v[s]);
		}
		if (!conf_get(un, "tls"))
			u[i].tls.enabled = false; /* absent section: plaintext */
		if ((u[i].tls.client_cert != NULL) != (u[i].tls.client_key != NULL))
			return conf_err(conf_get(un, "tls"), err, "missing",
					"client_cert and client_key go together");
		if (u[i].tls.identity && !u[i].tls.enabled)
			return conf_err(conf_get(conf_get(un, "tls"), "identity"), err,
					"conflict", "identity needs tls enabled");
		if (u[i].tls.identity && u[i].tls.client_cert)
			return conf_err(conf_get(conf_get(un, "tls"), "identity"), err,
					"conflict", "identity and client_cert exclude each other");
		if (u[i].health.path && u[i].health.path[0] != '/')
			return conf_err(conf_get(conf_get(un, "health"), "path"), err,
					"range", "must start with '/'");
		if (u[i].health.path && u[i].health.timeout_ms > u[i].health.interval_ms)
			return conf_err(conf_get(un, "health"), err, "range",
					"timeout must not exceed interval");
	}
	return 0;
}

static int check_routes(const struct conf_node *sec, struct gateway_conf *c,
			struct bw_arena *a, struct bw_err *err)
{
	const struct conf_node *list = conf_get(sec, "routes");
	struct gateway_route_conf *r = c->routes.v;
	const struct gateway_upstream_conf *u = c->upstreams.v;
	for (size_t i = 0; i < c->routes.n; i++) {
		const struct conf_node *rn = conf_at(list, i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r[j].name, r[i].name) == 0)
				return conf_err(conf_get(rn, "name"), err, "duplicate_key",
						"route '%s' is defined twice", r[i].name);
		bool has_up = r[i].upstream != NULL;
		if (has_up == (r[i].builtin != GATEWAY_BUILTIN_NONE))
			return conf_err(rn, err, "missing",
					"route needs exactly one of 'upstream' and "
					"'builtin'");
		if (has_up) {
			size_t k;
			for (k = 0; k < c->upstreams.n; k++)
				if (strcmp(u[k].name, r[i].upstream) == 0)
					break;
			if (k == c->upstreams.n)
				return conf_err(conf_get(rn, "upstream"), err, "range",
						"no upstream named '%s'", r[i].upstream);
		}
		if (r[i].path[0] != '/')
			return conf_err(conf_get(rn, "path"), err, "range",
					"must start with '/'");
		for (size_t h = 0; h < r[i].hosts.n; h++) {
			struct gw_hostpat p;
			const char *why = NULL;
			if (gw_hostpat_parse(a, r[i].hosts.v[h], &p, &why) < 0)
				return conf_err(conf_at(conf_get(rn, "hosts"), h), err,
						"range", "%s", why);
		}
		for (size_t m = 0; m < r[i].methods.n; m++) {
			const char *s = r[i].methods.v[m];
			struct bw_str ms = bw_str_make(s, strlen(s));
			bool upper = true;
			for (size_t q = 0; q < ms.len; q++)
				if (s[q] >= 'a' && s[q] <= 'z')
					upper = false;
			if (!http_is_token(ms) || !upper)
				return conf_err(conf_at(conf_get(rn, "methods"), m), err,
						"range",
						"'%s' is not an upper-case method token", s);
		}
		const struct conf_node *ln = conf_get(rn, "rate_limits");
		struct gateway_limit_conf *l = r[i].rate_limits.v;
		for (size_t k = 0; k < r[i].rate_limits.n; k++) {
			if (l[k].key == GATEWAY_RL_HEADER &&
			    (!l[k].header ||
			     !http_is_token(bw_str_make(l[k].header, strlen(l[k].header)))))
				return conf_err(conf_at(ln, k), err, "missing",
						"key: header needs 'header', a header "
						"name");
			if (l[k].burst == 0)
				l[k].burst = l[k].rate.count > GW_MAX_BURST ?
						     GW_MAX_BURST :
						     (unsigned)l[k].rate.count;
		}
	}
	return 0;
}

int gateway_conf_bind(const struct conf_node *section, struct bw_arena *a,
		      struct gateway_conf *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (conf_bind(section, gw_fields, BW_ARRAY_LEN(gw_fields), out, err) < 0)
		return -1;
	out->configured = section && !(section->kind == CONF_SCALAR && section->null);
	if (!out->configured)
		return 0;
	if (check_cidrs(section, "trusted_proxies", &out->trusted_proxies, err) < 0 ||
	    check_cidrs(conf_get(section, "rate_limit"), "allowlist",
			&out->rate_limit.allowlist, err) < 0 ||
	    check_upstreams(section, out, err) < 0)
		return -1;
	struct bw_arena *scratch = a ? a : bw_arena_new(4096, 1 << 20);
	int rc = scratch ? check_routes(section, out, scratch, err) :
			   bw_err_set(err, 500, "gateway", "nomem", "out of memory");
	if (!a)
		bw_arena_free(scratch);
	return rc;
}
