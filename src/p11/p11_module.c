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
 * This file: the library's life cycle, the connection to the daemon,
 * slots, tokens, mechanisms, sessions, login and the function list.
 * Objects are in p11_object.c, operations in p11_crypto.c; locking is
 * described in p11_int.h.
 */
#include "p11/p11_int.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

pthread_mutex_t p11_mu = PTHREAD_MUTEX_INITIALIZER;
bool p11_inited;
struct slotstate p11_slots[P11_SLOTS_MAX];
unsigned p11_nslots;
struct session *p11_sessions[P11_SESSIONS_MAX];
struct object *p11_objs[P11_OBJECTS_MAX];
size_t p11_nobjs;
static char g_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

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

struct session *p11_sess_get(CK_SESSION_HANDLE h)
{
	if (h == 0 || h > P11_SESSIONS_MAX)
		return NULL;
	pthread_mutex_lock(&p11_mu);
	struct session *s = p11_inited ? p11_sessions[h - 1] : NULL;
	if (s && !s->used)
		s = NULL;
	pthread_mutex_unlock(&p11_mu);
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
	pthread_mutex_lock(&p11_mu);
	struct slotstate *ss = &p11_slots[s->slot];
	bool want = ss->logged;
	unsigned gen = ss->gen;
	uint8_t pin[P11_PIN_MAX];
	size_t pinlen = ss->pinlen;
	char tenant[P11_NAME_MAX + 1];
	memcpy(pin, ss->pin, pinlen);
	memcpy(tenant, ss->tenant, sizeof(tenant));
	pthread_mutex_unlock(&p11_mu);
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
CK_RV p11_sess_call(struct session *s, struct p11_enc *req)
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

bool p11_slot_logged(unsigned slot)
{
	pthread_mutex_lock(&p11_mu);
	bool l = p11_slots[slot].logged;
	pthread_mutex_unlock(&p11_mu);
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
			pthread_mutex_lock(&p11_mu);
			size_t n = p11_msg_count(msg, P11_T_TENANT);
			for (size_t i = 0; i < n; i++) {
				char t[P11_NAME_MAX + 1];
				if (!p11_msg_text(msg, P11_T_TENANT, i, t, sizeof(t)))
					continue;
				bool have = false;
				for (unsigned k = 0; k < p11_nslots && !have; k++)
					have = strcmp(p11_slots[k].tenant, t) == 0;
				if (!have && p11_nslots < P11_SLOTS_MAX)
					memcpy(p11_slots[p11_nslots++].tenant, t, sizeof(t));
			}
			pthread_mutex_unlock(&p11_mu);
		}
	}
	free(buf);
	free(msg);
	close(fd);
	return rv;
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
	pthread_mutex_lock(&p11_mu);
	if (p11_inited) {
		pthread_mutex_unlock(&p11_mu);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	find_socket_path();
	p11_inited = true;
	pthread_mutex_unlock(&p11_mu);
	(void)refresh_slots();
	return CKR_OK;
}

static void sess_free(struct session *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	p11_op_clear(&s->sign);
	p11_op_clear(&s->verify);
	p11_op_clear(&s->crypt);
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
	pthread_mutex_lock(&p11_mu);
	if (!p11_inited) {
		pthread_mutex_unlock(&p11_mu);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	p11_inited = false;
	for (unsigned i = 0; i < P11_SESSIONS_MAX; i++) {
		sess_free(p11_sessions[i]);
		p11_sessions[i] = NULL;
	}
	for (size_t i = 0; i < p11_nobjs; i++) {
		free(p11_objs[i]->pub);
		free(p11_objs[i]);
		p11_objs[i] = NULL;
	}
	p11_nobjs = 0;
	OPENSSL_cleanse(p11_slots, sizeof(p11_slots));
	p11_nslots = 0;
	pthread_mutex_unlock(&p11_mu);
	return CKR_OK;
}

bool p11_initialized(void)
{
	pthread_mutex_lock(&p11_mu);
	bool i = p11_inited;
	pthread_mutex_unlock(&p11_mu);
	return i;
}

CK_RV C_GetInfo(CK_INFO_PTR info)
{
	if (!p11_initialized())
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
	if (!p11_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!count)
		return CKR_ARGUMENTS_BAD;
	if (!list)
		(void)refresh_slots();
	pthread_mutex_lock(&p11_mu);
	unsigned n = p11_nslots;
	pthread_mutex_unlock(&p11_mu);
	if (list && *count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (unsigned i = 0; list && i < n; i++)
		list[i] = i;
	*count = n;
	return CKR_OK;
}

/* CKR_OK for a known slot of an initialised library. */
static CK_RV slot_check(CK_SLOT_ID id)
{
	if (!p11_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	pthread_mutex_lock(&p11_mu);
	bool ok = id < p11_nslots;
	pthread_mutex_unlock(&p11_mu);
	return ok ? CKR_OK : CKR_SLOT_ID_INVALID;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	CK_RV rv = slot_check(id);
	if (rv != CKR_OK)
		return rv;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	char d[80];
	pthread_mutex_lock(&p11_mu);
	snprintf(d, sizeof(d), "bulwark tenant %s", p11_slots[id].tenant);
	pthread_mutex_unlock(&p11_mu);
	pad_copy(info->slotDescription, sizeof(info->slotDescription), d);
	pad_copy(info->manufacturerID, sizeof(info->manufacturerID), "bulwark");
	info->flags = CKF_TOKEN_PRESENT;
	info->hardwareVersion.major = 1;
	info->firmwareVersion.major = 1;
	return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = slot_check(id);
	if (rv != CKR_OK)
		return rv;
	if (!info)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	char serial[17];
	pthread_mutex_lock(&p11_mu);
	pad_copy(info->label, sizeof(info->label), p11_slots[id].tenant);
	/* A short stable serial from the tenant name (FNV-1a). */
	uint64_t h = 1469598103934665603ull;
	for (const char *p = p11_slots[id].tenant; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	unsigned long sc = 0;
	for (unsigned i = 0; i < P11_SESSIONS_MAX; i++)
		if (p11_sessions[i] && p11_sessions[i]->used && p11_sessions[i]->slot == id)
			sc++;
	pthread_mutex_unlock(&p11_mu);
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
	CK_RV rv = slot_check(id);
	if (rv != CKR_OK)
		return rv;
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
	CK_RV rv = slot_check(id);
	if (rv != CKR_OK)
		return rv;
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
	CK_RV rv = slot_check(id);
	if (rv != CKR_OK)
		return rv;
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
	pthread_mutex_lock(&p11_mu);
	unsigned i;
	for (i = 0; i < P11_SESSIONS_MAX && p11_sessions[i]; i++)
		;
	if (i == P11_SESSIONS_MAX) {
		pthread_mutex_unlock(&p11_mu);
		sess_free(s);
		return CKR_SESSION_COUNT;
	}
	p11_sessions[i] = s;
	pthread_mutex_unlock(&p11_mu);
	*out = i + 1;
	return CKR_OK;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	if (!p11_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (h == 0 || h > P11_SESSIONS_MAX)
		return CKR_SESSION_HANDLE_INVALID;
	pthread_mutex_lock(&p11_mu);
	struct session *s = p11_sessions[h - 1];
	p11_sessions[h - 1] = NULL;
	bool last = true;
	if (s)
		for (unsigned i = 0; i < P11_SESSIONS_MAX; i++)
			if (p11_sessions[i] && p11_sessions[i]->slot == s->slot)
				last = false;
	/* Closing the last session of a token logs it out (PKCS#11 §5.6). */
	if (s && last) {
		p11_slots[s->slot].logged = false;
		OPENSSL_cleanse(p11_slots[s->slot].pin, sizeof(p11_slots[s->slot].pin));
		p11_slots[s->slot].pinlen = 0;
	}
	pthread_mutex_unlock(&p11_mu);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	pthread_mutex_lock(&s->mu);
	pthread_mutex_unlock(&s->mu);
	sess_free(s);
	return CKR_OK;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID id)
{
	CK_RV rv = slot_check(id);
	if (rv != CKR_OK)
		return rv;
	for (unsigned i = 0; i < P11_SESSIONS_MAX; i++) {
		pthread_mutex_lock(&p11_mu);
		bool mine = p11_sessions[i] && p11_sessions[i]->slot == id;
		pthread_mutex_unlock(&p11_mu);
		if (mine)
			(void)C_CloseSession(i + 1);
	}
	return CKR_OK;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!info)
		return CKR_ARGUMENTS_BAD;
	bool rw = s->flags & CKF_RW_SESSION;
	bool in = p11_slot_logged(s->slot);
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
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
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
	if (p11_slot_logged(s->slot))
		return CKR_USER_ALREADY_LOGGED_IN;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = sess_ready(s);
	if (rv == CKR_OK) {
		char tenant[P11_NAME_MAX + 1];
		pthread_mutex_lock(&p11_mu);
		memcpy(tenant, p11_slots[s->slot].tenant, sizeof(tenant));
		pthread_mutex_unlock(&p11_mu);
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
			pthread_mutex_lock(&p11_mu);
			struct slotstate *ss = &p11_slots[s->slot];
			ss->logged = true;
			ss->gen++;
			if (ss->gen == 0)
				ss->gen = 1;
			memcpy(ss->pin, pin, len);
			ss->pinlen = len;
			s->login_gen = ss->gen;
			pthread_mutex_unlock(&p11_mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	pthread_mutex_lock(&p11_mu);
	struct slotstate *ss = &p11_slots[s->slot];
	bool was = ss->logged;
	ss->logged = false;
	OPENSSL_cleanse(ss->pin, sizeof(ss->pin));
	ss->pinlen = 0;
	pthread_mutex_unlock(&p11_mu);
	if (!was)
		return CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_lock(&s->mu);
	(void)sess_ready(s); /* sends LOGOUT on this connection */
	pthread_mutex_unlock(&s->mu);
	return CKR_OK;
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
