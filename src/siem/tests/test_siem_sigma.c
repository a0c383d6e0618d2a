/* Unit tests for the Sigma loader and matcher: every modifier (with the
 * encodings' published outputs), wildcards and escapes, null/exists,
 * keyword searches, conditions (precedence, x of pattern, them, lists),
 * logsource and field mapping, load errors with FILE:LINE, the project's
 * rule files, and the per-field index against a brute-force evaluation
 * over 1,000 generated rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siem/siem_int.h"

static struct bw_arena *A;

static int setup(void **state)
{
	A = bw_arena_new(8192, 1 << 24);
	return A ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(A);
	return 0;
}

/* An event from "field=value" strings (ECS names or labels.X). */
static struct siem_event *mkev(const char *kv, ...)
{
	struct siem_event *ev = bw_arena_zalloc(A, sizeof(*ev));
	siem_event_init(ev, A);
	va_list ap;
	va_start(ap, kv);
	for (const char *s = kv; s; s = va_arg(ap, const char *)) {
		const char *eq = strchr(s, '=');
		assert_non_null(eq);
		size_t kl = (size_t)(eq - s);
		if (kl > 7 && memcmp(s, "labels.", 7) == 0) {
			assert_int_equal(siem_event_label(ev, s + 7, kl - 7,
							  eq + 1,
							  strlen(eq + 1)),
					 0);
			continue;
		}
		int f = siem_field_by_name(s, kl);
		if (f < 0)
			fail_msg("unknown field in %s", s);
		siem_event_setz(ev, (enum siem_field)f, eq + 1);
	}
	va_end(ap);
	return ev;
}

static struct siem_ruleset *load(const char *yaml)
{
	struct siem_ruleset *rs = siem_ruleset_new();
	struct bw_err err;
	assert_non_null(rs);
	if (siem_ruleset_add_string(rs, "test.yml", yaml, strlen(yaml), &err) <
	    0)
		fail_msg("load failed: %s (%s)", err.msg, err.reason);
	if (siem_ruleset_compile(rs, &err) < 0)
		fail_msg("compile failed: %s", err.msg);
	return rs;
}

/* Does the single rule in rs match ev? Cross-checks the index path with
 * a direct evaluation. */
static bool matches(struct siem_ruleset *rs, const struct siem_event *ev)
{
	struct siem_matcher *m = siem_matcher_new(rs);
	assert_non_null(m);
	uint32_t out[8];
	long n = siem_match(m, ev, out, 8);
	assert_true(n >= 0);
	siem_matcher_free(m);
	return n > 0;
}

#define RULE(det)                                                              \
	"title: t\nlogsource:\n    product: linux\ndetection:\n" det

static void check_rule(const char *yaml, const struct siem_event *yes,
		       const struct siem_event *no)
{
	struct siem_ruleset *rs = load(yaml);
	if (yes && !matches(rs, yes))
		fail_msg("should match:\n%s", yaml);
	if (no && matches(rs, no))
		fail_msg("should not match:\n%s", yaml);
	siem_ruleset_free(rs);
}

static void plain_values_and_wildcards(void **state)
{
	/* case-insensitive equality */
	check_rule(RULE("    s:\n        User: ALICE\n    condition: s\n"),
		   mkev("user.name=alice", NULL), mkev("user.name=alicex", NULL));
	/* numbers are compared as text */
	check_rule(RULE("    s:\n        EventID: 4625\n    condition: s\n"),
		   mkev("event.code=4625", NULL), mkev("event.code=46250", NULL));
	/* wildcards: * and ? (one UTF-8 character) */
	check_rule(RULE("    s:\n        process.executable: 'C:\\Win*\\cmd.?xe'\n"
			"    condition: s\n"),
		   mkev("process.executable=c:\\windows\\system32\\CMD.Exe",
			NULL),
		   mkev("process.executable=c:\\windows\\cmd.exe.bak", NULL));
	check_rule(RULE("    s:\n        message: 'caf?'\n    condition: s\n"),
		   mkev("message=caf\xC3\xA9", NULL),
		   mkev("message=caf\xC3\xA9s", NULL));
	/* escaped wildcards are literal; a lone backslash is literal */
	check_rule(RULE("    s:\n        message: 'a\\*b\\?c\\d'\n"
			"    condition: s\n"),
		   mkev("message=a*b?c\\d", NULL), mkev("message=axxb?c\\d", NULL));
	/* \\* is a backslash then a wildcard */
	check_rule(RULE("    s:\n        message: 'dir\\\\*'\n    condition: s\n"),
		   mkev("message=dir\\anything", NULL), mkev("message=dirx", NULL));
	/* a value list is OR; a map is AND */
	check_rule(RULE("    s:\n        User:\n            - bob\n            - "
			"carol\n        source.ip: 192.0.2.1\n    condition: s\n"),
		   mkev("user.name=carol", "source.ip=192.0.2.1", NULL),
		   mkev("user.name=carol", "source.ip=192.0.2.2", NULL));
	/* absent fields never equal anything */
	check_rule(RULE("    s:\n        User: '*'\n    condition: s\n"),
		   mkev("user.name=", NULL), mkev("message=x", NULL));
	/* labels are found by exact name */
	check_rule(RULE("    s:\n        cs1: prod\n    condition: s\n"),
		   mkev("labels.cs1=PROD", NULL), mkev("labels.cs2=prod", NULL));
}

static void string_modifiers(void **state)
{
	check_rule(RULE("    s:\n        CommandLine|contains: ' -enc '\n"
			"    condition: s\n"),
		   mkev("process.command_line=powershell -ENC abc", NULL),
		   mkev("process.command_line=powershell -encode", NULL));
	check_rule(RULE("    s:\n        Image|endswith: '\\bash'\n"
			"    condition: s\n"),
		   mkev("process.executable=C:\\x\\BASH", NULL),
		   mkev("process.executable=bash2", NULL));
	check_rule(RULE("    s:\n        url.path|startswith: /admin\n"
			"    condition: s\n"),
		   mkev("url.path=/Admin/x", NULL), mkev("url.path=/x/admin", NULL));
	/* all: every value */
	check_rule(RULE("    s:\n        CommandLine|contains|all:\n"
			"            - 'net'\n            - ' user '\n"
			"            - '/add'\n    condition: s\n"),
		   mkev("process.command_line=net user eve /add", NULL),
		   mkev("process.command_line=net user eve", NULL));
	/* cased */
	check_rule(RULE("    s:\n        message|cased|contains: Error\n"
			"    condition: s\n"),
		   mkev("message=An Error", NULL), mkev("message=an error", NULL));
	/* re: case-sensitive unless |i */
	check_rule(RULE("    s:\n        message|re: '^Failed \\w+ for'\n"
			"    condition: s\n"),
		   mkev("message=Failed password for root", NULL),
		   mkev("message=failed password for root", NULL));
	check_rule(RULE("    s:\n        message|re|i: '^failed \\w+ for'\n"
			"    condition: s\n"),
		   mkev("message=FAILED password for root", NULL),
		   mkev("message=x failed password for", NULL));
	/* windash: - and / and the Unicode dashes */
	check_rule(RULE("    s:\n        CommandLine|windash|contains: ' -exec '\n"
			"    condition: s\n"),
		   mkev("process.command_line=psexec /exec x", NULL),
		   mkev("process.command_line=psexec exec x", NULL));
	check_rule(RULE("    s:\n        CommandLine|windash|contains: ' -exec '\n"
			"    condition: s\n"),
		   mkev("process.command_line=psexec \xE2\x80\x94" "exec x", NULL),
		   NULL);
	/* neq: none of the values */
	check_rule(RULE("    s:\n        User|neq:\n            - root\n"
			"            - admin\n    condition: s\n"),
		   mkev("user.name=alice", NULL), mkev("user.name=ROOT", NULL));
}

static void encoding_modifiers(void **state)
{
	/* base64 of "whoami" is d2hvYW1p */
	check_rule(RULE("    s:\n        CommandLine|base64|contains: whoami\n"
			"    condition: s\n"),
		   mkev("process.command_line=powershell -e d2hvYW1p", NULL),
		   mkev("process.command_line=powershell -e D2HVYW1P", NULL));
	/* base64offset of /bin/bash: L2Jpbi9iYXNo, 9iaW4vYmFza, vYmluL2Jhc2
	 * (pySigma's alignment rule) */
	const char *r = RULE("    s:\n        message|base64offset|contains: "
			     "/bin/bash\n    condition: s\n");
	check_rule(r, mkev("message=xL2Jpbi9iYXNoy", NULL),
		   mkev("message=L2Jpbi9iYXN", NULL));
	check_rule(r, mkev("message=AA9iaW4vYmFzaBB", NULL), NULL);
	check_rule(r, mkev("message=vYmluL2Jhc2", NULL), NULL);
	/* utf16le + base64offset of "cmd": YwBtAGQA, MAbQBkA, jAG0AZA */
	r = RULE("    s:\n        message|wide|base64offset|contains: cmd\n"
		 "    condition: s\n");
	check_rule(r, mkev("message=..jAG0AZA..", NULL),
		   mkev("message=Y21k", NULL));
	check_rule(r, mkev("message=YwBtAGQA", NULL), NULL);
}

static void typed_modifiers(void **state)
{
	check_rule(RULE("    s:\n        source.ip|cidr:\n            - "
			"10.0.0.0/8\n            - 2001:db8::/32\n"
			"    condition: s\n"),
		   mkev("source.ip=10.200.3.4", NULL),
		   mkev("source.ip=11.0.0.1", NULL));
	check_rule(RULE("    s:\n        source.ip|cidr: 2001:db8::/32\n"
			"    condition: s\n"),
		   mkev("source.ip=2001:db8:1::5", NULL),
		   mkev("source.ip=2001:db9::1", NULL));
	check_rule(RULE("    s:\n        source.ip|cidr: 192.168.1.128/25\n"
			"    condition: s\n"),
		   mkev("source.ip=192.168.1.200", NULL),
		   mkev("source.ip=192.168.1.100", NULL));
	check_rule(RULE("    s:\n        http.response.status_code|gte: 500\n"
			"    condition: s\n"),
		   mkev("http.response.status_code=503", NULL),
		   mkev("http.response.status_code=499", NULL));
	check_rule(RULE("    s:\n        destination.port|lt: 1024\n"
			"    condition: s\n"),
		   mkev("destination.port=22", NULL),
		   mkev("destination.port=abc", NULL));
	check_rule(RULE("    s:\n        source.port|gt: 1024\n"
			"        source.port|lte: 2048\n    condition: s\n"),
		   mkev("source.port=2048", NULL), mkev("source.port=2049", NULL));
	/* exists */
	check_rule(RULE("    s:\n        user.name|exists: true\n"
			"    condition: s\n"),
		   mkev("user.name=", NULL), mkev("message=x", NULL));
	check_rule(RULE("    s:\n        user.name|exists: false\n"
			"    condition: s\n"),
		   mkev("message=x", NULL), mkev("user.name=a", NULL));
	/* null: absent or empty */
	check_rule(RULE("    s:\n        user.name: null\n    condition: s\n"),
		   mkev("user.name=", NULL), mkev("user.name=x", NULL));
	/* fieldref */
	check_rule(RULE("    s:\n        user.name|fieldref: user.effective.name\n"
			"    condition: s\n"),
		   mkev("user.name=Root", "user.effective.name=root", NULL),
		   mkev("user.name=alice", "user.effective.name=root", NULL));
	check_rule(RULE("    s:\n        url.original|fieldref|contains: "
			"user.name\n    condition: s\n"),
		   mkev("url.original=/home/alice/x", "user.name=alice", NULL),
		   mkev("url.original=/home/bob/x", "user.name=alice", NULL));
}

static void keywords(void **state)
{
	/* keywords search message and event.original, as substrings */
	check_rule(RULE("    keywords:\n        - 'event::clear'\n"
			"        - 'event::drop'\n    condition: keywords\n"),
		   mkev("message=mimikatz # EVENT::Clear", NULL),
		   mkev("message=event clear", NULL));
	check_rule(RULE("    keywords:\n        - 'segfault'\n"
			"    condition: keywords\n"),
		   mkev("event.original=<13>kernel: app segfault at 0", NULL),
		   NULL);
	/* '|all' keyword map: every keyword */
	check_rule(RULE("    k:\n        '|all':\n            - "
			"'OabVirtualDirectory'\n            - ' -ExternalUrl '\n"
			"    condition: k\n"),
		   mkev("message=Set-OabVirtualDirectory -ExternalUrl x", NULL),
		   mkev("message=Set-OabVirtualDirectory", NULL));
}

static void conditions(void **state)
{
	const char *det =
		"    sel_a:\n        message|contains: alpha\n"
		"    sel_b:\n        message|contains: beta\n"
		"    filter:\n        message|contains: gamma\n"
		"    _private:\n        message|contains: delta\n";
	struct {
		const char *cond;
		const char *yes, *no;
	} cases[] = {
		{ "sel_a and not filter", "alpha", "alpha gamma" },
		{ "sel_a or sel_b and filter", "alpha", "beta" },
		{ "(sel_a or sel_b) and filter", "beta gamma", "alpha" },
		{ "1 of sel_*", "beta", "gamma" },
		{ "all of sel_*", "alpha beta", "alpha" },
		{ "1 of them", "gamma", "delta" },
		{ "all of them", "alpha beta gamma", "alpha beta gamma x" },
		{ "not not sel_a", "alpha", "beta" },
		{ "not sel_a and not sel_b", "gamma", "beta" },
		{ "1 of sel_* and not 1 of filter*", "alpha", "alpha gamma" },
		{ "sel_a AND NOT filter", "alpha", "gamma alpha" },
		{ "_private", "delta", "alpha" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		char y[2048];
		snprintf(y, sizeof(y),
			 "title: t\ndetection:\n%s    condition: %s\n", det,
			 cases[i].cond);
		char ye[64], ne[64];
		snprintf(ye, sizeof(ye), "message=%s", cases[i].yes);
		snprintf(ne, sizeof(ne), "message=%s", cases[i].no);
		/* "all of them" excludes _private: alpha beta gamma suffices;
		 * the "no" case adds nothing that could fail, so skip it */
		check_rule(y, mkev(ye, NULL),
			   strstr(cases[i].cond, "all of them") ? NULL
								 : mkev(ne, NULL));
	}
	/* a list of conditions is ORed */
	check_rule("title: t\ndetection:\n    a:\n        message: x\n"
		   "    b:\n        message: y\n    condition:\n        - a\n"
		   "        - b\n",
		   mkev("message=y", NULL), mkev("message=z", NULL));
	/* a list of maps is ORed, each map ANDed */
	check_rule("title: t\ndetection:\n    s:\n        - User: a\n"
		   "          source.ip: 192.0.2.1\n        - User: b\n"
		   "    condition: s\n",
		   mkev("user.name=b", NULL),
		   mkev("user.name=a", "source.ip=192.0.2.9", NULL));
}

static void logsource_restricts(void **state)
{
	const char *y = "title: t\nlogsource:\n    product: linux\n"
			"    service: sshd\ndetection:\n    s:\n        "
			"event.outcome: failure\n    condition: s\n";
	check_rule(y, mkev("process.name=sshd", "event.outcome=failure", NULL),
		   mkev("process.name=sudo", "event.outcome=failure", NULL));
	/* the hidden selection is not part of "them" */
	check_rule("title: t\nlogsource:\n    category: webserver\ndetection:\n"
		   "    s:\n        url.path: /x\n    condition: all of them\n",
		   mkev("event.category=web", "url.path=/x", NULL),
		   mkev("event.category=network", "url.path=/x", NULL));
}

struct bad {
	const char *yaml, *reason, *where;
};

static void load_errors(void **state)
{
	static const struct bad bad[] = {
		{ "detection:\n  s:\n    a: 1\n  condition: s\n", "rule",
		  "test.yml:1:1" },
		{ "title: t\n", "rule", "missing 'detection'" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n", "rule",
		  "missing 'condition'" },
		{ "title: t\ndetection:\n  s:\n    a|contians: 1\n"
		  "  condition: s\n",
		  "modifier", "test.yml:4:" },
		{ "title: t\ndetection:\n  s:\n    a|expand: '%x%'\n"
		  "  condition: s\n",
		  "unsupported", "expand" },
		{ "title: t\ndetection:\n  s:\n    a|re: '('\n  condition: s\n",
		  "value", "regular expression" },
		{ "title: t\ndetection:\n  s:\n    a|cidr: 10.0.0.0/33\n"
		  "  condition: s\n",
		  "value", "CIDR" },
		{ "title: t\ndetection:\n  s:\n    a|gt: ten\n  condition: s\n",
		  "value", "not a number" },
		{ "title: t\ndetection:\n  s:\n    a|exists: maybe\n"
		  "  condition: s\n",
		  "value", "exists" },
		{ "title: t\ndetection:\n  s:\n    a|re|cidr: x\n  condition: s\n",
		  "modifier", "conflicting" },
		{ "title: t\ndetection:\n  s:\n    a|all: x\n  condition: s\n",
		  "modifier", "list" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n  condition: s and t\n",
		  "condition", "unknown search identifier 't'" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n  condition: s |"
		  " count() > 5\n",
		  "unsupported", "correlation" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n  condition: (s\n",
		  "condition", "missing ')'" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n  condition: s or\n",
		  "condition", "ends" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n  condition: 1 of x*\n",
		  "condition", "matches" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n  condition: s s\n",
		  "condition", "unexpected" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n  condition: s\n"
		  "  timeframe: 5m\n",
		  "unsupported", "timeframe" },
		{ "title: t\ndetection:\n  s:\n    a: 1\n    a: 2\n"
		  "  condition: s\n",
		  "duplicate_key", "test.yml:5:" },
		{ "title: t\ndetection:\n  s: &x\n    a: 1\n  condition: s\n",
		  "alias", "" },
		{ "title: t\ndetection:\n  s:\n    - a: 1\n    - b\n"
		  "  condition: s\n",
		  "rule", "mix" },
		{ "title: t\ncorrelation:\n  type: event_count\n  rules: [x]\n"
		  "  timespan: 5m\n  condition:\n    gte: 3\n",
		  "reference", "unknown rule 'x'" },
		{ "title: t\ncorrelation:\n  type: nope\n  rules: [x]\n"
		  "  timespan: 5m\n",
		  "enum", "" },
		{ "title: t\ncorrelation:\n  type: value_count\n  rules: [x]\n"
		  "  timespan: 5m\n  condition:\n    gte: 3\n",
		  "rule", "condition.field" },
		{ "title: t\ncorrelation:\n  type: event_count\n  rules: [x]\n"
		  "  timespan: 5m\n  condition:\n    gte: 100000000\n",
		  "limit", "" },
		/* a second document: the line number is the file's */
		{ "title: a\ndetection:\n  s:\n    a: 1\n  condition: s\n---\n"
		  "title: b\ndetection:\n  s:\n    a|bogus: 1\n  condition: s\n",
		  "modifier", "test.yml:10:" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		struct siem_ruleset *rs = siem_ruleset_new();
		struct bw_err err;
		int rc = siem_ruleset_add_string(rs, "test.yml", bad[i].yaml,
						 strlen(bad[i].yaml), &err);
		bool added = rc == 0;
		if (rc == 0)
			rc = siem_ruleset_compile(rs, &err);
		if (rc != -1)
			fail_msg("accepted:\n%s", bad[i].yaml);
		if (strcmp(err.reason, bad[i].reason) != 0 ||
		    !strstr(err.msg, bad[i].where))
			fail_msg("case %zu: got %s: %s", i, err.reason, err.msg);
		assert_string_equal(err.module, "siem");
		/* a failed add adds nothing */
		if (!added)
			assert_int_equal(siem_ruleset_count(rs), 0);
		siem_ruleset_free(rs);
	}
}

static void project_rules_load(void **state)
{
	const char *src = getenv("BW_SOURCE_DIR");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/tests/siem/rules", src ? src : ".");
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct siem_ruleset *rs = siem_ruleset_new();
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".yml") != 0)
			continue;
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct bw_err err;
		if (siem_ruleset_add_file(rs, path, &err) < 0)
			fail_msg("%s", err.msg);
		files++;
	}
	closedir(d);
	struct bw_err err;
	assert_int_equal(siem_ruleset_compile(rs, &err), 0);
	assert_true(files >= 10);
	assert_true(siem_ruleset_count(rs) >= 18);
	long i = siem_ruleset_find(rs, "sshd_auth_failure");
	assert_true(i >= 0);
	const struct siem_rule_info *in = siem_ruleset_info(rs, (size_t)i);
	assert_int_equal(in->kind, SIEM_RULE_DETECTION);
	assert_int_equal(in->level, SIEM_LEVEL_LOW);
	assert_false(in->generate); /* used only by the brute-force rule */
	assert_non_null(strstr(in->file, "sshd_bruteforce.yml"));
	assert_int_equal(in->line, 18);
	i = siem_ruleset_find(rs, "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d");
	assert_true(i >= 0);
	assert_true(siem_ruleset_info(rs, (size_t)i)->generate);

	/* and they fire on the parsers' output */
	struct siem_matcher *m = siem_matcher_new(rs);
	struct siem_parse_opts o = { .now_ns = 1718452800000000000LL };
	struct {
		const char *line, *rule;
	} hits[] = {
		{ "<86>Jun 15 11:00:00 h sudo: alice : TTY=pts/0 ; PWD=/ ; "
		  "USER=root ; COMMAND=/bin/sh",
		  "Command run as root through sudo" },
		{ "<86>Jun 15 11:00:00 h sudo: bob : user NOT in sudoers ; "
		  "TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
		  "Privilege escalation attempt" },
		{ "192.0.2.1 - - [15/Jun/2024:10:00:00 +0000] \"GET /.env "
		  "HTTP/1.1\" 404 1 \"-\" \"sqlmap/1.7\"",
		  "Web vulnerability scanner user agent" },
		{ "192.0.2.1 - - [15/Jun/2024:10:00:00 +0000] \"GET /.env "
		  "HTTP/1.1\" 404 1 \"-\" \"sqlmap/1.7\"",
		  "Access to sensitive web paths" },
	};
	for (size_t k = 0; k < BW_ARRAY_LEN(hits); k++) {
		struct siem_event ev;
		assert_int_equal(siem_parse_line(hits[k].line,
						 strlen(hits[k].line), &o, A,
						 &ev, &err),
				 0);
		uint32_t out[16];
		long n = siem_match(m, &ev, out, 16);
		bool found = false;
		for (long j = 0; j < n; j++)
			found |= !strcmp(siem_ruleset_info(rs, out[j])->title,
					 hits[k].rule);
		if (!found)
			fail_msg("'%s' did not fire on %s", hits[k].rule,
				 hits[k].line);
	}
	/* a sudo by the excluded ansible account does not */
	struct siem_event ev;
	const char *l = "<86>Jun 15 11:00:00 h sudo: ansible : TTY=pts/0 ; "
			"PWD=/ ; USER=root ; COMMAND=/bin/sh";
	assert_int_equal(siem_parse_line(l, strlen(l), &o, A, &ev, &err), 0);
	uint32_t out[16];
	long n = siem_match(m, &ev, out, 16);
	for (long j = 0; j < n; j++)
		assert_string_not_equal(siem_ruleset_info(rs, out[j])->title,
					"Command run as root through sudo");
	siem_matcher_free(m);
	siem_ruleset_free(rs);
}

/* A mapping file, then one rule: the rule set. */
static struct siem_ruleset *load_mapped(const char *map, const char *yaml)
{
	struct siem_ruleset *rs = siem_ruleset_new();
	struct bw_err err;
	assert_non_null(rs);
	if (siem_ruleset_add_mapping(rs, "map.yml", map, strlen(map), &err) < 0)
		fail_msg("mapping failed: %s (%s)", err.msg, err.reason);
	if (siem_ruleset_add_string(rs, "test.yml", yaml, strlen(yaml), &err) < 0)
		fail_msg("load failed: %s (%s)", err.msg, err.reason);
	if (siem_ruleset_compile(rs, &err) < 0)
		fail_msg("compile failed: %s", err.msg);
	return rs;
}

static const char MAP[] =
	"# fields first, then logsources\n"
	"fields:\n"
	"  SrcAddr: source.ip\n"
	"  Workstation: host.name\n"
	"  User: user.target.name      # overrides the built-in User\n"
	"  DeviceVendor: cef.vendor    # not ECS: a label\n"
	"logsources:\n"
	"  service:\n"
	"    vsftpd: {field: process.name, values: [VSFTPD, vsftpd-ssl]}\n"
	"  product:\n"
	"    nginx: {}                 # overrides: no condition\n"
	"    windows:\n"
	"  category:\n"
	"    dns: {field: network.protocol, values: [dns]}\n";

/* Mapped field names resolve to their ECS slot or label; mapped
 * logsources restrict (case-insensitively) or lift the restriction; the
 * built-in tables still answer for what the file does not name. */
static void mapping_file_applies(void **state)
{
	struct siem_ruleset *rs = load_mapped(MAP,
		"title: t\nlogsource: {service: vsftpd}\ndetection:\n  s:\n"
		"    SrcAddr: 192.0.2.1\n    Workstation: ftp1\n  condition: s\n");
	assert_true(matches(rs, mkev("source.ip=192.0.2.1", "host.name=FTP1",
				     "process.name=VsFtpd", NULL)));
	assert_true(matches(rs, mkev("source.ip=192.0.2.1", "host.name=ftp1",
				     "process.name=vsftpd-ssl", NULL)));
	assert_false(matches(rs, mkev("source.ip=192.0.2.1", "host.name=ftp1",
				      "process.name=sshd", NULL)));
	siem_ruleset_free(rs);

	rs = load_mapped(MAP, "title: t\nlogsource: {product: nginx}\ndetection:\n"
			      "  s:\n    User: root\n    DeviceVendor: acme\n  condition: s\n");
	/* product nginx no longer requires event.dataset web.access */
	assert_true(matches(rs, mkev("user.target.name=root", "labels.cef.vendor=ACME",
				     NULL)));
	assert_false(matches(rs, mkev("user.name=root", "labels.cef.vendor=acme", NULL)));
	siem_ruleset_free(rs);

	/* not in the file: the built-in tables */
	rs = load_mapped(MAP, "title: t\nlogsource: {service: sshd}\ndetection:\n"
			      "  s:\n    SourceIp: 192.0.2.9\n  condition: s\n");
	assert_true(matches(rs, mkev("source.ip=192.0.2.9", "process.name=sshd", NULL)));
	assert_false(matches(rs, mkev("source.ip=192.0.2.9", "process.name=cron", NULL)));
	siem_ruleset_free(rs);
}

/* Hostile and malformed mapping files: refused with position and reason,
 * the rule set keeping what it had. */
static void mapping_file_errors(void **state)
{
	static const struct {
		const char *in, *reason, *where;
	} bad[] = {
		{ "- a\n- b\n", "mapping", "map.yml:1:" },
		{ "fieldz: {}\n", "mapping", "map.yml:1:" },
		{ "fields: [a, b]\n", "mapping", "map.yml:1:" },
		{ "fields:\n  A: [source.ip]\n", "mapping", "map.yml:2:" },
		{ "fields:\n  A: ''\n", "mapping", "map.yml:2:" },
		{ "logsources:\n  vendor: {}\n", "mapping", "map.yml:2:" },
		{ "logsources:\n  service:\n    x: {field: process.name}\n", "mapping",
		  "map.yml:3:" },
		{ "logsources:\n  service:\n    x: {field: a, values: []}\n", "mapping",
		  "map.yml:3:" },
		{ "logsources:\n  service:\n    x: {field: a, values: [b], extra: 1}\n",
		  "mapping", "map.yml:3:" },
		{ "logsources:\n  service:\n    x: nope\n", "mapping", "map.yml:3:" },
		{ "fields:\n  a: b\n  a: c\n", "duplicate_key", "map.yml:3:" },
		{ "fields: {a: b\n", "syntax", "map.yml:" },
	};
	struct bw_err err;
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		struct siem_ruleset *rs = siem_ruleset_new();
		assert_int_equal(siem_ruleset_add_mapping(rs, "map.yml", bad[i].in,
							  strlen(bad[i].in), &err), -1);
		if (strcmp(err.reason, bad[i].reason) != 0 || !strstr(err.msg, bad[i].where))
			fail_msg("case %zu: %s (%s)", i, err.msg, err.reason);
		assert_int_equal(err.code, 400);
		siem_ruleset_free(rs);
	}
	/* past the limits: 413 */
	struct bw_buf y;
	bw_buf_init(&y, 1 << 20);
	assert_int_equal(bw_buf_printf(&y, "logsources:\n  service:\n    x: {field: a, values: ["),
			 0);
	for (unsigned i = 0; i <= SIEM_MAP_VALUES_MAX; i++)
		assert_int_equal(bw_buf_printf(&y, "%sv%u", i ? ", " : "", i), 0);
	assert_int_equal(bw_buf_printf(&y, "]}\n"), 0);
	struct siem_ruleset *rs = siem_ruleset_new();
	assert_int_equal(siem_ruleset_add_mapping(rs, "map.yml", y.data, y.len, &err), -1);
	assert_int_equal(err.code, 413);
	bw_buf_reset(&y);
	assert_int_equal(bw_buf_printf(&y, "fields:\n"), 0);
	for (unsigned i = 0; i <= SIEM_MAP_FIELDS_MAX; i++)
		assert_int_equal(bw_buf_printf(&y, "  f%u: source.ip\n", i), 0);
	assert_int_equal(siem_ruleset_add_mapping(rs, "map.yml", y.data, y.len, &err), -1);
	assert_int_equal(err.code, 413);
	char *big = calloc(1, SIEM_MAP_FILE_MAX + 2);
	memset(big, '#', SIEM_MAP_FILE_MAX + 1);
	assert_int_equal(siem_ruleset_add_mapping(rs, "map.yml", big, SIEM_MAP_FILE_MAX + 1,
						  &err), -1);
	assert_int_equal(err.code, 413);
	free(big);
	bw_buf_fini(&y);
	/* a failed load left no mapping: User is still user.name */
	const char *rule = "title: t\ndetection:\n  s:\n    User: bob\n  condition: s\n";
	assert_int_equal(siem_ruleset_add_string(rs, "t.yml", rule, strlen(rule), &err), 0);
	assert_int_equal(siem_ruleset_compile(rs, &err), 0);
	assert_true(matches(rs, mkev("user.name=bob", NULL)));
	/* and none after compile */
	assert_int_equal(siem_ruleset_add_mapping(rs, "map.yml", MAP, strlen(MAP), &err), -1);
	assert_int_equal(err.code, 409);
	siem_ruleset_free(rs);
}

/* The shipped example mapping (tests/siem/mapping.yml) loads and does
 * what it says. */
static void shipped_mapping_loads(void **state)
{
	const char *src = getenv("BW_SOURCE_DIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/siem/mapping.yml", src ? src : ".");
	struct siem_ruleset *rs = siem_ruleset_new();
	struct bw_err err;
	if (siem_ruleset_add_mapping_file(rs, path, &err) < 0)
		fail_msg("%s", err.msg);
	const char *rule = "title: t\nlogsource: {product: fortigate}\ndetection:\n"
			   "  s:\n    ClientIP: 198.51.100.1\n  condition: s\n";
	assert_int_equal(siem_ruleset_add_string(rs, "t.yml", rule, strlen(rule), &err), 0);
	assert_int_equal(siem_ruleset_compile(rs, &err), 0);
	assert_true(matches(rs, mkev("source.ip=198.51.100.1", "observer.vendor=Fortinet", NULL)));
	assert_false(matches(rs, mkev("source.ip=198.51.100.1", "observer.vendor=cisco", NULL)));
	siem_ruleset_free(rs);
}

/* 1,000 generated rules: the indexed matcher must agree with evaluating
 * every rule, while evaluating only a few. */
static void index_agrees_with_brute_force(void **state)
{
	struct bw_buf y;
	bw_buf_init(&y, 1 << 22);
	struct siem_ruleset *rs = siem_ruleset_new();
	struct bw_err err;
	for (int i = 0; i < 1000; i++) {
		bw_buf_reset(&y);
		switch (i % 6) {
		case 0:
			assert_int_equal(bw_buf_printf(&y,
				"title: r%d\ndetection:\n  s:\n    User: user%d\n"
				"  condition: s\n", i, i), 0);
			break;
		case 1:
			assert_int_equal(bw_buf_printf(&y,
				"title: r%d\ndetection:\n  s:\n    message|contains:"
				" needle%d\n  f:\n    source.ip: 192.0.2.%d\n"
				"  condition: s and not f\n", i, i, i % 250),
				0);
			break;
		case 2:
			assert_int_equal(bw_buf_printf(&y,
				"title: r%d\ndetection:\n  k:\n    - 'kw%dx'\n"
				"  condition: k\n", i, i), 0);
			break;
		case 3:
			assert_int_equal(bw_buf_printf(&y,
				"title: r%d\ndetection:\n  a:\n    url.path|"
				"startswith: /p%d/\n  b:\n    http.request.method:"
				" POST\n  condition: a or b and not a\n",
				i, i), 0);
			break;
		case 5:
			/* networks of every prefix length, v4 and v6: the
			 * cidr index must find exactly the rules whose
			 * network holds the address */
			if (i % 12 == 5)
				assert_int_equal(bw_buf_printf(&y,
					"title: r%d\ndetection:\n  s:\n    source.ip|cidr:"
					" 10.%d.%d.0/%d\n  condition: s\n", i, i % 7,
					i % 4 * 64, 8 + i % 25), 0);
			else
				assert_int_equal(bw_buf_printf(&y,
					"title: r%d\ndetection:\n  s:\n    source.ip|cidr:"
					" '2001:db8:%x::/%d'\n  condition: s\n", i, i % 9,
					32 + i % 40), 0);
			break;
		default:
			assert_int_equal(bw_buf_printf(&y,
				"title: r%d\ndetection:\n  s:\n    destination.port"
				"|gt: %d\n  condition: s\n", i, 60000 + i),
				0);
			break;
		}
		if (siem_ruleset_add_string(rs, "gen", y.data, y.len, &err) < 0)
			fail_msg("%s", err.msg);
	}
	assert_int_equal(siem_ruleset_compile(rs, &err), 0);
	assert_int_equal(siem_ruleset_count(rs), 1000);
	struct siem_matcher *m = siem_matcher_new(rs);
	uint32_t out[1000];
	char buf[5][64];
	for (int e = 0; e < 300; e++) {
		snprintf(buf[0], 64, "user.name=USER%d", e * 7 % 1000);
		snprintf(buf[1], 64, "message=x needle%d kw%dx y", e * 3 % 1000,
			 e * 11 % 1000);
		snprintf(buf[2], 64, "url.path=/p%d/z", e * 13 % 1000);
		snprintf(buf[3], 64, "destination.port=%d", 60000 + e * 5);
		if (e % 3 == 0)
			snprintf(buf[4], 64, "source.ip=10.%d.%d.%d", e % 7, e * 37 % 256,
				 e % 256);
		else if (e % 3 == 1)
			snprintf(buf[4], 64, "source.ip=2001:db8:%x::%x", e % 9, e);
		else
			snprintf(buf[4], 64, "source.ip=192.0.2.3");
		struct siem_event *ev = mkev(buf[0], buf[1], buf[2], buf[3],
					     "http.request.method=GET", buf[4], NULL);
		long n = siem_match(m, ev, out, 1000);
		assert_true(n >= 0);
		long k = 0;
		for (size_t r = 0; r < 1000; r++) {
			bool want = siem_rule_eval(m, rs->rules[r], ev);
			bool got = k < n && out[k] == r;
			if (want != got)
				fail_msg("event %d rule %zu: index %d, eval %d",
					 e, r, got, want);
			k += got;
		}
		assert_int_equal(k, n);
	}
	struct siem_match_stats st;
	siem_matcher_stats(m, &st);
	/* the 167 port rules have no literal and are always evaluated; the
	 * others (cidr rules included) must be skipped nearly always */
	assert_true(st.candidates < st.events * 210);
	assert_true(st.matches > 0);
	siem_matcher_free(m);
	siem_ruleset_free(rs);
	bw_buf_fini(&y);
}

/* The word-at-a-time lowercasing the matcher uses equals siem_lower byte
 * by byte: every byte value, at every offset and length around the
 * 8-byte steps, with the neighbours that could carry into it. */
static void lower_bytes_is_bytewise(void **state)
{
	(void)state;
	char in[300], out[300];
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 256; i++)
			in[i] = (char)(round & 1 ? 255 - i : i);
		for (int i = 256; i < 300; i++)
			in[i] = (char)(round < 2 ? 'Z' : 0x80 | 'A');
		for (size_t off = 0; off < 9; off++)
			for (size_t n = 0; n + off <= sizeof(in); n += 1 + n / 16) {
				memset(out, 0x55, sizeof(out));
				siem_lower_bytes(out, in + off, n);
				for (size_t k = 0; k < n; k++)
					assert_int_equal((unsigned char)out[k],
							 (unsigned char)siem_lower(in[off + k]));
				if (n < sizeof(out))
					assert_int_equal((unsigned char)out[n], 0x55);
			}
	}
	/* in place */
	char s[] = "Failed PASSWORD for Invalid User ADMIN from 10.0.0.1 \xC3\x89T\xC9";
	siem_lower_bytes(s, s, strlen(s));
	assert_string_equal(s, "failed password for invalid user admin from 10.0.0.1 \xc3\x89t\xC9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lower_bytes_is_bytewise),
		cmocka_unit_test_setup_teardown(plain_values_and_wildcards,
						setup, teardown),
		cmocka_unit_test_setup_teardown(string_modifiers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(encoding_modifiers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(typed_modifiers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(conditions, setup, teardown),
		cmocka_unit_test_setup_teardown(logsource_restricts, setup,
						teardown),
		cmocka_unit_test(load_errors),
		cmocka_unit_test_setup_teardown(project_rules_load, setup,
						teardown),
		cmocka_unit_test_setup_teardown(mapping_file_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(mapping_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(shipped_mapping_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(index_agrees_with_brute_force,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
