/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-vm.h"

/* The paravirtual ports of docs/guest-interface.md. */
#define VMM_PARAVIRT_PORT 0x0f40
#define VMM_PARAVIRT_PORTS 16
#define VMM_PARAVIRT_SIGNATURE 0x4d584256 /* "VBXM" */

bool vmm_paravirt_register(VmmBus *pio, VmmVm *vm, VmmError **error);
void vmm_paravirt_unregister(VmmBus *pio, VmmVm *vm);
