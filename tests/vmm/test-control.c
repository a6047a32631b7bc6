/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/socket.h>

#include "vmm-control.h"
#include "vmm-test-error.h"

/*
 * The worker's control object over real connections, driven by GDBus as
 * vboxmemd drives it (a GDBusProxy on a socketpair) and as tests and admins
 * do (gdbus over --control-socket): a stand-in VM replaces KVM.
 */

#define WORKER_PATH "/org/vboxmem/VBoxMem1/Worker"
#define WORKER_INTERFACE "org.vboxmem.VBoxMem1.Worker"
#define MEMORY_SIZE (64 * VMM_MIB)
#define START_TARGET (8 * VMM_MIB)

/* The stand-in VM: what the control asks of it, recorded. */
struct _VmmVm {
	int state;
	VmmMemory *memory;
	VmmBalloon *balloon;
	GMutex lock;
	char *stop_reason;
	gboolean powered_off;
};

VmmVmState
vmm_vm_get_state(VmmVm *self)
{
	return (VmmVmState)g_atomic_int_get(&self->state);
}

VmmBalloon *
vmm_vm_get_balloon(VmmVm *self)
{
	return self->balloon;
}

VmmMemory *
vmm_vm_get_memory(VmmVm *self)
{
	return self->memory;
}

void
vmm_vm_pause(VmmVm *self)
{
	g_atomic_int_set(&self->state, VMM_VM_PAUSED);
}

void
vmm_vm_resume(VmmVm *self)
{
	g_atomic_int_set(&self->state, VMM_VM_RUNNING);
}

static void
record_stop(VmmVm *self, const char *reason, gboolean power_off)
{
	g_mutex_lock(&self->lock);
	if (self->stop_reason == NULL)
		self->stop_reason = g_strdup(reason);
	self->powered_off |= power_off;
	g_mutex_unlock(&self->lock);
}

void
vmm_vm_stop(VmmVm *self, const char *reason)
{
	record_stop(self, reason, FALSE);
}

void
vmm_vm_power_off(VmmVm *self, const char *reason)
{
	record_stop(self, reason, TRUE);
}

static char *
dup_stop_reason(VmmVm *self)
{
	char *reason;

	g_mutex_lock(&self->lock);
	reason = g_strdup(self->stop_reason);
	g_mutex_unlock(&self->lock);
	return reason;
}

typedef struct {
	VmmVm vm;
	VmmLoop *loop;
	VmmControl *control;
	VmmBalloonListener listener;
	GThread *loop_thread;
	GDBusConnection *client;
	GDBusProxy *proxy;
	GPtrArray *signals; /* "PropertiesChanged Name Name...", "Stopped", in order */
	guint subscription;
	char *dir;
	char *socket_path;
} Fixture;

static gpointer
run_loop(gpointer loop)
{
	vmm_loop_run(loop);
	return NULL;
}

static void
start_loop(Fixture *f)
{
	f->loop_thread = g_thread_new("vmm-loop", run_loop, f->loop);
}

static void
stop_loop(Fixture *f)
{
	if (f->loop_thread == NULL)
		return;
	vmm_loop_quit(f->loop);
	g_thread_join(f->loop_thread);
	f->loop_thread = NULL;
}

static void
on_signal(GDBusConnection *connection,
	  const char *sender,
	  const char *path,
	  const char *interface,
	  const char *member,
	  GVariant *parameters,
	  gpointer user_data)
{
	GPtrArray *signals = user_data;
	GString *text = g_string_new(member);

	if (g_strcmp0(member, "PropertiesChanged") == 0) {
		g_autoptr(GVariant) changed = g_variant_get_child_value(parameters, 1);
		GVariantIter iter;
		const char *name;

		g_variant_iter_init(&iter, changed);
		while (g_variant_iter_next(&iter, "{&sv}", &name, NULL))
			g_string_append_printf(text, " %s", name);
	}
	g_ptr_array_add(signals, g_string_free(text, FALSE));
}

static void
subscribe(GDBusConnection *client, GPtrArray *signals)
{
	g_dbus_connection_signal_subscribe(client,
					   NULL,
					   NULL,
					   NULL,
					   WORKER_PATH,
					   NULL,
					   G_DBUS_SIGNAL_FLAGS_NONE,
					   on_signal,
					   signals,
					   NULL);
}

static void
setup_vm(Fixture *f)
{
	vmm_autoptr(VmmError) error = NULL;
	VmmBalloonFeatures features = {.stats = true};

	g_mutex_init(&f->vm.lock);
	f->vm.state = VMM_VM_RUNNING;
	f->vm.memory = vmm_memory_new(MEMORY_SIZE, &error);
	vmm_assert_no_error(error);
	f->vm.balloon = vmm_balloon_new(f->vm.memory, &features, NULL);
	vmm_balloon_set_target(f->vm.balloon, START_TARGET);
	f->loop = vmm_loop_new(&error);
	vmm_assert_no_error(error);
	f->control = vmm_control_new(&f->vm, f->loop);
	f->listener = vmm_control_balloon_listener(f->control);
	f->signals = g_ptr_array_new_with_free_func(g_free);
}

/* As vboxmemd connects: a socketpair, the worker authenticating, a proxy. */
static void
setup_fd(Fixture *f, gconstpointer data)
{
	vmm_autoptr(VmmError) error = NULL;
	g_autoptr(GError) gerror = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketConnection) stream = NULL;
	int fds[2];

	setup_vm(f);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	g_assert_true(vmm_control_take_fd(f->control, fds[0], &error));
	vmm_assert_no_error(error);
	start_loop(f);
	socket = g_socket_new_from_fd(fds[1], &gerror);
	g_assert_no_error(gerror);
	stream = g_socket_connection_factory_create_connection(socket);
	f->client = g_dbus_connection_new_sync(G_IO_STREAM(stream),
					       NULL,
					       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
					       NULL,
					       NULL,
					       &gerror);
	g_assert_no_error(gerror);
	g_dbus_connection_set_exit_on_close(f->client, FALSE);
	subscribe(f->client, f->signals);
	f->proxy = g_dbus_proxy_new_sync(f->client,
					 G_DBUS_PROXY_FLAGS_NONE,
					 NULL,
					 NULL,
					 WORKER_PATH,
					 WORKER_INTERFACE,
					 NULL,
					 &gerror);
	g_assert_no_error(gerror);
}

static GDBusConnection *
connect_to_socket(Fixture *f, GDBusConnectionFlags flags)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *escaped = g_dbus_address_escape_value(f->socket_path);
	g_autofree char *address = g_strdup_printf("unix:path=%s", escaped);
	GDBusConnection *client = g_dbus_connection_new_for_address_sync(
		address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | flags, NULL, NULL, &error);

	g_assert_no_error(error);
	g_dbus_connection_set_exit_on_close(client, FALSE);
	return client;
}

/* As tests and admins connect: --control-socket, then gdbus with its bus greeting. */
static void
setup_socket(Fixture *f, gconstpointer data)
{
	vmm_autoptr(VmmError) error = NULL;
	g_autoptr(GError) gerror = NULL;

	setup_vm(f);
	f->dir = g_dir_make_tmp("vmm-control-XXXXXX", &gerror);
	g_assert_no_error(gerror);
	f->socket_path = g_build_filename(f->dir, "worker.sock", NULL);
	g_assert_true(vmm_control_listen(f->control, f->socket_path, &error));
	vmm_assert_no_error(error);
	start_loop(f);
	f->client = connect_to_socket(f, G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION);
	subscribe(f->client, f->signals);
}

static void
teardown(Fixture *f, gconstpointer data)
{
	g_clear_object(&f->proxy);
	if (f->client != NULL)
		g_dbus_connection_close_sync(f->client, NULL, NULL);
	g_clear_object(&f->client);
	stop_loop(f);
	vmm_control_free(f->control);
	if (f->socket_path != NULL)
		g_assert_false(g_file_test(f->socket_path, G_FILE_TEST_EXISTS));
	vmm_loop_free(f->loop);
	vmm_balloon_free(f->vm.balloon);
	vmm_memory_free(f->vm.memory);
	g_free(f->vm.stop_reason);
	g_mutex_clear(&f->vm.lock);
	g_ptr_array_unref(f->signals);
	if (f->dir != NULL)
		g_rmdir(f->dir);
	g_free(f->dir);
	g_free(f->socket_path);
}

/* Lets signals in until @condition holds, at most 5 s. */
#define WAIT_FOR(condition)                                                                        \
	do {                                                                                       \
		gint64 deadline_ = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;                    \
		while (!(condition)) {                                                             \
			if (g_get_monotonic_time() > deadline_)                                    \
				g_error("still not " #condition " after 5 s");                     \
			g_main_context_iteration(NULL, FALSE);                                     \
			g_usleep(1000);                                                            \
		}                                                                                  \
	} while (0)

static GVariant *
call(GDBusConnection *client,
     const char *path,
     const char *interface,
     const char *method,
     GVariant *parameters,
     GError **error)
{
	return g_dbus_connection_call_sync(client,
					   NULL,
					   path,
					   interface,
					   method,
					   parameters,
					   NULL,
					   G_DBUS_CALL_FLAGS_NONE,
					   5000,
					   NULL,
					   error);
}

static GVariant *
call_worker(Fixture *f, const char *method, GVariant *parameters, GError **error)
{
	return call(f->client, WORKER_PATH, WORKER_INTERFACE, method, parameters, error);
}

static void
expect_dbus_error(GError *error, const char *name, const char *text)
{
	g_autofree char *remote = NULL;

	g_assert_nonnull(error);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, name);
	if (text != NULL && strstr(error->message, text) == NULL)
		g_error("“%s” does not say “%s”", error->message, text);
}

static GVariant *
get_all(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = call(f->client,
					 WORKER_PATH,
					 "org.freedesktop.DBus.Properties",
					 "GetAll",
					 g_variant_new("(s)", WORKER_INTERFACE),
					 &error);

	g_assert_no_error(error);
	return g_variant_get_child_value(reply, 0);
}

static GDBusNodeInfo *
introspect(Fixture *f, const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = call(
		f->client, path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL, &error);
	const char *xml;
	GDBusNodeInfo *node;

	g_assert_no_error(error);
	g_variant_get(reply, "(&s)", &xml);
	node = g_dbus_node_info_new_for_xml(xml, &error);
	g_assert_no_error(error);
	return node;
}

static guint64
cached_uint64(Fixture *f, const char *name)
{
	g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property(f->proxy, name);

	return value != NULL ? g_variant_get_uint64(value) : G_MAXUINT64;
}

static gboolean
cached_string_is(Fixture *f, const char *name, const char *expected)
{
	g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property(f->proxy, name);

	return value != NULL && g_strcmp0(g_variant_get_string(value, NULL), expected) == 0;
}

static void
expect_call_error(GDBusConnection *client,
		  const char *path,
		  const char *interface,
		  const char *method,
		  GVariant *parameters,
		  const char *name,
		  const char *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = call(client, path, interface, method, parameters, &error);

	g_assert_null(reply);
	expect_dbus_error(error, name, text);
}

/* The XML's properties are all there, with its types, and only they. */
static void
test_properties(Fixture *f, gconstpointer data)
{
	g_autoptr(GDBusNodeInfo) node = introspect(f, WORKER_PATH);
	GDBusInterfaceInfo *worker = g_dbus_node_info_lookup_interface(node, WORKER_INTERFACE);
	g_autoptr(GVariant) all = get_all(f);
	g_autoptr(GVariant) stats = g_dbus_proxy_get_cached_property(f->proxy, "GuestStats");
	g_autoptr(GVariant) exit_status = g_dbus_proxy_get_cached_property(f->proxy, "ExitStatus");
	guint n = 0;

	g_assert_nonnull(worker);
	for (GDBusPropertyInfo **property = worker->properties; *property != NULL; property++) {
		g_autoptr(GVariant) value = g_variant_lookup_value(all, (*property)->name, NULL);
		g_autoptr(GVariant) cached =
			g_dbus_proxy_get_cached_property(f->proxy, (*property)->name);

		g_assert_nonnull(value);
		g_assert_cmpstr(g_variant_get_type_string(value), ==, (*property)->signature);
		g_assert_true(cached != NULL && g_variant_equal(cached, value));
		n++;
	}
	g_assert_cmpuint(g_variant_n_children(all), ==, n);
	g_assert_true(cached_string_is(f, "State", "running"));
	g_assert_true(cached_string_is(f, "StopReason", ""));
	g_assert_cmpuint(cached_uint64(f, "BalloonTarget"), ==, START_TARGET);
	g_assert_cmpuint(cached_uint64(f, "BalloonActual"), ==, 0);
	g_assert_cmpuint(g_variant_n_children(stats), ==, 0);
	g_assert_cmpint(g_variant_get_int32(exit_status), ==, -1);
	expect_call_error(
		f->client,
		WORKER_PATH,
		"org.freedesktop.DBus.Properties",
		"Set",
		g_variant_new("(ssv)", WORKER_INTERFACE, "State", g_variant_new_string("x")),
		"org.freedesktop.DBus.Error.PropertyReadOnly",
		"State");
	expect_call_error(f->client,
			  WORKER_PATH,
			  "org.freedesktop.DBus.Properties",
			  "Get",
			  g_variant_new("(ss)", WORKER_INTERFACE, "Nope"),
			  "org.freedesktop.DBus.Error.UnknownProperty",
			  "Nope");
	expect_call_error(f->client,
			  WORKER_PATH,
			  "org.freedesktop.DBus.Properties",
			  "GetAll",
			  g_variant_new("(s)", "org.example.Nope"),
			  "org.freedesktop.DBus.Error.UnknownInterface",
			  "org.example.Nope");
}

static void
call_ok(Fixture *f, const char *method, GVariant *parameters)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = call_worker(f, method, parameters, &error);

	g_assert_no_error(error);
}

static void
test_methods(Fixture *f, gconstpointer data)
{
	static const guint64 bad_targets[] = {
		1, VMM_PAGE_SIZE + 1, MEMORY_SIZE + VMM_PAGE_SIZE, G_MAXUINT64};
	g_autofree char *reason = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(bad_targets); i++)
		expect_call_error(
			f->client,
			WORKER_PATH,
			WORKER_INTERFACE,
			"SetBalloonTarget",
			g_variant_new("(t)", bad_targets[i]),
			"org.freedesktop.DBus.Error.InvalidArgs",
			"A balloon target is whole 4 KiB pages up to the guest's 67108864 bytes");
	expect_call_error(f->client,
			  WORKER_PATH,
			  WORKER_INTERFACE,
			  "SetBalloonTarget",
			  g_variant_new("(s)", "16M"),
			  "org.freedesktop.DBus.Error.InvalidArgs",
			  "Type of message");
	g_assert_cmpuint(vmm_balloon_get_target(f->vm.balloon), ==, START_TARGET);
	call_ok(f, "SetBalloonTarget", g_variant_new("(t)", (guint64)MEMORY_SIZE));
	/* The worker answers first and then sets the target, on its own thread. */
	WAIT_FOR(vmm_balloon_get_target(f->vm.balloon) == MEMORY_SIZE);
	/* The change was announced before the reply: it is there to be dispatched. */
	WAIT_FOR(cached_uint64(f, "BalloonTarget") == MEMORY_SIZE);
	call_ok(f, "Pause", NULL);
	WAIT_FOR(cached_string_is(f, "State", "paused"));
	call_ok(f, "Resume", NULL);
	WAIT_FOR(cached_string_is(f, "State", "running"));
	call_ok(f, "SetStatsInterval", g_variant_new("(u)", 100));
	call_ok(f, "SetStatsInterval", g_variant_new("(u)", 0));
	call_ok(f, "PowerOff", NULL);
	reason = dup_stop_reason(&f->vm);
	g_assert_cmpstr(reason, ==, "powered off by the controller");
	g_assert_true(f->vm.powered_off);
}

static gboolean
node_has_child(GDBusNodeInfo *node, const char *name)
{
	for (GDBusNodeInfo **child = node->nodes; *child != NULL; child++) {
		if (g_strcmp0((*child)->path, name) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
test_standard_interfaces(Fixture *f, gconstpointer data)
{
	g_autoptr(GDBusNodeInfo) worker = introspect(f, WORKER_PATH);
	g_autoptr(GDBusNodeInfo) root = introspect(f, "/");
	g_autoptr(GDBusNodeInfo) org = introspect(f, "/org");
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) pong =
		call(f->client, WORKER_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(
		g_dbus_node_info_lookup_interface(worker, "org.freedesktop.DBus.Properties"));
	g_assert_nonnull(
		g_dbus_node_info_lookup_interface(worker, "org.freedesktop.DBus.Introspectable"));
	g_assert_nonnull(g_dbus_node_info_lookup_interface(worker, "org.freedesktop.DBus.Peer"));
	g_assert_nonnull(g_dbus_interface_info_lookup_method(
		g_dbus_node_info_lookup_interface(worker, WORKER_INTERFACE), "SetBalloonTarget"));
	g_assert_true(node_has_child(root, "org"));
	g_assert_cmpuint(g_strv_length((char **)root->nodes), ==, 1);
	g_assert_true(node_has_child(org, "vboxmem"));
	g_assert_true(node_has_child(org, "freedesktop"));
	expect_call_error(f->client,
			  WORKER_PATH,
			  WORKER_INTERFACE,
			  "Reboot",
			  NULL,
			  "org.freedesktop.DBus.Error.UnknownMethod",
			  "Reboot");
	expect_call_error(f->client,
			  WORKER_PATH,
			  "org.example.Nope",
			  "Pause",
			  NULL,
			  "org.freedesktop.DBus.Error.UnknownInterface",
			  "org.example.Nope");
	expect_call_error(f->client,
			  "/org/vboxmem",
			  WORKER_INTERFACE,
			  "Pause",
			  NULL,
			  "org.freedesktop.DBus.Error.UnknownObject",
			  "/org/vboxmem");
}

static gpointer
report_pages(gpointer user_data)
{
	Fixture *f = user_data;

	for (int i = 0; i < 20000; i++)
		f->listener.pages_reported(f->listener.user_data, VMM_PAGE_SIZE);
	return NULL;
}

static guint
count_signals_with(Fixture *f, const char *property)
{
	guint n = 0;

	for (guint i = 0; i < f->signals->len; i++)
		n += strstr(g_ptr_array_index(f->signals, i), property) != NULL;
	return n;
}

/* vCPU threads report each batch: the bus sees them gathered, every 20 ms at most. */
static void
test_balloon_coalescing(Fixture *f, gconstpointer data)
{
	GThread *threads[4];
	gint64 start = g_get_monotonic_time();
	gint64 elapsed_ms;

	for (size_t i = 0; i < G_N_ELEMENTS(threads); i++)
		threads[i] = g_thread_new("vcpu", report_pages, f);
	for (size_t i = 0; i < G_N_ELEMENTS(threads); i++)
		g_thread_join(threads[i]);
	WAIT_FOR(cached_uint64(f, "BalloonReportedBytes") ==
		 G_N_ELEMENTS(threads) * 20000 * (guint64)VMM_PAGE_SIZE);
	elapsed_ms = (g_get_monotonic_time() - start) / 1000;
	g_test_message("%u PropertiesChanged in %" G_GINT64_FORMAT " ms",
		       count_signals_with(f, "BalloonReportedBytes"),
		       elapsed_ms);
	g_assert_cmpuint(count_signals_with(f, "BalloonReportedBytes"), <=, elapsed_ms / 20 + 2);
}

static void
stop_vm(void *user_data)
{
	Fixture *f = user_data;
	VmmStopInfo info = {
		.guest_exited = true,
		.exit_status = 3,
		.reason = (char *)"the guest exited with status 3",
	};

	g_atomic_int_set(&f->vm.state, VMM_VM_STOPPED);
	vmm_control_vm_stopped(f->control, &info);
}

static gboolean
has_signal(Fixture *f, const char *prefix)
{
	for (guint i = 0; i < f->signals->len; i++) {
		if (g_str_has_prefix(g_ptr_array_index(f->signals, i), prefix))
			return TRUE;
	}
	return FALSE;
}

/* State, stop reason and status are published before Stopped, then the worker quits. */
static void
test_stopped(Fixture *f, gconstpointer data)
{
	const char *last_change;

	vmm_loop_invoke(f->loop, stop_vm, f);
	/* The control quits the loop once everything is flushed. */
	g_thread_join(f->loop_thread);
	f->loop_thread = NULL;
	WAIT_FOR(has_signal(f, "Stopped"));
	g_assert_cmpstr(g_ptr_array_index(f->signals, f->signals->len - 1), ==, "Stopped");
	g_assert_cmpuint(f->signals->len, >=, 2);
	last_change = g_ptr_array_index(f->signals, f->signals->len - 2);
	g_assert_nonnull(strstr(last_change, "State"));
	g_assert_nonnull(strstr(last_change, "StopReason"));
	g_assert_nonnull(strstr(last_change, "ExitStatus"));
	g_assert_true(cached_string_is(f, "State", "stopped"));
	g_assert_true(cached_string_is(f, "StopReason", "the guest exited with status 3"));
	/* Whatever arrives now is refused. */
	start_loop(f);
	expect_call_error(f->client,
			  WORKER_PATH,
			  WORKER_INTERFACE,
			  "Pause",
			  NULL,
			  "org.vboxmem.VBoxMem1.Worker.Error.Stopped",
			  "The VM has stopped");
}

static void
on_stopped_signal(
	GDBusProxy *proxy, const char *sender, const char *name, GVariant *args, gpointer data)
{
	GVariant **stopped = data;

	if (g_strcmp0(name, "Stopped") == 0)
		*stopped = g_variant_ref(args);
}

static void
test_stopped_signal(Fixture *f, gconstpointer data)
{
	g_autoptr(GVariant) stopped = NULL;
	g_autoptr(GVariant) expected = g_variant_ref_sink(
		g_variant_new("(sbi)", "the guest exited with status 3", TRUE, 3));

	g_signal_connect(f->proxy, "g-signal", G_CALLBACK(on_stopped_signal), &stopped);
	vmm_loop_invoke(f->loop, stop_vm, f);
	WAIT_FOR(stopped != NULL);
	g_assert_true(g_variant_equal(stopped, expected));
}

static void
test_controller_lost(Fixture *f, gconstpointer data)
{
	g_autofree char *reason = NULL;

	g_dbus_connection_close_sync(f->client, NULL, NULL);
	WAIT_FOR((g_free(reason), reason = dup_stop_reason(&f->vm)) != NULL);
	g_assert_cmpstr(reason, ==, "the controller went away");
	g_assert_false(f->vm.powered_off);
}

/* Several clients at once; losing one stops nothing. */
static void
test_socket(Fixture *f, gconstpointer data)
{
	g_autoptr(GDBusConnection) second = connect_to_socket(f, 0);
	g_autoptr(GPtrArray) second_signals = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDBusConnection) third = connect_to_socket(f, 0);
	vmm_autoptr(VmmError) error = NULL;
	g_autoptr(GError) gerror = NULL;
	vmm_autoptr(VmmControl) other = vmm_control_new(&f->vm, f->loop);
	g_autofree char *reason = NULL;

	/* gdbus call --address greets its peer as a bus. */
	g_assert_cmpstr(g_dbus_connection_get_unique_name(f->client), ==, ":1.1");
	subscribe(second, second_signals);
	g_dbus_connection_close_sync(third, NULL, &gerror);
	g_assert_no_error(gerror);
	call_ok(f, "Pause", NULL);
	WAIT_FOR(has_signal(f, "PropertiesChanged State"));
	while (second_signals->len == 0)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpstr(g_ptr_array_index(second_signals, 0), ==, "PropertiesChanged State");
	reason = dup_stop_reason(&f->vm);
	g_assert_null(reason);
	/* The path is taken. */
	g_assert_false(vmm_control_listen(other, f->socket_path, &error));
	g_assert_nonnull(error);
	g_dbus_connection_close_sync(second, NULL, NULL);
}

#define ADD(name, setup, function) g_test_add(name, Fixture, NULL, setup, function, teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/control/properties", setup_fd, test_properties);
	ADD("/control/methods", setup_fd, test_methods);
	ADD("/control/standard-interfaces", setup_fd, test_standard_interfaces);
	ADD("/control/balloon-coalescing", setup_fd, test_balloon_coalescing);
	ADD("/control/stopped", setup_fd, test_stopped);
	ADD("/control/stopped-signal", setup_fd, test_stopped_signal);
	ADD("/control/controller-lost", setup_fd, test_controller_lost);
	ADD("/control/socket", setup_socket, test_socket);
	return g_test_run();
}
