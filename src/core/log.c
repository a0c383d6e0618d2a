/*
 * Diagnostic logging: one JSON object per line, written with a single
 * write(2) so lines from several threads and processes never interleave.
 * Lines longer than LOG_LINE_MAX are truncated (and still valid JSON).
 */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static const char *log_role = "bulwark";
static enum bw_log_level log_min = BW_LOG_INFO;
static int log_fd = 2;

static const char *level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *role, enum bw_log_level min, int fd)
{
	log_role = role;
	log_min = min;
	log_fd = fd;
}

void log_set_role(const char *role)
{
	log_role = role;
}

void log_set_level(enum bw_log_level min)
{
	log_min = min;
}

bool log_enabled(enum bw_log_level level)
{
	return level >= log_min;
}

/* Appends s as JSON string content (no quotes), escaping as RFC 8259 asks;
 * stops quietly at the end of the line buffer. */
static size_t esc(char *out, size_t used, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	for (; *s && used + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[used++] = '\\';
			out[used++] = (char)c;
		} else if (c == '\n') {
			out[used++] = '\\';
			out[used++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			out[used++] = '\\';
			out[used++] = 'u';
			out[used++] = '0';
			out[used++] = '0';
			out[used++] = hex[c >> 4];
			out[used++] = hex[c & 15];
		} else {
			out[used++] = (char)c;
		}
	}
	return used;
}

static size_t put(char *out, size_t used, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (used + n + 3 > cap)
		n = cap > used + 3 ? cap - used - 3 : 0;
	memcpy(out + used, s, n);
	return used + n;
}

static void emit(enum bw_log_level level, const char *msg, const char *errstr,
		 va_list *kv)
{
	char line[LOG_LINE_MAX];
	char ts[32];
	size_t u = 0;
	bw_time_format(bw_clock_now_ns(), ts);
	u = put(line, u, sizeof(line), "{\"time\":\"");
	u = put(line, u, sizeof(line), ts);
	u = put(line, u, sizeof(line), "\",\"level\":\"");
	u = put(line, u, sizeof(line), level_names[level]);
	u = put(line, u, sizeof(line), "\",\"proc\":\"");
	u = esc(line, u, sizeof(line), log_role);
	u = put(line, u, sizeof(line), "\",\"msg\":\"");
	u = esc(line, u, sizeof(line), msg);
	if (errstr) {
		u = put(line, u, sizeof(line), ": ");
		u = esc(line, u, sizeof(line), errstr);
	}
	u = put(line, u, sizeof(line), "\"");
	if (kv) {
		const char *k;
		while ((k = va_arg(*kv, const char *)) != NULL) {
			const char *v = va_arg(*kv, const char *);
			u = put(line, u, sizeof(line), ",\"");
			u = esc(line, u, sizeof(line), k);
			u = put(line, u, sizeof(line), "\":\"");
			u = esc(line, u, sizeof(line), v ? v : "");
			u = put(line, u, sizeof(line), "\"");
		}
	}
	line[u++] = '}';
	line[u++] = '\n';
	ssize_t r;
	do {
		r = write(log_fd, line, u);
	} while (r < 0 && errno == EINTR);
}

static void vlog(enum bw_log_level level, const char *errstr, const char *fmt,
		 va_list ap) BW_PRINTF(3, 0);
static void vlog(enum bw_log_level level, const char *errstr, const char *fmt,
		 va_list ap)
{
	if (level < log_min)
		return;
	char msg[LOG_LINE_MAX / 2];
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	emit(level, msg, errstr, NULL);
}

#define LOG_FN(name, level)                                                    \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(level, NULL, fmt, ap);                                    \
		va_end(ap);                                                    \
	}
LOG_FN(log_debug, BW_LOG_DEBUG)
LOG_FN(log_info, BW_LOG_INFO)
LOG_FN(log_warnx, BW_LOG_WARN)

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog(BW_LOG_WARN, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

_Noreturn void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog(BW_LOG_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

_Noreturn void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(BW_LOG_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void log_kv(enum bw_log_level level, const char *msg, ...)
{
	if (level < log_min)
		return;
	va_list ap;
	va_start(ap, msg);
	emit(level, msg, NULL, &ap);
	va_end(ap);
}
