/*
 * waf_xss.c — bulwark's own cross-site scripting detector behind
 * @detectXSS. Written from scratch in the spirit of libinjection's HTML5
 * approach: instead of matching attack strings, it reads the input the
 * way a browser's tokenizer would and asks whether it creates script.
 *
 * How it decides:
 *  1. The input is read as HTML text (data state). Every '<' followed by
 *     a letter or '/' starts a tag; its name and attributes are parsed
 *     with HTML's rules (names end at blank, '/', '>' or '='; values are
 *     "double", 'single' or unquoted). A truncated tag at the end of the
 *     input is still a tag — an attacker's payload needs no closing '>'.
 *  2. The input is also read as if it started inside a double-quoted, a
 *     single-quoted and an unquoted attribute value: after the first
 *     matching quote (or blank) the rest is parsed as attributes, which
 *     catches  " onmouseover="alert(1)  break-outs.
 *  3. It is script when:
 *       - a tag name is one that executes or loads code (script, iframe,
 *         object, embed, applet, frame, frameset, style, link, meta, base,
 *         svg's script-capable relatives, xml, import, vmlframe, isindex);
 *       - an attribute name is an event handler (on + letters; in the
 *         unquoted-value context only the well-known handler names, to
 *         keep prose such as "online=yes" clean);
 *       - a URL-carrying attribute (href, src, action, formaction, data,
 *         background, lowsrc, dynsrc, xlink:href, poster, codebase, from,
 *         to, values, by) holds a javascript:, vbscript:, livescript: or
 *         data:text/html URL, after entity decoding and removal of the
 *         control and blank characters browsers ignore there;
 *       - a style attribute holds expression( or a javascript: url(;
 *       - srcdoc appears at all;
 *       - a comment, declaration or processing instruction (<!...>,
 *         <?...>) holds a backtick or is a conditional comment
 *         ([if ...]), <?xml, <?import or <!ENTITY.
 * Known differences from libinjection are listed in WAF-ENGINE.md.
 */
#include "waf/waf_int.h"

#include <string.h>
#include <strings.h>

static bool eqi(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

static bool alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool html_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v' || c == 0;
}

static const char *const bad_tags[] = {
	"script", "iframe", "object", "embed", "applet", "frame", "frameset",
	"style", "link", "meta", "base", "xml", "import", "vmlframe",
	"isindex", "xss", "svg:script", "handler", "listener", "set",
	"animate", "animatemotion", "animatetransform", "foreignobject",
	"template", NULL
};

static const char *const url_attrs[] = {
	"href", "src", "action", "formaction", "data", "background", "lowsrc",
	"dynsrc", "xlink:href", "poster", "codebase", "from", "to", "values",
	"by", "folder", "xmlns:xlink", NULL
};

static const char *const known_events[] = {
	"onload", "onerror", "onclick", "ondblclick", "onmouseover",
	"onmouseout", "onmousedown", "onmouseup", "onmousemove",
	"onmouseenter", "onmouseleave", "onfocus", "onblur", "onfocusin",
	"onfocusout", "onkeydown", "onkeyup", "onkeypress", "onchange",
	"onsubmit", "onreset", "onselect", "onabort", "oninput", "oninvalid",
	"onscroll", "onresize", "onunload", "onbeforeunload", "onhashchange",
	"onmessage", "onpopstate", "onpageshow", "onpagehide", "ontoggle",
	"onanimationstart", "onanimationend", "ontransitionend", "onbegin",
	"onend", "onwheel", "onpointerover", "onpointerdown", "onpointerenter",
	"oncopy", "oncut", "onpaste", "ondrag", "ondrop", "ondragstart",
	"oncontextmenu", "onauxclick", "onplay", "oncanplay", "onloadstart",
	"onprogress", "onstart", "onfinish", "onbounce", NULL
};

static bool in_list(const char *p, size_t n, const char *const *l)
{
	for (size_t i = 0; l[i]; i++)
		if (eqi(p, n, l[i]))
			return true;
	return false;
}

static bool event_name(const char *p, size_t n, bool strict)
{
	if (strict)
		return in_list(p, n, known_events);
	if (n < 3 || (p[0] | 0x20) != 'o' || (p[1] | 0x20) != 'n')
		return false;
	for (size_t i = 2; i < n; i++)
		if (!alpha((unsigned char)p[i]))
			return false;
	return true;
}

/* Decode &#NN; &#xHH; &colon; &tab; &newline; and drop what browsers drop
 * in a URL scheme (controls and blanks), lowercase; at most cap bytes. */
static size_t normalise_value(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < cap;) {
		unsigned c = (unsigned char)p[i];
		if (c == '&' && i + 1 < n) {
			size_t k = i + 1;
			unsigned v = 0;
			bool num = false;
			if (p[k] == '#') {
				k++;
				bool hex = k < n && (p[k] | 0x20) == 'x';
				if (hex)
					k++;
				size_t d0 = k;
				while (k < n && (hex ? ((p[k] >= '0' && p[k] <= '9') ||
							((p[k] | 0x20) >= 'a' &&
							 (p[k] | 0x20) <= 'f'))
						     : (p[k] >= '0' && p[k] <= '9'))) {
					unsigned d = (unsigned char)p[k];
					d = d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10;
					v = (v * (hex ? 16 : 10) + d) & 0xffff;
					k++;
				}
				num = k > d0;
			} else if (n - k >= 6 && strncasecmp(p + k, "colon;", 6) == 0) {
				v = ':';
				num = true;
				k += 5;
			} else if (n - k >= 4 && strncasecmp(p + k, "tab;", 4) == 0) {
				v = '\t';
				num = true;
				k += 3;
			} else if (n - k >= 8 && strncasecmp(p + k, "newline;", 8) == 0) {
				v = '\n';
				num = true;
				k += 7;
			}
			if (num) {
				if (k < n && p[k] == ';')
					k++;
				i = k;
				c = v;
			} else {
				i++;
			}
		} else {
			i++;
		}
		if (c <= ' ' || c == 0x7f)
			continue;
		out[o++] = (char)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
	}
	return o;
}

static bool bad_url(const char *p, size_t n)
{
	char v[64];
	size_t l = normalise_value(p, n, v, sizeof(v));
	return (l >= 11 && memcmp(v, "javascript:", 11) == 0) ||
	       (l >= 9 && memcmp(v, "vbscript:", 9) == 0) ||
	       (l >= 11 && memcmp(v, "livescript:", 11) == 0) ||
	       (l >= 14 && memcmp(v, "data:text/html", 14) == 0) ||
	       (l >= 15 && memcmp(v, "data:image/svg+", 15) == 0) ||
	       (l >= 24 && memcmp(v, "data:application/x-shock", 24) == 0);
}

static bool bad_style(const char *p, size_t n)
{
	char v[256];
	size_t l = normalise_value(p, n, v, sizeof(v));
	return memmem(v, l, "expression(", 11) || memmem(v, l, "javascript:", 11) ||
	       memmem(v, l, "behavior:", 9) || memmem(v, l, "-moz-binding", 12);
}

/* Parse attributes from p[i..n) until '>' or the end. strict_events: the
 * unquoted-value context, where only known handler names count. *end is
 * where parsing stopped (the '>' or n), so callers can move past the tag:
 * every byte is parsed once, which keeps the detector linear. */
static bool scan_attrs(const char *p, size_t n, size_t i, bool strict_events,
		       size_t *end)
{
	*end = n;
	while (i < n) {
		while (i < n && (html_space((unsigned char)p[i]) || p[i] == '/'))
			i++;
		if (i >= n || p[i] == '>') {
			*end = i;
			return false;
		}
		size_t an = i;
		/* an attribute name may start with '=' in HTML5 */
		if (p[i] == '=')
			i++;
		while (i < n && !html_space((unsigned char)p[i]) && p[i] != '/' &&
		       p[i] != '>' && p[i] != '=')
			i++;
		const char *name = p + an;
		size_t nl = i - an;
		while (i < n && html_space((unsigned char)p[i]))
			i++;
		const char *val = NULL;
		size_t vl = 0;
		bool has_eq = i < n && p[i] == '=';
		if (has_eq) {
			i++;
			while (i < n && html_space((unsigned char)p[i]))
				i++;
			if (i < n && (p[i] == '"' || p[i] == '\'' || p[i] == '`')) {
				char q = p[i++];
				const char *e = memchr(p + i, q, n - i);
				size_t qend = e ? (size_t)(e - p) : n;
				val = p + i;
				vl = qend - i;
				i = e ? qend + 1 : n;
			} else {
				size_t s = i;
				while (i < n && !html_space((unsigned char)p[i]) &&
				       p[i] != '>')
					i++;
				val = p + s;
				vl = i - s;
			}
		}
		/* a handler needs a value to run anything */
		if (has_eq && event_name(name, nl, strict_events))
			return true;
		if (eqi(name, nl, "srcdoc"))
			return true;
		if (val && in_list(name, nl, url_attrs) && bad_url(val, vl))
			return true;
		if (val && eqi(name, nl, "style") && bad_style(val, vl))
			return true;
		if (val && eqi(name, nl, "attributename") && vl >= 2 &&
		    (val[0] | 0x20) == 'o' && (val[1] | 0x20) == 'n')
			return true;
	}
	return false;
}

/* Comment-like constructs that browsers have executed: old IE ended tags
 * at a backtick, ran conditional comments ([if ...]) and <?import>, and
 * XML processing instructions or entity declarations smuggle markup. */
static bool comment_bad(const char *c, size_t n)
{
	if (memchr(c, '`', n))
		return true;
	if (n >= 2 && c[0] == '-' && c[1] == '-') {
		c += 2;
		n -= 2;
	}
	return (n >= 3 && strncasecmp(c, "[if", 3) == 0) ||
	       (n >= 3 && strncasecmp(c, "xml", 3) == 0) ||
	       (n >= 6 && strncasecmp(c, "import", 6) == 0) ||
	       (n >= 6 && strncasecmp(c, "entity", 6) == 0);
}

/* Tag names longer than this are no tag we care about. */
#define XSS_TAG_NAME_MAX 32

/* Scan the input as HTML text for dangerous tags and attributes. Two
 * linear passes: every '<' is checked for a dangerous tag name (names
 * are bounded), then tags are parsed for attributes, each byte once. */
static bool scan_data(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '<')
			continue;
		size_t k = i + 1;
		if (p[k] == '!' || p[k] == '?') {
			/* a comment, declaration or processing instruction
			 * ("bogus comment" in HTML5) runs to the next '>' */
			const char *gt = memchr(p + k, '>', n - k);
			size_t e = gt ? (size_t)(gt - p) : n;
			if (comment_bad(p + k + 1, e - k - 1))
				return true;
			i = e; /* comments do not nest: skip it whole */
			continue;
		}
		if (p[k] == '/')
			k++;
		if (k >= n || !alpha((unsigned char)p[k]))
			continue;
		size_t s = k;
		while (k < n && k - s <= XSS_TAG_NAME_MAX &&
		       !html_space((unsigned char)p[k]) && p[k] != '/' &&
		       p[k] != '>')
			k++;
		if (k - s <= XSS_TAG_NAME_MAX && in_list(p + s, k - s, bad_tags))
			return true;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '<' || !alpha((unsigned char)p[i + 1]))
			continue;
		size_t k = i + 1;
		while (k < n && !html_space((unsigned char)p[k]) && p[k] != '/' &&
		       p[k] != '>')
			k++;
		size_t end;
		if (scan_attrs(p, n, k, false, &end))
			return true;
		if (end > i)
			i = end; /* continue after this tag */
	}
	return false;
}

/*
 * Whether the detector can fire at all: scan_data only reacts at '<', and
 * every verdict of scan_attrs needs an attribute value (so '=') except
 * the bare srcdoc name. Without '<', '=' and "srcdoc" there is no XSS.
 */
bool waf_xss_possible(const char *p, size_t n)
{
	if (memchr(p, '<', n) || memchr(p, '=', n))
		return true;
	for (const char *s = p; (s = memchr(s, 's', (size_t)(p + n - s))) != NULL; s++)
		if ((size_t)(p + n - s) >= 6 && strncasecmp(s, "srcdoc", 6) == 0)
			return true;
	for (const char *s = p; (s = memchr(s, 'S', (size_t)(p + n - s))) != NULL; s++)
		if ((size_t)(p + n - s) >= 6 && strncasecmp(s, "srcdoc", 6) == 0)
			return true;
	return false;
}

bool waf_xss_detect(const char *p, size_t n)
{
	return n && waf_xss_possible(p, n) && waf_xss_detect_full(p, n);
}

bool waf_xss_detect_full(const char *p, size_t n)
{
	if (n == 0)
		return false;
	if (scan_data(p, n))
		return true;
	/* attribute-value contexts: break out at the first quote */
	static const char quotes[] = { '"', '\'', '`' };
	for (size_t q = 0; q < sizeof(quotes); q++) {
		const char *e = memchr(p, quotes[q], n);
		size_t end;
		if (e && scan_attrs(p, n, (size_t)(e - p) + 1, false, &end))
			return true;
	}
	/* unquoted value: the value ends at the first blank */
	for (size_t i = 0; i < n; i++) {
		if (html_space((unsigned char)p[i])) {
			size_t end;
			return scan_attrs(p, n, i + 1, true, &end);
		}
	}
	return false;
}
