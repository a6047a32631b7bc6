/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm-test-error.h"
#include "vmm-notifier.h"

/* The notifier thread with plain eventfds standing in for KVM's ioeventfds. */

typedef struct {
	GMutex lock;
	GCond cond;
	guint calls;
	GThread *last_thread;
} Counter;

typedef struct {
	VmmNotifier *notifier;
	int fd;
	Counter counter;
} Fixture;

static void
counted(gpointer user_data)
{
	Counter *counter = user_data;

	g_mutex_lock(&counter->lock);
	counter->calls++;
	counter->last_thread = g_thread_self();
	g_cond_broadcast(&counter->cond);
	g_mutex_unlock(&counter->lock);
}

static guint
calls(Counter *counter)
{
	guint n;

	g_mutex_lock(&counter->lock);
	n = counter->calls;
	g_mutex_unlock(&counter->lock);
	return n;
}

static GThread *
last_thread(Counter *counter)
{
	GThread *thread;

	g_mutex_lock(&counter->lock);
	thread = counter->last_thread;
	g_mutex_unlock(&counter->lock);
	return thread;
}

static void
wait_calls(Counter *counter, guint n)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;

	g_mutex_lock(&counter->lock);
	while (counter->calls < n)
		g_assert_true(g_cond_wait_until(&counter->cond, &counter->lock, deadline));
	g_mutex_unlock(&counter->lock);
}

static void
signal_fd(int fd)
{
	guint64 one = 1;

	g_assert_cmpint(write(fd, &one, sizeof(one)), ==, sizeof(one));
}

static int
new_eventfd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	return fd;
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	vmm_autoptr(VmmError) error = NULL;

	fx->notifier = vmm_notifier_new(&error);
	vmm_assert_no_error(error);
	fx->fd = new_eventfd();
	g_mutex_init(&fx->counter.lock);
	g_cond_init(&fx->counter.cond);
	fx->counter.calls = 0;
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	vmm_notifier_free(fx->notifier);
	g_mutex_clear(&fx->counter.lock);
	g_cond_clear(&fx->counter.cond);
}

static void
test_signal(Fixture *fx, gconstpointer user_data)
{
	vmm_notifier_add(fx->notifier, fx->fd, counted, &fx->counter);
	vmm_notifier_start(fx->notifier);
	signal_fd(fx->fd);
	wait_calls(&fx->counter, 1);
	g_assert_true(last_thread(&fx->counter) != g_thread_self());
	/* Signals while the function runs or waits are one more call, never lost. */
	signal_fd(fx->fd);
	signal_fd(fx->fd);
	wait_calls(&fx->counter, 2);
	vmm_notifier_flush(fx->notifier);
	g_assert_cmpuint(calls(&fx->counter), <=, 3);
}

/* A watch added while the thread waits is polled at once. */
static void
test_add_while_running(Fixture *fx, gconstpointer user_data)
{
	vmm_notifier_start(fx->notifier);
	vmm_notifier_add(fx->notifier, fx->fd, counted, &fx->counter);
	signal_fd(fx->fd);
	wait_calls(&fx->counter, 1);
}

static void
test_flush(Fixture *fx, gconstpointer user_data)
{
	vmm_notifier_start(fx->notifier);
	vmm_notifier_add(fx->notifier, fx->fd, counted, &fx->counter);
	for (guint i = 0; i < 100; i++) {
		signal_fd(fx->fd);
		vmm_notifier_flush(fx->notifier);
		g_assert_cmpuint(calls(&fx->counter), ==, i + 1);
	}
}

/* A signal that came before the removal still gets its call; later ones do not. */
static void
test_remove(Fixture *fx, gconstpointer user_data)
{
	VmmNotifierWatch *watch = vmm_notifier_add(fx->notifier, fx->fd, counted, &fx->counter);

	vmm_notifier_start(fx->notifier);
	vmm_notifier_flush(fx->notifier);
	signal_fd(fx->fd);
	vmm_notifier_remove(fx->notifier, watch);
	vmm_notifier_flush(fx->notifier);
	g_assert_cmpuint(calls(&fx->counter), ==, 1);
	/* The notifier closed the fd. */
	errno = 0;
	g_assert_cmpint(fcntl(fx->fd, F_GETFD), ==, -1);
	g_assert_cmpint(errno, ==, EBADF);
}

/* The caller handles what is signalled now; the thread does not handle it again. */
static void
test_dispatch_pending(Fixture *fx, gconstpointer user_data)
{
	guint handled_here = 0;

	vmm_notifier_add(fx->notifier, fx->fd, counted, &fx->counter);
	g_assert_false(vmm_notifier_dispatch_pending(fx->notifier));
	vmm_notifier_start(fx->notifier);
	for (guint i = 0; i < 100; i++) {
		signal_fd(fx->fd);
		if (vmm_notifier_dispatch_pending(fx->notifier)) {
			g_assert_true(last_thread(&fx->counter) == g_thread_self());
			handled_here++;
		}
		vmm_notifier_flush(fx->notifier);
		g_assert_cmpuint(calls(&fx->counter), ==, i + 1);
	}
	g_test_message("%u of 100 handled by the caller", handled_here);
	g_assert_false(vmm_notifier_dispatch_pending(fx->notifier));
}

/* Stopped, nothing runs; remove() closes at once; flush() does not wait. */
static void
test_stop(Fixture *fx, gconstpointer user_data)
{
	VmmNotifierWatch *watch = vmm_notifier_add(fx->notifier, fx->fd, counted, &fx->counter);
	int second = new_eventfd();

	vmm_notifier_add(fx->notifier, second, counted, &fx->counter);
	vmm_notifier_start(fx->notifier);
	vmm_notifier_stop(fx->notifier);
	signal_fd(fx->fd);
	vmm_notifier_flush(fx->notifier);
	g_assert_false(vmm_notifier_dispatch_pending(fx->notifier));
	g_usleep(20000);
	g_assert_cmpuint(calls(&fx->counter), ==, 0);
	vmm_notifier_remove(fx->notifier, watch);
	g_assert_cmpint(fcntl(fx->fd, F_GETFD), ==, -1);
	/* Started again, the signal that waited is handled. */
	signal_fd(second);
	vmm_notifier_start(fx->notifier);
	wait_calls(&fx->counter, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/notifier/signal", test_signal);
	ADD("/notifier/add-while-running", test_add_while_running);
	ADD("/notifier/flush", test_flush);
	ADD("/notifier/remove", test_remove);
	ADD("/notifier/dispatch-pending", test_dispatch_pending);
	ADD("/notifier/stop", test_stop);
#undef ADD
	return g_test_run();
}
