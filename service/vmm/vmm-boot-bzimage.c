/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-boot-private.h"

/* Offsets in the image and in boot_params (Documentation/arch/x86/boot.rst, zero-page.rst). */
#define SETUP_SECTS 0x1f1
#define SETUP_HEADER_START 0x1f1
#define SETUP_HEADER_LENGTH_BYTE 0x201
#define HEADER_MAGIC_OFFSET 0x202
#define VERSION 0x206
#define TYPE_OF_LOADER 0x210
#define LOADFLAGS 0x211
#define RAMDISK_IMAGE 0x218
#define RAMDISK_SIZE 0x21c
#define CMD_LINE_PTR 0x228
#define INITRD_ADDR_MAX 0x22c
#define XLOADFLAGS 0x236
#define PREF_ADDRESS 0x258
#define INIT_SIZE 0x260
#define E820_ENTRIES 0x1e8
#define E820_TABLE 0x2d0
#define BOOT_PARAMS_SIZE 4096

#define HEADER_MAGIC 0x53726448 /* "HdrS" */
#define MIN_VERSION 0x020c      /* xloadflags, 64-bit entry */
#define XLF_KERNEL_64 (1u << 0)
#define LOADED_HIGH (1u << 0)
#define LOADER_UNDEFINED 0xff
#define ENTRY_64_OFFSET 0x200

typedef struct {
	const guint8 *data;
	gsize size;
	guint8 params[BOOT_PARAMS_SIZE];
} BzImage;

static guint32
read_le(const guint8 *base, gsize offset, guint width)
{
	guint32 value = 0;
	for (guint i = 0; i < width; i++)
		value |= (guint32)base[offset + i] << (8 * i);
	return value;
}

static void
write_le(guint8 *base, gsize offset, guint64 value, guint width)
{
	for (guint i = 0; i < width; i++)
		base[offset + i] = (guint8)(value >> (8 * i));
}

gboolean
vmm_boot_is_bzimage(GBytes *image)
{
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(image, &size);
	return size > HEADER_MAGIC_OFFSET + 4 &&
	       read_le(data, HEADER_MAGIC_OFFSET, 4) == HEADER_MAGIC;
}

static gboolean
bz_error(GError **error, const gchar *problem)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Bad bzImage: %s", problem);
	return FALSE;
}

static gboolean
copy_setup_header(BzImage *bz, GError **error)
{
	gsize end = HEADER_MAGIC_OFFSET + bz->data[SETUP_HEADER_LENGTH_BYTE];

	if (end > bz->size || end > BOOT_PARAMS_SIZE)
		return bz_error(error, "setup header outside the file");
	if (read_le(bz->data, VERSION, 2) < MIN_VERSION)
		return bz_error(error, "boot protocol older than 2.12");
	memcpy(bz->params + SETUP_HEADER_START,
	       bz->data + SETUP_HEADER_START,
	       end - SETUP_HEADER_START);
	if ((read_le(bz->params, XLOADFLAGS, 2) & XLF_KERNEL_64) == 0)
		return bz_error(error, "no 64-bit entry point");
	return TRUE;
}

static gboolean
load_kernel(VmmMemory *memory, BzImage *bz, VmmBootInfo *info, GError **error)
{
	guint setup_sects = bz->data[SETUP_SECTS] != 0 ? bz->data[SETUP_SECTS] : 4;
	gsize offset = (gsize)(setup_sects + 1) * 512;
	guint64 load = read_le(bz->params, PREF_ADDRESS, 4) |
		       ((guint64)read_le(bz->params, PREF_ADDRESS + 4, 4) << 32);
	guint64 init_size = read_le(bz->params, INIT_SIZE, 4);

	if (offset >= bz->size)
		return bz_error(error, "no protected-mode kernel");
	if (load < VMM_BOOT_KERNEL_MIN)
		load = VMM_BOOT_KERNEL_MIN;
	if (!vmm_memory_contains(memory, load, MAX(init_size, bz->size - offset))) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NO_SPACE,
			    "The kernel needs %" G_GUINT64_FORMAT " MiB from 0x%" G_GINT64_MODIFIER
			    "x; guest RAM is too small",
			    init_size >> 20,
			    load);
		return FALSE;
	}
	if (!vmm_boot_write(memory, load, bz->data + offset, bz->size - offset, "kernel", error))
		return FALSE;
	info->kind = VMM_ENTRY_LINUX64;
	info->entry = load + ENTRY_64_OFFSET;
	info->image_end = load + MAX(init_size, bz->size - offset);
	return TRUE;
}

static void
fill_e820(VmmMemory *memory, guint8 *params)
{
	VmmE820Entry e820[VMM_E820_MAX];
	guint n = vmm_boot_e820(memory, e820);

	params[E820_ENTRIES] = (guint8)n;
	for (guint i = 0; i < n; i++) {
		write_le(params, E820_TABLE + i * 20, e820[i].address, 8);
		write_le(params, E820_TABLE + i * 20 + 8, e820[i].size, 8);
		write_le(params, E820_TABLE + i * 20 + 16, e820[i].type, 4);
	}
}

gboolean
vmm_boot_load_bzimage(
	VmmMemory *memory, GBytes *image, GBytes *initrd, VmmBootInfo *info, GError **error)
{
	g_autofree BzImage *bz = g_new0(BzImage, 1);
	guint64 initrd_address = 0;
	gsize initrd_size = initrd != NULL ? g_bytes_get_size(initrd) : 0;

	bz->data = g_bytes_get_data(image, &bz->size);
	if (!copy_setup_header(bz, error) || !load_kernel(memory, bz, info, error))
		return FALSE;
	if (initrd_size > 0 &&
	    !vmm_boot_place_initrd(memory,
				   initrd,
				   info->image_end,
				   (guint64)read_le(bz->params, INITRD_ADDR_MAX, 4) + 1,
				   &initrd_address,
				   error))
		return FALSE;
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
