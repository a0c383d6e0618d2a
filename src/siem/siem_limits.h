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

/* A compact stored event (siem_doc.c): the raw line (at most
 * SIEM_LINE_MAX_HARD), 64 labels and every slot as literals stay far below
 * 4 MiB; a stored value larger than that is corrupt, not an event. */
#define SIEM_DOC_MAX (4u * 1024u * 1024u)

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
/* The field and logsource mapping file (siem.mapping): its bytes, field
 * entries, logsource entries and the values one logsource accepts. A
 * mapping for every published Sigma taxonomy field is a few hundred
 * entries; these bounds leave room while keeping a hostile file small. */
#define SIEM_MAP_FILE_MAX (256u * 1024u)
#define SIEM_MAP_FIELDS_MAX 2048u
#define SIEM_MAP_LOGSOURCES_MAX 512u
#define SIEM_MAP_VALUES_MAX 32u
#define SIEM_MAP_NAME_MAX 128u

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

/* ============================================== service (ingest, storage) */

/* RELP (rsyslog's reliable protocol, librelp's doc/relp.md). TXNR and
 * DATALEN are 1*9DIGIT; COMMAND is 1*32ALPHA, all from the spec's ABNF. */
#define SIEM_RELP_DIGITS_MAX 9u
#define SIEM_RELP_CMD_MAX 32u
/* Longest header "999999999 <32 letters> 999999999 " plus LF: past this
 * without a complete header the peer is not speaking RELP. */
#define SIEM_RELP_HEADER_MAX 64u
/* DATALEN of one frame. The spec fixes 128 KiB for relp version 1;
 * rsyslog's omrelp sends at most its maxMessageSize (8 KiB by default).
 * A syslog frame is also bounded by the line limit above. */
#define SIEM_RELP_DATA_DEFAULT (128u * 1024u)
#define SIEM_RELP_DATA_HARD SIEM_LINE_MAX_HARD
/* Offers in an "open" command ("relp_version", "relp_software",
 * "commands"): a handful; the offer text itself is bounded by DATALEN. */
#define SIEM_RELP_OFFERS_MAX 16u
/* Unacknowledged RELP transactions per connection. rsyslog's omrelp
 * window is 128 by default; 1024 leaves room for a tuned window while
 * bounding what one connection keeps waiting for the disk. */
#define SIEM_RELP_PENDING_DEFAULT 1024u
#define SIEM_RELP_PENDING_HARD 65536u

/* Events per ingest batch (one arena, one store job, one group commit
 * share). 1,024 amortises the commit; larger batches only add latency. */
#define SIEM_BATCH_EVENTS_DEFAULT 1024u
#define SIEM_BATCH_EVENTS_HARD 16384u
/* Memory of one batch arena: 1,024 events of a few KiB each; the hard
 * cap keeps a batch of maximal lines (1 MiB each) from taking the host:
 * a batch that reaches it is flushed early. */
#define SIEM_BATCH_BYTES_DEFAULT (16u * 1024u * 1024u)
#define SIEM_BATCH_BYTES_HARD (256u * 1024u * 1024u)
/* Events accepted but not yet durably stored, all sources together.
 * Past this senders are paused (TCP/TLS/RELP), refused (HTTP 503) or
 * counted as dropped (UDP, bus): the queue never grows without bound.
 * 65,536 events is well under a second of work at the measured rates. */
#define SIEM_QUEUE_EVENTS_DEFAULT 65536u
#define SIEM_QUEUE_EVENTS_HARD 4194304u
/* Batches waiting for the pipeline thread at which ingest loops start
 * writing stored documents and bloom tokens themselves (per batch): two
 * mean the pipeline is the slower stage, one is normal hand-off. */
#define SIEM_PACK_ON_LOOP_QUEUED 2u

/* Store jobs in flight (submitted, not yet durable). Two keep the writer
 * busy while the pipeline prepares the next; more only queue in SQLite. */
#define SIEM_STORE_INFLIGHT_DEFAULT 4u
#define SIEM_STORE_INFLIGHT_HARD 64u

/* NDJSON over HTTPS: one request body and its lines. */
#define SIEM_HTTP_BODY_DEFAULT (8u * 1024u * 1024u)
#define SIEM_HTTP_LINES_DEFAULT 10000u
#define SIEM_HTTP_LINES_HARD 100000u
/* Per-source ingest API keys (each a tenant, a name and a hash). */
#define SIEM_SOURCE_KEYS_MAX 4096u

/* Search: rows examined per query (the scan is bounded even when the
 * filter matches nothing), results returned per page, and query text. */
#define SIEM_SEARCH_SCAN_DEFAULT 2000000u
#define SIEM_SEARCH_SCAN_HARD 50000000u
#define SIEM_SEARCH_PAGE_DEFAULT 100u
#define SIEM_SEARCH_PAGE_MAX 1000u
#define SIEM_SEARCH_OFFSET_MAX 10000u
#define SIEM_SEARCH_QUERY_MAX 4096u
/* Words and field filters in one query; each is checked per row. */
#define SIEM_SEARCH_TERMS_MAX 32u
/* Buckets of one aggregation (time buckets x distinct values kept). */
#define SIEM_AGG_BUCKETS_MAX 10000u
#define SIEM_AGG_VALUES_MAX 1000u

/* Threat intelligence: one feed's bytes (a large STIX bundle of a public
 * feed is a few MiB; 64 MiB leaves room without letting a hostile URL
 * exhaust memory), indicators kept in total across feeds (each costs
 * ~100 bytes plus trie nodes), one indicator value (long URLs), and the
 * memory of one indicator set. */
#define SIEM_INTEL_FEED_MAX (64u * 1024u * 1024u)
#define SIEM_INTEL_INDICATORS_MAX 1000000u
#define SIEM_INTEL_VALUE_MAX 2048u
#define SIEM_INTEL_ARENA_MAX (512u * 1024u * 1024u)

/* Retention: how long events may be kept at most (10 years covers every
 * regulation we know of) and how many per-category/tenant policies. */
#define SIEM_RETENTION_DAYS_MAX 3660u
#define SIEM_RETENTION_POLICIES_MAX 256u

/* The event database's page size (set when siem.db is created) and the
 * WAL size, in pages, at which the background checkpointer runs: 16 KiB
 * pages hold a dozen stored events each, and 1,000 of them (16 MiB of
 * log) bound how much a checkpoint copies at once. Not configurable:
 * they trade nothing a user would choose differently. */
#define SIEM_STORE_PAGE_SIZE 16384u
#define SIEM_STORE_CHECKPOINT_PAGES 1000u
/* Segment files kept open for appending (days written at once: today,
 * yesterday around midnight, a late source's day) and the largest block
 * a row may name (a batch is far smaller; this bounds what a damaged row
 * can make a reader allocate). */
#define SIEM_SEG_OPEN 4u
#define SIEM_SEG_BLOCK_MAX (2ull * SIEM_BATCH_BYTES_HARD)

/* Finished batches kept for reuse (their record arrays, about 1 KiB a
 * record, and document buffers), and the largest document buffer kept:
 * enough for the batches in flight (store_inflight plus the ones being
 * filled) without holding on to a burst's memory. */
#define SIEM_BATCH_POOL 8u
#define SIEM_BATCH_POOL_BUF_MAX (4u * 1024u * 1024u)

#endif
