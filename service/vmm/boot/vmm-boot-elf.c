/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <elf.h>
#include <string.h>

#include "vboxmem/pvh-start-info.h"
#include "vmm-boot-private.h"

#define VBOXMEM_NOTE_NAME "vboxmem"
#define VBOXMEM_NOTE_RING3_ENTRY 1
#define XEN_NOTE_NAME "Xen"
#define XEN_ELFNOTE_PHYS32_ENTRY 18
/* Linux's vmlinux has 5; a kernel with hundreds is not one worth parsing as root. */
#define ELF_MAX_PROGRAM_HEADERS 64

typedef struct {
	const uint8_t *data;
	size_t size;
	bool has_ring3_entry;
	uint64_t ring3_entry;
	bool has_pvh_entry;
	uint64_t pvh_entry;
	uint64_t loaded_bytes; /* p_memsz of the segments loaded so far */
} ElfImage;

bool
vmm_boot_is_elf(const VmmBlob *image)
{
	return image->size >= SELFMAG && memcmp(image->data, ELFMAG, SELFMAG) == 0;
}

static bool
range_in_file(const ElfImage *elf, uint64_t offset, uint64_t length)
{
	return offset <= elf->size && length <= elf->size - offset;
}

static bool
check_header(const ElfImage *elf, const Elf64_Ehdr *eh, VmmError **error)
{
	if (elf->size < sizeof(*eh))
		return vmm_set_error(error, EBADMSG, "Bad ELF kernel: truncated header");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return vmm_set_error(
			error, EBADMSG, "Bad ELF kernel: not a 64-bit little-endian image");
	if (eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		return vmm_set_error(error, EBADMSG, "Bad ELF kernel: not an x86-64 executable");
	if (eh->e_phnum > ELF_MAX_PROGRAM_HEADERS)
		return vmm_set_error(error,
				     EFBIG,
				     "Bad ELF kernel: %u program headers, more than %u",
				     (unsigned)eh->e_phnum,
				     ELF_MAX_PROGRAM_HEADERS);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    !range_in_file(elf, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return vmm_set_error(
			error, EBADMSG, "Bad ELF kernel: program headers outside the file");
	return true;
}

static uint64_t
note_value(const uint8_t *desc, uint32_t descsz)
{
	uint64_t value = 0;
	memcpy(&value, desc, VMM_MIN(descsz, sizeof(value)));
	return le64toh(value);
}

static void
record_note(ElfImage *elf, const char *name, uint32_t type, const uint8_t *desc, uint32_t descsz)
{
	if (vmm_strcmp0(name, VBOXMEM_NOTE_NAME) == 0 && type == VBOXMEM_NOTE_RING3_ENTRY &&
	    descsz == 8) {
		elf->has_ring3_entry = true;
		elf->ring3_entry = note_value(desc, descsz);
	} else if (vmm_strcmp0(name, XEN_NOTE_NAME) == 0 && type == XEN_ELFNOTE_PHYS32_ENTRY &&
		   (descsz == 4 || descsz == 8)) {
		elf->has_pvh_entry = true;
		/* The ABI's entry is a 32-bit physical address, whatever the note's size. */
		elf->pvh_entry = note_value(desc, descsz) & UINT32_MAX;
	}
}

static bool
parse_notes(ElfImage *elf, const Elf64_Phdr *ph, VmmError **error)
{
	uint64_t offset = ph->p_offset;
	uint64_t end;

	if (!range_in_file(elf, ph->p_offset, ph->p_filesz))
		return vmm_set_error(
			error, EBADMSG, "Bad ELF kernel: note segment outside the file");
	end = ph->p_offset + ph->p_filesz;
	while (end - offset >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_size;
		uint64_t desc_size;
		vmm_autofree char *name_copy = NULL;

		/* Copied out: the file decides the offset, which need not be aligned. */
		memcpy(&nh, elf->data + offset, sizeof(nh));
		name_size = ((uint64_t)nh.n_namesz + 3) & ~3ull;
		desc_size = ((uint64_t)nh.n_descsz + 3) & ~3ull;
		offset += sizeof(nh);
		if (name_size > end - offset || desc_size > end - offset - name_size)
			return vmm_set_error(
				error, EBADMSG, "Bad ELF kernel: note runs past its segment");
		name_copy = vmm_strndup((const char *)elf->data + offset, nh.n_namesz);
		record_note(elf, name_copy, nh.n_type, elf->data + offset + name_size, nh.n_descsz);
		offset += name_size + desc_size;
	}
	return true;
}

static bool
load_segment(
	VmmMemory *memory, ElfImage *elf, const Elf64_Phdr *ph, uint64_t *end, VmmError **error)
{
	uint8_t *host;

	if (ph->p_filesz > ph->p_memsz || !range_in_file(elf, ph->p_offset, ph->p_filesz))
		return vmm_set_error(
			error, EBADMSG, "Bad ELF kernel: loadable segment outside the file");
	if (ph->p_paddr < VMM_BOOT_KERNEL_MIN)
		return vmm_set_error(
			error, EBADMSG, "Bad ELF kernel: loadable segment below 1 MiB");
	host = vmm_memory_get(memory, ph->p_paddr, ph->p_memsz);
	if (host == NULL)
		return vmm_set_error(error,
				     ENOSPC,
				     "The kernel segment at 0x%" PRIx64 " (%" PRIu64
				     " KiB) does not fit in guest RAM",
				     (uint64_t)ph->p_paddr,
				     (uint64_t)ph->p_memsz / 1024);
	/* Segments may overlap: without a bound, each could clear all of guest RAM again. */
	if (ph->p_memsz > memory->size - VMM_MIN(elf->loaded_bytes, memory->size))
		return vmm_set_error(
			error, EFBIG, "Bad ELF kernel: its segments add up to more than guest RAM");
	elf->loaded_bytes += ph->p_memsz;
	memcpy(host, elf->data + ph->p_offset, ph->p_filesz);
	memset(host + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	*end = VMM_MAX(*end, ph->p_paddr + ph->p_memsz);
	return true;
}

bool
vmm_boot_load_elf(VmmMemory *memory, const VmmBlob *image, VmmBootInfo *info, VmmError **error)
{
	ElfImage elf = {0};
	Elf64_Ehdr eh;
	uint64_t end = 0;

	elf.data = image->data;
	elf.size = image->size;
	if (elf.size >= sizeof(eh))
		memcpy(&eh, elf.data, sizeof(eh));
	if (!check_header(&elf, &eh, error))
		return false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf.data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && !parse_notes(&elf, &ph, error))
			return false;
		if (ph.p_type == PT_LOAD && !load_segment(memory, &elf, &ph, &end, error))
			return false;
	}
	if (end == 0)
		return vmm_set_error(error, EBADMSG, "Bad ELF kernel: no loadable segment");
	info->image_end = end;
	if (elf.has_ring3_entry) {
		info->kind = VMM_ENTRY_RING3;
		info->entry = elf.ring3_entry;
	} else if (elf.has_pvh_entry) {
		info->kind = VMM_ENTRY_PVH;
		info->entry = elf.pvh_entry;
	} else {
		return vmm_set_error(
			error, EBADMSG, "Bad ELF kernel: no PVH or vboxmem entry note");
	}
	if (!vmm_memory_contains(memory, info->entry, 1))
		return vmm_set_error(
			error, EBADMSG, "Bad ELF kernel: entry point outside guest RAM");
	return true;
}

bool
vmm_boot_write_start_info(VmmMemory *memory,
			  uint64_t initrd_address,
			  uint64_t initrd_size,
			  VmmError **error)
{
	VmmE820Entry e820[VMM_E820_MAX];
	unsigned n = vmm_boot_e820(memory, e820);
	struct hvm_memmap_table_entry memmap[VMM_E820_MAX] = {0};
	struct hvm_modlist_entry module = {htole64(initrd_address), htole64(initrd_size), 0, 0};
	struct hvm_start_info start = {
		.magic = htole32(XEN_HVM_START_MAGIC_VALUE),
		.version = htole32(1),
		.nr_modules = htole32(initrd_size > 0 ? 1 : 0),
		.modlist_paddr = htole64(initrd_size > 0 ? VMM_BOOT_MODLIST : 0),
		.cmdline_paddr = htole64(VMM_BOOT_CMDLINE),
		.memmap_paddr = htole64(VMM_BOOT_MEMMAP),
		.memmap_entries = htole32(n),
	};

	for (unsigned i = 0; i < n; i++)
		memmap[i] = (struct hvm_memmap_table_entry){
			htole64(e820[i].address), htole64(e820[i].size), htole32(e820[i].type), 0};
	return vmm_boot_write(
		       memory, VMM_BOOT_MEMMAP, memmap, n * sizeof(memmap[0]), "memmap", error) &&
	       vmm_boot_write(
		       memory, VMM_BOOT_MODLIST, &module, sizeof(module), "modlist", error) &&
	       vmm_boot_write(
		       memory, VMM_BOOT_START_INFO, &start, sizeof(start), "start info", error);
}
