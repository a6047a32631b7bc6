/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gunixsocketaddress.h>

#include "vbm-worker.h"
#include "vmm-control.h"

#define WORKER_PATH "/org/vboxmem/VBoxMem1/Worker"

/*
 * The org.vboxmem.VBoxMem1.Worker object: what the controller sees of the VM.
 * Device callbacks arrive on vCPU threads and are handed to the main context.
 */
struct _VmmControl {
	VmmVm *vm;
	GMainLoop *loop;
	GMainContext *context;
	VbmGdbusWorker *worker;
	GDBusServer *server;
	GDBusConnection *connection;
	GPtrArray *server_connections;
	gchar *guid;
	guint stats_source;
	gint publish_pending;
	guint64 reported_bytes;
	gboolean stopped;
};

static const gchar *const stat_names[] = {
	"swap-in",
	"swap-out",
	"major-faults",
	"minor-faults",
	"memory-free",
	"memory-total",
	"memory-available",
	"disk-caches",
	"hugetlb-allocations",
	"hugetlb-failures",
};

static const gchar *
state_name(VmmVmState state)
{
	switch (state) {
	case VMM_VM_PAUSED:
		return "paused";
	case VMM_VM_STOPPED:
		return "stopped";
	default:
		return "running";
	}
}

static void
publish_state(VmmControl *self)
{
	vbm_gdbus_worker_set_state(
		self->worker, self->stopped ? "stopped" : state_name(vmm_vm_get_state(self->vm)));
}

static gboolean
return_if_stopped(VmmControl *self, GDBusMethodInvocation *invocation)
{
	if (!self->stopped)
		return FALSE;
	g_dbus_method_invocation_return_error_literal(
		invocation, G_IO_ERROR, G_IO_ERROR_CLOSED, "The VM has stopped");
	return TRUE;
}

static gboolean
handle_set_balloon_target(VmmControl *self, GDBusMethodInvocation *invocation, guint64 size)
{
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);
	VmmMemory *memory = vmm_vm_get_memory(self->vm);

	if (return_if_stopped(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (balloon == NULL || size % VMM_PAGE_SIZE != 0 || size > memory->size) {
		g_dbus_method_invocation_return_error(
			invocation,
			G_DBUS_ERROR,
			G_DBUS_ERROR_INVALID_ARGS,
			"A balloon target is whole 4 KiB pages up to the "
			"guest's %" G_GUINT64_FORMAT " bytes",
			memory->size);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	/* Answer first: the guest starts inflating at once and would delay the reply. */
	vbm_gdbus_worker_set_balloon_target(self->worker, size);
	vbm_gdbus_worker_complete_set_balloon_target(self->worker, invocation);
	vmm_balloon_set_target(balloon, size);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
request_stats(gpointer data)
{
	VmmControl *self = data;
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);

	if (balloon != NULL)
		vmm_balloon_request_stats(balloon);
	return G_SOURCE_CONTINUE;
}

void
vmm_control_set_stats_interval(VmmControl *self, guint milliseconds)
{
	g_clear_handle_id(&self->stats_source, g_source_remove);
	if (milliseconds > 0)
		self->stats_source = g_timeout_add(milliseconds, request_stats, self);
}

static gboolean
handle_set_stats_interval(VmmControl *self, GDBusMethodInvocation *invocation, guint milliseconds)
{
	if (return_if_stopped(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	vmm_control_set_stats_interval(self, milliseconds);
	vbm_gdbus_worker_complete_set_stats_interval(self->worker, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_pause(VmmControl *self, GDBusMethodInvocation *invocation)
{
	if (return_if_stopped(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	vmm_vm_pause(self->vm);
	publish_state(self);
	vbm_gdbus_worker_complete_pause(self->worker, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_resume(VmmControl *self, GDBusMethodInvocation *invocation)
{
	if (return_if_stopped(self, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	vmm_vm_resume(self->vm);
	publish_state(self);
	vbm_gdbus_worker_complete_resume(self->worker, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_power_off(VmmControl *self, GDBusMethodInvocation *invocation)
{
	vmm_vm_power_off(self->vm, "powered off by the controller");
	vbm_gdbus_worker_complete_power_off(self->worker, invocation);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

#define PUBLISH_DELAY_MS 20

static GVariant *
stats_to_variant(const VmmBalloonStats *stats)
{
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE("a{st}"));
	for (guint i = 0; i < G_N_ELEMENTS(stat_names); i++) {
		if (stats->known & (1u << i))
			g_variant_builder_add(&builder, "{st}", stat_names[i], stats->values[i]);
	}
	return g_variant_builder_end(&builder);
}

static gboolean
publish_balloon(gpointer user_data)
{
	VmmControl *self = user_data;
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);
	VmmBalloonStats stats;

	g_atomic_int_set(&self->publish_pending, FALSE);
	vmm_balloon_get_stats(balloon, &stats);
	vbm_gdbus_worker_set_balloon_actual(self->worker, vmm_balloon_get_actual(balloon));
	vbm_gdbus_worker_set_balloon_guest_actual(self->worker,
						  vmm_balloon_get_guest_actual(balloon));
	vbm_gdbus_worker_set_balloon_reported_bytes(
		self->worker, __atomic_load_n(&self->reported_bytes, __ATOMIC_RELAXED));
	if (stats.updated != vbm_gdbus_worker_get_guest_stats_updated(self->worker)) {
		vbm_gdbus_worker_set_guest_stats(self->worker, stats_to_variant(&stats));
		vbm_gdbus_worker_set_guest_stats_updated(self->worker, stats.updated);
	}
	return G_SOURCE_REMOVE;
}

/*
 * Called on vCPU threads for every batch the guest hands over: publishing
 * each would send thousands of PropertiesChanged signals per inflation, so
 * changes are gathered and published at most every PUBLISH_DELAY_MS.
 */
static void
schedule_publish(VmmControl *self)
{
	g_autoptr(GSource) source = NULL;

	if (g_atomic_int_exchange(&self->publish_pending, TRUE))
		return;
	source = g_timeout_source_new(PUBLISH_DELAY_MS);
	g_source_set_callback(source, publish_balloon, self, NULL);
	g_source_attach(source, self->context);
}

static void
on_actual_changed(gpointer user_data, guint64 actual_bytes)
{
	schedule_publish(user_data);
}

static void
on_stats_updated(gpointer user_data, const VmmBalloonStats *stats)
{
	schedule_publish(user_data);
}

static void
on_pages_reported(gpointer user_data, guint64 bytes)
{
	VmmControl *self = user_data;

	__atomic_fetch_add(&self->reported_bytes, bytes, __ATOMIC_RELAXED);
	schedule_publish(self);
}

VmmBalloonListener
vmm_control_balloon_listener(VmmControl *self)
{
	return (VmmBalloonListener){on_actual_changed, on_stats_updated, on_pages_reported, self};
}

/*
 * Bus clients (gdbus call --address, busctl --address) greet their peer with
 * org.freedesktop.DBus.Hello as if it were a bus; answering it lets tests and
 * admins drive a worker with them.
 */
static const gchar hello_xml[] = "<node><interface name='org.freedesktop.DBus'>"
				 "<method name='Hello'><arg type='s' direction='out'/></method>"
				 "<method name='AddMatch'><arg type='s' direction='in'/></method>"
				 "</interface></node>";

static void
hello_method_call(GDBusConnection *connection,
		  const gchar *sender,
		  const gchar *object_path,
		  const gchar *interface_name,
		  const gchar *method_name,
		  GVariant *parameters,
		  GDBusMethodInvocation *invocation,
		  gpointer user_data)
{
	if (g_strcmp0(method_name, "Hello") == 0)
		g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", ":1.1"));
	else
		g_dbus_method_invocation_return_value(invocation, NULL);
}

static void
export_hello(GDBusConnection *connection)
{
	static const GDBusInterfaceVTable vtable = {hello_method_call, NULL, NULL, {0}};
	g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml(hello_xml, NULL);

	g_dbus_connection_register_object(connection,
					  "/org/freedesktop/DBus",
					  info->interfaces[0],
					  &vtable,
					  NULL,
					  NULL,
					  NULL);
}

static void
export_on(VmmControl *self, GDBusConnection *connection)
{
	g_autoptr(GError) error = NULL;

	export_hello(connection);
	if (!g_dbus_interface_skeleton_export(
		    G_DBUS_INTERFACE_SKELETON(self->worker), connection, WORKER_PATH, &error))
		g_warning("Cannot export the worker interface: %s", error->message);
}

static gboolean
new_connection_cb(GDBusServer *server, GDBusConnection *connection, gpointer user_data)
{
	VmmControl *self = user_data;

	g_ptr_array_add(self->server_connections, g_object_ref(connection));
	export_on(self, connection);
	return TRUE;
}

gboolean
vmm_control_listen(VmmControl *self, const gchar *socket_path, GError **error)
{
	g_autofree gchar *address = NULL;
	g_autofree gchar *escaped = g_dbus_address_escape_value(socket_path);

	/* The socket file is the only access control: nobody else may connect. */
	address = g_strdup_printf("unix:path=%s", escaped);
	self->server = g_dbus_server_new_sync(
		address, G_DBUS_SERVER_FLAGS_NONE, self->guid, NULL, NULL, error);
	if (self->server == NULL)
		return FALSE;
	g_signal_connect(self->server, "new-connection", G_CALLBACK(new_connection_cb), self);
	g_dbus_server_start(self->server);
	return TRUE;
}

/* Losing the controller must not leave a VM nobody can stop. */
static void
connection_closed_cb(GDBusConnection *connection,
		     gboolean remote_peer_vanished,
		     GError *error,
		     gpointer user_data)
{
	VmmControl *self = user_data;
	vmm_vm_stop(self->vm, "the controller went away");
}

gboolean
vmm_control_take_fd(VmmControl *self, int fd, GError **error)
{
	g_autoptr(GSocket) socket = g_socket_new_from_fd(fd, error);
	g_autoptr(GSocketConnection) stream = NULL;

	if (socket == NULL)
		return FALSE;
	stream = g_socket_connection_factory_create_connection(socket);
	/* Nothing may be dispatched before the worker object is exported. */
	self->connection =
		g_dbus_connection_new_sync(G_IO_STREAM(stream),
					   self->guid,
					   G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER |
						   G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
					   NULL,
					   NULL,
					   error);
	if (self->connection == NULL)
		return FALSE;
	g_signal_connect(self->connection, "closed", G_CALLBACK(connection_closed_cb), self);
	export_on(self, self->connection);
	g_dbus_connection_start_message_processing(self->connection);
	return TRUE;
}

/* The last replies and the Stopped signal must reach every client before the process ends. */
static void
flush_and_quit(VmmControl *self)
{
	if (self->connection != NULL)
		g_dbus_connection_flush_sync(self->connection, NULL, NULL);
	for (guint i = 0; i < self->server_connections->len; i++)
		g_dbus_connection_flush_sync(
			g_ptr_array_index(self->server_connections, i), NULL, NULL);
	g_main_loop_quit(self->loop);
}

void
vmm_control_vm_stopped(VmmControl *self, const VmmStopInfo *info)
{
	self->stopped = TRUE;
	g_clear_handle_id(&self->stats_source, g_source_remove);
	if (vmm_vm_get_balloon(self->vm) != NULL)
		publish_balloon(self);
	vbm_gdbus_worker_set_stop_reason(self->worker, info->reason != NULL ? info->reason : "");
	vbm_gdbus_worker_set_exit_status(self->worker, info->guest_exited ? info->exit_status : -1);
	publish_state(self);
	g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(self->worker));
	vbm_gdbus_worker_emit_stopped(self->worker,
				      info->reason != NULL ? info->reason : "",
				      info->guest_exited,
				      info->guest_exited ? info->exit_status : -1);
	flush_and_quit(self);
}

VmmControl *
vmm_control_new(VmmVm *vm, GMainLoop *loop)
{
	VmmControl *self = g_new0(VmmControl, 1);

	self->vm = vm;
	self->loop = g_main_loop_ref(loop);
	self->context = g_main_context_ref(g_main_loop_get_context(loop));
	self->guid = g_dbus_generate_guid();
	self->server_connections = g_ptr_array_new_with_free_func(g_object_unref);
	self->worker = vbm_gdbus_worker_skeleton_new();
	vbm_gdbus_worker_set_exit_status(self->worker, -1);
	vbm_gdbus_worker_set_stop_reason(self->worker, "");
	vbm_gdbus_worker_set_guest_stats(self->worker, g_variant_new("a{st}", NULL));
	if (vmm_vm_get_balloon(vm) != NULL)
		vbm_gdbus_worker_set_balloon_target(self->worker,
						    vmm_balloon_get_target(vmm_vm_get_balloon(vm)));
	publish_state(self);
	g_signal_connect_swapped(self->worker,
				 "handle-set-balloon-target",
				 G_CALLBACK(handle_set_balloon_target),
				 self);
	g_signal_connect_swapped(self->worker,
				 "handle-set-stats-interval",
				 G_CALLBACK(handle_set_stats_interval),
				 self);
	g_signal_connect_swapped(self->worker, "handle-pause", G_CALLBACK(handle_pause), self);
	g_signal_connect_swapped(self->worker, "handle-resume", G_CALLBACK(handle_resume), self);
	g_signal_connect_swapped(
		self->worker, "handle-power-off", G_CALLBACK(handle_power_off), self);
	return self;
}

void
vmm_control_free(VmmControl *self)
{
	if (self == NULL)
		return;
	g_clear_handle_id(&self->stats_source, g_source_remove);
	if (self->connection != NULL)
		g_signal_handlers_disconnect_by_data(self->connection, self);
	if (g_dbus_interface_skeleton_get_connection(G_DBUS_INTERFACE_SKELETON(self->worker)) !=
	    NULL)
		g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(self->worker));
	if (self->server != NULL) {
		g_dbus_server_stop(self->server);
	}
	g_clear_object(&self->server);
	g_clear_object(&self->connection);
	g_ptr_array_unref(self->server_connections);
	g_clear_object(&self->worker);
	g_main_context_unref(self->context);
	g_main_loop_unref(self->loop);
	g_free(self->guid);
	g_free(self);
}
