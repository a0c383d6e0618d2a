/*
 * audit_verify — offline verification of an audit log file, line by line,
 * stopping at the first fault and naming it.
 *
 * Each record line must parse strictly and be canonical (audit_line_parse),
 * carry the next seq, link to the previous record line's SHA-256 through
 * prev, and not go back in time. Each STH line must be signed by the
 * expected key over (tree_size, time, root), cover exactly the records
 * above it, and carry the root recomputed from them.
 *
 * Classification. A broken link alone cannot say which side changed, so
 * the verifier looks one record ahead (skipping STH lines):
 *  - seq s with a bad prev, whose successor links correctly to it: record
 *    s-1 was altered after s was chained to it;
 *  - seq s with a bad prev otherwise: record s itself (its prev) changed;
 *  - seq > s where the next record is s: two records swapped (reordered);
 *  - seq > s otherwise: records s..seq-1 were removed;
 *  - seq s-1 again, linking to s-2 like the first one did: one of the two
 *    was inserted — the one that seq s does not link to;
 *  - any other seq < s: a record inserted (or moved) here.
 * An alteration that rewrote the chain after it is only caught by the
 * next STH (fault STH_ROOT), which bounds it to the records since the
 * previous good STH.
 */
#include "audit/audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *audit_fault_name(enum audit_fault f)
{
	switch (f) {
	case AUDIT_FAULT_NONE: return "none";
	case AUDIT_FAULT_MALFORMED: return "malformed";
	case AUDIT_FAULT_NOT_CANONICAL: return "not_canonical";
	case AUDIT_FAULT_ALTERED: return "altered";
	case AUDIT_FAULT_REMOVED: return "removed";
	case AUDIT_FAULT_INSERTED: return "inserted";
	case AUDIT_FAULT_REORDERED: return "reordered";
	case AUDIT_FAULT_TIME: return "time_backwards";
	case AUDIT_FAULT_STH_SIZE: return "sth_size";
	case AUDIT_FAULT_STH_ROOT: return "sth_root";
	case AUDIT_FAULT_STH_SIG: return "sth_signature";
	case AUDIT_FAULT_STH_KEY: return "sth_key";
	case AUDIT_FAULT_TORN_TAIL: return "torn_tail";
	case AUDIT_FAULT_UNSIGNED_TAIL: return "unsigned_tail";
	}
	return "unknown";
}

struct verifier {
	const char *p;
	size_t len;
	const struct audit_verify_opts *opts;
	struct audit_verify_result *res;
	struct audit_tree *tree;
	struct audit_sigcheck *sc;
	struct bw_buf canon; /* scratch for the canonical form of each line */
	uint8_t h1[AUDIT_HASH_LEN]; /* hash of the last record line */
	uint8_t h2[AUDIT_HASH_LEN]; /* ... and of the one before it */
	uint64_t line1, line2;      /* their line numbers */
	uint64_t first_unsigned_line;
	int64_t last_rec_time, last_sth_time;
};

static const uint8_t zero_hash[AUDIT_HASH_LEN];

BW_PRINTF(5, 6)
static int fault(struct verifier *v, enum audit_fault f, uint64_t seq,
		 uint64_t line, const char *fmt, ...)
{
	v->res->fault = f;
	v->res->seq = seq;
	v->res->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->res->what, sizeof(v->res->what), fmt, ap);
	va_end(ap);
	return -1;
}

static struct bw_arena *line_arena(void)
{
	/* A parse tree costs a small multiple of the line; 32x the longest
	 * line bounds a hostile line's tree without limiting real ones. */
	return bw_arena_new(16384, (size_t)AUDIT_LINE_MAX_HARD * 32);
}

/*
 * The next record line after offset `from` (skipping up to a few STH
 * lines), parsed; its hash in h. False when there is none or it does not
 * parse (then the caller cannot use it to disambiguate).
 */
static bool peek_record(const struct verifier *v, size_t from, uint64_t *seq,
			uint8_t prev[AUDIT_HASH_LEN])
{
	for (int skip = 0; skip < 4 && from < v->len; skip++) {
		const char *s = v->p + from;
		const char *nl = memchr(s, '\n', v->len - from);
		if (!nl)
			return false;
		struct bw_arena *a = line_arena();
		if (!a)
			return false;
		struct audit_line ln;
		int rc = audit_line_parse(a, s, (size_t)(nl - s), &ln, NULL);
		bw_arena_free(a);
		if (rc < 0)
			return false;
		if (ln.type == AUDIT_LINE_RECORD) {
			*seq = ln.seq;
			memcpy(prev, ln.prev, AUDIT_HASH_LEN);
			return true;
		}
		from = (size_t)(nl - v->p) + 1;
	}
	return false;
}

static int check_record(struct verifier *v, const struct audit_line *ln,
			const char *s, size_t slen, size_t next, uint64_t line)
{
	struct audit_verify_result *res = v->res;
	uint64_t want = res->records;
	uint8_t h[AUDIT_HASH_LEN], nprev[AUDIT_HASH_LEN];
	uint64_t nseq;
	audit_sha256(s, slen, NULL, 0, NULL, 0, h);

	if (ln->seq == want) {
		const uint8_t *expect = want == 0 ? zero_hash : v->h1;
		if (memcmp(ln->prev, expect, AUDIT_HASH_LEN) != 0) {
			if (want == 0)
				return fault(v, AUDIT_FAULT_ALTERED, 0, line,
					     "record seq 0 (line %llu) was "
					     "altered: its prev is not 64 zeros",
					     (unsigned long long)line);
			if (peek_record(v, next, &nseq, nprev) &&
			    nseq == want + 1 &&
			    memcmp(nprev, h, AUDIT_HASH_LEN) == 0)
				return fault(v, AUDIT_FAULT_ALTERED, want - 1,
					     v->line1,
					     "record seq %llu (line %llu) was "
					     "altered: its hash no longer matches "
					     "the prev of seq %llu (line %llu)",
					     (unsigned long long)(want - 1),
					     (unsigned long long)v->line1,
					     (unsigned long long)want,
					     (unsigned long long)line);
			return fault(v, AUDIT_FAULT_ALTERED, want, line,
				     "record seq %llu (line %llu) was altered: "
				     "its prev does not match the hash of seq "
				     "%llu (line %llu)%s",
				     (unsigned long long)want,
				     (unsigned long long)line,
				     (unsigned long long)(want - 1),
				     (unsigned long long)v->line1,
				     next >= v->len ? " (or that record was "
						      "altered: nothing follows "
						      "to tell which)"
						    : "");
		}
		if (ln->time_ms < v->last_rec_time)
			return fault(v, AUDIT_FAULT_TIME, want, line,
				     "record seq %llu (line %llu) is dated "
				     "before the record above it",
				     (unsigned long long)want,
				     (unsigned long long)line);
		uint8_t leaf[AUDIT_HASH_LEN];
		audit_leaf_hash(s, slen, leaf);
		struct bw_err terr = { 0 };
		if (audit_tree_append(v->tree, leaf, &terr) < 0)
			return fault(v, AUDIT_FAULT_MALFORMED, want, line,
				     "cannot continue: %s", terr.msg);
		if (want == res->last_sth_size)
			v->first_unsigned_line = line;
		memcpy(v->h2, v->h1, AUDIT_HASH_LEN);
		memcpy(v->h1, h, AUDIT_HASH_LEN);
		v->line2 = v->line1;
		v->line1 = line;
		v->last_rec_time = ln->time_ms;
		res->records++;
		return 0;
	}

	if (ln->seq > want) {
		if (peek_record(v, next, &nseq, nprev) && nseq == want)
			return fault(v, AUDIT_FAULT_REORDERED, want, line,
				     "records reordered: seq %llu (line %llu) "
				     "comes before seq %llu",
				     (unsigned long long)ln->seq,
				     (unsigned long long)line,
				     (unsigned long long)want);
		if (ln->seq == want + 1)
			return fault(v, AUDIT_FAULT_REMOVED, want, line,
				     "record seq %llu was removed: line %llu "
				     "holds seq %llu",
				     (unsigned long long)want,
				     (unsigned long long)line,
				     (unsigned long long)ln->seq);
		return fault(v, AUDIT_FAULT_REMOVED, want, line,
			     "records seq %llu..%llu were removed: line %llu "
			     "holds seq %llu",
			     (unsigned long long)want,
			     (unsigned long long)(ln->seq - 1),
			     (unsigned long long)line,
			     (unsigned long long)ln->seq);
	}

	/* ln->seq < want: a seq seen before. */
	if (ln->seq == want - 1 &&
	    memcmp(ln->prev, want == 1 ? zero_hash : v->h2, AUDIT_HASH_LEN) ==
		    0) {
		if (peek_record(v, next, &nseq, nprev) && nseq == want &&
		    memcmp(nprev, h, AUDIT_HASH_LEN) == 0)
			return fault(v, AUDIT_FAULT_INSERTED, want - 1, v->line1,
				     "record at line %llu (claiming seq %llu) "
				     "was inserted: the genuine seq %llu is at "
				     "line %llu",
				     (unsigned long long)v->line1,
				     (unsigned long long)(want - 1),
				     (unsigned long long)(want - 1),
				     (unsigned long long)line);
		return fault(v, AUDIT_FAULT_INSERTED, want - 1, line,
			     "record at line %llu (claiming seq %llu) was "
			     "inserted: seq %llu is already at line %llu",
			     (unsigned long long)line,
			     (unsigned long long)ln->seq,
			     (unsigned long long)ln->seq,
			     (unsigned long long)v->line1);
	}
	return fault(v, AUDIT_FAULT_INSERTED, ln->seq, line,
		     "record at line %llu (claiming seq %llu) was inserted or "
		     "moved: seq %llu was expected",
		     (unsigned long long)line, (unsigned long long)ln->seq,
		     (unsigned long long)want);
}

static int check_sth(struct verifier *v, const struct audit_line *ln,
		     size_t next, uint64_t line)
{
	struct audit_verify_result *res = v->res;
	const uint8_t *key = v->opts->pubkey ? v->opts->pubkey
		: res->sths > 0		     ? res->pubkey
					     : NULL;
	if (key && memcmp(key, ln->pubkey, AUDIT_PUBKEY_LEN) != 0)
		return fault(v, AUDIT_FAULT_STH_KEY, ln->tree_size, line,
			     "STH at line %llu is signed by another key than "
			     "the %s one",
			     (unsigned long long)line,
			     v->opts->pubkey ? "pinned" : "first STH's");
	if (!v->sc) {
		v->sc = audit_sigcheck_new(ln->pubkey);
		if (!v->sc)
			return fault(v, AUDIT_FAULT_STH_KEY, ln->tree_size, line,
				     "STH at line %llu: public key unusable",
				     (unsigned long long)line);
	}
	uint8_t msg[AUDIT_STH_MSG_LEN];
	audit_sth_message(ln->tree_size, ln->time_ms, ln->root, msg);
	if (!audit_sigcheck_verify(v->sc, msg, sizeof(msg), ln->sig))
		return fault(v, AUDIT_FAULT_STH_SIG, ln->tree_size, line,
			     "STH at line %llu (tree_size %llu): signature "
			     "invalid (forged or altered)",
			     (unsigned long long)line,
			     (unsigned long long)ln->tree_size);
	if (ln->tree_size != res->records)
		return fault(v, AUDIT_FAULT_STH_SIZE, ln->tree_size, line,
			     "STH at line %llu signs %llu records but %llu "
			     "precede it (records removed, inserted, or the "
			     "STH moved)",
			     (unsigned long long)line,
			     (unsigned long long)ln->tree_size,
			     (unsigned long long)res->records);
	uint8_t root[AUDIT_HASH_LEN], nprev[AUDIT_HASH_LEN];
	uint64_t nseq;
	if (audit_tree_root(v->tree, ln->tree_size, root, NULL) < 0 ||
	    memcmp(root, ln->root, AUDIT_HASH_LEN) != 0) {
		/* The record after this STH still carries the genuine hash
		 * of the last record above it: if they differ, that is the
		 * one that changed. */
		if (res->records > 0 && peek_record(v, next, &nseq, nprev) &&
		    nseq == res->records &&
		    memcmp(nprev, v->h1, AUDIT_HASH_LEN) != 0)
			return fault(v, AUDIT_FAULT_ALTERED, res->records - 1,
				     v->line1,
				     "record seq %llu (line %llu) was altered: "
				     "the STH at line %llu and the prev of seq "
				     "%llu disagree with it",
				     (unsigned long long)(res->records - 1),
				     (unsigned long long)v->line1,
				     (unsigned long long)line,
				     (unsigned long long)res->records);
		return fault(v, AUDIT_FAULT_STH_ROOT, res->last_sth_size, line,
			     "STH at line %llu (tree_size %llu) signs another "
			     "root: a record in seq %llu..%llu was altered and "
			     "the chain after it rewritten",
			     (unsigned long long)line,
			     (unsigned long long)ln->tree_size,
			     (unsigned long long)res->last_sth_size,
			     (unsigned long long)(ln->tree_size - 1));
	}
	/* An STH is signed after the records it covers, and after earlier
	 * STHs; records queued before it was signed may follow it with an
	 * earlier time, so records are only compared with records. */
	if (ln->time_ms < v->last_rec_time || ln->time_ms < v->last_sth_time)
		return fault(v, AUDIT_FAULT_TIME, ln->tree_size, line,
			     "STH at line %llu is dated before a record it "
			     "covers or before the previous STH",
			     (unsigned long long)line);
	if (res->sths == 0) {
		memcpy(res->pubkey, ln->pubkey, AUDIT_PUBKEY_LEN);
		res->key_pinned = v->opts->pubkey != NULL;
	}
	v->last_sth_time = ln->time_ms;
	res->sths++;
	res->last_sth_size = ln->tree_size;
	return 0;
}

static int run(struct verifier *v)
{
	struct audit_verify_result *res = v->res;
	size_t pos = 0;
	uint64_t line = 0;
	while (pos < v->len) {
		const char *s = v->p + pos;
		const char *nl = memchr(s, '\n', v->len - pos);
		line++;
		if (!nl)
			return fault(v, AUDIT_FAULT_TORN_TAIL, res->records, line,
				     "line %llu has no newline (%zu bytes): "
				     "torn by a crash during a write",
				     (unsigned long long)line, v->len - pos);
		size_t slen = (size_t)(nl - s);
		size_t next = pos + slen + 1;
		struct bw_arena *a = line_arena();
		if (!a)
			return fault(v, AUDIT_FAULT_MALFORMED, res->records, line,
				     "out of memory");
		struct audit_line ln;
		struct bw_err perr = { 0 };
		int rc = audit_line_parse_scratch(a, s, slen, &ln, &v->canon,
						  &perr);
		if (rc < 0) {
			rc = fault(v,
				   strcmp(perr.reason, "not_canonical") == 0
					   ? AUDIT_FAULT_NOT_CANONICAL
					   : AUDIT_FAULT_MALFORMED,
				   res->records, line,
				   "line %llu (where seq %llu was expected) was "
				   "altered: %s",
				   (unsigned long long)line,
				   (unsigned long long)res->records, perr.msg);
		} else if (ln.type == AUDIT_LINE_RECORD) {
			rc = check_record(v, &ln, s, slen, next, line);
		} else {
			rc = check_sth(v, &ln, next, line);
		}
		bw_arena_free(a);
		if (rc < 0)
			return -1;
		pos = next;
		res->lines = line;
		res->valid_bytes = pos;
	}
	if (v->opts->require_signed_tail && res->records > res->last_sth_size)
		return fault(v, AUDIT_FAULT_UNSIGNED_TAIL, res->last_sth_size,
			     v->first_unsigned_line,
			     "records seq %llu..%llu (from line %llu) are not "
			     "covered by any STH",
			     (unsigned long long)res->last_sth_size,
			     (unsigned long long)(res->records - 1),
			     (unsigned long long)v->first_unsigned_line);
	return 0;
}

int audit_verify_run(const char *p, size_t len,
		     const struct audit_verify_opts *opts,
		     struct audit_verify_result *res,
		     struct audit_chain_state *st)
{
	static const struct audit_verify_opts none;
	memset(res, 0, sizeof(*res));
	struct verifier v = {
		.p = p,
		.len = len,
		.opts = opts ? opts : &none,
		.res = res,
	};
	if (v.opts->tree && audit_tree_size(v.opts->tree) != 0)
		return fault(&v, AUDIT_FAULT_MALFORMED, 0, 0,
			     "the tree to fill must be empty");
	v.tree = v.opts->tree ? v.opts->tree : audit_tree_new();
	if (!v.tree)
		return fault(&v, AUDIT_FAULT_MALFORMED, 0, 0, "out of memory");
	bw_buf_init(&v.canon, (size_t)AUDIT_LINE_MAX_HARD + 1);
	int rc = run(&v);
	bw_buf_fini(&v.canon);
	if (audit_tree_root(v.tree, res->records, res->root, NULL) < 0)
		rc = -1;
	if (st) {
		memcpy(st->last_hash, res->records ? v.h1 : zero_hash,
		       AUDIT_HASH_LEN);
		st->last_rec_ms = v.last_rec_time;
		st->last_sth_ms = v.last_sth_time;
	}
	audit_sigcheck_free(v.sc);
	if (!v.opts->tree)
		audit_tree_free(v.tree);
	return rc;
}

int audit_verify_buf(const char *p, size_t len,
		     const struct audit_verify_opts *opts,
		     struct audit_verify_result *res)
{
	return audit_verify_run(p, len, opts, res, NULL);
}

int audit_verify_file(const char *path, const struct audit_verify_opts *opts,
		      struct audit_verify_result *res, struct bw_err *err)
{
	memset(res, 0, sizeof(*res));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bw_err_set(err, errno == ENOENT ? 404 : 500, "audit",
				  "open", "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return bw_err_set(err, 400, "audit", "not_file",
				  "%s: not a regular file", path);
	}
	size_t len = (size_t)st.st_size;
	const char *p = "";
	void *map = NULL;
	if (len > 0) {
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			int e = errno;
			close(fd);
			return bw_err_set(err, 500, "audit", "mmap", "%s: %s",
					  path, strerror(e));
		}
		(void)madvise(map, len, MADV_SEQUENTIAL);
		p = map;
	}
	close(fd);
	int rc = audit_verify_run(p, len, opts, res, NULL);
	if (map)
		munmap(map, len);
	if (rc < 0 && res->fault != AUDIT_FAULT_NONE)
		bw_err_set(err, 500, "audit", audit_fault_name(res->fault),
			   "%s", res->what);
	return rc;
}
