/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm-log.h"
#include "vmm-vcpu.h"

#define KICK_SIGNAL SIGUSR1

static __thread VmmVcpu *current_vcpu;

/* The vCPU whose thread runs this code: device models learn who exited. */
VmmVcpu *
vmm_vcpu_current(void)
{
	return current_vcpu;
}

static void
kick_handler(int signum)
{
}

/* Kicks interrupt KVM_RUN; without SA_RESTART the ioctl returns EINTR at once. */
void
vmm_vcpu_install_kick_handler(void)
{
	struct sigaction action = {.sa_handler = kick_handler};

	sigemptyset(&action.sa_mask);
	sigaction(KICK_SIGNAL, &action, NULL);
}

VmmVcpu *
vmm_vcpu_new(VmmVm *vm,
	     int vm_fd,
	     unsigned index,
	     size_t run_size,
	     VmmBus *pio,
	     VmmBus *mmio,
	     VmmError **error)
{
	vmm_autofree VmmVcpu *self = vmm_new0(VmmVcpu, 1);
	int saved_errno;

	self->vm = vm;
	self->index = index;
	self->pio = pio;
	self->mmio = mmio;
	self->fd = ioctl(vm_fd, KVM_CREATE_VCPU, index);
	if (self->fd < 0)
		goto fail;
	self->run_size = run_size;
	self->run = mmap(NULL, self->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	if (self->run == MAP_FAILED) {
		self->run = NULL;
		goto fail;
	}
	return vmm_steal_pointer(&self);
fail:
	saved_errno = errno;
	if (self->fd >= 0)
		close(self->fd);
	vmm_set_error(
		error, saved_errno, "Cannot create vCPU %u: %s", index, strerror(saved_errno));
	return NULL;
}

void
vmm_vcpu_free(VmmVcpu *self)
{
	if (self == NULL)
		return;
	if (__atomic_load_n(&self->thread_started, __ATOMIC_ACQUIRE))
		pthread_join(self->thread, NULL);
	if (self->run != NULL)
		munmap(self->run, self->run_size);
	close(self->fd);
	free(self);
}

static void
handle_io(VmmVcpu *self)
{
	struct kvm_run *run = self->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			vmm_bus_write(self->pio, run->io.port, data, run->io.size);
		else
			vmm_bus_read(self->pio, run->io.port, data, run->io.size);
	}
}

static void
handle_mmio(VmmVcpu *self)
{
	struct kvm_run *run = self->run;
	uint32_t size = VMM_MIN(run->mmio.len, sizeof(run->mmio.data));

	if (run->mmio.is_write)
		vmm_bus_write(self->mmio, run->mmio.phys_addr, run->mmio.data, size);
	else
		vmm_bus_read(self->mmio, run->mmio.phys_addr, run->mmio.data, size);
}

static uint64_t
current_rip(VmmVcpu *self)
{
	struct kvm_regs regs = {0};

	ioctl(self->fd, KVM_GET_REGS, &regs);
	return regs.rip;
}

/* Returns a reason to stop the VM, or NULL to keep running. */
static char *
handle_exit(VmmVcpu *self)
{
	struct kvm_run *run = self->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(self);
		return NULL;
	case KVM_EXIT_MMIO:
		handle_mmio(self);
		return NULL;
	case KVM_EXIT_SHUTDOWN:
		return vmm_strdup_printf(
			"vCPU %u: the guest shut down (triple fault) at rip 0x%" PRIx64,
			self->index,
			current_rip(self));
	case KVM_EXIT_SYSTEM_EVENT:
		return vmm_strdup_printf("vCPU %u: the guest asked for a system event %u",
					 self->index,
					 run->system_event.type);
	case KVM_EXIT_INTERNAL_ERROR:
		return vmm_strdup_printf(
			"vCPU %u: KVM internal error, suberror %u at rip 0x%" PRIx64,
			self->index,
			run->internal.suberror,
			current_rip(self));
	case KVM_EXIT_FAIL_ENTRY:
		return vmm_strdup_printf(
			"vCPU %u: KVM could not enter the guest (reason 0x%llx)",
			self->index,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	default:
		return vmm_strdup_printf(
			"vCPU %u: unexpected KVM exit %u", self->index, run->exit_reason);
	}
}

static void *
vcpu_thread(void *data)
{
	VmmVcpu *self = data;
	vmm_autofree char *reason = NULL;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", self->index);
	prctl(PR_SET_NAME, name);
	current_vcpu = self;
	/* Before the first KVM_RUN: a kick that misses the tid finds immediate_exit set. */
	__atomic_store_n(&self->tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	while (reason == NULL && !vmm_vm_should_stop(self->vm)) {
		vmm_vm_vcpu_park_if_paused(self->vm);
		if (vmm_vm_should_stop(self->vm))
			break;
		if (ioctl(self->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				self->run->immediate_exit = 0;
				continue;
			}
			reason = vmm_strdup_printf(
				"vCPU %u: KVM_RUN failed: %s", self->index, strerror(errno));
			break;
		}
		reason = handle_exit(self);
	}
	if (reason != NULL)
		vmm_vm_stop(self->vm, reason);
	__atomic_store_n(&self->tid, 0, __ATOMIC_SEQ_CST);
	vmm_vm_vcpu_exited(self->vm, self);
	return NULL;
}

void
vmm_vcpu_start(VmmVcpu *self)
{
	int error = pthread_create(&self->thread, NULL, vcpu_thread, self);

	if (error != 0)
		vmm_fatal("cannot start vCPU %u: %s", self->index, strerror(error));
	/* Release: a kick that sees thread_started sees thread too. */
	__atomic_store_n(&self->thread_started, true, __ATOMIC_RELEASE);
}

void
vmm_vcpu_kick(VmmVcpu *self)
{
	/* Before the thread is known to have started, immediate_exit alone stops its first KVM_RUN.
	 */
	int tid;

	self->run->immediate_exit = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	tid = __atomic_load_n(&self->tid, __ATOMIC_SEQ_CST);
	/* tgkill, not pthread_kill (tkill with musl): the sandbox lets signals reach only our own
	 * threads. */
	if (tid > 0)
		syscall(SYS_tgkill, getpid(), tid, KICK_SIGNAL);
}
