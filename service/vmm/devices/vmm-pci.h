/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-bus.h"

#define VMM_PCI_CONFIG_ADDRESS_PORT 0xCF8
#define VMM_PCI_CONFIG_DATA_PORT 0xCFC
#define VMM_PCI_CONFIG_SIZE 256
#define VMM_PCI_SLOTS 32
#define VMM_PCI_BARS 6
/* Where BARs are preassigned, so a guest that never programs PCI still reaches its devices. */
#define VMM_PCI_MMIO_BASE UINT64_C(0xE0000000)
#define VMM_PCI_MMIO_END UINT64_C(0x100000000)
#define VMM_PCI_PIO_BASE 0xC000
#define VMM_PCI_PIO_END 0x10000

/* Standard header registers (PCI Local Bus 3.0, 6.1). */
#define VMM_PCI_VENDOR_ID 0x00
#define VMM_PCI_DEVICE_ID 0x02
#define VMM_PCI_COMMAND 0x04
#define VMM_PCI_STATUS 0x06
#define VMM_PCI_CLASS_REVISION 0x08
#define VMM_PCI_HEADER_TYPE 0x0E
#define VMM_PCI_BAR0 0x10
#define VMM_PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define VMM_PCI_SUBSYSTEM_ID 0x2E
#define VMM_PCI_CAPABILITY_LIST 0x34
#define VMM_PCI_INTERRUPT_LINE 0x3C
#define VMM_PCI_INTERRUPT_PIN 0x3D

#define VMM_PCI_COMMAND_IO 0x1u
#define VMM_PCI_COMMAND_MEMORY 0x2u
#define VMM_PCI_COMMAND_MASTER 0x4u
#define VMM_PCI_COMMAND_INTX_DISABLE 0x400u
#define VMM_PCI_STATUS_CAP_LIST 0x10u
#define VMM_PCI_BAR_IO_SPACE 0x1u

#define VMM_PCI_CAP_ID_VENDOR 0x09
#define VMM_PCI_CAP_ID_MSIX 0x11

typedef enum {
	VMM_PCI_BAR_IO,
	VMM_PCI_BAR_MEMORY, /* 32-bit, not prefetchable */
} VmmPciBarType;

typedef struct {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint32_t class_code; /* class << 16 | subclass << 8 | programming interface */
	uint8_t revision;
	bool intx; /* uses INTA#: the bridge assigns it an ISA IRQ */
} VmmPciDeviceInfo;

/*
 * config_written: told after a guest write to the device's configuration
 * space has been applied (through the write masks). @config is the whole
 * 256-byte space, readable for the duration of the call. bar_mapped (may be
 * NULL): BAR @index decodes at @address from now on, or no longer decodes
 * (@address 0); told of every BAR when the ops are set, then on each change.
 * Both are called with the bridge's lock held (from vCPU threads, or from
 * vmm_pci_device_set_config_ops()): they must not call vmm_pci_*().
 */
typedef struct {
	void (*config_written)(void *opaque, const uint8_t *config, uint32_t offset, uint32_t size);
	void (*bar_mapped)(void *opaque, unsigned index, uint64_t address);
} VmmPciConfigOps;

/* PCI bus 0 behind a host bridge (8086:1237 at 00:00.0), reached through config mechanism #1. */
typedef struct _VmmPci VmmPci;
/* One function-0 device on bus 0, owned by the VmmPci. */
typedef struct _VmmPciDevice VmmPciDevice;

/* Registers ports 0xCF8-0xCFF on @pio; memory BARs go on @mmio. Both must outlive the bridge. */
VmmPci *vmm_pci_new(VmmBus *pio, VmmBus *mmio, VmmError **error);
void vmm_pci_free(VmmPci *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmPci, vmm_pci_free)

/*
 * Plugs a device into the next free slot, decoding I/O and memory from the
 * start (as firmware would leave it). Add its BARs and capabilities before
 * the guest runs.
 */
VmmPciDevice *vmm_pci_add_device(VmmPci *self, const VmmPciDeviceInfo *info, VmmError **error);
/* Unplugs and frees @device; its BARs leave the buses. */
void vmm_pci_remove_device(VmmPci *self, VmmPciDevice *device);

/*
 * Gives BAR @index a power-of-2 @size range, preassigned from the bridge's
 * windows and registered on the right bus with @ops/@opaque; it moves when the
 * guest reprograms the BAR and leaves the bus while the command register
 * disables its kind of decoding.
 */
bool vmm_pci_device_add_bar(VmmPciDevice *self,
			    unsigned index,
			    VmmPciBarType type,
			    uint64_t size,
			    const VmmIoOps *ops,
			    void *opaque,
			    VmmError **error);
/*
 * Appends a capability to the list: @data[0] is its ID, @data[1] (the next
 * pointer) is filled in. @write_mask (or NULL: read-only) has @length bytes.
 * Returns its offset in configuration space, or 0 when there is no room.
 */
uint8_t vmm_pci_device_add_capability(VmmPciDevice *self,
				      const uint8_t *data,
				      uint8_t length,
				      const uint8_t *write_mask);
void vmm_pci_device_set_config_ops(VmmPciDevice *self, const VmmPciConfigOps *ops, void *opaque);
/* The ISA IRQ of INTA# (also in INTERRUPT_LINE), 0 for a device without INTx. */
uint32_t vmm_pci_device_get_irq(VmmPciDevice *self);
unsigned vmm_pci_device_get_slot(VmmPciDevice *self);
/* Where BAR @index is assigned now (0 if the BAR does not exist). */
uint64_t vmm_pci_device_get_bar_address(VmmPciDevice *self, unsigned index);
