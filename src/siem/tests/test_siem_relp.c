/* Unit tests for the RELP wire format: frames as rsyslog's omrelp sends
 * them (open with offers, syslog, close), every split of a stream into
 * partial reads, zero-length data, and hostile input (bad numbers,
 * overlong commands and numbers, missing SP/LF, DATALEN past the limit,
 * header garbage), plus offers and response frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "siem/siem_int.h"

static const char OPEN_DATA[] = "relp_version=0\nrelp_software=librelp,1.11.0,"
				"http://librelp.adiscon.com\ncommands=syslog";

static void parses_omrelp_session(void **state)
{
	char stream[512];
	int n = snprintf(stream, sizeof(stream),
			 "1 open %zu %s\n2 syslog 30 <13>Jun 15 12:00:00 h t: hi\n"
			 "3 close 0\n",
			 strlen(OPEN_DATA), OPEN_DATA);
	assert_true(n > 0);
	/* the syslog payload above is 30 bytes */
	assert_int_equal(strlen("<13>Jun 15 12:00:00 h t: hi"), 27);
	/* fix the length of frame 2 for the real payload */
	n = snprintf(stream, sizeof(stream),
		     "1 open %zu %s\n2 syslog 27 <13>Jun 15 12:00:00 h t: hi\n"
		     "3 close 0\n",
		     strlen(OPEN_DATA), OPEN_DATA);
	struct siem_relp_frame f;
	struct bw_err err;
	size_t used, off = 0;
	assert_int_equal(siem_relp_parse(stream, (size_t)n, 0, &f, &used, &err), 1);
	assert_int_equal(f.txnr, 1);
	assert_string_equal(f.cmd, "open");
	assert_int_equal(f.data.len, strlen(OPEN_DATA));
	struct siem_relp_offers o;
	assert_int_equal(siem_relp_parse_offers(f.data.p, f.data.len, &o, &err), 0);
	assert_int_equal(o.version, 0);
	assert_true(o.syslog);
	assert_string_equal(o.software, "librelp,1.11.0,http://librelp.adiscon.com");
	off += used;
	assert_int_equal(siem_relp_parse(stream + off, (size_t)n - off, 0, &f, &used, &err), 1);
	assert_int_equal(f.txnr, 2);
	assert_string_equal(f.cmd, "syslog");
	assert_true(f.data.len == 27 && memcmp(f.data.p, "<13>Jun", 7) == 0);
	off += used;
	assert_int_equal(siem_relp_parse(stream + off, (size_t)n - off, 0, &f, &used, &err), 1);
	assert_int_equal(f.txnr, 3);
	assert_string_equal(f.cmd, "close");
	assert_int_equal(f.data.len, 0);
	off += used;
	assert_int_equal(off, (size_t)n);
	assert_int_equal(siem_relp_parse(stream + off, 0, 0, &f, &used, &err), 0);
}

/* Every prefix of a valid frame asks for more and consumes nothing; the
 * full frame parses. */
static void every_prefix_needs_more(void **state)
{
	const char *fr = "123456789 syslog 11 hello world\n";
	size_t n = strlen(fr);
	struct siem_relp_frame f;
	struct bw_err err;
	size_t used;
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(siem_relp_parse(fr, k, 0, &f, &used, &err), 0);
		assert_int_equal(used, 0);
	}
	assert_int_equal(siem_relp_parse(fr, n, 0, &f, &used, &err), 1);
	assert_int_equal(used, n);
	assert_int_equal(f.txnr, 123456789);
}

static void refuses_malformed(void **state)
{
	static const char *bad[] = {
		"x syslog 1 a\n",	     /* txnr not a number */
		"1234567890 syslog 1 a\n",   /* txnr of 10 digits */
		" 1 syslog 1 a\n",	     /* leading space */
		"1  syslog 1 a\n",	     /* empty command */
		"1 sys-log 1 a\n",	     /* non-letter in command */
		"1 abcdefghijklmnopqrstuvwxyzabcdefg 1 a\n", /* 33 letters */
		"1 syslog x\n",		     /* datalen not a number */
		"1 syslog 1a\n",	     /* no SP before data */
		"1 syslog 1 ab\n",	     /* data longer than DATALEN: no LF */
		"1 syslog 0 \n",	     /* SP after zero length */
		"1 syslog 1234567890 a\n",   /* datalen of 10 digits */
		"1\tsyslog 1 a\n",	     /* tab separator */
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		struct siem_relp_frame f;
		struct bw_err err = { 0 };
		size_t used = 99;
		int r = siem_relp_parse(bad[i], strlen(bad[i]), 0, &f, &used, &err);
		if (r != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(used, 0);
		assert_int_equal(err.code, 400);
		assert_string_equal(err.reason, "relp_framing");
	}
}

static void refuses_oversized_from_header(void **state)
{
	struct siem_relp_frame f;
	struct bw_err err;
	size_t used;
	/* only the header has arrived: refused before the data is buffered */
	const char *h = "7 syslog 5000 ";
	assert_int_equal(siem_relp_parse(h, strlen(h), 4096, &f, &used, &err), -1);
	assert_int_equal(err.code, 413);
	assert_string_equal(err.reason, "too_large");
	/* at the limit it is fine */
	char buf[4200];
	int n = snprintf(buf, sizeof(buf), "7 syslog 4096 ");
	memset(buf + n, 'a', 4096);
	buf[n + 4096] = '\n';
	assert_int_equal(siem_relp_parse(buf, (size_t)n + 4097, 4096, &f, &used, &err), 1);
	assert_int_equal(f.data.len, 4096);
	/* garbage with no header end is not waited for forever */
	char junk[100];
	memset(junk, '1', sizeof(junk));
	assert_int_equal(siem_relp_parse(junk, 9, 0, &f, &used, &err), 0);
	assert_int_equal(siem_relp_parse(junk, sizeof(junk), 0, &f, &used, &err), -1);
	memcpy(junk, "1 ", 2);
	memset(junk + 2, 'a', sizeof(junk) - 2);
	assert_int_equal(siem_relp_parse(junk, 20, 0, &f, &used, &err), 0);
	assert_int_equal(siem_relp_parse(junk, sizeof(junk), 0, &f, &used, &err), -1);
}

static void data_may_hold_anything(void **state)
{
	/* LF, NUL and digits inside DATA are data, not framing */
	const char fr[] = "5 syslog 6 a\n\0 9\n\n";
	struct siem_relp_frame f;
	struct bw_err err;
	size_t used;
	assert_int_equal(siem_relp_parse(fr, sizeof(fr) - 1, 0, &f, &used, &err), 1);
	assert_int_equal(f.data.len, 6);
	assert_memory_equal(f.data.p, "a\n\0 9\n", 6);
	assert_int_equal(used, sizeof(fr) - 1);
}

static void offers(void **state)
{
	struct siem_relp_offers o;
	struct bw_err err;
	const char *v1 = "relp_version=1\ncommands=eventlog,syslog";
	assert_int_equal(siem_relp_parse_offers(v1, strlen(v1), &o, &err), 0);
	assert_int_equal(o.version, 1);
	assert_true(o.syslog);
	const char *nosys = "relp_version=0\ncommands=eventlog\nfuture_offer=1,2";
	assert_int_equal(siem_relp_parse_offers(nosys, strlen(nosys), &o, &err), 0);
	assert_false(o.syslog);
	const char *nover = "commands=syslog";
	assert_int_equal(siem_relp_parse_offers(nover, strlen(nover), &o, &err), -1);
	assert_string_equal(err.reason, "relp_offer");
	const char *badver = "relp_version=x";
	assert_int_equal(siem_relp_parse_offers(badver, strlen(badver), &o, &err), -1);
	const char *noname = "=3\nrelp_version=0";
	assert_int_equal(siem_relp_parse_offers(noname, strlen(noname), &o, &err), -1);
	char many[1024] = "relp_version=0";
	for (int i = 0; i < 20; i++)
		strncat(many, "\nx=1", sizeof(many) - strlen(many) - 1);
	assert_int_equal(siem_relp_parse_offers(many, strlen(many), &o, &err), -1);
	assert_int_equal(err.code, 413);
	/* control bytes in relp_software are neutralised */
	const char sw[] = "relp_version=0\nrelp_software=a\x1b[2Jb";
	assert_int_equal(siem_relp_parse_offers(sw, sizeof(sw) - 1, &o, &err), 0);
	assert_string_equal(o.software, "a?[2Jb");
}

static void responses(void **state)
{
	struct bw_buf b;
	bw_buf_init(&b, 64);
	assert_int_equal(siem_relp_rsp(&b, 42, "200 OK", 6), 0);
	assert_int_equal(siem_relp_rsp(&b, 43, NULL, 0), 0);
	assert_string_equal(b.data, "42 rsp 6 200 OK\n43 rsp 0\n");
	/* a response that does not fit leaves the buffer as it was */
	size_t len = b.len;
	char big[80];
	memset(big, 'x', sizeof(big));
	assert_int_equal(siem_relp_rsp(&b, 44, big, sizeof(big)), -1);
	assert_int_equal(b.len, len);
	assert_string_equal(b.data, "42 rsp 6 200 OK\n43 rsp 0\n");
	/* what we send parses as RELP */
	struct siem_relp_frame f;
	struct bw_err err;
	size_t used;
	assert_int_equal(siem_relp_parse(b.data, b.len, 0, &f, &used, &err), 1);
	assert_string_equal(f.cmd, "rsp");
	assert_int_equal(f.txnr, 42);
	bw_buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_omrelp_session),
		cmocka_unit_test(every_prefix_needs_more),
		cmocka_unit_test(refuses_malformed),
		cmocka_unit_test(refuses_oversized_from_header),
		cmocka_unit_test(data_may_hold_anything),
		cmocka_unit_test(offers),
		cmocka_unit_test(responses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
