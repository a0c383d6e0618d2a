/*
 * event — the foundation's event bus. Every module describes what happened
 * as one struct bw_event in the style of the Elastic Common Schema and hands
 * it to bw_event_emit(); subscribers (metrics now, the SIEM pipeline later)
 * receive every event on the bus's dispatcher thread.
 *
 * This is the telemetry durability class: emitting never blocks and never
 * allocates. Each emitting thread has its own bounded ring; when a ring is
 * full the event is refused and counted (bw_event_stats), never dropped
 * silently. Events still in rings when the process dies are lost: the crash
 * loss window is at most one ring per thread (EVENT_RING_SLOTS events).
 * Audit records are not telemetry: they go through the audit log's durable
 * append first, and are emitted here only afterwards.
 *
 * Delivery is batched: the dispatcher wakes every 20 ms, or sooner when a
 * ring is an eighth full, so emitting costs no context switch.
 *
 * Invariants: events are delivered to subscribers in emit order per thread;
 * subscribers run on one thread, one event at a time, and must not block
 * for long (they copy what they need and return).
 */
#ifndef BW_EVENT_H
#define BW_EVENT_H

#include "core/core.h"

#define EVENT_MAX_FIELDS 8

/* ECS event.outcome */
enum bw_outcome { BW_OUTCOME_UNKNOWN, BW_OUTCOME_SUCCESS, BW_OUTCOME_FAILURE };

struct bw_event_field {
	char key[32];
	char value[160];
};

struct bw_event {
	int64_t time_ns;      /* @timestamp; filled by emit when 0 */
	char category[24];    /* event.category: web, authentication, iam, ... */
	char action[48];      /* event.action: http-request-rejected, ... */
	enum bw_outcome outcome;
	uint8_t severity;     /* event.severity 0 (info) .. 10 (critical) */
	char tenant[64];
	char user[128];       /* user.name or key id */
	char source_ip[46];
	uint16_t source_port;
	char dest_ip[46];
	uint16_t dest_port;
	char request_id[40];
	char message[256];
	uint8_t nfields;
	struct bw_event_field fields[EVENT_MAX_FIELDS];
};

/* Helpers that fill fixed fields with truncation (never overflow). */
void bw_event_init(struct bw_event *ev, const char *category,
		   const char *action, enum bw_outcome outcome);
void bw_event_set(char *dst, size_t cap, const char *src);
#define BW_EVENT_SET(ev, field, src) bw_event_set((ev)->field, sizeof((ev)->field), (src))
/* Adds key=value to ev->fields; silently ignores a ninth field (counted). */
void bw_event_add_field(struct bw_event *ev, const char *key, const char *value);
const char *bw_outcome_name(enum bw_outcome o);

typedef void (*bw_event_subscriber)(const struct bw_event *ev, void *arg);

/* Starts the dispatcher thread. Subscribers must be added before. */
int bw_event_bus_start(struct bw_err *err) BW_WUR;
/* Delivers everything still queued, then stops the dispatcher. */
void bw_event_bus_stop(void);
int bw_event_subscribe(bw_event_subscriber fn, void *arg) BW_WUR;

/*
 * Copies ev into the calling thread's ring. Returns 0, or -1 when the ring
 * is full or the bus is not running (the event is counted as refused).
 * Never blocks.
 */
int bw_event_emit(const struct bw_event *ev);

struct bw_event_stats {
	uint64_t emitted;   /* accepted into a ring */
	uint64_t delivered; /* handed to subscribers */
	uint64_t refused;   /* ring full or bus stopped */
	uint64_t fields_truncated;
};
void bw_event_stats(struct bw_event_stats *out);

/* Blocks until every event emitted before the call has been delivered
 * (tests and clean shutdown use it). */
void bw_event_flush(void);

#endif
