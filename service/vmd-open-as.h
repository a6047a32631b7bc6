/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Opens the regular file @path for reading with the rights of @uid (its
 * primary and supplementary groups included), in a short-lived child
 * process, and without following a symbolic link at its end: vboxmemd runs
 * as root, and must not read for a user what the user may not read. Every
 * failure (missing, unreadable, not a regular file, a symbolic link) gets
 * the same kind of error, so that the answer says nothing about files the
 * user cannot see. @what names the file in the message ("Kernel").
 *
 * Returns a close-on-exec descriptor, or -1 with @error set.
 */
gint vmd_open_as_user(const gchar *path, guint32 uid, const gchar *what, GError **error);

/*
 * Checks that @uid can read the Kernel and Initrd that the a{sv} @changes
 * set (an empty path clears them and needs no check).
 */
gboolean vmd_check_paths_readable(GVariant *changes, guint32 uid, GError **error);

G_END_DECLS
