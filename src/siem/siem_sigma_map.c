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
 * A mapping file (siem_ruleset_add_mapping) adds entries to both tables
 * and overrides built-in ones; the loader consults it through
 * siem_mapping_use while it parses the rules added after it.
 */
#include "siem/siem_int.h"
#include "conf/conf.h"

struct map_field {
	const char *sigma; /* as written in rules (case-sensitive, as Sigma) */
	size_t len;
	struct fref ref;
};

struct map_ls {
	const char *key;   /* product, service or category */
	const char *value; /* lowercase */
	bool none;	   /* {}: the logsource puts no condition */
	struct fref f;
	const char **values; /* lowercase alternatives */
	size_t nvalues;
};

struct siem_mapping {
	struct map_field *f;
	size_t nf;
	struct map_ls *ls;
	size_t nls;
};

static _Thread_local const struct siem_mapping *cur_map;

void siem_mapping_use(const struct siem_mapping *m)
{
	cur_map = m;
}

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
	for (size_t i = 0; cur_map && i < cur_map->nf; i++)
		if (cur_map->f[i].len == len &&
		    memcmp(cur_map->f[i].sigma, name, len) == 0) {
			*out = cur_map->f[i].ref;
			return 0;
		}
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

/* The mapping file's entry for (key, value) as a condition. */
static int map_ls_cond(struct bw_arena *a, const struct map_ls *e, struct fcond *c)
{
	if (e->none)
		return 0;
	memset(c, 0, sizeof(*c));
	c->f = e->f;
	c->v = bw_arena_zalloc(a, e->nvalues * sizeof(*c->v));
	if (!c->v)
		return -1;
	for (size_t i = 0; i < e->nvalues; i++) {
		c->v[i].op = SV_EQ;
		c->v[i].s = e->values[i];
		c->v[i].len = strlen(e->values[i]);
	}
	c->nv = e->nvalues;
	return 1;
}

int siem_logsource_cond(struct bw_arena *a, const char *key, const char *value,
			struct fcond *c)
{
	for (size_t i = 0; cur_map && i < cur_map->nls; i++)
		if (strcmp(cur_map->ls[i].key, key) == 0 &&
		    strcmp(cur_map->ls[i].value, value) == 0)
			return map_ls_cond(a, &cur_map->ls[i], c);
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

/* ------------------------------------------------------- mapping file */

#define merr siem_node_err

/* A non-empty scalar of at most SIEM_MAP_NAME_MAX bytes. */
static bool name_ok(const struct conf_node *n)
{
	return n && n->kind == CONF_SCALAR && !n->null && n->len > 0 &&
	       n->len <= SIEM_MAP_NAME_MAX;
}

static char *lower_dup(struct bw_arena *a, const char *p, size_t n)
{
	char *c = bw_arena_strndup(a, p, n);
	for (size_t i = 0; c && i < n; i++)
		c[i] = siem_lower(c[i]);
	return c;
}

static int load_fields(struct bw_arena *a, const struct conf_node *fields,
		       struct siem_mapping *m, struct bw_err *err)
{
	if (fields->kind != CONF_MAPPING)
		return merr(fields, err, "mapping", "fields: a mapping of Sigma name: field");
	if (fields->nitems > SIEM_MAP_FIELDS_MAX)
		return merr(fields, err, "limit", "fields: more than %u entries",
			    SIEM_MAP_FIELDS_MAX);
	m->f = bw_arena_zalloc(a, (fields->nitems ? fields->nitems : 1) * sizeof(*m->f));
	if (!m->f)
		return SIEM_ERR(err, 500, "memory", "out of memory");
	for (size_t i = 0; i < fields->nitems; i++) {
		const struct conf_node *v = fields->items[i];
		size_t kl = strlen(v->key);
		if (kl == 0 || kl > SIEM_MAP_NAME_MAX)
			return merr(v, err, "mapping", "fields: a name of 1 to %u bytes",
				    SIEM_MAP_NAME_MAX);
		if (!name_ok(v))
			return merr(v, err, "mapping",
				    "fields.%s: the bulwark field (an ECS name or a label), "
				    "1 to %u bytes", v->key, SIEM_MAP_NAME_MAX);
		struct map_field *f = &m->f[m->nf++];
		f->sigma = bw_arena_strndup(a, v->key, kl);
		f->len = kl;
		/* resolve the target without the mapping itself: a mapping
		 * entry names bulwark's fields, never other Sigma names */
		const struct siem_mapping *saved = cur_map;
		cur_map = NULL;
		int rc = f->sigma ? siem_fref_resolve(a, v->str, v->len, &f->ref) : -1;
		cur_map = saved;
		if (rc < 0)
			return SIEM_ERR(err, 500, "memory", "out of memory");
	}
	return 0;
}

static int load_logsource(struct bw_arena *a, const char *key,
			  const struct conf_node *v, struct map_ls *e,
			  struct bw_err *err)
{
	size_t vl = strlen(v->key);
	if (vl == 0 || vl > SIEM_MAP_NAME_MAX)
		return merr(v, err, "mapping", "logsources.%s: a value of 1 to %u bytes",
			    key, SIEM_MAP_NAME_MAX);
	e->key = key;
	if (!(e->value = lower_dup(a, v->key, vl)))
		return SIEM_ERR(err, 500, "memory", "out of memory");
	if (v->kind == CONF_SCALAR && v->null) {
		e->none = true;
		return 0;
	}
	if (v->kind != CONF_MAPPING)
		return merr(v, err, "mapping",
			    "logsources.%s.%s: {field: F, values: [...]} or {}", key, v->key);
	if (v->nitems == 0) {
		e->none = true;
		return 0;
	}
	const struct conf_node *field = NULL, *values = NULL;
	for (size_t i = 0; i < v->nitems; i++) {
		const struct conf_node *it = v->items[i];
		if (strcmp(it->key, "field") == 0)
			field = it;
		else if (strcmp(it->key, "values") == 0)
			values = it;
		else
			return merr(it, err, "mapping", "logsources.%s.%s: unknown key '%s'",
				    key, v->key, it->key);
	}
	if (!field || !values)
		return merr(v, err, "mapping", "logsources.%s.%s: needs field and values",
			    key, v->key);
	if (!name_ok(field))
		return merr(field, err, "mapping", "logsources.%s.%s.field: a field name",
			    key, v->key);
	if (values->kind != CONF_SEQUENCE || values->nitems == 0)
		return merr(values, err, "mapping",
			    "logsources.%s.%s.values: a non-empty list", key, v->key);
	if (values->nitems > SIEM_MAP_VALUES_MAX)
		return merr(values, err, "limit", "logsources.%s.%s.values: more than %u",
			    key, v->key, SIEM_MAP_VALUES_MAX);
	const struct siem_mapping *saved = cur_map;
	cur_map = NULL;
	int rc = siem_fref_resolve(a, field->str, field->len, &e->f);
	cur_map = saved;
	e->values = bw_arena_zalloc(a, values->nitems * sizeof(*e->values));
	if (rc < 0 || !e->values)
		return SIEM_ERR(err, 500, "memory", "out of memory");
	for (size_t i = 0; i < values->nitems; i++) {
		const struct conf_node *x = values->items[i];
		if (!name_ok(x))
			return merr(x, err, "mapping",
				    "logsources.%s.%s.values: 1 to %u bytes each", key,
				    v->key, SIEM_MAP_NAME_MAX);
		if (!(e->values[i] = lower_dup(a, x->str, x->len)))
			return SIEM_ERR(err, 500, "memory", "out of memory");
	}
	e->nvalues = values->nitems;
	return 0;
}

static int load_logsources(struct bw_arena *a, const struct conf_node *ls,
			   struct siem_mapping *m, struct bw_err *err)
{
	static const char *const keys[] = { "product", "service", "category" };
	if (ls->kind != CONF_MAPPING)
		return merr(ls, err, "mapping",
			    "logsources: a mapping of product/service/category");
	size_t total = 0;
	for (size_t i = 0; i < ls->nitems; i++)
		total += ls->items[i]->nitems;
	if (total > SIEM_MAP_LOGSOURCES_MAX)
		return merr(ls, err, "limit", "logsources: more than %u entries",
			    SIEM_MAP_LOGSOURCES_MAX);
	m->ls = bw_arena_zalloc(a, (total ? total : 1) * sizeof(*m->ls));
	if (!m->ls)
		return SIEM_ERR(err, 500, "memory", "out of memory");
	for (size_t i = 0; i < ls->nitems; i++) {
		const struct conf_node *grp = ls->items[i];
		const char *key = NULL;
		for (size_t k = 0; k < BW_ARRAY_LEN(keys); k++)
			if (strcmp(grp->key, keys[k]) == 0)
				key = keys[k];
		if (!key)
			return merr(grp, err, "mapping",
				    "logsources: unknown key '%s' (product, service, category)",
				    grp->key);
		if (grp->kind != CONF_MAPPING)
			return merr(grp, err, "mapping", "logsources.%s: a mapping of value: entry",
				    key);
		for (size_t j = 0; j < grp->nitems; j++)
			if (load_logsource(a, key, grp->items[j], &m->ls[m->nls++], err) < 0)
				return -1;
	}
	return 0;
}

int siem_ruleset_add_mapping(struct siem_ruleset *rs, const char *name,
			     const char *text, size_t len, struct bw_err *err)
{
	if (rs->compiled)
		return SIEM_ERR(err, 409, "compiled", "%s: mapping after compile", name);
	if (len > SIEM_MAP_FILE_MAX)
		return SIEM_ERR(err, 413, "limit", "%s: mapping larger than %u bytes", name,
				SIEM_MAP_FILE_MAX);
	struct conf_limits lim = { .max_bytes = SIEM_MAP_FILE_MAX };
	struct conf_doc *d = conf_load_string_lim(name, text, len, &lim, rs->arena, err);
	if (!d) {
		if (err)
			bw_snprintf(err->module, sizeof(err->module), "siem");
		return -1;
	}
	const struct conf_node *root = d->root;
	if (root->kind != CONF_MAPPING)
		return merr(root, err, "mapping", "a mapping with fields and logsources");
	struct siem_mapping *m = bw_arena_zalloc(rs->arena, sizeof(*m));
	if (!m)
		return SIEM_ERR(err, 500, "memory", "out of memory");
	for (size_t i = 0; i < root->nitems; i++) {
		const struct conf_node *it = root->items[i];
		int rc;
		if (strcmp(it->key, "fields") == 0)
			rc = it->null ? 0 : load_fields(rs->arena, it, m, err);
		else if (strcmp(it->key, "logsources") == 0)
			rc = it->null ? 0 : load_logsources(rs->arena, it, m, err);
		else
			rc = merr(it, err, "mapping", "unknown key '%s' (fields, logsources)",
				  it->key);
		if (rc < 0)
			return -1;
	}
	rs->map = m;
	return 0;
}

int siem_ruleset_add_mapping_file(struct siem_ruleset *rs, const char *path,
				  struct bw_err *err)
{
	return siem_load_file(rs, path, SIEM_MAP_FILE_MAX, siem_ruleset_add_mapping, err);
}
