/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include "vmm-bus.h"
#include "vmm-vm.h"

/* One vCPU and its thread, which runs KVM_RUN and hands exits to the buses. */
typedef struct {
	VmmVm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	VmmBus *pio;
	VmmBus *mmio;
	pthread_t thread;
	bool thread_started; /* atomic: stored with release once thread is set */
	int tid;             /* atomic: the thread's id while it runs, else 0 */
	uint64_t seen_event;
} VmmVcpu;

/*
 * vCPU @index of @vm, made with KVM_CREATE_VCPU on @vm_fd; @run_size is
 * KVM_GET_VCPU_MMAP_SIZE. Its exits go to @pio and @mmio, which must outlive it.
 */
VmmVcpu *vmm_vcpu_new(VmmVm *vm,
		      int vm_fd,
		      unsigned index,
		      size_t run_size,
		      VmmBus *pio,
		      VmmBus *mmio,
		      VmmError **error);
void vmm_vcpu_free(VmmVcpu *self);
void vmm_vcpu_start(VmmVcpu *self);
void vmm_vcpu_kick(VmmVcpu *self);
void vmm_vcpu_install_kick_handler(void);
VmmVcpu *vmm_vcpu_current(void);

/* What the VM does for its vCPU threads (vmm-vm-lifecycle.c). */
void vmm_vm_vcpu_park_if_paused(VmmVm *self);
void vmm_vm_vcpu_exited(VmmVm *self, VmmVcpu *vcpu);
bool vmm_vm_should_stop(VmmVm *self);
