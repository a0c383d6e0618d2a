/*
 * Bounded growable buffers. Growth doubles up to the ceiling `max`; an
 * append that would pass it fails without changing the buffer, so callers
 * can map the failure to 413/431 and keep what they had.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bw_buf_init(struct bw_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void bw_buf_fini(struct bw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void bw_buf_wipe_fini(struct bw_buf *b)
{
	bw_wipe(b->data, b->cap);
	bw_buf_fini(b);
}

void bw_buf_reset(struct bw_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int bw_buf_grow(struct bw_buf *b, size_t extra)
{
	size_t need;
	/* +1 keeps room for the trailing NUL. */
	if (__builtin_add_overflow(b->len, extra, &need) || need > b->max ||
	    __builtin_add_overflow(need, 1, &need))
		return -1;
	if (need <= b->cap)
		return 0;
	/* A first reservation is taken as a size hint (a body of announced
	 * length, a head about as long as the client's): exactly that, so
	 * the memory and the wipe at the end are no larger than needed. */
	size_t ncap = b->cap ? b->cap : (need > 64 ? need : 64);
	while (ncap < need) {
		if (__builtin_mul_overflow(ncap, 2, &ncap)) {
			ncap = need;
			break;
		}
	}
	/* The ceiling plus the NUL; max may be SIZE_MAX ("no ceiling"). */
	size_t limit = b->max == SIZE_MAX ? SIZE_MAX : b->max + 1;
	if (ncap > limit)
		ncap = limit;
	char *nd = realloc(b->data, ncap);
	if (!nd)
		return -1;
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int bw_buf_append_str(struct bw_buf *b, const char *s)
{
	return bw_buf_append(b, s, strlen(s));
}

int bw_buf_append_byte(struct bw_buf *b, char c)
{
	return bw_buf_append(b, &c, 1);
}

int bw_buf_printf(struct bw_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || bw_buf_reserve(b, (size_t)n) < 0) {
		va_end(ap2);
		return -1;
	}
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

void bw_buf_consume(struct bw_buf *b, size_t n)
{
	if (n >= b->len) {
		bw_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *bw_buf_detach(struct bw_buf *b, size_t *len)
{
	char *d = b->data;
	if (!d)
		d = calloc(1, 1);
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
