/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "vmm-control.h"
#include "vmm-sandbox.h"
#include "vmm-vm.h"

#define DEFAULT_CONSOLE_LOG_LIMIT (G_GUINT64_CONSTANT(4) << 20)
#define EXIT_VM_FAILED 1
#define EXIT_USAGE 2

typedef struct {
	gchar *kernel;
	gchar *initrd;
	gchar *cmdline;
	gint64 memory_mib;
	gint cpus;
	gint64 balloon_mib;
	gboolean deflate_on_oom;
	gboolean free_page_reporting;
	gchar *console_log;
	gint64 console_log_limit;
	gchar *control_socket;
	gint control_fd;
	gint stats_interval_ms;
	gchar *user;
	gboolean no_sandbox;
} Options;

typedef struct {
	GMainLoop *loop;
	VmmControl *control;
	int exit_status;
} Worker;

static gboolean
bad_value(GError **error, const gchar *message)
{
	g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, message);
	return FALSE;
}

static void
options_clear(Options *opts)
{
	g_free(opts->kernel);
	g_free(opts->initrd);
	g_free(opts->cmdline);
	g_free(opts->console_log);
	g_free(opts->control_socket);
	g_free(opts->user);
}

#ifdef __SANITIZE_ADDRESS__
/*
 * LeakSanitizer checks at exit from a helper process whose system calls the
 * worker's seccomp filter refuses: in sanitizer builds, leave leaks to the
 * unit tests of the device models.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static gboolean
parse_options(int *argc, char ***argv, Options *opts, GError **error)
{
	const GOptionEntry entries[] = {
		{"kernel",
		 0,
		 0,
		 G_OPTION_ARG_FILENAME,
		 &opts->kernel,
		 "Guest kernel (ELF with a PVH or vboxmem entry note, or bzImage)",
		 "FILE"},
		{"initrd", 0, 0, G_OPTION_ARG_FILENAME, &opts->initrd, "Initial ramdisk", "FILE"},
		{"cmdline",
		 0,
		 0,
		 G_OPTION_ARG_STRING,
		 &opts->cmdline,
		 "Kernel command line",
		 "TEXT"},
		{"memory",
		 0,
		 0,
		 G_OPTION_ARG_INT64,
		 &opts->memory_mib,
		 "Guest RAM in MiB (a multiple of 2)",
		 "MiB"},
		{"cpus", 0, 0, G_OPTION_ARG_INT, &opts->cpus, "Number of vCPUs (default 1)", "N"},
		{"balloon",
		 0,
		 0,
		 G_OPTION_ARG_INT64,
		 &opts->balloon_mib,
		 "Balloon size to ask for at start, in MiB",
		 "MiB"},
		{"deflate-on-oom",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &opts->deflate_on_oom,
		 "Let the guest deflate the balloon when it runs out of memory",
		 NULL},
		{"free-page-reporting",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &opts->free_page_reporting,
		 "Accept free page reports from the guest",
		 NULL},
		{"stats-interval",
		 0,
		 0,
		 G_OPTION_ARG_INT,
		 &opts->stats_interval_ms,
		 "Ask the guest for statistics every MS milliseconds (0: never)",
		 "MS"},
		{"console-log",
		 0,
		 0,
		 G_OPTION_ARG_FILENAME,
		 &opts->console_log,
		 "Write the serial console to FILE ('-' for standard output)",
		 "FILE"},
		{"console-log-limit",
		 0,
		 0,
		 G_OPTION_ARG_INT64,
		 &opts->console_log_limit,
		 "Restart the console log at this many bytes",
		 "BYTES"},
		{"control-socket",
		 0,
		 0,
		 G_OPTION_ARG_FILENAME,
		 &opts->control_socket,
		 "Serve the worker interface on a new unix socket at PATH",
		 "PATH"},
		{"control-fd",
		 0,
		 0,
		 G_OPTION_ARG_INT,
		 &opts->control_fd,
		 "Serve the worker interface on the inherited connected socket FD",
		 "FD"},
		{"user",
		 0,
		 0,
		 G_OPTION_ARG_STRING,
		 &opts->user,
		 "When started as root, run as USER (default vboxmem)",
		 "USER"},
		{"no-sandbox",
		 0,
		 0,
		 G_OPTION_ARG_NONE,
		 &opts->no_sandbox,
		 "Keep privileges and skip the seccomp filter (debugging only)",
		 NULL},
		{NULL}};
	g_autoptr(GOptionContext) context = g_option_context_new(NULL);

	g_option_context_set_summary(
		context, "Runs one KVM virtual machine for vboxmemd, or standalone for tests.");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, argc, argv, error))
		return FALSE;
	if (opts->kernel == NULL)
		return bad_value(error, "--kernel is required");
	if (opts->memory_mib <= 0)
		return bad_value(error, "--memory is required, in MiB, above 0");
	if (opts->balloon_mib < 0 || opts->balloon_mib > opts->memory_mib)
		return bad_value(error, "--balloon must be between 0 and --memory");
	if (opts->memory_mib > (gint64)(G_MAXUINT64 >> 20))
		return bad_value(error, "--memory is too large");
	if (opts->cpus < 0)
		return bad_value(error, "--cpus must be positive");
	if (opts->stats_interval_ms < 0)
		return bad_value(error, "--stats-interval must not be negative");
	if (opts->console_log_limit < 0)
		return bad_value(error, "--console-log-limit must not be negative");
	return TRUE;
}

static void
vm_stopped_cb(VmmVm *vm, const VmmStopInfo *info, gpointer user_data)
{
	Worker *worker = user_data;

	g_message("VM stopped: %s", info->reason != NULL ? info->reason : "unknown reason");
	if (info->guest_exited)
		worker->exit_status = info->exit_status == 0 ? EXIT_SUCCESS : EXIT_VM_FAILED;
	else if (info->requested)
		worker->exit_status = EXIT_SUCCESS;
	else
		worker->exit_status = EXIT_VM_FAILED;
	if (worker->control != NULL)
		vmm_control_vm_stopped(worker->control, info);
	else
		g_main_loop_quit(worker->loop);
}

static gboolean
quit_signal_cb(gpointer user_data)
{
	vmm_vm_power_off(user_data, "stopped by a signal");
	return G_SOURCE_CONTINUE;
}

static VmmConfig
config_from_options(const Options *opts)
{
	VmmConfig config = {
		.memory_size = (guint64)opts->memory_mib * VMM_MIB,
		.n_vcpus = opts->cpus > 0 ? (guint)opts->cpus : 1,
		.kernel = opts->kernel,
		.initrd = opts->initrd,
		.cmdline = opts->cmdline,
		.console_log = opts->console_log,
		.console_log_limit = opts->console_log_limit > 0 ? (guint64)opts->console_log_limit
								 : DEFAULT_CONSOLE_LOG_LIMIT,
		.balloon = {opts->deflate_on_oom, opts->free_page_reporting, TRUE},
		.balloon_target = (guint64)opts->balloon_mib * VMM_MIB,
	};
	return config;
}

static gboolean
setup_control(Worker *worker, VmmVm *vm, const Options *opts, GError **error)
{
	VmmBalloonListener listener;

	if (opts->control_socket == NULL && opts->control_fd <= 0)
		return TRUE;
	worker->control = vmm_control_new(vm, worker->loop);
	listener = vmm_control_balloon_listener(worker->control);
	vmm_vm_set_balloon_listener(vm, &listener);
	if (opts->control_fd > 0)
		return vmm_control_take_fd(worker->control, opts->control_fd, error);
	umask(0077);
	if (!vmm_control_listen(worker->control, opts->control_socket, error))
		return FALSE;
	return opts->no_sandbox || vmm_sandbox_give_file(opts->control_socket, opts->user, error);
}

static int
run_worker(const Options *opts)
{
	Worker worker = {.exit_status = EXIT_VM_FAILED};
	g_autoptr(GError) error = NULL;
	g_autoptr(VmmVm) vm = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	VmmConfig config = config_from_options(opts);

	worker.loop = loop;
	vm = vmm_vm_new(&config, &error);
	if (vm == NULL || !setup_control(&worker, vm, opts, &error) ||
	    (!opts->no_sandbox && !vmm_sandbox_enter(opts->user, &error)) ||
	    !vmm_vm_start(vm, vm_stopped_cb, &worker, &error)) {
		g_printerr("vboxmem-vm: %s\n", error->message);
		g_clear_pointer(&worker.control, vmm_control_free);
		return EXIT_VM_FAILED;
	}
	if (worker.control != NULL && opts->stats_interval_ms > 0)
		vmm_control_set_stats_interval(worker.control, (guint)opts->stats_interval_ms);
	g_unix_signal_add(SIGTERM, quit_signal_cb, vm);
	g_unix_signal_add(SIGINT, quit_signal_cb, vm);
	g_main_loop_run(loop);
	g_clear_pointer(&worker.control, vmm_control_free);
	return worker.exit_status;
}

int
main(int argc, char **argv)
{
	Options opts = {.control_fd = -1};
	g_autoptr(GError) error = NULL;
	int status;

	setlocale(LC_ALL, "");
	if (!parse_options(&argc, &argv, &opts, &error)) {
		g_printerr("vboxmem-vm: %s\n", error->message);
		options_clear(&opts);
		return EXIT_USAGE;
	}
	status = run_worker(&opts);
	options_clear(&opts);
	return status;
}
