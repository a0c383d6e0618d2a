/*
 * The files the worker needs but must not open itself: TLS certificates,
 * their private keys and the client CA bundle. The supervisor (possibly
 * root) reads them, checks key files' modes, and hands the contents over —
 * by fork at start, inside the reload message later — and wipes its copy
 * of every key once sent.
 *
 * Wire form (after the config text and a NUL): repeated
 *   u32 path_len, path, u32 data_len, data   (little endian)
 * with every length checked against what remains.
 */
#include "server/server_int.h"
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

static int add_file(struct server_files *f, const char *path, bool secret,
		    struct bw_err *err)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].path, path) == 0)
			return 0;
	if (f->n == SERVER_MAX_FILES)
		return bw_err_set(err, 400, "server", "too_many_files",
				  "too many TLS files (max %d)", SERVER_MAX_FILES);
	size_t len;
	char *data = bw_file_read(path, SERVER_MAX_FILE_BYTES, &len, err);
	if (!data)
		return -1;
	f->f[f->n].path = bw_xstrdup(path);
	f->f[f->n].data = data;
	f->f[f->n].len = len;
	f->f[f->n].secret = secret;
	f->n++;
	return 0;
}

int server_files_load(const struct server_conf *c, struct server_files *out,
		      struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	const struct server_cert_conf *cc = c->tls.certificates.v;
	int rc = 0;
	if (c->tls.certificates.n == 0) {
		struct net_selfca_paths p;
		rc = net_selfca_ensure(c->server.data_dir, &p, err);
		if (rc == 0)
			rc = add_file(out, p.cert_file, false, err);
		if (rc == 0)
			rc = add_file(out, p.key_file, true, err);
	}
	for (size_t i = 0; rc == 0 && i < c->tls.certificates.n; i++) {
		rc = add_file(out, cc[i].cert, false, err);
		if (rc == 0)
			rc = add_file(out, cc[i].key, true, err);
	}
	if (rc == 0 && c->tls.client_ca)
		rc = add_file(out, c->tls.client_ca, false, err);
	if (rc < 0)
		server_files_wipe(out);
	return rc;
}

struct bw_str server_files_get(const struct server_files *f, const char *path)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].path, path) == 0)
			return bw_str_make(f->f[i].data, f->f[i].len);
	return bw_str_make(NULL, 0);
}

static int put_u32(struct bw_buf *b, size_t v)
{
	uint8_t le[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			  (uint8_t)(v >> 24) };
	return v > UINT32_MAX ? -1 : bw_buf_append(b, le, 4);
}

int server_files_encode(const struct server_files *f, const char *text,
			size_t len, struct bw_buf *out)
{
	int rc = bw_buf_append(out, text, len) | bw_buf_append_byte(out, '\0');
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		size_t pl = strlen(f->f[i].path);
		rc |= put_u32(out, pl) | bw_buf_append(out, f->f[i].path, pl) |
		      put_u32(out, f->f[i].len) |
		      bw_buf_append(out, f->f[i].data, f->f[i].len);
	}
	return rc ? -1 : 0;
}

static int get_u32(const char **p, const char *end, size_t *v)
{
	if (end - *p < 4)
		return -1;
	const uint8_t *u = (const uint8_t *)*p;
	*v = (size_t)u[0] | (size_t)u[1] << 8 | (size_t)u[2] << 16 |
	     (size_t)u[3] << 24;
	*p += 4;
	return 0;
}

int server_files_decode(const char *p, size_t len, struct server_files *out,
			size_t *text_len)
{
	memset(out, 0, sizeof(*out));
	const char *nul = memchr(p, '\0', len);
	if (!nul)
		return -1;
	*text_len = (size_t)(nul - p);
	const char *q = nul + 1, *end = p + len;
	while (q < end) {
		size_t pl, dl;
		if (out->n == SERVER_MAX_FILES || get_u32(&q, end, &pl) < 0 ||
		    pl == 0 || pl > 4096 || (size_t)(end - q) < pl ||
		    memchr(q, '\0', pl))
			goto fail;
		char *path = bw_xmalloc(pl + 1);
		memcpy(path, q, pl);
		path[pl] = '\0';
		q += pl;
		if (get_u32(&q, end, &dl) < 0 || (size_t)(end - q) < dl ||
		    dl > SERVER_MAX_FILE_BYTES) {
			free(path);
			goto fail;
		}
		char *data = bw_xmalloc(dl + 1);
		memcpy(data, q, dl);
		data[dl] = '\0';
		q += dl;
		out->f[out->n].path = path;
		out->f[out->n].data = data;
		out->f[out->n].len = dl;
		out->f[out->n].secret = true; /* wipe everything received */
		out->n++;
	}
	return 0;
fail:
	server_files_wipe(out);
	return -1;
}

void server_files_wipe(struct server_files *f)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->f[i].secret)
			bw_wipe(f->f[i].data, f->f[i].len);
		free(f->f[i].data);
		free(f->f[i].path);
	}
	memset(f, 0, sizeof(*f));
}
