/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-boot.h"

bool vmm_x86_write_boot_tables(VmmMemory *memory, const VmmBootInfo *info, VmmError **error);
bool vmm_x86_setup_vcpu(int vcpu_fd, const VmmBootInfo *info, unsigned index, VmmError **error);
