/*
 * json_limits.h — every bound the JSON reader enforces, with its default
 * and the hard maximum that configuration (or a caller's struct
 * json_limits) may not exceed. A field left 0 in a caller's struct
 * json_limits means "the default"; a value above the hard maximum is
 * clamped to it.
 */
#ifndef BW_JSON_LIMITS_H
#define BW_JSON_LIMITS_H

/* Whole document. 1 MiB covers every API body, JWT payload and SIEM event
 * we expect; bulk data arrives as NDJSON, one bounded line at a time. */
#define JSON_MAX_BYTES_DEFAULT ((size_t)1 << 20)
/* 64 MiB: the largest single document (a full policy or backup manifest)
 * worth holding as one tree in memory; anything bigger must stream. */
#define JSON_MAX_BYTES_HARD ((size_t)64 << 20)

/* Nesting of arrays and objects. Real documents (ECS events, OIDC
 * metadata, policies) nest < 10 deep; 64 matches the writer's depth. */
#define JSON_MAX_DEPTH_DEFAULT 64
/* 512 keeps the parser's frame stack (one small struct per level, on the
 * C stack) under 24 KiB and the canonicaliser's recursion shallow. */
#define JSON_MAX_DEPTH_HARD 512

/* Bytes in one decoded string or key. 64 KiB fits any log message,
 * certificate PEM or token; a larger string is almost surely an attack. */
#define JSON_MAX_STRING_DEFAULT ((size_t)64 << 10)
/* A string can never be longer than the document that holds it. */
#define JSON_MAX_STRING_HARD JSON_MAX_BYTES_HARD

/* Items in one array or members in one object. 10,000 is far above any
 * event or API payload and keeps per-container work small. */
#define JSON_MAX_MEMBERS_DEFAULT 10000
/* 4 Mi items: a 64 MiB document of "0," pairs could not hold more than
 * ~32 Mi, and nothing legitimate we load comes close. */
#define JSON_MAX_MEMBERS_HARD ((size_t)4 << 20)

/* Source bytes in one number literal (not configurable). A double needs at
 * most 17 significant digits to round-trip and exact decimal expansions
 * stay under 800; 1,024 rejects megabyte-long digit strings that would
 * only make strtod slow. */
#define JSON_NUMBER_MAX_LEN 1024

#endif
