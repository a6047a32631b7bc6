/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "vmm-bus.h"

typedef struct {
	guint64 base;
	guint64 length;
	const VmmIoOps *ops;
	gpointer opaque;
} BusRange;

/* Ranges sorted by base, never overlapping; looked up on every exit, changed rarely. */
struct _VmmBus {
	gchar *name;
	GRWLock lock;
	GArray *ranges;
};

VmmBus *
vmm_bus_new(const gchar *name)
{
	VmmBus *self = g_new0(VmmBus, 1);

	self->name = g_strdup(name);
	g_rw_lock_init(&self->lock);
	self->ranges = g_array_new(FALSE, FALSE, sizeof(BusRange));
	return self;
}

void
vmm_bus_free(VmmBus *self)
{
	if (self == NULL)
		return;
	g_array_unref(self->ranges);
	g_rw_lock_clear(&self->lock);
	g_free(self->name);
	g_free(self);
}

static gboolean
overlaps(const BusRange *r, guint64 base, guint64 length)
{
	return base < r->base + r->length && r->base < base + length;
}

gboolean
vmm_bus_add(VmmBus *self,
	    guint64 base,
	    guint64 length,
	    const VmmIoOps *ops,
	    gpointer opaque,
	    GError **error)
{
	BusRange range = {base, length, ops, opaque};
	guint i;

	if (length == 0 || base + length < base) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "%s: invalid range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER "x",
			    self->name,
			    base,
			    length);
		return FALSE;
	}
	g_rw_lock_writer_lock(&self->lock);
	for (i = 0; i < self->ranges->len; i++) {
		BusRange *r = &g_array_index(self->ranges, BusRange, i);
		if (overlaps(r, base, length)) {
			g_rw_lock_writer_unlock(&self->lock);
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_EXISTS,
				    "%s: 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
				    "x overlaps a registered range",
				    self->name,
				    base,
				    length);
			return FALSE;
		}
		if (r->base > base)
			break;
	}
	g_array_insert_val(self->ranges, i, range);
	g_rw_lock_writer_unlock(&self->lock);
	return TRUE;
}

gboolean
vmm_bus_remove(VmmBus *self, guint64 base, gpointer opaque)
{
	gboolean found = FALSE;

	g_rw_lock_writer_lock(&self->lock);
	for (guint i = 0; i < self->ranges->len; i++) {
		BusRange *r = &g_array_index(self->ranges, BusRange, i);
		if (r->base == base && r->opaque == opaque) {
			g_array_remove_index(self->ranges, i);
			found = TRUE;
			break;
		}
	}
	g_rw_lock_writer_unlock(&self->lock);
	return found;
}

/* Copies the range out so the handler runs without the bus lock: it may move its own BARs. */
static gboolean
lookup(VmmBus *self, guint64 address, guint32 size, BusRange *out)
{
	gboolean found = FALSE;
	guint lo = 0;
	guint hi;

	g_rw_lock_reader_lock(&self->lock);
	hi = self->ranges->len;
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		BusRange *r = &g_array_index(self->ranges, BusRange, mid);
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
	g_rw_lock_reader_unlock(&self->lock);
	return found;
}

gboolean
vmm_bus_read(VmmBus *self, guint64 address, guint8 *data, guint32 size)
{
	BusRange r;

	if (!lookup(self, address, size, &r) || r.ops->read == NULL) {
		memset(data, 0xff, size);
		return FALSE;
	}
	r.ops->read(r.opaque, address - r.base, data, size);
	return TRUE;
}

gboolean
vmm_bus_write(VmmBus *self, guint64 address, const guint8 *data, guint32 size)
{
	BusRange r;

	if (!lookup(self, address, size, &r) || r.ops->write == NULL)
		return FALSE;
	r.ops->write(r.opaque, address - r.base, data, size);
	return TRUE;
}
