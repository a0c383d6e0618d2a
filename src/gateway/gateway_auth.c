/*
 * Edge authentication and authorization per route, and the identity
 * headers the gateway signs for upstreams.
 *
 *   credential (Authorization: Bearer, the session cookie, X-Api-Key)
 *     -> pool job: session / API key through the identity service, or a
 *        JWT against the route's keys (a JWKS file, an issuer's JWKS URL
 *        fetched with net_fetch on the loop and cached, or bulwark's own
 *        issuer keys for a tenant, cached) -> optional relationship check
 *     -> back on the loop: 401 / 403 / 503, or the pipeline goes on with
 *        X-Bulwark-Identity and X-Bulwark-Identity-Signature
 *
 * Invariants: the pool job never touches the exchange (it works on copies
 * in its own struct, which lives in the exchange arena and is read again
 * only on the loop after the job is done); a job holds a reference on the
 * gateway; tokens are wiped after use and never logged; every refusal is
 * one event with its reason.
 *
 * Header format (docs/gateway.md "Identity headers"):
 *   X-Bulwark-Identity: v=1;kind=jwt;tenant=t;sub=...;name=...;scopes=...;
 *                       iss=...;route=r;rid=<request id>;ts=<unix s>
 *   X-Bulwark-Identity-Signature: v1=<base64url HMAC-SHA256(key, M)>
 *   M = "bulwark-identity-v1\n" METHOD "\n" TARGET "\n" <identity value>
 * Values are percent-encoded outside [A-Za-z0-9._~:/@+-], so ';' and '='
 * only ever delimit.
 */
#include "gateway/gateway_int.h"
#include "crypto/crypto.h"
#include "json/json.h"
#include "http/http_limits.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct gw_auth {
	enum gateway_auth mode;
	char tenant[64];
	/* JWT */
	bool jwt;
	struct jose_jwks file_keys; /* from jwks_file (immutable) */
	bool have_file_keys;
	char bulwark_tenant[64];
	char jwks_url[1025];
	char ca_file[1024];
	_Atomic bool fetching;     /* a jwks_url fetch is in flight */
	int64_t fetch_at_ms;       /* last fetch started (under mu) */
	bool refetch;              /* an unknown kid asks for a refresh */
	char issuer[256], audience[256];
	unsigned algs;
	int64_t leeway_s;
	int64_t cache_ms;
	/* bulwark's JWKS of a tenant, shared by the pool threads */
	pthread_mutex_t mu;
	struct jose_jwks *tkeys;
	int64_t tkeys_at_ms;
	/* authorization */
	char relation[65], object[GW_MAX_AUTHZ_OBJECT + 1], store[65];
};

void gw_auth_free(struct gw_auth *a)
{
	if (!a)
		return;
	if (a->have_file_keys)
		jose_jwks_fini(&a->file_keys);
	if (a->tkeys) {
		jose_jwks_fini(a->tkeys);
		free(a->tkeys);
	}
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static int copy_field(char *dst, size_t cap, const char *src)
{
	return bw_snprintf(dst, cap, "%s", src ? src : "") < 0 ? -1 : 0;
}

int gw_auth_build(struct gateway *gw, const struct gateway_route_conf *rc,
		  struct gw_route *r, struct bw_err *err)
{
	if (rc->auth == GATEWAY_AUTH_PUBLIC && !rc->authz.relation)
		return 0;
	if (gw->id_key_len == 0)
		return bw_err_set(err, 400, "gateway", "no_identity_key",
				  "route %s authenticates: gateway.identity.key_file "
				  "is needed to sign the identity it passes upstream",
				  rc->name);
	if (rc->auth == GATEWAY_AUTH_PUBLIC)
		return bw_err_set(err, 400, "gateway", "authz_needs_auth",
				  "route %s: authz needs an authenticated identity "
				  "(auth: session, api_key, jwt or any)", rc->name);
	struct gw_auth *a = calloc(1, sizeof(*a));
	if (!a)
		return bw_err_set(err, 500, "gateway", "nomem", "out of memory");
	pthread_mutex_init(&a->mu, NULL);
	r->authc = a;
	a->mode = (enum gateway_auth)rc->auth;
	const struct gateway_jwt_conf *j = &rc->jwt;
	if (copy_field(a->tenant, sizeof(a->tenant), rc->tenant) < 0 ||
	    copy_field(a->jwks_url, sizeof(a->jwks_url), j->jwks_url) < 0 ||
	    copy_field(a->ca_file, sizeof(a->ca_file), j->ca_file) < 0 ||
	    copy_field(a->bulwark_tenant, sizeof(a->bulwark_tenant), j->bulwark_tenant) < 0 ||
	    copy_field(a->issuer, sizeof(a->issuer), j->issuer) < 0 ||
	    copy_field(a->audience, sizeof(a->audience), j->audience) < 0 ||
	    copy_field(a->relation, sizeof(a->relation), rc->authz.relation) < 0 ||
	    copy_field(a->object, sizeof(a->object), rc->authz.object) < 0 ||
	    copy_field(a->store, sizeof(a->store), rc->authz.store) < 0)
		return bw_err_set(err, 400, "gateway", "too_long",
				  "route %s: an auth setting is too long", rc->name);
	a->leeway_s = (int64_t)(j->leeway_ms / 1000);
	a->cache_ms = (int64_t)(j->cache_ms ? j->cache_ms : 60000);
	a->algs = 0;
	for (size_t i = 0; i < j->algs.n; i++) {
		enum jose_alg alg = jose_alg_from_name(j->algs.v[i], strlen(j->algs.v[i]));
		if (alg == JOSE_ALG_INVALID || alg == JOSE_ALG_HS256)
			return bw_err_set(err, 400, "gateway", "bad_alg",
					  "route %s: jwt.algs: '%s' is not an asymmetric "
					  "JOSE algorithm", rc->name, j->algs.v[i]);
		a->algs |= JOSE_ALG_BIT(alg);
	}
	if (!a->algs)
		a->algs = JOSE_ALGS_ASYMMETRIC;
	bool wants_jwt = a->mode == GATEWAY_AUTH_JWT || a->mode == GATEWAY_AUTH_ANY;
	a->jwt = j->jwks_file || j->bulwark_tenant || j->jwks_url;
	if (a->mode == GATEWAY_AUTH_JWT && !a->jwt)
		return bw_err_set(err, 400, "gateway", "no_jwt_keys",
				  "route %s: auth jwt needs jwt.jwks_file, jwt.jwks_url "
				  "or jwt.bulwark_tenant", rc->name);
	if (j->jwks_url && strncmp(j->jwks_url, "https://", 8) != 0 &&
	    strncmp(j->jwks_url, "http://127.0.0.1", 16) != 0 &&
	    strncmp(j->jwks_url, "http://localhost", 16) != 0)
		return bw_err_set(err, 400, "gateway", "jwks_url",
				  "route %s: jwt.jwks_url must be https (plain http "
				  "only on loopback)", rc->name);
	if (a->jwt && !wants_jwt)
		return bw_err_set(err, 400, "gateway", "jwt_unused",
				  "route %s: a jwt section needs auth: jwt or any",
				  rc->name);
	if ((j->jwks_file != NULL) + (j->bulwark_tenant != NULL) + (j->jwks_url != NULL) > 1)
		return bw_err_set(err, 400, "gateway", "jwt_keys",
				  "route %s: jwt.jwks_file, jwt.jwks_url and "
				  "jwt.bulwark_tenant exclude each other", rc->name);
	if (j->jwks_file) {
		size_t len = 0;
		char *text = bw_file_read(j->jwks_file, GW_MAX_JWKS_BYTES, &len, err);
		if (!text)
			return -1;
		jose_jwks_init(&a->file_keys);
		int rc2 = jose_jwks_parse(&a->file_keys, text, len, false, NULL, err);
		free(text);
		if (rc2 < 0)
			return -1;
		a->have_file_keys = true;
	}
	return 0;
}

/* ------------------------------------------------------------ identity */

/* Appends "key=value;" with value percent-encoded outside a small safe
 * set. -1 when it does not fit. */
static int put_kv(char *out, size_t cap, size_t *n, const char *k, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!v || !*v)
		return 0;
	int w = bw_snprintf(out + *n, cap - *n, "%s%s=", *n ? ";" : "", k);
	if (w < 0)
		return -1;
	*n += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		bool safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("._~:/@+-", *p);
		if (*n + 4 >= cap)
			return -1;
		if (safe) {
			out[(*n)++] = (char)*p;
		} else {
			out[(*n)++] = '%';
			out[(*n)++] = hex[*p >> 4];
			out[(*n)++] = hex[*p & 15];
		}
	}
	out[*n] = '\0';
	return 0;
}

int gw_identity_sign(const uint8_t *key, size_t keylen,
		     const struct gateway_principal *p, const char *route,
		     const char *request_id, int64_t ts, struct bw_str method,
		     struct bw_str target, char *value, size_t vcap, char *sig,
		     size_t scap)
{
	size_t n = 0;
	char tsb[24];
	bw_snprintf(tsb, sizeof(tsb), "%lld", (long long)ts);
	value[0] = '\0';
	if (put_kv(value, vcap, &n, "v", "1") < 0 || put_kv(value, vcap, &n, "kind", p->kind) < 0 ||
	    put_kv(value, vcap, &n, "tenant", p->tenant) < 0 ||
	    put_kv(value, vcap, &n, "sub", p->subject) < 0 ||
	    put_kv(value, vcap, &n, "name", p->name) < 0 ||
	    put_kv(value, vcap, &n, "scopes", p->scopes) < 0 ||
	    put_kv(value, vcap, &n, "iss", p->issuer) < 0 ||
	    put_kv(value, vcap, &n, "route", route) < 0 ||
	    put_kv(value, vcap, &n, "rid", request_id) < 0 ||
	    put_kv(value, vcap, &n, "ts", tsb) < 0)
		return -1;
	struct bw_buf m;
	bw_buf_init(&m, GW_MAX_IDENTITY_HEADER + HTTP_MAX_URI + 64);
	uint8_t mac[32];
	struct bw_err err;
	int rc = bw_buf_append_str(&m, "bulwark-identity-v1\n") |
		 bw_buf_append(&m, method.p, method.len) | bw_buf_append_str(&m, "\n") |
		 bw_buf_append(&m, target.p, target.len) | bw_buf_append_str(&m, "\n") |
		 bw_buf_append_str(&m, value);
	if (rc == 0)
		rc = crypto_hmac(CRYPTO_SHA256, key, keylen, m.data, m.len, mac, &err);
	bw_buf_fini(&m);
	if (rc < 0 || scap < 4 + crypto_b64url_len(32) + 1)
		return -1;
	memcpy(sig, "v1=", 3);
	size_t e = crypto_b64url_encode_to(mac, sizeof(mac), sig + 3);
	sig[3 + e] = '\0';
	bw_wipe(mac, sizeof(mac));
	return 0;
}

int gw_authz_object(const char *tmpl, struct bw_str prefix, struct bw_str path,
		    char *out, size_t cap)
{
	/* the part of the path after the route prefix, without its '/' */
	struct bw_str rest = path;
	if (prefix.len > 1 && rest.len >= prefix.len) {
		rest.p += prefix.len;
		rest.len -= prefix.len;
	}
	size_t n = 0;
	for (const char *p = tmpl; *p; p++) {
		if (*p != '{') {
			if (n + 1 >= cap)
				return -1;
			out[n++] = *p;
			continue;
		}
		const char *close = strchr(p, '}');
		if (!close || close - p < 2 || close - p > 3)
			return -1;
		unsigned idx = 0;
		for (const char *d = p + 1; d < close; d++) {
			if (*d < '0' || *d > '9')
				return -1;
			idx = idx * 10 + (unsigned)(*d - '0');
		}
		/* segment idx (1-based) of rest */
		const char *s = rest.p, *end = rest.p + rest.len;
		unsigned seg = 0;
		const char *segp = NULL;
		size_t segl = 0;
		while (s < end) {
			while (s < end && *s == '/')
				s++;
			if (s >= end)
				break;
			const char *e = memchr(s, '/', (size_t)(end - s));
			if (!e)
				e = end;
			if (++seg == idx) {
				segp = s;
				segl = (size_t)(e - s);
				break;
			}
			s = e;
		}
		if (!segp || segl == 0 || n + segl >= cap)
			return -1;
		for (size_t i = 0; i < segl; i++) {
			/* an object id never carries separators or escapes */
			char ch = segp[i];
			if (ch == '#' || ch == ':' || ch == '%' || ch == ' ' || (unsigned char)ch < 0x21)
				return -1;
			out[n++] = ch;
		}
		p = close;
	}
	out[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------ the job */

struct auth_job {
	struct gateway *gw;
	struct gw_route *r;
	struct net_exchange *x;
	struct gw_client cl;
	gw_auth_next_fn next;
	char token[GW_MAX_TOKEN + 1];
	size_t token_len;
	char object[GW_MAX_AUTHZ_OBJECT + 1];
	bool have_object;
	/* results */
	int status;          /* 0: allowed */
	const char *reason;  /* static */
	char detail[96];     /* for the event (never the token) */
	struct gateway_principal p;
};

/* For a token signed with bulwark's keys of tenant (signature checked
 * here first): its "iss" when that is bulwark's issuer of the tenant
 * (".../oidc/<tenant>"), into out. */
static bool bulwark_issuer(const struct jose_verifier *v, const char *tok, size_t len,
			   const char *tenant, struct bw_arena *ar, char *out, size_t cap)
{
	struct bw_err err;
	struct jose_jws jws;
	if (jose_jws_verify(v, tok, len, ar, &jws, &err) < 0)
		return false;
	const struct json_value *c =
		json_parse(ar, (const char *)jws.payload, jws.payload_len, NULL, &err);
	const struct json_value *iss = c ? json_get(c, "iss") : NULL;
	if (!iss || iss->type != JSON_STRING || iss->u.str.len >= cap)
		return false;
	char suffix[80];
	int n = bw_snprintf(suffix, sizeof(suffix), "/oidc/%s", tenant);
	if (n < 0 || iss->u.str.len < (size_t)n ||
	    memcmp(iss->u.str.p + iss->u.str.len - (size_t)n, suffix, (size_t)n) != 0)
		return false;
	memcpy(out, iss->u.str.p, iss->u.str.len);
	out[iss->u.str.len] = '\0';
	return true;
}

/* Checks a JWT against the route's keys; fills j->p. 0 or -1 (j->reason). */
static int verify_jwt(struct auth_job *j, struct gw_auth *a)
{
	struct bw_err err;
	struct bw_arena *ar = bw_arena_new(8192, 1u << 20);
	if (!ar) {
		j->status = 503;
		j->reason = "auth_unavailable";
		return -1;
	}
	int rc = -1;
	struct jose_jwks *keys = a->have_file_keys ? &a->file_keys : NULL;
	bool locked = false;
	if (!keys) {
		/* bulwark's own issuer: its JWKS, re-read when stale */
		pthread_mutex_lock(&a->mu);
		locked = true;
		int64_t now = bw_clock_mono_ms();
		if (a->bulwark_tenant[0] && (!a->tkeys || now - a->tkeys_at_ms > a->cache_ms) &&
		    j->gw->svc.tenant_jwks) {
			struct bw_buf doc;
			bw_buf_init(&doc, GW_MAX_JWKS_BYTES);
			struct jose_jwks *fresh = calloc(1, sizeof(*fresh));
			if (fresh) {
				jose_jwks_init(fresh);
				if (j->gw->svc.tenant_jwks(j->gw->svc.arg, a->bulwark_tenant,
							   &doc) == 0 &&
				    jose_jwks_parse(fresh, doc.data ? doc.data : "", doc.len,
						    false, NULL, &err) == 0) {
					if (a->tkeys) {
						jose_jwks_fini(a->tkeys);
						free(a->tkeys);
					}
					a->tkeys = fresh;
					a->tkeys_at_ms = now;
				} else {
					jose_jwks_fini(fresh);
					free(fresh);
				}
			}
			bw_buf_fini(&doc);
		}
		keys = a->tkeys;
	}
	if (!keys) {
		j->status = 503;
		j->reason = "jwks_unavailable";
		goto out;
	}
	struct jose_verifier v = { .keys = keys, .algs = a->algs, .max_token = GW_MAX_TOKEN };
	struct jose_jwt_rules rules = {
		.issuer = a->issuer[0] ? a->issuer : NULL,
		.audience = a->audience[0] ? a->audience : NULL,
		.leeway_s = a->leeway_s,
		.require_exp = true,
	};
	struct jose_jwt t;
	char own_iss[256];
	if (a->bulwark_tenant[0] && !rules.audience &&
	    bulwark_issuer(&v, j->token, j->token_len, a->bulwark_tenant, ar, own_iss,
			   sizeof(own_iss))) {
		/* bulwark's access tokens name their issuer as audience */
		rules.issuer = own_iss;
		rules.audience = own_iss;
	}
	if (jose_jwt_verify(&v, &rules, j->token, j->token_len, ar, &t, &err) < 0) {
		j->status = 401;
		j->reason = "invalid_token";
		bw_snprintf(j->detail, sizeof(j->detail), "%s", err.reason);
		/* a key the issuer rotated in: fetch its set again (bounded) */
		if (a->jwks_url[0] && strcmp(err.reason, "unknown_kid") == 0)
			a->refetch = true;
		goto out;
	}
	if (t.sub.len == 0 || t.sub.len >= sizeof(j->p.subject) ||
	    t.iss.len >= sizeof(j->p.issuer)) {
		j->status = 401;
		j->reason = "invalid_token";
		bw_snprintf(j->detail, sizeof(j->detail), "sub");
		goto out;
	}
	bw_snprintf(j->p.kind, sizeof(j->p.kind), "jwt");
	bw_snprintf(j->p.tenant, sizeof(j->p.tenant), "%s",
		    a->bulwark_tenant[0] ? a->bulwark_tenant : a->tenant);
	bw_snprintf(j->p.subject, sizeof(j->p.subject), "%.*s", (int)t.sub.len, t.sub.p);
	bw_snprintf(j->p.issuer, sizeof(j->p.issuer), "%.*s", (int)t.iss.len, t.iss.p);
	const struct json_value *sc = json_get(t.claims, "scope");
	if (sc && sc->type == JSON_STRING)
		bw_snprintf(j->p.scopes, sizeof(j->p.scopes), "%.*s", (int)sc->u.str.len,
			    sc->u.str.p);
	const struct json_value *nm = json_get(t.claims, "preferred_username");
	if (nm && nm->type == JSON_STRING)
		bw_snprintf(j->p.name, sizeof(j->p.name), "%.*s", (int)nm->u.str.len,
			    nm->u.str.p);
	rc = 0;
out:
	if (locked)
		pthread_mutex_unlock(&a->mu);
	bw_arena_free(ar);
	return rc;
}

static bool has_prefix(const char *s, size_t n, const char *p)
{
	size_t pl = strlen(p);
	return n >= pl && memcmp(s, p, pl) == 0;
}

/* On a pool thread: authenticate, then check. */
static void auth_work(void *arg)
{
	struct auth_job *j = arg;
	struct gw_auth *a = j->r->authc;
	const struct gateway_services *svc = &j->gw->svc;
	enum gateway_auth m = a->mode;
	bool session = has_prefix(j->token, j->token_len, "bws_");
	bool apikey = has_prefix(j->token, j->token_len, "bwk_");
	bool jwt = !session && !apikey;
	if ((session && m != GATEWAY_AUTH_SESSION && m != GATEWAY_AUTH_ANY) ||
	    (apikey && m != GATEWAY_AUTH_API_KEY && m != GATEWAY_AUTH_ANY) ||
	    (jwt && m != GATEWAY_AUTH_JWT && m != GATEWAY_AUTH_ANY) || (jwt && !a->jwt)) {
		j->status = 401;
		j->reason = "wrong_credential_kind";
		goto out;
	}
	if (jwt) {
		if (verify_jwt(j, a) < 0)
			goto out;
	} else {
		if (!svc->authenticate) {
			j->status = 503;
			j->reason = "auth_unavailable";
			goto out;
		}
		int rc = svc->authenticate(svc->arg, j->token, j->token_len, &j->p);
		if (rc != 0) {
			j->status = rc == -2 ? 503 : 401;
			j->reason = rc == -2 ? "auth_unavailable" : "invalid_token";
			goto out;
		}
		if (strcmp(j->p.tenant, a->tenant) != 0) {
			j->status = 401;
			j->reason = "wrong_tenant";
			goto out;
		}
	}
	if (a->relation[0]) {
		bool allowed = false;
		char user[160];
		bw_snprintf(user, sizeof(user), "user:%s", j->p.subject);
		if (!j->have_object) {
			j->status = 403;
			j->reason = "no_authz_object";
			goto out;
		}
		if (!svc->check || svc->check(svc->arg, j->p.tenant, a->store, user,
					      a->relation, j->object, &allowed) < 0) {
			j->status = 503;
			j->reason = "authz_unavailable";
			goto out;
		}
		if (!allowed) {
			j->status = 403;
			j->reason = "forbidden";
			goto out;
		}
	}
	j->status = 0;
out:
	bw_wipe(j->token, sizeof(j->token));
}

static void deny(struct gateway *gw, struct gw_route *r, struct net_exchange *x,
		 const struct gw_client *cl, int status, const char *reason,
		 const char *detail)
{
	bool authz = strcmp(reason, "forbidden") == 0;
	if (authz)
		GW_COUNT(authz_denied);
	else
		GW_COUNT(auth_failed);
	gw_event(x, cl, authz ? "gateway-authz-denied" : "gateway-auth-failed",
		 BW_OUTCOME_FAILURE, status == 503 ? 6 : 4,
		 authz ? "relationship check refused the request" :
			 "edge authentication failed",
		 "route", r->name, "reason", reason, "detail", detail ? detail : "", NULL);
	if (status == 401)
		net_add_header(x, "WWW-Authenticate",
			       strcmp(reason, "auth_required") == 0 ?
				       "Bearer realm=\"bulwark\"" :
				       "Bearer realm=\"bulwark\", error=\"invalid_token\"");
	gw_respond_error(x, status, reason);
}

/* Back on the loop. */
static void auth_done(void *arg)
{
	struct auth_job *j = arg;
	struct gateway *gw = j->gw;
	struct net_exchange *x = j->x;
	if (j->status) {
		deny(gw, j->r, x, &j->cl, j->status, j->reason, j->detail);
		gw_unref(gw);
		return;
	}
	GW_COUNT(auth_ok);
	const struct http_request *req = net_request(x);
	struct bw_arena *ar = net_arena(x);
	char *val = bw_arena_alloc(ar, GW_MAX_IDENTITY_HEADER);
	char *sig = bw_arena_alloc(ar, 64);
	struct gw_hdr *h = bw_arena_zalloc(ar, 2 * sizeof(*h));
	if (!val || !sig || !h ||
	    gw_identity_sign(gw->id_key, gw->id_key_len, &j->p, j->r->name,
			     net_request_id(x), bw_clock_now_s(), req->method_str,
			     req->target, val, GW_MAX_IDENTITY_HEADER, sig, 64) < 0) {
		deny(gw, j->r, x, &j->cl, 431, "identity_too_large", NULL);
		gw_unref(gw);
		return;
	}
	h[0] = (struct gw_hdr){ "X-Bulwark-Identity", val };
	h[1] = (struct gw_hdr){ "X-Bulwark-Identity-Signature", sig };
	j->next(gw, j->r, x, &j->cl, h, 2);
	gw_unref(gw);
}

/* The credential the route accepts from the request, or false. */
static bool find_token(const struct gw_auth *a, const struct http_request *req,
		       struct bw_str *tok)
{
	const struct http_header *h =
		http_header_find(req->headers, req->nheaders, "authorization");
	if (h && h->value.len > 7 && strncasecmp(h->value.p, "bearer ", 7) == 0) {
		*tok = bw_str_make(h->value.p + 7, h->value.len - 7);
		while (tok->len && tok->p[0] == ' ') {
			tok->p++;
			tok->len--;
		}
		return tok->len > 0;
	}
	if (a->mode == GATEWAY_AUTH_SESSION || a->mode == GATEWAY_AUTH_ANY) {
		char name[96];
		bw_snprintf(name, sizeof(name), "__Host-bw-session-%s", a->tenant);
		if (gw_cookie_get(req, name, tok) && tok->len)
			return true;
	}
	if (a->mode == GATEWAY_AUTH_API_KEY || a->mode == GATEWAY_AUTH_ANY) {
		h = http_header_find(req->headers, req->nheaders, "x-api-key");
		if (h && h->value.len) {
			*tok = h->value;
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------ jwks_url
 *
 * One net_fetch per loop (thread-local, freed by gw_auth_thread_fini).
 * The thread that finds a route's URL key set missing or stale starts
 * the fetch (one at a time per route, at most one every
 * GW_JWKS_MIN_REFETCH_MS); the answer is parsed and swapped in under the
 * route's mutex. Until the first set arrived, requests get 503 with
 * Retry-After: 1; afterwards the old set serves while a new one loads.
 */
struct fetcher {
	struct loop *loop;
	struct net_fetch *f;
	struct fetcher *next;
};
static pthread_mutex_t fetchers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fetcher *fetchers;

static struct net_fetch *fetch_for(struct loop *l)
{
	pthread_mutex_lock(&fetchers_mu);
	struct fetcher *f = fetchers;
	while (f && f->loop != l)
		f = f->next;
	if (!f && (f = calloc(1, sizeof(*f))) != NULL) {
		struct bw_err err;
		f->loop = l;
		f->f = net_fetch_new(l, 16, &err);
		if (!f->f) {
			log_warnx("gateway: no JWKS fetcher: %s", err.msg);
			free(f);
			f = NULL;
		} else {
			f->next = fetchers;
			fetchers = f;
		}
	}
	pthread_mutex_unlock(&fetchers_mu);
	return f ? f->f : NULL;
}

void gw_auth_thread_fini(struct loop *l)
{
	pthread_mutex_lock(&fetchers_mu);
	struct fetcher **pp = &fetchers;
	while (*pp && (*pp)->loop != l)
		pp = &(*pp)->next;
	struct fetcher *f = *pp;
	if (f)
		*pp = f->next;
	pthread_mutex_unlock(&fetchers_mu);
	if (f) {
		net_fetch_free(f->f); /* callbacks run with "cancelled" */
		free(f);
	}
}

struct jwks_fetch {
	struct gateway *gw; /* a reference while the fetch is in flight */
	struct gw_auth *a;
};

static void jwks_fetched(void *arg, const struct net_fetch_result *res)
{
	struct jwks_fetch *jf = arg;
	struct gw_auth *a = jf->a;
	struct bw_err err;
	struct jose_jwks *fresh = NULL;
	if (res->error || res->status != 200) {
		log_kv(BW_LOG_WARN, "gateway: JWKS fetch failed", "url", a->jwks_url,
		       "error", res->error ? res->error : "status", NULL);
	} else if ((fresh = calloc(1, sizeof(*fresh))) != NULL) {
		jose_jwks_init(fresh);
		if (jose_jwks_parse(fresh, res->body.p ? res->body.p : "", res->body.len, false,
				    NULL, &err) < 0) {
			log_kv(BW_LOG_WARN, "gateway: JWKS refused", "url", a->jwks_url,
			       "error", err.msg, NULL);
			jose_jwks_fini(fresh);
			free(fresh);
			fresh = NULL;
		}
	}
	if (fresh) {
		pthread_mutex_lock(&a->mu);
		struct jose_jwks *old = a->tkeys;
		a->tkeys = fresh;
		a->tkeys_at_ms = bw_clock_mono_ms();
		a->refetch = false;
		pthread_mutex_unlock(&a->mu);
		if (old) {
			jose_jwks_fini(old);
			free(old);
		}
	}
	atomic_store(&a->fetching, false);
	gw_unref(jf->gw);
	free(jf);
}

/* Starts a fetch of a's key set when it is missing, stale or asked for.
 * Returns whether keys are available now. */
static bool jwks_url_keys(struct gateway *gw, struct gw_auth *a, struct loop *l)
{
	int64_t now = bw_clock_mono_ms();
	pthread_mutex_lock(&a->mu);
	bool have = a->tkeys != NULL;
	bool stale = !have || now - a->tkeys_at_ms > a->cache_ms || a->refetch;
	bool may = now - a->fetch_at_ms >= GW_JWKS_MIN_REFETCH_MS || !have;
	if (stale && may && !atomic_exchange(&a->fetching, true))
		a->fetch_at_ms = now;
	else
		stale = false;
	pthread_mutex_unlock(&a->mu);
	if (!stale)
		return have;
	struct net_fetch *f = fetch_for(l);
	struct jwks_fetch *jf = f ? calloc(1, sizeof(*jf)) : NULL;
	struct bw_err err;
	struct net_fetch_request rq = {
		.method = "GET",
		.url = a->jwks_url,
		.timeout_ms = 10000,
		.max_response = GW_MAX_JWKS_BYTES,
		.ca_file = a->ca_file[0] ? a->ca_file : NULL,
	};
	if (jf) {
		jf->gw = gw;
		jf->a = a;
		gateway_ref(gw);
		if (net_fetch_start(f, &rq, jwks_fetched, jf, &err) == 0)
			return have;
		gw_unref(gw);
		free(jf);
		log_warnx("gateway: JWKS fetch not started: %s", err.msg);
	}
	atomic_store(&a->fetching, false);
	return have;
}

void gw_auth_run(struct gateway *gw, struct gw_route *r, struct net_exchange *x,
		 const struct gw_client *cl, gw_auth_next_fn next)
{
	struct gw_auth *a = r->authc;
	if (!a) {
		next(gw, r, x, cl, NULL, 0);
		return;
	}
	const struct http_request *req = net_request(x);
	struct bw_str tok;
	if (!find_token(a, req, &tok)) {
		deny(gw, r, x, cl, 401, "auth_required", NULL);
		return;
	}
	if (tok.len > GW_MAX_TOKEN) {
		deny(gw, r, x, cl, 401, "token_too_large", NULL);
		return;
	}
	if (!gw->svc.pool) {
		deny(gw, r, x, cl, 503, "auth_unavailable", "no pool");
		return;
	}
	if (a->jwks_url[0] && !jwks_url_keys(gw, a, net_loop(x)) &&
	    !has_prefix(tok.p, tok.len, "bws_") && !has_prefix(tok.p, tok.len, "bwk_")) {
		net_add_header(x, "Retry-After", "1");
		deny(gw, r, x, cl, 503, "jwks_unavailable", "first fetch in flight");
		return;
	}
	struct auth_job *j = bw_arena_zalloc(net_arena(x), sizeof(*j));
	if (!j) {
		deny(gw, r, x, cl, 503, "auth_unavailable", "out of memory");
		return;
	}
	j->gw = gw;
	j->r = r;
	j->x = x;
	j->cl = *cl;
	j->next = next;
	memcpy(j->token, tok.p, tok.len);
	j->token_len = tok.len;
	if (a->relation[0])
		j->have_object = gw_authz_object(a->object, r->prefix, req->path, j->object,
						 sizeof(j->object)) == 0;
	gateway_ref(gw);
	if (tpool_submit(gw->svc.pool, auth_work, auth_done, j, net_loop(x)) < 0) {
		bw_wipe(j->token, sizeof(j->token));
		gw_unref(gw);
		net_add_header(x, "Retry-After", "1");
		deny(gw, r, x, cl, 503, "auth_busy", NULL);
	}
}

void gateway_set_services(struct gateway *gw, const struct gateway_services *s)
{
	gw->svc = *s;
}

int gw_identity_key_load(struct gateway *gw, const char *path, struct bw_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return bw_err_set(err, 400, "gateway", "identity_key",
				  "identity key %s: cannot stat", path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return bw_err_set(err, 400, "gateway", "identity_key_mode",
				  "identity key %s is readable by group or others "
				  "(chmod 600)", path);
	size_t len = 0;
	char *k = bw_file_read(path, GW_MAX_IDENTITY_KEY + 2, &len, err);
	if (!k)
		return -1;
	while (len && (k[len - 1] == '\n' || k[len - 1] == '\r'))
		len--;
	if (len < GW_MIN_IDENTITY_KEY || len > GW_MAX_IDENTITY_KEY) {
		bw_wipe(k, len);
		free(k);
		return bw_err_set(err, 400, "gateway", "identity_key_size",
				  "identity key %s must hold %d to %d bytes", path,
				  GW_MIN_IDENTITY_KEY, GW_MAX_IDENTITY_KEY);
	}
	memcpy(gw->id_key, k, len);
	gw->id_key_len = len;
	bw_wipe(k, len);
	free(k);
	return 0;
}
