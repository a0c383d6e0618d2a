/*
 * Loads the entire OWASP CRS 3.3.4 exactly as Debian's modsecurity-crs
 * package installs it (crs-setup.conf, the two exclusion files and
 * every rules .conf file, in the order of owasp-crs.load)
 * and checks the result against libmodsecurity3 3.0.9's own load of the
 * same files: rules per phase 147/389/24/58/16 and 40 markers. Then checks
 * well-known rules field by field, that every constant regex was compiled,
 * and that the load stays well under a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "waf/waf_int.h"

#define CRS_SETUP "/etc/modsecurity/crs/crs-setup.conf"
#define CRS_BEFORE "/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
#define CRS_RULES "/usr/share/modsecurity-crs/rules/" "*.conf"
#define CRS_AFTER "/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf"

static struct waf_ruleset *crs;
static double load_ms;

/* One top-level file that includes the package's files in its order. */
static int crs_setup(void **state)
{
	(void)state;
	struct stat st;
	if (stat(CRS_SETUP, &st) != 0) {
		fprintf(stderr, "modsecurity-crs is not installed\n");
		return -1;
	}
	const char *text = "Include " CRS_SETUP "\n"
			   "IncludeOptional " CRS_BEFORE "\n"
			   "Include " CRS_RULES "\n"
			   "IncludeOptional " CRS_AFTER "\n";
	struct bw_err err = { 0 };
	/* Best of three: the first run also pays for page-cache misses. */
	for (int i = 0; i < 3; i++) {
		struct waf_ruleset *rs = NULL;
		int64_t t0 = bw_clock_mono_ns();
		int rc = waf_ruleset_load_buffer("crs.load", text,
						 strlen(text), NULL, &rs, &err);
		double ms = (double)(bw_clock_mono_ns() - t0) / 1e6;
		if (rc != 0) {
			fprintf(stderr, "CRS load failed: %s\n", err.msg);
			return -1;
		}
		if (i == 0 || ms < load_ms)
			load_ms = ms;
		waf_ruleset_free(crs);
		crs = rs;
	}
	fprintf(stderr, "CRS 3.3.4 load: %.1f ms (JIT on), %zu KiB arena\n",
		load_ms, waf_ruleset_memory(crs) / 1024);
	return 0;
}

static int crs_teardown(void **state)
{
	(void)state;
	waf_ruleset_free(crs);
	crs = NULL;
	return 0;
}

static struct waf_rule *find(uint64_t id)
{
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++)
		for (size_t i = 0; i < crs->phase[ph].n; i++) {
			struct waf_rule *r = crs->phase[ph].rules[i];
			if (r->kind != WAF_RULE_MARKER && r->act.id == id)
				return r;
		}
	return NULL;
}

static bool has_tag(const struct waf_rule *r, const char *tag)
{
	for (size_t i = 0; i < r->act.ntags; i++)
		if (bw_str_eq_lit(r->act.tags[i]->raw, tag))
			return true;
	return false;
}

static void counts_match_libmodsecurity(void **state)
{
	(void)state;
	assert_int_equal(waf_ruleset_rule_count(crs, 1), 147);
	assert_int_equal(waf_ruleset_rule_count(crs, 2), 389);
	assert_int_equal(waf_ruleset_rule_count(crs, 3), 24);
	assert_int_equal(waf_ruleset_rule_count(crs, 4), 58);
	assert_int_equal(waf_ruleset_rule_count(crs, 5), 16);
	assert_int_equal(waf_ruleset_marker_count(crs), 40);
	for (int ph = 1; ph <= 5; ph++)
		assert_int_equal(crs->phase[ph].n,
				 waf_ruleset_rule_count(crs, ph) + 40);
}

/* Loading includes compiling the Hyperscan databases (~150 ms of the
 * total in an optimised build); sanitizers slow everything ~5x. */
static void load_is_fast(void **state)
{
	(void)state;
#ifdef BW_SANITIZER_BUILD
	assert_true(load_ms < 5000.0);
#else
	assert_true(load_ms < 1000.0);
#endif
}

static void rule_920350(void **state)
{
	(void)state;
	struct waf_rule *r = find(920350);
	assert_non_null(r);
	assert_int_equal(r->phase, 2);
	assert_int_equal(r->kind, WAF_RULE_SECRULE);
	assert_int_equal(r->ntargets, 1);
	assert_int_equal(r->targets[0].var, WAF_VAR_REQUEST_HEADERS);
	assert_int_equal(r->targets[0].sel_kind, WAF_SEL_NAME);
	assert_string_equal(r->targets[0].sel.p, "Host");
	assert_int_equal(r->op.id, WAF_OP_RX);
	assert_false(r->op.negated);
	assert_string_equal(r->op.arg.p, "^[\\d.:]+$");
	assert_non_null(r->op.re);
	assert_true(r->act.tfn_none);
	assert_int_equal(r->act.ntfns, 0);
	assert_int_equal(r->act.disruptive, WAF_DIS_BLOCK);
	/* crs-setup: SecDefaultAction "phase:2,log,auditlog,pass" */
	assert_int_equal(r->eff.disruptive, WAF_DIS_PASS);
	assert_true(r->eff.log);
	assert_true(r->eff.auditlog);
	assert_int_equal(r->act.severity, 4);
	assert_string_equal(r->act.msg->raw.p,
			    "Host header is a numeric IP address");
	assert_int_equal(r->act.logdata->nsegs, 1);
	assert_int_equal(r->act.logdata->segs[0].var, WAF_VAR_MATCHED_VAR);
	assert_int_equal(r->act.ntags, 8);
	assert_true(has_tag(r, "attack-protocol"));
	assert_true(has_tag(r, "PCI/6.5.10"));
	assert_string_equal(r->act.ver, "OWASP_CRS/3.3.4");
	assert_int_equal(r->act.nexecs, 1);
	struct waf_exec *x = &r->act.execs[0];
	assert_int_equal(x->kind, WAF_EXEC_SETVAR);
	assert_int_equal(x->op, WAF_SETVAR_ADD);
	assert_int_equal(x->col, WAF_VAR_TX);
	assert_string_equal(x->key->raw.p, "anomaly_score_pl1");
	assert_int_equal(x->value->nsegs, 1);
	assert_int_equal(x->value->segs[0].var, WAF_VAR_TX);
	assert_true(bw_str_eq_lit(x->value->segs[0].key,
				  "warning_anomaly_score"));
}

static void rule_942100(void **state)
{
	(void)state;
	struct waf_rule *r = find(942100);
	assert_non_null(r);
	assert_int_equal(r->phase, 2);
	assert_int_equal(r->op.id, WAF_OP_DETECT_SQLI);
	assert_int_equal(r->ntargets, 8);
	assert_int_equal(r->targets[0].var, WAF_VAR_REQUEST_COOKIES);
	assert_int_equal(r->targets[0].sel_kind, WAF_SEL_NONE);
	assert_true(r->targets[1].exclude);
	assert_int_equal(r->targets[1].var, WAF_VAR_REQUEST_COOKIES);
	assert_int_equal(r->targets[1].sel_kind, WAF_SEL_REGEX);
	assert_string_equal(r->targets[1].sel.p, "__utm");
	assert_non_null(r->targets[1].sel_re);
	assert_int_equal(r->targets[3].var, WAF_VAR_REQUEST_HEADERS);
	assert_string_equal(r->targets[3].sel.p, "User-Agent");
	assert_int_equal(r->targets[7].var, WAF_VAR_XML);
	assert_int_equal(r->targets[7].sel_kind, WAF_SEL_XPATH);
	assert_string_equal(r->targets[7].sel.p, "/*");
	enum waf_tfn want[] = { WAF_T_UTF8_TO_UNICODE, WAF_T_URL_DECODE_UNI,
				WAF_T_REMOVE_NULLS };
	assert_int_equal(r->act.ntfns, 3);
	assert_memory_equal(r->act.tfns, want, sizeof(want));
	assert_int_equal(r->eff.ntfns, 3);
	assert_true(r->act.capture);
	assert_true(r->act.multi_match);
	assert_int_equal(r->act.severity, 2);
	assert_int_equal(r->act.nexecs, 2);
	assert_int_equal(r->act.logdata->nsegs, 6);
}

static void rule_949110(void **state)
{
	(void)state;
	struct waf_rule *r = find(949110);
	assert_non_null(r);
	assert_int_equal(r->phase, 2);
	assert_int_equal(r->targets[0].var, WAF_VAR_TX);
	assert_string_equal(r->targets[0].sel.p, "ANOMALY_SCORE");
	assert_int_equal(r->op.id, WAF_OP_GE);
	assert_false(r->op.num_const);
	assert_false(r->op.marg->constant);
	assert_int_equal(r->op.marg->segs[0].var, WAF_VAR_TX);
	assert_true(bw_str_eq_lit(r->op.marg->segs[0].key,
				  "inbound_anomaly_score_threshold"));
	/* Debian's 3.3.4 says deny here; it is not block, so no default */
	assert_int_equal(r->act.disruptive, WAF_DIS_DENY);
	assert_int_equal(r->eff.disruptive, WAF_DIS_DENY);
	assert_int_equal(r->act.log, WAF_FLAG_YES);
	assert_int_equal(r->act.msg->nsegs, 3);
}

static void chains_and_collections(void **state)
{
	(void)state;
	/* 901350: a chain whose link sets ctl:requestBodyProcessor */
	struct waf_rule *r = find(901350);
	assert_non_null(r);
	assert_true(r->act.chain);
	struct waf_rule *l = r->chain_next;
	assert_non_null(l);
	assert_ptr_equal(l->chain_start, r);
	assert_int_equal(l->phase, 1);
	assert_true(l->op.negated);
	assert_int_equal(l->act.nexecs, 1);
	assert_int_equal(l->act.execs[0].kind, WAF_EXEC_CTL);
	assert_int_equal(l->act.execs[0].ctl->kind,
			 WAF_CTL_REQUEST_BODY_PROCESSOR);
	assert_int_equal(l->act.execs[0].ctl->body, WAF_BODY_URLENCODED);
	assert_null(l->chain_next);
	/* 901321: SecAction with initcol */
	r = find(901321);
	assert_non_null(r);
	assert_int_equal(r->kind, WAF_RULE_SECACTION);
	assert_int_equal(r->op.id, WAF_OP_UNCONDITIONAL_MATCH);
	assert_int_equal(r->act.execs[0].kind, WAF_EXEC_INITCOL);
	assert_int_equal(r->act.execs[0].col, WAF_VAR_GLOBAL);
	assert_int_equal(r->act.execs[1].col, WAF_VAR_IP);
	assert_int_equal(r->act.execs[1].value->nsegs, 3);
	/* 920011: skipAfter resolves to its marker later in phase 1 */
	r = find(920011);
	assert_non_null(r);
	struct waf_phase_rules *pr = &crs->phase[1];
	assert_true(r->skip_after_index < pr->n);
	struct waf_rule *m = pr->rules[r->skip_after_index];
	assert_int_equal(m->kind, WAF_RULE_MARKER);
	assert_string_equal(m->marker, "END-REQUEST-920-PROTOCOL-ENFORCEMENT");
}

static void data_files_loaded(void **state)
{
	(void)state;
	/* 930120 uses @pmFromFile lfi-os-files.data, next to the rules */
	struct waf_rule *r = find(930120);
	assert_non_null(r);
	assert_int_equal(r->op.id, WAF_OP_PM_FROM_FILE);
	assert_int_equal(r->op.nfiles, 1);
	assert_string_equal(r->op.files[0],
			    "/usr/share/modsecurity-crs/rules/lfi-os-files.data");
	assert_true(r->op.nphrases > 500);
	bool etc_passwd = false;
	for (size_t i = 0; i < r->op.nphrases; i++)
		etc_passwd |= bw_str_eq_lit(r->op.phrases[i], "etc/passwd");
	assert_true(etc_passwd);
}

/* Every operator and selector regex without macros came out compiled. */
static void all_regexes_compiled(void **state)
{
	(void)state;
	size_t rx = 0, sel = 0;
	for (int ph = 1; ph <= 5; ph++)
		for (size_t i = 0; i < crs->phase[ph].n; i++)
			for (struct waf_rule *l = crs->phase[ph].rules[i]; l;
			     l = l->chain_next) {
				if (l->kind == WAF_RULE_MARKER)
					break;
				if (l->op.id == WAF_OP_RX) {
					assert_non_null(l->op.marg);
					if (l->op.marg->constant) {
						assert_non_null(l->op.re);
						rx++;
					}
				}
				for (size_t t = 0; t < l->ntargets; t++)
					if (l->targets[t].sel_kind ==
					    WAF_SEL_REGEX) {
						assert_non_null(
							l->targets[t].sel_re);
						sel++;
					}
			}
	assert_true(rx > 250);
	assert_true(sel > 10);
}

static void settings_recorded(void **state)
{
	(void)state;
	const struct waf_settings *s = waf_ruleset_settings(crs);
	assert_int_equal(s->collection_timeout, 600);
	assert_int_equal(s->n_component_signatures, 1);
	assert_string_equal(s->component_signatures[0], "OWASP_CRS/3.3.4");
	assert_non_null(crs->defaults[1]);
	assert_non_null(crs->defaults[2]);
	assert_null(crs->defaults[3]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_match_libmodsecurity),
		cmocka_unit_test(load_is_fast),
		cmocka_unit_test(rule_920350),
		cmocka_unit_test(rule_942100),
		cmocka_unit_test(rule_949110),
		cmocka_unit_test(chains_and_collections),
		cmocka_unit_test(data_files_loaded),
		cmocka_unit_test(all_regexes_compiled),
		cmocka_unit_test(settings_recorded),
	};
	return cmocka_run_group_tests(tests, crs_setup, crs_teardown);
}
