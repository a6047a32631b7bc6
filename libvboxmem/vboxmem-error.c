/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "vboxmem-error.h"

/**
 * SECTION:vboxmem-error
 * @title: Errors
 * @short_description: The error domain shared by vboxmemd and libvboxmem
 *
 * Every error vboxmemd returns has a D-Bus name
 * `org.vboxmem.VBoxMem1.Error.NAME`; the table below maps each to a
 * #VboxmemError code, so a client gets `VBOXMEM_ERROR` errors back.
 */

static const GDBusErrorEntry vboxmem_error_entries[] = {
	{VBOXMEM_ERROR_FAILED, "org.vboxmem.VBoxMem1.Error.Failed"},
	{VBOXMEM_ERROR_NOT_AUTHORIZED, "org.vboxmem.VBoxMem1.Error.NotAuthorized"},
	{VBOXMEM_ERROR_NOT_AUTHORIZED_CAN_OBTAIN,
	 "org.vboxmem.VBoxMem1.Error.NotAuthorizedCanObtain"},
	{VBOXMEM_ERROR_NOT_AUTHORIZED_DISMISSED,
	 "org.vboxmem.VBoxMem1.Error.NotAuthorizedDismissed"},
	{VBOXMEM_ERROR_POLKIT_UNAVAILABLE, "org.vboxmem.VBoxMem1.Error.PolkitUnavailable"},
	{VBOXMEM_ERROR_NO_SUCH_MACHINE, "org.vboxmem.VBoxMem1.Error.NoSuchMachine"},
	{VBOXMEM_ERROR_ALREADY_EXISTS, "org.vboxmem.VBoxMem1.Error.AlreadyExists"},
	{VBOXMEM_ERROR_INVALID_ARGUMENT, "org.vboxmem.VBoxMem1.Error.InvalidArgument"},
	{VBOXMEM_ERROR_INVALID_STATE, "org.vboxmem.VBoxMem1.Error.InvalidState"},
	{VBOXMEM_ERROR_INSUFFICIENT_MEMORY, "org.vboxmem.VBoxMem1.Error.InsufficientMemory"},
	{VBOXMEM_ERROR_NOT_SUPPORTED, "org.vboxmem.VBoxMem1.Error.NotSupported"},
};

G_STATIC_ASSERT(G_N_ELEMENTS(vboxmem_error_entries) == VBOXMEM_ERROR_LAST);

/**
 * vboxmem_error_quark:
 *
 * Registers the D-Bus names of the #VboxmemError codes on first use.
 *
 * Returns: the quark of the #VBOXMEM_ERROR domain
 */
GQuark
vboxmem_error_quark(void)
{
	static gsize quark = 0;

	g_dbus_error_register_error_domain("vboxmem-error-quark",
					   &quark,
					   vboxmem_error_entries,
					   G_N_ELEMENTS(vboxmem_error_entries));
	return (GQuark)quark;
}
