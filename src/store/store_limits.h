/*
 * store limits: every bound the store module enforces, with its default and
 * the hard maximum that configuration may not exceed. SQL text comes from
 * bulwark's own modules, not from peers, but values bound into it may come
 * from the network, so value sizes are bounded here as well.
 */
#ifndef BW_STORE_LIMITS_H
#define BW_STORE_LIMITS_H

/* Read connections. A handful covers the event-loop threads because a read
 * holds a connection only while it steps; 64 is far past the point where
 * SQLite's shared WAL index becomes the bottleneck. */
#define STORE_READ_POOL_DEFAULT 4
#define STORE_READ_POOL_MAX 64

/* How long a statement waits on a lock held by another process (backup,
 * the sqlite3 shell) before failing with 503 "busy". Past a minute a
 * caller is better told the truth. */
#define STORE_BUSY_TIMEOUT_MS_DEFAULT 5000
#define STORE_BUSY_TIMEOUT_MS_MAX 60000

/* Jobs per group commit. 256 amortises the fsync across many jobs while
 * keeping one transaction short enough that readers' WAL does not balloon;
 * 4096 bounds the latency a job at the back of a batch can see. */
#define STORE_MAX_BATCH_DEFAULT 256
#define STORE_MAX_BATCH_HARD 4096

/* Queued write jobs before store_write_async refuses with 503. Enough for
 * several batches of burst; the hard maximum keeps the preallocated job
 * pool (about 400 bytes a slot) under 30 MiB. */
#define STORE_QUEUE_DEFAULT 4096
#define STORE_QUEUE_MAX 65536

/* Prepared statements cached per connection, keyed by SQL text. Every
 * module together uses a few hundred distinct statements at most. */
#define STORE_STMT_CACHE_DEFAULT 128
#define STORE_STMT_CACHE_MAX 1024

/* One SQL statement's text. Module SQL is short; a longer text is a bug
 * (or values formatted into SQL, which is banned). Migration steps, which
 * may hold several statements, get the larger bound. */
#define STORE_SQL_MAX 16384
#define STORE_MIGRATION_SQL_MAX (256 * 1024)

/* Bound values per statement: SQLite's default ceiling is 32766 and
 * PostgreSQL's 65535; 1000 is well above any statement bulwark writes. */
#define STORE_BINDS_MAX 1000

/* One text or blob value. Evidence files go to the evidence vault, not
 * into rows, so 16 MiB is generous; SQLite's own default is 1 GB. */
#define STORE_VALUE_MAX (16u * 1024 * 1024)

/* Page size for a new database: SQLite accepts powers of two from 512 to
 * 65536; 0 keeps the engine default (4096). */
#define STORE_PAGE_SIZE_MIN 512
#define STORE_PAGE_SIZE_MAX 65536

/* Background checkpoint threshold in WAL pages (0: the engine checkpoints
 * in the writer). 1,000,000 pages of 64 KiB would be a 64 GiB log: past
 * that a checkpointer that cannot keep up is a fault, not a setting. */
#define STORE_CHECKPOINT_PAGES_MAX 1000000
/* When the log reaches this many times the threshold (the background
 * checkpointer is starved, or readers keep it from finishing), the writer
 * runs a PASSIVE checkpoint itself, as the engine's default would, so the
 * log cannot grow without bound. */
#define STORE_CHECKPOINT_BACKSTOP 16

/* A module name in schema_versions: [a-z0-9_]{1,32}. */
#define STORE_MODULE_NAME_MAX 32

#endif
