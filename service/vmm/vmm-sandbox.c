/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "vmm-sandbox.h"

/*
 * Once /dev/kvm, guest memory, the console log and the control socket are
 * open, the worker needs no privilege and only the system calls below: a
 * guest that takes over a device model gets an unprivileged process that
 * cannot open files, create sockets or run programs.
 */
static const int allowed_syscalls[] = {
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(close),
	SCMP_SYS(ioctl),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(futex),
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mprotect),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvfrom),
	SCMP_SYS(sendto),
	SCMP_SYS(shutdown),
	SCMP_SYS(accept4),
	SCMP_SYS(accept),
	SCMP_SYS(eventfd2),
	SCMP_SYS(pipe2),
	SCMP_SYS(fcntl),
	SCMP_SYS(lseek),
	SCMP_SYS(ftruncate),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(statx),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(getuid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getgid),
	SCMP_SYS(getegid),
	SCMP_SYS(tgkill),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(clone),
	SCMP_SYS(clone3),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getattr),
	SCMP_SYS(sched_setattr),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(getrandom),
	SCMP_SYS(sysinfo),
	SCMP_SYS(unlink),
	SCMP_SYS(prctl),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(membarrier),
	SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	SCMP_SYS(setsockopt),
};

static struct passwd *
lookup_user(const gchar *user, GError **error)
{
	struct passwd *pw = getpwnam(user != NULL ? user : VMM_SANDBOX_DEFAULT_USER);

	if (pw == NULL || pw->pw_uid == 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NOT_FOUND,
			    "Cannot drop privileges: no unprivileged user '%s' (create it, or "
			    "pass --user)",
			    user != NULL ? user : VMM_SANDBOX_DEFAULT_USER);
		return NULL;
	}
	return pw;
}

/* Hands a file the worker made as root (its control socket) to the user it will become. */
gboolean
vmm_sandbox_give_file(const gchar *path, const gchar *user, GError **error)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return TRUE;
	if ((pw = lookup_user(user, error)) == NULL)
		return FALSE;
	if (chown(path, pw->pw_uid, pw->pw_gid) != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errno),
			    "Cannot hand %s to '%s': %s",
			    path,
			    pw->pw_name,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
drop_privileges(const gchar *user, GError **error)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return TRUE;
	if ((pw = lookup_user(user, error)) == NULL)
		return FALSE;
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
	    setuid(0) == 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_PERMISSION_DENIED,
			    "Cannot drop privileges to '%s': %s",
			    pw->pw_name,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
install_filter(GError **error)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = ctx != NULL ? 0 : -ENOMEM;

	/* Every thread already running (GDBus's worker among them) gets the filter too. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (guint i = 0; rc == 0 && i < G_N_ELEMENTS(allowed_syscalls); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0);
	/* Library code may try to open files (locale, time zone): refuse instead of killing. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);

	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_FAILED,
			    "Cannot install the seccomp filter: %s",
			    g_strerror(-rc));
		return FALSE;
	}
	return TRUE;
}

/* Test hook: a system call outside the allowlist, to prove the filter kills. */
static void
maybe_break_the_rules(void)
{
	if (g_strcmp0(g_getenv("VBOXMEM_VM_TEST_FORBIDDEN_SYSCALL"), "1") == 0)
		(void)getppid();
}

gboolean
vmm_sandbox_enter(const gchar *user, GError **error)
{
	/* Log timestamps need the time zone: read it while files can still be opened. */
	tzset();
	if (!drop_privileges(user, error))
		return FALSE;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_FAILED,
			    "PR_SET_NO_NEW_PRIVS failed: %s",
			    g_strerror(errno));
		return FALSE;
	}
	if (!install_filter(error))
		return FALSE;
	maybe_break_the_rules();
	return TRUE;
}
