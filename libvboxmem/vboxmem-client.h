/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vboxmem-machine.h"

G_BEGIN_DECLS

#define VBOXMEM_TYPE_CLIENT (vboxmem_client_get_type())
G_DECLARE_FINAL_TYPE(VboxmemClient, vboxmem_client, VBOXMEM, CLIENT, GObject)

void
vboxmem_client_new(GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
VboxmemClient *vboxmem_client_new_finish(GAsyncResult *res, GError **error);
VboxmemClient *vboxmem_client_new_sync(GCancellable *cancellable, GError **error);

GDBusConnection *vboxmem_client_get_connection(VboxmemClient *self);
gboolean vboxmem_client_get_interactive(VboxmemClient *self);
void vboxmem_client_set_interactive(VboxmemClient *self, gboolean interactive);

const gchar *vboxmem_client_get_version(VboxmemClient *self);
guint64 vboxmem_client_get_memory_pool(VboxmemClient *self);
guint64 vboxmem_client_get_memory_committed(VboxmemClient *self);
guint64 vboxmem_client_get_memory_available(VboxmemClient *self);
guint64 vboxmem_client_get_memory_overdrawn(VboxmemClient *self);
guint64 vboxmem_client_get_fusion_shared_bytes(VboxmemClient *self);

GPtrArray *vboxmem_client_get_machines(VboxmemClient *self);
VboxmemMachine *vboxmem_client_lookup_machine(VboxmemClient *self, const gchar *name);

void vboxmem_client_create_machine(VboxmemClient *self,
				   const gchar *name,
				   GVariant *settings,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
VboxmemMachine *
vboxmem_client_create_machine_finish(VboxmemClient *self, GAsyncResult *res, GError **error);
VboxmemMachine *vboxmem_client_create_machine_sync(VboxmemClient *self,
						   const gchar *name,
						   GVariant *settings,
						   GCancellable *cancellable,
						   GError **error);

void vboxmem_client_find_machine(VboxmemClient *self,
				 const gchar *name,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data);
VboxmemMachine *
vboxmem_client_find_machine_finish(VboxmemClient *self, GAsyncResult *res, GError **error);
VboxmemMachine *vboxmem_client_find_machine_sync(VboxmemClient *self,
						 const gchar *name,
						 GCancellable *cancellable,
						 GError **error);

void vboxmem_client_query_metrics(VboxmemClient *self,
				  const gchar *const *objects,
				  const gchar *const *metrics,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data);
GVariant *
vboxmem_client_query_metrics_finish(VboxmemClient *self, GAsyncResult *res, GError **error);
GVariant *vboxmem_client_query_metrics_sync(VboxmemClient *self,
					    const gchar *const *objects,
					    const gchar *const *metrics,
					    GCancellable *cancellable,
					    GError **error);

G_END_DECLS
