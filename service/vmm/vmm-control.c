/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "vmm-control.h"
#include "vmm-dbus-auth.h"
#include "vmm-dbus-object.h"
#include "vmm-log.h"
#include "vmm-worker-introspection.h"

#define WORKER_PATH "/org/vboxmem/VBoxMem1/Worker"
#define WORKER_INTERFACE "org.vboxmem.VBoxMem1.Worker"
#define ERROR_STOPPED "org.vboxmem.VBoxMem1.Worker.Error.Stopped"
/* Balloon changes are published at most this often. */
#define PUBLISH_DELAY_MS 20
/* How long the last messages may take to leave before the worker exits anyway. */
#define FLUSH_TIMEOUT_MS 5000

/* In the order of the interface's XML. */
enum {
	PROP_STATE,
	PROP_BALLOON_TARGET,
	PROP_BALLOON_ACTUAL,
	PROP_BALLOON_GUEST_ACTUAL,
	PROP_BALLOON_REPORTED_BYTES,
	PROP_GUEST_STATS,
	PROP_GUEST_STATS_UPDATED,
	PROP_STOP_REASON,
	PROP_EXIT_STATUS,
	N_PROPERTIES,
};

static const VmmDBusPropertyInfo property_info[N_PROPERTIES] = {
	[PROP_STATE] = {"State", "s"},
	[PROP_BALLOON_TARGET] = {"BalloonTarget", "t"},
	[PROP_BALLOON_ACTUAL] = {"BalloonActual", "t"},
	[PROP_BALLOON_GUEST_ACTUAL] = {"BalloonGuestActual", "t"},
	[PROP_BALLOON_REPORTED_BYTES] = {"BalloonReportedBytes", "t"},
	[PROP_GUEST_STATS] = {"GuestStats", "a{st}"},
	[PROP_GUEST_STATS_UPDATED] = {"GuestStatsUpdated", "x"},
	[PROP_STOP_REASON] = {"StopReason", "s"},
	[PROP_EXIT_STATUS] = {"ExitStatus", "i"},
};

/* The t properties' place in Values.balloon. */
#define BALLOON_INDEX(property) ((property)-PROP_BALLOON_TARGET)

/* By virtio-balloon stat tag. */
static const char *const stat_names[] = {
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

typedef struct {
	const char *state;
	uint64_t balloon[BALLOON_INDEX(PROP_BALLOON_REPORTED_BYTES) + 1];
	VmmBalloonStats guest_stats;
	char *stop_reason;
	int32_t exit_status;
} Values;

/* Device callbacks arrive on vCPU threads and are handed to the loop. */
struct _VmmControl {
	VmmVm *vm;
	VmmLoop *loop;
	VmmDBusObject object;
	char guid[VMM_DBUS_GUID_LENGTH + 1];
	VmmDBusListener *listener;
	VmmDBusConnection **connections;
	size_t n_connections;
	VmmDBusConnection *controller; /* from --control-fd */
	VmmLoopSource *stats_source;
	VmmLoopSource *publish_source;
	bool publish_pending;
	uint64_t reported_bytes;
	bool stopped;
	Values values;
	uint32_t changed; /* properties not announced yet, by bit */
};

static const char *
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
set_state(VmmControl *self, const char *state)
{
	if (strcmp(self->values.state, state) == 0)
		return;
	self->values.state = state;
	self->changed |= 1u << PROP_STATE;
}

static void
set_uint64(VmmControl *self, unsigned property, uint64_t value)
{
	uint64_t *slot = &self->values.balloon[BALLOON_INDEX(property)];

	if (*slot == value)
		return;
	*slot = value;
	self->changed |= 1u << property;
}

static void
publish_state(VmmControl *self)
{
	set_state(self, self->stopped ? "stopped" : state_name(vmm_vm_get_state(self->vm)));
}

static bool
same_stats(const VmmBalloonStats *a, const VmmBalloonStats *b)
{
	uint32_t known = (1u << VMM_N_ELEMENTS(stat_names)) - 1;

	if ((a->known & known) != (b->known & known))
		return false;
	for (unsigned i = 0; i < VMM_N_ELEMENTS(stat_names); i++) {
		if ((a->known & (1u << i)) && a->values[i] != b->values[i])
			return false;
	}
	return true;
}

static void
set_guest_stats(VmmControl *self, const VmmBalloonStats *stats)
{
	if (!same_stats(&self->values.guest_stats, stats))
		self->changed |= 1u << PROP_GUEST_STATS;
	/* Only called when the update time differs. */
	self->values.guest_stats = *stats;
	self->changed |= 1u << PROP_GUEST_STATS_UPDATED;
}

static void
write_stats(const VmmBalloonStats *stats, VmmDBusWriter *writer)
{
	VmmDBusArrayMark array = vmm_dbus_write_array_begin(writer, "{st}");

	for (unsigned i = 0; i < VMM_N_ELEMENTS(stat_names); i++) {
		if (!(stats->known & (1u << i)))
			continue;
		vmm_dbus_write_struct_begin(writer);
		vmm_dbus_write_string(writer, stat_names[i]);
		vmm_dbus_write_uint64(writer, stats->values[i]);
	}
	vmm_dbus_write_array_end(writer, array);
}

static void
get_property(void *user_data, unsigned index, VmmDBusWriter *writer)
{
	VmmControl *self = user_data;

	switch (index) {
	case PROP_STATE:
		vmm_dbus_write_string(writer, self->values.state);
		break;
	case PROP_GUEST_STATS:
		write_stats(&self->values.guest_stats, writer);
		break;
	case PROP_GUEST_STATS_UPDATED:
		vmm_dbus_write_int64(writer, self->values.guest_stats.updated);
		break;
	case PROP_STOP_REASON:
		vmm_dbus_write_string(writer, self->values.stop_reason);
		break;
	case PROP_EXIT_STATUS:
		vmm_dbus_write_int32(writer, self->values.exit_status);
		break;
	default:
		vmm_dbus_write_uint64(writer, self->values.balloon[BALLOON_INDEX(index)]);
		break;
	}
}

static void
broadcast(VmmControl *self, const VmmDBusMessage *message)
{
	vmm_autoptr(VmmError) error = NULL;
	vmm_autofree uint8_t *blob = NULL;
	size_t size;

	if (self->n_connections == 0)
		return;
	/* Serialised (and checked) once: each connection only puts in its own serial. */
	blob = vmm_dbus_message_to_blob(message, 1, &size, &error);
	if (blob == NULL) {
		vmm_warning("%s", error->message);
		return;
	}
	for (size_t i = 0; i < self->n_connections; i++)
		vmm_dbus_connection_send_blob(self->connections[i], blob, size);
}

static void
emit_properties_changed(VmmControl *self)
{
	vmm_autoptr(VmmDBusMessage) signal = NULL;

	if (self->changed == 0)
		return;
	signal = vmm_dbus_object_new_properties_changed(&self->object, self->changed);
	self->changed = 0;
	broadcast(self, signal);
}

/* Clients that get the reply have already seen the state it led to. */
static void
reply(VmmControl *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	emit_properties_changed(self);
	vmm_dbus_connection_reply(connection, call, vmm_dbus_message_new_method_return(call));
}

static bool
reply_if_stopped(VmmControl *self, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	if (!self->stopped)
		return false;
	vmm_dbus_connection_reply_error(connection, call, ERROR_STOPPED, "The VM has stopped");
	return true;
}

static void
handle_set_balloon_target(void *user_data,
			  VmmDBusConnection *connection,
			  const VmmDBusMessage *call)
{
	VmmControl *self = user_data;
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);
	uint64_t memory_size = vmm_vm_get_memory(self->vm)->size;
	VmmDBusReader args;
	uint64_t size = 0;

	if (reply_if_stopped(self, connection, call))
		return;
	vmm_dbus_message_read_body(call, &args);
	vmm_dbus_read_uint64(&args, &size, NULL);
	if (balloon == NULL || size % VMM_PAGE_SIZE != 0 || size > memory_size) {
		vmm_dbus_connection_reply_error(connection,
						call,
						VMM_DBUS_ERROR_INVALID_ARGS,
						"A balloon target is whole 4 KiB pages up to the "
						"guest's %" PRIu64 " bytes",
						memory_size);
		return;
	}
	/* Answer first: the guest starts inflating at once and would delay the reply. */
	set_uint64(self, PROP_BALLOON_TARGET, size);
	reply(self, connection, call);
	vmm_balloon_set_target(balloon, size);
}

static bool
request_stats(void *user_data)
{
	VmmControl *self = user_data;
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);

	if (balloon != NULL)
		vmm_balloon_request_stats(balloon);
	return true;
}

void
vmm_control_set_stats_interval(VmmControl *self, unsigned milliseconds)
{
	vmm_loop_clear_source(self->loop, &self->stats_source);
	if (milliseconds > 0)
		self->stats_source =
			vmm_loop_add_timeout(self->loop, milliseconds, request_stats, self);
}

static void
handle_set_stats_interval(void *user_data,
			  VmmDBusConnection *connection,
			  const VmmDBusMessage *call)
{
	VmmControl *self = user_data;
	VmmDBusReader args;
	uint32_t milliseconds = 0;

	if (reply_if_stopped(self, connection, call))
		return;
	vmm_dbus_message_read_body(call, &args);
	vmm_dbus_read_uint32(&args, &milliseconds, NULL);
	vmm_control_set_stats_interval(self, milliseconds);
	reply(self, connection, call);
}

static void
handle_pause(void *user_data, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	VmmControl *self = user_data;

	if (reply_if_stopped(self, connection, call))
		return;
	vmm_vm_pause(self->vm);
	publish_state(self);
	reply(self, connection, call);
}

static void
handle_resume(void *user_data, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	VmmControl *self = user_data;

	if (reply_if_stopped(self, connection, call))
		return;
	vmm_vm_resume(self->vm);
	publish_state(self);
	reply(self, connection, call);
}

static void
handle_power_off(void *user_data, VmmDBusConnection *connection, const VmmDBusMessage *call)
{
	VmmControl *self = user_data;

	vmm_vm_power_off(self->vm, "powered off by the controller");
	reply(self, connection, call);
}

static const VmmDBusMethodInfo methods[] = {
	{"SetBalloonTarget", "t", handle_set_balloon_target},
	{"SetStatsInterval", "u", handle_set_stats_interval},
	{"Pause", "", handle_pause},
	{"Resume", "", handle_resume},
	{"PowerOff", "", handle_power_off},
};

static void
publish_balloon(VmmControl *self)
{
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);
	VmmBalloonStats stats;

	__atomic_store_n(&self->publish_pending, false, __ATOMIC_SEQ_CST);
	if (balloon == NULL)
		return;
	vmm_balloon_get_stats(balloon, &stats);
	set_uint64(self, PROP_BALLOON_ACTUAL, vmm_balloon_get_actual(balloon));
	set_uint64(self, PROP_BALLOON_GUEST_ACTUAL, vmm_balloon_get_guest_actual(balloon));
	set_uint64(self,
		   PROP_BALLOON_REPORTED_BYTES,
		   __atomic_load_n(&self->reported_bytes, __ATOMIC_RELAXED));
	if (stats.updated != self->values.guest_stats.updated)
		set_guest_stats(self, &stats);
}

static bool
publish_balloon_later(void *user_data)
{
	VmmControl *self = user_data;

	self->publish_source = NULL;
	publish_balloon(self);
	emit_properties_changed(self);
	return false;
}

static void
start_publish_timer(void *user_data)
{
	VmmControl *self = user_data;

	if (!self->stopped && self->publish_source == NULL)
		self->publish_source = vmm_loop_add_timeout(
			self->loop, PUBLISH_DELAY_MS, publish_balloon_later, self);
}

/*
 * Called on vCPU threads for every batch the guest hands over: publishing
 * each would send thousands of PropertiesChanged signals per inflation, so
 * changes are gathered and published at most every PUBLISH_DELAY_MS.
 */
static void
schedule_publish(VmmControl *self)
{
	if (!__atomic_exchange_n(&self->publish_pending, true, __ATOMIC_SEQ_CST))
		vmm_loop_invoke(self->loop, start_publish_timer, self);
}

static void
on_actual_changed(void *user_data, uint64_t actual_bytes)
{
	schedule_publish(user_data);
}

static void
on_stats_updated(void *user_data, const VmmBalloonStats *stats)
{
	schedule_publish(user_data);
}

static void
on_pages_reported(void *user_data, uint64_t bytes)
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

static void
on_method_call(VmmDBusConnection *connection, const VmmDBusMessage *call, void *user_data)
{
	VmmControl *self = user_data;

	vmm_dbus_object_handle_call(&self->object, connection, call);
}

static void
on_closed(VmmDBusConnection *connection, void *user_data)
{
	VmmControl *self = user_data;

	/* Losing the controller must not leave a VM nobody can stop. */
	if (connection == self->controller) {
		self->controller = NULL;
		vmm_vm_stop(self->vm, "the controller went away");
	}
	for (size_t i = 0; i < self->n_connections; i++) {
		if (self->connections[i] == connection) {
			self->connections[i] = self->connections[--self->n_connections];
			break;
		}
	}
	vmm_dbus_connection_free(connection);
}

static VmmDBusConnection *
add_connection(VmmControl *self, int fd)
{
	VmmDBusConnection *connection = vmm_dbus_connection_new(
		self->loop, fd, self->guid, on_method_call, on_closed, self);

	self->connections =
		vmm_renew(VmmDBusConnection *, self->connections, self->n_connections + 1);
	self->connections[self->n_connections++] = connection;
	return connection;
}

static void
on_accepted(int fd, void *user_data)
{
	add_connection(user_data, fd);
}

bool
vmm_control_listen(VmmControl *self, const char *socket_path, VmmError **error)
{
	/* The socket file is the only access control: nobody else may connect. */
	self->listener = vmm_dbus_listener_new(self->loop, socket_path, on_accepted, self, error);
	return self->listener != NULL;
}

bool
vmm_control_take_fd(VmmControl *self, int fd, VmmError **error)
{
	int type = 0;
	socklen_t length = sizeof(type);
	int flags = fcntl(fd, F_GETFL);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM)
		return vmm_set_error(
			error, ENOTSOCK, "--control-fd %d is not a connected stream socket", fd);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return vmm_error_from_errno(error, "Setting up --control-fd");
	self->controller = add_connection(self, fd);
	return true;
}

static void
emit_stopped(VmmControl *self, const VmmStopInfo *info)
{
	vmm_autoptr(VmmDBusMessage) signal =
		vmm_dbus_message_new_signal(WORKER_PATH, WORKER_INTERFACE, "Stopped");
	VmmDBusWriter *writer = vmm_dbus_message_begin_body(signal, "sbi");

	vmm_dbus_write_string(writer, self->values.stop_reason);
	vmm_dbus_write_boolean(writer, info->guest_exited);
	vmm_dbus_write_int32(writer, self->values.exit_status);
	broadcast(self, signal);
}

/* The last replies and the Stopped signal must reach every client before the process ends. */
static void
flush_all(VmmControl *self)
{
	int64_t deadline = vmm_monotonic_us() + FLUSH_TIMEOUT_MS * 1000;

	for (size_t i = 0; i < self->n_connections; i++) {
		int64_t left_ms = VMM_MAX((deadline - vmm_monotonic_us()) / 1000, (int64_t)0);

		vmm_dbus_connection_flush(self->connections[i], (int)left_ms);
	}
}

void
vmm_control_vm_stopped(VmmControl *self, const VmmStopInfo *info)
{
	self->stopped = true;
	vmm_loop_clear_source(self->loop, &self->stats_source);
	vmm_loop_clear_source(self->loop, &self->publish_source);
	publish_balloon(self);
	if (strcmp(self->values.stop_reason, info->reason != NULL ? info->reason : "") != 0) {
		free(self->values.stop_reason);
		self->values.stop_reason = vmm_strdup(info->reason != NULL ? info->reason : "");
		self->changed |= 1u << PROP_STOP_REASON;
	}
	if (info->guest_exited && self->values.exit_status != info->exit_status) {
		self->values.exit_status = info->exit_status;
		self->changed |= 1u << PROP_EXIT_STATUS;
	}
	publish_state(self);
	emit_properties_changed(self);
	emit_stopped(self, info);
	flush_all(self);
	vmm_loop_quit(self->loop);
}

VmmControl *
vmm_control_new(VmmVm *vm, VmmLoop *loop)
{
	VmmControl *self = vmm_new0(VmmControl, 1);
	VmmBalloon *balloon = vmm_vm_get_balloon(vm);

	self->vm = vm;
	self->loop = loop;
	self->object = (VmmDBusObject){
		.path = WORKER_PATH,
		.interface = WORKER_INTERFACE,
		.interface_xml = worker_interface_xml,
		.methods = methods,
		.n_methods = VMM_N_ELEMENTS(methods),
		.properties = property_info,
		.n_properties = N_PROPERTIES,
		.get_property = get_property,
		.user_data = self,
	};
	vmm_dbus_object_read_machine_id(&self->object);
	vmm_dbus_generate_guid(self->guid);
	self->values.state = state_name(vmm_vm_get_state(vm));
	self->values.stop_reason = vmm_strdup("");
	self->values.exit_status = -1;
	if (balloon != NULL)
		self->values.balloon[BALLOON_INDEX(PROP_BALLOON_TARGET)] =
			vmm_balloon_get_target(balloon);
	return self;
}

void
vmm_control_free(VmmControl *self)
{
	if (self == NULL)
		return;
	vmm_loop_clear_source(self->loop, &self->stats_source);
	vmm_loop_clear_source(self->loop, &self->publish_source);
	for (size_t i = 0; i < self->n_connections; i++)
		vmm_dbus_connection_free(self->connections[i]);
	free(self->connections);
	vmm_clear_pointer(&self->listener, vmm_dbus_listener_free);
	free(self->values.stop_reason);
	free(self);
}
