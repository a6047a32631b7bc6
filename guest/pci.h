/* PCI bus 0 through configuration mechanism #1, and BAR sizing/assignment. */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAP_PTR 0x34

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_ID_VNDR 0x09

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
};

struct pci_bar {
	uint64_t addr;
	uint64_t size;
	bool io;
	bool is64;
};

uint8_t pci_read8(const struct pci_dev *d, uint8_t off);
uint16_t pci_read16(const struct pci_dev *d, uint8_t off);
uint32_t pci_read32(const struct pci_dev *d, uint8_t off);
void pci_write16(const struct pci_dev *d, uint8_t off, uint16_t v);
void pci_write32(const struct pci_dev *d, uint8_t off, uint32_t v);

/* The first function on bus 0 with this vendor and one of the device ids. */
bool pci_find(uint16_t vendor, const uint16_t *ids, unsigned int n_ids, struct pci_dev *out);

/*
 * Reads a BAR; gives it an address (memory from 0xE0000000, I/O from 0xC000) when it
 * has none or when a memory BAR lies above 4 GiB, outside what the guest maps.
 * Returns false for an unimplemented BAR.
 */
bool pci_bar(const struct pci_dev *d, unsigned int index, struct pci_bar *out);
void pci_enable(const struct pci_dev *d);
/* Turns decoding off and clears every BAR, as if no firmware had run (for tests). */
void pci_unassign_bars(const struct pci_dev *d);

/* Capability list walking: 0 ends the list. */
uint8_t pci_cap_first(const struct pci_dev *d);
uint8_t pci_cap_next(const struct pci_dev *d, uint8_t cap);

#endif
