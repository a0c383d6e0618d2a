/*
 * The keystore wire protocol: a strict decoder and a matching encoder for
 * the length-prefixed, versioned TLV messages both processes exchange (the
 * layout is in keystore.h), plus the stable names of the enumerations.
 *
 * Invariants:
 *  - one table (tag_info) declares each tag's type, size bounds and
 *    repeatability; the encoder and decoder both check against it, so
 *    what one side can build the other accepts, and nothing else;
 *  - the decoder never reads past (p, len) and accounts for every byte;
 *  - decoded fields borrow the caller's buffer; nothing is copied.
 */
#include "keystore/keystore_int.h"

#include <stdlib.h>
#include <string.h>

enum ftype { F_NONE, F_BYTES, F_TEXT, F_U32, F_U64, F_BOOL, F_EMPTY };

struct tag_info {
	uint8_t type;
	bool repeat;  /* may appear several times in one item */
	uint32_t min; /* bytes */
	uint32_t max;
};

static const struct tag_info tag_info[KEYSTORE_TAG_MAX_] = {
	[KEYSTORE_TAG_TENANT] = { F_TEXT, false, 1, KEYSTORE_NAME_MAX },
	[KEYSTORE_TAG_KEY] = { F_TEXT, false, 1, KEYSTORE_NAME_MAX },
	[KEYSTORE_TAG_KEY_TYPE] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_VERSION] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_PLAINTEXT] = { F_BYTES, false, 0, KEYSTORE_DATA_MAX },
	[KEYSTORE_TAG_AAD] = { F_BYTES, false, 0, KEYSTORE_AAD_MAX },
	[KEYSTORE_TAG_CIPHERTEXT] = { F_TEXT, false, 1, KEYSTORE_CTEXT_MAX },
	[KEYSTORE_TAG_MESSAGE] = { F_BYTES, false, 0, KEYSTORE_DATA_MAX },
	[KEYSTORE_TAG_SIGNATURE] = { F_BYTES, false, 1, KEYSTORE_SIG_MAX },
	[KEYSTORE_TAG_MAC] = { F_BYTES, false, 1, KEYSTORE_MAC_MAX },
	[KEYSTORE_TAG_HASH] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_PADDING] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_PREHASHED] = { F_BOOL, false, 1, 1 },
	[KEYSTORE_TAG_COUNT] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_FORMAT] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_PUBKEY] = { F_BYTES, false, 1, KEYSTORE_PUBKEY_MAX },
	[KEYSTORE_TAG_WRAPPED] = { F_BYTES, false, 1, KEYSTORE_WRAPPED_MAX },
	[KEYSTORE_TAG_SHARE] = { F_TEXT, true, 1, KEYSTORE_SHARE_TEXT_MAX },
	[KEYSTORE_TAG_PASSPHRASE] = { F_BYTES, false, 1, KEYSTORE_PASSPHRASE_MAX },
	[KEYSTORE_TAG_EXPORTABLE] = { F_BOOL, false, 1, 1 },
	[KEYSTORE_TAG_ROTATE_PERIOD] = { F_U64, false, 8, 8 },
	[KEYSTORE_TAG_MIN_VERSION] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_STATE] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_CREATED] = { F_U64, false, 8, 8 },
	[KEYSTORE_TAG_DESTROY_AT] = { F_U64, false, 8, 8 },
	[KEYSTORE_TAG_LATEST] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_VALID] = { F_BOOL, false, 1, 1 },
	[KEYSTORE_TAG_ERROR] = { F_TEXT, false, 1, KEYSTORE_ERROR_MAX },
	[KEYSTORE_TAG_ITEM] = { F_EMPTY, false, 0, 0 },
	[KEYSTORE_TAG_STATUS] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_SHARES] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_THRESHOLD] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_SEALED] = { F_BOOL, false, 1, 1 },
	[KEYSTORE_TAG_INITIALIZED] = { F_BOOL, false, 1, 1 },
	[KEYSTORE_TAG_PROGRESS] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_SEAL_TYPE] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_KEY_ID] = { F_BYTES, false, KEYSTORE_KEY_ID_LEN,
				  KEYSTORE_KEY_ID_LEN },
	[KEYSTORE_TAG_VTIME] = { F_U64, true, 8, 8 },
	[KEYSTORE_TAG_LIMIT] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_CURSOR] = { F_TEXT, false, 1, KEYSTORE_NAME_MAX },
	[KEYSTORE_TAG_DELAY] = { F_U64, false, 8, 8 },
	[KEYSTORE_TAG_KDF_T] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_KDF_M] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_MK_EPOCH] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_KEYCOUNT] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_REWRAP_PENDING] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_BITS] = { F_U32, false, 4, 4 },
	[KEYSTORE_TAG_KEYDATA] = { F_BYTES, true, 0, KEYSTORE_WRAPPED_MAX },
	[KEYSTORE_TAG_SALT] = { F_BYTES, false, 16, 64 },
	[KEYSTORE_TAG_NONCE] = { F_BYTES, false, 12, 12 },
	[KEYSTORE_TAG_SEAL_ID] = { F_BYTES, false, 8, 8 },
	[KEYSTORE_TAG_UPDATED] = { F_U64, false, 8, 8 },
	[KEYSTORE_TAG_NO_PLAINTEXT] = { F_BOOL, false, 1, 1 },
	[KEYSTORE_TAG_RAW] = { F_BYTES, false, 0,
			       KEYSTORE_DATA_MAX + KEYSTORE_CTEXT_TAG },
};

/* The decoder's repeat check keeps one bit per tag in a uint64_t. */
_Static_assert(KEYSTORE_TAG_MAX_ <= 64, "tags must fit the seen-mask");

static const struct tag_info *info_of(unsigned tag)
{
	if (tag == 0 || tag >= KEYSTORE_TAG_MAX_ || tag_info[tag].type == F_NONE)
		return NULL;
	return &tag_info[tag];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Printable ASCII plus newline and tab would admit PEM; text fields are
 * identifiers, shares, armoured ciphertexts and messages, so printable
 * ASCII only. */
static bool text_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

static bool value_ok(const struct tag_info *ti, const uint8_t *p, size_t n)
{
	if (n < ti->min || n > ti->max)
		return false;
	switch (ti->type) {
	case F_TEXT:
		return text_ok(p, n);
	case F_BOOL:
		return p[0] <= 1;
	default:
		return true;
	}
}

/* ---------------------------------------------------------------- encoder */

static void write_header(struct keystore_enc *e, enum keystore_kind kind,
			 unsigned op, unsigned status, uint64_t id)
{
	uint8_t h[KEYSTORE_HDR_LEN] = { 'B', 'K', KEYSTORE_PROTO_VERSION,
					(uint8_t)kind };
	put16(h + 4, (uint16_t)op);
	put16(h + 6, (uint16_t)status);
	put64(h + 8, id);
	if (bw_buf_append(&e->buf, h, sizeof(h)) < 0)
		e->failed = true;
}

void ks_enc_init_max(struct keystore_enc *e, size_t max, unsigned op)
{
	bw_buf_init(&e->buf, max);
	e->failed = false;
	e->nitems = 0;
	e->max_items = SIZE_MAX;
	write_header(e, KEYSTORE_RESPONSE, op, 0, 0);
}

void keystore_enc_init(struct keystore_enc *e, enum keystore_kind kind,
		       unsigned op, unsigned status, uint64_t id)
{
	bw_buf_init(&e->buf, KEYSTORE_MSG_MAX);
	e->max_items = KEYSTORE_BATCH_MAX;
	e->failed = false;
	e->nitems = 0;
	write_header(e, kind, op, status, id);
}

void keystore_enc_fini(struct keystore_enc *e)
{
	bw_buf_wipe_fini(&e->buf);
}

void keystore_enc_reset(struct keystore_enc *e, enum keystore_kind kind,
			unsigned op, unsigned status, uint64_t id)
{
	if (e->buf.data)
		bw_wipe(e->buf.data, e->buf.len);
	bw_buf_reset(&e->buf);
	e->failed = false;
	e->nitems = 0;
	write_header(e, kind, op, status, id);
}

void keystore_enc_bytes(struct keystore_enc *e, unsigned tag, const void *p,
			size_t n)
{
	const struct tag_info *ti = info_of(tag);
	if (e->failed)
		return;
	if (!ti || (n > 0 && !p) || !value_ok(ti, p, n)) {
		e->failed = true;
		return;
	}
	uint8_t h[6];
	put16(h, (uint16_t)tag);
	put32(h + 2, (uint32_t)n);
	if (bw_buf_reserve(&e->buf, sizeof(h) + n) < 0) {
		e->failed = true;
		return;
	}
	/* reserve succeeded, so neither append can fail. */
	if (bw_buf_append(&e->buf, h, sizeof(h)) < 0 ||
	    (n > 0 && bw_buf_append(&e->buf, p, n) < 0))
		e->failed = true;
}

void keystore_enc_str(struct keystore_enc *e, unsigned tag, const char *s)
{
	if (!s) {
		e->failed = true;
		return;
	}
	keystore_enc_bytes(e, tag, s, strlen(s));
}

void keystore_enc_strn(struct keystore_enc *e, unsigned tag, const char *s,
		       size_t n)
{
	keystore_enc_bytes(e, tag, s, n);
}

void keystore_enc_u32(struct keystore_enc *e, unsigned tag, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	keystore_enc_bytes(e, tag, b, sizeof(b));
}

void keystore_enc_u64(struct keystore_enc *e, unsigned tag, uint64_t v)
{
	uint8_t b[8];
	put64(b, v);
	keystore_enc_bytes(e, tag, b, sizeof(b));
}

void keystore_enc_bool(struct keystore_enc *e, unsigned tag, bool v)
{
	uint8_t b = v ? 1 : 0;
	keystore_enc_bytes(e, tag, &b, 1);
}

void keystore_enc_item(struct keystore_enc *e)
{
	if (++e->nitems > e->max_items)
		e->failed = true;
	keystore_enc_bytes(e, KEYSTORE_TAG_ITEM, NULL, 0);
}

void keystore_enc_set_status(struct keystore_enc *e, unsigned status)
{
	if (e->buf.len >= KEYSTORE_HDR_LEN)
		put16((uint8_t *)e->buf.data + 6, (uint16_t)status);
}

int keystore_enc_finish(struct keystore_enc *e, const uint8_t **p, size_t *len)
{
	if (e->failed || e->buf.len < KEYSTORE_HDR_LEN)
		return -1;
	put32((uint8_t *)e->buf.data + 16,
	      (uint32_t)(e->buf.len - KEYSTORE_HDR_LEN));
	*p = (const uint8_t *)e->buf.data;
	*len = e->buf.len;
	return 0;
}

void keystore_msg_set_id(uint8_t *msg, uint64_t id)
{
	put64(msg + 8, id);
}

/* ---------------------------------------------------------------- decoder */

static int bad(struct bw_err *err, const char *reason, const char *what,
	       size_t off)
{
	return bw_err_set(err, 400, "keystore", reason,
			  "keystore message: %s at byte %zu", what, off);
}

struct keystore_msg *ks_msg_new_caps(size_t max_len, size_t fields,
				     size_t items)
{
	struct keystore_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->max_len = max_len;
	m->cap_fields = fields;
	m->cap_items = items;
	m->fields = calloc(fields, sizeof(*m->fields));
	m->item_start = calloc(items + 2, sizeof(*m->item_start));
	if (!m->fields || !m->item_start) {
		keystore_msg_free(m);
		return NULL;
	}
	return m;
}

struct keystore_msg *keystore_msg_new(void)
{
	return ks_msg_new_caps(KEYSTORE_MSG_MAX, KEYSTORE_FIELDS_MAX,
			       KEYSTORE_BATCH_MAX);
}

struct keystore_msg *keystore_msg_new_for(size_t len)
{
	size_t body = len > KEYSTORE_HDR_LEN ? len - KEYSTORE_HDR_LEN : 0;
	size_t f = body / 6 + 1, items = body / 6 + 1;
	if (f > KEYSTORE_FIELDS_MAX)
		f = KEYSTORE_FIELDS_MAX;
	if (items > KEYSTORE_BATCH_MAX)
		items = KEYSTORE_BATCH_MAX;
	return ks_msg_new_caps(KEYSTORE_MSG_MAX, f, items);
}

void keystore_msg_free(struct keystore_msg *m)
{
	if (!m)
		return;
	free(m->fields);
	free(m->item_start);
	free(m);
}

int keystore_msg_decode(struct keystore_msg *m, const uint8_t *p, size_t len,
			struct bw_err *err)
{
	if (len < KEYSTORE_HDR_LEN)
		return bad(err, "short", "shorter than the header", 0);
	if (len > m->max_len)
		return bad(err, "too_large", "longer than the maximum", 0);
	if (p[0] != 'B' || p[1] != 'K')
		return bad(err, "magic", "bad magic", 0);
	if (p[2] != KEYSTORE_PROTO_VERSION)
		return bad(err, "version", "unsupported protocol version", 2);
	if (p[3] != KEYSTORE_REQUEST && p[3] != KEYSTORE_RESPONSE)
		return bad(err, "kind", "unknown message kind", 3);
	if (get32(p + 16) != len - KEYSTORE_HDR_LEN)
		return bad(err, "length", "body length does not match", 16);
	if (get32(p + 20) != 0)
		return bad(err, "reserved", "reserved bytes not zero", 20);
	m->kind = p[3];
	m->op = get16(p + 4);
	m->status = get16(p + 6);
	m->id = get64(p + 8);
	if (m->status >= KEYSTORE_STATUS_MAX_)
		return bad(err, "status", "unknown status", 6);
	m->nfields = 0;
	m->nitems = 0;
	m->item_start[0] = 0;
	/* Tags seen in the current item, for the repeat rule. */
	uint64_t seen = 0;
	size_t off = KEYSTORE_HDR_LEN;
	while (off < len) {
		if (len - off < 6)
			return bad(err, "truncated", "truncated field header", off);
		unsigned tag = get16(p + off);
		uint32_t flen = get32(p + off + 2);
		const struct tag_info *ti = info_of(tag);
		if (!ti)
			return bad(err, "tag", "unknown tag", off);
		if (flen > len - off - 6)
			return bad(err, "truncated", "field runs past the end", off);
		const uint8_t *v = p + off + 6;
		if (!value_ok(ti, v, flen))
			return bad(err, "value", "field of the wrong size or type",
				   off);
		if (tag == KEYSTORE_TAG_ITEM) {
			if (m->nitems == m->cap_items)
				return bad(err, "items", "too many batch items", off);
			m->nitems++;
			m->item_start[m->nitems] = (uint32_t)m->nfields;
			seen = 0;
		} else {
			uint64_t bit = (uint64_t)1 << tag;
			if ((seen & bit) && !ti->repeat)
				return bad(err, "repeat", "repeated field", off);
			seen |= bit;
			if (m->nfields == m->cap_fields)
				return bad(err, "fields", "too many fields", off);
			m->fields[m->nfields++] = (struct keystore_field){
				.tag = (uint16_t)tag, .len = flen, .p = v
			};
		}
		off += 6 + (size_t)flen;
	}
	m->item_start[m->nitems + 1] = (uint32_t)m->nfields;
	return 0;
}

const struct keystore_field *keystore_msg_get(const struct keystore_msg *m,
					      size_t item, unsigned tag)
{
	if (item > m->nitems)
		return NULL;
	for (uint32_t i = m->item_start[item]; i < m->item_start[item + 1]; i++)
		if (m->fields[i].tag == tag)
			return &m->fields[i];
	return NULL;
}

const struct keystore_field *keystore_msg_find(const struct keystore_msg *m,
					       size_t item, unsigned tag)
{
	const struct keystore_field *f = keystore_msg_get(m, item, tag);
	if (!f && item != 0)
		f = keystore_msg_get(m, 0, tag);
	return f;
}

bool keystore_msg_u32(const struct keystore_msg *m, size_t item, unsigned tag,
		      uint32_t *out)
{
	const struct keystore_field *f = keystore_msg_find(m, item, tag);
	if (!f || f->len != 4)
		return false;
	*out = get32(f->p);
	return true;
}

bool keystore_msg_u64(const struct keystore_msg *m, size_t item, unsigned tag,
		      uint64_t *out)
{
	const struct keystore_field *f = keystore_msg_find(m, item, tag);
	if (!f || f->len != 8)
		return false;
	*out = get64(f->p);
	return true;
}

bool keystore_msg_bool(const struct keystore_msg *m, size_t item, unsigned tag,
		       bool *out)
{
	const struct keystore_field *f = keystore_msg_find(m, item, tag);
	if (!f || f->len != 1)
		return false;
	*out = f->p[0] != 0;
	return true;
}

bool keystore_msg_str(const struct keystore_msg *m, size_t item, unsigned tag,
		      struct bw_str *out)
{
	const struct keystore_field *f = keystore_msg_find(m, item, tag);
	if (!f)
		return false;
	*out = bw_str_make((const char *)f->p, f->len);
	return true;
}

size_t keystore_msg_items(const struct keystore_msg *m)
{
	return m->nitems ? m->nitems : 1;
}

size_t keystore_msg_item_index(const struct keystore_msg *m, size_t i)
{
	return m->nitems ? i + 1 : 0;
}

/* ------------------------------------------------------------------ names */

static const char *const op_names[] = {
	[KEYSTORE_OP_PING] = "ping",
	[KEYSTORE_OP_STATUS] = "status",
	[KEYSTORE_OP_INIT] = "init",
	[KEYSTORE_OP_UNSEAL] = "unseal",
	[KEYSTORE_OP_SEAL] = "seal",
	[KEYSTORE_OP_UNSEAL_RESET] = "unseal_reset",
	[KEYSTORE_OP_ROTATE_MASTER] = "rotate_master",
	[KEYSTORE_OP_KEY_CREATE] = "key_create",
	[KEYSTORE_OP_KEY_LIST] = "key_list",
	[KEYSTORE_OP_KEY_GET] = "key_get",
	[KEYSTORE_OP_KEY_ROTATE] = "key_rotate",
	[KEYSTORE_OP_KEY_UPDATE] = "key_update",
	[KEYSTORE_OP_KEY_SUSPEND] = "key_suspend",
	[KEYSTORE_OP_KEY_ENABLE] = "key_enable",
	[KEYSTORE_OP_KEY_SCHEDULE_DESTROY] = "key_schedule_destroy",
	[KEYSTORE_OP_KEY_DESTROY] = "key_destroy",
	[KEYSTORE_OP_KEY_EXPORT] = "key_export",
	[KEYSTORE_OP_KEY_IMPORT] = "key_import",
	[KEYSTORE_OP_IMPORT_PARAMS] = "import_params",
	[KEYSTORE_OP_ENCRYPT] = "encrypt",
	[KEYSTORE_OP_DECRYPT] = "decrypt",
	[KEYSTORE_OP_REWRAP] = "rewrap",
	[KEYSTORE_OP_DATAKEY] = "datakey",
	[KEYSTORE_OP_SIGN] = "sign",
	[KEYSTORE_OP_VERIFY] = "verify",
	[KEYSTORE_OP_HMAC] = "hmac",
	[KEYSTORE_OP_HMAC_VERIFY] = "hmac_verify",
	[KEYSTORE_OP_RANDOM] = "random",
	[KEYSTORE_OP_PUBKEY] = "public_key",
	[KEYSTORE_OP_GCM_ENCRYPT] = "gcm_encrypt",
	[KEYSTORE_OP_GCM_DECRYPT] = "gcm_decrypt",
};

static const char *const status_names[KEYSTORE_STATUS_MAX_] = {
	[KEYSTORE_OK] = "ok",
	[KEYSTORE_E_BAD_REQUEST] = "bad_request",
	[KEYSTORE_E_SEALED] = "sealed",
	[KEYSTORE_E_NOT_INITIALIZED] = "not_initialized",
	[KEYSTORE_E_NOT_FOUND] = "not_found",
	[KEYSTORE_E_EXISTS] = "exists",
	[KEYSTORE_E_KEY_STATE] = "key_state",
	[KEYSTORE_E_VERSION] = "key_version",
	[KEYSTORE_E_DENIED] = "denied",
	[KEYSTORE_E_AUTH] = "authentication_failed",
	[KEYSTORE_E_TOO_LARGE] = "too_large",
	[KEYSTORE_E_INTERNAL] = "internal",
	[KEYSTORE_E_UNSUPPORTED] = "unsupported",
	[KEYSTORE_E_ALREADY] = "already",
	[KEYSTORE_E_LIMIT] = "limit",
	[KEYSTORE_E_UNAVAILABLE] = "unavailable",
};

static const char *const type_names[KEYSTORE_KT_MAX_] = {
	[KEYSTORE_KT_AES256_GCM] = "aes256-gcm",
	[KEYSTORE_KT_CHACHA20_POLY1305] = "chacha20-poly1305",
	[KEYSTORE_KT_HMAC_SHA256] = "hmac-sha256",
	[KEYSTORE_KT_HMAC_SHA512] = "hmac-sha512",
	[KEYSTORE_KT_ED25519] = "ed25519",
	[KEYSTORE_KT_ECDSA_P256] = "ecdsa-p256",
	[KEYSTORE_KT_ECDSA_P384] = "ecdsa-p384",
	[KEYSTORE_KT_RSA_2048] = "rsa-2048",
	[KEYSTORE_KT_RSA_3072] = "rsa-3072",
	[KEYSTORE_KT_RSA_4096] = "rsa-4096",
};

static const char *const state_names[] = {
	[KEYSTORE_STATE_ENABLED] = "enabled",
	[KEYSTORE_STATE_SUSPENDED] = "suspended",
	[KEYSTORE_STATE_SCHEDULED] = "scheduled_for_destruction",
	[KEYSTORE_STATE_DESTROYED] = "destroyed",
};

static const char *const seal_names[] = {
	[KEYSTORE_SEAL_NONE] = "none",
	[KEYSTORE_SEAL_AUTO] = "auto",
	[KEYSTORE_SEAL_SHAMIR] = "shamir",
	[KEYSTORE_SEAL_PASSPHRASE] = "passphrase",
};

#define NAME_OF(table, i) ((i) < BW_ARRAY_LEN(table) ? (table)[i] : NULL)

const char *keystore_op_name(unsigned op)
{
	return NAME_OF(op_names, op);
}

const char *keystore_status_name(unsigned status)
{
	return NAME_OF(status_names, status);
}

const char *keystore_key_type_name(unsigned type)
{
	return NAME_OF(type_names, type);
}

unsigned keystore_key_type_parse(const char *name)
{
	for (unsigned i = 1; i < KEYSTORE_KT_MAX_; i++)
		if (name && strcmp(name, type_names[i]) == 0)
			return i;
	return 0;
}

const char *keystore_key_state_name(unsigned state)
{
	return NAME_OF(state_names, state);
}

const char *keystore_seal_type_name(unsigned type)
{
	return NAME_OF(seal_names, type);
}

unsigned keystore_seal_type_parse(const char *name)
{
	for (unsigned i = 1; i < BW_ARRAY_LEN(seal_names); i++)
		if (name && strcmp(name, seal_names[i]) == 0)
			return i;
	return 0;
}

bool keystore_key_type_is_aead(unsigned type)
{
	return type == KEYSTORE_KT_AES256_GCM ||
	       type == KEYSTORE_KT_CHACHA20_POLY1305;
}

bool keystore_key_type_is_signing(unsigned type)
{
	return type >= KEYSTORE_KT_ED25519 && type <= KEYSTORE_KT_RSA_4096;
}

bool keystore_key_type_is_hmac(unsigned type)
{
	return type == KEYSTORE_KT_HMAC_SHA256 || type == KEYSTORE_KT_HMAC_SHA512;
}

bool keystore_name_valid(const char *s, size_t len)
{
	if (!s || len == 0 || len > KEYSTORE_NAME_MAX || s[0] == '.' ||
	    s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}
