/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VMD_TYPE_DAEMON (vmd_daemon_get_type())
G_DECLARE_FINAL_TYPE(VmdDaemon, vmd_daemon, VMD, DAEMON, GObject)

VmdDaemon *vmd_daemon_new(const gchar *state_dir, const gchar *config_path, GError **error);
void vmd_daemon_export(VmdDaemon *self, GDBusConnection *connection);

G_END_DECLS
