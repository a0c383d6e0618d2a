/* Fuzz target: the foundation config, from YAML text to the bound and
 * cross-checked struct server_conf. */
#include <stdint.h>
#include <stdlib.h>

#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_arena *a = bw_arena_new(16384, 64 << 20);
	struct server_conf c;
	struct bw_err err;
	log_set_level(BW_LOG_ERROR);
	if (server_conf_load_text("/fuzz/bulwark.yaml", (const char *)data, size, a,
				  &c, &err) == 0) {
		/* A config that loads must be internally consistent. */
		if (c.listeners.n == 0 || !c.server.data_dir || !c.server.run_dir)
			abort();
		if (http_limits_check(&c.limits, &err) != 0)
			abort();
	}
	bw_arena_free(a);
	return 0;
}
