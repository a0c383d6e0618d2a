/*
 * fuzz_waf_multipart — the multipart/form-data body processor. The first
 * line of the input is the Content-Type header value, the rest is the
 * body. The transaction runs phase 1 and phase 2 (with rules that read
 * the multipart variables), so parsing, flag setting, FILES/ARGS
 * population and the variables' later use are all reached.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "waf/waf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct waf_ruleset *rs;

static const char rules[] =
	"SecRuleEngine On\nSecRequestBodyAccess On\n"
	"SecRule MULTIPART_STRICT_ERROR \"!@eq 0\" \"id:1,phase:2,pass,log\"\n"
	"SecRule FILES|FILES_NAMES|ARGS_POST|MULTIPART_PART_HEADERS \"@rx a\" "
	"\"id:2,phase:2,pass,t:lowercase\"\n"
	"SecRule &FILES_SIZES \"@gt 0\" \"id:3,phase:2,pass\"\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rs) {
		struct bw_err err;
		log_set_level(BW_LOG_ERROR);
		if (waf_ruleset_load_buffer("fuzz", rules, sizeof(rules) - 1, NULL,
					    &rs, &err) != 0)
			__builtin_trap();
	}
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	size_t ctl = nl ? (size_t)(nl - p) : size;
	const char *body = nl ? nl + 1 : "";
	size_t blen = nl ? size - ctl - 1 : 0;
	struct bw_err err;
	struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK, .arena_max = 16 << 20 };
	struct waf_tx *tx = waf_tx_new(rs, &o, &err);
	if (!tx)
		return 0;
	struct waf_decision d;
	if (waf_tx_request_line(tx, "POST", 4, "/", 1, "HTTP/1.1", 8) == 0 &&
	    waf_tx_request_header(tx, "Content-Type", 12, p, ctl) == 0 &&
	    waf_tx_process_request_headers(tx, &d) == 0 &&
	    waf_tx_append_request_body(tx, body, blen) == 0)
		(void)waf_tx_process_request_body(tx, &d);
	waf_tx_free(tx);
	return 0;
}
