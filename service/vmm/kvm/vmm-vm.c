/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm-error.h"
#include "vmm-log.h"
#include "vmm-paravirt.h"
#include "vmm-vm-private.h"
#include "vmm-x86.h"

#define KVM_API_VERSION_EXPECTED 12
#define TSS_ADDRESS 0xfffbd000
#define IDENTITY_MAP_ADDRESS 0xfffbc000ull
#define MAX_CPUID_ENTRIES 256

static bool
open_kvm(VmmVm *self, VmmError **error)
{
	self->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (self->kvm_fd < 0)
		return vmm_error_from_errno(error, "Opening /dev/kvm");
	if (ioctl(self->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION_EXPECTED)
		return vmm_set_error_literal(
			error, ENOTSUP, "/dev/kvm speaks an unknown API version");
	if (ioctl(self->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
	    ioctl(self->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0)
		return vmm_set_error_literal(
			error, ENOTSUP, "KVM lacks immediate exit or the in-kernel irqchip");
	self->vm_fd = ioctl(self->kvm_fd, KVM_CREATE_VM, 0);
	if (self->vm_fd < 0)
		return vmm_error_from_errno(error, "KVM_CREATE_VM");
	return true;
}

static bool
setup_memory(VmmVm *self, VmmError **error)
{
	uint64_t identity_map = IDENTITY_MAP_ADDRESS;

	self->memory = vmm_memory_new(self->config.memory_size, error);
	if (self->memory == NULL)
		return false;
	for (unsigned i = 0; i < self->memory->n_regions; i++) {
		const VmmMemoryRegion *r = &self->memory->regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->guest_address,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};
		if (ioctl(self->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return vmm_error_from_errno(error, "KVM_SET_USER_MEMORY_REGION");
	}
	if (ioctl(self->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDRESS) < 0)
		return vmm_error_from_errno(error, "KVM_SET_TSS_ADDR");
	if (ioctl(self->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
		return vmm_error_from_errno(error, "KVM_SET_IDENTITY_MAP_ADDR");
	return true;
}

static bool
setup_irqchip(VmmVm *self, VmmError **error)
{
	struct kvm_pit_config pit = {0};

	if (ioctl(self->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return vmm_error_from_errno(error, "KVM_CREATE_IRQCHIP");
	if (ioctl(self->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return vmm_error_from_errno(error, "KVM_CREATE_PIT2");
	return true;
}

static void
irq_set_line(void *opaque, uint32_t gsi, bool level)
{
	VmmVm *self = opaque;
	struct kvm_irq_level line = {.irq = gsi, .level = level ? 1 : 0};

	if (ioctl(self->vm_fd, KVM_IRQ_LINE, &line) < 0)
		vmm_warning("KVM_IRQ_LINE %u failed: %s", gsi, strerror(errno));
}

static void
irq_signal_msi(void *opaque, uint64_t address, uint32_t data)
{
	VmmVm *self = opaque;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)address,
		.address_hi = (uint32_t)(address >> 32),
		.data = data,
	};

	if (vmm_vm_irqfd_signal_msi(self, address, data))
		return;
	__atomic_fetch_add(&self->msi.through_ioctl, 1, __ATOMIC_RELAXED);
	if (ioctl(self->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		vmm_warning("KVM_SIGNAL_MSI failed: %s", strerror(errno));
}

static void
irq_guest_event(void *opaque)
{
	vmm_vm_guest_event(opaque);
}

#define CPUID_SIZE (sizeof(struct kvm_cpuid2) + MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2))

/* @cpuid: a copy of what KVM supports, patched here for @vcpu. */
static bool
set_cpuid(VmmVcpu *vcpu, struct kvm_cpuid2 *cpuid, VmmError **error)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffff) | (vcpu->index << 24);
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = vcpu->index;
	}
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		return vmm_error_from_errno(error, "KVM_SET_CPUID2");
	return true;
}

static bool
create_vcpus(VmmVm *self, VmmError **error)
{
	/* What KVM supports, asked once per VM; each vCPU gets a patched copy. */
	vmm_autofree struct kvm_cpuid2 *supported = vmm_alloc0(1, CPUID_SIZE);
	vmm_autofree struct kvm_cpuid2 *cpuid = vmm_alloc0(1, CPUID_SIZE);

	supported->nent = MAX_CPUID_ENTRIES;
	if (ioctl(self->kvm_fd, KVM_GET_SUPPORTED_CPUID, supported) < 0)
		return vmm_error_from_errno(error, "KVM_GET_SUPPORTED_CPUID");
	self->vcpu_mmap_size = (size_t)ioctl(self->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (unsigned i = 0; i < self->config.n_vcpus; i++) {
		VmmVcpu *vcpu = vmm_vcpu_new(
			self, self->vm_fd, i, self->vcpu_mmap_size, self->pio, self->mmio, error);
		if (vcpu == NULL)
			return false;
		self->vcpus[self->n_vcpus++] = vcpu;
		memcpy(cpuid, supported, CPUID_SIZE);
		if (!set_cpuid(vcpu, cpuid, error) ||
		    !vmm_x86_setup_vcpu(vcpu->fd, &self->boot, i, error))
			return false;
	}
	self->tsc_khz = (uint32_t)VMM_MAX(ioctl(self->vcpus[0]->fd, KVM_GET_TSC_KHZ, 0), 0);
	return true;
}

/* The board, on the VM's buses, memory and interrupt and notification paths. */
static bool
create_devices(VmmVm *self, VmmError **error)
{
	self->devices = vmm_devices_new(&self->config.devices,
					self->memory,
					self->pio,
					self->mmio,
					&self->irq,
					vmm_vm_ioeventfd_get_ioevents(self),
					error);
	return self->devices != NULL;
}

static bool
check_config(const VmmConfig *config, VmmError **error)
{
	if (config->n_vcpus < 1 || config->n_vcpus > VMM_MAX_VCPUS)
		return vmm_set_error(error,
				     EINVAL,
				     "A VM has 1 to %u vCPUs, not %u",
				     VMM_MAX_VCPUS,
				     config->n_vcpus);
	if (config->memory_size < 4 * VMM_MIB || config->memory_size % (2 * VMM_MIB) != 0)
		return vmm_set_error(
			error, EINVAL, "Guest memory must be a multiple of 2 MiB, at least 4 MiB");
	if (config->devices.balloon_target > config->memory_size)
		return vmm_set_error_literal(
			error, EINVAL, "The balloon cannot be larger than guest memory");
	return true;
}

static void
copy_config(VmmConfig *to, const VmmConfig *from)
{
	*to = *from;
	to->kernel.path = vmm_strdup(from->kernel.path);
	to->initrd.path = vmm_strdup(from->initrd.path);
	to->cmdline = vmm_strdup(from->cmdline != NULL ? from->cmdline : "");
	to->devices.console_log = vmm_strdup(from->devices.console_log);
}

VmmVm *
vmm_vm_new(const VmmConfig *config, VmmError **error)
{
	vmm_autoptr(VmmVm) self = vmm_new0(VmmVm, 1);

	self->kvm_fd = self->vm_fd = -1;
	pthread_mutex_init(&self->run.lock, NULL);
	vmm_cond_init_monotonic(&self->run.cond);
	pthread_mutex_init(&self->msi.lock, NULL);
	self->irq = (VmmIrq){irq_set_line, irq_signal_msi, irq_guest_event, self};
	self->pio = vmm_bus_new("port I/O");
	self->mmio = vmm_bus_new("MMIO");
	if (!check_config(config, error))
		return NULL;
	copy_config(&self->config, config);
	if (!open_kvm(self, error) || !setup_memory(self, error) || !setup_irqchip(self, error))
		return NULL;
	vmm_vm_ioeventfd_init(self);
	vmm_vm_irqfd_init(self);
	if (!vmm_boot_load_files(self->memory,
				 &self->config.kernel,
				 self->config.initrd.path != NULL ? &self->config.initrd : NULL,
				 self->config.cmdline,
				 &self->boot,
				 error) ||
	    !vmm_x86_write_boot_tables(self->memory, &self->boot, error))
		return NULL;
	if (!vmm_paravirt_register(self->pio, self, error) || !create_devices(self, error) ||
	    !create_vcpus(self, error))
		return NULL;
	return vmm_steal_pointer(&self);
}

void
vmm_vm_free(VmmVm *self)
{
	if (self == NULL)
		return;
	vmm_vm_stop(self, "the VM is being destroyed");
	for (unsigned i = 0; i < self->n_vcpus; i++)
		vmm_vcpu_free(self->vcpus[i]);
	vmm_vm_ioeventfd_stop(self);
	vmm_clear_pointer(&self->devices, vmm_devices_free);
	vmm_paravirt_unregister(self->pio, self);
	vmm_vm_ioeventfd_free(self);
	vmm_vm_irqfd_free(self);
	vmm_bus_free(self->pio);
	vmm_bus_free(self->mmio);
	vmm_memory_free(self->memory);
	vmm_clear_fd(&self->vm_fd);
	vmm_clear_fd(&self->kvm_fd);
	free(self->run.stop_info.reason);
	free((char *)self->config.kernel.path);
	free((char *)self->config.initrd.path);
	free((char *)self->config.cmdline);
	free((char *)self->config.devices.console_log);
	pthread_mutex_destroy(&self->run.lock);
	pthread_cond_destroy(&self->run.cond);
	free(self);
}
