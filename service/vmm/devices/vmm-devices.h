/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-balloon.h"
#include "vmm-bus.h"
#include "vmm-ioevent.h"
#include "vmm-irq.h"

/* How the machine's devices are set up (VmmConfig.devices). */
typedef struct {
	const char *console_log; /* the serial console's log file, '-' for stdout, or NULL */
	uint64_t console_log_limit;
	VmmBalloonFeatures balloon;
	uint64_t balloon_target;
} VmmDevicesConfig;

/*
 * The machine's board: which devices exist and where. The 8250 on the port
 * bus, the PCI host bridge, and the virtio balloon behind its virtio-pci
 * function. The VM owns one; nothing here knows KVM.
 */
typedef struct _VmmDevices VmmDevices;

/*
 * Plugs the devices into @pio and @mmio, over @memory; they interrupt the
 * guest through @irq and, with @ioevents (copied; NULL: none), take queue
 * notifications off the vCPUs. @memory, the buses and @irq must outlive the
 * devices; @config is not kept.
 */
VmmDevices *vmm_devices_new(const VmmDevicesConfig *config,
			    VmmMemory *memory,
			    VmmBus *pio,
			    VmmBus *mmio,
			    VmmIrq *irq,
			    const VmmIoEvents *ioevents,
			    VmmError **error);
/* Once no vCPU and no notifier thread runs: nothing may touch the devices any more. */
void vmm_devices_free(VmmDevices *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDevices, vmm_devices_free)

VmmBalloon *vmm_devices_get_balloon(VmmDevices *self);
/* Queue notifications so far: handled on vCPU exits, and through ioevents. */
void
vmm_devices_get_notify_counts(VmmDevices *self, uint64_t *on_exits, uint64_t *through_ioevents);
