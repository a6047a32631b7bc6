/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * A stand-in for vboxmem-vm that vboxmemd starts in its place: it speaks the
 * control protocol as a worker a guest has taken over would, to show that
 * the root daemon survives it. No KVM: this is the one part of a real worker
 * that a test cannot make misbehave on demand.
 *
 * The mode is the word after "hostile=" in --cmdline (the machine's
 * CommandLine):
 *   honest          answers every request; the balloon moves at once
 *   garbage         sends bytes that are no record
 *   oversized       sends a 64 KiB datagram
 *   out-of-range    reports a balloon larger than the machine
 *   descriptors     sends file descriptors with an event
 *   wrong-ready     claims another memory size in READY
 *   after-stopped   sends an event after STOPPED
 *   flood           sends events as fast as the socket takes them
 *   mute            reads requests and never answers
 *   retouch         reports its balloon honestly, then takes all the memory back
 *   hang-up         closes its control socket and lives on
 *   stderr-endless  writes one endless line to stderr
 *   stderr-flood    writes lines to stderr without pause
 * Every mode but mute still answers POWER_OFF, so that a test can tell a
 * daemon that stopped listening from a worker that did.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmp-protocol.h"

#define CONTROL_FD 3
#define MIB (UINT64_C(1) << 20)

typedef struct {
	char mode[32];
	uint64_t memory_size;
	uint32_t cpus;
	uint64_t balloon;
	VmpBalloon state;
} Worker;

static bool
mode_is(const Worker *worker, const char *mode)
{
	return strcmp(worker->mode, mode) == 0;
}

/* Held open for the worker's life, as vboxmem-vm holds its console log. */
static void
open_console_log(const char *path)
{
	if (open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) < 0)
		perror("hostile-worker: console log");
}

/* Says what a boot file descriptor holds, so that a test can see what the worker got. */
static void
report_boot_file(const char *what, int fd)
{
	char head[64] = "";
	ssize_t n = pread(fd, head, sizeof(head) - 1, 0);

	if (n < 0)
		fprintf(stderr, "hostile-worker: %s-fd %d unreadable\n", what, fd);
	else
		fprintf(stderr,
			"hostile-worker: %s-fd starts with '%.*s'\n",
			what,
			(int)strcspn(head, "\n"),
			head);
}

static void
parse_args(Worker *worker, int argc, char **argv)
{
	snprintf(worker->mode, sizeof(worker->mode), "honest");
	worker->cpus = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *hostile;

		if (strncmp(arg, "--memory=", 9) == 0)
			worker->memory_size = strtoull(arg + 9, NULL, 10) * MIB;
		else if (strncmp(arg, "--cpus=", 7) == 0)
			worker->cpus = (uint32_t)strtoul(arg + 7, NULL, 10);
		else if (strncmp(arg, "--balloon=", 10) == 0)
			worker->balloon = strtoull(arg + 10, NULL, 10) * MIB;
		else if (strncmp(arg, "--console-log=", 14) == 0)
			open_console_log(arg + 14);
		else if (strncmp(arg, "--kernel-fd=", 12) == 0)
			report_boot_file("kernel", atoi(arg + 12));
		else if (strncmp(arg, "--initrd-fd=", 12) == 0)
			report_boot_file("initrd", atoi(arg + 12));
		else if (strncmp(arg, "--cmdline=", 10) == 0 &&
			 (hostile = strstr(arg, "hostile=")) != NULL)
			snprintf(worker->mode,
				 sizeof(worker->mode),
				 "%.*s",
				 (int)strcspn(hostile + 8, " "),
				 hostile + 8);
	}
}

/* Blocking send, as a worker that does not care how long it waits. */
static void
send_record(const VmpRecord *record)
{
	struct pollfd poll_fd = {CONTROL_FD, POLLOUT, 0};

	while (vmp_send(CONTROL_FD, record, NULL, 0) == EAGAIN)
		poll(&poll_fd, 1, -1);
}

static void
send_raw(const void *bytes, size_t size)
{
	if (send(CONTROL_FD, bytes, size, MSG_NOSIGNAL) != (ssize_t)size)
		perror("hostile-worker: send");
}

static void
send_balloon(Worker *worker)
{
	VmpRecord record = {.kind = VMP_KIND_BALLOON, .balloon = worker->state};

	send_record(&record);
}

static void
send_state(uint32_t state)
{
	VmpRecord record = {.kind = VMP_KIND_STATE, .state = {state}};

	send_record(&record);
}

static void
send_stopped(const char *reason)
{
	VmpRecord record = {.kind = VMP_KIND_STOPPED};

	record.stopped.flags = VMP_STOPPED_REQUESTED;
	record.stopped.exit_status = -1;
	snprintf(record.stopped.reason, sizeof(record.stopped.reason), "%s", reason);
	send_state(VMP_STATE_STOPPED);
	send_record(&record);
}

static bool
read_request(VmpRecord *request, int timeout_ms)
{
	struct pollfd poll_fd = {CONTROL_FD, POLLIN, 0};
	uint8_t buffer[VMP_RECORD_MAX];
	int fds[VMP_FDS_MAX];
	unsigned n_fds = 0;
	long size;

	if (poll(&poll_fd, 1, timeout_ms) <= 0)
		return false;
	size = vmp_recv(CONTROL_FD, buffer, fds, &n_fds);
	if (size == 0)
		exit(1); /* the controller went away */
	if (size < 0)
		return false;
	vmp_close_fds(fds, n_fds > VMP_FDS_MAX ? VMP_FDS_MAX : n_fds);
	if (vmp_decode(buffer, (size_t)size, n_fds, VMP_FROM_DAEMON, request, NULL) !=
	    VMP_DECODE_OK) {
		fprintf(stderr, "hostile-worker: a bad record from the controller\n");
		exit(1);
	}
	return true;
}

static void
reply(const VmpRecord *request, VmpStatus status)
{
	VmpRecord record = {.kind = VMP_KIND_REPLY, .id = request->id, .reply = {status}};

	send_record(&record);
}

/* As a guest writing to its ballooned pages: all of its memory resident again. */
static void
take_memory_back(const Worker *worker)
{
	void *memory = mmap(NULL,
			    worker->memory_size,
			    PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			    -1,
			    0);

	if (memory == MAP_FAILED)
		perror("hostile-worker: mmap");
}

/* Returns false once the worker should exit. */
static bool
answer(Worker *worker, const VmpRecord *request)
{
	switch (request->kind) {
	case VMP_KIND_POWER_OFF:
		reply(request, VMP_STATUS_OK);
		send_stopped("powered off by the controller");
		return false;
	case VMP_KIND_SET_BALLOON_TARGET:
		if (request->set_balloon_target.bytes > worker->memory_size) {
			reply(request, VMP_STATUS_INVALID_ARGUMENT);
			return true;
		}
		worker->state.target = request->set_balloon_target.bytes;
		worker->state.actual = worker->state.target;
		worker->state.guest_actual = worker->state.target;
		send_balloon(worker);
		break;
	case VMP_KIND_PAUSE:
		send_state(VMP_STATE_PAUSED);
		break;
	case VMP_KIND_RESUME:
		send_state(VMP_STATE_RUNNING);
		break;
	default:
		break;
	}
	reply(request, VMP_STATUS_OK);
	if (request->kind == VMP_KIND_SET_BALLOON_TARGET && mode_is(worker, "retouch"))
		take_memory_back(worker);
	return true;
}

static bool
handshake(void)
{
	VmpRecord hello;

	if (!read_request(&hello, 30000) || hello.kind != VMP_KIND_HELLO) {
		fprintf(stderr, "hostile-worker: no HELLO\n");
		return false;
	}
	return true;
}

static void
send_ready(Worker *worker)
{
	VmpRecord ready = {.kind = VMP_KIND_READY};

	ready.ready =
		(VmpReady){VMP_MAGIC,
			   VMP_VERSION,
			   worker->memory_size + (mode_is(worker, "wrong-ready") ? 2 * MIB : 0),
			   worker->cpus,
			   worker->balloon};
	send_record(&ready);
	send_state(VMP_STATE_RUNNING);
	worker->state.target = worker->balloon;
	send_balloon(worker);
}

/* What each hostile mode does once, right after READY. */
static void
misbehave_once(Worker *worker)
{
	static uint8_t big[65536];
	static const char garbage[] = "\x01\x02not a record at all";

	if (mode_is(worker, "garbage")) {
		send_raw(garbage, sizeof(garbage));
	} else if (mode_is(worker, "oversized")) {
		big[0] = VMP_KIND_BALLOON;
		send_raw(big, sizeof(big));
	} else if (mode_is(worker, "out-of-range")) {
		worker->state.actual = worker->memory_size + 4096;
		send_balloon(worker);
	} else if (mode_is(worker, "descriptors")) {
		VmpRecord record = {.kind = VMP_KIND_STATE, .state = {VMP_STATE_RUNNING}};
		int fds[2] = {STDIN_FILENO, STDERR_FILENO};

		vmp_send(CONTROL_FD, &record, fds, 2);
	} else if (mode_is(worker, "hang-up")) {
		close(CONTROL_FD);
		for (;;)
			pause();
	} else if (mode_is(worker, "after-stopped")) {
		send_stopped("stopped, or so it says");
		send_state(VMP_STATE_RUNNING);
	}
}

/* One step of the continuous modes, between looks at the control socket. */
static void
misbehave_continuously(Worker *worker)
{
	static const char line[] = "hostile-worker: a line among many\n";
	static char endless[4096];

	if (mode_is(worker, "flood")) {
		VmpRecord record = {.kind = VMP_KIND_BALLOON, .balloon = worker->state};

		for (int i = 0; i < 64; i++)
			vmp_send(CONTROL_FD, &record, NULL, 0);
	} else if (mode_is(worker, "stderr-endless")) {
		memset(endless, 'x', sizeof(endless));
		if (write(STDERR_FILENO, endless, sizeof(endless)) < 0 && errno != EAGAIN)
			exit(1);
	} else if (mode_is(worker, "stderr-flood")) {
		if (write(STDERR_FILENO, line, sizeof(line) - 1) < 0 && errno != EAGAIN)
			exit(1);
	}
}

static bool
misbehaves_continuously(const Worker *worker)
{
	return mode_is(worker, "flood") || mode_is(worker, "stderr-endless") ||
	       mode_is(worker, "stderr-flood");
}

int
main(int argc, char **argv)
{
	Worker worker = {0};
	VmpRecord request;

	parse_args(&worker, argc, argv);
	/* A flooding worker goes on when vboxmemd stops reading, and still hears POWER_OFF. */
	fcntl(STDERR_FILENO, F_SETFL, fcntl(STDERR_FILENO, F_GETFL) | O_NONBLOCK);
	if (!handshake())
		return 2;
	send_ready(&worker);
	misbehave_once(&worker);
	for (;;) {
		if (misbehaves_continuously(&worker))
			misbehave_continuously(&worker);
		if (!read_request(&request, misbehaves_continuously(&worker) ? 1 : -1))
			continue;
		if (mode_is(&worker, "mute"))
			continue;
		if (!answer(&worker, &request))
			return 0;
	}
}
