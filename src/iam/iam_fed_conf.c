/*
 * The iam section's keys for the public origin, the password blocklist
 * and federation, bound
 * into struct iam_fed_conf (the runtime never sees YAML):
 *
 *   iam:
 *     public_url: https://id.example   # issuer origin for OIDC and the
 *                                      # federation redirect URIs; unset:
 *                                      # the origin each request used
 *     blocklist_file: /etc/bulwark/breached.txt  # passwords refused by
 *                                      # every tenant's policy (format in
 *                                      # docs/identity.md)
 *     federation:
 *       ca_file: /etc/bulwark/upstream-ca.pem   # trust anchors for
 *                                               # upstream providers;
 *                                               # unset: the system store
 *
 * The other iam keys (pages, otp) are bound by iam_pages_conf.c.
 */
#include "iam/iam_int.h"
#include "conf/conf.h"

#include <string.h>

int iam_fed_conf_bind(const struct conf_node *iam_section,
		      struct iam_fed_conf *c, struct bw_err *err)
{
	memset(c, 0, sizeof(*c));
	if (!iam_section)
		return 0;
	if (conf_opt_str(iam_section, "public_url", NULL, &c->public_url, err) < 0)
		return -1;
	const struct conf_node *bl = conf_get(iam_section, "blocklist_file");
	if (bl && conf_as_path(bl, &c->blocklist_file, err) < 0)
		return -1;
	if (c->public_url) {
		size_t n = strlen(c->public_url);
		if ((strncmp(c->public_url, "https://", 8) != 0 &&
		     strncmp(c->public_url, "http://", 7) != 0) ||
		    n >= 256 || c->public_url[n - 1] == '/' ||
		    strchr(c->public_url + 8, '/'))
			return conf_err_key(conf_get(iam_section, "public_url"),
					    err, "range",
					    "must be an origin like "
					    "https://id.example (no path, no "
					    "trailing '/')");
	}
	const struct conf_node *f = conf_get(iam_section, "federation");
	if (!f)
		return 0;
	static const char *const keys[] = {"ca_file", NULL};
	if (conf_check_keys(f, keys, err) < 0)
		return -1;
	const struct conf_node *ca = conf_get(f, "ca_file");
	if (ca && conf_as_path(ca, &c->ca_file, err) < 0)
		return -1;
	return 0;
}
