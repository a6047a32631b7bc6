/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * The ELF kernel loader (service/vmm/boot/vmm-boot-elf.c) on arbitrary images:
 * the file header, program headers, PT_NOTE segments with the vboxmem and
 * Xen PVH entry notes, PT_LOAD segments, then the initrd and the PVH start
 * info written after them.
 *
 * Input: the kernel image, as vboxmem-vm reads it from the machine's kernel
 * file. Inputs that are not ELF, or that vmm_boot_load() would take as a
 * bzImage, are left to fuzz-bzimage. Each is loaded through vmm_boot_load()
 * into 16 MiB of guest memory twice, without and with an initrd
 * (fuzz-boot.c). Nothing may read outside the image or guest memory, crash
 * or leak; a load that succeeds must have left:
 * - an entry point in guest RAM, of the vboxmem ring-3 or the PVH kind;
 * - the hvm_start_info with its magic, the command line, the memory map
 *   and, with an initrd, one module: the initrd, page-aligned, above the
 *   image and intact.
 *
 * Seeds: corpus/elf/, written by make-boot-corpus.py.
 */

#include "config.h"

#include <string.h>

#include "fuzz-boot.h"
#include "vboxmem/pvh-start-info.h"
#include "vmm-boot-private.h"

static void
check_elf(VmmMemory *memory, const VmmBlob *kernel, const VmmBlob *initrd, const VmmBootInfo *info)
{
	struct hvm_start_info start;
	struct hvm_modlist_entry module;
	uint8_t *host;

	FUZZ_CHECK(info->kind == VMM_ENTRY_RING3 || info->kind == VMM_ENTRY_PVH);
	FUZZ_CHECK(vmm_memory_contains(memory, info->entry, 1));
	FUZZ_CHECK(info->boot_data == VMM_BOOT_START_INFO);

	host = vmm_memory_get(memory, VMM_BOOT_START_INFO, sizeof(start));
	FUZZ_CHECK(host != NULL);
	memcpy(&start, host, sizeof(start));
	FUZZ_CHECK(le32toh(start.magic) == XEN_HVM_START_MAGIC_VALUE);
	FUZZ_CHECK(le32toh(start.version) == 1);
	FUZZ_CHECK(le64toh(start.cmdline_paddr) == VMM_BOOT_CMDLINE);
	FUZZ_CHECK(le64toh(start.memmap_paddr) == VMM_BOOT_MEMMAP);
	/* Below 640 KiB, the hole up to 1 MiB, the rest: 16 MiB has no RAM above 4 GiB. */
	FUZZ_CHECK(le32toh(start.memmap_entries) == 3);
	FUZZ_CHECK(le32toh(start.nr_modules) == (initrd != NULL ? 1 : 0));
	if (initrd == NULL) {
		FUZZ_CHECK(start.modlist_paddr == 0);
		return;
	}
	FUZZ_CHECK(le64toh(start.modlist_paddr) == VMM_BOOT_MODLIST);
	host = vmm_memory_get(memory, VMM_BOOT_MODLIST, sizeof(module));
	FUZZ_CHECK(host != NULL);
	memcpy(&module, host, sizeof(module));
	fuzz_boot_check_initrd(
		memory, initrd, le64toh(module.paddr), le64toh(module.size), info->image_end);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	VmmBlob kernel = {data, size};

	if (!vmm_boot_is_elf(&kernel) || vmm_boot_is_bzimage(&kernel))
		return 0;
	fuzz_boot_load(&kernel, check_elf);
	return 0;
}
