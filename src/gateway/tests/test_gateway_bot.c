/*
 * Unit tests of bot management: attack tools by User-Agent and scanner
 * headers, header-consistency heuristics (a real browser head passes, a
 * fake one does not), cookie lookup, and challenge tokens (valid, expired,
 * another IP, tampered, wrong key, proof-of-work with and without the
 * work).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_int.h"
#include "gw_test.h"

static struct gw_bot_result classify(const char *head)
{
	struct gw_bot_result b = { 0 };
	const struct http_request *r = gwt_parse(head);
	assert_non_null(r);
	if (r)
		gw_bot_classify(r, &b);
	return b;
}

static bool has_reason(const struct gw_bot_result *b, const char *why)
{
	for (size_t i = 0; i < b->nreasons; i++)
		if (strcmp(b->reasons[i], why) == 0)
			return true;
	return false;
}

#define BROWSER                                                                \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "      \
	"(KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"

static void attack_tools_are_named(void **state)
{
	const char *uas[] = { "sqlmap/1.7.2#stable (https://sqlmap.org)",
			      "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
			      "Mozilla/5.0 (compatible; Nmap Scripting Engine)",
			      "masscan/1.3", "Mozilla/5.0 zgrab/0.x",
			      "Mozilla/5.0 (X11) Nuclei - Open-source project",
			      "DirBuster-1.0-RC1", "gobuster/3.6", "WPScan v3.8",
			      "Fuzz Faster U Fool v2.0 ffuf", "Wfuzz/3.1" };
	for (size_t i = 0; i < BW_ARRAY_LEN(uas); i++) {
		char head[512];
		assert_int_not_equal(bw_snprintf(head, sizeof(head),
						 "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: %s\r\n\r\n",
						 uas[i]), -1);
		struct gw_bot_result b = classify(head);
		assert_int_equal(b.cls, GW_BOT_TOOL);
		assert_true(has_reason(&b, "attack_tool_user_agent"));
		assert_true(b.tool[0] != '\0');
	}
	struct gw_bot_result b = classify("GET / HTTP/1.1\r\nHost: a\r\n" BROWSER
					  "Acunetix-Product: WVS/12\r\n\r\n");
	assert_int_equal(b.cls, GW_BOT_TOOL);
	assert_true(has_reason(&b, "scanner_header"));
	assert_string_equal(b.tool, "acunetix-product");
}

static void header_consistency(void **state)
{
	struct gw_bot_result b = classify(
		"GET / HTTP/1.1\r\nHost: shop.example\r\n" BROWSER
		"Accept: text/html\r\nAccept-Language: en\r\nAccept-Encoding: gzip\r\n\r\n");
	assert_int_equal(b.cls, GW_BOT_HUMAN);
	assert_int_equal(b.nreasons, 0);

	b = classify("GET / HTTP/1.1\r\nHost: shop.example\r\n" BROWSER "\r\n");
	assert_int_equal(b.cls, GW_BOT_SUSPICIOUS);
	assert_true(has_reason(&b, "browser_without_accept"));
	assert_true(has_reason(&b, "browser_without_accept_language"));

	b = classify("GET / HTTP/1.0\r\n" BROWSER "Accept: */*\r\n"
		     "Accept-Language: en\r\nAccept-Encoding: gzip\r\n\r\n");
	assert_int_equal(b.cls, GW_BOT_SUSPICIOUS);
	assert_true(has_reason(&b, "browser_on_http10"));
	assert_true(has_reason(&b, "no_host"));

	b = classify("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(b.cls, GW_BOT_SUSPICIOUS);
	assert_true(has_reason(&b, "no_user_agent"));

	/* a script is automation but not, by itself, suspicious */
	b = classify("GET / HTTP/1.1\r\nHost: api.example\r\nUser-Agent: curl/8.5.0\r\n"
		     "Accept: */*\r\n\r\n");
	assert_int_equal(b.cls, GW_BOT_HUMAN);
	assert_true(has_reason(&b, "http_library"));

	b = classify("GET / HTTP/1.1\r\nHost: 10.1.2.3:8080\r\nUser-Agent: curl/8\r\n\r\n");
	assert_true(has_reason(&b, "host_is_ip_literal"));
	assert_true(b.nreasons <= GW_BOT_MAX_REASONS);
}

static void cookies(void **state)
{
	const struct http_request *r = gwt_parse(
		"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; __bw_chalx=no\r\n"
		"Cookie: __bw_chal=v1.2.3;b=2\r\n\r\n");
	assert_non_null(r);
	if (!r)
		return;
	struct bw_str v;
	assert_true(gw_cookie_get(r, "__bw_chal", &v));
	assert_true(bw_str_eq_lit(v, "v1.2.3"));
	assert_true(gw_cookie_get(r, "a", &v));
	assert_true(bw_str_eq_lit(v, "1"));
	assert_false(gw_cookie_get(r, "c", &v));
	r = gwt_parse("GET / HTTP/1.1\r\nHost: a\r\nCookie: ;;; =x; __bw_chal\r\n\r\n");
	assert_non_null(r);
	if (r)
		assert_false(gw_cookie_get(r, "__bw_chal", &v));
}

static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[32] = "0123456789abcdef0123456789abcdeX";

static bool check(const char *ip, int64_t now, const char *tok, unsigned bits)
{
	return gw_challenge_check(key, 32, ip, now, bw_str_make(tok, strlen(tok)), bits);
}

static void challenge_cookie_tokens(void **state)
{
	char tok[GW_CHALLENGE_COOKIE_MAX];
	assert_int_equal(gw_challenge_make(key, 32, "192.0.2.1", 2000, tok, sizeof(tok)), 0);
	assert_true(check("192.0.2.1", 1999, tok, 0));
	assert_true(check("192.0.2.1", 2000, tok, 0));
	assert_false(check("192.0.2.1", 2001, tok, 0)); /* expired */
	assert_false(check("192.0.2.2", 1999, tok, 0)); /* another client */
	assert_false(check("192.0.2.1", 1999, tok, 8)); /* pow demanded */
	assert_false(gw_challenge_check(key2, 32, "192.0.2.1", 1999,
					bw_str_make(tok, strlen(tok)), 0));
	/* extending the expiry breaks the MAC */
	char forged[GW_CHALLENGE_COOKIE_MAX];
	assert_int_not_equal(bw_snprintf(forged, sizeof(forged), "c1.9999%s", tok + 7), -1);
	assert_false(check("192.0.2.1", 1999, forged, 0));
	/* every single-character change is refused */
	size_t n = strlen(tok);
	for (size_t i = 0; i < n; i++) {
		char t[GW_CHALLENGE_COOKIE_MAX];
		memcpy(t, tok, n + 1);
		t[i] = t[i] == 'a' ? 'b' : 'a';
		assert_false(check("192.0.2.1", 1999, t, 0));
	}
	const char *junk[] = { "", "c1", "c1.", "c1..", "x1.5.aa", "c1.5.aa.bb",
			       "c1.-5.aa", "c1.99999999999999.aa", "p1.5.aa.bb" };
	for (size_t i = 0; i < BW_ARRAY_LEN(junk); i++)
		assert_false(check("192.0.2.1", 0, junk[i], 0));
	char longtok[300];
	memset(longtok, 'c', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	assert_false(check("192.0.2.1", 0, longtok, 0));
}

static unsigned zero_bits(const char *s)
{
	unsigned char d[32];
	unsigned dl;
	EVP_Digest(s, strlen(s), d, &dl, EVP_sha256(), NULL);
	unsigned z = 0;
	for (int i = 0; i < 32; i++) {
		if (d[i] == 0) {
			z += 8;
			continue;
		}
		z += (unsigned)__builtin_clz(d[i]) - 24;
		break;
	}
	return z;
}

static void challenge_proof_of_work(void **state)
{
	char base[GW_CHALLENGE_COOKIE_MAX], tok[GW_CHALLENGE_COOKIE_MAX];
	assert_int_equal(gw_challenge_make_pow(key, 32, "::1", 5000, base, sizeof(base)), 0);
	/* do the work the browser does: 8 bits take ~256 tries */
	unsigned found = 0;
	for (unsigned c = 0; c < 100000; c++) {
		assert_int_not_equal(bw_snprintf(tok, sizeof(tok), "%s.%u", base, c), -1);
		if (zero_bits(tok) >= 8) {
			found = 1;
			break;
		}
	}
	assert_true(found);
	assert_true(check("::1", 4000, tok, 8));
	assert_false(check("::2", 4000, tok, 8));
	/* a counter that does not do the work */
	for (unsigned c = 0;; c++) {
		assert_int_not_equal(bw_snprintf(tok, sizeof(tok), "%s.%u", base, c), -1);
		if (zero_bits(tok) < 8)
			break;
	}
	assert_false(check("::1", 4000, tok, 8));
	assert_int_not_equal(bw_snprintf(tok, sizeof(tok), "%s.1x", base), -1);
	assert_false(check("::1", 4000, tok, 0));
	assert_int_not_equal(bw_snprintf(tok, sizeof(tok), "%s", base), -1);
	assert_false(check("::1", 4000, tok, 8)); /* no counter */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attack_tools_are_named),
		cmocka_unit_test(header_consistency),
		cmocka_unit_test(cookies),
		cmocka_unit_test(challenge_cookie_tokens),
		cmocka_unit_test(challenge_proof_of_work),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
