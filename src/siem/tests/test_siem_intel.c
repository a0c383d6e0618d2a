/* Threat intelligence: CSV and STIX 2.1 feeds (types detected or named,
 * comments, headers, quotes, malformed rows counted, expired STIX
 * indicators skipped, OR-ed patterns, hashes), the radix tries' longest
 * prefix match for IPv4 and IPv6, domains matching their subdomains,
 * URLs; then end to end: a CSV feed from a file and a STIX bundle fetched
 * from a URL by the service thread, events matching them turn into
 * alerts of kind intel with the indicator's context and labels that
 * search finds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "siem_harness.h"

static const char CSV[] =
	"value,type,description\n"
	"# comment\n"
	"198.51.100.7,ip,known scanner\n"
	"203.0.113.0/24,cidr,\"botnet, range\"\n"
	"203.0.113.128/25,,more specific\n"
	"2001:db8::/32\n"
	"evil.example\n"
	"http://bad.example/payload.exe,url,dropper\n"
	"44d88612fea8a8f36de82e1278abb02f,md5,EICAR\n"
	"not a valid indicator!\n"
	"1.2.3.4,martian\n"
	"300.1.1.1,ip\n"
	"\r\n";

static const char STIX[] =
	"{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":["
	"{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--a1\","
	"\"name\":\"C2 server\",\"description\":\"APT C2\",\"confidence\":85,"
	"\"pattern_type\":\"stix\",\"pattern\":\"[ipv4-addr:value = '192.0.2.66'] OR"
	" [domain-name:value = 'c2.example']\",\"valid_from\":\"2024-01-01T00:00:00Z\"},"
	"{\"type\":\"indicator\",\"id\":\"indicator--a2\",\"pattern_type\":\"stix\","
	"\"pattern\":\"[file:hashes.'SHA-256' = "
	"'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']\"},"
	"{\"type\":\"indicator\",\"id\":\"indicator--old\",\"pattern_type\":\"stix\","
	"\"pattern\":\"[ipv4-addr:value = '192.0.2.99']\",\"valid_until\":\"2020-01-01T00:00:00Z\"},"
	"{\"type\":\"indicator\",\"id\":\"indicator--sigma\",\"pattern_type\":\"sigma\","
	"\"pattern\":\"title: x\"},"
	"{\"type\":\"malware\",\"id\":\"malware--1\",\"name\":\"x\"},"
	"{\"type\":\"indicator\",\"id\":\"indicator--q\",\"pattern_type\":\"stix\","
	"\"pattern\":\"[url:value = 'http://x.example/it\\\\'s']\"}"
	"]}";

static int setup(void **state)
{
	struct bw_err err;
	bw_clock_set(1718452860LL * 1000000000LL);
	return net_fetch_global_init(&err);
}

static void csv_and_lookups(void **state)
{
	struct siem_intel_set *s = siem_intel_set_new();
	struct bw_err err;
	struct siem_indicator ctx = { .feed = "local", .level = SIEM_LEVEL_HIGH, .confidence = -1 };
	assert_int_equal(siem_intel_parse_csv(s, CSV, sizeof(CSV) - 1, &ctx, &err), 7);
	assert_int_equal(siem_intel_set_bad(s), 3);
	assert_int_equal(siem_intel_finish(s), 0);
	const struct siem_indicator *i = siem_intel_match_ip(s, "198.51.100.7", 12);
	assert_non_null(i);
	assert_string_equal(i->description, "known scanner");
	assert_string_equal(i->feed, "local");
	assert_null(siem_intel_match_ip(s, "198.51.100.8", 12));
	/* longest prefix wins */
	i = siem_intel_match_ip(s, "203.0.113.200", 13);
	assert_non_null(i);
	assert_string_equal(i->value, "203.0.113.128/25");
	i = siem_intel_match_ip(s, "203.0.113.5", 11);
	assert_string_equal(i->value, "203.0.113.0/24");
	assert_string_equal(i->description, "botnet, range");
	assert_non_null(siem_intel_match_ip(s, "2001:db8::1", 11));
	assert_null(siem_intel_match_ip(s, "2001:db9::1", 11));
	assert_null(siem_intel_match_ip(s, "not-an-ip", 9));
	/* subdomains, any case */
	assert_non_null(siem_intel_match_domain(s, "www.EVIL.example", 16));
	assert_non_null(siem_intel_match_domain(s, "evil.example.", 13));
	assert_null(siem_intel_match_domain(s, "notevil.example", 15));
	assert_non_null(siem_intel_match(s, SIEM_IOC_URL, "http://bad.example/payload.exe", 30));
	assert_non_null(siem_intel_match(s, SIEM_IOC_HASH, "44D88612FEA8A8F36DE82E1278ABB02F", 32));
	siem_intel_set_unref(s);
}

static void stix_bundle(void **state)
{
	struct siem_intel_set *s = siem_intel_set_new();
	struct bw_err err;
	struct siem_indicator ctx = { .feed = "stix", .level = SIEM_LEVEL_CRITICAL };
	assert_int_equal(siem_intel_parse_stix(s, STIX, sizeof(STIX) - 1, &ctx, &err), 4);
	assert_int_equal(siem_intel_finish(s), 0);
	const struct siem_indicator *i = siem_intel_match_ip(s, "192.0.2.66", 10);
	assert_non_null(i);
	assert_string_equal(i->name, "C2 server");
	assert_string_equal(i->ref, "indicator--a1");
	assert_int_equal(i->confidence, 85);
	assert_non_null(siem_intel_match_domain(s, "beacon.c2.example", 17));
	assert_non_null(siem_intel_match(
		s, SIEM_IOC_HASH, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		64));
	assert_null(siem_intel_match_ip(s, "192.0.2.99", 10)); /* expired */
	assert_non_null(siem_intel_match(s, SIEM_IOC_URL, "http://x.example/it's", 21));
	assert_true(siem_intel_set_bad(s) >= 1); /* the sigma-typed pattern */
	siem_intel_set_unref(s);
	/* not a bundle; not JSON */
	s = siem_intel_set_new();
	assert_int_equal(siem_intel_parse_stix(s, "{\"type\":\"indicator\"}", 20, &ctx, &err), -1);
	assert_string_equal(err.reason, "stix");
	assert_int_equal(siem_intel_parse_stix(s, "[nope", 5, &ctx, &err), -1);
	siem_intel_set_unref(s);
}

/* ------------------------------------------------------ end to end */

static struct loop *hl;
static struct net_thread *hnt;
static pthread_t hth;
static _Atomic int served;

static void serve_bundle(struct net_exchange *x, void *arg)
{
	atomic_fetch_add(&served, 1);
	net_respond(x, 200, "application/stix+json", STIX, sizeof(STIX) - 1);
}

static void *hloop(void *arg)
{
	(void)loop_run(hl);
	return NULL;
}

static void hstop(void *arg)
{
	net_thread_free(hnt);
	loop_stop(hl);
}

static void feeds_end_to_end(void **state)
{
	struct bw_err err;
	hl = loop_new(256, &err);
	hnt = net_thread_new(hl, &err);
	struct net_http_options o = { .name = "stix", .handler = serve_bundle, .max_conns = 8,
				      .header_timeout_ms = 5000, .body_timeout_ms = 5000,
				      .idle_timeout_ms = 5000, .write_timeout_ms = 5000 };
	http_limits_default(&o.limits);
	struct net_http_server *srv = net_http_server_new(&o, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 8, &err);
	uint16_t port = (uint16_t)net_socket_port(fd);
	assert_int_equal(net_thread_listen(hnt, "stix", fd, srv, &err), 0);
	net_http_server_unref(srv);
	assert_int_equal(pthread_create(&hth, NULL, hloop, NULL), 0);

	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/bw-siem-intel-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char csv[128];
	snprintf(csv, sizeof(csv), "%s/local.csv", dir);
	assert_int_equal(bw_file_write_atomic(csv, CSV, sizeof(CSV) - 1, 0600, &err), 0);
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
		 "  intel:\n    feeds:\n"
		 "      - {name: local, path: %s, format: csv, level: medium}\n"
		 "      - {name: cti, url: 'http://127.0.0.1:%u/bundle.json', format: stix,"
		 " level: critical}\n",
		 csv, port);
	h_fixed_dir = dir;
	struct harness h;
	assert_int_equal(h_start_conf(&h, yaml, true), 0);
	h_fixed_dir = NULL;
	/* the service thread loads the file and fetches the URL */
	for (int i = 0; i < 100 && siem_feeds_count(h.svc) < 11; i++)
		usleep(50000);
	assert_int_equal(siem_feeds_count(h.svc), 11);
	assert_true(atomic_load(&served) >= 1);
	struct bw_event ev;
	bw_event_init(&ev, "network", "connection", BW_OUTCOME_SUCCESS);
	BW_EVENT_SET(&ev, source_ip, "10.0.0.5");
	BW_EVENT_SET(&ev, dest_ip, "192.0.2.66");
	BW_EVENT_SET(&ev, tenant, "acme");
	siem_bus_subscriber(&ev, h.svc);
	bw_event_init(&ev, "web", "request", BW_OUTCOME_SUCCESS);
	BW_EVENT_SET(&ev, source_ip, "203.0.113.200");
	bw_event_add_field(&ev, "url.original", "http://www.evil.example/login");
	siem_bus_subscriber(&ev, h.svc);
	bw_event_init(&ev, "web", "request", BW_OUTCOME_SUCCESS);
	BW_EVENT_SET(&ev, source_ip, "10.9.9.9");
	siem_bus_subscriber(&ev, h.svc);
	siem_service_flush(h.svc);
	for (int i = 0; i < 100 && h_events(&h) < 3; i++) {
		usleep(20000);
		siem_service_flush(h.svc);
	}
	/* the C2 address (critical, from the URL feed) */
	assert_int_equal(h_count(&h,
				 "SELECT COUNT(*) FROM siem_alert WHERE kind = 'intel' AND"
				 " group_key = '192.0.2.66' AND level = 'critical'",
				 NULL, 0),
			 1);
	/* the /25 and the domain behind the URL (medium, from the file) */
	assert_int_equal(h_count(&h,
				 "SELECT COUNT(*) FROM siem_alert WHERE kind = 'intel' AND"
				 " level = 'medium'",
				 NULL, 0),
			 2);
	struct siem_stats s;
	siem_service_stats(h.svc, &s);
	assert_int_equal(s.intel_matches, 3);
	/* the matched events carry threat labels that search finds */
	struct siem_query *q = calloc(1, sizeof(*q));
	assert_int_equal(siem_query_parse(q, "threat.feed:cti", 15, &err), 0);
	struct siem_scan_opts so = { .from_ns = 0, .to_ns = INT64_MAX / 2 };
	struct siem_search_result res;
	assert_int_equal(siem_search(h.svc, q, &so, 0, 10, &res, &err), 0);
	assert_int_equal(res.n, 1);
	assert_non_null(strstr(res.hits[0].doc, "192.0.2.66"));
	siem_search_result_free(&res);

	/* syslog lines have their documents and blooms made on the ingest
	 * loop; one from the C2 address gains threat labels in the pipeline,
	 * so its batch is packed again there: every line is stored whole and
	 * found, the labelled one by its labels too */
	atomic_store(&h.svc->pack_on_loop, 0); /* as when the pipeline is behind */
	int sfd = h_connect(h.tcp_port, SOCK_STREAM);
	assert_true(sfd >= 0);
	char lines[2048];
	size_t ll = 0;
	for (int i = 0; i < 6; i++)
		ll += (size_t)bw_snprintf(lines + ll, sizeof(lines) - ll,
					  "<38>1 2024-06-15T12:00:0%dZ web-1 sshd 42 - - Failed password"
					  " for packuser%d from %s port 22 ssh2\n",
					  i, i, i == 2 ? "192.0.2.66" : "198.51.100.7");
	assert_int_equal(h_send_all(sfd, lines, ll), 0);
	close(sfd);
	for (int i = 0; i < 200 && h_events(&h) < 9; i++) {
		usleep(20000);
		siem_service_flush(h.svc);
	}
	assert_int_equal(h_events(&h), 9);
	static const char *const want[][2] = {
		{ "threat.feed:cti", "packuser2" },  { "packuser0", "packuser0" },
		{ "packuser1", "packuser1" },	       { "packuser2", "threat.indicator" },
		{ "packuser3", "packuser3" },	       { "user.name:packuser5", "12:00:05" },
	};
	for (size_t k = 0; k < BW_ARRAY_LEN(want); k++) {
		memset(q, 0, sizeof(*q));
		assert_int_equal(siem_query_parse(q, want[k][0], strlen(want[k][0]), &err), 0);
		assert_int_equal(siem_search(h.svc, q, &so, 0, 10, &res, &err), 0);
		assert_int_equal(res.n, k == 0 ? 2 : 1);
		bool found = false;
		for (size_t j = 0; j < res.n; j++)
			found |= strstr(res.hits[j].doc, want[k][1]) != NULL;
		assert_true(found);
		siem_search_result_free(&res);
	}
	free(q);
	h_stop(&h, false);
	if (loop_post(hl, hstop, NULL) < 0)
		loop_stop(hl);
	pthread_join(hth, NULL);
	loop_free(hl);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csv_and_lookups),
		cmocka_unit_test(stix_bundle),
		cmocka_unit_test(feeds_end_to_end),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
