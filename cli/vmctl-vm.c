/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "vmctl.h"

/* createvm, modifyvm, unregistervm, startvm, controlvm */

typedef enum {
	VMCTL_VALUE_MIB,
	VMCTL_VALUE_COUNT,
	VMCTL_VALUE_PATH,
	VMCTL_VALUE_TEXT,
	VMCTL_VALUE_ON_OFF,
} VmctlValueKind;

typedef struct {
	const gchar *option;
	const gchar *key;
	VmctlValueKind kind;
	const gchar *arg_description;
	const gchar *description;
	gboolean modifyvm_only;
} VmctlSetting;

/* The machine settings as options; several options may set the same key. */
static const VmctlSetting vmctl_settings[] = {
	{"memory", "MemorySize", VMCTL_VALUE_MIB, "MiB", N_("Guest RAM in MiB"), FALSE},
	{"cpus", "CPUs", VMCTL_VALUE_COUNT, "N", N_("Number of virtual CPUs (1 to 64)"), FALSE},
	{"kernel",
	 "Kernel",
	 VMCTL_VALUE_PATH,
	 "FILE",
	 N_("Guest kernel; \"\" for the default test guest"),
	 FALSE},
	{"initrd", "Initrd", VMCTL_VALUE_PATH, "FILE", N_("Initial ramdisk; \"\" for none"), FALSE},
	{"cmdline", "CommandLine", VMCTL_VALUE_TEXT, "TEXT", N_("Kernel command line"), FALSE},
	{"guestmemoryballoon",
	 "BalloonDefaultSize",
	 VMCTL_VALUE_MIB,
	 "MiB",
	 N_("Balloon size requested at every start, in MiB"),
	 TRUE},
	{"pagefusion",
	 "PageFusion",
	 VMCTL_VALUE_ON_OFF,
	 "on|off",
	 N_("Share identical pages with other machines"),
	 TRUE},
	{"page-fusion",
	 "PageFusion",
	 VMCTL_VALUE_ON_OFF,
	 "on|off",
	 N_("Same as --pagefusion"),
	 TRUE},
	{"deflate-on-oom",
	 "DeflateOnOom",
	 VMCTL_VALUE_ON_OFF,
	 "on|off",
	 N_("Let the guest shrink the balloon when it runs out of memory"),
	 TRUE},
	{"free-page-reporting",
	 "FreePageReporting",
	 VMCTL_VALUE_ON_OFF,
	 "on|off",
	 N_("Let the guest report freed pages to the host"),
	 TRUE},
};

#define VMCTL_N_SETTINGS G_N_ELEMENTS(vmctl_settings)

/* the first setting with the same key holds the value of all of them */
static guint
vmctl_setting_slot(guint index)
{
	for (guint i = 0; i < index; i++) {
		if (g_strcmp0(vmctl_settings[i].key, vmctl_settings[index].key) == 0)
			return i;
	}
	return index;
}

/* Appends the option entries of the settings to @entries, storing into @values. */
static void
vmctl_settings_add_entries(GArray *entries, gchar **values, gboolean modifyvm)
{
	for (guint i = 0; i < VMCTL_N_SETTINGS; i++) {
		const VmctlSetting *setting = &vmctl_settings[i];
		GOptionEntry entry = {setting->option,
				      0,
				      0,
				      G_OPTION_ARG_FILENAME,
				      &values[vmctl_setting_slot(i)],
				      setting->description,
				      setting->arg_description};
		if (setting->modifyvm_only && !modifyvm)
			continue;
		g_array_append_val(entries, entry);
	}
}

static const gchar *
vmctl_settings_lookup(gchar **values, const gchar *option)
{
	for (guint i = 0; i < VMCTL_N_SETTINGS; i++) {
		if (g_strcmp0(vmctl_settings[i].option, option) == 0)
			return values[vmctl_setting_slot(i)];
	}
	g_assert_not_reached();
}

/* the option values as given, indexed like vmctl_settings */
typedef struct {
	gchar *values[VMCTL_N_SETTINGS];
} VmctlSettingValues;

static void
vmctl_setting_values_clear(VmctlSettingValues *self)
{
	for (guint i = 0; i < VMCTL_N_SETTINGS; i++)
		g_free(self->values[i]);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmctlSettingValues, vmctl_setting_values_clear)

static gboolean
vmctl_check_utf8(const gchar *what, const gchar *value, GError **error)
{
	if (g_utf8_validate(value, -1, NULL))
		return TRUE;
	g_set_error(error, VMCTL_ERROR, VMCTL_ERROR_USAGE, _("%s is not valid UTF-8"), what);
	return FALSE;
}

static GVariant *
vmctl_setting_to_variant(const VmctlSetting *setting, const gchar *value, GError **error)
{
	g_autofree gchar *option = g_strdup_printf("--%s", setting->option);
	guint64 bytes = 0;
	guint32 count = 0;
	gboolean on = FALSE;

	switch (setting->kind) {
	case VMCTL_VALUE_MIB:
		if (!vmctl_parse_mib(option, value, &bytes, error))
			return NULL;
		return g_variant_new_uint64(bytes);
	case VMCTL_VALUE_COUNT:
		if (!vmctl_parse_count(option, value, &count, error))
			return NULL;
		return g_variant_new_uint32(count);
	case VMCTL_VALUE_ON_OFF:
		if (!vmctl_parse_on_off(option, value, &on, error))
			return NULL;
		return g_variant_new_boolean(on);
	case VMCTL_VALUE_PATH:
		if (!vmctl_check_utf8(option, value, error))
			return NULL;
		return g_variant_new_take_string(vmctl_absolute_path(value));
	case VMCTL_VALUE_TEXT:
		if (!vmctl_check_utf8(option, value, error))
			return NULL;
		return g_variant_new_string(value);
	}
	g_assert_not_reached();
}

/* Returns the a{sv} settings of the options given, or %NULL on a usage error. */
static GVariant *
vmctl_settings_to_variant(gchar **values, guint *n_settings, GError **error)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);

	*n_settings = 0;
	for (guint i = 0; i < VMCTL_N_SETTINGS; i++) {
		GVariant *value;
		if (values[i] == NULL)
			continue;
		value = vmctl_setting_to_variant(&vmctl_settings[i], values[i], error);
		if (value == NULL)
			return NULL;
		g_variant_builder_add(&builder, "{sv}", vmctl_settings[i].key, value);
		(*n_settings)++;
	}
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

static gboolean
vmctl_parse_settings_options(
	VmctlContext *ctx, gchar **name, gchar **values, gint *argc, gchar ***argv, GError **error)
{
	const gboolean modifyvm = name == NULL;
	g_autoptr(GArray) entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));

	if (!modifyvm) {
		GOptionEntry name_entry = {"name",
					   0,
					   0,
					   G_OPTION_ARG_FILENAME,
					   name,
					   N_("Name of the new machine (required)"),
					   "NAME"};
		g_array_append_val(entries, name_entry);
	}
	vmctl_settings_add_entries(entries, values, modifyvm);
	return vmctl_parse_verb_options(ctx,
					(const GOptionEntry *)entries->data,
					argc,
					argv,
					modifyvm ? 1 : 0,
					modifyvm ? 1 : 0,
					error);
}

static gboolean
vmctl_require(gboolean given, const gchar *message, GError **error)
{
	if (!given)
		g_set_error_literal(error, VMCTL_ERROR, VMCTL_ERROR_USAGE, message);
	return given;
}

gboolean
vmctl_cmd_createvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	g_autofree gchar *name = NULL;
	g_auto(VmctlSettingValues) options = {{NULL}};
	g_autoptr(GVariant) settings = NULL;
	g_autoptr(VboxmemMachine) machine = NULL;
	VboxmemClient *client;
	guint n_settings = 0;

	if (!vmctl_parse_settings_options(ctx, &name, options.values, &argc, &argv, error))
		return FALSE;
	if (!vmctl_require(name != NULL, _("--name is required"), error) ||
	    !vmctl_require(vmctl_settings_lookup(options.values, "memory") != NULL,
			   _("--memory is required"),
			   error) ||
	    !vmctl_check_utf8("--name", name, error))
		return FALSE;
	settings = vmctl_settings_to_variant(options.values, &n_settings, error);
	if (settings == NULL)
		return FALSE;

	client = vmctl_get_client(ctx, error);
	if (client == NULL)
		return FALSE;
	machine = vboxmem_client_create_machine_sync(client, name, settings, NULL, error);
	if (machine == NULL)
		return FALSE;
	printf(_("Virtual machine \"%s\" is created and registered.\n"), name);
	printf(_("Object path: %s\n"), vboxmem_machine_get_object_path(machine));
	return TRUE;
}

static gboolean
vmctl_check_machine_name(const gchar *name, GError **error)
{
	return vmctl_check_utf8(_("the machine name"), name, error);
}

gboolean
vmctl_cmd_modifyvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	g_auto(VmctlSettingValues) options = {{NULL}};
	g_autoptr(GVariant) settings = NULL;
	g_autoptr(VboxmemMachine) machine = NULL;
	guint n_settings = 0;

	if (!vmctl_parse_settings_options(ctx, NULL, options.values, &argc, &argv, error) ||
	    !vmctl_check_machine_name(argv[1], error))
		return FALSE;
	settings = vmctl_settings_to_variant(options.values, &n_settings, error);
	if (settings == NULL ||
	    !vmctl_require(n_settings > 0, _("nothing to change: give at least one option"), error))
		return FALSE;

	machine = vmctl_find_machine(ctx, argv[1], error);
	if (machine == NULL)
		return FALSE;
	return vboxmem_machine_modify_sync(machine, settings, NULL, error);
}

typedef gboolean (*VmctlMachineAction)(VboxmemMachine *machine,
				       GCancellable *cancellable,
				       GError **error);

/* parses "vboxmemctl VERB NAME" and runs @action on the machine */
static gboolean
vmctl_run_machine_action(
	VmctlContext *ctx, gint argc, gchar **argv, VmctlMachineAction action, GError **error)
{
	g_autoptr(VboxmemMachine) machine = NULL;

	if (!vmctl_parse_verb_options(ctx, NULL, &argc, &argv, 1, 1, error) ||
	    !vmctl_check_machine_name(argv[1], error))
		return FALSE;
	machine = vmctl_find_machine(ctx, argv[1], error);
	if (machine == NULL)
		return FALSE;
	return action(machine, NULL, error);
}

gboolean
vmctl_cmd_unregistervm(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	return vmctl_run_machine_action(ctx, argc, argv, vboxmem_machine_unregister_sync, error);
}

/*
 * Prints a message of this file about the machine @name, made safe to print:
 * @format has one "%s", for the name.
 */
static void
vmctl_print_machine_message(const gchar *format, const gchar *name)
{
	g_autofree gchar *shown = vmctl_escape(name, FALSE);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	printf(format, shown);
#pragma GCC diagnostic pop
	printf("\n");
}

gboolean
vmctl_cmd_startvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	if (!vmctl_run_machine_action(ctx, argc, argv, vboxmem_machine_start_sync, error))
		return FALSE;
	vmctl_print_machine_message(_("Virtual machine \"%s\" has been started."), argv[1]);
	return TRUE;
}

typedef struct {
	const gchar *name;
	VmctlMachineAction action; /* %NULL: sets the balloon target from a MiB argument */
	const gchar *done;         /* the message on success, with the machine's name */
} VmctlControlAction;

static const VmctlControlAction vmctl_control_actions[] = {
	{"poweroff",
	 vboxmem_machine_power_off_sync,
	 N_("Virtual machine \"%s\" has been powered off.")},
	{"pause", vboxmem_machine_pause_sync, N_("Virtual machine \"%s\" has been paused.")},
	{"resume", vboxmem_machine_resume_sync, N_("Virtual machine \"%s\" has been resumed.")},
	{"guestmemoryballoon", NULL, NULL},
};

static const VmctlControlAction *
vmctl_control_action_lookup(const gchar *name, GError **error)
{
	g_autofree gchar *shown = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(vmctl_control_actions); i++) {
		if (g_strcmp0(vmctl_control_actions[i].name, name) == 0)
			return &vmctl_control_actions[i];
	}
	shown = vmctl_escape(name, FALSE);
	g_set_error(error,
		    VMCTL_ERROR,
		    VMCTL_ERROR_USAGE,
		    _("unknown action \"%s\"; expected poweroff, pause, resume or "
		      "guestmemoryballoon"),
		    shown);
	return NULL;
}

/* vboxmemctl controlvm NAME poweroff|pause|resume|guestmemoryballoon MiB */
gboolean
vmctl_cmd_controlvm(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	const VmctlControlAction *control;
	g_autoptr(VboxmemMachine) machine = NULL;
	g_autofree gchar *shown_name = NULL;
	guint64 balloon_size = 0;

	if (!vmctl_parse_verb_options(ctx, NULL, &argc, &argv, 2, 3, error) ||
	    !vmctl_check_machine_name(argv[1], error))
		return FALSE;
	control = vmctl_control_action_lookup(argv[2], error);
	if (control == NULL)
		return FALSE;
	if (control->action != NULL) {
		if (!vmctl_require(argc == 3, _("this action takes no argument"), error))
			return FALSE;
	} else {
		if (!vmctl_require(argc == 4, _("guestmemoryballoon needs a size in MiB"), error) ||
		    !vmctl_parse_mib("guestmemoryballoon", argv[3], &balloon_size, error))
			return FALSE;
	}

	machine = vmctl_find_machine(ctx, argv[1], error);
	if (machine == NULL)
		return FALSE;
	if (control->action != NULL) {
		if (!control->action(machine, NULL, error))
			return FALSE;
		vmctl_print_machine_message(_(control->done), argv[1]);
		return TRUE;
	}
	if (!vboxmem_machine_set_balloon_target_sync(machine, balloon_size, NULL, error))
		return FALSE;
	/* the guest gives the memory back in its own time: showvminfo shows how far it is */
	shown_name = vmctl_escape(argv[1], FALSE);
	printf(_("The balloon of virtual machine \"%s\" is being resized to %" G_GUINT64_FORMAT
		 " MiB.\n"),
	       shown_name,
	       balloon_size / VMCTL_MIB);
	return TRUE;
}
