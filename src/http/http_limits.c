/*
 * http_limits.c — defaults for struct http_limits and the check config runs
 * against the hard maxima (and sanity minima) of http_limits.h.
 */
#include "http/http_int.h"

void http_limits_default(struct http_limits *l)
{
	l->max_request_line = HTTP_DEF_REQUEST_LINE;
	l->max_uri = HTTP_DEF_URI;
	l->max_header_line = HTTP_DEF_HEADER_LINE;
	l->max_header_bytes = HTTP_DEF_HEADER_BYTES;
	l->max_headers = HTTP_DEF_HEADERS;
	l->max_body = HTTP_DEF_BODY;
	l->max_chunk_ext = HTTP_DEF_CHUNK_EXT;
	l->max_trailer_bytes = HTTP_DEF_TRAILER_BYTES;
	l->max_trailers = HTTP_DEF_TRAILERS;
	l->max_leading_crlf = HTTP_DEF_LEADING_CRLF;
	l->allow_bare_lf = false;
}

static int range(struct bw_err *err, const char *field, uint64_t v,
		 uint64_t lo, uint64_t hi)
{
	if (v >= lo && v <= hi)
		return 0;
	return bw_err_set(err, 400, "http", "limit_out_of_range",
			  "http limit %s = %llu is outside %llu..%llu", field,
			  (unsigned long long)v, (unsigned long long)lo,
			  (unsigned long long)hi);
}

int http_limits_check(const struct http_limits *l, struct bw_err *err)
{
	if (range(err, "max_request_line", l->max_request_line,
		  HTTP_MIN_REQUEST_LINE, HTTP_MAX_REQUEST_LINE) < 0 ||
	    range(err, "max_uri", l->max_uri, HTTP_MIN_URI, HTTP_MAX_URI) < 0 ||
	    range(err, "max_header_line", l->max_header_line,
		  HTTP_MIN_HEADER_LINE, HTTP_MAX_HEADER_LINE) < 0 ||
	    range(err, "max_header_bytes", l->max_header_bytes,
		  HTTP_MIN_HEADER_BYTES, HTTP_MAX_HEADER_BYTES) < 0 ||
	    range(err, "max_headers", l->max_headers, HTTP_MIN_HEADERS,
		  HTTP_MAX_HEADERS) < 0 ||
	    range(err, "max_body", l->max_body, 0, HTTP_MAX_BODY) < 0 ||
	    range(err, "max_chunk_ext", l->max_chunk_ext, 0,
		  HTTP_MAX_CHUNK_EXT) < 0 ||
	    range(err, "max_trailer_bytes", l->max_trailer_bytes, 2,
		  HTTP_MAX_TRAILER_BYTES) < 0 ||
	    range(err, "max_trailers", l->max_trailers, 0,
		  HTTP_MAX_TRAILERS) < 0 ||
	    range(err, "max_leading_crlf", l->max_leading_crlf, 0,
		  HTTP_MAX_LEADING_CRLF) < 0)
		return -1;
	return 0;
}
