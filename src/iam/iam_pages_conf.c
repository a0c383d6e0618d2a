/*
 * Configuration of the login pages and of one-time-code delivery: the
 * `pages` and `otp` mappings of the `iam` section, turned into struct
 * iam_pages_options. Unknown keys, wrong types and out-of-range values
 * are refused with their position; the SMS gateway's bearer token is read
 * from a file that only its owner can read.
 *
 *   iam:
 *     pages:
 *       rp_id: id.example              # WebAuthn RP id (default: the host)
 *       origins: [https://id.example]  # accepted origins (default: the
 *                                      # request's own)
 *       require_uv: false
 *       step_up: 5m                    # recent-MFA window
 *       attestation_roots:             # optional: accept only security
 *         acme: /etc/bulwark/fido.pem  # keys whose attestation chains
 *         "*": /etc/bulwark/all.pem    # to these roots (per tenant;
 *                                      # "*": every other tenant)
 *     otp:
 *       issuer: Example
 *       smtp_url: smtp://mail.example:587
 *       smtp_from: login@example.org
 *       smtp_starttls: true
 *       sms_url: https://sms.example/send
 *       sms_bearer_file: /etc/bulwark/sms.token
 */
#include "iam/iam_int.h"
#include "conf/conf.h"

#include <stdlib.h>
#include <string.h>

/* attestation_roots: tenant (or "*") -> PEM file of trusted roots. */
static int bind_roots(const struct conf_node *m, struct iam_pages_conf *c,
		      struct bw_err *err)
{
	if (conf_expect(m, CONF_MAPPING, err) < 0)
		return -1;
	if (conf_len(m) > IAM_PAGES_ATT_ROOTS_MAX)
		return conf_err(m, err, "range", "at most %d tenants",
				IAM_PAGES_ATT_ROOTS_MAX);
	for (size_t i = 0; i < conf_len(m); i++) {
		const struct conf_node *v = conf_at(m, i);
		if (strcmp(v->key, "*") != 0 && !iam_valid_tenant_name(v->key))
			return conf_err_key(v, err, "range",
					    "'%s' is not a tenant name", v->key);
		if (conf_as_path(v, &c->att_files[i], err) < 0)
			return -1;
		c->att_tenants[i] = v->key;
	}
	c->opt.att_tenants = c->att_tenants;
	c->opt.att_files = c->att_files;
	c->opt.natt = conf_len(m);
	return 0;
}

static int bind_pages(const struct conf_node *m, struct iam_pages_conf *c,
		      struct bw_err *err)
{
	static const char *const keys[] = {"rp_id", "origins", "require_uv",
					   "step_up", "attestation_roots",
					   NULL};
	uint64_t ms;
	if (conf_check_keys(m, keys, err) < 0 ||
	    conf_opt_str(m, "rp_id", NULL, &c->opt.rp_id, err) < 0 ||
	    conf_opt_bool(m, "require_uv", false, &c->opt.require_uv, err) <
		0 ||
	    conf_opt_duration(m, "step_up", IAM_STEPUP_DEFAULT_S * 1000, 30000,
			      IAM_STEPUP_MAX_S * 1000, &ms, err) < 0)
		return -1;
	c->opt.stepup_s = (int64_t)(ms / 1000);
	const struct conf_node *ar = conf_get(m, "attestation_roots");
	if (ar && bind_roots(ar, c, err) < 0)
		return -1;
	const struct conf_node *o = conf_get(m, "origins");
	if (!o)
		return 0;
	if (conf_expect(o, CONF_SEQUENCE, err) < 0)
		return -1;
	if (conf_len(o) > IAM_PAGES_ORIGINS_MAX)
		return bw_err_set(err, 400, "iam", "range",
				  "iam.pages.origins: at most %d origins",
				  IAM_PAGES_ORIGINS_MAX);
	for (size_t i = 0; i < conf_len(o); i++) {
		const char *s;
		if (conf_as_str(conf_at(o, i), &s, err) < 0)
			return -1;
		if ((strncmp(s, "https://", 8) != 0 &&
		     strncmp(s, "http://", 7) != 0) ||
		    strlen(s) >= 256 || s[strlen(s) - 1] == '/')
			return bw_err_set(err, 400, "iam", "range",
					  "iam.pages.origins: '%s' is not an "
					  "origin like https://id.example",
					  s);
		c->origins[i] = s;
	}
	c->opt.origins = c->origins;
	c->opt.norigins = conf_len(o);
	return 0;
}

static int bind_otp(const struct conf_node *m, struct iam_pages_conf *c,
		    struct bw_err *err)
{
	static const char *const keys[] = {
	    "issuer",  "smtp_url",	  "smtp_from", "smtp_starttls",
	    "sms_url", "sms_bearer_file", NULL};
	struct iam_otp_delivery *d = &c->opt.otp;
	const char *bearer_file = NULL;
	if (conf_check_keys(m, keys, err) < 0 ||
	    conf_opt_str(m, "issuer", "bulwark", &d->issuer, err) < 0 ||
	    conf_opt_str(m, "smtp_url", NULL, &d->smtp_url, err) < 0 ||
	    conf_opt_str(m, "smtp_from", NULL, &d->smtp_from, err) < 0 ||
	    conf_opt_bool(m, "smtp_starttls", false, &d->smtp_starttls, err) <
		0 ||
	    conf_opt_str(m, "sms_url", NULL, &d->sms_url, err) < 0 ||
	    conf_opt_path(m, "sms_bearer_file", NULL, &bearer_file, err) < 0)
		return -1;
	if (d->smtp_url && strncmp(d->smtp_url, "smtp://", 7) != 0 &&
	    strncmp(d->smtp_url, "smtps://", 8) != 0)
		return bw_err_set(
		    err, 400, "iam", "range",
		    "iam.otp.smtp_url must be smtp:// or smtps://");
	if (d->smtp_url && !d->smtp_from)
		return bw_err_set(
		    err, 400, "iam", "missing",
		    "iam.otp.smtp_from is required with smtp_url");
	if (d->sms_url && strncmp(d->sms_url, "https://", 8) != 0 &&
	    strncmp(d->sms_url, "http://", 7) != 0)
		return bw_err_set(err, 400, "iam", "range",
				  "iam.otp.sms_url must be http(s)://");
	if (bearer_file) {
		size_t n = 0;
		if (conf_check_secret_file(bearer_file, err) < 0)
			return -1;
		char *t = bw_file_read(bearer_file, sizeof(c->sms_bearer) - 1,
				       &n, err);
		if (!t)
			return -1;
		while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
			n--;
		memcpy(c->sms_bearer, t, n);
		c->sms_bearer[n] = 0;
		bw_wipe(t, n);
		free(t);
		d->sms_bearer = c->sms_bearer;
	}
	return 0;
}

int iam_pages_conf_bind(const struct conf_node *iam_section,
			struct iam_pages_conf *c, struct bw_err *err)
{
	memset(c, 0, sizeof(*c));
	c->opt.otp.issuer = "bulwark";
	if (!iam_section)
		return 0;
	const struct conf_node *p = conf_get(iam_section, "pages");
	const struct conf_node *o = conf_get(iam_section, "otp");
	if (p && bind_pages(p, c, err) < 0)
		return -1;
	if (o && bind_otp(o, c, err) < 0)
		return -1;
	return 0;
}

void iam_pages_conf_fini(struct iam_pages_conf *c)
{
	bw_wipe(c->sms_bearer, sizeof(c->sms_bearer));
}
