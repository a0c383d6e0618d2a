/*
 * Tests for keystore_proto.c and keystore_ctext.c: encode/decode round
 * trips (single and batch), every class of malformed message the decoder
 * must refuse, encoder-side limits, base64url strictness and the
 * ciphertext format's structural checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keystore/keystore_int.h"

struct encoded {
	uint8_t *p;
	size_t n;
};

/* Finishes e into a malloc'd copy. */
static struct encoded finish(struct keystore_enc *e)
{
	const uint8_t *p;
	size_t n;
	assert_int_equal(keystore_enc_finish(e, &p, &n), 0);
	struct encoded out = { malloc(n), n };
	assert_non_null(out.p);
	memcpy(out.p, p, n);
	keystore_enc_fini(e);
	return out;
}

static void test_roundtrip_single(void **state)
{
	(void)state;
	struct keystore_enc e;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_ENCRYPT, 0, 0x1122334455667788ull);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "acme");
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, "orders");
	keystore_enc_bytes(&e, KEYSTORE_TAG_PLAINTEXT, "\0\1\2", 3);
	keystore_enc_bytes(&e, KEYSTORE_TAG_AAD, "", 0);
	keystore_enc_u32(&e, KEYSTORE_TAG_VERSION, 7);
	keystore_enc_u64(&e, KEYSTORE_TAG_ROTATE_PERIOD, 1ull << 40);
	keystore_enc_bool(&e, KEYSTORE_TAG_EXPORTABLE, true);
	struct encoded m = finish(&e);

	struct keystore_msg *d = keystore_msg_new();
	struct bw_err err;
	assert_int_equal(keystore_msg_decode(d, m.p, m.n, &err), 0);
	assert_int_equal(d->kind, KEYSTORE_REQUEST);
	assert_int_equal(d->op, KEYSTORE_OP_ENCRYPT);
	assert_int_equal(d->id, 0x1122334455667788ull);
	assert_int_equal(d->nitems, 0);
	assert_int_equal(keystore_msg_items(d), 1);
	assert_int_equal(keystore_msg_item_index(d, 0), 0);
	struct bw_str s;
	assert_true(keystore_msg_str(d, 0, KEYSTORE_TAG_TENANT, &s));
	assert_true(bw_str_eq_lit(s, "acme"));
	const struct keystore_field *f = keystore_msg_get(d, 0, KEYSTORE_TAG_PLAINTEXT);
	assert_non_null(f);
	assert_int_equal(f->len, 3);
	assert_memory_equal(f->p, "\0\1\2", 3);
	f = keystore_msg_get(d, 0, KEYSTORE_TAG_AAD);
	assert_non_null(f);
	assert_int_equal(f->len, 0);
	uint32_t v;
	uint64_t v64;
	bool b = false;
	assert_true(keystore_msg_u32(d, 0, KEYSTORE_TAG_VERSION, &v));
	assert_int_equal(v, 7);
	assert_true(keystore_msg_u64(d, 0, KEYSTORE_TAG_ROTATE_PERIOD, &v64));
	assert_true(v64 == 1ull << 40);
	assert_true(keystore_msg_bool(d, 0, KEYSTORE_TAG_EXPORTABLE, &b));
	assert_true(b);
	assert_false(keystore_msg_u32(d, 0, KEYSTORE_TAG_COUNT, &v));
	assert_null(keystore_msg_get(d, 1, KEYSTORE_TAG_TENANT));

	/* The id can be rewritten after encoding. */
	keystore_msg_set_id(m.p, 42);
	assert_int_equal(keystore_msg_decode(d, m.p, m.n, &err), 0);
	assert_int_equal(d->id, 42);
	keystore_msg_free(d);
	free(m.p);
}

static void test_roundtrip_batch(void **state)
{
	(void)state;
	struct keystore_enc e;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_SIGN, 0, 1);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "t");
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, "k");
	keystore_enc_u32(&e, KEYSTORE_TAG_VERSION, 2);
	for (unsigned i = 0; i < KEYSTORE_BATCH_MAX; i++) {
		keystore_enc_item(&e);
		keystore_enc_bytes(&e, KEYSTORE_TAG_MESSAGE, &i, sizeof(i));
		if (i == 5)
			keystore_enc_u32(&e, KEYSTORE_TAG_VERSION, 9);
	}
	struct encoded m = finish(&e);
	struct keystore_msg *d = keystore_msg_new();
	struct bw_err err;
	assert_int_equal(keystore_msg_decode(d, m.p, m.n, &err), 0);
	assert_int_equal(d->nitems, KEYSTORE_BATCH_MAX);
	assert_int_equal(keystore_msg_items(d), KEYSTORE_BATCH_MAX);
	for (unsigned i = 0; i < KEYSTORE_BATCH_MAX; i++) {
		size_t it = keystore_msg_item_index(d, i);
		assert_int_equal(it, i + 1);
		const struct keystore_field *f = keystore_msg_get(d, it, KEYSTORE_TAG_MESSAGE);
		assert_non_null(f);
		assert_memory_equal(f->p, &i, sizeof(i));
		/* Items inherit common fields unless they override them. */
		uint32_t v;
		assert_true(keystore_msg_u32(d, it, KEYSTORE_TAG_VERSION, &v));
		assert_int_equal(v, i == 5 ? 9 : 2);
		assert_null(keystore_msg_get(d, it, KEYSTORE_TAG_KEY));
		assert_non_null(keystore_msg_find(d, it, KEYSTORE_TAG_KEY));
	}
	keystore_msg_free(d);
	free(m.p);

	/* One item more than the maximum is refused by the encoder. */
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_SIGN, 0, 1);
	for (unsigned i = 0; i <= KEYSTORE_BATCH_MAX; i++)
		keystore_enc_item(&e);
	const uint8_t *p;
	size_t n;
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	keystore_enc_fini(&e);
}

static void test_encoder_limits(void **state)
{
	(void)state;
	struct keystore_enc e;
	const uint8_t *p;
	size_t n;
	static uint8_t big[KEYSTORE_DATA_MAX + 1];

	/* Each of these poisons the encoder. */
	keystore_enc_init(&e, KEYSTORE_REQUEST, 1, 0, 1);
	keystore_enc_bytes(&e, KEYSTORE_TAG_PLAINTEXT, big, sizeof(big));
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	keystore_enc_reset(&e, KEYSTORE_REQUEST, 1, 0, 1);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "");
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	keystore_enc_reset(&e, KEYSTORE_REQUEST, 1, 0, 1);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "new\nline");
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	keystore_enc_reset(&e, KEYSTORE_REQUEST, 1, 0, 1);
	keystore_enc_bytes(&e, 999, "x", 1);
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	keystore_enc_reset(&e, KEYSTORE_REQUEST, 1, 0, 1);
	keystore_enc_bytes(&e, KEYSTORE_TAG_KEY_ID, "short", 5);
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	keystore_enc_reset(&e, KEYSTORE_REQUEST, 1, 0, 1);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, NULL);
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	/* Three maximal plaintexts exceed the message size. */
	keystore_enc_reset(&e, KEYSTORE_REQUEST, 1, 0, 1);
	for (int i = 0; i < 3; i++) {
		keystore_enc_item(&e);
		keystore_enc_bytes(&e, KEYSTORE_TAG_PLAINTEXT, big, KEYSTORE_DATA_MAX);
	}
	assert_int_equal(keystore_enc_finish(&e, &p, &n), -1);
	/* After a reset the encoder works again. */
	keystore_enc_reset(&e, KEYSTORE_RESPONSE, 1, KEYSTORE_E_SEALED, 1);
	keystore_enc_str(&e, KEYSTORE_TAG_ERROR, "sealed");
	assert_int_equal(keystore_enc_finish(&e, &p, &n), 0);
	struct keystore_msg *d = keystore_msg_new();
	struct bw_err err;
	assert_int_equal(keystore_msg_decode(d, p, n, &err), 0);
	assert_int_equal(d->status, KEYSTORE_E_SEALED);
	assert_int_equal(d->kind, KEYSTORE_RESPONSE);
	keystore_msg_free(d);
	keystore_enc_fini(&e);
}

/* A valid base message to corrupt. */
static struct encoded base_msg(void)
{
	struct keystore_enc e;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_HMAC, 0, 9);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "t1");
	keystore_enc_bytes(&e, KEYSTORE_TAG_MESSAGE, "hello", 5);
	return finish(&e);
}

static void expect_bad(const uint8_t *p, size_t n, const char *reason)
{
	struct keystore_msg *d = keystore_msg_new();
	struct bw_err err;
	bw_err_clear(&err);
	assert_int_equal(keystore_msg_decode(d, p, n, &err), -1);
	assert_int_equal(err.code, 400);
	if (reason)
		assert_string_equal(err.reason, reason);
	keystore_msg_free(d);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void test_malformed(void **state)
{
	(void)state;
	struct encoded m = base_msg();
	uint8_t *c = malloc(m.n + 64);
	assert_non_null(c);

	expect_bad(m.p, 0, "short");
	expect_bad(m.p, KEYSTORE_HDR_LEN - 1, "short");
	memcpy(c, m.p, m.n);
	c[0] = 'X';
	expect_bad(c, m.n, "magic");
	memcpy(c, m.p, m.n);
	c[2] = 2;
	expect_bad(c, m.n, "version");
	memcpy(c, m.p, m.n);
	c[3] = 3;
	expect_bad(c, m.n, "kind");
	memcpy(c, m.p, m.n);
	c[7] = KEYSTORE_STATUS_MAX_;
	expect_bad(c, m.n, "status");
	memcpy(c, m.p, m.n);
	c[23] = 1;
	expect_bad(c, m.n, "reserved");
	/* Truncated at every length: the body length no longer matches. */
	for (size_t n = KEYSTORE_HDR_LEN; n < m.n; n++)
		expect_bad(m.p, n, "length");
	/* Trailing garbage with a matching length: a truncated field. */
	memcpy(c, m.p, m.n);
	c[m.n] = 0;
	c[m.n + 1] = 1;
	put32(c + 16, (uint32_t)(m.n + 2 - KEYSTORE_HDR_LEN));
	expect_bad(c, m.n + 2, "truncated");
	/* Field length pointing past the end. */
	memcpy(c, m.p, m.n);
	put32(c + KEYSTORE_HDR_LEN + 2, 1000);
	expect_bad(c, m.n, "truncated");
	/* Unknown tags: 0, unassigned, past the table. */
	uint16_t tags[] = { 0, KEYSTORE_TAG_MAX_, 0xffff };
	for (size_t i = 0; i < 3; i++) {
		memcpy(c, m.p, m.n);
		c[KEYSTORE_HDR_LEN] = (uint8_t)(tags[i] >> 8);
		c[KEYSTORE_HDR_LEN + 1] = (uint8_t)tags[i];
		expect_bad(c, m.n, "tag");
	}
	/* Text with a control byte. */
	memcpy(c, m.p, m.n);
	c[KEYSTORE_HDR_LEN + 6] = '\n';
	expect_bad(c, m.n, "value");
	/* The tenant field relabelled as a u32 (2 bytes): wrong size. */
	memcpy(c, m.p, m.n);
	c[KEYSTORE_HDR_LEN + 1] = KEYSTORE_TAG_VERSION;
	expect_bad(c, m.n, "value");
	/* A repeated non-repeatable tag. */
	{
		struct keystore_enc e;
		keystore_enc_init(&e, KEYSTORE_REQUEST, 1, 0, 1);
		keystore_enc_str(&e, KEYSTORE_TAG_TENANT, "a");
		keystore_enc_str(&e, KEYSTORE_TAG_KEY, "b");
		struct encoded r = finish(&e);
		/* Make the key tag a tenant tag. */
		r.p[KEYSTORE_HDR_LEN + 7 + 1] = KEYSTORE_TAG_TENANT;
		expect_bad(r.p, r.n, "repeat");
		free(r.p);
	}
	/* Booleans must be 0 or 1. */
	{
		struct keystore_enc e;
		keystore_enc_init(&e, KEYSTORE_REQUEST, 1, 0, 1);
		keystore_enc_bool(&e, KEYSTORE_TAG_EXPORTABLE, true);
		struct encoded r = finish(&e);
		r.p[KEYSTORE_HDR_LEN + 6] = 2;
		expect_bad(r.p, r.n, "value");
		free(r.p);
	}
	/* Repeatable tags may repeat; the same tag in two items is fine. */
	{
		struct keystore_enc e;
		keystore_enc_init(&e, KEYSTORE_REQUEST, 1, 0, 1);
		keystore_enc_str(&e, KEYSTORE_TAG_SHARE, "a");
		keystore_enc_str(&e, KEYSTORE_TAG_SHARE, "b");
		keystore_enc_item(&e);
		keystore_enc_str(&e, KEYSTORE_TAG_KEY, "x");
		keystore_enc_item(&e);
		keystore_enc_str(&e, KEYSTORE_TAG_KEY, "y");
		struct encoded r = finish(&e);
		struct keystore_msg *d = keystore_msg_new();
		struct bw_err err;
		assert_int_equal(keystore_msg_decode(d, r.p, r.n, &err), 0);
		assert_int_equal(d->nitems, 2);
		keystore_msg_free(d);
		free(r.p);
	}
	/* Too long for the wire. */
	uint8_t *huge = calloc(1, KEYSTORE_MSG_MAX + 1);
	assert_non_null(huge);
	memcpy(huge, m.p, KEYSTORE_HDR_LEN);
	expect_bad(huge, KEYSTORE_MSG_MAX + 1, "too_large");
	free(huge);
	free(c);
	free(m.p);
}

static void test_too_many(void **state)
{
	(void)state;
	/* Hand-built: KEYSTORE_BATCH_MAX + 1 ITEM fields. */
	size_t n = KEYSTORE_HDR_LEN + (KEYSTORE_BATCH_MAX + 1) * 6;
	uint8_t *p = calloc(1, n);
	assert_non_null(p);
	p[0] = 'B';
	p[1] = 'K';
	p[2] = 1;
	p[3] = 1;
	put32(p + 16, (uint32_t)(n - KEYSTORE_HDR_LEN));
	for (size_t i = 0; i <= KEYSTORE_BATCH_MAX; i++)
		p[KEYSTORE_HDR_LEN + i * 6 + 1] = KEYSTORE_TAG_ITEM;
	expect_bad(p, n, "items");
	free(p);
	/* KEYSTORE_FIELDS_MAX + 1 VTIME fields (repeatable) in one item. */
	n = KEYSTORE_HDR_LEN + (KEYSTORE_FIELDS_MAX + 1) * 14;
	p = calloc(1, n);
	assert_non_null(p);
	p[0] = 'B';
	p[1] = 'K';
	p[2] = 1;
	p[3] = 2;
	put32(p + 16, (uint32_t)(n - KEYSTORE_HDR_LEN));
	for (size_t i = 0; i <= KEYSTORE_FIELDS_MAX; i++) {
		p[KEYSTORE_HDR_LEN + i * 14 + 1] = KEYSTORE_TAG_VTIME;
		p[KEYSTORE_HDR_LEN + i * 14 + 5] = 8;
	}
	expect_bad(p, n, "fields");
	free(p);
}

static void test_b64url(void **state)
{
	(void)state;
	/* RFC 4648 §10 vectors (the url alphabet agrees on these). */
	const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *out[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	char buf[32];
	uint8_t bin[32];
	size_t n;
	for (size_t i = 0; i < 7; i++) {
		size_t m = keystore_b64url_encode((const uint8_t *)in[i], strlen(in[i]),
						  buf, sizeof(buf));
		assert_int_equal(m, strlen(out[i]));
		assert_string_equal(buf, out[i]);
		assert_int_equal(keystore_b64url_decode(out[i], strlen(out[i]), bin,
							sizeof(bin), &n), 0);
		assert_int_equal(n, strlen(in[i]));
		assert_memory_equal(bin, in[i], n);
	}
	const uint8_t ff[] = { 0xfb, 0xff };
	assert_int_equal(keystore_b64url_encode(ff, 2, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "-_8");
	/* Refused: padding, standard alphabet, whitespace, a lone char,
	 * non-zero trailing bits, output overflow. */
	const char *bad[] = { "Zg==", "+/8", "Zm 9v", "Z", "Zh", "Zm9", "Zm9vYmF" };
	assert_int_equal(keystore_b64url_decode(bad[0], 4, bin, sizeof(bin), &n), -1);
	assert_int_equal(keystore_b64url_decode(bad[1], 3, bin, sizeof(bin), &n), -1);
	assert_int_equal(keystore_b64url_decode(bad[2], 5, bin, sizeof(bin), &n), -1);
	assert_int_equal(keystore_b64url_decode(bad[3], 1, bin, sizeof(bin), &n), -1);
	assert_int_equal(keystore_b64url_decode(bad[4], 2, bin, sizeof(bin), &n), -1);
	assert_int_equal(keystore_b64url_decode(bad[5], 3, bin, sizeof(bin), &n), -1);
	assert_int_equal(keystore_b64url_decode(bad[6], 7, bin, 4, &n), -1);
	assert_int_equal(keystore_b64url_encode((const uint8_t *)"foobar", 6, buf, 8), 0);
	assert_int_equal(keystore_b64url_encode((const uint8_t *)"foobar", 6, buf, 9), 8);
}

static void test_ctext(void **state)
{
	(void)state;
	uint8_t bin[KEYSTORE_CTEXT_OVERHEAD + 5];
	memset(bin, 0xab, sizeof(bin));
	bin[0] = 1;
	bin[1] = 2;
	bin[2] = 0;
	bin[3] = 0;
	bin[4] = 1;
	bin[5] = 2;
	char text[200];
	size_t n = keystore_ctext_armour(bin, sizeof(bin), text, sizeof(text));
	assert_true(n > 5);
	assert_memory_equal(text, "bwk1:", 5);
	uint8_t buf[200];
	struct keystore_ctext c;
	struct bw_err err;
	assert_int_equal(keystore_ctext_decode(text, n, buf, sizeof(buf), &c, &err), 0);
	assert_int_equal(c.alg, 2);
	assert_int_equal(c.version, 258);
	assert_int_equal(c.ct_len, 5);
	assert_ptr_equal(c.nonce, buf + KEYSTORE_CTEXT_HDR);
	assert_ptr_equal(c.tag, buf + KEYSTORE_CTEXT_HDR + 12 + 5);
	assert_memory_equal(c.key_id, bin + 6, 16);

	/* Wrong prefix, bad base64, short, bad format/alg/version. */
	assert_int_equal(keystore_ctext_decode("bwk2:AAAA", 9, buf, sizeof(buf), &c, &err), -1);
	assert_string_equal(err.reason, "ctext_prefix");
	assert_int_equal(keystore_ctext_decode("bwk1:A*AA", 9, buf, sizeof(buf), &c, &err), -1);
	assert_string_equal(err.reason, "ctext_base64");
	assert_int_equal(keystore_ctext_decode("bwk1:AAAA", 9, buf, sizeof(buf), &c, &err), -1);
	assert_string_equal(err.reason, "ctext_short");
	struct {
		size_t off;
		uint8_t val;
		const char *reason;
	} cases[] = { { 0, 2, "ctext_format" }, { 1, 0, "ctext_alg" },
		      { 1, 3, "ctext_alg" } };
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		uint8_t b2[sizeof(bin)];
		memcpy(b2, bin, sizeof(bin));
		b2[cases[i].off] = cases[i].val;
		n = keystore_ctext_armour(b2, sizeof(b2), text, sizeof(text));
		assert_int_equal(keystore_ctext_decode(text, n, buf, sizeof(buf), &c, &err), -1);
		assert_string_equal(err.reason, cases[i].reason);
	}
	uint8_t b3[sizeof(bin)];
	memcpy(b3, bin, sizeof(bin));
	memset(b3 + 2, 0, 4);
	n = keystore_ctext_armour(b3, sizeof(b3), text, sizeof(text));
	assert_int_equal(keystore_ctext_decode(text, n, buf, sizeof(buf), &c, &err), -1);
	assert_string_equal(err.reason, "ctext_version");
	/* Output buffer too small for the decoded body. */
	n = keystore_ctext_armour(bin, sizeof(bin), text, sizeof(text));
	assert_int_equal(keystore_ctext_decode(text, n, buf, 10, &c, &err), -1);
}

static void test_names(void **state)
{
	(void)state;
	for (unsigned t = 1; t < KEYSTORE_KT_MAX_; t++) {
		const char *n = keystore_key_type_name(t);
		assert_non_null(n);
		assert_int_equal(keystore_key_type_parse(n), t);
	}
	assert_null(keystore_key_type_name(0));
	assert_null(keystore_key_type_name(KEYSTORE_KT_MAX_));
	assert_int_equal(keystore_key_type_parse("aes128-gcm"), 0);
	assert_int_equal(keystore_key_type_parse(NULL), 0);
	for (unsigned s = 0; s < KEYSTORE_STATUS_MAX_; s++)
		assert_non_null(keystore_status_name(s));
	assert_int_equal(keystore_seal_type_parse("shamir"), KEYSTORE_SEAL_SHAMIR);
	assert_int_equal(keystore_seal_type_parse("none"), 0);
	assert_true(keystore_name_valid("acme-prod_1.x", 13));
	assert_false(keystore_name_valid("", 0));
	assert_false(keystore_name_valid(".hidden", 7));
	assert_false(keystore_name_valid("-x", 2));
	assert_false(keystore_name_valid("a/b", 3));
	assert_false(keystore_name_valid("a@b", 3));
	assert_false(keystore_name_valid("a b", 3));
	char longname[KEYSTORE_NAME_MAX + 1];
	memset(longname, 'a', sizeof(longname));
	assert_true(keystore_name_valid(longname, KEYSTORE_NAME_MAX));
	assert_false(keystore_name_valid(longname, KEYSTORE_NAME_MAX + 1));
	assert_true(keystore_key_type_is_aead(KEYSTORE_KT_CHACHA20_POLY1305));
	assert_false(keystore_key_type_is_aead(KEYSTORE_KT_HMAC_SHA256));
	assert_true(keystore_key_type_is_signing(KEYSTORE_KT_RSA_4096));
	assert_true(keystore_key_type_is_signing(KEYSTORE_KT_ED25519));
	assert_false(keystore_key_type_is_signing(KEYSTORE_KT_HMAC_SHA512));
	assert_true(keystore_key_type_is_hmac(KEYSTORE_KT_HMAC_SHA512));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_single),
		cmocka_unit_test(test_roundtrip_batch),
		cmocka_unit_test(test_encoder_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_ctext),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
