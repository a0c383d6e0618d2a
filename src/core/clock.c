/*
 * The settable wall clock. The pin and the offset are atomics so any thread
 * may read the clock while a test (or the admin test hook) changes it.
 */
#include "core/core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static _Atomic int64_t clock_pinned;  /* 0 = not pinned */
static _Atomic int64_t clock_offset;

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t bw_clock_now_ns(void)
{
	int64_t pinned = atomic_load_explicit(&clock_pinned, memory_order_relaxed);
	int64_t base = pinned ? pinned : read_clock(CLOCK_REALTIME);
	return base + atomic_load_explicit(&clock_offset, memory_order_relaxed);
}

int64_t bw_clock_now_s(void)
{
	return bw_clock_now_ns() / 1000000000LL;
}

int64_t bw_clock_mono_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

int64_t bw_clock_mono_ms(void)
{
	return read_clock(CLOCK_MONOTONIC) / 1000000LL;
}

void bw_clock_set(int64_t epoch_ns)
{
	atomic_store(&clock_offset, 0);
	atomic_store(&clock_pinned, epoch_ns);
}

void bw_clock_advance(int64_t delta_ns)
{
	atomic_fetch_add(&clock_offset, delta_ns);
}

size_t bw_time_format(int64_t epoch_ns, char out[32])
{
	time_t secs = (time_t)(epoch_ns / 1000000000LL);
	int ms = (int)((epoch_ns % 1000000000LL) / 1000000LL);
	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	struct tm tm;
	gmtime_r(&secs, &tm);
	int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	if (n < 0 || n >= 32) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)n;
}
