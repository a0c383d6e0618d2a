/*
 * Fuzz target for the PKCS#11 module's wire protocol (p11_wire.c): any
 * bytes go to the decoder; a message it accepts is re-encoded field by
 * field and must reproduce the input exactly (one encoding per message),
 * and the accessors must stay inside it.
 */
#include "p11/p11_wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct p11_msg *m;
	if (!m && !(m = malloc(sizeof(*m))))
		return 0;
	const char *why;
	if (p11_msg_decode(m, data, size, &why) < 0)
		return 0;
	struct p11_enc e;
	p11_enc_init(&e, m->op, m->status);
	for (size_t i = 0; i < m->nfields; i++) {
		const struct p11_field *f = &m->f[i];
		uint32_t v;
		char t[P11_ERROR_MAX + 1];
		if (f->len == 4 &&
		    (f->tag == P11_T_KTYPE || f->tag == P11_T_STATE ||
		     f->tag == P11_T_EXPORTABLE || f->tag == P11_T_SIGALG ||
		     f->tag == P11_T_HASH || f->tag == P11_T_COUNT)) {
			v = (uint32_t)f->p[0] << 24 | (uint32_t)f->p[1] << 16 |
			    (uint32_t)f->p[2] << 8 | f->p[3];
			p11_enc_u32(&e, f->tag, v);
		} else if (f->tag == P11_T_TENANT || f->tag == P11_T_NAME ||
			   f->tag == P11_T_CURSOR || f->tag == P11_T_ERROR) {
			memcpy(t, f->p, f->len);
			t[f->len] = '\0';
			p11_enc_str(&e, f->tag, t);
		} else {
			p11_enc_bytes(&e, f->tag, f->p, f->len);
		}
	}
	const uint8_t *out;
	size_t n;
	if (p11_enc_finish(&e, &out, &n) < 0 || n != size + 4 ||
	    memcmp(out + 4, data, size) != 0)
		abort();
	for (unsigned tag = 0; tag < P11_T_MAX_ + 2; tag++)
		for (size_t i = 0; i < p11_msg_count(m, tag); i++)
			if (!p11_msg_get(m, tag, i))
				abort();
	p11_enc_fini(&e);
	return 0;
}
