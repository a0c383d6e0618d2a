/*
 * audit internals shared by the module's files (and its tests and fuzz
 * target); no other module includes this header.
 */
#ifndef BW_AUDIT_INT_H
#define BW_AUDIT_INT_H

#include "audit/audit.h"
#include "audit/audit_limits.h"

/* ---------------------------------------------------------------- hash */

/* SHA-256 over the concatenation of up to three parts (NULL/0 skips). */
void audit_sha256(const void *a, size_t alen, const void *b, size_t blen,
		  const void *c, size_t clen, uint8_t out[AUDIT_HASH_LEN]);
/* RFC 6962 interior node: SHA-256(0x01 || l || r). */
void audit_node_hash(const uint8_t l[AUDIT_HASH_LEN],
		     const uint8_t r[AUDIT_HASH_LEN],
		     uint8_t out[AUDIT_HASH_LEN]);
/* Lower-case hex of exactly 2*n chars; true on success. */
bool audit_hex_parse(struct bw_str s, uint8_t *out, size_t n);

/* ---------------------------------------------------------------- time */

/* The only time form in the log: "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes,
 * UTC, milliseconds, what bw_time_format writes). Strict: ranges and
 * day-of-month are checked. OUT ms since the epoch. */
int audit_time_parse(struct bw_str s, int64_t *ms) BW_WUR;
/* Writes the form above for ms (>= 0) into out (32 bytes); length. */
size_t audit_time_format(int64_t ms, char out[32]);

/* ------------------------------------------------------------- records */

/* Appends s as an RFC 8785 string literal (quotes included). -1 on
 * invalid UTF-8 or when b's ceiling is reached. */
int audit_jcs_string(struct bw_buf *b, struct bw_str s) BW_WUR;

/*
 * A record prepared on the caller's thread: everything but seq, time and
 * prev, already in canonical form, split where those three go:
 *   buf[0, a)  = {"action":..,"actor":{..},"details":{..},"outcome":".."
 *   buf[a, b)  = ,"request_id":".."
 *   buf[b, len)= ,"target":".."
 */
struct audit_prep {
	struct bw_buf buf;
	size_t a, b;
};

/* Validates rec (the same rules the reader applies) and fills p, whose
 * buffer the caller has bw_buf_init()ed; line_max bounds the whole line.
 * 400 with reason naming the field, 413 when too long. */
int audit_prep_record(const struct audit_record *rec, size_t line_max,
		      struct audit_prep *p, struct bw_err *err) BW_WUR;
/* Longest text the writer adds to a prep to make a line (prev, seq, time,
 * type and the newline). */
#define AUDIT_PREP_OVERHEAD 160
/* Appends the full line for prep p with seq/time/prev, plus "\n". */
int audit_line_build(struct bw_buf *out, const struct audit_prep *p,
		     uint64_t seq, int64_t time_ms,
		     const uint8_t prev[AUDIT_HASH_LEN]) BW_WUR;

/* ---------------------------------------------------------------- STH */

/* The bytes an STH signature covers (see AUDIT.md): a domain label, then
 * tree_size and time (ms) as big-endian u64, then the root. */
#define AUDIT_STH_LABEL "bulwark-audit-sth-v1"
#define AUDIT_STH_MSG_LEN (sizeof(AUDIT_STH_LABEL) + 8 + 8 + AUDIT_HASH_LEN)
void audit_sth_message(uint64_t tree_size, int64_t time_ms,
		       const uint8_t root[AUDIT_HASH_LEN],
		       uint8_t msg[AUDIT_STH_MSG_LEN]);
/* Appends the STH line (with "\n"). */
int audit_sth_line_build(struct bw_buf *out, uint64_t tree_size,
			 int64_t time_ms, const uint8_t root[AUDIT_HASH_LEN],
			 const uint8_t pubkey[AUDIT_PUBKEY_LEN],
			 const uint8_t sig[AUDIT_SIG_LEN]) BW_WUR;

/* Ed25519 verification with a cached public key. */
struct audit_sigcheck;
struct audit_sigcheck *audit_sigcheck_new(const uint8_t pub[AUDIT_PUBKEY_LEN]);
void audit_sigcheck_free(struct audit_sigcheck *c);
bool audit_sigcheck_verify(struct audit_sigcheck *c, const uint8_t *msg,
			   size_t len, const uint8_t sig[AUDIT_SIG_LEN]) BW_WUR;

/* ---------------------------------------------------------- line parse */

enum audit_line_type { AUDIT_LINE_RECORD, AUDIT_LINE_STH };

/* A parsed line; strings point into the arena given to the parser. */
struct audit_line {
	enum audit_line_type type;
	int64_t time_ms;
	/* record */
	uint64_t seq;
	uint8_t prev[AUDIT_HASH_LEN];
	struct audit_record rec;
	/* STH */
	uint64_t tree_size;
	uint8_t root[AUDIT_HASH_LEN];
	uint8_t pubkey[AUDIT_PUBKEY_LEN];
	uint8_t sig[AUDIT_SIG_LEN];
};

/*
 * Parses one line (without its newline) strictly: JSON within the
 * AUDIT_LINE_* limits, exactly the members of a record or an STH with the
 * right types and formats, and byte-for-byte equal to its RFC 8785
 * canonical form. Arena a (caller-owned) holds the parse tree.
 * 400 "malformed" / 400 "not_canonical" / 413 "too_large", err->msg says
 * what is wrong.
 */
int audit_line_parse(struct bw_arena *a, const char *p, size_t len,
		     struct audit_line *out, struct bw_err *err) BW_WUR;
/* The same with a caller-owned scratch buffer for the canonical form, so a
 * verifier reading millions of lines does not regrow one per line. */
int audit_line_parse_scratch(struct bw_arena *a, const char *p, size_t len,
			     struct audit_line *out, struct bw_buf *canon,
			     struct bw_err *err) BW_WUR;

/* ---------------------------------------------------------- verifier */

/* What the writer needs to continue a verified chain. */
struct audit_chain_state {
	uint8_t last_hash[AUDIT_HASH_LEN]; /* last record line's SHA-256 */
	int64_t last_rec_ms;               /* last record's time */
	int64_t last_sth_ms;               /* last STH's time */
};

/* audit_verify_buf, also filling st (may be NULL) from the verified
 * prefix, fault or not. */
int audit_verify_run(const char *p, size_t len,
		     const struct audit_verify_opts *opts,
		     struct audit_verify_result *res,
		     struct audit_chain_state *st) BW_WUR;

#endif
