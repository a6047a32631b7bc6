/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-enum-types.h"
#include "vboxmem-error.h"
#include "vboxmem-machine.h"
#include "vboxmem-private.h"

/**
 * SECTION:vboxmem-machine
 * @title: VboxmemMachine
 * @short_description: A virtual machine registered with vboxmemd
 *
 * A #VboxmemMachine is the client side of one machine object of vboxmemd.
 * Machines are made by a #VboxmemClient, never directly. Their properties
 * mirror the daemon's and emit #GObject::notify when the daemon changes them,
 * as long as the client that made the machine is alive.
 *
 * Sizes are in bytes. Every error that the daemon or the bus returns is in
 * the #VBOXMEM_ERROR domain; a cancelled call fails with
 * %G_IO_ERROR_CANCELLED. Calls follow #VboxmemClient:interactive of the
 * client that made the machine.
 */

/**
 * VBOXMEM_TYPE_MACHINE:
 *
 * The #GType of #VboxmemMachine.
 */

/**
 * VboxmemMachine:
 *
 * A machine registered with vboxmemd; all its fields are private.
 */

#define VBOXMEM_MACHINE_INTERFACE "org.vboxmem.VBoxMem1.Machine"
#define VBOXMEM_BALLOON_INTERFACE "org.vboxmem.VBoxMem1.Balloon"
#define VBOXMEM_PAGE_FUSION_INTERFACE "org.vboxmem.VBoxMem1.PageFusion"
#define VBOXMEM_GUEST_INTERFACE "org.vboxmem.VBoxMem1.Guest"

struct _VboxmemMachine {
	GObject parent_instance;
	VbmGdbusObject *object;
	GWeakRef client;
};

G_DEFINE_TYPE(VboxmemMachine, vboxmem_machine, G_TYPE_OBJECT)

enum {
	PROP_0,
	PROP_OBJECT_PATH,
	PROP_NAME,
	PROP_OWNER,
	PROP_STATE,
	PROP_MEMORY_SIZE,
	PROP_CPUS,
	PROP_KERNEL,
	PROP_INITRD,
	PROP_COMMAND_LINE,
	PROP_BALLOON_DEFAULT_SIZE,
	PROP_BALLOON_TARGET,
	PROP_BALLOON_ACTUAL,
	PROP_DEFLATE_ON_OOM,
	PROP_FREE_PAGE_REPORTING,
	PROP_PAGE_FUSION,
	PROP_PAGE_FUSION_SHARED_BYTES,
	PROP_PAGE_FUSION_HINTED_BYTES,
	PROP_GUEST_MEMORY_TOTAL,
	PROP_GUEST_MEMORY_FREE,
	PROP_GUEST_MEMORY_AVAILABLE,
	PROP_GUEST_DISK_CACHES,
	PROP_GUEST_SWAP_IN,
	PROP_GUEST_SWAP_OUT,
	PROP_GUEST_MAJOR_FAULTS,
	PROP_GUEST_MINOR_FAULTS,
	PROP_GUEST_LAST_UPDATE,
	PROP_GUEST_AGENT_CONNECTED,
	PROP_LAST
};

static GParamSpec *properties[PROP_LAST] = {NULL};

/* D-Bus properties of the machine's interfaces and the GObject properties they back */
static const struct {
	const gchar *interface_name;
	const gchar *dbus_name;
	guint prop_id;
} dbus_properties[] = {
	{VBOXMEM_MACHINE_INTERFACE, "Name", PROP_NAME},
	{VBOXMEM_MACHINE_INTERFACE, "Owner", PROP_OWNER},
	{VBOXMEM_MACHINE_INTERFACE, "State", PROP_STATE},
	{VBOXMEM_MACHINE_INTERFACE, "MemorySize", PROP_MEMORY_SIZE},
	{VBOXMEM_MACHINE_INTERFACE, "CPUs", PROP_CPUS},
	{VBOXMEM_MACHINE_INTERFACE, "Kernel", PROP_KERNEL},
	{VBOXMEM_MACHINE_INTERFACE, "Initrd", PROP_INITRD},
	{VBOXMEM_MACHINE_INTERFACE, "CommandLine", PROP_COMMAND_LINE},
	{VBOXMEM_BALLOON_INTERFACE, "DefaultSize", PROP_BALLOON_DEFAULT_SIZE},
	{VBOXMEM_BALLOON_INTERFACE, "Target", PROP_BALLOON_TARGET},
	{VBOXMEM_BALLOON_INTERFACE, "Actual", PROP_BALLOON_ACTUAL},
	{VBOXMEM_BALLOON_INTERFACE, "DeflateOnOom", PROP_DEFLATE_ON_OOM},
	{VBOXMEM_BALLOON_INTERFACE, "FreePageReporting", PROP_FREE_PAGE_REPORTING},
	{VBOXMEM_PAGE_FUSION_INTERFACE, "Enabled", PROP_PAGE_FUSION},
	{VBOXMEM_PAGE_FUSION_INTERFACE, "SharedBytes", PROP_PAGE_FUSION_SHARED_BYTES},
	{VBOXMEM_PAGE_FUSION_INTERFACE, "HintedBytes", PROP_PAGE_FUSION_HINTED_BYTES},
	{VBOXMEM_GUEST_INTERFACE, "MemoryTotal", PROP_GUEST_MEMORY_TOTAL},
	{VBOXMEM_GUEST_INTERFACE, "MemoryFree", PROP_GUEST_MEMORY_FREE},
	{VBOXMEM_GUEST_INTERFACE, "MemoryAvailable", PROP_GUEST_MEMORY_AVAILABLE},
	{VBOXMEM_GUEST_INTERFACE, "DiskCaches", PROP_GUEST_DISK_CACHES},
	{VBOXMEM_GUEST_INTERFACE, "SwapIn", PROP_GUEST_SWAP_IN},
	{VBOXMEM_GUEST_INTERFACE, "SwapOut", PROP_GUEST_SWAP_OUT},
	{VBOXMEM_GUEST_INTERFACE, "MajorFaults", PROP_GUEST_MAJOR_FAULTS},
	{VBOXMEM_GUEST_INTERFACE, "MinorFaults", PROP_GUEST_MINOR_FAULTS},
	{VBOXMEM_GUEST_INTERFACE, "LastUpdate", PROP_GUEST_LAST_UPDATE},
	{VBOXMEM_GUEST_INTERFACE, "AgentConnected", PROP_GUEST_AGENT_CONNECTED},
};

static void
vboxmem_machine_notify_dbus_property(VboxmemMachine *self,
				     const gchar *interface_name,
				     const gchar *dbus_name)
{
	for (guint i = 0; i < G_N_ELEMENTS(dbus_properties); i++) {
		if (g_strcmp0(dbus_properties[i].interface_name, interface_name) == 0 &&
		    g_strcmp0(dbus_properties[i].dbus_name, dbus_name) == 0) {
			g_object_notify_by_pspec(G_OBJECT(self),
						 properties[dbus_properties[i].prop_id]);
			return;
		}
	}
}

static void
vboxmem_machine_properties_changed_cb(GDBusProxy *proxy,
				      GVariant *changed,
				      const gchar *const *invalidated,
				      VboxmemMachine *self)
{
	const gchar *interface_name = g_dbus_proxy_get_interface_name(proxy);
	GVariantIter iter;
	const gchar *dbus_name;

	g_object_freeze_notify(G_OBJECT(self));
	g_variant_iter_init(&iter, changed);
	while (g_variant_iter_next(&iter, "{&sv}", &dbus_name, NULL))
		vboxmem_machine_notify_dbus_property(self, interface_name, dbus_name);
	for (guint i = 0; invalidated != NULL && invalidated[i] != NULL; i++)
		vboxmem_machine_notify_dbus_property(self, interface_name, invalidated[i]);
	g_object_thaw_notify(G_OBJECT(self));
}

static void
vboxmem_machine_watch_interface(VboxmemMachine *self, GDBusInterface *interface)
{
	g_signal_connect_object(interface,
				"g-properties-changed",
				G_CALLBACK(vboxmem_machine_properties_changed_cb),
				self,
				0);
}

static void
vboxmem_machine_interface_added_cb(GDBusObject *object,
				   GDBusInterface *interface,
				   VboxmemMachine *self)
{
	vboxmem_machine_watch_interface(self, interface);
}

VboxmemMachine *
vbm_machine_new(VboxmemClient *client, VbmGdbusObject *object)
{
	VboxmemMachine *self = g_object_new(VBOXMEM_TYPE_MACHINE, NULL);
	GList *interfaces;

	self->object = g_object_ref(object);
	g_weak_ref_set(&self->client, client);
	interfaces = g_dbus_object_get_interfaces(G_DBUS_OBJECT(object));
	for (GList *l = interfaces; l != NULL; l = l->next)
		vboxmem_machine_watch_interface(self, G_DBUS_INTERFACE(l->data));
	g_list_free_full(interfaces, g_object_unref);
	g_signal_connect_object(
		object, "interface-added", G_CALLBACK(vboxmem_machine_interface_added_cb), self, 0);
	return self;
}

/**
 * vboxmem_machine_get_object_path:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:object-path.
 *
 * Returns: the D-Bus object path of the machine
 */
const gchar *
vboxmem_machine_get_object_path(VboxmemMachine *self)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), NULL);
	return g_dbus_object_get_object_path(G_DBUS_OBJECT(self->object));
}

/**
 * vboxmem_machine_get_name:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:name.
 *
 * Returns: (nullable): the unique name of the machine
 */
const gchar *
vboxmem_machine_get_name(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), NULL);
	machine = vbm_gdbus_object_peek_machine(self->object);
	return machine != NULL ? vbm_gdbus_machine_get_name(machine) : NULL;
}

/**
 * vboxmem_machine_get_owner:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:owner.
 *
 * Returns: the uid of the user who created the machine
 */
guint32
vboxmem_machine_get_owner(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	machine = vbm_gdbus_object_peek_machine(self->object);
	return machine != NULL ? vbm_gdbus_machine_get_owner(machine) : 0;
}

/**
 * vboxmem_machine_get_state:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:state.
 *
 * Returns: the state of the machine
 */
VboxmemMachineState
vboxmem_machine_get_state(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), VBOXMEM_MACHINE_STATE_UNKNOWN);
	machine = vbm_gdbus_object_peek_machine(self->object);
	if (machine == NULL)
		return VBOXMEM_MACHINE_STATE_UNKNOWN;
	return vboxmem_machine_state_from_string(vbm_gdbus_machine_get_state(machine));
}

/**
 * vboxmem_machine_get_memory_size:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:memory-size.
 *
 * Returns: the guest RAM in bytes
 */
guint64
vboxmem_machine_get_memory_size(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	machine = vbm_gdbus_object_peek_machine(self->object);
	return machine != NULL ? vbm_gdbus_machine_get_memory_size(machine) : 0;
}

/**
 * vboxmem_machine_get_cpus:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:cpus.
 *
 * Returns: the number of virtual CPUs
 */
guint
vboxmem_machine_get_cpus(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	machine = vbm_gdbus_object_peek_machine(self->object);
	return machine != NULL ? vbm_gdbus_machine_get_cpus(machine) : 0;
}

/**
 * vboxmem_machine_get_kernel:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:kernel.
 *
 * Returns: (nullable): the absolute path of the guest kernel; empty for the
 * default test guest
 */
const gchar *
vboxmem_machine_get_kernel(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), NULL);
	machine = vbm_gdbus_object_peek_machine(self->object);
	return machine != NULL ? vbm_gdbus_machine_get_kernel(machine) : NULL;
}

/**
 * vboxmem_machine_get_initrd:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:initrd.
 *
 * Returns: (nullable): the absolute path of the initial ramdisk, or an empty
 * string for none
 */
const gchar *
vboxmem_machine_get_initrd(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), NULL);
	machine = vbm_gdbus_object_peek_machine(self->object);
	return machine != NULL ? vbm_gdbus_machine_get_initrd(machine) : NULL;
}

/**
 * vboxmem_machine_get_command_line:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:command-line.
 *
 * Returns: (nullable): the kernel command line
 */
const gchar *
vboxmem_machine_get_command_line(VboxmemMachine *self)
{
	VbmGdbusMachine *machine;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), NULL);
	machine = vbm_gdbus_object_peek_machine(self->object);
	return machine != NULL ? vbm_gdbus_machine_get_command_line(machine) : NULL;
}

/**
 * vboxmem_machine_get_balloon_default_size:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:balloon-default-size.
 *
 * Returns: the balloon size in bytes requested at every start
 */
guint64
vboxmem_machine_get_balloon_default_size(VboxmemMachine *self)
{
	VbmGdbusBalloon *balloon;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	balloon = vbm_gdbus_object_peek_balloon(self->object);
	return balloon != NULL ? vbm_gdbus_balloon_get_default_size(balloon) : 0;
}

/**
 * vboxmem_machine_get_balloon_target:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:balloon-target.
 *
 * Returns: the balloon size in bytes requested of the running guest
 */
guint64
vboxmem_machine_get_balloon_target(VboxmemMachine *self)
{
	VbmGdbusBalloon *balloon;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	balloon = vbm_gdbus_object_peek_balloon(self->object);
	return balloon != NULL ? vbm_gdbus_balloon_get_target(balloon) : 0;
}

/**
 * vboxmem_machine_get_balloon_actual:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:balloon-actual.
 *
 * Returns: the balloon size in bytes the guest has really given back
 */
guint64
vboxmem_machine_get_balloon_actual(VboxmemMachine *self)
{
	VbmGdbusBalloon *balloon;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	balloon = vbm_gdbus_object_peek_balloon(self->object);
	return balloon != NULL ? vbm_gdbus_balloon_get_actual(balloon) : 0;
}

/**
 * vboxmem_machine_get_deflate_on_oom:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:deflate-on-oom.
 *
 * Returns: whether the guest may deflate the balloon when it runs out of
 * memory
 */
gboolean
vboxmem_machine_get_deflate_on_oom(VboxmemMachine *self)
{
	VbmGdbusBalloon *balloon;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	balloon = vbm_gdbus_object_peek_balloon(self->object);
	return balloon != NULL && vbm_gdbus_balloon_get_deflate_on_oom(balloon);
}

/**
 * vboxmem_machine_get_free_page_reporting:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:free-page-reporting.
 *
 * Returns: whether the guest reports freed pages to the host
 */
gboolean
vboxmem_machine_get_free_page_reporting(VboxmemMachine *self)
{
	VbmGdbusBalloon *balloon;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	balloon = vbm_gdbus_object_peek_balloon(self->object);
	return balloon != NULL && vbm_gdbus_balloon_get_free_page_reporting(balloon);
}

/**
 * vboxmem_machine_get_page_fusion:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:page-fusion.
 *
 * Returns: whether Page Fusion is used for this machine
 */
gboolean
vboxmem_machine_get_page_fusion(VboxmemMachine *self)
{
	VbmGdbusPageFusion *page_fusion;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	page_fusion = vbm_gdbus_object_peek_page_fusion(self->object);
	return page_fusion != NULL && vbm_gdbus_page_fusion_get_enabled(page_fusion);
}

/**
 * vboxmem_machine_get_page_fusion_shared_bytes:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:page-fusion-shared-bytes.
 *
 * Returns: the bytes of this guest's memory mapped from shared pages
 */
guint64
vboxmem_machine_get_page_fusion_shared_bytes(VboxmemMachine *self)
{
	VbmGdbusPageFusion *page_fusion;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	page_fusion = vbm_gdbus_object_peek_page_fusion(self->object);
	return page_fusion != NULL ? vbm_gdbus_page_fusion_get_shared_bytes(page_fusion) : 0;
}

/**
 * vboxmem_machine_get_page_fusion_hinted_bytes:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:page-fusion-hinted-bytes.
 *
 * Returns: the bytes of guest memory the guest agent hinted as shareable
 */
guint64
vboxmem_machine_get_page_fusion_hinted_bytes(VboxmemMachine *self)
{
	VbmGdbusPageFusion *page_fusion;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	page_fusion = vbm_gdbus_object_peek_page_fusion(self->object);
	return page_fusion != NULL ? vbm_gdbus_page_fusion_get_hinted_bytes(page_fusion) : 0;
}

typedef guint64 (*VboxmemGuestStatGetter)(VbmGdbusGuest *guest);

/* the guest statistics read as VBOXMEM_GUEST_STAT_UNKNOWN until the guest reports them */
static guint64
vboxmem_machine_get_guest_stat(VboxmemMachine *self, VboxmemGuestStatGetter getter)
{
	VbmGdbusGuest *guest;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), VBOXMEM_GUEST_STAT_UNKNOWN);
	guest = vbm_gdbus_object_peek_guest(self->object);
	return guest != NULL ? getter(guest) : VBOXMEM_GUEST_STAT_UNKNOWN;
}

/**
 * vboxmem_machine_get_guest_memory_total:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-memory-total.
 *
 * Returns: the total memory the guest sees in bytes, or
 * %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_memory_total(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_memory_total);
}

/**
 * vboxmem_machine_get_guest_memory_free:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-memory-free.
 *
 * Returns: the guest's free memory in bytes, or %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_memory_free(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_memory_free);
}

/**
 * vboxmem_machine_get_guest_memory_available:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-memory-available.
 *
 * Returns: the guest's memory available for new work in bytes, or
 * %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_memory_available(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_memory_available);
}

/**
 * vboxmem_machine_get_guest_disk_caches:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-disk-caches.
 *
 * Returns: the guest's memory used for caches it can drop, in bytes, or
 * %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_disk_caches(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_disk_caches);
}

/**
 * vboxmem_machine_get_guest_swap_in:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-swap-in.
 *
 * Returns: the bytes the guest swapped in, or %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_swap_in(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_swap_in);
}

/**
 * vboxmem_machine_get_guest_swap_out:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-swap-out.
 *
 * Returns: the bytes the guest swapped out, or %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_swap_out(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_swap_out);
}

/**
 * vboxmem_machine_get_guest_major_faults:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-major-faults.
 *
 * Returns: the guest's major page faults, or %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_major_faults(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_major_faults);
}

/**
 * vboxmem_machine_get_guest_minor_faults:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-minor-faults.
 *
 * Returns: the guest's minor page faults, or %VBOXMEM_GUEST_STAT_UNKNOWN
 */
guint64
vboxmem_machine_get_guest_minor_faults(VboxmemMachine *self)
{
	return vboxmem_machine_get_guest_stat(self, vbm_gdbus_guest_get_minor_faults);
}

/**
 * vboxmem_machine_get_guest_last_update:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-last-update.
 *
 * Returns: the time of the guest's last report in microseconds since the Unix
 * epoch, or 0 if it has not reported
 */
gint64
vboxmem_machine_get_guest_last_update(VboxmemMachine *self)
{
	VbmGdbusGuest *guest;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), 0);
	guest = vbm_gdbus_object_peek_guest(self->object);
	return guest != NULL ? vbm_gdbus_guest_get_last_update(guest) : 0;
}

/**
 * vboxmem_machine_get_guest_agent_connected:
 * @self: a #VboxmemMachine
 *
 * Gets #VboxmemMachine:guest-agent-connected.
 *
 * Returns: whether the guest agent is connected
 */
gboolean
vboxmem_machine_get_guest_agent_connected(VboxmemMachine *self)
{
	VbmGdbusGuest *guest;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	guest = vbm_gdbus_object_peek_guest(self->object);
	return guest != NULL && vbm_gdbus_guest_get_agent_connected(guest);
}

static GDBusProxy *
vboxmem_machine_get_proxy(VboxmemMachine *self, const gchar *interface_name, GError **error)
{
	GDBusInterface *interface =
		g_dbus_object_get_interface(G_DBUS_OBJECT(self->object), interface_name);
	if (interface == NULL) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_NO_SUCH_MACHINE,
			    "%s has no interface %s",
			    vboxmem_machine_get_object_path(self),
			    interface_name);
		return NULL;
	}
	return G_DBUS_PROXY(interface);
}

/* returns the reply (transfer full) through the task */
static void
vboxmem_machine_call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;

	reply = vbm_call_finish(G_DBUS_PROXY(source), res, &error);
	if (reply == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_pointer(task, g_steal_pointer(&reply), (GDestroyNotify)g_variant_unref);
}

/* calls @method with @parameters (a floating reference is consumed) */
static void
vboxmem_machine_call(VboxmemMachine *self,
		     gpointer source_tag,
		     const gchar *interface_name,
		     const gchar *method,
		     GVariant *parameters,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data)
{
	g_autoptr(GVariant) parameters_ref = g_variant_ref_sink(parameters);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(VboxmemClient) client = g_weak_ref_get(&self->client);
	g_autoptr(GDBusProxy) proxy = NULL;
	g_autoptr(GError) error = NULL;

	g_task_set_source_tag(task, source_tag);
	proxy = vboxmem_machine_get_proxy(self, interface_name, &error);
	if (proxy == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	vbm_call(client,
		 proxy,
		 method,
		 parameters_ref,
		 cancellable,
		 vboxmem_machine_call_cb,
		 g_steal_pointer(&task));
}

/* Returns: (transfer full) (nullable): the reply of the call that @res finishes */
static GVariant *
vboxmem_machine_call_finish_reply(VboxmemMachine *self,
				  GAsyncResult *res,
				  gpointer source_tag,
				  GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == source_tag, NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

static gboolean
vboxmem_machine_call_finish(VboxmemMachine *self,
			    GAsyncResult *res,
			    gpointer source_tag,
			    GError **error)
{
	g_autoptr(GVariant) reply = vboxmem_machine_call_finish_reply(self, res, source_tag, error);
	return reply != NULL;
}

/*
 * Calls @method with @parameters (a floating reference is consumed).
 * Returns: (transfer full) (nullable): the reply
 */
static GVariant *
vboxmem_machine_call_sync_reply(VboxmemMachine *self,
				const gchar *interface_name,
				const gchar *method,
				GVariant *parameters,
				GCancellable *cancellable,
				GError **error)
{
	g_autoptr(GVariant) parameters_ref = g_variant_ref_sink(parameters);
	g_autoptr(VboxmemClient) client = g_weak_ref_get(&self->client);
	g_autoptr(GDBusProxy) proxy = NULL;

	proxy = vboxmem_machine_get_proxy(self, interface_name, error);
	if (proxy == NULL)
		return NULL;
	return vbm_call_sync(client, proxy, method, parameters_ref, cancellable, error);
}

/* calls @method with @parameters (a floating reference is consumed) */
static gboolean
vboxmem_machine_call_sync(VboxmemMachine *self,
			  const gchar *interface_name,
			  const gchar *method,
			  GVariant *parameters,
			  GCancellable *cancellable,
			  GError **error)
{
	g_autoptr(GVariant) reply = vboxmem_machine_call_sync_reply(
		self, interface_name, method, parameters, cancellable, error);
	return reply != NULL;
}

static GVariant *
vboxmem_machine_no_options(void)
{
	return g_variant_new("(@a{sv})", g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
}

/**
 * vboxmem_machine_modify:
 * @self: a #VboxmemMachine
 * @settings: an `a{sv}` dictionary with the keys of `CreateMachine`; keys not
 *   given keep their values; a floating reference is consumed
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Changes the persistent settings of a powered-off or aborted machine. All
 * keys are checked before any is applied, so a refused call changes nothing.
 * Requires the polkit action org.vboxmem.machine.modify. Call
 * vboxmem_machine_modify_finish() in @callback.
 */
void
vboxmem_machine_modify(VboxmemMachine *self,
		       GVariant *settings,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_autoptr(GVariant) settings_ref = NULL;

	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	g_return_if_fail(settings != NULL &&
			 g_variant_is_of_type(settings, G_VARIANT_TYPE_VARDICT));
	settings_ref = g_variant_ref_sink(settings);
	vboxmem_machine_call(self,
			     vboxmem_machine_modify,
			     VBOXMEM_MACHINE_INTERFACE,
			     "Modify",
			     g_variant_new("(@a{sv})", settings_ref),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_modify_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_modify().
 *
 * Returns: %TRUE if the settings were changed
 */
gboolean
vboxmem_machine_modify_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	return vboxmem_machine_call_finish(self, res, vboxmem_machine_modify, error);
}

/**
 * vboxmem_machine_modify_sync:
 * @self: a #VboxmemMachine
 * @settings: an `a{sv}` dictionary with the keys of `CreateMachine`; keys not
 *   given keep their values; a floating reference is consumed
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Changes the persistent settings of a powered-off or aborted machine. All
 * keys are checked before any is applied, so a refused call changes nothing.
 * Requires the polkit action org.vboxmem.machine.modify.
 *
 * Returns: %TRUE if the settings were changed
 */
gboolean
vboxmem_machine_modify_sync(VboxmemMachine *self,
			    GVariant *settings,
			    GCancellable *cancellable,
			    GError **error)
{
	g_autoptr(GVariant) settings_ref = NULL;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	g_return_val_if_fail(
		settings != NULL && g_variant_is_of_type(settings, G_VARIANT_TYPE_VARDICT), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	settings_ref = g_variant_ref_sink(settings);
	return vboxmem_machine_call_sync(self,
					 VBOXMEM_MACHINE_INTERFACE,
					 "Modify",
					 g_variant_new("(@a{sv})", settings_ref),
					 cancellable,
					 error);
}

/**
 * vboxmem_machine_start:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Starts the powered-off or aborted machine: vboxmemd runs it in a worker
 * process of its own. Fails with %VBOXMEM_ERROR_INVALID_STATE when the
 * machine runs already and with %VBOXMEM_ERROR_INSUFFICIENT_MEMORY, whose
 * message has the numbers, when the memory pool cannot hold it.
 * #VboxmemMachine:state follows with its notifications, which may arrive
 * after the call has finished. Requires the polkit action
 * org.vboxmem.machine.control.
 * Call vboxmem_machine_start_finish() in @callback.
 */
void
vboxmem_machine_start(VboxmemMachine *self,
		      GCancellable *cancellable,
		      GAsyncReadyCallback callback,
		      gpointer user_data)
{
	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	vboxmem_machine_call(self,
			     vboxmem_machine_start,
			     VBOXMEM_MACHINE_INTERFACE,
			     "Start",
			     vboxmem_machine_no_options(),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_start_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_start().
 *
 * Returns: %TRUE if the machine was started
 */
gboolean
vboxmem_machine_start_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	return vboxmem_machine_call_finish(self, res, vboxmem_machine_start, error);
}

/**
 * vboxmem_machine_start_sync:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Starts the powered-off or aborted machine: vboxmemd runs it in a worker
 * process of its own. Fails with %VBOXMEM_ERROR_INVALID_STATE when the
 * machine runs already and with %VBOXMEM_ERROR_INSUFFICIENT_MEMORY, whose
 * message has the numbers, when the memory pool cannot hold it.
 * #VboxmemMachine:state follows with its notifications, which may arrive
 * after the call has finished. Requires the polkit action
 * org.vboxmem.machine.control.
 *
 * Returns: %TRUE if the machine was started
 */
gboolean
vboxmem_machine_start_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return vboxmem_machine_call_sync(self,
					 VBOXMEM_MACHINE_INTERFACE,
					 "Start",
					 vboxmem_machine_no_options(),
					 cancellable,
					 error);
}

/**
 * vboxmem_machine_power_off:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Powers the machine off: the call finishes once its worker process has
 * exited. Fails with %VBOXMEM_ERROR_INVALID_STATE when the machine does not
 * run. #VboxmemMachine:state follows with its notifications, which may arrive
 * after the call has finished. Requires the polkit action
 * org.vboxmem.machine.control. Call vboxmem_machine_power_off_finish() in
 * @callback.
 */
void
vboxmem_machine_power_off(VboxmemMachine *self,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	vboxmem_machine_call(self,
			     vboxmem_machine_power_off,
			     VBOXMEM_MACHINE_INTERFACE,
			     "PowerOff",
			     vboxmem_machine_no_options(),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_power_off_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_power_off().
 *
 * Returns: %TRUE if the machine was powered off
 */
gboolean
vboxmem_machine_power_off_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	return vboxmem_machine_call_finish(self, res, vboxmem_machine_power_off, error);
}

/**
 * vboxmem_machine_power_off_sync:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Powers the machine off: the call finishes once its worker process has
 * exited. Fails with %VBOXMEM_ERROR_INVALID_STATE when the machine does not
 * run. #VboxmemMachine:state follows with its notifications, which may arrive
 * after the call has finished. Requires the polkit action
 * org.vboxmem.machine.control.
 *
 * Returns: %TRUE if the machine was powered off
 */
gboolean
vboxmem_machine_power_off_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return vboxmem_machine_call_sync(self,
					 VBOXMEM_MACHINE_INTERFACE,
					 "PowerOff",
					 vboxmem_machine_no_options(),
					 cancellable,
					 error);
}

/**
 * vboxmem_machine_pause:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Stops the machine's virtual CPUs. Requires the polkit action
 * org.vboxmem.machine.control. Call vboxmem_machine_pause_finish() in
 * @callback.
 */
void
vboxmem_machine_pause(VboxmemMachine *self,
		      GCancellable *cancellable,
		      GAsyncReadyCallback callback,
		      gpointer user_data)
{
	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	vboxmem_machine_call(self,
			     vboxmem_machine_pause,
			     VBOXMEM_MACHINE_INTERFACE,
			     "Pause",
			     vboxmem_machine_no_options(),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_pause_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_pause().
 *
 * Returns: %TRUE if the machine was paused
 */
gboolean
vboxmem_machine_pause_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	return vboxmem_machine_call_finish(self, res, vboxmem_machine_pause, error);
}

/**
 * vboxmem_machine_pause_sync:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Stops the machine's virtual CPUs. Requires the polkit action
 * org.vboxmem.machine.control.
 *
 * Returns: %TRUE if the machine was paused
 */
gboolean
vboxmem_machine_pause_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return vboxmem_machine_call_sync(self,
					 VBOXMEM_MACHINE_INTERFACE,
					 "Pause",
					 vboxmem_machine_no_options(),
					 cancellable,
					 error);
}

/**
 * vboxmem_machine_resume:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Lets a paused machine run again. Requires the polkit action
 * org.vboxmem.machine.control. Call vboxmem_machine_resume_finish() in
 * @callback.
 */
void
vboxmem_machine_resume(VboxmemMachine *self,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	vboxmem_machine_call(self,
			     vboxmem_machine_resume,
			     VBOXMEM_MACHINE_INTERFACE,
			     "Resume",
			     vboxmem_machine_no_options(),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_resume_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_resume().
 *
 * Returns: %TRUE if the machine runs again
 */
gboolean
vboxmem_machine_resume_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	return vboxmem_machine_call_finish(self, res, vboxmem_machine_resume, error);
}

/**
 * vboxmem_machine_resume_sync:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Lets a paused machine run again. Requires the polkit action
 * org.vboxmem.machine.control.
 *
 * Returns: %TRUE if the machine runs again
 */
gboolean
vboxmem_machine_resume_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return vboxmem_machine_call_sync(self,
					 VBOXMEM_MACHINE_INTERFACE,
					 "Resume",
					 vboxmem_machine_no_options(),
					 cancellable,
					 error);
}

/**
 * vboxmem_machine_unregister:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Removes a powered-off machine from the registry and deletes its settings.
 * Requires the polkit action org.vboxmem.machine.unregister. Call
 * vboxmem_machine_unregister_finish() in @callback.
 */
void
vboxmem_machine_unregister(VboxmemMachine *self,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data)
{
	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	vboxmem_machine_call(self,
			     vboxmem_machine_unregister,
			     VBOXMEM_MACHINE_INTERFACE,
			     "Unregister",
			     vboxmem_machine_no_options(),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_unregister_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_unregister().
 *
 * Returns: %TRUE if the machine was unregistered
 */
gboolean
vboxmem_machine_unregister_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	return vboxmem_machine_call_finish(self, res, vboxmem_machine_unregister, error);
}

/**
 * vboxmem_machine_unregister_sync:
 * @self: a #VboxmemMachine
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Removes a powered-off machine from the registry and deletes its settings.
 * Requires the polkit action org.vboxmem.machine.unregister.
 *
 * Returns: %TRUE if the machine was unregistered
 */
gboolean
vboxmem_machine_unregister_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return vboxmem_machine_call_sync(self,
					 VBOXMEM_MACHINE_INTERFACE,
					 "Unregister",
					 vboxmem_machine_no_options(),
					 cancellable,
					 error);
}

/* "max-bytes" only when given: 0 leaves the daemon's default */
static GVariant *
vboxmem_machine_read_console_log_parameters(guint64 max_bytes)
{
	g_auto(GVariantDict) options = G_VARIANT_DICT_INIT(NULL);

	if (max_bytes > 0)
		g_variant_dict_insert(&options, "max-bytes", "t", max_bytes);
	return g_variant_new("(@a{sv})", g_variant_dict_end(&options));
}

static gchar *
vboxmem_machine_console_log_from_reply(GVariant *reply)
{
	gchar *log = NULL;

	if (reply != NULL)
		g_variant_get(reply, "(s)", &log);
	return log;
}

/**
 * vboxmem_machine_read_console_log:
 * @self: a #VboxmemMachine
 * @max_bytes: the most bytes to return, from the end of the log; 0 for the
 *   daemon's default and limit (1 MiB)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Reads the end of the serial console log of the current or last run of the
 * machine. The owner of the machine may read it; anyone else needs the polkit
 * action org.vboxmem.machine.control-other. Call
 * vboxmem_machine_read_console_log_finish() in @callback.
 */
void
vboxmem_machine_read_console_log(VboxmemMachine *self,
				 guint64 max_bytes,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data)
{
	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	vboxmem_machine_call(self,
			     vboxmem_machine_read_console_log,
			     VBOXMEM_MACHINE_INTERFACE,
			     "ReadConsoleLog",
			     vboxmem_machine_read_console_log_parameters(max_bytes),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_read_console_log_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_read_console_log().
 *
 * Returns: (transfer full): the end of the console log as UTF-8 (bytes that
 * are not UTF-8 replaced), empty if the machine never ran, or %NULL on error
 */
gchar *
vboxmem_machine_read_console_log_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	g_autoptr(GVariant) reply = vboxmem_machine_call_finish_reply(
		self, res, vboxmem_machine_read_console_log, error);
	return vboxmem_machine_console_log_from_reply(reply);
}

/**
 * vboxmem_machine_read_console_log_sync:
 * @self: a #VboxmemMachine
 * @max_bytes: the most bytes to return, from the end of the log; 0 for the
 *   daemon's default and limit (1 MiB)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Reads the end of the serial console log of the current or last run of the
 * machine. The owner of the machine may read it; anyone else needs the polkit
 * action org.vboxmem.machine.control-other.
 *
 * Returns: (transfer full): the end of the console log as UTF-8 (bytes that
 * are not UTF-8 replaced), empty if the machine never ran, or %NULL on error
 */
gchar *
vboxmem_machine_read_console_log_sync(VboxmemMachine *self,
				      guint64 max_bytes,
				      GCancellable *cancellable,
				      GError **error)
{
	g_autoptr(GVariant) reply = NULL;

	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	reply = vboxmem_machine_call_sync_reply(
		self,
		VBOXMEM_MACHINE_INTERFACE,
		"ReadConsoleLog",
		vboxmem_machine_read_console_log_parameters(max_bytes),
		cancellable,
		error);
	return vboxmem_machine_console_log_from_reply(reply);
}

static GVariant *
vboxmem_machine_set_target_parameters(guint64 size)
{
	return g_variant_new(
		"(t@a{sv})", size, g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
}

/**
 * vboxmem_machine_set_balloon_target:
 * @self: a #VboxmemMachine
 * @size: the new balloon size in bytes, at most the machine's memory size
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the daemon has answered
 * @user_data: data for @callback
 *
 * Resizes the balloon of a running or paused machine: @size is the memory
 * taken from the guest. #VboxmemMachine:balloon-target changes at once;
 * the guest gives the memory back in its own time, which
 * #VboxmemMachine:balloon-actual follows. Fails with
 * %VBOXMEM_ERROR_INVALID_ARGUMENT when @size is not a whole number of MiB or
 * larger than the memory size, and with %VBOXMEM_ERROR_INVALID_STATE when the
 * machine does not run. Requires the polkit action
 * org.vboxmem.machine.control. Call
 * vboxmem_machine_set_balloon_target_finish() in @callback.
 */
void
vboxmem_machine_set_balloon_target(VboxmemMachine *self,
				   guint64 size,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data)
{
	g_return_if_fail(VBOXMEM_IS_MACHINE(self));
	vboxmem_machine_call(self,
			     vboxmem_machine_set_balloon_target,
			     VBOXMEM_BALLOON_INTERFACE,
			     "SetTarget",
			     vboxmem_machine_set_target_parameters(size),
			     cancellable,
			     callback,
			     user_data);
}

/**
 * vboxmem_machine_set_balloon_target_finish:
 * @self: a #VboxmemMachine
 * @res: the #GAsyncResult given to the callback
 * @error: return location for a #GError, or %NULL
 *
 * Finishes vboxmem_machine_set_balloon_target().
 *
 * Returns: %TRUE if the new target was accepted
 */
gboolean
vboxmem_machine_set_balloon_target_finish(VboxmemMachine *self, GAsyncResult *res, GError **error)
{
	return vboxmem_machine_call_finish(self, res, vboxmem_machine_set_balloon_target, error);
}

/**
 * vboxmem_machine_set_balloon_target_sync:
 * @self: a #VboxmemMachine
 * @size: the new balloon size in bytes, at most the machine's memory size
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError, or %NULL
 *
 * Resizes the balloon of a running or paused machine: @size is the memory
 * taken from the guest. #VboxmemMachine:balloon-target changes at once;
 * the guest gives the memory back in its own time, which
 * #VboxmemMachine:balloon-actual follows. Fails with
 * %VBOXMEM_ERROR_INVALID_ARGUMENT when @size is not a whole number of MiB or
 * larger than the memory size, and with %VBOXMEM_ERROR_INVALID_STATE when the
 * machine does not run. Requires the polkit action
 * org.vboxmem.machine.control.
 *
 * Returns: %TRUE if the new target was accepted
 */
gboolean
vboxmem_machine_set_balloon_target_sync(VboxmemMachine *self,
					guint64 size,
					GCancellable *cancellable,
					GError **error)
{
	g_return_val_if_fail(VBOXMEM_IS_MACHINE(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return vboxmem_machine_call_sync(self,
					 VBOXMEM_BALLOON_INTERFACE,
					 "SetTarget",
					 vboxmem_machine_set_target_parameters(size),
					 cancellable,
					 error);
}

static void
vboxmem_machine_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
	VboxmemMachine *self = VBOXMEM_MACHINE(object);

	switch (prop_id) {
	case PROP_OBJECT_PATH:
		g_value_set_string(value, vboxmem_machine_get_object_path(self));
		break;
	case PROP_NAME:
		g_value_set_string(value, vboxmem_machine_get_name(self));
		break;
	case PROP_OWNER:
		g_value_set_uint(value, vboxmem_machine_get_owner(self));
		break;
	case PROP_STATE:
		g_value_set_enum(value, vboxmem_machine_get_state(self));
		break;
	case PROP_MEMORY_SIZE:
		g_value_set_uint64(value, vboxmem_machine_get_memory_size(self));
		break;
	case PROP_CPUS:
		g_value_set_uint(value, vboxmem_machine_get_cpus(self));
		break;
	case PROP_KERNEL:
		g_value_set_string(value, vboxmem_machine_get_kernel(self));
		break;
	case PROP_INITRD:
		g_value_set_string(value, vboxmem_machine_get_initrd(self));
		break;
	case PROP_COMMAND_LINE:
		g_value_set_string(value, vboxmem_machine_get_command_line(self));
		break;
	case PROP_BALLOON_DEFAULT_SIZE:
		g_value_set_uint64(value, vboxmem_machine_get_balloon_default_size(self));
		break;
	case PROP_BALLOON_TARGET:
		g_value_set_uint64(value, vboxmem_machine_get_balloon_target(self));
		break;
	case PROP_BALLOON_ACTUAL:
		g_value_set_uint64(value, vboxmem_machine_get_balloon_actual(self));
		break;
	case PROP_DEFLATE_ON_OOM:
		g_value_set_boolean(value, vboxmem_machine_get_deflate_on_oom(self));
		break;
	case PROP_FREE_PAGE_REPORTING:
		g_value_set_boolean(value, vboxmem_machine_get_free_page_reporting(self));
		break;
	case PROP_PAGE_FUSION:
		g_value_set_boolean(value, vboxmem_machine_get_page_fusion(self));
		break;
	case PROP_PAGE_FUSION_SHARED_BYTES:
		g_value_set_uint64(value, vboxmem_machine_get_page_fusion_shared_bytes(self));
		break;
	case PROP_PAGE_FUSION_HINTED_BYTES:
		g_value_set_uint64(value, vboxmem_machine_get_page_fusion_hinted_bytes(self));
		break;
	case PROP_GUEST_MEMORY_TOTAL:
		g_value_set_uint64(value, vboxmem_machine_get_guest_memory_total(self));
		break;
	case PROP_GUEST_MEMORY_FREE:
		g_value_set_uint64(value, vboxmem_machine_get_guest_memory_free(self));
		break;
	case PROP_GUEST_MEMORY_AVAILABLE:
		g_value_set_uint64(value, vboxmem_machine_get_guest_memory_available(self));
		break;
	case PROP_GUEST_DISK_CACHES:
		g_value_set_uint64(value, vboxmem_machine_get_guest_disk_caches(self));
		break;
	case PROP_GUEST_SWAP_IN:
		g_value_set_uint64(value, vboxmem_machine_get_guest_swap_in(self));
		break;
	case PROP_GUEST_SWAP_OUT:
		g_value_set_uint64(value, vboxmem_machine_get_guest_swap_out(self));
		break;
	case PROP_GUEST_MAJOR_FAULTS:
		g_value_set_uint64(value, vboxmem_machine_get_guest_major_faults(self));
		break;
	case PROP_GUEST_MINOR_FAULTS:
		g_value_set_uint64(value, vboxmem_machine_get_guest_minor_faults(self));
		break;
	case PROP_GUEST_LAST_UPDATE:
		g_value_set_int64(value, vboxmem_machine_get_guest_last_update(self));
		break;
	case PROP_GUEST_AGENT_CONNECTED:
		g_value_set_boolean(value, vboxmem_machine_get_guest_agent_connected(self));
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
vboxmem_machine_init(VboxmemMachine *self)
{
	g_weak_ref_init(&self->client, NULL);
}

static void
vboxmem_machine_finalize(GObject *object)
{
	VboxmemMachine *self = VBOXMEM_MACHINE(object);

	g_weak_ref_clear(&self->client);
	g_clear_object(&self->object);
	G_OBJECT_CLASS(vboxmem_machine_parent_class)->finalize(object);
}

static GParamSpec *
vboxmem_machine_param_string(const gchar *name)
{
	return g_param_spec_string(
		name, NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
vboxmem_machine_param_uint64(const gchar *name, guint64 default_value)
{
	return g_param_spec_uint64(name,
				   NULL,
				   NULL,
				   0,
				   G_MAXUINT64,
				   default_value,
				   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
vboxmem_machine_param_boolean(const gchar *name)
{
	return g_param_spec_boolean(
		name, NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static void
vboxmem_machine_class_init(VboxmemMachineClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	/* registers the D-Bus error names before any reply is parsed */
	vboxmem_error_quark();

	object_class->get_property = vboxmem_machine_get_property;
	object_class->finalize = vboxmem_machine_finalize;

	/**
	 * VboxmemMachine:object-path:
	 *
	 * The D-Bus object path of the machine.
	 */
	properties[PROP_OBJECT_PATH] = vboxmem_machine_param_string("object-path");

	/**
	 * VboxmemMachine:name:
	 *
	 * The unique name of the machine.
	 */
	properties[PROP_NAME] = vboxmem_machine_param_string("name");

	/**
	 * VboxmemMachine:owner:
	 *
	 * The uid of the user who created the machine.
	 */
	properties[PROP_OWNER] = g_param_spec_uint(
		"owner", NULL, NULL, 0, G_MAXUINT32, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemMachine:state:
	 *
	 * The state of the machine.
	 */
	properties[PROP_STATE] = g_param_spec_enum("state",
						   NULL,
						   NULL,
						   VBOXMEM_TYPE_MACHINE_STATE,
						   VBOXMEM_MACHINE_STATE_UNKNOWN,
						   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemMachine:memory-size:
	 *
	 * The guest RAM in bytes.
	 */
	properties[PROP_MEMORY_SIZE] = vboxmem_machine_param_uint64("memory-size", 0);

	/**
	 * VboxmemMachine:cpus:
	 *
	 * The number of virtual CPUs.
	 */
	properties[PROP_CPUS] = g_param_spec_uint(
		"cpus", NULL, NULL, 0, G_MAXUINT, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemMachine:kernel:
	 *
	 * The absolute path of the guest kernel; empty for the default test
	 * guest.
	 */
	properties[PROP_KERNEL] = vboxmem_machine_param_string("kernel");

	/**
	 * VboxmemMachine:initrd:
	 *
	 * The absolute path of the initial ramdisk, or empty for none.
	 */
	properties[PROP_INITRD] = vboxmem_machine_param_string("initrd");

	/**
	 * VboxmemMachine:command-line:
	 *
	 * The kernel command line.
	 */
	properties[PROP_COMMAND_LINE] = vboxmem_machine_param_string("command-line");

	/**
	 * VboxmemMachine:balloon-default-size:
	 *
	 * The balloon size in bytes requested at every start.
	 */
	properties[PROP_BALLOON_DEFAULT_SIZE] =
		vboxmem_machine_param_uint64("balloon-default-size", 0);

	/**
	 * VboxmemMachine:balloon-target:
	 *
	 * The balloon size in bytes requested of the running guest.
	 */
	properties[PROP_BALLOON_TARGET] = vboxmem_machine_param_uint64("balloon-target", 0);

	/**
	 * VboxmemMachine:balloon-actual:
	 *
	 * The balloon size in bytes the guest has really given back.
	 */
	properties[PROP_BALLOON_ACTUAL] = vboxmem_machine_param_uint64("balloon-actual", 0);

	/**
	 * VboxmemMachine:deflate-on-oom:
	 *
	 * Whether the guest may deflate the balloon when it runs out of memory.
	 */
	properties[PROP_DEFLATE_ON_OOM] = vboxmem_machine_param_boolean("deflate-on-oom");

	/**
	 * VboxmemMachine:free-page-reporting:
	 *
	 * Whether the guest reports freed pages to the host.
	 */
	properties[PROP_FREE_PAGE_REPORTING] = vboxmem_machine_param_boolean("free-page-reporting");

	/**
	 * VboxmemMachine:page-fusion:
	 *
	 * Whether Page Fusion is used for this machine.
	 */
	properties[PROP_PAGE_FUSION] = vboxmem_machine_param_boolean("page-fusion");

	/**
	 * VboxmemMachine:page-fusion-shared-bytes:
	 *
	 * The bytes of this guest's memory mapped from shared pages.
	 */
	properties[PROP_PAGE_FUSION_SHARED_BYTES] =
		vboxmem_machine_param_uint64("page-fusion-shared-bytes", 0);

	/**
	 * VboxmemMachine:page-fusion-hinted-bytes:
	 *
	 * The bytes of guest memory the guest agent hinted as shareable.
	 */
	properties[PROP_PAGE_FUSION_HINTED_BYTES] =
		vboxmem_machine_param_uint64("page-fusion-hinted-bytes", 0);

	/**
	 * VboxmemMachine:guest-memory-total:
	 *
	 * The total memory the guest sees in bytes, or
	 * %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_MEMORY_TOTAL] =
		vboxmem_machine_param_uint64("guest-memory-total", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-memory-free:
	 *
	 * The guest's free memory in bytes, or %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_MEMORY_FREE] =
		vboxmem_machine_param_uint64("guest-memory-free", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-memory-available:
	 *
	 * The guest's memory available for new work in bytes, or
	 * %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_MEMORY_AVAILABLE] =
		vboxmem_machine_param_uint64("guest-memory-available", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-disk-caches:
	 *
	 * The guest's memory used for caches it can drop, in bytes, or
	 * %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_DISK_CACHES] =
		vboxmem_machine_param_uint64("guest-disk-caches", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-swap-in:
	 *
	 * The bytes the guest swapped in, or %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_SWAP_IN] =
		vboxmem_machine_param_uint64("guest-swap-in", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-swap-out:
	 *
	 * The bytes the guest swapped out, or %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_SWAP_OUT] =
		vboxmem_machine_param_uint64("guest-swap-out", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-major-faults:
	 *
	 * The guest's major page faults, or %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_MAJOR_FAULTS] =
		vboxmem_machine_param_uint64("guest-major-faults", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-minor-faults:
	 *
	 * The guest's minor page faults, or %VBOXMEM_GUEST_STAT_UNKNOWN.
	 */
	properties[PROP_GUEST_MINOR_FAULTS] =
		vboxmem_machine_param_uint64("guest-minor-faults", VBOXMEM_GUEST_STAT_UNKNOWN);

	/**
	 * VboxmemMachine:guest-last-update:
	 *
	 * The time of the guest's last report in microseconds since the Unix
	 * epoch, or 0 if it has not reported.
	 */
	properties[PROP_GUEST_LAST_UPDATE] =
		g_param_spec_int64("guest-last-update",
				   NULL,
				   NULL,
				   G_MININT64,
				   G_MAXINT64,
				   0,
				   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

	/**
	 * VboxmemMachine:guest-agent-connected:
	 *
	 * Whether the guest agent is connected.
	 */
	properties[PROP_GUEST_AGENT_CONNECTED] =
		vboxmem_machine_param_boolean("guest-agent-connected");

	g_object_class_install_properties(object_class, PROP_LAST, properties);
}
