/*
 * The worker process: drops privileges, opens the audit log, starts the
 * event bus, the thread pool and N event-loop threads (each with its own
 * SO_REUSEPORT socket per listener), and obeys the supervisor's control
 * messages (reload, shutdown).
 *
 * Reload builds a complete new generation (config, TLS contexts, servers)
 * first and swaps it in only if every step succeeded; connections that
 * started on the old generation finish on it.
 */
#include "server/server_int.h"
#include "api/api.h"
#include "audit/audit.h"
#include "authz/authz.h"
#include "iam/iam.h"
#include "gateway/gateway.h"
#include "waf/waf_api.h"
#include "kms/kms.h"
#include "siem/siem.h"
#include "pki/pki.h"
#include "store/store.h"
#include "event/event.h"
#include "loop/loop.h"
#include "net/net.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_LISTENERS 32

struct wthread {
	pthread_t th;
	struct loop *loop;
	struct net_thread *net;
	unsigned index;
};

struct generation {
	struct bw_arena *arena;
	struct server_conf conf;
	struct gateway_conf gw_conf;
	struct gateway *gw; /* one reference per gateway server, plus ours */
	struct net_http_server *srv[MAX_LISTENERS]; /* NULL for SIEM listeners */
	size_t nsrv;
	/* TLS for syslog_tls / relp listeners, one per thread (each attach
	 * takes its own); consumed at start, unused by later generations. */
	struct net_tls *stream_tls[MAX_LISTENERS][MAX_THREADS];
	/* borrowed from srv[i]: attached to the listener-certificate manager
	 * (renewals and OCSP staples) while this generation is current */
	struct net_tls *tls[MAX_LISTENERS];
};

static struct {
	struct wthread threads[MAX_THREADS];
	unsigned n;
	struct api_ctx api;
	struct audit_log *audit;
	struct audit_signer signer;
	bool have_signer;
	struct tpool *pool;
	struct tpool *hash_pool; /* Argon2id only (logins, password changes) */
	struct store *store;
	struct authz_engine *authz;
	struct iam *iam;
	struct iam_oidc_http *oidc;
	struct iam_pages *pages; /* login pages under /auth/ */
	struct iam_fed *fed;
	char data_dir[4096]; /* for retiring the bootstrap token's files */
	struct kms_client *kms;
	struct kms_p11_server *p11;
	struct siem_service *siem;
	struct pki_keystore *pki_keys;
	struct pki *pki;
	struct pki_http pki_http;
	struct pki_acme *acme;
	struct pki_lcert *lcert;
	struct iam_sealer lcert_sealer; /* keeps listener keys across restarts */
	struct loop_timer pki_timer;
	bool kms_signer;
	int ctl_fd;
	struct loop_io ctl_io, sig_io;
	_Atomic unsigned drain_left;
	bool shutting_down;
	struct generation *gen;
	/* what each thread listens on, by listener name */
	struct {
		char name[32];
		char address[64];
		uint16_t port_conf;
	} ls[MAX_LISTENERS];
	size_t nls;
} W;

unsigned server_worker_count(const struct server_conf *c)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = c->server.workers ? c->server.workers :
					 (unsigned)(cores > 0 ? cores : 1);
	return n > MAX_THREADS ? MAX_THREADS : n;
}

/* ---------------------------------------------------------- generation */

static void generation_free(struct generation *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nsrv; i++) {
		pki_lcert_detach(W.lcert, g->tls[i]);
		net_http_server_unref(g->srv[i]);
		for (unsigned t = 0; t < MAX_THREADS; t++)
			net_tls_free(g->stream_tls[i][t]);
	}
	gateway_free(g->gw);
	bw_arena_free(g->arena);
	free(g);
}

static int cert_from_files(const struct server_files *files, const char *cert,
			   const char *key, struct net_tls_cert *out,
			   struct bw_err *err)
{
	out->name = cert;
	out->cert_pem = server_files_get(files, cert);
	out->key_pem = server_files_get(files, key);
	if (!out->cert_pem.p || !out->key_pem.p)
		return bw_err_set(err, 400, "server", "tls_files",
				  "%s: not handed over by the supervisor", cert);
	return 0;
}

static struct net_tls *build_tls(const struct server_conf *c,
				 const struct server_listener_conf *l,
				 const struct server_files *files, struct bw_err *err)
{
	struct net_tls_cert certs[64];
	size_t n = c->tls.certificates.n;
	const struct server_cert_conf *cc = c->tls.certificates.v;
	if (n == 0) {
		char crt[600], key[600];
		bw_snprintf(crt, sizeof(crt), "%s/tls/server.crt", c->server.data_dir);
		bw_snprintf(key, sizeof(key), "%s/tls/server.key", c->server.data_dir);
		if (cert_from_files(files, crt, key, &certs[0], err) < 0)
			return NULL;
		n = 1;
	} else {
		for (size_t i = 0; i < n && i < 64; i++)
			if (cert_from_files(files, cc[i].cert, cc[i].key, &certs[i], err) < 0)
				return NULL;
	}
	struct net_tls_config tc = {
		.certs = certs,
		.ncerts = n,
		.allow_tls12 = c->tls.min_version == 1,
		.session_tickets = c->tls.session_tickets,
		.keep_idle_ssl = !c->tls.park_idle,
		.ticket_rotate_s = (int64_t)(c->tls.ticket_rotation / 1000),
		.alpn = l->http2 ? "h2,http/1.1" : "http/1.1",
		.client_cert = l->client_cert == SERVER_CC_REQUIRE ? NET_CLIENT_CERT_REQUIRE :
			       l->client_cert == SERVER_CC_OPTIONAL ? NET_CLIENT_CERT_OPTIONAL :
								      NET_CLIENT_CERT_NONE,
	};
	if (l->client_cert != SERVER_CC_NONE) {
		tc.client_ca_pem = server_files_get(files, c->tls.client_ca);
		if (!tc.client_ca_pem.p) {
			bw_err_set(err, 400, "server", "tls_files",
				   "%s: not handed over by the supervisor", c->tls.client_ca);
			return NULL;
		}
	}
	return net_tls_new(&tc, err);
}

/* Hands the generation's TLS listeners to the certificate manager. */
static void generation_attach(struct generation *g)
{
	const struct server_listener_conf *ls = g->conf.listeners.v;
	struct bw_err err;
	for (size_t i = 0; i < g->nsrv && i < g->conf.listeners.n; i++)
		if (g->tls[i] && pki_lcert_attach(W.lcert, ls[i].name, g->tls[i], &err) < 0)
			log_warnx("pki: listener %s: %s", ls[i].name, err.msg);
}

static void release_gateway(void *arg)
{
	gateway_free(arg);
}

/* Edge authentication's services for the gateway (docs/gateway.md): bulwark
 * sessions and API keys through the identity module, bulwark's issuer keys,
 * relationship checks through the authorization engine. They run on the
 * thread pool and read W at call time. */
static int gw_svc_authenticate(void *arg, const char *token, size_t len,
			       struct gateway_principal *out)
{
	struct iam_principal p;
	if (!W.iam)
		return -2;
	int rc = iam_authenticate_bearer(W.iam, token, len, &p);
	if (rc != 0)
		return rc;
	bw_snprintf(out->kind, sizeof(out->kind), "%s",
		    p.kind == IAM_PRINCIPAL_API_KEY ? "api_key" : "session");
	bw_snprintf(out->tenant, sizeof(out->tenant), "%s", p.tenant);
	bw_snprintf(out->subject, sizeof(out->subject), "%s", p.user_id);
	bw_snprintf(out->name, sizeof(out->name), "%s", p.user_name);
	bw_snprintf(out->scopes, sizeof(out->scopes), "%s", p.scopes);
	return 0;
}

static int gw_svc_jwks(void *arg, const char *tenant, struct bw_buf *out)
{
	struct bw_err err;
	return W.iam ? iam_oidc_jwks(W.iam, tenant, out, &err) : -1;
}

static int gw_svc_check(void *arg, const char *tenant, const char *store,
			const char *user, const char *relation, const char *object,
			bool *allowed)
{
	struct bw_err err;
	struct authz_query q = { .tenant = tenant, .store_id = store };
	return W.authz ? authz_check(W.authz, &q, user, relation, object, allowed, &err) : -1;
}

static void gw_services_set(struct gateway *gw)
{
	struct gateway_services s = { .authenticate = gw_svc_authenticate,
				      .tenant_jwks = gw_svc_jwks,
				      .check = gw_svc_check,
				      .pool = W.pool };
	if (gw)
		gateway_set_services(gw, &s);
}

/* Upstreams with tls.identity present the pki's component identity. */
static int gw_identity_use(void *arg, const char *name, void *ssl_ctx, struct bw_err *err)
{
	(void)arg;
	return pki_lcert_identity_use(W.lcert, name, ssl_ctx, err);
}

static struct generation *generation_build(const char *path, const char *text,
					   size_t len, const struct server_files *files,
					   struct bw_err *err)
{
	struct generation *g = calloc(1, sizeof(*g));
	if (!g || !(g->arena = bw_arena_new(16384, 16 << 20))) {
		free(g);
		bw_err_set(err, 500, "server", "nomem", "out of memory");
		return NULL;
	}
	if (server_conf_load_text(path, text, len, g->arena, &g->conf, err) < 0)
		goto fail;
	/* The gateway generation: routes, upstreams, limits and WAF rules.
	 * Built here, before anything is swapped, so a bad rule file or an
	 * unknown upstream refuses the whole reload. */
	if (gateway_conf_bind(g->conf.modules.gateway, g->arena, &g->gw_conf, err) < 0 ||
	    !(g->gw = gateway_new(&g->gw_conf, err)))
		goto fail;
	gw_services_set(g->gw);
	/* at the first start the pki comes later and does this itself */
	if (W.lcert && gateway_use_identities(g->gw, gw_identity_use, NULL, err) < 0)
		goto fail;
	const struct server_listener_conf *ls = g->conf.listeners.v;
	for (size_t i = 0; i < g->conf.listeners.n && i < MAX_LISTENERS; i++) {
		if (!server_listener_is_http(ls[i].kind)) {
			/* SIEM ingest: only TLS contexts to build here. */
			for (unsigned t = 0; ls[i].tls && t < W.n; t++)
				if (!(g->stream_tls[i][t] = build_tls(&g->conf, &ls[i],
								      files, err)))
					goto fail;
			g->nsrv++;
			continue;
		}
		struct net_http_options o = {
			.name = ls[i].name,
			.limits = g->conf.limits,
			.header_timeout_ms = g->conf.http.header_timeout,
			.body_timeout_ms = g->conf.http.body_timeout,
			.idle_timeout_ms = g->conf.http.idle_timeout,
			.write_timeout_ms = g->conf.http.write_timeout,
			.max_conns = g->conf.http.max_connections,
			.handler = ls[i].kind == SERVER_LISTENER_ADMIN ? api_handle :
				   ls[i].kind == SERVER_LISTENER_PKI   ? pki_http_handle :
									 gateway_handle,
			.handler_arg = ls[i].kind == SERVER_LISTENER_ADMIN ? (void *)&W.api :
				       ls[i].kind == SERVER_LISTENER_PKI   ? (void *)&W.pki_http :
									     (void *)g->gw,
			/* Connections of a retired generation keep calling the
			 * gateway: each server holds a reference. */
			.handler_arg_release = ls[i].kind == SERVER_LISTENER_GATEWAY ?
						       release_gateway : NULL,
			.access_events = g->conf.log.access_events,
			/* the gateway streams bodies its WAF does not need */
			.dispatch_at_head = ls[i].kind == SERVER_LISTENER_GATEWAY,
		};
		if (ls[i].tls && !(o.tls = build_tls(&g->conf, &ls[i], files, err)))
			goto fail;
		if (o.handler_arg_release)
			gateway_ref(g->gw);
		g->srv[i] = net_http_server_new(&o, err);
		if (!g->srv[i]) {
			if (o.handler_arg_release)
				gateway_free(g->gw);
			net_tls_free(o.tls);
			goto fail;
		}
		g->tls[i] = o.tls;
		g->nsrv++;
	}
	/* The pki section is checked with every generation (listener
	 * certificates themselves are read at start). */
	struct pki_conf *pc = bw_arena_alloc(g->arena, sizeof(*pc));
	if (!pc || pki_conf_bind(g->conf.modules.pki, g->arena, pc, err) < 0)
		goto fail;
	return g;
fail:
	generation_free(g);
	return NULL;
}

/* ------------------------------------------------------ thread tasks */

enum task_op { TASK_LISTEN, TASK_SWAP, TASK_UNLISTEN, TASK_DRAIN, TASK_STOP,
	       TASK_SIEM_ATTACH };

struct task {
	enum task_op op;
	struct wthread *t;
	char name[32];
	int fd;
	struct net_http_server *srv; /* a reference owned by the task */
	int kind;                    /* TASK_SIEM_ATTACH: listener kind */
	struct net_tls *tls;         /* TASK_SIEM_ATTACH: taken */
};

static void thread_drained(void *arg);

static void run_task(void *arg)
{
	struct task *k = arg;
	struct bw_err err;
	switch (k->op) {
	case TASK_LISTEN:
		if (net_thread_listen(k->t->net, k->name, k->fd, k->srv, &err) < 0) {
			log_warnx("listener %s: %s", k->name, err.msg);
			close(k->fd);
		}
		break;
	case TASK_SWAP:
		(void)net_thread_swap_server(k->t->net, k->name, k->srv);
		break;
	case TASK_UNLISTEN:
		net_thread_unlisten(k->t->net, k->name);
		break;
	case TASK_DRAIN:
		if (W.siem)
			siem_ingest_detach(W.siem, k->t->loop);
		net_thread_drain(k->t->net, W.gen->conf.server.shutdown_timeout,
				 thread_drained, k->t);
		break;
	case TASK_SIEM_ATTACH: {
		int rc = k->kind == SERVER_LISTENER_SYSLOG_UDP ?
				 siem_ingest_attach_udp(W.siem, k->t->loop, k->fd, &err) :
				 siem_ingest_attach_stream(W.siem, k->t->loop, k->fd, k->tls,
							   k->kind == SERVER_LISTENER_RELP ?
								   SIEM_INGEST_RELP :
								   SIEM_INGEST_SYSLOG,
							   &err);
		if (rc < 0)
			log_warnx("listener %s: %s", k->name, err.msg);
		break;
	}
	case TASK_STOP:
		loop_stop(k->t->loop);
		break;
	}
	net_http_server_unref(k->srv);
	free(k);
}

static void post_task(struct wthread *t, enum task_op op, const char *name,
		      int fd, struct net_http_server *srv)
{
	struct task *k = calloc(1, sizeof(*k));
	if (!k)
		fatalx("out of memory");
	k->op = op;
	k->t = t;
	k->fd = fd;
	if (name)
		bw_event_set(k->name, sizeof(k->name), name);
	if (srv) {
		net_http_server_ref(srv);
		k->srv = srv;
	}
	if (loop_post(t->loop, run_task, k) < 0)
		fatalx("cannot post to worker thread");
}

static void *thread_main(void *arg)
{
	struct wthread *t = arg;
	if (loop_run(t->loop) < 0)
		log_warn("worker thread %u: loop failed", t->index);
	return NULL;
}

/* ---------------------------------------------------------- shutdown */

static void stop_all(void *arg)
{
	for (unsigned i = 0; i < W.n; i++)
		post_task(&W.threads[i], TASK_STOP, NULL, -1, NULL);
}

static void thread_drained(void *arg)
{
	if (atomic_fetch_sub(&W.drain_left, 1) == 1)
		if (loop_post(W.threads[0].loop, stop_all, NULL) < 0)
			fatalx("cannot post shutdown");
}

static void begin_shutdown(void)
{
	if (W.shutting_down)
		return;
	W.shutting_down = true;
	log_info("shutting down: draining connections (deadline %llu ms)",
		 (unsigned long long)W.gen->conf.server.shutdown_timeout);
	atomic_store(&W.api.ready, 0);
	atomic_store(&W.drain_left, W.n);
	for (unsigned i = 0; i < W.n; i++)
		post_task(&W.threads[i], TASK_DRAIN, NULL, -1, NULL);
}

/* ------------------------------------------------------------ reload */

static int find_ls(const char *name)
{
	for (size_t i = 0; i < W.nls; i++)
		if (strcmp(W.ls[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void do_reload(const char *payload, size_t plen, int *fds, size_t nfds)
{
	struct bw_err err;
	struct server_files files;
	size_t len;
	if (server_files_decode(payload, plen, &files, &len) < 0)
		fatalx("control channel: malformed reload payload");
	const char *text = payload;
	struct generation *g = generation_build(W.gen->conf.path, text, len, &files, &err);
	server_files_wipe(&files);
	if (g && g->conf.listeners.n * W.n != nfds) {
		bw_err_set(&err, 500, "server", "fds", "descriptor count mismatch");
		generation_free(g);
		g = NULL;
	}
	if (!g) {
		log_warnx("reload refused, keeping the running configuration: %s",
			  err.msg);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		(void)ctl_send(W.ctl_fd, CTL_RELOAD_RESULT, 1, err.msg,
			       strlen(err.msg), NULL, 0);
		return;
	}
	const struct server_listener_conf *ls = g->conf.listeners.v;
	bool keep[MAX_LISTENERS] = { false };
	for (size_t i = 0; i < g->conf.listeners.n; i++) {
		int old = find_ls(ls[i].name);
		int *lfds = fds + i * W.n;
		if (!server_listener_is_http(ls[i].kind)) {
			/* SIEM listeners keep the sockets they started with. */
			if (old >= 0)
				keep[old] = true;
			if (old < 0 || strcmp(W.ls[old].address, ls[i].address) != 0 ||
			    W.ls[old].port_conf != ls[i].port)
				log_warnx("listener %s: syslog listener changes take "
					  "effect on restart", ls[i].name);
			for (unsigned t = 0; t < W.n; t++)
				close(lfds[t]);
			continue;
		}
		if (old >= 0 && strcmp(W.ls[old].address, ls[i].address) == 0 &&
		    W.ls[old].port_conf == ls[i].port) {
			keep[old] = true;
			for (unsigned t = 0; t < W.n; t++) {
				close(lfds[t]); /* same socket, still open here */
				post_task(&W.threads[t], TASK_SWAP, ls[i].name, -1,
					  g->srv[i]);
			}
			continue;
		}
		if (old >= 0) {
			keep[old] = true; /* replaced below */
			for (unsigned t = 0; t < W.n; t++)
				post_task(&W.threads[t], TASK_UNLISTEN, ls[i].name, -1,
					  NULL);
		}
		for (unsigned t = 0; t < W.n; t++)
			post_task(&W.threads[t], TASK_LISTEN, ls[i].name, lfds[t],
				  g->srv[i]);
	}
	for (size_t i = 0; i < W.nls; i++)
		if (!keep[i])
			for (unsigned t = 0; t < W.n; t++)
				post_task(&W.threads[t], TASK_UNLISTEN, W.ls[i].name,
					  -1, NULL);
	W.nls = 0;
	for (size_t i = 0; i < g->conf.listeners.n; i++) {
		bw_event_set(W.ls[i].name, sizeof(W.ls[i].name), ls[i].name);
		bw_event_set(W.ls[i].address, sizeof(W.ls[i].address), ls[i].address);
		W.ls[i].port_conf = ls[i].port;
		W.nls++;
	}
	if (W.siem && siem_service_reload(W.siem, g->conf.modules.siem, &err) < 0)
		log_warnx("siem: keeping the running rules: %s", err.msg);
	generation_attach(g);
	struct generation *old = W.gen;
	W.gen = g;
	W.api.clock_control = g->conf.testing.clock_control;
	log_set_level((enum bw_log_level)g->conf.log.level);
	uint64_t gen = atomic_fetch_add(&W.api.generation, 1) + 1;
	/* Servers are reference-counted: the old generation's servers live
	 * on in the listeners and connections still using them. */
	generation_free(old);
	log_info("configuration reloaded (generation %llu)", (unsigned long long)gen);
	(void)ctl_send(W.ctl_fd, CTL_RELOAD_RESULT, 0, NULL, 0, NULL, 0);
}

static void on_ctl(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct bw_err err;
	struct ctl_msg m;
	char *payload = NULL;
	int fds[CTL_MAX_FDS];
	int r = ctl_recv(io->fd, &m, &payload, fds);
	if (r == 0) {
		/* The supervisor is gone: finish what is in flight and go. */
		loop_io_del(l, io);
		begin_shutdown();
		return;
	}
	if (r < 0)
		return;
	switch (m.type) {
	case CTL_RELOAD:
		if (!W.shutting_down)
			do_reload(payload ? payload : "", m.len, fds, m.nfds);
		if (payload)
			bw_wipe(payload, m.len);
		break;
	case CTL_SHUTDOWN:
		begin_shutdown();
		break;
	case CTL_KMS_SOCKET:
		if (m.nfds != 1 || kms_client_attach(W.kms, fds[0], &err) < 0)
			log_warnx("keystore socket: %s", m.nfds == 1 ? err.msg : "missing");
		else
			log_info("keystore reconnected");
		break;
	default:
		fatalx("control channel: unexpected message %u", m.type);
	}
	free(payload);
}

static void on_signal(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct signalfd_siginfo si;
	while (read(io->fd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo == SIGTERM)
			begin_shutdown();
}

static bool platform_authorize(void *arg, const char *tenant, const char *subject,
			       const char *permission)
{
	return authz_platform_check(arg, tenant, subject, permission);
}

static int siem_metrics_write_cb(void *arg, struct bw_buf *out)
{
	return siem_metrics_write(arg, out);
}

static int iam_bearer(void *arg, const char *token, size_t len,
		      struct api_principal *out)
{
	struct iam_principal p;
	int rc = iam_authenticate_bearer(arg, token, len, &p);
	if (rc != 0)
		return rc;
	bw_snprintf(out->tenant, sizeof(out->tenant), "%s", p.tenant);
	bw_snprintf(out->subject, sizeof(out->subject), "user:%s", p.user_id);
	/* an API key acts for its user and may also hold roles itself */
	out->key_subject[0] = '\0';
	if (p.kind == IAM_PRINCIPAL_API_KEY)
		bw_snprintf(out->key_subject, sizeof(out->key_subject), "apikey:%s",
			    p.credential_id);
	bw_snprintf(out->actor, sizeof(out->actor), "%s", p.user_id);
	out->session[0] = '\0';
	out->scopes[0] = '\0';
	if (p.kind == IAM_PRINCIPAL_SESSION)
		bw_snprintf(out->session, sizeof(out->session), "%s", p.credential_id);
	else
		bw_snprintf(out->scopes, sizeof(out->scopes), "%s", p.scopes);
	return 0;
}

/* Step-up on sensitive admin routes, for human sessions (api.h). */
static int iam_step_up(void *arg, const struct api_principal *who, struct api_step_up *out)
{
	enum iam_stepup_state st;
	struct bw_err err;
	if (iam_stepup_state(arg, who->tenant, who->session, &st, &out->max_age_s, &err) < 0) {
		if (err.code >= 500)
			return -2;
		st = IAM_STEPUP_STALE; /* the session just ended: let it try */
	}
	out->enrol = st == IAM_STEPUP_ENROL;
	bw_snprintf(out->url, sizeof(out->url), "/api/v1/iam/self/step-up");
	bw_snprintf(out->page, sizeof(out->page), "/auth/%s/account", who->tenant);
	return st == IAM_STEPUP_FRESH ? 0 : 1;
}

/* The per-role "MFA required" policy asks the authorization engine. */
static int iam_role_held(void *arg, const char *tenant, const char *user_id, const char *role,
			 struct bw_err *err)
{
	(void)arg;
	char subject[160];
	if (user_id && bw_snprintf(subject, sizeof(subject), "user:%s", user_id) < 0)
		return bw_err_set(err, 400, "iam", "bad_user", "user id too long");
	return authz_platform_holds(W.authz, tenant, user_id ? subject : NULL, role, err);
}

/* Identity groups drive roles granted to "group:ID#member": every change
 * of membership is mirrored into the tenant's platform store, and a
 * deleted tenant's grants are forgotten. The identity store stays the
 * source of truth; a failed mirror is logged. */
static void iam_membership_mirror(void *arg, const char *tenant, const char *group_id,
				  const char *user_id, bool added)
{
	(void)arg;
	char subject[160];
	struct bw_err err;
	if (bw_snprintf(subject, sizeof(subject), "user:%s", user_id) < 0 ||
	    authz_platform_membership(W.authz, tenant, group_id, subject, added, &err) < 0)
		log_warnx("authz: group %s membership not mirrored for tenant %s", group_id,
			  tenant);
}

static void iam_tenant_forget(void *arg, const char *tenant)
{
	(void)arg;
	struct bw_err err;
	if (authz_platform_drop(W.authz, tenant, &err) < 0)
		log_warnx("authz: role grants of deleted tenant %s: %s", tenant, err.msg);
}

/*
 * The bootstrap token ends the first time a platform administrator sets a
 * password of their own (the one-time password of `bulwark init` or of a
 * recovery replaced): from then on real identities run the platform. The
 * token stops authenticating at once, its files and the one-time password
 * file are removed (so it stays retired across restarts), and the
 * bootstrap identity loses its roles. `bulwark iam recover-admin` is the
 * way back. Runs on a hashing-pool thread.
 */
static void bootstrap_check(void *arg, const char *tenant, const char *user_id)
{
	(void)arg;
	char subject[128];
	struct bw_err err;
	if (!atomic_load(&W.api.have_token) || strcmp(tenant, "platform") != 0 ||
	    bw_snprintf(subject, sizeof(subject), "user:%s", user_id) < 0 ||
	    !authz_platform_check(W.authz, "platform", subject, "iam.tenant.manage"))
		return;
	bool expected = true;
	if (!atomic_compare_exchange_strong(&W.api.have_token, &expected, false))
		return;
	static const char *const files[] = { "bootstrap-token.sha256",
					     "bootstrap-token", "admin-password" };
	for (size_t i = 0; i < BW_ARRAY_LEN(files); i++) {
		char p[4200];
		if (bw_snprintf(p, sizeof(p), "%s/%s", W.data_dir, files[i]) >= 0 &&
		    unlink(p) < 0 && errno != ENOENT)
			log_warn("bootstrap token: cannot remove %s", p);
	}
	if (authz_platform_assign(W.authz, "platform", "user:bootstrap",
				  "platform-admin", false, &err) < 0 ||
	    authz_platform_assign(W.authz, "platform", "user:bootstrap", "key-user",
				  false, &err) < 0)
		log_warnx("bootstrap token: revoking its roles: %s", err.msg);
	static const char details[] = "{\"reason\":\"admin_password_set\"}";
	struct audit_record rec = {
		.actor = { .tenant = bw_str_make("platform", 8), .kind = AUDIT_ACTOR_USER,
			   .id = bw_str_make(user_id, strlen(user_id)),
			   .ip = bw_str_make("", 0) },
		.action = bw_str_make("api.bootstrap_token.retire", 26),
		.target = bw_str_make("bootstrap-token", 15),
		.outcome = AUDIT_OUTCOME_SUCCESS,
		.request_id = bw_str_make("", 0),
		.details = bw_str_make(details, strlen(details)),
	};
	if (audit_append(W.audit, &rec, NULL, &err) < 0)
		log_warnx("bootstrap token retired, audit record failed: %s", err.msg);
	log_info("bootstrap token retired: platform administrator %s set a "
		 "password of their own", user_id);
}

/* The state store and the modules that keep their state in it. */
static void open_state(const struct server_conf *c)
{
	struct bw_err err;
	if (kms_api_register(W.kms) < 0)
		fatalx("kms: route table full");
	char path[4096];
	bw_snprintf(path, sizeof(path), "%s/state.db", c->server.data_dir);
	struct store_options so = { .driver = "sqlite", .path = path };
	W.store = store_open(&so, &err);
	if (!W.store)
		fatalx("state store %s: %s", path, err.msg);
	struct authz_options ao = { .store = W.store };
	W.authz = authz_engine_new(&ao, &err);
	/* The bootstrap identity holds its roles only while its token lives
	 * (until a platform administrator sets a password of their own). */
	bool boot = atomic_load(&W.api.have_token);
	if (!W.authz || authz_platform_init(W.authz, "platform", &err) < 0 ||
	    (authz_platform_assign(W.authz, "platform", "user:bootstrap",
				   "platform-admin", boot, &err) < 0 && boot))
		fatalx("authorization: %s", err.msg);
	W.api.authorize = platform_authorize;
	W.api.authorize_arg = W.authz;
	if (authz_api_register(W.authz) < 0)
		fatalx("authorization routes: table full");
	/* Separation of duties keeps key use out of platform-admin; the
	 * bootstrap identity (automation, tests) is given key use too. */
	if (authz_platform_assign(W.authz, "platform", "user:bootstrap", "key-user",
				  boot, &err) < 0 && boot)
		fatalx("authorization: %s", err.msg);

	/* Identity secrets (TOTP seeds, OIDC keys) are sealed by the keystore;
	 * values sealed by the earlier in-process key still open. */
	/* iam.public_url (OIDC issuers, federation redirect URIs; else the
	 * origin each request used), iam.blocklist_file, iam.federation. */
	struct iam_fed_conf fc;
	if (iam_fed_conf_bind(c->modules.iam, &fc, &err) < 0)
		fatalx("iam: %s", err.msg);
	struct iam_options io = { .store = W.store, .pool = W.hash_pool,
				  .password_set = bootstrap_check,
				  .membership_changed = iam_membership_mirror,
				  .tenant_deleted = iam_tenant_forget,
				  .role_held = iam_role_held,
				  .blocklist_path = fc.blocklist_file };
	bw_snprintf(W.data_dir, sizeof(W.data_dir), "%s", c->server.data_dir);
	if (kms_iam_sealer(W.kms, "platform", "_iam-seal", &io.sealer, &err) < 0)
		fatalx("identity sealer: %s", err.msg);
	char legacy_path[4096];
	bw_snprintf(legacy_path, sizeof(legacy_path), "%s/iam-seal.key", c->server.data_dir);
	if (access(legacy_path, R_OK) == 0) {
		uint8_t key[32];
		struct iam_sealer legacy;
		if (server_seal_key(c->server.data_dir, key, &err) < 0 ||
		    iam_sealer_local(&legacy, key, &err) < 0 ||
		    kms_iam_sealer_legacy(&io.sealer, &legacy, &err) < 0)
			fatalx("identity sealer (legacy): %s", err.msg);
		bw_wipe(key, sizeof(key));
	}
	W.iam = iam_new(&io, &err);
	if (!W.iam || iam_api_register(W.iam) < 0)
		fatalx("identity: %s", W.iam ? "route table full" : err.msg);
	W.api.authenticate = iam_bearer;
	W.api.authenticate_arg = W.iam;
	W.api.step_up = iam_step_up;
	W.api.step_up_arg = W.iam;
	W.oidc = iam_oidc_http_new(W.iam, W.pool, fc.public_url, &err);
	if (!W.oidc)
		fatalx("oidc: %s", err.msg);
	struct iam_fed_options fo = { .iam = W.iam, .base = fc.public_url,
				      .ca_file = fc.ca_file };
	if (!(W.fed = iam_fed_new(&fo, &err)))
		fatalx("federation: %s", err.msg);
	/* The CA: keys generated and used only in the keystore. */
	static struct pki_conf pc;
	if (pki_conf_bind(c->modules.pki, NULL, &pc, &err) < 0)
		fatalx("pki: %s", err.msg);
	const char *public_url = pc.public_url;
	W.pki_keys = kms_pki_keystore_new(W.kms, &err);
	struct pki_options po = { .store = W.store, .keys = W.pki_keys,
				  .public_url = public_url, .ocsp_sign_nonces = true };
	if (!W.pki_keys || !(W.pki = pki_new(&po, &err)) || pki_api_register(W.pki) < 0)
		fatalx("pki: %s", err.msg);
	W.pki_http = (struct pki_http){ .pki = W.pki, .pool = W.pool };
	/* ACME (RFC 8555) under /acme/{tenant}/ on the admin listener. URLs
	 * follow the Host a client used unless pki.acme_base_url is set. */
	struct pki_acme_options ao2 = { .pki = W.pki, .store = W.store, .pool = W.pool,
					.audit = W.audit, .base_url = pc.acme_base_url,
					.validation_addr = pc.acme_validation_addr,
					.http01_port = pc.acme_http01_port,
					.tlsalpn01_port = pc.acme_tlsalpn01_port };
	W.acme = pki_acme_new(&ao2, &err);
	if (!W.acme || pki_acme_api_register(W.acme) < 0)
		fatalx("acme: %s", W.acme ? "route table full" : err.msg);
	/* Certificates of bulwark's own listeners (private CA or ACME),
	 * OCSP staples and expiry alerts; http-01 on the pki listener. */
	struct pki_lcert_options lo = {
		.pki = W.pki, .store = W.store, .keys = W.pki_keys, .audit = W.audit,
		.specs = pc.specs, .nspecs = pc.nspecs,
		.check_interval_ms = (int64_t)pc.cert_check_interval_ms,
		.alert_days = pc.alert_days, .nalerts = pc.nalerts, .no_staple = !pc.staple };
	/* Listener keys are kept sealed by the keystore, so a restart serves
	 * the same certificates instead of ordering new ones. */
	if (kms_iam_sealer(W.kms, "platform", "_pki-lcert-seal", &W.lcert_sealer, &err) < 0)
		fatalx("listener certificate sealer: %s", err.msg);
	struct pki_lcert_sealer lsealer = { .seal = W.lcert_sealer.seal,
					    .open = W.lcert_sealer.open,
					    .ctx = W.lcert_sealer.ctx };
	lo.sealer = &lsealer;
	W.lcert = pki_lcert_new(&lo, &err);
	if (!W.lcert || pki_lcert_api_register(W.lcert) < 0)
		fatalx("pki: %s", W.lcert ? "route table full" : err.msg);
	W.pki_http.lcert = W.lcert;
	if (gateway_use_identities(W.gen->gw, gw_identity_use, NULL, &err) < 0)
		fatalx("gateway: %s", err.msg);
	if (api_mount(&W.api, "/acme/", pki_acme_handle, W.acme) < 0)
		fatalx("admin listener: too many path handlers");
	W.siem = siem_service_new(c->modules.siem, c->server.data_dir, &err);
	if (!W.siem || siem_api_register(W.siem) < 0)
		fatalx("siem: %s", W.siem ? "route table full" : err.msg);
	if (waf_api_register() < 0)
		fatalx("waf: route table full");
	W.api.pre_route = siem_http_ingest;
	W.api.pre_route_arg = W.siem;
	W.api.metrics_extra = siem_metrics_write_cb;
	W.api.metrics_extra_arg = W.siem;
	if (api_mount(&W.api, "/oidc/", iam_oidc_net_handler, W.oidc) < 0)
		fatalx("admin listener: too many path handlers");
	/* The login, MFA and consent pages (iam.pages / iam.otp). */
	struct iam_pages_conf pgc;
	if (iam_pages_conf_bind(c->modules.iam, &pgc, &err) < 0)
		fatalx("iam: %s", err.msg);
	pgc.opt.iam = W.iam;
	pgc.opt.pool = W.pool;
	pgc.opt.hash_pool = W.hash_pool;
	pgc.opt.audit = W.audit;
	W.pages = iam_pages_new(&pgc.opt, &err);
	iam_pages_conf_fini(&pgc);
	if (!W.pages)
		fatalx("iam pages: %s", err.msg);
	if (api_mount(&W.api, "/auth/", iam_pages_net_handler, W.pages) < 0)
		fatalx("admin listener: too many path handlers");
	if (api_mount(&W.api, "/federation/", iam_fed_net_handler, W.fed) < 0)
		fatalx("admin listener: too many path handlers");
}

static void pki_tick_work(void *arg)
{
	struct bw_err err;
	if (pki_tick(W.pki, &err) < 0)
		log_warnx("pki: scheduled CRL/OCSP refresh: %s", err.msg);
}

/* CRLs and pre-signed OCSP responses are refreshed every minute, on the
 * pool (signing goes through the keystore). */
static void on_pki_timer(struct loop *l, struct loop_timer *t)
{
	if (tpool_submit(W.pool, pki_tick_work, NULL, NULL, NULL) < 0)
		log_warnx("pki: refresh skipped, thread pool full");
	if (loop_timer_arm(l, t, 60000) < 0)
		log_warnx("pki: cannot re-arm the refresh timer");
}

static int want_reload(void)
{
	return ctl_send(W.ctl_fd, CTL_WANT_RELOAD, 0, NULL, 0, NULL, 0);
}

/* ----------------------------------------------------------- privileges */

static void drop_privileges(const struct server_conf *c)
{
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(c->server.user);
		if (!pw)
			fatalx("user '%s' does not exist (run bulwark init as root)",
			       c->server.user);
		if (setgroups(1, &pw->pw_gid) < 0 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
			fatal("cannot drop privileges to %s", c->server.user);
		if (setuid(0) == 0)
			fatalx("privileges could be regained after dropping them");
		log_info("running as %s (uid %u)", c->server.user, (unsigned)pw->pw_uid);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("PR_SET_NO_NEW_PRIVS");
}

/* ---------------------------------------------------------------- main */

_Noreturn void server_worker_main(const char *text, size_t len, const char *path,
				  struct server_files *files, int kms_fd,
				  struct bound_listener *bls, size_t nls,
				  unsigned workers, int ctl_fd)
{
	struct bw_err err;
	log_set_role("worker");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGCHLD);
	/* Blocked in every thread; only SIGTERM is read (signalfd). Ctrl-C
	 * reaches the whole process group: the supervisor decides. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	W.ctl_fd = ctl_fd;
	W.n = workers;
	W.gen = generation_build(path, text, len, files, &err);
	server_files_wipe(files); /* key text lives on only inside OpenSSL */
	if (!W.gen)
		fatalx("worker: %s", err.msg);
	const struct server_conf *c = &W.gen->conf;
	drop_privileges(c);

	struct audit_config ac;
	audit_config_defaults(&ac);
	ac.dir = c->server.data_dir;
	ac.file_name = c->audit.file;
	ac.sth_every_records = c->audit.sth_every_records;
	ac.sth_every_ms = (uint32_t)c->audit.sth_interval;
	/* The audit log's tree heads are signed in the keystore. A key file
	 * from an earlier installation is imported once (and scrubbed), so the
	 * existing log keeps verifying under the same key. */
	W.kms = kms_client_new(kms_fd, &err);
	if (!W.kms)
		fatalx("kms: %s", err.msg);
	char keypath[4096];
	bw_snprintf(keypath, sizeof(keypath), "%s/audit-signing.key", c->server.data_dir);
	if (kms_wait_ready(W.kms, 10000, &err) == 0) {
		if (access(keypath, F_OK) == 0 &&
		    kms_audit_key_import_file(W.kms, "_audit-sth", keypath, &err) < 0)
			fatalx("audit signing key migration: %s", err.msg);
		if (kms_audit_signer(W.kms, "_audit-sth", &W.signer, &err) < 0)
			fatalx("audit signing key: %s", err.msg);
		W.have_signer = true;
		W.kms_signer = true;
		ac.signer = &W.signer;
	} else {
		/* Sealed (shares or passphrase not given yet): the log runs
		 * without signed tree heads until the next start. */
		log_warnx("keystore not ready (%s): the audit log writes no signed "
			  "tree heads this run; unseal with bulwark operator unseal",
			  err.msg);
	}
	W.audit = audit_log_open(&ac, &err);
	if (!W.audit)
		fatalx("audit log: %s", err.msg);

	if (net_fetch_global_init(&err) < 0)
		fatalx("%s", err.msg);
	W.pool = tpool_new((int)c->server.pool_threads, c->server.pool_queue, &err);
	if (!W.pool)
		fatalx("thread pool: %s", err.msg);
	gw_services_set(W.gen->gw); /* built before the pool existed */
	/* Password hashing gets its own bounded pool, one thread fewer than
	 * the cores (at least one, at most pool_threads): a burst of logins
	 * then leaves a core to the event loops and never queues the other
	 * blocking work behind ~45 ms Argon2id jobs. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int hash_threads = ncpu > 1 ? (int)ncpu - 1 : 1;
	if (hash_threads > (int)c->server.pool_threads)
		hash_threads = (int)c->server.pool_threads;
	W.hash_pool = tpool_new(hash_threads, c->server.pool_queue, &err);
	if (!W.hash_pool)
		fatalx("hashing pool: %s", err.msg);
	W.api.audit = W.audit;
	W.api.pool = W.pool;
	W.api.clock_control = c->testing.clock_control;
	W.api.started_s = bw_clock_now_s();
	W.api.workers = workers;
	W.api.request_reload = want_reload;
	if (api_load_token_hash(&W.api, c->server.data_dir, &err) < 0)
		log_info("no bootstrap token (retired, or never created): sign in "
			 "as a platform administrator; `bulwark iam recover-admin` "
			 "restores access");

	if (api_system_register() < 0)
		fatalx("api: route table full");
	open_state(c);
	/* The PKCS#11 module's socket (kms.pkcs11 in the config). */
	struct kms_p11_conf p11c;
	if (kms_p11_conf_parse(c->modules.kms, c->server.run_dir, &p11c, &err) < 0)
		fatalx("kms.pkcs11: %s", err.msg);
	if (p11c.enabled) {
		struct kms_p11_options po = {
			.kms = W.kms, .iam = W.iam, .authz = W.authz, .audit = W.audit,
			.bootstrap_hash = W.api.token_hash, .bootstrap_live = &W.api.have_token,
			.path = p11c.socket, .mode = p11c.mode, .max_conns = p11c.max_conns,
			.audit_per_second = p11c.audit_per_second
		};
		if (!(W.p11 = kms_p11_serve_start(&po, &err)))
			fatalx("pkcs11: %s", err.msg);
	}
	generation_attach(W.gen);
	if (bw_event_subscribe(siem_bus_subscriber, W.siem) < 0 ||
	    siem_service_start(W.siem, &err) < 0)
		fatalx("siem: %s", err.msg);
	if (bw_event_subscribe(api_metrics_subscriber, NULL) < 0 ||
	    bw_event_bus_start(&err) < 0)
		fatalx("event bus: %s", err.msg);

	for (unsigned i = 0; i < workers; i++) {
		struct wthread *t = &W.threads[i];
		t->index = i;
		t->loop = loop_new(c->http.max_connections * 2 + 64, &err);
		if (!t->loop || !(t->net = net_thread_new(t->loop, &err)))
			fatalx("worker thread: %s", err.msg);
	}
	for (size_t l = 0; l < nls && l < MAX_LISTENERS; l++) {
		bw_event_set(W.ls[l].name, sizeof(W.ls[l].name), bls[l].name);
		bw_event_set(W.ls[l].address, sizeof(W.ls[l].address), bls[l].address);
		W.ls[l].port_conf = bls[l].port_conf;
		W.nls++;
		const struct server_listener_conf *lc =
			&((const struct server_listener_conf *)W.gen->conf.listeners.v)[l];
		for (unsigned i = 0; i < workers; i++) {
			if (!server_listener_is_http(lc->kind)) {
				/* On the thread's own loop, once it runs. */
				struct task *k = calloc(1, sizeof(*k));
				if (!k)
					fatalx("out of memory");
				k->op = TASK_SIEM_ATTACH;
				k->t = &W.threads[i];
				k->fd = bls[l].fds[i];
				k->kind = lc->kind;
				k->tls = W.gen->stream_tls[l][i];
				W.gen->stream_tls[l][i] = NULL;
				bw_event_set(k->name, sizeof(k->name), bls[l].name);
				if (loop_post(W.threads[i].loop, run_task, k) < 0)
					fatalx("cannot post to worker thread");
				continue;
			}
			if (net_thread_listen(W.threads[i].net, bls[l].name,
					      bls[l].fds[i], W.gen->srv[l], &err) < 0)
				fatalx("listener %s: %s", bls[l].name, err.msg);
		}
	}

	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	W.sig_io = (struct loop_io){ .fd = sfd, .cb = on_signal };
	W.ctl_io = (struct loop_io){ .fd = ctl_fd, .cb = on_ctl };
	if (sfd < 0 || loop_io_add(W.threads[0].loop, &W.sig_io, EPOLLIN) < 0 ||
	    loop_io_add(W.threads[0].loop, &W.ctl_io, EPOLLIN) < 0)
		fatal("worker control setup");

	for (unsigned i = 1; i < workers; i++)
		if (pthread_create(&W.threads[i].th, NULL, thread_main, &W.threads[i]) != 0)
			fatalx("cannot start worker thread");
	loop_timer_init(&W.pki_timer, on_pki_timer, NULL);
	if (loop_timer_arm(W.threads[0].loop, &W.pki_timer, 5000) < 0)
		fatalx("pki: cannot arm the refresh timer");
	atomic_store(&W.api.ready, 1);
	(void)ctl_send(ctl_fd, CTL_READY, workers, NULL, 0, NULL, 0);
	log_info("worker ready: %u threads", workers);

	thread_main(&W.threads[0]);
	for (unsigned i = 1; i < workers; i++)
		pthread_join(W.threads[i].th, NULL);

	/* Loops are stopped. Order matters: the pool finishes its jobs; the
	 * connections close (those a handler still owns are freed when it
	 * answers); the audit log commits what is queued and writes its final
	 * signed tree head; only then are the loops freed, running the
	 * completions posted to them on the way. */
	iam_fed_free(W.fed); /* its logins answer on the loops */
	W.fed = NULL;
	kms_p11_serve_stop(W.p11); /* before the audit log, iam and kms it uses */
	tpool_free(W.hash_pool);
	tpool_free(W.pool);
	for (unsigned i = 0; i < workers; i++) {
		net_thread_free(W.threads[i].net);
		gateway_thread_fini(W.threads[i].loop);
	}
	int rc = 0;
	if (audit_log_close(W.audit, &err) < 0) {
		log_warnx("audit log close: %s", err.msg);
		rc = 1;
	}
	for (unsigned i = 0; i < workers; i++)
		loop_free(W.threads[i].loop);
	pki_lcert_free(W.lcert); /* before the TLS contexts it updates go */
	W.lcert = NULL;
	if (W.lcert_sealer.free)
		W.lcert_sealer.free(W.lcert_sealer.ctx);
	W.lcert_sealer = (struct iam_sealer){ 0 };
	pki_acme_free(W.acme);
	pki_free(W.pki);
	pki_keystore_free(W.pki_keys);
	iam_pages_free(W.pages);
	iam_oidc_http_free(W.oidc);
	iam_free(W.iam);
	authz_engine_free(W.authz);
	store_close(W.store);
	bw_event_bus_stop();
	siem_service_free(W.siem); /* every accepted event is stored first */
	if (W.kms_signer)
		kms_audit_signer_fini(&W.signer);
	kms_client_free(W.kms);
	generation_free(W.gen);
	log_info("worker stopped");
	exit(rc);
}
