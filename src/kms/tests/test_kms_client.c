/*
 * Integration tests: a real key process (keystore_main, forked on a
 * socketpair, with its seccomp filter on) driven through struct
 * kms_client — blocking calls from many threads at once, async calls
 * completing on an event loop, the operator flows (Shamir init, seal,
 * unseal) over the socket, the key process dying and being replaced,
 * malformed messages ending the key process, the seccomp filter killing
 * forbidden calls, and an imported key whose bytes appear neither in
 * this ("worker") process's memory nor in any file of the data
 * directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keystore/keystore_int.h"
#include "kms/kms.h"

static char dir[256];

static void rm_rf(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static pid_t start_keystore(unsigned mode, int *fd)
{
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sp[0]);
		struct keystore_options o = { .data_dir = dir, .unseal_mode = mode,
					      .log_level = BW_LOG_ERROR };
		keystore_main(sp[1], &o);
	}
	close(sp[1]);
	*fd = sp[0];
	return pid;
}

static int wait_exit(pid_t pid, int *sig)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	*sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bw-kms-test-%d", (int)getpid());
	rm_rf(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	return 0;
}

/* A request with tenant/key set. */
static void req(struct keystore_enc *e, unsigned op, const char *tenant,
		const char *key)
{
	keystore_enc_init(e, KEYSTORE_REQUEST, op, 0, 0);
	if (tenant)
		keystore_enc_str(e, KEYSTORE_TAG_TENANT, tenant);
	if (key)
		keystore_enc_str(e, KEYSTORE_TAG_KEY, key);
}

static unsigned call(struct kms_client *c, struct keystore_enc *e,
		     struct kms_reply **out)
{
	struct bw_err err;
	struct kms_reply *r = NULL;
	if (kms_call(c, e, 0, &r, &err) < 0)
		fail_msg("kms_call: %s", err.msg);
	keystore_enc_fini(e);
	unsigned st = r->status;
	if (out)
		*out = r;
	else
		kms_reply_free(r);
	return st;
}

static void create_key(struct kms_client *c, const char *tenant, const char *key,
		       unsigned type)
{
	struct keystore_enc e;
	req(&e, KEYSTORE_OP_KEY_CREATE, tenant, key);
	keystore_enc_u32(&e, KEYSTORE_TAG_KEY_TYPE, type);
	assert_int_equal(call(c, &e, NULL), KEYSTORE_OK);
}

static void stop_keystore(struct kms_client *c, pid_t pid)
{
	kms_client_free(c); /* closes the socket: the key process exits 0 */
	int sig;
	assert_int_equal(wait_exit(pid, &sig), 0);
	assert_int_equal(sig, 0);
}

/* ------------------------------------------------------------ threads */

struct worker_arg {
	struct kms_client *c;
	int id;
	int ok;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	for (int i = 0; i < 150; i++) {
		char pt[64], aad[32];
		snprintf(pt, sizeof(pt), "thread %d message %d", a->id, i);
		snprintf(aad, sizeof(aad), "row-%d-%d", a->id, i);
		char *ct = NULL;
		uint8_t *back = NULL;
		size_t n = 0;
		struct bw_err err;
		if (kms_encrypt(a->c, "acme", "k", pt, strlen(pt), aad, strlen(aad), &ct,
				&err) < 0)
			continue;
		if (kms_decrypt(a->c, "acme", i % 2 ? "k" : NULL, ct, aad, strlen(aad),
				&back, &n, &err) == 0 &&
		    n == strlen(pt) && memcmp(back, pt, n) == 0)
			a->ok++;
		free(ct);
		free(back);
	}
	return NULL;
}

static void test_roundtrip_threads(void **state)
{
	(void)state;
	int fd;
	pid_t pid = start_keystore(KEYSTORE_SEAL_AUTO, &fd);
	struct bw_err err;
	struct kms_client *c = kms_client_new(fd, &err);
	assert_non_null(c);
	assert_true(kms_client_alive(c));

	struct keystore_enc e;
	req(&e, KEYSTORE_OP_PING, NULL, NULL);
	assert_int_equal(call(c, &e, NULL), KEYSTORE_OK);
	struct kms_reply *r;
	req(&e, KEYSTORE_OP_STATUS, NULL, NULL);
	assert_int_equal(call(c, &e, &r), KEYSTORE_OK);
	bool sealed = true;
	assert_true(keystore_msg_bool(r->msg, 0, KEYSTORE_TAG_SEALED, &sealed));
	assert_false(sealed);
	kms_reply_free(r);

	create_key(c, "acme", "k", KEYSTORE_KT_AES256_GCM);
	/* Eight threads hammer the same client; every reply must reach the
	 * caller that asked. */
	pthread_t th[8];
	struct worker_arg wa[8];
	for (int i = 0; i < 8; i++) {
		wa[i] = (struct worker_arg){ c, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &wa[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(wa[i].ok, 150);
	}
	struct kms_client_stats st;
	kms_client_stats(c, &st);
	assert_true(st.requests >= 8 * 300);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.timeouts, 0);

	/* Errors come back as statuses and as bw_err classes. */
	char *ct;
	assert_int_equal(kms_encrypt(c, "acme", "missing", "x", 1, NULL, 0, &ct, &err), -1);
	assert_int_equal(err.code, 404);
	assert_string_equal(err.reason, "not_found");
	uint8_t *pt;
	size_t n;
	assert_int_equal(kms_decrypt(c, "acme", "k", "bwk1:AAAA", NULL, 0, &pt, &n, &err), -1);
	assert_int_equal(err.code, 400);
	stop_keystore(c, pid);
}

/* The platform's own keys ('_…') open only by name: a ciphertext alone
 * (the tenant-level decrypt route) must not unlock them. */
static void test_reserved_keys_need_their_name(void **state)
{
	(void)state;
	int fd;
	pid_t pid = start_keystore(KEYSTORE_SEAL_AUTO, &fd);
	struct bw_err err;
	struct kms_client *c = kms_client_new(fd, &err);
	assert_non_null(c);
	create_key(c, "acme", "_sealer", KEYSTORE_KT_AES256_GCM);
	create_key(c, "acme", "plain", KEYSTORE_KT_AES256_GCM);
	char *ct, *ct2;
	uint8_t *pt;
	size_t n;
	assert_int_equal(kms_encrypt(c, "acme", "_sealer", "seed", 4, NULL, 0, &ct, &err), 0);
	assert_int_equal(kms_decrypt(c, "acme", "_sealer", ct, NULL, 0, &pt, &n, &err), 0);
	assert_memory_equal(pt, "seed", 4);
	free(pt);
	assert_int_equal(kms_decrypt(c, "acme", NULL, ct, NULL, 0, &pt, &n, &err), -1);
	assert_int_equal(err.code, 403);
	/* Ordinary keys still open from the ciphertext alone. */
	assert_int_equal(kms_encrypt(c, "acme", "plain", "data", 4, NULL, 0, &ct2, &err), 0);
	assert_int_equal(kms_decrypt(c, "acme", NULL, ct2, NULL, 0, &pt, &n, &err), 0);
	free(pt);
	free(ct);
	free(ct2);
	stop_keystore(c, pid);
}

/* --------------------------------------------------------------- async */

struct async_state {
	struct loop *loop;
	atomic_int done, ok;
	int want;
	pthread_t loop_thread;
};

static void on_done(struct kms_reply *r, const struct bw_err *err, void *arg)
{
	struct async_state *s = arg;
	if (r && !err && r->status == KEYSTORE_OK)
		atomic_fetch_add(&s->ok, 1);
	kms_reply_free(r);
	if (atomic_fetch_add(&s->done, 1) + 1 == s->want)
		loop_stop(s->loop);
}

static void *run_loop(void *p)
{
	struct async_state *s = p;
	(void)loop_run(s->loop);
	return NULL;
}

static void test_async(void **state)
{
	(void)state;
	int fd;
	pid_t pid = start_keystore(KEYSTORE_SEAL_AUTO, &fd);
	struct bw_err err;
	struct kms_client *c = kms_client_new(fd, &err);
	assert_non_null(c);
	create_key(c, "t", "sig", KEYSTORE_KT_ED25519);
	struct async_state s = { .want = 300 };
	s.loop = loop_new(16, &err);
	assert_non_null(s.loop);
	assert_int_equal(pthread_create(&s.loop_thread, NULL, run_loop, &s), 0);
	for (int i = 0; i < 300; i++) {
		struct keystore_enc e;
		req(&e, KEYSTORE_OP_SIGN, "t", i == 7 ? "nope" : "sig");
		keystore_enc_bytes(&e, KEYSTORE_TAG_MESSAGE, &i, sizeof(i));
		assert_int_equal(kms_call_async(c, &e, s.loop, on_done, &s, &err), 0);
		keystore_enc_fini(&e);
	}
	pthread_join(s.loop_thread, NULL);
	assert_int_equal(atomic_load(&s.done), 300);
	assert_int_equal(atomic_load(&s.ok), 299);
	stop_keystore(c, pid);
	loop_free(s.loop);
}

/* ----------------------------------------------------- operator + death */

static void test_operator_and_restart(void **state)
{
	(void)state;
	int fd;
	pid_t pid = start_keystore(KEYSTORE_SEAL_SHAMIR, &fd);
	struct bw_err err;
	struct kms_client *c = kms_client_new(fd, &err);
	struct keystore_enc e;
	struct kms_reply *r;
	/* Not initialised: key operations say so, with a 503 class. */
	req(&e, KEYSTORE_OP_KEY_LIST, "t", NULL);
	assert_int_equal(call(c, &e, &r), KEYSTORE_E_NOT_INITIALIZED);
	assert_int_equal(kms_reply_check(r, 0, &err), -1);
	assert_int_equal(err.code, 503);
	kms_reply_free(r);
	/* bulwark operator init --shares 3 --threshold 2 */
	req(&e, KEYSTORE_OP_INIT, NULL, NULL);
	keystore_enc_u32(&e, KEYSTORE_TAG_SEAL_TYPE, KEYSTORE_SEAL_SHAMIR);
	keystore_enc_u32(&e, KEYSTORE_TAG_SHARES, 3);
	keystore_enc_u32(&e, KEYSTORE_TAG_THRESHOLD, 2);
	assert_int_equal(call(c, &e, &r), KEYSTORE_OK);
	char shares[3][KEYSTORE_SHARE_TEXT_MAX];
	int ns = 0;
	for (uint32_t i = r->msg->item_start[0]; i < r->msg->item_start[1]; i++) {
		const struct keystore_field *f = &r->msg->fields[i];
		if (f->tag == KEYSTORE_TAG_SHARE && ns < 3) {
			memcpy(shares[ns], f->p, f->len);
			shares[ns++][f->len] = 0;
		}
	}
	kms_reply_free(r);
	assert_int_equal(ns, 3);
	create_key(c, "t", "k", KEYSTORE_KT_AES256_GCM);
	char *ct;
	assert_int_equal(kms_encrypt(c, "t", "k", "survives", 8, NULL, 0, &ct, &err), 0);

	/* The key process dies: calls fail fast with "unavailable". */
	assert_int_equal(kill(pid, SIGKILL), 0);
	int sig;
	wait_exit(pid, &sig);
	assert_int_equal(sig, SIGKILL);
	for (int i = 0; i < 100 && kms_client_alive(c); i++)
		usleep(10000);
	assert_false(kms_client_alive(c));
	uint8_t *pt;
	size_t n;
	assert_int_equal(kms_decrypt(c, "t", "k", ct, NULL, 0, &pt, &n, &err), -1);
	assert_int_equal(err.code, 503);
	assert_string_equal(err.reason, "unavailable");

	/* The supervisor starts a new one (sealed, as configured) and hands
	 * the socket to the client. */
	pid = start_keystore(KEYSTORE_SEAL_SHAMIR, &fd);
	assert_int_equal(kms_client_attach(c, fd, &err), 0);
	assert_true(kms_client_alive(c));
	assert_int_equal(kms_decrypt(c, "t", "k", ct, NULL, 0, &pt, &n, &err), -1);
	assert_int_equal(err.code, 503);
	assert_string_equal(err.reason, "sealed");
	req(&e, KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_str(&e, KEYSTORE_TAG_SHARE, shares[2]);
	assert_int_equal(call(c, &e, NULL), KEYSTORE_OK);
	req(&e, KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_str(&e, KEYSTORE_TAG_SHARE, shares[0]);
	assert_int_equal(call(c, &e, NULL), KEYSTORE_OK);
	assert_int_equal(kms_decrypt(c, "t", "k", ct, NULL, 0, &pt, &n, &err), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(pt, "survives", 8);
	free(pt);
	free(ct);
	stop_keystore(c, pid);
}

/* --------------------------------------------------- hostile messages */

static void expect_exit2(const void *msg, size_t len)
{
	int fd, sig;
	pid_t pid = start_keystore(KEYSTORE_SEAL_AUTO, &fd);
	assert_int_equal(send(fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
	/* No reply: the key process is gone. */
	assert_int_equal(wait_exit(pid, &sig), 2);
	char b[16];
	assert_int_equal(recv(fd, b, sizeof(b), 0), 0);
	close(fd);
}

static void test_malformed_kills(void **state)
{
	(void)state;
	/* Garbage. */
	expect_exit2("hello keystore", 14);
	/* A response sent as if it were a request. */
	struct keystore_enc e;
	const uint8_t *p;
	size_t n;
	keystore_enc_init(&e, KEYSTORE_RESPONSE, KEYSTORE_OP_PING, 0, 1);
	assert_int_equal(keystore_enc_finish(&e, &p, &n), 0);
	expect_exit2(p, n);
	/* A valid request with one byte of trailing junk (length lies). */
	keystore_enc_reset(&e, KEYSTORE_REQUEST, KEYSTORE_OP_PING, 0, 1);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "t");
	assert_int_equal(keystore_enc_finish(&e, &p, &n), 0);
	uint8_t *junk = malloc(n + 1);
	memcpy(junk, p, n);
	junk[n] = 0;
	expect_exit2(junk, n + 1);
	free(junk);
	keystore_enc_fini(&e);
	/* Oversized: one byte past the protocol maximum. */
	int sz = 512 * 1024;
	uint8_t *big = calloc(1, KEYSTORE_MSG_MAX + 1);
	int fd, sig;
	pid_t pid = start_keystore(KEYSTORE_SEAL_AUTO, &fd);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (send(fd, big, KEYSTORE_MSG_MAX + 1, MSG_NOSIGNAL) ==
	    (ssize_t)KEYSTORE_MSG_MAX + 1) {
		assert_int_equal(wait_exit(pid, &sig), 2);
	} else {
		/* The kernel refuses datagrams that large before the key
		 * process sees them: just as good. */
		close(fd);
		fd = -1;
		assert_int_equal(wait_exit(pid, &sig), 0);
	}
	if (fd >= 0)
		close(fd);
	free(big);
}

/* ------------------------------------------------------------ hardening */

static void test_hardening(void **state)
{
	(void)state;
	/* Process hardening, checked in a child. */
	pid_t pid = fork();
	if (pid == 0) {
		struct bw_err err;
		if (ks_harden_process(&err) < 0)
			_exit(10);
		/* (PR_GET_NO_NEW_PRIVS is not checked: some sandboxed
		 * kernels, e.g. gVisor, accept the set but report 0.) */
		struct rlimit rl;
		if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 ||
		    getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 ||
		    rl.rlim_max != 0)
			_exit(11);
		_exit(0);
	}
	int sig;
	assert_int_equal(wait_exit(pid, &sig), 0);
	/* Under the filter: allowed calls work; socket(), executable
	 * memory, fork and exec kill the process (SIGSYS). */
	static const int forbidden[] = { 1, 2, 3, 4 };
	for (size_t i = 0; i < BW_ARRAY_LEN(forbidden); i++) {
		pid = fork();
		if (pid == 0) {
			struct bw_err err;
			if (ks_harden_process(&err) < 0 || ks_harden_seccomp(&err) < 0)
				_exit(10);
			uint8_t b[8];
			bw_random(b, sizeof(b)); /* getrandom: allowed */
			void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				_exit(12);
			switch (forbidden[i]) {
			case 1:
				(void)socket(AF_INET, SOCK_STREAM, 0);
				break;
			case 2:
				(void)mprotect(m, 4096, PROT_READ | PROT_EXEC);
				break;
			case 3:
				(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				break;
			case 4: {
				char *argv[] = { "/bin/true", NULL };
				execv(argv[0], argv);
				break;
			}
			}
			_exit(0);
		}
		int code = wait_exit(pid, &sig);
#ifdef BW_SANITIZER_BUILD
		/* Sanitizer builds allow execve (the symboliser); the others
		 * still die. */
		if (forbidden[i] == 4)
			continue;
#endif
		assert_int_equal(code, -1);
		assert_int_equal(sig, SIGSYS);
	}
}

/* ---------------------------------------- imported bytes found nowhere */

/* Scans pid's readable memory for needle; -1 when it cannot be read. */
static int scan_mem(pid_t pid, const uint8_t *needle, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int mem = open(path, O_RDONLY);
	if (!maps || mem < 0) {
		if (maps)
			fclose(maps);
		if (mem >= 0)
			close(mem);
		return -1;
	}
	char line[512];
	int found = 0;
	size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap + n);
	while (!found && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
			continue;
		if (strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
			continue;
		/* Sanitizer shadow memory spans terabytes of untouched pages;
		 * no heap or stack region here is near 1 GiB. */
		if (hi - lo > (1ul << 30))
			continue;
		for (unsigned long a = lo; a < hi && !found; a += cap) {
			size_t want = hi - a < cap ? hi - a : cap;
			ssize_t got = pread(mem, buf, want, (off_t)a);
			if (got > 0 && memmem(buf, (size_t)got, needle, n))
				found = 1;
		}
	}
	free(buf);
	fclose(maps);
	close(mem);
	return found;
}

static int scan_dir(const char *d, const uint8_t *needle, size_t n)
{
	DIR *dd = opendir(d);
	if (!dd)
		return 0;
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(dd))) {
		if (de->d_name[0] == '.')
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = scan_dir(p, needle, n);
			continue;
		}
		size_t len;
		struct bw_err err;
		char *data = bw_file_read(p, 64 << 20, &len, &err);
		if (data && memmem(data, len, needle, n))
			found = 1;
		free(data);
	}
	closedir(dd);
	return found;
}

static void test_imported_bytes_nowhere(void **state)
{
	(void)state;
	int fd;
	pid_t ks = start_keystore(KEYSTORE_SEAL_AUTO, &fd);
	struct bw_err err;
	struct kms_client *c = kms_client_new(fd, &err);
	struct keystore_enc e;
	struct kms_reply *r;
	req(&e, KEYSTORE_OP_IMPORT_PARAMS, "t", NULL);
	assert_int_equal(call(c, &e, &r), KEYSTORE_OK);
	const struct keystore_field *pub = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_PUBKEY);
	assert_non_null(pub);
	/* A helper process (the key's owner) makes the key, wraps it to the
	 * import key, and later searches this process and the data
	 * directory for it. This process only ever sees the wrapped form. */
	int to_helper[2], from_helper[2];
	assert_int_equal(pipe(to_helper), 0);
	assert_int_equal(pipe(from_helper), 0);
	pid_t parent = getpid();
	pid_t helper = fork();
	if (helper == 0) {
		close(to_helper[1]);
		close(from_helper[0]);
		uint8_t key[32];
		bw_random(key, sizeof(key));
		struct bw_buf w;
		bw_buf_init(&w, KEYSTORE_WRAPPED_MAX);
		if (ks_rsa_aes_wrap(pub->p, pub->len, key, sizeof(key), &w, &err) < 0)
			_exit(20);
		uint32_t len = (uint32_t)w.len;
		if (write(from_helper[1], &len, 4) != 4 ||
		    write(from_helper[1], w.data, w.len) != (ssize_t)w.len)
			_exit(21);
		char go;
		if (read(to_helper[0], &go, 1) != 1)
			_exit(22);
		int in_worker = scan_mem(parent, key, sizeof(key));
		int in_files = scan_dir(dir, key, sizeof(key));
		/* Sanity: the scanner does find what is there. */
		int in_self = scan_mem(getpid(), key, sizeof(key));
		_exit(in_worker < 0 ? 30 : in_worker ? 31 : in_files ? 32 :
		      in_self != 1 ? 33 : 0);
	}
	close(to_helper[0]);
	close(from_helper[1]);
	kms_reply_free(r);
	uint32_t len;
	assert_int_equal(read(from_helper[0], &len, 4), 4);
	uint8_t *wrapped = malloc(len);
	assert_int_equal(read(from_helper[0], wrapped, len), (ssize_t)len);
	req(&e, KEYSTORE_OP_KEY_IMPORT, "t", "byok");
	keystore_enc_u32(&e, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	keystore_enc_bytes(&e, KEYSTORE_TAG_WRAPPED, wrapped, len);
	assert_int_equal(call(c, &e, NULL), KEYSTORE_OK);
	free(wrapped);
	/* Use the key a little, so its use paths are covered too. */
	char *ct;
	assert_int_equal(kms_encrypt(c, "t", "byok", "data", 4, NULL, 0, &ct, &err), 0);
	uint8_t *pt;
	size_t n;
	assert_int_equal(kms_decrypt(c, "t", NULL, ct, NULL, 0, &pt, &n, &err), 0);
	free(pt);
	free(ct);
	assert_int_equal(write(to_helper[1], "g", 1), 1);
	int sig;
	int code = wait_exit(helper, &sig);
	if (code == 30)
		skip(); /* no access to /proc/PID/mem here */
	assert_int_equal(code, 0);
	close(to_helper[1]);
	close(from_helper[0]);
	stop_keystore(c, ks);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	/* The test starts key processes; their stderr is ours. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_keys_need_their_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_kills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardening, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imported_bytes_nowhere, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
