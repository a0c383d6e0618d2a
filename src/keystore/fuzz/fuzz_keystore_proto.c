/*
 * fuzz_keystore_proto — libFuzzer target for the keystore wire decoder
 * (keystore_msg_decode), the one parser the key process runs on bytes
 * from another process.
 *
 * For every input: decode it with the wire limits; if that succeeds,
 * check the properties the key process relies on, aborting if one fails:
 *  - every field lies inside the input and items partition the fields;
 *  - re-encoding the decoded header and fields (with ITEM markers) gives
 *    back exactly the input: the format has one encoding per message, so
 *    nothing in the input was skipped or reinterpreted;
 *  - the typed accessors never read out of bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/keystore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_keystore_proto: %s failed (%s:%d)\n", \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keystore_msg *m;
	if (!m)
		m = keystore_msg_new();
	struct bw_err err;
	if (keystore_msg_decode(m, data, size, &err) < 0)
		return 0;
	CHECK(size >= KEYSTORE_HDR_LEN && size <= KEYSTORE_MSG_MAX);
	CHECK(m->nitems <= KEYSTORE_BATCH_MAX && m->nfields <= KEYSTORE_FIELDS_MAX);
	CHECK(m->item_start[0] == 0 && m->item_start[m->nitems + 1] == m->nfields);
	for (size_t i = 0; i <= m->nitems; i++)
		CHECK(m->item_start[i] <= m->item_start[i + 1]);
	for (size_t i = 0; i < m->nfields; i++) {
		const struct keystore_field *f = &m->fields[i];
		CHECK(f->p >= data && f->p + f->len <= data + size);
	}
	/* Re-encode: header, common fields, then each item. */
	struct keystore_enc e;
	keystore_enc_init(&e, (enum keystore_kind)m->kind, m->op, m->status, m->id);
	e.max_items = SIZE_MAX; /* the decoder already bounded items */
	for (size_t it = 0; it <= m->nitems; it++) {
		if (it > 0)
			keystore_enc_item(&e);
		for (uint32_t i = m->item_start[it]; i < m->item_start[it + 1]; i++)
			keystore_enc_bytes(&e, m->fields[i].tag, m->fields[i].p,
					   m->fields[i].len);
	}
	const uint8_t *p;
	size_t n;
	CHECK(keystore_enc_finish(&e, &p, &n) == 0);
	CHECK(n == size && memcmp(p, data, n) == 0);
	keystore_enc_fini(&e);
	/* Accessors on every item. */
	for (size_t it = 0; it <= m->nitems; it++) {
		uint32_t u;
		uint64_t u64;
		bool b;
		struct bw_str s;
		(void)keystore_msg_u32(m, it, KEYSTORE_TAG_VERSION, &u);
		(void)keystore_msg_u64(m, it, KEYSTORE_TAG_CREATED, &u64);
		(void)keystore_msg_bool(m, it, KEYSTORE_TAG_EXPORTABLE, &b);
		if (keystore_msg_str(m, it, KEYSTORE_TAG_TENANT, &s))
			(void)keystore_name_valid(s.p, s.len);
	}
	CHECK(keystore_msg_items(m) >= 1);
	return 0;
}
