/*
 * WebAuthn ceremonies with storage: challenges (issued per user and
 * purpose, stored as SHA-256, used once, IAM_WEBAUTHN_CHALLENGE_TTL_S),
 * credential options for the browser, credentials per user per tenant
 * (credential id, COSE public key, counter; never anything secret), and
 * the counter update after an assertion.
 *
 * Invariants: a challenge is deleted by the statement that finds it, so
 * it can never be used twice, even by two concurrent requests; the
 * counter is written with a conditional UPDATE on the value the
 * assertion was checked against, so two assertions racing with the same
 * counter cannot both pass; a credential id is unique per tenant, and a
 * credential is only ever used by the user that registered it.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"
#include "event/event.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

static int challenge_new(struct iam *iam, const char *tenant,
			 const char *user_id, const char *purpose, char b64[64],
			 struct bw_err *err)
{
	uint8_t c[IAM_WEBAUTHN_CHALLENGE_LEN], h[32];
	bw_random(c, sizeof(c));
	crypto_b64url_encode_to(c, sizeof(c), b64);
	crypto_sha256(c, sizeof(c), h);
	int64_t now = bw_clock_now_s();
	struct store_value d[] = {store_int(now)};
	struct bw_err e2;
	/* Old challenges go as new ones come: the table stays small. */
	if (store_exec(iam->store,
		       "DELETE FROM iam_webauthn_challenge WHERE expires <= ?",
		       d, 1, NULL, &e2) < 0)
		log_warnx("iam: expired webauthn challenges kept: %s", e2.msg);
	struct store_value v[] = {
	    store_blob(h, 32), store_text_str(tenant), store_text_str(user_id),
	    store_text_str(purpose),
	    store_int(now + IAM_WEBAUTHN_CHALLENGE_TTL_S)};
	return store_exec(iam->store,
			  "INSERT INTO iam_webauthn_challenge (hash, tenant,"
			  " user_id, purpose, expires) VALUES (?, ?, ?, ?, ?)",
			  v, 5, NULL, err);
}

/* Consumes the challenge: 0 when it was issued to this user for this
 * purpose and is still live, else -1 (400 "bad_challenge"). */
static int challenge_take(struct iam *iam, const char *tenant,
			  const char *user_id, const char *purpose,
			  const uint8_t *c, size_t n, struct bw_err *err)
{
	uint8_t h[32];
	int64_t changes = 0;
	crypto_sha256(c, n, h);
	struct store_value k[] = {
	    store_blob(h, 32), store_text_str(tenant), store_text_str(user_id),
	    store_text_str(purpose), store_int(bw_clock_now_s())};
	if (store_exec(iam->store,
		       "DELETE FROM iam_webauthn_challenge WHERE hash = ? AND"
		       " tenant = ? AND user_id = ? AND purpose = ? AND"
		       " expires > ?",
		       k, 5, &changes, err) < 0)
		return -1;
	if (changes != 1)
		return bw_err_set(err, 400, "iam", "bad_challenge",
				  "webauthn: unknown, used or expired "
				  "challenge");
	return 0;
}

static void handle_of(const uint8_t *id, size_t n, char out[IAM_ID_LEN + 1])
{
	uint8_t h[32];
	crypto_sha256(id, n, h);
	bw_hex_encode(h, IAM_ID_LEN / 2, out);
}

struct cred_ids {
	struct json_writer *w;
	size_t n;
};

static int cred_id_row(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	(void)err;
	struct cred_ids *c = arg;
	size_t n = 0;
	const void *id = store_row_blob(row, 0, &n);
	char b64[1400]; /* base64url of IAM_WEBAUTHN_CRED_ID_MAX bytes: 1364 */
	if (!id || n == 0 || n > IAM_WEBAUTHN_CRED_ID_MAX)
		return STORE_ROW_NEXT;
	crypto_b64url_encode_to(id, n, b64);
	json_write_object_begin(c->w);
	json_write_kv_string(c->w, "type", "public-key");
	json_write_kv_string(c->w, "id", b64);
	json_write_object_end(c->w);
	c->n++;
	return STORE_ROW_NEXT;
}

static int write_cred_list(struct iam *iam, const char *tenant,
			   const char *user_id, struct json_writer *w,
			   size_t *n, struct bw_err *err)
{
	struct cred_ids c = {w, 0};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	json_write_array_begin(w);
	int rc = store_query(iam->store,
			     "SELECT cred_id FROM iam_webauthn_cred WHERE"
			     " tenant = ? AND user_id = ? ORDER BY created",
			     k, 2, cred_id_row, &c, err);
	json_write_array_end(w);
	*n = c.n;
	return rc;
}

static void write_alg(struct json_writer *w, int alg)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "type", "public-key");
	json_write_kv_int(w, "alg", alg);
	json_write_object_end(w);
}

int iam_webauthn_register_begin(struct iam *iam,
				const struct iam_webauthn_rp *rp,
				const char *tenant, const char *user_id,
				struct bw_buf *options, struct bw_err *err)
{
	struct iam_user u;
	char ch[64], uid[64];
	struct json_writer w;
	size_t n;
	if (iam_mfa_ready(iam, err) < 0 ||
	    iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	if (challenge_new(iam, tenant, user_id, "register", ch, err) < 0)
		return -1;
	/* user.id is an opaque handle: our random user id, never the name
	 * (section 14.6.1: no personally identifying information). */
	crypto_b64url_encode_to(u.id, strlen(u.id), uid);
	json_writer_init(&w, options);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "challenge", ch);
	json_write_key(&w, "rp");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "id", rp->rp_id);
	json_write_kv_string(&w, "name", rp->rp_name ? rp->rp_name : "bulwark");
	json_write_object_end(&w);
	json_write_key(&w, "user");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "id", uid);
	json_write_kv_string(&w, "name", u.name);
	json_write_kv_string(&w, "displayName",
			     u.display_name[0] ? u.display_name : u.name);
	json_write_object_end(&w);
	json_write_key(&w, "pubKeyCredParams");
	json_write_array_begin(&w);
	write_alg(&w, IAM_COSE_ES256);
	write_alg(&w, IAM_COSE_EDDSA);
	write_alg(&w, IAM_COSE_RS256);
	json_write_array_end(&w);
	json_write_kv_int(&w, "timeout", IAM_WEBAUTHN_CHALLENGE_TTL_S * 1000);
	/* "direct" lets "packed" statements through; we verify them but do
	 * not require a trusted chain, so "none" remains fine too. */
	json_write_kv_string(&w, "attestation", "direct");
	json_write_key(&w, "authenticatorSelection");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "residentKey", "discouraged");
	json_write_kv_string(&w, "userVerification",
			     rp->require_uv ? "required" : "preferred");
	json_write_object_end(&w);
	json_write_key(&w, "excludeCredentials");
	if (write_cred_list(iam, tenant, user_id, &w, &n, err) < 0)
		return -1;
	json_write_object_end(&w);
	if (n >= IAM_WEBAUTHN_CREDS_PER_USER)
		return bw_err_set(err, 409, "iam", "too_many",
				  "at most %d security keys per user",
				  IAM_WEBAUTHN_CREDS_PER_USER);
	if (json_writer_finish(&w) < 0)
		return bw_err_set(err, 500, "iam", "too_large",
				  "options too large");
	return 0;
}

/* Decodes a base64url field into a fresh buffer (caller frees). */
static uint8_t *b64_field(const char *s, size_t max, size_t *n,
			  const char *what, struct bw_err *err)
{
	size_t sl = s ? strlen(s) : 0;
	if (sl == 0 || sl > crypto_b64url_len(max)) {
		bw_err_set(err, 400, "iam", "bad_request",
			   "webauthn: %s missing or too long", what);
		return NULL;
	}
	uint8_t *b = malloc(crypto_b64url_decoded_max(sl));
	if (!b) {
		bw_err_set(err, 503, "iam", "memory", "out of memory");
		return NULL;
	}
	if (crypto_b64url_decode(s, sl, b, crypto_b64url_decoded_max(sl), n,
				 err) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

int iam_webauthn_register_finish(struct iam *iam,
				 const struct iam_webauthn_rp *rp,
				 const char *tenant, const char *user_id,
				 const char *name, const char *client_data_b64,
				 const char *attestation_b64,
				 struct iam_webauthn_cred_info *info,
				 struct bw_err *err)
{
	size_t cdn = 0, an = 0;
	int rc = -1;
	struct iam_webauthn_reg *r = calloc(1, sizeof(*r));
	uint8_t *cd = b64_field(client_data_b64, IAM_WEBAUTHN_CLIENT_DATA_MAX,
				&cdn, "clientDataJSON", err);
	uint8_t *att =
	    cd ? b64_field(attestation_b64, IAM_WEBAUTHN_ATTESTATION_MAX, &an,
			   "attestationObject", err)
	       : NULL;
	char nm[IAM_WEBAUTHN_NAME_MAX + 1];
	if (!r || !cd || !att) {
		if (!r)
			bw_err_set(err, 503, "iam", "memory", "out of memory");
		goto out;
	}
	if (bw_snprintf(nm, sizeof(nm), "%s",
			name && *name ? name : "security key") < 0 ||
	    !iam_valid_name(nm)) {
		bw_err_set(err, 400, "iam", "bad_name",
			   "key names are 1..%d printable characters",
			   IAM_WEBAUTHN_NAME_MAX);
		goto out;
	}
	if (iam_mfa_ready(iam, err) < 0 ||
	    iam_webauthn_verify_registration(rp, cd, cdn, att, an, r, err) <
		0 ||
	    challenge_take(iam, tenant, user_id, "register", r->challenge,
			   r->challenge_len, err) < 0)
		goto out;
	char handle[IAM_ID_LEN + 1];
	handle_of(r->cred_id, r->cred_id_len, handle);
	int64_t now = bw_clock_now_s();
	struct store_value v[] = {store_text_str(tenant),
				  store_blob(r->cred_id, r->cred_id_len),
				  store_text_str(handle),
				  store_text_str(user_id),
				  store_text_str(nm),
				  store_blob(r->cose_key, r->cose_key_len),
				  store_int(r->alg),
				  store_int(r->sign_count),
				  store_blob(r->aaguid, 16),
				  store_text_str(r->fmt),
				  store_text_str(r->att_type),
				  store_int(now)};
	struct bw_err e2;
	if (store_exec(iam->store,
		       "INSERT INTO iam_webauthn_cred (tenant, cred_id, handle,"
		       " user_id, name, cose_key, alg, sign_count, aaguid, fmt,"
		       " att_type, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
		       " ?, ?, ?)",
		       v, BW_ARRAY_LEN(v), NULL, &e2) < 0) {
		/* A credential id seen before (the exclude list was ignored):
		 * never let it move to another user. */
		if (e2.code < 500)
			bw_err_set(err, 409, "iam", "conflict",
				   "this security key is already registered");
		else
			*err = e2;
		goto out;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		memcpy(info->handle, handle, sizeof(handle));
		memcpy(info->name, nm, strlen(nm) + 1);
		info->alg = r->alg;
		info->sign_count = r->sign_count;
		memcpy(info->fmt, r->fmt, sizeof(info->fmt));
		memcpy(info->att_type, r->att_type, sizeof(info->att_type));
		info->created = now;
	}
	rc = 0;
out:
	free(r);
	free(cd);
	free(att);
	return rc;
}

int iam_webauthn_assert_begin(struct iam *iam, const struct iam_webauthn_rp *rp,
			      const char *tenant, const char *user_id,
			      struct bw_buf *options, struct bw_err *err)
{
	char ch[64];
	struct json_writer w;
	size_t n;
	if (iam_mfa_ready(iam, err) < 0 ||
	    challenge_new(iam, tenant, user_id, "assert", ch, err) < 0)
		return -1;
	json_writer_init(&w, options);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "challenge", ch);
	json_write_kv_string(&w, "rpId", rp->rp_id);
	json_write_kv_int(&w, "timeout", IAM_WEBAUTHN_CHALLENGE_TTL_S * 1000);
	json_write_kv_string(&w, "userVerification",
			     rp->require_uv ? "required" : "preferred");
	json_write_key(&w, "allowCredentials");
	if (write_cred_list(iam, tenant, user_id, &w, &n, err) < 0)
		return -1;
	json_write_object_end(&w);
	if (n == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no security key registered");
	if (json_writer_finish(&w) < 0)
		return bw_err_set(err, 500, "iam", "too_large",
				  "options too large");
	return 0;
}

struct cred_row {
	char user_id[IAM_ID_LEN + 1];
	char name[IAM_NAME_MAX + 1];
	uint8_t cose[IAM_WEBAUTHN_COSE_MAX];
	size_t cose_len;
	int64_t count;
};

static int cred_row_fn(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	struct cred_row *c = arg;
	size_t n = 0;
	const void *k = store_row_blob(row, 1, &n);
	if (!k || n > sizeof(c->cose))
		return bw_err_set(err, 500, "iam", "corrupt", "bad stored key");
	memcpy(c->cose, k, n);
	c->cose_len = n;
	c->count = store_row_int64(row, 2);
	return iam_row_text(row, 0, c->user_id, sizeof(c->user_id), err);
}

static void emit_counter_event(const char *tenant, const char *user,
			       const char *handle)
{
	struct bw_event ev;
	bw_event_init(&ev, "authentication", "webauthn-counter",
		      BW_OUTCOME_FAILURE);
	ev.severity = 8; /* a cloned authenticator is a serious signal */
	BW_EVENT_SET(&ev, tenant, tenant);
	BW_EVENT_SET(&ev, user, user);
	bw_event_add_field(&ev, "reason", "counter");
	bw_event_add_field(&ev, "credential", handle);
	(void)bw_event_emit(&ev);
}

int iam_webauthn_assert_finish(
    struct iam *iam, const struct iam_webauthn_rp *rp, const char *tenant,
    const char *user_id, const char *cred_id_b64, const char *client_data_b64,
    const char *auth_data_b64, const char *sig_b64, struct bw_err *err)
{
	size_t idn = 0, cdn = 0, adn = 0, sn = 0;
	int rc = -1;
	struct cred_row c;
	struct iam_webauthn_assert a;
	char handle[IAM_ID_LEN + 1] = "";
	uint8_t *id = b64_field(cred_id_b64, IAM_WEBAUTHN_CRED_ID_MAX, &idn,
				"credential id", err);
	uint8_t *cd =
	    id ? b64_field(client_data_b64, IAM_WEBAUTHN_CLIENT_DATA_MAX, &cdn,
			   "clientDataJSON", err)
	       : NULL;
	uint8_t *ad = cd ? b64_field(auth_data_b64, IAM_WEBAUTHN_AUTHDATA_MAX,
				     &adn, "authenticatorData", err)
			 : NULL;
	uint8_t *sig =
	    ad ? b64_field(sig_b64, IAM_WEBAUTHN_SIG_MAX, &sn, "signature", err)
	       : NULL;
	if (!sig || iam_mfa_ready(iam, err) < 0)
		goto out;
	memset(&c, 0, sizeof(c));
	struct store_value k[] = {store_text_str(tenant), store_blob(id, idn)};
	int f = store_query_one(iam->store,
				"SELECT user_id, cose_key, sign_count FROM"
				" iam_webauthn_cred WHERE tenant = ? AND"
				" cred_id = ?",
				k, 2, cred_row_fn, &c, err);
	if (f < 0)
		goto out;
	if (f == 0 || strcmp(c.user_id, user_id) != 0) {
		bw_err_set(err, 400, "iam", "unknown_credential",
			   "webauthn: not one of this user's security keys");
		goto out;
	}
	handle_of(id, idn, handle);
	if (iam_webauthn_verify_assertion(rp, cd, cdn, ad, adn, sig, sn, c.cose,
					  c.cose_len, (uint32_t)c.count, &a,
					  err) < 0) {
		if (strcmp(err->reason, "counter") == 0)
			emit_counter_event(tenant, user_id, handle);
		goto out;
	}
	if (challenge_take(iam, tenant, user_id, "assert", a.challenge,
			   a.challenge_len, err) < 0)
		goto out;
	int64_t changes = 0;
	struct store_value u[] = {
	    store_int(a.sign_count), store_int(bw_clock_now_s()),
	    store_text_str(tenant), store_blob(id, idn), store_int(c.count)};
	if (store_exec(iam->store,
		       "UPDATE iam_webauthn_cred SET sign_count = ?,"
		       " last_used = ? WHERE tenant = ? AND cred_id = ? AND"
		       " sign_count = ?",
		       u, 5, &changes, err) < 0)
		goto out;
	if (changes != 1) {
		emit_counter_event(tenant, user_id, handle);
		bw_err_set(err, 400, "iam", "counter",
			   "webauthn: concurrent use of one counter value");
		goto out;
	}
	rc = 0;
out:
	free(id);
	free(cd);
	free(ad);
	free(sig);
	return rc;
}

struct list_ctx {
	int (*fn)(void *arg, const struct iam_webauthn_cred_info *c);
	void *arg;
};

static int list_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct list_ctx *l = arg;
	struct iam_webauthn_cred_info c;
	memset(&c, 0, sizeof(c));
	if (iam_row_text(row, 0, c.handle, sizeof(c.handle), err) < 0 ||
	    iam_row_text(row, 1, c.name, sizeof(c.name), err) < 0 ||
	    iam_row_text(row, 4, c.fmt, sizeof(c.fmt), err) < 0 ||
	    iam_row_text(row, 5, c.att_type, sizeof(c.att_type), err) < 0)
		return -1;
	c.alg = (int)store_row_int64(row, 2);
	c.sign_count = (uint32_t)store_row_int64(row, 3);
	c.created = store_row_int64(row, 6);
	c.last_used = store_row_int64(row, 7);
	return l->fn(l->arg, &c) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_webauthn_list(struct iam *iam, const char *tenant, const char *user_id,
		      int (*fn)(void *arg,
				const struct iam_webauthn_cred_info *c),
		      void *arg, struct bw_err *err)
{
	struct list_ctx l = {fn, arg};
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	return store_query(
	    iam->store,
	    "SELECT handle, name, alg, sign_count, fmt, att_type,"
	    " created, last_used FROM iam_webauthn_cred WHERE"
	    " tenant = ? AND user_id = ? ORDER BY created",
	    k, 2, list_row, &l, err);
}

int iam_webauthn_delete(struct iam *iam, const char *tenant,
			const char *user_id, const char *handle,
			struct bw_err *err)
{
	int64_t changes = 0;
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_text_str(handle ? handle : "")};
	if (store_exec(iam->store,
		       "DELETE FROM iam_webauthn_cred WHERE tenant = ? AND"
		       " user_id = ? AND handle = ?",
		       k, 3, &changes, err) < 0)
		return -1;
	if (changes == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such security key");
	return 0;
}
