/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-dbus-message.h"
#include "vmm-log.h"

/* Header field codes. */
enum {
	FIELD_INVALID,
	FIELD_PATH,
	FIELD_INTERFACE,
	FIELD_MEMBER,
	FIELD_ERROR_NAME,
	FIELD_REPLY_SERIAL,
	FIELD_DESTINATION,
	FIELD_SENDER,
	FIELD_SIGNATURE,
	FIELD_UNIX_FDS,
	N_FIELDS,
};

static const char field_types[N_FIELDS] = {0, 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u'};

bool
vmm_dbus_malformed(VmmError **error, const char *what)
{
	return vmm_set_error(error, EBADMSG, "Malformed D-Bus message: %s", what);
}

static VmmDBusMessage *
message_new(VmmDBusMessageType type)
{
	VmmDBusMessage *self = vmm_new0(VmmDBusMessage, 1);

	self->type = type;
	self->signature = vmm_strdup("");
	return self;
}

VmmDBusMessage *
vmm_dbus_message_new_method_call(const char *destination,
				 const char *path,
				 const char *interface,
				 const char *member)
{
	VmmDBusMessage *self = message_new(VMM_DBUS_METHOD_CALL);

	self->destination = vmm_strdup(destination);
	self->path = vmm_strdup(path);
	self->interface = vmm_strdup(interface);
	self->member = vmm_strdup(member);
	return self;
}

VmmDBusMessage *
vmm_dbus_message_new_signal(const char *path, const char *interface, const char *member)
{
	VmmDBusMessage *self = message_new(VMM_DBUS_SIGNAL);

	self->path = vmm_strdup(path);
	self->interface = vmm_strdup(interface);
	self->member = vmm_strdup(member);
	return self;
}

static VmmDBusMessage *
reply_new(VmmDBusMessageType type, const VmmDBusMessage *call)
{
	VmmDBusMessage *self = message_new(type);

	self->flags = VMM_DBUS_FLAG_NO_REPLY_EXPECTED;
	self->reply_serial = call->serial;
	self->destination = vmm_strdup(call->sender);
	return self;
}

VmmDBusMessage *
vmm_dbus_message_new_method_return(const VmmDBusMessage *call)
{
	return reply_new(VMM_DBUS_METHOD_RETURN, call);
}

VmmDBusMessage *
vmm_dbus_message_new_error_valist(const VmmDBusMessage *call,
				  const char *error_name,
				  const char *format,
				  va_list args)
{
	VmmDBusMessage *self = reply_new(VMM_DBUS_ERROR, call);
	vmm_autofree char *text = vmm_strdup_vprintf(format, args);

	self->error_name = vmm_strdup(error_name);
	vmm_dbus_write_string(vmm_dbus_message_begin_body(self, "s"), text);
	return self;
}

VmmDBusMessage *
vmm_dbus_message_new_error(const VmmDBusMessage *call,
			   const char *error_name,
			   const char *format,
			   ...)
{
	VmmDBusMessage *self;
	va_list args;

	va_start(args, format);
	self = vmm_dbus_message_new_error_valist(call, error_name, format, args);
	va_end(args);
	return self;
}

void
vmm_dbus_message_free(VmmDBusMessage *self)
{
	if (self == NULL)
		return;
	free(self->path);
	free(self->interface);
	free(self->member);
	free(self->error_name);
	free(self->destination);
	free(self->sender);
	free(self->signature);
	vmm_dbus_writer_clear(&self->body);
	free(self->blob);
	free(self);
}

VmmDBusWriter *
vmm_dbus_message_begin_body(VmmDBusMessage *self, const char *signature)
{
	free(self->signature);
	self->signature = vmm_strdup(signature);
	vmm_dbus_writer_clear(&self->body);
	return &self->body;
}

void
vmm_dbus_message_read_body(const VmmDBusMessage *self, VmmDBusReader *reader)
{
	if (self->blob == NULL)
		vmm_fatal("reading the body of a message that was not received");
	*reader = (VmmDBusReader){
		.data = self->blob,
		.position = self->body_offset,
		.end = self->blob_size,
		.signature = self->signature,
		.signature_length = strlen(self->signature),
		.big_endian = self->big_endian,
	};
}

static uint32_t
load_uint32(const uint8_t *bytes, bool big_endian)
{
	uint32_t value;

	memcpy(&value, bytes, sizeof(value));
	return big_endian ? be32toh(value) : le32toh(value);
}

static size_t
align8(size_t offset)
{
	return (offset + 7) & ~(size_t)7;
}

bool
vmm_dbus_message_get_size(const uint8_t *fixed_header, size_t *size, VmmError **error)
{
	bool big_endian = fixed_header[0] == 'B';
	uint32_t body_length = load_uint32(fixed_header + 4, big_endian);
	uint32_t fields_length = load_uint32(fixed_header + 12, big_endian);
	uint64_t total;

	if (fixed_header[0] != 'l' && fixed_header[0] != 'B')
		return vmm_dbus_malformed(error, "unknown byte order");
	if (fixed_header[3] != 1)
		return vmm_dbus_malformed(error, "unknown protocol version");
	if (fields_length > VMM_DBUS_MAX_ARRAY_LENGTH)
		return vmm_dbus_malformed(error, "header fields longer than 64 MiB");
	total = align8(VMM_DBUS_FIXED_HEADER_SIZE + (uint64_t)fields_length) + body_length;
	if (total > VMM_DBUS_MAX_MESSAGE_SIZE)
		return vmm_dbus_malformed(error, "message larger than 128 MiB");
	*size = (size_t)total;
	return true;
}

static bool
store_name(char **field, const char *value, bool valid, VmmError **error)
{
	if (!valid)
		return vmm_dbus_malformed(error, "invalid name in a header field");
	*field = vmm_strdup(value);
	return true;
}

/* One header field, whose variant @value already has the field's type. */
static bool
store_field(VmmDBusMessage *self, uint8_t code, VmmDBusReader *value, VmmError **error)
{
	const char *text = NULL;
	size_t length;

	if (code == FIELD_REPLY_SERIAL)
		return vmm_dbus_read_uint32(value, &self->reply_serial, error);
	if (code == FIELD_UNIX_FDS)
		return vmm_dbus_read_uint32(value, &self->unix_fds, error);
	if (!(code == FIELD_PATH        ? vmm_dbus_read_object_path(value, &text, error)
	      : code == FIELD_SIGNATURE ? vmm_dbus_read_signature(value, &text, error)
					: vmm_dbus_read_string(value, &text, error)))
		return false;
	length = strlen(text);
	switch (code) {
	case FIELD_PATH:
		return store_name(&self->path, text, true, error);
	case FIELD_INTERFACE:
		return store_name(&self->interface,
				  text,
				  vmm_dbus_is_valid_interface_name(text, length),
				  error);
	case FIELD_MEMBER:
		return store_name(
			&self->member, text, vmm_dbus_is_valid_member_name(text, length), error);
	case FIELD_ERROR_NAME:
		return store_name(&self->error_name,
				  text,
				  vmm_dbus_is_valid_interface_name(text, length),
				  error);
	case FIELD_DESTINATION:
		return store_name(
			&self->destination, text, vmm_dbus_is_valid_bus_name(text, length), error);
	case FIELD_SENDER:
		return store_name(
			&self->sender, text, vmm_dbus_is_valid_bus_name(text, length), error);
	default:
		free(self->signature);
		return store_name(&self->signature, text, true, error);
	}
}

static bool
parse_field(VmmDBusMessage *self, VmmDBusReader *field, uint32_t *seen, VmmError **error)
{
	VmmDBusReader value;
	const char *type;
	size_t type_length;
	uint8_t code;

	if (!vmm_dbus_read_byte(field, &code, error) ||
	    !vmm_dbus_reader_enter(field, &value, error))
		return false;
	if (code == FIELD_INVALID)
		return vmm_dbus_malformed(error, "header field 0");
	if (code >= N_FIELDS)
		return true; /* unknown fields are ignored, as the specification asks */
	if (*seen & (1u << code))
		return vmm_dbus_malformed(error, "a header field appears twice");
	*seen |= 1u << code;
	type = vmm_dbus_reader_peek_signature(&value, &type_length);
	if (type_length != 1 || type[0] != field_types[code])
		return vmm_dbus_malformed(error, "header field of the wrong type");
	return store_field(self, code, &value, error);
}

static bool
parse_fields(VmmDBusMessage *self, size_t fields_end, VmmError **error)
{
	VmmDBusReader header = {
		.data = self->blob,
		.position = 12,
		.end = fields_end,
		.signature = "a(yv)",
		.signature_length = 5,
		.big_endian = self->big_endian,
	};
	VmmDBusReader fields;
	uint32_t seen = 0;

	if (!vmm_dbus_reader_enter(&header, &fields, error))
		return false;
	while (!vmm_dbus_reader_at_end(&fields)) {
		VmmDBusReader field;

		if (!vmm_dbus_reader_enter(&fields, &field, error) ||
		    !parse_field(self, &field, &seen, error))
			return false;
	}
	return true;
}

static bool
check_required_fields(const VmmDBusMessage *self, VmmError **error)
{
	switch (self->type) {
	case VMM_DBUS_METHOD_CALL:
		return (self->path != NULL && self->member != NULL) ||
		       vmm_dbus_malformed(error, "method call without a path or member");
	case VMM_DBUS_METHOD_RETURN:
		return self->reply_serial != 0 ||
		       vmm_dbus_malformed(error, "reply without a reply serial");
	case VMM_DBUS_ERROR:
		return (self->reply_serial != 0 && self->error_name != NULL) ||
		       vmm_dbus_malformed(error, "error without a reply serial or name");
	case VMM_DBUS_SIGNAL:
		return (self->path != NULL && self->interface != NULL && self->member != NULL) ||
		       vmm_dbus_malformed(error, "signal without a path, interface or member");
	default:
		return true; /* unknown types are for the receiver to ignore */
	}
}

static bool
parse(VmmDBusMessage *self, VmmError **error)
{
	const uint8_t *blob = self->blob;
	size_t fields_end = VMM_DBUS_FIXED_HEADER_SIZE + load_uint32(blob + 12, self->big_endian);

	self->type = blob[1];
	self->flags = blob[2];
	self->serial = load_uint32(blob + 8, self->big_endian);
	self->body_offset = align8(fields_end);
	if (self->type == 0)
		return vmm_dbus_malformed(error, "message type 0");
	if (self->serial == 0)
		return vmm_dbus_malformed(error, "serial 0");
	if (!parse_fields(self, fields_end, error))
		return false;
	for (size_t i = fields_end; i < self->body_offset; i++) {
		if (blob[i] != 0)
			return vmm_dbus_malformed(error, "nonzero padding after the header");
	}
	if (self->unix_fds != 0)
		return vmm_dbus_malformed(error, "file descriptors are not accepted");
	return check_required_fields(self, error) && vmm_dbus_validate_body(blob,
									    self->body_offset,
									    self->blob_size,
									    self->signature,
									    self->big_endian,
									    error);
}

VmmDBusMessage *
vmm_dbus_message_new_from_blob(const uint8_t *blob, size_t size, VmmError **error)
{
	vmm_autoptr(VmmDBusMessage) self = NULL;
	size_t expected;

	if (size < VMM_DBUS_FIXED_HEADER_SIZE) {
		vmm_dbus_malformed(error, "shorter than its header");
		return NULL;
	}
	if (!vmm_dbus_message_get_size(blob, &expected, error))
		return NULL;
	if (expected != size) {
		vmm_dbus_malformed(error, "length does not match the header");
		return NULL;
	}
	self = message_new(VMM_DBUS_METHOD_CALL);
	self->blob = vmm_new0(uint8_t, size);
	memcpy(self->blob, blob, size);
	self->blob_size = size;
	self->big_endian = blob[0] == 'B';
	if (!parse(self, error))
		return NULL;
	return vmm_steal_pointer(&self);
}

static void
write_field(VmmDBusWriter *writer, uint8_t code, const char *text, uint32_t number)
{
	vmm_dbus_write_struct_begin(writer);
	vmm_dbus_write_byte(writer, code);
	vmm_dbus_write_variant_begin(writer, (char[]){field_types[code], '\0'});
	if (field_types[code] == 'u')
		vmm_dbus_write_uint32(writer, number);
	else if (field_types[code] == 'g')
		vmm_dbus_write_signature(writer, text);
	else
		vmm_dbus_write_string(writer, text);
}

static void
write_fields(const VmmDBusMessage *self, VmmDBusWriter *header)
{
	const char *texts[N_FIELDS] = {
		[FIELD_PATH] = self->path,
		[FIELD_INTERFACE] = self->interface,
		[FIELD_MEMBER] = self->member,
		[FIELD_ERROR_NAME] = self->error_name,
		[FIELD_DESTINATION] = self->destination,
		[FIELD_SENDER] = self->sender,
		[FIELD_SIGNATURE] = self->signature[0] != '\0' ? self->signature : NULL,
	};
	VmmDBusArrayMark fields = vmm_dbus_write_array_begin(header, "(yv)");

	for (uint8_t code = FIELD_PATH; code < N_FIELDS; code++) {
		if (texts[code] != NULL)
			write_field(header, code, texts[code], 0);
	}
	if (self->reply_serial != 0)
		write_field(header, FIELD_REPLY_SERIAL, NULL, self->reply_serial);
	vmm_dbus_write_array_end(header, fields);
	while (header->length % 8 != 0)
		vmm_dbus_write_byte(header, 0);
}

uint8_t *
vmm_dbus_message_to_blob(const VmmDBusMessage *self,
			 uint32_t serial,
			 size_t *size,
			 VmmError **error)
{
	VmmDBusWriter header;
	vmm_autoptr(VmmDBusMessage) check = NULL;
	uint8_t *blob;

	if (self->body.too_large || self->body.length > VMM_DBUS_MAX_MESSAGE_SIZE) {
		vmm_set_error(error, EMSGSIZE, "D-Bus message body too large");
		return NULL;
	}
	vmm_dbus_writer_init(&header);
	vmm_dbus_write_byte(&header, VMM_DBUS_HOST_BIG_ENDIAN ? 'B' : 'l');
	vmm_dbus_write_byte(&header, self->type);
	vmm_dbus_write_byte(&header, self->flags);
	vmm_dbus_write_byte(&header, 1);
	vmm_dbus_write_uint32(&header, (uint32_t)self->body.length);
	vmm_dbus_write_uint32(&header, serial);
	write_fields(self, &header);
	*size = header.length + self->body.length;
	blob = vmm_renew(uint8_t, header.data, *size);
	if (self->body.length > 0)
		memcpy(blob + header.length, self->body.data, self->body.length);
	/* What a peer would refuse is a bug here: check it as the peer would. */
	check = vmm_dbus_message_new_from_blob(blob, *size, error);
	if (check == NULL) {
		vmm_prefix_error(error, "Cannot send a D-Bus message");
		free(blob);
		return NULL;
	}
	return blob;
}
