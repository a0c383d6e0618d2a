/*
 * Internals of the process model: the supervisor/worker control protocol
 * and the worker entry point.
 *
 * Control messages are a fixed header and an optional payload (config
 * text) with listening sockets attached as SCM_RIGHTS. Each side checks
 * type and exact sizes before reading; a malformed message from the peer
 * process is fatal (dying is safer than guessing).
 */
#ifndef BW_SERVER_INT_H
#define BW_SERVER_INT_H

#include "server/server.h"

#define CTL_MAX_PAYLOAD (8 * 1024 * 1024) /* config text + TLS files */
#define CTL_MAX_FDS 250               /* under the kernel's SCM_MAX_FD */

enum ctl_type {
	CTL_READY = 1,      /* worker → supervisor: listening, serving */
	CTL_RELOAD,         /* supervisor → worker: text + fds */
	CTL_RELOAD_RESULT,  /* worker → supervisor: status in `arg` */
	CTL_SHUTDOWN,       /* supervisor → worker */
	CTL_WANT_RELOAD,    /* worker → supervisor: admin API asked */
	CTL_KMS_SOCKET,     /* supervisor → worker: a restarted keystore's socket */
};

struct ctl_msg {
	uint32_t type;
	uint32_t arg;
	uint32_t len;  /* payload bytes that follow */
	uint32_t nfds; /* descriptors attached */
};

/* Sends a message with payload and fds. Returns 0 or -1. */
int ctl_send(int sock, uint32_t type, uint32_t arg, const void *payload,
	     size_t len, const int *fds, size_t nfds);
/* Receives one message. *payload is malloc'd (caller frees) when len > 0;
 * fds[] receives up to CTL_MAX_FDS descriptors. Returns 1, 0 on EOF, -1 on
 * error (malformed messages are fatal). */
int ctl_recv(int sock, struct ctl_msg *m, char **payload, int *fds);

/* TLS files read by the supervisor for the worker (server_files.c). */
#define SERVER_MAX_FILES 130
#define SERVER_MAX_FILE_BYTES (256 * 1024)
struct server_files {
	size_t n;
	struct {
		char *path;
		char *data;
		size_t len;
		bool secret; /* wiped when released */
	} f[SERVER_MAX_FILES];
};
int server_files_load(const struct server_conf *c, struct server_files *out,
		      struct bw_err *err) BW_WUR;
struct bw_str server_files_get(const struct server_files *f, const char *path);
/* Appends text, a NUL, then the files, to out. */
int server_files_encode(const struct server_files *f, const char *text,
			size_t len, struct bw_buf *out) BW_WUR;
/* Splits a reload payload: the text is p[0..*text_len), the files are
 * copied into out. -1 if malformed. */
int server_files_decode(const char *p, size_t len, struct server_files *out,
			size_t *text_len) BW_WUR;
void server_files_wipe(struct server_files *f);

/* One bound listener: `n` sockets (one per worker thread). */
struct bound_listener {
	char name[32];
	char address[64];
	uint16_t port_conf; /* as configured (may be 0) */
	uint16_t port;      /* as bound */
	int fds[64];
	size_t n;
};

/* Worker process entry. fds are the bound listeners, in config order.
 * Never returns. */
_Noreturn void server_worker_main(const char *config_text, size_t len,
				  const char *config_path, struct server_files *files,
				  int kms_fd,
				  struct bound_listener *ls, size_t nls,
				  unsigned workers, int ctl_fd);

unsigned server_worker_count(const struct server_conf *c);

/* The 32-byte key sealing identity secrets at rest (DATA/iam-seal.key,
 * 0600, created on first use). A stopgap until the keystore holds it. */
int server_seal_key(const char *data_dir, uint8_t key[32], struct bw_err *err) BW_WUR;

#endif
