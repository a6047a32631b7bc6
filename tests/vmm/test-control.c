/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm-control.h"
#include "vmm-test-error.h"
#include "vmp-protocol.h"

/*
 * The worker's end of the control protocol on a real SOCK_SEQPACKET
 * socketpair, driven record by record as vboxmemd drives it: a stand-in VM
 * replaces KVM.
 */

#define MEMORY_SIZE (64 * VMM_MIB)
#define START_TARGET (8 * VMM_MIB)

/* The stand-in VM: what the control asks of it, recorded. */
struct _VmmVm {
	int state;
	VmmMemory *memory;
	VmmBalloon *balloon;
	GMutex lock;
	char *stop_reason;
	gboolean powered_off;
};

VmmVmState
vmm_vm_get_state(VmmVm *self)
{
	return (VmmVmState)g_atomic_int_get(&self->state);
}

VmmBalloon *
vmm_vm_get_balloon(VmmVm *self)
{
	return self->balloon;
}

VmmMemory *
vmm_vm_get_memory(VmmVm *self)
{
	return self->memory;
}

unsigned
vmm_vm_get_n_vcpus(VmmVm *self)
{
	return 2;
}

void
vmm_vm_pause(VmmVm *self)
{
	g_atomic_int_set(&self->state, VMM_VM_PAUSED);
}

void
vmm_vm_resume(VmmVm *self)
{
	g_atomic_int_set(&self->state, VMM_VM_RUNNING);
}

static void
record_stop(VmmVm *self, const char *reason, gboolean power_off)
{
	g_mutex_lock(&self->lock);
	if (self->stop_reason == NULL)
		self->stop_reason = g_strdup(reason);
	self->powered_off |= power_off;
	g_mutex_unlock(&self->lock);
}

void
vmm_vm_stop(VmmVm *self, const char *reason)
{
	record_stop(self, reason, FALSE);
}

void
vmm_vm_power_off(VmmVm *self, const char *reason)
{
	record_stop(self, reason, TRUE);
}

static char *
dup_stop_reason(VmmVm *self)
{
	char *reason;

	g_mutex_lock(&self->lock);
	reason = g_strdup(self->stop_reason);
	g_mutex_unlock(&self->lock);
	return reason;
}

typedef struct {
	VmmVm vm;
	VmmLoop *loop;
	VmmControl *control;
	VmmBalloonListener listener;
	GThread *loop_thread;
	int peer; /* vboxmemd's end */
	guint32 last_id;
} Fixture;

static gpointer
run_loop(gpointer loop)
{
	vmm_loop_run(loop);
	return NULL;
}

static void
start_loop(Fixture *f)
{
	f->loop_thread = g_thread_new("vmm-loop", run_loop, f->loop);
}

static void
stop_loop(Fixture *f)
{
	if (f->loop_thread == NULL)
		return;
	vmm_loop_quit(f->loop);
	g_thread_join(f->loop_thread);
	f->loop_thread = NULL;
}

static void
send_raw(int fd, const void *bytes, size_t size)
{
	g_assert_cmpint(send(fd, bytes, size, MSG_NOSIGNAL), ==, (ssize_t)size);
}

static void
send_hello(int fd, uint32_t version)
{
	VmpRecord hello = {.kind = VMP_KIND_HELLO, .hello = {VMP_MAGIC, version}};

	g_assert_cmpint(vmp_send(fd, &hello, NULL, 0), ==, 0);
}

/* The next record from the worker, checked as vboxmemd checks it; fails after 5 s. */
static void
read_record(Fixture *f, VmpRecord *record)
{
	struct pollfd poll_fd = {f->peer, POLLIN, 0};
	uint8_t buffer[VMP_RECORD_MAX];
	int fds[VMP_FDS_MAX];
	unsigned n_fds;
	long size;

	g_assert_cmpint(poll(&poll_fd, 1, 5000), ==, 1);
	size = vmp_recv(f->peer, buffer, fds, &n_fds);
	g_assert_cmpint(size, >, 0);
	g_assert_cmpint(vmp_decode(buffer, (size_t)size, n_fds, VMP_FROM_WORKER, record, NULL),
			==,
			VMP_DECODE_OK);
}

static void
expect_kind(Fixture *f, VmpKind kind, VmpRecord *record)
{
	read_record(f, record);
	g_assert_cmpstr(vmp_kind_name(record->kind), ==, vmp_kind_name(kind));
}

static void
expect_reply(Fixture *f, uint32_t id, VmpStatus status)
{
	VmpRecord reply;

	expect_kind(f, VMP_KIND_REPLY, &reply);
	g_assert_cmpuint(reply.id, ==, id);
	g_assert_cmpuint(reply.reply.status, ==, status);
}

static void
expect_nothing_more(Fixture *f)
{
	struct pollfd poll_fd = {f->peer, POLLIN, 0};

	g_assert_cmpint(poll(&poll_fd, 1, 100), ==, 0);
}

static uint32_t
request(Fixture *f, VmpKind kind, uint64_t value)
{
	VmpRecord record = {.kind = kind, .id = ++f->last_id};

	if (kind == VMP_KIND_SET_BALLOON_TARGET)
		record.set_balloon_target.bytes = value;
	if (kind == VMP_KIND_SET_STATS_INTERVAL)
		record.set_stats_interval.milliseconds = (uint32_t)value;
	g_assert_cmpint(vmp_send(f->peer, &record, NULL, 0), ==, 0);
	return record.id;
}

static void
setup_vm(Fixture *f)
{
	vmm_autoptr(VmmError) error = NULL;
	VmmBalloonFeatures features = {.stats = true};

	g_mutex_init(&f->vm.lock);
	f->vm.state = VMM_VM_RUNNING;
	f->vm.memory = vmm_memory_new(MEMORY_SIZE, &error);
	vmm_assert_no_error(error);
	f->vm.balloon = vmm_balloon_new(f->vm.memory, &features, NULL);
	vmm_balloon_set_target(f->vm.balloon, START_TARGET);
	f->loop = vmm_loop_new(&error);
	vmm_assert_no_error(error);
}

/* As vboxmem-vm starts under vboxmemd: handshake, then READY and the first state. */
static void
setup(Fixture *f, gconstpointer data)
{
	vmm_autoptr(VmmError) error = NULL;
	VmpRecord record;
	int fds[2];

	setup_vm(f);
	g_assert_cmpint(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), ==, 0);
	f->peer = fds[1];
	send_hello(f->peer, VMP_VERSION);
	g_assert_true(vmm_control_handshake(fds[0], 1000, &error));
	vmm_assert_no_error(error);
	f->control = vmm_control_new(&f->vm, f->loop, fds[0], &error);
	vmm_assert_no_error(error);
	f->listener = vmm_control_balloon_listener(f->control);
	vmm_control_ready(f->control);
	start_loop(f);
	expect_kind(f, VMP_KIND_READY, &record);
	g_assert_cmpuint(record.ready.memory_size, ==, MEMORY_SIZE);
	g_assert_cmpuint(record.ready.n_vcpus, ==, 2);
	g_assert_cmpuint(record.ready.balloon_target, ==, START_TARGET);
	expect_kind(f, VMP_KIND_STATE, &record);
	g_assert_cmpuint(record.state.state, ==, VMP_STATE_RUNNING);
	expect_kind(f, VMP_KIND_BALLOON, &record);
	g_assert_cmpuint(record.balloon.target, ==, START_TARGET);
	g_assert_cmpuint(record.balloon.actual, ==, 0);
}

static void
teardown(Fixture *f, gconstpointer data)
{
	stop_loop(f);
	vmm_control_free(f->control);
	if (f->peer >= 0)
		close(f->peer);
	vmm_loop_free(f->loop);
	vmm_balloon_free(f->vm.balloon);
	vmm_memory_free(f->vm.memory);
	g_free(f->vm.stop_reason);
	g_mutex_clear(&f->vm.lock);
}

/* Waits until the stand-in VM was told to stop, at most 5 s; returns why. */
static char *
wait_stop_reason(Fixture *f)
{
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	char *reason;

	while ((reason = dup_stop_reason(&f->vm)) == NULL) {
		if (g_get_monotonic_time() > deadline)
			g_error("the VM was not stopped within 5 s");
		g_usleep(1000);
	}
	return reason;
}

/* A controller of another version, or none, is refused before the VM exists. */
static void
test_handshake(void)
{
	static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5};
	struct {
		const char *what;
		int code;
	} cases[] = {
		{"hello", 0},
		{"version", EPROTONOSUPPORT},
		{"pause", EPROTO},
		{"garbage", EPROTO},
		{"silence", ETIMEDOUT},
		{"closed", EPIPE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		vmm_autoptr(VmmError) error = NULL;
		VmpRecord pause = {.kind = VMP_KIND_PAUSE, .id = 1};
		int fds[2];
		bool ok;

		g_test_message("%s", cases[i].what);
		g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), ==, 0);
		if (g_str_equal(cases[i].what, "hello"))
			send_hello(fds[1], VMP_VERSION);
		else if (g_str_equal(cases[i].what, "version"))
			send_hello(fds[1], VMP_VERSION + 1);
		else if (g_str_equal(cases[i].what, "pause"))
			g_assert_cmpint(vmp_send(fds[1], &pause, NULL, 0), ==, 0);
		else if (g_str_equal(cases[i].what, "garbage"))
			send_raw(fds[1], garbage, sizeof(garbage));
		else if (g_str_equal(cases[i].what, "closed"))
			vmm_clear_fd(&fds[1]);
		ok = vmm_control_handshake(fds[0], 100, &error);
		if (cases[i].code == 0) {
			g_assert_true(ok);
			vmm_assert_no_error(error);
		} else {
			g_assert_false(ok);
			vmm_assert_error(error, cases[i].code);
		}
		close(fds[0]);
		vmm_clear_fd(&fds[1]);
	}
}

/* Each request is answered once, by id, after the events it caused. */
static void
test_requests(Fixture *f, gconstpointer data)
{
	VmpRecord record;
	uint32_t id;

	id = request(f, VMP_KIND_SET_BALLOON_TARGET, 16 * VMM_MIB);
	expect_kind(f, VMP_KIND_BALLOON, &record);
	g_assert_cmpuint(record.balloon.target, ==, 16 * VMM_MIB);
	expect_reply(f, id, VMP_STATUS_OK);
	g_assert_cmpuint(vmm_balloon_get_target(f->vm.balloon), ==, 16 * VMM_MIB);

	id = request(f, VMP_KIND_SET_BALLOON_TARGET, MEMORY_SIZE + VMM_PAGE_SIZE);
	expect_reply(f, id, VMP_STATUS_INVALID_ARGUMENT);
	g_assert_cmpuint(vmm_balloon_get_target(f->vm.balloon), ==, 16 * VMM_MIB);

	id = request(f, VMP_KIND_PAUSE, 0);
	expect_kind(f, VMP_KIND_STATE, &record);
	g_assert_cmpuint(record.state.state, ==, VMP_STATE_PAUSED);
	expect_reply(f, id, VMP_STATUS_OK);
	/* Nothing changed: nothing but the reply. */
	id = request(f, VMP_KIND_PAUSE, 0);
	expect_reply(f, id, VMP_STATUS_OK);

	id = request(f, VMP_KIND_RESUME, 0);
	expect_kind(f, VMP_KIND_STATE, &record);
	g_assert_cmpuint(record.state.state, ==, VMP_STATE_RUNNING);
	expect_reply(f, id, VMP_STATUS_OK);

	id = request(f, VMP_KIND_SET_STATS_INTERVAL, 1000);
	expect_reply(f, id, VMP_STATUS_OK);

	id = request(f, VMP_KIND_QUERY_STATE, 0);
	expect_kind(f, VMP_KIND_STATE, &record);
	g_assert_cmpuint(record.state.state, ==, VMP_STATE_RUNNING);
	expect_kind(f, VMP_KIND_BALLOON, &record);
	g_assert_cmpuint(record.balloon.target, ==, 16 * VMM_MIB);
	expect_reply(f, id, VMP_STATUS_OK);
	expect_nothing_more(f);

	id = request(f, VMP_KIND_POWER_OFF, 0);
	expect_reply(f, id, VMP_STATUS_OK);
	g_autofree char *reason = wait_stop_reason(f);
	g_assert_cmpstr(reason, ==, "powered off by the controller");
	g_assert_true(f->vm.powered_off);
}

/* Thousands of balloon updates from vCPU threads become a few records. */
static void
test_balloon_coalescing(Fixture *f, gconstpointer data)
{
	VmpRecord record;
	guint n_records = 0;

	for (guint i = 0; i < 5000; i++)
		f->listener.actual_changed(f->listener.user_data, 0);
	f->listener.pages_reported(f->listener.user_data, 4 * VMM_MIB);
	do {
		expect_kind(f, VMP_KIND_BALLOON, &record);
		n_records++;
	} while (record.balloon.reported_bytes != 4 * VMM_MIB);
	g_assert_cmpuint(n_records, <=, 2);
	expect_nothing_more(f);
}

/* What the controller sends is checked: a bad record stops the VM, never more. */
static void
test_bad_records(void)
{
	static const uint8_t unknown_kind[VMP_HEADER_SIZE] = {200, 0, VMP_HEADER_SIZE, 0};
	static const uint8_t truncated[3] = {4, 0, 8};
	uint8_t oversized[VMP_RECORD_MAX + 1] = {4, 0};
	uint8_t unaligned[VMP_RECORD_MAX];
	VmpRecord target = {.kind = VMP_KIND_SET_BALLOON_TARGET, .id = 1};
	VmpRecord hello = {.kind = VMP_KIND_HELLO, .hello = {VMP_MAGIC, VMP_VERSION}};
	VmpRecord pause = {.kind = VMP_KIND_PAUSE, .id = 7};
	size_t unaligned_size;

	target.set_balloon_target.bytes = VMM_MIB;
	unaligned_size = vmp_encode(&target, unaligned);
	unaligned[VMP_HEADER_SIZE] = 1; /* not a whole page */
	for (guint i = 0; i < 6; i++) {
		Fixture fixture = {0};
		Fixture *f = &fixture;
		g_autofree char *reason = NULL;
		int extra_fd = -1;

		setup(f, NULL);
		switch (i) {
		case 0:
			send_raw(f->peer, unknown_kind, sizeof(unknown_kind));
			break;
		case 1:
			send_raw(f->peer, truncated, sizeof(truncated));
			break;
		case 2:
			send_raw(f->peer, oversized, sizeof(oversized));
			break;
		case 3:
			send_raw(f->peer, unaligned, unaligned_size);
			break;
		case 4:
			g_assert_cmpint(vmp_send(f->peer, &hello, NULL, 0), ==, 0);
			break;
		default:
			/* A descriptor no request carries. */
			extra_fd = dup(STDIN_FILENO);
			g_assert_cmpint(vmp_send(f->peer, &pause, &extra_fd, 1), ==, 0);
			close(extra_fd);
			break;
		}
		reason = wait_stop_reason(f);
		g_test_message("case %u: %s", i, reason);
		g_assert_true(g_str_has_prefix(reason, "protocol error from the controller: "));
		g_assert_false(f->vm.powered_off);
		g_assert_cmpint(vmm_vm_get_state(&f->vm), ==, VMM_VM_RUNNING);
		g_assert_cmpuint(vmm_balloon_get_target(f->vm.balloon), ==, START_TARGET);
		teardown(f, NULL);
	}
}

static void
stop_vm(void *user_data)
{
	Fixture *f = user_data;
	VmmStopInfo info = {
		.guest_exited = true,
		.exit_status = 3,
		.reason = (char *)"the guest exited with status 3",
	};

	g_atomic_int_set(&f->vm.state, VMM_VM_STOPPED);
	vmm_control_vm_stopped(f->control, &info);
}

/* The state, then STOPPED, are the last records; then the worker quits. */
static void
test_stopped(Fixture *f, gconstpointer data)
{
	VmpRecord record;
	uint8_t buffer[VMP_RECORD_MAX];
	int fds[VMP_FDS_MAX];
	unsigned n_fds;

	vmm_loop_invoke(f->loop, stop_vm, f);
	/* The control quits the loop once everything is flushed. */
	g_thread_join(f->loop_thread);
	f->loop_thread = NULL;
	expect_kind(f, VMP_KIND_STATE, &record);
	g_assert_cmpuint(record.state.state, ==, VMP_STATE_STOPPED);
	expect_kind(f, VMP_KIND_STOPPED, &record);
	g_assert_cmpuint(record.stopped.flags, ==, VMP_STOPPED_GUEST_EXITED);
	g_assert_cmpint(record.stopped.exit_status, ==, 3);
	g_assert_cmpstr(record.stopped.reason, ==, "the guest exited with status 3");
	vmm_clear_pointer(&f->control, vmm_control_free);
	g_assert_cmpint(vmp_recv(f->peer, buffer, fds, &n_fds), ==, 0);
}

static void
test_controller_lost(Fixture *f, gconstpointer data)
{
	g_autofree char *reason = NULL;

	vmm_clear_fd(&f->peer);
	reason = wait_stop_reason(f);
	g_assert_cmpstr(reason, ==, "the controller went away");
	g_assert_false(f->vm.powered_off);
}

/* A controller that stops reading is dropped rather than buffered without end. */
static void
test_controller_not_reading(Fixture *f, gconstpointer data)
{
	g_autofree char *reason = NULL;
	guint sent = 0;

	/* Each QUERY_STATE asks for three records; none is read. */
	while ((reason = dup_stop_reason(&f->vm)) == NULL && sent < 100000) {
		VmpRecord query = {.kind = VMP_KIND_QUERY_STATE, .id = ++f->last_id};

		if (vmp_send(f->peer, &query, NULL, 0) == 0)
			sent++;
		else
			g_usleep(1000);
	}
	g_assert_cmpstr(reason, ==, "the controller stopped reading");
}

#define ADD(name, function) g_test_add(name, Fixture, NULL, setup, function, teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/control/handshake", test_handshake);
	g_test_add_func("/control/bad-records", test_bad_records);
	ADD("/control/requests", test_requests);
	ADD("/control/balloon-coalescing", test_balloon_coalescing);
	ADD("/control/stopped", test_stopped);
	ADD("/control/controller-lost", test_controller_lost);
	ADD("/control/controller-not-reading", test_controller_not_reading);
	return g_test_run();
}
