/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "vmm-vm-private.h"

/* How vCPU threads and the controlling thread agree on running, pausing and stopping. */

gboolean
vmm_vm_start(VmmVm *self, VmmStoppedFunc stopped, gpointer user_data, GError **error)
{
	if (self->state != VMM_VM_CREATED) {
		g_set_error_literal(
			error, G_IO_ERROR, G_IO_ERROR_FAILED, "The VM has been started already");
		return FALSE;
	}
	self->stopped = stopped;
	self->stopped_data = user_data;
	vmm_vcpu_install_kick_handler();
	g_mutex_lock(&self->lock);
	self->state = VMM_VM_RUNNING;
	self->vcpus_running = self->n_vcpus;
	g_mutex_unlock(&self->lock);
	vmm_vm_ioeventfd_start(self);
	for (guint i = 0; i < self->n_vcpus; i++)
		vmm_vcpu_start(self->vcpus[i]);
	return TRUE;
}

static void
kick_all(VmmVm *self)
{
	for (guint i = 0; i < self->n_vcpus; i++)
		vmm_vcpu_kick(self->vcpus[i]);
}

/*
 * Returns once no vCPU runs guest code and the notifications the guest sent
 * before have been handled: device state is then stable.
 */
void
vmm_vm_pause(VmmVm *self)
{
	g_mutex_lock(&self->lock);
	if (self->state != VMM_VM_RUNNING) {
		g_mutex_unlock(&self->lock);
		return;
	}
	g_atomic_int_set(&self->pause_requested, TRUE);
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
	kick_all(self);
	g_mutex_lock(&self->lock);
	while (self->vcpus_paused < self->vcpus_running)
		g_cond_wait(&self->cond, &self->lock);
	if (self->state == VMM_VM_RUNNING)
		self->state = VMM_VM_PAUSED;
	g_mutex_unlock(&self->lock);
	vmm_vm_ioeventfd_flush(self);
}

void
vmm_vm_resume(VmmVm *self)
{
	g_mutex_lock(&self->lock);
	if (self->state == VMM_VM_PAUSED) {
		self->state = VMM_VM_RUNNING;
		g_atomic_int_set(&self->pause_requested, FALSE);
		g_cond_broadcast(&self->cond);
	}
	g_mutex_unlock(&self->lock);
}

void
vmm_vm_vcpu_park_if_paused(VmmVm *self)
{
	if (!g_atomic_int_get(&self->pause_requested))
		return;
	g_mutex_lock(&self->lock);
	self->vcpus_paused++;
	g_cond_broadcast(&self->cond);
	while (g_atomic_int_get(&self->pause_requested) && !g_atomic_int_get(&self->stop_requested))
		g_cond_wait(&self->cond, &self->lock);
	self->vcpus_paused--;
	g_mutex_unlock(&self->lock);
}

gboolean
vmm_vm_should_stop(VmmVm *self)
{
	return g_atomic_int_get(&self->stop_requested);
}

static gboolean
report_stopped(gpointer data)
{
	VmmVm *self = data;

	g_mutex_lock(&self->lock);
	g_clear_pointer(&self->stopped_source, g_source_unref);
	g_mutex_unlock(&self->lock);
	/* Devices stop with the vCPUs: whoever is told may free what their listeners use. */
	vmm_vm_ioeventfd_stop(self);
	vmm_vm_log_notify_counts(self);
	if (self->stopped != NULL)
		self->stopped(self, &self->stop_info, self->stopped_data);
	return G_SOURCE_REMOVE;
}

/* Called with the lock held by the last vCPU thread to exit. */
static void
schedule_report(VmmVm *self)
{
	self->stopped_source = g_idle_source_new();
	g_source_set_callback(self->stopped_source, report_stopped, self, NULL);
	g_source_attach(self->stopped_source, self->context);
}

void
vmm_vm_cancel_report(VmmVm *self)
{
	g_mutex_lock(&self->lock);
	if (self->stopped_source != NULL) {
		g_source_destroy(self->stopped_source);
		g_clear_pointer(&self->stopped_source, g_source_unref);
	}
	g_mutex_unlock(&self->lock);
}

/* The first reason given is the one reported. */
static void
request_stop(
	VmmVm *self, gboolean requested, gboolean guest_exited, gint status, const gchar *reason)
{
	g_mutex_lock(&self->lock);
	if (!g_atomic_int_get(&self->stop_requested)) {
		self->stop_info.requested = requested;
		self->stop_info.guest_exited = guest_exited;
		self->stop_info.exit_status = status;
		self->stop_info.reason = g_strdup(reason);
		g_atomic_int_set(&self->stop_requested, TRUE);
		g_cond_broadcast(&self->cond);
	}
	g_mutex_unlock(&self->lock);
	kick_all(self);
}

void
vmm_vm_stop(VmmVm *self, const gchar *reason)
{
	request_stop(self, FALSE, FALSE, -1, reason);
}

/* A stop somebody asked for: the worker then ends successfully. */
void
vmm_vm_power_off(VmmVm *self, const gchar *reason)
{
	request_stop(self, TRUE, FALSE, -1, reason);
}

void
vmm_vm_guest_exit(VmmVm *self, gint status)
{
	g_autofree gchar *reason = g_strdup_printf("the guest exited with status %d", status);
	request_stop(self, FALSE, TRUE, status, reason);
}

void
vmm_vm_vcpu_exited(VmmVm *self, VmmVcpu *vcpu)
{
	g_mutex_lock(&self->lock);
	if (--self->vcpus_running == 0) {
		self->state = VMM_VM_STOPPED;
		schedule_report(self);
	}
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
}

void
vmm_vm_guest_event(VmmVm *self)
{
	g_mutex_lock(&self->lock);
	self->event++;
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
}

/* The idle port: sleep until an event this vCPU has not seen, the timeout, or a pause/stop. */
void
vmm_vm_idle(VmmVm *self, guint32 timeout_us)
{
	VmmVcpu *vcpu = vmm_vcpu_current();
	gint64 deadline = g_get_monotonic_time() + timeout_us;

	if (vcpu == NULL)
		return;
	/*
	 * A guest that notified a queue and now waits for the answer gets it
	 * sooner when this vCPU handles the notification than after two thread
	 * switches through the notifier thread.
	 */
	vmm_vm_ioeventfd_dispatch_pending(self);
	g_mutex_lock(&self->lock);
	while (vcpu->seen_event == self->event && !g_atomic_int_get(&self->pause_requested) &&
	       !g_atomic_int_get(&self->stop_requested)) {
		if (timeout_us == 0)
			g_cond_wait(&self->cond, &self->lock);
		else if (!g_cond_wait_until(&self->cond, &self->lock, deadline))
			break;
	}
	vcpu->seen_event = self->event;
	g_mutex_unlock(&self->lock);
}

VmmVmState
vmm_vm_get_state(VmmVm *self)
{
	VmmVmState state;

	g_mutex_lock(&self->lock);
	state = self->state;
	g_mutex_unlock(&self->lock);
	return state;
}

VmmBalloon *
vmm_vm_get_balloon(VmmVm *self)
{
	return self->balloon;
}

/* Before vmm_vm_start() only: the vCPU threads read it unlocked. */
void
vmm_vm_set_balloon_listener(VmmVm *self, const VmmBalloonListener *listener)
{
	g_return_if_fail(self->state == VMM_VM_CREATED);
	self->balloon_listener = *listener;
}

VmmMemory *
vmm_vm_get_memory(VmmVm *self)
{
	return self->memory;
}

guint
vmm_vm_get_n_vcpus(VmmVm *self)
{
	return self->n_vcpus;
}

guint32
vmm_vm_get_tsc_khz(VmmVm *self)
{
	return self->tsc_khz;
}
