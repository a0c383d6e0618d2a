/*
 * waf_names.c — the name tables of SecLang: variables, operators,
 * transformations and severities, with case-insensitive lookup (the
 * ModSecurity v3 scanner matches all of these without regard to case).
 * The tables are the single source of truth for what bulwark accepts;
 * a name not listed here is rejected by the loader.
 */
#include "waf/waf_int.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#define C WAF_VARF_COLLECTION
#define W (WAF_VARF_COLLECTION | WAF_VARF_WRITABLE)

static const struct waf_var_info vars[] = {
	{ "ARGS", WAF_VAR_ARGS, C },
	{ "ARGS_COMBINED_SIZE", WAF_VAR_ARGS_COMBINED_SIZE, 0 },
	{ "ARGS_GET", WAF_VAR_ARGS_GET, C },
	{ "ARGS_GET_NAMES", WAF_VAR_ARGS_GET_NAMES, C },
	{ "ARGS_NAMES", WAF_VAR_ARGS_NAMES, C },
	{ "ARGS_POST", WAF_VAR_ARGS_POST, C },
	{ "ARGS_POST_NAMES", WAF_VAR_ARGS_POST_NAMES, C },
	{ "AUTH_TYPE", WAF_VAR_AUTH_TYPE, 0 },
	{ "DURATION", WAF_VAR_DURATION, 0 },
	{ "ENV", WAF_VAR_ENV, C },
	{ "FILES", WAF_VAR_FILES, C },
	{ "FILES_COMBINED_SIZE", WAF_VAR_FILES_COMBINED_SIZE, 0 },
	{ "FILES_NAMES", WAF_VAR_FILES_NAMES, C },
	{ "FILES_SIZES", WAF_VAR_FILES_SIZES, C },
	{ "FILES_TMPNAMES", WAF_VAR_FILES_TMPNAMES, C },
	{ "FILES_TMP_CONTENT", WAF_VAR_FILES_TMP_CONTENT, C },
	{ "FULL_REQUEST", WAF_VAR_FULL_REQUEST, 0 },
	{ "FULL_REQUEST_LENGTH", WAF_VAR_FULL_REQUEST_LENGTH, 0 },
	{ "GEO", WAF_VAR_GEO, C },
	{ "GLOBAL", WAF_VAR_GLOBAL, W },
	{ "HIGHEST_SEVERITY", WAF_VAR_HIGHEST_SEVERITY, 0 },
	{ "INBOUND_DATA_ERROR", WAF_VAR_INBOUND_DATA_ERROR, 0 },
	{ "IP", WAF_VAR_IP, W },
	{ "MATCHED_VAR", WAF_VAR_MATCHED_VAR, 0 },
	{ "MATCHED_VARS", WAF_VAR_MATCHED_VARS, C },
	{ "MATCHED_VAR_NAME", WAF_VAR_MATCHED_VAR_NAME, 0 },
	{ "MATCHED_VARS_NAMES", WAF_VAR_MATCHED_VARS_NAMES, C },
	{ "MODSEC_BUILD", WAF_VAR_MODSEC_BUILD, 0 },
	{ "MSC_PCRE_LIMITS_EXCEEDED", WAF_VAR_MSC_PCRE_LIMITS_EXCEEDED, 0 },
	{ "MULTIPART_BOUNDARY_QUOTED", WAF_VAR_MULTIPART_BOUNDARY_QUOTED, 0 },
	{ "MULTIPART_BOUNDARY_WHITESPACE",
	  WAF_VAR_MULTIPART_BOUNDARY_WHITESPACE, 0 },
	{ "MULTIPART_CRLF_LF_LINES", WAF_VAR_MULTIPART_CRLF_LF_LINES, 0 },
	{ "MULTIPART_DATA_AFTER", WAF_VAR_MULTIPART_DATA_AFTER, 0 },
	{ "MULTIPART_DATA_BEFORE", WAF_VAR_MULTIPART_DATA_BEFORE, 0 },
	{ "MULTIPART_FILE_LIMIT_EXCEEDED",
	  WAF_VAR_MULTIPART_FILE_LIMIT_EXCEEDED, 0 },
	{ "MULTIPART_FILENAME", WAF_VAR_MULTIPART_FILENAME, 0 },
	{ "MULTIPART_HEADER_FOLDING", WAF_VAR_MULTIPART_HEADER_FOLDING, 0 },
	{ "MULTIPART_INVALID_HEADER_FOLDING",
	  WAF_VAR_MULTIPART_INVALID_HEADER_FOLDING, 0 },
	{ "MULTIPART_INVALID_PART", WAF_VAR_MULTIPART_INVALID_PART, 0 },
	{ "MULTIPART_INVALID_QUOTING", WAF_VAR_MULTIPART_INVALID_QUOTING, 0 },
	{ "MULTIPART_LF_LINE", WAF_VAR_MULTIPART_LF_LINE, 0 },
	{ "MULTIPART_MISSING_SEMICOLON",
	  WAF_VAR_MULTIPART_MISSING_SEMICOLON, 0 },
	/* v2 spelling of the same flag */
	{ "MULTIPART_SEMICOLON_MISSING",
	  WAF_VAR_MULTIPART_MISSING_SEMICOLON, 0 },
	{ "MULTIPART_NAME", WAF_VAR_MULTIPART_NAME, 0 },
	{ "MULTIPART_PART_HEADERS", WAF_VAR_MULTIPART_PART_HEADERS, C },
	{ "MULTIPART_STRICT_ERROR", WAF_VAR_MULTIPART_STRICT_ERROR, 0 },
	{ "MULTIPART_UNMATCHED_BOUNDARY",
	  WAF_VAR_MULTIPART_UNMATCHED_BOUNDARY, 0 },
	{ "OUTBOUND_DATA_ERROR", WAF_VAR_OUTBOUND_DATA_ERROR, 0 },
	{ "PATH_INFO", WAF_VAR_PATH_INFO, 0 },
	{ "QUERY_STRING", WAF_VAR_QUERY_STRING, 0 },
	{ "REMOTE_ADDR", WAF_VAR_REMOTE_ADDR, 0 },
	{ "REMOTE_HOST", WAF_VAR_REMOTE_HOST, 0 },
	{ "REMOTE_PORT", WAF_VAR_REMOTE_PORT, 0 },
	{ "REMOTE_USER", WAF_VAR_REMOTE_USER, 0 },
	{ "REQBODY_ERROR", WAF_VAR_REQBODY_ERROR, 0 },
	{ "REQBODY_ERROR_MSG", WAF_VAR_REQBODY_ERROR_MSG, 0 },
	{ "REQBODY_PROCESSOR", WAF_VAR_REQBODY_PROCESSOR, 0 },
	{ "REQBODY_PROCESSOR_ERROR", WAF_VAR_REQBODY_PROCESSOR_ERROR, 0 },
	{ "REQBODY_PROCESSOR_ERROR_MSG",
	  WAF_VAR_REQBODY_PROCESSOR_ERROR_MSG, 0 },
	{ "REQUEST_BASENAME", WAF_VAR_REQUEST_BASENAME, 0 },
	{ "REQUEST_BODY", WAF_VAR_REQUEST_BODY, 0 },
	{ "REQUEST_BODY_LENGTH", WAF_VAR_REQUEST_BODY_LENGTH, 0 },
	{ "REQUEST_COOKIES", WAF_VAR_REQUEST_COOKIES, C },
	{ "REQUEST_COOKIES_NAMES", WAF_VAR_REQUEST_COOKIES_NAMES, C },
	{ "REQUEST_FILENAME", WAF_VAR_REQUEST_FILENAME, 0 },
	{ "REQUEST_HEADERS", WAF_VAR_REQUEST_HEADERS, C },
	{ "REQUEST_HEADERS_NAMES", WAF_VAR_REQUEST_HEADERS_NAMES, C },
	{ "REQUEST_LINE", WAF_VAR_REQUEST_LINE, 0 },
	{ "REQUEST_METHOD", WAF_VAR_REQUEST_METHOD, 0 },
	{ "REQUEST_PROTOCOL", WAF_VAR_REQUEST_PROTOCOL, 0 },
	{ "REQUEST_URI", WAF_VAR_REQUEST_URI, 0 },
	{ "REQUEST_URI_RAW", WAF_VAR_REQUEST_URI_RAW, 0 },
	{ "RESOURCE", WAF_VAR_RESOURCE, W },
	{ "RESPONSE_BODY", WAF_VAR_RESPONSE_BODY, 0 },
	{ "RESPONSE_CONTENT_LENGTH", WAF_VAR_RESPONSE_CONTENT_LENGTH, 0 },
	{ "RESPONSE_CONTENT_TYPE", WAF_VAR_RESPONSE_CONTENT_TYPE, 0 },
	{ "RESPONSE_HEADERS", WAF_VAR_RESPONSE_HEADERS, C },
	{ "RESPONSE_HEADERS_NAMES", WAF_VAR_RESPONSE_HEADERS_NAMES, C },
	{ "RESPONSE_PROTOCOL", WAF_VAR_RESPONSE_PROTOCOL, 0 },
	{ "RESPONSE_STATUS", WAF_VAR_RESPONSE_STATUS, 0 },
	{ "RULE", WAF_VAR_RULE, C },
	{ "SERVER_ADDR", WAF_VAR_SERVER_ADDR, 0 },
	{ "SERVER_NAME", WAF_VAR_SERVER_NAME, 0 },
	{ "SERVER_PORT", WAF_VAR_SERVER_PORT, 0 },
	{ "SESSION", WAF_VAR_SESSION, W },
	{ "SESSIONID", WAF_VAR_SESSIONID, 0 },
	{ "STATUS", WAF_VAR_STATUS, 0 },
	{ "STATUS_LINE", WAF_VAR_STATUS_LINE, 0 },
	{ "TIME", WAF_VAR_TIME, 0 },
	{ "TIME_DAY", WAF_VAR_TIME_DAY, 0 },
	{ "TIME_EPOCH", WAF_VAR_TIME_EPOCH, 0 },
	{ "TIME_HOUR", WAF_VAR_TIME_HOUR, 0 },
	{ "TIME_MIN", WAF_VAR_TIME_MIN, 0 },
	{ "TIME_MON", WAF_VAR_TIME_MON, 0 },
	{ "TIME_SEC", WAF_VAR_TIME_SEC, 0 },
	{ "TIME_WDAY", WAF_VAR_TIME_WDAY, 0 },
	{ "TIME_YEAR", WAF_VAR_TIME_YEAR, 0 },
	{ "TX", WAF_VAR_TX, W },
	{ "UNIQUE_ID", WAF_VAR_UNIQUE_ID, 0 },
	{ "URLENCODED_ERROR", WAF_VAR_URLENCODED_ERROR, 0 },
	{ "USER", WAF_VAR_USER, W },
	{ "USERID", WAF_VAR_USERID, 0 },
	{ "WEBAPPID", WAF_VAR_WEBAPPID, 0 },
	{ "XML", WAF_VAR_XML, C },
};

#undef C
#undef W

static bool name_eq(const char *lit, const char *s, size_t len)
{
	return strlen(lit) == len && strncasecmp(lit, s, len) == 0;
}

const struct waf_var_info *waf_var_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(vars); i++)
		if (name_eq(vars[i].name, name, len))
			return &vars[i];
	return NULL;
}

static const char *var_names[WAF_VAR__COUNT];
static pthread_once_t var_names_once = PTHREAD_ONCE_INIT;

static void var_names_init(void)
{
	/* the first entry for an id is its canonical name (aliases follow) */
	for (size_t i = BW_ARRAY_LEN(vars); i-- > 0;)
		var_names[vars[i].id] = vars[i].name;
}

/* Called for every match the engine records, so a table, not a scan. */
const char *waf_var_name(enum waf_var_id id)
{
	pthread_once(&var_names_once, var_names_init);
	if ((unsigned)id >= WAF_VAR__COUNT || !var_names[id])
		return "?";
	return var_names[id];
}

struct op_name {
	const char *name;
	enum waf_op_id id;
};

static const struct op_name ops[] = {
	{ "rx", WAF_OP_RX },
	{ "rxGlobal", WAF_OP_RX_GLOBAL },
	{ "pm", WAF_OP_PM },
	{ "pmFromFile", WAF_OP_PM_FROM_FILE },
	{ "pmf", WAF_OP_PM_FROM_FILE },
	{ "streq", WAF_OP_STREQ },
	{ "strmatch", WAF_OP_STRMATCH },
	{ "contains", WAF_OP_CONTAINS },
	{ "containsWord", WAF_OP_CONTAINS_WORD },
	{ "beginsWith", WAF_OP_BEGINS_WITH },
	{ "endsWith", WAF_OP_ENDS_WITH },
	{ "within", WAF_OP_WITHIN },
	{ "eq", WAF_OP_EQ },
	{ "ge", WAF_OP_GE },
	{ "gt", WAF_OP_GT },
	{ "le", WAF_OP_LE },
	{ "lt", WAF_OP_LT },
	{ "ipMatch", WAF_OP_IP_MATCH },
	{ "ipMatchFromFile", WAF_OP_IP_MATCH_FROM_FILE },
	{ "ipMatchF", WAF_OP_IP_MATCH_FROM_FILE },
	{ "validateByteRange", WAF_OP_VALIDATE_BYTE_RANGE },
	{ "validateUrlEncoding", WAF_OP_VALIDATE_URL_ENCODING },
	{ "validateUtf8Encoding", WAF_OP_VALIDATE_UTF8_ENCODING },
	{ "validateDTD", WAF_OP_VALIDATE_DTD },
	{ "validateSchema", WAF_OP_VALIDATE_SCHEMA },
	{ "detectSQLi", WAF_OP_DETECT_SQLI },
	{ "detectXSS", WAF_OP_DETECT_XSS },
	{ "unconditionalMatch", WAF_OP_UNCONDITIONAL_MATCH },
	{ "noMatch", WAF_OP_NO_MATCH },
	{ "rbl", WAF_OP_RBL },
	{ "geoLookup", WAF_OP_GEO_LOOKUP },
	{ "verifyCC", WAF_OP_VERIFY_CC },
	{ "verifyCPF", WAF_OP_VERIFY_CPF },
	{ "verifySSN", WAF_OP_VERIFY_SSN },
	{ "verifySVNR", WAF_OP_VERIFY_SVNR },
};

int waf_op_lookup(const char *name, size_t len, enum waf_op_id *out)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(ops); i++)
		if (name_eq(ops[i].name, name, len)) {
			*out = ops[i].id;
			return 0;
		}
	return -1;
}

static const char *op_names[WAF_OP__COUNT];
static pthread_once_t op_names_once = PTHREAD_ONCE_INIT;

static void op_names_init(void)
{
	/* the first entry for an id is its canonical name (aliases follow) */
	for (size_t i = BW_ARRAY_LEN(ops); i-- > 0;)
		op_names[ops[i].id] = ops[i].name;
}

/* Called for every match the engine records (~80 per benign GET with the
 * CRS: paranoia-level skips and setup rules match too), so a table. */
const char *waf_op_name(enum waf_op_id id)
{
	pthread_once(&op_names_once, op_names_init);
	if ((unsigned)id >= WAF_OP__COUNT || !op_names[id])
		return "?";
	return op_names[id];
}

struct tfn_name {
	const char *name;
	enum waf_tfn id;
};

static const struct tfn_name tfns[] = {
	{ "none", WAF_T_NONE },
	{ "base64Decode", WAF_T_BASE64_DECODE },
	{ "base64DecodeExt", WAF_T_BASE64_DECODE_EXT },
	{ "base64Encode", WAF_T_BASE64_ENCODE },
	{ "cmdLine", WAF_T_CMD_LINE },
	{ "compressWhitespace", WAF_T_COMPRESS_WHITESPACE },
	{ "cssDecode", WAF_T_CSS_DECODE },
	{ "escapeSeqDecode", WAF_T_ESCAPE_SEQ_DECODE },
	{ "hexDecode", WAF_T_HEX_DECODE },
	{ "hexEncode", WAF_T_HEX_ENCODE },
	{ "htmlEntityDecode", WAF_T_HTML_ENTITY_DECODE },
	{ "jsDecode", WAF_T_JS_DECODE },
	{ "length", WAF_T_LENGTH },
	{ "lowercase", WAF_T_LOWERCASE },
	{ "md5", WAF_T_MD5 },
	{ "normalisePath", WAF_T_NORMALISE_PATH },
	{ "normalizePath", WAF_T_NORMALISE_PATH },
	{ "normalisePathWin", WAF_T_NORMALISE_PATH_WIN },
	{ "normalizePathWin", WAF_T_NORMALISE_PATH_WIN },
	{ "parityEven7bit", WAF_T_PARITY_EVEN_7BIT },
	{ "parityOdd7bit", WAF_T_PARITY_ODD_7BIT },
	{ "parityZero7bit", WAF_T_PARITY_ZERO_7BIT },
	{ "removeComments", WAF_T_REMOVE_COMMENTS },
	{ "removeCommentsChar", WAF_T_REMOVE_COMMENTS_CHAR },
	{ "removeNulls", WAF_T_REMOVE_NULLS },
	{ "removeWhitespace", WAF_T_REMOVE_WHITESPACE },
	{ "replaceComments", WAF_T_REPLACE_COMMENTS },
	{ "replaceNulls", WAF_T_REPLACE_NULLS },
	{ "sha1", WAF_T_SHA1 },
	{ "sqlHexDecode", WAF_T_SQL_HEX_DECODE },
	{ "trim", WAF_T_TRIM },
	{ "trimLeft", WAF_T_TRIM_LEFT },
	{ "trimRight", WAF_T_TRIM_RIGHT },
	{ "uppercase", WAF_T_UPPERCASE },
	{ "urlDecode", WAF_T_URL_DECODE },
	{ "urlDecodeUni", WAF_T_URL_DECODE_UNI },
	{ "urlEncode", WAF_T_URL_ENCODE },
	{ "utf8toUnicode", WAF_T_UTF8_TO_UNICODE },
};

int waf_tfn_lookup(const char *name, size_t len, enum waf_tfn *out)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(tfns); i++)
		if (name_eq(tfns[i].name, name, len)) {
			*out = tfns[i].id;
			return 0;
		}
	return -1;
}

const char *waf_tfn_name(enum waf_tfn t)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(tfns); i++)
		if (tfns[i].id == t)
			return tfns[i].name;
	return "?";
}

/* Syslog severities as SecLang names them; numbers 0..7 are also valid. */
int waf_severity_lookup(const char *s, size_t len)
{
	static const char *const names[] = { "EMERGENCY", "ALERT",
					     "CRITICAL",  "ERROR",
					     "WARNING",   "NOTICE",
					     "INFO",      "DEBUG" };
	if (len == 1 && s[0] >= '0' && s[0] <= '7')
		return s[0] - '0';
	for (size_t i = 0; i < BW_ARRAY_LEN(names); i++)
		if (name_eq(names[i], s, len))
			return (int)i;
	return -1;
}
