/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm-log.h"
#include "vmm-notifier.h"

struct _VmmNotifierWatch {
	int fd;
	VmmNotifierFunc func;
	void *user_data;
};

typedef struct {
	VmmNotifierWatch **items;
	unsigned len;
	unsigned size;
} WatchList;

/* How many fds a PollSet holds before it allocates. */
#define POLL_SET_INLINE 8

/*
 * What one poll() looks at: fds[i] belongs to watches[i], or is the wake-up
 * eventfd. The first POLL_SET_INLINE live in the set itself, so that a few
 * watches cost no allocation; it must not be copied.
 */
typedef struct {
	struct pollfd *fds;
	VmmNotifierWatch **watches;
	unsigned len;
	unsigned size;
	struct pollfd inline_fds[POLL_SET_INLINE];
	VmmNotifierWatch *inline_watches[POLL_SET_INLINE];
} PollSet;

static void
watch_list_add(WatchList *list, VmmNotifierWatch *watch)
{
	if (list->len == list->size) {
		list->size = VMM_MAX(8u, list->size * 2);
		list->items = vmm_renew(VmmNotifierWatch *, list->items, list->size);
	}
	list->items[list->len++] = watch;
}

static void
watch_list_remove(WatchList *list, VmmNotifierWatch *watch)
{
	for (unsigned i = 0; i < list->len; i++) {
		if (list->items[i] == watch) {
			list->items[i] = list->items[--list->len];
			return;
		}
	}
}

static void
poll_set_init(PollSet *set)
{
	set->fds = set->inline_fds;
	set->watches = set->inline_watches;
	set->len = 0;
	set->size = POLL_SET_INLINE;
}

static void
poll_set_add(PollSet *set, int fd, VmmNotifierWatch *watch)
{
	if (set->len == set->size) {
		set->size *= 2;
		if (set->fds == set->inline_fds) {
			set->fds = vmm_new0(struct pollfd, set->size);
			set->watches = vmm_new0(VmmNotifierWatch *, set->size);
			memcpy(set->fds, set->inline_fds, sizeof(set->inline_fds));
			memcpy(set->watches, set->inline_watches, sizeof(set->inline_watches));
		} else {
			set->fds = vmm_renew(struct pollfd, set->fds, set->size);
			set->watches = vmm_renew(VmmNotifierWatch *, set->watches, set->size);
		}
	}
	set->fds[set->len] = (struct pollfd){fd, POLLIN, 0};
	set->watches[set->len++] = watch;
}

static void
poll_set_clear(PollSet *set)
{
	if (set->fds != set->inline_fds) {
		free(set->fds);
		free(set->watches);
	}
	poll_set_init(set);
}

/*
 * The thread polls a snapshot of the watches without the lock, so that their
 * functions may take device locks under which others add and remove watches.
 * A removed watch therefore waits in @removed until the thread no longer polls
 * it; only then is its fd closed (and its number free for reuse). Other
 * threads that dispatch (vmm_notifier_dispatch_pending()) hold @release_lock
 * for reading meanwhile.
 */
struct _VmmNotifier {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_rwlock_t release_lock;
	int wake_fd;
	pthread_t thread;
	bool running;
	bool stopping;
	WatchList watches;
	WatchList removed;
	uint64_t flush_requested;
	uint64_t flush_done;
};

/* Consumes the signals of an eventfd; true if there were any. */
static bool
drain(int fd)
{
	uint64_t count;

	return read(fd, &count, sizeof(count)) == sizeof(count);
}

static void
wake(VmmNotifier *self)
{
	uint64_t one = 1;

	if (write(self->wake_fd, &one, sizeof(one)) != sizeof(one))
		vmm_warning("notifier: cannot wake the thread: %s", strerror(errno));
}

static void
watch_free(VmmNotifierWatch *watch)
{
	close(watch->fd);
	free(watch);
}

/* On the thread: the last signal of a removed watch still counts. */
static void
release(VmmNotifier *self, WatchList *removed)
{
	if (removed->len == 0)
		return;
	pthread_rwlock_wrlock(&self->release_lock);
	for (unsigned i = 0; i < removed->len; i++) {
		VmmNotifierWatch *watch = removed->items[i];
		if (drain(watch->fd))
			watch->func(watch->user_data);
		watch_free(watch);
	}
	pthread_rwlock_unlock(&self->release_lock);
	removed->len = 0;
}

/* With the lock held. */
static void
append_watches(VmmNotifier *self, PollSet *set)
{
	for (unsigned i = 0; i < self->watches.len; i++)
		poll_set_add(set, self->watches.items[i]->fd, self->watches.items[i]);
}

/* What to poll next, or false to stop. Sets @flush to a flush request to answer, or 0. */
static bool
snapshot(VmmNotifier *self, PollSet *set, WatchList *removed, uint64_t *flush)
{
	WatchList swap;

	pthread_mutex_lock(&self->lock);
	if (self->stopping) {
		pthread_mutex_unlock(&self->lock);
		return false;
	}
	set->len = 0;
	poll_set_add(set, self->wake_fd, NULL);
	append_watches(self, set);
	swap = *removed;
	*removed = self->removed;
	self->removed = swap;
	*flush = self->flush_requested != self->flush_done ? self->flush_requested : 0;
	pthread_mutex_unlock(&self->lock);
	return true;
}

/* Calls the functions of the watches polled from @set->fds[@first] on; true if any ran. */
static bool
dispatch(const PollSet *set, unsigned first)
{
	bool called = false;

	for (unsigned i = first; i < set->len; i++) {
		VmmNotifierWatch *watch = set->watches[i];
		if ((set->fds[i].revents & POLLIN) && drain(watch->fd)) {
			watch->func(watch->user_data);
			called = true;
		}
	}
	return called;
}

/* @set->fds[0] is the wake-up eventfd. */
static void
wait_and_dispatch(PollSet *set, bool block)
{
	if (poll(set->fds, set->len, block ? -1 : 0) <= 0)
		return;
	if (set->fds[0].revents & POLLIN)
		drain(set->fds[0].fd);
	dispatch(set, 1);
}

static void
answer_flush(VmmNotifier *self, uint64_t flush)
{
	if (flush == 0)
		return;
	pthread_mutex_lock(&self->lock);
	self->flush_done = VMM_MAX(self->flush_done, flush);
	pthread_cond_broadcast(&self->cond);
	pthread_mutex_unlock(&self->lock);
}

static void *
notifier_thread(void *data)
{
	VmmNotifier *self = data;
	PollSet set;
	WatchList removed = {NULL, 0, 0};
	uint64_t flush;

	poll_set_init(&set);

	while (snapshot(self, &set, &removed, &flush)) {
		release(self, &removed);
		/* A flush polls once without blocking: every fd signalled before it is ready. */
		wait_and_dispatch(&set, flush == 0);
		answer_flush(self, flush);
	}
	poll_set_clear(&set);
	free(removed.items);
	return NULL;
}

VmmNotifier *
vmm_notifier_new(VmmError **error)
{
	VmmNotifier *self;
	int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (wake_fd < 0) {
		vmm_set_error(error, errno, "Cannot create an eventfd: %s", strerror(errno));
		return NULL;
	}
	self = vmm_new0(VmmNotifier, 1);
	pthread_mutex_init(&self->lock, NULL);
	pthread_cond_init(&self->cond, NULL);
	pthread_rwlock_init(&self->release_lock, NULL);
	self->wake_fd = wake_fd;
	return self;
}

void
vmm_notifier_free(VmmNotifier *self)
{
	if (self == NULL)
		return;
	vmm_notifier_stop(self);
	for (unsigned i = 0; i < self->watches.len; i++)
		watch_free(self->watches.items[i]);
	free(self->watches.items);
	free(self->removed.items);
	close(self->wake_fd);
	pthread_mutex_destroy(&self->lock);
	pthread_cond_destroy(&self->cond);
	pthread_rwlock_destroy(&self->release_lock);
	free(self);
}

void
vmm_notifier_start(VmmNotifier *self)
{
	pthread_mutex_lock(&self->lock);
	if (!self->running) {
		int error = pthread_create(&self->thread, NULL, notifier_thread, self);

		if (error != 0)
			vmm_fatal("cannot start the notifier thread: %s", strerror(error));
		self->running = true;
	}
	pthread_mutex_unlock(&self->lock);
}

void
vmm_notifier_stop(VmmNotifier *self)
{
	bool running;

	pthread_mutex_lock(&self->lock);
	running = self->running;
	self->stopping = running;
	pthread_mutex_unlock(&self->lock);
	if (!running)
		return;
	wake(self);
	pthread_join(self->thread, NULL);
	pthread_rwlock_wrlock(&self->release_lock);
	pthread_mutex_lock(&self->lock);
	self->running = false;
	self->stopping = false;
	for (unsigned i = 0; i < self->removed.len; i++)
		watch_free(self->removed.items[i]);
	self->removed.len = 0;
	self->flush_done = self->flush_requested;
	pthread_cond_broadcast(&self->cond);
	pthread_mutex_unlock(&self->lock);
	pthread_rwlock_unlock(&self->release_lock);
}

VmmNotifierWatch *
vmm_notifier_add(VmmNotifier *self, int fd, VmmNotifierFunc func, void *user_data)
{
	VmmNotifierWatch *watch = vmm_new0(VmmNotifierWatch, 1);

	watch->fd = fd;
	watch->func = func;
	watch->user_data = user_data;
	pthread_mutex_lock(&self->lock);
	watch_list_add(&self->watches, watch);
	pthread_mutex_unlock(&self->lock);
	wake(self);
	return watch;
}

void
vmm_notifier_remove(VmmNotifier *self, VmmNotifierWatch *watch)
{
	bool polled;

	pthread_mutex_lock(&self->lock);
	watch_list_remove(&self->watches, watch);
	polled = self->running;
	if (polled)
		watch_list_add(&self->removed, watch);
	pthread_mutex_unlock(&self->lock);
	if (polled)
		wake(self);
	else
		watch_free(watch);
}

void
vmm_notifier_flush(VmmNotifier *self)
{
	uint64_t target;

	pthread_mutex_lock(&self->lock);
	if (!self->running || self->stopping) {
		pthread_mutex_unlock(&self->lock);
		return;
	}
	target = ++self->flush_requested;
	pthread_mutex_unlock(&self->lock);
	wake(self);
	pthread_mutex_lock(&self->lock);
	while (self->flush_done < target)
		pthread_cond_wait(&self->cond, &self->lock);
	pthread_mutex_unlock(&self->lock);
	/* Callers of vmm_notifier_dispatch_pending() may still be in a function. */
	pthread_rwlock_wrlock(&self->release_lock);
	pthread_rwlock_unlock(&self->release_lock);
}

bool
vmm_notifier_dispatch_pending(VmmNotifier *self)
{
	PollSet set;
	bool called = false;

	poll_set_init(&set);

	pthread_rwlock_rdlock(&self->release_lock);
	pthread_mutex_lock(&self->lock);
	if (self->running && !self->stopping)
		append_watches(self, &set);
	pthread_mutex_unlock(&self->lock);
	if (set.len > 0 && poll(set.fds, set.len, 0) > 0)
		called = dispatch(&set, 0);
	pthread_rwlock_unlock(&self->release_lock);
	poll_set_clear(&set);
	return called;
}
