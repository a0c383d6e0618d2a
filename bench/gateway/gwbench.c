/*
 * gwbench — the gateway alone, for benchmarks: one event-loop thread with a
 * plaintext HTTP listener whose handler is gateway_handle, configured from
 * the `gateway:` section of a YAML file. No supervisor, audit log or admin
 * API, so the numbers are the proxy's own.
 *
 *   gwbench CONFIG.yaml PORT
 *
 * Runs until SIGTERM/SIGINT; prints "ready" on stdout once listening.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "conf/conf.h"
#include "gateway/gateway.h"
#include "net/net.h"

static struct loop *lp;

static void on_signal(struct loop *l, struct loop_io *io, uint32_t ev)
{
	loop_stop(l);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: gwbench CONFIG.yaml PORT\n");
		return 2;
	}
	log_init("gwbench", BW_LOG_WARN, 2);
	struct bw_err err;
	struct bw_arena *a = bw_arena_new(16384, 16 << 20);
	struct conf_doc *doc = conf_load_file(argv[1], a, &err);
	struct gateway_conf gc;
	struct gateway *gw = NULL;
	if (!doc || gateway_conf_bind(conf_get(doc->root, "gateway"), a, &gc, &err) < 0 ||
	    !(gw = gateway_new(&gc, &err)))
		fatalx("%s", err.msg);
	uint64_t port;
	if (bw_str_to_u64(bw_str_make(argv[2], strlen(argv[2])), &port) < 0 || port > 65535)
		fatalx("bad port");
	struct net_http_options o = {
		.name = "gateway", .header_timeout_ms = 10000, .body_timeout_ms = 30000,
		.idle_timeout_ms = 300000, .write_timeout_ms = 30000, .max_conns = 16384,
		.handler = gateway_handle, .handler_arg = gw,
		.dispatch_at_head = true, /* as the daemon: bodies stream */
	};
	http_limits_default(&o.limits);
	struct net_http_server *s = net_http_server_new(&o, &err);
	lp = loop_new(65536, &err);
	struct net_thread *nt = lp ? net_thread_new(lp, &err) : NULL;
	int fd = net_listen_tcp("127.0.0.1", (uint16_t)port, false, 511, &err);
	if (!s || !nt || fd < 0 || net_thread_listen(nt, "gateway", fd, s, &err) < 0)
		fatalx("%s", err.msg);
	net_http_server_unref(s);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE);
	struct loop_io sio = { .fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC),
			       .cb = on_signal };
	if (sio.fd < 0 || loop_io_add(lp, &sio, EPOLLIN) < 0)
		fatal("signalfd");
	printf("ready\n");
	fflush(stdout);
	(void)loop_run(lp);
	net_thread_free(nt);
	gateway_thread_fini(lp);
	loop_free(lp);
	gateway_free(gw);
	bw_arena_free(a);
	close(sio.fd);
	return 0;
}
