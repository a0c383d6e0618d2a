/* Unit tests for the event bus: delivery order, refusal when a ring is full,
 * field truncation, multi-thread emitters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "event/event.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int seen;
static int last_seq[4];
static int order_ok = 1;
static volatile int block_subscriber;

static void count_sub(const struct bw_event *ev, void *arg)
{
	while (block_subscriber)
		usleep(1000);
	int thread = ev->fields[0].value[0] - '0';
	int seq = (int)ev->severity;
	(void)seq;
	pthread_mutex_lock(&mu);
	int n = 0;
	for (const char *p = ev->message; *p; p++)
		n = n * 10 + (*p - '0');
	if (n != last_seq[thread] + 1)
		order_ok = 0;
	last_seq[thread] = n;
	seen++;
	pthread_mutex_unlock(&mu);
}

static void *emitter(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int i = 1; i <= 1000; i++) {
		struct bw_event ev;
		bw_event_init(&ev, "web", "test", BW_OUTCOME_SUCCESS);
		char tv[2] = { (char)('0' + t), 0 };
		bw_event_add_field(&ev, "thread", tv);
		char msg[16];
		bw_snprintf(msg, sizeof(msg), "%d", i);
		BW_EVENT_SET(&ev, message, msg);
		while (bw_event_emit(&ev) < 0)
			usleep(100);
	}
	return NULL;
}

static void delivers_in_order_per_thread(void **state)
{
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, emitter, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	bw_event_flush();
	assert_int_equal(seen, 3000);
	assert_true(order_ok);
	struct bw_event_stats st;
	bw_event_stats(&st);
	assert_true(st.delivered >= 3000);
}

static void refuses_when_ring_full(void **state)
{
	struct bw_event_stats before, after;
	bw_event_stats(&before);
	block_subscriber = 1;
	struct bw_event ev;
	bw_event_init(&ev, "web", "flood", BW_OUTCOME_UNKNOWN);
	bw_event_add_field(&ev, "thread", "0");
	BW_EVENT_SET(&ev, message, "1");
	int refused = 0;
	for (int i = 0; i < 10000; i++)
		if (bw_event_emit(&ev) < 0)
			refused++;
	block_subscriber = 0;
	bw_event_flush();
	bw_event_stats(&after);
	assert_true(refused > 0);
	assert_int_equal(after.refused - before.refused, (uint64_t)refused);
	assert_int_equal(after.emitted - before.emitted, (uint64_t)(10000 - refused));
}

static void fields_truncate_safely(void **state)
{
	struct bw_event ev;
	char longv[400];
	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	bw_event_init(&ev, "a-category-name-that-is-far-too-long", "x",
		      BW_OUTCOME_FAILURE);
	assert_int_equal(strlen(ev.category), sizeof(ev.category) - 1);
	for (int i = 0; i < 10; i++)
		bw_event_add_field(&ev, "k", longv);
	assert_int_equal(ev.nfields, EVENT_MAX_FIELDS);
	assert_int_equal(strlen(ev.fields[0].value), sizeof(ev.fields[0].value) - 1);
	struct bw_event_stats st;
	bw_event_stats(&st);
	assert_int_equal(st.fields_truncated, 2);
	assert_string_equal(bw_outcome_name(BW_OUTCOME_FAILURE), "failure");
}

static int setup(void **state)
{
	if (bw_event_subscribe(count_sub, NULL) < 0)
		return -1;
	return bw_event_bus_start(NULL);
}

static int teardown(void **state)
{
	bw_event_bus_stop();
	struct bw_event ev;
	bw_event_init(&ev, "web", "late", BW_OUTCOME_UNKNOWN);
	return bw_event_emit(&ev) == -1 ? 0 : -1; /* stopped bus refuses */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_truncate_safely),
		cmocka_unit_test(delivers_in_order_per_thread),
		cmocka_unit_test(refuses_when_ring_full),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
