/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-test-error.h"
#include "vmm-balloon.h"
#include "vmm-test-driver.h"
#include "vmm-virtio-pci.h"

#define RAM_SIZE (64 * VMM_MIB)
#define RING_BASE 0x10000
#define RING_STRIDE 0x10000
#define PFN_BUFFER 0x100000
#define STATS_BUFFER 0x110000
/* Pages the tests balloon: from 16 MiB on. */
#define PAGES_BASE (16 * VMM_MIB)
#define PAGES_PFN (PAGES_BASE >> VMM_PAGE_SHIFT)
#define VERSION_1 (G_GUINT64_CONSTANT(1) << 32)
#define F_STATS (1u << VMM_BALLOON_F_STATS_VQ)
#define F_DEFLATE_ON_OOM (1u << VMM_BALLOON_F_DEFLATE_ON_OOM)
#define F_REPORTING (1u << VMM_BALLOON_F_FREE_PAGE_REPORTING)
#define S_MEMFREE 4
#define S_MEMTOT 5

typedef struct {
	guint actual_calls;
	guint64 actual_bytes;
	guint stats_calls;
	VmmBalloonStats stats;
	guint reported_calls;
	guint64 reported_bytes;
} Recorder;

typedef struct {
	VmmMemory *memory;
	VmmBus *pio;
	VmmBus *mmio;
	VmmPci *pci;
	TestIrq irq_recorder;
	VmmIrq irq;
	Recorder recorder;
	VmmBalloon *balloon;
	VmmVirtio *transport;
	TestVirtio driver;
	TestRing rings[4];
	guint32 line;
} Fixture;

static void
on_actual(gpointer user_data, guint64 bytes)
{
	Recorder *self = user_data;

	self->actual_calls++;
	self->actual_bytes = bytes;
}

static void
on_stats(gpointer user_data, const VmmBalloonStats *stats)
{
	Recorder *self = user_data;

	self->stats_calls++;
	self->stats = *stats;
}

static void
on_reported(gpointer user_data, guint64 bytes)
{
	Recorder *self = user_data;

	self->reported_calls++;
	self->reported_bytes += bytes;
}

static void
fixture_setup_size(Fixture *fx, guint64 ram_size)
{
	const VmmBalloonFeatures features = {TRUE, TRUE, TRUE};
	const VmmBalloonListener listener = {on_actual, on_stats, on_reported, &fx->recorder};
	vmm_autoptr(VmmError) error = NULL;

	memset(fx, 0, sizeof(*fx));
	fx->memory = vmm_memory_new(ram_size, &error);
	vmm_assert_no_error(error);
	fx->pio = vmm_bus_new("pio");
	fx->mmio = vmm_bus_new("mmio");
	fx->pci = vmm_pci_new(fx->pio, fx->mmio, &error);
	vmm_assert_no_error(error);
	test_irq_init(&fx->irq_recorder, &fx->irq);
	fx->balloon = vmm_balloon_new(fx->memory, &features, &listener);
	fx->transport = vmm_virtio_pci_new(
		fx->pci, fx->memory, &fx->irq, vmm_balloon_get_ops(), fx->balloon, &error);
	vmm_assert_no_error(error);
	fx->line = vmm_pci_device_get_irq(vmm_virtio_pci_get_pci_device(fx->transport));
	test_virtio_find(&fx->driver,
			 fx->pio,
			 fx->mmio,
			 vmm_pci_device_get_slot(vmm_virtio_pci_get_pci_device(fx->transport)));
	for (guint i = 0; i < G_N_ELEMENTS(fx->rings); i++)
		test_ring_init(&fx->rings[i],
			       fx->memory,
			       RING_BASE + i * RING_STRIDE,
			       VMM_BALLOON_QUEUE_SIZE);
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	fixture_setup_size(fx, RAM_SIZE);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	vmm_virtio_pci_free(fx->transport);
	vmm_balloon_free(fx->balloon);
	vmm_pci_free(fx->pci);
	vmm_bus_free(fx->pio);
	vmm_bus_free(fx->mmio);
	vmm_memory_free(fx->memory);
	g_array_unref(fx->irq_recorder.msis);
	g_mutex_clear(&fx->irq_recorder.lock);
}

/* Negotiates @features, sets up the queues they imply (Linux's numbering), DRIVER_OK. */
static void
bring_up(Fixture *fx, guint32 features)
{
	guint n_queues = 2 + ((features & F_STATS) != 0) + ((features & F_REPORTING) != 0);

	g_assert_cmphex(test_virtio_negotiate(&fx->driver, VERSION_1 | features) &
				VMM_VIRTIO_STATUS_FEATURES_OK,
			!=,
			0);
	for (guint i = 0; i < n_queues; i++)
		test_virtio_setup_queue(&fx->driver, i, &fx->rings[i]);
}

static void
driver_ok(Fixture *fx)
{
	test_virtio_set_status(&fx->driver, 0x0F);
}

static void
post_pfns(Fixture *fx, guint queue, const guint32 *pfns, guint n_pfns)
{
	g_autofree guint32 *le = g_new(guint32, n_pfns);
	const TestBuffer buffer = {PFN_BUFFER, n_pfns * 4, FALSE};

	for (guint i = 0; i < n_pfns; i++)
		le[i] = GUINT32_TO_LE(pfns[i]);
	test_memory_write(fx->memory, PFN_BUFFER, le, n_pfns * 4);
	test_ring_post(&fx->rings[queue], &buffer, 1);
	test_virtio_notify(&fx->driver, queue);
}

static void
post_pfn_range(Fixture *fx, guint queue, guint32 first, guint n_pfns)
{
	g_autofree guint32 *pfns = g_new(guint32, n_pfns);

	for (guint i = 0; i < n_pfns; i++)
		pfns[i] = first + i;
	post_pfns(fx, queue, pfns, n_pfns);
}

static gboolean
take_used(Fixture *fx, guint queue)
{
	guint32 id, length;

	return test_ring_take_used(&fx->rings[queue], &id, &length);
}

static void
dirty_pages(Fixture *fx, guint64 address, guint n_pages)
{
	test_memory_fill(fx->memory, address, 0xAB, (gsize)n_pages * VMM_PAGE_SIZE);
	g_assert_cmpuint(test_memory_resident_pages(fx->memory, address, n_pages * VMM_PAGE_SIZE),
			 ==,
			 n_pages);
}

static void
test_identity(Fixture *fx, gconstpointer user_data)
{
	guint slot = fx->driver.slot;

	g_assert_cmphex(test_pci_read(fx->pio, slot, VMM_PCI_VENDOR_ID, 4), ==, 0x10021AF4);
	g_assert_cmphex(test_pci_read(fx->pio, slot, VMM_PCI_SUBSYSTEM_ID, 2), ==, 5);
	g_assert_cmphex(test_virtio_device_features(&fx->driver),
			==,
			VERSION_1 | F_STATS | F_DEFLATE_ON_OOM | F_REPORTING);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 0, 4), ==, 0);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 4, 4), ==, 0);
}

static void
test_inflate_discards(Fixture *fx, gconstpointer user_data)
{
	guint8 *host = vmm_memory_get(fx->memory, PAGES_BASE, 64 * VMM_PAGE_SIZE);

	bring_up(fx, 0);
	driver_ok(fx);
	dirty_pages(fx, PAGES_BASE, 64);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN, 64);
	g_assert_true(take_used(fx, VMM_BALLOON_INFLATE_QUEUE));
	g_assert_cmpuint(
		test_memory_resident_pages(fx->memory, PAGES_BASE, 64 * VMM_PAGE_SIZE), ==, 0);
	g_assert_cmpuint(host[0], ==, 0);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 64 * VMM_PAGE_SIZE);
	g_assert_cmpuint(fx->recorder.actual_calls, ==, 1);
	g_assert_cmpuint(fx->recorder.actual_bytes, ==, 64 * VMM_PAGE_SIZE);
	g_assert_cmpuint(vmm_balloon_get_discard_count(fx->balloon), ==, 1);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 1);
}

/* The owner names its listener after the device exists; it may also change or drop it. */
static void
test_set_listener(Fixture *fx, gconstpointer user_data)
{
	Recorder other = {0};
	const VmmBalloonListener listener = {on_actual, on_stats, on_reported, &other};

	bring_up(fx, 0);
	driver_ok(fx);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN, 8);
	g_assert_true(take_used(fx, VMM_BALLOON_INFLATE_QUEUE));
	g_assert_cmpuint(fx->recorder.actual_calls, ==, 1);

	vmm_balloon_set_listener(fx->balloon, NULL);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN + 8, 8);
	g_assert_true(take_used(fx, VMM_BALLOON_INFLATE_QUEUE));
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 16 * VMM_PAGE_SIZE);
	g_assert_cmpuint(fx->recorder.actual_calls, ==, 1);

	vmm_balloon_set_listener(fx->balloon, &listener);
	post_pfn_range(fx, VMM_BALLOON_DEFLATE_QUEUE, PAGES_PFN, 8);
	g_assert_true(take_used(fx, VMM_BALLOON_DEFLATE_QUEUE));
	g_assert_cmpuint(fx->recorder.actual_calls, ==, 1);
	g_assert_cmpuint(other.actual_calls, ==, 1);
	g_assert_cmpuint(other.actual_bytes, ==, 8 * VMM_PAGE_SIZE);
}

static void
test_coalescing(Fixture *fx, gconstpointer user_data)
{
	/* Three runs, shuffled, with repeats: three discards. */
	const guint32 p = PAGES_PFN;
	const guint32 pfns[] = {p + 5,
				p + 0x100,
				p + 0x21,
				p + 0,
				p + 3,
				p + 0x20,
				p + 1,
				p + 2,
				p + 4,
				p + 0x22,
				p + 0x21,
				p + 6,
				p + 0x100,
				p + 7,
				p + 0x23};

	bring_up(fx, 0);
	driver_ok(fx);
	dirty_pages(fx, PAGES_BASE, 0x101);
	post_pfns(fx, VMM_BALLOON_INFLATE_QUEUE, pfns, G_N_ELEMENTS(pfns));
	g_assert_cmpuint(vmm_balloon_get_discard_count(fx->balloon), ==, 3);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 13 * VMM_PAGE_SIZE);
	g_assert_cmpuint(test_memory_resident_pages(fx->memory, PAGES_BASE, 0x101 * VMM_PAGE_SIZE),
			 ==,
			 0x101 - 13);
}

static void
test_double_inflate(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx, 0);
	driver_ok(fx);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN, 10);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN + 5, 10);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 15 * VMM_PAGE_SIZE);
	g_assert_true(take_used(fx, VMM_BALLOON_INFLATE_QUEUE));
	g_assert_true(take_used(fx, VMM_BALLOON_INFLATE_QUEUE));
}

static void
test_out_of_range_pfn(Fixture *fx, gconstpointer user_data)
{
	const guint32 pfns[] = {PAGES_PFN, PAGES_PFN + 1, RAM_SIZE >> VMM_PAGE_SHIFT};

	bring_up(fx, 0);
	driver_ok(fx);
	dirty_pages(fx, PAGES_BASE, 2);
	test_log_expect(VMM_LOG_WARNING, "*PFN 0x4000 is not guest RAM*");
	post_pfns(fx, VMM_BALLOON_INFLATE_QUEUE, pfns, G_N_ELEMENTS(pfns));
	test_log_assert_expected();
	g_assert_cmpuint(
		test_memory_resident_pages(fx->memory, PAGES_BASE, 2 * VMM_PAGE_SIZE), ==, 2);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 0);
	g_assert_cmpuint(vmm_balloon_get_discard_count(fx->balloon), ==, 0);
	g_assert_false(take_used(fx, VMM_BALLOON_INFLATE_QUEUE));
	g_assert_cmphex(test_virtio_status(&fx->driver) & VMM_VIRTIO_STATUS_NEEDS_RESET, !=, 0);
	/* Nothing more is processed until the driver resets the device. */
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN, 2);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 0);
}

static void
test_bad_buffer_length(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffer = {PFN_BUFFER, 6, FALSE};

	bring_up(fx, 0);
	driver_ok(fx);
	test_log_expect(VMM_LOG_WARNING, "*PFN buffer of 6 bytes*");
	test_ring_post(&fx->rings[0], &buffer, 1);
	test_virtio_notify(&fx->driver, 0);
	test_log_assert_expected();
}

static void
test_deflate(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx, 0);
	driver_ok(fx);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN, 16);
	post_pfn_range(fx, VMM_BALLOON_DEFLATE_QUEUE, PAGES_PFN, 8);
	g_assert_true(take_used(fx, VMM_BALLOON_DEFLATE_QUEUE));
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 8 * VMM_PAGE_SIZE);
	g_assert_cmpuint(fx->recorder.actual_bytes, ==, 8 * VMM_PAGE_SIZE);
	/* Deflating pages never inflated changes nothing and is logged once. */
	test_log_expect(VMM_LOG_MESSAGE, "*never inflated*");
	post_pfn_range(fx, VMM_BALLOON_DEFLATE_QUEUE, PAGES_PFN + 100, 4);
	post_pfn_range(fx, VMM_BALLOON_DEFLATE_QUEUE, PAGES_PFN + 200, 4);
	test_log_assert_expected();
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 8 * VMM_PAGE_SIZE);
	/* The deflated pages are the guest's again. */
	test_memory_fill(fx->memory, PAGES_BASE, 1, VMM_PAGE_SIZE);
}

static void
test_guest_actual(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx, 0);
	driver_ok(fx);
	/* The driver claims a lot; the host believes only what it discarded. */
	test_virtio_config_write(&fx->driver, 4, 4, 1000);
	test_virtio_config_write(&fx->driver, 0, 4, 77);
	g_assert_cmpuint(vmm_balloon_get_guest_actual(fx->balloon), ==, 1000 * VMM_PAGE_SIZE);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 0);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 0, 4), ==, 0);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 4, 4), ==, 1000);
}

static void
test_target(Fixture *fx, gconstpointer user_data)
{
	guint8 generation;

	bring_up(fx, 0);
	driver_ok(fx);
	generation = test_bus_read(fx->mmio, fx->driver.common + 0x15, 1);
	vmm_balloon_set_target(fx->balloon, 8 * VMM_MIB + 100);
	g_assert_cmpuint(vmm_balloon_get_target(fx->balloon), ==, 8 * VMM_MIB);
	g_assert_cmpuint(test_virtio_config_read(&fx->driver, 0, 4), ==, 2048);
	g_assert_cmpuint(test_bus_read(fx->mmio, fx->driver.common + 0x15, 1), ==, generation + 1);
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 1);
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 1);
	g_assert_cmphex(test_virtio_read_isr(&fx->driver), ==, 2);
	/* Never more than guest RAM. */
	vmm_balloon_set_target(fx->balloon, G_MAXUINT64);
	g_assert_cmpuint(vmm_balloon_get_target(fx->balloon), ==, RAM_SIZE);
}

static void
write_stats(Fixture *fx, guint64 address, const guint16 *tags, const guint64 *values, guint n)
{
	for (guint i = 0; i < n; i++) {
		guint16 tag = GUINT16_TO_LE(tags[i]);
		guint64 value = GUINT64_TO_LE(values[i]);
		test_memory_write(fx->memory, address + 10 * i, &tag, 2);
		test_memory_write(fx->memory, address + 10 * i + 2, &value, 8);
	}
}

static void
post_stats(Fixture *fx, guint64 free, guint64 total, guint32 length)
{
	const guint16 tags[] = {S_MEMFREE, 999, S_MEMTOT};
	const guint64 values[] = {free, 12345, total};
	const TestBuffer buffer = {STATS_BUFFER, length, FALSE};

	write_stats(fx, STATS_BUFFER, tags, values, 3);
	test_ring_post(&fx->rings[2], &buffer, 1);
	test_virtio_notify(&fx->driver, 2);
}

static void
test_stats(Fixture *fx, gconstpointer user_data)
{
	VmmBalloonStats stats;

	bring_up(fx, F_STATS);
	/* Linux posts its first buffer before DRIVER_OK. */
	post_stats(fx, 100, 1000, 30);
	g_assert_cmpuint(fx->recorder.stats_calls, ==, 0);
	driver_ok(fx);
	g_assert_cmpuint(fx->recorder.stats_calls, ==, 1);
	vmm_balloon_get_stats(fx->balloon, &stats);
	g_assert_cmphex(stats.known, ==, 1u << S_MEMFREE | 1u << S_MEMTOT);
	g_assert_cmpuint(stats.values[S_MEMFREE], ==, 100);
	g_assert_cmpuint(stats.values[S_MEMTOT], ==, 1000);
	g_assert_cmpint(stats.updated, >, 0);
	/* The device keeps the buffer until asked. */
	g_assert_false(take_used(fx, 2));
	vmm_balloon_request_stats(fx->balloon);
	g_assert_true(take_used(fx, 2));
	g_assert_cmpuint(fx->irq_recorder.line_raises[fx->line], ==, 1);
	/* Nothing held: a second request does nothing. */
	vmm_balloon_request_stats(fx->balloon);
	g_assert_false(take_used(fx, 2));
	/* The refilled buffer; a truncated last entry is ignored. */
	post_stats(fx, 200, 2000, 29);
	g_assert_cmpuint(fx->recorder.stats_calls, ==, 2);
	g_assert_cmphex(fx->recorder.stats.known, ==, 1u << S_MEMFREE);
	g_assert_cmpuint(fx->recorder.stats.values[S_MEMFREE], ==, 200);
}

static void
test_stats_not_negotiated(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx, 0);
	driver_ok(fx);
	vmm_balloon_request_stats(fx->balloon);
	g_assert_cmpuint(fx->irq_recorder.guest_events, ==, 0);
}

static void
report_pages(Fixture *fx, guint queue, guint64 first, guint64 second, guint32 length)
{
	const TestBuffer buffers[] = {{first, length, TRUE}, {second, length, TRUE}};

	test_ring_post(&fx->rings[queue], buffers, 2);
	test_virtio_notify(&fx->driver, queue);
}

static void
test_free_page_reporting(Fixture *fx, gconstpointer user_data)
{
	const guint64 second = PAGES_BASE + 4 * VMM_MIB;

	bring_up(fx, F_STATS | F_REPORTING);
	driver_ok(fx);
	dirty_pages(fx, PAGES_BASE, 512);
	dirty_pages(fx, second, 512);
	report_pages(fx, 3, PAGES_BASE, second, 2 * VMM_MIB);
	g_assert_true(take_used(fx, 3));
	g_assert_cmpuint(test_memory_resident_pages(fx->memory, PAGES_BASE, 2 * VMM_MIB), ==, 0);
	g_assert_cmpuint(test_memory_resident_pages(fx->memory, second, 2 * VMM_MIB), ==, 0);
	g_assert_cmpuint(fx->recorder.reported_calls, ==, 1);
	g_assert_cmpuint(fx->recorder.reported_bytes, ==, 4 * VMM_MIB);
	/* Reported pages stay the guest's: they are not part of the balloon. */
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 0);
}

typedef struct {
	Fixture *fx;
	guint reports;
} Republisher;

/* A guest on another vCPU that hands the buffer back as soon as it is returned. */
static void
republish_report(gpointer user_data, guint64 bytes)
{
	Republisher *guest = user_data;
	const TestBuffer buffer = {PAGES_BASE, VMM_PAGE_SIZE, TRUE};

	if (++guest->reports < 4 * VMM_BALLOON_QUEUE_SIZE)
		test_ring_post(&guest->fx->rings[3], &buffer, 1);
}

/* One notification handles at most a queue's worth, so the worker's main loop is not starved. */
static void
test_notification_bounded(Fixture *fx, gconstpointer user_data)
{
	Republisher guest = {fx, 0};
	const VmmBalloonListener listener = {NULL, NULL, republish_report, &guest};
	const TestBuffer buffer = {PAGES_BASE, VMM_PAGE_SIZE, TRUE};

	bring_up(fx, F_STATS | F_REPORTING);
	driver_ok(fx);
	vmm_balloon_set_listener(fx->balloon, &listener);
	test_ring_post(&fx->rings[3], &buffer, 1);
	test_virtio_notify(&fx->driver, 3);
	g_assert_cmpuint(guest.reports, ==, VMM_BALLOON_QUEUE_SIZE);
	/* What is left is handled at the next notification. */
	test_virtio_notify(&fx->driver, 3);
	g_assert_cmpuint(guest.reports, ==, 2 * VMM_BALLOON_QUEUE_SIZE);
}

static void
test_reporting_queue_index(Fixture *fx, gconstpointer user_data)
{
	/* Without the stats queue, reporting is queue 2. */
	bring_up(fx, F_REPORTING);
	driver_ok(fx);
	dirty_pages(fx, PAGES_BASE, 16);
	report_pages(fx, 2, PAGES_BASE, PAGES_BASE + 8 * VMM_PAGE_SIZE, 8 * VMM_PAGE_SIZE);
	g_assert_true(take_used(fx, 2));
	g_assert_cmpuint(fx->recorder.reported_bytes, ==, 16 * VMM_PAGE_SIZE);
}

static void
test_reporting_unaligned(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx, F_REPORTING);
	driver_ok(fx);
	dirty_pages(fx, PAGES_BASE, 2);
	test_log_expect(VMM_LOG_WARNING, "*not whole pages*");
	report_pages(fx, 2, PAGES_BASE, PAGES_BASE + 0x1800, VMM_PAGE_SIZE);
	test_log_assert_expected();
	g_assert_cmpuint(
		test_memory_resident_pages(fx->memory, PAGES_BASE, 2 * VMM_PAGE_SIZE), ==, 2);
	g_assert_cmpuint(fx->recorder.reported_calls, ==, 0);
}

static void
test_reset_empties_balloon(Fixture *fx, gconstpointer user_data)
{
	bring_up(fx, 0);
	driver_ok(fx);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN, 16);
	test_virtio_set_status(&fx->driver, 0);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 0);
	g_assert_cmpuint(fx->recorder.actual_bytes, ==, 0);
	g_assert_cmpuint(fx->recorder.actual_calls, ==, 2);
}

static void
test_legacy_driver(Fixture *fx, gconstpointer user_data)
{
	guint64 legacy = fx->driver.legacy;

	fx->driver.use_legacy = TRUE;
	test_bus_write(fx->pio, legacy + 0x12, 1, 0);
	test_bus_write(fx->pio, legacy + 0x12, 1, 3);
	test_bus_write(fx->pio, legacy + 0x04, 4, F_DEFLATE_ON_OOM);
	test_virtio_legacy_setup_queue(&fx->driver, 0, &fx->rings[0]);
	test_virtio_legacy_setup_queue(&fx->driver, 1, &fx->rings[1]);
	test_bus_write(fx->pio, legacy + 0x12, 1, 7);
	vmm_balloon_set_target(fx->balloon, 32 * VMM_PAGE_SIZE);
	g_assert_cmpuint(test_bus_read(fx->pio, legacy + 0x14, 4), ==, 32);
	g_assert_cmphex(test_bus_read(fx->pio, legacy + 0x13, 1), ==, 2);
	dirty_pages(fx, PAGES_BASE, 32);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, PAGES_PFN, 32);
	test_bus_write(fx->pio, legacy + 0x18, 4, 32);
	g_assert_true(take_used(fx, 0));
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 32 * VMM_PAGE_SIZE);
	g_assert_cmpuint(vmm_balloon_get_guest_actual(fx->balloon), ==, 32 * VMM_PAGE_SIZE);
	g_assert_cmpuint(
		test_memory_resident_pages(fx->memory, PAGES_BASE, 32 * VMM_PAGE_SIZE), ==, 0);
}

/* RAM above 4 GiB: PFNs in the MMIO hole are garbage, PFNs past it are fine. */
static void
test_high_memory(void)
{
	Fixture fixture;
	Fixture *fx = &fixture;
	const guint32 high_pfn = VMM_HIGH_RAM_START >> VMM_PAGE_SHIFT;
	const guint32 hole_pfn = VMM_LOW_RAM_LIMIT >> VMM_PAGE_SHIFT;

	fixture_setup_size(fx, VMM_LOW_RAM_LIMIT + 16 * VMM_MIB);
	bring_up(fx, 0);
	driver_ok(fx);
	dirty_pages(fx, VMM_HIGH_RAM_START, 4);
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, high_pfn, 4);
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 4 * VMM_PAGE_SIZE);
	g_assert_cmpuint(
		test_memory_resident_pages(fx->memory, VMM_HIGH_RAM_START, 4 * VMM_PAGE_SIZE),
		==,
		0);
	test_log_expect(VMM_LOG_WARNING, "*not guest RAM*");
	post_pfn_range(fx, VMM_BALLOON_INFLATE_QUEUE, hole_pfn - 1, 2);
	test_log_assert_expected();
	g_assert_cmpuint(vmm_balloon_get_actual(fx->balloon), ==, 4 * VMM_PAGE_SIZE);
	fixture_teardown(fx, NULL);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	test_log_init();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/balloon/identity", test_identity);
	ADD("/balloon/inflate-discards", test_inflate_discards);
	ADD("/balloon/set-listener", test_set_listener);
	ADD("/balloon/coalescing", test_coalescing);
	ADD("/balloon/double-inflate", test_double_inflate);
	ADD("/balloon/out-of-range-pfn", test_out_of_range_pfn);
	ADD("/balloon/bad-buffer-length", test_bad_buffer_length);
	ADD("/balloon/deflate", test_deflate);
	ADD("/balloon/guest-actual", test_guest_actual);
	ADD("/balloon/target", test_target);
	ADD("/balloon/stats", test_stats);
	ADD("/balloon/stats-not-negotiated", test_stats_not_negotiated);
	ADD("/balloon/free-page-reporting", test_free_page_reporting);
	ADD("/balloon/reporting-queue-index", test_reporting_queue_index);
	ADD("/balloon/notification-bounded", test_notification_bounded);
	ADD("/balloon/reporting-unaligned", test_reporting_unaligned);
	ADD("/balloon/reset-empties-balloon", test_reset_empties_balloon);
	ADD("/balloon/legacy-driver", test_legacy_driver);
#undef ADD
	g_test_add_func("/balloon/high-memory", test_high_memory);
	return g_test_run();
}
