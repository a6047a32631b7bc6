/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VMD_TYPE_AUTHORITY (vmd_authority_get_type())
G_DECLARE_FINAL_TYPE(VmdAuthority, vmd_authority, VMD, AUTHORITY, GObject)

/* Pass as owner when the action does not act on an existing machine. */
#define VMD_AUTHORITY_NO_OWNER G_MAXUINT32

VmdAuthority *vmd_authority_new(void);
/* Called once the caller is authorized; @invocation still awaits its reply. */
typedef void (*VmdAuthorizedFunc)(gpointer target,
				  GDBusMethodInvocation *invocation,
				  GVariant *args,
				  guint32 caller_uid);

void vmd_authority_run_authorized(VmdAuthority *self,
				  GDBusMethodInvocation *invocation,
				  const gchar *action_id,
				  guint32 owner,
				  const gchar *machine_name,
				  gpointer target,
				  GVariant *args,
				  VmdAuthorizedFunc func);

G_END_DECLS
