/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmd-settings.h"

G_BEGIN_DECLS

#define VMD_TYPE_STORE (vmd_store_get_type())
G_DECLARE_FINAL_TYPE(VmdStore, vmd_store, VMD, STORE, GObject)

#define VMD_STORE_CONSOLE_LOG_SUFFIX ".console.log"

VmdStore *vmd_store_new(const gchar *directory, GError **error);
gboolean vmd_store_has_file(VmdStore *self, const gchar *name);
gboolean vmd_store_save(VmdStore *self, const VmdSettings *settings, GError **error);
gboolean vmd_store_delete(VmdStore *self, const gchar *name, GError **error);
GPtrArray *vmd_store_load_all(VmdStore *self);
gchar *vmd_store_path(VmdStore *self, const gchar *name, const gchar *suffix);
void vmd_store_remove_console_log(VmdStore *self, const gchar *name);

G_END_DECLS
