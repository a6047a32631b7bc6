/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <pthread.h>
#include <string.h>

#include "vmm-bus.h"

typedef struct {
	uint64_t base;
	uint64_t length;
	const VmmIoOps *ops;
	void *opaque;
} BusRange;

/* Ranges sorted by base, never overlapping; looked up on every exit, changed rarely. */
struct _VmmBus {
	char *name;
	pthread_rwlock_t lock;
	BusRange *ranges;
	unsigned n_ranges;
};

VmmBus *
vmm_bus_new(const char *name)
{
	VmmBus *self = vmm_new0(VmmBus, 1);

	self->name = vmm_strdup(name);
	pthread_rwlock_init(&self->lock, NULL);
	return self;
}

void
vmm_bus_free(VmmBus *self)
{
	if (self == NULL)
		return;
	free(self->ranges);
	pthread_rwlock_destroy(&self->lock);
	free(self->name);
	free(self);
}

static bool
overlaps(const BusRange *r, uint64_t base, uint64_t length)
{
	return base < r->base + r->length && r->base < base + length;
}

bool
vmm_bus_add(VmmBus *self,
	    uint64_t base,
	    uint64_t length,
	    const VmmIoOps *ops,
	    void *opaque,
	    VmmError **error)
{
	BusRange range = {base, length, ops, opaque};
	unsigned i;

	if (length == 0 || base + length < base)
		return vmm_set_error(error,
				     EINVAL,
				     "%s: invalid range 0x%" PRIx64 "+0x%" PRIx64,
				     self->name,
				     base,
				     length);
	pthread_rwlock_wrlock(&self->lock);
	for (i = 0; i < self->n_ranges; i++) {
		BusRange *r = &self->ranges[i];
		if (overlaps(r, base, length)) {
			pthread_rwlock_unlock(&self->lock);
			return vmm_set_error(error,
					     EEXIST,
					     "%s: 0x%" PRIx64 "+0x%" PRIx64
					     " overlaps a registered range",
					     self->name,
					     base,
					     length);
		}
		if (r->base > base)
			break;
	}
	self->ranges = vmm_renew(BusRange, self->ranges, self->n_ranges + 1);
	memmove(&self->ranges[i + 1], &self->ranges[i], (self->n_ranges - i) * sizeof(BusRange));
	self->ranges[i] = range;
	self->n_ranges++;
	pthread_rwlock_unlock(&self->lock);
	return true;
}

bool
vmm_bus_remove(VmmBus *self, uint64_t base, void *opaque)
{
	bool found = false;

	pthread_rwlock_wrlock(&self->lock);
	for (unsigned i = 0; i < self->n_ranges; i++) {
		BusRange *r = &self->ranges[i];
		if (r->base == base && r->opaque == opaque) {
			self->n_ranges--;
			memmove(r, r + 1, (self->n_ranges - i) * sizeof(BusRange));
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&self->lock);
	return found;
}

/* Copies the range out so the handler runs without the bus lock: it may move its own BARs. */
static bool
lookup(VmmBus *self, uint64_t address, uint32_t size, BusRange *out)
{
	bool found = false;
	unsigned lo = 0;
	unsigned hi;

	pthread_rwlock_rdlock(&self->lock);
	hi = self->n_ranges;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		BusRange *r = &self->ranges[mid];
		if (address < r->base) {
			hi = mid;
		} else if (address - r->base >= r->length) {
			lo = mid + 1;
		} else {
			found = size <= r->length - (address - r->base);
			*out = *r;
			break;
		}
	}
	pthread_rwlock_unlock(&self->lock);
	return found;
}

bool
vmm_bus_read(VmmBus *self, uint64_t address, uint8_t *data, uint32_t size)
{
	BusRange r;

	if (!lookup(self, address, size, &r) || r.ops->read == NULL) {
		memset(data, 0xff, size);
		return false;
	}
	r.ops->read(r.opaque, address - r.base, data, size);
	return true;
}

bool
vmm_bus_write(VmmBus *self, uint64_t address, const uint8_t *data, uint32_t size)
{
	BusRange r;

	if (!lookup(self, address, size, &r) || r.ops->write == NULL)
		return false;
	r.ops->write(r.opaque, address - r.base, data, size);
	return true;
}
