/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-balloon.h"
#include "vmm-bus.h"
#include "vmm-memory.h"

G_BEGIN_DECLS

#define VMM_MAX_VCPUS 64

typedef struct {
	guint64 memory_size;
	guint n_vcpus;
	const gchar *kernel;
	const gchar *initrd;
	const gchar *cmdline;
	const gchar *console_log;
	guint64 console_log_limit;
	VmmBalloonFeatures balloon;
	guint64 balloon_target;
} VmmConfig;

typedef enum {
	VMM_VM_CREATED,
	VMM_VM_RUNNING,
	VMM_VM_PAUSED,
	VMM_VM_STOPPED,
} VmmVmState;

/* Why the guest stopped running, once it has. */
typedef struct {
	gboolean guest_exited;
	gint exit_status;
	gboolean requested; /* by the controller or a signal, not because something failed */
	gchar *reason;
} VmmStopInfo;

typedef struct _VmmVm VmmVm;

/* Called in the VM's main context once every vCPU has stopped for good. */
typedef void (*VmmStoppedFunc)(VmmVm *vm, const VmmStopInfo *info, gpointer user_data);

VmmVm *vmm_vm_new(const VmmConfig *config, GError **error);
void vmm_vm_free(VmmVm *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmVm, vmm_vm_free)

gboolean vmm_vm_start(VmmVm *self, VmmStoppedFunc stopped, gpointer user_data, GError **error);
void vmm_vm_pause(VmmVm *self);
void vmm_vm_resume(VmmVm *self);
void vmm_vm_stop(VmmVm *self, const gchar *reason);
void vmm_vm_power_off(VmmVm *self, const gchar *reason);
VmmVmState vmm_vm_get_state(VmmVm *self);
VmmBalloon *vmm_vm_get_balloon(VmmVm *self);
void vmm_vm_set_balloon_listener(VmmVm *self, const VmmBalloonListener *listener);
VmmMemory *vmm_vm_get_memory(VmmVm *self);

/* For device models, which run on vCPU threads and the notifier thread. */
void vmm_vm_guest_event(VmmVm *self);
void vmm_vm_idle(VmmVm *self, guint32 timeout_us);
void vmm_vm_guest_exit(VmmVm *self, gint status);
guint vmm_vm_get_n_vcpus(VmmVm *self);
guint32 vmm_vm_get_tsc_khz(VmmVm *self);

G_END_DECLS
