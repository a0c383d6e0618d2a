/*
 * A small CBOR decoder (RFC 8949) for what WebAuthn sends: attestation
 * objects, authenticator data's credential public key (COSE_Key, RFC
 * 9052/9053) and extension maps. It decodes into a flat pre-order array of
 * nodes the caller provides, so parsing allocates nothing and a hostile
 * document can cost at most IAM_CBOR_NODES_MAX nodes.
 *
 * Invariants: only definite lengths are accepted (CTAP2's canonical form
 * forbids indefinite ones, so anything else is not from an authenticator);
 * nesting is bounded by IAM_CBOR_DEPTH_MAX; every length is checked
 * against the bytes that remain before anything is read; text strings are
 * valid UTF-8; a map never holds the same key twice (compared by
 * encoding); node[i].end is the index just past node i's subtree, so
 * siblings are walked without recursion.
 */
#include "iam/iam_int.h"

#include <string.h>

struct cbor_parser {
	const uint8_t *p;
	size_t len, off;
	struct iam_cbor_node *nodes;
	size_t cap, count;
	struct bw_err *err;
};

static int bad(struct cbor_parser *c, const char *what)
{
	return bw_err_set(c->err, 400, "iam", "bad_cbor",
			  "CBOR: %s at byte %zu", what, c->off);
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = s[i];
		size_t k;
		uint32_t cp;
		if (b < 0x80) {
			i++;
			continue;
		} else if ((b & 0xe0) == 0xc0) {
			k = 1;
			cp = b & 0x1f;
		} else if ((b & 0xf0) == 0xe0) {
			k = 2;
			cp = b & 0x0f;
		} else if ((b & 0xf8) == 0xf0) {
			k = 3;
			cp = b & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* Reads an item head: major type and argument. */
static int head(struct cbor_parser *c, uint8_t *major, uint8_t *ai,
		uint64_t *arg)
{
	if (c->off >= c->len)
		return bad(c, "truncated");
	uint8_t b = c->p[c->off++];
	*major = b >> 5;
	*ai = b & 0x1f;
	if (*ai < 24) {
		*arg = *ai;
		return 0;
	}
	size_t n;
	switch (*ai) {
	case 24:
		n = 1;
		break;
	case 25:
		n = 2;
		break;
	case 26:
		n = 4;
		break;
	case 27:
		n = 8;
		break;
	case 31:
		return bad(c, "indefinite length");
	default:
		return bad(c, "reserved additional information");
	}
	if (c->len - c->off < n)
		return bad(c, "truncated");
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | c->p[c->off + i];
	c->off += n;
	*arg = v;
	return 0;
}

static int item(struct cbor_parser *c, unsigned depth);

static int children(struct cbor_parser *c, uint64_t n, unsigned depth)
{
	/* Every child is at least one byte: a count above what remains is a
	 * lie, refused before looping on it. */
	if (n > c->len - c->off)
		return bad(c, "count larger than the input");
	for (uint64_t i = 0; i < n; i++)
		if (item(c, depth + 1) < 0)
			return -1;
	return 0;
}

static bool map_has_dup(const struct cbor_parser *c, size_t map)
{
	const struct iam_cbor_node *nd = c->nodes;
	for (size_t k = map + 1; k < nd[map].end; k = nd[nd[k].end].end) {
		for (size_t j = nd[nd[k].end].end; j < nd[map].end;
		     j = nd[nd[j].end].end) {
			if (nd[k].raw_len == nd[j].raw_len &&
			    memcmp(nd[k].raw, nd[j].raw, nd[k].raw_len) == 0)
				return true;
		}
	}
	return false;
}

static int item(struct cbor_parser *c, unsigned depth)
{
	if (depth > IAM_CBOR_DEPTH_MAX)
		return bad(c, "nesting too deep");
	if (c->count >= c->cap)
		return bw_err_set(c->err, 413, "iam", "bad_cbor",
				  "CBOR: more than %zu items", c->cap);
	size_t idx = c->count++;
	struct iam_cbor_node *nd = &c->nodes[idx];
	memset(nd, 0, sizeof(*nd));
	nd->raw = c->p + c->off;
	uint8_t major = 0, ai = 0;
	uint64_t arg = 0;
	if (head(c, &major, &ai, &arg) < 0)
		return -1;
	nd->val = arg;
	switch (major) {
	case 0:
		nd->type = IAM_CBOR_UINT;
		break;
	case 1:
		nd->type = IAM_CBOR_NINT;
		break;
	case 2:
	case 3:
		nd->type = major == 2 ? IAM_CBOR_BYTES : IAM_CBOR_TEXT;
		if (arg > c->len - c->off)
			return bad(c, "string longer than the input");
		nd->data = c->p + c->off;
		c->off += (size_t)arg;
		if (major == 3 && !utf8_ok(nd->data, (size_t)arg))
			return bad(c, "text is not UTF-8");
		break;
	case 4:
		nd->type = IAM_CBOR_ARRAY;
		if (children(c, arg, depth) < 0)
			return -1;
		break;
	case 5:
		nd->type = IAM_CBOR_MAP;
		if (arg > (c->len - c->off) / 2)
			return bad(c, "count larger than the input");
		if (children(c, arg * 2, depth) < 0)
			return -1;
		break;
	case 6:
		nd->type = IAM_CBOR_TAG;
		if (children(c, 1, depth) < 0)
			return -1;
		break;
	default: /* 7 */
		if (ai == 24 && arg < 32)
			return bad(c, "non-canonical simple value");
		nd->type =
		    ai >= 25 && ai <= 27 ? IAM_CBOR_FLOAT : IAM_CBOR_SIMPLE;
		break;
	}
	nd = &c->nodes[idx];
	nd->end = c->count;
	nd->raw_len = (size_t)(c->p + c->off - nd->raw);
	if (nd->type == IAM_CBOR_MAP && map_has_dup(c, idx))
		return bad(c, "duplicate map key");
	return 0;
}

int iam_cbor_parse(const uint8_t *p, size_t len, struct iam_cbor_node *nodes,
		   size_t cap, size_t *count, size_t *consumed,
		   struct bw_err *err)
{
	struct cbor_parser c = {
	    .p = p, .len = len, .nodes = nodes, .cap = cap, .err = err};
	if (cap == 0 || !p)
		return bw_err_set(err, 400, "iam", "bad_cbor", "CBOR: empty");
	if (item(&c, 0) < 0)
		return -1;
	if (!consumed && c.off != len)
		return bad(&c, "trailing bytes");
	if (consumed)
		*consumed = c.off;
	*count = c.count;
	return 0;
}

ssize_t iam_cbor_map_find_int(const struct iam_cbor_node *nodes, size_t map,
			      int64_t key)
{
	const struct iam_cbor_node *m = &nodes[map];
	if (m->type != IAM_CBOR_MAP)
		return -1;
	for (size_t k = map + 1; k < m->end; k = nodes[nodes[k].end].end) {
		int64_t v;
		if (iam_cbor_int(&nodes[k], &v) == 0 && v == key)
			return (ssize_t)nodes[k].end;
	}
	return -1;
}

ssize_t iam_cbor_map_find_text(const struct iam_cbor_node *nodes, size_t map,
			       const char *key)
{
	const struct iam_cbor_node *m = &nodes[map];
	size_t kl = strlen(key);
	if (m->type != IAM_CBOR_MAP)
		return -1;
	for (size_t k = map + 1; k < m->end; k = nodes[nodes[k].end].end) {
		if (nodes[k].type == IAM_CBOR_TEXT && nodes[k].val == kl &&
		    memcmp(nodes[k].data, key, kl) == 0)
			return (ssize_t)nodes[k].end;
	}
	return -1;
}

int iam_cbor_int(const struct iam_cbor_node *n, int64_t *out)
{
	if (n->type == IAM_CBOR_UINT && n->val <= (uint64_t)INT64_MAX) {
		*out = (int64_t)n->val;
		return 0;
	}
	if (n->type == IAM_CBOR_NINT && n->val <= (uint64_t)INT64_MAX) {
		*out = -1 - (int64_t)n->val;
		return 0;
	}
	return -1;
}
