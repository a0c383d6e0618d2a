/*
 * Small shared helpers: constant-time comparison, wiping, randomness,
 * (pointer, length) strings, hex, checked snprintf, boot-time allocation
 * and atomic file writes.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

bool bw_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return false;
	if (alen == 0)
		return true;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void bw_wipe(void *p, size_t n)
{
	/* explicit_bzero is glibc's vectorised memset behind a compiler
	 * barrier: as sure as OPENSSL_cleanse not to be optimised away, and
	 * several times cheaper on the kilobyte buffers wiped per request. */
	if (p && n)
		explicit_bzero(p, n);
}

void bw_random(void *out, size_t n)
{
	unsigned char *p = out;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		p += r;
		n -= (size_t)r;
	}
}

bool bw_str_eq(struct bw_str a, struct bw_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int bw_str_to_u64(struct bw_str s, uint64_t *out)
{
	uint64_t v = 0;
	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, d, &v))
			return -1;
	}
	*out = v;
	return 0;
}

void bw_hex_encode(const void *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int bw_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bw_hex_decode(const char *in, size_t inlen, void *out, size_t outcap,
		  size_t *outlen)
{
	unsigned char *o = out;
	if (inlen % 2 || inlen / 2 > outcap)
		return -1;
	for (size_t i = 0; i < inlen; i += 2) {
		int hi = bw_hex_digit(in[i]), lo = bw_hex_digit(in[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		o[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	if (outlen)
		*outlen = inlen / 2;
	return 0;
}

int bw_snprintf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

void *bw_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fatalx("out of memory (%zu bytes)", n);
	return p;
}

void *bw_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		fatalx("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

char *bw_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		fatalx("out of memory");
	return p;
}

char *bw_file_read(const char *path, size_t max, size_t *len,
		   struct bw_err *err)
{
	char *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		bw_err_set(err, errno == ENOENT ? 404 : 500, "core", "open",
			   "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		bw_err_set(err, 500, "core", "stat", "%s: %s", path,
			   strerror(errno));
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		bw_err_set(err, 413, "core", "too_large",
			   "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	size_t cap = (size_t)st.st_size, used = 0;
	data = bw_xmalloc(cap + 1);
	for (;;) {
		if (used == cap) {
			/* The file may grow after fstat (or be a pipe). */
			if (cap >= max) {
				char probe;
				ssize_t r = read(fd, &probe, 1);
				if (r == 0)
					break;
				bw_err_set(err, 413, "core", "too_large",
					   "%s: larger than %zu bytes", path,
					   max);
				goto fail;
			}
			size_t ncap = cap ? cap * 2 : 4096;
			if (ncap > max)
				ncap = max;
			char *nd = realloc(data, ncap + 1);
			if (!nd)
				fatalx("out of memory");
			data = nd;
			cap = ncap;
		}
		ssize_t r = read(fd, data + used, cap - used);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			bw_err_set(err, 500, "core", "read", "%s: %s", path,
				   strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	close(fd);
	data[used] = '\0';
	if (len)
		*len = used;
	return data;
fail:
	free(data);
	close(fd);
	return NULL;
}

int bw_file_write_atomic(const char *path, const void *data, size_t len,
			 unsigned mode, struct bw_err *err)
{
	char tmp[4096], dir[4096];
	if (bw_snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) < 0 ||
	    bw_snprintf(dir, sizeof(dir), "%s", path) < 0)
		return bw_err_set(err, 400, "core", "path_too_long",
				  "path too long: %s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return bw_err_set(err, 500, "core", "open", "%s: %s", tmp,
				  strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return bw_err_set(err, 500, "core", "write", "%s: %s", path,
			  strerror(saved));
}
