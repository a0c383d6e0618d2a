/*
 * siem_report.c — the compliance access report: who accessed what, when
 * and from where, over a time range, as CSV (RFC 4180, with spreadsheet
 * formula injection neutralised) or HTML (every value escaped, a strict
 * CSP on the response).
 *
 * Rows are the stored events of the access-relevant categories
 * (authentication, session, iam, configuration, web, process, file,
 * database) that name a user, oldest first, at most REPORT_ROWS_MAX; a
 * report cut at that bound says so in its last line.
 */
#include "siem/siem_svc_int.h"

#include <stdio.h>
#include <stdlib.h>

#define REPORT_ROWS_MAX 100000u

static const char *const categories[] = { "authentication", "session", "iam",
					  "configuration",  "web",     "process",
					  "file",	    "database", NULL };

struct report {
	struct bw_buf *out;
	bool html;
	size_t rows;
	bool cut;
	int rc;
};

static void csv_cell(struct bw_buf *o, struct bw_str v, bool last, int *rc)
{
	*rc |= bw_buf_append_byte(o, '"');
	/* a cell a spreadsheet would read as a formula gets a leading ' */
	if (v.len && (v.p[0] == '=' || v.p[0] == '+' || v.p[0] == '-' || v.p[0] == '@' ||
		      v.p[0] == '\t' || v.p[0] == '\r'))
		*rc |= bw_buf_append_byte(o, '\'');
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (c == '"')
			*rc |= bw_buf_append(o, "\"\"", 2);
		else if (c == '\n' || c == '\r')
			*rc |= bw_buf_append_byte(o, ' ');
		else
			*rc |= bw_buf_append_byte(o, c);
	}
	*rc |= bw_buf_append(o, last ? "\"\r\n" : "\",", last ? 3 : 2);
}

static void html_text(struct bw_buf *o, struct bw_str v, int *rc)
{
	for (size_t i = 0; i < v.len; i++) {
		switch (v.p[i]) {
		case '&':
			*rc |= bw_buf_append_str(o, "&amp;");
			break;
		case '<':
			*rc |= bw_buf_append_str(o, "&lt;");
			break;
		case '>':
			*rc |= bw_buf_append_str(o, "&gt;");
			break;
		case '"':
			*rc |= bw_buf_append_str(o, "&quot;");
			break;
		case '\'':
			*rc |= bw_buf_append_str(o, "&#39;");
			break;
		default:
			*rc |= bw_buf_append_byte(o, v.p[i]);
		}
	}
}

static const char *const heads[] = { "time",	 "tenant",    "user",	"action",
				     "outcome", "resource", "source_ip", "host",
				     "category" };

static int report_cb(void *arg, const struct siem_scan_row *r)
{
	struct report *rp = arg;
	struct bw_str cat = r->col[1], user = r->col[7];
	if (!user.p || user.len == 0 || !cat.p)
		return 0;
	bool ok = false;
	for (size_t i = 0; categories[i]; i++)
		ok |= bw_str_eq_lit(cat, categories[i]);
	if (!ok)
		return 0;
	if (rp->rows == REPORT_ROWS_MAX) {
		rp->cut = true;
		return 1;
	}
	struct siem_event *ev = siem_scan_event((struct siem_scan_row *)r);
	struct bw_str res = { NULL, 0 };
	static const enum siem_field resf[] = { SIEM_F_URL_ORIGINAL, SIEM_F_URL_PATH,
						SIEM_F_PROCESS_COMMAND_LINE,
						SIEM_F_USER_TARGET_NAME,
						SIEM_F_USER_EFFECTIVE_NAME,
						SIEM_F_DESTINATION_IP };
	for (size_t i = 0; ev && i < BW_ARRAY_LEN(resf) && !res.p; i++)
		res = siem_event_get(ev, resf[i]);
	char t[32];
	size_t tl = bw_time_format(r->ts, t);
	struct bw_str cells[9] = { bw_str_make(t, tl), r->col[0], user, r->col[2], r->col[3],
				   res, r->col[6], r->col[5], cat };
	if (rp->html) {
		rp->rc |= bw_buf_append_str(rp->out, "<tr>");
		for (int i = 0; i < 9; i++) {
			rp->rc |= bw_buf_append_str(rp->out, "<td>");
			html_text(rp->out, cells[i].p ? cells[i] : bw_str_make("", 0), &rp->rc);
			rp->rc |= bw_buf_append_str(rp->out, "</td>");
		}
		rp->rc |= bw_buf_append_str(rp->out, "</tr>\n");
	} else {
		for (int i = 0; i < 9; i++)
			csv_cell(rp->out, cells[i].p ? cells[i] : bw_str_make("", 0), i == 8,
				 &rp->rc);
	}
	rp->rows++;
	return rp->rc ? -1 : 0;
}

int siem_report_access(struct siem_service *svc, int64_t from, int64_t to,
		       const char *tenant, bool html, struct bw_buf *out,
		       struct bw_err *err)
{
	struct report rp = { .out = out, .html = html };
	struct siem_query *q = calloc(1, sizeof(*q));
	if (!q)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	char f[32], tt[32];
	bw_time_format(from, f);
	bw_time_format(to, tt);
	if (html) {
		rp.rc |= bw_buf_printf(out,
				       "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
				       "<title>bulwark access report</title><style>"
				       "body{font-family:sans-serif}table{border-collapse:collapse}"
				       "td,th{border:1px solid #999;padding:2px 6px;font-size:12px}"
				       "</style></head><body><h1>Access report</h1><p>From %s to %s",
				       f, tt);
		if (tenant) {
			rp.rc |= bw_buf_append_str(out, ", tenant ");
			html_text(out, bw_str_make(tenant, strlen(tenant)), &rp.rc);
		}
		rp.rc |= bw_buf_append_str(out, "</p>\n<table><tr>");
		for (int i = 0; i < 9; i++)
			rp.rc |= bw_buf_printf(out, "<th>%s</th>", heads[i]);
		rp.rc |= bw_buf_append_str(out, "</tr>\n");
	} else {
		for (int i = 0; i < 9; i++)
			csv_cell(out, bw_str_make(heads[i], strlen(heads[i])), i == 8, &rp.rc);
	}
	struct siem_scan_opts o = { .from_ns = from, .to_ns = to, .tenant = tenant,
				    .oldest_first = true, .max_scan = SIEM_SEARCH_SCAN_HARD };
	struct siem_scan_stats st;
	int rc = siem_scan(svc, q, &o, report_cb, &rp, &st, err);
	free(q);
	if (rc < 0)
		return -1;
	if (rp.cut || st.truncated) {
		if (html)
			rp.rc |= bw_buf_printf(out, "</table><p>Cut at %zu rows: narrow the range.</p>",
					       rp.rows);
		else
			rp.rc |= bw_buf_printf(out, "\"# cut at %zu rows: narrow the range\"\r\n",
					       rp.rows);
	} else if (html) {
		rp.rc |= bw_buf_printf(out, "</table><p>%zu rows.</p>", rp.rows);
	}
	if (html)
		rp.rc |= bw_buf_append_str(out, "</body></html>\n");
	if (rp.rc)
		return SIEM_SVC_ERR(err, 413, "too_large", "report larger than the response limit;"
							     " narrow the range");
	return 0;
}

void siem_api_report(struct sjob *j)
{
	int64_t from, to;
	const char *tenant;
	if (!siem_sjob_range(j, 24LL * 3600 * 1000000000LL, &from, &to, &tenant))
		return;
	const char *fmt = siem_sjob_param(j, "format");
	bool html;
	if (!fmt || strcmp(fmt, "csv") == 0)
		html = false;
	else if (strcmp(fmt, "html") == 0)
		html = true;
	else
		return siem_sjob_fail(j, 400, "bad_format", "format: csv or html");
	struct bw_err err;
	if (siem_report_access(siem_sjob_svc(j), from, to, tenant, html, siem_sjob_out(j),
			       &err) < 0) {
		bw_buf_reset(siem_sjob_out(j));
		return siem_sjob_fail_err(j, &err);
	}
	siem_sjob_content_type(j, html ? "text/html; charset=utf-8" : "text/csv; charset=utf-8");
}
