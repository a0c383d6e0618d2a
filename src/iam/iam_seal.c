/*
 * Sealing of secrets at rest (TOTP seeds) behind struct iam_sealer, and
 * the in-process AES-256-GCM sealer that stands in until the kms exists.
 *
 * IN-PROCESS STOPGAP: iam_sealer_local keeps its key in this process's
 * memory. When the kms lands, it provides a sealer whose seal/open are
 * requests to the keystore process and this file's local sealer is only
 * used by tests.
 *
 * Sealed format (local sealer): version byte 0x01 | 12-byte random nonce
 * | ciphertext | 16-byte tag; the aad ("tenant/user/purpose") binds a
 * sealed value to its row.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

#define SEAL_VERSION 0x01
#define SEAL_MAX_PLAINTEXT 4096

struct local_sealer {
	uint8_t key[CRYPTO_AEAD_KEY_LEN];
};

static int local_seal(void *ctx, const uint8_t *pt, size_t n, const char *aad,
		      struct bw_buf *out, struct bw_err *err)
{
	struct local_sealer *ls = ctx;
	uint8_t hdr[1 + CRYPTO_AEAD_NONCE_LEN], tag[CRYPTO_AEAD_TAG_LEN];
	if (n > SEAL_MAX_PLAINTEXT)
		return bw_err_set(err, 413, "iam", "too_large",
				  "secret too large to seal");
	hdr[0] = SEAL_VERSION;
	bw_random(hdr + 1, CRYPTO_AEAD_NONCE_LEN);
	if (bw_buf_reserve(out, sizeof(hdr) + n + sizeof(tag)) < 0)
		return bw_err_set(err, 413, "iam", "too_large",
				  "sealed output too large");
	memcpy(out->data + out->len, hdr, sizeof(hdr));
	uint8_t *ct = (uint8_t *)out->data + out->len + sizeof(hdr);
	if (crypto_aead_seal(ls->key, hdr + 1, aad, strlen(aad), pt, n, ct, tag,
			     err) < 0)
		return -1;
	memcpy(ct + n, tag, sizeof(tag));
	out->len += sizeof(hdr) + n + sizeof(tag);
	out->data[out->len] = 0;
	return 0;
}

static int local_open(void *ctx, const uint8_t *ct, size_t n, const char *aad,
		      struct bw_buf *out, struct bw_err *err)
{
	struct local_sealer *ls = ctx;
	size_t over = 1 + CRYPTO_AEAD_NONCE_LEN + CRYPTO_AEAD_TAG_LEN;
	if (n < over || ct[0] != SEAL_VERSION)
		return bw_err_set(err, 400, "iam", "bad_tag",
				  "not a sealed value");
	size_t len = n - over;
	if (bw_buf_reserve(out, len) < 0)
		return bw_err_set(err, 413, "iam", "too_large",
				  "opened value too large");
	uint8_t *pt = (uint8_t *)out->data + out->len;
	if (crypto_aead_open(ls->key, ct + 1, aad, strlen(aad),
			     ct + 1 + CRYPTO_AEAD_NONCE_LEN, len,
			     ct + n - CRYPTO_AEAD_TAG_LEN, pt, err) < 0)
		return -1;
	out->len += len;
	out->data[out->len] = 0;
	return 0;
}

static void local_free(void *ctx)
{
	struct local_sealer *ls = ctx;
	if (!ls)
		return;
	bw_wipe(ls, sizeof(*ls));
	free(ls);
}

int iam_sealer_local(struct iam_sealer *s, const uint8_t key[32],
		     struct bw_err *err)
{
	struct local_sealer *ls = malloc(sizeof(*ls));
	if (!ls)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	memcpy(ls->key, key, CRYPTO_AEAD_KEY_LEN);
	*s = (struct iam_sealer){.seal = local_seal,
				 .open = local_open,
				 .ctx = ls,
				 .free = local_free};
	return 0;
}

static int make_aad(char *aad, size_t cap, const char *tenant,
		    const char *user_id, const char *purpose,
		    struct bw_err *err)
{
	if (bw_snprintf(aad, cap, "%s/%s/%s", tenant, user_id, purpose) < 0)
		return bw_err_set(err, 400, "iam", "bad_name", "aad too long");
	return 0;
}

int iam_seal(struct iam *iam, const char *tenant, const char *user_id,
	     const char *purpose, const uint8_t *pt, size_t n,
	     struct bw_buf *out, struct bw_err *err)
{
	char aad[IAM_TENANT_MAX + IAM_ID_LEN + 64];
	if (make_aad(aad, sizeof(aad), tenant, user_id, purpose, err) < 0)
		return -1;
	return iam->sealer.seal(iam->sealer.ctx, pt, n, aad, out, err);
}

int iam_unseal(struct iam *iam, const char *tenant, const char *user_id,
	       const char *purpose, const uint8_t *ct, size_t n,
	       struct bw_buf *out, struct bw_err *err)
{
	char aad[IAM_TENANT_MAX + IAM_ID_LEN + 64];
	if (make_aad(aad, sizeof(aad), tenant, user_id, purpose, err) < 0)
		return -1;
	return iam->sealer.open(iam->sealer.ctx, ct, n, aad, out, err);
}
