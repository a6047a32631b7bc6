/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm-sandbox.h"

/*
 * Once /dev/kvm, guest memory, the console log and the control socket are
 * open, the worker needs no privilege and only the system calls below: a
 * guest that takes over a device model gets an unprivileged process that
 * cannot open files, create sockets or run programs.
 */
static const uint32_t allowed_syscalls[] = {
	__NR_read,
	__NR_write,
	__NR_readv,
	__NR_writev,
	__NR_close,
	__NR_ioctl,
	__NR_poll,
	__NR_epoll_wait,
	__NR_epoll_pwait,
	__NR_epoll_ctl,
	__NR_ppoll,
	__NR_futex,
	__NR_mmap,
	__NR_munmap,
	__NR_mprotect,
	__NR_mremap,
	__NR_madvise,
	__NR_brk,
	__NR_recvmsg,
	__NR_sendmsg,
	__NR_recvfrom,
	__NR_sendto,
	__NR_shutdown,
	__NR_accept4,
	__NR_accept,
	__NR_eventfd2,
	__NR_pipe2,
	__NR_fcntl,
	__NR_lseek,
	__NR_ftruncate,
	__NR_fstat,
	__NR_newfstatat,
	__NR_statx,
	__NR_getpid,
	__NR_gettid,
	__NR_getuid,
	__NR_geteuid,
	__NR_getgid,
	__NR_getegid,
	__NR_rt_sigaction,
	__NR_rt_sigprocmask,
	__NR_rt_sigreturn,
	__NR_sigaltstack,
	__NR_set_robust_list,
	__NR_set_tid_address,
	__NR_rseq,
	__NR_sched_yield,
	__NR_sched_getattr,
	__NR_sched_setattr,
	__NR_sched_getaffinity,
	__NR_nanosleep,
	__NR_clock_nanosleep,
	__NR_clock_gettime,
	__NR_gettimeofday,
	__NR_getrandom,
	__NR_sysinfo,
	__NR_unlink,
	__NR_prctl,
	__NR_exit,
	__NR_exit_group,
	__NR_restart_syscall,
	__NR_membarrier,
	__NR_getsockopt,
	__NR_getsockname,
	__NR_getpeername,
	__NR_setsockopt,
};

static struct passwd *
lookup_user(const char *user, VmmError **error)
{
	struct passwd *pw = getpwnam(user != NULL ? user : VMM_SANDBOX_DEFAULT_USER);

	if (pw == NULL || pw->pw_uid == 0) {
		vmm_set_error(error,
			      ENOENT,
			      "Cannot drop privileges: no unprivileged user '%s' (create it, or "
			      "pass --user)",
			      user != NULL ? user : VMM_SANDBOX_DEFAULT_USER);
		return NULL;
	}
	return pw;
}

/* Hands a file the worker made as root (its control socket) to the user it will become. */
bool
vmm_sandbox_give_file(const char *path, const char *user, VmmError **error)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return true;
	if ((pw = lookup_user(user, error)) == NULL)
		return false;
	if (chown(path, pw->pw_uid, pw->pw_gid) != 0)
		return vmm_set_error(error,
				     errno,
				     "Cannot hand %s to '%s': %s",
				     path,
				     pw->pw_name,
				     strerror(errno));
	return true;
}

static bool
drop_privileges(const char *user, VmmError **error)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return true;
	if ((pw = lookup_user(user, error)) == NULL)
		return false;
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
	    setuid(0) == 0)
		return vmm_set_error(error,
				     EACCES,
				     "Cannot drop privileges to '%s': %s",
				     pw->pw_name,
				     strerror(errno));
	return true;
}

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define RETURN(action) STMT(BPF_RET | BPF_K, (action))
#define JUMP_IF(value, if_true, if_false)                                                          \
	((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (value), (if_true), (if_false)))
#define JUMP_IF_SET(bits, if_true, if_false)                                                       \
	((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (bits), (if_true), (if_false)))
#define LOAD_ARG0_LOW STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))
#define LOAD_ARG0_HIGH                                                                             \
	STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + sizeof(uint32_t))

/*
 * Signals go only to the worker's own threads (tgkill with its own process
 * id): all workers run as one user, and one taken over by its guest must
 * not stop or kill another. Each block returns; when the system call is
 * another, the accumulator still holds its number.
 */
static size_t
add_tgkill_rule(struct sock_filter *program, pid_t self)
{
	size_t n = 0;

	program[n++] = JUMP_IF(__NR_tgkill, 0, 6);
	program[n++] = LOAD_ARG0_LOW;
	program[n++] = JUMP_IF((uint32_t)self, 0, 3);
	program[n++] = LOAD_ARG0_HIGH;
	program[n++] = JUMP_IF(0, 0, 1);
	program[n++] = RETURN(SECCOMP_RET_ALLOW);
	program[n++] = RETURN(SECCOMP_RET_KILL_PROCESS);
	return n;
}

/* Threads, never processes: clone must share the thread group; clone3 is not offered. */
static size_t
add_clone_rules(struct sock_filter *program)
{
	size_t n = 0;

	program[n++] = JUMP_IF(__NR_clone, 0, 4);
	program[n++] = LOAD_ARG0_LOW;
	program[n++] = JUMP_IF_SET(CLONE_THREAD, 0, 1);
	program[n++] = RETURN(SECCOMP_RET_ALLOW);
	program[n++] = RETURN(SECCOMP_RET_KILL_PROCESS);
	program[n++] = JUMP_IF(__NR_clone3, 0, 1);
	program[n++] = RETURN(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
	return n;
}

/*
 * The filter as a classic BPF program: x86-64 system calls only; the
 * allowlist; open and openat fail with EACCES, since library code may try
 * to open files (locale, time zone); everything else kills the process.
 */
static size_t
build_filter(struct sock_filter *program)
{
	const size_t n_allowed = VMM_N_ELEMENTS(allowed_syscalls);
	size_t n = 0;

	program[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	program[n++] = JUMP_IF(AUDIT_ARCH_X86_64, 1, 0);
	program[n++] = RETURN(SECCOMP_RET_KILL_PROCESS);
	program[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	n += add_tgkill_rule(program + n, getpid());
	n += add_clone_rules(program + n);
	/* Each test jumps to the ALLOW at the end: past the rest of the list, 2 tests, 2 returns.
	 */
	for (size_t i = 0; i < n_allowed; i++)
		program[n++] = JUMP_IF(allowed_syscalls[i], (n_allowed - i - 1) + 4, 0);
	program[n++] = JUMP_IF(__NR_open, 2, 0);
	program[n++] = JUMP_IF(__NR_openat, 1, 0);
	program[n++] = RETURN(SECCOMP_RET_KILL_PROCESS);
	program[n++] = RETURN(SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA));
	program[n++] = RETURN(SECCOMP_RET_ALLOW);
	return n;
}

static bool
install_filter(VmmError **error)
{
	struct sock_filter program[VMM_N_ELEMENTS(allowed_syscalls) + 32];
	struct sock_fprog fprog = {.len = (unsigned short)build_filter(program), .filter = program};

	_Static_assert(VMM_N_ELEMENTS(allowed_syscalls) + 4 < 256, "jumps must fit in 8 bits");
	/* Every thread already running gets the filter too. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog) != 0)
		return vmm_set_error(
			error, errno, "Cannot install the seccomp filter: %s", strerror(errno));
	return true;
}

/* Test hook: a system call outside the allowlist, to prove the filter kills. */
static void
maybe_break_the_rules(void)
{
#ifdef VMM_TEST_HOOKS
	if (vmm_strcmp0(getenv("VBOXMEM_VM_TEST_FORBIDDEN_SYSCALL"), "1") == 0)
		(void)getppid();
#endif
}

/*
 * Limits that hold whatever the guest makes the worker do: no core dump
 * (it would write guest memory to disk), a bounded number of descriptors.
 */
static bool
set_limits(VmmError **error)
{
	const struct rlimit no_core = {0, 0};
	struct rlimit files;

	if (getrlimit(RLIMIT_NOFILE, &files) != 0)
		return vmm_error_from_errno(error, "Reading the worker's descriptor limit");
	files.rlim_max = VMM_MIN(files.rlim_max, (rlim_t)VMM_SANDBOX_MAX_FILES);
	files.rlim_cur = files.rlim_max;
	if (setrlimit(RLIMIT_CORE, &no_core) != 0 || setrlimit(RLIMIT_NOFILE, &files) != 0)
		return vmm_error_from_errno(error, "Setting the worker's resource limits");
	return true;
}

bool
vmm_sandbox_enter(const char *user, VmmError **error)
{
	if (!set_limits(error) || !drop_privileges(user, error))
		return false;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return vmm_set_error(error, EIO, "PR_SET_NO_NEW_PRIVS failed: %s", strerror(errno));
	if (!install_filter(error))
		return false;
	maybe_break_the_rules();
	return true;
}
