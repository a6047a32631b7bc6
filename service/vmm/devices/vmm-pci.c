/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>
#include <string.h>

#include "vmm-log.h"
#include "vmm-pci.h"

#define CONFIG_ENABLE 0x80000000u
#define FIRST_CAPABILITY 0x40
#define MEMORY_BAR_FLAGS 0xFu
#define IO_BAR_FLAGS 0x3u

/* ISA IRQs the PC leaves free for PCI, handed out in turn. */
static const uint32_t isa_irqs[] = {5, 9, 10, 11};

typedef struct {
	bool present;
	VmmPciBarType type;
	uint64_t size;
	const VmmIoOps *ops;
	void *opaque;
	bool mapped;
	uint64_t mapped_address;
} PciBar;

struct _VmmPciDevice {
	VmmPci *pci;
	unsigned slot;
	uint32_t irq;
	uint8_t config[VMM_PCI_CONFIG_SIZE];
	uint8_t write_mask[VMM_PCI_CONFIG_SIZE];
	PciBar bars[VMM_PCI_BARS];
	uint8_t last_capability;
	unsigned next_capability;
	const VmmPciConfigOps *config_ops;
	void *config_opaque;
};

struct _VmmPci {
	pthread_mutex_t lock;
	VmmBus *pio;
	VmmBus *mmio;
	uint32_t config_address;
	VmmPciDevice *slots[VMM_PCI_SLOTS];
	uint64_t next_mmio;
	uint64_t next_pio;
	unsigned next_irq;
};

static uint16_t
get16(const uint8_t *config, unsigned offset)
{
	uint16_t value;

	memcpy(&value, config + offset, 2);
	return le16toh(value);
}

static uint32_t
get32(const uint8_t *config, unsigned offset)
{
	uint32_t value;

	memcpy(&value, config + offset, 4);
	return le32toh(value);
}

/* BARs: mapping follows the address register and the command register's decode bits. */

static VmmBus *
bar_bus(VmmPciDevice *self, const PciBar *bar)
{
	return bar->type == VMM_PCI_BAR_IO ? self->pci->pio : self->pci->mmio;
}

static uint64_t
bar_address(VmmPciDevice *self, unsigned index)
{
	uint32_t raw = get32(self->config, VMM_PCI_BAR0 + 4 * index);

	if (self->bars[index].type == VMM_PCI_BAR_IO)
		return raw & ~IO_BAR_FLAGS;
	return raw & ~MEMORY_BAR_FLAGS;
}

static bool
bar_should_decode(VmmPciDevice *self, unsigned index, uint64_t address)
{
	const PciBar *bar = &self->bars[index];
	uint16_t command = get16(self->config, VMM_PCI_COMMAND);
	uint16_t decode_bit =
		bar->type == VMM_PCI_BAR_IO ? VMM_PCI_COMMAND_IO : VMM_PCI_COMMAND_MEMORY;
	uint64_t limit = bar->type == VMM_PCI_BAR_IO ? VMM_PCI_PIO_END : VMM_PCI_MMIO_END;

	return (command & decode_bit) && address != 0 && address + bar->size <= limit;
}

static void
report_bar(VmmPciDevice *self, unsigned index)
{
	const PciBar *bar = &self->bars[index];

	if (bar->present && self->config_ops != NULL && self->config_ops->bar_mapped != NULL)
		self->config_ops->bar_mapped(
			self->config_opaque, index, bar->mapped ? bar->mapped_address : 0);
}

static void
map_bar(VmmPciDevice *self, unsigned index, uint64_t address)
{
	PciBar *bar = &self->bars[index];
	vmm_autoptr(VmmError) error = NULL;

	if (!vmm_bus_add(bar_bus(self, bar), address, bar->size, bar->ops, bar->opaque, &error)) {
		vmm_debug(
			"pci 00:%02x.0 BAR%u left unmapped: %s", self->slot, index, error->message);
		return;
	}
	bar->mapped = true;
	bar->mapped_address = address;
}

static void
update_bar(VmmPciDevice *self, unsigned index)
{
	PciBar *bar = &self->bars[index];
	uint64_t address = bar_address(self, index);
	bool decode = bar_should_decode(self, index, address);

	if (!bar->present || (bar->mapped == decode && bar->mapped_address == address))
		return;
	if (bar->mapped) {
		vmm_bus_remove(bar_bus(self, bar), bar->mapped_address, bar->opaque);
		bar->mapped = false;
	}
	if (decode)
		map_bar(self, index, address);
	report_bar(self, index);
}

static void
update_bars(VmmPciDevice *self)
{
	for (unsigned i = 0; i < VMM_PCI_BARS; i++)
		update_bar(self, i);
}

static void
unmap_bars(VmmPciDevice *self)
{
	for (unsigned i = 0; i < VMM_PCI_BARS; i++) {
		PciBar *bar = &self->bars[i];
		if (bar->mapped)
			vmm_bus_remove(bar_bus(self, bar), bar->mapped_address, bar->opaque);
		bar->mapped = false;
	}
}

/* Configuration space accesses, with the bridge's lock held. */

static void
config_write(VmmPciDevice *self, uint32_t offset, const uint8_t *data, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++) {
		uint8_t mask = self->write_mask[offset + i];
		self->config[offset + i] = (self->config[offset + i] & ~mask) | (data[i] & mask);
	}
	if (offset < VMM_PCI_BAR0 + 4 * VMM_PCI_BARS && offset + size > VMM_PCI_COMMAND)
		update_bars(self);
	if (self->config_ops != NULL && self->config_ops->config_written != NULL)
		self->config_ops->config_written(self->config_opaque, self->config, offset, size);
}

static VmmPciDevice *
addressed_device(VmmPci *self, uint32_t port_offset, uint32_t size, uint32_t *config_offset)
{
	uint32_t address = self->config_address;
	unsigned bus = (address >> 16) & 0xFF;
	unsigned slot = (address >> 11) & 0x1F;
	unsigned function = (address >> 8) & 0x7;

	*config_offset = (address & 0xFC) + port_offset;
	if (!(address & CONFIG_ENABLE) || bus != 0 || function != 0)
		return NULL;
	if (port_offset + size > 4)
		return NULL;
	return self->slots[slot];
}

static void
data_port_read(VmmPci *self, uint32_t port_offset, uint8_t *data, uint32_t size)
{
	uint32_t offset;
	VmmPciDevice *device = addressed_device(self, port_offset, size, &offset);

	if (device == NULL)
		memset(data, 0xFF, size);
	else
		memcpy(data, device->config + offset, size);
}

static void
data_port_write(VmmPci *self, uint32_t port_offset, const uint8_t *data, uint32_t size)
{
	uint32_t offset;
	VmmPciDevice *device = addressed_device(self, port_offset, size, &offset);

	if (device != NULL)
		config_write(device, offset, data, size);
}

/* Ports 0xCF8-0xCFF: the address register takes only whole dword writes (0xCF9 is not ours). */
static void
ports_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	VmmPci *self = opaque;
	uint32_t address;

	pthread_mutex_lock(&self->lock);
	if (offset >= 4) {
		data_port_read(self, offset - 4, data, size);
	} else if (offset == 0 && size == 4) {
		address = htole32(self->config_address);
		memcpy(data, &address, 4);
	} else {
		memset(data, 0xFF, size);
	}
	pthread_mutex_unlock(&self->lock);
}

static void
ports_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	VmmPci *self = opaque;
	uint32_t address;

	pthread_mutex_lock(&self->lock);
	if (offset >= 4) {
		data_port_write(self, offset - 4, data, size);
	} else if (offset == 0 && size == 4) {
		memcpy(&address, data, 4);
		self->config_address = le32toh(address) & ~0x7F000003u;
	}
	pthread_mutex_unlock(&self->lock);
}

static const VmmIoOps ports_ops = {ports_read, ports_write};

static VmmPciDevice *
device_new(VmmPci *pci, unsigned slot, const VmmPciDeviceInfo *info)
{
	VmmPciDevice *self = vmm_new0(VmmPciDevice, 1);

	self->pci = pci;
	self->slot = slot;
	self->next_capability = FIRST_CAPABILITY;
	vmm_put_le16(self->config, VMM_PCI_VENDOR_ID, info->vendor_id);
	vmm_put_le16(self->config, VMM_PCI_DEVICE_ID, info->device_id);
	vmm_put_le32(self->config, VMM_PCI_CLASS_REVISION, info->class_code << 8 | info->revision);
	vmm_put_le16(self->config, VMM_PCI_SUBSYSTEM_VENDOR_ID, info->subsystem_vendor_id);
	vmm_put_le16(self->config, VMM_PCI_SUBSYSTEM_ID, info->subsystem_id);
	vmm_put_le16(self->config,
		     VMM_PCI_COMMAND,
		     VMM_PCI_COMMAND_IO | VMM_PCI_COMMAND_MEMORY | VMM_PCI_COMMAND_MASTER);
	vmm_put_le16(self->write_mask,
		     VMM_PCI_COMMAND,
		     VMM_PCI_COMMAND_IO | VMM_PCI_COMMAND_MEMORY | VMM_PCI_COMMAND_MASTER |
			     VMM_PCI_COMMAND_INTX_DISABLE);
	self->write_mask[0x0C] = 0xFF; /* cache line size */
	self->write_mask[0x0D] = 0xFF; /* latency timer */
	self->write_mask[VMM_PCI_INTERRUPT_LINE] = 0xFF;
	if (info->intx) {
		self->irq = isa_irqs[pci->next_irq++ % VMM_N_ELEMENTS(isa_irqs)];
		self->config[VMM_PCI_INTERRUPT_LINE] = self->irq;
		self->config[VMM_PCI_INTERRUPT_PIN] = 1;
	}
	return self;
}

VmmPci *
vmm_pci_new(VmmBus *pio, VmmBus *mmio, VmmError **error)
{
	static const VmmPciDeviceInfo host_bridge = {
		.vendor_id = 0x8086,
		.device_id = 0x1237,
		.class_code = 0x060000,
		.revision = 2,
	};
	VmmPci *self = vmm_new0(VmmPci, 1);

	pthread_mutex_init(&self->lock, NULL);
	self->pio = pio;
	self->mmio = mmio;
	self->next_mmio = VMM_PCI_MMIO_BASE;
	self->next_pio = VMM_PCI_PIO_BASE;
	self->slots[0] = device_new(self, 0, &host_bridge);
	if (!vmm_bus_add(pio, VMM_PCI_CONFIG_ADDRESS_PORT, 8, &ports_ops, self, error)) {
		free(self->slots[0]);
		pthread_mutex_destroy(&self->lock);
		free(self);
		return NULL;
	}
	return self;
}

void
vmm_pci_free(VmmPci *self)
{
	if (self == NULL)
		return;
	vmm_bus_remove(self->pio, VMM_PCI_CONFIG_ADDRESS_PORT, self);
	for (unsigned slot = 0; slot < VMM_PCI_SLOTS; slot++) {
		if (self->slots[slot] == NULL)
			continue;
		unmap_bars(self->slots[slot]);
		free(self->slots[slot]);
	}
	pthread_mutex_destroy(&self->lock);
	free(self);
}

VmmPciDevice *
vmm_pci_add_device(VmmPci *self, const VmmPciDeviceInfo *info, VmmError **error)
{
	VmmPciDevice *device = NULL;

	pthread_mutex_lock(&self->lock);
	for (unsigned slot = 1; slot < VMM_PCI_SLOTS && device == NULL; slot++) {
		if (self->slots[slot] == NULL)
			device = self->slots[slot] = device_new(self, slot, info);
	}
	pthread_mutex_unlock(&self->lock);
	if (device == NULL)
		vmm_set_error(error, ENOSPC, "No free PCI slot");
	return device;
}

void
vmm_pci_remove_device(VmmPci *self, VmmPciDevice *device)
{
	pthread_mutex_lock(&self->lock);
	assert(self->slots[device->slot] == device);
	self->slots[device->slot] = NULL;
	unmap_bars(device);
	pthread_mutex_unlock(&self->lock);
	free(device);
}

static bool
allocate_bar(VmmPci *self, VmmPciBarType type, uint64_t size, uint64_t *address, VmmError **error)
{
	uint64_t *next = type == VMM_PCI_BAR_IO ? &self->next_pio : &self->next_mmio;
	uint64_t end = type == VMM_PCI_BAR_IO ? VMM_PCI_PIO_END : VMM_PCI_MMIO_END;
	uint64_t base = (*next + size - 1) & ~(size - 1);

	if (base + size > end)
		return vmm_set_error(error,
				     ENOSPC,
				     "No room for a 0x%" PRIx64 "-byte PCI %s BAR",
				     size,
				     type == VMM_PCI_BAR_IO ? "I/O" : "memory");
	*next = base + size;
	*address = base;
	return true;
}

static bool
bar_size_valid(VmmPciBarType type, uint64_t size)
{
	uint64_t min = type == VMM_PCI_BAR_IO ? 4 : 16;
	uint64_t max = type == VMM_PCI_BAR_IO ? 256 : UINT64_C(1) << 30;

	return size >= min && size <= max && (size & (size - 1)) == 0;
}

bool
vmm_pci_device_add_bar(VmmPciDevice *self,
		       unsigned index,
		       VmmPciBarType type,
		       uint64_t size,
		       const VmmIoOps *ops,
		       void *opaque,
		       VmmError **error)
{
	VmmPci *pci = self->pci;
	uint32_t flags = type == VMM_PCI_BAR_IO ? VMM_PCI_BAR_IO_SPACE : 0;
	uint32_t mask = type == VMM_PCI_BAR_IO ? 0xFFFF & ~IO_BAR_FLAGS : ~MEMORY_BAR_FLAGS;
	uint64_t address = 0;
	bool ok;

	vmm_return_val_if_fail(index < VMM_PCI_BARS && !self->bars[index].present, false);
	vmm_return_val_if_fail(bar_size_valid(type, size), false);
	pthread_mutex_lock(&pci->lock);
	ok = allocate_bar(pci, type, size, &address, error);
	if (ok) {
		self->bars[index] = (PciBar){true, type, size, ops, opaque, false, 0};
		vmm_put_le32(self->config, VMM_PCI_BAR0 + 4 * index, (uint32_t)address | flags);
		vmm_put_le32(
			self->write_mask, VMM_PCI_BAR0 + 4 * index, mask & ~(uint32_t)(size - 1));
		update_bar(self, index);
	}
	pthread_mutex_unlock(&pci->lock);
	return ok;
}

uint8_t
vmm_pci_device_add_capability(VmmPciDevice *self,
			      const uint8_t *data,
			      uint8_t length,
			      const uint8_t *write_mask)
{
	unsigned offset;

	vmm_return_val_if_fail(length >= 2, 0);
	pthread_mutex_lock(&self->pci->lock);
	offset = self->next_capability;
	if (offset + length > VMM_PCI_CONFIG_SIZE) {
		pthread_mutex_unlock(&self->pci->lock);
		return 0;
	}
	memcpy(self->config + offset, data, length);
	self->config[offset + 1] = 0;
	if (write_mask != NULL)
		memcpy(self->write_mask + offset, write_mask, length);
	self->write_mask[offset] = self->write_mask[offset + 1] = 0;
	if (self->last_capability == 0)
		self->config[VMM_PCI_CAPABILITY_LIST] = offset;
	else
		self->config[self->last_capability + 1] = offset;
	vmm_put_le16(self->config,
		     VMM_PCI_STATUS,
		     get16(self->config, VMM_PCI_STATUS) | VMM_PCI_STATUS_CAP_LIST);
	self->last_capability = offset;
	self->next_capability = (offset + length + 3) & ~3u;
	pthread_mutex_unlock(&self->pci->lock);
	return offset;
}

void
vmm_pci_device_set_config_ops(VmmPciDevice *self, const VmmPciConfigOps *ops, void *opaque)
{
	pthread_mutex_lock(&self->pci->lock);
	self->config_ops = ops;
	self->config_opaque = opaque;
	for (unsigned i = 0; i < VMM_PCI_BARS; i++)
		report_bar(self, i);
	pthread_mutex_unlock(&self->pci->lock);
}

uint32_t
vmm_pci_device_get_irq(VmmPciDevice *self)
{
	return self->irq;
}

unsigned
vmm_pci_device_get_slot(VmmPciDevice *self)
{
	return self->slot;
}

uint64_t
vmm_pci_device_get_bar_address(VmmPciDevice *self, unsigned index)
{
	uint64_t address = 0;

	vmm_return_val_if_fail(index < VMM_PCI_BARS, 0);
	pthread_mutex_lock(&self->pci->lock);
	if (self->bars[index].present)
		address = bar_address(self, index);
	pthread_mutex_unlock(&self->pci->lock);
	return address;
}
