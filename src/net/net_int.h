/* Internals of the net module shared between its files. */
#ifndef BW_NET_INT_H
#define BW_NET_INT_H

#include "net/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>


SSL *net_tls_session_new(struct net_tls *t, int fd);

/* An IPv4/IPv6 literal and port as a socket address (400 "bad_address"
 * otherwise), and a peer's address back as text and port. */
int net_sockaddr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ss,
		       socklen_t *len, struct bw_err *err);
void net_sockaddr_format(const struct sockaddr_storage *ss, char ip[INET6_ADDRSTRLEN],
			 uint16_t *port);

/* Counters shared by every thread (relaxed atomics). */
void net_stats_count_rejection(const char *reason);

struct net_h2;
struct h2_req;

enum conn_state {
	CS_HANDSHAKE,
	CS_HEAD,
	CS_BODY,
	CS_HANDLING,
	CS_WRITING,
	CS_LINGER,
	CS_H2,       /* HTTP/2: streams multiplexed, see net_h2.c */
	CS_STREAM,   /* HTTP/1.1: the handler owns the exchange while its
			request body, its response or a tunnel streams */
};

/* How far an exchange's request body has come (see net.h "Streaming"). */
enum net_body_mode {
	NET_BODY_NONE,    /* no body, or read before dispatch */
	NET_BODY_PENDING, /* dispatched at head; the handler has not chosen */
	NET_BODY_BUFFER,  /* being read whole, then buf_fn */
	NET_BODY_STREAM,  /* delivered to body_fn as it arrives (or tunnel) */
	NET_BODY_DONE,    /* streamed to its end (or failed) */
};

struct net_http_server {
	_Atomic int refs;
	struct net_http_options o;
	char name[32];
};

struct net_conn;

struct net_exchange {
	struct net_conn *c;
	struct bw_arena *arena;
	struct http_req_parser parser;
	struct http_header *hdrs;
	size_t nhdrs_cap;
	struct http_request req;
	struct http_body body;
	struct bw_buf bodybuf;
	struct bw_buf extra; /* validated extra response header lines */
	size_t consume_after; /* bytes of `in` to drop after the response */
	int64_t start_ns;
	const char *outcome_reason;
	char *client_subject;
	bool head_done;
	char request_id[24];
	/* HTTP/2: the stream this exchange answers (0 for HTTP/1.1), the
	 * response body kept until nghttp2 has sent it. */
	int32_t stream_id;
	struct h2_req *h2req;
	struct bw_buf h2_body;
	size_t h2_body_pos;
	struct net_exchange *h2_next; /* the connection's list of streams */
	/* Streaming (net.h): request body delivery, response progress, the
	 * handler's callbacks and whether the client went away. */
	net_handler_fn buf_fn;
	void *buf_arg;
	net_body_fn body_fn;
	void *body_arg;
	net_writable_fn wr_fn;
	void *wr_arg;
	const char *body_error;   /* reason token of a failed streamed body */
	int64_t body_deadline_ms; /* monotonic: end of head + body timeout */
	uint64_t tunnel_idle_ms;
	uint64_t rs_bytes;        /* response body bytes queued */
	int rs_status;
	uint8_t body_mode;        /* enum net_body_mode */
	bool body_paused;
	bool feeding;             /* inside body delivery: no recursion */
	bool rs_started, rs_chunked, rs_head_only, rs_ended;
	bool tunnel, tunnel_eof;
	bool gone;                /* the client left while the handler owned x */
	bool h2_body_end;         /* HTTP/2: END_STREAM seen on the request */
};

/* Queued response bytes above which HTTP/2 stops asking nghttp2 for more
 * of a streamed body; streaming handlers keep their own mark. */
#define NET_STREAM_CHUNK 16384

struct net_conn {
	struct loop_io io;
	struct loop_timer timer;
	struct net_thread *t;
	struct net_http_server *srv;
	struct net_conn *prev, *next;
	SSL *ssl;
	/* A parked TLS 1.3 connection: its SSL object is freed and its
	 * records are protected by net_tlsrec (ssl is NULL then). */
	struct net_tlsrec *park;
	struct net_exchange *x;
	struct bw_buf in, out;
	size_t out_pos;
	uint8_t state;
	bool close_after;   /* close once the current response is written */
	bool ssl_want_write; /* TLS needs EPOLLOUT to make read progress */
	bool closed;         /* fd closed; memory freed when nobody uses it */
	uint8_t busy;        /* entry points currently on the stack */
	bool head_started;   /* bytes of the current request have arrived */
	bool short_read;     /* the last read got less than it asked for */
	struct net_h2 *h2;   /* set when ALPN chose h2 */
	struct loop *loop;   /* = t->loop, kept for after the thread is gone */
	uint16_t peer_port;
	char peer_ip[INET6_ADDRSTRLEN];
};

struct net_listener {
	struct loop_io io;
	struct net_thread *t;
	struct net_http_server *srv;
	struct net_listener *next;
	char name[32];
};

struct net_thread {
	struct loop *loop;
	struct net_listener *listeners;
	struct net_conn *conns;
	size_t nconns;
	bool draining;
	struct loop_timer drain_timer;
	void (*drain_done)(void *);
	void *drain_arg;
	uint64_t reqid_counter;
	char reqid_prefix[9];
	int64_t log_window_s;
	int log_budget;
	uint64_t log_suppressed;
	int64_t date_s;
	char date[40];
};


/* Shared by net_http.c (HTTP/1.1 and the connection) and net_h2.c. */
bool net_log_allowed(struct net_thread *t);
const char *net_date_header(struct net_thread *t);
void net_conn_arm(struct net_conn *c, uint64_t ms);
ssize_t net_conn_read(struct net_conn *c);
ssize_t net_conn_write(struct net_conn *c, const char *p, size_t n);
struct net_exchange *net_exchange_new(struct net_conn *c);
void net_exchange_free(struct net_exchange *x);
void net_count_response(struct net_exchange *x, int status, size_t bytes);
void net_conn_update_interest(struct net_conn *c);
void net_conn_close(struct net_conn *c);
void net_conn_leave(struct net_conn *c);
void net_conn_maybe_free(struct net_conn *c);

/* HTTP/2 (net_h2.c). */
int net_h2_start(struct net_conn *c);          /* after ALPN "h2" */
void net_h2_on_io(struct net_conn *c, uint32_t revents);
void net_h2_respond(struct net_exchange *x, int status, const char *content_type,
		    const void *body, size_t len);
void net_h2_drain(struct net_conn *c);         /* GOAWAY, close when idle */
void net_h2_close(struct net_conn *c);         /* connection closed: orphan streams */
bool net_h2_busy(const struct net_conn *c);    /* streams a handler still owns */
void net_h2_free(struct net_conn *c);
uint32_t net_h2_interest(const struct net_conn *c);
/* Streaming on HTTP/2 streams (net_h2.c), behind the net.h functions. */
void net_h2_body_choose(struct net_exchange *x);
void net_h2_respond_start(struct net_exchange *x, int status,
			  const char *content_type, int64_t length);
int net_h2_respond_data(struct net_exchange *x, const void *p, size_t n);
void net_h2_respond_end(struct net_exchange *x);
void net_h2_abort(struct net_exchange *x);
size_t net_h2_pending(const struct net_exchange *x);
void net_h2_kick(struct net_conn *c);

#endif
