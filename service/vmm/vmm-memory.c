/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/mman.h>

#include "vmm-memory.h"

VmmMemory *
vmm_memory_new(guint64 size, GError **error)
{
	g_autoptr(VmmMemory) self = g_new0(VmmMemory, 1);
	guint64 low = MIN(size, VMM_LOW_RAM_LIMIT);

	if (size == 0 || size % VMM_PAGE_SIZE != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "Guest memory size %" G_GUINT64_FORMAT
			    " is not a whole number of pages",
			    size);
		return NULL;
	}
	/* NORESERVE: a large guest that never touches most of its RAM costs nothing. */
	self->host = mmap(NULL,
			  size,
			  PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			  -1,
			  0);
	if (self->host == MAP_FAILED) {
		int saved_errno = errno;
		self->host = NULL;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved_errno),
			    "Cannot map %" G_GUINT64_FORMAT " MiB of guest memory: %s",
			    size / VMM_MIB,
			    g_strerror(saved_errno));
		return NULL;
	}
	/* Balloon and fusion work on 4 KiB pages; a huge page would be freed only when whole. */
	madvise(self->host, size, MADV_NOHUGEPAGE);
	self->size = size;
	self->regions[0] = (VmmMemoryRegion){0, low, self->host};
	self->n_regions = 1;
	if (size > low) {
		self->regions[1] =
			(VmmMemoryRegion){VMM_HIGH_RAM_START, size - low, self->host + low};
		self->n_regions = 2;
	}
	return g_steal_pointer(&self);
}

void
vmm_memory_free(VmmMemory *self)
{
	if (self == NULL)
		return;
	if (self->host != NULL)
		munmap(self->host, self->size);
	g_free(self);
}

static const VmmMemoryRegion *
find_region(VmmMemory *self, guint64 guest_address, guint64 length)
{
	for (guint i = 0; i < self->n_regions; i++) {
		const VmmMemoryRegion *r = &self->regions[i];
		if (guest_address >= r->guest_address &&
		    guest_address - r->guest_address <= r->size &&
		    length <= r->size - (guest_address - r->guest_address))
			return r;
	}
	return NULL;
}

gboolean
vmm_memory_contains(VmmMemory *self, guint64 guest_address, guint64 length)
{
	return find_region(self, guest_address, length) != NULL;
}

/* The host address of @length bytes at @guest_address, or NULL unless all of them are RAM. */
gpointer
vmm_memory_get(VmmMemory *self, guint64 guest_address, guint64 length)
{
	const VmmMemoryRegion *r = find_region(self, guest_address, length);

	if (r == NULL)
		return NULL;
	return r->host + (guest_address - r->guest_address);
}

gboolean
vmm_memory_discard(VmmMemory *self, guint64 guest_address, guint64 length, GError **error)
{
	guint8 *host;

	if (guest_address % VMM_PAGE_SIZE != 0 || length % VMM_PAGE_SIZE != 0 ||
	    (host = vmm_memory_get(self, guest_address, length)) == NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "Cannot discard 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
			    "x: not whole pages of guest RAM",
			    guest_address,
			    length);
		return FALSE;
	}
	if (madvise(host, length, MADV_DONTNEED) != 0) {
		int saved_errno = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved_errno),
			    "madvise(MADV_DONTNEED) failed: %s",
			    g_strerror(saved_errno));
		return FALSE;
	}
	return TRUE;
}

guint64
vmm_memory_page_count(VmmMemory *self)
{
	return self->size / VMM_PAGE_SIZE;
}

/* Page frame numbers are guest-physical, so they skip the MMIO hole below 4 GiB. */
gboolean
vmm_memory_pfn_to_address(VmmMemory *self, guint64 pfn, guint64 *guest_address)
{
	guint64 address;

	if (pfn > G_MAXUINT64 / VMM_PAGE_SIZE)
		return FALSE;
	address = pfn * VMM_PAGE_SIZE;
	if (!vmm_memory_contains(self, address, VMM_PAGE_SIZE))
		return FALSE;
	*guest_address = address;
	return TRUE;
}
