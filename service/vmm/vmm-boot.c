/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-boot-private.h"

#define INITRD_ALIGN VMM_PAGE_SIZE

/* The RAM the guest sees, as the e820 map describes it. */
guint
vmm_boot_e820(VmmMemory *memory, VmmE820Entry entries[VMM_E820_MAX])
{
	const VmmMemoryRegion *low = &memory->regions[0];
	guint n = 0;

	entries[n++] = (VmmE820Entry){0, VMM_BOOT_LOW_RAM_END, E820_RAM};
	entries[n++] = (VmmE820Entry){
		VMM_BOOT_LOW_RAM_END, VMM_BOOT_KERNEL_MIN - VMM_BOOT_LOW_RAM_END, E820_RESERVED};
	entries[n++] =
		(VmmE820Entry){VMM_BOOT_KERNEL_MIN, low->size - VMM_BOOT_KERNEL_MIN, E820_RAM};
	if (memory->n_regions > 1)
		entries[n++] = (VmmE820Entry){
			memory->regions[1].guest_address, memory->regions[1].size, E820_RAM};
	return n;
}

gboolean
vmm_boot_write(VmmMemory *memory,
	       guint64 guest_address,
	       gconstpointer data,
	       gsize length,
	       const gchar *what,
	       GError **error)
{
	guint8 *host = vmm_memory_get(memory, guest_address, length);

	if (host == NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "%s (%" G_GSIZE_FORMAT " bytes at 0x%" G_GINT64_MODIFIER
			    "x) does not fit in guest memory",
			    what,
			    length,
			    guest_address);
		return FALSE;
	}
	memcpy(host, data, length);
	return TRUE;
}

/* Linux and the test guest both look for the initrd high, out of the way of the kernel. */
gboolean
vmm_boot_place_initrd(VmmMemory *memory,
		      GBytes *initrd,
		      guint64 image_end,
		      guint64 ceiling,
		      guint64 *address,
		      GError **error)
{
	gsize size = g_bytes_get_size(initrd);
	guint64 top = MIN(memory->regions[0].size, ceiling);
	guint64 start;

	if (size > top || (start = (top - size) & ~(guint64)(INITRD_ALIGN - 1)) < image_end) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NO_SPACE,
			    "The initrd (%" G_GSIZE_FORMAT
			    " KiB) does not fit in guest RAM between "
			    "the kernel's end at 0x%" G_GINT64_MODIFIER
			    "x and 0x%" G_GINT64_MODIFIER "x",
			    size / 1024,
			    image_end,
			    top);
		return FALSE;
	}
	*address = start;
	return vmm_boot_write(
		memory, start, g_bytes_get_data(initrd, NULL), size, "The initrd", error);
}

gboolean
vmm_boot_write_cmdline(VmmMemory *memory, const gchar *cmdline, GError **error)
{
	gsize length = strlen(cmdline) + 1;

	if (length > VMM_BOOT_CMDLINE_MAX) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "The kernel command line is %" G_GSIZE_FORMAT
			    " bytes long; at most %u fit",
			    length - 1,
			    VMM_BOOT_CMDLINE_MAX - 1);
		return FALSE;
	}
	return vmm_boot_write(memory, VMM_BOOT_CMDLINE, cmdline, length, "The command line", error);
}

gboolean
vmm_boot_load(VmmMemory *memory,
	      GBytes *kernel,
	      GBytes *initrd,
	      const gchar *cmdline,
	      VmmBootInfo *info,
	      GError **error)
{
	guint64 initrd_address = 0;
	gsize initrd_size = initrd != NULL ? g_bytes_get_size(initrd) : 0;

	if (memory->regions[0].size < 2 * VMM_BOOT_KERNEL_MIN) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "Guest memory must be at least 2 MiB");
		return FALSE;
	}
	if (!vmm_boot_write_cmdline(memory, cmdline != NULL ? cmdline : "", error))
		return FALSE;
	if (vmm_boot_is_bzimage(kernel))
		return vmm_boot_load_bzimage(memory, kernel, initrd, info, error);
	if (!vmm_boot_is_elf(kernel)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_NOT_SUPPORTED,
				    "The kernel is neither an ELF image nor a bzImage");
		return FALSE;
	}
	if (!vmm_boot_load_elf(memory, kernel, info, error))
		return FALSE;
	if (initrd_size > 0 &&
	    !vmm_boot_place_initrd(
		    memory, initrd, info->image_end, G_MAXUINT64, &initrd_address, error))
		return FALSE;
	info->boot_data = VMM_BOOT_START_INFO;
	return vmm_boot_write_start_info(memory, initrd_address, initrd_size, error);
}

static GBytes *
read_file(const gchar *path, const gchar *what, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GMappedFile) file = g_mapped_file_new(path, FALSE, &error_local);

	if (file == NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_FAILED,
			    "Cannot read the %s: %s",
			    what,
			    error_local->message);
		return NULL;
	}
	return g_mapped_file_get_bytes(file);
}

gboolean
vmm_boot_load_files(VmmMemory *memory,
		    const gchar *kernel_path,
		    const gchar *initrd_path,
		    const gchar *cmdline,
		    VmmBootInfo *info,
		    GError **error)
{
	g_autoptr(GBytes) kernel = read_file(kernel_path, "kernel", error);
	g_autoptr(GBytes) initrd = NULL;

	if (kernel == NULL)
		return FALSE;
	if (initrd_path != NULL && (initrd = read_file(initrd_path, "initrd", error)) == NULL)
		return FALSE;
	return vmm_boot_load(memory, kernel, initrd, cmdline, info, error);
}
