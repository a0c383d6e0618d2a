/* HTTP driver for the vector runner: not yet written; the runner refuses
 * --url until it is. */
#include <stddef.h>

#include "authz_vectors.h"

struct vec_driver *vec_http_driver(const char *url, const char *token)
{
	(void)url;
	(void)token;
	return NULL;
}
