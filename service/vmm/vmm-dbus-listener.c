/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm-dbus-connection.h"
#include "vmm-log.h"

#define BACKLOG 16
/* How long to stop accepting when out of file descriptors. */
#define RETRY_ACCEPT_MS 100

struct _VmmDBusListener {
	VmmLoop *loop;
	int fd;
	VmmLoopSource *source;
	VmmLoopSource *retry_source;
	bool out_of_fds_logged;
	char *path;
	VmmDBusAcceptFunc accepted;
	void *user_data;
};

static bool
resume_accepting(void *user_data)
{
	VmmDBusListener *self = user_data;

	self->retry_source = NULL;
	vmm_loop_set_fd_events(self->loop, self->source, EPOLLIN);
	return false;
}

/*
 * The listening socket stays readable while the connection waits: rather
 * than spinning on it, stop watching it for a while.
 */
static void
pause_accepting(VmmDBusListener *self)
{
	if (!self->out_of_fds_logged)
		vmm_warning("Cannot accept a connection on %s: %s: retrying every %d ms",
			    self->path,
			    strerror(errno),
			    RETRY_ACCEPT_MS);
	self->out_of_fds_logged = true;
	vmm_loop_set_fd_events(self->loop, self->source, 0);
	self->retry_source =
		vmm_loop_add_timeout(self->loop, RETRY_ACCEPT_MS, resume_accepting, self);
}

static bool
on_connection(int fd, uint32_t events, void *user_data)
{
	VmmDBusListener *self = user_data;

	for (;;) {
		int connection = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (connection >= 0) {
			self->out_of_fds_logged = false;
			self->accepted(connection, self->user_data);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE)
			pause_accepting(self);
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			vmm_warning("Cannot accept a connection on %s: %s",
				    self->path,
				    strerror(errno));
		return true;
	}
}

static bool
bind_and_listen(int fd, const char *path, VmmError **error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(address.sun_path))
		return vmm_set_error(
			error, ENAMETOOLONG, "Cannot listen on %s: path too long", path);
	memcpy(address.sun_path, path, strlen(path) + 1);
	if (bind(fd, (const struct sockaddr *)&address, sizeof(address)) != 0)
		return vmm_set_error(
			error, errno, "Cannot listen on %s: %s", path, strerror(errno));
	if (listen(fd, BACKLOG) != 0) {
		vmm_set_error(error, errno, "Cannot listen on %s: %s", path, strerror(errno));
		unlink(path);
		return false;
	}
	return true;
}

VmmDBusListener *
vmm_dbus_listener_new(VmmLoop *loop,
		      const char *path,
		      VmmDBusAcceptFunc accepted,
		      void *user_data,
		      VmmError **error)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	VmmDBusListener *self;

	if (fd < 0) {
		vmm_error_from_errno(error, "Creating the control socket");
		return NULL;
	}
	if (!bind_and_listen(fd, path, error)) {
		close(fd);
		return NULL;
	}
	self = vmm_new0(VmmDBusListener, 1);
	self->loop = loop;
	self->fd = fd;
	self->path = vmm_strdup(path);
	self->accepted = accepted;
	self->user_data = user_data;
	self->source = vmm_loop_add_fd(loop, fd, EPOLLIN, on_connection, self);
	return self;
}

void
vmm_dbus_listener_free(VmmDBusListener *self)
{
	if (self == NULL)
		return;
	vmm_loop_clear_source(self->loop, &self->retry_source);
	vmm_loop_clear_source(self->loop, &self->source);
	vmm_clear_fd(&self->fd);
	if (unlink(self->path) != 0 && errno != ENOENT)
		vmm_warning("Cannot remove %s: %s", self->path, strerror(errno));
	free(self->path);
	free(self);
}
