/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "vmctl.h"

/* list, showvminfo, metrics */

/* One line of showvminfo: a human label, a machine-readable key, or both. */
typedef struct {
	const gchar *label;
	const gchar *key;
	gchar *human;
	gchar *machine_readable; /* the text after "key=", quoted if a string */
} VmctlField;

static void
vmctl_field_free(VmctlField *field)
{
	g_free(field->human);
	g_free(field->machine_readable);
	g_free(field);
}

static void
vmctl_fields_add(GPtrArray *fields,
		 const gchar *label,
		 const gchar *key,
		 gchar *human,
		 gchar *machine_readable)
{
	VmctlField *field = g_new0(VmctlField, 1);

	field->label = label;
	field->key = key;
	field->human = human;
	field->machine_readable = machine_readable;
	g_ptr_array_add(fields, field);
}

static gchar *
vmctl_quote(const gchar *value)
{
	g_autofree gchar *escaped = vmctl_escape(value, TRUE);
	return g_strdup_printf("\"%s\"", escaped);
}

static void
vmctl_fields_add_text(GPtrArray *fields,
		      const gchar *label,
		      const gchar *key,
		      const gchar *value,
		      const gchar *human_if_empty)
{
	const gchar *human = value[0] == '\0' && human_if_empty != NULL ? human_if_empty : value;
	vmctl_fields_add(fields, label, key, vmctl_escape(human, FALSE), vmctl_quote(value));
}

static void
vmctl_fields_add_on_off(GPtrArray *fields, const gchar *label, const gchar *key, gboolean on)
{
	const gchar *value = on ? "on" : "off";
	vmctl_fields_add(fields, label, key, g_strdup(value), vmctl_quote(value));
}

static gchar *
vmctl_format_mib(guint64 bytes)
{
	if (bytes % VMCTL_MIB == 0)
		return g_strdup_printf("%" G_GUINT64_FORMAT " MiB", bytes / VMCTL_MIB);
	return g_strdup_printf("%.2f MiB", (gdouble)bytes / VMCTL_MIB);
}

/* sizes of settings: MiB in both forms, as VBoxManage does */
static void
vmctl_fields_add_mib(GPtrArray *fields, const gchar *label, const gchar *key, guint64 bytes)
{
	vmctl_fields_add(fields,
			 label,
			 key,
			 vmctl_format_mib(bytes),
			 g_strdup_printf("%" G_GUINT64_FORMAT, bytes / VMCTL_MIB));
}

static gchar *
vmctl_owner_name(guint32 uid)
{
	struct passwd pwd;
	struct passwd *result = NULL;
	gchar buffer[4096];

	if (getpwuid_r(uid, &pwd, buffer, sizeof(buffer), &result) != 0 || result == NULL)
		return NULL;
	return g_strdup(result->pw_name);
}

static void
vmctl_fields_add_owner(GPtrArray *fields, guint32 uid)
{
	g_autofree gchar *name = vmctl_owner_name(uid);
	gchar *human = name != NULL ? g_strdup_printf("%s (uid %u)", name, uid)
				    : g_strdup_printf("uid %u", uid);

	vmctl_fields_add(fields, _("Owner:"), "owner", human, g_strdup_printf("%u", uid));
	vmctl_fields_add(fields, NULL, "ownername", NULL, vmctl_quote(name != NULL ? name : ""));
}

typedef struct {
	VboxmemMachineState state;
	const gchar *human;
	const gchar *machine_readable; /* VBoxManage's VMState spelling */
} VmctlStateName;

static const VmctlStateName vmctl_state_names[] = {
	{VBOXMEM_MACHINE_STATE_POWERED_OFF, N_("powered off"), "poweroff"},
	{VBOXMEM_MACHINE_STATE_STARTING, N_("starting"), "starting"},
	{VBOXMEM_MACHINE_STATE_RUNNING, N_("running"), "running"},
	{VBOXMEM_MACHINE_STATE_PAUSED, N_("paused"), "paused"},
	{VBOXMEM_MACHINE_STATE_STOPPING, N_("stopping"), "stopping"},
	{VBOXMEM_MACHINE_STATE_ABORTED, N_("aborted"), "aborted"},
};

static void
vmctl_fields_add_state(GPtrArray *fields, VboxmemMachineState state)
{
	const gchar *human = N_("unknown");
	const gchar *machine_readable = "unknown";

	for (guint i = 0; i < G_N_ELEMENTS(vmctl_state_names); i++) {
		if (vmctl_state_names[i].state == state) {
			human = vmctl_state_names[i].human;
			machine_readable = vmctl_state_names[i].machine_readable;
		}
	}
	vmctl_fields_add(
		fields, _("State:"), "VMState", g_strdup(_(human)), vmctl_quote(machine_readable));
}

typedef struct {
	const gchar *label;
	const gchar *key;
	guint64 (*get)(VboxmemMachine *machine);
	gboolean is_size;
} VmctlGuestStat;

static const VmctlGuestStat vmctl_guest_stats[] = {
	{N_("Guest memory total:"),
	 "guestmemorytotal",
	 vboxmem_machine_get_guest_memory_total,
	 TRUE},
	{N_("Guest memory free:"), "guestmemoryfree", vboxmem_machine_get_guest_memory_free, TRUE},
	{N_("Guest memory available:"),
	 "guestmemoryavailable",
	 vboxmem_machine_get_guest_memory_available,
	 TRUE},
	{N_("Guest disk caches:"), "guestdiskcaches", vboxmem_machine_get_guest_disk_caches, TRUE},
	{N_("Guest swap in:"), "guestswapin", vboxmem_machine_get_guest_swap_in, TRUE},
	{N_("Guest swap out:"), "guestswapout", vboxmem_machine_get_guest_swap_out, TRUE},
	{N_("Guest major faults:"),
	 "guestmajorfaults",
	 vboxmem_machine_get_guest_major_faults,
	 FALSE},
	{N_("Guest minor faults:"),
	 "guestminorfaults",
	 vboxmem_machine_get_guest_minor_faults,
	 FALSE},
};

/* guest statistics: bytes and counts as the guest reported them; unknown ones are left out */
static void
vmctl_fields_add_guest_stats(GPtrArray *fields, VboxmemMachine *machine)
{
	gint64 last_update = vboxmem_machine_get_guest_last_update(machine);
	gboolean agent_connected = vboxmem_machine_get_guest_agent_connected(machine);
	g_autoptr(GDateTime) updated = NULL;

	vmctl_fields_add(fields,
			 _("Guest agent:"),
			 "guestagent",
			 g_strdup(agent_connected ? _("connected") : _("not connected")),
			 vmctl_quote(agent_connected ? "on" : "off"));
	if (last_update == 0) {
		vmctl_fields_add(fields,
				 _("Guest stats:"),
				 "gueststats",
				 g_strdup(_("unknown")),
				 vmctl_quote("unknown"));
		return;
	}
	updated = g_date_time_new_from_unix_utc(last_update / G_USEC_PER_SEC);
	vmctl_fields_add(fields,
			 _("Guest stats:"),
			 "gueststatsupdated",
			 updated != NULL ? g_date_time_format_iso8601(updated) : g_strdup("?"),
			 g_strdup_printf("%" G_GINT64_FORMAT, last_update));
	for (guint i = 0; i < G_N_ELEMENTS(vmctl_guest_stats); i++) {
		const VmctlGuestStat *stat = &vmctl_guest_stats[i];
		guint64 value = stat->get(machine);
		if (value == VBOXMEM_GUEST_STAT_UNKNOWN) {
			vmctl_fields_add(
				fields, _(stat->label), NULL, g_strdup(_("unknown")), NULL);
			continue;
		}
		vmctl_fields_add(fields,
				 _(stat->label),
				 stat->key,
				 stat->is_size ? vmctl_format_mib(value)
					       : g_strdup_printf("%" G_GUINT64_FORMAT, value),
				 g_strdup_printf("%" G_GUINT64_FORMAT, value));
	}
}

static GPtrArray *
vmctl_machine_fields(VboxmemMachine *machine)
{
	GPtrArray *fields = g_ptr_array_new_with_free_func((GDestroyNotify)vmctl_field_free);

	vmctl_fields_add_text(fields, _("Name:"), "name", vboxmem_machine_get_name(machine), NULL);
	vmctl_fields_add_owner(fields, vboxmem_machine_get_owner(machine));
	vmctl_fields_add_state(fields, vboxmem_machine_get_state(machine));
	vmctl_fields_add_mib(
		fields, _("Memory size:"), "memory", vboxmem_machine_get_memory_size(machine));
	vmctl_fields_add(fields,
			 _("CPUs:"),
			 "cpus",
			 g_strdup_printf("%u", vboxmem_machine_get_cpus(machine)),
			 g_strdup_printf("%u", vboxmem_machine_get_cpus(machine)));
	vmctl_fields_add_text(fields,
			      _("Kernel:"),
			      "kernel",
			      vboxmem_machine_get_kernel(machine),
			      _("default test guest"));
	vmctl_fields_add_text(
		fields, _("Initrd:"), "initrd", vboxmem_machine_get_initrd(machine), _("none"));
	vmctl_fields_add_text(fields,
			      _("Command line:"),
			      "cmdline",
			      vboxmem_machine_get_command_line(machine),
			      _("none"));
	vmctl_fields_add_mib(fields,
			     _("Balloon default size:"),
			     "guestmemoryballoon",
			     vboxmem_machine_get_balloon_default_size(machine));
	vmctl_fields_add_mib(fields,
			     _("Balloon target:"),
			     "guestmemoryballoontarget",
			     vboxmem_machine_get_balloon_target(machine));
	vmctl_fields_add_mib(fields,
			     _("Balloon actual:"),
			     "guestmemoryballoonactual",
			     vboxmem_machine_get_balloon_actual(machine));
	vmctl_fields_add_on_off(
		fields, _("Page Fusion:"), "pagefusion", vboxmem_machine_get_page_fusion(machine));
	vmctl_fields_add_mib(fields,
			     _("Page Fusion shared:"),
			     "pagefusionshared",
			     vboxmem_machine_get_page_fusion_shared_bytes(machine));
	vmctl_fields_add_mib(fields,
			     _("Page Fusion hinted:"),
			     "pagefusionhinted",
			     vboxmem_machine_get_page_fusion_hinted_bytes(machine));
	vmctl_fields_add_on_off(fields,
				_("Deflate on OOM:"),
				"deflateonoom",
				vboxmem_machine_get_deflate_on_oom(machine));
	vmctl_fields_add_on_off(fields,
				_("Free page reporting:"),
				"freepagereporting",
				vboxmem_machine_get_free_page_reporting(machine));
	vmctl_fields_add_guest_stats(fields, machine);
	return fields;
}

static void
vmctl_print_machine(VboxmemMachine *machine, gboolean machine_readable)
{
	g_autoptr(GPtrArray) fields = vmctl_machine_fields(machine);
	gint width = 0;

	for (guint i = 0; i < fields->len; i++) {
		VmctlField *field = g_ptr_array_index(fields, i);
		if (field->label != NULL)
			width = MAX(width, (gint)g_utf8_strlen(field->label, -1));
	}
	for (guint i = 0; i < fields->len; i++) {
		VmctlField *field = g_ptr_array_index(fields, i);
		if (machine_readable && field->key != NULL)
			printf("%s=%s\n", field->key, field->machine_readable);
		else if (!machine_readable && field->label != NULL)
			printf("%s%*s %s\n",
			       field->label,
			       width - (gint)g_utf8_strlen(field->label, -1),
			       "",
			       field->human);
	}
}

gboolean
vmctl_cmd_showvminfo(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	gboolean machine_readable = FALSE;
	const GOptionEntry entries[] = {{"machinereadable",
					 0,
					 0,
					 G_OPTION_ARG_NONE,
					 &machine_readable,
					 N_("Print key=value lines for scripts"),
					 NULL},
					{NULL}};
	g_autoptr(VboxmemMachine) machine = NULL;

	if (!vmctl_parse_verb_options(ctx, entries, &argc, &argv, 1, 1, error))
		return FALSE;
	machine = vmctl_find_machine(ctx, argv[1], error);
	if (machine == NULL)
		return FALSE;
	vmctl_print_machine(machine, machine_readable);
	return TRUE;
}

static gboolean
vmctl_machine_is_running(VboxmemMachine *machine)
{
	switch (vboxmem_machine_get_state(machine)) {
	case VBOXMEM_MACHINE_STATE_STARTING:
	case VBOXMEM_MACHINE_STATE_RUNNING:
	case VBOXMEM_MACHINE_STATE_PAUSED:
	case VBOXMEM_MACHINE_STATE_STOPPING:
		return TRUE;
	default:
		return FALSE;
	}
}

static gboolean
vmctl_parse_list_what(const gchar *what, gboolean *running_only, GError **error)
{
	g_autofree gchar *shown = NULL;

	if (g_strcmp0(what, "vms") == 0 || g_strcmp0(what, "runningvms") == 0) {
		*running_only = g_strcmp0(what, "runningvms") == 0;
		return TRUE;
	}
	shown = vmctl_escape(what, FALSE);
	g_set_error(error,
		    VMCTL_ERROR,
		    VMCTL_ERROR_USAGE,
		    _("cannot list \"%s\"; expected vms or runningvms"),
		    shown);
	return FALSE;
}

/* vboxmemctl list [--long] vms|runningvms */
gboolean
vmctl_cmd_list(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	gboolean long_format = FALSE;
	gboolean running_only = FALSE;
	const GOptionEntry entries[] = {{"long",
					 'l',
					 0,
					 G_OPTION_ARG_NONE,
					 &long_format,
					 N_("Show the settings and state of each machine"),
					 NULL},
					{NULL}};
	g_autoptr(GPtrArray) machines = NULL;
	VboxmemClient *client;

	if (!vmctl_parse_verb_options(ctx, entries, &argc, &argv, 1, 1, error) ||
	    !vmctl_parse_list_what(argv[1], &running_only, error))
		return FALSE;
	client = vmctl_get_client(ctx, error);
	if (client == NULL)
		return FALSE;
	machines = vboxmem_client_get_machines(client);
	for (guint i = 0, shown = 0; i < machines->len; i++) {
		VboxmemMachine *machine = g_ptr_array_index(machines, i);
		g_autofree gchar *name = NULL;
		if (running_only && !vmctl_machine_is_running(machine))
			continue;
		if (long_format) {
			if (shown++ > 0)
				printf("\n");
			vmctl_print_machine(machine, FALSE);
			continue;
		}
		name = vmctl_escape(vboxmem_machine_get_name(machine), FALSE);
		printf("\"%s\" {%s}\n", name, vboxmem_machine_get_object_path(machine));
	}
	return TRUE;
}

/* VirtualBox's metric names as vboxmemd samples them */
static const gchar *const vmctl_metric_names[] = {
	"Guest/RAM/Usage/Total",
	"Guest/RAM/Usage/Free",
	"Guest/RAM/Usage/Balloon",
	"Guest/RAM/Usage/Shared",
	"Guest/RAM/Usage/Cache",
	"Guest/RAM/Usage/Hinted",
	"RAM/VMM/Used",
	"RAM/VMM/Free",
	"RAM/VMM/Ballooned",
	"RAM/VMM/Shared",
};

static gboolean
vmctl_metric_pattern_is_known(const gchar *pattern)
{
	g_autoptr(GPatternSpec) spec = NULL;
	g_auto(GStrv) parts = NULL;

	if (pattern[0] == '\0' || pattern[0] == ':')
		return FALSE;
	parts = g_strsplit(pattern, ":", 2);
	if (parts[1] != NULL && g_strcmp0(parts[1], "avg") != 0 &&
	    g_strcmp0(parts[1], "min") != 0 && g_strcmp0(parts[1], "max") != 0)
		return FALSE;
	spec = g_pattern_spec_new(parts[0]);
	for (guint i = 0; i < G_N_ELEMENTS(vmctl_metric_names); i++) {
		if (g_pattern_spec_match_string(spec, vmctl_metric_names[i]))
			return TRUE;
	}
	return FALSE;
}

/* a machine name as vboxmemd accepts it, "host" or "*" */
static gboolean
vmctl_metric_object_is_valid(const gchar *object)
{
	gsize len = strlen(object);

	if (len == 0 || len > 64 || object[0] == '.' || strchr(object, '/') != NULL ||
	    !g_utf8_validate(object, -1, NULL))
		return FALSE;
	for (const gchar *p = object; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return FALSE;
	}
	return TRUE;
}

/* splits a comma-separated list, checking every element with @is_valid */
static gchar **
vmctl_parse_list(const gchar *list,
		 gboolean (*is_valid)(const gchar *item),
		 const gchar *what,
		 GError **error)
{
	g_auto(GStrv) items = NULL;

	if (list == NULL)
		return g_new0(gchar *, 1);
	items = g_strsplit(list, ",", -1);
	for (guint i = 0; items[i] != NULL; i++) {
		g_autofree gchar *shown = NULL;
		if (is_valid(items[i]))
			continue;
		shown = vmctl_escape(items[i], FALSE);
		g_set_error(error, VMCTL_ERROR, VMCTL_ERROR_USAGE, "%s \"%s\"", what, shown);
		return NULL;
	}
	return g_steal_pointer(&items);
}

static void
vmctl_print_metric_value(const gchar *object, const gchar *metric, gdouble value, const gchar *unit)
{
	g_autofree gchar *shown_object = vmctl_escape(object, FALSE);

	if (g_strcmp0(unit, "B") == 0)
		printf("%-24s %-28s %.0f B\n", shown_object, metric, value);
	else
		printf("%-24s %-28s %.2f %s\n", shown_object, metric, value, unit);
}

/* vboxmemctl metrics query [OBJECTS [METRICS]] */
gboolean
vmctl_cmd_metrics(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	g_auto(GStrv) objects = NULL;
	g_auto(GStrv) metrics = NULL;
	g_autoptr(GVariant) values = NULL;
	g_autoptr(GVariantIter) iter = NULL;
	VboxmemClient *client;
	const gchar *object;
	const gchar *metric;
	const gchar *unit;
	gdouble value;
	gint64 timestamp;

	if (!vmctl_parse_verb_options(ctx, NULL, &argc, &argv, 1, 3, error))
		return FALSE;
	if (g_strcmp0(argv[1], "query") != 0) {
		g_autofree gchar *shown = vmctl_escape(argv[1], FALSE);
		g_set_error(error,
			    VMCTL_ERROR,
			    VMCTL_ERROR_USAGE,
			    _("unknown metrics command \"%s\"; expected query"),
			    shown);
		return FALSE;
	}
	objects = vmctl_parse_list(argc > 2 ? argv[2] : NULL,
				   vmctl_metric_object_is_valid,
				   _("invalid object name"),
				   error);
	if (objects == NULL)
		return FALSE;
	metrics = vmctl_parse_list(argc > 3 ? argv[3] : NULL,
				   vmctl_metric_pattern_is_known,
				   _("unknown metric"),
				   error);
	if (metrics == NULL)
		return FALSE;

	client = vmctl_get_client(ctx, error);
	if (client == NULL)
		return FALSE;
	values = vboxmem_client_query_metrics_sync(
		client, (const gchar *const *)objects, (const gchar *const *)metrics, NULL, error);
	if (values == NULL)
		return FALSE;
	printf("%-24s %-28s %s\n", _("Object"), _("Metric"), _("Value"));
	iter = g_variant_iter_new(values);
	while (g_variant_iter_next(iter, "(&s&sd&sx)", &object, &metric, &value, &unit, &timestamp))
		vmctl_print_metric_value(object, metric, value, unit);
	return TRUE;
}
