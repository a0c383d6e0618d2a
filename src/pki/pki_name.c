/*
 * pki_name.c — subject alternative names as bulwark accepts them: DNS
 * names, IP addresses and URIs (SPIFFE IDs checked against the SPIFFE
 * rules), plus CIDR ranges for policies.
 *
 * Invariants: a name in a struct pki_names has passed its check, DNS
 * names are lower case, IP addresses are 4 or 16 bytes with a canonical
 * text form, and no list holds more than PKI_SANS_MAX names or a
 * duplicate (duplicates are dropped, not refused, since CSR tools
 * commonly repeat the CN as a SAN).
 */
#include "pki/pki_int.h"

#include <arpa/inet.h>
#include <string.h>

static bool is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int pki_dns_check(const char *s, size_t len, bool allow_wildcard,
		  struct bw_err *err)
{
	if (len == 0 || len > PKI_DNS_NAME_MAX)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "DNS name of %zu bytes (1 to %d)", len,
				  PKI_DNS_NAME_MAX);
	size_t i = 0, labels = 0;
	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		if (!allow_wildcard)
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "wildcard DNS name not allowed here");
		i = 2;
	}
	size_t base = i;
	bool last_numeric = true;
	while (i <= len) {
		size_t start = i;
		bool numeric = true;
		while (i < len && s[i] != '.') {
			char c = lower(s[i]);
			if (!is_ldh(c))
				return bw_err_set(err, 400, PKI_MOD, "bad_name",
						  "DNS name has a character outside "
						  "letters, digits and '-'");
			if (c < '0' || c > '9')
				numeric = false;
			i++;
		}
		size_t l = i - start;
		if (l == 0 || l > PKI_DNS_LABEL_MAX)
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "DNS label of %zu bytes (1 to %d)", l,
					  PKI_DNS_LABEL_MAX);
		if (s[start] == '-' || s[i - 1] == '-')
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "DNS label starts or ends with '-'");
		labels++;
		last_numeric = numeric;
		i++; /* past the dot (or the end) */
	}
	if (last_numeric)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "DNS name with an all-numeric top label (an IP "
				  "address belongs in an IP SAN)");
	if (base == 2 && labels < 2)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "wildcard over a single label");
	return 0;
}

static bool spiffe_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

int pki_spiffe_check(const char *s, size_t len, struct bw_err *err)
{
	static const char pfx[] = "spiffe://";
	const size_t pl = sizeof(pfx) - 1;
	if (len <= pl || memcmp(s, pfx, pl) != 0)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "SPIFFE ID must start with spiffe://");
	size_t i = pl;
	while (i < len && s[i] != '/') {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "SPIFFE trust domain allows only "
					  "[a-z0-9._-]");
		i++;
	}
	if (i == pl || i - pl > 255)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "SPIFFE trust domain of 1 to 255 bytes");
	if (i == len)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "SPIFFE ID without a workload path");
	while (i < len) {
		i++; /* the '/' */
		size_t start = i;
		while (i < len && s[i] != '/') {
			if (!spiffe_char(s[i]))
				return bw_err_set(err, 400, PKI_MOD, "bad_name",
						  "SPIFFE path allows only "
						  "[A-Za-z0-9._-] segments");
			i++;
		}
		size_t l = i - start;
		if (l == 0 || (l == 1 && s[start] == '.') ||
		    (l == 2 && s[start] == '.' && s[start + 1] == '.'))
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "SPIFFE path has an empty, '.' or '..' "
					  "segment");
	}
	return 0;
}

static int uri_check(const char *s, size_t len, struct bw_err *err)
{
	if (len == 0 || len > PKI_URI_MAX)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "URI of %zu bytes (1 to %d)", len, PKI_URI_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "URI with a space, control or non-ASCII "
					  "byte");
	size_t i = 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return bw_err_set(err, 400, PKI_MOD, "bad_name", "URI without a scheme");
	while (i < len && s[i] != ':') {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-'))
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "URI scheme is malformed");
		i++;
	}
	if (i == len || i + 1 == len)
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "URI without a scheme or a body");
	if (i == 6 && strncasecmp(s, "spiffe", 6) == 0)
		return pki_spiffe_check(s, len, err);
	return 0;
}

void pki_names_fini(struct pki_names *n)
{
	for (size_t i = 0; i < n->n; i++) {
		free(n->v[i].text);
		n->v[i].text = NULL;
	}
	n->n = 0;
}

bool pki_names_has(const struct pki_names *n, enum pki_name_type t,
		   const char *s)
{
	for (size_t i = 0; i < n->n; i++)
		if (n->v[i].type == t && strcmp(n->v[i].text, s) == 0)
			return true;
	return false;
}

static int push(struct pki_names *n, enum pki_name_type t, char *text,
		const uint8_t *ip, size_t iplen, struct bw_err *err)
{
	if (pki_names_has(n, t, text)) {
		free(text);
		return 0;
	}
	if (n->n >= PKI_SANS_MAX) {
		free(text);
		return bw_err_set(err, 400, PKI_MOD, "too_many_names",
				  "more than %d names", PKI_SANS_MAX);
	}
	struct pki_name *e = &n->v[n->n++];
	memset(e, 0, sizeof(*e));
	e->type = t;
	e->text = text;
	if (ip) {
		memcpy(e->ip, ip, iplen);
		e->iplen = (uint8_t)iplen;
	}
	return 0;
}

int pki_names_add_ip_bytes(struct pki_names *n, const uint8_t *ip, size_t len,
			   struct bw_err *err)
{
	char txt[INET6_ADDRSTRLEN];
	if ((len != 4 && len != 16) ||
	    !inet_ntop(len == 4 ? AF_INET : AF_INET6, ip, txt, sizeof(txt)))
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "IP address of %zu bytes", len);
	char *t = strdup(txt);
	if (!t)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	return push(n, PKI_NAME_IP, t, ip, len, err);
}

static int parse_ip(const char *s, size_t len, uint8_t out[16], size_t *olen)
{
	char buf[INET6_ADDRSTRLEN + 1];
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, out) == 1) {
		*olen = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out) == 1) {
		*olen = 16;
		return 0;
	}
	return -1;
}

int pki_names_add(struct pki_names *n, enum pki_name_type t, const char *s,
		  size_t len, struct bw_err *err)
{
	if (memchr(s, '\0', len))
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "name with a NUL byte");
	if (t == PKI_NAME_IP) {
		uint8_t ip[16];
		size_t iplen;
		if (parse_ip(s, len, ip, &iplen) < 0)
			return bw_err_set(err, 400, PKI_MOD, "bad_name",
					  "not an IPv4 or IPv6 address");
		return pki_names_add_ip_bytes(n, ip, iplen, err);
	}
	if (t == PKI_NAME_DNS) {
		if (pki_dns_check(s, len, true, err) < 0)
			return -1;
	} else if (t == PKI_NAME_URI) {
		if (uri_check(s, len, err) < 0)
			return -1;
	} else {
		return bw_err_set(err, 400, PKI_MOD, "bad_name", "unknown name type");
	}
	char *text = malloc(len + 1);
	if (!text)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	for (size_t i = 0; i < len; i++)
		text[i] = t == PKI_NAME_DNS ? lower(s[i]) : s[i];
	text[len] = '\0';
	return push(n, t, text, NULL, 0, err);
}

int pki_cidr_parse(const char *s, uint8_t addr[16], uint8_t *alen,
		   unsigned *prefix)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	size_t l;
	if (parse_ip(s, n, addr, &l) < 0)
		return -1;
	unsigned max = (unsigned)l * 8, pfx = max;
	if (slash) {
		uint64_t v;
		if (bw_str_to_u64(bw_str_make(slash + 1, strlen(slash + 1)), &v) < 0 ||
		    v > max)
			return -1;
		pfx = (unsigned)v;
	}
	/* Clear host bits so matching is a plain prefix compare. */
	for (unsigned b = pfx; b < max; b++)
		addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	*alen = (uint8_t)l;
	*prefix = pfx;
	return 0;
}
