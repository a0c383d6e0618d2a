/*
 * iam_limits.h — every bound the identity core enforces on names,
 * passwords, codes, tokens and its in-memory tables, with defaults and
 * hard maxima (config may not exceed the hard ones), one reason each.
 */
#ifndef BW_IAM_LIMITS_H
#define BW_IAM_LIMITS_H

/* Tenant names: [a-z0-9-], 1..63, like a DNS label, so a tenant can
 * appear in a host name or URL path without escaping. */
#define IAM_TENANT_MAX 63
/* User and group names: 1..128 bytes of printable UTF-8; long enough for
 * an e-mail address used as a login name (RFC 5321 allows 254, nobody
 * logs in with one that long). */
#define IAM_NAME_MAX 128
/* Display names, e-mail addresses, group descriptions. */
#define IAM_TEXT_MAX 256
/* Attributes: one JSON object per user, 4 KiB, depth 4 — enough for
 * department/cost-centre style claims, small enough to copy per request. */
#define IAM_ATTRS_MAX 4096
#define IAM_ATTRS_DEPTH 4
/* Ids are 16 random bytes in hex. */
#define IAM_ID_LEN 32

/* Passwords. NIST SP 800-63B: minimum at least 8 (15 when a password is
 * the only factor); we default to 12 and refuse policies below 8. */
#define IAM_PW_MIN_DEFAULT 12
#define IAM_PW_MIN_FLOOR 8
/* Maximum length counted in code points: NIST asks for at least 64;
 * 128 by default, 1024 at most. */
#define IAM_PW_MAX_DEFAULT 128
#define IAM_PW_MAX_FLOOR 64
#define IAM_PW_MAX_HARD 1024
/* Bytes of password input we will look at at all (1024 code points of
 * 4-byte UTF-8); anything longer is refused before hashing. */
#define IAM_PW_BYTES_MAX 4096
/* Password history: default 5, at most 24 (each entry costs one Argon2id
 * verification on every change). */
#define IAM_PW_HISTORY_DEFAULT 5
#define IAM_PW_HISTORY_MAX 24
/* Maximum password age in days (0: never expires, NIST's advice) and the
 * warning period before it. */
#define IAM_PW_MAX_AGE_DAYS_HARD 3650
#define IAM_PW_WARN_DAYS_DEFAULT 14

/* Argon2id: OWASP's floor (m = 19 MiB, t = 2, p = 1) is our minimum;
 * defaults come from bench/iam (docs/internals/IAM.md). The hard maxima
 * bound memory per concurrent hash (1 GiB) and time. */
#define IAM_ARGON2_M_MIN 19456
#define IAM_ARGON2_T_MIN 2
#define IAM_ARGON2_P_MIN 1
#define IAM_ARGON2_M_DEFAULT 19456
#define IAM_ARGON2_T_DEFAULT 2
#define IAM_ARGON2_P_DEFAULT 1
#define IAM_ARGON2_M_MAX (1u << 20)
#define IAM_ARGON2_T_MAX 16
#define IAM_ARGON2_P_MAX 16
#define IAM_ARGON2_SALT_LEN 16
#define IAM_ARGON2_HASH_LEN 32
/* A PHC string: "$argon2id$v=19$m=1048576,t=16,p=16$" + salts + hash. */
#define IAM_PHC_MAX 160

/* Blocklist file: lines of at most 256 bytes; at most 50 M entries by
 * default (a large breached-password list; ~800 MB of set memory), 200 M
 * hard (the full HIBP corpus is ~900 M: use a filtered subset). */
#define IAM_BLOCKLIST_LINE_MAX 256
#define IAM_BLOCKLIST_ENTRIES_DEFAULT 50000000u
#define IAM_BLOCKLIST_ENTRIES_HARD 200000000u
/* The blocklist file itself: 8 GiB covers 200 M lines of ordinary
 * passwords. */
#define IAM_BLOCKLIST_BYTES_HARD ((size_t)8 << 30)

/* Lockout defaults (per tenant policy, see IAM.md):
 * per account+IP: after 5 failures in the window, delays doubling from
 * 1 s up to 15 min; per account: after 20 failures (any source) a lock
 * for unknown sources, doubling from 1 min up to 1 h; per IP: after 100
 * failures over all accounts, the IP is throttled for the window. */
#define IAM_LOCK_WINDOW_S_DEFAULT 900
#define IAM_LOCK_PAIR_DEFAULT 5
#define IAM_LOCK_ACCOUNT_DEFAULT 20
#define IAM_LOCK_IP_DEFAULT 100
#define IAM_LOCK_DELAY_BASE_S 1
#define IAM_LOCK_DELAY_MAX_S 900
#define IAM_LOCK_ACCOUNT_BASE_S 60
#define IAM_LOCK_ACCOUNT_MAX_S 3600
/* Thresholds may be configured between these bounds. */
#define IAM_LOCK_THRESHOLD_MIN 3
#define IAM_LOCK_THRESHOLD_MAX 10000
/* Entries per in-memory lockout table (accounts, account+IP pairs, IPs).
 * 64 Ki entries of ~200 bytes is ~13 MB per table; when one fills, the
 * oldest idle entry in the probe window is reused. */
#define IAM_LOCK_TABLE_SIZE 65536
/* Known sources remembered per user (IPs with a recent successful login,
 * exempt from the account-wide lock). */
#define IAM_KNOWN_SOURCES_MAX 16
#define IAM_KNOWN_SOURCE_TTL_S (30 * 86400)

/* Opaque tokens: prefix + 43 base64url characters (32 random bytes). */
#define IAM_TOKEN_MAX 96
/* Sessions: idle 30 min and absolute 12 h by default; at most 30 days. */
#define IAM_SESSION_IDLE_DEFAULT_S 1800
#define IAM_SESSION_ABS_DEFAULT_S 43200
#define IAM_SESSION_ABS_MAX_S (30 * 86400)
/* last_seen is written back at most this often per session, so a busy
 * client does not turn every request into a database write. */
#define IAM_SESSION_TOUCH_S 60
/* Login challenges (MFA step, forced password change) live 5 minutes and
 * allow 5 wrong codes. */
#define IAM_CHALLENGE_TTL_S 300
#define IAM_CHALLENGE_ATTEMPTS 5

/* API keys: scopes text (space-separated) at most 512 bytes; at most 100
 * keys per user. */
#define IAM_SCOPES_MAX 512
#define IAM_APIKEYS_PER_USER 100

/* TOTP: 6..8 digits, period 15..120 s, one step of skew either way. */
#define IAM_TOTP_DIGITS_MIN 6
#define IAM_TOTP_DIGITS_MAX 8
#define IAM_TOTP_PERIOD_DEFAULT 30
#define IAM_TOTP_SKEW 1
/* otpauth:// URI bytes. */
#define IAM_OTPAUTH_MAX 512
/* Recovery codes: 10 codes of 16 base32 characters (80 bits each). */
#define IAM_RECOVERY_CODES 10
#define IAM_RECOVERY_CODE_LEN 19 /* xxxx-xxxx-xxxx-xxxx */

#endif
