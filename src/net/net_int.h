/* Internals of the net module shared between its files. */
#ifndef BW_NET_INT_H
#define BW_NET_INT_H

#include "net/net.h"

#include <openssl/ssl.h>

SSL *net_tls_session_new(struct net_tls *t, int fd);

/* Counters shared by every thread (relaxed atomics). */
void net_stats_count_rejection(const char *reason);

#endif
