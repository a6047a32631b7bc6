/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-dbus-message.h"

void
vmm_dbus_writer_init(VmmDBusWriter *self)
{
	*self = (VmmDBusWriter){0};
}

void
vmm_dbus_writer_clear(VmmDBusWriter *self)
{
	free(self->data);
	vmm_dbus_writer_init(self);
}

static uint8_t *
grow(VmmDBusWriter *self, size_t n)
{
	uint8_t *start;

	if (self->capacity - self->length < n) {
		size_t capacity = VMM_MAX(self->capacity * 2, (size_t)64);

		while (capacity - self->length < n)
			capacity *= 2;
		self->data = vmm_renew(uint8_t, self->data, capacity);
		self->capacity = capacity;
	}
	start = self->data + self->length;
	self->length += n;
	return start;
}

static void
append(VmmDBusWriter *self, const void *bytes, size_t n)
{
	if (n > 0)
		memcpy(grow(self, n), bytes, n);
}

static void
align(VmmDBusWriter *self, size_t alignment)
{
	size_t padding = (alignment - self->length % alignment) % alignment;

	if (padding > 0)
		memset(grow(self, padding), 0, padding);
}

/* The writer marshals in the byte order of the host, which the header then declares. */
static void
append_aligned(VmmDBusWriter *self, const void *value, size_t size)
{
	align(self, size);
	append(self, value, size);
}

void
vmm_dbus_write_byte(VmmDBusWriter *self, uint8_t value)
{
	append(self, &value, 1);
}

void
vmm_dbus_write_boolean(VmmDBusWriter *self, bool value)
{
	vmm_dbus_write_uint32(self, value ? 1 : 0);
}

void
vmm_dbus_write_int16(VmmDBusWriter *self, int16_t value)
{
	append_aligned(self, &value, sizeof(value));
}

void
vmm_dbus_write_uint16(VmmDBusWriter *self, uint16_t value)
{
	append_aligned(self, &value, sizeof(value));
}

void
vmm_dbus_write_int32(VmmDBusWriter *self, int32_t value)
{
	append_aligned(self, &value, sizeof(value));
}

void
vmm_dbus_write_uint32(VmmDBusWriter *self, uint32_t value)
{
	append_aligned(self, &value, sizeof(value));
}

void
vmm_dbus_write_int64(VmmDBusWriter *self, int64_t value)
{
	append_aligned(self, &value, sizeof(value));
}

void
vmm_dbus_write_uint64(VmmDBusWriter *self, uint64_t value)
{
	append_aligned(self, &value, sizeof(value));
}

void
vmm_dbus_write_double(VmmDBusWriter *self, double value)
{
	append_aligned(self, &value, sizeof(value));
}

void
vmm_dbus_write_string(VmmDBusWriter *self, const char *value)
{
	size_t length = strlen(value);

	vmm_dbus_write_uint32(self, length <= UINT32_MAX ? (uint32_t)length : UINT32_MAX);
	append(self, value, length + 1);
}

void
vmm_dbus_write_object_path(VmmDBusWriter *self, const char *value)
{
	vmm_dbus_write_string(self, value);
}

void
vmm_dbus_write_signature(VmmDBusWriter *self, const char *value)
{
	size_t length = strlen(value);

	vmm_dbus_write_byte(self, length <= UINT8_MAX ? (uint8_t)length : UINT8_MAX);
	append(self, value, length + 1);
}

void
vmm_dbus_write_struct_begin(VmmDBusWriter *self)
{
	align(self, 8);
}

void
vmm_dbus_write_variant_begin(VmmDBusWriter *self, const char *signature)
{
	vmm_dbus_write_signature(self, signature);
}

/* The padding before the first element is there even without elements, and not counted. */
VmmDBusArrayMark
vmm_dbus_write_array_begin(VmmDBusWriter *self, const char *element_signature)
{
	VmmDBusArrayMark mark;

	vmm_dbus_write_uint32(self, 0);
	mark.length_offset = self->length - 4;
	align(self, vmm_dbus_type_alignment(element_signature[0]));
	mark.start = self->length;
	return mark;
}

void
vmm_dbus_write_array_end(VmmDBusWriter *self, VmmDBusArrayMark mark)
{
	size_t length = self->length - mark.start;
	uint32_t value = (uint32_t)VMM_MIN(length, (size_t)UINT32_MAX);

	if (length > VMM_DBUS_MAX_ARRAY_LENGTH)
		self->too_large = true;
	memcpy(self->data + mark.length_offset, &value, sizeof(value));
}
