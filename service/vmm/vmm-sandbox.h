/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VMM_SANDBOX_DEFAULT_USER "vboxmem"

gboolean vmm_sandbox_give_file(const gchar *path, const gchar *user, GError **error);
gboolean vmm_sandbox_enter(const gchar *user, GError **error);

G_END_DECLS
