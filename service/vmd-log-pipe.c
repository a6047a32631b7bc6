/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <unistd.h>

#include "vmd-log-pipe.h"

#define READ_CHUNK 4096

struct _VmdLogPipe {
	GObject parent_instance;
	int fd;
	guint watch_id;
	guint resume_id;
	gchar *prefix;
	GString *line;
	gboolean line_cut;
	gchar *last_line;
	gint64 window_start_us;
	gsize bytes_in_window;
	guint lines_in_window;
	guint suppressed;
};

enum { SIGNAL_CLOSED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(VmdLogPipe, vmd_log_pipe, G_TYPE_OBJECT)

/* Control characters, invalid UTF-8 and bidirectional overrides never reach the log raw. */
static gchar *
escape_line(const gchar *raw, gsize length)
{
	g_autofree gchar *valid = g_utf8_make_valid(raw, (gssize)length);
	GString *escaped = g_string_sized_new(length);

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) ||
		    g_unichar_type(c) == G_UNICODE_FORMAT)
			g_string_append_printf(escaped, "\\u%04x", c);
		else
			g_string_append_unichar(escaped, c);
	}
	return g_string_free(escaped, FALSE);
}

static void
start_window_if_due(VmdLogPipe *self, gint64 now)
{
	if (now - self->window_start_us < G_USEC_PER_SEC)
		return;
	if (self->suppressed > 0)
		g_message("%s: (%u more lines not logged)", self->prefix, self->suppressed);
	self->window_start_us = now;
	self->bytes_in_window = 0;
	self->lines_in_window = 0;
	self->suppressed = 0;
}

static void
finish_line(VmdLogPipe *self)
{
	g_autofree gchar *line = escape_line(self->line->str, self->line->len);

	g_free(self->last_line);
	self->last_line = self->line_cut ? g_strconcat(line, "…", NULL) : g_steal_pointer(&line);
	g_string_truncate(self->line, 0);
	self->line_cut = FALSE;
	if (self->lines_in_window >= VMD_LOG_PIPE_LINES_PER_SECOND) {
		self->suppressed++;
		return;
	}
	self->lines_in_window++;
	g_message("%s: %s", self->prefix, self->last_line);
}

static void
take_bytes(VmdLogPipe *self, const gchar *bytes, gsize length)
{
	for (gsize i = 0; i < length; i++) {
		if (bytes[i] == '\n') {
			finish_line(self);
		} else if (self->line->len < VMD_LOG_PIPE_MAX_LINE) {
			g_string_append_c(self->line, bytes[i]);
		} else {
			self->line_cut = TRUE;
		}
	}
}

static void
stop_watching(VmdLogPipe *self)
{
	g_clear_handle_id(&self->watch_id, g_source_remove);
	g_clear_handle_id(&self->resume_id, g_source_remove);
}

static void
reach_end(VmdLogPipe *self)
{
	stop_watching(self);
	if (self->line->len > 0 || self->line_cut)
		finish_line(self);
	start_window_if_due(self, G_MAXINT64 / 2);
	g_signal_emit(self, signals[SIGNAL_CLOSED], 0);
}

static gboolean pipe_readable_cb(gint fd, GIOCondition condition, gpointer user_data);

static gboolean
resume_cb(gpointer user_data)
{
	VmdLogPipe *self = user_data;

	self->resume_id = 0;
	self->watch_id =
		g_unix_fd_add(self->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, pipe_readable_cb, self);
	return G_SOURCE_REMOVE;
}

static gboolean
pipe_readable_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	g_autoptr(VmdLogPipe) self = g_object_ref(user_data);
	gint64 now = g_get_monotonic_time();
	gchar buffer[READ_CHUNK];
	gssize n;

	start_window_if_due(self, now);
	if (self->bytes_in_window >= VMD_LOG_PIPE_BYTES_PER_SECOND) {
		self->watch_id = 0;
		self->resume_id = g_timeout_add(
			(guint)((self->window_start_us + G_USEC_PER_SEC - now) / 1000) + 1,
			resume_cb,
			self);
		return G_SOURCE_REMOVE;
	}
	n = read(fd, buffer, sizeof(buffer));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		self->watch_id = 0;
		reach_end(self);
		return G_SOURCE_REMOVE;
	}
	self->bytes_in_window += (gsize)n;
	take_bytes(self, buffer, (gsize)n);
	return G_SOURCE_CONTINUE;
}

VmdLogPipe *
vmd_log_pipe_new(int fd, const gchar *prefix)
{
	VmdLogPipe *self = g_object_new(VMD_TYPE_LOG_PIPE, NULL);

	self->fd = fd;
	self->prefix = g_strdup(prefix);
	self->window_start_us = g_get_monotonic_time();
	g_unix_set_fd_nonblocking(fd, TRUE, NULL);
	self->watch_id = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, pipe_readable_cb, self);
	return self;
}

const gchar *
vmd_log_pipe_get_last_line(VmdLogPipe *self)
{
	return self->last_line;
}

static void
vmd_log_pipe_dispose(GObject *object)
{
	stop_watching(VMD_LOG_PIPE(object));
	G_OBJECT_CLASS(vmd_log_pipe_parent_class)->dispose(object);
}

static void
vmd_log_pipe_finalize(GObject *object)
{
	VmdLogPipe *self = VMD_LOG_PIPE(object);

	if (self->fd >= 0)
		close(self->fd);
	g_free(self->prefix);
	g_string_free(self->line, TRUE);
	g_free(self->last_line);
	G_OBJECT_CLASS(vmd_log_pipe_parent_class)->finalize(object);
}

static void
vmd_log_pipe_class_init(VmdLogPipeClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vmd_log_pipe_dispose;
	object_class->finalize = vmd_log_pipe_finalize;
	signals[SIGNAL_CLOSED] = g_signal_new("closed",
					      G_TYPE_FROM_CLASS(klass),
					      G_SIGNAL_RUN_LAST,
					      0,
					      NULL,
					      NULL,
					      NULL,
					      G_TYPE_NONE,
					      0);
}

static void
vmd_log_pipe_init(VmdLogPipe *self)
{
	self->fd = -1;
	self->line = g_string_new(NULL);
}
