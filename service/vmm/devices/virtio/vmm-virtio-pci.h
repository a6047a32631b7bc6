/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-ioevent.h"
#include "vmm-irq.h"
#include "vmm-pci.h"
#include "vmm-virtio.h"

#define VMM_VIRTIO_PCI_VENDOR_ID 0x1AF4
/* At most this many queues: one MSI-X vector each plus one for configuration changes. */
#define VMM_VIRTIO_PCI_MAX_QUEUES 63

/* Where the transport puts its registers (virtio 1.2, 4.1). */
#define VMM_VIRTIO_PCI_LEGACY_BAR 0
#define VMM_VIRTIO_PCI_MSIX_BAR 1
#define VMM_VIRTIO_PCI_MODERN_BAR 4
#define VMM_VIRTIO_PCI_MODERN_BAR_SIZE 0x4000
#define VMM_VIRTIO_PCI_COMMON_OFFSET 0x0000
#define VMM_VIRTIO_PCI_ISR_OFFSET 0x1000
#define VMM_VIRTIO_PCI_DEVICE_OFFSET 0x2000
#define VMM_VIRTIO_PCI_NOTIFY_OFFSET 0x3000
#define VMM_VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VMM_VIRTIO_PCI_MSIX_BAR_SIZE 0x1000
#define VMM_VIRTIO_PCI_MSIX_PBA_OFFSET 0x800
#define VMM_VIRTIO_PCI_NO_VECTOR 0xFFFF

/*
 * Plugs @device into @pci behind a transitional virtio-pci function
 * (1af4:1000+, subsystem id = virtio device id): legacy registers in I/O
 * BAR0 with INTx, virtio 1.0 capabilities in memory BAR4, MSI-X in memory
 * BAR1. A device without a transitional PCI id (virtio 1.2, 4.1.2.3) gets
 * 1af4:1040+id and no legacy BAR. @irq is copied; @memory, @pci and @device
 * must outlive the transport. Calls @ops->attach before returning.
 */
VmmVirtio *vmm_virtio_pci_new(VmmPci *pci,
			      VmmMemory *memory,
			      const VmmIrq *irq,
			      const VmmVirtioDeviceOps *ops,
			      void *device,
			      VmmError **error);
/* Unplugs the function; call only once no vCPU runs. */
void vmm_virtio_pci_free(VmmVirtio *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmVirtio, vmm_virtio_pci_free)

VmmPciDevice *vmm_virtio_pci_get_pci_device(VmmVirtio *self);

/*
 * From DRIVER_OK to reset, registers each enabled queue's notification
 * address with @ioevents (copied), where the driver's BAR decodes it: modern
 * drivers write the queue's own notify register in BAR4, legacy ones the
 * queue index to QUEUE_NOTIFY in BAR0. Call before the guest runs; without
 * it, every notification is handled on the vCPU that wrote it.
 */
void vmm_virtio_pci_set_ioevents(VmmVirtio *self, const VmmIoEvents *ioevents);
/* Queue notifications so far: handled on vCPU exits, and through ioevents. */
void
vmm_virtio_pci_get_notify_counts(VmmVirtio *self, uint64_t *on_exits, uint64_t *through_ioevents);
