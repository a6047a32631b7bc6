/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vboxmem-error.h"
#include "vbm-worker.h"
#include "vmd-worker.h"

#define WORKER_OBJECT_PATH "/org/vboxmem/VBoxMem1/Worker"
#define CONTROL_FD 3
#define START_TIMEOUT_SECONDS 30

/*
 * One vboxmem-vm process and the private D-Bus connection to it. Emits
 * "changed" when what the worker reports changes and "exited" once the
 * process is gone, with the reason it gave (or its last words on stderr).
 */
struct _VmdWorker {
	GObject parent_instance;
	GSubprocess *process;
	GPid pid; /* while the process is not reaped */
	GDBusConnection *connection;
	VbmGdbusWorker *proxy;
	gchar *machine_name;
	gchar *console_log;
	gchar *last_stderr_line;
	gchar *stop_reason;
	gboolean exited;
	gboolean process_gone;
	gboolean stderr_closed;
	gboolean exit_clean;
	guint start_timeout;
	GTask *spawn_task;
};

enum { SIGNAL_CHANGED, SIGNAL_EXITED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(VmdWorker, vmd_worker, G_TYPE_OBJECT)

static GPtrArray *
build_argv(const VmdWorkerConfig *config, const VmdSettings *s, const gchar *console_log)
{
	GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

	g_ptr_array_add(argv, g_strdup(config->worker_path));
	g_ptr_array_add(argv, g_strdup("--kernel"));
	g_ptr_array_add(argv, g_strdup(s->kernel[0] != '\0' ? s->kernel : config->guest_image));
	if (s->initrd[0] != '\0') {
		g_ptr_array_add(argv, g_strdup("--initrd"));
		g_ptr_array_add(argv, g_strdup(s->initrd));
	}
	g_ptr_array_add(argv, g_strdup_printf("--cmdline=%s", s->command_line));
	g_ptr_array_add(argv,
			g_strdup_printf("--memory=%" G_GUINT64_FORMAT, s->memory_size / VMD_MIB));
	g_ptr_array_add(argv, g_strdup_printf("--cpus=%u", s->cpus));
	g_ptr_array_add(
		argv,
		g_strdup_printf("--balloon=%" G_GUINT64_FORMAT, s->balloon_default_size / VMD_MIB));
	if (s->deflate_on_oom)
		g_ptr_array_add(argv, g_strdup("--deflate-on-oom"));
	if (s->free_page_reporting)
		g_ptr_array_add(argv, g_strdup("--free-page-reporting"));
	g_ptr_array_add(argv, g_strdup_printf("--stats-interval=%u", config->stats_interval_ms));
	g_ptr_array_add(argv, g_strdup_printf("--console-log=%s", console_log));
	g_ptr_array_add(argv, g_strdup_printf("--control-fd=%d", CONTROL_FD));
	if (config->user != NULL)
		g_ptr_array_add(argv, g_strdup_printf("--user=%s", config->user));
	g_ptr_array_add(argv, NULL);
	return argv;
}

static void read_stderr_line(VmdWorker *self, GDataInputStream *stream);
static void report_exit_when_done(VmdWorker *self);

/* The worker's diagnostics go to our log, prefixed with the machine's name. */
static void
stderr_line_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VmdWorker) self = user_data;
	g_autofree gchar *line = NULL;

	line = g_data_input_stream_read_line_finish_utf8(
		G_DATA_INPUT_STREAM(source), res, NULL, NULL);
	if (line == NULL) {
		self->stderr_closed = TRUE;
		report_exit_when_done(self);
		return;
	}
	g_message("%s: %s", self->machine_name, line);
	g_free(self->last_stderr_line);
	self->last_stderr_line = g_steal_pointer(&line);
	read_stderr_line(self, G_DATA_INPUT_STREAM(source));
}

static void
read_stderr_line(VmdWorker *self, GDataInputStream *stream)
{
	g_data_input_stream_read_line_async(
		stream, G_PRIORITY_DEFAULT, NULL, stderr_line_cb, g_object_ref(self));
}

static const gchar *
exit_reason(VmdWorker *self)
{
	if (self->stop_reason != NULL)
		return self->stop_reason;
	if (self->last_stderr_line != NULL)
		return self->last_stderr_line;
	return "the worker process ended";
}

static void
fail_spawn(VmdWorker *self, const gchar *why)
{
	g_autoptr(GTask) task = g_steal_pointer(&self->spawn_task);

	if (task == NULL)
		return;
	g_task_return_new_error(
		task, VBOXMEM_ERROR, VBOXMEM_ERROR_FAILED, "The machine could not start: %s", why);
}

/* Reports the end once the process is gone and its last words on stderr are read. */
static void
report_exit_when_done(VmdWorker *self)
{
	if (!self->process_gone || !self->stderr_closed || self->exited)
		return;
	self->exited = TRUE;
	g_clear_handle_id(&self->start_timeout, g_source_remove);
	fail_spawn(self, exit_reason(self));
	g_signal_emit(self, signals[SIGNAL_EXITED], 0, self->exit_clean, exit_reason(self));
}

static void
process_exited_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VmdWorker) self = user_data;

	g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
	self->process_gone = TRUE;
	self->exit_clean = g_subprocess_get_if_exited(self->process) &&
			   g_subprocess_get_exit_status(self->process) == 0;
	report_exit_when_done(self);
}

/* A worker that never gets its connection up is not left starting forever. */
static gboolean
start_timed_out(gpointer user_data)
{
	VmdWorker *self = user_data;

	self->start_timeout = 0;
	if (self->spawn_task != NULL) {
		g_free(self->stop_reason);
		self->stop_reason = g_strdup_printf("the worker did not answer within %u s",
						    START_TIMEOUT_SECONDS);
		vmd_worker_kill(self);
	}
	return G_SOURCE_REMOVE;
}

static void
stopped_cb(VbmGdbusWorker *proxy,
	   const gchar *reason,
	   gboolean guest_exited,
	   gint exit_status,
	   VmdWorker *self)
{
	g_free(self->stop_reason);
	self->stop_reason = g_strdup(reason);
}

static void
properties_changed_cb(GDBusProxy *proxy,
		      GVariant *changed,
		      const gchar *const *invalidated,
		      VmdWorker *self)
{
	g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

static void
proxy_ready_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VmdWorker) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GTask) task = NULL;

	self->proxy = vbm_gdbus_worker_proxy_new_finish(res, &error);
	if (self->proxy == NULL) {
		g_debug("%s: no worker object: %s", self->machine_name, error->message);
		vmd_worker_kill(self);
		return;
	}
	g_signal_connect(self->proxy, "stopped", G_CALLBACK(stopped_cb), self);
	g_signal_connect(
		self->proxy, "g-properties-changed", G_CALLBACK(properties_changed_cb), self);
	g_clear_handle_id(&self->start_timeout, g_source_remove);
	task = g_steal_pointer(&self->spawn_task);
	if (task != NULL)
		g_task_return_pointer(task, g_object_ref(self), g_object_unref);
}

static void
connection_ready_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(VmdWorker) self = user_data;
	g_autoptr(GError) error = NULL;

	self->connection = g_dbus_connection_new_finish(res, &error);
	if (self->connection == NULL) {
		/* The worker says why on stderr as it exits. */
		g_debug("%s: no connection to the worker: %s", self->machine_name, error->message);
		vmd_worker_kill(self);
		return;
	}
	vbm_gdbus_worker_proxy_new(self->connection,
				   G_DBUS_PROXY_FLAGS_NONE,
				   NULL,
				   WORKER_OBJECT_PATH,
				   NULL,
				   proxy_ready_cb,
				   g_object_ref(self));
}

static gboolean
connect_control(VmdWorker *self, int fd, GError **error)
{
	g_autoptr(GSocket) socket = g_socket_new_from_fd(fd, error);
	g_autoptr(GSocketConnection) stream = NULL;

	if (socket == NULL) {
		close(fd);
		return FALSE;
	}
	stream = g_socket_connection_factory_create_connection(socket);
	g_dbus_connection_new(G_IO_STREAM(stream),
			      NULL,
			      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
			      NULL,
			      NULL,
			      connection_ready_cb,
			      g_object_ref(self));
	return TRUE;
}

static GSubprocess *
launch(VmdWorker *self,
       const VmdWorkerConfig *config,
       const VmdSettings *settings,
       int child_fd,
       GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_autoptr(GPtrArray) argv = build_argv(config, settings, self->console_log);

	g_subprocess_launcher_take_fd(launcher, child_fd, CONTROL_FD);
	return g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
}

void
vmd_worker_spawn(const VmdWorkerConfig *config,
		 const VmdSettings *settings,
		 const gchar *console_log,
		 GCancellable *cancellable,
		 GAsyncReadyCallback callback,
		 gpointer user_data)
{
	g_autoptr(VmdWorker) self = g_object_new(VMD_TYPE_WORKER, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDataInputStream) stderr_lines = NULL;
	int fds[2];

	self->spawn_task = g_task_new(NULL, cancellable, callback, user_data);
	self->machine_name = g_strdup(settings->name);
	self->console_log = g_strdup(console_log);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		fail_spawn(self, g_strerror(errno));
		return;
	}
	self->process = launch(self, config, settings, fds[1], &error);
	if (self->process == NULL) {
		close(fds[0]);
		fail_spawn(self, error->message);
		return;
	}
	self->pid = (GPid)g_ascii_strtoll(g_subprocess_get_identifier(self->process), NULL, 10);
	stderr_lines = g_data_input_stream_new(g_subprocess_get_stderr_pipe(self->process));
	read_stderr_line(self, stderr_lines);
	g_subprocess_wait_async(self->process, NULL, process_exited_cb, g_object_ref(self));
	self->start_timeout = g_timeout_add_seconds(START_TIMEOUT_SECONDS, start_timed_out, self);
	if (!connect_control(self, fds[0], &error)) {
		fail_spawn(self, error->message);
		vmd_worker_kill(self);
	}
}

VmdWorker *
vmd_worker_spawn_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

const gchar *
vmd_worker_get_state(VmdWorker *self)
{
	const gchar *state = self->proxy != NULL ? vbm_gdbus_worker_get_state(self->proxy) : NULL;
	return state != NULL ? state : "running";
}

guint64
vmd_worker_get_balloon_actual(VmdWorker *self)
{
	return self->proxy != NULL ? vbm_gdbus_worker_get_balloon_actual(self->proxy) : 0;
}

/* Returns a new reference, or NULL before the worker reported any. */
GVariant *
vmd_worker_dup_guest_stats(VmdWorker *self)
{
	return self->proxy != NULL ? vbm_gdbus_worker_dup_guest_stats(self->proxy) : NULL;
}

gint64
vmd_worker_get_guest_stats_updated(VmdWorker *self)
{
	return self->proxy != NULL ? vbm_gdbus_worker_get_guest_stats_updated(self->proxy) : 0;
}

GPid
vmd_worker_get_pid(VmdWorker *self)
{
	return self->exited || self->process_gone ? 0 : self->pid;
}

const gchar *
vmd_worker_get_console_log(VmdWorker *self)
{
	return self->console_log;
}

static void
call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &error);

	if (reply == NULL) {
		g_dbus_error_strip_remote_error(error);
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_FAILED,
					"The machine's worker refused: %s",
					error->message);
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void
vmd_worker_call(VmdWorker *self,
		const gchar *method,
		GVariant *parameters,
		GCancellable *cancellable,
		GAsyncReadyCallback callback,
		gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);

	if (self->proxy == NULL || self->exited) {
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_INVALID_STATE,
					"The machine's worker is not running");
		g_object_unref(task);
		return;
	}
	g_dbus_proxy_call(G_DBUS_PROXY(self->proxy),
			  method,
			  parameters,
			  G_DBUS_CALL_FLAGS_NONE,
			  -1,
			  cancellable,
			  call_cb,
			  task);
}

gboolean
vmd_worker_call_finish(VmdWorker *self, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

void
vmd_worker_kill(VmdWorker *self)
{
	if (self->process != NULL && !self->exited)
		g_subprocess_force_exit(self->process);
}

static void
vmd_worker_dispose(GObject *object)
{
	VmdWorker *self = VMD_WORKER(object);

	vmd_worker_kill(self);
	g_clear_handle_id(&self->start_timeout, g_source_remove);
	if (self->proxy != NULL)
		g_signal_handlers_disconnect_by_data(self->proxy, self);
	g_clear_object(&self->proxy);
	if (self->connection != NULL)
		g_dbus_connection_close(self->connection, NULL, NULL, NULL);
	g_clear_object(&self->connection);
	g_clear_object(&self->process);
	g_clear_object(&self->spawn_task);
	G_OBJECT_CLASS(vmd_worker_parent_class)->dispose(object);
}

static void
vmd_worker_finalize(GObject *object)
{
	VmdWorker *self = VMD_WORKER(object);

	g_free(self->machine_name);
	g_free(self->console_log);
	g_free(self->last_stderr_line);
	g_free(self->stop_reason);
	G_OBJECT_CLASS(vmd_worker_parent_class)->finalize(object);
}

static void
vmd_worker_class_init(VmdWorkerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = vmd_worker_dispose;
	object_class->finalize = vmd_worker_finalize;
	signals[SIGNAL_CHANGED] = g_signal_new("changed",
					       G_TYPE_FROM_CLASS(klass),
					       G_SIGNAL_RUN_LAST,
					       0,
					       NULL,
					       NULL,
					       NULL,
					       G_TYPE_NONE,
					       0);
	signals[SIGNAL_EXITED] = g_signal_new("exited",
					      G_TYPE_FROM_CLASS(klass),
					      G_SIGNAL_RUN_LAST,
					      0,
					      NULL,
					      NULL,
					      NULL,
					      G_TYPE_NONE,
					      2,
					      G_TYPE_BOOLEAN,
					      G_TYPE_STRING);
}

static void
vmd_worker_init(VmdWorker *self)
{
}
