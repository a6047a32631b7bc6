/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-balloon.h"
#include "vmm-devices.h"
#include "vmm-paravirt.h"
#include "vmm-pci.h"
#include "vmm-serial.h"
#include "vmm-virtio-pci.h"
#include "vmm-vm-private.h"

/* The balloon reports to whoever vmm_vm_set_balloon_listener() named, possibly nobody yet. */
static void
forward_actual(void *user_data, uint64_t actual_bytes)
{
	VmmVm *vm = user_data;
	if (vm->balloon_listener.actual_changed != NULL)
		vm->balloon_listener.actual_changed(vm->balloon_listener.user_data, actual_bytes);
}

static void
forward_stats(void *user_data, const VmmBalloonStats *stats)
{
	VmmVm *vm = user_data;
	if (vm->balloon_listener.stats_updated != NULL)
		vm->balloon_listener.stats_updated(vm->balloon_listener.user_data, stats);
}

static void
forward_reported(void *user_data, uint64_t bytes)
{
	VmmVm *vm = user_data;
	if (vm->balloon_listener.pages_reported != NULL)
		vm->balloon_listener.pages_reported(vm->balloon_listener.user_data, bytes);
}

static bool
create_balloon(VmmVm *vm, VmmError **error)
{
	VmmBalloonListener listener = {forward_actual, forward_stats, forward_reported, vm};

	vm->balloon = vmm_balloon_new(vm->memory, &vm->config.balloon, &listener);
	vm->balloon_transport = vmm_virtio_pci_new(
		vm->pci, vm->memory, &vm->irq, vmm_balloon_get_ops(), vm->balloon, error);
	if (vm->balloon_transport == NULL)
		return false;
	if (vm->notifier != NULL)
		vmm_virtio_pci_set_ioevents(vm->balloon_transport, &vm->ioevents);
	vmm_balloon_set_target(vm->balloon, vm->config.balloon_target);
	return true;
}

/* The machine's board: which devices exist and where. */
bool
vmm_devices_create(VmmVm *vm, VmmError **error)
{
	vm->serial = vmm_serial_new(
		vm->pio, &vm->irq, vm->config.console_log, vm->config.console_log_limit, error);
	if (vm->serial == NULL || !vmm_paravirt_register(vm->pio, vm, error))
		return false;
	vm->pci = vmm_pci_new(vm->pio, vm->mmio, error);
	if (vm->pci == NULL)
		return false;
	return create_balloon(vm, error);
}

/* Called once the vCPUs and the notifier thread are gone: nothing touches the devices any more. */
void
vmm_devices_destroy(VmmVm *vm)
{
	vmm_clear_pointer(&vm->balloon_transport, vmm_virtio_pci_free);
	vmm_clear_pointer(&vm->balloon, vmm_balloon_free);
	vmm_clear_pointer(&vm->pci, vmm_pci_free);
	vmm_paravirt_unregister(vm->pio, vm);
	vmm_clear_pointer(&vm->serial, vmm_serial_free);
}
