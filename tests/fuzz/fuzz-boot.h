/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/*
 * What fuzz-elf and fuzz-bzimage share: a 16 MiB guest memory kept from one
 * input to the next (the loaders read nothing from it), a fixed command line
 * and initrd, and the checks every load must pass.
 */

#include "fuzz.h"
#include "vmm-boot.h"

#define FUZZ_BOOT_MEMORY_SIZE (16 * VMM_MIB)
#define FUZZ_BOOT_CMDLINE "console=ttyS0 root=/dev/vda rw quiet"
/* Not a whole number of pages, so that its end is not aligned. */
#define FUZZ_BOOT_INITRD_SIZE 5000u

/* Checks what one format's loader wrote on success; @initrd is NULL when none was given. */
typedef void (*FuzzBootCheck)(VmmMemory *memory,
			      const VmmBlob *kernel,
			      const VmmBlob *initrd,
			      const VmmBootInfo *info);

/*
 * Loads @kernel with vmm_boot_load(), once without an initrd and once with
 * one. A failure must come with an error and leak nothing; a success must
 * leave the command line, the initrd (page-aligned, above the kernel, in
 * RAM) and an image inside RAM, and pass @check.
 */
void fuzz_boot_load(const VmmBlob *kernel, FuzzBootCheck check);

/* Whether the @size bytes at @address of guest memory are @data. */
bool fuzz_boot_memory_equals(VmmMemory *memory, uint64_t address, const void *data, size_t size);

/* Checks @size bytes of initrd at @address, for a kernel ending at @image_end. */
void fuzz_boot_check_initrd(VmmMemory *memory,
			    const VmmBlob *initrd,
			    uint64_t address,
			    uint64_t size,
			    uint64_t image_end);
