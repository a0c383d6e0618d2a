/*
 * fuzz_json_parse — libFuzzer target for the JSON reader, writer and
 * canonical form.
 *
 * For every input: parse it; if that succeeds, write the tree back
 * (json_write_value) and canonicalise it, then check the properties the
 * rest of bulwark relies on, aborting if one fails:
 *  - the writer's output parses, and canonicalises to the same bytes;
 *  - the canonical form parses and is a fixed point of canonicalisation.
 * Independently, the raw bytes are written as one string with
 * json_write_stringn: that must always parse (U+FFFD replaces non-UTF-8),
 * and when the input was valid UTF-8 it must decode to exactly the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_json_parse: %s failed (%s:%d)\n", \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

/* An independent UTF-8 check (decode, then test the code point's range
 * and minimal length) to cross-check the module's table-driven one. */
static bool utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t c = p[i];
		size_t len;
		uint32_t min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			len = 2, min = 0x80, c &= 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3, min = 0x800, c &= 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4, min = 0x10000, c &= 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			c = (c << 6) | (p[i + k] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static void check_string_roundtrip(struct bw_arena *a, const char *s,
				   size_t n, bool input_valid)
{
	struct bw_buf b;
	bw_buf_init(&b, 8 * n + 64);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_stringn(&w, s, n);
	CHECK(json_writer_finish(&w) == 0);
	struct bw_err err;
	struct json_limits lim = json_default_limits;
	lim.max_bytes = (size_t)64 << 20;
	lim.max_string = (size_t)64 << 20;
	const struct json_value *v = json_parse(a, b.data, b.len, &lim, &err);
	CHECK(v != NULL);
	CHECK(v->type == JSON_STRING);
	if (input_valid)
		CHECK(v->u.str.len == n && memcmp(v->u.str.p, s, n) == 0);
	bw_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_arena *a = bw_arena_new(65536, 0);
	if (!a)
		return 0;
	struct bw_err err;
	struct bw_buf w1, c1, c2, c3;
	bw_buf_init(&w1, (size_t)16 << 20);
	bw_buf_init(&c1, (size_t)16 << 20);
	bw_buf_init(&c2, (size_t)16 << 20);
	bw_buf_init(&c3, (size_t)16 << 20);

	const struct json_value *v =
		json_parse(a, (const char *)data, size, NULL, &err);
	if (v) {
		struct json_writer w;
		json_writer_init(&w, &w1);
		json_write_value(&w, v);
		CHECK(json_writer_finish(&w) == 0);
		CHECK(json_canonicalize(v, &c1) == 0);

		const struct json_value *v2 =
			json_parse(a, w1.data, w1.len, NULL, &err);
		CHECK(v2 != NULL);
		CHECK(json_canonicalize(v2, &c2) == 0);
		CHECK(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0);

		const struct json_value *v3 =
			json_parse(a, c1.data, c1.len, NULL, &err);
		CHECK(v3 != NULL);
		CHECK(json_canonicalize(v3, &c3) == 0);
		CHECK(c1.len == c3.len && memcmp(c1.data, c3.data, c1.len) == 0);
	} else {
		CHECK(err.code == 400 || err.code == 413);
		CHECK(strcmp(err.module, "json") == 0);
	}

	check_string_roundtrip(a, (const char *)data, size,
			       utf8_valid(data, size));

	bw_buf_fini(&w1);
	bw_buf_fini(&c1);
	bw_buf_fini(&c2);
	bw_buf_fini(&c3);
	bw_arena_free(a);
	return 0;
}
