/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-test-error.h"
#include "vmm-pci.h"
#include "vmm-test-driver.h"

typedef struct {
	VmmBus *pio;
	VmmBus *mmio;
	VmmPci *pci;
	VmmPciDevice *device;
	guint slot;
	guint reads;
	guint64 last_offset;
	guint config_writes;
	GArray *bars_mapped; /* MappedBar */
} Fixture;

typedef struct {
	guint index;
	guint64 address;
} MappedBar;

static void
device_read(gpointer opaque, guint64 offset, guint8 *data, guint32 size)
{
	Fixture *fx = opaque;

	fx->reads++;
	fx->last_offset = offset;
	memset(data, 0xA5, size);
}

static void
device_write(gpointer opaque, guint64 offset, const guint8 *data, guint32 size)
{
}

static const VmmIoOps device_ops = {device_read, device_write};

static void
config_written(gpointer opaque, const guint8 *config, guint32 offset, guint32 size)
{
	Fixture *fx = opaque;

	fx->config_writes++;
}

static void
bar_mapped(gpointer opaque, guint index, guint64 address)
{
	Fixture *fx = opaque;
	MappedBar mapped = {index, address};

	g_array_append_val(fx->bars_mapped, mapped);
}

static const VmmPciConfigOps config_ops = {config_written, bar_mapped};

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	const VmmPciDeviceInfo info = {0x1234, 0x5678, 0x1AF4, 0x0042, 0x0780AB, 7, TRUE};
	vmm_autoptr(VmmError) error = NULL;

	fx->pio = vmm_bus_new("pio");
	fx->mmio = vmm_bus_new("mmio");
	fx->bars_mapped = g_array_new(FALSE, FALSE, sizeof(MappedBar));
	fx->pci = vmm_pci_new(fx->pio, fx->mmio, &error);
	vmm_assert_no_error(error);
	fx->device = vmm_pci_add_device(fx->pci, &info, &error);
	vmm_assert_no_error(error);
	fx->slot = vmm_pci_device_get_slot(fx->device);
	g_assert_true(
		vmm_pci_device_add_bar(fx->device, 0, VMM_PCI_BAR_IO, 64, &device_ops, fx, &error));
	g_assert_true(vmm_pci_device_add_bar(
		fx->device, 2, VMM_PCI_BAR_MEMORY, 0x4000, &device_ops, fx, &error));
	vmm_pci_device_set_config_ops(fx->device, &config_ops, fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	vmm_pci_free(fx->pci);
	vmm_bus_free(fx->pio);
	vmm_bus_free(fx->mmio);
	g_array_unref(fx->bars_mapped);
}

static void
test_host_bridge(Fixture *fx, gconstpointer user_data)
{
	g_assert_cmphex(test_pci_read(fx->pio, 0, VMM_PCI_VENDOR_ID, 4), ==, 0x12378086);
	g_assert_cmphex(test_pci_read(fx->pio, 0, VMM_PCI_CLASS_REVISION, 4) >> 8, ==, 0x060000);
	g_assert_cmphex(test_pci_read(fx->pio, 0, VMM_PCI_HEADER_TYPE, 1), ==, 0);
	g_assert_cmphex(test_pci_read(fx->pio, 0, VMM_PCI_INTERRUPT_PIN, 1), ==, 0);
}

static void
test_address_register(Fixture *fx, gconstpointer user_data)
{
	test_bus_write(fx->pio, VMM_PCI_CONFIG_ADDRESS_PORT, 4, 0x80000000);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_CONFIG_ADDRESS_PORT, 4), ==, 0x80000000);
	/* Linux's probe writes a byte to 0xCFB and must not change the register. */
	test_bus_write(fx->pio, 0xCFB, 1, 0x01);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_CONFIG_ADDRESS_PORT, 4), ==, 0x80000000);
	/* Disabled: no device answers. */
	test_bus_write(fx->pio, VMM_PCI_CONFIG_ADDRESS_PORT, 4, 0);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_CONFIG_DATA_PORT, 4), ==, 0xFFFFFFFF);
}

static void
test_absent_devices(Fixture *fx, gconstpointer user_data)
{
	g_assert_cmphex(test_pci_read(fx->pio, 31, 0, 4), ==, 0xFFFFFFFF);
	/* Bus 1 and function 1 do not exist. */
	test_bus_write(fx->pio, VMM_PCI_CONFIG_ADDRESS_PORT, 4, 0x80010000);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_CONFIG_DATA_PORT, 4), ==, 0xFFFFFFFF);
	test_bus_write(
		fx->pio, VMM_PCI_CONFIG_ADDRESS_PORT, 4, 0x80000000 | fx->slot << 11 | 1 << 8);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_CONFIG_DATA_PORT, 4), ==, 0xFFFFFFFF);
}

static void
test_identity(Fixture *fx, gconstpointer user_data)
{
	g_assert_cmpuint(fx->slot, ==, 1);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_VENDOR_ID, 2), ==, 0x1234);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_DEVICE_ID, 2), ==, 0x5678);
	g_assert_cmphex(
		test_pci_read(fx->pio, fx->slot, VMM_PCI_CLASS_REVISION, 4), ==, 0x0780AB07);
	g_assert_cmphex(
		test_pci_read(fx->pio, fx->slot, VMM_PCI_SUBSYSTEM_VENDOR_ID, 2), ==, 0x1AF4);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_SUBSYSTEM_ID, 2), ==, 0x42);
	/* Read-only registers stay as they are. */
	test_pci_write(fx->pio, fx->slot, VMM_PCI_VENDOR_ID, 4, 0);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_VENDOR_ID, 4), ==, 0x56781234);
}

static void
test_preassigned_bars(Fixture *fx, gconstpointer user_data)
{
	guint32 io = test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0, 4);
	guint32 memory = test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4);

	g_assert_cmphex(io, ==, VMM_PCI_PIO_BASE | 1);
	g_assert_cmphex(memory, ==, VMM_PCI_MMIO_BASE);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0 + 4, 4), ==, 0);
	/* Decoding from the start: a guest that never touches PCI reaches the device. */
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_PIO_BASE + 4, 1), ==, 0xA5);
	g_assert_cmphex(test_bus_read(fx->mmio, VMM_PCI_MMIO_BASE + 0x100, 4), ==, 0xA5A5A5A5);
	g_assert_cmpuint(fx->last_offset, ==, 0x100);
}

static void
test_bar_sizing(Fixture *fx, gconstpointer user_data)
{
	test_pci_write(fx->pio, fx->slot, VMM_PCI_COMMAND, 2, 0);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0, 4, 0xFFFFFFFF);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4, 0xFFFFFFFF);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0 + 4, 4, 0xFFFFFFFF);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0, 4), ==, 0xFFC1);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4), ==, 0xFFFFC000);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0 + 4, 4), ==, 0);
}

static void
test_bar_relocation(Fixture *fx, gconstpointer user_data)
{
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4, 0xF0000000);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0, 4, 0xD000);
	g_assert_cmphex(vmm_pci_device_get_bar_address(fx->device, 2), ==, 0xF0000000);
	g_assert_cmphex(test_bus_read(fx->mmio, VMM_PCI_MMIO_BASE, 4), ==, 0xFFFFFFFF);
	g_assert_cmphex(test_bus_read(fx->mmio, 0xF0000010, 4), ==, 0xA5A5A5A5);
	g_assert_cmpuint(fx->last_offset, ==, 0x10);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_PIO_BASE, 1), ==, 0xFF);
	g_assert_cmphex(test_bus_read(fx->pio, 0xD002, 1), ==, 0xA5);
	/* Low bits are not writable: the BAR stays size-aligned. */
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4, 0xF0001234);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4), ==, 0xF0000000);
}

static void
test_command_decode(Fixture *fx, gconstpointer user_data)
{
	test_pci_write(fx->pio, fx->slot, VMM_PCI_COMMAND, 2, VMM_PCI_COMMAND_IO);
	g_assert_cmphex(test_bus_read(fx->mmio, VMM_PCI_MMIO_BASE, 4), ==, 0xFFFFFFFF);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_PIO_BASE, 1), ==, 0xA5);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_COMMAND, 2, VMM_PCI_COMMAND_MEMORY);
	g_assert_cmphex(test_bus_read(fx->mmio, VMM_PCI_MMIO_BASE, 4), ==, 0xA5A5A5A5);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_PIO_BASE, 1), ==, 0xFF);
	/* A BAR moved while decoding is off appears at its new place when it comes back. */
	test_pci_write(fx->pio, fx->slot, VMM_PCI_COMMAND, 2, 0);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4, 0xE8000000);
	g_assert_cmphex(test_bus_read(fx->mmio, 0xE8000000, 4), ==, 0xFFFFFFFF);
	test_pci_write(fx->pio,
		       fx->slot,
		       VMM_PCI_COMMAND,
		       2,
		       VMM_PCI_COMMAND_MEMORY | VMM_PCI_COMMAND_IO | 0x8000);
	g_assert_cmphex(test_bus_read(fx->mmio, 0xE8000000, 4), ==, 0xA5A5A5A5);
	/* Only the defined bits are writable. */
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_COMMAND, 2), ==, 0x3);
	g_assert_cmpuint(fx->config_writes, ==, 5);
}

static void
assert_bar_mapped(Fixture *fx, guint nth, guint index, guint64 address)
{
	g_assert_cmpuint(fx->bars_mapped->len, >, nth);
	g_assert_cmpuint(g_array_index(fx->bars_mapped, MappedBar, nth).index, ==, index);
	g_assert_cmphex(g_array_index(fx->bars_mapped, MappedBar, nth).address, ==, address);
}

/* The device hears where its BARs decode: at first, then after each move. */
static void
test_bar_mapped(Fixture *fx, gconstpointer user_data)
{
	guint64 memory_bar = vmm_pci_device_get_bar_address(fx->device, 2);

	g_assert_cmpuint(fx->bars_mapped->len, ==, 2);
	assert_bar_mapped(fx, 0, 0, VMM_PCI_PIO_BASE);
	assert_bar_mapped(fx, 1, 2, memory_bar);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4, 0xF0000000);
	assert_bar_mapped(fx, 2, 2, 0xF0000000);
	/* Unchanged: nothing to tell. */
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0 + 8, 4, 0xF0000000);
	g_assert_cmpuint(fx->bars_mapped->len, ==, 3);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_COMMAND, 2, VMM_PCI_COMMAND_IO);
	g_assert_cmpuint(fx->bars_mapped->len, ==, 4);
	assert_bar_mapped(fx, 3, 2, 0);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_COMMAND, 2, 0);
	assert_bar_mapped(fx, 4, 0, 0);
	test_pci_write(
		fx->pio, fx->slot, VMM_PCI_COMMAND, 2, VMM_PCI_COMMAND_IO | VMM_PCI_COMMAND_MEMORY);
	g_assert_cmpuint(fx->bars_mapped->len, ==, 7);
	assert_bar_mapped(fx, 5, 0, VMM_PCI_PIO_BASE);
	assert_bar_mapped(fx, 6, 2, 0xF0000000);
}

static void
test_capability_list(Fixture *fx, gconstpointer user_data)
{
	const guint8 first[] = {0x09, 0xEE, 4, 0x11};
	const guint8 second[] = {0x11, 0, 0x22, 0x33, 0x44, 0x55};
	const guint8 second_mask[] = {0xFF, 0xFF, 0, 0xFF, 0, 0};
	guint8 at_first = vmm_pci_device_add_capability(fx->device, first, sizeof(first), NULL);
	guint8 at_second =
		vmm_pci_device_add_capability(fx->device, second, sizeof(second), second_mask);

	g_assert_cmpuint(at_first, ==, 0x40);
	g_assert_cmpuint(at_second, ==, 0x44);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_STATUS, 2) &
				VMM_PCI_STATUS_CAP_LIST,
			!=,
			0);
	g_assert_cmpuint(test_pci_find_capability(fx->pio, fx->slot, 0x09, 0), ==, 0x40);
	g_assert_cmpuint(test_pci_find_capability(fx->pio, fx->slot, 0x11, 0), ==, 0x44);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, 0x41, 1), ==, 0x44);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, 0x45, 1), ==, 0);
	/* The mask lets the guest write only byte 3; ID and next pointer stay. */
	test_pci_write(fx->pio, fx->slot, 0x44, 4, 0xFFFFFFFF);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, 0x44, 4), ==, 0xFF220011);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, 0x48, 2), ==, 0x5544);
}

static void
test_interrupt_line(Fixture *fx, gconstpointer user_data)
{
	const VmmPciDeviceInfo info = {0x1AF4, 0x1002, 0, 0, 0xFF0000, 0, TRUE};
	const VmmPciDeviceInfo no_intx = {0x1AF4, 0x1003, 0, 0, 0xFF0000, 0, FALSE};
	const guint32 expected[] = {9, 10, 11, 5};
	vmm_autoptr(VmmError) error = NULL;
	VmmPciDevice *device;

	g_assert_cmpuint(vmm_pci_device_get_irq(fx->device), ==, 5);
	g_assert_cmpuint(test_pci_read(fx->pio, fx->slot, VMM_PCI_INTERRUPT_LINE, 1), ==, 5);
	g_assert_cmpuint(test_pci_read(fx->pio, fx->slot, VMM_PCI_INTERRUPT_PIN, 1), ==, 1);
	for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
		guint slot;
		device = vmm_pci_add_device(fx->pci, &info, &error);
		slot = vmm_pci_device_get_slot(device);
		g_assert_cmpuint(vmm_pci_device_get_irq(device), ==, expected[i]);
		g_assert_cmpuint(
			test_pci_read(fx->pio, slot, VMM_PCI_INTERRUPT_LINE, 1), ==, expected[i]);
	}
	device = vmm_pci_add_device(fx->pci, &no_intx, &error);
	g_assert_cmpuint(vmm_pci_device_get_irq(device), ==, 0);
	g_assert_cmpuint(
		test_pci_read(fx->pio, vmm_pci_device_get_slot(device), VMM_PCI_INTERRUPT_PIN, 1),
		==,
		0);
	vmm_assert_no_error(error);
}

static void
test_remove_device(Fixture *fx, gconstpointer user_data)
{
	vmm_pci_remove_device(fx->pci, fx->device);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, 0, 4), ==, 0xFFFFFFFF);
	g_assert_cmphex(test_bus_read(fx->mmio, VMM_PCI_MMIO_BASE, 4), ==, 0xFFFFFFFF);
	g_assert_cmphex(test_bus_read(fx->pio, VMM_PCI_PIO_BASE, 1), ==, 0xFF);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	test_log_init();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/pci/host-bridge", test_host_bridge);
	ADD("/pci/address-register", test_address_register);
	ADD("/pci/absent-devices", test_absent_devices);
	ADD("/pci/identity", test_identity);
	ADD("/pci/preassigned-bars", test_preassigned_bars);
	ADD("/pci/bar-sizing", test_bar_sizing);
	ADD("/pci/bar-relocation", test_bar_relocation);
	ADD("/pci/command-decode", test_command_decode);
	ADD("/pci/bar-mapped", test_bar_mapped);
	ADD("/pci/capability-list", test_capability_list);
	ADD("/pci/interrupt-line", test_interrupt_line);
	ADD("/pci/remove-device", test_remove_device);
#undef ADD
	return g_test_run();
}
