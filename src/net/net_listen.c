/*
 * Listening sockets. SO_REUSEPORT lets every worker thread own a socket
 * for the same address, so the kernel balances accepts without a shared
 * accept lock. Port 0 binds a free port; the first socket's port is then
 * reused for the others by the caller (net_socket_port).
 */
#include "net/net_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int net_sockaddr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ss,
		       socklen_t *len, struct bw_err *err)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof(*v6);
		return 0;
	}
	return bw_err_set(err, 400, "net", "bad_address", "'%s' is not an IP address",
			  addr);
}

void net_sockaddr_format(const struct sockaddr_storage *ss, char ip[INET6_ADDRSTRLEN],
			 uint16_t *port)
{
	ip[0] = '\0';
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, INET6_ADDRSTRLEN);
		*port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, INET6_ADDRSTRLEN);
		*port = ntohs(a->sin6_port);
	}
}

int net_listen_tcp(const char *addr, uint16_t port, bool reuseport,
		   int backlog, struct bw_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (net_sockaddr_parse(addr, port, &ss, &sslen, err) < 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return bw_err_set(err, 500, "net", "socket", "socket: %s",
				  strerror(errno));
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		goto fail;
	if (listen(fd, backlog > 0 ? backlog : 511) < 0)
		goto fail;
	return fd;
fail:;
	int saved = errno;
	close(fd);
	return bw_err_set(err, saved == EADDRINUSE ? 409 : 500, "net", "bind",
			  "%s port %u: %s", addr, (unsigned)port, strerror(saved));
}

int net_socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}
