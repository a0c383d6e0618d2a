/* Unit tests for the normalised event: field table lookups, setters and
 * labels (including the label cap), conversion from struct bw_event, ECS
 * JSON output (nesting, numbers, arrays) and input (nested and dotted
 * keys, labels, timestamps), and hostile JSON input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "event/event.h"
#include "siem/siem_int.h"
#include "json/json.h"

static struct bw_arena *A;

static int setup(void **state)
{
	A = bw_arena_new(8192, 1 << 22);
	return A ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(A);
	return 0;
}

static void assert_field(const struct siem_event *ev, enum siem_field f,
			 const char *want)
{
	struct bw_str v = siem_event_get(ev, f);
	if (!want) {
		assert_null(v.p);
		return;
	}
	assert_non_null(v.p);
	if (v.len != strlen(want) || memcmp(v.p, want, v.len) != 0)
		fail_msg("%s: got '%.*s', want '%s'", siem_field_name(f),
			 (int)v.len, v.p, want);
}

static void field_names_round_trip(void **state)
{
	for (int f = 0; f < SIEM_F__COUNT; f++) {
		const char *n = siem_field_name((enum siem_field)f);
		assert_int_equal(siem_field_by_name(n, strlen(n)), f);
	}
	assert_int_equal(siem_field_by_name("source.i", 8), -1);
	assert_int_equal(siem_field_by_name("source.ipx", 10), -1);
	assert_int_equal(siem_field_by_name("@timestamp", 10), -1);
	assert_int_equal(siem_field_by_name("", 0), -1);
}

static void labels_are_capped_and_counted(void **state)
{
	struct siem_event ev;
	siem_event_init(&ev, A);
	for (unsigned i = 0; i < SIEM_MAX_LABELS; i++)
		assert_int_equal(siem_event_label(&ev, "k", 1, "v", 1), 0);
	assert_int_equal(siem_event_label(&ev, "x", 1, "y", 1), -1);
	assert_int_equal(ev.nlabels, SIEM_MAX_LABELS);
	assert_int_equal(ev.labels_dropped, 1);
	struct bw_str v = siem_event_label_get(&ev, "k", 1);
	assert_int_equal(v.len, 1);
	assert_null(siem_event_label_get(&ev, "x", 1).p);
}

static void converts_bus_events(void **state)
{
	struct bw_event in;
	bw_event_init(&in, "authentication", "api-authenticate",
		      BW_OUTCOME_FAILURE);
	in.time_ns = 1700000000123000000LL;
	in.severity = 5;
	BW_EVENT_SET(&in, tenant, "acme");
	BW_EVENT_SET(&in, user, "alice");
	BW_EVENT_SET(&in, source_ip, "192.0.2.7");
	in.source_port = 41000;
	BW_EVENT_SET(&in, request_id, "req-1");
	BW_EVENT_SET(&in, message, "bad token");
	bw_event_add_field(&in, "http.request.method", "POST");
	bw_event_add_field(&in, "url.path", "/api/v1/login");
	bw_event_add_field(&in, "reason", "expired");
	bw_event_add_field(&in, "listener", "admin");
	struct siem_event ev;
	struct bw_err err;
	assert_int_equal(siem_event_from_bw(&in, A, &ev, &err), 0);
	assert_true(ev.ts_ns == in.time_ns);
	assert_field(&ev, SIEM_F_EVENT_CATEGORY, "authentication");
	assert_field(&ev, SIEM_F_EVENT_ACTION, "api-authenticate");
	assert_field(&ev, SIEM_F_EVENT_OUTCOME, "failure");
	assert_field(&ev, SIEM_F_EVENT_SEVERITY, "5");
	assert_field(&ev, SIEM_F_TENANT, "acme");
	assert_field(&ev, SIEM_F_USER_NAME, "alice");
	assert_field(&ev, SIEM_F_SOURCE_IP, "192.0.2.7");
	assert_field(&ev, SIEM_F_SOURCE_PORT, "41000");
	assert_field(&ev, SIEM_F_DESTINATION_PORT, NULL);
	assert_field(&ev, SIEM_F_HTTP_REQUEST_ID, "req-1");
	assert_field(&ev, SIEM_F_HTTP_REQUEST_METHOD, "POST");
	assert_field(&ev, SIEM_F_URL_PATH, "/api/v1/login");
	assert_field(&ev, SIEM_F_EVENT_REASON, "expired");
	assert_field(&ev, SIEM_F_EVENT_MODULE, "bulwark");
	struct bw_str l = siem_event_label_get(&ev, "listener", 8);
	assert_int_equal(l.len, 5);
	assert_memory_equal(l.p, "admin", 5);
	/* the event owns copies: clobber the source */
	memset(&in, 'X', sizeof(in));
	assert_field(&ev, SIEM_F_USER_NAME, "alice");
}

static void writes_nested_ecs_json(void **state)
{
	struct siem_event ev;
	siem_event_init(&ev, A);
	ev.ts_ns = 1700000000123000000LL;
	siem_event_setz(&ev, SIEM_F_EVENT_CATEGORY, "authentication");
	siem_event_setz(&ev, SIEM_F_EVENT_OUTCOME, "failure");
	siem_event_setz(&ev, SIEM_F_SOURCE_IP, "198.51.100.4");
	siem_event_setz(&ev, SIEM_F_SOURCE_PORT, "2222");
	siem_event_setz(&ev, SIEM_F_HTTP_RESPONSE_STATUS_CODE, "404");
	siem_event_setz(&ev, SIEM_F_HTTP_REQUEST_METHOD, "GET");
	siem_event_setz(&ev, SIEM_F_USER_NAME, "bob");
	siem_event_setz(&ev, SIEM_F_USER_EFFECTIVE_NAME, "root");
	siem_event_setz(&ev, SIEM_F_USER_AGENT_ORIGINAL, "curl/8");
	siem_event_setz(&ev, SIEM_F_PROCESS_PID, "12x"); /* not a number */
	siem_event_setz(&ev, SIEM_F_MESSAGE, "quote \" and \n");
	assert_int_equal(siem_event_label(&ev, "sd.origin.ip", 12, "10.0.0.1",
					  8), 0);
	assert_int_equal(siem_event_label(&ev, "sd.origin.ip", 12, "dup", 3),
			 0);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(siem_event_write_json(&ev, &b), 0);
	const char *want =
		"{\"@timestamp\":\"2023-11-14T22:13:20.123Z\","
		"\"event\":{\"category\":[\"authentication\"],"
		"\"outcome\":\"failure\"},"
		"\"http\":{\"request\":{\"method\":\"GET\"},"
		"\"response\":{\"status_code\":404}},"
		"\"message\":\"quote \\\" and \\n\","
		"\"process\":{\"pid\":\"12x\"},"
		"\"source\":{\"ip\":\"198.51.100.4\",\"port\":2222},"
		"\"user\":{\"effective\":{\"name\":\"root\"},\"name\":\"bob\"},"
		"\"user_agent\":{\"original\":\"curl/8\"},"
		"\"labels\":{\"sd.origin.ip\":\"10.0.0.1\"}}";
	assert_string_equal(b.data, want);

	/* and it reads back to the same fields */
	struct siem_event back;
	struct bw_err err;
	assert_int_equal(siem_event_from_json(b.data, b.len, A, &back, &err),
			 0);
	assert_true(back.ts_ns == ev.ts_ns);
	for (int f = 0; f < SIEM_F__COUNT; f++) {
		struct bw_str x = ev.f[f], y = back.f[f];
		assert_int_equal(x.p == NULL, y.p == NULL);
		if (x.p) {
			assert_int_equal(x.len, y.len);
			assert_memory_equal(x.p, y.p, x.len);
		}
	}
	assert_int_equal(back.nlabels, 1);

	/* a ceiling too small fails cleanly */
	struct bw_buf small;
	bw_buf_init(&small, 40);
	assert_int_equal(siem_event_write_json(&ev, &small), -1);
	bw_buf_fini(&small);
	bw_buf_fini(&b);
}

/* The document writer escapes in 8-byte chunks on its own; its strings
 * must be byte for byte what src/json writes, for hostile bytes too
 * (quotes, backslashes, controls, broken and overlong UTF-8, surrogates,
 * runs crossing the 8-byte windows), and must read back. */
static void escapes_like_the_json_writer(void **state)
{
	static const char *const pieces[] = {
		"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "a", "abcdefgh",
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3",
		"\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xff", "\x80", " ", "\t",
	};
	uint32_t seed = 12345;
	for (int round = 0; round < 2000; round++) {
		char v[300];
		size_t n = 0;
		seed = seed * 1103515245u + 12345u;
		size_t parts = (seed >> 16) % 40;
		for (size_t i = 0; i < parts; i++) {
			seed = seed * 1103515245u + 12345u;
			const char *pc = pieces[(seed >> 16) % BW_ARRAY_LEN(pieces)];
			size_t pl = strlen(pc);
			if (pl == 0)
				pl = 1; /* never: pieces are non-empty */
			if (n + pl > sizeof(v))
				break;
			memcpy(v + n, pc, pl);
			n += pl;
		}
		struct bw_arena *a = bw_arena_new(8192, 1 << 20);
		assert_non_null(a);
		struct siem_event ev;
		siem_event_init(&ev, a);
		ev.ts_ns = 1700000000000000000LL;
		siem_event_set(&ev, SIEM_F_MESSAGE, v, n);
		assert_int_equal(siem_event_label(&ev, v, n, v, n), 0);
		struct bw_buf got, ref;
		bw_buf_init(&got, 1 << 16);
		bw_buf_init(&ref, 1 << 16);
		assert_int_equal(siem_event_write_json(&ev, &got), 0);
		struct json_writer w;
		json_writer_init(&w, &ref);
		json_write_stringn(&w, v, n);
		assert_int_equal(json_writer_finish(&w), 0);
		/* {"@timestamp":"...","message":REF,"labels":{REF:REF}} */
		struct bw_buf want;
		bw_buf_init(&want, 1 << 16);
		assert_int_equal(bw_buf_printf(&want,
			"{\"@timestamp\":\"2023-11-14T22:13:20.000Z\",\"message\":%.*s,"
			"\"labels\":{%.*s:%.*s}}", (int)ref.len, ref.data,
			(int)ref.len, ref.data, (int)ref.len, ref.data), 0);
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.data, want.data, got.len);
		struct siem_event back;
		struct bw_err err;
		assert_int_equal(siem_event_from_json(got.data, got.len, a, &back, &err), 0);
		bw_buf_fini(&got);
		bw_buf_fini(&ref);
		bw_buf_fini(&want);
		bw_arena_free(a);
	}
}

/* @timestamp reuses the text of the previous event's second: it must
 * still be exactly bw_time_format's, across seconds, before 1970 and
 * in the same second with other milliseconds. */
static void timestamps_match_bw_time_format(void **state)
{
	static const int64_t ts[] = {
		1700000000123000000LL, 1700000000999000000LL, 1700000000000000000LL,
		1700000001001000000LL, -1500000000LL, -1000000000LL, -1LL, 0,
		1700000000123000000LL,
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(ts); i++) {
		struct siem_event ev;
		siem_event_init(&ev, A);
		ev.ts_ns = ts[i];
		struct bw_buf b;
		bw_buf_init(&b, 4096);
		assert_int_equal(siem_event_write_json(&ev, &b), 0);
		char want[32], doc[96];
		size_t n = bw_time_format(ts[i], want);
		int dn = snprintf(doc, sizeof(doc), "{\"@timestamp\":\"%.*s\"}", (int)n, want);
		assert_int_equal(b.len, (size_t)dn);
		assert_memory_equal(b.data, doc, b.len);
		bw_buf_fini(&b);
	}
}

static void reads_dotted_and_odd_json(void **state)
{
	struct siem_event ev;
	struct bw_err err;
	const char *j = "{\"@timestamp\":1700000000000,\"source.ip\":\"1.2.3.4\","
			"\"destination\":{\"port\":443},\"event\":{\"type\":[],"
			"\"category\":[\"network\",\"web\"]},\"custom\":{\"a\":"
			"true,\"b\":null},\"labels\":{\"team\":\"red\"}}";
	assert_int_equal(siem_event_from_json(j, strlen(j), A, &ev, &err), 0);
	assert_true(ev.ts_ns == 1700000000000LL * 1000000);
	assert_field(&ev, SIEM_F_SOURCE_IP, "1.2.3.4");
	assert_field(&ev, SIEM_F_DESTINATION_PORT, "443");
	assert_field(&ev, SIEM_F_EVENT_CATEGORY, "network");
	assert_field(&ev, SIEM_F_EVENT_TYPE, NULL);
	struct bw_str a = siem_event_label_get(&ev, "custom.a", 8);
	assert_int_equal(a.len, 4);
	assert_null(siem_event_label_get(&ev, "custom.b", 8).p);
	assert_int_equal(siem_event_label_get(&ev, "team", 4).len, 3);
}

static void rejects_bad_json(void **state)
{
	struct siem_event ev;
	struct bw_err err;
	static const struct {
		const char *in, *reason;
	} bad[] = {
		{ "", "json" },
		{ "[1,2]", "not_object" },
		{ "\"x\"", "not_object" },
		{ "{\"a\":", "json" },
		{ "{\"@timestamp\":\"yesterday\"}", "timestamp" },
		{ "{\"@timestamp\":\"2023-02-30T00:00:00Z\"}", "timestamp" },
		{ "{\"@timestamp\":\"2023-01-01T00:00:00\"}", "timestamp" },
		{ "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{"
		  "\"i\":{\"j\":{\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":{"
		  "\"q\":{\"r\":1}}}}}}}}}}}}}}}}}}",
		  NULL },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		int r = siem_event_from_json(bad[i].in, strlen(bad[i].in), A,
					     &ev, &err);
		assert_int_equal(r, -1);
		if (bad[i].reason)
			assert_string_equal(err.reason, bad[i].reason);
		assert_int_equal(err.code, 400);
	}
}

static void parses_rfc3339(void **state)
{
	int64_t t;
	assert_int_equal(siem_time_parse_rfc3339("1970-01-01T00:00:00Z", 20,
						 &t), 0);
	assert_true(t == 0);
	const char *s = "2003-10-11T22:14:15.003Z";
	assert_int_equal(siem_time_parse_rfc3339(s, strlen(s), &t), 0);
	assert_true(t == 1065910455003000000LL);
	s = "2003-08-24T05:14:15.000003-07:00";
	assert_int_equal(siem_time_parse_rfc3339(s, strlen(s), &t), 0);
	assert_true(t == 1061727255000003000LL);
	s = "2024-02-29T12:00:00+00:00";
	assert_int_equal(siem_time_parse_rfc3339(s, strlen(s), &t), 0);
	static const char *const bad[] = {
		"2023-02-29T12:00:00Z", "2023-13-01T00:00:00Z",
		"2023-01-01T24:00:00Z", "2023-01-01T00:00:00+25:00",
		"2023-01-01T00:00:00Zjunk", "2023-01-01", "",
		"2003-10-11T22:14:15.Z",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
		assert_int_equal(siem_time_parse_rfc3339(bad[i], strlen(bad[i]),
							 &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(field_names_round_trip),
		cmocka_unit_test_setup_teardown(labels_are_capped_and_counted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(converts_bus_events, setup,
						teardown),
		cmocka_unit_test_setup_teardown(writes_nested_ecs_json, setup,
						teardown),
		cmocka_unit_test_setup_teardown(escapes_like_the_json_writer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(timestamps_match_bw_time_format, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reads_dotted_and_odd_json,
						setup, teardown),
		cmocka_unit_test_setup_teardown(rejects_bad_json, setup,
						teardown),
		cmocka_unit_test(parses_rfc3339),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
