/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm-dbus-auth.h"
#include "vmm-dbus-connection.h"
#include "vmm-test-error.h"

/*
 * The server end of a connection against a client that writes raw bytes:
 * the authentication conversation as GDBus, sd-bus and hostile peers hold
 * it, message framing, the send queue and flushing.
 */

typedef struct {
	VmmLoop *loop;
	VmmDBusConnection *server;
	int client;
	char guid[VMM_DBUS_GUID_LENGTH + 1];
	GPtrArray *calls; /* members of the method calls received */
	gboolean closed;
	gboolean nul_sent;
	gint64 deadline;
	gboolean (*done)(void *fixture);
} Fixture;

static void
on_call(VmmDBusConnection *connection, const VmmDBusMessage *call, void *user_data)
{
	Fixture *f = user_data;
	VmmDBusMessage *reply = vmm_dbus_message_new_method_return(call);

	g_ptr_array_add(f->calls, g_strdup(call->member));
	vmm_dbus_write_string(vmm_dbus_message_begin_body(reply, "s"), call->member);
	vmm_dbus_connection_reply(connection, call, reply);
}

static void
on_closed(VmmDBusConnection *connection, void *user_data)
{
	Fixture *f = user_data;

	g_assert_false(f->closed);
	f->closed = TRUE;
}

static void
setup(Fixture *f, gconstpointer data)
{
	vmm_autoptr(VmmError) error = NULL;
	int fds[2];

	g_assert_cmpint(
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), ==, 0);
	f->loop = vmm_loop_new(&error);
	vmm_assert_no_error(error);
	vmm_dbus_generate_guid(f->guid);
	g_assert_cmpuint(strlen(f->guid), ==, 32);
	f->server = vmm_dbus_connection_new(f->loop, fds[0], f->guid, on_call, on_closed, f);
	f->client = fds[1];
	f->calls = g_ptr_array_new_with_free_func(g_free);
}

static void
teardown(Fixture *f, gconstpointer data)
{
	vmm_dbus_connection_free(f->server);
	vmm_loop_free(f->loop);
	if (f->client >= 0)
		close(f->client);
	g_ptr_array_unref(f->calls);
}

static bool
check_done(void *user_data)
{
	Fixture *f = user_data;

	if (f->done(f)) {
		vmm_loop_quit(f->loop);
		return false;
	}
	if (g_get_monotonic_time() > f->deadline)
		g_error("the connection did not get there within 5 s");
	return true;
}

/* Runs the loop until @done holds. */
static void
run_until(Fixture *f, gboolean (*done)(void *fixture))
{
	f->done = done;
	f->deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	vmm_loop_add_timeout(f->loop, 1, check_done, f);
	vmm_loop_run(f->loop);
}

static gboolean
is_closed(void *user_data)
{
	return ((Fixture *)user_data)->closed;
}

static gboolean
is_open(void *user_data)
{
	return vmm_dbus_connection_is_open(((Fixture *)user_data)->server);
}

static gboolean
got_call(void *user_data)
{
	return ((Fixture *)user_data)->calls->len > 0;
}

static gboolean
client_readable(void *user_data)
{
	struct pollfd poll_fd = {.fd = ((Fixture *)user_data)->client, .events = POLLIN};

	return poll(&poll_fd, 1, 0) > 0;
}

static void
client_send(Fixture *f, const void *data, size_t size)
{
	g_assert_cmpint(send(f->client, data, size, MSG_NOSIGNAL), ==, (ssize_t)size);
}

static void
client_say(Fixture *f, const char *text)
{
	client_send(f, text, strlen(text));
}

/* The byte that opens the conversation. */
static void
client_start(Fixture *f)
{
	client_send(f, "", 1);
	f->nul_sent = TRUE;
}

/* Everything the server sent so far, once it sent anything. */
static GByteArray *
client_receive(Fixture *f)
{
	GByteArray *received = g_byte_array_new();
	guint8 buffer[4096];
	ssize_t n;

	run_until(f, client_readable);
	while ((n = recv(f->client, buffer, sizeof(buffer), MSG_DONTWAIT)) > 0)
		g_byte_array_append(received, buffer, (guint)n);
	return received;
}

static void
expect_lines(Fixture *f, const char *expected)
{
	g_autoptr(GByteArray) received = client_receive(f);
	g_autofree char *text = g_strndup((const char *)received->data, received->len);

	g_assert_cmpstr(text, ==, expected);
}

static char *
hex_uid(uid_t uid)
{
	g_autofree char *decimal = g_strdup_printf("%u", (unsigned)uid);
	GString *hex = g_string_new(NULL);

	for (const char *c = decimal; *c != '\0'; c++)
		g_string_append_printf(hex, "%02x", (unsigned char)*c);
	return g_string_free(hex, FALSE);
}

static guint8 *
call_blob(const char *member, guint8 flags, uint32_t serial, size_t *size)
{
	vmm_autoptr(VmmDBusMessage) call =
		vmm_dbus_message_new_method_call(NULL, "/obj", "org.example.Iface", member);
	vmm_autoptr(VmmError) error = NULL;
	guint8 *blob;

	call->flags = flags;
	blob = vmm_dbus_message_to_blob(call, serial, size, &error);
	vmm_assert_no_error(error);
	return blob;
}

static void
client_call(Fixture *f, const char *member, guint8 flags, uint32_t serial)
{
	size_t size;
	g_autofree guint8 *blob = call_blob(member, flags, serial, &size);

	client_send(f, blob, size);
}

/* Reads one message from the server. */
static VmmDBusMessage *
client_receive_message(Fixture *f)
{
	g_autoptr(GByteArray) received = client_receive(f);
	vmm_autoptr(VmmError) error = NULL;
	VmmDBusMessage *message;
	size_t size;

	g_assert_cmpuint(received->len, >=, VMM_DBUS_FIXED_HEADER_SIZE);
	g_assert_true(vmm_dbus_message_get_size(received->data, &size, &error));
	g_assert_cmpuint(size, ==, received->len);
	message = vmm_dbus_message_new_from_blob(received->data, size, &error);
	vmm_assert_no_error(error);
	return message;
}

static void
authenticate(Fixture *f)
{
	g_autofree char *uid = hex_uid(getuid());
	g_autofree char *auth = g_strdup_printf("AUTH EXTERNAL %s\r\n", uid);
	g_autofree char *ok = g_strdup_printf("OK %s\r\n", f->guid);

	if (!f->nul_sent)
		client_start(f);
	client_say(f, auth);
	expect_lines(f, ok);
	client_say(f, "BEGIN\r\n");
}

static void
expect_reply_to(Fixture *f, uint32_t serial, const char *member)
{
	vmm_autoptr(VmmDBusMessage) reply = client_receive_message(f);
	VmmDBusReader body;
	const char *text = NULL;

	g_assert_cmpint(reply->type, ==, VMM_DBUS_METHOD_RETURN);
	g_assert_cmpuint(reply->reply_serial, ==, serial);
	vmm_dbus_message_read_body(reply, &body);
	g_assert_true(vmm_dbus_read_string(&body, &text, NULL));
	g_assert_cmpstr(text, ==, member);
}

/* sd-bus sends it all at once: AUTH EXTERNAL without its identity, then DATA. */
static void
test_pipelined(Fixture *f, gconstpointer data)
{
	static const char auth[] = "\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
	g_autofree char *replies = g_strdup_printf("DATA\r\nOK %s\r\nERROR\r\n", f->guid);
	g_autoptr(GByteArray) stream = g_byte_array_new();
	g_autoptr(GByteArray) received = NULL;
	vmm_autoptr(VmmDBusMessage) reply = NULL;
	vmm_autoptr(VmmError) error = NULL;
	g_autofree guint8 *hello = NULL;
	size_t size;

	g_byte_array_append(stream, (const guint8 *)auth, sizeof(auth) - 1);
	hello = call_blob("Hello", 0, 1, &size);
	g_byte_array_append(stream, hello, (guint)size);
	client_send(f, stream->data, stream->len);
	run_until(f, got_call);
	g_assert_cmpstr(g_ptr_array_index(f->calls, 0), ==, "Hello");
	received = client_receive(f);
	g_assert_cmpuint(received->len, >, strlen(replies));
	g_assert_cmpmem(received->data, strlen(replies), replies, strlen(replies));
	reply = vmm_dbus_message_new_from_blob(
		received->data + strlen(replies), received->len - strlen(replies), &error);
	vmm_assert_no_error(error);
	g_assert_cmpint(reply->type, ==, VMM_DBUS_METHOD_RETURN);
	g_assert_cmpuint(reply->reply_serial, ==, 1);
	g_assert_false(f->closed);
}

static void
test_identity(Fixture *f, gconstpointer data)
{
	g_autofree char *wrong = hex_uid(getuid() + 1);
	g_autofree char *wrong_auth = g_strdup_printf("AUTH EXTERNAL %s\r\n", wrong);

	client_start(f);
	/* GDBus first asks which mechanisms there are. */
	client_say(f, "AUTH\r\n");
	expect_lines(f, "REJECTED EXTERNAL\r\n");
	client_say(f, "AUTH ANONYMOUS 6a6f65\r\n");
	expect_lines(f, "REJECTED EXTERNAL\r\n");
	client_say(f, wrong_auth);
	expect_lines(f, "REJECTED EXTERNAL\r\n");
	client_say(f, "AUTH EXTERNAL 3x\r\n");
	expect_lines(f, "REJECTED EXTERNAL\r\n");
	client_say(f, "AUTH EXTERNAL\r\n");
	expect_lines(f, "DATA\r\n");
	client_say(f, "CANCEL\r\n");
	expect_lines(f, "REJECTED EXTERNAL\r\n");
	g_assert_false(vmm_dbus_connection_is_open(f->server));
	authenticate(f);
	client_call(f, "Echo", 0, 9);
	expect_reply_to(f, 9, "Echo");
	g_assert_true(vmm_dbus_connection_is_open(f->server));
}

static void
test_unknown_commands(Fixture *f, gconstpointer data)
{
	client_start(f);
	client_say(f, "HELLO THERE\r\n");
	expect_lines(f, "ERROR\r\n");
	client_say(f, "DATA 31\r\n");
	expect_lines(f, "ERROR\r\n");
	client_say(f, "NEGOTIATE_UNIX_FD\r\n");
	expect_lines(f, "ERROR\r\n");
	authenticate(f);
	client_call(f, "Echo", 0, 2);
	expect_reply_to(f, 2, "Echo");
}

static void
expect_closed_after(Fixture *f, const void *bytes, size_t size)
{
	client_send(f, bytes, size);
	run_until(f, is_closed);
	g_assert_cmpuint(f->calls->len, ==, 0);
	g_assert_false(vmm_dbus_connection_is_open(f->server));
}

static void
test_garbage_line(Fixture *f, gconstpointer data)
{
	static const char garbage[] = "\0AUTH \x01\xfe\xff\r\n";

	expect_closed_after(f, garbage, sizeof(garbage) - 1);
}

static void
test_no_nul_byte(Fixture *f, gconstpointer data)
{
	expect_closed_after(f, "AUTH EXTERNAL\r\n", 15);
}

static void
test_overlong_line(Fixture *f, gconstpointer data)
{
	g_autofree char *line = g_strnfill(VMM_DBUS_AUTH_MAX_LINE * 2, 'A');

	line[0] = '\0';
	/* No end of line in sight: refused before the rest arrives. */
	expect_closed_after(f, line, VMM_DBUS_AUTH_MAX_LINE * 2);
}

static void
test_begin_too_early(Fixture *f, gconstpointer data)
{
	expect_closed_after(f, "\0BEGIN\r\n", 8);
}

static void
test_too_many_commands(Fixture *f, gconstpointer data)
{
	g_autoptr(GString) commands = g_string_new_len("", 1);

	for (int i = 0; i <= VMM_DBUS_AUTH_MAX_COMMANDS; i++)
		g_string_append(commands, "AUTH\r\n");
	expect_closed_after(f, commands->str, commands->len);
}

static void
test_closed_mid_message(Fixture *f, gconstpointer data)
{
	size_t size;
	g_autofree guint8 *blob = call_blob("Echo", 0, 1, &size);

	authenticate(f);
	client_send(f, blob, size / 2);
	close(f->client);
	f->client = -1;
	run_until(f, is_closed);
	g_assert_cmpuint(f->calls->len, ==, 0);
}

static void
test_malformed_message(Fixture *f, gconstpointer data)
{
	size_t size;
	g_autofree guint8 *blob = call_blob("Echo", 0, 1, &size);

	authenticate(f);
	blob[1] = 0; /* message type 0 */
	expect_closed_after(f, blob, size);
}

static void
test_message_too_large(Fixture *f, gconstpointer data)
{
	uint8_t header[VMM_DBUS_FIXED_HEADER_SIZE] = {'l', 1, 0, 1};
	uint32_t body_length = VMM_DBUS_CONNECTION_MAX_RECEIVED;
	uint32_t serial = 1;

	authenticate(f);
	memcpy(header + 4, &body_length, 4);
	memcpy(header + 8, &serial, 4);
	/* Refused from its first bytes: the rest never comes. */
	expect_closed_after(f, header, sizeof(header));
}

static VmmDBusMessage *
big_signal(size_t length)
{
	VmmDBusMessage *signal = vmm_dbus_message_new_signal("/obj", "org.example.Iface", "Big");
	g_autofree char *text = g_strnfill(length, 'x');

	vmm_dbus_write_string(vmm_dbus_message_begin_body(signal, "s"), text);
	return signal;
}

static void
test_send(Fixture *f, gconstpointer data)
{
	vmm_autoptr(VmmDBusMessage) signal = big_signal(10);
	vmm_autoptr(VmmDBusMessage) received = NULL;

	g_assert_false(vmm_dbus_connection_send(f->server, signal));
	authenticate(f);
	run_until(f, is_open);
	g_assert_true(vmm_dbus_connection_send(f->server, signal));
	received = client_receive_message(f);
	g_assert_cmpint(received->type, ==, VMM_DBUS_SIGNAL);
	g_assert_cmpstr(received->member, ==, "Big");
	g_assert_cmpuint(received->serial, ==, 1);
}

static void
test_no_reply_expected(Fixture *f, gconstpointer data)
{
	authenticate(f);
	client_call(f, "Quiet", VMM_DBUS_FLAG_NO_REPLY_EXPECTED, 1);
	client_call(f, "Echo", 0, 2);
	run_until(f, got_call);
	/* Only the second call is answered. */
	expect_reply_to(f, 2, "Echo");
}

static gpointer
drain(gpointer user_data)
{
	Fixture *f = user_data;
	guint8 buffer[65536];
	gsize total = 0;
	ssize_t n;

	while ((n = recv(f->client, buffer, sizeof(buffer), 0)) > 0)
		total += (gsize)n;
	return GSIZE_TO_POINTER(total);
}

static void
test_flush(Fixture *f, gconstpointer data)
{
	vmm_autoptr(VmmDBusMessage) signal = big_signal(64 * 1024);
	GThread *reader;
	gsize sent = 0;

	authenticate(f);
	run_until(f, is_open);
	for (int i = 0; i < 64; i++)
		g_assert_true(vmm_dbus_connection_send(f->server, signal));
	/* Nobody reads: 4 MiB do not fit in the socket. */
	g_assert_false(vmm_dbus_connection_flush(f->server, 50));
	g_assert_true(g_unix_set_fd_nonblocking(f->client, FALSE, NULL));
	reader = g_thread_new("drain", drain, f);
	g_assert_true(vmm_dbus_connection_flush(f->server, 10000));
	shutdown(f->client, SHUT_WR);
	vmm_dbus_connection_free(f->server);
	f->server = NULL;
	sent = GPOINTER_TO_SIZE(g_thread_join(reader));
	g_assert_cmpuint(sent, >, 64 * 64 * 1024);
}

static void
test_peer_not_reading(Fixture *f, gconstpointer data)
{
	vmm_autoptr(VmmDBusMessage) signal = big_signal(1024 * 1024);
	int sent = 0;

	authenticate(f);
	run_until(f, is_open);
	while (vmm_dbus_connection_send(f->server, signal))
		sent++;
	g_assert_cmpint(sent, >=, (int)(VMM_DBUS_CONNECTION_MAX_QUEUED >> 20) - 1);
	g_assert_cmpint(sent, <=, (int)(VMM_DBUS_CONNECTION_MAX_QUEUED >> 20) + 1);
	run_until(f, is_closed);
}

#define ADD(name, function) g_test_add(name, Fixture, NULL, setup, function, teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/dbus-connection/pipelined", test_pipelined);
	ADD("/dbus-connection/identity", test_identity);
	ADD("/dbus-connection/unknown-commands", test_unknown_commands);
	ADD("/dbus-connection/garbage-line", test_garbage_line);
	ADD("/dbus-connection/no-nul-byte", test_no_nul_byte);
	ADD("/dbus-connection/overlong-line", test_overlong_line);
	ADD("/dbus-connection/begin-too-early", test_begin_too_early);
	ADD("/dbus-connection/too-many-commands", test_too_many_commands);
	ADD("/dbus-connection/closed-mid-message", test_closed_mid_message);
	ADD("/dbus-connection/malformed-message", test_malformed_message);
	ADD("/dbus-connection/message-too-large", test_message_too_large);
	ADD("/dbus-connection/send", test_send);
	ADD("/dbus-connection/no-reply-expected", test_no_reply_expected);
	ADD("/dbus-connection/flush", test_flush);
	ADD("/dbus-connection/peer-not-reading", test_peer_not_reading);
	return g_test_run();
}
