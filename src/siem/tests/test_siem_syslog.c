/* Unit tests for the syslog parsers (RFC 5424 with structured data, BOM
 * and NILVALUEs; RFC 3164 with its real-world variations) and the RFC
 * 6587 stream decoder (octet counting, newline framing, any split of the
 * stream, oversized frames, framing errors), plus malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "siem/siem_int.h"

static struct bw_arena *A;
/* 2024-06-15T12:00:00Z: receive time for year inference */
#define NOW 1718452800000000000LL

static int setup(void **state)
{
	A = bw_arena_new(8192, 1 << 22);
	return A ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(A);
	return 0;
}

#define FIELD(ev, f, want)                                                     \
	do {                                                                   \
		struct bw_str v_ = siem_event_get((ev), (f));                  \
		const char *w_ = (want);                                       \
		if (!w_) {                                                     \
			if (v_.p)                                              \
				fail_msg("%s: want absent, got '%.*s'",        \
					 siem_field_name(f), (int)v_.len,      \
					 v_.p);                                \
		} else if (!v_.p || v_.len != strlen(w_) ||                    \
			   memcmp(v_.p, w_, v_.len) != 0) {                    \
			fail_msg("%s: want '%s', got '%.*s'",                  \
				 siem_field_name(f), w_, (int)v_.len,          \
				 v_.p ? v_.p : "(absent)");                    \
		}                                                              \
	} while (0)

static const struct siem_parse_opts opts = { .now_ns = NOW };

static void parses_rfc5424_examples(void **state)
{
	struct siem_event ev;
	struct bw_err err;
	/* RFC 5424 section 6.5, example 1 (with BOM) */
	const char *l1 = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com "
			 "su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick "
			 "on /dev/pts/8";
	assert_int_equal(siem_parse_syslog(l1, strlen(l1), &opts, A, &ev, &err),
			 0);
	assert_true(ev.ts_ns == 1065910455003000000LL);
	FIELD(&ev, SIEM_F_HOST_NAME, "mymachine.example.com");
	FIELD(&ev, SIEM_F_PROCESS_NAME, "su");
	FIELD(&ev, SIEM_F_PROCESS_PID, NULL);
	FIELD(&ev, SIEM_F_LOG_SYSLOG_MSGID, "ID47");
	FIELD(&ev, SIEM_F_LOG_SYSLOG_FACILITY, "4");
	FIELD(&ev, SIEM_F_LOG_SYSLOG_SEVERITY, "2");
	FIELD(&ev, SIEM_F_MESSAGE, "'su root' failed for lonvick on /dev/pts/8");
	FIELD(&ev, SIEM_F_EVENT_ORIGINAL, l1);

	/* example 3: structured data, escapes, no MSG */
	const char *l3 = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com "
			 "evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
			 "eventSource=\"Appli\\\"cation\\]\" eventID=\"1011\"]"
			 "[examplePriority@32473 class=\"high\"]";
	assert_int_equal(siem_parse_syslog(l3, strlen(l3), &opts, A, &ev, &err),
			 0);
	FIELD(&ev, SIEM_F_MESSAGE, NULL);
	assert_int_equal(ev.nlabels, 4);
	struct bw_str v = siem_event_label_get(
		&ev, "sd.exampleSDID@32473.eventSource", 32);
	assert_int_equal(v.len, strlen("Appli\"cation]"));
	assert_memory_equal(v.p, "Appli\"cation]", v.len);
	v = siem_event_label_get(&ev, "sd.examplePriority@32473.class", 30);
	assert_int_equal(v.len, 4);
	/* original stays byte-exact although SD was unescaped */
	FIELD(&ev, SIEM_F_EVENT_ORIGINAL, l3);

	/* all NILVALUEs: receive time stands */
	const char *l4 = "<13>1 - - - - - -";
	assert_int_equal(siem_parse_syslog(l4, strlen(l4), &opts, A, &ev, &err),
			 0);
	assert_true(ev.ts_ns == NOW);
	FIELD(&ev, SIEM_F_HOST_NAME, NULL);

	/* procid and sshd message through the program parser */
	const char *l5 = "<38>1 2024-06-15T11:59:58.123456+02:00 bastion sshd "
			 "4242 - - Failed password for root from 203.0.113.9 "
			 "port 51234 ssh2";
	assert_int_equal(siem_parse_syslog(l5, strlen(l5), &opts, A, &ev, &err),
			 0);
	assert_true(ev.ts_ns == 1718445598123456000LL);
	FIELD(&ev, SIEM_F_PROCESS_PID, "4242");
	FIELD(&ev, SIEM_F_EVENT_CATEGORY, "authentication");
	FIELD(&ev, SIEM_F_EVENT_OUTCOME, "failure");
	FIELD(&ev, SIEM_F_USER_NAME, "root");
	FIELD(&ev, SIEM_F_SOURCE_IP, "203.0.113.9");
	FIELD(&ev, SIEM_F_SOURCE_PORT, "51234");
}

static void rejects_malformed_rfc5424(void **state)
{
	struct siem_event ev;
	struct bw_err err;
	static const struct {
		const char *line, *reason;
	} bad[] = {
		{ "<192>1 - - - - - -", "pri" },
		{ "<01>1 - - - - - -", "pri" },
		{ "<>1 - - - - - -", "pri" },
		{ "<13>1 2003-10-11 host a - - -", "timestamp" },
		{ "<13>1 2003-10-11T22:14:15 host a - - -", "timestamp" },
		{ "<13>1 - host", "header" },
		{ "<13>1 - host app", "header" },
		{ "<13>1 - host app 1 - [x", "sd" },
		{ "<13>1 - host app 1 - [x a=\"b]", "sd" },
		{ "<13>1 - host app 1 - [x a=b]", "sd" },
		{ "<13>1 - host app 1 - [ a=\"b\"]", "sd" },
		{ "<13>1 - host app 1 - x", "sd" },
		{ "<13>1 - host app 1 - [x a=\"b\"]msg", "sd" },
		{ "<13>1 - host app 1 ID0123456789012345678901234567890123 - m",
		  "header" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		int r = siem_parse_rfc5424(bad[i].line, strlen(bad[i].line),
					   &opts, A, &ev, &err);
		if (r != -1)
			fail_msg("accepted: %s", bad[i].line);
		assert_int_equal(err.code, 400);
		if (strcmp(err.reason, bad[i].reason) != 0)
			fail_msg("%s: reason %s, want %s", bad[i].line,
				 err.reason, bad[i].reason);
		/* the raw line is still there to store */
		assert_non_null(ev.f[SIEM_F_EVENT_ORIGINAL].p);
	}
	/* too long */
	struct siem_parse_opts small = opts;
	small.max_line = 10;
	assert_int_equal(siem_parse_syslog("<13>1 - - - - - - hello", 23,
					   &small, A, &ev, &err),
			 -1);
	assert_int_equal(err.code, 413);
}

static void parses_rfc3164_variants(void **state)
{
	struct siem_event ev;
	struct bw_err err;
	/* classic, space-padded day */
	const char *l = "<38>Jun  5 10:01:02 web1 sshd[811]: Accepted publickey "
			"for alice from 192.0.2.10 port 50122 ssh2: ED25519 "
			"SHA256:abc";
	assert_int_equal(siem_parse_syslog(l, strlen(l), &opts, A, &ev, &err),
			 0);
	char ts[32];
	bw_time_format(ev.ts_ns, ts);
	assert_string_equal(ts, "2024-06-05T10:01:02.000Z");
	FIELD(&ev, SIEM_F_HOST_NAME, "web1");
	FIELD(&ev, SIEM_F_PROCESS_NAME, "sshd");
	FIELD(&ev, SIEM_F_PROCESS_PID, "811");
	FIELD(&ev, SIEM_F_EVENT_OUTCOME, "success");
	FIELD(&ev, SIEM_F_USER_NAME, "alice");
	assert_int_equal(siem_event_label_get(&ev, "ssh.method", 10).len, 9);

	/* December line received in June is last year? No: only more than
	 * a month in the future rolls back. Dec in June -> last year. */
	l = "<13>Dec 31 23:59:59 host app: x";
	assert_int_equal(siem_parse_syslog(l, strlen(l), &opts, A, &ev, &err),
			 0);
	bw_time_format(ev.ts_ns, ts);
	assert_string_equal(ts, "2023-12-31T23:59:59.000Z");

	/* missing hostname */
	l = "<86>Jun 15 11:00:00 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; "
	    "USER=root ; COMMAND=/usr/bin/id -u";
	assert_int_equal(siem_parse_syslog(l, strlen(l), &opts, A, &ev, &err),
			 0);
	FIELD(&ev, SIEM_F_HOST_NAME, NULL);
	FIELD(&ev, SIEM_F_PROCESS_NAME, "sudo");
	FIELD(&ev, SIEM_F_USER_NAME, "alice");
	FIELD(&ev, SIEM_F_USER_EFFECTIVE_NAME, "root");
	FIELD(&ev, SIEM_F_PROCESS_COMMAND_LINE, "/usr/bin/id -u");
	FIELD(&ev, SIEM_F_PROCESS_EXECUTABLE, "/usr/bin/id");

	/* rsyslog high-precision timestamp */
	l = "<30>2024-06-15T13:00:00.5+01:00 db1 systemd-logind[500]: New "
	    "session 7 of user bob.";
	assert_int_equal(siem_parse_syslog(l, strlen(l), &opts, A, &ev, &err),
			 0);
	bw_time_format(ev.ts_ns, ts);
	assert_string_equal(ts, "2024-06-15T12:00:00.500Z");
	FIELD(&ev, SIEM_F_HOST_NAME, "db1");
	FIELD(&ev, SIEM_F_USER_NAME, "bob");
	FIELD(&ev, SIEM_F_EVENT_ACTION, "session_opened");

	/* year in the timestamp, and no PRI (a file line) */
	l = "Jun 15 2024 09:08:07 fw kernel: [UFW BLOCK] IN=eth0 OUT= "
	    "MAC=00:11 SRC=198.51.100.23 DST=192.0.2.1 LEN=60 PROTO=TCP "
	    "SPT=44321 DPT=23 WINDOW=1024 SYN URGP=0";
	assert_int_equal(siem_parse_line(l, strlen(l), &opts, A, &ev, &err),
			 0);
	bw_time_format(ev.ts_ns, ts);
	assert_string_equal(ts, "2024-06-15T09:08:07.000Z");
	FIELD(&ev, SIEM_F_EVENT_TYPE, "denied");
	FIELD(&ev, SIEM_F_DESTINATION_PORT, "23");
	FIELD(&ev, SIEM_F_NETWORK_TRANSPORT, "tcp");

	/* no timestamp at all: receive time, whole rest is the message */
	l = "<13>just some text";
	assert_int_equal(siem_parse_syslog(l, strlen(l), &opts, A, &ev, &err),
			 0);
	assert_true(ev.ts_ns == NOW);
	FIELD(&ev, SIEM_F_MESSAGE, "just some text");

	/* tz offset for zoneless timestamps */
	struct siem_parse_opts tz = opts;
	tz.tz_offset_s = 3600;
	l = "<13>Jun 15 13:00:00 h a: x";
	assert_int_equal(siem_parse_syslog(l, strlen(l), &tz, A, &ev, &err), 0);
	bw_time_format(ev.ts_ns, ts);
	assert_string_equal(ts, "2024-06-15T12:00:00.000Z");

	/* bad PRI */
	l = "<999>Jun 15 13:00:00 h a: x";
	assert_int_equal(siem_parse_syslog(l, strlen(l), &opts, A, &ev, &err),
			 -1);
	assert_string_equal(err.reason, "pri");
}

/* ---------------------------------------------------------------- framer */

struct frames {
	char buf[8192];
	size_t len;
	int n, truncated;
};

static void collect(const char *f, size_t n, bool truncated, void *arg)
{
	struct frames *c = arg;
	assert_true(c->len + n + 1 < sizeof(c->buf));
	memcpy(c->buf + c->len, f, n);
	c->len += n;
	c->buf[c->len++] = '|';
	c->buf[c->len] = '\0';
	c->n++;
	c->truncated += truncated;
}

static void feed_split(enum siem_framing mode, size_t max, const char *in,
		       size_t len, size_t step, struct frames *out, int *rc)
{
	struct siem_framer fr;
	struct bw_err err;
	siem_framer_init(&fr, mode, max);
	memset(out, 0, sizeof(*out));
	*rc = 0;
	for (size_t i = 0; i < len && *rc == 0; i += step) {
		size_t k = len - i < step ? len - i : step;
		*rc = siem_framer_feed(&fr, in + i, k, collect, out, &err);
	}
	if (*rc == 0)
		siem_framer_finish(&fr, collect, out);
	siem_framer_fini(&fr);
}

static void frames_any_split(void **state)
{
	const char *in = "12 <13>1 - - -\n"	  /* octet: LF inside */
			 "<13>plain line\r\n"	  /* newline, CRLF */
			 "5 hello"		  /* octet */
			 "\n"			  /* empty line: skipped */
			 "<14>last without LF";	  /* flushed by finish */
	const char *want = "<13>1 - - -\n|<13>plain line|hello|<14>last "
			   "without LF|";
	for (size_t step = 1; step <= strlen(in); step++) {
		struct frames f;
		int rc;
		feed_split(SIEM_FRAMING_AUTO, 1024, in, strlen(in), step, &f,
			   &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(f.buf, want);
		assert_int_equal(f.n, 4);
	}
}

/* NUL ends a line as LF does (some senders terminate frames with it),
 * whichever comes first, across every split of the stream. */
static void frames_nul_terminated(void **state)
{
	static const char in[] = "<13>a b\0<13>c\n<13>\0\0<13>long line d e f\n\0<13>g";
	size_t len = sizeof(in) - 1;
	for (size_t step = 1; step <= len; step++) {
		struct frames f;
		int rc;
		feed_split(SIEM_FRAMING_NEWLINE, 1024, in, len, step, &f, &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(f.buf, "<13>a b|<13>c|<13>|<13>long line d e f|<13>g|");
		assert_int_equal(f.n, 5);
	}
}

static void frames_truncate_oversized(void **state)
{
	/* newline frame longer than max: delivered cut, rest skipped */
	const char *in = "abcdefghijKLMNOP\nnext\n12 0123456789AB7 short!!\n";
	for (size_t step = 1; step <= strlen(in); step++) {
		struct frames f;
		int rc;
		feed_split(SIEM_FRAMING_AUTO, 10, in, strlen(in), step, &f, &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(f.buf, "abcdefghij|next|0123456789|short!!|");
		assert_int_equal(f.truncated, 2);
	}
}

static void framing_errors(void **state)
{
	/* MSG-LEN is NONZERO-DIGIT *DIGIT: "0 " is not an empty frame */
	static const char *const bad[] = { "05 hello", "0 ", "1234567890 x",
					   "12x", "12\n" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		struct frames f;
		int rc;
		feed_split(SIEM_FRAMING_AUTO, 64, bad[i], strlen(bad[i]), 1, &f,
			   &rc);
		assert_int_equal(rc, -1);
	}
	/* octet-only mode refuses a plain line */
	struct frames f;
	int rc;
	feed_split(SIEM_FRAMING_OCTET, 64, "<13>x\n", 6, 3, &f, &rc);
	assert_int_equal(rc, -1);
	/* newline-only mode takes a leading digit as text */
	feed_split(SIEM_FRAMING_NEWLINE, 64, "5 hello\n", 8, 3, &f, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(f.buf, "5 hello|");
	/* an incomplete counted frame at EOF is an error, not a frame */
	struct siem_framer fr;
	struct bw_err err;
	siem_framer_init(&fr, SIEM_FRAMING_AUTO, 64);
	memset(&f, 0, sizeof(f));
	assert_int_equal(siem_framer_feed(&fr, "10 abc", 6, collect, &f, &err),
			 0);
	siem_framer_finish(&fr, collect, &f);
	assert_int_equal(f.n, 0);
	assert_int_equal(fr.errors, 1);
	siem_framer_fini(&fr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(parses_rfc5424_examples, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rejects_malformed_rfc5424,
						setup, teardown),
		cmocka_unit_test_setup_teardown(parses_rfc3164_variants, setup,
						teardown),
		cmocka_unit_test(frames_any_split),
		cmocka_unit_test(frames_nul_terminated),
		cmocka_unit_test(frames_truncate_oversized),
		cmocka_unit_test(framing_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
