/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm-balloon.h"

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
	gint stats_queue;
	gint reporting_queue;
	guint32 num_pages;
	guint32 guest_actual;
	guint64 *ballooned;
	guint64 n_pfns;
	guint64 actual_pages;
	gboolean stats_buffer_held;
	guint16 stats_buffer_head;
	VmmBalloonStats stats;
	gboolean warned_unknown_deflate;
	guint64 discard_count;
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

static gboolean broken(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
broken(GError **error, const gchar *format, ...)
{
	va_list args;

	va_start(args, format);
	g_propagate_error(error,
			  g_error_new_valist(G_IO_ERROR, G_IO_ERROR_INVALID_DATA, format, args));
	va_end(args);
	return FALSE;
}

/* The bitmap of pages the host discarded for the balloon. */

static gboolean
page_ballooned(VmmBalloon *self, guint64 pfn)
{
	return (self->ballooned[pfn / 64] >> (pfn % 64)) & 1;
}

static void
mark_page(VmmBalloon *self, guint64 pfn, gboolean ballooned)
{
	guint64 bit = G_GUINT64_CONSTANT(1) << (pfn % 64);

	if (ballooned == page_ballooned(self, pfn))
		return;
	self->ballooned[pfn / 64] ^= bit;
	if (ballooned)
		self->actual_pages++;
	else
		self->actual_pages--;
}

static void
report_actual(VmmBalloon *self, guint64 old_actual_pages)
{
	if (self->actual_pages != old_actual_pages && self->listener.actual_changed != NULL)
		self->listener.actual_changed(self->listener.user_data,
					      self->actual_pages * VMM_PAGE_SIZE);
}

/* Inflate and deflate: arrays of le32 PFNs of 4 KiB pages. */

static gboolean
chain_readable_only(const VmmVirtqChain *chain, GError **error)
{
	for (guint i = 0; i < chain->n_descs; i++)
		if (chain->descs[i].device_writable)
			return broken(error, "device-writable buffer in a driver-to-device queue");
	return TRUE;
}

static guint32 *
read_pfns(VmmBalloon *self, const VmmVirtqChain *chain, guint *n_pfns, GError **error)
{
	g_autofree guint32 *pfns = NULL;
	guint64 bytes = 0;

	if (!chain_readable_only(chain, error))
		return NULL;
	for (guint i = 0; i < chain->n_descs; i++)
		bytes += chain->descs[i].length;
	if (bytes % 4 != 0 || bytes / 4 > VMM_BALLOON_MAX_PFNS_PER_BUFFER) {
		broken(error, "PFN buffer of %" G_GUINT64_FORMAT " bytes", bytes);
		return NULL;
	}
	pfns = g_new(guint32, MAX(bytes / 4, 1));
	vmm_virtq_chain_read(self->memory, chain, (guint8 *)pfns, bytes);
	*n_pfns = bytes / 4;
	for (guint i = 0; i < *n_pfns; i++)
		pfns[i] = GUINT32_FROM_LE(pfns[i]);
	return g_steal_pointer(&pfns);
}

static gboolean
check_pfns(VmmBalloon *self, const guint32 *pfns, guint n_pfns, GError **error)
{
	guint64 address;

	for (guint i = 0; i < n_pfns; i++)
		if (!vmm_memory_pfn_to_address(self->memory, pfns[i], &address))
			return broken(error, "PFN 0x%x is not guest RAM", pfns[i]);
	return TRUE;
}

static gint
compare_pfns(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;

	return x < y ? -1 : x > y;
}

/* Discards sorted, valid @pfns[start..end) as one range and marks them. */
static void
discard_run(VmmBalloon *self, const guint32 *pfns, guint start, guint end)
{
	guint64 first = pfns[start];
	guint64 length = ((guint64)pfns[end - 1] - first + 1) * VMM_PAGE_SIZE;
	g_autoptr(GError) error = NULL;

	self->discard_count++;
	if (!vmm_memory_discard(self->memory, first * VMM_PAGE_SIZE, length, &error)) {
		g_warning("balloon: %s", error->message);
		return;
	}
	for (guint i = start; i < end; i++)
		mark_page(self, pfns[i], TRUE);
}

static gboolean
extends_run(VmmBalloon *self, const guint32 *pfns, guint start, guint next)
{
	guint64 first = pfns[start];

	if (pfns[next] == pfns[next - 1])
		return TRUE;
	return pfns[next] == pfns[next - 1] + 1 &&
	       vmm_memory_contains(self->memory,
				   first * VMM_PAGE_SIZE,
				   ((guint64)pfns[next] - first + 1) * VMM_PAGE_SIZE);
}

static gboolean
inflate(VmmBalloon *self, const VmmVirtqChain *chain, GError **error)
{
	guint n_pfns = 0;
	g_autofree guint32 *pfns = read_pfns(self, chain, &n_pfns, error);
	guint start = 0;

	if (pfns == NULL || !check_pfns(self, pfns, n_pfns, error))
		return FALSE;
	qsort(pfns, n_pfns, sizeof(*pfns), compare_pfns);
	while (start < n_pfns) {
		guint end = start + 1;
		while (end < n_pfns && extends_run(self, pfns, start, end))
			end++;
		discard_run(self, pfns, start, end);
		start = end;
	}
	return TRUE;
}

static gboolean
deflate(VmmBalloon *self, const VmmVirtqChain *chain, GError **error)
{
	guint n_pfns = 0;
	g_autofree guint32 *pfns = read_pfns(self, chain, &n_pfns, error);

	if (pfns == NULL || !check_pfns(self, pfns, n_pfns, error))
		return FALSE;
	for (guint i = 0; i < n_pfns; i++) {
		if (!page_ballooned(self, pfns[i]) && !self->warned_unknown_deflate) {
			g_message("balloon: guest deflated PFN 0x%x it never inflated; ignored "
				  "(logged once)",
				  pfns[i]);
			self->warned_unknown_deflate = TRUE;
		}
		mark_page(self, pfns[i], FALSE);
	}
	return TRUE;
}

/* Free page reporting: each descriptor is a range of free guest pages. */

static gboolean
report_free_pages(VmmBalloon *self, const VmmVirtqChain *chain, GError **error)
{
	g_autoptr(GError) discard_error = NULL;
	guint64 bytes = 0;

	for (guint i = 0; i < chain->n_descs; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		if (desc->address % VMM_PAGE_SIZE != 0 || desc->length % VMM_PAGE_SIZE != 0 ||
		    desc->length == 0)
			return broken(error,
				      "reported range 0x%" G_GINT64_MODIFIER
				      "x+0x%x is not whole pages",
				      desc->address,
				      desc->length);
	}
	for (guint i = 0; i < chain->n_descs; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		self->discard_count++;
		if (vmm_memory_discard(self->memory, desc->address, desc->length, &discard_error))
			bytes += desc->length;
		else
			g_warning("balloon: %s", discard_error->message);
		g_clear_error(&discard_error);
	}
	if (bytes != 0 && self->listener.pages_reported != NULL)
		self->listener.pages_reported(self->listener.user_data, bytes);
	return TRUE;
}

/* Statistics: packed entries of a le16 tag and a le64 value. */

static gboolean
parse_stats(VmmBalloon *self, const VmmVirtqChain *chain, GError **error)
{
	guint8 buffer[MAX_STAT_ENTRIES * STAT_ENTRY_SIZE];
	gsize length;
	VmmBalloonStats stats = {{0}};

	if (!chain_readable_only(chain, error))
		return FALSE;
	length = vmm_virtq_chain_read(self->memory, chain, buffer, sizeof(buffer));
	for (gsize at = 0; at + STAT_ENTRY_SIZE <= length; at += STAT_ENTRY_SIZE) {
		guint16 tag;
		guint64 value;
		memcpy(&tag, buffer + at, 2);
		memcpy(&value, buffer + at + 2, 8);
		tag = GUINT16_FROM_LE(tag);
		if (tag >= VMM_BALLOON_STAT_COUNT)
			continue;
		stats.values[tag] = GUINT64_FROM_LE(value);
		stats.known |= 1u << tag;
	}
	stats.updated = g_get_real_time();
	self->stats = stats;
	if (self->listener.stats_updated != NULL)
		self->listener.stats_updated(self->listener.user_data, &self->stats);
	return TRUE;
}

/* Queue processing, with the transport's lock held. */

typedef gboolean (*ChainHandler)(VmmBalloon *self, const VmmVirtqChain *chain, GError **error);

static void
give_up(VmmBalloon *self, guint queue_index, GError *error)
{
	g_autofree gchar *reason = g_strdup_printf("queue %u: %s", queue_index, error->message);

	vmm_virtio_set_needs_reset(self->transport, reason);
}

/* Handles and returns every available chain; FALSE once the device needs a reset. */
static gboolean
drain(VmmBalloon *self, guint queue_index, ChainHandler handle)
{
	VmmVirtqueue *queue;
	VmmVirtqChain chain;
	gboolean used = FALSE;
	gboolean ok = TRUE;

	while (ok && (queue = vmm_virtio_get_queue(self->transport, queue_index)) != NULL) {
		g_autoptr(GError) error = NULL;
		VmmVirtqPop popped = vmm_virtqueue_pop(queue, &chain, &error);
		if (popped == VMM_VIRTQ_EMPTY)
			break;
		ok = popped == VMM_VIRTQ_CHAIN && handle(self, &chain, &error) &&
		     vmm_virtqueue_push(queue, chain.head, 0, &error);
		if (ok)
			used = TRUE;
		else
			give_up(self, queue_index, error);
	}
	if (used)
		vmm_virtio_notify_used(self->transport, queue_index);
	return ok;
}

static void
return_stats_buffer(VmmBalloon *self)
{
	VmmVirtqueue *queue = vmm_virtio_get_queue(self->transport, self->stats_queue);
	g_autoptr(GError) error = NULL;

	if (queue == NULL || !self->stats_buffer_held)
		return;
	self->stats_buffer_held = FALSE;
	if (!vmm_virtqueue_push(queue, self->stats_buffer_head, 0, &error)) {
		give_up(self, self->stats_queue, error);
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

	while ((queue = vmm_virtio_get_queue(self->transport, self->stats_queue)) != NULL) {
		g_autoptr(GError) error = NULL;
		VmmVirtqPop popped = vmm_virtqueue_pop(queue, &chain, &error);
		if (popped == VMM_VIRTQ_EMPTY)
			return;
		if (popped == VMM_VIRTQ_BROKEN || !parse_stats(self, &chain, &error)) {
			give_up(self, self->stats_queue, error);
			return;
		}
		return_stats_buffer(self);
		self->stats_buffer_held = TRUE;
		self->stats_buffer_head = chain.head;
	}
}

static void
queue_notify(gpointer device, guint queue_index)
{
	VmmBalloon *self = device;
	guint64 old_actual = self->actual_pages;

	if (queue_index == VMM_BALLOON_INFLATE_QUEUE)
		drain(self, queue_index, inflate);
	else if (queue_index == VMM_BALLOON_DEFLATE_QUEUE)
		drain(self, queue_index, deflate);
	else if ((gint)queue_index == self->stats_queue)
		drain_stats(self);
	else if ((gint)queue_index == self->reporting_queue)
		drain(self, queue_index, report_free_pages);
	report_actual(self, old_actual);
}

/* The rest of VmmVirtioDeviceOps. */

static void
attach(gpointer device, VmmVirtio *transport)
{
	VmmBalloon *self = device;

	self->transport = transport;
}

static guint64
get_features(gpointer device)
{
	VmmBalloon *self = device;
	guint64 features = 0;

	if (self->offered.stats)
		features |= 1u << VMM_BALLOON_F_STATS_VQ;
	if (self->offered.deflate_on_oom)
		features |= 1u << VMM_BALLOON_F_DEFLATE_ON_OOM;
	if (self->offered.free_page_reporting)
		features |= 1u << VMM_BALLOON_F_FREE_PAGE_REPORTING;
	return features;
}

static void
config_snapshot(VmmBalloon *self, guint8 *config)
{
	guint32 num_pages = GUINT32_TO_LE(self->num_pages);
	guint32 actual = GUINT32_TO_LE(self->guest_actual);

	memcpy(config + CONFIG_NUM_PAGES, &num_pages, 4);
	memcpy(config + CONFIG_ACTUAL, &actual, 4);
}

static void
config_read(gpointer device, guint32 offset, guint8 *data, guint32 size)
{
	guint8 config[CONFIG_SIZE];

	config_snapshot(device, config);
	memcpy(data, config + offset, size);
}

/* Only `actual` is the driver's to write. */
static void
config_write(gpointer device, guint32 offset, const guint8 *data, guint32 size)
{
	VmmBalloon *self = device;
	guint8 config[CONFIG_SIZE];
	guint32 actual;

	config_snapshot(self, config);
	memcpy(config + offset, data, size);
	memcpy(&actual, config + CONFIG_ACTUAL, 4);
	if (self->guest_actual == GUINT32_FROM_LE(actual))
		return;
	self->guest_actual = GUINT32_FROM_LE(actual);
	/* The guest's claim is shown beside the verified size, so it changes the picture too. */
	if (self->listener.actual_changed != NULL)
		self->listener.actual_changed(self->listener.user_data,
					      self->actual_pages * VMM_PAGE_SIZE);
}

static void
activate(gpointer device, VmmVirtio *transport, guint64 features)
{
	VmmBalloon *self = device;
	gboolean stats = (features >> VMM_BALLOON_F_STATS_VQ) & 1;
	gboolean reporting = (features >> VMM_BALLOON_F_FREE_PAGE_REPORTING) & 1;

	self->stats_queue = stats ? 2 : NO_QUEUE;
	self->reporting_queue = reporting ? 2 + stats : NO_QUEUE;
	/* Linux posts its first stats buffer before DRIVER_OK: pick up what is already there. */
	for (guint i = 0; i < NUM_QUEUES; i++)
		queue_notify(self, i);
}

static void
reset(gpointer device)
{
	VmmBalloon *self = device;
	guint64 old_actual = self->actual_pages;

	/* A reset guest owns all its memory again; discarded pages fault back in as zeros. */
	memset(self->ballooned, 0, (self->n_pfns + 63) / 64 * sizeof(guint64));
	self->actual_pages = 0;
	self->guest_actual = 0;
	self->stats_queue = self->reporting_queue = NO_QUEUE;
	self->stats_buffer_held = FALSE;
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
	VmmBalloon *self = g_new0(VmmBalloon, 1);
	const VmmMemoryRegion *last = &memory->regions[memory->n_regions - 1];

	self->memory = memory;
	self->offered = *features;
	if (listener != NULL)
		self->listener = *listener;
	self->n_pfns = (last->guest_address + last->size) / VMM_PAGE_SIZE;
	self->ballooned = g_new0(guint64, (self->n_pfns + 63) / 64);
	self->stats_queue = self->reporting_queue = NO_QUEUE;
	return self;
}

void
vmm_balloon_free(VmmBalloon *self)
{
	if (self == NULL)
		return;
	g_free(self->ballooned);
	g_free(self);
}

void
vmm_balloon_set_target(VmmBalloon *self, guint64 bytes)
{
	guint64 pages = MIN(bytes / VMM_PAGE_SIZE, vmm_memory_page_count(self->memory));

	lock(self);
	self->num_pages = MIN(pages, G_MAXUINT32);
	if (self->transport != NULL)
		vmm_virtio_notify_config(self->transport);
	unlock(self);
}

guint64
vmm_balloon_get_target(VmmBalloon *self)
{
	guint64 bytes;

	lock(self);
	bytes = (guint64)self->num_pages * VMM_PAGE_SIZE;
	unlock(self);
	return bytes;
}

guint64
vmm_balloon_get_actual(VmmBalloon *self)
{
	guint64 bytes;

	lock(self);
	bytes = self->actual_pages * VMM_PAGE_SIZE;
	unlock(self);
	return bytes;
}

guint64
vmm_balloon_get_guest_actual(VmmBalloon *self)
{
	guint64 bytes;

	lock(self);
	bytes = (guint64)self->guest_actual * VMM_PAGE_SIZE;
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

guint64
vmm_balloon_get_discard_count(VmmBalloon *self)
{
	guint64 count;

	lock(self);
	count = self->discard_count;
	unlock(self);
	return count;
}
