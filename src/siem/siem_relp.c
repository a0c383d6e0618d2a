/*
 * siem_relp.c — the RELP wire format (rsyslog's Reliable Event Logging
 * Protocol, as librelp's doc/relp.md specifies it and omrelp speaks it):
 * frame parsing, "open" offers, and response frames.
 *
 *   RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] LF
 *   TXNR, DATALEN = 1*9DIGIT; COMMAND = 1*32ALPHA; DATA = DATALEN octets,
 *   absent (and no SP) when DATALEN is 0.
 *
 * The parser is restartable rather than resumable: it is given everything
 * received and not yet consumed (net_stream keeps that buffer for us) and
 * either takes one whole frame or takes nothing. A header is at most
 * SIEM_RELP_HEADER_MAX bytes, so re-reading it on each partial read costs
 * O(1); the DATA is never scanned, only its length checked. Invariants:
 * nothing is consumed unless the whole frame (trailer included) is valid;
 * a frame whose DATALEN passes max_data is refused from its header alone,
 * before any of its data is buffered; data is borrowed from the input.
 */
#include "siem/siem_int.h"

#include <stdio.h>

/* Reads 1*9DIGIT at p[*i..n). Returns 1 with the value, 0 when the input
 * ended inside the number (or before it), -1 when it is not a number. */
static int read_number(const char *p, size_t n, size_t *i, uint32_t *out)
{
	size_t s = *i;
	uint32_t v = 0;
	while (*i < n && siem_isdigit(p[*i])) {
		if (*i - s == SIEM_RELP_DIGITS_MAX)
			return -1;
		v = v * 10u + (uint32_t)(p[*i] - '0');
		(*i)++;
	}
	if (*i == n)
		return 0; /* the number may go on */
	if (*i == s)
		return -1;
	*out = v;
	return 1;
}

int siem_relp_parse(const char *p, size_t n, size_t max_data,
		    struct siem_relp_frame *f, size_t *used, struct bw_err *err)
{
	size_t i = 0;
	uint32_t txnr = 0, datalen = 0;
	*used = 0;
	if (max_data == 0 || max_data > SIEM_RELP_DATA_HARD)
		max_data = SIEM_RELP_DATA_HARD;
	int r = read_number(p, n, &i, &txnr);
	if (r < 0 || (r == 1 && p[i] != ' '))
		return SIEM_ERR(err, 400, "relp_framing", "bad transaction number");
	if (r == 0)
		goto more;
	i++;
	size_t c = i;
	while (i < n && siem_isalpha(p[i])) {
		if (i - c == SIEM_RELP_CMD_MAX)
			return SIEM_ERR(err, 400, "relp_framing",
					"command longer than %u letters",
					SIEM_RELP_CMD_MAX);
		i++;
	}
	if (i == n)
		goto more;
	if (i == c || p[i] != ' ')
		return SIEM_ERR(err, 400, "relp_framing", "bad command");
	size_t clen = i - c;
	i++;
	r = read_number(p, n, &i, &datalen);
	if (r < 0)
		return SIEM_ERR(err, 400, "relp_framing", "bad data length");
	if (r == 0)
		goto more;
	if (datalen > max_data)
		return SIEM_ERR(err, 413, "too_large",
				"frame data of %u bytes (limit %zu)", datalen,
				max_data);
	size_t dstart = i;
	if (datalen > 0) {
		if (p[i] != ' ')
			return SIEM_ERR(err, 400, "relp_framing",
					"no space before data");
		dstart = i + 1;
	}
	/* dstart + datalen + 1 cannot overflow: both are < 2^30 */
	size_t end = dstart + datalen;
	if (end >= n)
		return 0;
	if (p[end] != '\n')
		return SIEM_ERR(err, 400, "relp_framing", "no LF after data");
	f->txnr = txnr;
	memcpy(f->cmd, p + c, clen);
	f->cmd[clen] = '\0';
	f->data = bw_str_make(p + dstart, datalen);
	*used = end + 1;
	return 1;
more:
	if (n > SIEM_RELP_HEADER_MAX)
		return SIEM_ERR(err, 400, "relp_framing", "header too long");
	return 0;
}

int siem_relp_parse_offers(const char *p, size_t n, struct siem_relp_offers *o,
			   struct bw_err *err)
{
	memset(o, 0, sizeof(*o));
	o->version = -1;
	size_t i = 0, count = 0;
	while (i < n) {
		size_t s = i;
		while (i < n && p[i] != '\n')
			i++;
		struct bw_str line = bw_str_make(p + s, i - s);
		if (i < n)
			i++;
		if (line.len == 0)
			continue;
		if (++count > SIEM_RELP_OFFERS_MAX)
			return SIEM_ERR(err, 413, "limit", "too many offers");
		const char *eq = memchr(line.p, '=', line.len);
		struct bw_str name = bw_str_make(line.p, eq ? (size_t)(eq - line.p) : line.len);
		struct bw_str val = eq ? bw_str_make(eq + 1, line.len - name.len - 1) :
					 bw_str_make("", 0);
		if (name.len == 0 || name.len > 32 || val.len > 255 * 8)
			return SIEM_ERR(err, 400, "relp_offer", "malformed offer");
		if (bw_str_eq_lit(name, "relp_version")) {
			uint64_t v;
			if (bw_str_to_u64(val, &v) < 0 || v > 1000)
				return SIEM_ERR(err, 400, "relp_offer",
						"bad relp_version");
			o->version = (int)v;
		} else if (bw_str_eq_lit(name, "commands")) {
			size_t k = 0;
			while (k <= val.len) {
				size_t e = k;
				while (e < val.len && val.p[e] != ',')
					e++;
				if (bw_str_eq_lit(bw_str_make(val.p + k, e - k),
						  "syslog"))
					o->syslog = true;
				k = e + 1;
			}
		} else if (bw_str_eq_lit(name, "relp_software")) {
			size_t k = val.len < sizeof(o->software) - 1 ?
					   val.len :
					   sizeof(o->software) - 1;
			for (size_t j = 0; j < k; j++)
				o->software[j] = (val.p[j] >= 0x20 && val.p[j] < 0x7f) ?
							 val.p[j] :
							 '?';
			o->software[k] = '\0';
		}
		/* other offers are ignored, as the spec asks */
	}
	if (o->version < 0)
		return SIEM_ERR(err, 400, "relp_offer", "no relp_version offer");
	return 0;
}

int siem_relp_rsp(struct bw_buf *out, uint32_t txnr, const char *data,
		  size_t len)
{
	char hdr[40];
	int h = len ? snprintf(hdr, sizeof(hdr), "%u rsp %zu ", txnr, len) :
		      snprintf(hdr, sizeof(hdr), "%u rsp 0", txnr);
	if (h < 0 || (size_t)h >= sizeof(hdr))
		return -1;
	size_t mark = out->len;
	if (bw_buf_append(out, hdr, (size_t)h) < 0 ||
	    (len && bw_buf_append(out, data, len) < 0) ||
	    bw_buf_append_byte(out, '\n') < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
		return -1;
	}
	return 0;
}
