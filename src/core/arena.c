/*
 * Region allocator. Memory comes in blocks of block_size (bigger requests
 * get a block of their own); everything is released by bw_arena_free after
 * the cleanups have run in reverse order. The byte ceiling counts block
 * sizes, so a hostile request cannot make the arena grow without bound.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct bw_arena {
	struct arena_block *head;
	struct arena_cleanup *cleanups;
	size_t block_size, max_bytes, total;
};

struct bw_arena *bw_arena_new(size_t block_size, size_t max_bytes)
{
	struct bw_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->block_size = block_size ? block_size : 4096;
	a->max_bytes = max_bytes ? max_bytes : SIZE_MAX;
	return a;
}

void bw_arena_free(struct bw_arena *a)
{
	if (!a)
		return;
	for (struct arena_cleanup *c = a->cleanups; c; c = c->next)
		c->fn(c->arg);
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *n = b->next;
		free(b);
		b = n;
	}
	free(a);
}

void *bw_arena_alloc(struct bw_arena *a, size_t n)
{
	size_t need;
	if (__builtin_add_overflow(n, 15, &need))
		return NULL;
	need &= ~(size_t)15;
	if (need == 0)
		need = 16;
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < need) {
		size_t size = need > a->block_size ? need : a->block_size;
		size_t total;
		if (__builtin_add_overflow(a->total, size, &total) ||
		    total > a->max_bytes)
			return NULL;
		struct arena_block *nb = malloc(sizeof(*nb) + size);
		if (!nb)
			return NULL;
		nb->size = size;
		nb->used = 0;
		a->total = total;
		/* A one-off big block goes behind the head so the head's
		 * free space stays usable for small allocations. */
		if (b && size > a->block_size) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->head = nb;
		}
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += need;
	return p;
}

void *bw_arena_zalloc(struct bw_arena *a, size_t n)
{
	void *p = bw_arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

char *bw_arena_strndup(struct bw_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = bw_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *bw_arena_strdup(struct bw_arena *a, const char *s)
{
	return bw_arena_strndup(a, s, strlen(s));
}

char *bw_arena_printf(struct bw_arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = n < 0 ? NULL : bw_arena_alloc(a, (size_t)n + 1);
	if (p)
		vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

int bw_arena_cleanup(struct bw_arena *a, void (*fn)(void *), void *arg)
{
	struct arena_cleanup *c = bw_arena_alloc(a, sizeof(*c));
	if (!c)
		return -1;
	c->fn = fn;
	c->arg = arg;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

size_t bw_arena_used(const struct bw_arena *a)
{
	return a->total;
}
