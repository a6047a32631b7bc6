/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>
#include <string.h>

#include "vmm-log.h"
#include "vmm-virtio-pci-private.h"

/* Transitional PCI ids and classes (virtio 1.2, 4.1.2.3). */
static const struct {
	uint16_t device_id;
	uint16_t pci_device_id;
	uint32_t class_code;
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

static uint16_t
msix_entry_control(VmmVirtio *self, unsigned vector)
{
	uint32_t control;

	memcpy(&control, self->msix_table + vector * MSIX_ENTRY_SIZE + 12, 4);
	return le32toh(control) & 1;
}

static void
msix_send(VmmVirtio *self, unsigned vector)
{
	const uint8_t *entry = self->msix_table + vector * MSIX_ENTRY_SIZE;
	uint32_t low, high, data;

	memcpy(&low, entry, 4);
	memcpy(&high, entry + 4, 4);
	memcpy(&data, entry + 8, 4);
	self->irq.signal_msi(
		self->irq.opaque, (uint64_t)le32toh(high) << 32 | le32toh(low), le32toh(data));
}

static void
msix_signal(VmmVirtio *self, uint16_t vector)
{
	if (vector >= self->n_vectors)
		return;
	if (self->msix_function_masked || msix_entry_control(self, vector)) {
		self->msix_pending |= UINT64_C(1) << vector;
		return;
	}
	msix_send(self, vector);
}

void
vmm_virtio_pci_deliver_pending(VmmVirtio *self)
{
	if (!self->msix_enabled || self->msix_function_masked)
		return;
	for (unsigned vector = 0; vector < self->n_vectors; vector++) {
		uint64_t bit = UINT64_C(1) << vector;
		if ((self->msix_pending & bit) && !msix_entry_control(self, vector)) {
			self->msix_pending &= ~bit;
			msix_send(self, vector);
		}
	}
}

static void
interrupt(VmmVirtio *self, uint16_t vector, uint8_t isr_bit)
{
	self->isr |= isr_bit;
	if (self->msix_enabled)
		msix_signal(self, vector);
	else if (!self->intx_disabled && self->irq_line != 0)
		self->irq.set_line(self->irq.opaque, self->irq_line, true);
}

uint8_t
vmm_virtio_pci_read_isr(VmmVirtio *self)
{
	uint8_t isr = self->isr;

	self->isr = 0;
	if (self->irq_line != 0)
		self->irq.set_line(self->irq.opaque, self->irq_line, false);
	return isr;
}

/* What devices see (vmm-virtio.h). */

VmmVirtqueue *
vmm_virtio_get_queue(VmmVirtio *self, unsigned queue_index)
{
	if (!self->active || self->broken || queue_index >= self->ops->num_queues)
		return NULL;
	if (!vmm_virtqueue_is_enabled(self->queues[queue_index]))
		return NULL;
	return self->queues[queue_index];
}

void
vmm_virtio_notify_used(VmmVirtio *self, unsigned queue_index)
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
vmm_virtio_set_needs_reset(VmmVirtio *self, const char *reason)
{
	if (self->broken)
		return;
	self->broken = true;
	self->status |= VMM_VIRTIO_STATUS_NEEDS_RESET;
	vmm_warning("virtio-pci 00:%02x.0 (device %u): %s; stopped until the driver resets it",
		    vmm_pci_device_get_slot(self->pci_device),
		    self->ops->device_id,
		    reason);
	vmm_virtio_notify_config(self);
}

void
vmm_virtio_queue_failed(VmmVirtio *self, unsigned queue_index, const VmmError *error)
{
	vmm_autofree char *reason = vmm_strdup_printf("queue %u: %s", queue_index, error->message);

	vmm_virtio_set_needs_reset(self, reason);
}

bool
vmm_virtio_needs_reset(VmmVirtio *self)
{
	return self->broken;
}

void
vmm_virtio_lock(VmmVirtio *self)
{
	pthread_mutex_lock(&self->lock);
}

void
vmm_virtio_unlock(VmmVirtio *self)
{
	pthread_mutex_unlock(&self->lock);
}

/* Status, features, reset: shared by the legacy and modern register sets. */

static void
reset(VmmVirtio *self)
{
	self->status = 0;
	self->active = false;
	self->broken = false;
	self->driver_features = 0;
	self->device_feature_select = self->driver_feature_select = 0;
	self->queue_select = 0;
	self->config_vector = VMM_VIRTIO_PCI_NO_VECTOR;
	for (unsigned i = 0; i < self->ops->num_queues; i++) {
		vmm_virtqueue_reset(self->queues[i]);
		self->queue_vectors[i] = VMM_VIRTIO_PCI_NO_VECTOR;
	}
	vmm_virtio_pci_read_isr(self);
	self->ops->reset(self->device);
}

static bool
features_acceptable(VmmVirtio *self, bool modern)
{
	uint64_t version_1 = UINT64_C(1) << VMM_VIRTIO_F_VERSION_1;

	if (self->driver_features & ~self->device_features)
		return false;
	return modern == ((self->driver_features & version_1) != 0);
}

static void
activate(VmmVirtio *self)
{
	/* A legacy driver never sets FEATURES_OK (virtio 1.2, 7.2.1). */
	bool modern = (self->status & VMM_VIRTIO_STATUS_FEATURES_OK) != 0;

	if (!features_acceptable(self, modern)) {
		vmm_virtio_set_needs_reset(self,
					   "driver set DRIVER_OK with features it may not use");
		return;
	}
	self->active = true;
	self->ops->activate(self->device, self, self->driver_features);
}

void
vmm_virtio_pci_write_status(VmmVirtio *self, uint8_t value)
{
	uint8_t old = self->status;

	if (value == 0) {
		reset(self);
		return;
	}
	if ((value & VMM_VIRTIO_STATUS_FEATURES_OK) && !(old & VMM_VIRTIO_STATUS_FEATURES_OK) &&
	    !features_acceptable(self, true))
		value &= ~VMM_VIRTIO_STATUS_FEATURES_OK;
	self->status =
		(value & ~VMM_VIRTIO_STATUS_NEEDS_RESET) | (old & VMM_VIRTIO_STATUS_NEEDS_RESET);
	if ((value & VMM_VIRTIO_STATUS_DRIVER_OK) && !(old & VMM_VIRTIO_STATUS_DRIVER_OK))
		activate(self);
}

void
vmm_virtio_pci_set_driver_features(VmmVirtio *self, uint64_t features, uint64_t mask)
{
	if (self->status & (VMM_VIRTIO_STATUS_FEATURES_OK | VMM_VIRTIO_STATUS_DRIVER_OK))
		return;
	self->driver_features = (self->driver_features & ~mask) | (features & mask);
}

void
vmm_virtio_pci_enable_queue(VmmVirtio *self, VmmVirtqueue *queue)
{
	vmm_autoptr(VmmError) error = NULL;
	vmm_autofree char *reason = NULL;

	if (vmm_virtqueue_is_enabled(queue) || self->broken)
		return;
	if (!vmm_virtqueue_enable(queue, &error)) {
		reason = vmm_strdup_printf("queue %u: %s", self->queue_select, error->message);
		vmm_virtio_set_needs_reset(self, reason);
	}
}

void
vmm_virtio_pci_queue_notify(VmmVirtio *self, unsigned queue_index)
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

uint16_t
vmm_virtio_pci_valid_vector(VmmVirtio *self, uint16_t vector)
{
	return vector < self->n_vectors ? vector : VMM_VIRTIO_PCI_NO_VECTOR;
}

void
vmm_virtio_pci_config_access(
	VmmVirtio *self, uint32_t offset, uint8_t *data, uint32_t size, bool is_write)
{
	if ((uint64_t)offset + size > self->ops->config_size) {
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
pci_config_written(void *opaque, const uint8_t *config, uint32_t offset, uint32_t size)
{
	VmmVirtio *self = opaque;
	uint16_t command, msix_control;

	memcpy(&command, config + VMM_PCI_COMMAND, 2);
	memcpy(&msix_control, config + self->msix_capability + 2, 2);
	command = le16toh(command);
	msix_control = le16toh(msix_control);
	pthread_mutex_lock(&self->lock);
	self->intx_disabled = (command & VMM_PCI_COMMAND_INTX_DISABLE) != 0;
	self->msix_enabled = (msix_control & MSIX_CONTROL_ENABLE) != 0;
	self->msix_function_masked = (msix_control & MSIX_CONTROL_MASK) != 0;
	vmm_virtio_pci_deliver_pending(self);
	pthread_mutex_unlock(&self->lock);
}

static void
pci_bar_mapped(void *opaque, unsigned index, uint64_t address)
{
	VmmVirtio *self = opaque;

	pthread_mutex_lock(&self->lock);
	self->bar_addresses[index] = address;
	vmm_virtio_pci_update_ioevents(self);
	pthread_mutex_unlock(&self->lock);
}

static const VmmPciConfigOps pci_config_ops = {pci_config_written, pci_bar_mapped};

static bool
add_msix_capability(VmmVirtio *self)
{
	uint8_t cap[12] = {VMM_PCI_CAP_ID_MSIX};
	uint8_t mask[12] = {0};
	uint16_t control = htole16(self->n_vectors - 1);
	uint32_t table = htole32(VMM_VIRTIO_PCI_MSIX_BAR);
	uint32_t pba = htole32(VMM_VIRTIO_PCI_MSIX_PBA_OFFSET | VMM_VIRTIO_PCI_MSIX_BAR);

	memcpy(cap + 2, &control, 2);
	memcpy(cap + 4, &table, 4);
	memcpy(cap + 8, &pba, 4);
	mask[3] = (MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASK) >> 8;
	self->msix_capability = vmm_pci_device_add_capability(self->pci_device, cap, 12, mask);
	return self->msix_capability != 0;
}

static bool
add_virtio_capability(VmmVirtio *self, uint8_t type, uint32_t offset, uint32_t length)
{
	uint8_t cap[20] = {VMM_PCI_CAP_ID_VENDOR, 0, 16, type, VMM_VIRTIO_PCI_MODERN_BAR};
	uint32_t offset_le = htole32(offset);
	uint32_t length_le = htole32(length);
	uint32_t multiplier = htole32(VMM_VIRTIO_PCI_NOTIFY_MULTIPLIER);

	memcpy(cap + 8, &offset_le, 4);
	memcpy(cap + 12, &length_le, 4);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		cap[2] = 20;
		memcpy(cap + 16, &multiplier, 4);
	}
	return vmm_pci_device_add_capability(self->pci_device, cap, cap[2], NULL) != 0;
}

static bool
add_capabilities(VmmVirtio *self, VmmError **error)
{
	bool ok =
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
		vmm_set_error(error, ENOSPC, "No room for PCI capabilities");
	return ok;
}

static uint64_t
legacy_bar_size(const VmmVirtioDeviceOps *ops)
{
	uint64_t needed = LEGACY_MSIX_CONFIG_OFFSET + ops->config_size;
	uint64_t size = 32;

	while (size < needed)
		size *= 2;
	return size;
}

static bool
add_bars(VmmVirtio *self, bool transitional, VmmError **error)
{
	if (transitional && !vmm_pci_device_add_bar(self->pci_device,
						    VMM_VIRTIO_PCI_LEGACY_BAR,
						    VMM_PCI_BAR_IO,
						    legacy_bar_size(self->ops),
						    &vmm_virtio_pci_legacy_ops,
						    self,
						    error))
		return false;
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
fill_pci_info(const VmmVirtioDeviceOps *ops, VmmPciDeviceInfo *info, bool *transitional)
{
	*info = (VmmPciDeviceInfo){
		.vendor_id = VMM_VIRTIO_PCI_VENDOR_ID,
		.device_id = MODERN_PCI_DEVICE_ID_BASE + ops->device_id,
		.subsystem_vendor_id = VMM_VIRTIO_PCI_VENDOR_ID,
		.subsystem_id = ops->device_id,
		.class_code = 0x00FF00,
		.revision = 1,
		.intx = true,
	};
	*transitional = false;
	for (unsigned i = 0; i < VMM_N_ELEMENTS(transitional_ids); i++) {
		if (transitional_ids[i].device_id != ops->device_id)
			continue;
		info->device_id = transitional_ids[i].pci_device_id;
		info->class_code = transitional_ids[i].class_code;
		info->revision = 0;
		*transitional = true;
	}
}

VmmVirtio *
vmm_virtio_pci_new(VmmPci *pci,
		   VmmMemory *memory,
		   const VmmIrq *irq,
		   const VmmVirtioDeviceOps *ops,
		   void *device,
		   VmmError **error)
{
	vmm_autoptr(VmmVirtio) self = NULL;
	VmmPciDeviceInfo info;
	bool transitional;

	vmm_return_val_if_fail(ops->num_queues <= VMM_VIRTIO_PCI_MAX_QUEUES, NULL);
	self = vmm_new0(VmmVirtio, 1);
	pthread_mutex_init(&self->lock, NULL);
	self->pci = pci;
	self->memory = memory;
	self->irq = *irq;
	self->ops = ops;
	self->device = device;
	self->n_vectors = ops->num_queues + 1;
	self->device_features = ops->get_features(device) | UINT64_C(1) << VMM_VIRTIO_F_VERSION_1;
	self->queues = vmm_new0(VmmVirtqueue *, ops->num_queues);
	self->queue_vectors = vmm_new0(uint16_t, ops->num_queues);
	self->queue_events = vmm_new0(VmmVirtioQueueEvent, ops->num_queues);
	for (unsigned i = 0; i < ops->num_queues; i++) {
		self->queues[i] = vmm_virtqueue_new(memory, ops->queue_size);
		self->queue_events[i] = (VmmVirtioQueueEvent){.transport = self, .index = i};
		self->queue_vectors[i] = VMM_VIRTIO_PCI_NO_VECTOR;
	}
	self->config_vector = VMM_VIRTIO_PCI_NO_VECTOR;
	fill_pci_info(ops, &info, &transitional);
	self->pci_device = vmm_pci_add_device(pci, &info, error);
	if (self->pci_device == NULL)
		return NULL;
	self->irq_line = vmm_pci_device_get_irq(self->pci_device);
	if (!add_bars(self, transitional, error) || !add_capabilities(self, error))
		return NULL;
	vmm_pci_device_set_config_ops(self->pci_device, &pci_config_ops, self);
	ops->attach(device, self);
	return vmm_steal_pointer(&self);
}

void
vmm_virtio_pci_free(VmmVirtio *self)
{
	if (self == NULL)
		return;
	vmm_virtio_pci_remove_ioevents(self);
	if (self->pci_device != NULL)
		vmm_pci_remove_device(self->pci, self->pci_device);
	for (unsigned i = 0; i < self->ops->num_queues; i++)
		vmm_virtqueue_free(self->queues[i]);
	free(self->queues);
	free(self->queue_vectors);
	free(self->queue_events);
	pthread_mutex_destroy(&self->lock);
	free(self);
}

VmmPciDevice *
vmm_virtio_pci_get_pci_device(VmmVirtio *self)
{
	return self->pci_device;
}
