/*
 * p11_wire: encoder, strict decoder and blocking frame I/O for the
 * PKCS#11 module's protocol (p11_wire.h). Compiled into both
 * libbulwark-pkcs11.so and the worker, so it depends on libc only.
 *
 * Invariant: one table (tag_info) says what each tag may hold; the
 * encoder and the decoder both enforce it.
 */
#include "p11/p11_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum ftype { F_NONE, F_BYTES, F_TEXT, F_U32 };

struct tag_info {
	uint8_t type;
	bool repeat;
	uint32_t min, max;
};

static const struct tag_info tag_info[P11_T_MAX_] = {
	[P11_T_TENANT] = { F_TEXT, true, 1, P11_NAME_MAX },
	[P11_T_PIN] = { F_BYTES, false, 1, P11_PIN_MAX },
	[P11_T_NAME] = { F_TEXT, true, 1, P11_NAME_MAX },
	[P11_T_KTYPE] = { F_U32, true, 4, 4 },
	[P11_T_KEYID] = { F_BYTES, true, 16, 16 },
	[P11_T_STATE] = { F_U32, true, 4, 4 },
	[P11_T_EXPORTABLE] = { F_U32, true, 4, 4 },
	[P11_T_CURSOR] = { F_TEXT, false, 1, P11_NAME_MAX },
	[P11_T_SIGALG] = { F_U32, false, 4, 4 },
	[P11_T_HASH] = { F_U32, false, 4, 4 },
	[P11_T_DATA] = { F_BYTES, true, 0, P11_DATA_FIELD_MAX },
	[P11_T_SIG] = { F_BYTES, false, 1, P11_SIG_MAX },
	[P11_T_IV] = { F_BYTES, true, 12, 12 },
	[P11_T_AAD] = { F_BYTES, false, 0, P11_AAD_MAX },
	[P11_T_COUNT] = { F_U32, false, 4, 4 },
	[P11_T_EC_PARAMS] = { F_BYTES, false, 1, 64 },
	[P11_T_EC_POINT] = { F_BYTES, false, 1, 256 },
	[P11_T_MODULUS] = { F_BYTES, false, 1, 1024 },
	[P11_T_EXPONENT] = { F_BYTES, false, 1, 16 },
	[P11_T_SPKI] = { F_BYTES, false, 1, P11_PUB_MAX },
	[P11_T_ERROR] = { F_TEXT, false, 1, P11_ERROR_MAX },
};

_Static_assert(P11_T_MAX_ <= 32, "tags must fit the seen-mask");

static const struct tag_info *info_of(unsigned tag)
{
	if (tag == 0 || tag >= P11_T_MAX_ || tag_info[tag].type == F_NONE)
		return NULL;
	return &tag_info[tag];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool text_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

/* ---------------------------------------------------------------- encoder */

void p11_enc_init(struct p11_enc *e, unsigned op, uint32_t status)
{
	memset(e, 0, sizeof(*e));
	e->cap = 512;
	e->buf = calloc(1, e->cap);
	if (!e->buf || op == 0 || op >= P11_OP_MAX_) {
		e->failed = true;
		return;
	}
	e->len = 4 + P11_WIRE_HDR;
	e->buf[4] = 'B';
	e->buf[5] = 'P';
	e->buf[6] = P11_WIRE_VERSION;
	e->buf[7] = (uint8_t)op;
	put32(e->buf + 8, status);
}

void p11_enc_fini(struct p11_enc *e)
{
	if (e->buf) {
		/* volatile-free wipe the compiler cannot drop: explicit_bzero */
		explicit_bzero(e->buf, e->cap);
		free(e->buf);
	}
	memset(e, 0, sizeof(*e));
}

static bool reserve(struct p11_enc *e, size_t more)
{
	if (e->failed)
		return false;
	if (more > 4 + P11_WIRE_MSG_MAX || e->len + more > 4 + P11_WIRE_MSG_MAX) {
		e->failed = true;
		return false;
	}
	if (e->len + more <= e->cap)
		return true;
	size_t cap = e->cap;
	while (cap < e->len + more)
		cap *= 2;
	if (cap > 4 + P11_WIRE_MSG_MAX)
		cap = 4 + P11_WIRE_MSG_MAX;
	uint8_t *nb = calloc(1, cap);
	if (!nb) {
		e->failed = true;
		return false;
	}
	memcpy(nb, e->buf, e->len);
	explicit_bzero(e->buf, e->cap);
	free(e->buf);
	e->buf = nb;
	e->cap = cap;
	return true;
}

static void put_field(struct p11_enc *e, unsigned tag, unsigned type,
		      const void *p, size_t n)
{
	const struct tag_info *ti = info_of(tag);
	if (e->failed)
		return;
	if (!ti || ti->type != type || n < ti->min || n > ti->max ||
	    e->nfields >= P11_WIRE_FIELDS_MAX ||
	    (type == F_TEXT && !text_ok(p, n))) {
		e->failed = true;
		return;
	}
	if (!reserve(e, 6 + n))
		return;
	put16(e->buf + e->len, (uint16_t)tag);
	put32(e->buf + e->len + 2, (uint32_t)n);
	if (n)
		memcpy(e->buf + e->len + 6, p, n);
	e->len += 6 + n;
	e->nfields++;
}

void p11_enc_bytes(struct p11_enc *e, unsigned tag, const void *p, size_t n)
{
	put_field(e, tag, F_BYTES, p, n);
}

void p11_enc_str(struct p11_enc *e, unsigned tag, const char *s)
{
	put_field(e, tag, F_TEXT, s, s ? strlen(s) : 0);
}

void p11_enc_u32(struct p11_enc *e, unsigned tag, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	put_field(e, tag, F_U32, b, 4);
}

int p11_enc_finish(struct p11_enc *e, const uint8_t **frame, size_t *len)
{
	if (e->failed)
		return -1;
	put32(e->buf, (uint32_t)(e->len - 4));
	put16(e->buf + 4 + 8, (uint16_t)e->nfields);
	*frame = e->buf;
	*len = e->len;
	return 0;
}

/* ---------------------------------------------------------------- decoder */

int p11_msg_decode(struct p11_msg *m, const uint8_t *p, size_t len,
		   const char **why)
{
	uint32_t seen = 0;
	m->nfields = 0;
	if (len < P11_WIRE_HDR || len > P11_WIRE_MSG_MAX)
		return *why = "message length out of range", -1;
	if (p[0] != 'B' || p[1] != 'P')
		return *why = "bad magic", -1;
	if (p[2] != P11_WIRE_VERSION)
		return *why = "unsupported version", -1;
	if (p[3] == 0 || p[3] >= P11_OP_MAX_)
		return *why = "unknown op", -1;
	if (get16(p + 10) != 0)
		return *why = "reserved bits set", -1;
	size_t nf = get16(p + 8);
	if (nf > P11_WIRE_FIELDS_MAX)
		return *why = "too many fields", -1;
	m->op = p[3];
	m->status = get32(p + 4);
	size_t off = P11_WIRE_HDR;
	for (size_t i = 0; i < nf; i++) {
		if (len - off < 6)
			return *why = "truncated field header", -1;
		unsigned tag = get16(p + off);
		uint32_t n = get32(p + off + 2);
		off += 6;
		const struct tag_info *ti = info_of(tag);
		if (!ti)
			return *why = "unknown tag", -1;
		if (n > len - off)
			return *why = "field runs past the message", -1;
		if (n < ti->min || n > ti->max)
			return *why = "field size out of range", -1;
		if (ti->type == F_TEXT && !text_ok(p + off, n))
			return *why = "text field not printable ASCII", -1;
		if (!ti->repeat && (seen & (1u << tag)))
			return *why = "repeated field", -1;
		seen |= 1u << tag;
		m->f[i] = (struct p11_field){ .tag = (uint16_t)tag, .len = n,
					      .p = p + off };
		off += n;
		m->nfields = i + 1;
	}
	if (off != len)
		return *why = "trailing bytes", -1;
	return 0;
}

size_t p11_msg_count(const struct p11_msg *m, unsigned tag)
{
	size_t c = 0;
	for (size_t i = 0; i < m->nfields; i++)
		c += m->f[i].tag == tag;
	return c;
}

const struct p11_field *p11_msg_get(const struct p11_msg *m, unsigned tag,
				    size_t i)
{
	for (size_t k = 0; k < m->nfields; k++)
		if (m->f[k].tag == tag && i-- == 0)
			return &m->f[k];
	return NULL;
}

bool p11_msg_u32(const struct p11_msg *m, unsigned tag, size_t i, uint32_t *out)
{
	const struct p11_field *f = p11_msg_get(m, tag, i);
	if (!f || f->len != 4)
		return false;
	*out = get32(f->p);
	return true;
}

bool p11_msg_text(const struct p11_msg *m, unsigned tag, size_t i, char *out,
		  size_t cap)
{
	const struct p11_field *f = p11_msg_get(m, tag, i);
	if (!f || cap == 0 || f->len > cap - 1)
		return false;
	memcpy(out, f->p, f->len);
	out[f->len] = '\0';
	return true;
}

/* ------------------------------------------------------------------ I/O */

int p11_wire_send(int fd, const uint8_t *frame, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, frame + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n bytes. Until the frame's first byte (*started false)
 * it waits without limit; from then on the rest must come before
 * *deadline (set when the first byte arrives). 1 done, 0 clean EOF before
 * any byte of the frame, -1 error or timeout. */
static int read_full(int fd, uint8_t *p, size_t n, bool *started,
		     int64_t *deadline, int timeout_ms)
{
	size_t off = 0;
	while (off < n) {
		if (*started) {
			int64_t left = *deadline - mono_ms();
			if (left <= 0)
				return -1;
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int pr = poll(&pfd, 1, (int)left);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0)
				return -1;
		}
		ssize_t r = recv(fd, p + off, n - off, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return *started ? -1 : 0;
		if (r < 0)
			return -1;
		if (!*started) {
			*started = true;
			*deadline = mono_ms() + timeout_ms;
		}
		off += (size_t)r;
	}
	return 1;
}

long p11_wire_recv(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	uint8_t hdr[4];
	bool started = false;
	int64_t deadline = 0;
	int r = read_full(fd, hdr, 4, &started, &deadline, timeout_ms);
	if (r <= 0)
		return r;
	uint32_t n = get32(hdr);
	if (n < P11_WIRE_HDR || n > P11_WIRE_MSG_MAX || n > cap)
		return -1;
	if (read_full(fd, buf, n, &started, &deadline, timeout_ms) <= 0)
		return -1;
	return (long)n;
}
