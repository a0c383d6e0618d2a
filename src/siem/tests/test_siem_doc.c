/* Unit tests for the compact stored event (siem_doc.c): every sample line
 * of tests/siem/samples (all parsers), JSON and bus-style events round-trip
 * exactly (fields, labels, timestamp, and so byte-identical ECS JSON);
 * values taken from the raw line are stored as references (the form is
 * smaller than the JSON); and hostile documents — every truncation, bad
 * magic, field ids, offsets past the original, label counts, trailing
 * bytes, overlong varints, oversize — fail with 400/413, never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siem/siem_int.h"

static struct bw_arena *A;

static int setup(void **state)
{
	A = bw_arena_new(65536, 64u << 20);
	return A ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(A);
	return 0;
}

static void assert_same_event(const struct siem_event *a, const struct siem_event *b)
{
	assert_int_equal(a->ts_ns, b->ts_ns);
	assert_int_equal(a->labels_dropped, b->labels_dropped);
	for (int f = 0; f < SIEM_F__COUNT; f++) {
		assert_int_equal(a->f[f].p == NULL, b->f[f].p == NULL);
		assert_int_equal(a->f[f].len, b->f[f].len);
		if (a->f[f].len)
			assert_memory_equal(a->f[f].p, b->f[f].p, a->f[f].len);
	}
	assert_int_equal(a->nlabels, b->nlabels);
	for (unsigned i = 0; i < a->nlabels; i++) {
		assert_int_equal(a->labels[i].key.len, b->labels[i].key.len);
		assert_memory_equal(a->labels[i].key.p, b->labels[i].key.p, a->labels[i].key.len);
		assert_int_equal(a->labels[i].value.len, b->labels[i].value.len);
		if (a->labels[i].value.len)
			assert_memory_equal(a->labels[i].value.p, b->labels[i].value.p,
					    a->labels[i].value.len);
	}
}

/* Encodes ev, decodes it, checks equality and identical JSON; returns the
 * compact size and (OUT) the JSON size. */
static size_t round_trip(const struct siem_event *ev, size_t *json_len)
{
	struct bw_buf bin, j1, j2;
	bw_buf_init(&bin, 8u << 20);
	bw_buf_init(&j1, 8u << 20);
	bw_buf_init(&j2, 8u << 20);
	assert_int_equal(siem_event_write_bin(ev, &bin), 0);
	assert_true(siem_doc_is_bin(bin.data, bin.len));
	struct siem_event back;
	struct bw_err err;
	assert_int_equal(siem_event_from_bin(bin.data, bin.len, A, &back, &err), 0);
	assert_same_event(ev, &back);
	assert_int_equal(siem_event_write_json(ev, &j1), 0);
	assert_int_equal(siem_event_write_json(&back, &j2), 0);
	assert_int_equal(j1.len, j2.len);
	assert_memory_equal(j1.data, j2.data, j1.len);
	assert_false(siem_doc_is_bin(j1.data, j1.len));
	size_t n = bin.len;
	if (json_len)
		*json_len = j1.len;
	bw_buf_fini(&bin);
	bw_buf_fini(&j1);
	bw_buf_fini(&j2);
	return n;
}

/* Decodes "\t" and "\xNN" as the samples' ">> " lines do. */
static size_t unescape(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && s[i + 1] == 't') {
			s[o++] = '\t';
			i++;
		} else if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x') {
			char h[3] = { s[i + 2], s[i + 3], 0 };
			s[o++] = (char)strtol(h, NULL, 16);
			i += 3;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

static void every_sample_round_trips(void **state)
{
	const char *src = getenv("BW_SOURCE_DIR");
	char dir[4096];
	assert_true(bw_snprintf(dir, sizeof(dir), "%s/tests/siem/samples", src ? src : ".") > 0);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	unsigned lines = 0, parsed = 0;
	size_t bin_total = 0, json_total = 0;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".txt") != 0)
			continue;
		char path[4400];
		assert_true(bw_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) > 0);
		FILE *fp = fopen(path, "r");
		assert_non_null(fp);
		char line[16384];
		while (fgets(line, sizeof(line), fp)) {
			size_t n = strlen(line);
			while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				n--;
			char *p;
			if (n >= 3 && memcmp(line, ">> ", 3) == 0) {
				p = line + 3;
				n = unescape(p, n - 3);
			} else if (n >= 2 && memcmp(line, "> ", 2) == 0) {
				p = line + 2;
				n -= 2;
			} else {
				continue;
			}
			lines++;
			struct siem_parse_opts o = { .now_ns = 1718452800000000000LL,
						     .observer = "192.0.2.9",
						     .tenant = "acme" };
			struct siem_event ev;
			struct bw_err err;
			/* a failed parse still has event.original: stored too */
			if (siem_parse_line(p, n, &o, A, &ev, &err) == 0)
				parsed++;
			assert_int_equal(siem_event_label(&ev, "source.geo.city_name", 20,
							  "Sydney", 6), 0);
			size_t jl = 0;
			bin_total += round_trip(&ev, &jl);
			json_total += jl;
		}
		fclose(fp);
	}
	closedir(d);
	assert_true(lines >= 80);
	assert_true(parsed >= 70);
	/* values are references into the line: well under the JSON's size */
	assert_true(bin_total * 2 < json_total);
}

static void events_without_a_line_round_trip(void **state)
{
	static const char js[] =
		"{\"@timestamp\":\"2024-06-15T12:00:00.123Z\",\"event\":{\"category\":[\"web\"],"
		"\"action\":\"login\",\"outcome\":\"failure\"},\"source\":{\"ip\":\"203.0.113.7\"},"
		"\"user\":{\"name\":\"al\\\"ice\"},\"message\":\"\",\"labels\":{\"k\":\"v\\n\"}}";
	struct siem_event ev;
	struct bw_err err;
	assert_int_equal(siem_event_from_json(js, sizeof(js) - 1, A, &ev, &err), 0);
	assert_null(ev.f[SIEM_F_EVENT_ORIGINAL].p);
	assert_non_null(ev.f[SIEM_F_MESSAGE].p); /* present and empty */
	round_trip(&ev, NULL);

	/* negative and extreme timestamps, the label cap reached */
	struct siem_event e2;
	siem_event_init(&e2, A);
	e2.ts_ns = -5;
	for (unsigned i = 0; i < SIEM_MAX_LABELS + 3; i++) {
		char *k = bw_arena_printf(A, "l%u", i);
		(void)siem_event_label(&e2, k, strlen(k), "x", 1);
	}
	assert_int_equal(e2.labels_dropped, 3);
	round_trip(&e2, NULL);
	e2.ts_ns = INT64_MIN;
	round_trip(&e2, NULL);
	e2.ts_ns = INT64_MAX;
	round_trip(&e2, NULL);
}

/* A value the parser unescaped in its working copy differs from the raw
 * bytes at its offset: it must be stored as a literal, not a reference. */
static void unescaped_values_stay_literal(void **state)
{
	static const char line[] =
		"CEF:0|V|P|1|7|n|5|msg=a\\=b\\\\c suser=bob cs1=x\\ny cs1Label=note";
	struct siem_parse_opts o = { .now_ns = 1718452800000000000LL };
	struct siem_event ev;
	struct bw_err err;
	assert_int_equal(siem_parse_line(line, sizeof(line) - 1, &o, A, &ev, &err), 0);
	assert_non_null(ev.work);
	round_trip(&ev, NULL);
}

static struct bw_buf sample_doc(void)
{
	static const char line[] = "<38>1 2024-06-15T11:59:58.5Z web1 sshd 4242 - - "
				   "Failed password for root from 203.0.113.7 port 5022 ssh2";
	struct siem_parse_opts o = { .now_ns = 1718452800000000000LL };
	struct siem_event ev;
	struct bw_err err;
	assert_int_equal(siem_parse_line(line, sizeof(line) - 1, &o, A, &ev, &err), 0);
	assert_int_equal(siem_event_label(&ev, "tag", 3, "t", 1), 0);
	struct bw_buf b;
	bw_buf_init(&b, 1u << 20);
	assert_int_equal(siem_event_write_bin(&ev, &b), 0);
	return b;
}

static void expect_bad(const void *p, size_t n, int code)
{
	struct siem_event ev;
	struct bw_err err;
	assert_int_equal(siem_event_from_bin(p, n, A, &ev, &err), -1);
	assert_int_equal(err.code, code);
	assert_string_equal(err.module, "siem");
	/* a failed read leaves an empty event */
	assert_null(ev.f[SIEM_F_EVENT_ORIGINAL].p);
	assert_int_equal(ev.nlabels, 0);
}

static void hostile_documents_are_refused(void **state)
{
	struct bw_buf b = sample_doc();
	unsigned char *d = (unsigned char *)b.data;
	/* every proper prefix is malformed */
	for (size_t n = 0; n < b.len; n++)
		expect_bad(d, n, 400);
	/* trailing garbage */
	unsigned char *big = malloc(b.len + 1);
	assert_non_null(big);
	memcpy(big, d, b.len);
	big[b.len] = 0;
	expect_bad(big, b.len + 1, 400);
	/* bad magic and version */
	memcpy(big, d, b.len);
	big[0] = '{';
	expect_bad(big, b.len, 400);
	memcpy(big, d, b.len);
	big[1] = 2;
	expect_bad(big, b.len, 400);
	/* flip every byte in turn: must decode or fail cleanly */
	for (size_t i = 2; i < b.len; i++) {
		for (unsigned v = 0; v < 256; v += 51) {
			memcpy(big, d, b.len);
			big[i] = (unsigned char)v;
			struct siem_event ev;
			struct bw_err err;
			if (siem_event_from_bin(big, b.len, A, &ev, &err) < 0)
				assert_int_equal(err.code, 400);
		}
	}
	free(big);
	bw_buf_fini(&b);

	/* hand-made: a reference past the original (olen 3: 2 bytes) */
	static const unsigned char ref_past[] = { 0xEC, 1, 0, 0, 3, 'a', 'b',
						  SIEM_F_MESSAGE, (2 << 2) | 1, 1, 0xFF, 0 };
	expect_bad(ref_past, sizeof(ref_past), 400);
	static const unsigned char ref_ok[] = { 0xEC, 1, 0, 0, 3, 'a', 'b',
						SIEM_F_MESSAGE, (1 << 2) | 1, 1, 0xFF, 0 };
	struct siem_event ev;
	struct bw_err err;
	assert_int_equal(siem_event_from_bin(ref_ok, sizeof(ref_ok), A, &ev, &err), 0);
	assert_int_equal(ev.f[SIEM_F_MESSAGE].len, 1);
	assert_int_equal(ev.f[SIEM_F_MESSAGE].p[0], 'b');
	/* a reference with no original */
	static const unsigned char ref_none[] = { 0xEC, 1, 0, 0, 0,
						  SIEM_F_MESSAGE, 1, 0, 0xFF, 0 };
	expect_bad(ref_none, sizeof(ref_none), 400);
	/* field ids: out of range, and event.original as a field */
	static const unsigned char fid[] = { 0xEC, 1, 0, 0, 0, SIEM_F__COUNT, 0, 0xFF, 0 };
	expect_bad(fid, sizeof(fid), 400);
	static const unsigned char forig[] = { 0xEC, 1, 0, 0, 0, SIEM_F_EVENT_ORIGINAL, 0,
					       0xFF, 0 };
	expect_bad(forig, sizeof(forig), 400);
	/* too many labels */
	static const unsigned char nlab[] = { 0xEC, 1, 0, 0, 0, 0xFF, SIEM_MAX_LABELS + 1 };
	expect_bad(nlab, sizeof(nlab), 400);
	/* a literal longer than what is left */
	static const unsigned char lit[] = { 0xEC, 1, 0, 0, 0, SIEM_F_MESSAGE, 31 << 2, 'x',
					     0xFF, 0 };
	expect_bad(lit, sizeof(lit), 400);
	/* dictionary words: a known one reads, past the end does not, and
	 * the fourth value kind does not exist */
	static const unsigned char word[] = { 0xEC, 1, 0, 0, 0, SIEM_F_EVENT_KIND, 2, 0xFF,
					      1, 0xC9, 0x01, 2 }; /* key: word 100 (varint) */
	assert_int_equal(siem_event_from_bin(word, sizeof(word), A, &ev, &err), 0);
	assert_true(bw_str_eq_lit(ev.f[SIEM_F_EVENT_KIND], "event"));
	assert_true(bw_str_eq_lit(ev.labels[0].key, "ssh.method"));
	assert_true(bw_str_eq_lit(ev.labels[0].value, "event"));
	static const unsigned char word_past[] = { 0xEC, 1, 0, 0, 0, SIEM_F_EVENT_KIND,
						   0xfe, 0x0f, 0xFF, 0 };
	expect_bad(word_past, sizeof(word_past), 400);
	static const unsigned char key_past[] = { 0xEC, 1, 0, 0, 0, 0xFF, 1, 0xff, 0x0f, 0 };
	expect_bad(key_past, sizeof(key_past), 400);
	static const unsigned char kind3[] = { 0xEC, 1, 0, 0, 0, SIEM_F_MESSAGE, 3, 0xFF, 0 };
	expect_bad(kind3, sizeof(kind3), 400);
	/* an overlong varint (11 continuation bytes) */
	unsigned char ov[20] = { 0xEC, 1 };
	memset(ov + 2, 0x80, 12);
	expect_bad(ov, sizeof(ov), 400);
	/* a huge length does not wrap */
	static const unsigned char huge[] = { 0xEC, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0x01 };
	expect_bad(huge, sizeof(huge), 400);
	/* labels_dropped above 16 bits */
	static const unsigned char drop[] = { 0xEC, 1, 0, 0x80, 0x80, 0x04, 0, 0xFF, 0 };
	expect_bad(drop, sizeof(drop), 400);
	/* past the size limit */
	expect_bad(ref_ok, (size_t)SIEM_DOC_MAX + 1, 413);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_sample_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(events_without_a_line_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unescaped_values_stay_literal, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_documents_are_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
