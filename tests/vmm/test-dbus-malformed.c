/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib.h>

#include "vmm-dbus-message.h"
#include "vmm-test-error.h"

/*
 * Hostile blobs, as a peer could send them: each is refused with an error
 * that says why, and nothing is read outside the blob (run under ASan or
 * valgrind to see that).
 */

enum {
	PATH = 1,
	INTERFACE,
	MEMBER,
	ERROR_NAME,
	REPLY_SERIAL,
	DESTINATION,
	SENDER,
	SIGNATURE,
	UNIX_FDS
};

/* A message as a hostile peer makes it: nothing is checked. */
typedef struct {
	uint8_t byte_order;
	uint8_t type;
	uint8_t version;
	uint32_t serial;
	const char *path;
	const char *path_type;
	const char *interface;
	const char *member;
	const char *signature;
	void (*more_fields)(VmmDBusWriter *header);
} Header;

#define SIGNAL_HEADER(body_signature)                                                              \
	((Header){'l', 4, 1, 1, "/a", "o", "a.b", "M", body_signature, NULL})

static void
write_field(
	VmmDBusWriter *header, uint8_t code, const char *type, const char *text, uint32_t number)
{
	vmm_dbus_write_struct_begin(header);
	vmm_dbus_write_byte(header, code);
	vmm_dbus_write_variant_begin(header, type);
	if (type[0] == 'u')
		vmm_dbus_write_uint32(header, number);
	else if (type[0] == 'y')
		vmm_dbus_write_byte(header, (uint8_t)number);
	else if (type[0] == 'g')
		vmm_dbus_write_signature(header, text);
	else
		vmm_dbus_write_string(header, text);
}

static GByteArray *
assemble(const Header *header, const VmmDBusWriter *body)
{
	VmmDBusWriter writer;
	VmmDBusArrayMark fields;
	GByteArray *blob = g_byte_array_new();

	vmm_dbus_writer_init(&writer);
	vmm_dbus_write_byte(&writer, header->byte_order);
	vmm_dbus_write_byte(&writer, header->type);
	vmm_dbus_write_byte(&writer, 0);
	vmm_dbus_write_byte(&writer, header->version);
	vmm_dbus_write_uint32(&writer, body != NULL ? (uint32_t)body->length : 0);
	vmm_dbus_write_uint32(&writer, header->serial);
	fields = vmm_dbus_write_array_begin(&writer, "(yv)");
	if (header->path != NULL)
		write_field(&writer, PATH, header->path_type, header->path, 0);
	if (header->interface != NULL)
		write_field(&writer, INTERFACE, "s", header->interface, 0);
	if (header->member != NULL)
		write_field(&writer, MEMBER, "s", header->member, 0);
	if (header->signature != NULL)
		write_field(&writer, SIGNATURE, "g", header->signature, 0);
	if (header->more_fields != NULL)
		header->more_fields(&writer);
	vmm_dbus_write_array_end(&writer, fields);
	while (writer.length % 8 != 0)
		vmm_dbus_write_byte(&writer, 0);
	g_byte_array_append(blob, writer.data, (guint)writer.length);
	if (body != NULL && body->length > 0)
		g_byte_array_append(blob, body->data, (guint)body->length);
	vmm_dbus_writer_clear(&writer);
	return blob;
}

static void
expect_refused(GByteArray *blob, const char *why)
{
	vmm_autoptr(VmmError) error = NULL;
	vmm_autoptr(VmmDBusMessage) message =
		vmm_dbus_message_new_from_blob(blob->data, blob->len, &error);

	g_assert_null(message);
	vmm_assert_error(error, EBADMSG);
	if (why != NULL && strstr(error->message, why) == NULL)
		g_error("refused for “%s”, not for “%s”", error->message, why);
	g_byte_array_unref(blob);
}

static void
expect_accepted(GByteArray *blob)
{
	vmm_autoptr(VmmError) error = NULL;
	vmm_autoptr(VmmDBusMessage) message =
		vmm_dbus_message_new_from_blob(blob->data, blob->len, &error);

	vmm_assert_no_error(error);
	g_assert_nonnull(message);
	g_byte_array_unref(blob);
}

/* A body of one value: @write fills it. */
static void
check_body(const char *signature, void (*write)(VmmDBusWriter *body), const char *why)
{
	VmmDBusWriter body;
	Header header = SIGNAL_HEADER(signature);

	vmm_dbus_writer_init(&body);
	write(&body);
	if (why != NULL)
		expect_refused(assemble(&header, &body), why);
	else
		expect_accepted(assemble(&header, &body));
	vmm_dbus_writer_clear(&body);
}

static void
write_rich_body(VmmDBusWriter *body)
{
	VmmDBusArrayMark dict;
	VmmDBusArrayMark numbers;

	vmm_dbus_write_byte(body, 1);
	dict = vmm_dbus_write_array_begin(body, "{sv}");
	vmm_dbus_write_struct_begin(body);
	vmm_dbus_write_string(body, "key");
	vmm_dbus_write_variant_begin(body, "t");
	vmm_dbus_write_uint64(body, 42);
	vmm_dbus_write_array_end(body, dict);
	vmm_dbus_write_string(body, "text");
	vmm_dbus_write_variant_begin(body, "(ti)");
	vmm_dbus_write_struct_begin(body);
	vmm_dbus_write_uint64(body, 1);
	vmm_dbus_write_int32(body, -1);
	numbers = vmm_dbus_write_array_begin(body, "t");
	vmm_dbus_write_uint64(body, 7);
	vmm_dbus_write_uint64(body, 8);
	vmm_dbus_write_array_end(body, numbers);
}

#define RICH_SIGNATURE "ya{sv}svat"

static void
test_truncated(void)
{
	VmmDBusWriter body;
	Header header = SIGNAL_HEADER(RICH_SIGNATURE);
	GByteArray *whole;

	vmm_dbus_writer_init(&body);
	write_rich_body(&body);
	whole = assemble(&header, &body);
	expect_accepted(g_byte_array_ref(whole));
	/* Shorter than the header says. */
	for (guint size = 0; size < whole->len; size++) {
		GByteArray *prefix = g_byte_array_new();

		g_byte_array_append(prefix, whole->data, size);
		expect_refused(prefix, NULL);
	}
	/* The header agrees, but the body ends inside a value. */
	for (size_t length = 0; length < body.length; length++) {
		VmmDBusWriter cut = body;

		cut.length = length;
		expect_refused(assemble(&header, &cut), NULL);
	}
	g_byte_array_unref(whole);
	vmm_dbus_writer_clear(&body);
}

static void
write_long_string(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, 100);
	vmm_dbus_write_byte(body, 'a');
	vmm_dbus_write_byte(body, 0);
}

static void
write_long_array(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, 64);
	vmm_dbus_write_uint32(body, 0);
	vmm_dbus_write_uint64(body, 1);
}

/* An array whose last element overruns it: "ay" of 2 bytes holding a 4-byte element. */
static void
write_overrun_array(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, 2);
	vmm_dbus_write_uint32(body, 5);
}

static void
write_trailing_data(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, 5);
	vmm_dbus_write_uint32(body, 6);
}

static void
test_lengths(void)
{
	uint8_t fixed[VMM_DBUS_FIXED_HEADER_SIZE] = {'l', 4, 0, 1};
	vmm_autoptr(VmmError) error = NULL;
	uint32_t huge = VMM_DBUS_MAX_MESSAGE_SIZE;
	size_t size;

	check_body("s", write_long_string, "truncated");
	check_body("at", write_long_array, "longer than its container");
	check_body("au", write_overrun_array, "truncated");
	check_body("u", write_trailing_data, "after the last value");
	/* A message over 128 MiB is refused from its first 16 bytes, before any allocation. */
	memcpy(fixed + 4, &huge, 4);
	g_assert_false(vmm_dbus_message_get_size(fixed, &size, &error));
	vmm_assert_error(error, EBADMSG);
	vmm_clear_error(&error);
	huge = VMM_DBUS_MAX_ARRAY_LENGTH + 8;
	memset(fixed + 4, 0, 4);
	memcpy(fixed + 12, &huge, 4);
	g_assert_false(vmm_dbus_message_get_size(fixed, &size, &error));
	vmm_assert_error(error, EBADMSG);
}

static void
write_padded_uint64(VmmDBusWriter *body)
{
	vmm_dbus_write_byte(body, 1);
	vmm_dbus_write_uint64(body, 2);
	body->data[3] = 0xff;
}

static void
write_padded_empty_array(VmmDBusWriter *body)
{
	vmm_dbus_write_array_end(body, vmm_dbus_write_array_begin(body, "t"));
	body->data[5] = 1;
}

static void
write_padded_struct_in_array(VmmDBusWriter *body)
{
	VmmDBusArrayMark array = vmm_dbus_write_array_begin(body, "(y)");

	vmm_dbus_write_struct_begin(body);
	vmm_dbus_write_byte(body, 1);
	vmm_dbus_write_struct_begin(body);
	vmm_dbus_write_byte(body, 2);
	vmm_dbus_write_array_end(body, array);
	body->data[12] = 7;
}

static void
header_padding(VmmDBusWriter *header)
{
	/* A byte field, then the header's padding; the assembler pads with zeros, so fake it. */
	write_field(header, 100, "y", NULL, 0);
}

static void
test_padding(void)
{
	Header header = SIGNAL_HEADER(NULL);
	GByteArray *blob;

	check_body("yt", write_padded_uint64, "nonzero padding");
	check_body("at", write_padded_empty_array, "nonzero padding");
	check_body("a(y)", write_padded_struct_in_array, "nonzero padding");
	header.more_fields = header_padding;
	blob = assemble(&header, NULL);
	g_assert_cmpint(blob->data[blob->len - 1], ==, 0);
	blob->data[blob->len - 1] = 1;
	expect_refused(blob, "padding after the header");
}

static void
write_nothing(VmmDBusWriter *body)
{
}

static void
write_variant_of_two(VmmDBusWriter *body)
{
	vmm_dbus_write_variant_begin(body, "ii");
	vmm_dbus_write_int32(body, 1);
	vmm_dbus_write_int32(body, 2);
}

static void
write_variant_of_nothing(VmmDBusWriter *body)
{
	vmm_dbus_write_variant_begin(body, "");
}

static void
write_variant_of_half_array(VmmDBusWriter *body)
{
	vmm_dbus_write_variant_begin(body, "a");
	vmm_dbus_write_uint32(body, 0);
}

static void
write_bad_signature_value(VmmDBusWriter *body)
{
	vmm_dbus_write_signature(body, "a{vs}");
}

static void
write_fd(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, 0);
}

static void
unix_fds_field(VmmDBusWriter *header)
{
	write_field(header, UNIX_FDS, "u", NULL, 1);
}

static void
test_signatures(void)
{
	static const char *const bad[] = {
		"a", "(", "(i", ")", "()", "{sv}", "a{vs}", "a{sii}", "z"};
	Header header = SIGNAL_HEADER(NULL);

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		check_body(bad[i], write_nothing, "invalid");
	check_body("v", write_variant_of_two, "not one complete type");
	check_body("v", write_variant_of_nothing, "not one complete type");
	check_body("v", write_variant_of_half_array, "invalid signature");
	check_body("g", write_bad_signature_value, "invalid signature");
	check_body("h", write_fd, "file descriptors");
	header.more_fields = unix_fds_field;
	expect_refused(assemble(&header, NULL), "file descriptors");
}

/* @depth arrays of arrays ... of bytes, all empty but the outermost. */
static GByteArray *
nested_arrays(unsigned depth)
{
	g_autofree char *signature = g_strnfill(depth + 1, 'a');
	Header header = SIGNAL_HEADER(signature);
	VmmDBusWriter body;
	GByteArray *blob;

	signature[depth] = 'y';
	vmm_dbus_writer_init(&body);
	vmm_dbus_write_uint32(&body, 0);
	blob = assemble(&header, &body);
	vmm_dbus_writer_clear(&body);
	return blob;
}

static GByteArray *
nested_structs(unsigned depth)
{
	g_autofree char *signature = g_strnfill(2 * depth + 1, '(');
	Header header = SIGNAL_HEADER(signature);
	VmmDBusWriter body;
	GByteArray *blob;

	signature[depth] = 'y';
	memset(signature + depth + 1, ')', depth);
	vmm_dbus_writer_init(&body);
	vmm_dbus_write_byte(&body, 1);
	blob = assemble(&header, &body);
	vmm_dbus_writer_clear(&body);
	return blob;
}

/* A variant holding a variant ... holding a byte: @depth containers. */
static GByteArray *
nested_variants(unsigned depth)
{
	Header header = SIGNAL_HEADER("v");
	VmmDBusWriter body;
	GByteArray *blob;

	vmm_dbus_writer_init(&body);
	for (unsigned i = 1; i < depth; i++)
		vmm_dbus_write_variant_begin(&body, "v");
	vmm_dbus_write_variant_begin(&body, "y");
	vmm_dbus_write_byte(&body, 1);
	blob = assemble(&header, &body);
	vmm_dbus_writer_clear(&body);
	return blob;
}

static void
test_nesting(void)
{
	expect_accepted(nested_arrays(VMM_DBUS_MAX_SIGNATURE_NESTING));
	expect_refused(nested_arrays(VMM_DBUS_MAX_SIGNATURE_NESTING + 1), "invalid");
	expect_accepted(nested_structs(VMM_DBUS_MAX_SIGNATURE_NESTING));
	expect_refused(nested_structs(VMM_DBUS_MAX_SIGNATURE_NESTING + 1), "invalid");
	expect_accepted(nested_variants(VMM_DBUS_MAX_DEPTH));
	expect_refused(nested_variants(VMM_DBUS_MAX_DEPTH + 1), "nested too deeply");
	/* Deep enough to overflow the stack of a reader without the limit. */
	expect_refused(nested_variants(100000), "nested too deeply");
}

static void
write_raw_string(VmmDBusWriter *body, const char *bytes, uint32_t length, char terminator)
{
	vmm_dbus_write_uint32(body, length);
	for (uint32_t i = 0; i < length; i++)
		vmm_dbus_write_byte(body, (uint8_t)bytes[i]);
	vmm_dbus_write_byte(body, (uint8_t)terminator);
}

static void
write_invalid_utf8(VmmDBusWriter *body)
{
	write_raw_string(body, "a\xff", 2, '\0');
}

static void
write_overlong_utf8(VmmDBusWriter *body)
{
	write_raw_string(body, "\xc0\xaf", 2, '\0');
}

static void
write_surrogate(VmmDBusWriter *body)
{
	write_raw_string(body, "\xed\xb0\x80", 3, '\0');
}

static void
write_inner_nul(VmmDBusWriter *body)
{
	write_raw_string(body, "a\0b", 3, '\0');
}

static void
write_unterminated(VmmDBusWriter *body)
{
	write_raw_string(body, "abc", 3, 'd');
}

static void
write_bad_path(VmmDBusWriter *body)
{
	vmm_dbus_write_object_path(body, "/a//b");
}

static void
write_relative_path(VmmDBusWriter *body)
{
	vmm_dbus_write_object_path(body, "a/b");
}

static void
test_strings(void)
{
	Header header = SIGNAL_HEADER(NULL);

	check_body("s", write_invalid_utf8, "UTF-8");
	check_body("s", write_overlong_utf8, "UTF-8");
	check_body("s", write_surrogate, "UTF-8");
	check_body("s", write_inner_nul, "NUL");
	check_body("s", write_unterminated, "NUL");
	check_body("o", write_bad_path, "object path");
	check_body("o", write_relative_path, "object path");
	header.path = "/trailing/";
	expect_refused(assemble(&header, NULL), "object path");
	header = SIGNAL_HEADER(NULL);
	header.interface = "no_dots";
	expect_refused(assemble(&header, NULL), "invalid name");
	header = SIGNAL_HEADER(NULL);
	header.member = "Has.Dot";
	expect_refused(assemble(&header, NULL), "invalid name");
}

static void
write_two(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, 2);
}

static void
write_one(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, 1);
}

static void
test_boolean(void)
{
	check_body("b", write_one, NULL);
	check_body("b", write_two, "boolean");
}

static void
write_oversize_array(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, VMM_DBUS_MAX_ARRAY_LENGTH + 1);
	vmm_dbus_write_byte(body, 1);
}

static void
write_largest_array_header(VmmDBusWriter *body)
{
	vmm_dbus_write_uint32(body, VMM_DBUS_MAX_ARRAY_LENGTH);
	vmm_dbus_write_byte(body, 1);
}

static void
test_oversize_array(void)
{
	check_body("ay", write_oversize_array, "64 MiB");
	/* The largest length allowed, with the data missing: refused as truncated instead. */
	check_body("ay", write_largest_array_header, "longer than its container");
}

static void
duplicate_member(VmmDBusWriter *header)
{
	write_field(header, MEMBER, "s", "Again", 0);
}

static void
unknown_field(VmmDBusWriter *header)
{
	write_field(header, 200, "s", "ignored", 0);
}

static void
invalid_field(VmmDBusWriter *header)
{
	write_field(header, 0, "s", "zero", 0);
}

static void
test_header(void)
{
	Header header = SIGNAL_HEADER(NULL);

	expect_accepted(assemble(&header, NULL));
	header.serial = 0;
	expect_refused(assemble(&header, NULL), "serial 0");
	header = SIGNAL_HEADER(NULL);
	header.type = 0;
	expect_refused(assemble(&header, NULL), "type 0");
	header = SIGNAL_HEADER(NULL);
	header.version = 2;
	expect_refused(assemble(&header, NULL), "protocol version");
	header = SIGNAL_HEADER(NULL);
	header.byte_order = 'x';
	expect_refused(assemble(&header, NULL), "byte order");
	header = SIGNAL_HEADER(NULL);
	header.member = NULL;
	expect_refused(assemble(&header, NULL), "signal without");
	header = SIGNAL_HEADER(NULL);
	header.type = VMM_DBUS_METHOD_CALL;
	header.path = NULL;
	expect_refused(assemble(&header, NULL), "method call without");
	header = SIGNAL_HEADER(NULL);
	header.type = VMM_DBUS_ERROR;
	expect_refused(assemble(&header, NULL), "error without");
	header = SIGNAL_HEADER(NULL);
	header.path_type = "s";
	expect_refused(assemble(&header, NULL), "wrong type");
	header = SIGNAL_HEADER(NULL);
	header.more_fields = duplicate_member;
	expect_refused(assemble(&header, NULL), "twice");
	header.more_fields = invalid_field;
	expect_refused(assemble(&header, NULL), "field 0");
	/* What a peer does not know it ignores: fields, and messages of unknown types. */
	header.more_fields = unknown_field;
	expect_accepted(assemble(&header, NULL));
	header = SIGNAL_HEADER(NULL);
	header.type = 9;
	expect_accepted(assemble(&header, NULL));
}

/* Every value of every byte of a message: refused or accepted, never a crash. */
static void
test_every_byte(void)
{
	VmmDBusWriter body;
	Header header = SIGNAL_HEADER(RICH_SIGNATURE);
	GByteArray *blob;
	guint accepted = 0;

	vmm_dbus_writer_init(&body);
	write_rich_body(&body);
	blob = assemble(&header, &body);
	for (guint at = 0; at < blob->len; at++) {
		guint8 original = blob->data[at];

		for (guint value = 0; value < 256; value++) {
			vmm_autoptr(VmmError) error = NULL;
			vmm_autoptr(VmmDBusMessage) message = NULL;

			blob->data[at] = (guint8)value;
			message = vmm_dbus_message_new_from_blob(blob->data, blob->len, &error);
			g_assert_true((message == NULL) != (error == NULL));
			accepted += message != NULL;
		}
		blob->data[at] = original;
	}
	g_test_message("%u of %u variants accepted", accepted, blob->len * 256);
	g_byte_array_unref(blob);
	vmm_dbus_writer_clear(&body);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/dbus-malformed/truncated", test_truncated);
	g_test_add_func("/dbus-malformed/lengths", test_lengths);
	g_test_add_func("/dbus-malformed/padding", test_padding);
	g_test_add_func("/dbus-malformed/signatures", test_signatures);
	g_test_add_func("/dbus-malformed/nesting", test_nesting);
	g_test_add_func("/dbus-malformed/strings", test_strings);
	g_test_add_func("/dbus-malformed/boolean", test_boolean);
	g_test_add_func("/dbus-malformed/oversize-array", test_oversize_array);
	g_test_add_func("/dbus-malformed/header", test_header);
	g_test_add_func("/dbus-malformed/every-byte", test_every_byte);
	return g_test_run();
}
