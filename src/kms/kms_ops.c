/*
 * Typed, blocking helpers over kms_call for other modules (envelope
 * encryption of secrets at rest), and the mapping from keystore statuses
 * to the HTTP-like classes bulwark's errors use.
 *
 * Invariant: a helper either returns 0 with every OUT filled (memory the
 * caller owns) or -1 with err and no OUT memory left allocated.
 */
#include "kms/kms_int.h"

#include <stdlib.h>
#include <string.h>

#define M "kms"

int kms_status_http(unsigned status)
{
	switch (status) {
	case KEYSTORE_OK:
		return 200;
	case KEYSTORE_E_BAD_REQUEST:
	case KEYSTORE_E_AUTH:
	case KEYSTORE_E_UNSUPPORTED:
		return 400;
	case KEYSTORE_E_DENIED:
		return 403;
	case KEYSTORE_E_NOT_FOUND:
		return 404;
	case KEYSTORE_E_EXISTS:
	case KEYSTORE_E_KEY_STATE:
	case KEYSTORE_E_VERSION:
	case KEYSTORE_E_ALREADY:
	case KEYSTORE_E_LIMIT:
		return 409;
	case KEYSTORE_E_TOO_LARGE:
		return 413;
	case KEYSTORE_E_SEALED:
	case KEYSTORE_E_NOT_INITIALIZED:
	case KEYSTORE_E_UNAVAILABLE:
		return 503;
	default:
		return 500;
	}
}

int kms_reply_check(const struct kms_reply *r, size_t item, struct bw_err *err)
{
	uint32_t st = r->status;
	if (item != 0 && !keystore_msg_u32(r->msg, item, KEYSTORE_TAG_STATUS, &st))
		return bw_err_set(err, 500, M, "reply", "reply item without status");
	if (st == KEYSTORE_OK)
		return 0;
	char msg[KEYSTORE_ERROR_MAX + 1];
	kms_reply_error(r, item, msg, sizeof(msg));
	const char *name = keystore_status_name(st);
	return bw_err_set(err, kms_status_http(st), M, name ? name : "error", "%s",
			  msg[0] ? msg : (name ? name : "key operation failed"));
}

int kms_encrypt(struct kms_client *c, const char *tenant, const char *key,
		const void *pt, size_t n, const void *aad, size_t aadlen,
		char **ct, struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	int rc = -1;
	*ct = NULL;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_ENCRYPT, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	keystore_enc_bytes(&e, KEYSTORE_TAG_PLAINTEXT, pt, n);
	if (aad)
		keystore_enc_bytes(&e, KEYSTORE_TAG_AAD, aad, aadlen);
	if (kms_call(c, &e, 0, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	struct bw_str s;
	if (!keystore_msg_str(r->msg, 0, KEYSTORE_TAG_CIPHERTEXT, &s)) {
		bw_err_set(err, 500, M, "reply", "reply without ciphertext");
		goto out;
	}
	*ct = malloc(s.len + 1);
	if (!*ct) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		goto out;
	}
	memcpy(*ct, s.p, s.len);
	(*ct)[s.len] = '\0';
	rc = 0;
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return rc;
}

int kms_decrypt(struct kms_client *c, const char *tenant, const char *key,
		const char *ct, const void *aad, size_t aadlen, uint8_t **pt,
		size_t *ptlen, struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	int rc = -1;
	*pt = NULL;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_DECRYPT, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	if (key)
		keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	keystore_enc_str(&e, KEYSTORE_TAG_CIPHERTEXT, ct);
	if (aad)
		keystore_enc_bytes(&e, KEYSTORE_TAG_AAD, aad, aadlen);
	if (kms_call(c, &e, 0, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	const struct keystore_field *f = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_PLAINTEXT);
	if (!f) {
		bw_err_set(err, 500, M, "reply", "reply without plaintext");
		goto out;
	}
	*pt = malloc(f->len ? f->len : 1);
	if (!*pt) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		goto out;
	}
	memcpy(*pt, f->p, f->len);
	*ptlen = f->len;
	rc = 0;
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return rc;
}

size_t kms_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t need = (n + 2) / 3 * 4;
	if (cap == 0 || need > cap - 1)
		return 0;
	size_t m = keystore_b64url_encode(in, n, out, cap);
	if (n && !m)
		return 0;
	for (size_t i = 0; i < m; i++)
		out[i] = out[i] == '-' ? '+' : out[i] == '_' ? '/' : out[i];
	while (m % 4)
		out[m++] = '=';
	out[m] = '\0';
	return m;
}

int kms_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		   size_t *outlen)
{
	if (n % 4 != 0)
		return -1;
	size_t len = n;
	while (len > 0 && n - len < 2 && in[len - 1] == '=')
		len--;
	char *t = malloc(len + 1);
	if (!t)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i++) {
		char c = in[i];
		if (c == '-' || c == '_' || c == '=')
			rc = -1; /* url-safe alphabet or inner padding */
		t[i] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	if (rc == 0)
		rc = keystore_b64url_decode(t, len, out, cap, outlen);
	bw_wipe(t, len + 1);
	free(t);
	return rc;
}
