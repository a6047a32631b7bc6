/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-virtio-pci-private.h"

/*
 * The register sets of the transport: legacy (I/O BAR0), modern (memory BAR4:
 * common, ISR, device and notify regions) and the MSI-X table (memory BAR1).
 * A register block is read from a snapshot of its fields; a write patches the
 * snapshot and stores every field it touched, so any access size works.
 */

typedef struct {
	uint8_t offset;
	uint8_t size;
	void (*write)(VmmVirtio *self, uint32_t value);
} RegField;

static uint32_t
get_field(const uint8_t *block, const RegField *field)
{
	uint32_t value = 0;

	memcpy(&value, block + field->offset, field->size);
	return le32toh(value);
}

static void
write_fields(VmmVirtio *self,
	     const RegField *fields,
	     unsigned n_fields,
	     uint8_t *block,
	     uint32_t offset,
	     const uint8_t *data,
	     uint32_t size)
{
	memcpy(block + offset, data, size);
	for (unsigned i = 0; i < n_fields; i++) {
		const RegField *field = &fields[i];
		if (field->offset < offset + size && offset < field->offset + field->size)
			field->write(self, get_field(block, field));
	}
}

static bool
in_block(uint64_t offset, uint32_t size, uint64_t block_size)
{
	return offset < block_size && size <= block_size - offset;
}

/* Fields both register sets share. */

static void
set_queue_select(VmmVirtio *self, uint32_t value)
{
	self->queue_select = value;
}

static void
set_status(VmmVirtio *self, uint32_t value)
{
	vmm_virtio_pci_write_status(self, value);
}

static void
set_config_vector(VmmVirtio *self, uint32_t value)
{
	self->config_vector = vmm_virtio_pci_valid_vector(self, value);
}

static void
set_queue_vector(VmmVirtio *self, uint32_t value)
{
	if (vmm_virtio_pci_selected_queue(self) != NULL)
		self->queue_vectors[self->queue_select] = vmm_virtio_pci_valid_vector(self, value);
}

static uint16_t
queue_vector(VmmVirtio *self)
{
	if (vmm_virtio_pci_selected_queue(self) == NULL)
		return VMM_VIRTIO_PCI_NO_VECTOR;
	return self->queue_vectors[self->queue_select];
}

/* Modern common configuration (virtio 1.2, 4.1.4.3). */

static void
set_device_feature_select(VmmVirtio *self, uint32_t value)
{
	self->device_feature_select = value;
}

static void
set_driver_feature_select(VmmVirtio *self, uint32_t value)
{
	self->driver_feature_select = value;
}

static void
set_driver_feature(VmmVirtio *self, uint32_t value)
{
	unsigned shift = 32 * self->driver_feature_select;

	if (self->driver_feature_select < 2)
		vmm_virtio_pci_set_driver_features(
			self, (uint64_t)value << shift, UINT64_C(0xFFFFFFFF) << shift);
}

static void
set_queue_size(VmmVirtio *self, uint32_t value)
{
	VmmVirtqueue *queue = vmm_virtio_pci_selected_queue(self);

	if (queue != NULL)
		vmm_virtqueue_set_size(queue, value);
}

static void
set_queue_enable(VmmVirtio *self, uint32_t value)
{
	VmmVirtqueue *queue = vmm_virtio_pci_selected_queue(self);

	if (queue != NULL && value == 1)
		vmm_virtio_pci_enable_queue(self, queue);
}

/* @which: 0 descriptor table, 1 driver (available) ring, 2 device (used) ring. */
static void
set_queue_address_half(VmmVirtio *self, unsigned which, bool high, uint32_t value)
{
	VmmVirtqueue *queue = vmm_virtio_pci_selected_queue(self);
	uint64_t addresses[3];
	unsigned shift = high ? 32 : 0;

	if (queue == NULL)
		return;
	vmm_virtqueue_get_addresses(queue, &addresses[0], &addresses[1], &addresses[2]);
	addresses[which] &= ~(UINT64_C(0xFFFFFFFF) << shift);
	addresses[which] |= (uint64_t)value << shift;
	vmm_virtqueue_set_addresses(queue, addresses[0], addresses[1], addresses[2]);
}

static void
set_desc_low(VmmVirtio *self, uint32_t value)
{
	set_queue_address_half(self, 0, false, value);
}

static void
set_desc_high(VmmVirtio *self, uint32_t value)
{
	set_queue_address_half(self, 0, true, value);
}

static void
set_driver_low(VmmVirtio *self, uint32_t value)
{
	set_queue_address_half(self, 1, false, value);
}

static void
set_driver_high(VmmVirtio *self, uint32_t value)
{
	set_queue_address_half(self, 1, true, value);
}

static void
set_device_low(VmmVirtio *self, uint32_t value)
{
	set_queue_address_half(self, 2, false, value);
}

static void
set_device_high(VmmVirtio *self, uint32_t value)
{
	set_queue_address_half(self, 2, true, value);
}

static const RegField common_fields[] = {
	{0x00, 4, set_device_feature_select},
	{0x08, 4, set_driver_feature_select},
	{0x0C, 4, set_driver_feature},
	{0x10, 2, set_config_vector},
	{0x14, 1, set_status},
	{0x16, 2, set_queue_select},
	{0x18, 2, set_queue_size},
	{0x1A, 2, set_queue_vector},
	{0x1C, 2, set_queue_enable},
	{0x20, 4, set_desc_low},
	{0x24, 4, set_desc_high},
	{0x28, 4, set_driver_low},
	{0x2C, 4, set_driver_high},
	{0x30, 4, set_device_low},
	{0x34, 4, set_device_high},
};

static uint32_t
feature_word(uint64_t features, uint32_t select)
{
	return select < 2 ? (uint32_t)(features >> (32 * select)) : 0;
}

static void
common_snapshot(VmmVirtio *self, uint8_t *block)
{
	VmmVirtqueue *queue = vmm_virtio_pci_selected_queue(self);
	uint64_t desc, avail, used;

	memset(block, 0, COMMON_CFG_SIZE);
	vmm_put_le32(block, 0x00, self->device_feature_select);
	vmm_put_le32(block, 0x04, feature_word(self->device_features, self->device_feature_select));
	vmm_put_le32(block, 0x08, self->driver_feature_select);
	vmm_put_le32(block, 0x0C, feature_word(self->driver_features, self->driver_feature_select));
	vmm_put_le16(block, 0x10, self->config_vector);
	vmm_put_le16(block, 0x12, self->ops->num_queues);
	block[0x14] = self->status;
	block[0x15] = self->config_generation;
	vmm_put_le16(block, 0x16, self->queue_select);
	if (queue == NULL)
		return;
	vmm_virtqueue_get_addresses(queue, &desc, &avail, &used);
	vmm_put_le16(block, 0x18, vmm_virtqueue_get_size(queue));
	vmm_put_le16(block, 0x1A, queue_vector(self));
	vmm_put_le16(block, 0x1C, vmm_virtqueue_is_enabled(queue));
	vmm_put_le16(block, 0x1E, self->queue_select);
	vmm_put_le32(block, 0x20, desc);
	vmm_put_le32(block, 0x24, desc >> 32);
	vmm_put_le32(block, 0x28, avail);
	vmm_put_le32(block, 0x2C, avail >> 32);
	vmm_put_le32(block, 0x30, used);
	vmm_put_le32(block, 0x34, used >> 32);
}

static void
modern_read_locked(VmmVirtio *self, uint64_t offset, uint8_t *data, uint32_t size)
{
	uint8_t block[COMMON_CFG_SIZE];

	/* Unused space and the notify registers read as zeros. */
	memset(data, 0, size);
	if (in_block(offset, size, COMMON_CFG_SIZE)) {
		common_snapshot(self, block);
		memcpy(data, block + offset, size);
	} else if (offset == VMM_VIRTIO_PCI_ISR_OFFSET) {
		data[0] = vmm_virtio_pci_read_isr(self);
	} else if (offset >= VMM_VIRTIO_PCI_DEVICE_OFFSET &&
		   offset < VMM_VIRTIO_PCI_NOTIFY_OFFSET) {
		vmm_virtio_pci_config_access(
			self, offset - VMM_VIRTIO_PCI_DEVICE_OFFSET, data, size, false);
	}
}

static void
modern_write_locked(VmmVirtio *self, uint64_t offset, const uint8_t *data, uint32_t size)
{
	uint8_t block[COMMON_CFG_SIZE];

	if (in_block(offset, size, COMMON_CFG_SIZE)) {
		common_snapshot(self, block);
		write_fields(self,
			     common_fields,
			     VMM_N_ELEMENTS(common_fields),
			     block,
			     offset,
			     data,
			     size);
		vmm_virtio_pci_update_ioevents(self);
	} else if (offset >= VMM_VIRTIO_PCI_DEVICE_OFFSET &&
		   offset < VMM_VIRTIO_PCI_NOTIFY_OFFSET) {
		vmm_virtio_pci_config_access(
			self, offset - VMM_VIRTIO_PCI_DEVICE_OFFSET, (uint8_t *)data, size, true);
	} else if (offset >= VMM_VIRTIO_PCI_NOTIFY_OFFSET) {
		self->exit_notifies++;
		vmm_virtio_pci_queue_notify(self,
					    (offset - VMM_VIRTIO_PCI_NOTIFY_OFFSET) /
						    VMM_VIRTIO_PCI_NOTIFY_MULTIPLIER);
	}
}

static void
modern_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	VmmVirtio *self = opaque;

	pthread_mutex_lock(&self->lock);
	modern_read_locked(self, offset, data, size);
	pthread_mutex_unlock(&self->lock);
}

static void
modern_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	VmmVirtio *self = opaque;

	pthread_mutex_lock(&self->lock);
	modern_write_locked(self, offset, data, size);
	pthread_mutex_unlock(&self->lock);
}

const VmmIoOps vmm_virtio_pci_modern_ops = {modern_read, modern_write};

/* Legacy registers (virtio 1.2, 4.1.4.8). */

#define LEGACY_ISR 0x13u
#define LEGACY_QUEUE_ALIGN 4096u

static void
set_guest_features(VmmVirtio *self, uint32_t value)
{
	vmm_virtio_pci_set_driver_features(self, value, 0xFFFFFFFF);
}

static void
set_queue_pfn(VmmVirtio *self, uint32_t pfn)
{
	VmmVirtqueue *queue = vmm_virtio_pci_selected_queue(self);
	uint64_t size, desc, avail, used;

	if (queue == NULL)
		return;
	vmm_virtqueue_reset(queue);
	if (pfn == 0)
		return;
	size = vmm_virtqueue_get_size(queue);
	desc = (uint64_t)pfn << 12;
	avail = desc + 16 * size;
	used = (avail + 6 + 2 * size + LEGACY_QUEUE_ALIGN - 1) &
	       ~(uint64_t)(LEGACY_QUEUE_ALIGN - 1);
	vmm_virtqueue_set_addresses(queue, desc, avail, used);
	vmm_virtio_pci_enable_queue(self, queue);
}

static void
legacy_notify(VmmVirtio *self, uint32_t value)
{
	self->exit_notifies++;
	vmm_virtio_pci_queue_notify(self, value);
}

static const RegField legacy_fields[] = {
	{0x04, 4, set_guest_features},
	{0x08, 4, set_queue_pfn},
	{0x0E, 2, set_queue_select},
	{LEGACY_QUEUE_NOTIFY, 2, legacy_notify},
	{0x12, 1, set_status},
	{0x14, 2, set_config_vector},
	{0x16, 2, set_queue_vector},
};

static uint32_t
legacy_header_size(VmmVirtio *self)
{
	return self->msix_enabled ? LEGACY_MSIX_CONFIG_OFFSET : LEGACY_CONFIG_OFFSET;
}

static void
legacy_snapshot(VmmVirtio *self, uint8_t *block)
{
	VmmVirtqueue *queue = vmm_virtio_pci_selected_queue(self);
	uint64_t desc = 0, avail, used;

	memset(block, 0, LEGACY_MSIX_CONFIG_OFFSET);
	vmm_put_le32(block, 0x00, (uint32_t)self->device_features);
	vmm_put_le32(block, 0x04, (uint32_t)self->driver_features);
	if (queue != NULL) {
		if (vmm_virtqueue_is_enabled(queue))
			vmm_virtqueue_get_addresses(queue, &desc, &avail, &used);
		vmm_put_le32(block, 0x08, desc >> 12);
		vmm_put_le16(block, 0x0C, vmm_virtqueue_get_max_size(queue));
	}
	vmm_put_le16(block, 0x0E, self->queue_select);
	block[0x12] = self->status;
	block[LEGACY_ISR] = self->isr;
	vmm_put_le16(block, 0x14, self->config_vector);
	vmm_put_le16(block, 0x16, queue_vector(self));
}

static void
legacy_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	VmmVirtio *self = opaque;
	uint8_t block[LEGACY_MSIX_CONFIG_OFFSET];
	uint32_t header = 0;

	pthread_mutex_lock(&self->lock);
	header = legacy_header_size(self);
	if (in_block(offset, size, header)) {
		legacy_snapshot(self, block);
		memcpy(data, block + offset, size);
		if (offset <= LEGACY_ISR && LEGACY_ISR < offset + size)
			vmm_virtio_pci_read_isr(self);
	} else if (offset >= header) {
		vmm_virtio_pci_config_access(self, offset - header, data, size, false);
	} else {
		memset(data, 0xFF, size);
	}
	pthread_mutex_unlock(&self->lock);
}

static void
legacy_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	VmmVirtio *self = opaque;
	uint8_t block[LEGACY_MSIX_CONFIG_OFFSET];
	uint32_t header;

	pthread_mutex_lock(&self->lock);
	header = legacy_header_size(self);
	if (in_block(offset, size, header)) {
		legacy_snapshot(self, block);
		write_fields(self,
			     legacy_fields,
			     header == LEGACY_MSIX_CONFIG_OFFSET
				     ? VMM_N_ELEMENTS(legacy_fields)
				     : VMM_N_ELEMENTS(legacy_fields) - 2,
			     block,
			     offset,
			     data,
			     size);
		vmm_virtio_pci_update_ioevents(self);
	} else if (offset >= header) {
		vmm_virtio_pci_config_access(self, offset - header, (uint8_t *)data, size, true);
	}
	pthread_mutex_unlock(&self->lock);
}

const VmmIoOps vmm_virtio_pci_legacy_ops = {legacy_read, legacy_write};

/* The MSI-X table and pending bit array (PCI Local Bus 3.0, 6.8.2). */

static void
msix_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	VmmVirtio *self = opaque;
	uint64_t pending;

	memset(data, 0, size);
	pthread_mutex_lock(&self->lock);
	if (in_block(offset, size, self->n_vectors * MSIX_ENTRY_SIZE)) {
		memcpy(data, self->msix_table + offset, size);
	} else if (offset >= VMM_VIRTIO_PCI_MSIX_PBA_OFFSET &&
		   in_block(offset - VMM_VIRTIO_PCI_MSIX_PBA_OFFSET, size, 8)) {
		pending = htole64(self->msix_pending);
		memcpy(data, (uint8_t *)&pending + (offset - VMM_VIRTIO_PCI_MSIX_PBA_OFFSET), size);
	}
	pthread_mutex_unlock(&self->lock);
}

static void
msix_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	VmmVirtio *self = opaque;

	pthread_mutex_lock(&self->lock);
	if (in_block(offset, size, self->n_vectors * MSIX_ENTRY_SIZE)) {
		memcpy(self->msix_table + offset, data, size);
		vmm_virtio_pci_deliver_pending(self);
	}
	pthread_mutex_unlock(&self->lock);
}

const VmmIoOps vmm_virtio_pci_msix_ops = {msix_read, msix_write};
