/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"
#include "vmm-loop.h"
#include "vmm-vm.h"

/*
 * The org.vboxmem.VBoxMem1.Worker object at /org/vboxmem/VBoxMem1/Worker
 * (dbus/org.vboxmem.VBoxMem1.Worker.xml): what the controller sees of the
 * VM, over peer-to-peer D-Bus connections on @loop.
 */
typedef struct _VmmControl VmmControl;

VmmControl *vmm_control_new(VmmVm *vm, VmmLoop *loop);
/* After the loop has stopped running for good: balloon updates may still be on their way to it. */
void vmm_control_free(VmmControl *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmControl, vmm_control_free)

/* Serves any number of clients on a new unix socket at @socket_path, removed again by the free. */
bool vmm_control_listen(VmmControl *self, const char *socket_path, VmmError **error);
/* Serves the controller on the connected socket @fd: losing it stops the VM. */
bool vmm_control_take_fd(VmmControl *self, int fd, VmmError **error);
/* Publishes the stop, sends the Stopped signal, flushes every connection and quits the loop. */
void vmm_control_vm_stopped(VmmControl *self, const VmmStopInfo *info);
void vmm_control_set_stats_interval(VmmControl *self, unsigned milliseconds);
/* What the VM's balloon reports to, from any thread. */
VmmBalloonListener vmm_control_balloon_listener(VmmControl *self);
