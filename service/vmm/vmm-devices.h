/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-vm.h"

G_BEGIN_DECLS

gboolean vmm_devices_create(VmmVm *vm, GError **error);
void vmm_devices_destroy(VmmVm *vm);

G_END_DECLS
