/*
 * The supervisor: the only process that may keep root. It reads the
 * config, binds every listening socket (one per worker thread, with
 * SO_REUSEPORT), writes the pid and ports files, forks the worker, and then
 * only reacts to signals and control messages: reload (SIGHUP), graceful
 * shutdown (SIGTERM, SIGINT), and restart of a worker that died. It never
 * reads from a network socket.
 */
#include "server/server_int.h"
#include "net/net.h"
#include "keystore/keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUP_MAX_LISTENERS 32

static struct {
	const char *config_path;
	char *text;
	size_t len;
	struct bw_arena *arena;
	struct server_conf conf;
	struct server_files files;
	unsigned workers;
	struct bound_listener ls[SUP_MAX_LISTENERS];
	size_t nls;
	/* listeners bound for a reload in flight */
	struct bound_listener pending[SUP_MAX_LISTENERS];
	size_t npending;
	struct bw_arena *pending_arena;
	struct server_conf pending_conf;
	char *pending_text;
	size_t pending_len;
	bool reload_in_flight;
	pid_t worker;
	pid_t keystore;
	int ks_fd;    /* the worker's end of the keystore socket, until handed over */
	int ctl;
	int pidfd;
	char pidfile[4096], portsfile[4096];
	uid_t uid;
	gid_t gid;
	bool drop;
} S;

static void close_listener(struct bound_listener *b)
{
	for (size_t i = 0; i < b->n; i++)
		close(b->fds[i]);
	b->n = 0;
}

static int bind_listener(const struct server_listener_conf *l, unsigned n,
			 struct bound_listener *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	bw_snprintf(out->name, sizeof(out->name), "%s", l->name);
	bw_snprintf(out->address, sizeof(out->address), "%s", l->address);
	out->port_conf = l->port;
	uint16_t port = l->port;
	for (unsigned i = 0; i < n; i++) {
		int fd = l->kind == SERVER_LISTENER_SYSLOG_UDP ?
				 net_udp_bind(l->address, port, true, err) :
				 net_listen_tcp(l->address, port, true, 511, err);
		if (fd < 0) {
			close_listener(out);
			return -1;
		}
		out->fds[out->n++] = fd;
		if (i == 0)
			port = (uint16_t)net_socket_port(fd);
	}
	out->port = port;
	return 0;
}

static const struct bound_listener *find_bound(const struct bound_listener *ls,
					       size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ls[i].name, name) == 0)
			return &ls[i];
	return NULL;
}

static const char *kind_name(int kind)
{
	static const char *const names[] = { "admin", "gateway", "syslog_udp",
					     "syslog_tcp", "syslog_tls", "relp", "pki" };
	return kind >= 0 && kind < (int)BW_ARRAY_LEN(names) ? names[kind] : "?";
}

static const char *url_scheme(const struct server_listener_conf *l)
{
	switch (l->kind) {
	case SERVER_LISTENER_SYSLOG_UDP:
		return "udp";
	case SERVER_LISTENER_SYSLOG_TCP:
		return "tcp";
	case SERVER_LISTENER_SYSLOG_TLS:
		return "tls";
	case SERVER_LISTENER_RELP:
		return l->tls ? "relp+tls" : "relp";
	default:
		return l->tls ? "https" : "http";
	}
}

static void write_ports(void)
{
	struct bw_buf b;
	bw_buf_init(&b, 65536);
	int rc = bw_buf_append_str(&b, "{");
	const struct server_listener_conf *lc = S.conf.listeners.v;
	for (size_t i = 0; i < S.nls; i++) {
		const struct server_listener_conf *l = &lc[i];
		const char *host = strchr(S.ls[i].address, ':') ? "[::1]" :
				   strcmp(S.ls[i].address, "0.0.0.0") == 0 ? "127.0.0.1" :
									   S.ls[i].address;
		rc |= bw_buf_printf(&b,
				    "%s\"%s\":{\"port\":%u,\"address\":\"%s\",\"tls\":%s,"
				    "\"kind\":\"%s\",\"url\":\"%s://%s:%u/\"}",
				    i ? "," : "", S.ls[i].name, S.ls[i].port,
				    S.ls[i].address, l->tls ? "true" : "false",
				    kind_name(l->kind), url_scheme(l), host, S.ls[i].port);
	}
	rc |= bw_buf_append_str(&b, "}\n");
	struct bw_err err;
	if (rc || bw_file_write_atomic(S.portsfile, b.data, b.len, 0644, &err) < 0)
		log_warnx("cannot write %s", S.portsfile);
	bw_buf_fini(&b);
}

/* ----------------------------------------------------------- pid file */

static int take_pidfile(const char *run_dir)
{
	bw_snprintf(S.pidfile, sizeof(S.pidfile), "%s/bulwark.pid", run_dir);
	bw_snprintf(S.portsfile, sizeof(S.portsfile), "%s/ports.json", run_dir);
	int fd = open(S.pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "bulwark: %s: %s\n", S.pidfile, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fprintf(stderr, "bulwark: already running (pid %s) with data in %s\n",
			buf[0] ? buf : "?", S.conf.server.data_dir);
		close(fd);
		return -1;
	}
	char buf[32];
	int n = bw_snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		close(fd);
		return -1;
	}
	S.pidfd = fd;
	return 0;
}

/* ----------------------------------------------------------- keystore */

static enum keystore_seal_type unseal_mode(void)
{
	static const char *const modes[] = { "auto", "shamir", "passphrase", NULL };
	int idx = 0;
	struct bw_err err;
	if (S.conf.modules.kms &&
	    conf_opt_enum(S.conf.modules.kms, "unseal", modes, 0, &idx, &err) < 0)
		log_warnx("kms.unseal: %s (using auto)", err.msg);
	return idx == 1 ? KEYSTORE_SEAL_SHAMIR :
	       idx == 2 ? KEYSTORE_SEAL_PASSPHRASE : KEYSTORE_SEAL_AUTO;
}

/* Forks a child connected to us by a fresh SOCK_SEQPACKET socketpair.
 * Returns the child's pid in the parent (*end is ours; the child's end is
 * closed), 0 in the child (*end is the child's; ours is closed), or -1. */
static pid_t fork_with_pair(const char *what, int *end)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		log_warn("%s socketpair", what);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("fork %s", what);
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	close(sp[pid == 0 ? 0 : 1]);
	*end = sp[pid == 0 ? 1 : 0];
	return pid;
}

/* Forks the key process on a fresh socketpair. Its end of the pair is the
 * only descriptor it keeps; ours (S.ks_fd) goes to the worker. The key
 * process stays root-owned so the worker's user cannot read its files. */
static int start_keystore(void)
{
	int end;
	pid_t pid = fork_with_pair("keystore", &end);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Keep only the socket and stdio. */
		int keep = end;
		long maxfd = sysconf(_SC_OPEN_MAX);
		for (int fd = 3; fd < (maxfd > 0 && maxfd < 65536 ? maxfd : 65536); fd++)
			if (fd != keep)
				close(fd);
		log_set_role("keystore");
		struct keystore_options o = { .data_dir = S.conf.server.data_dir,
					      .unseal_mode = unseal_mode(),
					      .log_level = (enum bw_log_level)S.conf.log.level };
		keystore_main(keep, &o);
	}
	if (S.ks_fd >= 0)
		close(S.ks_fd);
	S.ks_fd = end;
	S.keystore = pid;
	log_info("started keystore (pid %d)", (int)pid);
	return 0;
}

/* ------------------------------------------------------------- worker */

static int start_worker(void)
{
	/* The key process outlives worker restarts: the supervisor keeps a
	 * copy of the worker's end of its socket (S.ks_fd) and hands that
	 * same socket to each new worker. An installation sealed with Shamir
	 * shares or a passphrase therefore stays unsealed when the worker
	 * crashes; only the key process's own death (restarted sealed, or
	 * auto-unsealed) asks the operator again. */
	if (S.keystore <= 0 || S.ks_fd < 0) {
		if (S.keystore > 0) {
			kill(S.keystore, SIGTERM);
			S.keystore = -1;
		}
		if (start_keystore() < 0)
			return -1;
	}
	int end;
	pid_t pid = fork_with_pair("worker", &end);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(S.pidfd);
		server_worker_main(S.text, S.len, S.config_path, &S.files, S.ks_fd,
				   S.ls, S.nls, S.workers, end);
	}
	S.ctl = end; /* S.ks_fd stays open: see above */
	S.worker = pid;
	log_info("started worker (pid %d)", (int)pid);
	return 0;
}

/* ------------------------------------------------------------- reload */

static void reload_abort(void)
{
	for (size_t i = 0; i < S.npending; i++) {
		/* Only sockets bound for this reload are ours to close; the
		 * reused ones are still in S.ls. */
		const struct bound_listener *b = find_bound(S.ls, S.nls, S.pending[i].name);
		if (!b || S.pending[i].fds[0] != b->fds[0])
			close_listener(&S.pending[i]);
	}
	S.npending = 0;
	bw_arena_free(S.pending_arena);
	S.pending_arena = NULL;
	free(S.pending_text);
	S.pending_text = NULL;
	S.reload_in_flight = false;
}

static void reload_begin(void)
{
	struct bw_err err;
	if (S.reload_in_flight) {
		log_warnx("reload already in progress");
		return;
	}
	size_t len;
	char *text = bw_file_read(S.config_path, 1024 * 1024, &len, &err);
	struct bw_arena *a = bw_arena_new(16384, 16 << 20);
	if (!text || !a ||
	    server_conf_load_text(S.config_path, text, len, a, &S.pending_conf, &err) < 0) {
		log_warnx("reload refused, keeping the running configuration: %s",
			  err.msg);
		free(text);
		bw_arena_free(a);
		return;
	}
	if (server_worker_count(&S.pending_conf) != S.workers)
		log_warnx("server.workers changes take effect on restart");
	struct server_files files;
	if (server_files_load(&S.pending_conf, &files, &err) < 0) {
		log_warnx("reload refused, keeping the running configuration: %s",
			  err.msg);
		free(text);
		bw_arena_free(a);
		return;
	}
	struct bw_buf payload;
	bw_buf_init(&payload, CTL_MAX_PAYLOAD);
	int enc = server_files_encode(&files, text, len, &payload);
	server_files_wipe(&files);
	if (enc < 0) {
		log_warnx("reload refused: TLS files too large to hand over");
		bw_buf_wipe_fini(&payload);
		free(text);
		bw_arena_free(a);
		return;
	}
	S.pending_arena = a;
	S.pending_text = text;
	S.pending_len = len;
	S.npending = 0;
	const struct server_listener_conf *lc = S.pending_conf.listeners.v;
	int fds[CTL_MAX_FDS];
	size_t nfds = 0;
	for (size_t i = 0; i < S.pending_conf.listeners.n; i++) {
		const struct bound_listener *old = find_bound(S.ls, S.nls, lc[i].name);
		struct bound_listener *p = &S.pending[S.npending++];
		if (old && strcmp(old->address, lc[i].address) == 0 &&
		    old->port_conf == lc[i].port) {
			*p = *old; /* same sockets */
		} else if (bind_listener(&lc[i], S.workers, p, &err) < 0) {
			S.npending--;
			log_warnx("reload refused: listener %s: %s", lc[i].name, err.msg);
			bw_buf_wipe_fini(&payload);
			reload_abort();
			return;
		}
		if (nfds + p->n > CTL_MAX_FDS) {
			log_warnx("reload refused: too many listener sockets");
			bw_buf_wipe_fini(&payload);
			reload_abort();
			return;
		}
		memcpy(fds + nfds, p->fds, p->n * sizeof(int));
		nfds += p->n;
	}
	int sent = ctl_send(S.ctl, CTL_RELOAD, 0, payload.data, payload.len, fds, nfds);
	bw_buf_wipe_fini(&payload);
	if (sent < 0) {
		log_warnx("reload: cannot reach the worker");
		reload_abort();
		return;
	}
	S.reload_in_flight = true;
}

static void reload_finish(bool ok, const char *why)
{
	if (!S.reload_in_flight)
		return;
	if (!ok) {
		log_warnx("worker refused the new configuration: %s", why ? why : "");
		reload_abort();
		return;
	}
	/* Close sockets the new configuration no longer uses. */
	for (size_t i = 0; i < S.nls; i++) {
		const struct bound_listener *p = find_bound(S.pending, S.npending,
							    S.ls[i].name);
		if (!p || p->fds[0] != S.ls[i].fds[0])
			close_listener(&S.ls[i]);
	}
	memcpy(S.ls, S.pending, sizeof(S.pending[0]) * S.npending);
	S.nls = S.npending;
	S.npending = 0;
	bw_arena_free(S.arena);
	free(S.text);
	S.arena = S.pending_arena;
	S.conf = S.pending_conf;
	S.text = S.pending_text;
	S.len = S.pending_len;
	S.pending_arena = NULL;
	S.pending_text = NULL;
	S.reload_in_flight = false;
	/* A restarted worker must get the same files as the running one. */
	struct server_files files;
	struct bw_err err;
	if (server_files_load(&S.conf, &files, &err) == 0) {
		server_files_wipe(&S.files);
		S.files = files;
	} else {
		log_warnx("TLS files changed after the reload: %s", err.msg);
	}
	write_ports();
	log_info("reload complete");
}

/* --------------------------------------------------------------- setup */

static int prepare_dirs(void)
{
	const char *dirs[] = { S.conf.server.data_dir, S.conf.server.run_dir };
	for (size_t i = 0; i < 2; i++) {
		if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "bulwark: %s: %s\n", dirs[i], strerror(errno));
			return -1;
		}
		/* Owner-only, owned by the user the worker runs as. */
		if (chmod(dirs[i], 0700) < 0 ||
		    (S.drop && chown(dirs[i], S.uid, S.gid) < 0)) {
			fprintf(stderr, "bulwark: %s: %s\n", dirs[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

int server_serve(const char *config_path)
{
	struct bw_err err;
	log_init("supervisor", BW_LOG_INFO, 2);
	S.config_path = config_path;
	S.ks_fd = -1;
	S.keystore = -1;
	S.text = bw_file_read(config_path, 1024 * 1024, &S.len, &err);
	S.arena = bw_arena_new(16384, 16 << 20);
	if (!S.text || server_conf_load_text(config_path, S.text, S.len, S.arena,
					     &S.conf, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return 1;
	}
	log_set_level((enum bw_log_level)S.conf.log.level);
	if (S.conf.log.file) {
		int fd = open(S.conf.log.file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			      0600);
		if (fd < 0) {
			fprintf(stderr, "bulwark: %s: %s\n", S.conf.log.file,
				strerror(errno));
			return 1;
		}
		log_init("supervisor", (enum bw_log_level)S.conf.log.level, fd);
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(S.conf.server.user);
		if (!pw) {
			fprintf(stderr, "bulwark: user '%s' does not exist; run "
				"'bulwark init' as root to create it\n",
				S.conf.server.user);
			return 1;
		}
		S.uid = pw->pw_uid;
		S.gid = pw->pw_gid;
		S.drop = true;
	}
	if (prepare_dirs() < 0 || take_pidfile(S.conf.server.run_dir) < 0)
		return 1;
	/* Certificates, keys and the client CA are read here and handed to
	 * the worker, which never opens them (keys stay root's 0600 files). */
	if (server_files_load(&S.conf, &S.files, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return 1;
	}
	S.workers = server_worker_count(&S.conf);
	const struct server_listener_conf *lc = S.conf.listeners.v;
	if (S.conf.listeners.n * S.workers > CTL_MAX_FDS || S.workers > 64) {
		fprintf(stderr, "bulwark: too many listeners x workers (max %d)\n",
			CTL_MAX_FDS);
		return 1;
	}
	for (size_t i = 0; i < S.conf.listeners.n; i++) {
		if (bind_listener(&lc[i], S.workers, &S.ls[S.nls], &err) < 0) {
			fprintf(stderr, "bulwark: listener %s: %s\n", lc[i].name, err.msg);
			return 1;
		}
		S.nls++;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || start_worker() < 0)
		return 1;

	bool stopping = false, ever_ready = false;
	int64_t kill_at = 0, restart_at = 0, backoff_ms = 1000;
	int exit_code = 0;
	for (;;) {
		struct pollfd pfd[2] = { { sfd, POLLIN, 0 }, { S.ctl, POLLIN, 0 } };
		int timeout = -1;
		int64_t now = bw_clock_mono_ms();
		if (kill_at)
			timeout = (int)(kill_at > now ? kill_at - now : 0);
		if (restart_at)
			timeout = (int)(restart_at > now ? restart_at - now : 0);
		int n = poll(pfd, S.worker > 0 && S.ctl >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			fatal("poll");
		now = bw_clock_mono_ms();
		if (kill_at && now >= kill_at && S.worker > 0) {
			log_warnx("worker did not stop in time; killing it");
			kill(S.worker, SIGKILL);
			kill_at = 0;
		}
		if (restart_at && now >= restart_at && !stopping) {
			restart_at = 0;
			if (start_worker() < 0)
				restart_at = now + backoff_ms;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					if (!stopping) {
						log_info("stopping (signal %u)", si.ssi_signo);
						stopping = true;
						restart_at = 0;
						/* Our copies of the listening sockets go
						 * now, so once the worker closes its own
						 * the ports refuse new connections. */
						for (size_t i = 0; i < S.nls; i++)
							close_listener(&S.ls[i]);
						if (S.worker > 0) {
							(void)ctl_send(S.ctl, CTL_SHUTDOWN, 0,
								       NULL, 0, NULL, 0);
							kill_at = now + (int64_t)
								S.conf.server.shutdown_timeout + 5000;
						}
					}
				} else if (si.ssi_signo == SIGHUP) {
					log_info("reload requested (SIGHUP)");
					if (S.worker > 0)
						reload_begin();
				} else if (si.ssi_signo == SIGCHLD) {
					int st;
					pid_t p;
					while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
						if (p == S.keystore) {
							S.keystore = -1;
							if (stopping || S.worker <= 0)
								continue;
							if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
								log_warnx("keystore failed its self-tests; "
									  "key operations stay unavailable");
								continue;
							}
							log_warnx("keystore died (%s %d); restarting it",
								  WIFSIGNALED(st) ? "signal" : "status",
								  WIFSIGNALED(st) ? WTERMSIG(st) :
										    WEXITSTATUS(st));
							if (start_keystore() == 0 && S.ctl >= 0) {
								(void)ctl_send(S.ctl, CTL_KMS_SOCKET, 0, NULL,
									       0, &S.ks_fd, 1);
							}
							continue;
						}
						if (p != S.worker)
							continue;
						S.worker = -1;
						close(S.ctl);
						S.ctl = -1;
						if (S.reload_in_flight)
							reload_abort();
						if (stopping) {
							exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
							continue;
						}
						if (!ever_ready) {
							/* It never served: restarting would
							 * fail the same way (a bad rule
							 * file, a missing module section). */
							log_warnx("worker failed to start; stopping "
								  "(see the error above)");
							fprintf(stderr, "bulwark: the worker failed to "
								"start; see the log above\n");
							stopping = true;
							exit_code = 1;
							continue;
						}
						log_warnx("worker died (%s %d); restarting in %lld ms",
							  WIFSIGNALED(st) ? "signal" : "status",
							  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
							  (long long)backoff_ms);
						restart_at = now + backoff_ms;
						backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
					}
				}
			}
		}
		if (n > 0 && S.ctl >= 0 && (pfd[1].revents & (POLLIN | POLLHUP))) {
			struct ctl_msg m;
			char *payload = NULL;
			int fds[CTL_MAX_FDS];
			int r = ctl_recv(S.ctl, &m, &payload, fds);
			if (r == 1) {
				if (m.type == CTL_READY) {
					ever_ready = true;
					write_ports();
					backoff_ms = 1000;
					log_info("ready");
				} else if (m.type == CTL_RELOAD_RESULT) {
					reload_finish(m.arg == 0, payload);
				} else if (m.type == CTL_WANT_RELOAD) {
					log_info("reload requested (admin API)");
					reload_begin();
				}
			} else if (r == 0) {
				close(S.ctl); /* worker exiting; SIGCHLD follows */
				S.ctl = -1;
			}
			free(payload);
		}
		if (stopping && S.worker <= 0)
			break;
	}
	if (S.ks_fd >= 0)
		close(S.ks_fd);
	if (S.keystore > 0) {
		/* The worker is gone and our copy of its socket is closed, so
		 * the key process exits by itself; make sure and reap it. */
		int st;
		kill(S.keystore, SIGTERM);
		waitpid(S.keystore, &st, 0);
	}
	for (size_t i = 0; i < S.nls; i++)
		close_listener(&S.ls[i]);
	unlink(S.portsfile);
	unlink(S.pidfile);
	close(S.pidfd);
	log_info("stopped");
	server_files_wipe(&S.files);
	bw_arena_free(S.arena);
	free(S.text);
	return exit_code;
}
