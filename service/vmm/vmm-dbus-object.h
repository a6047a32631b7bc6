/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-dbus-connection.h"

/*
 * One object with one interface of read-only properties and methods, as a
 * peer sees it: method calls checked against their signatures and handed on,
 * org.freedesktop.DBus.Properties, Introspectable and Peer, and errors with
 * the standard names for everything else. Bus clients (gdbus call --address,
 * busctl --address) greet their peer with org.freedesktop.DBus.Hello and
 * AddMatch as if it were a bus: those are answered too, at
 * /org/freedesktop/DBus, so that tests and admins can use them.
 */

#define VMM_DBUS_ERROR_FAILED "org.freedesktop.DBus.Error.Failed"
#define VMM_DBUS_ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
#define VMM_DBUS_ERROR_UNKNOWN_OBJECT "org.freedesktop.DBus.Error.UnknownObject"
#define VMM_DBUS_ERROR_UNKNOWN_INTERFACE "org.freedesktop.DBus.Error.UnknownInterface"
#define VMM_DBUS_ERROR_UNKNOWN_METHOD "org.freedesktop.DBus.Error.UnknownMethod"
#define VMM_DBUS_ERROR_UNKNOWN_PROPERTY "org.freedesktop.DBus.Error.UnknownProperty"
#define VMM_DBUS_ERROR_PROPERTY_READ_ONLY "org.freedesktop.DBus.Error.PropertyReadOnly"

/* Called with arguments of the method's signature; it must answer @call. */
typedef void (*VmmDBusMethodHandler)(void *user_data,
				     VmmDBusConnection *connection,
				     const VmmDBusMessage *call);

typedef struct {
	const char *name;
	const char *in_signature;
	VmmDBusMethodHandler handler;
} VmmDBusMethodInfo;

typedef struct {
	const char *name;
	const char *signature;
} VmmDBusPropertyInfo;

typedef struct {
	const char *path;
	const char *interface;
	/* The interface's <interface> element, for Introspect. */
	const char *interface_xml;
	const VmmDBusMethodInfo *methods;
	unsigned n_methods;
	/* At most 32, numbered by their index here. */
	const VmmDBusPropertyInfo *properties;
	unsigned n_properties;
	/* Writes the value of property @index, of its signature. */
	void (*get_property)(void *user_data, unsigned index, VmmDBusWriter *writer);
	void *user_data;
	/* For GetMachineId: empty unless vmm_dbus_object_read_machine_id() succeeded. */
	char machine_id[33];
} VmmDBusObject;

/*
 * Reads /etc/machine-id into @self->machine_id: before the sandbox, which
 * refuses to open files. GetMachineId answers Failed if it could not be read.
 */
void vmm_dbus_object_read_machine_id(VmmDBusObject *self);

/* Answers a method call on @connection, whatever its path. */
void vmm_dbus_object_handle_call(const VmmDBusObject *self,
				 VmmDBusConnection *connection,
				 const VmmDBusMessage *call);

/* PropertiesChanged with the values of the properties whose bit (1 << index) is set. */
VmmDBusMessage *vmm_dbus_object_new_properties_changed(const VmmDBusObject *self, uint32_t changed);

/* The Introspect answer at @path. */
char *vmm_dbus_object_introspect(const VmmDBusObject *self, const char *path);
