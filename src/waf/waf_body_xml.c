/*
 * waf_body_xml.c — the XML request body processor (libxml2) and the XML
 * collection: XML:/xpath yields the text content of every node the XPath
 * expression selects, as ModSecurity does; "XML" alone means the root element.
 *
 * Parsing never touches the network or the file system: external
 * entities and DTDs are not loaded (XML_PARSE_NONET, no NOENT/DTDLOAD),
 * libxml2's own nesting limit applies (no XML_PARSE_HUGE), and its error
 * printing is switched off (the message goes to REQBODY_ERROR_MSG).
 * The document is owned by the transaction and freed with it.
 */
#include "waf/waf_int.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <pthread.h>
#include <string.h>

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

void waf_body_xml_free(void *doc)
{
	xmlFreeDoc(doc);
}

static int set_error(struct waf_tx *tx, const char *what)
{
	char msg[300];
	int l = bw_snprintf(msg, sizeof(msg), "XML parsing error: %s", what);
	if (l < 0)
		l = (int)strlen(msg);
	/* libxml2 messages end in a newline */
	while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
		l--;
	if (waf_scal_set(tx, WAF_VAR_REQBODY_ERROR, "1", 1) ||
	    waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR_ERROR, "1", 1) ||
	    waf_scal_set(tx, WAF_VAR_REQBODY_ERROR_MSG, msg, (size_t)l) ||
	    waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR_ERROR_MSG, msg, (size_t)l))
		return -1;
	return 1;
}

int waf_body_xml(struct waf_tx *tx, const char *body, size_t n)
{
	pthread_once(&xml_once, xml_init);
	if (n > INT32_MAX)
		return set_error(tx, "body too large");
	xmlParserCtxtPtr ctx = xmlNewParserCtxt();
	if (!ctx) {
		tx->oom = true;
		return -1;
	}
	int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
	xmlDocPtr doc = xmlCtxtReadMemory(ctx, body, (int)n, "body.xml", NULL,
					  opts);
	if (!doc || !ctx->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctx);
		char what[200];
		(void)bw_snprintf(what, sizeof(what), "%s",
				  e && e->message ? e->message : "not well-formed");
		if (doc)
			xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctx);
		return set_error(tx, what);
	}
	xmlFreeParserCtxt(ctx);
	tx->xml_doc = doc;
	return 0;
}

static int push_node_text(struct waf_tx *tx, xmlNodePtr node,
			  struct bw_str expr)
{
	xmlChar *c = xmlNodeGetContent(node);
	const char *s = c ? (const char *)c : "";
	size_t l = strlen(s);
	char *d = waf_tx_strdup(tx, s, l);
	xmlFree(c);
	if (!d)
		return -1;
	return waf_vals_push(tx, (struct waf_val){ WAF_VAR_XML, false, expr,
						   bw_str_make(d, l), 0 });
}

static int push_count(struct waf_tx *tx, size_t cnt)
{
	char tmp[24];
	int l = bw_snprintf(tmp, sizeof(tmp), "%zu", cnt);
	char *d = waf_tx_strdup(tx, tmp, (size_t)l);
	if (!d)
		return -1;
	return waf_vals_push(tx, (struct waf_val){ WAF_VAR_XML, true,
						   BW_STR(""),
						   bw_str_make(d, (size_t)l), 0 });
}

/* Push the text of the nodes expr selects (as_count false) or how many
 * there are (as_count true). */
int waf_xml_xpath(struct waf_tx *tx, struct bw_str expr, bool as_count)
{
	if (!tx->xml_doc)
		return as_count ? push_count(tx, 0) : 0;
	xmlXPathContextPtr xc = xmlXPathNewContext(tx->xml_doc);
	if (!xc) {
		tx->oom = true;
		return -1;
	}
	char *e = waf_tx_strdup(tx, expr.p, expr.len);
	xmlXPathObjectPtr obj =
		e ? xmlXPathEvalExpression((const xmlChar *)e, xc) : NULL;
	size_t cnt = 0;
	int rc = 0;
	if (obj && obj->nodesetval) {
		xmlNodeSetPtr ns = obj->nodesetval;
		for (int i = 0; i < ns->nodeNr && rc == 0; i++) {
			if (!as_count)
				rc = push_node_text(tx, ns->nodeTab[i], expr);
			cnt++;
		}
	}
	if (obj)
		xmlXPathFreeObject(obj);
	xmlXPathFreeContext(xc);
	if (rc == 0 && as_count)
		rc = push_count(tx, cnt);
	return rc;
}
