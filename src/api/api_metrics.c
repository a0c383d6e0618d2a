/*
 * OpenMetrics exposition for /metrics: connection, request, latency,
 * rejection, event-bus, audit and thread-pool counters.
 */
#include "api/api_int.h"

#include <stdatomic.h>
#include <string.h>

/* ------------------------------------------------------------- metrics */

static struct {
	_Atomic uint64_t auth_failures, auth_successes, web_rejected, other;
} ev_counts;

void api_metrics_subscriber(const struct bw_event *ev, void *arg)
{
	if (strcmp(ev->category, "authentication") == 0) {
		if (ev->outcome == BW_OUTCOME_FAILURE)
			atomic_fetch_add(&ev_counts.auth_failures, 1);
		else
			atomic_fetch_add(&ev_counts.auth_successes, 1);
	} else if (strcmp(ev->action, "http-request-rejected") == 0) {
		atomic_fetch_add(&ev_counts.web_rejected, 1);
	} else {
		atomic_fetch_add(&ev_counts.other, 1);
	}
}

static void metric_reason(const char *reason, uint64_t n, void *arg)
{
	struct bw_buf *b = arg;
	if (bw_buf_printf(b, "bulwark_http_rejections_total{reason=\"%s\"} %llu\n",
			  reason, (unsigned long long)n) < 0)
		log_warnx("metrics output truncated");
}

void api_metrics_respond(struct api_ctx *ctx, struct net_exchange *x)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct net_stats s;
	net_stats_get(&s);
	struct bw_event_stats es;
	bw_event_stats(&es);
	struct audit_log_stats as;
	audit_log_stats(ctx->audit, &as);
	int rc = 0;
#define COUNTER(name, help, val)                                               \
	rc |= bw_buf_printf(&b, "# TYPE " name " counter\n# HELP " name " " help \
			    "\n" name "_total %llu\n", (unsigned long long)(val))
#define GAUGE(name, help, val)                                                 \
	rc |= bw_buf_printf(&b, "# TYPE " name " gauge\n# HELP " name " " help  \
			    "\n" name " %llu\n", (unsigned long long)(val))
	COUNTER("bulwark_connections_accepted", "TCP connections accepted.", s.accepted);
	COUNTER("bulwark_connections_refused", "Connections refused at the limit.",
		s.refused_conns);
	GAUGE("bulwark_connections_active", "Open connections.", s.active_conns);
	GAUGE("bulwark_tls_connections_parked",
	      "TLS 1.3 connections kept by their record keys alone (SSL object freed).",
	      s.tls_parked);
	COUNTER("bulwark_tls_handshake_failures", "Failed TLS handshakes.",
		s.tls_handshake_failures);
	COUNTER("bulwark_http_timeouts", "Requests cut by a timeout.", s.timeouts);
	rc |= bw_buf_printf(&b, "# TYPE bulwark_http_responses counter\n"
			    "# HELP bulwark_http_responses HTTP responses by status class.\n");
	for (int i = 1; i < 6; i++)
		rc |= bw_buf_printf(&b, "bulwark_http_responses_total{class=\"%dxx\"} %llu\n",
				    i, (unsigned long long)s.responses_by_class[i]);
	rc |= bw_buf_printf(&b, "# TYPE bulwark_http_rejections counter\n"
			    "# HELP bulwark_http_rejections Requests refused by the HTTP codec, by reason.\n");
	net_stats_rejections(metric_reason, &b);
	rc |= bw_buf_printf(&b, "# TYPE bulwark_http_request_duration_seconds histogram\n"
			    "# HELP bulwark_http_request_duration_seconds Time from first byte to response.\n");
	uint64_t cum = 0;
	for (int i = 0; i < 11; i++) {
		cum += s.latency_buckets[i];
		rc |= bw_buf_printf(&b, "bulwark_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
				    net_latency_bounds_ms[i] / 1000.0,
				    (unsigned long long)cum);
	}
	cum += s.latency_buckets[11];
	rc |= bw_buf_printf(&b, "bulwark_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "bulwark_http_request_duration_seconds_sum %.6f\n"
			    "bulwark_http_request_duration_seconds_count %llu\n",
			    (unsigned long long)cum, (double)s.latency_sum_us / 1e6,
			    (unsigned long long)cum);
	COUNTER("bulwark_events_emitted", "Events accepted by the event bus.", es.emitted);
	COUNTER("bulwark_events_refused", "Events refused (queue full).", es.refused);
	COUNTER("bulwark_auth_failures", "Failed API authentications.",
		atomic_load(&ev_counts.auth_failures));
	GAUGE("bulwark_audit_records", "Durable audit records (tree size).", as.records);
	COUNTER("bulwark_audit_refused", "Audit appends refused (queue full).",
		as.refused_full);
	GAUGE("bulwark_pool_queued", "Jobs waiting in the thread pool.",
	      tpool_queued(ctx->pool));
	COUNTER("bulwark_pool_refused", "Jobs refused by the thread pool.",
		tpool_refused(ctx->pool));
	if (ctx->metrics_extra && ctx->metrics_extra(ctx->metrics_extra_arg, &b) < 0)
		rc = -1;
	rc |= bw_buf_append_str(&b, "# EOF\n");
#undef COUNTER
#undef GAUGE
	if (rc)
		log_warnx("metrics output truncated");
	net_respond(x, 200, "application/openmetrics-text; version=1.0.0; charset=utf-8",
		    b.data, b.len);
	bw_buf_fini(&b);
}

