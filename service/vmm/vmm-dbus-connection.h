/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-dbus-message.h"
#include "vmm-loop.h"

/*
 * The server end of a peer-to-peer D-Bus connection on a connected unix
 * stream socket, on a VmmLoop: authentication (vmm-dbus-auth.h), then
 * messages both ways. Method calls from the peer go to a handler; replies
 * and signals are queued and sent as the socket takes them.
 */

/* The most a received message may be: the worker's interface takes a few bytes per call. */
#define VMM_DBUS_CONNECTION_MAX_RECEIVED (1u << 20)
/* The most that may wait to be sent: a peer that reads nothing is dropped beyond it. */
#define VMM_DBUS_CONNECTION_MAX_QUEUED (16u << 20)

typedef struct _VmmDBusConnection VmmDBusConnection;

/* A method call: answer it with vmm_dbus_connection_reply(); do not free the connection here. */
typedef void (*VmmDBusMethodFunc)(VmmDBusConnection *connection,
				  const VmmDBusMessage *call,
				  void *user_data);
/*
 * The peer went away, or broke the protocol: nothing more is received or
 * sent. Called once, from the loop; the connection may be freed here.
 */
typedef void (*VmmDBusClosedFunc)(VmmDBusConnection *connection, void *user_data);

/* Takes @fd, a connected stream socket; @guid is the server's, 32 hex digits. */
VmmDBusConnection *vmm_dbus_connection_new(VmmLoop *loop,
					   int fd,
					   const char *guid,
					   VmmDBusMethodFunc method_call,
					   VmmDBusClosedFunc closed,
					   void *user_data);
void vmm_dbus_connection_free(VmmDBusConnection *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDBusConnection, vmm_dbus_connection_free)

/* Authenticated and not closed: messages can be sent. */
bool vmm_dbus_connection_is_open(VmmDBusConnection *self);
/*
 * Queues @message with the next serial. Returns false, and sends nothing,
 * before authentication, after the close, or for a message a peer would refuse.
 */
bool vmm_dbus_connection_send(VmmDBusConnection *self, const VmmDBusMessage *message);
/*
 * Sends @blob, from vmm_dbus_message_to_blob() with any serial, under the
 * connection's next serial, written into @blob: one message serialised once
 * for many connections.
 */
bool vmm_dbus_connection_send_blob(VmmDBusConnection *self, uint8_t *blob, size_t size);
/* Sends @reply, which it takes, unless @call asked for none. */
void vmm_dbus_connection_reply(VmmDBusConnection *self,
			       const VmmDBusMessage *call,
			       VmmDBusMessage *reply);
void vmm_dbus_connection_reply_error(VmmDBusConnection *self,
				     const VmmDBusMessage *call,
				     const char *error_name,
				     const char *format,
				     ...) VMM_PRINTF(4, 5);
/*
 * Blocks until everything queued is sent, at most @timeout_ms: for the last
 * messages before the process ends. Returns whether all of it went out.
 */
bool vmm_dbus_connection_flush(VmmDBusConnection *self, int timeout_ms);

/* A unix socket at a path that accepts connections, for vmm_dbus_connection_new(). */
typedef struct _VmmDBusListener VmmDBusListener;

/* @fd: a new connected socket, non-blocking, which the callback takes. */
typedef void (*VmmDBusAcceptFunc)(int fd, void *user_data);

/* Creates the socket at @path, which must not exist. */
VmmDBusListener *vmm_dbus_listener_new(VmmLoop *loop,
				       const char *path,
				       VmmDBusAcceptFunc accepted,
				       void *user_data,
				       VmmError **error);
/* Stops listening and removes the socket file. */
void vmm_dbus_listener_free(VmmDBusListener *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDBusListener, vmm_dbus_listener_free)
