#include "virtqueue.h"

#include "io.h"
#include "lib.h"

#define LEGACY_ALIGN 4096

void
vq_init(struct virtq *vq, uint16_t index, uint16_t size, void *mem)
{
	uintptr_t base = (uintptr_t)mem;
	size_t avail_off = (size_t)size * sizeof(struct virtq_desc);
	size_t used_off = ALIGN_UP(avail_off + 6 + 2 * (size_t)size, LEGACY_ALIGN);

	memset(mem, 0, VQ_RING_BYTES_MAX);
	*vq = (struct virtq){
		.index = index,
		.size = size,
		.desc = (struct virtq_desc *)base,
		.avail = (struct virtq_avail *)(base + avail_off),
		.used = (volatile struct virtq_used *)(base + used_off),
		.num_free = size,
	};
	for (uint16_t i = 0; i + 1 < size; i++)
		vq->desc[i].next = i + 1;
}

static void
publish(struct virtq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx % vq->size] = head;
	/* The device must see the ring entry and descriptors before the index. */
	barrier();
	vq->avail_idx++;
	*(volatile uint16_t *)&vq->avail->idx = vq->avail_idx;
}

int
vq_add(struct virtq *vq, const struct vq_buf *bufs, unsigned int n)
{
	if (n == 0 || n > vq->num_free)
		return -1;
	uint16_t head = vq->free_head, i = head;
	for (unsigned int k = 0; k < n; k++) {
		struct virtq_desc *d = &vq->desc[i];
		d->addr = bufs[k].addr;
		d->len = bufs[k].len;
		d->flags = (bufs[k].device_writes ? VIRTQ_DESC_F_WRITE : 0) |
			   (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		if (k + 1 < n)
			i = d->next;
	}
	vq->free_head = vq->desc[i].next;
	vq->num_free -= n;
	publish(vq, head);
	return head;
}

bool
vq_should_notify(struct virtq *vq)
{
	/* Our avail->idx store must be visible before we read the device's flags. */
	mb();
	return !(vq->used->flags & VIRTQ_USED_F_NO_NOTIFY);
}

bool
vq_has_used(const struct virtq *vq)
{
	return vq->size && vq->used->idx != vq->last_used;
}

static void
free_chain(struct virtq *vq, uint16_t head)
{
	uint16_t i = head, n = 1;

	while ((vq->desc[i].flags & VIRTQ_DESC_F_NEXT) && n < vq->size) {
		i = vq->desc[i].next;
		n++;
	}
	vq->desc[i].next = vq->free_head;
	vq->free_head = head;
	vq->num_free += n;
}

bool
vq_get_used(struct virtq *vq, uint16_t *head, uint32_t *len)
{
	if (!vq_has_used(vq))
		return false;
	barrier(); /* read the entry only after seeing the index */
	volatile struct virtq_used_elem *e = &vq->used->ring[vq->last_used % vq->size];
	uint32_t id = e->id;
	uint32_t l = e->len;
	vq->last_used++;
	/* A device that returns an id we never gave it does not get to corrupt the free list. */
	if (id >= vq->size)
		return false;
	free_chain(vq, (uint16_t)id);
	if (head)
		*head = (uint16_t)id;
	if (len)
		*len = l;
	return true;
}

void
vq_publish_raw(struct virtq *vq, uint16_t head)
{
	publish(vq, head);
}

void
vq_bump_avail_raw(struct virtq *vq, uint16_t by)
{
	vq->avail_idx += by;
	barrier();
	*(volatile uint16_t *)&vq->avail->idx = vq->avail_idx;
}
