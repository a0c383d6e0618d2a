/*
 * Per-thread epoll reactor. Timers live in a binary min-heap of pointers to
 * caller-owned struct loop_timer (each knows its heap slot, so cancel is
 * O(log n)); the heap is sized once at loop_new. Cross-thread posts go
 * through a mutex-protected list and an eventfd that wakes epoll_wait.
 */
#include "loop/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct post {
	struct post *next;
	void (*fn)(void *);
	void *arg;
};

struct loop {
	int epfd;
	int wakefd;
	struct loop_io wake_io;
	int64_t now_ms;
	volatile int stopping;

	struct loop_timer **heap;
	size_t nheap, max_timers;

	pthread_mutex_t post_mu;
	struct post *post_head, *post_tail;

	/* The batch being dispatched, so loop_io_del can cancel events still
	 * pending for an io that is going away. */
	struct epoll_event *batch;
	int batch_n, batch_i;
};

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];
	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_index = (int)a;
	l->heap[b]->heap_index = (int)b;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (l->heap[parent]->deadline_ms <= l->heap[i]->deadline_ms)
			break;
		heap_swap(l, i, parent);
		i = parent;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, min = i;
		if (left < l->nheap &&
		    l->heap[left]->deadline_ms < l->heap[min]->deadline_ms)
			min = left;
		if (right < l->nheap &&
		    l->heap[right]->deadline_ms < l->heap[min]->deadline_ms)
			min = right;
		if (min == i)
			return;
		heap_swap(l, i, min);
		i = min;
	}
}

static void heap_remove(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	l->nheap--;
	if (i != l->nheap) {
		l->heap[i] = l->heap[l->nheap];
		l->heap[i]->heap_index = (int)i;
		heap_down(l, i);
		heap_up(l, i);
	}
	t->heap_index = -1;
}

static void drain_posts(struct loop *l)
{
	pthread_mutex_lock(&l->post_mu);
	struct post *p = l->post_head;
	l->post_head = l->post_tail = NULL;
	pthread_mutex_unlock(&l->post_mu);
	while (p) {
		struct post *next = p->next;
		p->fn(p->arg);
		free(p);
		p = next;
	}
}

static void on_wake(struct loop *l, struct loop_io *io, uint32_t revents)
{
	uint64_t v;
	ssize_t r = read(io->fd, &v, sizeof(v));
	(void)r; /* EAGAIN just means another wake already drained it */
	drain_posts(l);
}

struct loop *loop_new(size_t max_timers, struct bw_err *err)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l) {
		bw_err_set(err, 500, "loop", "nomem", "out of memory");
		return NULL;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->max_timers = max_timers ? max_timers : 1024;
	l->heap = calloc(l->max_timers, sizeof(*l->heap));
	pthread_mutex_init(&l->post_mu, NULL);
	if (l->epfd < 0 || l->wakefd < 0 || !l->heap) {
		bw_err_set(err, 500, "loop", "init", "loop init: %s",
			   strerror(errno));
		goto fail;
	}
	l->wake_io.fd = l->wakefd;
	l->wake_io.cb = on_wake;
	if (loop_io_add(l, &l->wake_io, EPOLLIN) < 0) {
		bw_err_set(err, 500, "loop", "init", "epoll_ctl: %s",
			   strerror(errno));
		goto fail;
	}
	l->now_ms = bw_clock_mono_ms();
	return l;
fail:
	loop_free(l);
	return NULL;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	drain_posts(l); /* run pending completions so nothing leaks */
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	pthread_mutex_destroy(&l->post_mu);
	free(l->heap);
	free(l);
}

int loop_io_add(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	io->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	if (io->events == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.ptr = io };
	io->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void loop_io_del(struct loop *l, struct loop_io *io)
{
	if (io->fd >= 0)
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->events = 0;
	/* Events already fetched for this io must not be delivered: its owner
	 * may free it as soon as we return. */
	for (int i = l->batch_i + 1; i < l->batch_n; i++)
		if (l->batch[i].data.ptr == io)
			l->batch[i].data.ptr = NULL;
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *data)
{
	t->deadline_ms = 0;
	t->due_ms = 0;
	t->heap_index = -1;
	t->cb = cb;
	t->data = data;
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t after_ms)
{
	int64_t due = l->now_ms + (after_ms > 0 ? after_ms : 0);
	t->due_ms = due;
	if (t->heap_index >= 0) {
		/* Later than its key: run_timers re-keys it when the key comes
		 * up. Earlier: the key must move up now. */
		if (due < t->deadline_ms) {
			t->deadline_ms = due;
			heap_up(l, (size_t)t->heap_index);
		}
		return 0;
	}
	if (l->nheap == l->max_timers)
		return -1;
	t->deadline_ms = due;
	l->heap[l->nheap] = t;
	t->heap_index = (int)l->nheap;
	l->nheap++;
	heap_up(l, l->nheap - 1);
	return 0;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (t->heap_index >= 0)
		heap_remove(l, (size_t)t->heap_index);
}

int64_t loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

int loop_post(struct loop *l, void (*fn)(void *), void *arg)
{
	struct post *p = malloc(sizeof(*p));
	if (!p)
		return -1;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&l->post_mu);
	bool was_empty = l->post_head == NULL;
	if (l->post_tail)
		l->post_tail->next = p;
	else
		l->post_head = p;
	l->post_tail = p;
	pthread_mutex_unlock(&l->post_mu);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t r = write(l->wakefd, &one, sizeof(one));
		(void)r; /* a full counter still wakes the loop */
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stopping = 1;
	uint64_t one = 1;
	ssize_t r = write(l->wakefd, &one, sizeof(one));
	(void)r;
}

static void run_timers(struct loop *l)
{
	while (l->nheap > 0 && l->heap[0]->deadline_ms <= l->now_ms) {
		struct loop_timer *t = l->heap[0];
		if (t->due_ms > l->now_ms) { /* pushed later since it was keyed */
			t->deadline_ms = t->due_ms;
			heap_down(l, 0);
			continue;
		}
		heap_remove(l, 0);
		t->cb(l, t);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	while (!l->stopping) {
		int timeout = -1;
		if (l->nheap > 0) {
			int64_t wait = l->heap[0]->deadline_ms - l->now_ms;
			timeout = wait < 0 ? 0 : (wait > 60000 ? 60000 : (int)wait);
		}
		int n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR)
			return -1;
		l->now_ms = bw_clock_mono_ms();
		l->batch = events;
		l->batch_n = n;
		for (l->batch_i = 0; l->batch_i < n; l->batch_i++) {
			struct loop_io *io = events[l->batch_i].data.ptr;
			if (io)
				io->cb(l, io, events[l->batch_i].events);
		}
		l->batch_n = 0;
		run_timers(l);
	}
	l->stopping = 0;
	return 0;
}
