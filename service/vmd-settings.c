/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vboxmem-error.h"
#include "vmd-metrics.h"
#include "vmd-settings.h"

typedef enum {
	KIND_SIZE,
	KIND_CPUS,
	KIND_PATH,
	KIND_TEXT,
	KIND_BOOL,
} SettingKind;

/* One row per setting: its a{sv} key on D-Bus and its place in the key file. */
typedef struct {
	const gchar *key;
	const gchar *group;
	const gchar *file_key;
	SettingKind kind;
	gsize offset;
} SettingField;

#define FIELD(key, group, file_key, kind, member)                                                  \
	{                                                                                          \
		key, group, file_key, kind, G_STRUCT_OFFSET(VmdSettings, member)                   \
	}

static const SettingField fields[] = {
	FIELD("MemorySize", "Machine", "MemoryMiB", KIND_SIZE, memory_size),
	FIELD("CPUs", "Machine", "CPUs", KIND_CPUS, cpus),
	FIELD("Kernel", "Machine", "Kernel", KIND_PATH, kernel),
	FIELD("Initrd", "Machine", "Initrd", KIND_PATH, initrd),
	FIELD("CommandLine", "Machine", "CommandLine", KIND_TEXT, command_line),
	FIELD("BalloonDefaultSize", "Balloon", "DefaultSizeMiB", KIND_SIZE, balloon_default_size),
	FIELD("DeflateOnOom", "Balloon", "DeflateOnOom", KIND_BOOL, deflate_on_oom),
	FIELD("FreePageReporting", "Balloon", "FreePageReporting", KIND_BOOL, free_page_reporting),
	FIELD("PageFusion", "PageFusion", "Enabled", KIND_BOOL, page_fusion),
};

static const gchar *const kind_types[] = {
	[KIND_SIZE] = "t",
	[KIND_CPUS] = "u",
	[KIND_PATH] = "s",
	[KIND_TEXT] = "s",
	[KIND_BOOL] = "b",
};

static guint64 host_memory = G_MAXUINT64;

#define FIELD_PTR(self, field, type) ((type *)G_STRUCT_MEMBER_P((self), (field)->offset))

void
vmd_settings_set_host_memory(guint64 bytes)
{
	host_memory = bytes;
}

VmdSettings *
vmd_settings_new(const gchar *name, guint32 owner)
{
	VmdSettings *self = g_new0(VmdSettings, 1);
	self->name = g_strdup(name);
	self->owner = owner;
	self->cpus = 1;
	self->kernel = g_strdup("");
	self->initrd = g_strdup("");
	self->command_line = g_strdup("");
	return self;
}

VmdSettings *
vmd_settings_copy(const VmdSettings *self)
{
	VmdSettings *copy = g_memdup2(self, sizeof(*self));
	copy->name = g_strdup(self->name);
	copy->kernel = g_strdup(self->kernel);
	copy->initrd = g_strdup(self->initrd);
	copy->command_line = g_strdup(self->command_line);
	return copy;
}

void
vmd_settings_free(VmdSettings *self)
{
	if (self == NULL)
		return;
	g_free(self->name);
	g_free(self->kernel);
	g_free(self->initrd);
	g_free(self->command_line);
	g_free(self);
}

static gboolean
has_control_chars(const gchar *text)
{
	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return TRUE;
	}
	return FALSE;
}

static gboolean
check_text(const gchar *what, const gchar *text, gsize max_bytes, GError **error)
{
	if (!g_utf8_validate(text, -1, NULL)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "%s: not valid UTF-8",
			    what);
		return FALSE;
	}
	if (strlen(text) > max_bytes) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "%s: longer than %" G_GSIZE_FORMAT " bytes",
			    what,
			    max_bytes);
		return FALSE;
	}
	if (has_control_chars(text)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "%s: contains control characters",
			    what);
		return FALSE;
	}
	return TRUE;
}

gboolean
vmd_settings_check_name(const gchar *name, GError **error)
{
	if (name == NULL || name[0] == '\0') {
		g_set_error_literal(error,
				    VBOXMEM_ERROR,
				    VBOXMEM_ERROR_INVALID_ARGUMENT,
				    "Name: must not be empty");
		return FALSE;
	}
	if (!check_text("Name", name, VMD_NAME_MAX_BYTES, error))
		return FALSE;
	/* VMD_METRICS_HOST names the host's metrics in QueryMetrics. */
	if (g_strcmp0(name, VMD_METRICS_HOST) == 0) {
		g_set_error_literal(error,
				    VBOXMEM_ERROR,
				    VBOXMEM_ERROR_INVALID_ARGUMENT,
				    "Name: '" VMD_METRICS_HOST "' is reserved");
		return FALSE;
	}
	if (strchr(name, '/') != NULL || name[0] == '.') {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "Name: '%s' must not contain '/' or start with '.'",
			    name);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_path(const gchar *key, const gchar *path, GError **error)
{
	if (!check_text(key, path, 4095, error))
		return FALSE;
	if (path[0] != '\0' && !g_path_is_absolute(path)) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "%s: '%s' is not an absolute path",
			    key,
			    path);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_field(const SettingField *field, const VmdSettings *self, GError **error)
{
	switch (field->kind) {
	case KIND_PATH:
		return check_path(field->key, *FIELD_PTR(self, field, gchar *), error);
	case KIND_TEXT:
		return check_text(field->key,
				  *FIELD_PTR(self, field, gchar *),
				  VMD_COMMAND_LINE_MAX_BYTES,
				  error);
	default:
		return TRUE;
	}
}

static gboolean
check_size(const gchar *key, guint64 size, GError **error)
{
	if (size % VMD_MIB == 0)
		return TRUE;
	g_set_error(error,
		    VBOXMEM_ERROR,
		    VBOXMEM_ERROR_INVALID_ARGUMENT,
		    "%s: %" G_GUINT64_FORMAT " bytes is not a multiple of 1 MiB",
		    key,
		    size);
	return FALSE;
}

gboolean
vmd_settings_check(const VmdSettings *self, GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		if (!check_field(&fields[i], self, error))
			return FALSE;
	}
	if (!check_size("MemorySize", self->memory_size, error) ||
	    !check_size("BalloonDefaultSize", self->balloon_default_size, error))
		return FALSE;
	if (self->memory_size == 0 || self->memory_size > host_memory) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "MemorySize: %" G_GUINT64_FORMAT
			    " MiB is outside 1 MiB to the host's %" G_GUINT64_FORMAT " MiB",
			    self->memory_size / VMD_MIB,
			    host_memory / VMD_MIB);
		return FALSE;
	}
	if (self->balloon_default_size > self->memory_size) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "BalloonDefaultSize: %" G_GUINT64_FORMAT
			    " MiB is larger than the memory size of %" G_GUINT64_FORMAT " MiB",
			    self->balloon_default_size / VMD_MIB,
			    self->memory_size / VMD_MIB);
		return FALSE;
	}
	if (self->cpus < 1 || self->cpus > VMD_CPUS_MAX) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "CPUs: %u is outside 1 to %u",
			    self->cpus,
			    (guint)VMD_CPUS_MAX);
		return FALSE;
	}
	return TRUE;
}

static const SettingField *
find_field(const gchar *key)
{
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		if (g_strcmp0(fields[i].key, key) == 0)
			return &fields[i];
	}
	return NULL;
}

static void
store_variant(VmdSettings *self, const SettingField *field, GVariant *value)
{
	switch (field->kind) {
	case KIND_SIZE:
		*FIELD_PTR(self, field, guint64) = g_variant_get_uint64(value);
		break;
	case KIND_CPUS:
		*FIELD_PTR(self, field, guint32) = g_variant_get_uint32(value);
		break;
	case KIND_PATH:
	case KIND_TEXT:
		g_free(*FIELD_PTR(self, field, gchar *));
		*FIELD_PTR(self, field, gchar *) = g_variant_dup_string(value, NULL);
		break;
	case KIND_BOOL:
		*FIELD_PTR(self, field, gboolean) = g_variant_get_boolean(value);
		break;
	}
}

static gboolean
update_one(VmdSettings *self, const gchar *key, GVariant *value, GError **error)
{
	const SettingField *field = find_field(key);
	const gchar *type;

	if (field == NULL) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "%s: unknown setting",
			    key);
		return FALSE;
	}
	type = kind_types[field->kind];
	if (!g_variant_is_of_type(value, G_VARIANT_TYPE(type))) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "%s: expected type '%s', got '%s'",
			    key,
			    type,
			    g_variant_get_type_string(value));
		return FALSE;
	}
	store_variant(self, field, value);
	if (field->kind == KIND_PATH)
		return check_path(key, *FIELD_PTR(self, field, gchar *), error);
	return check_field(field, self, error);
}

/* Applies an a{sv} of settings; on error @self is half-updated, so callers update a copy. */
gboolean
vmd_settings_update(VmdSettings *self, GVariant *settings, GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init(&iter, settings);
	while (g_variant_iter_loop(&iter, "{&sv}", &key, &value)) {
		if (!update_one(self, key, value, error)) {
			g_variant_unref(value);
			return FALSE;
		}
	}
	return vmd_settings_check(self, error);
}

GKeyFile *
vmd_settings_to_keyfile(const VmdSettings *self)
{
	GKeyFile *keyfile = g_key_file_new();

	g_key_file_set_string(keyfile, "Machine", "Name", self->name);
	g_key_file_set_uint64(keyfile, "Machine", "Owner", self->owner);
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		const SettingField *f = &fields[i];
		switch (f->kind) {
		case KIND_SIZE:
			g_key_file_set_uint64(keyfile,
					      f->group,
					      f->file_key,
					      *FIELD_PTR(self, f, guint64) / VMD_MIB);
			break;
		case KIND_CPUS:
			g_key_file_set_uint64(
				keyfile, f->group, f->file_key, *FIELD_PTR(self, f, guint32));
			break;
		case KIND_PATH:
		case KIND_TEXT:
			g_key_file_set_string(
				keyfile, f->group, f->file_key, *FIELD_PTR(self, f, gchar *));
			break;
		case KIND_BOOL:
			g_key_file_set_boolean(
				keyfile, f->group, f->file_key, *FIELD_PTR(self, f, gboolean));
			break;
		}
	}
	return keyfile;
}

static gboolean
read_number(GKeyFile *keyfile,
	    const gchar *group,
	    const gchar *key,
	    guint64 max,
	    guint64 *out,
	    GError **error)
{
	g_autofree gchar *text = g_key_file_get_value(keyfile, group, key, error);
	g_autoptr(GError) error_local = NULL;

	if (text == NULL)
		return FALSE;
	if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, 0, max, out, &error_local)) {
		g_set_error(error,
			    G_KEY_FILE_ERROR,
			    G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[%s] %s: %s",
			    group,
			    key,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean
read_field(GKeyFile *keyfile, const SettingField *f, VmdSettings *self, GError **error)
{
	guint64 number = 0;

	if (!g_key_file_has_key(keyfile, f->group, f->file_key, NULL))
		return TRUE;
	switch (f->kind) {
	case KIND_SIZE:
		if (!read_number(
			    keyfile, f->group, f->file_key, G_MAXUINT64 / VMD_MIB, &number, error))
			return FALSE;
		*FIELD_PTR(self, f, guint64) = number * VMD_MIB;
		return TRUE;
	case KIND_CPUS:
		if (!read_number(keyfile, f->group, f->file_key, G_MAXUINT32, &number, error))
			return FALSE;
		*FIELD_PTR(self, f, guint32) = (guint32)number;
		return TRUE;
	case KIND_PATH:
	case KIND_TEXT: {
		gchar *text = g_key_file_get_string(keyfile, f->group, f->file_key, error);
		if (text == NULL)
			return FALSE;
		g_free(*FIELD_PTR(self, f, gchar *));
		*FIELD_PTR(self, f, gchar *) = text;
		return TRUE;
	}
	case KIND_BOOL: {
		g_autoptr(GError) error_local = NULL;
		gboolean value =
			g_key_file_get_boolean(keyfile, f->group, f->file_key, &error_local);
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		*FIELD_PTR(self, f, gboolean) = value;
		return TRUE;
	}
	}
	g_assert_not_reached();
}

static gboolean
is_known_file_key(const gchar *group, const gchar *key)
{
	if (g_strcmp0(group, "Machine") == 0 &&
	    (g_strcmp0(key, "Name") == 0 || g_strcmp0(key, "Owner") == 0))
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		if (g_strcmp0(fields[i].group, group) == 0 &&
		    g_strcmp0(fields[i].file_key, key) == 0)
			return TRUE;
	}
	return FALSE;
}

/* A file written by hand or by another version must not load half-understood. */
static gboolean
check_no_unknown_keys(GKeyFile *keyfile, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(keyfile, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		g_auto(GStrv) keys = g_key_file_get_keys(keyfile, groups[i], NULL, NULL);
		for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
			if (is_known_file_key(groups[i], keys[j]))
				continue;
			g_set_error(error,
				    G_KEY_FILE_ERROR,
				    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
				    "unknown key [%s] %s",
				    groups[i],
				    keys[j]);
			return FALSE;
		}
	}
	return TRUE;
}

VmdSettings *
vmd_settings_new_from_keyfile(GKeyFile *keyfile, GError **error)
{
	g_autofree gchar *name = NULL;
	g_autoptr(VmdSettings) self = NULL;
	guint64 owner = 0;

	if (!check_no_unknown_keys(keyfile, error))
		return NULL;
	name = g_key_file_get_string(keyfile, "Machine", "Name", error);
	if (name == NULL || !vmd_settings_check_name(name, error))
		return NULL;
	if (!read_number(keyfile, "Machine", "Owner", G_MAXUINT32, &owner, error))
		return NULL;
	if (!g_key_file_has_key(keyfile, "Machine", "MemoryMiB", NULL)) {
		g_set_error_literal(error,
				    G_KEY_FILE_ERROR,
				    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
				    "missing key [Machine] MemoryMiB");
		return NULL;
	}
	self = vmd_settings_new(name, (guint32)owner);
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		if (!read_field(keyfile, &fields[i], self, error))
			return NULL;
	}
	if (!vmd_settings_check(self, error))
		return NULL;
	return g_steal_pointer(&self);
}
