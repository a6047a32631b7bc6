/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vmm-balloon.h"
#include "vmm-log.h"

#define VIRTIO_ID_BALLOON 5
#define CONFIG_SIZE 8
#define CONFIG_NUM_PAGES 0
#define CONFIG_ACTUAL 4
#define STAT_ENTRY_SIZE 10
/* Linux sends one entry per known tag; room for unknown future tags too. */
#define MAX_STAT_ENTRIES 64
#define NUM_QUEUES 4
#define NO_QUEUE (-1)

/*
 * The guest's word is never trusted: every PFN is checked against RAM before
 * anything is discarded, and `actual` counts pages the host itself discarded,
 * once each, in a bitmap indexed by PFN.
 *
 * Every field below is protected by the transport's lock once attached.
 */
struct _VmmBalloon {
	VmmMemory *memory;
	VmmBalloonFeatures offered;
	VmmBalloonListener listener;
	VmmVirtio *transport;
	int stats_queue;
	int reporting_queue;
	uint32_t num_pages;
	uint32_t guest_actual;
	uint64_t *ballooned;
	uint64_t n_pfns;
	uint64_t actual_pages;
	bool stats_buffer_held;
	uint16_t stats_buffer_head;
	VmmBalloonStats stats;
	bool warned_unknown_deflate;
	uint64_t discard_count;
};

static void
lock(VmmBalloon *self)
{
	if (self->transport != NULL)
		vmm_virtio_lock(self->transport);
}

static void
unlock(VmmBalloon *self)
{
	if (self->transport != NULL)
		vmm_virtio_unlock(self->transport);
}

/* The bitmap of pages the host discarded for the balloon. */

static bool
page_ballooned(VmmBalloon *self, uint64_t pfn)
{
	return (self->ballooned[pfn / 64] >> (pfn % 64)) & 1;
}

static void
mark_page(VmmBalloon *self, uint64_t pfn, bool ballooned)
{
	uint64_t bit = UINT64_C(1) << (pfn % 64);

	if (ballooned == page_ballooned(self, pfn))
		return;
	self->ballooned[pfn / 64] ^= bit;
	if (ballooned)
		self->actual_pages++;
	else
		self->actual_pages--;
}

static void
report_actual(VmmBalloon *self, uint64_t old_actual_pages)
{
	if (self->actual_pages != old_actual_pages && self->listener.actual_changed != NULL)
		self->listener.actual_changed(self->listener.user_data,
					      self->actual_pages * VMM_PAGE_SIZE);
}

/* Inflate and deflate: arrays of le32 PFNs of 4 KiB pages. */

static bool
chain_readable_only(const VmmVirtqChain *chain, VmmError **error)
{
	for (unsigned i = 0; i < chain->n_descs; i++)
		if (chain->descs[i].device_writable)
			return vmm_set_error(error,
					     EBADMSG,
					     "device-writable buffer in a driver-to-device queue");
	return true;
}

static uint32_t *
read_pfns(VmmBalloon *self, const VmmVirtqChain *chain, unsigned *n_pfns, VmmError **error)
{
	vmm_autofree uint32_t *pfns = NULL;
	uint64_t bytes = 0;

	if (!chain_readable_only(chain, error))
		return NULL;
	for (unsigned i = 0; i < chain->n_descs; i++)
		bytes += chain->descs[i].length;
	if (bytes % 4 != 0 || bytes / 4 > VMM_BALLOON_MAX_PFNS_PER_BUFFER) {
		vmm_set_error(error, EBADMSG, "PFN buffer of %" PRIu64 " bytes", bytes);
		return NULL;
	}
	pfns = vmm_new0(uint32_t, VMM_MAX(bytes / 4, (uint64_t)1));
	vmm_virtq_chain_read(self->memory, chain, (uint8_t *)pfns, bytes);
	*n_pfns = bytes / 4;
	for (unsigned i = 0; i < *n_pfns; i++)
		pfns[i] = le32toh(pfns[i]);
	return vmm_steal_pointer(&pfns);
}

static bool
check_pfns(VmmBalloon *self, const uint32_t *pfns, unsigned n_pfns, VmmError **error)
{
	uint64_t address;

	for (unsigned i = 0; i < n_pfns; i++)
		if (!vmm_memory_pfn_to_address(self->memory, pfns[i], &address))
			return vmm_set_error(error, EBADMSG, "PFN 0x%x is not guest RAM", pfns[i]);
	return true;
}

static int
compare_pfns(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Discards sorted, valid @pfns[start..end) as one range and marks them. */
static void
discard_run(VmmBalloon *self, const uint32_t *pfns, unsigned start, unsigned end)
{
	uint64_t first = pfns[start];
	uint64_t length = ((uint64_t)pfns[end - 1] - first + 1) * VMM_PAGE_SIZE;
	vmm_autoptr(VmmError) error = NULL;

	self->discard_count++;
	if (!vmm_memory_discard(self->memory, first * VMM_PAGE_SIZE, length, &error)) {
		vmm_warning("balloon: %s", error->message);
		return;
	}
	for (unsigned i = start; i < end; i++)
		mark_page(self, pfns[i], true);
}

static bool
extends_run(VmmBalloon *self, const uint32_t *pfns, unsigned start, unsigned next)
{
	uint64_t first = pfns[start];

	if (pfns[next] == pfns[next - 1])
		return true;
	return pfns[next] == pfns[next - 1] + 1 &&
	       vmm_memory_contains(self->memory,
				   first * VMM_PAGE_SIZE,
				   ((uint64_t)pfns[next] - first + 1) * VMM_PAGE_SIZE);
}

static bool
inflate(VmmBalloon *self, const VmmVirtqChain *chain, VmmError **error)
{
	unsigned n_pfns = 0;
	vmm_autofree uint32_t *pfns = read_pfns(self, chain, &n_pfns, error);
	unsigned start = 0;

	if (pfns == NULL || !check_pfns(self, pfns, n_pfns, error))
		return false;
	qsort(pfns, n_pfns, sizeof(*pfns), compare_pfns);
	while (start < n_pfns) {
		unsigned end = start + 1;
		while (end < n_pfns && extends_run(self, pfns, start, end))
			end++;
		discard_run(self, pfns, start, end);
		start = end;
	}
	return true;
}

static bool
deflate(VmmBalloon *self, const VmmVirtqChain *chain, VmmError **error)
{
	unsigned n_pfns = 0;
	vmm_autofree uint32_t *pfns = read_pfns(self, chain, &n_pfns, error);

	if (pfns == NULL || !check_pfns(self, pfns, n_pfns, error))
		return false;
	for (unsigned i = 0; i < n_pfns; i++) {
		if (!page_ballooned(self, pfns[i]) && !self->warned_unknown_deflate) {
			vmm_message("balloon: guest deflated PFN 0x%x it never inflated; ignored "
				    "(logged once)",
				    pfns[i]);
			self->warned_unknown_deflate = true;
		}
		mark_page(self, pfns[i], false);
	}
	return true;
}

/* Free page reporting: each descriptor is a range of free guest pages. */

static bool
report_free_pages(VmmBalloon *self, const VmmVirtqChain *chain, VmmError **error)
{
	vmm_autoptr(VmmError) discard_error = NULL;
	uint64_t bytes = 0;

	for (unsigned i = 0; i < chain->n_descs; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		if (desc->address % VMM_PAGE_SIZE != 0 || desc->length % VMM_PAGE_SIZE != 0 ||
		    desc->length == 0)
			return vmm_set_error(error,
					     EBADMSG,
					     "reported range 0x%" PRIx64 "+0x%x is not whole pages",
					     desc->address,
					     desc->length);
	}
	for (unsigned i = 0; i < chain->n_descs; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		self->discard_count++;
		if (vmm_memory_discard(self->memory, desc->address, desc->length, &discard_error))
			bytes += desc->length;
		else
			vmm_warning("balloon: %s", discard_error->message);
		vmm_clear_error(&discard_error);
	}
	if (bytes != 0 && self->listener.pages_reported != NULL)
		self->listener.pages_reported(self->listener.user_data, bytes);
	return true;
}

/* Statistics: packed entries of a le16 tag and a le64 value. */

static bool
parse_stats(VmmBalloon *self, const VmmVirtqChain *chain, VmmError **error)
{
	uint8_t buffer[MAX_STAT_ENTRIES * STAT_ENTRY_SIZE];
	size_t length;
	VmmBalloonStats stats = {{0}};

	if (!chain_readable_only(chain, error))
		return false;
	length = vmm_virtq_chain_read(self->memory, chain, buffer, sizeof(buffer));
	for (size_t at = 0; at + STAT_ENTRY_SIZE <= length; at += STAT_ENTRY_SIZE) {
		uint16_t tag;
		uint64_t value;
		memcpy(&tag, buffer + at, 2);
		memcpy(&value, buffer + at + 2, 8);
		tag = le16toh(tag);
		if (tag >= VMM_BALLOON_STAT_COUNT)
			continue;
		stats.values[tag] = le64toh(value);
		stats.known |= 1u << tag;
	}
	stats.updated = vmm_real_time_us();
	self->stats = stats;
	if (self->listener.stats_updated != NULL)
		self->listener.stats_updated(self->listener.user_data, &self->stats);
	return true;
}

/* Queue processing, with the transport's lock held. */

typedef bool (*ChainHandler)(VmmBalloon *self, const VmmVirtqChain *chain, VmmError **error);

/* Handles and returns the available chains; false once the device needs a reset. */
static bool
drain(VmmBalloon *self, unsigned queue_index, ChainHandler handle)
{
	VmmVirtqueue *queue;
	VmmVirtqChain chain;
	unsigned handled = 0;
	bool used = false;
	bool ok = true;

	while (ok && (queue = vmm_virtio_get_queue(self->transport, queue_index)) != NULL &&
	       vmm_virtqueue_within_budget(queue, &handled)) {
		vmm_autoptr(VmmError) error = NULL;
		VmmVirtqPop popped = vmm_virtqueue_pop(queue, &chain, &error);
		if (popped == VMM_VIRTQ_EMPTY)
			break;
		ok = popped == VMM_VIRTQ_CHAIN && handle(self, &chain, &error) &&
		     vmm_virtqueue_push(queue, chain.head, 0, &error);
		if (ok)
			used = true;
		else
			vmm_virtio_queue_failed(self->transport, queue_index, error);
	}
	if (used)
		vmm_virtio_notify_used(self->transport, queue_index);
	return ok;
}

static void
return_stats_buffer(VmmBalloon *self)
{
	VmmVirtqueue *queue = vmm_virtio_get_queue(self->transport, self->stats_queue);
	vmm_autoptr(VmmError) error = NULL;

	if (queue == NULL || !self->stats_buffer_held)
		return;
	self->stats_buffer_held = false;
	if (!vmm_virtqueue_push(queue, self->stats_buffer_head, 0, &error)) {
		vmm_virtio_queue_failed(self->transport, self->stats_queue, error);
		return;
	}
	vmm_virtio_notify_used(self->transport, self->stats_queue);
}

/* Keeps the newest stats buffer until the host asks for fresh numbers. */
static void
drain_stats(VmmBalloon *self)
{
	VmmVirtqueue *queue;
	VmmVirtqChain chain;
	unsigned handled = 0;

	while ((queue = vmm_virtio_get_queue(self->transport, self->stats_queue)) != NULL &&
	       vmm_virtqueue_within_budget(queue, &handled)) {
		vmm_autoptr(VmmError) error = NULL;
		VmmVirtqPop popped = vmm_virtqueue_pop(queue, &chain, &error);
		if (popped == VMM_VIRTQ_EMPTY)
			return;
		if (popped == VMM_VIRTQ_BROKEN || !parse_stats(self, &chain, &error)) {
			vmm_virtio_queue_failed(self->transport, self->stats_queue, error);
			return;
		}
		return_stats_buffer(self);
		self->stats_buffer_held = true;
		self->stats_buffer_head = chain.head;
	}
}

static void
queue_notify(void *device, unsigned queue_index)
{
	VmmBalloon *self = device;
	uint64_t old_actual = self->actual_pages;

	if (queue_index == VMM_BALLOON_INFLATE_QUEUE)
		drain(self, queue_index, inflate);
	else if (queue_index == VMM_BALLOON_DEFLATE_QUEUE)
		drain(self, queue_index, deflate);
	else if ((int)queue_index == self->stats_queue)
		drain_stats(self);
	else if ((int)queue_index == self->reporting_queue)
		drain(self, queue_index, report_free_pages);
	report_actual(self, old_actual);
}

/* The rest of VmmVirtioDeviceOps. */

static void
attach(void *device, VmmVirtio *transport)
{
	VmmBalloon *self = device;

	self->transport = transport;
}

static uint64_t
get_features(void *device)
{
	VmmBalloon *self = device;
	uint64_t features = 0;

	if (self->offered.stats)
		features |= 1u << VMM_BALLOON_F_STATS_VQ;
	if (self->offered.deflate_on_oom)
		features |= 1u << VMM_BALLOON_F_DEFLATE_ON_OOM;
	if (self->offered.free_page_reporting)
		features |= 1u << VMM_BALLOON_F_FREE_PAGE_REPORTING;
	return features;
}

static void
config_snapshot(VmmBalloon *self, uint8_t *config)
{
	uint32_t num_pages = htole32(self->num_pages);
	uint32_t actual = htole32(self->guest_actual);

	memcpy(config + CONFIG_NUM_PAGES, &num_pages, 4);
	memcpy(config + CONFIG_ACTUAL, &actual, 4);
}

static void
config_read(void *device, uint32_t offset, uint8_t *data, uint32_t size)
{
	uint8_t config[CONFIG_SIZE];

	config_snapshot(device, config);
	memcpy(data, config + offset, size);
}

/* Only `actual` is the driver's to write. */
static void
config_write(void *device, uint32_t offset, const uint8_t *data, uint32_t size)
{
	VmmBalloon *self = device;
	uint8_t config[CONFIG_SIZE];
	uint32_t actual;

	config_snapshot(self, config);
	memcpy(config + offset, data, size);
	memcpy(&actual, config + CONFIG_ACTUAL, 4);
	if (self->guest_actual == le32toh(actual))
		return;
	self->guest_actual = le32toh(actual);
	/* The guest's claim is shown beside the verified size, so it changes the picture too. */
	if (self->listener.actual_changed != NULL)
		self->listener.actual_changed(self->listener.user_data,
					      self->actual_pages * VMM_PAGE_SIZE);
}

static void
activate(void *device, VmmVirtio *transport, uint64_t features)
{
	VmmBalloon *self = device;
	bool stats = (features >> VMM_BALLOON_F_STATS_VQ) & 1;
	bool reporting = (features >> VMM_BALLOON_F_FREE_PAGE_REPORTING) & 1;

	self->stats_queue = stats ? 2 : NO_QUEUE;
	self->reporting_queue = reporting ? 2 + stats : NO_QUEUE;
	/* Linux posts its first stats buffer before DRIVER_OK: pick up what is already there. */
	for (unsigned i = 0; i < NUM_QUEUES; i++)
		queue_notify(self, i);
}

static void
reset(void *device)
{
	VmmBalloon *self = device;
	uint64_t old_actual = self->actual_pages;

	/* A reset guest owns all its memory again; discarded pages fault back in as zeros. */
	memset(self->ballooned, 0, (self->n_pfns + 63) / 64 * sizeof(uint64_t));
	self->actual_pages = 0;
	self->guest_actual = 0;
	self->stats_queue = self->reporting_queue = NO_QUEUE;
	self->stats_buffer_held = false;
	report_actual(self, old_actual);
}

static const VmmVirtioDeviceOps balloon_ops = {
	.device_id = VIRTIO_ID_BALLOON,
	.config_size = CONFIG_SIZE,
	.num_queues = NUM_QUEUES,
	.queue_size = VMM_BALLOON_QUEUE_SIZE,
	.attach = attach,
	.get_features = get_features,
	.config_read = config_read,
	.config_write = config_write,
	.activate = activate,
	.queue_notify = queue_notify,
	.reset = reset,
};

const VmmVirtioDeviceOps *
vmm_balloon_get_ops(void)
{
	return &balloon_ops;
}

/* Public API. */

VmmBalloon *
vmm_balloon_new(VmmMemory *memory,
		const VmmBalloonFeatures *features,
		const VmmBalloonListener *listener)
{
	VmmBalloon *self = vmm_new0(VmmBalloon, 1);
	const VmmMemoryRegion *last = &memory->regions[memory->n_regions - 1];

	self->memory = memory;
	self->offered = *features;
	if (listener != NULL)
		self->listener = *listener;
	self->n_pfns = (last->guest_address + last->size) / VMM_PAGE_SIZE;
	self->ballooned = vmm_new0(uint64_t, (self->n_pfns + 63) / 64);
	self->stats_queue = self->reporting_queue = NO_QUEUE;
	return self;
}

void
vmm_balloon_free(VmmBalloon *self)
{
	if (self == NULL)
		return;
	free(self->ballooned);
	free(self);
}

void
vmm_balloon_set_listener(VmmBalloon *self, const VmmBalloonListener *listener)
{
	lock(self);
	self->listener = listener != NULL ? *listener : (VmmBalloonListener){0};
	unlock(self);
}

void
vmm_balloon_set_target(VmmBalloon *self, uint64_t bytes)
{
	uint64_t pages = VMM_MIN(bytes / VMM_PAGE_SIZE, vmm_memory_page_count(self->memory));

	lock(self);
	self->num_pages = VMM_MIN(pages, UINT32_MAX);
	if (self->transport != NULL)
		vmm_virtio_notify_config(self->transport);
	unlock(self);
}

uint64_t
vmm_balloon_get_target(VmmBalloon *self)
{
	uint64_t bytes;

	lock(self);
	bytes = (uint64_t)self->num_pages * VMM_PAGE_SIZE;
	unlock(self);
	return bytes;
}

uint64_t
vmm_balloon_get_actual(VmmBalloon *self)
{
	uint64_t bytes;

	lock(self);
	bytes = self->actual_pages * VMM_PAGE_SIZE;
	unlock(self);
	return bytes;
}

uint64_t
vmm_balloon_get_guest_actual(VmmBalloon *self)
{
	uint64_t bytes;

	lock(self);
	bytes = (uint64_t)self->guest_actual * VMM_PAGE_SIZE;
	unlock(self);
	return bytes;
}

void
vmm_balloon_get_stats(VmmBalloon *self, VmmBalloonStats *stats)
{
	lock(self);
	*stats = self->stats;
	unlock(self);
}

void
vmm_balloon_request_stats(VmmBalloon *self)
{
	lock(self);
	if (self->stats_queue != NO_QUEUE)
		return_stats_buffer(self);
	unlock(self);
}

uint64_t
vmm_balloon_get_discard_count(VmmBalloon *self)
{
	uint64_t count;

	lock(self);
	count = self->discard_count;
	unlock(self);
	return count;
}
