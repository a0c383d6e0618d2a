/*
 * pki_acme.c — the ACME server object: options, the per-tenant
 * configuration (kept in the store, mirrored in memory for the
 * unauthenticated GETs), the net handler that hands requests to the
 * protocol core (pki_acme_proto.c) on the thread pool and sends what it
 * built, audit records, events and counters.
 *
 * Invariants: the handler does only bounded work on the loop thread (the
 * directory and new-nonce come from memory; everything signed goes to
 * the pool); every response carries Cache-Control: no-store, a
 * Link rel="index" to the tenant's directory and, except the directory,
 * a fresh Replay-Nonce; options are clamped to pki_acme_limits.h.
 */
#include "pki/pki_acme_int.h"

#include <arpa/inet.h>
#include <signal.h>
#include <string.h>

#include "audit/audit.h"
#include "loop/loop.h"
#include "net/net.h"
#include "store/store.h"

void acme_id_new(char out[PKI_ACME_ID_LEN + 1])
{
	uint8_t raw[16];
	bw_random(raw, sizeof(raw));
	crypto_b64url_encode_to(raw, sizeof(raw), out);
}

static bool tenant_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > PKI_TENANT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* "IP" or "IP:port" or "[v6]:port" into addr/port (53 by default). */
static int parse_resolver(const char *s, char *addr, size_t cap, uint16_t *port)
{
	const char *colon = NULL;
	*port = 53;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (size_t)(end - s - 1) >= cap)
			return -1;
		memcpy(addr, s + 1, (size_t)(end - s - 1));
		addr[end - s - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -1;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 literal */
		size_t n = colon ? (size_t)(colon - s) : strlen(s);
		if (n >= cap)
			return -1;
		memcpy(addr, s, n);
		addr[n] = '\0';
	}
	if (colon) {
		uint64_t p;
		if (bw_str_to_u64(bw_str_make(colon + 1, strlen(colon + 1)), &p) < 0 ||
		    p == 0 || p > 65535)
			return -1;
		*port = (uint16_t)p;
	}
	uint8_t buf[16];
	return inet_pton(AF_INET, addr, buf) == 1 || inet_pton(AF_INET6, addr, buf) == 1 ?
		       0 : -1;
}

struct pki_acme *pki_acme_new(const struct pki_acme_options *o, struct bw_err *err)
{
	if (!o || !o->pki || !o->store) {
		bw_err_set(err, 400, PKI_MOD, "bad_option", "pki and store are required");
		return NULL;
	}
	struct pki_acme *a = calloc(1, sizeof(*a));
	if (!a) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		return NULL;
	}
	a->pki = o->pki;
	a->st = o->store;
	a->pool = o->pool;
	a->audit = o->audit;
	pthread_rwlock_init(&a->tmu, NULL);
	if (o->base_url && *o->base_url) {
		if (bw_snprintf(a->base_url, sizeof(a->base_url), "%s", o->base_url) < 0 ||
		    (strncmp(a->base_url, "https://", 8) != 0 &&
		     strncmp(a->base_url, "http://", 7) != 0)) {
			bw_err_set(err, 400, PKI_MOD, "bad_option",
				   "base_url must be an http(s) URL of at most %d bytes",
				   PKI_ACME_BASE_URL_MAX);
			goto fail;
		}
		size_t n = strlen(a->base_url);
		while (n > 0 && a->base_url[n - 1] == '/')
			a->base_url[--n] = '\0';
	}
	if (o->terms_of_service &&
	    bw_snprintf(a->tos, sizeof(a->tos), "%s", o->terms_of_service) < 0) {
		bw_err_set(err, 400, PKI_MOD, "bad_option", "terms_of_service too long");
		goto fail;
	}
	a->http01_port = o->http01_port ? o->http01_port : 80;
	a->tlsalpn01_port = o->tlsalpn01_port ? o->tlsalpn01_port : 443;
	if (o->validation_addr && *o->validation_addr) {
		uint8_t buf[16];
		if (bw_snprintf(a->vaddr, sizeof(a->vaddr), "%s", o->validation_addr) < 0 ||
		    (inet_pton(AF_INET, a->vaddr, buf) != 1 &&
		     inet_pton(AF_INET6, a->vaddr, buf) != 1)) {
			bw_err_set(err, 400, PKI_MOD, "bad_option",
				   "validation_addr must be an IP literal");
			goto fail;
		}
		log_warnx("pki acme: validations connect to %s whatever the identifier "
			  "(testing only)", a->vaddr);
	}
	if (o->dns_resolver && *o->dns_resolver &&
	    parse_resolver(o->dns_resolver, a->dns_addr, sizeof(a->dns_addr),
			   &a->dns_port) < 0) {
		bw_err_set(err, 400, PKI_MOD, "bad_option",
			   "dns_resolver must be IP, IP:port or [IPv6]:port");
		goto fail;
	}
	if (o->eab_seal_key) {
		memcpy(a->seal_key, o->eab_seal_key, sizeof(a->seal_key));
		a->have_seal = true;
	} else {
		log_warnx("pki acme: EAB keys are stored unsealed until used "
			  "(configure a seal key)");
	}
	a->order_ttl_s = o->order_ttl_s > 0 ? o->order_ttl_s : PKI_ACME_ORDER_TTL_DEFAULT_S;
	if (a->order_ttl_s > PKI_ACME_ORDER_TTL_MAX_S)
		a->order_ttl_s = PKI_ACME_ORDER_TTL_MAX_S;
	a->inflight_max = o->validations_max ? o->validations_max :
					       PKI_ACME_VALIDATIONS_DEFAULT;
	if (a->inflight_max > PKI_ACME_VALIDATIONS_HARD)
		a->inflight_max = PKI_ACME_VALIDATIONS_HARD;
	a->nonces = acme_nonces_new(o->nonces_max, o->nonce_ttl_s);
	a->tenants = calloc(PKI_ACME_TENANTS_MAX, sizeof(*a->tenants));
	if (!a->nonces || !a->tenants) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		goto fail;
	}
	if (store_migrate(a->st, "pki_acme", acme_schema, acme_schema_steps, err) < 0)
		goto fail;
	if (acme_db_tenants_load(a, err) < 0)
		goto fail;
	unsigned nv = o->validator_threads ? o->validator_threads :
					     PKI_ACME_VALIDATORS_DEFAULT;
	if (nv > PKI_ACME_VALIDATORS_HARD)
		nv = PKI_ACME_VALIDATORS_HARD;
	/* The validator's threads write to peers that may have gone (a TLS
	 * handshake with a validation target): they never take SIGPIPE,
	 * whatever the embedding process does with it. */
	sigset_t pipe, old;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	struct bw_err e;
	a->vpool = tpool_new((int)nv, PKI_ACME_VALIDATIONS_HARD * 2, &e);
	int vrc = a->vpool ? acme_validator_start(a, err) :
			     bw_err_set(err, 500, PKI_MOD, "validator", "%s", e.msg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (vrc < 0)
		goto fail;
	log_info("pki acme: %zu tenant directories", a->ntenants);
	return a;
fail:
	pki_acme_free(a);
	return NULL;
}

void pki_acme_free(struct pki_acme *a)
{
	if (!a)
		return;
	acme_validator_stop(a);
	tpool_free(a->vpool);
	acme_nonces_free(a->nonces);
	free(a->tenants);
	pthread_rwlock_destroy(&a->tmu);
	bw_wipe(a->seal_key, sizeof(a->seal_key));
	free(a);
}

int acme_tenant_lookup(struct pki_acme *a, const char *tenant,
		       struct pki_acme_tenant *out)
{
	int rc = -1;
	pthread_rwlock_rdlock(&a->tmu);
	for (size_t i = 0; i < a->ntenants; i++)
		if (strcmp(a->tenants[i].tenant, tenant) == 0) {
			*out = a->tenants[i].cfg;
			rc = out->enabled ? 0 : -1;
			break;
		}
	pthread_rwlock_unlock(&a->tmu);
	return rc;
}

int pki_acme_tenant_get(struct pki_acme *a, const char *tenant,
			struct pki_acme_tenant *cfg, struct bw_err *err)
{
	pthread_rwlock_rdlock(&a->tmu);
	for (size_t i = 0; i < a->ntenants; i++)
		if (strcmp(a->tenants[i].tenant, tenant) == 0) {
			*cfg = a->tenants[i].cfg;
			pthread_rwlock_unlock(&a->tmu);
			return 0;
		}
	pthread_rwlock_unlock(&a->tmu);
	return bw_err_set(err, 404, PKI_MOD, "not_found",
			  "ACME is not configured for this tenant");
}

int pki_acme_tenant_set(struct pki_acme *a, const char *tenant,
			const struct pki_acme_tenant *cfg, struct bw_err *err)
{
	if (!tenant || !tenant_ok(tenant))
		return bw_err_set(err, 400, PKI_MOD, "bad_tenant", "bad tenant name");
	if (cfg->validity_s < 0 || cfg->validity_s > PKI_LEAF_VALIDITY_MAX_S)
		return bw_err_set(err, 400, PKI_MOD, "validity",
				  "validity_s must be 0..%lld",
				  (long long)PKI_LEAF_VALIDITY_MAX_S);
	struct pki_ca_info ca;
	if (pki_ca_get(a->pki, tenant, cfg->ca_id, &ca, err) < 0)
		return -1;
	if (ca.state != PKI_CA_ACTIVE)
		return bw_err_set(err, 409, PKI_MOD, "ca_not_active",
				  "the CA is not active");
	pthread_rwlock_wrlock(&a->tmu);
	size_t i;
	for (i = 0; i < a->ntenants; i++)
		if (strcmp(a->tenants[i].tenant, tenant) == 0)
			break;
	bool full = i == a->ntenants && a->ntenants == PKI_ACME_TENANTS_MAX;
	pthread_rwlock_unlock(&a->tmu);
	if (full)
		return bw_err_set(err, 413, PKI_MOD, "too_many",
				  "at most %d tenants have ACME", PKI_ACME_TENANTS_MAX);
	struct pki_acme_tenant c = *cfg;
	c.ca_id[sizeof(c.ca_id) - 1] = '\0';
	/* durable first, then visible */
	if (acme_db_tenant_put(a, tenant, &c, err) < 0)
		return -1;
	pthread_rwlock_wrlock(&a->tmu);
	for (i = 0; i < a->ntenants; i++)
		if (strcmp(a->tenants[i].tenant, tenant) == 0)
			break;
	if (i == a->ntenants && a->ntenants < PKI_ACME_TENANTS_MAX) {
		bw_snprintf(a->tenants[i].tenant, sizeof(a->tenants[i].tenant), "%s",
			    tenant);
		a->ntenants++;
	}
	if (i < a->ntenants)
		a->tenants[i].cfg = c;
	pthread_rwlock_unlock(&a->tmu);
	pki_emit("acme-configured", tenant, true, "ACME directory configured",
		 "ca", c.ca_id, "eab", c.eab_required ? "required" : "optional");
	return 0;
}

void pki_acme_stats_get(struct pki_acme *a, struct pki_acme_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->requests = atomic_load(&a->requests);
	out->refused = atomic_load(&a->refused);
	acme_nonces_stats(a->nonces, &out->nonces_issued, &out->nonces_accepted,
			  &out->nonces_refused);
	out->accounts_created = atomic_load(&a->accounts_created);
	out->orders_created = atomic_load(&a->orders_created);
	out->certificates_issued = atomic_load(&a->certificates_issued);
	out->revocations = atomic_load(&a->revocations);
	out->validations_started = atomic_load(&a->validations_started);
	out->validations_ok = atomic_load(&a->validations_ok);
	out->validations_failed = atomic_load(&a->validations_failed);
	out->validations_refused = atomic_load(&a->validations_refused);
}

int acme_audit(struct pki_acme *a, const char *tenant, const char *account_id,
	       const char *ip, const char *request_id, const char *action,
	       const char *target, bool ok, const char *details)
{
	if (!a->audit)
		return 0;
	char id[PKI_ACME_ID_LEN + 16];
	bw_snprintf(id, sizeof(id), "acme:%s", account_id && *account_id ? account_id : "-");
	struct audit_record r = {
		.actor = { .tenant = bw_str_make(tenant, strlen(tenant)),
			   .kind = AUDIT_ACTOR_KEY,
			   .id = bw_str_make(id, strlen(id)),
			   .ip = ip ? bw_str_make(ip, strlen(ip)) : bw_str_make(NULL, 0) },
		.action = bw_str_make(action, strlen(action)),
		.target = target ? bw_str_make(target, strlen(target)) : bw_str_make(NULL, 0),
		.outcome = ok ? AUDIT_OUTCOME_SUCCESS : AUDIT_OUTCOME_FAILURE,
		.request_id = request_id ? bw_str_make(request_id, strlen(request_id)) :
					   bw_str_make(NULL, 0),
		.details = details ? bw_str_make(details, strlen(details)) :
				     bw_str_make(NULL, 0),
	};
	struct bw_err e;
	if (audit_append(a->audit, &r, NULL, &e) < 0) {
		log_warnx("pki acme: audit refused %s: %s", action, e.msg);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- handler */

void acme_resp_init(struct acme_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->ctype = "application/json";
	bw_buf_init(&rs->body, (size_t)1 << 20);
}

void acme_resp_fini(struct acme_resp *rs)
{
	bw_buf_fini(&rs->body);
}

struct acme_job {
	struct pki_acme *a;
	struct net_exchange *x;
	struct acme_http_req rq;
	struct acme_resp rs;
};

static void job_send(struct acme_job *j)
{
	struct net_exchange *x = j->x;
	struct acme_resp *rs = &j->rs;
	net_add_header(x, "Cache-Control", "no-store");
	if (rs->nonce[0])
		net_add_header(x, "Replay-Nonce", rs->nonce);
	if (rs->location[0])
		net_add_header(x, "Location", rs->location);
	for (size_t i = 0; i < rs->nlinks; i++)
		net_add_header(x, "Link", rs->links[i]);
	if (rs->retry_after > 0) {
		char ra[16];
		bw_snprintf(ra, sizeof(ra), "%d", rs->retry_after);
		net_add_header(x, "Retry-After", ra);
	}
	if (rs->status >= 400)
		net_set_outcome_reason(x, "acme_problem");
	net_respond(x, rs->status, rs->body.len ? rs->ctype : NULL, rs->body.data,
		    rs->body.len);
	acme_resp_fini(rs);
	free(j);
}

static void job_work(void *arg)
{
	struct acme_job *j = arg;
	acme_serve(j->a, &j->rq, &j->rs);
}

static void job_done(void *arg)
{
	job_send(arg);
}

void pki_acme_handle(struct net_exchange *x, void *arg)
{
	struct pki_acme *a = arg;
	const struct http_request *r = net_request(x);
	struct acme_job *j = calloc(1, sizeof(*j));
	if (!j) {
		net_respond(x, 503, "text/plain", "overloaded\n", 11);
		return;
	}
	j->a = a;
	j->x = x;
	j->rq.method = r->method;
	j->rq.path = r->path;
	j->rq.has_query = r->has_query;
	const struct http_header *ct = http_header_find(r->headers, r->nheaders,
							"content-type");
	j->rq.content_type = ct ? ct->value : bw_str_make("", 0);
	j->rq.body = net_request_body(x);
	j->rq.host = r->host;
	j->rq.tls = net_is_tls(x);
	j->rq.peer_ip = net_peer_ip(x);
	j->rq.request_id = net_request_id(x);
	acme_resp_init(&j->rs);
	/* GETs (directory, nonces) are answered from memory here; signed
	 * requests verify signatures and touch the store: the pool. */
	if (r->method != HTTP_METHOD_POST || !a->pool) {
		acme_serve(a, &j->rq, &j->rs);
		job_send(j);
		return;
	}
	if (tpool_submit(a->pool, job_work, job_done, j, net_loop(x)) < 0) {
		acme_resp_fini(&j->rs);
		free(j);
		net_set_outcome_reason(x, "acme_pool_full");
		net_add_header(x, "Retry-After", "1");
		static const char busy[] =
			"{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
			"\"detail\":\"overloaded\",\"status\":503}";
		net_respond(x, 503, "application/problem+json", busy, sizeof(busy) - 1);
	}
}
