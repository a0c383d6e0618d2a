/*
 * Hardening of the key process: no core files and not dumpable (so no
 * ptrace or /proc/PID/mem by the same user), no new privileges, and a
 * seccomp filter that kills the process on any system call the key
 * process does not need once it has initialised.
 *
 * The allow list is the whole story of what the key process can do after
 * start-up: talk over the socket it already has, read and atomically
 * rewrite files in its own directory (key files, the seal file), get
 * memory and randomness, read clocks, log to stderr and exit. It has no
 * socket(), connect(), execve(), fork/clone, ptrace or mount, and cannot
 * map or mprotect memory executable. Sanitizer builds add the calls their
 * runtime needs, listed in one place below (sanitizer_extra) and only
 * compiled in with BW_SANITIZER_BUILD.
 */
#include "keystore/keystore_int.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define M "keystore"

int ks_harden_process(struct bw_err *err)
{
	struct rlimit none = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return bw_err_set(err, 500, M, "rlimit_core", "RLIMIT_CORE: %s",
				  strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return bw_err_set(err, 500, M, "dumpable", "PR_SET_DUMPABLE: %s",
				  strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return bw_err_set(err, 500, M, "no_new_privs",
				  "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	/* The secure heap must be lockable: raise the soft limit to the hard
	 * one (allowed without privilege). */
	struct rlimit ml;
	if (getrlimit(RLIMIT_MEMLOCK, &ml) == 0 && ml.rlim_cur < ml.rlim_max) {
		ml.rlim_cur = ml.rlim_max;
		(void)setrlimit(RLIMIT_MEMLOCK, &ml);
	}
	return 0;
}

/* What the key process needs after initialisation. */
static const int allowed[] = {
	/* the socket it was given, and stderr */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(poll),
	SCMP_SYS(ppoll), SCMP_SYS(close),
	/* its files: read key/seal files, atomic rewrite, directory scan */
	SCMP_SYS(openat), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
	SCMP_SYS(lseek), SCMP_SYS(getdents64), SCMP_SYS(rename),
	SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(unlink),
	SCMP_SYS(unlinkat), SCMP_SYS(fchmod), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(fcntl),
	/* memory (mmap and mprotect are added below without PROT_EXEC) */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* OpenSSL's locks, randomness, clocks */
	SCMP_SYS(futex), SCMP_SYS(getrandom), SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	/* leaving */
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
};

#ifdef BW_SANITIZER_BUILD
/* AddressSanitizer / UndefinedBehaviorSanitizer runtime: reports, stack
 * unwinding through /proc/self/maps, the allocator's bookkeeping, and
 * LeakSanitizer's stop-the-world at exit. Never in production builds. */
static const int sanitizer_extra[] = {
	SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(tgkill),
	SCMP_SYS(sched_yield), SCMP_SYS(prctl), SCMP_SYS(mincore),
	SCMP_SYS(pipe2), SCMP_SYS(clone), SCMP_SYS(wait4), SCMP_SYS(ptrace),
	SCMP_SYS(uname), SCMP_SYS(sched_getaffinity), SCMP_SYS(prlimit64),
	SCMP_SYS(getrlimit), SCMP_SYS(ioctl), SCMP_SYS(getppid),
	SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(dup2),
	SCMP_SYS(dup3), SCMP_SYS(execve), SCMP_SYS(kill),
};
#endif

static int add_all(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* A call unknown to this kernel/architecture resolves
		 * negative: nothing to allow. */
		if (calls[i] < 0)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0) < 0)
			return -1;
	}
	return 0;
}

int ks_harden_seccomp(struct bw_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = -1;
	if (!ctx)
		return bw_err_set(err, 500, M, "seccomp", "seccomp_init failed");
	if (add_all(ctx, allowed, BW_ARRAY_LEN(allowed)) < 0)
		goto out;
#ifdef BW_SANITIZER_BUILD
	if (add_all(ctx, sanitizer_extra, BW_ARRAY_LEN(sanitizer_extra)) < 0)
		goto out;
#endif
	/* Memory, never executable: no JIT, no injected code. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0)
		goto out;
	if (seccomp_load(ctx) < 0)
		goto out;
	rc = 0;
out:
	seccomp_release(ctx);
	if (rc < 0)
		return bw_err_set(err, 500, M, "seccomp",
				  "cannot install the seccomp filter");
	return 0;
}
