/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * The bzImage loader (service/vmm/boot/vmm-boot-bzimage.c) on arbitrary images:
 * the setup header and its length byte, the boot protocol version and
 * xloadflags, setup_sects, pref_address, init_size and initrd_addr_max, then
 * the boot_params (zero page) it builds.
 *
 * Input: the kernel image, as vboxmem-vm reads it from the machine's kernel
 * file; inputs vmm_boot_load() would not take as a bzImage are left to
 * fuzz-elf. Each is loaded through vmm_boot_load() into 16 MiB of guest
 * memory twice, without and with an initrd (fuzz-boot.c). Nothing may read
 * outside the image or guest memory, crash or leak; a load that succeeds
 * must have left:
 * - the protected-mode kernel (after the 1 + setup_sects sectors of setup
 *   code) copied whole at 1 MiB or above, with the 64-bit entry 0x200 bytes
 *   into it;
 * - a zero page that is the image's setup header, no more of the image than
 *   the header's length byte says, with the loader's fields set (type of
 *   loader, loaded high, command line, ramdisk, e820 map) and zeros
 *   elsewhere;
 * - with an initrd, the initrd page-aligned, above the image, below
 *   initrd_addr_max and intact.
 *
 * Seeds: corpus/bzimage/, written by make-boot-corpus.py.
 */

#include "config.h"

#include <string.h>

#include "fuzz-boot.h"
#include "vmm-boot-private.h"
#include "vmm-bzimage-layout.h"

static uint32_t
get_le32(const uint8_t *at)
{
	return at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

/* Bytes of boot_params the loader writes itself. */
static bool
written_by_loader(size_t offset)
{
	return offset == E820_ENTRIES || offset == TYPE_OF_LOADER || offset == LOADFLAGS ||
	       (offset >= RAMDISK_IMAGE && offset < RAMDISK_SIZE + 4) ||
	       (offset >= CMD_LINE_PTR && offset < CMD_LINE_PTR + 4) ||
	       (offset >= E820_TABLE && offset < E820_TABLE + 3 * E820_ENTRY_SIZE);
}

static void
check_bzimage(VmmMemory *memory,
	      const VmmBlob *kernel,
	      const VmmBlob *initrd,
	      const VmmBootInfo *info)
{
	const uint8_t *image = kernel->data;
	size_t setup_size = ((image[SETUP_SECTS] != 0 ? image[SETUP_SECTS] : 4) + 1) * 512;
	size_t header_end = HEADER_MAGIC_OFFSET + image[SETUP_HEADER_LENGTH_BYTE];
	uint64_t load = info->entry - ENTRY_64_OFFSET;
	const uint8_t *params;
	uint64_t ceiling;

	FUZZ_CHECK(info->kind == VMM_ENTRY_LINUX64);
	FUZZ_CHECK(info->boot_data == VMM_BOOT_ZERO_PAGE);
	FUZZ_CHECK(setup_size < kernel->size && header_end <= kernel->size);
	/* The protected-mode kernel, whole, at 1 MiB or above. */
	FUZZ_CHECK(load >= VMM_BOOT_KERNEL_MIN);
	FUZZ_CHECK(info->image_end >= load + (kernel->size - setup_size));
	FUZZ_CHECK(fuzz_boot_memory_equals(
		memory, load, image + setup_size, kernel->size - setup_size));

	params = vmm_memory_get(memory, VMM_BOOT_ZERO_PAGE, BOOT_PARAMS_SIZE);
	FUZZ_CHECK(params != NULL);
	FUZZ_CHECK(params[TYPE_OF_LOADER] == 0xff);
	FUZZ_CHECK(params[LOADFLAGS] & 1);
	FUZZ_CHECK(get_le32(params + CMD_LINE_PTR) == VMM_BOOT_CMDLINE);
	FUZZ_CHECK(params[E820_ENTRIES] == 3);
	for (size_t i = 0; i < BOOT_PARAMS_SIZE; i++) {
		if (written_by_loader(i))
			continue;
		if (i >= SETUP_HEADER_START && i < header_end)
			FUZZ_CHECK(params[i] == image[i]);
		else
			FUZZ_CHECK(params[i] == 0);
	}
	fuzz_boot_check_initrd(memory,
			       initrd,
			       get_le32(params + RAMDISK_IMAGE),
			       get_le32(params + RAMDISK_SIZE),
			       info->image_end);
	if (initrd != NULL) {
		ceiling = (uint64_t)get_le32(params + INITRD_ADDR_MAX) + 1;
		FUZZ_CHECK(get_le32(params + RAMDISK_IMAGE) + (uint64_t)initrd->size <= ceiling);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	VmmBlob kernel = {data, size};

	if (!vmm_boot_is_bzimage(&kernel))
		return 0;
	fuzz_boot_load(&kernel, check_bzimage);
	return 0;
}
