/*
 * p11_wire — the small request/response protocol between
 * libbulwark-pkcs11.so (in the application's process) and the PKCS#11
 * socket server in bulwark's worker (src/kms/kms_p11.c). This header and
 * p11_wire.c are the only code both sides share: the module links
 * nothing else of bulwark.
 *
 * Stream framing over a Unix stream socket, all integers big-endian:
 *
 *   frame:   u32 length of the message that follows (<= P11_WIRE_MSG_MAX)
 *   message: 0  2  magic "BP"
 *            2  1  version (P11_WIRE_VERSION)
 *            3  1  op (enum p11_op)
 *            4  4  status: a CK_RV in responses, 0 in requests
 *            8  2  number of fields
 *           10  2  reserved, zero
 *           12  .  fields: tag u16, length u32, value
 *
 * Every tag has one type (bytes, text, u32) and length bounds, and only
 * the tags marked repeatable may occur more than once (batches and lists
 * repeat them; the n-th DATA goes with the n-th IV). The decoder accepts
 * a message only if every byte is accounted for and every field obeys its
 * tag; the encoder enforces the same rules, so a correct peer never sends
 * what the other side must refuse. The server closes a connection on a
 * message that does not decode.
 */
#ifndef BW_P11_WIRE_H
#define BW_P11_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p11/p11_limits.h"

#define P11_WIRE_VERSION 1
#define P11_WIRE_HDR 12

enum p11_op {
	P11_OP_SLOTS = 1,   /* -> TENANT* (the token list) */
	P11_OP_LOGIN = 2,   /* TENANT, PIN */
	P11_OP_LOGOUT = 3,
	P11_OP_LIST = 4,    /* [CURSOR] -> (NAME KTYPE KEYID STATE EXPORTABLE)*, [CURSOR] */
	P11_OP_PUBINFO = 5, /* NAME -> SPKI, EC_PARAMS+EC_POINT | MODULUS+EXPONENT */
	P11_OP_GENKEY = 6,  /* NAME, KTYPE, EXPORTABLE -> KEYID */
	P11_OP_SIGN = 7,    /* NAME, SIGALG, HASH, DATA -> SIG */
	P11_OP_VERIFY = 8,  /* NAME, SIGALG, HASH, DATA, SIG */
	P11_OP_ENCRYPT = 9, /* NAME, [AAD], (IV DATA)+ -> DATA+ (ct || tag) */
	P11_OP_DECRYPT = 10, /* NAME, [AAD], (IV DATA)+ -> DATA+ */
	P11_OP_RANDOM = 11, /* COUNT -> DATA */
	P11_OP_MAX_ = 12,
};

enum p11_tag {
	P11_T_TENANT = 1,     /* text, repeatable (slot list) */
	P11_T_PIN = 2,        /* bytes */
	P11_T_NAME = 3,       /* text, repeatable (list) */
	P11_T_KTYPE = 4,      /* u32 keystore key type, repeatable */
	P11_T_KEYID = 5,      /* 16 bytes, repeatable */
	P11_T_STATE = 6,      /* u32 keystore key state, repeatable */
	P11_T_EXPORTABLE = 7, /* u32 0/1, repeatable */
	P11_T_CURSOR = 8,     /* text: list after this name */
	P11_T_SIGALG = 9,     /* u32 enum p11_sigalg */
	P11_T_HASH = 10,      /* u32 keystore hash (0: none / pure) */
	P11_T_DATA = 11,      /* bytes, repeatable (batch) */
	P11_T_SIG = 12,       /* bytes */
	P11_T_IV = 13,        /* 12 bytes, repeatable (batch) */
	P11_T_AAD = 14,       /* bytes */
	P11_T_COUNT = 15,     /* u32 */
	P11_T_EC_PARAMS = 16, /* bytes: DER OID */
	P11_T_EC_POINT = 17,  /* bytes: DER OCTET STRING of the point */
	P11_T_MODULUS = 18,   /* bytes: big-endian */
	P11_T_EXPONENT = 19,  /* bytes: big-endian */
	P11_T_SPKI = 20,      /* bytes: DER SubjectPublicKeyInfo */
	P11_T_ERROR = 21,     /* text: what went wrong (never data) */
	P11_T_MAX_ = 22,
};

/* What a SIGN/VERIFY asks for; DATA is a digest for the prehashed kinds. */
enum p11_sigalg {
	P11_SIG_ECDSA = 1,      /* DATA = digest; SIG = r || s */
	P11_SIG_EDDSA = 2,      /* DATA = message (pure Ed25519) */
	P11_SIG_RSA_PKCS1 = 3,  /* DATA = digest, HASH names it */
	P11_SIG_RSA_PSS = 4,    /* DATA = digest; salt = digest length */
};

/* ---------------------------------------------------------------- encoder */

/*
 * Builds one frame (length prefix included) in a heap buffer bounded by
 * P11_WIRE_MSG_MAX. A value breaking its tag's rules or a frame past the
 * bound makes the encoder fail (sticky); p11_enc_finish reports it. The
 * buffer may hold secrets (PINs, plaintext): p11_enc_fini wipes it.
 */
struct p11_enc {
	uint8_t *buf;
	size_t len, cap;
	unsigned nfields;
	bool failed;
};

void p11_enc_init(struct p11_enc *e, unsigned op, uint32_t status);
void p11_enc_fini(struct p11_enc *e);
void p11_enc_bytes(struct p11_enc *e, unsigned tag, const void *p, size_t n);
void p11_enc_str(struct p11_enc *e, unsigned tag, const char *s);
void p11_enc_u32(struct p11_enc *e, unsigned tag, uint32_t v);
/* Completes the header; 0 with OUT frame/len (borrowed from e; the
 * length prefix included), or -1 when a field was invalid or too large. */
int p11_enc_finish(struct p11_enc *e, const uint8_t **frame, size_t *len);

/* ---------------------------------------------------------------- decoder */

struct p11_field {
	uint16_t tag;
	uint32_t len;
	const uint8_t *p; /* borrowed from the decoded buffer */
};

/* A decoded message; fields borrow the buffer given to p11_msg_decode.
 * Large (P11_WIRE_FIELDS_MAX fields): allocate it, never on a stack. */
struct p11_msg {
	uint8_t op;
	uint32_t status;
	size_t nfields;
	struct p11_field f[P11_WIRE_FIELDS_MAX];
};

/*
 * Decodes the message (p, len) (the frame's body, without the length
 * prefix) into m. Returns 0, or -1 with *why (static text) naming the
 * first problem: magic, version, op, reserved bits, field count, an
 * unknown tag, a value of the wrong size or type, a repeated
 * non-repeatable tag, trailing or missing bytes.
 */
int p11_msg_decode(struct p11_msg *m, const uint8_t *p, size_t len,
		   const char **why);
/* Number of fields with tag, and the i-th of them (NULL if none). */
size_t p11_msg_count(const struct p11_msg *m, unsigned tag);
const struct p11_field *p11_msg_get(const struct p11_msg *m, unsigned tag,
				    size_t i);
/* The first field with tag as u32 / as text copied to out (cap bytes,
 * NUL-terminated); false when absent or (text) longer than cap - 1. */
bool p11_msg_u32(const struct p11_msg *m, unsigned tag, size_t i,
		 uint32_t *out);
bool p11_msg_text(const struct p11_msg *m, unsigned tag, size_t i, char *out,
		  size_t cap);

/* ------------------------------------------------------------------ I/O */

/*
 * Blocking frame I/O on a stream socket. p11_wire_send writes the whole
 * frame (retrying on EINTR and short writes; MSG_NOSIGNAL). p11_wire_recv
 * reads one frame into buf (cap >= P11_WIRE_MSG_MAX): it waits without
 * limit for the first byte and then at most timeout_ms for the rest.
 * Returns the message length (> 0), 0 when the peer closed cleanly
 * between frames, -1 on error, timeout or an oversized length.
 */
int p11_wire_send(int fd, const uint8_t *frame, size_t len);
long p11_wire_recv(int fd, uint8_t *buf, size_t cap, int timeout_ms);

#endif
