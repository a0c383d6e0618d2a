/*
 * waf_data.c — rule data: resolving file names relative to the rule file
 * (as ModSecurity does for Include and @pmFromFile), loading phrase files
 * and IP network files, and parsing address/network and byte-range lists.
 *
 * Data files are read whole through bw_file_read with the load's file-size
 * limit and count against the load's file budget. Phrases are copied into
 * the rule set's arena; nothing here keeps a pointer into a file buffer.
 */
#include "waf/waf_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

char *waf_resolve_path(struct waf_parse *p, const char *name, size_t len)
{
	if (len == 0) {
		waf_perr(p, 400, "bad_path", "empty file name");
		return NULL;
	}
	if (memchr(name, '\0', len)) {
		waf_perr(p, 400, "bad_path", "NUL byte in file name");
		return NULL;
	}
	if (name[0] == '/')
		return waf_strndup(p, name, len);
	if (!p->dir) {
		waf_perr(p, 400, "bad_path",
			 "relative path '%.*s' has no base directory to "
			 "resolve against", (int)len, name);
		return NULL;
	}
	char *r = bw_arena_printf(p->rs->arena, "%s/%.*s", p->dir, (int)len,
				  name);
	if (!r)
		waf_perr(p, 413, "out_of_memory",
			 "rule set memory limit reached");
	return r;
}

/* Read a data file; counts against the load's file budget. */
static char *read_data(struct waf_parse *p, const char *path, size_t *len)
{
	if (++p->files > p->lim.files_max) {
		waf_perr(p, 413, "too_many_files",
			 "more than %u files in one load", p->lim.files_max);
		return NULL;
	}
	struct bw_err ferr = { 0 };
	char *buf = bw_file_read(path, p->lim.file_max, len, &ferr);
	if (!buf)
		waf_perr(p, ferr.code == 413 ? 413 : 404, "data_file",
			 "cannot read data file: %s", ferr.msg);
	return buf;
}

/* Walk the lines of buf, calling fn on each that is not blank or a
 * comment ('#' after optional whitespace). Trailing CR is dropped. */
static int each_line(struct waf_parse *p, const char *buf, size_t len,
		     int (*fn)(struct waf_parse *, struct waf_operator *,
			       struct bw_str, const char *, unsigned),
		     struct waf_operator *op, const char *path)
{
	unsigned lineno = 0;
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len;
		struct bw_str line = bw_str_make(buf + i, end - i);
		i = end + 1;
		lineno++;
		if (line.len && line.p[line.len - 1] == '\r')
			line.len--;
		size_t k = 0;
		while (k < line.len && isspace((unsigned char)line.p[k]))
			k++;
		if (k == line.len || line.p[k] == '#')
			continue;
		if (fn(p, op, line, path, lineno) != 0)
			return -1;
	}
	return 0;
}

static int add_phrase(struct waf_parse *p, struct waf_operator *op,
		      struct bw_str line, const char *path, unsigned lineno)
{
	(void)path;
	(void)lineno;
	if (op->nphrases >= WAF_PM_PHRASES_MAX)
		return waf_perr(p, 413, "too_many_phrases",
				"@pmFromFile: more than %d phrases",
				WAF_PM_PHRASES_MAX);
	/* capacity is tracked as a power of two above nphrases */
	size_t cap = 8;
	while (cap <= op->nphrases)
		cap *= 2;
	if (op->nphrases == 0 || op->nphrases == cap / 2) {
		size_t have = op->nphrases == 0 ? 0 : cap / 2;
		if (waf_grow(p->rs->arena, (void **)&op->phrases, &have,
			     op->nphrases, sizeof(*op->phrases)) != 0)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
	}
	char *d = waf_strndup(p, line.p, line.len);
	if (!d)
		return -1;
	op->phrases[op->nphrases++] = bw_str_make(d, line.len);
	return 0;
}

int waf_load_pm_file(struct waf_parse *p, struct waf_operator *op,
		     const char *path)
{
	size_t len;
	char *buf = read_data(p, path, &len);
	if (!buf)
		return -1;
	int rc = each_line(p, buf, len, add_phrase, op, path);
	free(buf);
	return rc;
}

static int add_net(struct waf_parse *p, struct waf_operator *op,
		   struct bw_str line, const char *path, unsigned lineno)
{
	while (line.len && isspace((unsigned char)line.p[line.len - 1]))
		line.len--;
	while (line.len && isspace((unsigned char)line.p[0])) {
		line.p++;
		line.len--;
	}
	size_t cap = 8;
	while (cap <= op->nnets)
		cap *= 2;
	if (op->nnets == 0 || op->nnets == cap / 2) {
		size_t have = op->nnets == 0 ? 0 : cap / 2;
		if (waf_grow(p->rs->arena, (void **)&op->nets, &have, op->nnets,
			     sizeof(*op->nets)) != 0)
			return waf_perr(p, 413, "out_of_memory",
					"rule set memory limit reached");
	}
	if (waf_parse_ipnet(line, &op->nets[op->nnets]) != 0)
		return waf_perr(p, 400, "bad_data",
				"%s:%u: invalid address or network '%.*s'",
				path, lineno, (int)line.len, line.p);
	op->nnets++;
	return 0;
}

int waf_load_ip_file(struct waf_parse *p, struct waf_operator *op,
		     const char *path)
{
	size_t len;
	char *buf = read_data(p, path, &len);
	if (!buf)
		return -1;
	int rc = each_line(p, buf, len, add_net, op, path);
	free(buf);
	return rc;
}

int waf_parse_ipnet(struct bw_str s, struct waf_ipnet *out)
{
	char tmp[64];
	if (s.len == 0 || s.len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = 0;
	char *slash = strchr(tmp, '/');
	uint64_t prefix = 0;
	if (slash) {
		*slash = 0;
		if (bw_str_to_u64(bw_str_make(slash + 1, strlen(slash + 1)),
				  &prefix) != 0)
			return -1;
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, tmp, out->addr) == 1) {
		out->family = AF_INET;
		if (!slash)
			prefix = 32;
		if (prefix > 32)
			return -1;
	} else if (inet_pton(AF_INET6, tmp, out->addr) == 1) {
		out->family = AF_INET6;
		if (!slash)
			prefix = 128;
		if (prefix > 128)
			return -1;
	} else {
		return -1;
	}
	out->prefix = (uint8_t)prefix;
	/* Clear host bits so the engine can compare masked prefixes. */
	for (unsigned b = (unsigned)prefix; b < 128; b++)
		out->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
	return 0;
}

int waf_parse_byte_range(struct bw_str s, uint8_t bits[32])
{
	memset(bits, 0, 32);
	size_t i = 0, items = 0;
	while (i < s.len) {
		while (i < s.len && (isspace((unsigned char)s.p[i]) ||
				     s.p[i] == ','))
			i++;
		if (i >= s.len)
			break;
		size_t st = i;
		while (i < s.len && s.p[i] != ',' &&
		       !isspace((unsigned char)s.p[i]))
			i++;
		struct bw_str w = bw_str_make(s.p + st, i - st);
		const char *dash = memchr(w.p, '-', w.len);
		uint64_t lo, hi;
		if (dash) {
			if (bw_str_to_u64(bw_str_make(w.p, (size_t)(dash - w.p)),
					  &lo) != 0 ||
			    bw_str_to_u64(bw_str_make(dash + 1,
						      w.len - (size_t)(dash - w.p) - 1),
					  &hi) != 0)
				return -1;
		} else {
			if (bw_str_to_u64(w, &lo) != 0)
				return -1;
			hi = lo;
		}
		if (lo > hi || hi > 255)
			return -1;
		for (uint64_t b = lo; b <= hi; b++)
			bits[b / 8] |= (uint8_t)(1u << (b % 8));
		items++;
	}
	return items ? 0 : -1;
}
