/*
 * Fuzz target for the role-subject decoder (authz_subject_decode): the
 * {subject} segment of PUT/DELETE /api/v1/authz/tenants/{t}/roles/{r}/
 * members/{subject}, untrusted URL bytes. Invariants checked on every
 * input: the decoder never writes past its buffer, an accepted subject is
 * NUL-terminated, no longer than the input, free of NUL and control
 * bytes, has the TYPE:ID[#RELATION] shape, and decoding it again (it has
 * no '%' left to decode unless one was encoded) is stable when it holds
 * no '%'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authz/authz_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[AUTHZ_SUBJECT_MAX + 1];
	int n = authz_subject_decode((const char *)data, size, out, sizeof(out));
	if (n < 0)
		return 0;
	if ((size_t)n > size || (size_t)n > AUTHZ_SUBJECT_MAX || out[n] != 0 ||
	    strlen(out) != (size_t)n || !strchr(out, ':'))
		abort();
	for (int i = 0; i < n; i++)
		if ((unsigned char)out[i] <= 0x20 || (unsigned char)out[i] >= 0x7f)
			abort();
	if (!strchr(out, '%')) {
		char again[AUTHZ_SUBJECT_MAX + 1];
		if (authz_subject_decode(out, (size_t)n, again, sizeof(again)) != n ||
		    memcmp(again, out, (size_t)n + 1) != 0)
			abort();
	}
	return 0;
}
