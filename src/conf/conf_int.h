/*
 * conf internals shared by the loader, the converters and the binder. No
 * other module includes this file.
 */
#ifndef BW_CONF_INT_H
#define BW_CONF_INT_H

#include <stdarg.h>

#include "conf/conf.h"

/* The one formatter behind conf_err/conf_err_key: "FILE:L:C: path: msg".
 * at_key selects the key's position instead of the value's. Returns -1. */
int conf_verr(const struct conf_node *node, struct bw_err *err, int code,
	      const char *reason, bool at_key, const char *fmt, va_list ap)
    BW_PRINTF(6, 0);

/* Like conf_err but with an explicit code (413 for limits, 500 for
 * arena exhaustion). */
int conf_err_code(const struct conf_node *node, struct bw_err *err, int code,
		  const char *reason, const char *fmt, ...) BW_PRINTF(5, 6);

/* The entry of cands (NULL-terminated) closest to word by edit distance,
 * or NULL when none is close enough to be a plausible typo. */
const char *conf_suggest(const char *word, const char *const *cands);

/* Levenshtein distance of a and b, or SIZE_MAX if either is longer than
 * CONF_SUGGEST_MAX_LEN. */
size_t conf_edit_distance(const char *a, const char *b);

/* A scalar node that stands for a binder default: line 0, no key, doc and
 * parent borrowed from the mapping being bound (either may be NULL). */
void conf_default_node(struct conf_node *out, const struct conf_node *map,
		       const char *key, const char *text);

#endif
