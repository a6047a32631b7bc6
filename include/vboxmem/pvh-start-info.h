/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * The start info of the Xen PVH boot ABI, version 1 (with a memory map), as
 * Xen's public arch-x86/hvm/start_info.h lays it out: what vboxmem-vm writes
 * (service/vmm/boot/vmm-boot-elf.c) and the ring-3 test guest reads
 * (guest/bootinfo.c). Little-endian, naturally aligned, no padding; the
 * assertions below hold the offsets to the ABI's. Freestanding: fixed-width
 * types only, so that the guest, built without a C library, includes it too.
 * docs/guest-interface.md says where in guest memory the VMM puts it.
 */
#ifndef VBOXMEM_PVH_START_INFO_H
#define VBOXMEM_PVH_START_INFO_H

#include <stddef.h>
#include <stdint.h>

/* "xEn3" with the 0x80 bit of the "E" set. */
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578u

/* Memory map entry types: the ACPI address range types, as in an e820 map. */
#define XEN_HVM_MEMMAP_TYPE_RAM 1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2

/* Handed to the guest in EBX (RBX for vboxmem's ring-3 entry). */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr; /* nr_modules struct hvm_modlist_entry */
	uint64_t cmdline_paddr; /* a NUL-terminated string */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1: memmap_entries struct hvm_memmap_table_entry */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* XEN_HVM_MEMMAP_TYPE_* */
	uint32_t reserved;
};

_Static_assert(offsetof(struct hvm_start_info, magic) == 0, "hvm_start_info.magic");
_Static_assert(offsetof(struct hvm_start_info, version) == 4, "hvm_start_info.version");
_Static_assert(offsetof(struct hvm_start_info, flags) == 8, "hvm_start_info.flags");
_Static_assert(offsetof(struct hvm_start_info, nr_modules) == 12, "hvm_start_info.nr_modules");
_Static_assert(offsetof(struct hvm_start_info, modlist_paddr) == 16,
	       "hvm_start_info.modlist_paddr");
_Static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == 24,
	       "hvm_start_info.cmdline_paddr");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 32, "hvm_start_info.rsdp_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "hvm_start_info.memmap_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48,
	       "hvm_start_info.memmap_entries");
_Static_assert(offsetof(struct hvm_start_info, reserved) == 52, "hvm_start_info.reserved");
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info size");

_Static_assert(offsetof(struct hvm_modlist_entry, paddr) == 0, "hvm_modlist_entry.paddr");
_Static_assert(offsetof(struct hvm_modlist_entry, size) == 8, "hvm_modlist_entry.size");
_Static_assert(offsetof(struct hvm_modlist_entry, cmdline_paddr) == 16,
	       "hvm_modlist_entry.cmdline_paddr");
_Static_assert(offsetof(struct hvm_modlist_entry, reserved) == 24, "hvm_modlist_entry.reserved");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry size");

_Static_assert(offsetof(struct hvm_memmap_table_entry, addr) == 0, "hvm_memmap_table_entry.addr");
_Static_assert(offsetof(struct hvm_memmap_table_entry, size) == 8, "hvm_memmap_table_entry.size");
_Static_assert(offsetof(struct hvm_memmap_table_entry, type) == 16, "hvm_memmap_table_entry.type");
_Static_assert(offsetof(struct hvm_memmap_table_entry, reserved) == 20,
	       "hvm_memmap_table_entry.reserved");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry size");

#endif
