/*
 * Fuzz target: the OCSP request parser (pki_ocsp_req_parse) over DER, and
 * the GET form's path decoder (pki_http_ocsp_get_decode) feeding it. The
 * first byte picks the entry point.
 */
#include <stdint.h>

#include "pki/pki_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct pki_ocsp_req r;
	struct bw_err err;
	if (data[0] & 1) {
		uint8_t der[PKI_OCSP_REQ_MAX];
		size_t n;
		if (pki_http_ocsp_get_decode((const char *)data + 1, size - 1, der,
					     sizeof(der), &n) < 0)
			return 0;
		if (pki_ocsp_req_parse(der, n, &r, &err) == 0)
			pki_ocsp_req_fini(&r);
		return 0;
	}
	if (pki_ocsp_req_parse(data + 1, size - 1, &r, &err) == 0)
		pki_ocsp_req_fini(&r);
	return 0;
}
