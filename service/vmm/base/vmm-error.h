/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-base.h"

/*
 * Why something failed: an errno value that says what kind of failure it is
 * (EINVAL for bad input, ENOSPC for no room, ...) and a message for people.
 * Functions take a VmmError ** last and return false or NULL on failure,
 * as with GError.
 */
typedef struct {
	int code;
	char *message;
} VmmError;

bool vmm_set_error(VmmError **error, int code, const char *format, ...) VMM_PRINTF(3, 4);
bool vmm_set_error_valist(VmmError **error, int code, const char *format, va_list args)
	VMM_PRINTF(3, 0);
bool vmm_set_error_literal(VmmError **error, int code, const char *message);
/* Sets @error from errno as "WHAT failed: reason"; returns false. */
bool vmm_error_from_errno(VmmError **error, const char *what);
/* Prepends "PREFIX: " to the message of *@error, if set. */
void vmm_prefix_error(VmmError **error, const char *format, ...) VMM_PRINTF(2, 3);
void vmm_error_free(VmmError *error);
void vmm_clear_error(VmmError **error);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmError, vmm_error_free)
