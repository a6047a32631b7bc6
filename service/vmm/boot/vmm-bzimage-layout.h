/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/* The x86 Linux boot protocol's layout, for the bzImage loader and its fuzz target. */

/* Offsets in the image and in boot_params (Documentation/arch/x86/boot.rst, zero-page.rst). */
#define SETUP_SECTS 0x1f1
#define SETUP_HEADER_START 0x1f1
#define SETUP_HEADER_LENGTH_BYTE 0x201
#define HEADER_MAGIC_OFFSET 0x202
#define VERSION 0x206
#define TYPE_OF_LOADER 0x210
#define LOADFLAGS 0x211
#define RAMDISK_IMAGE 0x218
#define RAMDISK_SIZE 0x21c
#define CMD_LINE_PTR 0x228
#define INITRD_ADDR_MAX 0x22c
#define XLOADFLAGS 0x236
#define PREF_ADDRESS 0x258
#define INIT_SIZE 0x260
#define E820_ENTRIES 0x1e8
#define E820_TABLE 0x2d0
#define E820_ENTRY_SIZE 20
#define BOOT_PARAMS_SIZE 4096

#define HEADER_MAGIC 0x53726448 /* "HdrS" */
#define MIN_VERSION 0x020c      /* xloadflags, 64-bit entry */
#define XLF_KERNEL_64 (1u << 0)
#define LOADED_HIGH (1u << 0)
#define LOADER_UNDEFINED 0xff
#define ENTRY_64_OFFSET 0x200
