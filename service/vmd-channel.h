/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "vmp-protocol.h"

G_BEGIN_DECLS

/*
 * vboxmemd's end of one worker's control socket (vmp-protocol.h). Every
 * record the worker sends is decoded and checked before anyone sees it, at
 * most VMD_CHANNEL_MAX_RECORDS_PER_SECOND are read, and requests are
 * matched to their replies by id, each bounded in time.
 *
 * Signals: "record" (a checked event, as a const VmpRecord *), "closed"
 * (gchar *why: NULL when the worker closed its end, otherwise how it broke
 * the protocol). Nothing is read after "closed".
 */
#define VMD_CHANNEL_MAX_RECORDS_PER_SECOND 400
#define VMD_CHANNEL_REQUEST_TIMEOUT_SECONDS 5

#define VMD_TYPE_CHANNEL (vmd_channel_get_type())
G_DECLARE_FINAL_TYPE(VmdChannel, vmd_channel, VMD, CHANNEL, GObject)

/* Takes @fd, a connected SOCK_SEQPACKET socket. */
VmdChannel *vmd_channel_new(int fd);
gboolean vmd_channel_send(VmdChannel *self, const VmpRecord *record, GError **error);
/* Sends @record (a request; its id is set here) and completes with the worker's REPLY. */
void vmd_channel_request(VmdChannel *self,
			 const VmpRecord *record,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data);
/* The status the worker answered, or -1 with @error set if it did not. */
gint vmd_channel_request_finish(VmdChannel *self, GAsyncResult *res, GError **error);
/* Stops reading and fails pending requests; the socket closes with the object. */
void vmd_channel_shutdown(VmdChannel *self, const gchar *why);
/*
 * Shuts the channel because the worker broke the protocol, which @format
 * says how: "closed" reports "the worker broke the control protocol: ...".
 */
void vmd_channel_refuse(VmdChannel *self, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

G_END_DECLS
