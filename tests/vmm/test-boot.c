/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <elf.h>
#include <gio/gio.h>
#include <string.h>

#include "vmm-test-error.h"
#include "vboxmem/pvh-start-info.h"
#include "vmm-boot.h"

/* The VmmBlob of a GBytes, or NULL. */
#define BLOB(bytes)                                                                                \
	((bytes) != NULL ? &(VmmBlob){g_bytes_get_data((bytes), NULL), g_bytes_get_size((bytes))}  \
			 : NULL)

#define MIB (G_GUINT64_CONSTANT(1) << 20)
#define LOAD_ADDRESS 0x100000

/* Builds an ELF image: one PT_LOAD of @code at @load_address, and one PT_NOTE of @notes. */
typedef struct {
	guint64 load_address;
	gsize code_size;
	guint64 memsz;
	GByteArray *notes;
	gsize truncate_to;
	guint64 phoff_override;
	guint16 machine;
} ElfSpec;

static void
add_note(GByteArray *notes, const gchar *name, guint32 type, gconstpointer desc, guint32 descsz)
{
	guint32 namesz = (guint32)strlen(name) + 1;
	guint32 header[3] = {namesz, descsz, type};
	static const guint8 zeros[4] = {0};

	g_byte_array_append(notes, (const guint8 *)header, sizeof(header));
	g_byte_array_append(notes, (const guint8 *)name, namesz);
	g_byte_array_append(notes, zeros, (4 - namesz % 4) % 4);
	g_byte_array_append(notes, desc, descsz);
	g_byte_array_append(notes, zeros, (4 - descsz % 4) % 4);
}

static GBytes *
build_elf(const ElfSpec *spec)
{
	Elf64_Ehdr eh = {0};
	Elf64_Phdr ph[2] = {0};
	gsize code_offset = sizeof(eh) + sizeof(ph);
	gsize notes_offset = code_offset + spec->code_size;
	g_autoptr(GByteArray) image = g_byte_array_new();
	g_autofree guint8 *code = g_malloc(spec->code_size);

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = spec->machine != 0 ? spec->machine : EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = spec->load_address;
	eh.e_phoff = spec->phoff_override != 0 ? spec->phoff_override : sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_offset = code_offset,
			     .p_vaddr = spec->load_address,
			     .p_paddr = spec->load_address,
			     .p_filesz = spec->code_size,
			     .p_memsz = MAX(spec->memsz, spec->code_size)};
	ph[1] = (Elf64_Phdr){.p_type = PT_NOTE,
			     .p_offset = notes_offset,
			     .p_filesz = spec->notes != NULL ? spec->notes->len : 0};
	memset(code, 0xcc, spec->code_size);
	g_byte_array_append(image, (const guint8 *)&eh, sizeof(eh));
	g_byte_array_append(image, (const guint8 *)ph, sizeof(ph));
	g_byte_array_append(image, code, spec->code_size);
	if (spec->notes != NULL)
		g_byte_array_append(image, spec->notes->data, spec->notes->len);
	if (spec->truncate_to > 0)
		g_byte_array_set_size(image, MIN(spec->truncate_to, image->len));
	return g_byte_array_free_to_bytes(g_steal_pointer(&image));
}

static GByteArray *
ring3_note(guint64 entry)
{
	GByteArray *notes = g_byte_array_new();
	guint64 desc = GUINT64_TO_LE(entry);
	add_note(notes, "vboxmem", 1, &desc, sizeof(desc));
	return notes;
}

static VmmMemory *
new_memory(guint64 size)
{
	vmm_autoptr(VmmError) error = NULL;
	VmmMemory *memory = vmm_memory_new(size, &error);
	vmm_assert_no_error(error);
	return memory;
}

static void
test_elf_ring3(void)
{
	vmm_autoptr(VmmMemory) memory = new_memory(64 * MIB);
	g_autoptr(GByteArray) notes = ring3_note(LOAD_ADDRESS + 0x10);
	ElfSpec spec = {
		.load_address = LOAD_ADDRESS, .code_size = 256, .memsz = 8192, .notes = notes};
	g_autoptr(GBytes) image = build_elf(&spec);
	g_autoptr(GBytes) initrd = g_bytes_new_static("INITRD-CONTENT", 14);
	vmm_autoptr(VmmError) error = NULL;
	VmmBootInfo info = {0};
	const struct hvm_start_info *start;
	const struct hvm_modlist_entry *modlist;
	const guint8 *loaded;

	g_assert_true(
		vmm_boot_load(memory, BLOB(image), BLOB(initrd), "console=ttyS0", &info, &error));
	vmm_assert_no_error(error);
	g_assert_cmpint(info.kind, ==, VMM_ENTRY_RING3);
	g_assert_cmphex(info.entry, ==, LOAD_ADDRESS + 0x10);
	g_assert_cmphex(info.image_end, ==, LOAD_ADDRESS + 8192);
	loaded = vmm_memory_get(memory, LOAD_ADDRESS, 8192);
	g_assert_cmpuint(loaded[0], ==, 0xcc);
	g_assert_cmpuint(loaded[255], ==, 0xcc);
	g_assert_cmpuint(loaded[256], ==, 0); /* bss is zeroed */

	start = vmm_memory_get(memory, info.boot_data, sizeof(*start));
	g_assert_cmphex(start->magic, ==, XEN_HVM_START_MAGIC_VALUE);
	g_assert_cmpuint(start->nr_modules, ==, 1); /* one module: the initrd */
	g_assert_cmpstr(vmm_memory_get(memory, VMM_BOOT_CMDLINE, 14), ==, "console=ttyS0");
	modlist = vmm_memory_get(memory, VMM_BOOT_MODLIST, sizeof(*modlist));
	g_assert_cmpuint(modlist->size, ==, 14);
	g_assert_cmpmem(vmm_memory_get(memory, modlist->paddr, 14), 14, "INITRD-CONTENT", 14);
	g_assert_cmpuint(modlist->paddr % 4096, ==, 0);
	g_assert_cmpuint(modlist->paddr + 14, <=, 64 * MIB);
}

static void
test_elf_pvh(void)
{
	vmm_autoptr(VmmMemory) memory = new_memory(16 * MIB);
	g_autoptr(GByteArray) notes = g_byte_array_new();
	guint32 entry = GUINT32_TO_LE(LOAD_ADDRESS + 4);
	g_autoptr(GBytes) image = NULL;
	vmm_autoptr(VmmError) error = NULL;
	ElfSpec spec = {.load_address = LOAD_ADDRESS, .code_size = 64, .notes = notes};
	VmmBootInfo info = {0};

	add_note(notes, "GNU", 3, "abcd", 4);
	add_note(notes, "Xen", 18, &entry, sizeof(entry));
	image = build_elf(&spec);
	g_assert_true(vmm_boot_load(memory, BLOB(image), NULL, NULL, &info, &error));
	vmm_assert_no_error(error);
	g_assert_cmpint(info.kind, ==, VMM_ENTRY_PVH);
	g_assert_cmphex(info.entry, ==, LOAD_ADDRESS + 4);
}

static void
assert_load_fails(guint64 memory_size,
		  const ElfSpec *spec,
		  GBytes *initrd,
		  const gchar *cmdline,
		  const gchar *message_part)
{
	vmm_autoptr(VmmMemory) memory = new_memory(memory_size);
	g_autoptr(GBytes) image = build_elf(spec);
	vmm_autoptr(VmmError) error = NULL;
	VmmBootInfo info = {0};

	g_assert_false(vmm_boot_load(memory, BLOB(image), BLOB(initrd), cmdline, &info, &error));
	g_assert_nonnull(error);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, message_part));
}

static void
test_elf_broken(void)
{
	g_autoptr(GByteArray) notes = ring3_note(LOAD_ADDRESS);
	g_autoptr(GByteArray) bad_note = g_byte_array_new();
	g_autoptr(GByteArray) no_entry = g_byte_array_new();
	guint16 short_desc = 1;
	ElfSpec truncated = {
		.load_address = LOAD_ADDRESS, .code_size = 64, .notes = notes, .truncate_to = 40};
	ElfSpec phdrs_outside = {.load_address = LOAD_ADDRESS,
				 .code_size = 64,
				 .notes = notes,
				 .phoff_override = 1 << 20};
	ElfSpec wrong_machine = {.load_address = LOAD_ADDRESS,
				 .code_size = 64,
				 .notes = notes,
				 .machine = EM_AARCH64};
	ElfSpec low = {.load_address = 0x8000, .code_size = 64, .notes = notes};
	ElfSpec huge = {
		.load_address = LOAD_ADDRESS, .code_size = 64, .memsz = 64 * MIB, .notes = notes};
	ElfSpec cut_segment = {.load_address = LOAD_ADDRESS,
			       .code_size = 4096,
			       .notes = notes,
			       .truncate_to = 1000};
	ElfSpec bad_pvh = {.load_address = LOAD_ADDRESS, .code_size = 64, .notes = bad_note};
	ElfSpec missing_entry = {.load_address = LOAD_ADDRESS, .code_size = 64, .notes = no_entry};

	add_note(bad_note, "Xen", 18, &short_desc, sizeof(short_desc));
	/* A note whose declared size runs past the segment. */
	g_byte_array_append(bad_note,
			    (const guint8 *)"\x04\x00\x00\x00\xff\xff\x00\x00\x12\x00\x00\x00Xen\0",
			    16);
	add_note(no_entry, "GNU", 3, "abcd", 4);

	assert_load_fails(16 * MIB, &truncated, NULL, NULL, "ELF");
	assert_load_fails(16 * MIB, &phdrs_outside, NULL, NULL, "program headers");
	assert_load_fails(16 * MIB, &wrong_machine, NULL, NULL, "x86-64");
	assert_load_fails(16 * MIB, &low, NULL, NULL, "below 1 MiB");
	assert_load_fails(16 * MIB, &huge, NULL, NULL, "does not fit");
	assert_load_fails(16 * MIB, &cut_segment, NULL, NULL, "outside the file");
	assert_load_fails(16 * MIB, &bad_pvh, NULL, NULL, "note runs past");
	assert_load_fails(16 * MIB, &missing_entry, NULL, NULL, "entry note");
}

/* An ELF image of @n_segments loadable segments, all over the same 1 MiB of file. */
static GBytes *
build_overlapping_elf(guint n_segments)
{
	g_autoptr(GByteArray) image = g_byte_array_new();
	Elf64_Ehdr eh = {
		.e_ident =
			{ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT},
		.e_type = ET_EXEC,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = (guint16)n_segments,
	};
	Elf64_Phdr ph = {
		.p_type = PT_LOAD,
		.p_offset = sizeof(Elf64_Ehdr) + n_segments * sizeof(Elf64_Phdr),
		.p_paddr = LOAD_ADDRESS,
		.p_filesz = 64,
		.p_memsz = MIB,
	};
	guint8 code[64] = {0};

	g_byte_array_append(image, (const guint8 *)&eh, sizeof(eh));
	for (guint i = 0; i < n_segments; i++)
		g_byte_array_append(image, (const guint8 *)&ph, sizeof(ph));
	g_byte_array_append(image, code, sizeof(code));
	return g_byte_array_free_to_bytes(g_steal_pointer(&image));
}

/* The loader runs as root before the sandbox: its work is bounded whatever the image says. */
static void
test_elf_bounded(void)
{
	g_autoptr(GBytes) many = build_overlapping_elf(65);
	g_autoptr(GBytes) overlapping = build_overlapping_elf(17);
	vmm_autoptr(VmmMemory) memory = new_memory(16 * MIB);
	vmm_autoptr(VmmError) error = NULL;
	VmmBootInfo info = {0};

	g_assert_false(vmm_boot_load(memory, BLOB(many), NULL, NULL, &info, &error));
	g_assert_nonnull(strstr(error->message, "65 program headers"));
	vmm_clear_error(&error);
	g_assert_false(vmm_boot_load(memory, BLOB(overlapping), NULL, NULL, &info, &error));
	g_assert_nonnull(strstr(error->message, "add up to more than guest RAM"));
}

static void
test_initrd_too_large(void)
{
	g_autoptr(GByteArray) notes = ring3_note(LOAD_ADDRESS);
	ElfSpec spec = {.load_address = LOAD_ADDRESS, .code_size = 64, .notes = notes};
	gsize size = 15 * MIB;
	g_autoptr(GBytes) initrd = g_bytes_new_take(g_malloc0(size), size);

	assert_load_fails(16 * MIB, &spec, initrd, NULL, "initrd");
}

static void
test_cmdline_too_long(void)
{
	g_autoptr(GByteArray) notes = ring3_note(LOAD_ADDRESS);
	ElfSpec spec = {.load_address = LOAD_ADDRESS, .code_size = 64, .notes = notes};
	g_autofree gchar *cmdline = g_strnfill(VMM_BOOT_CMDLINE_MAX, 'x');

	assert_load_fails(16 * MIB, &spec, NULL, cmdline, "command line");
}

static void
test_not_a_kernel(void)
{
	vmm_autoptr(VmmMemory) memory = new_memory(16 * MIB);
	g_autoptr(GBytes) image = g_bytes_new_static("#!/bin/sh\necho hello\n", 21);
	vmm_autoptr(VmmError) error = NULL;
	VmmBootInfo info = {0};

	g_assert_false(vmm_boot_load(memory, BLOB(image), NULL, NULL, &info, &error));
	vmm_assert_error(error, ENOTSUP);
}

static void
put_le(guint8 *image, gsize offset, guint64 value, guint width)
{
	for (guint i = 0; i < width; i++)
		image[offset + i] = (guint8)(value >> (8 * i));
}

static GBytes *
build_bzimage(guint16 version, guint16 xloadflags, gsize kernel_size)
{
	gsize setup = 2 * 512;
	guint8 *image = g_malloc0(setup + kernel_size);

	image[0x1f1] = 1;                    /* setup_sects */
	image[0x201] = 0x6a;                 /* setup header ends at 0x26c */
	put_le(image, 0x202, 0x53726448, 4); /* "HdrS" */
	put_le(image, 0x206, version, 2);
	put_le(image, 0x22c, 0x7fffffff, 4); /* initrd_addr_max */
	put_le(image, 0x236, xloadflags, 2);
	put_le(image, 0x258, 0x1000000, 8); /* pref_address */
	put_le(image, 0x260, 4 * MIB, 4);   /* init_size */
	memset(image + setup, 0x90, kernel_size);
	return g_bytes_new_take(image, setup + kernel_size);
}

static void
test_bzimage(void)
{
	vmm_autoptr(VmmMemory) memory = new_memory(64 * MIB);
	g_autoptr(GBytes) image = build_bzimage(0x020f, 1, 8192);
	g_autoptr(GBytes) initrd = g_bytes_new_static("RAMDISK", 7);
	vmm_autoptr(VmmError) error = NULL;
	VmmBootInfo info = {0};
	const guint8 *params;
	guint32 ramdisk;

	g_assert_true(vmm_boot_load(memory, BLOB(image), BLOB(initrd), "quiet", &info, &error));
	vmm_assert_no_error(error);
	g_assert_cmpint(info.kind, ==, VMM_ENTRY_LINUX64);
	g_assert_cmphex(info.entry, ==, 0x1000200);
	g_assert_cmphex(info.boot_data, ==, VMM_BOOT_ZERO_PAGE);
	g_assert_cmpuint(*(const guint8 *)vmm_memory_get(memory, 0x1000000, 1), ==, 0x90);
	params = vmm_memory_get(memory, VMM_BOOT_ZERO_PAGE, 4096);
	g_assert_cmpuint(params[0x1e8], ==, 3);    /* e820 entries below 3 GiB */
	g_assert_cmpuint(params[0x210], ==, 0xff); /* type_of_loader */
	g_assert_cmphex(*(const guint32 *)(params + 0x228), ==, VMM_BOOT_CMDLINE);
	ramdisk = *(const guint32 *)(params + 0x218);
	g_assert_cmpuint(*(const guint32 *)(params + 0x21c), ==, 7);
	g_assert_cmpmem(vmm_memory_get(memory, ramdisk, 7), 7, "RAMDISK", 7);
	g_assert_cmpuint(ramdisk, >=, 0x1000000 + 4 * MIB);
}

static void
test_bzimage_broken(void)
{
	struct {
		guint16 version;
		guint16 xloadflags;
		guint64 memory;
		const gchar *message;
	} cases[] = {
		{0x0206, 1, 64 * MIB, "older than 2.12"},
		{0x020f, 0, 64 * MIB, "64-bit"},
		{0x020f, 1, 16 * MIB, "too small"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		vmm_autoptr(VmmMemory) memory = new_memory(cases[i].memory);
		g_autoptr(GBytes) image =
			build_bzimage(cases[i].version, cases[i].xloadflags, 4096);
		vmm_autoptr(VmmError) error = NULL;
		VmmBootInfo info = {0};

		g_assert_false(vmm_boot_load(memory, BLOB(image), NULL, NULL, &info, &error));
		g_assert_nonnull(error);
		g_assert_nonnull(strstr(error->message, cases[i].message));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/boot/elf-ring3", test_elf_ring3);
	g_test_add_func("/boot/elf-pvh", test_elf_pvh);
	g_test_add_func("/boot/elf-broken", test_elf_broken);
	g_test_add_func("/boot/elf-bounded", test_elf_bounded);
	g_test_add_func("/boot/initrd-too-large", test_initrd_too_large);
	g_test_add_func("/boot/cmdline-too-long", test_cmdline_too_long);
	g_test_add_func("/boot/not-a-kernel", test_not_a_kernel);
	g_test_add_func("/boot/bzimage", test_bzimage);
	g_test_add_func("/boot/bzimage-broken", test_bzimage_broken);
	return g_test_run();
}
