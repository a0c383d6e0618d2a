/*
 * waf_ruleset.c — the rule-set object: creation with bounded options,
 * adding rules and markers to the phase lists, the rule-id set, and the
 * final pass that resolves SecDefaultAction inheritance and skipAfter
 * targets, plus the public load/free/query functions.
 *
 * Invariants: see waf_int.h. In particular all memory is in rs->arena,
 * PCRE2 code is released by arena cleanups, and a rule set handed to the
 * caller has passed waf_ruleset_finish.
 */
#include "waf/waf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int waf_perr(struct waf_parse *p, int code, const char *reason,
	     const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->err->code != 0)
		return -1; /* keep the first, most precise error */
	if (p->file)
		return bw_err_set(p->err, code, "waf", reason, "%s:%u: %s",
				  p->file, p->line, msg);
	return bw_err_set(p->err, code, "waf", reason, "%s", msg);
}

int waf_grow(struct bw_arena *a, void **arr, size_t *cap, size_t n,
	     size_t elsize)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8, bytes;
	if (__builtin_mul_overflow(ncap, elsize, &bytes))
		return -1;
	void *na = bw_arena_alloc(a, bytes);
	if (!na)
		return -1;
	if (*arr && n)
		memcpy(na, *arr, n * elsize);
	*arr = na;
	*cap = ncap;
	return 0;
}

char *waf_strndup(struct waf_parse *p, const char *s, size_t n)
{
	char *d = bw_arena_strndup(p->rs->arena, s, n);
	if (!d)
		waf_perr(p, 413, "out_of_memory",
			 "rule set memory limit reached");
	return d;
}

static void regex_free(void *code)
{
	pcre2_code_free(code);
}

pcre2_code *waf_regex_compile(struct waf_parse *p, const char *what,
			      const char *src, size_t len, bool caseless)
{
	if (len > p->lim.regex_max) {
		waf_perr(p, 413, "regex_too_long",
			 "%s: regular expression of %zu bytes exceeds the "
			 "limit of %zu", what, len, p->lim.regex_max);
		return NULL;
	}
	int ec;
	PCRE2_SIZE off;
	uint32_t flags = PCRE2_DOTALL | PCRE2_MULTILINE;
	if (caseless)
		flags |= PCRE2_CASELESS;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, len, flags, &ec, &off,
				       NULL);
	if (!re) {
		PCRE2_UCHAR buf[160];
		if (pcre2_get_error_message(ec, buf, sizeof(buf)) < 0)
			memcpy(buf, "unknown error", 14);
		waf_perr(p, 400, "bad_regex",
			 "%s: invalid regular expression at offset %zu: %s",
			 what, (size_t)off, (const char *)buf);
		return NULL;
	}
	if (bw_arena_cleanup(p->rs->arena, regex_free, re) != 0) {
		pcre2_code_free(re);
		waf_perr(p, 500, "out_of_memory", "out of memory");
		return NULL;
	}
	/* JIT is an optimisation; a platform without it still works. */
	if (!p->lim.no_jit)
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

/* ------------------------------------------------------------ id set */

static size_t id_slot(uint64_t id, size_t cap)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 17) & (cap - 1);
}

bool waf_id_used(struct waf_parse *p, uint64_t id)
{
	if (!p->ids_cap)
		return false;
	for (size_t i = id_slot(id, p->ids_cap);; i = (i + 1) & (p->ids_cap - 1)) {
		if (p->ids[i] == 0)
			return false;
		if (p->ids[i] == id)
			return true;
	}
}

static int id_insert(uint64_t *tab, size_t cap, uint64_t id)
{
	for (size_t i = id_slot(id, cap);; i = (i + 1) & (cap - 1)) {
		if (tab[i] == 0) {
			tab[i] = id;
			return 1;
		}
		if (tab[i] == id)
			return 0;
	}
}

int waf_id_add(struct waf_parse *p, uint64_t id)
{
	/* Keep the table at most half full so probes stay short. */
	if ((p->ids_n + 1) * 2 > p->ids_cap) {
		size_t ncap = p->ids_cap ? p->ids_cap * 2 : 1024;
		uint64_t *nt = calloc(ncap, sizeof(*nt));
		if (!nt)
			return waf_perr(p, 500, "out_of_memory",
					"out of memory");
		for (size_t i = 0; i < p->ids_cap; i++)
			if (p->ids[i])
				(void)id_insert(nt, ncap, p->ids[i]);
		free(p->ids);
		p->ids = nt;
		p->ids_cap = ncap;
	}
	p->ids_n += (size_t)id_insert(p->ids, p->ids_cap, id);
	return 0;
}

/* Removing from open addressing: re-insert the rest of the cluster. */
void waf_id_forget(struct waf_parse *p, uint64_t id)
{
	if (!p->ids_cap)
		return;
	size_t mask = p->ids_cap - 1, i = id_slot(id, p->ids_cap);
	while (p->ids[i] && p->ids[i] != id)
		i = (i + 1) & mask;
	if (!p->ids[i])
		return;
	p->ids[i] = 0;
	p->ids_n--;
	for (size_t j = (i + 1) & mask; p->ids[j]; j = (j + 1) & mask) {
		uint64_t v = p->ids[j];
		p->ids[j] = 0;
		(void)id_insert(p->ids, p->ids_cap, v);
	}
}

/* ---------------------------------------------------------- assembly */

static int phase_push(struct waf_parse *p, int phase, struct waf_rule *r)
{
	struct waf_phase_rules *pr = &p->rs->phase[phase];
	if (waf_grow(p->rs->arena, (void **)&pr->rules, &pr->cap, pr->n,
		     sizeof(*pr->rules)) != 0)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	pr->rules[pr->n++] = r;
	return 0;
}

int waf_ruleset_add_rule(struct waf_parse *p, struct waf_rule *r)
{
	struct waf_ruleset *rs = p->rs;
	if (rs->nrules >= p->lim.rules_max)
		return waf_perr(p, 413, "too_many_rules",
				"more than %zu rules", p->lim.rules_max);
	if (p->open_chain) {
		struct waf_rule *start = p->open_chain->chain_start;
		size_t links = 1;
		for (struct waf_rule *l = start; l->chain_next; l = l->chain_next)
			links++;
		if (links >= WAF_CHAIN_MAX)
			return waf_perr(p, 400, "chain_too_long",
					"chain of rule %llu longer than %d "
					"links", (unsigned long long)start->act.id,
					WAF_CHAIN_MAX);
		if (r->kind != WAF_RULE_SECRULE)
			return waf_perr(p, 400, "chain_broken",
					"rule %llu ends with 'chain' but is "
					"followed by SecAction, not SecRule",
					(unsigned long long)start->act.id);
		if (r->act.id)
			return waf_perr(p, 400, "chain_id",
					"a chained rule cannot have an id");
		if (r->act.phase)
			return waf_perr(p, 400, "chain_phase",
					"a chained rule cannot set the phase; "
					"only chain starters can");
		if (r->act.disruptive != WAF_DIS_UNSET)
			return waf_perr(p, 400, "chain_disruptive",
					"disruptive actions can only be "
					"specified by chain starter rules");
		if (r->act.skip || r->act.skip_after)
			return waf_perr(p, 400, "chain_skip",
					"skip and skipAfter can only be "
					"specified by chain starter rules");
		r->phase = start->phase;
		r->chain_start = start;
		p->open_chain->chain_next = r;
		p->open_chain = r->act.chain ? r : NULL;
		rs->nrules++;
		return 0;
	}
	if (r->act.id == 0)
		return waf_perr(p, 400, "missing_id", "rule has no id action");
	if (waf_id_used(p, r->act.id))
		return waf_perr(p, 400, "duplicate_id", "duplicate rule id %llu",
				(unsigned long long)r->act.id);
	/* ModSecurity v3 puts a rule without phase: into phase 1. */
	r->phase = r->act.phase ? r->act.phase : 1;
	r->chain_start = r;
	if (waf_id_add(p, r->act.id) != 0 || phase_push(p, r->phase, r) != 0)
		return -1;
	rs->nstarters[r->phase]++;
	rs->nrules++;
	p->open_chain = r->act.chain ? r : NULL;
	return 0;
}

int waf_ruleset_add_marker(struct waf_parse *p, const char *name)
{
	if (p->open_chain)
		return waf_perr(p, 400, "chain_broken",
				"rule %llu ends with 'chain' but is followed "
				"by SecMarker, not SecRule",
				(unsigned long long)
					p->open_chain->chain_start->act.id);
	struct waf_rule *m = bw_arena_zalloc(p->rs->arena, sizeof(*m));
	if (!m)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	m->kind = WAF_RULE_MARKER;
	m->file = p->file;
	m->line = p->line;
	m->marker = name;
	m->chain_start = m;
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++)
		if (phase_push(p, ph, m) != 0)
			return -1;
	p->rs->nmarkers++;
	return 0;
}

/* Concatenate two arrays of elsize-byte elements into the arena. */
static void *concat(struct bw_arena *a, const void *x, size_t nx,
		    const void *y, size_t ny, size_t elsize, size_t *n)
{
	*n = nx + ny;
	if (*n == 0)
		return NULL;
	if (nx == 0)
		return (void *)y;
	if (ny == 0)
		return (void *)x;
	char *d = bw_arena_alloc(a, *n * elsize);
	if (!d)
		return NULL;
	memcpy(d, x, nx * elsize);
	memcpy(d + nx * elsize, y, ny * elsize);
	return d;
}

/* Compute rule->eff from its own actions and the phase's default. */
static int resolve_effective(struct waf_parse *p, struct waf_rule *r,
			     bool starter)
{
	struct bw_arena *a = p->rs->arena;
	const struct waf_actions *own = &r->act;
	const struct waf_actions *d = p->rs->defaults[r->phase];
	struct waf_effective *e = &r->eff;
	size_t n;

	if (own->tfn_none || !d) {
		e->tfns = own->tfns;
		e->ntfns = own->ntfns;
	} else {
		e->tfns = concat(a, d->tfns, d->ntfns, own->tfns, own->ntfns,
				 sizeof(*e->tfns), &n);
		if (n && !e->tfns)
			goto oom;
		e->ntfns = n;
	}
	e->severity = own->severity;
	e->msg = own->msg;
	e->logdata = own->logdata;
	e->disruptive = own->disruptive;
	e->allow_scope = own->allow_scope;
	e->status = own->status;
	e->redirect = own->redirect;
	e->log = own->log != WAF_FLAG_NO;
	e->auditlog = own->auditlog != WAF_FLAG_NO;
	e->tags = own->tags;
	e->ntags = own->ntags;
	e->execs = own->execs;
	e->nexecs = own->nexecs;
	if (!starter)
		return 0;

	if (own->disruptive == WAF_DIS_BLOCK) {
		/* block means "whatever SecDefaultAction says"; v3 does
		 * nothing disruptive when the phase has no default. */
		e->disruptive = d ? d->disruptive : WAF_DIS_PASS;
		e->allow_scope = d ? d->allow_scope : WAF_ALLOW_ALL;
		if (!e->redirect && d)
			e->redirect = d->redirect;
	} else if (own->disruptive == WAF_DIS_UNSET) {
		/* v3 applies the default's disruptive action only to rules
		 * that say block (unlike v2). */
		e->disruptive = WAF_DIS_PASS;
	}
	if (!e->status && d)
		e->status = d->status;

	/* v3 runs the default's actions, then the rule's, in order. */
	if (own->save != WAF_FLAG_UNSET)
		e->logged = own->save == WAF_FLAG_YES;
	else if (d && d->save != WAF_FLAG_UNSET)
		e->logged = d->save == WAF_FLAG_YES;
	else
		e->logged = true;
	if (own->log != WAF_FLAG_UNSET)
		e->log = own->log == WAF_FLAG_YES;
	else
		e->log = !(d && d->log == WAF_FLAG_NO);
	/* nolog implies noauditlog unless auditlog is said explicitly. */
	if (own->auditlog != WAF_FLAG_UNSET)
		e->auditlog = own->auditlog == WAF_FLAG_YES;
	else if (own->log == WAF_FLAG_NO)
		e->auditlog = false;
	else if (d && d->auditlog != WAF_FLAG_UNSET)
		e->auditlog = d->auditlog == WAF_FLAG_YES;
	else
		e->auditlog = !(d && d->log == WAF_FLAG_NO);

	if (!d)
		return 0;
	if (!e->msg)
		e->msg = d->msg;
	if (!e->logdata)
		e->logdata = d->logdata;
	if (e->severity < 0)
		e->severity = d->severity;
	e->tags = concat(a, d->tags, d->ntags, own->tags, own->ntags,
			 sizeof(*e->tags), &n);
	if (n && !e->tags)
		goto oom;
	e->ntags = n;
	e->execs = concat(a, d->execs, d->nexecs, own->execs, own->nexecs,
			  sizeof(*e->execs), &n);
	if (n && !e->execs)
		goto oom;
	e->nexecs = n;
	return 0;
oom:
	return waf_perr(p, 413, "out_of_memory",
			"rule set memory limit reached");
}

int waf_ruleset_finish(struct waf_parse *p)
{
	struct waf_ruleset *rs = p->rs;
	p->file = NULL; /* errors from here on carry their own location */
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++) {
		struct waf_phase_rules *pr = &rs->phase[ph];
		for (size_t i = 0; i < pr->n; i++) {
			struct waf_rule *r = pr->rules[i];
			if (r->kind == WAF_RULE_MARKER)
				continue;
			for (struct waf_rule *l = r; l; l = l->chain_next)
				if (resolve_effective(p, l, l == r) != 0)
					return -1;
			r->skip_after_index = pr->n;
			if (!r->act.skip_after)
				continue;
			size_t j;
			for (j = i + 1; j < pr->n; j++)
				if (pr->rules[j]->kind == WAF_RULE_MARKER &&
				    strcmp(pr->rules[j]->marker,
					   r->act.skip_after) == 0)
					break;
			r->skip_after_index = j;
			/* ModSecurity accepts this at load and skips the
			 * rest of the phase at run time; so do we, loudly. */
			if (j == pr->n)
				log_warnx("%s:%u: rule %llu: skipAfter marker "
					  "'%s' not found after the rule in "
					  "phase %d; it skips to the end of "
					  "the phase",
					  r->file, r->line,
					  (unsigned long long)r->act.id,
					  r->act.skip_after, ph);
		}
	}
	return 0;
}

/* ------------------------------------------------------- public API */

static int opt_limit(struct bw_err *err, const char *name, size_t *v,
		     size_t def, size_t hard)
{
	if (*v == 0)
		*v = def;
	else if (*v > hard)
		return bw_err_set(err, 400, "waf", "limit_too_high",
				  "%s %zu exceeds the hard maximum %zu", name,
				  *v, hard);
	return 0;
}

static void settings_defaults(struct waf_settings *s)
{
	/* ModSecurity's documented defaults. */
	s->rule_engine = WAF_ENGINE_OFF;
	s->request_body_limit = 134217728;
	s->request_body_no_files_limit = 1048576;
	s->request_body_in_memory_limit = 131072;
	s->request_body_limit_action = WAF_LIMIT_REJECT;
	s->request_body_json_depth_limit = 10000;
	s->arguments_limit = 1000;
	/* PCRE2 counts match() calls, not v2 PCRE1 recursion; 3000 (the v2
	 * default) trips on ordinary CRS inputs, and v3 3.0.9 applies none.
	 * One million bounds a runaway regex to milliseconds. */
	s->pcre_match_limit = 1000000;
	s->pcre_match_limit_recursion = 3000;
	s->response_body_limit = 524288;
	s->response_body_limit_action = WAF_LIMIT_REJECT;
	s->upload_file_mode = 0600;
	s->upload_file_limit = 100;
	s->audit_engine = WAF_AUDIT_OFF;
	s->collection_timeout = 3600;
	s->argument_separator = '&';
}

static int begin(const struct waf_load_opts *opts, struct waf_parse *p,
		 struct bw_err *err)
{
	memset(p, 0, sizeof(*p));
	p->err = err;
	bw_err_clear(err);
	if (opts)
		p->lim = *opts;
	size_t depth = p->lim.include_depth, files = p->lim.files_max;
	if (opt_limit(err, "file_max", &p->lim.file_max, WAF_FILE_MAX_DEFAULT,
		      WAF_FILE_MAX_HARD) ||
	    opt_limit(err, "include_depth", &depth, WAF_INCLUDE_DEPTH_DEFAULT,
		      WAF_INCLUDE_DEPTH_HARD) ||
	    opt_limit(err, "files_max", &files, WAF_FILES_MAX_DEFAULT,
		      WAF_FILES_MAX_HARD) ||
	    opt_limit(err, "rules_max", &p->lim.rules_max,
		      WAF_RULES_MAX_DEFAULT, WAF_RULES_MAX_HARD) ||
	    opt_limit(err, "line_max", &p->lim.line_max, WAF_LINE_MAX_DEFAULT,
		      WAF_LINE_MAX_HARD) ||
	    opt_limit(err, "regex_max", &p->lim.regex_max,
		      WAF_REGEX_MAX_DEFAULT, WAF_REGEX_MAX_HARD) ||
	    opt_limit(err, "arena_max", &p->lim.arena_max,
		      WAF_ARENA_MAX_DEFAULT, WAF_ARENA_MAX_HARD))
		return -1;
	p->lim.include_depth = (unsigned)depth;
	p->lim.files_max = (unsigned)files;
	struct waf_ruleset *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return bw_err_set(err, 500, "waf", "out_of_memory",
				  "out of memory");
	rs->arena = bw_arena_new(64 << 10, p->lim.arena_max);
	if (!rs->arena) {
		free(rs);
		return bw_err_set(err, 500, "waf", "out_of_memory",
				  "out of memory");
	}
	settings_defaults(&rs->settings);
	p->rs = rs;
	if (p->lim.base_dir) {
		p->lim.base_dir = bw_arena_strdup(rs->arena, p->lim.base_dir);
		if (!p->lim.base_dir)
			return bw_err_set(err, 500, "waf", "out_of_memory",
					  "out of memory");
	}
	return 0;
}

/* Packs every phase's rules into its step array (struct waf_step), after
 * waf_engine_prepare assigned the group prefilters. 0 or -1 (memory). */
static int finish_steps(struct waf_parse *p)
{
	struct waf_ruleset *rs = p->rs;
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++) {
		struct waf_phase_rules *pr = &rs->phase[ph];
		if (!pr->n)
			continue;
		size_t bytes;
		if (__builtin_mul_overflow(pr->n, sizeof(*pr->steps), &bytes))
			goto oom;
		pr->steps = bw_arena_alloc(rs->arena, bytes);
		if (!pr->steps)
			goto oom;
		for (size_t i = 0; i < pr->n; i++) {
			const struct waf_rule *r = pr->rules[i];
			pr->steps[i] = (struct waf_step){
				.r = r,
				.sk_group = r->sk_group,
				.sk_bit = r->sk_bit,
				.kind = (uint8_t)r->kind,
			};
		}
	}
	return 0;
oom:
	return waf_perr(p, 413, "out_of_memory",
			"rule set memory limit reached");
}

static int end(struct waf_parse *p, int rc, struct waf_ruleset **out)
{
	free(p->ids);
	p->ids = NULL;
	if (rc == 0)
		rc = waf_ruleset_finish(p);
	if (rc == 0)
		rc = waf_engine_prepare(p);
	if (rc == 0)
		rc = finish_steps(p);
	if (rc == 0)
		waf_ruleset_snapshot(p->rs);
	if (rc != 0) {
		waf_ruleset_free(p->rs);
		*out = NULL;
		return -1;
	}
	*out = p->rs;
	return 0;
}

int waf_ruleset_load(const char *const *paths, size_t npaths,
		     const struct waf_load_opts *opts,
		     struct waf_ruleset **out, struct bw_err *err)
{
	struct waf_parse p;
	*out = NULL;
	if (begin(opts, &p, err) != 0) {
		if (p.rs)
			waf_ruleset_free(p.rs);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < npaths && rc == 0; i++)
		rc = waf_conf_file(&p, paths[i], false);
	return end(&p, rc, out);
}

int waf_ruleset_load_buffer(const char *name, const char *text, size_t len,
			    const struct waf_load_opts *opts,
			    struct waf_ruleset **out, struct bw_err *err)
{
	struct waf_parse p;
	*out = NULL;
	if (begin(opts, &p, err) != 0) {
		if (p.rs)
			waf_ruleset_free(p.rs);
		return -1;
	}
	int rc = 0;
	p.file = bw_arena_strdup(p.rs->arena, name ? name : "<buffer>");
	p.dir = p.lim.base_dir;
	if (!p.file)
		rc = waf_perr(&p, 500, "out_of_memory", "out of memory");
	if (rc == 0)
		rc = waf_conf_text(&p, text, len);
	return end(&p, rc, out);
}

void waf_ruleset_free(struct waf_ruleset *rs)
{
	if (!rs)
		return;
	waf_auditlog_free(rs->auditlog);
	rs->auditlog = NULL;
	waf_tx_free(rs->snap);
	rs->snap = NULL;
	bw_arena_free(rs->arena);
	rs->arena = NULL;
	free(rs);
}

size_t waf_ruleset_rule_count(const struct waf_ruleset *rs, int phase)
{
	if (!rs || phase < WAF_PHASE_MIN || phase > WAF_PHASE_MAX)
		return 0;
	return rs->nstarters[phase];
}

size_t waf_ruleset_marker_count(const struct waf_ruleset *rs)
{
	return rs ? rs->nmarkers : 0;
}

const struct waf_settings *waf_ruleset_settings(const struct waf_ruleset *rs)
{
	return &rs->settings;
}

size_t waf_ruleset_memory(const struct waf_ruleset *rs)
{
	return rs ? bw_arena_used(rs->arena) : 0;
}
