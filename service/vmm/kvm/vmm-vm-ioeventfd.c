/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm-log.h"
#include "vmm-vm-private.h"

/*
 * The VM's VmmIoEvents: a guest write to a registered address signals an
 * eventfd in KVM, without a vCPU exit, and the notifier thread calls the
 * device. Where KVM cannot, devices keep handling writes on vCPU exits.
 */

struct _VmmIoEvent {
	struct kvm_ioeventfd kvm;
	VmmNotifierWatch *watch;
};

static void
log_failure_once(VmmVm *self, const VmmIoEventAddress *where, int error_number)
{
	if (__atomic_exchange_n(&self->ioeventfd.failure_logged, true, __ATOMIC_SEQ_CST))
		return;
	vmm_message("virtio notifications: ioeventfd at %s 0x%" PRIx64
		    " refused (%s); such notifications exit to the VMM",
		    where->pio ? "port" : "address",
		    where->address,
		    strerror(error_number));
}

/* A write of any width to the address, where KVM can match that: the driver may use 2 or 4. */
static uint32_t
kvm_length(VmmVm *self, const VmmIoEventAddress *where)
{
	if (!where->pio && !where->match_data && self->ioeventfd.any_length)
		return 0;
	return where->size;
}

static VmmIoEvent *
ioevent_add(void *opaque, const VmmIoEventAddress *where, VmmIoEventFunc func, void *user_data)
{
	VmmVm *self = opaque;
	vmm_autofree VmmIoEvent *event = vmm_new0(VmmIoEvent, 1);
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0) {
		log_failure_once(self, where, errno);
		return NULL;
	}
	event->kvm = (struct kvm_ioeventfd){
		.datamatch = where->match_data ? where->data : 0,
		.addr = where->address,
		.len = kvm_length(self, where),
		.fd = fd,
		.flags = (where->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (where->match_data ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0),
	};
	if (ioctl(self->vm_fd, KVM_IOEVENTFD, &event->kvm) < 0) {
		log_failure_once(self, where, errno);
		close(fd);
		return NULL;
	}
	event->watch = vmm_notifier_add(self->ioeventfd.notifier, fd, func, user_data);
	return vmm_steal_pointer(&event);
}

static void
ioevent_remove(void *opaque, VmmIoEvent *event)
{
	VmmVm *self = opaque;
	struct kvm_ioeventfd deassign = event->kvm;

	deassign.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	if (ioctl(self->vm_fd, KVM_IOEVENTFD, &deassign) < 0)
		vmm_warning("virtio notifications: KVM keeps the ioeventfd at 0x%llx: %s",
			    (unsigned long long)event->kvm.addr,
			    strerror(errno));
	vmm_notifier_remove(self->ioeventfd.notifier, event->watch);
	free(event);
}

static char *
unavailable_reason(VmmVm *self)
{
#ifdef VMM_TEST_HOOKS
	/* The fallback on a host whose KVM has ioeventfd. */
	if (vmm_strcmp0(getenv("VBOXMEM_VM_TEST_NO_IOEVENTFD"), "1") == 0)
		return vmm_strdup("turned off by VBOXMEM_VM_TEST_NO_IOEVENTFD");
#endif
	if (ioctl(self->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0)
		return vmm_strdup("KVM lacks KVM_CAP_IOEVENTFD");
	return NULL;
}

void
vmm_vm_ioeventfd_init(VmmVm *self)
{
	vmm_autoptr(VmmError) error = NULL;

	self->ioeventfd.unavailable = unavailable_reason(self);
	if (self->ioeventfd.unavailable != NULL)
		return;
	self->ioeventfd.notifier = vmm_notifier_new(&error);
	if (self->ioeventfd.notifier == NULL) {
		self->ioeventfd.unavailable = vmm_strdup(error->message);
		return;
	}
	self->ioeventfd.any_length =
		ioctl(self->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
	self->ioeventfd.ioevents = (VmmIoEvents){ioevent_add, ioevent_remove, self};
}

const VmmIoEvents *
vmm_vm_ioeventfd_get_ioevents(VmmVm *self)
{
	return self->ioeventfd.notifier != NULL ? &self->ioeventfd.ioevents : NULL;
}

/* Said when the guest starts, not before: a worker that fails earlier says only why. */
void
vmm_vm_ioeventfd_start(VmmVm *self)
{
	if (self->ioeventfd.notifier == NULL) {
		vmm_message("virtio notifications: on vCPU exits (%s)",
			    self->ioeventfd.unavailable);
		return;
	}
	vmm_notifier_start(self->ioeventfd.notifier);
	vmm_debug("virtio notifications: ioeventfd%s",
		  self->ioeventfd.any_length ? " (any write width)" : "");
}

void
vmm_vm_ioeventfd_stop(VmmVm *self)
{
	if (self->ioeventfd.notifier != NULL)
		vmm_notifier_stop(self->ioeventfd.notifier);
}

void
vmm_vm_ioeventfd_flush(VmmVm *self)
{
	if (self->ioeventfd.notifier != NULL)
		vmm_notifier_flush(self->ioeventfd.notifier);
}

void
vmm_vm_ioeventfd_dispatch_pending(VmmVm *self)
{
	if (self->ioeventfd.notifier != NULL)
		vmm_notifier_dispatch_pending(self->ioeventfd.notifier);
}

/* After the devices: they remove their ioeventfds as they go. */
void
vmm_vm_ioeventfd_free(VmmVm *self)
{
	vmm_clear_pointer(&self->ioeventfd.notifier, vmm_notifier_free);
	vmm_clear_pointer(&self->ioeventfd.unavailable, free);
}

void
vmm_vm_log_notify_counts(VmmVm *self)
{
	uint64_t on_exits = 0, through_ioeventfd = 0;

	if (self->devices != NULL)
		vmm_devices_get_notify_counts(self->devices, &on_exits, &through_ioeventfd);
	vmm_debug("virtio notifications: %" PRIu64 " through ioeventfd, %" PRIu64 " on vCPU exits",
		  through_ioeventfd,
		  on_exits);
}
