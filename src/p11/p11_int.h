/*
 * Internals of libbulwark-pkcs11.so shared by its three files:
 * p11_module.c (library, slots, sessions, login, the function list),
 * p11_object.c (objects, attributes, finding, key generation) and
 * p11_crypto.c (signatures, AES-GCM, the batch extension, random).
 * Nothing here is exported from the library (src/p11/p11.map).
 *
 * Locking: p11_mu guards the slot, session and object tables; each
 * session's mutex guards its connection and operation state. Lock order:
 * a session's mutex, then p11_mu.
 */
#ifndef BW_P11_INT_H
#define BW_P11_INT_H

#include "p11/bulwark_pkcs11.h"
#include "p11/p11_wire.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P11_SESSIONS_MAX 1024u
#define P11_OBJECTS_MAX 16384u
#define DEFAULT_SOCKET "/var/lib/bulwark/run/pkcs11.sock"
#define DEFAULT_CONF "/etc/bulwark/pkcs11.conf"

/* keystore key types (keystore.h; the module does not include it) */
enum { KT_AES = 1, KT_ED25519 = 5, KT_P256 = 6, KT_P384 = 7, KT_RSA2048 = 8,
       KT_RSA3072 = 9, KT_RSA4096 = 10 };
/* keystore hashes */
enum { H_NONE = 0, H_SHA256 = 1, H_SHA384 = 2, H_SHA512 = 3 };

struct pubinfo {
	uint8_t spki[P11_PUB_MAX], ecp[64], ecpt[256], mod[1024], exp[16];
	size_t spki_len, ecp_len, ecpt_len, mod_len, exp_len;
};

struct object {
	unsigned slot;
	CK_OBJECT_CLASS cls;
	char name[P11_NAME_MAX + 1];
	uint32_t ktype, state;
	bool exportable, present;
	uint8_t id[16];
	struct pubinfo *pub; /* loaded on first need */
};

enum opkind { OP_NONE, OP_SIGN, OP_VERIFY, OP_ENCRYPT, OP_DECRYPT };

struct op {
	enum opkind kind;
	CK_OBJECT_HANDLE key;
	uint32_t sigalg, hash;
	const EVP_MD *md;   /* hash-and-sign: hashed here */
	EVP_MD_CTX *mdctx;
	bool rsa_raw;       /* CKM_RSA_PKCS: data is a DigestInfo */
	bool pss_check;     /* CKM_RSA_PKCS_PSS: digest length must match */
	size_t pss_len;
	uint8_t *acc;       /* accumulated data (multi-part, raw) */
	size_t acclen;
	uint8_t iv[12];
	uint8_t aad[P11_AAD_MAX];
	size_t aadlen;
};

struct session {
	bool used;
	unsigned slot;
	CK_FLAGS flags;
	pthread_mutex_t mu;
	int fd;
	unsigned login_gen; /* slot generation this connection logged in to */
	uint8_t *buf;       /* P11_WIRE_MSG_MAX */
	struct p11_msg *msg;
	CK_OBJECT_HANDLE *found;
	size_t nfound, pos;
	bool finding;
	struct op sign, verify, crypt;
};

struct slotstate {
	char tenant[P11_NAME_MAX + 1];
	bool logged;
	unsigned gen;
	uint8_t pin[P11_PIN_MAX];
	size_t pinlen;
};

extern pthread_mutex_t p11_mu;
extern bool p11_inited;
extern struct slotstate p11_slots[P11_SLOTS_MAX];
extern unsigned p11_nslots;
extern struct session *p11_sessions[P11_SESSIONS_MAX];
extern struct object *p11_objs[P11_OBJECTS_MAX];
extern size_t p11_nobjs;

/* p11_module.c */
/* True between C_Initialize and C_Finalize. */
bool p11_initialized(void);
/* The open session behind a handle, or NULL (also before C_Initialize);
 * P11_NO_SESSION() is then the CK_RV to answer. */
struct session *p11_sess_get(CK_SESSION_HANDLE h);
#define P11_NO_SESSION()                                                       \
	(p11_initialized() ? CKR_SESSION_HANDLE_INVALID : CKR_CRYPTOKI_NOT_INITIALIZED)
/* One request on the session's connection (re-connecting and logging in
 * again when the daemon restarted); the reply is in s->msg. With s->mu
 * held. Returns the reply's CK_RV or CKR_DEVICE_ERROR/_REMOVED. */
CK_RV p11_sess_call(struct session *s, struct p11_enc *req);
/* Is the session's token logged in? */
bool p11_slot_logged(unsigned slot);

/* p11_object.c */
/* The object behind a handle if it belongs to s's token and exists. */
struct object *p11_obj_get(struct session *s, CK_OBJECT_HANDLE h);
bool p11_kt_rsa(uint32_t kt);
size_t p11_modulus_bytes(uint32_t kt);

/* p11_crypto.c */
/* Ends an operation: frees and wipes its state. */
void p11_op_clear(struct op *o);

#endif
