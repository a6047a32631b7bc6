/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <unistd.h>

#include "vboxmem-error.h"
#include "vmd-channel.h"

/* Records read per main loop dispatch, so that other clients are served in between. */
#define RECORDS_PER_DISPATCH 32

typedef struct {
	GTask *task; /* NULL once it timed out: the late reply is still expected */
	guint timeout_id;
} PendingRequest;

struct _VmdChannel {
	GObject parent_instance;
	int fd;
	guint watch_id;
	guint resume_id;
	gboolean closed;
	guint32 last_id;
	GHashTable *pending; /* id -> PendingRequest */
	gint64 window_start_us;
	guint records_in_window;
};

enum { SIGNAL_RECORD, SIGNAL_CLOSED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(VmdChannel, vmd_channel, G_TYPE_OBJECT)

static void
pending_request_free(PendingRequest *request)
{
	g_clear_handle_id(&request->timeout_id, g_source_remove);
	if (request->task != NULL)
		g_task_return_new_error(request->task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_FAILED,
					"The machine's worker went away before it answered");
	g_clear_object(&request->task);
	g_free(request);
}

static void
stop_reading(VmdChannel *self)
{
	g_clear_handle_id(&self->watch_id, g_source_remove);
	g_clear_handle_id(&self->resume_id, g_source_remove);
}

void
vmd_channel_shutdown(VmdChannel *self, const gchar *why)
{
	g_autoptr(VmdChannel) keep = g_object_ref(self);

	if (self->closed)
		return;
	self->closed = TRUE;
	stop_reading(self);
	g_hash_table_remove_all(self->pending);
	g_signal_emit(self, signals[SIGNAL_CLOSED], 0, why);
}

void
vmd_channel_refuse(VmdChannel *self, const gchar *format, ...)
{
	g_autofree gchar *what = NULL;
	g_autofree gchar *why = NULL;
	va_list args;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	why = g_strdup_printf("the worker broke the control protocol: %s", what);
	vmd_channel_shutdown(self, why);
}

static void
complete_request(VmdChannel *self, const VmpRecord *reply)
{
	PendingRequest *request = g_hash_table_lookup(self->pending, GUINT_TO_POINTER(reply->id));

	if (request == NULL) {
		vmd_channel_refuse(self,
				   "a reply to request %" G_GUINT32_FORMAT ", which is not pending",
				   reply->id);
		return;
	}
	if (request->task != NULL) {
		g_autoptr(GTask) task = g_steal_pointer(&request->task);
		g_task_return_int(task, reply->reply.status);
	}
	g_hash_table_remove(self->pending, GUINT_TO_POINTER(reply->id));
}

static void
handle_datagram(VmdChannel *self, const guint8 *buffer, long size, int *fds, unsigned n_fds)
{
	VmpRecord record;
	const gchar *field = NULL;
	VmpDecodeResult result;

	/* No event carries descriptors: any that came are closed, and the record refused. */
	vmp_close_fds(fds, MIN(n_fds, VMP_FDS_MAX));
	result = vmp_decode(buffer, (gsize)size, n_fds, VMP_FROM_WORKER, &record, &field);
	if (result != VMP_DECODE_OK) {
		vmd_channel_refuse(self,
				   "a record of %ld bytes: %s%s%s",
				   size,
				   vmp_decode_result_name(result),
				   field != NULL ? ": " : "",
				   field != NULL ? field : "");
		return;
	}
	if (record.kind == VMP_KIND_REPLY)
		complete_request(self, &record);
	else
		g_signal_emit(self, signals[SIGNAL_RECORD], 0, &record);
}

static gboolean watch_cb(gint fd, GIOCondition condition, gpointer user_data);

static gboolean
resume_reading_cb(gpointer user_data)
{
	VmdChannel *self = user_data;

	self->resume_id = 0;
	self->watch_id = g_unix_fd_add(self->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, watch_cb, self);
	return G_SOURCE_REMOVE;
}

/*
 * A worker that floods is read no faster than a well-behaved one could ever
 * need: the rest waits in its socket, and its own sends block or fail.
 */
static gboolean
over_rate_limit(VmdChannel *self)
{
	gint64 now = g_get_monotonic_time();

	if (now - self->window_start_us >= G_USEC_PER_SEC) {
		self->window_start_us = now;
		self->records_in_window = 0;
	}
	if (self->records_in_window < VMD_CHANNEL_MAX_RECORDS_PER_SECOND) {
		self->records_in_window++;
		return FALSE;
	}
	stop_reading(self);
	self->resume_id =
		g_timeout_add((guint)((self->window_start_us + G_USEC_PER_SEC - now) / 1000) + 1,
			      resume_reading_cb,
			      self);
	return TRUE;
}

static gboolean
watch_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	g_autoptr(VmdChannel) self = g_object_ref(user_data);

	for (guint i = 0; i < RECORDS_PER_DISPATCH && !self->closed; i++) {
		guint8 buffer[VMP_RECORD_MAX];
		int fds[VMP_FDS_MAX];
		unsigned n_fds = 0;
		long size;

		if (over_rate_limit(self))
			return G_SOURCE_CONTINUE;
		size = vmp_recv(fd, buffer, fds, &n_fds);
		if (size == -EAGAIN)
			break;
		if (size <= 0) {
			vmd_channel_shutdown(self, NULL);
			break;
		}
		handle_datagram(self, buffer, size, fds, n_fds);
	}
	return G_SOURCE_CONTINUE;
}

gboolean
vmd_channel_send(VmdChannel *self, const VmpRecord *record, GError **error)
{
	int failure;

	if (self->closed) {
		g_set_error_literal(error,
				    VBOXMEM_ERROR,
				    VBOXMEM_ERROR_INVALID_STATE,
				    "The machine's worker is not running");
		return FALSE;
	}
	failure = vmp_send(self->fd, record, NULL, 0);
	if (failure == EINVAL) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_INVALID_ARGUMENT,
			    "The request is out of range for the machine's worker");
		return FALSE;
	}
	if (failure != 0) {
		g_set_error(error,
			    VBOXMEM_ERROR,
			    VBOXMEM_ERROR_FAILED,
			    "Cannot reach the machine's worker: %s",
			    failure == EAGAIN ? "it is not reading its requests"
					      : g_strerror(failure));
		return FALSE;
	}
	return TRUE;
}

static gboolean
request_timed_out_cb(gpointer user_data)
{
	PendingRequest *request = user_data;
	g_autoptr(GTask) task = g_steal_pointer(&request->task);

	request->timeout_id = 0;
	g_task_return_new_error(task,
				VBOXMEM_ERROR,
				VBOXMEM_ERROR_FAILED,
				"The machine's worker did not answer within %u s; the request may "
				"still take effect",
				VMD_CHANNEL_REQUEST_TIMEOUT_SECONDS);
	return G_SOURCE_REMOVE;
}

void
vmd_channel_request(VmdChannel *self,
		    const VmpRecord *record,
		    GCancellable *cancellable,
		    GAsyncReadyCallback callback,
		    gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GError) error = NULL;
	VmpRecord request = *record;
	PendingRequest *pending;

	if (++self->last_id == 0)
		self->last_id = 1;
	request.id = self->last_id;
	if (!vmd_channel_send(self, &request, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	pending = g_new0(PendingRequest, 1);
	pending->task = g_steal_pointer(&task);
	pending->timeout_id = g_timeout_add_seconds(
		VMD_CHANNEL_REQUEST_TIMEOUT_SECONDS, request_timed_out_cb, pending);
	g_hash_table_replace(self->pending, GUINT_TO_POINTER(request.id), pending);
}

gint
vmd_channel_request_finish(VmdChannel *self, GAsyncResult *res, GError **error)
{
	gssize status = g_task_propagate_int(G_TASK(res), error);
	return (gint)status;
}

VmdChannel *
vmd_channel_new(int fd)
{
	VmdChannel *self = g_object_new(VMD_TYPE_CHANNEL, NULL);

	self->fd = fd;
	self->window_start_us = g_get_monotonic_time();
	self->watch_id = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, watch_cb, self);
	return self;
}

static void
vmd_channel_dispose(GObject *object)
{
	VmdChannel *self = VMD_CHANNEL(object);

	stop_reading(self);
	self->closed = TRUE;
	g_hash_table_remove_all(self->pending);
	G_OBJECT_CLASS(vmd_channel_parent_class)->dispose(object);
}

static void
vmd_channel_finalize(GObject *object)
{
	VmdChannel *self = VMD_CHANNEL(object);

	g_hash_table_unref(self->pending);
	if (self->fd >= 0)
		close(self->fd);
	G_OBJECT_CLASS(vmd_channel_parent_class)->finalize(object);
}

static void
vmd_channel_class_init(VmdChannelClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vmd_channel_dispose;
	object_class->finalize = vmd_channel_finalize;
	signals[SIGNAL_RECORD] = g_signal_new("record",
					      G_TYPE_FROM_CLASS(klass),
					      G_SIGNAL_RUN_LAST,
					      0,
					      NULL,
					      NULL,
					      NULL,
					      G_TYPE_NONE,
					      1,
					      G_TYPE_POINTER);
	signals[SIGNAL_CLOSED] = g_signal_new("closed",
					      G_TYPE_FROM_CLASS(klass),
					      G_SIGNAL_RUN_LAST,
					      0,
					      NULL,
					      NULL,
					      NULL,
					      G_TYPE_NONE,
					      1,
					      G_TYPE_STRING);
}

static void
vmd_channel_init(VmdChannel *self)
{
	self->fd = -1;
	self->pending = g_hash_table_new_full(
		g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)pending_request_free);
}
