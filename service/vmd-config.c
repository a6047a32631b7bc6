/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmd-config.h"

#define DEFAULT_STATS_INTERVAL_MS 1000
#define DEFAULT_METRICS_PERIOD_MS 1000
#define DEFAULT_METRICS_SAMPLES 60

typedef enum { KEY_MIB, KEY_COUNT, KEY_BOOLEAN, KEY_PATH, KEY_NAME } KeyKind;

typedef struct {
	const gchar *group;
	const gchar *key;
	KeyKind kind;
	gsize offset;
	guint64 min;
	guint64 max;
} ConfigKey;

#define CONFIG_KEY(group, key, kind, member, min, max)                                             \
	{                                                                                          \
		group, key, kind, G_STRUCT_OFFSET(VmdConfig, member), min, max                     \
	}

static const ConfigKey keys[] = {
	CONFIG_KEY("Pool", "SizeMiB", KEY_MIB, pool_size, 1, G_MAXUINT64 >> 20),
	CONFIG_KEY("Worker", "Path", KEY_PATH, worker.worker_path, 0, 0),
	CONFIG_KEY("Worker", "GuestImage", KEY_PATH, worker.guest_image, 0, 0),
	CONFIG_KEY("Worker", "User", KEY_NAME, worker.user, 0, 0),
	CONFIG_KEY("Worker", "StatsIntervalMs", KEY_COUNT, worker.stats_interval_ms, 0, 3600000),
	CONFIG_KEY("Worker", "MemoryCgroups", KEY_BOOLEAN, worker.memory_cgroups, 0, 0),
	CONFIG_KEY("Metrics", "PeriodMs", KEY_COUNT, metrics_period_ms, 100, 3600000),
	CONFIG_KEY("Metrics", "Samples", KEY_COUNT, metrics_samples, 1, 100000),
};

static void
set_defaults(VmdConfig *config)
{
	config->pool_size = 0;
	config->worker.worker_path = g_strdup(VBOXMEM_LIBEXECDIR "/vboxmem-vm");
	config->worker.guest_image = g_strdup(VBOXMEM_DATADIR "/guest/vboxmem-test-guest");
	config->worker.user = g_strdup("vboxmem");
	config->worker.stats_interval_ms = DEFAULT_STATS_INTERVAL_MS;
	config->worker.memory_cgroups = TRUE;
	config->metrics_period_ms = DEFAULT_METRICS_PERIOD_MS;
	config->metrics_samples = DEFAULT_METRICS_SAMPLES;
}

void
vmd_config_clear(VmdConfig *config)
{
	g_clear_pointer(&config->worker.worker_path, g_free);
	g_clear_pointer(&config->worker.guest_image, g_free);
	g_clear_pointer(&config->worker.user, g_free);
}

static const ConfigKey *
find_key(const gchar *group, const gchar *key)
{
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (g_strcmp0(keys[i].group, group) == 0 && g_strcmp0(keys[i].key, key) == 0)
			return &keys[i];
	}
	return NULL;
}

static gboolean
read_number(GKeyFile *file, const ConfigKey *k, guint64 *value, GError **error)
{
	g_autofree gchar *text = g_key_file_get_value(file, k->group, k->key, error);
	return text != NULL &&
	       g_ascii_string_to_unsigned(g_strstrip(text), 10, k->min, k->max, value, error);
}

static gboolean
read_boolean(GKeyFile *file, const ConfigKey *k, gboolean *value, GError **error)
{
	g_autoptr(GError) local = NULL;
	gboolean read = g_key_file_get_boolean(file, k->group, k->key, &local);

	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	*value = read;
	return TRUE;
}

static gboolean
read_key(GKeyFile *file, const ConfigKey *k, VmdConfig *config, GError **error)
{
	gpointer field = G_STRUCT_MEMBER_P(config, k->offset);
	g_autofree gchar *text = NULL;
	guint64 number = 0;

	switch (k->kind) {
	case KEY_MIB:
		if (!read_number(file, k, &number, error))
			return FALSE;
		*(guint64 *)field = number << 20;
		return TRUE;
	case KEY_COUNT:
		if (!read_number(file, k, &number, error))
			return FALSE;
		*(guint *)field = (guint)number;
		return TRUE;
	case KEY_BOOLEAN:
		return read_boolean(file, k, (gboolean *)field, error);
	case KEY_PATH:
	case KEY_NAME:
		text = g_key_file_get_string(file, k->group, k->key, error);
		if (text == NULL)
			return FALSE;
		if (k->kind == KEY_PATH && !g_path_is_absolute(text)) {
			g_set_error(error,
				    G_KEY_FILE_ERROR,
				    G_KEY_FILE_ERROR_INVALID_VALUE,
				    "'%s' is not an absolute path",
				    text);
			return FALSE;
		}
		g_free(*(gchar **)field);
		*(gchar **)field = g_steal_pointer(&text);
		return TRUE;
	}
	g_assert_not_reached();
}

static gboolean
read_file(VmdConfig *config, GKeyFile *file, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(file, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		g_auto(GStrv) names = g_key_file_get_keys(file, groups[i], NULL, NULL);
		for (guint j = 0; names != NULL && names[j] != NULL; j++) {
			const ConfigKey *k = find_key(groups[i], names[j]);
			g_autoptr(GError) error_local = NULL;

			if (k == NULL) {
				g_set_error(error,
					    G_KEY_FILE_ERROR,
					    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
					    "[%s] %s: unknown key",
					    groups[i],
					    names[j]);
				return FALSE;
			}
			if (!read_key(file, k, config, &error_local)) {
				g_set_error(error,
					    G_KEY_FILE_ERROR,
					    G_KEY_FILE_ERROR_INVALID_VALUE,
					    "[%s] %s: %s",
					    groups[i],
					    names[j],
					    error_local->message);
				return FALSE;
			}
		}
	}
	return TRUE;
}

/* A missing default file means defaults; a file that is there must be right, or we refuse to start.
 */
gboolean
vmd_config_load(VmdConfig *config, const gchar *path, gboolean must_exist, GError **error)
{
	g_autoptr(GKeyFile) file = g_key_file_new();
	g_autoptr(GError) error_local = NULL;

	set_defaults(config);
	if (!g_key_file_load_from_file(file, path, G_KEY_FILE_NONE, &error_local)) {
		if (!must_exist && g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "Cannot read %s: %s",
			    path,
			    error_local->message);
		return FALSE;
	}
	if (!read_file(config, file, &error_local)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "%s: %s",
			    path,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}
