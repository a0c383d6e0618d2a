/*
 * Authorization engine benchmark: a realistic model (documents in nested
 * folders in organisations, groups of groups) with about a million tuples,
 * then in-process checks per second and latency percentiles for direct,
 * nested-group and tuple-to-userset checks (evaluated and cached),
 * list-objects for a user reaching ~10k documents, and memory per million
 * tuples. Not a test: run it by hand (see docs/internals/AUTHZ.md).
 *
 *   authz_bench [-n TUPLES] [-t LOAD_THREADS] [-c CHECK_THREADS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz/authz.h"
#include "store/store.h"

static const char *model =
	"model\n  schema 1.1\n"
	"type user\n"
	"type group\n  relations\n    define member: [user, group#member]\n"
	"type org\n  relations\n    define member: [user, group#member]\n    define admin: [user]\n"
	"type folder\n  relations\n    define org: [org]\n    define parent: [folder]\n"
	"    define viewer: [user, group#member] or member from org or viewer from parent\n"
	"type doc\n  relations\n    define parent: [folder]\n    define owner: [user]\n"
	"    define viewer: [user, group#member] or owner or viewer from parent\n";

static struct authz_engine *e;
static char sid[AUTHZ_ID_LEN + 1];
static long ndocs, nfolders, nusers = 100000, ngroups = 2000, norgs = 50;

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

struct batch {
	char s[100][3][48];
	struct authz_tuple t[100];
	int n;
};

static void add(struct batch *b, const char *o, const char *r, const char *u)
{
	snprintf(b->s[b->n][0], 48, "%s", o);
	snprintf(b->s[b->n][1], 48, "%s", r);
	snprintf(b->s[b->n][2], 48, "%s", u);
	b->t[b->n] = (struct authz_tuple){ b->s[b->n][0], b->s[b->n][1], b->s[b->n][2], NULL, NULL };
	if (++b->n == 100) {
		struct authz_write_req req = { .writes = b->t, .nwrites = 100 };
		struct bw_err err;
		if (authz_write(e, "bench", sid, &req, &err) < 0)
			fatalx("write: %s", err.msg);
		b->n = 0;
	}
}

static void flush(struct batch *b)
{
	if (!b->n)
		return;
	struct authz_write_req req = { .writes = b->t, .nwrites = (size_t)b->n };
	struct bw_err err;
	if (authz_write(e, "bench", sid, &req, &err) < 0)
		fatalx("write: %s", err.msg);
	b->n = 0;
}

struct loader {
	int part, parts;
};

/* Loads docs [part] of the total: parent and owner per doc. */
static void *load_docs(void *arg)
{
	struct loader *l = arg;
	struct batch *b = calloc(1, sizeof(*b));
	char o[48], u[48];
	for (long d = l->part; d < ndocs; d += l->parts) {
		snprintf(o, sizeof(o), "doc:%ld", d);
		snprintf(u, sizeof(u), "folder:%ld", d % nfolders);
		add(b, o, "parent", u);
		snprintf(u, sizeof(u), "user:%ld", (d * 7919) % nusers);
		add(b, o, "owner", u);
	}
	flush(b);
	free(b);
	return NULL;
}

static void load(long target, int threads)
{
	struct batch *b = calloc(1, sizeof(*b));
	char o[48], u[48];
	/* groups: 20 users each; every 10th group contains the previous 3
	 * groups (groups of groups, three levels) */
	for (long g = 0; g < ngroups; g++) {
		snprintf(o, sizeof(o), "group:%ld", g);
		for (int k = 0; k < 20; k++) {
			snprintf(u, sizeof(u), "user:%ld", (g * 20 + k) % nusers);
			add(b, o, "member", u);
		}
		if (g % 10 == 0 && g >= 3)
			for (int k = 1; k <= 3; k++) {
				snprintf(u, sizeof(u), "group:%ld#member", g - k);
				add(b, o, "member", u);
			}
	}
	/* orgs: members through groups */
	for (long r = 0; r < norgs; r++) {
		snprintf(o, sizeof(o), "org:%ld", r);
		snprintf(u, sizeof(u), "group:%ld#member", r * 10);
		add(b, o, "member", u);
	}
	/* folders: 4-deep trees, roots in orgs */
	nfolders = target / 20;
	for (long f = 0; f < nfolders; f++) {
		snprintf(o, sizeof(o), "folder:%ld", f);
		if (f % 4 == 0) {
			snprintf(u, sizeof(u), "org:%ld", (f / 4) % norgs);
			add(b, o, "org", u);
		} else {
			snprintf(u, sizeof(u), "folder:%ld", f - 1);
			add(b, o, "parent", u);
		}
	}
	flush(b);
	free(b);
	long sofar = ngroups * 20 + ngroups / 10 * 3 + norgs + nfolders;
	ndocs = (target - sofar) / 2;
	pthread_t th[16];
	struct loader ls[16];
	for (int i = 0; i < threads; i++) {
		ls[i] = (struct loader){ i, threads };
		pthread_create(&th[i], NULL, load_docs, &ls[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The next check of series `kind`: a small working set for the cached
 * runs (1,000 documents), random documents otherwise. */
static const char *next_check(int kind, enum authz_consistency cons, unsigned *seedp,
			      char user[48], char obj[48])
{
	unsigned seed = *seedp = *seedp * 1103515245u + 12345u;
	long r = cons == AUTHZ_CONSISTENCY_MINIMIZE_LATENCY ? (long)(seed >> 8) % 1000 :
							      (long)(seed >> 8);
	long d = r % ndocs;
	switch (kind) {
	case 0: /* direct: the owner of the doc */
		snprintf(obj, 48, "doc:%ld", d);
		snprintf(user, 48, "user:%ld", (d * 7919) % nusers);
		return "owner";
	case 1: /* nested groups: org member through groups of groups */
		snprintf(obj, 48, "org:%ld", d % norgs);
		snprintf(user, 48, "user:%ld", ((d % norgs) * 10 - 1 - (long)(seed % 3)) * 20 % nusers);
		return "member";
	default: { /* tuple-to-userset: doc viewer through up to three parent
		    * folders, the root's org and its member group; half the
		    * users are members of that org */
		long f = d % nfolders, org = ((f - f % 4) / 4) % norgs;
		snprintf(obj, 48, "doc:%ld", d);
		long u = seed & 1 ? (org * 10 * 20 + (long)(seed >> 4) % 20) % nusers :
				    (r * 31) % (ngroups * 20);
		snprintf(user, 48, "user:%ld", u);
		return "viewer";
	}
	}
}

/* Runs `n` checks of kind k, reports rate and percentiles. */
static void bench(const char *name, int kind, enum authz_consistency cons, int n)
{
	int64_t *lat = malloc((size_t)n * sizeof(*lat));
	struct authz_query q = { .tenant = "bench", .store_id = sid, .consistency = cons };
	char user[48], obj[48];
	unsigned seed = 12345;
	long yes = 0;
	if (!lat)
		fatalx("out of memory");
	int64_t t0 = bw_clock_mono_ns();
	for (int i = 0; i < n; i++) {
		const char *rel = next_check(kind, cons, &seed, user, obj);
		bool allowed;
		struct bw_err err;
		int64_t s = bw_clock_mono_ns();
		if (authz_check(e, &q, user, rel, obj, &allowed, &err) < 0)
			fatalx("check: %s", err.msg);
		lat[i] = bw_clock_mono_ns() - s;
		yes += allowed;
	}
	int64_t el = bw_clock_mono_ns() - t0;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
	printf("| %s | %s | %.0f | %.1f | %.1f | %.1f | %.0f%% |\n", name,
	       cons == AUTHZ_CONSISTENCY_HIGHER ? "evaluated" : "cached",
	       n / (el / 1e9), lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, lat[n - 1] / 1e3,
	       100.0 * (double)yes / n);
	free(lat);
}

struct scaler {
	enum authz_consistency cons;
	int n;
	unsigned seed;
};

static void *scale_main(void *arg)
{
	struct scaler *s = arg;
	struct authz_query q = { .tenant = "bench", .store_id = sid, .consistency = s->cons };
	char user[48], obj[48];
	for (int i = 0; i < s->n; i++) {
		const char *rel = next_check(2, s->cons, &s->seed, user, obj);
		bool allowed;
		struct bw_err err;
		if (authz_check(e, &q, user, rel, obj, &allowed, &err) < 0)
			fatalx("check: %s", err.msg);
	}
	return NULL;
}

/* Tuple-to-userset checks on 1, 2, 4 ... threads at once: how the engine
 * scales with worker threads (queries share the store's read lock). */
static void scaling(int threads)
{
	printf("\n| tuple-to-userset (doc#viewer) | path | threads | checks/s (all threads) |\n"
	       "|---|---|---:|---:|\n");
	for (int c = 0; c < 2; c++) {
		enum authz_consistency cons =
			c ? AUTHZ_CONSISTENCY_MINIMIZE_LATENCY : AUTHZ_CONSISTENCY_HIGHER;
		for (int t = 1; t <= threads; t *= 2) {
			pthread_t th[16];
			struct scaler sc[16];
			int n = c ? 200000 : 50000;
			int64_t t0 = bw_clock_mono_ns();
			for (int i = 0; i < t; i++) {
				sc[i] = (struct scaler){ cons, n, 777u * (unsigned)(i + 1) };
				pthread_create(&th[i], NULL, scale_main, &sc[i]);
			}
			for (int i = 0; i < t; i++)
				pthread_join(th[i], NULL);
			double el = (bw_clock_mono_ns() - t0) / 1e9;
			printf("| doc#viewer | %s | %d | %.0f |\n", c ? "cached" : "evaluated", t,
			       (double)n * t / el);
		}
	}
}

int main(int argc, char **argv)
{
	long target = 1000000;
	int threads = 4, check_threads = 2;
	int opt;
	while ((opt = getopt(argc, argv, "n:t:c:")) != -1) {
		uint64_t v;
		if ((opt != 'n' && opt != 't' && opt != 'c') ||
		    bw_str_to_u64(bw_str_make(optarg, strlen(optarg)), &v) < 0 || v == 0 ||
		    (opt != 'n' && v > 16) || v > 100000000) {
			fprintf(stderr, "usage: authz_bench [-n TUPLES] [-t LOAD_THREADS (1-16)]"
					" [-c CHECK_THREADS (1-16)]\n");
			return 2;
		}
		if (opt == 'n')
			target = (long)v;
		else if (opt == 't')
			threads = (int)v;
		else
			check_threads = (int)v;
	}
	log_init("authz_bench", BW_LOG_WARN, 2);
	char dir[] = "/tmp/authz-bench-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char path[64];
	snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	struct bw_err err;
	struct store *st = store_open(&so, &err);
	struct authz_options ao = { .store = st, .list_max = 100000 };
	e = st ? authz_engine_new(&ao, &err) : NULL;
	if (!e)
		fatalx("engine: %s", err.msg);
	struct authz_store_info info;
	struct authz_model *m = authz_model_parse_dsl(model, strlen(model), &err);
	char mid[AUTHZ_ID_LEN + 1];
	if (authz_store_create(e, "bench", "bench", &info, &err) < 0 || !m ||
	    authz_model_write(e, "bench", info.id, m, mid, &err) < 0)
		fatalx("setup: %s", err.msg);
	memcpy(sid, info.id, sizeof(sid));
	long rss0 = rss_kb();
	int64_t t0 = bw_clock_mono_ns();
	load(target, threads);
	double load_s = (bw_clock_mono_ns() - t0) / 1e9;
	struct authz_stats s;
	authz_stats_get(e, &s);
	long rss1 = rss_kb();
	printf("loaded %llu tuples in %.1f s (%.0f tuples/s durable, %d writer threads)\n",
	       (unsigned long long)s.tuples, load_s, s.tuples / load_s, threads);
	printf("memory: %.0f MiB RSS for the index, %.0f bytes per tuple\n\n",
	       (rss1 - rss0) / 1024.0, (rss1 - rss0) * 1024.0 / (double)s.tuples);
	printf("| check | path | checks/s (1 thread) | p50 µs | p99 µs | max µs | allowed |\n");
	printf("|---|---|---:|---:|---:|---:|---:|\n");
	bench("direct (doc#owner)", 0, AUTHZ_CONSISTENCY_HIGHER, 200000);
	bench("direct (doc#owner)", 0, AUTHZ_CONSISTENCY_MINIMIZE_LATENCY, 200000);
	bench("nested groups (org#member)", 1, AUTHZ_CONSISTENCY_HIGHER, 200000);
	bench("nested groups (org#member)", 1, AUTHZ_CONSISTENCY_MINIMIZE_LATENCY, 200000);
	bench("tuple-to-userset (doc#viewer)", 2, AUTHZ_CONSISTENCY_HIGHER, 100000);
	bench("tuple-to-userset (doc#viewer)", 2, AUTHZ_CONSISTENCY_MINIMIZE_LATENCY, 200000);
	scaling(check_threads);
	/* list-objects: a member of org 0 reaches every doc under its folders */
	struct authz_query q = { .tenant = "bench", .store_id = sid };
	struct bw_arena *a = bw_arena_new(1 << 20, (size_t)1 << 30);
	const char **objs;
	size_t n;
	int64_t l0 = bw_clock_mono_ns();
	if (authz_list_objects(e, &q, "doc", "viewer", "user:0", a, &objs, &n, &err) < 0)
		fatalx("list: %s", err.msg);
	printf("\nlist-objects doc#viewer for user:0: %zu objects in %.1f ms\n", n,
	       (bw_clock_mono_ns() - l0) / 1e6);
	bw_arena_free(a);
	authz_engine_free(e);
	store_close(st);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
