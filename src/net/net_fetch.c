/*
 * Outbound HTTP(S) on the event loop: libcurl's multi-socket API. curl tells
 * us which sockets to watch (socket callback → loop_io) and when to call it
 * back (timer callback → loop_timer); we report readiness with
 * curl_multi_socket_action and collect finished transfers with
 * curl_multi_info_read.
 *
 * Invariants: every transfer has one struct xfer owning its copies of the
 * request and its bounded response buffer; a transfer's done callback runs
 * exactly once; socket watchers are freed only after loop_io_del (the loop
 * cancels their pending events).
 */
#include "net/net.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct watch {
	struct loop_io io;
	struct net_fetch *f;
};

struct xfer {
	struct xfer *next, *prev;
	struct net_fetch *f;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct bw_buf resp;
	net_fetch_done_fn done;
	void *arg;
	bool too_large;
	char errbuf[CURL_ERROR_SIZE];
};

struct net_fetch {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer timer;
	struct xfer *xfers;
	size_t n, max;
};

int net_fetch_global_init(struct bw_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return bw_err_set(err, 500, "net", "curl", "curl_global_init failed");
	return 0;
}

static void finish(struct xfer *x, const char *error)
{
	struct net_fetch *f = x->f;
	long status = 0;
	char *ctype = NULL;
	double secs = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &secs);
	struct net_fetch_result r = {
		.status = (int)status,
		.error = error,
		.body = bw_str_make(x->resp.data ? x->resp.data : "", x->resp.len),
		.content_type = bw_str_make(ctype ? ctype : "", ctype ? strlen(ctype) : 0),
		.seconds = secs,
	};
	/* Unlink before the callback so it may start new transfers. */
	if (x->prev)
		x->prev->next = x->next;
	else
		f->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	f->n--;
	x->done(x->arg, &r);
	curl_multi_remove_handle(f->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	bw_buf_fini(&x->resp);
	free(x);
}

static void check_done(struct net_fetch *f)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct xfer *x;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		CURLcode rc = m->data.result;
		const char *error = NULL;
		if (x->too_large)
			error = "response larger than max_response";
		else if (rc != CURLE_OK)
			error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
		finish(x, error);
	}
}

static void on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct watch *w = io->data;
	struct net_fetch *f = w->f;
	int flags = 0, running;
	if (revents & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(f->multi, io->fd, flags, &running);
	check_done(f);
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
	struct net_fetch *f = t->data;
	int running;
	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct net_fetch *f = userp;
	struct watch *w = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			loop_io_del(f->loop, &w->io);
			free(w);
			curl_multi_assign(f->multi, s, NULL);
		}
		return 0;
	}
	uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) |
		      (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -1;
		w->f = f;
		w->io = (struct loop_io){ .fd = s, .cb = on_io, .data = w };
		if (loop_io_add(f->loop, &w->io, ev) < 0) {
			free(w);
			return -1;
		}
		curl_multi_assign(f->multi, s, w);
		return 0;
	}
	return loop_io_mod(f->loop, &w->io, ev) < 0 ? -1 : 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct net_fetch *f = userp;
	if (timeout_ms < 0) {
		loop_timer_cancel(f->loop, &f->timer);
		return 0;
	}
	return loop_timer_arm(f->loop, &f->timer, timeout_ms) < 0 ? -1 : 0;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb;
	if (bw_buf_append(&x->resp, p, n) < 0) {
		x->too_large = true;
		return 0; /* aborts the transfer */
	}
	return n;
}

struct net_fetch *net_fetch_new(struct loop *l, size_t max_in_flight,
				struct bw_err *err)
{
	struct net_fetch *f = calloc(1, sizeof(*f));
	if (!f || !(f->multi = curl_multi_init())) {
		free(f);
		bw_err_set(err, 500, "net", "curl", "curl_multi_init failed");
		return NULL;
	}
	f->loop = l;
	f->max = max_in_flight ? max_in_flight : 256;
	loop_timer_init(&f->timer, on_timer, f);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)f->max);
	return f;
}

void net_fetch_free(struct net_fetch *f)
{
	if (!f)
		return;
	while (f->xfers)
		finish(f->xfers, "cancelled");
	loop_timer_cancel(f->loop, &f->timer);
	curl_multi_cleanup(f->multi); /* REMOVE callbacks free the watches */
	free(f);
}

size_t net_fetch_in_flight(const struct net_fetch *f)
{
	return f->n;
}

int net_fetch_start(struct net_fetch *f, const struct net_fetch_request *req,
		    net_fetch_done_fn done, void *arg, struct bw_err *err)
{
	if (f->n >= f->max)
		return bw_err_set(err, 503, "net", "overloaded",
				  "too many outbound requests in flight");
	struct xfer *x = calloc(1, sizeof(*x));
	if (!x || !(x->easy = curl_easy_init())) {
		free(x);
		return bw_err_set(err, 500, "net", "curl", "curl_easy_init failed");
	}
	x->f = f;
	x->done = done;
	x->arg = arg;
	bw_buf_init(&x->resp, req->max_response ? req->max_response : 1 << 20);
	CURL *e = x->easy;
	int bad = 0;
	bad |= curl_easy_setopt(e, CURLOPT_URL, req->url);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req->max_redirects > 0 ? 1L : 0L);
	bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)req->max_redirects);
	bad |= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	bad |= curl_easy_setopt(e, CURLOPT_PROXY, ""); /* ignore *_proxy env */
	bad |= curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				(long)(req->timeout_ms ? req->timeout_ms : 30000));
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "bulwark/" BULWARK_VERSION);
	if (req->ca_file)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
	if (req->client_cert)
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERT, req->client_cert);
	if (req->client_key)
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEY, req->client_key);
	const char *method = req->method ? req->method : "GET";
	if (strcmp(method, "GET") != 0)
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (req->body_len || strcmp(method, "POST") == 0) {
		x->body = malloc(req->body_len ? req->body_len : 1);
		if (!x->body)
			bad = 1;
		else if (req->body_len)
			memcpy(x->body, req->body, req->body_len);
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
					(curl_off_t)req->body_len);
	}
	for (const char *const *h = req->headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(x->headers, *h);
		if (!n) {
			bad = 1;
			break;
		}
		x->headers = n;
	}
	if (x->headers)
		bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	if (bad || curl_multi_add_handle(f->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		curl_slist_free_all(x->headers);
		free(x->body);
		bw_buf_fini(&x->resp);
		free(x);
		return bw_err_set(err, 400, "net", "bad_request",
				  "cannot set up the outbound request to %s", req->url);
	}
	x->next = f->xfers;
	if (f->xfers)
		f->xfers->prev = x;
	f->xfers = x;
	f->n++;
	return 0;
}
