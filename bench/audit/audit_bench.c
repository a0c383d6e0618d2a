/*
 * audit_bench — throughput of the audit log, not a unit test.
 *
 *  1. durable appends/s with 1, 8 and 64 appending threads (each
 *     audit_append returns after fdatasync; group commit shares one fsync
 *     per batch);
 *  2. time to write N records (default 1,000,000) through the async path,
 *     then to verify the whole file offline (audit_verify_file), to reopen
 *     it (recovery = full verification), and to build a proof.
 *
 * Usage: audit_bench DIR [SECONDS_PER_RUN [VERIFY_RECORDS]]
 * DIR must be on the disk you care about (not tmpfs: fsync is free there).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"

static double now_s(void)
{
	return (double)bw_clock_mono_ns() / 1e9;
}

static struct audit_record sample(void)
{
	struct audit_record r = {
		.actor = { .tenant = BW_STR("acme"),
			   .kind = AUDIT_ACTOR_USER,
			   .id = BW_STR("u-7f3a9c"),
			   .ip = BW_STR("203.0.113.77") },
		.action = BW_STR("user.update"),
		.target = BW_STR("tenants/acme/users/u-19ab42"),
		.outcome = AUDIT_OUTCOME_SUCCESS,
		.request_id = BW_STR("01J9ZK4Q8W5R2V7M3N6B1C0XDE"),
		.details = BW_STR("{\"changed\":[\"email\",\"mfa\"],\"via\":"
				  "\"admin-api\"}"),
	};
	return r;
}

static void reset_dir(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/audit.log", dir);
	unlink(p);
}

struct run {
	struct audit_log *log;
	double until;
	atomic_ullong done;
	atomic_int errors;
};

static void *appender(void *arg)
{
	struct run *r = arg;
	struct audit_record rec = sample();
	while (now_s() < r->until) {
		uint64_t seq;
		struct bw_err err = { 0 };
		if (audit_append(r->log, &rec, &seq, &err) < 0) {
			atomic_fetch_add(&r->errors, 1);
			if (err.code != 503)
				break;
			usleep(100);
			continue;
		}
		atomic_fetch_add(&r->done, 1);
	}
	return NULL;
}

static void bench_threads(const char *dir, const struct audit_signer *s,
			  int threads, double secs)
{
	reset_dir(dir);
	struct audit_config c;
	audit_config_defaults(&c);
	c.dir = dir;
	c.signer = s;
	struct bw_err err = { 0 };
	struct run r = { .log = audit_log_open(&c, &err) };
	if (!r.log) {
		fprintf(stderr, "open: %s\n", err.msg);
		exit(1);
	}
	pthread_t th[64];
	double t0 = now_s();
	r.until = t0 + secs;
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, appender, &r);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	double dt = now_s() - t0;
	struct audit_log_stats st;
	audit_log_stats(r.log, &st);
	if (audit_log_close(r.log, &err) < 0)
		fprintf(stderr, "close: %s\n", err.msg);
	unsigned long long n = atomic_load(&r.done);
	printf("durable appends, %2d thread(s): %9.0f records/s  "
	       "(%llu records, %llu fdatasync batches, %.1f records/batch, "
	       "%d refusals)\n",
	       threads, (double)n / dt, n, (unsigned long long)st.batches,
	       st.batches ? (double)st.appended / (double)st.batches : 0.0,
	       atomic_load(&r.errors));
}

static atomic_ullong async_done;

static void on_done(void *arg, int status, uint64_t seq,
		    const struct bw_err *err)
{
	(void)arg;
	(void)seq;
	if (status < 0) {
		fprintf(stderr, "async append failed: %s\n", err->msg);
		exit(1);
	}
	atomic_fetch_add(&async_done, 1);
}

static void bench_verify(const char *dir, const struct audit_signer *s,
			 unsigned long long n)
{
	reset_dir(dir);
	struct audit_config c;
	audit_config_defaults(&c);
	c.dir = dir;
	c.signer = s;
	c.queue_max = 65536;
	struct bw_err err = { 0 };
	struct audit_log *log = audit_log_open(&c, &err);
	if (!log) {
		fprintf(stderr, "open: %s\n", err.msg);
		exit(1);
	}
	struct audit_record rec = sample();
	double t0 = now_s();
	for (unsigned long long i = 0; i < n;) {
		if (audit_append_async(log, &rec, on_done, NULL, &err) == 0) {
			i++;
			continue;
		}
		if (err.code != 503) {
			fprintf(stderr, "append: %s\n", err.msg);
			exit(1);
		}
		usleep(200);
	}
	if (audit_log_close(log, &err) < 0) {
		fprintf(stderr, "close: %s\n", err.msg);
		exit(1);
	}
	double tw = now_s() - t0;
	char path[4096];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	struct stat st;
	stat(path, &st);
	printf("wrote %llu records (async, group commit): %.2f s, %.0f "
	       "records/s, file %.1f MB\n",
	       n, tw, (double)n / tw, (double)st.st_size / 1e6);

	struct audit_tree *tree = audit_tree_new();
	struct audit_verify_opts o = { .pubkey = s->pubkey,
				       .require_signed_tail = true,
				       .tree = tree };
	struct audit_verify_result res;
	t0 = now_s();
	int rc = audit_verify_file(path, &o, &res, &err);
	double tv = now_s() - t0;
	printf("verify %llu records (%llu STHs): %.2f s, %.0f records/s, "
	       "%.0f MB/s — %s\n",
	       (unsigned long long)res.records, (unsigned long long)res.sths,
	       tv, (double)res.records / tv, (double)st.st_size / 1e6 / tv,
	       rc == 0 ? "intact" : res.what);

	uint8_t path_h[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
	size_t plen = 0;
	t0 = now_s();
	int reps = 1000;
	for (int i = 0; i < reps; i++) {
		uint64_t idx = (uint64_t)i * 7919 % res.records;
		if (audit_tree_inclusion_proof(tree, idx, res.records, path_h,
					       AUDIT_PROOF_MAX, &plen,
					       NULL) < 0)
			exit(1);
	}
	double tp = (now_s() - t0) / reps;
	t0 = now_s();
	for (int i = 0; i < reps; i++) {
		uint64_t m = 1 + (uint64_t)i * 7919 % (res.records - 1);
		if (audit_tree_consistency_proof(tree, m, res.records, path_h,
						 AUDIT_PROOF_MAX, &plen,
						 NULL) < 0)
			exit(1);
	}
	double tc = (now_s() - t0) / reps;
	printf("proofs at %llu leaves: inclusion %.1f us, consistency %.1f "
	       "us\n",
	       (unsigned long long)res.records, tp * 1e6, tc * 1e6);
	audit_tree_free(tree);

	t0 = now_s();
	log = audit_log_open(&c, &err);
	double to = now_s() - t0;
	if (!log) {
		fprintf(stderr, "reopen: %s\n", err.msg);
		exit(1);
	}
	audit_log_close(log, NULL);
	printf("reopen (recovery verifies everything): %.2f s\n", to);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
			"usage: %s DIR [SECONDS_PER_RUN [VERIFY_RECORDS]]\n",
			argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	double secs = argc > 2 ? strtod(argv[2], NULL) : 5.0;
	unsigned long long n =
		argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000ULL;
	log_init("bench", BW_LOG_WARN, 2);
	char key[4096];
	snprintf(key, sizeof(key), "%s/audit_sth.key", dir);
	struct audit_signer s;
	struct bw_err err = { 0 };
	if (audit_signer_file_init(&s, key, &err) < 0) {
		fprintf(stderr, "signer: %s\n", err.msg);
		return 1;
	}
	static const int threads[] = { 1, 8, 64 };
	for (size_t i = 0; i < 3; i++)
		bench_threads(dir, &s, threads[i], secs);
	if (n > 1)
		bench_verify(dir, &s, n);
	audit_signer_file_fini(&s);
	return 0;
}
