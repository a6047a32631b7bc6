/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * One memory cgroup per running worker, below vboxmemd's own (cgroup v2's
 * memory controller, or the v1 memory hierarchy), whose limit follows what
 * the machine is allowed: a guest that takes back ballooned memory hits its
 * own limit, not its neighbours. Where the kernel offers neither, workers
 * run unlimited and the log says so once.
 */
#define VMD_TYPE_CGROUPS (vmd_cgroups_get_type())
G_DECLARE_FINAL_TYPE(VmdCgroups, vmd_cgroups, VMD, CGROUPS, GObject)

/* @instance keeps the groups of one vboxmemd apart from another's (its state directory). */
VmdCgroups *vmd_cgroups_new(gboolean enabled, const gchar *instance);
gboolean vmd_cgroups_available(VmdCgroups *self);

/*
 * Makes the group of @machine with @limit bytes; returns the path of the
 * file a new worker writes "0" to in order to join it, or NULL (with a
 * debug message) when workers run without one.
 */
gchar *vmd_cgroups_prepare(VmdCgroups *self, const gchar *machine, guint64 limit);
void vmd_cgroups_set_limit(VmdCgroups *self, const gchar *machine, guint64 limit);
/* Once the worker is gone. */
void vmd_cgroups_remove(VmdCgroups *self, const gchar *machine);

/* In the child between fork and exec: joins the group whose procs file is @procs_path. */
void vmd_cgroups_join(gpointer procs_path);

G_END_DECLS
