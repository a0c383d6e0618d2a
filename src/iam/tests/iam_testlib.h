/* Shared by the unit tests of the browser half (test_iam_webauthn,
 * test_iam_pages, test_iam_stepup; test_iam for the base32 helper): a store in a fresh temporary directory and an identity
 * core over it with an in-process sealer, and their removal. */
#ifndef BW_IAM_TESTLIB_H
#define BW_IAM_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iam/iam_int.h"

/* dir: 64 bytes, filled with the directory made. 0 or -1. */
static inline int iam_test_open(char dir[64], struct store **st,
				struct iam **iam)
{
	struct bw_err err;
	char path[128];
	uint8_t key[32] = {7};
	bw_snprintf(dir, 64, "/tmp/bw-iam-web-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	bw_snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = {.path = path,
				   .durability = STORE_DURABILITY_NORMAL};
	*st = store_open(&so, &err);
	struct iam_options o = {.store = *st};
	if (!*st || iam_sealer_local(&o.sealer, key, &err) < 0 ||
	    !(*iam = iam_new(&o, &err)))
		return -1;
	return 0;
}

static inline int iam_test_close(const char *dir, struct store *st,
				 struct iam *iam)
{
	char cmd[128];
	iam_free(iam);
	store_close(st);
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A session of user in tenant (mfa: signed in with a second factor).
 * OUT: handle (its credential id). 0 or -1. */
static inline int iam_test_session(struct iam *iam, const char *tenant,
				   const char *user, bool mfa,
				   char handle[IAM_ID_LEN + 1])
{
	struct iam_tenant t;
	struct iam_principal p;
	struct bw_err err;
	char tok[IAM_TOKEN_MAX];
	if (iam_tenant_get(iam, tenant, &t, &err) < 0 ||
	    iam_session_create(iam, tenant, user, "192.0.2.1", mfa, &t.policy,
			       tok, &err) < 0 ||
	    iam_authenticate_bearer(iam, tok, strlen(tok), &p) < 0)
		return -1;
	memcpy(handle, p.credential_id, IAM_ID_LEN + 1);
	return 0;
}

/* The secret of a TOTP enrolment, from its base32 text (RFC 4648, no
 * padding, upper case as iam_totp_begin writes it). Returns its bytes. */
static inline size_t iam_test_b32_decode(const char *s, uint8_t *out)
{
	static const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint32_t buf = 0;
	int bits = 0;
	size_t o = 0;
	for (; *s; s++) {
		buf = (buf << 5) | (uint32_t)(strchr(a, *s) - a);
		bits += 5;
		if (bits >= 8) {
			out[o++] = (uint8_t)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	return o;
}

#endif
