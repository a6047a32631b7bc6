/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vmd-settings.h"
#include "vmp-protocol.h"

G_BEGIN_DECLS

/* Where workers come from and what they run when a machine names no kernel. */
typedef struct {
	gchar *worker_path;
	gchar *guest_image;
	gchar *user;
	guint stats_interval_ms;
	gboolean memory_cgroups; /* run each worker in a memory cgroup of its own, where there is
				    one */
} VmdWorkerConfig;

#define VMD_TYPE_WORKER (vmd_worker_get_type())
G_DECLARE_FINAL_TYPE(VmdWorker, vmd_worker, VMD, WORKER, GObject)

/*
 * What a new worker is given: the machine's kernel and initrd, opened with
 * its owner's rights (-1 for none), and the cgroup.procs file of the memory
 * cgroup it joins before it runs (NULL for none).
 */
typedef struct {
	gint kernel_fd;
	gint initrd_fd;
	gchar *cgroup_procs;
} VmdWorkerFiles;

#define VMD_WORKER_FILES_INIT                                                                      \
	{                                                                                          \
		-1, -1, NULL                                                                       \
	}

/* Opens the files @settings names as its owner would; the default image needs none. */
gboolean vmd_worker_files_open(VmdWorkerFiles *files, const VmdSettings *settings, GError **error);
void vmd_worker_files_clear(VmdWorkerFiles *files);

/* Takes what @files holds. */
void vmd_worker_spawn(const VmdWorkerConfig *config,
		      const VmdSettings *settings,
		      VmdWorkerFiles *files,
		      const gchar *console_log,
		      GCancellable *cancellable,
		      GAsyncReadyCallback callback,
		      gpointer user_data);
VmdWorker *vmd_worker_spawn_finish(GAsyncResult *res, GError **error);

/* "running", "paused" or "stopped", as the worker last said. */
const gchar *vmd_worker_get_state(VmdWorker *self);
/* At most the machine's memory size: the worker's word is bounded, not believed. */
guint64 vmd_worker_get_balloon_actual(VmdWorker *self);
GVariant *vmd_worker_dup_guest_stats(VmdWorker *self);
gint64 vmd_worker_get_guest_stats_updated(VmdWorker *self);
GPid vmd_worker_get_pid(VmdWorker *self);
const gchar *vmd_worker_get_console_log(VmdWorker *self);

/*
 * Sends one request (VMP_KIND_SET_BALLOON_TARGET with @value in bytes,
 * SET_STATS_INTERVAL with @value in ms, PAUSE, RESUME or POWER_OFF) and
 * completes once the worker answered, with an error if it refused or did
 * not answer within a few seconds.
 */
void vmd_worker_call(VmdWorker *self,
		     VmpKind kind,
		     guint64 value,
		     GCancellable *cancellable,
		     GAsyncReadyCallback callback,
		     gpointer user_data);
gboolean vmd_worker_call_finish(VmdWorker *self, GAsyncResult *res, GError **error);
void vmd_worker_kill(VmdWorker *self);

G_END_DECLS
