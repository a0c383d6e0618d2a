/*
 * Fuzz target for the audit line reader (audit_line_parse): whatever bytes
 * a tampered file holds, the reader must not crash, leak or read out of
 * bounds, and anything it accepts must be exactly its own RFC 8785
 * canonical form (an STH line must also re-serialise to the same bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_int.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_arena *a = bw_arena_new(16384, (size_t)64 << 20);
	if (!a)
		return 0;
	struct audit_line ln;
	struct bw_err err = { 0 };
	const char *p = (const char *)data;
	if (audit_line_parse(a, p, size, &ln, &err) == 0) {
		struct bw_buf c;
		bw_buf_init(&c, (size_t)AUDIT_LINE_MAX_HARD + 1);
		if (json_canonicalize_text(p, size, &c, NULL) < 0 ||
		    c.len != size || memcmp(c.data, p, size) != 0)
			abort(); /* accepted a non-canonical line */
		if (ln.type == AUDIT_LINE_STH) {
			bw_buf_reset(&c);
			if (audit_sth_line_build(&c, ln.tree_size, ln.time_ms,
						 ln.root, ln.pubkey,
						 ln.sig) < 0 ||
			    c.len != size + 1 || memcmp(c.data, p, size) != 0)
				abort(); /* reader and writer disagree */
		}
		bw_buf_fini(&c);
	} else if (err.code != 400 && err.code != 413) {
		abort(); /* every refusal is classified */
	}
	bw_arena_free(a);
	return 0;
}
