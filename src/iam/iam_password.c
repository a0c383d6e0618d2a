/*
 * Passwords: Argon2id hashing in PHC string form (libargon2), the NIST SP
 * 800-63B policy checks, the blocklist set, history, change and reset.
 *
 * Invariants: a plaintext password is only ever borrowed and every copy
 * made here is wiped; the blocklist set is immutable after loading (no
 * lock on lookup); a stored hash always has parameters at least OWASP's
 * floor, because iam_new refuses weaker ones and rehash-on-login moves
 * old hashes to the current parameters.
 */
#include "iam/iam_int.h"

#include <argon2.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---------------------------------------------------------------- Argon2 */

/* Nice value of a thread that computes Argon2id. The hashing pool's
 * threads compete with the event loops for the cores; at nice 10 the
 * kernel's scheduler gives a loop thread about ten times the share of a
 * hashing thread when both want the same core, so a burst of sign-ins
 * slows itself down rather than the requests in flight, and still uses
 * every idle cycle. Raising one's own nice value needs no privilege. */
#define IAM_HASH_THREAD_NICE 10

static void hash_thread_yield_priority(void)
{
	static _Thread_local bool done;
	if (done)
		return;
	done = true;
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
			IAM_HASH_THREAD_NICE) < 0)
		log_warn("iam: cannot lower the hashing thread's priority");
}

int iam_hash_password(const struct iam *iam, const char *pw, size_t n,
		      char out[IAM_PHC_MAX], struct bw_err *err)
{
	uint8_t salt[IAM_ARGON2_SALT_LEN];
	if (n > IAM_PW_BYTES_MAX)
		return bw_err_set(err, 400, "iam", "too_long",
				  "password too long");
	size_t need = argon2_encodedlen(iam->argon2.t, iam->argon2.m_kib,
					iam->argon2.p, IAM_ARGON2_SALT_LEN,
					IAM_ARGON2_HASH_LEN, Argon2_id);
	if (need > IAM_PHC_MAX)
		return bw_err_set(err, 500, "iam", "internal",
				  "PHC buffer too small");
	bw_random(salt, sizeof(salt));
	hash_thread_yield_priority();
	int rc = argon2id_hash_encoded(iam->argon2.t, iam->argon2.m_kib,
				       iam->argon2.p, pw, n, salt, sizeof(salt),
				       IAM_ARGON2_HASH_LEN, out, IAM_PHC_MAX);
	bw_wipe(salt, sizeof(salt));
	if (rc != ARGON2_OK)
		return bw_err_set(
		    err, rc == ARGON2_MEMORY_ALLOCATION_ERROR ? 503 : 500,
		    "iam", "argon2", "argon2id: %s", argon2_error_message(rc));
	return 0;
}

int iam_verify_password(const char *phc, const char *pw, size_t n)
{
	if (!phc || strncmp(phc, "$argon2id$", 10) != 0 || n > IAM_PW_BYTES_MAX)
		return -1;
	hash_thread_yield_priority();
	int rc = argon2id_verify(phc, pw, n);
	if (rc == ARGON2_OK)
		return 1;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return 0;
	return -1;
}

/* Reads "$argon2id$v=19$m=M,t=T,p=P$..." parameters. */
static bool phc_params(const char *phc, unsigned *v, unsigned *m, unsigned *t,
		       unsigned *p)
{
	char tail;
	return sscanf(phc, "$argon2id$v=%u$m=%u,t=%u,p=%u%c", v, m, t, p,
		      &tail) == 5 &&
	       tail == '$';
}

bool iam_needs_rehash(const struct iam *iam, const char *phc)
{
	unsigned v, m, t, p;
	if (!phc_params(phc, &v, &m, &t, &p))
		return true;
	return v != ARGON2_VERSION_13 || m != iam->argon2.m_kib ||
	       t != iam->argon2.t || p != iam->argon2.p;
}

/* ------------------------------------------------------------ blocklist */

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: spreads FNV's weak low bits. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Keyed hash of the ASCII-lower-cased bytes. A collision only makes one
 * more password "blocklisted"; the random seed keeps an attacker from
 * predicting which. */
static uint64_t block_hash(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL ^ seed;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		h ^= c;
		h *= 1099511628211ULL;
	}
	h = mix64(h);
	return h ? h : 1;
}

int iam_blockset_init(struct iam_blockset *s, size_t capacity)
{
	size_t cap = 16;
	while (cap < capacity * 2) {
		if (cap > SIZE_MAX / 4)
			return -1;
		cap <<= 1;
	}
	memset(s, 0, sizeof(*s));
	s->slots = calloc(cap, sizeof(uint64_t));
	if (!s->slots)
		return -1;
	s->mask = cap - 1;
	bw_random(&s->seed, sizeof(s->seed));
	return 0;
}

void iam_blockset_add(struct iam_blockset *s, const char *p, size_t n)
{
	uint64_t h = block_hash(s->seed, p, n);
	size_t i = (size_t)h & s->mask;
	while (s->slots[i]) {
		if (s->slots[i] == h)
			return;
		i = (i + 1) & s->mask;
	}
	s->slots[i] = h;
	s->n++;
}

bool iam_blockset_has(const struct iam_blockset *s, const char *p, size_t n)
{
	if (!s->slots)
		return false;
	uint64_t h = block_hash(s->seed, p, n);
	size_t i = (size_t)h & s->mask;
	while (s->slots[i]) {
		if (s->slots[i] == h)
			return true;
		i = (i + 1) & s->mask;
	}
	return false;
}

void iam_blockset_fini(struct iam_blockset *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

/*
 * The file format (IAM.md): UTF-8 text, one password per line, LF or CRLF
 * line ends; empty lines and lines starting with '#' are skipped; matching
 * ignores ASCII case. Lines over IAM_BLOCKLIST_LINE_MAX bytes are refused
 * (a file that has them is not a password list). Two passes: count, then
 * size the set once and fill it.
 */
int iam_blockset_load(struct iam_blockset *s, const char *path, size_t max,
		      struct bw_err *err)
{
	FILE *f = fopen(path, "re");
	char line[IAM_BLOCKLIST_LINE_MAX + 3];
	size_t count = 0, lineno = 0;
	int rc = -1;
	if (!f)
		return bw_err_set(err, 500, "iam", "blocklist",
				  "cannot open %s: %s", path, strerror(errno));
	for (int pass = 0; pass < 2; pass++) {
		lineno = 0;
		while (fgets(line, sizeof(line), f)) {
			size_t n = strlen(line);
			lineno++;
			if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
				bw_err_set(err, 400, "iam", "blocklist",
					   "%s:%zu: line longer than %d bytes",
					   path, lineno,
					   IAM_BLOCKLIST_LINE_MAX);
				goto out;
			}
			while (n &&
			       (line[n - 1] == '\n' || line[n - 1] == '\r'))
				n--;
			if (n == 0 || line[0] == '#')
				continue;
			if (pass == 0) {
				if (++count > max) {
					bw_err_set(err, 413, "iam", "blocklist",
						   "%s: more than %zu entries",
						   path, max);
					goto out;
				}
			} else {
				iam_blockset_add(s, line, n);
			}
		}
		if (ferror(f)) {
			bw_err_set(err, 500, "iam", "blocklist",
				   "reading %s failed", path);
			goto out;
		}
		if (pass == 0) {
			if (iam_blockset_init(s, count ? count : 1) < 0) {
				bw_err_set(
				    err, 500, "iam", "memory",
				    "no memory for %zu blocklist entries",
				    count);
				goto out;
			}
			rewind(f);
		}
	}
	log_info("iam: blocklist %s: %zu entries", path, s->n);
	rc = 0;
out:
	bw_wipe(line, sizeof(line));
	fclose(f);
	if (rc < 0)
		iam_blockset_fini(s);
	return rc;
}

bool iam_blocklist_contains(const struct iam *iam, const char *s, size_t n)
{
	return iam_blockset_has(&iam->blocklist, s, n);
}

size_t iam_blocklist_size(const struct iam *iam)
{
	return iam->blocklist.n;
}

/* --------------------------------------------------------------- policy */

/* Code points of valid UTF-8, or -1 (invalid, overlong, surrogate, NUL). */
static long utf8_count(const unsigned char *p, size_t n)
{
	long count = 0;
	size_t i = 0;
	while (i < n) {
		uint32_t c = p[i];
		size_t len;
		uint32_t min;
		if (c == 0)
			return -1;
		if (c < 0x80) {
			i++;
			count++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			len = 2, min = 0x80, c &= 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3, min = 0x800, c &= 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4, min = 0x10000, c &= 0x07;
		} else {
			return -1;
		}
		if (n - i < len)
			return -1;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return -1;
			c = (c << 6) | (p[i + k] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return -1;
		i += len;
		count++;
	}
	return count;
}

/* Case-insensitive (ASCII) substring test. */
static bool contains_ci(const char *hay, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);
	if (nn == 0 || nn > hn)
		return false;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t k = 0;
		for (; k < nn; k++) {
			char a = hay[i + k], b = needle[k];
			if (a >= 'A' && a <= 'Z')
				a = (char)(a + 32);
			if (b >= 'A' && b <= 'Z')
				b = (char)(b + 32);
			if (a != b)
				break;
		}
		if (k == nn)
			return true;
	}
	return false;
}

int iam_password_check(struct iam *iam, const struct iam_policy *p,
		       const char *tenant_name, const char *user_name,
		       const char *pw, size_t n, struct bw_err *err)
{
	if (n > IAM_PW_BYTES_MAX)
		return bw_err_set(err, 400, "iam", "too_long",
				  "password is too long");
	long cps = utf8_count((const unsigned char *)pw, n);
	if (cps < 0)
		return bw_err_set(err, 400, "iam", "bad_encoding",
				  "password must be valid UTF-8 without NUL");
	if ((unsigned long)cps < p->pw_min_length)
		return bw_err_set(err, 400, "iam", "too_short",
				  "password needs at least %u characters",
				  p->pw_min_length);
	if ((unsigned long)cps > p->pw_max_length)
		return bw_err_set(err, 400, "iam", "too_long",
				  "password may have at most %u characters",
				  p->pw_max_length);
	unsigned lower = 0, upper = 0, digit = 0, symbol = 0;
	bool same = true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pw[i];
		if (c >= 'a' && c <= 'z')
			lower++;
		else if (c >= 'A' && c <= 'Z')
			upper++;
		else if (c >= '0' && c <= '9')
			digit++;
		else if (c < 0x80 || (c & 0xC0) == 0xC0)
			symbol++; /* ASCII punctuation/space, or a non-ASCII
				     character (counted once, at its lead byte)
				   */
		if (pw[i] != pw[0])
			same = false;
	}
	/* NIST: refuse "repetitive or sequential characters"; one character
	 * repeated is the case no blocklist can enumerate. */
	if (same)
		return bw_err_set(err, 400, "iam", "repetitive",
				  "password repeats a single character");
	if (lower < p->pw_min_lower || upper < p->pw_min_upper ||
	    digit < p->pw_min_digit || symbol < p->pw_min_symbol)
		return bw_err_set(
		    err, 400, "iam", "composition",
		    "password needs at least %u lower-case, %u upper-case,"
		    " %u digits and %u other characters",
		    p->pw_min_lower, p->pw_min_upper, p->pw_min_digit,
		    p->pw_min_symbol);
	if (p->pw_forbid_names) {
		/* Names shorter than 3 would forbid too much ("a", "ab"). */
		if ((user_name && strlen(user_name) >= 3 &&
		     contains_ci(pw, n, user_name)) ||
		    (tenant_name && strlen(tenant_name) >= 3 &&
		     contains_ci(pw, n, tenant_name)))
			return bw_err_set(
			    err, 400, "iam", "contains_name",
			    "password contains the user or tenant name");
	}
	if (p->pw_blocklist && iam_blocklist_contains(iam, pw, n))
		return bw_err_set(
		    err, 400, "iam", "blocklisted",
		    "password is on the list of common or breached passwords");
	return 0;
}

/* -------------------------------------------------------------- storing */

struct pw_store_args {
	const char *tenant, *user_id, *phc;
	bool must_change;
	uint32_t history;
};

static int pw_store_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct pw_store_args *a = arg;
	int64_t now = bw_clock_now_s();
	struct store_value v[] = {
	    store_text_str(a->phc),	store_int(now),
	    store_bool(a->must_change), store_int(now),
	    store_text_str(a->tenant),	store_text_str(a->user_id)};
	if (store_tx_exec(tx,
			  "UPDATE iam_user SET password_hash = ?,"
			  " password_changed = ?, must_change = ?, updated = ?"
			  " WHERE tenant = ? AND id = ?",
			  v, 6, err) < 0)
		return -1;
	if (store_tx_changes(tx) != 1)
		return bw_err_set(err, 404, "iam", "not_found", "no such user");
	/* seq orders the history even when the clock is pinned (tests) or
	 * two changes share a second. */
	struct store_value h[] = {
	    store_text_str(a->tenant), store_text_str(a->user_id),
	    store_text_str(a->phc),    store_int(now),
	    store_text_str(a->tenant), store_text_str(a->user_id)};
	if (store_tx_exec(tx,
			  "INSERT INTO iam_pw_history (tenant, user_id, seq, "
			  "hash, created)"
			  " SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM "
			  "iam_pw_history"
			  " WHERE tenant = ? AND user_id = ?",
			  h, 6, err) < 0)
		return -1;
	/* Keep the newest `history` entries (at least the current one). */
	int64_t keep = a->history ? a->history : 1;
	struct store_value d[] = {store_text_str(a->tenant),
				  store_text_str(a->user_id),
				  store_text_str(a->tenant),
				  store_text_str(a->user_id), store_int(keep)};
	return store_tx_exec(
	    tx,
	    "DELETE FROM iam_pw_history WHERE tenant = ? AND user_id = ?"
	    " AND seq NOT IN (SELECT seq FROM iam_pw_history"
	    " WHERE tenant = ? AND user_id = ? ORDER BY seq DESC LIMIT ?)",
	    d, 5, err);
}

int iam_password_store(struct iam *iam, const char *tenant, const char *user_id,
		       const char *phc, bool must_change, uint32_t history,
		       struct bw_err *err)
{
	struct pw_store_args a = {tenant, user_id, phc, must_change, history};
	return store_write(iam->store, pw_store_job, &a, err);
}

struct hist_ctx {
	const char *pw;
	size_t n;
	bool reused;
};

static int hist_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct hist_ctx *c = arg;
	char phc[IAM_PHC_MAX];
	if (iam_row_text(row, 0, phc, sizeof(phc), err) < 0)
		return -1;
	if (iam_verify_password(phc, c->pw, c->n) == 1) {
		c->reused = true;
		return STORE_ROW_STOP;
	}
	return STORE_ROW_NEXT;
}

int iam_password_in_history(struct iam *iam, const char *tenant,
			    const char *user_id, uint32_t history,
			    const char *pw, size_t n, struct bw_err *err)
{
	if (history == 0)
		return 0;
	struct hist_ctx c = {pw, n, false};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id), store_int(history)};
	if (store_query(iam->store,
			"SELECT hash FROM iam_pw_history WHERE tenant = ?"
			" AND user_id = ? ORDER BY seq DESC LIMIT ?",
			k, 3, hist_row, &c, err) < 0)
		return -1;
	return c.reused ? 1 : 0;
}

struct phc_ctx {
	char phc[IAM_PHC_MAX];
	bool present;
};

static int phc_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct phc_ctx *c = arg;
	c->present = !store_row_is_null(row, 0);
	return c->present ? iam_row_text(row, 0, c->phc, sizeof(c->phc), err)
			  : 0;
}

int iam_password_verify_current(struct iam *iam, const char *tenant,
				const char *user_id, const char *pw, size_t n,
				struct bw_err *err)
{
	struct phc_ctx cur = {.present = false};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	int rc = store_query_one(iam->store,
				 "SELECT password_hash FROM iam_user"
				 " WHERE tenant = ? AND id = ?",
				 k, 2, phc_row, &cur, err);
	if (rc > 0)
		rc = cur.present && iam_verify_password(cur.phc, pw, n) == 1;
	bw_wipe(cur.phc, sizeof(cur.phc));
	return rc;
}

int iam_password_change(struct iam *iam, const char *tenant,
			const char *user_id, const char *old_pw, size_t old_len,
			const char *new_pw, size_t new_len,
			const char *keep_session, struct bw_err *err)
{
	struct iam_tenant t;
	struct iam_user u;
	char phc[IAM_PHC_MAX] = "";
	int rc = -1;
	if (iam_tenant_require(iam, tenant, &t, err) < 0 ||
	    iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	int ok = iam_password_verify_current(iam, tenant, user_id, old_pw,
					     old_len, err);
	if (ok < 0)
		goto out;
	if (!ok) {
		iam_lockout_failure(&iam->lockout, &t.policy, tenant, u.name,
				    "password-change", bw_clock_now_s());
		iam_emit_login(tenant, u.name, NULL, false, "password-change",
			       "bad_password");
		bw_err_set(err, 401, "iam", "bad_password",
			   "the current password is wrong");
		goto out;
	}
	if (iam_password_check(iam, &t.policy, tenant, u.name, new_pw, new_len,
			       err) < 0)
		goto out;
	int h = iam_password_in_history(
	    iam, tenant, user_id, t.policy.pw_history, new_pw, new_len, err);
	if (h < 0)
		goto out;
	if (h) {
		bw_err_set(
		    err, 400, "iam", "reused",
		    "password was used recently (last %u are remembered)",
		    t.policy.pw_history);
		goto out;
	}
	if (iam_hash_password(iam, new_pw, new_len, phc, err) < 0 ||
	    iam_password_store(iam, tenant, user_id, phc, false,
			       t.policy.pw_history, err) < 0 ||
	    iam_session_revoke_all(iam, tenant, user_id, keep_session, err) < 0)
		goto out;
	iam_emit_login(tenant, u.name, NULL, true, "password-change",
		       "changed");
	if (iam->password_set)
		iam->password_set(iam->password_set_arg, tenant, user_id);
	rc = 0;
out:
	bw_wipe(phc, sizeof(phc));
	return rc;
}

int iam_password_reset(struct iam *iam, const char *tenant, const char *user_id,
		       const char *new_pw, size_t new_len, struct bw_err *err)
{
	struct iam_tenant t;
	struct iam_user u;
	char phc[IAM_PHC_MAX] = "";
	int rc = -1;
	if (iam_tenant_get(iam, tenant, &t, err) < 0 ||
	    iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	if (iam_password_check(iam, &t.policy, tenant, u.name, new_pw, new_len,
			       err) < 0)
		goto out;
	if (iam_hash_password(iam, new_pw, new_len, phc, err) < 0 ||
	    iam_password_store(iam, tenant, user_id, phc, true,
			       t.policy.pw_history, err) < 0 ||
	    iam_session_revoke_all(iam, tenant, user_id, NULL, err) < 0)
		goto out;
	iam_lockout_clear_account(&iam->lockout, tenant, u.name);
	rc = 0;
out:
	bw_wipe(phc, sizeof(phc));
	return rc;
}
