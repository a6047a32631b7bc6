/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VBOXMEM_ERROR:
 *
 * The error domain of vboxmemd and libvboxmem. Errors that cross the bus as
 * `org.vboxmem.VBoxMem1.Error.*` arrive in this domain.
 */
#define VBOXMEM_ERROR (vboxmem_error_quark())

/**
 * VboxmemError:
 * @VBOXMEM_ERROR_FAILED: The operation failed for a reason without a code of its own.
 * @VBOXMEM_ERROR_NOT_AUTHORIZED: The caller is not allowed to do this.
 * @VBOXMEM_ERROR_NOT_AUTHORIZED_CAN_OBTAIN: The caller may do this after authenticating.
 * @VBOXMEM_ERROR_NOT_AUTHORIZED_DISMISSED: The authentication dialog was dismissed.
 * @VBOXMEM_ERROR_POLKIT_UNAVAILABLE: The authorization service (polkit) could not be asked.
 * @VBOXMEM_ERROR_NO_SUCH_MACHINE: No machine has that name.
 * @VBOXMEM_ERROR_ALREADY_EXISTS: A machine with that name exists already.
 * @VBOXMEM_ERROR_INVALID_ARGUMENT: A name, size, key or value is not acceptable.
 * @VBOXMEM_ERROR_INVALID_STATE: The machine is not in a state that allows this.
 * @VBOXMEM_ERROR_INSUFFICIENT_MEMORY: The memory pool cannot hold the machine.
 * @VBOXMEM_ERROR_NOT_SUPPORTED: The operation is not supported (yet).
 *
 * Error codes of the #VBOXMEM_ERROR domain.
 */
typedef enum {
	VBOXMEM_ERROR_FAILED,
	VBOXMEM_ERROR_NOT_AUTHORIZED,
	VBOXMEM_ERROR_NOT_AUTHORIZED_CAN_OBTAIN,
	VBOXMEM_ERROR_NOT_AUTHORIZED_DISMISSED,
	VBOXMEM_ERROR_POLKIT_UNAVAILABLE,
	VBOXMEM_ERROR_NO_SUCH_MACHINE,
	VBOXMEM_ERROR_ALREADY_EXISTS,
	VBOXMEM_ERROR_INVALID_ARGUMENT,
	VBOXMEM_ERROR_INVALID_STATE,
	VBOXMEM_ERROR_INSUFFICIENT_MEMORY,
	VBOXMEM_ERROR_NOT_SUPPORTED,
	/*< private >*/
	VBOXMEM_ERROR_LAST
} VboxmemError;

GQuark vboxmem_error_quark(void);

G_END_DECLS
