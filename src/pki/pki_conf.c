/*
 * pki_conf.c — the `pki:` section of the daemon's configuration, bound
 * strictly with the conf module's binder (unknown keys, wrong types and
 * values out of range are errors naming file:line:column), and turned
 * into the typed struct pki_conf the daemon wires the CA, the ACME server
 * and the listener-certificate manager with. No YAML survives past here.
 *
 *   pki:
 *     public_url: http://pki.example.net      # AIA / CDP base
 *     acme_base_url: https://acme.example.net # ACME URLs (else the Host)
 *     cert_check_interval: 60s                # how often renewals are looked at
 *     expiry_alerts: [30d, 14d, 7d]           # thresholds of expiry events
 *     ocsp_stapling: true
 *     listener_certs:
 *       - listener: gateway
 *         source: ca | acme
 *         names: [www.example.net]
 *         key_type: ec-p256
 *         renew_before: 30d
 *         tenant: platform     # source ca: the CA's tenant and id
 *         ca: 0123456789abcdef
 *         validity: 30d
 *         directory: https://acme-v02.api.letsencrypt.org/directory  # source acme
 *         ca_file: /etc/ssl/acme-ca.pem       # trust for the ACME server
 *         contact: mailto:ops@example.net
 *         eab_kid: ...                         # external account binding
 *         eab_hmac: ...
 *     identities:                              # mTLS identities of components
 *       - {name: gateway, ca: 0123456789abcdef, uri: "spiffe://bulwark.local/gateway",
 *          validity: 24h, renew_before: 8h}
 *     # tests only: validate ACME challenges against loopback ports
 *     acme_validation_addr: 127.0.0.1
 *     acme_http01_port: 8080
 */
#include "pki/pki_int.h"
#include "conf/conf.h"

#include <string.h>

struct lc_raw {
	const char *listener;
	int source;
	struct conf_strlist names;
	const char *key_type;
	uint64_t renew_before;
	const char *tenant, *ca;
	uint64_t validity;
	const char *directory, *ca_file, *contact, *eab_kid, *eab_hmac;
};

struct id_raw {
	const char *name, *tenant, *ca, *uri, *key_type;
	uint64_t validity, renew_before;
};

#define I struct id_raw
static const struct conf_field id_fields[] = {
	{ .name = "name", CONF_STR(I, name), .required = true, .min = 1, .max = 63 },
	{ .name = "tenant", CONF_STR(I, tenant), .def = "platform", .max = PKI_TENANT_MAX },
	{ .name = "ca", CONF_STR(I, ca), .required = true, .max = 64 },
	{ .name = "uri", CONF_STR(I, uri), .required = true, .min = 10, .max = PKI_URI_MAX },
	{ .name = "key_type", CONF_STR(I, key_type), .def = "ec-p256", .max = 16 },
	{ .name = "validity", CONF_DURATION(I, validity), .min = 600000,
	  .max = (int64_t)PKI_LEAF_VALIDITY_MAX_S * 1000, .def = "24h",
	  .help = "short-lived by default; rotated at two thirds" },
	{ .name = "renew_before", CONF_DURATION(I, renew_before), .min = 0,
	  .max = (int64_t)PKI_LEAF_VALIDITY_MAX_S * 1000, .def = "0" },
};
#undef I

struct raw {
	const char *public_url, *acme_base_url, *acme_validation_addr;
	uint16_t acme_http01_port, acme_tlsalpn01_port;
	uint64_t check;
	struct conf_strlist alerts;
	bool staple;
	struct conf_list lcs;
	struct conf_list ids;
};

static const char *const sources[] = { "ca", "acme", NULL };

#define L struct lc_raw
static const struct conf_field lc_fields[] = {
	{ .name = "listener", CONF_STR(L, listener), .required = true, .min = 1, .max = 31 },
	{ .name = "source", CONF_ENUM(L, source, sources), .required = true },
	{ .name = "names", CONF_STRLIST(L, names), .required = true, .min = 1,
	  .max = PKI_LCERT_NAMES_MAX },
	{ .name = "key_type", CONF_STR(L, key_type), .def = "ec-p256", .max = 16 },
	{ .name = "renew_before", CONF_DURATION(L, renew_before), .min = 0,
	  .max = (int64_t)PKI_LEAF_VALIDITY_MAX_S * 1000, .def = "0",
	  .help = "renew this long before expiry; 0 = a third of the lifetime" },
	{ .name = "tenant", CONF_STR(L, tenant), .def = "platform", .max = PKI_TENANT_MAX },
	{ .name = "ca", CONF_STR(L, ca), .max = 64 },
	{ .name = "validity", CONF_DURATION(L, validity), .min = 0,
	  .max = (int64_t)PKI_LEAF_VALIDITY_MAX_S * 1000, .def = "0" },
	{ .name = "directory", CONF_STR(L, directory), .max = 512 },
	{ .name = "ca_file", CONF_PATH(L, ca_file) },
	{ .name = "contact", CONF_STR(L, contact), .max = 254 },
	{ .name = "eab_kid", CONF_STR(L, eab_kid), .max = 128 },
	{ .name = "eab_hmac", CONF_STR(L, eab_hmac), .max = 256 },
};
#undef L

#define R struct raw
static const struct conf_field fields[] = {
	{ .name = "public_url", CONF_STR(R, public_url), .max = PKI_URL_MAX },
	{ .name = "acme_base_url", CONF_STR(R, acme_base_url), .max = PKI_URL_MAX },
	{ .name = "acme_validation_addr", CONF_STR(R, acme_validation_addr), .max = 64,
	  .help = "tests: connect challenge validations to this address" },
	{ .name = "acme_http01_port", CONF_PORT(R, acme_http01_port), .def = "80" },
	{ .name = "acme_tlsalpn01_port", CONF_PORT(R, acme_tlsalpn01_port), .def = "443" },
	{ .name = "cert_check_interval", CONF_DURATION(R, check),
	  .min = PKI_LCERT_CHECK_MIN_MS, .max = PKI_LCERT_CHECK_MAX_MS, .def = "60s" },
	{ .name = "expiry_alerts", CONF_STRLIST(R, alerts), .min = 0,
	  .max = PKI_LCERT_ALERTS_MAX },
	{ .name = "ocsp_stapling", CONF_BOOL(R, staple), .def = "true" },
	{ .name = "listener_certs", CONF_LIST(R, lcs, lc_fields, struct lc_raw), .min = 0,
	  .max = PKI_LCERT_MAX },
	{ .name = "identities", CONF_LIST(R, ids, id_fields, struct id_raw), .min = 0,
	  .max = PKI_LCERT_MAX },
};
#undef R

int pki_conf_bind(const struct conf_node *node, struct bw_arena *arena,
		  struct pki_conf *out, struct bw_err *err)
{
	(void)arena;
	struct raw r;
	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	if (conf_bind(node, fields, BW_ARRAY_LEN(fields), &r, err) < 0)
		return -1;
	out->public_url = r.public_url;
	out->acme_base_url = r.acme_base_url;
	out->acme_validation_addr = r.acme_validation_addr;
	out->acme_http01_port = r.acme_http01_port;
	out->acme_tlsalpn01_port = r.acme_tlsalpn01_port;
	out->cert_check_interval_ms = r.check;
	out->staple = r.staple;
	const struct conf_node *an = node ? conf_get(node, "expiry_alerts") : NULL;
	if (!an) {
		static const int def[] = { 30, 14, 7 };
		memcpy(out->alert_days, def, sizeof(def));
		out->nalerts = 3;
	}
	for (size_t i = 0; i < r.alerts.n; i++) {
		uint64_t ms;
		const char *s = r.alerts.v[i];
		if (conf_parse_duration(s, strlen(s), &ms) < 0 || ms < 86400000ULL ||
		    ms > 365ULL * 86400000ULL || ms % 86400000ULL)
			return conf_err(conf_at(an, i), err, "range",
					"expiry alert '%s' must be whole days, 1d..365d", s);
		out->alert_days[out->nalerts++] = (int)(ms / 86400000ULL);
	}
	const struct conf_node *ln = node ? conf_get(node, "listener_certs") : NULL;
	const struct lc_raw *lr = r.lcs.v;
	for (size_t i = 0; i < r.lcs.n; i++) {
		struct pki_lcert_spec *s = &out->specs[i];
		const struct conf_node *at = conf_at(ln, i);
		s->listener = lr[i].listener;
		s->source = lr[i].source == 0 ? PKI_LCERT_SOURCE_CA : PKI_LCERT_SOURCE_ACME;
		s->names = lr[i].names.v;
		s->nnames = lr[i].names.n;
		s->key_type = pki_key_type_from_name(lr[i].key_type);
		if (s->key_type == PKI_KEY_NONE)
			return conf_err(at, err, "enum", "unknown key_type '%s'", lr[i].key_type);
		s->renew_before_s = (int64_t)(lr[i].renew_before / 1000);
		s->tenant = lr[i].tenant;
		s->ca = lr[i].ca;
		s->validity_s = (int64_t)(lr[i].validity / 1000);
		s->directory = lr[i].directory;
		s->ca_file = lr[i].ca_file;
		s->contact = lr[i].contact;
		s->eab_kid = lr[i].eab_kid;
		s->eab_hmac = lr[i].eab_hmac;
		if (s->source == PKI_LCERT_SOURCE_CA && !s->ca)
			return conf_err(at, err, "missing", "source ca needs 'ca' (the CA id)");
		if (s->source == PKI_LCERT_SOURCE_ACME &&
		    (!s->directory || strncmp(s->directory, "http", 4) != 0))
			return conf_err(at, err, "missing",
					"source acme needs 'directory' (an http(s) URL)");
		if (!s->eab_kid != !s->eab_hmac)
			return conf_err(at, err, "missing", "eab_kid and eab_hmac go together");
		for (size_t k = 0; k < s->nnames; k++) {
			const char *n = s->names[k];
			if (!n[0] || strlen(n) > PKI_DNS_NAME_MAX ||
			    strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789.-:*") != strlen(n))
				return conf_err(at, err, "range", "bad name '%s'", n);
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(out->specs[k].listener, s->listener) == 0)
				return conf_err(at, err, "duplicate",
						"listener '%s' has two certificates", s->listener);
		out->nspecs++;
	}
	const struct conf_node *idn = node ? conf_get(node, "identities") : NULL;
	const struct id_raw *ir = r.ids.v;
	for (size_t i = 0; i < r.ids.n; i++) {
		const struct conf_node *at = conf_at(idn, i);
		if (out->nspecs == PKI_LCERT_MAX)
			return conf_err(at, err, "range", "at most %d listener certificates and "
					"identities together", PKI_LCERT_MAX);
		struct pki_lcert_spec *s = &out->specs[out->nspecs];
		s->identity = ir[i].name;
		s->source = PKI_LCERT_SOURCE_CA;
		s->tenant = ir[i].tenant;
		s->ca = ir[i].ca;
		s->uri = ir[i].uri;
		s->validity_s = (int64_t)(ir[i].validity / 1000);
		s->renew_before_s = (int64_t)(ir[i].renew_before / 1000);
		s->key_type = pki_key_type_from_name(ir[i].key_type);
		if (s->key_type == PKI_KEY_NONE)
			return conf_err(at, err, "enum", "unknown key_type '%s'", ir[i].key_type);
		if (strncmp(s->uri, "spiffe://", 9) != 0)
			return conf_err(at, err, "range", "uri must be a spiffe:// ID");
		for (size_t k = 0; k < out->nspecs; k++)
			if (out->specs[k].identity && strcmp(out->specs[k].identity, s->identity) == 0)
				return conf_err(at, err, "duplicate", "identity '%s' is named twice",
						s->identity);
		out->nspecs++;
	}
	return 0;
}
