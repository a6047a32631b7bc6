/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-bus.h"
#include "vmm-irq.h"

#define VMM_SERIAL_PORT 0x3f8
#define VMM_SERIAL_IRQ 4

typedef struct _VmmSerial VmmSerial;

VmmSerial *vmm_serial_new(
	VmmBus *pio, VmmIrq *irq, const char *log_path, uint64_t log_limit, VmmError **error);
void vmm_serial_free(VmmSerial *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSerial, vmm_serial_free)
