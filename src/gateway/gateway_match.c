/*
 * Matching: IP literals and CIDR prefixes (trusted proxies, allowlists),
 * host patterns, segment-aware path prefixes, and route selection.
 *
 * Invariants: every parser here works on (pointer, length) input of any
 * content and never reads past it; IPv4 is kept IPv4-mapped so a single
 * 128-bit prefix comparison serves both families (an IPv4 CIDR never
 * matches a native IPv6 address and vice versa, because the mapped
 * prefix ::ffff:0:0/96 is part of every IPv4 CIDR).
 */
#include "gateway/gateway_int.h"

#include <arpa/inet.h>
#include <string.h>

/* ------------------------------------------------------------ addresses */

int gw_ip_parse(const char *s, size_t len, struct gw_ip *out)
{
	char tmp[64];
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (memchr(s, '\0', len))
		return -1;
	memset(out, 0, sizeof(*out));
	struct in_addr a4;
	if (inet_pton(AF_INET, tmp, &a4) == 1) {
		out->a[10] = 0xff;
		out->a[11] = 0xff;
		memcpy(out->a + 12, &a4, 4);
		out->v4 = true;
		return 0;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, tmp, &a6) == 1) {
		memcpy(out->a, &a6, 16);
		/* An IPv4-mapped IPv6 literal is the IPv4 client it names. */
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0,
						    0, 0, 0, 0, 0xff, 0xff };
		out->v4 = memcmp(out->a, mapped, 12) == 0;
		return 0;
	}
	return -1;
}

/* Dotted quad without inet_ntop: glibc formats it with sprintf, which was
 * the largest single cost of a proxied request's bookkeeping. */
static void ipv4_format(const uint8_t *a, char *out, size_t cap)
{
	char tmp[16];
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			tmp[n++] = (char)('0' + v / 100);
		if (v >= 10)
			tmp[n++] = (char)('0' + v / 10 % 10);
		tmp[n++] = (char)('0' + v % 10);
		tmp[n++] = i < 3 ? '.' : '\0';
	}
	if (n > cap) {
		out[0] = '\0';
		return;
	}
	memcpy(out, tmp, n);
}

void gw_ip_format(const struct gw_ip *ip, char *out, size_t cap)
{
	if (cap == 0)
		return;
	if (ip->v4) {
		ipv4_format(ip->a + 12, out, cap);
		return;
	}
	if (!inet_ntop(AF_INET6, ip->a, out, (socklen_t)cap))
		out[0] = '\0';
}

int gw_cidr_parse(const char *s, size_t len, struct gw_cidr *out)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	if (gw_ip_parse(s, alen, &out->ip) < 0)
		return -1;
	unsigned max = out->ip.v4 ? 32 : 128, bits = max;
	if (slash) {
		uint64_t b;
		struct bw_str num = bw_str_make(slash + 1, len - alen - 1);
		/* no leading zeros or signs: "/08" is a typo, not 8 */
		if (num.len == 0 || num.len > 3 ||
		    (num.len > 1 && num.p[0] == '0') ||
		    bw_str_to_u64(num, &b) < 0 || b > max)
			return -1;
		bits = (unsigned)b;
	}
	out->bits = (uint8_t)(out->ip.v4 ? bits + 96 : bits);
	/* host bits must be zero */
	for (unsigned i = out->bits; i < 128; i++)
		if (out->ip.a[i / 8] & (0x80u >> (i % 8)))
			return -1;
	return 0;
}

bool gw_cidr_contains(const struct gw_cidr *c, const struct gw_ip *ip)
{
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->ip.a, ip->a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (c->ip.a[full] & mask) == (ip->a[full] & mask);
}

bool gw_cidr_list_match(const struct gw_cidr *v, size_t n, const struct gw_ip *ip)
{
	for (size_t i = 0; i < n; i++)
		if (gw_cidr_contains(&v[i], ip))
			return true;
	return false;
}

/* ------------------------------------------------------------ hosts */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_';
}

int gw_hostpat_parse(struct bw_arena *a, const char *s, struct gw_hostpat *out,
		     const char **why)
{
	size_t len = strlen(s);
	bool wild = len >= 2 && s[0] == '*' && s[1] == '.';
	const char *p = wild ? s + 1 : s; /* keep the dot: ".example.com" */
	size_t n = wild ? len - 1 : len;
	if (len == 0 || len > 253) {
		*why = "host pattern must be 1 to 253 bytes";
		return -1;
	}
	char *copy = bw_arena_strndup(a, p, n);
	if (!copy) {
		*why = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		copy[i] = lower(copy[i]);
		if (!host_char(copy[i])) {
			*why = "host pattern may hold letters, digits, '-', '_' and "
			       "'.', with '*.' only as a leading wildcard label";
			return -1;
		}
	}
	if ((wild && n < 2) || copy[n - 1] == '.' || (!wild && copy[0] == '.') ||
	    strstr(copy, "..")) {
		*why = "host pattern has an empty label";
		return -1;
	}
	out->name = copy;
	out->len = n;
	out->wildcard = wild;
	return 0;
}

bool gw_hostpat_match(const struct gw_hostpat *p, struct bw_str host)
{
	/* A trailing dot names the same host (FQDN form). */
	if (host.len && host.p[host.len - 1] == '.')
		host.len--;
	if (!p->wildcard) {
		if (host.len != p->len)
			return false;
		for (size_t i = 0; i < host.len; i++)
			if (lower(host.p[i]) != p->name[i])
				return false;
		return true;
	}
	/* ".example.com" must be a proper suffix with a non-empty label
	 * before it. */
	if (host.len <= p->len)
		return false;
	const char *tail = host.p + host.len - p->len;
	for (size_t i = 0; i < p->len; i++)
		if (lower(tail[i]) != p->name[i])
			return false;
	return tail[-1] != '.';
}

/* ------------------------------------------------------------ paths */

bool gw_path_prefix_match(struct bw_str prefix, struct bw_str path)
{
	if (path.len < prefix.len || memcmp(path.p, prefix.p, prefix.len) != 0)
		return false;
	if (path.len == prefix.len || prefix.len == 0)
		return true;
	if (prefix.p[prefix.len - 1] == '/')
		return true;
	return path.p[prefix.len] == '/';
}

/* Decodes one path character at p[i] (raw or %XX) into *c and returns
 * how many bytes it took; a bad escape reads as itself. */
static size_t path_char(struct bw_str s, size_t i, char *c)
{
	static const char hex[] = "0123456789abcdef";
	if (s.p[i] == '%' && i + 2 < s.len && s.p[i + 1] && s.p[i + 2]) {
		/* strchr would find the terminating NUL: excluded above */
		const char *h = strchr(hex, lower(s.p[i + 1]));
		const char *l = strchr(hex, lower(s.p[i + 2]));
		if (h && l) {
			*c = (char)(((h - hex) << 4) | (l - hex));
			return 3;
		}
	}
	*c = s.p[i];
	return 1;
}

bool gw_path_is_suspicious(struct bw_str path)
{
	/* Walk segments of the decoded path. A segment of "." or ".." in any
	 * spelling, or a decoded '/' or '\' that arrived encoded, is refused:
	 * routing on one reading of a path while the upstream acts on
	 * another is how prefix rules get bypassed. */
	size_t i = 0;
	while (i < path.len) {
		if (path.p[i] == '/') {
			i++;
			continue;
		}
		size_t dots = 0, chars = 0;
		while (i < path.len && path.p[i] != '/') {
			char c;
			size_t n = path_char(path, i, &c);
			if (n == 3 && (c == '/' || c == '\\'))
				return true;
			if (c == '\\')
				return true;
			if (c == '.')
				dots++;
			chars++;
			i += n;
		}
		if (chars == dots && (dots == 1 || dots == 2))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ routes */

static bool method_match(const struct gw_route *r, struct bw_str m)
{
	if (!r->methods)
		return true;
	for (size_t i = 0; i < r->nmethods; i++)
		if (bw_str_eq_lit(m, r->methods[i]))
			return true;
	return false;
}

/* 3: exact host, 2: wildcard (longer suffix better, added below), 1: any
 * host, 0: no match. */
static int host_rank(const struct gw_route *r, struct bw_str host, size_t *wlen)
{
	if (r->nhosts == 0)
		return 1;
	int best = 0;
	*wlen = 0;
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct gw_hostpat *p = &r->hosts[i];
		if (!gw_hostpat_match(p, host))
			continue;
		if (!p->wildcard)
			return 3;
		best = 2;
		if (p->len > *wlen)
			*wlen = p->len;
	}
	return best;
}

const struct gw_route *gw_route_select(const struct gw_route *routes, size_t n,
				       struct bw_str host, struct bw_str path,
				       struct bw_str method)
{
	const struct gw_route *best = NULL;
	int best_rank = 0;
	size_t best_wlen = 0, best_plen = 0;
	for (size_t i = 0; i < n; i++) {
		const struct gw_route *r = &routes[i];
		size_t wlen = 0;
		int rank = host_rank(r, host, &wlen);
		if (rank == 0 || !gw_path_prefix_match(r->prefix, path) ||
		    !method_match(r, method))
			continue;
		bool better = !best || rank > best_rank ||
			      (rank == best_rank && wlen > best_wlen) ||
			      (rank == best_rank && wlen == best_wlen &&
			       r->prefix.len > best_plen);
		if (better) {
			best = r;
			best_rank = rank;
			best_wlen = wlen;
			best_plen = r->prefix.len;
		}
	}
	return best;
}
