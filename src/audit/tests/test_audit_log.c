/*
 * Tests for the live log and the verifier: append and reopen, the chain on
 * disk, tamper detection reported at the right record (altered, removed,
 * swapped, inserted, truncated, forged STH, rewritten chain, time going
 * back), torn-tail recovery, refusal to open a corrupt log, queue-full
 * refusal, async appends, concurrent appends, timed STHs, live proofs, and
 * durability under kill -9 (a child appends and reports each acknowledged
 * seq through a pipe; after SIGKILL every acknowledged seq is on disk).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit_int.h"

/* ---------------------------------------------------------- fixtures */

struct fx {
	char dir[256];
	char key[300];
	char path[300];
	struct audit_signer signer;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/bw-audit-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->key, sizeof(f->key), "%s/audit_sth.key", f->dir);
	snprintf(f->path, sizeof(f->path), "%s/audit.log", f->dir);
	struct bw_err err = { 0 };
	if (audit_signer_file_init(&f->signer, f->key, &err) < 0) {
		fprintf(stderr, "signer: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	audit_signer_file_fini(&f->signer);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct audit_log *open_log(struct fx *f, uint64_t every,
				  const struct audit_signer *signer)
{
	struct audit_config c;
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.sth_every_records = every;
	c.sth_every_ms = 0;
	c.signer = signer;
	struct bw_err err = { 0 };
	struct audit_log *log = audit_log_open(&c, &err);
	if (!log)
		fail_msg("open: %s", err.msg);
	return log;
}

static struct audit_record rec_n(unsigned i, char *buf, size_t cap)
{
	snprintf(buf, cap, "t-%02u", i);
	struct audit_record r = {
		.actor = { .tenant = BW_STR("acme"),
			   .kind = AUDIT_ACTOR_USER,
			   .id = BW_STR("alice"),
			   .ip = BW_STR("192.0.2.10") },
		.action = BW_STR("user.update"),
		.target = bw_str_make(buf, strlen(buf)),
		.outcome = AUDIT_OUTCOME_SUCCESS,
		.request_id = BW_STR("r"),
		.details = BW_STR("{\"field\":\"email\"}"),
	};
	return r;
}

static void append_n(struct audit_log *log, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		char buf[32];
		struct audit_record r = rec_n(i, buf, sizeof(buf));
		uint64_t seq = 999;
		struct bw_err err = { 0 };
		if (audit_append(log, &r, &seq, &err) < 0)
			fail_msg("append %u: %s", i, err.msg);
		assert_int_equal(seq, i);
	}
}

/* 20 records with an STH after every 5: rec k is on line k + k/5 + 1. */
static void make_standard_log(struct fx *f)
{
	struct audit_log *log = open_log(f, 5, &f->signer);
	append_n(log, 0, 20);
	assert_int_equal(audit_log_close(log, NULL), 0);
}

/* Lines of a file, editable, joined back for verification. */
struct lines {
	char *l[256];
	size_t n;
};

static void lines_read(const char *path, struct lines *ls)
{
	size_t len;
	char *data = bw_file_read(path, 1 << 24, &len, NULL);
	assert_non_null(data);
	ls->n = 0;
	char *s = data;
	while (*s) {
		char *nl = strchr(s, '\n');
		assert_non_null(nl);
		assert_true(ls->n < 256);
		ls->l[ls->n++] = strndup(s, (size_t)(nl - s));
		s = nl + 1;
	}
	free(data);
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->l[i]);
	ls->n = 0;
}

static char *lines_join(const struct lines *ls, size_t *len)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 24);
	for (size_t i = 0; i < ls->n; i++) {
		assert_int_equal(bw_buf_append_str(&b, ls->l[i]), 0);
		assert_int_equal(bw_buf_append_byte(&b, '\n'), 0);
	}
	if (b.data == NULL)
		assert_int_equal(bw_buf_reserve(&b, 1), 0);
	return bw_buf_detach(&b, len);
}

static void lines_write(const struct lines *ls, const char *path)
{
	size_t len;
	char *p = lines_join(ls, &len);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, len, fp), len);
	fclose(fp);
	free(p);
}

/* Index of the record line with this seq. */
static size_t idx_of_seq(const struct lines *ls, unsigned seq)
{
	char pat[32];
	snprintf(pat, sizeof(pat), "\"seq\":%u,", seq);
	for (size_t i = 0; i < ls->n; i++)
		if (strstr(ls->l[i], pat))
			return i;
	fail_msg("no seq %u", seq);
	return 0;
}

static size_t idx_of_sth(const struct lines *ls, unsigned size)
{
	char pat[48];
	snprintf(pat, sizeof(pat), "\"tree_size\":%u,", size);
	for (size_t i = 0; i < ls->n; i++)
		if (strstr(ls->l[i], pat))
			return i;
	fail_msg("no STH %u", size);
	return 0;
}

static void replace_in(char **line, const char *from, const char *to)
{
	char *at = strstr(*line, from);
	assert_non_null(at);
	size_t n = strlen(*line) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);
	snprintf(out, n, "%.*s%s%s", (int)(at - *line), *line, to,
		 at + strlen(from));
	free(*line);
	*line = out;
}

/* Recompute every record's prev from the top: what an attacker who can
 * rewrite the file (but not sign) would do to hide an edit. */
static void rechain(struct lines *ls)
{
	uint8_t prev[AUDIT_HASH_LEN] = { 0 };
	for (size_t i = 0; i < ls->n; i++) {
		if (!strstr(ls->l[i], "\"type\":\"record\""))
			continue;
		char *at = strstr(ls->l[i], "\"prev\":\"");
		assert_non_null(at);
		char hex[2 * AUDIT_HASH_LEN + 1];
		bw_hex_encode(prev, AUDIT_HASH_LEN, hex);
		memcpy(at + 8, hex, 2 * AUDIT_HASH_LEN);
		audit_sha256(ls->l[i], strlen(ls->l[i]), NULL, 0, NULL, 0, prev);
	}
}

static void verify_expect(struct fx *f, const struct lines *ls,
			  enum audit_fault fault, uint64_t seq, uint64_t line)
{
	size_t len;
	char *p = lines_join(ls, &len);
	struct audit_verify_opts o = { .pubkey = f->signer.pubkey };
	struct audit_verify_result res;
	int rc = audit_verify_buf(p, len, &o, &res);
	free(p);
	if (res.fault != fault || (fault != AUDIT_FAULT_NONE &&
				   (res.seq != seq || res.line != line)))
		fail_msg("want %s seq %llu line %llu; got %s seq %llu line "
			 "%llu: %s",
			 audit_fault_name(fault), (unsigned long long)seq,
			 (unsigned long long)line, audit_fault_name(res.fault),
			 (unsigned long long)res.seq,
			 (unsigned long long)res.line, res.what);
	assert_int_equal(rc, fault == AUDIT_FAULT_NONE ? 0 : -1);
}

/* ------------------------------------------------------------- tests */

static void test_append_verify_reopen(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	struct audit_verify_opts o = { .pubkey = f->signer.pubkey };
	struct audit_verify_result res;
	struct bw_err err = { 0 };
	assert_int_equal(audit_verify_file(f->path, &o, &res, &err), 0);
	assert_int_equal(res.records, 20);
	assert_int_equal(res.sths, 4);
	assert_int_equal(res.last_sth_size, 20);
	assert_int_equal(res.lines, 24);
	assert_true(res.key_pinned);

	/* Reopen: the chain continues at seq 20; close signs again. */
	struct audit_log *log = open_log(f, 5, &f->signer);
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	audit_log_root(log, &size, root);
	assert_int_equal(size, 20);
	assert_memory_equal(root, res.root, AUDIT_HASH_LEN);
	append_n(log, 20, 3);
	assert_int_equal(audit_log_close(log, NULL), 0);
	assert_int_equal(audit_verify_file(f->path, &o, &res, &err), 0);
	assert_int_equal(res.records, 23);
	assert_int_equal(res.sths, 5);
	assert_int_equal(res.last_sth_size, 23);

	/* Unpinned verification reports the key it found. */
	struct audit_verify_opts none = { 0 };
	assert_int_equal(audit_verify_file(f->path, &none, &res, &err), 0);
	assert_false(res.key_pinned);
	assert_memory_equal(res.pubkey, f->signer.pubkey, AUDIT_PUBKEY_LEN);
	/* A missing file is an I/O error, not a fault. */
	assert_int_equal(audit_verify_file("/nonexistent/audit.log", &none,
					   &res, &err),
			 -1);
	assert_int_equal(res.fault, AUDIT_FAULT_NONE);
	assert_int_equal(err.code, 404);
}

static void test_chain_on_disk(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	struct lines ls;
	lines_read(f->path, &ls);
	uint8_t prev[AUDIT_HASH_LEN] = { 0 };
	unsigned want = 0;
	for (size_t i = 0; i < ls.n; i++) {
		if (strstr(ls.l[i], "\"type\":\"sth\"")) {
			assert_int_equal(want % 5, 0);
			continue;
		}
		char hex[2 * AUDIT_HASH_LEN + 1], pat[100];
		bw_hex_encode(prev, AUDIT_HASH_LEN, hex);
		snprintf(pat, sizeof(pat), "\"prev\":\"%s\"", hex);
		assert_non_null(strstr(ls.l[i], pat));
		snprintf(pat, sizeof(pat), "\"seq\":%u,", want);
		assert_non_null(strstr(ls.l[i], pat));
		audit_sha256(ls.l[i], strlen(ls.l[i]), NULL, 0, NULL, 0, prev);
		want++;
	}
	assert_int_equal(want, 20);
	assert_non_null(strstr(ls.l[0], "\"prev\":\"00000000000000000000"));
	/* The last line is the closing STH. */
	assert_non_null(strstr(ls.l[ls.n - 1], "\"tree_size\":20,"));
	lines_free(&ls);
}

static void test_tamper_alter(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	struct lines ls;

	/* A byte of record 7's content: caught where seq 8 links to it. */
	lines_read(f->path, &ls);
	size_t i7 = idx_of_seq(&ls, 7);
	replace_in(&ls.l[i7], "\"t-07\"", "\"t-0X\"");
	verify_expect(f, &ls, AUDIT_FAULT_ALTERED, 7, i7 + 1);
	lines_free(&ls);

	/* A byte that breaks the JSON itself. */
	lines_read(f->path, &ls);
	i7 = idx_of_seq(&ls, 7);
	replace_in(&ls.l[i7], "\"t-07\"", "\"t-07");
	verify_expect(f, &ls, AUDIT_FAULT_MALFORMED, 7, i7 + 1);
	lines_free(&ls);

	/* Same JSON, different bytes. */
	lines_read(f->path, &ls);
	i7 = idx_of_seq(&ls, 7);
	replace_in(&ls.l[i7], "\"t-07\"", "\"t-\\u00307\"");
	verify_expect(f, &ls, AUDIT_FAULT_NOT_CANONICAL, 7, i7 + 1);
	lines_free(&ls);

	/* Record 4, the last one before the STH of 5: pinned down by the
	 * prev of seq 5 after the STH. */
	lines_read(f->path, &ls);
	size_t i4 = idx_of_seq(&ls, 4);
	replace_in(&ls.l[i4], "\"t-04\"", "\"t-4X\"");
	verify_expect(f, &ls, AUDIT_FAULT_ALTERED, 4, i4 + 1);
	lines_free(&ls);

	/* Record 0's prev. */
	lines_read(f->path, &ls);
	replace_in(&ls.l[0], "\"prev\":\"0", "\"prev\":\"1");
	verify_expect(f, &ls, AUDIT_FAULT_ALTERED, 0, 1);
	lines_free(&ls);

	/* Record 12's prev field (not its content). */
	lines_read(f->path, &ls);
	size_t i12 = idx_of_seq(&ls, 12);
	char *at = strstr(ls.l[i12], "\"prev\":\"") + 8;
	*at = *at == 'a' ? 'b' : 'a';
	verify_expect(f, &ls, AUDIT_FAULT_ALTERED, 12, i12 + 1);
	lines_free(&ls);

	/* The very last record: only the final STH can tell. */
	lines_read(f->path, &ls);
	size_t i19 = idx_of_seq(&ls, 19);
	replace_in(&ls.l[i19], "\"t-19\"", "\"t-1X\"");
	verify_expect(f, &ls, AUDIT_FAULT_STH_ROOT, 15, i19 + 2);
	lines_free(&ls);
}

static void test_tamper_remove_swap_insert(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	struct lines ls;

	/* Delete record 7's line. */
	lines_read(f->path, &ls);
	size_t i7 = idx_of_seq(&ls, 7);
	free(ls.l[i7]);
	memmove(&ls.l[i7], &ls.l[i7 + 1], (ls.n - i7 - 1) * sizeof(char *));
	ls.n--;
	verify_expect(f, &ls, AUDIT_FAULT_REMOVED, 7, i7 + 1);
	lines_free(&ls);

	/* Swap records 7 and 8. */
	lines_read(f->path, &ls);
	i7 = idx_of_seq(&ls, 7);
	char *tmp = ls.l[i7];
	ls.l[i7] = ls.l[i7 + 1];
	ls.l[i7 + 1] = tmp;
	verify_expect(f, &ls, AUDIT_FAULT_REORDERED, 7, i7 + 1);
	lines_free(&ls);

	/* A copy of record 5 inserted after record 7. */
	lines_read(f->path, &ls);
	i7 = idx_of_seq(&ls, 7);
	size_t i5 = idx_of_seq(&ls, 5);
	memmove(&ls.l[i7 + 2], &ls.l[i7 + 1], (ls.n - i7 - 1) * sizeof(char *));
	ls.l[i7 + 1] = strdup(ls.l[i5]);
	ls.n++;
	verify_expect(f, &ls, AUDIT_FAULT_INSERTED, 5, i7 + 2);
	lines_free(&ls);

	/* A forged "seq 7" that links correctly to 6, placed before the
	 * genuine 7: the forgery is named, not the genuine record. */
	lines_read(f->path, &ls);
	i7 = idx_of_seq(&ls, 7);
	memmove(&ls.l[i7 + 1], &ls.l[i7], (ls.n - i7) * sizeof(char *));
	ls.l[i7] = strdup(ls.l[i7 + 1]);
	ls.n++;
	replace_in(&ls.l[i7], "\"t-07\"", "\"t-0F\"");
	verify_expect(f, &ls, AUDIT_FAULT_INSERTED, 7, i7 + 1);
	lines_free(&ls);

	/* The same forgery placed after the genuine 7. */
	lines_read(f->path, &ls);
	i7 = idx_of_seq(&ls, 7);
	memmove(&ls.l[i7 + 2], &ls.l[i7 + 1], (ls.n - i7 - 1) * sizeof(char *));
	ls.l[i7 + 1] = strdup(ls.l[i7]);
	ls.n++;
	replace_in(&ls.l[i7 + 1], "\"t-07\"", "\"t-0F\"");
	verify_expect(f, &ls, AUDIT_FAULT_INSERTED, 7, i7 + 2);
	lines_free(&ls);
}

static void test_tamper_truncate(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	size_t len;
	char *data = bw_file_read(f->path, 1 << 24, &len, NULL);
	struct audit_verify_opts o = { .pubkey = f->signer.pubkey };
	struct audit_verify_result res;

	/* Cut inside the last line: a torn tail. */
	assert_int_equal(audit_verify_buf(data, len - 10, &o, &res), -1);
	assert_int_equal(res.fault, AUDIT_FAULT_TORN_TAIL);
	assert_int_equal(res.line, 24);
	assert_int_equal(res.records, 20);

	/* Cut at a line boundary (the last record and STH gone): still a
	 * valid log of 19, but an unsigned tail when the caller asks. */
	struct lines ls;
	lines_read(f->path, &ls);
	free(ls.l[--ls.n]);
	free(ls.l[--ls.n]);
	verify_expect(f, &ls, AUDIT_FAULT_NONE, 0, 0);
	char *p = lines_join(&ls, &len);
	o.require_signed_tail = true;
	assert_int_equal(audit_verify_buf(p, len, &o, &res), -1);
	assert_int_equal(res.fault, AUDIT_FAULT_UNSIGNED_TAIL);
	assert_int_equal(res.seq, 15);
	assert_int_equal(res.line, (uint64_t)idx_of_seq(&ls, 15) + 1);
	free(p);
	lines_free(&ls);
	free(data);

	/* Empty input is a valid empty log. */
	o.require_signed_tail = false;
	assert_int_equal(audit_verify_buf("", 0, &o, &res), 0);
	assert_int_equal(res.records, 0);
}

static void test_tamper_sth(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	struct lines ls;

	/* Flip a hex digit of STH(10)'s root: the signature no longer fits. */
	lines_read(f->path, &ls);
	size_t s10 = idx_of_sth(&ls, 10);
	char *at = strstr(ls.l[s10], "\"root_hash\":\"") + 13;
	*at = *at == 'a' ? 'b' : 'a';
	verify_expect(f, &ls, AUDIT_FAULT_STH_SIG, 10, s10 + 1);
	lines_free(&ls);

	/* Its tree_size. */
	lines_read(f->path, &ls);
	s10 = idx_of_sth(&ls, 10);
	replace_in(&ls.l[s10], "\"tree_size\":10,", "\"tree_size\":9,");
	verify_expect(f, &ls, AUDIT_FAULT_STH_SIG, 9, s10 + 1);
	lines_free(&ls);

	/* A genuine STH moved up a line. */
	lines_read(f->path, &ls);
	s10 = idx_of_sth(&ls, 10);
	char *tmp = ls.l[s10];
	ls.l[s10] = ls.l[s10 - 1];
	ls.l[s10 - 1] = tmp;
	verify_expect(f, &ls, AUDIT_FAULT_STH_SIZE, 10, s10);
	lines_free(&ls);

	/* An STH for the right root signed by another key. */
	struct audit_signer other;
	char okey[400];
	snprintf(okey, sizeof(okey), "%s/other.key", f->dir);
	assert_int_equal(audit_signer_file_init(&other, okey, NULL), 0);
	lines_read(f->path, &ls);
	s10 = idx_of_sth(&ls, 10);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct audit_line ln;
	assert_int_equal(audit_line_parse(a, ls.l[s10], strlen(ls.l[s10]), &ln,
					  NULL),
			 0);
	uint8_t msg[AUDIT_STH_MSG_LEN], sig[AUDIT_SIG_LEN];
	audit_sth_message(10, ln.time_ms, ln.root, msg);
	assert_int_equal(other.sign(other.ctx, msg, sizeof(msg), sig, NULL), 0);
	struct bw_buf b;
	bw_buf_init(&b, 4096);
	assert_int_equal(audit_sth_line_build(&b, 10, ln.time_ms, ln.root,
					      other.pubkey, sig),
			 0);
	b.data[--b.len] = '\0';
	free(ls.l[s10]);
	ls.l[s10] = bw_buf_detach(&b, NULL);
	verify_expect(f, &ls, AUDIT_FAULT_STH_KEY, 10, s10 + 1);
	/* Unpinned, the first STH's key is expected of the rest too. */
	size_t len;
	char *p = lines_join(&ls, &len);
	struct audit_verify_opts none = { 0 };
	struct audit_verify_result res;
	assert_int_equal(audit_verify_buf(p, len, &none, &res), -1);
	assert_int_equal(res.fault, AUDIT_FAULT_STH_KEY);
	free(p);
	lines_free(&ls);
	bw_arena_free(a);
	audit_signer_file_fini(&other);
}

static void test_tamper_rewritten_chain(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	struct lines ls;
	/* Edit record 7 and recompute every prev after it: the chain is
	 * whole again, but STH(10) signed the old leaves. */
	lines_read(f->path, &ls);
	size_t i7 = idx_of_seq(&ls, 7);
	replace_in(&ls.l[i7], "\"success\"", "\"failure\"");
	rechain(&ls);
	verify_expect(f, &ls, AUDIT_FAULT_STH_ROOT, 5, idx_of_sth(&ls, 10) + 1);
	lines_free(&ls);

	/* Drop every STH as well: with the key pinned and a signed tail
	 * required, the rewrite is still refused. */
	lines_read(f->path, &ls);
	i7 = idx_of_seq(&ls, 7);
	replace_in(&ls.l[i7], "\"success\"", "\"failure\"");
	rechain(&ls);
	size_t w = 0;
	for (size_t i = 0; i < ls.n; i++) {
		if (strstr(ls.l[i], "\"type\":\"sth\""))
			free(ls.l[i]);
		else
			ls.l[w++] = ls.l[i];
	}
	ls.n = w;
	size_t len;
	char *p = lines_join(&ls, &len);
	struct audit_verify_opts o = { .pubkey = f->signer.pubkey,
				       .require_signed_tail = true };
	struct audit_verify_result res;
	assert_int_equal(audit_verify_buf(p, len, &o, &res), -1);
	assert_int_equal(res.fault, AUDIT_FAULT_UNSIGNED_TAIL);
	assert_int_equal(res.seq, 0);
	free(p);
	lines_free(&ls);
}

static void test_time_order(void **state)
{
	struct fx *f = *state;
	/* The clock steps back between appends: the writer clamps. */
	bw_clock_set(1800000000000000000LL);
	struct audit_log *log = open_log(f, 0, &f->signer);
	append_n(log, 0, 2);
	bw_clock_set(1800000000000000000LL - 60000000000LL);
	append_n(log, 2, 2);
	bw_clock_set(1800000000000000000LL + 5000000LL);
	append_n(log, 4, 2);
	assert_int_equal(audit_log_close(log, NULL), 0);
	bw_clock_set(0);
	struct lines ls;
	lines_read(f->path, &ls);
	verify_expect(f, &ls, AUDIT_FAULT_NONE, 0, 0);
	assert_non_null(strstr(ls.l[3], "\"time\":\"2027-01-15T08:00:00.000Z\""));
	assert_non_null(strstr(ls.l[4], "\"time\":\"2027-01-15T08:00:00.005Z\""));
	/* Backdating record 3 (and hiding it by rewriting the chain and
	 * dropping the STH) is a time fault at record 3. */
	replace_in(&ls.l[3], "08:00:00.000Z", "07:59:59.999Z");
	rechain(&ls);
	free(ls.l[--ls.n]);
	verify_expect(f, &ls, AUDIT_FAULT_TIME, 3, 4);
	lines_free(&ls);
}

static void test_torn_tail_recovery(void **state)
{
	struct fx *f = *state;
	struct audit_log *log = open_log(f, 0, &f->signer);
	append_n(log, 0, 5);
	assert_int_equal(audit_log_close(log, NULL), 0);
	/* A crash mid-write: half a record, no newline. */
	size_t len0;
	free(bw_file_read(f->path, 1 << 24, &len0, NULL));
	FILE *fp = fopen(f->path, "a");
	fputs("{\"action\":\"user.update\",\"actor\":{\"id\":\"al", fp);
	fclose(fp);
	log = open_log(f, 0, &f->signer);
	size_t len1;
	free(bw_file_read(f->path, 1 << 24, &len1, NULL));
	assert_int_equal(len1, len0); /* truncated back */
	append_n(log, 5, 2);
	assert_int_equal(audit_log_close(log, NULL), 0);
	struct lines ls;
	lines_read(f->path, &ls);
	verify_expect(f, &ls, AUDIT_FAULT_NONE, 0, 0);
	lines_free(&ls);

	/* A torn tail that is all zero bytes (size extended, data lost). */
	fp = fopen(f->path, "a");
	for (int i = 0; i < 4096; i++)
		fputc(0, fp);
	fclose(fp);
	log = open_log(f, 0, &f->signer);
	append_n(log, 7, 1);
	assert_int_equal(audit_log_close(log, NULL), 0);
	lines_read(f->path, &ls);
	verify_expect(f, &ls, AUDIT_FAULT_NONE, 0, 0);
	lines_free(&ls);
}

static void test_refuse_corrupt_open(void **state)
{
	struct fx *f = *state;
	make_standard_log(f);
	struct lines ls;
	lines_read(f->path, &ls);
	replace_in(&ls.l[idx_of_seq(&ls, 7)], "\"t-07\"", "\"t-0X\"");
	lines_write(&ls, f->path);
	lines_free(&ls);
	size_t len0, len1;
	char *before = bw_file_read(f->path, 1 << 24, &len0, NULL);
	struct audit_config c;
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.signer = &f->signer;
	struct bw_err err = { 0 };
	assert_null(audit_log_open(&c, &err));
	assert_int_equal(err.code, 500);
	assert_string_equal(err.reason, "corrupt");
	assert_non_null(strstr(err.msg, "seq 7"));
	char *after = bw_file_read(f->path, 1 << 24, &len1, NULL);
	assert_int_equal(len0, len1);
	assert_memory_equal(before, after, len0); /* left untouched */
	free(before);
	free(after);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct audit_log *log = open_log(f, 0, &f->signer);
	append_n(log, 0, 1);
	struct audit_config c;
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.signer = &f->signer;
	struct bw_err err = { 0 };
	/* Second opener of the same log. */
	assert_null(audit_log_open(&c, &err));
	assert_int_equal(err.code, 409);
	assert_int_equal(audit_log_close(log, NULL), 0);

	/* A different signing key than the file's STHs. */
	struct audit_signer other;
	char okey[400];
	snprintf(okey, sizeof(okey), "%s/other.key", f->dir);
	assert_int_equal(audit_signer_file_init(&other, okey, NULL), 0);
	c.signer = &other;
	assert_null(audit_log_open(&c, &err));
	assert_string_equal(err.reason, "corrupt");
	audit_signer_file_fini(&other);

	/* Bad configuration. */
	c.signer = &f->signer;
	c.queue_max = 0;
	assert_null(audit_log_open(&c, &err));
	assert_int_equal(err.code, 400);
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.file_name = "../x";
	assert_null(audit_log_open(&c, &err));
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.line_max = AUDIT_LINE_MAX_HARD + 1;
	assert_null(audit_log_open(&c, &err));
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.sth_every_ms = 5;
	assert_null(audit_log_open(&c, &err));

	/* A key file others can read is refused; a key of another type
	 * too. */
	assert_int_equal(chmod(f->key, 0644), 0);
	struct audit_signer s2;
	assert_int_equal(audit_signer_file_init(&s2, f->key, &err), -1);
	assert_int_equal(err.code, 403);
	assert_int_equal(chmod(f->key, 0600), 0);
	char bad[400];
	snprintf(bad, sizeof(bad), "%s/bad.key", f->dir);
	int fd = open(bad, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a key\n", 10), 10);
	close(fd);
	assert_int_equal(audit_signer_file_init(&s2, bad, &err), -1);
	/* Reloading the real key gives the same public key. */
	assert_int_equal(audit_signer_file_init(&s2, f->key, &err), 0);
	assert_memory_equal(s2.pubkey, f->signer.pubkey, AUDIT_PUBKEY_LEN);
	audit_signer_file_fini(&s2);
	audit_signer_file_fini(&s2); /* idempotent */
	audit_log_close(NULL, NULL);
}

/* A signer that blocks until released: keeps the writer busy so the
 * queue fills deterministically. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	bool entered;
	const struct audit_signer *real;
};

static int gated_sign(void *ctx, const uint8_t *msg, size_t len,
		      uint8_t sig[AUDIT_SIG_LEN], struct bw_err *err)
{
	struct gate *g = ctx;
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return g->real->sign(g->real->ctx, msg, len, sig, err);
}

static atomic_int done_count;
static atomic_int done_fail;
static atomic_ullong done_seq_sum;

static void on_done(void *arg, int status, uint64_t seq,
		    const struct bw_err *err)
{
	(void)arg;
	if (status == 0)
		atomic_fetch_add(&done_seq_sum, seq);
	else if (err && err->code == 500)
		atomic_fetch_add(&done_fail, 1);
	atomic_fetch_add(&done_count, 1);
}

static void test_queue_full_and_async(void **state)
{
	struct fx *f = *state;
	struct gate g = { .real = &f->signer };
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	struct audit_signer gs = { .ctx = &g, .sign = gated_sign };
	memcpy(gs.pubkey, f->signer.pubkey, AUDIT_PUBKEY_LEN);

	struct audit_config c;
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.signer = &gs;
	c.queue_max = 4;
	c.sth_every_records = 1;
	c.sth_every_ms = 0;
	struct bw_err err = { 0 };
	struct audit_log *log = audit_log_open(&c, &err);
	assert_non_null(log);
	atomic_store(&done_count, 0);
	atomic_store(&done_fail, 0);
	atomic_store(&done_seq_sum, 0);

	char buf[32];
	struct audit_record r = rec_n(0, buf, sizeof(buf));
	/* The first record's batch blocks in sign(). */
	assert_int_equal(audit_append_async(log, &r, on_done, NULL, &err), 0);
	pthread_mutex_lock(&g.mu);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	/* Now exactly queue_max more fit; the next is refused with 503. */
	for (int i = 1; i <= 4; i++)
		assert_int_equal(audit_append_async(log, &r, on_done, NULL,
						    &err),
				 0);
	assert_int_equal(audit_append_async(log, &r, on_done, NULL, &err), -1);
	assert_int_equal(err.code, 503);
	assert_string_equal(err.reason, "queue_full");
	uint64_t seq;
	assert_int_equal(audit_append(log, &r, &seq, &err), -1);
	assert_string_equal(err.reason, "queue_full");
	/* Invalid records are refused before queueing, with no callback. */
	struct audit_record bad = r;
	bad.action = BW_STR("Bad");
	assert_int_equal(audit_append_async(log, &bad, on_done, NULL, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(audit_append_async(log, &r, NULL, NULL, &err), -1);
	struct audit_log_stats st;
	audit_log_stats(log, &st);
	assert_int_equal(st.refused_full, 2);

	pthread_mutex_lock(&g.mu);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	/* After the writer catches up, appends work again. */
	for (int tries = 0; atomic_load(&done_count) < 5 && tries < 5000;
	     tries++)
		usleep(1000);
	assert_int_equal(atomic_load(&done_count), 5);
	assert_int_equal(audit_append(log, &r, &seq, &err), 0);
	assert_int_equal(seq, 5);
	assert_int_equal(audit_log_close(log, NULL), 0);
	assert_int_equal(atomic_load(&done_fail), 0);
	assert_int_equal(atomic_load(&done_seq_sum), 0 + 1 + 2 + 3 + 4);
	struct lines ls;
	lines_read(f->path, &ls);
	verify_expect(f, &ls, AUDIT_FAULT_NONE, 0, 0);
	lines_free(&ls);
	pthread_mutex_destroy(&g.mu);
	pthread_cond_destroy(&g.cv);
}

struct worker {
	struct audit_log *log;
	unsigned n;
	uint64_t *seqs;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (unsigned i = 0; i < w->n; i++) {
		char buf[32];
		struct audit_record r = rec_n(i, buf, sizeof(buf));
		struct bw_err err = { 0 };
		if (audit_append(w->log, &r, &w->seqs[i], &err) < 0)
			w->seqs[i] = UINT64_MAX;
	}
	return NULL;
}

static void test_concurrent_appends(void **state)
{
	struct fx *f = *state;
	enum { T = 8, N = 150 };
	struct audit_log *log = open_log(f, 64, &f->signer);
	pthread_t th[T];
	struct worker w[T];
	static uint64_t seqs[T][N];
	for (int t = 0; t < T; t++) {
		w[t] = (struct worker){ log, N, seqs[t] };
		assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]),
				 0);
	}
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	struct audit_log_stats st;
	audit_log_stats(log, &st);
	assert_int_equal(audit_log_close(log, NULL), 0);
	/* Every seq 0..T*N-1 handed out exactly once. */
	static bool seen[T * N];
	memset(seen, 0, sizeof(seen));
	for (int t = 0; t < T; t++)
		for (int i = 0; i < N; i++) {
			assert_true(seqs[t][i] < T * N);
			assert_false(seen[seqs[t][i]]);
			seen[seqs[t][i]] = true;
			/* One thread's appends are ordered. */
			if (i > 0)
				assert_true(seqs[t][i] > seqs[t][i - 1]);
		}
	assert_int_equal(st.appended, T * N);
	assert_true(st.batches <= st.appended);
	struct audit_verify_opts o = { .pubkey = f->signer.pubkey,
				       .require_signed_tail = true };
	struct audit_verify_result res;
	assert_int_equal(audit_verify_file(f->path, &o, &res, NULL), 0);
	assert_int_equal(res.records, T * N);
}

static void test_timed_sth_and_proofs(void **state)
{
	struct fx *f = *state;
	struct audit_config c;
	audit_config_defaults(&c);
	c.dir = f->dir;
	c.signer = &f->signer;
	c.sth_every_records = 0;
	c.sth_every_ms = 100;
	struct audit_log *log = audit_log_open(&c, NULL);
	assert_non_null(log);
	append_n(log, 0, 3);
	struct audit_log_stats st;
	for (int i = 0; i < 300; i++) {
		audit_log_stats(log, &st);
		if (st.sths > 0)
			break;
		usleep(10000);
	}
	assert_int_equal(st.sths, 1);
	append_n(log, 3, 10);
	/* An STH on request. */
	assert_int_equal(audit_log_request_sth(log, NULL), 0);

	/* Proofs from the live tree against its durable root. */
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	audit_log_root(log, &size, root);
	assert_int_equal(size, 13);
	struct lines ls;
	lines_read(f->path, &ls);
	size_t i5 = idx_of_seq(&ls, 5);
	uint8_t leaf[AUDIT_HASH_LEN];
	audit_leaf_hash(ls.l[i5], strlen(ls.l[i5]), leaf);
	uint8_t path[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
	size_t n;
	assert_int_equal(audit_log_inclusion_proof(log, 5, 13, path,
						   AUDIT_PROOF_MAX, &n, NULL),
			 0);
	assert_true(audit_inclusion_verify(leaf, 5, 13,
					   (const uint8_t(*)[32])path, n, root));
	assert_int_equal(audit_log_inclusion_proof(log, 5, 14, path,
						   AUDIT_PROOF_MAX, &n, NULL),
			 -1);
	/* The STH tree of 3 is consistent with the tree of 13. */
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct audit_line ln;
	size_t s3 = idx_of_sth(&ls, 3);
	assert_int_equal(audit_line_parse(a, ls.l[s3], strlen(ls.l[s3]), &ln,
					  NULL),
			 0);
	assert_int_equal(audit_log_consistency_proof(log, 3, 13, path,
						     AUDIT_PROOF_MAX, &n, NULL),
			 0);
	assert_true(audit_consistency_verify(3, 13, ln.root, root,
					     (const uint8_t(*)[32])path, n));
	bw_arena_free(a);
	lines_free(&ls);
	assert_int_equal(audit_log_close(log, NULL), 0);
	struct audit_verify_opts o = { .pubkey = f->signer.pubkey,
				       .require_signed_tail = true };
	struct audit_verify_result res;
	assert_int_equal(audit_verify_file(f->path, &o, &res, NULL), 0);
	assert_true(res.sths >= 2);

	/* Building a tree while verifying gives the same proofs offline. */
	struct audit_tree *t = audit_tree_new();
	o.tree = t;
	assert_int_equal(audit_verify_file(f->path, &o, &res, NULL), 0);
	assert_int_equal(audit_tree_size(t), 13);
	uint8_t r2[AUDIT_HASH_LEN];
	assert_int_equal(audit_tree_root(t, 13, r2, NULL), 0);
	assert_memory_equal(r2, root, AUDIT_HASH_LEN);
	audit_tree_free(t);
}

/* RFC 8032 §7.1 TEST 1: the verifier's Ed25519 is the standard one. */
static void test_ed25519_known_answer(void **state)
{
	(void)state;
	uint8_t pub[32], sig[64];
	size_t n;
	assert_int_equal(bw_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3"
				       "daa62325af021a68f707511a",
				       64, pub, sizeof(pub), &n),
			 0);
	assert_int_equal(bw_hex_decode("e5564300c360ac729086e2cc806e828a84877f1e"
				       "b8e5d974d873e065224901555fb8821590a33bac"
				       "c61e39701cf9b46bd25bf5f0595bbe2465514143"
				       "8e7a100b",
				       128, sig, sizeof(sig), &n),
			 0);
	struct audit_sigcheck *c = audit_sigcheck_new(pub);
	assert_non_null(c);
	assert_true(audit_sigcheck_verify(c, (const uint8_t *)"", 0, sig));
	sig[10] ^= 1;
	assert_false(audit_sigcheck_verify(c, (const uint8_t *)"", 0, sig));
	sig[10] ^= 1;
	assert_false(audit_sigcheck_verify(c, (const uint8_t *)"x", 1, sig));
	audit_sigcheck_free(c);
}

/* kill -9 while appending: every seq the child was told is durable must
 * be in the file, and the file must verify (after torn-tail recovery). */
static void test_kill9_durability(void **state)
{
	struct fx *f = *state;
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		struct audit_config c;
		audit_config_defaults(&c);
		c.dir = f->dir;
		c.signer = &f->signer;
		c.sth_every_records = 50;
		struct audit_log *log = audit_log_open(&c, NULL);
		if (!log)
			_exit(2);
		char buf[32];
		struct audit_record r = rec_n(1, buf, sizeof(buf));
		for (;;) {
			uint64_t seq;
			if (audit_append(log, &r, &seq, NULL) < 0)
				_exit(3);
			if (write(pfd[1], &seq, sizeof(seq)) != sizeof(seq))
				_exit(4);
		}
	}
	close(pfd[1]);
	uint64_t acked = 0, max_seq = 0, seq;
	while (acked < 400 && read(pfd[0], &seq, sizeof(seq)) == sizeof(seq)) {
		acked++;
		max_seq = seq > max_seq ? seq : max_seq;
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* Drain what the child acknowledged before it died. */
	while (read(pfd[0], &seq, sizeof(seq)) == sizeof(seq)) {
		acked++;
		max_seq = seq > max_seq ? seq : max_seq;
	}
	close(pfd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(acked >= 400);

	struct audit_log *log = open_log(f, 50, &f->signer);
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	audit_log_root(log, &size, root);
	assert_true(size > max_seq); /* every acknowledged seq survived */
	assert_int_equal(audit_log_close(log, NULL), 0);
	struct audit_verify_opts o = { .pubkey = f->signer.pubkey,
				       .require_signed_tail = true };
	struct audit_verify_result res;
	struct bw_err err = { 0 };
	if (audit_verify_file(f->path, &o, &res, &err) < 0)
		fail_msg("verify after kill -9: %s", res.what);
	assert_int_equal(res.records, size);
}

/* A write that fails (file size limit, as on a full disk) makes the log
 * refuse everything with 500 log_failed; reopening recovers from what
 * reached the disk, torn tail included. Runs in a child so the limit and
 * the ignored SIGXFSZ stay there. */
static void test_write_failure_is_sticky(void **state)
{
	struct fx *f = *state;
	struct audit_log *log = open_log(f, 0, &f->signer);
	append_n(log, 0, 3);
	assert_int_equal(audit_log_close(log, NULL), 0);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		/* Room for about two and a half more lines. */
		struct rlimit rl = { (rlim_t)st.st_size + 900,
				     (rlim_t)st.st_size + 900 };
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(10);
		struct audit_config c;
		audit_config_defaults(&c);
		c.dir = f->dir;
		c.signer = &f->signer;
		c.sth_every_records = 0;
		c.sth_every_ms = 0;
		struct audit_log *l = audit_log_open(&c, NULL);
		if (!l)
			_exit(11);
		char buf[32];
		struct audit_record r = rec_n(1, buf, sizeof(buf));
		struct bw_err err = { 0 };
		int ok = 0;
		while (ok < 100 && audit_append(l, &r, NULL, &err) == 0)
			ok++;
		if (ok < 1 || ok >= 100 || err.code != 500 ||
		    strcmp(err.reason, "log_failed") != 0)
			_exit(12);
		/* Sticky: later appends fail at once, async ones too. */
		if (audit_append(l, &r, NULL, &err) == 0 ||
		    strcmp(err.reason, "log_failed") != 0)
			_exit(13);
		if (audit_append_async(l, &r, on_done, NULL, &err) == 0)
			_exit(14);
		struct audit_log_stats ls;
		audit_log_stats(l, &ls);
		if (ls.failures != 1)
			_exit(15);
		if (audit_log_close(l, &err) == 0)
			_exit(16);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Reopen: the partial line is dropped; the log goes on. */
	log = open_log(f, 0, &f->signer);
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	audit_log_root(log, &size, root);
	assert_true(size >= 4);
	char buf[32];
	struct audit_record r = rec_n(9, buf, sizeof(buf));
	uint64_t seq;
	assert_int_equal(audit_append(log, &r, &seq, NULL), 0);
	assert_int_equal(seq, size);
	assert_int_equal(audit_log_close(log, NULL), 0);
	struct lines ls;
	lines_read(f->path, &ls);
	verify_expect(f, &ls, AUDIT_FAULT_NONE, 0, 0);
	lines_free(&ls);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		T(test_append_verify_reopen),
		T(test_chain_on_disk),
		T(test_tamper_alter),
		T(test_tamper_remove_swap_insert),
		T(test_tamper_truncate),
		T(test_tamper_sth),
		T(test_tamper_rewritten_chain),
		T(test_time_order),
		T(test_torn_tail_recovery),
		T(test_refuse_corrupt_open),
		T(test_open_errors),
		T(test_queue_full_and_async),
		T(test_concurrent_appends),
		T(test_timed_sth_and_proofs),
		cmocka_unit_test(test_ed25519_known_answer),
		T(test_kill9_durability),
		T(test_write_failure_is_sticky),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
