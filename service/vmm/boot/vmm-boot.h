/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-memory.h"

/* Where the VMM keeps its boot data in low guest memory (docs/guest-interface.md). */
#define VMM_BOOT_GDT 0x500
#define VMM_BOOT_TSS 0x1000
#define VMM_BOOT_TSS_END 0x3100
#define VMM_BOOT_START_INFO 0x6000
#define VMM_BOOT_MEMMAP 0x6100
#define VMM_BOOT_MODLIST 0x6800
#define VMM_BOOT_ZERO_PAGE 0x7000
#define VMM_BOOT_PAGE_TABLES 0x10000
#define VMM_BOOT_PAGE_TABLES_END 0x52000
#define VMM_BOOT_CMDLINE 0x80000
#define VMM_BOOT_CMDLINE_MAX 2048
#define VMM_BOOT_LOW_RAM_END 0x9fc00
#define VMM_BOOT_KERNEL_MIN 0x100000

/* Bytes of a kernel or initrd image, owned by the caller. */
typedef struct {
	const uint8_t *data;
	size_t size;
} VmmBlob;

typedef enum {
	VMM_ENTRY_RING3,   /* 64-bit, CPL 3, all memory mapped: the test guest's fast path */
	VMM_ENTRY_PVH,     /* 32-bit protected mode, paging off (Xen PVH boot ABI) */
	VMM_ENTRY_LINUX64, /* 64-bit boot protocol of a bzImage */
} VmmEntryKind;

typedef struct {
	VmmEntryKind kind;
	uint64_t entry;
	/* hvm_start_info (RBX/EBX) or boot_params (RSI), by kind. */
	uint64_t boot_data;
	uint64_t image_end;
} VmmBootInfo;

bool vmm_boot_load(VmmMemory *memory,
		   const VmmBlob *kernel,
		   const VmmBlob *initrd,
		   const char *cmdline,
		   VmmBootInfo *info,
		   VmmError **error);
/*
 * A file to boot from: @fd when it is not -1 (opened by the controller with
 * the machine owner's rights, taken and closed here), else @path; @path
 * names it in messages either way.
 */
typedef struct {
	const char *path;
	int fd;
} VmmBootFile;

/* @initrd may be NULL. */
bool vmm_boot_load_files(VmmMemory *memory,
			 const VmmBootFile *kernel,
			 const VmmBootFile *initrd,
			 const char *cmdline,
			 VmmBootInfo *info,
			 VmmError **error);
