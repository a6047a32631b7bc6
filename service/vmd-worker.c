/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <gio/gunixinputstream.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vboxmem-error.h"
#include "vmd-cgroups.h"
#include "vmd-channel.h"
#include "vmd-log-pipe.h"
#include "vmd-open-as.h"
#include "vmd-worker.h"

#define CONTROL_FD 3
#define KERNEL_FD 4
#define INITRD_FD 5
#define START_TIMEOUT_SECONDS 30
/* How long a worker may take to exit once it closed its control socket. */
#define EXIT_TIMEOUT_SECONDS 10

/*
 * One vboxmem-vm process, its control channel and its stderr. Emits
 * "changed" when what the worker reports changes and "exited" once the
 * process is gone, with the reason it gave (or its last words on stderr).
 * What the worker says is checked against what vboxmemd asked of it; a
 * worker that breaks the protocol is killed.
 */
struct _VmdWorker {
	GObject parent_instance;
	GSubprocess *process;
	GPid pid; /* while the process is not reaped */
	VmdChannel *channel;
	VmdLogPipe *log_pipe;
	gchar *machine_name;
	gchar *console_log;
	gchar *stop_reason;
	guint64 memory_size;
	guint cpus;
	guint64 balloon_target;
	gboolean ready;
	gboolean stopped; /* its STOPPED arrived */
	guint32 state;
	VmpBalloon balloon;
	VmpGuestStats guest_stats;
	gboolean exited;
	gboolean process_gone;
	gboolean stderr_closed;
	gboolean exit_clean;
	guint start_timeout;
	guint exit_timeout;
	GTask *spawn_task;
};

enum { SIGNAL_CHANGED, SIGNAL_EXITED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(VmdWorker, vmd_worker, G_TYPE_OBJECT)

static GPtrArray *
build_argv(const VmdWorkerConfig *config,
	   const VmdSettings *s,
	   const VmdWorkerFiles *files,
	   const gchar *console_log)
{
	GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

	g_ptr_array_add(argv, g_strdup(config->worker_path));
	/* The paths name the files in messages; the worker reads the descriptors. */
	g_ptr_array_add(argv, g_strdup("--kernel"));
	g_ptr_array_add(argv, g_strdup(s->kernel[0] != '\0' ? s->kernel : config->guest_image));
	if (files->kernel_fd >= 0)
		g_ptr_array_add(argv, g_strdup_printf("--kernel-fd=%d", KERNEL_FD));
	if (s->initrd[0] != '\0') {
		g_ptr_array_add(argv, g_strdup("--initrd"));
		g_ptr_array_add(argv, g_strdup(s->initrd));
	}
	if (files->initrd_fd >= 0)
		g_ptr_array_add(argv, g_strdup_printf("--initrd-fd=%d", INITRD_FD));
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

static void report_exit_when_done(VmdWorker *self);

static void
log_pipe_closed_cb(VmdLogPipe *log_pipe, VmdWorker *self)
{
	self->stderr_closed = TRUE;
	report_exit_when_done(self);
}

static const gchar *
exit_reason(VmdWorker *self)
{
	const gchar *last_line =
		self->log_pipe != NULL ? vmd_log_pipe_get_last_line(self->log_pipe) : NULL;

	if (self->stop_reason != NULL)
		return self->stop_reason;
	if (last_line != NULL)
		return last_line;
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
	g_clear_handle_id(&self->exit_timeout, g_source_remove);
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
	if (self->channel != NULL)
		vmd_channel_shutdown(self->channel, NULL);
	report_exit_when_done(self);
}

/* Kills the worker for a reason of vboxmemd's, which becomes the machine's. */
static void
abort_worker(VmdWorker *self, const gchar *why)
{
	if (self->stop_reason == NULL || !self->stopped) {
		g_free(self->stop_reason);
		self->stop_reason = g_strdup(why);
	}
	vmd_worker_kill(self);
}

/* A worker that never gets its connection up is not left starting forever. */
static gboolean
start_timed_out(gpointer user_data)
{
	VmdWorker *self = user_data;
	g_autofree gchar *why =
		g_strdup_printf("the worker did not answer within %u s", START_TIMEOUT_SECONDS);

	self->start_timeout = 0;
	if (self->spawn_task != NULL)
		abort_worker(self, why);
	return G_SOURCE_REMOVE;
}

static void
take_ready(VmdWorker *self, const VmpReady *ready)
{
	g_autoptr(GTask) task = NULL;

	if (ready->version != VMP_VERSION || ready->memory_size != self->memory_size ||
	    ready->n_vcpus != self->cpus || ready->balloon_target != self->balloon_target) {
		vmd_channel_refuse(self->channel,
				   "READY does not match the machine "
				   "(version %" G_GUINT32_FORMAT ", %" G_GUINT64_FORMAT
				   " bytes, %" G_GUINT32_FORMAT " vCPUs)",
				   ready->version,
				   ready->memory_size,
				   ready->n_vcpus);
		return;
	}
	self->ready = TRUE;
	self->balloon.target = ready->balloon_target;
	g_clear_handle_id(&self->start_timeout, g_source_remove);
	task = g_steal_pointer(&self->spawn_task);
	if (task != NULL)
		g_task_return_pointer(task, g_object_ref(self), g_object_unref);
}

static gboolean
take_balloon(VmdWorker *self, const VmpBalloon *balloon)
{
	if (balloon->target > self->memory_size || balloon->actual > self->memory_size) {
		vmd_channel_refuse(self->channel,
				   "a balloon of %" G_GUINT64_FORMAT
				   " bytes in a machine of %" G_GUINT64_FORMAT " bytes",
				   MAX(balloon->target, balloon->actual),
				   self->memory_size);
		return FALSE;
	}
	self->balloon = *balloon;
	return TRUE;
}

static void
take_stopped(VmdWorker *self, const VmpStopped *stopped)
{
	self->stopped = TRUE;
	self->state = VMP_STATE_STOPPED;
	g_free(self->stop_reason);
	self->stop_reason = g_strdup(stopped->reason);
}

static gboolean
take_event(VmdWorker *self, const VmpRecord *record)
{
	switch (record->kind) {
	case VMP_KIND_STATE:
		self->state = record->state.state;
		return TRUE;
	case VMP_KIND_BALLOON:
		return take_balloon(self, &record->balloon);
	case VMP_KIND_GUEST_STATS:
		self->guest_stats = record->guest_stats;
		return TRUE;
	case VMP_KIND_STOPPED:
		take_stopped(self, &record->stopped);
		return TRUE;
	default:
		return FALSE;
	}
}

static void
channel_record_cb(VmdChannel *channel, const VmpRecord *record, VmdWorker *self)
{
	const gchar *kind = vmp_kind_name(record->kind);

	if (self->stopped) {
		vmd_channel_refuse(self->channel, "%s after STOPPED", kind);
		return;
	}
	if (!self->ready) {
		if (record->kind == VMP_KIND_READY)
			take_ready(self, &record->ready);
		else
			vmd_channel_refuse(self->channel, "%s before READY", kind);
		return;
	}
	if (!take_event(self, record)) {
		vmd_channel_refuse(self->channel, "an unexpected %s", kind);
		return;
	}
	g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

/* A worker that closed its end of the channel but lives on cannot be controlled: it goes. */
static gboolean
closed_but_alive_cb(gpointer user_data)
{
	VmdWorker *self = user_data;

	self->exit_timeout = 0;
	if (!self->process_gone)
		abort_worker(self, "the worker closed its control socket but did not exit");
	return G_SOURCE_REMOVE;
}

static void
channel_closed_cb(VmdChannel *channel, const gchar *why, VmdWorker *self)
{
	if (why == NULL) {
		/* The worker closed its end: it is exiting, and says why on stderr or in STOPPED.
		 */
		if (!self->process_gone && self->exit_timeout == 0)
			self->exit_timeout = g_timeout_add_seconds(
				EXIT_TIMEOUT_SECONDS, closed_but_alive_cb, self);
		return;
	}
	g_warning("Machine %s: %s; stopping its worker", self->machine_name, why);
	abort_worker(self, why);
}

static GSubprocess *
launch(VmdWorker *self,
       const VmdWorkerConfig *config,
       const VmdSettings *settings,
       VmdWorkerFiles *files,
       int child_fd,
       GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_autoptr(GPtrArray) argv = build_argv(config, settings, files, self->console_log);

	g_subprocess_launcher_take_fd(launcher, child_fd, CONTROL_FD);
	if (files->kernel_fd >= 0)
		g_subprocess_launcher_take_fd(launcher, g_steal_fd(&files->kernel_fd), KERNEL_FD);
	if (files->initrd_fd >= 0)
		g_subprocess_launcher_take_fd(launcher, g_steal_fd(&files->initrd_fd), INITRD_FD);
	if (files->cgroup_procs != NULL)
		g_subprocess_launcher_set_child_setup(
			launcher, vmd_cgroups_join, g_steal_pointer(&files->cgroup_procs), g_free);
	return g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
}

/* The worker's stderr, taken from its stream as a plain descriptor. */
static int
steal_stderr_fd(GSubprocess *process)
{
	GUnixInputStream *stream = G_UNIX_INPUT_STREAM(g_subprocess_get_stderr_pipe(process));

	g_unix_input_stream_set_close_fd(stream, FALSE);
	return g_unix_input_stream_get_fd(stream);
}

static gboolean
say_hello(VmdWorker *self, GError **error)
{
	VmpRecord hello = {.kind = VMP_KIND_HELLO};

	hello.hello = (VmpHello){VMP_MAGIC, VMP_VERSION};
	return vmd_channel_send(self->channel, &hello, error);
}

static void
remember_settings(VmdWorker *self, const VmdSettings *settings, const gchar *console_log)
{
	self->machine_name = g_strdup(settings->name);
	self->console_log = g_strdup(console_log);
	self->memory_size = settings->memory_size;
	self->cpus = MAX(settings->cpus, 1u);
	self->balloon_target = settings->balloon_default_size;
}

gboolean
vmd_worker_files_open(VmdWorkerFiles *files, const VmdSettings *settings, GError **error)
{
	if (settings->kernel[0] != '\0' &&
	    (files->kernel_fd =
		     vmd_open_as_user(settings->kernel, settings->owner, "Kernel", error)) < 0)
		return FALSE;
	if (settings->initrd[0] != '\0' &&
	    (files->initrd_fd =
		     vmd_open_as_user(settings->initrd, settings->owner, "Initrd", error)) < 0) {
		vmd_worker_files_clear(files);
		return FALSE;
	}
	return TRUE;
}

void
vmd_worker_files_clear(VmdWorkerFiles *files)
{
	if (files->kernel_fd >= 0)
		close(g_steal_fd(&files->kernel_fd));
	if (files->initrd_fd >= 0)
		close(g_steal_fd(&files->initrd_fd));
	g_clear_pointer(&files->cgroup_procs, g_free);
}

void
vmd_worker_spawn(const VmdWorkerConfig *config,
		 const VmdSettings *settings,
		 VmdWorkerFiles *files,
		 const gchar *console_log,
		 GCancellable *cancellable,
		 GAsyncReadyCallback callback,
		 gpointer user_data)
{
	g_autoptr(VmdWorker) self = g_object_new(VMD_TYPE_WORKER, NULL);
	g_autoptr(GError) error = NULL;
	int fds[2];

	self->spawn_task = g_task_new(NULL, cancellable, callback, user_data);
	remember_settings(self, settings, console_log);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
		vmd_worker_files_clear(files);
		fail_spawn(self, g_strerror(errno));
		return;
	}
	self->process = launch(self, config, settings, files, fds[1], &error);
	vmd_worker_files_clear(files);
	if (self->process == NULL) {
		close(fds[0]);
		fail_spawn(self, error->message);
		return;
	}
	self->pid = (GPid)g_ascii_strtoll(g_subprocess_get_identifier(self->process), NULL, 10);
	self->log_pipe = vmd_log_pipe_new(steal_stderr_fd(self->process), self->machine_name);
	g_signal_connect(self->log_pipe, "closed", G_CALLBACK(log_pipe_closed_cb), self);
	self->channel = vmd_channel_new(fds[0]);
	g_signal_connect(self->channel, "record", G_CALLBACK(channel_record_cb), self);
	g_signal_connect(self->channel, "closed", G_CALLBACK(channel_closed_cb), self);
	g_subprocess_wait_async(self->process, NULL, process_exited_cb, g_object_ref(self));
	self->start_timeout = g_timeout_add_seconds(START_TIMEOUT_SECONDS, start_timed_out, self);
	if (!say_hello(self, &error))
		abort_worker(self, error->message);
}

VmdWorker *
vmd_worker_spawn_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

const gchar *
vmd_worker_get_state(VmdWorker *self)
{
	const gchar *state = vmp_state_name(self->state);
	return state != NULL ? state : "running";
}

guint64
vmd_worker_get_balloon_actual(VmdWorker *self)
{
	return MIN(self->balloon.actual, self->memory_size);
}

/* Returns a new a{st} by statistic name, or NULL before the worker reported any. */
GVariant *
vmd_worker_dup_guest_stats(VmdWorker *self)
{
	GVariantBuilder builder;

	if (self->guest_stats.updated_us == 0)
		return NULL;
	g_variant_builder_init(&builder, G_VARIANT_TYPE("a{st}"));
	for (guint i = 0; i < VMP_STAT_COUNT; i++) {
		if (self->guest_stats.known & (1u << i))
			g_variant_builder_add(
				&builder, "{st}", vmp_stat_name(i), self->guest_stats.values[i]);
	}
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

gint64
vmd_worker_get_guest_stats_updated(VmdWorker *self)
{
	return self->guest_stats.updated_us;
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
request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	GError *error = NULL;
	gint status = vmd_channel_request_finish(VMD_CHANNEL(source), res, &error);

	if (error != NULL)
		g_task_return_error(task, error);
	else if (status == VMP_STATUS_OK)
		g_task_return_boolean(task, TRUE);
	else if (status == VMP_STATUS_INVALID_ARGUMENT)
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_INVALID_ARGUMENT,
					"The machine's worker refused the value");
	else
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_INVALID_STATE,
					"The machine has stopped");
}

static gboolean
request_from(VmpKind kind, guint64 value, VmpRecord *record)
{
	*record = (VmpRecord){.kind = kind};
	switch (kind) {
	case VMP_KIND_SET_BALLOON_TARGET:
		record->set_balloon_target.bytes = value;
		return TRUE;
	case VMP_KIND_SET_STATS_INTERVAL:
		record->set_stats_interval.milliseconds = (guint32)MIN(value, G_MAXUINT32);
		return TRUE;
	case VMP_KIND_PAUSE:
	case VMP_KIND_RESUME:
	case VMP_KIND_POWER_OFF:
	case VMP_KIND_QUERY_STATE:
		return TRUE;
	default:
		return FALSE;
	}
}

void
vmd_worker_call(VmdWorker *self,
		VmpKind kind,
		guint64 value,
		GCancellable *cancellable,
		GAsyncReadyCallback callback,
		gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	VmpRecord request;

	if (self->channel == NULL || !self->ready || self->exited) {
		g_task_return_new_error(task,
					VBOXMEM_ERROR,
					VBOXMEM_ERROR_INVALID_STATE,
					"The machine's worker is not running");
		return;
	}
	g_return_if_fail(request_from(kind, value, &request));
	vmd_channel_request(
		self->channel, &request, cancellable, request_done_cb, g_steal_pointer(&task));
}

gboolean
vmd_worker_call_finish(VmdWorker *self, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

void
vmd_worker_kill(VmdWorker *self)
{
	if (self->process != NULL && !self->exited && !self->process_gone)
		g_subprocess_force_exit(self->process);
}

static void
vmd_worker_dispose(GObject *object)
{
	VmdWorker *self = VMD_WORKER(object);

	vmd_worker_kill(self);
	g_clear_handle_id(&self->start_timeout, g_source_remove);
	g_clear_handle_id(&self->exit_timeout, g_source_remove);
	if (self->channel != NULL)
		g_signal_handlers_disconnect_by_data(self->channel, self);
	g_clear_object(&self->channel);
	if (self->log_pipe != NULL)
		g_signal_handlers_disconnect_by_data(self->log_pipe, self);
	g_clear_object(&self->log_pipe);
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
