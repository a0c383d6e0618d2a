/* Shared by the unit tests of the browser half (test_iam_webauthn,
 * test_iam_pages): a store in a fresh temporary directory and an identity
 * core over it with an in-process sealer, and their removal. */
#ifndef BW_IAM_TESTLIB_H
#define BW_IAM_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>

#include "iam/iam_int.h"

/* dir: 64 bytes, filled with the directory made. 0 or -1. */
static inline int iam_test_open(char dir[64], struct store **st,
				struct iam **iam)
{
	struct bw_err err;
	char path[128];
	uint8_t key[32] = {7};
	bw_snprintf(dir, 64, "/tmp/bw-iam-web-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	bw_snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = {.path = path,
				   .durability = STORE_DURABILITY_NORMAL};
	*st = store_open(&so, &err);
	struct iam_options o = {.store = *st};
	if (!*st || iam_sealer_local(&o.sealer, key, &err) < 0 ||
	    !(*iam = iam_new(&o, &err)))
		return -1;
	return 0;
}

static inline int iam_test_close(const char *dir, struct store *st,
				 struct iam *iam)
{
	char cmd[128];
	iam_free(iam);
	store_close(st);
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
