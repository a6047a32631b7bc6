/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vmm-boot.h"

G_BEGIN_DECLS

#define E820_RAM 1
#define E820_RESERVED 2
#define VMM_E820_MAX 4

typedef struct {
	guint64 address;
	guint64 size;
	guint32 type;
} VmmE820Entry;

guint vmm_boot_e820(VmmMemory *memory, VmmE820Entry entries[VMM_E820_MAX]);
gboolean vmm_boot_write(VmmMemory *memory,
			guint64 guest_address,
			gconstpointer data,
			gsize length,
			const gchar *what,
			GError **error);
gboolean vmm_boot_place_initrd(VmmMemory *memory,
			       GBytes *initrd,
			       guint64 image_end,
			       guint64 ceiling,
			       guint64 *address,
			       GError **error);
gboolean vmm_boot_write_cmdline(VmmMemory *memory, const gchar *cmdline, GError **error);

gboolean vmm_boot_is_elf(GBytes *image);
gboolean vmm_boot_load_elf(VmmMemory *memory, GBytes *image, VmmBootInfo *info, GError **error);
gboolean vmm_boot_write_start_info(VmmMemory *memory,
				   guint64 initrd_address,
				   guint64 initrd_size,
				   GError **error);

gboolean vmm_boot_is_bzimage(GBytes *image);
gboolean vmm_boot_load_bzimage(
	VmmMemory *memory, GBytes *image, GBytes *initrd, VmmBootInfo *info, GError **error);

G_END_DECLS
