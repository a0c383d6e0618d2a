/* Internals of the api module shared between its files. */
#ifndef BW_API_INT_H
#define BW_API_INT_H

#include "api/api.h"

#define API_MAX_DETAILS 4096
#define API_MAX_RESPONSE (4 << 20)

void api_security_headers(struct net_exchange *x);
void api_finish_json(struct json_writer *w);
void api_respond_error(struct net_exchange *x, int status, const char *code,
		       const char *message);
bool api_dispatch(struct api_ctx *ctx, struct net_exchange *x);
void api_metrics_respond(struct api_ctx *ctx, struct net_exchange *x);

#endif
