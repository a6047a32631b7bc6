/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

#include "vmm-error.h"

/* g_assert_no_error() and g_assert_error() for the worker's VmmError. */
#define vmm_assert_no_error(err)                                                                   \
	do {                                                                                       \
		if ((err) != NULL)                                                                 \
			g_error("%s:%d: unexpected error: %s",                                     \
				__FILE__,                                                          \
				__LINE__,                                                          \
				(err)->message);                                                   \
	} while (0)
#define vmm_assert_error(err, errno_value)                                                         \
	do {                                                                                       \
		g_assert_nonnull(err);                                                             \
		g_assert_cmpint((err)->code, ==, (errno_value));                                   \
	} while (0)
