/*
 * application/x-www-form-urlencoded (the OAuth 2 request format, RFC 6749
 * appendix B) and HTTP Basic credentials (RFC 7617) — strict parsers for
 * the OIDC endpoints.
 *
 * Invariants: input is bounded (IAM_FORM_BODY_MAX bytes, IAM_FORM_FIELDS_MAX
 * fields); decoding never writes past the form's own buffer (decoded text
 * is never longer than its encoding); a malformed escape, a decoded control
 * character (including NUL) or a repeated parameter (RFC 6749 section 3.1:
 * "MUST NOT be included more than once") fails the whole form.
 */
#include "iam/iam_int.h"

#include <string.h>
#include <strings.h>

/* Decodes (p, n) into out (NUL-terminated); -1 on a bad escape or a
 * control character. */
static int decode(const char *p, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n || (hi = bw_hex_digit(p[i + 1])) < 0 ||
			    (lo = bw_hex_digit(p[i + 2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

int iam_form_parse(struct iam_form *f, const char *p, size_t n,
		   struct bw_err *err)
{
	memset(f, 0, sizeof(*f));
	if (n > IAM_FORM_BODY_MAX)
		return bw_err_set(err, 413, "iam", "too_large",
				  "form body too large");
	size_t used = 0;
	size_t i = 0;
	while (i < n) {
		size_t s = i;
		while (i < n && p[i] != '&')
			i++;
		size_t e = i++;
		if (e == s)
			continue; /* "a=1&&b=2" */
		const char *eq = memchr(p + s, '=', e - s);
		size_t nl = eq ? (size_t)(eq - (p + s)) : e - s;
		size_t vs = eq ? (size_t)(eq - p) + 1 : e;
		if (f->n == IAM_FORM_FIELDS_MAX)
			return bw_err_set(err, 400, "iam", "invalid_request",
					  "too many parameters");
		if (nl == 0 || nl > IAM_FORM_NAME_MAX)
			return bw_err_set(err, 400, "iam", "invalid_request",
					  "bad parameter name");
		/* Decoded text is at most as long as its encoding, plus two
		 * NULs per field: the buffer holds n + 2 * fields. */
		char *name = f->buf + used;
		if (decode(p + s, nl, name) < 0)
			return bw_err_set(err, 400, "iam", "invalid_request",
					  "bad form encoding");
		used += strlen(name) + 1;
		char *value = f->buf + used;
		if (decode(p + vs, e - vs, value) < 0)
			return bw_err_set(err, 400, "iam", "invalid_request",
					  "bad form encoding");
		used += strlen(value) + 1;
		if (iam_form_get(f, name))
			return bw_err_set(err, 400, "iam", "invalid_request",
					  "a parameter appears twice");
		f->names[f->n] = name;
		f->values[f->n] = value;
		f->n++;
	}
	return 0;
}

const char *iam_form_get(const struct iam_form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int iam_basic_parse(const char *v, size_t n, char *id, size_t idcap,
		    char *secret, size_t seccap)
{
	char raw[384], dec[384];
	size_t o = 0;
	if (n < 7 || strncasecmp(v, "Basic ", 6) != 0)
		return -1;
	v += 6;
	n -= 6;
	/* Standard base64 with padding, length a multiple of 4. */
	if (n == 0 || n % 4 || n / 4 * 3 > sizeof(raw) - 1)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int a = b64val(v[i]), b = b64val(v[i + 1]);
		int c = v[i + 2] == '=' ? -2 : b64val(v[i + 2]);
		int d = v[i + 3] == '=' ? -2 : b64val(v[i + 3]);
		bool last = i + 4 == n;
		if (a < 0 || b < 0 || c == -1 || d == -1 ||
		    (c == -2 && d != -2) || ((c == -2 || d == -2) && !last))
			return -1;
		raw[o++] = (char)(a << 2 | b >> 4);
		if (c >= 0)
			raw[o++] = (char)((b & 15) << 4 | c >> 2);
		if (d >= 0)
			raw[o++] = (char)((c & 3) << 6 | d);
	}
	raw[o] = 0;
	const char *colon = memchr(raw, ':', o);
	if (!colon || memchr(raw, 0, o))
		return -1;
	/* RFC 6749 section 2.3.1: both parts are form-urlencoded. */
	size_t il = (size_t)(colon - raw), sl = o - il - 1;
	int rc = -1;
	if (decode(raw, il, dec) == 0 && strlen(dec) < idcap &&
	    strlen(dec) > 0) {
		memcpy(id, dec, strlen(dec) + 1);
		if (decode(colon + 1, sl, dec) == 0 && strlen(dec) < seccap) {
			memcpy(secret, dec, strlen(dec) + 1);
			rc = 0;
		}
	}
	bw_wipe(raw, sizeof(raw));
	bw_wipe(dec, sizeof(dec));
	return rc;
}
