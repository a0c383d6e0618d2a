/*
 * RFC 6587 framing for syslog over TCP/TLS, as an explicit state machine
 * that survives any split of the stream across reads.
 *
 * States: START (between frames), LEN (reading MSG-LEN digits), BODY
 * (octet-counted body, `want` bytes still due), LINE (newline-framed
 * body until LF / NUL). A frame longer than max_frame is delivered
 * truncated and the rest of it dropped (SKIP bytes or up to the next LF),
 * so memory per connection is bounded by max_frame. When a whole
 * newline-framed frame is inside one read and nothing is buffered, it is
 * delivered straight from the caller's memory without a copy.
 */
#include "siem/siem_int.h"

enum { ST_START, ST_LEN, ST_BODY, ST_LINE };

void siem_framer_init(struct siem_framer *fr, enum siem_framing mode,
		      size_t max_frame)
{
	memset(fr, 0, sizeof(*fr));
	fr->mode = mode;
	if (max_frame == 0)
		max_frame = SIEM_LINE_MAX_DEFAULT;
	if (max_frame > SIEM_LINE_MAX_HARD)
		max_frame = SIEM_LINE_MAX_HARD;
	fr->max_frame = max_frame;
	bw_buf_init(&fr->buf, max_frame + 1);
}

void siem_framer_fini(struct siem_framer *fr)
{
	bw_buf_fini(&fr->buf);
}

static void deliver(struct siem_framer *fr, const char *p, size_t n,
		    siem_frame_cb cb, void *arg)
{
	/* CRLF senders: the CR is not part of the message */
	if (fr->state == ST_LINE)
		while (n && (p[n - 1] == '\r'))
			n--;
	fr->frames++;
	if (fr->truncated)
		fr->truncated_frames++;
	cb(p, n, fr->truncated, arg);
	fr->truncated = false;
}

/* Appends to the frame buffer up to max_frame; the excess marks the
 * frame truncated. */
static void buffer(struct siem_framer *fr, const char *p, size_t n)
{
	size_t room = fr->max_frame - fr->buf.len;
	if (n > room) {
		n = room;
		fr->truncated = true;
	}
	if (n && bw_buf_append(&fr->buf, p, n) < 0)
		fr->truncated = true; /* cannot happen: ceiling > max_frame */
}

int siem_framer_feed(struct siem_framer *fr, const char *p, size_t n,
		     siem_frame_cb cb, void *arg, struct bw_err *err)
{
	size_t i = 0;
	while (i < n) {
		switch (fr->state) {
		case ST_START:
			if (fr->skip) { /* rest of an oversized counted frame */
				size_t k = n - i < fr->skip ? n - i : fr->skip;
				fr->skip -= k;
				i += k;
				continue;
			}
			if (fr->skip_line) { /* rest of an oversized line */
				/* LF and NUL end a line, as in ST_LINE */
				size_t j = i;
				while (j < n && p[j] != '\n' && p[j] != '\0')
					j++;
				if (j == n)
					return 0;
				i = j + 1;
				fr->skip_line = false;
				continue;
			}
			if (fr->mode != SIEM_FRAMING_NEWLINE &&
			    siem_isdigit(p[i])) {
				if (p[i] == '0') {
					fr->errors++;
					return SIEM_ERR(err, 400, "framing",
						"MSG-LEN with a leading zero");
				}
				fr->state = ST_LEN;
				fr->want = 0;
				fr->digits = 0;
				continue;
			}
			if (fr->mode == SIEM_FRAMING_OCTET) {
				fr->errors++;
				return SIEM_ERR(err, 400, "framing",
						"expected an octet count");
			}
			if (p[i] == '\n' || p[i] == '\0') { /* empty line */
				i++;
				continue;
			}
			fr->state = ST_LINE;
			bw_buf_reset(&fr->buf);
			continue;
		case ST_LEN:
			if (siem_isdigit(p[i])) {
				if (++fr->digits > SIEM_FRAME_LEN_DIGITS_MAX) {
					fr->errors++;
					return SIEM_ERR(err, 400, "framing",
						"MSG-LEN longer than %u digits",
						SIEM_FRAME_LEN_DIGITS_MAX);
				}
				fr->want = fr->want * 10 + (size_t)(p[i] - '0');
				i++;
				continue;
			}
			if (p[i] != ' ') {
				fr->errors++;
				return SIEM_ERR(err, 400, "framing",
						"MSG-LEN not followed by SP");
			}
			i++;
			bw_buf_reset(&fr->buf);
			fr->state = ST_BODY;
			if (fr->want == 0) {
				deliver(fr, "", 0, cb, arg);
				fr->state = ST_START;
			}
			continue;
		case ST_BODY: {
			size_t k = n - i < fr->want ? n - i : fr->want;
			if (fr->buf.len == 0 && k == fr->want &&
			    k <= fr->max_frame) {
				/* whole frame in this read: no copy */
				fr->want = 0;
				fr->state = ST_START;
				deliver(fr, p + i, k, cb, arg);
				i += k;
				continue;
			}
			buffer(fr, p + i, k);
			fr->want -= k;
			i += k;
			if (fr->truncated && fr->want) {
				/* deliver what fits now, drop the rest */
				fr->skip = fr->want;
				fr->want = 0;
			}
			if (fr->want == 0) {
				fr->state = ST_START;
				deliver(fr, fr->buf.data ? fr->buf.data : "",
					fr->buf.len, cb, arg);
				bw_buf_reset(&fr->buf);
			}
			continue;
		}
		case ST_LINE: {
			/* LF or NUL ends the line: two memchr passes (vectorised
			 * by libc) instead of a byte loop testing both, which
			 * showed in profiles of every syslog byte received */
			const char *end = memchr(p + i, '\n', n - i);
			const char *nul = memchr(p + i, '\0',
						 (size_t)((end ? end : p + n) - (p + i)));
			if (nul)
				end = nul;
			size_t k = end ? (size_t)(end - (p + i)) : n - i;
			if (end && fr->buf.len == 0 && k <= fr->max_frame) {
				deliver(fr, p + i, k, cb, arg);
				fr->state = ST_START;
				i += k + 1;
				continue;
			}
			buffer(fr, p + i, k);
			i += k;
			if (end) {
				i++;
				deliver(fr, fr->buf.data ? fr->buf.data : "",
					fr->buf.len, cb, arg);
				bw_buf_reset(&fr->buf);
				fr->state = ST_START;
			} else if (fr->truncated) {
				deliver(fr, fr->buf.data, fr->buf.len, cb, arg);
				bw_buf_reset(&fr->buf);
				fr->state = ST_START;
				fr->skip_line = true;
			}
			continue;
		}
		}
	}
	return 0;
}

void siem_framer_finish(struct siem_framer *fr, siem_frame_cb cb, void *arg)
{
	if (fr->state == ST_LINE && fr->buf.len > 0)
		deliver(fr, fr->buf.data, fr->buf.len, cb, arg);
	else if (fr->state == ST_LEN || fr->state == ST_BODY)
		fr->errors++;
	bw_buf_reset(&fr->buf);
	fr->state = ST_START;
	fr->skip = 0;
	fr->skip_line = false;
	fr->truncated = false;
}
