/*
 * iam_web_limits.h — the bounds of the browser-facing half of identity:
 * WebAuthn messages and their CBOR, one-time codes by e-mail and SMS, the
 * login pages' forms and cookies. Defaults and hard maxima, one reason
 * each (iam_limits.h holds the identity core's).
 */
#ifndef BW_IAM_WEB_LIMITS_H
#define BW_IAM_WEB_LIMITS_H

/* CBOR: an attestation object is a 3-entry map whose statement holds at
 * most a few certificates; 16 levels and 512 items are far above any
 * authenticator's output and bound a hostile document's cost. */
#define IAM_CBOR_DEPTH_MAX 16
#define IAM_CBOR_NODES_MAX 512
/* A COSE key has at most 6 members (RSA: kty, alg, n, e): 32 nodes. */
#define IAM_COSE_NODES_MAX 32

/* WebAuthn. Challenges are 32 random bytes (the spec asks for >= 16). */
#define IAM_WEBAUTHN_CHALLENGE_LEN 32
#define IAM_WEBAUTHN_CHALLENGE_TTL_S 300
/* Credential ids: the spec caps them at 1023 bytes. */
#define IAM_WEBAUTHN_CRED_ID_MAX 1023
/* COSE public key: RSA-4096 (512-byte n) plus framing fits in 600. */
#define IAM_WEBAUTHN_COSE_MAX 600
#define IAM_WEBAUTHN_RSA_MIN_BITS 2048
#define IAM_WEBAUTHN_RSA_MAX_BITS 4096
/* Authenticator data: 37 fixed bytes + attested data + extensions. */
#define IAM_WEBAUTHN_AUTHDATA_MAX 4096
/* Client data JSON: a few hundred bytes in practice (type, challenge,
 * origin, crossOrigin, a Chromium note); 4 KiB is generous. */
#define IAM_WEBAUTHN_CLIENT_DATA_MAX 4096
/* Attestation object: authData + a packed statement with up to 4
 * certificates of ~1-2 KiB; 16 KiB by default is what we accept. */
#define IAM_WEBAUTHN_ATTESTATION_MAX 16384
#define IAM_WEBAUTHN_X5C_MAX 4
/* Attestation trust roots: the FIDO Metadata Service lists a few hundred
 * models whose roots are shared by vendor; 256 certificates in at most
 * 1 MiB of PEM is far above what an operator pins. */
#define IAM_WEBAUTHN_ROOTS_MAX 256
#define IAM_WEBAUTHN_ROOTS_BYTES_MAX (1u << 20)
/* Signatures: RSA-4096 is 512 bytes; DER ECDSA P-256 at most 72. */
#define IAM_WEBAUTHN_SIG_MAX 512
/* Security keys per user: 20 is more than anyone carries; it bounds the
 * allowCredentials list sent with every login. */
#define IAM_WEBAUTHN_CREDS_PER_USER 20
#define IAM_WEBAUTHN_NAME_MAX 64

/* One-time codes by e-mail / SMS: 6 digits (NIST 800-63B out-of-band
 * minimum), valid 5 minutes, 5 wrong guesses kill a code; at most 3 sends
 * per user and channel per 15 minutes and 60 s between two sends, so the
 * feature cannot be used to flood an inbox or a phone bill. */
#define IAM_OTP_DIGITS 6
#define IAM_OTP_TTL_S 300
#define IAM_OTP_ATTEMPTS 5
#define IAM_OTP_SEND_WINDOW_S 900
#define IAM_OTP_SENDS_PER_WINDOW 3
#define IAM_OTP_RESEND_GAP_S 60
/* SMTP (libcurl): a whole exchange must finish within 15 s on the pool
 * thread. */
#define IAM_SMTP_TIMEOUT_MS 15000
/* SMS webhook: the answer is read only for its status; 10 s. */
#define IAM_SMS_TIMEOUT_MS 10000

/* Pages. Their forms go through the strict form parser (iam_form.c:
 * 8 KiB, 16 fields): a user name and password, a CSRF token, a return
 * path, or a WebAuthn response with one attestation certificate.
 * The return path after login: a local path under /oidc/ or /auth/. */
#define IAM_PAGES_NEXT_MAX 2048
/* Cookies header bytes we look at. */
#define IAM_PAGES_COOKIE_MAX 8192
/* Step-up: sensitive operations need an MFA check this recent (the
 * pages' iam.pages.step_up and each tenant's policy.step_up_s). Below
 * 30 s a person cannot finish the operation after stepping up; above an
 * hour "recent" stops meaning anything. */
#define IAM_STEPUP_DEFAULT_S 300
#define IAM_STEPUP_MIN_S 30
#define IAM_STEPUP_MAX_S 3600
/* OIDC prompt=login (and max_age=0): a sign-in this recent counts as the
 * fresh one the client asked for; it covers the redirect round trip. */
#define IAM_OIDC_PROMPT_LOGIN_S 60

/* Roles a tenant can mark "MFA required": the platform model has 18. */
#define IAM_MFA_ROLES_MAX 32
#define IAM_ROLE_NAME_MAX 64

#endif
