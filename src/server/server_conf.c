/*
 * The foundation's config sections (server, log, http, tls, listeners,
 * audit, testing), bound with the conf module's declarative binder, plus
 * the cross-field checks the binder cannot express and the commented
 * default file `bulwark init` writes.
 */
#include "server/server.h"
#include "net/net_limits.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const tls_versions[] = { "1.3", "1.2", NULL };
static const char *const listener_kinds[] = { "admin", "gateway", "syslog_udp",
					      "syslog_tcp", "syslog_tls", "relp",
					      "pki", NULL };
static const char *const client_certs[] = { "none", "optional", "require", NULL };

#define S struct server_conf
#define MS(x) (int64_t)(x)

static const struct conf_field server_fields[] = {
	{ .name = "data_dir", CONF_PATH(struct server_sec_server, data_dir), .def = ".",
	  .help = "state, audit log, TLS files and tokens (mode 0700)" },
	{ .name = "run_dir", CONF_PATH(struct server_sec_server, run_dir), .def = "run",
	  .help = "pid and ports files; relative to data_dir" },
	{ .name = "user", CONF_STR(struct server_sec_server, user), .def = "bulwark", .max = 32,
	  .help = "unprivileged user the worker runs as when started as root" },
	{ .name = "workers", CONF_UINT(struct server_sec_server, workers), .min = 0, .max = 256,
	  .def = "0", .help = "event-loop threads; 0 = one per core" },
	{ .name = "pool_threads", CONF_UINT(struct server_sec_server, pool_threads), .min = 1,
	  .max = 256, .def = "2", .help = "threads for blocking work" },
	{ .name = "pool_queue", CONF_SIZE(struct server_sec_server, pool_queue), .min = 1,
	  .max = 1000000, .def = "4096", .help = "queued blocking jobs before 503" },
	{ .name = "shutdown_timeout", CONF_DURATION(struct server_sec_server, shutdown_timeout),
	  .min = 0, .max = MS(600000), .def = "10s",
	  .help = "how long SIGTERM waits for requests in flight" },
};

static const struct conf_field log_fields[] = {
	{ .name = "level", CONF_ENUM(struct server_sec_log, level, log_levels), .def = "info" },
	{ .name = "file", CONF_STR(struct server_sec_log, file), .max = 4096,
	  .help = "JSON log lines go here; stderr when unset" },
	{ .name = "access_events", CONF_BOOL(struct server_sec_log, access_events), .def = "true",
	  .help = "one event per HTTP request on the event bus" },
};

static const struct conf_field http_fields[] = {
	{ .name = "max_request_line", CONF_SIZE(struct server_sec_http, max_request_line), .min = 64,
	  .max = 65536, .def = "8k" },
	{ .name = "max_uri", CONF_SIZE(struct server_sec_http, max_uri), .min = 16, .max = 65536,
	  .def = "8k" },
	{ .name = "max_header_line", CONF_SIZE(struct server_sec_http, max_header_line), .min = 64,
	  .max = 65536, .def = "8k" },
	{ .name = "max_header_bytes", CONF_SIZE(struct server_sec_http, max_header_bytes),
	  .min = 256, .max = 1048576, .def = "32k" },
	{ .name = "max_headers", CONF_UINT(struct server_sec_http, max_headers), .min = 4,
	  .max = 1000, .def = "100" },
	{ .name = "max_body", CONF_SIZE(struct server_sec_http, max_body), .min = 0,
	  .max = 1073741824, .def = "1m" },
	{ .name = "header_timeout", CONF_DURATION(struct server_sec_http, header_timeout),
	  .min = 100, .max = MS(NET_TIMEOUT_MS_HARD), .def = "10s" },
	{ .name = "body_timeout", CONF_DURATION(struct server_sec_http, body_timeout), .min = 100,
	  .max = MS(NET_TIMEOUT_MS_HARD), .def = "30s" },
	{ .name = "idle_timeout", CONF_DURATION(struct server_sec_http, idle_timeout), .min = 100,
	  .max = MS(NET_TIMEOUT_MS_HARD), .def = "60s" },
	{ .name = "write_timeout", CONF_DURATION(struct server_sec_http, write_timeout), .min = 100,
	  .max = MS(NET_TIMEOUT_MS_HARD), .def = "30s" },
	{ .name = "max_connections", CONF_UINT(struct server_sec_http, max_connections), .min = 1,
	  .max = NET_MAX_CONNS_HARD, .def = "16384", .help = "per worker thread" },
	{ .name = "allow_bare_lf", CONF_BOOL(struct server_sec_http, allow_bare_lf), .def = "false" },
};

#define C struct server_cert_conf
static const struct conf_field cert_fields[] = {
	{ .name = "cert", CONF_PATH(C, cert), .required = true },
	{ .name = "key", CONF_SECRET_PATH(C, key), .required = true },
};
#undef C

static const struct conf_field tls_fields[] = {
	{ .name = "certificates", CONF_LIST(struct server_sec_tls, certificates, cert_fields,
					    struct server_cert_conf),
	  .min = 0, .max = 64,
	  .help = "first is the default; others chosen by SNI. Empty: a local CA" },
	{ .name = "min_version", CONF_ENUM(struct server_sec_tls, min_version, tls_versions),
	  .def = "1.3" },
	{ .name = "session_tickets", CONF_BOOL(struct server_sec_tls, session_tickets), .def = "true" },
	{ .name = "park_idle", CONF_BOOL(struct server_sec_tls, park_idle), .def = "true" },
	{ .name = "ticket_rotation", CONF_DURATION(struct server_sec_tls, ticket_rotation),
	  .min = 60000, .max = MS(86400000), .def = "1h" },
	{ .name = "client_ca", CONF_PATH(struct server_sec_tls, client_ca),
	  .help = "CA bundle for client certificates (mTLS)" },
};

#define L struct server_listener_conf
static const struct conf_field listener_fields[] = {
	{ .name = "name", CONF_STR(L, name), .required = true, .min = 1, .max = 31 },
	{ .name = "kind", CONF_ENUM(L, kind, listener_kinds), .required = true },
	{ .name = "address", CONF_STR(L, address), .def = "127.0.0.1", .max = 64 },
	{ .name = "port", CONF_PORT(L, port), .required = true },
	{ .name = "tls", CONF_BOOL(L, tls), .def = "true" },
	{ .name = "http2", CONF_BOOL(L, http2), .def = "true",
	  .help = "offer HTTP/2 through ALPN on TLS listeners" },
	{ .name = "client_cert", CONF_ENUM(L, client_cert, client_certs),
	  .def = "none" },
};
#undef L

static const struct conf_field audit_fields[] = {
	{ .name = "file", CONF_STR(struct server_sec_audit, file), .def = "audit.log", .max = 255 },
	{ .name = "sth_every_records", CONF_UINT64(struct server_sec_audit, sth_every_records),
	  .min = 0, .max = 100000000, .def = "1000" },
	{ .name = "sth_interval", CONF_DURATION(struct server_sec_audit, sth_interval), .min = 0,
	  .max = MS(86400000), .def = "60s" },
};

static const struct conf_field testing_fields[] = {
	{ .name = "clock_control", CONF_BOOL(struct server_sec_testing, clock_control),
	  .def = "false", .help = "allow the test clock API (never in production)" },
};

static const struct conf_field top_fields[] = {
	{ .name = "server", CONF_SECTION(S, server, server_fields) },
	{ .name = "log", CONF_SECTION(S, log, log_fields) },
	{ .name = "http", CONF_SECTION(S, http, http_fields) },
	{ .name = "tls", CONF_SECTION(S, tls, tls_fields) },
	{ .name = "listeners", CONF_LIST(S, listeners, listener_fields,
					 struct server_listener_conf),
	  .min = 1, .max = 32, .required = true },
	{ .name = "audit", CONF_SECTION(S, audit, audit_fields) },
	{ .name = "testing", CONF_SECTION(S, testing, testing_fields) },
	/* Module sections: validated by their modules when a generation is
	 * built (and by `bulwark config check`). */
	{ .name = "gateway", CONF_NODE(S, modules.gateway) },
	{ .name = "kms", CONF_NODE(S, modules.kms) },
	{ .name = "iam", CONF_NODE(S, modules.iam) },
	{ .name = "authz", CONF_NODE(S, modules.authz) },
	{ .name = "siem", CONF_NODE(S, modules.siem) },
	{ .name = "pki", CONF_NODE(S, modules.pki) },
};
#undef S

/* Relative paths are taken from the config file's directory, so a config
 * and its data can move together. */
static const char *resolve(struct bw_arena *a, const char *base, const char *p)
{
	if (!p || p[0] == '/')
		return p;
	return bw_arena_printf(a, "%s/%s", base, p);
}

static int check(const struct conf_doc *doc, struct server_conf *c,
		 struct bw_err *err)
{
	const struct conf_node *lnode = conf_get(doc->root, "listeners");
	struct server_listener_conf *ls = c->listeners.v;
	for (size_t i = 0; i < c->listeners.n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ls[i].name, ls[j].name) == 0)
				return conf_err(conf_at(lnode, i), err, "duplicate",
						"listener name '%s' is used twice",
						ls[i].name);
			if (ls[i].port != 0 && ls[i].port == ls[j].port &&
			    strcmp(ls[i].address, ls[j].address) == 0)
				return conf_err(conf_at(lnode, i), err, "duplicate",
						"%s port %u is used by listener '%s'",
						ls[i].address, ls[i].port, ls[j].name);
		}
		/* TLS follows from the kind for syslog listeners. */
		if (ls[i].kind == SERVER_LISTENER_SYSLOG_UDP ||
		    ls[i].kind == SERVER_LISTENER_SYSLOG_TCP)
			ls[i].tls = false;
		if (ls[i].kind == SERVER_LISTENER_SYSLOG_TLS)
			ls[i].tls = true;
		if (ls[i].client_cert != SERVER_CC_NONE && !c->tls.client_ca)
			return conf_err(conf_at(lnode, i), err, "missing",
					"client_cert needs tls.client_ca");
		if (ls[i].client_cert != SERVER_CC_NONE && !ls[i].tls)
			return conf_err(conf_at(lnode, i), err, "range",
					"client_cert needs tls: true");
	}
	struct http_limits *l = &c->limits;
	http_limits_default(l);
	l->max_request_line = c->http.max_request_line;
	l->max_uri = c->http.max_uri;
	l->max_header_line = c->http.max_header_line;
	l->max_header_bytes = c->http.max_header_bytes;
	l->max_headers = c->http.max_headers;
	l->max_body = c->http.max_body;
	l->allow_bare_lf = c->http.allow_bare_lf;
	if (http_limits_check(l, err) < 0)
		return conf_err(conf_get(doc->root, "http") ?
					conf_get(doc->root, "http") : doc->root,
				err, "range", "%s", err->msg);
	return 0;
}

int server_conf_load_text(const char *name, const char *text, size_t len,
			  struct bw_arena *arena, struct server_conf *out,
			  struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	struct conf_doc *doc = conf_load_string(name, text, len, arena, err);
	if (!doc)
		return -1;
	if (conf_bind(doc->root, top_fields, BW_ARRAY_LEN(top_fields), out, err) < 0)
		return -1;
	if (check(doc, out, err) < 0)
		return -1;

	/* The directory of the config file, absolute. The file need not
	 * exist (tests load text under a made-up name). */
	char copy[PATH_MAX], cwd[PATH_MAX];
	if (bw_snprintf(copy, sizeof(copy), "%s", name) < 0)
		return bw_err_set(err, 400, "server", "path", "config path too long");
	const char *dir = dirname(copy);
	const char *base = dir;
	if (dir[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return bw_err_set(err, 500, "server", "cwd", "getcwd failed");
		base = strcmp(dir, ".") == 0 ? cwd : bw_arena_printf(arena, "%s/%s", cwd, dir);
	}
	out->path = bw_arena_strdup(arena, name);
	out->server.data_dir = resolve(arena, base, out->server.data_dir);
	out->server.run_dir = resolve(arena, out->server.data_dir, out->server.run_dir);
	out->log.file = resolve(arena, out->server.data_dir, out->log.file);
	out->tls.client_ca = resolve(arena, base, out->tls.client_ca);
	struct server_cert_conf *certs = out->tls.certificates.v;
	for (size_t i = 0; i < out->tls.certificates.n; i++) {
		certs[i].cert = resolve(arena, base, certs[i].cert);
		certs[i].key = resolve(arena, base, certs[i].key);
	}
	if (!out->path || !out->server.data_dir || !out->server.run_dir)
		return bw_err_set(err, 500, "server", "nomem", "out of memory");
	return 0;
}

int server_conf_load(const char *path, struct bw_arena *arena,
		     struct server_conf *out, struct bw_err *err)
{
	size_t len;
	char *text = bw_file_read(path, 1024 * 1024, &len, err);
	if (!text)
		return -1;
	int rc = server_conf_load_text(path, text, len, arena, out, err);
	free(text);
	return rc;
}

/* The engine settings ModSecurity deployments keep in modsecurity.conf:
 * the route's waf mode (off / detect / block) decides what happens to a
 * request, so the engine itself is on and reads request bodies. */
const char server_waf_base_conf[] =
	"# WAF engine settings, loaded before the rule set (see docs/gateway.md).\n"
	"# Each gateway route chooses off / detect / block; the engine is on.\n"
	"SecRuleEngine On\n"
	"SecRequestBodyAccess On\n"
	"SecRequestBodyLimit 13107200\n"
	"SecRequestBodyNoFilesLimit 131072\n"
	"SecRequestBodyLimitAction Reject\n"
	"SecRequestBodyJsonDepthLimit 512\n"
	"SecArgumentsLimit 1000\n"
	"SecPcreMatchLimit 1000000\n"
	"SecPcreMatchLimitRecursion 1000000\n"
	"SecResponseBodyAccess Off\n"
	"SecArgumentSeparator &\n"
	"SecCookieFormat 0\n"
	"\n"
	"# Body processors by Content-Type and the rejection of bodies that do not\n"
	"# parse, as ModSecurity's recommended configuration has them (without the\n"
	"# JSON processor, JSON API bodies would not be inspected argument by argument).\n"
	"SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" \\\n"
	"    \"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n"
	"SecRule REQUEST_HEADERS:Content-Type \"^application/json\" \\\n"
	"    \"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n"
	"SecRule REQBODY_ERROR \"!@eq 0\" \\\n"
	"    \"id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',logdata:'%{reqbody_error_msg}',severity:2\"\n"
	"SecRule MULTIPART_STRICT_ERROR \"!@eq 0\" \\\n"
	"    \"id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'\"\n"
	"\n"
	"# JSON audit log (ModSecurity v3's format) of every blocked or flagged\n"
	"# request; a relative name is relative to this file. See docs/waf.md.\n"
	"SecAuditEngine RelevantOnly\n"
	"SecAuditLogParts ABFHZ\n"
	"SecAuditLogType Serial\n"
	"SecAuditLogFormat JSON\n"
	"SecAuditLog waf-audit.json\n";

char *server_conf_default_text(const char *data_dir)
{
	struct bw_buf b;
	bw_buf_init(&b, 65536);
	int rc = bw_buf_printf(&b,
"# bulwark configuration. Every key is optional unless marked; unknown keys\n"
"# are errors. Check a change with: bulwark config check FILE\n"
"# Relative paths are relative to this file's directory.\n"
"\n"
"server:\n"
"  data_dir: \"%s\"     # state, audit log, TLS files (mode 0700)\n"
"  run_dir: run          # pid and ports files, inside data_dir\n"
"  user: bulwark         # the worker drops to this user when started as root\n"
"  workers: 0            # event-loop threads; 0 = one per core\n"
"  pool_threads: 2       # threads for blocking work (hashing, disk)\n"
"  shutdown_timeout: 10s # SIGTERM waits this long for requests in flight\n"
"\n"
"log:\n"
"  level: info           # debug | info | warn | error\n"
"  # file: bulwark.log   # JSON lines; stderr when unset\n"
"  access_events: true   # one event per HTTP request on the event bus\n"
"\n"
"http:                   # limits of the HTTP/1.1 codec, per request\n"
"  max_request_line: 8k\n"
"  max_uri: 8k\n"
"  max_header_line: 8k\n"
"  max_header_bytes: 32k\n"
"  max_headers: 100\n"
"  max_body: 1m\n"
"  header_timeout: 10s   # from the first byte of a request to its last header\n"
"  body_timeout: 30s\n"
"  idle_timeout: 60s     # keep-alive\n"
"  write_timeout: 30s\n"
"  max_connections: 16384  # per worker thread\n"
"\n"
"tls:\n"
"  # With no certificates, bulwark creates a local CA and a localhost\n"
"  # certificate under data_dir/tls on first start (trust tls/ca.crt).\n"
"  certificates: []\n"
"  #  - cert: /etc/bulwark/example.org.crt\n"
"  #    key: /etc/bulwark/example.org.key   # must be mode 0600\n"
"  min_version: \"1.3\"    # \"1.2\" allows TLS 1.2 with AEAD ciphers only\n"
"  session_tickets: true\n"
"  # Idle keep-alive TLS 1.3 connections free OpenSSL's per-connection\n"
"  # state (~13 KB) and keep only their record keys (~300 B).\n"
"  park_idle: true\n"
"  ticket_rotation: 1h\n"
"  # client_ca: /etc/bulwark/clients-ca.crt  # enables client_cert below\n"
"\n"
"listeners:\n"
"  - name: admin         # REST API, /healthz, /readyz, /metrics\n"
"    kind: admin\n"
"    address: 127.0.0.1\n"
"    port: 9443          # 0 picks a free port (see run/ports.json)\n"
"    tls: true\n"
"  - name: gateway\n"
"    kind: gateway\n"
"    address: 127.0.0.1\n"
"    port: 8443\n"
"    tls: true\n"
"\n"
"audit:\n"
"  file: audit.log       # inside data_dir; verify with: bulwark audit verify\n"
"  sth_every_records: 1000  # signed tree head every N records...\n"
"  sth_interval: 60s        # ...or this often\n"
"\n"
"gateway:                # see docs/gateway.md\n"
"  routes:\n"
"    # The built-in demo application behind the WAF and bot defences.\n"
"    # Put your own upstreams and routes here (upstreams: [...]).\n"
"    - {name: demo, path: /, builtin: demo, waf: block, bot: block}\n"
"  waf:\n"
"    rules:\n"
"      - \"%s/waf-base.conf\"   # engine settings (bulwark init wrote it)\n"
"      - /usr/share/modsecurity-crs/owasp-crs.load  # OWASP CRS as Debian installs it\n",
			   data_dir, data_dir);
	if (rc < 0) {
		bw_buf_fini(&b);
		return NULL;
	}
	return bw_buf_detach(&b, NULL);
}
