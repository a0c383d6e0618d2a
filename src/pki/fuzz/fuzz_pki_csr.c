/*
 * Fuzz target: the CSR parser and validator (pki_csr_parse) followed by
 * the policy check every issuance runs, over arbitrary bytes (DER or PEM).
 * The first byte picks the size bound so both the default and the hard
 * limit paths are exercised.
 */
#include <stdint.h>
#include <stdlib.h>

#include "pki/pki_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] =
	"{\"dns\":[\"example.com\",\"*.example.com\",\".svc.example.com\"],"
	"\"ip\":[\"10.0.0.0/8\",\"2001:db8::/32\"],\"uri\":[\"spiffe://example.org/\"],"
	"\"cn\":[\"Signer*\"],\"allow_wildcards\":true}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pki_policy pol;
	static int ready;
	if (!ready) {
		struct bw_err err;
		if (pki_policy_parse(policy, sizeof(policy) - 1, &pol, &err) < 0)
			abort();
		ready = 1;
	}
	if (size < 1)
		return 0;
	size_t max = data[0] & 1 ? PKI_CSR_MAX_DEFAULT : PKI_CSR_MAX_HARD;
	struct pki_csr c;
	struct bw_err err;
	if (pki_csr_parse((const char *)data + 1, size - 1, max, &c, &err) == 0) {
		static const enum pki_profile profs[] = {
			PKI_PROFILE_TLS_SERVER, PKI_PROFILE_TLS_CLIENT,
			PKI_PROFILE_SERVICE, PKI_PROFILE_CODE_SIGNING,
		};
		(void)pki_policy_check(&pol, profs[data[0] >> 6], c.key_type, c.cn,
				       &c.names, 3600, &err);
		pki_csr_fini(&c);
	}
	return 0;
}
