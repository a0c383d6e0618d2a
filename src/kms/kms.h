/*
 * kms — the worker side of the keystore: a thread-safe client for the key
 * process's socket (struct kms_client), the Encryption-as-a-Service REST
 * routes under /api/v1/kms, and the `bulwark kms` / `bulwark operator`
 * command line.
 *
 * The client multiplexes many concurrent callers over one SOCK_SEQPACKET
 * socket: each request gets an id, a reader thread matches responses to
 * waiting callers by id, and a caller either blocks (pool threads) or
 * gets its completion posted to its event loop (reactor threads). The
 * number of requests in flight is bounded; past it callers are refused
 * at once ("busy"), never queued without limit.
 *
 * The adapters (kms_pki_keystore_new, kms_iam_sealer, kms_audit_signer)
 * put the CA's, identity's and audit log's keys into the key process
 * behind the small interfaces those modules already call.
 *
 * Key bytes never pass through here except where an operation's result
 * is key material by definition (a data key's plaintext, a wrapped
 * export) or decrypted data; replies are wiped when freed.
 */
#ifndef BW_KMS_H
#define BW_KMS_H

#include "core/core.h"
#include "keystore/keystore.h"
#include "loop/loop.h"

/* Requests in flight per client: enough for every worker thread and pool
 * thread to pipeline, small enough that a stuck key process is noticed
 * as "busy" long before memory is a concern. */
#define KMS_INFLIGHT_MAX 1024
/* Default per-request timeout. RSA-4096 key generation is the slowest
 * operation (a few seconds); a key process that has not answered in 30 s
 * is stuck. */
#define KMS_TIMEOUT_MS_DEFAULT 30000

/* A response from the key process. Owned by the caller: kms_reply_free
 * wipes and frees it. */
struct kms_reply {
	unsigned status;          /* the header's enum keystore_status */
	struct keystore_msg *msg; /* decoded; borrows buf */
	uint8_t *buf;
	size_t len;
};
void kms_reply_free(struct kms_reply *r); /* accepts NULL */
/* The ERROR text of an item (0: the whole reply) copied into buf (cap
 * bytes); "" when there is none. Returns buf. */
const char *kms_reply_error(const struct kms_reply *r, size_t item, char *buf,
			    size_t cap);

struct kms_client;

/*
 * Starts a client on fd (the worker's end of the keystore socketpair;
 * ownership passes to the client, which closes it). Starts the reader
 * thread. NULL with err when memory or threads are not available.
 */
struct kms_client *kms_client_new(int fd, struct bw_err *err);
/* Fails every pending request (status KEYSTORE_E_UNAVAILABLE), stops the
 * reader, closes the socket, frees. Accepts NULL. Async completions
 * already posted to loops still run; the loops must outlive this call's
 * completions, i.e. free the client before the loops. */
void kms_client_free(struct kms_client *c);
/* After the key process died and was restarted: hand the client the new
 * socket (ownership passes). The old one is closed; requests already
 * failed stay failed. */
int kms_client_attach(struct kms_client *c, int fd, struct bw_err *err) BW_WUR;
/* False once the key process has closed its end (until attach). */
bool kms_client_alive(struct kms_client *c);

/*
 * Sends the request built in req (its id is assigned here; req is only
 * read) and blocks until the reply or timeout_ms (0: the default) passes.
 * Returns 0 with OUT *reply (the caller frees it; check reply->status for
 * the key process's verdict), or -1 with err: 503 "busy" (too many in
 * flight), 503 "unavailable" (no key process), 504 "timeout", 413
 * "too_large" (req failed to encode), 500 on a socket error. For pool
 * threads and tools; never call it from an event-loop thread.
 */
int kms_call(struct kms_client *c, struct keystore_enc *req, int timeout_ms,
	     struct kms_reply **reply, struct bw_err *err) BW_WUR;

/* Completion of kms_call_async, run on the loop given: reply (owned by
 * the callee) is NULL when err says why. */
typedef void (*kms_done_fn)(struct kms_reply *reply, const struct bw_err *err,
			    void *arg);
/*
 * Sends the request and returns at once; done(reply, err, arg) runs later
 * on loop l's thread (via loop_post), exactly once, also on timeout or
 * when the key process dies. Returns -1 with err (done is then never
 * called) when the request cannot be sent at all: busy, unavailable,
 * too large.
 */
int kms_call_async(struct kms_client *c, struct keystore_enc *req,
		   struct loop *l, kms_done_fn done, void *arg,
		   struct bw_err *err) BW_WUR;

/* Counters for /metrics. */
struct kms_client_stats {
	uint64_t requests, replies, timeouts, busy, failures;
	unsigned inflight;
};
void kms_client_stats(struct kms_client *c, struct kms_client_stats *out);

/* ------------------------------------------------- typed helpers (blocking) */

/*
 * Envelope helpers for other modules (secrets at rest). All blocking;
 * tenant and key are names; aad may be NULL. Errors: err->code 503 when
 * sealed or unavailable, 404 unknown key, 409 key state or version,
 * 400 authentication failure or bad input.
 *
 * kms_encrypt: OUT *ct, a NUL-terminated "bwk1:" string (free()).
 * kms_decrypt: key may be NULL (the ciphertext names it); OUT *pt and
 *   *ptlen (the caller wipes and frees).
 */
int kms_encrypt(struct kms_client *c, const char *tenant, const char *key,
		const void *pt, size_t n, const void *aad, size_t aadlen,
		char **ct, struct bw_err *err) BW_WUR;
int kms_decrypt(struct kms_client *c, const char *tenant, const char *key,
		const char *ct, const void *aad, size_t aadlen, uint8_t **pt,
		size_t *ptlen, struct bw_err *err) BW_WUR;
/* The HTTP-like class (400/403/404/409/413/500/503) for a keystore
 * status, and the reply's status turned into err (0 when OK). */
int kms_status_http(unsigned status);
int kms_reply_check(const struct kms_reply *r, size_t item,
		    struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ adapters */

/*
 * Adapters that move other modules' keys into the keystore
 * (src/kms/kms_adapt.c, docs/internals/KEYSTORE.md "Adapters"). Every
 * callback they install blocks on kms_call: pool threads, the CLI and the
 * audit writer thread only, never an event loop. c is borrowed by each
 * adapter and must outlive it. Keys the platform creates for itself are
 * named with a leading '_' and are never exportable.
 */
struct pki_keystore;
struct iam_sealer;
struct audit_signer;

/*
 * src/pki's key backend over the keystore. generate() creates a
 * non-exportable key of the requested type (EC P-256/P-384, Ed25519, RSA
 * 2048/3072/4096) in the tenant's partition, named "_pki-ca-<32 hex>",
 * and returns the key id "kms:<name>:1". open() takes "kms:NAME:VERSION"
 * (or "kms:NAME" for the newest version), fetches that version's public
 * key (signer->pub) and returns a signer whose sign() asks the key
 * process: ECDSA (DER) and RSA PKCS#1 v1.5 over a digest computed here,
 * Ed25519 over the message itself (at most KEYSTORE_DATA_MAX bytes, else
 * 413). The key process always signs with the newest version, so once
 * the key is rotated past the pinned one, sign() fails with 409
 * "key_rotated" instead of producing a signature the CA certificate does
 * not match. open() errors: 404 (not a kms id, no such key in tenant),
 * 400 (malformed id), 403 (not a signing key), 409 (no such version).
 * Tenants must be valid keystore names (400 "bad_name" otherwise).
 * Returns a keystore freed with pki_keystore_free(), or NULL with err.
 */
struct pki_keystore *kms_pki_keystore_new(struct kms_client *c,
					  struct bw_err *err) BW_WUR;

/*
 * src/iam's sealer over the keystore: seal() is kms_encrypt under
 * (tenant, key_name) with the aad string as associated data and appends
 * the "bwk1:" text to out; open() is kms_decrypt with the same key name
 * and appends the plaintext (the caller wipes out). Tampered, foreign or
 * malformed values, or a wrong aad: 400 "bad_tag". The AES-256-GCM key is
 * created here when the keystore answers, otherwise on the first seal; a
 * key of that name with another type or not enabled fails with 409.
 * OUT: *out (its free() releases the context; iam_free calls it).
 * Returns 0 or -1 with err (400 bad names, 409, 500).
 */
int kms_iam_sealer(struct kms_client *c, const char *tenant,
		   const char *key_name, struct iam_sealer *out,
		   struct bw_err *err) BW_WUR;

/*
 * Lets a kms sealer open values sealed before the migration (anything
 * that is not "bwk1:" text goes to legacy->open, e.g. iam_sealer_local's
 * format); new values are always sealed by the keystore. Takes ownership
 * of *legacy (zeroed here; its free runs with s's). Start-up only, before
 * s is shared. Returns 0, or -1 with err (400 s is not a kms sealer, 409
 * a legacy sealer is already attached).
 */
int kms_iam_sealer_legacy(struct iam_sealer *s, struct iam_sealer *legacy,
			  struct bw_err *err) BW_WUR;

/*
 * src/audit's tree-head signer over the keystore: an Ed25519 key named
 * key_name in the "platform" partition, created when absent; out->pubkey
 * is its raw public key (newest version, pinned as above). sign() asks
 * the key process and verifies the signature before returning it.
 * Needs the keystore unsealed (503 otherwise: see kms_wait_ready).
 * OUT: *out, released with kms_audit_signer_fini after the audit log
 * that borrows it is closed. Returns 0 or -1 with err.
 */
int kms_audit_signer(struct kms_client *c, const char *key_name,
		     struct audit_signer *out, struct bw_err *err) BW_WUR;
/* Frees what kms_audit_signer allocated and zeroes s; accepts NULL, a
 * zeroed signer and leaves other signers (audit_signer_file_*) alone. */
void kms_audit_signer_fini(struct audit_signer *s);

/*
 * One-time migration of an installation whose audit log was signed with
 * a key file (audit_signer_file_init's DATA_DIR/audit-signing.key): the
 * Ed25519 key in path (PEM, mode 0600) is imported, wrapped
 * (RSA-OAEP-SHA-256 + AES key wrap with padding to the platform
 * partition's import key), as the non-exportable key platform/key_name;
 * once the keystore returns the same public key, the file is overwritten
 * with zeros, synced and removed. The existing log then verifies under
 * kms_audit_signer(c, key_name)'s pinned key. Idempotent: a key already in
 * the keystore with the same public half just removes the file. Call
 * before kms_audit_signer. Returns 1 migrated (file removed), 0 nothing
 * to do (no file), or -1 with err: 403 "key_mode" (file readable by
 * others), 400 "key_type", 409 "key_conflict" (the keystore holds a
 * different key under that name; the file is kept), 503 sealed, 500.
 */
int kms_audit_key_import_file(struct kms_client *c, const char *key_name,
			      const char *path, struct bw_err *err) BW_WUR;

/*
 * Start-up probe: asks the key process for its status until it answers
 * initialised and unsealed (auto-unseal does this by itself within
 * moments of starting), or timeout_ms passes (0: ask once). Blocking; for
 * the worker's start-up and tools. Returns 0 when key operations will
 * work, or -1 with err: 503 "sealed", "not_initialized" or "unavailable",
 * 504 "timeout" (the last probe's verdict).
 */
int kms_wait_ready(struct kms_client *c, int timeout_ms,
		   struct bw_err *err) BW_WUR;

/* ---------------------------------------------------------------- REST */

/*
 * Registers the /api/v1/kms routes with api_register(); c is borrowed and
 * must outlive the worker's loops. Call once at worker start-up, before
 * serving. Returns 0 or -1 (route table full).
 */
int kms_api_register(struct kms_client *c) BW_WUR;

/* ---------------------------------------------------------------- CLI */

/*
 * `bulwark kms ...` and `bulwark operator init|unseal|seal|status|rotate`:
 * argv[0] is "kms" or "operator". Talks to the running daemon's admin API
 * (address from DATA_DIR/ports or --url, token from DATA_DIR/bootstrap-token
 * or --token). Returns the exit status (0 ok, 1 failure, 2 usage).
 */
int kms_cli_main(int argc, char **argv);

/* ------------------------------------------------------------- PKCS#11 */

/*
 * The socket libbulwark-pkcs11.so talks to (src/kms/kms_p11.c, protocol in
 * src/p11/p11_wire.h): one thread per connection, PIN = an API key or
 * session token of the slot's tenant (or the bootstrap token for
 * "platform"), rights from the platform roles (kms.key.read / manage /
 * use), every login and key operation audited.
 */
struct conf_node;
struct iam;
struct authz_engine;
struct audit_log;

/* The kms section's `pkcs11:` map: enabled (default true), socket
 * (default RUN_DIR/pkcs11.sock), mode (octal text, default "0660"),
 * max_sessions (1..P11_CONN_MAX, default 64), audit ("each", the
 * default: one record per operation; "per_second": a session's
 * successful uses of one key for one operation are counted into one
 * record per second — failures and denials are always recorded one by
 * one). */
struct kms_p11_conf {
	bool enabled;
	char socket[108];
	unsigned mode;
	unsigned max_conns;
	bool audit_per_second;
};
/* Parses kms (the raw kms section, may be NULL) into out. 0, or -1 with
 * a positioned err for unknown keys and out-of-range values. */
int kms_p11_conf_parse(const struct conf_node *kms, const char *run_dir,
		       struct kms_p11_conf *out, struct bw_err *err) BW_WUR;

struct kms_p11_options {
	struct kms_client *kms;     /* borrowed; required */
	struct iam *iam;            /* borrowed; NULL: bootstrap token only */
	struct authz_engine *authz; /* borrowed; required */
	struct audit_log *audit;    /* borrowed; NULL: not audited (tests) */
	const uint8_t *bootstrap_hash; /* SHA-256 of the bootstrap token, or NULL */
	const _Atomic bool *bootstrap_live; /* false once it is retired; NULL: live */
	const char *path;           /* socket path (copied) */
	unsigned mode;              /* socket mode; 0: 0660 */
	unsigned max_conns;         /* 0: P11_CONN_DEFAULT */
	bool audit_per_second;      /* see struct kms_p11_conf */
};

struct kms_p11_server;
/*
 * Binds the socket (replacing a stale socket, refusing any other file),
 * sets its mode and starts the accept thread. Everything in o is borrowed
 * and must outlive kms_p11_serve_stop. Returns the server, or NULL with
 * err (400 bad path, 409 path is not a socket, 500).
 */
struct kms_p11_server *kms_p11_serve_start(const struct kms_p11_options *o,
					   struct bw_err *err) BW_WUR;
/* Stops accepting, ends every connection, joins the threads, removes the
 * socket and frees. Call before the kms client, iam, authz and audit log
 * it borrows are freed. Accepts NULL. */
void kms_p11_serve_stop(struct kms_p11_server *s);
/* Counters for /metrics (0 for NULL). */
void kms_p11_stats(struct kms_p11_server *s, uint64_t *requests,
		   uint64_t *logins_failed);

#endif
