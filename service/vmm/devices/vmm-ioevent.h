/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

/*
 * Guest writes the VMM learns of without a vCPU exit (KVM's ioeventfd): a
 * device registers the address its driver writes to say "look at this queue",
 * and the VMM calls it back on another thread instead of on the vCPU that
 * wrote. A write that no registration matches still reaches the device's bus
 * handler, so a device works the same with or without them. The VM implements
 * it with KVM; unit tests with a recorder; NULL without either.
 */

/* One registration, owned by whoever implements VmmIoEvents. */
typedef struct _VmmIoEvent VmmIoEvent;

typedef struct {
	bool pio; /* port I/O, else MMIO */
	uint64_t address;
	uint32_t size;   /* the width of the driver's write */
	bool match_data; /* only writes of @data, else writes of any value */
	uint64_t data;
} VmmIoEventAddress;

typedef void (*VmmIoEventFunc)(void *user_data);

typedef struct {
	/*
	 * From now on, a guest write to @where calls @func(@user_data) on the
	 * VMM's notifier thread. NULL when the VMM cannot: the write then keeps
	 * reaching the bus handler on the vCPU.
	 */
	VmmIoEvent *(*add)(void *opaque,
			   const VmmIoEventAddress *where,
			   VmmIoEventFunc func,
			   void *user_data);
	/* Writes reach the bus handler again; @func may still run once for an earlier write. */
	void (*remove)(void *opaque, VmmIoEvent *event);
	void *opaque;
} VmmIoEvents;
