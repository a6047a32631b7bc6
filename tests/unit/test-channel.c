/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vboxmem-error.h"
#include "vmd-channel.h"
#include "vmd-log-pipe.h"

/*
 * vboxmemd's side of a worker: the control channel and the stderr pipe,
 * against a worker end that misbehaves on purpose.
 */

typedef struct {
	VmdChannel *channel;
	int worker; /* the worker's end */
	GPtrArray *records;
	gboolean closed;
	gchar *why;
} Fixture;

static void
record_cb(VmdChannel *channel, const VmpRecord *record, Fixture *f)
{
	g_ptr_array_add(f->records, g_memdup2(record, sizeof(*record)));
}

static void
closed_cb(VmdChannel *channel, const gchar *why, Fixture *f)
{
	g_assert_false(f->closed);
	f->closed = TRUE;
	f->why = g_strdup(why);
}

static void
setup(Fixture *f, gconstpointer data)
{
	int fds[2];

	g_assert_cmpint(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), ==, 0);
	f->worker = fds[1];
	f->channel = vmd_channel_new(fds[0]);
	f->records = g_ptr_array_new_with_free_func(g_free);
	g_signal_connect(f->channel, "record", G_CALLBACK(record_cb), f);
	g_signal_connect(f->channel, "closed", G_CALLBACK(closed_cb), f);
}

static void
teardown(Fixture *f, gconstpointer data)
{
	g_clear_object(&f->channel);
	if (f->worker >= 0)
		close(f->worker);
	g_ptr_array_unref(f->records);
	g_free(f->why);
}

#define WAIT_FOR(condition)                                                                        \
	do {                                                                                       \
		gint64 deadline_ = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;                   \
		while (!(condition)) {                                                             \
			if (g_get_monotonic_time() > deadline_)                                    \
				g_error("still not " #condition " after 10 s");                    \
			g_main_context_iteration(NULL, TRUE);                                      \
		}                                                                                  \
	} while (0)

static void
worker_sends(Fixture *f, const VmpRecord *record)
{
	g_assert_cmpint(vmp_send(f->worker, record, NULL, 0), ==, 0);
}

static void
worker_sends_state(Fixture *f, VmpState state)
{
	VmpRecord record = {.kind = VMP_KIND_STATE, .state = {state}};

	worker_sends(f, &record);
}

static void
expect_broken(Fixture *f, const gchar *why_part)
{
	WAIT_FOR(f->closed);
	g_assert_nonnull(f->why);
	g_test_message("%s", f->why);
	g_assert_true(g_str_has_prefix(f->why, "the worker broke the control protocol: "));
	g_assert_nonnull(strstr(f->why, why_part));
}

static void
test_events(Fixture *f, gconstpointer data)
{
	const VmpRecord *state;

	worker_sends_state(f, VMP_STATE_PAUSED);
	WAIT_FOR(f->records->len == 1);
	state = g_ptr_array_index(f->records, 0);
	g_assert_cmpuint(state->kind, ==, VMP_KIND_STATE);
	g_assert_cmpuint(state->state.state, ==, VMP_STATE_PAUSED);
	/* The worker closing its end is not a protocol error. */
	close(f->worker);
	f->worker = -1;
	WAIT_FOR(f->closed);
	g_assert_null(f->why);
}

static void
request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GError **error = user_data;
	gint status = vmd_channel_request_finish(VMD_CHANNEL(source), res, error);

	if (*error == NULL)
		*error = g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED, "status %d", status);
}

/* Reads the request the daemon sent, as the worker would. */
static VmpRecord
worker_reads(Fixture *f)
{
	uint8_t buffer[VMP_RECORD_MAX];
	int fds[VMP_FDS_MAX];
	unsigned n_fds = 0;
	VmpRecord record;
	long size;

	WAIT_FOR((size = vmp_recv(f->worker, buffer, fds, &n_fds)) != -EAGAIN);
	g_assert_cmpint(vmp_decode(buffer, (gsize)size, n_fds, VMP_FROM_DAEMON, &record, NULL),
			==,
			VMP_DECODE_OK);
	return record;
}

static void
worker_replies(Fixture *f, guint32 id, VmpStatus status)
{
	VmpRecord reply = {.kind = VMP_KIND_REPLY, .id = id, .reply = {status}};

	worker_sends(f, &reply);
}

static void
test_request_reply(Fixture *f, gconstpointer data)
{
	VmpRecord pause = {.kind = VMP_KIND_PAUSE};
	g_autoptr(GError) result = NULL;
	VmpRecord sent;

	vmd_channel_request(f->channel, &pause, NULL, request_done_cb, &result);
	sent = worker_reads(f);
	g_assert_cmpuint(sent.kind, ==, VMP_KIND_PAUSE);
	g_assert_cmpuint(sent.id, !=, 0);
	worker_replies(f, sent.id, VMP_STATUS_STOPPED);
	WAIT_FOR(result != NULL);
	g_assert_error(result, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_cmpstr(result->message, ==, "status 2");
	/* A second reply to the same request is one too many. */
	worker_replies(f, sent.id, VMP_STATUS_OK);
	expect_broken(f, "not pending");
}

/* A request the worker leaves unanswered fails in bounded time; a late answer is fine. */
static void
test_request_timeout(Fixture *f, gconstpointer data)
{
	VmpRecord target = {.kind = VMP_KIND_SET_BALLOON_TARGET, .set_balloon_target = {4096}};
	g_autoptr(GError) result = NULL;
	VmpRecord sent;

	vmd_channel_request(f->channel, &target, NULL, request_done_cb, &result);
	sent = worker_reads(f);
	WAIT_FOR(result != NULL);
	g_assert_error(result, VBOXMEM_ERROR, VBOXMEM_ERROR_FAILED);
	g_assert_nonnull(strstr(result->message, "did not answer within"));
	worker_replies(f, sent.id, VMP_STATUS_OK);
	worker_sends_state(f, VMP_STATE_RUNNING);
	WAIT_FOR(f->records->len == 1);
	g_assert_false(f->closed);
}

/* A request the codec would refuse is never sent. */
static void
test_request_out_of_range(Fixture *f, gconstpointer data)
{
	VmpRecord target = {.kind = VMP_KIND_SET_BALLOON_TARGET, .set_balloon_target = {4097}};
	g_autoptr(GError) result = NULL;

	vmd_channel_request(f->channel, &target, NULL, request_done_cb, &result);
	WAIT_FOR(result != NULL);
	g_assert_error(result, VBOXMEM_ERROR, VBOXMEM_ERROR_INVALID_ARGUMENT);
}

static void
test_garbage(Fixture *f, gconstpointer data)
{
	static const guint8 garbage[] = "GET / HTTP/1.1\r\n";

	g_assert_cmpint(send(f->worker, garbage, sizeof(garbage), 0), ==, sizeof(garbage));
	expect_broken(f, "a record of 17 bytes: unknown record kind");
	/* Nothing after the first error is read. */
	worker_sends_state(f, VMP_STATE_RUNNING);
	for (guint i = 0; i < 10; i++)
		g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(f->records->len, ==, 0);
}

static void
test_oversized(Fixture *f, gconstpointer data)
{
	guint8 big[4096] = {VMP_KIND_STATE, 0};

	g_assert_cmpint(send(f->worker, big, sizeof(big), 0), ==, sizeof(big));
	expect_broken(f, "longer than any record");
}

static void
test_out_of_range(Fixture *f, gconstpointer data)
{
	VmpRecord state = {.kind = VMP_KIND_STATE, .state = {VMP_STATE_RUNNING}};
	guint8 buffer[VMP_RECORD_MAX];
	gsize size = vmp_encode(&state, buffer);

	buffer[VMP_HEADER_SIZE] = 9;
	g_assert_cmpint(send(f->worker, buffer, size, 0), ==, (gssize)size);
	expect_broken(f, "a field out of range: state");
}

static void
test_requests_from_worker(Fixture *f, gconstpointer data)
{
	VmpRecord power_off = {.kind = VMP_KIND_POWER_OFF, .id = 1};
	guint8 buffer[VMP_RECORD_MAX];
	gsize size = vmp_encode(&power_off, buffer);

	g_assert_cmpint(send(f->worker, buffer, size, 0), ==, (gssize)size);
	expect_broken(f, "a record the sender may not send");
}

static guint
count_open_fds(void)
{
	g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
	guint n = 0;

	while (g_dir_read_name(dir) != NULL)
		n++;
	return n;
}

/* Descriptors a worker pushes at vboxmemd are closed at once. */
static void
test_descriptors(Fixture *f, gconstpointer data)
{
	VmpRecord state = {.kind = VMP_KIND_STATE, .state = {VMP_STATE_RUNNING}};
	int fds[VMP_FDS_MAX];
	guint before;

	for (guint i = 0; i < VMP_FDS_MAX; i++)
		fds[i] = dup(STDERR_FILENO);
	before = count_open_fds();
	g_assert_cmpint(vmp_send(f->worker, &state, fds, VMP_FDS_MAX), ==, 0);
	expect_broken(f, "wrong number of file descriptors");
	g_assert_cmpuint(count_open_fds(), ==, before);
	for (guint i = 0; i < VMP_FDS_MAX; i++)
		close(fds[i]);
}

/* A flood is read no faster than the rate limit, and all of it in the end. */
static void
test_rate_limit(Fixture *f, gconstpointer data)
{
	const guint total = VMD_CHANNEL_MAX_RECORDS_PER_SECOND * 2 + 50;
	gint64 start = g_get_monotonic_time();
	guint sent = 0;
	guint in_first_second = 0;

	while (sent < total) {
		VmpRecord state = {.kind = VMP_KIND_STATE, .state = {VMP_STATE_RUNNING}};

		if (vmp_send(f->worker, &state, NULL, 0) == 0)
			sent++;
		else
			g_main_context_iteration(NULL, FALSE);
		if (g_get_monotonic_time() - start < G_USEC_PER_SEC * 9 / 10)
			in_first_second = f->records->len;
	}
	WAIT_FOR(f->records->len == total);
	while (g_get_monotonic_time() - start < G_USEC_PER_SEC * 9 / 10) {
		g_main_context_iteration(NULL, FALSE);
		in_first_second = f->records->len;
	}
	g_test_message("%u records in the first 0.9 s", in_first_second);
	g_assert_cmpuint(in_first_second, <=, VMD_CHANNEL_MAX_RECORDS_PER_SECOND);
	g_assert_false(f->closed);
}

typedef struct {
	guint n_messages;
	gsize longest;
	gchar *last;
} LogCount;

static void
count_message(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	LogCount *count = data;

	count->n_messages++;
	count->longest = MAX(count->longest, strlen(message));
	g_free(count->last);
	count->last = g_strdup(message);
}

static void
pipe_closed_cb(VmdLogPipe *log_pipe, gboolean *closed)
{
	*closed = TRUE;
}

/* Writes @size bytes of @byte to @fd, waiting while the pipe is full. */
static void
write_all(int fd, char byte, gsize size)
{
	gchar chunk[65536];

	memset(chunk, byte, sizeof(chunk));
	while (size > 0) {
		gssize n = write(fd, chunk, MIN(size, sizeof(chunk)));

		if (n < 0) {
			g_assert_cmpint(errno, ==, EAGAIN);
			g_main_context_iteration(NULL, FALSE);
			continue;
		}
		size -= (gsize)n;
	}
}

/* An endless line costs a bounded line, and the log a bounded number of lines. */
static void
test_log_pipe(void)
{
	LogCount count = {0};
	gboolean closed = FALSE;
	g_autoptr(VmdLogPipe) log_pipe = NULL;
	guint handler;
	int fds[2];

	g_assert_true(g_unix_open_pipe(fds, FD_CLOEXEC, NULL));
	g_assert_true(g_unix_set_fd_nonblocking(fds[1], TRUE, NULL));
	handler = g_log_set_handler(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, count_message, &count);
	log_pipe = vmd_log_pipe_new(fds[0], "web1");
	g_signal_connect(log_pipe, "closed", G_CALLBACK(pipe_closed_cb), &closed);
	write_all(fds[1], 'x', 2 * 1024 * 1024);
	write_all(fds[1], '\n', 1);
	WAIT_FOR(count.n_messages == 1);
	g_assert_cmpuint(count.longest, <=, strlen("web1: ") + VMD_LOG_PIPE_MAX_LINE + 3);
	g_assert_true(g_str_has_suffix(vmd_log_pipe_get_last_line(log_pipe), "…"));
	/* A burst of lines: a few logged, the rest counted. */
	for (guint i = 0; i < 200; i++)
		write_all(fds[1], '\n', 1);
	write_all(fds[1], '\033', 1);
	close(fds[1]);
	WAIT_FOR(closed);
	g_log_remove_handler(G_LOG_DOMAIN, handler);
	g_test_message("%u messages, last: %s", count.n_messages, count.last);
	g_assert_cmpuint(count.n_messages, <=, VMD_LOG_PIPE_LINES_PER_SECOND * 2 + 2);
	g_assert_nonnull(strstr(count.last, "lines not logged"));
	/* The last words are kept, escaped, for the exit reason. */
	g_assert_cmpstr(vmd_log_pipe_get_last_line(log_pipe), ==, "\\u001b");
	g_free(count.last);
}

#define ADD(name, function) g_test_add(name, Fixture, NULL, setup, function, teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/channel/events", test_events);
	ADD("/channel/request-reply", test_request_reply);
	ADD("/channel/request-timeout", test_request_timeout);
	ADD("/channel/request-out-of-range", test_request_out_of_range);
	ADD("/channel/garbage", test_garbage);
	ADD("/channel/oversized", test_oversized);
	ADD("/channel/out-of-range", test_out_of_range);
	ADD("/channel/requests-from-worker", test_requests_from_worker);
	ADD("/channel/descriptors", test_descriptors);
	ADD("/channel/rate-limit", test_rate_limit);
	g_test_add_func("/log-pipe/bounded", test_log_pipe);
	return g_test_run();
}
