/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * How devices reach the guest's CPUs. The VM implements it with KVM; unit
 * tests with a recorder. guest_event() is called for every event a device
 * has for the guest, whether or not the guest enabled an interrupt for it,
 * so that vCPUs waiting in the idle port wake up.
 */
typedef struct {
	void (*set_line)(gpointer opaque, guint32 gsi, gboolean level);
	void (*signal_msi)(gpointer opaque, guint64 address, guint32 data);
	void (*guest_event)(gpointer opaque);
	gpointer opaque;
} VmmIrq;

G_END_DECLS
