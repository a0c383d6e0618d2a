/*
 * libbulwark-pkcs11.so: objects. Each keystore key of the token's tenant
 * is one object (an AES-256 secret key) or two (the private and public
 * key of a key pair); handles index a process-wide table keyed by (slot,
 * class, name) so they stay stable; C_FindObjectsInit reloads the list
 * from the daemon. Attributes are computed here, public parts fetched
 * once per object; private and secret values are never available.
 * Key generation (C_GenerateKey, C_GenerateKeyPair) checks templates
 * against what the keystore can make and asks the daemon.
 */
#include "p11/p11_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

bool p11_kt_rsa(uint32_t kt)
{
	return kt >= KT_RSA2048 && kt <= KT_RSA4096;
}

/* Upserts an object; returns its handle (0 when the table is full).
 * Under p11_mu. */
static CK_OBJECT_HANDLE obj_put(unsigned slot, CK_OBJECT_CLASS cls,
				const char *name, uint32_t kt, const uint8_t id[16],
				uint32_t state, bool exp)
{
	struct object *o = NULL;
	size_t i;
	for (i = 0; i < p11_nobjs; i++) {
		struct object *x = p11_objs[i];
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
		if (p11_nobjs >= P11_OBJECTS_MAX || !(o = calloc(1, sizeof(*o))))
			return 0;
		i = p11_nobjs;
		p11_objs[p11_nobjs++] = o;
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

struct object *p11_obj_get(struct session *s, CK_OBJECT_HANDLE h)
{
	struct object *o = NULL;
	pthread_mutex_lock(&p11_mu);
	if (h >= 1 && h <= p11_nobjs && p11_objs[h - 1]->slot == s->slot &&
	    p11_objs[h - 1]->present)
		o = p11_objs[h - 1];
	pthread_mutex_unlock(&p11_mu);
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
		CK_RV rv = p11_sess_call(s, &e);
		p11_enc_fini(&e);
		if (rv != CKR_OK)
			return rv;
		struct p11_msg *m = s->msg;
		size_t n = p11_msg_count(m, P11_T_NAME);
		if (p11_msg_count(m, P11_T_KTYPE) != n || p11_msg_count(m, P11_T_KEYID) != n ||
		    p11_msg_count(m, P11_T_STATE) != n ||
		    p11_msg_count(m, P11_T_EXPORTABLE) != n)
			return CKR_DEVICE_ERROR;
		pthread_mutex_lock(&p11_mu);
		if (first)
			for (size_t i = 0; i < p11_nobjs; i++)
				if (p11_objs[i]->slot == s->slot)
					p11_objs[i]->present = false;
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
		pthread_mutex_unlock(&p11_mu);
		if (!p11_msg_text(m, P11_T_CURSOR, 0, cursor, sizeof(cursor)))
			break;
	}
	return CKR_OK;
}

/* Loads the public parts of o. Called with s->mu held. */
static CK_RV load_pub(struct session *s, struct object *o)
{
	pthread_mutex_lock(&p11_mu);
	bool have = o->pub != NULL;
	pthread_mutex_unlock(&p11_mu);
	if (have || o->ktype == KT_AES)
		return CKR_OK;
	struct p11_enc e;
	p11_enc_init(&e, P11_OP_PUBINFO, 0);
	p11_enc_str(&e, P11_T_NAME, o->name);
	CK_RV rv = p11_sess_call(s, &e);
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
	pthread_mutex_lock(&p11_mu);
	if (!o->pub) {
		o->pub = p;
		p = NULL;
	}
	pthread_mutex_unlock(&p11_mu);
	free(p);
	return CKR_OK;
}

size_t p11_modulus_bytes(uint32_t kt)
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
	bool rsa = p11_kt_rsa(o->ktype);
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
		return ULONG(p11_modulus_bytes(o->ktype) * 8);
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

/* ---------------------------------------------------------------- finding */

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
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
	if (!p11_slot_logged(s->slot))
		goto out;
	if ((rv = refresh_objects(s)) != CKR_OK) {
		s->finding = false;
		goto out;
	}
	pthread_mutex_lock(&p11_mu);
	size_t total = p11_nobjs;
	pthread_mutex_unlock(&p11_mu);
	s->found = calloc(total ? total : 1, sizeof(*s->found));
	if (!s->found) {
		s->finding = false;
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	uint8_t scratch[64];
	for (size_t i = 0; i < total; i++) {
		pthread_mutex_lock(&p11_mu);
		struct object *o = p11_objs[i];
		bool mine = o->slot == s->slot && o->present;
		pthread_mutex_unlock(&p11_mu);
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
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
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
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
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
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (n && !tmpl)
		return CKR_ARGUMENTS_BAD;
	struct object *o = p11_obj_get(s, oh);
	if (!o || !p11_slot_logged(s->slot))
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
	if (!p11_slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_lock(&s->mu);
	struct p11_enc e;
	p11_enc_init(&e, P11_OP_GENKEY, 0);
	p11_enc_str(&e, P11_T_NAME, name);
	p11_enc_u32(&e, P11_T_KTYPE, kt);
	p11_enc_u32(&e, P11_T_EXPORTABLE, exp);
	CK_RV rv = p11_sess_call(s, &e);
	p11_enc_fini(&e);
	const struct p11_field *id = rv == CKR_OK ? p11_msg_get(s->msg, P11_T_KEYID, 0) : NULL;
	if (rv == CKR_OK && !id)
		rv = CKR_DEVICE_ERROR;
	if (rv == CKR_OK) {
		pthread_mutex_lock(&p11_mu);
		if (kt == KT_AES) {
			*h1 = obj_put(s->slot, CKO_SECRET_KEY, name, kt, id->p, 1, exp);
		} else {
			*h1 = obj_put(s->slot, CKO_PUBLIC_KEY, name, kt, id->p, 1, exp);
			*h2 = obj_put(s->slot, CKO_PRIVATE_KEY, name, kt, id->p, 1, exp);
		}
		pthread_mutex_unlock(&p11_mu);
		if (!*h1 || (kt != KT_AES && !*h2))
			rv = CKR_DEVICE_MEMORY;
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
		    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR key)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
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
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
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
