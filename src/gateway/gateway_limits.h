/*
 * gateway_limits.h — the named bounds of the gateway: each default
 * (GW_DEF_*) and the hard maximum config may not exceed (GW_MAX_*), with
 * the reason for each number. gateway_conf.c enforces the maxima at bind
 * time; the runtime enforces the configured values.
 */
#ifndef BW_GATEWAY_LIMITS_H
#define BW_GATEWAY_LIMITS_H

/* Routes: route selection is a linear scan (a few hundred ns per hundred
 * routes); 1024 is far past any hand-written config and bounds the scan. */
#define GW_MAX_ROUTES 1024

/* Upstream pools per config: one per application behind the gateway. */
#define GW_MAX_UPSTREAMS 256

/* Servers in one pool: the tried-servers bitmask of a request is 64 bits
 * and round-robin over more than 64 members is a load balancer's job. */
#define GW_MAX_SERVERS 64

/* Host patterns and methods per route: enough for a real vhost list. */
#define GW_MAX_ROUTE_HOSTS 32
#define GW_MAX_ROUTE_METHODS 16

/* Rate limits per route: ip, route, api key and one spare. */
#define GW_MAX_ROUTE_LIMITS 4

/* Trusted-proxy and allowlist CIDRs: a CDN's published ranges fit in 256
 * entries; matching is a linear scan. */
#define GW_MAX_CIDRS 256

/* A host pattern or a server address: a DNS name is at most 253 bytes,
 * plus ":port" and brackets. */
#define GW_MAX_HOST_LEN 270

/* Route path prefix bytes: a prefix longer than the default URI limit
 * could never match. */
#define GW_MAX_PREFIX_LEN 8000

/* Buffered upstream response body: net_respond takes a whole body (see
 * GATEWAY.md, streaming); 8 MiB covers pages and API answers, 64 MiB is
 * net's own output ceiling (NET_MAX_RESPONSE). */
#define GW_DEF_MAX_RESPONSE (8u * 1024 * 1024)
#define GW_MAX_MAX_RESPONSE (64u * 1024 * 1024)

/* Upstream response head: the same 32 KiB nginx's proxy_buffer for headers
 * holds in practice; 1 MiB is the codec's hard maximum. */
#define GW_DEF_RESP_HEADER_BYTES 32768
#define GW_MAX_RESP_HEADERS 200

/* Outgoing request head built for the upstream: the client's head (bounded
 * by http.max_header_bytes, hard 1 MiB) plus the forwarding headers. */
#define GW_MAX_REQ_HEAD (1024u * 1024 + 16384)

/* Incoming X-Forwarded-For / Forwarded chains we look at: a chain of more
 * than 32 proxies is either a loop or an attack on the parser. */
#define GW_MAX_FORWARD_HOPS 32

/* Outgoing X-Forwarded-For / Forwarded value: hops above times an address. */
#define GW_MAX_FORWARD_VALUE 4096

/* Timeouts towards upstreams (ms): nginx's proxy defaults are 60 s; a
 * connect should take a round trip, so 5 s is generous. An hour is the
 * hard bound for any of them. */
#define GW_DEF_CONNECT_TIMEOUT "5s"
#define GW_DEF_READ_TIMEOUT "60s"
#define GW_DEF_WRITE_TIMEOUT "60s"
#define GW_MAX_TIMEOUT_MS (3600u * 1000)

/* Retries of idempotent requests on another server: each retry costs a
 * full timeout in the worst case, so more than 8 only prolongs failure. */
#define GW_DEF_RETRIES "1"
#define GW_MAX_RETRIES 8

/* Idle keep-alive connections kept per upstream server and thread: 32
 * covers a busy thread's concurrency; 1024 bounds fds held idle. */
#define GW_DEF_POOL_IDLE "32"
#define GW_MAX_POOL_IDLE 1024
#define GW_DEF_POOL_IDLE_TIMEOUT "60s"
/* A pooled connection idle longer than this is checked for a close before
 * reuse (one recv(MSG_PEEK)); upstream keep-alive timeouts are seconds
 * (nginx 75 s, Apache 5 s), so a connection used within the last second
 * is not worth the syscall. */
#define GW_POOL_PEEK_AFTER_MS 1000

/* Passive health: consecutive failures before the circuit opens, and how
 * long it stays open before a half-open probe. */
#define GW_DEF_MAX_FAILS "3"
#define GW_MAX_MAX_FAILS 1000
#define GW_DEF_OPEN_FOR "10s"

/* Active health checks: probe interval bounds (a probe more often than
 * every 100 ms is load, not a check). */
#define GW_MIN_HEALTH_INTERVAL_MS 100
#define GW_DEF_HEALTH_INTERVAL "5s"
#define GW_DEF_HEALTH_TIMEOUT "2s"

/* Rate-limit table: entries across all shards. An entry is ~96 bytes, so
 * the default 64 Ki entries is 6 MiB; 4 Mi entries (400 MiB) is the hard
 * ceiling. Full shards evict the entry nearest to refilled. */
#define GW_RL_SHARDS 64
#define GW_DEF_RL_ENTRIES "65536"
#define GW_MAX_RL_ENTRIES (4u * 1024 * 1024)
/* Bytes of a rate-limit key (API key header value or client IP): longer
 * API keys are hashed to this many bytes with the key's length. */
#define GW_RL_KEY_MAX 64
/* Requests per period: at most 1e9 per second resolves to 1 ns. */
#define GW_MAX_RATE 1000000000ull
#define GW_MAX_BURST 1000000u

/* L7 DDoS: anomaly window, defaults for the per-IP and per-route floors
 * (below which nothing is an anomaly), the EWMA factor and block time. */
#define GW_DEF_DDOS_WINDOW "1s"
#define GW_DEF_DDOS_IP_MIN "200"
#define GW_DEF_DDOS_ROUTE_MIN "2000"
#define GW_DEF_DDOS_FACTOR "10"
#define GW_DEF_DDOS_BLOCK_FOR "60s"
#define GW_MAX_DDOS_BLOCK_MS (24u * 3600 * 1000)
/* Connections per client IP (0 = off): a browser opens 6 to 8 per host,
 * so 64 leaves room for NAT; 100000 is net's connection ceiling. */
#define GW_DEF_CONNS_PER_IP "0"
#define GW_MAX_CONNS_PER_IP 100000

/* Bot challenge: cookie lifetime, key length and proof-of-work difficulty
 * (20 leading zero bits is about a second of browser JavaScript). */
#define GW_DEF_CHALLENGE_TTL "1h"
#define GW_MIN_CHALLENGE_KEY 32
#define GW_MAX_CHALLENGE_KEY 256
#define GW_DEF_POW_BITS "16"
#define GW_MAX_POW_BITS 24
/* Challenge cookie value: base64url of the fixed token layout. */
#define GW_CHALLENGE_COOKIE_MAX 128

/* WAF rule files listed in config. */
#define GW_MAX_WAF_FILES 64

/* Streaming: bytes queued towards one side (client or upstream) before
 * the gateway stops reading the other. 256 KiB keeps a 1 Gbit/s path at
 * 2 ms of buffering per exchange while bounding memory under many slow
 * readers. */
#define GW_STREAM_HIGH (256u * 1024)

/* Request bodies of a known length up to this are read whole before
 * proxying (one write upstream, retries stay possible); larger or
 * unknown-length ones stream. 64 KiB is what the proxy already sends
 * with the head in one write. */
#define GW_STREAM_MIN_BODY (64u * 1024)

/* A streamed response is not buffered, so max_response does not bound
 * it; this only keeps the decoder's counter finite. */
#define GW_STREAM_MAX_BODY (1ull << 62)

/* Edge authentication. A bulwark tenant's JWKS is re-read after this long
 * (keys rotate with an overlap far longer). */
#define GW_DEF_JWKS_CACHE "60s"
/* An issuer's JWKS URL is fetched again at most this often when a token
 * names an unknown kid (a flood of made-up kids must not become a flood
 * of fetches). */
#define GW_JWKS_MIN_REFETCH_MS 30000
/* JWKS files and documents: a key set of 64 RSA-4096 keys is about 50 KB. */
#define GW_MAX_JWKS_BYTES (256u * 1024)
/* Bearer tokens (sessions, API keys, JWTs): 8 KiB is the common header
 * line bound and far above any token bulwark issues. */
#define GW_MAX_TOKEN 8192
/* An authorization object template and the object it expands to. */
#define GW_MAX_AUTHZ_OBJECT 256
/* The identity key: HMAC-SHA256 wants >= 32 bytes; more adds nothing. */
#define GW_MIN_IDENTITY_KEY 32
#define GW_MAX_IDENTITY_KEY 256
/* The identity header value (sub, tenant, name, scopes, issuer, ids). */
#define GW_MAX_IDENTITY_HEADER 2048

/* WebSocket tunnels: closed after this long without a byte either way
 * (clients ping well within it; nginx's default is 60 s, which cuts
 * quiet chats). */
#define GW_DEF_WS_IDLE "300s"

/* Bot heuristics: reasons recorded per decision. */
#define GW_BOT_MAX_REASONS 8

#endif
