/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm-sandbox.h"

/*
 * What a worker taken over by its guest may still do, once in its sandbox:
 * each case runs in a child that enters the sandbox, then tries one thing.
 * No KVM needed.
 */

#define ALLOWED 0
#define REFUSED 1

typedef int (*Attempt)(pid_t parent);

static gpointer
thread_body(gpointer data)
{
	return data;
}

static int
create_thread(pid_t parent)
{
	pthread_t thread;
	void *result = NULL;

	if (pthread_create(&thread, NULL, thread_body, (void *)1) != 0 ||
	    pthread_join(thread, &result) != 0)
		return REFUSED;
	return result == (void *)1 ? ALLOWED : REFUSED;
}

static int
signal_own_thread(pid_t parent)
{
	return syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) == 0 ? ALLOWED : REFUSED;
}

static int
signal_other_process(pid_t parent)
{
	return syscall(SYS_tgkill, parent, parent, 0) == 0 ? ALLOWED : REFUSED;
}

static int
signal_any_thread(pid_t parent)
{
	return syscall(SYS_tkill, parent, 0) == 0 ? ALLOWED : REFUSED;
}

static int
kill_other_process(pid_t parent)
{
	return kill(parent, 0) == 0 ? ALLOWED : REFUSED;
}

static int
fork_process(pid_t parent)
{
	long child = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);

	if (child == 0)
		_exit(0);
	return child > 0 ? ALLOWED : REFUSED;
}

/* clone3 fails as on an older kernel, so that C libraries fall back to clone. */
static int
clone3_is_absent(pid_t parent)
{
	return syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS ? ALLOWED : REFUSED;
}

static int go_on_fd = -1;
static int ready_fd = -1;

/* Says it is in the sandbox, then waits until the parent has looked at its limits. */
static int
wait_for_parent(pid_t parent)
{
	char byte = 1;

	if (write(ready_fd, &byte, 1) != 1)
		return REFUSED;
	return read(go_on_fd, &byte, 1) == 0 ? ALLOWED : REFUSED;
}

/* Runs @attempt in a sandboxed child; returns its wait status. */
static int
run_sandboxed(Attempt attempt)
{
	pid_t parent = getpid();
	pid_t child = fork();
	int status = 0;

	g_assert_cmpint(child, >=, 0);
	if (child == 0) {
		VmmError *error = NULL;

		if (!vmm_sandbox_enter(NULL, &error))
			_exit(100);
		/* _exit: nothing of the test harness may run under the filter. */
		_exit(attempt(parent));
	}
	g_assert_cmpint(waitpid(child, &status, 0), ==, child);
	return status;
}

static gboolean
can_enter_sandbox(void)
{
	if (geteuid() == 0 && getpwnam(VMM_SANDBOX_DEFAULT_USER) == NULL) {
		g_test_skip("no user " VMM_SANDBOX_DEFAULT_USER " to drop privileges to");
		return FALSE;
	}
	return TRUE;
}

static void
expect_exit(Attempt attempt, int code)
{
	int status = run_sandboxed(attempt);

	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, code);
}

static void
expect_killed(Attempt attempt)
{
	int status = run_sandboxed(attempt);

	g_assert_true(WIFSIGNALED(status));
	g_assert_cmpint(WTERMSIG(status), ==, SIGSYS);
}

static void
test_threads_allowed(void)
{
	if (!can_enter_sandbox())
		return;
	expect_exit(create_thread, ALLOWED);
	expect_exit(signal_own_thread, ALLOWED);
	expect_exit(clone3_is_absent, ALLOWED);
}

/* Seen from outside, since the sandbox does not let the worker ask. */
static void
test_limits(void)
{
	g_autofree gchar *limits = NULL;
	g_autofree gchar *path = NULL;
	int go_on[2];
	int ready[2];
	int status = 0;
	char byte;
	pid_t child;

	if (!can_enter_sandbox())
		return;
	g_assert_cmpint(pipe(go_on), ==, 0);
	g_assert_cmpint(pipe(ready), ==, 0);
	child = fork();
	g_assert_cmpint(child, >=, 0);
	if (child == 0) {
		VmmError *error = NULL;

		close(go_on[1]);
		close(ready[0]);
		go_on_fd = go_on[0];
		ready_fd = ready[1];
		_exit(vmm_sandbox_enter(NULL, &error) ? wait_for_parent(0) : 100);
	}
	close(go_on[0]);
	close(ready[1]);
	g_assert_cmpint(read(ready[0], &byte, 1), ==, 1);
	close(ready[0]);
	path = g_strdup_printf("/proc/%d/limits", (int)child);
	g_assert_true(g_file_get_contents(path, &limits, NULL, NULL));
	close(go_on[1]);
	g_assert_cmpint(waitpid(child, &status, 0), ==, child);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, ALLOWED);
	g_assert_true(
		g_regex_match_simple("^Max core file size +0 +0 ", limits, G_REGEX_MULTILINE, 0));
	g_assert_true(g_regex_match_simple("^Max open files +[0-9]+ +(1024|[1-9][0-9]?[0-9]?) ",
					   limits,
					   G_REGEX_MULTILINE,
					   0));
}

static void
test_other_processes_unreachable(void)
{
	if (!can_enter_sandbox())
		return;
	expect_killed(signal_other_process);
	expect_killed(signal_any_thread);
	expect_killed(kill_other_process);
	expect_killed(fork_process);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sandbox/threads-allowed", test_threads_allowed);
	g_test_add_func("/sandbox/other-processes-unreachable", test_other_processes_unreachable);
	g_test_add_func("/sandbox/limits", test_limits);
	return g_test_run();
}
