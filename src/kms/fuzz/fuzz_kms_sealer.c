/*
 * fuzz_kms_sealer — libFuzzer target for the kms sealer's open path
 * (kms_iam_sealer), which reads values back from the state store: bytes
 * that anyone able to write the SQLite file controls. The first input
 * byte picks whether a legacy (in-process AES-GCM) sealer is attached;
 * the rest is the stored value. The key process is absent (its socket
 * is closed), so a value reaching it fails "unavailable".
 *
 * Properties checked on every input (abort on failure):
 *  - open never succeeds: nothing an attacker writes opens without a
 *    key (the legacy sealer's key is fixed but never used to seal here);
 *  - a failure is 400 "bad_tag" (malformed, or refused by the legacy
 *    sealer) or 503 (well-formed, sent towards the key process) — never
 *    a 413/500 from the input itself;
 *  - the output buffer is left as it was (no partial plaintext).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iam/iam.h"
#include "kms/kms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_kms_sealer: %s failed (%s:%d)\n", \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

static struct kms_client *client;
static struct iam_sealer plain, with_legacy;

static void init(void)
{
	struct bw_err err;
	int sp[2];
	log_init("fuzz", BW_LOG_ERROR, 2);
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
	close(sp[1]); /* no key process */
	client = kms_client_new(sp[0], &err);
	CHECK(client != NULL);
	for (int i = 0; i < 1000 && kms_client_alive(client); i++)
		usleep(1000);
	CHECK(!kms_client_alive(client));
	CHECK(kms_iam_sealer(client, "platform", "_iam-seal", &plain, &err) == 0);
	CHECK(kms_iam_sealer(client, "platform", "_iam-seal", &with_legacy, &err) == 0);
	static const uint8_t key[32] = { 7, 7, 7 };
	struct iam_sealer legacy;
	CHECK(iam_sealer_local(&legacy, key, &err) == 0);
	CHECK(kms_iam_sealer_legacy(&with_legacy, &legacy, &err) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!client)
		init();
	if (size < 1)
		return 0;
	const struct iam_sealer *s = data[0] & 1 ? &with_legacy : &plain;
	struct bw_buf out;
	struct bw_err err;
	bw_buf_init(&out, 1 << 20);
	CHECK(bw_buf_append(&out, "keep", 4) == 0);
	int rc = s->open(s->ctx, data + 1, size - 1, "tenant/user/totp", &out, &err);
	CHECK(rc == -1);
	CHECK((err.code == 400 && (strcmp(err.reason, "bad_tag") == 0)) ||
	      err.code == 503);
	CHECK(out.len == 4 && memcmp(out.data, "keep", 4) == 0);
	bw_buf_fini(&out);
	return 0;
}
