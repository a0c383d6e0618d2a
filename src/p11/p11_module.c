/*
 * libbulwark-pkcs11.so — a PKCS#11 v2.40 module (the subset real tools
 * use) whose keys live in bulwark's key process. The module holds no key
 * material: every key operation is a request over a Unix socket to the
 * running daemon's worker (protocol: p11_wire.h), which authenticates the
 * PIN, checks the caller's rights, audits and forwards to the keystore.
 *
 * Mapping:
 *  - slot n = token n = one tenant's key partition (the daemon lists the
 *    tenants; slot ids stay stable for the life of the process);
 *  - the PIN is an API key or session token of that tenant (the bootstrap
 *    token for "platform"); login is per token and shared by all its
 *    sessions, as the standard says;
 *  - each keystore key is one object (AES-256 secret key) or two (private
 *    and public key of an EC P-256/P-384, Ed25519 or RSA key pair);
 *    CKA_LABEL is the key name, CKA_ID its 16-byte key id. All objects are
 *    token objects; private and secret keys are always sensitive, and
 *    CKA_EXTRACTABLE is the key's exportable policy (wrapped export over
 *    the REST API only; C_WrapKey is not offered);
 *  - each session has its own connection, so threads with their own
 *    sessions run in parallel; a connection lost (daemon restart) is
 *    re-opened and re-logged-in on the next call.
 *
 * The socket is BULWARK_PKCS11_SOCKET, else the `socket = PATH` line of
 * the file named by BULWARK_PKCS11_CONF (default
 * /etc/bulwark/pkcs11.conf), else /var/lib/bulwark/run/pkcs11.sock.
 *
 * Vendor extension: C_BulwarkEncryptBatch (bulwark_pkcs11.h) encrypts up
 * to P11_BATCH_MAX AES-GCM messages in one round trip.
 *
 * Hash-and-sign mechanisms (CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256, ...)
 * hash here (any length, multi-part) and send the digest; raw ones send
 * what the caller gave (a digest, a DigestInfo for CKM_RSA_PKCS, the
 * message for CKM_EDDSA, at most P11_DATA_MAX bytes).
 *
 * Locking: g_mu guards the slot, session and object tables; each session
 * has its own mutex for its connection and operation state. Lock order:
 * session, then g_mu.
 */
#include "p11/bulwark_pkcs11.h"
#include "p11/p11_wire.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_init;
static char g_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct slotstate g_slots[P11_SLOTS_MAX];
static unsigned g_nslots;
static struct session *g_sess[P11_SESSIONS_MAX];
static struct object *g_objs[P11_OBJECTS_MAX];
static size_t g_nobjs;

/* --------------------------------------------------------------- helpers */

static void pad_copy(CK_UTF8CHAR *dst, size_t n, const char *src)
{
	memset(dst, ' ', n);
	size_t l = strlen(src);
	memcpy(dst, src, l < n ? l : n);
}

static void find_socket_path(void)
{
	const char *e = getenv("BULWARK_PKCS11_SOCKET");
	if (e && e[0] && strlen(e) < sizeof(g_path)) {
		memcpy(g_path, e, strlen(e) + 1);
		return;
	}
	const char *conf = getenv("BULWARK_PKCS11_CONF");
	FILE *f = fopen(conf && conf[0] ? conf : DEFAULT_CONF, "re");
	if (f) {
		char line[512];
		while (fgets(line, sizeof(line), f)) {
			char *p = line;
			while (*p == ' ' || *p == '\t')
				p++;
			if (strncmp(p, "socket", 6) != 0)
				continue;
			p += 6;
			while (*p == ' ' || *p == '\t' || *p == '=')
				p++;
			p[strcspn(p, "\r\n")] = '\0';
			if (p[0] && strlen(p) < sizeof(g_path)) {
				memcpy(g_path, p, strlen(p) + 1);
				fclose(f);
				return;
			}
		}
		fclose(f);
	}
	memcpy(g_path, DEFAULT_SOCKET, sizeof(DEFAULT_SOCKET));
}

static int connect_daemon(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, g_path, strlen(g_path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One round trip on fd with buffers buf/msg. The reply's status is the
 * return value; CKR_DEVICE_ERROR when the connection failed (*broken). */
static CK_RV roundtrip(int fd, struct p11_enc *req, uint8_t *buf,
		       struct p11_msg *msg, bool *broken)
{
	const uint8_t *f;
	size_t n;
	const char *why;
	*broken = false;
	if (p11_enc_finish(req, &f, &n) < 0)
		return CKR_DATA_LEN_RANGE;
	if (p11_wire_send(fd, f, n) < 0) {
		*broken = true;
		return CKR_DEVICE_ERROR;
	}
	long r = p11_wire_recv(fd, buf, P11_WIRE_MSG_MAX, 30000);
	if (r <= 0 || p11_msg_decode(msg, buf, (size_t)r, &why) < 0) {
		*broken = true;
		return CKR_DEVICE_ERROR;
	}
	return (CK_RV)msg->status;
}

static struct session *sess_get(CK_SESSION_HANDLE h)
{
	if (h == 0 || h > P11_SESSIONS_MAX)
		return NULL;
	pthread_mutex_lock(&g_mu);
	struct session *s = g_init ? g_sess[h - 1] : NULL;
	if (s && !s->used)
		s = NULL;
	pthread_mutex_unlock(&g_mu);
	return s;
}

/* Makes sure s has a live connection, logged in (or out) as its slot is.
 * Called with s->mu held. */
static CK_RV sess_ready(struct session *s)
{
	bool broken;
	CK_RV rv;
	if (s->fd < 0) {
		s->fd = connect_daemon();
		s->login_gen = 0;
		if (s->fd < 0)
			return CKR_DEVICE_REMOVED;
	}
	pthread_mutex_lock(&g_mu);
	struct slotstate *ss = &g_slots[s->slot];
	bool want = ss->logged;
	unsigned gen = ss->gen;
	uint8_t pin[P11_PIN_MAX];
	size_t pinlen = ss->pinlen;
	char tenant[P11_NAME_MAX + 1];
	memcpy(pin, ss->pin, pinlen);
	memcpy(tenant, ss->tenant, sizeof(tenant));
	pthread_mutex_unlock(&g_mu);
	rv = CKR_OK;
	if (want && s->login_gen != gen) {
		struct p11_enc e;
		if (s->login_gen) {
			p11_enc_init(&e, P11_OP_LOGOUT, 0);
			(void)roundtrip(s->fd, &e, s->buf, s->msg, &broken);
			p11_enc_fini(&e);
		}
		p11_enc_init(&e, P11_OP_LOGIN, 0);
		p11_enc_str(&e, P11_T_TENANT, tenant);
		p11_enc_bytes(&e, P11_T_PIN, pin, pinlen);
		rv = roundtrip(s->fd, &e, s->buf, s->msg, &broken);
		p11_enc_fini(&e);
		if (rv == CKR_OK)
			s->login_gen = gen;
	} else if (!want && s->login_gen) {
		struct p11_enc e;
		p11_enc_init(&e, P11_OP_LOGOUT, 0);
		(void)roundtrip(s->fd, &e, s->buf, s->msg, &broken);
		p11_enc_fini(&e);
		s->login_gen = 0;
	}
	OPENSSL_cleanse(pin, sizeof(pin));
	return rv;
}

/* A request on s's connection, retried once on a fresh connection if the
 * old one broke (the daemon restarted). Called with s->mu held. */
static CK_RV sess_call(struct session *s, struct p11_enc *req)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		CK_RV rv = sess_ready(s);
		if (rv != CKR_OK)
			return rv;
		bool broken;
		rv = roundtrip(s->fd, req, s->buf, s->msg, &broken);
		if (!broken)
			return rv;
		close(s->fd);
		s->fd = -1;
	}
	return CKR_DEVICE_ERROR;
}

static bool slot_logged(unsigned slot)
{
	pthread_mutex_lock(&g_mu);
	bool l = g_slots[slot].logged;
	pthread_mutex_unlock(&g_mu);
	return l;
}

/* Refreshes the slot list from the daemon (new tenants are appended so
 * slot ids stay stable). */
static CK_RV refresh_slots(void)
{
	int fd = connect_daemon();
	if (fd < 0)
		return CKR_OK; /* daemon down: keep what we know */
	uint8_t *buf = malloc(P11_WIRE_MSG_MAX);
	struct p11_msg *msg = malloc(sizeof(*msg));
	CK_RV rv = CKR_HOST_MEMORY;
	if (buf && msg) {
		struct p11_enc e;
		bool broken;
		p11_enc_init(&e, P11_OP_SLOTS, 0);
		rv = roundtrip(fd, &e, buf, msg, &broken);
		p11_enc_fini(&e);
		if (rv == CKR_OK) {
			pthread_mutex_lock(&g_mu);
			size_t n = p11_msg_count(msg, P11_T_TENANT);
			for (size_t i = 0; i < n; i++) {
				char t[P11_NAME_MAX + 1];
				if (!p11_msg_text(msg, P11_T_TENANT, i, t, sizeof(t)))
					continue;
				bool have = false;
				for (unsigned k = 0; k < g_nslots && !have; k++)
					have = strcmp(g_slots[k].tenant, t) == 0;
				if (!have && g_nslots < P11_SLOTS_MAX)
					memcpy(g_slots[g_nslots++].tenant, t, sizeof(t));
			}
			pthread_mutex_unlock(&g_mu);
		}
	}
	free(buf);
	free(msg);
	close(fd);
	return rv;
}

/* ---------------------------------------------------------------- objects */

static CK_KEY_TYPE ck_key_type(uint32_t kt)
{
	switch (kt) {
	case KT_AES:
		return CKK_AES;
	case KT_ED25519:
		return CKK_EC_EDWARDS;
	case KT_P256:
	case KT_P384:
		return CKK_EC;
	default:
		return CKK_RSA;
	}
}

static bool kt_rsa(uint32_t kt)
{
	return kt >= KT_RSA2048 && kt <= KT_RSA4096;
}

/* Upserts an object; returns its handle (0 when the table is full).
 * Under g_mu. */
static CK_OBJECT_HANDLE obj_put(unsigned slot, CK_OBJECT_CLASS cls,
				const char *name, uint32_t kt, const uint8_t id[16],
				uint32_t state, bool exp)
{
	struct object *o = NULL;
	size_t i;
	for (i = 0; i < g_nobjs; i++) {
		struct object *x = g_objs[i];
		if (x->slot == slot && x->cls == cls && strcmp(x->name, name) == 0) {
			o = x;
			break;
		}
	}
	if (o && memcmp(o->id, id, 16) != 0) {
		/* Same name, another key (destroyed and re-created): new
		 * public parts. */
		free(o->pub);
		o->pub = NULL;
	}
	if (!o) {
		if (g_nobjs >= P11_OBJECTS_MAX || !(o = calloc(1, sizeof(*o))))
			return 0;
		i = g_nobjs;
		g_objs[g_nobjs++] = o;
		o->slot = slot;
		o->cls = cls;
		memcpy(o->name, name, strlen(name) + 1);
	}
	o->ktype = kt;
	memcpy(o->id, id, 16);
	o->state = state;
	o->exportable = exp;
	o->present = true;
	return (CK_OBJECT_HANDLE)(i + 1);
}

static struct object *obj_get(struct session *s, CK_OBJECT_HANDLE h)
{
	struct object *o = NULL;
	pthread_mutex_lock(&g_mu);
	if (h >= 1 && h <= g_nobjs && g_objs[h - 1]->slot == s->slot &&
	    g_objs[h - 1]->present)
		o = g_objs[h - 1];
	pthread_mutex_unlock(&g_mu);
	return o;
}

/* Reloads the slot's objects from the daemon. Called with s->mu held. */
static CK_RV refresh_objects(struct session *s)
{
	char cursor[P11_NAME_MAX + 1] = "";
	bool first = true;
	for (int pages = 0; pages < 64; pages++) {
		struct p11_enc e;
		p11_enc_init(&e, P11_OP_LIST, 0);
		if (cursor[0])
			p11_enc_str(&e, P11_T_CURSOR, cursor);
		CK_RV rv = sess_call(s, &e);
		p11_enc_fini(&e);
		if (rv != CKR_OK)
			return rv;
		struct p11_msg *m = s->msg;
		size_t n = p11_msg_count(m, P11_T_NAME);
		if (p11_msg_count(m, P11_T_KTYPE) != n || p11_msg_count(m, P11_T_KEYID) != n ||
		    p11_msg_count(m, P11_T_STATE) != n ||
		    p11_msg_count(m, P11_T_EXPORTABLE) != n)
			return CKR_DEVICE_ERROR;
		pthread_mutex_lock(&g_mu);
		if (first)
			for (size_t i = 0; i < g_nobjs; i++)
				if (g_objs[i]->slot == s->slot)
					g_objs[i]->present = false;
		first = false;
		for (size_t i = 0; i < n; i++) {
			char name[P11_NAME_MAX + 1];
			uint32_t kt = 0, st = 0, ex = 0;
			const struct p11_field *id = p11_msg_get(m, P11_T_KEYID, i);
			if (!p11_msg_text(m, P11_T_NAME, i, name, sizeof(name)) || !id)
				continue;
			p11_msg_u32(m, P11_T_KTYPE, i, &kt);
			p11_msg_u32(m, P11_T_STATE, i, &st);
			p11_msg_u32(m, P11_T_EXPORTABLE, i, &ex);
			if (kt == KT_AES) {
				obj_put(s->slot, CKO_SECRET_KEY, name, kt, id->p, st, ex);
			} else {
				obj_put(s->slot, CKO_PRIVATE_KEY, name, kt, id->p, st, ex);
				obj_put(s->slot, CKO_PUBLIC_KEY, name, kt, id->p, st, ex);
			}
		}
		pthread_mutex_unlock(&g_mu);
		if (!p11_msg_text(m, P11_T_CURSOR, 0, cursor, sizeof(cursor)))
			break;
	}
	return CKR_OK;
}

/* Loads the public parts of o. Called with s->mu held. */
static CK_RV load_pub(struct session *s, struct object *o)
{
	pthread_mutex_lock(&g_mu);
	bool have = o->pub != NULL;
	pthread_mutex_unlock(&g_mu);
	if (have || o->ktype == KT_AES)
		return CKR_OK;
	struct p11_enc e;
	p11_enc_init(&e, P11_OP_PUBINFO, 0);
	p11_enc_str(&e, P11_T_NAME, o->name);
	CK_RV rv = sess_call(s, &e);
	p11_enc_fini(&e);
	if (rv != CKR_OK)
		return rv;
	struct pubinfo *p = calloc(1, sizeof(*p));
	if (!p)
		return CKR_HOST_MEMORY;
	const struct p11_field *f;
#define TAKE(tag, dst, dstlen)                                                 \
	if ((f = p11_msg_get(s->msg, tag, 0)) && f->len <= sizeof(dst)) {      \
		memcpy(dst, f->p, f->len);                                     \
		dstlen = f->len;                                               \
	}
	TAKE(P11_T_SPKI, p->spki, p->spki_len)
	TAKE(P11_T_EC_PARAMS, p->ecp, p->ecp_len)
	TAKE(P11_T_EC_POINT, p->ecpt, p->ecpt_len)
	TAKE(P11_T_MODULUS, p->mod, p->mod_len)
	TAKE(P11_T_EXPONENT, p->exp, p->exp_len)
#undef TAKE
	pthread_mutex_lock(&g_mu);
	if (!o->pub) {
		o->pub = p;
		p = NULL;
	}
	pthread_mutex_unlock(&g_mu);
	free(p);
	return CKR_OK;
}

static size_t modulus_bytes(uint32_t kt)
{
	return kt == KT_RSA2048 ? 256 : kt == KT_RSA3072 ? 384 : 512;
}

/*
 * The value of attribute t of o: CKR_OK with (*p, *n) (p may point into
 * scratch), CKR_ATTRIBUTE_SENSITIVE for secret parts, or
 * CKR_ATTRIBUTE_TYPE_INVALID. Called with s->mu held.
 */
static CK_RV attr_of(struct session *s, struct object *o, CK_ATTRIBUTE_TYPE t,
		     const void **p, size_t *n, uint8_t *scratch)
{
	static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG *ul = (CK_ULONG *)(void *)scratch;
	bool priv = o->cls == CKO_PRIVATE_KEY, pub = o->cls == CKO_PUBLIC_KEY,
	     sec = o->cls == CKO_SECRET_KEY;
	bool ec = o->ktype == KT_P256 || o->ktype == KT_P384 || o->ktype == KT_ED25519;
	bool rsa = kt_rsa(o->ktype);
#define BOOL(v) (*p = (v) ? &yes : &no, *n = sizeof(CK_BBOOL), CKR_OK)
#define ULONG(v) (*ul = (CK_ULONG)(v), *p = ul, *n = sizeof(CK_ULONG), CKR_OK)
	switch (t) {
	case CKA_CLASS:
		return ULONG(o->cls);
	case CKA_TOKEN:
		return BOOL(true);
	case CKA_PRIVATE:
		return BOOL(!pub);
	case CKA_LABEL:
		*p = o->name;
		*n = strlen(o->name);
		return CKR_OK;
	case CKA_ID:
		*p = o->id;
		*n = 16;
		return CKR_OK;
	case CKA_KEY_TYPE:
		return ULONG(ck_key_type(o->ktype));
	case CKA_LOCAL:
		return BOOL(true);
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
	case CKA_DERIVE:
	case CKA_WRAP:
	case CKA_UNWRAP:
	case CKA_SIGN_RECOVER:
	case CKA_VERIFY_RECOVER:
		return BOOL(false);
	case CKA_START_DATE:
	case CKA_END_DATE:
		*p = scratch;
		*n = 0;
		return CKR_OK;
	case CKA_KEY_GEN_MECHANISM:
		return ULONG(sec ? CKM_AES_KEY_GEN :
			     o->ktype == KT_ED25519 ? CKM_EC_EDWARDS_KEY_PAIR_GEN :
			     ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN);
	case CKA_ENCRYPT:
	case CKA_DECRYPT:
		return BOOL(sec);
	case CKA_SIGN:
		return BOOL(priv);
	case CKA_VERIFY:
		return BOOL(pub);
	case CKA_SENSITIVE:
	case CKA_ALWAYS_SENSITIVE:
		if (pub)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return BOOL(true);
	case CKA_EXTRACTABLE:
		if (pub)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return BOOL(o->exportable);
	case CKA_NEVER_EXTRACTABLE:
		if (pub)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return BOOL(!o->exportable);
	case CKA_ALWAYS_AUTHENTICATE:
		if (!priv)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return BOOL(false);
	case CKA_TRUSTED:
		if (!pub)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return BOOL(false);
	case CKA_SUBJECT:
		if (sec)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		*p = scratch;
		*n = 0;
		return CKR_OK;
	case CKA_VALUE_LEN:
		if (!sec)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return ULONG(32);
	case CKA_VALUE:
		if (sec || priv)
			return CKR_ATTRIBUTE_SENSITIVE;
		if (!pub)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		break; /* a public key's VALUE is undefined for EC/RSA */
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
		if (priv && rsa)
			return CKR_ATTRIBUTE_SENSITIVE;
		return CKR_ATTRIBUTE_TYPE_INVALID;
	case CKA_MODULUS_BITS:
		if (!rsa || sec)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return ULONG(modulus_bytes(o->ktype) * 8);
	case CKA_EC_PARAMS:
	case CKA_EC_POINT:
	case CKA_MODULUS:
	case CKA_PUBLIC_EXPONENT:
	case CKA_PUBLIC_KEY_INFO: {
		if (sec || (t == CKA_EC_POINT && !pub) ||
		    ((t == CKA_EC_PARAMS || t == CKA_EC_POINT) && !ec) ||
		    ((t == CKA_MODULUS || t == CKA_PUBLIC_EXPONENT) && !rsa))
			return CKR_ATTRIBUTE_TYPE_INVALID;
		CK_RV rv = load_pub(s, o);
		if (rv != CKR_OK)
			return rv;
		const struct pubinfo *pi = o->pub;
		if (!pi)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		*p = t == CKA_EC_PARAMS ? pi->ecp : t == CKA_EC_POINT ? pi->ecpt :
		     t == CKA_MODULUS ? pi->mod : t == CKA_PUBLIC_EXPONENT ? pi->exp :
									pi->spki;
		*n = t == CKA_EC_PARAMS ? pi->ecp_len : t == CKA_EC_POINT ? pi->ecpt_len :
		     t == CKA_MODULUS ? pi->mod_len : t == CKA_PUBLIC_EXPONENT ? pi->exp_len :
									   pi->spki_len;
		return *n ? CKR_OK : CKR_ATTRIBUTE_TYPE_INVALID;
	}
	default:
		break;
	}
#undef BOOL
#undef ULONG
	return CKR_ATTRIBUTE_TYPE_INVALID;
}

/* --------------------------------------------------- general and slots */

static CK_FUNCTION_LIST g_list;

CK_RV C_Initialize(CK_VOID_PTR args)
{
	if (args) {
		CK_C_INITIALIZE_ARGS *a = args;
		if (a->pReserved)
			return CKR_ARGUMENTS_BAD;
		/* We use our own (pthread) locks; either form is fine. */
		bool some = a->CreateMutex || a->DestroyMutex || a->LockMutex ||
			    a->UnlockMutex;
		bool all = a->CreateMutex && a->DestroyMutex && a->LockMutex &&
			   a->UnlockMutex;
		if (some && !all)
			return CKR_ARGUMENTS_BAD;
		if (all && !(a->flags & CKF_OS_LOCKING_OK))
			return CKR_CANT_LOCK;
	}
	pthread_mutex_lock(&g_mu);
	if (g_init) {
		pthread_mutex_unlock(&g_mu);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	find_socket_path();
	g_init = true;
	pthread_mutex_unlock(&g_mu);
	(void)refresh_slots();
	return CKR_OK;
}

static void op_clear(struct op *o)
{
	EVP_MD_CTX_free(o->mdctx);
	if (o->acc) {
		OPENSSL_cleanse(o->acc, o->acclen);
		free(o->acc);
	}
	OPENSSL_cleanse(o, sizeof(*o));
}

static void sess_free(struct session *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	op_clear(&s->sign);
	op_clear(&s->verify);
	op_clear(&s->crypt);
	if (s->buf) {
		OPENSSL_cleanse(s->buf, P11_WIRE_MSG_MAX);
		free(s->buf);
	}
	free(s->msg);
	free(s->found);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

CK_RV C_Finalize(CK_VOID_PTR reserved)
{
	if (reserved)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&g_mu);
	if (!g_init) {
		pthread_mutex_unlock(&g_mu);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	g_init = false;
	for (unsigned i = 0; i < P11_SESSIONS_MAX; i++) {
		sess_free(g_sess[i]);
		g_sess[i] = NULL;
	}
	for (size_t i = 0; i < g_nobjs; i++) {
		free(g_objs[i]->pub);
		free(g_objs[i]);
		g_objs[i] = NULL;
	}
	g_nobjs = 0;
	OPENSSL_cleanse(g_slots, sizeof(g_slots));
	g_nslots = 0;
	pthread_mutex_unlock(&g_mu);
	return CKR_OK;
}

static bool initialized(void)
{
	pthread_mutex_lock(&g_mu);
	bool i = g_init;
	pthread_mutex_unlock(&g_mu);
	return i;
}

CK_RV C_GetInfo(CK_INFO_PTR info)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	pad_copy(info->manufacturerID, sizeof(info->manufacturerID), "bulwark");
	pad_copy(info->libraryDescription, sizeof(info->libraryDescription),
		 "bulwark keystore PKCS#11");
	info->libraryVersion.major = 1;
	info->libraryVersion.minor = 0;
	return CKR_OK;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (!list)
		return CKR_ARGUMENTS_BAD;
	*list = &g_list;
	return CKR_OK;
}

CK_RV C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!count)
		return CKR_ARGUMENTS_BAD;
	if (!list)
		(void)refresh_slots();
	pthread_mutex_lock(&g_mu);
	unsigned n = g_nslots;
	pthread_mutex_unlock(&g_mu);
	if (list && *count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (unsigned i = 0; list && i < n; i++)
		list[i] = i;
	*count = n;
	return CKR_OK;
}

static bool slot_ok(CK_SLOT_ID id)
{
	pthread_mutex_lock(&g_mu);
	bool ok = id < g_nslots;
	pthread_mutex_unlock(&g_mu);
	return ok;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!slot_ok(id))
		return CKR_SLOT_ID_INVALID;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	char d[80];
	pthread_mutex_lock(&g_mu);
	snprintf(d, sizeof(d), "bulwark tenant %s", g_slots[id].tenant);
	pthread_mutex_unlock(&g_mu);
	pad_copy(info->slotDescription, sizeof(info->slotDescription), d);
	pad_copy(info->manufacturerID, sizeof(info->manufacturerID), "bulwark");
	info->flags = CKF_TOKEN_PRESENT;
	info->hardwareVersion.major = 1;
	info->firmwareVersion.major = 1;
	return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!slot_ok(id))
		return CKR_SLOT_ID_INVALID;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	char serial[17];
	pthread_mutex_lock(&g_mu);
	pad_copy(info->label, sizeof(info->label), g_slots[id].tenant);
	/* A short stable serial from the tenant name (FNV-1a). */
	uint64_t h = 1469598103934665603ull;
	for (const char *p = g_slots[id].tenant; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	unsigned long sc = 0;
	for (unsigned i = 0; i < P11_SESSIONS_MAX; i++)
		if (g_sess[i] && g_sess[i]->used && g_sess[i]->slot == id)
			sc++;
	pthread_mutex_unlock(&g_mu);
	snprintf(serial, sizeof(serial), "%016llx", (unsigned long long)h);
	pad_copy(info->manufacturerID, sizeof(info->manufacturerID), "bulwark");
	pad_copy(info->model, sizeof(info->model), "keystore");
	memcpy(info->serialNumber, serial, 16);
	info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED |
		      CKF_TOKEN_INITIALIZED;
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulSessionCount = sc;
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulRwSessionCount = sc;
	info->ulMaxPinLen = P11_PIN_MAX;
	info->ulMinPinLen = 1;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = 1;
	info->firmwareVersion.major = 1;
	pad_copy(info->utcTime, sizeof(info->utcTime), "");
	return CKR_OK;
}

struct mech {
	CK_MECHANISM_TYPE type;
	CK_ULONG min, max;
	CK_FLAGS flags;
};

static const struct mech g_mechs[] = {
	{ CKM_AES_KEY_GEN, 32, 32, CKF_GENERATE },
	{ CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_GENERATE_KEY_PAIR | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS },
	{ CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 255, CKF_GENERATE_KEY_PAIR },
	{ CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR },
	{ CKM_ECDSA, 256, 384, CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS },
	{ CKM_ECDSA_SHA256, 256, 384, CKF_SIGN | CKF_VERIFY },
	{ CKM_ECDSA_SHA384, 256, 384, CKF_SIGN | CKF_VERIFY },
	{ CKM_ECDSA_SHA512, 256, 384, CKF_SIGN | CKF_VERIFY },
	{ CKM_EDDSA, 255, 255, CKF_SIGN | CKF_VERIFY },
	{ CKM_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA256_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA384_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA512_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY },
	{ CKM_AES_GCM, 32, 32, CKF_ENCRYPT | CKF_DECRYPT },
};

CK_RV C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list,
			 CK_ULONG_PTR count)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!slot_ok(id))
		return CKR_SLOT_ID_INVALID;
	if (!count)
		return CKR_ARGUMENTS_BAD;
	size_t n = sizeof(g_mechs) / sizeof(g_mechs[0]);
	if (list && *count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (size_t i = 0; list && i < n; i++)
		list[i] = g_mechs[i].type;
	*count = n;
	return CKR_OK;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type,
			 CK_MECHANISM_INFO_PTR info)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!slot_ok(id))
		return CKR_SLOT_ID_INVALID;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < sizeof(g_mechs) / sizeof(g_mechs[0]); i++)
		if (g_mechs[i].type == type) {
			info->ulMinKeySize = g_mechs[i].min;
			info->ulMaxKeySize = g_mechs[i].max;
			info->flags = g_mechs[i].flags;
			return CKR_OK;
		}
	return CKR_MECHANISM_INVALID;
}

/* -------------------------------------------------------------- sessions */

CK_RV C_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app,
		    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR out)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!slot_ok(id))
		return CKR_SLOT_ID_INVALID;
	if (!out)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return CKR_HOST_MEMORY;
	s->buf = malloc(P11_WIRE_MSG_MAX);
	s->msg = malloc(sizeof(*s->msg));
	pthread_mutex_init(&s->mu, NULL);
	s->fd = -1;
	s->slot = (unsigned)id;
	s->flags = flags;
	s->used = true;
	if (!s->buf || !s->msg) {
		sess_free(s);
		return CKR_HOST_MEMORY;
	}
	/* Connect now: a session on a daemon that is not running fails
	 * early, as a removed token would. */
	s->fd = connect_daemon();
	if (s->fd < 0) {
		sess_free(s);
		return CKR_DEVICE_REMOVED;
	}
	pthread_mutex_lock(&g_mu);
	unsigned i;
	for (i = 0; i < P11_SESSIONS_MAX && g_sess[i]; i++)
		;
	if (i == P11_SESSIONS_MAX) {
		pthread_mutex_unlock(&g_mu);
		sess_free(s);
		return CKR_SESSION_COUNT;
	}
	g_sess[i] = s;
	pthread_mutex_unlock(&g_mu);
	*out = i + 1;
	return CKR_OK;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (h == 0 || h > P11_SESSIONS_MAX)
		return CKR_SESSION_HANDLE_INVALID;
	pthread_mutex_lock(&g_mu);
	struct session *s = g_sess[h - 1];
	g_sess[h - 1] = NULL;
	bool last = true;
	if (s)
		for (unsigned i = 0; i < P11_SESSIONS_MAX; i++)
			if (g_sess[i] && g_sess[i]->slot == s->slot)
				last = false;
	/* Closing the last session of a token logs it out (PKCS#11 §5.6). */
	if (s && last) {
		g_slots[s->slot].logged = false;
		OPENSSL_cleanse(g_slots[s->slot].pin, sizeof(g_slots[s->slot].pin));
		g_slots[s->slot].pinlen = 0;
	}
	pthread_mutex_unlock(&g_mu);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	pthread_mutex_lock(&s->mu);
	pthread_mutex_unlock(&s->mu);
	sess_free(s);
	return CKR_OK;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID id)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!slot_ok(id))
		return CKR_SLOT_ID_INVALID;
	for (unsigned i = 0; i < P11_SESSIONS_MAX; i++) {
		pthread_mutex_lock(&g_mu);
		bool mine = g_sess[i] && g_sess[i]->slot == id;
		pthread_mutex_unlock(&g_mu);
		if (mine)
			(void)C_CloseSession(i + 1);
	}
	return CKR_OK;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	bool rw = s->flags & CKF_RW_SESSION;
	bool in = slot_logged(s->slot);
	info->slotID = s->slot;
	info->state = in ? (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS) :
			   (rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION);
	info->flags = s->flags;
	info->ulDeviceError = 0;
	return CKR_OK;
}

CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
	      CK_ULONG len)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (user == CKU_SO)
		return CKR_USER_TYPE_INVALID; /* no SO: keys are managed over REST */
	if (user == CKU_CONTEXT_SPECIFIC)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (user != CKU_USER)
		return CKR_USER_TYPE_INVALID;
	if (!pin || len == 0)
		return CKR_PIN_INCORRECT;
	if (len > P11_PIN_MAX)
		return CKR_PIN_LEN_RANGE;
	if (slot_logged(s->slot))
		return CKR_USER_ALREADY_LOGGED_IN;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = sess_ready(s);
	if (rv == CKR_OK) {
		char tenant[P11_NAME_MAX + 1];
		pthread_mutex_lock(&g_mu);
		memcpy(tenant, g_slots[s->slot].tenant, sizeof(tenant));
		pthread_mutex_unlock(&g_mu);
		struct p11_enc e;
		bool broken;
		p11_enc_init(&e, P11_OP_LOGIN, 0);
		p11_enc_str(&e, P11_T_TENANT, tenant);
		p11_enc_bytes(&e, P11_T_PIN, pin, len);
		rv = roundtrip(s->fd, &e, s->buf, s->msg, &broken);
		p11_enc_fini(&e);
		if (broken) {
			close(s->fd);
			s->fd = -1;
		}
		if (rv == CKR_OK) {
			pthread_mutex_lock(&g_mu);
			struct slotstate *ss = &g_slots[s->slot];
			ss->logged = true;
			ss->gen++;
			if (ss->gen == 0)
				ss->gen = 1;
			memcpy(ss->pin, pin, len);
			ss->pinlen = len;
			s->login_gen = ss->gen;
			pthread_mutex_unlock(&g_mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	pthread_mutex_lock(&g_mu);
	struct slotstate *ss = &g_slots[s->slot];
	bool was = ss->logged;
	ss->logged = false;
	OPENSSL_cleanse(ss->pin, sizeof(ss->pin));
	ss->pinlen = 0;
	pthread_mutex_unlock(&g_mu);
	if (!was)
		return CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_lock(&s->mu);
	(void)sess_ready(s); /* sends LOGOUT on this connection */
	pthread_mutex_unlock(&s->mu);
	return CKR_OK;
}

/* ---------------------------------------------------------------- finding */

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (n && !tmpl)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = CKR_OK;
	if (s->finding) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	free(s->found);
	s->found = NULL;
	s->nfound = s->pos = 0;
	s->finding = true;
	/* Nothing is visible before login (every key is private to the
	 * tenant's partition). */
	if (!slot_logged(s->slot))
		goto out;
	if ((rv = refresh_objects(s)) != CKR_OK) {
		s->finding = false;
		goto out;
	}
	pthread_mutex_lock(&g_mu);
	size_t total = g_nobjs;
	pthread_mutex_unlock(&g_mu);
	s->found = calloc(total ? total : 1, sizeof(*s->found));
	if (!s->found) {
		s->finding = false;
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	uint8_t scratch[64];
	for (size_t i = 0; i < total; i++) {
		pthread_mutex_lock(&g_mu);
		struct object *o = g_objs[i];
		bool mine = o->slot == s->slot && o->present;
		pthread_mutex_unlock(&g_mu);
		if (!mine)
			continue;
		bool match = true;
		for (CK_ULONG k = 0; k < n && match; k++) {
			const void *p;
			size_t l;
			if (attr_of(s, o, tmpl[k].type, &p, &l, scratch) != CKR_OK ||
			    l != tmpl[k].ulValueLen ||
			    (l && (!tmpl[k].pValue || memcmp(p, tmpl[k].pValue, l) != 0)))
				match = false;
		}
		if (match)
			s->found[s->nfound++] = i + 1;
	}
out:
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
		    CK_ULONG_PTR count)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!out || !count)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = CKR_OK;
	if (!s->finding) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		CK_ULONG c = 0;
		while (c < max && s->pos < s->nfound)
			out[c++] = s->found[s->pos++];
		*count = c;
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->finding ? CKR_OK : CKR_OPERATION_NOT_INITIALIZED;
	s->finding = false;
	free(s->found);
	s->found = NULL;
	s->nfound = s->pos = 0;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh,
			  CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (n && !tmpl)
		return CKR_ARGUMENTS_BAD;
	struct object *o = obj_get(s, oh);
	if (!o || !slot_logged(s->slot))
		return CKR_OBJECT_HANDLE_INVALID;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = CKR_OK;
	uint8_t scratch[64];
	for (CK_ULONG i = 0; i < n; i++) {
		const void *p;
		size_t l;
		CK_RV r = attr_of(s, o, tmpl[i].type, &p, &l, scratch);
		if (r == CKR_ATTRIBUTE_SENSITIVE || r == CKR_ATTRIBUTE_TYPE_INVALID) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = r;
		} else if (r != CKR_OK) {
			rv = r;
			break;
		} else if (!tmpl[i].pValue) {
			tmpl[i].ulValueLen = l;
		} else if (tmpl[i].ulValueLen < l) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			memcpy(tmpl[i].pValue, p, l);
			tmpl[i].ulValueLen = l;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

/* ------------------------------------------------------------ generating */

static const uint8_t OID_P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t OID_P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t OID_ED25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

static const CK_ATTRIBUTE *tmpl_find(const CK_ATTRIBUTE *t, CK_ULONG n,
				     CK_ATTRIBUTE_TYPE type)
{
	for (CK_ULONG i = 0; t && i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

static bool tmpl_bool(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
		      bool def)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, type);
	if (!a || !a->pValue || a->ulValueLen != sizeof(CK_BBOOL))
		return def;
	return *(const CK_BBOOL *)a->pValue != CK_FALSE;
}

static bool attr_is(const CK_ATTRIBUTE *a, const char *text, const uint8_t *der,
		    size_t derlen)
{
	if (!a || !a->pValue)
		return false;
	if (a->ulValueLen == derlen && memcmp(a->pValue, der, derlen) == 0)
		return true;
	/* PrintableString curve name (PKCS#11 allows it for EC_PARAMS). */
	size_t tl = strlen(text);
	const uint8_t *p = a->pValue;
	return a->ulValueLen == tl + 2 && p[0] == 0x13 && p[1] == tl &&
	       memcmp(p + 2, text, tl) == 0;
}

/* The label: a keystore name ([A-Za-z0-9._-], 1..64, not starting with
 * '.', '-' or '_'), or a generated one when none is given. */
static CK_RV label_of(const CK_ATTRIBUTE *a, char out[P11_NAME_MAX + 1])
{
	if (!a || !a->pValue || a->ulValueLen == 0) {
		uint8_t r[6];
		CK_RV rv = CKR_OK;
		FILE *f = fopen("/dev/urandom", "re");
		if (!f || fread(r, 1, sizeof(r), f) != sizeof(r))
			rv = CKR_FUNCTION_FAILED;
		if (f)
			fclose(f);
		snprintf(out, P11_NAME_MAX + 1, "p11-%02x%02x%02x%02x%02x%02x", r[0], r[1],
			 r[2], r[3], r[4], r[5]);
		return rv;
	}
	if (a->ulValueLen > P11_NAME_MAX)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	const char *p = a->pValue;
	for (size_t i = 0; i < a->ulValueLen; i++) {
		char c = p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok || (i == 0 && (c == '.' || c == '-' || c == '_')))
			return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	memcpy(out, p, a->ulValueLen);
	out[a->ulValueLen] = '\0';
	return CKR_OK;
}

/* Creates the key and returns the handles of its objects. */
static CK_RV genkey(struct session *s, const char *name, uint32_t kt, bool exp,
		    CK_OBJECT_HANDLE *h1, CK_OBJECT_HANDLE *h2)
{
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_lock(&s->mu);
	struct p11_enc e;
	p11_enc_init(&e, P11_OP_GENKEY, 0);
	p11_enc_str(&e, P11_T_NAME, name);
	p11_enc_u32(&e, P11_T_KTYPE, kt);
	p11_enc_u32(&e, P11_T_EXPORTABLE, exp);
	CK_RV rv = sess_call(s, &e);
	p11_enc_fini(&e);
	const struct p11_field *id = rv == CKR_OK ? p11_msg_get(s->msg, P11_T_KEYID, 0) : NULL;
	if (rv == CKR_OK && !id)
		rv = CKR_DEVICE_ERROR;
	if (rv == CKR_OK) {
		pthread_mutex_lock(&g_mu);
		if (kt == KT_AES) {
			*h1 = obj_put(s->slot, CKO_SECRET_KEY, name, kt, id->p, 1, exp);
		} else {
			*h1 = obj_put(s->slot, CKO_PUBLIC_KEY, name, kt, id->p, 1, exp);
			*h2 = obj_put(s->slot, CKO_PRIVATE_KEY, name, kt, id->p, 1, exp);
		}
		pthread_mutex_unlock(&g_mu);
		if (!*h1 || (kt != KT_AES && !*h2))
			rv = CKR_DEVICE_MEMORY;
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
		    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR key)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!mech || !key || (n && !tmpl))
		return CKR_ARGUMENTS_BAD;
	if (mech->mechanism != CKM_AES_KEY_GEN)
		return CKR_MECHANISM_INVALID;
	const CK_ATTRIBUTE *vl = tmpl_find(tmpl, n, CKA_VALUE_LEN);
	if (vl && (!vl->pValue || vl->ulValueLen != sizeof(CK_ULONG) ||
		   *(const CK_ULONG *)vl->pValue != 32))
		return CKR_ATTRIBUTE_VALUE_INVALID; /* AES-256 only */
	const CK_ATTRIBUTE *cls = tmpl_find(tmpl, n, CKA_CLASS);
	if (cls && (!cls->pValue || cls->ulValueLen != sizeof(CK_ULONG) ||
		    *(const CK_OBJECT_CLASS *)cls->pValue != CKO_SECRET_KEY))
		return CKR_TEMPLATE_INCONSISTENT;
	char name[P11_NAME_MAX + 1];
	CK_RV rv = label_of(tmpl_find(tmpl, n, CKA_LABEL), name);
	if (rv != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE h2 = 0;
	return genkey(s, name, KT_AES, tmpl_bool(tmpl, n, CKA_EXTRACTABLE, false),
		      key, &h2);
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
			CK_ATTRIBUTE_PTR pubt, CK_ULONG npub,
			CK_ATTRIBUTE_PTR privt, CK_ULONG npriv,
			CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!mech || !pub || !priv || (npub && !pubt) || (npriv && !privt))
		return CKR_ARGUMENTS_BAD;
	uint32_t kt = 0;
	const CK_ATTRIBUTE *ecp = tmpl_find(pubt, npub, CKA_EC_PARAMS);
	switch (mech->mechanism) {
	case CKM_EC_KEY_PAIR_GEN:
		if (!ecp)
			return CKR_TEMPLATE_INCOMPLETE;
		kt = attr_is(ecp, "prime256v1", OID_P256, sizeof(OID_P256)) ? KT_P256 :
		     attr_is(ecp, "secp384r1", OID_P384, sizeof(OID_P384)) ? KT_P384 :
		     attr_is(ecp, "edwards25519", OID_ED25519, sizeof(OID_ED25519)) ?
									KT_ED25519 : 0;
		break;
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
		if (!ecp)
			return CKR_TEMPLATE_INCOMPLETE;
		kt = attr_is(ecp, "edwards25519", OID_ED25519, sizeof(OID_ED25519)) ?
			     KT_ED25519 : 0;
		break;
	case CKM_RSA_PKCS_KEY_PAIR_GEN: {
		const CK_ATTRIBUTE *mb = tmpl_find(pubt, npub, CKA_MODULUS_BITS);
		const CK_ATTRIBUTE *pe = tmpl_find(pubt, npub, CKA_PUBLIC_EXPONENT);
		if (!mb || !mb->pValue || mb->ulValueLen != sizeof(CK_ULONG))
			return CKR_TEMPLATE_INCOMPLETE;
		CK_ULONG bits = *(const CK_ULONG *)mb->pValue;
		kt = bits == 2048 ? KT_RSA2048 : bits == 3072 ? KT_RSA3072 :
		     bits == 4096 ? KT_RSA4096 : 0;
		if (pe) {
			/* 65537, with or without leading zero bytes */
			const uint8_t *p = pe->pValue;
			size_t l = pe->ulValueLen;
			while (p && l > 3 && p[0] == 0) {
				p++;
				l--;
			}
			if (!p || l != 3 || p[0] != 1 || p[1] != 0 || p[2] != 1)
				return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		break;
	}
	default:
		return CKR_MECHANISM_INVALID;
	}
	if (!kt)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	char name[P11_NAME_MAX + 1];
	const CK_ATTRIBUTE *lab = tmpl_find(privt, npriv, CKA_LABEL);
	if (!lab)
		lab = tmpl_find(pubt, npub, CKA_LABEL);
	CK_RV rv = label_of(lab, name);
	if (rv != CKR_OK)
		return rv;
	return genkey(s, name, kt, tmpl_bool(privt, npriv, CKA_EXTRACTABLE, false), pub,
		      priv);
}

/* ------------------------------------------------------------ signatures */

static const uint8_t DI_SHA256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t DI_SHA384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t DI_SHA512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

static uint32_t hash_of_len(size_t n)
{
	return n == 32 ? H_SHA256 : n == 48 ? H_SHA384 : n == 64 ? H_SHA512 : H_NONE;
}

static uint32_t hash_of_ckm(CK_MECHANISM_TYPE m)
{
	return m == CKM_SHA256 ? H_SHA256 : m == CKM_SHA384 ? H_SHA384 :
	       m == CKM_SHA512 ? H_SHA512 : H_NONE;
}

static CK_RV sig_init(struct session *s, struct op *op, enum opkind kind,
		      CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE kh)
{
	if (!mech)
		return CKR_ARGUMENTS_BAD;
	if (!slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	struct object *o = obj_get(s, kh);
	if (!o)
		return CKR_KEY_HANDLE_INVALID;
	if (o->cls != (kind == OP_SIGN ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY))
		return CKR_KEY_TYPE_INCONSISTENT;
	bool ec = o->ktype == KT_P256 || o->ktype == KT_P384, rsa = kt_rsa(o->ktype);
	struct op n = { .kind = kind, .key = kh };
	switch (mech->mechanism) {
	case CKM_ECDSA:
		n.sigalg = P11_SIG_ECDSA;
		break;
	case CKM_ECDSA_SHA256:
	case CKM_ECDSA_SHA384:
	case CKM_ECDSA_SHA512:
		n.sigalg = P11_SIG_ECDSA;
		n.md = mech->mechanism == CKM_ECDSA_SHA256 ? EVP_sha256() :
		       mech->mechanism == CKM_ECDSA_SHA384 ? EVP_sha384() : EVP_sha512();
		break;
	case CKM_EDDSA:
		if (mech->pParameter && mech->ulParameterLen >= sizeof(CK_BBOOL) &&
		    *(const CK_BBOOL *)mech->pParameter)
			return CKR_MECHANISM_PARAM_INVALID; /* Ed25519ph */
		n.sigalg = P11_SIG_EDDSA;
		break;
	case CKM_RSA_PKCS:
		n.sigalg = P11_SIG_RSA_PKCS1;
		n.rsa_raw = true;
		break;
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA384_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS:
		n.sigalg = P11_SIG_RSA_PKCS1;
		n.md = mech->mechanism == CKM_SHA256_RSA_PKCS ? EVP_sha256() :
		       mech->mechanism == CKM_SHA384_RSA_PKCS ? EVP_sha384() : EVP_sha512();
		break;
	case CKM_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_SHA512_RSA_PKCS_PSS: {
		const CK_RSA_PKCS_PSS_PARAMS *pp = mech->pParameter;
		if (!pp || mech->ulParameterLen != sizeof(*pp))
			return CKR_MECHANISM_PARAM_INVALID;
		uint32_t hh = hash_of_ckm(pp->hashAlg);
		CK_RSA_PKCS_MGF_TYPE mgf = hh == H_SHA256 ? CKG_MGF1_SHA256 :
					   hh == H_SHA384 ? CKG_MGF1_SHA384 : CKG_MGF1_SHA512;
		size_t dl = hh == H_SHA256 ? 32 : hh == H_SHA384 ? 48 : 64;
		/* The key process uses MGF1 with the same hash and salt =
		 * digest length; refuse what it would not do. */
		if (!hh || pp->mgf != mgf || pp->sLen != dl)
			return CKR_MECHANISM_PARAM_INVALID;
		CK_MECHANISM_TYPE want = mech->mechanism == CKM_SHA256_RSA_PKCS_PSS ? CKM_SHA256 :
					 mech->mechanism == CKM_SHA384_RSA_PKCS_PSS ? CKM_SHA384 :
					 mech->mechanism == CKM_SHA512_RSA_PKCS_PSS ? CKM_SHA512 :
										      pp->hashAlg;
		if (want != pp->hashAlg)
			return CKR_MECHANISM_PARAM_INVALID;
		n.sigalg = P11_SIG_RSA_PSS;
		n.hash = hh;
		n.pss_len = dl;
		if (mech->mechanism == CKM_RSA_PKCS_PSS)
			n.pss_check = true;
		else
			n.md = hh == H_SHA256 ? EVP_sha256() : hh == H_SHA384 ? EVP_sha384() :
										   EVP_sha512();
		break;
	}
	default:
		return CKR_MECHANISM_INVALID;
	}
	if ((n.sigalg == P11_SIG_ECDSA && !ec) || (n.sigalg == P11_SIG_EDDSA && o->ktype != KT_ED25519) ||
	    ((n.sigalg == P11_SIG_RSA_PKCS1 || n.sigalg == P11_SIG_RSA_PSS) && !rsa))
		return CKR_KEY_TYPE_INCONSISTENT;
	if (n.md) {
		n.mdctx = EVP_MD_CTX_new();
		if (!n.mdctx || EVP_DigestInit_ex(n.mdctx, n.md, NULL) != 1) {
			EVP_MD_CTX_free(n.mdctx);
			return CKR_HOST_MEMORY;
		}
	}
	pthread_mutex_lock(&s->mu);
	CK_RV rv = CKR_OK;
	if (op->kind != OP_NONE) {
		rv = CKR_OPERATION_ACTIVE;
		EVP_MD_CTX_free(n.mdctx);
	} else {
		*op = n;
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV acc_add(struct op *op, const uint8_t *p, size_t n)
{
	if (op->mdctx)
		return EVP_DigestUpdate(op->mdctx, p, n) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
	if (n > P11_DATA_MAX - op->acclen)
		return CKR_DATA_LEN_RANGE;
	uint8_t *nb = malloc(op->acclen + n + 1);
	if (!nb)
		return CKR_HOST_MEMORY;
	if (op->acclen)
		memcpy(nb, op->acc, op->acclen);
	if (n)
		memcpy(nb + op->acclen, p, n);
	if (op->acc) {
		OPENSSL_cleanse(op->acc, op->acclen);
		free(op->acc);
	}
	op->acc = nb;
	op->acclen += n;
	return CKR_OK;
}

static size_t sig_len(const struct object *o)
{
	return o->ktype == KT_P256 ? 64 : o->ktype == KT_P384 ? 96 :
	       o->ktype == KT_ED25519 ? 64 : modulus_bytes(o->ktype);
}

/* Builds the SIGN/VERIFY request from the op's data. */
static CK_RV sig_request(struct op *op, const struct object *o, struct p11_enc *e,
			 enum p11_op wop)
{
	uint8_t dig[EVP_MAX_MD_SIZE];
	const uint8_t *d = op->acc;
	size_t dl = op->acclen;
	uint32_t hash = op->hash;
	if (op->mdctx) {
		unsigned l = 0;
		EVP_MD_CTX *copy = EVP_MD_CTX_new();
		if (!copy || EVP_MD_CTX_copy_ex(copy, op->mdctx) != 1 ||
		    EVP_DigestFinal_ex(copy, dig, &l) != 1) {
			EVP_MD_CTX_free(copy);
			return CKR_FUNCTION_FAILED;
		}
		EVP_MD_CTX_free(copy);
		d = dig;
		dl = l;
		hash = hash_of_len(l);
	} else if (op->rsa_raw) {
		/* CKM_RSA_PKCS signs a DigestInfo; the key process wants the
		 * digest and its hash. */
		static const struct {
			const uint8_t *p;
			size_t n;
			uint32_t h;
		} di[] = { { DI_SHA256, sizeof(DI_SHA256), H_SHA256 },
			   { DI_SHA384, sizeof(DI_SHA384), H_SHA384 },
			   { DI_SHA512, sizeof(DI_SHA512), H_SHA512 } };
		hash = H_NONE;
		for (size_t i = 0; i < 3 && hash == H_NONE; i++)
			if (dl == di[i].n + di[i].p[di[i].n - 1] &&
			    memcmp(d, di[i].p, di[i].n) == 0) {
				hash = di[i].h;
				d += di[i].n;
				dl -= di[i].n;
			}
		if (hash == H_NONE)
			return CKR_DATA_INVALID;
	} else if (op->sigalg == P11_SIG_ECDSA) {
		hash = hash_of_len(dl);
		if (hash == H_NONE)
			return CKR_DATA_LEN_RANGE;
	} else if (op->pss_check) {
		if (dl != op->pss_len)
			return CKR_DATA_LEN_RANGE;
	}
	p11_enc_init(e, wop, 0);
	p11_enc_str(e, P11_T_NAME, o->name);
	p11_enc_u32(e, P11_T_SIGALG, op->sigalg);
	p11_enc_u32(e, P11_T_HASH, hash);
	p11_enc_bytes(e, P11_T_DATA, d ? d : dig, dl);
	OPENSSL_cleanse(dig, sizeof(dig));
	return CKR_OK;
}

static CK_RV sign_final(struct session *s, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct op *op = &s->sign;
	struct object *o = obj_get(s, op->key);
	if (!o) {
		op_clear(op);
		return CKR_KEY_HANDLE_INVALID;
	}
	size_t want = sig_len(o);
	if (!sig) {
		*siglen = want;
		return CKR_OK; /* size query: the operation stays active */
	}
	if (*siglen < want) {
		*siglen = want;
		return CKR_BUFFER_TOO_SMALL;
	}
	struct p11_enc e;
	CK_RV rv = sig_request(op, o, &e, P11_OP_SIGN);
	if (rv == CKR_OK) {
		rv = sess_call(s, &e);
		p11_enc_fini(&e);
		const struct p11_field *f = rv == CKR_OK ? p11_msg_get(s->msg, P11_T_SIG, 0) : NULL;
		if (rv == CKR_OK && (!f || f->len > *siglen))
			rv = CKR_DEVICE_ERROR;
		if (rv == CKR_OK) {
			memcpy(sig, f->p, f->len);
			*siglen = f->len;
		}
	}
	op_clear(op);
	return rv;
}

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	return sig_init(s, &s->sign, OP_SIGN, mech, key);
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
	     CK_ULONG_PTR siglen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if ((!data && len) || !siglen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv;
	if (s->sign.kind != OP_SIGN) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if (!sig) {
		rv = sign_final(s, NULL, siglen);
	} else {
		/* A one-shot sign starts from the data given here only. */
		rv = acc_add(&s->sign, data, len);
		if (rv == CKR_OK) {
			rv = sign_final(s, sig, siglen);
			if (rv == CKR_BUFFER_TOO_SMALL) {
				/* keep the op, forget the data (it is given again) */
				if (s->sign.mdctx)
					EVP_DigestInit_ex(s->sign.mdctx, NULL, NULL);
				if (s->sign.acc)
					OPENSSL_cleanse(s->sign.acc, s->sign.acclen);
				s->sign.acclen = 0;
			}
		} else {
			op_clear(&s->sign);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!part && len)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->sign.kind == OP_SIGN ? acc_add(&s->sign, part, len) :
					     CKR_OPERATION_NOT_INITIALIZED;
	if (rv != CKR_OK && rv != CKR_OPERATION_NOT_INITIALIZED)
		op_clear(&s->sign);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!siglen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->sign.kind == OP_SIGN ? sign_final(s, sig, siglen) :
					     CKR_OPERATION_NOT_INITIALIZED;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV verify_final(struct session *s, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct op *op = &s->verify;
	struct object *o = obj_get(s, op->key);
	CK_RV rv;
	if (!o) {
		rv = CKR_KEY_HANDLE_INVALID;
	} else if (!sig || siglen == 0 || siglen > P11_SIG_MAX ||
		   (op->sigalg != P11_SIG_ECDSA && op->sigalg != P11_SIG_EDDSA &&
		    siglen != sig_len(o)) ||
		   ((op->sigalg == P11_SIG_ECDSA || op->sigalg == P11_SIG_EDDSA) &&
		    siglen != sig_len(o))) {
		rv = CKR_SIGNATURE_LEN_RANGE;
	} else {
		struct p11_enc e;
		rv = sig_request(op, o, &e, P11_OP_VERIFY);
		if (rv == CKR_OK) {
			p11_enc_bytes(&e, P11_T_SIG, sig, siglen);
			rv = sess_call(s, &e);
			p11_enc_fini(&e);
		}
	}
	op_clear(op);
	return rv;
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	return sig_init(s, &s->verify, OP_VERIFY, mech, key);
}

CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
	       CK_ULONG siglen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!data && len)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv;
	if (s->verify.kind != OP_VERIFY) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if ((rv = acc_add(&s->verify, data, len)) == CKR_OK) {
		rv = verify_final(s, sig, siglen);
	} else {
		op_clear(&s->verify);
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!part && len)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->verify.kind == OP_VERIFY ? acc_add(&s->verify, part, len) :
						 CKR_OPERATION_NOT_INITIALIZED;
	if (rv != CKR_OK && rv != CKR_OPERATION_NOT_INITIALIZED)
		op_clear(&s->verify);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->verify.kind == OP_VERIFY ? verify_final(s, sig, siglen) :
						 CKR_OPERATION_NOT_INITIALIZED;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

/* ---------------------------------------------------------------- AES-GCM */

/* CK_GCM_PARAMS as v2.40 prints it (with ulIvBits) and as its errata and
 * many implementations have it (without). */
struct gcm_params_noivbits {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
};

static CK_RV gcm_params(const CK_MECHANISM *mech, struct op *n)
{
	const uint8_t *iv, *aad;
	CK_ULONG ivlen, aadlen, tagbits;
	if (!mech->pParameter)
		return CKR_MECHANISM_PARAM_INVALID;
	if (mech->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
		const CK_GCM_PARAMS *g = mech->pParameter;
		iv = g->pIv;
		ivlen = g->ulIvLen;
		aad = g->pAAD;
		aadlen = g->ulAADLen;
		tagbits = g->ulTagBits;
	} else if (mech->ulParameterLen == sizeof(struct gcm_params_noivbits)) {
		const struct gcm_params_noivbits *g = mech->pParameter;
		iv = g->pIv;
		ivlen = g->ulIvLen;
		aad = g->pAAD;
		aadlen = g->ulAADLen;
		tagbits = g->ulTagBits;
	} else {
		return CKR_MECHANISM_PARAM_INVALID;
	}
	/* 96-bit IVs and full tags only (SP 800-38D's recommendation). */
	if (!iv || ivlen != 12 || tagbits != 128 || aadlen > P11_AAD_MAX ||
	    (aadlen && !aad))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(n->iv, iv, 12);
	if (aadlen)
		memcpy(n->aad, aad, aadlen);
	n->aadlen = aadlen;
	return CKR_OK;
}

static CK_RV crypt_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
			CK_OBJECT_HANDLE kh, enum opkind kind)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!mech)
		return CKR_ARGUMENTS_BAD;
	if (!slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	if (mech->mechanism != CKM_AES_GCM)
		return CKR_MECHANISM_INVALID;
	struct object *o = obj_get(s, kh);
	if (!o)
		return CKR_KEY_HANDLE_INVALID;
	if (o->cls != CKO_SECRET_KEY)
		return CKR_KEY_TYPE_INCONSISTENT;
	struct op *n = calloc(1, sizeof(*n));
	if (!n)
		return CKR_HOST_MEMORY;
	n->kind = kind;
	n->key = kh;
	CK_RV rv = gcm_params(mech, n);
	pthread_mutex_lock(&s->mu);
	if (rv == CKR_OK && s->crypt.kind != OP_NONE)
		rv = CKR_OPERATION_ACTIVE;
	if (rv == CKR_OK)
		s->crypt = *n;
	pthread_mutex_unlock(&s->mu);
	OPENSSL_cleanse(n, sizeof(*n));
	free(n);
	return rv;
}

/* Sends count items (iv[i], in[i]) in one request; outputs go to
 * out[i] / outlen[i] (caller-checked capacity). Called with s->mu held. */
static CK_RV crypt_items(struct session *s, const struct object *o, bool enc,
			 const uint8_t *aad, size_t aadlen, CK_ULONG count,
			 const uint8_t *const *iv, const uint8_t *const *in,
			 const CK_ULONG *inlen, uint8_t *const *out, CK_ULONG *outlen)
{
	struct p11_enc e;
	p11_enc_init(&e, enc ? P11_OP_ENCRYPT : P11_OP_DECRYPT, 0);
	p11_enc_str(&e, P11_T_NAME, o->name);
	if (aadlen)
		p11_enc_bytes(&e, P11_T_AAD, aad, aadlen);
	for (CK_ULONG i = 0; i < count; i++) {
		p11_enc_bytes(&e, P11_T_IV, iv[i], 12);
		p11_enc_bytes(&e, P11_T_DATA, in[i], inlen[i]);
	}
	CK_RV rv = sess_call(s, &e);
	p11_enc_fini(&e);
	if (rv == CKR_OK && p11_msg_count(s->msg, P11_T_DATA) != count)
		rv = CKR_DEVICE_ERROR;
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
		const struct p11_field *f = p11_msg_get(s->msg, P11_T_DATA, i);
		size_t want = enc ? inlen[i] + 16 : inlen[i] - 16;
		if (f->len != want) {
			rv = CKR_DEVICE_ERROR;
			break;
		}
		memcpy(out[i], f->p, f->len);
		outlen[i] = f->len;
	}
	OPENSSL_cleanse(s->buf, P11_WIRE_MSG_MAX < 4096 ? P11_WIRE_MSG_MAX : 4096);
	return rv;
}

/* Single-part / final step of an encrypt or decrypt. */
static CK_RV crypt_final(struct session *s, bool enc, CK_BYTE_PTR out,
			 CK_ULONG_PTR outlen)
{
	struct op *op = &s->crypt;
	struct object *o = obj_get(s, op->key);
	if (!o) {
		op_clear(op);
		return CKR_KEY_HANDLE_INVALID;
	}
	if (!enc && op->acclen < 16) {
		op_clear(op);
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	}
	size_t want = enc ? op->acclen + 16 : op->acclen - 16;
	if (!out) {
		*outlen = want;
		return CKR_OK;
	}
	if (*outlen < want) {
		*outlen = want;
		return CKR_BUFFER_TOO_SMALL;
	}
	const uint8_t *ivp = op->iv, *inp = op->acc ? op->acc : op->iv;
	CK_ULONG il = op->acclen;
	uint8_t *outp = out;
	CK_ULONG ol = 0;
	CK_RV rv = crypt_items(s, o, enc, op->aad, op->aadlen, 1, &ivp, &inp, &il, &outp, &ol);
	if (rv == CKR_OK)
		*outlen = ol;
	op_clear(op);
	return rv;
}

static CK_RV crypt_one(CK_SESSION_HANDLE h, bool enc, CK_BYTE_PTR in, CK_ULONG inlen,
		       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if ((!in && inlen) || !outlen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv;
	enum opkind k = enc ? OP_ENCRYPT : OP_DECRYPT;
	if (s->crypt.kind != k) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if (s->crypt.acclen) {
		rv = CKR_OPERATION_ACTIVE; /* a multi-part operation is under way */
	} else if ((rv = acc_add(&s->crypt, in, inlen)) != CKR_OK) {
		op_clear(&s->crypt);
	} else {
		rv = crypt_final(s, enc, out, outlen);
		if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && !out)) {
			OPENSSL_cleanse(s->crypt.acc, s->crypt.acclen);
			s->crypt.acclen = 0; /* the data comes again */
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV crypt_update(CK_SESSION_HANDLE h, bool enc, CK_BYTE_PTR in,
			  CK_ULONG inlen, CK_ULONG_PTR outlen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if ((!in && inlen) || !outlen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->crypt.kind == (enc ? OP_ENCRYPT : OP_DECRYPT) ?
			   acc_add(&s->crypt, in, inlen) : CKR_OPERATION_NOT_INITIALIZED;
	if (rv == CKR_OK)
		*outlen = 0; /* GCM output comes at the end (the tag decides) */
	else if (rv != CKR_OPERATION_NOT_INITIALIZED)
		op_clear(&s->crypt);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV crypt_fin(CK_SESSION_HANDLE h, bool enc, CK_BYTE_PTR out,
		       CK_ULONG_PTR outlen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!outlen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->crypt.kind == (enc ? OP_ENCRYPT : OP_DECRYPT) ?
			   crypt_final(s, enc, out, outlen) : CKR_OPERATION_NOT_INITIALIZED;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return crypt_init(h, m, k, OP_ENCRYPT);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
		CK_ULONG_PTR outlen)
{
	return crypt_one(h, true, in, inlen, out, outlen);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
		      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_update(h, true, in, inlen, outlen);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_fin(h, true, out, outlen);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return crypt_init(h, m, k, OP_DECRYPT);
}

CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
		CK_ULONG_PTR outlen)
{
	return crypt_one(h, false, in, inlen, out, outlen);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
		      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_update(h, false, in, inlen, outlen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_fin(h, false, out, outlen);
}

CK_RV C_BulwarkEncryptBatch(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
			    CK_OBJECT_HANDLE key, CK_ULONG count,
			    CK_BYTE_PTR const *ivs, CK_BYTE_PTR const *in,
			    const CK_ULONG *inlen, CK_BYTE_PTR const *out,
			    CK_ULONG_PTR outlen)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!mech || count == 0 || count > P11_BATCH_MAX || !ivs || !in || !inlen ||
	    !out || !outlen)
		return CKR_ARGUMENTS_BAD;
	if (!slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	if (mech->mechanism != CKM_AES_GCM)
		return CKR_MECHANISM_INVALID;
	struct object *o = obj_get(s, key);
	if (!o)
		return CKR_KEY_HANDLE_INVALID;
	if (o->cls != CKO_SECRET_KEY)
		return CKR_KEY_TYPE_INCONSISTENT;
	/* The mechanism's IV is a placeholder; each item brings its own. */
	struct op *p = calloc(1, sizeof(*p));
	if (!p)
		return CKR_HOST_MEMORY;
	CK_RV rv = gcm_params(mech, p);
	size_t total = 0;
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
		if (!ivs[i] || (!in[i] && inlen[i]) || !out[i] || inlen[i] > P11_DATA_MAX)
			rv = CKR_ARGUMENTS_BAD;
		else if (outlen[i] < inlen[i] + 16)
			rv = CKR_BUFFER_TOO_SMALL;
		total += inlen[i] + 40;
	}
	if (rv == CKR_OK && total > P11_WIRE_MSG_MAX - 1024)
		rv = CKR_DATA_LEN_RANGE;
	if (rv == CKR_OK) {
		pthread_mutex_lock(&s->mu);
		rv = crypt_items(s, o, true, p->aad, p->aadlen, count,
				 (const uint8_t *const *)ivs, (const uint8_t *const *)in,
				 inlen, (uint8_t *const *)out, outlen);
		pthread_mutex_unlock(&s->mu);
	}
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
	return rv;
}

/* ----------------------------------------------------------------- random */

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	struct session *s = sess_get(h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (!out && len)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = CKR_OK;
	for (CK_ULONG off = 0; off < len && rv == CKR_OK;) {
		CK_ULONG n = len - off > P11_RANDOM_MAX ? P11_RANDOM_MAX : len - off;
		struct p11_enc e;
		p11_enc_init(&e, P11_OP_RANDOM, 0);
		p11_enc_u32(&e, P11_T_COUNT, (uint32_t)n);
		rv = sess_call(s, &e);
		p11_enc_fini(&e);
		const struct p11_field *f = rv == CKR_OK ? p11_msg_get(s->msg, P11_T_DATA, 0) : NULL;
		if (rv == CKR_OK && (!f || f->len != n))
			rv = CKR_DEVICE_ERROR;
		if (rv == CKR_OK) {
			memcpy(out + off, f->p, n);
			off += n;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
	if (!initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	return sess_get(h) ? CKR_RANDOM_SEED_NOT_SUPPORTED : CKR_SESSION_HANDLE_INVALID;
}

/* ----------------------------------------------------------- unsupported */

#define NOTSUP(name, args)                                                     \
	CK_RV name args                                                        \
	{                                                                      \
		return CKR_FUNCTION_NOT_SUPPORTED;                             \
	}

NOTSUP(C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d))
NOTSUP(C_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c))
NOTSUP(C_SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d,
		  CK_ULONG e))
NOTSUP(C_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOTSUP(C_SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
			     CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e))
NOTSUP(C_CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c,
			CK_OBJECT_HANDLE_PTR d))
NOTSUP(C_CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,
		      CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
NOTSUP(C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
NOTSUP(C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c))
NOTSUP(C_SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,
			     CK_ULONG d))
NOTSUP(C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b))
NOTSUP(C_Digest, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
		  CK_ULONG_PTR e))
NOTSUP(C_DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOTSUP(C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
NOTSUP(C_DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOTSUP(C_SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOTSUP(C_SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
		       CK_ULONG_PTR e))
NOTSUP(C_VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOTSUP(C_VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,
			 CK_ULONG_PTR e))
NOTSUP(C_DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
			       CK_BYTE_PTR d, CK_ULONG_PTR e))
NOTSUP(C_DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
			       CK_BYTE_PTR d, CK_ULONG_PTR e))
NOTSUP(C_SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
			     CK_BYTE_PTR d, CK_ULONG_PTR e))
NOTSUP(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
			       CK_BYTE_PTR d, CK_ULONG_PTR e))
NOTSUP(C_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,
		   CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f))
NOTSUP(C_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,
		     CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG g,
		     CK_OBJECT_HANDLE_PTR i))
NOTSUP(C_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,
		     CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f))
NOTSUP(C_GetFunctionStatus, (CK_SESSION_HANDLE a))
NOTSUP(C_CancelFunction, (CK_SESSION_HANDLE a))
NOTSUP(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c))

static CK_FUNCTION_LIST g_list = {
	.version = { 2, 40 },
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};
