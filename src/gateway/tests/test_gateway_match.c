/*
 * Unit tests of matching: IP and CIDR parsing (both families, mapped
 * addresses, hostile input), host patterns (exact, wildcard, case, FQDN
 * dot), segment-aware prefixes, suspicious paths and route selection
 * precedence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "gateway/gateway_int.h"

static bool in(const char *cidr, const char *ip)
{
	struct gw_cidr c;
	struct gw_ip a;
	assert_int_equal(gw_cidr_parse(cidr, strlen(cidr), &c), 0);
	assert_int_equal(gw_ip_parse(ip, strlen(ip), &a), 0);
	return gw_cidr_contains(&c, &a);
}

static void cidr_parsing_and_matching(void **state)
{
	assert_true(in("10.0.0.0/8", "10.1.2.3"));
	assert_false(in("10.0.0.0/8", "11.0.0.1"));
	assert_true(in("192.168.1.7", "192.168.1.7"));
	assert_false(in("192.168.1.7", "192.168.1.8"));
	assert_true(in("0.0.0.0/0", "8.8.8.8"));
	assert_false(in("0.0.0.0/0", "2001:db8::1")); /* v4 CIDR, v6 client */
	assert_true(in("2001:db8::/32", "2001:db8:1::5"));
	assert_false(in("2001:db8::/32", "2001:db9::5"));
	assert_true(in("::/0", "::1"));
	assert_true(in("172.16.0.0/12", "172.31.255.255"));
	assert_false(in("172.16.0.0/12", "172.32.0.0"));
	/* an IPv4-mapped IPv6 client is the IPv4 client it names */
	assert_true(in("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_true(in("10.0.0.0/9", "10.127.255.255"));
	assert_false(in("10.0.0.0/9", "10.128.0.0"));

	struct gw_cidr c;
	const char *bad[] = { "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.1/8",
			      "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/+8",
			      "2001:db8::1/32", "::/129", "300.1.1.1", "1.2.3",
			      "fe80::1%eth0", "10.0.0.0/8/8", "localhost", "1.2.3.4 " };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
		assert_int_equal(gw_cidr_parse(bad[i], strlen(bad[i]), &c), -1);
	/* NUL inside the length is refused, not truncated */
	assert_int_equal(gw_cidr_parse("10.0.0.1\0junk", 13, &c), -1);
	char big[200];
	memset(big, '1', sizeof(big));
	assert_int_equal(gw_cidr_parse(big, sizeof(big), &c), -1);

	struct gw_cidr list[2];
	assert_int_equal(gw_cidr_parse("10.0.0.0/8", 10, &list[0]), 0);
	assert_int_equal(gw_cidr_parse("::1", 3, &list[1]), 0);
	struct gw_ip a;
	assert_int_equal(gw_ip_parse("::1", 3, &a), 0);
	assert_true(gw_cidr_list_match(list, 2, &a));
	assert_int_equal(gw_ip_parse("1.1.1.1", 7, &a), 0);
	assert_false(gw_cidr_list_match(list, 2, &a));
	char txt[64];
	gw_ip_format(&a, txt, sizeof(txt));
	assert_string_equal(txt, "1.1.1.1");
	assert_int_equal(gw_ip_parse("2001:DB8::1", 11, &a), 0);
	gw_ip_format(&a, txt, sizeof(txt));
	assert_string_equal(txt, "2001:db8::1");
	/* every digit count of an octet, and a buffer one byte short */
	assert_int_equal(gw_ip_parse("0.9.10.99", 9, &a), 0);
	gw_ip_format(&a, txt, sizeof(txt));
	assert_string_equal(txt, "0.9.10.99");
	assert_int_equal(gw_ip_parse("100.199.250.255", 15, &a), 0);
	gw_ip_format(&a, txt, sizeof(txt));
	assert_string_equal(txt, "100.199.250.255");
	char small[15];
	gw_ip_format(&a, small, sizeof(small));
	assert_string_equal(small, "");
	gw_ip_format(&a, txt, 16);
	assert_string_equal(txt, "100.199.250.255");
}

static struct bw_arena *arena;

static struct gw_hostpat pat(const char *s)
{
	struct gw_hostpat p;
	const char *why = NULL;
	assert_int_equal(gw_hostpat_parse(arena, s, &p, &why), 0);
	return p;
}

static void host_patterns(void **state)
{
	arena = bw_arena_new(4096, 1 << 20);
	struct gw_hostpat ex = pat("Example.COM"), w = pat("*.example.com");
	assert_true(gw_hostpat_match(&ex, BW_STR("example.com")));
	assert_true(gw_hostpat_match(&ex, BW_STR("EXAMPLE.com")));
	assert_true(gw_hostpat_match(&ex, BW_STR("example.com.")));
	assert_false(gw_hostpat_match(&ex, BW_STR("www.example.com")));
	assert_false(gw_hostpat_match(&ex, BW_STR("example.co")));
	assert_true(gw_hostpat_match(&w, BW_STR("www.example.com")));
	assert_true(gw_hostpat_match(&w, BW_STR("a.b.Example.com")));
	assert_false(gw_hostpat_match(&w, BW_STR("example.com")));
	assert_false(gw_hostpat_match(&w, BW_STR(".example.com")));
	assert_false(gw_hostpat_match(&w, BW_STR("wwwexample.com")));
	assert_false(gw_hostpat_match(&w, BW_STR("www.example.com.evil")));
	assert_false(gw_hostpat_match(&w, BW_STR("")));

	struct gw_hostpat p;
	const char *why = NULL;
	const char *bad[] = { "", "*", "*.", "a..b", ".a", "a.", "ex ample.com",
			      "a*.b.com", "*.*.com", "exa/mple", "[::1]", "a:80" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		why = NULL;
		assert_int_equal(gw_hostpat_parse(arena, bad[i], &p, &why), -1);
		assert_non_null(why);
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(gw_hostpat_parse(arena, longname, &p, &why), -1);
	bw_arena_free(arena);
}

static void prefixes_and_paths(void **state)
{
	assert_true(gw_path_prefix_match(BW_STR("/api"), BW_STR("/api")));
	assert_true(gw_path_prefix_match(BW_STR("/api"), BW_STR("/api/x")));
	assert_false(gw_path_prefix_match(BW_STR("/api"), BW_STR("/apix")));
	assert_false(gw_path_prefix_match(BW_STR("/api"), BW_STR("/ap")));
	assert_true(gw_path_prefix_match(BW_STR("/api/"), BW_STR("/api/x")));
	assert_false(gw_path_prefix_match(BW_STR("/api/"), BW_STR("/api")));
	assert_true(gw_path_prefix_match(BW_STR("/"), BW_STR("/anything")));
	assert_false(gw_path_prefix_match(BW_STR("/API"), BW_STR("/api")));

	assert_false(gw_path_is_suspicious(BW_STR("/a/b.c/..d/...")));
	assert_false(gw_path_is_suspicious(BW_STR("/")));
	assert_false(gw_path_is_suspicious(BW_STR("/a%20b/%41")));
	assert_false(gw_path_is_suspicious(BW_STR("/trailing%")));
	assert_false(gw_path_is_suspicious(BW_STR("/x%2")));
	const char *bad[] = { "/a/../b", "/a/./b", "/..", "/.", "/a/%2e%2e/b",
			      "/a/%2E./b", "/a/.%2e", "/a%2fb", "/a%2Fb", "/a%5cb",
			      "/a\\b", "/a/%2e" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
		assert_true(gw_path_is_suspicious(bw_str_make(bad[i], strlen(bad[i]))));
}

static void routes_select_by_precedence(void **state)
{
	arena = bw_arena_new(4096, 1 << 20);
	struct gw_hostpat h_ex = pat("app.example.com"), h_w = pat("*.example.com");
	static const char *post_only[] = { "POST", NULL };
	struct gw_route r[6];
	memset(r, 0, sizeof(r));
	r[0] = (struct gw_route){ .name = "any-root", .prefix = BW_STR("/") };
	r[1] = (struct gw_route){ .name = "any-api", .prefix = BW_STR("/api") };
	r[2] = (struct gw_route){ .name = "wild", .prefix = BW_STR("/"),
				  .hosts = &h_w, .nhosts = 1 };
	r[3] = (struct gw_route){ .name = "exact", .prefix = BW_STR("/"),
				  .hosts = &h_ex, .nhosts = 1 };
	r[4] = (struct gw_route){ .name = "exact-upload", .prefix = BW_STR("/upload"),
				  .hosts = &h_ex, .nhosts = 1,
				  .methods = post_only, .nmethods = 1 };
	r[5] = (struct gw_route){ .name = "any-api-dup", .prefix = BW_STR("/api") };
	const struct gw_route *s;
#define SEL(h, p, m) gw_route_select(r, 6, BW_STR(h), BW_STR(p), BW_STR(m))
	s = SEL("other.org", "/x", "GET");
	assert_string_equal(s->name, "any-root");
	s = SEL("other.org", "/api/v1", "GET");
	assert_string_equal(s->name, "any-api"); /* longest prefix, first wins */
	s = SEL("www.example.com", "/api/v1", "GET");
	assert_string_equal(s->name, "wild"); /* a host match beats a prefix */
	s = SEL("APP.example.com", "/x", "GET");
	assert_string_equal(s->name, "exact");
	s = SEL("app.example.com", "/upload/f", "POST");
	assert_string_equal(s->name, "exact-upload");
	s = SEL("app.example.com", "/upload/f", "GET");
	assert_string_equal(s->name, "exact"); /* method filters out */
	s = SEL("app.example.com", "/upload/f", "post");
	assert_string_equal(s->name, "exact"); /* methods are case-sensitive */
	assert_null(gw_route_select(r + 2, 3, BW_STR("nope.org"), BW_STR("/"),
				    BW_STR("GET")));
	assert_null(gw_route_select(r, 0, BW_STR("a"), BW_STR("/"), BW_STR("GET")));
#undef SEL
	bw_arena_free(arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cidr_parsing_and_matching),
		cmocka_unit_test(host_patterns),
		cmocka_unit_test(prefixes_and_paths),
		cmocka_unit_test(routes_select_by_precedence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
