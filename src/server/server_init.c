/*
 * `bulwark init`: prepares a data directory (mode 0700) with a commented
 * config file, the bootstrap admin token (shown once, kept hashed, and in a
 * 0600 file until replaced) and the first-start TLS files; as root it also
 * creates the `bulwark` system user and hands the directory to it.
 */
#include "server/server_int.h"
#include "authz/authz.h"
#include "iam/iam.h"
#include "store/store.h"
#include "keystore/keystore.h"
#include "api/api.h"
#include "net/net.h"

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
