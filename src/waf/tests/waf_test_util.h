/*
 * Helpers shared by the engine tests: load a rule set from text, run one
 * request through all phases, look up matches. Header-only (static) so
 * each test binary stays self-contained.
 */
#ifndef WAF_TEST_UTIL_H
#define WAF_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "waf/waf_int.h"

static inline struct waf_ruleset *load_rules(const char *text)
{
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	if (waf_ruleset_load_buffer("test.conf", text, strlen(text), NULL, &rs,
				    &err) != 0) {
		print_error("load: %s\n", err.msg);
		fail();
	}
	return rs;
}

struct treq {
	const char *method, *uri;
	const char *headers[16][2];
	const char *body;
	size_t body_len; /* 0: strlen(body) */
	enum waf_mode mode; /* 0 (OFF) means BLOCK here; see off */
	bool off;           /* run with WAF_MODE_OFF */
};

/* Runs request phases 1-2, a 200 response through 3-4, and 5. */
static inline struct waf_tx *run_req(const struct waf_ruleset *rs,
			      const struct treq *r, struct waf_decision *d)
{
	struct bw_err err;
	struct waf_tx_opts o = { .mode = r->off ? WAF_MODE_OFF
					: r->mode ? r->mode : WAF_MODE_BLOCK,
				 .client_ip = "10.1.2.3", .client_port = 5555,
				 .server_ip = "10.0.0.1", .server_port = 443,
				 .unique_id = "test-1" };
	struct waf_tx *tx = waf_tx_new(rs, &o, &err);
	assert_non_null(tx);
	const char *m = r->method ? r->method : "GET";
	const char *u = r->uri ? r->uri : "/";
	assert_int_equal(waf_tx_request_line(tx, m, strlen(m), u, strlen(u),
					     "HTTP/1.1", 8), 0);
	for (int i = 0; i < 16 && r->headers[i][0]; i++)
		assert_int_equal(waf_tx_request_header(tx, r->headers[i][0],
						       strlen(r->headers[i][0]),
						       r->headers[i][1],
						       strlen(r->headers[i][1])), 0);
	struct waf_decision dd;
	if (!d)
		d = &dd;
	assert_int_equal(waf_tx_process_request_headers(tx, d), 0);
	if (r->body) {
		size_t n = r->body_len ? r->body_len : strlen(r->body);
		assert_int_equal(waf_tx_append_request_body(tx, r->body, n), 0);
	}
	assert_int_equal(waf_tx_process_request_body(tx, d), 0);
	if (d->verdict == WAF_PASS) {
		assert_int_equal(waf_tx_response_status(tx, 200, "HTTP/1.1", 8), 0);
		assert_int_equal(waf_tx_response_header(tx, "Content-Type", 12,
							"text/html", 9), 0);
		assert_int_equal(waf_tx_process_response_headers(tx, d), 0);
		assert_int_equal(waf_tx_process_response_body(tx, d), 0);
	}
	assert_int_equal(waf_tx_process_logging(tx), 0);
	return tx;
}

static inline bool matched(const struct waf_tx *tx, uint64_t id)
{
	for (size_t i = 0; i < waf_tx_match_count(tx); i++)
		if (waf_tx_match_get(tx, i)->rule_id == id)
			return true;
	return false;
}

/* The match of rule id; fails the test when there is none. */
static inline const struct waf_match *match_of(const struct waf_tx *tx, uint64_t id)
{
	static const struct waf_match none = { .msg = "", .logdata = "" };
	for (size_t i = 0; i < waf_tx_match_count(tx); i++)
		if (waf_tx_match_get(tx, i)->rule_id == id)
			return waf_tx_match_get(tx, i);
	print_error("rule %llu did not match\n", (unsigned long long)id);
	fail();
	return &none;
}

static inline const char *txvar(const struct waf_tx *tx, const char *col,
			 const char *key)
{
	const char *v = waf_tx_var(tx, col, key);
	return v ? v : "(unset)";
}

#define ENGINE_ON "SecRuleEngine On\nSecRequestBodyAccess On\n"

#endif
