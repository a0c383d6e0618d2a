/*
 * iam_bench — the numbers behind the identity defaults (IAM.md):
 *  1. Argon2id cost for OWASP's parameter rows and stronger ones, one
 *     thread, median of N hashes — used to pick the default;
 *  2. password logins per second on one core through iam_login (store
 *     reads, Argon2id, session write) with the default parameters;
 *  3. bearer authentication (session lookup) per second;
 *  4. JWS sign and JWT verify per second for ES256, EdDSA, RS256, HS256;
 *  5. event-loop latency while 200 logins hash on the thread pool
 *     (iam_login_async): a 1 ms timer's lateness, p50/p99/max;
 *  6. client-credentials token issuance and introspection per second.
 * The same latency measured against a running daemon over HTTP is
 * iam_loadlat.c.
 * Usage: iam_bench [-n hashes] [-s seconds] [-d dir]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <argon2.h>

#include "crypto/crypto.h"
#include "iam/iam.h"
#include "loop/loop.h"
#include "store/store.h"

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void bench_argon2(int n)
{
	static const struct {
		uint32_t m, t, p;
		const char *note;
	} rows[] = {
	    {47104, 1, 1, "OWASP row 1"},
	    {19456, 2, 1, "OWASP row 2 (floor, default)"},
	    {12288, 3, 1, "OWASP row 3"},
	    {9216, 4, 1, "OWASP row 4"},
	    {7168, 5, 1, "OWASP row 5"},
	    {65536, 2, 1, "stronger"},
	    {65536, 3, 1, "RFC 9106 second choice (64 MiB, t=3)"},
	};
	printf("Argon2id, one thread, median of %d:\n", n);
	printf("| m (KiB) | t | p | ms | note |\n|---:|---:|---:|---:|---|\n");
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		int64_t *t = calloc((size_t)n, sizeof(int64_t));
		char out[256];
		uint8_t salt[16] = {1};
		for (int i = 0; i < n; i++) {
			int64_t a = bw_clock_mono_ns();
			if (argon2id_hash_encoded(
				rows[r].t, rows[r].m, rows[r].p, "password", 8,
				salt, 16, 32, out, sizeof(out)) != ARGON2_OK)
				exit(1);
			t[i] = bw_clock_mono_ns() - a;
		}
		qsort(t, (size_t)n, sizeof(int64_t), cmp64);
		printf("| %u | %u | %u | %.1f | %s |\n", rows[r].m, rows[r].t,
		       rows[r].p, (double)t[n / 2] / 1e6, rows[r].note);
		free(t);
	}
}

struct lat {
	struct loop *l;
	struct loop_timer t;
	int64_t due_ns;
	int64_t *samples;
	size_t n, cap;
	int pending;
};

static void lat_tick(struct loop *l, struct loop_timer *t)
{
	struct lat *s = t->data;
	int64_t now = bw_clock_mono_ns();
	if (s->n < s->cap)
		s->samples[s->n++] = now - s->due_ns;
	if (s->pending == 0) {
		loop_stop(l);
		return;
	}
	s->due_ns = now + 1000000;
	if (loop_timer_arm(l, t, 1) < 0)
		exit(1);
}

static void lat_done(void *arg, const struct iam_login_result *r)
{
	struct lat *s = arg;
	if (r->status != IAM_LOGIN_OK && r->status != IAM_LOGIN_THROTTLED)
		fprintf(stderr, "async login: %d\n", r->status);
	s->pending--;
}

/* 200 logins queued at once on a pool of one thread per CPU, while the
 * loop runs a 1 ms timer: the loop must stay responsive. */
static void loop_latency(struct iam *iam)
{
	struct bw_err err;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct lat s = {.cap = 1 << 20};
	s.samples = calloc(s.cap, sizeof(int64_t));
	s.l = loop_new(16, &err);
	struct tpool *pool = tpool_new((int)(cpus > 0 ? cpus : 2), 256, &err);
	if (!s.samples || !s.l || !pool)
		exit(1);
	iam_set_pool(iam, pool);
	struct iam_login_request req = {
	    "bench", "bench", "correct horse battery staple", 28, "127.0.0.1"};
	int64_t start = bw_clock_mono_ns();
	for (int i = 0; i < 200; i++) {
		if (iam_login_async(iam, &req, s.l, lat_done, &s, &err) < 0) {
			fprintf(stderr, "submit: %s\n", err.msg);
			exit(1);
		}
		s.pending++;
	}
	loop_timer_init(&s.t, lat_tick, &s);
	s.due_ns = bw_clock_mono_ns() + 1000000;
	if (loop_timer_arm(s.l, &s.t, 1) < 0 || loop_run(s.l) < 0)
		exit(1);
	double el = (double)(bw_clock_mono_ns() - start) / 1e9;
	qsort(s.samples, s.n, sizeof(int64_t), cmp64);
	printf(
	    "200 concurrent logins on %ld pool threads: %.1f s (%.1f logins/s);"
	    " 1 ms timer lateness p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu "
	    "ticks)\n",
	    cpus, el, 200 / el, (double)s.samples[s.n / 2] / 1e6,
	    (double)s.samples[s.n * 99 / 100] / 1e6,
	    (double)s.samples[s.n - 1] / 1e6, s.n);
	iam_set_pool(iam, NULL);
	tpool_free(pool);
	loop_free(s.l);
	free(s.samples);
}

/* The OIDC token endpoint's core: client-credentials issuance (client
 * secret check, ES256 signature through the sealed tenant key) and RFC
 * 7662 introspection of the issued access token (signature, claims,
 * revocation list), one core each, in process (no HTTP). */
static void bench_oidc(struct iam *iam, double secs)
{
	struct bw_err err;
	char cid[IAM_ID_LEN + 1], sec[IAM_TOKEN_MAX];
	struct iam_oidc_client_spec cs = {.name = "bench",
					  .redirect_uris = "https://rp.example/cb",
					  .grant_types = "client_credentials",
					  .scopes = "api.read"};
	const char *iss = "https://idp.example/oidc/bench";
	if (iam_oidc_client_create(iam, "bench", &cs, cid, sec, &err) < 0) {
		fprintf(stderr, "client: %s\n", err.msg);
		exit(1);
	}
	struct iam_oidc_tokens t;
	int64_t end = bw_clock_mono_ns() + (int64_t)(secs * 1e9),
		start = bw_clock_mono_ns();
	long n = 0;
	while (bw_clock_mono_ns() < end) {
		if (iam_oidc_token_client(iam, "bench", iss, cid, sec,
					  "api.read", &t, &err) < 0) {
			fprintf(stderr, "client_credentials: %s\n", err.msg);
			exit(1);
		}
		n++;
	}
	double el = (double)(bw_clock_mono_ns() - start) / 1e9;
	printf("client-credentials tokens (ES256), one core: %.0f/s\n", n / el);
	struct bw_buf out;
	bw_buf_init(&out, 8192);
	end = bw_clock_mono_ns() + (int64_t)(secs * 1e9);
	start = bw_clock_mono_ns();
	n = 0;
	while (bw_clock_mono_ns() < end) {
		bw_buf_reset(&out);
		if (iam_oidc_introspect(iam, "bench", iss, t.access_token, &out,
					&err) < 0 ||
		    !strstr(out.data, "\"active\":true")) {
			fprintf(stderr, "introspect failed\n");
			exit(1);
		}
		n++;
	}
	el = (double)(bw_clock_mono_ns() - start) / 1e9;
	printf("introspections (active ES256 token), one core: %.0f/s\n",
	       n / el);
	bw_buf_fini(&out);
}

static void bench_logins(const char *dir, double secs)
{
	struct bw_err err;
	char path[512];
	snprintf(path, sizeof(path), "%s/iam-bench-%ld.db", dir,
		 (long)getpid());
	struct store_options so = {.path = path};
	struct store *st = store_open(&so, &err);
	if (!st) {
		fprintf(stderr, "store: %s\n", err.msg);
		exit(1);
	}
	struct iam_options o = {.store = st};
	uint8_t key[32] = {3};
	if (iam_sealer_local(&o.sealer, key, &err) < 0)
		exit(1);
	struct iam *iam = iam_new(&o, &err);
	if (!iam) {
		fprintf(stderr, "iam: %s\n", err.msg);
		exit(1);
	}
	struct iam_user_spec s = {.name = "bench",
				  .password = "correct horse battery staple",
				  .password_len = 28};
	if (iam_tenant_create(iam, "bench", NULL, NULL, NULL, &err) < 0 ||
	    iam_user_create(iam, "bench", &s, NULL, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		exit(1);
	}
	struct iam_login_request req = {
	    "bench", "bench", "correct horse battery staple", 28, "127.0.0.1"};
	struct iam_login_result r;
	int64_t end = bw_clock_mono_ns() + (int64_t)(secs * 1e9),
		start = bw_clock_mono_ns();
	long n = 0;
	char tok[128] = "";
	while (bw_clock_mono_ns() < end) {
		iam_login(iam, &req, &r);
		if (r.status != IAM_LOGIN_OK) {
			fprintf(stderr, "login failed: %d\n", r.status);
			exit(1);
		}
		memcpy(tok, r.session_token, sizeof(tok));
		n++;
	}
	double el = (double)(bw_clock_mono_ns() - start) / 1e9;
	printf("\nlogins (m=19456 KiB, t=2, p=1), one core: %.1f/s (%.1f ms "
	       "each)\n",
	       n / el, el * 1e3 / n);
	loop_latency(iam);
	struct iam_principal p;
	end = bw_clock_mono_ns() + (int64_t)(secs * 1e9);
	start = bw_clock_mono_ns();
	n = 0;
	while (bw_clock_mono_ns() < end) {
		if (iam_authenticate_bearer(iam, tok, strlen(tok), &p) != 0)
			exit(1);
		n++;
	}
	el = (double)(bw_clock_mono_ns() - start) / 1e9;
	printf("bearer (session) authentications, one core: %.0f/s\n", n / el);
	bench_oidc(iam, secs);
	iam_free(iam);
	store_close(st);
	const char *sfx[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		char f[600];
		snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
		unlink(f);
	}
}

static void bench_jose(double secs)
{
	enum jose_alg algs[] = {JOSE_ALG_ES256, JOSE_ALG_EDDSA, JOSE_ALG_RS256,
				JOSE_ALG_HS256};
	printf("\n| alg | sign/s | verify (JWT)/s |\n|---|---:|---:|\n");
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct bw_err err;
		struct jose_jwk *k = jose_jwk_generate(algs[i], "b", &err);
		struct jose_signer sg;
		if (!k || jose_signer_local(&sg, k, algs[i], &err) < 0)
			exit(1);
		const char *claims =
		    "{\"iss\":\"https://idp.example\",\"sub\":\"u1\","
		    "\"aud\":\"api\",\"exp\":4000000000,\"iat\":1700000000}";
		struct bw_buf tok;
		bw_buf_init(&tok, 8192);
		int64_t end = bw_clock_mono_ns() + (int64_t)(secs * 1e9),
			start = bw_clock_mono_ns();
		long n = 0;
		while (bw_clock_mono_ns() < end) {
			bw_buf_reset(&tok);
			if (jose_jws_sign(&sg, "at+jwt", claims, strlen(claims),
					  &tok, &err) < 0)
				exit(1);
			n++;
		}
		double sign_rate =
		    n / ((double)(bw_clock_mono_ns() - start) / 1e9);
		struct jose_jwks set;
		jose_jwks_init(&set);
		struct jose_jwk *vk =
		    algs[i] == JOSE_ALG_HS256 ? k : jose_jwk_public(k, &err);
		if (jose_jwks_add(&set, vk, &err) < 0)
			exit(1);
		struct jose_verifier v = {.keys = &set,
					  .algs = JOSE_ALG_BIT(algs[i])};
		struct jose_jwt_rules rules = {.issuer = "https://idp.example",
					       .audience = "api",
					       .typ = "at+jwt",
					       .leeway_s = 60};
		struct bw_arena *a = bw_arena_new(16384, 1 << 20);
		end = bw_clock_mono_ns() + (int64_t)(secs * 1e9);
		start = bw_clock_mono_ns();
		n = 0;
		while (bw_clock_mono_ns() < end) {
			struct jose_jwt out;
			bw_arena_free(a);
			a = bw_arena_new(16384, 1 << 20);
			if (jose_jwt_verify(&v, &rules, tok.data, tok.len, a,
					    &out, &err) < 0) {
				fprintf(stderr, "verify: %s\n", err.msg);
				exit(1);
			}
			n++;
		}
		double ver_rate =
		    n / ((double)(bw_clock_mono_ns() - start) / 1e9);
		printf("| %s | %.0f | %.0f |\n", jose_alg_name(algs[i]),
		       sign_rate, ver_rate);
		bw_arena_free(a);
		jose_jwks_fini(&set);
		if (algs[i] != JOSE_ALG_HS256)
			jose_jwk_free(k);
		bw_buf_fini(&tok);
	}
}

int main(int argc, char **argv)
{
	int n = 9;
	double secs = 2;
	const char *dir = "/var/tmp";
	int c;
	while ((c = getopt(argc, argv, "n:s:d:")) != -1) {
		if (c == 'n')
			n = (int)strtol(optarg, NULL, 10);
		else if (c == 's')
			secs = strtod(optarg, NULL);
		else if (c == 'd')
			dir = optarg;
		else
			return 2;
	}
	if (n < 1)
		n = 1;
	log_init("bench", BW_LOG_WARN, 2);
	bench_argon2(n);
	bench_logins(dir, secs);
	bench_jose(secs);
	return 0;
}
