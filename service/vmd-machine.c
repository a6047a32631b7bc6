/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-enums.h"
#include "vboxmem-error.h"
#include "vmd-machine-private.h"
#include "vmd-open-as.h"

#define MACHINE_PATH_PREFIX "/org/vboxmem/VBoxMem1/machine/"

enum { SIGNAL_UNREGISTERED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(VmdMachine, vmd_machine, G_TYPE_OBJECT)

static gchar *
object_path_for_name(const gchar *name)
{
	g_autofree gchar *escaped = g_dbus_escape_object_path(name);
	return g_strconcat(MACHINE_PATH_PREFIX, escaped, NULL);
}

const gchar *
vmd_machine_get_name(VmdMachine *self)
{
	return self->settings->name;
}

GDBusObjectSkeleton *
vmd_machine_get_object(VmdMachine *self)
{
	return G_DBUS_OBJECT_SKELETON(self->object);
}

static void
vmd_machine_publish_settings(VmdMachine *self)
{
	const VmdSettings *s = self->settings;

	vbm_gdbus_machine_set_name(self->machine_iface, s->name);
	vbm_gdbus_machine_set_owner(self->machine_iface, s->owner);
	vbm_gdbus_machine_set_state(self->machine_iface,
				    vboxmem_machine_state_to_string(self->state));
	vbm_gdbus_machine_set_memory_size(self->machine_iface, s->memory_size);
	vbm_gdbus_machine_set_cpus(self->machine_iface, s->cpus);
	vbm_gdbus_machine_set_kernel(self->machine_iface, s->kernel);
	vbm_gdbus_machine_set_initrd(self->machine_iface, s->initrd);
	vbm_gdbus_machine_set_command_line(self->machine_iface, s->command_line);
	vbm_gdbus_balloon_set_default_size(self->balloon_iface, s->balloon_default_size);
	vbm_gdbus_balloon_set_deflate_on_oom(self->balloon_iface, s->deflate_on_oom);
	vbm_gdbus_balloon_set_free_page_reporting(self->balloon_iface, s->free_page_reporting);
	vbm_gdbus_page_fusion_set_enabled(self->fusion_iface, s->page_fusion);
}

static gboolean
is_stopped(VmdMachine *self)
{
	return self->state == VBOXMEM_MACHINE_STATE_POWERED_OFF ||
	       self->state == VBOXMEM_MACHINE_STATE_ABORTED;
}

gboolean
vmd_machine_check_stopped(VmdMachine *self, GError **error)
{
	if (is_stopped(self))
		return TRUE;
	g_set_error(error,
		    VBOXMEM_ERROR,
		    VBOXMEM_ERROR_INVALID_STATE,
		    "Machine '%s' is %s; it must be powered off",
		    self->settings->name,
		    vboxmem_machine_state_to_string(self->state));
	return FALSE;
}

/*
 * What runs once polkit answered checks first that the machine still
 * exists: an Unregister may have been authorized in the meantime.
 */
gboolean
vmd_machine_return_if_unregistered(VmdMachine *self, GDBusMethodInvocation *invocation)
{
	if (!self->unregistered)
		return FALSE;
	g_dbus_method_invocation_return_error(invocation,
					      VBOXMEM_ERROR,
					      VBOXMEM_ERROR_NO_SUCH_MACHINE,
					      "Machine '%s' was unregistered",
					      self->settings->name);
	return TRUE;
}

/* No method defines options yet; refusing unknown ones keeps them free to define later. */
gboolean
vmd_machine_check_no_options(GVariant *options, GError **error)
{
	const gchar *key;
	GVariantIter iter;

	g_variant_iter_init(&iter, options);
	if (g_variant_iter_next(&iter, "{&sv}", &key, NULL)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "%s: unknown option",
			    key);
		return FALSE;
	}
	return TRUE;
}

static VmdSettings *
settings_with_changes(VmdMachine *self, GVariant *changes, GError **error)
{
	g_autoptr(VmdSettings) updated = vmd_settings_copy(self->settings);

	if (!vmd_settings_update(updated, changes, error))
		return NULL;
	return g_steal_pointer(&updated);
}

gboolean
vmd_machine_return_if_error(GDBusMethodInvocation *invocation, GError *error)
{
	if (error == NULL)
		return FALSE;
	g_dbus_method_invocation_return_gerror(invocation, error);
	return TRUE;
}

static void
modify_authorized(gpointer target,
		  GDBusMethodInvocation *invocation,
		  GVariant *changes,
		  guint32 caller_uid)
{
	VmdMachine *self = VMD_MACHINE(target);
	g_autoptr(VmdSettings) updated = NULL;
	g_autoptr(GError) error = NULL;

	/* Checked again: the state or the settings may have changed while polkit was asked. */
	if (vmd_machine_return_if_unregistered(self, invocation))
		return;
	if (vmd_machine_check_stopped(self, &error) &&
	    vmd_check_paths_readable(changes, caller_uid, &error))
		updated = settings_with_changes(self, changes, &error);
	if (updated != NULL)
		vmd_store_save(self->store, updated, &error);
	if (vmd_machine_return_if_error(invocation, error))
		return;
	g_debug("Machine %s modified by uid %u", updated->name, caller_uid);
	vmd_settings_free(self->settings);
	self->settings = g_steal_pointer(&updated);
	vmd_machine_publish_settings(self);
	vbm_gdbus_machine_complete_modify(self->machine_iface, invocation);
}

static gboolean
handle_modify(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *changes)
{
	g_autoptr(VmdSettings) updated = NULL;
	g_autoptr(GError) error = NULL;

	if (vmd_machine_check_stopped(self, &error))
		updated = settings_with_changes(self, changes, &error);
	if (vmd_machine_return_if_error(invocation, error))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	vmd_authority_run_authorized(self->authority,
				     invocation,
				     "org.vboxmem.machine.modify",
				     self->settings->owner,
				     self->settings->name,
				     self,
				     changes,
				     modify_authorized);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
unregister_authorized(gpointer target,
		      GDBusMethodInvocation *invocation,
		      GVariant *options,
		      guint32 caller_uid)
{
	VmdMachine *self = VMD_MACHINE(target);
	g_autoptr(GError) error = NULL;

	if (vmd_machine_return_if_unregistered(self, invocation))
		return;
	if (vmd_machine_check_stopped(self, &error))
		vmd_store_delete(self->store, self->settings->name, &error);
	if (vmd_machine_return_if_error(invocation, error))
		return;
	self->unregistered = TRUE;
	g_debug("Machine %s unregistered by uid %u", self->settings->name, caller_uid);
	vmd_store_remove_console_log(self->store, self->settings->name);
	g_signal_emit(self, signals[SIGNAL_UNREGISTERED], 0);
	vbm_gdbus_machine_complete_unregister(self->machine_iface, invocation);
}

static gboolean
handle_unregister(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *options)
{
	g_autoptr(GError) error = NULL;

	if (vmd_machine_check_no_options(options, &error))
		vmd_machine_check_stopped(self, &error);
	if (vmd_machine_return_if_error(invocation, error))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	vmd_authority_run_authorized(self->authority,
				     invocation,
				     "org.vboxmem.machine.unregister",
				     self->settings->owner,
				     self->settings->name,
				     self,
				     options,
				     unregister_authorized);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

#define CONSOLE_LOG_READ_MAX (G_GUINT64_CONSTANT(1) << 20)

static gboolean
parse_max_bytes(GVariant *options, guint64 *max_bytes, GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	*max_bytes = CONSOLE_LOG_READ_MAX;
	g_variant_iter_init(&iter, options);
	while (g_variant_iter_loop(&iter, "{&sv}", &key, &value)) {
		if (g_strcmp0(key, "max-bytes") != 0 ||
		    !g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64)) {
			g_set_error(error,
				    VBOXMEM_ERROR,
				    VBOXMEM_ERROR_INVALID_ARGUMENT,
				    "%s: unknown option, or not of type 't'",
				    key);
			g_variant_unref(value);
			return FALSE;
		}
		*max_bytes = MIN(g_variant_get_uint64(value), CONSOLE_LOG_READ_MAX);
	}
	return TRUE;
}

static gchar *
read_log_tail(const gchar *path, guint64 max_bytes)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_autoptr(GFileInputStream) stream = g_file_read(file, NULL, NULL);
	g_autoptr(GFileInfo) info = NULL;
	g_autofree gchar *buffer = NULL;
	gsize length = 0;
	guint64 wanted = max_bytes;
	goffset size;

	if (stream == NULL)
		return g_strdup("");
	info = g_file_input_stream_query_info(stream, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, NULL);
	size = info != NULL ? g_file_info_get_size(info) : 0;
	if ((guint64)size > max_bytes)
		g_seekable_seek(
			G_SEEKABLE(stream), size - (goffset)max_bytes, G_SEEK_SET, NULL, NULL);
	else if (info != NULL)
		wanted = (guint64)size;
	buffer = g_malloc(wanted + 1);
	g_input_stream_read_all(G_INPUT_STREAM(stream), buffer, wanted, &length, NULL, NULL);
	return g_utf8_make_valid(buffer, (gssize)length);
}

static void
read_console_log_authorized(gpointer target,
			    GDBusMethodInvocation *invocation,
			    GVariant *max_bytes,
			    guint32 caller_uid)
{
	VmdMachine *self = VMD_MACHINE(target);
	g_autofree gchar *path = NULL;
	g_autofree gchar *log = NULL;

	if (vmd_machine_return_if_unregistered(self, invocation))
		return;
	path = vmd_store_path(self->store, self->settings->name, VMD_STORE_CONSOLE_LOG_SUFFIX);
	log = read_log_tail(path, g_variant_get_uint64(max_bytes));
	vbm_gdbus_machine_complete_read_console_log(self->machine_iface, invocation, log);
}

static gboolean
handle_read_console_log(VmdMachine *self, GDBusMethodInvocation *invocation, GVariant *options)
{
	g_autoptr(GError) error = NULL;
	guint64 max_bytes = 0;

	if (!parse_max_bytes(options, &max_bytes, &error)) {
		g_dbus_method_invocation_return_gerror(invocation, error);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	vmd_authority_run_authorized(self->authority,
				     invocation,
				     NULL,
				     self->settings->owner,
				     self->settings->name,
				     self,
				     g_variant_new_uint64(max_bytes),
				     read_console_log_authorized);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
connect_handlers(VmdMachine *self)
{
	g_signal_connect_swapped(self->machine_iface,
				 "handle-read-console-log",
				 G_CALLBACK(handle_read_console_log),
				 self);
	g_signal_connect_swapped(
		self->machine_iface, "handle-modify", G_CALLBACK(handle_modify), self);
	g_signal_connect_swapped(
		self->machine_iface, "handle-unregister", G_CALLBACK(handle_unregister), self);
	vmd_machine_connect_control_handlers(self);
}

/* The worker's statistic names, which are also the Guest interface's property names. */
static const gchar *const guest_stat_names[] = {
	"memory-total",
	"memory-free",
	"memory-available",
	"disk-caches",
	"swap-in",
	"swap-out",
	"major-faults",
	"minor-faults",
	NULL,
};

/* Shows the worker's guest statistics; those missing, or all when @stats is NULL, as unknown. */
void
vmd_machine_publish_guest_stats(VmdMachine *self, GVariant *stats, gint64 updated)
{
	for (guint i = 0; guest_stat_names[i] != NULL; i++) {
		guint64 value = G_MAXUINT64;
		if (stats != NULL)
			g_variant_lookup(stats, guest_stat_names[i], "t", &value);
		g_object_set(self->guest_iface, guest_stat_names[i], value, NULL);
	}
	vbm_gdbus_guest_set_last_update(self->guest_iface, updated);
}

static void
vmd_machine_dispose(GObject *object)
{
	VmdMachine *self = VMD_MACHINE(object);

	g_clear_object(&self->machine_iface);
	g_clear_object(&self->balloon_iface);
	g_clear_object(&self->fusion_iface);
	g_clear_object(&self->guest_iface);
	g_clear_object(&self->object);
	vmd_machine_drop_worker(self);
	g_clear_object(&self->store);
	g_clear_object(&self->authority);
	g_clear_object(&self->pool);
	g_clear_object(&self->cgroups);
	G_OBJECT_CLASS(vmd_machine_parent_class)->dispose(object);
}

static void
vmd_machine_finalize(GObject *object)
{
	VmdMachine *self = VMD_MACHINE(object);
	vmd_settings_free(self->settings);
	G_OBJECT_CLASS(vmd_machine_parent_class)->finalize(object);
}

static void
vmd_machine_class_init(VmdMachineClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vmd_machine_dispose;
	object_class->finalize = vmd_machine_finalize;
	signals[SIGNAL_UNREGISTERED] = g_signal_new("unregistered",
						    G_TYPE_FROM_CLASS(klass),
						    G_SIGNAL_RUN_LAST,
						    0,
						    NULL,
						    NULL,
						    NULL,
						    G_TYPE_NONE,
						    0);
}

static void
vmd_machine_init(VmdMachine *self)
{
	self->state = VBOXMEM_MACHINE_STATE_POWERED_OFF;
	self->machine_iface = vbm_gdbus_machine_skeleton_new();
	self->balloon_iface = vbm_gdbus_balloon_skeleton_new();
	self->fusion_iface = vbm_gdbus_page_fusion_skeleton_new();
	self->guest_iface = vbm_gdbus_guest_skeleton_new();
	vmd_machine_publish_guest_stats(self, NULL, 0);
}

VmdMachine *
vmd_machine_new(VmdSettings *settings,
		VmdStore *store,
		VmdAuthority *authority,
		VmdPool *pool,
		VmdCgroups *cgroups,
		const VmdWorkerConfig *worker_config)
{
	VmdMachine *self = g_object_new(VMD_TYPE_MACHINE, NULL);
	g_autofree gchar *path = object_path_for_name(settings->name);

	self->settings = settings;
	self->store = g_object_ref(store);
	self->authority = g_object_ref(authority);
	self->pool = g_object_ref(pool);
	self->cgroups = g_object_ref(cgroups);
	self->worker_config = worker_config;
	self->object = vbm_gdbus_object_skeleton_new(path);
	vbm_gdbus_object_skeleton_set_machine(self->object, self->machine_iface);
	vbm_gdbus_object_skeleton_set_balloon(self->object, self->balloon_iface);
	vbm_gdbus_object_skeleton_set_page_fusion(self->object, self->fusion_iface);
	vbm_gdbus_object_skeleton_set_guest(self->object, self->guest_iface);
	vmd_machine_publish_settings(self);
	connect_handlers(self);
	return self;
}
