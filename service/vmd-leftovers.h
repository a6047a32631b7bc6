/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The workers an earlier vboxmemd may have left behind: a worker notices
 * when its daemon goes away, unless it is stopped (SIGSTOP) or stuck, and a
 * restarted vboxmemd must not run a second worker for a machine while the
 * first still holds its memory. Workers are told apart by the machine's
 * console log each holds open: the kernel's view of open files, not argv,
 * which a process can rewrite.
 */

/* One pass over /proc: the processes of @worker_path, by every file they hold open. */
GHashTable *vmd_leftovers_find(const gchar *worker_path);
/* Ends the processes in @found that hold @console_log open; returns how many. */
guint vmd_leftovers_end(GHashTable *found, const gchar *console_log, const gchar *machine);

G_END_DECLS
