/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "vmm-virtqueue.h"

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

#define DESC_SIZE 16u
#define USED_ELEM_SIZE 8u
/* flags, idx, then the ring, then used_event / avail_event. */
#define RING_HEADER 4u
#define RING_TRAILER 2u

struct _VmmVirtqueue {
	VmmMemory *memory;
	guint16 max_size;
	guint16 size;
	gboolean enabled;
	guint64 desc_address;
	guint64 avail_address;
	guint64 used_address;
	/* Host views of the rings, valid while enabled: guest RAM never moves. */
	guint8 *desc;
	guint8 *avail;
	guint8 *used;
	guint16 last_avail_idx;
	guint16 used_idx;
};

typedef struct {
	guint64 address;
	guint32 length;
	guint16 flags;
	guint16 next;
} RawDesc;

VmmVirtqueue *
vmm_virtqueue_new(VmmMemory *memory, guint16 max_size)
{
	VmmVirtqueue *self = g_new0(VmmVirtqueue, 1);

	g_return_val_if_fail(max_size != 0 && (max_size & (max_size - 1)) == 0, NULL);
	self->memory = memory;
	self->max_size = max_size;
	vmm_virtqueue_reset(self);
	return self;
}

void
vmm_virtqueue_free(VmmVirtqueue *self)
{
	g_free(self);
}

void
vmm_virtqueue_reset(VmmVirtqueue *self)
{
	self->size = self->max_size;
	self->enabled = FALSE;
	self->desc_address = self->avail_address = self->used_address = 0;
	self->desc = self->avail = self->used = NULL;
	self->last_avail_idx = self->used_idx = 0;
}

guint16
vmm_virtqueue_get_max_size(VmmVirtqueue *self)
{
	return self->max_size;
}

void
vmm_virtqueue_set_size(VmmVirtqueue *self, guint16 size)
{
	if (!self->enabled)
		self->size = size;
}

guint16
vmm_virtqueue_get_size(VmmVirtqueue *self)
{
	return self->size;
}

void
vmm_virtqueue_set_addresses(VmmVirtqueue *self, guint64 desc, guint64 avail, guint64 used)
{
	if (self->enabled)
		return;
	self->desc_address = desc;
	self->avail_address = avail;
	self->used_address = used;
}

void
vmm_virtqueue_get_addresses(VmmVirtqueue *self, guint64 *desc, guint64 *avail, guint64 *used)
{
	*desc = self->desc_address;
	*avail = self->avail_address;
	*used = self->used_address;
}

static guint8 *
map_ring(VmmVirtqueue *self,
	 const gchar *what,
	 guint64 address,
	 guint64 length,
	 guint64 alignment,
	 GError **error)
{
	guint8 *host;

	if (address % alignment != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "%s ring at 0x%" G_GINT64_MODIFIER "x is not %" G_GUINT64_FORMAT
			    "-byte aligned",
			    what,
			    address,
			    alignment);
		return NULL;
	}
	host = vmm_memory_get(self->memory, address, length);
	if (host == NULL)
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "%s ring 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
			    "x is not inside guest RAM",
			    what,
			    address,
			    length);
	return host;
}

gboolean
vmm_virtqueue_enable(VmmVirtqueue *self, GError **error)
{
	guint64 size = self->size;

	if (size == 0 || size > self->max_size || (size & (size - 1)) != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "queue size %u is not a power of 2 up to %u",
			    self->size,
			    self->max_size);
		return FALSE;
	}
	self->desc = map_ring(self, "descriptor", self->desc_address, DESC_SIZE * size, 16, error);
	if (self->desc == NULL)
		return FALSE;
	self->avail = map_ring(self,
			       "available",
			       self->avail_address,
			       RING_HEADER + 2 * size + RING_TRAILER,
			       2,
			       error);
	if (self->avail == NULL)
		return FALSE;
	self->used = map_ring(self,
			      "used",
			      self->used_address,
			      RING_HEADER + USED_ELEM_SIZE * size + RING_TRAILER,
			      4,
			      error);
	if (self->used == NULL)
		return FALSE;
	self->last_avail_idx = self->used_idx = 0;
	self->enabled = TRUE;
	return TRUE;
}

gboolean
vmm_virtqueue_is_enabled(VmmVirtqueue *self)
{
	return self->enabled;
}

/* The driver may rewrite a descriptor at any time: read it once, then check the copy. */
static void
read_desc(VmmVirtqueue *self, guint16 index, RawDesc *out)
{
	const guint8 *p = self->desc + (gsize)index * DESC_SIZE;
	guint64 address;
	guint32 length;
	guint16 flags, next;

	memcpy(&address, p, 8);
	memcpy(&length, p + 8, 4);
	memcpy(&flags, p + 12, 2);
	memcpy(&next, p + 14, 2);
	out->address = GUINT64_FROM_LE(address);
	out->length = GUINT32_FROM_LE(length);
	out->flags = GUINT16_FROM_LE(flags);
	out->next = GUINT16_FROM_LE(next);
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

static gboolean
chain_contains(const VmmVirtqChain *chain, const guint16 *indices, guint16 index)
{
	for (guint i = 0; i < chain->n_descs; i++)
		if (indices[i] == index)
			return TRUE;
	return FALSE;
}

static gboolean
check_desc(VmmVirtqueue *self, const RawDesc *desc, gboolean seen_writable, GError **error)
{
	if (desc->flags & VIRTQ_DESC_F_INDIRECT)
		return broken(error, "indirect descriptor, not negotiated");
	if (!(desc->flags & VIRTQ_DESC_F_WRITE) && seen_writable)
		return broken(error, "device-readable descriptor after a writable one");
	if (!vmm_memory_contains(self->memory, desc->address, desc->length))
		return broken(error,
			      "buffer 0x%" G_GINT64_MODIFIER "x+0x%x is not inside guest RAM",
			      desc->address,
			      desc->length);
	if ((desc->flags & VIRTQ_DESC_F_NEXT) && desc->next >= self->size)
		return broken(error, "next descriptor %u beyond queue size", desc->next);
	return TRUE;
}

static gboolean
walk_chain(VmmVirtqueue *self, guint16 head, VmmVirtqChain *chain, GError **error)
{
	guint16 indices[VMM_VIRTQ_MAX_CHAIN];
	guint limit = MIN(VMM_VIRTQ_MAX_CHAIN, self->size);
	gboolean seen_writable = FALSE;
	guint16 index = head;
	RawDesc desc;

	chain->head = head;
	chain->n_descs = 0;
	for (;;) {
		if (chain_contains(chain, indices, index))
			return broken(error, "descriptor chain from %u loops at %u", head, index);
		if (chain->n_descs == limit)
			return broken(
				error, "descriptor chain from %u longer than %u", head, limit);
		read_desc(self, index, &desc);
		if (!check_desc(self, &desc, seen_writable, error))
			return FALSE;
		seen_writable = (desc.flags & VIRTQ_DESC_F_WRITE) != 0;
		indices[chain->n_descs] = index;
		chain->descs[chain->n_descs++] =
			(VmmVirtqDesc){desc.address, desc.length, seen_writable};
		if (!(desc.flags & VIRTQ_DESC_F_NEXT))
			return TRUE;
		index = desc.next;
	}
}

VmmVirtqPop
vmm_virtqueue_pop(VmmVirtqueue *self, VmmVirtqChain *chain, GError **error)
{
	guint16 avail_idx, pending, head;

	if (!self->enabled)
		return VMM_VIRTQ_EMPTY;
	/* Acquire: the ring entries the driver wrote before bumping idx are visible after it. */
	avail_idx =
		GUINT16_FROM_LE(__atomic_load_n((guint16 *)(self->avail + 2), __ATOMIC_ACQUIRE));
	pending = (guint16)(avail_idx - self->last_avail_idx);
	if (pending == 0)
		return VMM_VIRTQ_EMPTY;
	if (pending > self->size) {
		broken(error,
		       "available index jumped from %u to %u (queue size %u)",
		       self->last_avail_idx,
		       avail_idx,
		       self->size);
		return VMM_VIRTQ_BROKEN;
	}
	memcpy(&head, self->avail + RING_HEADER + 2 * (self->last_avail_idx % self->size), 2);
	head = GUINT16_FROM_LE(head);
	if (head >= self->size) {
		broken(error, "available head %u beyond queue size %u", head, self->size);
		return VMM_VIRTQ_BROKEN;
	}
	if (!walk_chain(self, head, chain, error))
		return VMM_VIRTQ_BROKEN;
	self->last_avail_idx++;
	return VMM_VIRTQ_CHAIN;
}

gboolean
vmm_virtqueue_push(VmmVirtqueue *self, guint16 head, guint32 written, GError **error)
{
	guint8 *elem;
	guint32 id_le = GUINT32_TO_LE(head);
	guint32 len_le = GUINT32_TO_LE(written);

	if (!self->enabled || head >= self->size)
		return broken(error, "cannot return descriptor %u to this queue", head);
	elem = self->used + RING_HEADER + USED_ELEM_SIZE * (self->used_idx % self->size);
	memcpy(elem, &id_le, 4);
	memcpy(elem + 4, &len_le, 4);
	self->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	__atomic_store_n(
		(guint16 *)(self->used + 2), GUINT16_TO_LE(self->used_idx), __ATOMIC_RELEASE);
	return TRUE;
}

gboolean
vmm_virtqueue_wants_interrupt(VmmVirtqueue *self)
{
	guint16 flags;

	if (!self->enabled)
		return FALSE;
	/* Order our used->idx store before reading the driver's flags (virtio 1.2, 2.7.10). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = GUINT16_FROM_LE(__atomic_load_n((guint16 *)self->avail, __ATOMIC_RELAXED));
	return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

gsize
vmm_virtq_chain_read(VmmMemory *memory, const VmmVirtqChain *chain, guint8 *data, gsize length)
{
	gsize done = 0;

	for (guint i = 0; i < chain->n_descs && done < length; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		gsize n = MIN((gsize)desc->length, length - done);
		const guint8 *host;

		if (desc->device_writable)
			break;
		host = vmm_memory_get(memory, desc->address, n);
		if (host == NULL)
			break;
		memcpy(data + done, host, n);
		done += n;
	}
	return done;
}
