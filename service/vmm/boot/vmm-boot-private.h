/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

#include "vmm-boot.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define VMM_E820_MAX 4

typedef struct {
	uint64_t address;
	uint64_t size;
	uint32_t type;
} VmmE820Entry;

unsigned vmm_boot_e820(VmmMemory *memory, VmmE820Entry entries[VMM_E820_MAX]);
bool vmm_boot_write(VmmMemory *memory,
		    uint64_t guest_address,
		    const void *data,
		    size_t length,
		    const char *what,
		    VmmError **error);
bool vmm_boot_place_initrd(VmmMemory *memory,
			   const VmmBlob *initrd,
			   uint64_t image_end,
			   uint64_t ceiling,
			   uint64_t *address,
			   VmmError **error);
bool vmm_boot_write_cmdline(VmmMemory *memory, const char *cmdline, VmmError **error);

bool vmm_boot_is_elf(const VmmBlob *image);
bool
vmm_boot_load_elf(VmmMemory *memory, const VmmBlob *image, VmmBootInfo *info, VmmError **error);
bool vmm_boot_write_start_info(VmmMemory *memory,
			       uint64_t initrd_address,
			       uint64_t initrd_size,
			       VmmError **error);

bool vmm_boot_is_bzimage(const VmmBlob *image);
bool vmm_boot_load_bzimage(VmmMemory *memory,
			   const VmmBlob *image,
			   const VmmBlob *initrd,
			   VmmBootInfo *info,
			   VmmError **error);
