/*
 * pki_api.c — the CA's admin REST routes under /api/v1/pki: CAs (create,
 * list, show, CSR of a pending CA, import its certificate, retire, chain,
 * CRL regeneration, signing a subordinate CA), the tenant's policy,
 * issuance (from a CSR or with a generated key), the inventory (search,
 * show with PEM/DER downloads) and revocation.
 *
 * Every route parses its input on the loop thread, runs the blocking CA
 * work on the thread pool, and ends the call from the completion on the
 * loop. State changes end with api_reply_audited (or api_fail, which the
 * api layer audits) so nothing is acknowledged unaudited. Audit details
 * carry ids, serials, profiles and reasons — never keys or CSR bytes.
 *
 * There is one struct pki per process: the routes are static tables, so
 * pki_api_register keeps the pointer in a file-scope variable.
 */
#include "pki/pki_int.h"

#include <string.h>

#include "api/api.h"
#include "crypto/crypto.h"
#include "loop/loop.h"

static struct pki *g_pki;

struct job {
	struct api_call *call;
	const char *tenant;
	const char *ca_id, *serial;
	const struct json_value *body;
	void (*work)(struct job *j);
	bool mutating;
	int status;        /* reply status on success */
	int rc;
	struct bw_err err;
	/* what work wrote for the reply */
	struct bw_buf details;
};

static int status_of(const struct bw_err *e)
{
	switch (e->code) {
	case 400: case 403: case 404: case 409: case 413: case 415: case 503:
		return e->code;
	default:
		return 500;
	}
}

static void job_done(void *arg)
{
	struct job *j = arg;
	struct api_call *call = j->call;
	if (j->details.len)
		api_set_details(call, j->details.data);
	if (j->rc < 0) {
		int st = status_of(&j->err);
		api_fail(call, st, j->err.reason[0] ? j->err.reason : "error",
			 st == 500 ? "internal error" : j->err.msg);
		if (st == 500)
			log_warnx("pki api: %s", j->err.msg);
	} else if (j->mutating) {
		api_reply_audited(call, j->status, AUDIT_OUTCOME_SUCCESS);
	} else {
		api_reply(call, j->status);
	}
	bw_buf_fini(&j->details);
	free(j);
}

static void job_work(void *arg)
{
	struct job *j = arg;
	j->work(j);
}

static void run(struct api_call *call, void (*work)(struct job *), bool mutating,
		int status)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !g_pki) {
		free(j);
		api_fail(call, 503, "unavailable", "the CA is not available");
		return;
	}
	j->call = call;
	j->tenant = api_tenant(call) ? api_tenant(call) : "platform";
	j->ca_id = api_param(call, "ca");
	j->serial = api_param(call, "serial");
	j->work = work;
	j->mutating = mutating;
	j->status = status;
	bw_buf_init(&j->details, 1024);
	if (j->ca_id)
		api_set_target(call, j->ca_id);
	if (j->serial)
		api_set_target(call, j->serial);
	struct api_ctx *ctx = api_context(call);
	if (!ctx || !ctx->pool) {
		job_work(j);
		job_done(j);
		return;
	}
	if (tpool_submit(ctx->pool, job_work, job_done, j, api_loop(call)) < 0) {
		bw_buf_fini(&j->details);
		free(j);
		api_fail(call, 503, "overloaded", "the thread pool is full");
	}
}

/* Reads the JSON body on the loop thread (the api layer parses it). */
static void run_with_body(struct api_call *call, void (*work)(struct job *),
			  bool mutating, int status)
{
	struct bw_err err;
	const struct json_value *v = api_body_json(call, &err);
	if (!v || v->type != JSON_OBJECT) {
		api_fail(call, 400, "bad_request", v ? "body must be a JSON object" : err.msg);
		return;
	}
	/* the body lives in the call's arena until the call ends; the work
	 * function reads it again there */
	run(call, work, mutating, status);
}

static const struct json_value *body_of(struct job *j)
{
	struct bw_err err;
	return api_body_json(j->call, &err);
}

static int fail(struct job *j, int code, const char *reason, const char *msg)
{
	j->rc = bw_err_set(&j->err, code, PKI_MOD, reason, "%s", msg);
	return -1;
}

static void details(struct job *j, const char *k1, const char *v1, const char *k2,
		    const char *v2)
{
	struct json_writer w;
	bw_buf_reset(&j->details);
	json_writer_init(&w, &j->details);
	json_write_object_begin(&w);
	if (k1 && v1)
		json_write_kv_string(&w, k1, v1);
	if (k2 && v2)
		json_write_kv_string(&w, k2, v2);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		bw_buf_reset(&j->details);
}

/* ------------------------------------------------------------ writers */

static const char *state_name(enum pki_ca_state s)
{
	return s == PKI_CA_ACTIVE ? "active" : s == PKI_CA_PENDING ? "pending" : "retired";
}

static void write_ca(struct json_writer *w, const struct pki_ca_info *ca)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "id", ca->id);
	json_write_kv_string(w, "name", ca->name);
	json_write_kv_string(w, "subject", ca->subject);
	json_write_kv_string(w, "state", state_name(ca->state));
	json_write_kv_bool(w, "root", ca->root);
	if (ca->parent_id[0])
		json_write_kv_string(w, "parent_id", ca->parent_id);
	json_write_kv_string(w, "key_type", pki_key_type_name(ca->key_type));
	json_write_kv_string(w, "key_id", ca->key_id);
	if (ca->path_len >= 0)
		json_write_kv_int(w, "path_len", ca->path_len);
	json_write_kv_int(w, "not_before", ca->not_before);
	json_write_kv_int(w, "not_after", ca->not_after);
	json_write_kv_int(w, "crl_number", ca->crl_number);
	json_write_object_end(w);
}

static void write_cert(struct json_writer *w, const struct pki_cert_info *c)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "serial", c->serial);
	json_write_kv_string(w, "ca_id", c->ca_id);
	json_write_kv_string(w, "subject", c->subject);
	json_write_kv_string(w, "sans", c->sans);
	json_write_kv_string(w, "profile", c->profile);
	json_write_kv_string(w, "status", c->status == PKI_CERT_REVOKED ? "revoked" : "good");
	json_write_kv_int(w, "not_before", c->not_before);
	json_write_kv_int(w, "not_after", c->not_after);
	if (c->status == PKI_CERT_REVOKED) {
		json_write_kv_int(w, "revoked_at", c->revoked_at);
		const char *r = pki_reason_name(c->revocation_reason);
		json_write_kv_string(w, "reason", r ? r : "unspecified");
	}
	json_write_object_end(w);
}

static int finish(struct job *j, struct json_writer *w)
{
	if (json_writer_finish(w) < 0)
		return fail(j, 500, "too_large", "response too large");
	return 0;
}

/* ------------------------------------------------------------ CAs */

static void ca_list_cb(void *arg, const struct pki_ca_info *ca)
{
	write_ca(arg, ca);
}

static void w_ca_list(struct job *j)
{
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	json_write_object_begin(&w);
	json_write_key(&w, "cas");
	json_write_array_begin(&w);
	j->rc = pki_ca_list(g_pki, j->tenant, ca_list_cb, &w, &j->err);
	json_write_array_end(&w);
	json_write_object_end(&w);
	if (j->rc == 0)
		j->rc = finish(j, &w);
}

static int str_list(struct job *j, const struct json_value *body, const char *key,
		    const char **out, size_t cap, size_t *n)
{
	*n = 0;
	const struct json_value *v = json_get(body, key);
	if (!v)
		return 0;
	if (v->type != JSON_ARRAY || v->u.arr.n > cap)
		return fail(j, 400, "bad_request", "a list of strings is expected");
	for (size_t i = 0; i < v->u.arr.n; i++) {
		const struct json_value *e = v->u.arr.items[i];
		if (e->type != JSON_STRING || memchr(e->u.str.p, '\0', e->u.str.len))
			return fail(j, 400, "bad_request", "a list of strings is expected");
		out[(*n)++] = e->u.str.p;
	}
	return 0;
}

static void w_ca_create(struct job *j)
{
	const struct json_value *b = body_of(j);
	struct pki_ca_spec s = { .tenant = j->tenant, .path_len = -1 };
	s.name = json_get_str(b, "name", NULL);
	s.subject = json_get_str(b, "subject", NULL);
	s.key_type = pki_key_type_from_name(json_get_str(b, "key_type", "ec-p256"));
	s.parent_id = json_get_str(b, "parent_id", NULL);
	s.external = json_get_bool(b, "external", false);
	s.path_len = (int)json_get_int(b, "path_len", -1);
	s.validity_s = json_get_int(b, "validity_s", 0);
	const char *pd[PKI_NC_MAX], *ed[PKI_NC_MAX], *pi[PKI_NC_MAX], *ei[PKI_NC_MAX],
		*pu[PKI_NC_MAX], *eu[PKI_NC_MAX];
	const struct json_value *nc = json_get(b, "name_constraints");
	if (nc && (str_list(j, nc, "permitted_dns", pd, PKI_NC_MAX, &s.nc.n_permitted_dns) < 0 ||
		   str_list(j, nc, "excluded_dns", ed, PKI_NC_MAX, &s.nc.n_excluded_dns) < 0 ||
		   str_list(j, nc, "permitted_ip", pi, PKI_NC_MAX, &s.nc.n_permitted_ip) < 0 ||
		   str_list(j, nc, "excluded_ip", ei, PKI_NC_MAX, &s.nc.n_excluded_ip) < 0 ||
		   str_list(j, nc, "permitted_uri", pu, PKI_NC_MAX, &s.nc.n_permitted_uri) < 0 ||
		   str_list(j, nc, "excluded_uri", eu, PKI_NC_MAX, &s.nc.n_excluded_uri) < 0))
		return;
	s.nc.permitted_dns = pd, s.nc.excluded_dns = ed, s.nc.permitted_ip = pi;
	s.nc.excluded_ip = ei, s.nc.permitted_uri = pu, s.nc.excluded_uri = eu;
	struct pki_ca_info info;
	details(j, "name", s.name, "parent_id", s.parent_id);
	j->rc = pki_ca_create(g_pki, &s, &info, &j->err);
	if (j->rc < 0)
		return;
	details(j, "ca_id", info.id, "name", info.name);
	api_set_target(j->call, info.id);
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	write_ca(&w, &info);
	j->rc = finish(j, &w);
}

static void w_ca_get(struct job *j)
{
	struct pki_ca_info info;
	j->rc = pki_ca_get(g_pki, j->tenant, j->ca_id, &info, &j->err);
	if (j->rc < 0)
		return;
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	write_ca(&w, &info);
	j->rc = finish(j, &w);
}

static void reply_pem(struct job *j, const char *key, struct bw_buf *pem)
{
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	json_write_object_begin(&w);
	json_write_key(&w, key);
	json_write_stringn(&w, pem->data ? pem->data : "", pem->len);
	json_write_object_end(&w);
	j->rc = finish(j, &w);
}

static void w_ca_csr(struct job *j)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	j->rc = pki_ca_csr_pem(g_pki, j->tenant, j->ca_id, &b, &j->err);
	if (j->rc == 0)
		reply_pem(j, "csr", &b);
	bw_buf_fini(&b);
}

static void w_ca_chain(struct job *j)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	j->rc = pki_ca_cert(g_pki, j->tenant, j->ca_id, PKI_PEM, true, &b, &j->err);
	if (j->rc == 0)
		reply_pem(j, "chain", &b);
	bw_buf_fini(&b);
}

static void w_ca_import(struct job *j)
{
	const struct json_value *b = body_of(j);
	const struct json_value *c = json_get(b, "certificate"), *ch = json_get(b, "chain");
	if (!c || c->type != JSON_STRING || (ch && ch->type != JSON_STRING)) {
		fail(j, 400, "bad_request", "\"certificate\" (PEM) is required");
		return;
	}
	details(j, "ca_id", j->ca_id, NULL, NULL);
	j->rc = pki_ca_import_cert(g_pki, j->tenant, j->ca_id, c->u.str.p, c->u.str.len,
				   ch ? ch->u.str.p : NULL, ch ? ch->u.str.len : 0, &j->err);
	if (j->rc == 0)
		w_ca_get(j);
}

static void w_ca_retire(struct job *j)
{
	details(j, "ca_id", j->ca_id, NULL, NULL);
	j->rc = pki_ca_retire(g_pki, j->tenant, j->ca_id, &j->err);
	if (j->rc == 0)
		w_ca_get(j);
}

static void w_crl(struct job *j)
{
	details(j, "ca_id", j->ca_id, NULL, NULL);
	struct pki_ca_info info;
	j->rc = pki_ca_get(g_pki, j->tenant, j->ca_id, &info, &j->err);
	if (j->rc == 0)
		j->rc = pki_crl_generate(g_pki, j->ca_id, &j->err);
	if (j->rc == 0)
		w_ca_get(j);
}

/* ------------------------------------------------------------ issuance */

static void write_issued(struct job *j, const struct pki_issued *out)
{
	struct bw_buf pem, chain;
	bw_buf_init(&pem, 1 << 16);
	bw_buf_init(&chain, 1 << 20);
	if (pki_append_pem(&pem, "CERTIFICATE", out->der, out->der_len) < 0 ||
	    pki_cert_export(g_pki, j->tenant, out->serial, PKI_PEM, true, &chain,
			    &j->err) < 0) {
		j->rc = fail(j, 500, "encode", "certificate output");
		goto out;
	}
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	json_write_object_begin(&w);
	json_write_kv_string(&w, "serial", out->serial);
	json_write_kv_int(&w, "not_before", out->not_before);
	json_write_kv_int(&w, "not_after", out->not_after);
	json_write_key(&w, "certificate");
	json_write_stringn(&w, pem.data, pem.len);
	json_write_key(&w, "chain");
	json_write_stringn(&w, chain.data, chain.len);
	if (out->key_pem) {
		json_write_key(&w, "private_key");
		json_write_stringn(&w, out->key_pem, out->key_pem_len);
	}
	json_write_object_end(&w);
	j->rc = finish(j, &w);
out:
	bw_buf_fini(&pem);
	bw_buf_fini(&chain);
}

static void issue(struct job *j, bool subordinate)
{
	const struct json_value *b = body_of(j);
	const char *dns[PKI_SANS_MAX], *ips[PKI_SANS_MAX], *uris[PKI_SANS_MAX];
	struct pki_issue_req r = { .tenant = j->tenant, .ca_id = j->ca_id, .path_len = -1 };
	r.profile = subordinate ? PKI_PROFILE_SUB_CA :
				  pki_profile_from_name(json_get_str(b, "profile", ""));
	if (r.profile == PKI_PROFILE_NONE || r.profile == PKI_PROFILE_OCSP ||
	    (!subordinate && r.profile == PKI_PROFILE_SUB_CA)) {
		fail(j, 400, "profile", "\"profile\" must be tls-server, tls-client, "
					"code-signing or service");
		return;
	}
	const struct json_value *csr = json_get(b, "csr");
	if (csr && csr->type == JSON_STRING) {
		r.csr = csr->u.str.p;
		r.csr_len = csr->u.str.len;
	} else if (subordinate) {
		fail(j, 400, "bad_request", "\"csr\" is required");
		return;
	} else {
		r.gen_key = pki_key_type_from_name(json_get_str(b, "key_type", "ec-p256"));
		if (r.gen_key == PKI_KEY_NONE) {
			fail(j, 400, "key_type", "unknown \"key_type\"");
			return;
		}
	}
	r.common_name = json_get_str(b, "common_name", NULL);
	r.validity_s = json_get_int(b, "validity_s", 0);
	r.path_len = (int)json_get_int(b, "path_len", -1);
	r.skip_policy = subordinate;
	if (str_list(j, b, "dns", dns, PKI_SANS_MAX, &r.ndns) < 0 ||
	    str_list(j, b, "ips", ips, PKI_SANS_MAX, &r.nips) < 0 ||
	    str_list(j, b, "uris", uris, PKI_SANS_MAX, &r.nuris) < 0)
		return;
	r.dns = dns, r.ips = ips, r.uris = uris;
	struct pki_issued out;
	details(j, "ca_id", j->ca_id, "profile", pki_profile_name(r.profile));
	j->rc = pki_issue(g_pki, &r, &out, &j->err);
	if (j->rc < 0)
		return;
	details(j, "serial", out.serial, "profile", pki_profile_name(r.profile));
	write_issued(j, &out);
	pki_issued_fini(&out);
}

static void w_issue(struct job *j)
{
	issue(j, false);
}

static void w_sign_sub(struct job *j)
{
	issue(j, true);
}

/* ------------------------------------------------------------ policy */

static void w_policy_get(struct job *j)
{
	struct bw_buf b;
	bw_buf_init(&b, PKI_POLICY_JSON_MAX);
	j->rc = pki_policy_get(g_pki, j->tenant, &b, &j->err);
	if (j->rc == 0 && bw_buf_append(api_out(j->call), b.data, b.len) < 0)
		fail(j, 500, "too_large", "policy too large");
	bw_buf_fini(&b);
}

static void w_policy_set(struct job *j)
{
	struct bw_buf b;
	bw_buf_init(&b, PKI_POLICY_JSON_MAX);
	const struct json_value *body = body_of(j);
	struct bw_err err;
	/* store the canonical form so what is shown is what was checked */
	if (json_canonicalize(body, &b) < 0) {
		fail(j, 413, "too_large", "policy too large");
	} else {
		details(j, "tenant", j->tenant, NULL, NULL);
		j->rc = pki_policy_set(g_pki, j->tenant, b.data, b.len, &err);
		if (j->rc < 0)
			j->err = err;
		else if (bw_buf_append(api_out(j->call), b.data, b.len) < 0)
			fail(j, 500, "too_large", "policy too large");
	}
	bw_buf_fini(&b);
}

/* ------------------------------------------------------------ inventory */

/* The value of query parameter key, percent-decoded into the arena, or
 * NULL. */
static const char *query(struct api_call *call, const char *key)
{
	const struct http_request *r = net_request(api_exchange(call));
	struct bw_str q = r->query;
	size_t kl = strlen(key), i = 0;
	while (i < q.len) {
		size_t e = i;
		while (e < q.len && q.p[e] != '&')
			e++;
		if (e - i > kl && memcmp(q.p + i, key, kl) == 0 && q.p[i + kl] == '=') {
			size_t vs = i + kl + 1, vl = e - vs;
			char *v = bw_arena_alloc(api_arena(call), vl + 1);
			if (!v)
				return NULL;
			size_t o = 0;
			for (size_t k = vs; k < e; k++) {
				char c = q.p[k];
				if (c == '+') {
					c = ' ';
				} else if (c == '%' && k + 2 < e) {
					char hx[3] = { q.p[k + 1], q.p[k + 2], 0 };
					uint8_t byte;
					size_t bl;
					if (bw_hex_decode(hx, 2, &byte, 1, &bl) == 0 && byte) {
						c = (char)byte;
						k += 2;
					}
				}
				v[o++] = c;
			}
			v[o] = '\0';
			return v;
		}
		i = e + 1;
	}
	return NULL;
}

static void search_cb(void *arg, const struct pki_cert_info *c)
{
	write_cert(arg, c);
}

static void w_search(struct job *j)
{
	struct api_call *call = j->call;
	struct pki_search q = { .tenant = j->tenant, .status = -1 };
	const char *s;
	uint64_t u;
	q.text = query(call, "q");
	q.ca_id = query(call, "ca");
	q.profile = query(call, "profile");
	if ((s = query(call, "status")) != NULL)
		q.status = strcmp(s, "revoked") == 0 ? PKI_CERT_REVOKED :
			   strcmp(s, "good") == 0 ? PKI_CERT_GOOD : -2;
	if (q.status == -2) {
		fail(j, 400, "bad_request", "status must be good or revoked");
		return;
	}
	if ((s = query(call, "expiring_before")) &&
	    bw_str_to_u64(bw_str_make(s, strlen(s)), &u) == 0)
		q.expiring_before = (int64_t)u;
	if ((s = query(call, "limit")) && bw_str_to_u64(bw_str_make(s, strlen(s)), &u) == 0)
		q.limit = (size_t)u;
	if ((s = query(call, "offset")) && bw_str_to_u64(bw_str_make(s, strlen(s)), &u) == 0)
		q.offset = (size_t)u;
	struct json_writer w;
	json_writer_init(&w, api_out(call));
	json_write_object_begin(&w);
	json_write_key(&w, "certificates");
	json_write_array_begin(&w);
	int n = pki_cert_search(g_pki, &q, search_cb, &w, &j->err);
	json_write_array_end(&w);
	json_write_kv_int(&w, "count", n < 0 ? 0 : n);
	json_write_object_end(&w);
	j->rc = n < 0 ? -1 : finish(j, &w);
}

static void w_cert_get(struct job *j)
{
	struct pki_cert_info ci;
	struct bw_buf der, pem, chain;
	bw_buf_init(&der, PKI_CSR_MAX_HARD);
	bw_buf_init(&pem, 1 << 16);
	bw_buf_init(&chain, 1 << 20);
	j->rc = pki_cert_get(g_pki, j->tenant, j->serial, &ci, &der, &j->err);
	if (j->rc == 0 &&
	    (pki_append_pem(&pem, "CERTIFICATE", (uint8_t *)der.data, der.len) < 0 ||
	     pki_cert_export(g_pki, j->tenant, j->serial, PKI_PEM, true, &chain, &j->err) < 0))
		j->rc = fail(j, 500, "encode", "certificate output");
	if (j->rc == 0) {
		struct bw_buf b64;
		bw_buf_init(&b64, 1 << 17);
		struct json_writer w;
		json_writer_init(&w, api_out(j->call));
		json_write_object_begin(&w);
		json_write_key(&w, "certificate");
		write_cert(&w, &ci);
		json_write_key(&w, "pem");
		json_write_stringn(&w, pem.data, pem.len);
		json_write_key(&w, "chain_pem");
		json_write_stringn(&w, chain.data, chain.len);
		if (crypto_b64url_encode(der.data, der.len, &b64) == 0) {
			json_write_key(&w, "der_b64url");
			json_write_stringn(&w, b64.data, b64.len);
		}
		json_write_object_end(&w);
		j->rc = finish(j, &w);
		bw_buf_fini(&b64);
	}
	bw_buf_fini(&der);
	bw_buf_fini(&pem);
	bw_buf_fini(&chain);
}

static void w_revoke(struct job *j)
{
	const struct json_value *b = body_of(j);
	const char *rs = json_get_str(b, "reason", "unspecified");
	int reason = pki_reason_from_name(rs);
	details(j, "serial", j->serial, "reason", rs);
	if (reason < 0) {
		fail(j, 400, "bad_reason", "unknown revocation reason");
		return;
	}
	j->rc = pki_revoke(g_pki, j->tenant, j->serial, reason, &j->err);
	if (j->rc == 0)
		w_cert_get(j);
}

/* ------------------------------------------------------------ routes */

static void r_ca_list(struct api_call *c) { run(c, w_ca_list, false, 200); }
static void r_ca_create(struct api_call *c) { run_with_body(c, w_ca_create, true, 201); }
static void r_ca_get(struct api_call *c) { run(c, w_ca_get, false, 200); }
static void r_ca_csr(struct api_call *c) { run(c, w_ca_csr, false, 200); }
static void r_ca_chain(struct api_call *c) { run(c, w_ca_chain, false, 200); }
static void r_ca_import(struct api_call *c) { run_with_body(c, w_ca_import, true, 200); }
static void r_ca_retire(struct api_call *c) { run(c, w_ca_retire, true, 200); }
static void r_crl(struct api_call *c) { run(c, w_crl, true, 200); }
static void r_issue(struct api_call *c) { run_with_body(c, w_issue, true, 201); }
static void r_sign_sub(struct api_call *c) { run_with_body(c, w_sign_sub, true, 201); }
static void r_policy_get(struct api_call *c) { run(c, w_policy_get, false, 200); }
static void r_policy_set(struct api_call *c) { run_with_body(c, w_policy_set, true, 200); }
static void r_search(struct api_call *c) { run(c, w_search, false, 200); }
static void r_cert_get(struct api_call *c) { run(c, w_cert_get, false, 200); }
static void r_revoke(struct api_call *c) { run_with_body(c, w_revoke, true, 200); }

static const struct api_route routes[] = {
	{ HTTP_METHOD_GET, "/api/v1/pki/cas", "pki.ca.read", NULL, false, r_ca_list },
	{ HTTP_METHOD_POST, "/api/v1/pki/cas", "pki.ca.manage", "pki.ca.create", true,
	  r_ca_create },
	{ HTTP_METHOD_GET, "/api/v1/pki/cas/{ca}", "pki.ca.read", NULL, false, r_ca_get },
	{ HTTP_METHOD_GET, "/api/v1/pki/cas/{ca}/csr", "pki.ca.read", NULL, false, r_ca_csr },
	{ HTTP_METHOD_GET, "/api/v1/pki/cas/{ca}/chain", "pki.ca.read", NULL, false,
	  r_ca_chain },
	{ HTTP_METHOD_POST, "/api/v1/pki/cas/{ca}/certificate", "pki.ca.manage",
	  "pki.ca.import", true, r_ca_import },
	{ HTTP_METHOD_POST, "/api/v1/pki/cas/{ca}/retire", "pki.ca.manage",
	  "pki.ca.retire", true, r_ca_retire },
	{ HTTP_METHOD_POST, "/api/v1/pki/cas/{ca}/crl", "pki.ca.manage",
	  "pki.crl.generate", true, r_crl },
	{ HTTP_METHOD_POST, "/api/v1/pki/cas/{ca}/issue", "pki.cert.issue",
	  "pki.cert.issue", true, r_issue },
	{ HTTP_METHOD_POST, "/api/v1/pki/cas/{ca}/sign-subordinate", "pki.ca.manage",
	  "pki.ca.sign_subordinate", true, r_sign_sub },
	{ HTTP_METHOD_GET, "/api/v1/pki/policy", "pki.policy.read", NULL, false,
	  r_policy_get },
	{ HTTP_METHOD_PUT, "/api/v1/pki/policy", "pki.policy.manage", "pki.policy.set",
	  true, r_policy_set },
	{ HTTP_METHOD_GET, "/api/v1/pki/certificates", "pki.cert.read", NULL, false,
	  r_search },
	{ HTTP_METHOD_GET, "/api/v1/pki/certificates/{serial}", "pki.cert.read", NULL,
	  false, r_cert_get },
	{ HTTP_METHOD_POST, "/api/v1/pki/certificates/{serial}/revoke", "pki.cert.revoke",
	  "pki.cert.revoke", true, r_revoke },
};

int pki_api_register(struct pki *p)
{
	g_pki = p;
	return api_register(routes, BW_ARRAY_LEN(routes));
}
