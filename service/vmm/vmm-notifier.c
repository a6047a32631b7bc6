/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm-notifier.h"

struct _VmmNotifierWatch {
	int fd;
	VmmNotifierFunc func;
	gpointer user_data;
};

/*
 * The thread polls a snapshot of the watches without the lock, so that their
 * functions may take device locks under which others add and remove watches.
 * A removed watch therefore waits in @removed until the thread no longer polls
 * it; only then is its fd closed (and its number free for reuse). Other
 * threads that dispatch (vmm_notifier_dispatch_pending()) hold @release_lock
 * for reading meanwhile.
 */
struct _VmmNotifier {
	GMutex lock;
	GCond cond;
	GRWLock release_lock;
	int wake_fd;
	GThread *thread;
	gboolean stopping;
	GPtrArray *watches;
	GPtrArray *removed;
	guint64 flush_requested;
	guint64 flush_done;
};

/* Consumes the signals of an eventfd; TRUE if there were any. */
static gboolean
drain(int fd)
{
	guint64 count;

	return read(fd, &count, sizeof(count)) == sizeof(count);
}

static void
wake(VmmNotifier *self)
{
	guint64 one = 1;

	if (write(self->wake_fd, &one, sizeof(one)) != sizeof(one))
		g_warning("notifier: cannot wake the thread: %s", g_strerror(errno));
}

static void
watch_free(VmmNotifierWatch *watch)
{
	close(watch->fd);
	g_free(watch);
}

/* On the thread: the last signal of a removed watch still counts. */
static void
release(VmmNotifier *self, GPtrArray *removed)
{
	if (removed == NULL)
		return;
	g_rw_lock_writer_lock(&self->release_lock);
	for (guint i = 0; i < removed->len; i++) {
		VmmNotifierWatch *watch = removed->pdata[i];
		if (drain(watch->fd))
			watch->func(watch->user_data);
		watch_free(watch);
	}
	g_rw_lock_writer_unlock(&self->release_lock);
	g_ptr_array_unref(removed);
}

/* With the lock held. */
static void
append_watches(VmmNotifier *self, GArray *fds, GPtrArray *polled)
{
	for (guint i = 0; i < self->watches->len; i++) {
		VmmNotifierWatch *watch = self->watches->pdata[i];
		struct pollfd pollfd = {watch->fd, POLLIN, 0};
		g_array_append_val(fds, pollfd);
		g_ptr_array_add(polled, watch);
	}
}

/* What to poll next, or FALSE to stop. Sets @flush to a flush request to answer, or 0. */
static gboolean
snapshot(VmmNotifier *self, GArray *fds, GPtrArray *polled, GPtrArray **removed, guint64 *flush)
{
	struct pollfd wake_pollfd = {self->wake_fd, POLLIN, 0};

	g_mutex_lock(&self->lock);
	if (self->stopping) {
		g_mutex_unlock(&self->lock);
		return FALSE;
	}
	g_array_set_size(fds, 0);
	g_ptr_array_set_size(polled, 0);
	g_array_append_val(fds, wake_pollfd);
	append_watches(self, fds, polled);
	*removed = NULL;
	if (self->removed->len > 0) {
		*removed = g_steal_pointer(&self->removed);
		self->removed = g_ptr_array_new();
	}
	*flush = self->flush_requested != self->flush_done ? self->flush_requested : 0;
	g_mutex_unlock(&self->lock);
	return TRUE;
}

/* Calls the functions of the watches polled from @fds[@first] on; TRUE if any ran. */
static gboolean
dispatch(GArray *fds, guint first, GPtrArray *polled)
{
	struct pollfd *pollfds = (struct pollfd *)fds->data;
	gboolean called = FALSE;

	for (guint i = first; i < fds->len; i++) {
		VmmNotifierWatch *watch = polled->pdata[i - first];
		if ((pollfds[i].revents & POLLIN) && drain(watch->fd)) {
			watch->func(watch->user_data);
			called = TRUE;
		}
	}
	return called;
}

/* @fds[0] is the wake-up eventfd. */
static void
wait_and_dispatch(GArray *fds, GPtrArray *polled, gboolean block)
{
	struct pollfd *pollfds = (struct pollfd *)fds->data;

	if (poll(pollfds, fds->len, block ? -1 : 0) <= 0)
		return;
	if (pollfds[0].revents & POLLIN)
		drain(pollfds[0].fd);
	dispatch(fds, 1, polled);
}

static void
answer_flush(VmmNotifier *self, guint64 flush)
{
	if (flush == 0)
		return;
	g_mutex_lock(&self->lock);
	self->flush_done = MAX(self->flush_done, flush);
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
}

static gpointer
notifier_thread(gpointer data)
{
	VmmNotifier *self = data;
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
	g_autoptr(GPtrArray) polled = g_ptr_array_new();
	GPtrArray *removed;
	guint64 flush;

	while (snapshot(self, fds, polled, &removed, &flush)) {
		release(self, removed);
		/* A flush polls once without blocking: every fd signalled before it is ready. */
		wait_and_dispatch(fds, polled, flush == 0);
		answer_flush(self, flush);
	}
	return NULL;
}

VmmNotifier *
vmm_notifier_new(GError **error)
{
	VmmNotifier *self;
	int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (wake_fd < 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errno),
			    "Cannot create an eventfd: %s",
			    g_strerror(errno));
		return NULL;
	}
	self = g_new0(VmmNotifier, 1);
	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
	g_rw_lock_init(&self->release_lock);
	self->wake_fd = wake_fd;
	self->watches = g_ptr_array_new();
	self->removed = g_ptr_array_new();
	return self;
}

void
vmm_notifier_free(VmmNotifier *self)
{
	if (self == NULL)
		return;
	vmm_notifier_stop(self);
	g_ptr_array_foreach(self->watches, (GFunc)watch_free, NULL);
	g_ptr_array_unref(self->watches);
	g_ptr_array_unref(self->removed);
	close(self->wake_fd);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->cond);
	g_rw_lock_clear(&self->release_lock);
	g_free(self);
}

void
vmm_notifier_start(VmmNotifier *self)
{
	g_mutex_lock(&self->lock);
	if (self->thread == NULL)
		self->thread = g_thread_new("notifier", notifier_thread, self);
	g_mutex_unlock(&self->lock);
}

void
vmm_notifier_stop(VmmNotifier *self)
{
	GThread *thread;

	g_mutex_lock(&self->lock);
	thread = self->thread;
	self->stopping = thread != NULL;
	g_mutex_unlock(&self->lock);
	if (thread == NULL)
		return;
	wake(self);
	g_thread_join(thread);
	g_rw_lock_writer_lock(&self->release_lock);
	g_mutex_lock(&self->lock);
	self->thread = NULL;
	self->stopping = FALSE;
	g_ptr_array_foreach(self->removed, (GFunc)watch_free, NULL);
	g_ptr_array_set_size(self->removed, 0);
	self->flush_done = self->flush_requested;
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
	g_rw_lock_writer_unlock(&self->release_lock);
}

VmmNotifierWatch *
vmm_notifier_add(VmmNotifier *self, int fd, VmmNotifierFunc func, gpointer user_data)
{
	VmmNotifierWatch *watch = g_new0(VmmNotifierWatch, 1);

	watch->fd = fd;
	watch->func = func;
	watch->user_data = user_data;
	g_mutex_lock(&self->lock);
	g_ptr_array_add(self->watches, watch);
	g_mutex_unlock(&self->lock);
	wake(self);
	return watch;
}

void
vmm_notifier_remove(VmmNotifier *self, VmmNotifierWatch *watch)
{
	gboolean polled;

	g_mutex_lock(&self->lock);
	g_ptr_array_remove_fast(self->watches, watch);
	polled = self->thread != NULL;
	if (polled)
		g_ptr_array_add(self->removed, watch);
	g_mutex_unlock(&self->lock);
	if (polled)
		wake(self);
	else
		watch_free(watch);
}

void
vmm_notifier_flush(VmmNotifier *self)
{
	guint64 target;

	g_mutex_lock(&self->lock);
	if (self->thread == NULL || self->stopping) {
		g_mutex_unlock(&self->lock);
		return;
	}
	target = ++self->flush_requested;
	g_mutex_unlock(&self->lock);
	wake(self);
	g_mutex_lock(&self->lock);
	while (self->flush_done < target)
		g_cond_wait(&self->cond, &self->lock);
	g_mutex_unlock(&self->lock);
	/* Callers of vmm_notifier_dispatch_pending() may still be in a function. */
	g_rw_lock_writer_lock(&self->release_lock);
	g_rw_lock_writer_unlock(&self->release_lock);
}

gboolean
vmm_notifier_dispatch_pending(VmmNotifier *self)
{
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
	g_autoptr(GPtrArray) polled = g_ptr_array_new();
	gboolean called = FALSE;

	g_rw_lock_reader_lock(&self->release_lock);
	g_mutex_lock(&self->lock);
	if (self->thread != NULL && !self->stopping)
		append_watches(self, fds, polled);
	g_mutex_unlock(&self->lock);
	if (fds->len > 0 && poll((struct pollfd *)fds->data, fds->len, 0) > 0)
		called = dispatch(fds, 0, polled);
	g_rw_lock_reader_unlock(&self->release_lock);
	return called;
}
