/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm-log.h"
#include "vmm-vm-private.h"

/*
 * MSI through irqfd: each message a device sends (address and data, as the
 * guest programmed its MSI-X table) gets a GSI route and an eventfd bound to
 * it with KVM_IRQFD; raising it is then one write() from any thread, and KVM
 * injects it without taking the VM's ioctl path. Routes are made on first
 * use and kept; a guest that keeps reprogramming its vectors runs out of
 * them, and its further messages go through KVM_SIGNAL_MSI.
 *
 * Routes are only ever appended, under the lock, and n_routes is published
 * with a release store once the route is complete: senders look a route up
 * without the lock, and take it only to add one.
 */

#define FIRST_MSI_GSI 24 /* after the IOAPIC's pins */
#define N_PIC_GSIS 16

static const char *
unavailable_reason(VmmVm *self)
{
#ifdef VMM_TEST_HOOKS
	if (vmm_strcmp0(getenv("VBOXMEM_VM_TEST_NO_IRQFD"), "1") == 0)
		return "turned off by VBOXMEM_VM_TEST_NO_IRQFD";
#endif
	if (ioctl(self->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) <= 0)
		return "KVM lacks KVM_CAP_IRQFD";
	if (ioctl(self->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) <= 0)
		return "KVM lacks KVM_CAP_IRQ_ROUTING";
	return NULL;
}

void
vmm_vm_irqfd_init(VmmVm *self)
{
	self->msi.unavailable = unavailable_reason(self);
}

static struct kvm_irq_routing_entry
irqchip_route(uint32_t gsi, uint32_t irqchip, uint32_t pin)
{
	return (struct kvm_irq_routing_entry){
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = {.irqchip = irqchip, .pin = pin},
	};
}

static struct kvm_irq_routing_entry
msi_route(uint32_t gsi, const VmmMsiRoute *route)
{
	return (struct kvm_irq_routing_entry){
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi =
			{
				.address_lo = (uint32_t)route->address,
				.address_hi = (uint32_t)(route->address >> 32),
				.data = route->data,
			},
	};
}

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so it carries KVM's default
 * routes for the legacy pins too: GSI 0-15 to both PICs and the IOAPIC,
 * 16-23 to the IOAPIC.
 */
static bool
set_routing(VmmVm *self, unsigned n_msi)
{
	unsigned n = 0;
	vmm_autofree struct kvm_irq_routing *table =
		vmm_alloc0(1,
			   sizeof(*table) + (FIRST_MSI_GSI + N_PIC_GSIS + n_msi) *
						    sizeof(struct kvm_irq_routing_entry));

	for (uint32_t gsi = 0; gsi < FIRST_MSI_GSI; gsi++) {
		table->entries[n++] = irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi);
		if (gsi < N_PIC_GSIS)
			table->entries[n++] = irqchip_route(gsi,
							    gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
								    : KVM_IRQCHIP_PIC_SLAVE,
							    gsi % 8);
	}
	for (unsigned i = 0; i < n_msi; i++)
		table->entries[n++] = msi_route(FIRST_MSI_GSI + i, &self->msi.routes[i]);
	table->nr = n;
	return ioctl(self->vm_fd, KVM_SET_GSI_ROUTING, table) == 0;
}

/* With the lock held: the eventfd of a new route, or -1 with errno set. */
static int
add_route(VmmVm *self, uint64_t address, uint32_t data)
{
	unsigned index = __atomic_load_n(&self->msi.n_routes, __ATOMIC_RELAXED);
	VmmMsiRoute *route = &self->msi.routes[index];
	struct kvm_irqfd irqfd = {.gsi = FIRST_MSI_GSI + index};

	if (index == VMM_MAX_MSI_ROUTES) {
		errno = ENOSPC;
		return -1;
	}
	*route = (VmmMsiRoute){address, data, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
	if (route->fd < 0)
		return -1;
	irqfd.fd = (uint32_t)route->fd;
	if (!set_routing(self, index + 1) || ioctl(self->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		int saved_errno = errno;

		vmm_clear_fd(&route->fd);
		set_routing(self, index);
		errno = saved_errno;
		return -1;
	}
	/* Release: a sender that sees the new count sees the whole route. */
	__atomic_store_n(&self->msi.n_routes, index + 1, __ATOMIC_RELEASE);
	return route->fd;
}

static int
find_route(VmmVm *self, uint64_t address, uint32_t data)
{
	unsigned n_routes = __atomic_load_n(&self->msi.n_routes, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n_routes; i++) {
		if (self->msi.routes[i].address == address && self->msi.routes[i].data == data)
			return self->msi.routes[i].fd;
	}
	return -1;
}

/* False if the message must go through KVM_SIGNAL_MSI instead. */
bool
vmm_vm_irqfd_signal_msi(VmmVm *self, uint64_t address, uint32_t data)
{
	uint64_t one = 1;
	int fd;

	if (self->msi.unavailable != NULL)
		return false;
	fd = find_route(self, address, data);
	if (fd < 0) {
		pthread_mutex_lock(&self->msi.lock);
		/* Another thread may have added it meanwhile. */
		fd = find_route(self, address, data);
		if (fd < 0 && (fd = add_route(self, address, data)) < 0 &&
		    !self->msi.failure_logged) {
			self->msi.failure_logged = true;
			vmm_message("virtio interrupts: no irqfd for MSI 0x%" PRIx64 "/0x%x (%s); "
				    "such interrupts go through KVM_SIGNAL_MSI",
				    address,
				    data,
				    strerror(errno));
		}
		pthread_mutex_unlock(&self->msi.lock);
	}
	if (fd < 0 || write(fd, &one, sizeof(one)) != sizeof(one))
		return false;
	__atomic_fetch_add(&self->msi.through_irqfd, 1, __ATOMIC_RELAXED);
	return true;
}

void
vmm_vm_irqfd_log_start(VmmVm *self)
{
	if (self->msi.unavailable != NULL)
		vmm_message("virtio interrupts: KVM_SIGNAL_MSI (%s)", self->msi.unavailable);
	else
		vmm_debug("virtio interrupts: irqfd");
}

void
vmm_vm_irqfd_log_counts(VmmVm *self)
{
	vmm_debug("virtio interrupts: %" PRIu64 " MSIs through irqfd, %" PRIu64
		  " through KVM_SIGNAL_MSI, %u routes",
		  __atomic_load_n(&self->msi.through_irqfd, __ATOMIC_RELAXED),
		  __atomic_load_n(&self->msi.through_ioctl, __ATOMIC_RELAXED),
		  __atomic_load_n(&self->msi.n_routes, __ATOMIC_RELAXED));
}

/* Closing an eventfd that KVM_IRQFD holds also unbinds it. */
void
vmm_vm_irqfd_free(VmmVm *self)
{
	for (unsigned i = 0; i < self->msi.n_routes; i++)
		vmm_clear_fd(&self->msi.routes[i].fd);
	self->msi.n_routes = 0;
	pthread_mutex_destroy(&self->msi.lock);
}
