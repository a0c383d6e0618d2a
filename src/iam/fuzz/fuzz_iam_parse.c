/*
 * fuzz_iam_parse — libFuzzer target for the identity core's parsers of
 * untrusted text: tenant policy JSON (API bodies and stored rows), API key
 * tokens, PHC hash strings (parameter parsing for rehash), blocklist
 * lines, HOTP over arbitrary secrets, and the OAuth request parsers
 * (application/x-www-form-urlencoded, HTTP Basic credentials).
 *
 * Properties (abort on violation): an accepted policy passes
 * iam_policy_check and survives to_json -> from_json unchanged; a token
 * that looks like an API key has the exact length and prefix; every
 * blocklist entry added is found again, case-insensitively; HOTP output
 * has exactly the requested digits; a parsed form has no repeated name and
 * no control character in any name or value, and every name is found by
 * iam_form_get; Basic credentials come back NUL-terminated, id non-empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iam/iam_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_iam_parse: %s failed (%s:%d)\n", \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

static void policy(const char *s, size_t n)
{
	struct iam_policy p, q;
	struct bw_err err;
	iam_policy_defaults(&p);
	if (iam_policy_from_json(s, n, &p, &err) < 0) {
		CHECK(err.code == 400 || err.code == 413);
		return;
	}
	CHECK(iam_policy_check(&p, &err) == 0);
	struct bw_buf b;
	bw_buf_init(&b, 16384);
	CHECK(iam_policy_to_json(&p, &b) == 0);
	/* Compare through the serialised form: the structs' padding bytes
	 * are not part of their value. */
	iam_policy_defaults(&q);
	q.pw_history = p.pw_history == 7 ? 8 : 7; /* must be overwritten */
	CHECK(iam_policy_from_json(b.data, b.len, &q, &err) == 0);
	struct bw_buf b2;
	bw_buf_init(&b2, 16384);
	CHECK(iam_policy_to_json(&q, &b2) == 0);
	CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
	bw_buf_fini(&b);
	bw_buf_fini(&b2);
}

static void blocklist(const char *s, size_t n)
{
	struct iam_blockset set;
	if (iam_blockset_init(&set, 256) < 0)
		return;
	size_t start = 0, lines = 0;
	for (size_t i = 0; i <= n && lines < 200; i++) {
		if (i == n || s[i] == '\n') {
			iam_blockset_add(&set, s + start, i - start);
			char up[IAM_BLOCKLIST_LINE_MAX];
			size_t l = i - start < sizeof(up) ? i - start : sizeof(up);
			for (size_t k = 0; k < l; k++) {
				char c = s[start + k];
				up[k] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
			}
			if (l == i - start)
				CHECK(iam_blockset_has(&set, up, l));
			CHECK(iam_blockset_has(&set, s + start, i - start));
			start = i + 1;
			lines++;
		}
	}
	iam_blockset_fini(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	policy(s, size);
	if (iam_apikey_looks_valid(s, size))
		CHECK(size == IAM_APIKEY_LEN && memcmp(s, "bwk_", 4) == 0);
	char *z = malloc(size + 1);
	if (z) {
		memcpy(z, data, size);
		z[size] = 0;
		struct iam *fake = calloc(1, sizeof(*fake));
		if (fake) {
			fake->argon2 = (struct iam_argon2){ 19456, 2, 1 };
			(void)iam_needs_rehash(fake, z);
			free(fake);
		}
		free(z);
	}
	blocklist(s, size);
	struct iam_form *f = malloc(sizeof(*f));
	struct bw_err err;
	if (f && iam_form_parse(f, s, size, &err) == 0) {
		CHECK(f->n <= IAM_FORM_FIELDS_MAX);
		for (size_t i = 0; i < f->n; i++) {
			CHECK(iam_form_get(f, f->names[i]) == f->values[i]);
			for (const char *c = f->names[i]; *c; c++)
				CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
			for (const char *c = f->values[i]; *c; c++)
				CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
		}
	}
	free(f);
	char id[64], sec[128];
	if (iam_basic_parse(s, size, id, sizeof(id), sec, sizeof(sec)) == 0)
		CHECK(strlen(id) > 0 && strlen(id) < sizeof(id) && strlen(sec) < sizeof(sec));
	char code[16];
	unsigned digits = 6 + (size ? data[0] % 3 : 0);
	if (iam_hotp(data, size, (enum iam_totp_alg)(size > 1 ? data[1] % 3 : 0), digits,
		     size, code) == 0)
		CHECK(strlen(code) == digits);
	return 0;
}
