/*
 * http — bulwark's strict HTTP/1.1 codec (RFC 9112 message syntax, RFC 9110
 * semantics) for the HTTPS gateway, the admin listener and the reverse proxy
 * side that talks to upstreams. A pure library: no sockets, no event loop,
 * no allocation while parsing. The caller owns every buffer.
 *
 * Pieces:
 *  - request-head parser  (http_req_parser_*)  → struct http_request
 *  - response-head parser (http_resp_parser_*) → struct http_response
 *  - body decoder for Content-Length, chunked and close-delimited bodies,
 *    trailers included (http_body_*)
 *  - writers for status lines, headers, chunks, canned error responses
 *    (http_write_*)
 *  - helpers: header lookup, comma-list iteration, reason phrases, limits.
 *
 * Invariants kept here:
 *  - Parsers are explicit state machines: any split of the same bytes into
 *    successive feeds gives the same result (same status, same reason,
 *    same parsed fields, same number of bytes consumed).
 *  - A security gateway rejects rather than guesses: every ambiguity that
 *    has ever been used for request smuggling (CL+TE, duplicate CL, odd TE,
 *    bare CR/LF, obs-fold, space before colon...) is an error with a stable
 *    reason token, documented in docs/internals/HTTP1.md.
 *  - Every struct bw_str the parsers return points into the caller's buffer
 *    (or at a static literal where documented) and is valid while the caller
 *    keeps those bytes in place.
 *  - Every input size is bounded by struct http_limits, itself bounded by
 *    the hard maxima in http_limits.h.
 */
#ifndef BW_HTTP_H
#define BW_HTTP_H

#include "core/core.h"

/* ------------------------------------------------------------ results */

/* What a parser or decoder call produced. */
enum http_rc {
	HTTP_ERROR = -1,    /* err filled: err->code is the HTTP status to
			       answer with, err->reason the stable token */
	HTTP_NEED_MORE = 0, /* feed more bytes */
	HTTP_DONE = 1,      /* head complete / body complete */
	HTTP_DATA = 2,      /* http_body_feed: a span of body bytes */
};

/* ------------------------------------------------------------- limits */

/*
 * Per-listener limits. Fill with http_limits_default(), let config adjust,
 * then check with http_limits_check(). Parsers keep a pointer to it: it
 * must outlive them (it normally belongs to the config generation).
 */
struct http_limits {
	size_t max_request_line;  /* request/status line incl. CRLF; 414 */
	size_t max_uri;           /* request-target bytes; 414 */
	size_t max_header_line;   /* one field line incl. CRLF; 431 */
	size_t max_header_bytes;  /* whole head incl. start line; 431 */
	size_t max_headers;       /* field lines in a head; 431 */
	uint64_t max_body;        /* decoded request body bytes; 413 */
	size_t max_chunk_ext;     /* chunk-ext bytes of one chunk line; 400 */
	size_t max_trailer_bytes; /* whole trailer section; 431 */
	size_t max_trailers;      /* trailer field lines; 431 */
	size_t max_leading_crlf;  /* empty lines ignored before a request */
	bool allow_bare_lf;       /* accept LF alone as a line terminator */
};

/* Fill l with the defaults from http_limits.h. */
void http_limits_default(struct http_limits *l);

/*
 * Check l against the hard maxima (and sanity minima) in http_limits.h.
 * Config calls this before a new generation is accepted.
 * Returns 0, or -1 with err (code 400, reason "limit_out_of_range", msg
 * naming the field).
 */
int http_limits_check(const struct http_limits *l, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ headers */

/* One field line. name and value point into the caller's buffer; value has
 * leading and trailing OWS removed. Names keep the case they arrived in. */
struct http_header {
	struct bw_str name;
	struct bw_str value;
};

/* First header named `name` (ASCII case-insensitive), or NULL. */
const struct http_header *http_header_find(const struct http_header *h,
					   size_t n, const char *name);

/*
 * Iterate repeated headers: returns the next header named `name` after
 * `prev` (NULL to start), or NULL when there is none.
 *   for (x = NULL; (x = http_header_next(h, n, "via", x)) != NULL;) ...
 */
const struct http_header *http_header_next(const struct http_header *h,
					   size_t n, const char *name,
					   const struct http_header *prev);

/*
 * Comma-separated list iteration (RFC 9110 §5.6.1). *list is the rest of
 * the field value; each call stores the next non-empty element (OWS
 * trimmed; commas inside quoted-strings do not split) in *elem, advances
 * *list, and returns true; false when the list is exhausted.
 */
bool http_list_next(struct bw_str *list, struct bw_str *elem);

/* Whether any element of list `value`, up to an optional ";param" part,
 * equals `token` (ASCII case-insensitive). */
bool http_list_has_token(struct bw_str value, const char *token);

/* Whether s is a non-empty RFC 9110 token (tchar only). */
bool http_is_token(struct bw_str s);

/* ------------------------------------------------------------ methods */

enum http_method {
	HTTP_METHOD_OTHER = 0, /* a valid token we have no enum for */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_CONNECT,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_TRACE,
	HTTP_METHOD_PATCH,
};

/* Canonical upper-case name, "" for HTTP_METHOD_OTHER. */
const char *http_method_name(enum http_method m);
/* Methods are case-sensitive: only exact upper-case names match. */
enum http_method http_method_from_str(struct bw_str s);

/* ----------------------------------------------------- request parsing */

enum http_target_form {
	HTTP_TARGET_ORIGIN,    /* "/path?query" */
	HTTP_TARGET_ABSOLUTE,  /* "http://host:port/path?query" (proxies) */
	HTTP_TARGET_AUTHORITY, /* "host:port", CONNECT only */
	HTTP_TARGET_ASTERISK,  /* "*", OPTIONS only */
};

/* How the body that follows a head is delimited. */
enum http_framing {
	HTTP_FRAMING_NONE,    /* no body */
	HTTP_FRAMING_LENGTH,  /* Content-Length bytes (may be 0) */
	HTTP_FRAMING_CHUNKED, /* chunked transfer coding */
	HTTP_FRAMING_CLOSE,   /* responses only: until the peer closes */
	HTTP_FRAMING_TUNNEL,  /* responses only: 2xx to CONNECT or 101; raw
				 bytes in both directions from here on */
};

struct http_request {
	enum http_method method;
	struct bw_str method_str; /* as received (a token) */

	enum http_target_form form;
	struct bw_str target;    /* raw request-target */
	struct bw_str scheme;    /* absolute-form only: "http" / "https" */
	struct bw_str authority; /* absolute- and authority-form */
	struct bw_str path;      /* origin/absolute-form; absolute-form with an
				    empty path gets the static literal "/";
				    empty for authority/asterisk-form */
	struct bw_str query;     /* after '?', without it; see has_query */
	bool has_query;

	uint8_t version_minor; /* HTTP/1.<minor>: 0 or 1 */

	struct http_header *headers; /* the caller's array */
	size_t nheaders;

	/* Host: the Host field value (the target authority for absolute- and
	 * authority-form, which RFC 9112 §3.2.2 says wins). host_name is the
	 * host part (IP-literal keeps its brackets), port is 0 when absent.
	 * host.len == 0 means an empty Host (HTTP/1.0 may omit it). */
	struct bw_str host;
	struct bw_str host_name;
	uint16_t port;

	enum http_framing framing; /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;   /* valid when framing == LENGTH */
	bool keep_alive;           /* HTTP/1.0/1.1 default + Connection */
	bool expect_continue;      /* Expect: 100-continue (HTTP/1.1 only) */
	bool upgrade;              /* Connection: upgrade and Upgrade: present */
	bool websocket;            /* upgrade, and Upgrade lists "websocket" */

	size_t head_len; /* bytes of the head incl. ignored leading CRLFs:
			    the body (or the next pipelined request) starts
			    at buf + head_len */
};

/* Private scanner state for field lines, shared by heads and trailers.
 * Callers never touch it; it is here so parsers can be embedded. */
struct http_fieldscan {
	struct http_header *hdrs;
	size_t cap;          /* usable entries of hdrs (min of array, limit) */
	size_t n;            /* completed field lines */
	size_t start;        /* offset where the field section began */
	size_t line_start;   /* offset of the current line */
	size_t name_len;     /* length of the current field name */
	size_t value_start;  /* offset of the current value */
	size_t max_line;
	size_t max_total;    /* bytes from `start` to the final CRLF */
	int status_line_big; /* status for a too-long field line */
	int status_total;    /* status for a too-large section / count */
	uint8_t state;
	bool allow_bare_lf;
};

struct http_req_parser {
	const struct http_limits *lim;
	struct http_fieldscan fs;
	uintptr_t base; /* address of buf at the last feed, for rebasing */
	size_t pos;     /* next unread offset */
	size_t line_start, method_end, target_start, target_end, version_start;
	size_t empty_lines;
	uint8_t version_minor;
	uint8_t state;
	int err_status;         /* sticky error */
	const char *err_reason; /* static token */
};

/*
 * Prepare p for one request head. lim is borrowed (must outlive p). hdrs is
 * the caller's array of cap entries; at most min(cap, lim->max_headers)
 * field lines are accepted, more gives 431 "too_many_headers".
 * Re-init before each request (after DONE, the caller slides its buffer by
 * head_len plus the body, then calls init again).
 */
void http_req_parser_init(struct http_req_parser *p,
			  const struct http_limits *lim,
			  struct http_header *hdrs, size_t cap);

/*
 * Feed the request head received so far. buf[0..len) is everything the
 * caller holds for this request, from its first byte; each call passes the
 * same bytes plus any newly read ones (the buffer may have moved in
 * between: stored pointers are rebased). Bytes already fed must not
 * change.
 *
 * Returns HTTP_NEED_MORE (read more, call again), HTTP_DONE (req filled;
 * req->head_len bytes are the head; anything after it belongs to the body
 * or the next pipelined request), or HTTP_ERROR with err->code the status
 * to answer (400, 413, 414, 417, 431, 501, 505) and err->reason the token.
 * Errors are sticky: later calls return the same error. After an error the
 * connection must be closed (answer with http_write_error()).
 */
enum http_rc http_req_parser_feed(struct http_req_parser *p, const char *buf,
				  size_t len, struct http_request *req,
				  struct bw_err *err) BW_WUR;

/* ---------------------------------------------------- response parsing */

struct http_response {
	uint8_t version_minor;
	int status;           /* 100..599 */
	struct bw_str reason; /* reason-phrase, may be empty */

	struct http_header *headers;
	size_t nheaders;

	enum http_framing framing;
	uint64_t content_length; /* valid when framing == LENGTH */
	bool keep_alive;         /* connection reusable after this response */
	bool upgrade;            /* 101 Switching Protocols */
	size_t head_len;
};

struct http_resp_parser {
	const struct http_limits *lim;
	struct http_fieldscan fs;
	uintptr_t base;
	size_t pos;
	size_t reason_start, reason_end;
	enum http_method req_method;
	int status;
	uint8_t version_minor;
	uint8_t state;
	int err_status;
	const char *err_reason;
};

/*
 * Prepare p for one response head from an upstream. req_method is the
 * method of the request this answers: HEAD responses and 2xx responses to
 * CONNECT have no body. lim and hdrs as for http_req_parser_init. A 1xx
 * response (other than 101) is a complete head with framing NONE: the
 * caller re-inits and parses the final response after it.
 */
void http_resp_parser_init(struct http_resp_parser *p,
			   const struct http_limits *lim,
			   struct http_header *hdrs, size_t cap,
			   enum http_method req_method);

/*
 * Same contract as http_req_parser_feed. Every error has err->code 502
 * (the upstream is at fault; the gateway answers its client with 502);
 * reason tokens are the request parser's plus the status-line ones.
 */
enum http_rc http_resp_parser_feed(struct http_resp_parser *p,
				   const char *buf, size_t len,
				   struct http_response *resp,
				   struct bw_err *err) BW_WUR;

/* ------------------------------------------------------- body decoding */

#define HTTP_BODY_RESPONSE 0x1u /* errors are 502 (upstream's fault) */

struct http_body {
	const struct http_limits *lim;
	uint64_t remaining; /* LENGTH: bytes left; CHUNKED: left in chunk */
	uint64_t total;     /* decoded bytes so far */
	uint64_t max;       /* decoded bytes allowed */
	size_t ext_len;
	size_t size_digits;
	struct http_fieldscan fs; /* trailers */
	size_t tpos;              /* trailer scan offset */
	uint8_t framing;
	uint8_t state;
	unsigned flags;
	uintptr_t base;
	int err_status;
	const char *err_reason;
};

/*
 * Prepare b to decode one body framed as `framing` (from the parsed head),
 * content_length for HTTP_FRAMING_LENGTH. max_body bounds the decoded size
 * (413 "body_too_large"; pass lim->max_body for requests). trailers is the
 * caller's array for trailer fields of a chunked body (may be NULL with
 * cap 0: then any trailer field is 431 "too_many_trailers"). lim borrowed.
 */
void http_body_init(struct http_body *b, const struct http_limits *lim,
		    enum http_framing framing, uint64_t content_length,
		    uint64_t max_body, struct http_header *trailers, size_t cap,
		    unsigned flags);

/*
 * Decode from buf[0..len), the bytes after what earlier calls consumed.
 * Sets *consumed (bytes the caller drops before the next call) and *data.
 *  HTTP_DATA:      *data is a span of decoded body bytes inside buf (zero
 *                  copy; may be empty when only framing was consumed);
 *                  drop *consumed bytes and call again with the rest.
 *  HTTP_NEED_MORE: nothing more can be decoded without more bytes.
 *  HTTP_DONE:      the body (and trailers) ended; *consumed covers it, what
 *                  follows is the next message. Trailers are in the array
 *                  given to init (http_body_trailers()), pointing into buf.
 *  HTTP_ERROR:     err->code 400/413/431 (502 with HTTP_BODY_RESPONSE).
 * A chunked body's trailer section is consumed only once complete, so the
 * caller keeps those bytes until DONE. Close-delimited bodies and tunnels
 * never return DONE here; see http_body_eof().
 */
enum http_rc http_body_feed(struct http_body *b, const char *buf, size_t len,
			    size_t *consumed, struct bw_str *data,
			    struct bw_err *err) BW_WUR;

/*
 * Decode all of buf[0..len) into out (bounded: overflow is 413
 * "body_too_large"). *consumed as above. Returns HTTP_NEED_MORE, HTTP_DONE
 * or HTTP_ERROR.
 */
enum http_rc http_body_feed_buf(struct http_body *b, const char *buf,
				size_t len, size_t *consumed,
				struct bw_buf *out, struct bw_err *err) BW_WUR;

/*
 * The peer closed the connection. Returns 0 if that ends the body cleanly
 * (close-delimited, or already DONE), else -1 with err reason
 * "truncated_body".
 */
int http_body_eof(struct http_body *b, struct bw_err *err) BW_WUR;

/* Trailer fields of a finished chunked body (count in *n). */
const struct http_header *http_body_trailers(const struct http_body *b,
					     size_t *n);

/* ------------------------------------------------------------ writing */

/*
 * Writers append to a bounded struct bw_buf. Each returns 0, or -1 and
 * leaves out exactly as it was (no partial line) when the buffer's ceiling
 * would be passed or the input is invalid.
 */

/* Reason phrase of a status code ("Not Found"), "Unknown" if unlisted. */
const char *http_reason_phrase(int status);

/* "HTTP/1.1 <status> <reason>\r\n"; status must be 100..599. */
int http_write_status_line(struct bw_buf *out, int status) BW_WUR;

/* "<METHOD> <target> HTTP/1.1\r\n" for requests to upstreams; method must
 * be a token, target free of SP, CTL, '#' and non-ASCII. err says why. */
int http_write_request_line(struct bw_buf *out, struct bw_str method,
			    struct bw_str target, struct bw_err *err) BW_WUR;

/* "<name>: <value>\r\n". Rejects (err reason "bad_header_name" /
 * "bad_header_value") names that are not tokens and values with CR, LF,
 * NUL or other CTLs, so no header injection can pass through here. */
int http_write_header(struct bw_buf *out, struct bw_str name,
		      struct bw_str value, struct bw_err *err) BW_WUR;
int http_write_header_lit(struct bw_buf *out, const char *name,
			  const char *value) BW_WUR;
/* "Content-Length: <n>\r\n" */
int http_write_content_length(struct bw_buf *out, uint64_t n) BW_WUR;
/* "Date: <IMF-fixdate>\r\n" for epoch seconds (RFC 9110 §5.6.7). */
int http_write_date(struct bw_buf *out, int64_t epoch_s) BW_WUR;
/* The empty line ending a head. */
int http_write_head_end(struct bw_buf *out) BW_WUR;
/* One chunk "<hex>\r\n<data>\r\n"; len 0 writes nothing (a zero chunk would
 * end the body: use http_write_last_chunk). */
int http_write_chunk(struct bw_buf *out, const void *data, size_t len) BW_WUR;
/* "0\r\n" + trailers (validated as by http_write_header) + "\r\n". */
int http_write_last_chunk(struct bw_buf *out, const struct http_header *tr,
			  size_t n) BW_WUR;
/* "HTTP/1.1 100 Continue\r\n\r\n" */
int http_write_continue(struct bw_buf *out) BW_WUR;

/*
 * A complete canned error response: status line, Date (from bw_clock),
 * Content-Type: text/plain, Content-Length, Cache-Control: no-store,
 * X-Content-Type-Options: nosniff, Connection: close, and a one-line body
 * "<status> <phrase>" plus "(<reason>)" when reason is a [a-z0-9_] token
 * (anything else is left out, never echoed). head_only omits the body (a
 * HEAD request) but keeps Content-Length.
 */
int http_write_error(struct bw_buf *out, int status, const char *reason,
		     bool head_only) BW_WUR;

#endif
