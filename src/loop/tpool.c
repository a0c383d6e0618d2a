/*
 * Bounded thread pool. Jobs wait in a FIFO of at most queue_max entries;
 * a full queue refuses new work at once (EAGAIN) so an event loop never
 * blocks on it. Completion is posted back to the submitting loop.
 */
#include "loop/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct job {
	struct job *next;
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
	struct loop *reply;
};

struct tpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	size_t queued, queue_max;
	bool stopping;
	int nthreads;
	pthread_t *threads;
	_Atomic uint64_t refused;
};

static void *worker_main(void *arg)
{
	struct tpool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		struct job *j = p->head;
		if (!j) { /* stopping and drained */
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->mu);

		j->work(j->arg);
		if (j->done) {
			if (j->reply) {
				/* If the post cannot be allocated the completion
				 * would be lost and its owner leak or hang; this
				 * is an out-of-memory abort, not bad input. */
				if (loop_post(j->reply, j->done, j->arg) < 0)
					fatalx("tpool: cannot post completion");
			} else {
				j->done(j->arg);
			}
		}
		free(j);
	}
}

struct tpool *tpool_new(int nthreads, size_t queue_max, struct bw_err *err)
{
	struct tpool *p = calloc(1, sizeof(*p));
	if (!p || nthreads <= 0) {
		free(p);
		bw_err_set(err, 500, "loop", "tpool", "bad thread pool size");
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->queue_max = queue_max ? queue_max : 1024;
	p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
	if (!p->threads)
		goto fail;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			goto fail;
		p->nthreads++;
	}
	return p;
fail:
	bw_err_set(err, 500, "loop", "tpool", "cannot start pool threads: %s",
		   strerror(errno));
	tpool_free(p);
	return NULL;
}

void tpool_free(struct tpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int tpool_submit(struct tpool *p, void (*work)(void *), void (*done)(void *),
		 void *arg, struct loop *reply)
{
	struct job *j = malloc(sizeof(*j));
	if (!j) {
		errno = ENOMEM;
		return -1;
	}
	*j = (struct job){ .work = work, .done = done, .arg = arg, .reply = reply };
	pthread_mutex_lock(&p->mu);
	if (p->queued >= p->queue_max || p->stopping) {
		pthread_mutex_unlock(&p->mu);
		free(j);
		atomic_fetch_add(&p->refused, 1);
		errno = EAGAIN;
		return -1;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

size_t tpool_queued(struct tpool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->queued;
	pthread_mutex_unlock(&p->mu);
	return n;
}

uint64_t tpool_refused(struct tpool *p)
{
	return atomic_load(&p->refused);
}
