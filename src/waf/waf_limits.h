/*
 * waf_limits.h — the named limits of the SecLang loader. Each has a default
 * (used when the caller passes no struct waf_load_opts or leaves a field 0)
 * and a hard maximum that no configuration may raise it past. Rule files
 * are operator-supplied, not attacker-supplied, but a typo or a hostile
 * include must still not make the daemon exhaust memory or time at boot.
 */
#ifndef WAF_LIMITS_H
#define WAF_LIMITS_H

/* One rule or data file. The largest CRS 3.3.4 file is 71 KiB; 4 MiB leaves
 * room for large custom sets while bounding a mistaken Include of a log. */
#define WAF_FILE_MAX_DEFAULT ((size_t)4 << 20)
#define WAF_FILE_MAX_HARD ((size_t)64 << 20)

/* Nested Include depth. CRS needs 2; a cycle is caught by this bound. */
#define WAF_INCLUDE_DEPTH_DEFAULT 8
#define WAF_INCLUDE_DEPTH_HARD 32

/* Files opened in one load (rule files plus data files). CRS uses ~60. */
#define WAF_FILES_MAX_DEFAULT 1024
#define WAF_FILES_MAX_HARD 16384

/* Rules (SecRule/SecAction, chain links counted) in one rule set. CRS 3.3.4
 * has ~800 including chain links; 50k covers every known commercial set. */
#define WAF_RULES_MAX_DEFAULT 50000
#define WAF_RULES_MAX_HARD 500000

/* One logical line after joining backslash continuations. The longest CRS
 * line is ~7 KiB (a generated regex); 64 KiB is ample. */
#define WAF_LINE_MAX_DEFAULT ((size_t)64 << 10)
#define WAF_LINE_MAX_HARD ((size_t)1 << 20)

/* One regular expression's source. PCRE2 compile time and memory grow
 * with pattern length; the longest CRS pattern is ~7 KiB. */
#define WAF_REGEX_MAX_DEFAULT ((size_t)32 << 10)
#define WAF_REGEX_MAX_HARD ((size_t)256 << 10)

/* Arguments on one directive line (SecRule has 3; SecResponseBodyMimeType
 * takes a list). More is a malformed line. */
#define WAF_DIRECTIVE_ARGS_MAX 32

/* Targets in one SecRule (CRS max is 8), actions in one rule (CRS max ~40),
 * and links in one chain (CRS max 4). */
#define WAF_TARGETS_MAX 128
#define WAF_ACTIONS_MAX 512
#define WAF_CHAIN_MAX 32

/* Segments in one macro string such as a setvar value; CRS max is 3. */
#define WAF_MACRO_SEGS_MAX 64

/* Phrases loaded for one @pm/@pmFromFile operator (CRS max ~1,000). */
#define WAF_PM_PHRASES_MAX 200000

/* Bytes of compiled rule set memory (arena ceiling). CRS uses ~3 MiB. */
#define WAF_ARENA_MAX_DEFAULT ((size_t)256 << 20)
#define WAF_ARENA_MAX_HARD ((size_t)2 << 30)

/* ------------------------------------------------------------ runtime */

/* Memory one transaction may use (its arena): parsed arguments, headers,
 * transformation results and matches. A 1 MiB body with the CRS expands
 * to well under 16 MiB; past the limit the transaction fails closed. */
#define WAF_TX_ARENA_DEFAULT ((size_t)32 << 20)
#define WAF_TX_ARENA_HARD ((size_t)1 << 30)

/* Cached transformation results per transaction. The CRS uses ~30
 * distinct chains; 64k entries bound the table to ~3 MiB. */
#define WAF_TCACHE_MAX 65536

/* Parts in one multipart body; ModSecurity has no limit, but each part
 * costs a header list, so a body of 100k empty parts must not. */
#define WAF_MULTIPART_PARTS_MAX 1024

/* Bytes of one multipart part header line and of all part headers of a
 * part (ModSecurity allows 4 KiB per line). */
#define WAF_MULTIPART_HEADER_LINE_MAX 4096
#define WAF_MULTIPART_HEADERS_MAX 32768

/* Nesting of a JSON or XML request body; ModSecurity's JSON default is
 * 10,000 but our JSON reader caps nesting at its own hard maximum. */
#define WAF_BODY_DEPTH_MAX 64

/* Values one rule target list may expand to in one evaluation (ARGS with
 * SecArgumentsLimit 1000 plus cookies, headers, XML nodes). */
#define WAF_VALUES_MAX 100000

/* Members of one group prefilter (rules sharing one transformation chain
 * and one Hyperscan scan per value): the per-value member bits live on
 * the stack in 64-bit words, so a group is capped at 8 words; the CRS's
 * largest group has a few dozen members and a longer list simply starts
 * a second group. */
#define WAF_SK_MEMBERS_MAX 512
#define WAF_SK_WORDS_MAX (WAF_SK_MEMBERS_MAX / 64)

/* Matches recorded per transaction (explain output and audit log). */
#define WAF_MATCHES_MAX 4096

/* Persistent (IP/SESSION/...) collection records kept in memory per
 * process: 100k clients at ~1 KiB each is ~100 MiB at worst; past it new
 * keys start empty instead of growing memory. Variables per record and
 * bytes per value bound one record (the CRS stores a handful of small
 * counters per IP). */
#define WAF_PERSIST_RECORDS_MAX 100000
#define WAF_PERSIST_VARS_MAX 256
#define WAF_PERSIST_VALUE_MAX 4096

/* JSON audit log queue: bytes of entries waiting for the writer thread.
 * 4 MiB holds ~1,000 typical entries (a few KiB each), seconds of a heavy
 * attack; past it entries are dropped and counted rather than stalling the
 * proxy. The hard maximum keeps a typo from pinning gigabytes. */
#define WAF_AUDITLOG_QUEUE_DEFAULT ((size_t)4 << 20)
#define WAF_AUDITLOG_QUEUE_HARD ((size_t)256 << 20)
/* One audit log entry: headers, 4,096 matches and (with parts C/E)
 * bodies; larger entries are dropped and counted. */
#define WAF_AUDITLOG_ENTRY_MAX ((size_t)1 << 20)

/* Explain ring: the last transactions with detections kept in memory for
 * the admin API. 1,024 entries of at most 32 KiB is 32 MiB at worst; the
 * hard maximum keeps the ring under 512 MiB. Per entry, matches beyond
 * WAF_EXPLAIN_MATCHES_MAX and values beyond WAF_EXPLAIN_VALUE_MAX bytes are
 * cut (the CRS rarely logs more than a dozen rules per request). */
#define WAF_EXPLAIN_ENTRIES_DEFAULT 1024
#define WAF_EXPLAIN_ENTRIES_HARD 16384
#define WAF_EXPLAIN_ENTRY_MAX ((size_t)32 << 10)
#define WAF_EXPLAIN_MATCHES_MAX 64
#define WAF_EXPLAIN_VALUE_MAX 256

#endif
