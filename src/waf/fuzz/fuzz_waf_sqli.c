/*
 * fuzz_waf_sqli — the native @detectSQLi and @detectXSS detectors on
 * arbitrary bytes: no crash, no read past the input, and a detection
 * always comes with a non-empty fingerprint of at most 5 classes, and the
 * one-pass rejects (waf_sqli_possible, waf_xss_possible) never reject an
 * input the full detectors flag.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "waf/waf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char fp[8];
	memset(fp, 'x', sizeof(fp));
	if (waf_sqli_detect((const char *)data, size, fp)) {
		size_t l = strnlen(fp, sizeof(fp));
		if (l == 0 || l > 5)
			__builtin_trap();
	}
	(void)waf_xss_detect((const char *)data, size);
	/* the fast rejects are sound: no detection where they say no */
	if (!waf_sqli_possible((const char *)data, size) &&
	    waf_sqli_detect_full((const char *)data, size, fp))
		__builtin_trap();
	if (!waf_xss_possible((const char *)data, size) &&
	    waf_xss_detect_full((const char *)data, size))
		__builtin_trap();
	return 0;
}
