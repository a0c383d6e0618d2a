/*
 * MFA: HOTP (RFC 4226) and TOTP (RFC 6238, SHA-1/256/512, 6–8 digits,
 * ±1 step), enrolment with an otpauth:// URI and a QR code (libqrencode,
 * as SVG or PNG), and hashed one-time recovery codes.
 *
 * Invariants: the TOTP secret is stored only sealed (struct iam_sealer,
 * aad "tenant/user/totp") and wiped from memory after each use; a code is
 * accepted only for a time step strictly after the last accepted one, and
 * the step is advanced with a conditional UPDATE so two concurrent uses
 * of one code cannot both succeed; recovery codes are stored as SHA-256
 * (80 bits of entropy each) and deleted when used.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"

#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* RFC 4648 base32 without padding; out needs 8*ceil(n/5)/5... +1. */
static size_t b32_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;
	uint32_t buf = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		buf = (buf << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32_alphabet[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(buf << (5 - bits)) & 31];
	out[o] = 0;
	return o;
}

static enum crypto_hash alg_hash(enum iam_totp_alg a)
{
	return a == IAM_TOTP_SHA256   ? CRYPTO_SHA256
	       : a == IAM_TOTP_SHA512 ? CRYPTO_SHA512
				      : CRYPTO_SHA1;
}

static const char *alg_name(enum iam_totp_alg a)
{
	return a == IAM_TOTP_SHA256   ? "SHA256"
	       : a == IAM_TOTP_SHA512 ? "SHA512"
				      : "SHA1";
}

static size_t alg_secret_len(enum iam_totp_alg a)
{
	/* RFC 4226 recommends 160 bits; RFC 6238's test seeds match the
	 * hash output size, which we follow. */
	return a == IAM_TOTP_SHA256 ? 32 : a == IAM_TOTP_SHA512 ? 64 : 20;
}

int iam_hotp(const uint8_t *secret, size_t n, enum iam_totp_alg alg,
	     unsigned digits, uint64_t counter, char out[16])
{
	uint8_t msg[8], mac[64];
	static const uint32_t pow10[] = {
	    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
	if (digits < IAM_TOTP_DIGITS_MIN || digits > IAM_TOTP_DIGITS_MAX ||
	    alg > IAM_TOTP_SHA512)
		return -1;
	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)counter;
		counter >>= 8;
	}
	enum crypto_hash h = alg_hash(alg);
	if (crypto_hmac(h, secret, n, msg, sizeof(msg), mac, NULL) < 0)
		return -1;
	size_t ml = crypto_hash_len(h);
	unsigned off = mac[ml - 1] & 0x0f;
	uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) |
		       ((uint32_t)mac[off + 1] << 16) |
		       ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
	bw_wipe(mac, sizeof(mac));
	if (bw_snprintf(out, 16, "%0*u", (int)digits, bin % pow10[digits]) < 0)
		return -1;
	return 0;
}

/* Percent-encodes s (RFC 3986 unreserved kept) into out. -1 if it does
 * not fit. */
static int pct_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			     c == '_' || c == '~';
		if (o + (plain ? 1 : 3) >= cap)
			return -1;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	return 0;
}

/* ------------------------------------------------------------ enrolment */

struct totp_row {
	uint8_t sealed[512];
	size_t sealed_len;
	enum iam_totp_alg alg;
	unsigned digits, period;
	bool confirmed;
	int64_t last_step;
};

static int totp_row_cb(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	struct totp_row *t = arg;
	size_t n = 0;
	const void *p = store_row_blob(row, 0, &n);
	if (n > sizeof(t->sealed))
		return bw_err_set(err, 500, "iam", "corrupt",
				  "sealed TOTP secret too long");
	memcpy(t->sealed, p, n);
	t->sealed_len = n;
	int64_t alg = store_row_int64(row, 1);
	t->alg = alg == 1   ? IAM_TOTP_SHA256
		 : alg == 2 ? IAM_TOTP_SHA512
			    : IAM_TOTP_SHA1;
	t->digits = (unsigned)store_row_int64(row, 2);
	t->period = (unsigned)store_row_int64(row, 3);
	t->confirmed = store_row_int64(row, 4) != 0;
	t->last_step = store_row_int64(row, 5);
	return STORE_ROW_NEXT;
}

static int totp_load(struct iam *iam, const char *tenant, const char *user_id,
		     struct totp_row *t, struct bw_err *err)
{
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	return store_query_one(iam->store,
			       "SELECT sealed, alg, digits, period, confirmed,"
			       " last_step FROM iam_totp WHERE tenant = ?"
			       " AND user_id = ?",
			       k, 2, totp_row_cb, t, err);
}

int iam_totp_begin(struct iam *iam, const char *tenant, const char *user_id,
		   const char *issuer, enum iam_totp_alg alg, unsigned digits,
		   struct iam_totp_enrolment *e, struct bw_err *err)
{
	struct iam_user u;
	struct totp_row cur;
	uint8_t secret[64];
	struct bw_buf sealed;
	char iss[128], acct[3 * IAM_NAME_MAX + 1];
	int rc = -1;
	if (digits == 0)
		digits = 6;
	if (digits < IAM_TOTP_DIGITS_MIN || digits > IAM_TOTP_DIGITS_MAX ||
	    alg > IAM_TOTP_SHA512)
		return bw_err_set(err, 400, "iam", "bad_totp",
				  "digits 6..8, alg SHA1/256/512");
	if (!issuer || !*issuer)
		issuer = "bulwark";
	if (iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	int found = totp_load(iam, tenant, user_id, &cur, err);
	if (found < 0)
		return -1;
	if (found && cur.confirmed)
		return bw_err_set(err, 409, "iam", "enrolled",
				  "TOTP is already enrolled; disable it first");
	size_t n = alg_secret_len(alg);
	bw_random(secret, n);
	bw_buf_init(&sealed, 1024);
	memset(e, 0, sizeof(*e));
	if (iam_seal(iam, tenant, user_id, "totp", secret, n, &sealed, err) < 0)
		goto out;
	struct store_value v[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_blob(sealed.data, sealed.len),
				  store_int((int64_t)alg),
				  store_int(digits),
				  store_int(IAM_TOTP_PERIOD_DEFAULT),
				  store_int(bw_clock_now_s())};
	if (store_exec(
		iam->store,
		"INSERT INTO iam_totp (tenant, user_id, sealed, alg, digits,"
		" period, confirmed, last_step, created)"
		" VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?)"
		" ON CONFLICT (tenant, user_id) DO UPDATE SET"
		" sealed = excluded.sealed, alg = excluded.alg,"
		" digits = excluded.digits, period = excluded.period,"
		" confirmed = 0, last_step = 0, created = excluded.created",
		v, BW_ARRAY_LEN(v), NULL, err) < 0)
		goto out;
	b32_encode(secret, n, e->secret_b32);
	if (pct_encode(issuer, iss, sizeof(iss)) < 0 ||
	    pct_encode(u.name, acct, sizeof(acct)) < 0 ||
	    bw_snprintf(
		e->uri, sizeof(e->uri),
		"otpauth://totp/"
		"%s:%s?secret=%s&issuer=%s&algorithm=%s&digits=%u&period=%u",
		iss, acct, e->secret_b32, iss, alg_name(alg), digits,
		IAM_TOTP_PERIOD_DEFAULT) < 0) {
		bw_err_set(err, 400, "iam", "too_long", "otpauth URI too long");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		bw_wipe(e, sizeof(*e));
	bw_wipe(secret, sizeof(secret));
	bw_buf_fini(&sealed);
	return rc;
}

/* Checks code against steps now-1..now+1 that are after last_step.
 * Returns the matching step, or -1. */
static int64_t match_step(const uint8_t *secret, size_t n,
			  const struct totp_row *t, const char *code)
{
	int64_t now_step = bw_clock_now_s() / (int64_t)t->period;
	int64_t found = -1;
	size_t cl = strlen(code);
	for (int64_t s = now_step - IAM_TOTP_SKEW;
	     s <= now_step + IAM_TOTP_SKEW; s++) {
		char want[16];
		if (s <= t->last_step || s < 0)
			continue;
		if (iam_hotp(secret, n, t->alg, t->digits, (uint64_t)s, want) <
		    0)
			continue;
		/* Every candidate is compared, so timing does not say which
		 * step matched. */
		if (bw_ct_equal(want, strlen(want), code, cl) && found < 0)
			found = s;
		bw_wipe(want, sizeof(want));
	}
	return found;
}

/* Opens the secret and matches code; on success advances last_step
 * (conditionally) and optionally confirms. */
static int totp_check(struct iam *iam, const char *tenant, const char *user_id,
		      const char *code, bool confirm, struct bw_err *err)
{
	struct totp_row t;
	struct bw_buf secret;
	int rc = -1;
	int found = totp_load(iam, tenant, user_id, &t, err);
	if (found <= 0)
		return found < 0 ? -1
				 : bw_err_set(err, 404, "iam", "not_enrolled",
					      "TOTP is not enrolled");
	if (confirm == t.confirmed)
		return bw_err_set(err, confirm ? 409 : 404, "iam",
				  confirm ? "enrolled" : "not_enrolled",
				  confirm ? "TOTP is already confirmed"
					  : "TOTP is not confirmed");
	if (t.period == 0)
		return bw_err_set(err, 500, "iam", "corrupt", "TOTP period 0");
	bw_buf_init(&secret, 1024);
	if (iam_unseal(iam, tenant, user_id, "totp", t.sealed, t.sealed_len,
		       &secret, err) < 0)
		goto out;
	int64_t step =
	    match_step((const uint8_t *)secret.data, secret.len, &t, code);
	if (step < 0) {
		/* Tell replays apart for the event log: the code matches a
		 * step already used. */
		struct totp_row any = t;
		any.last_step = -1;
		bw_err_set(err, 400, "iam",
			   match_step((const uint8_t *)secret.data, secret.len,
				      &any, code) >= 0
			       ? "replayed"
			       : "bad_code",
			   "the code is not valid");
		goto out;
	}
	int64_t changes = 0;
	struct store_value v[] = {
	    store_int(step), store_bool(confirm || t.confirmed),
	    store_text_str(tenant), store_text_str(user_id), store_int(step)};
	if (store_exec(iam->store,
		       "UPDATE iam_totp SET last_step = ?, confirmed = ?"
		       " WHERE tenant = ? AND user_id = ? AND last_step < ?",
		       v, 5, &changes, err) < 0)
		goto out;
	if (changes != 1) {
		bw_err_set(err, 400, "iam", "replayed",
			   "the code is not valid");
		goto out;
	}
	rc = 0;
out:
	bw_buf_wipe_fini(&secret);
	return rc;
}

int iam_totp_confirm(struct iam *iam, const char *tenant, const char *user_id,
		     const char *code,
		     char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1],
		     struct bw_err *err)
{
	if (totp_check(iam, tenant, user_id, code ? code : "", true, err) < 0)
		return -1;
	return iam_recovery_codes_new(iam, tenant, user_id, codes, err);
}

int iam_totp_verify(struct iam *iam, const char *tenant, const char *user_id,
		    const char *code, struct bw_err *err)
{
	return totp_check(iam, tenant, user_id, code ? code : "", false, err);
}

struct disable_args {
	const char *tenant, *user_id;
};

static int disable_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct disable_args *a = arg;
	struct store_value k[] = {store_text_str(a->tenant),
				  store_text_str(a->user_id)};
	if (store_tx_exec(
		tx, "DELETE FROM iam_totp WHERE tenant = ? AND user_id = ?", k,
		2, err) < 0)
		return -1;
	if (store_tx_changes(tx) == 0)
		return bw_err_set(err, 404, "iam", "not_enrolled",
				  "TOTP is not enrolled");
	return store_tx_exec(
	    tx, "DELETE FROM iam_recovery WHERE tenant = ? AND user_id = ?", k,
	    2, err);
}

int iam_totp_disable(struct iam *iam, const char *tenant, const char *user_id,
		     struct bw_err *err)
{
	struct disable_args a = {tenant, user_id};
	return store_write(iam->store, disable_job, &a, err);
}

/* ------------------------------------------------------- recovery codes */

/* Upper-cases and drops '-' and spaces; 16 base32 characters or -1. */
static int normalise_code(const char *in, char out[17])
{
	size_t o = 0;
	for (; *in; in++) {
		char c = *in;
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (!strchr(b32_alphabet, c) || c == 0 || o == 16)
			return -1;
		out[o++] = c;
	}
	out[o] = 0;
	return o == 16 ? 0 : -1;
}

struct recovery_args {
	const char *tenant, *user_id;
	uint8_t hashes[IAM_RECOVERY_CODES][32];
};

static int recovery_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct recovery_args *a = arg;
	struct store_value k[] = {store_text_str(a->tenant),
				  store_text_str(a->user_id)};
	int rc = store_tx_query_one(
	    tx, "SELECT 1 FROM iam_user WHERE tenant = ? AND id = ?", k, 2,
	    NULL, NULL, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 404, "iam", "not_found",
					   "no such user");
	if (store_tx_exec(
		tx, "DELETE FROM iam_recovery WHERE tenant = ? AND user_id = ?",
		k, 2, err) < 0)
		return -1;
	for (int i = 0; i < IAM_RECOVERY_CODES; i++) {
		struct store_value v[] = {store_text_str(a->tenant),
					  store_text_str(a->user_id),
					  store_blob(a->hashes[i], 32)};
		if (store_tx_exec(
			tx,
			"INSERT INTO iam_recovery (tenant, user_id, hash)"
			" VALUES (?, ?, ?)",
			v, 3, err) < 0)
			return -1;
	}
	return 0;
}

int iam_recovery_codes_new(
    struct iam *iam, const char *tenant, const char *user_id,
    char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1],
    struct bw_err *err)
{
	struct recovery_args a = {tenant, user_id, {{0}}};
	for (int i = 0; i < IAM_RECOVERY_CODES; i++) {
		uint8_t rnd[10];
		char b32[17];
		bw_random(rnd, sizeof(rnd));
		b32_encode(rnd, sizeof(rnd), b32);
		crypto_sha256(b32, 16, a.hashes[i]);
		bw_snprintf(codes[i], IAM_RECOVERY_CODE_LEN + 1,
			    "%.4s-%.4s-%.4s-%.4s", b32, b32 + 4, b32 + 8,
			    b32 + 12);
		bw_wipe(rnd, sizeof(rnd));
		bw_wipe(b32, sizeof(b32));
	}
	int rc = store_write(iam->store, recovery_job, &a, err);
	if (rc < 0)
		bw_wipe(codes, (size_t)IAM_RECOVERY_CODES *
				   (IAM_RECOVERY_CODE_LEN + 1));
	return rc;
}

int iam_recovery_code_use(struct iam *iam, const char *tenant,
			  const char *user_id, const char *code,
			  struct bw_err *err)
{
	char norm[17];
	uint8_t h[32];
	int64_t changes = 0;
	if (!code || normalise_code(code, norm) < 0)
		return bw_err_set(err, 400, "iam", "bad_code",
				  "the code is not valid");
	crypto_sha256(norm, 16, h);
	bw_wipe(norm, sizeof(norm));
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_blob(h, sizeof(h))};
	if (store_exec(
		iam->store,
		"DELETE FROM iam_recovery WHERE tenant = ? AND user_id = ?"
		" AND hash = ?",
		k, 3, &changes, err) < 0)
		return -1;
	if (changes != 1)
		return bw_err_set(err, 400, "iam", "bad_code",
				  "the code is not valid");
	return 0;
}

/* -------------------------------------------------------------- QR codes */

static QRcode *qr_encode(const char *text, struct bw_err *err)
{
	if (!text || strlen(text) > IAM_OTPAUTH_MAX) {
		bw_err_set(err, 400, "iam", "too_long", "QR text too long");
		return NULL;
	}
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q)
		bw_err_set(err, 500, "iam", "qrencode", "QR encoding failed");
	return q;
}

#define QR_QUIET 4

char *iam_qr_svg(const char *text, struct bw_err *err)
{
	QRcode *q = qr_encode(text, err);
	if (!q)
		return NULL;
	struct bw_buf b;
	int size = q->width + 2 * QR_QUIET;
	bw_buf_init(&b, 1 << 20);
	int rc = bw_buf_printf(
	    &b,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\""
	    " shape-rendering=\"crispEdges\" role=\"img\""
	    " aria-label=\"TOTP enrolment QR code\">"
	    "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
	    "<path fill=\"#000\" d=\"",
	    size, size, size, size);
	for (int y = 0; rc == 0 && y < q->width; y++)
		for (int x = 0; rc == 0 && x < q->width; x++)
			if (q->data[y * q->width + x] & 1)
				rc = bw_buf_printf(&b, "M%d %dh1v1h-1z",
						   x + QR_QUIET, y + QR_QUIET);
	if (rc == 0)
		rc = bw_buf_append_str(&b, "\"/></svg>\n");
	QRcode_free(q);
	if (rc < 0) {
		bw_buf_fini(&b);
		bw_err_set(err, 500, "iam", "too_large", "SVG too large");
		return NULL;
	}
	size_t n;
	return bw_buf_detach(&b, &n);
}

/* ------------------------------------------------------------------ PNG */

static uint32_t crc32_update(uint32_t c, const uint8_t *p, size_t n)
{
	c = ~c;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static int put32(struct bw_buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
			(uint8_t)(v >> 8), (uint8_t)v};
	return bw_buf_append(b, x, 4);
}

static int png_chunk(struct bw_buf *b, const char type[4], const uint8_t *data,
		     size_t n)
{
	if (put32(b, (uint32_t)n) < 0)
		return -1;
	size_t start = b->len;
	if (bw_buf_append(b, type, 4) < 0 ||
	    (n && bw_buf_append(b, data, n) < 0))
		return -1;
	return put32(b,
		     crc32_update(0, (const uint8_t *)b->data + start, n + 4));
}

/*
 * A grayscale 8-bit PNG whose IDAT is a zlib stream of stored (not
 * compressed) deflate blocks: a QR image is small, and this keeps us free
 * of a zlib dependency for one picture.
 */
uint8_t *iam_qr_png(const char *text, unsigned scale, size_t *len,
		    struct bw_err *err)
{
	if (scale == 0)
		scale = 4;
	if (scale > 16) {
		bw_err_set(err, 400, "iam", "bad_scale", "scale 1..16");
		return NULL;
	}
	QRcode *q = qr_encode(text, err);
	if (!q)
		return NULL;
	size_t side = (size_t)(q->width + 2 * QR_QUIET) * scale;
	size_t raw_len = side * (side + 1); /* a filter byte per row */
	uint8_t *raw = malloc(raw_len);
	struct bw_buf z, png;
	uint8_t *out = NULL;
	bw_buf_init(&z, raw_len + raw_len / 65535 * 5 + 64);
	bw_buf_init(&png, raw_len + raw_len / 65535 * 5 + 256);
	if (!raw)
		goto fail;
	for (size_t y = 0; y < side; y++) {
		uint8_t *row = raw + y * (side + 1);
		row[0] = 0; /* filter: none */
		for (size_t x = 0; x < side; x++) {
			long mx = (long)(x / scale) - QR_QUIET,
			     my = (long)(y / scale) - QR_QUIET;
			bool dark = mx >= 0 && my >= 0 && mx < q->width &&
				    my < q->width &&
				    (q->data[my * q->width + mx] & 1);
			row[1 + x] = dark ? 0 : 255;
		}
	}
	/* zlib header (deflate, 32K window, no dictionary, level 0). */
	uint8_t zh[2] = {0x78, 0x01};
	if (bw_buf_append(&z, zh, 2) < 0)
		goto fail;
	uint32_t a = 1, bsum = 0;
	for (size_t off = 0; off < raw_len;) {
		size_t n = raw_len - off > 65535 ? 65535 : raw_len - off;
		uint8_t hdr[5] = {off + n == raw_len ? 1 : 0, (uint8_t)n,
				  (uint8_t)(n >> 8), (uint8_t)~n,
				  (uint8_t)(~n >> 8)};
		if (bw_buf_append(&z, hdr, 5) < 0 ||
		    bw_buf_append(&z, raw + off, n) < 0)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			a = (a + raw[off + i]) % 65521;
			bsum = (bsum + a) % 65521;
		}
		off += n;
	}
	if (put32(&z, (bsum << 16) | a) < 0)
		goto fail;
	static const uint8_t sig[8] = {0x89, 'P',  'N',	 'G',
				       '\r', '\n', 0x1a, '\n'};
	uint8_t ihdr[13] = {(uint8_t)(side >> 24),
			    (uint8_t)(side >> 16),
			    (uint8_t)(side >> 8),
			    (uint8_t)side,
			    (uint8_t)(side >> 24),
			    (uint8_t)(side >> 16),
			    (uint8_t)(side >> 8),
			    (uint8_t)side,
			    8,
			    0,
			    0,
			    0,
			    0};
	if (bw_buf_append(&png, sig, 8) < 0 ||
	    png_chunk(&png, "IHDR", ihdr, 13) < 0 ||
	    png_chunk(&png, "IDAT", (const uint8_t *)z.data, z.len) < 0 ||
	    png_chunk(&png, "IEND", NULL, 0) < 0)
		goto fail;
	out = (uint8_t *)bw_buf_detach(&png, len);
	goto done;
fail:
	bw_err_set(err, 500, "iam", "png", "PNG encoding failed");
done:
	free(raw);
	bw_buf_fini(&z);
	bw_buf_fini(&png);
	QRcode_free(q);
	return out;
}
