/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-error.h"
#include "vmd-host.h"
#include "vmd-leftovers.h"
#include "vmd-machine-private.h"

/* Running a machine: Start, PowerOff, Pause, Resume and the balloon, through its worker. */

#define POWER_OFF_GRACE_SECONDS 10
/* A worker's own memory beside guest RAM, and what a measurement may lag behind. */
#define RETOUCH_TOLERANCE (16 * VMD_MIB)
/* Above its allowance, a worker's memory cgroup leaves room for the worker itself and KVM. */
#define CGROUP_MARGIN (64 * VMD_MIB)

static void
set_state(VmdMachine *self, VboxmemMachineState state)
{
	self->state = state;
	vbm_gdbus_machine_set_state(self->machine_iface, vboxmem_machine_state_to_string(state));
}

static gboolean
fail_unless(GDBusMethodInvocation *invocation, gboolean ok, const gchar *format, ...)
	G_GNUC_PRINTF(3, 4);

/* Returns TRUE when @ok; otherwise answers the call with InvalidState. */
static gboolean
fail_unless(GDBusMethodInvocation *invocation, gboolean ok, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	if (ok)
		return TRUE;
	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_dbus_method_invocation_return_error_literal(
		invocation, VBOXMEM_ERROR, VBOXMEM_ERROR_INVALID_STATE, message);
	return FALSE;
}

/*
 * The balloon as the host sees it: what the worker says it discarded, less
 * what its process holds again. A guest that writes to ballooned pages gets
 * them back silently; its balloon then counts as that much smaller.
 */
static guint64
host_verified_actual(VmdMachine *self, guint64 actual, guint64 measured)
{
	guint64 memory = self->settings->memory_size;
	guint64 verified = MIN(actual, memory + RETOUCH_TOLERANCE - MIN(measured, memory));

	if (verified < actual && !self->retouch_reported) {
		self->retouch_reported = TRUE;
		g_warning("Machine %s: its worker holds %" G_GUINT64_FORMAT
			  " MiB, though its balloon should leave it %" G_GUINT64_FORMAT
			  " MiB: the guest took ballooned memory back; counting the balloon at "
			  "%" G_GUINT64_FORMAT " MiB",
			  self->settings->name,
			  measured / VMD_MIB,
			  (memory - actual) / VMD_MIB,
			  verified / VMD_MIB);
	}
	return verified;
}

/*
 * What the machine costs the host: never less than what its balloon leaves
 * it, and more if its worker really holds more. The worker's word alone
 * charges nothing, and Balloon.Actual shows what the host verified.
 */
/*
 * The most memory the machine's worker may hold: what the balloon leaves the
 * guest, or will leave it once a smaller target is reached, plus a margin.
 * A guest allowed to deflate on its own when it runs out of memory may take
 * all of it back at any time: its limit stays at its full size, and the pool
 * reports the overdraw instead.
 */
void
vmd_machine_update_memory_limit(VmdMachine *self, guint64 verified_actual)
{
	guint64 target = vbm_gdbus_balloon_get_target(self->balloon_iface);
	guint64 held = self->settings->deflate_on_oom ? 0 : MIN(verified_actual, target);
	guint64 limit = self->settings->memory_size - held + CGROUP_MARGIN;

	/* Called for every balloon update: the file is written only when the limit moves. */
	if (limit == self->memory_limit)
		return;
	self->memory_limit = limit;
	vmd_cgroups_set_limit(self->cgroups, self->settings->name, limit);
}

/* Returns the worker's resident memory, as measured for the charge. */
static guint64
charge_pool(VmdMachine *self, VmdWorker *worker)
{
	guint64 measured = vmd_host_process_rss(vmd_worker_get_pid(worker));
	guint64 actual =
		host_verified_actual(self, vmd_worker_get_balloon_actual(worker), measured);

	vbm_gdbus_balloon_set_actual(self->balloon_iface, actual);
	vmd_machine_update_memory_limit(self, actual);
	vmd_pool_update(self->pool,
			self->settings->name,
			MAX(self->settings->memory_size - actual, measured));
	return measured;
}

static void
worker_changed_cb(VmdWorker *worker, VmdMachine *self)
{
	g_autoptr(GVariant) stats = vmd_worker_dup_guest_stats(worker);

	charge_pool(self, worker);
	vmd_machine_publish_guest_stats(self, stats, vmd_worker_get_guest_stats_updated(worker));
	if (self->stopping)
		return;
	if (g_strcmp0(vmd_worker_get_state(worker), "paused") == 0)
		set_state(self, VBOXMEM_MACHINE_STATE_PAUSED);
	else if (g_strcmp0(vmd_worker_get_state(worker), "running") == 0)
		set_state(self, VBOXMEM_MACHINE_STATE_RUNNING);
}

/* Clients that get the reply must already have seen the state it led to. */
static void
flush_properties(VmdMachine *self)
{
	g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(self->machine_iface));
	g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(self->balloon_iface));
}

static void
complete_stop_waiters(VmdMachine *self)
{
	flush_properties(self);
	for (GList *l = self->stop_waiters; l != NULL; l = l->next)
		g_dbus_method_invocation_return_value(l->data, NULL);
	g_clear_pointer(&self->stop_waiters, g_list_free);
}

/*
 * Lets go of the worker when the machine goes away (vboxmemd is stopping): the
 * worker powers its VM off itself once our connection to it closes.
 */
void
vmd_machine_drop_worker(VmdMachine *self)
{
	g_clear_handle_id(&self->kill_timer, g_source_remove);
	if (self->worker == NULL)
		return;
	g_signal_handlers_disconnect_by_data(self->worker, self);
	g_clear_object(&self->worker);
}

static void
worker_exited_cb(VmdWorker *worker, gboolean clean, const gchar *reason, VmdMachine *self)
{
	gboolean expected = self->stopping || clean;

	if (expected)
		g_info("Machine %s stopped: %s", self->settings->name, reason);
	else
		g_warning("Machine %s aborted: %s (console log: %s)",
			  self->settings->name,
			  reason,
			  vmd_worker_get_console_log(worker));
	vmd_machine_drop_worker(self);
	vmd_pool_release(self->pool, self->settings->name);
	vmd_cgroups_remove(self->cgroups, self->settings->name);
	vbm_gdbus_balloon_set_actual(self->balloon_iface, 0);
	vbm_gdbus_balloon_set_target(self->balloon_iface, 0);
	vmd_machine_publish_guest_stats(self, NULL, 0);
	self->stopping = FALSE;
	set_state(self,
		  expected ? VBOXMEM_MACHINE_STATE_POWERED_OFF : VBOXMEM_MACHINE_STATE_ABORTED);
	complete_stop_waiters(self);
}

typedef struct {
	VmdMachine *self;
	GDBusMethodInvocation *invocation;
} PendingCall;

static PendingCall *
pending_call_new(VmdMachine *self, GDBusMethodInvocation *invocation)
{
	PendingCall *call = g_new0(PendingCall, 1);
	call->self = g_object_ref(self);
	call->invocation = invocation;
	return call;
}

static void
pending_call_free(PendingCall *call)
{
	g_object_unref(call->self);
	g_free(call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PendingCall, pending_call_free)

static void
spawned_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(PendingCall) call = user_data;
	VmdMachine *self = call->self;
	g_autoptr(GError) error = NULL;
	VmdWorker *worker = vmd_worker_spawn_finish(res, &error);

	if (worker == NULL) {
		vmd_pool_release(self->pool, self->settings->name);
		vmd_cgroups_remove(self->cgroups, self->settings->name);
		set_state(self, VBOXMEM_MACHINE_STATE_POWERED_OFF);
		g_dbus_method_invocation_return_gerror(call->invocation, error);
		return;
	}
	self->worker = worker;
	g_signal_connect(worker, "changed", G_CALLBACK(worker_changed_cb), self);
	g_signal_connect(worker, "exited", G_CALLBACK(worker_exited_cb), self);
	g_info("Machine %s started (worker pid %d)",
	       self->settings->name,
	       (int)vmd_worker_get_pid(worker));
	set_state(self, VBOXMEM_MACHINE_STATE_RUNNING);
	worker_changed_cb(worker, self);
	flush_properties(self);
	vbm_gdbus_machine_complete_start(self->machine_iface, call->invocation);
}

void
vmd_machine_end_leftover_workers(VmdMachine *self, GHashTable *found)
{
	g_autofree gchar *console_log =
		vmd_store_path(self->store, self->settings->name, VMD_STORE_CONSOLE_LOG_SUFFIX);

	if (self->worker == NULL)
		vmd_leftovers_end(found, console_log, self->settings->name);
}

static void
start(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *args)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *console_log = NULL;
	VmdWorkerFiles files = VMD_WORKER_FILES_INIT;
	g_autoptr(GHashTable) found = NULL;

	if (!fail_unless(invocation,
			 self->worker == NULL && vmd_machine_check_stopped(self, NULL),
			 "Machine '%s' is %s already",
			 self->settings->name,
			 vboxmem_machine_state_to_string(self->state)))
		return;
	/* Opened as the owner: vboxmemd must not read for them what they may not read. */
	if (!vmd_worker_files_open(&files, self->settings, &error)) {
		g_dbus_method_invocation_return_gerror(invocation, error);
		return;
	}
	if (!vmd_pool_admit(
		    self->pool, self->settings->name, self->settings->memory_size, &error)) {
		vmd_worker_files_clear(&files);
		g_dbus_method_invocation_return_gerror(invocation, error);
		return;
	}
	set_state(self, VBOXMEM_MACHINE_STATE_STARTING);
	self->retouch_reported = FALSE;
	found = vmd_leftovers_find(self->worker_config->worker_path);
	vmd_machine_end_leftover_workers(self, found);
	vbm_gdbus_balloon_set_target(self->balloon_iface, self->settings->balloon_default_size);
	self->memory_limit = self->settings->memory_size + CGROUP_MARGIN;
	files.cgroup_procs =
		vmd_cgroups_prepare(self->cgroups, self->settings->name, self->memory_limit);
	console_log =
		vmd_store_path(self->store, self->settings->name, VMD_STORE_CONSOLE_LOG_SUFFIX);
	vmd_worker_spawn(self->worker_config,
			 self->settings,
			 &files,
			 console_log,
			 NULL,
			 spawned_cb,
			 pending_call_new(self, invocation));
}

static gboolean
kill_if_still_running(gpointer user_data)
{
	VmdMachine *self = user_data;

	self->kill_timer = 0;
	if (self->worker != NULL) {
		g_warning("Machine %s did not power off within %u s; killing its worker",
			  self->settings->name,
			  POWER_OFF_GRACE_SECONDS);
		vmd_worker_kill(self->worker);
	}
	return G_SOURCE_REMOVE;
}

static void
power_off_sent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VmdMachine) self = user_data;
	g_autoptr(GError) error = NULL;

	/* A worker that cannot even answer is stopped the hard way. */
	if (!vmd_worker_call_finish(VMD_WORKER(source), res, &error) && self->worker != NULL)
		vmd_worker_kill(self->worker);
}

static void
power_off(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *args)
{
	if (!fail_unless(invocation,
			 self->worker != NULL,
			 "Machine '%s' is not running",
			 self->settings->name))
		return;
	self->stop_waiters = g_list_append(self->stop_waiters, invocation);
	if (self->stopping)
		return;
	self->stopping = TRUE;
	set_state(self, VBOXMEM_MACHINE_STATE_STOPPING);
	vmd_worker_call(
		self->worker, VMP_KIND_POWER_OFF, 0, NULL, power_off_sent_cb, g_object_ref(self));
	self->kill_timer = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT,
						      POWER_OFF_GRACE_SECONDS,
						      kill_if_still_running,
						      g_object_ref(self),
						      g_object_unref);
}

static void
worker_call_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(PendingCall) call = user_data;
	g_autoptr(GError) error = NULL;

	if (!vmd_worker_call_finish(VMD_WORKER(source), res, &error)) {
		g_dbus_method_invocation_return_gerror(call->invocation, error);
		return;
	}
	if (call->self->worker != NULL)
		worker_changed_cb(call->self->worker, call->self);
	flush_properties(call->self);
	g_dbus_method_invocation_return_value(call->invocation, NULL);
}

static void
forward_to_worker(VmdMachine *self,
		  GDBusMethodInvocation *invocation,
		  VmpKind request,
		  guint64 value)
{
	vmd_worker_call(self->worker,
			request,
			value,
			NULL,
			worker_call_done_cb,
			pending_call_new(self, invocation));
}

static void
pause_machine(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *args)
{
	if (fail_unless(invocation,
			self->worker != NULL && self->state == VBOXMEM_MACHINE_STATE_RUNNING,
			"Machine '%s' is %s, not running",
			self->settings->name,
			vboxmem_machine_state_to_string(self->state)))
		forward_to_worker(self, invocation, VMP_KIND_PAUSE, 0);
}

static void
resume_machine(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *args)
{
	if (fail_unless(invocation,
			self->worker != NULL && self->state == VBOXMEM_MACHINE_STATE_PAUSED,
			"Machine '%s' is %s, not paused",
			self->settings->name,
			vboxmem_machine_state_to_string(self->state)))
		forward_to_worker(self, invocation, VMP_KIND_RESUME, 0);
}

static void
set_balloon_target(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *args)
{
	guint64 size = 0;

	g_variant_get(args, "(t@a{sv})", &size, NULL);
	if (!fail_unless(invocation,
			 self->worker != NULL && !self->stopping,
			 "Machine '%s' is %s; the balloon can be resized only while it runs",
			 self->settings->name,
			 vboxmem_machine_state_to_string(self->state)))
		return;
	vbm_gdbus_balloon_set_target(self->balloon_iface, size);
	/* Raised before a smaller balloon gives the guest its memory back. */
	vmd_machine_update_memory_limit(self, vbm_gdbus_balloon_get_actual(self->balloon_iface));
	forward_to_worker(self, invocation, VMP_KIND_SET_BALLOON_TARGET, size);
}

typedef void (*ControlFunc)(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *args);

static const struct {
	const gchar *method;
	ControlFunc run;
} control_methods[] = {
	{"Start", start},
	{"PowerOff", power_off},
	{"Pause", pause_machine},
	{"Resume", resume_machine},
	{"SetTarget", set_balloon_target},
};

static void
control_authorized(gpointer target,
		   GDBusMethodInvocation *invocation,
		   GVariant *args,
		   guint32 caller_uid)
{
	const gchar *method = g_dbus_method_invocation_get_method_name(invocation);

	if (vmd_machine_return_if_unregistered(VMD_MACHINE(target), invocation))
		return;
	for (guint i = 0; i < G_N_ELEMENTS(control_methods); i++) {
		if (g_strcmp0(control_methods[i].method, method) == 0) {
			g_debug("%s of machine %s by uid %u",
				method,
				VMD_MACHINE(target)->settings->name,
				caller_uid);
			control_methods[i].run(VMD_MACHINE(target), invocation, args);
			return;
		}
	}
	g_assert_not_reached();
}

static void
authorize_control(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *args)
{
	vmd_authority_run_authorized(self->authority,
				     invocation,
				     "org.vboxmem.machine.control",
				     self->settings->owner,
				     self->settings->name,
				     self,
				     args,
				     control_authorized);
}

static gboolean
handle_control(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *options)
{
	g_autoptr(GError) error = NULL;

	vmd_machine_check_no_options(options, &error);
	if (!vmd_machine_return_if_error(invocation, error))
		authorize_control(self, invocation, g_variant_new("(@a{sv})", options));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
check_balloon_target(VmdMachine *self, guint64 size, GError **error)
{
	if (size % VMD_MIB != 0 || size > self->settings->memory_size) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "size: %" G_GUINT64_FORMAT
			    " bytes is not a whole number of MiB up to the memory size "
			    "of %" G_GUINT64_FORMAT " MiB",
			    size,
			    self->settings->memory_size / VMD_MIB);
		return FALSE;
	}
	return TRUE;
}

static gboolean
handle_set_target(VmdMachine *self,
		  GDBusMethodInvocation *invocation,
		  guint64 size,
		  GVariant *options)
{
	g_autoptr(GError) error = NULL;

	if (check_balloon_target(self, size, &error))
		vmd_machine_check_no_options(options, &error);
	if (!vmd_machine_return_if_error(invocation, error))
		authorize_control(self, invocation, g_variant_new("(t@a{sv})", size, options));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vmd_machine_connect_control_handlers(VmdMachine *self)
{
	const gchar *control_signals[] = {
		"handle-start", "handle-power-off", "handle-pause", "handle-resume"};

	for (guint i = 0; i < G_N_ELEMENTS(control_signals); i++)
		g_signal_connect_swapped(
			self->machine_iface, control_signals[i], G_CALLBACK(handle_control), self);
	g_signal_connect_swapped(
		self->balloon_iface, "handle-set-target", G_CALLBACK(handle_set_target), self);
}

static const struct {
	const gchar *key;
	const gchar *metric;
} guest_metrics[] = {
	{"memory-total", "Guest/RAM/Usage/Total"},
	{"memory-free", "Guest/RAM/Usage/Free"},
	{"disk-caches", "Guest/RAM/Usage/Cache"},
};

/* One sample of this machine's metrics; adds its share of the host's totals. */
void
vmd_machine_collect_metrics(VmdMachine *self, VmdMetrics *metrics, VmdMachineTotals *totals)
{
	const gchar *name = self->settings->name;
	g_autoptr(GVariant) stats = NULL;
	guint64 actual;
	guint64 shared;
	guint64 used;

	if (self->worker == NULL)
		return;
	used = charge_pool(self, self->worker);
	stats = vmd_worker_dup_guest_stats(self->worker);
	for (guint i = 0; stats != NULL && i < G_N_ELEMENTS(guest_metrics); i++) {
		guint64 value;
		if (g_variant_lookup(stats, guest_metrics[i].key, "t", &value))
			vmd_metrics_record(metrics, name, guest_metrics[i].metric, value);
	}
	actual = vbm_gdbus_balloon_get_actual(self->balloon_iface);
	shared = vbm_gdbus_page_fusion_get_shared_bytes(self->fusion_iface);
	vmd_metrics_record(metrics, name, "Guest/RAM/Usage/Balloon", actual);
	vmd_metrics_record(metrics, name, "Guest/RAM/Usage/Shared", shared);
	vmd_metrics_record(metrics,
			   name,
			   "Guest/RAM/Usage/Hinted",
			   vbm_gdbus_page_fusion_get_hinted_bytes(self->fusion_iface));
	totals->used += used;
	totals->ballooned += actual;
	totals->shared += shared;
}
