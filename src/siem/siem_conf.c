/*
 * siem_conf.c — the `siem:` section of bulwark.yaml bound into struct
 * siem_conf with the declarative binder (unknown keys, types and ranges
 * refused with FILE:LINE:COL), and the deep copy that detaches it from
 * the YAML arena so a service generation can keep it.
 *
 * Every range comes from siem_limits.h. The runtime never sees YAML.
 */
#include "siem/siem_svc_int.h"

#include <stdlib.h>

static const char *const durabilities[] = { "full", "normal", NULL };
static const char *const levels[] = { "none",	"informational", "low",
				      "medium", "high",		 "critical",
				      NULL };
static const char *const notify_kinds[] = { "webhook", "smtp", "syslog", NULL };
static const char *const fwd_kinds[] = { "syslog", "splunk_hec",
					 "elasticsearch", NULL };
static const char *const fwd_formats[] = { "cef", "leef", "json", NULL };
static const char *const transports[] = { "udp", "tcp", NULL };
static const char *const feed_formats[] = { "csv", "stix", NULL };

#define S struct siem_conf

static const struct conf_field retention_policy_fields[] = {
	{ .name = "tenant", CONF_STR(struct siem_retention_conf, tenant),
	  .max = 64, .help = "tenant the policy applies to (default: all)" },
	{ .name = "category", CONF_STR(struct siem_retention_conf, category),
	  .max = 64, .help = "event.category (default: all)" },
	{ .name = "keep", CONF_DURATION(struct siem_retention_conf, keep_ms),
	  .required = true, .min = 3600000,
	  .max = (int64_t)SIEM_RETENTION_DAYS_MAX * 86400000LL,
	  .help = "how long matching events are kept" },
};

static const struct conf_field suppress_fields[] = {
	{ .name = "rule", CONF_STR(struct siem_suppress_conf, rule),
	  .required = true, .min = 1, .max = 256 },
	{ .name = "group", CONF_STR(struct siem_suppress_conf, group), .max = 512 },
	{ .name = "for", CONF_DURATION(struct siem_suppress_conf, for_ms),
	  .required = true, .min = 1000, .max = 31LL * 86400000LL },
};

static const struct conf_field notify_fields[] = {
	{ .name = "kind", CONF_ENUM(struct siem_notify_conf, kind, notify_kinds),
	  .required = true },
	{ .name = "url", CONF_STR(struct siem_notify_conf, url), .max = 2048 },
	{ .name = "secret_file",
	  CONF_SECRET_PATH(struct siem_notify_conf, secret_file),
	  .help = "webhook HMAC key or SMTP password (mode 0600)" },
	{ .name = "ca_file", CONF_PATH(struct siem_notify_conf, ca_file) },
	{ .name = "from", CONF_STR(struct siem_notify_conf, from), .max = 256 },
	{ .name = "to", CONF_STRLIST(struct siem_notify_conf, to), .max = 32 },
	{ .name = "username", CONF_STR(struct siem_notify_conf, username),
	  .max = 256 },
	{ .name = "address", CONF_STR(struct siem_notify_conf, address), .max = 64 },
	{ .name = "port", CONF_PORT(struct siem_notify_conf, port), .def = "514" },
	{ .name = "min_level", CONF_ENUM(struct siem_notify_conf, min_level, levels),
	  .def = "medium" },
};

static const struct conf_field fwd_fields[] = {
	{ .name = "name", CONF_STR(struct siem_fwd_conf, name), .required = true,
	  .min = 1, .max = 64 },
	{ .name = "kind", CONF_ENUM(struct siem_fwd_conf, kind, fwd_kinds),
	  .required = true },
	{ .name = "format", CONF_ENUM(struct siem_fwd_conf, format, fwd_formats),
	  .def = "cef" },
	{ .name = "url", CONF_STR(struct siem_fwd_conf, url), .max = 2048 },
	{ .name = "address", CONF_STR(struct siem_fwd_conf, address), .max = 64 },
	{ .name = "port", CONF_PORT(struct siem_fwd_conf, port), .def = "514" },
	{ .name = "transport", CONF_ENUM(struct siem_fwd_conf, transport, transports),
	  .def = "tcp" },
	{ .name = "token_file", CONF_SECRET_PATH(struct siem_fwd_conf, token_file) },
	{ .name = "index", CONF_STR(struct siem_fwd_conf, index), .max = 255,
	  .def = "bulwark" },
	{ .name = "ca_file", CONF_PATH(struct siem_fwd_conf, ca_file) },
	{ .name = "events", CONF_BOOL(struct siem_fwd_conf, events), .def = "true" },
	{ .name = "alerts", CONF_BOOL(struct siem_fwd_conf, alerts), .def = "true" },
	{ .name = "categories", CONF_STRLIST(struct siem_fwd_conf, categories),
	  .max = 64 },
	{ .name = "buffer", CONF_SIZE(struct siem_fwd_conf, buffer_max),
	  .min = 4096, .max = 64LL << 30, .def = "256m",
	  .help = "disk buffer for events the destination has not taken" },
	{ .name = "retry", CONF_DURATION(struct siem_fwd_conf, retry_ms),
	  .min = 100, .max = 3600000, .def = "5s" },
	{ .name = "batch", CONF_SIZE(struct siem_fwd_conf, batch), .min = 1,
	  .max = 10000, .def = "500" },
};

static const struct conf_field feed_fields[] = {
	{ .name = "name", CONF_STR(struct siem_feed_conf, name), .required = true,
	  .min = 1, .max = 64 },
	{ .name = "path", CONF_PATH(struct siem_feed_conf, path) },
	{ .name = "url", CONF_STR(struct siem_feed_conf, url), .max = 2048 },
	{ .name = "format", CONF_ENUM(struct siem_feed_conf, format, feed_formats),
	  .required = true },
	{ .name = "refresh", CONF_DURATION(struct siem_feed_conf, refresh_ms),
	  .min = 60000, .max = 7LL * 86400000LL, .def = "1h" },
	{ .name = "level", CONF_ENUM(struct siem_feed_conf, level, levels),
	  .def = "high" },
	{ .name = "ca_file", CONF_PATH(struct siem_feed_conf, ca_file) },
};

static const struct conf_field retention_fields[] = {
	{ .name = "default", CONF_DURATION(struct siem_retention_sec, default_ms),
	  .min = 3600000, .max = (int64_t)SIEM_RETENTION_DAYS_MAX * 86400000LL,
	  .def = "90d", .help = "events no policy matches are kept this long" },
	{ .name = "interval", CONF_DURATION(struct siem_retention_sec, interval_ms),
	  .min = 1000, .max = 86400000, .def = "1h",
	  .help = "how often the retention scheduler runs" },
	{ .name = "policies",
	  CONF_LIST(struct siem_retention_sec, policies, retention_policy_fields,
		    struct siem_retention_conf),
	  .max = SIEM_RETENTION_POLICIES_MAX },
};

static const struct conf_field geoip_fields[] = {
	{ .name = "database", CONF_PATH(struct siem_geoip_sec, database),
	  .help = "MaxMind DB (GeoLite2-City.mmdb)" },
	{ .name = "max_speed_kmh", CONF_UINT(struct siem_geoip_sec, max_kmh), .min = 1,
	  .max = 100000, .def = "1000",
	  .help = "faster travel between two logins is impossible" },
	{ .name = "window", CONF_DURATION(struct siem_geoip_sec, window_ms), .min = 60000,
	  .max = 30LL * 86400000LL, .def = "1d",
	  .help = "how far back the previous login is compared" },
};

static const struct conf_field alert_fields[] = {
	{ .name = "dedup", CONF_DURATION(struct siem_alerts_sec, dedup_ms), .min = 0,
	  .max = 7LL * 86400000LL, .def = "10m",
	  .help = "same rule and group within this window: one alert, counted" },
	{ .name = "min_level", CONF_ENUM(struct siem_alerts_sec, min_level, levels),
	  .def = "low", .help = "detections below this level raise no alert" },
	{ .name = "suppress",
	  CONF_LIST(struct siem_alerts_sec, suppress, suppress_fields, struct siem_suppress_conf),
	  .max = 1024 },
	{ .name = "notify",
	  CONF_LIST(struct siem_alerts_sec, notify, notify_fields, struct siem_notify_conf),
	  .max = 32 },
};

static const struct conf_field intel_fields[] = {
	{ .name = "feeds", CONF_LIST(struct siem_intel_sec, feeds, feed_fields, struct siem_feed_conf),
	  .max = 64 },
};

static const struct conf_field anomaly_fields[] = {
	{ .name = "enabled", CONF_BOOL(struct siem_anomaly_sec, enabled), .def = "true" },
	{ .name = "bucket", CONF_DURATION(struct siem_anomaly_sec, bucket_ms), .min = 60000,
	  .max = 86400000, .def = "1h" },
	{ .name = "min_buckets", CONF_UINT(struct siem_anomaly_sec, min_buckets), .min = 2,
	  .max = 10000, .def = "24",
	  .help = "history needed before an entity's baseline is trusted" },
	{ .name = "threshold", CONF_UINT(struct siem_anomaly_sec, threshold), .min = 1,
	  .max = 100, .def = "4", .help = "z-score that makes a spike or drop" },
	{ .name = "min_count", CONF_UINT(struct siem_anomaly_sec, min_count), .min = 0,
	  .max = 1000000, .def = "10",
	  .help = "spikes below this count are not reported" },
	{ .name = "first_seen", CONF_STRLIST(struct siem_anomaly_sec, first_seen), .max = 16 },
};

static const struct conf_field siem_fields[] = {
	{ .name = "enabled", CONF_BOOL(S, enabled), .def = "true" },
	{ .name = "database", CONF_PATH(S, database), .def = "siem.db",
	  .help = "event store (relative paths are under the data directory)" },
	{ .name = "durability", CONF_ENUM(S, durability, durabilities),
	  .def = "full" },
	{ .name = "rules", CONF_STRLIST(S, rules), .max = 256,
	  .help = "Sigma rule files or directories of *.yml" },
	{ .name = "mapping", CONF_PATH(S, mapping),
	  .help = "field and logsource mapping file for the rules (YAML)" },
	{ .name = "tenant", CONF_STR(S, tenant), .max = 64, .def = "default",
	  .help = "tenant of events received on syslog listeners" },
	{ .name = "timezone_offset_minutes", CONF_INT(S, tz_offset_min),
	  .min = -1440, .max = 1440, .def = "0" },
	{ .name = "max_line", CONF_SIZE(S, max_line), .min = 256,
	  .max = SIEM_LINE_MAX_HARD, .def = "64k" },
	{ .name = "relp_max_data", CONF_SIZE(S, relp_max_data), .min = 256,
	  .max = SIEM_RELP_DATA_HARD, .def = "128k" },
	{ .name = "relp_window", CONF_UINT(S, relp_window), .min = 1,
	  .max = SIEM_RELP_PENDING_HARD, .def = "1024" },
	{ .name = "batch_events", CONF_UINT(S, batch_events), .min = 1,
	  .max = SIEM_BATCH_EVENTS_HARD, .def = "1024" },
	{ .name = "flush_interval", CONF_DURATION(S, flush_ms), .min = 1,
	  .max = 10000, .def = "20ms",
	  .help = "a partial batch waits at most this long" },
	{ .name = "queue_events", CONF_UINT(S, queue_events), .min = 16,
	  .max = SIEM_QUEUE_EVENTS_HARD, .def = "65536" },
	{ .name = "store_inflight", CONF_UINT(S, store_inflight), .min = 1,
	  .max = SIEM_STORE_INFLIGHT_HARD, .def = "4" },
	{ .name = "http_max_body", CONF_SIZE(S, http_body), .min = 1024,
	  .max = 64LL << 20, .def = "8m" },
	{ .name = "http_max_lines", CONF_UINT(S, http_lines), .min = 1,
	  .max = SIEM_HTTP_LINES_HARD, .def = "10000" },
	{ .name = "correlation_groups", CONF_UINT(S, corr_groups), .min = 16,
	  .max = SIEM_CORR_GROUPS_HARD, .def = "100000" },
	{ .name = "search_max_scan", CONF_UINT64(S, search_scan), .min = 1000,
	  .max = SIEM_SEARCH_SCAN_HARD, .def = "2000000" },
	{ .name = "retention", CONF_SECTION(S, retention, retention_fields) },
	{ .name = "geoip", CONF_SECTION(S, geoip, geoip_fields) },
	{ .name = "alerts", CONF_SECTION(S, alerts, alert_fields) },
	{ .name = "forward", CONF_LIST(S, forward, fwd_fields, struct siem_fwd_conf),
	  .max = 16 },
	{ .name = "intel", CONF_SECTION(S, intel, intel_fields) },
	{ .name = "anomaly", CONF_SECTION(S, anomaly, anomaly_fields) },
};

#undef S

static int check_lists(const struct conf_node *section, const struct siem_conf *c,
		       struct bw_err *err)
{
	const struct conf_node *an = conf_get(conf_get(section, "alerts"), "notify");
	const struct siem_notify_conf *nc = c->alerts.notify.v;
	for (size_t i = 0; i < c->alerts.notify.n; i++) {
		const struct conf_node *n = conf_at(an, i);
		if ((nc[i].kind == SIEM_NOTIFY_WEBHOOK || nc[i].kind == SIEM_NOTIFY_SMTP) &&
		    !nc[i].url)
			return conf_err(n, err, "missing", "%s needs a url",
					notify_kinds[nc[i].kind]);
		if (nc[i].kind == SIEM_NOTIFY_SMTP && (!nc[i].from || nc[i].to.n == 0))
			return conf_err(n, err, "missing", "smtp needs from and to");
		if (nc[i].kind == SIEM_NOTIFY_SYSLOG && !nc[i].address)
			return conf_err(n, err, "missing", "syslog needs an address");
	}
	const struct conf_node *fn = conf_get(section, "forward");
	const struct siem_fwd_conf *fc = c->forward.v;
	for (size_t i = 0; i < c->forward.n; i++) {
		const struct conf_node *n = conf_at(fn, i);
		if (fc[i].kind == SIEM_FWD_SYSLOG && !fc[i].address)
			return conf_err(n, err, "missing", "syslog forwarding needs an address");
		if (fc[i].kind != SIEM_FWD_SYSLOG && !fc[i].url)
			return conf_err(n, err, "missing", "%s needs a url",
					fwd_kinds[fc[i].kind]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(fc[i].name, fc[j].name) == 0)
				return conf_err(n, err, "duplicate", "forward name '%s' used twice",
						fc[i].name);
	}
	const struct conf_node *feeds = conf_get(conf_get(section, "intel"), "feeds");
	const struct siem_feed_conf *ff = c->intel.feeds.v;
	for (size_t i = 0; i < c->intel.feeds.n; i++)
		if (!ff[i].path == !ff[i].url)
			return conf_err(conf_at(feeds, i), err, "missing",
					"a feed needs exactly one of path and url");
	return 0;
}

int siem_conf_bind(const struct conf_node *section, struct siem_conf *out,
		   struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (conf_bind(section, siem_fields, BW_ARRAY_LEN(siem_fields), out, err) < 0)
		return -1;
	return check_lists(section, out, err);
}

/* ------------------------------------------------------------ deep copy */

static int dup_str(struct bw_arena *a, const char **s)
{
	if (!*s)
		return 0;
	*s = bw_arena_strdup(a, *s);
	return *s ? 0 : -1;
}

static int dup_strlist(struct bw_arena *a, struct conf_strlist *l)
{
	if (l->n == 0) {
		l->v = NULL;
		return 0;
	}
	const char **v = bw_arena_alloc(a, l->n * sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		v[i] = l->v[i];
		if (dup_str(a, &v[i]) < 0)
			return -1;
	}
	l->v = v;
	return 0;
}

static void *dup_list(struct bw_arena *a, struct conf_list *l, size_t elem)
{
	if (l->n == 0) {
		l->v = NULL;
		return NULL;
	}
	void *v = bw_arena_alloc(a, l->n * elem);
	if (v)
		memcpy(v, l->v, l->n * elem);
	l->v = v;
	return v;
}

int siem_conf_copy(const struct siem_conf *c, struct bw_arena *a,
		   struct siem_conf *o)
{
	*o = *c;
	if (dup_str(a, &o->database) < 0 || dup_strlist(a, &o->rules) < 0 ||
	    dup_str(a, &o->mapping) < 0 ||
	    dup_str(a, &o->tenant) < 0 || dup_str(a, &o->geoip.database) < 0 ||
	    dup_strlist(a, &o->anomaly.first_seen) < 0)
		return -1;
	struct siem_retention_conf *rp =
		dup_list(a, &o->retention.policies, sizeof(*rp));
	if (o->retention.policies.n && !rp)
		return -1;
	for (size_t i = 0; i < o->retention.policies.n; i++)
		if (dup_str(a, &rp[i].tenant) < 0 || dup_str(a, &rp[i].category) < 0)
			return -1;
	struct siem_suppress_conf *sp = dup_list(a, &o->alerts.suppress, sizeof(*sp));
	if (o->alerts.suppress.n && !sp)
		return -1;
	for (size_t i = 0; i < o->alerts.suppress.n; i++)
		if (dup_str(a, &sp[i].rule) < 0 || dup_str(a, &sp[i].group) < 0)
			return -1;
	struct siem_notify_conf *np = dup_list(a, &o->alerts.notify, sizeof(*np));
	if (o->alerts.notify.n && !np)
		return -1;
	for (size_t i = 0; i < o->alerts.notify.n; i++)
		if (dup_str(a, &np[i].url) < 0 || dup_str(a, &np[i].secret_file) < 0 ||
		    dup_str(a, &np[i].ca_file) < 0 || dup_str(a, &np[i].from) < 0 ||
		    dup_strlist(a, &np[i].to) < 0 || dup_str(a, &np[i].username) < 0 ||
		    dup_str(a, &np[i].address) < 0)
			return -1;
	struct siem_fwd_conf *fp = dup_list(a, &o->forward, sizeof(*fp));
	if (o->forward.n && !fp)
		return -1;
	for (size_t i = 0; i < o->forward.n; i++)
		if (dup_str(a, &fp[i].name) < 0 || dup_str(a, &fp[i].url) < 0 ||
		    dup_str(a, &fp[i].address) < 0 || dup_str(a, &fp[i].token_file) < 0 ||
		    dup_str(a, &fp[i].index) < 0 || dup_str(a, &fp[i].ca_file) < 0 ||
		    dup_strlist(a, &fp[i].categories) < 0)
			return -1;
	struct siem_feed_conf *ip = dup_list(a, &o->intel.feeds, sizeof(*ip));
	if (o->intel.feeds.n && !ip)
		return -1;
	for (size_t i = 0; i < o->intel.feeds.n; i++)
		if (dup_str(a, &ip[i].name) < 0 || dup_str(a, &ip[i].path) < 0 ||
		    dup_str(a, &ip[i].url) < 0 || dup_str(a, &ip[i].ca_file) < 0)
			return -1;
	return 0;
}
