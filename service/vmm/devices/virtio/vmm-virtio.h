/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-virtqueue.h"

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
	uint16_t device_id;
	/* The transport offers all of them whatever the features; see activate(). */
	uint32_t config_size;
	unsigned num_queues;
	uint16_t queue_size;
	/* Called once, before the guest runs: the transport that carries @device. */
	void (*attach)(void *device, VmmVirtio *transport);
	/* Device-specific feature bits; the transport adds VIRTIO_F_VERSION_1. */
	uint64_t (*get_features)(void *device);
	void (*config_read)(void *device, uint32_t offset, uint8_t *data, uint32_t size);
	void (*config_write)(void *device, uint32_t offset, const uint8_t *data, uint32_t size);
	/* The driver set DRIVER_OK with these features; the queues are ready. */
	void (*activate)(void *device, VmmVirtio *transport, uint64_t features);
	void (*queue_notify)(void *device, unsigned queue_index);
	void (*reset)(void *device);
} VmmVirtioDeviceOps;

/*
 * The functions below are called with the transport's lock held: from the
 * callbacks above, or between vmm_virtio_lock() and vmm_virtio_unlock() on
 * any other thread.
 */

/* The queue, or NULL while it is not usable: not enabled, device not active or needing reset. */
VmmVirtqueue *vmm_virtio_get_queue(VmmVirtio *self, unsigned queue_index);
/*
 * After pushing used buffers: wakes idle vCPUs, then interrupts the guest
 * unless the driver suppressed it (MSI-X vector or INTx with ISR bit 0).
 */
void vmm_virtio_notify_used(VmmVirtio *self, unsigned queue_index);
/* After the device changed its configuration: new generation, wake-up, config interrupt. */
void vmm_virtio_notify_config(VmmVirtio *self);
/*
 * The driver wrote garbage: logs @reason once, sets DEVICE_NEEDS_RESET,
 * raises a config interrupt and stops handing out queues until the driver
 * resets the device. The VM keeps running.
 */
void vmm_virtio_set_needs_reset(VmmVirtio *self, const char *reason);
/* The same for a broken chain on @queue_index: the reason is "queue N: ERROR". */
void vmm_virtio_queue_failed(VmmVirtio *self, unsigned queue_index, const VmmError *error);
bool vmm_virtio_needs_reset(VmmVirtio *self);
void vmm_virtio_lock(VmmVirtio *self);
void vmm_virtio_unlock(VmmVirtio *self);
