/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>

#include "vmm-log.h"
#include "vmm-vm-private.h"

/* How vCPU threads and the controlling thread agree on running, pausing and stopping. */

bool
vmm_vm_start(VmmVm *self, VmmLoop *loop, VmmStoppedFunc stopped, void *user_data, VmmError **error)
{
	if (self->run.state != VMM_VM_CREATED)
		return vmm_set_error_literal(error, EIO, "The VM has been started already");
	self->run.loop = loop;
	self->run.stopped = stopped;
	self->run.stopped_data = user_data;
	vmm_vcpu_install_kick_handler();
	pthread_mutex_lock(&self->run.lock);
	self->run.state = VMM_VM_RUNNING;
	self->run.vcpus_running = self->n_vcpus;
	pthread_mutex_unlock(&self->run.lock);
	vmm_vm_ioeventfd_start(self);
	vmm_vm_irqfd_log_start(self);
	for (unsigned i = 0; i < self->n_vcpus; i++)
		vmm_vcpu_start(self->vcpus[i]);
	return true;
}

static void
kick_all(VmmVm *self)
{
	for (unsigned i = 0; i < self->n_vcpus; i++)
		vmm_vcpu_kick(self->vcpus[i]);
}

/*
 * Returns once no vCPU runs guest code and the notifications the guest sent
 * before have been handled: device state is then stable.
 */
void
vmm_vm_pause(VmmVm *self)
{
	pthread_mutex_lock(&self->run.lock);
	if (self->run.state != VMM_VM_RUNNING) {
		pthread_mutex_unlock(&self->run.lock);
		return;
	}
	__atomic_store_n(&self->run.pause_requested, true, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&self->run.cond);
	pthread_mutex_unlock(&self->run.lock);
	kick_all(self);
	pthread_mutex_lock(&self->run.lock);
	while (self->run.vcpus_paused < self->run.vcpus_running)
		pthread_cond_wait(&self->run.cond, &self->run.lock);
	if (self->run.state == VMM_VM_RUNNING)
		self->run.state = VMM_VM_PAUSED;
	pthread_mutex_unlock(&self->run.lock);
	vmm_vm_ioeventfd_flush(self);
}

void
vmm_vm_resume(VmmVm *self)
{
	pthread_mutex_lock(&self->run.lock);
	if (self->run.state == VMM_VM_PAUSED) {
		self->run.state = VMM_VM_RUNNING;
		__atomic_store_n(&self->run.pause_requested, false, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&self->run.cond);
	}
	pthread_mutex_unlock(&self->run.lock);
}

void
vmm_vm_vcpu_park_if_paused(VmmVm *self)
{
	if (!__atomic_load_n(&self->run.pause_requested, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_lock(&self->run.lock);
	self->run.vcpus_paused++;
	pthread_cond_broadcast(&self->run.cond);
	while (__atomic_load_n(&self->run.pause_requested, __ATOMIC_SEQ_CST) &&
	       !__atomic_load_n(&self->run.stop_requested, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&self->run.cond, &self->run.lock);
	self->run.vcpus_paused--;
	pthread_mutex_unlock(&self->run.lock);
}

bool
vmm_vm_should_stop(VmmVm *self)
{
	return __atomic_load_n(&self->run.stop_requested, __ATOMIC_SEQ_CST);
}

static void
report_stopped(void *data)
{
	VmmVm *self = data;

	/* Devices stop with the vCPUs: whoever is told may free what their listeners use. */
	vmm_vm_ioeventfd_stop(self);
	vmm_vm_log_notify_counts(self);
	vmm_vm_irqfd_log_counts(self);
	if (self->run.stopped != NULL)
		self->run.stopped(self, &self->run.stop_info, self->run.stopped_data);
}

/*
 * Called with the lock held by the last vCPU thread to exit. A report still
 * queued when the loop is freed is dropped with it, and the loop is freed
 * before the VM, so the report never runs on a freed VM.
 */
static void
schedule_report(VmmVm *self)
{
	vmm_loop_invoke(self->run.loop, report_stopped, self);
}

/* The first reason given is the one reported. */
static void
request_stop(VmmVm *self, bool requested, bool guest_exited, int status, const char *reason)
{
	pthread_mutex_lock(&self->run.lock);
	if (!__atomic_load_n(&self->run.stop_requested, __ATOMIC_SEQ_CST)) {
		self->run.stop_info.requested = requested;
		self->run.stop_info.guest_exited = guest_exited;
		self->run.stop_info.exit_status = status;
		self->run.stop_info.reason = vmm_strdup(reason);
		__atomic_store_n(&self->run.stop_requested, true, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&self->run.cond);
	}
	pthread_mutex_unlock(&self->run.lock);
	kick_all(self);
}

void
vmm_vm_stop(VmmVm *self, const char *reason)
{
	request_stop(self, false, false, -1, reason);
}

/* A stop somebody asked for: the worker then ends successfully. */
void
vmm_vm_power_off(VmmVm *self, const char *reason)
{
	request_stop(self, true, false, -1, reason);
}

void
vmm_vm_guest_exit(VmmVm *self, int status)
{
	vmm_autofree char *reason = vmm_strdup_printf("the guest exited with status %d", status);
	request_stop(self, false, true, status, reason);
}

void
vmm_vm_vcpu_exited(VmmVm *self, VmmVcpu *vcpu)
{
	pthread_mutex_lock(&self->run.lock);
	if (--self->run.vcpus_running == 0) {
		self->run.state = VMM_VM_STOPPED;
		schedule_report(self);
	}
	pthread_cond_broadcast(&self->run.cond);
	pthread_mutex_unlock(&self->run.lock);
}

void
vmm_vm_guest_event(VmmVm *self)
{
	pthread_mutex_lock(&self->run.lock);
	self->run.event++;
	pthread_cond_broadcast(&self->run.cond);
	pthread_mutex_unlock(&self->run.lock);
}

/* The idle port: sleep until an event this vCPU has not seen, the timeout, or a pause/stop. */
void
vmm_vm_idle(VmmVm *self, uint32_t timeout_us)
{
	VmmVcpu *vcpu = vmm_vcpu_current();
	int64_t deadline;

	if (vcpu == NULL)
		return;
	/* Without a timeout, the clock is not read at all. */
	deadline = timeout_us != 0 ? vmm_monotonic_us() + timeout_us : 0;
	/*
	 * A guest that notified a queue and now waits for the answer gets it
	 * sooner when this vCPU handles the notification than after two thread
	 * switches through the notifier thread.
	 */
	vmm_vm_ioeventfd_dispatch_pending(self);
	pthread_mutex_lock(&self->run.lock);
	while (vcpu->seen_event == self->run.event &&
	       !__atomic_load_n(&self->run.pause_requested, __ATOMIC_SEQ_CST) &&
	       !__atomic_load_n(&self->run.stop_requested, __ATOMIC_SEQ_CST)) {
		if (timeout_us == 0)
			pthread_cond_wait(&self->run.cond, &self->run.lock);
		else if (!vmm_cond_wait_until(&self->run.cond, &self->run.lock, deadline))
			break;
	}
	vcpu->seen_event = self->run.event;
	pthread_mutex_unlock(&self->run.lock);
}

VmmVmState
vmm_vm_get_state(VmmVm *self)
{
	VmmVmState state;

	pthread_mutex_lock(&self->run.lock);
	state = self->run.state;
	pthread_mutex_unlock(&self->run.lock);
	return state;
}

VmmBalloon *
vmm_vm_get_balloon(VmmVm *self)
{
	return vmm_devices_get_balloon(self->devices);
}

VmmMemory *
vmm_vm_get_memory(VmmVm *self)
{
	return self->memory;
}

unsigned
vmm_vm_get_n_vcpus(VmmVm *self)
{
	return self->n_vcpus;
}

uint32_t
vmm_vm_get_tsc_khz(VmmVm *self)
{
	return self->tsc_khz;
}
