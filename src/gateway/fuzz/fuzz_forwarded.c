/*
 * Fuzz target: everything the gateway reads from a client's request head.
 * The input is parsed by the HTTP codec; a complete head then goes through
 * client derivation behind trusted proxies (X-Forwarded-For / Forwarded),
 * the upstream head builder, hop-by-hop collection, bot classification,
 * cookie lookup and challenge-token checking, path screening, the authz
 * object taken from the path and the signed identity header built from
 * the head's values (invariants: object ids carry no separators, the
 * identity value no byte outside its safe set). The raw
 * input also goes straight to the Forwarded element parser and the node
 * address parser. Any crash, sanitizer report or broken invariant (an
 * upstream head with CR/LF inside a field) is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct bw_str rest = bw_str_make((const char *)data, size), f;
	for (int i = 0; i < 64 && gw_forwarded_next(&rest, &f) == 1; i++) {
		struct gw_ip ip;
		if (gw_node_addr(f, &ip) == 0 && f.len == 0)
			abort(); /* an empty node is never an address */
	}
	struct gw_ip ip;
	if (gw_node_addr(bw_str_make((const char *)data, size < 80 ? size : 80), &ip) == 0 &&
	    size == 0)
		abort();

	static struct http_limits lim;
	static struct gw_cidr trusted[3];
	static bool init;
	if (!init) {
		http_limits_default(&lim);
		if (gw_cidr_parse("10.0.0.0/8", 10, &trusted[0]) < 0 ||
		    gw_cidr_parse("127.0.0.0/8", 11, &trusted[1]) < 0 ||
		    gw_cidr_parse("2001:db8::/32", 13, &trusted[2]) < 0)
			abort();
		init = true;
	}
	struct http_header hdrs[100];
	struct http_req_parser p;
	struct http_request req;
	struct bw_err err;
	http_req_parser_init(&p, &lim, hdrs, 100);
	if (http_req_parser_feed(&p, (const char *)data, size, &req, &err) != HTTP_DONE)
		return 0;

	struct gw_client c;
	const char *peers[] = { "127.0.0.1", "203.0.113.1", "2001:db8::9" };
	for (size_t i = 0; i < 3; i++) {
		if (gw_client_derive(trusted, 3, peers[i], &req, &c) < 0)
			abort(); /* peers are valid literals */
		struct bw_buf out;
		bw_buf_init(&out, 1 << 20);
		struct gw_fwd_opts o = { .host = req.host.len ? req.host : BW_STR("up:1"),
					 .client = &c, .peer_ip = peers[i],
					 .tls = i == 1, .send_forwarded = true,
					 .request_id = "fuzz", .body_len = i };
		if (gw_build_request(&out, &req, &o, &err) == 0) {
			/* the head has exactly one blank line, at its end */
			const char *end = strstr(out.data, "\r\n\r\n");
			if (!end || (size_t)(end - out.data) + 4 != out.len)
				abort();
			for (size_t k = 0; k < out.len; k++)
				if (out.data[k] == '\0' ||
				    (out.data[k] == '\n' && (k == 0 || out.data[k - 1] != '\r')))
					abort();
		}
		bw_buf_fini(&out);
	}
	struct gw_hop hop;
	gw_hop_collect(req.headers, req.nheaders, &hop);
	for (size_t i = 0; i < req.nheaders; i++)
		(void)gw_resp_header_skip(&hop, req.headers[i].name);
	struct gw_bot_result b;
	gw_bot_classify(&req, &b);
	if (b.nreasons > GW_BOT_MAX_REASONS)
		abort();
	(void)gw_path_is_suspicious(req.path);
	struct bw_str v;
	static const uint8_t key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";
	if (gw_cookie_get(&req, GW_CHALLENGE_COOKIE, &v))
		(void)gw_challenge_check(key, 32, c.ip_text, 1000, v, (unsigned)(size % 9));

	/* edge auth: the path's segments as an authz object */
	char obj[GW_MAX_AUTHZ_OBJECT + 1];
	static const char *const tmpls[] = { "doc:{1}", "a:{2}#{1}", "x:{12}", "{1}" };
	for (size_t i = 0; i < 4; i++) {
		if (gw_authz_object(tmpls[i], BW_STR("/api"), req.path, obj, sizeof(obj)) < 0)
			continue;
		for (const char *q = obj; *q; q++)
			if (*q == '%' || *q == ' ' || (unsigned char)*q < 0x21)
				abort(); /* hostile segments never reach a check */
	}
	/* ... and header values as identity fields */
	struct gateway_principal pr = { .kind = "jwt" };
	bw_snprintf(pr.subject, sizeof(pr.subject), "%.*s", (int)(req.path.len < 127 ? req.path.len : 127),
		    req.path.p);
	if (req.host.len)
		bw_snprintf(pr.name, sizeof(pr.name), "%.*s",
			    (int)(req.host.len < 127 ? req.host.len : 127), req.host.p);
	char val[GW_MAX_IDENTITY_HEADER], sig[64];
	if (gw_identity_sign(key, 32, &pr, "r", "rid", 1, req.method_str, req.target, val,
			     sizeof(val), sig, sizeof(sig)) == 0)
		for (const char *q = val; *q; q++)
			if (*q == '\r' || *q == '\n' || *q == ' ' || *q == ',' || *q == '"')
				abort(); /* the value stays one safe token list */
	return 0;
}
