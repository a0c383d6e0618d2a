/*
 * Which admin routes are sensitive enough to need a recent step-up from a
 * human session: named by audit action, so one list says it for every
 * module without touching their route tables. The built-in list below
 * covers the other modules' destructive and privilege-changing actions;
 * the identity module adds its own (iam_api.c, R_STEPUP) at start-up.
 *
 * The check itself is in api.c (step_up_check): only sessions are asked;
 * API keys and the bootstrap token are exempt, since machines have no
 * second factor to present (docs/identity-mfa.md says so to operators).
 *
 * Invariant: the registered set only grows during start-up and is
 * read-only once the workers serve, so lookups take no lock.
 */
#include "api/api_int.h"

#include <string.h>

static const char *const builtin[] = {
	/* authorization: granting or revoking platform roles */
	"authz.role.grant", "authz.role.revoke",
	/* keystore: destroying, exporting, importing keys; master-key and
	 * seal operations */
	"kms.key.destroy", "kms.key.schedule_destroy", "kms.key.export",
	"kms.key.import", "kms.sys.rotate_master", "kms.sys.seal",
	"kms.sys.unseal_reset",
	/* certificates: revocation, CA import and retirement, issuance policy,
	 * ACME external account keys */
	"pki.cert.revoke", "pki.ca.retire", "pki.ca.import", "pki.policy.set",
	"pki.acme.eab.create",
	/* SIEM: deleting evidence or blinding detection */
	"siem.retention.run", "siem.rule.delete", "siem.rule.disable",
	"siem.source.revoke",
};

static const char *registered[API_MAX_STEP_UP];
static size_t nregistered;

int api_step_up_require(const char *const *actions, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!actions[i] || nregistered == API_MAX_STEP_UP)
			return -1;
		registered[nregistered++] = actions[i];
	}
	return 0;
}

bool api_step_up_needed(const char *action)
{
	if (!action)
		return false;
	for (size_t i = 0; i < BW_ARRAY_LEN(builtin); i++)
		if (strcmp(builtin[i], action) == 0)
			return true;
	for (size_t i = 0; i < nregistered; i++)
		if (strcmp(registered[i], action) == 0)
			return true;
	return false;
}
