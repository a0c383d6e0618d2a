/* Runs the sample corpus in tests/siem/samples/ (see its README.md):
 * every input line through siem_parse_line with a pinned receive time,
 * checking each expected field value, absent field and error reason.
 * Fails with file:line of the first mismatch in each file, and counts
 * the samples so an emptied corpus cannot pass silently. */
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

#define NOW 1718452800000000000LL /* 2024-06-15T12:00:00Z */

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes \t, \n (when nl) and \xNN (when hex) in place. */
static size_t decode(char *s, size_t n, bool nl, bool hex)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			if (s[i + 1] == 't') {
				s[w++] = '\t', i++;
				continue;
			}
			if (nl && s[i + 1] == 'n') {
				s[w++] = '\n', i++;
				continue;
			}
			if (hex && s[i + 1] == 'x' && i + 3 < n &&
			    hexv(s[i + 2]) >= 0 && hexv(s[i + 3]) >= 0) {
				s[w++] = (char)(hexv(s[i + 2]) * 16 +
						hexv(s[i + 3]));
				i += 3;
				continue;
			}
		}
		s[w++] = s[i];
	}
	return w;
}

struct state {
	const char *file;
	struct bw_arena *a;
	struct siem_event ev;
	struct bw_err err;
	int rc;
	bool have;
	int failures, samples, checks;
};

static void check(struct state *st, unsigned lineno, char *l, size_t n)
{
	const char *where = st->file;
	if (!st->have) {
		fprintf(stderr, "%s:%u: expectation before any input\n", where,
			lineno);
		st->failures++;
		return;
	}
	st->checks++;
	if (strncmp(l, "error=", 6) == 0) {
		if (st->rc != -1 || strcmp(st->err.reason, l + 6) != 0) {
			fprintf(stderr, "%s:%u: want error %s, got rc %d (%s)\n",
				where, lineno, l + 6, st->rc, st->err.reason);
			st->failures++;
		}
		return;
	}
	if (st->rc != 0) {
		fprintf(stderr, "%s:%u: parse failed: %s: %s\n", where, lineno,
			st->err.reason, st->err.msg);
		st->failures++;
		st->have = false; /* one report per sample */
		return;
	}
	bool absent = l[0] == '!';
	char *name = absent ? l + 1 : l;
	char *eq = absent ? NULL : strchr(l, '=');
	if (!absent && !eq) {
		fprintf(stderr, "%s:%u: bad expectation\n", where, lineno);
		st->failures++;
		return;
	}
	size_t nl = eq ? (size_t)(eq - name) : strlen(name);
	const char *want = eq ? eq + 1 : NULL;
	size_t wl = eq ? decode(eq + 1, n - (size_t)(eq + 1 - l), true, false)
		       : 0;
	struct bw_str got = { NULL, 0 };
	char ts[32];
	if (nl == 10 && memcmp(name, "@timestamp", 10) == 0) {
		got = bw_str_make(ts, bw_time_format(st->ev.ts_ns, ts));
	} else if (nl > 7 && memcmp(name, "labels.", 7) == 0) {
		got = siem_event_label_get(&st->ev, name + 7, nl - 7);
	} else {
		int f = siem_field_by_name(name, nl);
		if (f < 0) {
			fprintf(stderr, "%s:%u: unknown field %.*s\n", where,
				lineno, (int)nl, name);
			st->failures++;
			return;
		}
		got = siem_event_get(&st->ev, (enum siem_field)f);
	}
	if (absent) {
		if (got.p) {
			fprintf(stderr, "%s:%u: %s should be absent, is '%.*s'\n",
				where, lineno, name, (int)got.len, got.p);
			st->failures++;
		}
		return;
	}
	if (!got.p || got.len != wl || memcmp(got.p, want, wl) != 0) {
		fprintf(stderr, "%s:%u: %.*s: want '%.*s', got '%.*s'\n", where,
			lineno, (int)nl, name, (int)wl, want, (int)got.len,
			got.p ? got.p : "(absent)");
		st->failures++;
	}
}

static void run_file(const char *path, const char *name, struct state *st)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	st->file = name;
	st->have = false;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	const struct siem_parse_opts o = { .now_ns = NOW };
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (line[0] == '>') {
			bool esc = n >= 3 && line[1] == '>' && line[2] == ' ';
			char *in = line + (esc ? 3 : 2);
			size_t len = (size_t)n - (esc ? 3 : 2);
			if (esc)
				len = decode(in, len, false, true);
			bw_err_clear(&st->err);
			st->rc = siem_parse_line(in, len, &o, st->a, &st->ev,
						 &st->err);
			st->have = true;
			st->samples++;
			continue;
		}
		check(st, lineno, line, (size_t)n);
	}
	free(line);
	fclose(f);
}

static void sample_corpus(void **state)
{
	const char *src = getenv("BW_SOURCE_DIR");
	char dir[4096];
	assert_int_equal(bw_snprintf(dir, sizeof(dir), "%s/tests/siem/samples",
				     src ? src : "."), (int)strlen(src ? src : ".") + 19);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct state st = { 0 };
	st.a = bw_arena_new(1 << 16, 1 << 26);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".txt") != 0)
			continue;
		char path[8192];
		assert_true(bw_snprintf(path, sizeof(path), "%s/%s", dir,
					de->d_name) > 0);
		run_file(path, de->d_name, &st);
		files++;
	}
	closedir(d);
	bw_arena_free(st.a);
	fprintf(stderr, "%d files, %d samples, %d checks, %d failures\n",
		files, st.samples, st.checks, st.failures);
	assert_true(files >= 8);
	assert_true(st.samples >= 80);
	assert_int_equal(st.failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sample_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
