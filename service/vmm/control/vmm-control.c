/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm-control.h"
#include "vmm-log.h"
#include "vmp-protocol.h"

/* Balloon changes are sent at most this often. */
#define PUBLISH_DELAY_MS 20
/* How long the last records may take to leave before the worker exits anyway. */
#define FLUSH_TIMEOUT_MS 5000
/*
 * Records waiting for the controller to read them. Events are coalesced, so
 * an honest controller never lets this many pile up: one that does has
 * stopped reading, and the VM is stopped rather than buffered without end.
 */
#define MAX_QUEUED 256

/* Device callbacks arrive on vCPU threads and are handed to the loop. */
struct _VmmControl {
	VmmVm *vm;
	VmmLoop *loop;
	int fd;
	VmmLoopSource *fd_source;
	VmmLoopSource *stats_source;
	VmmLoopSource *publish_source;
	bool publish_pending;
	uint64_t reported_bytes;
	bool stopped;
	bool lost; /* the controller went away or stopped reading */
	VmpRecord queue[MAX_QUEUED];
	unsigned n_queued;
	/* What the controller was last told. */
	uint32_t state;
	VmpBalloon balloon;
	int64_t stats_updated;
};

bool
vmm_control_handshake(int fd, int timeout_ms, VmmError **error)
{
	struct pollfd poll_fd = {fd, POLLIN, 0};
	uint8_t buffer[VMP_RECORD_MAX];
	int fds[VMP_FDS_MAX];
	unsigned n_fds = 0;
	VmpRecord hello;
	VmpDecodeResult result;
	long size;

	if (poll(&poll_fd, 1, timeout_ms) <= 0)
		return vmm_set_error(
			error, ETIMEDOUT, "no HELLO from the controller within %d ms", timeout_ms);
	size = vmp_recv(fd, buffer, fds, &n_fds);
	if (size <= 0)
		return vmm_set_error(error, EPIPE, "the controller closed before its HELLO");
	vmp_close_fds(fds, n_fds);
	result = vmp_decode(buffer, (size_t)size, n_fds, VMP_FROM_DAEMON, &hello, NULL);
	if (result != VMP_DECODE_OK)
		return vmm_set_error(
			error, EPROTO, "bad first record: %s", vmp_decode_result_name(result));
	if (hello.kind != VMP_KIND_HELLO)
		return vmm_set_error(error,
				     EPROTO,
				     "the first record is %s, not HELLO",
				     vmp_kind_name(hello.kind));
	if (hello.hello.version != VMP_VERSION)
		return vmm_set_error(error,
				     EPROTONOSUPPORT,
				     "the controller speaks protocol version %" PRIu32
				     ", this worker version %u",
				     hello.hello.version,
				     VMP_VERSION);
	return true;
}

static void
lose_controller(VmmControl *self, const char *why)
{
	if (self->lost)
		return;
	self->lost = true;
	vmm_loop_clear_source(self->loop, &self->fd_source);
	vmm_vm_stop(self->vm, why);
}

static bool
flush_queue(VmmControl *self)
{
	unsigned sent = 0;
	int failure = 0;

	while (sent < self->n_queued &&
	       (failure = vmp_send(self->fd, &self->queue[sent], NULL, 0)) == 0)
		sent++;
	memmove(self->queue, self->queue + sent, (self->n_queued - sent) * sizeof(self->queue[0]));
	self->n_queued -= sent;
	if (failure != 0 && failure != EAGAIN) {
		lose_controller(self, "the controller went away");
		self->n_queued = 0;
	}
	return self->n_queued == 0;
}

static void
watch_fd(VmmControl *self)
{
	if (self->fd_source != NULL)
		vmm_loop_set_fd_events(
			self->loop, self->fd_source, EPOLLIN | (self->n_queued > 0 ? EPOLLOUT : 0));
}

static void
send_record(VmmControl *self, const VmpRecord *record)
{
	if (self->lost)
		return;
	if (self->n_queued == MAX_QUEUED) {
		lose_controller(self, "the controller stopped reading");
		return;
	}
	self->queue[self->n_queued++] = *record;
	if (self->n_queued == 1)
		flush_queue(self);
	watch_fd(self);
}

static uint32_t
current_state(VmmControl *self)
{
	if (self->stopped)
		return VMP_STATE_STOPPED;
	return vmm_vm_get_state(self->vm) == VMM_VM_PAUSED ? VMP_STATE_PAUSED : VMP_STATE_RUNNING;
}

static void
publish_state(VmmControl *self)
{
	VmpRecord record = {.kind = VMP_KIND_STATE};

	record.state.state = current_state(self);
	if (record.state.state == self->state)
		return;
	self->state = record.state.state;
	send_record(self, &record);
}

static void
publish_guest_stats(VmmControl *self, const VmmBalloonStats *stats)
{
	VmpRecord record = {.kind = VMP_KIND_GUEST_STATS};

	if (stats->updated == 0 || stats->updated == self->stats_updated)
		return;
	self->stats_updated = stats->updated;
	record.guest_stats.known = stats->known & ((1u << VMP_STAT_COUNT) - 1);
	record.guest_stats.updated_us = VMM_MAX(stats->updated, (int64_t)0);
	memcpy(record.guest_stats.values,
	       stats->values,
	       sizeof(record.guest_stats.values[0]) * VMP_STAT_COUNT);
	send_record(self, &record);
}

static void
publish_balloon(VmmControl *self, bool always)
{
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);
	VmpRecord record = {.kind = VMP_KIND_BALLOON};
	VmmBalloonStats stats;

	__atomic_store_n(&self->publish_pending, false, __ATOMIC_SEQ_CST);
	if (balloon == NULL)
		return;
	record.balloon = (VmpBalloon){
		.target = vmm_balloon_get_target(balloon),
		.actual = vmm_balloon_get_actual(balloon),
		.guest_actual = vmm_balloon_get_guest_actual(balloon),
		.reported_bytes = __atomic_load_n(&self->reported_bytes, __ATOMIC_RELAXED),
	};
	if (always || memcmp(&record.balloon, &self->balloon, sizeof(record.balloon)) != 0) {
		self->balloon = record.balloon;
		send_record(self, &record);
	}
	vmm_balloon_get_stats(balloon, &stats);
	publish_guest_stats(self, &stats);
}

static void
reply(VmmControl *self, const VmpRecord *request, VmpStatus status)
{
	VmpRecord record = {.kind = VMP_KIND_REPLY, .id = request->id};

	record.reply.status = status;
	send_record(self, &record);
}

static VmpStatus
set_balloon_target(VmmControl *self, uint64_t bytes)
{
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);

	if (balloon == NULL || bytes > vmm_vm_get_memory(self->vm)->size)
		return VMP_STATUS_INVALID_ARGUMENT;
	vmm_balloon_set_target(balloon, bytes);
	return VMP_STATUS_OK;
}

static bool
request_stats(void *user_data)
{
	VmmControl *self = user_data;
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);

	if (balloon != NULL)
		vmm_balloon_request_stats(balloon);
	return true;
}

void
vmm_control_set_stats_interval(VmmControl *self, unsigned milliseconds)
{
	vmm_loop_clear_source(self->loop, &self->stats_source);
	if (milliseconds > 0)
		self->stats_source =
			vmm_loop_add_timeout(self->loop, milliseconds, request_stats, self);
}

/* Runs a request; what it changed is published before its reply. */
static VmpStatus
run_request(VmmControl *self, const VmpRecord *request)
{
	switch (request->kind) {
	case VMP_KIND_SET_BALLOON_TARGET:
		return set_balloon_target(self, request->set_balloon_target.bytes);
	case VMP_KIND_SET_STATS_INTERVAL:
		vmm_control_set_stats_interval(self, request->set_stats_interval.milliseconds);
		return VMP_STATUS_OK;
	case VMP_KIND_PAUSE:
		vmm_vm_pause(self->vm);
		return VMP_STATUS_OK;
	case VMP_KIND_RESUME:
		vmm_vm_resume(self->vm);
		return VMP_STATUS_OK;
	default:
		return VMP_STATUS_OK;
	}
}

static void
handle_request(VmmControl *self, const VmpRecord *request)
{
	VmpStatus status;

	if (request->kind == VMP_KIND_POWER_OFF) {
		reply(self, request, VMP_STATUS_OK);
		vmm_vm_power_off(self->vm, "powered off by the controller");
		return;
	}
	if (request->kind == VMP_KIND_QUERY_STATE) {
		self->state = 0;
		self->stats_updated = 0;
		publish_state(self);
		publish_balloon(self, true);
		reply(self, request, VMP_STATUS_OK);
		return;
	}
	if (self->stopped) {
		reply(self, request, VMP_STATUS_STOPPED);
		return;
	}
	status = run_request(self, request);
	publish_state(self);
	publish_balloon(self, false);
	reply(self, request, status);
}

static void
refuse_record(VmmControl *self, const char *what)
{
	vmm_autofree char *why = vmm_strdup_printf("protocol error from the controller: %s", what);

	vmm_warning("%s", why);
	vmm_loop_clear_source(self->loop, &self->fd_source);
	vmm_vm_stop(self->vm, why);
}

static bool
receive_one(VmmControl *self)
{
	uint8_t buffer[VMP_RECORD_MAX];
	int fds[VMP_FDS_MAX];
	unsigned n_fds = 0;
	VmpRecord record;
	VmpDecodeResult result;
	long size = vmp_recv(self->fd, buffer, fds, &n_fds);

	if (size == -EAGAIN)
		return false;
	if (size <= 0) {
		lose_controller(self, "the controller went away");
		return false;
	}
	/* No request carries descriptors yet. */
	vmp_close_fds(fds, VMM_MIN(n_fds, VMP_FDS_MAX));
	result = vmp_decode(buffer, (size_t)size, n_fds, VMP_FROM_DAEMON, &record, NULL);
	if (result == VMP_DECODE_OK && record.kind == VMP_KIND_HELLO)
		result = VMP_DECODE_WRONG_SENDER;
	if (result != VMP_DECODE_OK) {
		refuse_record(self, vmp_decode_result_name(result));
		return false;
	}
	handle_request(self, &record);
	return true;
}

static bool
control_fd_cb(int fd, uint32_t events, void *user_data)
{
	VmmControl *self = user_data;

	if (events & EPOLLOUT)
		flush_queue(self);
	/* One datagram per request: a burst is answered a bounded amount at a time. */
	for (unsigned i = 0; i < 64 && self->fd_source != NULL && receive_one(self); i++)
		;
	if (self->fd_source != NULL && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
		lose_controller(self, "the controller went away");
	watch_fd(self);
	return true;
}

static bool
publish_balloon_later(void *user_data)
{
	VmmControl *self = user_data;

	self->publish_source = NULL;
	publish_balloon(self, false);
	return false;
}

static void
start_publish_timer(void *user_data)
{
	VmmControl *self = user_data;

	if (!self->stopped && self->publish_source == NULL)
		self->publish_source = vmm_loop_add_timeout(
			self->loop, PUBLISH_DELAY_MS, publish_balloon_later, self);
}

/*
 * Called on vCPU threads for every batch the guest hands over: sending each
 * would mean thousands of records per inflation, so changes are gathered
 * and sent at most every PUBLISH_DELAY_MS.
 */
static void
schedule_publish(VmmControl *self)
{
	if (!__atomic_exchange_n(&self->publish_pending, true, __ATOMIC_SEQ_CST))
		vmm_loop_invoke(self->loop, start_publish_timer, self);
}

static void
on_actual_changed(void *user_data, uint64_t actual_bytes)
{
	schedule_publish(user_data);
}

static void
on_stats_updated(void *user_data, const VmmBalloonStats *stats)
{
	schedule_publish(user_data);
}

static void
on_pages_reported(void *user_data, uint64_t bytes)
{
	VmmControl *self = user_data;

	__atomic_fetch_add(&self->reported_bytes, bytes, __ATOMIC_RELAXED);
	schedule_publish(self);
}

VmmBalloonListener
vmm_control_balloon_listener(VmmControl *self)
{
	return (VmmBalloonListener){on_actual_changed, on_stats_updated, on_pages_reported, self};
}

void
vmm_control_ready(VmmControl *self)
{
	VmmBalloon *balloon = vmm_vm_get_balloon(self->vm);
	VmpRecord record = {.kind = VMP_KIND_READY};

	record.ready = (VmpReady){
		.magic = VMP_MAGIC,
		.version = VMP_VERSION,
		.memory_size = vmm_vm_get_memory(self->vm)->size,
		.n_vcpus = vmm_vm_get_n_vcpus(self->vm),
		.balloon_target = balloon != NULL ? vmm_balloon_get_target(balloon) : 0,
	};
	send_record(self, &record);
	publish_state(self);
	publish_balloon(self, true);
}

/* The last records must reach the controller before the process ends. */
static void
flush_all(VmmControl *self)
{
	int64_t deadline = vmm_monotonic_us() + FLUSH_TIMEOUT_MS * 1000;

	while (!self->lost && !flush_queue(self)) {
		struct pollfd poll_fd = {self->fd, POLLOUT, 0};
		int64_t left_ms = (deadline - vmm_monotonic_us()) / 1000;

		if (left_ms <= 0 || poll(&poll_fd, 1, (int)left_ms) <= 0)
			break;
	}
}

static void
copy_reason(char reason[VMP_REASON_SIZE], const char *text)
{
	snprintf(reason, VMP_REASON_SIZE, "%s", text != NULL ? text : "");
}

void
vmm_control_vm_stopped(VmmControl *self, const VmmStopInfo *info)
{
	VmpRecord record = {.kind = VMP_KIND_STOPPED};

	self->stopped = true;
	vmm_loop_clear_source(self->loop, &self->stats_source);
	vmm_loop_clear_source(self->loop, &self->publish_source);
	publish_balloon(self, false);
	publish_state(self);
	record.stopped.flags = (info->guest_exited ? VMP_STOPPED_GUEST_EXITED : 0) |
			       (info->requested ? VMP_STOPPED_REQUESTED : 0);
	record.stopped.exit_status = info->guest_exited ? info->exit_status : -1;
	copy_reason(record.stopped.reason, info->reason);
	send_record(self, &record);
	flush_all(self);
	vmm_loop_quit(self->loop);
}

VmmControl *
vmm_control_new(VmmVm *vm, VmmLoop *loop, int fd, VmmError **error)
{
	VmmControl *self = vmm_new0(VmmControl, 1);

	self->vm = vm;
	self->loop = loop;
	self->fd = fd;
	self->fd_source = vmm_loop_add_fd(loop, fd, EPOLLIN, control_fd_cb, self);
	if (self->fd_source == NULL) {
		vmm_control_free(self);
		vmm_set_error_literal(error, EINVAL, "cannot watch the control socket");
		return NULL;
	}
	return self;
}

void
vmm_control_free(VmmControl *self)
{
	if (self == NULL)
		return;
	vmm_loop_clear_source(self->loop, &self->stats_source);
	vmm_loop_clear_source(self->loop, &self->publish_source);
	vmm_loop_clear_source(self->loop, &self->fd_source);
	vmm_clear_fd(&self->fd);
	free(self);
}
