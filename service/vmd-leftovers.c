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

/* Adds @pid under every file it holds open. */
static void
add_open_files(GHashTable *found, const gchar *pid)
{
	g_autofree gchar *fd_dir = g_build_filename("/proc", pid, "fd", NULL);
	g_autoptr(GDir) dir = g_dir_open(fd_dir, 0, NULL);
	const gchar *fd;

	while (dir != NULL && (fd = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *link = g_build_filename(fd_dir, fd, NULL);
		gchar *target = g_file_read_link(link, NULL);
		GArray *pids;

		if (target == NULL)
			continue;
		pids = g_hash_table_lookup(found, target);
		if (pids == NULL) {
			pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
			g_hash_table_insert(found, target, pids);
		} else {
			g_free(target);
		}
		g_array_append_val(pids, (pid_t){(pid_t)g_ascii_strtoll(pid, NULL, 10)});
	}
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

GHashTable *
vmd_leftovers_find(const gchar *worker_path)
{
	g_autofree gchar *binary = g_canonicalize_filename(worker_path, NULL);
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	GHashTable *found = g_hash_table_new_full(
		g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_array_unref);
	const gchar *entry;

	while (proc != NULL && (entry = g_dir_read_name(proc)) != NULL) {
		g_autofree gchar *exe = NULL;

		if (!g_ascii_isdigit(entry[0]) || g_ascii_strtoll(entry, NULL, 10) == getpid())
			continue;
		exe = g_build_filename("/proc", entry, "exe", NULL);
		if (link_is(exe, binary))
			add_open_files(found, entry);
	}
	return found;
}

guint
vmd_leftovers_end(GHashTable *found, const gchar *console_log, const gchar *machine)
{
	GArray *pids = g_hash_table_lookup(found, console_log);

	for (guint i = 0; pids != NULL && i < pids->len; i++)
		end_process(g_array_index(pids, pid_t, i), machine);
	return pids != NULL ? pids->len : 0;
}
