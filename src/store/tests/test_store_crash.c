/* Crash test for store: an acknowledged write survives kill -9.
 *
 * A child process opens the database and writes rows as fast as it can,
 * from several blocking submitters and through store_write_async, and
 * after each acknowledgement (store_write returned 0, or the done callback
 * saw rc 0) writes the row's id to a pipe. The parent reads ids until
 * enough have arrived, kill -9s the child in the middle of the stream,
 * drains what the pipe still holds, reopens the database and asserts that
 * every acknowledged id is there and that the file passes integrity_check.
 * Several rounds kill at different points against the same file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"

#define ROUNDS 4
#define SUBMITTERS 4
#define MAX_ACKS 200000

static char g_dir[64], g_path[96];

static const char *const schema[] = {
	"CREATE TABLE acked (id BIGINT PRIMARY KEY, payload BLOB NOT NULL)",
};

/* ---------------------------------------------------------- the child */

static int ack_fd;

static void ack(int64_t id)
{
	/* 8 bytes is below PIPE_BUF, so concurrent writes never interleave. */
	ssize_t n;
	do
		n = write(ack_fd, &id, sizeof(id));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(id))
		_exit(3);
}

static int insert_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	int64_t id = *(int64_t *)arg;
	unsigned char payload[64];
	memset(payload, (int)(id & 0xff), sizeof(payload));
	struct store_value v[] = { store_int(id),
				   store_blob(payload, sizeof(payload)) };
	return store_tx_exec(tx, "INSERT INTO acked (id, payload) VALUES (?, ?)",
			     v, 2, err);
}

struct submitter {
	struct store *s;
	int64_t base;
};

static void *submit_loop(void *arg)
{
	struct submitter *sub = arg;
	struct bw_err err;
	for (int64_t i = 0;; i++) {
		int64_t id = sub->base + i;
		if (store_write(sub->s, insert_job, &id, &err) == 0)
			ack(id);
		else
			_exit(4);
	}
	return NULL;
}

static void async_done(void *arg, int rc, const struct bw_err *err)
{
	int64_t *id = arg;
	if (rc == 0)
		ack(*id);
	free(id);
}

static _Noreturn void child(int round)
{
	struct bw_err err;
	struct store_options o = { .path = g_path };
	struct store *s = store_open(&o, &err);
	if (!s || store_migrate(s, "crash", schema, 1, &err) != 0)
		_exit(2);
	pthread_t t[SUBMITTERS];
	struct submitter subs[SUBMITTERS];
	for (int i = 0; i < SUBMITTERS; i++) {
		subs[i].s = s;
		subs[i].base = (int64_t)round * 100000000 + (int64_t)i * 1000000;
		if (pthread_create(&t[i], NULL, submit_loop, &subs[i]) != 0)
			_exit(2);
	}
	/* The async path: ids from a range of their own. */
	for (int64_t i = 0;; i++) {
		int64_t *id = malloc(sizeof(*id));
		if (!id)
			_exit(2);
		*id = (int64_t)round * 100000000 + 90000000 + i;
		if (store_write_async(s, insert_job, id, async_done, id,
				      &err) != 0) {
			free(id); /* overloaded: not acknowledged, fine */
			usleep(100);
		}
	}
}

/* --------------------------------------------------------- the parent */

static int check_row(void *arg, const struct store_row *row,
		     struct bw_err *err)
{
	int64_t id = *(int64_t *)arg;
	size_t len;
	const unsigned char *p = store_row_blob(row, 0, &len);
	if (len != 64)
		return bw_err_set(err, 500, "test", "payload", "bad length");
	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(id & 0xff))
			return bw_err_set(err, 500, "test", "payload",
					  "bad payload");
	return STORE_ROW_NEXT;
}

static int text_row(void *arg, const struct store_row *row,
		    struct bw_err *err)
{
	struct bw_str t = store_row_text(row, 0);
	bw_snprintf(arg, 64, "%.*s", (int)t.len, t.p);
	return STORE_ROW_STOP;
}

static size_t read_ids(int fd, int64_t *ids, size_t have, size_t want)
{
	unsigned char buf[8 * 512];
	static size_t partial;
	static unsigned char carry[8];
	while (have < want) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			carry[partial++] = buf[i];
			if (partial == 8) {
				if (have < MAX_ACKS)
					memcpy(&ids[have++], carry, 8);
				partial = 0;
			}
		}
	}
	return have;
}

static void acknowledged_writes_survive_kill_9(void **state)
{
	int64_t *ids = calloc(MAX_ACKS, sizeof(*ids));
	size_t total_checked = 0;
	assert_non_null(ids);
	for (int round = 0; round < ROUNDS; round++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			ack_fd = p[1];
			child(round);
		}
		close(p[1]);
		/* Kill at a different depth each round, then let the child
		 * run a little more so the kill lands mid-commit or mid-ack
		 * rather than at a quiet moment. */
		size_t want = 500 + (size_t)round * 3000;
		size_t have = read_ids(p[0], ids, 0, want);
		assert_true(have >= want);
		usleep((useconds_t)(round * 1500));
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		/* Everything still in the pipe was acknowledged before the
		 * kill; the write end is closed now, so this reaches EOF. */
		have = read_ids(p[0], ids, have, MAX_ACKS);
		close(p[0]);

		struct bw_err err;
		struct store_options o = { .path = g_path };
		struct store *s = store_open(&o, &err);
		assert_non_null(s);
		char ok[64] = "";
		assert_int_equal(store_query_one(s, "PRAGMA integrity_check",
						 NULL, 0, text_row, ok, &err),
				 1);
		assert_string_equal(ok, "ok");
		for (size_t i = 0; i < have; i++) {
			struct store_value v = store_int(ids[i]);
			int rc = store_query_one(
				s, "SELECT payload FROM acked WHERE id = ?", &v,
				1, check_row, &ids[i], &err);
			if (rc != 1)
				fail_msg("round %d: acknowledged id %lld lost "
					 "(rc %d)",
					 round, (long long)ids[i], rc);
		}
		total_checked += have;
		store_close(s);
	}
	printf("crash test: %zu acknowledged writes checked over %d kills\n",
	       total_checked, ROUNDS);
	free(ids);
}

static int setup(void **state)
{
	bw_snprintf(g_dir, sizeof(g_dir), "/tmp/bw-store-crash-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	bw_snprintf(g_path, sizeof(g_path), "%s/c.db", g_dir);
	return 0;
}

static int teardown(void **state)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[128];
	for (size_t i = 0; i < BW_ARRAY_LEN(sfx); i++)
		if (bw_snprintf(p, sizeof(p), "%s%s", g_path, sfx[i]) > 0)
			unlink(p);
	rmdir(g_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(acknowledged_writes_survive_kill_9),
	};
	log_init("test", BW_LOG_ERROR, 2);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
