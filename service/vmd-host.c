/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <stdio.h>
#include <unistd.h>

#include "vmd-host.h"

#define GIB (G_GUINT64_CONSTANT(1) << 30)

/* MemTotal from /proc/meminfo, in bytes. */
guint64
vmd_host_memory_total(GError **error)
{
	g_autofree gchar *meminfo = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/meminfo", &meminfo, NULL, error))
		return 0;
	lines = g_strsplit(meminfo, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		guint64 kib = 0;
		if (sscanf(lines[i], "MemTotal: %" G_GUINT64_FORMAT " kB", &kib) == 1)
			return kib * 1024;
	}
	g_set_error_literal(
		error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "/proc/meminfo has no MemTotal line");
	return 0;
}

/* What VMs may use when no configuration says otherwise: all but a reserve for the host. */
guint64
vmd_host_default_pool(guint64 memory_total)
{
	guint64 reserve = MIN(memory_total / 4, GIB);
	return memory_total - reserve;
}

/* Resident memory of process @pid in bytes, 0 if it cannot be read (it may have just exited). */
guint64
vmd_host_process_rss(GPid pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/statm", (int)pid);
	g_autofree gchar *statm = NULL;
	guint64 pages = 0;

	/* the second field, in pages: what /proc/PID/status shows as VmRSS */
	if (pid <= 0 || !g_file_get_contents(path, &statm, NULL, NULL))
		return 0;
	if (sscanf(statm, "%*u %" G_GUINT64_FORMAT, &pages) != 1)
		return 0;
	return pages * (guint64)sysconf(_SC_PAGESIZE);
}
