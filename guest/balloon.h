/* The virtio-balloon driver (virtio 1.2 section 5.5), polled from the guest's main loop. */
#ifndef GUEST_BALLOON_H
#define GUEST_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio-pci.h"
#include "virtqueue.h"

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_REPORTING 5

#define BALLOON_CFG_NUM_PAGES 0
#define BALLOON_CFG_ACTUAL 4

#define BALLOON_BATCH 256
#define BALLOON_STATS_MAX 16

enum balloon_queue { BQ_INFLATE, BQ_DEFLATE, BQ_STATS, BQ_REPORT, BQ_COUNT };

struct virtio_balloon_stat {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

/* Misbehaviour for testing the VMM (vboxmem.hostile=), see hostile.c. */
struct balloon_hostile {
	bool ignore_target;
	bool lie_actual;
	bool bad_stats;
};

struct balloon {
	struct virtio_pci dev;
	bool present;
	bool broken;
	uint64_t features;
	struct virtq vq[BQ_COUNT];
	uint32_t target;    /* num_pages, as last read */
	uint32_t actual;    /* pages in the balloon, as last written */
	bool settled;       /* the current target was reached (or given up on) and announced */
	uint64_t retry_at;  /* out of free pages: try inflating again then */
	uint64_t report_at; /* free page reporting due then */
	uint32_t report_delay_ms;
	uint64_t stats_sent;
	uint64_t oom_deflated;
	uint64_t reported_bytes;
	uint32_t pfns[BALLOON_BATCH];
	struct virtio_balloon_stat stats[BALLOON_STATS_MAX];
	struct balloon_hostile hostile;
};

extern struct balloon balloon;

/* Finds and starts the device; false (and no balloon) when there is none or it fails. */
bool balloon_init(void);
/* Resets the device and negotiates again, e.g. after a hostile test broke it. */
bool balloon_restart(void);
bool balloon_has(unsigned int feature);

/* One round of polling: config, queues, timers. Returns the next deadline it needs. */
uint64_t balloon_service(void);

/* The workload ran out of memory: give back up to 256 pages if DEFLATE_ON_OOM allows. */
uint32_t balloon_oom_deflate(void);
/* The workload freed memory: report it to the device after the reporting delay. */
void balloon_memory_freed(void);
/* Reports free memory now; returns the bytes reported. */
uint64_t balloon_report_now(void);
/* Empties the balloon, telling the device. */
void balloon_deflate_all(void);

/* Low-level pieces the hostile modes reuse. */
bool balloon_send(enum balloon_queue q, const struct vq_buf *bufs, unsigned int n, uint32_t ms);
void balloon_write_actual(uint32_t pages);

#endif
