/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

guint64 vmd_host_memory_total(GError **error);
guint64 vmd_host_default_pool(guint64 memory_total);

guint64 vmd_host_process_rss(GPid pid);

G_END_DECLS
