/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "vmm-virtio-pci-private.h"

/* Transitional PCI ids and classes (virtio 1.2, 4.1.2.3). */
static const struct {
	guint16 device_id;
	guint16 pci_device_id;
	guint32 class_code;
} transitional_ids[] = {
	{1, 0x1000, 0x020000}, /* network */
	{2, 0x1001, 0x018000}, /* block */
	{3, 0x1003, 0x078000}, /* console */
	{4, 0x1005, 0x00FF00}, /* entropy */
	{5, 0x1002, 0x00FF00}, /* balloon */
	{8, 0x1004, 0x010000}, /* SCSI */
	{9, 0x1009, 0x000200}, /* 9P */
};

#define MODERN_PCI_DEVICE_ID_BASE 0x1040

/* Interrupts. */

static guint16
msix_entry_control(VmmVirtio *self, guint vector)
{
	guint32 control;

	memcpy(&control, self->msix_table + vector * MSIX_ENTRY_SIZE + 12, 4);
	return GUINT32_FROM_LE(control) & 1;
}

static void
msix_send(VmmVirtio *self, guint vector)
{
	const guint8 *entry = self->msix_table + vector * MSIX_ENTRY_SIZE;
	guint32 low, high, data;

	memcpy(&low, entry, 4);
	memcpy(&high, entry + 4, 4);
	memcpy(&data, entry + 8, 4);
	self->irq.signal_msi(self->irq.opaque,
			     (guint64)GUINT32_FROM_LE(high) << 32 | GUINT32_FROM_LE(low),
			     GUINT32_FROM_LE(data));
}

static void
msix_signal(VmmVirtio *self, guint16 vector)
{
	if (vector >= self->n_vectors)
		return;
	if (self->msix_function_masked || msix_entry_control(self, vector)) {
		self->msix_pending |= G_GUINT64_CONSTANT(1) << vector;
		return;
	}
	msix_send(self, vector);
}

void
vmm_virtio_pci_deliver_pending(VmmVirtio *self)
{
	if (!self->msix_enabled || self->msix_function_masked)
		return;
	for (guint vector = 0; vector < self->n_vectors; vector++) {
		guint64 bit = G_GUINT64_CONSTANT(1) << vector;
		if ((self->msix_pending & bit) && !msix_entry_control(self, vector)) {
			self->msix_pending &= ~bit;
			msix_send(self, vector);
		}
	}
}

static void
interrupt(VmmVirtio *self, guint16 vector, guint8 isr_bit)
{
	self->isr |= isr_bit;
	if (self->msix_enabled)
		msix_signal(self, vector);
	else if (!self->intx_disabled && self->irq_line != 0)
		self->irq.set_line(self->irq.opaque, self->irq_line, TRUE);
}

guint8
vmm_virtio_pci_read_isr(VmmVirtio *self)
{
	guint8 isr = self->isr;

	self->isr = 0;
	if (self->irq_line != 0)
		self->irq.set_line(self->irq.opaque, self->irq_line, FALSE);
	return isr;
}

/* What devices see (vmm-virtio.h). */

VmmVirtqueue *
vmm_virtio_get_queue(VmmVirtio *self, guint queue_index)
{
	if (!self->active || self->broken || queue_index >= self->ops->num_queues)
		return NULL;
	if (!vmm_virtqueue_is_enabled(self->queues[queue_index]))
		return NULL;
	return self->queues[queue_index];
}

void
vmm_virtio_notify_used(VmmVirtio *self, guint queue_index)
{
	self->irq.guest_event(self->irq.opaque);
	if (queue_index >= self->ops->num_queues ||
	    !vmm_virtqueue_wants_interrupt(self->queues[queue_index]))
		return;
	interrupt(self, self->queue_vectors[queue_index], ISR_QUEUE);
}

void
vmm_virtio_notify_config(VmmVirtio *self)
{
	self->config_generation++;
	self->irq.guest_event(self->irq.opaque);
	if (self->status & VMM_VIRTIO_STATUS_DRIVER_OK)
		interrupt(self, self->config_vector, ISR_CONFIG);
}

void
vmm_virtio_set_needs_reset(VmmVirtio *self, const gchar *reason)
{
	if (self->broken)
		return;
	self->broken = TRUE;
	self->status |= VMM_VIRTIO_STATUS_NEEDS_RESET;
	g_warning("virtio-pci 00:%02x.0 (device %u): %s; stopped until the driver resets it",
		  vmm_pci_device_get_slot(self->pci_device),
		  self->ops->device_id,
		  reason);
	vmm_virtio_notify_config(self);
}

gboolean
vmm_virtio_needs_reset(VmmVirtio *self)
{
	return self->broken;
}

void
vmm_virtio_lock(VmmVirtio *self)
{
	g_mutex_lock(&self->lock);
}

void
vmm_virtio_unlock(VmmVirtio *self)
{
	g_mutex_unlock(&self->lock);
}

/* Status, features, reset: shared by the legacy and modern register sets. */

static void
reset(VmmVirtio *self)
{
	self->status = 0;
	self->active = FALSE;
	self->broken = FALSE;
	self->driver_features = 0;
	self->device_feature_select = self->driver_feature_select = 0;
	self->queue_select = 0;
	self->config_vector = VMM_VIRTIO_PCI_NO_VECTOR;
	for (guint i = 0; i < self->ops->num_queues; i++) {
		vmm_virtqueue_reset(self->queues[i]);
		self->queue_vectors[i] = VMM_VIRTIO_PCI_NO_VECTOR;
	}
	vmm_virtio_pci_read_isr(self);
	self->ops->reset(self->device);
}

static gboolean
features_acceptable(VmmVirtio *self, gboolean modern)
{
	guint64 version_1 = G_GUINT64_CONSTANT(1) << VMM_VIRTIO_F_VERSION_1;

	if (self->driver_features & ~self->device_features)
		return FALSE;
	return modern == ((self->driver_features & version_1) != 0);
}

static void
activate(VmmVirtio *self)
{
	/* A legacy driver never sets FEATURES_OK (virtio 1.2, 7.2.1). */
	gboolean modern = (self->status & VMM_VIRTIO_STATUS_FEATURES_OK) != 0;

	if (!features_acceptable(self, modern)) {
		vmm_virtio_set_needs_reset(self,
					   "driver set DRIVER_OK with features it may not use");
		return;
	}
	self->active = TRUE;
	self->ops->activate(self->device, self, self->driver_features);
}

void
vmm_virtio_pci_write_status(VmmVirtio *self, guint8 value)
{
	guint8 old = self->status;

	if (value == 0) {
		reset(self);
		return;
	}
	if ((value & VMM_VIRTIO_STATUS_FEATURES_OK) && !(old & VMM_VIRTIO_STATUS_FEATURES_OK) &&
	    !features_acceptable(self, TRUE))
		value &= ~VMM_VIRTIO_STATUS_FEATURES_OK;
	self->status =
		(value & ~VMM_VIRTIO_STATUS_NEEDS_RESET) | (old & VMM_VIRTIO_STATUS_NEEDS_RESET);
	if ((value & VMM_VIRTIO_STATUS_DRIVER_OK) && !(old & VMM_VIRTIO_STATUS_DRIVER_OK))
		activate(self);
}

void
vmm_virtio_pci_set_driver_features(VmmVirtio *self, guint64 features, guint64 mask)
{
	if (self->status & (VMM_VIRTIO_STATUS_FEATURES_OK | VMM_VIRTIO_STATUS_DRIVER_OK))
		return;
	self->driver_features = (self->driver_features & ~mask) | (features & mask);
}

void
vmm_virtio_pci_enable_queue(VmmVirtio *self, VmmVirtqueue *queue)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reason = NULL;

	if (vmm_virtqueue_is_enabled(queue) || self->broken)
		return;
	if (!vmm_virtqueue_enable(queue, &error)) {
		reason = g_strdup_printf("queue %u: %s", self->queue_select, error->message);
		vmm_virtio_set_needs_reset(self, reason);
	}
}

void
vmm_virtio_pci_queue_notify(VmmVirtio *self, guint queue_index)
{
	if (!self->active || self->broken || queue_index >= self->ops->num_queues)
		return;
	if (vmm_virtqueue_is_enabled(self->queues[queue_index]))
		self->ops->queue_notify(self->device, queue_index);
}

VmmVirtqueue *
vmm_virtio_pci_selected_queue(VmmVirtio *self)
{
	if (self->queue_select >= self->ops->num_queues)
		return NULL;
	return self->queues[self->queue_select];
}

guint16
vmm_virtio_pci_valid_vector(VmmVirtio *self, guint16 vector)
{
	return vector < self->n_vectors ? vector : VMM_VIRTIO_PCI_NO_VECTOR;
}

void
vmm_virtio_pci_config_access(
	VmmVirtio *self, guint32 offset, guint8 *data, guint32 size, gboolean is_write)
{
	if ((guint64)offset + size > self->ops->config_size) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	if (is_write)
		self->ops->config_write(self->device, offset, data, size);
	else
		self->ops->config_read(self->device, offset, data, size);
}

/* PCI configuration space: the command register and the MSI-X capability. */

static void
pci_config_written(gpointer opaque, const guint8 *config, guint32 offset, guint32 size)
{
	VmmVirtio *self = opaque;
	guint16 command, msix_control;

	memcpy(&command, config + VMM_PCI_COMMAND, 2);
	memcpy(&msix_control, config + self->msix_capability + 2, 2);
	command = GUINT16_FROM_LE(command);
	msix_control = GUINT16_FROM_LE(msix_control);
	g_mutex_lock(&self->lock);
	self->intx_disabled = (command & VMM_PCI_COMMAND_INTX_DISABLE) != 0;
	self->msix_enabled = (msix_control & MSIX_CONTROL_ENABLE) != 0;
	self->msix_function_masked = (msix_control & MSIX_CONTROL_MASK) != 0;
	vmm_virtio_pci_deliver_pending(self);
	g_mutex_unlock(&self->lock);
}

static void
pci_bar_mapped(gpointer opaque, guint index, guint64 address)
{
	VmmVirtio *self = opaque;

	g_mutex_lock(&self->lock);
	self->bar_addresses[index] = address;
	vmm_virtio_pci_update_ioevents(self);
	g_mutex_unlock(&self->lock);
}

static const VmmPciConfigOps pci_config_ops = {pci_config_written, pci_bar_mapped};

static gboolean
add_msix_capability(VmmVirtio *self)
{
	guint8 cap[12] = {VMM_PCI_CAP_ID_MSIX};
	guint8 mask[12] = {0};
	guint16 control = GUINT16_TO_LE(self->n_vectors - 1);
	guint32 table = GUINT32_TO_LE(VMM_VIRTIO_PCI_MSIX_BAR);
	guint32 pba = GUINT32_TO_LE(VMM_VIRTIO_PCI_MSIX_PBA_OFFSET | VMM_VIRTIO_PCI_MSIX_BAR);

	memcpy(cap + 2, &control, 2);
	memcpy(cap + 4, &table, 4);
	memcpy(cap + 8, &pba, 4);
	mask[3] = (MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASK) >> 8;
	self->msix_capability = vmm_pci_device_add_capability(self->pci_device, cap, 12, mask);
	return self->msix_capability != 0;
}

static gboolean
add_virtio_capability(VmmVirtio *self, guint8 type, guint32 offset, guint32 length)
{
	guint8 cap[20] = {VMM_PCI_CAP_ID_VENDOR, 0, 16, type, VMM_VIRTIO_PCI_MODERN_BAR};
	guint32 offset_le = GUINT32_TO_LE(offset);
	guint32 length_le = GUINT32_TO_LE(length);
	guint32 multiplier = GUINT32_TO_LE(VMM_VIRTIO_PCI_NOTIFY_MULTIPLIER);

	memcpy(cap + 8, &offset_le, 4);
	memcpy(cap + 12, &length_le, 4);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		cap[2] = 20;
		memcpy(cap + 16, &multiplier, 4);
	}
	return vmm_pci_device_add_capability(self->pci_device, cap, cap[2], NULL) != 0;
}

static gboolean
add_capabilities(VmmVirtio *self, GError **error)
{
	gboolean ok =
		add_msix_capability(self) &&
		add_virtio_capability(self,
				      VIRTIO_PCI_CAP_COMMON_CFG,
				      VMM_VIRTIO_PCI_COMMON_OFFSET,
				      COMMON_CFG_SIZE) &&
		add_virtio_capability(self,
				      VIRTIO_PCI_CAP_NOTIFY_CFG,
				      VMM_VIRTIO_PCI_NOTIFY_OFFSET,
				      self->ops->num_queues * VMM_VIRTIO_PCI_NOTIFY_MULTIPLIER) &&
		add_virtio_capability(self, VIRTIO_PCI_CAP_ISR_CFG, VMM_VIRTIO_PCI_ISR_OFFSET, 1) &&
		(self->ops->config_size == 0 || add_virtio_capability(self,
								      VIRTIO_PCI_CAP_DEVICE_CFG,
								      VMM_VIRTIO_PCI_DEVICE_OFFSET,
								      self->ops->config_size));

	if (!ok)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "No room for PCI capabilities");
	return ok;
}

static guint64
legacy_bar_size(const VmmVirtioDeviceOps *ops)
{
	guint64 needed = LEGACY_MSIX_CONFIG_OFFSET + ops->config_size;
	guint64 size = 32;

	while (size < needed)
		size *= 2;
	return size;
}

static gboolean
add_bars(VmmVirtio *self, gboolean transitional, GError **error)
{
	if (transitional && !vmm_pci_device_add_bar(self->pci_device,
						    VMM_VIRTIO_PCI_LEGACY_BAR,
						    VMM_PCI_BAR_IO,
						    legacy_bar_size(self->ops),
						    &vmm_virtio_pci_legacy_ops,
						    self,
						    error))
		return FALSE;
	return vmm_pci_device_add_bar(self->pci_device,
				      VMM_VIRTIO_PCI_MSIX_BAR,
				      VMM_PCI_BAR_MEMORY,
				      VMM_VIRTIO_PCI_MSIX_BAR_SIZE,
				      &vmm_virtio_pci_msix_ops,
				      self,
				      error) &&
	       vmm_pci_device_add_bar(self->pci_device,
				      VMM_VIRTIO_PCI_MODERN_BAR,
				      VMM_PCI_BAR_MEMORY,
				      VMM_VIRTIO_PCI_MODERN_BAR_SIZE,
				      &vmm_virtio_pci_modern_ops,
				      self,
				      error);
}

static void
fill_pci_info(const VmmVirtioDeviceOps *ops, VmmPciDeviceInfo *info, gboolean *transitional)
{
	*info = (VmmPciDeviceInfo){
		.vendor_id = VMM_VIRTIO_PCI_VENDOR_ID,
		.device_id = MODERN_PCI_DEVICE_ID_BASE + ops->device_id,
		.subsystem_vendor_id = VMM_VIRTIO_PCI_VENDOR_ID,
		.subsystem_id = ops->device_id,
		.class_code = 0x00FF00,
		.revision = 1,
		.intx = TRUE,
	};
	*transitional = FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(transitional_ids); i++) {
		if (transitional_ids[i].device_id != ops->device_id)
			continue;
		info->device_id = transitional_ids[i].pci_device_id;
		info->class_code = transitional_ids[i].class_code;
		info->revision = 0;
		*transitional = TRUE;
	}
}

VmmVirtio *
vmm_virtio_pci_new(VmmPci *pci,
		   VmmMemory *memory,
		   const VmmIrq *irq,
		   const VmmVirtioDeviceOps *ops,
		   gpointer device,
		   GError **error)
{
	g_autoptr(VmmVirtio) self = NULL;
	VmmPciDeviceInfo info;
	gboolean transitional;

	g_return_val_if_fail(ops->num_queues <= VMM_VIRTIO_PCI_MAX_QUEUES, NULL);
	self = g_new0(VmmVirtio, 1);
	g_mutex_init(&self->lock);
	self->pci = pci;
	self->memory = memory;
	self->irq = *irq;
	self->ops = ops;
	self->device = device;
	self->n_vectors = ops->num_queues + 1;
	self->device_features = ops->get_features(device) | G_GUINT64_CONSTANT(1)
								    << VMM_VIRTIO_F_VERSION_1;
	self->queues = g_new0(VmmVirtqueue *, ops->num_queues);
	self->queue_vectors = g_new0(guint16, ops->num_queues);
	self->queue_events = g_new0(VmmVirtioQueueEvent, ops->num_queues);
	for (guint i = 0; i < ops->num_queues; i++) {
		self->queues[i] = vmm_virtqueue_new(memory, ops->queue_size);
		self->queue_events[i] = (VmmVirtioQueueEvent){.transport = self, .index = i};
	}
	self->config_vector = VMM_VIRTIO_PCI_NO_VECTOR;
	fill_pci_info(ops, &info, &transitional);
	self->pci_device = vmm_pci_add_device(pci, &info, error);
	if (self->pci_device == NULL)
		return NULL;
	self->irq_line = vmm_pci_device_get_irq(self->pci_device);
	if (!add_bars(self, transitional, error) || !add_capabilities(self, error))
		return NULL;
	for (guint i = 0; i < ops->num_queues; i++)
		self->queue_vectors[i] = VMM_VIRTIO_PCI_NO_VECTOR;
	vmm_pci_device_set_config_ops(self->pci_device, &pci_config_ops, self);
	ops->attach(device, self);
	return g_steal_pointer(&self);
}

void
vmm_virtio_pci_free(VmmVirtio *self)
{
	if (self == NULL)
		return;
	vmm_virtio_pci_remove_ioevents(self);
	if (self->pci_device != NULL)
		vmm_pci_remove_device(self->pci, self->pci_device);
	for (guint i = 0; i < self->ops->num_queues; i++)
		vmm_virtqueue_free(self->queues[i]);
	g_free(self->queues);
	g_free(self->queue_vectors);
	g_free(self->queue_events);
	g_mutex_clear(&self->lock);
	g_free(self);
}

VmmPciDevice *
vmm_virtio_pci_get_pci_device(VmmVirtio *self)
{
	return self->pci_device;
}
