/*
 * The secret-file check: a key or secret file named in the config must be
 * a regular file that only its owner (root or the user bulwark runs as)
 * can read or write, as OpenBSD httpd's check_file_secrecy() demands.
 *
 * Invariant: the file is opened once and checked with fstat, so the
 * object checked is the object the path resolved to at that moment (a
 * symlink is followed; its target is what must be private). O_NONBLOCK
 * keeps a FIFO planted at the path from hanging the load.
 */
#include "conf/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int conf_check_secret_file(const char *path, struct bw_err *err)
{
	struct stat st;
	int rc = -1;

	if (!path || !*path)
		return bw_err_set(err, 400, "conf", "secret_file",
				  "secret file path is empty");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return bw_err_set(err, errno == ENOENT ? 404 : 400, "conf",
				  "secret_file", "%s: cannot open: %s", path,
				  strerror(errno));
	if (fstat(fd, &st) < 0) {
		bw_err_set(err, 500, "conf", "secret_file", "%s: fstat: %s",
			   path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		bw_err_set(err, 400, "conf", "secret_file",
			   "%s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		bw_err_set(err, 400, "conf", "secret_file",
			   "%s: owned by uid %u, must be owned by root or uid "
			   "%u",
			   path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	if (st.st_mode & 077) {
		bw_err_set(err, 400, "conf", "secret_file",
			   "%s: group or others can access it (mode %04o); "
			   "run chmod 600 on it",
			   path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
