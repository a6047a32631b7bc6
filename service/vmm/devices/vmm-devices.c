/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-devices.h"
#include "vmm-pci.h"
#include "vmm-serial.h"
#include "vmm-virtio-pci.h"

struct _VmmDevices {
	VmmSerial *serial;
	VmmPci *pci;
	VmmBalloon *balloon;
	VmmVirtio *balloon_transport;
};

/*
 * The balloon reports to nobody until vmm_balloon_set_listener() names
 * someone: the VM's owner, once it has something to report to.
 */
static bool
create_balloon(VmmDevices *self,
	       const VmmDevicesConfig *config,
	       VmmMemory *memory,
	       const VmmIrq *irq,
	       const VmmIoEvents *ioevents,
	       VmmError **error)
{
	self->balloon = vmm_balloon_new(memory, &config->balloon, NULL);
	self->balloon_transport = vmm_virtio_pci_new(
		self->pci, memory, irq, vmm_balloon_get_ops(), self->balloon, error);
	if (self->balloon_transport == NULL)
		return false;
	if (ioevents != NULL)
		vmm_virtio_pci_set_ioevents(self->balloon_transport, ioevents);
	vmm_balloon_set_target(self->balloon, config->balloon_target);
	return true;
}

VmmDevices *
vmm_devices_new(const VmmDevicesConfig *config,
		VmmMemory *memory,
		VmmBus *pio,
		VmmBus *mmio,
		VmmIrq *irq,
		const VmmIoEvents *ioevents,
		VmmError **error)
{
	vmm_autoptr(VmmDevices) self = vmm_new0(VmmDevices, 1);

	self->serial =
		vmm_serial_new(pio, irq, config->console_log, config->console_log_limit, error);
	if (self->serial == NULL)
		return NULL;
	self->pci = vmm_pci_new(pio, mmio, error);
	if (self->pci == NULL || !create_balloon(self, config, memory, irq, ioevents, error))
		return NULL;
	return vmm_steal_pointer(&self);
}

void
vmm_devices_free(VmmDevices *self)
{
	if (self == NULL)
		return;
	vmm_clear_pointer(&self->balloon_transport, vmm_virtio_pci_free);
	vmm_clear_pointer(&self->balloon, vmm_balloon_free);
	vmm_clear_pointer(&self->pci, vmm_pci_free);
	vmm_clear_pointer(&self->serial, vmm_serial_free);
	free(self);
}

VmmBalloon *
vmm_devices_get_balloon(VmmDevices *self)
{
	return self->balloon;
}

void
vmm_devices_get_notify_counts(VmmDevices *self, uint64_t *on_exits, uint64_t *through_ioevents)
{
	vmm_virtio_pci_get_notify_counts(self->balloon_transport, on_exits, through_ioevents);
}
