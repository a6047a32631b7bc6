/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vboxmem-enums.h"
#include "vmd-cgroups.h"
#include "vmd-machine.h"
#include "vmd-worker.h"

G_BEGIN_DECLS

/*
 * One registered machine: its settings and the D-Bus object that shows them.
 * Emits "unregistered" once its settings file is gone, so the registry drops it.
 */
struct _VmdMachine {
	GObject parent_instance;
	VmdSettings *settings;
	VmdStore *store;
	VmdAuthority *authority;
	VboxmemMachineState state;
	gboolean unregistered; /* an answer from polkit may still arrive for it */
	VbmGdbusObjectSkeleton *object;
	VbmGdbusMachine *machine_iface;
	VbmGdbusBalloon *balloon_iface;
	VbmGdbusPageFusion *fusion_iface;
	VbmGdbusGuest *guest_iface;

	/* While it runs: */
	VmdPool *pool;
	VmdCgroups *cgroups;
	const VmdWorkerConfig *worker_config;
	VmdWorker *worker;
	gboolean stopping;
	gboolean retouch_reported; /* the guest was caught taking ballooned memory back */
	guint64 memory_limit;      /* of its worker's cgroup, as last set */
	guint kill_timer;
	GList *stop_waiters; /* GDBusMethodInvocation awaiting the end of the worker */
};

void vmd_machine_publish_guest_stats(VmdMachine *self, GVariant *stats, gint64 updated);
gboolean vmd_machine_check_stopped(VmdMachine *self, GError **error);
gboolean vmd_machine_return_if_unregistered(VmdMachine *self, GDBusMethodInvocation *invocation);
gboolean vmd_machine_check_no_options(GVariant *options, GError **error);
gboolean vmd_machine_return_if_error(GDBusMethodInvocation *invocation, GError *error);
void vmd_machine_connect_control_handlers(VmdMachine *self);
void vmd_machine_drop_worker(VmdMachine *self);
void vmd_machine_update_memory_limit(VmdMachine *self, guint64 verified_actual);

G_END_DECLS
