/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-dbus-message.h"

/*
 * Every read checks what it reads, so that skipping all values of a body is
 * its validation: nothing outside [position, end) is ever touched.
 */

static bool
align(VmmDBusReader *self, size_t alignment, VmmError **error)
{
	size_t padding = (alignment - self->position % alignment) % alignment;

	if (self->end - self->position < padding)
		return vmm_dbus_malformed(error, "truncated value");
	for (size_t i = 0; i < padding; i++) {
		if (self->data[self->position + i] != 0)
			return vmm_dbus_malformed(error, "nonzero padding");
	}
	self->position += padding;
	return true;
}

static bool
take(VmmDBusReader *self, size_t size, const uint8_t **bytes, VmmError **error)
{
	if (self->end - self->position < size)
		return vmm_dbus_malformed(error, "truncated value");
	*bytes = self->data + self->position;
	self->position += size;
	return true;
}

/* Reads an aligned number of @size bytes in the message's byte order. */
static bool
take_number(VmmDBusReader *self, size_t size, void *value, VmmError **error)
{
	const uint8_t *bytes = NULL;
	bool swap = self->big_endian != VMM_DBUS_HOST_BIG_ENDIAN;
	uint8_t ordered[8];

	if (!align(self, size, error) || !take(self, size, &bytes, error))
		return false;
	for (size_t i = 0; i < size; i++)
		ordered[i] = swap ? bytes[size - 1 - i] : bytes[i];
	memcpy(value, ordered, size);
	return true;
}

/* A string of @length bytes and its NUL: no NUL inside, valid UTF-8. */
static bool
take_text(VmmDBusReader *self, size_t length, const char **value, VmmError **error)
{
	const uint8_t *bytes = NULL;

	if (self->end - self->position <= length)
		return vmm_dbus_malformed(error, "truncated string");
	take(self, length + 1, &bytes, error);
	if (bytes[length] != '\0' || memchr(bytes, '\0', length) != NULL)
		return vmm_dbus_malformed(error, "string not terminated by its only NUL");
	if (!vmm_dbus_is_valid_utf8((const char *)bytes, length))
		return vmm_dbus_malformed(error, "string is not valid UTF-8");
	*value = (const char *)bytes;
	return true;
}

static bool
take_string(VmmDBusReader *self, char type, const char **value, VmmError **error)
{
	uint32_t length;

	if (!take_number(self, 4, &length, error) || !take_text(self, length, value, error))
		return false;
	if (type == 'o' && !vmm_dbus_is_valid_object_path(*value, length))
		return vmm_dbus_malformed(error, "invalid object path");
	return true;
}

static bool
take_signature(VmmDBusReader *self, const char **value, VmmError **error)
{
	const uint8_t *length = NULL;

	if (!take(self, 1, &length, error) || !take_text(self, *length, value, error))
		return false;
	if (!vmm_dbus_is_valid_signature(*value, *length))
		return vmm_dbus_malformed(error, "invalid signature");
	return true;
}

static bool
enter_depth(const VmmDBusReader *self, VmmError **error)
{
	if (self->depth >= VMM_DBUS_MAX_DEPTH)
		return vmm_dbus_malformed(error, "containers nested too deeply");
	return true;
}

/* The array at the position: its elements' region and signature in @sub. */
static bool
open_array(VmmDBusReader *self, const char *type, VmmDBusReader *sub, VmmError **error)
{
	uint32_t length;

	if (!enter_depth(self, error) || !take_number(self, 4, &length, error))
		return false;
	if (length > VMM_DBUS_MAX_ARRAY_LENGTH)
		return vmm_dbus_malformed(error, "array longer than 64 MiB");
	if (!align(self, vmm_dbus_type_alignment(type[1]), error))
		return false;
	if (self->end - self->position < length)
		return vmm_dbus_malformed(error, "array longer than its container");
	*sub = *self;
	sub->end = self->position + length;
	sub->signature = type + 1;
	sub->signature_length = vmm_dbus_complete_type_length(type + 1);
	sub->signature_position = 0;
	sub->is_array = true;
	sub->depth = self->depth + 1;
	return true;
}

/* A struct or dict entry: its fields' signature in @sub, which ends where the parent does. */
static bool
open_struct(VmmDBusReader *self, const char *type, VmmDBusReader *sub, VmmError **error)
{
	if (!enter_depth(self, error) || !align(self, 8, error))
		return false;
	*sub = *self;
	sub->signature = type + 1;
	sub->signature_length = vmm_dbus_complete_type_length(type) - 2;
	sub->signature_position = 0;
	sub->is_array = false;
	sub->depth = self->depth + 1;
	return true;
}

static bool
open_variant(VmmDBusReader *self, VmmDBusReader *sub, VmmError **error)
{
	const char *signature;
	size_t length;

	if (!enter_depth(self, error) || !take_signature(self, &signature, error))
		return false;
	length = strlen(signature);
	if (!vmm_dbus_is_single_complete_type(signature, length))
		return vmm_dbus_malformed(error, "variant signature is not one complete type");
	*sub = *self;
	sub->signature = signature;
	sub->signature_length = length;
	sub->signature_position = 0;
	sub->is_array = false;
	sub->depth = self->depth + 1;
	return true;
}

static bool skip_contents(VmmDBusReader *sub, VmmError **error);

/* Checks and steps over one value of the complete type @type. */
static bool
skip_value(VmmDBusReader *self, const char *type, VmmError **error)
{
	VmmDBusReader sub;
	uint64_t number;
	uint32_t boolean;
	const char *text;

	switch (type[0]) {
	case 'y':
		return take_number(self, 1, &number, error);
	case 'b':
		if (!take_number(self, 4, &boolean, error))
			return false;
		return boolean <= 1 || vmm_dbus_malformed(error, "boolean neither 0 nor 1");
	case 'n':
	case 'q':
		return take_number(self, 2, &number, error);
	case 'i':
	case 'u':
		return take_number(self, 4, &number, error);
	case 'x':
	case 't':
	case 'd':
		return take_number(self, 8, &number, error);
	case 's':
	case 'o':
		return take_string(self, type[0], &text, error);
	case 'g':
		return take_signature(self, &text, error);
	case 'h':
		return vmm_dbus_malformed(error, "file descriptors are not accepted");
	case 'a':
		if (!open_array(self, type, &sub, error) || !skip_contents(&sub, error))
			return false;
		self->position = sub.end;
		return true;
	case '(':
	case '{':
		if (!open_struct(self, type, &sub, error) || !skip_contents(&sub, error))
			return false;
		self->position = sub.position;
		return true;
	case 'v':
		if (!open_variant(self, &sub, error) || !skip_contents(&sub, error))
			return false;
		self->position = sub.position;
		return true;
	default:
		return vmm_dbus_malformed(error, "unknown type");
	}
}

/* Every remaining value of a container: an array's elements cannot read past its end. */
static bool
skip_contents(VmmDBusReader *sub, VmmError **error)
{
	while (!vmm_dbus_reader_at_end(sub)) {
		if (!vmm_dbus_reader_skip(sub, error))
			return false;
	}
	return true;
}

bool
vmm_dbus_reader_at_end(const VmmDBusReader *self)
{
	if (self->is_array)
		return self->position >= self->end;
	return self->signature_position >= self->signature_length;
}

/* The next value's type code ('a', '(', '{', 'v', 's', ...), or '\0' after the last one. */
static char
reader_peek(const VmmDBusReader *self)
{
	if (vmm_dbus_reader_at_end(self))
		return '\0';
	return self->signature[self->signature_position];
}

const char *
vmm_dbus_reader_peek_signature(const VmmDBusReader *self, size_t *length)
{
	if (vmm_dbus_reader_at_end(self))
		return NULL;
	*length = vmm_dbus_complete_type_length(self->signature + self->signature_position);
	return self->signature + self->signature_position;
}

static void
advance_signature(VmmDBusReader *self, const char *type)
{
	if (!self->is_array)
		self->signature_position += vmm_dbus_complete_type_length(type);
}

bool
vmm_dbus_reader_skip(VmmDBusReader *self, VmmError **error)
{
	const char *type;

	if (vmm_dbus_reader_at_end(self))
		return vmm_set_error(error, EINVAL, "No value left to read");
	type = self->signature + self->signature_position;
	if (!skip_value(self, type, error))
		return false;
	advance_signature(self, type);
	return true;
}

/* The next value's type, which must be @expected. */
static const char *
expect(VmmDBusReader *self, char expected, VmmError **error)
{
	char next = reader_peek(self);

	if (next == '\0') {
		vmm_set_error(error, EINVAL, "Expected a value of type '%c', found none", expected);
		return NULL;
	}
	if (next != expected) {
		vmm_set_error(
			error, EINVAL, "Expected a value of type '%c', found '%c'", expected, next);
		return NULL;
	}
	return self->signature + self->signature_position;
}

static bool
read_number(VmmDBusReader *self, char type, size_t size, void *value, VmmError **error)
{
	const char *signature = expect(self, type, error);

	if (signature == NULL || !take_number(self, size, value, error))
		return false;
	advance_signature(self, signature);
	return true;
}

bool
vmm_dbus_read_byte(VmmDBusReader *self, uint8_t *value, VmmError **error)
{
	return read_number(self, 'y', 1, value, error);
}

bool
vmm_dbus_read_boolean(VmmDBusReader *self, bool *value, VmmError **error)
{
	uint32_t number;

	if (!read_number(self, 'b', 4, &number, error))
		return false;
	if (number > 1)
		return vmm_dbus_malformed(error, "boolean neither 0 nor 1");
	*value = number == 1;
	return true;
}

#define DEFINE_READ_NUMBER(name, Type, code)                                                       \
	bool vmm_dbus_read_##name(VmmDBusReader *self, Type *value, VmmError **error)              \
	{                                                                                          \
		return read_number(self, code, sizeof(Type), value, error);                        \
	}

DEFINE_READ_NUMBER(int16, int16_t, 'n')
DEFINE_READ_NUMBER(uint16, uint16_t, 'q')
DEFINE_READ_NUMBER(int32, int32_t, 'i')
DEFINE_READ_NUMBER(uint32, uint32_t, 'u')
DEFINE_READ_NUMBER(int64, int64_t, 'x')
DEFINE_READ_NUMBER(uint64, uint64_t, 't')
DEFINE_READ_NUMBER(double, double, 'd')

static bool
read_text(VmmDBusReader *self, char type, const char **value, VmmError **error)
{
	const char *signature = expect(self, type, error);
	bool ok;

	if (signature == NULL)
		return false;
	ok = type == 'g' ? take_signature(self, value, error)
			 : take_string(self, type, value, error);
	if (ok)
		advance_signature(self, signature);
	return ok;
}

bool
vmm_dbus_read_string(VmmDBusReader *self, const char **value, VmmError **error)
{
	return read_text(self, 's', value, error);
}

bool
vmm_dbus_read_object_path(VmmDBusReader *self, const char **value, VmmError **error)
{
	return read_text(self, 'o', value, error);
}

bool
vmm_dbus_read_signature(VmmDBusReader *self, const char **value, VmmError **error)
{
	return read_text(self, 'g', value, error);
}

bool
vmm_dbus_reader_enter(VmmDBusReader *self, VmmDBusReader *sub, VmmError **error)
{
	VmmDBusReader start = *self;
	const char *type = self->signature + self->signature_position;
	bool ok;

	if (vmm_dbus_reader_at_end(self) || strchr("a({v", type[0]) == NULL)
		return vmm_set_error(error, EINVAL, "The next value is not a container");
	/* Steps over (and checks) the whole container, then opens it where it started. */
	if (!vmm_dbus_reader_skip(self, error))
		return false;
	if (type[0] == 'a')
		ok = open_array(&start, type, sub, error);
	else if (type[0] == 'v')
		ok = open_variant(&start, sub, error);
	else
		ok = open_struct(&start, type, sub, error);
	if (ok && !sub->is_array)
		sub->end = self->position;
	return ok;
}

bool
vmm_dbus_validate_body(const uint8_t *data,
		       size_t start,
		       size_t end,
		       const char *signature,
		       bool big_endian,
		       VmmError **error)
{
	VmmDBusReader reader = {
		.data = data,
		.position = start,
		.end = end,
		.signature = signature,
		.signature_length = strlen(signature),
		.big_endian = big_endian,
	};

	if (!vmm_dbus_is_valid_signature(signature, reader.signature_length))
		return vmm_dbus_malformed(error, "invalid body signature");
	if (!skip_contents(&reader, error))
		return false;
	return reader.position == end ||
	       vmm_dbus_malformed(error, "data after the last value of the body");
}
