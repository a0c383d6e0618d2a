/*
 * net — bulwark's network edge: listening sockets, TLS server contexts
 * (OpenSSL 3), the first-start local CA, and the HTTP/1.1 server that
 * drives the http codec on a worker thread's event loop.
 *
 * Threading: a struct net_thread belongs to one worker thread and its loop;
 * every connection stays on the thread that accepted it. A struct
 * net_http_server is immutable once built and shared by all threads; it
 * is reference-counted so that, after a reload, connections that started
 * on the old generation finish on it while new ones use the new one.
 *
 * Memory: an idle keep-alive connection holds only its struct net_conn
 * (and, with TLS, OpenSSL's SSL object with its buffers released): input
 * and output buffers are freed whenever they are empty.
 */
#ifndef BW_NET_H
#define BW_NET_H

#include "core/core.h"
#include "http/http.h"
#include "loop/loop.h"

/* ------------------------------------------------------------------ TLS */

/* Certificates and keys arrive as PEM text in memory: the supervisor reads
 * the files (which may be root-only) and hands their content to the
 * unprivileged worker, which never opens a key file itself. */
struct net_tls_cert {
	const char *name;     /* for messages: the certificate's file name */
	struct bw_str cert_pem; /* PEM chain, leaf first */
	struct bw_str key_pem;  /* PEM private key (wiped by its owner) */
};

/* Where net_selfca_ensure keeps the local server certificate. */
struct net_selfca_paths {
	char cert_file[512];
	char key_file[512];
	char ca_file[512];
};

enum net_client_cert {
	NET_CLIENT_CERT_NONE,
	NET_CLIENT_CERT_OPTIONAL,
	NET_CLIENT_CERT_REQUIRE,
};

struct net_tls_config {
	const struct net_tls_cert *certs; /* [0] is the default (no SNI match) */
	size_t ncerts;
	bool allow_tls12;     /* TLS 1.3 only unless set (then AEAD suites) */
	bool session_tickets; /* stateless tickets with rotating keys */
	/* Keep the SSL object of idle HTTP/1.1 TLS 1.3 connections instead
	 * of parking them under net_tlsrec (the default parks them). */
	bool keep_idle_ssl;
	int64_t ticket_rotate_s;
	const char *alpn;           /* "http/1.1" or "h2,http/1.1"; NULL: none */
	struct bw_str client_ca_pem; /* PEM bundle; enables client certificates */
	enum net_client_cert client_cert;
};

struct net_tls;
/* Builds the contexts (loads and checks every certificate and key).
 * Returns NULL with err on any failure. */
struct net_tls *net_tls_new(const struct net_tls_config *cfg,
			    struct bw_err *err) BW_WUR;
void net_tls_free(struct net_tls *t); /* accepts NULL */
/* Whether idle connections under t may be parked (see keep_idle_ssl). */
bool net_tls_parking(const struct net_tls *t);

/*
 * Hot swap: builds a context for certificate c (borrowed; checked: the key
 * must match) with the same settings as the others and makes it slot's
 * context for new handshakes. Handshakes and connections already using the
 * old one keep it until they end; its staple is dropped. Safe from any
 * thread while the server runs. Returns 0, or -1 with err (the running
 * certificate stays).
 */
int net_tls_set_cert(struct net_tls *t, size_t slot, const struct net_tls_cert *c,
		     struct bw_err *err) BW_WUR;
/* Sets (len > 0, copied) or clears (len 0) the DER OCSP response stapled
 * for slot's certificate when a client sends status_request. Any thread.
 * Returns 0 or -1 with err. */
int net_tls_set_ocsp(struct net_tls *t, size_t slot, const void *der, size_t len,
		     struct bw_err *err) BW_WUR;
/* How many certificate slots t has (slot 0 is the default). */
size_t net_tls_slots(const struct net_tls *t);
/* OUT: slot's leaf certificate and extra chain certificates, each with a
 * reference the caller drops (X509_free, sk_X509_pop_free). 0 or -1. */
struct x509_st;
struct stack_st_X509;
int net_tls_get_chain(struct net_tls *t, size_t slot, struct x509_st **leaf,
		      struct stack_st_X509 **chain) BW_WUR;

/*
 * Makes sure DIR/tls holds a local CA and a localhost server certificate,
 * creating them on first use (ECDSA P-256). OUT: *out (may be NULL) names
 * the files. Returns 0 or -1 with err.
 */
int net_selfca_ensure(const char *dir, struct net_selfca_paths *out,
		      struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ listening */

/*
 * A non-blocking TCP listening socket on addr:port (IPv4 or IPv6 literal;
 * port 0 picks a free port). With reuseport several sockets can bind the
 * same address, one per worker thread, and the kernel spreads connections.
 * Returns the fd or -1 with err.
 */
int net_listen_tcp(const char *addr, uint16_t port, bool reuseport,
		   int backlog, struct bw_err *err) BW_WUR;
/* The local port a socket is bound to, or -1. */
int net_socket_port(int fd);

/* --------------------------------------------------------- HTTP server */

struct net_exchange;
typedef void (*net_handler_fn)(struct net_exchange *x, void *arg);

struct net_http_options {
	const char *name;         /* listener name for logs and metrics */
	struct http_limits limits;
	uint64_t header_timeout_ms; /* first byte of a request to end of head */
	uint64_t body_timeout_ms;   /* end of head to end of body */
	uint64_t idle_timeout_ms;   /* keep-alive wait for the next request */
	uint64_t write_timeout_ms;  /* without any write progress */
	size_t max_conns;           /* per thread; more are refused at accept */
	struct net_tls *tls;        /* owned by the server once built; NULL:
				       plaintext */
	net_handler_fn handler;
	void *handler_arg;
	/* Called with handler_arg when the server's last reference goes (the
	 * last connection of a retired generation closed); NULL: nothing. */
	void (*handler_arg_release)(void *arg);
	bool access_events;         /* emit one event per request */
	/* Call the handler at the end of the request head, before any body
	 * is read; the handler then chooses net_request_body_buffer or
	 * net_request_body_stream (see "Streaming" below). Off: the handler
	 * always sees the complete body. */
	bool dispatch_at_head;
};

struct net_http_server;
/* Takes ownership of opts->tls. Returns NULL with err. */
struct net_http_server *net_http_server_new(const struct net_http_options *opts,
					    struct bw_err *err) BW_WUR;
void net_http_server_ref(struct net_http_server *s);
void net_http_server_unref(struct net_http_server *s); /* accepts NULL */

/* Per-thread network state. */
struct net_thread;
struct net_thread *net_thread_new(struct loop *l, struct bw_err *err) BW_WUR;
/* Closes every connection and listener at once. */
void net_thread_free(struct net_thread *t);

/*
 * Starts accepting on listening socket fd (the thread takes ownership of
 * fd) with server s (a reference is taken). name identifies the listener
 * across reloads.
 */
int net_thread_listen(struct net_thread *t, const char *name, int fd,
		      struct net_http_server *s, struct bw_err *err) BW_WUR;
/* Points listener `name` at a new server generation; connections already
 * open keep the generation they started with. -1 if no such listener. */
int net_thread_swap_server(struct net_thread *t, const char *name,
			   struct net_http_server *s);
/* Stops and closes listener `name` (open connections continue). */
void net_thread_unlisten(struct net_thread *t, const char *name);

/*
 * Graceful shutdown: stop accepting, close idle connections, let requests
 * in flight finish (their responses carry Connection: close), and force
 * the rest closed at deadline_ms from now. done(arg) runs on the loop
 * thread once no connection is left.
 */
void net_thread_drain(struct net_thread *t, uint64_t deadline_ms,
		      void (*done)(void *arg), void *arg);
size_t net_thread_conns(const struct net_thread *t);

/* ------------------------------------------------------------ exchange */

/* The request being handled. Borrowed; valid until net_respond. */
const struct http_request *net_request(const struct net_exchange *x);
/* The decoded request body (empty when none). */
struct bw_str net_request_body(const struct net_exchange *x);
/* Per-exchange arena: freed after the response is sent. */
struct bw_arena *net_arena(struct net_exchange *x);
struct loop *net_loop(struct net_exchange *x);
const char *net_peer_ip(const struct net_exchange *x);
uint16_t net_peer_port(const struct net_exchange *x);
const char *net_request_id(const struct net_exchange *x);
const char *net_listener_name(const struct net_exchange *x);
bool net_is_tls(const struct net_exchange *x);
/* Subject of a verified client certificate, or NULL. */
const char *net_client_subject(struct net_exchange *x);
const char *net_alpn(const struct net_exchange *x);

/* Adds a response header (validated; an invalid one is dropped and
 * logged, never sent). Call before net_respond. */
void net_add_header(struct net_exchange *x, const char *name, const char *value);
/*
 * Sends the response and ends the exchange (x is invalid afterwards).
 * Must run on the exchange's loop thread: a handler that hands work to
 * the thread pool calls it from the completion. body is copied.
 */
void net_respond(struct net_exchange *x, int status, const char *content_type,
		 const void *body, size_t len);
/* Marks the request as one for the audit trail of what was rejected. */
void net_set_outcome_reason(struct net_exchange *x, const char *reason);

/* ------------------------------------------------------------ streaming */

/*
 * Streaming bodies. HTTP/1.1 and HTTP/2 behave alike; every limit of the
 * listener (max_body, body timeout, write timeout) still holds.
 *
 * Request bodies (servers with dispatch_at_head): the handler runs when
 * the head is complete. When net_request_body_pending(x) is true, no body
 * byte has been read yet and the handler must pick one of:
 *  - net_request_body_buffer(x, fn, arg): net reads the whole body (up
 *    to max_body) and then calls fn(x, arg) as if the server dispatched
 *    at the end of the body. On a body error net answers itself (413,
 *    408, 400) and fn is never called;
 *  - net_request_body_stream(x, fn, arg): fn(arg, data, len, end) gets
 *    the decoded body as it arrives, end set exactly once on the last
 *    call; net_request_body_pause / _resume stop and restart delivery
 *    (a paused connection is not read: TCP or HTTP/2 flow control slows
 *    the client). A body error (too large, timeout, bad chunk) arrives as
 *    fn(arg, NULL, 0, true) with net_request_body_failed(x) true; the
 *    handler then answers (or aborts) as it sees fit.
 * A handler that answers while a body is still unread gets its response
 * sent and the HTTP/1.1 connection closed after it (HTTP/2: the rest of
 * the stream is discarded).
 *
 * Responses: net_respond_start sends the head, net_respond_data queues
 * body bytes (copied), net_respond_end finishes the exchange (x is
 * invalid afterwards), net_abort ends it abnormally (HTTP/1.1: the
 * connection is closed, so a truncated body is never mistaken for a
 * complete one; HTTP/2: the stream is reset). Flow control: the handler
 * looks at net_respond_pending(x) after queuing and, above its own high
 * mark, waits for net_on_writable's callback, which runs once, from the
 * loop, when everything queued is written — or with gone = true when the
 * client went away (the handler must then call net_abort). Never called
 * from inside a net_* call.
 */
typedef void (*net_body_fn)(void *arg, const char *data, size_t len, bool end);
typedef void (*net_writable_fn)(void *arg, bool gone);

/* Whether a request body follows the head and has not been read yet
 * (only with dispatch_at_head). */
bool net_request_body_pending(const struct net_exchange *x);
/* Whether the streamed body ended with an error (too large, timeout,
 * malformed); its reason token in *reason (static) when not NULL. */
bool net_request_body_failed(const struct net_exchange *x, const char **reason);
void net_request_body_buffer(struct net_exchange *x, net_handler_fn fn, void *arg);
void net_request_body_stream(struct net_exchange *x, net_body_fn fn, void *arg);
void net_request_body_pause(struct net_exchange *x);
void net_request_body_resume(struct net_exchange *x);

/*
 * Starts a streamed response: status line and headers (those added with
 * net_add_header). length: the body length when known (then exactly that
 * many bytes must follow), or -1: HTTP/1.1 uses chunked coding (HTTP/1.0
 * clients: the body ends with the connection), HTTP/2 just DATA frames.
 * For HEAD requests the length is announced and data is discarded.
 */
void net_respond_start(struct net_exchange *x, int status, const char *content_type,
		       int64_t length);
/* Queues body bytes. Returns 0, or -1 when the client is gone (call
 * net_abort) or the output bound (NET_MAX_RESPONSE) would be passed. */
int net_respond_data(struct net_exchange *x, const void *p, size_t n) BW_WUR;
/* Writes what is queued now. The head and small pieces gather (until 16
 * KiB, the end or this call) so a small response leaves in one write: a
 * handler that will wait for more input flushes first. */
void net_respond_flush(struct net_exchange *x);
/* Bytes queued and not yet written to the socket. */
size_t net_respond_pending(const struct net_exchange *x);
void net_on_writable(struct net_exchange *x, net_writable_fn fn, void *arg);
/* Ends a streamed response (x is invalid afterwards). */
void net_respond_end(struct net_exchange *x);
/* Ends the exchange without a proper response: before net_respond_start
 * it is like a connection failure (the client sees the connection close);
 * afterwards the body is cut. x is invalid afterwards. */
void net_abort(struct net_exchange *x);

/*
 * net_upgrade — switches an HTTP/1.1 connection to a raw byte tunnel
 * (WebSocket after the upstream accepted it): writes "101 Switching
 * Protocols" with the headers added by net_add_header, then delivers
 * every byte the client sends to fn (end = the client closed its side),
 * with pause/resume as for request bodies, while net_respond_data sends
 * raw bytes back. net_respond_end closes the tunnel after the queued
 * bytes are written, net_abort at once. idle_ms: the tunnel is closed
 * (fn gets end with net_request_body_failed "tunnel_idle") after that
 * long without a byte in either direction. Returns -1 when the exchange
 * cannot be upgraded (HTTP/2, a request that did not ask for an upgrade,
 * or a request with a body); nothing was sent then.
 */
int net_upgrade(struct net_exchange *x, uint64_t idle_ms, net_body_fn fn,
		void *arg) BW_WUR;

/* ------------------------------------------------- raw streams and UDP */

/*
 * Byte-stream servers for protocols that are not HTTP (syslog over TCP or
 * TLS, RELP): connections on a worker loop whose bytes are handed to a
 * consumer. The consumer says how much it used; what it leaves stays
 * buffered (bounded by max_buffer; a full buffer the consumer will not
 * drain closes the connection). net_stream_pause/resume give the consumer
 * back-pressure: a paused connection is not read, so a sender that
 * outruns the pipeline is slowed by TCP instead of being dropped.
 */
struct net_stream;
struct net_stream_conn;

struct net_stream_options {
	const char *name;
	struct net_tls *tls; /* owned by the server; NULL for plain TCP */
	size_t max_conns;    /* per thread */
	size_t max_buffer;   /* unconsumed bytes kept per connection */
	uint64_t idle_timeout_ms;
	/* Returns the consumer's per-connection state (NULL refuses). */
	void *(*on_open)(void *arg, struct net_stream_conn *sc, const char *peer_ip,
			 uint16_t peer_port);
	/* New bytes: data[0..len) is everything unconsumed. Set *consumed;
	 * return -1 to close the connection. */
	int (*on_data)(void *conn_ctx, const char *data, size_t len, size_t *consumed);
	void (*on_close)(void *conn_ctx); /* once, after the socket is gone */
	void *arg;
};

struct net_stream *net_stream_new(const struct net_stream_options *o,
				  struct bw_err *err) BW_WUR;
void net_stream_ref(struct net_stream *s);
void net_stream_unref(struct net_stream *s);
/* Starts accepting on fd (taken) on loop l. Streams are per-thread like
 * HTTP listeners; net_stream_thread_stop closes them all. */
int net_stream_listen(struct loop *l, int fd, struct net_stream *s,
		      struct bw_err *err) BW_WUR;
void net_stream_thread_stop(struct loop *l);
/* Queues bytes to send back (acknowledgements); -1 when the output bound
 * is reached (the connection is then closed). Loop thread only. */
int net_stream_write(struct net_stream_conn *sc, const void *p, size_t n);
void net_stream_pause(struct net_stream_conn *sc);
void net_stream_resume(struct net_stream_conn *sc);
void net_stream_close(struct net_stream_conn *sc);
struct loop *net_stream_loop(struct net_stream_conn *sc);

/* A bound UDP socket (IPv4 or IPv6 literal); datagrams go to on_datagram
 * on loop l. Datagrams the kernel drops when the receive buffer is full are
 * counted by the kernel (and reported with net_udp_drops). */
struct net_udp;
int net_udp_bind(const char *addr, uint16_t port, bool reuseport,
		 struct bw_err *err) BW_WUR;
struct net_udp *net_udp_start(struct loop *l, int fd,
			      void (*on_datagram)(void *arg, const char *data,
						  size_t len, const char *peer_ip,
						  uint16_t peer_port),
			      void *arg, struct bw_err *err) BW_WUR;
void net_udp_stop(struct net_udp *u);
uint64_t net_udp_drops(const struct net_udp *u);

/* ------------------------------------------------------ outbound HTTP */

/*
 * The one outbound HTTP(S) client (webhooks, ACME, federation, log
 * forwarding): libcurl's multi-socket interface driven by a worker loop, so
 * many requests are in flight without a thread each. One struct net_fetch
 * per loop; every call is made on that loop's thread and every completion
 * runs there.
 *
 * Defaults are strict: http and https only, no redirects, TLS 1.2 or newer
 * with peer and host verification, no proxy from the environment, bounded
 * response size and time.
 */
struct net_fetch;

struct net_fetch_request {
	const char *method;  /* "GET", "POST", ... */
	const char *url;
	const char *const *headers; /* "Name: value" strings, NULL-terminated */
	const void *body;
	size_t body_len;
	uint64_t timeout_ms;    /* whole transfer; 0: 30 s */
	size_t max_response;    /* body bytes kept; more fails; 0: 1 MiB */
	const char *ca_file;    /* trust anchors; NULL: the system store */
	const char *client_cert, *client_key; /* mTLS (PEM files) */
	int max_redirects;      /* 0: redirects are not followed */
};

struct net_fetch_result {
	int status;          /* HTTP status, 0 if none was received */
	const char *error;   /* NULL on transport success, else a message */
	struct bw_str body;  /* valid during the callback only */
	struct bw_str content_type;
	double seconds;
};

typedef void (*net_fetch_done_fn)(void *arg, const struct net_fetch_result *r);

/* Call once per process before any thread uses curl. */
int net_fetch_global_init(struct bw_err *err) BW_WUR;
struct net_fetch *net_fetch_new(struct loop *l, size_t max_in_flight,
				struct bw_err *err) BW_WUR;
/* Cancels what is in flight (each done callback runs with error
 * "cancelled") and frees. Accepts NULL. */
void net_fetch_free(struct net_fetch *f);
/* Starts a request; done(arg, result) runs later on the loop. Everything in
 * req is copied. -1 with err (503 when max_in_flight is reached). */
int net_fetch_start(struct net_fetch *f, const struct net_fetch_request *req,
		    net_fetch_done_fn done, void *arg, struct bw_err *err) BW_WUR;
size_t net_fetch_in_flight(const struct net_fetch *f);

/* ------------------------------------------------------------- metrics */

struct net_stats {
	uint64_t accepted, refused_conns, active_conns, tls_handshake_failures;
	uint64_t tls_parked; /* idle TLS connections without their SSL object */
	uint64_t requests, responses_by_class[6]; /* index status/100 */
	uint64_t rejected;  /* requests refused by the codec or a timeout */
	uint64_t timeouts;
	uint64_t latency_buckets[12]; /* ≤ 0.5,1,2.5,5,10,25,50,100,250,500,1000 ms, +Inf */
	uint64_t latency_sum_us;
};
extern const double net_latency_bounds_ms[11];
void net_stats_get(struct net_stats *out);
/* Count of rejections by reason token (for /metrics): calls fn for each. */
void net_stats_rejections(void (*fn)(const char *reason, uint64_t n, void *arg),
			  void *arg);

#endif
