/*
 * `bulwark init`: prepares a data directory (mode 0700) with a commented
 * config file, the bootstrap admin token (shown once, kept hashed, and in a
 * 0600 file until a platform administrator sets a password of their own,
 * when the worker retires it), the first platform administrator with a
 * one-time password, and the first-start TLS files; as root it also
 * creates the `bulwark` system user and hands the directory to it.
 * `bulwark iam recover-admin` restores administrator access offline.
 */
#include "server/server_int.h"
#include "authz/authz.h"
#include "iam/iam.h"
#include "store/store.h"
#include "keystore/keystore.h"
#include "api/api.h"
#include "net/net.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int server_seal_key(const char *data_dir, uint8_t key[32], struct bw_err *err)
{
	char path[PATH_MAX];
	if (bw_snprintf(path, sizeof(path), "%s/iam-seal.key", data_dir) < 0)
		return bw_err_set(err, 400, "server", "path", "path too long");
	size_t len;
	char *data = bw_file_read(path, 64, &len, err);
	if (data) {
		int rc = 0;
		if (len != 32)
			rc = bw_err_set(err, 400, "server", "bad_key",
					"%s: not a 32-byte key", path);
		else
			memcpy(key, data, 32);
		bw_wipe(data, len);
		free(data);
		return rc;
	}
	if (err->code != 404)
		return -1;
	bw_random(key, 32);
	return bw_file_write_atomic(path, key, 32, 0600, err);
}

/* Creates the first platform administrator (once): a user "admin" with a
 * one-time password that must be changed at first login, holding the
 * platform-admin role. The password is shown once and kept in a 0600 file
 * until it is changed. */
static int bootstrap_admin(const char *data_dir, struct bw_err *err)
{
	char path[PATH_MAX];
	bw_snprintf(path, sizeof(path), "%s/state.db", data_dir);
	struct store_options so = { .driver = "sqlite", .path = path };
	struct store *st = store_open(&so, err);
	if (!st)
		return -1;
	int rc = -1;
	struct iam *iam = NULL;
	struct authz_engine *az = NULL;
	struct iam_options io = { .store = st };
	/* Creating the administrator seals nothing (a password is hashed, not
	 * sealed); identity secrets are sealed by the keystore at run time. */
	uint8_t key[32];
	bw_random(key, sizeof(key));
	if (iam_sealer_local(&io.sealer, key, err) < 0)
		goto out;
	if (!(iam = iam_new(&io, err)))
		goto out;
	char pw[IAM_BOOTSTRAP_PW_LEN + 1];
	struct iam_user u;
	if (iam_bootstrap_admin(iam, "admin", pw, &u, err) < 0) {
		if (err->code == 409) {
			printf("  platform admin exists  admin\n");
			rc = 0;
		}
		goto out;
	}
	struct authz_options ao = { .store = st };
	char subject[128];
	bw_snprintf(subject, sizeof(subject), "user:%s", u.id);
	if (!(az = authz_engine_new(&ao, err)) ||
	    authz_platform_init(az, "platform", err) < 0 ||
	    authz_platform_assign(az, "platform", subject, "platform-admin", true, err) < 0) {
		bw_wipe(pw, sizeof(pw));
		goto out;
	}
	char line[64];
	int n = bw_snprintf(line, sizeof(line), "%s\n", pw);
	bw_snprintf(path, sizeof(path), "%s/admin-password", data_dir);
	rc = n < 0 ? -1 : bw_file_write_atomic(path, line, (size_t)n, 0600, err);
	if (rc == 0)
		printf("  platform admin        admin / %s\n"
		       "                        (one-time password, shown once; also in %s\n"
		       "                        until changed at first login)\n",
		       pw, path);
	bw_wipe(line, sizeof(line));
	bw_wipe(pw, sizeof(pw));
out:
	bw_wipe(key, sizeof(key));
	authz_engine_free(az);
	iam_free(iam);
	store_close(st);
	return rc;
}

/* Owner of the data directory (the worker's user when run as root): the
 * files recovery writes must stay readable by the daemon. */
static void chown_like_dir(const char *dir, const char *name)
{
	struct stat st;
	char p[PATH_MAX];
	if (geteuid() != 0 || stat(dir, &st) < 0 ||
	    bw_snprintf(p, sizeof(p), "%s/%s", dir, name) < 0)
		return;
	if (chown(p, st.st_uid, st.st_gid) < 0 && errno != ENOENT)
		fprintf(stderr, "bulwark: chown %s: %s\n", p, strerror(errno));
}

/*
 * `bulwark iam recover-admin`: the way back when no platform
 * administrator can sign in (password lost, second factor lost, account
 * disabled, bootstrap token retired). Works on the data directory
 * directly, with the daemon running or not: the user (default "admin",
 * created if missing) gets a new one-time password that must be changed
 * at the next sign-in (in DATA/admin-password, 0600), is enabled, loses
 * its sessions (and its TOTP with reset_mfa), and holds platform-admin.
 * With new_token a new bootstrap token is written too; the daemon reads
 * it at its next start and retires it again at the next administrator
 * password change. Whoever runs this can read the data directory, so it
 * grants nothing they could not take anyway.
 */
static int recover_admin(const char *data_dir, const char *name, bool reset_mfa,
			 bool new_token)
{
	char path[PATH_MAX];
	struct bw_err err;
	bw_snprintf(path, sizeof(path), "%s/state.db", data_dir);
	if (access(path, F_OK) != 0) {
		fprintf(stderr, "bulwark: %s: no state database (run bulwark init)\n",
			path);
		return 1;
	}
	struct store_options so = { .driver = "sqlite", .path = path };
	struct store *st = store_open(&so, &err);
	if (!st) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return 1;
	}
	int rc = 1;
	struct iam *iam = NULL;
	struct authz_engine *az = NULL;
	struct iam_options io = { .store = st };
	/* Nothing is sealed or opened here (a password is hashed; disabling
	 * TOTP deletes the sealed seed without opening it). */
	uint8_t key[32];
	char pw[IAM_BOOTSTRAP_PW_LEN + 1] = "";
	bw_random(key, sizeof(key));
	if (iam_sealer_local(&io.sealer, key, &err) < 0 || !(iam = iam_new(&io, &err)))
		goto out;
	struct iam_user u;
	bool created = false;
	if (iam_user_find(iam, IAM_PLATFORM_TENANT, name, &u, &err) < 0) {
		if (err.code != 404 || iam_bootstrap_admin(iam, name, pw, &u, &err) < 0)
			goto out;
		created = true;
	} else {
		uint8_t rnd[IAM_BOOTSTRAP_PW_LEN * 3 / 4];
		bw_random(rnd, sizeof(rnd));
		crypto_b64url_encode_to(rnd, sizeof(rnd), pw);
		pw[IAM_BOOTSTRAP_PW_LEN] = 0;
		bw_wipe(rnd, sizeof(rnd));
		if (iam_user_set_disabled(iam, IAM_PLATFORM_TENANT, u.id, false, &err) < 0 ||
		    iam_password_reset(iam, IAM_PLATFORM_TENANT, u.id, pw,
				       IAM_BOOTSTRAP_PW_LEN, &err) < 0)
			goto out;
		if (reset_mfa && iam_totp_disable(iam, IAM_PLATFORM_TENANT, u.id, &err) < 0 &&
		    err.code != 404)
			goto out;
	}
	struct authz_options ao = { .store = st };
	char subject[128];
	bw_snprintf(subject, sizeof(subject), "user:%s", u.id);
	if (!(az = authz_engine_new(&ao, &err)) ||
	    authz_platform_init(az, "platform", &err) < 0 ||
	    authz_platform_assign(az, "platform", subject, "platform-admin", true, &err) < 0)
		goto out;
	char line[64];
	int n = bw_snprintf(line, sizeof(line), "%s\n", pw);
	bw_snprintf(path, sizeof(path), "%s/admin-password", data_dir);
	if (n < 0 || bw_file_write_atomic(path, line, (size_t)n, 0600, &err) < 0) {
		bw_wipe(line, sizeof(line));
		goto out;
	}
	bw_wipe(line, sizeof(line));
	chown_like_dir(data_dir, "admin-password");
	printf("platform administrator %s %s\n"
	       "  one-time password     %s\n"
	       "                        (also in %s until changed at the next sign-in;\n"
	       "                        sessions revoked%s)\n",
	       name, created ? "created" : "recovered", pw, path,
	       reset_mfa ? ", TOTP removed" : "");
	if (new_token) {
		char token[64];
		if (api_create_token(data_dir, token, &err) < 0)
			goto out;
		chown_like_dir(data_dir, "bootstrap-token");
		chown_like_dir(data_dir, "bootstrap-token.sha256");
		printf("  bootstrap token       %s\n"
		       "                        (valid from the next start of the daemon until\n"
		       "                        an administrator sets a password again)\n",
		       token);
		bw_wipe(token, sizeof(token));
	}
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "bulwark: recover-admin: %s\n", err.msg);
	bw_wipe(pw, sizeof(pw));
	bw_wipe(key, sizeof(key));
	authz_engine_free(az);
	iam_free(iam);
	store_close(st);
	return rc;
}

int server_recover_admin_main(int argc, char **argv)
{
	const char *dir = NULL, *cfg = NULL, *user = "admin";
	bool reset_mfa = false, token = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
			 i + 1 < argc)
			cfg = argv[++i];
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--reset-mfa") == 0)
			reset_mfa = true;
		else if (strcmp(argv[i], "--bootstrap-token") == 0)
			token = true;
		else {
			fprintf(stderr,
				"usage: bulwark iam recover-admin (--dir DATA | -c CONFIG)"
				" [--user NAME] [--reset-mfa] [--bootstrap-token]\n");
			return 2;
		}
	}
	log_init("recover", BW_LOG_WARN, 2);
	if (dir)
		return recover_admin(dir, user, reset_mfa, token);
	struct bw_err err;
	struct bw_arena *a = bw_arena_new(16384, 16 << 20);
	struct server_conf c;
	if (!a || server_conf_load(cfg ? cfg : "/etc/bulwark/bulwark.yaml", a, &c, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", a ? err.msg : "out of memory");
		bw_arena_free(a);
		return 1;
	}
	int rc = recover_admin(c.server.data_dir, user, reset_mfa, token);
	bw_arena_free(a);
	return rc;
}

static int ensure_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		pid_t pid = fork();
		if (pid == 0) {
			execl("/usr/sbin/useradd", "useradd", "--system", "--user-group",
			      "--no-create-home", "--home-dir", "/nonexistent",
			      "--shell", "/usr/sbin/nologin", "--comment",
			      "bulwark daemon", user, (char *)NULL);
			_exit(127);
		}
		int st;
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bulwark: cannot create system user '%s' "
				"with useradd\n", user);
			return -1;
		}
		pw = getpwnam(user);
		if (!pw)
			return -1;
		printf("  created system user '%s' (uid %u)\n", user,
		       (unsigned)pw->pw_uid);
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static void chown_quiet(const char *dir, const char *name, uid_t u, gid_t g)
{
	char p[PATH_MAX];
	if (bw_snprintf(p, sizeof(p), "%s%s%s", dir, name[0] ? "/" : "", name) >= 0 &&
	    chown(p, u, g) < 0 && errno != ENOENT)
		fprintf(stderr, "bulwark: chown %s: %s\n", p, strerror(errno));
}

int server_init(const char *dir_arg, bool force)
{
	struct bw_err err;
	log_init("init", BW_LOG_WARN, 2);
	if (mkdir(dir_arg, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "bulwark: %s: %s\n", dir_arg, strerror(errno));
		return 1;
	}
	char dir[PATH_MAX];
	if (!realpath(dir_arg, dir) || chmod(dir, 0700) < 0) {
		fprintf(stderr, "bulwark: %s: %s\n", dir_arg, strerror(errno));
		return 1;
	}
	printf("bulwark init: %s\n", dir);

	char conf[PATH_MAX + 32];
	bw_snprintf(conf, sizeof(conf), "%s/waf-base.conf", dir);
	if ((force || access(conf, F_OK) != 0) &&
	    bw_file_write_atomic(conf, server_waf_base_conf, strlen(server_waf_base_conf),
				 0644, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return 1;
	}
	bw_snprintf(conf, sizeof(conf), "%s/bulwark.yaml", dir);
	if (force || access(conf, F_OK) != 0) {
		char *text = server_conf_default_text(dir);
		if (!text || bw_file_write_atomic(conf, text, strlen(text), 0600, &err) < 0) {
			fprintf(stderr, "bulwark: %s\n", text ? err.msg : "out of memory");
			free(text);
			return 1;
		}
		free(text);
		printf("  wrote config          %s\n", conf);
	} else {
		printf("  config exists         %s\n", conf);
	}

	struct bw_arena *a = bw_arena_new(16384, 16 << 20);
	struct server_conf c;
	if (server_conf_load(conf, a, &c, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		bw_arena_free(a);
		return 1;
	}

	char hash[PATH_MAX + 32];
	bw_snprintf(hash, sizeof(hash), "%s/bootstrap-token.sha256", c.server.data_dir);
	if (mkdir(c.server.data_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "bulwark: %s: %s\n", c.server.data_dir, strerror(errno));
		bw_arena_free(a);
		return 1;
	}
	if (force || access(hash, F_OK) != 0) {
		char token[64];
		if (api_create_token(c.server.data_dir, token, &err) < 0) {
			fprintf(stderr, "bulwark: %s\n", err.msg);
			bw_arena_free(a);
			return 1;
		}
		printf("  bootstrap admin token %s\n"
		       "                        (shown once; also in %s/bootstrap-token, mode 0600)\n",
		       token, c.server.data_dir);
		bw_wipe(token, sizeof(token));
	} else {
		printf("  admin token exists    %s/bootstrap-token\n", c.server.data_dir);
	}
	if (c.tls.certificates.n == 0) {
		if (net_selfca_ensure(c.server.data_dir, NULL, &err) < 0) {
			fprintf(stderr, "bulwark: %s\n", err.msg);
			bw_arena_free(a);
			return 1;
		}
		printf("  local CA certificate  %s/tls/ca.crt\n", c.server.data_dir);
	}
	if (keystore_init_auto(c.server.data_dir, &err) < 0) {
		fprintf(stderr, "bulwark: keystore: %s\n", err.msg);
		bw_arena_free(a);
		return 1;
	}
	printf("  keystore              %s/keystore (auto-unseal: development only;\n"
	       "                        production: bulwark operator init --shares 5 --threshold 3)\n",
	       c.server.data_dir);
	if (bootstrap_admin(c.server.data_dir, &err) < 0) {
		fprintf(stderr, "bulwark: platform admin: %s\n", err.msg);
		bw_arena_free(a);
		return 1;
	}
	if (geteuid() == 0) {
		uid_t u;
		gid_t g;
		if (ensure_user(c.server.user, &u, &g) < 0) {
			bw_arena_free(a);
			return 1;
		}
		/* The data directory belongs to the worker's user; TLS keys
		 * and the config stay root's (the supervisor reads them). */
		const char *names[] = { "", "bootstrap-token.sha256", "state.db",
					"state.db-wal", "state.db-shm", "iam-seal.key" };
		for (size_t i = 0; i < BW_ARRAY_LEN(names); i++)
			chown_quiet(c.server.data_dir, names[i], u, g);
		/* The config stays root's: the supervisor reads it, the worker
		 * gets its text over the control channel. */
		if (chown(conf, 0, 0) < 0)
			fprintf(stderr, "bulwark: chown %s: %s\n", conf, strerror(errno));
	}
	printf("start it with:          bulwark serve -c %s\n", conf);
	bw_arena_free(a);
	return 0;
}
