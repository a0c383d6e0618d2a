/*
 * siem_seg.c — event segment files: the packed documents of a day's
 * blocks appended to one file per day (DB.events/siem_evs_YYYYMMDD.seg
 * beside the database), while the database keeps only each block's row
 * (id and time ranges, offset, length, checksum) and its bloom.
 *
 * Why: stored in SQLite, every byte of a document was copied into pages,
 * written to the WAL and copied again into the database by the
 * checkpointer — a third of the service's CPU. Here it is written once.
 *
 * Invariants:
 *  - only the store's writer thread appends or truncates (inside store
 *    jobs, siem_store.c), so a file's end needs no lock;
 *  - a block's bytes are written (and with durability full, synced)
 *    before the job inserts its row, so a committed row never names bytes
 *    that are not there; bytes of a job that failed or was rolled back lie
 *    past every committed row and are cut off when the file is next
 *    opened for writing;
 *  - readers (any thread) open the file per block, read the bytes a
 *    committed row names and check the checksum: a block whose bytes were
 *    lost (power loss with durability normal) reads as corrupt.
 */
#include "siem/siem_svc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void siem_seg_path(const struct siem_service *svc, int64_t day, char *out, size_t cap)
{
	char name[32];
	siem_seg_name(day, name);
	snprintf(out, cap, "%s.events/%s.seg", svc->db_path, name);
}

int siem_seg_init(struct siem_service *svc, struct bw_err *err)
{
	char dir[sizeof(svc->db_path) + 16];
	snprintf(dir, sizeof(dir), "%s.events", svc->db_path);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return SIEM_SVC_ERR(err, 500, "segments", "cannot create %s: %s", dir,
				    strerror(errno));
	return 0;
}

void siem_seg_fini(struct siem_service *svc)
{
	for (size_t i = 0; i < SIEM_SEG_OPEN; i++)
		if (svc->segs[i].fd >= 0) {
			close(svc->segs[i].fd);
			svc->segs[i].fd = -1;
		}
}

static int end_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

/* Makes a new file's directory entry durable (durability full). */
static int sync_dir(const struct siem_service *svc, struct bw_err *err)
{
	char dir[sizeof(svc->db_path) + 16];
	snprintf(dir, sizeof(dir), "%s.events", svc->db_path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return SIEM_SVC_ERR(err, 500, "segments", "cannot sync %s: %s", dir, strerror(e));
	}
	close(fd);
	return 0;
}

/*
 * The open file of a day, for appending (writer thread). Opening it
 * finds where the committed rows end (the job's own earlier rows
 * included) and cuts off whatever lies past: bytes of jobs that never
 * committed. The least recently used of SIEM_SEG_OPEN files is closed
 * to make room.
 */
static struct siem_seg_file *seg_open(struct siem_service *svc, struct store_tx *tx,
				      int64_t day, struct bw_err *err)
{
	struct siem_seg_file *lru = &svc->segs[0];
	for (size_t i = 0; i < SIEM_SEG_OPEN; i++) {
		struct siem_seg_file *f = &svc->segs[i];
		if (f->fd >= 0 && f->day == day) {
			f->used = ++svc->seg_tick;
			return f;
		}
		if (f->fd < 0 || (lru->fd >= 0 && f->used < lru->used))
			lru = f;
	}
	char name[32], sql[128], path[sizeof(svc->db_path) + 48];
	siem_seg_name(day, name);
	snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(seg_off + seg_len), 0) FROM %s", name);
	int64_t end = 0;
	if (store_tx_query_one(tx, sql, NULL, 0, end_row, &end, err) < 0)
		return NULL;
	siem_seg_path(svc, day, path, sizeof(path));
	struct stat sb;
	bool fresh = stat(path, &sb) < 0;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		SIEM_SVC_ERR(err, 500, "segments", "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((fresh && svc->seg_sync && sync_dir(svc, err) < 0)) {
		close(fd);
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || (sb.st_size > end && ftruncate(fd, end) < 0)) {
		SIEM_SVC_ERR(err, 500, "segments", "cannot cut %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (sb.st_size < end) {
		/* rows name bytes the file lacks (lost in a power failure
		 * with durability normal): new bytes go after them, so the
		 * lost blocks stay detectably corrupt instead of being
		 * overwritten by others */
		log_warnx("siem: %s is shorter than its rows (%lld < %lld bytes)", path,
			  (long long)sb.st_size, (long long)end);
	}
	if (lru->fd >= 0)
		close(lru->fd);
	*lru = (struct siem_seg_file){ .day = day, .fd = fd, .end = end,
				       .used = ++svc->seg_tick };
	return lru;
}

int siem_seg_append(struct siem_service *svc, struct store_tx *tx, int64_t day,
		    const uint8_t *p, size_t n, int64_t *off, struct bw_err *err)
{
	struct siem_seg_file *f = seg_open(svc, tx, day, err);
	if (!f)
		return -1;
	size_t done = 0;
	while (done < n) {
		ssize_t w = pwrite(f->fd, p + done, n - done, (off_t)(f->end + (int64_t)done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			/* what was written lies past every row: the next open
			 * cuts it off; this file is reopened for the next job */
			close(f->fd);
			f->fd = -1;
			return SIEM_SVC_ERR(err, 500, "segments", "cannot write events: %s",
					    strerror(e));
		}
		done += (size_t)w;
	}
	if (svc->seg_sync && fdatasync(f->fd) < 0) {
		int e = errno;
		close(f->fd);
		f->fd = -1;
		return SIEM_SVC_ERR(err, 500, "segments", "cannot sync events: %s", strerror(e));
	}
	*off = f->end;
	f->end += (int64_t)n;
	return 0;
}

void siem_seg_drop(struct siem_service *svc, int64_t day)
{
	for (size_t i = 0; i < SIEM_SEG_OPEN; i++)
		if (svc->segs[i].fd >= 0 && svc->segs[i].day == day) {
			close(svc->segs[i].fd);
			svc->segs[i].fd = -1;
		}
	char path[sizeof(svc->db_path) + 48];
	siem_seg_path(svc, day, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warnx("siem: cannot delete %s: %s", path, strerror(errno));
}

int siem_seg_read(const struct siem_service *svc, int64_t day, int64_t off, int64_t len,
		  int64_t sum, uint8_t **out, struct bw_err *err)
{
	*out = NULL;
	if (off < 0 || len < 0 || len > (int64_t)SIEM_SEG_BLOCK_MAX)
		return SIEM_SVC_ERR(err, 500, "corrupt", "bad segment extent");
	char path[sizeof(svc->db_path) + 48];
	siem_seg_path(svc, day, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return SIEM_SVC_ERR(err, 500, "corrupt", "cannot open the events of a day: %s",
				    strerror(errno));
	uint8_t *buf = malloc(len ? (size_t)len : 1);
	if (!buf) {
		close(fd);
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	}
	size_t done = 0;
	while (done < (size_t)len) {
		ssize_t r = pread(fd, buf + done, (size_t)len - done, (off_t)(off + (int64_t)done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	close(fd);
	if (done < (size_t)len || (int64_t)siem_seg_sum(buf, (size_t)len) != sum) {
		free(buf);
		return SIEM_SVC_ERR(err, 500, "corrupt", "stored events at %lld of a day unreadable",
				    (long long)off);
	}
	*out = buf;
	return 0;
}
