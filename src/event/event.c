/*
 * Event bus: per-thread single-producer/single-consumer rings, one
 * dispatcher thread. A producer writes a slot and then publishes it by
 * advancing `head` with release order; the dispatcher reads up to `head`
 * with acquire order and advances `tail`. The dispatcher sleeps on a
 * condition variable when every ring is empty and producers wake it only
 * when it has said it sleeps, so the hot path is two atomics and a memcpy.
 */
#include "event/event.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_RING_SLOTS 4096 /* power of two */
#define EVENT_MAX_SUBSCRIBERS 8
#define EVENT_IDLE_MS 20 /* telemetry latency bound when traffic is light */

struct ring {
	struct ring *next;
	_Atomic uint64_t head; /* written by the producer */
	_Atomic uint64_t tail; /* written by the dispatcher */
	struct bw_event slots[EVENT_RING_SLOTS];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t flushed;
	struct ring *rings;
	pthread_t thread;
	_Atomic int running;
	_Atomic int sleeping;
	bool stop;
	bw_event_subscriber subs[EVENT_MAX_SUBSCRIBERS];
	void *sub_args[EVENT_MAX_SUBSCRIBERS];
	int nsubs;
	_Atomic uint64_t emitted, delivered, refused, truncated;
} bus = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.flushed = PTHREAD_COND_INITIALIZER,
};

static _Thread_local struct ring *my_ring;

void bw_event_set(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

void bw_event_init(struct bw_event *ev, const char *category,
		   const char *action, enum bw_outcome outcome)
{
	memset(ev, 0, sizeof(*ev));
	BW_EVENT_SET(ev, category, category);
	BW_EVENT_SET(ev, action, action);
	ev->outcome = outcome;
}

void bw_event_add_field(struct bw_event *ev, const char *key, const char *value)
{
	if (ev->nfields >= EVENT_MAX_FIELDS) {
		atomic_fetch_add(&bus.truncated, 1);
		return;
	}
	struct bw_event_field *f = &ev->fields[ev->nfields++];
	BW_EVENT_SET(f, key, key);
	BW_EVENT_SET(f, value, value);
}

const char *bw_outcome_name(enum bw_outcome o)
{
	switch (o) {
	case BW_OUTCOME_SUCCESS:
		return "success";
	case BW_OUTCOME_FAILURE:
		return "failure";
	default:
		return "unknown";
	}
}

static struct ring *ring_for_thread(void)
{
	if (my_ring)
		return my_ring;
	struct ring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_lock(&bus.mu);
	r->next = bus.rings;
	bus.rings = r;
	pthread_mutex_unlock(&bus.mu);
	my_ring = r;
	return r;
}

int bw_event_emit(const struct bw_event *ev)
{
	struct ring *r;
	if (!atomic_load_explicit(&bus.running, memory_order_acquire) ||
	    !(r = ring_for_thread())) {
		atomic_fetch_add(&bus.refused, 1);
		return -1;
	}
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail >= EVENT_RING_SLOTS) {
		atomic_fetch_add(&bus.refused, 1);
		return -1;
	}
	struct bw_event *slot = &r->slots[head & (EVENT_RING_SLOTS - 1)];
	memcpy(slot, ev, sizeof(*slot));
	if (slot->time_ns == 0)
		slot->time_ns = bw_clock_now_ns();
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	atomic_fetch_add_explicit(&bus.emitted, 1, memory_order_relaxed);
	/* Waking the dispatcher per event would cost every request two
	 * context switches. It drains by itself every EVENT_IDLE_MS; a
	 * producer wakes it only when its ring is an eighth full. */
	if (head + 1 - tail >= EVENT_RING_SLOTS / 8 &&
	    atomic_load_explicit(&bus.sleeping, memory_order_seq_cst)) {
		pthread_mutex_lock(&bus.mu);
		pthread_cond_signal(&bus.cv);
		pthread_mutex_unlock(&bus.mu);
	}
	return 0;
}

/* One pass over all rings; returns how many events were delivered. */
static uint64_t dispatch_once(void)
{
	uint64_t n = 0;
	pthread_mutex_lock(&bus.mu);
	struct ring *rings = bus.rings;
	pthread_mutex_unlock(&bus.mu);
	/* Rings are only ever prepended, so walking from a snapshot of the
	 * head is safe without the lock. */
	for (struct ring *r = rings; r; r = r->next) {
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		for (; tail != head; tail++) {
			const struct bw_event *ev =
				&r->slots[tail & (EVENT_RING_SLOTS - 1)];
			for (int i = 0; i < bus.nsubs; i++)
				bus.subs[i](ev, bus.sub_args[i]);
			n++;
			/* Free each slot as soon as it is delivered so a
			 * burst does not refuse needlessly. */
			atomic_store_explicit(&r->tail, tail + 1,
					      memory_order_release);
		}
	}
	if (n)
		atomic_fetch_add(&bus.delivered, n);
	return n;
}

static void *dispatcher_main(void *arg)
{
	for (;;) {
		if (dispatch_once() > 0)
			continue;
		pthread_mutex_lock(&bus.mu);
		pthread_cond_broadcast(&bus.flushed);
		if (bus.stop) {
			pthread_mutex_unlock(&bus.mu);
			/* Final drain: producers may have raced the stop. */
			dispatch_once();
			return NULL;
		}
		atomic_store(&bus.sleeping, 1);
		/* Producers wake us only when a ring fills up; otherwise the
		 * bounded wait is the delivery latency (EVENT_IDLE_MS). */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += EVENT_IDLE_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&bus.cv, &bus.mu, &ts);
		atomic_store(&bus.sleeping, 0);
		pthread_mutex_unlock(&bus.mu);
	}
}

int bw_event_bus_start(struct bw_err *err)
{
	if (atomic_load(&bus.running))
		return 0;
	bus.stop = false;
	if (pthread_create(&bus.thread, NULL, dispatcher_main, NULL) != 0)
		return bw_err_set(err, 500, "event", "thread",
				  "cannot start event dispatcher");
	atomic_store_explicit(&bus.running, 1, memory_order_release);
	return 0;
}

void bw_event_bus_stop(void)
{
	if (!atomic_load(&bus.running))
		return;
	atomic_store(&bus.running, 0);
	pthread_mutex_lock(&bus.mu);
	bus.stop = true;
	pthread_cond_signal(&bus.cv);
	pthread_mutex_unlock(&bus.mu);
	pthread_join(bus.thread, NULL);
}

int bw_event_subscribe(bw_event_subscriber fn, void *arg)
{
	if (atomic_load(&bus.running) || bus.nsubs >= EVENT_MAX_SUBSCRIBERS)
		return -1;
	bus.subs[bus.nsubs] = fn;
	bus.sub_args[bus.nsubs] = arg;
	bus.nsubs++;
	return 0;
}

void bw_event_stats(struct bw_event_stats *out)
{
	out->emitted = atomic_load(&bus.emitted);
	out->delivered = atomic_load(&bus.delivered);
	out->refused = atomic_load(&bus.refused);
	out->fields_truncated = atomic_load(&bus.truncated);
}

void bw_event_flush(void)
{
	uint64_t target = atomic_load(&bus.emitted);
	pthread_mutex_lock(&bus.mu);
	while (atomic_load(&bus.running) && atomic_load(&bus.delivered) < target) {
		pthread_cond_signal(&bus.cv);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&bus.flushed, &bus.mu, &ts);
	}
	pthread_mutex_unlock(&bus.mu);
}
