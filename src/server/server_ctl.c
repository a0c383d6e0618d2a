/*
 * The supervisor/worker control channel over a SOCK_SEQPACKET socketpair:
 * one struct ctl_msg per packet, payload in a following packet, fds in the
 * header's ancillary data.
 */
#include "server/server_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ctl_send(int sock, uint32_t type, uint32_t arg, const void *payload,
	     size_t len, const int *fds, size_t nfds)
{
	if (len > CTL_MAX_PAYLOAD || nfds > CTL_MAX_FDS)
		return -1;
	struct ctl_msg m = { type, arg, (uint32_t)len, (uint32_t)nfds };
	struct iovec iov = { &m, sizeof(m) };
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t r;
	do {
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof(m))
		return -1;
	if (len) {
		do {
			r = send(sock, payload, len, MSG_NOSIGNAL);
		} while (r < 0 && errno == EINTR);
		if (r != (ssize_t)len)
			return -1;
	}
	return 0;
}

int ctl_recv(int sock, struct ctl_msg *m, char **payload, int *fds)
{
	struct iovec iov = { m, sizeof(*m) };
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	*payload = NULL;
	ssize_t r;
	do {
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r < 0)
		return errno == EAGAIN ? -1 : 0;
	if (r != (ssize_t)sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    m->type < CTL_READY || m->type > CTL_KMS_SOCKET ||
	    m->len > CTL_MAX_PAYLOAD || m->nfds > CTL_MAX_FDS)
		fatalx("control channel: malformed message");
	size_t got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			fatalx("control channel: unexpected ancillary data");
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (got + n > m->nfds)
			fatalx("control channel: more descriptors than announced");
		memcpy(fds + got, CMSG_DATA(c), n * sizeof(int));
		got += n;
	}
	if (got != m->nfds)
		fatalx("control channel: descriptor count mismatch");
	if (m->len) {
		char *p = malloc(m->len + 1);
		if (!p)
			fatalx("out of memory");
		do {
			r = recv(sock, p, m->len, 0);
		} while (r < 0 && errno == EINTR);
		if (r != (ssize_t)m->len)
			fatalx("control channel: short payload");
		p[m->len] = '\0';
		*payload = p;
	}
	return 1;
}
