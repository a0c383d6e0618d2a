/*
 * http_limits.h — the named bounds of the HTTP/1.1 codec: each default
 * (HTTP_DEF_*) and the hard maximum config may not exceed (HTTP_MAX_*),
 * with the reason for each number. http_limits_check() enforces the
 * maxima; the parsers enforce the configured values.
 */
#ifndef BW_HTTP_LIMITS_H
#define BW_HTTP_LIMITS_H

/* Request line: nginx and Apache default to 8 KiB, which every real client
 * fits in; 64 KiB is far past any legitimate use. */
#define HTTP_DEF_REQUEST_LINE 8192
#define HTTP_MAX_REQUEST_LINE 65536

/* Request-target: RFC 9110 §4.1 asks recipients to support at least 8000
 * octets; longer URIs are almost always attacks or runaway redirects. */
#define HTTP_DEF_URI 8000
#define HTTP_MAX_URI 65536

/* One field line: big cookies and JWT bearer tokens fit in 8 KiB; 64 KiB
 * bounds the damage of a single line. */
#define HTTP_DEF_HEADER_LINE 8192
#define HTTP_MAX_HEADER_LINE 65536

/* Whole head: nginx's large_client_header_buffers default (4 x 8k); 1 MiB
 * caps the per-connection buffer an attacker can make us hold. */
#define HTTP_DEF_HEADER_BYTES 32768
#define HTTP_MAX_HEADER_BYTES (1024 * 1024)

/* Field lines: Apache's LimitRequestFields default is 100; each costs a
 * 32-byte slot in the caller's array, so 1024 is the ceiling. */
#define HTTP_DEF_HEADERS 100
#define HTTP_MAX_HEADERS 1024

/* Request body: nginx's client_max_body_size default is 1 MiB; uploads that
 * need more are configured per route, up to 64 GiB. */
#define HTTP_DEF_BODY (1024ULL * 1024)
#define HTTP_MAX_BODY (64ULL * 1024 * 1024 * 1024)

/* Chunk extensions carry no meaning we use; 256 bytes is generous for the
 * few that exist, and they are pure overhead per chunk. */
#define HTTP_DEF_CHUNK_EXT 256
#define HTTP_MAX_CHUNK_EXT 4096

/* Trailer section: trailers are rare (gRPC status, digests); 4 KiB holds
 * them and 64 KiB matches the field-line ceiling. */
#define HTTP_DEF_TRAILER_BYTES 4096
#define HTTP_MAX_TRAILER_BYTES 65536

/* Trailer field lines: a handful is normal; 256 bounds the array. */
#define HTTP_DEF_TRAILERS 16
#define HTTP_MAX_TRAILERS 256

/* Empty lines before a request line: RFC 9112 §2.2 says ignore at least
 * one (old clients add CRLF after a POST body); more is never legitimate. */
#define HTTP_DEF_LEADING_CRLF 1
#define HTTP_MAX_LEADING_CRLF 8

/* Fixed, not configurable: the longest method token accepted (the longest
 * registered method name is 17 bytes; longer is 501 "method_too_long"). */
#define HTTP_METHOD_MAX_LEN 32

/* Sanity minima http_limits_check() requires so a config typo cannot make
 * every request fail: "GET / HTTP/1.1\r\n" is 16 bytes, a Host line 64. */
#define HTTP_MIN_REQUEST_LINE 64
#define HTTP_MIN_URI 16
#define HTTP_MIN_HEADER_LINE 64
#define HTTP_MIN_HEADER_BYTES 256
#define HTTP_MIN_HEADERS 8

#endif
