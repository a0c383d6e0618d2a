/*
 * siem_limits.h — every bound the SIEM parsers, the Sigma loader and the
 * correlation engine enforce: the default and, where configuration may
 * change it, the hard maximum it may not exceed. Log lines come from the
 * network and rules may come from a shared repository, so every size and
 * count that input controls has a number here.
 */
#ifndef BW_SIEM_LIMITS_H
#define BW_SIEM_LIMITS_H

/* One log line or frame. RFC 5424 asks receivers to take 2 KiB and
 * recommends 8 KiB; rsyslog's default maxMessageSize is 8 KiB. 64 KiB
 * covers Java stack traces and big CEF records a user may send. */
#define SIEM_LINE_MAX_DEFAULT (64u * 1024u)
/* 1 MiB: past this a "line" is a file upload, not a log record; it also
 * bounds the per-connection framing buffer. */
#define SIEM_LINE_MAX_HARD (1024u * 1024u)

/* Labels (free-form key/values) per event. CEF records carry ~40
 * extension keys at most in practice; RFC 5424 structured data a few. */
#define SIEM_MAX_LABELS 64u

/* RFC 5424 header field lengths, from the RFC's ABNF (HOSTNAME 255,
 * APP-NAME 48, PROCID 128, MSGID 32, SD-NAME 32). */
#define SIEM_5424_HOSTNAME_MAX 255u
#define SIEM_5424_APPNAME_MAX 48u
#define SIEM_5424_PROCID_MAX 128u
#define SIEM_5424_MSGID_MAX 32u
#define SIEM_5424_SDNAME_MAX 32u

/* RFC 3164 TAG: the RFC says 32 alphanumerics; real tags ("postfix/
 * smtpd", "systemd-networkd-wait-online") run longer, 64 covers them. */
#define SIEM_3164_TAG_MAX 64u

/* Digits of an RFC 6587 MSG-LEN. 9 digits (< 1 GB) is more than any
 * frame we accept; more is a framing error, not a big message. */
#define SIEM_FRAME_LEN_DIGITS_MAX 9u

/* Nesting accepted in ECS JSON input ({"a":{"b":...}}). ECS is at most 4
 * deep (observer.ingress.interface.name); 16 leaves room for labels. */
#define SIEM_JSON_DEPTH_MAX 16u

/* One Sigma rule file. The biggest published Sigma rules are ~20 KiB;
 * a file holding a correlation and its rules stays far below 1 MiB. */
#define SIEM_RULE_FILE_MAX (1024u * 1024u)

/* Rules in one ruleset (detection + correlation). The Sigma project's
 * repository holds ~3,500 rules; 20,000 leaves room for local ones while
 * keeping compile time and memory bounded. */
#define SIEM_RULES_MAX 20000u

/* Memory of one ruleset generation (rules, compiled values, index).
 * 20,000 rules average well under 8 KiB each; 512 MiB stops a hostile
 * rule set (huge windash/base64offset expansions) from taking the host. */
#define SIEM_RULESET_ARENA_MAX (512u * 1024u * 1024u)

/* YAML documents in one rule file (a correlation with its rules). */
#define SIEM_RULE_DOCS_MAX 64u

/* Values in one field condition after modifier expansion (windash and
 * base64offset multiply them). Published rules list < 200 values. */
#define SIEM_RULE_VALUES_MAX 4096u

/* Search identifiers in one detection, and nodes in one condition
 * expression: real rules have < 30 of either. */
#define SIEM_RULE_SELECTIONS_MAX 256u
#define SIEM_COND_NODES_MAX 1024u
/* Nesting of parentheses/not in a condition; bounds the recursive
 * descent parser's stack. */
#define SIEM_COND_DEPTH_MAX 64u

/* Bytes of one value (a pattern or a literal) in a rule. Long base64
 * blobs in published rules are < 2 KiB. */
#define SIEM_RULE_VALUE_MAX 8192u

/* Rules a correlation may reference, and group-by fields it may name. */
#define SIEM_CORR_RULES_MAX 32u
#define SIEM_CORR_GROUPBY_MAX 8u

/* Threshold of a count condition. The window keeps the last N+1 event
 * times (or distinct values), so N bounds memory per group. */
#define SIEM_CORR_THRESHOLD_MAX 100000u

/* Longest timespan: 30 days, the longest window any published
 * correlation uses, and what retention keeps hot. */
#define SIEM_CORR_TIMESPAN_MAX_S (30LL * 86400LL)

/* Live (correlation, group) windows. Each costs ~100 bytes plus its
 * window; 100,000 groups (source IPs under a spray attack) stays in the
 * tens of MB. The hard maximum bounds what config may ask for. */
#define SIEM_CORR_GROUPS_DEFAULT 100000u
#define SIEM_CORR_GROUPS_HARD 10000000u

/* Bytes of a group key (group-by values joined). Longer keys are cut:
 * two groups sharing a 512-byte prefix are then counted together. */
#define SIEM_CORR_KEY_MAX 512u

/* Correlation chains (a correlation over correlations) nest at most
 * this deep; deeper chains are refused at compile time. */
#define SIEM_CORR_CHAIN_MAX 8u

#endif
