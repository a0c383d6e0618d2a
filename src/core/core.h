/*
 * core — the pieces every bulwark module shares: error reports, diagnostic
 * logging, the settable clock, constant-time comparison, length-carrying
 * strings, bounded growable buffers and request arenas.
 *
 * Invariants kept here:
 *  - a struct bw_buf never grows past the ceiling given at init;
 *  - every arena allocation dies with the arena, and registered cleanups run
 *    in reverse order of registration when it does;
 *  - all time in bulwark is read through bw_clock_*(), so tests can set it.
 *
 * The event loop, timers, thread pool and event bus have their own header,
 * core/loop.h, because only the runtime needs them; libraries (parsers,
 * crypto, store) need nothing beyond this file.
 */
#ifndef BW_CORE_H
#define BW_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define BULWARK_VERSION "0.1.0"

#define BW_WUR __attribute__((warn_unused_result))
#define BW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define BW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Broken invariant: abort with file and line. Never used for bad input. */
#define BW_ASSERT(cond)                                                        \
	do {                                                                   \
		if (__builtin_expect(!(cond), 0))                              \
			bw_assert_fail(#cond, __FILE__, __LINE__);             \
	} while (0)
_Noreturn void bw_assert_fail(const char *expr, const char *file, int line);

/* ---------------------------------------------------------------- errors */

/*
 * Error detail travels in a struct bw_err filled by the failing function;
 * the return value says only that it failed. `code` is a module status or
 * an HTTP-like class (400 bad input, 404 not found, 409 conflict, 413 too
 * large, 500 internal, 503 overloaded); `reason` is a short stable token
 * (e.g. "dup_content_length") that logs and tests can match on.
 */
struct bw_err {
	int code;
	char module[16];
	char reason[48];
	char msg[256];
};

/* Fills err (which may be NULL) and returns -1 so callers can
 * `return bw_err_set(...)`. */
int bw_err_set(struct bw_err *err, int code, const char *module,
	       const char *reason, const char *fmt, ...) BW_PRINTF(5, 6);
/* Like bw_err_set, then appends OpenSSL's queued errors to msg and clears
 * the queue so nothing stale is reported later. */
int bw_err_openssl(struct bw_err *err, const char *module, const char *what);
void bw_err_clear(struct bw_err *err);

/* --------------------------------------------------------------- logging */

enum bw_log_level { BW_LOG_DEBUG, BW_LOG_INFO, BW_LOG_WARN, BW_LOG_ERROR };

/*
 * Diagnostic logs for operators: one JSON object per line to stderr (or the
 * fd given to log_init) with time, level, process role and message. Never
 * pass secrets, tokens, passwords or bodies to these.
 */
void log_init(const char *role, enum bw_log_level min, int fd);
void log_set_role(const char *role);
void log_set_level(enum bw_log_level min);
bool log_enabled(enum bw_log_level level);
void log_debug(const char *fmt, ...) BW_PRINTF(1, 2);
void log_info(const char *fmt, ...) BW_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) BW_PRINTF(1, 2);
/* log_warn appends strerror(errno). */
void log_warn(const char *fmt, ...) BW_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) BW_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) BW_PRINTF(1, 2);
/* One log line with extra key/value string pairs (keys are literals,
 * values are escaped): log_kv(BW_LOG_WARN, "http rejected", "reason", r, NULL) */
void log_kv(enum bw_log_level level, const char *msg, ...);

/* ----------------------------------------------------------------- clock */

/*
 * One clock for the whole process. Real time comes from CLOCK_REALTIME;
 * tests may pin it (bw_clock_set) or shift it (bw_clock_advance), and every
 * time-dependent rule (TOTP windows, lockouts, expiry, retention) reads it
 * here, so they can be tested without sleeping. Monotonic time for
 * timeouts and latency is separate and not settable.
 */
int64_t bw_clock_now_ns(void);   /* wall clock, ns since the Unix epoch */
int64_t bw_clock_now_s(void);
int64_t bw_clock_mono_ns(void);  /* CLOCK_MONOTONIC */
int64_t bw_clock_mono_ms(void);
void bw_clock_set(int64_t epoch_ns);     /* pin the wall clock; 0 unpins */
void bw_clock_advance(int64_t delta_ns); /* shift the wall clock */
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-23T10:00:00.123Z; out must
 * hold 32 bytes. Returns the length written. */
size_t bw_time_format(int64_t epoch_ns, char out[32]);

/* --------------------------------------------------------------- secrets */

/* Constant-time equality of two byte strings; lengths are compared first
 * (their equality is not secret). */
bool bw_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
void bw_wipe(void *p, size_t n);
/* Cryptographically secure random bytes; aborts if the kernel cannot give
 * them, since every caller would otherwise fail open. */
void bw_random(void *out, size_t n);

/* --------------------------------------------------------------- strings */

/* A borrowed (pointer, length) view; never assumed NUL-terminated. */
struct bw_str {
	const char *p;
	size_t len;
};
#define BW_STR(lit) ((struct bw_str){ (lit), sizeof(lit) - 1 })
static inline struct bw_str bw_str_make(const char *p, size_t len)
{
	return (struct bw_str){ p, len };
}
bool bw_str_eq(struct bw_str a, struct bw_str b);
/* Inline so that a literal's strlen folds to a constant: header-name
 * comparisons run dozens of times per proxied request. */
static inline bool bw_str_eq_lit(struct bw_str a, const char *lit)
{
	size_t n = strlen(lit);
	return a.len == n && (n == 0 || memcmp(a.p, lit, n) == 0);
}
static inline bool bw_str_caseeq_lit(struct bw_str a, const char *lit)
{
	size_t n = strlen(lit);
	return a.len == n && (n == 0 || strncasecmp(a.p, lit, n) == 0);
}
/* Parse a decimal unsigned integer with no sign, spaces or overflow. */
int bw_str_to_u64(struct bw_str s, uint64_t *out) BW_WUR;
/* The value of one hex digit (either case), or -1. */
int bw_hex_digit(char c);
/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void bw_hex_encode(const void *in, size_t n, char *out);
int bw_hex_decode(const char *in, size_t inlen, void *out, size_t outcap,
		  size_t *outlen) BW_WUR;
/* snprintf that reports truncation as -1 instead of a longer length. */
int bw_snprintf(char *out, size_t cap, const char *fmt, ...) BW_PRINTF(3, 4);

/* --------------------------------------------------------------- buffers */

/*
 * A growable byte buffer with a hard ceiling set at init. Appends that
 * would pass the ceiling fail with -1 and leave the buffer unchanged.
 * data is always NUL-terminated one past len for convenience (the NUL is
 * not counted), so cap >= len + 1 whenever data != NULL.
 */
struct bw_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};
void bw_buf_init(struct bw_buf *b, size_t max);
void bw_buf_fini(struct bw_buf *b);  /* frees, wipes nothing */
void bw_buf_wipe_fini(struct bw_buf *b); /* wipes, then frees */
void bw_buf_reset(struct bw_buf *b); /* len = 0, keeps memory */
/* The slow path of bw_buf_reserve: checks the ceiling and grows. */
int bw_buf_grow(struct bw_buf *b, size_t extra) BW_WUR;
/* Room for extra more bytes and the NUL. Inline because appends run
 * dozens of times per request and almost always fit: cap never passes
 * max + 1, so fitting in cap also means within the ceiling. */
static inline BW_WUR int bw_buf_reserve(struct bw_buf *b, size_t extra)
{
	if (__builtin_expect(b->cap > b->len && extra < b->cap - b->len, 1))
		return 0;
	return bw_buf_grow(b, extra);
}
static inline BW_WUR int bw_buf_append(struct bw_buf *b, const void *p, size_t n)
{
	if (bw_buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}
int bw_buf_append_str(struct bw_buf *b, const char *s) BW_WUR;
int bw_buf_append_byte(struct bw_buf *b, char c) BW_WUR;
int bw_buf_printf(struct bw_buf *b, const char *fmt, ...) BW_WUR BW_PRINTF(2, 3);
/* Drop the first n bytes (consumed input). */
void bw_buf_consume(struct bw_buf *b, size_t n);
/* Hand the memory to the caller (free() it); the buffer becomes empty. */
char *bw_buf_detach(struct bw_buf *b, size_t *len);

/* ---------------------------------------------------------------- arenas */

/*
 * A region allocator for request-, batch- and config-generation-scoped
 * data. Allocations are 16-byte aligned and freed all at once by
 * bw_arena_free, which first runs registered cleanups (LIFO). The arena has
 * a byte ceiling; past it allocation returns NULL.
 */
struct bw_arena;
struct bw_arena *bw_arena_new(size_t block_size, size_t max_bytes);
void bw_arena_free(struct bw_arena *a); /* accepts NULL */
void *bw_arena_alloc(struct bw_arena *a, size_t n);
void *bw_arena_zalloc(struct bw_arena *a, size_t n);
char *bw_arena_strndup(struct bw_arena *a, const char *s, size_t n);
char *bw_arena_strdup(struct bw_arena *a, const char *s);
char *bw_arena_printf(struct bw_arena *a, const char *fmt, ...) BW_PRINTF(2, 3);
int bw_arena_cleanup(struct bw_arena *a, void (*fn)(void *), void *arg) BW_WUR;
size_t bw_arena_used(const struct bw_arena *a);

/* ------------------------------------------------------------ allocation */

/* malloc/calloc/strdup that abort on failure: for boot-time allocation
 * only, where there is nothing sensible to do but stop. */
void *bw_xmalloc(size_t n);
void *bw_xcalloc(size_t n, size_t size);
char *bw_xstrdup(const char *s);

/* Read a whole file of at most max bytes. Returns malloc'd, NUL-terminated
 * memory (caller frees) or NULL with err set. */
char *bw_file_read(const char *path, size_t max, size_t *len,
		   struct bw_err *err);
/* Write a file atomically (temp + fsync + rename + fsync dir) with mode. */
int bw_file_write_atomic(const char *path, const void *data, size_t len,
			 unsigned mode, struct bw_err *err) BW_WUR;

#endif
