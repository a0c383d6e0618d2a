/*
 * waf_int.h — the compiled SecLang rule representation and the loader's
 * internals. Only files in src/waf include this header. The runtime engine
 * (transactions, phases, matching) walks these structures; the loader
 * (waf_lex.c, waf_conf.c, waf_rule.c, waf_data.c, waf_ruleset.c) builds
 * them. docs/internals/SECLANG.md describes the layout for the engine
 * author.
 *
 * Invariants of a finished struct waf_ruleset:
 *  - every pointer inside it points into rs->arena (or is PCRE2 code whose
 *    release is registered as an arena cleanup), so one bw_arena_free
 *    releases everything;
 *  - phase[p].rules holds, in file order, the chain starters of phase p
 *    and a WAF_RULE_MARKER entry for every SecMarker (markers appear in
 *    all five phases, as in ModSecurity v3);
 *  - a chain starter's chain_next links the rest of its chain; links share
 *    the starter's phase and never carry id, phase, disruptive actions,
 *    skip or skipAfter;
 *  - rule->eff holds the actions after SecDefaultAction inheritance, so the
 *    engine never consults the defaults again;
 *  - skip_after_index is an index into the same phase list, > the rule's
 *    own index, or phase[p].n when the marker does not exist;
 *  - every bw_str in it is also NUL-terminated (p[len] == 0), so PCRE2 and
 *    printf can take it directly.
 */
#ifndef WAF_WAF_INT_H
#define WAF_WAF_INT_H

#include "waf/waf.h"
#include "waf/waf_limits.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ------------------------------------------------------------ variables */

/* Every variable of the ModSecurity v3 reference manual. */
enum waf_var_id {
	WAF_VAR_NONE = 0,
	WAF_VAR_ARGS,
	WAF_VAR_ARGS_COMBINED_SIZE,
	WAF_VAR_ARGS_GET,
	WAF_VAR_ARGS_GET_NAMES,
	WAF_VAR_ARGS_NAMES,
	WAF_VAR_ARGS_POST,
	WAF_VAR_ARGS_POST_NAMES,
	WAF_VAR_AUTH_TYPE,
	WAF_VAR_DURATION,
	WAF_VAR_ENV,
	WAF_VAR_FILES,
	WAF_VAR_FILES_COMBINED_SIZE,
	WAF_VAR_FILES_NAMES,
	WAF_VAR_FILES_SIZES,
	WAF_VAR_FILES_TMPNAMES,
	WAF_VAR_FILES_TMP_CONTENT,
	WAF_VAR_FULL_REQUEST,
	WAF_VAR_FULL_REQUEST_LENGTH,
	WAF_VAR_GEO,
	WAF_VAR_GLOBAL,
	WAF_VAR_HIGHEST_SEVERITY,
	WAF_VAR_INBOUND_DATA_ERROR,
	WAF_VAR_IP,
	WAF_VAR_MATCHED_VAR,
	WAF_VAR_MATCHED_VARS,
	WAF_VAR_MATCHED_VAR_NAME,
	WAF_VAR_MATCHED_VARS_NAMES,
	WAF_VAR_MODSEC_BUILD,
	WAF_VAR_MSC_PCRE_LIMITS_EXCEEDED,
	WAF_VAR_MULTIPART_BOUNDARY_QUOTED,
	WAF_VAR_MULTIPART_BOUNDARY_WHITESPACE,
	WAF_VAR_MULTIPART_CRLF_LF_LINES,
	WAF_VAR_MULTIPART_DATA_AFTER,
	WAF_VAR_MULTIPART_DATA_BEFORE,
	WAF_VAR_MULTIPART_FILE_LIMIT_EXCEEDED,
	WAF_VAR_MULTIPART_FILENAME,
	WAF_VAR_MULTIPART_HEADER_FOLDING,
	WAF_VAR_MULTIPART_INVALID_HEADER_FOLDING,
	WAF_VAR_MULTIPART_INVALID_PART,
	WAF_VAR_MULTIPART_INVALID_QUOTING,
	WAF_VAR_MULTIPART_LF_LINE,
	WAF_VAR_MULTIPART_MISSING_SEMICOLON,
	WAF_VAR_MULTIPART_NAME,
	WAF_VAR_MULTIPART_PART_HEADERS,
	WAF_VAR_MULTIPART_STRICT_ERROR,
	WAF_VAR_MULTIPART_UNMATCHED_BOUNDARY,
	WAF_VAR_OUTBOUND_DATA_ERROR,
	WAF_VAR_PATH_INFO,
	WAF_VAR_QUERY_STRING,
	WAF_VAR_REMOTE_ADDR,
	WAF_VAR_REMOTE_HOST,
	WAF_VAR_REMOTE_PORT,
	WAF_VAR_REMOTE_USER,
	WAF_VAR_REQBODY_ERROR,
	WAF_VAR_REQBODY_ERROR_MSG,
	WAF_VAR_REQBODY_PROCESSOR,
	WAF_VAR_REQBODY_PROCESSOR_ERROR,
	WAF_VAR_REQBODY_PROCESSOR_ERROR_MSG,
	WAF_VAR_REQUEST_BASENAME,
	WAF_VAR_REQUEST_BODY,
	WAF_VAR_REQUEST_BODY_LENGTH,
	WAF_VAR_REQUEST_COOKIES,
	WAF_VAR_REQUEST_COOKIES_NAMES,
	WAF_VAR_REQUEST_FILENAME,
	WAF_VAR_REQUEST_HEADERS,
	WAF_VAR_REQUEST_HEADERS_NAMES,
	WAF_VAR_REQUEST_LINE,
	WAF_VAR_REQUEST_METHOD,
	WAF_VAR_REQUEST_PROTOCOL,
	WAF_VAR_REQUEST_URI,
	WAF_VAR_REQUEST_URI_RAW,
	WAF_VAR_RESOURCE,
	WAF_VAR_RESPONSE_BODY,
	WAF_VAR_RESPONSE_CONTENT_LENGTH,
	WAF_VAR_RESPONSE_CONTENT_TYPE,
	WAF_VAR_RESPONSE_HEADERS,
	WAF_VAR_RESPONSE_HEADERS_NAMES,
	WAF_VAR_RESPONSE_PROTOCOL,
	WAF_VAR_RESPONSE_STATUS,
	WAF_VAR_RULE,
	WAF_VAR_SERVER_ADDR,
	WAF_VAR_SERVER_NAME,
	WAF_VAR_SERVER_PORT,
	WAF_VAR_SESSION,
	WAF_VAR_SESSIONID,
	WAF_VAR_STATUS,
	WAF_VAR_STATUS_LINE,
	WAF_VAR_TIME,
	WAF_VAR_TIME_DAY,
	WAF_VAR_TIME_EPOCH,
	WAF_VAR_TIME_HOUR,
	WAF_VAR_TIME_MIN,
	WAF_VAR_TIME_MON,
	WAF_VAR_TIME_SEC,
	WAF_VAR_TIME_WDAY,
	WAF_VAR_TIME_YEAR,
	WAF_VAR_TX,
	WAF_VAR_UNIQUE_ID,
	WAF_VAR_URLENCODED_ERROR,
	WAF_VAR_USER,
	WAF_VAR_USERID,
	WAF_VAR_WEBAPPID,
	WAF_VAR_XML,
	WAF_VAR__COUNT
};

/* Flags of a variable in the name table. */
#define WAF_VARF_COLLECTION 0x1 /* takes a :selector and & counts */
#define WAF_VARF_WRITABLE 0x2   /* setvar/expirevar/initcol target */

struct waf_var_info {
	const char *name;
	enum waf_var_id id;
	unsigned flags;
};

enum waf_sel_kind {
	WAF_SEL_NONE = 0, /* whole collection or a scalar variable */
	WAF_SEL_NAME,     /* ARGS:foo — compare case-insensitively */
	WAF_SEL_REGEX,    /* ARGS:/^foo/ — sel_re, caseless, matched on keys */
	WAF_SEL_XPATH,    /* XML:/xpath — sel is the XPath expression */
};

/* One entry of a rule's target list (VARIABLES in SecRule). */
struct waf_target {
	enum waf_var_id var;
	bool count;   /* &VAR: the number of matching entries, not values */
	bool exclude; /* !VAR:sel: remove these entries from the rule's set */
	enum waf_sel_kind sel_kind;
	struct bw_str sel;   /* selector text without quotes or slashes */
	pcre2_code *sel_re;  /* WAF_SEL_REGEX only */
	uint32_t sel_hash;   /* runtime: waf_key_hash(sel) for NAME */
	struct bw_str *sel_factors; /* runtime: REGEX literal factors */
	size_t nsel_factors;
	uint8_t sel_id; /* runtime: REGEX selectors with the same pattern
			   share an id 1..16 (0: not memoised) */
};

/* --------------------------------------------------------------- macros */

/*
 * A string with %{VAR} / %{COLLECTION.key} references expanded per
 * transaction. Segments alternate literals and references; a string
 * without references is one literal segment (constant == true).
 */
enum waf_seg_kind { WAF_SEG_LITERAL, WAF_SEG_VAR };
struct waf_macro_seg {
	enum waf_seg_kind kind;
	struct bw_str text;    /* literal text, or the reference as written */
	enum waf_var_id var;   /* WAF_SEG_VAR: the variable or collection */
	struct bw_str key;     /* WAF_SEG_VAR: key after the dot, may be empty */
	uint32_t key_hash;     /* waf_key_hash(key), so lookups skip hashing */
};
struct waf_macro {
	struct bw_str raw;
	uint32_t raw_hash; /* waf_key_hash(raw): a constant setvar key */
	bool constant;
	size_t nsegs;
	struct waf_macro_seg *segs;
};

/* ------------------------------------------------------------ operators */

enum waf_op_id {
	WAF_OP_RX = 0,
	WAF_OP_RX_GLOBAL,
	WAF_OP_PM,
	WAF_OP_PM_FROM_FILE, /* also @pmf */
	WAF_OP_STREQ,
	WAF_OP_STRMATCH,
	WAF_OP_CONTAINS,
	WAF_OP_CONTAINS_WORD,
	WAF_OP_BEGINS_WITH,
	WAF_OP_ENDS_WITH,
	WAF_OP_WITHIN,
	WAF_OP_EQ,
	WAF_OP_GE,
	WAF_OP_GT,
	WAF_OP_LE,
	WAF_OP_LT,
	WAF_OP_IP_MATCH,
	WAF_OP_IP_MATCH_FROM_FILE, /* also @ipMatchF */
	WAF_OP_VALIDATE_BYTE_RANGE,
	WAF_OP_VALIDATE_URL_ENCODING,
	WAF_OP_VALIDATE_UTF8_ENCODING,
	WAF_OP_VALIDATE_DTD,
	WAF_OP_VALIDATE_SCHEMA,
	WAF_OP_DETECT_SQLI,
	WAF_OP_DETECT_XSS,
	WAF_OP_UNCONDITIONAL_MATCH,
	WAF_OP_NO_MATCH,
	WAF_OP_RBL,
	WAF_OP_GEO_LOOKUP,
	WAF_OP_VERIFY_CC,
	WAF_OP_VERIFY_CPF,
	WAF_OP_VERIFY_SSN,
	WAF_OP_VERIFY_SVNR,
	WAF_OP__COUNT
};

/* One network of @ipMatch: family AF_INET or AF_INET6, address in network
 * order (IPv4 in the first 4 bytes), prefix length in bits. */
struct waf_ipnet {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

struct waf_operator {
	enum waf_op_id id;
	bool negated;
	struct bw_str arg;      /* parameter as written (after unquoting) */
	struct waf_macro *marg; /* parameter as macro (string/number ops) */
	pcre2_code *re;         /* rx/rxGlobal/verify*: NULL if marg has refs */
	bool num_const;         /* eq..lt with a literal number */
	int64_t num;
	/* pm / pmFromFile: phrases (original case; matching is caseless). */
	struct bw_str *phrases;
	size_t nphrases;
	/* ipMatch / ipMatchFromFile */
	struct waf_ipnet *nets;
	size_t nnets;
	/* validateByteRange: bit b set when byte b is allowed */
	uint8_t byte_ok[32];
	/* pmFromFile/ipMatchFromFile/validateDTD/validateSchema: resolved
	 * file names in the order given (phrases/nets already loaded). */
	const char **files;
	size_t nfiles;
	/* Runtime data built by waf_engine_prepare (waf_hs.c). hs: for
	 * pm/pmFromFile the phrase set; for rx the literal factors whose
	 * absence proves the regex cannot match (NULL: no prefilter). */
	struct hs_database *hs;
	size_t nfactors; /* rx: literal factors in hs (0: no prefilter) */
	/* the shortest literal in hs: a shorter value holds none, so it is
	 * not scanned (short JSON numbers, flags, ids) */
	size_t hs_minlen;
	/* rx without literal factors: what PCRE2's own study says every
	 * match needs (waf_hs.c) — a first byte from rx_start (when
	 * rx_has_start), the byte rx_req (either case; 0: none) and at
	 * least rx_minlen bytes — so other values are rejected before
	 * calling PCRE2 */
	bool rx_has_start;
	uint8_t rx_start[32];
	int rx_req;
	uint32_t rx_minlen;
	/* rx whose literal factors include single bytes (too short for a
	 * Hyperscan prefilter, so hs is NULL): the bytes (both cases) in
	 * rx_fbytes, the longer factors in rx_fhs (NULL: none). A value
	 * holding none of either cannot match (waf_rx_factors_possible). */
	bool rx_has_fbytes;
	uint8_t rx_fbytes[32];
	struct hs_database *rx_fhs;
	size_t rx_fhs_minlen;
};

/* ------------------------------------------------------ transformations */

enum waf_tfn {
	WAF_T_NONE = 0,
	WAF_T_BASE64_DECODE,
	WAF_T_BASE64_DECODE_EXT,
	WAF_T_BASE64_ENCODE,
	WAF_T_CMD_LINE,
	WAF_T_COMPRESS_WHITESPACE,
	WAF_T_CSS_DECODE,
	WAF_T_ESCAPE_SEQ_DECODE,
	WAF_T_HEX_DECODE,
	WAF_T_HEX_ENCODE,
	WAF_T_HTML_ENTITY_DECODE,
	WAF_T_JS_DECODE,
	WAF_T_LENGTH,
	WAF_T_LOWERCASE,
	WAF_T_MD5,
	WAF_T_NORMALISE_PATH,
	WAF_T_NORMALISE_PATH_WIN,
	WAF_T_PARITY_EVEN_7BIT,
	WAF_T_PARITY_ODD_7BIT,
	WAF_T_PARITY_ZERO_7BIT,
	WAF_T_REMOVE_COMMENTS,
	WAF_T_REMOVE_COMMENTS_CHAR,
	WAF_T_REMOVE_NULLS,
	WAF_T_REMOVE_WHITESPACE,
	WAF_T_REPLACE_COMMENTS,
	WAF_T_REPLACE_NULLS,
	WAF_T_SHA1,
	WAF_T_SQL_HEX_DECODE,
	WAF_T_TRIM,
	WAF_T_TRIM_LEFT,
	WAF_T_TRIM_RIGHT,
	WAF_T_UPPERCASE,
	WAF_T_URL_DECODE,
	WAF_T_URL_DECODE_UNI,
	WAF_T_URL_ENCODE,
	WAF_T_UTF8_TO_UNICODE,
	WAF_T__COUNT
};

/* -------------------------------------------------------------- actions */

enum waf_disruptive {
	WAF_DIS_UNSET = 0, /* the rule names none */
	WAF_DIS_PASS,
	WAF_DIS_BLOCK,     /* resolved through SecDefaultAction */
	WAF_DIS_DENY,
	WAF_DIS_DROP,
	WAF_DIS_ALLOW,     /* see allow_scope */
	WAF_DIS_REDIRECT,
};

enum waf_allow_scope {
	WAF_ALLOW_ALL = 0,   /* allow: skip the rest of the transaction */
	WAF_ALLOW_PHASE,     /* allow:phase */
	WAF_ALLOW_REQUEST,   /* allow:request: skip the request phases */
};

enum waf_setvar_op {
	WAF_SETVAR_SET,     /* col.key=value */
	WAF_SETVAR_SET_ONE, /* col.key (no '='): set to "1" */
	WAF_SETVAR_ADD,     /* col.key=+value */
	WAF_SETVAR_SUB,     /* col.key=-value */
	WAF_SETVAR_DELETE,  /* !col.key */
};

enum waf_ctl_kind {
	WAF_CTL_RULE_ENGINE,
	WAF_CTL_RULE_REMOVE_BY_ID,
	WAF_CTL_RULE_REMOVE_BY_TAG,
	WAF_CTL_RULE_REMOVE_BY_MSG,
	WAF_CTL_RULE_REMOVE_TARGET_BY_ID,
	WAF_CTL_RULE_REMOVE_TARGET_BY_TAG,
	WAF_CTL_RULE_REMOVE_TARGET_BY_MSG,
	WAF_CTL_REQUEST_BODY_PROCESSOR,
	WAF_CTL_REQUEST_BODY_ACCESS,
	WAF_CTL_REQUEST_BODY_LIMIT,
	WAF_CTL_RESPONSE_BODY_ACCESS,
	WAF_CTL_FORCE_REQUEST_BODY_VARIABLE,
	WAF_CTL_AUDIT_ENGINE,
	WAF_CTL_AUDIT_LOG_PARTS,
};

enum waf_body_processor {
	WAF_BODY_URLENCODED,
	WAF_BODY_MULTIPART,
	WAF_BODY_XML,
	WAF_BODY_JSON,
};

struct waf_id_range {
	uint64_t lo, hi; /* inclusive */
};

struct waf_ctl {
	enum waf_ctl_kind kind;
	struct bw_str raw;          /* value as written */
	enum waf_engine_mode engine;     /* RULE_ENGINE */
	enum waf_audit_engine audit;     /* AUDIT_ENGINE */
	enum waf_body_processor body;    /* REQUEST_BODY_PROCESSOR */
	bool on;                         /* *_ACCESS, FORCE_* */
	uint64_t number;                 /* REQUEST_BODY_LIMIT */
	struct waf_id_range *ids;        /* *_BY_ID */
	size_t nids;
	struct bw_str str;               /* tag, msg or audit parts */
	struct waf_target target;        /* *_TARGET_* */
};

/* Actions that run in order when a rule (or chain) matches. */
enum waf_exec_kind {
	WAF_EXEC_SETVAR,
	WAF_EXEC_EXPIREVAR,
	WAF_EXEC_INITCOL,
	WAF_EXEC_SETUID,
	WAF_EXEC_SETSID,
	WAF_EXEC_SETRSC,
	WAF_EXEC_SETENV,
	WAF_EXEC_CTL,
	WAF_EXEC_SANITISE_ARG,
	WAF_EXEC_SANITISE_MATCHED,
	WAF_EXEC_SANITISE_MATCHED_BYTES,
	WAF_EXEC_SANITISE_REQUEST_HEADER,
	WAF_EXEC_SANITISE_RESPONSE_HEADER,
};

struct waf_exec {
	enum waf_exec_kind kind;
	/* SETVAR/EXPIREVAR/INITCOL: collection; SETVAR/EXPIREVAR: key */
	enum waf_var_id col;
	struct waf_macro *key;
	enum waf_setvar_op op;
	/* SETVAR value, EXPIREVAR seconds, INITCOL/SETUID/SETSID/SETRSC
	 * value, SETENV "name=value", SANITISE_* name or byte spec */
	struct waf_macro *value;
	struct waf_ctl *ctl;
};

/* Inheritable yes/no (log, auditlog): UNSET means "not said". */
enum waf_flag { WAF_FLAG_UNSET = 0, WAF_FLAG_YES, WAF_FLAG_NO };

/* The actions of one rule as written (or of one SecDefaultAction). */
struct waf_actions {
	uint64_t id;
	int phase;            /* 1..5, 0 = not given */
	struct waf_macro *msg, *logdata;
	int severity;         /* 0..7, -1 = not given */
	const char *rev, *ver;
	int maturity, accuracy; /* -1 = not given */
	struct waf_macro **tags;
	size_t ntags;
	enum waf_tfn *tfns;   /* in order, t:none entries removed */
	size_t ntfns;
	bool tfn_none;        /* t:none appeared (drops inherited t:) */
	enum waf_disruptive disruptive;
	enum waf_allow_scope allow_scope;
	struct waf_macro *redirect;
	int status;           /* 0 = not given */
	bool chain, capture, multi_match;
	enum waf_flag log, auditlog;
	/* ModSecurity v3's "save the message" flag after the actions ran in
	 * order: log sets it, nolog and noauditlog clear it (so
	 * "log,noauditlog" logs nothing in v3). */
	enum waf_flag save;
	unsigned skip;
	const char *skip_after;
	struct waf_exec *execs;
	size_t nexecs;
	struct bw_str *xmlns; /* "prefix=uri" */
	size_t nxmlns;
};

/*
 * What the engine executes: the rule's own actions merged with the
 * SecDefaultAction of its phase, following ModSecurity v3:
 *  - transformations: defaults then own, unless the rule said t:none;
 *  - disruptive: own (if not block); block takes the default's
 *    disruptive action, status and redirect; with no default, pass;
 *  - log/auditlog: own, else default, else on (nolog implies noauditlog);
 *  - tags and execs: default's first, then own;
 *  - msg, logdata, severity, status: own, else default's.
 * Chain links get only the transformation inheritance.
 */
struct waf_effective {
	enum waf_tfn *tfns;
	size_t ntfns;
	enum waf_disruptive disruptive;
	enum waf_allow_scope allow_scope;
	int status;
	struct waf_macro *redirect;
	bool log, auditlog;
	bool logged; /* v3: the match message is written (see act.save) */
	struct waf_macro *msg, *logdata;
	int severity;
	struct waf_macro **tags;
	size_t ntags;
	struct waf_exec *execs;
	size_t nexecs;
};

/* ---------------------------------------------------------------- rules */

enum waf_rule_kind {
	WAF_RULE_SECRULE,
	WAF_RULE_SECACTION, /* no targets; operator is unconditionalMatch */
	WAF_RULE_MARKER,
};

struct waf_rule {
	enum waf_rule_kind kind;
	const char *file;   /* owned by the rule set */
	unsigned line;
	int phase;
	struct waf_target *targets;
	size_t ntargets;
	struct waf_operator op;
	struct waf_actions act;
	struct waf_effective eff;
	struct waf_rule *chain_next;   /* next link of this chain */
	struct waf_rule *chain_start;  /* the starter (self for starters) */
	const char *marker;            /* WAF_RULE_MARKER: its name */
	size_t skip_after_index;       /* see the invariants above */
	/* Runtime (waf_engine_prepare): tfn_ids[i] identifies the prefix
	 * eff.tfns[0..i] across the rule set, so the transformation cache
	 * shares work between rules whose chains start alike. */
	uint32_t *tfn_ids;
	const char *tfn_text; /* "t:a,t:b" for explain output */
	bool has_excl;        /* some target is a !exclusion */
	/* Rule skipping (waf_hs.c, "group prefilter"): sk_group is 1 + the
	 * index of this starter's group in rs->skg, 0 when not in one;
	 * sk_bit its member index there. */
	uint32_t sk_group, sk_bit;
	/* tsig: 1 + the index of this link's target list among the distinct
	 * lists of targets that cannot change within a phase (request
	 * arguments, headers, cookies, files, XML, request line); 0 for lists
	 * with anything else. Links with the same tsig collect the same
	 * values, so a transaction reuses the last collection (waf_var.c). */
	uint32_t tsig;
};

/*
 * A group prefilter: the starters (one phase or several) whose operator is
 * a Hyperscan-prefiltered @rx, whose transformation chain is the same
 * (tfn prefix id) and whose targets all lie in request data that cannot
 * change within a phase (ARGS, names, cookies, headers, files, the XML
 * root, request line scalars). The group's universe is the union of its
 * members' targets (exclusions left out). One scan of each universe value,
 * transformed once by the shared chain, against the union of the members'
 * factors tells which members can match at all (the others are skipped
 * without collecting or testing their values) and, per value, which
 * member may match it. Sound because a member's values are a subset of
 * the universe and no factor occurring means no match.
 */
struct waf_skgroup {
	struct hs_database *db;    /* pattern id = member index */
	const struct waf_rule *rep; /* a member: its chain transforms */
	uint32_t nmembers;
	struct waf_rule *uni;      /* pseudo-rule with the universe targets */
	size_t minlen;             /* the shortest literal in db */
};

/* What run_phase needs of a phase's i-th rule to pass it by, packed in
 * one array per phase (steps[i] describes rules[i]): a rule a group
 * prefilter rules out, or one a skip passes over, costs one 24-byte
 * entry read in order instead of three or four cache lines of its
 * 592-byte struct waf_rule. Built by waf_ruleset_finish_steps once the
 * rule set is complete (groups assigned); read-only afterwards. */
struct waf_step {
	const struct waf_rule *r;
	uint32_t sk_group; /* r->sk_group: 1 + group index, 0 none */
	uint32_t sk_bit;   /* r->sk_bit */
	uint8_t kind;      /* enum waf_rule_kind */
	/* r cannot match in a transaction that took rs->snap: it reads only
	 * TX keys no rule before it writes, and the snapshot's values do not
	 * match (waf_tx.c, snap_fold) */
	bool no_match_after_snap;
	/* or it surely matches there, with these values (a rule without
	 * actions to run per value: paranoia-level gates and the like) */
	const struct waf_replay *match_after_snap;
};

/* The values a rule decided by the snapshot matches, as its own
 * evaluation would find them (waf_tx.c, snap_fold). */
struct waf_replay {
	struct waf_val *vals;
	struct bw_str *tvs; /* the values after the rule's transformations */
	size_t n;
};

struct waf_phase_rules {
	struct waf_rule **rules;
	size_t n, cap;
	struct waf_step *steps; /* n entries, or NULL before the build */
};

struct waf_ruleset {
	struct bw_arena *arena;
	struct waf_phase_rules phase[WAF_PHASES];
	struct waf_actions *defaults[WAF_PHASES]; /* SecDefaultAction or NULL */
	const char *default_file[WAF_PHASES];
	unsigned default_line[WAF_PHASES];
	struct waf_settings settings;
	size_t nrules;    /* SecRule/SecAction incl. chain links */
	size_t nmarkers;
	size_t nstarters[WAF_PHASES];
	/* Runtime (waf_engine_prepare). gen: unique per loaded rule set, so
	 * a thread can tell whether its Hyperscan scratch fits. */
	uint64_t gen;
	uint32_t ntfn_prefixes;
	/* tfn_mask[prefix id]: the value features (WAF_TF_*) that can make
	 * some step of that chain prefix change a value; a value with none
	 * of them comes out of the prefix unchanged (waf_tfn.c) */
	uint32_t *tfn_mask;
	struct hs_scratch *hs_proto; /* scratch sized for every database */
	size_t nhs;
	/* JSON audit log writer (waf_auditlog.c), attached after load by
	 * waf_ruleset_audit_log_open; NULL: none. Owned, internally locked. */
	struct waf_auditlog *auditlog;
	uint32_t ntsig; /* distinct fixed target lists (waf_rule.tsig) */
	/* group prefilters (waf_hs.c) */
	struct waf_skgroup *skg;
	size_t nskg;
	/* Phase-1 snapshot (waf_tx.c, waf_ruleset_snapshot): a transaction
	 * that ran phase 1's steps snap_first..snap_resume-1, rules whose
	 * outcome depends on the configuration alone. NULL: none. Owned,
	 * read-only. */
	struct waf_tx *snap;
	size_t snap_first, snap_resume;
};

/* waf_auditlog.c: flush, stop the writer thread, close (accepts NULL). */
void waf_auditlog_free(struct waf_auditlog *l);

/* ------------------------------------------------------ loader internals */

/* Parser state for one load. */
struct waf_parse {
	struct waf_ruleset *rs;
	struct bw_err *err;
	struct waf_load_opts lim; /* with defaults filled in */
	const char *file;         /* current file name (arena copy) */
	const char *dir;          /* its directory (arena), or NULL */
	unsigned line;            /* first line of the current directive */
	unsigned depth;
	unsigned files;
	struct waf_rule *open_chain; /* last link of an unfinished chain */
	/* rule ids in use: open addressing, 0 = empty slot */
	uint64_t *ids;
	size_t ids_cap, ids_n;
};

/* Name tables (waf_names.c). Lookups are case-insensitive. */
const struct waf_var_info *waf_var_lookup(const char *name, size_t len);
const char *waf_var_name(enum waf_var_id id);
int waf_op_lookup(const char *name, size_t len, enum waf_op_id *out);
const char *waf_op_name(enum waf_op_id id);
int waf_tfn_lookup(const char *name, size_t len, enum waf_tfn *out);
const char *waf_tfn_name(enum waf_tfn t);
int waf_severity_lookup(const char *s, size_t len);

/* Errors: fill p->err with "file:line: message" and return -1. */
int waf_perr(struct waf_parse *p, int code, const char *reason,
	     const char *fmt, ...) BW_PRINTF(4, 5);

/* Arena helpers (waf_ruleset.c). */
int waf_grow(struct bw_arena *a, void **arr, size_t *cap, size_t n,
	     size_t elsize) BW_WUR;
char *waf_strndup(struct waf_parse *p, const char *s, size_t n);
pcre2_code *waf_regex_compile(struct waf_parse *p, const char *what,
			      const char *src, size_t len, bool caseless);

/* Rule text (waf_rule.c). */
int waf_parse_targets(struct waf_parse *p, struct bw_str s,
		      struct waf_target **out, size_t *n, size_t *cap);
int waf_parse_operator(struct waf_parse *p, struct bw_str s,
		       struct waf_operator *op);
int waf_parse_actions(struct waf_parse *p, struct bw_str s,
		      struct waf_actions *act);
void waf_actions_init(struct waf_actions *act);
struct waf_macro *waf_parse_macro(struct waf_parse *p, struct bw_str s);
int waf_parse_id_ranges(struct waf_parse *p, struct bw_str s,
			struct waf_id_range **out, size_t *n);

/* Data files and networks (waf_data.c). */
char *waf_resolve_path(struct waf_parse *p, const char *name, size_t len);
int waf_load_pm_file(struct waf_parse *p, struct waf_operator *op,
		     const char *path);
int waf_load_ip_file(struct waf_parse *p, struct waf_operator *op,
		     const char *path);
int waf_parse_ipnet(struct bw_str s, struct waf_ipnet *out);
int waf_parse_byte_range(struct bw_str s, uint8_t bits[32]);

/* Directives (waf_conf.c). */
int waf_conf_text(struct waf_parse *p, const char *text, size_t len);
int waf_conf_file(struct waf_parse *p, const char *path, bool optional);

/* Rule set assembly (waf_ruleset.c). */
int waf_ruleset_add_rule(struct waf_parse *p, struct waf_rule *r);
int waf_ruleset_add_marker(struct waf_parse *p, const char *name);
int waf_ruleset_finish(struct waf_parse *p);
bool waf_id_used(struct waf_parse *p, uint64_t id);
int waf_id_add(struct waf_parse *p, uint64_t id);
void waf_id_forget(struct waf_parse *p, uint64_t id);

/* ====================================================== runtime engine */

#include "waf/waf_limits.h"

/* One entry of a collection: both strings NUL-terminated in the tx arena
 * (keys of request collections keep their original case). A deleted
 * entry of a writable collection has val.p == NULL. */
struct waf_kv {
	struct bw_str key;
	struct bw_str val;
	uint32_t vid; /* value id for the transformation cache (0: none) */
	/* memo of regex selectors (by sel_id bit) tested on this key */
	uint16_t sel_known, sel_hit;
	/* waf_key_hash(key), so a named selector compares one integer
	 * before the key (0: not computed, compare the key) */
	uint32_t khash;
};

/* An append-only list; writable collections add a hash index. */
struct waf_col {
	struct waf_kv *v;
	uint32_t n, cap;
	uint32_t *idx;    /* open addressing: entry index + 1, 0 = empty */
	uint32_t idx_cap; /* power of two, 0 without an index */
	bool indexed;
};

/* Per-transaction state of the rule exclusions made by ctl actions. */
struct waf_rm_target {
	enum waf_ctl_kind kind;        /* *_TARGET_BY_ID/TAG/MSG */
	const struct waf_ctl *ctl;     /* ids / str / target */
};

/* Transformation cache of one chain prefix: results indexed by value id,
 * in chunks of WAF_TCV_CHUNK so a rule walking a collection reads
 * consecutive memory. An entry with p == NULL is empty. */
#define WAF_TCV_CHUNK 64
struct waf_tcv {
	struct bw_str **chunk;
	uint32_t nchunk;
};

/* A value handed to an operator: the variable (and collection key) it
 * came from, for MATCHED_VAR_NAME ("ARGS:q"), and its value. */
struct waf_val {
	enum waf_var_id var;
	bool count;       /* &VAR: key is empty, val is the count */
	struct bw_str key;
	struct bw_str val;
	uint32_t vid;     /* 0: computed on the fly, never cached */
};

struct waf_vals {
	struct waf_val *v;
	size_t n, cap;
};

struct waf_match_int {
	struct waf_match pub;
	const struct waf_rule *rule;
};

enum waf_body_kind {
	WAF_BODYK_NONE = 0,
	WAF_BODYK_URLENCODED,
	WAF_BODYK_MULTIPART,
	WAF_BODYK_XML,
	WAF_BODYK_JSON,
	WAF_BODYK_UNKNOWN,
};

struct waf_tx {
	const struct waf_ruleset *rs;
	struct bw_arena *arena;
	enum waf_mode mode;
	enum waf_engine_mode engine; /* SecRuleEngine, changed by ctl */
	char id[64];
	int last_phase;              /* highest phase run */
	bool oom;                    /* memory limit hit: tx is unusable */
	/* decision */
	struct waf_decision dec;
	bool disrupted;
	enum waf_allow_scope allow;
	bool allowed;
	int allow_phase;
	/* variables: scalars by id, collections by id */
	struct bw_str scal[WAF_VAR__COUNT];
	bool scal_set[WAF_VAR__COUNT];
	struct waf_col col[WAF_VAR__COUNT];
	/* request */
	struct bw_str method, uri_raw, proto;
	struct bw_buf reqbody;
	bool reqbody_over;
	uint64_t reqbody_limit;
	bool reqbody_access, resbody_access, force_reqbody_var;
	enum waf_body_kind body_kind;   /* from Content-Type */
	enum waf_body_kind body_ctl;    /* from ctl:requestBodyProcessor */
	bool body_ctl_set;
	uint64_t args_combined;
	uint32_t nargs;
	/* response */
	int status;
	struct bw_buf resbody;
	/* rule evaluation state */
	size_t skip_next;
	const char *skip_marker;
	struct waf_id_range *rm_ids;
	size_t n_rm_ids, cap_rm_ids;
	struct bw_str *rm_tags;
	size_t n_rm_tags, cap_rm_tags;
	struct bw_str *rm_msgs;
	size_t n_rm_msgs, cap_rm_msgs;
	struct waf_rm_target *rm_tgts;
	size_t n_rm_tgts, cap_rm_tgts;
	const struct waf_rule *cur_rule; /* chain starter being evaluated */
	const struct waf_rule *cur_link;
	/* matches */
	struct waf_match_int *matches;
	size_t nmatches, cap_matches;
	int highest_severity;
	int64_t score_seen; /* anomaly totals at the last logged match */
	/* match details of the link being evaluated */
	struct waf_val last_match;
	struct bw_str last_tfn;
	/* transformation cache: tcv[prefix id], value ids from nvid */
	struct waf_tcv *tcv;
	uint32_t nvid;
	/* value features by value id (WAF_TF_*, 0: not computed yet) */
	uint32_t *vfeat;
	uint32_t vfeat_cap;
	uint32_t scal_vid[WAF_VAR__COUNT];
	/* scratch value lists (reused per rule to avoid allocations) */
	struct waf_vals vals;
	/* parsed XML document (xmlDocPtr) or NULL */
	void *xml_doc;
	/* timing */
	int64_t start_ns;
	int64_t start_mono;
	/* audit log parts / engine as changed by ctl */
	enum waf_audit_engine audit_engine;
	const char *audit_parts;
	/* the value list in vals was collected for target list vals_sig
	 * (0: none reusable) in phase vals_phase */
	uint32_t vals_sig;
	int vals_phase;
	/* every fixed target list collected in this phase, by tsig: rules
	 * with the same list anywhere in the phase copy it instead of
	 * collecting again (tsc_phase[sig] is the phase it was made in) */
	struct waf_val **tsc_v;
	uint32_t *tsc_n;
	int *tsc_phase;
	/* group prefilters: per group the phase its member bits were
	 * computed for (0: not yet) */
	int *sk_phase;
	uint64_t **sk_bits;
	/* per group and value id (vid < sk_vcap[g]): whether the value was
	 * scanned (sk_vknown bit) and which members' factors it holds
	 * (sk_vhit, words per vid = (nmembers + 63) / 64). A value keeps its
	 * id while it is unchanged, so later phases and every member rule
	 * reuse one scan; a member skips the values whose bit is clear. */
	uint32_t *sk_vcap;
	uint64_t **sk_vknown;
	uint64_t **sk_vhit;
	/* the operator may skip its own literal prefilter: the value is
	 * known to hold one of its factors (set around waf_op_eval) */
	bool pf_hit;
	/* collection keys given to initcol, for write-back */
	struct bw_str initcol_key[WAF_VAR__COUNT];
	/* building rs->snap: run_phase stops before the first step at or
	 * after snap_limit, or that is not snapshot-safe, and says where
	 * (snap_stop) and whether a rule there disrupted (snap_bad) */
	bool snap_build, snap_bad;
	bool snap_used; /* this transaction took rs->snap */
	size_t snap_limit, snap_stop;
};

/* Builds rs->snap once the steps exist (no snapshot is not an error). */
void waf_ruleset_snapshot(struct waf_ruleset *rs);

/* ---- collections and variables (waf_var.c) */
int waf_col_add(struct waf_tx *tx, enum waf_var_id col, const char *k,
		size_t klen, const char *v, size_t vlen) BW_WUR;
/* writable collections: set/replace, delete, lookup (case-insensitive) */
int waf_col_set(struct waf_tx *tx, enum waf_var_id col, struct bw_str k,
		struct bw_str v) BW_WUR;
void waf_col_del(struct waf_tx *tx, enum waf_var_id col, struct bw_str k);
const struct waf_kv *waf_col_get(const struct waf_tx *tx,
				 enum waf_var_id col, struct bw_str k);
int waf_scal_set(struct waf_tx *tx, enum waf_var_id v, const char *p,
		 size_t len) BW_WUR;
/* A scalar holding a number in decimal (no printf per request). */
int waf_scal_set_num(struct waf_tx *tx, enum waf_var_id v, int64_t n) BW_WUR;
/* Fills the per-key memo of every regex selector of the rule set on c's
 * keys (the phase-1 snapshot's TX, copied into every transaction). */
void waf_col_memo_selectors(const struct waf_ruleset *rs, struct waf_col *c);
/* Append one value to tx->vals (bounded by WAF_VALUES_MAX). */
int waf_vals_push(struct waf_tx *tx, struct waf_val v) BW_WUR;
/* Collect the values of one rule's targets into tx->vals. */
int waf_var_collect(struct waf_tx *tx, const struct waf_rule *r) BW_WUR;
/* Expand a macro into the arena. */
int waf_macro_expand(struct waf_tx *tx, const struct waf_macro *m,
		     struct bw_str *out) BW_WUR;
/* The first value of a variable (for macros and TX lookups). */
bool waf_var_first(struct waf_tx *tx, enum waf_var_id var, struct bw_str key,
		   struct bw_str *out);
/* The same with the key's waf_key_hash known (0: compute it). */
bool waf_var_first_h(struct waf_tx *tx, enum waf_var_id var, struct bw_str key,
		     uint32_t hash, struct bw_str *out);
/* waf_col_get / waf_col_set with the key's waf_key_hash known. */
const struct waf_kv *waf_col_get_h(const struct waf_tx *tx, enum waf_var_id col,
				   struct bw_str k, uint32_t hash);
int waf_col_set_h(struct waf_tx *tx, enum waf_var_id col, struct bw_str k,
		  uint32_t hash, struct bw_str v) BW_WUR;
char *waf_tx_strdup(struct waf_tx *tx, const char *p, size_t n);
/* Decimal form of v into out (NUL-terminated); returns the length. */
size_t waf_i64_str(int64_t v, char out[24]);
/* The case-insensitive hash writable collections index keys with. */
uint32_t waf_key_hash(struct bw_str k);
/* FULL_REQUEST on demand (headers and body as ModSecurity joins them). */
bool waf_tx_full_request(struct waf_tx *tx, struct bw_str *out, bool length);
/* ModSecurity's string-to-int: leading blanks, sign, digits; 0 otherwise */
int64_t waf_atoi(struct bw_str s);

/* ---- transformations (waf_tfn.c) */
/* Value features: what a value contains that some transformation reacts
 * to. waf_tfn_trigger(t) is the set of features without which t returns
 * its input unchanged (WAF_TF_ALWAYS: t changes values without any
 * trigger, e.g. base64Decode or md5); waf_tfn_features computes a value's
 * features (always including WAF_TF_ALWAYS). */
#define WAF_TF_ALWAYS 0x1u     /* set in every value's features */
#define WAF_TF_UPPER 0x2u      /* A-Z */
#define WAF_TF_LOWER 0x4u      /* a-z */
#define WAF_TF_PCT_PLUS 0x8u   /* % or + */
#define WAF_TF_AMP 0x10u       /* & */
#define WAF_TF_BSL 0x20u       /* backslash */
#define WAF_TF_NUL 0x40u       /* NUL */
#define WAF_TF_HIGH 0x80u      /* a byte >= 0x80 */
#define WAF_TF_SLASH 0x100u    /* / */
#define WAF_TF_DOTVAL 0x200u   /* the value is exactly "." */
#define WAF_TF_CMDCH 0x400u    /* " ' ^ , ; */
#define WAF_TF_WSCTL 0x800u    /* \t \n \v \f \r or 0xa0 */
#define WAF_TF_SPACE 0x1000u   /* ' ' */
#define WAF_TF_WSRUN 0x2000u   /* two whitespace bytes in a row */
#define WAF_TF_SPSLASH 0x4000u /* ' ' followed by / or ( */
#define WAF_TF_EDGEWS 0x8000u  /* whitespace first or last */
#define WAF_TF_CMT 0x10000u    /* slash-star, star-slash or -- */
#define WAF_TF_HASH 0x20000u   /* # */
#define WAF_TF_X 0x40000u      /* x or X */
uint32_t waf_tfn_trigger(enum waf_tfn t);
uint32_t waf_tfn_features(const unsigned char *p, size_t n);
/* Upper bound of the output size of t on len input bytes. */
size_t waf_tfn_max_out(enum waf_tfn t, size_t len);
/* Apply t to in[0..len) writing at most waf_tfn_max_out bytes to out;
 * returns the output length. in and out must not overlap. */
size_t waf_tfn_run(enum waf_tfn t, const unsigned char *in, size_t len,
		   unsigned char *out);
/* Apply rule r's transformation chain to v with caching. */
int waf_tfn_chain(struct waf_tx *tx, const struct waf_rule *r,
		  const struct waf_val *v, struct bw_str *out) BW_WUR;
/* The same for the first nt transformations only (multiMatch). */
int waf_tfn_prefix(struct waf_tx *tx, const struct waf_rule *r,
		   const struct waf_val *v, size_t nt, struct bw_str *out) BW_WUR;

/* ---- operators (waf_op.c) */
/* The PCRE2 study reject of an @rx without literal factors (see
 * waf_operator.rx_*): false proves the regex cannot match v. */
bool waf_rx_possible(const struct waf_operator *op, struct bw_str v);
/* Returns 1 match, 0 no match, -1 memory. */
int waf_op_eval(struct waf_tx *tx, const struct waf_rule *r,
		struct bw_str v);

/* ---- actions (waf_act.c) */
int waf_act_setvars(struct waf_tx *tx, const struct waf_rule *link) BW_WUR;
int waf_act_after_match(struct waf_tx *tx, const struct waf_rule *link) BW_WUR;
bool waf_rule_removed(struct waf_tx *tx, const struct waf_rule *r);
bool waf_target_removed(struct waf_tx *tx, const struct waf_rule *r,
			enum waf_var_id col, struct bw_str key);

/* ---- persistent collections (waf_persist.c) */
/* Copy the stored record (col, key) into the transaction's collection. */
int waf_persist_load(struct waf_tx *tx, enum waf_var_id col,
		     struct bw_str key) BW_WUR;
/* Write one variable through to the record of col's initcol key: value
 * NULL and expire_in 0 deletes; expire_in > 0 sets its expiry. */
void waf_persist_set(struct waf_tx *tx, enum waf_var_id col,
		     struct bw_str name, const struct bw_str *value,
		     int64_t expire_in);
/* Drop every record (tests). */
void waf_persist_reset(void);

/* ---- body processors */
int waf_body_urlencoded(struct waf_tx *tx, const char *p, size_t n,
			const char *origin) BW_WUR;
int waf_body_multipart(struct waf_tx *tx, const char *p, size_t n) BW_WUR;
int waf_body_json(struct waf_tx *tx, const char *p, size_t n) BW_WUR;
int waf_body_xml(struct waf_tx *tx, const char *p, size_t n) BW_WUR;
void waf_body_xml_free(void *doc);
int waf_xml_xpath(struct waf_tx *tx, struct bw_str expr, bool as_count);
int waf_add_arg(struct waf_tx *tx, const char *origin, const char *k,
		size_t klen, const char *v, size_t vlen) BW_WUR;
/* ModSecurity's lenient percent-decoding ('+' is a space); returns the
 * new length; *invalid set when a bad %-escape was seen. */
size_t waf_urldecode_nonstrict(char *s, size_t len, bool *invalid);

/* ---- Hyperscan and rule-set preparation (waf_hs.c) */
int waf_engine_prepare(struct waf_parse *p) BW_WUR;
/* Required literal factors of a regex (waf_rxlit.c): every match contains
 * one of *out (caselessly). *nout 0: none known. -1 on memory. */
int waf_rx_factors(const char *pat, size_t len, struct bw_arena *a,
		   struct bw_str **out, size_t *nout) BW_WUR;
/* Scan with the operator's database; 1 when some pattern matched (and
 * *mfrom and *mto of the first match for pm), 0 none, -1 error. */
int waf_hs_scan(const struct waf_ruleset *rs, const struct waf_operator *op,
		const char *p, size_t n, size_t *mfrom, size_t *mto);

/* ---- native detectors (waf_sqli.c, waf_xss.c) */
/* fingerprint: OUT, NUL-terminated (at least 8 bytes) when matched. */
bool waf_sqli_detect(const char *p, size_t n, char fingerprint[8]);
bool waf_xss_detect(const char *p, size_t n);
/* The one-pass rejects the detectors start with: false proves the full
 * detector would say no (see the functions' comments); the _full forms
 * skip them (tests and fuzz targets compare the two). */
bool waf_sqli_possible(const char *p, size_t n);
bool waf_xss_possible(const char *p, size_t n);
bool waf_sqli_detect_full(const char *p, size_t n, char fingerprint[8]);
bool waf_xss_detect_full(const char *p, size_t n);

/* "ARGS:q" / "REQUEST_FILENAME" for a value, in the arena. */
int waf_val_name(struct waf_tx *tx, const struct waf_val *v,
		 struct bw_str *out) BW_WUR;
/* Per-thread PCRE2 match data with room for 10 groups. */
pcre2_match_data *waf_match_data(void);
/* Scan (p, n) with a group database; sets bit i of bits for every member
 * i with a factor in the value. 0, or -1 (no scratch: caller must not
 * skip). */
/* For an rx with single-byte factors (rx_has_fbytes): false when the
 * value holds none of its factors, so it cannot match. */
bool waf_rx_factors_possible(const struct waf_ruleset *rs,
			     const struct waf_operator *op, struct bw_str v);
int waf_hs_scan_group(const struct waf_ruleset *rs, const struct waf_skgroup *g,
		      const char *p, size_t n, uint64_t *bits);
pcre2_match_context *waf_match_context(const struct waf_ruleset *rs);

#endif
