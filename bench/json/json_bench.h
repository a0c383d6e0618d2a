/* Shared between the two halves of json_bench (see json_bench.c). */
#ifndef BW_JSON_BENCH_H
#define BW_JSON_BENCH_H

#include <stddef.h>

struct line {
	const char *p;
	size_t len;
};

double bench_now(void);
/* Parses every line with jansson; returns the seconds taken. */
double run_jansson(const struct line *lines, size_t n, size_t *sink);
const char *bench_jansson_version(void);

#endif
