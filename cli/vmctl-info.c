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

/* list, showvminfo */

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
vmctl_print_fields(GPtrArray *fields, gboolean machine_readable)
{
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

static void
vmctl_print_machine(VboxmemMachine *machine, gboolean machine_readable)
{
	g_autoptr(GPtrArray) fields = vmctl_machine_fields(machine);
	vmctl_print_fields(fields, machine_readable);
}

/*
 * Prints the console log line by line, with what a guest could use to take
 * over the terminal (escape sequences, other control characters) escaped;
 * "\r\n" line ends (Linux's serial console) count as "\n".
 */
static void
vmctl_print_console_log(const gchar *log)
{
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
	guint n_lines = g_strv_length(lines);

	/* a log that ends with a line end has no line after it */
	if (n_lines > 0 && lines[n_lines - 1][0] == '\0')
		n_lines--;
	for (guint i = 0; i < n_lines; i++) {
		gsize len = strlen(lines[i]);
		g_autofree gchar *shown = NULL;
		if (len > 0 && lines[i][len - 1] == '\r')
			lines[i][len - 1] = '\0';
		shown = vmctl_escape(lines[i], FALSE);
		printf("%s\n", shown);
	}
}

gboolean
vmctl_cmd_showvminfo(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	gboolean machine_readable = FALSE;
	gboolean show_log = FALSE;
	const GOptionEntry entries[] = {
		{"machinereadable",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &machine_readable,
		 N_("Print key=value lines for scripts"),
		 NULL},
		{"log",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &show_log,
		 N_("Print the console log of the current or last run instead"),
		 NULL},
		{NULL}};
	g_autoptr(VboxmemMachine) machine = NULL;
	g_autofree gchar *log = NULL;

	if (!vmctl_parse_verb_options(ctx, entries, &argc, &argv, 1, 1, error))
		return FALSE;
	if (show_log && machine_readable) {
		g_set_error_literal(error,
				    VMCTL_ERROR,
				    VMCTL_ERROR_USAGE,
				    _("--log and --machinereadable cannot be used together"));
		return FALSE;
	}
	/* another user's log needs org.vboxmem.machine.control-other */
	if (show_log)
		ctx->needs_authorization = TRUE;
	machine = vmctl_find_machine(ctx, argv[1], error);
	if (machine == NULL)
		return FALSE;
	if (!show_log) {
		vmctl_print_machine(machine, machine_readable);
		return TRUE;
	}
	log = vboxmem_machine_read_console_log_sync(machine, 0, NULL, error);
	if (log == NULL)
		return FALSE;
	vmctl_print_console_log(log);
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

typedef enum {
	VMCTL_LIST_VMS,
	VMCTL_LIST_RUNNING_VMS,
	VMCTL_LIST_HOST_INFO,
} VmctlListWhat;

static const gchar *const vmctl_list_whats[] = {"vms", "runningvms", "hostinfo"};

static gboolean
vmctl_parse_list_what(const gchar *what, VmctlListWhat *result, GError **error)
{
	g_autofree gchar *shown = NULL;

	guint index;

	if (vmctl_lookup_word(what, vmctl_list_whats, G_N_ELEMENTS(vmctl_list_whats), &index)) {
		*result = (VmctlListWhat)index;
		return TRUE;
	}
	shown = vmctl_escape(what, FALSE);
	g_set_error(error,
		    VMCTL_ERROR,
		    VMCTL_ERROR_USAGE,
		    _("cannot list \"%s\"; expected vms, runningvms or hostinfo"),
		    shown);
	return FALSE;
}

/* the host's memory pool, as vboxmemd accounts it */
static void
vmctl_print_host_info(VboxmemClient *client)
{
	g_autoptr(GPtrArray) fields =
		g_ptr_array_new_with_free_func((GDestroyNotify)vmctl_field_free);
	const gchar *version = vboxmem_client_get_version(client);

	vmctl_fields_add_text(fields,
			      _("vboxmemd version:"),
			      "version",
			      version != NULL ? version : "",
			      _("unknown"));
	vmctl_fields_add_mib(
		fields, _("Memory pool:"), "memorypool", vboxmem_client_get_memory_pool(client));
	vmctl_fields_add_mib(fields,
			     _("Memory committed:"),
			     "memorycommitted",
			     vboxmem_client_get_memory_committed(client));
	vmctl_fields_add_mib(fields,
			     _("Memory available:"),
			     "memoryavailable",
			     vboxmem_client_get_memory_available(client));
	vmctl_fields_add_mib(fields,
			     _("Memory overdrawn:"),
			     "memoryoverdrawn",
			     vboxmem_client_get_memory_overdrawn(client));
	vmctl_fields_add_mib(fields,
			     _("Page Fusion shared:"),
			     "pagefusionshared",
			     vboxmem_client_get_fusion_shared_bytes(client));
	vmctl_print_fields(fields, FALSE);
}

/* vboxmemctl list [--long] vms|runningvms|hostinfo */
gboolean
vmctl_cmd_list(VmctlContext *ctx, gint argc, gchar **argv, GError **error)
{
	gboolean long_format = FALSE;
	VmctlListWhat what = VMCTL_LIST_VMS;
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
	    !vmctl_parse_list_what(argv[1], &what, error))
		return FALSE;
	client = vmctl_get_client(ctx, error);
	if (client == NULL)
		return FALSE;
	if (what == VMCTL_LIST_HOST_INFO) {
		vmctl_print_host_info(client);
		return TRUE;
	}
	machines = vboxmem_client_get_machines(client);
	for (guint i = 0, shown = 0; i < machines->len; i++) {
		VboxmemMachine *machine = g_ptr_array_index(machines, i);
		g_autofree gchar *name = NULL;
		if (what == VMCTL_LIST_RUNNING_VMS && !vmctl_machine_is_running(machine))
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
