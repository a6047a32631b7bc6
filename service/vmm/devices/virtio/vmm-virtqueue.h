/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-memory.h"

#define VMM_VIRTQ_MAX_CHAIN 64

typedef struct {
	uint64_t address;
	uint32_t length;
	bool device_writable;
} VmmVirtqDesc;

/* One descriptor chain the driver made available, already bounds-checked. */
typedef struct {
	uint16_t head;
	unsigned n_descs;
	VmmVirtqDesc descs[VMM_VIRTQ_MAX_CHAIN];
} VmmVirtqChain;

/* The device side of one split virtqueue (virtio 1.2, 2.7). */
typedef struct _VmmVirtqueue VmmVirtqueue;

/* What vmm_virtqueue_pop() found. */
typedef enum {
	VMM_VIRTQ_EMPTY,
	VMM_VIRTQ_CHAIN,
	VMM_VIRTQ_BROKEN, /* the driver wrote garbage; the error says what */
} VmmVirtqPop;

/*
 * A queue of at most @max_size entries (a power of 2) over @memory. It starts
 * disabled; the transport sets its size and ring addresses as the driver
 * writes them and calls vmm_virtqueue_enable(). Not thread-safe: the
 * transport's lock serialises every call.
 */
VmmVirtqueue *vmm_virtqueue_new(VmmMemory *memory, uint16_t max_size);
void vmm_virtqueue_free(VmmVirtqueue *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmVirtqueue, vmm_virtqueue_free)

/* Back to disabled, size = maximum, addresses 0, indices 0. */
void vmm_virtqueue_reset(VmmVirtqueue *self);
uint16_t vmm_virtqueue_get_max_size(VmmVirtqueue *self);
/* Ignored while the queue is enabled; checked by vmm_virtqueue_enable(). */
void vmm_virtqueue_set_size(VmmVirtqueue *self, uint16_t size);
uint16_t vmm_virtqueue_get_size(VmmVirtqueue *self);

/*
 * A guest can publish buffers as fast as a device returns them: one
 * notification handles at most a queue's worth of chains, so that the
 * transport's lock is released and the worker's main loop gets its turn.
 * Counts one more chain in *@handled; false once the queue's worth is done.
 */
static inline bool
vmm_virtqueue_within_budget(VmmVirtqueue *self, unsigned *handled)
{
	return (*handled)++ < vmm_virtqueue_get_size(self);
}
/* Guest-physical addresses of the descriptor table, the available and used rings. */
void vmm_virtqueue_set_addresses(VmmVirtqueue *self, uint64_t desc, uint64_t avail, uint64_t used);
void
vmm_virtqueue_get_addresses(VmmVirtqueue *self, uint64_t *desc, uint64_t *avail, uint64_t *used);

/*
 * Starts using the rings: the size must be a power of 2 no larger than the
 * maximum, and each ring aligned and wholly inside guest RAM. On failure the
 * queue stays disabled.
 */
bool vmm_virtqueue_enable(VmmVirtqueue *self, VmmError **error);
bool vmm_virtqueue_is_enabled(VmmVirtqueue *self);

/*
 * Takes the next chain the driver made available. Every index, address and
 * length is checked: each descriptor lies wholly inside guest RAM, chains are
 * at most min(VMM_VIRTQ_MAX_CHAIN, size) long without loops, device-writable
 * descriptors follow the readable ones, and VIRTQ_DESC_F_INDIRECT (never
 * negotiated) is refused. On VMM_VIRTQ_BROKEN the queue is left as it was.
 */
VmmVirtqPop vmm_virtqueue_pop(VmmVirtqueue *self, VmmVirtqChain *chain, VmmError **error);

/* Returns chain @head to the driver with @written bytes written into it. */
bool vmm_virtqueue_push(VmmVirtqueue *self, uint16_t head, uint32_t written, VmmError **error);

/* Whether the driver wants an interrupt for used buffers (VIRTQ_AVAIL_F_NO_INTERRUPT clear). */
bool vmm_virtqueue_wants_interrupt(VmmVirtqueue *self);

/* Copies up to @length bytes of the chain's device-readable buffers into @data; returns the count.
 */
size_t
vmm_virtq_chain_read(VmmMemory *memory, const VmmVirtqChain *chain, uint8_t *data, size_t length);
