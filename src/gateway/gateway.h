/*
 * gateway — bulwark's HTTP reverse proxy and edge: routes requests by host,
 * path prefix and method to upstream pools (keep-alive connection pools,
 * round-robin / least-connections, timeouts, retries, passive and active
 * health with circuit breaking, TLS/mTLS towards upstreams), and guards
 * them with rate limits, L7 DDoS anomaly blocks, bot management and the
 * WAF (per-route off / detect / block), each decision an event.
 *
 * Lifecycle (one config generation):
 *   gateway_conf_bind()  YAML `gateway:` section -> struct gateway_conf
 *   gateway_new()        resolves servers, builds TLS contexts, loads WAF
 *                        rules: immutable, shared by every worker thread
 *   gateway_handle()     the net handler (arg = struct gateway *)
 *   gateway_free()       the owner's release when the generation retires
 *
 * Threading: struct gateway is immutable and reference-counted. Per-thread
 * state (upstream connection pools, in-flight proxied exchanges, active
 * health probes) is created on first use on each loop and belongs to that
 * loop; gateway_thread_fini() releases it. Shared counters (circuit state,
 * least-connections counts, rate-limit and anomaly tables) are atomics or
 * sharded mutexes.
 */
#ifndef BW_GATEWAY_H
#define BW_GATEWAY_H

#include "conf/conf.h"
#include "core/core.h"
#include "loop/loop.h"
#include "net/net.h"

/* ---------------------------------------------------------- config */

enum gateway_balance { GATEWAY_BALANCE_ROUND_ROBIN, GATEWAY_BALANCE_LEAST_CONN };
enum gateway_waf_mode { GATEWAY_WAF_OFF, GATEWAY_WAF_DETECT, GATEWAY_WAF_BLOCK };
enum gateway_bot_mode {
	GATEWAY_BOT_OFF,       /* no checks */
	GATEWAY_BOT_DETECT,    /* classify and log, never act */
	GATEWAY_BOT_BLOCK,     /* attack tools get 403; suspicious: logged */
	GATEWAY_BOT_CHALLENGE, /* attack tools 403; suspicious get a challenge */
};
enum gateway_rl_key { GATEWAY_RL_IP, GATEWAY_RL_ROUTE, GATEWAY_RL_HEADER };
/* Edge authentication of a route (docs/gateway.md "Edge authentication"). */
enum gateway_auth {
	GATEWAY_AUTH_PUBLIC,  /* no credential needed */
	GATEWAY_AUTH_SESSION, /* a bulwark session (cookie or bearer "bws_") */
	GATEWAY_AUTH_API_KEY, /* a bulwark API key (bearer or X-Api-Key "bwk_") */
	GATEWAY_AUTH_JWT,     /* a bearer JWT from the route's issuer */
	GATEWAY_AUTH_ANY,     /* any of the three */
};
enum gateway_builtin { GATEWAY_BUILTIN_NONE, GATEWAY_BUILTIN_DEMO };
enum gateway_challenge { GATEWAY_CHALLENGE_COOKIE, GATEWAY_CHALLENGE_POW };

/* A rate: count requests per per_ms milliseconds ("100/s", "6000/m"). */
struct gateway_rate {
	uint64_t count;
	uint64_t per_ms;
};

struct gateway_tls_conf {
	bool enabled;
	bool verify;             /* peer chain and host name (default true) */
	const char *ca_file;     /* NULL: system trust store */
	const char *client_cert; /* mTLS, PEM files */
	const char *client_key;
	/* mTLS with a bulwark component identity instead of files: the name
	 * of a pki listener_certs entry with `identity:` (a short-lived
	 * SPIFFE certificate from the private CA, rotated without reloads) */
	const char *identity;
	const char *server_name; /* SNI and name checked; NULL: server host */
};

struct gateway_health_conf {
	const char *path; /* NULL: no active checks */
	uint64_t interval_ms, timeout_ms;
};

struct gateway_upstream_conf {
	const char *name;
	struct conf_strlist servers; /* "host:port", "[v6]:port" */
	int balance;                 /* enum gateway_balance */
	uint64_t connect_timeout_ms, read_timeout_ms, write_timeout_ms;
	unsigned retries;
	unsigned max_fails;
	uint64_t open_for_ms;
	unsigned pool_idle;
	uint64_t pool_idle_timeout_ms;
	struct gateway_tls_conf tls;
	struct gateway_health_conf health;
};

struct gateway_limit_conf {
	int key;            /* enum gateway_rl_key */
	const char *header; /* GATEWAY_RL_HEADER: e.g. "X-Api-Key" */
	struct gateway_rate rate;
	unsigned burst;     /* bucket size; 0 = rate.count */
};

/* JWT validation of a route. Keys: a static JWKS file (an external
 * issuer), or bulwark's own issuer for a tenant (its JWKS, cached). */
struct gateway_jwt_conf {
	const char *jwks_file;
	const char *jwks_url;        /* fetched with net_fetch, cached */
	const char *ca_file;         /* trust for jwks_url; NULL: system */
	const char *bulwark_tenant;
	const char *issuer;          /* required "iss" when set */
	const char *audience;        /* must be in "aud" when set */
	struct conf_strlist algs;    /* default: the asymmetric ones */
	uint64_t leeway_ms;
	uint64_t cache_ms;           /* bulwark_tenant: JWKS kept this long */
};

/* An optional relationship check after authentication: is
 * "user:<subject>" `relation` of `object` in the authorization store?
 * object may name path segments after the route prefix: "doc:{1}". */
struct gateway_authz_conf {
	const char *relation;        /* NULL: no check */
	const char *object;
	const char *store;
};

struct gateway_route_conf {
	const char *name;
	struct conf_strlist hosts;   /* "example.com", "*.example.com"; empty: any */
	const char *path;            /* prefix, segment-aware; default "/" */
	struct conf_strlist methods; /* empty: any */
	const char *upstream;        /* pool name, or NULL with builtin */
	int builtin;                 /* enum gateway_builtin */
	int waf;                     /* enum gateway_waf_mode */
	int bot;                     /* enum gateway_bot_mode */
	int auth;                    /* enum gateway_auth */
	const char *tenant;          /* sessions, API keys, authz: the tenant */
	struct gateway_jwt_conf jwt;
	struct gateway_authz_conf authz;
	bool preserve_host;          /* send the client's Host (default) */
	bool websocket;              /* WebSocket upgrades become tunnels */
	uint64_t websocket_idle_ms;  /* a tunnel without traffic closes */
	struct conf_list rate_limits; /* of struct gateway_limit_conf */
};

struct gateway_conf {
	struct conf_strlist trusted_proxies; /* CIDRs whose XFF is believed */
	bool send_forwarded;                 /* RFC 7239 Forwarded too */
	size_t max_response;
	struct conf_list upstreams; /* of struct gateway_upstream_conf */
	struct conf_list routes;    /* of struct gateway_route_conf */
	struct {
		struct conf_strlist allowlist; /* never limited */
		unsigned entries;
	} rate_limit;
	struct {
		bool enabled;
		uint64_t window_ms;
		unsigned ip_min;    /* requests per window */
		unsigned route_min;
		unsigned factor;
		uint64_t block_for_ms;
		unsigned conns_per_ip; /* 0: off (needs net's hook) */
	} ddos;
	struct {
		const char *challenge_key; /* >= 32 bytes; NULL: random */
		uint64_t cookie_ttl_ms;
		int challenge;      /* enum gateway_challenge */
		unsigned pow_bits;
	} bot;
	struct {
		struct conf_strlist rules; /* SecLang files in load order */
	} waf;
	struct {
		/* HMAC-SHA256 key (>= 32 bytes, a 0600 file) that signs the
		 * identity headers sent upstream; needed when a route
		 * authenticates. */
		const char *key_file;
	} identity;
	bool configured; /* the section was present */
};

/*
 * gateway_conf_bind — turn the YAML `gateway:` section into *out.
 *  section: the raw node (borrowed; NULL or null = not configured: *out
 *           gets defaults and no routes, and gateway_handle then serves
 *           the built-in demo for every request).
 *  a:       unused today (strings live in the section's document arena,
 *           which must outlive *out); kept for derived data.
 *  out:     OUT, filled on success.
 * Cross-field checks: route upstream names exist, exactly one of upstream
 * and builtin, server and CIDR and host-pattern syntax, header key needs a
 * header name. Returns 0, or -1 with err "FILE:LINE:COL: key.path: msg".
 */
int gateway_conf_bind(const struct conf_node *section, struct bw_arena *a,
		      struct gateway_conf *out, struct bw_err *err) BW_WUR;

/* ---------------------------------------------------------- runtime */

struct gateway;

/*
 * gateway_new — build one immutable generation from conf (borrowed; the
 * gateway copies what it keeps). Resolves server names (blocking
 * getaddrinfo: call it at start or reload, never on a loop), builds the
 * upstream TLS client contexts, loads the WAF rule files.
 * Returns the gateway with one reference, or NULL with err.
 */
struct gateway *gateway_new(const struct gateway_conf *conf,
			    struct bw_err *err) BW_WUR;

/* Reference counting. The owner's reference is dropped with
 * gateway_free (accepts NULL); per-thread state holds its own reference
 * while it has pooled connections or exchanges in flight, so a retired
 * generation lives until the last of them is done. */
void gateway_ref(struct gateway *gw);
void gateway_free(struct gateway *gw);

/*
 * gateway_handle — net handler for gateway listeners; arg is the struct
 * gateway (which must stay referenced for as long as the net server that
 * carries it: see GATEWAY.md "wiring"). Answers every exchange exactly
 * once, possibly later from the same loop (upstream I/O).
 */
void gateway_handle(struct net_exchange *x, void *arg);

/*
 * gateway_thread_fini — release the per-thread state bound to loop l:
 * exchanges still waiting for an upstream are answered 503
 * ("gateway_shutdown"), pooled and in-flight upstream connections are
 * closed, probe timers cancelled. Call on l's thread, or after l's
 * loop_run returned: after net_thread_free(l's net thread), which closes
 * the client connections so the 503s only release their exchanges, and
 * before loop_free(l). A loop the gateway never ran on is a no-op.
 */
void gateway_thread_fini(struct loop *l);

/*
 * gateway_thread_attach — optional: create gw's per-thread state on loop l
 * now rather than at the first request, so the thread that wins the
 * election starts active health checks at once. Call on l's thread (e.g.
 * through loop_post after a reload); takes no ownership.
 */
void gateway_thread_attach(struct gateway *gw, struct loop *l);

/*
 * gateway_demo_app — the built-in demo application as a plain net handler
 * (arg unused): a small HTML page, /api/echo (JSON echo of the query),
 * /api/items, /healthz. Routes with `builtin: demo` serve the same thing
 * in-process, behind every gateway check.
 */
void gateway_demo_app(struct net_exchange *x, void *arg);

/*
 * Connections-per-IP hook for net (see GATEWAY.md): net calls
 * gateway_conn_admit(ip) at accept and, when it returned true,
 * gateway_conn_release(ip) when that connection closes. Returns false
 * when ip already holds ddos.conns_per_ip connections (net then closes
 * the new one). Thread-safe. Always true when the limit is 0.
 */
bool gateway_conn_admit(struct gateway *gw, const char *ip);
void gateway_conn_release(struct gateway *gw, const char *ip);

/*
 * What edge authentication needs from identity and authorization, as
 * blocking functions the gateway runs on `pool` (the daemon wires
 * src/iam and src/authz here; the gateway links neither). Any function
 * may be NULL: the modes that need it then answer 503.
 */
struct gateway_principal {
	char kind[16];    /* "session", "api_key", "jwt" */
	char tenant[64];
	char subject[128]; /* user id, or the JWT's "sub" */
	char name[128];
	char scopes[256];
	char issuer[256]; /* JWT only */
};
struct gateway_services {
	/* A bulwark session or API key token: 0 with *out, -1 not valid
	 * (401), -2 store unavailable (503). */
	int (*authenticate)(void *arg, const char *token, size_t len,
			    struct gateway_principal *out);
	/* Appends bulwark's public JWKS of tenant to out. 0 or -1. */
	int (*tenant_jwks)(void *arg, const char *tenant, struct bw_buf *out);
	/* Relationship check. 0 with *allowed, or -1 (503). */
	int (*check)(void *arg, const char *tenant, const char *store,
		     const char *user, const char *relation, const char *object,
		     bool *allowed);
	void *arg;
	struct tpool *pool; /* where the functions run */
};
/* Sets gw's services (copied). Call before gw serves requests (after
 * gateway_new, before the generation is swapped in). */
void gateway_set_services(struct gateway *gw, const struct gateway_services *s);

/*
 * Gives every upstream configured with tls.identity its component
 * identity: use(arg, name, ssl_ctx, err) makes the TLS client context
 * present identity `name` (the daemon passes the pki's). Call once per
 * gateway, before it serves requests. 0, or -1 with use's err (an
 * unknown identity) — the caller refuses that configuration.
 */
int gateway_use_identities(struct gateway *gw,
			   int (*use)(void *arg, const char *name, void *ssl_ctx,
				      struct bw_err *err),
			   void *arg, struct bw_err *err) BW_WUR;

/* Counters for /metrics (process-wide, all generations). */
struct gateway_stats {
	uint64_t requests, proxied, upstream_errors, retries;
	uint64_t status_502, status_503, status_504;
	uint64_t rate_limited, ddos_blocked, bot_blocked, bot_challenged;
	uint64_t waf_blocked, waf_detected;
	uint64_t pool_reused, pool_new, circuit_opened;
	uint64_t streamed, websockets; /* streamed responses, tunnels opened */
	uint64_t auth_ok, auth_failed, authz_denied;
};
void gateway_stats_get(struct gateway_stats *out);

#endif
