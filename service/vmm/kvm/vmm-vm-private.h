/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <linux/kvm.h>

#include "vmm-boot.h"
#include "vmm-devices.h"
#include "vmm-ioevent.h"
#include "vmm-irq.h"
#include "vmm-loop.h"
#include "vmm-notifier.h"
#include "vmm-vcpu.h"
#include "vmm-vm.h"

/*
 * The VM seen from kvm/vmm-vm*.c, and only from there: KVM's file
 * descriptors, guest memory, the buses, the vCPUs and the interrupt and
 * notification paths. The devices are a VmmDevices of their own.
 */

/* Shared between the VM and its vCPU threads; guarded by lock unless atomic. */
#define VMM_MAX_MSI_ROUTES 64

typedef struct {
	uint64_t address;
	uint32_t data;
	int fd;
} VmmMsiRoute;

/* MSI routes through irqfd (vmm-vm-irqfd.c). */
typedef struct {
	pthread_mutex_t lock;
	const char *unavailable; /* why irqfd is not used, or NULL */
	VmmMsiRoute routes[VMM_MAX_MSI_ROUTES];
	unsigned n_routes;
	bool failure_logged;
	uint64_t through_irqfd;
	uint64_t through_ioctl;
} VmmMsiRoutes;

/* Queue notifications through KVM's ioeventfd (vmm-vm-ioeventfd.c). */
typedef struct {
	/* NULL notifier: queue notifications exit to the VMM, for this reason. */
	VmmNotifier *notifier;
	char *unavailable;
	VmmIoEvents ioevents;
	bool any_length;
	int failure_logged;
} VmmIoEventFds;

/*
 * How vCPU threads and the controlling thread agree on running, pausing and
 * stopping (vmm-vm-lifecycle.c); guarded by lock unless atomic.
 */
typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t event;
	int pause_requested;
	int stop_requested;
	unsigned vcpus_paused;
	unsigned vcpus_running;
	VmmVmState state;
	VmmStopInfo stop_info;
	VmmLoop *loop;
	VmmStoppedFunc stopped;
	void *stopped_data;
} VmmVmRun;

struct _VmmVm {
	VmmConfig config;
	int kvm_fd;
	int vm_fd;
	VmmMemory *memory;
	VmmBus *pio;
	VmmBus *mmio;
	VmmIrq irq;
	VmmMsiRoutes msi;
	VmmIoEventFds ioeventfd;
	VmmBootInfo boot;
	uint32_t tsc_khz;
	size_t vcpu_mmap_size; /* KVM_GET_VCPU_MMAP_SIZE, asked once */
	unsigned n_vcpus;
	VmmVcpu *vcpus[VMM_MAX_VCPUS];
	VmmDevices *devices;
	VmmVmRun run;
};

void vmm_vm_ioeventfd_init(VmmVm *self);
/* What the devices register their notification addresses with, or NULL without ioeventfd. */
const VmmIoEvents *vmm_vm_ioeventfd_get_ioevents(VmmVm *self);
void vmm_vm_ioeventfd_start(VmmVm *self);
/* Once it returns, no device runs on the notifier thread any more. */
void vmm_vm_ioeventfd_stop(VmmVm *self);
void vmm_vm_ioeventfd_flush(VmmVm *self);
void vmm_vm_ioeventfd_dispatch_pending(VmmVm *self);
void vmm_vm_ioeventfd_free(VmmVm *self);
void vmm_vm_log_notify_counts(VmmVm *self);
void vmm_vm_irqfd_init(VmmVm *self);
bool vmm_vm_irqfd_signal_msi(VmmVm *self, uint64_t address, uint32_t data);
void vmm_vm_irqfd_log_start(VmmVm *self);
void vmm_vm_irqfd_log_counts(VmmVm *self);
void vmm_vm_irqfd_free(VmmVm *self);
