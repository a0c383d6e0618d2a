/*
 * conf limits — every bound the YAML loader and the value converters
 * enforce, with the default and the hard maximum a caller may raise it to
 * (struct conf_limits fields above the maximum are clamped). The config
 * file is written by an operator, not by the network, but it may come
 * from a templating tool gone wrong or an attacker with write access to a
 * shared config repository, so a bad file must fail fast and never make
 * the daemon allocate without bound.
 */
#ifndef BW_CONF_LIMITS_H
#define BW_CONF_LIMITS_H

/* Whole config file. The biggest realistic bulwark.yaml (hundreds of
 * routes and listeners with inline PEM bundles) is well under 1 MiB; 64
 * MiB covers generated files without letting a stray /dev/zero or log
 * file be read into memory. */
#define CONF_MAX_BYTES_DEFAULT (1024u * 1024u)
#define CONF_MAX_BYTES_HARD (64u * 1024u * 1024u)

/* Nesting of mappings and sequences (the root collection is depth 1).
 * Real sections nest 4-6 levels; 64 keeps recursive walkers (the binder,
 * the fuzzer's tree walk) far from any stack limit. */
#define CONF_MAX_DEPTH_DEFAULT 32u
#define CONF_MAX_DEPTH_HARD 64u

/* Nodes (scalars and collections, keys excluded) in one document. A big
 * config has a few thousand; the cap bounds tree memory at roughly
 * nodes * 128 bytes plus the text. */
#define CONF_MAX_NODES_DEFAULT 100000u
#define CONF_MAX_NODES_HARD 2000000u

/* Bytes in one scalar value. Inline PEM certificate chains and Sigma
 * rule snippets are a few KiB; 256 KiB leaves room for large bundles. */
#define CONF_MAX_SCALAR_DEFAULT (256u * 1024u)
#define CONF_MAX_SCALAR_HARD (16u * 1024u * 1024u)

/* Bytes in one mapping key. Keys are identifiers or host names; 253 is
 * the longest DNS name, which a routes-by-host mapping may use as a key. */
#define CONF_MAX_KEY_DEFAULT 256u
#define CONF_MAX_KEY_HARD 4096u

/* Keys in one mapping. Sections have tens of keys; maps keyed by name
 * (tenants, upstreams) may have thousands. Also bounds the per-mapping
 * sort that detects duplicates. */
#define CONF_MAX_KEYS_DEFAULT 10000u
#define CONF_MAX_KEYS_HARD 1000000u

/* Items in one sequence (routes, CIDR allow-lists). */
#define CONF_MAX_ITEMS_DEFAULT 100000u
#define CONF_MAX_ITEMS_HARD 2000000u

/* Longest path accepted by conf_as_path, including the NUL: Linux
 * PATH_MAX, so a value that passes can always be handed to open(2). */
#define CONF_PATH_MAX 4096u

/* Key paths in error messages ("listeners[3].tls.cert") are cut with
 * "..." past this many bytes; bw_err.msg holds 256 anyway. */
#define CONF_KEYPATH_MAX 160u

/* Longest allowed-key list conf_check_keys scans for a suggestion, and
 * the longest strings compared by the edit distance (longer keys get no
 * suggestion rather than a quadratic cost). */
#define CONF_SUGGEST_MAX_LEN 64u

#endif
