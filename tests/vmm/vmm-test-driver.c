/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <sys/mman.h>

#include "vmm-pci.h"
#include "vmm-test-driver.h"
#include "vmm-virtio-pci.h"
#include "vmm-virtio.h"

/* Interrupt recorder. */

static void
record_line(gpointer opaque, guint32 gsi, bool level)
{
	TestIrq *self = opaque;

	g_assert_cmpuint(gsi, <, 16);
	g_mutex_lock(&self->lock);
	if (level)
		self->line_raises[gsi]++;
	else
		self->line_lowers[gsi]++;
	self->line_level[gsi] = level;
	g_mutex_unlock(&self->lock);
}

static void
record_msi(gpointer opaque, guint64 address, guint32 data)
{
	TestIrq *self = opaque;
	TestMsi msi = {address, data};

	g_mutex_lock(&self->lock);
	g_array_append_val(self->msis, msi);
	g_mutex_unlock(&self->lock);
}

static void
record_guest_event(gpointer opaque)
{
	TestIrq *self = opaque;

	g_mutex_lock(&self->lock);
	self->guest_events++;
	g_mutex_unlock(&self->lock);
}

void
test_irq_init(TestIrq *self, VmmIrq *irq)
{
	memset(self, 0, sizeof(*self));
	g_mutex_init(&self->lock);
	self->msis = g_array_new(FALSE, TRUE, sizeof(TestMsi));
	*irq = (VmmIrq){record_line, record_msi, record_guest_event, self};
}

void
test_irq_clear(TestIrq *self)
{
	g_mutex_lock(&self->lock);
	memset(self->line_raises, 0, sizeof(self->line_raises));
	memset(self->line_lowers, 0, sizeof(self->line_lowers));
	g_array_set_size(self->msis, 0);
	self->guest_events = 0;
	g_mutex_unlock(&self->lock);
}

/* Guest memory. */

static guint8 *
host(VmmMemory *memory, guint64 address, gsize length)
{
	guint8 *p = vmm_memory_get(memory, address, length);

	g_assert_nonnull(p);
	return p;
}

void
test_memory_write(VmmMemory *memory, guint64 address, gconstpointer data, gsize length)
{
	memcpy(host(memory, address, length), data, length);
}

void
test_memory_fill(VmmMemory *memory, guint64 address, guint8 byte, gsize length)
{
	memset(host(memory, address, length), byte, length);
}

guint64
test_memory_resident_pages(VmmMemory *memory, guint64 address, guint64 length)
{
	guint64 pages = length / VMM_PAGE_SIZE;
	g_autofree guint8 *vector = g_new0(guint8, pages);
	guint64 resident = 0;

	g_assert_cmpint(mincore(host(memory, address, length), length, vector), ==, 0);
	for (guint64 i = 0; i < pages; i++)
		resident += vector[i] & 1;
	return resident;
}

static void
put16(VmmMemory *memory, guint64 address, guint16 value)
{
	value = GUINT16_TO_LE(value);
	test_memory_write(memory, address, &value, 2);
}

static guint32
get32(VmmMemory *memory, guint64 address)
{
	guint32 value;

	memcpy(&value, host(memory, address, 4), 4);
	return GUINT32_FROM_LE(value);
}

/* Rings. */

guint64
test_ring_legacy_bytes(guint16 size)
{
	guint64 used = (16 * size + 6 + 2 * size + 4095) & ~G_GUINT64_CONSTANT(4095);

	return used + 6 + 8 * size;
}

void
test_ring_init(TestRing *self, VmmMemory *memory, guint64 base, guint16 size)
{
	memset(self, 0, sizeof(*self));
	self->memory = memory;
	self->size = size;
	self->desc = base;
	self->avail = base + 16 * size;
	self->used = (self->avail + 6 + 2 * size + 4095) & ~G_GUINT64_CONSTANT(4095);
	test_memory_fill(memory, base, 0, test_ring_legacy_bytes(size));
}

void
test_ring_write_desc(
	TestRing *self, guint16 index, guint64 address, guint32 length, guint16 flags, guint16 next)
{
	guint8 desc[16];
	guint64 address_le = GUINT64_TO_LE(address);
	guint32 length_le = GUINT32_TO_LE(length);
	guint16 flags_le = GUINT16_TO_LE(flags);
	guint16 next_le = GUINT16_TO_LE(next);

	memcpy(desc, &address_le, 8);
	memcpy(desc + 8, &length_le, 4);
	memcpy(desc + 12, &flags_le, 2);
	memcpy(desc + 14, &next_le, 2);
	test_memory_write(self->memory, self->desc + 16 * (guint64)index, desc, 16);
}

void
test_ring_set_avail_idx(TestRing *self, guint16 idx)
{
	self->avail_idx = idx;
	put16(self->memory, self->avail + 2, idx);
}

void
test_ring_set_avail_flags(TestRing *self, guint16 flags)
{
	put16(self->memory, self->avail, flags);
}

void
test_ring_publish(TestRing *self, guint16 head)
{
	put16(self->memory, self->avail + 4 + 2 * (self->avail_idx % self->size), head);
	test_ring_set_avail_idx(self, self->avail_idx + 1);
}

guint16
test_ring_post(TestRing *self, const TestBuffer *buffers, guint n_buffers)
{
	guint16 head = self->next_desc;

	for (guint i = 0; i < n_buffers; i++) {
		guint16 index = (head + i) % self->size;
		guint16 flags = buffers[i].writable ? TEST_DESC_F_WRITE : 0;
		if (i + 1 < n_buffers)
			flags |= TEST_DESC_F_NEXT;
		test_ring_write_desc(self,
				     index,
				     buffers[i].address,
				     buffers[i].length,
				     flags,
				     (index + 1) % self->size);
	}
	self->next_desc = (head + n_buffers) % self->size;
	test_ring_publish(self, head);
	return head;
}

gboolean
test_ring_take_used(TestRing *self, guint32 *id, guint32 *length)
{
	guint16 used_idx;
	guint64 elem;

	memcpy(&used_idx, host(self->memory, self->used + 2, 2), 2);
	if (GUINT16_FROM_LE(used_idx) == self->last_used)
		return FALSE;
	elem = self->used + 4 + 8 * (guint64)(self->last_used % self->size);
	*id = get32(self->memory, elem);
	*length = get32(self->memory, elem + 4);
	self->last_used++;
	return TRUE;
}

/* Buses and PCI. */

guint32
test_bus_read(VmmBus *bus, guint64 address, guint32 size)
{
	guint32 value = 0;

	vmm_bus_read(bus, address, (guint8 *)&value, size);
	return GUINT32_FROM_LE(value);
}

void
test_bus_write(VmmBus *bus, guint64 address, guint32 size, guint32 value)
{
	value = GUINT32_TO_LE(value);
	vmm_bus_write(bus, address, (const guint8 *)&value, size);
}

static void
select_config(VmmBus *pio, guint slot, guint offset)
{
	test_bus_write(
		pio, VMM_PCI_CONFIG_ADDRESS_PORT, 4, 0x80000000u | slot << 11 | (offset & 0xFC));
}

guint32
test_pci_read(VmmBus *pio, guint slot, guint offset, guint size)
{
	select_config(pio, slot, offset);
	return test_bus_read(pio, VMM_PCI_CONFIG_DATA_PORT + (offset & 3), size);
}

void
test_pci_write(VmmBus *pio, guint slot, guint offset, guint size, guint32 value)
{
	select_config(pio, slot, offset);
	test_bus_write(pio, VMM_PCI_CONFIG_DATA_PORT + (offset & 3), size, value);
}

guint
test_pci_find_capability(VmmBus *pio, guint slot, guint8 id, guint from)
{
	guint offset = from == 0 ? test_pci_read(pio, slot, VMM_PCI_CAPABILITY_LIST, 1)
				 : test_pci_read(pio, slot, from + 1, 1);
	guint hops = 0;

	while (offset != 0 && hops++ < 48) {
		if (test_pci_read(pio, slot, offset, 1) == id)
			return offset;
		offset = test_pci_read(pio, slot, offset + 1, 1);
	}
	return 0;
}

/* virtio-pci driver. */

static guint64
bar_address(TestVirtio *self, guint bar)
{
	guint32 raw = test_pci_read(self->pio, self->slot, VMM_PCI_BAR0 + 4 * bar, 4);

	return raw & 1 ? raw & ~3u : raw & ~15u;
}

static void
find_virtio_capability(TestVirtio *self, guint cap)
{
	guint8 type = test_pci_read(self->pio, self->slot, cap + 3, 1);
	guint8 bar = test_pci_read(self->pio, self->slot, cap + 4, 1);
	guint64 address = bar_address(self, bar) + test_pci_read(self->pio, self->slot, cap + 8, 4);

	if (type == 1)
		self->common = address;
	else if (type == 2) {
		self->notify = address;
		self->notify_multiplier = test_pci_read(self->pio, self->slot, cap + 16, 4);
	} else if (type == 3)
		self->isr = address;
	else if (type == 4)
		self->device = address;
}

void
test_virtio_find(TestVirtio *self, VmmBus *pio, VmmBus *mmio, guint slot)
{
	guint cap = 0;
	guint32 table;

	memset(self, 0, sizeof(*self));
	self->pio = pio;
	self->mmio = mmio;
	self->slot = slot;
	self->legacy = bar_address(self, 0);
	while ((cap = test_pci_find_capability(pio, slot, VMM_PCI_CAP_ID_VENDOR, cap)) != 0)
		find_virtio_capability(self, cap);
	self->msix_capability = test_pci_find_capability(pio, slot, VMM_PCI_CAP_ID_MSIX, 0);
	if (self->msix_capability == 0)
		return;
	table = test_pci_read(pio, slot, self->msix_capability + 4, 4);
	self->msix_table = bar_address(self, table & 7) + (table & ~7u);
	table = test_pci_read(pio, slot, self->msix_capability + 8, 4);
	self->msix_pba = bar_address(self, table & 7) + (table & ~7u);
}

void
test_virtio_set_status(TestVirtio *self, guint8 status)
{
	test_bus_write(self->mmio, self->common + 0x14, 1, status);
}

guint8
test_virtio_status(TestVirtio *self)
{
	return test_bus_read(self->mmio, self->common + 0x14, 1);
}

guint64
test_virtio_device_features(TestVirtio *self)
{
	guint64 features;

	test_bus_write(self->mmio, self->common + 0x00, 4, 0);
	features = test_bus_read(self->mmio, self->common + 0x04, 4);
	test_bus_write(self->mmio, self->common + 0x00, 4, 1);
	return features | (guint64)test_bus_read(self->mmio, self->common + 0x04, 4) << 32;
}

guint8
test_virtio_negotiate(TestVirtio *self, guint64 features)
{
	test_virtio_set_status(self, 0);
	test_virtio_set_status(self, VMM_VIRTIO_STATUS_ACKNOWLEDGE);
	test_virtio_set_status(self, VMM_VIRTIO_STATUS_ACKNOWLEDGE | VMM_VIRTIO_STATUS_DRIVER);
	test_bus_write(self->mmio, self->common + 0x08, 4, 0);
	test_bus_write(self->mmio, self->common + 0x0C, 4, (guint32)features);
	test_bus_write(self->mmio, self->common + 0x08, 4, 1);
	test_bus_write(self->mmio, self->common + 0x0C, 4, features >> 32);
	test_virtio_set_status(self,
			       VMM_VIRTIO_STATUS_ACKNOWLEDGE | VMM_VIRTIO_STATUS_DRIVER |
				       VMM_VIRTIO_STATUS_FEATURES_OK);
	return test_virtio_status(self);
}

void
test_virtio_setup_queue(TestVirtio *self, guint16 index, TestRing *ring)
{
	VmmBus *mmio = self->mmio;
	guint64 common = self->common;

	test_bus_write(mmio, common + 0x16, 2, index);
	test_bus_write(mmio, common + 0x18, 2, ring->size);
	test_bus_write(mmio, common + 0x20, 4, ring->desc);
	test_bus_write(mmio, common + 0x24, 4, ring->desc >> 32);
	test_bus_write(mmio, common + 0x28, 4, ring->avail);
	test_bus_write(mmio, common + 0x2C, 4, ring->avail >> 32);
	test_bus_write(mmio, common + 0x30, 4, ring->used);
	test_bus_write(mmio, common + 0x34, 4, ring->used >> 32);
	test_bus_write(mmio, common + 0x1C, 2, 1);
}

void
test_virtio_notify(TestVirtio *self, guint16 index)
{
	guint16 off;

	if (self->use_legacy) {
		test_bus_write(self->pio, self->legacy + 0x10, 2, index);
		return;
	}
	test_bus_write(self->mmio, self->common + 0x16, 2, index);
	off = test_bus_read(self->mmio, self->common + 0x1E, 2);
	test_bus_write(self->mmio, self->notify + off * self->notify_multiplier, 2, index);
}

guint32
test_virtio_config_read(TestVirtio *self, guint offset, guint size)
{
	return test_bus_read(self->mmio, self->device + offset, size);
}

void
test_virtio_config_write(TestVirtio *self, guint offset, guint size, guint32 value)
{
	test_bus_write(self->mmio, self->device + offset, size, value);
}

guint8
test_virtio_read_isr(TestVirtio *self)
{
	return test_bus_read(self->mmio, self->isr, 1);
}

void
test_virtio_legacy_setup_queue(TestVirtio *self, guint16 index, TestRing *ring)
{
	test_bus_write(self->pio, self->legacy + 0x0E, 2, index);
	g_assert_cmpuint(test_bus_read(self->pio, self->legacy + 0x0C, 2), ==, ring->size);
	test_bus_write(self->pio, self->legacy + 0x08, 4, ring->desc >> 12);
}

typedef struct {
	VmmLogLevel level;
	gchar *pattern;
} TestLogExpectation;

static GQueue test_log_expected = G_QUEUE_INIT;

static void
test_log_handler(VmmLogLevel level, const char *message, void *user_data)
{
	TestLogExpectation *next = g_queue_peek_head(&test_log_expected);

	if (next != NULL && next->level == level &&
	    g_pattern_match_simple(next->pattern, message)) {
		g_queue_pop_head(&test_log_expected);
		g_free(next->pattern);
		g_free(next);
		return;
	}
	if (level == VMM_LOG_WARNING)
		g_error("unexpected worker warning: %s", message);
	g_test_message("worker: %s", message);
}

void
test_log_init(void)
{
	vmm_log_set_handler(test_log_handler, NULL);
}

void
test_log_expect(VmmLogLevel level, const gchar *pattern)
{
	TestLogExpectation *expectation = g_new0(TestLogExpectation, 1);

	expectation->level = level;
	expectation->pattern = g_strdup(pattern);
	g_queue_push_tail(&test_log_expected, expectation);
}

void
test_log_assert_expected(void)
{
	TestLogExpectation *next = g_queue_peek_head(&test_log_expected);

	if (next != NULL)
		g_error("Did not see the expected worker line %s", next->pattern);
}
