/*
 * Bot management: classification of a request head (known attack tools by
 * User-Agent and tell-tale headers, header-consistency heuristics) and the
 * signed challenge cookies that let a suspicious client prove it runs a
 * real browser (cookie mode) or spent CPU (proof-of-work mode).
 *
 * Classification is pure: same head, same result; the reasons are static
 * tokens so they can go into events without copying.
 *
 * Challenge tokens (cookie GW_CHALLENGE_COOKIE):
 *   cookie mode: "c1.<expiry>.<mac>"
 *   pow mode:    "p1.<expiry>.<nonce>.<mac>.<counter>"
 * mac = hex HMAC-SHA256(key, "<kind>|<client ip>|<expiry>[|<nonce>]"),
 * bound to the client IP and an expiry (epoch seconds, settable clock).
 * For pow, SHA-256 of "p1.<expiry>.<nonce>.<mac>.<counter>" must start with
 * pow_bits zero bits. The MAC is checked first and in constant time; only
 * then is anything else about the token believed.
 */
#include "gateway/gateway_int.h"
#include "event/event.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

/* ------------------------------------------------------------ tools */

/* Lower-case substrings of User-Agent values sent by attack and scanning
 * tools by default. Generic HTTP libraries are not here: they are a
 * weaker signal (see libs below). */
static const char *const tools[] = {
	"sqlmap", "nikto", "nmap", "masscan", "zgrab", "nuclei", "dirbuster",
	"gobuster", "wpscan", "wfuzz", "ffuf", "feroxbuster", "dirb/", "hydra",
	"acunetix", "netsparker", "w3af", "arachni", "skipfish", "openvas",
	"nessus", "commix", "xsstrike", "havij", "fimap", "whatweb", "joomscan",
	"droopescan", "appscan", "webinspect", "paros", "zmeu", "morfeus",
	"jaeles", "dotdotpwn", "sqlninja", "burpcollaborator", "qualys",
	"nmap scripting engine", "zgrab", "masscan-ng", "httprint", "bsqlbf",
	"mysqloit", "pangolin", "webshag", "grabber", "wapiti", "vega/",
	"crimscanner", "cgichk", "brutus", "medusa", "teh forest lobster",
	"blackwidow", "zollard", "jorgee", NULL,
};

/* Headers only scanners send. */
static const char *const tool_headers[] = {
	"acunetix-product", "acunetix-scanning-agreement", "acunetix-user-agreement",
	"x-wipp", "x-scan-memo", "x-request-memo", "x-requestmanager-memo",
	"x-scanner", "x-arachni-scan-seed", NULL,
};

/* Generic automation: a script, not necessarily hostile. */
static const char *const libs[] = {
	"curl/", "wget/", "python-requests", "python-urllib", "python-httpx",
	"aiohttp", "go-http-client", "libwww-perl", "java/", "okhttp",
	"apache-httpclient", "node-fetch", "axios/", "httpclient", "winhttp",
	"scrapy", "phantomjs", "headlesschrome", NULL,
};

static bool ci_contains(struct bw_str hay, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || hay.len < n)
		return false;
	for (size_t i = 0; i + n <= hay.len; i++) {
		size_t k = 0;
		while (k < n) {
			char c = hay.p[i + k];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != needle[k])
				break;
			k++;
		}
		if (k == n)
			return true;
	}
	return false;
}

static void reason(struct gw_bot_result *r, const char *why, int score)
{
	r->score += score;
	if (r->nreasons < GW_BOT_MAX_REASONS)
		r->reasons[r->nreasons++] = why;
}

static bool has(const struct http_request *req, const char *name)
{
	const struct http_header *h = http_header_find(req->headers, req->nheaders, name);
	return h && h->value.len > 0;
}

static bool host_is_ip(struct bw_str h)
{
	if (h.len && h.p[0] == '[')
		return true;
	struct gw_ip ip;
	return gw_ip_parse(h.p, h.len, &ip) == 0;
}

/* A suspicious client scores at least this much. */
#define SUSPICIOUS 3

void gw_bot_classify(const struct http_request *req, struct gw_bot_result *out)
{
	memset(out, 0, sizeof(*out));
	const struct http_header *ua =
		http_header_find(req->headers, req->nheaders, "user-agent");
	struct bw_str uav = ua ? ua->value : bw_str_make("", 0);

	for (size_t i = 0; tools[i]; i++) {
		if (ci_contains(uav, tools[i])) {
			bw_event_set(out->tool, sizeof(out->tool), tools[i]);
			reason(out, "attack_tool_user_agent", 10);
			out->cls = GW_BOT_TOOL;
			return;
		}
	}
	for (size_t i = 0; tool_headers[i]; i++) {
		if (http_header_find(req->headers, req->nheaders, tool_headers[i])) {
			bw_event_set(out->tool, sizeof(out->tool), tool_headers[i]);
			reason(out, "scanner_header", 10);
			out->cls = GW_BOT_TOOL;
			return;
		}
	}

	if (uav.len == 0) {
		reason(out, "no_user_agent", 3);
	} else {
		if (uav.len < 8)
			reason(out, "short_user_agent", 1);
		for (size_t i = 0; libs[i]; i++) {
			if (ci_contains(uav, libs[i])) {
				reason(out, "http_library", 1);
				break;
			}
		}
		/* Browsers always send Accept, Accept-Language and
		 * Accept-Encoding, and none speaks HTTP/1.0 any more. */
		bool browser = ci_contains(uav, "mozilla/");
		if (browser) {
			if (!has(req, "accept"))
				reason(out, "browser_without_accept", 2);
			if (!has(req, "accept-language"))
				reason(out, "browser_without_accept_language", 1);
			if (!has(req, "accept-encoding"))
				reason(out, "browser_without_accept_encoding", 1);
			if (req->version_minor == 0)
				reason(out, "browser_on_http10", 2);
		}
	}
	if (req->host.len == 0)
		reason(out, "no_host", 2);
	else if (host_is_ip(req->host_name))
		reason(out, "host_is_ip_literal", 1);
	if (req->version_minor == 0 && req->host.len && !ua)
		reason(out, "http10_with_host_no_agent", 1);
	out->cls = out->score >= SUSPICIOUS ? GW_BOT_SUSPICIOUS : GW_BOT_HUMAN;
}

/* ------------------------------------------------------------ cookies */

bool gw_cookie_get(const struct http_request *req, const char *name,
		   struct bw_str *out)
{
	size_t nl = strlen(name);
	const struct http_header *h = NULL;
	while ((h = http_header_next(req->headers, req->nheaders, "cookie", h))) {
		struct bw_str v = h->value;
		size_t i = 0;
		while (i < v.len) {
			while (i < v.len && (v.p[i] == ' ' || v.p[i] == ';'))
				i++;
			size_t start = i;
			while (i < v.len && v.p[i] != ';')
				i++;
			struct bw_str pair = bw_str_make(v.p + start, i - start);
			if (pair.len > nl && memcmp(pair.p, name, nl) == 0 &&
			    pair.p[nl] == '=') {
				*out = bw_str_make(pair.p + nl + 1, pair.len - nl - 1);
				return true;
			}
		}
	}
	return false;
}

/* ------------------------------------------------------------ tokens */

static int mac_hex(const uint8_t *key, size_t keylen, const char *msg,
		   char out[65])
{
	unsigned char mac[32];
	unsigned ml = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
		  strlen(msg), mac, &ml) || ml != 32)
		return -1;
	bw_hex_encode(mac, 32, out);
	return 0;
}

int gw_challenge_make(const uint8_t *key, size_t keylen, const char *ip,
		      int64_t expiry_s, char *out, size_t cap)
{
	char msg[128], mac[65];
	if (bw_snprintf(msg, sizeof(msg), "c1|%s|%lld", ip, (long long)expiry_s) < 0 ||
	    mac_hex(key, keylen, msg, mac) < 0)
		return -1;
	return bw_snprintf(out, cap, "c1.%lld.%s", (long long)expiry_s, mac) < 0 ? -1 : 0;
}

int gw_challenge_make_pow(const uint8_t *key, size_t keylen, const char *ip,
			  int64_t expiry_s, char *out, size_t cap)
{
	uint8_t nb[8];
	char nonce[17], msg[160], mac[65];
	bw_random(nb, sizeof(nb));
	bw_hex_encode(nb, sizeof(nb), nonce);
	if (bw_snprintf(msg, sizeof(msg), "p1|%s|%lld|%s", ip, (long long)expiry_s,
			nonce) < 0 ||
	    mac_hex(key, keylen, msg, mac) < 0)
		return -1;
	return bw_snprintf(out, cap, "p1.%lld.%s.%s", (long long)expiry_s, nonce,
			   mac) < 0 ? -1 : 0;
}

static bool next_field(struct bw_str *rest, struct bw_str *f)
{
	if (rest->len == 0 && rest->p == NULL)
		return false;
	const char *dot = memchr(rest->p, '.', rest->len);
	if (!dot) {
		*f = *rest;
		*rest = bw_str_make(NULL, 0);
		return true;
	}
	*f = bw_str_make(rest->p, (size_t)(dot - rest->p));
	*rest = bw_str_make(dot + 1, rest->len - f->len - 1);
	return true;
}

static unsigned leading_zero_bits(const unsigned char *d, size_t n)
{
	unsigned z = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == 0) {
			z += 8;
			continue;
		}
		z += (unsigned)__builtin_clz(d[i]) - 24;
		break;
	}
	return z;
}

bool gw_challenge_check(const uint8_t *key, size_t keylen, const char *ip,
			int64_t now_s, struct bw_str v, unsigned pow_bits)
{
	if (v.len == 0 || v.len > GW_CHALLENGE_COOKIE_MAX)
		return false;
	struct bw_str rest = v, kind, exp, nonce = { 0 }, mac, counter = { 0 };
	if (!next_field(&rest, &kind) || !next_field(&rest, &exp))
		return false;
	bool pow = bw_str_eq_lit(kind, "p1");
	if (!pow && !bw_str_eq_lit(kind, "c1"))
		return false;
	if (pow_bits > 0 && !pow)
		return false; /* pow demanded: a plain cookie is not enough */
	if (pow && !next_field(&rest, &nonce))
		return false;
	if (!next_field(&rest, &mac))
		return false;
	if (pow && !next_field(&rest, &counter))
		return false;
	if (rest.p != NULL)
		return false; /* trailing fields */
	uint64_t e;
	if (exp.len > 12 || bw_str_to_u64(exp, &e) < 0)
		return false;
	if (pow) {
		if (nonce.len != 16 || counter.len == 0 || counter.len > 20)
			return false;
		for (size_t i = 0; i < counter.len; i++)
			if (counter.p[i] < '0' || counter.p[i] > '9')
				return false;
	}
	char msg[160], want[65];
	int rc = pow ? bw_snprintf(msg, sizeof(msg), "p1|%s|%llu|%.*s", ip,
				   (unsigned long long)e, (int)nonce.len, nonce.p) :
		       bw_snprintf(msg, sizeof(msg), "c1|%s|%llu", ip,
				   (unsigned long long)e);
	if (rc < 0 || mac_hex(key, keylen, msg, want) < 0)
		return false;
	if (!bw_ct_equal(want, 64, mac.p, mac.len))
		return false;
	if ((int64_t)e < now_s)
		return false;
	if (!pow)
		return true;
	unsigned char d[32];
	unsigned dl = 0;
	if (!EVP_Digest(v.p, v.len, d, &dl, EVP_sha256(), NULL) || dl != 32)
		return false;
	return leading_zero_bits(d, 32) >= pow_bits;
}
