/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "vboxmem-error.h"
#include "vmd-store.h"

#define MACHINE_FILE_SUFFIX ".vm"

/* The machine registry on disk: one key file per machine, replaced atomically. */
struct _VmdStore {
	GObject parent_instance;
	gchar *directory;
};

G_DEFINE_TYPE(VmdStore, vmd_store, G_TYPE_OBJECT)

/* The file in the state directory that belongs to machine @name; @suffix tells which. */
gchar *
vmd_store_path(VmdStore *self, const gchar *name, const gchar *suffix)
{
	g_autofree gchar *escaped = g_dbus_escape_object_path(name);
	g_autofree gchar *basename = g_strconcat(escaped, suffix, NULL);
	return g_build_filename(self->directory, basename, NULL);
}

/* A log must not outlive its machine: the next machine of that name may belong to someone else. */
void
vmd_store_remove_console_log(VmdStore *self, const gchar *name)
{
	g_autofree gchar *path = vmd_store_path(self, name, VMD_STORE_CONSOLE_LOG_SUFFIX);

	if (g_unlink(path) != 0 && errno != ENOENT)
		g_warning("Cannot remove %s: %s", path, g_strerror(errno));
}

/* Makes a rename or unlink in the directory survive a power cut. */
static gboolean
sync_directory(VmdStore *self, GError **error)
{
	int fd = open(self->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int saved_errno;

	if (fd < 0 || fsync(fd) < 0) {
		saved_errno = errno;
		if (fd >= 0)
			close(fd);
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_FAILED,
			    "Could not sync %s: %s",
			    self->directory,
			    g_strerror(saved_errno));
		return FALSE;
	}
	close(fd);
	return TRUE;
}

gboolean
vmd_store_has_file(VmdStore *self, const gchar *name)
{
	g_autofree gchar *path = vmd_store_path(self, name, MACHINE_FILE_SUFFIX);
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

gboolean
vmd_store_save(VmdStore *self, const VmdSettings *settings, GError **error)
{
	g_autoptr(GKeyFile) keyfile = vmd_settings_to_keyfile(settings);
	g_autofree gchar *path = vmd_store_path(self, settings->name, MACHINE_FILE_SUFFIX);
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize length = 0;

	data = g_key_file_to_data(keyfile, &length, NULL);
	if (!g_file_set_contents_full(path,
				      data,
				      (gssize)length,
				      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
				      0600,
				      &error_local)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_FAILED,
			    "Could not save machine settings: %s",
			    error_local->message);
		return FALSE;
	}
	return sync_directory(self, error);
}

gboolean
vmd_store_delete(VmdStore *self, const gchar *name, GError **error)
{
	g_autofree gchar *path = vmd_store_path(self, name, MACHINE_FILE_SUFFIX);

	if (g_unlink(path) != 0) {
		int saved_errno = errno;
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_FAILED,
			    "Could not delete %s: %s",
			    path,
			    g_strerror(saved_errno));
		return FALSE;
	}
	return sync_directory(self, error);
}

static VmdSettings *
load_file(const gchar *path, GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autoptr(VmdSettings) settings = NULL;
	g_autofree gchar *escaped = NULL;
	g_autofree gchar *basename = g_path_get_basename(path);

	if (!g_key_file_load_from_file(keyfile, path, G_KEY_FILE_NONE, error))
		return NULL;
	settings = vmd_settings_new_from_keyfile(keyfile, error);
	if (settings == NULL)
		return NULL;
	escaped = g_dbus_escape_object_path(settings->name);
	if (strlen(basename) != strlen(escaped) + strlen(MACHINE_FILE_SUFFIX) ||
	    !g_str_has_prefix(basename, escaped)) {
		g_set_error(error,
			    G_FILE_ERROR,
			    G_FILE_ERROR_INVAL,
			    "the file name does not match Name=%s (expected %s%s)",
			    settings->name,
			    escaped,
			    MACHINE_FILE_SUFFIX);
		return NULL;
	}
	return g_steal_pointer(&settings);
}

static gint
compare_paths(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

static GPtrArray *
list_machine_files(VmdStore *self)
{
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *basename;

	dir = g_dir_open(self->directory, 0, &error);
	if (dir == NULL) {
		g_warning("Cannot read the state directory: %s", error->message);
		return g_steal_pointer(&paths);
	}
	while ((basename = g_dir_read_name(dir)) != NULL) {
		if (basename[0] == '.' || !g_str_has_suffix(basename, MACHINE_FILE_SUFFIX))
			continue;
		g_ptr_array_add(paths, g_build_filename(self->directory, basename, NULL));
	}
	g_ptr_array_sort(paths, compare_paths);
	return g_steal_pointer(&paths);
}

/* Returns every machine that loads, by file name; files that do not are logged and left untouched.
 */
GPtrArray *
vmd_store_load_all(VmdStore *self)
{
	g_autoptr(GPtrArray) machines =
		g_ptr_array_new_with_free_func((GDestroyNotify)vmd_settings_free);
	g_autoptr(GPtrArray) paths = list_machine_files(self);

	for (guint i = 0; i < paths->len; i++) {
		const gchar *path = g_ptr_array_index(paths, i);
		g_autoptr(GError) error = NULL;
		VmdSettings *settings = load_file(path, &error);

		if (settings == NULL) {
			g_warning("Skipping machine file %s: %s", path, error->message);
			continue;
		}
		g_ptr_array_add(machines, settings);
	}
	return g_steal_pointer(&machines);
}

static void
vmd_store_finalize(GObject *object)
{
	VmdStore *self = VMD_STORE(object);
	g_free(self->directory);
	G_OBJECT_CLASS(vmd_store_parent_class)->finalize(object);
}

static void
vmd_store_class_init(VmdStoreClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = vmd_store_finalize;
}

static void
vmd_store_init(VmdStore *self)
{
}

VmdStore *
vmd_store_new(const gchar *directory, GError **error)
{
	g_autoptr(VmdStore) self = g_object_new(VMD_TYPE_STORE, NULL);

	if (g_mkdir_with_parents(directory, 0700) != 0) {
		int saved_errno = errno;
		g_set_error(error,
			    G_FILE_ERROR,
			    g_file_error_from_errno(saved_errno),
			    "Cannot create the state directory %s: %s",
			    directory,
			    g_strerror(saved_errno));
		return NULL;
	}
	self->directory = g_strdup(directory);
	return g_steal_pointer(&self);
}
