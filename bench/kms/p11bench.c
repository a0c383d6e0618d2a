/*
 * p11bench — PKCS#11 throughput harness used for bulwark's module and for
 * SoftHSM2 alike (bench/kms/run.sh), so both are measured the same way:
 * one process, one logged-in session per thread (the login is shared by
 * the token), each thread looping Init + one-shot operation until the
 * time is up; the first result of each thread is checked (signatures with
 * C_Verify, ciphertexts by decrypting).
 *
 * Usage: p11bench MODULE.so TOKEN_LABEL PIN KEY_LABEL OP SECONDS [THREADS]
 *   OP: ecdsa      CKM_ECDSA over a 32-byte digest
 *       rsa        CKM_SHA256_RSA_PKCS over 32 bytes
 *       aesgcm     CKM_AES_GCM encryption of 1 KiB, one call per message
 *       aesgcm-batch  the same through C_BulwarkEncryptBatch, 64 messages
 *                  per call (bulwark only; counts messages)
 * Prints one line: op=... threads=... ops=... ops_per_s=... cpu_s=... (the
 * CPU time this process used, setup included).
 */
#include "p11/bulwark_pkcs11.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BATCH 64
#define MSG 1024

static CK_FUNCTION_LIST_PTR f;
static CK_C_BulwarkEncryptBatch batch_fn;
static CK_SLOT_ID slot;
static const char *key_label, *op;
static double seconds;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11bench: %s: 0x%lx\n", what, (unsigned long)rv);
	exit(2);
}

#define TRY(what, call)                                                        \
	do {                                                                   \
		CK_RV rv_ = (call);                                            \
		if (rv_ != CKR_OK)                                             \
			die(what, rv_);                                        \
	} while (0)

static CK_OBJECT_HANDLE key_of(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
			     { CKA_LABEL, (void *)key_label, strlen(key_label) } };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	TRY("FindObjectsInit", f->C_FindObjectsInit(s, t, 2));
	TRY("FindObjects", f->C_FindObjects(s, &h, 1, &n));
	TRY("FindObjectsFinal", f->C_FindObjectsFinal(s));
	if (n != 1) {
		fprintf(stderr, "p11bench: no key '%s' of class %lu\n", key_label,
			(unsigned long)cls);
		exit(2);
	}
	return h;
}

struct th {
	pthread_t t;
	unsigned long ops;
	double secs;
};

static void *run(void *arg)
{
	struct th *me = arg;
	CK_SESSION_HANDLE s;
	TRY("OpenSession", f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
					    NULL, NULL, &s));
	unsigned char data[BATCH][MSG];
	unsigned char out[BATCH][MSG + 64], iv[BATCH][12], back[MSG + 64];
	memset(data, 0x5a, sizeof(data));
	memset(iv, 0, sizeof(iv));
	CK_GCM_PARAMS gcm = { .pIv = iv[0], .ulIvLen = 12, .ulIvBits = 96, .ulTagBits = 128 };
	CK_MECHANISM m = { 0, NULL, 0 };
	bool sign = true, isbatch = !strcmp(op, "aesgcm-batch");
	CK_ULONG inlen = 32;
	if (!strcmp(op, "ecdsa")) {
		m.mechanism = CKM_ECDSA;
	} else if (!strcmp(op, "rsa")) {
		m.mechanism = CKM_SHA256_RSA_PKCS;
	} else if (!strcmp(op, "aesgcm") || isbatch) {
		m.mechanism = CKM_AES_GCM;
		m.pParameter = &gcm;
		m.ulParameterLen = sizeof(gcm);
		sign = false;
		inlen = MSG;
	} else {
		fprintf(stderr, "p11bench: unknown op %s\n", op);
		exit(2);
	}
	if (isbatch && !batch_fn) {
		fprintf(stderr, "p11bench: module has no C_BulwarkEncryptBatch\n");
		exit(2);
	}
	CK_OBJECT_HANDLE key = key_of(s, sign ? CKO_PRIVATE_KEY : CKO_SECRET_KEY);
	CK_OBJECT_HANDLE pub = sign ? key_of(s, CKO_PUBLIC_KEY) : CK_INVALID_HANDLE;
	uint64_t counter = (uint64_t)(uintptr_t)me << 20;

	/* check one result first */
	CK_ULONG ol = sizeof(out[0]);
	if (sign) {
		TRY("SignInit", f->C_SignInit(s, &m, key));
		TRY("Sign", f->C_Sign(s, data[0], inlen, out[0], &ol));
		TRY("VerifyInit", f->C_VerifyInit(s, &m, pub));
		TRY("Verify", f->C_Verify(s, data[0], inlen, out[0], ol));
	} else {
		TRY("EncryptInit", f->C_EncryptInit(s, &m, key));
		TRY("Encrypt", f->C_Encrypt(s, data[0], inlen, out[0], &ol));
		CK_ULONG bl = sizeof(back);
		TRY("DecryptInit", f->C_DecryptInit(s, &m, key));
		TRY("Decrypt", f->C_Decrypt(s, out[0], ol, back, &bl));
		if (bl != inlen || memcmp(back, data[0], inlen) != 0) {
			fprintf(stderr, "p11bench: decryption mismatch\n");
			exit(2);
		}
	}

	unsigned long ops = 0;
	double t0 = now(), t1 = t0;
	while (t1 - t0 < seconds) {
		for (int i = 0; i < 8; i++) {
			if (sign) {
				ol = sizeof(out[0]);
				TRY("SignInit", f->C_SignInit(s, &m, key));
				TRY("Sign", f->C_Sign(s, data[0], inlen, out[0], &ol));
				ops++;
			} else if (!isbatch) {
				/* a fresh IV per message, as a real caller must */
				counter++;
				memcpy(iv[0], &counter, sizeof(counter));
				ol = sizeof(out[0]);
				TRY("EncryptInit", f->C_EncryptInit(s, &m, key));
				TRY("Encrypt", f->C_Encrypt(s, data[0], inlen, out[0], &ol));
				ops++;
			} else {
				CK_BYTE_PTR ivs[BATCH], ins[BATCH], outs[BATCH];
				CK_ULONG inl[BATCH], outl[BATCH];
				for (int k = 0; k < BATCH; k++) {
					counter++;
					memcpy(iv[k], &counter, sizeof(counter));
					ivs[k] = iv[k];
					ins[k] = data[k];
					outs[k] = out[k];
					inl[k] = MSG;
					outl[k] = sizeof(out[k]);
				}
				TRY("BulwarkEncryptBatch",
				    batch_fn(s, &m, key, BATCH, ivs, ins, inl, outs, outl));
				ops += BATCH;
			}
		}
		t1 = now();
	}
	me->ops = ops;
	me->secs = t1 - t0;
	f->C_CloseSession(s);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: %s MODULE.so TOKEN PIN KEY ecdsa|rsa|aesgcm|aesgcm-batch "
				"SECONDS [THREADS]\n", argv[0]);
		return 1;
	}
	const char *token = argv[2], *pin = argv[3];
	key_label = argv[4];
	op = argv[5];
	seconds = strtod(argv[6], NULL);
	long nt = argc > 7 ? strtol(argv[7], NULL, 10) : 1;
	if (nt < 1 || nt > 64 || seconds <= 0 || seconds > 600) {
		fprintf(stderr, "p11bench: 1..64 threads, 0..600 s\n");
		return 1;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "p11bench: %s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	batch_fn = (CK_C_BulwarkEncryptBatch)dlsym(h, "C_BulwarkEncryptBatch");
	if (!gfl)
		return 2;
	TRY("GetFunctionList", gfl(&f));
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	TRY("Initialize", f->C_Initialize(&ia));
	CK_SLOT_ID slots[64];
	CK_ULONG ns = 64;
	TRY("GetSlotList", f->C_GetSlotList(CK_TRUE, slots, &ns));
	bool found = false;
	for (CK_ULONG i = 0; i < ns && !found; i++) {
		CK_TOKEN_INFO ti;
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		size_t l = strlen(token);
		if (l <= sizeof(ti.label) && memcmp(ti.label, token, l) == 0 &&
		    (l == sizeof(ti.label) || ti.label[l] == ' ')) {
			slot = slots[i];
			found = true;
		}
	}
	if (!found) {
		fprintf(stderr, "p11bench: no token '%s'\n", token);
		return 2;
	}
	CK_SESSION_HANDLE ls;
	TRY("OpenSession", f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
					    NULL, NULL, &ls));
	TRY("Login", f->C_Login(ls, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
	struct th t[64];
	memset(t, 0, sizeof(t));
	for (long i = 0; i < nt; i++)
		if (pthread_create(&t[i].t, NULL, run, &t[i]) != 0)
			return 2;
	double rate = 0;
	unsigned long total = 0;
	for (long i = 0; i < nt; i++) {
		pthread_join(t[i].t, NULL);
		total += t[i].ops;
		rate += t[i].secs > 0 ? (double)t[i].ops / t[i].secs : 0;
	}
	/* CPU this process used (an in-process module like SoftHSM2 spends
	 * all of its CPU here; bulwark's worker and key process are counted
	 * by the caller from /proc). */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("op=%s threads=%ld seconds=%.1f ops=%lu ops_per_s=%.0f cpu_s=%.3f\n", op, nt,
	       seconds, total, rate, cpu);
	f->C_Logout(ls);
	f->C_CloseSession(ls);
	f->C_Finalize(NULL);
	return 0;
}
