/*
 * siem_fmt.c — writing events and alerts in the formats other SIEMs read:
 * CEF (ArcSight), LEEF 1.0 (QRadar), the RFC 5424 syslog line that
 * carries them, and the Splunk HEC and Elasticsearch bulk JSON records.
 *
 * Every writer escapes what its format requires (CEF header \| \\, CEF
 * extension \= \\ \n \r; LEEF values lose tabs and line breaks; syslog
 * header fields are printable ASCII), so a record always parses back
 * with bulwark's own readers (the tests check the round trip). Each
 * appends to a bounded bw_buf and returns -1 (buffer left as it was)
 * when the buffer's ceiling is reached.
 */
#include "siem/siem_svc_int.h"

#include <stdio.h>

static int put(struct bw_buf *o, const char *p, size_t n)
{
	return bw_buf_append(o, p, n);
}

static int cef_header_value(struct bw_buf *o, struct bw_str v)
{
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (c == '|' || c == '\\') {
			if (bw_buf_append_byte(o, '\\') < 0)
				return -1;
		} else if (c == '\n' || c == '\r') {
			c = ' ';
		}
		if (bw_buf_append_byte(o, c) < 0)
			return -1;
	}
	return 0;
}

static int cef_ext_value(struct bw_buf *o, struct bw_str v)
{
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		int rc = 0;
		if (c == '=' || c == '\\')
			rc = put(o, c == '=' ? "\\=" : "\\\\", 2);
		else if (c == '\n')
			rc = put(o, "\\n", 2);
		else if (c == '\r')
			rc = put(o, "\\r", 2);
		else
			rc = bw_buf_append_byte(o, c);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* CEF extension keys for ECS slots (the inverse of the parser's map). */
static const struct {
	const char *key;
	enum siem_field f;
} cef_out[] = {
	{ "src", SIEM_F_SOURCE_IP },
	{ "spt", SIEM_F_SOURCE_PORT },
	{ "shost", SIEM_F_SOURCE_DOMAIN },
	{ "dst", SIEM_F_DESTINATION_IP },
	{ "dpt", SIEM_F_DESTINATION_PORT },
	{ "dhost", SIEM_F_DESTINATION_DOMAIN },
	{ "suser", SIEM_F_USER_NAME },
	{ "duser", SIEM_F_USER_TARGET_NAME },
	{ "dvchost", SIEM_F_OBSERVER_HOSTNAME },
	{ "act", SIEM_F_EVENT_ACTION },
	{ "outcome", SIEM_F_EVENT_OUTCOME },
	{ "reason", SIEM_F_EVENT_REASON },
	{ "request", SIEM_F_URL_ORIGINAL },
	{ "requestMethod", SIEM_F_HTTP_REQUEST_METHOD },
	{ "requestClientApplication", SIEM_F_USER_AGENT_ORIGINAL },
	{ "proto", SIEM_F_NETWORK_TRANSPORT },
	{ "sproc", SIEM_F_PROCESS_NAME },
	{ "spid", SIEM_F_PROCESS_PID },
	{ "externalId", SIEM_F_EVENT_ID },
	{ "msg", SIEM_F_MESSAGE },
};

int siem_format_cef(const struct siem_event *ev, const char *sig, const char *name,
		    int severity, struct bw_buf *o)
{
	size_t mark = o->len;
	char sev[8];
	snprintf(sev, sizeof(sev), "%d", severity < 0 ? 0 : severity > 10 ? 10 : severity);
	int rc = bw_buf_append_str(o, "CEF:0|bulwark|bulwark|" BULWARK_VERSION "|");
	rc |= cef_header_value(o, bw_str_make(sig, strlen(sig)));
	rc |= bw_buf_append_byte(o, '|');
	rc |= cef_header_value(o, bw_str_make(name, strlen(name) > 512 ? 512 : strlen(name)));
	rc |= bw_buf_append_byte(o, '|');
	rc |= bw_buf_append_str(o, sev);
	rc |= bw_buf_append_byte(o, '|');
	char t[32];
	snprintf(t, sizeof(t), "rt=%lld", (long long)(ev->ts_ns / 1000000));
	rc |= bw_buf_append_str(o, t);
	struct bw_str cat = ev->f[SIEM_F_EVENT_CATEGORY];
	if (cat.p) {
		rc |= bw_buf_append_str(o, " cat=");
		rc |= cef_ext_value(o, cat);
	}
	for (size_t i = 0; i < BW_ARRAY_LEN(cef_out); i++) {
		struct bw_str v = ev->f[cef_out[i].f];
		if (!v.p)
			continue;
		rc |= bw_buf_append_byte(o, ' ');
		rc |= bw_buf_append_str(o, cef_out[i].key);
		rc |= bw_buf_append_byte(o, '=');
		rc |= cef_ext_value(o, v);
	}
	if (rc) {
		o->len = mark;
		if (o->data)
			o->data[mark] = '\0';
		return -1;
	}
	return 0;
}

static const struct {
	const char *key;
	enum siem_field f;
} leef_out[] = {
	{ "src", SIEM_F_SOURCE_IP },	       { "srcPort", SIEM_F_SOURCE_PORT },
	{ "dst", SIEM_F_DESTINATION_IP },      { "dstPort", SIEM_F_DESTINATION_PORT },
	{ "usrName", SIEM_F_USER_NAME },       { "identHostName", SIEM_F_HOST_NAME },
	{ "action", SIEM_F_EVENT_ACTION },     { "proto", SIEM_F_NETWORK_TRANSPORT },
	{ "url", SIEM_F_URL_ORIGINAL },	       { "method", SIEM_F_HTTP_REQUEST_METHOD },
	{ "userAgent", SIEM_F_USER_AGENT_ORIGINAL },
	{ "policy", SIEM_F_RULE_NAME },	       { "msg", SIEM_F_MESSAGE },
};

static int leef_value(struct bw_buf *o, struct bw_str v)
{
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (c == '\t' || c == '\n' || c == '\r' || c == '|')
			c = ' ';
		if (bw_buf_append_byte(o, c) < 0)
			return -1;
	}
	return 0;
}

int siem_format_leef(const struct siem_event *ev, const char *event_id, int severity,
		     struct bw_buf *o)
{
	size_t mark = o->len;
	int rc = bw_buf_append_str(o, "LEEF:1.0|bulwark|bulwark|" BULWARK_VERSION "|");
	rc |= leef_value(o, bw_str_make(event_id, strlen(event_id)));
	rc |= bw_buf_append_byte(o, '|');
	char t[64];
	snprintf(t, sizeof(t), "devTime=%lld\tsev=%d", (long long)(ev->ts_ns / 1000000),
		 severity < 0 ? 0 : severity > 10 ? 10 : severity);
	rc |= bw_buf_append_str(o, t);
	struct bw_str cat = ev->f[SIEM_F_EVENT_CATEGORY];
	if (cat.p) {
		rc |= bw_buf_append_str(o, "\tcat=");
		rc |= leef_value(o, cat);
	}
	for (size_t i = 0; i < BW_ARRAY_LEN(leef_out); i++) {
		struct bw_str v = ev->f[leef_out[i].f];
		if (!v.p)
			continue;
		rc |= bw_buf_append_byte(o, '\t');
		rc |= bw_buf_append_str(o, leef_out[i].key);
		rc |= bw_buf_append_byte(o, '=');
		rc |= leef_value(o, v);
	}
	if (rc) {
		o->len = mark;
		if (o->data)
			o->data[mark] = '\0';
		return -1;
	}
	return 0;
}

int siem_format_syslog(int64_t ts_ns, const char *host, int pri, const char *msg, size_t n,
		       struct bw_buf *o)
{
	char t[32];
	bw_time_format(ts_ns, t);
	char h[64];
	size_t hl = 0;
	for (const char *p = host && *host ? host : "-"; *p && hl < sizeof(h) - 1; p++)
		h[hl++] = (*p > 32 && *p < 127) ? *p : '_';
	h[hl] = '\0';
	size_t mark = o->len;
	if (bw_buf_printf(o, "<%d>1 %s %s bulwark - - - ", pri, t, h) < 0 ||
	    bw_buf_append(o, msg, n) < 0) {
		o->len = mark;
		if (o->data)
			o->data[mark] = '\0';
		return -1;
	}
	return 0;
}
