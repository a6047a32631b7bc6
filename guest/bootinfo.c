#include <stdbool.h>

#include "bootinfo.h"
#include "lib.h"

struct boot_info boot;

static void
copy_cmdline(uint64_t paddr)
{
	const char *src = (const char *)(uintptr_t)paddr;
	size_t i = 0;

	if (paddr)
		for (; i + 1 < sizeof(boot.cmdline) && src[i]; i++)
			boot.cmdline[i] = src[i];
	boot.cmdline[i] = 0;
}

int
bootinfo_load(uint64_t start_info_paddr)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)start_info_paddr;

	if (!si || si->magic != XEN_HVM_START_MAGIC_VALUE)
		return -1;
	copy_cmdline(si->cmdline_paddr);
	if (si->version < 1 || !si->memmap_paddr)
		return -2;
	const struct hvm_memmap_table_entry *map = (const void *)(uintptr_t)si->memmap_paddr;
	boot.n_e820 = MIN(si->memmap_entries, BOOT_MAX_E820);
	memcpy(boot.e820, map, boot.n_e820 * sizeof(map[0]));
	const struct hvm_modlist_entry *mods = (const void *)(uintptr_t)si->modlist_paddr;
	boot.n_modules = si->modlist_paddr ? MIN(si->nr_modules, BOOT_MAX_MODULES) : 0;
	for (unsigned int i = 0; i < boot.n_modules; i++)
		boot.modules[i] = (struct boot_range){mods[i].paddr, mods[i].size};
	return 0;
}

bool
bootinfo_is_ram(uint64_t addr, uint64_t size)
{
	for (unsigned int i = 0; i < boot.n_e820; i++) {
		const struct hvm_memmap_table_entry *e = &boot.e820[i];
		if (e->type == XEN_HVM_MEMMAP_TYPE_RAM && addr >= e->addr &&
		    addr + size <= e->addr + e->size)
			return true;
	}
	return false;
}

uint64_t
bootinfo_ram_top(void)
{
	uint64_t top = 0;

	for (unsigned int i = 0; i < boot.n_e820; i++)
		if (boot.e820[i].type == XEN_HVM_MEMMAP_TYPE_RAM)
			top = MAX(top, boot.e820[i].addr + boot.e820[i].size);
	return top;
}
