/*
 * fuzz_waf_rxlit — soundness of the @rx prefilter's literal factors. The
 * input is "PATTERN\nSUBJECT". When PCRE2 compiles the pattern (with the
 * engine's flags), the analysis yields factors, and the subject matches,
 * some factor must occur in the subject (caselessly); otherwise the
 * prefilter would hide a real match, and the target traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "waf/waf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	if (!nl || nl == p || (size_t)(nl - p) > 512)
		return 0;
	size_t pl = (size_t)(nl - p);
	const char *subj = nl + 1;
	size_t sl = size - pl - 1;
	int ec;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, pl,
				       PCRE2_DOTALL | PCRE2_MULTILINE, &ec, &off,
				       NULL);
	if (!re)
		return 0;
	struct bw_arena *a = bw_arena_new(4096, 8 << 20);
	struct bw_str *f;
	size_t nf = 0;
	if (a && waf_rx_factors(p, pl, a, &f, &nf) == 0 && nf) {
		pcre2_match_data *md = pcre2_match_data_create(4, NULL);
		pcre2_match_context *mc = pcre2_match_context_create(NULL);
		pcre2_set_match_limit(mc, 100000);
		int rc = md && mc ? pcre2_match(re, (PCRE2_SPTR)subj, sl, 0, 0, md, mc)
				  : -1;
		if (rc >= 0) {
			bool found = false;
			for (size_t i = 0; i < nf && !found; i++)
				for (size_t k = 0; k + f[i].len <= sl && !found; k++)
					found = strncasecmp(subj + k, f[i].p,
							    f[i].len) == 0;
			if (!found)
				__builtin_trap();
		}
		pcre2_match_context_free(mc);
		pcre2_match_data_free(md);
	}
	bw_arena_free(a);
	pcre2_code_free(re);
	return 0;
}
