/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>

#include "vboxmem-error.h"
#include "vmd-settings.h"

#define GIB (G_GUINT64_CONSTANT(1) << 30)

static void
test_name_valid(void)
{
	const gchar *names[] = {"web1", "my vm", "caf\xc3\xa9-\xe5\x90\x8d", "a..b", "x"};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_true(vmd_settings_check_name(names[i], &error));
		g_assert_no_error(error);
	}
}

static void
test_name_invalid(void)
{
	g_autofree gchar *too_long = g_strnfill(VMD_NAME_MAX_BYTES + 1, 'a');
	g_autofree gchar *longest = g_strnfill(VMD_NAME_MAX_BYTES, 'a');
	const gchar *names[] = {"",
				"a/b",
				"/",
				".",
				"..",
				".hidden",
				"tab\there",
				"new\nline",
				"bad\xff utf8",
				"esc\x1b",
				"host",
				too_long};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(vmd_settings_check_name(names[i], &error));
		g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_INVALID_ARGUMENT);
		g_assert_true(g_str_has_prefix(error->message, "Name: "));
	}
	g_assert_true(vmd_settings_check_name(longest, NULL));
}

static VmdSettings *
new_settings(void)
{
	g_autoptr(VmdSettings) settings = vmd_settings_new("web1", 1000);
	settings->memory_size = GIB;
	return g_steal_pointer(&settings);
}

/* Parses @text as an a{sv} and applies it to a fresh 1 GiB machine. */
static gboolean
update_with(const gchar *text, VmdSettings **out, GError **error)
{
	g_autoptr(VmdSettings) settings = new_settings();
	g_autoptr(GVariant) changes =
		g_variant_parse(G_VARIANT_TYPE("a{sv}"), text, NULL, NULL, NULL);

	g_assert_nonnull(changes);
	if (!vmd_settings_update(settings, changes, error))
		return FALSE;
	if (out != NULL)
		*out = g_steal_pointer(&settings);
	return TRUE;
}

static void
test_update_valid(void)
{
	g_autoptr(VmdSettings) settings = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = g_strdup_printf("{'MemorySize': <uint64 %" G_GUINT64_FORMAT ">, "
						 "'CPUs': <uint32 4>, 'Kernel': <'/bin/sh'>, "
						 "'CommandLine': <'console=ttyS0 quiet'>, "
						 "'BalloonDefaultSize': <uint64 %" G_GUINT64_FORMAT
						 ">, 'PageFusion': <true>, 'DeflateOnOom': <true>, "
						 "'FreePageReporting': <true>}",
						 2 * GIB,
						 2 * GIB);

	g_assert_true(update_with(text, &settings, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(settings->memory_size, ==, 2 * GIB);
	g_assert_cmpuint(settings->cpus, ==, 4);
	g_assert_cmpstr(settings->kernel, ==, "/bin/sh");
	g_assert_cmpstr(settings->command_line, ==, "console=ttyS0 quiet");
	g_assert_cmpuint(settings->balloon_default_size, ==, 2 * GIB);
	g_assert_true(settings->page_fusion);
	g_assert_true(settings->deflate_on_oom);
	g_assert_true(settings->free_page_reporting);
	g_assert_cmpuint(settings->owner, ==, 1000);
}

static void
test_update_invalid(void)
{
	g_autofree gchar *long_cmdline = g_strnfill(VMD_COMMAND_LINE_MAX_BYTES + 1, 'x');
	g_autofree gchar *long_cmdline_case =
		g_strdup_printf("{'CommandLine': <'%s'>}", long_cmdline);
	struct {
		const gchar *changes;
		const gchar *key;
	} cases[] = {
		/* Whether a file exists is checked as the caller, after polkit (vmd-open-as.c). */
		{"{'Colour': <'blue'>}", "Colour"},
		{"{'MemorySize': <'1024'>}", "MemorySize"},
		{"{'MemorySize': <uint32 1024>}", "MemorySize"},
		{"{'MemorySize': <uint64 0>}", "MemorySize"},
		{"{'MemorySize': <uint64 1048577>}", "MemorySize"},
		{"{'MemorySize': <uint64 8589934592>}", "MemorySize"},
		{"{'BalloonDefaultSize': <uint64 2147483648>}", "BalloonDefaultSize"},
		{"{'BalloonDefaultSize': <uint64 4096>}", "BalloonDefaultSize"},
		{"{'CPUs': <uint32 0>}", "CPUs"},
		{"{'CPUs': <uint32 65>}", "CPUs"},
		{"{'Kernel': <'vmlinuz'>}", "Kernel"},
		{"{'Initrd': <'relative/initrd'>}", "Initrd"},
		{"{'CommandLine': <'a\\nb'>}", "CommandLine"},
		{"{'PageFusion': <'on'>}", "PageFusion"},
		{long_cmdline_case, "CommandLine"},
	};

	vmd_settings_set_host_memory(4 * GIB);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *prefix = g_strconcat(cases[i].key, ": ", NULL);

		g_test_message("case %s", cases[i].changes);
		g_assert_false(update_with(cases[i].changes, NULL, &error));
		g_assert_error(error, VBOXMEM_ERROR, VBOXMEM_ERROR_INVALID_ARGUMENT);
		g_assert_true(g_str_has_prefix(error->message, prefix));
	}
	vmd_settings_set_host_memory(G_MAXUINT64);
}

static void
test_keyfile_roundtrip(void)
{
	g_autoptr(VmdSettings) settings = new_settings();
	g_autoptr(VmdSettings) loaded = NULL;
	g_autoptr(GKeyFile) keyfile = NULL;
	g_autoptr(GError) error = NULL;

	settings->cpus = 2;
	g_free(settings->command_line);
	settings->command_line = g_strdup("console=ttyS0 init=/bin/sh # not a comment");
	settings->balloon_default_size = 256 * VMD_MIB;
	settings->page_fusion = TRUE;
	settings->free_page_reporting = TRUE;
	keyfile = vmd_settings_to_keyfile(settings);
	loaded = vmd_settings_new_from_keyfile(keyfile, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(loaded->name, ==, settings->name);
	g_assert_cmpuint(loaded->owner, ==, settings->owner);
	g_assert_cmpuint(loaded->memory_size, ==, settings->memory_size);
	g_assert_cmpuint(loaded->cpus, ==, 2);
	g_assert_cmpstr(loaded->command_line, ==, settings->command_line);
	g_assert_cmpuint(loaded->balloon_default_size, ==, 256 * VMD_MIB);
	g_assert_true(loaded->page_fusion);
	g_assert_false(loaded->deflate_on_oom);
	g_assert_true(loaded->free_page_reporting);
}

static void
test_keyfile_malformed(void)
{
	const gchar *files[] = {
		"[Machine]\nOwner=0\nMemoryMiB=1024\n",
		"[Machine]\nName=a\nMemoryMiB=1024\n",
		"[Machine]\nName=a\nOwner=0\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=abc\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=0\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=-5\n",
		"[Machine]\nName=a\nOwner=-1\nMemoryMiB=1024\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=1024\nCPUs=0\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=1024\nColour=blue\n",
		"[Machine]\nName=.a\nOwner=0\nMemoryMiB=1024\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=1024\nKernel=relative\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=1024\n[Balloon]\nDefaultSizeMiB=2048\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=1024\n[Balloon]\nDeflateOnOom=maybe\n",
		"[Machine]\nName=a\nOwner=0\nMemoryMiB=99999999999999999999\n",
		"[Extra]\nKey=1\n[Machine]\nName=a\nOwner=0\nMemoryMiB=1024\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autoptr(GKeyFile) keyfile = g_key_file_new();
		g_autoptr(GError) error = NULL;
		g_autoptr(VmdSettings) settings = NULL;

		g_test_message("file %u: %s", i, files[i]);
		g_assert_true(g_key_file_load_from_data(keyfile, files[i], -1, 0, NULL));
		settings = vmd_settings_new_from_keyfile(keyfile, &error);
		g_assert_null(settings);
		g_assert_nonnull(error);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/settings/name-valid", test_name_valid);
	g_test_add_func("/settings/name-invalid", test_name_invalid);
	g_test_add_func("/settings/update-valid", test_update_valid);
	g_test_add_func("/settings/update-invalid", test_update_invalid);
	g_test_add_func("/settings/keyfile-roundtrip", test_keyfile_roundtrip);
	g_test_add_func("/settings/keyfile-malformed", test_keyfile_malformed);
	return g_test_run();
}
