/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vbm-gdbus.h"
#include "vmd-authority.h"
#include "vmd-settings.h"
#include "vmd-store.h"

G_BEGIN_DECLS

#define VMD_TYPE_MACHINE (vmd_machine_get_type())
G_DECLARE_FINAL_TYPE(VmdMachine, vmd_machine, VMD, MACHINE, GObject)

VmdMachine *vmd_machine_new(VmdSettings *settings, VmdStore *store, VmdAuthority *authority);
const gchar *vmd_machine_get_name(VmdMachine *self);
GDBusObjectSkeleton *vmd_machine_get_object(VmdMachine *self);
gchar *vmd_machine_object_path_for_name(const gchar *name);

G_END_DECLS
