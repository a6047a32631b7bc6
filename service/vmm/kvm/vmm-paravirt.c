/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vmm-paravirt.h"

enum {
	PORT_IDLE_SIGNATURE = 0x0,
	PORT_EXIT = 0x4,
	PORT_TSC_KHZ = 0x8,
	PORT_VCPUS = 0xc,
};

static uint32_t
read_value(VmmVm *vm, uint64_t offset)
{
	switch (offset) {
	case PORT_IDLE_SIGNATURE:
		return VMM_PARAVIRT_SIGNATURE;
	case PORT_TSC_KHZ:
		return vmm_vm_get_tsc_khz(vm);
	case PORT_VCPUS:
		return vmm_vm_get_n_vcpus(vm);
	default:
		return UINT32_MAX;
	}
}

/* Only whole 32-bit accesses at the ports' own offsets mean anything. */
static void
paravirt_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	uint32_t value = size == 4 && offset % 4 == 0 ? read_value(opaque, offset) : UINT32_MAX;

	value = htole32(value);
	memcpy(data, &value, VMM_MIN(size, sizeof(value)));
}

static void
paravirt_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	uint32_t value;

	if (size != 4 || offset % 4 != 0)
		return;
	memcpy(&value, data, sizeof(value));
	value = le32toh(value);
	if (offset == PORT_IDLE_SIGNATURE)
		vmm_vm_idle(opaque, value);
	else if (offset == PORT_EXIT)
		vmm_vm_guest_exit(opaque, (int)value);
}

static const VmmIoOps paravirt_ops = {paravirt_read, paravirt_write};

bool
vmm_paravirt_register(VmmBus *pio, VmmVm *vm, VmmError **error)
{
	return vmm_bus_add(pio, VMM_PARAVIRT_PORT, VMM_PARAVIRT_PORTS, &paravirt_ops, vm, error);
}

void
vmm_paravirt_unregister(VmmBus *pio, VmmVm *vm)
{
	vmm_bus_remove(pio, VMM_PARAVIRT_PORT, vm);
}
