/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Ends the workers an earlier vboxmemd left behind for @machine: processes
 * of @worker_path that hold its console log @console_log open. A worker
 * notices when its daemon goes away, unless it is stopped (SIGSTOP) or
 * stuck; without this a restarted vboxmemd would run a second worker for
 * the same machine while the first still holds its memory. The kernel's
 * view of open files is used, not the process's argv, which it can rewrite.
 *
 * Returns how many were ended.
 */
guint
vmd_end_leftover_workers(const gchar *worker_path, const gchar *console_log, const gchar *machine);

G_END_DECLS
