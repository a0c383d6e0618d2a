/*
 * fuzz_waf_sqli — the native @detectSQLi and @detectXSS detectors on
 * arbitrary bytes: no crash, no read past the input, and a detection
 * always comes with a non-empty fingerprint of at most 5 classes.
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
	return 0;
}
