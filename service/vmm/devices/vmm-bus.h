/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

/* How a device answers accesses to a range it registered; offsets are from the range's base. */
typedef struct {
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t size);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size);
} VmmIoOps;

/* An address space of device ranges: one for port I/O, one for MMIO. Thread-safe. */
typedef struct _VmmBus VmmBus;

VmmBus *vmm_bus_new(const char *name);
void vmm_bus_free(VmmBus *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBus, vmm_bus_free)

bool vmm_bus_add(VmmBus *self,
		 uint64_t base,
		 uint64_t length,
		 const VmmIoOps *ops,
		 void *opaque,
		 VmmError **error);
bool vmm_bus_remove(VmmBus *self, uint64_t base, void *opaque);
bool vmm_bus_read(VmmBus *self, uint64_t address, uint8_t *data, uint32_t size);
bool vmm_bus_write(VmmBus *self, uint64_t address, const uint8_t *data, uint32_t size);
