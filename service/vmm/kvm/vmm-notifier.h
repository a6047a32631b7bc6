/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

/*
 * A thread that waits on eventfds and calls a function for each one that is
 * signalled: where a VM's ioeventfds land. Thread-safe.
 */
typedef struct _VmmNotifier VmmNotifier;
typedef struct _VmmNotifierWatch VmmNotifierWatch;

typedef void (*VmmNotifierFunc)(void *user_data);

VmmNotifier *vmm_notifier_new(VmmError **error);
/* Stops the thread if it runs. */
void vmm_notifier_free(VmmNotifier *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmNotifier, vmm_notifier_free)

void vmm_notifier_start(VmmNotifier *self);
/* Joins the thread: no function runs any more once it returns. */
void vmm_notifier_stop(VmmNotifier *self);

/*
 * Takes @fd, a non-blocking eventfd: @func(@user_data) runs on the thread once
 * for one or more signals.
 */
VmmNotifierWatch *
vmm_notifier_add(VmmNotifier *self, int fd, VmmNotifierFunc func, void *user_data);
/*
 * The notifier closes the fd. While the thread runs, @func may still run once
 * more for a signal that came before: a notification is never lost.
 */
void vmm_notifier_remove(VmmNotifier *self, VmmNotifierWatch *watch);
/* Returns once the function of every signal that came before has returned. */
void vmm_notifier_flush(VmmNotifier *self);
/*
 * Calls the function of every watch signalled now on the calling thread
 * instead (while the thread runs); true if it called any. Not from a function.
 */
bool vmm_notifier_dispatch_pending(VmmNotifier *self);
