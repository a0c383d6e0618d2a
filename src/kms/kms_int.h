/* Internals of the kms module shared between its files. */
#ifndef BW_KMS_INT_H
#define BW_KMS_INT_H

#include "kms/kms.h"
#include "kms/kms_limits.h"

/* Standard base64 (RFC 4648 §4, padded), as the REST API and CLI carry
 * binary values. encode returns the length written (NUL-terminated) or 0
 * when cap is too small; decode is strict (padding required, no
 * whitespace, no url-safe characters) and returns 0 or -1. */
size_t kms_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
int kms_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		   size_t *outlen) BW_WUR;

#endif
