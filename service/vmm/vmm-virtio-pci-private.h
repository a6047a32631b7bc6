/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-virtio-pci.h"

G_BEGIN_DECLS

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
	guint index;
	gboolean wanted; /* @where is what the queue was last registered (or refused) at */
	VmmIoEventAddress where;
	VmmIoEvent *event; /* NULL: notifications exit to the VMM */
} VmmVirtioQueueEvent;

struct _VmmVirtio {
	GMutex lock;
	VmmPci *pci;
	VmmPciDevice *pci_device;
	VmmMemory *memory;
	VmmIrq irq;
	guint32 irq_line;
	const VmmVirtioDeviceOps *ops;
	gpointer device;

	guint8 status;
	gboolean active;
	gboolean broken;
	guint64 device_features;
	guint64 driver_features;
	guint32 device_feature_select;
	guint32 driver_feature_select;
	guint8 config_generation;
	guint8 isr;
	guint16 queue_select;
	guint16 config_vector;
	VmmVirtqueue **queues;
	guint16 *queue_vectors;

	/* Mirrors of PCI configuration space, updated on every config write. */
	gboolean intx_disabled;
	gboolean msix_enabled;
	gboolean msix_function_masked;
	guint8 msix_capability;
	guint n_vectors;
	guint8 msix_table[(VMM_VIRTIO_PCI_MAX_QUEUES + 1) * MSIX_ENTRY_SIZE];
	guint64 msix_pending;

	/* Where each BAR decodes now, 0 while it does not (told by the PCI bridge). */
	guint64 bar_addresses[VMM_PCI_BARS];
	VmmIoEvents ioevents;
	VmmVirtioQueueEvent *queue_events;
	guint64 exit_notifies;
	guint64 ioevent_notifies;
};

extern const VmmIoOps vmm_virtio_pci_legacy_ops;
extern const VmmIoOps vmm_virtio_pci_modern_ops;
extern const VmmIoOps vmm_virtio_pci_msix_ops;

/* All with the lock held. */
guint8 vmm_virtio_pci_read_isr(VmmVirtio *self);
void vmm_virtio_pci_deliver_pending(VmmVirtio *self);
void vmm_virtio_pci_write_status(VmmVirtio *self, guint8 value);
void vmm_virtio_pci_set_driver_features(VmmVirtio *self, guint64 features, guint64 mask);
void vmm_virtio_pci_enable_queue(VmmVirtio *self, VmmVirtqueue *queue);
void vmm_virtio_pci_queue_notify(VmmVirtio *self, guint queue_index);
/* After any change of status, queues or BARs: moves, adds or removes the queues' ioevents. */
void vmm_virtio_pci_update_ioevents(VmmVirtio *self);
void vmm_virtio_pci_remove_ioevents(VmmVirtio *self);
VmmVirtqueue *vmm_virtio_pci_selected_queue(VmmVirtio *self);
guint16 vmm_virtio_pci_valid_vector(VmmVirtio *self, guint16 vector);
void vmm_virtio_pci_config_access(
	VmmVirtio *self, guint32 offset, guint8 *data, guint32 size, gboolean is_write);

G_END_DECLS
