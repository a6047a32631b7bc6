/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "vmm-pci.h"

#define CONFIG_ENABLE 0x80000000u
#define FIRST_CAPABILITY 0x40
#define MEMORY_BAR_FLAGS 0xFu
#define IO_BAR_FLAGS 0x3u

/* ISA IRQs the PC leaves free for PCI, handed out in turn. */
static const guint32 isa_irqs[] = {5, 9, 10, 11};

typedef struct {
	gboolean present;
	VmmPciBarType type;
	guint64 size;
	const VmmIoOps *ops;
	gpointer opaque;
	gboolean mapped;
	guint64 mapped_address;
} PciBar;

struct _VmmPciDevice {
	VmmPci *pci;
	guint slot;
	guint32 irq;
	guint8 config[VMM_PCI_CONFIG_SIZE];
	guint8 write_mask[VMM_PCI_CONFIG_SIZE];
	PciBar bars[VMM_PCI_BARS];
	guint8 last_capability;
	guint next_capability;
	const VmmPciConfigOps *config_ops;
	gpointer config_opaque;
};

struct _VmmPci {
	GMutex lock;
	VmmBus *pio;
	VmmBus *mmio;
	guint32 config_address;
	VmmPciDevice *slots[VMM_PCI_SLOTS];
	guint64 next_mmio;
	guint64 next_pio;
	guint next_irq;
};

static void
put16(guint8 *config, guint offset, guint16 value)
{
	value = GUINT16_TO_LE(value);
	memcpy(config + offset, &value, 2);
}

static void
put32(guint8 *config, guint offset, guint32 value)
{
	value = GUINT32_TO_LE(value);
	memcpy(config + offset, &value, 4);
}

static guint16
get16(const guint8 *config, guint offset)
{
	guint16 value;

	memcpy(&value, config + offset, 2);
	return GUINT16_FROM_LE(value);
}

static guint32
get32(const guint8 *config, guint offset)
{
	guint32 value;

	memcpy(&value, config + offset, 4);
	return GUINT32_FROM_LE(value);
}

/* BARs: mapping follows the address register and the command register's decode bits. */

static VmmBus *
bar_bus(VmmPciDevice *self, const PciBar *bar)
{
	return bar->type == VMM_PCI_BAR_IO ? self->pci->pio : self->pci->mmio;
}

static guint64
bar_address(VmmPciDevice *self, guint index)
{
	guint32 raw = get32(self->config, VMM_PCI_BAR0 + 4 * index);

	if (self->bars[index].type == VMM_PCI_BAR_IO)
		return raw & ~IO_BAR_FLAGS;
	return raw & ~MEMORY_BAR_FLAGS;
}

static gboolean
bar_should_decode(VmmPciDevice *self, guint index, guint64 address)
{
	const PciBar *bar = &self->bars[index];
	guint16 command = get16(self->config, VMM_PCI_COMMAND);
	guint16 decode_bit =
		bar->type == VMM_PCI_BAR_IO ? VMM_PCI_COMMAND_IO : VMM_PCI_COMMAND_MEMORY;
	guint64 limit = bar->type == VMM_PCI_BAR_IO ? VMM_PCI_PIO_END : VMM_PCI_MMIO_END;

	return (command & decode_bit) && address != 0 && address + bar->size <= limit;
}

static void
report_bar(VmmPciDevice *self, guint index)
{
	const PciBar *bar = &self->bars[index];

	if (bar->present && self->config_ops != NULL && self->config_ops->bar_mapped != NULL)
		self->config_ops->bar_mapped(
			self->config_opaque, index, bar->mapped ? bar->mapped_address : 0);
}

static void
map_bar(VmmPciDevice *self, guint index, guint64 address)
{
	PciBar *bar = &self->bars[index];
	g_autoptr(GError) error = NULL;

	if (!vmm_bus_add(bar_bus(self, bar), address, bar->size, bar->ops, bar->opaque, &error)) {
		g_debug("pci 00:%02x.0 BAR%u left unmapped: %s", self->slot, index, error->message);
		return;
	}
	bar->mapped = TRUE;
	bar->mapped_address = address;
}

static void
update_bar(VmmPciDevice *self, guint index)
{
	PciBar *bar = &self->bars[index];
	guint64 address = bar_address(self, index);
	gboolean decode = bar_should_decode(self, index, address);

	if (!bar->present || (bar->mapped == decode && bar->mapped_address == address))
		return;
	if (bar->mapped) {
		vmm_bus_remove(bar_bus(self, bar), bar->mapped_address, bar->opaque);
		bar->mapped = FALSE;
	}
	if (decode)
		map_bar(self, index, address);
	report_bar(self, index);
}

static void
update_bars(VmmPciDevice *self)
{
	for (guint i = 0; i < VMM_PCI_BARS; i++)
		update_bar(self, i);
}

static void
unmap_bars(VmmPciDevice *self)
{
	for (guint i = 0; i < VMM_PCI_BARS; i++) {
		PciBar *bar = &self->bars[i];
		if (bar->mapped)
			vmm_bus_remove(bar_bus(self, bar), bar->mapped_address, bar->opaque);
		bar->mapped = FALSE;
	}
}

/* Configuration space accesses, with the bridge's lock held. */

static void
config_write(VmmPciDevice *self, guint32 offset, const guint8 *data, guint32 size)
{
	for (guint32 i = 0; i < size; i++) {
		guint8 mask = self->write_mask[offset + i];
		self->config[offset + i] = (self->config[offset + i] & ~mask) | (data[i] & mask);
	}
	if (offset < VMM_PCI_BAR0 + 4 * VMM_PCI_BARS && offset + size > VMM_PCI_COMMAND)
		update_bars(self);
	if (self->config_ops != NULL && self->config_ops->config_written != NULL)
		self->config_ops->config_written(self->config_opaque, self->config, offset, size);
}

static VmmPciDevice *
addressed_device(VmmPci *self, guint32 port_offset, guint32 size, guint32 *config_offset)
{
	guint32 address = self->config_address;
	guint bus = (address >> 16) & 0xFF;
	guint slot = (address >> 11) & 0x1F;
	guint function = (address >> 8) & 0x7;

	*config_offset = (address & 0xFC) + port_offset;
	if (!(address & CONFIG_ENABLE) || bus != 0 || function != 0)
		return NULL;
	if (port_offset + size > 4)
		return NULL;
	return self->slots[slot];
}

static void
data_port_read(VmmPci *self, guint32 port_offset, guint8 *data, guint32 size)
{
	guint32 offset;
	VmmPciDevice *device = addressed_device(self, port_offset, size, &offset);

	if (device == NULL)
		memset(data, 0xFF, size);
	else
		memcpy(data, device->config + offset, size);
}

static void
data_port_write(VmmPci *self, guint32 port_offset, const guint8 *data, guint32 size)
{
	guint32 offset;
	VmmPciDevice *device = addressed_device(self, port_offset, size, &offset);

	if (device != NULL)
		config_write(device, offset, data, size);
}

/* Ports 0xCF8-0xCFF: the address register takes only whole dword writes (0xCF9 is not ours). */
static void
ports_read(gpointer opaque, guint64 offset, guint8 *data, guint32 size)
{
	VmmPci *self = opaque;
	guint32 address;

	g_mutex_lock(&self->lock);
	if (offset >= 4) {
		data_port_read(self, offset - 4, data, size);
	} else if (offset == 0 && size == 4) {
		address = GUINT32_TO_LE(self->config_address);
		memcpy(data, &address, 4);
	} else {
		memset(data, 0xFF, size);
	}
	g_mutex_unlock(&self->lock);
}

static void
ports_write(gpointer opaque, guint64 offset, const guint8 *data, guint32 size)
{
	VmmPci *self = opaque;
	guint32 address;

	g_mutex_lock(&self->lock);
	if (offset >= 4) {
		data_port_write(self, offset - 4, data, size);
	} else if (offset == 0 && size == 4) {
		memcpy(&address, data, 4);
		self->config_address = GUINT32_FROM_LE(address) & ~0x7F000003u;
	}
	g_mutex_unlock(&self->lock);
}

static const VmmIoOps ports_ops = {ports_read, ports_write};

static VmmPciDevice *
device_new(VmmPci *pci, guint slot, const VmmPciDeviceInfo *info)
{
	VmmPciDevice *self = g_new0(VmmPciDevice, 1);

	self->pci = pci;
	self->slot = slot;
	self->next_capability = FIRST_CAPABILITY;
	put16(self->config, VMM_PCI_VENDOR_ID, info->vendor_id);
	put16(self->config, VMM_PCI_DEVICE_ID, info->device_id);
	put32(self->config, VMM_PCI_CLASS_REVISION, info->class_code << 8 | info->revision);
	put16(self->config, VMM_PCI_SUBSYSTEM_VENDOR_ID, info->subsystem_vendor_id);
	put16(self->config, VMM_PCI_SUBSYSTEM_ID, info->subsystem_id);
	put16(self->config,
	      VMM_PCI_COMMAND,
	      VMM_PCI_COMMAND_IO | VMM_PCI_COMMAND_MEMORY | VMM_PCI_COMMAND_MASTER);
	put16(self->write_mask,
	      VMM_PCI_COMMAND,
	      VMM_PCI_COMMAND_IO | VMM_PCI_COMMAND_MEMORY | VMM_PCI_COMMAND_MASTER |
		      VMM_PCI_COMMAND_INTX_DISABLE);
	self->write_mask[0x0C] = 0xFF; /* cache line size */
	self->write_mask[0x0D] = 0xFF; /* latency timer */
	self->write_mask[VMM_PCI_INTERRUPT_LINE] = 0xFF;
	if (info->intx) {
		self->irq = isa_irqs[pci->next_irq++ % G_N_ELEMENTS(isa_irqs)];
		self->config[VMM_PCI_INTERRUPT_LINE] = self->irq;
		self->config[VMM_PCI_INTERRUPT_PIN] = 1;
	}
	return self;
}

VmmPci *
vmm_pci_new(VmmBus *pio, VmmBus *mmio, GError **error)
{
	static const VmmPciDeviceInfo host_bridge = {
		.vendor_id = 0x8086,
		.device_id = 0x1237,
		.class_code = 0x060000,
		.revision = 2,
	};
	VmmPci *self = g_new0(VmmPci, 1);

	g_mutex_init(&self->lock);
	self->pio = pio;
	self->mmio = mmio;
	self->next_mmio = VMM_PCI_MMIO_BASE;
	self->next_pio = VMM_PCI_PIO_BASE;
	self->slots[0] = device_new(self, 0, &host_bridge);
	if (!vmm_bus_add(pio, VMM_PCI_CONFIG_ADDRESS_PORT, 8, &ports_ops, self, error)) {
		g_free(self->slots[0]);
		g_mutex_clear(&self->lock);
		g_free(self);
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
	for (guint slot = 0; slot < VMM_PCI_SLOTS; slot++) {
		if (self->slots[slot] == NULL)
			continue;
		unmap_bars(self->slots[slot]);
		g_free(self->slots[slot]);
	}
	g_mutex_clear(&self->lock);
	g_free(self);
}

VmmPciDevice *
vmm_pci_add_device(VmmPci *self, const VmmPciDeviceInfo *info, GError **error)
{
	VmmPciDevice *device = NULL;

	g_mutex_lock(&self->lock);
	for (guint slot = 1; slot < VMM_PCI_SLOTS && device == NULL; slot++) {
		if (self->slots[slot] == NULL)
			device = self->slots[slot] = device_new(self, slot, info);
	}
	g_mutex_unlock(&self->lock);
	if (device == NULL)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "No free PCI slot");
	return device;
}

void
vmm_pci_remove_device(VmmPci *self, VmmPciDevice *device)
{
	g_mutex_lock(&self->lock);
	g_assert(self->slots[device->slot] == device);
	self->slots[device->slot] = NULL;
	unmap_bars(device);
	g_mutex_unlock(&self->lock);
	g_free(device);
}

static gboolean
allocate_bar(VmmPci *self, VmmPciBarType type, guint64 size, guint64 *address, GError **error)
{
	guint64 *next = type == VMM_PCI_BAR_IO ? &self->next_pio : &self->next_mmio;
	guint64 end = type == VMM_PCI_BAR_IO ? VMM_PCI_PIO_END : VMM_PCI_MMIO_END;
	guint64 base = (*next + size - 1) & ~(size - 1);

	if (base + size > end) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NO_SPACE,
			    "No room for a 0x%" G_GINT64_MODIFIER "x-byte PCI %s BAR",
			    size,
			    type == VMM_PCI_BAR_IO ? "I/O" : "memory");
		return FALSE;
	}
	*next = base + size;
	*address = base;
	return TRUE;
}

static gboolean
bar_size_valid(VmmPciBarType type, guint64 size)
{
	guint64 min = type == VMM_PCI_BAR_IO ? 4 : 16;
	guint64 max = type == VMM_PCI_BAR_IO ? 256 : G_GUINT64_CONSTANT(1) << 30;

	return size >= min && size <= max && (size & (size - 1)) == 0;
}

gboolean
vmm_pci_device_add_bar(VmmPciDevice *self,
		       guint index,
		       VmmPciBarType type,
		       guint64 size,
		       const VmmIoOps *ops,
		       gpointer opaque,
		       GError **error)
{
	VmmPci *pci = self->pci;
	guint32 flags = type == VMM_PCI_BAR_IO ? VMM_PCI_BAR_IO_SPACE : 0;
	guint32 mask = type == VMM_PCI_BAR_IO ? 0xFFFF & ~IO_BAR_FLAGS : ~MEMORY_BAR_FLAGS;
	guint64 address;
	gboolean ok;

	g_return_val_if_fail(index < VMM_PCI_BARS && !self->bars[index].present, FALSE);
	g_return_val_if_fail(bar_size_valid(type, size), FALSE);
	g_mutex_lock(&pci->lock);
	ok = allocate_bar(pci, type, size, &address, error);
	if (ok) {
		self->bars[index] = (PciBar){TRUE, type, size, ops, opaque, FALSE, 0};
		put32(self->config, VMM_PCI_BAR0 + 4 * index, (guint32)address | flags);
		put32(self->write_mask, VMM_PCI_BAR0 + 4 * index, mask & ~(guint32)(size - 1));
		update_bar(self, index);
	}
	g_mutex_unlock(&pci->lock);
	return ok;
}

guint8
vmm_pci_device_add_capability(VmmPciDevice *self,
			      const guint8 *data,
			      guint8 length,
			      const guint8 *write_mask)
{
	guint offset;

	g_return_val_if_fail(length >= 2, 0);
	g_mutex_lock(&self->pci->lock);
	offset = self->next_capability;
	if (offset + length > VMM_PCI_CONFIG_SIZE) {
		g_mutex_unlock(&self->pci->lock);
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
	put16(self->config,
	      VMM_PCI_STATUS,
	      get16(self->config, VMM_PCI_STATUS) | VMM_PCI_STATUS_CAP_LIST);
	self->last_capability = offset;
	self->next_capability = (offset + length + 3) & ~3u;
	g_mutex_unlock(&self->pci->lock);
	return offset;
}

void
vmm_pci_device_set_config_ops(VmmPciDevice *self, const VmmPciConfigOps *ops, gpointer opaque)
{
	g_mutex_lock(&self->pci->lock);
	self->config_ops = ops;
	self->config_opaque = opaque;
	for (guint i = 0; i < VMM_PCI_BARS; i++)
		report_bar(self, i);
	g_mutex_unlock(&self->pci->lock);
}

guint32
vmm_pci_device_get_irq(VmmPciDevice *self)
{
	return self->irq;
}

guint
vmm_pci_device_get_slot(VmmPciDevice *self)
{
	return self->slot;
}

guint64
vmm_pci_device_get_bar_address(VmmPciDevice *self, guint index)
{
	guint64 address = 0;

	g_return_val_if_fail(index < VMM_PCI_BARS, 0);
	g_mutex_lock(&self->pci->lock);
	if (self->bars[index].present)
		address = bar_address(self, index);
	g_mutex_unlock(&self->pci->lock);
	return address;
}
