/*
 * api — the admin listener's HTTP surface: /healthz, /readyz, /metrics
 * (OpenMetrics) and the JSON REST API under /api/v1, plus the gateway
 * listener's built-in demo page (until the gateway module takes over).
 *
 * Every /api/v1 route is declared in one table with the permission it
 * needs; the caller is authenticated (bootstrap admin token until the
 * identity module exists), authorised against that permission, and every
 * state-changing call — allowed, failed or denied — is written to the
 * audit log before the caller gets its answer.
 */
#ifndef BW_API_H
#define BW_API_H

#include "audit/audit.h"
#include "core/core.h"
#include "loop/loop.h"
#include "net/net.h"
#include "event/event.h"

#define API_TOKEN_HASH_LEN 32

/* Shared by every worker thread; immutable after setup except where
 * noted. Owned by the worker. */
struct api_ctx {
	struct audit_log *audit; /* borrowed */
	struct tpool *pool;      /* borrowed */
	bool have_token;
	uint8_t token_hash[API_TOKEN_HASH_LEN]; /* SHA-256 of the bootstrap token */
	bool clock_control;      /* testing.clock_control */
	int64_t started_s;
	unsigned workers;
	_Atomic uint64_t generation; /* config generation, bumped on reload */
	_Atomic int ready;
	/* Asks the supervisor for a reload (signals it). */
	int (*request_reload)(void);
};

/* net handler for admin listeners; arg is the struct api_ctx. */
void api_handle(struct net_exchange *x, void *arg);
/* net handler for gateway listeners until the gateway module exists. */
void api_gateway_demo(struct net_exchange *x, void *arg);

/* Reads the bootstrap token hash from DATA_DIR/bootstrap-token.sha256.
 * Returns 0 (have_token set), or -1 with err. */
int api_load_token_hash(struct api_ctx *ctx, const char *data_dir,
			struct bw_err *err) BW_WUR;
/* Creates a new bootstrap token: writes its SHA-256 to
 * DATA_DIR/bootstrap-token.sha256 and the token itself to
 * DATA_DIR/bootstrap-token (both 0600). OUT: token (NUL-terminated,
 * 44 chars + NUL). */
int api_create_token(const char *data_dir, char token[64],
		     struct bw_err *err) BW_WUR;

/* The event-bus subscriber that keeps per-category event counters for
 * /metrics. */
void api_metrics_subscriber(const struct bw_event *ev, void *arg);

#endif
