/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"
#include "vmm-loop.h"
#include "vmm-vm.h"

/*
 * The worker's end of the control protocol (service/protocol/vmp-protocol.h):
 * requests from the controller (vboxmemd) on one SOCK_SEQPACKET socket, and
 * the VM's state, balloon and guest statistics sent back as events.
 */
typedef struct _VmmControl VmmControl;

/*
 * Waits at most @timeout_ms for the controller's HELLO on @fd, before the
 * VM exists: a controller of another protocol version is refused here.
 */
bool vmm_control_handshake(int fd, int timeout_ms, VmmError **error);

/* Serves the controller on @fd (taken): losing it stops the VM. */
VmmControl *vmm_control_new(VmmVm *vm, VmmLoop *loop, int fd, VmmError **error);
/* After the loop has stopped running for good: balloon updates may still be on their way to it. */
void vmm_control_free(VmmControl *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmControl, vmm_control_free)

/* Sends READY and the first state, once the VM runs. */
void vmm_control_ready(VmmControl *self);
/* Sends the last events and STOPPED, flushes them and quits the loop. */
void vmm_control_vm_stopped(VmmControl *self, const VmmStopInfo *info);
void vmm_control_set_stats_interval(VmmControl *self, unsigned milliseconds);
/* What the VM's balloon reports to, from any thread. */
VmmBalloonListener vmm_control_balloon_listener(VmmControl *self);
