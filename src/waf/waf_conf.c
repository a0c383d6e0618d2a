/*
 * waf_conf.c — reading SecLang configuration text: the line lexer
 * (backslash continuations, comments, quoting), Include with globs, and
 * the directive table that turns each line into rules, markers, defaults,
 * engine settings or edits of rules already defined.
 *
 * Lexing rules (those of ModSecurity v3's scanner and Apache's config
 * reader where they agree):
 *  - a physical line ending in '\' continues on the next line; the
 *    backslash and newline are dropped, the next line's indentation kept;
 *  - a line whose first non-blank byte is '#' is a comment, to the end of
 *    that physical line even if it ends in '\';
 *  - arguments are separated by blanks; "double" or 'single' quotes group
 *    one argument, inside which \" (or \') is the quote character and every
 *    other backslash is kept as written (regexes need them); a '#' where an
 *    argument would start ends the line;
 *  - directive names are case-insensitive; unknown ones are errors.
 *
 * Invariants: every directive's strings are copied into the rule set's
 * arena before the line buffer is reused; p->file/p->dir/p->line always
 * describe the directive being processed, so errors read file:line.
 */
#include "waf/waf_int.h"

#include <ctype.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct directive_args {
	size_t argc;
	struct bw_str argv[WAF_DIRECTIVE_ARGS_MAX];
};

/* ---------------------------------------------------------------- lexer */

static int tokenize(struct waf_parse *p, struct bw_str line,
		    struct bw_str *name, struct directive_args *a)
{
	size_t i = 0;
	a->argc = 0;
	while (i < line.len && isspace((unsigned char)line.p[i]))
		i++;
	size_t ns = i;
	while (i < line.len && !isspace((unsigned char)line.p[i]))
		i++;
	*name = bw_str_make(line.p + ns, i - ns);
	for (;;) {
		while (i < line.len && isspace((unsigned char)line.p[i]))
			i++;
		if (i >= line.len || line.p[i] == '#')
			return 0;
		if (a->argc >= WAF_DIRECTIVE_ARGS_MAX)
			return waf_perr(p, 400, "too_many_args",
					"%.*s: more than %d arguments",
					(int)name->len, name->p,
					WAF_DIRECTIVE_ARGS_MAX);
		char q = line.p[i];
		char *out;
		size_t olen = 0;
		if (q == '"' || q == '\'') {
			size_t st = ++i;
			out = bw_arena_alloc(p->rs->arena, line.len - st + 1);
			if (!out)
				return waf_perr(p, 413, "out_of_memory",
						"rule set memory limit "
						"reached");
			while (i < line.len && line.p[i] != q) {
				if (line.p[i] == '\\' && i + 1 < line.len &&
				    line.p[i + 1] == q) {
					out[olen++] = q;
					i += 2;
					continue;
				}
				if (line.p[i] == '\\' && i + 1 < line.len &&
				    line.p[i + 1] == '\\') {
					/* "\\" is one unit when looking for
					 * the closing quote, kept as is */
					out[olen++] = '\\';
					out[olen++] = '\\';
					i += 2;
					continue;
				}
				out[olen++] = line.p[i++];
			}
			if (i >= line.len)
				return waf_perr(p, 400, "unterminated_quote",
						"%.*s: unterminated %s-quoted "
						"argument %zu",
						(int)name->len, name->p,
						q == '"' ? "double" : "single",
						a->argc + 1);
			i++;
			if (i < line.len && !isspace((unsigned char)line.p[i]))
				return waf_perr(p, 400, "bad_quote",
						"%.*s: text directly after the "
						"closing quote of argument %zu",
						(int)name->len, name->p,
						a->argc + 1);
		} else {
			size_t st = i;
			while (i < line.len && !isspace((unsigned char)line.p[i]))
				i++;
			out = bw_arena_strndup(p->rs->arena, line.p + st, i - st);
			if (!out)
				return waf_perr(p, 413, "out_of_memory",
						"rule set memory limit "
						"reached");
			olen = i - st;
		}
		out[olen] = 0;
		a->argv[a->argc++] = bw_str_make(out, olen);
	}
}

/* ------------------------------------------------------------- helpers */

static int want_args(struct waf_parse *p, const char *name,
		     const struct directive_args *a, size_t min, size_t max)
{
	if (a->argc < min || a->argc > max) {
		if (min == max)
			return waf_perr(p, 400, "bad_arg_count",
					"%s takes %zu argument%s, got %zu",
					name, min, min == 1 ? "" : "s",
					a->argc);
		return waf_perr(p, 400, "bad_arg_count",
				"%s takes %zu to %zu arguments, got %zu", name,
				min, max, a->argc);
	}
	return 0;
}

static int arg_on_off(struct waf_parse *p, const char *name, struct bw_str v,
		      bool *out)
{
	if (bw_str_caseeq_lit(v, "on"))
		*out = true;
	else if (bw_str_caseeq_lit(v, "off"))
		*out = false;
	else
		return waf_perr(p, 400, "bad_value",
				"%s: expected On or Off, got '%s'", name, v.p);
	return 0;
}

static int arg_u64(struct waf_parse *p, const char *name, struct bw_str v,
		   uint64_t *out)
{
	if (bw_str_to_u64(v, out) != 0)
		return waf_perr(p, 400, "bad_value",
				"%s: expected a non-negative integer, got "
				"'%s'", name, v.p);
	return 0;
}

static int arg_octal(struct waf_parse *p, const char *name, struct bw_str v,
		     unsigned *out)
{
	unsigned m = 0;
	if (v.len == 0 || v.len > 4)
		goto bad;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '7')
			goto bad;
		m = m * 8 + (unsigned)(v.p[i] - '0');
	}
	*out = m;
	return 0;
bad:
	return waf_perr(p, 400, "bad_value",
			"%s: expected an octal file mode, got '%s'", name, v.p);
}

static int arg_limit_action(struct waf_parse *p, const char *name,
			    struct bw_str v, enum waf_limit_action *out)
{
	if (bw_str_caseeq_lit(v, "reject"))
		*out = WAF_LIMIT_REJECT;
	else if (bw_str_caseeq_lit(v, "processpartial"))
		*out = WAF_LIMIT_PROCESS_PARTIAL;
	else
		return waf_perr(p, 400, "bad_value",
				"%s: expected Reject or ProcessPartial, got "
				"'%s'", name, v.p);
	return 0;
}

static int push_str(struct waf_parse *p, const char ***list, size_t *n,
		    const char *s)
{
	/* NULL-terminated list; rebuilt on every push (config-time only). */
	const char **nl = bw_arena_alloc(p->rs->arena,
					 (*n + 2) * sizeof(*nl));
	if (!nl)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	if (*n)
		memcpy(nl, *list, *n * sizeof(*nl));
	nl[(*n)++] = s;
	nl[*n] = NULL;
	*list = nl;
	return 0;
}

/* ------------------------------------------------------- rules, markers */

static struct waf_rule *new_rule(struct waf_parse *p, enum waf_rule_kind k)
{
	struct waf_rule *r = bw_arena_zalloc(p->rs->arena, sizeof(*r));
	if (!r) {
		waf_perr(p, 413, "out_of_memory",
			 "rule set memory limit reached");
		return NULL;
	}
	r->kind = k;
	r->file = p->file;
	r->line = p->line;
	waf_actions_init(&r->act);
	return r;
}

static int d_secrule(struct waf_parse *p, const struct directive_args *a)
{
	if (want_args(p, "SecRule", a, 2, 3) != 0)
		return -1;
	struct waf_rule *r = new_rule(p, WAF_RULE_SECRULE);
	size_t cap = 0;
	if (!r || waf_parse_targets(p, a->argv[0], &r->targets, &r->ntargets,
				    &cap) != 0 ||
	    waf_parse_operator(p, a->argv[1], &r->op) != 0)
		return -1;
	if (a->argc == 3 && waf_parse_actions(p, a->argv[2], &r->act) != 0)
		return -1;
	return waf_ruleset_add_rule(p, r);
}

static int d_secaction(struct waf_parse *p, const struct directive_args *a)
{
	if (want_args(p, "SecAction", a, 1, 1) != 0)
		return -1;
	struct waf_rule *r = new_rule(p, WAF_RULE_SECACTION);
	if (!r)
		return -1;
	r->op.id = WAF_OP_UNCONDITIONAL_MATCH;
	r->op.arg = bw_str_make("", 0);
	if (waf_parse_actions(p, a->argv[0], &r->act) != 0)
		return -1;
	return waf_ruleset_add_rule(p, r);
}

static int d_secmarker(struct waf_parse *p, const struct directive_args *a)
{
	if (want_args(p, "SecMarker", a, 1, 1) != 0)
		return -1;
	if (a->argv[0].len == 0)
		return waf_perr(p, 400, "bad_marker", "SecMarker needs a name");
	return waf_ruleset_add_marker(p, a->argv[0].p);
}

static int d_default_action(struct waf_parse *p,
			    const struct directive_args *a)
{
	if (want_args(p, "SecDefaultAction", a, 1, 1) != 0)
		return -1;
	struct waf_actions *d = bw_arena_zalloc(p->rs->arena, sizeof(*d));
	if (!d)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	waf_actions_init(d);
	if (waf_parse_actions(p, a->argv[0], d) != 0)
		return -1;
	const char *bad = d->id ? "id"
			  : d->chain ? "chain"
			  : d->rev ? "rev"
			  : d->ver ? "ver"
			  : d->maturity >= 0 ? "maturity"
			  : d->accuracy >= 0 ? "accuracy"
			  : d->skip ? "skip"
			  : d->skip_after ? "skipAfter"
			  : d->tfn_none ? "t:none"
					 : NULL;
	if (bad)
		return waf_perr(p, 400, "bad_default_action",
				"the action '%s' is not suitable to be part of "
				"SecDefaultAction", bad);
	if (d->disruptive == WAF_DIS_UNSET || d->disruptive == WAF_DIS_BLOCK)
		return waf_perr(p, 400, "bad_default_action",
				"SecDefaultAction must specify a disruptive "
				"action other than block");
	int ph = d->phase ? d->phase : 1; /* v3: no phase means phase 1 */
	if (p->rs->defaults[ph])
		return waf_perr(p, 400, "duplicate_default_action",
				"SecDefaultAction for phase %d was already "
				"given at %s:%u", ph, p->rs->default_file[ph],
				p->rs->default_line[ph]);
	p->rs->defaults[ph] = d;
	p->rs->default_file[ph] = p->file;
	p->rs->default_line[ph] = p->line;
	return 0;
}

/* ------------------------------------------------- edits of rule set */

static bool in_ranges(uint64_t id, const struct waf_id_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (id >= r[i].lo && id <= r[i].hi)
			return true;
	return false;
}

enum match_by { BY_ID, BY_TAG, BY_MSG };

struct matcher {
	enum match_by by;
	struct waf_id_range *ids;
	size_t nids;
	struct bw_str text;
};

static bool rule_matches(const struct waf_rule *r, const struct matcher *m)
{
	if (r->kind == WAF_RULE_MARKER)
		return false;
	switch (m->by) {
	case BY_ID:
		return in_ranges(r->act.id, m->ids, m->nids);
	case BY_TAG:
		for (size_t i = 0; i < r->act.ntags; i++)
			if (bw_str_eq(r->act.tags[i]->raw, m->text))
				return true;
		return false;
	case BY_MSG:
		return r->act.msg && bw_str_eq(r->act.msg->raw, m->text);
	}
	return false;
}

/* Join all arguments with spaces (SecRuleRemoveById 1 2 3-5). */
static struct bw_str join_args(struct waf_parse *p,
			       const struct directive_args *a)
{
	size_t len = 0;
	for (size_t i = 0; i < a->argc; i++)
		len += a->argv[i].len + 1;
	char *s = bw_arena_alloc(p->rs->arena, len + 1);
	if (!s)
		return bw_str_make(NULL, 0);
	size_t o = 0;
	for (size_t i = 0; i < a->argc; i++) {
		memcpy(s + o, a->argv[i].p, a->argv[i].len);
		o += a->argv[i].len;
		s[o++] = ' ';
	}
	s[o] = 0;
	return bw_str_make(s, o);
}

static size_t remove_matching(struct waf_parse *p, const struct matcher *m)
{
	size_t removed = 0;
	struct waf_ruleset *rs = p->rs;
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++) {
		struct waf_phase_rules *pr = &rs->phase[ph];
		size_t w = 0;
		for (size_t i = 0; i < pr->n; i++) {
			struct waf_rule *r = pr->rules[i];
			if (!rule_matches(r, m)) {
				pr->rules[w++] = r;
				continue;
			}
			if (p->open_chain && p->open_chain->chain_start == r)
				p->open_chain = NULL;
			for (struct waf_rule *l = r; l; l = l->chain_next)
				rs->nrules--;
			rs->nstarters[ph]--;
			waf_id_forget(p, r->act.id);
			removed++;
		}
		pr->n = w;
	}
	return removed;
}

static int d_remove(struct waf_parse *p, const struct directive_args *a,
		    enum match_by by, const char *name)
{
	if (a->argc == 0)
		return waf_perr(p, 400, "bad_arg_count",
				"%s needs an argument", name);
	struct matcher m = { .by = by };
	if (by == BY_ID) {
		struct bw_str all = join_args(p, a);
		if (!all.p)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		if (waf_parse_id_ranges(p, all, &m.ids, &m.nids) != 0)
			return -1;
	} else {
		if (want_args(p, name, a, 1, 1) != 0)
			return -1;
		m.text = a->argv[0];
	}
	size_t n = remove_matching(p, &m);
	log_debug("%s:%u: %s removed %zu rule(s)", p->file, p->line, name, n);
	return 0;
}

static bool target_eq(const struct waf_target *x, const struct waf_target *y)
{
	return x->var == y->var && x->count == y->count &&
	       x->exclude == y->exclude && x->sel_kind == y->sel_kind &&
	       x->sel.len == y->sel.len &&
	       (x->sel.len == 0 ||
		strncasecmp(x->sel.p, y->sel.p, x->sel.len) == 0);
}

static int update_targets(struct waf_parse *p, struct waf_rule *r,
			  const struct waf_target *add, size_t nadd,
			  const struct waf_target *replace)
{
	struct bw_arena *ar = p->rs->arena;
	size_t n = r->ntargets, at = n;
	if (replace) {
		for (at = 0; at < n; at++)
			if (target_eq(&r->targets[at], replace))
				break;
		if (at == n)
			return waf_perr(p, 400, "target_not_found",
					"rule %llu has no target %s%s%.*s to "
					"replace",
					(unsigned long long)r->act.id,
					waf_var_name(replace->var),
					replace->sel.len ? ":" : "",
					(int)replace->sel.len, replace->sel.p);
	}
	size_t total = n - (replace ? 1 : 0) + nadd;
	if (total > WAF_TARGETS_MAX)
		return waf_perr(p, 400, "too_many_targets",
				"rule %llu would have more than %d variables",
				(unsigned long long)r->act.id, WAF_TARGETS_MAX);
	struct waf_target *nt = bw_arena_alloc(ar, (total ? total : 1) *
						      sizeof(*nt));
	if (!nt)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	size_t o = 0;
	for (size_t i = 0; i < at && i < n; i++)
		nt[o++] = r->targets[i];
	for (size_t i = 0; i < nadd; i++)
		nt[o++] = add[i];
	for (size_t i = replace ? at + 1 : n; i < n; i++)
		nt[o++] = r->targets[i];
	r->targets = nt;
	r->ntargets = o;
	return 0;
}

static int d_update_target(struct waf_parse *p,
			   const struct directive_args *a, enum match_by by,
			   const char *name)
{
	if (want_args(p, name, a, 2, 3) != 0)
		return -1;
	struct matcher m = { .by = by, .text = a->argv[0] };
	if (by == BY_ID &&
	    waf_parse_id_ranges(p, a->argv[0], &m.ids, &m.nids) != 0)
		return -1;
	struct waf_target *add = NULL, *rep = NULL;
	size_t nadd = 0, cap = 0, nrep = 0, rcap = 0;
	if (waf_parse_targets(p, a->argv[1], &add, &nadd, &cap) != 0)
		return -1;
	if (a->argc == 3) {
		if (waf_parse_targets(p, a->argv[2], &rep, &nrep, &rcap) != 0)
			return -1;
		if (nrep != 1)
			return waf_perr(p, 400, "bad_target",
					"%s: the replaced target must be one "
					"variable", name);
	}
	size_t hits = 0;
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++) {
		struct waf_phase_rules *pr = &p->rs->phase[ph];
		for (size_t i = 0; i < pr->n; i++) {
			struct waf_rule *r = pr->rules[i];
			if (!rule_matches(r, &m))
				continue;
			if (r->kind != WAF_RULE_SECRULE)
				return waf_perr(p, 400, "bad_update",
						"%s: rule %llu is a SecAction "
						"and has no targets", name,
						(unsigned long long)r->act.id);
			if (update_targets(p, r, add, nadd, rep) != 0)
				return -1;
			hits++;
		}
	}
	if (hits == 0 && by == BY_ID)
		return waf_perr(p, 400, "rule_not_found",
				"%s: no rule with id %s is defined before this "
				"line", name, a->argv[0].p);
	return 0;
}

static int merge_arrays(struct waf_parse *p, void **dst, size_t *n,
			const void *src, size_t ns, size_t elsize)
{
	if (ns == 0)
		return 0;
	char *d = bw_arena_alloc(p->rs->arena, (*n + ns) * elsize);
	if (!d)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	if (*n)
		memcpy(d, *dst, *n * elsize);
	memcpy(d + *n * elsize, src, ns * elsize);
	*dst = d;
	*n += ns;
	return 0;
}

static int d_update_action(struct waf_parse *p,
			   const struct directive_args *a)
{
	if (want_args(p, "SecRuleUpdateActionById", a, 2, 2) != 0)
		return -1;
	struct matcher m = { .by = BY_ID };
	if (waf_parse_id_ranges(p, a->argv[0], &m.ids, &m.nids) != 0)
		return -1;
	struct waf_actions u;
	waf_actions_init(&u);
	if (waf_parse_actions(p, a->argv[1], &u) != 0)
		return -1;
	if (u.id || u.phase || u.chain)
		return waf_perr(p, 400, "bad_update",
				"SecRuleUpdateActionById cannot change id, "
				"phase or chain");
	size_t hits = 0;
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++) {
		struct waf_phase_rules *pr = &p->rs->phase[ph];
		for (size_t i = 0; i < pr->n; i++) {
			struct waf_rule *r = pr->rules[i];
			if (!rule_matches(r, &m))
				continue;
			struct waf_actions *t = &r->act;
			hits++;
			/* single-valued actions are overwritten ... */
			if (u.msg)
				t->msg = u.msg;
			if (u.logdata)
				t->logdata = u.logdata;
			if (u.severity >= 0)
				t->severity = u.severity;
			if (u.rev)
				t->rev = u.rev;
			if (u.ver)
				t->ver = u.ver;
			if (u.maturity >= 0)
				t->maturity = u.maturity;
			if (u.accuracy >= 0)
				t->accuracy = u.accuracy;
			if (u.disruptive != WAF_DIS_UNSET) {
				t->disruptive = u.disruptive;
				t->allow_scope = u.allow_scope;
				t->redirect = u.redirect;
			}
			if (u.status)
				t->status = u.status;
			if (u.skip)
				t->skip = u.skip;
			if (u.skip_after)
				t->skip_after = u.skip_after;
			if (u.log != WAF_FLAG_UNSET)
				t->log = u.log;
			if (u.auditlog != WAF_FLAG_UNSET)
				t->auditlog = u.auditlog;
			if (u.save != WAF_FLAG_UNSET)
				t->save = u.save;
			t->capture |= u.capture;
			t->multi_match |= u.multi_match;
			/* ... and lists appended; t:none restarts them */
			if (u.tfn_none) {
				t->tfn_none = true;
				t->ntfns = 0;
			}
			if (merge_arrays(p, (void **)&t->tfns, &t->ntfns,
					 u.tfns, u.ntfns, sizeof(*u.tfns)) ||
			    merge_arrays(p, (void **)&t->tags, &t->ntags,
					 u.tags, u.ntags, sizeof(*u.tags)) ||
			    merge_arrays(p, (void **)&t->execs, &t->nexecs,
					 u.execs, u.nexecs, sizeof(*u.execs)) ||
			    merge_arrays(p, (void **)&t->xmlns, &t->nxmlns,
					 u.xmlns, u.nxmlns, sizeof(*u.xmlns)))
				return -1;
		}
	}
	if (hits == 0)
		return waf_perr(p, 400, "rule_not_found",
				"SecRuleUpdateActionById: no rule with id %s is "
				"defined before this line", a->argv[0].p);
	return 0;
}

/* ------------------------------------------------------------- include */

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int d_include(struct waf_parse *p, const struct directive_args *a,
		     bool optional)
{
	const char *name = optional ? "IncludeOptional" : "Include";
	if (want_args(p, name, a, 1, 1) != 0)
		return -1;
	if (p->lim.no_include)
		return waf_perr(p, 400, "include_refused",
				"%s is not allowed in this context", name);
	if (p->depth + 1 > p->lim.include_depth)
		return waf_perr(p, 400, "include_depth",
				"%s nested deeper than %u levels (a cycle?)",
				name, p->lim.include_depth);
	const char *pat = a->argv[0].p;
	if (pat[0] != '/' && p->dir) {
		pat = bw_arena_printf(p->rs->arena, "%s/%s", p->dir, pat);
		if (!pat)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
	}
	glob_t g;
	memset(&g, 0, sizeof(g));
	/* no GLOB_ERR: an unreadable or missing directory is "no match",
	 * which IncludeOptional must tolerate */
	int gr = glob(pat, 0, NULL, &g);
	if (gr == GLOB_NOMATCH) {
		globfree(&g);
		if (optional)
			return 0;
		return waf_perr(p, 404, "include_missing",
				"%s: %s '%s'", name,
				has_glob(pat) ? "no file matches"
					      : "cannot open",
				pat);
	}
	if (gr != 0) {
		globfree(&g);
		return waf_perr(p, 404, "include_error",
				"%s: cannot read '%s'", name, pat);
	}
	/* the including directive's location, restored for later errors */
	const char *file = p->file, *dir = p->dir;
	unsigned line = p->line;
	int rc = 0;
	p->depth++;
	for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
		rc = waf_conf_file(p, g.gl_pathv[i], optional);
	p->depth--;
	globfree(&g);
	if (rc == 0) {
		p->file = file;
		p->dir = dir;
		p->line = line;
	}
	return rc;
}

/* ----------------------------------------------------------- settings */

static int d_setting(struct waf_parse *p, struct bw_str dname,
		     const struct directive_args *a, bool *handled)
{
	struct waf_settings *s = &p->rs->settings;
	char name[64];
	bw_snprintf(name, sizeof(name), "%.*s", (int)dname.len, dname.p);
	const struct bw_str v = a->argc ? a->argv[0] : bw_str_make("", 0);
	*handled = true;

#define IS(lit) (strcasecmp(name, lit) == 0)
#define ONE()                                                                  \
	do {                                                                   \
		if (want_args(p, name, a, 1, 1) != 0)                          \
			return -1;                                             \
	} while (0)
#define STR(field)                                                             \
	do {                                                                   \
		ONE();                                                         \
		s->field = v.p;                                                \
		return 0;                                                      \
	} while (0)

	if (IS("SecRuleEngine")) {
		ONE();
		if (bw_str_caseeq_lit(v, "on"))
			s->rule_engine = WAF_ENGINE_ON;
		else if (bw_str_caseeq_lit(v, "off"))
			s->rule_engine = WAF_ENGINE_OFF;
		else if (bw_str_caseeq_lit(v, "detectiononly"))
			s->rule_engine = WAF_ENGINE_DETECTION_ONLY;
		else
			return waf_perr(p, 400, "bad_value",
					"SecRuleEngine: expected On, Off or "
					"DetectionOnly, got '%s'", v.p);
		return 0;
	}
	if (IS("SecRequestBodyAccess")) {
		ONE();
		return arg_on_off(p, name, v, &s->request_body_access);
	}
	if (IS("SecResponseBodyAccess")) {
		ONE();
		return arg_on_off(p, name, v, &s->response_body_access);
	}
	if (IS("SecStatusEngine")) {
		ONE();
		return arg_on_off(p, name, v, &s->status_engine);
	}
	if (IS("SecXmlExternalEntity")) {
		ONE();
		return arg_on_off(p, name, v, &s->xml_external_entity);
	}
	struct {
		const char *n;
		uint64_t *f;
	} nums[] = {
		{ "SecRequestBodyLimit", &s->request_body_limit },
		{ "SecRequestBodyNoFilesLimit", &s->request_body_no_files_limit },
		{ "SecRequestBodyInMemoryLimit",
		  &s->request_body_in_memory_limit },
		{ "SecRequestBodyJsonDepthLimit",
		  &s->request_body_json_depth_limit },
		{ "SecArgumentsLimit", &s->arguments_limit },
		{ "SecPcreMatchLimit", &s->pcre_match_limit },
		{ "SecPcreMatchLimitRecursion", &s->pcre_match_limit_recursion },
		{ "SecResponseBodyLimit", &s->response_body_limit },
		{ "SecCollectionTimeout", &s->collection_timeout },
		{ "SecUploadFileLimit", &s->upload_file_limit },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(nums); i++)
		if (IS(nums[i].n)) {
			ONE();
			return arg_u64(p, name, v, nums[i].f);
		}
	if (IS("SecRequestBodyLimitAction")) {
		ONE();
		return arg_limit_action(p, name, v,
					&s->request_body_limit_action);
	}
	if (IS("SecResponseBodyLimitAction")) {
		ONE();
		return arg_limit_action(p, name, v,
					&s->response_body_limit_action);
	}
	if (IS("SecResponseBodyMimeType")) {
		if (a->argc == 0)
			return waf_perr(p, 400, "bad_arg_count",
					"%s needs at least one type", name);
		for (size_t i = 0; i < a->argc; i++) {
			/* one quoted argument may hold several types */
			const char *t = a->argv[i].p;
			while (*t) {
				while (*t == ' ' || *t == '\t')
					t++;
				size_t l = strcspn(t, " \t");
				if (!l)
					break;
				char *c = waf_strndup(p, t, l);
				if (!c || push_str(p, &s->response_body_mime_types,
						   &s->n_response_body_mime_types,
						   c))
					return -1;
				t += l;
			}
		}
		return 0;
	}
	if (IS("SecResponseBodyMimeTypesClear")) {
		if (want_args(p, name, a, 0, 0) != 0)
			return -1;
		s->response_body_mime_types = NULL;
		s->n_response_body_mime_types = 0;
		return 0;
	}
	if (IS("SecTmpDir"))
		STR(tmp_dir);
	if (IS("SecDataDir"))
		STR(data_dir);
	if (IS("SecUploadDir"))
		STR(upload_dir);
	if (IS("SecUploadKeepFiles")) {
		ONE();
		if (bw_str_caseeq_lit(v, "on") ||
		    bw_str_caseeq_lit(v, "relevantonly"))
			s->upload_keep_files = WAF_ON;
		else if (bw_str_caseeq_lit(v, "off"))
			s->upload_keep_files = WAF_OFF;
		else
			return waf_perr(p, 400, "bad_value",
					"%s: expected On, Off or RelevantOnly",
					name);
		return 0;
	}
	if (IS("SecUploadFileMode")) {
		ONE();
		return arg_octal(p, name, v, &s->upload_file_mode);
	}
	if (IS("SecAuditEngine")) {
		ONE();
		if (bw_str_caseeq_lit(v, "on"))
			s->audit_engine = WAF_AUDIT_ON;
		else if (bw_str_caseeq_lit(v, "off"))
			s->audit_engine = WAF_AUDIT_OFF;
		else if (bw_str_caseeq_lit(v, "relevantonly"))
			s->audit_engine = WAF_AUDIT_RELEVANT_ONLY;
		else
			return waf_perr(p, 400, "bad_value",
					"%s: expected On, Off or RelevantOnly, "
					"got '%s'", name, v.p);
		return 0;
	}
	if (IS("SecAuditLog")) {
		ONE();
		/* A relative file name is relative to the directory of the
		 * file that names it (so a rule file next to the data can say
		 * "SecAuditLog waf-audit.json"); a pipe is refused below. */
		if (v.p[0] == '|')
			return waf_perr(p, 400, "bad_value",
					"%s: piped audit logs are not supported",
					name);
		if (v.p[0] != '/' && p->dir) {
			s->audit_log = bw_arena_printf(p->rs->arena, "%s/%s", p->dir, v.p);
			if (!s->audit_log)
				return waf_perr(p, 500, "no_memory", "out of memory");
		} else {
			s->audit_log = v.p;
		}
		return 0;
	}
	if (IS("SecAuditLog2"))
		STR(audit_log2);
	if (IS("SecAuditLogParts")) {
		ONE();
		for (size_t i = 0; i < v.len; i++)
			if (!strchr("ABCDEFGHIJKZ", v.p[i]))
				return waf_perr(p, 400, "bad_value",
						"%s: invalid part '%c'", name,
						v.p[i]);
		s->audit_log_parts = v.p;
		return 0;
	}
	if (IS("SecAuditLogRelevantStatus")) {
		ONE();
		if (!waf_regex_compile(p, name, v.p, v.len, false))
			return -1;
		s->audit_log_relevant_status = v.p;
		return 0;
	}
	if (IS("SecAuditLogType"))
		STR(audit_log_type);
	if (IS("SecAuditLogStorageDir"))
		STR(audit_log_storage_dir);
	if (IS("SecAuditLogFormat"))
		STR(audit_log_format);
	if (IS("SecAuditLogDirMode")) {
		ONE();
		return arg_octal(p, name, v, &s->audit_log_dir_mode);
	}
	if (IS("SecAuditLogFileMode")) {
		ONE();
		return arg_octal(p, name, v, &s->audit_log_file_mode);
	}
	if (IS("SecDebugLog"))
		STR(debug_log);
	if (IS("SecDebugLogLevel")) {
		uint64_t lvl;
		ONE();
		if (arg_u64(p, name, v, &lvl) != 0)
			return -1;
		if (lvl > 9)
			return waf_perr(p, 400, "bad_value",
					"%s: level must be 0-9", name);
		s->debug_log_level = (unsigned)lvl;
		return 0;
	}
	if (IS("SecComponentSignature")) {
		ONE();
		return push_str(p, &s->component_signatures,
				&s->n_component_signatures, v.p);
	}
	if (IS("SecUnicodeMapFile")) {
		if (want_args(p, name, a, 1, 2) != 0)
			return -1;
		s->unicode_map_file = waf_resolve_path(p, v.p, v.len);
		if (!s->unicode_map_file)
			return -1;
		if (a->argc == 2) {
			uint64_t cp;
			if (arg_u64(p, name, a->argv[1], &cp) != 0)
				return -1;
			s->unicode_code_point = (unsigned)(cp & 0xffffffu);
		}
		return 0;
	}
	if (IS("SecArgumentSeparator")) {
		ONE();
		if (v.len != 1)
			return waf_perr(p, 400, "bad_value",
					"%s: expected a single character", name);
		s->argument_separator = v.p[0];
		return 0;
	}
	if (IS("SecCookieFormat")) {
		ONE();
		if (v.len != 1 || (v.p[0] != '0' && v.p[0] != '1'))
			return waf_perr(p, 400, "bad_value",
					"%s: expected 0 or 1", name);
		s->cookie_format = (unsigned)(v.p[0] - '0');
		return 0;
	}
	if (IS("SecGeoLookupDb")) {
		ONE();
		s->geo_lookup_db = waf_resolve_path(p, v.p, v.len);
		return s->geo_lookup_db ? 0 : -1;
	}
	if (IS("SecHttpBlKey"))
		STR(http_bl_key);
	if (IS("SecWebAppId"))
		STR(web_app_id);
	*handled = false;
	return 0;
#undef IS
#undef ONE
#undef STR
}

/* -------------------------------------------------------- dispatching */

static int directive(struct waf_parse *p, struct bw_str line)
{
	struct bw_str name;
	struct directive_args a;
	if (tokenize(p, line, &name, &a) != 0)
		return -1;
	if (name.len == 0)
		return 0;
#define D(lit) bw_str_caseeq_lit(name, lit)
	if (p->open_chain && !D("SecRule"))
		return waf_perr(p, 400, "chain_broken",
				"rule %llu ends with 'chain' but is followed "
				"by %.*s, not SecRule",
				(unsigned long long)
					p->open_chain->chain_start->act.id,
				(int)(name.len > 64 ? 64 : name.len), name.p);
	if (D("SecRule"))
		return d_secrule(p, &a);
	if (D("SecAction"))
		return d_secaction(p, &a);
	if (D("SecMarker"))
		return d_secmarker(p, &a);
	if (D("SecDefaultAction"))
		return d_default_action(p, &a);
	if (D("Include"))
		return d_include(p, &a, false);
	if (D("IncludeOptional"))
		return d_include(p, &a, true);
	if (D("SecRuleRemoveById"))
		return d_remove(p, &a, BY_ID, "SecRuleRemoveById");
	if (D("SecRuleRemoveByTag"))
		return d_remove(p, &a, BY_TAG, "SecRuleRemoveByTag");
	if (D("SecRuleRemoveByMsg"))
		return d_remove(p, &a, BY_MSG, "SecRuleRemoveByMsg");
	if (D("SecRuleUpdateTargetById"))
		return d_update_target(p, &a, BY_ID, "SecRuleUpdateTargetById");
	if (D("SecRuleUpdateTargetByTag"))
		return d_update_target(p, &a, BY_TAG,
				       "SecRuleUpdateTargetByTag");
	if (D("SecRuleUpdateTargetByMsg"))
		return d_update_target(p, &a, BY_MSG,
				       "SecRuleUpdateTargetByMsg");
	if (D("SecRuleUpdateActionById"))
		return d_update_action(p, &a);
	if (D("SecRuleScript"))
		return waf_perr(p, 400, "refused_directive",
				"SecRuleScript is refused: bulwark never "
				"executes scripts");
	if (D("SecRemoteRules") || D("SecRemoteRulesFailAction"))
		return waf_perr(p, 400, "refused_directive",
				"%.*s is refused: rules are loaded only from "
				"local files", (int)name.len, name.p);
#undef D
	bool handled;
	if (d_setting(p, name, &a, &handled) != 0)
		return -1;
	if (!handled)
		return waf_perr(p, 400, "unknown_directive",
				"unknown directive '%.*s'",
				(int)(name.len > 64 ? 64 : name.len), name.p);
	return 0;
}

int waf_conf_text(struct waf_parse *p, const char *text, size_t len)
{
	struct bw_buf lb;
	int rc = 0;
	unsigned lineno = 0, start = 0;
	size_t i = 0;
	if (len && memchr(text, '\0', len)) {
		const char *z = memchr(text, '\0', len);
		unsigned l = 1;
		for (const char *c = text; c < z; c++)
			l += *c == '\n';
		p->line = l;
		return waf_perr(p, 400, "nul_byte", "NUL byte in rule text");
	}
	bw_buf_init(&lb, p->lim.line_max);
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		struct bw_str ph = bw_str_make(text + i, end - i);
		i = end + 1;
		lineno++;
		if (ph.len && ph.p[ph.len - 1] == '\r')
			ph.len--;
		if (lb.len == 0) {
			size_t k = 0;
			while (k < ph.len && isspace((unsigned char)ph.p[k]))
				k++;
			if (k == ph.len || ph.p[k] == '#')
				continue;
			start = lineno;
		}
		bool cont = ph.len && ph.p[ph.len - 1] == '\\';
		if (cont)
			ph.len--;
		if (bw_buf_append(&lb, ph.p, ph.len) != 0) {
			p->line = start;
			rc = waf_perr(p, 413, "line_too_long",
				      "logical line longer than %zu bytes",
				      p->lim.line_max);
			break;
		}
		if (cont && i < len)
			continue;
		p->line = start;
		rc = directive(p, bw_str_make(lb.data ? lb.data : "", lb.len));
		bw_buf_reset(&lb);
		if (rc != 0)
			break;
	}
	bw_buf_fini(&lb);
	if (rc == 0 && p->open_chain) {
		struct waf_rule *s = p->open_chain->chain_start;
		p->line = p->open_chain->line;
		return waf_perr(p, 400, "chain_without_rule",
				"rule %llu (line %u) ends with 'chain' but no "
				"SecRule follows", (unsigned long long)s->act.id,
				s->line);
	}
	return rc;
}

int waf_conf_file(struct waf_parse *p, const char *path, bool optional)
{
	(void)optional;
	if (++p->files > p->lim.files_max)
		return waf_perr(p, 413, "too_many_files",
				"more than %u files in one load",
				p->lim.files_max);
	struct bw_err ferr = { 0 };
	size_t len;
	char *text = bw_file_read(path, p->lim.file_max, &len, &ferr);
	if (!text)
		return waf_perr(p, ferr.code == 413 ? 413 : 404, "rule_file",
				"cannot read rule file: %s", ferr.msg);
	const char *file = waf_strndup(p, path, strlen(path));
	const char *slash = strrchr(path, '/');
	const char *dir = slash ? waf_strndup(p, path,
					      slash == path ? 1
							    : (size_t)(slash - path))
				: waf_strndup(p, ".", 1);
	int rc = -1;
	if (file && dir) {
		p->file = file;
		p->dir = dir;
		p->line = 0;
		p->open_chain = NULL; /* like v3, a chain never spans files */
		rc = waf_conf_text(p, text, len);
	}
	free(text);
	return rc;
}
