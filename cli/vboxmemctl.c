/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmctl.h"

static const VmctlVerb vmctl_verbs[] = {
	{"list",
	 "vms|runningvms|hostinfo",
	 N_("List the registered machines, those running, or the host's memory."),
	 N_("vms and runningvms print one line per machine: its name in quotes and its\n"
	    "object path in braces; with --long, the settings and state of each machine\n"
	    "instead. hostinfo prints the version of vboxmemd and its memory pool in MiB:\n"
	    "its size, the part running machines hold, the part still available and how\n"
	    "far guests that took memory back from their balloons overdrew it."),
	 FALSE,
	 vmctl_cmd_list},
	{"showvminfo",
	 "NAME",
	 N_("Show the settings and state of a machine."),
	 N_("Sizes are in MiB. With --machinereadable, prints key=value lines as VBoxManage\n"
	    "does: strings in double quotes, numbers bare; guest statistics in bytes.\n"
	    "With --log, prints the serial console log of the machine's current or last run\n"
	    "instead, control characters escaped; another user's log needs the polkit\n"
	    "action org.vboxmem.machine.control-other."),
	 FALSE,
	 vmctl_cmd_showvminfo},
	{"createvm",
	 "--name NAME --memory MiB",
	 N_("Create and register a machine."),
	 N_("Relative --kernel and --initrd paths are made absolute against the current "
	    "directory.\n"
	    "Requires the polkit action org.vboxmem.machine.create."),
	 TRUE,
	 vmctl_cmd_createvm},
	{"modifyvm",
	 "NAME",
	 N_("Change the settings of a powered-off machine."),
	 N_("Only the settings given change. Requires the polkit action\n"
	    "org.vboxmem.machine.modify."),
	 TRUE,
	 vmctl_cmd_modifyvm},
	{"unregistervm",
	 "NAME",
	 N_("Remove a powered-off machine and its settings."),
	 N_("Requires the polkit action org.vboxmem.machine.unregister."),
	 TRUE,
	 vmctl_cmd_unregistervm},
	{"startvm",
	 "NAME",
	 N_("Start a machine."),
	 N_("Fails with exit status 7 when the memory pool cannot hold the machine.\n"
	    "Requires the polkit action org.vboxmem.machine.control."),
	 TRUE,
	 vmctl_cmd_startvm},
	{"controlvm",
	 "NAME poweroff|pause|resume|guestmemoryballoon MiB",
	 N_("Control a running machine."),
	 N_("Actions:\n"
	    "  poweroff                Power the machine off\n"
	    "  pause                   Stop its virtual CPUs\n"
	    "  resume                  Let a paused machine run again\n"
	    "  guestmemoryballoon MiB  Resize the balloon of the running guest; the guest\n"
	    "                          gives the memory back in its own time\n"
	    "\n"
	    "Requires the polkit action org.vboxmem.machine.control."),
	 TRUE,
	 vmctl_cmd_controlvm},
	{"metrics",
	 "list|query|collect [OBJECTS [METRICS]]",
	 N_("List, query or collect memory metrics of machines and the host."),
	 N_("Commands:\n"
	    "  list     The objects and metrics sampled now, with their units\n"
	    "  query    The latest values, sizes in MiB\n"
	    "  collect  The values every --period seconds and, for every running machine,\n"
	    "           a bar of its memory: used, cache, free, balloon and shared;\n"
	    "           until --samples samples were shown or Ctrl-C\n"
	    "\n"
	    "OBJECTS is a comma-separated list of machine names, \"host\" or \"*\" (all).\n"
	    "METRICS is a comma-separated list of metric names or patterns with '*', each\n"
	    "optionally followed by :avg, :min or :max, e.g. Guest/RAM/Usage/*,RAM/VMM/Shared.\n"
	    "Metrics: Guest/RAM/Usage/{Total,Free,Balloon,Shared,Cache,Hinted},\n"
	    "RAM/VMM/{Used,Free,Ballooned,Shared}."),
	 FALSE,
	 vmctl_cmd_metrics},
};

static const gchar vmctl_exit_status_text[] =
	N_("Exit status:\n"
	   "  0  success\n"
	   "  1  failure\n"
	   "  2  usage error: unknown command, bad option or argument\n"
	   "  3  not authorized\n"
	   "  4  no such machine\n"
	   "  5  invalid argument, or the machine exists already\n"
	   "  6  the machine is not in a state that allows this\n"
	   "  7  not enough memory\n"
	   "  8  not supported\n"
	   "  9  vboxmemd or polkit cannot be reached\n"
	   "\n"
	   "Run \"vboxmemctl COMMAND --help\" for the options of a command.");

static const VmctlVerb *
vmctl_verb_lookup(const gchar *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(vmctl_verbs); i++) {
		if (g_strcmp0(vmctl_verbs[i].name, name) == 0)
			return &vmctl_verbs[i];
	}
	return NULL;
}

static gchar *
vmctl_commands_summary(void)
{
	GString *str = g_string_new(_("Commands:"));

	for (guint i = 0; i < G_N_ELEMENTS(vmctl_verbs); i++)
		g_string_append_printf(
			str, "\n  %-14s %s", vmctl_verbs[i].name, _(vmctl_verbs[i].summary));
	return g_string_free(str, FALSE);
}

/* parses the options before the command; stops at the command's name */
static gboolean
vmctl_parse_global_options(VmctlContext *ctx, gint *argc, gchar ***argv, GError **error)
{
	gboolean version = FALSE;
	const GOptionEntry entries[] = {
		{"version",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &version,
		 N_("Show the version and exit"),
		 NULL},
		{"no-user-interaction",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &ctx->no_user_interaction,
		 N_("Never ask for authentication; fail with exit status 3 instead"),
		 NULL},
		{NULL}};
	const GOptionEntry *const groups[] = {entries, NULL};
	g_autoptr(GOptionContext) option_context = g_option_context_new(_("COMMAND [ARG...]"));
	g_autofree gchar *summary = vmctl_commands_summary();

	g_option_context_set_translation_domain(option_context, GETTEXT_PACKAGE);
	g_option_context_set_strict_posix(option_context, TRUE);
	g_option_context_set_summary(option_context, summary);
	g_option_context_set_description(option_context, _(vmctl_exit_status_text));
	g_option_context_add_main_entries(option_context, entries, GETTEXT_PACKAGE);
	if (!vmctl_check_flags_without_values(groups, TRUE, *argc, *argv, error) ||
	    !g_option_context_parse(option_context, argc, argv, error))
		return FALSE;
	if (version) {
		printf("vboxmemctl %s\n", PACKAGE_VERSION);
		exit(VMCTL_EXIT_OK);
	}
	return TRUE;
}

static VmctlExit
vmctl_run(gint argc, gchar **argv)
{
	VmctlContext ctx = {NULL};
	g_autoptr(GError) error = NULL;
	gboolean ok;

	if (!vmctl_parse_global_options(&ctx, &argc, &argv, &error))
		return vmctl_report_error(NULL, error);
	if (argc < 2) {
		g_set_error_literal(&error, VMCTL_ERROR, VMCTL_ERROR_USAGE, _("no command given"));
		return vmctl_report_error(NULL, error);
	}
	ctx.verb = vmctl_verb_lookup(argv[1]);
	if (ctx.verb == NULL) {
		g_autofree gchar *shown = vmctl_escape(argv[1], FALSE);
		g_set_error(
			&error, VMCTL_ERROR, VMCTL_ERROR_USAGE, _("unknown command \"%s\""), shown);
		return vmctl_report_error(NULL, error);
	}
	ctx.needs_authorization = ctx.verb->needs_authorization;

	ok = ctx.verb->run(&ctx, argc - 1, argv + 1, &error);
	vmctl_agent_stop();
	g_clear_object(&ctx.client);
	if (!ok)
		return vmctl_report_error(ctx.verb, error);
	return VMCTL_EXIT_OK;
}

int
main(int argc, char *argv[])
{
	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
	g_set_prgname("vboxmemctl");
	return vmctl_run(argc, argv);
}
