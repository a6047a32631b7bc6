/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-client.h"
#include "vboxmem-error.h"
#include "vboxmem-private.h"

/**
 * SECTION:vboxmem-client
 * @title: VboxmemClient
 * @short_description: The connection to vboxmemd
 *
 * A #VboxmemClient talks to vboxmemd on the system bus. It mirrors the
 * machine registry as #VboxmemMachine objects, which stay up to date while
 * the client lives, and creates and finds machines.
 *
 * A client delivers its signals and property notifications in the
 * thread-default #GMainContext that was current when it was constructed; use
 * it, and call its `_sync` functions, from the thread that runs that context.
 *
 * Every error that the daemon or the bus returns is in the #VBOXMEM_ERROR
 * domain; a cancelled call fails with %G_IO_ERROR_CANCELLED.
 */

/**
 * VBOXMEM_TYPE_CLIENT:
 *
 * The #GType of #VboxmemClient.
 */

/**
 * VboxmemClient:
 *
 * The connection to vboxmemd; all its fields are private.
 */

#define VBOXMEM_BUS_NAME "org.vboxmem.VBoxMem1"
#define VBOXMEM_OBJECT_MANAGER_PATH "/org/vboxmem/VBoxMem1"
#define VBOXMEM_MANAGER_PATH "/org/vboxmem/VBoxMem1/Manager"
#define VBOXMEM_MACHINE_INTERFACE "org.vboxmem.VBoxMem1.Machine"
#define VBOXMEM_OBJECT_WAIT_SECONDS 10
#define VBOXMEM_INTERACTIVE_TIMEOUT_MS G_MAXINT

struct _VboxmemClient {
	GObject parent_instance;
	GMainContext *context;
	GDBusObjectManager *object_manager;
	VbmGdbusManager *manager;
	GHashTable *machines; /* object path → VboxmemMachine */
	gboolean interactive;
};

static void vboxmem_client_initable_iface_init(GInitableIface *iface);
static void vboxmem_client_async_initable_iface_init(GAsyncInitableIface *iface);

G_DEFINE_TYPE_WITH_CODE(VboxmemClient,
			vboxmem_client,
			G_TYPE_OBJECT,
			G_IMPLEMENT_INTERFACE(G_TYPE_INITABLE, vboxmem_client_initable_iface_init)
				G_IMPLEMENT_INTERFACE(G_TYPE_ASYNC_INITABLE,
						      vboxmem_client_async_initable_iface_init))

enum {
	PROP_0,
	PROP_INTERACTIVE,
	PROP_VERSION,
	PROP_MEMORY_POOL,
	PROP_MEMORY_COMMITTED,
	PROP_MEMORY_AVAILABLE,
	PROP_MEMORY_OVERDRAWN,
	PROP_FUSION_SHARED_BYTES,
	PROP_LAST
};

static GParamSpec *properties[PROP_LAST] = {NULL};

enum { SIGNAL_MACHINE_ADDED, SIGNAL_MACHINE_REMOVED, SIGNAL_LAST };

static guint signals[SIGNAL_LAST] = {0};

/* D-Bus properties of org.vboxmem.VBoxMem1.Manager and the GObject properties they back */
static const struct {
	const gchar *dbus_name;
	guint prop_id;
} manager_properties[] = {
	{"Version", PROP_VERSION},
	{"MemoryPool", PROP_MEMORY_POOL},
	{"MemoryCommitted", PROP_MEMORY_COMMITTED},
	{"MemoryAvailable", PROP_MEMORY_AVAILABLE},
	{"MemoryOverdrawn", PROP_MEMORY_OVERDRAWN},
	{"FusionSharedBytes", PROP_FUSION_SHARED_BYTES},
};

/* errors that GDBus itself produces, in VBOXMEM_ERROR terms */
static const struct {
	gint dbus_code;
	VboxmemError code;
} dbus_error_codes[] = {
	{G_DBUS_ERROR_ACCESS_DENIED, VBOXMEM_ERROR_NOT_AUTHORIZED},
	{G_DBUS_ERROR_AUTH_FAILED, VBOXMEM_ERROR_NOT_AUTHORIZED},
	{G_DBUS_ERROR_INVALID_ARGS, VBOXMEM_ERROR_INVALID_ARGUMENT},
	{G_DBUS_ERROR_NOT_SUPPORTED, VBOXMEM_ERROR_NOT_SUPPORTED},
};

/* makes any error of a bus call a VBOXMEM_ERROR, keeping cancellation as it is */
static void
vbm_error_convert(GError **error)
{
	GError *err;

	if (error == NULL || *error == NULL)
		return;
	err = *error;
	g_dbus_error_strip_remote_error(err);
	if (err->domain == VBOXMEM_ERROR || g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	for (guint i = 0; i < G_N_ELEMENTS(dbus_error_codes); i++) {
		if (g_error_matches(err, G_DBUS_ERROR, dbus_error_codes[i].dbus_code)) {
			err->domain = VBOXMEM_ERROR;
			err->code = dbus_error_codes[i].code;
			return;
		}
	}
	err->domain = VBOXMEM_ERROR;
	err->code = VBOXMEM_ERROR_FAILED;
}

static GDBusCallFlags
vbm_call_flags(VboxmemClient *client)
{
	if (client != NULL && client->interactive)
		return G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION;
	return G_DBUS_CALL_FLAGS_NONE;
}

static gint
vbm_call_timeout(VboxmemClient *client)
{
	/* the user may take their time in the authentication dialog */
	if (client != NULL && client->interactive)
		return VBOXMEM_INTERACTIVE_TIMEOUT_MS;
	return -1;
}

/* @client may be %NULL when a machine outlived its client: no interaction then */
void
vbm_call(VboxmemClient *client,
	 GDBusProxy *proxy,
	 const gchar *method,
	 GVariant *parameters,
	 GCancellable *cancellable,
	 GAsyncReadyCallback callback,
	 gpointer user_data)
{
	g_dbus_proxy_call(proxy,
			  method,
			  parameters,
			  vbm_call_flags(client),
			  vbm_call_timeout(client),
			  cancellable,
			  callback,
			  user_data);
}

GVariant *
vbm_call_finish(GDBusProxy *proxy, GAsyncResult *res, GError **error)
{
	GVariant *reply = g_dbus_proxy_call_finish(proxy, res, error);
	if (reply == NULL)
		vbm_error_convert(error);
	return reply;
}

GVariant *
vbm_call_sync(VboxmemClient *client,
	      GDBusProxy *proxy,
	      const gchar *method,
	      GVariant *parameters,
	      GCancellable *cancellable,
	      GError **error)
{
	GVariant *reply = g_dbus_proxy_call_sync(proxy,
						 method,
						 parameters,
						 vbm_call_flags(client),
						 vbm_call_timeout(client),
						 cancellable,
						 error);
	if (reply == NULL)
		vbm_error_convert(error);
	return reply;
}

static void
vboxmem_client_add_object(VboxmemClient *self, GDBusObject *object, gboolean emit)
{
	const gchar *object_path = g_dbus_object_get_object_path(object);
	VboxmemMachine *machine;

	if (vbm_gdbus_object_peek_machine(VBM_GDBUS_OBJECT(object)) == NULL)
		return;
	if (g_hash_table_contains(self->machines, object_path))
		return;
	machine = vbm_machine_new(self, VBM_GDBUS_OBJECT(object));
	g_hash_table_insert(self->machines, g_strdup(object_path), machine);
	if (emit)
		g_signal_emit(self, signals[SIGNAL_MACHINE_ADDED], 0, machine);
}

static void
vboxmem_client_remove_object(VboxmemClient *self, GDBusObject *object)
{
	const gchar *object_path = g_dbus_object_get_object_path(object);
	g_autoptr(VboxmemMachine) machine = NULL;
	g_autofree gchar *key = NULL;

	if (!g_hash_table_steal_extended(
		    self->machines, object_path, (gpointer *)&key, (gpointer *)&machine))
		return;
	g_signal_emit(self, signals[SIGNAL_MACHINE_REMOVED], 0, machine);
}

static void
vboxmem_client_object_added_cb(GDBusObjectManager *object_manager,
			       GDBusObject *object,
			       VboxmemClient *self)
{
	vboxmem_client_add_object(self, object, TRUE);
}

static void
vboxmem_client_object_removed_cb(GDBusObjectManager *object_manager,
				 GDBusObject *object,
				 VboxmemClient *self)
{
	vboxmem_client_remove_object(self, object);
}

static void
vboxmem_client_interface_added_cb(GDBusObjectManager *object_manager,
				  GDBusObject *object,
				  GDBusInterface *interface,
				  VboxmemClient *self)
{
	vboxmem_client_add_object(self, object, TRUE);
}

static void
vboxmem_client_interface_removed_cb(GDBusObjectManager *object_manager,
				    GDBusObject *object,
				    GDBusInterface *interface,
				    VboxmemClient *self)
{
	GDBusInterfaceInfo *info = g_dbus_interface_get_info(interface);
	if (g_strcmp0(info->name, VBOXMEM_MACHINE_INTERFACE) == 0)
		vboxmem_client_remove_object(self, object);
}

static void
vboxmem_client_notify_dbus_property(VboxmemClient *self, const gchar *dbus_name)
{
	for (guint i = 0; i < G_N_ELEMENTS(manager_properties); i++) {
		if (g_strcmp0(manager_properties[i].dbus_name, dbus_name) == 0) {
			g_object_notify_by_pspec(G_OBJECT(self),
						 properties[manager_properties[i].prop_id]);
			return;
		}
	}
}

static void
vboxmem_client_manager_properties_changed_cb(GDBusProxy *proxy,
					     GVariant *changed,
					     const gchar *const *invalidated,
					     VboxmemClient *self)
{
	GVariantIter iter;
	const gchar *dbus_name;

	g_object_freeze_notify(G_OBJECT(self));
	g_variant_iter_init(&iter, changed);
	while (g_variant_iter_next(&iter, "{&sv}", &dbus_name, NULL))
		vboxmem_client_notify_dbus_property(self, dbus_name);
	for (guint i = 0; invalidated != NULL && invalidated[i] != NULL; i++)
		vboxmem_client_notify_dbus_property(self, invalidated[i]);
	g_object_thaw_notify(G_OBJECT(self));
}

static gboolean
vboxmem_client_check_name_owner(GDBusObjectManager *object_manager, GError **error)
{
	g_autofree gchar *owner = g_dbus_object_manager_client_get_name_owner(
		G_DBUS_OBJECT_MANAGER_CLIENT(object_manager));
	if (owner == NULL) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_FAILED,
			    "vboxmemd is not running: the name %s has no owner on the system bus",
			    VBOXMEM_BUS_NAME);
		return FALSE;
	}
	return TRUE;
}

static void
vboxmem_client_setup(VboxmemClient *self,
		     GDBusObjectManager *object_manager,
		     VbmGdbusManager *manager)
{
	GList *objects;

	self->object_manager = g_object_ref(object_manager);
	self->manager = g_object_ref(manager);
	g_signal_connect_object(manager,
				"g-properties-changed",
				G_CALLBACK(vboxmem_client_manager_properties_changed_cb),
				self,
				0);
	g_signal_connect_object(object_manager,
				"object-added",
				G_CALLBACK(vboxmem_client_object_added_cb),
				self,
				0);
	g_signal_connect_object(object_manager,
				"object-removed",
				G_CALLBACK(vboxmem_client_object_removed_cb),
				self,
				0);
	g_signal_connect_object(object_manager,
				"interface-added",
				G_CALLBACK(vboxmem_client_interface_added_cb),
				self,
				0);
	g_signal_connect_object(object_manager,
				"interface-removed",
				G_CALLBACK(vboxmem_client_interface_removed_cb),
				self,
				0);
	objects = g_dbus_object_manager_get_objects(object_manager);
	for (GList *l = objects; l != NULL; l = l->next)
		vboxmem_client_add_object(self, G_DBUS_OBJECT(l->data), FALSE);
	g_list_free_full(objects, g_object_unref);
}

static gboolean
vboxmem_client_initable_init(GInitable *initable, GCancellable *cancellable, GError **error)
{
	VboxmemClient *self = VBOXMEM_CLIENT(initable);
	g_autoptr(GDBusObjectManager) object_manager = NULL;
	g_autoptr(VbmGdbusManager) manager = NULL;

	object_manager = vbm_gdbus_object_manager_client_new_for_bus_sync(
		G_BUS_TYPE_SYSTEM,
		G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
		VBOXMEM_BUS_NAME,
		VBOXMEM_OBJECT_MANAGER_PATH,
		cancellable,
		error);
	if (object_manager == NULL) {
		vbm_error_convert(error);
		return FALSE;
	}
	if (!vboxmem_client_check_name_owner(object_manager, error))
		return FALSE;
	manager = vbm_gdbus_manager_proxy_new_sync(
		g_dbus_object_manager_client_get_connection(
			G_DBUS_OBJECT_MANAGER_CLIENT(object_manager)),
		G_DBUS_PROXY_FLAGS_NONE,
		VBOXMEM_BUS_NAME,
		VBOXMEM_MANAGER_PATH,
		cancellable,
		error);
	if (manager == NULL) {
		vbm_error_convert(error);
		return FALSE;
	}
	vboxmem_client_setup(self, object_manager, manager);
	return TRUE;
}

static void
vboxmem_client_initable_iface_init(GInitableIface *iface)
{
	iface->init = vboxmem_client_initable_init;
}

static void
vboxmem_client_manager_proxy_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	VboxmemClient *self = g_task_get_source_object(task);
	GDBusObjectManager *object_manager = g_task_get_task_data(task);
	g_autoptr(VbmGdbusManager) manager = NULL;
	g_autoptr(GError) error = NULL;

	manager = vbm_gdbus_manager_proxy_new_finish(res, &error);
	if (manager == NULL) {
		vbm_error_convert(&error);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	vboxmem_client_setup(self, object_manager, manager);
	g_task_return_boolean(task, TRUE);
}

static void
vboxmem_client_object_manager_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GDBusObjectManager) object_manager = NULL;
	g_autoptr(GError) error = NULL;
	GCancellable *cancellable = g_task_get_cancellable(task);
	GDBusConnection *connection;

	object_manager = vbm_gdbus_object_manager_client_new_for_bus_finish(res, &error);
	if (object_manager == NULL) {
		vbm_error_convert(&error);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	if (!vboxmem_client_check_name_owner(object_manager, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	connection = g_dbus_object_manager_client_get_connection(
		G_DBUS_OBJECT_MANAGER_CLIENT(object_manager));
	g_task_set_task_data(task, g_steal_pointer(&object_manager), g_object_unref);
	vbm_gdbus_manager_proxy_new(connection,
				    G_DBUS_PROXY_FLAGS_NONE,
				    VBOXMEM_BUS_NAME,
				    VBOXMEM_MANAGER_PATH,
				    cancellable,
				    vboxmem_client_manager_proxy_cb,
				    g_steal_pointer(&task));
}

static void
vboxmem_client_init_async(GAsyncInitable *initable,
			  int io_priority,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	GTask *task = g_task_new(initable, cancellable, callback, user_data);

	g_task_set_source_tag(task, vboxmem_client_init_async);
	g_task_set_priority(task, io_priority);
	vbm_gdbus_object_manager_client_new_for_bus(G_BUS_TYPE_SYSTEM,
						    G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
						    VBOXMEM_BUS_NAME,
						    VBOXMEM_OBJECT_MANAGER_PATH,
						    cancellable,
						    vboxmem_client_object_manager_cb,
						    task);
}

static gboolean
vboxmem_client_init_finish(GAsyncInitable *initable, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, initable), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

static void
vboxmem_client_async_initable_iface_init(GAsyncInitableIface *iface)
{
	iface->init_async = vboxmem_client_init_async;
	iface->init_finish = vboxmem_client_init_finish;
}

/**
 * vboxmem_client_new:
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the client is ready
 * @user_data: data for @callback
 *
 * Connects to vboxmemd on the system bus, starting it by bus activation when
 * it is installed that way, and loads the list of machines. Call
 * vboxmem_client_new_finish() in @callback.
 */
void
vboxmem_client_new(GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));
	g_async_initable_new_async(
		VBOXMEM_TYPE_CLIENT, G_PRIORITY_DEFAULT, cancellable, callback, user_data, NULL);
}

/**
 * vboxmem_client_new_finish:
 * @res: the #GAsyncResult given to the callback of vboxmem_client_new()
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_client_new().
 *
 * Returns: (transfer full): a new #VboxmemClient, or %NULL if vboxmemd could
 * not be reached
 */
VboxmemClient *
vboxmem_client_new_finish(GAsyncResult *res, GError **error)
{
	g_autoptr(GObject) source = NULL;
	GObject *object;

	g_return_val_if_fail(G_IS_ASYNC_RESULT(res), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	source = g_async_result_get_source_object(res);
	object = g_async_initable_new_finish(G_ASYNC_INITABLE(source), res, error);
	return object != NULL ? VBOXMEM_CLIENT(object) : NULL;
}

/**
 * vboxmem_client_new_sync:
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Connects to vboxmemd on the system bus, starting it by bus activation when
 * it is installed that way, and loads the list of machines. Fails with
 * %VBOXMEM_ERROR_FAILED when vboxmemd is not running and cannot be started.
 *
 * Returns: (transfer full): a new #VboxmemClient, or %NULL on error
 */
VboxmemClient *
vboxmem_client_new_sync(GCancellable *cancellable, GError **error)
{
	g_return_val_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	return g_initable_new(VBOXMEM_TYPE_CLIENT, cancellable, error, NULL);
}

/**
 * vboxmem_client_get_connection:
 * @self: a #VboxmemClient
 *
 * Gets the system bus connection the client uses.
 *
 * Returns: (transfer none): the system bus connection the client uses
 */
GDBusConnection *
vboxmem_client_get_connection(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	return g_dbus_object_manager_client_get_connection(
		G_DBUS_OBJECT_MANAGER_CLIENT(self->object_manager));
}

/**
 * vboxmem_client_get_interactive:
 * @self: a #VboxmemClient
 *
 * Gets #VboxmemClient:interactive.
 *
 * Returns: whether calls may ask the user to authenticate, see
 * #VboxmemClient:interactive
 */
gboolean
vboxmem_client_get_interactive(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), FALSE);
	return self->interactive;
}

/**
 * vboxmem_client_set_interactive:
 * @self: a #VboxmemClient
 * @interactive: whether calls may ask the user to authenticate
 *
 * Sets #VboxmemClient:interactive. It applies to the calls of this client
 * and of its machines that start afterwards.
 */
void
vboxmem_client_set_interactive(VboxmemClient *self, gboolean interactive)
{
	g_return_if_fail(VBOXMEM_IS_CLIENT(self));
	interactive = !!interactive;
	if (self->interactive == interactive)
		return;
	self->interactive = interactive;
	g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_INTERACTIVE]);
}

/**
 * vboxmem_client_get_version:
 * @self: a #VboxmemClient
 *
 * Gets #VboxmemClient:version.
 *
 * Returns: (nullable): the version of the running vboxmemd, e.g. "0.1.0", or
 * %NULL if it is not known
 */
const gchar *
vboxmem_client_get_version(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	return vbm_gdbus_manager_get_version(self->manager);
}

/**
 * vboxmem_client_get_memory_pool:
 * @self: a #VboxmemClient
 *
 * Gets #VboxmemClient:memory-pool.
 *
 * Returns: the memory in bytes that running machines may use in total
 */
guint64
vboxmem_client_get_memory_pool(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), 0);
	return vbm_gdbus_manager_get_memory_pool(self->manager);
}

/**
 * vboxmem_client_get_memory_committed:
 * @self: a #VboxmemClient
 *
 * Gets #VboxmemClient:memory-committed.
 *
 * Returns: the part of the memory pool, in bytes, held by running machines
 */
guint64
vboxmem_client_get_memory_committed(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), 0);
	return vbm_gdbus_manager_get_memory_committed(self->manager);
}

/**
 * vboxmem_client_get_memory_available:
 * @self: a #VboxmemClient
 *
 * Gets #VboxmemClient:memory-available.
 *
 * Returns: the part of the memory pool, in bytes, still free for starting
 * machines
 */
guint64
vboxmem_client_get_memory_available(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), 0);
	return vbm_gdbus_manager_get_memory_available(self->manager);
}

/**
 * vboxmem_client_get_memory_overdrawn:
 * @self: a #VboxmemClient
 *
 * Gets #VboxmemClient:memory-overdrawn.
 *
 * Returns: the bytes by which running machines exceed the memory pool
 * because guests took memory back from their balloons on their own; 0
 * normally
 */
guint64
vboxmem_client_get_memory_overdrawn(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), 0);
	return vbm_gdbus_manager_get_memory_overdrawn(self->manager);
}

/**
 * vboxmem_client_get_fusion_shared_bytes:
 * @self: a #VboxmemClient
 *
 * Gets #VboxmemClient:fusion-shared-bytes.
 *
 * Returns: the bytes of guest memory served by shared Page Fusion pages, over
 * all running machines
 */
guint64
vboxmem_client_get_fusion_shared_bytes(VboxmemClient *self)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), 0);
	return vbm_gdbus_manager_get_fusion_shared_bytes(self->manager);
}

static gint
vboxmem_client_compare_machines(gconstpointer a, gconstpointer b)
{
	VboxmemMachine *machine_a = *(VboxmemMachine **)a;
	VboxmemMachine *machine_b = *(VboxmemMachine **)b;
	return g_strcmp0(vboxmem_machine_get_name(machine_a), vboxmem_machine_get_name(machine_b));
}

/**
 * vboxmem_client_get_machines:
 * @self: a #VboxmemClient
 *
 * Lists the machines the client knows, without asking the daemon.
 *
 * Returns: (transfer container) (element-type VboxmemMachine): the registered
 * machines, sorted by name
 */
GPtrArray *
vboxmem_client_get_machines(VboxmemClient *self)
{
	GPtrArray *machines;
	GHashTableIter iter;
	gpointer machine;

	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	machines = g_ptr_array_new_full(g_hash_table_size(self->machines), g_object_unref);
	g_hash_table_iter_init(&iter, self->machines);
	while (g_hash_table_iter_next(&iter, NULL, &machine))
		g_ptr_array_add(machines, g_object_ref(machine));
	g_ptr_array_sort(machines, vboxmem_client_compare_machines);
	return machines;
}

/**
 * vboxmem_client_lookup_machine:
 * @self: a #VboxmemClient
 * @name: a machine name
 *
 * Looks a machine up by name among the machines the client knows, without
 * asking the daemon; see vboxmem_client_find_machine() for that.
 *
 * Returns: (transfer full) (nullable): the machine, or %NULL if none has @name
 */
VboxmemMachine *
vboxmem_client_lookup_machine(VboxmemClient *self, const gchar *name)
{
	GHashTableIter iter;
	gpointer machine;

	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	g_return_val_if_fail(name != NULL, NULL);
	g_hash_table_iter_init(&iter, self->machines);
	while (g_hash_table_iter_next(&iter, NULL, &machine)) {
		if (g_strcmp0(vboxmem_machine_get_name(machine), name) == 0)
			return g_object_ref(machine);
	}
	return NULL;
}

/*
 * The reply of CreateMachine or FindMachine can arrive before the
 * InterfacesAdded signal that adds the machine to the object manager, so the
 * machine may have to be waited for.
 */
typedef struct {
	gchar *object_path;
	gulong machine_added_id;
	GSource *timeout_source;
	GSource *cancelled_source;
} VboxmemClientWait;

static void
vboxmem_client_wait_free(VboxmemClientWait *wait)
{
	g_free(wait->object_path);
	g_free(wait);
}

static void
vboxmem_client_wait_stop(GTask *task, VboxmemMachine *machine, GError *error)
{
	VboxmemClient *self = g_task_get_source_object(task);
	VboxmemClientWait *wait = g_task_get_task_data(task);

	g_clear_signal_handler(&wait->machine_added_id, self);
	g_source_destroy(wait->timeout_source);
	g_clear_pointer(&wait->timeout_source, g_source_unref);
	if (wait->cancelled_source != NULL) {
		g_source_destroy(wait->cancelled_source);
		g_clear_pointer(&wait->cancelled_source, g_source_unref);
	}
	if (machine != NULL)
		g_task_return_pointer(task, g_object_ref(machine), g_object_unref);
	else
		g_task_return_error(task, error);
	/* the reference the wait held */
	g_object_unref(task);
}

static void
vboxmem_client_wait_machine_added_cb(VboxmemClient *self, VboxmemMachine *machine, GTask *task)
{
	VboxmemClientWait *wait = g_task_get_task_data(task);
	if (g_strcmp0(vboxmem_machine_get_object_path(machine), wait->object_path) == 0)
		vboxmem_client_wait_stop(task, machine, NULL);
}

static gboolean
vboxmem_client_wait_timeout_cb(gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	VboxmemClientWait *wait = g_task_get_task_data(task);
	GError *error = g_error_new(VBOXMEM_ERROR,
				    VBOXMEM_ERROR_FAILED,
				    "The machine %s did not appear within %u seconds",
				    wait->object_path,
				    (guint)VBOXMEM_OBJECT_WAIT_SECONDS);
	vboxmem_client_wait_stop(task, NULL, error);
	return G_SOURCE_REMOVE;
}

static gboolean
vboxmem_client_wait_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	GError *error = NULL;
	g_cancellable_set_error_if_cancelled(cancellable, &error);
	vboxmem_client_wait_stop(G_TASK(user_data), NULL, error);
	return G_SOURCE_REMOVE;
}

/* returns the machine at @object_path through @task (transfer full), waiting for it if needed */
static void
vboxmem_client_return_machine(GTask *task, const gchar *object_path)
{
	VboxmemClient *self = g_task_get_source_object(task);
	GCancellable *cancellable = g_task_get_cancellable(task);
	VboxmemMachine *machine = g_hash_table_lookup(self->machines, object_path);
	VboxmemClientWait *wait;

	if (machine != NULL) {
		g_task_return_pointer(task, g_object_ref(machine), g_object_unref);
		g_object_unref(task);
		return;
	}
	wait = g_new0(VboxmemClientWait, 1);
	wait->object_path = g_strdup(object_path);
	g_task_set_task_data(task, wait, (GDestroyNotify)vboxmem_client_wait_free);
	wait->machine_added_id = g_signal_connect(
		self, "machine-added", G_CALLBACK(vboxmem_client_wait_machine_added_cb), task);
	wait->timeout_source = g_timeout_source_new_seconds(VBOXMEM_OBJECT_WAIT_SECONDS);
	g_source_set_callback(wait->timeout_source, vboxmem_client_wait_timeout_cb, task, NULL);
	g_source_attach(wait->timeout_source, self->context);
	if (cancellable != NULL) {
		wait->cancelled_source = g_cancellable_source_new(cancellable);
		g_source_set_callback(wait->cancelled_source,
				      G_SOURCE_FUNC(vboxmem_client_wait_cancelled_cb),
				      task,
				      NULL);
		g_source_attach(wait->cancelled_source, self->context);
	}
}

static void
vboxmem_client_machine_path_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *object_path;

	reply = vbm_call_finish(G_DBUS_PROXY(source), res, &error);
	if (reply == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	g_variant_get(reply, "(&o)", &object_path);
	vboxmem_client_return_machine(task, object_path);
}

static void
vboxmem_client_sync_result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GAsyncResult **result = user_data;
	*result = g_object_ref(res);
}

static VboxmemMachine *
vboxmem_client_machine_from_reply_sync(VboxmemClient *self,
				       GVariant *reply,
				       GCancellable *cancellable,
				       GError **error)
{
	g_autoptr(GAsyncResult) result = NULL;
	const gchar *object_path;
	VboxmemMachine *machine;

	g_variant_get(reply, "(&o)", &object_path);
	machine = g_hash_table_lookup(self->machines, object_path);
	if (machine != NULL)
		return g_object_ref(machine);

	g_main_context_push_thread_default(self->context);
	vboxmem_client_return_machine(
		g_task_new(self, cancellable, vboxmem_client_sync_result_cb, &result), object_path);
	while (result == NULL)
		g_main_context_iteration(self->context, TRUE);
	g_main_context_pop_thread_default(self->context);
	return g_task_propagate_pointer(G_TASK(result), error);
}

static VboxmemMachine *
vboxmem_client_machine_finish(VboxmemClient *self,
			      GAsyncResult *res,
			      gpointer source_tag,
			      GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == source_tag, NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/**
 * vboxmem_client_create_machine:
 * @self: a #VboxmemClient
 * @name: the name of the new machine
 * @settings: an `a{sv}` dictionary of initial settings with the keys of
 *   `CreateMachine` (at least "MemorySize"); a floating reference is consumed
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the machine has been created
 * @user_data: data for @callback
 *
 * Registers a new, powered-off machine owned by the caller. Requires the
 * polkit action org.vboxmem.machine.create. Call
 * vboxmem_client_create_machine_finish() in @callback.
 */
void
vboxmem_client_create_machine(VboxmemClient *self,
			      const gchar *name,
			      GVariant *settings,
			      GCancellable *cancellable,
			      GAsyncReadyCallback callback,
			      gpointer user_data)
{
	g_autoptr(GVariant) settings_ref = NULL;
	GTask *task;

	g_return_if_fail(VBOXMEM_IS_CLIENT(self));
	g_return_if_fail(name != NULL);
	g_return_if_fail(settings != NULL &&
			 g_variant_is_of_type(settings, G_VARIANT_TYPE_VARDICT));
	settings_ref = g_variant_ref_sink(settings);
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, vboxmem_client_create_machine);
	vbm_call(self,
		 G_DBUS_PROXY(self->manager),
		 "CreateMachine",
		 g_variant_new("(s@a{sv})", name, settings_ref),
		 cancellable,
		 vboxmem_client_machine_path_cb,
		 task);
}

/**
 * vboxmem_client_create_machine_finish:
 * @self: a #VboxmemClient
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_client_create_machine().
 *
 * Returns: (transfer full): the new machine, or %NULL on error, e.g.
 * %VBOXMEM_ERROR_ALREADY_EXISTS or %VBOXMEM_ERROR_INVALID_ARGUMENT
 */
VboxmemMachine *
vboxmem_client_create_machine_finish(VboxmemClient *self, GAsyncResult *res, GError **error)
{
	return vboxmem_client_machine_finish(self, res, vboxmem_client_create_machine, error);
}

/**
 * vboxmem_client_create_machine_sync:
 * @self: a #VboxmemClient
 * @name: the name of the new machine
 * @settings: an `a{sv}` dictionary of initial settings with the keys of
 *   `CreateMachine` (at least "MemorySize"); a floating reference is consumed
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Registers a new, powered-off machine owned by the caller. Requires the
 * polkit action org.vboxmem.machine.create. Iterates the client's main
 * context while it waits for the new machine to be announced.
 *
 * Returns: (transfer full): the new machine, or %NULL on error, e.g.
 * %VBOXMEM_ERROR_ALREADY_EXISTS or %VBOXMEM_ERROR_INVALID_ARGUMENT
 */
VboxmemMachine *
vboxmem_client_create_machine_sync(VboxmemClient *self,
				   const gchar *name,
				   GVariant *settings,
				   GCancellable *cancellable,
				   GError **error)
{
	g_autoptr(GVariant) settings_ref = NULL;
	g_autoptr(GVariant) reply = NULL;

	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	g_return_val_if_fail(name != NULL, NULL);
	g_return_val_if_fail(
		settings != NULL && g_variant_is_of_type(settings, G_VARIANT_TYPE_VARDICT), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	settings_ref = g_variant_ref_sink(settings);
	reply = vbm_call_sync(self,
			      G_DBUS_PROXY(self->manager),
			      "CreateMachine",
			      g_variant_new("(s@a{sv})", name, settings_ref),
			      cancellable,
			      error);
	if (reply == NULL)
		return NULL;
	return vboxmem_client_machine_from_reply_sync(self, reply, cancellable, error);
}

/**
 * vboxmem_client_find_machine:
 * @self: a #VboxmemClient
 * @name: a machine name
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Asks the daemon for the machine called @name. Call
 * vboxmem_client_find_machine_finish() in @callback.
 */
void
vboxmem_client_find_machine(VboxmemClient *self,
			    const gchar *name,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	GTask *task;

	g_return_if_fail(VBOXMEM_IS_CLIENT(self));
	g_return_if_fail(name != NULL);
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, vboxmem_client_find_machine);
	vbm_call(self,
		 G_DBUS_PROXY(self->manager),
		 "FindMachine",
		 g_variant_new("(s)", name),
		 cancellable,
		 vboxmem_client_machine_path_cb,
		 task);
}

/**
 * vboxmem_client_find_machine_finish:
 * @self: a #VboxmemClient
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_client_find_machine().
 *
 * Returns: (transfer full): the machine, or %NULL on error, e.g.
 * %VBOXMEM_ERROR_NO_SUCH_MACHINE
 */
VboxmemMachine *
vboxmem_client_find_machine_finish(VboxmemClient *self, GAsyncResult *res, GError **error)
{
	return vboxmem_client_machine_finish(self, res, vboxmem_client_find_machine, error);
}

/**
 * vboxmem_client_find_machine_sync:
 * @self: a #VboxmemClient
 * @name: a machine name
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Asks the daemon for the machine called @name.
 *
 * Returns: (transfer full): the machine, or %NULL on error, e.g.
 * %VBOXMEM_ERROR_NO_SUCH_MACHINE
 */
VboxmemMachine *
vboxmem_client_find_machine_sync(VboxmemClient *self,
				 const gchar *name,
				 GCancellable *cancellable,
				 GError **error)
{
	g_autoptr(GVariant) reply = NULL;

	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	g_return_val_if_fail(name != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	reply = vbm_call_sync(self,
			      G_DBUS_PROXY(self->manager),
			      "FindMachine",
			      g_variant_new("(s)", name),
			      cancellable,
			      error);
	if (reply == NULL)
		return NULL;
	return vboxmem_client_machine_from_reply_sync(self, reply, cancellable, error);
}

static GVariant *
vboxmem_client_query_metrics_parameters(const gchar *const *objects, const gchar *const *metrics)
{
	return g_variant_new("(@as@as)",
			     g_variant_new_strv(objects, objects != NULL ? -1 : 0),
			     g_variant_new_strv(metrics, metrics != NULL ? -1 : 0));
}

static void
vboxmem_client_query_metrics_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;

	reply = vbm_call_finish(G_DBUS_PROXY(source), res, &error);
	if (reply == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_pointer(
		task, g_variant_get_child_value(reply, 0), (GDestroyNotify)g_variant_unref);
}

/**
 * vboxmem_client_query_metrics:
 * @self: a #VboxmemClient
 * @objects: (nullable) (array zero-terminated=1): machine names, "host" or
 *   "*"; %NULL or empty for all
 * @metrics: (nullable) (array zero-terminated=1): metric names or patterns
 *   such as "Guest/RAM/Usage/\*", optionally ending in ":avg", ":min" or
 *   ":max"; %NULL or empty for all
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Asks for the latest samples of memory metrics. Call
 * vboxmem_client_query_metrics_finish() in @callback.
 */
void
vboxmem_client_query_metrics(VboxmemClient *self,
			     const gchar *const *objects,
			     const gchar *const *metrics,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	GTask *task;

	g_return_if_fail(VBOXMEM_IS_CLIENT(self));
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, vboxmem_client_query_metrics);
	vbm_call(self,
		 G_DBUS_PROXY(self->manager),
		 "QueryMetrics",
		 vboxmem_client_query_metrics_parameters(objects, metrics),
		 cancellable,
		 vboxmem_client_query_metrics_cb,
		 task);
}

/**
 * vboxmem_client_query_metrics_finish:
 * @self: a #VboxmemClient
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_client_query_metrics().
 *
 * Returns: (transfer full): an `a(ssdsx)` array of (object, metric, value,
 * unit, time in microseconds since the Unix epoch), or %NULL on error
 */
GVariant *
vboxmem_client_query_metrics_finish(VboxmemClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/**
 * vboxmem_client_query_metrics_sync:
 * @self: a #VboxmemClient
 * @objects: (nullable) (array zero-terminated=1): machine names, "host" or
 *   "*"; %NULL or empty for all
 * @metrics: (nullable) (array zero-terminated=1): metric names or patterns
 *   such as "Guest/RAM/Usage/\*", optionally ending in ":avg", ":min" or
 *   ":max"; %NULL or empty for all
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Asks for the latest samples of memory metrics.
 *
 * Returns: (transfer full): an `a(ssdsx)` array of (object, metric, value,
 * unit, time in microseconds since the Unix epoch), or %NULL on error
 */
GVariant *
vboxmem_client_query_metrics_sync(VboxmemClient *self,
				  const gchar *const *objects,
				  const gchar *const *metrics,
				  GCancellable *cancellable,
				  GError **error)
{
	g_autoptr(GVariant) reply = NULL;

	g_return_val_if_fail(VBOXMEM_IS_CLIENT(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	reply = vbm_call_sync(self,
			      G_DBUS_PROXY(self->manager),
			      "QueryMetrics",
			      vboxmem_client_query_metrics_parameters(objects, metrics),
			      cancellable,
			      error);
	if (reply == NULL)
		return NULL;
	return g_variant_get_child_value(reply, 0);
}

static void
vboxmem_client_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
	VboxmemClient *self = VBOXMEM_CLIENT(object);

	switch (prop_id) {
	case PROP_INTERACTIVE:
		g_value_set_boolean(value, self->interactive);
		break;
	case PROP_VERSION:
		g_value_set_string(value, vboxmem_client_get_version(self));
		break;
	case PROP_MEMORY_POOL:
		g_value_set_uint64(value, vboxmem_client_get_memory_pool(self));
		break;
	case PROP_MEMORY_COMMITTED:
		g_value_set_uint64(value, vboxmem_client_get_memory_committed(self));
		break;
	case PROP_MEMORY_AVAILABLE:
		g_value_set_uint64(value, vboxmem_client_get_memory_available(self));
		break;
	case PROP_MEMORY_OVERDRAWN:
		g_value_set_uint64(value, vboxmem_client_get_memory_overdrawn(self));
		break;
	case PROP_FUSION_SHARED_BYTES:
		g_value_set_uint64(value, vboxmem_client_get_fusion_shared_bytes(self));
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
vboxmem_client_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
	VboxmemClient *self = VBOXMEM_CLIENT(object);

	switch (prop_id) {
	case PROP_INTERACTIVE:
		vboxmem_client_set_interactive(self, g_value_get_boolean(value));
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
vboxmem_client_init(VboxmemClient *self)
{
	self->context = g_main_context_ref_thread_default();
	self->machines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
}

static void
vboxmem_client_dispose(GObject *object)
{
	VboxmemClient *self = VBOXMEM_CLIENT(object);

	g_hash_table_remove_all(self->machines);
	g_clear_object(&self->manager);
	g_clear_object(&self->object_manager);
	G_OBJECT_CLASS(vboxmem_client_parent_class)->dispose(object);
}

static void
vboxmem_client_finalize(GObject *object)
{
	VboxmemClient *self = VBOXMEM_CLIENT(object);

	g_hash_table_unref(self->machines);
	g_main_context_unref(self->context);
	G_OBJECT_CLASS(vboxmem_client_parent_class)->finalize(object);
}

static void
vboxmem_client_class_init(VboxmemClientClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	/* registers the D-Bus error names before any reply is parsed */
	vboxmem_error_quark();

	object_class->get_property = vboxmem_client_get_property;
	object_class->set_property = vboxmem_client_set_property;
	object_class->dispose = vboxmem_client_dispose;
	object_class->finalize = vboxmem_client_finalize;

	/**
	 * VboxmemClient:interactive:
	 *
	 * Whether calls may ask the user to authenticate. When %TRUE, every
	 * method call of the client and of its machines allows interactive
	 * authorization, so polkit can ask for a password through an
	 * authentication agent instead of failing with
	 * %VBOXMEM_ERROR_NOT_AUTHORIZED_CAN_OBTAIN; such calls wait without a
	 * time limit.
	 */
	properties[PROP_INTERACTIVE] = g_param_spec_boolean(
		"interactive",
		NULL,
		NULL,
		FALSE,
		G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemClient:version:
	 *
	 * The version of the running vboxmemd, or %NULL if it is not known.
	 */
	properties[PROP_VERSION] = g_param_spec_string(
		"version", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemClient:memory-pool:
	 *
	 * The memory in bytes that running machines may use in total.
	 */
	properties[PROP_MEMORY_POOL] =
		g_param_spec_uint64("memory-pool",
				    NULL,
				    NULL,
				    0,
				    G_MAXUINT64,
				    0,
				    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemClient:memory-committed:
	 *
	 * The part of #VboxmemClient:memory-pool, in bytes, held by running
	 * machines.
	 */
	properties[PROP_MEMORY_COMMITTED] =
		g_param_spec_uint64("memory-committed",
				    NULL,
				    NULL,
				    0,
				    G_MAXUINT64,
				    0,
				    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemClient:memory-available:
	 *
	 * The part of #VboxmemClient:memory-pool, in bytes, still free for
	 * starting machines.
	 */
	properties[PROP_MEMORY_AVAILABLE] =
		g_param_spec_uint64("memory-available",
				    NULL,
				    NULL,
				    0,
				    G_MAXUINT64,
				    0,
				    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemClient:memory-overdrawn:
	 *
	 * The bytes by which running machines exceed #VboxmemClient:memory-pool
	 * because guests took memory back from their balloons on their own
	 * (deflate on OOM); 0 normally. While it is not 0,
	 * #VboxmemClient:memory-available is 0.
	 */
	properties[PROP_MEMORY_OVERDRAWN] =
		g_param_spec_uint64("memory-overdrawn",
				    NULL,
				    NULL,
				    0,
				    G_MAXUINT64,
				    0,
				    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemClient:fusion-shared-bytes:
	 *
	 * Bytes of guest memory served by shared Page Fusion pages, over all
	 * running machines.
	 */
	properties[PROP_FUSION_SHARED_BYTES] =
		g_param_spec_uint64("fusion-shared-bytes",
				    NULL,
				    NULL,
				    0,
				    G_MAXUINT64,
				    0,
				    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	g_object_class_install_properties(object_class, PROP_LAST, properties);

	/**
	 * VboxmemClient::machine-added:
	 * @self: the #VboxmemClient
	 * @machine: the #VboxmemMachine that was registered
	 *
	 * Emitted when a machine appears in the registry, whoever created it.
	 */
	signals[SIGNAL_MACHINE_ADDED] = g_signal_new("machine-added",
						     G_TYPE_FROM_CLASS(klass),
						     G_SIGNAL_RUN_LAST,
						     0,
						     NULL,
						     NULL,
						     g_cclosure_marshal_VOID__OBJECT,
						     G_TYPE_NONE,
						     1,
						     VBOXMEM_TYPE_MACHINE);

	/**
	 * VboxmemClient::machine-removed:
	 * @self: the #VboxmemClient
	 * @machine: the #VboxmemMachine that was unregistered
	 *
	 * Emitted when a machine leaves the registry, or when vboxmemd exits.
	 */
	signals[SIGNAL_MACHINE_REMOVED] = g_signal_new("machine-removed",
						       G_TYPE_FROM_CLASS(klass),
						       G_SIGNAL_RUN_LAST,
						       0,
						       NULL,
						       NULL,
						       g_cclosure_marshal_VOID__OBJECT,
						       G_TYPE_NONE,
						       1,
						       VBOXMEM_TYPE_MACHINE);
}
