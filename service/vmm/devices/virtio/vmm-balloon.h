/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-memory.h"
#include "vmm-virtio.h"

/* Feature bits (virtio 1.2, 5.5.3) the device offers when configured to. */
#define VMM_BALLOON_F_STATS_VQ 1
#define VMM_BALLOON_F_DEFLATE_ON_OOM 2
#define VMM_BALLOON_F_FREE_PAGE_REPORTING 5

/*
 * Queues: inflate and deflate always; then one queue per negotiated feature
 * in feature order (statsq, then reporting_vq; free page hinting is never
 * offered), as Linux numbers them: reporting is queue 3 with the stats
 * queue, queue 2 without it.
 */
#define VMM_BALLOON_INFLATE_QUEUE 0
#define VMM_BALLOON_DEFLATE_QUEUE 1
#define VMM_BALLOON_QUEUE_SIZE 256
/* The most PFNs one inflate or deflate buffer may carry (Linux sends 256). */
#define VMM_BALLOON_MAX_PFNS_PER_BUFFER 65536

/* Guest statistics, indexed by the virtio-balloon stat tags (VIRTIO_BALLOON_S_*). */
#define VMM_BALLOON_STAT_COUNT 16
typedef struct {
	uint64_t values[VMM_BALLOON_STAT_COUNT];
	uint32_t known;  /* bit n set: values[n] was reported */
	int64_t updated; /* vmm_real_time_us() of the report, 0 if none */
} VmmBalloonStats;

typedef struct {
	bool deflate_on_oom;
	bool free_page_reporting;
	bool stats;
} VmmBalloonFeatures;

/*
 * Called from vCPU threads or the VM's notifier thread, with the transport's
 * lock held: a callback must not call vmm_balloon_*() (hand the value to
 * another thread instead).
 * actual_changed: what the host verified changed; @actual_bytes counts only
 * pages the guest handed over and the host discarded, never the guest's own
 * claim. stats_updated: the guest sent statistics. pages_reported: free page
 * reporting discarded @bytes more.
 */
typedef struct {
	void (*actual_changed)(void *user_data, uint64_t actual_bytes);
	void (*stats_updated)(void *user_data, const VmmBalloonStats *stats);
	void (*pages_reported)(void *user_data, uint64_t bytes);
	void *user_data;
} VmmBalloonListener;

typedef struct _VmmBalloon VmmBalloon;

/* A balloon over @memory, which must outlive it; @listener is copied and may be NULL. */
VmmBalloon *vmm_balloon_new(VmmMemory *memory,
			    const VmmBalloonFeatures *features,
			    const VmmBalloonListener *listener);
void vmm_balloon_free(VmmBalloon *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBalloon, vmm_balloon_free)

/*
 * Who the balloon reports to from now on (@listener is copied; NULL: nobody).
 * Taken under the transport's lock, so it may be called at any time, also
 * while vCPUs run, except from inside a listener callback.
 */
void vmm_balloon_set_listener(VmmBalloon *self, const VmmBalloonListener *listener);

/* What a transport needs to carry the balloon (device id 5). */
const VmmVirtioDeviceOps *vmm_balloon_get_ops(void);

/*
 * The functions below may be called from any thread (the main thread, in
 * practice) except from inside a listener callback.
 */

/* Asks the guest to hold @bytes (rounded down to pages, at most guest RAM): num_pages + config
 * interrupt. */
void vmm_balloon_set_target(VmmBalloon *self, uint64_t bytes);
uint64_t vmm_balloon_get_target(VmmBalloon *self);
/* Bytes the guest gave and the host discarded: each page once, until deflated or reset. */
uint64_t vmm_balloon_get_actual(VmmBalloon *self);
/* The driver's own claim (config field actual), in bytes: for display, never for accounting. */
uint64_t vmm_balloon_get_guest_actual(VmmBalloon *self);
void vmm_balloon_get_stats(VmmBalloon *self, VmmBalloonStats *stats);
/*
 * Hands the stats buffer the driver posted back to it, so that it refills
 * and re-posts it; the device parses the next buffer. Does nothing unless
 * the stats queue was negotiated and a buffer is held.
 */
void vmm_balloon_request_stats(VmmBalloon *self);
/* How many vmm_memory_discard() calls inflation and reporting made: coalescing, for tests and
 * metrics. */
uint64_t vmm_balloon_get_discard_count(VmmBalloon *self);
