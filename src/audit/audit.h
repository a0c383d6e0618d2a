/*
 * audit — bulwark's tamper-evident audit log.
 *
 * Every state-changing action of the platform is recorded here as one
 * RFC 8785 canonical JSON record per line of an append-only file in the
 * data directory (`audit.log`). Records are hash-chained (`prev` is the hex
 * SHA-256 of the previous record line) and are the leaves of an RFC 6962
 * Merkle tree whose heads are signed with Ed25519 at intervals and on clean
 * shutdown; signed tree heads (STH) are lines of their own type in the same
 * file, so one file is everything a verifier needs. The format, what
 * verification proves and what it does not are in docs/internals/AUDIT.md.
 *
 * Invariants kept by this module:
 *  - seq is 0-based and dense; record n's prev is SHA-256 of record n-1's
 *    line (without the newline), 64 zeros for seq 0;
 *  - record times never decrease (the writer clamps a clock that steps
 *    back), and an STH's time is >= every record it covers;
 *  - an STH line covers exactly the records above it (tree_size equals the
 *    number of records before it in the file);
 *  - audit_append() returns success only after the record's line and every
 *    line before it have been fdatasync()ed;
 *  - the file only ever grows, except that recovery truncates a torn final
 *    line (one without its newline) left by a crash.
 *
 * Threads: audit_append / audit_append_async / audit_log_* may be called
 * from any thread. One writer thread per log owns the file.
 */
#ifndef BW_AUDIT_H
#define BW_AUDIT_H

#include "core/core.h"

#define AUDIT_HASH_LEN 32   /* SHA-256 */
#define AUDIT_SIG_LEN 64    /* Ed25519 signature */
#define AUDIT_PUBKEY_LEN 32 /* Ed25519 raw public key */
/* Longest proof for any tree below 2^64 leaves; callers size arrays with it. */
#define AUDIT_PROOF_MAX 130

/* ------------------------------------------------------------- records */

enum audit_outcome {
	AUDIT_OUTCOME_SUCCESS,
	AUDIT_OUTCOME_FAILURE,
	AUDIT_OUTCOME_DENIED,
};

enum audit_actor_kind {
	AUDIT_ACTOR_SYSTEM, /* the platform itself: id names the subsystem */
	AUDIT_ACTOR_USER,   /* id is a user id */
	AUDIT_ACTOR_KEY,    /* id is an API key id */
};

/* Who did it. Every string is a borrowed (pointer, length) view; a NULL p
 * means "". Strings must be valid UTF-8 without control characters. */
struct audit_actor {
	struct bw_str tenant;
	enum audit_actor_kind kind;
	struct bw_str id;
	struct bw_str ip; /* textual IPv4/IPv6 address, or empty */
};

/*
 * One action to record. The writer adds seq, time and prev. action is a
 * dotted lower-case name ("user.create"); details is the JSON text of an
 * object ({} when details.p is NULL), stored in canonical form.
 */
struct audit_record {
	struct audit_actor actor;
	struct bw_str action;
	struct bw_str target;
	enum audit_outcome outcome;
	struct bw_str request_id;
	struct bw_str details;
};

const char *audit_outcome_name(enum audit_outcome o);
const char *audit_actor_kind_name(enum audit_actor_kind k);

/* -------------------------------------------------------------- signer */

/*
 * Signs tree heads. The log only calls sign() (from its writer thread) and
 * reads pubkey, so the key can live anywhere: today a file in the data
 * directory (audit_signer_file_*), later the keystore process.
 * sign() returns 0 and fills sig, or -1 with err set.
 */
struct audit_signer {
	void *ctx;
	int (*sign)(void *ctx, const uint8_t *msg, size_t len,
		    uint8_t sig[AUDIT_SIG_LEN], struct bw_err *err);
	uint8_t pubkey[AUDIT_PUBKEY_LEN];
};

/*
 * Loads the Ed25519 key in PEM (PKCS#8) at path, or generates it there
 * (mode 0600, O_EXCL) when the file does not exist. Refuses a key file that
 * group or others can access (403 "key_mode"). On success s is ready and
 * must be released with audit_signer_file_fini. Returns 0 or -1 with err.
 */
int audit_signer_file_init(struct audit_signer *s, const char *path,
			   struct bw_err *err) BW_WUR;
/* Frees the key held by an audit_signer_file_init signer; accepts a zeroed
 * or already finished signer. */
void audit_signer_file_fini(struct audit_signer *s);

/* ----------------------------------------------------------------- log */

struct audit_config {
	const char *dir;       /* data directory (borrowed); must exist */
	const char *file_name; /* default "audit.log" */
	size_t queue_max;      /* pending appends before 503; AUDIT_QUEUE_* */
	size_t line_max;       /* longest record line accepted on append */
	uint64_t sth_every_records; /* 0 = only by time and at shutdown */
	uint32_t sth_every_ms;      /* 0 = only by count and at shutdown */
	/* Borrowed; must outlive the log. NULL writes no STHs (tests and
	 * benchmarks only; the log warns). Its pubkey is pinned on open: a
	 * file signed by another key is refused. */
	const struct audit_signer *signer;
};

/* Fills c with the defaults from audit_limits.h (dir and signer NULL). */
void audit_config_defaults(struct audit_config *c);

struct audit_log;

/*
 * Opens (creating if needed) the log file in cfg->dir, takes an exclusive
 * lock on it, verifies the whole existing file exactly as audit_verify_file
 * does (with the signer's key pinned), truncates a torn last line, and
 * starts the writer thread. If the file does not end with an STH covering
 * every record (unclean shutdown), one is written promptly.
 * Errors: 400 bad config, 409 "locked" (another process has the log),
 * 500 "corrupt" (verification failed: err->msg names the first bad record
 * and line; the file is left untouched) or I/O. Returns NULL with err set.
 */
struct audit_log *audit_log_open(const struct audit_config *cfg,
				 struct bw_err *err) BW_WUR;

/*
 * Clean shutdown: refuses new appends, commits everything queued, writes a
 * final STH (when a signer is set and records are unsigned), fsyncs, joins
 * the writer and frees the log. Async callbacks for queued records run
 * before it returns. The caller must make sure no other thread is still
 * calling into the log (the log is freed). Returns 0, or -1 with err if a
 * write failed earlier (the log is still freed). Accepts NULL.
 */
int audit_log_close(struct audit_log *log, struct bw_err *err);

/*
 * Records rec durably: returns only after its line is written and
 * fdatasync()ed. Thread-safe; concurrent callers share one fsync (group
 * commit). rec and its strings are borrowed for the call.
 * OUT seq: the record's sequence number (may be NULL).
 * Errors: 400 invalid record (reason names the field), 413 too large,
 * 503 "queue_full" (the queue is at queue_max: shed load, do not retry in
 * a tight loop) or "closing", 500 "log_failed" (a write or fsync failed
 * earlier; the log refuses everything until reopened — whether the
 * failing batch reached the disk is unknown, as with any database).
 */
int audit_append(struct audit_log *log, const struct audit_record *rec,
		 uint64_t *seq, struct bw_err *err) BW_WUR;

/*
 * Called once per accepted async append, on the writer thread, after the
 * fsync (status 0, seq set) or after the write failed (status -1, err
 * set). Must not block and must not call audit_append on the same log.
 */
typedef void (*audit_done_fn)(void *arg, int status, uint64_t seq,
			      const struct bw_err *err);

/*
 * Enqueues rec and returns at once; done(arg, ...) runs later on the
 * writer thread. Validation and queue errors are returned here (-1, err
 * set, done is never called), exactly as for audit_append.
 */
int audit_append_async(struct audit_log *log, const struct audit_record *rec,
		       audit_done_fn done, void *arg, struct bw_err *err) BW_WUR;

/* Asks the writer to write an STH after the current queue (returns at
 * once). 0, or -1 if there is no signer or the log is closing/failed. */
int audit_log_request_sth(struct audit_log *log, struct bw_err *err) BW_WUR;

struct audit_log_stats {
	uint64_t records;      /* tree size (durable records) */
	uint64_t appended;     /* records committed since open */
	uint64_t refused_full; /* 503 queue_full */
	uint64_t batches;      /* write+fdatasync rounds */
	uint64_t max_batch;    /* most records in one round */
	uint64_t sths;         /* STHs written since open */
	uint64_t failures;     /* failed rounds (0 or 1: failure is sticky) */
};
void audit_log_stats(struct audit_log *log, struct audit_log_stats *out);

/* Durable tree size and its root hash (consistent pair). */
void audit_log_root(struct audit_log *log, uint64_t *size,
		    uint8_t root[AUDIT_HASH_LEN]);

/* Proofs against the live log's tree; see audit_tree_*_proof. */
int audit_log_inclusion_proof(struct audit_log *log, uint64_t index,
			      uint64_t size, uint8_t (*path)[AUDIT_HASH_LEN],
			      size_t cap, size_t *n, struct bw_err *err) BW_WUR;
int audit_log_consistency_proof(struct audit_log *log, uint64_t m, uint64_t n,
				uint8_t (*proof)[AUDIT_HASH_LEN], size_t cap,
				size_t *len, struct bw_err *err) BW_WUR;

/* --------------------------------------------------------- Merkle tree */

/*
 * An RFC 6962 Merkle tree over leaf hashes, appended one leaf at a time in
 * O(log n). It keeps every leaf hash plus the hashes of aligned complete
 * subtrees of 256 leaves and up, so any subtree hash a proof needs costs at
 * most a few hundred hash operations. Not thread-safe.
 */
struct audit_tree;

struct audit_tree *audit_tree_new(void);
void audit_tree_free(struct audit_tree *t); /* accepts NULL */
/* Appends a leaf hash (see audit_leaf_hash). -1 with err on ENOMEM. */
int audit_tree_append(struct audit_tree *t, const uint8_t leaf[AUDIT_HASH_LEN],
		      struct bw_err *err) BW_WUR;
uint64_t audit_tree_size(const struct audit_tree *t);
/* Root of the tree of the first `size` leaves (size <= audit_tree_size;
 * size 0 gives SHA-256 of the empty string, RFC 6962 §2.1). */
int audit_tree_root(const struct audit_tree *t, uint64_t size,
		    uint8_t out[AUDIT_HASH_LEN], struct bw_err *err) BW_WUR;
/*
 * RFC 6962 §2.1.1 audit path of leaf `index` in the tree of the first
 * `size` leaves. OUT path[0..*n): hashes from the leaf's sibling upwards;
 * cap is the room in path (AUDIT_PROOF_MAX always suffices).
 * 400 when index >= size or size > tree size.
 */
int audit_tree_inclusion_proof(const struct audit_tree *t, uint64_t index,
			       uint64_t size, uint8_t (*path)[AUDIT_HASH_LEN],
			       size_t cap, size_t *n, struct bw_err *err) BW_WUR;
/*
 * RFC 6962 §2.1.2 consistency proof between the trees of the first m and
 * the first n leaves, 0 <= m <= n <= tree size (empty when m == 0 or
 * m == n). OUT proof[0..*len).
 */
int audit_tree_consistency_proof(const struct audit_tree *t, uint64_t m,
				 uint64_t n, uint8_t (*proof)[AUDIT_HASH_LEN],
				 size_t cap, size_t *len,
				 struct bw_err *err) BW_WUR;

/* Leaf hash of one record line (without newline): SHA-256(0x00 || rec). */
void audit_leaf_hash(const void *rec, size_t len, uint8_t out[AUDIT_HASH_LEN]);

/* RFC 9162 §2.1.3.2: true iff path proves that leaf is entry `index` of
 * the tree of `size` leaves with the given root. */
bool audit_inclusion_verify(const uint8_t leaf[AUDIT_HASH_LEN], uint64_t index,
			    uint64_t size, const uint8_t (*path)[AUDIT_HASH_LEN],
			    size_t n, const uint8_t root[AUDIT_HASH_LEN]) BW_WUR;
/* RFC 9162 §2.1.4.2: true iff proof shows the tree (n, root_n) extends the
 * tree (m, root_m). m == n needs an empty proof and equal roots; m == 0
 * needs an empty proof. */
bool audit_consistency_verify(uint64_t m, uint64_t n,
			      const uint8_t root_m[AUDIT_HASH_LEN],
			      const uint8_t root_n[AUDIT_HASH_LEN],
			      const uint8_t (*proof)[AUDIT_HASH_LEN],
			      size_t len) BW_WUR;

/* -------------------------------------------------------- verification */

enum audit_fault {
	AUDIT_FAULT_NONE,
	AUDIT_FAULT_MALFORMED,     /* not a valid record/STH line */
	AUDIT_FAULT_NOT_CANONICAL, /* valid JSON but not its RFC 8785 form */
	AUDIT_FAULT_ALTERED,       /* content differs from what was chained */
	AUDIT_FAULT_REMOVED,       /* one or more records missing */
	AUDIT_FAULT_INSERTED,      /* a record that does not belong */
	AUDIT_FAULT_REORDERED,     /* records out of order */
	AUDIT_FAULT_TIME,          /* time went backwards */
	AUDIT_FAULT_STH_SIZE,      /* STH tree_size != records above it */
	AUDIT_FAULT_STH_ROOT,      /* STH root != recomputed root */
	AUDIT_FAULT_STH_SIG,       /* STH signature invalid */
	AUDIT_FAULT_STH_KEY,       /* STH signed by an unexpected key */
	AUDIT_FAULT_TORN_TAIL,     /* last line lacks its newline (crash) */
	AUDIT_FAULT_UNSIGNED_TAIL, /* records after the last STH (if required) */
};
const char *audit_fault_name(enum audit_fault f);

struct audit_verify_opts {
	/* Expected STH key. NULL: accept the key of the first STH (reported
	 * in the result) and require every later STH to use it. */
	const uint8_t *pubkey;
	/* Fault when records follow the last STH (or there is none). */
	bool require_signed_tail;
	/* If set, every verified record's leaf hash is appended (borrowed;
	 * lets a caller build proofs after verifying). */
	struct audit_tree *tree;
};

struct audit_verify_result {
	enum audit_fault fault; /* AUDIT_FAULT_NONE when intact */
	uint64_t seq;   /* the first bad record's seq (or STH's tree_size) */
	uint64_t line;  /* its 1-based line number */
	char what[320]; /* human explanation */
	/* What was verified (up to the fault, if any): */
	uint64_t records;          /* records verified */
	uint64_t sths;             /* STHs verified */
	uint64_t lines;            /* lines read */
	uint64_t last_sth_size;    /* tree_size of the last good STH */
	uint64_t valid_bytes;      /* offset just past the last good line */
	uint8_t root[AUDIT_HASH_LEN];     /* root over `records` */
	uint8_t pubkey[AUDIT_PUBKEY_LEN]; /* STH key seen (if sths > 0) */
	bool key_pinned;                  /* pubkey came from opts */
};

/*
 * Verifies a whole audit log file offline: every line's schema and
 * canonical form, the hash chain, seq density, non-decreasing time, and
 * every STH's size, root and Ed25519 signature. Stops at the FIRST fault
 * and describes it in res (which record was altered, removed, inserted or
 * reordered, with seq and line). Reads the file through mmap; holds no
 * lock, so verify a copy of a live log, or accept that lines may be
 * appended while it runs (they are simply not seen).
 * Returns 0 when intact; -1 with res->fault set when a fault was found;
 * -1 with res->fault NONE and err set when the file cannot be read.
 */
int audit_verify_file(const char *path, const struct audit_verify_opts *opts,
		      struct audit_verify_result *res,
		      struct bw_err *err) BW_WUR;
/* The same over bytes in memory (borrowed). */
int audit_verify_buf(const char *p, size_t len,
		     const struct audit_verify_opts *opts,
		     struct audit_verify_result *res) BW_WUR;

#endif
