/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vboxmem-enums.h"

G_BEGIN_DECLS

#define VBOXMEM_TYPE_MACHINE (vboxmem_machine_get_type())
G_DECLARE_FINAL_TYPE(VboxmemMachine, vboxmem_machine, VBOXMEM, MACHINE, GObject)

/**
 * VBOXMEM_GUEST_STAT_UNKNOWN:
 *
 * The value of a guest statistic the guest has not reported.
 */
#define VBOXMEM_GUEST_STAT_UNKNOWN G_MAXUINT64

const gchar *vboxmem_machine_get_object_path(VboxmemMachine *self);
const gchar *vboxmem_machine_get_name(VboxmemMachine *self);
guint32 vboxmem_machine_get_owner(VboxmemMachine *self);
VboxmemMachineState vboxmem_machine_get_state(VboxmemMachine *self);
guint64 vboxmem_machine_get_memory_size(VboxmemMachine *self);
guint vboxmem_machine_get_cpus(VboxmemMachine *self);
const gchar *vboxmem_machine_get_kernel(VboxmemMachine *self);
const gchar *vboxmem_machine_get_initrd(VboxmemMachine *self);
const gchar *vboxmem_machine_get_command_line(VboxmemMachine *self);

guint64 vboxmem_machine_get_balloon_default_size(VboxmemMachine *self);
guint64 vboxmem_machine_get_balloon_target(VboxmemMachine *self);
guint64 vboxmem_machine_get_balloon_actual(VboxmemMachine *self);
gboolean vboxmem_machine_get_deflate_on_oom(VboxmemMachine *self);
gboolean vboxmem_machine_get_free_page_reporting(VboxmemMachine *self);

gboolean vboxmem_machine_get_page_fusion(VboxmemMachine *self);
guint64 vboxmem_machine_get_page_fusion_shared_bytes(VboxmemMachine *self);
guint64 vboxmem_machine_get_page_fusion_hinted_bytes(VboxmemMachine *self);

guint64 vboxmem_machine_get_guest_memory_total(VboxmemMachine *self);
guint64 vboxmem_machine_get_guest_memory_free(VboxmemMachine *self);
guint64 vboxmem_machine_get_guest_memory_available(VboxmemMachine *self);
guint64 vboxmem_machine_get_guest_disk_caches(VboxmemMachine *self);
guint64 vboxmem_machine_get_guest_swap_in(VboxmemMachine *self);
guint64 vboxmem_machine_get_guest_swap_out(VboxmemMachine *self);
guint64 vboxmem_machine_get_guest_major_faults(VboxmemMachine *self);
guint64 vboxmem_machine_get_guest_minor_faults(VboxmemMachine *self);
gint64 vboxmem_machine_get_guest_last_update(VboxmemMachine *self);
gboolean vboxmem_machine_get_guest_agent_connected(VboxmemMachine *self);

void vboxmem_machine_modify(VboxmemMachine *self,
			    GVariant *settings,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data);
gboolean vboxmem_machine_modify_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gboolean vboxmem_machine_modify_sync(VboxmemMachine *self,
				     GVariant *settings,
				     GCancellable *cancellable,
				     GError **error);

void vboxmem_machine_start(VboxmemMachine *self,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data);
gboolean vboxmem_machine_start_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gboolean
vboxmem_machine_start_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error);

void vboxmem_machine_power_off(VboxmemMachine *self,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
gboolean vboxmem_machine_power_off_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gboolean
vboxmem_machine_power_off_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error);

void vboxmem_machine_pause(VboxmemMachine *self,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data);
gboolean vboxmem_machine_pause_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gboolean
vboxmem_machine_pause_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error);

void vboxmem_machine_resume(VboxmemMachine *self,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data);
gboolean vboxmem_machine_resume_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gboolean
vboxmem_machine_resume_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error);

void vboxmem_machine_unregister(VboxmemMachine *self,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data);
gboolean vboxmem_machine_unregister_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gboolean
vboxmem_machine_unregister_sync(VboxmemMachine *self, GCancellable *cancellable, GError **error);

void vboxmem_machine_read_console_log(VboxmemMachine *self,
				      guint64 max_bytes,
				      GCancellable *cancellable,
				      GAsyncReadyCallback callback,
				      gpointer user_data);
gchar *
vboxmem_machine_read_console_log_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gchar *vboxmem_machine_read_console_log_sync(VboxmemMachine *self,
					     guint64 max_bytes,
					     GCancellable *cancellable,
					     GError **error);

void vboxmem_machine_set_balloon_target(VboxmemMachine *self,
					guint64 size,
					GCancellable *cancellable,
					GAsyncReadyCallback callback,
					gpointer user_data);
gboolean
vboxmem_machine_set_balloon_target_finish(VboxmemMachine *self, GAsyncResult *res, GError **error);
gboolean vboxmem_machine_set_balloon_target_sync(VboxmemMachine *self,
						 guint64 size,
						 GCancellable *cancellable,
						 GError **error);

G_END_DECLS
