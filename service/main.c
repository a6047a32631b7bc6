/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>

#include "vboxmem-error.h"
#include "vmd-daemon.h"

#define BUS_NAME "org.vboxmem.VBoxMem1"

typedef struct {
	GMainLoop *loop;
	VmdDaemon *daemon;
	gboolean name_acquired;
	int exit_status;
} Service;

static void
bus_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	Service *service = user_data;
	vmd_daemon_export(service->daemon, connection);
}

static void
name_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	Service *service = user_data;
	service->name_acquired = TRUE;
	g_info("Serving %s", name);
}

static void
name_lost_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	Service *service = user_data;

	if (connection == NULL)
		g_printerr("vboxmemd: cannot connect to the system bus\n");
	else if (!service->name_acquired)
		g_printerr("vboxmemd: cannot own %s on the system bus (already running, "
			   "or the bus policy forbids it)\n",
			   name);
	else
		g_info("Lost the name %s; exiting", name);
	service->exit_status = service->name_acquired ? EXIT_SUCCESS : EXIT_FAILURE;
	g_main_loop_quit(service->loop);
}

static gboolean
quit_signal_cb(gpointer user_data)
{
	Service *service = user_data;
	g_info("Stopping on signal");
	g_main_loop_quit(service->loop);
	return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *state_dir = NULL;
	g_autofree gchar *config_path = NULL;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(VmdDaemon) daemon = NULL;
	gboolean verbose = FALSE;
	gboolean replace = FALSE;
	gboolean version = FALSE;
	Service service = {0};
	guint owner_id;
	const GOptionEntry entries[] = {
		{"state-dir",
		 0,
		 0,
		 G_OPTION_ARG_FILENAME,
		 &state_dir,
		 "Directory of the machine settings files (default " VBOXMEM_STATEDIR ")",
		 "DIR"},
		{"config",
		 'c',
		 0,
		 G_OPTION_ARG_FILENAME,
		 &config_path,
		 "Configuration file (default " VBOXMEM_SYSCONFDIR "/vboxmemd.conf)",
		 "FILE"},
		{"replace",
		 'r',
		 0,
		 G_OPTION_ARG_NONE,
		 &replace,
		 "Replace a running instance",
		 NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL},
		{"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
		{NULL}};

	setlocale(LC_ALL, "");
	context = g_option_context_new(NULL);
	g_option_context_set_summary(
		context,
		"The vboxmem system service: runs virtual machines with memory "
		"ballooning and Page Fusion for clients on the system bus.");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("vboxmemd: %s\n", error->message);
		return 2;
	}
	if (version) {
		g_print("vboxmemd %s\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (verbose)
		g_log_set_debug_enabled(TRUE);
	else
		g_setenv("G_MESSAGES_DEBUG", "", TRUE);

	/* Register the D-Bus names of our errors before any reply is sent. */
	(void)VBOXMEM_ERROR;
	daemon = vmd_daemon_new(
		state_dir != NULL ? state_dir : VBOXMEM_STATEDIR, config_path, &error);
	if (daemon == NULL) {
		g_printerr("vboxmemd: %s\n", error->message);
		return EXIT_FAILURE;
	}

	loop = g_main_loop_new(NULL, FALSE);
	service.loop = loop;
	service.daemon = daemon;
	g_unix_signal_add(SIGTERM, quit_signal_cb, &service);
	g_unix_signal_add(SIGINT, quit_signal_cb, &service);
	owner_id = g_bus_own_name(G_BUS_TYPE_SYSTEM,
				  BUS_NAME,
				  G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
					  (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
				  bus_acquired_cb,
				  name_acquired_cb,
				  name_lost_cb,
				  &service,
				  NULL);
	g_main_loop_run(loop);
	g_bus_unown_name(owner_id);
	return service.exit_status;
}
