/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "vmd-store.h"

typedef struct {
	gchar *directory;
	VmdStore *store;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;

	fx->directory = g_dir_make_tmp("vboxmem-store-XXXXXX", &error);
	g_assert_no_error(error);
	fx->store = vmd_store_new(fx->directory, &error);
	g_assert_no_error(error);
}

static void
remove_tree(const gchar *directory)
{
	g_autoptr(GDir) dir = g_dir_open(directory, 0, NULL);
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(directory, name, NULL);
		g_unlink(path);
	}
	g_rmdir(directory);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	g_object_unref(fx->store);
	remove_tree(fx->directory);
	g_free(fx->directory);
}

static VmdSettings *
machine(const gchar *name, guint64 mib)
{
	VmdSettings *settings = vmd_settings_new(name, 42);
	settings->memory_size = mib * VMD_MIB;
	return settings;
}

static GPtrArray *
list_directory(const gchar *directory)
{
	g_autoptr(GDir) dir = g_dir_open(directory, 0, NULL);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	while ((name = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(names, g_strdup(name));
	return names;
}

static void
test_save_load(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(VmdSettings) a = machine("web1", 1024);
	g_autoptr(VmdSettings) b = machine("my vm", 512);
	g_autoptr(GPtrArray) loaded = NULL;
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = g_build_filename(fx->directory, "web1.vm", NULL);
	GStatBuf st;

	g_assert_true(vmd_store_save(fx->store, a, &error));
	g_assert_true(vmd_store_save(fx->store, b, &error));
	a->cpus = 3;
	g_assert_true(vmd_store_save(fx->store, a, &error));
	g_assert_no_error(error);
	g_assert_true(vmd_store_has_file(fx->store, "web1"));
	g_assert_false(vmd_store_has_file(fx->store, "web2"));

	/* Replaced atomically: no temporary file is left next to the settings. */
	names = list_directory(fx->directory);
	g_assert_cmpuint(names->len, ==, 2);
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	loaded = vmd_store_load_all(fx->store);
	g_assert_cmpuint(loaded->len, ==, 2);
	g_assert_cmpstr(((VmdSettings *)loaded->pdata[0])->name, ==, "my vm");
	g_assert_cmpstr(((VmdSettings *)loaded->pdata[1])->name, ==, "web1");
	g_assert_cmpuint(((VmdSettings *)loaded->pdata[1])->cpus, ==, 3);
	g_assert_cmpuint(((VmdSettings *)loaded->pdata[1])->owner, ==, 42);
}

static void
test_delete(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(VmdSettings) a = machine("web1", 1024);
	g_autoptr(GPtrArray) loaded = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(vmd_store_save(fx->store, a, &error));
	g_assert_true(vmd_store_delete(fx->store, "web1", &error));
	g_assert_no_error(error);
	loaded = vmd_store_load_all(fx->store);
	g_assert_cmpuint(loaded->len, ==, 0);
	g_assert_false(vmd_store_delete(fx->store, "web1", &error));
	g_assert_nonnull(error);
}

static void
write_file(const gchar *directory, const gchar *name, const gchar *contents)
{
	g_autofree gchar *path = g_build_filename(directory, name, NULL);
	g_assert_true(g_file_set_contents(path, contents, -1, NULL));
}

static void
assert_file_contents(const gchar *directory, const gchar *name, const gchar *expected)
{
	g_autofree gchar *path = g_build_filename(directory, name, NULL);
	g_autofree gchar *contents = NULL;

	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	g_assert_cmpstr(contents, ==, expected);
}

static void
test_malformed_skipped(Fixture *fx, gconstpointer user_data)
{
	g_autoptr(VmdSettings) good = machine("good", 256);
	g_autoptr(GPtrArray) loaded = NULL;
	const gchar *garbage = "\x01\x02 this is not a key file [[[\n";
	const gchar *renamed = "[Machine]\nName=other\nOwner=0\nMemoryMiB=64\n";
	const gchar *invalid = "[Machine]\nName=bad\nOwner=0\nMemoryMiB=0\n";

	g_assert_true(vmd_store_save(fx->store, good, NULL));
	write_file(fx->directory, "garbage.vm", garbage);
	write_file(fx->directory, "renamed.vm", renamed);
	write_file(fx->directory, "bad.vm", invalid);
	write_file(fx->directory, "notes.txt", "ignored");
	write_file(fx->directory, ".good.vm.ABC123", "half-written temporary file");

	/* Files are read in name order. */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*bad.vm*MemorySize*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*garbage.vm*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*renamed.vm*does not match*");
	loaded = vmd_store_load_all(fx->store);
	g_test_assert_expected_messages();

	g_assert_cmpuint(loaded->len, ==, 1);
	g_assert_cmpstr(((VmdSettings *)loaded->pdata[0])->name, ==, "good");
	assert_file_contents(fx->directory, "garbage.vm", garbage);
	assert_file_contents(fx->directory, "renamed.vm", renamed);
	assert_file_contents(fx->directory, "bad.vm", invalid);
	g_assert_true(vmd_store_has_file(fx->store, "garbage"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add(
		"/store/save-load", Fixture, NULL, fixture_setup, test_save_load, fixture_teardown);
	g_test_add("/store/delete", Fixture, NULL, fixture_setup, test_delete, fixture_teardown);
	g_test_add("/store/malformed-skipped",
		   Fixture,
		   NULL,
		   fixture_setup,
		   test_malformed_skipped,
		   fixture_teardown);
	return g_test_run();
}
