/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>

#include "vmm-dbus-object.h"

#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"
#define INTROSPECTABLE_INTERFACE "org.freedesktop.DBus.Introspectable"
#define PEER_INTERFACE "org.freedesktop.DBus.Peer"
#define BUS_PATH "/org/freedesktop/DBus"
#define BUS_INTERFACE "org.freedesktop.DBus"
/* The name bus clients are told they have. */
#define UNIQUE_NAME ":1.1"

static const char doctype_xml[] =
	"<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
	"                      \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n";

static const char properties_xml[] =
	"  <interface name=\"" PROPERTIES_INTERFACE "\">\n"
	"    <method name=\"Get\">\n"
	"      <arg type=\"s\" name=\"interface_name\" direction=\"in\"/>\n"
	"      <arg type=\"s\" name=\"property_name\" direction=\"in\"/>\n"
	"      <arg type=\"v\" name=\"value\" direction=\"out\"/>\n"
	"    </method>\n"
	"    <method name=\"GetAll\">\n"
	"      <arg type=\"s\" name=\"interface_name\" direction=\"in\"/>\n"
	"      <arg type=\"a{sv}\" name=\"properties\" direction=\"out\"/>\n"
	"    </method>\n"
	"    <method name=\"Set\">\n"
	"      <arg type=\"s\" name=\"interface_name\" direction=\"in\"/>\n"
	"      <arg type=\"s\" name=\"property_name\" direction=\"in\"/>\n"
	"      <arg type=\"v\" name=\"value\" direction=\"in\"/>\n"
	"    </method>\n"
	"    <signal name=\"PropertiesChanged\">\n"
	"      <arg type=\"s\" name=\"interface_name\"/>\n"
	"      <arg type=\"a{sv}\" name=\"changed_properties\"/>\n"
	"      <arg type=\"as\" name=\"invalidated_properties\"/>\n"
	"    </signal>\n"
	"  </interface>\n";

static const char introspectable_and_peer_xml[] =
	"  <interface name=\"" INTROSPECTABLE_INTERFACE "\">\n"
	"    <method name=\"Introspect\">\n"
	"      <arg type=\"s\" name=\"xml_data\" direction=\"out\"/>\n"
	"    </method>\n"
	"  </interface>\n"
	"  <interface name=\"" PEER_INTERFACE "\">\n"
	"    <method name=\"Ping\"/>\n"
	"    <method name=\"GetMachineId\">\n"
	"      <arg type=\"s\" name=\"machine_uuid\" direction=\"out\"/>\n"
	"    </method>\n"
	"  </interface>\n";

static const char bus_xml[] = "  <interface name=\"" BUS_INTERFACE "\">\n"
			      "    <method name=\"Hello\">\n"
			      "      <arg type=\"s\" name=\"unique_name\" direction=\"out\"/>\n"
			      "    </method>\n"
			      "    <method name=\"AddMatch\">\n"
			      "      <arg type=\"s\" name=\"rule\" direction=\"in\"/>\n"
			      "    </method>\n"
			      "  </interface>\n";

typedef enum {
	AT_OBJECT, /* the object's path */
	AT_BUS,    /* /org/freedesktop/DBus */
	AT_ANY,
} Where;

typedef void (*StandardHandler)(const VmmDBusObject *self,
				VmmDBusConnection *connection,
				const VmmDBusMessage *call);

typedef struct {
	const char *interface;
	const char *member;
	const char *in_signature;
	Where where;
	StandardHandler handler;
} StandardMethod;

static void
reply_empty(VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	vmm_dbus_connection_reply(connection, call, vmm_dbus_message_new_method_return(call));
}

static void
reply_string(VmmDBusConnection *connection, const VmmDBusMessage *call, const char *value)
{
	VmmDBusMessage *reply = vmm_dbus_message_new_method_return(call);

	vmm_dbus_write_string(vmm_dbus_message_begin_body(reply, "s"), value);
	vmm_dbus_connection_reply(connection, call, reply);
}

/* The strings a call's signature says it starts with. */
static void
read_strings(const VmmDBusMessage *call, const char **first, const char **second)
{
	VmmDBusReader args;

	vmm_dbus_message_read_body(call, &args);
	vmm_dbus_read_string(&args, first, NULL);
	if (second != NULL)
		vmm_dbus_read_string(&args, second, NULL);
}

static bool
is_own_interface(const VmmDBusObject *self, const char *interface)
{
	/* The specification lets a client leave the interface of a property empty. */
	return interface[0] == '\0' || strcmp(interface, self->interface) == 0;
}

/* The index of a property, or -1 after answering the call with an error. */
static int
find_property(const VmmDBusObject *self,
	      VmmDBusConnection *connection,
	      const VmmDBusMessage *call,
	      const char *interface,
	      const char *name)
{
	if (!is_own_interface(self, interface)) {
		vmm_dbus_connection_reply_error(connection,
						call,
						VMM_DBUS_ERROR_UNKNOWN_INTERFACE,
						"No such interface “%s” with properties",
						interface);
		return -1;
	}
	for (unsigned i = 0; i < self->n_properties; i++) {
		if (strcmp(self->properties[i].name, name) == 0)
			return (int)i;
	}
	vmm_dbus_connection_reply_error(
		connection, call, VMM_DBUS_ERROR_UNKNOWN_PROPERTY, "No such property “%s”", name);
	return -1;
}

static void
write_property(const VmmDBusObject *self, unsigned index, VmmDBusWriter *writer)
{
	vmm_dbus_write_variant_begin(writer, self->properties[index].signature);
	self->get_property(self->user_data, index, writer);
}

static void
handle_get(const VmmDBusObject *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	const char *interface = "", *name = "";
	VmmDBusMessage *reply;
	int index;

	read_strings(call, &interface, &name);
	index = find_property(self, connection, call, interface, name);
	if (index < 0)
		return;
	reply = vmm_dbus_message_new_method_return(call);
	write_property(self, (unsigned)index, vmm_dbus_message_begin_body(reply, "v"));
	vmm_dbus_connection_reply(connection, call, reply);
}

/* An a{sv} of the properties whose bit is set in @which. */
static void
write_properties(const VmmDBusObject *self, uint32_t which, VmmDBusWriter *writer)
{
	VmmDBusArrayMark properties = vmm_dbus_write_array_begin(writer, "{sv}");

	for (unsigned i = 0; i < self->n_properties; i++) {
		if (!(which & (UINT32_C(1) << i)))
			continue;
		vmm_dbus_write_struct_begin(writer);
		vmm_dbus_write_string(writer, self->properties[i].name);
		write_property(self, i, writer);
	}
	vmm_dbus_write_array_end(writer, properties);
}

static bool
is_standard_interface(const char *interface)
{
	return strcmp(interface, PROPERTIES_INTERFACE) == 0 ||
	       strcmp(interface, INTROSPECTABLE_INTERFACE) == 0 ||
	       strcmp(interface, PEER_INTERFACE) == 0;
}

static void
handle_get_all(const VmmDBusObject *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	const char *interface = "";
	VmmDBusMessage *reply;
	uint32_t which = 0;

	read_strings(call, &interface, NULL);
	if (is_own_interface(self, interface))
		which = self->n_properties >= 32 ? UINT32_MAX
						 : (UINT32_C(1) << self->n_properties) - 1;
	else if (!is_standard_interface(interface)) {
		vmm_dbus_connection_reply_error(connection,
						call,
						VMM_DBUS_ERROR_UNKNOWN_INTERFACE,
						"No such interface “%s”",
						interface);
		return;
	}
	reply = vmm_dbus_message_new_method_return(call);
	write_properties(self, which, vmm_dbus_message_begin_body(reply, "a{sv}"));
	vmm_dbus_connection_reply(connection, call, reply);
}

static void
handle_set(const VmmDBusObject *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	const char *interface = "", *name = "";

	read_strings(call, &interface, &name);
	if (find_property(self, connection, call, interface, name) >= 0)
		vmm_dbus_connection_reply_error(connection,
						call,
						VMM_DBUS_ERROR_PROPERTY_READ_ONLY,
						"Property “%s” is read-only",
						name);
}

static void
handle_introspect(const VmmDBusObject *self,
		  VmmDBusConnection *connection,
		  const VmmDBusMessage *call)
{
	vmm_autofree char *xml = vmm_dbus_object_introspect(self, call->path);

	reply_string(connection, call, xml);
}

static void
handle_ping(const VmmDBusObject *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	reply_empty(connection, call);
}

/* 32 hex digits from /etc/machine-id, read before the sandbox refuses to open files. */
void
vmm_dbus_object_read_machine_id(VmmDBusObject *self)
{
	FILE *file = fopen("/etc/machine-id", "re");
	char id[sizeof(self->machine_id)] = "";

	self->machine_id[0] = '\0';
	if (file == NULL)
		return;
	if (fscanf(file, "%32[0-9a-f]", id) == 1 && strlen(id) == 32)
		memcpy(self->machine_id, id, sizeof(id));
	fclose(file);
}

static void
handle_get_machine_id(const VmmDBusObject *self,
		      VmmDBusConnection *connection,
		      const VmmDBusMessage *call)
{
	if (self->machine_id[0] != '\0')
		reply_string(connection, call, self->machine_id);
	else
		vmm_dbus_connection_reply_error(
			connection, call, VMM_DBUS_ERROR_FAILED, "Cannot read the machine ID");
}

static void
handle_hello(const VmmDBusObject *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	reply_string(connection, call, UNIQUE_NAME);
}

static void
handle_add_match(const VmmDBusObject *self,
		 VmmDBusConnection *connection,
		 const VmmDBusMessage *call)
{
	/* A peer sends everything to its one client: there is nothing to filter. */
	reply_empty(connection, call);
}

static const StandardMethod standard_methods[] = {
	{PROPERTIES_INTERFACE, "Get", "ss", AT_OBJECT, handle_get},
	{PROPERTIES_INTERFACE, "GetAll", "s", AT_OBJECT, handle_get_all},
	{PROPERTIES_INTERFACE, "Set", "ssv", AT_OBJECT, handle_set},
	{INTROSPECTABLE_INTERFACE, "Introspect", "", AT_ANY, handle_introspect},
	{PEER_INTERFACE, "Ping", "", AT_ANY, handle_ping},
	{PEER_INTERFACE, "GetMachineId", "", AT_ANY, handle_get_machine_id},
	{BUS_INTERFACE, "Hello", "", AT_BUS, handle_hello},
	{BUS_INTERFACE, "AddMatch", "s", AT_BUS, handle_add_match},
};

static bool
arguments_match(VmmDBusConnection *connection, const VmmDBusMessage *call, const char *expected)
{
	if (strcmp(call->signature, expected) == 0)
		return true;
	vmm_dbus_connection_reply_error(
		connection,
		call,
		VMM_DBUS_ERROR_INVALID_ARGS,
		"Type of message, “(%s)”, does not match expected type “(%s)”",
		call->signature,
		expected);
	return false;
}

static bool
is_available(const VmmDBusObject *self, Where where, const char *path)
{
	return where == AT_ANY || strcmp(path, where == AT_BUS ? BUS_PATH : self->path) == 0;
}

/* A call without an interface may mean a method of any interface of the object. */
static bool
interface_matches(const VmmDBusMessage *call, const char *interface)
{
	return call->interface == NULL || strcmp(call->interface, interface) == 0;
}

static const VmmDBusMethodInfo *
find_own_method(const VmmDBusObject *self, const VmmDBusMessage *call)
{
	if (strcmp(call->path, self->path) != 0 || !interface_matches(call, self->interface))
		return NULL;
	for (unsigned i = 0; i < self->n_methods; i++) {
		if (strcmp(self->methods[i].name, call->member) == 0)
			return &self->methods[i];
	}
	return NULL;
}

static const StandardMethod *
find_standard_method(const VmmDBusObject *self, const VmmDBusMessage *call)
{
	for (size_t i = 0; i < VMM_N_ELEMENTS(standard_methods); i++) {
		const StandardMethod *method = &standard_methods[i];

		if (is_available(self, method->where, call->path) &&
		    interface_matches(call, method->interface) &&
		    strcmp(method->member, call->member) == 0)
			return method;
	}
	return NULL;
}

static bool
has_interface(const VmmDBusObject *self, const char *path, const char *interface)
{
	if (strcmp(path, self->path) == 0 && strcmp(interface, self->interface) == 0)
		return true;
	for (size_t i = 0; i < VMM_N_ELEMENTS(standard_methods); i++) {
		if (is_available(self, standard_methods[i].where, path) &&
		    strcmp(standard_methods[i].interface, interface) == 0)
			return true;
	}
	return false;
}

static void
reply_unknown(const VmmDBusObject *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	if (strcmp(call->path, self->path) != 0 && strcmp(call->path, BUS_PATH) != 0)
		vmm_dbus_connection_reply_error(connection,
						call,
						VMM_DBUS_ERROR_UNKNOWN_OBJECT,
						"No such object path “%s”",
						call->path);
	else if (call->interface != NULL && !has_interface(self, call->path, call->interface))
		vmm_dbus_connection_reply_error(connection,
						call,
						VMM_DBUS_ERROR_UNKNOWN_INTERFACE,
						"No such interface “%s” on object at path %s",
						call->interface,
						call->path);
	else
		vmm_dbus_connection_reply_error(connection,
						call,
						VMM_DBUS_ERROR_UNKNOWN_METHOD,
						"No such method “%s”",
						call->member);
}

void
vmm_dbus_object_handle_call(const VmmDBusObject *self,
			    VmmDBusConnection *connection,
			    const VmmDBusMessage *call)
{
	const VmmDBusMethodInfo *own = find_own_method(self, call);
	const StandardMethod *standard = own == NULL ? find_standard_method(self, call) : NULL;

	if (own != NULL) {
		if (arguments_match(connection, call, own->in_signature))
			own->handler(self->user_data, connection, call);
	} else if (standard != NULL) {
		if (arguments_match(connection, call, standard->in_signature))
			standard->handler(self, connection, call);
	} else {
		reply_unknown(self, connection, call);
	}
}

VmmDBusMessage *
vmm_dbus_object_new_properties_changed(const VmmDBusObject *self, uint32_t changed)
{
	VmmDBusMessage *signal =
		vmm_dbus_message_new_signal(self->path, PROPERTIES_INTERFACE, "PropertiesChanged");
	VmmDBusWriter *writer = vmm_dbus_message_begin_body(signal, "sa{sv}as");

	vmm_dbus_write_string(writer, self->interface);
	write_properties(self, changed, writer);
	vmm_dbus_write_array_end(writer, vmm_dbus_write_array_begin(writer, "s"));
	return signal;
}

/* Writes <node name="..."/> for the child of @path on the way to @object_path, if any. */
static void
write_child(FILE *xml, const char *path, const char *object_path, const char *other_path)
{
	size_t length = strcmp(path, "/") == 0 ? 0 : strlen(path);
	const char *child;
	size_t end;

	if (strncmp(object_path, path, length) != 0 || object_path[length] != '/')
		return;
	child = object_path + length + 1;
	end = length + 1 + strcspn(child, "/");
	/* Both objects may go through the same child: name it once. */
	if (other_path != NULL && strncmp(other_path, object_path, end) == 0 &&
	    (other_path[end] == '/' || other_path[end] == '\0'))
		return;
	fprintf(xml, "  <node name=\"%.*s\"/>\n", (int)(end - length - 1), child);
}

char *
vmm_dbus_object_introspect(const VmmDBusObject *self, const char *path)
{
	char *text = NULL;
	size_t size = 0;
	FILE *xml = open_memstream(&text, &size);

	if (xml == NULL)
		return vmm_strdup("<node/>\n");
	fputs(doctype_xml, xml);
	fputs("<node>\n", xml);
	if (strcmp(path, self->path) == 0) {
		fputs(properties_xml, xml);
		fputs(self->interface_xml, xml);
	} else if (strcmp(path, BUS_PATH) == 0) {
		fputs(bus_xml, xml);
	}
	fputs(introspectable_and_peer_xml, xml);
	write_child(xml, path, self->path, NULL);
	write_child(xml, path, BUS_PATH, self->path);
	fputs("</node>\n", xml);
	fclose(xml);
	return text;
}
