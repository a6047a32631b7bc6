/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/*
 * The private control protocol between vboxmemd and one vboxmem-vm worker
 * (docs/worker-protocol.md). One record per SOCK_SEQPACKET datagram: an
 * 8-byte header (kind, size, id, all little-endian) and a fixed payload
 * whose layout the kind decides. File descriptors travel beside a record
 * with SCM_RIGHTS, as many as its kind says.
 *
 * Both sides treat every record received as hostile: vmp_decode() checks
 * the direction, size, fd count and the range of every field, so that the
 * receiver only has to check what depends on its own state (a balloon
 * target against the guest's memory, a reply against the requests it sent).
 *
 * This file and vmp-protocol.c use only the C library: the static worker and
 * the GLib daemon build the same code.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMP_MAGIC 0x504d4256u /* "VBMP" */
#define VMP_VERSION 1u
#define VMP_HEADER_SIZE 8u
/* No record is larger: a receiver's buffer of this size plus one byte sees any longer one. */
#define VMP_RECORD_MAX 256u
#define VMP_FDS_MAX 4u
#define VMP_PAGE_SIZE 4096u
#define VMP_REASON_SIZE 128u
#define VMP_MEMORY_MAX (UINT64_C(1) << 46)
#define VMP_VCPUS_MAX 64u
#define VMP_STATS_INTERVAL_MAX_MS 3600000u
/* The guest's claim is a 32-bit count of 4 KiB pages. */
#define VMP_GUEST_CLAIM_MAX ((UINT64_C(1) << 32) * VMP_PAGE_SIZE - VMP_PAGE_SIZE)
/* The guest statistics carried, by virtio-balloon stat tag (VIRTIO_BALLOON_S_SWAP_IN ...). */
#define VMP_STAT_COUNT 10u

/* Who may send a record: the daemon sends requests, the worker events. */
typedef enum {
	VMP_FROM_DAEMON = 1,
	VMP_FROM_WORKER = 2,
} VmpSender;

typedef enum {
	/* Daemon to worker. Each but HELLO carries a nonzero id and gets one REPLY. */
	VMP_KIND_HELLO = 1,
	VMP_KIND_SET_BALLOON_TARGET = 2,
	VMP_KIND_SET_STATS_INTERVAL = 3,
	VMP_KIND_PAUSE = 4,
	VMP_KIND_RESUME = 5,
	VMP_KIND_POWER_OFF = 6,
	VMP_KIND_QUERY_STATE = 7,
	/* Worker to daemon. */
	VMP_KIND_READY = 64,
	VMP_KIND_REPLY = 65,
	VMP_KIND_STATE = 66,
	VMP_KIND_BALLOON = 67,
	VMP_KIND_GUEST_STATS = 68,
	VMP_KIND_STOPPED = 69,
} VmpKind;

typedef enum {
	VMP_STATE_RUNNING = 1,
	VMP_STATE_PAUSED = 2,
	VMP_STATE_STOPPED = 3,
} VmpState;

typedef enum {
	VMP_STATUS_OK = 0,
	VMP_STATUS_INVALID_ARGUMENT = 1,
	VMP_STATUS_STOPPED = 2,
} VmpStatus;

#define VMP_STOPPED_GUEST_EXITED (1u << 0) /* through the guest's exit port */
#define VMP_STOPPED_REQUESTED (1u << 1)    /* by the daemon or a signal, not a failure */

/* HELLO: the daemon's first record; the worker answers nothing else before it. */
typedef struct {
	uint32_t magic;
	uint32_t version;
} VmpHello;

/* READY: the worker's first record, once its VM runs. */
typedef struct {
	uint32_t magic;
	uint32_t version;
	uint64_t memory_size;
	uint32_t n_vcpus;
	uint64_t balloon_target;
} VmpReady;

typedef struct {
	uint64_t bytes; /* whole pages; at most the guest's memory */
} VmpSetBalloonTarget;

typedef struct {
	uint32_t milliseconds; /* 0 stops asking the guest */
} VmpSetStatsInterval;

typedef struct {
	uint32_t status; /* VmpStatus */
} VmpReply;

typedef struct {
	uint32_t state; /* VmpState */
} VmpStateEvent;

/* Sent at most every 20 ms while the balloon moves. */
typedef struct {
	uint64_t target;
	uint64_t actual;         /* pages the worker discarded, never the guest's claim */
	uint64_t guest_actual;   /* what the guest claims */
	uint64_t reported_bytes; /* free page reporting, since start */
} VmpBalloon;

typedef struct {
	uint32_t known; /* bit n: values[n] was reported */
	int64_t updated_us;
	uint64_t values[VMP_STAT_COUNT];
} VmpGuestStats;

/* The worker's last record; it exits once it is sent. */
typedef struct {
	uint32_t flags; /* VMP_STOPPED_* */
	int32_t exit_status;
	char reason[VMP_REASON_SIZE]; /* UTF-8 without control characters, NUL-padded */
} VmpStopped;

typedef struct {
	VmpKind kind;
	uint32_t id; /* a request's, echoed by its REPLY; 0 otherwise */
	union {
		VmpHello hello;
		VmpReady ready;
		VmpSetBalloonTarget set_balloon_target;
		VmpSetStatsInterval set_stats_interval;
		VmpReply reply;
		VmpStateEvent state;
		VmpBalloon balloon;
		VmpGuestStats guest_stats;
		VmpStopped stopped;
	};
} VmpRecord;

/* Why a record was refused, for a log line. */
typedef enum {
	VMP_DECODE_OK = 0,
	VMP_DECODE_TRUNCATED,
	VMP_DECODE_OVERSIZED,
	VMP_DECODE_UNKNOWN_KIND,
	VMP_DECODE_WRONG_SENDER,
	VMP_DECODE_BAD_SIZE,
	VMP_DECODE_BAD_ID,
	VMP_DECODE_FD_COUNT,
	VMP_DECODE_OUT_OF_RANGE,
} VmpDecodeResult;

/* The kind's name ("SET_BALLOON_TARGET"), or NULL for an unknown kind. */
const char *vmp_kind_name(uint32_t kind);
/* The statistic's name ("swap-in", ...), as in VirtualBox and QEMU's balloon stats. */
const char *vmp_stat_name(unsigned index);
const char *vmp_state_name(uint32_t state);
const char *vmp_decode_result_name(VmpDecodeResult result);

/*
 * Writes @record's wire form to @buffer; returns its size, or 0 if @record
 * is not one that vmp_decode() would take back (a bug in the sender). The
 * reason is truncated to fit, at a character boundary.
 */
size_t vmp_encode(const VmpRecord *record, uint8_t buffer[VMP_RECORD_MAX]);

/*
 * Reads one record of @size bytes from @buffer, received with @n_fds file
 * descriptors from @sender. On failure, @record is cleared and @field (if
 * not NULL) names the field that was out of range.
 */
VmpDecodeResult vmp_decode(const uint8_t *buffer,
			   size_t size,
			   unsigned n_fds,
			   VmpSender sender,
			   VmpRecord *record,
			   const char **field);

/* How many descriptors a record of @kind carries. */
unsigned vmp_kind_n_fds(uint32_t kind);

/*
 * Sends @record on the SOCK_SEQPACKET socket @fd with @n_fds descriptors,
 * without blocking. Returns 0, or an errno value (EAGAIN when the peer's
 * queue is full).
 */
int vmp_send(int fd, const VmpRecord *record, const int *fds, unsigned n_fds);

/*
 * Receives at most one datagram from @fd without blocking, into @buffer of
 * VMP_RECORD_MAX bytes. Returns its size (0: the peer closed; a datagram
 * longer than VMP_RECORD_MAX comes back as VMP_RECORD_MAX + 1), or -errno.
 * Descriptors it carried are stored in @fds (close-on-exec) and counted in
 * *@n_fds; more than VMP_FDS_MAX, or a truncated control message, are
 * closed and counted as VMP_FDS_MAX + 1.
 */
long vmp_recv(int fd, uint8_t buffer[VMP_RECORD_MAX], int fds[VMP_FDS_MAX], unsigned *n_fds);

/* Closes the @n_fds descriptors in @fds, as received (at most VMP_FDS_MAX). */
void vmp_close_fds(int *fds, unsigned n_fds);
