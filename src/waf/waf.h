/*
 * waf — bulwark's web application firewall. This header is the module's
 * public face: loading a SecLang (ModSecurity v3 rule language) rule set
 * such as the OWASP Core Rule Set into an immutable compiled struct
 * waf_ruleset, and reading the engine settings it carries.
 *
 * Invariants:
 *  - a struct waf_ruleset is immutable once waf_ruleset_load returns it, so
 *    any number of worker threads may read it without locks;
 *  - everything it points to (rules, compiled PCRE2 code, data-file phrase
 *    lists) is owned by the rule set and released by waf_ruleset_free;
 *  - a load either yields a complete, checked rule set or fails with a
 *    "file:line: message" error and leaves nothing allocated.
 *
 * The compiled rule representation the runtime engine walks lives in
 * waf_int.h (see docs/internals/SECLANG.md).
 */
#ifndef WAF_WAF_H
#define WAF_WAF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct waf_ruleset;

/* SecLang phases 1..5 (request headers, request body, response headers,
 * response body, logging). Index 0 is unused. */
#define WAF_PHASE_MIN 1
#define WAF_PHASE_MAX 5
#define WAF_PHASES 6

enum waf_engine_mode {
	WAF_ENGINE_OFF = 0,
	WAF_ENGINE_ON,
	WAF_ENGINE_DETECTION_ONLY,
};

enum waf_limit_action {
	WAF_LIMIT_REJECT = 0,
	WAF_LIMIT_PROCESS_PARTIAL,
};

enum waf_audit_engine {
	WAF_AUDIT_OFF = 0,
	WAF_AUDIT_ON,
	WAF_AUDIT_RELEVANT_ONLY,
};

/* A tri-state for On/Off directives that were maybe never given. */
enum waf_tristate { WAF_UNSET = 0, WAF_ON, WAF_OFF };

/*
 * Engine settings collected from the Sec* configuration directives. A field
 * the configuration never set keeps its ModSecurity default (documented in
 * SECLANG.md); *_set flags say whether it was given explicitly. Strings are
 * NUL-terminated and owned by the rule set; NULL when not given.
 */
struct waf_settings {
	enum waf_engine_mode rule_engine;
	bool request_body_access;
	bool response_body_access;
	uint64_t request_body_limit;
	uint64_t request_body_no_files_limit;
	uint64_t request_body_in_memory_limit;
	enum waf_limit_action request_body_limit_action;
	uint64_t request_body_json_depth_limit;
	uint64_t arguments_limit;
	uint64_t pcre_match_limit;
	uint64_t pcre_match_limit_recursion;
	uint64_t response_body_limit;
	enum waf_limit_action response_body_limit_action;
	const char **response_body_mime_types; /* NULL-terminated list */
	size_t n_response_body_mime_types;
	const char *tmp_dir, *data_dir, *upload_dir;
	enum waf_tristate upload_keep_files; /* ON/OFF; RelevantOnly = ON */
	unsigned upload_file_mode;
	uint64_t upload_file_limit;
	enum waf_audit_engine audit_engine;
	const char *audit_log, *audit_log2, *audit_log_parts;
	const char *audit_log_relevant_status, *audit_log_type;
	const char *audit_log_storage_dir, *audit_log_format;
	unsigned audit_log_dir_mode, audit_log_file_mode;
	const char *debug_log;
	unsigned debug_log_level;
	const char **component_signatures; /* NULL-terminated list */
	size_t n_component_signatures;
	uint64_t collection_timeout;
	const char *unicode_map_file;
	unsigned unicode_code_point;
	char argument_separator;
	unsigned cookie_format;
	bool status_engine;
	const char *geo_lookup_db;
	/* SecHttpBlKey is an API key: never log it. */
	const char *http_bl_key;
	const char *web_app_id;
	bool xml_external_entity;
};

/*
 * Options for one load. Zero fields take the defaults of waf_limits.h; a
 * value above the hard maximum makes the load fail (400, "limit_too_high").
 * allow_include: whether Include directives are honoured at all (the fuzz
 * target and untrusted snippets turn it off). base_dir: directory used to
 * resolve relative Include and data-file paths for waf_ruleset_load_buffer
 * (NULL: relative paths are refused there).
 */
struct waf_load_opts {
	size_t file_max;
	unsigned include_depth;
	unsigned files_max;
	size_t rules_max;
	size_t line_max;
	size_t regex_max;
	size_t arena_max;
	bool no_include; /* refuse Include/IncludeOptional */
	bool no_jit;     /* skip PCRE2 JIT compilation (faster load) */
	bool no_hyperscan; /* no Hyperscan databases (pm and rx run on
			      the portable paths; tests compare both) */
	const char *base_dir;
};

/*
 * Load rule files in order, as if each were Include'd from one top-level
 * file: directives, Include/IncludeOptional (glob patterns, relative to the
 * including file's directory), data files of @pmFromFile/@ipMatchFromFile
 * (relative to the rule file's directory). Every regex is compiled with
 * PCRE2; removal/update directives are applied to the rules defined before
 * them; SecDefaultAction inheritance, chains and skipAfter targets are
 * resolved at the end.
 *
 * paths: npaths file names, borrowed. opts: may be NULL for defaults.
 * out: OUT, the new rule set (caller frees with waf_ruleset_free).
 * err: OUT, on failure code 400 (bad rule text, with "file:line: msg" in
 * err->msg), 404 (missing file), 413 (a limit tripped) or 500 (memory).
 * Returns 0 or -1.
 */
int waf_ruleset_load(const char *const *paths, size_t npaths,
		     const struct waf_load_opts *opts,
		     struct waf_ruleset **out, struct bw_err *err) BW_WUR;

/*
 * Like waf_ruleset_load for rule text in memory. name is used in error
 * messages ("name:line: ..."); text/len need not be NUL-terminated and are
 * borrowed. Include and data files resolve against opts->base_dir.
 */
int waf_ruleset_load_buffer(const char *name, const char *text, size_t len,
			    const struct waf_load_opts *opts,
			    struct waf_ruleset **out,
			    struct bw_err *err) BW_WUR;

/* Release a rule set and everything it owns. Accepts NULL. */
void waf_ruleset_free(struct waf_ruleset *rs);

/* Number of rules (SecRule/SecAction chain starters; markers and chain
 * links not counted) that run in phase 1..5; 0 for other values. */
size_t waf_ruleset_rule_count(const struct waf_ruleset *rs, int phase);

/* Number of SecMarker directives (each marker exists in every phase). */
size_t waf_ruleset_marker_count(const struct waf_ruleset *rs);

/* The engine settings; borrowed, valid until waf_ruleset_free. */
const struct waf_settings *waf_ruleset_settings(const struct waf_ruleset *rs);

/* Bytes of memory the compiled rule set holds (arena, without PCRE2). */
size_t waf_ruleset_memory(const struct waf_ruleset *rs);

/* ------------------------------------------------------------ runtime */

/*
 * Transactions. A struct waf_tx carries one HTTP exchange through the five
 * SecLang phases. It knows nothing about sockets: the caller (the gateway,
 * a test, the differential driver) feeds it the request line, headers and
 * body pieces, then asks for a decision after each phase. Every byte it
 * keeps lives in the transaction's own arena, released by waf_tx_free.
 *
 * A transaction belongs to one thread at a time; any number of
 * transactions may run concurrently against one rule set (the rule set is
 * read-only; Hyperscan scratch and PCRE2 match data are per thread).
 *
 *   struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK, .client_ip = "10.0.0.1",
 *                            .client_port = 5555, ... };
 *   struct waf_tx *tx = waf_tx_new(rs, &o, &err);
 *   waf_tx_request_line(tx, "GET", 3, "/a?b=c", 6, "HTTP/1.1", 8);
 *   waf_tx_request_header(tx, "Host", 4, "example.com", 11);
 *   waf_tx_process_request_headers(tx, &d);           phase 1
 *   waf_tx_append_request_body(tx, p, n); ...
 *   waf_tx_process_request_body(tx, &d);              phase 2
 *   waf_tx_response_status(tx, 200, "HTTP/1.1", 8);
 *   waf_tx_response_header(tx, ...); waf_tx_process_response_headers(tx, &d);
 *   waf_tx_append_response_body(...); waf_tx_process_response_body(tx, &d);
 *   waf_tx_process_logging(tx);                       phase 5
 *   waf_tx_audit_json(tx, &buf);                      ModSecurity JSON
 *   waf_tx_free(tx);
 */
struct waf_tx;

/* Per-route mode. OFF runs nothing; DETECT runs every rule and records
 * matches but never disrupts; BLOCK enforces disruptive actions. The rule
 * set's SecRuleEngine (and ctl:ruleEngine) can only make a route less
 * strict: a route in BLOCK with "SecRuleEngine DetectionOnly" detects. */
enum waf_mode { WAF_MODE_OFF = 0, WAF_MODE_DETECT, WAF_MODE_BLOCK };

enum waf_verdict {
	WAF_PASS = 0,    /* carry on */
	WAF_DENY,        /* answer with status (403 by default) */
	WAF_DROP,        /* close the connection without answering */
	WAF_REDIRECT,    /* answer status (302) with Location: location */
	WAF_ALLOW,       /* stop inspecting (allow action), carry on */
};

struct waf_decision {
	enum waf_verdict verdict;
	int status;            /* DENY/REDIRECT: HTTP status */
	const char *location;  /* REDIRECT: target, owned by the tx */
	uint64_t rule_id;      /* the rule that decided, 0 for PASS */
	int phase;             /* the phase it happened in */
};

struct waf_tx_opts {
	enum waf_mode mode;
	const char *client_ip;  /* text form; NULL = "" (borrowed, copied) */
	unsigned client_port;
	const char *server_ip;
	unsigned server_port;
	const char *unique_id;  /* NULL: one is generated */
	size_t arena_max;       /* 0: WAF_TX_ARENA_DEFAULT */
};

/* One matched rule (chain starter), for explain output and the audit log.
 * All strings are NUL-terminated and owned by the transaction. */
struct waf_match {
	uint64_t rule_id;
	int phase;
	const char *file;
	unsigned line;
	const char *msg;       /* expanded; "" when the rule has none */
	const char *logdata;   /* expanded; "" when none */
	int severity;          /* 0..7, -1 when none */
	const char *const *tags;
	size_t ntags;
	const char *var_name;  /* e.g. "ARGS:q" (the last link's match) */
	const char *var_value; /* the value before transformations */
	const char *tfns;      /* "t:urlDecodeUni,t:lowercase" or "" */
	const char *op;        /* operator and parameter, e.g. "@rx ..." */
	bool logged;           /* the rule's log flag (nolog: false) */
	bool disruptive;       /* this match decided the verdict */
	const char *ver, *rev;
	int maturity, accuracy;
	/* How much the anomaly totals (TX:anomaly_score_pl1..4 and
	 * TX:outbound_anomaly_score_pl1..4, the CRS's per-paranoia-level
	 * sums) grew since the previous logged match: the score this rule
	 * contributed. 0 for nolog rules. */
	int64_t score;
};

/*
 * Start a transaction on rs (borrowed: it must outlive the transaction).
 * opts may be NULL (BLOCK mode, empty addresses, generated id). Returns the
 * transaction (free with waf_tx_free) or NULL with err set (500 memory).
 */
struct waf_tx *waf_tx_new(const struct waf_ruleset *rs,
			  const struct waf_tx_opts *opts,
			  struct bw_err *err) BW_WUR;
/* Release a transaction and everything it owns. Accepts NULL. */
void waf_tx_free(struct waf_tx *tx);

/*
 * Feed the request line: method, the request target exactly as received
 * (origin or absolute form, percent-encoding intact) and the protocol
 * ("HTTP/1.1"). Query arguments are parsed here. Borrowed, copied.
 * Returns 0, or -1 when the transaction's memory limit is reached (the
 * caller should answer 413/500; the transaction is then unusable).
 */
int waf_tx_request_line(struct waf_tx *tx, const char *method, size_t mlen,
			const char *target, size_t tlen, const char *proto,
			size_t plen) BW_WUR;
/* Add one request header (name and value copied). 0 or -1 (memory). */
int waf_tx_request_header(struct waf_tx *tx, const char *name, size_t nlen,
			  const char *value, size_t vlen) BW_WUR;
/* Append request body bytes. Past SecRequestBodyLimit the extra bytes are
 * dropped and INBOUND_DATA_ERROR set; with SecRequestBodyLimitAction
 * Reject the next decision is a 413 deny. 0 or -1 (memory). */
int waf_tx_append_request_body(struct waf_tx *tx, const void *p,
			       size_t n) BW_WUR;
int waf_tx_response_status(struct waf_tx *tx, int status, const char *proto,
			   size_t plen) BW_WUR;
int waf_tx_response_header(struct waf_tx *tx, const char *name, size_t nlen,
			   const char *value, size_t vlen) BW_WUR;
int waf_tx_append_response_body(struct waf_tx *tx, const void *p,
				size_t n) BW_WUR;

/*
 * Run a phase and return the decision in *d (OUT). Phases run at most
 * once and in order; calling a later phase runs nothing for skipped
 * earlier ones. Once a decision other than PASS was returned, later
 * request/response phases return the same decision without running rules
 * (phase 5, logging, still runs). Returns 0, or -1 with the decision PASS
 * when the transaction ran out of memory (callers in BLOCK mode should
 * fail closed on -1).
 */
int waf_tx_process_request_headers(struct waf_tx *tx, struct waf_decision *d);
int waf_tx_process_request_body(struct waf_tx *tx, struct waf_decision *d);
int waf_tx_process_response_headers(struct waf_tx *tx, struct waf_decision *d);
int waf_tx_process_response_body(struct waf_tx *tx, struct waf_decision *d);
int waf_tx_process_logging(struct waf_tx *tx);

/* The decision so far (PASS when nothing disrupted). */
void waf_tx_decision(const struct waf_tx *tx, struct waf_decision *d);

/* Matched rules, in the order they matched. Borrowed from the tx. */
size_t waf_tx_match_count(const struct waf_tx *tx);
const struct waf_match *waf_tx_match_get(const struct waf_tx *tx, size_t i);

/* Value of a collection entry, e.g. ("TX", "anomaly_score"): the first
 * value, NUL-terminated, owned by the tx; NULL when unset. Names are
 * case-insensitive. */
const char *waf_tx_var(const struct waf_tx *tx, const char *collection,
		       const char *key);
/* An integer TX variable as ModSecurity reads it (leading digits, 0 when
 * absent or not a number), e.g. waf_tx_score(tx, "anomaly_score"). */
int64_t waf_tx_score(const struct waf_tx *tx, const char *tx_key);
const char *waf_tx_unique_id(const struct waf_tx *tx);

/*
 * Append the transaction's ModSecurity v3-compatible JSON audit log entry
 * ({"transaction":{...,"request":{...},"response":{...},"producer":{...},
 * "messages":[{"message":...,"details":{"ruleId":...}}]}}) to out as one
 * line without the trailing newline. Bodies are not included unless
 * include_bodies. Returns 0, or -1 when out's ceiling was reached.
 */
int waf_tx_audit_json(const struct waf_tx *tx, struct bw_buf *out,
		      bool include_bodies) BW_WUR;

/* ----------------------------------------------------- audit log file */

/*
 * The JSON audit log file of a rule set, configured the ModSecurity way by
 * the rule files themselves: SecAuditEngine (On: every transaction;
 * RelevantOnly: those with a logged match, a disruption or a response
 * status matching SecAuditLogRelevantStatus; Off), SecAuditLog (the file)
 * and SecAuditLogParts (bodies only with part C / E). One JSON object per
 * line, as libmodsecurity3 writes with SecAuditLogFormat JSON.
 *
 * Writing never blocks the data path: entries are copied into a bounded
 * in-memory queue (WAF_AUDITLOG_QUEUE_*) that a writer thread drains into
 * the file; when the queue is full the entry is dropped and counted
 * (telemetry durability class — bulwark's own audit log carries the
 * durable record of every block, through the event bus).
 *
 * waf_ruleset_audit_log_open opens the file named by the rule set's
 * SecAuditLog (when SecAuditEngine is not Off) and attaches the writer to
 * rs, which owns it from then on (waf_ruleset_free flushes and closes).
 * Call it once, right after loading and before any transaction starts.
 * path_override: when non-NULL, used instead of SecAuditLog. Returns 1 when
 * a log was opened, 0 when the rule set asks for none, -1 with err (file
 * cannot be opened, 500 memory or thread).
 */
int waf_ruleset_audit_log_open(struct waf_ruleset *rs, const char *path_override,
			       struct bw_err *err) BW_WUR;

struct waf_audit_stats {
	uint64_t written;  /* entries written to the file */
	uint64_t dropped;  /* entries dropped: queue full or write error */
	uint64_t skipped;  /* transactions not relevant (RelevantOnly) */
};
/* The counters of rs's audit log (zeros when none). Thread-safe. */
void waf_ruleset_audit_stats(const struct waf_ruleset *rs,
			     struct waf_audit_stats *out);
/* The counters of every audit log file open in the process, summed (for
 * the admin API). Thread-safe. */
void waf_audit_stats_total(struct waf_audit_stats *out);

/*
 * Queue tx's audit log entry if the rule set has an audit log and the
 * transaction is relevant under SecAuditEngine (and ctl:auditEngine).
 * waf_tx_process_logging calls it; exported for callers that end a
 * transaction some other way. Never blocks on I/O. Returns 1 queued,
 * 0 not relevant or no log, -1 dropped (counted).
 */
int waf_tx_audit_log(struct waf_tx *tx);

/* ------------------------------------------------------------ explain */

/*
 * The explain ring: the match details of the last WAF_EXPLAIN_ENTRIES_*
 * relevant transactions (a logged match or a disruption), process-wide,
 * so the admin API can answer "why was request X blocked": which rules
 * matched, on which variable and value, after which transformations, with
 * what score, and the anomaly totals. Entries are rendered to JSON when
 * recorded (bounded to WAF_EXPLAIN_ENTRY_MAX bytes each) and the oldest is
 * overwritten. Thread-safe.
 */

/* Entries the ring holds now and can hold. Thread-safe. */
void waf_explain_size(size_t *entries, size_t *capacity);

/* Size the ring (entries, 0 = default); clamps to the hard maximum.
 * Existing entries are dropped. Call at start-up. */
void waf_explain_configure(size_t entries);

/* Record tx (after phase 5) when it is relevant. mode_text: the route's
 * mode as the operator configured it ("block", "detect"), borrowed.
 * Returns 1 recorded, 0 not relevant, -1 memory. */
int waf_explain_record(const struct waf_tx *tx, const char *route,
		       const char *mode_text);

/* Copy the JSON explain document of request id into out (appended).
 * Returns 1 found, 0 not in the ring, -1 out's ceiling reached. */
int waf_explain_get(const char *id, struct bw_buf *out) BW_WUR;

/* Append a JSON array of the ring's most recent entries (newest first, at
 * most max) as short summaries {request_id, time, method, uri, verdict,
 * status, anomaly_score, rule_ids}. Returns 0 or -1 (ceiling). */
int waf_explain_list(size_t max, struct bw_buf *out) BW_WUR;

/* Render tx's explain document (the same JSON waf_explain_get returns)
 * into out. Returns 0 or -1 (ceiling). */
int waf_tx_explain_json(const struct waf_tx *tx, const char *route,
			const char *mode_text, struct bw_buf *out) BW_WUR;

#endif
