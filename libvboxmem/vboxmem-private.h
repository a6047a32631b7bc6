/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vbm-gdbus.h"
#include "vboxmem-client.h"
#include "vboxmem-machine.h"

/*
 * Internal to libvboxmem. Names use the vbm_ prefix so that the linker version
 * script, which exports vboxmem_*, keeps them private.
 */

G_BEGIN_DECLS

VboxmemMachine *vbm_machine_new(VboxmemClient *client, VbmGdbusObject *object);

void vbm_call(VboxmemClient *client,
	      GDBusProxy *proxy,
	      const gchar *method,
	      GVariant *parameters,
	      GCancellable *cancellable,
	      GAsyncReadyCallback callback,
	      gpointer user_data);
GVariant *vbm_call_finish(GDBusProxy *proxy, GAsyncResult *res, GError **error);
GVariant *vbm_call_sync(VboxmemClient *client,
			GDBusProxy *proxy,
			const gchar *method,
			GVariant *parameters,
			GCancellable *cancellable,
			GError **error);

G_END_DECLS
