/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-virtio-pci-private.h"

/* Queue notifications that reach the transport without a vCPU exit (vmm-ioevent.h). */

static void
queue_notified(void *user_data)
{
	VmmVirtioQueueEvent *queue_event = user_data;
	VmmVirtio *self = queue_event->transport;

	pthread_mutex_lock(&self->lock);
	self->ioevent_notifies++;
	vmm_virtio_pci_queue_notify(self, queue_event->index);
	pthread_mutex_unlock(&self->lock);
}

/* Where the driver writes to notify queue @index, if the queue is live and the BAR decodes. */
static bool
notify_address(VmmVirtio *self, unsigned index, VmmIoEventAddress *where)
{
	/* Only a modern driver sets FEATURES_OK; activation checked it matches VERSION_1. */
	bool modern = (self->status & VMM_VIRTIO_STATUS_FEATURES_OK) != 0;
	uint64_t base =
		self->bar_addresses[modern ? VMM_VIRTIO_PCI_MODERN_BAR : VMM_VIRTIO_PCI_LEGACY_BAR];

	if (!self->active || base == 0 || !vmm_virtqueue_is_enabled(self->queues[index]))
		return false;
	/* Every queue has its own modern register, but they share the legacy one. */
	if (modern)
		*where = (VmmIoEventAddress){
			.address = base + VMM_VIRTIO_PCI_NOTIFY_OFFSET +
				   (uint64_t)index * VMM_VIRTIO_PCI_NOTIFY_MULTIPLIER,
			.size = 2,
		};
	else
		*where = (VmmIoEventAddress){
			.pio = true,
			.address = base + LEGACY_QUEUE_NOTIFY,
			.size = 2,
			.match_data = true,
			.data = index,
		};
	return true;
}

static bool
same_address(const VmmIoEventAddress *a, const VmmIoEventAddress *b)
{
	return a->pio == b->pio && a->address == b->address && a->size == b->size &&
	       a->match_data == b->match_data && a->data == b->data;
}

/* A refused registration is not retried until the address changes. */
static void
update_queue(VmmVirtio *self, VmmVirtioQueueEvent *queue_event)
{
	VmmIoEventAddress where = {0};
	bool wanted = notify_address(self, queue_event->index, &where);

	if (wanted == queue_event->wanted && (!wanted || same_address(&where, &queue_event->where)))
		return;
	if (queue_event->event != NULL)
		self->ioevents.remove(self->ioevents.opaque, queue_event->event);
	queue_event->event = NULL;
	queue_event->wanted = wanted;
	queue_event->where = where;
	if (wanted)
		queue_event->event = self->ioevents.add(
			self->ioevents.opaque, &where, queue_notified, queue_event);
}

void
vmm_virtio_pci_update_ioevents(VmmVirtio *self)
{
	if (self->ioevents.add == NULL)
		return;
	for (unsigned i = 0; i < self->ops->num_queues; i++)
		update_queue(self, &self->queue_events[i]);
}

void
vmm_virtio_pci_remove_ioevents(VmmVirtio *self)
{
	for (unsigned i = 0; i < self->ops->num_queues; i++) {
		VmmVirtioQueueEvent *queue_event = &self->queue_events[i];
		if (queue_event->event != NULL)
			self->ioevents.remove(self->ioevents.opaque, queue_event->event);
		queue_event->event = NULL;
		queue_event->wanted = false;
	}
}

void
vmm_virtio_pci_set_ioevents(VmmVirtio *self, const VmmIoEvents *ioevents)
{
	pthread_mutex_lock(&self->lock);
	vmm_virtio_pci_remove_ioevents(self);
	self->ioevents = ioevents != NULL ? *ioevents : (VmmIoEvents){0};
	vmm_virtio_pci_update_ioevents(self);
	pthread_mutex_unlock(&self->lock);
}

void
vmm_virtio_pci_get_notify_counts(VmmVirtio *self, uint64_t *on_exits, uint64_t *through_ioevents)
{
	pthread_mutex_lock(&self->lock);
	*on_exits = self->exit_notifies;
	*through_ioevents = self->ioevent_notifies;
	pthread_mutex_unlock(&self->lock);
}
