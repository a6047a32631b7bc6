/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm-dbus-auth.h"
#include "vmm-dbus-connection.h"
#include "vmm-log.h"

#define READ_CHUNK 4096
#define KEEP_CAPACITY (64 * 1024)
/* Reads per wake-up, so that one busy peer does not starve the others. */
#define MAX_READS_PER_EVENT 16

typedef struct {
	uint8_t *data;
	size_t length;
	size_t capacity;
} Buffer;

struct _VmmDBusConnection {
	VmmLoop *loop;
	int fd;
	VmmLoopSource *source;
	uint32_t events;
	VmmDBusAuth auth;
	bool got_nul;
	bool broken; /* closing: the socket is shut down, the closed callback is due */
	uint32_t last_serial;
	Buffer in;
	size_t in_wanted; /* the whole of the message that is arriving */
	Buffer out;
	size_t out_sent;
	VmmDBusMethodFunc method_call;
	VmmDBusClosedFunc closed_func;
	void *user_data;
};

static void
buffer_reserve(Buffer *buffer, size_t room)
{
	if (buffer->capacity - buffer->length >= room)
		return;
	buffer->capacity = VMM_MAX(buffer->length + room, buffer->capacity * 2);
	buffer->data = vmm_renew(uint8_t, buffer->data, buffer->capacity);
}

/* Drops the first @used bytes; an empty buffer lets go of a large allocation. */
static void
buffer_consume(Buffer *buffer, size_t used)
{
	memmove(buffer->data, buffer->data + used, buffer->length - used);
	buffer->length -= used;
	if (buffer->length == 0 && buffer->capacity > KEEP_CAPACITY) {
		free(buffer->data);
		*buffer = (Buffer){0};
	}
}

/* Shuts the socket down, so that the loop wakes us up to report the close. */
static void
break_connection(VmmDBusConnection *self, const char *why)
{
	if (self->broken)
		return;
	vmm_debug("D-Bus peer on fd %d: %s", self->fd, why);
	self->broken = true;
	shutdown(self->fd, SHUT_RDWR);
}

bool
vmm_dbus_connection_is_open(VmmDBusConnection *self)
{
	return self->auth.state == VMM_DBUS_AUTH_DONE && !self->broken;
}

static void
write_queued(VmmDBusConnection *self)
{
	while (!self->broken && self->out_sent < self->out.length) {
		ssize_t n = send(self->fd,
				 self->out.data + self->out_sent,
				 self->out.length - self->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			break_connection(self, strerror(errno));
			break;
		}
		self->out_sent += (size_t)n;
	}
	if (self->out_sent == self->out.length) {
		buffer_consume(&self->out, self->out_sent);
		self->out_sent = 0;
	}
}

static void
update_events(VmmDBusConnection *self)
{
	uint32_t events = EPOLLIN | (self->out.length > 0 ? EPOLLOUT : 0);

	if (self->source != NULL && events != self->events &&
	    vmm_loop_set_fd_events(self->loop, self->source, events))
		self->events = events;
}

static void
queue(VmmDBusConnection *self, const void *bytes, size_t size)
{
	bool was_idle = self->out.length == 0;

	if (self->out.length - self->out_sent + size > VMM_DBUS_CONNECTION_MAX_QUEUED) {
		break_connection(self, "it does not read what it is sent");
		return;
	}
	/* Moving what a slow peer has not read yet for every message would be quadratic. */
	if (self->out_sent > 0 && self->out.capacity - self->out.length < size) {
		buffer_consume(&self->out, self->out_sent);
		self->out_sent = 0;
	}
	buffer_reserve(&self->out, size);
	memcpy(self->out.data + self->out.length, bytes, size);
	self->out.length += size;
	if (was_idle)
		write_queued(self);
	update_events(self);
}

bool
vmm_dbus_connection_send_blob(VmmDBusConnection *self, uint8_t *blob, size_t size)
{
	uint32_t serial;

	if (!vmm_dbus_connection_is_open(self))
		return false;
	if (++self->last_serial == 0)
		self->last_serial = 1;
	serial = blob[0] == 'B' ? htobe32(self->last_serial) : htole32(self->last_serial);
	memcpy(blob + 8, &serial, sizeof(serial));
	queue(self, blob, size);
	return !self->broken;
}

bool
vmm_dbus_connection_send(VmmDBusConnection *self, const VmmDBusMessage *message)
{
	vmm_autoptr(VmmError) error = NULL;
	vmm_autofree uint8_t *blob = NULL;
	size_t size;

	if (!vmm_dbus_connection_is_open(self))
		return false;
	blob = vmm_dbus_message_to_blob(message, 1, &size, &error);
	if (blob == NULL) {
		vmm_warning("%s", error->message);
		return false;
	}
	return vmm_dbus_connection_send_blob(self, blob, size);
}

void
vmm_dbus_connection_reply(VmmDBusConnection *self,
			  const VmmDBusMessage *call,
			  VmmDBusMessage *reply)
{
	if (!(call->flags & VMM_DBUS_FLAG_NO_REPLY_EXPECTED))
		vmm_dbus_connection_send(self, reply);
	vmm_dbus_message_free(reply);
}

void
vmm_dbus_connection_reply_error(VmmDBusConnection *self,
				const VmmDBusMessage *call,
				const char *error_name,
				const char *format,
				...)
{
	VmmDBusMessage *reply;
	va_list args;

	va_start(args, format);
	reply = vmm_dbus_message_new_error_valist(call, error_name, format, args);
	va_end(args);
	vmm_dbus_connection_reply(self, call, reply);
}

/* One authentication line from @data; returns the bytes used, 0 until a whole line is there. */
static size_t
take_auth_line(VmmDBusConnection *self, const uint8_t *data, size_t length)
{
	const uint8_t *end;
	const char *reply;

	if (!self->got_nul) {
		/* The byte that carries credentials on systems that need it. */
		if (data[0] != '\0')
			break_connection(self, "no NUL byte before authentication");
		self->got_nul = true;
		return 1;
	}
	end = memmem(data, VMM_MIN(length, (size_t)VMM_DBUS_AUTH_MAX_LINE + 2), "\r\n", 2);
	if (end == NULL) {
		if (length >= VMM_DBUS_AUTH_MAX_LINE + 2)
			break_connection(self, "authentication line too long");
		return 0;
	}
	reply = vmm_dbus_auth_handle_line(&self->auth, (const char *)data, (size_t)(end - data));
	if (reply == NULL)
		break_connection(self, "authentication failed");
	else if (reply[0] != '\0')
		queue(self, reply, strlen(reply));
	return (size_t)(end - data) + 2;
}

static void
dispatch(VmmDBusConnection *self, const VmmDBusMessage *message)
{
	/* The worker calls no methods of its peers and subscribes to no signals. */
	if (message->type == VMM_DBUS_METHOD_CALL)
		self->method_call(self, message, self->user_data);
}

/* One message from @data; returns the bytes used, 0 until all of it is there. */
static size_t
take_message(VmmDBusConnection *self, const uint8_t *data, size_t length)
{
	vmm_autoptr(VmmError) error = NULL;
	vmm_autoptr(VmmDBusMessage) message = NULL;
	size_t size;

	if (length < VMM_DBUS_FIXED_HEADER_SIZE)
		return 0;
	if (!vmm_dbus_message_get_size(data, &size, &error)) {
		break_connection(self, error->message);
		return 0;
	}
	if (size > VMM_DBUS_CONNECTION_MAX_RECEIVED) {
		break_connection(self, "message too large");
		return 0;
	}
	if (length < size) {
		self->in_wanted = size;
		return 0;
	}
	message = vmm_dbus_message_new_from_blob(data, size, &error);
	if (message == NULL) {
		break_connection(self, error->message);
		return 0;
	}
	self->in_wanted = 0;
	dispatch(self, message);
	return size;
}

static void
process_input(VmmDBusConnection *self)
{
	size_t used = 0;

	while (!self->broken && used < self->in.length) {
		const uint8_t *data = self->in.data + used;
		size_t length = self->in.length - used;
		size_t n = self->auth.state == VMM_DBUS_AUTH_DONE
				   ? take_message(self, data, length)
				   : take_auth_line(self, data, length);

		if (n == 0)
			break;
		used += n;
	}
	buffer_consume(&self->in, used);
}

static void
receive(VmmDBusConnection *self)
{
	for (int i = 0; i < MAX_READS_PER_EVENT && !self->broken; i++) {
		size_t missing =
			self->in_wanted > self->in.length ? self->in_wanted - self->in.length : 0;
		ssize_t n;

		buffer_reserve(&self->in, VMM_MAX((size_t)READ_CHUNK, missing));
		n = recv(self->fd,
			 self->in.data + self->in.length,
			 self->in.capacity - self->in.length,
			 MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			break_connection(self, n == 0 ? "closed" : strerror(errno));
			return;
		}
		self->in.length += (size_t)n;
		process_input(self);
	}
}

static bool
on_events(int fd, uint32_t events, void *user_data)
{
	VmmDBusConnection *self = user_data;

	if (events & EPOLLOUT)
		write_queued(self);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		receive(self);
	if (!self->broken) {
		update_events(self);
		return true;
	}
	/* Out of the loop while the descriptor is still open; the callback may free us. */
	vmm_loop_clear_source(self->loop, &self->source);
	self->closed_func(self, self->user_data);
	return false;
}

static void
get_peer_uid(int fd, bool *known, uid_t *uid)
{
	struct ucred credentials;
	socklen_t length = sizeof(credentials);

	*known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 &&
		 length == sizeof(credentials);
	*uid = *known ? credentials.uid : (uid_t)-1;
}

VmmDBusConnection *
vmm_dbus_connection_new(VmmLoop *loop,
			int fd,
			const char *guid,
			VmmDBusMethodFunc method_call,
			VmmDBusClosedFunc closed,
			void *user_data)
{
	VmmDBusConnection *self = vmm_new0(VmmDBusConnection, 1);
	bool peer_known;
	uid_t peer_uid;

	self->loop = loop;
	self->fd = fd;
	self->method_call = method_call;
	self->closed_func = closed;
	self->user_data = user_data;
	get_peer_uid(fd, &peer_known, &peer_uid);
	vmm_dbus_auth_init(&self->auth, guid, peer_known, peer_uid);
	self->events = EPOLLIN;
	self->source = vmm_loop_add_fd(loop, fd, self->events, on_events, self);
	return self;
}

void
vmm_dbus_connection_free(VmmDBusConnection *self)
{
	if (self == NULL)
		return;
	vmm_loop_clear_source(self->loop, &self->source);
	vmm_clear_fd(&self->fd);
	free(self->in.data);
	free(self->out.data);
	free(self);
}

bool
vmm_dbus_connection_flush(VmmDBusConnection *self, int timeout_ms)
{
	int64_t deadline = vmm_monotonic_us() + (int64_t)timeout_ms * 1000;

	for (write_queued(self); !self->broken && self->out.length > 0; write_queued(self)) {
		struct pollfd poll_fd = {.fd = self->fd, .events = POLLOUT};
		int64_t left_ms = (deadline - vmm_monotonic_us() + 999) / 1000;

		if (left_ms <= 0)
			break;
		if (poll(&poll_fd, 1, (int)VMM_MIN(left_ms, (int64_t)INT32_MAX)) < 0 &&
		    errno != EINTR)
			break;
	}
	update_events(self);
	return !self->broken && self->out.length == 0;
}
