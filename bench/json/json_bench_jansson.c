/*
 * The jansson half of json_bench: json_loadb() with duplicate keys
 * rejected (the same checks bulwark's reader makes), then json_decref().
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "json_bench.h"

const char *bench_jansson_version(void)
{
	return JANSSON_VERSION;
}

double run_jansson(const struct line *lines, size_t n, size_t *sink)
{
	double t0 = bench_now();
	json_error_t jerr;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_loadb(lines[i].p, lines[i].len,
				       JSON_REJECT_DUPLICATES, &jerr);
		if (!v) {
			fprintf(stderr, "jansson rejected line %zu: %s\n", i,
				jerr.text);
			exit(1);
		}
		*sink += json_object_size(v);
		json_decref(v);
	}
	return bench_now() - t0;
}
