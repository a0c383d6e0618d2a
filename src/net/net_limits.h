/*
 * Limits of the network edge that are not HTTP message limits (those are in
 * http/http_limits.h). Defaults, and hard maxima that config may not pass.
 */
#ifndef BW_NET_LIMITS_H
#define BW_NET_LIMITS_H

/* Connections per worker thread: 10,000 idle keep-alive connections per
 * thread is a measured target; past 100,000 fds the per-process limit and
 * memory (about 1 KB each with buffers) become the real bound. */
#define NET_MAX_CONNS_DEFAULT 16384
#define NET_MAX_CONNS_HARD 100000

/* Timeouts. The header timeout is short and counted from the first byte
 * so a slowloris client dribbling one byte per second is cut; the body
 * timeout bounds a slow upload; idle is the keep-alive wait. */
#define NET_HEADER_TIMEOUT_MS_DEFAULT 10000
#define NET_BODY_TIMEOUT_MS_DEFAULT 30000
#define NET_IDLE_TIMEOUT_MS_DEFAULT 60000
#define NET_WRITE_TIMEOUT_MS_DEFAULT 30000
#define NET_TIMEOUT_MS_HARD (3600 * 1000)

/* Bytes read per read call: a 16 KiB read matches a TLS record, so one
 * SSL_read fills it. */
#define NET_READ_CHUNK 16384

/* Response bodies handed to net_respond are copied into the output buffer;
 * 64 MiB is far above anything the admin API returns and bounds a bug. */
#define NET_MAX_RESPONSE 67108864

/* Listen backlog. */
#define NET_BACKLOG 511

/* Distinct rejection reasons tracked for /metrics. */
#define NET_MAX_REASONS 64

#endif
