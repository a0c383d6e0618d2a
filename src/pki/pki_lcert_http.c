/*
 * pki_lcert_http.c — the blocking HTTP client of the listener-certificate
 * manager (ACME client requests, OCSP fetches for stapling).
 *
 * Why not net_fetch: the ACME protocol needs two response headers
 * (Replay-Nonce, Location) that net_fetch does not report, and every step
 * of an ACME run depends on the previous one, so the manager's own thread
 * runs the requests one after another with libcurl's easy interface. The
 * defaults are net_fetch's: http/https only, no redirects, TLS 1.2 or
 * newer with peer and host verification, no proxy from the environment,
 * bounded body and time.
 */
#include "pki/pki_lcert_int.h"

#include <curl/curl.h>
#include <string.h>
#include <strings.h>

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct pki_http_resp *r = arg;
	size_t len = size * n;
	if (bw_buf_append(&r->body, p, len) < 0)
		return 0; /* over the ceiling: curl fails the transfer */
	return len;
}

/* Copies the value of header `name` (case-insensitive) when line is it. */
static void header_value(const char *line, size_t len, const char *name,
			 char *out, size_t cap)
{
	size_t nl = strlen(name);
	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t n = (size_t)(end - v);
	if (n >= cap)
		return; /* too long to be valid: left empty, the caller fails */
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct pki_http_resp *r = arg;
	size_t len = size * n;
	header_value(p, len, "Replay-Nonce", r->nonce, sizeof(r->nonce));
	header_value(p, len, "Location", r->location, sizeof(r->location));
	header_value(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
	return len;
}

/* libcurl's progress hook: non-zero aborts (the manager is stopping). */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	return pki_lcert_stopping(arg) ? 1 : 0;
}

int pki_http_do(const char *method, const char *url, const char *ca_file,
		const char *ctype, const void *body, size_t len, const char *header,
		struct pki_lcert *stop, struct pki_http_resp *r, struct bw_err *err)
{
	memset(r, 0, sizeof(*r));
	bw_buf_init(&r->body, PKI_LCERT_HTTP_BODY_MAX);
	CURL *c = curl_easy_init();
	if (!c)
		return bw_err_set(err, 500, PKI_MOD, "fetch", "curl_easy_init failed");
	struct curl_slist *hdrs = NULL;
	char cth[160];
	if (ctype) {
		bw_snprintf(cth, sizeof(cth), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, cth);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (header)
		hdrs = curl_slist_append(hdrs, header);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)PKI_LCERT_HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bulwark-acme/1");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	if (stop) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, stop);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc != CURLE_OK) {
		ret = bw_err_set(err, 502, PKI_MOD, "fetch", "%s: %s", url,
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		pki_http_resp_fini(r);
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

void pki_http_resp_fini(struct pki_http_resp *r)
{
	bw_buf_fini(&r->body);
}
