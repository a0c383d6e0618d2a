/*
 * keystore_main: the key process. Order of start-up matters and is
 * deliberate:
 *   1. close every inherited descriptor but stdio and the socket;
 *   2. no core files, not dumpable, no new privileges;
 *   3. the locked secure heap for every secret (refuse to run without it:
 *      keys must never reach swap);
 *   4. known-answer self-tests (refuse to serve if any fails);
 *   5. open the data directory, read the seal, auto-unseal if so set up;
 *   6. the seccomp filter — from here on the process can only use what
 *      keystore_harden.c allows;
 *   7. serve: one request at a time from the socket, background work
 *      (master-key re-wrap, scheduled rotation/destruction) when idle.
 *
 * Every message from the peer is checked (size, header, every field)
 * before anything reads it; one that fails is an attack or a bug, and
 * the process exits with status 2 rather than guess.
 */
#include "keystore/keystore_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXIT_MALFORMED 2
#define EXIT_SELFTEST 3
#define EXIT_SETUP 4

static void close_others(int sock)
{
	/* close_range(2) exists since Linux 5.9; fall back to a loop. */
	if (sock > 3)
		(void)close_range(3, (unsigned)sock - 1, 0);
	if (close_range((unsigned)sock + 1, ~0u, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = sock + 1; fd < (max > 0 ? max : 1024); fd++)
			(void)close((int)fd);
	}
}

static size_t heap_size(size_t want)
{
	if (want == 0)
		want = KEYSTORE_SECURE_HEAP_DEFAULT;
	if (want > KEYSTORE_SECURE_HEAP_HARD)
		want = KEYSTORE_SECURE_HEAP_HARD;
	size_t p = 1u << 16;
	while (p < want)
		p <<= 1;
	return p;
}

static _Noreturn void leave(struct ks_engine *e, uint8_t *buf, int status)
{
	if (buf) {
		bw_wipe(buf, KEYSTORE_MSG_MAX + 1);
		free(buf);
	}
	ks_engine_free(e);
	_exit(status);
}

_Noreturn void keystore_main(int sock, const struct keystore_options *opts)
{
	struct bw_err err;
	log_set_role("keystore");
	log_set_level(opts->log_level);
	close_others(sock);
	if (ks_harden_process(&err) < 0) {
		log_warnx("keystore: %s", err.msg);
		_exit(EXIT_SETUP);
	}
	if (ks_secure_heap_init(heap_size(opts->secure_heap), &err) < 0) {
		log_warnx("keystore: refusing to hold keys in swappable memory: %s",
			  err.msg);
		_exit(EXIT_SETUP);
	}
	if (ks_selftest(&err) < 0) {
		log_warnx("keystore: %s; refusing to serve", err.msg);
		_exit(EXIT_SELFTEST);
	}
	log_debug("keystore: known-answer self-tests passed");
	struct ks_engine_conf conf = { .data_dir = opts->data_dir,
				       .unseal_mode = opts->unseal_mode,
				       .auto_unseal_file = opts->auto_unseal_file };
	struct ks_engine *e = ks_engine_new(&conf, &err);
	if (!e) {
		log_warnx("keystore: %s", err.msg);
		_exit(EXIT_SETUP);
	}
	uint8_t *buf = malloc(KEYSTORE_MSG_MAX + 1);
	struct keystore_msg *req = keystore_msg_new();
	struct keystore_enc out;
	keystore_enc_init(&out, KEYSTORE_RESPONSE, 0, 0, 0);
	if (!buf || !req) {
		log_warnx("keystore: out of memory");
		leave(e, buf, EXIT_SETUP);
	}
	if (ks_harden_seccomp(&err) < 0) {
		log_warnx("keystore: %s", err.msg);
		leave(e, buf, EXIT_SETUP);
	}
	log_info("keystore ready (%s)", ks_engine_sealed(e) ? "sealed" : "unsealed");

	bool busy = false;
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		/* Idle work runs between requests: at once while a re-wrap is
		 * pending, otherwise once a second for the clock rules. */
		int pr = poll(&pfd, 1, busy ? 0 : 1000);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			log_warn("keystore: poll");
			leave(e, buf, EXIT_SETUP);
		}
		if (pr == 0) {
			busy = ks_engine_idle(e);
			continue;
		}
		/* MSG_TRUNC makes recv report a datagram's real length, so an
		 * oversized one is seen, not silently cut. */
		ssize_t n = recv(sock, buf, KEYSTORE_MSG_MAX + 1, MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_warn("keystore: recv");
			leave(e, buf, EXIT_SETUP);
		}
		if (n == 0) {
			log_info("keystore: peer closed the socket; exiting");
			keystore_enc_fini(&out);
			keystore_msg_free(req);
			leave(e, buf, 0);
		}
		if ((size_t)n > KEYSTORE_MSG_MAX ||
		    keystore_msg_decode(req, buf, (size_t)n, &err) < 0 ||
		    req->kind != KEYSTORE_REQUEST) {
			log_warnx("keystore: malformed message from the peer (%s); "
				  "exiting",
				  (size_t)n > KEYSTORE_MSG_MAX ? "too large" :
				  req->kind != KEYSTORE_REQUEST ? "not a request" :
								 err.reason);
			leave(e, buf, EXIT_MALFORMED);
		}
		ks_engine_handle(e, req, &out);
		bw_wipe(buf, (size_t)n);
		const uint8_t *p;
		size_t len;
		if (keystore_enc_finish(&out, &p, &len) < 0)
			leave(e, buf, EXIT_SETUP); /* handle always finishes */
		ssize_t w;
		do {
			w = send(sock, p, len, MSG_NOSIGNAL);
		} while (w < 0 && errno == EINTR);
		if (w < 0) {
			log_warn("keystore: send");
			leave(e, buf, 0);
		}
		busy = true; /* look for idle work after each request */
	}
}
