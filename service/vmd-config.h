/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmd-worker.h"

G_BEGIN_DECLS

#define VMD_DEFAULT_CONFIG VBOXMEM_SYSCONFDIR "/vboxmemd.conf"

/* vboxmemd.conf: what an admin may set, with defaults for everything. */
typedef struct {
	guint64 pool_size; /* 0: host memory minus a reserve */
	VmdWorkerConfig worker;
	guint metrics_period_ms;
	guint metrics_samples;
} VmdConfig;

gboolean vmd_config_load(VmdConfig *config, const gchar *path, gboolean must_exist, GError **error);
void vmd_config_clear(VmdConfig *config);

G_END_DECLS
