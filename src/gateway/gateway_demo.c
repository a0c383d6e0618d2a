/*
 * The built-in demo application: a small, safe app the gateway can route
 * to in-process (`builtin: demo`) or serve as a plain net handler
 * (gateway_demo_app), so `make run` shows a request going through every
 * gateway check and the WAF, with something to attack.
 *
 * Safe by construction: it stores nothing, runs nothing, and every echoed
 * value goes out as JSON (escaped by the json writer) or not at all; the
 * HTML page is static. Anything it answers is bounded by the request it
 * got (itself bounded by net) plus a constant.
 */
#include "gateway/gateway_int.h"
#include "json/json.h"

#include <string.h>

static const char demo_page[] =
	"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<title>bulwark demo app</title>\n<style>body{font-family:sans-serif;"
	"max-width:46em;margin:2em auto;line-height:1.5}code{background:#eee;"
	"padding:0 .3em}</style></head><body>\n"
	"<h1>bulwark demo app</h1>\n"
	"<p>This page comes from the demo application behind bulwark's gateway. "
	"Every request to it passed the gateway's rate limits, bot checks and "
	"WAF.</p>\n"
	"<h2>Try it</h2>\n<ul>\n"
	"<li>A normal API call: <code>curl -k 'https://localhost:8443/api/echo?"
	"name=alice'</code></li>\n"
	"<li>An SQL injection attempt (blocked by the WAF with the Core Rule Set "
	"loaded): <code>curl -k \"https://localhost:8443/api/echo?id=1'%20OR%20"
	"'1'='1\"</code></li>\n"
	"<li>A cross-site scripting attempt: <code>curl -k 'https://localhost:"
	"8443/api/echo?q=%3Cscript%3Ealert(1)%3C/script%3E'</code></li>\n"
	"<li>An attack tool's user agent: <code>curl -k -A sqlmap/1.7 "
	"https://localhost:8443/</code></li>\n"
	"</ul>\n<p>Blocked requests answer 403 with a request id; the "
	"decision and its reasons are events in bulwark's SIEM feed.</p>\n"
	"</body></html>\n";

static void set_json(struct bw_arena *a, struct gw_local_resp *out, int status,
		     struct bw_buf *b, struct json_writer *w)
{
	if (json_writer_finish(w) < 0) {
		out->status = 500;
		out->content_type = "text/plain";
		out->body = "demo: response too large\n";
		out->len = strlen(out->body);
		bw_buf_fini(b);
		return;
	}
	char *copy = bw_arena_strndup(a, b->data, b->len);
	bw_buf_fini(b);
	out->status = copy ? status : 500;
	out->content_type = "application/json";
	out->body = copy ? copy : "";
	out->len = copy ? strlen(copy) : 0;
}

/* Writes the query's name=value pairs as a JSON object (raw, not
 * percent-decoded: the demo shows what arrived). */
static void write_query(struct json_writer *w, struct bw_str q)
{
	json_write_object_begin(w);
	size_t i = 0, pairs = 0;
	while (i < q.len && pairs < 64) {
		size_t start = i;
		while (i < q.len && q.p[i] != '&')
			i++;
		struct bw_str pair = bw_str_make(q.p + start, i - start);
		if (i < q.len)
			i++;
		if (pair.len == 0)
			continue;
		const char *eq = memchr(pair.p, '=', pair.len);
		size_t kl = eq ? (size_t)(eq - pair.p) : pair.len;
		char key[128];
		size_t n = kl < sizeof(key) - 1 ? kl : sizeof(key) - 1;
		memcpy(key, pair.p, n);
		key[n] = '\0';
		json_write_key(w, key);
		if (eq)
			json_write_stringn(w, eq + 1, pair.len - kl - 1);
		else
			json_write_null(w);
		pairs++;
	}
	json_write_object_end(w);
}

void gw_demo_serve(struct bw_arena *a, const struct http_request *req,
		   struct bw_str body, const char *request_id,
		   struct gw_local_resp *out)
{
	memset(out, 0, sizeof(*out));
	struct bw_buf b;
	struct json_writer w;
	bw_buf_init(&b, 64 * 1024);
	json_writer_init(&w, &b);
	bool get = req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD;

	if (bw_str_eq_lit(req->path, "/") || bw_str_eq_lit(req->path, "/index.html")) {
		bw_buf_fini(&b);
		if (!get)
			goto not_allowed;
		out->status = 200;
		out->content_type = "text/html; charset=utf-8";
		out->body = demo_page;
		out->len = sizeof(demo_page) - 1;
		out->hdr_name[out->nhdr] = "Content-Security-Policy";
		out->hdr_value[out->nhdr++] = "default-src 'none'; style-src 'unsafe-inline'";
		return;
	}
	if (bw_str_eq_lit(req->path, "/healthz")) {
		bw_buf_fini(&b);
		out->status = 200;
		out->content_type = "text/plain";
		out->body = "ok\n";
		out->len = 3;
		return;
	}
	if (bw_str_eq_lit(req->path, "/api/echo")) {
		json_write_object_begin(&w);
		json_write_key(&w, "method");
		json_write_stringn(&w, req->method_str.p, req->method_str.len);
		json_write_key(&w, "path");
		json_write_stringn(&w, req->path.p, req->path.len);
		json_write_key(&w, "query");
		write_query(&w, req->has_query ? req->query : bw_str_make("", 0));
		json_write_kv_int(&w, "body_bytes", (int64_t)body.len);
		json_write_kv_string(&w, "request_id", request_id);
		json_write_object_end(&w);
		set_json(a, out, 200, &b, &w);
		return;
	}
	if (bw_str_eq_lit(req->path, "/api/items")) {
		if (get) {
			static const char *const names[] = { "apple", "pear", "plum" };
			json_write_object_begin(&w);
			json_write_key(&w, "items");
			json_write_array_begin(&w);
			for (size_t i = 0; i < BW_ARRAY_LEN(names); i++) {
				json_write_object_begin(&w);
				json_write_kv_int(&w, "id", (int64_t)i + 1);
				json_write_kv_string(&w, "name", names[i]);
				json_write_object_end(&w);
			}
			json_write_array_end(&w);
			json_write_object_end(&w);
			set_json(a, out, 200, &b, &w);
			return;
		}
		if (req->method == HTTP_METHOD_POST) {
			/* accepted and forgotten: the demo stores nothing */
			json_write_object_begin(&w);
			json_write_kv_bool(&w, "accepted", true);
			json_write_kv_int(&w, "body_bytes", (int64_t)body.len);
			json_write_object_end(&w);
			set_json(a, out, 201, &b, &w);
			return;
		}
		bw_buf_fini(&b);
		goto not_allowed;
	}
	bw_buf_fini(&b);
	out->status = 404;
	out->content_type = "text/plain";
	out->body = "not found\n";
	out->len = 10;
	return;
not_allowed:
	out->status = 405;
	out->content_type = "text/plain";
	out->body = "method not allowed\n";
	out->len = 19;
	out->hdr_name[out->nhdr] = "Allow";
	out->hdr_value[out->nhdr++] = "GET, HEAD, POST";
}

void gateway_demo_app(struct net_exchange *x, void *arg)
{
	struct gw_local_resp lr;
	gw_demo_serve(net_arena(x), net_request(x), net_request_body(x),
		      net_request_id(x), &lr);
	for (size_t i = 0; i < lr.nhdr; i++)
		net_add_header(x, lr.hdr_name[i], lr.hdr_value[i]);
	net_respond(x, lr.status, lr.content_type, lr.body, lr.len);
}
