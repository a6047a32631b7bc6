/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-base.h"

/*
 * The worker's log: one line per event on standard error, "vboxmem-vm: ..."
 * (vboxmemd logs each line under the machine's name). Debug lines appear
 * when VBOXMEM_VM_DEBUG is set to anything but 0, or G_MESSAGES_DEBUG names
 * vboxmem-vm or all, as for GLib programs. At most VMM_LOG_LINES_PER_SECOND
 * lines are written a second; the others are counted in the next line.
 */
#define VMM_LOG_LINES_PER_SECOND 20

void vmm_message(const char *format, ...) VMM_PRINTF(1, 2);
void vmm_warning(const char *format, ...) VMM_PRINTF(1, 2);
void vmm_debug(const char *format, ...) VMM_PRINTF(1, 2);
/* Logs and aborts: for broken invariants and out-of-memory only. */
void vmm_fatal(const char *format, ...) VMM_PRINTF(1, 2) __attribute__((noreturn));

typedef enum {
	VMM_LOG_MESSAGE,
	VMM_LOG_WARNING,
	VMM_LOG_DEBUG,
} VmmLogLevel;

/* For tests: lines go to @handler instead of standard error (NULL: back to stderr). */
typedef void (*VmmLogHandler)(VmmLogLevel level, const char *message, void *user_data);
void vmm_log_set_handler(VmmLogHandler handler, void *user_data);

/* Precondition checks on the worker's own calls: a failure is a bug, logged once per call. */
#define vmm_return_val_if_fail(expr, value)                                                        \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			vmm_warning("%s: assertion '%s' failed", __func__, #expr);                 \
			return (value);                                                            \
		}                                                                                  \
	} while (0)
#define vmm_return_if_fail(expr)                                                                   \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			vmm_warning("%s: assertion '%s' failed", __func__, #expr);                 \
			return;                                                                    \
		}                                                                                  \
	} while (0)
