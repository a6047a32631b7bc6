/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

/*
 * D-Bus messages on the wire (the D-Bus specification, "Message Protocol"):
 * a writer in the host's byte order (little-endian here), a reader for both
 * byte orders, and messages with their header fields. Everything read is
 * hostile until vmm_dbus_message_new_from_blob() has checked all of it: a
 * malformed message is an error (EBADMSG), never a crash or a read out of
 * bounds.
 * Unix file descriptors (type h) are refused: the worker never passes any.
 */

/* Limits of the specification. */
#define VMM_DBUS_MAX_MESSAGE_SIZE (UINT32_C(1) << 27)
#define VMM_DBUS_MAX_ARRAY_LENGTH (UINT32_C(1) << 26)
#define VMM_DBUS_MAX_SIGNATURE_LENGTH 255
#define VMM_DBUS_MAX_NAME_LENGTH 255
/* Arrays and structs (dict entries included) nest at most 32 each in a signature... */
#define VMM_DBUS_MAX_SIGNATURE_NESTING 32
/* ...and a value is in at most 64 containers, across variants. */
#define VMM_DBUS_MAX_DEPTH 64
/* The fixed part of the header, which says how long the whole message is. */
#define VMM_DBUS_FIXED_HEADER_SIZE 16
/* Messages are written in the host's byte order. */
#define VMM_DBUS_HOST_BIG_ENDIAN (__BYTE_ORDER == __BIG_ENDIAN)

typedef enum {
	VMM_DBUS_METHOD_CALL = 1,
	VMM_DBUS_METHOD_RETURN = 2,
	VMM_DBUS_ERROR = 3,
	VMM_DBUS_SIGNAL = 4,
} VmmDBusMessageType;

#define VMM_DBUS_FLAG_NO_REPLY_EXPECTED 0x1

/* Sets an EBADMSG error saying @what is wrong, and returns false. */
bool vmm_dbus_malformed(VmmError **error, const char *what);

/* Syntax checks of the specification ("Valid Names", "Valid Signatures"). */
bool vmm_dbus_is_valid_utf8(const char *string, size_t length);
bool vmm_dbus_is_valid_object_path(const char *path, size_t length);
bool vmm_dbus_is_valid_interface_name(const char *name, size_t length);
bool vmm_dbus_is_valid_member_name(const char *name, size_t length);
bool vmm_dbus_is_valid_bus_name(const char *name, size_t length);
/* Any number of complete types, nested within the limits. */
bool vmm_dbus_is_valid_signature(const char *signature, size_t length);
/* Exactly one complete type, as a variant or an array element holds. */
bool vmm_dbus_is_single_complete_type(const char *signature, size_t length);
/* The length of the complete type @signature starts with, in a valid signature. */
size_t vmm_dbus_complete_type_length(const char *signature);
/* The alignment of values of type @type on the wire. */
size_t vmm_dbus_type_alignment(char type);

/*
 * The writer: values appended in the order of the signature the message
 * declares, which vmm_dbus_message_to_blob() checks them against.
 */
typedef struct {
	uint8_t *data;
	size_t length;
	size_t capacity;
	bool too_large; /* an array outgrew VMM_DBUS_MAX_ARRAY_LENGTH */
} VmmDBusWriter;

/* Where an open array's length goes; see vmm_dbus_write_array_begin(). */
typedef struct {
	size_t length_offset;
	size_t start;
} VmmDBusArrayMark;

void vmm_dbus_writer_init(VmmDBusWriter *self);
void vmm_dbus_writer_clear(VmmDBusWriter *self);

void vmm_dbus_write_byte(VmmDBusWriter *self, uint8_t value);
void vmm_dbus_write_boolean(VmmDBusWriter *self, bool value);
void vmm_dbus_write_int16(VmmDBusWriter *self, int16_t value);
void vmm_dbus_write_uint16(VmmDBusWriter *self, uint16_t value);
void vmm_dbus_write_int32(VmmDBusWriter *self, int32_t value);
void vmm_dbus_write_uint32(VmmDBusWriter *self, uint32_t value);
void vmm_dbus_write_int64(VmmDBusWriter *self, int64_t value);
void vmm_dbus_write_uint64(VmmDBusWriter *self, uint64_t value);
void vmm_dbus_write_double(VmmDBusWriter *self, double value);
void vmm_dbus_write_string(VmmDBusWriter *self, const char *value);
void vmm_dbus_write_object_path(VmmDBusWriter *self, const char *value);
void vmm_dbus_write_signature(VmmDBusWriter *self, const char *value);
/* A struct or dict entry: its fields follow. */
void vmm_dbus_write_struct_begin(VmmDBusWriter *self);
/* A variant holding one value of type @signature, written next. */
void vmm_dbus_write_variant_begin(VmmDBusWriter *self, const char *signature);
/* An array of @element_signature: its elements follow, then vmm_dbus_write_array_end(). */
VmmDBusArrayMark vmm_dbus_write_array_begin(VmmDBusWriter *self, const char *element_signature);
void vmm_dbus_write_array_end(VmmDBusWriter *self, VmmDBusArrayMark mark);

/*
 * The reader: the values of a body, an array, a struct, a dict entry or a
 * variant in the order of their signature. A read of another type than the
 * next one is an error (EINVAL).
 */
typedef struct {
	const uint8_t *data; /* the whole message: alignment counts from its start */
	size_t position;
	size_t end;
	const char *signature; /* the types of the values in this container */
	size_t signature_length;
	size_t signature_position;
	bool is_array; /* @signature is one element type, repeated up to @end */
	bool big_endian;
	unsigned depth;
} VmmDBusReader;

/* The next value's complete type (not NUL-terminated), or NULL after the last one. */
const char *vmm_dbus_reader_peek_signature(const VmmDBusReader *self, size_t *length);
bool vmm_dbus_reader_at_end(const VmmDBusReader *self);

bool vmm_dbus_read_byte(VmmDBusReader *self, uint8_t *value, VmmError **error);
bool vmm_dbus_read_boolean(VmmDBusReader *self, bool *value, VmmError **error);
bool vmm_dbus_read_int16(VmmDBusReader *self, int16_t *value, VmmError **error);
bool vmm_dbus_read_uint16(VmmDBusReader *self, uint16_t *value, VmmError **error);
bool vmm_dbus_read_int32(VmmDBusReader *self, int32_t *value, VmmError **error);
bool vmm_dbus_read_uint32(VmmDBusReader *self, uint32_t *value, VmmError **error);
bool vmm_dbus_read_int64(VmmDBusReader *self, int64_t *value, VmmError **error);
bool vmm_dbus_read_uint64(VmmDBusReader *self, uint64_t *value, VmmError **error);
bool vmm_dbus_read_double(VmmDBusReader *self, double *value, VmmError **error);
/* Strings point into the message and live as long as it does. */
bool vmm_dbus_read_string(VmmDBusReader *self, const char **value, VmmError **error);
bool vmm_dbus_read_object_path(VmmDBusReader *self, const char **value, VmmError **error);
bool vmm_dbus_read_signature(VmmDBusReader *self, const char **value, VmmError **error);
/* Steps into the next array, struct, dict entry or variant: @sub reads its contents. */
bool vmm_dbus_reader_enter(VmmDBusReader *self, VmmDBusReader *sub, VmmError **error);
bool vmm_dbus_reader_skip(VmmDBusReader *self, VmmError **error);

/*
 * Checks every value of a body: alignment and zero padding, lengths within
 * [@start, @end), string contents, nesting; and that nothing follows the last
 * value.
 */
bool vmm_dbus_validate_body(const uint8_t *data,
			    size_t start,
			    size_t end,
			    const char *signature,
			    bool big_endian,
			    VmmError **error);

/*
 * A message. Header fields are public and read-only: NULL (or 0) when
 * absent. A message built here has its body written through
 * vmm_dbus_message_begin_body(); a message read from a blob has its body
 * read through vmm_dbus_message_read_body().
 */
typedef struct {
	VmmDBusMessageType type;
	uint8_t flags;
	uint32_t serial;
	uint32_t reply_serial;
	uint32_t unix_fds;
	char *path;
	char *interface;
	char *member;
	char *error_name;
	char *destination;
	char *sender;
	char *signature; /* of the body; "" when it is empty */
	/* private */
	VmmDBusWriter body;
	uint8_t *blob;
	size_t blob_size;
	size_t body_offset;
	bool big_endian;
} VmmDBusMessage;

VmmDBusMessage *vmm_dbus_message_new_method_call(const char *destination,
						 const char *path,
						 const char *interface,
						 const char *member);
VmmDBusMessage *
vmm_dbus_message_new_signal(const char *path, const char *interface, const char *member);
VmmDBusMessage *vmm_dbus_message_new_method_return(const VmmDBusMessage *call);
/* An error reply whose body is the message, as every implementation shows it. */
VmmDBusMessage *vmm_dbus_message_new_error(const VmmDBusMessage *call,
					   const char *error_name,
					   const char *format,
					   ...) VMM_PRINTF(3, 4);
VmmDBusMessage *vmm_dbus_message_new_error_valist(const VmmDBusMessage *call,
						  const char *error_name,
						  const char *format,
						  va_list args) VMM_PRINTF(3, 0);
void vmm_dbus_message_free(VmmDBusMessage *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDBusMessage, vmm_dbus_message_free)

/* Declares the body's @signature and returns the writer for its values. */
VmmDBusWriter *vmm_dbus_message_begin_body(VmmDBusMessage *self, const char *signature);
/* A reader of the body of a message from vmm_dbus_message_new_from_blob(). */
void vmm_dbus_message_read_body(const VmmDBusMessage *self, VmmDBusReader *reader);

/*
 * How long the message starting with these VMM_DBUS_FIXED_HEADER_SIZE bytes
 * is, header and body; fails for an impossible header or one above the limit.
 */
bool vmm_dbus_message_get_size(const uint8_t *fixed_header, size_t *size, VmmError **error);
/* Checks all of @blob (one whole message) and returns it parsed; the blob is copied. */
VmmDBusMessage *vmm_dbus_message_new_from_blob(const uint8_t *blob, size_t size, VmmError **error);
/*
 * The message as sent with @serial, checked as a received one would be: a
 * body that does not match its signature is an error here. Free with free().
 */
uint8_t *vmm_dbus_message_to_blob(const VmmDBusMessage *self,
				  uint32_t serial,
				  size_t *size,
				  VmmError **error);
