/*
 * loop — the runtime's concurrency pieces: a per-thread epoll reactor with
 * timers and cross-thread task posting, and a bounded thread pool for
 * blocking work (password hashing, store writes, file I/O) whose results
 * come back to the reactor that asked.
 *
 * Invariants:
 *  - a struct loop is driven by exactly one thread (the one in loop_run);
 *    every function here except loop_post/loop_stop must be called from it;
 *  - I/O is level-triggered: a callback that does not drain its fd is simply
 *    called again, so no readiness is ever lost;
 *  - timers fire in deadline order, at most once per arming;
 *  - the pool's queue is bounded; a full queue refuses new work (callers
 *    answer 503) instead of growing.
 */
#ifndef BW_LOOP_H
#define BW_LOOP_H

#include "core/core.h"

#include <sys/epoll.h>

struct loop;

struct loop_io;
typedef void (*loop_io_cb)(struct loop *l, struct loop_io *io, uint32_t revents);

/* An fd watched by the loop. Embedded in its owner; `data` is the owner's. */
struct loop_io {
	int fd;
	uint32_t events; /* EPOLLIN | EPOLLOUT currently requested */
	loop_io_cb cb;
	void *data;
};

struct loop_timer;
typedef void (*loop_timer_cb)(struct loop *l, struct loop_timer *t);

/* A one-shot timer, embedded in its owner. heap_index < 0 when not armed.
 * deadline_ms is its key in the heap, due_ms when it is really due: pushing
 * an armed timer later (an idle timeout renewed by every request) only
 * moves due_ms, and the heap re-keys the timer when the old key comes up,
 * instead of sifting on every re-arm. */
struct loop_timer {
	int64_t deadline_ms;
	int64_t due_ms;
	int heap_index;
	loop_timer_cb cb;
	void *data;
};

/* Creates a loop with room for max_timers armed timers (hard cap: the loop
 * refuses to arm more rather than allocate at runtime past it). */
struct loop *loop_new(size_t max_timers, struct bw_err *err);
void loop_free(struct loop *l); /* accepts NULL; does not close watched fds */

/* Watch io->fd for `events` (EPOLLIN/EPOLLOUT). After loop_io_del the io
 * may be freed at once, even from another io's callback: events already
 * fetched for it in the current batch are cancelled. */
int loop_io_add(struct loop *l, struct loop_io *io, uint32_t events) BW_WUR;
/* Change the interest set; a no-op when unchanged. */
int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events) BW_WUR;
void loop_io_del(struct loop *l, struct loop_io *io);

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *data);
/* (Re)arms t to fire after_ms from the loop's current time. -1 if the timer
 * table is full. */
int loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t after_ms) BW_WUR;
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_index >= 0;
}

/* The loop's cached monotonic time in ms, refreshed each iteration. */
int64_t loop_now_ms(const struct loop *l);

/*
 * Runs fn(arg) on l's thread at its next iteration. Safe from any thread.
 * Posts are not bounded here: their producers (the thread pool, the store
 * writer) are bounded themselves. -1 only when memory runs out.
 */
int loop_post(struct loop *l, void (*fn)(void *arg), void *arg) BW_WUR;

/* Runs until loop_stop. Returns 0, or -1 on an epoll failure. */
int loop_run(struct loop *l);
/* Asks the loop to return from loop_run after the current iteration.
 * Safe from any thread. */
void loop_stop(struct loop *l);

/* ------------------------------------------------------------ thread pool */

struct tpool;

/* nthreads workers, at most queue_max jobs waiting. */
struct tpool *tpool_new(int nthreads, size_t queue_max, struct bw_err *err);
/* Finishes queued jobs, joins the workers, frees. Accepts NULL. */
void tpool_free(struct tpool *p);

/*
 * Queues work(arg) on a pool thread. When it returns, done(arg) is posted to
 * loop `reply` (if reply is NULL, done runs on the pool thread; done may be
 * NULL). Returns -1 with errno EAGAIN when the queue is full: the caller
 * should answer 503, never block a reactor.
 */
int tpool_submit(struct tpool *p, void (*work)(void *arg), void (*done)(void *arg),
		 void *arg, struct loop *reply) BW_WUR;
/* Jobs waiting now, and jobs refused since start (for /metrics). */
size_t tpool_queued(struct tpool *p);
uint64_t tpool_refused(struct tpool *p);

#endif
