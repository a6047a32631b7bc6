/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <math.h>

#include "vmm-dbus-message.h"
#include "vmm-test-error.h"

/*
 * The worker's D-Bus wire format against GIO's: what one writes the other
 * reads to the same values, in both byte orders; and hostile blobs are
 * refused with an error.
 */

/* Bodies in GVariant text format: every type, the edges of alignment and nesting. */
static const char *const bodies[] = {
	"(byte 0, true, int16 -32768, uint16 65535, -2147483648, uint32 4294967295, "
	"int64 -9223372036854775808, uint64 18446744073709551615, 2.5, 'text', "
	"objectpath '/a/b_c/D1', signature 'a{sv}(ii)')",
	"(false, byte 255)",
	"('', objectpath '/', signature '')",
	"('grüße ✓ 𝄞',)",
	"(@at [], byte 7, @a(yt) [])",
	"(byte 1, @at [1, 2, 3], byte 2, [(byte 3, uint64 4), (5, 6)])",
	"({'a': <uint64 1>, 'b': <'two'>, 'c': <(3, 'x')>, 'd': <@as []>},)",
	"(@a{sv} {}, @a{st} {'swap-in': 1, 'memory-free': 2})",
	"(<<<byte 9>>>,)",
	"([[byte 1, 2], [], [3]], [[[int16 1]]])",
	"({'outer': {'inner': <[objectpath '/x', '/y']>}},)",
	"(((byte 1, (int16 2, (3, (int64 4, 'deep')))), true),)",
	"([<byte 1>, <int16 2>, <'three'>, <[1.5]>],)",
};

/* Writes @value the way the worker writes its values. */
static void
write_value(VmmDBusWriter *writer, GVariant *value)
{
	switch (g_variant_classify(value)) {
	case G_VARIANT_CLASS_BYTE:
		vmm_dbus_write_byte(writer, g_variant_get_byte(value));
		break;
	case G_VARIANT_CLASS_BOOLEAN:
		vmm_dbus_write_boolean(writer, g_variant_get_boolean(value));
		break;
	case G_VARIANT_CLASS_INT16:
		vmm_dbus_write_int16(writer, g_variant_get_int16(value));
		break;
	case G_VARIANT_CLASS_UINT16:
		vmm_dbus_write_uint16(writer, g_variant_get_uint16(value));
		break;
	case G_VARIANT_CLASS_INT32:
		vmm_dbus_write_int32(writer, g_variant_get_int32(value));
		break;
	case G_VARIANT_CLASS_UINT32:
		vmm_dbus_write_uint32(writer, g_variant_get_uint32(value));
		break;
	case G_VARIANT_CLASS_INT64:
		vmm_dbus_write_int64(writer, g_variant_get_int64(value));
		break;
	case G_VARIANT_CLASS_UINT64:
		vmm_dbus_write_uint64(writer, g_variant_get_uint64(value));
		break;
	case G_VARIANT_CLASS_DOUBLE:
		vmm_dbus_write_double(writer, g_variant_get_double(value));
		break;
	case G_VARIANT_CLASS_STRING:
		vmm_dbus_write_string(writer, g_variant_get_string(value, NULL));
		break;
	case G_VARIANT_CLASS_OBJECT_PATH:
		vmm_dbus_write_object_path(writer, g_variant_get_string(value, NULL));
		break;
	case G_VARIANT_CLASS_SIGNATURE:
		vmm_dbus_write_signature(writer, g_variant_get_string(value, NULL));
		break;
	case G_VARIANT_CLASS_VARIANT: {
		g_autoptr(GVariant) inner = g_variant_get_variant(value);

		vmm_dbus_write_variant_begin(writer, g_variant_get_type_string(inner));
		write_value(writer, inner);
		break;
	}
	case G_VARIANT_CLASS_ARRAY: {
		VmmDBusArrayMark mark =
			vmm_dbus_write_array_begin(writer, g_variant_get_type_string(value) + 1);

		for (gsize i = 0; i < g_variant_n_children(value); i++) {
			g_autoptr(GVariant) child = g_variant_get_child_value(value, i);

			write_value(writer, child);
		}
		vmm_dbus_write_array_end(writer, mark);
		break;
	}
	case G_VARIANT_CLASS_TUPLE:
	case G_VARIANT_CLASS_DICT_ENTRY:
		vmm_dbus_write_struct_begin(writer);
		for (gsize i = 0; i < g_variant_n_children(value); i++) {
			g_autoptr(GVariant) child = g_variant_get_child_value(value, i);

			write_value(writer, child);
		}
		break;
	default:
		g_assert_not_reached();
	}
}

static GVariant *read_value(VmmDBusReader *reader);

/* The values of a container, as an array, tuple or dict entry of type @type. */
static GVariant *
read_container(VmmDBusReader *reader, const GVariantType *type)
{
	vmm_autoptr(VmmError) error = NULL;
	GVariantBuilder builder;
	VmmDBusReader sub;

	g_assert_true(vmm_dbus_reader_enter(reader, &sub, &error));
	vmm_assert_no_error(error);
	g_variant_builder_init(&builder, type);
	while (!vmm_dbus_reader_at_end(&sub))
		g_variant_builder_add_value(&builder, read_value(&sub));
	return g_variant_builder_end(&builder);
}

#define READ_NUMBER(function, Type, constructor)                                                   \
	do {                                                                                       \
		Type number_;                                                                      \
		g_assert_true(function(reader, &number_, &error));                                 \
		return constructor(number_);                                                       \
	} while (0)

static GVariant *
read_value(VmmDBusReader *reader)
{
	vmm_autoptr(VmmError) error = NULL;
	size_t length;
	const char *signature = vmm_dbus_reader_peek_signature(reader, &length);
	g_autofree char *type = g_strndup(signature, length);
	const char *text;
	VmmDBusReader sub;

	switch (type[0]) {
	case 'y':
		READ_NUMBER(vmm_dbus_read_byte, guint8, g_variant_new_byte);
	case 'b':
		READ_NUMBER(vmm_dbus_read_boolean, bool, g_variant_new_boolean);
	case 'n':
		READ_NUMBER(vmm_dbus_read_int16, gint16, g_variant_new_int16);
	case 'q':
		READ_NUMBER(vmm_dbus_read_uint16, guint16, g_variant_new_uint16);
	case 'i':
		READ_NUMBER(vmm_dbus_read_int32, gint32, g_variant_new_int32);
	case 'u':
		READ_NUMBER(vmm_dbus_read_uint32, guint32, g_variant_new_uint32);
	case 'x':
		READ_NUMBER(vmm_dbus_read_int64, gint64, g_variant_new_int64);
	case 't':
		READ_NUMBER(vmm_dbus_read_uint64, guint64, g_variant_new_uint64);
	case 'd':
		READ_NUMBER(vmm_dbus_read_double, double, g_variant_new_double);
	case 's':
		g_assert_true(vmm_dbus_read_string(reader, &text, &error));
		return g_variant_new_string(text);
	case 'o':
		g_assert_true(vmm_dbus_read_object_path(reader, &text, &error));
		return g_variant_new_object_path(text);
	case 'g':
		g_assert_true(vmm_dbus_read_signature(reader, &text, &error));
		return g_variant_new_signature(text);
	case 'v':
		g_assert_true(vmm_dbus_reader_enter(reader, &sub, &error));
		return g_variant_new_variant(read_value(&sub));
	default:
		return read_container(reader, G_VARIANT_TYPE(type));
	}
}

static GVariant *
read_body(const VmmDBusMessage *message)
{
	GVariantBuilder builder;
	VmmDBusReader reader;

	vmm_dbus_message_read_body(message, &reader);
	g_variant_builder_init(&builder, G_VARIANT_TYPE_TUPLE);
	while (!vmm_dbus_reader_at_end(&reader))
		g_variant_builder_add_value(&builder, read_value(&reader));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

static GVariant *
parse_body(const char *text)
{
	g_autoptr(GError) error = NULL;
	GVariant *body = g_variant_parse(NULL, text, NULL, NULL, &error);

	g_assert_no_error(error);
	return body;
}

/* Our signal with @body, as a blob. */
static uint8_t *
our_blob(GVariant *body, uint32_t serial, size_t *size)
{
	vmm_autoptr(VmmDBusMessage) message =
		vmm_dbus_message_new_signal("/org/example/Object", "org.example.Iface", "Changed");
	g_autofree char *signature = g_strndup(g_variant_get_type_string(body) + 1,
					       strlen(g_variant_get_type_string(body)) - 2);
	VmmDBusWriter *writer = vmm_dbus_message_begin_body(message, signature);
	vmm_autoptr(VmmError) error = NULL;
	uint8_t *blob;

	for (gsize i = 0; i < g_variant_n_children(body); i++) {
		g_autoptr(GVariant) child = g_variant_get_child_value(body, i);

		write_value(writer, child);
	}
	blob = vmm_dbus_message_to_blob(message, serial, size, &error);
	vmm_assert_no_error(error);
	return blob;
}

static void
test_round_trip(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autoptr(GVariant) body = parse_body(bodies[i]);
		vmm_autoptr(VmmError) error = NULL;
		vmm_autoptr(VmmDBusMessage) message = NULL;
		g_autoptr(GVariant) read = NULL;
		g_autofree uint8_t *blob = NULL;
		size_t size;

		blob = our_blob(body, 7, &size);
		message = vmm_dbus_message_new_from_blob(blob, size, &error);
		vmm_assert_no_error(error);
		g_assert_cmpint(message->type, ==, VMM_DBUS_SIGNAL);
		g_assert_cmpuint(message->serial, ==, 7);
		g_assert_cmpstr(message->path, ==, "/org/example/Object");
		g_assert_cmpstr(message->interface, ==, "org.example.Iface");
		g_assert_cmpstr(message->member, ==, "Changed");
		read = read_body(message);
		g_assert_true(g_variant_equal(read, body));
	}
}

static void
test_gio_reads_ours(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autoptr(GVariant) body = parse_body(bodies[i]);
		g_autoptr(GError) error = NULL;
		g_autoptr(GDBusMessage) message = NULL;
		g_autofree uint8_t *blob = NULL;
		size_t size;

		blob = our_blob(body, 42, &size);
		message = g_dbus_message_new_from_blob(
			blob, size, G_DBUS_CAPABILITY_FLAGS_NONE, &error);
		g_assert_no_error(error);
		g_assert_cmpint(
			g_dbus_message_get_message_type(message), ==, G_DBUS_MESSAGE_TYPE_SIGNAL);
		g_assert_cmpuint(g_dbus_message_get_serial(message), ==, 42);
		g_assert_cmpstr(g_dbus_message_get_path(message), ==, "/org/example/Object");
		g_assert_cmpstr(g_dbus_message_get_member(message), ==, "Changed");
		g_assert_true(g_variant_equal(g_dbus_message_get_body(message), body));
	}
}

static uint8_t *
gio_blob(GVariant *body, GDBusMessageByteOrder order, gsize *size)
{
	g_autoptr(GDBusMessage) message = g_dbus_message_new_method_call(
		"org.example.Peer", "/org/example/Object", "org.example.Iface", "Call");
	g_autoptr(GError) error = NULL;
	guchar *blob;

	g_dbus_message_set_serial(message, 1234);
	g_dbus_message_set_byte_order(message, order);
	if (g_variant_n_children(body) > 0)
		g_dbus_message_set_body(message, body);
	blob = g_dbus_message_to_blob(message, size, G_DBUS_CAPABILITY_FLAGS_NONE, &error);
	g_assert_no_error(error);
	return blob;
}

static void
check_reads_gio(GDBusMessageByteOrder order)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autoptr(GVariant) body = parse_body(bodies[i]);
		vmm_autoptr(VmmError) error = NULL;
		vmm_autoptr(VmmDBusMessage) message = NULL;
		g_autoptr(GVariant) read = NULL;
		g_autofree guchar *blob = NULL;
		gsize size;

		blob = gio_blob(body, order, &size);
		message = vmm_dbus_message_new_from_blob(blob, size, &error);
		vmm_assert_no_error(error);
		g_assert_cmpint(message->type, ==, VMM_DBUS_METHOD_CALL);
		g_assert_cmpuint(message->serial, ==, 1234);
		g_assert_cmpstr(message->destination, ==, "org.example.Peer");
		g_assert_cmpstr(message->path, ==, "/org/example/Object");
		g_assert_cmpstr(message->interface, ==, "org.example.Iface");
		g_assert_cmpstr(message->member, ==, "Call");
		read = read_body(message);
		g_assert_true(g_variant_equal(read, body));
	}
}

static void
test_reads_gio_little_endian(void)
{
	check_reads_gio(G_DBUS_MESSAGE_BYTE_ORDER_LITTLE_ENDIAN);
}

static void
test_reads_gio_big_endian(void)
{
	check_reads_gio(G_DBUS_MESSAGE_BYTE_ORDER_BIG_ENDIAN);
}

static void
test_replies(void)
{
	vmm_autoptr(VmmDBusMessage) call = NULL;
	vmm_autoptr(VmmDBusMessage) error_reply = NULL;
	g_autoptr(GDBusMessage) parsed = NULL;
	g_autoptr(GError) gerror = NULL;
	vmm_autoptr(VmmError) error = NULL;
	g_autofree guchar *call_blob = NULL;
	g_autofree uint8_t *blob = NULL;
	g_autoptr(GDBusMessage) gio_call = g_dbus_message_new_method_call(
		"org.example.Peer", "/org/example/Object", "org.example.Iface", "Call");
	gsize call_size;
	size_t size;

	g_dbus_message_set_serial(gio_call, 77);
	g_dbus_message_set_sender(gio_call, ":1.5");
	call_blob = g_dbus_message_to_blob(gio_call, &call_size, 0, &gerror);
	g_assert_no_error(gerror);
	call = vmm_dbus_message_new_from_blob(call_blob, call_size, &error);
	vmm_assert_no_error(error);
	g_assert_cmpstr(call->signature, ==, "");
	g_assert_cmpstr(call->sender, ==, ":1.5");
	error_reply = vmm_dbus_message_new_error(
		call, "org.example.Error.Broken", "%s is broken", "everything");
	blob = vmm_dbus_message_to_blob(error_reply, 3, &size, &error);
	vmm_assert_no_error(error);
	parsed = g_dbus_message_new_from_blob(blob, size, 0, &gerror);
	g_assert_no_error(gerror);
	g_assert_cmpint(g_dbus_message_get_message_type(parsed), ==, G_DBUS_MESSAGE_TYPE_ERROR);
	g_assert_cmpuint(g_dbus_message_get_reply_serial(parsed), ==, 77);
	g_assert_cmpstr(g_dbus_message_get_destination(parsed), ==, ":1.5");
	g_assert_cmpstr(g_dbus_message_get_error_name(parsed), ==, "org.example.Error.Broken");
	g_assert_cmpstr(g_dbus_message_get_arg0(parsed), ==, "everything is broken");
}

static void
test_names(void)
{
	static const char *const good_paths[] = {"/", "/a", "/a/b", "/_1/B_c9"};
	static const char *const bad_paths[] = {"", "a", "//", "/a/", "/a//b", "/a-b", "/ä"};
	static const char *const good_signatures[] = {"", "s", "a{sv}", "(i(ii))", "aa{s(ay)}v"};
	static const char *const bad_signatures[] = {
		"(", ")", "()", "a", "{sv}", "a{vs}", "a{s}", "a{sii}", "(i", "z", "a{sv"};
	g_autofree char *longest = g_strnfill(VMM_DBUS_MAX_SIGNATURE_LENGTH + 1, 'y');

	for (size_t i = 0; i < G_N_ELEMENTS(good_paths); i++)
		g_assert_true(vmm_dbus_is_valid_object_path(good_paths[i], strlen(good_paths[i])));
	for (size_t i = 0; i < G_N_ELEMENTS(bad_paths); i++)
		g_assert_false(vmm_dbus_is_valid_object_path(bad_paths[i], strlen(bad_paths[i])));
	for (size_t i = 0; i < G_N_ELEMENTS(good_signatures); i++)
		g_assert_true(vmm_dbus_is_valid_signature(good_signatures[i],
							  strlen(good_signatures[i])));
	for (size_t i = 0; i < G_N_ELEMENTS(bad_signatures); i++)
		g_assert_false(
			vmm_dbus_is_valid_signature(bad_signatures[i], strlen(bad_signatures[i])));
	g_assert_true(vmm_dbus_is_valid_signature(longest, VMM_DBUS_MAX_SIGNATURE_LENGTH));
	g_assert_false(vmm_dbus_is_valid_signature(longest, VMM_DBUS_MAX_SIGNATURE_LENGTH + 1));
	g_assert_true(vmm_dbus_is_single_complete_type("a{s(iv)}", 8));
	g_assert_false(vmm_dbus_is_single_complete_type("ii", 2));
	g_assert_false(vmm_dbus_is_single_complete_type("", 0));
	g_assert_true(vmm_dbus_is_valid_interface_name("org.a_b.C1", 10));
	g_assert_false(vmm_dbus_is_valid_interface_name("org", 3));
	g_assert_false(vmm_dbus_is_valid_interface_name("org.1a", 6));
	g_assert_false(vmm_dbus_is_valid_interface_name("org..a", 6));
	g_assert_true(vmm_dbus_is_valid_member_name("Get_1", 5));
	g_assert_false(vmm_dbus_is_valid_member_name("a.b", 3));
	g_assert_false(vmm_dbus_is_valid_member_name("1a", 2));
	g_assert_true(vmm_dbus_is_valid_bus_name(":1.42", 5));
	g_assert_true(vmm_dbus_is_valid_bus_name("org.vboxmem-x.Worker", 20));
	g_assert_false(vmm_dbus_is_valid_bus_name(":1", 2));
	g_assert_false(vmm_dbus_is_valid_bus_name("org.1x", 6));
	g_assert_true(vmm_dbus_is_valid_utf8("a\xc3\xa4\xe2\x9c\x93\xf0\x9d\x84\x9e", 10));
	g_assert_false(vmm_dbus_is_valid_utf8("\xc0\x80", 2));         /* overlong NUL */
	g_assert_false(vmm_dbus_is_valid_utf8("\xe0\x80\xaf", 3));     /* overlong / */
	g_assert_false(vmm_dbus_is_valid_utf8("\xed\xa0\x80", 3));     /* a surrogate */
	g_assert_false(vmm_dbus_is_valid_utf8("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
	g_assert_false(vmm_dbus_is_valid_utf8("\xff", 1));
	g_assert_false(vmm_dbus_is_valid_utf8("\xc3", 1)); /* truncated */
	g_assert_false(vmm_dbus_is_valid_utf8("a\0b", 3));
}

static void
check_gio_agrees(const uint8_t *blob, size_t size, const VmmDBusMessage *ours)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusMessage) theirs =
		g_dbus_message_new_from_blob((guchar *)blob, size, 0, &error);
	g_autoptr(GVariant) read = read_body(ours);
	g_autoptr(GVariant) empty = g_variant_ref_sink(g_variant_new("()"));
	GVariant *body;

	if (theirs == NULL)
		g_error("we accept a message GIO refuses: %s", error->message);
	body = g_dbus_message_get_body(theirs) != NULL ? g_dbus_message_get_body(theirs) : empty;
	g_assert_true(g_variant_equal(read, body));
	g_assert_cmpuint(ours->serial, ==, g_dbus_message_get_serial(theirs));
	g_assert_cmpstr(ours->path, ==, g_dbus_message_get_path(theirs));
	g_assert_cmpstr(ours->member, ==, g_dbus_message_get_member(theirs));
}

/* Random damage to valid messages: an error or, if we take it, what GIO reads too. */
static void
test_damaged(void)
{
	guint accepted = 0;

	for (guint iteration = 0; iteration < 30000; iteration++) {
		g_autoptr(GVariant) body = parse_body(bodies[iteration % G_N_ELEMENTS(bodies)]);
		vmm_autoptr(VmmError) error = NULL;
		vmm_autoptr(VmmDBusMessage) message = NULL;
		g_autofree guchar *blob = NULL;
		gsize size;
		guint damage = (guint)g_test_rand_int_range(1, 4);

		blob = gio_blob(body,
				iteration % 2 ? G_DBUS_MESSAGE_BYTE_ORDER_BIG_ENDIAN
					      : G_DBUS_MESSAGE_BYTE_ORDER_LITTLE_ENDIAN,
				&size);
		for (guint i = 0; i < damage; i++) {
			gsize at = (gsize)g_test_rand_int_range(0, (gint32)size);

			if (g_test_rand_bit())
				blob[at] ^= (guchar)(1u << g_test_rand_int_range(0, 8));
			else
				blob[at] = (guchar)g_test_rand_int_range(0, 256);
		}
		message = vmm_dbus_message_new_from_blob(blob, size, &error);
		if (message == NULL) {
			g_assert_cmpint(error->code, ==, EBADMSG);
			continue;
		}
		accepted++;
		check_gio_agrees(blob, size, message);
	}
	g_test_message("%u damaged messages accepted, as GIO does", accepted);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/dbus-message/round-trip", test_round_trip);
	g_test_add_func("/dbus-message/gio-reads-ours", test_gio_reads_ours);
	g_test_add_func("/dbus-message/reads-gio-little-endian", test_reads_gio_little_endian);
	g_test_add_func("/dbus-message/reads-gio-big-endian", test_reads_gio_big_endian);
	g_test_add_func("/dbus-message/replies", test_replies);
	g_test_add_func("/dbus-message/names", test_names);
	g_test_add_func("/dbus-message/damaged", test_damaged);
	return g_test_run();
}
