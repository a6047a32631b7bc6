/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VMD_METRICS_HOST "host"

#define VMD_TYPE_METRICS (vmd_metrics_get_type())
G_DECLARE_FINAL_TYPE(VmdMetrics, vmd_metrics, VMD, METRICS, GObject)

/* Called every period: records this round's values with vmd_metrics_record(). */
typedef void (*VmdMetricsCollectFunc)(VmdMetrics *metrics, gpointer user_data);

VmdMetrics *
vmd_metrics_new(guint period_ms, guint samples, VmdMetricsCollectFunc collect, gpointer user_data);
void vmd_metrics_record(VmdMetrics *self, const gchar *object, const gchar *metric, guint64 value);
void vmd_metrics_sample_now(VmdMetrics *self);
GVariant *vmd_metrics_query(VmdMetrics *self,
			    const gchar *const *objects,
			    const gchar *const *patterns,
			    GError **error);

G_END_DECLS
