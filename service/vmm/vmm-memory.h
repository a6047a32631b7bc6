/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VMM_PAGE_SIZE 4096u
#define VMM_PAGE_SHIFT 12
#define VMM_MIB (G_GUINT64_CONSTANT(1) << 20)
/* RAM above this address moves above 4 GiB, leaving room for MMIO. */
#define VMM_LOW_RAM_LIMIT (G_GUINT64_CONSTANT(3) << 30)
#define VMM_HIGH_RAM_START (G_GUINT64_CONSTANT(4) << 30)

/* One contiguous part of guest-physical RAM and where it lives in this process. */
typedef struct {
	guint64 guest_address;
	guint64 size;
	guint8 *host;
} VmmMemoryRegion;

/*
 * Guest RAM: one anonymous mapping, shown to the guest as up to two regions
 * (below 3 GiB, and from 4 GiB on). Every access from a device model goes
 * through vmm_memory_get(), which refuses anything not wholly inside RAM.
 */
typedef struct {
	guint8 *host;
	guint64 size;
	guint n_regions;
	VmmMemoryRegion regions[2];
} VmmMemory;

VmmMemory *vmm_memory_new(guint64 size, GError **error);
void vmm_memory_free(VmmMemory *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmMemory, vmm_memory_free)

gpointer vmm_memory_get(VmmMemory *self, guint64 guest_address, guint64 length);
gboolean vmm_memory_contains(VmmMemory *self, guint64 guest_address, guint64 length);
gboolean vmm_memory_discard(VmmMemory *self, guint64 guest_address, guint64 length, GError **error);
guint64 vmm_memory_page_count(VmmMemory *self);
gboolean vmm_memory_pfn_to_address(VmmMemory *self, guint64 pfn, guint64 *guest_address);

G_END_DECLS
