/*
 * Fuzz target: the pki config section binder (pki_conf_bind) over
 * arbitrary YAML text — listener certificates, identities, expiry
 * thresholds, ACME validation targets — through the conf module's bounded
 * loader, as `bulwark config check` and every reload run it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "conf/conf.h"
#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pki_conf pc;
	struct bw_err err;
	struct bw_arena *a = bw_arena_new(4096, 4u << 20);
	if (!a)
		return 0;
	struct conf_doc *doc = conf_load_string("fuzz.yaml", (const char *)data, size, a, &err);
	if (doc && pki_conf_bind(conf_get(doc->root, "pki"), a, &pc, &err) == 0) {
		/* what the daemon relies on after a successful bind */
		if (pc.nspecs > PKI_LCERT_MAX || pc.nalerts > PKI_LCERT_ALERTS_MAX)
			abort();
		for (size_t i = 0; i < pc.nspecs; i++)
			if (!pc.specs[i].identity &&
			    (pc.specs[i].nnames == 0 || pc.specs[i].nnames > PKI_LCERT_NAMES_MAX))
				abort();
	}
	bw_arena_free(a);
	return 0;
}
