/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How a device answers accesses to a range it registered; offsets are from the range's base. */
typedef struct {
	void (*read)(gpointer opaque, guint64 offset, guint8 *data, guint32 size);
	void (*write)(gpointer opaque, guint64 offset, const guint8 *data, guint32 size);
} VmmIoOps;

/* An address space of device ranges: one for port I/O, one for MMIO. Thread-safe. */
typedef struct _VmmBus VmmBus;

VmmBus *vmm_bus_new(const gchar *name);
void vmm_bus_free(VmmBus *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBus, vmm_bus_free)

gboolean vmm_bus_add(VmmBus *self,
		     guint64 base,
		     guint64 length,
		     const VmmIoOps *ops,
		     gpointer opaque,
		     GError **error);
gboolean vmm_bus_remove(VmmBus *self, guint64 base, gpointer opaque);
gboolean vmm_bus_read(VmmBus *self, guint64 address, guint8 *data, guint32 size);
gboolean vmm_bus_write(VmmBus *self, guint64 address, const guint8 *data, guint32 size);

G_END_DECLS
