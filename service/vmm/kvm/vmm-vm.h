/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-balloon.h"
#include "vmm-devices.h"
#include "vmm-boot.h"
#include "vmm-loop.h"
#include "vmm-memory.h"

#define VMM_MAX_VCPUS 64

typedef struct {
	uint64_t memory_size;
	unsigned n_vcpus;
	VmmBootFile kernel;
	VmmBootFile initrd; /* path NULL: none */
	const char *cmdline;
	VmmDevicesConfig devices;
} VmmConfig;

typedef enum {
	VMM_VM_CREATED,
	VMM_VM_RUNNING,
	VMM_VM_PAUSED,
	VMM_VM_STOPPED,
} VmmVmState;

/* Why the guest stopped running, once it has. */
typedef struct {
	bool guest_exited;
	int exit_status;
	bool requested; /* by the controller or a signal, not because something failed */
	char *reason;
} VmmStopInfo;

typedef struct _VmmVm VmmVm;

/* Called on the loop given to vmm_vm_start() once every vCPU has stopped for good. */
typedef void (*VmmStoppedFunc)(VmmVm *vm, const VmmStopInfo *info, void *user_data);

VmmVm *vmm_vm_new(const VmmConfig *config, VmmError **error);
void vmm_vm_free(VmmVm *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmVm, vmm_vm_free)

/*
 * @loop: where @stopped is called. Free it before the VM: vmm_loop_free()
 * drops a stop report still queued, which must not run on a freed VM.
 */
bool
vmm_vm_start(VmmVm *self, VmmLoop *loop, VmmStoppedFunc stopped, void *user_data, VmmError **error);
void vmm_vm_pause(VmmVm *self);
void vmm_vm_resume(VmmVm *self);
void vmm_vm_stop(VmmVm *self, const char *reason);
void vmm_vm_power_off(VmmVm *self, const char *reason);
VmmVmState vmm_vm_get_state(VmmVm *self);
/* The devices' balloon: vmm_balloon_set_listener() on it says who hears from it. */
VmmBalloon *vmm_vm_get_balloon(VmmVm *self);
VmmMemory *vmm_vm_get_memory(VmmVm *self);

/* For device models, which run on vCPU threads and the notifier thread. */
void vmm_vm_guest_event(VmmVm *self);
void vmm_vm_idle(VmmVm *self, uint32_t timeout_us);
void vmm_vm_guest_exit(VmmVm *self, int status);
unsigned vmm_vm_get_n_vcpus(VmmVm *self);
uint32_t vmm_vm_get_tsc_khz(VmmVm *self);
