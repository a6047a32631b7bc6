/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VMD_MIB (G_GUINT64_CONSTANT(1) << 20)
#define VMD_NAME_MAX_BYTES 64
#define VMD_CPUS_MAX 64
#define VMD_COMMAND_LINE_MAX_BYTES 2047

/* The persistent settings of one machine: what modifyvm changes. */
typedef struct {
	gchar *name;
	guint32 owner;
	guint64 memory_size;
	guint32 cpus;
	gchar *kernel;
	gchar *initrd;
	gchar *command_line;
	guint64 balloon_default_size;
	gboolean page_fusion;
	gboolean deflate_on_oom;
	gboolean free_page_reporting;
} VmdSettings;

VmdSettings *vmd_settings_new(const gchar *name, guint32 owner);
VmdSettings *vmd_settings_copy(const VmdSettings *self);
void vmd_settings_free(VmdSettings *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmdSettings, vmd_settings_free)

void vmd_settings_set_host_memory(guint64 bytes);
gboolean vmd_settings_check_name(const gchar *name, GError **error);
gboolean vmd_settings_update(VmdSettings *self, GVariant *settings, GError **error);
gboolean vmd_settings_check(const VmdSettings *self, GError **error);
GKeyFile *vmd_settings_to_keyfile(const VmdSettings *self);
VmdSettings *vmd_settings_new_from_keyfile(GKeyFile *keyfile, GError **error);

G_END_DECLS
