/*
 * waf_auditlog.c — the JSON audit log file: ModSecurity v3's
 * "SecAuditLogFormat JSON" entries (waf_audit.c renders them), one per line,
 * for the transactions SecAuditEngine selects, appended to SecAuditLog.
 *
 * The data path never waits for the disk. A transaction renders its entry
 * into a per-thread buffer, then takes the log's mutex only long enough to
 * copy the line into the active queue buffer; a writer thread swaps the
 * active buffer with its own (double buffering) and write()s it with the
 * mutex released. The queue is bounded (WAF_AUDITLOG_QUEUE_*): when the
 * active buffer is full, the entry is dropped and counted — the WAF audit
 * log is telemetry, the durable record of a block is bulwark's own audit
 * log through the event bus.
 *
 * A file is opened once per process and shared by every rule-set
 * generation that names it (a registry keyed by path, reference counted):
 * a reload after the worker dropped its privileges keeps writing to the
 * descriptor opened at start instead of reopening a file it may no longer
 * be allowed to open.
 *
 * Invariants:
 *  - q.len <= cap at all times; the writer owns `spare` while writing;
 *  - every queued byte is a whole line (entry + '\n'), so a dropped entry
 *    never leaves half a line in the file;
 *  - waf_auditlog_free drains what was queued, then joins the thread.
 */
#include "waf/waf_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct alfile {
	struct alfile *next; /* registry list, under reg_mu */
	unsigned refs;       /* under reg_mu */
	int fd;
	char *path;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool stop;
	struct bw_buf q;     /* active: appended under mu */
	struct bw_buf spare; /* the writer's, written without mu */
	size_t cap;
	_Atomic uint64_t written, dropped, skipped;
	_Atomic int64_t warned_ms; /* last drop warning (monotonic ms) */
};

/* A rule set's view of its log: the shared file plus its own settings. */
struct waf_auditlog {
	struct alfile *f;
	pcre2_code *relevant; /* SecAuditLogRelevantStatus, or NULL */
	bool bodies;          /* parts C or E */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct alfile *reg;

static void write_all(struct alfile *l, const char *p, size_t n,
		      uint64_t lines)
{
	while (n) {
		ssize_t w = write(l->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* Disk full or the file went away: count the lines
			 * lost, say it once per burst. */
			log_warn("waf: audit log %s: write", l->path);
			atomic_fetch_add(&l->dropped, lines);
			return;
		}
		p += w;
		n -= (size_t)w;
	}
	atomic_fetch_add(&l->written, lines);
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t c = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		c++;
	return c;
}

static void *writer(void *arg)
{
	struct alfile *l = arg;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->stop && l->q.len == 0)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->q.len == 0 && l->stop)
			break;
		struct bw_buf t = l->q;
		l->q = l->spare;
		l->spare = t;
		pthread_mutex_unlock(&l->mu);
		write_all(l, l->spare.data, l->spare.len,
			  count_lines(l->spare.data, l->spare.len));
		bw_buf_reset(&l->spare);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void alfile_release(struct alfile *l)
{
	pthread_mutex_lock(&reg_mu);
	bool last = --l->refs == 0;
	if (last)
		for (struct alfile **pp = &reg; *pp; pp = &(*pp)->next)
			if (*pp == l) {
				*pp = l->next;
				break;
			}
	pthread_mutex_unlock(&reg_mu);
	if (!last)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	close(l->fd);
	bw_buf_fini(&l->q);
	bw_buf_fini(&l->spare);
	free(l->path);
	free(l);
}

void waf_auditlog_free(struct waf_auditlog *a)
{
	if (!a)
		return;
	if (a->f)
		alfile_release(a->f);
	pcre2_code_free(a->relevant);
	free(a);
}

/* Finds the open file for path or opens it (mode for a new file). Caller
 * holds reg_mu. Returns the file with one more reference, or NULL. */
static struct alfile *alfile_get(const char *path, unsigned mode,
				 struct bw_err *err)
{
	for (struct alfile *l = reg; l; l = l->next)
		if (strcmp(l->path, path) == 0) {
			l->refs++;
			return l;
		}
	struct alfile *l = calloc(1, sizeof(*l));
	if (!l) {
		bw_err_set(err, 500, "waf", "no_memory", "out of memory");
		return NULL;
	}
	l->cap = WAF_AUDITLOG_QUEUE_DEFAULT;
	bw_buf_init(&l->q, l->cap);
	bw_buf_init(&l->spare, l->cap);
	l->path = strdup(path);
	l->fd = -1;
	if (!l->path) {
		bw_err_set(err, 500, "waf", "no_memory", "out of memory");
		goto fail;
	}
	l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, (mode_t)mode);
	if (l->fd < 0) {
		bw_err_set(err, 500, "waf", "audit_log_open", "audit log %s: %s", path,
			   strerror(errno));
		goto fail;
	}
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		bw_err_set(err, 500, "waf", "no_memory", "out of memory");
		goto fail;
	}
	if (pthread_cond_init(&l->cv, NULL) != 0) {
		pthread_mutex_destroy(&l->mu);
		bw_err_set(err, 500, "waf", "no_memory", "out of memory");
		goto fail;
	}
	if (pthread_create(&l->thread, NULL, writer, l) != 0) {
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		bw_err_set(err, 500, "waf", "thread", "audit log writer thread");
		goto fail;
	}
	l->refs = 1;
	l->next = reg;
	reg = l;
	return l;
fail:
	if (l->fd >= 0)
		close(l->fd);
	bw_buf_fini(&l->q);
	bw_buf_fini(&l->spare);
	free(l->path);
	free(l);
	return NULL;
}

int waf_ruleset_audit_log_open(struct waf_ruleset *rs, const char *path_override,
			       struct bw_err *err)
{
	const struct waf_settings *s = &rs->settings;
	const char *path = path_override ? path_override : s->audit_log;
	if (s->audit_engine == WAF_AUDIT_OFF || !path || !path[0])
		return 0;
	if (rs->auditlog) {
		bw_err_set(err, 409, "waf", "conflict", "audit log already open");
		return -1;
	}
	if (s->audit_log_format && strcasecmp(s->audit_log_format, "json") != 0)
		log_warnx("waf: SecAuditLogFormat %s: bulwark writes JSON only",
			  s->audit_log_format);
	if (s->audit_log_type && strcasecmp(s->audit_log_type, "serial") != 0)
		log_warnx("waf: SecAuditLogType %s: bulwark writes one serial "
			  "file", s->audit_log_type);
	struct waf_auditlog *a = calloc(1, sizeof(*a));
	if (!a)
		return bw_err_set(err, 500, "waf", "no_memory", "out of memory");
	const char *parts = s->audit_log_parts;
	a->bodies = parts && (strchr(parts, 'C') || strchr(parts, 'E'));
	if (s->audit_log_relevant_status && s->audit_log_relevant_status[0]) {
		int ec;
		PCRE2_SIZE eo;
		a->relevant = pcre2_compile((PCRE2_SPTR)s->audit_log_relevant_status,
					    PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
		if (!a->relevant) {
			free(a);
			return bw_err_set(err, 400, "waf", "bad_regex",
					  "SecAuditLogRelevantStatus: bad regex");
		}
	}
	pthread_mutex_lock(&reg_mu);
	a->f = alfile_get(path, s->audit_log_file_mode ? s->audit_log_file_mode : 0600,
			  err);
	pthread_mutex_unlock(&reg_mu);
	if (!a->f) {
		waf_auditlog_free(a);
		return -1;
	}
	rs->auditlog = a;
	return 1;
}

void waf_audit_stats_total(struct waf_audit_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&reg_mu);
	for (const struct alfile *l = reg; l; l = l->next) {
		out->written += atomic_load(&l->written);
		out->dropped += atomic_load(&l->dropped);
		out->skipped += atomic_load(&l->skipped);
	}
	pthread_mutex_unlock(&reg_mu);
}

void waf_ruleset_audit_stats(const struct waf_ruleset *rs,
			     struct waf_audit_stats *out)
{
	memset(out, 0, sizeof(*out));
	const struct alfile *l = rs && rs->auditlog ? rs->auditlog->f : NULL;
	if (!l)
		return;
	out->written = atomic_load(&l->written);
	out->dropped = atomic_load(&l->dropped);
	out->skipped = atomic_load(&l->skipped);
}

/* RelevantOnly as v3 reads it: a rule that logs matched, or the status
 * matches SecAuditLogRelevantStatus. A disruption always is. */
static bool relevant(const struct waf_auditlog *a, const struct waf_tx *tx)
{
	if (tx->disrupted)
		return true;
	for (size_t i = 0; i < tx->nmatches; i++)
		if (tx->matches[i].pub.logged)
			return true;
	if (!a->relevant)
		return false;
	int code = tx->status;
	char st[16];
	int n = bw_snprintf(st, sizeof(st), "%d", code);
	if (n < 0)
		return false;
	pcre2_match_data *md = waf_match_data();
	return md && pcre2_match(a->relevant, (PCRE2_SPTR)st, (size_t)n, 0, 0, md,
				 NULL) >= 0;
}

int waf_tx_audit_log(struct waf_tx *tx)
{
	struct waf_auditlog *a = tx->rs->auditlog;
	if (!a || tx->audit_engine == WAF_AUDIT_OFF)
		return 0;
	struct alfile *l = a->f;
	if (tx->audit_engine == WAF_AUDIT_RELEVANT_ONLY && !relevant(a, tx)) {
		atomic_fetch_add_explicit(&l->skipped, 1, memory_order_relaxed);
		return 0;
	}
	/* Rendered outside the lock; only relevant transactions get here,
	 * so one allocation per entry is cheap. */
	struct bw_buf e;
	bw_buf_init(&e, WAF_AUDITLOG_ENTRY_MAX);
	int rc = 1;
	if (waf_tx_audit_json(tx, &e, a->bodies) < 0 ||
	    bw_buf_append_byte(&e, '\n') < 0) {
		rc = -1;
		goto out;
	}
	pthread_mutex_lock(&l->mu);
	if (l->q.len + e.len > l->cap || bw_buf_append(&l->q, e.data, e.len) < 0)
		rc = -1;
	else
		pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
out:
	if (rc < 0) {
		uint64_t n = atomic_fetch_add(&l->dropped, 1) + 1;
		/* said once a minute at most: a flood must not flood the log */
		int64_t now = bw_clock_mono_ms(), last = atomic_load(&l->warned_ms);
		if ((last == 0 || now - last >= 60000) &&
		    atomic_compare_exchange_strong(&l->warned_ms, &last, now))
			log_warnx("waf: audit log %s: queue full or entry too large, "
				  "%llu entries dropped so far", l->path,
				  (unsigned long long)n);
	}
	bw_buf_fini(&e);
	return rc;
}
