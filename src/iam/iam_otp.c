/*
 * One-time codes sent out of band: by e-mail (SMTP through libcurl) and
 * by SMS (a JSON POST to an SMS gateway's webhook, also libcurl). Both
 * run on the calling thread (the pool), bounded by IAM_SMTP_TIMEOUT_MS /
 * IAM_SMS_TIMEOUT_MS.
 *
 * Invariants: a code is 6 random digits, stored only as a salted SHA-256
 * bound to tenant, user and channel, valid IAM_OTP_TTL_S, killed after
 * IAM_OTP_ATTEMPTS wrong guesses and deleted by the statement that
 * accepts it (so it works once, also under concurrency); sending is rate
 * limited per user and channel (a minimum gap and a count per window),
 * so the feature cannot flood an inbox or run up a gateway bill; the
 * code never reaches a log; addresses are checked for CR/LF before they
 * reach an SMTP envelope or header.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"
#include "json/json.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define OTP_SALT 16

static void otp_hash(const uint8_t salt[OTP_SALT], const char *tenant,
		     const char *user_id, int ch, const char *code,
		     uint8_t out[32])
{
	struct bw_buf b;
	bw_buf_init(&b, 512);
	if (bw_buf_append(&b, salt, OTP_SALT) < 0 ||
	    bw_buf_printf(&b, "%s/%s/%d/%s", tenant, user_id, ch, code) < 0)
		memset(out, 0, 32); /* cannot happen: sizes are bounded */
	else
		crypto_sha256(b.data, b.len, out);
	bw_buf_wipe_fini(&b);
}

int iam_user_phone(const struct iam_user *u, char *out, size_t cap)
{
	struct bw_err err;
	struct bw_arena *a = bw_arena_new(1024, 64 * 1024);
	if (!a)
		return -1;
	int rc = -1;
	struct json_value *v =
	    json_parse(a, u->attrs, strlen(u->attrs), NULL, &err);
	const char *ph = v ? json_get_str(v, "phone", NULL) : NULL;
	/* E.164: '+' and 8..15 digits. */
	size_t n = ph ? strlen(ph) : 0;
	if (n >= 9 && n <= 16 && ph[0] == '+' &&
	    strspn(ph + 1, "0123456789") == n - 1) {
		rc = 0;
		if (out && bw_snprintf(out, cap, "%s", ph) < 0)
			rc = -1;
	}
	bw_arena_free(a);
	return rc;
}

static bool email_ok(const char *s)
{
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n < 3 || n > 254 || !at || at == s || !at[1])
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' ||
		    *p == '(' || *p == ')' || *p == ',' || *p == ';' ||
		    *p == '"' || *p == '\\' || (unsigned char)*p == 0x7f)
			return false;
	return true;
}

/* ----------------------------------------------------------- delivery */

struct reader {
	const char *p;
	size_t n, off;
};

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct reader *r = arg;
	size_t want = size * nmemb, left = r->n - r->off;
	size_t k = want < left ? want : left;
	memcpy(buf, r->p + r->off, k);
	r->off += k;
	return k;
}

static size_t discard_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

/* A libcurl handle with what both deliveries share: only the given
 * protocols, no proxy from the environment, no redirects, no signals (we
 * run on a pool thread), the whole exchange bounded. NULL when out of
 * memory. */
static CURL *easy_new(const char *url, const char *protocols, long timeout_ms)
{
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	return c;
}

/* Logs why a delivery failed (never the code) and sets the 502. */
static int delivery_failed(const char *what, const char *why, long status,
			   struct bw_err *err)
{
	log_warnx("iam: %s code not sent: %s (status %ld)", what, why, status);
	return bw_err_set(err, 502, "iam", "delivery_failed",
			  "the code could not be sent");
}

static int send_mail(const struct iam_otp_delivery *d, const char *to,
		     const char *code, struct bw_err *err)
{
	char msg[1024], date[64], from[300], rcpt[300];
	time_t now = (time_t)bw_clock_now_s();
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	const char *iss = d->issuer ? d->issuer : "bulwark";
	if (!d->smtp_url || !d->smtp_from || !email_ok(d->smtp_from))
		return bw_err_set(err, 503, "iam", "no_delivery",
				  "e-mail delivery is not configured");
	if (bw_snprintf(from, sizeof(from), "<%s>", d->smtp_from) < 0 ||
	    bw_snprintf(rcpt, sizeof(rcpt), "<%s>", to) < 0 ||
	    bw_snprintf(msg, sizeof(msg),
			"Date: %s\r\nFrom: %s\r\nTo: %s\r\n"
			"Subject: Your %s sign-in code\r\n"
			"MIME-Version: 1.0\r\n"
			"Content-Type: text/plain; charset=utf-8\r\n"
			"Auto-Submitted: auto-generated\r\n\r\n"
			"Your %s sign-in code is %s\r\n\r\n"
			"It expires in %d minutes. If you did not try to sign "
			"in, someone knows your password: change it.\r\n",
			date, from, rcpt, iss, iss, code,
			IAM_OTP_TTL_S / 60) < 0)
		return bw_err_set(err, 400, "iam", "too_long",
				  "e-mail too long");
	CURL *c = easy_new(d->smtp_url, "smtp,smtps", IAM_SMTP_TIMEOUT_MS);
	struct curl_slist *rcpts = NULL;
	struct reader r = {msg, strlen(msg), 0};
	int rc = -1;
	if (!c || !(rcpts = curl_slist_append(NULL, rcpt))) {
		bw_err_set(err, 503, "iam", "memory", "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &r);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	if (d->smtp_starttls)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		delivery_failed("e-mail", curl_easy_strerror(cc), 0, err);
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(rcpts);
	if (c)
		curl_easy_cleanup(c);
	bw_wipe(msg, sizeof(msg));
	return rc;
}

static int send_sms(const struct iam_otp_delivery *d, const char *to,
		    const char *code, struct bw_err *err)
{
	if (!d->sms_url)
		return bw_err_set(err, 503, "iam", "no_delivery",
				  "SMS delivery is not configured");
	struct bw_buf body;
	char text[160], auth[600];
	struct json_writer w;
	bw_buf_init(&body, 1024);
	bw_snprintf(text, sizeof(text), "%s code: %s (valid %d min)",
		    d->issuer ? d->issuer : "bulwark", code,
		    IAM_OTP_TTL_S / 60);
	json_writer_init(&w, &body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "to", to);
	json_write_kv_string(&w, "message", text);
	json_write_kv_string(&w, "code", code);
	json_write_object_end(&w);
	CURL *c = NULL;
	struct curl_slist *h = NULL;
	int rc = -1;
	if (json_writer_finish(&w) < 0) {
		bw_err_set(err, 500, "iam", "too_large", "SMS too large");
		goto out;
	}
	c = easy_new(d->sms_url, "http,https", IAM_SMS_TIMEOUT_MS);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h && d->sms_bearer &&
	    bw_snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			d->sms_bearer) >= 0)
		h = curl_slist_append(h, auth);
	if (!c || !h) {
		bw_err_set(err, 503, "iam", "memory", "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK || status < 200 || status > 299) {
		delivery_failed("SMS",
				cc != CURLE_OK ? curl_easy_strerror(cc)
					       : "refused by the gateway",
				status, err);
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(h);
	if (c)
		curl_easy_cleanup(c);
	bw_wipe(text, sizeof(text));
	bw_buf_wipe_fini(&body);
	return rc;
}

/* ------------------------------------------------------------- codes */

struct otp_row {
	bool found;
	uint8_t blob[OTP_SALT + 32];
	bool has_code;
	int64_t expires, attempts, last_sent, window_start, window_sends;
};

static int otp_row_fn(void *arg, const struct store_row *row,
		      struct bw_err *err)
{
	(void)err;
	struct otp_row *o = arg;
	size_t n = 0;
	const void *b = store_row_blob(row, 0, &n);
	o->found = true;
	o->has_code = b && n == sizeof(o->blob);
	if (o->has_code)
		memcpy(o->blob, b, n);
	o->expires = store_row_int64(row, 1);
	o->attempts = store_row_int64(row, 2);
	o->last_sent = store_row_int64(row, 3);
	o->window_start = store_row_int64(row, 4);
	o->window_sends = store_row_int64(row, 5);
	return STORE_ROW_NEXT;
}

static int otp_load(struct iam *iam, const char *tenant, const char *user_id,
		    int ch, struct otp_row *o, struct bw_err *err)
{
	memset(o, 0, sizeof(*o));
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id), store_int(ch)};
	return store_query_one(iam->store,
			       "SELECT hash, expires, attempts, last_sent,"
			       " window_start, window_sends FROM iam_otp"
			       " WHERE tenant = ? AND user_id = ? AND"
			       " channel = ?",
			       k, 3, otp_row_fn, o, err);
}

int iam_otp_send(struct iam *iam, const struct iam_otp_delivery *d,
		 const char *tenant, const char *user_id,
		 enum iam_otp_channel ch, struct bw_err *err)
{
	struct iam_user u;
	struct otp_row o;
	char to[IAM_TEXT_MAX + 1], code[16];
	uint8_t salt[OTP_SALT], blob[OTP_SALT + 32];
	int rc = -1;
	if (ch != IAM_OTP_EMAIL && ch != IAM_OTP_SMS)
		return bw_err_set(err, 400, "iam", "bad_channel",
				  "channel is email or sms");
	if (iam_mfa_ready(iam, err) < 0 ||
	    iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	if (ch == IAM_OTP_EMAIL) {
		if (!email_ok(u.email))
			return bw_err_set(err, 404, "iam", "no_address",
					  "no e-mail address on file");
		memcpy(to, u.email, sizeof(to));
	} else if (iam_user_phone(&u, to, sizeof(to)) < 0) {
		return bw_err_set(err, 404, "iam", "no_address",
				  "no phone number on file");
	}
	int64_t now = bw_clock_now_s();
	if (otp_load(iam, tenant, user_id, (int)ch, &o, err) < 0)
		return -1;
	int64_t ws = o.window_start, wn = o.window_sends;
	if (now - ws >= IAM_OTP_SEND_WINDOW_S) {
		ws = now;
		wn = 0;
	}
	if ((o.found && now - o.last_sent < IAM_OTP_RESEND_GAP_S) ||
	    wn >= IAM_OTP_SENDS_PER_WINDOW)
		return bw_err_set(err, 429, "iam", "rate_limited",
				  "a code was sent recently; wait before "
				  "asking for another");
	/* 6 uniform digits: rejection sampling over 32-bit values. */
	uint32_t r;
	do
		bw_random(&r, sizeof(r));
	while (r >= 4294000000u);
	bw_snprintf(code, sizeof(code), "%06u", r % 1000000u);
	bw_random(salt, sizeof(salt));
	memcpy(blob, salt, OTP_SALT);
	otp_hash(salt, tenant, user_id, (int)ch, code, blob + OTP_SALT);
	struct store_value v[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_int(ch),
				  store_blob(blob, sizeof(blob)),
				  store_int(now + IAM_OTP_TTL_S),
				  store_int(now),
				  store_int(ws),
				  store_int(wn + 1)};
	if (store_exec(iam->store,
		       "INSERT INTO iam_otp (tenant, user_id, channel, hash,"
		       " expires, attempts, last_sent, window_start,"
		       " window_sends) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)"
		       " ON CONFLICT (tenant, user_id, channel) DO UPDATE SET"
		       " hash = excluded.hash, expires = excluded.expires,"
		       " attempts = 0, last_sent = excluded.last_sent,"
		       " window_start = excluded.window_start,"
		       " window_sends = excluded.window_sends",
		       v, BW_ARRAY_LEN(v), NULL, err) < 0)
		goto out;
	rc = ch == IAM_OTP_EMAIL ? send_mail(d, to, code, err)
				 : send_sms(d, to, code, err);
out:
	bw_wipe(code, sizeof(code));
	bw_wipe(&r, sizeof(r));
	return rc;
}

int iam_otp_verify(struct iam *iam, const char *tenant, const char *user_id,
		   enum iam_otp_channel ch, const char *code,
		   struct bw_err *err)
{
	struct otp_row o;
	uint8_t h[32];
	size_t cl = code ? strlen(code) : 0;
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	if (otp_load(iam, tenant, user_id, (int)ch, &o, err) < 0)
		return -1;
	int64_t now = bw_clock_now_s();
	if (!o.found || !o.has_code || now >= o.expires ||
	    o.attempts >= IAM_OTP_ATTEMPTS || cl != IAM_OTP_DIGITS ||
	    strspn(code, "0123456789") != cl) {
		if (o.found && o.has_code)
			goto strike;
		return bw_err_set(err, 400, "iam", "bad_code",
				  "invalid or expired code");
	}
	otp_hash(o.blob, tenant, user_id, (int)ch, code, h);
	if (!bw_ct_equal(h, 32, o.blob + OTP_SALT, 32))
		goto strike;
	/* Single use: only the statement that clears this exact hash wins. */
	int64_t changes = 0;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id), store_int(ch),
				  store_blob(o.blob, sizeof(o.blob))};
	if (store_exec(iam->store,
		       "UPDATE iam_otp SET hash = NULL WHERE tenant = ? AND"
		       " user_id = ? AND channel = ? AND hash = ?",
		       k, 4, &changes, err) < 0)
		return -1;
	if (changes != 1)
		return bw_err_set(err, 400, "iam", "replayed",
				  "code already used");
	return 0;
strike:;
	struct store_value s[] = {store_text_str(tenant),
				  store_text_str(user_id), store_int(ch)};
	struct bw_err e2;
	if (store_exec(iam->store,
		       "UPDATE iam_otp SET attempts = attempts + 1 WHERE"
		       " tenant = ? AND user_id = ? AND channel = ?",
		       s, 3, NULL, &e2) < 0)
		log_warnx("iam: code attempt not counted: %s", e2.msg);
	return bw_err_set(err, 400, "iam", "bad_code",
			  "invalid or expired code");
}
