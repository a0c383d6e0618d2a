/*
 * fuzz_seclang — feeds arbitrary bytes to the SecLang loader as rule text
 * from memory. Include is refused and there is no base directory, so the
 * input cannot make the loader open files; everything else (lexer,
 * targets, operators incl. PCRE2 compilation, actions, macros, defaults,
 * removal/update directives, chain and skipAfter resolution) is reached.
 * Small limits keep each run fast.
 */
#include <stddef.h>
#include <stdint.h>

#include "waf/waf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct waf_load_opts o = {
		.no_include = true,
		.no_jit = true,
		.rules_max = 2000,
		.line_max = 1 << 16,
		.regex_max = 4096,
		.arena_max = 64 << 20,
	};
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	log_set_level(BW_LOG_ERROR);
	if (waf_ruleset_load_buffer("fuzz", (const char *)data, size, &o, &rs,
				    &err) == 0) {
		/* touch the result so a broken invariant would show */
		size_t n = 0;
		for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++)
			n += waf_ruleset_rule_count(rs, ph);
		(void)n;
		(void)waf_ruleset_settings(rs)->rule_engine;
	}
	waf_ruleset_free(rs);
	return 0;
}
