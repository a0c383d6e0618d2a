/*
 * server — bulwark's process model and the foundation's configuration.
 *
 *   bulwark serve
 *    ├─ supervisor  keeps root only when started as root: reads the config,
 *    │              binds every listening socket (and re-binds on reload),
 *    │              writes the pid and ports files, starts and restarts the
 *    │              worker. Never parses network input.
 *    └─ worker      unprivileged: N threads, each an epoll loop with its own
 *                   SO_REUSEPORT socket per listener, plus the thread pool,
 *                   the event bus and the audit log.
 *
 * The supervisor and the worker talk over a socketpair with small
 * fixed-layout messages (server_int.h); listening sockets travel with
 * SCM_RIGHTS.
 */
#ifndef BW_SERVER_H
#define BW_SERVER_H

#include "conf/conf.h"
#include "core/core.h"
#include "http/http.h"

enum server_listener_kind {
	SERVER_LISTENER_ADMIN,
	SERVER_LISTENER_GATEWAY,
	SERVER_LISTENER_SYSLOG_UDP, /* syslog datagrams into the SIEM */
	SERVER_LISTENER_SYSLOG_TCP, /* syslog over TCP (RFC 6587) */
	SERVER_LISTENER_SYSLOG_TLS, /* syslog over TLS (RFC 5425) */
	SERVER_LISTENER_RELP,       /* RELP, acknowledged (tls: optional) */
	SERVER_LISTENER_PKI,        /* CRL, OCSP, CA certificates (plain HTTP) */
};

/* HTTP listeners are served by net's HTTP server; the others feed the
 * SIEM's ingest. */
static inline bool server_listener_is_http(int kind)
{
	return kind == SERVER_LISTENER_ADMIN || kind == SERVER_LISTENER_GATEWAY ||
	       kind == SERVER_LISTENER_PKI;
}
enum server_client_cert { SERVER_CC_NONE, SERVER_CC_OPTIONAL, SERVER_CC_REQUIRE };

struct server_listener_conf {
	const char *name;
	int kind; /* enum server_listener_kind */
	const char *address;
	uint16_t port;
	bool tls;
	bool http2;      /* offer h2 by ALPN (TLS listeners) */
	int client_cert; /* enum server_client_cert */
};

struct server_cert_conf {
	const char *cert;
	const char *key;
};

/* The whole foundation config, as bound from YAML. Strings live in the
 * load arena; paths are absolute after server_conf_load (relative ones are
 * resolved against the config file's directory). */
struct server_conf {
	struct server_sec_server {
		const char *data_dir;
		const char *run_dir;
		const char *user;
		unsigned workers; /* 0 = one per core */
		unsigned pool_threads;
		size_t pool_queue;
		uint64_t shutdown_timeout; /* ms */
	} server;
	struct server_sec_log {
		int level;
		const char *file;
		bool access_events;
	} log;
	struct server_sec_http {
		size_t max_request_line, max_uri, max_header_line;
		size_t max_header_bytes;
		unsigned max_headers;
		size_t max_body;
		uint64_t header_timeout, body_timeout, idle_timeout, write_timeout;
		unsigned max_connections;
		bool allow_bare_lf;
	} http;
	struct server_sec_tls {
		struct conf_list certificates; /* struct server_cert_conf */
		int min_version;               /* 0: "1.3", 1: "1.2" */
		bool session_tickets;
		bool park_idle;
		uint64_t ticket_rotation; /* ms */
		const char *client_ca;
	} tls;
	struct conf_list listeners; /* struct server_listener_conf */
	struct server_sec_audit {
		const char *file;
		uint64_t sth_every_records;
		uint64_t sth_interval; /* ms */
	} audit;
	struct server_sec_testing {
		bool clock_control;
	} testing;
	/* Sections other modules bind themselves (NULL when absent); the
	 * nodes live in the load arena. */
	struct server_sec_modules {
		const struct conf_node *gateway, *kms, *iam, *authz, *siem, *pki;
	} modules;

	const char *path; /* the config file */
	struct http_limits limits; /* derived from http */
};

/*
 * Loads and validates the config file at path (every error as
 * FILE:LINE:COLUMN: key: message). Everything is allocated from arena.
 */
int server_conf_load(const char *path, struct bw_arena *arena,
		     struct server_conf *out, struct bw_err *err) BW_WUR;
/* Same, from text already read (name is used in messages and to resolve
 * relative paths). */
int server_conf_load_text(const char *name, const char *text, size_t len,
			  struct bw_arena *arena, struct server_conf *out,
			  struct bw_err *err) BW_WUR;

/* WAF engine settings `bulwark init` writes to DATA/waf-base.conf. */
extern const char server_waf_base_conf[];

/* The commented default config `bulwark init` writes, for data directory
 * data_dir. Returns malloc'd text. */
char *server_conf_default_text(const char *data_dir);

/* `bulwark serve -c FILE`: runs the supervisor in the foreground until
 * SIGTERM/SIGINT. Returns the process exit status. */
int server_serve(const char *config_path);

/* `bulwark init [--dir DIR]`: creates the data directory (0700), the
 * config file, the bootstrap admin token (printed once) and, as root, the
 * `bulwark` system user. Returns the exit status. */
int server_init(const char *dir, bool force);
/* `bulwark iam recover-admin` (server_init.c): argv[0] is "recover-admin".
 * Returns the exit status. */
int server_recover_admin_main(int argc, char **argv);

#endif
