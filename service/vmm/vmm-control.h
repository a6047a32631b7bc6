/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vmm-vm.h"

G_BEGIN_DECLS

typedef struct _VmmControl VmmControl;

VmmControl *vmm_control_new(VmmVm *vm, GMainLoop *loop);
void vmm_control_free(VmmControl *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmControl, vmm_control_free)

gboolean vmm_control_listen(VmmControl *self, const gchar *socket_path, GError **error);
gboolean vmm_control_take_fd(VmmControl *self, int fd, GError **error);
void vmm_control_vm_stopped(VmmControl *self, const VmmStopInfo *info);
void vmm_control_set_stats_interval(VmmControl *self, guint milliseconds);
VmmBalloonListener vmm_control_balloon_listener(VmmControl *self);

G_END_DECLS
