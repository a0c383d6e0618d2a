/*
 * kms_p11: the worker's side of libbulwark-pkcs11.so — a Unix stream
 * socket (DATA_DIR/run/pkcs11.sock by default, mode 0660) speaking the
 * p11 wire protocol (src/p11/p11_wire.h). Each connection is one PKCS#11
 * session of some application and gets its own thread; requests are
 * blocking kms_calls to the key process, so nothing here touches an
 * event loop.
 *
 * A connection starts anonymous: it may only list the tokens (tenants)
 * and ask for random bytes. LOGIN authenticates the PIN — an API key or
 * session token of the tenant (iam_authenticate_bearer), or the bootstrap
 * token for the platform tenant — and binds the connection to that
 * principal and tenant. The token's tenant must be the principal's own:
 * tenant A's credentials never open tenant B's slot, not even a platform
 * operator's (REST lets platform operators act across tenants; a
 * PKCS#11 token is one partition). Every request then checks the
 * principal's platform role (authz_platform_check): kms.key.read to list,
 * kms.key.manage to generate, kms.key.use to sign, verify, encrypt and
 * decrypt. Keys named '_…' (the platform's own) are invisible and
 * unusable here.
 *
 * Every login (success or failure) and every key operation is audited
 * (action kms.p11.*, target kms:tenant/key, never data, PINs or
 * signatures). A failed login costs P11_LOGIN_DELAY_MS and the connection
 * is closed after P11_LOGIN_FAILS_MAX of them.
 *
 * Invariants: a malformed frame closes its connection; replies never
 * carry more than the key process answered; buffers that held PINs or
 * plaintext are wiped before they are freed or reused.
 */
#include "kms/kms_int.h"
#include "api/api.h"

#include "audit/audit.h"
#include "authz/authz.h"
#include "conf/conf.h"
#include "iam/iam.h"
#include "json/json.h"
#include "p11/p11_wire.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <p11-kit/pkcs11.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define M "kms"

struct conn {
	struct kms_p11_server *srv;
	pthread_t th;
	int fd;
	_Atomic bool done;
	bool used;
	/* who, after LOGIN */
	bool logged_in;
	char tenant[P11_NAME_MAX + 1];
	char subject[200];
	char key_subject[200]; /* "apikey:ID" for an API key, or "" */
	char scopes[IAM_SCOPES_MAX + 1]; /* an API key's scopes, or "" */
	char actor[80];
	enum audit_actor_kind actor_kind;
	unsigned fails;
	/* Recent allow decisions (never denials), by permission: a grant
	 * revoked takes effect within P11_AUTHZ_CACHE_MS. */
	int64_t allowed_until[3];
	/* Key types by name: fixed at creation (a name is never reused for
	 * another type), so they may be kept for the connection's life. */
	struct {
		char name[P11_NAME_MAX + 1];
		uint32_t type;
	} types[P11_TYPE_CACHE];
	unsigned ntypes_next;
	/* audit: per_second — successful uses counted for one record */
	struct {
		char action[32];
		char key[P11_NAME_MAX + 1];
		uint32_t ver;
		unsigned count;
		int64_t first_ms;
	} agg;
	uint8_t *buf;          /* P11_WIRE_MSG_MAX: the request */
	struct p11_msg *msg;   /* decoded request */
};

struct kms_p11_server {
	struct kms_p11_options o;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	pthread_t accept_th;
	pthread_mutex_t mu;
	bool stopping;
	struct conn *conns; /* o.max_conns slots */
	_Atomic uint64_t requests, logins_failed;
};

/* ------------------------------------------------------------- config */

int kms_p11_conf_parse(const struct conf_node *kms, const char *run_dir,
		       struct kms_p11_conf *out, struct bw_err *err)
{
	static const char *const keys[] = { "enabled", "socket", "mode",
					    "max_sessions", "audit", NULL };
	static const char *const audits[] = { "each", "per_second", NULL };
	memset(out, 0, sizeof(*out));
	out->enabled = true;
	out->mode = 0660;
	out->max_conns = P11_CONN_DEFAULT;
	bw_snprintf(out->socket, sizeof(out->socket), "%s/pkcs11.sock", run_dir);
	const struct conf_node *n = kms ? conf_get(kms, "pkcs11") : NULL;
	if (!n)
		return 0;
	const char *path = NULL, *mode = NULL;
	int64_t mc = 0;
	int aud = 0;
	if (conf_check_keys(n, keys, err) < 0 ||
	    conf_opt_bool(n, "enabled", true, &out->enabled, err) < 0 ||
	    conf_opt_str(n, "socket", NULL, &path, err) < 0 ||
	    conf_opt_str(n, "mode", "0660", &mode, err) < 0 ||
	    conf_opt_int(n, "max_sessions", P11_CONN_DEFAULT, 1, P11_CONN_MAX, &mc,
			 err) < 0 ||
	    conf_opt_enum(n, "audit", audits, 0, &aud, err) < 0)
		return -1;
	out->max_conns = (unsigned)mc;
	out->audit_per_second = aud == 1;
	if (path && bw_snprintf(out->socket, sizeof(out->socket), "%s", path) < 0)
		return conf_err(conf_get(n, "socket"), err, "range",
				"socket path longer than %zu bytes",
				sizeof(out->socket) - 1);
	/* Octal text: only owner and group bits make sense for a socket
	 * that hands out key use. */
	char *end = NULL;
	unsigned long m = strtoul(mode, &end, 8);
	if (!end || *end || end == mode || (m & ~0770ul) || !(m & 0600))
		return conf_err(conf_get(n, "mode"), err, "range",
				"mode must be octal owner/group bits like 0660 or 0600");
	out->mode = (unsigned)m;
	return 0;
}

/* -------------------------------------------------------------- helpers */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void audit_done(void *arg, int status, uint64_t seq,
		       const struct bw_err *err)
{
	if (status < 0)
		log_warnx("pkcs11: audit record lost: %s", err->msg);
}

/* One audit record per login and per key operation. */
static void audit_opv(struct conn *c, const char *action, const char *key,
		      uint32_t ver, enum audit_outcome outcome, unsigned items,
		      const char *error)
{
	struct audit_log *log = c->srv->o.audit;
	if (!log)
		return;
	/* Records stay in order: counted successes go first. */
	if (c->agg.count && (c->agg.action != action || c->agg.key != key)) {
		unsigned n = c->agg.count;
		c->agg.count = 0;
		audit_opv(c, c->agg.action, c->agg.key, c->agg.ver, AUDIT_OUTCOME_SUCCESS,
			  n, NULL);
	}
	char target[2 * P11_NAME_MAX + 16], details[400];
	bw_snprintf(target, sizeof(target), "kms:%s%s%s",
		    c->tenant[0] ? c->tenant : "-", key && key[0] ? "/" : "",
		    key ? key : "");
	struct bw_buf b;
	bw_buf_init(&b, sizeof(details));
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "via");
	json_write_string(&w, "pkcs11");
	if (key && key[0]) {
		json_write_key(&w, "key");
		json_write_string(&w, key);
	}
	if (ver) {
		json_write_key(&w, "key_version");
		json_write_uint(&w, ver);
	}
	if (items > 1) {
		json_write_key(&w, "items");
		json_write_uint(&w, items);
	}
	if (error && error[0]) {
		json_write_key(&w, "error");
		json_write_string(&w, error);
	}
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		bw_snprintf(details, sizeof(details), "{}");
	else
		bw_snprintf(details, sizeof(details), "%.*s", (int)b.len, (const char *)b.data);
	bw_buf_fini(&b);
	const char *actor = c->actor[0] ? c->actor : "anonymous";
	struct audit_record rec = {
		.actor = { .tenant = { c->tenant, strlen(c->tenant) },
			   .kind = c->actor[0] ? c->actor_kind : AUDIT_ACTOR_SYSTEM,
			   .id = { actor, strlen(actor) } },
		.action = { action, strlen(action) },
		.target = { target, strlen(target) },
		.outcome = outcome,
		.details = { details, strlen(details) },
	};
	struct bw_err err;
	if (audit_append_async(log, &rec, audit_done, NULL, &err) < 0)
		log_warnx("pkcs11: audit record refused: %s", err.msg);
}

/* A record without a key version (logins, failures, creation). */
static void audit_op(struct conn *c, const char *action, const char *key,
		     enum audit_outcome outcome, unsigned items,
		     const char *error)
{
	audit_opv(c, action, key, 0, outcome, items, error);
}

/* Writes the counted successes of audit "per_second" as one record. */
static void audit_flush(struct conn *c)
{
	if (!c->agg.count)
		return;
	audit_opv(c, c->agg.action, c->agg.key, c->agg.ver, AUDIT_OUTCOME_SUCCESS,
		  c->agg.count < 2 ? 1 : c->agg.count, NULL);
	c->agg.count = 0;
}

/* A successful key operation (items of them): one record each, or
 * counted into the session's record for this key and operation, written
 * when the key or operation changes, after P11_AUDIT_WINDOW_MS, or when
 * the session logs out or ends. */
static void audit_use(struct conn *c, const char *action, const char *key,
		      uint32_t ver, unsigned items)
{
	if (!c->srv->o.audit_per_second) {
		audit_opv(c, action, key, ver, AUDIT_OUTCOME_SUCCESS, items, NULL);
		return;
	}
	int64_t now = mono_ms();
	if (c->agg.count && (strcmp(c->agg.action, action) != 0 ||
			     strcmp(c->agg.key, key) != 0 || c->agg.ver != ver ||
			     now - c->agg.first_ms >= P11_AUDIT_WINDOW_MS))
		audit_flush(c);
	if (!c->agg.count) {
		bw_snprintf(c->agg.action, sizeof(c->agg.action), "%s", action);
		bw_snprintf(c->agg.key, sizeof(c->agg.key), "%s", key);
		c->agg.ver = ver;
		c->agg.first_ms = now;
	}
	c->agg.count += items ? items : 1;
}

/* keystore status -> CK_RV */
static CK_RV rv_of(unsigned st)
{
	switch (st) {
	case KEYSTORE_OK:
		return CKR_OK;
	case KEYSTORE_E_NOT_FOUND:
		return CKR_KEY_HANDLE_INVALID;
	case KEYSTORE_E_EXISTS:
		return CKR_ATTRIBUTE_VALUE_INVALID;
	case KEYSTORE_E_KEY_STATE:
	case KEYSTORE_E_VERSION:
	case KEYSTORE_E_DENIED:
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	case KEYSTORE_E_AUTH:
		return CKR_ENCRYPTED_DATA_INVALID;
	case KEYSTORE_E_TOO_LARGE:
		return CKR_DATA_LEN_RANGE;
	case KEYSTORE_E_BAD_REQUEST:
	case KEYSTORE_E_UNSUPPORTED:
		return CKR_ARGUMENTS_BAD;
	case KEYSTORE_E_LIMIT:
		return CKR_DEVICE_MEMORY;
	case KEYSTORE_E_SEALED:
	case KEYSTORE_E_NOT_INITIALIZED:
	case KEYSTORE_E_UNAVAILABLE:
		return CKR_DEVICE_REMOVED;
	default:
		return CKR_DEVICE_ERROR;
	}
}

static CK_RV rv_of_err(const struct bw_err *err)
{
	return err->code == 503 || err->code == 504 ? CKR_DEVICE_REMOVED : CKR_DEVICE_ERROR;
}

/* One request to the key process. CKR_OK with *r (the caller frees it);
 * otherwise the CK_RV, why (the reason, cap KEYSTORE_ERROR_MAX + 1) and,
 * when the key process answered, *r with its status. */
static CK_RV ks_call(struct conn *c, struct keystore_enc *e, int timeout_ms,
		     struct kms_reply **r, char *why)
{
	struct bw_err err;
	*r = NULL;
	why[0] = '\0';
	if (kms_call(c->srv->o.kms, e, timeout_ms, r, &err) < 0) {
		bw_snprintf(why, KEYSTORE_ERROR_MAX + 1, "%s", err.msg);
		return rv_of_err(&err);
	}
	if ((*r)->status != KEYSTORE_OK) {
		const char *n = keystore_status_name((*r)->status);
		bw_snprintf(why, KEYSTORE_ERROR_MAX + 1, "%s", n ? n : "error");
		return rv_of((*r)->status);
	}
	return CKR_OK;
}

/* Sends the reply built in o (status rv). -1 when the peer is gone. */
static int reply(struct conn *c, struct p11_enc *o)
{
	const uint8_t *f;
	size_t n;
	int rc;
	if (p11_enc_finish(o, &f, &n) < 0) {
		struct p11_enc e;
		p11_enc_init(&e, c->msg->op, CKR_DEVICE_ERROR);
		p11_enc_str(&e, P11_T_ERROR, "reply too large");
		rc = p11_enc_finish(&e, &f, &n) == 0 ? p11_wire_send(c->fd, f, n) : -1;
		p11_enc_fini(&e);
		return rc;
	}
	return p11_wire_send(c->fd, f, n);
}

static void fail(struct p11_enc *o, unsigned op, CK_RV rv, const char *why)
{
	p11_enc_fini(o);
	p11_enc_init(o, op, (uint32_t)rv);
	if (why && why[0]) {
		char t[P11_ERROR_MAX + 1];
		size_t j = 0;
		for (size_t i = 0; why[i] && j < P11_ERROR_MAX; i++)
			t[j++] = why[i] >= 0x20 && why[i] <= 0x7e ? why[i] : '?';
		t[j] = '\0';
		p11_enc_str(o, P11_T_ERROR, t);
	}
}

static bool allowed(struct conn *c, const char *perm)
{
	static const char *const perms[] = { "kms.key.read", "kms.key.manage",
					     "kms.key.use" };
	size_t i = 0;
	while (i < 3 && strcmp(perms[i], perm) != 0)
		i++;
	int64_t now = mono_ms();
	if (i < 3 && now < c->allowed_until[i])
		return true;
	/* The user's roles, or (as over REST) the API key's own, narrowed by
	 * the key's scopes as on the admin API. */
	bool ok = api_scope_allows(c->scopes, perm) &&
		  (authz_platform_check(c->srv->o.authz, c->tenant, c->subject, perm) ||
		   (c->key_subject[0] &&
		    authz_platform_check(c->srv->o.authz, c->tenant, c->key_subject, perm)));
	if (i < 3)
		c->allowed_until[i] = ok ? now + P11_AUTHZ_CACHE_MS : 0;
	return ok;
}

/* The request's key name: valid, and not one of the platform's own. */
static bool key_name(const struct p11_msg *m, char out[P11_NAME_MAX + 1])
{
	return p11_msg_text(m, P11_T_NAME, 0, out, P11_NAME_MAX + 1) &&
	       keystore_name_valid(out, strlen(out)) && out[0] != '_';
}

/* ------------------------------------------------------------- handlers */

struct tenant_list {
	struct p11_enc *o;
	unsigned n;
};

static int add_tenant(void *arg, const struct iam_tenant *t)
{
	struct tenant_list *l = arg;
	if (l->n >= P11_SLOTS_MAX)
		return 1;
	if (!keystore_name_valid(t->name, strlen(t->name)))
		return 0;
	p11_enc_str(l->o, P11_T_TENANT, t->name);
	l->n++;
	return 0;
}

static void h_slots(struct conn *c, struct p11_enc *o)
{
	struct bw_err err;
	struct tenant_list l = { .o = o };
	if (!c->srv->o.iam) {
		p11_enc_str(o, P11_T_TENANT, "platform");
		return;
	}
	if (iam_tenant_list(c->srv->o.iam, add_tenant, &l, &err) < 0)
		fail(o, P11_OP_SLOTS, CKR_DEVICE_ERROR, err.msg);
}

static bool bootstrap_match(struct conn *c, const uint8_t *pin, size_t n)
{
	if (!c->srv->o.bootstrap_hash ||
	    (c->srv->o.bootstrap_live && !atomic_load(c->srv->o.bootstrap_live)))
		return false;
	uint8_t h[SHA256_DIGEST_LENGTH];
	SHA256(pin, n, h);
	return CRYPTO_memcmp(h, c->srv->o.bootstrap_hash, sizeof(h)) == 0;
}

static int h_login(struct conn *c, struct p11_enc *o)
{
	const struct p11_msg *m = c->msg;
	char tenant[P11_NAME_MAX + 1];
	const struct p11_field *pin = p11_msg_get(m, P11_T_PIN, 0);
	if (!p11_msg_text(m, P11_T_TENANT, 0, tenant, sizeof(tenant)) || !pin) {
		fail(o, m->op, CKR_ARGUMENTS_BAD, "tenant and PIN are required");
		return 0;
	}
	if (c->logged_in) {
		fail(o, m->op, CKR_USER_ALREADY_LOGGED_IN, NULL);
		return 0;
	}
	bool ok = false, unavailable = false;
	char ptenant[IAM_TENANT_MAX + 1] = "";
	if (bootstrap_match(c, pin->p, pin->len)) {
		ok = true;
		bw_snprintf(ptenant, sizeof(ptenant), "platform");
		bw_snprintf(c->subject, sizeof(c->subject), "user:bootstrap");
		bw_snprintf(c->actor, sizeof(c->actor), "bootstrap");
		c->actor_kind = AUDIT_ACTOR_USER;
	} else if (c->srv->o.iam && pin->len <= IAM_APIKEY_LEN + 64) {
		char tok[P11_PIN_MAX + 1];
		memcpy(tok, pin->p, pin->len);
		tok[pin->len] = '\0';
		struct iam_principal p;
		int rc = iam_authenticate_bearer(c->srv->o.iam, tok, pin->len, &p);
		bw_wipe(tok, sizeof(tok));
		if (rc == 0) {
			ok = true;
			bw_snprintf(ptenant, sizeof(ptenant), "%s", p.tenant);
			bw_snprintf(c->subject, sizeof(c->subject), "user:%s", p.user_id);
			if (p.kind == IAM_PRINCIPAL_API_KEY) {
				bw_snprintf(c->actor, sizeof(c->actor), "%s", p.credential_id);
				bw_snprintf(c->key_subject, sizeof(c->key_subject), "apikey:%s",
					    p.credential_id);
				bw_snprintf(c->scopes, sizeof(c->scopes), "%s", p.scopes);
				c->actor_kind = AUDIT_ACTOR_KEY;
			} else {
				bw_snprintf(c->actor, sizeof(c->actor), "%s", p.user_id);
				c->actor_kind = AUDIT_ACTOR_USER;
			}
		} else if (rc == -2) {
			unavailable = true;
		}
	}
	/* The slot's tenant must be the principal's own. */
	bool same = ok && strcmp(ptenant, tenant) == 0;
	bw_snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
	if (!same) {
		audit_op(c, "kms.p11.login", NULL,
			 ok ? AUDIT_OUTCOME_DENIED : AUDIT_OUTCOME_FAILURE, 0,
			 unavailable ? "identity store unavailable" :
			 ok ? "credential of another tenant" : "invalid PIN");
		c->tenant[0] = c->subject[0] = c->key_subject[0] = c->actor[0] = '\0';
		c->scopes[0] = '\0';
		atomic_fetch_add(&c->srv->logins_failed, 1);
		if (!unavailable) {
			struct timespec ts = { 0, P11_LOGIN_DELAY_MS * 1000000L };
			nanosleep(&ts, NULL);
		}
		fail(o, m->op, unavailable ? CKR_DEVICE_ERROR : CKR_PIN_INCORRECT,
		     unavailable ? "identity store unavailable" : NULL);
		return ++c->fails >= P11_LOGIN_FAILS_MAX ? -1 : 0;
	}
	c->logged_in = true;
	c->fails = 0;
	audit_op(c, "kms.p11.login", NULL, AUDIT_OUTCOME_SUCCESS, 0, NULL);
	return 0;
}

static bool p11_type(uint32_t t)
{
	return t == KEYSTORE_KT_AES256_GCM || keystore_key_type_is_signing(t);
}

static void h_list(struct conn *c, struct p11_enc *o)
{
	const struct p11_msg *m = c->msg;
	if (!allowed(c, "kms.key.read")) {
		fail(o, m->op, CKR_USER_NOT_LOGGED_IN, "no right to read keys");
		return;
	}
	char cursor[P11_NAME_MAX + 1] = "";
	if (p11_msg_count(m, P11_T_CURSOR) &&
	    !p11_msg_text(m, P11_T_CURSOR, 0, cursor, sizeof(cursor))) {
		fail(o, m->op, CKR_ARGUMENTS_BAD, "bad cursor");
		return;
	}
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	char why[KEYSTORE_ERROR_MAX + 1];
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_LIST, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, c->tenant);
	keystore_enc_u32(&e, KEYSTORE_TAG_LIMIT, P11_LIST_PAGE);
	if (cursor[0])
		keystore_enc_str(&e, KEYSTORE_TAG_CURSOR, cursor);
	CK_RV rv = ks_call(c, &e, 0, &r, why);
	if (rv != CKR_OK) {
		fail(o, m->op, rv, why);
		goto out;
	}
	size_t n = keystore_msg_items(r->msg);
	char last[P11_NAME_MAX + 1] = "";
	for (size_t i = 0; i < n && r->msg->nitems; i++) {
		size_t it = keystore_msg_item_index(r->msg, i);
		struct bw_str name;
		uint32_t type = 0, state = 0;
		bool exp = false;
		const struct keystore_field *id = keystore_msg_get(r->msg, it, KEYSTORE_TAG_KEY_ID);
		if (!keystore_msg_str(r->msg, it, KEYSTORE_TAG_KEY, &name) || !id ||
		    name.len > P11_NAME_MAX)
			continue;
		bw_snprintf(last, sizeof(last), "%.*s", (int)name.len, name.p);
		keystore_msg_u32(r->msg, it, KEYSTORE_TAG_KEY_TYPE, &type);
		keystore_msg_u32(r->msg, it, KEYSTORE_TAG_STATE, &state);
		keystore_msg_bool(r->msg, it, KEYSTORE_TAG_EXPORTABLE, &exp);
		if (name.p[0] == '_' || !p11_type(type) ||
		    state == KEYSTORE_STATE_DESTROYED)
			continue;
		p11_enc_str(o, P11_T_NAME, last);
		p11_enc_u32(o, P11_T_KTYPE, type);
		p11_enc_bytes(o, P11_T_KEYID, id->p, id->len);
		p11_enc_u32(o, P11_T_STATE, state);
		p11_enc_u32(o, P11_T_EXPORTABLE, exp);
	}
	/* A full page may have more after it. */
	if (n >= P11_LIST_PAGE && last[0])
		p11_enc_str(o, P11_T_CURSOR, last);
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
}

/* DER OCTET STRING around (p, n) (n < 65536). */
static size_t der_octets(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
	size_t h = n < 128 ? 2 : n < 256 ? 3 : 4;
	if (h + n > cap)
		return 0;
	out[0] = 0x04;
	if (n < 128) {
		out[1] = (uint8_t)n;
	} else if (n < 256) {
		out[1] = 0x81;
		out[2] = (uint8_t)n;
	} else {
		out[1] = 0x82;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
	}
	memcpy(out + h, p, n);
	return h + n;
}

/* The public parts of a key version's PEM, as PKCS#11 attributes. */
static CK_RV put_pubinfo(const uint8_t *pem, size_t len, struct p11_enc *o)
{
	CK_RV rv = CKR_DEVICE_ERROR;
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	uint8_t buf[P11_PUB_MAX], pt[256];
	size_t n = 0;
	if (!pk)
		goto out;
	uint8_t *spki = NULL;
	int sl = i2d_PUBKEY(pk, &spki);
	if (sl <= 0 || (size_t)sl > P11_PUB_MAX) {
		OPENSSL_free(spki);
		goto out;
	}
	p11_enc_bytes(o, P11_T_SPKI, spki, (size_t)sl);
	OPENSSL_free(spki);
	int id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_ED25519) {
		static const uint8_t oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
		size_t rl = 32;
		if (EVP_PKEY_get_raw_public_key(pk, pt, &rl) != 1 ||
		    !(n = der_octets(pt, rl, buf, sizeof(buf))))
			goto out;
		p11_enc_bytes(o, P11_T_EC_PARAMS, oid, sizeof(oid));
		p11_enc_bytes(o, P11_T_EC_POINT, buf, n);
	} else if (id == EVP_PKEY_EC) {
		char curve[64];
		size_t pl = 0;
		if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						    sizeof(curve), NULL) ||
		    !EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						     pt, sizeof(pt), &pl))
			goto out;
		int nid = OBJ_sn2nid(curve);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(curve);
		ASN1_OBJECT *obj = OBJ_nid2obj(nid);
		uint8_t *q = buf;
		int ol = obj ? i2d_ASN1_OBJECT(obj, NULL) : -1;
		if (ol <= 0 || (size_t)ol > 64 || i2d_ASN1_OBJECT(obj, &q) != ol)
			goto out;
		p11_enc_bytes(o, P11_T_EC_PARAMS, buf, (size_t)ol);
		if (!(n = der_octets(pt, pl, buf, sizeof(buf))))
			goto out;
		p11_enc_bytes(o, P11_T_EC_POINT, buf, n);
	} else if (id == EVP_PKEY_RSA) {
		BIGNUM *bn_n = NULL, *bn_e = NULL;
		int ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn_n) &&
			 EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &bn_e) &&
			 BN_num_bytes(bn_n) <= 1024 && BN_num_bytes(bn_e) <= 16;
		if (ok) {
			n = (size_t)BN_bn2bin(bn_n, buf);
			p11_enc_bytes(o, P11_T_MODULUS, buf, n);
			n = (size_t)BN_bn2bin(bn_e, buf);
			p11_enc_bytes(o, P11_T_EXPONENT, buf, n);
		}
		BN_free(bn_n);
		BN_free(bn_e);
		if (!ok)
			goto out;
	} else {
		goto out;
	}
	rv = CKR_OK;
out:
	EVP_PKEY_free(pk);
	BIO_free(b);
	return rv;
}

static void h_pubinfo(struct conn *c, struct p11_enc *o)
{
	const struct p11_msg *m = c->msg;
	char key[P11_NAME_MAX + 1];
	if (!key_name(m, key)) {
		fail(o, m->op, CKR_KEY_HANDLE_INVALID, "bad key name");
		return;
	}
	if (!allowed(c, "kms.key.read")) {
		fail(o, m->op, CKR_USER_NOT_LOGGED_IN, "no right to read keys");
		return;
	}
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	char why[KEYSTORE_ERROR_MAX + 1];
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_PUBKEY, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, c->tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	keystore_enc_u32(&e, KEYSTORE_TAG_FORMAT, KEYSTORE_FMT_PEM);
	CK_RV rv = ks_call(c, &e, 0, &r, why);
	if (rv != CKR_OK) {
		fail(o, m->op, rv, why);
	} else {
		const struct keystore_field *f = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_PUBKEY);
		rv = f ? put_pubinfo(f->p, f->len, o) : CKR_DEVICE_ERROR;
		if (rv != CKR_OK)
			fail(o, m->op, rv, "cannot read the public key");
	}
	kms_reply_free(r);
	keystore_enc_fini(&e);
}

static void h_genkey(struct conn *c, struct p11_enc *o)
{
	const struct p11_msg *m = c->msg;
	char key[P11_NAME_MAX + 1];
	uint32_t type = 0, exp = 0;
	if (!key_name(m, key) || !p11_msg_u32(m, P11_T_KTYPE, 0, &type) ||
	    !p11_type(type)) {
		fail(o, m->op, CKR_TEMPLATE_INCONSISTENT, "bad key name or type");
		return;
	}
	p11_msg_u32(m, P11_T_EXPORTABLE, 0, &exp);
	if (!allowed(c, "kms.key.manage")) {
		audit_op(c, "kms.p11.create", key, AUDIT_OUTCOME_DENIED, 0,
			 "permission denied");
		fail(o, m->op, CKR_USER_NOT_LOGGED_IN, "no right to create keys");
		return;
	}
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	char why[KEYSTORE_ERROR_MAX + 1];
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_CREATE, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, c->tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	keystore_enc_u32(&e, KEYSTORE_TAG_KEY_TYPE, type);
	keystore_enc_bool(&e, KEYSTORE_TAG_EXPORTABLE, exp != 0);
	/* RSA-4096 generation takes seconds on a loaded machine. */
	CK_RV rv = ks_call(c, &e, 120000, &r, why);
	if (rv != CKR_OK) {
		audit_op(c, "kms.p11.create", key, AUDIT_OUTCOME_FAILURE, 0, why);
		fail(o, m->op, rv, why);
	} else {
		const struct keystore_field *id = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_KEY_ID);
		if (id)
			p11_enc_bytes(o, P11_T_KEYID, id->p, id->len);
		audit_op(c, "kms.p11.create", key, AUDIT_OUTCOME_SUCCESS, 0, NULL);
	}
	kms_reply_free(r);
	keystore_enc_fini(&e);
}

/* ECDSA: the key process speaks DER, PKCS#11 raw r || s (each half the
 * curve's size: 32 or 48 bytes). */
static size_t ecdsa_der_to_raw(const uint8_t *der, size_t n, uint8_t *out,
			       size_t half)
{
	const uint8_t *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)n);
	size_t rc = 0;
	if (s && (size_t)(p - der) == n &&
	    BN_bn2binpad(ECDSA_SIG_get0_r(s), out, (int)half) == (int)half &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(s), out + half, (int)half) == (int)half)
		rc = 2 * half;
	ECDSA_SIG_free(s);
	return rc;
}

static size_t ecdsa_raw_to_der(const uint8_t *raw, size_t n, uint8_t *out,
			       size_t cap)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(n / 2), NULL);
	BIGNUM *t = BN_bin2bn(raw + n / 2, (int)(n / 2), NULL);
	size_t rc = 0;
	if (s && r && t && ECDSA_SIG_set0(s, r, t) == 1) {
		r = t = NULL;
		int l = i2d_ECDSA_SIG(s, NULL);
		uint8_t *q = out;
		if (l > 0 && (size_t)l <= cap && i2d_ECDSA_SIG(s, &q) == l)
			rc = (size_t)l;
	}
	BN_free(r);
	BN_free(t);
	ECDSA_SIG_free(s);
	return rc;
}

/* Looks the key's type up (KEY_GET): the signature shapes depend on it. */
static CK_RV key_type_of(struct conn *c, const char *key, uint32_t *type)
{
	for (unsigned i = 0; i < P11_TYPE_CACHE; i++)
		if (c->types[i].type && strcmp(c->types[i].name, key) == 0) {
			*type = c->types[i].type;
			return CKR_OK;
		}
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	char why[KEYSTORE_ERROR_MAX + 1];
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_GET, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, c->tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	CK_RV rv = ks_call(c, &e, 0, &r, why);
	if (rv == CKR_OK && !keystore_msg_u32(r->msg, 0, KEYSTORE_TAG_KEY_TYPE, type))
		rv = CKR_DEVICE_ERROR;
	if (rv == CKR_OK) {
		unsigned i = c->ntypes_next++ % P11_TYPE_CACHE;
		bw_snprintf(c->types[i].name, sizeof(c->types[i].name), "%s", key);
		c->types[i].type = *type;
	}
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return rv;
}

static bool sig_shape(uint32_t alg, uint32_t type, size_t *half)
{
	*half = 0;
	switch (alg) {
	case P11_SIG_ECDSA:
		*half = type == KEYSTORE_KT_ECDSA_P256 ? 32 :
			type == KEYSTORE_KT_ECDSA_P384 ? 48 : 0;
		return *half != 0;
	case P11_SIG_EDDSA:
		return type == KEYSTORE_KT_ED25519;
	case P11_SIG_RSA_PKCS1:
	case P11_SIG_RSA_PSS:
		return type >= KEYSTORE_KT_RSA_2048 && type <= KEYSTORE_KT_RSA_4096;
	default:
		return false;
	}
}

static void h_sign_verify(struct conn *c, struct p11_enc *o, bool verify)
{
	const struct p11_msg *m = c->msg;
	const char *action = verify ? "kms.p11.verify" : "kms.p11.sign";
	char key[P11_NAME_MAX + 1];
	uint32_t alg = 0, hash = 0, type = 0;
	const struct p11_field *data = p11_msg_get(m, P11_T_DATA, 0);
	const struct p11_field *sig = p11_msg_get(m, P11_T_SIG, 0);
	if (!key_name(m, key) || !p11_msg_u32(m, P11_T_SIGALG, 0, &alg) || !data ||
	    p11_msg_count(m, P11_T_DATA) != 1 || (verify && !sig)) {
		fail(o, m->op, CKR_ARGUMENTS_BAD, "key, algorithm and data are required");
		return;
	}
	p11_msg_u32(m, P11_T_HASH, 0, &hash);
	if (!allowed(c, "kms.key.use")) {
		audit_op(c, action, key, AUDIT_OUTCOME_DENIED, 0, "permission denied");
		fail(o, m->op, CKR_KEY_FUNCTION_NOT_PERMITTED, "no right to use keys");
		return;
	}
	size_t half;
	CK_RV rv = key_type_of(c, key, &type);
	if (rv == CKR_OK && !sig_shape(alg, type, &half))
		rv = CKR_KEY_TYPE_INCONSISTENT;
	if (rv != CKR_OK) {
		audit_op(c, action, key, AUDIT_OUTCOME_FAILURE, 0, "key or mechanism");
		fail(o, m->op, rv, "key or mechanism does not fit");
		return;
	}
	uint8_t der[P11_SIG_MAX];
	size_t dlen = 0;
	if (verify) {
		if (alg == P11_SIG_ECDSA) {
			if (sig->len != 2 * half ||
			    !(dlen = ecdsa_raw_to_der(sig->p, sig->len, der, sizeof(der)))) {
				audit_op(c, action, key, AUDIT_OUTCOME_FAILURE, 0, "bad signature");
				fail(o, m->op, CKR_SIGNATURE_LEN_RANGE, NULL);
				return;
			}
		} else {
			memcpy(der, sig->p, sig->len);
			dlen = sig->len;
		}
	}
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	char why[KEYSTORE_ERROR_MAX + 1];
	keystore_enc_init(&e, KEYSTORE_REQUEST,
			  verify ? KEYSTORE_OP_VERIFY : KEYSTORE_OP_SIGN, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, c->tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	keystore_enc_bytes(&e, KEYSTORE_TAG_MESSAGE, data->p, data->len);
	if (alg != P11_SIG_EDDSA) {
		keystore_enc_bool(&e, KEYSTORE_TAG_PREHASHED, true);
		keystore_enc_u32(&e, KEYSTORE_TAG_HASH, hash);
	}
	if (alg == P11_SIG_RSA_PKCS1 || alg == P11_SIG_RSA_PSS)
		keystore_enc_u32(&e, KEYSTORE_TAG_PADDING,
				 alg == P11_SIG_RSA_PSS ? KEYSTORE_PAD_PSS : KEYSTORE_PAD_PKCS1);
	if (verify)
		keystore_enc_bytes(&e, KEYSTORE_TAG_SIGNATURE, der, dlen);
	bool valid = false;
	rv = ks_call(c, &e, 0, &r, why);
	if (rv != CKR_OK) {
		/* a digest the key refuses (length, hash) is bad data */
		if (r && r->status == KEYSTORE_E_BAD_REQUEST)
			rv = CKR_DATA_LEN_RANGE;
		audit_op(c, action, key, AUDIT_OUTCOME_FAILURE, 0, why);
		fail(o, m->op, rv, why);
	} else if (verify) {
		keystore_msg_bool(r->msg, 0, KEYSTORE_TAG_VALID, &valid);
		uint32_t ver = 0;
		keystore_msg_u32(r->msg, 0, KEYSTORE_TAG_VERSION, &ver);
		if (valid)
			audit_use(c, action, key, ver, 1);
		else
			audit_op(c, action, key, AUDIT_OUTCOME_SUCCESS, 0,
				 "signature invalid");
		if (!valid)
			fail(o, m->op, CKR_SIGNATURE_INVALID, NULL);
	} else {
		const struct keystore_field *s = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_SIGNATURE);
		uint8_t raw[P11_SIG_MAX];
		size_t rl = 0;
		if (s && alg == P11_SIG_ECDSA)
			rl = ecdsa_der_to_raw(s->p, s->len, raw, half);
		else if (s && s->len <= sizeof(raw))
			memcpy(raw, s->p, rl = s->len);
		if (!rl) {
			audit_op(c, action, key, AUDIT_OUTCOME_FAILURE, 0, "bad reply");
			fail(o, m->op, CKR_DEVICE_ERROR, "bad signature from the key process");
		} else {
			uint32_t ver = 0;
			keystore_msg_u32(r->msg, 0, KEYSTORE_TAG_VERSION, &ver);
			p11_enc_bytes(o, P11_T_SIG, raw, rl);
			audit_use(c, action, key, ver, 1);
		}
	}
	kms_reply_free(r);
	keystore_enc_fini(&e);
}

static void h_crypt(struct conn *c, struct p11_enc *o, bool enc)
{
	const struct p11_msg *m = c->msg;
	const char *action = enc ? "kms.p11.encrypt" : "kms.p11.decrypt";
	char key[P11_NAME_MAX + 1];
	size_t n = p11_msg_count(m, P11_T_DATA);
	if (!key_name(m, key) || n == 0 || n > P11_BATCH_MAX ||
	    p11_msg_count(m, P11_T_IV) != n) {
		fail(o, m->op, CKR_ARGUMENTS_BAD, "key, IVs and data are required");
		return;
	}
	if (!allowed(c, "kms.key.use")) {
		audit_op(c, action, key, AUDIT_OUTCOME_DENIED, (unsigned)n,
			 "permission denied");
		fail(o, m->op, CKR_KEY_FUNCTION_NOT_PERMITTED, "no right to use keys");
		return;
	}
	const struct p11_field *aad = p11_msg_get(m, P11_T_AAD, 0);
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	char whybuf[KEYSTORE_ERROR_MAX + 1];
	keystore_enc_init(&e, KEYSTORE_REQUEST,
			  enc ? KEYSTORE_OP_GCM_ENCRYPT : KEYSTORE_OP_GCM_DECRYPT, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, c->tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	if (aad)
		keystore_enc_bytes(&e, KEYSTORE_TAG_AAD, aad->p, aad->len);
	for (size_t i = 0; i < n; i++) {
		const struct p11_field *iv = p11_msg_get(m, P11_T_IV, i);
		const struct p11_field *d = p11_msg_get(m, P11_T_DATA, i);
		if (n > 1)
			keystore_enc_item(&e);
		keystore_enc_bytes(&e, KEYSTORE_TAG_NONCE, iv->p, iv->len);
		keystore_enc_bytes(&e, enc ? KEYSTORE_TAG_PLAINTEXT : KEYSTORE_TAG_RAW,
				   d->p, d->len);
	}
	const char *why = NULL;
	uint32_t ver = 0;
	CK_RV rv = ks_call(c, &e, 0, &r, whybuf);
	if (rv != CKR_OK) {
		why = whybuf;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t it = n > 1 ? keystore_msg_item_index(r->msg, i) : 0;
		uint32_t st = KEYSTORE_OK;
		if (n > 1 && !keystore_msg_u32(r->msg, it, KEYSTORE_TAG_STATUS, &st))
			st = KEYSTORE_E_INTERNAL;
		const struct keystore_field *f = keystore_msg_get(
			r->msg, it, enc ? KEYSTORE_TAG_RAW : KEYSTORE_TAG_PLAINTEXT);
		if (st != KEYSTORE_OK || !f) {
			rv = st == KEYSTORE_OK ? CKR_DEVICE_ERROR : rv_of(st);
			why = keystore_status_name(st);
			goto out;
		}
		p11_enc_bytes(o, P11_T_DATA, f->p, f->len);
		/* The version of the items (0 when a batch mixes versions). */
		uint32_t v = 0;
		keystore_msg_u32(r->msg, it, KEYSTORE_TAG_VERSION, &v);
		ver = i == 0 ? v : ver == v ? ver : 0;
	}
out:
	if (rv == CKR_OK)
		audit_use(c, action, key, ver, (unsigned)n);
	else
		audit_op(c, action, key, AUDIT_OUTCOME_FAILURE, (unsigned)n, why);
	if (rv != CKR_OK)
		fail(o, m->op, rv, why);
	kms_reply_free(r);
	keystore_enc_fini(&e);
}

static void h_random(struct conn *c, struct p11_enc *o)
{
	const struct p11_msg *m = c->msg;
	uint32_t count = 0;
	if (!p11_msg_u32(m, P11_T_COUNT, 0, &count) || count == 0 ||
	    count > P11_RANDOM_MAX) {
		fail(o, m->op, CKR_ARGUMENTS_BAD, "1..4096 bytes");
		return;
	}
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	char why[KEYSTORE_ERROR_MAX + 1];
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_RANDOM, 0, 0);
	keystore_enc_u32(&e, KEYSTORE_TAG_COUNT, count);
	CK_RV rv = ks_call(c, &e, 0, &r, why);
	if (rv != CKR_OK) {
		fail(o, m->op, rv, why);
	} else {
		const struct keystore_field *f = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_MESSAGE);
		if (!f)
			f = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_PLAINTEXT);
		if (f && f->len == count)
			p11_enc_bytes(o, P11_T_DATA, f->p, f->len);
		else
			fail(o, m->op, CKR_DEVICE_ERROR, "bad reply");
	}
	kms_reply_free(r);
	keystore_enc_fini(&e);
}

/* One request; -1 closes the connection. */
static int handle(struct conn *c, struct p11_enc *o)
{
	const struct p11_msg *m = c->msg;
	p11_enc_init(o, m->op, CKR_OK);
	int rc = 0;
	switch (m->op) {
	case P11_OP_SLOTS:
		h_slots(c, o);
		break;
	case P11_OP_LOGIN:
		rc = h_login(c, o);
		break;
	case P11_OP_RANDOM:
		h_random(c, o);
		break;
	case P11_OP_LOGOUT:
		if (c->logged_in)
			audit_op(c, "kms.p11.logout", NULL, AUDIT_OUTCOME_SUCCESS, 0, NULL);
		c->logged_in = false;
		c->tenant[0] = c->subject[0] = c->key_subject[0] = c->actor[0] = '\0';
		c->scopes[0] = '\0';
		memset(c->allowed_until, 0, sizeof(c->allowed_until));
		memset(c->types, 0, sizeof(c->types));
		break;
	default:
		if (!c->logged_in) {
			fail(o, m->op, CKR_USER_NOT_LOGGED_IN, NULL);
			break;
		}
		switch (m->op) {
		case P11_OP_LIST:
			h_list(c, o);
			break;
		case P11_OP_PUBINFO:
			h_pubinfo(c, o);
			break;
		case P11_OP_GENKEY:
			h_genkey(c, o);
			break;
		case P11_OP_SIGN:
		case P11_OP_VERIFY:
			h_sign_verify(c, o, m->op == P11_OP_VERIFY);
			break;
		case P11_OP_ENCRYPT:
		case P11_OP_DECRYPT:
			h_crypt(c, o, m->op == P11_OP_ENCRYPT);
			break;
		default:
			fail(o, m->op, CKR_FUNCTION_NOT_SUPPORTED, NULL);
		}
	}
	return rc;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct p11_enc o = { 0 };
	for (;;) {
		/* Counted successes are written within P11_AUDIT_WINDOW_MS even
		 * when the session goes quiet. */
		if (c->agg.count) {
			int64_t left = c->agg.first_ms + P11_AUDIT_WINDOW_MS - mono_ms();
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
				audit_flush(c);
		}
		long n = p11_wire_recv(c->fd, c->buf, P11_WIRE_MSG_MAX, P11_FRAME_TIMEOUT_MS);
		if (n <= 0)
			break;
		const char *why = NULL;
		if (p11_msg_decode(c->msg, c->buf, (size_t)n, &why) < 0 ||
		    c->msg->status != 0) {
			log_warnx("pkcs11: malformed request (%s): connection closed",
				  why ? why : "status set");
			break;
		}
		atomic_fetch_add(&c->srv->requests, 1);
		int rc = handle(c, &o);
		int sent = reply(c, &o);
		p11_enc_fini(&o);
		bw_wipe(c->buf, (size_t)n);
		if (rc < 0 || sent < 0)
			break;
	}
	if (c->logged_in)
		audit_op(c, "kms.p11.logout", NULL, AUDIT_OUTCOME_SUCCESS, 0, NULL);
	shutdown(c->fd, SHUT_RDWR);
	atomic_store(&c->done, true);
	return NULL;
}

/* Joins finished connections; returns a free slot or NULL. Under mu. */
static struct conn *free_slot(struct kms_p11_server *s)
{
	struct conn *fr = NULL;
	for (unsigned i = 0; i < s->o.max_conns; i++) {
		struct conn *c = &s->conns[i];
		if (c->used && atomic_load(&c->done)) {
			pthread_join(c->th, NULL);
			close(c->fd);
			c->used = false;
		}
		if (!c->used && !fr)
			fr = c;
	}
	return fr;
}

static void *accept_main(void *arg)
{
	struct kms_p11_server *s = arg;
	int64_t last_full = 0;
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			pthread_mutex_lock(&s->mu);
			bool stop = s->stopping;
			pthread_mutex_unlock(&s->mu);
			if (stop)
				break;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timespec ts = { 0, 100 * 1000000L };
				nanosleep(&ts, NULL);
				continue;
			}
			log_warn("pkcs11: accept");
			break;
		}
		pthread_mutex_lock(&s->mu);
		struct conn *c = s->stopping ? NULL : free_slot(s);
		if (c) {
			uint8_t *buf = c->buf;
			struct p11_msg *msg = c->msg;
			memset(c, 0, sizeof(*c));
			c->buf = buf;
			c->msg = msg;
			c->srv = s;
			c->fd = fd;
			c->used = true;
			if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
				c->used = false;
				c = NULL;
			}
		}
		pthread_mutex_unlock(&s->mu);
		if (!c) {
			if (mono_ms() - last_full > 10000) {
				log_warnx("pkcs11: %u sessions open: connection refused",
					  s->o.max_conns);
				last_full = mono_ms();
			}
			close(fd);
		}
	}
	return NULL;
}

struct kms_p11_server *kms_p11_serve_start(const struct kms_p11_options *o,
					   struct bw_err *err)
{
	struct kms_p11_server *s = calloc(1, sizeof(*s));
	if (!s) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		return NULL;
	}
	s->o = *o;
	s->lfd = -1;
	if (!s->o.max_conns || s->o.max_conns > P11_CONN_MAX)
		s->o.max_conns = P11_CONN_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	if (!o->path || bw_snprintf(s->path, sizeof(s->path), "%s", o->path) < 0) {
		bw_err_set(err, 400, M, "p11_socket", "socket path missing or too long");
		goto fail;
	}
	s->conns = calloc(s->o.max_conns, sizeof(*s->conns));
	if (!s->conns) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < s->o.max_conns; i++) {
		s->conns[i].buf = malloc(P11_WIRE_MSG_MAX);
		s->conns[i].msg = malloc(sizeof(struct p11_msg));
		if (!s->conns[i].buf || !s->conns[i].msg) {
			bw_err_set(err, 500, M, "memory", "out of memory");
			goto fail;
		}
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		bw_err_set(err, 500, M, "p11_socket", "socket: %s", strerror(errno));
		goto fail;
	}
	/* A socket left by an earlier run; never anything else. */
	struct stat st;
	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			bw_err_set(err, 409, M, "p11_socket", "%s exists and is not a socket",
				   s->path);
			goto fail;
		}
		unlink(s->path);
	}
	mode_t old = umask(0177);
	int b = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (b < 0 || chmod(s->path, o->mode ? o->mode : 0660) < 0 ||
	    listen(s->lfd, 64) < 0) {
		bw_err_set(err, 500, M, "p11_socket", "%s: %s", s->path, strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->accept_th, NULL, accept_main, s) != 0) {
		bw_err_set(err, 500, M, "p11_socket", "cannot start the accept thread");
		unlink(s->path);
		goto fail;
	}
	log_info("pkcs11: serving on %s (mode %04o, %u sessions)", s->path,
		 o->mode ? o->mode : 0660, s->o.max_conns);
	return s;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	for (unsigned i = 0; s->conns && i < s->o.max_conns; i++) {
		free(s->conns[i].buf);
		free(s->conns[i].msg);
	}
	free(s->conns);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return NULL;
}

void kms_p11_serve_stop(struct kms_p11_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	/* Wake the accept thread and every connection thread. */
	shutdown(s->lfd, SHUT_RDWR);
	for (unsigned i = 0; i < s->o.max_conns; i++)
		if (s->conns[i].used)
			shutdown(s->conns[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->accept_th, NULL);
	for (unsigned i = 0; i < s->o.max_conns; i++) {
		struct conn *c = &s->conns[i];
		if (c->used) {
			pthread_join(c->th, NULL);
			close(c->fd);
		}
		if (c->buf)
			bw_wipe(c->buf, P11_WIRE_MSG_MAX);
		free(c->buf);
		free(c->msg);
	}
	close(s->lfd);
	unlink(s->path);
	free(s->conns);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void kms_p11_stats(struct kms_p11_server *s, uint64_t *requests,
		   uint64_t *logins_failed)
{
	*requests = s ? atomic_load(&s->requests) : 0;
	*logins_failed = s ? atomic_load(&s->logins_failed) : 0;
}
