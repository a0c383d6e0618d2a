/* Fuzz target: the reload payload the worker receives from the supervisor
 * (config text, NUL, then length-prefixed TLS files). A decoded payload is
 * re-encoded and must decode to the same files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server_files f, g;
	size_t tl, tl2;
	if (server_files_decode((const char *)data, size, &f, &tl) < 0)
		return 0;
	struct bw_buf b;
	bw_buf_init(&b, 64 << 20);
	if (server_files_encode(&f, (const char *)data, tl, &b) < 0)
		abort();
	if (server_files_decode(b.data, b.len, &g, &tl2) < 0 || tl2 != tl ||
	    g.n != f.n)
		abort();
	for (size_t i = 0; i < f.n; i++)
		if (strcmp(f.f[i].path, g.f[i].path) != 0 || f.f[i].len != g.f[i].len ||
		    memcmp(f.f[i].data, g.f[i].data, f.f[i].len) != 0)
			abort();
	server_files_wipe(&f);
	server_files_wipe(&g);
	bw_buf_fini(&b);
	return 0;
}
