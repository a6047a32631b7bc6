/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-error.h"
#include "vbm-gdbus.h"
#include "vmd-authority.h"
#include "vmd-cgroups.h"
#include "vmd-config.h"
#include "vmd-daemon.h"
#include "vmd-host.h"
#include "vmd-leftovers.h"
#include "vmd-machine.h"
#include "vmd-open-as.h"
#include "vmd-pool.h"
#include "vmd-store.h"

#define OBJECT_MANAGER_PATH "/org/vboxmem/VBoxMem1"
#define MANAGER_PATH "/org/vboxmem/VBoxMem1/Manager"

/* The machine registry: owns the Manager object and one VmdMachine per registered machine. */
struct _VmdDaemon {
	GObject parent_instance;
	VmdConfig config;
	VmdStore *store;
	VmdAuthority *authority;
	VmdPool *pool;
	VmdCgroups *cgroups;
	VmdMetrics *metrics;
	GDBusObjectManagerServer *object_manager;
	VbmGdbusManager *manager_iface;
	GHashTable *machines;
};

G_DEFINE_TYPE(VmdDaemon, vmd_daemon, G_TYPE_OBJECT)

static void
machine_unregistered_cb(VmdMachine *machine, VmdDaemon *self)
{
	GDBusObjectSkeleton *object = vmd_machine_get_object(machine);

	g_dbus_object_manager_server_unexport(self->object_manager,
					      g_dbus_object_get_object_path(G_DBUS_OBJECT(object)));
	g_hash_table_remove(self->machines, vmd_machine_get_name(machine));
}

static VmdMachine *
add_machine(VmdDaemon *self, VmdSettings *settings)
{
	VmdMachine *machine = vmd_machine_new(settings,
					      self->store,
					      self->authority,
					      self->pool,
					      self->cgroups,
					      &self->config.worker);

	g_hash_table_insert(self->machines, g_strdup(vmd_machine_get_name(machine)), machine);
	g_signal_connect(machine, "unregistered", G_CALLBACK(machine_unregistered_cb), self);
	g_dbus_object_manager_server_export(self->object_manager, vmd_machine_get_object(machine));
	return machine;
}

static gboolean
check_name_free(VmdDaemon *self, const gchar *name, GError **error)
{
	if (g_hash_table_contains(self->machines, name)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_ALREADY_EXISTS,
			    "A machine named '%s' exists already",
			    name);
		return FALSE;
	}
	/* A settings file that failed to load is kept for the admin to repair, never replaced. */
	if (vmd_store_has_file(self->store, name)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_ALREADY_EXISTS,
			    "A settings file for a machine named '%s' exists but could not be "
			    "loaded; see the vboxmemd log",
			    name);
		return FALSE;
	}
	return TRUE;
}

static VmdSettings *
settings_for_new_machine(VmdDaemon *self, const gchar *name, GVariant *settings, GError **error)
{
	g_autoptr(VmdSettings) parsed = NULL;
	g_autoptr(GVariant) memory_size = NULL;

	if (!vmd_settings_check_name(name, error) || !check_name_free(self, name, error))
		return NULL;
	memory_size = g_variant_lookup_value(settings, "MemorySize", NULL);
	if (memory_size == NULL) {
		g_set_error_literal(error,
				    VBOXMEM_ERROR,
				    VBOXMEM_ERROR_INVALID_ARGUMENT,
				    "MemorySize: required to create a machine");
		return NULL;
	}
	parsed = vmd_settings_new(name, 0);
	if (!vmd_settings_update(parsed, settings, error))
		return NULL;
	return g_steal_pointer(&parsed);
}

static void
create_machine_authorized(gpointer target,
			  GDBusMethodInvocation *invocation,
			  GVariant *args,
			  guint32 caller_uid)
{
	VmdDaemon *self = VMD_DAEMON(target);
	g_autoptr(VmdSettings) settings = NULL;
	g_autoptr(GVariant) requested = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *name = NULL;
	VmdMachine *machine;

	g_variant_get(args, "(&s@a{sv})", &name, &requested);
	settings = settings_for_new_machine(self, name, requested, &error);
	if (settings != NULL && !vmd_check_paths_readable(requested, caller_uid, &error))
		g_clear_pointer(&settings, vmd_settings_free);
	if (settings != NULL) {
		settings->owner = caller_uid;
		vmd_store_save(self->store, settings, &error);
	}
	if (error != NULL) {
		g_dbus_method_invocation_return_gerror(invocation, error);
		return;
	}
	g_info("Machine %s created by uid %u", name, caller_uid);
	vmd_store_remove_console_log(self->store, name);
	machine = add_machine(self, g_steal_pointer(&settings));
	vbm_gdbus_manager_complete_create_machine(
		self->manager_iface,
		invocation,
		g_dbus_object_get_object_path(G_DBUS_OBJECT(vmd_machine_get_object(machine))));
}

static gboolean
handle_create_machine(VmdDaemon *self,
		      GDBusMethodInvocation *invocation,
		      const gchar *name,
		      GVariant *settings)
{
	g_autoptr(VmdSettings) parsed = NULL;
	g_autoptr(GError) error = NULL;

	/* Bad input is refused before polkit is asked, so nobody authenticates in vain. */
	parsed = settings_for_new_machine(self, name, settings, &error);
	if (parsed == NULL) {
		g_dbus_method_invocation_return_gerror(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	vmd_authority_run_authorized(self->authority,
				     invocation,
				     "org.vboxmem.machine.create",
				     VMD_AUTHORITY_NO_OWNER,
				     name,
				     self,
				     g_variant_new("(s@a{sv})", name, settings),
				     create_machine_authorized);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_find_machine(VmdDaemon *self, GDBusMethodInvocation *invocation, const gchar *name)
{
	VmdMachine *machine = g_hash_table_lookup(self->machines, name);

	if (machine == NULL) {
		g_dbus_method_invocation_return_error(invocation,
						      VBOXMEM_ERROR,
						      VBOXMEM_ERROR_NO_SUCH_MACHINE,
						      "No machine named '%s'",
						      name);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	vbm_gdbus_manager_complete_find_machine(
		self->manager_iface,
		invocation,
		g_dbus_object_get_object_path(G_DBUS_OBJECT(vmd_machine_get_object(machine))));
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_query_metrics(VmdDaemon *self,
		     GDBusMethodInvocation *invocation,
		     const gchar *const *objects,
		     const gchar *const *metrics)
{
	g_autoptr(GError) error = NULL;
	GVariant *values = NULL;

	for (guint i = 0; objects[i] != NULL && error == NULL; i++) {
		if (g_strcmp0(objects[i], "*") != 0 &&
		    g_strcmp0(objects[i], VMD_METRICS_HOST) != 0 &&
		    !g_hash_table_contains(self->machines, objects[i]))
			g_set_error(&error,
				    VBOXMEM_ERROR,
				    VBOXMEM_ERROR_NO_SUCH_MACHINE,
				    "No machine named '%s'",
				    objects[i]);
	}
	if (error == NULL)
		values = vmd_metrics_query(self->metrics, objects, metrics, &error);

	if (values == NULL)
		g_dbus_method_invocation_return_gerror(invocation, error);
	else
		vbm_gdbus_manager_complete_query_metrics(self->manager_iface, invocation, values);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
collect_metrics(VmdMetrics *metrics, gpointer user_data)
{
	VmdDaemon *self = user_data;
	VmdMachineTotals totals = {0};
	GHashTableIter iter;
	gpointer machine;

	g_hash_table_iter_init(&iter, self->machines);
	while (g_hash_table_iter_next(&iter, NULL, &machine))
		vmd_machine_collect_metrics(machine, metrics, &totals);
	vmd_metrics_record(metrics, VMD_METRICS_HOST, "RAM/VMM/Used", totals.used);
	vmd_metrics_record(
		metrics, VMD_METRICS_HOST, "RAM/VMM/Free", vmd_pool_get_available(self->pool));
	vmd_metrics_record(metrics, VMD_METRICS_HOST, "RAM/VMM/Ballooned", totals.ballooned);
	vmd_metrics_record(metrics, VMD_METRICS_HOST, "RAM/VMM/Shared", totals.shared);
}

static void
publish_pool(VmdDaemon *self)
{
	vbm_gdbus_manager_set_memory_pool(self->manager_iface, vmd_pool_get_size(self->pool));
	vbm_gdbus_manager_set_memory_committed(self->manager_iface,
					       vmd_pool_get_committed(self->pool));
	vbm_gdbus_manager_set_memory_available(self->manager_iface,
					       vmd_pool_get_available(self->pool));
	vbm_gdbus_manager_set_memory_overdrawn(self->manager_iface,
					       vmd_pool_get_overdrawn(self->pool));
}

static void
export_manager(VmdDaemon *self)
{
	g_autoptr(VbmGdbusObjectSkeleton) object = vbm_gdbus_object_skeleton_new(MANAGER_PATH);

	self->manager_iface = vbm_gdbus_manager_skeleton_new();
	vbm_gdbus_manager_set_version(self->manager_iface, PACKAGE_VERSION);
	vbm_gdbus_manager_set_fusion_shared_bytes(self->manager_iface, 0);
	publish_pool(self);
	g_signal_connect_swapped(self->pool, "changed", G_CALLBACK(publish_pool), self);
	g_signal_connect_swapped(self->manager_iface,
				 "handle-create-machine",
				 G_CALLBACK(handle_create_machine),
				 self);
	g_signal_connect_swapped(
		self->manager_iface, "handle-find-machine", G_CALLBACK(handle_find_machine), self);
	g_signal_connect_swapped(self->manager_iface,
				 "handle-query-metrics",
				 G_CALLBACK(handle_query_metrics),
				 self);
	vbm_gdbus_object_skeleton_set_manager(object, self->manager_iface);
	g_dbus_object_manager_server_export(self->object_manager, G_DBUS_OBJECT_SKELETON(object));
}

static void
load_machines(VmdDaemon *self)
{
	g_autoptr(GPtrArray) all = vmd_store_load_all(self->store);
	g_autoptr(GHashTable) leftovers = vmd_leftovers_find(self->config.worker.worker_path);

	/* add_machine() takes each settings over. */
	g_ptr_array_set_free_func(all, NULL);
	for (guint i = 0; i < all->len; i++)
		vmd_machine_end_leftover_workers(add_machine(self, g_ptr_array_index(all, i)),
						 leftovers);
	g_info("Loaded %u machines", g_hash_table_size(self->machines));
}

void
vmd_daemon_export(VmdDaemon *self, GDBusConnection *connection)
{
	g_dbus_object_manager_server_set_connection(self->object_manager, connection);
}

static void
vmd_daemon_dispose(GObject *object)
{
	VmdDaemon *self = VMD_DAEMON(object);

	g_clear_pointer(&self->machines, g_hash_table_unref);
	g_clear_object(&self->manager_iface);
	g_clear_object(&self->object_manager);
	g_clear_object(&self->authority);
	g_clear_object(&self->store);
	g_clear_object(&self->metrics);
	g_clear_object(&self->pool);
	g_clear_object(&self->cgroups);
	vmd_config_clear(&self->config);
	G_OBJECT_CLASS(vmd_daemon_parent_class)->dispose(object);
}

static void
vmd_daemon_class_init(VmdDaemonClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = vmd_daemon_dispose;
}

static void
vmd_daemon_init(VmdDaemon *self)
{
	self->machines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	self->object_manager = g_dbus_object_manager_server_new(OBJECT_MANAGER_PATH);
	self->authority = vmd_authority_new();
}

VmdDaemon *
vmd_daemon_new(const gchar *state_dir, const gchar *config_path, GError **error)
{
	g_autoptr(VmdDaemon) self = g_object_new(VMD_TYPE_DAEMON, NULL);
	guint64 host_memory = vmd_host_memory_total(error);

	if (host_memory == 0)
		return NULL;
	if (!vmd_config_load(&self->config,
			     config_path != NULL ? config_path : VMD_DEFAULT_CONFIG,
			     config_path != NULL,
			     error))
		return NULL;
	vmd_settings_set_host_memory(host_memory);
	self->store = vmd_store_new(state_dir, error);
	if (self->store == NULL)
		return NULL;
	self->pool = vmd_pool_new(self->config.pool_size != 0 ? self->config.pool_size
							      : vmd_host_default_pool(host_memory));
	/* The state directory tells this vboxmemd's groups from another's. */
	self->cgroups = vmd_cgroups_new(self->config.worker.memory_cgroups, state_dir);
	export_manager(self);
	load_machines(self);
	self->metrics = vmd_metrics_new(self->config.metrics_period_ms,
					self->config.metrics_samples,
					collect_metrics,
					self);
	vmd_metrics_sample_now(self->metrics);
	return g_steal_pointer(&self);
}
