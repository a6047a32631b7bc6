/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-bus.h"
#include "vmm-vm.h"

/*
 * The paravirtual ports of docs/guest-interface.md: the VM's own, not a
 * device's. The idle port parks the vCPU in the VM, the exit port stops the
 * VM, and the others read what the VM knows (TSC rate, vCPU count).
 */
#define VMM_PARAVIRT_PORT 0x0f40
#define VMM_PARAVIRT_PORTS 16
#define VMM_PARAVIRT_SIGNATURE 0x4d584256 /* "VBXM" */

bool vmm_paravirt_register(VmmBus *pio, VmmVm *vm, VmmError **error);
void vmm_paravirt_unregister(VmmBus *pio, VmmVm *vm);
