/*
 * audit limits: every input the audit module accepts — records from other
 * modules, lines read back from a file that may have been tampered with,
 * configuration — is bounded by a number here. _DEFAULT is what a fresh
 * configuration uses; _HARD is what neither config nor a file may exceed.
 */
#ifndef BW_AUDIT_LIMITS_H
#define BW_AUDIT_LIMITS_H

/* One record line on append. 64 KiB fits any sane details object with room
 * to spare and keeps a full queue's memory bounded (queue x line). */
#define AUDIT_LINE_MAX_DEFAULT (64u * 1024u)
/* A line read back, and the most config may allow: 1 MiB, far above what
 * the writer produces, so a verifier never rejects a file its writer
 * could have written, yet a hostile file cannot make one line huge. */
#define AUDIT_LINE_MAX_HARD (1024u * 1024u)

/* details JSON text on append: 32 KiB is generous for "what changed"
 * summaries; larger payloads belong in the evidence vault, referenced. */
#define AUDIT_DETAILS_MAX (32u * 1024u)
/* Nesting of details: 16 levels describe any config diff; deeper is abuse. */
#define AUDIT_DETAILS_DEPTH 16
/* Nesting a record line may have when read back: details plus the record
 * object itself and the actor level. */
#define AUDIT_LINE_DEPTH (AUDIT_DETAILS_DEPTH + 2)
/* Members per object/array in details: matches the json default. */
#define AUDIT_DETAILS_MEMBERS 10000

/* Field lengths in bytes. Action names are short dotted identifiers. */
#define AUDIT_ACTION_MAX 64
/* Tenant, actor and request ids are identifiers, not text. */
#define AUDIT_TENANT_MAX 128
#define AUDIT_ACTOR_ID_MAX 256
#define AUDIT_REQUEST_ID_MAX 128
/* Targets may be paths or resource names. */
#define AUDIT_TARGET_MAX 1024
/* Longest textual IPv6 address (INET6_ADDRSTRLEN - 1). */
#define AUDIT_IP_MAX 45

/* Pending appends before audit_append answers 503. 4096 queued records is
 * ~10 ms of commits at measured rates: enough to absorb bursts, small
 * enough that overload is pushed back to callers instead of buffered. */
#define AUDIT_QUEUE_DEFAULT 4096
/* 1 Mi entries x up to AUDIT_LINE_MAX_HARD is the most memory config may
 * commit to queued records. */
#define AUDIT_QUEUE_HARD (1u << 20)

/* The writer write()s a batch in chunks of this many bytes, so a batch of
 * large records never needs one huge buffer. */
#define AUDIT_WRITE_CHUNK (1024u * 1024u)

/* STH cadence: every 1000 records or 60 s, whichever first. A verifier
 * can then pin down tampering to within 1000 records or a minute. */
#define AUDIT_STH_EVERY_RECORDS_DEFAULT 1000
#define AUDIT_STH_EVERY_MS_DEFAULT 60000
/* Shortest time interval: STHs cost a signature and an fsync each. */
#define AUDIT_STH_EVERY_MS_MIN 100

/* seq and tree_size are JSON numbers: stay within 2^53 - 1 so every
 * reader (ECMAScript included) represents them exactly. */
#define AUDIT_SEQ_MAX ((uint64_t)9007199254740991ULL)

/* Key file read on open: a PKCS#8 PEM Ed25519 key is ~120 bytes. */
#define AUDIT_KEY_FILE_MAX 16384

#endif
