/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/types.h>

#include "vmm-base.h"

/*
 * The server side of the authentication conversation that opens every D-Bus
 * connection (the D-Bus specification, "Authentication Protocol"), without
 * I/O: the connection hands it one line at a time. Only EXTERNAL is offered:
 * the peer is whoever the kernel says connected, and the socket's file
 * permissions or the inherited descriptor decide who may.
 */

/* Longer lines, or more commands than this, end the connection. */
#define VMM_DBUS_AUTH_MAX_LINE 1024
#define VMM_DBUS_AUTH_MAX_COMMANDS 32
#define VMM_DBUS_GUID_LENGTH 32

typedef enum {
	VMM_DBUS_AUTH_WAITING_FOR_AUTH,
	VMM_DBUS_AUTH_WAITING_FOR_DATA,
	VMM_DBUS_AUTH_WAITING_FOR_BEGIN,
	VMM_DBUS_AUTH_DONE,
} VmmDBusAuthState;

typedef struct {
	VmmDBusAuthState state;
	unsigned commands;
	bool peer_known;
	uid_t peer_uid;
	char reply[VMM_DBUS_GUID_LENGTH + 8]; /* "OK <guid>\r\n" */
} VmmDBusAuth;

/* @peer_known: whether @peer_uid is the peer's, from SO_PEERCRED. */
void vmm_dbus_auth_init(VmmDBusAuth *self, const char *guid, bool peer_known, uid_t peer_uid);
/*
 * One line from the client, without its CR LF. Returns what to answer,
 * CR LF included ("" for nothing), or NULL when the connection must end.
 * After BEGIN the state is VMM_DBUS_AUTH_DONE and messages follow.
 */
const char *vmm_dbus_auth_handle_line(VmmDBusAuth *self, const char *line, size_t length);

/* A new server GUID: 32 random hex digits. */
void vmm_dbus_generate_guid(char guid[VMM_DBUS_GUID_LENGTH + 1]);
