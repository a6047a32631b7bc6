/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-log.h"
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
	uint16_t max_size;
	uint16_t size;
	bool enabled;
	uint64_t desc_address;
	uint64_t avail_address;
	uint64_t used_address;
	/* Host views of the rings, valid while enabled: guest RAM never moves. */
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;
	uint16_t last_avail_idx;
	uint16_t used_idx;
};

typedef struct {
	uint64_t address;
	uint32_t length;
	uint16_t flags;
	uint16_t next;
} RawDesc;

VmmVirtqueue *
vmm_virtqueue_new(VmmMemory *memory, uint16_t max_size)
{
	VmmVirtqueue *self;

	vmm_return_val_if_fail(max_size != 0 && (max_size & (max_size - 1)) == 0, NULL);
	self = vmm_new0(VmmVirtqueue, 1);
	self->memory = memory;
	self->max_size = max_size;
	vmm_virtqueue_reset(self);
	return self;
}

void
vmm_virtqueue_free(VmmVirtqueue *self)
{
	free(self);
}

void
vmm_virtqueue_reset(VmmVirtqueue *self)
{
	self->size = self->max_size;
	self->enabled = false;
	self->desc_address = self->avail_address = self->used_address = 0;
	self->desc = self->avail = self->used = NULL;
	self->last_avail_idx = self->used_idx = 0;
}

uint16_t
vmm_virtqueue_get_max_size(VmmVirtqueue *self)
{
	return self->max_size;
}

void
vmm_virtqueue_set_size(VmmVirtqueue *self, uint16_t size)
{
	if (!self->enabled)
		self->size = size;
}

uint16_t
vmm_virtqueue_get_size(VmmVirtqueue *self)
{
	return self->size;
}

void
vmm_virtqueue_set_addresses(VmmVirtqueue *self, uint64_t desc, uint64_t avail, uint64_t used)
{
	if (self->enabled)
		return;
	self->desc_address = desc;
	self->avail_address = avail;
	self->used_address = used;
}

void
vmm_virtqueue_get_addresses(VmmVirtqueue *self, uint64_t *desc, uint64_t *avail, uint64_t *used)
{
	*desc = self->desc_address;
	*avail = self->avail_address;
	*used = self->used_address;
}

static uint8_t *
map_ring(VmmVirtqueue *self,
	 const char *what,
	 uint64_t address,
	 uint64_t length,
	 uint64_t alignment,
	 VmmError **error)
{
	uint8_t *host;

	if (address % alignment != 0) {
		vmm_set_error(error,
			      EBADMSG,
			      "%s ring at 0x%" PRIx64 " is not %" PRIu64 "-byte aligned",
			      what,
			      address,
			      alignment);
		return NULL;
	}
	host = vmm_memory_get(self->memory, address, length);
	if (host == NULL)
		vmm_set_error(error,
			      EBADMSG,
			      "%s ring 0x%" PRIx64 "+0x%" PRIx64 " is not inside guest RAM",
			      what,
			      address,
			      length);
	return host;
}

bool
vmm_virtqueue_enable(VmmVirtqueue *self, VmmError **error)
{
	uint64_t size = self->size;

	if (size == 0 || size > self->max_size || (size & (size - 1)) != 0)
		return vmm_set_error(error,
				     EBADMSG,
				     "queue size %u is not a power of 2 up to %u",
				     self->size,
				     self->max_size);
	self->desc = map_ring(self, "descriptor", self->desc_address, DESC_SIZE * size, 16, error);
	if (self->desc == NULL)
		return false;
	self->avail = map_ring(self,
			       "available",
			       self->avail_address,
			       RING_HEADER + 2 * size + RING_TRAILER,
			       2,
			       error);
	if (self->avail == NULL)
		return false;
	self->used = map_ring(self,
			      "used",
			      self->used_address,
			      RING_HEADER + USED_ELEM_SIZE * size + RING_TRAILER,
			      4,
			      error);
	if (self->used == NULL)
		return false;
	self->last_avail_idx = self->used_idx = 0;
	self->enabled = true;
	return true;
}

bool
vmm_virtqueue_is_enabled(VmmVirtqueue *self)
{
	return self->enabled;
}

/* The driver may rewrite a descriptor at any time: read it once, then check the copy. */
static void
read_desc(VmmVirtqueue *self, uint16_t index, RawDesc *out)
{
	const uint8_t *p = self->desc + (size_t)index * DESC_SIZE;
	uint64_t address;
	uint32_t length;
	uint16_t flags, next;

	memcpy(&address, p, 8);
	memcpy(&length, p + 8, 4);
	memcpy(&flags, p + 12, 2);
	memcpy(&next, p + 14, 2);
	out->address = le64toh(address);
	out->length = le32toh(length);
	out->flags = le16toh(flags);
	out->next = le16toh(next);
}

static bool
chain_contains(const VmmVirtqChain *chain, const uint16_t *indices, uint16_t index)
{
	for (unsigned i = 0; i < chain->n_descs; i++)
		if (indices[i] == index)
			return true;
	return false;
}

static bool
check_desc(VmmVirtqueue *self, const RawDesc *desc, bool seen_writable, VmmError **error)
{
	if (desc->flags & VIRTQ_DESC_F_INDIRECT)
		return vmm_set_error(error, EBADMSG, "indirect descriptor, not negotiated");
	if (!(desc->flags & VIRTQ_DESC_F_WRITE) && seen_writable)
		return vmm_set_error(
			error, EBADMSG, "device-readable descriptor after a writable one");
	if (!vmm_memory_contains(self->memory, desc->address, desc->length))
		return vmm_set_error(error,
				     EBADMSG,
				     "buffer 0x%" PRIx64 "+0x%x is not inside guest RAM",
				     desc->address,
				     desc->length);
	if ((desc->flags & VIRTQ_DESC_F_NEXT) && desc->next >= self->size)
		return vmm_set_error(
			error, EBADMSG, "next descriptor %u beyond queue size", desc->next);
	return true;
}

static bool
walk_chain(VmmVirtqueue *self, uint16_t head, VmmVirtqChain *chain, VmmError **error)
{
	uint16_t indices[VMM_VIRTQ_MAX_CHAIN];
	unsigned limit = VMM_MIN(VMM_VIRTQ_MAX_CHAIN, self->size);
	bool seen_writable = false;
	uint16_t index = head;
	RawDesc desc;

	chain->head = head;
	chain->n_descs = 0;
	for (;;) {
		if (chain_contains(chain, indices, index))
			return vmm_set_error(error,
					     EBADMSG,
					     "descriptor chain from %u loops at %u",
					     head,
					     index);
		if (chain->n_descs == limit)
			return vmm_set_error(error,
					     EBADMSG,
					     "descriptor chain from %u longer than %u",
					     head,
					     limit);
		read_desc(self, index, &desc);
		if (!check_desc(self, &desc, seen_writable, error))
			return false;
		seen_writable = (desc.flags & VIRTQ_DESC_F_WRITE) != 0;
		indices[chain->n_descs] = index;
		chain->descs[chain->n_descs++] =
			(VmmVirtqDesc){desc.address, desc.length, seen_writable};
		if (!(desc.flags & VIRTQ_DESC_F_NEXT))
			return true;
		index = desc.next;
	}
}

VmmVirtqPop
vmm_virtqueue_pop(VmmVirtqueue *self, VmmVirtqChain *chain, VmmError **error)
{
	uint16_t avail_idx, pending, head;

	if (!self->enabled)
		return VMM_VIRTQ_EMPTY;
	/* Acquire: the ring entries the driver wrote before bumping idx are visible after it. */
	avail_idx = le16toh(__atomic_load_n((uint16_t *)(self->avail + 2), __ATOMIC_ACQUIRE));
	pending = (uint16_t)(avail_idx - self->last_avail_idx);
	if (pending == 0)
		return VMM_VIRTQ_EMPTY;
	if (pending > self->size) {
		vmm_set_error(error,
			      EBADMSG,
			      "available index jumped from %u to %u (queue size %u)",
			      self->last_avail_idx,
			      avail_idx,
			      self->size);
		return VMM_VIRTQ_BROKEN;
	}
	memcpy(&head, self->avail + RING_HEADER + 2 * (self->last_avail_idx % self->size), 2);
	head = le16toh(head);
	if (head >= self->size) {
		vmm_set_error(
			error, EBADMSG, "available head %u beyond queue size %u", head, self->size);
		return VMM_VIRTQ_BROKEN;
	}
	if (!walk_chain(self, head, chain, error))
		return VMM_VIRTQ_BROKEN;
	self->last_avail_idx++;
	return VMM_VIRTQ_CHAIN;
}

bool
vmm_virtqueue_push(VmmVirtqueue *self, uint16_t head, uint32_t written, VmmError **error)
{
	uint8_t *elem;
	uint32_t id_le = htole32(head);
	uint32_t len_le = htole32(written);

	if (!self->enabled || head >= self->size)
		return vmm_set_error(
			error, EBADMSG, "cannot return descriptor %u to this queue", head);
	elem = self->used + RING_HEADER + USED_ELEM_SIZE * (self->used_idx % self->size);
	memcpy(elem, &id_le, 4);
	memcpy(elem + 4, &len_le, 4);
	self->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(self->used + 2), htole16(self->used_idx), __ATOMIC_RELEASE);
	return true;
}

bool
vmm_virtqueue_wants_interrupt(VmmVirtqueue *self)
{
	uint16_t flags;

	if (!self->enabled)
		return false;
	/* Order our used->idx store before reading the driver's flags (virtio 1.2, 2.7.10). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = le16toh(__atomic_load_n((uint16_t *)self->avail, __ATOMIC_RELAXED));
	return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

size_t
vmm_virtq_chain_read(VmmMemory *memory, const VmmVirtqChain *chain, uint8_t *data, size_t length)
{
	size_t done = 0;

	for (unsigned i = 0; i < chain->n_descs && done < length; i++) {
		const VmmVirtqDesc *desc = &chain->descs[i];
		size_t n = VMM_MIN((size_t)desc->length, length - done);
		const uint8_t *host;

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
