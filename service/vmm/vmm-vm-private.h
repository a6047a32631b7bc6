/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <linux/kvm.h>

#include "vmm-boot.h"
#include "vmm-ioevent.h"
#include "vmm-irq.h"
#include "vmm-loop.h"
#include "vmm-notifier.h"
#include "vmm-pci.h"
#include "vmm-serial.h"
#include "vmm-virtio.h"
#include "vmm-vm.h"

typedef struct {
	VmmVm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started; /* atomic: stored with release once thread is set */
	uint64_t seen_event;
} VmmVcpu;

VmmVcpu *vmm_vcpu_new(VmmVm *vm, unsigned index, VmmError **error);
void vmm_vcpu_free(VmmVcpu *self);
void vmm_vcpu_start(VmmVcpu *self);
void vmm_vcpu_kick(VmmVcpu *self);
void vmm_vcpu_install_kick_handler(void);
VmmVcpu *vmm_vcpu_current(void);

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

struct _VmmVm {
	VmmConfig config;
	int kvm_fd;
	int vm_fd;
	VmmMemory *memory;
	VmmBus *pio;
	VmmBus *mmio;
	VmmIrq irq;
	VmmMsiRoutes msi;
	/* NULL notifier: queue notifications exit to the VMM, for this reason. */
	VmmNotifier *notifier;
	char *no_ioeventfd_reason;
	VmmIoEvents ioevents;
	bool ioeventfd_any_length;
	int ioeventfd_failure_logged;
	VmmBootInfo boot;
	uint32_t tsc_khz;
	size_t vcpu_mmap_size; /* KVM_GET_VCPU_MMAP_SIZE, asked once */
	VmmSerial *serial;
	VmmPci *pci;
	VmmVirtio *balloon_transport;
	VmmBalloon *balloon;
	VmmBalloonListener balloon_listener;
	unsigned n_vcpus;
	VmmVcpu *vcpus[VMM_MAX_VCPUS];

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
};

/* Queue notifications through KVM's ioeventfd (vmm-vm-ioeventfd.c). */
void vmm_vm_ioeventfd_init(VmmVm *self);
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

/* Called by vCPU threads. */
void vmm_vm_vcpu_park_if_paused(VmmVm *self);
void vmm_vm_vcpu_exited(VmmVm *self, VmmVcpu *vcpu);
bool vmm_vm_should_stop(VmmVm *self);
