/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "vmd-leftovers.h"

#define GONE_TIMEOUT_US (2 * G_USEC_PER_SEC)

static gboolean
link_is(const gchar *link, const gchar *target)
{
	g_autofree gchar *value = g_file_read_link(link, NULL);

	/* A worker binary replaced by an upgrade reads as "PATH (deleted)". */
	return value != NULL && (g_strcmp0(value, target) == 0 ||
				 (g_str_has_prefix(value, target) &&
				  g_strcmp0(value + strlen(target), " (deleted)") == 0));
}

static gboolean
holds_open(const gchar *pid, const gchar *path)
{
	g_autofree gchar *fd_dir = g_build_filename("/proc", pid, "fd", NULL);
	g_autoptr(GDir) dir = g_dir_open(fd_dir, 0, NULL);
	const gchar *fd;

	while (dir != NULL && (fd = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *link = g_build_filename(fd_dir, fd, NULL);

		if (link_is(link, path))
			return TRUE;
	}
	return FALSE;
}

static gboolean
process_gone(pid_t pid)
{
	g_autofree gchar *stat_path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree gchar *stat = NULL;
	const gchar *state;

	if (!g_file_get_contents(stat_path, &stat, NULL, NULL))
		return TRUE;
	/* A zombie holds no memory any more: its parent (init) reaps it. */
	state = strrchr(stat, ')');
	return state != NULL && state[1] == ' ' && state[2] == 'Z';
}

static void
end_process(pid_t pid, const gchar *machine)
{
	gint64 deadline = g_get_monotonic_time() + GONE_TIMEOUT_US;

	g_warning(
		"Machine %s: ending worker %d, left running by an earlier vboxmemd", machine, pid);
	kill(pid, SIGKILL);
	while (!process_gone(pid) && g_get_monotonic_time() < deadline)
		g_usleep(10000);
	if (!process_gone(pid))
		g_warning("Machine %s: worker %d is still there after SIGKILL", machine, pid);
}

guint
vmd_end_leftover_workers(const gchar *worker_path, const gchar *console_log, const gchar *machine)
{
	g_autofree gchar *binary = g_canonicalize_filename(worker_path, NULL);
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const gchar *entry;
	guint ended = 0;

	while (proc != NULL && (entry = g_dir_read_name(proc)) != NULL) {
		g_autofree gchar *exe = NULL;
		pid_t pid;

		if (!g_ascii_isdigit(entry[0]))
			continue;
		pid = (pid_t)g_ascii_strtoll(entry, NULL, 10);
		exe = g_build_filename("/proc", entry, "exe", NULL);
		if (pid == getpid() || !link_is(exe, binary) || !holds_open(entry, console_log))
			continue;
		end_process(pid, machine);
		ended++;
	}
	return ended;
}
