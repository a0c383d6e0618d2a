/*
 * kms_bench — key operations per second through kms_client → keystore
 * process (a real forked keystore_main with its seccomp filter), for
 * ECDSA P-256 and RSA-2048 signatures and AES-256-GCM encryption of 1 KiB:
 *   single   one blocking call at a time from one thread
 *   threads  N threads issuing blocking calls at once (pipelined)
 *   batch    one thread, B items per call
 *   batch×N  N threads, B items per call
 * bench/kms/run.sh prints `openssl speed` beside it as the ceiling.
 *
 *   kms_bench [-s SECONDS] [-t THREADS] [-b BATCH] [-d DIR]
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kms/kms.h"

static struct kms_client *C;
static int seconds = 3, nthreads = 4, batch = 64;
static atomic_bool stop;

enum kind { K_EC, K_RSA, K_AES };
static const char *key_of[] = { "bench-ec", "bench-rsa", "bench-aes" };
static const unsigned type_of[] = { KEYSTORE_KT_ECDSA_P256, KEYSTORE_KT_RSA_2048,
				    KEYSTORE_KT_AES256_GCM };

struct job {
	enum kind kind;
	int items; /* 0: unbatched */
	uint64_t ops;
	uint64_t errors;
};

static uint8_t payload[1024];

static void build(struct keystore_enc *e, const struct job *j)
{
	unsigned op = j->kind == K_AES ? KEYSTORE_OP_ENCRYPT : KEYSTORE_OP_SIGN;
	unsigned tag = j->kind == K_AES ? KEYSTORE_TAG_PLAINTEXT : KEYSTORE_TAG_MESSAGE;
	/* Signatures are over a short message (a digest-sized input, as
	 * `openssl speed` signs); encryption over 1 KiB. */
	size_t n = j->kind == K_AES ? sizeof(payload) : 32;
	keystore_enc_init(e, KEYSTORE_REQUEST, op, 0, 0);
	keystore_enc_str(e, KEYSTORE_TAG_TENANT, "bench");
	keystore_enc_str(e, KEYSTORE_TAG_KEY, key_of[j->kind]);
	if (!j->items) {
		keystore_enc_bytes(e, tag, payload, n);
		return;
	}
	for (int i = 0; i < j->items; i++) {
		keystore_enc_item(e);
		keystore_enc_bytes(e, tag, payload, n);
	}
}

static void *runner(void *arg)
{
	struct job *j = arg;
	struct keystore_enc e;
	build(&e, j);
	while (!atomic_load(&stop)) {
		struct kms_reply *r;
		struct bw_err err;
		if (kms_call(C, &e, 0, &r, &err) < 0 || r->status != KEYSTORE_OK) {
			j->errors++;
			if (j->errors == 1)
				fprintf(stderr, "kms_bench: %s\n",
					r ? keystore_status_name(r->status) : err.msg);
		} else {
			j->ops += j->items ? (uint64_t)j->items : 1;
		}
		kms_reply_free(r);
	}
	keystore_enc_fini(&e);
	return NULL;
}

static double measure(enum kind kind, int threads, int items)
{
	pthread_t th[64];
	struct job jobs[64];
	atomic_store(&stop, false);
	int64_t t0 = bw_clock_mono_ns();
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){ kind, items, 0, 0 };
		if (pthread_create(&th[i], NULL, runner, &jobs[i]) != 0) {
			fprintf(stderr, "kms_bench: pthread_create\n");
			exit(1);
		}
	}
	sleep((unsigned)seconds);
	atomic_store(&stop, true);
	uint64_t ops = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		ops += jobs[i].ops;
	}
	double s = (double)(bw_clock_mono_ns() - t0) / 1e9;
	return (double)ops / s;
}

static void create_key(enum kind k)
{
	struct keystore_enc e;
	struct kms_reply *r;
	struct bw_err err;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_CREATE, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "bench");
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key_of[k]);
	keystore_enc_u32(&e, KEYSTORE_TAG_KEY_TYPE, type_of[k]);
	if (kms_call(C, &e, 0, &r, &err) < 0 || r->status != KEYSTORE_OK) {
		fprintf(stderr, "kms_bench: cannot create %s\n", key_of[k]);
		exit(1);
	}
	kms_reply_free(r);
	keystore_enc_fini(&e);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "s:t:b:d:")) != -1) {
		switch (opt) {
		case 's':
			seconds = (int)strtol(optarg, NULL, 10);
			break;
		case 't':
			nthreads = (int)strtol(optarg, NULL, 10);
			break;
		case 'b':
			batch = (int)strtol(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr, "usage: kms_bench [-s S] [-t THREADS] [-b BATCH] [-d DIR]\n");
			return 2;
		}
	}
	if (seconds < 1 || nthreads < 1 || nthreads > 64 || batch < 1 ||
	    batch > (int)KEYSTORE_BATCH_MAX) {
		fprintf(stderr, "kms_bench: bad arguments\n");
		return 2;
	}
	char tmp[] = "/tmp/bw-kms-bench.XXXXXX";
	if (!dir && !(dir = mkdtemp(tmp))) {
		perror("mkdtemp");
		return 1;
	}
	log_init("kms_bench", BW_LOG_WARN, 2);
	signal(SIGPIPE, SIG_IGN);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("socketpair");
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(sp[0]);
		struct keystore_options o = { .data_dir = dir,
					      .unseal_mode = KEYSTORE_SEAL_AUTO,
					      .log_level = BW_LOG_WARN };
		keystore_main(sp[1], &o);
	}
	close(sp[1]);
	struct bw_err err;
	C = kms_client_new(sp[0], &err);
	if (!C) {
		fprintf(stderr, "kms_bench: %s\n", err.msg);
		return 1;
	}
	bw_random(payload, sizeof(payload));
	for (int k = 0; k < 3; k++)
		create_key((enum kind)k);

	const char *names[] = { "ECDSA P-256 sign", "RSA-2048 sign (PKCS#1 v1.5)",
				"AES-256-GCM encrypt 1 KiB" };
	printf("kms_bench: operations/s through kms_client -> keystore process "
	       "(%d s each; %d threads; batches of %d)\n\n",
	       seconds, nthreads, batch);
	printf("| operation | single | %d threads | batch | batch x %d threads |\n",
	       nthreads, nthreads);
	printf("|---|---:|---:|---:|---:|\n");
	for (int k = 0; k < 3; k++) {
		double a = measure((enum kind)k, 1, 0);
		double b = measure((enum kind)k, nthreads, 0);
		double c = measure((enum kind)k, 1, batch);
		double d = measure((enum kind)k, nthreads, batch);
		printf("| %s | %.0f | %.0f | %.0f | %.0f |\n", names[k], a, b, c, d);
		fflush(stdout);
	}
	kms_client_free(C);
	int st;
	waitpid(pid, &st, 0);
	if (dir == tmp) {
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "kms_bench: could not remove %s\n", tmp);
	}
	return 0;
}
