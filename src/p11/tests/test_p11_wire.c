/*
 * Unit tests for the PKCS#11 wire protocol: round trips, the encoder's
 * limits, every class of malformed message the decoder must refuse, and
 * frame I/O over a socketpair (split frames, oversized lengths, a peer
 * that stalls mid-frame, clean close).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "p11/p11_wire.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct p11_msg *msg;

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A message body (no frame length) with the given raw fields. */
static size_t raw(uint8_t *out, unsigned op, unsigned nf, const uint8_t *fields,
		  size_t flen)
{
	out[0] = 'B';
	out[1] = 'P';
	out[2] = 1;
	out[3] = (uint8_t)op;
	put32(out + 4, 0);
	out[8] = (uint8_t)(nf >> 8);
	out[9] = (uint8_t)nf;
	out[10] = out[11] = 0;
	memcpy(out + 12, fields, flen);
	return 12 + flen;
}

static void test_round_trip(void **state)
{
	struct p11_enc e;
	p11_enc_init(&e, P11_OP_ENCRYPT, 0x150);
	p11_enc_str(&e, P11_T_NAME, "orders");
	p11_enc_bytes(&e, P11_T_AAD, "ctx", 3);
	for (int i = 0; i < 3; i++) {
		uint8_t iv[12];
		memset(iv, i, sizeof(iv));
		p11_enc_bytes(&e, P11_T_IV, iv, 12);
		p11_enc_bytes(&e, P11_T_DATA, "abc", (size_t)i);
	}
	p11_enc_u32(&e, P11_T_COUNT, 0xdeadbeef);
	const uint8_t *f;
	size_t n;
	assert_int_equal(p11_enc_finish(&e, &f, &n), 0);
	const char *why = NULL;
	assert_int_equal(p11_msg_decode(msg, f + 4, n - 4, &why), 0);
	assert_int_equal(msg->op, P11_OP_ENCRYPT);
	assert_int_equal(msg->status, 0x150);
	assert_int_equal(p11_msg_count(msg, P11_T_IV), 3);
	assert_int_equal(p11_msg_count(msg, P11_T_DATA), 3);
	assert_int_equal(p11_msg_get(msg, P11_T_DATA, 2)->len, 2);
	assert_int_equal(p11_msg_get(msg, P11_T_IV, 1)->p[0], 1);
	assert_null(p11_msg_get(msg, P11_T_IV, 3));
	char name[P11_NAME_MAX + 1];
	assert_true(p11_msg_text(msg, P11_T_NAME, 0, name, sizeof(name)));
	assert_string_equal(name, "orders");
	assert_false(p11_msg_text(msg, P11_T_NAME, 0, name, 3)); /* too small */
	uint32_t v;
	assert_true(p11_msg_u32(msg, P11_T_COUNT, 0, &v));
	assert_int_equal(v, 0xdeadbeef);
	assert_false(p11_msg_u32(msg, P11_T_HASH, 0, &v));
	p11_enc_fini(&e);
}

static void test_encoder_limits(void **state)
{
	struct p11_enc e;
	const uint8_t *f;
	size_t n;
	/* text with a control character */
	p11_enc_init(&e, P11_OP_LOGIN, 0);
	p11_enc_str(&e, P11_T_TENANT, "bad\nname");
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	/* wrong type for the tag, too-long PIN, non-repeatable repeated is
	 * the decoder's job; unknown tag and bad IV size are the encoder's */
	p11_enc_init(&e, P11_OP_LOGIN, 0);
	p11_enc_u32(&e, P11_T_PIN, 1);
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	uint8_t big[P11_PIN_MAX + 1] = { 0 };
	p11_enc_init(&e, P11_OP_LOGIN, 0);
	p11_enc_bytes(&e, P11_T_PIN, big, sizeof(big));
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	p11_enc_init(&e, P11_OP_SIGN, 0);
	p11_enc_bytes(&e, 99, "x", 1);
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	p11_enc_init(&e, P11_OP_ENCRYPT, 0);
	p11_enc_bytes(&e, P11_T_IV, "short", 5);
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	p11_enc_init(&e, 0, 0);
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	/* the message bound: 3 x 64 KiB does not fit 160 KiB */
	uint8_t *d = calloc(1, P11_DATA_MAX);
	assert_non_null(d);
	p11_enc_init(&e, P11_OP_ENCRYPT, 0);
	for (int i = 0; i < 3; i++)
		p11_enc_bytes(&e, P11_T_DATA, d, P11_DATA_MAX);
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	/* too many fields */
	p11_enc_init(&e, P11_OP_ENCRYPT, 0);
	for (unsigned i = 0; i <= P11_WIRE_FIELDS_MAX; i++)
		p11_enc_bytes(&e, P11_T_DATA, d, 0);
	assert_int_equal(p11_enc_finish(&e, &f, &n), -1);
	p11_enc_fini(&e);
	free(d);
}

static void expect_bad(const uint8_t *p, size_t n, const char *reason)
{
	const char *why = NULL;
	assert_int_equal(p11_msg_decode(msg, p, n, &why), -1);
	assert_non_null(why);
	assert_non_null(strstr(why, reason));
}

static void test_decoder_hostile(void **state)
{
	uint8_t b[256], fld[64];
	size_t n;
	/* good baseline: one PIN field */
	memcpy(fld, "\x00\x02\x00\x00\x00\x03pin", 9);
	n = raw(b, P11_OP_LOGIN, 1, fld, 9);
	const char *why;
	assert_int_equal(p11_msg_decode(msg, b, n, &why), 0);
	expect_bad(b, 5, "length");
	b[0] = 'X';
	expect_bad(b, n, "magic");
	b[0] = 'B';
	b[2] = 2;
	expect_bad(b, n, "version");
	b[2] = 1;
	b[3] = 0;
	expect_bad(b, n, "op");
	b[3] = P11_OP_MAX_;
	expect_bad(b, n, "op");
	b[3] = P11_OP_LOGIN;
	b[11] = 1;
	expect_bad(b, n, "reserved");
	b[11] = 0;
	b[9] = 2; /* claims two fields */
	expect_bad(b, n, "truncated");
	b[9] = 0; /* claims none: the field is trailing */
	expect_bad(b, n, "trailing");
	b[8] = 0xff; /* far too many */
	expect_bad(b, n, "too many");
	/* unknown tag */
	memcpy(fld, "\x00\x63\x00\x00\x00\x01x", 7);
	n = raw(b, P11_OP_LOGIN, 1, fld, 7);
	expect_bad(b, n, "unknown tag");
	/* length past the end */
	memcpy(fld, "\x00\x02\x00\x00\x10\x00x", 7);
	n = raw(b, P11_OP_LOGIN, 1, fld, 7);
	expect_bad(b, n, "past");
	/* wrong size: a u32 of 3 bytes, an IV of 11 */
	memcpy(fld, "\x00\x0f\x00\x00\x00\x03xyz", 9);
	n = raw(b, P11_OP_RANDOM, 1, fld, 9);
	expect_bad(b, n, "size");
	/* empty PIN */
	memcpy(fld, "\x00\x02\x00\x00\x00\x00", 6);
	n = raw(b, P11_OP_LOGIN, 1, fld, 6);
	expect_bad(b, n, "size");
	/* non-printable text */
	memcpy(fld, "\x00\x03\x00\x00\x00\x02\x01\x7f", 8);
	n = raw(b, P11_OP_SIGN, 1, fld, 8);
	expect_bad(b, n, "printable");
	/* repeated non-repeatable */
	memcpy(fld, "\x00\x02\x00\x00\x00\x01" "a" "\x00\x02\x00\x00\x00\x01" "b", 14);
	n = raw(b, P11_OP_LOGIN, 2, fld, 14);
	expect_bad(b, n, "repeated");
	/* repeatable ones may repeat */
	memcpy(fld, "\x00\x01\x00\x00\x00\x01" "a" "\x00\x01\x00\x00\x00\x01" "b", 14);
	n = raw(b, P11_OP_SLOTS, 2, fld, 14);
	assert_int_equal(p11_msg_decode(msg, b, n, &why), 0);
	assert_int_equal(p11_msg_count(msg, P11_T_TENANT), 2);
}

static void test_frames(void **state)
{
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	uint8_t *buf = malloc(P11_WIRE_MSG_MAX);
	assert_non_null(buf);
	struct p11_enc e;
	const uint8_t *f;
	size_t n;
	p11_enc_init(&e, P11_OP_RANDOM, 0);
	p11_enc_u32(&e, P11_T_COUNT, 16);
	assert_int_equal(p11_enc_finish(&e, &f, &n), 0);
	/* split across writes */
	assert_int_equal(write(sp[0], f, 3), 3);
	assert_int_equal(write(sp[0], f + 3, n - 3), (ssize_t)(n - 3));
	long r = p11_wire_recv(sp[1], buf, P11_WIRE_MSG_MAX, 1000);
	assert_int_equal(r, (long)(n - 4));
	assert_memory_equal(buf, f + 4, n - 4);
	/* two frames in one write */
	uint8_t two[128];
	memcpy(two, f, n);
	memcpy(two + n, f, n);
	assert_int_equal(p11_wire_send(sp[0], two, 2 * n), 0);
	assert_int_equal(p11_wire_recv(sp[1], buf, P11_WIRE_MSG_MAX, 1000), (long)(n - 4));
	assert_int_equal(p11_wire_recv(sp[1], buf, P11_WIRE_MSG_MAX, 1000), (long)(n - 4));
	/* an oversized length is refused before reading the body */
	uint8_t hdr[4];
	put32(hdr, P11_WIRE_MSG_MAX + 1);
	assert_int_equal(write(sp[0], hdr, 4), 4);
	assert_int_equal(p11_wire_recv(sp[1], buf, P11_WIRE_MSG_MAX, 1000), -1);
	/* a peer that stalls mid-frame times out */
	int sq[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sq), 0);
	assert_int_equal(write(sq[0], f, n - 1), (ssize_t)(n - 1));
	assert_int_equal(p11_wire_recv(sq[1], buf, P11_WIRE_MSG_MAX, 100), -1);
	/* close between frames is a clean 0; mid-header is an error */
	close(sq[0]);
	close(sq[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sq), 0);
	close(sq[0]);
	assert_int_equal(p11_wire_recv(sq[1], buf, P11_WIRE_MSG_MAX, 100), 0);
	close(sq[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sq), 0);
	assert_int_equal(write(sq[0], f, 2), 2);
	close(sq[0]);
	assert_int_equal(p11_wire_recv(sq[1], buf, P11_WIRE_MSG_MAX, 100), -1);
	close(sq[1]);
	p11_enc_fini(&e);
	free(buf);
	close(sp[0]);
	close(sp[1]);
}

int main(void)
{
	msg = malloc(sizeof(*msg));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encoder_limits),
		cmocka_unit_test(test_decoder_hostile),
		cmocka_unit_test(test_frames),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(msg);
	return rc;
}
