/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm-boot-private.h"

#define INITRD_ALIGN VMM_PAGE_SIZE

/* The RAM the guest sees, as the e820 map describes it. */
unsigned
vmm_boot_e820(VmmMemory *memory, VmmE820Entry entries[VMM_E820_MAX])
{
	const VmmMemoryRegion *low = &memory->regions[0];
	unsigned n = 0;

	entries[n++] = (VmmE820Entry){0, VMM_BOOT_LOW_RAM_END, E820_RAM};
	entries[n++] = (VmmE820Entry){
		VMM_BOOT_LOW_RAM_END, VMM_BOOT_KERNEL_MIN - VMM_BOOT_LOW_RAM_END, E820_RESERVED};
	entries[n++] =
		(VmmE820Entry){VMM_BOOT_KERNEL_MIN, low->size - VMM_BOOT_KERNEL_MIN, E820_RAM};
	if (memory->n_regions > 1)
		entries[n++] = (VmmE820Entry){
			memory->regions[1].guest_address, memory->regions[1].size, E820_RAM};
	return n;
}

bool
vmm_boot_write(VmmMemory *memory,
	       uint64_t guest_address,
	       const void *data,
	       size_t length,
	       const char *what,
	       VmmError **error)
{
	uint8_t *host = vmm_memory_get(memory, guest_address, length);

	if (host == NULL)
		return vmm_set_error(error,
				     EBADMSG,
				     "%s (%"
				     "zu"
				     " bytes at 0x%" PRIx64 ") does not fit in guest memory",
				     what,
				     length,
				     guest_address);
	memcpy(host, data, length);
	return true;
}

/* Linux and the test guest both look for the initrd high, out of the way of the kernel. */
bool
vmm_boot_place_initrd(VmmMemory *memory,
		      const VmmBlob *initrd,
		      uint64_t image_end,
		      uint64_t ceiling,
		      uint64_t *address,
		      VmmError **error)
{
	size_t size = initrd->size;
	uint64_t top = VMM_MIN(memory->regions[0].size, ceiling);
	uint64_t start;

	if (size > top || (start = (top - size) & ~(uint64_t)(INITRD_ALIGN - 1)) < image_end)
		return vmm_set_error(error,
				     ENOSPC,
				     "The initrd (%"
				     "zu"
				     " KiB) does not fit in guest RAM between "
				     "the kernel's end at 0x%" PRIx64 " and 0x%" PRIx64,
				     size / 1024,
				     image_end,
				     top);
	*address = start;
	return vmm_boot_write(memory, start, initrd->data, size, "The initrd", error);
}

bool
vmm_boot_write_cmdline(VmmMemory *memory, const char *cmdline, VmmError **error)
{
	size_t length = strlen(cmdline) + 1;

	if (length > VMM_BOOT_CMDLINE_MAX)
		return vmm_set_error(error,
				     EINVAL,
				     "The kernel command line is %"
				     "zu"
				     " bytes long; at most %u fit",
				     length - 1,
				     VMM_BOOT_CMDLINE_MAX - 1);
	return vmm_boot_write(memory, VMM_BOOT_CMDLINE, cmdline, length, "The command line", error);
}

bool
vmm_boot_load(VmmMemory *memory,
	      const VmmBlob *kernel,
	      const VmmBlob *initrd,
	      const char *cmdline,
	      VmmBootInfo *info,
	      VmmError **error)
{
	uint64_t initrd_address = 0;
	size_t initrd_size = initrd != NULL ? initrd->size : 0;

	if (memory->regions[0].size < 2 * VMM_BOOT_KERNEL_MIN)
		return vmm_set_error_literal(error, EINVAL, "Guest memory must be at least 2 MiB");
	if (!vmm_boot_write_cmdline(memory, cmdline != NULL ? cmdline : "", error))
		return false;
	if (vmm_boot_is_bzimage(kernel))
		return vmm_boot_load_bzimage(memory, kernel, initrd, info, error);
	if (!vmm_boot_is_elf(kernel))
		return vmm_set_error_literal(
			error, ENOTSUP, "The kernel is neither an ELF image nor a bzImage");
	if (!vmm_boot_load_elf(memory, kernel, info, error))
		return false;
	if (initrd_size > 0 &&
	    !vmm_boot_place_initrd(
		    memory, initrd, info->image_end, UINT64_MAX, &initrd_address, error))
		return false;
	info->boot_data = VMM_BOOT_START_INFO;
	return vmm_boot_write_start_info(memory, initrd_address, initrd_size, error);
}

/* A file mapped read-only while it is loaded. */
typedef struct {
	VmmBlob blob;
	void *map;
} MappedFile;

static bool
read_failed(VmmError **error, const char *what, const char *path, int fd)
{
	int saved_errno = errno;

	if (fd >= 0)
		close(fd);
	return vmm_set_error(
		error, saved_errno, "Cannot read the %s %s: %s", what, path, strerror(saved_errno));
}

static bool
map_file(const VmmBootFile *source, const char *what, MappedFile *file, VmmError **error)
{
	const char *path = source->path != NULL ? source->path : "(descriptor)";
	struct stat st;
	int fd = source->fd >= 0 ? source->fd : open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		return read_failed(error, what, path, fd);
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vmm_set_error(
			error, EINVAL, "Cannot read the %s %s: not a regular file", what, path);
	}
	if (st.st_size > 0) {
		file->map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (file->map == MAP_FAILED) {
			file->map = NULL;
			return read_failed(error, what, path, fd);
		}
	}
	close(fd);
	file->blob.data = file->map;
	file->blob.size = st.st_size;
	return true;
}

static void
unmap_file(MappedFile *file)
{
	if (file->map != NULL)
		munmap(file->map, file->blob.size);
	file->map = NULL;
}

bool
vmm_boot_load_files(VmmMemory *memory,
		    const VmmBootFile *kernel_file,
		    const VmmBootFile *initrd_file,
		    const char *cmdline,
		    VmmBootInfo *info,
		    VmmError **error)
{
	MappedFile kernel = {{NULL, 0}, NULL};
	MappedFile initrd = {{NULL, 0}, NULL};
	bool ok = map_file(kernel_file, "kernel", &kernel, error) &&
		  (initrd_file == NULL || map_file(initrd_file, "initrd", &initrd, error)) &&
		  vmm_boot_load(memory,
				&kernel.blob,
				initrd_file != NULL ? &initrd.blob : NULL,
				cmdline,
				info,
				error);

	unmap_file(&initrd);
	unmap_file(&kernel);
	return ok;
}
