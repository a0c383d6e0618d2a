/*
 * gateway_int.h — the gateway's internal types and the functions its files
 * share. No other module includes this.
 *
 * Invariants:
 *  - everything reachable from struct gateway is immutable after
 *    gateway_new, except the fields marked "shared, atomic" (health and
 *    circuit state, round-robin cursor, in-flight counts) and the tables
 *    guarded by their shard mutexes (rate limits, anomaly, connections);
 *  - loop-bound resources (sockets, timers, SSL objects) live only in
 *    per-thread state (gateway_proxy.c) and are touched only on that
 *    loop's thread;
 *  - every string kept by a generation lives in its arena.
 */
#ifndef BW_GATEWAY_INT_H
#define BW_GATEWAY_INT_H

#include "gateway/gateway.h"
#include "gateway/gateway_limits.h"
#include "event/event.h"
#include "http/http.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

/* --------------------------------------------------------- addresses */

/* An IP address in network order; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d)
 * so one comparison serves both families. */
struct gw_ip {
	uint8_t a[16];
	bool v4;
};

struct gw_cidr {
	struct gw_ip ip; /* masked */
	uint8_t bits;    /* prefix length over the 128-bit form */
};

/* Parse an IPv4 or IPv6 literal (no brackets, no port, no zone).
 * 0 or -1. */
int gw_ip_parse(const char *s, size_t len, struct gw_ip *out) BW_WUR;
/* Parse "addr" or "addr/bits" (bits 0..32 for IPv4, 0..128 for IPv6);
 * host bits must be zero ("10.0.0.1/8" is refused as a likely typo).
 * 0 or -1. */
int gw_cidr_parse(const char *s, size_t len, struct gw_cidr *out) BW_WUR;
bool gw_cidr_contains(const struct gw_cidr *c, const struct gw_ip *ip);
bool gw_cidr_list_match(const struct gw_cidr *v, size_t n,
			const struct gw_ip *ip);
/* Text form of ip into out (INET6_ADDRSTRLEN bytes). */
void gw_ip_format(const struct gw_ip *ip, char *out, size_t cap);

/* --------------------------------------------------------- routing */

/* A host pattern: exact ("example.com") or wildcard ("*.example.com",
 * matching one or more labels before ".example.com", not the bare
 * domain). Stored lower-case; for a wildcard `name` is ".example.com". */
struct gw_hostpat {
	const char *name;
	size_t len;
	bool wildcard;
};

/* Checks and lower-cases a host pattern into the arena. 0 or -1 with a
 * reason in *why (static text). */
int gw_hostpat_parse(struct bw_arena *a, const char *s, struct gw_hostpat *out,
		     const char **why) BW_WUR;
/* host is a request's host name (no port; IP-literals keep brackets),
 * compared ASCII case-insensitively. */
bool gw_hostpat_match(const struct gw_hostpat *p, struct bw_str host);

/* Segment-aware prefix match: "/api" matches "/api", "/api/x" and
 * "/api?q" is never seen here (path only), not "/apix"; a prefix ending
 * in "/" matches every path under it. */
bool gw_path_prefix_match(struct bw_str prefix, struct bw_str path);

/* Whether a request path has a dot segment ("/./", "/../", trailing "/."
 * or "/..") in raw or percent-encoded form (%2e, %2E), or an encoded
 * slash/backslash inside a segment that could route differently upstream. */
bool gw_path_is_suspicious(struct bw_str path);

struct gw_limit {
	enum gateway_rl_key key;
	const char *header;
	uint64_t interval_ns; /* emission interval: per / count */
	uint64_t burst;
	uint32_t id;          /* unique per generation: part of the key */
};

struct gw_route {
	const char *name;
	struct gw_hostpat *hosts;
	size_t nhosts;
	struct bw_str prefix;
	const char **methods; /* NULL-terminated; NULL: any method */
	size_t nmethods;
	int upstream;         /* index, or -1 for builtin */
	enum gateway_builtin builtin;
	enum gateway_waf_mode waf;
	enum gateway_bot_mode bot;
	enum gateway_auth auth;
	struct gw_auth *authc; /* keys and check of a non-public route */
	bool preserve_host;
	bool websocket;
	uint64_t websocket_idle_ms;
	struct gw_limit limits[GW_MAX_ROUTE_LIMITS];
	size_t nlimits;
	size_t index;
	/* L7 DDoS per-route anomaly state (shared, guarded by anomaly_mu). */
	pthread_mutex_t anomaly_mu;
	int64_t win_start_ns;
	uint64_t win_count;
	double ewma;
	int64_t attack_until_ns;
};

/*
 * The best route for a request: routes whose host patterns, prefix and
 * methods all match; among them an exact host beats a wildcard beats "any
 * host", then the longest prefix wins, then the first in config order.
 * NULL when none matches.
 */
const struct gw_route *gw_route_select(const struct gw_route *routes, size_t n,
				       struct bw_str host, struct bw_str path,
				       struct bw_str method);

/* ---------------------------------------------------- forwarding */

/* What the gateway believes about the client after forwarding headers. */
struct gw_client {
	struct gw_ip ip;
	char ip_text[64];
	bool peer_trusted; /* the socket peer is a trusted proxy */
};

/*
 * Derive the client address: the socket peer, unless the peer is a
 * trusted proxy, in which case X-Forwarded-For (else Forwarded for=) is
 * walked right to left past trusted hops; the first untrusted address is
 * the client (a malformed entry stops the walk at the hop before it).
 * peer_ip is the socket peer's text form. 0, or -1 when peer_ip itself does
 * not parse.
 */
int gw_client_derive(const struct gw_cidr *trusted, size_t ntrusted,
		     const char *peer_ip, const struct http_request *req,
		     struct gw_client *out) BW_WUR;

/*
 * One element of a Forwarded header (RFC 7239 §4): iterate with
 * gw_forwarded_next, which stores the next element's for= value (quotes
 * removed, brackets and port kept) in *for_value (empty when the element
 * has none) and returns 1; 0 at the end, -1 on a syntax error (the walk
 * must stop there).
 */
int gw_forwarded_next(struct bw_str *rest, struct bw_str *for_value);
/* The address inside a for= value or an XFF element: strips brackets and
 * an optional port; "unknown" and obfuscated names fail. 0 or -1. */
int gw_node_addr(struct bw_str node, struct gw_ip *out) BW_WUR;

struct gw_hdr {
	const char *name, *value;
};

/* Hop-by-hop set of a message: the fixed names plus every token listed
 * in its Connection headers. */
struct gw_hop {
	struct bw_str listed[32];
	size_t nlisted;
	bool overflow; /* more than 32 listed: every unknown name is dropped */
};
void gw_hop_collect(const struct http_header *h, size_t n, struct gw_hop *out);
bool gw_hop_is(const struct gw_hop *hop, struct bw_str name);

/*
 * Build the request head sent upstream into out (bounded): request line
 * with the origin-form target, the client's end-to-end headers (no
 * hop-by-hop, Host, Content-Length, X-Forwarded-*, Forwarded or
 * X-Request-Id), then Host, X-Forwarded-For/-Proto/-Host, optionally
 * Forwarded, X-Request-Id and Content-Length (when a body is sent or the
 * method carries one). 0 or -1 with err.
 */
struct gw_fwd_opts {
	struct bw_str host;        /* value for Host */
	const struct gw_client *client;
	const char *peer_ip;       /* the socket peer */
	bool tls;                  /* client connection was TLS */
	bool send_forwarded;
	const char *request_id;
	size_t body_len;
	bool body_chunked; /* streamed body of unknown length: chunked */
	bool websocket;    /* pass the client's WebSocket upgrade on */
	/* Headers the gateway adds (the signed identity, X-Bulwark-*: any
	 * client header in that namespace is dropped). */
	const struct gw_hdr *extra;
	size_t nextra;
};
int gw_build_request(struct bw_buf *out, const struct http_request *req,
		     const struct gw_fwd_opts *o, struct bw_err *err) BW_WUR;

/* Whether an upstream response header must not be copied to the client:
 * hop-by-hop (incl. what its Connection lists), framing (Content-Length,
 * Transfer-Encoding), and what net writes itself (Date, Content-Type,
 * X-Request-Id). */
bool gw_resp_header_skip(const struct gw_hop *hop, struct bw_str name);

/* ---------------------------------------------------- rate limiting */

struct gw_rl_table;
struct gw_rl_table *gw_rl_new(size_t entries);
void gw_rl_free(struct gw_rl_table *t);
/*
 * GCRA token bucket: one request against key (limit id + key bytes) at
 * time now_ns with emission interval interval_ns and bucket size burst.
 * Returns true if allowed; false with *retry_ns the wait until the next
 * request would be allowed.
 */
bool gw_rl_take(struct gw_rl_table *t, uint32_t limit_id, const void *key,
		size_t keylen, int64_t now_ns, uint64_t interval_ns,
		uint64_t burst, int64_t *retry_ns);
size_t gw_rl_count(struct gw_rl_table *t);

/* ---------------------------------------------------- L7 DDoS */

struct gw_ddos;
struct gw_ddos_conf {
	bool enabled;
	int64_t window_ns;
	uint64_t ip_min, route_min, factor;
	int64_t block_ns;
	unsigned conns_per_ip;
};
struct gw_ddos *gw_ddos_new(const struct gw_ddos_conf *c, size_t entries);
void gw_ddos_free(struct gw_ddos *d);
enum gw_ddos_verdict { GW_DDOS_PASS, GW_DDOS_BLOCKED, GW_DDOS_NEW_BLOCK };
/* Counts one request of ip on route r at now_ns. *until_ns: end of the
 * block. NEW_BLOCK is returned once, when the block starts (emit the
 * event then). *route_attack tells that r is in its anomaly period. */
enum gw_ddos_verdict gw_ddos_check(struct gw_ddos *d, struct gw_route *r,
				   const struct gw_ip *ip, int64_t now_ns,
				   int64_t *until_ns, bool *route_attack,
				   bool *route_new_attack);
bool gw_ddos_conn_admit(struct gw_ddos *d, const struct gw_ip *ip);
void gw_ddos_conn_release(struct gw_ddos *d, const struct gw_ip *ip);

/* ---------------------------------------------------- bots */

enum gw_bot_class { GW_BOT_HUMAN, GW_BOT_SUSPICIOUS, GW_BOT_TOOL };
struct gw_bot_result {
	enum gw_bot_class cls;
	int score;
	const char *reasons[GW_BOT_MAX_REASONS]; /* static tokens */
	size_t nreasons;
	char tool[32]; /* the matched attack tool, if any */
};
/* Classify a request head (pure; no state). */
void gw_bot_classify(const struct http_request *req, struct gw_bot_result *out);

/* Challenge cookies: "v1.<expiry s>.<hex HMAC-SHA256(key, ip|expiry)>"
 * bound to the client IP. */
#define GW_CHALLENGE_COOKIE "__bw_chal"
int gw_challenge_make(const uint8_t *key, size_t keylen, const char *ip,
		      int64_t expiry_s, char *out, size_t cap) BW_WUR;
/* The proof-of-work variant's server part "p1.<expiry>.<nonce>.<mac>"; the
 * client appends ".<counter>". */
int gw_challenge_make_pow(const uint8_t *key, size_t keylen, const char *ip,
			  int64_t expiry_s, char *out, size_t cap) BW_WUR;
/* Whether cookie value v is valid for ip at now_s (MAC checked first, in
 * constant time; then expiry). pow_bits > 0 also demands the proof. */
bool gw_challenge_check(const uint8_t *key, size_t keylen, const char *ip,
			int64_t now_s, struct bw_str v, unsigned pow_bits);
/* The value of cookie `name` in the request's Cookie headers. */
bool gw_cookie_get(const struct http_request *req, const char *name,
		   struct bw_str *out);

/* Server "host:port" / "[v6]:port" (host: name or literal, port 1..65535)
 * into host (NUL-terminated, brackets removed) and *port. 0 or -1. */
int gw_server_split(const char *s, char *host, size_t hostcap,
		    uint16_t *port) BW_WUR;

/* ---------------------------------------------------- the generation */

struct gw_server {
	char host[GW_MAX_HOST_LEN]; /* name or literal (no brackets) */
	char hostport[GW_MAX_HOST_LEN + 8]; /* for Host when not preserved */
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	size_t index;
	/* shared, atomic */
	_Atomic unsigned fails;        /* consecutive failures */
	_Atomic int64_t open_until_ms; /* circuit open until (mono); 0: closed */
	_Atomic int probing;           /* half-open probe in flight */
	_Atomic unsigned inflight;     /* requests using it now (all threads) */
	_Atomic int healthy;           /* last active check (1 without checks) */
};

struct gw_upstream {
	const char *name;
	struct gw_server *servers;
	size_t nservers;
	enum gateway_balance balance;
	uint64_t connect_ms, read_ms, write_ms;
	unsigned retries, max_fails;
	uint64_t open_for_ms;
	unsigned pool_idle;
	uint64_t pool_idle_ms;
	void *ssl_ctx; /* SSL_CTX *, NULL for plaintext */
	const char *identity; /* tls.identity, or NULL */
	const char *server_name;
	bool verify;
	const char *health_path;
	uint64_t health_interval_ms, health_timeout_ms;
	size_t index;
	_Atomic uint64_t rr; /* shared, atomic */
};

struct gateway {
	_Atomic int refs;
	_Atomic bool retired; /* the owner released it (gateway_free) */
	uint64_t id;
	struct bw_arena *arena;
	struct gw_route *routes;
	size_t nroutes;
	struct gw_upstream *upstreams;
	size_t nupstreams;
	struct gw_cidr *trusted;
	size_t ntrusted;
	struct gw_cidr *allow;
	size_t nallow;
	bool send_forwarded;
	bool configured;
	size_t max_response;
	struct gw_rl_table *rl;
	struct gw_ddos *ddos;
	uint8_t chal_key[GW_MAX_CHALLENGE_KEY];
	size_t chal_key_len;
	int64_t chal_ttl_s;
	enum gateway_challenge challenge;
	unsigned pow_bits;
	void *waf; /* struct waf_ruleset *, NULL: none loaded */
	uint8_t id_key[GW_MAX_IDENTITY_KEY]; /* signs X-Bulwark-Identity */
	size_t id_key_len;
	struct gateway_services svc;
	_Atomic(void *) health_owner; /* the loop running active checks */
};

/* The upstream server for an attempt, or NULL when none is usable (all
 * circuits open and no probe slot, or all unhealthy). tried: bitmask of
 * servers this request already used; *probe is set when the pick is a
 * half-open probe. */
struct gw_server *gw_upstream_pick(struct gw_upstream *u, uint64_t tried,
				   int64_t now_ms, bool *probe);
/* Passive health results of one attempt. */
void gw_server_success(struct gw_server *s, bool probe);
/* Returns true when this failure opened the circuit. */
bool gw_server_failure(struct gw_upstream *u, struct gw_server *s, bool probe,
		       int64_t now_ms);

/* Whether the owner released gw; per-thread state then lets go of it once
 * idle. gw_unref drops a non-owner reference. */
static inline bool gw_retired(struct gateway *gw)
{
	return atomic_load_explicit(&gw->retired, memory_order_acquire);
}
void gw_unref(struct gateway *gw);

/* Counters (gateway.c). */
struct gw_counters {
	_Atomic uint64_t requests, proxied, upstream_errors, retries;
	_Atomic uint64_t s502, s503, s504;
	_Atomic uint64_t rate_limited, ddos_blocked, bot_blocked, bot_challenged;
	_Atomic uint64_t waf_blocked, waf_detected;
	_Atomic uint64_t pool_reused, pool_new, circuit_opened;
	_Atomic uint64_t streamed, websockets;
	_Atomic uint64_t auth_ok, auth_failed, authz_denied;
};
extern struct gw_counters gw_stats;
#define GW_COUNT(f) atomic_fetch_add_explicit(&gw_stats.f, 1, memory_order_relaxed)

/* ---------------------------------------------------- responses */

/* A response the gateway produced itself (demo app, challenge page):
 * body and headers in arena memory. */
struct gw_local_resp {
	int status;
	const char *content_type;
	const char *body;
	size_t len;
	const char *hdr_name[4];
	const char *hdr_value[4];
	size_t nhdr;
};
/* The demo application (gateway_demo.c). */
void gw_demo_serve(struct bw_arena *a, const struct http_request *req,
		   struct bw_str body, const char *request_id,
		   struct gw_local_resp *out);

/* Proxying (gateway_proxy.c): takes over x; answers it later. extra:
 * headers to add upstream (the signed identity; arena memory), may be
 * NULL. */
struct gw_req;
void gw_proxy_start(struct gateway *gw, const struct gw_route *r,
		    struct net_exchange *x, const struct gw_client *client,
		    void *waf_tx, const struct gw_hdr *extra, size_t nextra);

/* ---------------------------------------------------- edge auth */

struct gw_auth;
/* Compiles a route's auth settings (keys from jwks_file). 0 or -1. */
int gw_auth_build(struct gateway *gw, const struct gateway_route_conf *rc,
		  struct gw_route *r, struct bw_err *err) BW_WUR;
void gw_auth_free(struct gw_auth *a); /* accepts NULL */
/* Releases edge auth's per-loop state (the JWKS fetcher of loop l). */
void gw_auth_thread_fini(struct loop *l);
/* Reads the identity key (a 0600 file of 32..256 bytes). 0 or -1. */
int gw_identity_key_load(struct gateway *gw, const char *path,
			 struct bw_err *err) BW_WUR;
/* Continues the pipeline once the request is authenticated: identity
 * headers (NULL for public routes) to send upstream. */
typedef void (*gw_auth_next_fn)(struct gateway *gw, struct gw_route *r,
				struct net_exchange *x, const struct gw_client *cl,
				const struct gw_hdr *idh, size_t nidh);
/* Authenticates x for route r: public routes call next at once; others
 * run on the services' pool and call next from x's loop, or answer x
 * themselves (401, 403, 503). */
void gw_auth_run(struct gateway *gw, struct gw_route *r, struct net_exchange *x,
		 const struct gw_client *cl, gw_auth_next_fn next);
/* The identity header value and its signature for a principal (pure;
 * for tests and for gw_auth_run). 0 or -1 when a buffer is too small. */
int gw_identity_sign(const uint8_t *key, size_t keylen,
		     const struct gateway_principal *p, const char *route,
		     const char *request_id, int64_t ts, struct bw_str method,
		     struct bw_str target, char *value, size_t vcap, char *sig,
		     size_t scap) BW_WUR;
/* Expands an authz object template ("doc:{1}") with the segments of path
 * after prefix (1-based). 0, or -1 when a named segment is missing or
 * empty, or the result does not fit. */
int gw_authz_object(const char *tmpl, struct bw_str prefix, struct bw_str path,
		    char *out, size_t cap) BW_WUR;
/* Sends an error response with a reason token (and event for 5xx). */
void gw_respond_error(struct net_exchange *x, int status, const char *reason);

/* Emit a gateway event with up to a few fields (NULL-terminated k/v). */
void gw_event(struct net_exchange *x, const struct gw_client *client,
	      const char *action, enum bw_outcome outcome, int severity,
	      const char *message, ...);

/* WAF glue (gateway_waf.c). NULL when the route's mode is off or no rules
 * are loaded. */
void *gw_waf_begin(struct gateway *gw, const struct gw_route *r,
		   struct net_exchange *x, const struct gw_client *client);
/* Runs phases 1 and 2. Returns 0 to carry on, or 1 when the exchange was
 * answered (blocked) and the tx freed. */
int gw_waf_request(struct gateway *gw, const struct gw_route *r, void *tx,
		   struct net_exchange *x, const struct gw_client *client);
/* Phases 3 and 4 on the response; returns the status to send instead (403)
 * or 0 to send it as is. */
int gw_waf_response(void *tx, const struct gw_route *r, int status,
		    const struct http_header *h, size_t nh, struct bw_str body,
		    struct net_exchange *x, const struct gw_client *client);
/* Phase 5, the audit line and events; frees tx. Accepts NULL. */
void gw_waf_end(void *tx, struct net_exchange *x, const struct gw_client *client);
int gw_waf_load(struct gateway *gw, const struct gateway_conf *c,
		struct bw_err *err) BW_WUR;
void gw_waf_free(struct gateway *gw);

#endif
