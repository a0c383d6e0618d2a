/*
 * bulwark_pkcs11.h — what libbulwark-pkcs11.so offers beyond PKCS#11
 * v2.40 (the standard functions come from <p11-kit/pkcs11.h>). Include it
 * to call the vendor extension; find it with dlsym(handle,
 * "C_BulwarkEncryptBatch").
 */
#ifndef BW_BULWARK_PKCS11_H
#define BW_BULWARK_PKCS11_H

#include <p11-kit/pkcs11.h>

/*
 * AES-256-GCM encryption of count (1..256) messages under one key in one
 * round trip to the daemon. mech is CKM_AES_GCM with CK_GCM_PARAMS whose
 * AAD and tag length (128 bits) apply to every item; its IV is ignored:
 * item i uses ivs[i] (12 bytes each; never reuse an IV under a key).
 * Item i encrypts in[i] (inlen[i] bytes, at most 64 KiB; at most about
 * 150 KiB in all) into out[i], whose capacity outlen[i] must be at least
 * inlen[i] + 16; on return outlen[i] is the length written (ciphertext
 * followed by the tag, as C_Encrypt gives it). All or nothing: on any
 * error no output is valid. Returns CKR_OK, CKR_ARGUMENTS_BAD,
 * CKR_BUFFER_TOO_SMALL, CKR_DATA_LEN_RANGE, CKR_KEY_HANDLE_INVALID,
 * CKR_MECHANISM_INVALID / _PARAM_INVALID, CKR_USER_NOT_LOGGED_IN or the
 * daemon's verdict.
 */
typedef CK_RV (*CK_C_BulwarkEncryptBatch)(CK_SESSION_HANDLE h,
					  CK_MECHANISM_PTR mech,
					  CK_OBJECT_HANDLE key, CK_ULONG count,
					  CK_BYTE_PTR const *ivs,
					  CK_BYTE_PTR const *in,
					  const CK_ULONG *inlen,
					  CK_BYTE_PTR const *out,
					  CK_ULONG_PTR outlen);
CK_RV C_BulwarkEncryptBatch(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
			    CK_OBJECT_HANDLE key, CK_ULONG count,
			    CK_BYTE_PTR const *ivs, CK_BYTE_PTR const *in,
			    const CK_ULONG *inlen, CK_BYTE_PTR const *out,
			    CK_ULONG_PTR outlen);

#endif
