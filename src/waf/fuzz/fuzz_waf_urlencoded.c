/*
 * fuzz_waf_urlencoded — argument parsing: the input is used once as a
 * request target (query string and percent-decoded path variables) and
 * once as an application/x-www-form-urlencoded body, then rules read
 * ARGS, ARGS_NAMES and the path variables with transformations.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "waf/waf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct waf_ruleset *rs;

static const char rules[] =
	"SecRuleEngine On\nSecRequestBodyAccess On\n"
	"SecRule ARGS|ARGS_NAMES|REQUEST_FILENAME|REQUEST_BASENAME|QUERY_STRING "
	"\"@rx (?i)select\" \"id:1,phase:2,pass,t:urlDecodeUni,t:lowercase\"\n"
	"SecRule &ARGS \"@gt 3\" \"id:2,phase:2,pass\"\n"
	"SecRule URLENCODED_ERROR \"@eq 1\" \"id:3,phase:2,pass\"\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rs) {
		struct bw_err err;
		log_set_level(BW_LOG_ERROR);
		if (waf_ruleset_load_buffer("fuzz", rules, sizeof(rules) - 1, NULL,
					    &rs, &err) != 0)
			__builtin_trap();
	}
	struct bw_err err;
	struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK, .arena_max = 16 << 20 };
	struct waf_tx *tx = waf_tx_new(rs, &o, &err);
	if (!tx)
		return 0;
	struct waf_decision d;
	static const char ct[] = "application/x-www-form-urlencoded";
	if (waf_tx_request_line(tx, "POST", 4, (const char *)data, size,
				"HTTP/1.1", 8) == 0 &&
	    waf_tx_request_header(tx, "Content-Type", 12, ct, sizeof(ct) - 1) == 0 &&
	    waf_tx_process_request_headers(tx, &d) == 0 &&
	    waf_tx_append_request_body(tx, data, size) == 0)
		(void)waf_tx_process_request_body(tx, &d);
	waf_tx_free(tx);
	return 0;
}
