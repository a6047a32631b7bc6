/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <elf.h>
#include <string.h>

#include "vmm-boot-private.h"

#define VBOXMEM_NOTE_NAME "vboxmem"
#define VBOXMEM_NOTE_RING3_ENTRY 1
#define XEN_NOTE_NAME "Xen"
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578

/* The Xen PVH boot ABI's start info, version 1 (with a memory map). */
typedef struct __attribute__((packed)) {
	guint32 magic;
	guint32 version;
	guint32 flags;
	guint32 nr_modules;
	guint64 modlist_paddr;
	guint64 cmdline_paddr;
	guint64 rsdp_paddr;
	guint64 memmap_paddr;
	guint32 memmap_entries;
	guint32 reserved;
} HvmStartInfo;

typedef struct __attribute__((packed)) {
	guint64 paddr;
	guint64 size;
	guint64 cmdline_paddr;
	guint64 reserved;
} HvmModlistEntry;

typedef struct __attribute__((packed)) {
	guint64 addr;
	guint64 size;
	guint32 type;
	guint32 reserved;
} HvmMemmapEntry;

typedef struct {
	const guint8 *data;
	gsize size;
	gboolean has_ring3_entry;
	guint64 ring3_entry;
	gboolean has_pvh_entry;
	guint64 pvh_entry;
} ElfImage;

static gboolean
elf_error(GError **error, const gchar *problem)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Bad ELF kernel: %s", problem);
	return FALSE;
}

gboolean
vmm_boot_is_elf(GBytes *image)
{
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(image, &size);
	return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

static gboolean
range_in_file(const ElfImage *elf, guint64 offset, guint64 length)
{
	return offset <= elf->size && length <= elf->size - offset;
}

static gboolean
check_header(const ElfImage *elf, const Elf64_Ehdr *eh, GError **error)
{
	if (elf->size < sizeof(*eh))
		return elf_error(error, "truncated header");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return elf_error(error, "not a 64-bit little-endian image");
	if (eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		return elf_error(error, "not an x86-64 executable");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    !range_in_file(elf, eh->e_phoff, (guint64)eh->e_phnum * sizeof(Elf64_Phdr)))
		return elf_error(error, "program headers outside the file");
	return TRUE;
}

static guint64
note_value(const guint8 *desc, guint32 descsz)
{
	guint64 value = 0;
	memcpy(&value, desc, MIN(descsz, sizeof(value)));
	return GUINT64_FROM_LE(value);
}

static void
record_note(ElfImage *elf, const gchar *name, guint32 type, const guint8 *desc, guint32 descsz)
{
	if (g_strcmp0(name, VBOXMEM_NOTE_NAME) == 0 && type == VBOXMEM_NOTE_RING3_ENTRY &&
	    descsz == 8) {
		elf->has_ring3_entry = TRUE;
		elf->ring3_entry = note_value(desc, descsz);
	} else if (g_strcmp0(name, XEN_NOTE_NAME) == 0 && type == XEN_ELFNOTE_PHYS32_ENTRY &&
		   (descsz == 4 || descsz == 8)) {
		elf->has_pvh_entry = TRUE;
		/* The ABI's entry is a 32-bit physical address, whatever the note's size. */
		elf->pvh_entry = note_value(desc, descsz) & G_MAXUINT32;
	}
}

static gboolean
parse_notes(ElfImage *elf, const Elf64_Phdr *ph, GError **error)
{
	guint64 offset = ph->p_offset;
	guint64 end;

	if (!range_in_file(elf, ph->p_offset, ph->p_filesz))
		return elf_error(error, "note segment outside the file");
	end = ph->p_offset + ph->p_filesz;
	while (end - offset >= sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(elf->data + offset);
		guint64 name_size = ((guint64)nh->n_namesz + 3) & ~3ull;
		guint64 desc_size = ((guint64)nh->n_descsz + 3) & ~3ull;
		const gchar *name = (const gchar *)(nh + 1);
		g_autofree gchar *name_copy = NULL;

		offset += sizeof(*nh);
		if (name_size > end - offset || desc_size > end - offset - name_size)
			return elf_error(error, "note runs past its segment");
		name_copy = g_strndup(name, nh->n_namesz);
		record_note(
			elf, name_copy, nh->n_type, elf->data + offset + name_size, nh->n_descsz);
		offset += name_size + desc_size;
	}
	return TRUE;
}

static gboolean
load_segment(VmmMemory *memory, ElfImage *elf, const Elf64_Phdr *ph, guint64 *end, GError **error)
{
	guint8 *host;

	if (ph->p_filesz > ph->p_memsz || !range_in_file(elf, ph->p_offset, ph->p_filesz))
		return elf_error(error, "loadable segment outside the file");
	if (ph->p_paddr < VMM_BOOT_KERNEL_MIN)
		return elf_error(error, "loadable segment below 1 MiB");
	host = vmm_memory_get(memory, ph->p_paddr, ph->p_memsz);
	if (host == NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NO_SPACE,
			    "The kernel segment at 0x%" G_GINT64_MODIFIER "x (%" G_GUINT64_FORMAT
			    " KiB) does not fit in guest RAM",
			    (guint64)ph->p_paddr,
			    (guint64)ph->p_memsz / 1024);
		return FALSE;
	}
	memcpy(host, elf->data + ph->p_offset, ph->p_filesz);
	memset(host + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	*end = MAX(*end, ph->p_paddr + ph->p_memsz);
	return TRUE;
}

gboolean
vmm_boot_load_elf(VmmMemory *memory, GBytes *image, VmmBootInfo *info, GError **error)
{
	ElfImage elf = {0};
	Elf64_Ehdr eh;
	guint64 end = 0;

	elf.data = g_bytes_get_data(image, &elf.size);
	if (elf.size >= sizeof(eh))
		memcpy(&eh, elf.data, sizeof(eh));
	if (!check_header(&elf, &eh, error))
		return FALSE;
	for (guint i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf.data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && !parse_notes(&elf, &ph, error))
			return FALSE;
		if (ph.p_type == PT_LOAD && !load_segment(memory, &elf, &ph, &end, error))
			return FALSE;
	}
	if (end == 0)
		return elf_error(error, "no loadable segment");
	info->image_end = end;
	if (elf.has_ring3_entry) {
		info->kind = VMM_ENTRY_RING3;
		info->entry = elf.ring3_entry;
	} else if (elf.has_pvh_entry) {
		info->kind = VMM_ENTRY_PVH;
		info->entry = elf.pvh_entry;
	} else {
		return elf_error(error, "no PVH or vboxmem entry note");
	}
	if (!vmm_memory_contains(memory, info->entry, 1))
		return elf_error(error, "entry point outside guest RAM");
	return TRUE;
}

gboolean
vmm_boot_write_start_info(VmmMemory *memory,
			  guint64 initrd_address,
			  guint64 initrd_size,
			  GError **error)
{
	VmmE820Entry e820[VMM_E820_MAX];
	guint n = vmm_boot_e820(memory, e820);
	HvmMemmapEntry memmap[VMM_E820_MAX] = {0};
	HvmModlistEntry module = {GUINT64_TO_LE(initrd_address), GUINT64_TO_LE(initrd_size), 0, 0};
	HvmStartInfo start = {
		.magic = GUINT32_TO_LE(HVM_START_MAGIC),
		.version = GUINT32_TO_LE(1),
		.nr_modules = GUINT32_TO_LE(initrd_size > 0 ? 1 : 0),
		.modlist_paddr = GUINT64_TO_LE(initrd_size > 0 ? VMM_BOOT_MODLIST : 0),
		.cmdline_paddr = GUINT64_TO_LE(VMM_BOOT_CMDLINE),
		.memmap_paddr = GUINT64_TO_LE(VMM_BOOT_MEMMAP),
		.memmap_entries = GUINT32_TO_LE(n),
	};

	for (guint i = 0; i < n; i++)
		memmap[i] = (HvmMemmapEntry){GUINT64_TO_LE(e820[i].address),
					     GUINT64_TO_LE(e820[i].size),
					     GUINT32_TO_LE(e820[i].type),
					     0};
	return vmm_boot_write(
		       memory, VMM_BOOT_MEMMAP, memmap, n * sizeof(memmap[0]), "memmap", error) &&
	       vmm_boot_write(
		       memory, VMM_BOOT_MODLIST, &module, sizeof(module), "modlist", error) &&
	       vmm_boot_write(
		       memory, VMM_BOOT_START_INFO, &start, sizeof(start), "start info", error);
}
