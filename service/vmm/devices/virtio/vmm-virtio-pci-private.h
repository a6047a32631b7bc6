/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-virtio-pci.h"

/* Shared between the transport's core (vmm-virtio-pci.c) and its register sets (-regs.c). */

#define ISR_QUEUE 0x1u
#define ISR_CONFIG 0x2u
#define MSIX_ENTRY_SIZE 16u
#define MSIX_CONTROL_MASK 0x4000u
#define MSIX_CONTROL_ENABLE 0x8000u
#define COMMON_CFG_SIZE 0x38u
/* The legacy header is 20 bytes, 24 while MSI-X is enabled (two vector registers more). */
#define LEGACY_CONFIG_OFFSET 0x14u
#define LEGACY_MSIX_CONFIG_OFFSET 0x18u
#define LEGACY_QUEUE_NOTIFY 0x10u

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* A queue's notification address, when the VMM takes its writes off the vCPU (VmmIoEvents). */
typedef struct {
	VmmVirtio *transport;
	unsigned index;
	bool wanted; /* @where is what the queue was last registered (or refused) at */
	VmmIoEventAddress where;
	VmmIoEvent *event; /* NULL: notifications exit to the VMM */
} VmmVirtioQueueEvent;

struct _VmmVirtio {
	pthread_mutex_t lock;
	VmmPci *pci;
	VmmPciDevice *pci_device;
	VmmMemory *memory;
	VmmIrq irq;
	uint32_t irq_line;
	const VmmVirtioDeviceOps *ops;
	void *device;

	uint8_t status;
	bool active;
	bool broken;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint8_t config_generation;
	uint8_t isr;
	uint16_t queue_select;
	uint16_t config_vector;
	VmmVirtqueue **queues;
	uint16_t *queue_vectors;

	/* Mirrors of PCI configuration space, updated on every config write. */
	bool intx_disabled;
	bool msix_enabled;
	bool msix_function_masked;
	uint8_t msix_capability;
	unsigned n_vectors;
	uint8_t msix_table[(VMM_VIRTIO_PCI_MAX_QUEUES + 1) * MSIX_ENTRY_SIZE];
	uint64_t msix_pending;

	/* Where each BAR decodes now, 0 while it does not (told by the PCI bridge). */
	uint64_t bar_addresses[VMM_PCI_BARS];
	VmmIoEvents ioevents;
	VmmVirtioQueueEvent *queue_events;
	uint64_t exit_notifies;
	uint64_t ioevent_notifies;
};

extern const VmmIoOps vmm_virtio_pci_legacy_ops;
extern const VmmIoOps vmm_virtio_pci_modern_ops;
extern const VmmIoOps vmm_virtio_pci_msix_ops;

/* All with the lock held. */
uint8_t vmm_virtio_pci_read_isr(VmmVirtio *self);
void vmm_virtio_pci_deliver_pending(VmmVirtio *self);
void vmm_virtio_pci_write_status(VmmVirtio *self, uint8_t value);
void vmm_virtio_pci_set_driver_features(VmmVirtio *self, uint64_t features, uint64_t mask);
void vmm_virtio_pci_enable_queue(VmmVirtio *self, VmmVirtqueue *queue);
void vmm_virtio_pci_queue_notify(VmmVirtio *self, unsigned queue_index);
/* After any change of status, queues or BARs: moves, adds or removes the queues' ioevents. */
void vmm_virtio_pci_update_ioevents(VmmVirtio *self);
void vmm_virtio_pci_remove_ioevents(VmmVirtio *self);
VmmVirtqueue *vmm_virtio_pci_selected_queue(VmmVirtio *self);
uint16_t vmm_virtio_pci_valid_vector(VmmVirtio *self, uint16_t vector);
void vmm_virtio_pci_config_access(
	VmmVirtio *self, uint32_t offset, uint8_t *data, uint32_t size, bool is_write);
