/*
 * Fuzz target: the ACME request envelope — acme_jws_parse over a request
 * body (flattened JWS JSON, protected header rules, the embedded jwk),
 * then what the server does with a parsed envelope before any state:
 * signature verification with the embedded key, the RFC 7638
 * thumbprint, the nonce lookup, and, when the payload is JSON, the
 * external account binding parser and the key-change inner JWS parser.
 */
#include <stdint.h>
#include <string.h>

#include "pki/pki_acme_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct acme_nonces *nonces;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!nonces) {
		log_init("fuzz", BW_LOG_ERROR, 2);
		nonces = acme_nonces_new(16, 60);
	}
	struct bw_arena *a = bw_arena_new(16384, PKI_ACME_BODY_MAX * 8);
	struct acme_jws j;
	struct bw_err err;
	if (acme_jws_parse(a, (const char *)data, size, &j, &err) == 0) {
		if (j.jwk) {
			char tp[PKI_ACME_THUMB_LEN + 1];
			(void)acme_jws_verify(&j, j.jwk, &err);
			(void)acme_jwk_thumbprint(j.jwk, tp, &err);
		}
		if (j.has_nonce)
			(void)acme_nonce_consume(nonces, j.nonce.p, j.nonce.len);
		const struct json_value *p =
			json_parse(a, (const char *)j.payload, j.payload_len,
				   &acme_json_limits, &err);
		if (p && p->type == JSON_OBJECT) {
			const struct json_value *eab = json_get(p, "externalAccountBinding");
			struct acme_eab e;
			if (eab && acme_eab_parse(a, eab, &e, &err) == 0 && j.jwk) {
				static const uint8_t key[32] = { 1 };
				(void)acme_eab_verify(a, &e, key, sizeof(key), j.jwk, j.url,
						      &err);
			}
			struct acme_jws in;
			if (acme_jws_from_json(a, p, &in, &err) == 0 && in.jwk)
				(void)acme_jws_verify(&in, in.jwk, &err);
			acme_jws_fini(&in);
		}
	}
	acme_jws_fini(&j);
	bw_arena_free(a);
	return 0;
}
