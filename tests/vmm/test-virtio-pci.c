/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-test-error.h"
#include "vmm-test-driver.h"
#include "vmm-virtio-pci.h"

#define RAM_SIZE (16 * VMM_MIB)
#define RING0 0x10000
#define RING1 0x20000
#define BUFFERS 0x100000
#define QUEUE_SIZE 8
#define DEVICE_FEATURES 0x9u
#define VERSION_1 (G_GUINT64_CONSTANT(1) << 32)
#define MSI_ADDRESS G_GUINT64_CONSTANT(0xFEE00000)

/* A console-like device (transitional id 0x1003) that returns every buffer it gets. */
typedef struct {
	VmmVirtio *transport;
	guint64 activated_features;
	guint activations;
	guint resets;
	guint notifies;
	guint8 config[8];
} EchoDevice;

static void
echo_attach(gpointer device, VmmVirtio *transport)
{
	EchoDevice *self = device;

	self->transport = transport;
}

static guint64
echo_features(gpointer device)
{
	return DEVICE_FEATURES;
}

static void
echo_config_read(gpointer device, guint32 offset, guint8 *data, guint32 size)
{
	EchoDevice *self = device;

	memcpy(data, self->config + offset, size);
}

static void
echo_config_write(gpointer device, guint32 offset, const guint8 *data, guint32 size)
{
	EchoDevice *self = device;

	memcpy(self->config + offset, data, size);
}

static void
echo_activate(gpointer device, VmmVirtio *transport, guint64 features)
{
	EchoDevice *self = device;

	self->activations++;
	self->activated_features = features;
}

static void
echo_queue_notify(gpointer device, guint queue_index)
{
	EchoDevice *self = device;
	VmmVirtqueue *queue;
	VmmVirtqChain chain;

	self->notifies++;
	while ((queue = vmm_virtio_get_queue(self->transport, queue_index)) != NULL) {
		vmm_autoptr(VmmError) error = NULL;
		VmmVirtqPop popped = vmm_virtqueue_pop(queue, &chain, &error);
		if (popped == VMM_VIRTQ_EMPTY)
			break;
		if (popped == VMM_VIRTQ_BROKEN) {
			vmm_virtio_set_needs_reset(self->transport, error->message);
			return;
		}
		vmm_virtqueue_push(queue, chain.head, chain.descs[0].length, NULL);
		vmm_virtio_notify_used(self->transport, queue_index);
	}
}

static void
echo_reset(gpointer device)
{
	EchoDevice *self = device;

	self->resets++;
}

static const VmmVirtioDeviceOps echo_ops = {
	.device_id = 3,
	.config_size = 8,
	.num_queues = 2,
	.queue_size = QUEUE_SIZE,
	.attach = echo_attach,
	.get_features = echo_features,
	.config_read = echo_config_read,
	.config_write = echo_config_write,
	.activate = echo_activate,
	.queue_notify = echo_queue_notify,
	.reset = echo_reset,
};

/* What the VM's ioeventfd code would be asked to do; tests fire events as its thread would. */
struct _VmmIoEvent {
	VmmIoEventAddress where;
	VmmIoEventFunc func;
	gpointer user_data;
};

typedef struct {
	GPtrArray *live; /* VmmIoEvent */
	guint adds;
	guint removes;
	gboolean refuse;
} FakeIoEvents;

static VmmIoEvent *
fake_ioevent_add(gpointer opaque,
		 const VmmIoEventAddress *where,
		 VmmIoEventFunc func,
		 gpointer user_data)
{
	FakeIoEvents *self = opaque;
	VmmIoEvent *event;

	self->adds++;
	if (self->refuse)
		return NULL;
	event = g_new(VmmIoEvent, 1);
	*event = (VmmIoEvent){*where, func, user_data};
	g_ptr_array_add(self->live, event);
	return event;
}

static void
fake_ioevent_remove(gpointer opaque, VmmIoEvent *event)
{
	FakeIoEvents *self = opaque;

	self->removes++;
	g_assert_true(g_ptr_array_remove(self->live, event));
}

static VmmIoEvent *
live_ioevent(FakeIoEvents *self, guint nth)
{
	g_assert_cmpuint(self->live->len, >, nth);
	return self->live->pdata[nth];
}

static void
fire(VmmIoEvent *event)
{
	event->func(event->user_data);
}

typedef struct {
	VmmMemory *memory;
	VmmBus *pio;
	VmmBus *mmio;
	VmmPci *pci;
	FakeIoEvents ioevents;
	TestIrq irq_recorder;
	VmmIrq irq;
	EchoDevice echo;
	VmmVirtio *transport;
	TestVirtio driver;
	TestRing ring;
	guint slot;
	guint32 line;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	vmm_autoptr(VmmError) error = NULL;

	fx->memory = vmm_memory_new(RAM_SIZE, &error);
	vmm_assert_no_error(error);
	fx->pio = vmm_bus_new("pio");
	fx->mmio = vmm_bus_new("mmio");
	fx->pci = vmm_pci_new(fx->pio, fx->mmio, &error);
	vmm_assert_no_error(error);
	fx->ioevents = (FakeIoEvents){g_ptr_array_new_with_free_func(g_free)};
	test_irq_init(&fx->irq_recorder, &fx->irq);
	memset(&fx->echo, 0, sizeof(fx->echo));
	fx->transport =
		vmm_virtio_pci_new(fx->pci, fx->memory, &fx->irq, &echo_ops, &fx->echo, &error);
	vmm_assert_no_error(error);
	g_assert_true(fx->echo.transport == fx->transport);
	fx->slot = vmm_pci_device_get_slot(vmm_virtio_pci_get_pci_device(fx->transport));
	fx->line = vmm_pci_device_get_irq(vmm_virtio_pci_get_pci_device(fx->transport));
	test_virtio_find(&fx->driver, fx->pio, fx->mmio, fx->slot);
	test_ring_init(&fx->ring, fx->memory, RING0, QUEUE_SIZE);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	vmm_virtio_pci_free(fx->transport);
	/* The transport takes its registrations away when it goes. */
	g_assert_cmpuint(fx->ioevents.live->len, ==, 0);
	g_ptr_array_unref(fx->ioevents.live);
	vmm_pci_free(fx->pci);
	vmm_bus_free(fx->pio);
	vmm_bus_free(fx->mmio);
	vmm_memory_free(fx->memory);
	g_array_unref(fx->irq_recorder.msis);
	g_mutex_clear(&fx->irq_recorder.lock);
}

/* A modern driver up to DRIVER_OK with queue 0 on fx->ring. */
static void
bring_up(Fixture *fx)
{
	guint activations = fx->echo.activations;

	g_assert_cmphex(test_virtio_negotiate(&fx->driver, VERSION_1 | 1),
			==,
			VMM_VIRTIO_STATUS_ACKNOWLEDGE | VMM_VIRTIO_STATUS_DRIVER |
				VMM_VIRTIO_STATUS_FEATURES_OK);
	test_virtio_setup_queue(&fx->driver, 0, &fx->ring);
	test_virtio_set_status(&fx->driver, 0x0F);
	g_assert_cmpuint(fx->echo.activations, ==, activations + 1);
}

static void
post_and_kick(Fixture *fx, guint32 length)
{
	const TestBuffer buffer = {BUFFERS, length, FALSE};

	test_ring_post(&fx->ring, &buffer, 1);
	test_virtio_notify(&fx->driver, 0);
}

static void
test_ids(Fixture *fx, gconstpointer user_data)
{
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_VENDOR_ID, 4), ==, 0x10031AF4);
	g_assert_cmphex(
		test_pci_read(fx->pio, fx->slot, VMM_PCI_SUBSYSTEM_VENDOR_ID, 4), ==, 0x00031AF4);
	g_assert_cmphex(
		test_pci_read(fx->pio, fx->slot, VMM_PCI_CLASS_REVISION, 4), ==, 0x07800000);
	g_assert_cmpuint(test_pci_read(fx->pio, fx->slot, VMM_PCI_INTERRUPT_PIN, 1), ==, 1);
	g_assert_cmpuint(test_pci_read(fx->pio, fx->slot, VMM_PCI_INTERRUPT_LINE, 1), ==, fx->line);
	g_assert_cmpuint(fx->line, ==, 5);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0, 4) & 1, ==, 1);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0 + 4, 4) & 1, ==, 0);
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, VMM_PCI_BAR0 + 16, 4) & 1, ==, 0);
}

static void
test_capabilities(Fixture *fx, gconstpointer user_data)
{
	guint64 modern = vmm_pci_device_get_bar_address(
		vmm_virtio_pci_get_pci_device(fx->transport), VMM_VIRTIO_PCI_MODERN_BAR);
	guint64 msix = vmm_pci_device_get_bar_address(vmm_virtio_pci_get_pci_device(fx->transport),
						      VMM_VIRTIO_PCI_MSIX_BAR);

	g_assert_cmphex(fx->driver.common, ==, modern + VMM_VIRTIO_PCI_COMMON_OFFSET);
	g_assert_cmphex(fx->driver.isr, ==, modern + VMM_VIRTIO_PCI_ISR_OFFSET);
	g_assert_cmphex(fx->driver.device, ==, modern + VMM_VIRTIO_PCI_DEVICE_OFFSET);
	g_assert_cmphex(fx->driver.notify, ==, modern + VMM_VIRTIO_PCI_NOTIFY_OFFSET);
	g_assert_cmpuint(fx->driver.notify_multiplier, ==, VMM_VIRTIO_PCI_NOTIFY_MULTIPLIER);
	g_assert_cmphex(fx->driver.msix_table, ==, msix);
	g_assert_cmphex(fx->driver.msix_pba, ==, msix + VMM_VIRTIO_PCI_MSIX_PBA_OFFSET);
	/* Table size: one vector per queue plus configuration. */
	g_assert_cmphex(test_pci_read(fx->pio, fx->slot, fx->driver.msix_capability + 2, 2), ==, 2);
	g_assert_cmpuint(test_bus_read(fx->mmio, fx->driver.common + 0x12, 2), ==, 2);
}

static void
test_modern_negotiation(Fixture *fx, gconstpointer user_data)
{
	const guint8 not_ok = VMM_VIRTIO_STATUS_ACKNOWLEDGE | VMM_VIRTIO_STATUS_DRIVER;

	g_assert_cmphex(test_virtio_device_features(&fx->driver), ==, VERSION_1 | DEVICE_FEATURES);
	/* Modern drivers must take VERSION_1, and nothing the device did not offer. */
	g_assert_cmphex(test_virtio_negotiate(&fx->driver, 1), ==, not_ok);
	g_assert_cmphex(test_virtio_negotiate(&fx->driver, VERSION_1 | 2), ==, not_ok);
	g_assert_cmphex(test_virtio_negotiate(&fx->driver, VERSION_1 | 8),
			==,
			not_ok | VMM_VIRTIO_STATUS_FEATURES_OK);
	/* Features are frozen after FEATURES_OK. */
	test_bus_write(fx->mmio, fx->driver.common + 0x08, 4, 0);
	test_bus_write(fx->mmio, fx->driver.common + 0x0C, 4, 1);
	g_assert_cmphex(test_bus_read(fx->mmio, fx->driver.common + 0x0C, 4), ==, 8);
	test_virtio_setup_queue(&fx->driver, 0, &fx->ring);
	test_virtio_set_status(&fx->driver, 0x0F);
	g_assert_cmpuint(fx->echo.activations, ==, 1);
	g_assert_cmphex(fx->echo.activated_features, ==, VERSION_1 | 8);
}

static void
test_queue_registers(Fixture *fx, gconstpointer user_data)
{
	VmmBus *mmio = fx->mmio;
	guint64 common = fx->driver.common;

	test_virtio_negotiate(&fx->driver, VERSION_1);
	test_bus_write(mmio, common + 0x16, 2, 1);
	g_assert_cmpuint(test_bus_read(mmio, common + 0x18, 2), ==, QUEUE_SIZE);
	g_assert_cmpuint(test_bus_read(mmio, common + 0x1E, 2), ==, 1);
	test_bus_write(mmio, common + 0x18, 2, 4);
	test_bus_write(mmio, common + 0x20, 4, 0x12345000);
	test_bus_write(mmio, common + 0x24, 4, 0x1);
	g_assert_cmpuint(test_bus_read(mmio, common + 0x18, 2), ==, 4);
	g_assert_cmphex(test_bus_read(mmio, common + 0x20, 4), ==, 0x12345000);
	g_assert_cmphex(test_bus_read(mmio, common + 0x24, 4), ==, 0x1);
	g_assert_cmpuint(test_bus_read(mmio, common + 0x1C, 2), ==, 0);
	/* A queue that does not exist has size 0. */
	test_bus_write(mmio, common + 0x16, 2, 2);
	g_assert_cmpuint(test_bus_read(mmio, common + 0x18, 2), ==, 0);
}

static void
test_intx(Fixture *fx, gconstpointer user_data)
{
	guint32 id, length;

	bring_up(fx);
	post_and_kick(fx, 17);
	g_assert_cmpuint(fx->echo.notifies, ==, 1);
	g_assert_true(test_ring_take_used(&fx->ring, &id, &length));
	g_assert_cmpuint(length, ==, 17);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 1);
	g_assert_true(fx->irq_recorder.line_level[fx->line]);
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 1);
	/* Reading ISR returns the cause, clears it and lowers the line (edge through the PIC). */
	g_assert_cmphex(test_virtio_read_isr(&fx->driver), ==, 1);
	g_assert_false(fx->irq_recorder.line_level[fx->line]);
	g_assert_cmphex(test_virtio_read_isr(&fx->driver), ==, 0);
	/* INTX_DISABLE in the command register silences the line. */
	test_pci_write(fx->pio, fx->slot, VMM_PCI_COMMAND, 2, 0x407);
	post_and_kick(fx, 1);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 1);
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 2);
}

static void
test_no_interrupt(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx);
	test_ring_set_avail_flags(&fx->ring, 1);
	post_and_kick(fx, 4);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 0);
	/* Idle vCPUs still hear about it. */
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 1);
}

static void
program_msix_entry(Fixture *fx, guint vector, guint32 data, gboolean masked)
{
	guint64 entry = fx->driver.msix_table + 16 * vector;

	test_bus_write(fx->mmio, entry, 4, (guint32)MSI_ADDRESS);
	test_bus_write(fx->mmio, entry + 4, 4, 0);
	test_bus_write(fx->mmio, entry + 8, 4, data);
	test_bus_write(fx->mmio, entry + 12, 4, masked);
}

static void
enable_msix(Fixture *fx, gboolean function_mask)
{
	test_pci_write(fx->pio,
		       fx->slot,
		       fx->driver.msix_capability + 2,
		       2,
		       0x8000 | (function_mask ? 0x4000 : 0));
}

static void
assert_msis(Fixture *fx, guint count, guint32 last_data)
{
	GArray *msis = fx->irq_recorder.msis;

	g_assert_cmpuint(msis->len, ==, count);
	if (count == 0)
		return;
	g_assert_cmphex(g_array_index(msis, TestMsi, count - 1).address, ==, MSI_ADDRESS);
	g_assert_cmphex(g_array_index(msis, TestMsi, count - 1).data, ==, last_data);
}

static void
test_msix(Fixture *fx, gconstpointer user_data)
{
	VmmBus *mmio = fx->mmio;
	guint64 common = fx->driver.common;

	program_msix_entry(fx, 0, 0x40, FALSE);
	program_msix_entry(fx, 1, 0x41, FALSE);
	enable_msix(fx, FALSE);
	test_bus_write(mmio, common + 0x10, 2, 0);
	test_bus_write(mmio, common + 0x16, 2, 0);
	test_bus_write(mmio, common + 0x1A, 2, 1);
	g_assert_cmpuint(test_bus_read(mmio, common + 0x1A, 2), ==, 1);
	/* A vector beyond the table reads back as NO_VECTOR. */
	test_bus_write(mmio, common + 0x10, 2, 7);
	g_assert_cmphex(test_bus_read(mmio, common + 0x10, 2), ==, VMM_VIRTIO_PCI_NO_VECTOR);
	test_bus_write(mmio, common + 0x10, 2, 0);
	bring_up(fx);
	/* bring_up() reset the device: vectors back to NO_VECTOR; set them again. */
	test_bus_write(mmio, common + 0x10, 2, 0);
	test_bus_write(mmio, common + 0x16, 2, 0);
	test_bus_write(mmio, common + 0x1A, 2, 1);

	post_and_kick(fx, 4);
	assert_msis(fx, 1, 0x41);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 0);

	/* Masked entry: pending bit instead, delivered on unmask. */
	test_bus_write(mmio, fx->driver.msix_table + 16 + 12, 4, 1);
	post_and_kick(fx, 4);
	assert_msis(fx, 1, 0x41);
	g_assert_cmphex(test_bus_read(mmio, fx->driver.msix_pba, 4), ==, 0x2);
	test_bus_write(mmio, fx->driver.msix_table + 16 + 12, 4, 0);
	assert_msis(fx, 2, 0x41);
	g_assert_cmphex(test_bus_read(mmio, fx->driver.msix_pba, 4), ==, 0);

	/* Function mask works the same way. */
	enable_msix(fx, TRUE);
	post_and_kick(fx, 4);
	assert_msis(fx, 2, 0x41);
	enable_msix(fx, FALSE);
	assert_msis(fx, 3, 0x41);

	/* Configuration changes go to the config vector. */
	vmm_virtio_lock(fx->transport);
	vmm_virtio_notify_config(fx->transport);
	vmm_virtio_unlock(fx->transport);
	assert_msis(fx, 4, 0x40);

	/* NO_VECTOR: no interrupt at all. */
	test_bus_write(mmio, common + 0x1A, 2, VMM_VIRTIO_PCI_NO_VECTOR);
	post_and_kick(fx, 4);
	assert_msis(fx, 4, 0x40);
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 5);
}

static void
test_device_config(Fixture *fx, gconstpointer user_data)
{
	test_virtio_config_write(&fx->driver, 4, 4, 0xCAFEF00D);
	g_assert_cmphex(fx->echo.config[4], ==, 0x0D);
	g_assert_cmphex(test_virtio_config_read(&fx->driver, 4, 4), ==, 0xCAFEF00D);
	g_assert_cmphex(test_virtio_config_read(&fx->driver, 6, 2), ==, 0xCAFE);
	/* Past the device's configuration: zeros, writes dropped. */
	test_virtio_config_write(&fx->driver, 6, 4, 0x11111111);
	g_assert_cmphex(test_virtio_config_read(&fx->driver, 6, 4), ==, 0);
	g_assert_cmphex(test_virtio_config_read(&fx->driver, 4, 4), ==, 0xCAFEF00D);
}

static void
test_config_notify(Fixture *fx, gconstpointer user_data)
{
	guint8 generation = test_bus_read(fx->mmio, fx->driver.common + 0x15, 1);

	/* Before DRIVER_OK: a new generation and a wake-up, but no interrupt. */
	vmm_virtio_lock(fx->transport);
	vmm_virtio_notify_config(fx->transport);
	vmm_virtio_unlock(fx->transport);
	g_assert_cmpuint(test_bus_read(fx->mmio, fx->driver.common + 0x15, 1), ==, generation + 1);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 0);
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 1);
	bring_up(fx);
	vmm_virtio_lock(fx->transport);
	vmm_virtio_notify_config(fx->transport);
	vmm_virtio_unlock(fx->transport);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 1);
	g_assert_cmphex(test_virtio_read_isr(&fx->driver), ==, 2);
}

static void
test_invalid_queue_address(Fixture *fx, gconstpointer user_data)
{
	TestRing bad = fx->ring;

	test_virtio_negotiate(&fx->driver, VERSION_1);
	bad.used = RAM_SIZE + 0x1000;
	test_log_expect(VMM_LOG_WARNING, "*queue 0*not inside guest RAM*");
	test_virtio_setup_queue(&fx->driver, 0, &bad);
	test_log_assert_expected();
	g_assert_cmpuint(test_bus_read(fx->mmio, fx->driver.common + 0x1C, 2), ==, 0);
	g_assert_cmphex(test_virtio_status(&fx->driver) & VMM_VIRTIO_STATUS_NEEDS_RESET, !=, 0);
	/* A second error is not logged again. */
	test_virtio_setup_queue(&fx->driver, 0, &bad);
}

static void
test_needs_reset(Fixture *fx, gconstpointer user_data)
{
	guint32 id, length;

	bring_up(fx);
	test_ring_set_avail_idx(&fx->ring, 100);
	test_log_expect(VMM_LOG_WARNING, "*available index jumped*");
	test_virtio_notify(&fx->driver, 0);
	test_log_assert_expected();
	g_assert_cmphex(test_virtio_status(&fx->driver), ==, 0x4F);
	/* A config interrupt tells the driver. */
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 1);
	g_assert_cmphex(test_virtio_read_isr(&fx->driver), ==, 2);
	/* Queues are not processed until reset. */
	test_virtio_notify(&fx->driver, 0);
	g_assert_cmpuint(fx->echo.notifies, ==, 1);
	/* After a reset the device works again. */
	test_ring_init(&fx->ring, fx->memory, RING0, QUEUE_SIZE);
	bring_up(fx);
	g_assert_cmpuint(fx->echo.resets, >=, 1);
	g_assert_cmphex(test_virtio_status(&fx->driver) & VMM_VIRTIO_STATUS_NEEDS_RESET, ==, 0);
	post_and_kick(fx, 3);
	g_assert_true(test_ring_take_used(&fx->ring, &id, &length));
}

static void
test_reset(Fixture *fx, gconstpointer user_data)
{
	guint resets;

	bring_up(fx);
	post_and_kick(fx, 3);
	resets = fx->echo.resets;
	test_virtio_set_status(&fx->driver, 0);
	g_assert_cmpuint(fx->echo.resets, ==, resets + 1);
	g_assert_cmphex(test_virtio_status(&fx->driver), ==, 0);
	g_assert_cmpuint(test_bus_read(fx->mmio, fx->driver.common + 0x1C, 2), ==, 0);
	g_assert_cmphex(
		test_bus_read(fx->mmio, fx->driver.common + 0x1A, 2), ==, VMM_VIRTIO_PCI_NO_VECTOR);
	g_assert_false(fx->irq_recorder.line_level[fx->line]);
	/* Notifications after reset reach nothing. */
	test_virtio_notify(&fx->driver, 0);
	g_assert_cmpuint(fx->echo.notifies, ==, 1);
}

static void
legacy_bring_up(Fixture *fx, guint32 features)
{
	VmmBus *pio = fx->pio;
	guint64 legacy = fx->driver.legacy;

	fx->driver.use_legacy = TRUE;
	test_bus_write(pio, legacy + 0x12, 1, 0);
	test_bus_write(pio, legacy + 0x12, 1, 3);
	g_assert_cmphex(test_bus_read(pio, legacy + 0x00, 4), ==, DEVICE_FEATURES);
	test_bus_write(pio, legacy + 0x04, 4, features);
	test_virtio_legacy_setup_queue(&fx->driver, 0, &fx->ring);
	test_bus_write(pio, legacy + 0x12, 1, 7);
}

static void
test_legacy(Fixture *fx, gconstpointer user_data)
{
	guint64 legacy = fx->driver.legacy;
	guint32 id, length;

	legacy_bring_up(fx, 1);
	g_assert_cmpuint(fx->echo.activations, ==, 1);
	g_assert_cmphex(fx->echo.activated_features, ==, 1);
	g_assert_cmphex(test_bus_read(fx->pio, legacy + 0x08, 4), ==, RING0 >> 12);
	post_and_kick(fx, 9);
	g_assert_true(test_ring_take_used(&fx->ring, &id, &length));
	g_assert_cmpuint(length, ==, 9);
	g_assert_true(fx->irq_recorder.line_level[fx->line]);
	g_assert_cmphex(test_bus_read(fx->pio, legacy + 0x13, 1), ==, 1);
	g_assert_false(fx->irq_recorder.line_level[fx->line]);
	/* Device configuration right after the 20-byte header. */
	fx->echo.config[0] = 0x5A;
	g_assert_cmphex(test_bus_read(fx->pio, legacy + 0x14, 1), ==, 0x5A);
	/* PFN 0 takes the queue away. */
	test_bus_write(fx->pio, legacy + 0x08, 4, 0);
	g_assert_cmphex(test_bus_read(fx->pio, legacy + 0x08, 4), ==, 0);
}

static void
test_legacy_msix_layout(Fixture *fx, gconstpointer user_data)
{
	guint64 legacy = fx->driver.legacy;

	fx->echo.config[0] = 0x5A;
	enable_msix(fx, FALSE);
	program_msix_entry(fx, 1, 0x51, FALSE);
	legacy_bring_up(fx, 0);
	test_bus_write(fx->pio, legacy + 0x14, 2, 0);
	test_bus_write(fx->pio, legacy + 0x0E, 2, 0);
	test_bus_write(fx->pio, legacy + 0x16, 2, 1);
	g_assert_cmphex(test_bus_read(fx->pio, legacy + 0x16, 2), ==, 1);
	g_assert_cmphex(test_bus_read(fx->pio, legacy + 0x18, 1), ==, 0x5A);
	post_and_kick(fx, 2);
	assert_msis(fx, 1, 0x51);
}

static void
test_legacy_refuses_version_1(Fixture *fx, gconstpointer user_data)
{
	/* VERSION_1 accepted through the modern registers, then DRIVER_OK without FEATURES_OK. */
	test_virtio_set_status(&fx->driver, 0);
	test_virtio_set_status(&fx->driver, 3);
	test_bus_write(fx->mmio, fx->driver.common + 0x08, 4, 1);
	test_bus_write(fx->mmio, fx->driver.common + 0x0C, 4, 1);
	test_virtio_setup_queue(&fx->driver, 0, &fx->ring);
	test_log_expect(VMM_LOG_WARNING, "*DRIVER_OK*");
	test_virtio_set_status(&fx->driver, 7);
	test_log_assert_expected();
	g_assert_cmpuint(fx->echo.activations, ==, 0);
	g_assert_cmphex(test_virtio_status(&fx->driver) & VMM_VIRTIO_STATUS_NEEDS_RESET, !=, 0);
}

static void
use_ioevents(Fixture *fx)
{
	const VmmIoEvents ioevents = {fake_ioevent_add, fake_ioevent_remove, &fx->ioevents};

	vmm_virtio_pci_set_ioevents(fx->transport, &ioevents);
}

static void
assert_notify_counts(Fixture *fx, guint64 on_exits, guint64 through_ioevents)
{
	guint64 exits, ioevents;

	vmm_virtio_pci_get_notify_counts(fx->transport, &exits, &ioevents);
	g_assert_cmpuint(exits, ==, on_exits);
	g_assert_cmpuint(ioevents, ==, through_ioevents);
}

/* A modern driver's queues are registered at their own notify registers from DRIVER_OK on. */
static void
test_ioevents_modern(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffer = {BUFFERS, 6, FALSE};
	TestRing ring1;
	VmmIoEvent *event;
	guint32 id, length;

	use_ioevents(fx);
	test_ring_init(&ring1, fx->memory, RING1, QUEUE_SIZE);
	test_virtio_negotiate(&fx->driver, VERSION_1);
	test_virtio_setup_queue(&fx->driver, 0, &fx->ring);
	test_virtio_setup_queue(&fx->driver, 1, &ring1);
	g_assert_cmpuint(fx->ioevents.adds, ==, 0);
	test_virtio_set_status(&fx->driver, 0x0F);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 2);
	for (guint i = 0; i < 2; i++) {
		event = live_ioevent(&fx->ioevents, i);
		g_assert_false(event->where.pio);
		g_assert_cmphex(event->where.address,
				==,
				fx->driver.notify + i * fx->driver.notify_multiplier);
		g_assert_cmpuint(event->where.size, ==, 2);
		g_assert_false(event->where.match_data);
	}
	/* The notifier thread's call does what the vCPU's write did. */
	test_ring_post(&fx->ring, &buffer, 1);
	fire(live_ioevent(&fx->ioevents, 0));
	g_assert_cmpuint(fx->echo.notifies, ==, 1);
	g_assert_true(test_ring_take_used(&fx->ring, &id, &length));
	g_assert_cmpuint(length, ==, 6);
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 1);
	/* Writes that no registration caught still work on the vCPU. */
	post_and_kick(fx, 3);
	g_assert_cmpuint(fx->echo.notifies, ==, 2);
	assert_notify_counts(fx, 1, 1);
	/* Reset takes the registrations away; DRIVER_OK brings them back. */
	test_virtio_set_status(&fx->driver, 0);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 0);
	g_assert_cmpuint(fx->ioevents.removes, ==, 2);
	test_ring_init(&fx->ring, fx->memory, RING0, QUEUE_SIZE);
	bring_up(fx);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 1);
	g_assert_cmpuint(fx->ioevents.adds, ==, 3);
}

/* Registrations follow the notify BAR when the guest moves it or turns decoding off. */
static void
test_ioevents_bar_moves(Fixture *fx, gconstpointer user_data)
{
	const guint64 moved = 0xE0800000;
	const guint modern_bar = VMM_PCI_BAR0 + 4 * VMM_VIRTIO_PCI_MODERN_BAR;
	const TestBuffer buffer = {BUFFERS, 2, FALSE};

	use_ioevents(fx);
	bring_up(fx);
	test_pci_write(fx->pio, fx->slot, modern_bar, 4, moved);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 1);
	g_assert_cmpuint(fx->ioevents.removes, ==, 1);
	g_assert_cmphex(live_ioevent(&fx->ioevents, 0)->where.address,
			==,
			moved + VMM_VIRTIO_PCI_NOTIFY_OFFSET);
	test_pci_write(
		fx->pio, fx->slot, VMM_PCI_COMMAND, 2, VMM_PCI_COMMAND_IO | VMM_PCI_COMMAND_MASTER);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 0);
	test_pci_write(fx->pio,
		       fx->slot,
		       VMM_PCI_COMMAND,
		       2,
		       VMM_PCI_COMMAND_IO | VMM_PCI_COMMAND_MEMORY | VMM_PCI_COMMAND_MASTER);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 1);
	g_assert_cmphex(live_ioevent(&fx->ioevents, 0)->where.address,
			==,
			moved + VMM_VIRTIO_PCI_NOTIFY_OFFSET);
	g_assert_cmpuint(fx->ioevents.adds, ==, 3);
	test_ring_post(&fx->ring, &buffer, 1);
	fire(live_ioevent(&fx->ioevents, 0));
	g_assert_cmpuint(fx->echo.notifies, ==, 1);
	assert_notify_counts(fx, 0, 1);
}

/* Legacy drivers share one port: each queue matches its index, and follows BAR0. */
static void
test_ioevents_legacy(Fixture *fx, gconstpointer user_data)
{
	guint64 legacy = fx->driver.legacy;
	VmmIoEvent *event;

	use_ioevents(fx);
	legacy_bring_up(fx, 1);
	event = live_ioevent(&fx->ioevents, 0);
	g_assert_true(event->where.pio);
	g_assert_cmphex(event->where.address, ==, legacy + 0x10);
	g_assert_cmpuint(event->where.size, ==, 2);
	g_assert_true(event->where.match_data);
	g_assert_cmpuint(event->where.data, ==, 0);
	/* PFN 0 takes the queue and its registration away. */
	test_bus_write(fx->pio, legacy + 0x08, 4, 0);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 0);
	test_virtio_legacy_setup_queue(&fx->driver, 0, &fx->ring);
	g_assert_cmpuint(fx->ioevents.live->len, ==, 1);
	test_pci_write(fx->pio, fx->slot, VMM_PCI_BAR0, 4, 0xD000);
	g_assert_cmphex(live_ioevent(&fx->ioevents, 0)->where.address, ==, 0xD010);
	g_assert_cmpuint(fx->ioevents.adds, ==, 3);
}

/* Where the VMM refuses, notifications keep working through vCPU exits, and no retry storm. */
static void
test_ioevents_refused(Fixture *fx, gconstpointer user_data)
{
	guint32 id, length;

	fx->ioevents.refuse = TRUE;
	use_ioevents(fx);
	bring_up(fx);
	g_assert_cmpuint(fx->ioevents.adds, ==, 1);
	post_and_kick(fx, 3);
	g_assert_true(test_ring_take_used(&fx->ring, &id, &length));
	assert_notify_counts(fx, 1, 0);
	g_assert_cmpuint(fx->ioevents.adds, ==, 1);
	g_assert_cmpuint(fx->ioevents.removes, ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	test_log_init();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/virtio-pci/ids", test_ids);
	ADD("/virtio-pci/capabilities", test_capabilities);
	ADD("/virtio-pci/modern-negotiation", test_modern_negotiation);
	ADD("/virtio-pci/queue-registers", test_queue_registers);
	ADD("/virtio-pci/intx", test_intx);
	ADD("/virtio-pci/no-interrupt", test_no_interrupt);
	ADD("/virtio-pci/msix", test_msix);
	ADD("/virtio-pci/device-config", test_device_config);
	ADD("/virtio-pci/config-notify", test_config_notify);
	ADD("/virtio-pci/invalid-queue-address", test_invalid_queue_address);
	ADD("/virtio-pci/needs-reset", test_needs_reset);
	ADD("/virtio-pci/reset", test_reset);
	ADD("/virtio-pci/legacy", test_legacy);
	ADD("/virtio-pci/legacy-msix-layout", test_legacy_msix_layout);
	ADD("/virtio-pci/legacy-refuses-version-1", test_legacy_refuses_version_1);
	ADD("/virtio-pci/ioevents-modern", test_ioevents_modern);
	ADD("/virtio-pci/ioevents-bar-moves", test_ioevents_bar_moves);
	ADD("/virtio-pci/ioevents-legacy", test_ioevents_legacy);
	ADD("/virtio-pci/ioevents-refused", test_ioevents_refused);
#undef ADD
	return g_test_run();
}
