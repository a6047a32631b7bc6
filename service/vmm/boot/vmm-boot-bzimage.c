/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-boot-private.h"
#include "vmm-bzimage-layout.h"

typedef struct {
	const uint8_t *data;
	size_t size;
	uint8_t params[BOOT_PARAMS_SIZE];
} BzImage;

static uint32_t
read_le(const uint8_t *base, size_t offset, unsigned width)
{
	uint32_t value = 0;
	for (unsigned i = 0; i < width; i++)
		value |= (uint32_t)base[offset + i] << (8 * i);
	return value;
}

static void
write_le(uint8_t *base, size_t offset, uint64_t value, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		base[offset + i] = (uint8_t)(value >> (8 * i));
}

bool
vmm_boot_is_bzimage(const VmmBlob *image)
{
	return image->size > HEADER_MAGIC_OFFSET + 4 &&
	       read_le(image->data, HEADER_MAGIC_OFFSET, 4) == HEADER_MAGIC;
}

static bool
copy_setup_header(BzImage *bz, VmmError **error)
{
	size_t end = HEADER_MAGIC_OFFSET + bz->data[SETUP_HEADER_LENGTH_BYTE];

	if (end > bz->size || end > BOOT_PARAMS_SIZE)
		return vmm_set_error(error, EBADMSG, "Bad bzImage: setup header outside the file");
	memcpy(bz->params + SETUP_HEADER_START,
	       bz->data + SETUP_HEADER_START,
	       end - SETUP_HEADER_START);
	/* From the copy: a short header leaves the rest of params zeroed, never read past the file.
	 */
	if (read_le(bz->params, VERSION, 2) < MIN_VERSION)
		return vmm_set_error(error, EBADMSG, "Bad bzImage: boot protocol older than 2.12");
	if ((read_le(bz->params, XLOADFLAGS, 2) & XLF_KERNEL_64) == 0)
		return vmm_set_error(error, EBADMSG, "Bad bzImage: no 64-bit entry point");
	return true;
}

static uint64_t
loaded_size(const BzImage *bz, size_t offset, uint64_t init_size)
{
	return VMM_MAX(init_size, (uint64_t)(bz->size - offset));
}

static bool
load_kernel(VmmMemory *memory, BzImage *bz, VmmBootInfo *info, VmmError **error)
{
	unsigned setup_sects = bz->data[SETUP_SECTS] != 0 ? bz->data[SETUP_SECTS] : 4;
	size_t offset = (size_t)(setup_sects + 1) * 512;
	uint64_t load = read_le(bz->params, PREF_ADDRESS, 4) |
			((uint64_t)read_le(bz->params, PREF_ADDRESS + 4, 4) << 32);
	uint64_t init_size = read_le(bz->params, INIT_SIZE, 4);
	uint64_t entry_end = ENTRY_64_OFFSET + 1;

	if (offset >= bz->size)
		return vmm_set_error(error, EBADMSG, "Bad bzImage: no protected-mode kernel");
	if (load < VMM_BOOT_KERNEL_MIN)
		load = VMM_BOOT_KERNEL_MIN;
	/* The 64-bit entry lies inside what is loaded, even if the image is shorter. */
	if (!vmm_memory_contains(
		    memory, load, VMM_MAX(loaded_size(bz, offset, init_size), entry_end)))
		return vmm_set_error(error,
				     ENOSPC,
				     "The kernel needs %" PRIu64 " MiB from 0x%" PRIx64
				     "; guest RAM is too small",
				     init_size >> 20,
				     load);
	if (!vmm_boot_write(memory, load, bz->data + offset, bz->size - offset, "kernel", error))
		return false;
	info->kind = VMM_ENTRY_LINUX64;
	info->entry = load + ENTRY_64_OFFSET;
	info->image_end = load + loaded_size(bz, offset, init_size);
	return true;
}

static void
fill_e820(VmmMemory *memory, uint8_t *params)
{
	VmmE820Entry e820[VMM_E820_MAX];
	unsigned n = vmm_boot_e820(memory, e820);

	params[E820_ENTRIES] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		write_le(params, E820_TABLE + i * E820_ENTRY_SIZE, e820[i].address, 8);
		write_le(params, E820_TABLE + i * E820_ENTRY_SIZE + 8, e820[i].size, 8);
		write_le(params, E820_TABLE + i * E820_ENTRY_SIZE + 16, e820[i].type, 4);
	}
}

bool
vmm_boot_load_bzimage(VmmMemory *memory,
		      const VmmBlob *image,
		      const VmmBlob *initrd,
		      VmmBootInfo *info,
		      VmmError **error)
{
	vmm_autofree BzImage *bz = vmm_new0(BzImage, 1);
	uint64_t initrd_address = 0;
	size_t initrd_size = initrd != NULL ? initrd->size : 0;

	bz->data = image->data;
	bz->size = image->size;
	if (!copy_setup_header(bz, error) || !load_kernel(memory, bz, info, error))
		return false;
	if (initrd_size > 0 &&
	    !vmm_boot_place_initrd(memory,
				   initrd,
				   info->image_end,
				   (uint64_t)read_le(bz->params, INITRD_ADDR_MAX, 4) + 1,
				   &initrd_address,
				   error))
		return false;
	bz->params[TYPE_OF_LOADER] = LOADER_UNDEFINED;
	bz->params[LOADFLAGS] |= LOADED_HIGH;
	write_le(bz->params, CMD_LINE_PTR, VMM_BOOT_CMDLINE, 4);
	write_le(bz->params, RAMDISK_IMAGE, initrd_address, 4);
	write_le(bz->params, RAMDISK_SIZE, initrd_size, 4);
	fill_e820(memory, bz->params);
	info->boot_data = VMM_BOOT_ZERO_PAGE;
	return vmm_boot_write(
		memory, VMM_BOOT_ZERO_PAGE, bz->params, sizeof(bz->params), "boot_params", error);
}
