#include "balloon.h"

#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "hostile.h"
#include "lib.h"
#include "memory.h"
#include "pci.h"

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_BALLOON_DEVICE_LEGACY 0x1002
#define VIRTIO_BALLOON_DEVICE_MODERN 0x1045

#define VIRTIO_BALLOON_S_SWAP_IN 0
#define VIRTIO_BALLOON_S_SWAP_OUT 1
#define VIRTIO_BALLOON_S_MAJFLT 2
#define VIRTIO_BALLOON_S_MINFLT 3
#define VIRTIO_BALLOON_S_MEMFREE 4
#define VIRTIO_BALLOON_S_MEMTOT 5
#define VIRTIO_BALLOON_S_AVAIL 6
#define VIRTIO_BALLOON_S_CACHES 7

#define MODERN_QUEUE_SIZE 256
#define OOM_PAGES 256
#define OUT_OF_PAGES_RETRY_MS 200 /* Linux: "Out of puff", sleep 200 ms */
#define OOM_BACKOFF_MS 1000       /* after deflating on OOM, let the workload have the pages */
#define REQUEST_TIMEOUT_MS 5000
#define BATCHES_PER_SERVICE 64
#define REPORT_MAX_SG 32
#define REPORT_MAX_SG_BYTES (1u << 30)
#define REPORT_DELAY_MS_DEFAULT 2000 /* Linux: PAGE_REPORTING_DELAY */

struct balloon balloon = {.report_delay_ms = REPORT_DELAY_MS_DEFAULT};

static uint8_t ring_mem[BQ_COUNT][VQ_RING_BYTES_MAX] __attribute__((aligned(4096)));
static struct vq_buf report_sg[REPORT_MAX_SG];

bool
balloon_has(unsigned int feature)
{
	return balloon.features & (1ull << feature);
}

static uint64_t
wanted_features(bool modern)
{
	uint64_t f = 1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST | 1ull << VIRTIO_BALLOON_F_STATS_VQ |
		     1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM | 1ull << VIRTIO_BALLOON_F_REPORTING;

	/* A modern driver must accept VERSION_1; there is no IOMMU, so addresses are physical. */
	if (modern)
		f |= 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM;
	return f;
}

static bool
setup_queue(enum balloon_queue q, uint16_t index)
{
	struct virtio_pci *v = &balloon.dev;
	uint16_t max = vpci_queue_max(v, index);

	if (max == 0 || (!v->modern && max > VQ_MAX_SIZE))
		return false;
	uint16_t size = v->modern ? MIN(max, MODERN_QUEUE_SIZE) : max;
	vq_init(&balloon.vq[q], index, size, ring_mem[q]);
	return vpci_queue_setup(v, &balloon.vq[q]);
}

/*
 * Queues are numbered in order of presence: inflate, deflate, then stats, free page
 * hinting and reporting only when negotiated (we never negotiate hinting).
 */
static bool
setup_queues(void)
{
	uint16_t next = 2;

	for (int q = 0; q < BQ_COUNT; q++)
		balloon.vq[q].size = 0;
	if (!setup_queue(BQ_INFLATE, 0) || !setup_queue(BQ_DEFLATE, 1))
		return false;
	if (balloon_has(VIRTIO_BALLOON_F_STATS_VQ) && !setup_queue(BQ_STATS, next++))
		return false;
	if (balloon_has(VIRTIO_BALLOON_F_REPORTING) && !setup_queue(BQ_REPORT, next++))
		return false;
	return true;
}

static void
notify(enum balloon_queue q)
{
	if (vq_should_notify(&balloon.vq[q]))
		vpci_notify(&balloon.dev, &balloon.vq[q]);
}

static unsigned int
fill_stats(void)
{
	struct mem_counts c;
	unsigned int n = 0;

	memory_counts(&c);
	uint64_t total = c.total - (balloon_has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) ? 0 : c.balloon);
	struct virtio_balloon_stat s[] = {
		{VIRTIO_BALLOON_S_SWAP_IN, 0},
		{VIRTIO_BALLOON_S_SWAP_OUT, 0},
		{VIRTIO_BALLOON_S_MAJFLT, 0},
		{VIRTIO_BALLOON_S_MINFLT, c.allocations},
		{VIRTIO_BALLOON_S_MEMFREE, c.free << PAGE_SHIFT},
		{VIRTIO_BALLOON_S_MEMTOT, total << PAGE_SHIFT},
		{VIRTIO_BALLOON_S_AVAIL, c.free << PAGE_SHIFT},
		{VIRTIO_BALLOON_S_CACHES, 0},
	};
	for (; n < ARRAY_SIZE(s); n++)
		balloon.stats[n] = s[n];
	return n;
}

static void
post_stats(void)
{
	uint32_t len = balloon.hostile.bad_stats
			       ? hostile_fill_stats(balloon.stats, sizeof(balloon.stats))
			       : fill_stats() * sizeof(balloon.stats[0]);
	struct vq_buf buf = {(uintptr_t)balloon.stats, len, false};

	if (vq_add(&balloon.vq[BQ_STATS], &buf, 1) < 0)
		return;
	notify(BQ_STATS);
	balloon.stats_sent++;
}

static bool
start_device(bool announce)
{
	struct virtio_pci *v = &balloon.dev;

	vpci_reset(v);
	vpci_add_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t offered = vpci_device_features(v);
	balloon.features = offered & wanted_features(v->modern);
	if (!vpci_set_features(v, balloon.features) || !setup_queues()) {
		vpci_add_status(v, VIRTIO_STATUS_FAILED);
		return false;
	}
	vpci_add_status(v, VIRTIO_STATUS_DRIVER_OK);
	balloon.broken = false;
	/* The device uses the stats buffer to ask for fresh statistics later. */
	if (balloon_has(VIRTIO_BALLOON_F_STATS_VQ))
		post_stats();
	balloon_write_actual(balloon.actual);
	balloon.settled = false; /* the next service reads num_pages and acts on it */
	if (!announce)
		return true;
	marker("balloon device=%02x:%02x.%x transport=%s offered=0x%llx features=0x%llx queues=%u "
	       "base=0x%llx",
	       v->pci.bus,
	       v->pci.dev,
	       v->pci.fn,
	       vpci_kind(v),
	       (unsigned long long)offered,
	       (unsigned long long)balloon.features,
	       2u + !!balloon.vq[BQ_STATS].size + !!balloon.vq[BQ_REPORT].size,
	       (unsigned long long)vpci_base(v));
	return true;
}

bool
balloon_init(void)
{
	static const uint16_t ids[] = {VIRTIO_BALLOON_DEVICE_LEGACY, VIRTIO_BALLOON_DEVICE_MODERN};
	struct pci_dev d;

	if (!pci_find(VIRTIO_VENDOR, ids, ARRAY_SIZE(ids), &d)) {
		marker("balloon none");
		return false;
	}
	if (opts.pci_reassign)
		pci_unassign_bars(&d);
	if (!vpci_probe(&balloon.dev, &d)) {
		marker("balloon error device=%02x:%02x.%x has no usable transport",
		       d.bus,
		       d.dev,
		       d.fn);
		return false;
	}
	if (opts.msix)
		marker("balloon msix %s",
		       vpci_enable_msix(&balloon.dev) ? "vector=0" : "unavailable");
	if (!start_device(true)) {
		marker("balloon error device=%02x:%02x.%x refused the driver", d.bus, d.dev, d.fn);
		return false;
	}
	balloon.present = true;
	return true;
}

bool
balloon_restart(void)
{
	if (!balloon.present)
		return false;
	if (!start_device(false)) {
		balloon.broken = true;
		marker("balloon error restart failed");
		return false;
	}
	return true;
}

void
balloon_write_actual(uint32_t pages)
{
	vpci_config_write32(&balloon.dev, BALLOON_CFG_ACTUAL, pages);
}

static bool
wait_used(enum balloon_queue q, uint32_t timeout_ms)
{
	uint64_t deadline = clock_after_ms(timeout_ms);

	for (;;) {
		if (vq_get_used(&balloon.vq[q], 0, 0))
			return true;
		if (clock_now() >= deadline)
			return false;
		guest_wait(deadline);
	}
}

bool
balloon_send(enum balloon_queue q, const struct vq_buf *bufs, unsigned int n, uint32_t timeout_ms)
{
	if (vq_add(&balloon.vq[q], bufs, n) < 0)
		return false;
	notify(q);
	return wait_used(q, timeout_ms);
}

static bool
tell_host(enum balloon_queue q, unsigned int n)
{
	struct vq_buf buf = {(uintptr_t)balloon.pfns, n * sizeof(uint32_t), false};

	if (balloon_send(q, &buf, 1, REQUEST_TIMEOUT_MS))
		return true;
	balloon.broken = true;
	marker("balloon error device did not answer on queue %u; driver stopped",
	       balloon.vq[q].index);
	return false;
}

/* Ascending order lets the device coalesce runs of PFNs. */
static void
sort_pfns(uint32_t *a, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++) {
		uint32_t v = a[i];
		unsigned int j = i;
		for (; j > 0 && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

/*
 * Where the next searches start, so a large balloon is not rescanned for every batch.
 * A search wraps around once, and only in an empty batch so no page is listed twice.
 */
struct search {
	unsigned int states;
	bool down;
	uint64_t cursor;
	bool started;
};

static struct search dirty_search = {STATE_BIT(PAGE_FREE), true, 0, false};
static struct search free_search = {STATES_FREE, true, 0, false};
static struct search balloon_search = {STATE_BIT(PAGE_BALLOON), false, 0, false};

static bool
search_next(struct search *s, bool may_wrap, uint64_t *pfn)
{
	for (int pass = 0; pass < (may_wrap ? 2 : 1); pass++) {
		if (!s->started) {
			s->cursor = s->down ? mem_last_pfn() : mem_first_pfn();
			s->started = true;
		}
		if (s->down ? mem_find_down(s->states, &s->cursor, pfn)
			    : mem_find_up(s->states, &s->cursor, pfn))
			return true;
		s->started = false;
	}
	return false;
}

static uint64_t
dirty_free_pages(void)
{
	struct mem_counts c;

	memory_counts(&c);
	return c.free - c.clean;
}

/*
 * Takes up to `want` free pages, from the top of memory down. Pages the guest has
 * written come first: only those give the host memory back.
 */
static unsigned int
inflate_batch(uint32_t want)
{
	uint64_t pfn;
	unsigned int n = 0;

	want = MIN(want, BALLOON_BATCH);
	while (n < want && dirty_free_pages() && search_next(&dirty_search, n == 0, &pfn)) {
		mem_set(pfn, PAGE_BALLOON);
		balloon.pfns[n++] = (uint32_t)pfn;
	}
	while (n < want && search_next(&free_search, n == 0, &pfn)) {
		mem_set(pfn, PAGE_BALLOON);
		balloon.pfns[n++] = (uint32_t)pfn;
	}
	sort_pfns(balloon.pfns, n);
	if (n && !tell_host(BQ_INFLATE, n))
		return 0;
	balloon.actual += n;
	return n;
}

/* Gives back up to `want` ballooned pages, lowest first, after the device has seen them. */
static unsigned int
deflate_batch(uint32_t want)
{
	uint64_t pfn;
	unsigned int n = 0;

	want = MIN(want, BALLOON_BATCH);
	while (n < want && search_next(&balloon_search, n == 0, &pfn))
		balloon.pfns[n++] = (uint32_t)pfn;
	if (n && !tell_host(BQ_DEFLATE, n))
		return 0;
	/* The host dropped these pages: they are clean until the guest writes them. */
	for (unsigned int i = 0; i < n; i++)
		mem_set(balloon.pfns[i], PAGE_CLEAN);
	balloon.actual -= n;
	return n;
}

static void
announce(void)
{
	if (balloon.actual == balloon.target)
		marker("balloon actual=%u pages", balloon.actual);
	else
		marker("balloon stalled actual=%u target=%u pages (no free memory)",
		       balloon.actual,
		       balloon.target);
	balloon.settled = true;
}

/* Moves toward the target by a bounded amount of work. */
static void
adjust(uint64_t now)
{
	for (int i = 0; i < BATCHES_PER_SERVICE && !balloon.broken; i++) {
		unsigned int n;
		if (balloon.actual < balloon.target)
			n = inflate_batch(balloon.target - balloon.actual);
		else if (balloon.actual > balloon.target)
			n = deflate_batch(balloon.actual - balloon.target);
		else
			break;
		if (n == 0) {
			balloon.retry_at = now + (uint64_t)OUT_OF_PAGES_RETRY_MS * clock_tsc_khz();
			if (!balloon.settled)
				announce();
			return;
		}
		balloon_write_actual(balloon.actual);
	}
	balloon.retry_at = 0;
	if (balloon.actual == balloon.target && !balloon.settled)
		announce();
}

static void
read_target(void)
{
	uint32_t t = vpci_config_read32(&balloon.dev, BALLOON_CFG_NUM_PAGES);

	if (t == balloon.target)
		return;
	balloon.target = t;
	balloon.settled = false;
	balloon.retry_at = 0;
	marker("balloon target=%u pages", t);
}

static void
drain_stats(void)
{
	struct virtq *vq = &balloon.vq[BQ_STATS];
	bool returned = false;

	while (vq->size && vq_get_used(vq, 0, 0))
		returned = true;
	if (returned)
		post_stats();
}

static uint64_t
next_deadline(uint64_t now)
{
	uint64_t d = balloon.report_at;

	if (balloon.actual != balloon.target && !balloon.hostile.ignore_target &&
	    !balloon.hostile.lie_actual)
		d = deadline_min(d, balloon.retry_at ? balloon.retry_at : now);
	return d;
}

uint64_t
balloon_service(void)
{
	if (!balloon.present || balloon.broken)
		return NO_DEADLINE;
	vpci_isr(&balloon.dev);
	drain_stats();
	read_target();
	uint64_t now = clock_now();
	if (balloon.hostile.ignore_target || balloon.hostile.lie_actual)
		hostile_on_target();
	else if (balloon.actual != balloon.target && now >= balloon.retry_at)
		adjust(now);
	if (balloon.report_at && now >= balloon.report_at) {
		balloon.report_at = 0;
		balloon_report_now();
	}
	return next_deadline(clock_now());
}

uint32_t
balloon_oom_deflate(void)
{
	if (!balloon.present || balloon.broken || !balloon_has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
		return 0;
	uint32_t n = deflate_batch(MIN(OOM_PAGES, balloon.actual));
	if (n) {
		balloon_write_actual(balloon.actual);
		balloon.oom_deflated += n;
		balloon.settled = false;
		balloon.retry_at = clock_after_ms(OOM_BACKOFF_MS);
	}
	return n;
}

void
balloon_deflate_all(void)
{
	while (balloon.present && !balloon.broken && balloon.actual) {
		if (!deflate_batch(balloon.actual))
			break;
		balloon_write_actual(balloon.actual);
	}
}

void
balloon_memory_freed(void)
{
	if (balloon.present && balloon_has(VIRTIO_BALLOON_F_REPORTING) && !balloon.report_at)
		balloon.report_at = clock_after_ms(balloon.report_delay_ms);
}

/* Gathers up to REPORT_MAX_SG runs of 2 MiB, merging adjacent ones. Returns the count. */
static unsigned int
gather_runs(uint64_t *cursor, unsigned int max_sg)
{
	unsigned int n = 0;
	uint64_t pfn;

	while ((pfn = mem_next_reportable(cursor)) != 0) {
		uint64_t addr = pfn << PAGE_SHIFT, len = 512ull << PAGE_SHIFT;
		struct vq_buf *last = n ? &report_sg[n - 1] : 0;
		if (last && last->addr + last->len == addr &&
		    last->len + len <= REPORT_MAX_SG_BYTES) {
			last->len += (uint32_t)len;
			continue;
		}
		if (n == max_sg) {
			*cursor = pfn; /* not taken: start here next time */
			break;
		}
		report_sg[n++] = (struct vq_buf){addr, (uint32_t)len, true};
	}
	return n;
}

uint64_t
balloon_report_now(void)
{
	struct virtq *vq = &balloon.vq[BQ_REPORT];
	uint64_t cursor = mem_first_pfn(), bytes = 0;
	unsigned int n;

	if (!balloon.present || balloon.broken || !vq->size)
		return 0;
	/* The guest is single-threaded: nothing allocates these pages while the device has them. */
	while ((n = gather_runs(&cursor, MIN(REPORT_MAX_SG, vq->size))) != 0) {
		if (!balloon_send(BQ_REPORT, report_sg, n, REQUEST_TIMEOUT_MS)) {
			balloon.broken = true;
			marker("balloon error device did not answer on the reporting queue");
			break;
		}
		for (unsigned int i = 0; i < n; i++) {
			mem_mark_run(report_sg[i].addr >> PAGE_SHIFT,
				     report_sg[i].len >> PAGE_SHIFT,
				     PAGE_CLEAN);
			bytes += report_sg[i].len;
		}
	}
	balloon.reported_bytes += bytes;
	if (bytes)
		marker("reported %llu MiB total=%llu MiB",
		       (unsigned long long)(bytes / MIB),
		       (unsigned long long)(balloon.reported_bytes / MIB));
	return bytes;
}
