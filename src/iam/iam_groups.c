/*
 * Group changes after creation (iam_user.c creates, lists and deletes
 * groups and keeps memberships): renaming and a new description. A rename
 * keeps the id, so memberships and role assignments ("group:ID#member")
 * follow the group; the name stays unique per tenant without regard to
 * ASCII case, as at creation.
 */
#include "iam/iam_int.h"

#include <string.h>

int iam_group_update(struct iam *iam, const char *tenant, const char *id,
		     const char *name, const char *description,
		     struct bw_err *err)
{
	struct iam_group g;
	if (iam_group_get(iam, tenant, id, &g, err) < 0)
		return -1;
	if (name && !iam_valid_name(name))
		return bw_err_set(err, 400, "iam", "bad_name", "bad group name");
	if (!iam_text_ok(description))
		return bw_err_set(err, 400, "iam", "bad_text",
				  "description too long or with control "
				  "characters");
	char key[IAM_NAME_MAX + 1];
	const char *n = name ? name : g.name;
	iam_name_key(n, key, sizeof(key));
	struct store_value v[] = {store_text_str(n), store_text_str(key),
				  store_text_str(description ? description
							     : g.description),
				  store_text_str(tenant), store_text_str(id)};
	if (store_exec(iam->store,
		       "UPDATE iam_group SET name = ?, name_key = ?,"
		       " description = ? WHERE tenant = ? AND id = ?",
		       v, 5, NULL, err) < 0) {
		if (err && err->code == 409)
			bw_err_set(err, 409, "iam", "conflict", "group name taken");
		return -1;
	}
	return 0;
}
