/*
 * Error reports (struct bw_err) and the abort path for broken invariants.
 * bw_err_openssl drains OpenSSL's thread-local error queue so a later
 * failure never reports a stale cause.
 */
#include "core/core.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void bw_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "bulwark: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}

static void copy_trunc(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int bw_err_set(struct bw_err *err, int code, const char *module,
	       const char *reason, const char *fmt, ...)
{
	if (!err)
		return -1;
	err->code = code;
	copy_trunc(err->module, sizeof(err->module), module);
	copy_trunc(err->reason, sizeof(err->reason), reason);
	va_list ap;
	va_start(ap, fmt);
	/* Truncation of a message is acceptable: it is diagnostic text. */
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	return -1;
}

int bw_err_openssl(struct bw_err *err, const char *module, const char *what)
{
	char detail[200] = "";
	unsigned long e;
	size_t used = 0;
	while ((e = ERR_get_error()) != 0) {
		if (used + 2 < sizeof(detail)) {
			char one[120];
			ERR_error_string_n(e, one, sizeof(one));
			int n = snprintf(detail + used, sizeof(detail) - used,
					 "%s%s", used ? "; " : "", one);
			if (n > 0)
				used += (size_t)n < sizeof(detail) - used ?
						(size_t)n :
						sizeof(detail) - used - 1;
		}
	}
	return bw_err_set(err, 500, module, "openssl", "%s%s%s", what,
			  used ? ": " : "", detail);
}

void bw_err_clear(struct bw_err *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}
