/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-error.h"
#include "vmd-pool.h"
#include "vmd-settings.h"

/*
 * Admission control: each running machine is charged its memory minus what
 * its balloon really gave back, so memory a balloon returns can start other
 * machines at once. Emits "changed" whenever a charge changes.
 */
struct _VmdPool {
	GObject parent_instance;
	guint64 size;
	guint64 committed;
	GHashTable *charges; /* machine name → guint64 bytes */
};

enum { SIGNAL_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(VmdPool, vmd_pool, G_TYPE_OBJECT)

guint64
vmd_pool_get_size(VmdPool *self)
{
	return self->size;
}

guint64
vmd_pool_get_committed(VmdPool *self)
{
	return self->committed;
}

guint64
vmd_pool_get_available(VmdPool *self)
{
	return self->committed < self->size ? self->size - self->committed : 0;
}

/* How far guests that took memory back on their own (deflate-on-oom) pushed past the pool. */
guint64
vmd_pool_get_overdrawn(VmdPool *self)
{
	return self->committed > self->size ? self->committed - self->size : 0;
}

static guint64
charge_of(VmdPool *self, const gchar *machine)
{
	guint64 *charge = g_hash_table_lookup(self->charges, machine);
	return charge != NULL ? *charge : 0;
}

static void
set_charge(VmdPool *self, const gchar *machine, guint64 bytes)
{
	guint64 old_overdrawn = vmd_pool_get_overdrawn(self);

	self->committed = self->committed - charge_of(self, machine) + bytes;
	g_hash_table_insert(self->charges, g_strdup(machine), g_memdup2(&bytes, sizeof(bytes)));
	if (vmd_pool_get_overdrawn(self) > old_overdrawn)
		g_warning("Memory pool overdrawn by %" G_GUINT64_FORMAT
			  " MiB: machine %s took memory back from its balloon",
			  vmd_pool_get_overdrawn(self) / VMD_MIB,
			  machine);
	g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

gboolean
vmd_pool_admit(VmdPool *self, const gchar *machine, guint64 bytes, GError **error)
{
	if (bytes > vmd_pool_get_available(self) + charge_of(self, machine)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INSUFFICIENT_MEMORY,
			    "Machine '%s' needs %" G_GUINT64_FORMAT
			    " MiB but only %" G_GUINT64_FORMAT " MiB of the %" G_GUINT64_FORMAT
			    " MiB memory pool are available",
			    machine,
			    bytes / VMD_MIB,
			    vmd_pool_get_available(self) / VMD_MIB,
			    self->size / VMD_MIB);
		return FALSE;
	}
	set_charge(self, machine, bytes);
	return TRUE;
}

void
vmd_pool_update(VmdPool *self, const gchar *machine, guint64 bytes)
{
	if (g_hash_table_contains(self->charges, machine) && charge_of(self, machine) != bytes)
		set_charge(self, machine, bytes);
}

void
vmd_pool_release(VmdPool *self, const gchar *machine)
{
	if (!g_hash_table_contains(self->charges, machine))
		return;
	self->committed -= charge_of(self, machine);
	g_hash_table_remove(self->charges, machine);
	g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

static void
vmd_pool_finalize(GObject *object)
{
	VmdPool *self = VMD_POOL(object);
	g_hash_table_unref(self->charges);
	G_OBJECT_CLASS(vmd_pool_parent_class)->finalize(object);
}

static void
vmd_pool_class_init(VmdPoolClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = vmd_pool_finalize;
	signals[SIGNAL_CHANGED] = g_signal_new("changed",
					       G_TYPE_FROM_CLASS(klass),
					       G_SIGNAL_RUN_LAST,
					       0,
					       NULL,
					       NULL,
					       NULL,
					       G_TYPE_NONE,
					       0);
}

static void
vmd_pool_init(VmdPool *self)
{
	self->charges = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

VmdPool *
vmd_pool_new(guint64 size)
{
	VmdPool *self = g_object_new(VMD_TYPE_POOL, NULL);
	self->size = size;
	return self;
}
