/*
 * Fuzz target for the whole-file verifier (audit_verify_buf): arbitrary
 * bytes as an audit log, including its look-ahead across lines. It must
 * not crash, and it must either accept or name a fault with a line number
 * inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_verify_opts o = { .require_signed_tail = size & 1 };
	struct audit_verify_result res;
	int rc = audit_verify_buf((const char *)data, size, &o, &res);
	if (rc == 0 && res.fault != AUDIT_FAULT_NONE)
		abort();
	if (rc < 0 && res.fault == AUDIT_FAULT_NONE)
		abort();
	if (res.valid_bytes > size || res.records > res.lines + 1)
		abort();
	if (rc < 0 && res.line == 0)
		abort();
	return 0;
}
