/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-memory.h"

G_BEGIN_DECLS

#define VMM_VIRTQ_MAX_CHAIN 64

typedef struct {
	guint64 address;
	guint32 length;
	gboolean device_writable;
} VmmVirtqDesc;

/* One descriptor chain the driver made available, already bounds-checked. */
typedef struct {
	guint16 head;
	guint n_descs;
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
VmmVirtqueue *vmm_virtqueue_new(VmmMemory *memory, guint16 max_size);
void vmm_virtqueue_free(VmmVirtqueue *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmVirtqueue, vmm_virtqueue_free)

/* Back to disabled, size = maximum, addresses 0, indices 0. */
void vmm_virtqueue_reset(VmmVirtqueue *self);
guint16 vmm_virtqueue_get_max_size(VmmVirtqueue *self);
/* Ignored while the queue is enabled; checked by vmm_virtqueue_enable(). */
void vmm_virtqueue_set_size(VmmVirtqueue *self, guint16 size);
guint16 vmm_virtqueue_get_size(VmmVirtqueue *self);
/* Guest-physical addresses of the descriptor table, the available and used rings. */
void vmm_virtqueue_set_addresses(VmmVirtqueue *self, guint64 desc, guint64 avail, guint64 used);
void vmm_virtqueue_get_addresses(VmmVirtqueue *self, guint64 *desc, guint64 *avail, guint64 *used);

/*
 * Starts using the rings: the size must be a power of 2 no larger than the
 * maximum, and each ring aligned and wholly inside guest RAM. On failure the
 * queue stays disabled.
 */
gboolean vmm_virtqueue_enable(VmmVirtqueue *self, GError **error);
gboolean vmm_virtqueue_is_enabled(VmmVirtqueue *self);

/*
 * Takes the next chain the driver made available. Every index, address and
 * length is checked: each descriptor lies wholly inside guest RAM, chains are
 * at most min(VMM_VIRTQ_MAX_CHAIN, size) long without loops, device-writable
 * descriptors follow the readable ones, and VIRTQ_DESC_F_INDIRECT (never
 * negotiated) is refused. On VMM_VIRTQ_BROKEN the queue is left as it was.
 */
VmmVirtqPop vmm_virtqueue_pop(VmmVirtqueue *self, VmmVirtqChain *chain, GError **error);

/* Returns chain @head to the driver with @written bytes written into it. */
gboolean vmm_virtqueue_push(VmmVirtqueue *self, guint16 head, guint32 written, GError **error);

/* Whether the driver wants an interrupt for used buffers (VIRTQ_AVAIL_F_NO_INTERRUPT clear). */
gboolean vmm_virtqueue_wants_interrupt(VmmVirtqueue *self);

/* Copies up to @length bytes of the chain's device-readable buffers into @data; returns the count.
 */
gsize
vmm_virtq_chain_read(VmmMemory *memory, const VmmVirtqChain *chain, guint8 *data, gsize length);

G_END_DECLS
