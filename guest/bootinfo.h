/* What the loader hands over in hvm_start_info (Xen PVH layout), copied out at start. */
#ifndef GUEST_BOOTINFO_H
#define GUEST_BOOTINFO_H

#include <stdbool.h>
#include <stdint.h>

#define HVM_START_MAGIC 0x336ec578u
#define E820_RAM 1
#define BOOT_MAX_E820 64
#define BOOT_MAX_MODULES 8
#define BOOT_CMDLINE_MAX 2048

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
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
	uint32_t type;
	uint32_t reserved;
};

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
