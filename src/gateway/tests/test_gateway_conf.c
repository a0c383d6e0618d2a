/*
 * Unit tests of the `gateway:` config section: a full section binds with
 * defaults filled in; an absent section is "not configured"; every
 * cross-field and syntax check answers FILE:LINE:COL with the key path;
 * gateway_new refuses what only it can check (unresolvable names,
 * unreadable TLS files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "gateway/gateway_int.h"

static struct bw_arena *arena;
static struct gateway_conf gc;
static struct bw_err err;

static int bind_text(const char *yaml)
{
	bw_arena_free(arena);
	arena = bw_arena_new(8192, 16 << 20);
	struct conf_doc *doc = conf_load_string("gw.yaml", yaml, strlen(yaml), arena, &err);
	assert_non_null(doc);
	if (!doc)
		return -2;
	return gateway_conf_bind(conf_get(doc->root, "gateway"), arena, &gc, &err);
}

static void full_section_binds(void **state)
{
	assert_int_equal(bind_text(
		"gateway:\n"
		"  trusted_proxies: [10.0.0.0/8, \"::1\"]\n"
		"  send_forwarded: true\n"
		"  upstreams:\n"
		"    - name: app\n"
		"      servers: [\"127.0.0.1:8080\", \"[::1]:8080\"]\n"
		"      balance: least_conn\n"
		"      tls: { ca_file: /etc/ssl/certs/ca-certificates.crt }\n"
		"      health: { path: /healthz }\n"
		"  routes:\n"
		"    - name: api\n"
		"      hosts: [api.example.com, \"*.example.com\"]\n"
		"      path: /api\n"
		"      methods: [GET, POST]\n"
		"      upstream: app\n"
		"      waf: block\n"
		"      rate_limits: [ { rate: 100/s }, { key: header, header: X-Api-Key, rate: 10/m, burst: 5 } ]\n"
		"    - { name: demo, builtin: demo }\n"),
		0);
	assert_true(gc.configured);
	assert_int_equal(gc.trusted_proxies.n, 2);
	assert_true(gc.send_forwarded);
	assert_int_equal(gc.max_response, 8u << 20);
	const struct gateway_upstream_conf *u = gc.upstreams.v;
	assert_int_equal(gc.upstreams.n, 1);
	assert_int_equal(u->balance, GATEWAY_BALANCE_LEAST_CONN);
	assert_int_equal(u->connect_timeout_ms, 5000);
	assert_int_equal(u->read_timeout_ms, 60000);
	assert_int_equal(u->retries, 1);
	assert_int_equal(u->max_fails, 3);
	assert_int_equal(u->pool_idle, 32);
	assert_true(u->tls.enabled);
	assert_true(u->tls.verify);
	assert_string_equal(u->health.path, "/healthz");
	assert_int_equal(u->health.interval_ms, 5000);
	const struct gateway_route_conf *r = gc.routes.v;
	assert_int_equal(gc.routes.n, 2);
	assert_string_equal(r[0].path, "/api");
	assert_int_equal(r[0].waf, GATEWAY_WAF_BLOCK);
	assert_true(r[0].preserve_host);
	const struct gateway_limit_conf *l = r[0].rate_limits.v;
	assert_int_equal(l[0].rate.count, 100);
	assert_int_equal(l[0].rate.per_ms, 1000);
	assert_int_equal(l[0].burst, 100); /* 0: the rate's count */
	assert_int_equal(l[1].key, GATEWAY_RL_HEADER);
	assert_int_equal(l[1].rate.per_ms, 60000);
	assert_int_equal(l[1].burst, 5);
	assert_string_equal(r[1].path, "/");
	assert_int_equal(r[1].builtin, GATEWAY_BUILTIN_DEMO);
	assert_int_equal(gc.ddos.window_ms, 1000);
	assert_false(gc.ddos.enabled);
	assert_int_equal(gc.bot.cookie_ttl_ms, 3600000);

	/* an upstream without a tls section is plaintext */
	assert_int_equal(bind_text("gateway:\n  upstreams: [ { name: a, servers: [\"h:1\"] } ]\n"), 0);
	assert_false(((const struct gateway_upstream_conf *)gc.upstreams.v)->tls.enabled);
	/* absent section */
	assert_int_equal(bind_text("server: {}\n"), 0);
	assert_false(gc.configured);
	assert_int_equal(gc.routes.n, 0);
}

static void expect_error(const char *yaml, const char *where, const char *what)
{
	assert_int_equal(bind_text(yaml), -1);
	if (!strstr(err.msg, where) || !strstr(err.msg, what))
		fail_msg("message '%s' lacks '%s' / '%s'", err.msg, where, what);
}

static void errors_are_positioned(void **state)
{
	expect_error("gateway:\n  routes: [ { name: r, upstream: nope } ]\n",
		     "gw.yaml:2:", "no upstream named 'nope'");
	expect_error("gateway:\n  routes: [ { name: r } ]\n", "routes[0]",
		     "exactly one of 'upstream' and 'builtin'");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:1\"] } ]\n"
		     "  routes: [ { name: r, upstream: a, builtin: demo } ]\n",
		     "routes[0]", "exactly one");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"nocolon\"] } ]\n",
		     "upstreams[0].servers[0]", "host:port");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:0\"] } ]\n",
		     "servers[0]", "host:port");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:99999\"] } ]\n",
		     "servers[0]", "host:port");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"[1.2.3.4]:80\"] } ]\n",
		     "servers[0]", "host:port");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"a b:80\"] } ]\n",
		     "servers[0]", "host:port");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:1\"] },\n"
		     "               { name: a, servers: [\"h:2\"] } ]\n",
		     "upstreams[1].name", "defined twice");
	expect_error("gateway:\n  trusted_proxies: [10.0.0.1/8]\n", "trusted_proxies[0]",
		     "host bits must be zero");
	expect_error("gateway:\n  rate_limit: { allowlist: [bogus] }\n",
		     "rate_limit.allowlist[0]", "not an IP");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo, hosts: [\"a..b\"] } ]\n",
		     "hosts[0]", "empty label");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo, methods: [get] } ]\n",
		     "methods[0]", "upper-case");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo, path: api } ]\n",
		     "routes[0].path", "must start with '/'");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo,\n"
		     "    rate_limits: [ { key: header, rate: 1/s } ] } ]\n",
		     "rate_limits[0]", "needs 'header'");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo,\n"
		     "    rate_limits: [ { rate: 10 } ] } ]\n",
		     "rate", "COUNT/PERIOD");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo,\n"
		     "    rate_limits: [ { rate: 0/s } ] } ]\n", "rate", "COUNT/PERIOD");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo,\n"
		     "    rate_limits: [ { rate: 5/fortnight } ] } ]\n", "rate", "period");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo, wat: 1 } ]\n",
		     "wat", "unknown key");
	expect_error("gateway:\n  routes: [ { name: r, builtin: demo },\n"
		     "            { name: r, builtin: demo } ]\n", "routes[1].name",
		     "defined twice");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:1\"],\n"
		     "    health: { path: nope } } ]\n", "health.path", "start with '/'");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:1\"],\n"
		     "    health: { path: /h, interval: 1s, timeout: 2s } } ]\n",
		     "health", "timeout must not exceed interval");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:1\"],\n"
		     "    tls: { client_cert: /x.pem } } ]\n", "tls", "go together");
	expect_error("gateway:\n  bot: { challenge_key: short }\n", "challenge_key", "");
	expect_error("gateway:\n  max_response: 1g\n", "max_response", "");
	expect_error("gateway:\n  upstreams: [ { name: a, servers: [\"h:1\"], retries: 99 } ]\n",
		     "retries", "");
	expect_error("gateway: [1, 2]\n", "gateway", "mapping");
}

static void gateway_new_checks_the_world(void **state)
{
	assert_int_equal(bind_text("gateway:\n  upstreams: [ { name: a, servers: "
				   "[\"no-such-host.invalid:80\"] } ]\n"),
			 0);
	assert_null(gateway_new(&gc, &err));
	assert_non_null(strstr(err.msg, "cannot resolve"));
	assert_int_equal(bind_text("gateway:\n  upstreams: [ { name: a, servers: [\"127.0.0.1:1\"],\n"
				   "    tls: { ca_file: /nonexistent/ca.pem } } ]\n"),
			 0);
	assert_null(gateway_new(&gc, &err));
	assert_int_equal(bind_text("gateway:\n  waf: { rules: [/nonexistent/rules.conf] }\n"), 0);
	assert_null(gateway_new(&gc, &err));
	/* a good one, freed at once */
	assert_int_equal(bind_text("gateway:\n  upstreams: [ { name: a, servers: [\"localhost:80\"] } ]\n"
				   "  routes: [ { name: r, upstream: a } ]\n"),
			 0);
	struct gateway *gw = gateway_new(&gc, &err);
	assert_non_null(gw);
	gateway_free(gw);
	gateway_free(NULL);
	bw_arena_free(arena);
	arena = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_section_binds),
		cmocka_unit_test(errors_are_positioned),
		cmocka_unit_test(gateway_new_checks_the_world),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
