/* The driver side of a split virtqueue, polled: no interrupts, no event index. */
#ifndef GUEST_VIRTQUEUE_H
#define GUEST_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_USED_F_NO_NOTIFY 1

#define VQ_MAX_SIZE 1024
/* Legacy layout of the largest queue: descriptors, avail ring, used ring on its own page. */
#define VQ_RING_BYTES_MAX (32 * 1024)

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];
};

struct vq_buf {
	uint64_t addr;
	uint32_t len;
	bool device_writes;
};

struct virtq {
	uint16_t index;
	uint16_t size; /* 0: the queue is not set up */
	uint16_t notify_off;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	volatile struct virtq_used *used;
	uint16_t free_head;
	uint16_t num_free;
	uint16_t avail_idx;
	uint16_t last_used;
};

/* Lays the rings out in mem (VQ_RING_BYTES_MAX bytes, 4 KiB aligned), as legacy requires. */
void vq_init(struct virtq *vq, uint16_t index, uint16_t size, void *mem);

/* Adds one chain of n buffers and makes it available. Returns the head, or -1 when full. */
int vq_add(struct virtq *vq, const struct vq_buf *bufs, unsigned int n);

/* Whether the device wants a notification for what was just made available. */
bool vq_should_notify(struct virtq *vq);

bool vq_has_used(const struct virtq *vq);

/* Takes the next used chain, returning it to the free list. */
bool vq_get_used(struct virtq *vq, uint16_t *head, uint32_t *len);

/* For the hostile modes: publish any descriptor index, bypassing the free list. */
void vq_publish_raw(struct virtq *vq, uint16_t head);
void vq_bump_avail_raw(struct virtq *vq, uint16_t by);

#endif
