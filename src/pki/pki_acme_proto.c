/*
 * pki_acme_proto.c — the ACME protocol core (RFC 8555 sections 6 and 7):
 * routing of /acme/{tenant}/..., the checks every signed request passes
 * (section 6.2 to 6.5), and the resources: directory, newNonce,
 * newAccount (with external account binding), account update and
 * deactivation, the account's orders, newOrder, orders, finalize,
 * authorizations (and their deactivation), challenges, certificate
 * download, revokeCert and keyChange.
 *
 * Order of checks for a POST, each failure a problem document:
 *   Content-Type application/jose+json (415) → body size (413) → JWS shape
 *   and algorithm → "url" equals the request URL (unauthorized) → key:
 *   "jwk" only for newAccount and revokeCert, "kid" (one of this tenant's
 *   account URLs) everywhere else → signature → nonce (consumed only by a
 *   request whose signature verified, so nobody can burn another
 *   client's nonce) → account status → the resource's own rules.
 *
 * Invariants: a resource of another account is unauthorized and one of
 * another tenant does not exist; state transitions go through the
 * conditional updates of pki_acme_store.c; every state change is audited
 * before it is answered; the payload is read only after the signature
 * verified.
 */
#include "pki/pki_acme_int.h"

#include <arpa/inet.h>
#include <string.h>

#include <openssl/err.h>

#include "event/event.h"
#include "store/store.h"

struct ctx {
	struct pki_acme *a;
	const struct acme_http_req *rq;
	struct acme_resp *rs;
	struct bw_arena *arena;
	char tenant[PKI_TENANT_MAX + 1];
	struct pki_acme_tenant cfg;
	/* base URL + "/acme/" + tenant */
	char prefix[PKI_ACME_BASE_URL_MAX + 16 + PKI_TENANT_MAX];
	char origin[PKI_ACME_BASE_URL_MAX + 1]; /* base URL */
	struct acme_jws jws;
	const struct json_value *payload; /* NULL for POST-as-GET */
	struct acme_account acct;
	bool have_acct;
	int64_t now;
	char details[512]; /* audit details */
};

/* ------------------------------------------------------------- output */

static const char *const known_types[] = {
	"accountDoesNotExist", "alreadyRevoked", "badCSR", "badNonce",
	"badPublicKey", "badRevocationReason", "badSignatureAlgorithm", "caa",
	"compound", "connection", "dns", "externalAccountRequired",
	"incorrectResponse", "invalidContact", "malformed", "orderNotReady",
	"rateLimited", "rejectedIdentifier", "serverInternal", "tls",
	"unauthorized", "unsupportedContact", "unsupportedIdentifier",
	"userActionRequired",
};

static bool type_known(const char *t)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(known_types); i++)
		if (strcmp(known_types[i], t) == 0)
			return true;
	return false;
}

static void problem_write(struct json_writer *w, const char *type,
			  const char *detail, int status)
{
	char urn[96];
	bw_snprintf(urn, sizeof(urn), "urn:ietf:params:acme:error:%s", type);
	json_write_object_begin(w);
	json_write_kv_string(w, "type", urn);
	json_write_kv_string(w, "detail", detail);
	if (status)
		json_write_kv_int(w, "status", status);
	if (strcmp(type, "badSignatureAlgorithm") == 0) {
		json_write_key(w, "algorithms");
		json_write_array_begin(w);
		json_write_string(w, "RS256");
		json_write_string(w, "ES256");
		json_write_string(w, "ES384");
		json_write_string(w, "EdDSA");
		json_write_array_end(w);
	}
	json_write_object_end(w);
}

static void problem(struct ctx *c, const struct bw_err *e)
{
	int status = e->code >= 400 && e->code <= 599 ? e->code : 500;
	const char *type = e->reason;
	const char *detail = e->msg;
	if (!type_known(type) || status == 500) {
		if (strcmp(type, "serverInternal") != 0)
			log_warnx("pki acme: %s: %s", e->reason, e->msg);
		type = "serverInternal";
		detail = "internal error";
		status = 500;
	}
	struct acme_resp *rs = c->rs;
	bw_buf_reset(&rs->body);
	rs->status = status;
	rs->ctype = "application/problem+json";
	if (strcmp(type, "rateLimited") == 0 || status == 503)
		rs->retry_after = 5;
	struct json_writer w;
	json_writer_init(&w, &rs->body);
	problem_write(&w, type, detail, status);
	if (json_writer_finish(&w) < 0)
		log_warnx("pki acme: problem document truncated");
	atomic_fetch_add(&c->a->refused, 1);
}

static int fail_json(struct bw_err *err)
{
	return acme_fail(err, 500, "serverInternal", "response too large");
}

static void link(struct ctx *c, const char *url, const char *rel)
{
	struct acme_resp *rs = c->rs;
	if (rs->nlinks < ACME_LINKS_MAX &&
	    bw_snprintf(rs->links[rs->nlinks], sizeof(rs->links[0]), "<%s>;rel=\"%s\"",
			url, rel) > 0)
		rs->nlinks++;
}

/* A URL under the tenant's prefix (arena memory; "" when out of memory). */
static const char *url(struct ctx *c, const char *fmt, ...) BW_PRINTF(2, 3);
static const char *url(struct ctx *c, const char *fmt, ...)
{
	char tail[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return "";
	char *s = bw_arena_printf(c->arena, "%s%s", c->prefix, tail);
	return s ? s : "";
}

static void time_write(struct json_writer *w, const char *key, int64_t s)
{
	char t[32];
	bw_time_format(s * 1000000000LL, t);
	/* RFC 3339 with whole seconds reads best for clients */
	char *dot = strchr(t, '.');
	if (dot) {
		dot[0] = 'Z';
		dot[1] = '\0';
	}
	json_write_kv_string(w, key, t);
}

static void emit(struct ctx *c, const char *action, bool ok, const char *msg,
		 const char *k1, const char *v1, const char *k2, const char *v2)
{
	struct bw_event ev;
	bw_event_init(&ev, "configuration", action,
		      ok ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE);
	BW_EVENT_SET(&ev, tenant, c->tenant);
	BW_EVENT_SET(&ev, message, msg);
	if (c->have_acct)
		BW_EVENT_SET(&ev, user, c->acct.id);
	if (c->rq->peer_ip)
		BW_EVENT_SET(&ev, source_ip, c->rq->peer_ip);
	if (c->rq->request_id)
		BW_EVENT_SET(&ev, request_id, c->rq->request_id);
	if (k1 && v1)
		bw_event_add_field(&ev, k1, v1);
	if (k2 && v2)
		bw_event_add_field(&ev, k2, v2);
	(void)bw_event_emit(&ev);
}

/* Audit, then answer: -1 (with err) when the log refused. */
static int audit(struct ctx *c, const char *action, const char *target)
{
	if (acme_audit(c->a, c->tenant, c->have_acct ? c->acct.id : NULL, c->rq->peer_ip,
		       c->rq->request_id, action, target, true,
		       c->details[0] ? c->details : NULL) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------- resources */

static void account_write(struct ctx *c, const struct acme_account *ac,
			  struct json_writer *w)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "status", acme_status_name(ac->status));
	json_write_key(w, "contact");
	struct bw_err e;
	const struct json_value *v = json_parse(c->arena, ac->contact, strlen(ac->contact),
						&acme_json_limits, &e);
	if (v && v->type == JSON_ARRAY) {
		json_write_value(w, v);
	} else {
		json_write_array_begin(w);
		json_write_array_end(w);
	}
	if (ac->tos)
		json_write_kv_bool(w, "termsOfServiceAgreed", true);
	json_write_kv_string(w, "orders", url(c, "/acct/%s/orders", ac->id));
	json_write_object_end(w);
}

static int reply_account(struct ctx *c, const struct acme_account *ac, int status,
			 struct bw_err *err)
{
	struct json_writer w;
	json_writer_init(&w, &c->rs->body);
	account_write(c, ac, &w);
	if (json_writer_finish(&w) < 0)
		return fail_json(err);
	c->rs->status = status;
	bw_snprintf(c->rs->location, sizeof(c->rs->location), "%s",
		    url(c, "/acct/%s", ac->id));
	return 0;
}

/* "contact": mailto: URLs only (RFC 8555 section 7.3), bounded, without
 * hfields, into a JSON array text. */
static int contacts_parse(const struct json_value *v, char out[PKI_ACME_CONTACTS_JSON_MAX + 1],
			  struct bw_err *err)
{
	struct bw_buf b;
	bw_buf_init(&b, PKI_ACME_CONTACTS_JSON_MAX);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_array_begin(&w);
	if (v) {
		if (v->type != JSON_ARRAY) {
			bw_buf_fini(&b);
			return acme_fail(err, 400, "malformed", "contact must be an array");
		}
		if (v->u.arr.n > PKI_ACME_CONTACTS_MAX) {
			bw_buf_fini(&b);
			return acme_fail(err, 400, "invalidContact", "at most %d contacts",
					 PKI_ACME_CONTACTS_MAX);
		}
		for (size_t i = 0; i < v->u.arr.n; i++) {
			const struct json_value *s = v->u.arr.items[i];
			if (s->type != JSON_STRING) {
				bw_buf_fini(&b);
				return acme_fail(err, 400, "malformed", "contact entries are strings");
			}
			struct bw_str t = s->u.str;
			if (t.len < 7 || strncasecmp(t.p, "mailto:", 7) != 0) {
				bw_buf_fini(&b);
				return acme_fail(err, 400, "unsupportedContact",
						 "only mailto: contacts are supported");
			}
			size_t at = 0;
			bool ok = t.len <= PKI_ACME_CONTACT_MAX && t.len > 7;
			for (size_t k = 7; ok && k < t.len; k++) {
				unsigned char ch = (unsigned char)t.p[k];
				if (ch == '@')
					at++;
				ok = ch > 0x20 && ch < 0x7f && ch != '?' && ch != ',' &&
				     ch != '<' && ch != '>' && ch != '"';
			}
			if (!ok || at != 1 || t.p[7] == '@' || t.p[t.len - 1] == '@') {
				bw_buf_fini(&b);
				return acme_fail(err, 400, "invalidContact",
						 "contact %u is not a mailto: address",
						 (unsigned)i);
			}
			json_write_stringn(&w, t.p, t.len);
		}
	}
	json_write_array_end(&w);
	if (json_writer_finish(&w) < 0) {
		bw_buf_fini(&b);
		return acme_fail(err, 400, "invalidContact", "contacts too long");
	}
	memcpy(out, b.data, b.len + 1);
	bw_buf_fini(&b);
	return 0;
}

static int new_account(struct ctx *c, struct bw_err *err)
{
	struct pki_acme *a = c->a;
	const struct json_value *p = c->payload;
	if (!p)
		return acme_fail(err, 400, "malformed", "newAccount needs a payload");
	struct acme_account ac = { .status = ACME_ST_VALID };
	if (acme_jwk_thumbprint(c->jws.jwk, ac.thumb, err) < 0)
		return -1;
	struct acme_account old;
	int found = acme_db_account_by_thumb(a, c->tenant, ac.thumb, &old, err);
	if (found < 0)
		return -1;
	if (found) {
		int rc;
		if (old.status != ACME_ST_VALID)
			rc = acme_fail(err, 403, "unauthorized", "the account is %s",
				       acme_status_name(old.status));
		else
			rc = reply_account(c, &old, 200, err);
		acme_account_fini(&old);
		return rc;
	}
	const struct json_value *ore = json_get(p, "onlyReturnExisting");
	if (ore && ore->type == JSON_TRUE)
		return acme_fail(err, 400, "accountDoesNotExist", "no account for this key");
	if (contacts_parse(json_get(p, "contact"), ac.contact, err) < 0)
		return -1;
	const struct json_value *tos = json_get(p, "termsOfServiceAgreed");
	ac.tos = tos && tos->type == JSON_TRUE;
	if (a->tos[0] && !ac.tos)
		return acme_fail(err, 403, "userActionRequired",
				 "the terms of service must be agreed to");
	const struct json_value *eabv = json_get(p, "externalAccountBinding");
	if (!eabv && c->cfg.eab_required)
		return acme_fail(err, 400, "externalAccountRequired",
				 "this directory requires an external account binding");
	if (eabv) {
		struct acme_eab eab;
		uint8_t key[PKI_ACME_EAB_KEY_LEN];
		if (acme_eab_parse(c->arena, eabv, &eab, err) < 0)
			return -1;
		int k = acme_db_eab_key(a, c->tenant, eab.kid, key, err);
		if (k < 0)
			return -1;
		if (k == 0)
			return acme_fail(err, 403, "unauthorized",
					 "the external account binding key is unknown or used");
		int rc = acme_eab_verify(c->arena, &eab, key, sizeof(key), c->jws.jwk,
					 c->jws.url, err);
		bw_wipe(key, sizeof(key));
		if (rc < 0) {
			emit(c, "acme-eab-refused", false, "external account binding refused",
			     "kid", eab.kid, NULL, NULL);
			return -1;
		}
		memcpy(ac.eab_kid, eab.kid, sizeof(ac.eab_kid));
	}
	/* keep the key in our own canonical public form */
	struct bw_buf jb;
	bw_buf_init(&jb, JOSE_JWK_MAX);
	struct json_writer w;
	json_writer_init(&w, &jb);
	struct bw_err e;
	if (jose_jwk_write(c->jws.jwk, false, &w, &e) < 0 || json_writer_finish(&w) < 0) {
		bw_buf_fini(&jb);
		return acme_fail(err, 400, "badPublicKey", "the key cannot be stored");
	}
	acme_id_new(ac.id);
	bw_snprintf(ac.tenant, sizeof(ac.tenant), "%s", c->tenant);
	ac.jwk = jb.data;
	ac.created = c->now;
	int rc = acme_db_account_insert(a, &ac, err);
	bw_buf_fini(&jb);
	ac.jwk = NULL;
	if (rc < 0) {
		if (strcmp(err->reason, "conflict") != 0)
			return -1;
		/* a concurrent newAccount with the same key won */
		found = acme_db_account_by_thumb(a, c->tenant, ac.thumb, &old, err);
		if (found <= 0)
			return found < 0 ? -1 : acme_fail(err, 500, "serverInternal", "race");
		rc = reply_account(c, &old, 200, err);
		acme_account_fini(&old);
		return rc;
	}
	atomic_fetch_add(&a->accounts_created, 1);
	c->acct = ac;
	c->have_acct = true;
	bw_snprintf(c->details, sizeof(c->details),
		    "{\"account\":\"%s\",\"thumbprint\":\"%s\",\"eab_kid\":\"%s\"}", ac.id,
		    ac.thumb, ac.eab_kid);
	if (audit(c, "pki.acme.account.create", ac.id) < 0)
		return acme_fail(err, 500, "serverInternal", "audit log unavailable");
	emit(c, "acme-account-created", true, "ACME account created", "account", ac.id,
	     "eab_kid", ac.eab_kid[0] ? ac.eab_kid : NULL);
	return reply_account(c, &ac, 201, err);
}

static int account_res(struct ctx *c, const char *id, struct bw_err *err)
{
	if (strcmp(id, c->acct.id) != 0)
		return acme_fail(err, 403, "unauthorized", "not your account");
	if (!c->payload)
		return reply_account(c, &c->acct, 200, err);
	struct acme_account ac = c->acct;
	ac.jwk = NULL;
	const char *action = "pki.acme.account.update";
	const struct json_value *st = json_get(c->payload, "status");
	if (st) {
		if (st->type != JSON_STRING || !bw_str_eq_lit(st->u.str, "deactivated"))
			return acme_fail(err, 400, "malformed",
					 "status may only be set to deactivated");
		ac.status = ACME_ST_DEACTIVATED;
		action = "pki.acme.account.deactivate";
	}
	const struct json_value *ct = json_get(c->payload, "contact");
	if (ct && contacts_parse(ct, ac.contact, err) < 0)
		return -1;
	const struct json_value *tos = json_get(c->payload, "termsOfServiceAgreed");
	if (tos && tos->type == JSON_TRUE)
		ac.tos = true;
	if (!st && !ct && !tos)
		return reply_account(c, &c->acct, 200, err);
	if (acme_db_account_update(c->a, &ac, err) < 0)
		return -1;
	bw_snprintf(c->details, sizeof(c->details), "{\"status\":\"%s\"}",
		    acme_status_name(ac.status));
	if (audit(c, action, ac.id) < 0)
		return acme_fail(err, 500, "serverInternal", "audit log unavailable");
	emit(c, st ? "acme-account-deactivated" : "acme-account-updated", true,
	     "ACME account changed", "account", ac.id, NULL, NULL);
	return reply_account(c, &ac, 200, err);
}

struct olist {
	struct ctx *c;
	struct json_writer *w;
};

static void olist_one(void *arg, const char *order_id)
{
	struct olist *o = arg;
	json_write_string(o->w, url(o->c, "/order/%s", order_id));
}

static int account_orders(struct ctx *c, const char *id, struct bw_err *err)
{
	if (strcmp(id, c->acct.id) != 0)
		return acme_fail(err, 403, "unauthorized", "not your account");
	struct json_writer w;
	json_writer_init(&w, &c->rs->body);
	json_write_object_begin(&w);
	json_write_key(&w, "orders");
	json_write_array_begin(&w);
	struct olist o = { c, &w };
	if (acme_db_order_list(c->a, c->acct.id, olist_one, &o, err) < 0)
		return -1;
	json_write_array_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		return fail_json(err);
	c->rs->status = 200;
	return 0;
}

static void ident_write(struct json_writer *w, const struct acme_authz *z, bool star)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "type", z->ip ? "ip" : "dns");
	if (star && z->wildcard) {
		char v[PKI_DNS_NAME_MAX + 3];
		bw_snprintf(v, sizeof(v), "*.%s", z->value);
		json_write_kv_string(w, "value", v);
	} else {
		json_write_kv_string(w, "value", z->value);
	}
	json_write_object_end(w);
}

static void order_write(struct ctx *c, const struct acme_order *o,
			struct json_writer *w)
{
	enum acme_status st = acme_order_status(o, c->now);
	json_write_object_begin(w);
	json_write_kv_string(w, "status", acme_status_name(st));
	time_write(w, "expires", o->expires);
	json_write_key(w, "identifiers");
	json_write_array_begin(w);
	for (size_t i = 0; i < o->nauthz; i++)
		ident_write(w, &o->authz[i], true);
	json_write_array_end(w);
	json_write_key(w, "authorizations");
	json_write_array_begin(w);
	for (size_t i = 0; i < o->nauthz; i++)
		json_write_string(w, url(c, "/authz/%s", o->authz[i].id));
	json_write_array_end(w);
	json_write_kv_string(w, "finalize", url(c, "/order/%s/finalize", o->id));
	if (st == ACME_ST_VALID && o->cert_serial[0])
		json_write_kv_string(w, "certificate", url(c, "/cert/%s", o->cert_serial));
	if (st == ACME_ST_INVALID) {
		json_write_key(w, "error");
		problem_write(w, o->err_type[0] ? o->err_type : "malformed",
			      o->err_detail[0] ? o->err_detail : "the order expired", 0);
	}
	json_write_object_end(w);
}

static int reply_order(struct ctx *c, const struct acme_order *o, int status,
		       struct bw_err *err)
{
	struct json_writer w;
	bw_buf_reset(&c->rs->body);
	json_writer_init(&w, &c->rs->body);
	order_write(c, o, &w);
	if (json_writer_finish(&w) < 0)
		return fail_json(err);
	c->rs->status = status;
	bw_snprintf(c->rs->location, sizeof(c->rs->location), "%s",
		    url(c, "/order/%s", o->id));
	return 0;
}

/* The tenant's policy decides which identifiers may be ordered at all, so
 * nobody proves control of a name the CA would refuse anyway. */
static int policy_names(struct ctx *c, const struct pki_names *names,
			struct bw_err *err)
{
	struct pki_policy pol;
	struct bw_err e;
	int found = pki_policy_load(c->a->pki, c->tenant, &pol, &e);
	if (found < 0)
		return acme_fail(err, 500, "serverInternal", "policy: %s", e.msg);
	if (found == 0)
		return acme_fail(err, 400, "rejectedIdentifier",
				 "this tenant has no issuance policy");
	enum pki_key_type kt = PKI_KEY_EC_P256;
	for (int t = 1; t < PKI_KEY_TYPE_MAX_; t++)
		if (pol.key_types & PKI_KEY_BIT(t)) {
			kt = (enum pki_key_type)t;
			break;
		}
	int rc = pki_policy_check(&pol, PKI_PROFILE_TLS_SERVER, kt, NULL, names, 0, &e);
	pki_policy_fini(&pol);
	if (rc < 0)
		return acme_fail(err, 400, "rejectedIdentifier", "%s", e.msg);
	return 0;
}

static void chall_new(struct acme_authz *z, enum acme_chall_type t)
{
	struct acme_chall *ch = &z->ch[z->nch++];
	memset(ch, 0, sizeof(*ch));
	acme_id_new(ch->id);
	ch->type = t;
	uint8_t tok[32];
	bw_random(tok, sizeof(tok));
	crypto_b64url_encode_to(tok, sizeof(tok), ch->token);
	ch->status = ACME_ST_PENDING;
}

static int new_order(struct ctx *c, struct bw_err *err)
{
	struct pki_acme *a = c->a;
	const struct json_value *p = c->payload;
	if (!p)
		return acme_fail(err, 400, "malformed", "newOrder needs a payload");
	if (json_get(p, "notBefore") || json_get(p, "notAfter"))
		return acme_fail(err, 400, "malformed",
				 "notBefore and notAfter are not supported");
	const struct json_value *ids = json_get(p, "identifiers");
	if (!ids || ids->type != JSON_ARRAY || ids->u.arr.n == 0)
		return acme_fail(err, 400, "malformed", "identifiers must be a non-empty array");
	if (ids->u.arr.n > PKI_ACME_IDENTIFIERS_MAX)
		return acme_fail(err, 400, "rejectedIdentifier", "at most %d identifiers",
				 PKI_ACME_IDENTIFIERS_MAX);
	int64_t pending;
	if (acme_db_orders_pending(a, c->acct.id, c->now, &pending, err) < 0)
		return -1;
	if (pending >= PKI_ACME_PENDING_ORDERS_MAX)
		return acme_fail(err, 429, "rateLimited", "too many pending orders");

	struct pki_names *names = calloc(1, sizeof(*names));
	struct acme_order o = { .status = ACME_ST_PENDING };
	o.authz = calloc(ids->u.arr.n, sizeof(*o.authz));
	int rc = -1;
	if (!names || !o.authz) {
		acme_fail(err, 500, "serverInternal", "out of memory");
		goto out;
	}
	acme_id_new(o.id);
	bw_snprintf(o.tenant, sizeof(o.tenant), "%s", c->tenant);
	memcpy(o.account_id, c->acct.id, sizeof(o.account_id));
	o.created = c->now;
	o.expires = c->now + a->order_ttl_s;
	for (size_t i = 0; i < ids->u.arr.n; i++) {
		const struct json_value *id = ids->u.arr.items[i];
		const struct json_value *t = json_get(id, "type"), *v = json_get(id, "value");
		if (!t || t->type != JSON_STRING || !v || v->type != JSON_STRING) {
			acme_fail(err, 400, "malformed", "identifier %zu needs type and value", i);
			goto out;
		}
		bool ip = bw_str_eq_lit(t->u.str, "ip");
		if (!ip && !bw_str_eq_lit(t->u.str, "dns")) {
			acme_fail(err, 400, "unsupportedIdentifier",
				  "identifier types are dns and ip");
			goto out;
		}
		struct bw_err e;
		size_t before = names->n;
		if (pki_names_add(names, ip ? PKI_NAME_IP : PKI_NAME_DNS, v->u.str.p,
				  v->u.str.len, &e) < 0) {
			acme_fail(err, 400, "rejectedIdentifier", "identifier %zu: %s", i, e.msg);
			goto out;
		}
		if (names->n == before)
			continue; /* a duplicate (pki_names_add folds them) */
		const char *norm = names->v[before].text;
		struct acme_authz *z = &o.authz[o.nauthz];
		z->pos = (int)o.nauthz;
		o.nauthz++;
		acme_id_new(z->id);
		z->ip = ip;
		z->wildcard = !ip && strncmp(norm, "*.", 2) == 0;
		bw_snprintf(z->value, sizeof(z->value), "%s", z->wildcard ? norm + 2 : norm);
		z->status = ACME_ST_PENDING;
		z->expires = o.expires;
		/* RFC 8555 section 7.1.3: wildcards only by dns-01; RFC 8738:
		 * IP addresses not by dns-01 */
		if (!z->wildcard) {
			chall_new(z, ACME_CH_HTTP01);
			chall_new(z, ACME_CH_TLSALPN01);
		}
		if (!ip)
			chall_new(z, ACME_CH_DNS01);
	}
	if (policy_names(c, names, err) < 0)
		goto out;
	if (acme_db_order_insert(a, &o, err) < 0)
		goto out;
	atomic_fetch_add(&a->orders_created, 1);
	bw_snprintf(c->details, sizeof(c->details), "{\"order\":\"%s\",\"identifiers\":%zu,"
		    "\"first\":\"%.200s\"}", o.id, o.nauthz, names->v[0].text);
	if (audit(c, "pki.acme.order.create", o.id) < 0) {
		acme_fail(err, 500, "serverInternal", "audit log unavailable");
		goto out;
	}
	emit(c, "acme-order-created", true, "ACME order created", "order", o.id,
	     "identifier", names->v[0].text);
	rc = reply_order(c, &o, 201, err);
out:
	if (names)
		pki_names_fini(names);
	free(names);
	acme_order_fini(&o);
	return rc;
}

static int order_load(struct ctx *c, const char *id, struct acme_order *o,
		      struct bw_err *err)
{
	int f = acme_db_order_get(c->a, c->tenant, id, o, err);
	if (f < 0)
		return -1;
	if (f == 0)
		return acme_fail(err, 404, "malformed", "no such order");
	if (strcmp(o->account_id, c->acct.id) != 0) {
		acme_order_fini(o);
		return acme_fail(err, 403, "unauthorized", "not your order");
	}
	return 0;
}

static int order_res(struct ctx *c, const char *id, struct bw_err *err)
{
	struct acme_order o;
	if (order_load(c, id, &o, err) < 0)
		return -1;
	int rc = reply_order(c, &o, 200, err);
	acme_order_fini(&o);
	return rc;
}

static const char *issue_type(const struct bw_err *e)
{
	if (e->code == 403)
		return "rejectedIdentifier";
	if (!strncmp(e->reason, "key", 3) || !strcmp(e->reason, "rsa_exponent") ||
	    !strcmp(e->reason, "ec_explicit"))
		return "badPublicKey";
	if (e->code == 400 || e->code == 413)
		return "badCSR";
	return "serverInternal";
}

/* The CSR asks for exactly the order's identifiers (RFC 8555 section 7.4);
 * a CN, when present, is one of them. */
static int csr_matches(const struct pki_csr *csr, const struct acme_order *o,
		       struct bw_err *err)
{
	size_t dns = 0;
	for (size_t i = 0; i < csr->names.n; i++) {
		const struct pki_name *n = &csr->names.v[i];
		if (n->type == PKI_NAME_URI)
			return acme_fail(err, 400, "badCSR", "the CSR asks for a URI name");
		bool found = false;
		for (size_t k = 0; k < o->nauthz && !found; k++) {
			const struct acme_authz *z = &o->authz[k];
			if (z->ip != (n->type == PKI_NAME_IP))
				continue;
			if (z->wildcard)
				found = !strncmp(n->text, "*.", 2) && !strcmp(n->text + 2, z->value);
			else
				found = !strcmp(n->text, z->value);
		}
		if (!found)
			return acme_fail(err, 400, "badCSR",
					 "the CSR names %.200s, which the order does not",
					 n->text);
		dns++;
	}
	/* every identifier is in the CSR (the CSR's names are unique) */
	for (size_t k = 0; k < o->nauthz; k++) {
		const struct acme_authz *z = &o->authz[k];
		char want[PKI_DNS_NAME_MAX + 3];
		bw_snprintf(want, sizeof(want), "%s%s", z->wildcard ? "*." : "", z->value);
		if (!pki_names_has(&csr->names, z->ip ? PKI_NAME_IP : PKI_NAME_DNS, want))
			return acme_fail(err, 400, "badCSR",
					 "the CSR does not name %.200s", want);
	}
	if (csr->cn[0]) {
		bool ok = false;
		for (size_t i = 0; i < csr->names.n && !ok; i++)
			ok = strcasecmp(csr->names.v[i].text, csr->cn) == 0;
		if (!ok)
			return acme_fail(err, 400, "badCSR",
					 "the CSR's common name is not one of its names");
	}
	return dns ? 0 : acme_fail(err, 400, "badCSR", "the CSR names nothing");
}

static int finalize(struct ctx *c, const char *id, struct bw_err *err)
{
	struct pki_acme *a = c->a;
	if (!c->payload)
		return acme_fail(err, 400, "malformed", "finalize needs a payload");
	struct acme_order o;
	if (order_load(c, id, &o, err) < 0)
		return -1;
	int rc = -1;
	uint8_t *der = NULL;
	struct pki_csr csr = { .pub = NULL };
	bool csr_ok = false;
	enum acme_status st = acme_order_status(&o, c->now);
	if (st != ACME_ST_READY) {
		acme_fail(err, 403, "orderNotReady", "the order is %s", acme_status_name(st));
		goto out;
	}
	const struct json_value *cv = json_get(c->payload, "csr");
	if (!cv || cv->type != JSON_STRING) {
		acme_fail(err, 400, "malformed", "csr missing");
		goto out;
	}
	size_t cap = crypto_b64url_decoded_max(cv->u.str.len), len;
	struct bw_err e;
	if (cap > PKI_CSR_MAX_DEFAULT + 2) {
		acme_fail(err, 400, "badCSR", "the CSR is too large");
		goto out;
	}
	der = malloc(cap);
	if (!der || crypto_b64url_decode(cv->u.str.p, cv->u.str.len, der, cap, &len, &e) < 0) {
		acme_fail(err, 400, "badCSR", "the CSR is not base64url");
		goto out;
	}
	if (pki_csr_parse((const char *)der, len, PKI_CSR_MAX_DEFAULT, &csr, &e) < 0) {
		acme_fail(err, 400, issue_type(&e), "%s", e.msg);
		goto out;
	}
	csr_ok = true;
	if (csr_matches(&csr, &o, err) < 0)
		goto out;
	if (acme_db_order_move(a, o.id, ACME_ST_READY, ACME_ST_PROCESSING, NULL, NULL,
			       NULL, err) < 0)
		goto out;
	struct pki_issue_req ir = { .tenant = c->tenant, .ca_id = c->cfg.ca_id,
				    .profile = PKI_PROFILE_TLS_SERVER,
				    .csr = (const char *)der, .csr_len = len,
				    .validity_s = c->cfg.validity_s, .path_len = -1 };
	struct pki_issued out;
	if (pki_issue(a->pki, &ir, &out, &e) < 0) {
		const char *t = issue_type(&e);
		struct bw_err me;
		if (acme_db_order_move(a, o.id, ACME_ST_PROCESSING, ACME_ST_INVALID, t,
				       e.code == 500 ? "issuance failed" : e.msg, NULL, &me) < 0)
			log_warnx("pki acme: order %s stuck processing: %s", o.id, me.msg);
		bw_snprintf(c->details, sizeof(c->details), "{\"order\":\"%s\",\"error\":\"%s\"}",
			    o.id, t);
		(void)acme_audit(a, c->tenant, c->acct.id, c->rq->peer_ip, c->rq->request_id,
				 "pki.acme.order.finalize", o.id, false, c->details);
		acme_fail(err, e.code == 500 ? 500 : 400, t, "%s", e.msg);
		goto out;
	}
	if (acme_db_order_move(a, o.id, ACME_ST_PROCESSING, ACME_ST_VALID, NULL, NULL,
			       out.serial, err) < 0) {
		pki_issued_fini(&out);
		goto out;
	}
	atomic_fetch_add(&a->certificates_issued, 1);
	bw_snprintf(c->details, sizeof(c->details),
		    "{\"order\":\"%s\",\"serial\":\"%s\",\"ca\":\"%s\"}", o.id, out.serial,
		    c->cfg.ca_id);
	char serial[41];
	memcpy(serial, out.serial, sizeof(serial));
	pki_issued_fini(&out);
	if (audit(c, "pki.acme.order.finalize", o.id) < 0) {
		acme_fail(err, 500, "serverInternal", "audit log unavailable");
		goto out;
	}
	emit(c, "acme-certificate-issued", true, "ACME order finalized", "order", o.id,
	     "serial", serial);
	o.status = ACME_ST_VALID;
	memcpy(o.cert_serial, serial, sizeof(serial));
	rc = reply_order(c, &o, 200, err);
out:
	if (csr_ok)
		pki_csr_fini(&csr);
	free(der);
	acme_order_fini(&o);
	return rc;
}

static void chall_write(struct ctx *c, const struct acme_authz *z,
			const struct acme_chall *ch, struct json_writer *w)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "type", acme_chall_name(ch->type));
	json_write_kv_string(w, "url", url(c, "/chall/%s/%s", z->id, ch->id));
	json_write_kv_string(w, "status", acme_status_name(ch->status));
	json_write_kv_string(w, "token", ch->token);
	if (ch->status == ACME_ST_VALID && ch->validated)
		time_write(w, "validated", ch->validated);
	if (ch->status == ACME_ST_INVALID) {
		json_write_key(w, "error");
		problem_write(w, ch->err_type[0] ? ch->err_type : "unauthorized",
			      ch->err_detail[0] ? ch->err_detail : "validation failed", 0);
	}
	json_write_object_end(w);
}

static int authz_load(struct ctx *c, const char *id, struct acme_authz *z,
		      struct bw_err *err)
{
	int f = acme_db_authz_get(c->a, c->tenant, id, z, err);
	if (f < 0)
		return -1;
	if (f == 0)
		return acme_fail(err, 404, "malformed", "no such authorization");
	if (strcmp(z->account_id, c->acct.id) != 0)
		return acme_fail(err, 403, "unauthorized", "not your authorization");
	return 0;
}

static int reply_authz(struct ctx *c, const struct acme_authz *z, struct bw_err *err)
{
	struct json_writer w;
	bw_buf_reset(&c->rs->body);
	json_writer_init(&w, &c->rs->body);
	json_write_object_begin(&w);
	json_write_key(&w, "identifier");
	ident_write(&w, z, false);
	json_write_kv_string(&w, "status", acme_status_name(acme_authz_status(z, c->now)));
	time_write(&w, "expires", z->expires);
	json_write_key(&w, "challenges");
	json_write_array_begin(&w);
	for (size_t i = 0; i < z->nch; i++)
		chall_write(c, z, &z->ch[i], &w);
	json_write_array_end(&w);
	if (z->wildcard)
		json_write_kv_bool(&w, "wildcard", true);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		return fail_json(err);
	c->rs->status = 200;
	if (acme_authz_status(z, c->now) == ACME_ST_PENDING)
		c->rs->retry_after = 1;
	return 0;
}

static int authz_res(struct ctx *c, const char *id, struct bw_err *err)
{
	struct acme_authz z;
	if (authz_load(c, id, &z, err) < 0)
		return -1;
	if (c->payload) {
		const struct json_value *st = json_get(c->payload, "status");
		if (!st || st->type != JSON_STRING ||
		    !bw_str_eq_lit(st->u.str, "deactivated"))
			return acme_fail(err, 400, "malformed",
					 "an authorization may only be deactivated");
		int moved = acme_db_authz_deactivate(c->a, z.id, err);
		if (moved < 0)
			return -1;
		if (moved == 0)
			return acme_fail(err, 403, "unauthorized",
					 "the authorization is %s",
					 acme_status_name(acme_authz_status(&z, c->now)));
		bw_snprintf(c->details, sizeof(c->details), "{\"authz\":\"%s\"}", z.id);
		if (audit(c, "pki.acme.authz.deactivate", z.id) < 0)
			return acme_fail(err, 500, "serverInternal", "audit log unavailable");
		if (authz_load(c, id, &z, err) < 0)
			return -1;
	}
	return reply_authz(c, &z, err);
}

static int chall_res(struct ctx *c, const char *authz_id, const char *chall_id,
		     struct bw_err *err)
{
	struct pki_acme *a = c->a;
	struct acme_authz z;
	if (authz_load(c, authz_id, &z, err) < 0)
		return -1;
	struct acme_chall *ch = NULL;
	for (size_t i = 0; i < z.nch; i++)
		if (strcmp(z.ch[i].id, chall_id) == 0)
			ch = &z.ch[i];
	if (!ch)
		return acme_fail(err, 404, "malformed", "no such challenge");
	if (c->payload && ch->status == ACME_ST_PENDING) {
		if (c->payload->type != JSON_OBJECT)
			return acme_fail(err, 400, "malformed", "the payload must be {}");
		enum acme_status zs = acme_authz_status(&z, c->now);
		if (zs != ACME_ST_PENDING)
			return acme_fail(err, 403, "unauthorized", "the authorization is %s",
					 acme_status_name(zs));
		/* reserve the validator slot before the state moves, so a
		 * refusal leaves the challenge pending for a retry */
		size_t n = atomic_fetch_add(&a->inflight, 1);
		if (n >= a->inflight_max) {
			atomic_fetch_sub(&a->inflight, 1);
			atomic_fetch_add(&a->validations_refused, 1);
			return acme_fail(err, 429, "rateLimited",
					 "too many validations in flight");
		}
		int moved = acme_db_chall_start(a, z.id, ch->id, err);
		if (moved <= 0) {
			atomic_fetch_sub(&a->inflight, 1);
			if (moved < 0)
				return -1;
			if (authz_load(c, authz_id, &z, err) < 0)
				return -1;
			for (size_t i = 0; i < z.nch; i++)
				if (strcmp(z.ch[i].id, chall_id) == 0)
					ch = &z.ch[i];
		} else {
			ch->status = ACME_ST_PROCESSING;
			struct acme_validation v = { .a = a, .type = ch->type, .ip = z.ip };
			bw_snprintf(v.tenant, sizeof(v.tenant), "%s", c->tenant);
			memcpy(v.authz_id, z.id, sizeof(v.authz_id));
			memcpy(v.chall_id, ch->id, sizeof(v.chall_id));
			bw_snprintf(v.ident, sizeof(v.ident), "%s", z.value);
			bw_snprintf(v.keyauth, sizeof(v.keyauth), "%s.%s", ch->token,
				    c->acct.thumb);
			bw_snprintf(c->details, sizeof(c->details),
				    "{\"authz\":\"%s\",\"challenge\":\"%s\",\"type\":\"%s\"}",
				    z.id, ch->id, acme_chall_name(ch->type));
			if (audit(c, "pki.acme.challenge.start", ch->id) < 0) {
				/* never validate what the log did not record */
				struct bw_err e;
				atomic_fetch_sub(&a->inflight, 1);
				(void)acme_db_chall_finish(a, z.id, ch->id, false,
							   "serverInternal",
							   "audit log unavailable", &e);
				return acme_fail(err, 500, "serverInternal",
						 "audit log unavailable");
			}
			if (acme_validate(a, &v, err) < 0)
				return -1;
		}
	}
	struct json_writer w;
	json_writer_init(&w, &c->rs->body);
	chall_write(c, &z, ch, &w);
	if (json_writer_finish(&w) < 0)
		return fail_json(err);
	c->rs->status = 200;
	if (ch->status == ACME_ST_PROCESSING)
		c->rs->retry_after = 1; /* validations take about a second */
	link(c, url(c, "/authz/%s", z.id), "up");
	return 0;
}

static int cert_res(struct ctx *c, const char *serial, struct bw_err *err)
{
	char owner[PKI_ACME_ID_LEN + 1];
	int f = acme_db_order_by_serial(c->a, c->tenant, serial, owner, err);
	if (f < 0)
		return -1;
	if (f == 0)
		return acme_fail(err, 404, "malformed", "no such certificate");
	if (strcmp(owner, c->acct.id) != 0)
		return acme_fail(err, 403, "unauthorized", "not your certificate");
	struct bw_err e;
	if (pki_cert_export(c->a->pki, c->tenant, serial, PKI_PEM, true, &c->rs->body,
			    &e) < 0)
		return acme_fail(err, e.code == 404 ? 404 : 500,
				 e.code == 404 ? "malformed" : "serverInternal", "%s", e.msg);
	c->rs->status = 200;
	c->rs->ctype = "application/pem-certificate-chain";
	return 0;
}

static int count_cb(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_STOP;
}

/* RFC 8555 section 7.6: an account that holds valid authorizations for
 * every name in the certificate may revoke it too. */
static bool authorized_for_all(struct ctx *c, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
	bool ok = n > 0;
	for (int i = 0; ok && i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		struct pki_names one = { .n = 0 };
		struct bw_err e;
		bool ip = g->type == GEN_IPADD;
		if (g->type == GEN_DNS) {
			const ASN1_STRING *s = g->d.dNSName;
			const char *t = (const char *)ASN1_STRING_get0_data(s);
			int l = ASN1_STRING_length(s);
			if (l > 2 && t[0] == '*' && t[1] == '.') {
				t += 2;
				l -= 2;
			}
			ok = pki_names_add(&one, PKI_NAME_DNS, t, (size_t)l, &e) == 0;
		} else if (ip) {
			ok = pki_names_add_ip_bytes(&one, ASN1_STRING_get0_data(g->d.iPAddress),
						    (size_t)ASN1_STRING_length(g->d.iPAddress),
						    &e) == 0;
		} else {
			ok = false;
		}
		if (ok) {
			int64_t cnt = 0;
			struct store_value v[] = { store_text_str(c->acct.id),
						   store_text_str(ip ? "ip" : "dns"),
						   store_text_str(one.v[0].text),
						   store_int(c->now) };
			ok = store_query_one(c->a->st, "SELECT COUNT(*) FROM pki_acme_authz"
					     " WHERE account_id = ? AND ident_type = ? AND"
					     " ident_value = ? AND status = 'valid' AND"
					     " expires >= ?", v, 4, count_cb, &cnt, &e) >= 0 &&
			     cnt > 0;
		}
		pki_names_fini(&one);
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

static int revoke(struct ctx *c, struct bw_err *err)
{
	struct pki_acme *a = c->a;
	const struct json_value *p = c->payload;
	if (!p)
		return acme_fail(err, 400, "malformed", "revokeCert needs a payload");
	const struct json_value *cv = json_get(p, "certificate");
	if (!cv || cv->type != JSON_STRING)
		return acme_fail(err, 400, "malformed", "certificate missing");
	int reason = 0;
	const struct json_value *rv = json_get(p, "reason");
	if (rv) {
		if (rv->type != JSON_NUMBER || !rv->u.num.is_int)
			return acme_fail(err, 400, "badRevocationReason", "reason is a number");
		int64_t r = rv->u.num.i;
		/* RFC 5280 reasons a subscriber may give (not cACompromise,
		 * certificateHold, removeFromCRL or aACompromise) */
		if (r != 0 && r != 1 && r != 3 && r != 4 && r != 5 && r != 9)
			return acme_fail(err, 400, "badRevocationReason",
					 "reason %lld is not accepted", (long long)r);
		reason = (int)r;
	}
	size_t cap = crypto_b64url_decoded_max(cv->u.str.len), len;
	if (cap > PKI_CSR_MAX_HARD)
		return acme_fail(err, 400, "malformed", "certificate too large");
	uint8_t *der = malloc(cap ? cap : 1);
	struct bw_err e;
	X509 *x = NULL;
	struct bw_buf stored;
	bw_buf_init(&stored, PKI_CSR_MAX_HARD);
	int rc = -1;
	if (!der || crypto_b64url_decode(cv->u.str.p, cv->u.str.len, der, cap, &len, &e) < 0) {
		acme_fail(err, 400, "malformed", "certificate is not base64url");
		goto out;
	}
	const unsigned char *q = der;
	x = d2i_X509(NULL, &q, (long)len);
	if (!x || q != der + len) {
		ERR_clear_error();
		acme_fail(err, 400, "malformed", "certificate is not one DER certificate");
		goto out;
	}
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	char serial[41];
	if (!sn || sn->length <= 0 || sn->length > 20) {
		acme_fail(err, 404, "malformed", "certificate not issued here");
		goto out;
	}
	pki_serial_hex(sn->data, (size_t)sn->length, serial);
	struct pki_cert_info info;
	if (pki_cert_get(a->pki, c->tenant, serial, &info, &stored, &e) < 0 ||
	    stored.len != len || memcmp(stored.data, der, len) != 0) {
		acme_fail(err, 404, "malformed", "certificate not issued here");
		goto out;
	}
	if (c->jws.jwk) {
		/* signed with the certificate's own key */
		if (EVP_PKEY_eq(jose_jwk_pkey(c->jws.jwk), X509_get0_pubkey(x)) != 1) {
			ERR_clear_error();
			acme_fail(err, 403, "unauthorized",
				  "the request is not signed by the certificate's key");
			goto out;
		}
	} else {
		char owner[PKI_ACME_ID_LEN + 1];
		int f = acme_db_order_by_serial(a, c->tenant, serial, owner, err);
		if (f < 0)
			goto out;
		if ((f == 0 || strcmp(owner, c->acct.id) != 0) && !authorized_for_all(c, x)) {
			acme_fail(err, 403, "unauthorized",
				  "this account may not revoke the certificate");
			goto out;
		}
	}
	if (info.status == PKI_CERT_REVOKED && reason != PKI_REASON_KEY_COMPROMISE) {
		acme_fail(err, 400, "alreadyRevoked", "the certificate is already revoked");
		goto out;
	}
	if (pki_revoke(a->pki, c->tenant, serial, reason, &e) < 0) {
		if (e.code == 409)
			acme_fail(err, 400, "alreadyRevoked", "the certificate is already revoked");
		else
			acme_fail(err, 500, "serverInternal", "%s", e.msg);
		goto out;
	}
	atomic_fetch_add(&a->revocations, 1);
	bw_snprintf(c->details, sizeof(c->details),
		    "{\"serial\":\"%s\",\"reason\":%d,\"by\":\"%s\"}", serial, reason,
		    c->jws.jwk ? "certificate-key" : "account");
	if (audit(c, "pki.acme.cert.revoke", serial) < 0) {
		acme_fail(err, 500, "serverInternal", "audit log unavailable");
		goto out;
	}
	emit(c, "acme-certificate-revoked", true, "certificate revoked over ACME", "serial",
	     serial, "reason", pki_reason_name(reason));
	c->rs->status = 200;
	rc = 0;
out:
	X509_free(x);
	free(der);
	bw_buf_fini(&stored);
	return rc;
}

static int key_change(struct ctx *c, struct bw_err *err)
{
	if (!c->payload)
		return acme_fail(err, 400, "malformed", "keyChange needs a payload");
	struct acme_jws in;
	int rc = -1;
	if (acme_jws_from_json(c->arena, c->payload, &in, err) < 0)
		goto out;
	if (!in.jwk) {
		acme_fail(err, 400, "malformed", "the inner JWS must carry the new jwk");
		goto out;
	}
	if (!bw_str_eq(in.url, c->jws.url)) {
		acme_fail(err, 400, "malformed", "the inner url differs from the outer");
		goto out;
	}
	if (acme_jws_verify(&in, in.jwk, err) < 0)
		goto out;
	struct bw_err e;
	const struct json_value *ip = json_parse(c->arena, (const char *)in.payload,
						 in.payload_len, &acme_json_limits, &e);
	if (!ip || ip->type != JSON_OBJECT) {
		acme_fail(err, 400, "malformed", "the inner payload is not an object");
		goto out;
	}
	const struct json_value *acc = json_get(ip, "account");
	const struct json_value *old = json_get(ip, "oldKey");
	if (!acc || acc->type != JSON_STRING || !bw_str_eq(acc->u.str, c->jws.kid)) {
		acme_fail(err, 400, "malformed", "the inner payload names another account");
		goto out;
	}
	struct jose_jwk *ok = old && old->type == JSON_OBJECT ? jose_jwk_from_json(old, &e) : NULL;
	char t_old[PKI_ACME_THUMB_LEN + 1], t_new[PKI_ACME_THUMB_LEN + 1];
	bool same = ok && acme_jwk_thumbprint(ok, t_old, &e) == 0 &&
		    strcmp(t_old, c->acct.thumb) == 0;
	jose_jwk_free(ok);
	if (!same) {
		acme_fail(err, 400, "malformed", "oldKey is not the account's key");
		goto out;
	}
	if (acme_jwk_thumbprint(in.jwk, t_new, err) < 0)
		goto out;
	if (strcmp(t_new, c->acct.thumb) == 0) {
		acme_fail(err, 400, "malformed", "the new key is the old key");
		goto out;
	}
	struct bw_buf jb;
	bw_buf_init(&jb, JOSE_JWK_MAX);
	struct json_writer w;
	json_writer_init(&w, &jb);
	if (jose_jwk_write(in.jwk, false, &w, &e) < 0 || json_writer_finish(&w) < 0) {
		bw_buf_fini(&jb);
		acme_fail(err, 400, "badPublicKey", "the new key cannot be stored");
		goto out;
	}
	char other[PKI_ACME_ID_LEN + 1];
	int r = acme_db_account_rekey(c->a, &c->acct, t_new, jb.data, other, err);
	bw_buf_fini(&jb);
	if (r < 0) {
		if (strcmp(err->reason, "conflict") == 0) {
			if (other[0])
				bw_snprintf(c->rs->location, sizeof(c->rs->location), "%s",
					    url(c, "/acct/%s", other));
			acme_fail(err, 409, "malformed", "the new key is already in use");
		}
		goto out;
	}
	bw_snprintf(c->details, sizeof(c->details),
		    "{\"old_thumbprint\":\"%s\",\"new_thumbprint\":\"%s\"}", c->acct.thumb,
		    t_new);
	if (audit(c, "pki.acme.account.key_change", c->acct.id) < 0) {
		acme_fail(err, 500, "serverInternal", "audit log unavailable");
		goto out;
	}
	emit(c, "acme-account-key-changed", true, "ACME account key rolled over",
	     "account", c->acct.id, NULL, NULL);
	memcpy(c->acct.thumb, t_new, sizeof(t_new));
	rc = reply_account(c, &c->acct, 200, err);
out:
	acme_jws_fini(&in);
	return rc;
}

/* ------------------------------------------------------------- dispatch */

static void directory(struct ctx *c)
{
	struct json_writer w;
	json_writer_init(&w, &c->rs->body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "newNonce", url(c, "/new-nonce"));
	json_write_kv_string(&w, "newAccount", url(c, "/new-account"));
	json_write_kv_string(&w, "newOrder", url(c, "/new-order"));
	json_write_kv_string(&w, "revokeCert", url(c, "/revoke-cert"));
	json_write_kv_string(&w, "keyChange", url(c, "/key-change"));
	json_write_key(&w, "meta");
	json_write_object_begin(&w);
	if (c->a->tos[0])
		json_write_kv_string(&w, "termsOfService", c->a->tos);
	json_write_kv_bool(&w, "externalAccountRequired", c->cfg.eab_required);
	json_write_object_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		log_warnx("pki acme: directory truncated");
	c->rs->status = 200;
	c->rs->no_nonce = true;
}

enum key_rule { KEY_KID, KEY_JWK, KEY_EITHER };

static bool host_ok(struct bw_str h)
{
	if (h.len == 0 || h.len > 255)
		return false;
	for (size_t i = 0; i < h.len; i++) {
		char ch = h.p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == ':' ||
		      ch == '[' || ch == ']'))
			return false;
	}
	return true;
}

/* Section 6.2-6.5 for every POST; fills c->jws, c->acct, c->payload. */
static int authenticate(struct ctx *c, enum key_rule rule, struct bw_err *err)
{
	const struct acme_http_req *rq = c->rq;
	if (!bw_str_caseeq_lit(rq->content_type, "application/jose+json"))
		return acme_fail(err, 415, "malformed",
				 "Content-Type must be application/jose+json");
	if (rq->body.len > PKI_ACME_BODY_MAX)
		return acme_fail(err, 413, "malformed", "request body too large");
	if (acme_jws_parse(c->arena, rq->body.p, rq->body.len, &c->jws, err) < 0)
		return -1;
	char *want = bw_arena_printf(c->arena, "%s%.*s", c->origin, (int)rq->path.len,
				     rq->path.p);
	if (!want || !bw_str_eq(c->jws.url, bw_str_make(want, strlen(want))))
		return acme_fail(err, 403, "unauthorized",
				 "the JWS url is not this request's URL");
	const struct jose_jwk *key = c->jws.jwk;
	struct jose_jwk *acct_key = NULL;
	if (c->jws.jwk && rule == KEY_KID)
		return acme_fail(err, 400, "malformed",
				 "this resource is requested with a kid");
	if (!c->jws.jwk && rule == KEY_JWK)
		return acme_fail(err, 400, "malformed",
				 "this resource is requested with a jwk");
	if (!c->jws.jwk) {
		char *acct_prefix = bw_arena_printf(c->arena, "%s/acct/", c->prefix);
		size_t pl = acct_prefix ? strlen(acct_prefix) : 0;
		struct bw_str kid = c->jws.kid;
		if (!acct_prefix || kid.len != pl + PKI_ACME_ID_LEN ||
		    memcmp(kid.p, acct_prefix, pl) != 0 ||
		    !acme_id_ok(kid.p + pl, PKI_ACME_ID_LEN))
			return acme_fail(err, 400, "accountDoesNotExist",
					 "kid is not an account URL of this directory");
		char id[PKI_ACME_ID_LEN + 1];
		memcpy(id, kid.p + pl, PKI_ACME_ID_LEN);
		id[PKI_ACME_ID_LEN] = '\0';
		int f = acme_db_account_get(c->a, c->tenant, id, &c->acct, err);
		if (f < 0)
			return -1;
		if (f == 0)
			return acme_fail(err, 400, "accountDoesNotExist", "no such account");
		c->have_acct = true;
		struct bw_err e;
		acct_key = jose_jwk_parse(c->acct.jwk, strlen(c->acct.jwk), &e);
		if (!acct_key)
			return acme_fail(err, 500, "serverInternal", "stored key: %s", e.msg);
		key = acct_key;
	}
	int rc = acme_jws_verify(&c->jws, key, err);
	jose_jwk_free(acct_key);
	if (rc < 0) {
		emit(c, "acme-request-refused", false, "JWS verification failed", "reason",
		     err->reason, NULL, NULL);
		return -1;
	}
	if (!c->jws.has_nonce ||
	    !acme_nonce_consume(c->a->nonces, c->jws.nonce.p, c->jws.nonce.len))
		return acme_fail(err, 400, "badNonce", "the nonce is unknown, used or expired");
	if (c->have_acct && c->acct.status != ACME_ST_VALID)
		return acme_fail(err, 403, "unauthorized", "the account is %s",
				 acme_status_name(c->acct.status));
	if (!c->jws.post_as_get) {
		struct bw_err e;
		c->payload = json_parse(c->arena, (const char *)c->jws.payload,
					c->jws.payload_len, &acme_json_limits, &e);
		if (!c->payload || c->payload->type != JSON_OBJECT)
			return acme_fail(err, 400, "malformed",
					 "the payload must be a JSON object");
	}
	return 0;
}

static bool seg(struct bw_str *rest, const char *lit)
{
	size_t n = strlen(lit);
	if (rest->len < n || memcmp(rest->p, lit, n) != 0)
		return false;
	rest->p += n;
	rest->len -= n;
	return true;
}

/* One id segment [A-Za-z0-9_-] (length n, or a hex serial when n is 0),
 * followed by the end or '/'. */
static bool take_id(struct bw_str *rest, char *out, size_t n, bool hex)
{
	size_t i = 0;
	while (i < rest->len && rest->p[i] != '/')
		i++;
	if (hex) {
		if (i == 0 || i > 40)
			return false;
		for (size_t k = 0; k < i; k++)
			if (!((rest->p[k] >= '0' && rest->p[k] <= '9') ||
			      (rest->p[k] >= 'a' && rest->p[k] <= 'f')))
				return false;
	} else if (i != n || !acme_id_ok(rest->p, i)) {
		return false;
	}
	memcpy(out, rest->p, i);
	out[i] = '\0';
	rest->p += i;
	rest->len -= i;
	return true;
}

enum route {
	R_NONE, R_DIR, R_NONCE, R_NEWACCT, R_REVOKE, R_NEWORDER, R_KEYCHANGE,
	R_ACCT, R_ACCT_ORDERS, R_ORDER, R_FINALIZE, R_AUTHZ, R_CHALL, R_CERT,
};

/* The resource a path below /acme/{tenant}/ names, with its ids. */
static enum route route_of(struct bw_str rest, char id[PKI_ACME_ID_LEN + 1],
			   char id2[PKI_ACME_ID_LEN + 1], char serial[41])
{
	static const struct { const char *p; enum route r; } fixed[] = {
		{ "directory", R_DIR }, { "new-nonce", R_NONCE },
		{ "new-account", R_NEWACCT }, { "revoke-cert", R_REVOKE },
		{ "new-order", R_NEWORDER }, { "key-change", R_KEYCHANGE },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(fixed); i++)
		if (bw_str_eq_lit(rest, fixed[i].p))
			return fixed[i].r;
	struct bw_str r = rest;
	if (seg(&r, "acct/") && take_id(&r, id, PKI_ACME_ID_LEN, false)) {
		if (r.len == 0)
			return R_ACCT;
		if (bw_str_eq_lit(r, "/orders"))
			return R_ACCT_ORDERS;
		return R_NONE;
	}
	r = rest;
	if (seg(&r, "order/") && take_id(&r, id, PKI_ACME_ID_LEN, false)) {
		if (r.len == 0)
			return R_ORDER;
		if (bw_str_eq_lit(r, "/finalize"))
			return R_FINALIZE;
		return R_NONE;
	}
	r = rest;
	if (seg(&r, "authz/") && take_id(&r, id, PKI_ACME_ID_LEN, false) && r.len == 0)
		return R_AUTHZ;
	r = rest;
	if (seg(&r, "chall/") && take_id(&r, id, PKI_ACME_ID_LEN, false) && seg(&r, "/") &&
	    take_id(&r, id2, PKI_ACME_ID_LEN, false) && r.len == 0)
		return R_CHALL;
	r = rest;
	if (seg(&r, "cert/") && take_id(&r, serial, 0, true) && r.len == 0)
		return R_CERT;
	return R_NONE;
}

static int dispatch(struct ctx *c, struct bw_str rest, struct bw_err *err)
{
	const struct acme_http_req *rq = c->rq;
	bool get = rq->method == HTTP_METHOD_GET || rq->method == HTTP_METHOD_HEAD;
	char id[PKI_ACME_ID_LEN + 1], id2[PKI_ACME_ID_LEN + 1], serial[41];
	enum route r = route_of(rest, id, id2, serial);
	switch (r) {
	case R_NONE:
		return acme_fail(err, 404, "malformed", "no such resource");
	case R_DIR:
		if (!get)
			return acme_fail(err, 405, "malformed", "GET the directory");
		directory(c);
		return 0;
	case R_NONCE:
		if (rq->method == HTTP_METHOD_POST) {
			/* POST-as-GET to newNonce is allowed (RFC 8555 7.2) */
			if (authenticate(c, KEY_KID, err) < 0)
				return -1;
			c->rs->status = 204;
			return 0;
		}
		if (!get)
			return acme_fail(err, 405, "malformed", "HEAD or GET new-nonce");
		c->rs->status = rq->method == HTTP_METHOD_HEAD ? 200 : 204;
		return 0;
	default:
		break;
	}
	if (rq->method != HTTP_METHOD_POST)
		return acme_fail(err, 405, "malformed",
				 "ACME resources are fetched with POST-as-GET");
	enum key_rule rule = r == R_NEWACCT ? KEY_JWK : r == R_REVOKE ? KEY_EITHER : KEY_KID;
	if (authenticate(c, rule, err) < 0)
		return -1;
	switch (r) {
	case R_NEWACCT: return new_account(c, err);
	case R_REVOKE: return revoke(c, err);
	case R_NEWORDER: return new_order(c, err);
	case R_KEYCHANGE: return key_change(c, err);
	case R_ACCT: return account_res(c, id, err);
	case R_ACCT_ORDERS: return account_orders(c, id, err);
	case R_ORDER: return order_res(c, id, err);
	case R_FINALIZE: return finalize(c, id, err);
	case R_AUTHZ: return authz_res(c, id, err);
	case R_CHALL: return chall_res(c, id, id2, err);
	case R_CERT: return cert_res(c, serial, err);
	default: return acme_fail(err, 404, "malformed", "no such resource");
	}
}

void acme_serve(struct pki_acme *a, const struct acme_http_req *rq,
		struct acme_resp *rs)
{
	struct ctx c = { .a = a, .rq = rq, .rs = rs, .now = bw_clock_now_s() };
	struct bw_err err;
	bw_err_clear(&err);
	atomic_fetch_add(&a->requests, 1);
	rs->status = 500;
	c.arena = bw_arena_new(16384, PKI_ACME_BODY_MAX * 8);
	if (!c.arena) {
		acme_fail(&err, 503, "serverInternal", "out of memory");
		problem(&c, &err);
		goto nonce;
	}
	struct bw_str rest = rq->path;
	if (!seg(&rest, "/acme/")) {
		acme_fail(&err, 404, "malformed", "no such resource");
		goto fail;
	}
	size_t i = 0;
	while (i < rest.len && rest.p[i] != '/')
		i++;
	if (i == 0 || i > PKI_TENANT_MAX || i == rest.len) {
		acme_fail(&err, 404, "malformed", "no such directory");
		goto fail;
	}
	memcpy(c.tenant, rest.p, i);
	c.tenant[i] = '\0';
	rest.p += i + 1;
	rest.len -= i + 1;
	if (strlen(c.tenant) != i || acme_tenant_lookup(a, c.tenant, &c.cfg) < 0) {
		c.tenant[0] = '\0';
		acme_fail(&err, 404, "malformed", "no such directory");
		goto fail;
	}
	if (a->base_url[0]) {
		bw_snprintf(c.origin, sizeof(c.origin), "%s", a->base_url);
	} else if (!host_ok(rq->host) ||
		   bw_snprintf(c.origin, sizeof(c.origin), "%s://%.*s",
			       rq->tls ? "https" : "http", (int)rq->host.len,
			       rq->host.p) < 0) {
		c.tenant[0] = '\0';
		acme_fail(&err, 400, "malformed", "bad Host header");
		goto fail;
	}
	bw_snprintf(c.prefix, sizeof(c.prefix), "%s/acme/%s", c.origin, c.tenant);
	if (rq->has_query) {
		acme_fail(&err, 400, "malformed", "ACME URLs have no query");
		goto fail;
	}
	if (dispatch(&c, rest, &err) == 0)
		goto done;
fail:
	problem(&c, &err);
done:
	if (c.tenant[0])
		link(&c, url(&c, "/directory"), "index");
nonce:
	if (!rs->no_nonce)
		acme_nonce_new(a->nonces, rs->nonce);
	acme_jws_fini(&c.jws);
	acme_account_fini(&c.acct);
	bw_arena_free(c.arena);
}
