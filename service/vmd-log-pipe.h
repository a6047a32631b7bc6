/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * A worker's stderr, read as lines into vboxmemd's log, bounded on every
 * side: a line is cut at VMD_LOG_PIPE_MAX_LINE bytes, at most
 * VMD_LOG_PIPE_LINES_PER_SECOND lines are logged a second (the others are
 * counted, then reported as suppressed), and at most
 * VMD_LOG_PIPE_BYTES_PER_SECOND are read a second: a worker writing faster
 * waits on its full pipe, not on vboxmemd.
 *
 * Signals: "closed" once the pipe reached its end.
 */
#define VMD_LOG_PIPE_MAX_LINE 1024
#define VMD_LOG_PIPE_LINES_PER_SECOND 20
#define VMD_LOG_PIPE_BYTES_PER_SECOND (1024 * 1024)

#define VMD_TYPE_LOG_PIPE (vmd_log_pipe_get_type())
G_DECLARE_FINAL_TYPE(VmdLogPipe, vmd_log_pipe, VMD, LOG_PIPE, GObject)

/* Takes @fd; lines are logged as "@prefix: line". */
VmdLogPipe *vmd_log_pipe_new(int fd, const gchar *prefix);
/* The last line read, escaped and cut as it was logged; NULL if none. */
const gchar *vmd_log_pipe_get_last_line(VmdLogPipe *self);

G_END_DECLS
