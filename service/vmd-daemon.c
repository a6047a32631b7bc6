/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-error.h"
#include "vbm-gdbus.h"
#include "vmd-authority.h"
#include "vmd-daemon.h"
#include "vmd-host.h"
#include "vmd-machine.h"
#include "vmd-store.h"

#define OBJECT_MANAGER_PATH "/org/vboxmem/VBoxMem1"
#define MANAGER_PATH "/org/vboxmem/VBoxMem1/Manager"

/* The machine registry: owns the Manager object and one VmdMachine per registered machine. */
struct _VmdDaemon {
	GObject parent_instance;
	VmdStore *store;
	VmdAuthority *authority;
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
	VmdMachine *machine = vmd_machine_new(settings, self->store, self->authority);

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
	if (settings != NULL) {
		settings->owner = caller_uid;
		vmd_store_save(self->store, settings, &error);
	}
	if (error != NULL) {
		g_dbus_method_invocation_return_gerror(invocation, error);
		return;
	}
	g_info("Machine %s created by uid %u", name, caller_uid);
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
	g_dbus_method_invocation_return_error_literal(invocation,
						      VBOXMEM_ERROR,
						      VBOXMEM_ERROR_NOT_SUPPORTED,
						      "QueryMetrics is not supported yet");
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
export_manager(VmdDaemon *self, guint64 host_memory)
{
	g_autoptr(VbmGdbusObjectSkeleton) object = vbm_gdbus_object_skeleton_new(MANAGER_PATH);
	guint64 pool = vmd_host_default_pool(host_memory);

	self->manager_iface = vbm_gdbus_manager_skeleton_new();
	vbm_gdbus_manager_set_version(self->manager_iface, PACKAGE_VERSION);
	vbm_gdbus_manager_set_memory_pool(self->manager_iface, pool);
	vbm_gdbus_manager_set_memory_committed(self->manager_iface, 0);
	vbm_gdbus_manager_set_memory_available(self->manager_iface, pool);
	vbm_gdbus_manager_set_fusion_shared_bytes(self->manager_iface, 0);
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

	/* add_machine() takes each settings over. */
	g_ptr_array_set_free_func(all, NULL);
	for (guint i = 0; i < all->len; i++)
		add_machine(self, g_ptr_array_index(all, i));
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
vmd_daemon_new(const gchar *state_dir, GError **error)
{
	g_autoptr(VmdDaemon) self = g_object_new(VMD_TYPE_DAEMON, NULL);
	guint64 host_memory = vmd_host_memory_total(error);

	if (host_memory == 0)
		return NULL;
	vmd_settings_set_host_memory(host_memory);
	self->store = vmd_store_new(state_dir, error);
	if (self->store == NULL)
		return NULL;
	export_manager(self, host_memory);
	load_machines(self);
	return g_steal_pointer(&self);
}
