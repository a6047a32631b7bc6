/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <sys/mman.h>

#include "vmm-memory.h"

VmmMemory *
vmm_memory_new(uint64_t size, VmmError **error)
{
	vmm_autoptr(VmmMemory) self = vmm_new0(VmmMemory, 1);
	uint64_t low = VMM_MIN(size, VMM_LOW_RAM_LIMIT);

	if (size == 0 || size % VMM_PAGE_SIZE != 0) {
		vmm_set_error(error,
			      EINVAL,
			      "Guest memory size %" PRIu64 " is not a whole number of pages",
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
		vmm_set_error(error,
			      saved_errno,
			      "Cannot map %" PRIu64 " MiB of guest memory: %s",
			      size / VMM_MIB,
			      strerror(saved_errno));
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
	return vmm_steal_pointer(&self);
}

void
vmm_memory_free(VmmMemory *self)
{
	if (self == NULL)
		return;
	if (self->host != NULL)
		munmap(self->host, self->size);
	free(self);
}

static const VmmMemoryRegion *
find_region(VmmMemory *self, uint64_t guest_address, uint64_t length)
{
	for (unsigned i = 0; i < self->n_regions; i++) {
		const VmmMemoryRegion *r = &self->regions[i];
		if (guest_address >= r->guest_address &&
		    guest_address - r->guest_address <= r->size &&
		    length <= r->size - (guest_address - r->guest_address))
			return r;
	}
	return NULL;
}

bool
vmm_memory_contains(VmmMemory *self, uint64_t guest_address, uint64_t length)
{
	return find_region(self, guest_address, length) != NULL;
}

/* The host address of @length bytes at @guest_address, or NULL unless all of them are RAM. */
void *
vmm_memory_get(VmmMemory *self, uint64_t guest_address, uint64_t length)
{
	const VmmMemoryRegion *r = find_region(self, guest_address, length);

	if (r == NULL)
		return NULL;
	return r->host + (guest_address - r->guest_address);
}

bool
vmm_memory_discard(VmmMemory *self, uint64_t guest_address, uint64_t length, VmmError **error)
{
	uint8_t *host;

	if (guest_address % VMM_PAGE_SIZE != 0 || length % VMM_PAGE_SIZE != 0 ||
	    (host = vmm_memory_get(self, guest_address, length)) == NULL)
		return vmm_set_error(error,
				     EINVAL,
				     "Cannot discard 0x%" PRIx64 "+0x%" PRIx64
				     ": not whole pages of guest RAM",
				     guest_address,
				     length);
	if (madvise(host, length, MADV_DONTNEED) != 0)
		return vmm_error_from_errno(error, "madvise(MADV_DONTNEED)");
	return true;
}

uint64_t
vmm_memory_page_count(VmmMemory *self)
{
	return self->size / VMM_PAGE_SIZE;
}

/* Page frame numbers are guest-physical, so they skip the MMIO hole below 4 GiB. */
bool
vmm_memory_pfn_to_address(VmmMemory *self, uint64_t pfn, uint64_t *guest_address)
{
	uint64_t address;

	if (pfn > UINT64_MAX / VMM_PAGE_SIZE)
		return false;
	address = pfn * VMM_PAGE_SIZE;
	if (!vmm_memory_contains(self, address, VMM_PAGE_SIZE))
		return false;
	*guest_address = address;
	return true;
}
