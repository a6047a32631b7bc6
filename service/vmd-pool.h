/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VMD_TYPE_POOL (vmd_pool_get_type())
G_DECLARE_FINAL_TYPE(VmdPool, vmd_pool, VMD, POOL, GObject)

VmdPool *vmd_pool_new(guint64 size);
guint64 vmd_pool_get_size(VmdPool *self);
guint64 vmd_pool_get_committed(VmdPool *self);
guint64 vmd_pool_get_available(VmdPool *self);
guint64 vmd_pool_get_overdrawn(VmdPool *self);
gboolean vmd_pool_admit(VmdPool *self, const gchar *machine, guint64 bytes, GError **error);
void vmd_pool_update(VmdPool *self, const gchar *machine, guint64 bytes);
void vmd_pool_release(VmdPool *self, const gchar *machine);

G_END_DECLS
