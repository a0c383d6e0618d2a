/*
 * fuzz_waf_tfn — every transformation on arbitrary bytes. The first byte
 * picks the transformation, the rest is the input. The output must stay
 * within waf_tfn_max_out (checked with a canary past the bound, on top of
 * ASan), the length-preserving and removing transformations must keep
 * their defining properties, and a value without the transformation's
 * trigger features (waf_tfn_trigger) must come out unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "waf/waf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum waf_tfn t = (enum waf_tfn)(data[0] % WAF_T__COUNT);
	const unsigned char *in = data + 1;
	size_t n = size - 1;
	size_t cap = waf_tfn_max_out(t, n);
	unsigned char *o = malloc(cap + 4);
	if (!o)
		return 0;
	memset(o + cap, 0xC3, 4);
	size_t l = waf_tfn_run(t, in, n, o);
	if (l > cap || o[cap] != 0xC3 || o[cap + 3] != 0xC3)
		__builtin_trap();
	switch (t) {
	case WAF_T_LOWERCASE:
	case WAF_T_UPPERCASE:
	case WAF_T_REPLACE_NULLS:
	case WAF_T_PARITY_ZERO_7BIT:
		if (l != n)
			__builtin_trap();
		break;
	case WAF_T_REMOVE_NULLS:
		if (l > n || memchr(o, 0, l))
			__builtin_trap();
		break;
	case WAF_T_REMOVE_WHITESPACE:
		if (l > n || memchr(o, ' ', l))
			__builtin_trap();
		break;
	default:
		break;
	}
	/* a value without the transformation's triggers is left unchanged
	 * (the engine's identity fast path relies on it) */
	if (!(waf_tfn_features(in, n) & waf_tfn_trigger(t)) &&
	    (l != n || (n && memcmp(o, in, n) != 0)))
		__builtin_trap();
	free(o);
	return 0;
}
