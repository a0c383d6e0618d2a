/*
 * The bulwark command line: one binary for the daemon (serve), setup
 * (init), config checking and offline audit-log tools. Exit status: 0 ok,
 * 1 failure (with a message on stderr), 2 usage error.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "authz/authz.h"
#include "gateway/gateway.h"
#include "kms/kms.h"
#include "iam/iam.h"
#include "pki/pki.h"
#include "core/core.h"
#include "server/server.h"

#define DEFAULT_CONFIG "var/bulwark.yaml"

static int usage(void)
{
	fprintf(stderr,
		"usage: bulwark <command> [args]\n"
		"\n"
		"  init [--dir DIR] [--force]     create data dir, config and admin token\n"
		"                                 (default DIR: ./var)\n"
		"  serve [-c FILE]                run the daemon in the foreground\n"
		"                                 (default FILE: " DEFAULT_CONFIG ")\n"
		"  config check FILE              validate a config file\n"
		"  audit verify FILE [--pubkey HEX] [--require-signed]\n"
		"                                 verify an audit log offline\n"
		"  audit proof inclusion FILE SEQ [SIZE]\n"
		"  audit proof consistency FILE M N\n"
		"                                 RFC 6962 proofs, JSON on stdout\n"
		"  audit export FILE              print the records as JSON lines\n"
		"  iam ...                        tenants, users, groups, OIDC clients,\n"
		"                                 federation; recover-admin (bulwark iam help)\n"
		"  authz ...                      authorization models, tuples, checks\n"
		"  kms ...                        keys, encrypt/decrypt, sign (bulwark kms help)\n"
		"  operator init|unseal|seal ...  seal and unseal the keystore\n"
		"                                 (bulwark authz help)\n"
		"  pki ...                        certificates: CAs, issue, revoke, list\n"
		"                                 (bulwark pki help)\n"
		"  version\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	return bw_str_to_u64(bw_str_make(s, strlen(s)), out);
}

static int cmd_config_check(int argc, char **argv)
{
	if (argc != 1)
		return usage();
	struct bw_err err;
	struct bw_arena *a = bw_arena_new(16384, 16 << 20);
	struct server_conf c;
	log_init("config", BW_LOG_WARN, 2);
	struct gateway_conf gw;
	static struct pki_conf pc;
	static struct iam_pages_conf ipc; /* iam.pages, iam.otp */
	if (server_conf_load(argv[0], a, &c, &err) < 0 ||
	    gateway_conf_bind(c.modules.gateway, a, &gw, &err) < 0 ||
	    pki_conf_bind(c.modules.pki, a, &pc, &err) < 0 ||
	    iam_pages_conf_bind(c.modules.iam, &ipc, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		bw_arena_free(a);
		return 1;
	}
	iam_pages_conf_fini(&ipc);
	printf("%s: configuration OK (%zu listeners)\n", argv[0], c.listeners.n);
	bw_arena_free(a);
	return 0;
}

static void print_hash(const char *key, const uint8_t h[AUDIT_HASH_LEN], bool comma)
{
	char hex[2 * AUDIT_HASH_LEN + 1];
	bw_hex_encode(h, AUDIT_HASH_LEN, hex);
	printf("\"%s\":\"%s\"%s", key, hex, comma ? "," : "");
}

static int verify(const char *path, const uint8_t *pubkey, bool require_signed,
		  struct audit_tree *tree, struct audit_verify_result *res)
{
	struct audit_verify_opts o = { .pubkey = pubkey,
				       .require_signed_tail = require_signed,
				       .tree = tree };
	struct bw_err err;
	int rc = audit_verify_file(path, &o, res, &err);
	if (rc < 0 && res->fault == AUDIT_FAULT_NONE) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return -1;
	}
	return rc;
}

static int cmd_audit_verify(int argc, char **argv)
{
	const char *path = NULL;
	uint8_t key[AUDIT_PUBKEY_LEN];
	bool have_key = false, require_signed = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc) {
			size_t n;
			const char *hex = argv[++i];
			if (bw_hex_decode(hex, strlen(hex), key, sizeof(key), &n) < 0 ||
			    n != sizeof(key)) {
				fprintf(stderr, "bulwark: --pubkey wants 64 hex digits\n");
				return 2;
			}
			have_key = true;
		} else if (strcmp(argv[i], "--require-signed") == 0) {
			require_signed = true;
		} else if (!path) {
			path = argv[i];
		} else {
			return usage();
		}
	}
	if (!path)
		return usage();
	struct audit_verify_result res;
	int rc = verify(path, have_key ? key : NULL, require_signed, NULL, &res);
	if (rc < 0 && res.fault == AUDIT_FAULT_NONE)
		return 1;
	char root[2 * AUDIT_HASH_LEN + 1], pk[2 * AUDIT_PUBKEY_LEN + 1];
	bw_hex_encode(res.root, sizeof(res.root), root);
	bw_hex_encode(res.pubkey, sizeof(res.pubkey), pk);
	if (rc == 0) {
		printf("%s: OK — %llu records, %llu signed tree heads, root %s\n",
		       path, (unsigned long long)res.records,
		       (unsigned long long)res.sths, root);
		if (res.sths)
			printf("signing key %s%s\n", pk,
			       res.key_pinned ? " (as given)" :
						" (compare it with the one you trust)");
		if (res.records > res.last_sth_size)
			printf("note: %llu records after the last signed tree head\n",
			       (unsigned long long)(res.records - res.last_sth_size));
		return 0;
	}
	fprintf(stderr, "%s: FAILED at line %llu (seq %llu): %s: %s\n", path,
		(unsigned long long)res.line, (unsigned long long)res.seq,
		audit_fault_name(res.fault), res.what);
	fprintf(stderr, "%llu records before it verified intact\n",
		(unsigned long long)res.records);
	return 1;
}

static int cmd_audit_proof(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *kind = argv[0], *path = argv[1];
	struct audit_tree *tree = audit_tree_new();
	struct audit_verify_result res;
	struct bw_err err;
	int rc = 1;
	if (!tree || verify(path, NULL, false, tree, &res) != 0) {
		fprintf(stderr, "bulwark: %s does not verify; no proof given\n", path);
		goto out;
	}
	uint8_t path_h[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
	size_t n = 0;
	uint64_t size = audit_tree_size(tree);
	if (strcmp(kind, "inclusion") == 0 && (argc == 3 || argc == 4)) {
		uint64_t seq, at = size;
		if (parse_u64(argv[2], &seq) < 0 || (argc == 4 && parse_u64(argv[3], &at) < 0)) {
			rc = usage();
			goto out;
		}
		uint8_t root[AUDIT_HASH_LEN];
		if (audit_tree_inclusion_proof(tree, seq, at, path_h, AUDIT_PROOF_MAX, &n,
					       &err) < 0 ||
		    audit_tree_root(tree, at, root, &err) < 0) {
			fprintf(stderr, "bulwark: %s\n", err.msg);
			goto out;
		}
		printf("{\"type\":\"inclusion\",\"seq\":%llu,\"tree_size\":%llu,",
		       (unsigned long long)seq, (unsigned long long)at);
		print_hash("root_hash", root, true);
	} else if (strcmp(kind, "consistency") == 0 && argc == 4) {
		uint64_t m, nn;
		if (parse_u64(argv[2], &m) < 0 || parse_u64(argv[3], &nn) < 0) {
			rc = usage();
			goto out;
		}
		uint8_t rm[AUDIT_HASH_LEN], rn[AUDIT_HASH_LEN];
		if (audit_tree_consistency_proof(tree, m, nn, path_h, AUDIT_PROOF_MAX, &n,
						 &err) < 0 ||
		    audit_tree_root(tree, m, rm, &err) < 0 ||
		    audit_tree_root(tree, nn, rn, &err) < 0) {
			fprintf(stderr, "bulwark: %s\n", err.msg);
			goto out;
		}
		printf("{\"type\":\"consistency\",\"first\":%llu,\"second\":%llu,",
		       (unsigned long long)m, (unsigned long long)nn);
		print_hash("first_root", rm, true);
		print_hash("second_root", rn, true);
	} else {
		rc = usage();
		goto out;
	}
	printf("\"proof\":[");
	for (size_t i = 0; i < n; i++) {
		char hex[2 * AUDIT_HASH_LEN + 1];
		bw_hex_encode(path_h[i], AUDIT_HASH_LEN, hex);
		printf("%s\"%s\"", i ? "," : "", hex);
	}
	printf("]}\n");
	rc = 0;
out:
	audit_tree_free(tree);
	return rc;
}

static int cmd_audit_export(int argc, char **argv)
{
	if (argc != 1)
		return usage();
	/* The log is JSON lines already; export verifies it first and prints
	 * only the verified prefix, records only (no tree heads). */
	struct audit_verify_result res;
	int rc = verify(argv[0], NULL, false, NULL, &res);
	if (rc < 0 && res.fault == AUDIT_FAULT_NONE)
		return 1;
	struct bw_err err;
	size_t len;
	char *data = bw_file_read(argv[0], (size_t)1 << 34, &len, &err);
	if (!data) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return 1;
	}
	size_t end = res.valid_bytes < len ? res.valid_bytes : len;
	for (size_t i = 0; i < end;) {
		char *nl = memchr(data + i, '\n', end - i);
		size_t ll = nl ? (size_t)(nl - (data + i)) + 1 : end - i;
		if (!memmem(data + i, ll, "\"type\":\"sth\"", 12))
			fwrite(data + i, 1, ll, stdout);
		i += ll;
	}
	free(data);
	if (rc < 0) {
		fprintf(stderr, "bulwark: stopped at line %llu: %s\n",
			(unsigned long long)res.line, res.what);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* Everything bulwark creates is its own: owner-only by default. */
	umask(077);
	/* A fixed mmap threshold: glibc otherwise raises it each time a large
	 * block is freed, after which the next large tables (the gateway's
	 * rate-limit and DDoS tables) come from the heap and are zeroed page
	 * by page, ~10 MB resident at idle; mmapped, they stay untouched zero
	 * pages until used, and return to the system when freed. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("bulwark %s\n", BULWARK_VERSION);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0) {
		const char *cfg = DEFAULT_CONFIG;
		for (int i = 2; i < argc; i++) {
			if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
			    i + 1 < argc)
				cfg = argv[++i];
			else
				return usage();
		}
		return server_serve(cfg);
	}
	if (strcmp(cmd, "init") == 0) {
		const char *dir = "var";
		bool force = false;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
				dir = argv[++i];
			else if (strcmp(argv[i], "--force") == 0)
				force = true;
			else
				return usage();
		}
		return server_init(dir, force);
	}
	if (strcmp(cmd, "iam") == 0 && argc >= 3 && strcmp(argv[2], "recover-admin") == 0)
		return server_recover_admin_main(argc - 2, argv + 2);
	if (strcmp(cmd, "iam") == 0)
		return iam_cli_main(argc - 1, argv + 1);
	if (strcmp(cmd, "authz") == 0)
		return authz_cli_main(argc - 1, argv + 1);
	if (strcmp(cmd, "kms") == 0 || strcmp(cmd, "operator") == 0)
		return kms_cli_main(argc - 1, argv + 1);
	if (strcmp(cmd, "pki") == 0)
		return pki_cli_main(argc - 1, argv + 1);
	if (strcmp(cmd, "config") == 0 && argc >= 3 && strcmp(argv[2], "check") == 0)
		return cmd_config_check(argc - 3, argv + 3);
	if (strcmp(cmd, "audit") == 0 && argc >= 3) {
		if (strcmp(argv[2], "verify") == 0)
			return cmd_audit_verify(argc - 3, argv + 3);
		if (strcmp(argv[2], "proof") == 0)
			return cmd_audit_proof(argc - 3, argv + 3);
		if (strcmp(argv[2], "export") == 0)
			return cmd_audit_export(argc - 3, argv + 3);
	}
	return usage();
}
