/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gio.h>

#include "vmm-error.h"

/* Sets @error from errno as "WHAT failed: reason"; returns FALSE for `return vmm_error_...`. */
gboolean
vmm_error_from_errno(GError **error, const gchar *what)
{
	int saved_errno = errno;

	g_set_error(error,
		    G_IO_ERROR,
		    g_io_error_from_errno(saved_errno),
		    "%s failed: %s",
		    what,
		    g_strerror(saved_errno));
	return FALSE;
}
