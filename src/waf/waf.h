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

#endif
