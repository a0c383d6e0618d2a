/*
 * The bootstrap admin token: 32 random bytes shown once by `bulwark init`,
 * kept on disk only as its SHA-256 (plus the token itself in a 0600 file
 * until identity replaces it).
 */
#include "api/api_int.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------------- tokens */

int api_load_token_hash(struct api_ctx *ctx, const char *data_dir,
			struct bw_err *err)
{
	char path[4096];
	if (bw_snprintf(path, sizeof(path), "%s/bootstrap-token.sha256", data_dir) < 0)
		return bw_err_set(err, 400, "api", "path", "path too long");
	size_t len;
	char *hex = bw_file_read(path, 256, &len, err);
	if (!hex)
		return -1;
	while (len && (hex[len - 1] == '\n' || hex[len - 1] == ' '))
		len--;
	size_t n;
	int rc = bw_hex_decode(hex, len, ctx->token_hash, sizeof(ctx->token_hash), &n);
	free(hex);
	if (rc < 0 || n != API_TOKEN_HASH_LEN)
		return bw_err_set(err, 400, "api", "bad_token_hash",
				  "%s: not a SHA-256 hex digest", path);
	ctx->have_token = true;
	return 0;
}

int api_create_token(const char *data_dir, char token[64], struct bw_err *err)
{
	/* 32 random bytes, base64url without padding: 43 characters; the
	 * "bwt_" prefix makes leaked tokens easy to find with scanners. */
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[33];
	bw_random(raw, 32);
	raw[32] = 0;
	memcpy(token, "bwt_", 4);
	size_t o = 4;
	for (size_t i = 0; i < 33; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
			     raw[i + 2];
		token[o++] = b64[(v >> 18) & 63];
		token[o++] = b64[(v >> 12) & 63];
		token[o++] = b64[(v >> 6) & 63];
		if (o < 47)
			token[o++] = b64[v & 63];
	}
	token[o] = '\0';
	bw_wipe(raw, sizeof(raw));

	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, strlen(token), digest);
	char hex[2 * SHA256_DIGEST_LENGTH + 2];
	bw_hex_encode(digest, sizeof(digest), hex);
	size_t hl = strlen(hex);
	hex[hl] = '\n';
	char path[4096];
	int rc = -1;
	if (bw_snprintf(path, sizeof(path), "%s/bootstrap-token.sha256", data_dir) < 0) {
		bw_err_set(err, 400, "api", "path", "path too long");
		goto out;
	}
	if (bw_file_write_atomic(path, hex, hl + 1, 0600, err) < 0)
		goto out;
	if (bw_snprintf(path, sizeof(path), "%s/bootstrap-token", data_dir) < 0)
		goto out;
	char line[80];
	int n = bw_snprintf(line, sizeof(line), "%s\n", token);
	rc = n < 0 ? -1 : bw_file_write_atomic(path, line, (size_t)n, 0600, err);
	bw_wipe(line, sizeof(line));
out:
	bw_wipe(digest, sizeof(digest));
	return rc;
}
