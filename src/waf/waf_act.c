/*
 * waf_act.c — the non-disruptive actions a matching rule runs, and the
 * per-transaction rule exclusions they create.
 *
 * Ordering follows ModSecurity v3 (3.0.x): setvar actions run once for
 * every matched value of the link that carries them, as soon as that
 * value matched and whether or not the rest of the chain matches later;
 * every other action (ctl, initcol, setuid, setsid, setenv, ...) runs
 * once, after the whole chain matched, innermost link first.
 *
 * Exclusions made by ctl apply to rules evaluated afterwards in the same
 * transaction. As in v3, ruleRemoveTargetById/ByTag/ByMsg apply to the
 * chain starter's own targets (chain links carry no id or tags).
 */
#include "waf/waf_int.h"

#include <string.h>
#include <strings.h>

static int grow(struct waf_tx *tx, void **arr, size_t *cap, size_t n,
		size_t el)
{
	if (waf_grow(tx->arena, arr, cap, n, el) != 0) {
		tx->oom = true;
		return -1;
	}
	return 0;
}

static bool persistent(enum waf_var_id c)
{
	return c == WAF_VAR_IP || c == WAF_VAR_SESSION || c == WAF_VAR_USER ||
	       c == WAF_VAR_GLOBAL || c == WAF_VAR_RESOURCE;
}

static int do_setvar(struct waf_tx *tx, const struct waf_exec *x)
{
	struct bw_str key, val;
	char tmp[24];
	if (waf_macro_expand(tx, x->key, &key) != 0)
		return -1;
	if (key.len == 0)
		return 0;
	/* a constant key (the CRS's are) was hashed at load */
	uint32_t h = x->key && x->key->constant && x->key->raw_hash
			     ? x->key->raw_hash
			     : waf_key_hash(key);
	switch (x->op) {
	case WAF_SETVAR_DELETE:
		waf_col_del(tx, x->col, key);
		if (persistent(x->col))
			waf_persist_set(tx, x->col, key, NULL, 0);
		return 0;
	case WAF_SETVAR_SET_ONE:
		val = BW_STR("1");
		break;
	case WAF_SETVAR_SET:
		if (waf_macro_expand(tx, x->value, &val) != 0)
			return -1;
		break;
	case WAF_SETVAR_ADD:
	case WAF_SETVAR_SUB: {
		if (waf_macro_expand(tx, x->value, &val) != 0)
			return -1;
		const struct waf_kv *cur = waf_col_get_h(tx, x->col, key, h);
		int64_t a = cur ? waf_atoi(cur->val) : 0, b = waf_atoi(val), r;
		if (x->op == WAF_SETVAR_ADD ? __builtin_add_overflow(a, b, &r)
					    : __builtin_sub_overflow(a, b, &r))
			r = a; /* saturate by not changing */
		val = bw_str_make(tmp, waf_i64_str(r, tmp));
		break;
	}
	default:
		return 0;
	}
	if (waf_col_set_h(tx, x->col, key, h, val) != 0)
		return -1;
	if (persistent(x->col))
		waf_persist_set(tx, x->col, key, &val, 0);
	return 0;
}

int waf_act_setvars(struct waf_tx *tx, const struct waf_rule *link)
{
	for (size_t i = 0; i < link->eff.nexecs; i++) {
		const struct waf_exec *x = &link->eff.execs[i];
		if (x->kind == WAF_EXEC_SETVAR && do_setvar(tx, x) != 0)
			return -1;
	}
	return 0;
}

static int do_ctl(struct waf_tx *tx, const struct waf_ctl *c)
{
	switch (c->kind) {
	case WAF_CTL_RULE_ENGINE:
		tx->engine = c->engine;
		return 0;
	case WAF_CTL_RULE_REMOVE_BY_ID:
		for (size_t i = 0; i < c->nids; i++) {
			if (grow(tx, (void **)&tx->rm_ids, &tx->cap_rm_ids,
				 tx->n_rm_ids, sizeof(*tx->rm_ids)) != 0)
				return -1;
			tx->rm_ids[tx->n_rm_ids++] = c->ids[i];
		}
		return 0;
	case WAF_CTL_RULE_REMOVE_BY_TAG:
		if (grow(tx, (void **)&tx->rm_tags, &tx->cap_rm_tags,
			 tx->n_rm_tags, sizeof(*tx->rm_tags)) != 0)
			return -1;
		tx->rm_tags[tx->n_rm_tags++] = c->str;
		return 0;
	case WAF_CTL_RULE_REMOVE_BY_MSG:
		if (grow(tx, (void **)&tx->rm_msgs, &tx->cap_rm_msgs,
			 tx->n_rm_msgs, sizeof(*tx->rm_msgs)) != 0)
			return -1;
		tx->rm_msgs[tx->n_rm_msgs++] = c->str;
		return 0;
	case WAF_CTL_RULE_REMOVE_TARGET_BY_ID:
	case WAF_CTL_RULE_REMOVE_TARGET_BY_TAG:
	case WAF_CTL_RULE_REMOVE_TARGET_BY_MSG:
		if (grow(tx, (void **)&tx->rm_tgts, &tx->cap_rm_tgts,
			 tx->n_rm_tgts, sizeof(*tx->rm_tgts)) != 0)
			return -1;
		tx->rm_tgts[tx->n_rm_tgts++] =
			(struct waf_rm_target){ c->kind, c };
		return 0;
	case WAF_CTL_REQUEST_BODY_PROCESSOR:
		tx->body_ctl_set = true;
		switch (c->body) {
		case WAF_BODY_URLENCODED:
			tx->body_ctl = WAF_BODYK_URLENCODED;
			break;
		case WAF_BODY_MULTIPART:
			tx->body_ctl = WAF_BODYK_MULTIPART;
			break;
		case WAF_BODY_XML:
			tx->body_ctl = WAF_BODYK_XML;
			break;
		case WAF_BODY_JSON:
			tx->body_ctl = WAF_BODYK_JSON;
			break;
		}
		return 0;
	case WAF_CTL_REQUEST_BODY_ACCESS:
		tx->reqbody_access = c->on;
		return 0;
	case WAF_CTL_REQUEST_BODY_LIMIT:
		tx->reqbody_limit = c->number;
		return 0;
	case WAF_CTL_RESPONSE_BODY_ACCESS:
		tx->resbody_access = c->on;
		return 0;
	case WAF_CTL_FORCE_REQUEST_BODY_VARIABLE:
		tx->force_reqbody_var = c->on;
		return 0;
	case WAF_CTL_AUDIT_ENGINE:
		tx->audit_engine = c->audit;
		return 0;
	case WAF_CTL_AUDIT_LOG_PARTS:
		tx->audit_parts = c->str.p;
		return 0;
	}
	return 0;
}

/* initcol/setuid/setsid/setrsc: remember the collection's key and load
 * its stored record (waf_persist.c); later setvars write through. */
static int init_col(struct waf_tx *tx, enum waf_var_id col,
		    const struct waf_macro *m)
{
	struct bw_str k;
	if (waf_macro_expand(tx, m, &k) != 0)
		return -1;
	if (!persistent(col))
		return 0;
	tx->initcol_key[col] = k;
	return waf_persist_load(tx, col, k);
}

static int expire_var(struct waf_tx *tx, const struct waf_exec *x)
{
	struct bw_str key, secs;
	if (waf_macro_expand(tx, x->key, &key) != 0 ||
	    waf_macro_expand(tx, x->value, &secs) != 0)
		return -1;
	int64_t s = waf_atoi(secs);
	if (persistent(x->col) && key.len && s > 0)
		waf_persist_set(tx, x->col, key, NULL, s);
	return 0;
}

int waf_act_after_match(struct waf_tx *tx, const struct waf_rule *link)
{
	struct bw_str v;
	for (size_t i = 0; i < link->eff.nexecs; i++) {
		const struct waf_exec *x = &link->eff.execs[i];
		int rc = 0;
		switch (x->kind) {
		case WAF_EXEC_SETVAR:
			break; /* ran per matched value */
		case WAF_EXEC_CTL:
			rc = do_ctl(tx, x->ctl);
			break;
		case WAF_EXEC_INITCOL:
			rc = init_col(tx, x->col, x->value);
			break;
		case WAF_EXEC_SETUID:
			rc = waf_macro_expand(tx, x->value, &v);
			if (!rc)
				rc = waf_scal_set(tx, WAF_VAR_USERID, v.p, v.len);
			if (!rc)
				rc = init_col(tx, WAF_VAR_USER, x->value);
			break;
		case WAF_EXEC_SETSID:
			rc = waf_macro_expand(tx, x->value, &v);
			if (!rc)
				rc = waf_scal_set(tx, WAF_VAR_SESSIONID, v.p, v.len);
			if (!rc)
				rc = init_col(tx, WAF_VAR_SESSION, x->value);
			break;
		case WAF_EXEC_SETRSC:
			rc = init_col(tx, WAF_VAR_RESOURCE, x->value);
			break;
		case WAF_EXEC_SETENV: {
			rc = waf_macro_expand(tx, x->value, &v);
			if (rc)
				break;
			const char *eq = memchr(v.p, '=', v.len);
			size_t kl = eq ? (size_t)(eq - v.p) : v.len;
			rc = waf_col_add(tx, WAF_VAR_ENV, v.p, kl,
					 eq ? eq + 1 : "",
					 eq ? v.len - kl - 1 : 0);
			break;
		}
		case WAF_EXEC_EXPIREVAR:
			rc = expire_var(tx, x);
			break;
		case WAF_EXEC_SANITISE_ARG:
		case WAF_EXEC_SANITISE_MATCHED:
		case WAF_EXEC_SANITISE_MATCHED_BYTES:
		case WAF_EXEC_SANITISE_REQUEST_HEADER:
		case WAF_EXEC_SANITISE_RESPONSE_HEADER:
			/* the audit writer never logs bodies unless asked,
			 * so sanitise* has nothing to mask (WAF-ENGINE.md) */
			break;
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ----------------------------------------------------------- exclusions */

static bool id_in(uint64_t id, const struct waf_id_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (id >= r[i].lo && id <= r[i].hi)
			return true;
	return false;
}

static bool has_tag(struct waf_tx *tx, const struct waf_rule *r,
		    struct bw_str tag)
{
	for (size_t i = 0; i < r->eff.ntags; i++) {
		struct bw_str t;
		if (waf_macro_expand(tx, r->eff.tags[i], &t) != 0)
			return false;
		if (bw_str_eq(t, tag))
			return true;
	}
	return false;
}

static bool has_msg(struct waf_tx *tx, const struct waf_rule *r,
		    struct bw_str msg)
{
	struct bw_str m;
	if (!r->eff.msg || waf_macro_expand(tx, r->eff.msg, &m) != 0)
		return false;
	return bw_str_eq(m, msg);
}

bool waf_rule_removed(struct waf_tx *tx, const struct waf_rule *r)
{
	if (tx->n_rm_ids && id_in(r->act.id, tx->rm_ids, tx->n_rm_ids))
		return true;
	for (size_t i = 0; i < tx->n_rm_tags; i++)
		if (has_tag(tx, r, tx->rm_tags[i]))
			return true;
	for (size_t i = 0; i < tx->n_rm_msgs; i++)
		if (has_msg(tx, r, tx->rm_msgs[i]))
			return true;
	return false;
}

bool waf_target_removed(struct waf_tx *tx, const struct waf_rule *r,
			enum waf_var_id col, struct bw_str key)
{
	if (!tx->n_rm_tgts || r != r->chain_start)
		return false;
	for (size_t i = 0; i < tx->n_rm_tgts; i++) {
		const struct waf_ctl *c = tx->rm_tgts[i].ctl;
		const struct waf_target *t = &c->target;
		if (t->var != col)
			continue;
		bool hit;
		if (t->sel_kind == WAF_SEL_NONE)
			hit = key.p == NULL;
		else if (!key.p)
			hit = false;
		else if (t->sel_kind == WAF_SEL_REGEX)
			hit = pcre2_match(t->sel_re, (PCRE2_SPTR)key.p, key.len,
					  0, 0, waf_match_data(), NULL) >= 0;
		else
			hit = key.len == t->sel.len &&
			      strncasecmp(key.p, t->sel.p, key.len) == 0;
		if (!hit)
			continue;
		switch (c->kind) {
		case WAF_CTL_RULE_REMOVE_TARGET_BY_ID:
			if (id_in(r->act.id, c->ids, c->nids))
				return true;
			break;
		case WAF_CTL_RULE_REMOVE_TARGET_BY_TAG:
			if (has_tag(tx, r, c->str))
				return true;
			break;
		default:
			if (has_msg(tx, r, c->str))
				return true;
			break;
		}
	}
	return false;
}
