/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vbm-gdbus.h"
#include "vmd-authority.h"
#include "vmd-cgroups.h"
#include "vmd-metrics.h"
#include "vmd-pool.h"
#include "vmd-settings.h"
#include "vmd-store.h"
#include "vmd-worker.h"

G_BEGIN_DECLS

#define VMD_TYPE_MACHINE (vmd_machine_get_type())
G_DECLARE_FINAL_TYPE(VmdMachine, vmd_machine, VMD, MACHINE, GObject)

VmdMachine *vmd_machine_new(VmdSettings *settings,
			    VmdStore *store,
			    VmdAuthority *authority,
			    VmdPool *pool,
			    VmdCgroups *cgroups,
			    const VmdWorkerConfig *worker_config);
const gchar *vmd_machine_get_name(VmdMachine *self);
GDBusObjectSkeleton *vmd_machine_get_object(VmdMachine *self);

/* What the host's RAM/VMM metrics add up over running machines. */
typedef struct {
	guint64 used;
	guint64 ballooned;
	guint64 shared;
} VmdMachineTotals;

void vmd_machine_collect_metrics(VmdMachine *self, VmdMetrics *metrics, VmdMachineTotals *totals);
/* Ends what an earlier vboxmemd left running for this machine, as vmd_leftovers_find() @found. */
void vmd_machine_end_leftover_workers(VmdMachine *self, GHashTable *found);

G_END_DECLS
