/*
 * Request body processors: urlencoded (lenient decoding, URLENCODED_ERROR),
 * JSON (argument names, error reporting), XML (XPath, errors, no external
 * entities), and multipart: a well-formed body's variables, then every
 * malformation flagged as ModSecurity v3 flags it (each case checks its
 * own flag, MULTIPART_STRICT_ERROR, and REQBODY_ERROR where v3 stops).
 */
#include "waf_test_util.h"

static struct waf_ruleset *rs_body;

static int setup(void **s)
{
	(void)s;
	rs_body = load_rules(ENGINE_ON
		"SecRule REQUEST_HEADERS:Content-Type \"^application/json\" "
		"\"id:1,phase:1,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n"
		"SecRule REQUEST_HEADERS:Content-Type \"^(?:application|text)/xml\" "
		"\"id:2,phase:1,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n"
		"SecRule XML:/order/id \"@streq 42\" \"id:3,phase:2,pass\"\n"
		"SecRule XML \"@contains Widget\" \"id:4,phase:2,pass\"\n"
		"SecRule &XML:/order/item \"@eq 2\" \"id:5,phase:2,pass\"\n");
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	waf_ruleset_free(rs_body);
	return 0;
}

static struct waf_tx *post(const char *ctype, const char *body, size_t len)
{
	struct treq r = { .method = "POST", .uri = "/p",
			  .headers = { { "Content-Type", ctype } },
			  .body = body, .body_len = len };
	return run_req(rs_body, &r, NULL);
}

static const char *v(const struct waf_tx *tx, const char *col, const char *k)
{
	return txvar(tx, col, k);
}

static void test_urlencoded(void **s)
{
	(void)s;
	struct waf_tx *tx = post("application/x-www-form-urlencoded",
				 "a=1&b=x+y%21&c&=empty&d=%zz", 0);
	assert_string_equal(v(tx, "ARGS_POST", "a"), "1");
	assert_string_equal(v(tx, "ARGS_POST", "b"), "x y!");
	assert_string_equal(v(tx, "ARGS_POST", "c"), "");
	assert_string_equal(v(tx, "ARGS_POST_NAMES", "d"), "d");
	assert_string_equal(v(tx, "ARGS", "d"), "%zz");
	assert_string_equal(v(tx, "URLENCODED_ERROR", NULL), "1");
	assert_string_equal(v(tx, "REQBODY_PROCESSOR", NULL), "URLENCODED");
	assert_string_equal(v(tx, "REQBODY_ERROR", NULL), "0");
	assert_string_equal(v(tx, "REQUEST_BODY", NULL),
			    "a=1&b=x+y%21&c&=empty&d=%zz");
	assert_string_equal(v(tx, "REQUEST_BODY_LENGTH", NULL), "27");
	waf_tx_free(tx);
}

static void test_json(void **s)
{
	(void)s;
	struct waf_tx *tx = post("application/json",
				 "{\"a\":{\"b\":[1,\"two\",{\"c\":true}]},\"n\":null,\"\":\"e\","
				 "\"u\":\"\\u00e9\"}", 0);
	assert_string_equal(v(tx, "ARGS", "json.a.b.array_0"), "1");
	assert_string_equal(v(tx, "ARGS", "json.a.b.array_1"), "two");
	assert_string_equal(v(tx, "ARGS", "json.a.b.array_2.c"), "true");
	assert_string_equal(v(tx, "ARGS", "json.n"), "");
	assert_string_equal(v(tx, "ARGS", "json.empty-key"), "e");
	assert_string_equal(v(tx, "ARGS", "json.u"), "\xc3\xa9");
	assert_string_equal(v(tx, "ARGS_NAMES", "json.n"), "json.n");
	assert_null(waf_tx_var(tx, "ARGS_POST", "json.n")); /* v3: not POST */
	assert_string_equal(v(tx, "REQBODY_ERROR", NULL), "0");
	waf_tx_free(tx);

	tx = post("application/json", "[1,[2]]", 0);
	assert_string_equal(v(tx, "ARGS", "json.array_1.array_0"), "2");
	waf_tx_free(tx);

	static const char *bad[] = { "{\"a\":", "{\"a\":1} x", "{'a':1}",
				     "[1,]", "{\"a\":1,\"a\":2,}", "\"\xff\"" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		tx = post("application/json", bad[i], 0);
		assert_string_equal(v(tx, "REQBODY_ERROR", NULL), "1");
		assert_non_null(strstr(v(tx, "REQBODY_ERROR_MSG", NULL),
				       "JSON parsing error"));
		waf_tx_free(tx);
	}
	/* nesting past the limit is an error, not a crash */
	char deep[400];
	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	tx = post("application/json", deep, sizeof(deep));
	assert_string_equal(v(tx, "REQBODY_ERROR", NULL), "1");
	waf_tx_free(tx);
}

static void test_xml(void **s)
{
	(void)s;
	struct waf_tx *tx = post("application/xml",
				 "<?xml version=\"1.0\"?><order><id>42</id>"
				 "<item>Widget</item><item>Gadget</item></order>", 0);
	assert_string_equal(v(tx, "REQBODY_ERROR", NULL), "0");
	assert_true(matched(tx, 3));
	assert_true(matched(tx, 4));
	assert_true(matched(tx, 5));
	waf_tx_free(tx);

	tx = post("text/xml", "<a><b></a>", 0);
	assert_string_equal(v(tx, "REQBODY_ERROR", NULL), "1");
	assert_non_null(strstr(v(tx, "REQBODY_ERROR_MSG", NULL),
			       "XML parsing error"));
	assert_false(matched(tx, 4));
	waf_tx_free(tx);

	/* an external entity is not loaded: its reference stays empty */
	tx = post("application/xml",
		  "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
		  "\"file:///etc/passwd\">]><order>&x;Widget</order>", 0);
	assert_true(matched(tx, 4));
	assert_null(strstr(v(tx, "XML", NULL), "root:"));
	waf_tx_free(tx);
}

#define MP_CT "multipart/form-data; boundary=XyZ"

static struct waf_tx *mp(const char *ctype, const char *body)
{
	return post(ctype, body, 0);
}

static void test_multipart_ok(void **s)
{
	(void)s;
	struct waf_tx *tx = mp(MP_CT,
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"title\"\r\n\r\n"
		"Hello\r\nworld\r\n"
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"up\"; filename=\"a.txt\"\r\n"
		"Content-Type: text/plain\r\n\r\n"
		"file body\r\n"
		"--XyZ--\r\n");
	assert_string_equal(v(tx, "MULTIPART_STRICT_ERROR", NULL), "0");
	assert_string_equal(v(tx, "REQBODY_ERROR", NULL), "0");
	assert_string_equal(v(tx, "ARGS_POST", "title"), "Hello\r\nworld");
	assert_string_equal(v(tx, "FILES", "a.txt"), "a.txt");
	assert_string_equal(v(tx, "FILES_NAMES", "up"), "up");
	assert_string_equal(v(tx, "FILES_SIZES", "up"), "9");
	assert_string_equal(v(tx, "FILES_COMBINED_SIZE", NULL), "9");
	assert_string_equal(v(tx, "FILES_TMP_CONTENT", "a.txt"), "file body");
	assert_string_equal(v(tx, "MULTIPART_PART_HEADERS", "up"),
			    "Content-Disposition: form-data; name=\"up\"; filename=\"a.txt\"");
	assert_string_equal(v(tx, "MULTIPART_FILENAME", NULL), "a.txt");
	assert_string_equal(v(tx, "REQBODY_PROCESSOR", NULL), "MULTIPART");
	waf_tx_free(tx);
}

struct mp_case {
	const char *name;
	const char *ctype;
	const char *body;
	const char *flag;  /* variable expected "1" (NULL: none) */
	bool reqbody_error;
};

static void test_multipart_malformed(void **s)
{
	(void)s;
	static const struct mp_case cases[] = {
		{ "lf lines", MP_CT,
		  "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\n1\n--XyZ--\n",
		  "MULTIPART_LF_LINE", false },
		{ "mixed line ends", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_CRLF_LF_LINES", false },
		{ "quoted boundary", "multipart/form-data; boundary=\"XyZ\"",
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_BOUNDARY_QUOTED", false },
		{ "boundary whitespace", "multipart/form-data; boundary =XyZ",
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_BOUNDARY_WHITESPACE", false },
		{ "missing semicolon", "multipart/form-data boundary=XyZ",
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_MISSING_SEMICOLON", false },
		{ "data before", MP_CT,
		  "junk\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_DATA_BEFORE", false },
		{ "data after", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\nx",
		  "MULTIPART_DATA_AFTER", false },
		{ "header folding", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_HEADER_FOLDING", false },
		{ "invalid folding", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data;\r\n\x0b name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_INVALID_HEADER_FOLDING", false },
		{ "folding first", MP_CT,
		  "--XyZ\r\n Content-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_HEADER_FOLDING", true },
		{ "single quotes", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name='a'\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_INVALID_QUOTING", false },
		{ "quote in name", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a'b\"\r\n\r\n1\r\n--XyZ--\r\n",
		  "MULTIPART_INVALID_QUOTING", false },
		{ "part without headers end", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n--XyZ--\r\n",
		  "MULTIPART_INVALID_PART", false },
		{ "unmatched boundary", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx--XyZ\r\n--XyZ--\r\n",
		  "MULTIPART_UNMATCHED_BOUNDARY", false },
		{ "final boundary missing", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n",
		  NULL, true },
		{ "no boundary in body", MP_CT, "hello\r\n", "MULTIPART_DATA_BEFORE",
		  true },
		{ "garbage after boundary", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZjunk\r\n--XyZ--\r\n",
		  NULL, true },
		{ "no content-disposition", MP_CT,
		  "--XyZ\r\nContent-Type: text/plain\r\n\r\n1\r\n--XyZ--\r\n", NULL,
		  true },
		{ "not form-data", MP_CT,
		  "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
		  NULL, true },
		{ "unknown parameter", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"; x=1\r\n\r\n1\r\n--XyZ--\r\n",
		  NULL, true },
		/* v3 accepts "name=a;" but not "name=a; " */
		{ "trailing semicolon and blank", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"; \r\n\r\n1\r\n--XyZ--\r\n",
		  NULL, true },
		{ "missing name", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data\r\n\r\n1\r\n--XyZ--\r\n",
		  NULL, true },
		{ "duplicate name", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n1\r\n--XyZ--\r\n",
		  NULL, true },
		{ "colon missing", MP_CT,
		  "--XyZ\r\nContent-Disposition form-data\r\n\r\n1\r\n--XyZ--\r\n",
		  NULL, true },
		{ "nul in header", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-A: \0\r\n\r\n1\r\n--XyZ--\r\n",
		  NULL, true },
		{ "no boundary in C-T", "multipart/form-data", "--x\r\n", NULL, true },
		{ "boundary twice", "multipart/form-data; boundary=a; boundary=b",
		  "--a\r\n", NULL, true },
		{ "bad boundary char", "multipart/form-data; boundary=a<b",
		  "--a<b\r\n", NULL, true },
		{ "boundary param case", "multipart/form-data; BOUNDARY=XyZ", "--XyZ\r\n",
		  NULL, true },
		{ "half-quoted boundary", "multipart/form-data; boundary=\"XyZ",
		  "--XyZ\r\n", NULL, true },
		{ "whitespace before boundary", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n-- XyZ--\r\n",
		  NULL, true },
		{ "final boundary twice", MP_CT,
		  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n--XyZ--\r\n",
		  "MULTIPART_DATA_AFTER", false },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		const struct mp_case *c = &cases[i];
		size_t len = strlen(c->body);
		if (strcmp(c->name, "nul in header") == 0)
			len = strlen(c->body) + 1 + strlen(c->body + strlen(c->body) + 1);
		struct waf_tx *tx = post(c->ctype, c->body, len);
		const char *strict = v(tx, "MULTIPART_STRICT_ERROR", NULL);
		const char *err = v(tx, "REQBODY_ERROR", NULL);
		bool ok = strcmp(strict, "1") == 0 ||
			  (c->flag && strcmp(c->flag, "MULTIPART_UNMATCHED_BOUNDARY") == 0);
		if (c->flag && strcmp(v(tx, c->flag, NULL), "1") != 0)
			ok = false;
		if (c->reqbody_error != (strcmp(err, "1") == 0))
			ok = false;
		if (!ok) {
			print_error("multipart case '%s': flag %s=%s strict=%s "
				    "reqbody_error=%s (%s)\n", c->name,
				    c->flag ? c->flag : "-",
				    c->flag ? v(tx, c->flag, NULL) : "-", strict, err,
				    v(tx, "REQBODY_ERROR_MSG", NULL));
			fail();
		}
		waf_tx_free(tx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urlencoded),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_xml),
		cmocka_unit_test(test_multipart_ok),
		cmocka_unit_test(test_multipart_malformed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
