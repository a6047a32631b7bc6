/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-bus.h"
#include "vmm-irq.h"

G_BEGIN_DECLS

#define VMM_SERIAL_PORT 0x3f8
#define VMM_SERIAL_IRQ 4

typedef struct _VmmSerial VmmSerial;

VmmSerial *
vmm_serial_new(VmmBus *pio, VmmIrq *irq, const gchar *log_path, guint64 log_limit, GError **error);
void vmm_serial_free(VmmSerial *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSerial, vmm_serial_free)

G_END_DECLS
