/* libFuzzer target for the parked-connection record layer (net_tlsrec).
 * The first byte picks the mode: even — the rest is a list of records
 * [inner type:1][length:2][content] that a peer seals with the right keys
 * (so the fuzzer reaches the post-decryption parsing: padding, alerts,
 * KeyUpdate, unexpected types); odd — the rest is written to the socket
 * raw (headers, lengths, forged tags). Then everything is read until the
 * record layer stops, and one write is tried. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include "net/net_tlsrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	static const uint8_t client[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	static const uint8_t server[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	uint16_t suite = (uint16_t)(0x1301 + (data[0] >> 1) % 2 * 2); /* 1301 or 1303 */
	struct net_tlsrec *us = net_tlsrec_from_secrets(suite, client, server, 32, 0, 0);
	struct net_tlsrec *peer = net_tlsrec_from_secrets(suite, server, client, 32, 0, 0);
	if (us && peer) {
		const uint8_t *p = data + 1;
		size_t n = size - 1;
		if (data[0] & 1) {
			if (n && write(sv[1], p, n) < 0)
				n = 0;
		} else {
			while (n >= 3) {
				size_t len = (size_t)p[1] << 8 | p[2];
				if (len > n - 3)
					len = n - 3;
				if (net_tlsrec_send_record(peer, sv[1], p[0], p + 3, len) < 0)
					break;
				p += 3 + len;
				n -= 3 + len;
			}
		}
		shutdown(sv[1], SHUT_WR);
		uint8_t buf[4096];
		for (int i = 0; i < 1000; i++) {
			ssize_t k = net_tlsrec_read(us, sv[0], buf, sizeof(buf));
			if (k <= 0)
				break;
		}
		(void)net_tlsrec_pending(us);
		(void)net_tlsrec_write(us, sv[0], "x", 1);
	}
	net_tlsrec_free(us);
	net_tlsrec_free(peer);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
