/*
 * pki_policy.c — a tenant's issuance policy: parsing the JSON document
 * (strictly: unknown keys and malformed entries are refused, so a typo
 * cannot silently widen or narrow what may be issued) and checking a
 * request against it.
 *
 * Invariants: an empty policy allows no name; every allowed name matches
 * an entry by the rules in pki.h; wildcard certificates need
 * allow_wildcards; a policy list never exceeds PKI_POLICY_LIST_MAX.
 */
#include "pki/pki_int.h"

#include <string.h>

#include "json/json.h"

void pki_policy_fini(struct pki_policy *pol)
{
	for (size_t i = 0; i < pol->ndns; i++)
		free(pol->dns[i]);
	for (size_t i = 0; i < pol->nuri; i++)
		free(pol->uri[i]);
	for (size_t i = 0; i < pol->ncn; i++)
		free(pol->cn[i]);
	memset(pol, 0, sizeof(*pol));
}

static int str_list(const struct json_value *v, const char *key,
		    const struct json_value ***items, size_t *n,
		    struct bw_err *err)
{
	if (v->type != JSON_ARRAY)
		return bw_err_set(err, 400, PKI_MOD, "bad_policy",
				  "\"%s\" must be an array of strings", key);
	if (v->u.arr.n > PKI_POLICY_LIST_MAX)
		return bw_err_set(err, 400, PKI_MOD, "bad_policy",
				  "\"%s\" has more than %d entries", key,
				  PKI_POLICY_LIST_MAX);
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct json_value *e = v->u.arr.items[i];
		if (e->type != JSON_STRING || e->u.str.len == 0 ||
		    memchr(e->u.str.p, '\0', e->u.str.len))
			return bw_err_set(err, 400, PKI_MOD, "bad_policy",
					  "\"%s\"[%zu] must be a non-empty string",
					  key, i);
	}
	*items = (const struct json_value **)v->u.arr.items;
	*n = v->u.arr.n;
	return 0;
}

static int dup_into(char **slot, const struct bw_str s, struct bw_err *err)
{
	*slot = malloc(s.len + 1);
	if (!*slot)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	for (size_t i = 0; i < s.len; i++)
		(*slot)[i] = s.p[i] >= 'A' && s.p[i] <= 'Z' ? (char)(s.p[i] + 32) : s.p[i];
	(*slot)[s.len] = '\0';
	return 0;
}

static int parse_dns(struct pki_policy *pol, const struct json_value *v,
		     struct bw_err *err)
{
	const struct json_value **it;
	size_t n;
	if (str_list(v, "dns", &it, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct bw_str s = it[i]->u.str;
		size_t off = 0;
		if (s.len > 2 && s.p[0] == '*' && s.p[1] == '.')
			off = 2;
		else if (s.len > 1 && s.p[0] == '.')
			off = 1;
		struct bw_err e2;
		if (pki_dns_check(s.p + off, s.len - off, false, &e2) < 0)
			return bw_err_set(err, 400, PKI_MOD, "bad_policy",
					  "\"dns\"[%zu]: %s", i, e2.msg);
		/* A subtree pattern over a single label (".com", "*.com")
		 * would hand out names the tenant does not own. */
		if (off && !memchr(s.p + off, '.', s.len - off))
			return bw_err_set(err, 400, PKI_MOD, "bad_policy",
					  "\"dns\"[%zu]: a subdomain pattern needs a "
					  "domain of two labels or more", i);
		if (dup_into(&pol->dns[pol->ndns], s, err) < 0)
			return -1;
		pol->ndns++;
	}
	return 0;
}

static int parse_ip(struct pki_policy *pol, const struct json_value *v,
		    struct bw_err *err)
{
	const struct json_value **it;
	size_t n;
	if (str_list(v, "ip", &it, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		struct bw_str s = it[i]->u.str;
		if (s.len >= sizeof(buf))
			return bw_err_set(err, 400, PKI_MOD, "bad_policy",
					  "\"ip\"[%zu] is too long", i);
		memcpy(buf, s.p, s.len);
		buf[s.len] = '\0';
		if (pki_cidr_parse(buf, pol->ip[pol->nip].addr, &pol->ip[pol->nip].alen,
				   &pol->ip[pol->nip].prefix) < 0)
			return bw_err_set(err, 400, PKI_MOD, "bad_policy",
					  "\"ip\"[%zu] is not an address or CIDR range", i);
		pol->nip++;
	}
	return 0;
}

static int parse_strs(char **dst, size_t *dn, const char *key,
		      const struct json_value *v, size_t maxlen,
		      struct bw_err *err)
{
	const struct json_value **it;
	size_t n;
	if (str_list(v, key, &it, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct bw_str s = it[i]->u.str;
		if (s.len > maxlen)
			return bw_err_set(err, 400, PKI_MOD, "bad_policy",
					  "\"%s\"[%zu] is too long", key, i);
		dst[*dn] = malloc(s.len + 1);
		if (!dst[*dn])
			return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		memcpy(dst[*dn], s.p, s.len);
		dst[*dn][s.len] = '\0';
		(*dn)++;
	}
	return 0;
}

static int parse_enum_list(const struct json_value *v, const char *key,
			   bool keys, unsigned *bits, struct bw_err *err)
{
	const struct json_value **it;
	size_t n;
	if (str_list(v, key, &it, &n, err) < 0)
		return -1;
	*bits = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = it[i]->u.str.p;
		int e = keys ? (int)pki_key_type_from_name(s) :
			       (int)pki_profile_from_name(s);
		if (e == 0 || (!keys && (e == PKI_PROFILE_SUB_CA || e == PKI_PROFILE_OCSP)))
			return bw_err_set(err, 400, PKI_MOD, "bad_policy",
					  "\"%s\"[%zu]: unknown value \"%.40s\"",
					  key, i, s);
		*bits |= 1u << e;
	}
	return 0;
}

int pki_policy_parse(const char *json, size_t len, struct pki_policy *out,
		     struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	out->key_types = ~0u & ~1u;
	out->profiles = PKI_PROFILE_BIT(PKI_PROFILE_TLS_SERVER) |
			PKI_PROFILE_BIT(PKI_PROFILE_TLS_CLIENT) |
			PKI_PROFILE_BIT(PKI_PROFILE_CODE_SIGNING) |
			PKI_PROFILE_BIT(PKI_PROFILE_SERVICE);
	out->max_validity_s = PKI_LEAF_VALIDITY_MAX_S;
	if (len > PKI_POLICY_JSON_MAX)
		return bw_err_set(err, 413, PKI_MOD, "too_large",
				  "policy of %zu bytes (at most %zu)", len,
				  PKI_POLICY_JSON_MAX);
	struct bw_arena *a = bw_arena_new(8192, 4 * PKI_POLICY_JSON_MAX);
	if (!a)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	struct json_limits lim = { .max_bytes = PKI_POLICY_JSON_MAX, .max_depth = 4,
				   .max_string = PKI_URI_MAX,
				   .max_members = PKI_POLICY_LIST_MAX };
	int rc = -1;
	const struct json_value *doc = json_parse(a, json, len, &lim, err);
	if (!doc)
		goto out;
	if (doc->type != JSON_OBJECT) {
		bw_err_set(err, 400, PKI_MOD, "bad_policy", "policy must be an object");
		goto out;
	}
	for (size_t i = 0; i < doc->u.obj.n; i++) {
		const struct json_member *m = &doc->u.obj.members[i];
		const struct json_value *v = m->value;
		struct bw_str k = m->key;
		int r;
		if (bw_str_eq_lit(k, "dns")) {
			r = parse_dns(out, v, err);
		} else if (bw_str_eq_lit(k, "ip")) {
			r = parse_ip(out, v, err);
		} else if (bw_str_eq_lit(k, "uri")) {
			r = parse_strs(out->uri, &out->nuri, "uri", v, PKI_URI_MAX, err);
		} else if (bw_str_eq_lit(k, "cn")) {
			r = parse_strs(out->cn, &out->ncn, "cn", v, PKI_CN_MAX, err);
		} else if (bw_str_eq_lit(k, "allow_wildcards")) {
			r = v->type == JSON_TRUE || v->type == JSON_FALSE ? 0 :
			    bw_err_set(err, 400, PKI_MOD, "bad_policy",
				       "\"allow_wildcards\" must be a boolean");
			out->allow_wildcards = v->type == JSON_TRUE;
		} else if (bw_str_eq_lit(k, "key_types")) {
			r = parse_enum_list(v, "key_types", true, &out->key_types, err);
		} else if (bw_str_eq_lit(k, "profiles")) {
			r = parse_enum_list(v, "profiles", false, &out->profiles, err);
		} else if (bw_str_eq_lit(k, "max_validity_s")) {
			if (v->type != JSON_NUMBER || !v->u.num.is_int ||
			    v->u.num.i < 60 || v->u.num.i > PKI_LEAF_VALIDITY_MAX_S)
				r = bw_err_set(err, 400, PKI_MOD, "bad_policy",
					       "\"max_validity_s\" must be an integer "
					       "from 60 to %lld",
					       (long long)PKI_LEAF_VALIDITY_MAX_S);
			else
				out->max_validity_s = v->u.num.i, r = 0;
		} else {
			r = bw_err_set(err, 400, PKI_MOD, "bad_policy",
				       "unknown policy key \"%.40s\"", k.p);
		}
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	bw_arena_free(a);
	if (rc < 0)
		pki_policy_fini(out);
	return rc;
}

/* Does name n match policy entry pat (see pki.h)? */
static bool dns_match(const char *pat, const char *n, bool wildcards)
{
	bool wild = n[0] == '*' && n[1] == '.';
	if (wild && !wildcards)
		return false;
	size_t nl = strlen(n), pl = strlen(pat);
	if (pat[0] == '*' && pat[1] == '.') {
		if (wild)
			return strcmp(n, pat) == 0;
		const char *suffix = pat + 1; /* ".example.com" */
		size_t sl = pl - 1;
		if (nl <= sl || strcmp(n + nl - sl, suffix) != 0)
			return false;
		/* exactly one label before the suffix */
		return memchr(n, '.', nl - sl) == NULL;
	}
	if (pat[0] == '.')
		return nl > pl && strcmp(n + nl - pl, pat) == 0;
	return !wild && strcmp(n, pat) == 0;
}

static bool ip_match(const struct pki_policy *pol, const struct pki_name *nm)
{
	for (size_t i = 0; i < pol->nip; i++) {
		if (pol->ip[i].alen != nm->iplen)
			continue;
		unsigned pfx = pol->ip[i].prefix, b = 0;
		bool ok = true;
		for (; ok && b + 8 <= pfx; b += 8)
			ok = pol->ip[i].addr[b / 8] == nm->ip[b / 8];
		if (ok && b < pfx) {
			uint8_t mask = (uint8_t)(0xff00u >> (pfx - b));
			ok = (pol->ip[i].addr[b / 8] & mask) == (nm->ip[b / 8] & mask);
		}
		if (ok)
			return true;
	}
	return false;
}

static bool cn_match(const struct pki_policy *pol, const char *cn)
{
	for (size_t i = 0; i < pol->ncn; i++) {
		size_t l = strlen(pol->cn[i]);
		if (l > 0 && pol->cn[i][l - 1] == '*') {
			if (strncmp(cn, pol->cn[i], l - 1) == 0)
				return true;
		} else if (strcmp(cn, pol->cn[i]) == 0) {
			return true;
		}
	}
	return false;
}

int pki_policy_check(const struct pki_policy *pol, enum pki_profile prof,
		     enum pki_key_type kt, const char *cn,
		     const struct pki_names *names, int64_t validity_s,
		     struct bw_err *err)
{
	if (!(pol->profiles & PKI_PROFILE_BIT(prof)))
		return bw_err_set(err, 403, PKI_MOD, "policy",
				  "profile %s is not allowed for this tenant",
				  pki_profile_name(prof));
	if (!(pol->key_types & PKI_KEY_BIT(kt)))
		return bw_err_set(err, 403, PKI_MOD, "policy",
				  "key type %s is not allowed for this tenant",
				  pki_key_type_name(kt));
	if (validity_s > pol->max_validity_s)
		return bw_err_set(err, 403, PKI_MOD, "policy",
				  "validity of %lld s exceeds the policy's %lld s",
				  (long long)validity_s,
				  (long long)pol->max_validity_s);
	for (size_t i = 0; names && i < names->n; i++) {
		const struct pki_name *nm = &names->v[i];
		bool ok = false;
		if (nm->type == PKI_NAME_DNS) {
			for (size_t j = 0; !ok && j < pol->ndns; j++)
				ok = dns_match(pol->dns[j], nm->text, pol->allow_wildcards);
		} else if (nm->type == PKI_NAME_IP) {
			ok = ip_match(pol, nm);
		} else if (nm->type == PKI_NAME_URI) {
			for (size_t j = 0; !ok && j < pol->nuri; j++)
				ok = strncmp(nm->text, pol->uri[j], strlen(pol->uri[j])) == 0;
		}
		if (!ok)
			return bw_err_set(err, 403, PKI_MOD, "policy",
					  "name %.200s is not allowed for this tenant",
					  nm->text);
	}
	if (cn && *cn) {
		bool is_name = false;
		for (size_t i = 0; names && !is_name && i < names->n; i++)
			is_name = strcmp(names->v[i].text, cn) == 0 ||
				  (names->v[i].type == PKI_NAME_DNS &&
				   strcasecmp(names->v[i].text, cn) == 0);
		if (!is_name && !cn_match(pol, cn))
			return bw_err_set(err, 403, PKI_MOD, "policy",
					  "common name %.64s is neither one of the "
					  "names nor allowed by the policy", cn);
	}
	return 0;
}
