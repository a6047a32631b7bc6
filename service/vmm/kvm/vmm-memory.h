/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

#define VMM_PAGE_SIZE 4096u
#define VMM_PAGE_SHIFT 12
#define VMM_MIB (UINT64_C(1) << 20)
/* RAM above this address moves above 4 GiB, leaving room for MMIO. */
#define VMM_LOW_RAM_LIMIT (UINT64_C(3) << 30)
#define VMM_HIGH_RAM_START (UINT64_C(4) << 30)

/* One contiguous part of guest-physical RAM and where it lives in this process. */
typedef struct {
	uint64_t guest_address;
	uint64_t size;
	uint8_t *host;
} VmmMemoryRegion;

/*
 * Guest RAM: one anonymous mapping, shown to the guest as up to two regions
 * (below 3 GiB, and from 4 GiB on). Every access from a device model goes
 * through vmm_memory_get(), which refuses anything not wholly inside RAM.
 */
typedef struct {
	uint8_t *host;
	uint64_t size;
	unsigned n_regions;
	VmmMemoryRegion regions[2];
} VmmMemory;

VmmMemory *vmm_memory_new(uint64_t size, VmmError **error);
void vmm_memory_free(VmmMemory *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmMemory, vmm_memory_free)

void *vmm_memory_get(VmmMemory *self, uint64_t guest_address, uint64_t length);
bool vmm_memory_contains(VmmMemory *self, uint64_t guest_address, uint64_t length);
bool vmm_memory_discard(VmmMemory *self, uint64_t guest_address, uint64_t length, VmmError **error);
uint64_t vmm_memory_page_count(VmmMemory *self);
bool vmm_memory_pfn_to_address(VmmMemory *self, uint64_t pfn, uint64_t *guest_address);
