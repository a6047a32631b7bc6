/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm-log.h"
#include "vmm-loop.h"

#define MAX_EVENTS 16

struct _VmmLoopSource {
	VmmLoopSource *next;
	int fd; /* -1 for a timeout */
	VmmLoopFdFunc fd_func;
	VmmLoopFunc timeout_func;
	void *user_data;
	int64_t interval_us;
	int64_t deadline_us;
	bool removed;
};

typedef struct _VmmLoopCall VmmLoopCall;
struct _VmmLoopCall {
	VmmLoopCall *next;
	VmmLoopCallFunc func;
	void *user_data;
};

struct _VmmLoop {
	int epoll_fd;
	int wake_fd;
	VmmLoopSource *sources;
	pthread_mutex_t lock; /* calls and quit */
	VmmLoopCall *calls;
	VmmLoopCall **calls_tail;
	bool quit;
};

VmmLoop *
vmm_loop_new(VmmError **error)
{
	VmmLoop *self = vmm_new0(VmmLoop, 1);
	struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};

	pthread_mutex_init(&self->lock, NULL);
	self->calls_tail = &self->calls;
	self->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	self->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (self->wake_fd < 0 || self->epoll_fd < 0 ||
	    epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, self->wake_fd, &event) < 0) {
		vmm_error_from_errno(error, "creating the main loop");
		vmm_loop_free(self);
		return NULL;
	}
	return self;
}

static void
free_removed_sources(VmmLoop *self)
{
	VmmLoopSource **link = &self->sources;

	while (*link != NULL) {
		VmmLoopSource *source = *link;

		if (source->removed) {
			*link = source->next;
			free(source);
		} else {
			link = &source->next;
		}
	}
}

void
vmm_loop_free(VmmLoop *self)
{
	if (self == NULL)
		return;
	for (VmmLoopSource *source = self->sources; source != NULL; source = source->next)
		source->removed = true;
	free_removed_sources(self);
	while (self->calls != NULL) {
		VmmLoopCall *call = self->calls;

		self->calls = call->next;
		free(call);
	}
	vmm_clear_fd(&self->epoll_fd);
	vmm_clear_fd(&self->wake_fd);
	pthread_mutex_destroy(&self->lock);
	free(self);
}

static VmmLoopSource *
add_source(VmmLoop *self, VmmLoopSource *source)
{
	source->next = self->sources;
	self->sources = source;
	return source;
}

VmmLoopSource *
vmm_loop_add_fd(VmmLoop *self, int fd, uint32_t events, VmmLoopFdFunc func, void *user_data)
{
	VmmLoopSource *source = vmm_new0(VmmLoopSource, 1);
	struct epoll_event event = {.events = events, .data.ptr = source};

	source->fd = fd;
	source->fd_func = func;
	source->user_data = user_data;
	if (epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0)
		vmm_fatal("cannot watch fd %d: %s", fd, strerror(errno));
	return add_source(self, source);
}

bool
vmm_loop_set_fd_events(VmmLoop *self, VmmLoopSource *source, uint32_t events)
{
	struct epoll_event event = {.events = events, .data.ptr = source};

	return epoll_ctl(self->epoll_fd, EPOLL_CTL_MOD, source->fd, &event) == 0;
}

VmmLoopSource *
vmm_loop_add_timeout(VmmLoop *self, unsigned interval_ms, VmmLoopFunc func, void *user_data)
{
	VmmLoopSource *source = vmm_new0(VmmLoopSource, 1);

	source->fd = -1;
	source->timeout_func = func;
	source->user_data = user_data;
	source->interval_us = (int64_t)interval_ms * 1000;
	source->deadline_us = vmm_monotonic_us() + source->interval_us;
	return add_source(self, source);
}

void
vmm_loop_remove(VmmLoop *self, VmmLoopSource *source)
{
	if (source == NULL || source->removed)
		return;
	source->removed = true;
	if (source->fd >= 0)
		epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, source->fd, NULL);
}

void
vmm_loop_clear_source(VmmLoop *self, VmmLoopSource **source)
{
	VmmLoopSource *value = vmm_steal_pointer(source);

	vmm_loop_remove(self, value);
}

static void
wake(VmmLoop *self)
{
	uint64_t one = 1;

	if (write(self->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vmm_warning("cannot wake the main loop: %s", strerror(errno));
}

void
vmm_loop_invoke(VmmLoop *self, VmmLoopCallFunc func, void *user_data)
{
	VmmLoopCall *call = vmm_new0(VmmLoopCall, 1);

	call->func = func;
	call->user_data = user_data;
	pthread_mutex_lock(&self->lock);
	*self->calls_tail = call;
	self->calls_tail = &call->next;
	pthread_mutex_unlock(&self->lock);
	wake(self);
}

void
vmm_loop_quit(VmmLoop *self)
{
	pthread_mutex_lock(&self->lock);
	self->quit = true;
	pthread_mutex_unlock(&self->lock);
	wake(self);
}

static bool
should_quit(VmmLoop *self)
{
	bool quit;

	pthread_mutex_lock(&self->lock);
	quit = self->quit;
	pthread_mutex_unlock(&self->lock);
	return quit;
}

static void
run_calls(VmmLoop *self)
{
	uint64_t count;
	VmmLoopCall *calls;

	if (read(self->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		vmm_warning("cannot read the main loop's wake-up: %s", strerror(errno));
	pthread_mutex_lock(&self->lock);
	calls = self->calls;
	self->calls = NULL;
	self->calls_tail = &self->calls;
	pthread_mutex_unlock(&self->lock);
	while (calls != NULL) {
		VmmLoopCall *call = calls;

		calls = call->next;
		call->func(call->user_data);
		free(call);
	}
}

/* Milliseconds until the first timeout is due, -1 for none. */
static int
next_timeout_ms(VmmLoop *self)
{
	int64_t now = vmm_monotonic_us();
	int64_t first = INT64_MAX;

	for (VmmLoopSource *source = self->sources; source != NULL; source = source->next) {
		if (source->fd < 0 && !source->removed)
			first = VMM_MIN(first, source->deadline_us);
	}
	if (first == INT64_MAX)
		return -1;
	if (first <= now)
		return 0;
	return (int)VMM_MIN((first - now + 999) / 1000, (int64_t)INT32_MAX);
}

static void
run_due_timeouts(VmmLoop *self)
{
	int64_t now = vmm_monotonic_us();

	for (VmmLoopSource *source = self->sources; source != NULL; source = source->next) {
		if (source->fd >= 0 || source->removed || source->deadline_us > now)
			continue;
		source->deadline_us = now + source->interval_us;
		if (!source->timeout_func(source->user_data))
			vmm_loop_remove(self, source);
	}
}

static void
dispatch_fd(VmmLoop *self, const struct epoll_event *event)
{
	VmmLoopSource *source = event->data.ptr;

	if (source == NULL) {
		run_calls(self);
		return;
	}
	if (!source->removed && !source->fd_func(source->fd, event->events, source->user_data))
		vmm_loop_remove(self, source);
}

void
vmm_loop_run(VmmLoop *self)
{
	struct epoll_event events[MAX_EVENTS];

	while (!should_quit(self)) {
		int n = epoll_wait(self->epoll_fd, events, MAX_EVENTS, next_timeout_ms(self));

		if (n < 0 && errno != EINTR)
			vmm_fatal("epoll_wait failed: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			dispatch_fd(self, &events[i]);
		run_due_timeouts(self);
		free_removed_sources(self);
	}
	pthread_mutex_lock(&self->lock);
	self->quit = false;
	pthread_mutex_unlock(&self->lock);
}
