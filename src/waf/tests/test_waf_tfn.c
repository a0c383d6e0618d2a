/*
 * Transformation vectors: every t: function of waf_tfn.c on ordinary,
 * edge and hostile input (truncated escapes, invalid UTF-8, NUL bytes,
 * empty strings), checking exact output bytes and that no function
 * writes past waf_tfn_max_out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "waf/waf_int.h"

/* Run t on in (len n) and compare with exp (len en). */
static void check_n(enum waf_tfn t, const char *in, size_t n, const char *exp,
		    size_t en)
{
	size_t cap = waf_tfn_max_out(t, n);
	/* guard bytes catch writes past the announced bound */
	unsigned char *o = malloc(cap + 16);
	assert_non_null(o);
	memset(o, 0xA5, cap + 16);
	size_t l = waf_tfn_run(t, (const unsigned char *)in, n, o);
	assert_true(l <= cap);
	for (size_t i = cap; i < cap + 16; i++)
		assert_int_equal(o[i], 0xA5);
	if (l != en || memcmp(o, exp, en) != 0) {
		print_error("%s(\"%.*s\") = \"%.*s\" (%zu), want \"%.*s\" (%zu)\n",
			    waf_tfn_name(t), (int)n, in, (int)l, o, l, (int)en,
			    exp, en);
		fail();
	}
	free(o);
}

#define CHECK(t, in, exp) check_n(t, in, sizeof(in) - 1, exp, sizeof(exp) - 1)

static void test_case(void **s)
{
	(void)s;
	CHECK(WAF_T_LOWERCASE, "AbC\xC9z", "abc\xC9z");
	CHECK(WAF_T_UPPERCASE, "aBc1", "ABC1");
	CHECK(WAF_T_LOWERCASE, "", "");
}

static void test_url_decode(void **s)
{
	(void)s;
	CHECK(WAF_T_URL_DECODE, "a%20b+c", "a b c");
	CHECK(WAF_T_URL_DECODE, "%3Cscript%3e", "<script>");
	CHECK(WAF_T_URL_DECODE, "100%", "100%");        /* truncated */
	CHECK(WAF_T_URL_DECODE, "%4", "%4");
	CHECK(WAF_T_URL_DECODE, "%zz%41", "%zzA");       /* invalid kept */
	CHECK(WAF_T_URL_DECODE, "%00x", "\0x");
	CHECK(WAF_T_URL_DECODE_UNI, "%u0041%u00e9", "A\xe9");
	CHECK(WAF_T_URL_DECODE_UNI, "%uff1cscript%uFF1E", "<script>"); /* full width */
	CHECK(WAF_T_URL_DECODE_UNI, "%u12", "%u12");   /* truncated %u */
	CHECK(WAF_T_URL_DECODE_UNI, "%uzzzz", "%uzzzz");
	CHECK(WAF_T_URL_DECODE_UNI, "a+%2f", "a /");
	CHECK(WAF_T_URL_ENCODE, "a b<", "a+b%3c");
	CHECK(WAF_T_URL_ENCODE, "AZaz09-_.*", "AZaz09-_.*");
}

static void test_html(void **s)
{
	(void)s;
	CHECK(WAF_T_HTML_ENTITY_DECODE, "&lt;b&gt; &amp; &quot;", "<b> & \"");
	CHECK(WAF_T_HTML_ENTITY_DECODE, "&#60;&#x3c;&#X3C", "<<<");
	CHECK(WAF_T_HTML_ENTITY_DECODE, "&nbsp;", "\xa0");
	CHECK(WAF_T_HTML_ENTITY_DECODE, "&#x263a;", ":");     /* low byte */
	CHECK(WAF_T_HTML_ENTITY_DECODE, "&#;&#x;&foo;&", "&#;&#x;&foo;&");
	CHECK(WAF_T_HTML_ENTITY_DECODE, "&LT", "<");
	CHECK(WAF_T_HTML_ENTITY_DECODE, "&#321;", "A");     /* 0x141: low byte */
}

static void test_js_css(void **s)
{
	(void)s;
	CHECK(WAF_T_JS_DECODE, "\\x3cscript\\u003e", "<script>");
	CHECK(WAF_T_JS_DECODE, "\\n\\t\\'\\\\", "\n\t'\\");
	CHECK(WAF_T_JS_DECODE, "\\101\\0", "A\0");
	CHECK(WAF_T_JS_DECODE, "\\uFF1C", "<");
	CHECK(WAF_T_JS_DECODE, "\\x4", "x4");       /* bad \x: \c -> c */
	CHECK(WAF_T_JS_DECODE, "end\\", "end\\");
	CHECK(WAF_T_CSS_DECODE, "\\3c script\\3E", "<script>");
	CHECK(WAF_T_CSS_DECODE, "a\\\nb", "ab");
	CHECK(WAF_T_CSS_DECODE, "\\e\\x", "\x0ex");
	CHECK(WAF_T_CSS_DECODE, "\\00ff1c", "<");    /* full width */
	CHECK(WAF_T_CSS_DECODE, "\\0000ff1c", "\xff" "1c"); /* six digits max */
	CHECK(WAF_T_CSS_DECODE, "\\", "");
}

static void test_escape_hex(void **s)
{
	(void)s;
	CHECK(WAF_T_ESCAPE_SEQ_DECODE, "a\\nb\\x41\\101\\q", "a\nbAA\\q");
	CHECK(WAF_T_ESCAPE_SEQ_DECODE, "\\", "\\");
	CHECK(WAF_T_HEX_DECODE, "414243", "ABC");
	CHECK(WAF_T_HEX_DECODE, "41z", "Az");
	CHECK(WAF_T_HEX_ENCODE, "AB\xff", "4142ff");
	CHECK(WAF_T_SQL_HEX_DECODE, "0x414243 or 0x4", "ABC or 0x4");
	CHECK(WAF_T_SQL_HEX_DECODE, "x0x", "x0x");
}

static void test_base64(void **s)
{
	(void)s;
	CHECK(WAF_T_BASE64_ENCODE, "hello", "aGVsbG8=");
	CHECK(WAF_T_BASE64_ENCODE, "", "");
	CHECK(WAF_T_BASE64_ENCODE, "ab", "YWI=");
	CHECK(WAF_T_BASE64_DECODE, "aGVsbG8=", "hello");
	CHECK(WAF_T_BASE64_DECODE, "aGVs bG8=", "hel");   /* stops */
	CHECK(WAF_T_BASE64_DECODE_EXT, "aGVs bG8=", "hello"); /* skips */
	CHECK(WAF_T_BASE64_DECODE, "!!!!", "");
}

static void test_whitespace(void **s)
{
	(void)s;
	CHECK(WAF_T_COMPRESS_WHITESPACE, "a  \t\nb\xa0\xa0" "c", "a b c");
	CHECK(WAF_T_REMOVE_WHITESPACE, " a\tb\nc\xa0", "abc");
	CHECK(WAF_T_TRIM, "  a b  ", "a b");
	CHECK(WAF_T_TRIM_LEFT, "  a ", "a ");
	CHECK(WAF_T_TRIM_RIGHT, "  a ", "  a");
	CHECK(WAF_T_TRIM, "   ", "");
	CHECK(WAF_T_REMOVE_NULLS, "a\0b\0", "ab");
	CHECK(WAF_T_REPLACE_NULLS, "a\0b", "a b");
}

static void test_cmdline(void **s)
{
	(void)s;
	CHECK(WAF_T_CMD_LINE, "C^md.EXE /C \"dir\"", "cmd.exe/c dir");
	CHECK(WAF_T_CMD_LINE, "ls  ;  id,whoami", "ls id whoami");
	CHECK(WAF_T_CMD_LINE, "echo (x)", "echo(x)");
	CHECK(WAF_T_CMD_LINE, "w'h'o\\ami", "whoami");
}

static void test_paths(void **s)
{
	(void)s;
	CHECK(WAF_T_NORMALISE_PATH, "/a/b/../c/./d//e", "/a/c/d/e");
	CHECK(WAF_T_NORMALISE_PATH, "/../../etc/passwd", "/etc/passwd");
	CHECK(WAF_T_NORMALISE_PATH, "../../etc/passwd", "../../etc/passwd");
	CHECK(WAF_T_NORMALISE_PATH, "a/b/", "a/b/");
	CHECK(WAF_T_NORMALISE_PATH, "a/..", "");
	CHECK(WAF_T_NORMALISE_PATH_WIN, "c:\\a\\..\\b", "c:/b");
	CHECK(WAF_T_NORMALISE_PATH, "", "");
}

static void test_comments(void **s)
{
	(void)s;
	CHECK(WAF_T_REMOVE_COMMENTS, "a/*x*/b<!--y-->c--z\nd#q", "abc\nd");
	CHECK(WAF_T_REMOVE_COMMENTS, "a/*open", "a");
	CHECK(WAF_T_REPLACE_COMMENTS, "1/**/or/*x*/1", "1 or 1");
	CHECK(WAF_T_REPLACE_COMMENTS, "a/*", "a ");
	CHECK(WAF_T_REMOVE_COMMENTS_CHAR, "a/*b*/c--d#e<!--f-->", "abcdef");
}

static void test_utf8(void **s)
{
	(void)s;
	CHECK(WAF_T_UTF8_TO_UNICODE, "a\xc3\xa9", "a%u00e9");
	CHECK(WAF_T_UTF8_TO_UNICODE, "\xe2\x82\xac", "%u20ac");
	CHECK(WAF_T_UTF8_TO_UNICODE, "\xf0\x9f\x98\x80", "%u1f600");
	/* overlong: converted and followed by the lead byte, as v3 */
	CHECK(WAF_T_UTF8_TO_UNICODE, "\xc0\xaf", "%u002f\xc0");
	/* truncated or bad continuation: the lead byte is dropped */
	CHECK(WAF_T_UTF8_TO_UNICODE, "a\xc3", "a");
	CHECK(WAF_T_UTF8_TO_UNICODE, "\xc3(", "(");
	CHECK(WAF_T_UTF8_TO_UNICODE, "\x80\xff", "\x80\xff");
	CHECK(WAF_T_UTF8_TO_UNICODE, "a\0b", "ab");
}

static void test_digest_length(void **s)
{
	(void)s;
	CHECK(WAF_T_LENGTH, "hello", "5");
	CHECK(WAF_T_LENGTH, "", "0");
	CHECK(WAF_T_MD5, "",
	      "\xd4\x1d\x8c\xd9\x8f\x00\xb2\x04\xe9\x80\x09\x98\xec\xf8\x42\x7e");
	CHECK(WAF_T_SHA1, "abc",
	      "\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78\x50\xc2\x6c"
	      "\x9c\xd0\xd8\x9d");
	CHECK(WAF_T_NONE, "x\0y", "x\0y");
}

static void test_parity(void **s)
{
	(void)s;
	CHECK(WAF_T_PARITY_ZERO_7BIT, "\xc1\x41", "AA");
	CHECK(WAF_T_PARITY_EVEN_7BIT, "A", "A");       /* 0x41 has even bits */
	CHECK(WAF_T_PARITY_EVEN_7BIT, "C", "\xc3");    /* 0x43 odd -> set */
	CHECK(WAF_T_PARITY_ODD_7BIT, "A", "\xc1");
	CHECK(WAF_T_PARITY_ODD_7BIT, "C", "C");
}

/* Every transformation on every byte and on long hostile runs stays
 * within its bound (the guard check is in check_n's twin below). */
static void test_bounds_all(void **s)
{
	(void)s;
	unsigned char in[600];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + (i >> 3));
	const char *hostile[] = { "%u%u%u%", "&#&#x&#x1", "\\u\\x\\0\\",
				  "\xc3\xc3\xf0\x9f", "/*/*<!--", "0x0x0x" };
	for (int t = 0; t < WAF_T__COUNT; t++) {
		for (int round = 0; round < 2 + (int)BW_ARRAY_LEN(hostile); round++) {
			const unsigned char *p = in;
			size_t n = sizeof(in);
			if (round == 1)
				n = 0;
			if (round >= 2) {
				p = (const unsigned char *)hostile[round - 2];
				n = strlen(hostile[round - 2]);
			}
			size_t cap = waf_tfn_max_out((enum waf_tfn)t, n);
			unsigned char *o = malloc(cap + 8);
			assert_non_null(o);
			memset(o, 0x5A, cap + 8);
			size_t l = waf_tfn_run((enum waf_tfn)t, p, n, o);
			assert_true(l <= cap);
			for (size_t k = cap; k < cap + 8; k++)
				assert_int_equal(o[k], 0x5A);
			free(o);
		}
	}
}

/* The identity fast path: for every transformation, a value whose
 * features miss the transformation's triggers must come out unchanged.
 * Values are drawn from the bytes the transformations react to, so
 * near-misses ("0y", "/ *", "-x-", ". ") are common; hand-picked ones
 * cover the edges. */
static void test_tfn_identity(void **s)
{
	(void)s;
	static const char alpha[] = "aZx%+&\\\0\x80\xa0/.\"'^,;(\t\n \v*-#0u<!>=";
	static const char *const fixed[] = {
		".", "..", "a/b", "/", "a b", "a  b", " a", "a ", "a (b", "a/(b",
		"0x41", "0y41", "x0", "-", "--", "-x-", "/*", "* /", "*/", "#",
		"&amp", "\\x41", "%41", "+", "\xc3\xa9", "",
	};
	unsigned seed = 12345;
	unsigned char in[24], out[24 * 4 + 8];
	size_t checked = 0;
	for (int t = 0; t < WAF_T__COUNT; t++) {
		uint32_t trig = waf_tfn_trigger((enum waf_tfn)t);
		for (int k = 0; k < 20000 + (int)BW_ARRAY_LEN(fixed); k++) {
			size_t n;
			if (k < (int)BW_ARRAY_LEN(fixed)) {
				n = strlen(fixed[k]);
				memcpy(in, fixed[k], n);
			} else {
				seed = seed * 1103515245u + 12345u;
				n = (seed >> 16) % sizeof(in);
				for (size_t i = 0; i < n; i++) {
					seed = seed * 1103515245u + 12345u;
					in[i] = (unsigned char)alpha[(seed >> 16) % (sizeof(alpha) - 1)];
				}
			}
			if (waf_tfn_features(in, n) & trig)
				continue;
			assert_true(waf_tfn_max_out((enum waf_tfn)t, n) <= sizeof(out));
			size_t l = waf_tfn_run((enum waf_tfn)t, in, n, out);
			assert_int_equal(l, n);
			assert_memory_equal(out, in, n);
			checked++;
		}
	}
	/* the generator reached the identity case for many values */
	assert_true(checked > 10000);
	/* features: pairs and whole-value properties */
	assert_true(waf_tfn_features((const unsigned char *)".", 1) & WAF_TF_DOTVAL);
	assert_false(waf_tfn_features((const unsigned char *)"..", 2) & WAF_TF_DOTVAL);
	assert_true(waf_tfn_features((const unsigned char *)"a  b", 4) & WAF_TF_WSRUN);
	assert_false(waf_tfn_features((const unsigned char *)"a b", 3) & WAF_TF_WSRUN);
	assert_true(waf_tfn_features((const unsigned char *)"a (", 3) & WAF_TF_SPSLASH);
	assert_true(waf_tfn_features((const unsigned char *)"a*/", 3) & WAF_TF_CMT);
	assert_true(waf_tfn_features((const unsigned char *)" a", 2) & WAF_TF_EDGEWS);
	assert_true(waf_tfn_trigger(WAF_T_BASE64_DECODE) & WAF_TF_ALWAYS);
	assert_int_equal(waf_tfn_trigger(WAF_T_NONE), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_url_decode),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_js_css),
		cmocka_unit_test(test_escape_hex),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_digest_length),
		cmocka_unit_test(test_parity),
		cmocka_unit_test(test_bounds_all),
		cmocka_unit_test(test_tfn_identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
