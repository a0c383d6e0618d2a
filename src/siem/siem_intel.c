/*
 * siem_intel.c — threat intelligence: indicator feeds (CSV and STIX 2.1
 * bundles, from files or URLs), an immutable indicator set (IPv4/IPv6
 * addresses and CIDRs in binary radix tries with longest-prefix match,
 * domains matched with their subdomains, URLs, file hashes), and the
 * per-event match that raises alerts carrying the indicator's context.
 *
 * CSV: "value[,type[,description]]" per line, '#' comments, an optional
 * header line starting with "value" or "indicator"; the type (ip, cidr,
 * domain, url, md5, sha1, sha256) is detected when absent. STIX 2.1: the
 * "indicator" objects of a bundle whose pattern_type is stix; every
 * "OBJECT:PATH = 'VALUE'" comparison of the pattern (ipv4-addr,
 * ipv6-addr, domain-name, url, file:hashes.*) becomes an indicator, with
 * the object's name, description, id and confidence as context. Indicators
 * whose valid_until has passed are skipped.
 *
 * Invariants: parsers are bounded (SIEM_INTEL_* in siem_limits.h) and
 * never fail a whole feed for one bad entry (bad entries are counted); a
 * set is built completely before it replaces the previous one, and is
 * freed when the last batch using it is done (reference count).
 */
#include "siem/siem_svc_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ the set */

struct trie_node {
	uint32_t child[2]; /* 0 = none (node 0 is the root) */
	int32_t ind;	   /* indicator at this prefix, or -1 */
};

struct trie {
	struct trie_node *n;
	size_t len, cap;
};

#define HT_EMPTY UINT32_MAX

struct siem_intel_set {
	_Atomic int refs;
	struct bw_arena *arena;
	struct siem_indicator *ind;
	size_t nind, cap;
	struct trie v4, v6;
	/* open addressing: indices into ind, keyed by type + value */
	uint32_t *ht;
	size_t htcap;
	size_t bad; /* entries refused while parsing */
	const char *last_intern;
};

static int trie_init(struct trie *t)
{
	t->cap = 1024;
	t->n = calloc(t->cap, sizeof(*t->n));
	if (!t->n)
		return -1;
	t->len = 1;
	t->n[0].ind = -1;
	return 0;
}

static int trie_insert(struct trie *t, const uint8_t *addr, unsigned bits, int32_t ind)
{
	uint32_t cur = 0;
	for (unsigned i = 0; i < bits; i++) {
		unsigned b = (addr[i / 8] >> (7 - i % 8)) & 1;
		if (!t->n[cur].child[b]) {
			if (t->len == t->cap) {
				size_t cap = t->cap * 2;
				struct trie_node *n = realloc(t->n, cap * sizeof(*n));
				if (!n)
					return -1;
				t->n = n;
				t->cap = cap;
			}
			t->n[t->len] = (struct trie_node){ { 0, 0 }, -1 };
			t->n[cur].child[b] = (uint32_t)t->len++;
		}
		cur = t->n[cur].child[b];
	}
	/* the first indicator for a prefix wins (feeds are loaded in order) */
	if (t->n[cur].ind < 0)
		t->n[cur].ind = ind;
	return 0;
}

/* Longest prefix match. */
static int32_t trie_find(const struct trie *t, const uint8_t *addr, unsigned bits)
{
	if (!t->n)
		return -1;
	uint32_t cur = 0;
	int32_t best = t->n[0].ind;
	for (unsigned i = 0; i < bits; i++) {
		unsigned b = (addr[i / 8] >> (7 - i % 8)) & 1;
		cur = t->n[cur].child[b];
		if (!cur)
			break;
		if (t->n[cur].ind >= 0)
			best = t->n[cur].ind;
	}
	return best;
}

static uint64_t hkey(int type, const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)type;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)siem_lower(p[i]);
		h *= 1099511628211ULL;
	}
	return h;
}

static int32_t ht_find(const struct siem_intel_set *s, int type, const char *p, size_t n)
{
	if (!s->htcap)
		return -1;
	size_t i = hkey(type, p, n) & (s->htcap - 1);
	for (;;) {
		uint32_t k = s->ht[i];
		if (k == HT_EMPTY)
			return -1;
		const struct siem_indicator *d = &s->ind[k];
		if (d->type == type && strlen(d->value) == n) {
			size_t j = 0;
			while (j < n && siem_lower(d->value[j]) == siem_lower(p[j]))
				j++;
			if (j == n)
				return (int32_t)k;
		}
		i = (i + 1) & (s->htcap - 1);
	}
}

static int ht_build(struct siem_intel_set *s)
{
	size_t cap = 64;
	while (cap < s->nind * 2 + 1)
		cap *= 2;
	s->ht = malloc(cap * sizeof(*s->ht));
	if (!s->ht)
		return -1;
	memset(s->ht, 0xff, cap * sizeof(*s->ht));
	s->htcap = cap;
	for (size_t k = 0; k < s->nind; k++) {
		const struct siem_indicator *d = &s->ind[k];
		if (d->type == SIEM_IOC_IP || d->type == SIEM_IOC_CIDR)
			continue;
		if (ht_find(s, d->type, d->value, strlen(d->value)) >= 0)
			continue; /* duplicate: the first stays */
		size_t i = hkey(d->type, d->value, strlen(d->value)) & (cap - 1);
		while (s->ht[i] != HT_EMPTY)
			i = (i + 1) & (cap - 1);
		s->ht[i] = (uint32_t)k;
	}
	return 0;
}

struct siem_intel_set *siem_intel_set_new(void)
{
	struct siem_intel_set *s = calloc(1, sizeof(*s));
	if (!s || !(s->arena = bw_arena_new(65536, SIEM_INTEL_ARENA_MAX)) ||
	    trie_init(&s->v4) < 0 || trie_init(&s->v6) < 0) {
		siem_intel_set_unref(s);
		return NULL;
	}
	atomic_store(&s->refs, 1);
	return s;
}

void siem_intel_set_ref(struct siem_intel_set *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void siem_intel_set_unref(struct siem_intel_set *s)
{
	if (!s || (s->arena && atomic_fetch_sub(&s->refs, 1) != 1))
		return;
	free(s->v4.n);
	free(s->v6.n);
	free(s->ind);
	free(s->ht);
	bw_arena_free(s->arena);
	free(s);
}

/* The set's own copy of a short string used by many indicators (a feed
 * name): copied once, then shared. */
const char *siem_intel_intern(struct siem_intel_set *s, const char *str)
{
	if (s->last_intern && strcmp(s->last_intern, str) == 0)
		return s->last_intern;
	s->last_intern = bw_arena_strdup(s->arena, str);
	return s->last_intern;
}

size_t siem_intel_set_count(const struct siem_intel_set *s)
{
	return s ? s->nind : 0;
}

size_t siem_intel_set_bad(const struct siem_intel_set *s)
{
	return s ? s->bad : 0;
}

const struct siem_indicator *siem_intel_set_at(const struct siem_intel_set *s, size_t i)
{
	return s && i < s->nind ? &s->ind[i] : NULL;
}

/* --------------------------------------------------------------- adding */

static bool is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!siem_isdigit(p[i]) && !(siem_lower(p[i]) >= 'a' && siem_lower(p[i]) <= 'f'))
			return false;
	return true;
}

static bool domain_ok(const char *p, size_t n)
{
	if (n == 0 || n > 253 || p[0] == '.' || p[n - 1] == '.' || !memchr(p, '.', n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!siem_isalnum(p[i]) && p[i] != '-' && p[i] != '.' && p[i] != '_')
			return false;
	return true;
}

/* Parses "a.b.c.d[/n]" or an IPv6 literal with an optional /n. */
static int parse_net(const char *p, size_t n, uint8_t addr[16], unsigned *bits, bool *v6)
{
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	char *slash = strchr(buf, '/');
	long plen = -1;
	if (slash) {
		*slash = '\0';
		char *e;
		plen = strtol(slash + 1, &e, 10);
		if (*e || e == slash + 1)
			return -1;
	}
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*v6 = false;
		if (plen > 32)
			return -1;
		*bits = plen < 0 ? 32 : (unsigned)plen;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		*v6 = true;
		if (plen > 128)
			return -1;
		*bits = plen < 0 ? 128 : (unsigned)plen;
		return 0;
	}
	return -1;
}

static int detect_type(const char *p, size_t n)
{
	uint8_t a[16];
	unsigned bits;
	bool v6;
	if (parse_net(p, n, a, &bits, &v6) == 0)
		return memchr(p, '/', n) ? SIEM_IOC_CIDR : SIEM_IOC_IP;
	if (n > 7 && (siem_str_startswith(p, n, "http://") || siem_str_startswith(p, n, "https://")))
		return SIEM_IOC_URL;
	if ((n == 32 || n == 40 || n == 64) && is_hex(p, n))
		return SIEM_IOC_HASH;
	if (domain_ok(p, n))
		return SIEM_IOC_DOMAIN;
	return -1;
}

static int type_by_name(const char *p, size_t n)
{
	static const struct {
		const char *name;
		int type;
	} t[] = { { "ip", SIEM_IOC_IP },	 { "ipv4", SIEM_IOC_IP },
		  { "ipv6", SIEM_IOC_IP },	 { "ip-dst", SIEM_IOC_IP },
		  { "ip-src", SIEM_IOC_IP },	 { "cidr", SIEM_IOC_CIDR },
		  { "domain", SIEM_IOC_DOMAIN }, { "hostname", SIEM_IOC_DOMAIN },
		  { "url", SIEM_IOC_URL },	 { "md5", SIEM_IOC_HASH },
		  { "sha1", SIEM_IOC_HASH },	 { "sha256", SIEM_IOC_HASH },
		  { "hash", SIEM_IOC_HASH } };
	for (size_t i = 0; i < BW_ARRAY_LEN(t); i++)
		if (strlen(t[i].name) == n && bw_str_caseeq_lit(bw_str_make(p, n), t[i].name))
			return t[i].type;
	return -1;
}

/* Adds one indicator (strings copied). Returns 0, or -1 when it is not a
 * valid indicator of that type (counted) or a limit was reached. */
int siem_intel_add(struct siem_intel_set *s, int type, const char *v, size_t n,
		   const struct siem_indicator *ctx)
{
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\r' || v[n - 1] == '\t'))
		n--;
	while (n && (v[0] == ' ' || v[0] == '\t'))
		v++, n--;
	if (type < 0)
		type = detect_type(v, n);
	if (type < 0 || n == 0 || n > SIEM_INTEL_VALUE_MAX || s->nind >= SIEM_INTEL_INDICATORS_MAX)
		goto bad;
	uint8_t addr[16];
	unsigned bits = 0;
	bool v6 = false;
	if (type == SIEM_IOC_IP || type == SIEM_IOC_CIDR) {
		if (parse_net(v, n, addr, &bits, &v6) < 0)
			goto bad;
		type = (bits == (v6 ? 128u : 32u)) ? SIEM_IOC_IP : SIEM_IOC_CIDR;
		const char *slash = memchr(v, '/', n);
		if (type == SIEM_IOC_IP && slash)
			n = (size_t)(slash - v); /* "1.2.3.4/32" is the address */
	} else if (type == SIEM_IOC_DOMAIN) {
		if (!domain_ok(v, n))
			goto bad;
	} else if (type == SIEM_IOC_HASH) {
		if (!((n == 32 || n == 40 || n == 64) && is_hex(v, n)))
			goto bad;
	} else if (type == SIEM_IOC_URL) {
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)v[i] <= ' ')
				goto bad;
	}
	if (s->nind == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct siem_indicator *ni = realloc(s->ind, cap * sizeof(*ni));
		if (!ni)
			goto bad;
		s->ind = ni;
		s->cap = cap;
	}
	struct siem_indicator *d = &s->ind[s->nind];
	memset(d, 0, sizeof(*d));
	d->type = type;
	d->value = bw_arena_strndup(s->arena, v, n);
	if (ctx) {
		d->feed = ctx->feed ? siem_intel_intern(s, ctx->feed) : NULL;
		d->level = ctx->level;
		d->description = ctx->description ? bw_arena_strdup(s->arena, ctx->description) : NULL;
		d->name = ctx->name ? bw_arena_strdup(s->arena, ctx->name) : NULL;
		d->ref = ctx->ref ? bw_arena_strdup(s->arena, ctx->ref) : NULL;
		d->confidence = ctx->confidence;
	}
	if (!d->value)
		goto bad;
	if ((type == SIEM_IOC_IP || type == SIEM_IOC_CIDR) &&
	    trie_insert(v6 ? &s->v6 : &s->v4, addr, bits, (int32_t)s->nind) < 0)
		goto bad;
	s->nind++;
	return 0;
bad:
	s->bad++;
	return -1;
}

int siem_intel_finish(struct siem_intel_set *s)
{
	return ht_build(s);
}

/* ----------------------------------------------------------------- CSV */

int siem_intel_parse_csv(struct siem_intel_set *s, const char *p, size_t n,
			 const struct siem_indicator *ctx, struct bw_err *err)
{
	if (n > SIEM_INTEL_FEED_MAX)
		return SIEM_SVC_ERR(err, 413, "too_large", "feed larger than %u bytes",
				    SIEM_INTEL_FEED_MAX);
	size_t i = 0, line = 0, added = 0;
	while (i < n) {
		size_t st = i;
		while (i < n && p[i] != '\n')
			i++;
		size_t e = i++;
		line++;
		if (e > st && p[e - 1] == '\r')
			e--;
		if (e == st || p[st] == '#')
			continue;
		/* up to three comma-separated cells; quotes around a cell are
		 * dropped (no embedded commas in indicator values) */
		struct bw_str cell[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
		size_t c = 0, k = st;
		while (k <= e && c < 3) {
			size_t cs = k;
			bool q = k < e && p[k] == '"';
			if (q) {
				cs = ++k;
				while (k < e && p[k] != '"')
					k++;
				cell[c++] = bw_str_make(p + cs, k - cs);
				while (k < e && p[k] != ',')
					k++;
			} else {
				while (k < e && p[k] != ',')
					k++;
				cell[c++] = bw_str_make(p + cs, k - cs);
			}
			k++;
			if (c == 2 && k <= e) {
				/* the rest of the line is the description */
				cell[2] = bw_str_make(p + k, e - k);
				if (cell[2].len >= 2 && cell[2].p[0] == '"' &&
				    cell[2].p[cell[2].len - 1] == '"')
					cell[2] = bw_str_make(cell[2].p + 1, cell[2].len - 2);
				c = 3;
			}
		}
		if (line == 1 && (bw_str_caseeq_lit(cell[0], "value") ||
				  bw_str_caseeq_lit(cell[0], "indicator")))
			continue;
		int type = -1;
		if (cell[1].p && cell[1].len) {
			type = type_by_name(cell[1].p, cell[1].len);
			if (type < 0) {
				s->bad++;
				continue;
			}
		}
		struct siem_indicator c2 = ctx ? *ctx : (struct siem_indicator){ 0 };
		char desc[512];
		if (cell[2].p && cell[2].len) {
			size_t dl = cell[2].len < sizeof(desc) - 1 ? cell[2].len : sizeof(desc) - 1;
			memcpy(desc, cell[2].p, dl);
			desc[dl] = '\0';
			c2.description = desc;
		}
		if (siem_intel_add(s, type, cell[0].p, cell[0].len, &c2) == 0)
			added++;
	}
	return (int)(added > INT32_MAX ? INT32_MAX : added);
}

/* ---------------------------------------------------------------- STIX */

/* Every "OBJ:PATH = 'VALUE'" comparison in a STIX pattern. */
static void stix_pattern(struct siem_intel_set *s, const char *p, size_t n,
			 const struct siem_indicator *ctx)
{
	size_t i = 0;
	while (i < n) {
		const char *eq = memchr(p + i, '=', n - i);
		if (!eq)
			break;
		/* the object path: back from '=' over spaces, then the token */
		size_t e = (size_t)(eq - p);
		size_t pe = e;
		while (pe > i && p[pe - 1] == ' ')
			pe--;
		size_t ps = pe;
		while (ps > i && p[ps - 1] != '[' && p[ps - 1] != ' ' && p[ps - 1] != '(')
			ps--;
		struct bw_str path = bw_str_make(p + ps, pe - ps);
		/* the value: a quoted string after '=' ('' escapes a quote) */
		size_t v = e + 1;
		while (v < n && p[v] == ' ')
			v++;
		if (v >= n || p[v] != '\'') {
			i = e + 1;
			continue;
		}
		char val[SIEM_INTEL_VALUE_MAX + 1];
		size_t vl = 0, k = v + 1;
		bool ok = false;
		while (k < n) {
			if (p[k] == '\\' && k + 1 < n) {
				if (vl < SIEM_INTEL_VALUE_MAX)
					val[vl++] = p[k + 1];
				k += 2;
				continue;
			}
			if (p[k] == '\'') {
				ok = true;
				break;
			}
			if (vl < SIEM_INTEL_VALUE_MAX)
				val[vl++] = p[k];
			k++;
		}
		i = k + 1;
		if (!ok)
			break;
		int type = -1;
		if (siem_str_startswith(path.p, path.len, "ipv4-addr:") ||
		    siem_str_startswith(path.p, path.len, "ipv6-addr:"))
			type = SIEM_IOC_IP;
		else if (siem_str_startswith(path.p, path.len, "domain-name:"))
			type = SIEM_IOC_DOMAIN;
		else if (siem_str_startswith(path.p, path.len, "url:"))
			type = SIEM_IOC_URL;
		else if (siem_str_startswith(path.p, path.len, "file:hashes"))
			type = SIEM_IOC_HASH;
		if (type < 0)
			continue; /* an observable we do not match on */
		(void)siem_intel_add(s, type, val, vl, ctx);
	}
}

int siem_intel_parse_stix(struct siem_intel_set *s, const char *p, size_t n,
			  const struct siem_indicator *ctx, struct bw_err *err)
{
	if (n > SIEM_INTEL_FEED_MAX)
		return SIEM_SVC_ERR(err, 413, "too_large", "feed larger than %u bytes",
				    SIEM_INTEL_FEED_MAX);
	struct bw_arena *a = bw_arena_new(65536, SIEM_INTEL_ARENA_MAX);
	if (!a)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	struct json_limits lim = { .max_bytes = SIEM_INTEL_FEED_MAX, .max_depth = 32,
				   .max_members = SIEM_INTEL_INDICATORS_MAX };
	const struct json_value *root = json_parse(a, p, n, &lim, err);
	if (!root || root->type != JSON_OBJECT ||
	    strcmp(json_get_str(root, "type", ""), "bundle") != 0) {
		bw_arena_free(a);
		if (root || !err || !err->code)
			SIEM_SVC_ERR(err, 400, "stix", "not a STIX bundle");
		return -1;
	}
	const struct json_value *objs = json_get(root, "objects");
	size_t before = s->nind;
	int64_t now = bw_clock_now_ns();
	for (size_t i = 0; objs && objs->type == JSON_ARRAY && i < objs->u.arr.n; i++) {
		const struct json_value *o = objs->u.arr.items[i];
		if (strcmp(json_get_str(o, "type", ""), "indicator") != 0)
			continue;
		const char *pt = json_get_str(o, "pattern_type", "stix");
		const char *pat = json_get_str(o, "pattern", NULL);
		if (strcmp(pt, "stix") != 0 || !pat) {
			s->bad++;
			continue;
		}
		const char *vu = json_get_str(o, "valid_until", NULL);
		int64_t until;
		if (vu && siem_time_parse_rfc3339(vu, strlen(vu), &until) == 0 && until < now)
			continue; /* expired */
		struct siem_indicator c = ctx ? *ctx : (struct siem_indicator){ 0 };
		c.name = json_get_str(o, "name", NULL);
		c.description = json_get_str(o, "description", NULL);
		c.ref = json_get_str(o, "id", NULL);
		c.confidence = (int)json_get_int(o, "confidence", -1);
		stix_pattern(s, pat, strlen(pat), &c);
	}
	bw_arena_free(a);
	return (int)(s->nind - before);
}

/* ------------------------------------------------------------- lookups */

const struct siem_indicator *siem_intel_match_ip(const struct siem_intel_set *s,
						 const char *p, size_t n)
{
	char buf[64];
	uint8_t addr[16] = { 0 };
	if (!s || n == 0 || n >= sizeof(buf))
		return NULL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	int32_t k = -1;
	if (inet_pton(AF_INET, buf, addr) == 1)
		k = trie_find(&s->v4, addr, 32);
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		k = trie_find(&s->v6, addr, 128);
	return k >= 0 ? &s->ind[k] : NULL;
}

/* The domain or any parent domain ("a.b.evil.com" finds "evil.com"). */
const struct siem_indicator *siem_intel_match_domain(const struct siem_intel_set *s,
						     const char *p, size_t n)
{
	if (!s)
		return NULL;
	while (n && p[n - 1] == '.')
		n--;
	for (int depth = 0; n && depth < 16; depth++) {
		int32_t k = ht_find(s, SIEM_IOC_DOMAIN, p, n);
		if (k >= 0)
			return &s->ind[k];
		const char *dot = memchr(p, '.', n);
		if (!dot)
			break;
		n -= (size_t)(dot - p) + 1;
		p = dot + 1;
	}
	return NULL;
}

const struct siem_indicator *siem_intel_match(const struct siem_intel_set *s, int type,
					      const char *p, size_t n)
{
	if (!s)
		return NULL;
	int32_t k = ht_find(s, type, p, n);
	return k >= 0 ? &s->ind[k] : NULL;
}

const char *siem_ioc_type_name(int t)
{
	switch (t) {
	case SIEM_IOC_IP:
		return "ip";
	case SIEM_IOC_CIDR:
		return "cidr";
	case SIEM_IOC_DOMAIN:
		return "domain";
	case SIEM_IOC_URL:
		return "url";
	default:
		return "hash";
	}
}
