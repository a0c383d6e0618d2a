/*
 * Fuzz target: the OCSP request parser (pki_ocsp_req_parse) over DER, and
 * the GET form's path decoder (pki_http_ocsp_get_decode) feeding it. The
 * first byte picks the entry point. Every input also goes through the
 * fast path (pki_ocsp_req_fast): whatever it accepts, the full parser must
 * accept too, with the same hash algorithm, hashes and serial.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void differential(const uint8_t *der, size_t n)
{
	struct pki_ocsp_req f, r;
	struct bw_err err;
	if (!pki_ocsp_req_fast(der, n, &f))
		return;
	if (pki_ocsp_req_parse(der, n, &r, &err) < 0)
		abort(); /* the fast path accepted what the full parser refuses */
	if (f.hash_nid != r.hash_nid || f.serial_len != r.serial_len ||
	    memcmp(f.serial, r.serial, r.serial_len) != 0 ||
	    f.name_hash_len != r.name_hash_len ||
	    memcmp(f.name_hash, r.name_hash, r.name_hash_len) != 0 ||
	    memcmp(f.key_hash, r.key_hash, r.key_hash_len) != 0 || r.has_nonce)
		abort();
	pki_ocsp_req_fini(&r);
}

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
		differential(der, n);
		if (pki_ocsp_req_parse(der, n, &r, &err) == 0)
			pki_ocsp_req_fini(&r);
		return 0;
	}
	differential(data + 1, size - 1);
	if (pki_ocsp_req_parse(data + 1, size - 1, &r, &err) == 0)
		pki_ocsp_req_fini(&r);
	return 0;
}
