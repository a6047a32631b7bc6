/*
 * What the loader hands over in hvm_start_info (Xen PVH layout,
 * include/vboxmem/pvh-start-info.h), copied out at start.
 */
#ifndef GUEST_BOOTINFO_H
#define GUEST_BOOTINFO_H

#include <stdbool.h>
#include <stdint.h>

#include "vboxmem/pvh-start-info.h"

#define BOOT_MAX_E820 64
#define BOOT_MAX_MODULES 8
#define BOOT_CMDLINE_MAX 2048

struct boot_range {
	uint64_t addr;
	uint64_t size;
};

struct boot_info {
	struct hvm_memmap_table_entry e820[BOOT_MAX_E820];
	unsigned int n_e820;
	struct boot_range modules[BOOT_MAX_MODULES];
	unsigned int n_modules;
	char cmdline[BOOT_CMDLINE_MAX];
};

extern struct boot_info boot;

/* Returns 0, or a negative number when the start info is unusable. */
int bootinfo_load(uint64_t start_info_paddr);
bool bootinfo_is_ram(uint64_t addr, uint64_t size);
uint64_t bootinfo_ram_top(void);

#endif
