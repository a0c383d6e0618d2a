/* Internals of the login pages (iam_pages*.c), shared by their files. */
#ifndef BW_IAM_PAGES_INT_H
#define BW_IAM_PAGES_INT_H

#include "iam/iam_int.h"

/* HTML building blocks (iam_pages_html.c); each 0 or -1 (buffer full). */
int iam_html_esc(struct bw_buf *b, const char *s);
int iam_html_begin(struct bw_buf *b, const char *title, const char *tenant);
int iam_html_end(struct bw_buf *b);
int iam_html_error(struct bw_buf *b, const char *msg);
int iam_html_notice(struct bw_buf *b, const char *msg);
int iam_html_form_begin(struct bw_buf *b, const char *action, const char *csrf,
			const char *next);
int iam_html_field(struct bw_buf *b, const char *id, const char *label,
		   const char *type, const char *autocomplete,
		   const char *value, bool invalid, const char *extra);
/* A submit button and the end of its form. name/value may be NULL. */
int iam_html_button(struct bw_buf *b, const char *name, const char *value,
		    const char *label);
extern const char iam_pages_js[];
extern const char iam_pages_css[];

#define IAM_PAGES_COOKIES_MAX 4

/* One request to the pages, independent of the network layer. */
struct iam_pages_req {
	int method; /* enum http_method */
	struct bw_str path, query, body, content_type;
	struct bw_str cookie, origin, fetch_site, host;
	const char *peer_ip;
	bool tls;
};

struct iam_pages_resp {
	int status;
	const char *content_type;
	char location[IAM_PAGES_NEXT_MAX + 512];
	char cookies[IAM_PAGES_COOKIES_MAX][256];
	size_t ncookies;
	bool form_action_self; /* CSP form-action 'self' (pages whose forms
				  do not lead on to a client's redirect) */
	struct bw_buf body;
};

/* Handles one request (blocking: store, Argon2id, delivery). */
void iam_pages_dispatch(struct iam_pages *p, const struct iam_pages_req *rq,
			struct iam_pages_resp *rs);

/* The session token in the tenant's session cookie, if any (cookie: the
 * Cookie header). true with tok filled. */
bool iam_pages_cookie_session(struct bw_str cookie, const char *tenant,
			      char tok[IAM_TOKEN_MAX]);

#endif
