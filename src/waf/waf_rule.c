/*
 * waf_rule.c — parsing the three parts of a SecRule into the compiled form:
 * the target list (VARIABLES), the operator and the action list, plus the
 * %{...} macro strings that actions and operator parameters carry.
 *
 * Input is a directive argument that the lexer has already unquoted; it is
 * a (pointer, length) view and is never assumed NUL-terminated. All output
 * lives in the rule set's arena. Every function reports the first problem
 * through waf_perr (so the message carries file:line) and returns -1.
 */
#include "waf/waf_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool str_ieq(struct bw_str s, const char *lit)
{
	return bw_str_caseeq_lit(s, lit);
}

static struct bw_str trim(struct bw_str s)
{
	while (s.len && isspace((unsigned char)s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && isspace((unsigned char)s.p[s.len - 1]))
		s.len--;
	return s;
}

/* An arena copy of s that is also NUL-terminated. */
static int dup_str(struct waf_parse *p, struct bw_str s, struct bw_str *out)
{
	char *d = waf_strndup(p, s.p, s.len);
	if (!d)
		return -1;
	*out = bw_str_make(d, s.len);
	return 0;
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* ---------------------------------------------------------------- macros */

struct waf_macro *waf_parse_macro(struct waf_parse *p, struct bw_str s)
{
	struct bw_arena *a = p->rs->arena;
	struct waf_macro *m = bw_arena_zalloc(a, sizeof(*m));
	size_t cap = 0;
	if (!m || dup_str(p, s, &m->raw) != 0)
		goto oom;
	const char *t = m->raw.p;
	size_t i = 0, lit = 0, len = s.len;
	m->constant = true;
	while (i <= len) {
		bool ref = i + 1 < len && t[i] == '%' && t[i + 1] == '{';
		const char *close = ref ? memchr(t + i + 2, '}', len - i - 2)
					: NULL;
		if (i < len && !close) {
			i++;
			continue;
		}
		/* flush the literal run [lit, i) */
		if (i > lit) {
			if (m->nsegs >= WAF_MACRO_SEGS_MAX)
				goto toomany;
			if (waf_grow(a, (void **)&m->segs, &cap, m->nsegs,
				     sizeof(*m->segs)) != 0)
				goto oom;
			m->segs[m->nsegs++] = (struct waf_macro_seg){
				.kind = WAF_SEG_LITERAL,
				.text = bw_str_make(t + lit, i - lit),
			};
		}
		if (i == len)
			break;
		/* a %{NAME} or %{COLLECTION.key} reference */
		const char *in = t + i + 2;
		size_t inlen = (size_t)(close - in);
		const char *dot = memchr(in, '.', inlen);
		size_t nlen = dot ? (size_t)(dot - in) : inlen;
		const struct waf_var_info *vi = waf_var_lookup(in, nlen);
		if (!vi) {
			waf_perr(p, 400, "bad_macro",
				 "unknown variable '%.*s' in macro '%%{%.*s}'",
				 (int)nlen, in, (int)inlen, in);
			return NULL;
		}
		if (dot && !(vi->flags & WAF_VARF_COLLECTION)) {
			waf_perr(p, 400, "bad_macro",
				 "variable %s in macro '%%{%.*s}' is not a "
				 "collection and takes no key", vi->name,
				 (int)inlen, in);
			return NULL;
		}
		if (dot && (size_t)(dot - in) + 1 == inlen) {
			waf_perr(p, 400, "bad_macro",
				 "empty key in macro '%%{%.*s}'", (int)inlen,
				 in);
			return NULL;
		}
		if (m->nsegs >= WAF_MACRO_SEGS_MAX)
			goto toomany;
		if (waf_grow(a, (void **)&m->segs, &cap, m->nsegs,
			     sizeof(*m->segs)) != 0)
			goto oom;
		struct waf_macro_seg *seg = &m->segs[m->nsegs++];
		seg->kind = WAF_SEG_VAR;
		seg->text = bw_str_make(t + i, inlen + 3);
		seg->var = vi->id;
		seg->key = dot ? bw_str_make(dot + 1, inlen - nlen - 1)
			       : bw_str_make("", 0);
		seg->key_hash = waf_key_hash(seg->key);
		m->constant = false;
		i = (size_t)(close - t) + 1;
		lit = i;
	}
	m->raw_hash = waf_key_hash(m->raw);
	return m;
toomany:
	waf_perr(p, 400, "macro_too_long",
		 "more than %d segments in macro string", WAF_MACRO_SEGS_MAX);
	return NULL;
oom:
	waf_perr(p, 413, "out_of_memory", "rule set memory limit reached");
	return NULL;
}

/* --------------------------------------------------------------- targets */

/*
 * VARIABLES: entries separated by '|'. Each is [!|&]NAME[:selector] where
 * the selector is /regex/ (slashes escaped as \/), 'quoted', or text up to
 * the next '|'. For XML the selector is an XPath expression.
 */
int waf_parse_targets(struct waf_parse *p, struct bw_str s,
		      struct waf_target **out, size_t *n, size_t *cap)
{
	size_t i = 0;
	if (s.len == 0)
		return waf_perr(p, 400, "bad_target", "empty variable list");
	while (i < s.len) {
		struct waf_target t = { 0 };
		if (s.p[i] == '!') {
			t.exclude = true;
			i++;
		} else if (s.p[i] == '&') {
			t.count = true;
			i++;
		}
		size_t ns = i;
		while (i < s.len && is_name_char(s.p[i]))
			i++;
		if (i == ns)
			return waf_perr(p, 400, "bad_target",
					"expected a variable name at '%.*s'",
					(int)(s.len - ns > 40 ? 40 : s.len - ns),
					s.p + ns);
		const struct waf_var_info *vi = waf_var_lookup(s.p + ns, i - ns);
		if (!vi)
			return waf_perr(p, 400, "unknown_variable",
					"unknown variable '%.*s'",
					(int)(i - ns), s.p + ns);
		t.var = vi->id;
		if (i < s.len && s.p[i] == ':') {
			i++;
			if (!(vi->flags & WAF_VARF_COLLECTION))
				return waf_perr(p, 400, "bad_selector",
						"variable %s is not a "
						"collection and takes no "
						"':selector'", vi->name);
			size_t ss = i;
			struct bw_str sel;
			if (vi->id != WAF_VAR_XML && i < s.len &&
			    (s.p[i] == '/' ||
			     (s.p[i] == '\'' && i + 1 < s.len &&
			      s.p[i + 1] == '/'))) {
				bool q = s.p[i] == '\'';
				i += q ? 2 : 1;
				size_t rs = i;
				while (i < s.len && s.p[i] != '/') {
					if (s.p[i] == '\\' && i + 1 < s.len)
						i++;
					i++;
				}
				if (i >= s.len)
					return waf_perr(p, 400, "bad_selector",
							"unterminated /regex/ "
							"selector of %s",
							vi->name);
				sel = bw_str_make(s.p + rs, i - rs);
				i++;
				if (q) {
					if (i >= s.len || s.p[i] != '\'')
						return waf_perr(
							p, 400, "bad_selector",
							"unterminated quoted "
							"selector of %s",
							vi->name);
					i++;
				}
				t.sel_kind = WAF_SEL_REGEX;
			} else if (i < s.len && s.p[i] == '\'') {
				i++;
				size_t qs = i;
				while (i < s.len && s.p[i] != '\'')
					i++;
				if (i >= s.len)
					return waf_perr(p, 400, "bad_selector",
							"unterminated quoted "
							"selector of %s",
							vi->name);
				sel = bw_str_make(s.p + qs, i - qs);
				i++;
				t.sel_kind = vi->id == WAF_VAR_XML
						     ? WAF_SEL_XPATH
						     : WAF_SEL_NAME;
			} else {
				while (i < s.len && s.p[i] != '|')
					i++;
				sel = bw_str_make(s.p + ss, i - ss);
				t.sel_kind = vi->id == WAF_VAR_XML
						     ? WAF_SEL_XPATH
						     : WAF_SEL_NAME;
			}
			if (sel.len == 0)
				return waf_perr(p, 400, "bad_selector",
						"empty selector after %s:",
						vi->name);
			if (dup_str(p, sel, &t.sel) != 0)
				return -1;
			if (t.sel_kind == WAF_SEL_REGEX) {
				/* v3 matches selector regexes caselessly */
				t.sel_re = waf_regex_compile(
					p, "variable selector", t.sel.p,
					t.sel.len, true);
				if (!t.sel_re)
					return -1;
			}
		}
		/* !REQUEST_URI and &REQUEST_URI (0 or 1) are valid, as in
		 * v3; nothing more to check for scalars. */
		if (*n >= WAF_TARGETS_MAX)
			return waf_perr(p, 400, "too_many_targets",
					"more than %d variables in one rule",
					WAF_TARGETS_MAX);
		if (waf_grow(p->rs->arena, (void **)out, cap, *n,
			     sizeof(**out)) != 0)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		(*out)[(*n)++] = t;
		if (i < s.len) {
			if (s.p[i] != '|')
				return waf_perr(p, 400, "bad_target",
						"expected '|' between "
						"variables at '%.*s'",
						(int)(s.len - i > 40 ? 40
								     : s.len - i),
						s.p + i);
			i++;
			if (i == s.len)
				return waf_perr(p, 400, "bad_target",
						"variable list ends with '|'");
		}
	}
	return 0;
}

/* -------------------------------------------------------------- operator */

/* Split a space-separated list (for @pm and @pmFromFile). */
static int split_words(struct waf_parse *p, struct bw_str s,
		       struct bw_str **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	size_t i = 0;
	while (i < s.len) {
		while (i < s.len && isspace((unsigned char)s.p[i]))
			i++;
		size_t st = i;
		while (i < s.len && !isspace((unsigned char)s.p[i]))
			i++;
		if (i == st)
			break;
		if (*n >= WAF_PM_PHRASES_MAX)
			return waf_perr(p, 413, "too_many_phrases",
					"more than %d phrases",
					WAF_PM_PHRASES_MAX);
		if (waf_grow(p->rs->arena, (void **)out, &cap, *n,
			     sizeof(**out)) != 0)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		if (dup_str(p, bw_str_make(s.p + st, i - st), &(*out)[*n]) != 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static int parse_i64(struct bw_str s, int64_t *out)
{
	bool neg = false;
	uint64_t v;
	if (s.len && (s.p[0] == '-' || s.p[0] == '+')) {
		neg = s.p[0] == '-';
		s.p++;
		s.len--;
	}
	if (bw_str_to_u64(s, &v) != 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int op_files(struct waf_parse *p, struct waf_operator *op, bool ip)
{
	struct bw_str *names;
	size_t n;
	if (split_words(p, op->arg, &names, &n) != 0)
		return -1;
	if (n == 0)
		return waf_perr(p, 400, "bad_operator", "@%s needs a file name",
				waf_op_name(op->id));
	op->files = bw_arena_alloc(p->rs->arena, n * sizeof(*op->files));
	if (!op->files)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	for (size_t i = 0; i < n; i++) {
		if (bw_str_caseeq_lit(bw_str_make(names[i].p,
						  names[i].len < 8 ? names[i].len : 8),
				      "https://") ||
		    bw_str_caseeq_lit(bw_str_make(names[i].p,
						  names[i].len < 7 ? names[i].len : 7),
				      "http://"))
			return waf_perr(p, 400, "remote_data",
					"@%s: remote data file '%s' refused; "
					"bulwark loads rule data only from "
					"local files",
					waf_op_name(op->id), names[i].p);
		char *path = waf_resolve_path(p, names[i].p, names[i].len);
		if (!path)
			return -1;
		op->files[op->nfiles++] = path;
		if (ip ? waf_load_ip_file(p, op, path)
		       : waf_load_pm_file(p, op, path))
			return -1;
	}
	return 0;
}

int waf_parse_operator(struct waf_parse *p, struct bw_str s,
		       struct waf_operator *op)
{
	size_t i = 0;
	memset(op, 0, sizeof(*op));
	while (i < s.len && isspace((unsigned char)s.p[i]))
		i++;
	if (i < s.len && s.p[i] == '!') {
		op->negated = true;
		i++;
	}
	struct bw_str arg;
	if (i < s.len && s.p[i] == '@') {
		size_t ns = ++i;
		while (i < s.len && !isspace((unsigned char)s.p[i]))
			i++;
		if (waf_op_lookup(s.p + ns, i - ns, &op->id) != 0) {
			struct bw_str nm = bw_str_make(s.p + ns, i - ns);
			if (str_ieq(nm, "inspectFile"))
				return waf_perr(p, 400, "refused_operator",
						"@inspectFile is refused: it "
						"runs an external program and "
						"bulwark never executes one");
			if (str_ieq(nm, "fuzzyHash") ||
			    str_ieq(nm, "gsbLookup") || str_ieq(nm, "rsub") ||
			    str_ieq(nm, "validateHash"))
				return waf_perr(p, 400, "unsupported_operator",
						"operator @%.*s is not "
						"supported", (int)nm.len, nm.p);
			return waf_perr(p, 400, "unknown_operator",
					"unknown operator '@%.*s'",
					(int)nm.len, nm.p);
		}
		/* one space separates the operator from its parameter */
		while (i < s.len && isspace((unsigned char)s.p[i]))
			i++;
		arg = bw_str_make(s.p + i, s.len - i);
	} else {
		op->id = WAF_OP_RX;
		arg = bw_str_make(s.p + i, s.len - i);
	}
	if (dup_str(p, arg, &op->arg) != 0)
		return -1;
	const char *name = waf_op_name(op->id);
	char what[48];
	bw_snprintf(what, sizeof(what), "@%s", name);

	switch (op->id) {
	case WAF_OP_RX:
	case WAF_OP_RX_GLOBAL:
		op->marg = waf_parse_macro(p, op->arg);
		if (!op->marg)
			return -1;
		/* Macros make the pattern per-transaction (v3 compiles it
		 * at run time); otherwise compile now. */
		if (op->marg->constant) {
			op->re = waf_regex_compile(p, what, op->arg.p,
						   op->arg.len, false);
			if (!op->re)
				return -1;
		}
		return 0;
	case WAF_OP_VERIFY_CC:
	case WAF_OP_VERIFY_CPF:
	case WAF_OP_VERIFY_SSN:
	case WAF_OP_VERIFY_SVNR:
		if (op->arg.len == 0)
			return waf_perr(p, 400, "bad_operator",
					"%s needs a regular expression", what);
		op->re = waf_regex_compile(p, what, op->arg.p, op->arg.len,
					   false);
		return op->re ? 0 : -1;
	case WAF_OP_PM:
		if (split_words(p, op->arg, &op->phrases, &op->nphrases) != 0)
			return -1;
		if (op->nphrases == 0)
			return waf_perr(p, 400, "bad_operator",
					"@pm needs at least one phrase");
		return 0;
	case WAF_OP_PM_FROM_FILE:
		return op_files(p, op, false);
	case WAF_OP_IP_MATCH_FROM_FILE:
		return op_files(p, op, true);
	case WAF_OP_VALIDATE_DTD:
	case WAF_OP_VALIDATE_SCHEMA: {
		if (op->arg.len == 0)
			return waf_perr(p, 400, "bad_operator",
					"%s needs a file name", what);
		op->files = bw_arena_alloc(p->rs->arena, sizeof(*op->files));
		if (!op->files)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		op->files[0] = waf_resolve_path(p, op->arg.p, op->arg.len);
		if (!op->files[0])
			return -1;
		op->nfiles = 1;
		return 0;
	}
	case WAF_OP_IP_MATCH: {
		size_t cap = 0, st = 0;
		for (size_t k = 0; k <= op->arg.len; k++) {
			if (k < op->arg.len && op->arg.p[k] != ',')
				continue;
			struct bw_str one =
				trim(bw_str_make(op->arg.p + st, k - st));
			st = k + 1;
			if (one.len == 0)
				continue;
			if (waf_grow(p->rs->arena, (void **)&op->nets, &cap,
				     op->nnets, sizeof(*op->nets)) != 0)
				return waf_perr(p, 413, "out_of_memory",
						"rule set memory limit "
						"reached");
			if (waf_parse_ipnet(one, &op->nets[op->nnets]) != 0)
				return waf_perr(p, 400, "bad_operator",
						"@ipMatch: invalid address or "
						"network '%.*s'", (int)one.len,
						one.p);
			op->nnets++;
		}
		if (op->nnets == 0)
			return waf_perr(p, 400, "bad_operator",
					"@ipMatch needs an address list");
		return 0;
	}
	case WAF_OP_VALIDATE_BYTE_RANGE:
		if (waf_parse_byte_range(op->arg, op->byte_ok) != 0)
			return waf_perr(p, 400, "bad_operator",
					"@validateByteRange: invalid range "
					"list '%s' (want e.g. 1-255 or "
					"9,10,32-126)", op->arg.p);
		return 0;
	case WAF_OP_EQ:
	case WAF_OP_GE:
	case WAF_OP_GT:
	case WAF_OP_LE:
	case WAF_OP_LT:
		op->marg = waf_parse_macro(p, op->arg);
		if (!op->marg)
			return -1;
		if (op->marg->constant) {
			if (parse_i64(trim(op->arg), &op->num) != 0)
				return waf_perr(p, 400, "bad_operator",
						"%s needs an integer or a "
						"macro, got '%s'", what,
						op->arg.p);
			op->num_const = true;
		}
		return 0;
	case WAF_OP_STREQ:
	case WAF_OP_STRMATCH:
	case WAF_OP_CONTAINS:
	case WAF_OP_CONTAINS_WORD:
	case WAF_OP_BEGINS_WITH:
	case WAF_OP_ENDS_WITH:
	case WAF_OP_WITHIN:
	case WAF_OP_RBL:
		if (op->arg.len == 0 && op->id != WAF_OP_STREQ &&
		    op->id != WAF_OP_WITHIN)
			return waf_perr(p, 400, "bad_operator",
					"%s needs a parameter", what);
		op->marg = waf_parse_macro(p, op->arg);
		return op->marg ? 0 : -1;
	case WAF_OP_VALIDATE_URL_ENCODING:
	case WAF_OP_VALIDATE_UTF8_ENCODING:
	case WAF_OP_DETECT_SQLI:
	case WAF_OP_DETECT_XSS:
	case WAF_OP_UNCONDITIONAL_MATCH:
	case WAF_OP_NO_MATCH:
	case WAF_OP_GEO_LOOKUP:
	case WAF_OP__COUNT:
		return 0; /* no parameter (any given is ignored, as in v3) */
	}
	return 0;
}

/* --------------------------------------------------------------- actions */

void waf_actions_init(struct waf_actions *act)
{
	memset(act, 0, sizeof(*act));
	act->severity = -1;
	act->maturity = -1;
	act->accuracy = -1;
}

int waf_parse_id_ranges(struct waf_parse *p, struct bw_str s,
			struct waf_id_range **out, size_t *n)
{
	size_t cap = 0, i = 0;
	*out = NULL;
	*n = 0;
	while (i < s.len) {
		while (i < s.len && (isspace((unsigned char)s.p[i]) ||
				     s.p[i] == ','))
			i++;
		size_t st = i;
		while (i < s.len && !isspace((unsigned char)s.p[i]) &&
		       s.p[i] != ',')
			i++;
		if (i == st)
			break;
		struct bw_str w = bw_str_make(s.p + st, i - st);
		const char *dash = memchr(w.p, '-', w.len);
		struct waf_id_range r;
		if (dash) {
			if (bw_str_to_u64(bw_str_make(w.p, (size_t)(dash - w.p)),
					  &r.lo) != 0 ||
			    bw_str_to_u64(bw_str_make(dash + 1,
						      w.len - (size_t)(dash - w.p) - 1),
					  &r.hi) != 0 ||
			    r.lo > r.hi)
				return waf_perr(p, 400, "bad_id_range",
						"invalid rule id range '%.*s'",
						(int)w.len, w.p);
		} else if (bw_str_to_u64(w, &r.lo) != 0) {
			return waf_perr(p, 400, "bad_id_range",
					"invalid rule id '%.*s'", (int)w.len,
					w.p);
		} else {
			r.hi = r.lo;
		}
		if (waf_grow(p->rs->arena, (void **)out, &cap, *n,
			     sizeof(**out)) != 0)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		(*out)[(*n)++] = r;
	}
	if (*n == 0)
		return waf_perr(p, 400, "bad_id_range", "no rule id given");
	return 0;
}

static int on_off(struct waf_parse *p, const char *what, struct bw_str v,
		  bool *out)
{
	if (str_ieq(v, "on"))
		*out = true;
	else if (str_ieq(v, "off"))
		*out = false;
	else
		return waf_perr(p, 400, "bad_value",
				"%s: expected On or Off, got '%.*s'", what,
				(int)v.len, v.p);
	return 0;
}

/* TARGET part of ctl:ruleRemoveTarget*: exactly one variable. */
static int one_target(struct waf_parse *p, struct bw_str s,
		      struct waf_target *t)
{
	struct waf_target *arr = NULL;
	size_t n = 0, cap = 0;
	if (waf_parse_targets(p, s, &arr, &n, &cap) != 0)
		return -1;
	if (n != 1 || arr[0].exclude || arr[0].count)
		return waf_perr(p, 400, "bad_ctl",
				"ctl target must be one plain variable, got "
				"'%.*s'", (int)s.len, s.p);
	*t = arr[0];
	return 0;
}

static int parse_ctl(struct waf_parse *p, struct bw_str v, struct waf_ctl *c)
{
	const char *eq = memchr(v.p, '=', v.len);
	if (!eq)
		return waf_perr(p, 400, "bad_ctl",
				"ctl needs option=value, got '%.*s'",
				(int)v.len, v.p);
	struct bw_str name = trim(bw_str_make(v.p, (size_t)(eq - v.p)));
	struct bw_str val = trim(bw_str_make(eq + 1, v.len - (size_t)(eq - v.p) - 1));
	if (dup_str(p, val, &c->raw) != 0)
		return -1;
	val = c->raw;
	if (str_ieq(name, "ruleEngine")) {
		c->kind = WAF_CTL_RULE_ENGINE;
		if (str_ieq(val, "on"))
			c->engine = WAF_ENGINE_ON;
		else if (str_ieq(val, "off"))
			c->engine = WAF_ENGINE_OFF;
		else if (str_ieq(val, "detectiononly"))
			c->engine = WAF_ENGINE_DETECTION_ONLY;
		else
			return waf_perr(p, 400, "bad_ctl",
					"ctl:ruleEngine: expected On, Off or "
					"DetectionOnly, got '%s'", val.p);
		return 0;
	}
	if (str_ieq(name, "ruleRemoveById")) {
		c->kind = WAF_CTL_RULE_REMOVE_BY_ID;
		return waf_parse_id_ranges(p, val, &c->ids, &c->nids);
	}
	if (str_ieq(name, "ruleRemoveByTag") || str_ieq(name, "ruleRemoveByMsg")) {
		c->kind = str_ieq(name, "ruleRemoveByTag")
				  ? WAF_CTL_RULE_REMOVE_BY_TAG
				  : WAF_CTL_RULE_REMOVE_BY_MSG;
		if (val.len == 0)
			return waf_perr(p, 400, "bad_ctl", "ctl:%.*s: empty "
					"value", (int)name.len, name.p);
		c->str = val;
		return 0;
	}
	if (str_ieq(name, "ruleRemoveTargetById") ||
	    str_ieq(name, "ruleRemoveTargetByTag") ||
	    str_ieq(name, "ruleRemoveTargetByMsg")) {
		const char *semi = memchr(val.p, ';', val.len);
		if (!semi || semi == val.p || semi + 1 == val.p + val.len)
			return waf_perr(p, 400, "bad_ctl",
					"ctl:%.*s needs WHICH;TARGET, got "
					"'%s'", (int)name.len, name.p, val.p);
		struct bw_str which = bw_str_make(val.p, (size_t)(semi - val.p));
		struct bw_str tgt = bw_str_make(semi + 1,
						val.len - which.len - 1);
		if (str_ieq(name, "ruleRemoveTargetById")) {
			c->kind = WAF_CTL_RULE_REMOVE_TARGET_BY_ID;
			if (waf_parse_id_ranges(p, which, &c->ids, &c->nids))
				return -1;
		} else {
			c->kind = str_ieq(name, "ruleRemoveTargetByTag")
					  ? WAF_CTL_RULE_REMOVE_TARGET_BY_TAG
					  : WAF_CTL_RULE_REMOVE_TARGET_BY_MSG;
			if (dup_str(p, which, &c->str) != 0)
				return -1;
		}
		return one_target(p, tgt, &c->target);
	}
	if (str_ieq(name, "requestBodyProcessor")) {
		c->kind = WAF_CTL_REQUEST_BODY_PROCESSOR;
		if (str_ieq(val, "URLENCODED"))
			c->body = WAF_BODY_URLENCODED;
		else if (str_ieq(val, "MULTIPART"))
			c->body = WAF_BODY_MULTIPART;
		else if (str_ieq(val, "XML"))
			c->body = WAF_BODY_XML;
		else if (str_ieq(val, "JSON"))
			c->body = WAF_BODY_JSON;
		else
			return waf_perr(p, 400, "bad_ctl",
					"ctl:requestBodyProcessor: unknown "
					"processor '%s'", val.p);
		return 0;
	}
	if (str_ieq(name, "requestBodyAccess")) {
		c->kind = WAF_CTL_REQUEST_BODY_ACCESS;
		return on_off(p, "ctl:requestBodyAccess", val, &c->on);
	}
	if (str_ieq(name, "responseBodyAccess")) {
		c->kind = WAF_CTL_RESPONSE_BODY_ACCESS;
		return on_off(p, "ctl:responseBodyAccess", val, &c->on);
	}
	if (str_ieq(name, "forceRequestBodyVariable")) {
		c->kind = WAF_CTL_FORCE_REQUEST_BODY_VARIABLE;
		return on_off(p, "ctl:forceRequestBodyVariable", val, &c->on);
	}
	if (str_ieq(name, "requestBodyLimit")) {
		c->kind = WAF_CTL_REQUEST_BODY_LIMIT;
		if (bw_str_to_u64(val, &c->number) != 0)
			return waf_perr(p, 400, "bad_ctl",
					"ctl:requestBodyLimit: not a number: "
					"'%s'", val.p);
		return 0;
	}
	if (str_ieq(name, "auditEngine")) {
		c->kind = WAF_CTL_AUDIT_ENGINE;
		if (str_ieq(val, "on"))
			c->audit = WAF_AUDIT_ON;
		else if (str_ieq(val, "off"))
			c->audit = WAF_AUDIT_OFF;
		else if (str_ieq(val, "relevantonly"))
			c->audit = WAF_AUDIT_RELEVANT_ONLY;
		else
			return waf_perr(p, 400, "bad_ctl",
					"ctl:auditEngine: expected On, Off or "
					"RelevantOnly, got '%s'", val.p);
		return 0;
	}
	if (str_ieq(name, "auditLogParts")) {
		c->kind = WAF_CTL_AUDIT_LOG_PARTS;
		size_t k = (val.len && (val.p[0] == '+' || val.p[0] == '-'));
		if (val.len == k)
			return waf_perr(p, 400, "bad_ctl",
					"ctl:auditLogParts: empty part list");
		for (; k < val.len; k++)
			if (!strchr("ABCDEFGHIJKZ", val.p[k]))
				return waf_perr(p, 400, "bad_ctl",
						"ctl:auditLogParts: invalid "
						"part '%c'", val.p[k]);
		c->str = val;
		return 0;
	}
	return waf_perr(p, 400, "bad_ctl", "unknown ctl option '%.*s'",
			(int)name.len, name.p);
}

/* "col.key" with the key a macro; col must be a writable collection. */
static int coll_key(struct waf_parse *p, const char *what, struct bw_str s,
		    struct waf_exec *x, bool need_key)
{
	const char *dot = memchr(s.p, '.', s.len);
	size_t nlen = dot ? (size_t)(dot - s.p) : s.len;
	const struct waf_var_info *vi = waf_var_lookup(s.p, nlen);
	if (!vi || !(vi->flags & WAF_VARF_WRITABLE))
		return waf_perr(p, 400, "bad_collection",
				"%s: '%.*s' is not a writable collection "
				"(TX, IP, GLOBAL, SESSION, USER, RESOURCE)",
				what, (int)nlen, s.p);
	x->col = vi->id;
	if (!need_key)
		return 0;
	if (!dot || nlen + 1 == s.len)
		return waf_perr(p, 400, "bad_collection",
				"%s: missing variable name after '%.*s.'",
				what, (int)nlen, s.p);
	x->key = waf_parse_macro(p, bw_str_make(dot + 1, s.len - nlen - 1));
	return x->key ? 0 : -1;
}

static int push_exec(struct waf_parse *p, struct waf_actions *act,
		     size_t *cap, const struct waf_exec *x)
{
	if (waf_grow(p->rs->arena, (void **)&act->execs, cap, act->nexecs,
		     sizeof(*act->execs)) != 0)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	act->execs[act->nexecs++] = *x;
	return 0;
}

static int parse_u(struct waf_parse *p, const char *what, struct bw_str v,
		   uint64_t max, uint64_t *out)
{
	if (bw_str_to_u64(v, out) != 0 || *out > max)
		return waf_perr(p, 400, "bad_value",
				"%s: expected a number up to %llu, got '%.*s'",
				what, (unsigned long long)max, (int)v.len, v.p);
	return 0;
}

/* One action name[:value]. caps[] carries the growable array capacities. */
static int one_action(struct waf_parse *p, struct bw_str name,
		      struct bw_str v, bool has_v, struct waf_actions *act,
		      size_t caps[4])
{
	struct bw_arena *a = p->rs->arena;
	uint64_t u;
	struct waf_exec x = { 0 };

#define NEED_VALUE()                                                           \
	do {                                                                   \
		if (!has_v || v.len == 0)                                      \
			return waf_perr(p, 400, "missing_value",               \
					"action '%.*s' needs a value",         \
					(int)name.len, name.p);                \
	} while (0)

	if (str_ieq(name, "id")) {
		NEED_VALUE();
		if (bw_str_to_u64(v, &u) != 0 || u == 0)
			return waf_perr(p, 400, "bad_id",
					"id must be a positive integer, got "
					"'%.*s'", (int)v.len, v.p);
		act->id = u;
	} else if (str_ieq(name, "phase")) {
		NEED_VALUE();
		if (str_ieq(v, "request"))
			act->phase = 2;
		else if (str_ieq(v, "response"))
			act->phase = 4;
		else if (str_ieq(v, "logging"))
			act->phase = 5;
		else if (v.len == 1 && v.p[0] >= '1' && v.p[0] <= '5')
			act->phase = v.p[0] - '0';
		else
			return waf_perr(p, 400, "bad_phase",
					"invalid phase '%.*s' (1-5, request, "
					"response or logging)", (int)v.len, v.p);
	} else if (str_ieq(name, "msg") || str_ieq(name, "logdata")) {
		struct waf_macro *m = waf_parse_macro(p, v);
		if (!m)
			return -1;
		if (str_ieq(name, "msg"))
			act->msg = m;
		else
			act->logdata = m;
	} else if (str_ieq(name, "tag")) {
		NEED_VALUE();
		struct waf_macro *m = waf_parse_macro(p, v);
		if (!m)
			return -1;
		if (waf_grow(a, (void **)&act->tags, &caps[1], act->ntags,
			     sizeof(*act->tags)) != 0)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		act->tags[act->ntags++] = m;
	} else if (str_ieq(name, "severity")) {
		NEED_VALUE();
		act->severity = waf_severity_lookup(v.p, v.len);
		if (act->severity < 0)
			return waf_perr(p, 400, "bad_severity",
					"invalid severity '%.*s' (0-7 or "
					"EMERGENCY..DEBUG)", (int)v.len, v.p);
	} else if (str_ieq(name, "rev") || str_ieq(name, "ver")) {
		char *s = waf_strndup(p, v.p, v.len);
		if (!s)
			return -1;
		if (str_ieq(name, "rev"))
			act->rev = s;
		else
			act->ver = s;
	} else if (str_ieq(name, "maturity") || str_ieq(name, "accuracy")) {
		NEED_VALUE();
		if (parse_u(p, "maturity/accuracy", v, 9, &u) != 0)
			return -1;
		if (str_ieq(name, "maturity"))
			act->maturity = (int)u;
		else
			act->accuracy = (int)u;
	} else if (str_ieq(name, "t")) {
		NEED_VALUE();
		enum waf_tfn t;
		if (waf_tfn_lookup(v.p, v.len, &t) != 0)
			return waf_perr(p, 400, "unknown_transformation",
					"unknown transformation 't:%.*s'",
					(int)v.len, v.p);
		if (t == WAF_T_NONE) {
			act->tfn_none = true;
			act->ntfns = 0; /* t:none drops what came before */
		} else {
			if (waf_grow(a, (void **)&act->tfns, &caps[2],
				     act->ntfns, sizeof(*act->tfns)) != 0)
				return waf_perr(p, 413, "out_of_memory",
						"rule set memory limit "
						"reached");
			act->tfns[act->ntfns++] = t;
		}
	} else if (str_ieq(name, "chain")) {
		act->chain = true;
	} else if (str_ieq(name, "capture")) {
		act->capture = true;
	} else if (str_ieq(name, "multiMatch")) {
		act->multi_match = true;
	} else if (str_ieq(name, "log")) {
		act->log = WAF_FLAG_YES;
		act->save = WAF_FLAG_YES;
	} else if (str_ieq(name, "nolog")) {
		act->log = WAF_FLAG_NO;
		act->save = WAF_FLAG_NO;
	} else if (str_ieq(name, "auditlog")) {
		act->auditlog = WAF_FLAG_YES;
	} else if (str_ieq(name, "noauditlog")) {
		act->auditlog = WAF_FLAG_NO;
		act->save = WAF_FLAG_NO; /* v3: noauditlog also drops the message */
	} else if (str_ieq(name, "pass")) {
		act->disruptive = WAF_DIS_PASS;
	} else if (str_ieq(name, "block")) {
		act->disruptive = WAF_DIS_BLOCK;
	} else if (str_ieq(name, "deny")) {
		act->disruptive = WAF_DIS_DENY;
	} else if (str_ieq(name, "drop")) {
		act->disruptive = WAF_DIS_DROP;
	} else if (str_ieq(name, "allow")) {
		act->disruptive = WAF_DIS_ALLOW;
		if (!has_v || v.len == 0)
			act->allow_scope = WAF_ALLOW_ALL;
		else if (str_ieq(v, "phase"))
			act->allow_scope = WAF_ALLOW_PHASE;
		else if (str_ieq(v, "request"))
			act->allow_scope = WAF_ALLOW_REQUEST;
		else
			return waf_perr(p, 400, "bad_value",
					"allow: expected 'phase' or 'request', "
					"got '%.*s'", (int)v.len, v.p);
	} else if (str_ieq(name, "redirect")) {
		NEED_VALUE();
		act->disruptive = WAF_DIS_REDIRECT;
		act->redirect = waf_parse_macro(p, v);
		if (!act->redirect)
			return -1;
	} else if (str_ieq(name, "status")) {
		NEED_VALUE();
		if (bw_str_to_u64(v, &u) != 0 || u < 100 || u > 599)
			return waf_perr(p, 400, "bad_status",
					"status must be 100-599, got '%.*s'",
					(int)v.len, v.p);
		act->status = (int)u;
	} else if (str_ieq(name, "skip")) {
		NEED_VALUE();
		if (bw_str_to_u64(v, &u) != 0 || u == 0 || u > 100000)
			return waf_perr(p, 400, "bad_value",
					"skip needs a positive count, got "
					"'%.*s'", (int)v.len, v.p);
		act->skip = (unsigned)u;
	} else if (str_ieq(name, "skipAfter")) {
		NEED_VALUE();
		act->skip_after = waf_strndup(p, v.p, v.len);
		if (!act->skip_after)
			return -1;
	} else if (str_ieq(name, "setvar")) {
		NEED_VALUE();
		x.kind = WAF_EXEC_SETVAR;
		struct bw_str lhs = v, rhs = { "", 0 };
		if (v.p[0] == '!') {
			x.op = WAF_SETVAR_DELETE;
			lhs = bw_str_make(v.p + 1, v.len - 1);
		} else {
			const char *eq = memchr(v.p, '=', v.len);
			if (!eq) {
				x.op = WAF_SETVAR_SET_ONE;
			} else {
				lhs = bw_str_make(v.p, (size_t)(eq - v.p));
				rhs = bw_str_make(eq + 1,
						  v.len - lhs.len - 1);
				x.op = WAF_SETVAR_SET;
				if (rhs.len && rhs.p[0] == '+') {
					x.op = WAF_SETVAR_ADD;
					rhs.p++;
					rhs.len--;
				} else if (rhs.len && rhs.p[0] == '-') {
					x.op = WAF_SETVAR_SUB;
					rhs.p++;
					rhs.len--;
				}
				if (x.op != WAF_SETVAR_SET && rhs.len == 0)
					return waf_perr(p, 400, "bad_setvar",
							"setvar '%.*s': missing "
							"number after =+/=-",
							(int)v.len, v.p);
			}
		}
		if (coll_key(p, "setvar", trim(lhs), &x, true) != 0)
			return -1;
		x.value = waf_parse_macro(p, rhs);
		if (!x.value || push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "expirevar")) {
		NEED_VALUE();
		x.kind = WAF_EXEC_EXPIREVAR;
		const char *eq = memchr(v.p, '=', v.len);
		if (!eq)
			return waf_perr(p, 400, "bad_expirevar",
					"expirevar needs col.name=seconds, got "
					"'%.*s'", (int)v.len, v.p);
		struct bw_str lhs = bw_str_make(v.p, (size_t)(eq - v.p));
		if (coll_key(p, "expirevar", lhs, &x, true) != 0)
			return -1;
		x.value = waf_parse_macro(p, bw_str_make(eq + 1,
							 v.len - lhs.len - 1));
		if (!x.value || push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "initcol")) {
		NEED_VALUE();
		x.kind = WAF_EXEC_INITCOL;
		const char *eq = memchr(v.p, '=', v.len);
		if (!eq)
			return waf_perr(p, 400, "bad_initcol",
					"initcol needs collection=key, got "
					"'%.*s'", (int)v.len, v.p);
		struct bw_str lhs = bw_str_make(v.p, (size_t)(eq - v.p));
		if (coll_key(p, "initcol", lhs, &x, false) != 0)
			return -1;
		if (x.col == WAF_VAR_TX)
			return waf_perr(p, 400, "bad_initcol",
					"initcol: TX is not a persistent "
					"collection");
		x.value = waf_parse_macro(p, bw_str_make(eq + 1,
							 v.len - lhs.len - 1));
		if (!x.value || push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "setuid") || str_ieq(name, "setsid") ||
		   str_ieq(name, "setrsc") || str_ieq(name, "setenv")) {
		NEED_VALUE();
		x.kind = str_ieq(name, "setuid")   ? WAF_EXEC_SETUID
			 : str_ieq(name, "setsid") ? WAF_EXEC_SETSID
			 : str_ieq(name, "setrsc") ? WAF_EXEC_SETRSC
						   : WAF_EXEC_SETENV;
		if (x.kind == WAF_EXEC_SETENV && !memchr(v.p, '=', v.len))
			return waf_perr(p, 400, "bad_setenv",
					"setenv needs name=value");
		x.value = waf_parse_macro(p, v);
		if (!x.value || push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "ctl")) {
		NEED_VALUE();
		x.kind = WAF_EXEC_CTL;
		x.ctl = bw_arena_zalloc(a, sizeof(*x.ctl));
		if (!x.ctl)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		if (parse_ctl(p, v, x.ctl) != 0 ||
		    push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "sanitiseArg") ||
		   str_ieq(name, "sanitizeArg") ||
		   str_ieq(name, "sanitiseRequestHeader") ||
		   str_ieq(name, "sanitizeRequestHeader") ||
		   str_ieq(name, "sanitiseResponseHeader") ||
		   str_ieq(name, "sanitizeResponseHeader")) {
		NEED_VALUE();
		/* "saniti[sz]e" is 8 bytes; what follows names the kind */
		struct bw_str kind = bw_str_make(name.p + 8, name.len - 8);
		x.kind = str_ieq(kind, "Arg") ? WAF_EXEC_SANITISE_ARG
			 : str_ieq(kind, "RequestHeader")
				 ? WAF_EXEC_SANITISE_REQUEST_HEADER
				 : WAF_EXEC_SANITISE_RESPONSE_HEADER;
		x.value = waf_parse_macro(p, v);
		if (!x.value || push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "sanitiseMatched") ||
		   str_ieq(name, "sanitizeMatched")) {
		x.kind = WAF_EXEC_SANITISE_MATCHED;
		x.value = waf_parse_macro(p, bw_str_make("", 0));
		if (!x.value || push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "sanitiseMatchedBytes") ||
		   str_ieq(name, "sanitizeMatchedBytes")) {
		x.kind = WAF_EXEC_SANITISE_MATCHED_BYTES;
		x.value = waf_parse_macro(p, has_v ? v : bw_str_make("", 0));
		if (!x.value || push_exec(p, act, &caps[0], &x) != 0)
			return -1;
	} else if (str_ieq(name, "xmlns")) {
		NEED_VALUE();
		if (!memchr(v.p, '=', v.len))
			return waf_perr(p, 400, "bad_xmlns",
					"xmlns needs prefix=uri");
		if (waf_grow(a, (void **)&act->xmlns, &caps[3], act->nxmlns,
			     sizeof(*act->xmlns)) != 0 ||
		    dup_str(p, v, &act->xmlns[act->nxmlns]) != 0)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
		act->nxmlns++;
	} else if (str_ieq(name, "exec")) {
		return waf_perr(p, 400, "refused_action",
				"action 'exec' is refused: bulwark never "
				"executes external programs or scripts");
	} else if (str_ieq(name, "proxy") || str_ieq(name, "pause") ||
		   str_ieq(name, "append") || str_ieq(name, "prepend") ||
		   str_ieq(name, "deprecatevar")) {
		return waf_perr(p, 400, "unsupported_action",
				"action '%.*s' is not supported",
				(int)name.len, name.p);
	} else {
		return waf_perr(p, 400, "unknown_action",
				"unknown action '%.*s'", (int)name.len, name.p);
	}
	return 0;
#undef NEED_VALUE
}

/*
 * ACTIONS: name[:value] separated by commas, whitespace around each
 * ignored. A value is either 'single-quoted' (\' inside is a quote, other
 * backslashes are kept) or runs to the next comma.
 */
int waf_parse_actions(struct waf_parse *p, struct bw_str s,
		      struct waf_actions *act)
{
	size_t i = 0, count = 0;
	size_t caps[4] = { 0, 0, 0, 0 };
	char *vbuf = NULL;
	while (i < s.len) {
		while (i < s.len && (isspace((unsigned char)s.p[i]) ||
				     s.p[i] == ','))
			i++;
		if (i >= s.len)
			break;
		size_t ns = i;
		while (i < s.len && is_name_char(s.p[i]))
			i++;
		struct bw_str name = bw_str_make(s.p + ns, i - ns);
		if (name.len == 0)
			return waf_perr(p, 400, "bad_action",
					"expected an action name at '%.*s'",
					(int)(s.len - ns > 40 ? 40 : s.len - ns),
					s.p + ns);
		while (i < s.len && isspace((unsigned char)s.p[i]))
			i++;
		struct bw_str v = { "", 0 };
		bool has_v = false;
		if (i < s.len && s.p[i] == ':') {
			has_v = true;
			i++;
			while (i < s.len && isspace((unsigned char)s.p[i]))
				i++;
			if (i < s.len && s.p[i] == '\'') {
				i++;
				size_t vs = i, out = 0;
				if (!vbuf) {
					vbuf = bw_arena_alloc(p->rs->arena,
							      s.len + 1);
					if (!vbuf)
						return waf_perr(p, 413,
								"out_of_memory",
								"rule set "
								"memory limit "
								"reached");
				}
				while (i < s.len && s.p[i] != '\'') {
					if (s.p[i] == '\\' && i + 1 < s.len &&
					    s.p[i + 1] == '\'')
						i++;
					vbuf[out++] = s.p[i++];
				}
				if (i >= s.len)
					return waf_perr(p, 400, "bad_action",
							"unterminated quote in "
							"value of '%.*s' "
							"(started '%.*s')",
							(int)name.len, name.p,
							(int)(s.len - vs > 30
								      ? 30
								      : s.len - vs),
							s.p + vs);
				i++;
				v = bw_str_make(vbuf, out);
				while (i < s.len &&
				       isspace((unsigned char)s.p[i]))
					i++;
				if (i < s.len && s.p[i] != ',')
					return waf_perr(p, 400, "bad_action",
							"unexpected text after "
							"quoted value of '%.*s'",
							(int)name.len, name.p);
			} else {
				size_t vs = i;
				while (i < s.len && s.p[i] != ',')
					i++;
				v = trim(bw_str_make(s.p + vs, i - vs));
			}
		} else if (i < s.len && s.p[i] != ',') {
			return waf_perr(p, 400, "bad_action",
					"expected ',' or ':' after action "
					"'%.*s'", (int)name.len, name.p);
		}
		if (++count > WAF_ACTIONS_MAX)
			return waf_perr(p, 400, "too_many_actions",
					"more than %d actions in one rule",
					WAF_ACTIONS_MAX);
		if (one_action(p, name, v, has_v, act, caps) != 0)
			return -1;
	}
	return 0;
}
