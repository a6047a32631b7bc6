/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

/*
 * How devices reach the guest's CPUs. The VM implements it with KVM; unit
 * tests with a recorder. guest_event() is called for every event a device
 * has for the guest, whether or not the guest enabled an interrupt for it,
 * so that vCPUs waiting in the idle port wake up.
 */
typedef struct {
	void (*set_line)(void *opaque, uint32_t gsi, bool level);
	void (*signal_msi)(void *opaque, uint64_t address, uint32_t data);
	void (*guest_event)(void *opaque);
	void *opaque;
} VmmIrq;
