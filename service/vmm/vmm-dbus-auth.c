/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "vmm-dbus-auth.h"

#define REJECTED "REJECTED EXTERNAL\r\n"
#define ERROR "ERROR\r\n"

void
vmm_dbus_auth_init(VmmDBusAuth *self, const char *guid, bool peer_known, uid_t peer_uid)
{
	*self = (VmmDBusAuth){
		.state = VMM_DBUS_AUTH_WAITING_FOR_AUTH,
		.peer_known = peer_known,
		.peer_uid = peer_uid,
	};
	snprintf(self->reply, sizeof(self->reply), "OK %s\r\n", guid);
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* EXTERNAL's identity: the uid in decimal, hex-encoded; empty means "whoever I am". */
static bool
identity_matches(const VmmDBusAuth *self, const char *hex)
{
	size_t length = strlen(hex);
	uint64_t uid = 0;

	if (!self->peer_known || length % 2 != 0 || length > 2 * 10)
		return false;
	for (size_t i = 0; i < length; i += 2) {
		int high = hex_value(hex[i]);
		int low = hex_value(hex[i + 1]);
		int digit = high << 4 | low;

		if (high < 0 || low < 0 || digit < '0' || digit > '9')
			return false;
		uid = uid * 10 + (uint64_t)(digit - '0');
	}
	return length == 0 || uid == self->peer_uid;
}

static const char *
accept_identity(VmmDBusAuth *self, const char *hex)
{
	if (!identity_matches(self, hex)) {
		self->state = VMM_DBUS_AUTH_WAITING_FOR_AUTH;
		return REJECTED;
	}
	self->state = VMM_DBUS_AUTH_WAITING_FOR_BEGIN;
	return self->reply;
}

static const char *
handle_auth(VmmDBusAuth *self, char *argument)
{
	char *response;

	if (self->state != VMM_DBUS_AUTH_WAITING_FOR_AUTH)
		return ERROR;
	if (argument == NULL)
		return REJECTED; /* the client asks which mechanisms there are */
	response = strchr(argument, ' ');
	if (response != NULL)
		*response++ = '\0';
	if (strcmp(argument, "EXTERNAL") != 0)
		return REJECTED;
	if (response == NULL) {
		/* sd-bus sends no initial response: it answers the empty challenge with DATA. */
		self->state = VMM_DBUS_AUTH_WAITING_FOR_DATA;
		return "DATA\r\n";
	}
	return accept_identity(self, response);
}

static const char *
handle_command(VmmDBusAuth *self, const char *command, char *argument)
{
	if (strcmp(command, "AUTH") == 0)
		return handle_auth(self, argument);
	if (strcmp(command, "DATA") == 0) {
		if (self->state != VMM_DBUS_AUTH_WAITING_FOR_DATA)
			return ERROR;
		return accept_identity(self, argument != NULL ? argument : "");
	}
	if (strcmp(command, "BEGIN") == 0) {
		if (self->state != VMM_DBUS_AUTH_WAITING_FOR_BEGIN)
			return NULL; /* the specification: disconnect */
		self->state = VMM_DBUS_AUTH_DONE;
		return "";
	}
	if (strcmp(command, "CANCEL") == 0 || strcmp(command, "ERROR") == 0) {
		self->state = VMM_DBUS_AUTH_WAITING_FOR_AUTH;
		return REJECTED;
	}
	/* NEGOTIATE_UNIX_FD among them: the worker passes no file descriptors. */
	return ERROR;
}

static bool
is_printable_ascii(const char *line, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		if (line[i] < 0x20 || line[i] > 0x7e)
			return false;
	}
	return true;
}

const char *
vmm_dbus_auth_handle_line(VmmDBusAuth *self, const char *line, size_t length)
{
	char copy[VMM_DBUS_AUTH_MAX_LINE + 1];
	char *argument;

	if (self->state == VMM_DBUS_AUTH_DONE || length > VMM_DBUS_AUTH_MAX_LINE ||
	    !is_printable_ascii(line, length) || ++self->commands > VMM_DBUS_AUTH_MAX_COMMANDS)
		return NULL;
	memcpy(copy, line, length);
	copy[length] = '\0';
	argument = strchr(copy, ' ');
	if (argument != NULL)
		*argument++ = '\0';
	return handle_command(self, copy, argument);
}

void
vmm_dbus_generate_guid(char guid[VMM_DBUS_GUID_LENGTH + 1])
{
	uint8_t bytes[VMM_DBUS_GUID_LENGTH / 2];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
		/* Unique is enough: a GUID is no secret. */
		uint64_t seed = (uint64_t)vmm_monotonic_us() ^ ((uint64_t)getpid() << 32);

		for (size_t i = 0; i < sizeof(bytes); i++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			bytes[i] = (uint8_t)(seed >> 56);
		}
	}
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(guid + 2 * i, 3, "%02x", bytes[i]);
}
