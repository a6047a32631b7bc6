/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-console.h"
#include "vmm-test-driver.h"
#include "vmm-test-error.h"
#include "vmm-virtio-pci.h"

#define RAM_SIZE (64 * VMM_MIB)
#define RING_BASE 0x10000
#define RING_STRIDE 0x10000
#define CONTROL_RX_BASE 0x100000
#define CONTROL_TX_BASE 0x180000
#define PORT_RX_BASE 0x200000
#define DATA_TX_BASE 0x400000
#define VERSION_1 (G_GUINT64_CONSTANT(1) << 32)
#define F_MULTIPORT (1u << VMM_CONSOLE_F_MULTIPORT)
#define AGENT_NAME "org.vboxmem.agent.0"
#define BAD_ID G_MAXUINT32
#define N_QUEUES 6

/* Linux's control events (include/uapi/linux/virtio_console.h). */
enum {
	DEVICE_READY = 0,
	PORT_ADD = 1,
	PORT_READY = 3,
	CONSOLE_PORT = 4,
	PORT_OPEN = 6,
	PORT_NAME = 7,
};

typedef struct {
	guint32 id;
	guint16 event;
	guint16 value;
	gchar *name; /* PORT_NAME only */
	guint32 length;
} Control;

typedef struct {
	GByteArray *data;
	guint data_calls;
	guint open_calls;
	gboolean open;
} Recorder;

typedef struct {
	VmmMemory *memory;
	VmmBus *pio;
	VmmBus *mmio;
	VmmPci *pci;
	TestIrq irq_recorder;
	VmmIrq irq;
	Recorder recorder;
	VmmConsole *console;
	VmmVirtio *transport;
	TestVirtio driver;
	TestRing rings[N_QUEUES];
	guint64 buffer_of_head[N_QUEUES][VMM_CONSOLE_QUEUE_SIZE];
	guint n_posted[N_QUEUES];
	guint n_control_sent;
} Fixture;

static void
on_data(gpointer user_data, const guint8 *bytes, gsize length)
{
	Recorder *self = user_data;

	self->data_calls++;
	g_byte_array_append(self->data, bytes, length);
}

static void
on_port_open(gpointer user_data, bool open)
{
	Recorder *self = user_data;

	self->open_calls++;
	self->open = open;
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	const VmmConsoleListener listener = {on_data, on_port_open, &fx->recorder};
	vmm_autoptr(VmmError) error = NULL;

	memset(fx, 0, sizeof(*fx));
	fx->recorder.data = g_byte_array_new();
	fx->memory = vmm_memory_new(RAM_SIZE, &error);
	vmm_assert_no_error(error);
	fx->pio = vmm_bus_new("pio");
	fx->mmio = vmm_bus_new("mmio");
	fx->pci = vmm_pci_new(fx->pio, fx->mmio, &error);
	vmm_assert_no_error(error);
	test_irq_init(&fx->irq_recorder, &fx->irq);
	fx->console = vmm_console_new(fx->memory, AGENT_NAME, &listener);
	g_assert_nonnull(fx->console);
	fx->transport = vmm_virtio_pci_new(
		fx->pci, fx->memory, &fx->irq, vmm_console_get_ops(), fx->console, &error);
	vmm_assert_no_error(error);
	test_virtio_find(&fx->driver,
			 fx->pio,
			 fx->mmio,
			 vmm_pci_device_get_slot(vmm_virtio_pci_get_pci_device(fx->transport)));
	for (guint i = 0; i < N_QUEUES; i++)
		test_ring_init(&fx->rings[i],
			       fx->memory,
			       RING_BASE + i * RING_STRIDE,
			       VMM_CONSOLE_QUEUE_SIZE);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	vmm_virtio_pci_free(fx->transport);
	vmm_console_free(fx->console);
	vmm_pci_free(fx->pci);
	vmm_bus_free(fx->pio);
	vmm_bus_free(fx->mmio);
	vmm_memory_free(fx->memory);
	g_array_unref(fx->irq_recorder.msis);
	g_mutex_clear(&fx->irq_recorder.lock);
	g_byte_array_unref(fx->recorder.data);
}

static gboolean
needs_reset(Fixture *fx)
{
	return (test_virtio_status(&fx->driver) & VMM_VIRTIO_STATUS_NEEDS_RESET) != 0;
}

/* The guest driver, in Linux's order (drivers/char/virtio_console.c). */

static void
bring_up(Fixture *fx, guint64 features)
{
	g_assert_cmphex(test_virtio_negotiate(&fx->driver, VERSION_1 | features) &
				VMM_VIRTIO_STATUS_FEATURES_OK,
			!=,
			0);
	for (guint i = 0; i < N_QUEUES; i++) {
		test_ring_init(&fx->rings[i],
			       fx->memory,
			       RING_BASE + i * RING_STRIDE,
			       VMM_CONSOLE_QUEUE_SIZE);
		test_virtio_setup_queue(&fx->driver, i, &fx->rings[i]);
	}
	test_virtio_set_status(&fx->driver, 0x0F);
}

/* Posts @n receive buffers of @length bytes on @queue, each at its own page. */
static void
post_receive(Fixture *fx, guint queue, guint n, guint32 length, guint64 base)
{
	for (guint i = 0; i < n; i++) {
		guint64 address = base + (fx->n_posted[queue]++ % 64) * 0x10000;
		const TestBuffer buffer = {address, length, TRUE};
		guint16 head = test_ring_post(&fx->rings[queue], &buffer, 1);
		fx->buffer_of_head[queue][head] = address;
	}
	test_virtio_notify(&fx->driver, queue);
}

static void
send_control(Fixture *fx, guint32 id, guint16 event, guint16 value)
{
	guint8 message[8];
	guint64 address = CONTROL_TX_BASE + (fx->n_control_sent++ % 64) * 16;
	const TestBuffer buffer = {address, sizeof(message), FALSE};

	vmm_put_le32(message, 0, id);
	vmm_put_le16(message, 4, event);
	vmm_put_le16(message, 6, value);
	test_memory_write(fx->memory, address, message, sizeof(message));
	test_ring_post(&fx->rings[VMM_CONSOLE_CONTROL_TX_QUEUE], &buffer, 1);
	test_virtio_notify(&fx->driver, VMM_CONSOLE_CONTROL_TX_QUEUE);
}

static const guint8 *
guest_bytes(Fixture *fx, guint64 address, gsize length)
{
	return vmm_memory_get(fx->memory, address, length);
}

/* The next control message the device sent, if any. */
static gboolean
take_control(Fixture *fx, Control *control)
{
	guint32 head, length;
	const guint8 *message;

	memset(control, 0, sizeof(*control));
	if (!test_ring_take_used(&fx->rings[VMM_CONSOLE_CONTROL_RX_QUEUE], &head, &length))
		return FALSE;
	g_assert_cmpuint(length, >=, 8);
	control->length = length;
	message = guest_bytes(fx, fx->buffer_of_head[VMM_CONSOLE_CONTROL_RX_QUEUE][head], length);
	control->id = GUINT32_FROM_LE(*(const guint32 *)message);
	control->event = GUINT16_FROM_LE(*(const guint16 *)(message + 4));
	control->value = GUINT16_FROM_LE(*(const guint16 *)(message + 6));
	if (control->event == PORT_NAME)
		control->name = g_strndup((const gchar *)message + 8, length - 8);
	return TRUE;
}

static void
expect_control(Fixture *fx, guint32 id, guint16 event, guint16 value)
{
	Control control;

	g_assert_true(take_control(fx, &control));
	g_assert_cmpuint(control.id, ==, id);
	g_assert_cmpuint(control.event, ==, event);
	g_assert_cmpuint(control.value, ==, value);
	g_free(control.name);
}

static void
expect_no_control(Fixture *fx)
{
	Control control;

	g_assert_false(take_control(fx, &control));
}

/* Up to the agent port ready and announced; the guest has not opened it. */
static void
handshake(Fixture *fx)
{
	Control control;

	bring_up(fx, F_MULTIPORT);
	post_receive(fx, VMM_CONSOLE_CONTROL_RX_QUEUE, 32, 4096, CONTROL_RX_BASE);
	send_control(fx, BAD_ID, DEVICE_READY, 1);
	expect_control(fx, 0, PORT_ADD, 1);
	expect_control(fx, 1, PORT_ADD, 1);
	expect_no_control(fx);
	post_receive(fx, 0, 8, 4096, PORT_RX_BASE);
	send_control(fx, 0, PORT_READY, 1);
	expect_control(fx, 0, CONSOLE_PORT, 1);
	/* hvc0 set up: Linux says the guest side is open. */
	send_control(fx, 0, PORT_OPEN, 1);
	post_receive(fx, VMM_CONSOLE_AGENT_RX_QUEUE, 8, 4096, PORT_RX_BASE + 0x1000000);
	send_control(fx, 1, PORT_READY, 1);
	g_assert_true(take_control(fx, &control));
	g_assert_cmpuint(control.id, ==, 1);
	g_assert_cmpuint(control.event, ==, PORT_NAME);
	g_assert_cmpstr(control.name, ==, AGENT_NAME);
	g_free(control.name);
	expect_control(fx, 1, PORT_OPEN, 1);
	expect_no_control(fx);
	g_assert_false(needs_reset(fx));
}

static void
open_agent(Fixture *fx)
{
	guint open_calls;

	handshake(fx);
	open_calls = fx->recorder.open_calls;
	send_control(fx, VMM_CONSOLE_AGENT_PORT, PORT_OPEN, 1);
	g_assert_true(vmm_console_agent_open(fx->console));
	g_assert_cmpuint(fx->recorder.open_calls, ==, open_calls + 1);
	g_assert_true(fx->recorder.open);
}

/* Guest to host: a chain of @n buffers at DATA_TX_BASE with these lengths and contents. */
static void
transmit(Fixture *fx, guint queue, const guint8 *data, const guint32 *lengths, guint n)
{
	TestBuffer buffers[8];
	guint64 address = DATA_TX_BASE;

	for (guint i = 0; i < n; i++) {
		buffers[i] = (TestBuffer){address, lengths[i], FALSE};
		test_memory_write(fx->memory, address, data, lengths[i]);
		data += lengths[i];
		address += lengths[i] + 0x100;
	}
	test_ring_post(&fx->rings[queue], buffers, n);
	test_virtio_notify(&fx->driver, queue);
}

static void
test_identity(Fixture *fx, gconstpointer user_data)
{
	guint slot = fx->driver.slot;

	g_assert_cmphex(test_pci_read(fx->pio, slot, VMM_PCI_VENDOR_ID, 4), ==, 0x10031AF4);
	g_assert_cmphex(test_pci_read(fx->pio, slot, VMM_PCI_SUBSYSTEM_ID, 2), ==, 3);
	g_assert_cmphex(test_virtio_device_features(&fx->driver), ==, VERSION_1 | F_MULTIPORT);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 0, 4), ==, 0);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 4, 4), ==, VMM_CONSOLE_N_PORTS);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 8, 4), ==, 0);
	/* emerg_wr is not offered: writes change nothing. */
	test_virtio_config_write(&fx->driver, 8, 4, 'x');
	test_virtio_config_write(&fx->driver, 4, 4, 99);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 4, 4), ==, VMM_CONSOLE_N_PORTS);
}

static void
test_handshake(Fixture *fx, gconstpointer user_data)
{
	VmmConsoleCounters counters;

	handshake(fx);
	/* Said twice, DEVICE_READY and PORT_READY add nothing. */
	send_control(fx, BAD_ID, DEVICE_READY, 1);
	send_control(fx, 1, PORT_READY, 1);
	expect_no_control(fx);
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.ignored_control, ==, 1);
	g_assert_false(vmm_console_agent_open(fx->console));
	g_assert_cmpuint(fx->recorder.open_calls, ==, 0);
	/* The guest opens and closes /dev/virtio-ports/org.vboxmem.agent.0. */
	send_control(fx, 1, PORT_OPEN, 1);
	g_assert_true(vmm_console_agent_open(fx->console));
	send_control(fx, 1, PORT_OPEN, 0);
	g_assert_false(vmm_console_agent_open(fx->console));
	g_assert_cmpuint(fx->recorder.open_calls, ==, 2);
	/* Every control buffer the guest sent came back. */
	for (guint i = 0; i < fx->n_control_sent; i++) {
		guint32 id, length;
		g_assert_true(test_ring_take_used(
			&fx->rings[VMM_CONSOLE_CONTROL_TX_QUEUE], &id, &length));
	}
}

/* The name as Linux copies it: the bytes after the header, NUL-terminated. */
static void
test_named_port(Fixture *fx, gconstpointer user_data)
{
	Control control;

	bring_up(fx, F_MULTIPORT);
	post_receive(fx, VMM_CONSOLE_CONTROL_RX_QUEUE, 4, 4096, CONTROL_RX_BASE);
	send_control(fx, BAD_ID, DEVICE_READY, 1);
	expect_control(fx, 0, PORT_ADD, 1);
	expect_control(fx, 1, PORT_ADD, 1);
	send_control(fx, 1, PORT_READY, 1);
	g_assert_true(take_control(fx, &control));
	g_assert_cmpuint(control.event, ==, PORT_NAME);
	/* 8 + name + NUL, as QEMU sends it. */
	g_assert_cmpuint(control.length, ==, 8 + sizeof(AGENT_NAME));
	g_assert_cmpmem(control.name, control.length - 8, AGENT_NAME, sizeof(AGENT_NAME));
	g_free(control.name);
	expect_control(fx, 1, PORT_OPEN, 1);
}

static void
test_guest_to_host(Fixture *fx, gconstpointer user_data)
{
	const guint8 message[] = "HELLO from the agent";
	const guint32 length = sizeof(message);
	guint32 id, used_length;

	open_agent(fx);
	transmit(fx, VMM_CONSOLE_AGENT_TX_QUEUE, message, &length, 1);
	g_assert_cmpmem(fx->recorder.data->data, fx->recorder.data->len, message, length);
	g_assert_true(
		test_ring_take_used(&fx->rings[VMM_CONSOLE_AGENT_TX_QUEUE], &id, &used_length));
	g_assert_cmpuint(used_length, ==, 0);
	/* Port 0's output is not the agent's. */
	transmit(fx, 1, message, &length, 1);
	g_assert_cmpuint(fx->recorder.data->len, ==, length);
}

static void
test_guest_to_host_multiple_buffers(Fixture *fx, gconstpointer user_data)
{
	const guint32 lengths[] = {1, 10000, 0, 4096, 3};
	g_autoptr(GByteArray) expected = g_byte_array_new();
	VmmConsoleCounters counters;

	open_agent(fx);
	for (guint round = 0; round < 3; round++) {
		g_autofree guint8 *data = g_malloc(20000);
		for (guint i = 0; i < 20000; i++)
			data[i] = g_random_int();
		transmit(fx, VMM_CONSOLE_AGENT_TX_QUEUE, data, lengths, G_N_ELEMENTS(lengths));
		g_byte_array_append(expected, data, 1 + 10000 + 4096 + 3);
	}
	g_assert_cmpmem(
		fx->recorder.data->data, fx->recorder.data->len, expected->data, expected->len);
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.received_bytes, ==, expected->len);
}

static void
test_host_to_guest(Fixture *fx, gconstpointer user_data)
{
	g_autofree guint8 *data = g_malloc(6000);
	guint32 head, length;
	VmmConsoleCounters counters;

	for (guint i = 0; i < 6000; i++)
		data[i] = i * 7;
	open_agent(fx);
	g_assert_true(vmm_console_send(fx->console, data, 6000));
	/* Split over two of the guest's 4 KiB buffers, in order. */
	g_assert_true(test_ring_take_used(&fx->rings[VMM_CONSOLE_AGENT_RX_QUEUE], &head, &length));
	g_assert_cmpuint(length, ==, 4096);
	g_assert_cmpmem(guest_bytes(fx, fx->buffer_of_head[4][head], 4096), 4096, data, 4096);
	g_assert_true(test_ring_take_used(&fx->rings[VMM_CONSOLE_AGENT_RX_QUEUE], &head, &length));
	g_assert_cmpuint(length, ==, 6000 - 4096);
	g_assert_cmpmem(
		guest_bytes(fx, fx->buffer_of_head[4][head], length), length, data + 4096, length);
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.sent_bytes, ==, 6000);
	g_assert_cmpuint(counters.queued_bytes, ==, 0);
}

static void
test_host_waits_for_open(Fixture *fx, gconstpointer user_data)
{
	guint32 head, length;

	handshake(fx);
	g_assert_true(vmm_console_send(fx->console, (const guint8 *)"abc", 3));
	g_assert_false(test_ring_take_used(&fx->rings[4], &head, &length));
	send_control(fx, 1, PORT_OPEN, 1);
	g_assert_true(test_ring_take_used(&fx->rings[4], &head, &length));
	g_assert_cmpuint(length, ==, 3);
	g_assert_cmpmem(guest_bytes(fx, fx->buffer_of_head[4][head], 3), 3, "abc", 3);
}

static void
test_host_queue_bounded(Fixture *fx, gconstpointer user_data)
{
	g_autofree guint8 *data = g_malloc0(VMM_CONSOLE_HOST_QUEUE_BYTES);
	VmmConsoleCounters counters;
	guint32 head, length;

	handshake(fx);
	g_assert_true(vmm_console_send(fx->console, data, VMM_CONSOLE_HOST_QUEUE_BYTES - 1));
	g_assert_true(vmm_console_send(fx->console, data, 1));
	test_log_expect(VMM_LOG_WARNING, "*does not read port 1*");
	g_assert_false(vmm_console_send(fx->console, data, 1));
	test_log_assert_expected();
	/* Logged once until the guest reads again. */
	g_assert_false(vmm_console_send(fx->console, data, 100));
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.dropped_sends, ==, 2);
	g_assert_cmpuint(counters.dropped_bytes, ==, 101);
	g_assert_cmpuint(counters.queued_bytes, ==, VMM_CONSOLE_HOST_QUEUE_BYTES);
	/* The guest opens the port: 8 buffers of 4 KiB drain half of it. */
	send_control(fx, 1, PORT_OPEN, 1);
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.queued_bytes, ==, VMM_CONSOLE_HOST_QUEUE_BYTES - 8 * 4096);
	while (test_ring_take_used(&fx->rings[4], &head, &length))
		;
	post_receive(fx, 4, 8, 4096, PORT_RX_BASE + 0x1000000);
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.queued_bytes, ==, 0);
	test_log_expect(VMM_LOG_WARNING, "*does not read port 1*");
	g_assert_false(vmm_console_send(fx->console, data, VMM_CONSOLE_HOST_QUEUE_BYTES + 1));
	test_log_assert_expected();
}

static void
test_control_bad_ids(Fixture *fx, gconstpointer user_data)
{
	VmmConsoleCounters counters;

	bring_up(fx, F_MULTIPORT);
	post_receive(fx, VMM_CONSOLE_CONTROL_RX_QUEUE, 32, 4096, CONTROL_RX_BASE);
	/* Before DEVICE_READY no port exists. */
	test_log_expect(VMM_LOG_MESSAGE, "*ignored control message event 3 *logged once*");
	send_control(fx, 1, PORT_READY, 1);
	test_log_assert_expected();
	send_control(fx, BAD_ID, DEVICE_READY, 1);
	expect_control(fx, 0, PORT_ADD, 1);
	expect_control(fx, 1, PORT_ADD, 1);
	send_control(fx, 2, PORT_READY, 1);
	send_control(fx, BAD_ID, PORT_READY, 1);
	send_control(fx, 1, PORT_OPEN, 1); /* not ready yet */
	send_control(fx, 1, 99, 1);
	send_control(fx, 1, PORT_ADD, 1);
	send_control(fx, 1, CONSOLE_PORT, 1);
	send_control(fx, 1, PORT_NAME, 1);
	expect_no_control(fx);
	g_assert_false(vmm_console_agent_open(fx->console));
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.ignored_control, ==, 8);
	g_assert_false(needs_reset(fx));
	/* A port the guest failed to set up stays quiet. */
	test_log_expect(VMM_LOG_WARNING, "*failed to set up port 1*");
	send_control(fx, 1, PORT_READY, 0);
	test_log_assert_expected();
	expect_no_control(fx);
	test_log_expect(VMM_LOG_WARNING, "*failed to set up the device*");
	send_control(fx, BAD_ID, DEVICE_READY, 0);
	test_log_assert_expected();
	g_assert_false(needs_reset(fx));
}

static void
post_control_tx(Fixture *fx, guint32 length, gboolean writable)
{
	const TestBuffer buffer = {CONTROL_TX_BASE, length, writable};

	test_ring_post(&fx->rings[VMM_CONSOLE_CONTROL_TX_QUEUE], &buffer, 1);
	test_virtio_notify(&fx->driver, VMM_CONSOLE_CONTROL_TX_QUEUE);
}

static void
test_control_bad_buffers(Fixture *fx, gconstpointer user_data)
{
	guint32 id, length;

	bring_up(fx, F_MULTIPORT);
	test_log_expect(VMM_LOG_WARNING, "*queue 3: buffer of 4 bytes*");
	post_control_tx(fx, 4, FALSE);
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
	g_assert_false(test_ring_take_used(&fx->rings[3], &id, &length));

	bring_up(fx, F_MULTIPORT);
	test_log_expect(VMM_LOG_WARNING, "*queue 3: buffer of 4097 bytes*");
	post_control_tx(fx, 4097, FALSE);
	test_log_assert_expected();

	bring_up(fx, F_MULTIPORT);
	test_log_expect(VMM_LOG_WARNING, "*queue 3: device-writable buffer*");
	post_control_tx(fx, 8, TRUE);
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
}

static void
test_data_wrong_direction(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer writable = {DATA_TX_BASE, 16, TRUE};
	const TestBuffer readable[] = {{DATA_TX_BASE, 16, FALSE}, {DATA_TX_BASE + 16, 16, TRUE}};
	static guint8 data[8 * 4096 + 1];
	guint32 id, length;

	open_agent(fx);
	test_log_expect(VMM_LOG_WARNING, "*queue 5: device-writable buffer in a transmit queue*");
	test_ring_post(&fx->rings[5], &writable, 1);
	test_virtio_notify(&fx->driver, 5);
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
	g_assert_cmpuint(fx->recorder.data->len, ==, 0);

	/* Reset by the driver, then a receive buffer the device may not write. */
	fx->n_control_sent = 0;
	memset(fx->n_posted, 0, sizeof(fx->n_posted));
	open_agent(fx);
	/* Behind the 8 good buffers of the handshake. */
	test_ring_post(&fx->rings[4], readable, 2);
	test_log_expect(VMM_LOG_WARNING, "*queue 4: device-readable buffer in a receive queue*");
	g_assert_true(vmm_console_send(fx->console, data, sizeof(data)));
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
	for (guint i = 0; i < 8; i++)
		g_assert_true(test_ring_take_used(&fx->rings[4], &id, &length));
	g_assert_false(test_ring_take_used(&fx->rings[4], &id, &length));
	g_assert_true(needs_reset(fx));
}

static void
test_data_out_of_range(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffers[] = {{DATA_TX_BASE, 16, FALSE}, {RAM_SIZE - 8, 16, FALSE}};

	open_agent(fx);
	test_log_expect(VMM_LOG_WARNING, "*queue 5:*");
	test_ring_post(&fx->rings[5], buffers, 2);
	test_virtio_notify(&fx->driver, 5);
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
	g_assert_cmpuint(fx->recorder.data->len, ==, 0);
	/* Nothing more until the driver resets the device. */
	vmm_console_send(fx->console, (const guint8 *)"x", 1);
	test_virtio_notify(&fx->driver, 5);
}

static void
test_data_loop(Fixture *fx, gconstpointer user_data)
{
	TestRing *ring = &fx->rings[5];

	open_agent(fx);
	test_ring_write_desc(ring, 0, DATA_TX_BASE, 16, TEST_DESC_F_NEXT, 1);
	test_ring_write_desc(ring, 1, DATA_TX_BASE, 16, TEST_DESC_F_NEXT, 0);
	test_ring_publish(ring, 0);
	test_log_expect(VMM_LOG_WARNING, "*queue 5:*");
	test_virtio_notify(&fx->driver, 5);
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
	g_assert_cmpuint(fx->recorder.data->len, ==, 0);
}

static void
test_data_huge(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffers[] = {{DATA_TX_BASE, 200 * 1024, FALSE},
				      {DATA_TX_BASE, 200 * 1024, FALSE}};
	const TestBuffer whole_ram = {0, G_MAXUINT32, FALSE};

	open_agent(fx);
	test_log_expect(VMM_LOG_WARNING, "*queue 5: buffer of 409600 bytes*");
	test_ring_post(&fx->rings[5], buffers, 2);
	test_virtio_notify(&fx->driver, 5);
	test_log_assert_expected();
	g_assert_cmpuint(fx->recorder.data->len, ==, 0);

	fx->n_control_sent = 0;
	memset(fx->n_posted, 0, sizeof(fx->n_posted));
	open_agent(fx);
	test_log_expect(VMM_LOG_WARNING, "*queue 5:*");
	test_ring_post(&fx->rings[5], &whole_ram, 1);
	test_virtio_notify(&fx->driver, 5);
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
}

static void
test_small_control_buffer(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx, F_MULTIPORT);
	post_receive(fx, VMM_CONSOLE_CONTROL_RX_QUEUE, 1, 4, CONTROL_RX_BASE);
	test_log_expect(VMM_LOG_WARNING, "*queue 2: control buffer of 4 bytes is too small*");
	send_control(fx, BAD_ID, DEVICE_READY, 1);
	test_log_assert_expected();
	g_assert_true(needs_reset(fx));
}

typedef struct {
	Fixture *fx;
	guint calls;
} Republisher;

/* A guest on another vCPU that writes again as soon as its buffer is read. */
static void
republish(gpointer user_data, const guint8 *bytes, gsize length)
{
	Republisher *guest = user_data;
	const TestBuffer buffer = {DATA_TX_BASE, 1, FALSE};

	if (++guest->calls < 4 * VMM_CONSOLE_QUEUE_SIZE)
		test_ring_post(&guest->fx->rings[5], &buffer, 1);
}

static void
test_notification_bounded(Fixture *fx, gconstpointer user_data)
{
	Republisher guest = {fx, 0};
	const VmmConsoleListener listener = {republish, NULL, &guest};
	const TestBuffer buffer = {DATA_TX_BASE, 1, FALSE};

	open_agent(fx);
	vmm_console_set_listener(fx->console, &listener);
	test_ring_post(&fx->rings[5], &buffer, 1);
	test_virtio_notify(&fx->driver, 5);
	g_assert_cmpuint(guest.calls, ==, VMM_CONSOLE_QUEUE_SIZE);
	test_virtio_notify(&fx->driver, 5);
	g_assert_cmpuint(guest.calls, ==, 2 * VMM_CONSOLE_QUEUE_SIZE);
	vmm_console_set_listener(fx->console, NULL);
}

/* A driver without MULTIPORT: port 0 only, no control queues, no agent. */
static void
test_without_multiport(Fixture *fx, gconstpointer user_data)
{
	const guint8 message[] = "console output";
	const guint32 length = sizeof(message);
	VmmConsoleCounters counters;
	guint32 id, used_length;

	bring_up(fx, 0);
	post_receive(fx, VMM_CONSOLE_CONTROL_RX_QUEUE, 4, 4096, CONTROL_RX_BASE);
	send_control(fx, BAD_ID, DEVICE_READY, 1);
	expect_no_control(fx);
	transmit(fx, 1, message, &length, 1);
	transmit(fx, VMM_CONSOLE_AGENT_TX_QUEUE, message, &length, 1);
	g_assert_true(test_ring_take_used(&fx->rings[1], &id, &used_length));
	g_assert_cmpuint(fx->recorder.data->len, ==, 0);
	vmm_console_send(fx->console, message, length);
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.console_bytes, ==, length);
	g_assert_cmpuint(counters.queued_bytes, ==, length);
	g_assert_false(needs_reset(fx));
}

static void
test_reset(Fixture *fx, gconstpointer user_data)
{
	VmmConsoleCounters counters;

	handshake(fx);
	vmm_console_send(fx->console, (const guint8 *)"pending", 7);
	send_control(fx, 1, PORT_OPEN, 1);
	vmm_console_send(fx->console, (const guint8 *)"more", 4);
	test_virtio_set_status(&fx->driver, 0);
	g_assert_false(vmm_console_agent_open(fx->console));
	g_assert_false(fx->recorder.open);
	g_assert_cmpuint(fx->recorder.open_calls, ==, 2);
	vmm_console_get_counters(fx->console, &counters);
	g_assert_cmpuint(counters.queued_bytes, ==, 0);
	/* The next boot of the driver starts from the beginning. */
	fx->n_control_sent = 0;
	memset(fx->n_posted, 0, sizeof(fx->n_posted));
	handshake(fx);
}

static void
test_bad_port_name(void)
{
	g_autofree gchar *long_name = g_strnfill(VMM_CONSOLE_NAME_MAX + 1, 'a');
	const gchar *const bad[] = {"", "../agent", "a b", ".hidden", "agent\n", long_name, NULL};
	vmm_autoptr(VmmError) error = NULL;
	vmm_autoptr(VmmMemory) memory = vmm_memory_new(RAM_SIZE, &error);
	VmmConsole *console;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_null(vmm_console_new(memory, bad[i], NULL));
	long_name[VMM_CONSOLE_NAME_MAX] = '\0';
	console = vmm_console_new(memory, long_name, NULL);
	g_assert_nonnull(console);
	/* Without a transport, the host's bytes wait. */
	g_assert_true(vmm_console_send(console, (const guint8 *)"x", 1));
	vmm_console_free(console);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	test_log_init();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/console/identity", test_identity);
	ADD("/console/handshake", test_handshake);
	ADD("/console/named-port", test_named_port);
	ADD("/console/guest-to-host", test_guest_to_host);
	ADD("/console/guest-to-host-multiple-buffers", test_guest_to_host_multiple_buffers);
	ADD("/console/host-to-guest", test_host_to_guest);
	ADD("/console/host-waits-for-open", test_host_waits_for_open);
	ADD("/console/host-queue-bounded", test_host_queue_bounded);
	ADD("/console/control-bad-ids", test_control_bad_ids);
	ADD("/console/control-bad-buffers", test_control_bad_buffers);
	ADD("/console/data-wrong-direction", test_data_wrong_direction);
	ADD("/console/data-out-of-range", test_data_out_of_range);
	ADD("/console/data-loop", test_data_loop);
	ADD("/console/data-huge", test_data_huge);
	ADD("/console/small-control-buffer", test_small_control_buffer);
	ADD("/console/notification-bounded", test_notification_bounded);
	ADD("/console/without-multiport", test_without_multiport);
	ADD("/console/reset", test_reset);
#undef ADD
	g_test_add_func("/console/bad-port-name", test_bad_port_name);
	return g_test_run();
}
