/* Unit tests for the reactor (I/O, timers, posts) and the thread pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop/loop.h"

static int fired[8];
static int nfired;

static void record_timer(struct loop *l, struct loop_timer *t)
{
	fired[nfired++] = (int)(intptr_t)t->data;
	if (nfired == 3)
		loop_stop(l);
}

static void timers_fire_in_deadline_order(void **state)
{
	struct loop *l = loop_new(4, NULL);
	assert_non_null(l);
	struct loop_timer a, b, c, d, e;
	loop_timer_init(&a, record_timer, (void *)1);
	loop_timer_init(&b, record_timer, (void *)2);
	loop_timer_init(&c, record_timer, (void *)3);
	loop_timer_init(&d, record_timer, (void *)4);
	loop_timer_init(&e, record_timer, (void *)5);
	assert_int_equal(loop_timer_arm(l, &a, 30), 0);
	assert_int_equal(loop_timer_arm(l, &b, 10), 0);
	assert_int_equal(loop_timer_arm(l, &c, 20), 0);
	assert_int_equal(loop_timer_arm(l, &d, 5), 0);
	assert_int_equal(loop_timer_arm(l, &e, 5), -1); /* table full */
	loop_timer_cancel(l, &d);
	assert_false(loop_timer_armed(&d));
	assert_int_equal(loop_timer_arm(l, &b, 1), 0); /* re-arm moves it */
	nfired = 0;
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(nfired, 3);
	assert_int_equal(fired[0], 2);
	assert_int_equal(fired[1], 3);
	assert_int_equal(fired[2], 1);
	loop_free(l);
}

/* Re-arming later only moves due_ms; the heap re-keys the timer when its
 * old key comes up. Re-arming earlier after that must still win. */
static void timers_rearmed_later_or_earlier(void **state)
{
	struct loop *l = loop_new(4, NULL);
	assert_non_null(l);
	struct loop_timer a, b, c;
	loop_timer_init(&a, record_timer, (void *)1);
	loop_timer_init(&b, record_timer, (void *)2);
	loop_timer_init(&c, record_timer, (void *)3);
	assert_int_equal(loop_timer_arm(l, &a, 5), 0);
	assert_int_equal(loop_timer_arm(l, &b, 10), 0);
	assert_int_equal(loop_timer_arm(l, &c, 40), 0);
	assert_int_equal(loop_timer_arm(l, &a, 60), 0); /* later: lazy */
	assert_int_equal(loop_timer_arm(l, &c, 80), 0); /* later: lazy */
	assert_int_equal(loop_timer_arm(l, &c, 20), 0); /* earlier again */
	assert_true(loop_timer_armed(&a));
	nfired = 0;
	int64_t t0 = bw_clock_mono_ms();
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(nfired, 3);
	assert_int_equal(fired[0], 2);
	assert_int_equal(fired[1], 3);
	assert_int_equal(fired[2], 1);
	assert_true(bw_clock_mono_ms() - t0 >= 59); /* a was not fired at 5 ms */
	assert_false(loop_timer_armed(&a));
	loop_free(l);
}

static char got[16];
static void on_readable(struct loop *l, struct loop_io *io, uint32_t ev)
{
	ssize_t n = read(io->fd, got, sizeof(got) - 1);
	assert_true(n > 0);
	got[n] = '\0';
	loop_io_del(l, io);
	loop_stop(l);
}

static void io_callback_sees_data(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct loop *l = loop_new(8, NULL);
	struct loop_io io = { .fd = fds[0], .cb = on_readable };
	assert_int_equal(loop_io_add(l, &io, EPOLLIN), 0);
	assert_int_equal(write(fds[1], "ping", 4), 4);
	assert_int_equal(loop_run(l), 0);
	assert_string_equal(got, "ping");
	loop_free(l);
	close(fds[0]);
	close(fds[1]);
}

/* Two readable pipes in one batch: the first callback deletes and frees the
 * second io; the second must then not be called. */
struct pair {
	struct loop_io a, *b;
	int b_calls;
};

static void on_b(struct loop *l, struct loop_io *io, uint32_t ev)
{
	struct pair *p = io->data;
	p->b_calls++;
}

static void on_a(struct loop *l, struct loop_io *io, uint32_t ev)
{
	struct pair *p = io->data;
	char c;
	assert_int_equal(read(io->fd, &c, 1), 1);
	if (p->b) {
		loop_io_del(l, p->b);
		free(p->b);
		p->b = NULL;
	}
	loop_io_del(l, io);
	loop_stop(l);
}

static void io_deleted_by_another_callback_is_not_called(void **state)
{
	int fa[2], fb[2];
	assert_int_equal(pipe(fa), 0);
	assert_int_equal(pipe(fb), 0);
	struct loop *l = loop_new(8, NULL);
	struct pair p = { 0 };
	p.a = (struct loop_io){ .fd = fa[0], .cb = on_a, .data = &p };
	p.b = calloc(1, sizeof(*p.b));
	*p.b = (struct loop_io){ .fd = fb[0], .cb = on_b, .data = &p };
	/* Register b first so epoll is likely to report it after a; either
	 * order must be safe. */
	assert_int_equal(loop_io_add(l, p.b, EPOLLIN), 0);
	assert_int_equal(loop_io_add(l, &p.a, EPOLLIN), 0);
	assert_int_equal(write(fb[1], "b", 1), 1);
	assert_int_equal(write(fa[1], "a", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_null(p.b);
	assert_true(p.b_calls <= 1); /* at most before a ran, never after */
	loop_free(l);
	for (int i = 0; i < 2; i++) {
		close(fa[i]);
		close(fb[i]);
	}
}

struct post_ctx {
	struct loop *l;
	pthread_t loop_thread;
	int ran_on_loop_thread;
};

static void posted(void *arg)
{
	struct post_ctx *c = arg;
	c->ran_on_loop_thread = pthread_equal(pthread_self(), c->loop_thread);
	loop_stop(c->l);
}

static void *poster(void *arg)
{
	struct post_ctx *c = arg;
	usleep(10000);
	assert_int_equal(loop_post(c->l, posted, c), 0);
	return NULL;
}

static void post_runs_on_loop_thread(void **state)
{
	struct post_ctx c = { .l = loop_new(8, NULL), .loop_thread = pthread_self() };
	pthread_t t;
	pthread_create(&t, NULL, poster, &c);
	assert_int_equal(loop_run(c.l), 0);
	pthread_join(t, NULL);
	assert_true(c.ran_on_loop_thread);
	loop_free(c.l);
}

struct job_ctx {
	struct loop *l;
	pthread_t loop_thread;
	int worked, done_on_loop;
	int remaining;
};

static void slow_work(void *arg)
{
	struct job_ctx *c = arg;
	__atomic_fetch_add(&c->worked, 1, __ATOMIC_SEQ_CST);
}

static void job_done(void *arg)
{
	struct job_ctx *c = arg;
	if (pthread_equal(pthread_self(), c->loop_thread))
		c->done_on_loop++;
	if (--c->remaining == 0)
		loop_stop(c->l);
}

static void pool_runs_work_and_replies_to_loop(void **state)
{
	struct job_ctx c = { .l = loop_new(8, NULL), .loop_thread = pthread_self(),
			     .remaining = 20 };
	struct tpool *p = tpool_new(2, 64, NULL);
	assert_non_null(p);
	for (int i = 0; i < 20; i++)
		assert_int_equal(tpool_submit(p, slow_work, job_done, &c, c.l), 0);
	assert_int_equal(loop_run(c.l), 0);
	assert_int_equal(c.worked, 20);
	assert_int_equal(c.done_on_loop, 20);
	tpool_free(p);
	loop_free(c.l);
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static void blocked_work(void *arg)
{
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
}

static void pool_refuses_when_queue_full(void **state)
{
	struct tpool *p = tpool_new(1, 2, NULL);
	pthread_mutex_lock(&gate);
	assert_int_equal(tpool_submit(p, blocked_work, NULL, NULL, NULL), 0);
	while (tpool_queued(p) != 0) /* wait for the worker to take it */
		usleep(1000);
	assert_int_equal(tpool_submit(p, blocked_work, NULL, NULL, NULL), 0);
	assert_int_equal(tpool_submit(p, blocked_work, NULL, NULL, NULL), 0);
	assert_int_equal(tpool_submit(p, blocked_work, NULL, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(tpool_refused(p), 1);
	pthread_mutex_unlock(&gate);
	tpool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timers_fire_in_deadline_order),
		cmocka_unit_test(timers_rearmed_later_or_earlier),
		cmocka_unit_test(io_callback_sees_data),
		cmocka_unit_test(io_deleted_by_another_callback_is_not_called),
		cmocka_unit_test(post_runs_on_loop_thread),
		cmocka_unit_test(pool_runs_work_and_replies_to_loop),
		cmocka_unit_test(pool_refuses_when_queue_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
