/*
 * The two mapping tables that connect Sigma rules to bulwark's events,
 * documented in docs/internals/SIEM.md:
 *  - field names: a Sigma rule may name an ECS field directly
 *    ("source.ip") or use the Sigma taxonomy / Windows-ish names the
 *    published rules use ("SourceIp", "User", "CommandLine", "c-uri");
 *    anything else is looked up as a label of that exact name (CEF/LEEF
 *    extension keys, RFC 5424 structured data "sd.<id>.<param>").
 *  - logsources: logsource product/service/category become an extra
 *    selection ANDed to the rule's condition, so a rule for sshd does
 *    not fire on a web log that happens to share a field value.
 */
#include "siem/siem_int.h"

struct fmap {
	const char *sigma;
	enum siem_field f;
};

/* Sorted by Sigma name (strcmp order) for bisection. */
static const struct fmap field_map[] = {
	{ "AccountName", SIEM_F_USER_NAME },
	{ "Action", SIEM_F_EVENT_ACTION },
	{ "CommandLine", SIEM_F_PROCESS_COMMAND_LINE },
	{ "Computer", SIEM_F_HOST_NAME },
	{ "ComputerName", SIEM_F_HOST_NAME },
	{ "CurrentDirectory", SIEM_F_PROCESS_WORKING_DIRECTORY },
	{ "DestinationHostname", SIEM_F_DESTINATION_DOMAIN },
	{ "DestinationIp", SIEM_F_DESTINATION_IP },
	{ "DestinationPort", SIEM_F_DESTINATION_PORT },
	{ "EventID", SIEM_F_EVENT_CODE },
	{ "Hostname", SIEM_F_HOST_NAME },
	{ "Image", SIEM_F_PROCESS_EXECUTABLE },
	{ "IpAddress", SIEM_F_SOURCE_IP },
	{ "IpPort", SIEM_F_SOURCE_PORT },
	{ "Message", SIEM_F_MESSAGE },
	{ "NewProcessName", SIEM_F_PROCESS_EXECUTABLE },
	{ "ProcessCommandLine", SIEM_F_PROCESS_COMMAND_LINE },
	{ "ProcessId", SIEM_F_PROCESS_PID },
	{ "ProcessName", SIEM_F_PROCESS_NAME },
	{ "Protocol", SIEM_F_NETWORK_TRANSPORT },
	{ "SourceHostname", SIEM_F_SOURCE_DOMAIN },
	{ "SourceIp", SIEM_F_SOURCE_IP },
	{ "SourcePort", SIEM_F_SOURCE_PORT },
	{ "SubjectUserName", SIEM_F_USER_NAME },
	{ "TargetUserName", SIEM_F_USER_NAME },
	{ "User", SIEM_F_USER_NAME },
	{ "UserAgent", SIEM_F_USER_AGENT_ORIGINAL },
	{ "UserName", SIEM_F_USER_NAME },
	{ "action", SIEM_F_EVENT_ACTION },
	{ "c-ip", SIEM_F_SOURCE_IP },
	{ "c-uri", SIEM_F_URL_ORIGINAL },
	{ "c-useragent", SIEM_F_USER_AGENT_ORIGINAL },
	{ "clientip", SIEM_F_SOURCE_IP },
	{ "cs-method", SIEM_F_HTTP_REQUEST_METHOD },
	{ "cs-referer", SIEM_F_HTTP_REQUEST_REFERRER },
	{ "cs-referrer", SIEM_F_HTTP_REQUEST_REFERRER },
	{ "cs-uri", SIEM_F_URL_ORIGINAL },
	{ "cs-uri-query", SIEM_F_URL_QUERY },
	{ "cs-uri-stem", SIEM_F_URL_PATH },
	{ "cs-user-agent", SIEM_F_USER_AGENT_ORIGINAL },
	{ "cs-username", SIEM_F_USER_NAME },
	{ "dest_ip", SIEM_F_DESTINATION_IP },
	{ "dest_port", SIEM_F_DESTINATION_PORT },
	{ "dst_ip", SIEM_F_DESTINATION_IP },
	{ "dst_port", SIEM_F_DESTINATION_PORT },
	{ "hostname", SIEM_F_HOST_NAME },
	{ "method", SIEM_F_HTTP_REQUEST_METHOD },
	{ "outcome", SIEM_F_EVENT_OUTCOME },
	{ "pid", SIEM_F_PROCESS_PID },
	{ "proto", SIEM_F_NETWORK_TRANSPORT },
	{ "sc-bytes", SIEM_F_HTTP_RESPONSE_BODY_BYTES },
	{ "sc-status", SIEM_F_HTTP_RESPONSE_STATUS_CODE },
	{ "src_ip", SIEM_F_SOURCE_IP },
	{ "src_port", SIEM_F_SOURCE_PORT },
	{ "status", SIEM_F_HTTP_RESPONSE_STATUS_CODE },
	{ "uri", SIEM_F_URL_ORIGINAL },
	{ "uri_path", SIEM_F_URL_PATH },
	{ "uri_query", SIEM_F_URL_QUERY },
	{ "user", SIEM_F_USER_NAME },
	{ "user_agent", SIEM_F_USER_AGENT_ORIGINAL },
	{ "username", SIEM_F_USER_NAME },
};

int siem_fref_resolve(struct bw_arena *a, const char *name, size_t len,
		      struct fref *out)
{
	memset(out, 0, sizeof(*out));
	int id = siem_field_by_name(name, len);
	if (id < 0) {
		size_t lo = 0, hi = BW_ARRAY_LEN(field_map);
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			const char *s = field_map[mid].sigma;
			size_t sl = strlen(s);
			int c = memcmp(s, name, sl < len ? sl : len);
			if (c == 0)
				c = sl < len ? -1 : (sl > len ? 1 : 0);
			if (c == 0) {
				id = (int)field_map[mid].f;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	if (id >= 0) {
		out->kind = FREF_SLOT;
		out->id = (uint8_t)id;
		out->name = siem_field_name((enum siem_field)id);
		out->len = strlen(out->name);
		return 0;
	}
	char *c = bw_arena_strndup(a, name, len);
	if (!c)
		return -1;
	out->kind = FREF_LABEL;
	out->name = c;
	out->len = len;
	return 0;
}

/* Logsource -> the field values an event must have. A NULL field list
 * entry ends the values; several values are alternatives (OR). */
struct lsmap {
	const char *key;   /* "product", "service" or "category" */
	const char *value; /* as in the rule, lowercase */
	enum siem_field f;
	const char *values[6];
};

static const struct lsmap ls_map[] = {
	{ "service", "sshd", SIEM_F_PROCESS_NAME,
	  { "sshd", "sshd-session", "sshd-auth" } },
	{ "service", "sudo", SIEM_F_PROCESS_NAME, { "sudo" } },
	{ "service", "su", SIEM_F_PROCESS_NAME, { "su" } },
	{ "service", "auth", SIEM_F_EVENT_DATASET,
	  { "sshd", "sudo", "pam", "auth" } },
	{ "service", "syslog", SIEM_F_EVENT_MODULE, { "syslog" } },
	{ "service", "cron", SIEM_F_PROCESS_NAME, { "cron", "crond" } },
	{ "product", "nginx", SIEM_F_EVENT_DATASET, { "web.access" } },
	{ "product", "apache", SIEM_F_EVENT_DATASET, { "web.access" } },
	{ "product", "bulwark", SIEM_F_EVENT_MODULE, { "bulwark" } },
	{ "category", "webserver", SIEM_F_EVENT_CATEGORY, { "web" } },
	{ "category", "firewall", SIEM_F_EVENT_CATEGORY, { "network" } },
	{ "category", "authentication", SIEM_F_EVENT_CATEGORY,
	  { "authentication" } },
	{ "category", "network_connection", SIEM_F_EVENT_CATEGORY,
	  { "network" } },
};

/* The mapping entry for (key, value), or NULL when the logsource puts
 * no condition on events (product: linux, or one we do not know). */
static const struct lsmap *ls_find(const char *key, const char *value)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(ls_map); i++)
		if (strcmp(ls_map[i].key, key) == 0 &&
		    strcmp(ls_map[i].value, value) == 0)
			return &ls_map[i];
	return NULL;
}

int siem_logsource_cond(struct bw_arena *a, const char *key, const char *value,
			struct fcond *c)
{
	const struct lsmap *m = ls_find(key, value);
	if (!m)
		return 0;
	size_t n = 0;
	while (n < BW_ARRAY_LEN(m->values) && m->values[n])
		n++;
	memset(c, 0, sizeof(*c));
	c->f.kind = FREF_SLOT;
	c->f.id = (uint8_t)m->f;
	c->f.name = siem_field_name(m->f);
	c->f.len = strlen(c->f.name);
	c->v = bw_arena_zalloc(a, n * sizeof(*c->v));
	if (!c->v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		c->v[i].op = SV_EQ;
		c->v[i].s = m->values[i];
		c->v[i].len = strlen(m->values[i]);
	}
	c->nv = n;
	return 1;
}
