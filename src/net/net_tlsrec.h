/*
 * Parked TLS 1.3 connections: an idle keep-alive connection gives its
 * OpenSSL SSL object back (about 13 KB) and keeps only its record-layer
 * state (traffic secrets, keys, sequence numbers: about 300 bytes). From
 * then on bulwark protects and opens that connection's records itself
 * (RFC 8446 section 5: AES-GCM or ChaCha20-Poly1305, KeyUpdate, alerts).
 *
 * How the state is known without OpenSSL internals: every server SSL_CTX
 * gets a key-log callback (the application traffic secrets) and a message
 * callback that counts the protected records each way after the
 * Finished messages, which is the record sequence number under the
 * application keys. A connection whose counting cannot be trusted (TLS
 * 1.2, a KeyUpdate while OpenSSL still had it, early data, bytes buffered
 * inside OpenSSL) is simply not parked.
 *
 * Internal to the net module.
 */
#ifndef BULWARK_NET_TLSREC_H
#define BULWARK_NET_TLSREC_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct net_tlsrec;

/* Installs the key-log and message callbacks on a server context. Call
 * once per SSL_CTX, before its first handshake. 0, or -1 when OpenSSL
 * cannot allocate the per-connection index. */
int net_tlsrec_ctx_setup(SSL_CTX *ctx);

/* Whether ssl can be parked now: TLS 1.3, handshake done, secrets and
 * counters known, nothing buffered inside OpenSSL either way. */
bool net_tlsrec_can_park(SSL *ssl);

/* Takes ssl's record state into a new struct net_tlsrec and frees ssl
 * (it must not be used again, whatever the result). NULL when the state
 * could not be captured (out of memory, or net_tlsrec_can_park false):
 * the connection must then be closed. */
struct net_tlsrec *net_tlsrec_park(SSL *ssl);

/* Reads and opens records from fd, copying up to cap bytes of application
 * data into buf. Returns the number of bytes (> 0), 0 at close_notify or
 * end of stream, or -1 with errno EAGAIN (wait for readable) or EPROTO
 * (a bad record: an alert has been sent, close the connection) or another
 * errno from read. */
ssize_t net_tlsrec_read(struct net_tlsrec *r, int fd, void *buf, size_t cap);

/* Whether bytes are buffered here, opened or not (epoll cannot see them:
 * read again before waiting for the socket). */
bool net_tlsrec_pending(const struct net_tlsrec *r);

/* Protects up to 16 KB of buf as one record and writes it to fd. Returns
 * the bytes of buf consumed (> 0), or -1 with errno EAGAIN when the socket
 * is full: then call again with the same buf and len (like SSL_write), and
 * the rest of the earlier record is flushed first. Other errno: close. */
ssize_t net_tlsrec_write(struct net_tlsrec *r, int fd, const void *buf, size_t len);

/* Sends a close_notify alert, best effort (never blocks). */
void net_tlsrec_close_notify(struct net_tlsrec *r, int fd);

/* For tests and fuzzing: a parked state from known traffic secrets
 * (suite_id 0x1301, 0x1302 or 0x1303; secrets of the suite's hash length)
 * and starting sequence numbers. NULL on a bad suite or length. */
struct net_tlsrec *net_tlsrec_from_secrets(uint16_t suite_id, const uint8_t *read_secret,
					   const uint8_t *write_secret, size_t secret_len,
					   uint64_t rseq, uint64_t wseq);

/* For tests and fuzzing: protects p[0..n) (n <= 16384) as one record of
 * inner content_type and writes it, blocking on a full socket. 0 or -1. */
int net_tlsrec_send_record(struct net_tlsrec *r, int fd, uint8_t content_type, const void *p,
			   size_t n);

/* Frees r and wipes its secrets; accepts NULL. */
void net_tlsrec_free(struct net_tlsrec *r);

#endif
