/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

#include "vmm-bus.h"
#include "vmm-error.h"
#include "vmm-irq.h"
#include "vmm-log.h"
#include "vmm-memory.h"

G_BEGIN_DECLS

/*
 * The guest side of the device tests: an interrupt recorder standing in for
 * KVM, and a driver that writes rings into guest memory and talks to devices
 * only through the PIO and MMIO buses, as a guest would.
 */

#define TEST_DESC_F_NEXT 1
#define TEST_DESC_F_WRITE 2
#define TEST_DESC_F_INDIRECT 4

typedef struct {
	GMutex lock;
	guint line_raises[16];
	guint line_lowers[16];
	gboolean line_level[16];
	GArray *msis; /* TestMsi */
	guint guest_events;
} TestIrq;

typedef struct {
	guint64 address;
	guint32 data;
} TestMsi;

void test_irq_init(TestIrq *self, VmmIrq *irq);
void test_irq_clear(TestIrq *self);

/* A split virtqueue laid out by the driver: descriptors, then avail, used page-aligned. */
typedef struct {
	VmmMemory *memory;
	guint16 size;
	guint64 desc;
	guint64 avail;
	guint64 used;
	guint16 next_desc;
	guint16 avail_idx;
	guint16 last_used;
} TestRing;

typedef struct {
	guint64 address;
	guint32 length;
	gboolean writable;
} TestBuffer;

void test_ring_init(TestRing *self, VmmMemory *memory, guint64 base, guint16 size);
/* The legacy layout: used ring at the next 4096-byte boundary after avail. */
guint64 test_ring_legacy_bytes(guint16 size);
void test_ring_write_desc(TestRing *self,
			  guint16 index,
			  guint64 address,
			  guint32 length,
			  guint16 flags,
			  guint16 next);
void test_ring_publish(TestRing *self, guint16 head);
void test_ring_set_avail_idx(TestRing *self, guint16 idx);
void test_ring_set_avail_flags(TestRing *self, guint16 flags);
/* Writes a chain of @n_buffers descriptors from the next free ones and publishes it. */
guint16 test_ring_post(TestRing *self, const TestBuffer *buffers, guint n_buffers);
/* The next used element, if the device returned one. */
gboolean test_ring_take_used(TestRing *self, guint32 *id, guint32 *length);

/* Guest memory access by guest-physical address. */
void test_memory_write(VmmMemory *memory, guint64 address, gconstpointer data, gsize length);
void test_memory_fill(VmmMemory *memory, guint64 address, guint8 byte, gsize length);
/* Pages of [address, address+length) resident in this process (mincore). */
guint64 test_memory_resident_pages(VmmMemory *memory, guint64 address, guint64 length);

/* Bus accesses. */
guint32 test_bus_read(VmmBus *bus, guint64 address, guint32 size);
void test_bus_write(VmmBus *bus, guint64 address, guint32 size, guint32 value);

/* PCI configuration mechanism #1 for 00:@slot.0. */
guint32 test_pci_read(VmmBus *pio, guint slot, guint offset, guint size);
void test_pci_write(VmmBus *pio, guint slot, guint offset, guint size, guint32 value);
/* Offset of the first capability with @id at or after the one at @from (0: the list head). */
guint test_pci_find_capability(VmmBus *pio, guint slot, guint8 id, guint from);

/* A virtio-pci driver: finds the registers from the capabilities, modern or legacy. */
typedef struct {
	VmmBus *pio;
	VmmBus *mmio;
	guint slot;
	guint64 common;
	guint64 notify;
	guint32 notify_multiplier;
	guint64 isr;
	guint64 device;
	guint64 legacy;
	guint64 msix_table;
	guint64 msix_pba;
	guint msix_capability;
	gboolean use_legacy; /* notify through the legacy register */
} TestVirtio;

void test_virtio_find(TestVirtio *self, VmmBus *pio, VmmBus *mmio, guint slot);
/* Reset, ACKNOWLEDGE|DRIVER, write @features, set FEATURES_OK; returns the status read back. */
guint8 test_virtio_negotiate(TestVirtio *self, guint64 features);
guint64 test_virtio_device_features(TestVirtio *self);
void test_virtio_setup_queue(TestVirtio *self, guint16 index, TestRing *ring);
void test_virtio_set_status(TestVirtio *self, guint8 status);
guint8 test_virtio_status(TestVirtio *self);
void test_virtio_notify(TestVirtio *self, guint16 index);
guint32 test_virtio_config_read(TestVirtio *self, guint offset, guint size);
void test_virtio_config_write(TestVirtio *self, guint offset, guint size, guint32 value);
guint8 test_virtio_read_isr(TestVirtio *self);
/* The legacy driver's sequence: features (low 32 bits), queue PFNs. */
void test_virtio_legacy_setup_queue(TestVirtio *self, guint16 index, TestRing *ring);

G_END_DECLS

/*
 * The worker's log in tests, as g_test_expect_message(): after
 * test_log_init(), every warning must have been expected.
 */
void test_log_init(void);
void test_log_expect(VmmLogLevel level, const gchar *pattern);
void test_log_assert_expected(void);
