/*
 * fuzz_iam_fed — libFuzzer target for what an upstream identity provider
 * or a browser controls in federation (iam_fed.c): discovery documents,
 * token endpoint responses, the Cookie header, return_to paths, the Host
 * header turned into an origin, and URLs of provider settings.
 *
 * The first byte picks the parser; the rest is the input.
 * Properties (abort on violation): an accepted discovery document names
 * exactly the expected issuer and three endpoints that pass url_ok; an
 * accepted token response yields a NUL-terminated id_token within its
 * bound; a cookie value never contains ';'; an accepted return_to starts
 * with the tenant's /auth/ or /oidc/.../authorize path and holds no "//",
 * "/.." or backslash; an origin built from Host is scheme://host only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../iam_fed.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_iam_fed: %s failed (%s:%d)\n",   \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

#define ISSUER "https://up.example/oidc/corp"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > IAM_FED_DOC_MAX)
		return 0;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	/* NUL-terminated copy for the string helpers. */
	char *s = malloc(n + 1);
	if (!s)
		return 0;
	memcpy(s, in, n);
	s[n] = 0;
	struct bw_err err;
	switch (data[0] % 6) {
	case 0: {
		struct fed_meta m;
		if (fed_parse_discovery(in, n, ISSUER, &m, &err) == 0) {
			CHECK(strcmp(m.issuer, ISSUER) == 0);
			CHECK(url_ok(m.authorization_endpoint, IAM_FED_URL_MAX));
			CHECK(url_ok(m.token_endpoint, IAM_FED_URL_MAX));
			CHECK(url_ok(m.jwks_uri, IAM_FED_URL_MAX));
		} else {
			CHECK(err.code == 502 || err.code == 500);
		}
		break;
	}
	case 1: {
		static char id[IAM_FED_ID_TOKEN_MAX + 1];
		if (fed_parse_token_response(in, n, id, sizeof(id), &err) == 0)
			CHECK(strlen(id) < sizeof(id) && id[0]);
		else
			CHECK(id[0] == 0);
		break;
	}
	case 2: {
		char v[128];
		if (cookie_value(bw_str_make(in, n), "__Host-bw-fed-acme", v, sizeof(v)))
			CHECK(!strchr(v, ';') && strlen(v) < sizeof(v));
		break;
	}
	case 3:
		if (strlen(s) == n && return_to_ok("acme", s)) {
			CHECK(strncmp(s, "/auth/acme/", 11) == 0 ||
			      strncmp(s, "/oidc/acme/authorize", 20) == 0);
			CHECK(!strstr(s, "//") && !strstr(s, "/..") && !strchr(s, '\\'));
		}
		break;
	case 4: {
		char o[300];
		if (iam_http_origin(NULL, bw_str_make(in, n), (n & 1) != 0, o, sizeof(o)) >= 0) {
			const char *h = strstr(o, "://");
			CHECK(h && !strchr(h + 3, '/') && !strchr(h + 3, '@') &&
			      !strchr(h + 3, '?') && !strchr(h + 3, '#'));
		}
		break;
	}
	default:
		if (strlen(s) == n && url_ok(s, IAM_FED_URL_MAX))
			CHECK(strncmp(s, "https://", 8) == 0 || loopback_http(s));
		break;
	}
	free(s);
	return 0;
}
