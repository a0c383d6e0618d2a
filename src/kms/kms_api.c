/*
 * The Encryption-as-a-Service REST API under /api/v1/kms (the route table
 * below is the reference; docs/internals/KEYSTORE.md has examples).
 *
 *   /api/v1/kms/sys/...                         seal status, init, unseal,
 *                                               seal, master-key rotation
 *   /api/v1/kms/tenants/{tenant}/keys[/{name}]  key lifecycle
 *   /api/v1/kms/tenants/{tenant}/keys/{name}/OP encrypt, decrypt, rewrap,
 *                                               datakey, sign, verify, hmac,
 *                                               hmac-verify, public-key...
 *
 * Binary values travel as standard base64. Every crypto operation takes
 * either one input object or {"batch_input": [objects]} and answers one
 * result object or {"batch_results": [objects]}, where a failed item is
 * {"error": {"code", "message"}}.
 *
 * Every route is audited (api_reply_audited / api_fail on a mutating
 * route): who, tenant, key, version, operation and outcome — never
 * plaintext, ciphertext, signatures, shares or passphrases.
 *
 * Handlers never block: each builds one keystore request, sends it with
 * kms_call_async, and answers from the completion on the same loop.
 *
 * Tenants: the path names the tenant. The caller's own tenant
 * (api_tenant) must be that tenant or "platform" (operators); this is the
 * one place identity will tighten when tenant administrators exist.
 */
#include "kms/kms_int.h"

#include "api/api.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

static struct kms_client *K; /* borrowed; set by kms_api_register */

/* ---------------------------------------------------------------- base64 */

static int b64_decode(struct bw_arena *a, struct bw_str in, uint8_t **out,
		      size_t *n)
{
	if (in.len > KMS_B64_FIELD_MAX)
		return -1;
	size_t cap = in.len / 4 * 3 + 3;
	*out = bw_arena_alloc(a, cap);
	if (!*out)
		return -1;
	return kms_b64_decode(in.p, in.len, *out, cap, n);
}

static void write_b64(struct json_writer *w, const uint8_t *p, size_t n)
{
	size_t cap = (n + 2) / 3 * 4 + 1;
	char *t = malloc(cap);
	size_t m = t ? kms_b64_encode(p, n, t, cap) : 0;
	if (!t || (!m && n)) {
		w->failed = true;
		free(t);
		return;
	}
	json_write_stringn(w, t, m);
	bw_wipe(t, cap);
	free(t);
}

/* ---------------------------------------------------------------- helpers */

/* A request field's string value, or NULL. */
static const struct json_value *jstr(const struct json_value *o, const char *k)
{
	const struct json_value *v = json_get(o, k);
	return v && v->type == JSON_STRING ? v : NULL;
}

/* Adds base64 field `k` of object o as tag; false when present but bad,
 * or absent and required. */
static bool add_b64(struct api_call *call, struct keystore_enc *e,
		    const struct json_value *o, const char *k, unsigned tag,
		    bool required)
{
	const struct json_value *v = json_get(o, k);
	if (!v)
		return !required;
	uint8_t *p;
	size_t n;
	if (v->type != JSON_STRING ||
	    b64_decode(api_arena(call), v->u.str, &p, &n) < 0)
		return false;
	keystore_enc_bytes(e, tag, p, n);
	return true;
}

static bool add_u32(struct keystore_enc *e, const struct json_value *o,
		    const char *k, unsigned tag)
{
	const struct json_value *v = json_get(o, k);
	if (!v)
		return true;
	if (v->type != JSON_NUMBER || !v->u.num.is_int || v->u.num.i < 0 ||
	    v->u.num.i > UINT32_MAX)
		return false;
	keystore_enc_u32(e, tag, (uint32_t)v->u.num.i);
	return true;
}

static bool add_u64(struct keystore_enc *e, const struct json_value *o,
		    const char *k, unsigned tag)
{
	const struct json_value *v = json_get(o, k);
	if (!v)
		return true;
	if (v->type != JSON_NUMBER || !v->u.num.is_int || v->u.num.i < 0)
		return false;
	keystore_enc_u64(e, tag, (uint64_t)v->u.num.i);
	return true;
}

static bool add_bool(struct keystore_enc *e, const struct json_value *o,
		     const char *k, unsigned tag)
{
	const struct json_value *v = json_get(o, k);
	if (!v)
		return true;
	if (v->type != JSON_TRUE && v->type != JSON_FALSE)
		return false;
	keystore_enc_bool(e, tag, v->type == JSON_TRUE);
	return true;
}

static bool add_text(struct keystore_enc *e, const struct json_value *o,
		     const char *k, unsigned tag, bool required)
{
	const struct json_value *v = json_get(o, k);
	if (!v)
		return !required;
	if (v->type != JSON_STRING || v->u.str.len == 0 ||
	    memchr(v->u.str.p, '\0', v->u.str.len))
		return false;
	keystore_enc_strn(e, tag, v->u.str.p, v->u.str.len);
	return true;
}

static bool add_enum(struct keystore_enc *e, const struct json_value *o,
		     const char *k, unsigned tag, const char *const *names,
		     size_t n)
{
	const struct json_value *v = json_get(o, k);
	if (!v)
		return true;
	if (v->type != JSON_STRING)
		return false;
	for (size_t i = 1; i < n; i++)
		if (names[i] && bw_str_eq_lit(v->u.str, names[i])) {
			keystore_enc_u32(e, tag, (uint32_t)i);
			return true;
		}
	return false;
}

static const char *const hash_names[] = { NULL, "sha256", "sha384", "sha512" };
static const char *const pad_names[] = { NULL, "pkcs1v15", "pss" };

/* -------------------------------------------------------- per-op builders */

/* Fills one item's fields from its JSON object; false = 400. */
typedef bool (*build_fn)(struct api_call *call, const struct json_value *o,
			 struct keystore_enc *e);
/* Writes one successful item's result members (inside an object). */
typedef void (*write_fn)(struct json_writer *w, const struct keystore_msg *m,
			 size_t item);

static bool b_encrypt(struct api_call *c, const struct json_value *o,
		      struct keystore_enc *e)
{
	return add_b64(c, e, o, "plaintext", KEYSTORE_TAG_PLAINTEXT, true) &&
	       add_b64(c, e, o, "aad", KEYSTORE_TAG_AAD, false);
}

static bool b_decrypt(struct api_call *c, const struct json_value *o,
		      struct keystore_enc *e)
{
	return add_text(e, o, "ciphertext", KEYSTORE_TAG_CIPHERTEXT, true) &&
	       add_b64(c, e, o, "aad", KEYSTORE_TAG_AAD, false);
}

static bool b_datakey(struct api_call *c, const struct json_value *o,
		      struct keystore_enc *e)
{
	return add_u32(e, o, "bits", KEYSTORE_TAG_BITS) &&
	       add_bool(e, o, "wrapped_only", KEYSTORE_TAG_NO_PLAINTEXT) &&
	       add_b64(c, e, o, "aad", KEYSTORE_TAG_AAD, false);
}

static bool sig_opts(const struct json_value *o, struct keystore_enc *e)
{
	return add_enum(e, o, "hash", KEYSTORE_TAG_HASH, hash_names, 4) &&
	       add_enum(e, o, "padding", KEYSTORE_TAG_PADDING, pad_names, 3) &&
	       add_bool(e, o, "prehashed", KEYSTORE_TAG_PREHASHED);
}

static bool b_sign(struct api_call *c, const struct json_value *o,
		   struct keystore_enc *e)
{
	return add_b64(c, e, o, "message", KEYSTORE_TAG_MESSAGE, true) &&
	       sig_opts(o, e);
}

static bool b_verify(struct api_call *c, const struct json_value *o,
		     struct keystore_enc *e)
{
	return add_b64(c, e, o, "message", KEYSTORE_TAG_MESSAGE, true) &&
	       add_b64(c, e, o, "signature", KEYSTORE_TAG_SIGNATURE, true) &&
	       add_u32(e, o, "key_version", KEYSTORE_TAG_VERSION) && sig_opts(o, e);
}

static bool b_hmac(struct api_call *c, const struct json_value *o,
		   struct keystore_enc *e)
{
	return add_b64(c, e, o, "message", KEYSTORE_TAG_MESSAGE, true);
}

static bool b_hmac_verify(struct api_call *c, const struct json_value *o,
			  struct keystore_enc *e)
{
	return add_b64(c, e, o, "message", KEYSTORE_TAG_MESSAGE, true) &&
	       add_b64(c, e, o, "mac", KEYSTORE_TAG_MAC, true) &&
	       add_u32(e, o, "key_version", KEYSTORE_TAG_VERSION);
}

static bool b_random(struct api_call *c, const struct json_value *o,
		     struct keystore_enc *e)
{
	(void)c;
	const struct json_value *v = json_get(o, "bytes");
	return v && add_u32(e, o, "bytes", KEYSTORE_TAG_COUNT);
}

static void w_version(struct json_writer *w, const struct keystore_msg *m,
		      size_t it)
{
	uint32_t v;
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_VERSION, &v))
		json_write_kv_int(w, "key_version", v);
}

static void w_field_b64(struct json_writer *w, const struct keystore_msg *m,
			size_t it, unsigned tag, const char *name)
{
	const struct keystore_field *f = keystore_msg_get(m, it, tag);
	if (!f)
		return;
	json_write_key(w, name);
	write_b64(w, f->p, f->len);
}

static void w_field_text(struct json_writer *w, const struct keystore_msg *m,
			 size_t it, unsigned tag, const char *name)
{
	const struct keystore_field *f = keystore_msg_get(m, it, tag);
	if (!f)
		return;
	json_write_key(w, name);
	json_write_stringn(w, (const char *)f->p, f->len);
}

static void w_encrypt(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	w_field_text(w, m, it, KEYSTORE_TAG_CIPHERTEXT, "ciphertext");
	w_field_b64(w, m, it, KEYSTORE_TAG_PLAINTEXT, "plaintext");
	w_version(w, m, it);
}

static void w_decrypt(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	w_field_b64(w, m, it, KEYSTORE_TAG_PLAINTEXT, "plaintext");
	w_version(w, m, it);
}

static void w_sign(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	w_field_b64(w, m, it, KEYSTORE_TAG_SIGNATURE, "signature");
	w_version(w, m, it);
}

static void w_valid(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	bool v = false;
	(void)keystore_msg_bool(m, it, KEYSTORE_TAG_VALID, &v);
	json_write_kv_bool(w, "valid", v);
	w_version(w, m, it);
}

static void w_hmac(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	w_field_b64(w, m, it, KEYSTORE_TAG_MAC, "mac");
	w_version(w, m, it);
}

static void w_random(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	w_field_b64(w, m, it, KEYSTORE_TAG_PLAINTEXT, "random");
}

static void w_pubkey(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	const struct keystore_field *f = keystore_msg_get(m, it, KEYSTORE_TAG_PUBKEY);
	if (f && f->len && f->p[0] == '{') {
		/* A JWK the key process built: embed it as an object. */
		struct bw_arena *a = bw_arena_new(4096, 64 * 1024);
		struct bw_err err;
		const struct json_value *v =
			a ? json_parse(a, (const char *)f->p, f->len, NULL, &err) : NULL;
		if (v) {
			json_write_key(w, "jwk");
			json_write_value(w, v);
		}
		bw_arena_free(a);
	} else {
		w_field_text(w, m, it, KEYSTORE_TAG_PUBKEY, "pem");
	}
	w_version(w, m, it);
}

static void write_key_info(struct json_writer *w, const struct keystore_msg *m,
			   size_t it)
{
	struct bw_str s;
	uint32_t u;
	uint64_t t;
	bool b;
	char hex[2 * KEYSTORE_KEY_ID_LEN + 1];
	if (keystore_msg_str(m, it, KEYSTORE_TAG_KEY, &s)) {
		json_write_key(w, "name");
		json_write_stringn(w, s.p, s.len);
	}
	const struct keystore_field *id = keystore_msg_get(m, it, KEYSTORE_TAG_KEY_ID);
	if (id && id->len == KEYSTORE_KEY_ID_LEN) {
		bw_hex_encode(id->p, id->len, hex);
		json_write_kv_string(w, "id", hex);
	}
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_KEY_TYPE, &u) &&
	    keystore_key_type_name(u))
		json_write_kv_string(w, "type", keystore_key_type_name(u));
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_STATE, &u) &&
	    keystore_key_state_name(u))
		json_write_kv_string(w, "state", keystore_key_state_name(u));
	if (keystore_msg_bool(m, it, KEYSTORE_TAG_EXPORTABLE, &b))
		json_write_kv_bool(w, "exportable", b);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_LATEST, &u))
		json_write_kv_int(w, "latest_version", u);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_MIN_VERSION, &u))
		json_write_kv_int(w, "min_decryption_version", u);
	if (keystore_msg_u64(m, it, KEYSTORE_TAG_ROTATE_PERIOD, &t))
		json_write_kv_int(w, "rotate_period_s", (int64_t)t);
	char ts[32];
	if (keystore_msg_u64(m, it, KEYSTORE_TAG_CREATED, &t)) {
		bw_time_format((int64_t)t * 1000000000, ts);
		json_write_kv_string(w, "created", ts);
	}
	if (keystore_msg_u64(m, it, KEYSTORE_TAG_UPDATED, &t)) {
		bw_time_format((int64_t)t * 1000000000, ts);
		json_write_kv_string(w, "updated", ts);
	}
	if (keystore_msg_u64(m, it, KEYSTORE_TAG_DESTROY_AT, &t)) {
		bw_time_format((int64_t)t * 1000000000, ts);
		json_write_kv_string(w, "destroy_at", ts);
	}
	bool any = false;
	int64_t version = 0;
	for (uint32_t i = m->item_start[it]; i < m->item_start[it + 1]; i++) {
		const struct keystore_field *f = &m->fields[i];
		if (f->tag != KEYSTORE_TAG_VTIME || f->len != 8)
			continue;
		/* VTIME fields come in version order, 1 first. */
		version++;
		if (!any) {
			json_write_key(w, "versions");
			json_write_array_begin(w);
			any = true;
		}
		uint64_t v = 0;
		for (int j = 0; j < 8; j++)
			v = v << 8 | f->p[j];
		bw_time_format((int64_t)v * 1000000000, ts);
		json_write_object_begin(w);
		json_write_kv_int(w, "version", version);
		json_write_kv_string(w, "created", ts);
		json_write_object_end(w);
	}
	if (any)
		json_write_array_end(w);
}

static void w_key(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	write_key_info(w, m, it);
}

static void w_export(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	uint32_t u;
	w_field_b64(w, m, it, KEYSTORE_TAG_WRAPPED, "wrapped");
	json_write_kv_string(w, "wrapping", "RSA_AES_KEY_WRAP_SHA_256");
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_KEY_TYPE, &u) &&
	    keystore_key_type_name(u))
		json_write_kv_string(w, "type", keystore_key_type_name(u));
	w_version(w, m, it);
}

static void w_import_params(struct json_writer *w, const struct keystore_msg *m,
			    size_t it)
{
	w_field_text(w, m, it, KEYSTORE_TAG_PUBKEY, "wrapping_key");
	json_write_kv_string(w, "wrapping", "RSA_AES_KEY_WRAP_SHA_256");
}

static void w_list(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	(void)it;
	json_write_key(w, "keys");
	json_write_array_begin(w);
	for (size_t i = 1; i <= m->nitems; i++) {
		json_write_object_begin(w);
		write_key_info(w, m, i);
		json_write_object_end(w);
	}
	json_write_array_end(w);
	w_field_text(w, m, 0, KEYSTORE_TAG_CURSOR, "cursor");
}

static void w_status(struct json_writer *w, const struct keystore_msg *m, size_t it)
{
	bool b;
	uint32_t u;
	if (keystore_msg_bool(m, it, KEYSTORE_TAG_INITIALIZED, &b))
		json_write_kv_bool(w, "initialized", b);
	if (keystore_msg_bool(m, it, KEYSTORE_TAG_SEALED, &b))
		json_write_kv_bool(w, "sealed", b);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_SEAL_TYPE, &u) &&
	    keystore_seal_type_name(u))
		json_write_kv_string(w, "seal_type", keystore_seal_type_name(u));
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_THRESHOLD, &u))
		json_write_kv_int(w, "threshold", u);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_SHARES, &u))
		json_write_kv_int(w, "shares", u);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_PROGRESS, &u))
		json_write_kv_int(w, "progress", u);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_MK_EPOCH, &u))
		json_write_kv_int(w, "master_key_generation", u);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_KEYCOUNT, &u))
		json_write_kv_int(w, "keys", u);
	if (keystore_msg_u32(m, it, KEYSTORE_TAG_REWRAP_PENDING, &u))
		json_write_kv_int(w, "rewrap_pending", u);
	/* Shares are shown exactly once, in the answer to init. */
	bool any = false;
	for (uint32_t i = m->item_start[0]; i < m->item_start[1]; i++) {
		const struct keystore_field *f = &m->fields[i];
		if (f->tag != KEYSTORE_TAG_SHARE)
			continue;
		if (!any) {
			json_write_key(w, "unseal_shares");
			json_write_array_begin(w);
			any = true;
		}
		json_write_stringn(w, (const char *)f->p, f->len);
	}
	if (any)
		json_write_array_end(w);
}

/* ------------------------------------------------------------ route kinds */

enum scope { SCOPE_SYS, SCOPE_TENANT, SCOPE_KEY };

/* One REST operation: which keystore op, how to read the body, how to
 * write the answer. */
struct kop {
	unsigned op;
	enum scope scope;
	bool batchable;
	build_fn build; /* NULL: no per-item body */
	write_fn write;
	/* Extra common fields from the body (key-management ops). */
	bool (*common)(struct api_call *call, const struct json_value *o,
		       struct keystore_enc *e);
};

static bool c_create(struct api_call *c, const struct json_value *o,
		     struct keystore_enc *e)
{
	(void)c;
	const struct json_value *n = jstr(o, "name");
	const struct json_value *t = jstr(o, "type");
	char type[32];
	if (!n || !t || t->u.str.len >= sizeof(type))
		return false;
	memcpy(type, t->u.str.p, t->u.str.len);
	type[t->u.str.len] = '\0';
	unsigned kt = keystore_key_type_parse(type);
	/* '_' names are reserved for the platform's own keys. */
	if (!kt || !keystore_name_valid(n->u.str.p, n->u.str.len) ||
	    (n->u.str.len > 0 && n->u.str.p[0] == '_'))
		return false;
	keystore_enc_strn(e, KEYSTORE_TAG_KEY, n->u.str.p, n->u.str.len);
	keystore_enc_u32(e, KEYSTORE_TAG_KEY_TYPE, kt);
	return add_bool(e, o, "exportable", KEYSTORE_TAG_EXPORTABLE) &&
	       add_u64(e, o, "rotate_period_s", KEYSTORE_TAG_ROTATE_PERIOD);
}

static bool c_config(struct api_call *c, const struct json_value *o,
		     struct keystore_enc *e)
{
	(void)c;
	return add_u32(e, o, "min_decryption_version", KEYSTORE_TAG_MIN_VERSION) &&
	       add_u64(e, o, "rotate_period_s", KEYSTORE_TAG_ROTATE_PERIOD) &&
	       add_bool(e, o, "exportable", KEYSTORE_TAG_EXPORTABLE);
}

static bool c_schedule(struct api_call *c, const struct json_value *o,
		       struct keystore_enc *e)
{
	(void)c;
	return add_u64(e, o, "delay_s", KEYSTORE_TAG_DELAY);
}

static bool c_export(struct api_call *c, const struct json_value *o,
		     struct keystore_enc *e)
{
	(void)c;
	const struct json_value *k = jstr(o, "wrapping_key");
	if (!k)
		return false;
	keystore_enc_bytes(e, KEYSTORE_TAG_PUBKEY, k->u.str.p, k->u.str.len);
	return add_u32(e, o, "key_version", KEYSTORE_TAG_VERSION);
}

static bool c_import(struct api_call *c, const struct json_value *o,
		     struct keystore_enc *e)
{
	const struct json_value *t = jstr(o, "type");
	char type[32];
	if (!t || t->u.str.len >= sizeof(type))
		return false;
	memcpy(type, t->u.str.p, t->u.str.len);
	type[t->u.str.len] = '\0';
	unsigned kt = keystore_key_type_parse(type);
	if (!kt)
		return false;
	keystore_enc_u32(e, KEYSTORE_TAG_KEY_TYPE, kt);
	return add_b64(c, e, o, "wrapped", KEYSTORE_TAG_WRAPPED, true) &&
	       add_bool(e, o, "exportable", KEYSTORE_TAG_EXPORTABLE) &&
	       add_u64(e, o, "rotate_period_s", KEYSTORE_TAG_ROTATE_PERIOD);
}

static bool c_list(struct api_call *c, const struct json_value *o,
		   struct keystore_enc *e)
{
	(void)o;
	/* ?cursor=NAME&limit=N from the query string. */
	struct bw_str q = net_request(api_exchange(c))->query;
	size_t i = 0;
	while (i < q.len) {
		size_t j = i;
		while (j < q.len && q.p[j] != '&')
			j++;
		struct bw_str kv = bw_str_make(q.p + i, j - i);
		if (kv.len > 7 && memcmp(kv.p, "cursor=", 7) == 0 &&
		    keystore_name_valid(kv.p + 7, kv.len - 7))
			keystore_enc_strn(e, KEYSTORE_TAG_CURSOR, kv.p + 7, kv.len - 7);
		uint64_t lim;
		if (kv.len > 6 && memcmp(kv.p, "limit=", 6) == 0 &&
		    bw_str_to_u64(bw_str_make(kv.p + 6, kv.len - 6), &lim) == 0 &&
		    lim > 0 && lim <= KEYSTORE_BATCH_MAX)
			keystore_enc_u32(e, KEYSTORE_TAG_LIMIT, (uint32_t)lim);
		i = j + 1;
	}
	return true;
}

static bool c_pubkey_jwk(struct api_call *c, const struct json_value *o,
			 struct keystore_enc *e)
{
	(void)c;
	(void)o;
	keystore_enc_u32(e, KEYSTORE_TAG_FORMAT, KEYSTORE_FMT_JWK);
	return true;
}

static bool c_init(struct api_call *c, const struct json_value *o,
		   struct keystore_enc *e)
{
	const struct json_value *t = jstr(o, "type");
	char type[32];
	if (!t || t->u.str.len >= sizeof(type))
		return false;
	memcpy(type, t->u.str.p, t->u.str.len);
	type[t->u.str.len] = '\0';
	unsigned st = keystore_seal_type_parse(type);
	if (!st)
		return false;
	keystore_enc_u32(e, KEYSTORE_TAG_SEAL_TYPE, st);
	const struct json_value *p = jstr(o, "passphrase");
	if (p)
		keystore_enc_bytes(e, KEYSTORE_TAG_PASSPHRASE, p->u.str.p, p->u.str.len);
	(void)c;
	return add_u32(e, o, "shares", KEYSTORE_TAG_SHARES) &&
	       add_u32(e, o, "threshold", KEYSTORE_TAG_THRESHOLD) &&
	       add_u32(e, o, "kdf_passes", KEYSTORE_TAG_KDF_T) &&
	       add_u32(e, o, "kdf_memory_kib", KEYSTORE_TAG_KDF_M);
}

static bool c_unseal(struct api_call *c, const struct json_value *o,
		     struct keystore_enc *e)
{
	(void)c;
	const struct json_value *p = jstr(o, "passphrase");
	if (p)
		keystore_enc_bytes(e, KEYSTORE_TAG_PASSPHRASE, p->u.str.p, p->u.str.len);
	const struct json_value *s = json_get(o, "share");
	if (s && s->type == JSON_STRING)
		keystore_enc_strn(e, KEYSTORE_TAG_SHARE, s->u.str.p, s->u.str.len);
	const struct json_value *arr = json_get(o, "shares");
	if (arr && arr->type == JSON_ARRAY) {
		if (arr->u.arr.n > KEYSTORE_SHARES_MAX)
			return false;
		for (size_t i = 0; i < arr->u.arr.n; i++) {
			const struct json_value *v = arr->u.arr.items[i];
			if (v->type != JSON_STRING)
				return false;
			keystore_enc_strn(e, KEYSTORE_TAG_SHARE, v->u.str.p, v->u.str.len);
		}
	}
	return true;
}

#define KOP(name, op_, scope_, batch_, build_, write_, common_)                 \
	static const struct kop name = { op_, scope_, batch_, build_, write_,   \
					 common_ }
KOP(k_status, KEYSTORE_OP_STATUS, SCOPE_SYS, false, NULL, w_status, NULL);
KOP(k_init, KEYSTORE_OP_INIT, SCOPE_SYS, false, NULL, w_status, c_init);
KOP(k_unseal, KEYSTORE_OP_UNSEAL, SCOPE_SYS, false, NULL, w_status, c_unseal);
KOP(k_seal, KEYSTORE_OP_SEAL, SCOPE_SYS, false, NULL, w_status, NULL);
KOP(k_unseal_reset, KEYSTORE_OP_UNSEAL_RESET, SCOPE_SYS, false, NULL, w_status, NULL);
KOP(k_rotate_master, KEYSTORE_OP_ROTATE_MASTER, SCOPE_SYS, false, NULL, w_status, NULL);
KOP(k_create, KEYSTORE_OP_KEY_CREATE, SCOPE_TENANT, false, NULL, w_key, c_create);
KOP(k_list, KEYSTORE_OP_KEY_LIST, SCOPE_TENANT, false, NULL, w_list, c_list);
KOP(k_get, KEYSTORE_OP_KEY_GET, SCOPE_KEY, false, NULL, w_key, NULL);
KOP(k_rotate, KEYSTORE_OP_KEY_ROTATE, SCOPE_KEY, false, NULL, w_key, NULL);
KOP(k_config, KEYSTORE_OP_KEY_UPDATE, SCOPE_KEY, false, NULL, w_key, c_config);
KOP(k_suspend, KEYSTORE_OP_KEY_SUSPEND, SCOPE_KEY, false, NULL, w_key, NULL);
KOP(k_enable, KEYSTORE_OP_KEY_ENABLE, SCOPE_KEY, false, NULL, w_key, NULL);
KOP(k_schedule, KEYSTORE_OP_KEY_SCHEDULE_DESTROY, SCOPE_KEY, false, NULL, w_key, c_schedule);
KOP(k_destroy, KEYSTORE_OP_KEY_DESTROY, SCOPE_KEY, false, NULL, w_key, NULL);
KOP(k_export, KEYSTORE_OP_KEY_EXPORT, SCOPE_KEY, false, NULL, w_export, c_export);
KOP(k_import, KEYSTORE_OP_KEY_IMPORT, SCOPE_KEY, false, NULL, w_key, c_import);
KOP(k_import_params, KEYSTORE_OP_IMPORT_PARAMS, SCOPE_TENANT, false, NULL,
    w_import_params, NULL);
KOP(k_encrypt, KEYSTORE_OP_ENCRYPT, SCOPE_KEY, true, b_encrypt, w_encrypt, NULL);
KOP(k_decrypt, KEYSTORE_OP_DECRYPT, SCOPE_KEY, true, b_decrypt, w_decrypt, NULL);
KOP(k_decrypt_any, KEYSTORE_OP_DECRYPT, SCOPE_TENANT, true, b_decrypt, w_decrypt, NULL);
KOP(k_rewrap, KEYSTORE_OP_REWRAP, SCOPE_KEY, true, b_decrypt, w_encrypt, NULL);
KOP(k_datakey, KEYSTORE_OP_DATAKEY, SCOPE_KEY, true, b_datakey, w_encrypt, NULL);
KOP(k_sign, KEYSTORE_OP_SIGN, SCOPE_KEY, true, b_sign, w_sign, NULL);
KOP(k_verify, KEYSTORE_OP_VERIFY, SCOPE_KEY, true, b_verify, w_valid, NULL);
KOP(k_hmac, KEYSTORE_OP_HMAC, SCOPE_KEY, true, b_hmac, w_hmac, NULL);
KOP(k_hmac_verify, KEYSTORE_OP_HMAC_VERIFY, SCOPE_KEY, true, b_hmac_verify, w_valid, NULL);
KOP(k_random, KEYSTORE_OP_RANDOM, SCOPE_TENANT, false, b_random, w_random, NULL);
KOP(k_pubkey, KEYSTORE_OP_PUBKEY, SCOPE_KEY, false, NULL, w_pubkey, NULL);
KOP(k_pubkey_jwk, KEYSTORE_OP_PUBKEY, SCOPE_KEY, false, NULL, w_pubkey, c_pubkey_jwk);

/* ---------------------------------------------------------------- engine */

struct pending {
	struct api_call *call;
	const struct kop *k;
	bool batch;
	size_t nitems;
	char tenant[KEYSTORE_NAME_MAX + 1];
	char key[KEYSTORE_NAME_MAX + 1];
};

/* Audit details: what was done to which key; never the data. */
static void set_details(struct pending *p, unsigned status, size_t failed,
			const struct keystore_msg *m)
{
	struct bw_buf d;
	bw_buf_init(&d, 1024);
	struct json_writer w;
	json_writer_init(&w, &d);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "op", keystore_op_name(p->k->op));
	if (p->tenant[0])
		json_write_kv_string(&w, "tenant", p->tenant);
	if (p->key[0])
		json_write_kv_string(&w, "key", p->key);
	if (p->batch) {
		json_write_kv_int(&w, "items", (int64_t)p->nitems);
		json_write_kv_int(&w, "failed", (int64_t)failed);
	}
	uint32_t v;
	if (m && !p->batch && keystore_msg_u32(m, 0, KEYSTORE_TAG_VERSION, &v))
		json_write_kv_int(&w, "key_version", v);
	if (m && !p->batch && keystore_msg_u32(m, 0, KEYSTORE_TAG_LATEST, &v))
		json_write_kv_int(&w, "latest_version", v);
	if (status != KEYSTORE_OK && keystore_status_name(status))
		json_write_kv_string(&w, "error", keystore_status_name(status));
	json_write_object_end(&w);
	if (json_writer_finish(&w) == 0)
		api_set_details(p->call, d.data);
	bw_buf_fini(&d);
}

static void on_reply(struct kms_reply *r, const struct bw_err *err, void *arg)
{
	struct pending *p = arg;
	struct api_call *call = p->call;
	if (!r) {
		set_details(p, KEYSTORE_E_UNAVAILABLE, 0, NULL);
		api_fail(call, err->code == 504 ? 504 : 503,
			 err->code == 504 ? "keystore_timeout" : "keystore_unavailable",
			 err->msg);
		free(p);
		return;
	}
	const struct keystore_msg *m = r->msg;
	if (r->status != KEYSTORE_OK) {
		char msg[KEYSTORE_ERROR_MAX + 1];
		kms_reply_error(r, 0, msg, sizeof(msg));
		set_details(p, r->status, 0, NULL);
		api_fail(call, kms_status_http(r->status),
			 keystore_status_name(r->status) ? keystore_status_name(r->status) :
							   "error",
			 msg[0] ? msg : "key operation failed");
		kms_reply_free(r);
		free(p);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, api_out(call));
	json_write_object_begin(&w);
	size_t failed = 0;
	if (p->batch) {
		json_write_key(&w, "batch_results");
		json_write_array_begin(&w);
		for (size_t i = 1; i <= m->nitems; i++) {
			uint32_t st = KEYSTORE_E_INTERNAL;
			(void)keystore_msg_u32(m, i, KEYSTORE_TAG_STATUS, &st);
			json_write_object_begin(&w);
			if (st == KEYSTORE_OK) {
				p->k->write(&w, m, i);
			} else {
				char msg[KEYSTORE_ERROR_MAX + 1];
				failed++;
				json_write_key(&w, "error");
				json_write_object_begin(&w);
				json_write_kv_string(&w, "code", keystore_status_name(st) ?
									 keystore_status_name(st) :
									 "error");
				json_write_kv_string(&w, "message",
						     kms_reply_error(r, i, msg, sizeof(msg)));
				json_write_object_end(&w);
			}
			json_write_object_end(&w);
		}
		json_write_array_end(&w);
	} else {
		p->k->write(&w, m, 0);
	}
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		kms_reply_free(r);
		set_details(p, KEYSTORE_E_TOO_LARGE, failed, NULL);
		api_fail(call, 500, "response_too_large", "the response is too large");
		free(p);
		return;
	}
	set_details(p, KEYSTORE_OK, failed, m);
	kms_reply_free(r);
	api_reply_audited(call, p->k->op == KEYSTORE_OP_KEY_CREATE ? 201 : 200,
			  failed ? AUDIT_OUTCOME_FAILURE : AUDIT_OUTCOME_SUCCESS);
	free(p);
}

/* The caller may act in the path's tenant: its own, or any as a platform
 * operator. Identity will give tenant administrators their own tenant. */
static bool tenant_allowed(struct api_call *call, const char *tenant)
{
	const char *mine = api_tenant(call);
	return mine && (strcmp(mine, "platform") == 0 || strcmp(mine, tenant) == 0);
}

static void run(struct api_call *call, const struct kop *k)
{
	struct pending *p = calloc(1, sizeof(*p));
	struct keystore_enc e;
	struct bw_err err;
	if (!p) {
		api_fail(call, 503, "overloaded", "out of memory");
		return;
	}
	p->call = call;
	p->k = k;
	const char *tenant = api_param(call, "tenant");
	const char *key = api_param(call, "name");
	if (k->scope != SCOPE_SYS) {
		if (!tenant || !keystore_name_valid(tenant, strlen(tenant))) {
			api_fail(call, 400, "bad_tenant", "invalid tenant name");
			free(p);
			return;
		}
		bw_snprintf(p->tenant, sizeof(p->tenant), "%s", tenant);
	}
	if (k->scope == SCOPE_KEY) {
		if (!key || !keystore_name_valid(key, strlen(key))) {
			api_fail(call, 400, "bad_key_name", "invalid key name");
			free(p);
			return;
		}
		/* Keys named '_…' are the platform's own (CA keys, the audit
		 * signer, the identity sealer): used through their modules,
		 * never over this API. */
		if (key[0] == '_') {
			api_fail(call, 403, "reserved_key", "reserved for the platform");
			free(p);
			return;
		}
		bw_snprintf(p->key, sizeof(p->key), "%s", key);
	}
	char target[2 * KEYSTORE_NAME_MAX + 16];
	bw_snprintf(target, sizeof(target), "kms:%s%s%s",
		    k->scope == SCOPE_SYS ? "keystore" : p->tenant,
		    p->key[0] ? "/" : "", p->key);
	api_set_target(call, target);
	if (k->scope != SCOPE_SYS && !tenant_allowed(call, p->tenant)) {
		set_details(p, KEYSTORE_E_DENIED, 0, NULL);
		api_fail(call, 403, "forbidden", "not your tenant");
		free(p);
		return;
	}
	/* Bodies are optional for GETs and bodiless POSTs. */
	const struct json_value *body = NULL;
	struct bw_str raw = net_request_body(api_exchange(call));
	if (raw.len > 0) {
		body = api_body_json(call, &err);
		if (!body || body->type != JSON_OBJECT) {
			api_fail(call, 400, "bad_json",
				 body ? "the body must be a JSON object" : err.msg);
			free(p);
			return;
		}
	}
	keystore_enc_init(&e, KEYSTORE_REQUEST, k->op, 0, 0);
	if (k->scope != SCOPE_SYS)
		keystore_enc_str(&e, KEYSTORE_TAG_TENANT, p->tenant);
	if (k->scope == SCOPE_KEY)
		keystore_enc_str(&e, KEYSTORE_TAG_KEY, p->key);
	bool ok = true;
	if (k->common)
		ok = k->common(call, body, &e);
	const struct json_value *batch = body ? json_get(body, "batch_input") : NULL;
	if (ok && k->build) {
		if (batch && k->batchable) {
			if (batch->type != JSON_ARRAY || batch->u.arr.n == 0 ||
			    batch->u.arr.n > KMS_BATCH_MAX) {
				ok = false;
			} else {
				p->batch = true;
				p->nitems = batch->u.arr.n;
				for (size_t i = 0; ok && i < batch->u.arr.n; i++) {
					const struct json_value *it = batch->u.arr.items[i];
					keystore_enc_item(&e);
					ok = it->type == JSON_OBJECT && k->build(call, it, &e);
				}
			}
		} else {
			p->nitems = 1;
			ok = body && !batch && k->build(call, body, &e);
		}
	}
	if (!ok) {
		keystore_enc_fini(&e);
		set_details(p, KEYSTORE_E_BAD_REQUEST, 0, NULL);
		api_fail(call, 400, "bad_request",
			 "missing or malformed fields (binary values are base64)");
		free(p);
		return;
	}
	if (kms_call_async(K, &e, api_loop(call), on_reply, p, &err) < 0) {
		keystore_enc_fini(&e);
		set_details(p, err.code == 413 ? KEYSTORE_E_TOO_LARGE :
						 KEYSTORE_E_UNAVAILABLE,
			    0, NULL);
		api_fail(call, err.code == 413 ? 413 : 503,
			 err.code == 413 ? "too_large" : "keystore_unavailable", err.msg);
		free(p);
		return;
	}
	keystore_enc_fini(&e);
}

/* ---------------------------------------------------------------- routes */

#define H(fn, kop)                                                             \
	static void fn(struct api_call *call)                                  \
	{                                                                      \
		run(call, &kop);                                               \
	}
H(h_status, k_status)
H(h_init, k_init)
H(h_unseal, k_unseal)
H(h_seal, k_seal)
H(h_unseal_reset, k_unseal_reset)
H(h_rotate_master, k_rotate_master)
H(h_create, k_create)
H(h_list, k_list)
H(h_get, k_get)
H(h_rotate, k_rotate)
H(h_config, k_config)
H(h_suspend, k_suspend)
H(h_enable, k_enable)
H(h_schedule, k_schedule)
H(h_destroy, k_destroy)
H(h_export, k_export)
H(h_import, k_import)
H(h_import_params, k_import_params)
H(h_encrypt, k_encrypt)
H(h_decrypt, k_decrypt)
H(h_decrypt_any, k_decrypt_any)
H(h_rewrap, k_rewrap)
H(h_datakey, k_datakey)
H(h_sign, k_sign)
H(h_verify, k_verify)
H(h_hmac, k_hmac)
H(h_hmac_verify, k_hmac_verify)
H(h_random, k_random)
H(h_pubkey, k_pubkey)
H(h_pubkey_jwk, k_pubkey_jwk)

#define T "/api/v1/kms/tenants/{tenant}"
#define KEYP T "/keys/{name}"
/* Every route is audited ("mutating"): the issue asks for every key
 * operation in the audit trail, reads and crypto included. Permissions
 * are the platform model's (src/authz/platform.fga): key use is key_user,
 * which no administrator role includes (separation of duties); the seal
 * is platform.system.*. */
#define R(m, path, perm, action, fn)                                           \
	{ HTTP_METHOD_##m, path, perm, action, true, fn }
static const struct api_route routes[] = {
	R(GET, "/api/v1/kms/sys/status", "platform.system.read", "kms.sys.status", h_status),
	R(POST, "/api/v1/kms/sys/init", "platform.system.manage", "kms.sys.init", h_init),
	R(POST, "/api/v1/kms/sys/unseal", "platform.system.manage", "kms.sys.unseal", h_unseal),
	R(POST, "/api/v1/kms/sys/seal", "platform.system.manage", "kms.sys.seal", h_seal),
	R(POST, "/api/v1/kms/sys/unseal-reset", "platform.system.manage", "kms.sys.unseal_reset",
	  h_unseal_reset),
	R(POST, "/api/v1/kms/sys/rotate-master", "platform.system.manage", "kms.sys.rotate_master",
	  h_rotate_master),
	R(POST, T "/keys", "kms.key.manage", "kms.key.create", h_create),
	R(GET, T "/keys", "kms.key.read", "kms.key.list", h_list),
	R(GET, T "/import-params", "kms.key.read", "kms.key.import_params",
	  h_import_params),
	R(POST, T "/decrypt", "kms.key.use", "kms.decrypt", h_decrypt_any),
	R(POST, T "/random", "kms.key.use", "kms.random", h_random),
	R(GET, KEYP, "kms.key.read", "kms.key.get", h_get),
	R(POST, KEYP "/rotate", "kms.key.rotate", "kms.key.rotate", h_rotate),
	R(POST, KEYP "/config", "kms.key.manage", "kms.key.config", h_config),
	R(POST, KEYP "/suspend", "kms.key.manage", "kms.key.suspend", h_suspend),
	R(POST, KEYP "/enable", "kms.key.manage", "kms.key.enable", h_enable),
	R(POST, KEYP "/schedule-destroy", "kms.key.destroy", "kms.key.schedule_destroy",
	  h_schedule),
	R(POST, KEYP "/destroy", "kms.key.destroy", "kms.key.destroy", h_destroy),
	R(POST, KEYP "/export", "kms.key.export", "kms.key.export", h_export),
	R(POST, KEYP "/import", "kms.key.manage", "kms.key.import", h_import),
	R(POST, KEYP "/encrypt", "kms.key.use", "kms.encrypt", h_encrypt),
	R(POST, KEYP "/decrypt", "kms.key.use", "kms.decrypt", h_decrypt),
	R(POST, KEYP "/rewrap", "kms.key.use", "kms.rewrap", h_rewrap),
	R(POST, KEYP "/datakey", "kms.key.use", "kms.datakey", h_datakey),
	R(POST, KEYP "/sign", "kms.key.use", "kms.sign", h_sign),
	R(POST, KEYP "/verify", "kms.key.use", "kms.verify", h_verify),
	R(POST, KEYP "/hmac", "kms.key.use", "kms.hmac", h_hmac),
	R(POST, KEYP "/hmac-verify", "kms.key.use", "kms.hmac_verify", h_hmac_verify),
	R(GET, KEYP "/public-key", "kms.key.read", "kms.public_key", h_pubkey),
	R(GET, KEYP "/public-key/jwk", "kms.key.read", "kms.public_key", h_pubkey_jwk),
};

int kms_api_register(struct kms_client *c)
{
	if (!c)
		return -1;
	K = c;
	return api_register(routes, BW_ARRAY_LEN(routes));
}
