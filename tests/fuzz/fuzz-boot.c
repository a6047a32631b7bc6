/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "fuzz-boot.h"

static VmmMemory *
get_memory(void)
{
	static VmmMemory *memory;

	if (memory == NULL) {
		memory = vmm_memory_new(FUZZ_BOOT_MEMORY_SIZE, NULL);
		FUZZ_CHECK(memory != NULL);
	}
	return memory;
}

static const VmmBlob *
get_initrd(void)
{
	static uint8_t data[FUZZ_BOOT_INITRD_SIZE];
	static const VmmBlob initrd = {data, sizeof(data)};

	if (data[0] == 0) {
		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)(i * 7 + 1) | 1;
	}
	return &initrd;
}

bool
fuzz_boot_memory_equals(VmmMemory *memory, uint64_t address, const void *data, size_t size)
{
	const void *host = vmm_memory_get(memory, address, size);

	return host != NULL && memcmp(host, data, size) == 0;
}

void
fuzz_boot_check_initrd(VmmMemory *memory,
		       const VmmBlob *initrd,
		       uint64_t address,
		       uint64_t size,
		       uint64_t image_end)
{
	if (initrd == NULL) {
		FUZZ_CHECK(address == 0 && size == 0);
		return;
	}
	FUZZ_CHECK(size == initrd->size);
	FUZZ_CHECK(address % VMM_PAGE_SIZE == 0);
	FUZZ_CHECK(address >= image_end);
	FUZZ_CHECK(fuzz_boot_memory_equals(memory, address, initrd->data, initrd->size));
}

void
fuzz_boot_load(const VmmBlob *kernel, FuzzBootCheck check)
{
	VmmMemory *memory = get_memory();

	for (int with_initrd = 0; with_initrd < 2; with_initrd++) {
		const VmmBlob *initrd = with_initrd ? get_initrd() : NULL;
		VmmError *error = NULL;
		VmmBootInfo info;
		bool loaded;

		memset(&info, 0, sizeof(info));
		loaded = vmm_boot_load(memory, kernel, initrd, FUZZ_BOOT_CMDLINE, &info, &error);
		if (!loaded) {
			FUZZ_CHECK(error != NULL && error->code != 0);
			FUZZ_CHECK(error->message != NULL && error->message[0] != '\0');
			vmm_error_free(error);
			continue;
		}
		FUZZ_CHECK(error == NULL);
		FUZZ_CHECK(fuzz_boot_memory_equals(
			memory, VMM_BOOT_CMDLINE, FUZZ_BOOT_CMDLINE, sizeof(FUZZ_BOOT_CMDLINE)));
		/* The image lies in RAM above 1 MiB, clear of the boot data below it. */
		FUZZ_CHECK(info.image_end >= VMM_BOOT_KERNEL_MIN);
		FUZZ_CHECK(vmm_memory_contains(
			memory, VMM_BOOT_KERNEL_MIN, info.image_end - VMM_BOOT_KERNEL_MIN));
		check(memory, kernel, initrd, &info);
	}
}
