/*
 * siem — bulwark's detection library: one normalised event, the parsers
 * that turn external logs into it, and Sigma rules and correlations that
 * run over it.
 *
 *  - struct siem_event is the one event schema (Elastic Common Schema
 *    names). Internal events (struct bw_event from the bus) and parsed
 *    external logs become the same thing, so one rule set sees both.
 *    Every string lives in the event's arena (or in memory the caller
 *    keeps alive longer, see siem_event_set); the struct itself is a fixed
 *    array of (pointer, length) slots indexed by enum siem_field, plus a
 *    bounded list of free-form labels.
 *  - Parsers are pure functions over (pointer, length): syslog RFC 5424 and
 *    RFC 3164 (with the usual real-world variations), RFC 6587 framing as
 *    a stream decoder, CEF, LEEF 1.0/2.0, and message parsers for sshd,
 *    sudo, PAM, generic Linux auth lines, nginx/Apache combined access
 *    logs and iptables/nftables LOG lines. Each maps into ECS categories.
 *  - Sigma: rules are loaded from YAML, compiled into a struct
 *    siem_ruleset (immutable after siem_ruleset_compile, shareable between
 *    threads), and matched with a per-thread struct siem_matcher. Sigma
 *    correlation rules run in a struct siem_corr, a windowed state machine
 *    driven by event time, so tests can drive it deterministically.
 *
 * Errors use struct bw_err with module "siem": code 400 for bad input
 * (reason tokens named at each function), 413 when a limit tripped, 500
 * when an arena or allocation ran out. Limits are in siem_limits.h.
 * See docs/internals/SIEM.md for the field list, the Sigma field and
 * logsource mapping tables, and how the pieces fit the ingest pipeline.
 */
#ifndef BW_SIEM_H
#define BW_SIEM_H

#include "core/core.h"

struct bw_event;
struct json_writer;
struct json_value;

/* ------------------------------------------------------------ the event */

/*
 * ECS fields with a fixed slot. The JSON name of each is
 * siem_field_name(); numeric ones (ports, pid, status code, severity,
 * syslog codes, bytes) are written as JSON numbers when their text is a
 * decimal integer. @timestamp is not a slot: it is siem_event.ts_ns.
 */
enum siem_field {
	SIEM_F_MESSAGE,
	SIEM_F_EVENT_ORIGINAL, /* the raw line as received */
	SIEM_F_EVENT_KIND,     /* event, alert, ... */
	SIEM_F_EVENT_CATEGORY, /* authentication, network, web, process, ... */
	SIEM_F_EVENT_TYPE,     /* start, end, allowed, denied, access, ... */
	SIEM_F_EVENT_ACTION,
	SIEM_F_EVENT_OUTCOME, /* success, failure, unknown */
	SIEM_F_EVENT_SEVERITY,
	SIEM_F_EVENT_DATASET, /* sshd, sudo, pam, auth, web.access, ... */
	SIEM_F_EVENT_MODULE,  /* syslog, cef, leef, bulwark, ... */
	SIEM_F_EVENT_CODE,
	SIEM_F_EVENT_REASON,
	SIEM_F_EVENT_ID,
	SIEM_F_SOURCE_IP,
	SIEM_F_SOURCE_PORT,
	SIEM_F_SOURCE_DOMAIN,
	SIEM_F_DESTINATION_IP,
	SIEM_F_DESTINATION_PORT,
	SIEM_F_DESTINATION_DOMAIN,
	SIEM_F_USER_NAME,
	SIEM_F_USER_EFFECTIVE_NAME, /* sudo -u target, su target */
	SIEM_F_USER_TARGET_NAME,    /* the account acted upon */
	SIEM_F_GROUP_NAME,
	SIEM_F_HOST_NAME,
	SIEM_F_PROCESS_NAME,
	SIEM_F_PROCESS_PID,
	SIEM_F_PROCESS_EXECUTABLE,
	SIEM_F_PROCESS_COMMAND_LINE,
	SIEM_F_PROCESS_WORKING_DIRECTORY,
	SIEM_F_HTTP_REQUEST_METHOD,
	SIEM_F_HTTP_REQUEST_REFERRER,
	SIEM_F_HTTP_REQUEST_ID,
	SIEM_F_HTTP_RESPONSE_STATUS_CODE,
	SIEM_F_HTTP_RESPONSE_BODY_BYTES,
	SIEM_F_HTTP_VERSION,
	SIEM_F_URL_ORIGINAL,
	SIEM_F_URL_PATH,
	SIEM_F_URL_QUERY,
	SIEM_F_USER_AGENT_ORIGINAL,
	SIEM_F_NETWORK_TRANSPORT,
	SIEM_F_NETWORK_PROTOCOL,
	SIEM_F_OBSERVER_HOSTNAME,
	SIEM_F_OBSERVER_IP,
	SIEM_F_OBSERVER_VENDOR,
	SIEM_F_OBSERVER_PRODUCT,
	SIEM_F_OBSERVER_VERSION,
	SIEM_F_OBSERVER_INGRESS_INTERFACE,
	SIEM_F_OBSERVER_EGRESS_INTERFACE,
	SIEM_F_RULE_NAME,
	SIEM_F_LOG_SYSLOG_FACILITY,
	SIEM_F_LOG_SYSLOG_SEVERITY,
	SIEM_F_LOG_SYSLOG_MSGID,
	SIEM_F_TENANT,
	SIEM_F__COUNT
};

/* A free-form key/value (CEF/LEEF extensions without an ECS slot, RFC
 * 5424 structured data as "sd.<id>.<param>", bw_event extra fields). */
struct siem_label {
	struct bw_str key;
	struct bw_str value;
};

/*
 * The normalised event. Invariants: f[i].p == NULL means "absent" (an
 * empty present value has p != NULL, len 0); every string is borrowed
 * from the arena or from memory that outlives the event; nlabels <=
 * SIEM_MAX_LABELS; ts_ns is ns since the Unix epoch (bw_clock time).
 */
struct siem_event {
	int64_t ts_ns;
	struct bw_arena *arena; /* borrowed: where setc/labels allocate */
	struct bw_str f[SIEM_F__COUNT];
	struct siem_label *labels; /* arena array of labels_cap entries */
	uint16_t nlabels;
	uint16_t labels_dropped; /* labels past SIEM_MAX_LABELS (counted) */
	uint16_t labels_cap;	 /* room in labels[]: grows by doubling */
	/* the parser's working copy of event.original (same length; values
	 * before any in-place unescape sit at the original's offsets), or
	 * NULL; only siem_event_write_bin reads it, to store such values as
	 * references into the original */
	const char *work;
};

/* Resets ev to empty and binds it to arena (borrowed; must outlive ev). */
void siem_event_init(struct siem_event *ev, struct bw_arena *arena);

/* Sets field f to (p, len) without copying: p must outlive the event
 * (normally it points into the event's arena, e.g. into the copied raw
 * line). p == NULL makes the field absent. */
void siem_event_set(struct siem_event *ev, enum siem_field f, const char *p,
		    size_t len);
/* Copies (p, len) into the arena. -1 when the arena is exhausted. */
int siem_event_setc(struct siem_event *ev, enum siem_field f, const char *p,
		    size_t len) BW_WUR;
/* Sets a NUL-terminated literal or arena string (borrowed). */
void siem_event_setz(struct siem_event *ev, enum siem_field f, const char *s);
/* Sets f to the decimal text of v (arena). -1 when the arena is full. */
int siem_event_setu(struct siem_event *ev, enum siem_field f,
		    uint64_t v) BW_WUR;
/* The value of f; {NULL, 0} when absent. */
static inline struct bw_str siem_event_get(const struct siem_event *ev,
					   enum siem_field f)
{
	return ev->f[f];
}
/* Adds a label; key and value are borrowed like siem_event_set. Returns
 * -1 (and counts labels_dropped) past SIEM_MAX_LABELS or when the label
 * array cannot be allocated. A later label with the same key shadows
 * nothing: lookups return the first. */
int siem_event_label(struct siem_event *ev, const char *k, size_t klen,
		     const char *v, size_t vlen);
/* First label with that key, or {NULL, 0}. */
struct bw_str siem_event_label_get(const struct siem_event *ev, const char *k,
				   size_t klen);

/* ECS name of a field ("source.ip"). */
const char *siem_field_name(enum siem_field f);
/* Field by exact ECS name, or -1 (also for "@timestamp", which is not a
 * slot: callers treat the timestamp separately). */
int siem_field_by_name(const char *name, size_t len);

/*
 * siem_event_from_bw — convert an event from the foundation's bus.
 *  in:  borrowed; every string is copied into ev's arena, so `in` may go
 *       away after the call (bus subscribers must copy and return).
 *  ev:  OUT, initialised here with arena a.
 * Known extra fields ("http.request.method", "url.path", ...) go to their
 * slot; others become labels. Sets event.module "bulwark" and event.kind
 * "event". Returns 0, or -1 with err (500 "memory") if the arena is full.
 */
int siem_event_from_bw(const struct bw_event *in, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err) BW_WUR;

/*
 * siem_event_write_bin — append the event's compact stored form (what the
 * service stores per event; layout in siem_doc.c): the raw line once, and
 * every other value either as a reference into it or as a literal.
 * Returns 0, or -1 when out's ceiling was reached (out is then unchanged).
 */
int siem_event_write_bin(const struct siem_event *ev,
			 struct bw_buf *out) BW_WUR;

/*
 * siem_event_from_bin — read a compact stored event (p, len) into ev,
 * copying it once into arena a (borrowed; must outlive ev). The result has
 * exactly the timestamp, fields and labels that were written. Returns 0,
 * or -1 with err: 400 "document" (not one, or malformed: every length and
 * offset is checked), 413 past SIEM_DOC_MAX, 500 "memory".
 */
int siem_event_from_bin(const void *p, size_t len, struct bw_arena *a,
			struct siem_event *ev, struct bw_err *err) BW_WUR;

/* Whether (p, len) starts like a compact stored event (not JSON). */
bool siem_doc_is_bin(const void *p, size_t len);
/* The timestamp (OUT ts) of a compact stored event without reading the
 * rest of it; false when (p, len) does not start like one. */
bool siem_doc_ts(const void *p, size_t len, int64_t *ts);

/*
 * siem_event_write_json — append the event as one ECS JSON object
 * (nested objects: {"@timestamp":..., "event":{"category":["web"],...},
 * "source":{"ip":...}, "labels":{...}}). event.category and event.type
 * are written as one-element arrays, as ECS defines them. Returns 0, or
 * -1 when out's ceiling was reached (out then holds a truncated prefix).
 */
int siem_event_write_json(const struct siem_event *ev,
			  struct bw_buf *out) BW_WUR;

/*
 * siem_event_from_json — read one ECS JSON object (nested or dotted keys,
 * e.g. {"source":{"ip":"1.2.3.4"}} or {"source.ip":"1.2.3.4"}) into ev.
 * @timestamp accepts RFC 3339 text or epoch milliseconds. Arrays for
 * event.category/type keep their first item. Unknown leaves become
 * labels (dotted path as key); "labels" members become labels. All
 * strings are copied into arena a.
 * Errors (400): "json" (not JSON; err carries the JSON reader's detail),
 * "not_object", "timestamp" (unparsable @timestamp), "depth". 413
 * "too_large" for input past SIEM_LINE_MAX_HARD. 500 "memory".
 */
int siem_event_from_json(const char *p, size_t len, struct bw_arena *a,
			 struct siem_event *ev, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- parsers */

/* Options every parser takes; a NULL pointer means all defaults. */
struct siem_parse_opts {
	int64_t now_ns;	     /* receive time; 0 = bw_clock_now_ns() */
	int32_t tz_offset_s; /* zone of timestamps that carry none (RFC
				3164, access logs never lack one) */
	const char *observer; /* who sent it (peer address), or NULL */
	const char *tenant;   /* tenant the listener belongs to, or NULL */
	size_t max_line;      /* 0 = SIEM_LINE_MAX_DEFAULT */
	bool no_program;      /* skip program-specific message parsing */
};

/*
 * Every siem_parse_* function below:
 *  - copies the input into the arena first (it becomes event.original),
 *    so the input may be freed afterwards and every field of ev points
 *    into the arena;
 *  - initialises ev (OUT) itself;
 *  - returns 0 on success or -1 with err: 400 with a reason token saying
 *    what was malformed, 413 "too_large" when len > max_line, 500
 *    "memory" when the arena is exhausted. A parse failure leaves ev
 *    holding only event.original and the receive time, so the caller can
 *    still store the line unparsed.
 */

/* RFC 5424 (PRI, version 1, RFC 3339 timestamp, NILVALUEs, structured
 * data, BOM). Reasons: "pri", "version", "timestamp", "header",
 * "sd". Then the program parsers run on MSG (unless opts->no_program). */
int siem_parse_rfc5424(const char *p, size_t len,
		       const struct siem_parse_opts *o, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err) BW_WUR;
/* RFC 3164 / BSD syslog and what real senders do: optional PRI, "Mmm dd
 * hh:mm:ss" (year inferred from now, rolling back across New Year),
 * optional year and fractional seconds, RFC 3339 timestamps (rsyslog),
 * missing hostname, TAG[PID]:. Reasons: "pri". */
int siem_parse_rfc3164(const char *p, size_t len,
		       const struct siem_parse_opts *o, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err) BW_WUR;
/* Either of the two, chosen by the version digit after PRI. */
int siem_parse_syslog(const char *p, size_t len,
		      const struct siem_parse_opts *o, struct bw_arena *a,
		      struct siem_event *ev, struct bw_err *err) BW_WUR;
/* CEF:0 or CEF:1 (escaped pipes in the header, key=value extension with
 * \= \\ \n \r escapes). Reasons: "cef_header", "cef_severity",
 * "cef_extension". */
int siem_parse_cef(const char *p, size_t len, const struct siem_parse_opts *o,
		   struct bw_arena *a, struct siem_event *ev,
		   struct bw_err *err) BW_WUR;
/* LEEF:1.0 (tab-separated attributes) and LEEF:2.0 (custom delimiter: a
 * character, or hex as x09/0x09). Reasons: "leef_header",
 * "leef_delimiter". */
int siem_parse_leef(const char *p, size_t len, const struct siem_parse_opts *o,
		    struct bw_arena *a, struct siem_event *ev,
		    struct bw_err *err) BW_WUR;
/* nginx/Apache "combined" (and "common") access log line. Reasons:
 * "access". */
int siem_parse_access(const char *p, size_t len,
		      const struct siem_parse_opts *o, struct bw_arena *a,
		      struct siem_event *ev, struct bw_err *err) BW_WUR;
/* Any supported line: syslog (with PRI), CEF, LEEF, access log, or a
 * PRI-less file line ("Mar  1 10:00:00 host sshd[1]: ..."). */
int siem_parse_line(const char *p, size_t len, const struct siem_parse_opts *o,
		    struct bw_arena *a, struct siem_event *ev,
		    struct bw_err *err) BW_WUR;

/*
 * Message parsers for one program's log text, run by the syslog parsers
 * on MSG. msg/len must outlive ev (normally it is ev's own message,
 * already in the arena). Each returns 1 when it recognised the message
 * and filled ev (category, action, outcome, user, source, ...), 0 when
 * the text is not one it knows (ev untouched but for dataset), -1 when
 * the arena is exhausted.
 */
int siem_msg_sshd(struct siem_event *ev, const char *msg, size_t len);
int siem_msg_sudo(struct siem_event *ev, const char *msg, size_t len);
int siem_msg_pam(struct siem_event *ev, const char *msg, size_t len);
int siem_msg_auth(struct siem_event *ev, const char *msg, size_t len);
int siem_msg_netfilter(struct siem_event *ev, const char *msg, size_t len);
/* Picks one of the above (or CEF/LEEF/access inside syslog) from
 * process.name and the message text. Same return values. */
int siem_msg_dispatch(struct siem_event *ev);

/* ------------------------------------------------------ RFC 6587 framing */

enum siem_framing {
	SIEM_FRAMING_AUTO,     /* per frame: digit = octet count, else LF */
	SIEM_FRAMING_OCTET,    /* "LEN SP MSG" only */
	SIEM_FRAMING_NEWLINE,  /* LF (CRLF and NUL also end a frame) */
};

/*
 * A stream decoder for syslog over TCP/TLS. Feed it whatever read()
 * returned; it calls the callback once per complete frame, with the
 * frame borrowed for the duration of the call only. It never holds more
 * than max_frame bytes: a longer frame is delivered truncated (flag set)
 * and the rest of it skipped, so one huge line cannot exhaust memory.
 * Invariant: buf holds only the unfinished frame's bytes so far.
 */
typedef void (*siem_frame_cb)(const char *frame, size_t len, bool truncated,
			      void *arg);

struct siem_framer {
	enum siem_framing mode;
	int state;
	size_t want;   /* octet-counting: bytes still due for this frame */
	size_t digits; /* octet-counting: digits of MSG-LEN read so far */
	size_t skip;   /* bytes of an oversized frame still to drop */
	bool skip_line;
	bool truncated;
	struct bw_buf buf;
	size_t max_frame;
	uint64_t frames, truncated_frames, errors;
};

void siem_framer_init(struct siem_framer *fr, enum siem_framing mode,
		      size_t max_frame);
void siem_framer_fini(struct siem_framer *fr);
/*
 * Consumes (p, n). Returns 0, or -1 with err (400 "framing") when the
 * stream is not valid octet-counting (a MSG-LEN with a leading zero,
 * more than 9 digits, or not followed by a space) — framing is lost and
 * the connection must be closed.
 */
int siem_framer_feed(struct siem_framer *fr, const char *p, size_t n,
		     siem_frame_cb cb, void *arg, struct bw_err *err) BW_WUR;
/* End of stream: delivers an unterminated last line (newline framing).
 * An incomplete octet-counted frame is counted in errors and dropped. */
void siem_framer_finish(struct siem_framer *fr, siem_frame_cb cb, void *arg);

/* ------------------------------------------------------------ Sigma rules */

enum siem_level {
	SIEM_LEVEL_NONE,
	SIEM_LEVEL_INFORMATIONAL,
	SIEM_LEVEL_LOW,
	SIEM_LEVEL_MEDIUM,
	SIEM_LEVEL_HIGH,
	SIEM_LEVEL_CRITICAL,
};

enum siem_rule_kind {
	SIEM_RULE_DETECTION,
	SIEM_RULE_CORRELATION,
};

/* What callers may read about a loaded rule (strings live as long as the
 * ruleset). */
struct siem_rule_info {
	enum siem_rule_kind kind;
	const char *title;
	const char *id;	  /* may be NULL */
	const char *name; /* may be NULL */
	const char *file; /* where it was loaded from */
	uint32_t line;
	enum siem_level level;
	bool generate; /* alerts on its own (false for rules only used by a
			  correlation, unless the correlation says
			  generate: true) */
};

struct siem_ruleset;

/* An empty ruleset. NULL on allocation failure. */
struct siem_ruleset *siem_ruleset_new(void);
void siem_ruleset_free(struct siem_ruleset *rs); /* accepts NULL */

/*
 * siem_ruleset_add_string — load the Sigma rules in text (one or more
 * YAML documents separated by "---" lines; detection and correlation
 * rules may be mixed). name is used in messages and kept as the rules'
 * file. All or nothing: on error no rule of this text is added.
 * Errors: 400 with a message "NAME:LINE:COL: path: what" and reasons
 * from the YAML loader (syntax, duplicate_key, ...) or: "rule" (missing
 * title/detection/condition, wrong types), "modifier" (unknown or
 * unsupported modifier, naming it), "condition" (syntax error in a
 * condition, unknown identifier), "value" (bad cidr, regex, number),
 * "unsupported" (aggregations with |, expand placeholders, ...); 413
 * "limit" past siem_limits.h bounds. Must be called before compile.
 */
int siem_ruleset_add_string(struct siem_ruleset *rs, const char *name,
			    const char *text, size_t len,
			    struct bw_err *err) BW_WUR;
/* Reads path (at most SIEM_RULE_FILE_MAX bytes) and adds it. */
int siem_ruleset_add_file(struct siem_ruleset *rs, const char *path,
			  struct bw_err *err) BW_WUR;
/*
 * siem_ruleset_add_mapping — load a field and logsource mapping (YAML,
 * the format is in docs/siem.md) into rs. It applies to the rules added
 * after it and takes precedence over the built-in tables:
 *
 *   fields:                      # Sigma field name: ECS field or label
 *     SourceAddress: source.ip
 *   logsources:                  # product / service / category
 *     service:
 *       vsftpd: {field: process.name, values: [vsftpd]}
 *     product:
 *       windows: {}              # puts no condition on events
 *
 * name is used in messages; text is borrowed. Errors carry
 * NAME:LINE:COL and the key path: 400 "mapping" for unknown keys, wrong
 * types, empty or over-long names; 413 "limit" past SIEM_MAP_* or
 * SIEM_MAP_FILE_MAX; YAML errors as the rule loader. On error rs keeps
 * the mapping it had (a second call replaces the first). Not after
 * siem_ruleset_compile.
 */
int siem_ruleset_add_mapping(struct siem_ruleset *rs, const char *name,
			     const char *text, size_t len,
			     struct bw_err *err) BW_WUR;
/* Reads path (at most SIEM_MAP_FILE_MAX bytes) and loads it as above. */
int siem_ruleset_add_mapping_file(struct siem_ruleset *rs, const char *path,
				  struct bw_err *err) BW_WUR;
/*
 * siem_ruleset_compile — resolve correlation references (by id or name),
 * build the per-field index and literal sets. After this the ruleset is
 * immutable and may be shared by any number of threads, each with its own
 * siem_matcher. Errors (400 "reference"): a correlation names a rule
 * that is not loaded, or correlations form a cycle.
 */
int siem_ruleset_compile(struct siem_ruleset *rs, struct bw_err *err) BW_WUR;

size_t siem_ruleset_count(const struct siem_ruleset *rs);
/* Info of rule i (< count), or NULL. */
const struct siem_rule_info *siem_ruleset_info(const struct siem_ruleset *rs,
					       size_t i);
/* Index of the rule with that id or name, or -1. */
long siem_ruleset_find(const struct siem_ruleset *rs, const char *id_or_name);

/* Per-thread matching state (scratch buffers, Hyperscan scratch). */
struct siem_matcher;
struct siem_matcher *siem_matcher_new(const struct siem_ruleset *rs);
void siem_matcher_free(struct siem_matcher *m); /* accepts NULL */

/*
 * siem_match — evaluate every detection rule against ev.
 *  out/cap: OUT: indices of the matching rules (ascending), at most cap.
 * Returns the number of matching rules (which may exceed cap: only cap
 * are stored), or -1 when a scratch allocation failed.
 * Cost: one pass per indexed field plus a full evaluation of only the
 * rules whose necessary literals were seen (and of rules with none).
 */
long siem_match(struct siem_matcher *m, const struct siem_event *ev,
		uint32_t *out, size_t cap);

/* Counters of one matcher (how much work the index saved). */
struct siem_match_stats {
	uint64_t events;
	uint64_t candidates; /* rules fully evaluated */
	uint64_t matches;
};
void siem_matcher_stats(const struct siem_matcher *m,
			struct siem_match_stats *out);

/* ---------------------------------------------------------- correlation */

/* One alert from a correlation rule. Borrowed for the callback only. */
struct siem_alert {
	uint32_t rule;	  /* index in the ruleset */
	int64_t time_ns;  /* event time of the event that completed it */
	int64_t first_ns; /* start of the window that matched */
	uint64_t count;	  /* events, distinct values, or rules seen */
	const char *group; /* group-by values joined by '\x1f' ("" if none) */
	const struct siem_event *event; /* the event that completed it;
					   NULL when siem_corr_advance closed
					   the window */
};

typedef void (*siem_alert_cb)(const struct siem_alert *a, void *arg);

struct siem_corr;

/*
 * siem_corr_new — state for every correlation rule of rs (borrowed; must
 * outlive it). max_groups bounds the number of live (rule, group) windows
 * (0: SIEM_CORR_GROUPS_DEFAULT); when full, the stalest window is evicted
 * and counted. Not thread-safe: feed one siem_corr from one thread.
 */
struct siem_corr *siem_corr_new(const struct siem_ruleset *rs,
				size_t max_groups);
void siem_corr_free(struct siem_corr *c); /* accepts NULL */

/*
 * siem_corr_feed — advance the windows with one event and the detection
 * rules it matched (from siem_match). Time is ev->ts_ns. Calls cb for
 * each correlation that fires; a fired window is reset, so a burst gives
 * one alert per threshold crossing. Correlations that reference other
 * correlations are fed the firing ones in the same call (chains).
 * Returns the number of alerts raised, or -1 if memory ran out.
 */
long siem_corr_feed(struct siem_corr *c, const struct siem_event *ev,
		    const uint32_t *matched, size_t n, siem_alert_cb cb,
		    void *arg);
/*
 * siem_corr_advance — let time pass without an event: closes windows that
 * ended before now_ns, which is when "lt"/"lte" conditions ("fewer than N
 * in the window") are decided, and frees expired state.
 */
long siem_corr_advance(struct siem_corr *c, int64_t now_ns, siem_alert_cb cb,
		       void *arg);

struct siem_corr_stats {
	uint64_t groups;  /* live windows */
	uint64_t evicted; /* windows dropped because max_groups was reached */
	uint64_t alerts;
};
void siem_corr_stats(const struct siem_corr *c, struct siem_corr_stats *out);

/* ------------------------------------------------------------------ RELP */

/* One RELP frame. cmd is NUL-terminated (1..32 letters); data is
 * borrowed from the parser's input. */
struct siem_relp_frame {
	uint32_t txnr;
	char cmd[33];
	struct bw_str data;
};

/*
 * siem_relp_parse — take one frame from the start of (p, n), which holds
 * every byte received and not yet consumed.
 *  max_data: largest DATALEN accepted (0 or above SIEM_RELP_DATA_HARD:
 *            the hard limit).
 *  f, used:  OUT: the frame, and how many bytes it took (0 unless a frame
 *            was returned).
 * Returns 1 when a frame was taken, 0 when more bytes are needed (nothing
 * taken), -1 with err when the stream is not RELP: 400 "relp_framing"
 * (bad number, command, missing SP or LF, a header past
 * SIEM_RELP_HEADER_MAX) or 413 "too_large" (DATALEN > max_data, refused
 * from the header before the data arrives). After -1 the connection must
 * be closed: framing is lost.
 */
int siem_relp_parse(const char *p, size_t n, size_t max_data,
		    struct siem_relp_frame *f, size_t *used,
		    struct bw_err *err) BW_WUR;

/* What a client offered in its "open" command. */
struct siem_relp_offers {
	int version;	   /* relp_version, -1 when absent */
	bool syslog;	   /* "syslog" is in commands= */
	char software[64]; /* relp_software, printable ASCII, truncated */
};
/* Parses the offers (LF-separated name[=value,...]) of an "open" frame's
 * data. Unknown offers are ignored. Returns 0, or -1 with err: 400
 * "relp_offer" (malformed, or no relp_version), 413 "limit" (more than
 * SIEM_RELP_OFFERS_MAX offers). */
int siem_relp_parse_offers(const char *p, size_t n,
			   struct siem_relp_offers *o,
			   struct bw_err *err) BW_WUR;
/* Appends the response frame "TXNR rsp LEN DATA\n" ("TXNR rsp 0\n" when
 * len is 0) to out. -1 (out unchanged) when out's ceiling is reached. */
int siem_relp_rsp(struct bw_buf *out, uint32_t txnr, const char *data,
		  size_t len) BW_WUR;

/* ================================================================ service */

/*
 * The SIEM as a running service (siem_service.c and friends): listeners
 * feed an ingest pipeline that parses, matches (one Sigma matcher per
 * thread), correlates, alerts and stores every event durably; a REST API
 * searches, aggregates and manages rules, alerts, cases and reports. See
 * docs/internals/SIEM.md ("The service") for threads, queues and wiring.
 */
struct conf_node;
struct loop;
struct net_tls;
struct net_exchange;
struct siem_service;

/*
 * siem_service_new — bind the `siem:` section (NULL: every default; its
 * errors are FILE:LINE:COL messages from src/conf), open the event store
 * (data_dir/siem.db unless siem.database says otherwise), create or
 * upgrade its schema, and load and compile the rules.
 *  section: borrowed; nothing of it is kept.
 *  data_dir: borrowed; must exist.
 * Returns the service (not yet running: see siem_service_start), or NULL
 * with err (400 config/rules, 500 storage).
 */
struct siem_service *siem_service_new(const struct conf_node *section,
				      const char *data_dir,
				      struct bw_err *err) BW_WUR;
/*
 * Starts the pipeline thread and the service thread (1-second tick:
 * retention, feeds, forwarding, notifications). The process must have
 * called net_fetch_global_init() first. Returns 0 or -1 with err.
 */
int siem_service_start(struct siem_service *svc, struct bw_err *err) BW_WUR;
/*
 * Stops and frees: flushes what is queued (every accepted event is
 * stored), stops the threads, closes the store. Every loop must have
 * called siem_ingest_detach (or be stopped) and the bus must be stopped
 * first. Accepts NULL.
 */
void siem_service_free(struct siem_service *svc);
/*
 * Builds a new generation from section (rules loaded and compiled, config
 * checked) and swaps it in; on any error the running generation stays and
 * -1 is returned with err. Events already matched finish on the
 * generation they were matched with. Any thread.
 */
int siem_service_reload(struct siem_service *svc,
			const struct conf_node *section,
			struct bw_err *err) BW_WUR;
/*
 * The periodic work (retention when due, feed refresh, forwarding
 * retries, notifications). The service thread calls it every second;
 * tests call it directly after moving the settable clock.
 */
void siem_service_tick(struct siem_service *svc);
/* Blocks until every event accepted so far is stored (or failed). */
void siem_service_flush(struct siem_service *svc);

enum siem_ingest_proto { SIEM_INGEST_SYSLOG, SIEM_INGEST_RELP };

/*
 * siem_ingest_attach_stream — serve syslog (RFC 6587 octet counting or
 * newline framing, RFC 5424/3164 and the other line formats) or RELP on
 * listening socket fd, on loop l. Call on l's thread; each worker thread
 * attaches its own SO_REUSEPORT socket and gets its own framers and
 * matcher. fd and tls (NULL for plain TCP) are taken, also on error.
 * RELP transactions are acknowledged only once durably stored. Returns 0
 * or -1 with err.
 */
int siem_ingest_attach_stream(struct siem_service *svc, struct loop *l, int fd,
			      struct net_tls *tls, enum siem_ingest_proto proto,
			      struct bw_err *err) BW_WUR;
/* Syslog over UDP on bound socket fd (taken), on loop l (its thread).
 * Datagrams that arrive while the queue is full are counted and dropped
 * (UDP has no back-pressure). */
int siem_ingest_attach_udp(struct siem_service *svc, struct loop *l, int fd,
			   struct bw_err *err) BW_WUR;
/* Closes every listener and connection of loop l and flushes its partial
 * batch (call on l's thread before it stops). */
void siem_ingest_detach(struct siem_service *svc, struct loop *l);

/*
 * The event-bus subscriber (bw_event_subscribe(siem_bus_subscriber, svc)):
 * copies the event into the pipeline and returns; never blocks. When the
 * queue is full the event is counted as refused.
 */
void siem_bus_subscriber(const struct bw_event *ev, void *svc);

/*
 * Registers the REST routes under /api/v1/siem (search, aggregations,
 * rules, alerts, cases, reports, source keys). svc is kept for the
 * routes; call once at start-up. Returns 0 or -1.
 */
int siem_api_register(struct siem_service *svc) BW_WUR;
/*
 * NDJSON ingest: POST /api/v1/siem/ingest with "Authorization: Bearer
 * <source key>" (keys made with POST /api/v1/siem/sources). Call from the
 * HTTPS handler before the admin API's own routing: returns true when the
 * request was this route (it is then answered, 2xx only once every event
 * of the body is durably stored), false otherwise. Loop thread.
 */
bool siem_http_ingest(struct net_exchange *x, void *svc);

struct siem_stats {
	uint64_t received, stored, parse_failed, truncated, framing_errors,
		store_failed, refused_udp, udp_kernel_drops, refused_http,
		refused_bus, refused_relp, paused, relp_acks, alerts,
		alerts_deduped, alerts_suppressed, retention_deleted,
		notify_sent, notify_failed, fwd_sent, fwd_failed, fwd_dropped,
		intel_matches, anomalies, queued,
		bus_events; /* bulwark's own events taken from the bus */
};
void siem_service_stats(struct siem_service *svc, struct siem_stats *out);
/* Appends the counters in OpenMetrics text (for /metrics). -1 when out's
 * ceiling was reached. */
int siem_metrics_write(struct siem_service *svc, struct bw_buf *out) BW_WUR;

/* --------------------------------------------------------------- helpers */

/* RFC 3339 / ISO 8601 date-time ("2026-03-01T10:00:00.123456+01:00", "Z",
 * "T" or space) to ns since the epoch. -1 when malformed. */
int siem_time_parse_rfc3339(const char *p, size_t len, int64_t *out) BW_WUR;

#endif
