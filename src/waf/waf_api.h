/*
 * waf_api — the WAF's admin REST routes (a separate small library, bw_waf_api,
 * so the engine itself does not depend on the admin API):
 *
 *   GET /api/v1/waf/stats          JSON audit log counters (written,
 *                                  dropped, not relevant), explain ring fill
 *   GET /api/v1/waf/explain        the most recent transactions with
 *                                  detections (summaries, newest first)
 *   GET /api/v1/waf/explain/{id}   the explain document of request id: the
 *                                  rules that matched, on which variable and
 *                                  value, after which transformations, with
 *                                  what score, the anomaly totals, the verdict
 *
 * stats needs waf.rule.read (no request data). The explain routes need
 * waf.rule.manage (waf-admin and above): the documents quote
 * request data (the matched values), which is more than a viewer should
 * read, and tuning exclusions is the waf-admin's job.
 */
#ifndef WAF_WAF_API_H
#define WAF_WAF_API_H

#include "core/core.h"

/* Register the routes with api_register. Start-up only. 0 or -1 (route
 * table full). */
int waf_api_register(void) BW_WUR;

#endif
