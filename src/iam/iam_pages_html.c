/*
 * HTML for the login pages: one document skeleton (lang, charset,
 * viewport, one stylesheet, one heading), escaping, and the forms. Pages
 * are plain HTML forms that work without JavaScript; only the WebAuthn
 * buttons need the one static script (/auth/static/bw.js), which reads
 * its options from a data- attribute, so the CSP needs no inline script.
 *
 * Invariants: every dynamic string goes through esc() (text and
 * attribute contexts alike: & < > " ' are encoded); every form carries
 * the CSRF token; an error message is a role="alert" paragraph that the
 * fields it concerns name in aria-describedby.
 */
#include "iam/iam_pages_int.h"

#include <string.h>

int iam_html_esc(struct bw_buf *b, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		const char *r = NULL;
		switch (*p) {
		case '&':
			r = "&amp;";
			break;
		case '<':
			r = "&lt;";
			break;
		case '>':
			r = "&gt;";
			break;
		case '"':
			r = "&quot;";
			break;
		case '\'':
			r = "&#39;";
			break;
		default:
			break;
		}
		if (r ? bw_buf_append_str(b, r) < 0
		      : bw_buf_append_byte(b, *p) < 0)
			return -1;
	}
	return 0;
}

/* Appends fmt where every %s argument is escaped ("%r" is not used: raw
 * HTML only comes from string literals here). */
static int put(struct bw_buf *b, const char *lit)
{
	return bw_buf_append_str(b, lit);
}

static int kv(struct bw_buf *b, const char *pre, const char *val,
	      const char *post)
{
	if (put(b, pre) < 0 || iam_html_esc(b, val) < 0 || put(b, post) < 0)
		return -1;
	return 0;
}

int iam_html_begin(struct bw_buf *b, const char *title, const char *tenant)
{
	int rc = put(b, "<!doctype html>\n<html lang=\"en\"><head>"
			"<meta charset=\"utf-8\">"
			"<meta name=\"viewport\" content=\"width=device-width,"
			" initial-scale=1\">"
			"<meta name=\"referrer\" content=\"same-origin\">");
	rc |= kv(b, "<title>", title, " – bulwark</title>");
	rc |= put(b, "<link rel=\"stylesheet\" href=\"/auth/static/bw.css\">"
		     "</head><body><main>");
	rc |= kv(b, "<p class=\"realm\">", tenant, "</p>");
	rc |= kv(b, "<h1>", title, "</h1>");
	return rc < 0 ? -1 : 0;
}

int iam_html_end(struct bw_buf *b)
{
	return put(b, "</main></body></html>\n");
}

int iam_html_error(struct bw_buf *b, const char *msg)
{
	if (!msg || !*msg)
		return 0;
	return kv(b, "<p id=\"err\" class=\"error\" role=\"alert\">", msg,
		  "</p>");
}

int iam_html_notice(struct bw_buf *b, const char *msg)
{
	if (!msg || !*msg)
		return 0;
	return kv(b, "<p class=\"notice\" role=\"status\">", msg, "</p>");
}

int iam_html_form_begin(struct bw_buf *b, const char *action, const char *csrf,
			const char *next)
{
	int rc = kv(b, "<form method=\"post\" action=\"", action, "\">");
	rc |=
	    kv(b, "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">");
	if (next && *next)
		rc |= kv(b, "<input type=\"hidden\" name=\"next\" value=\"",
			 next, "\">");
	return rc < 0 ? -1 : 0;
}

/* A labelled input; described by the error paragraph when there is
 * one. */
int iam_html_field(struct bw_buf *b, const char *id, const char *label,
		   const char *type, const char *autocomplete,
		   const char *value, bool invalid, const char *extra)
{
	int rc = kv(b, "<p><label for=\"", id, "\">");
	rc |= iam_html_esc(b, label);
	rc |= kv(b, "</label><input id=\"", id, "\"");
	rc |= kv(b, " name=\"", id, "\"");
	rc |= kv(b, " type=\"", type, "\"");
	rc |= kv(b, " autocomplete=\"", autocomplete, "\" required");
	if (value && *value)
		rc |= kv(b, " value=\"", value, "\"");
	if (invalid)
		rc |= put(b, " aria-invalid=\"true\" aria-describedby=\"err\"");
	if (extra)
		rc |= put(b, extra); /* a literal from this module */
	rc |= put(b, "></p>");
	return rc < 0 ? -1 : 0;
}

int iam_html_button(struct bw_buf *b, const char *name, const char *value,
		    const char *label)
{
	int rc = 0;
	if (name)
		rc |= kv(b, "<p><button type=\"submit\" name=\"", name, "\"");
	else
		rc |= put(b, "<p><button type=\"submit\"");
	if (value)
		rc |= kv(b, " value=\"", value, "\"");
	rc |= kv(b, ">", label, "</button></p></form>");
	return rc < 0 ? -1 : 0;
}

/* Static assets. The script drives navigator.credentials for the
 * WebAuthn forms: it converts the base64url members of the options the
 * server put in data-options, calls create()/get(), writes the results
 * into the form's hidden fields and submits it. Without JavaScript the
 * button is simply inert and the other methods remain. */
const char iam_pages_js[] =
    "'use strict';\n"
    "(function () {\n"
    "  function b2u(s) { s = s.replace(/-/g, '+').replace(/_/g, '/');\n"
    "    while (s.length % 4) s += '=';\n"
    "    return Uint8Array.from(atob(s), function (c) { return "
    "c.charCodeAt(0); }); }\n"
    "  function u2b(buf) { var b = new Uint8Array(buf), s = '';\n"
    "    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);\n"
    "    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, "
    "'_').replace(/=+$/, ''); }\n"
    "  function creds(list) { return (list || []).map(function (c) {\n"
    "    return { type: c.type, id: b2u(c.id) }; }); }\n"
    "  function fail(form, e) { var p = form.querySelector('.wa-error');\n"
    "    if (p) p.textContent = 'The security key did not answer: ' + (e "
    "&& e.name ? e.name : e); }\n"
    "  document.querySelectorAll('form[data-webauthn]').forEach(function "
    "(form) {\n"
    "    var btn = form.querySelector('button'); btn.disabled = false;\n"
    "    form.addEventListener('submit', function (ev) {\n"
    "      if (form.dataset.done) return; ev.preventDefault();\n"
    "      var o = JSON.parse(form.dataset.options);\n"
    "      o.challenge = b2u(o.challenge);\n"
    "      var p;\n"
    "      if (form.dataset.webauthn === 'create') {\n"
    "        o.user.id = b2u(o.user.id);\n"
    "        o.excludeCredentials = creds(o.excludeCredentials);\n"
    "        p = navigator.credentials.create({ publicKey: o });\n"
    "      } else {\n"
    "        o.allowCredentials = creds(o.allowCredentials);\n"
    "        p = navigator.credentials.get({ publicKey: o });\n"
    "      }\n"
    "      p.then(function (c) {\n"
    "        var r = c.response, f = form.elements;\n"
    "        f.credential_id.value = u2b(c.rawId);\n"
    "        f.client_data.value = u2b(r.clientDataJSON);\n"
    "        if (r.attestationObject) f.attestation.value = "
    "u2b(r.attestationObject);\n"
    "        if (r.authenticatorData) { f.authenticator_data.value = "
    "u2b(r.authenticatorData);\n"
    "          f.signature.value = u2b(r.signature); }\n"
    "        form.dataset.done = '1'; form.submit();\n"
    "      }).catch(function (e) { fail(form, e); });\n"
    "    });\n"
    "  });\n"
    "})();\n";

const char iam_pages_css[] =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;"
    "color:#111}\n"
    "main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;"
    "border-radius:8px;box-shadow:0 1px 4px #0002}\n"
    "h1{font-size:1.5rem;margin:0 0 1rem}label{display:block;font-weight:"
    "600}\n"
    "input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;"
    "border:1px solid #767676;border-radius:4px}\n"
    "input[aria-invalid=true]{border-color:#b00020}\n"
    "button{padding:.5rem 1rem;font:inherit;border-radius:4px;border:0;"
    "background:#1a56db;color:#fff;cursor:pointer}\n"
    "button.secondary{background:#e5e7eb;color:#111}\n"
    ".error{color:#b00020;font-weight:600}.notice{color:#05603a}\n"
    ".realm{color:#555;margin:0}:focus{outline:3px solid #f59e0b}\n"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;"
    "padding:.25rem;border-bottom:1px solid #ddd}\n"
    ".qr{margin:0}.qr svg{width:12rem;height:12rem}\n";
