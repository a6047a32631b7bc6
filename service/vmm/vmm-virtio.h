/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-virtqueue.h"

G_BEGIN_DECLS

/* Device status bits and feature bits every transport knows (virtio 1.2, 2.1 and 6). */
#define VMM_VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VMM_VIRTIO_STATUS_DRIVER 2u
#define VMM_VIRTIO_STATUS_DRIVER_OK 4u
#define VMM_VIRTIO_STATUS_FEATURES_OK 8u
#define VMM_VIRTIO_STATUS_NEEDS_RESET 64u
#define VMM_VIRTIO_STATUS_FAILED 128u
#define VMM_VIRTIO_F_VERSION_1 32

/* A transport instance (virtio-pci), as seen by the device model it carries. */
typedef struct _VmmVirtio VmmVirtio;

/*
 * What a device model (balloon, console...) tells its transport. Called with
 * the transport's lock held, from vCPU threads or the VM's notifier thread
 * (queue_notify through ioeventfd); a device never calls back into the
 * transport from these except through the vmm_virtio_*() functions below.
 */
typedef struct {
	guint16 device_id;
	/* The transport offers all of them whatever the features; see activate(). */
	guint32 config_size;
	guint num_queues;
	guint16 queue_size;
	/* Called once, before the guest runs: the transport that carries @device. */
	void (*attach)(gpointer device, VmmVirtio *transport);
	/* Device-specific feature bits; the transport adds VIRTIO_F_VERSION_1. */
	guint64 (*get_features)(gpointer device);
	void (*config_read)(gpointer device, guint32 offset, guint8 *data, guint32 size);
	void (*config_write)(gpointer device, guint32 offset, const guint8 *data, guint32 size);
	/* The driver set DRIVER_OK with these features; the queues are ready. */
	void (*activate)(gpointer device, VmmVirtio *transport, guint64 features);
	void (*queue_notify)(gpointer device, guint queue_index);
	void (*reset)(gpointer device);
} VmmVirtioDeviceOps;

/*
 * The functions below are called with the transport's lock held: from the
 * callbacks above, or between vmm_virtio_lock() and vmm_virtio_unlock() on
 * any other thread.
 */

/* The queue, or NULL while it is not usable: not enabled, device not active or needing reset. */
VmmVirtqueue *vmm_virtio_get_queue(VmmVirtio *self, guint queue_index);
/*
 * After pushing used buffers: wakes idle vCPUs, then interrupts the guest
 * unless the driver suppressed it (MSI-X vector or INTx with ISR bit 0).
 */
void vmm_virtio_notify_used(VmmVirtio *self, guint queue_index);
/* After the device changed its configuration: new generation, wake-up, config interrupt. */
void vmm_virtio_notify_config(VmmVirtio *self);
/*
 * The driver wrote garbage: logs @reason once, sets DEVICE_NEEDS_RESET,
 * raises a config interrupt and stops handing out queues until the driver
 * resets the device. The VM keeps running.
 */
void vmm_virtio_set_needs_reset(VmmVirtio *self, const gchar *reason);
gboolean vmm_virtio_needs_reset(VmmVirtio *self);
void vmm_virtio_lock(VmmVirtio *self);
void vmm_virtio_unlock(VmmVirtio *self);

G_END_DECLS
