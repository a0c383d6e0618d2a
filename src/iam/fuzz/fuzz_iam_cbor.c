/*
 * fuzz_iam_cbor — libFuzzer target for the WebAuthn input parsers: the
 * CBOR decoder, authenticator data, COSE keys, client data JSON and the
 * whole registration and assertion checks over attacker-chosen bytes;
 * and the login pages' Cookie header parser.
 *
 * Input: the first byte selects the target; for the ceremonies the next
 * two bytes give the length of the client data, the rest is the CBOR
 * (attestation object, or authenticator data + signature).
 *
 * Properties (abort on violation): a decoded tree is well formed (every
 * node's subtree ends within the tree, after the node, and the root's
 * subtree is the whole tree); an accepted COSE key yields a key and one of
 * the three algorithms; nothing is ever accepted as a registration or an
 * assertion, since no input here can carry a signature over a challenge
 * the relying party issued... except by breaking ECDSA, so success is
 * checked for consistency instead (a credential id and key are present).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "iam/iam_pages_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_iam_cbor: %s failed (%s:%d)\n",  \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

static const char *const origins[] = {"https://id.example"};
static const struct iam_webauthn_rp rp = {
    .rp_id = "id.example", .origins = origins, .norigins = 1};

static void tree(const uint8_t *p, size_t n)
{
	static struct iam_cbor_node nodes[IAM_CBOR_NODES_MAX];
	size_t cnt = 0, used = 0;
	struct bw_err err;
	if (iam_cbor_parse(p, n, nodes, IAM_CBOR_NODES_MAX, &cnt, &used, &err) <
	    0) {
		CHECK(err.code == 400 || err.code == 413);
		return;
	}
	CHECK(cnt >= 1 && nodes[0].end == cnt && used <= n);
	for (size_t i = 0; i < cnt; i++) {
		CHECK(nodes[i].end > i && nodes[i].end <= cnt);
		CHECK(nodes[i].raw >= p &&
		      nodes[i].raw + nodes[i].raw_len <= p + n);
		if (nodes[i].type == IAM_CBOR_MAP) {
			(void)iam_cbor_map_find_int(nodes, i, 1);
			(void)iam_cbor_map_find_text(nodes, i, "fmt");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_err err;
	if (size < 1)
		return 0;
	uint8_t sel = data[0] % 6;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	if (sel == 0) {
		tree(p, n);
	} else if (sel == 1) {
		struct iam_authdata ad;
		if (iam_authdata_parse(p, n, &ad, &err) == 0 && ad.cose_key)
			CHECK(ad.cose_key + ad.cose_key_len <= p + n);
	} else if (sel == 2) {
		void *k = NULL;
		int alg = 0;
		if (iam_cose_key_parse(p, n, &alg, &k, &err) == 0) {
			CHECK(k != NULL);
			CHECK(alg == IAM_COSE_ES256 || alg == IAM_COSE_EDDSA ||
			      alg == IAM_COSE_RS256);
			EVP_PKEY_free(k);
		}
	} else if (sel == 5) {
		/* The pages' Cookie header parser. */
		char tok[IAM_TOKEN_MAX];
		if (iam_pages_cookie_session(bw_str_make((const char *)p, n),
					     "acme", tok))
			CHECK(strlen(tok) > 0 && strlen(tok) < IAM_TOKEN_MAX &&
			      strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
					  "klmnopqrstuvwxyz0123456789-_") ==
				  strlen(tok));
	} else if (n >= 2) {
		size_t cl = (size_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
		if (cl > n)
			cl = n;
		if (sel == 3) {
			struct iam_webauthn_reg r;
			if (iam_webauthn_verify_registration(
				&rp, p, cl, p + cl, n - cl, &r, &err) == 0)
				CHECK(r.cred_id_len > 0 && r.cose_key_len > 0);
		} else {
			/* authenticator data (first 37 bytes or all), the rest
			 * the signature, verified against a fixed P-256 key. */
			static const uint8_t cose[] = {
			    0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21,
			    0x58, 0x20, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c,
			    0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
			    0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
			    0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98,
			    0xc2, 0x96, 0x22, 0x58, 0x20, 0x4f, 0xe3, 0x42,
			    0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
			    0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
			    0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40,
			    0x68, 0x37, 0xbf, 0x51, 0xf5};
			size_t al = n - cl < 37 ? n - cl : 37;
			struct iam_webauthn_assert a;
			(void)iam_webauthn_verify_assertion(
			    &rp, p, cl, p + cl, al, p + cl + al, n - cl - al,
			    cose, sizeof(cose), 0, &a, &err);
		}
	}
	return 0;
}
