/*
 * Helpers shared by the gateway's unit tests: parse a raw request head
 * into a struct http_request (the strings point into a static copy that
 * lives until the next call).
 */
#ifndef GW_TEST_H
#define GW_TEST_H

#include <string.h>

#include "http/http.h"

static struct http_request gwt_req;
static struct http_header gwt_hdrs[64];
static char gwt_buf[8192];
static struct http_limits gwt_lim;

/* Parses text as a complete request head; returns NULL when the codec
 * refuses it. */
static inline const struct http_request *gwt_parse(const char *text)
{
	struct bw_err err;
	struct http_req_parser p;
	size_t n = strlen(text);
	if (n >= sizeof(gwt_buf))
		return NULL;
	memcpy(gwt_buf, text, n + 1);
	http_limits_default(&gwt_lim);
	http_req_parser_init(&p, &gwt_lim, gwt_hdrs, 64);
	memset(&gwt_req, 0, sizeof(gwt_req));
	if (http_req_parser_feed(&p, gwt_buf, n, &gwt_req, &err) != HTTP_DONE)
		return NULL;
	return &gwt_req;
}

#endif
