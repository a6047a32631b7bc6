/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-vm.h"

bool vmm_devices_create(VmmVm *vm, VmmError **error);
void vmm_devices_destroy(VmmVm *vm);
