#include <stddef.h>

#include "hostile.h"

#include "balloon.h"
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "lib.h"
#include "memory.h"

#define ANSWER_TIMEOUT_MS 1000
#define FAR_BEYOND_RAM (1ull << 46)

/* Bytes a bogus descriptor may point at: all ones, so anything read as PFNs is out of range. */
static uint8_t garbage[4096] __attribute__((aligned(4096)));

static unsigned int
bad_pfns(uint32_t *out, unsigned int max)
{
	uint64_t top = bootinfo_ram_top() >> PAGE_SHIFT;
	const uint64_t cand[] = {
		top,
		top + 1,
		top + 0x100000,
		0xffffffffu,
		0xfffffffeu,
		0xa0,
		0xb8,
		0xfee00,
		0xfec00,
		0xe0000,
		0xfffff,
		0x100000,
		0x7fffffff,
	};
	unsigned int n = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(cand) && n < max; i++)
		if (cand[i] <= 0xffffffffu && !bootinfo_is_ram(cand[i] << PAGE_SHIFT, PAGE_SIZE))
			out[n++] = (uint32_t)cand[i];
	return n;
}

static const char *
answer(bool used)
{
	return used ? "used" : "ignored";
}

static bool
send_and_report(enum balloon_queue q, struct vq_buf *buf, const char *what)
{
	bool used = balloon_send(q, buf, 1, ANSWER_TIMEOUT_MS);

	marker("hostile bad-pfn %s answer=%s device-status=0x%x",
	       what,
	       answer(used),
	       vpci_status(&balloon.dev));
	if (!used)
		balloon_restart();
	return used;
}

static void
run_bad_pfn(void)
{
	uint32_t *pfns = (uint32_t *)garbage;
	unsigned int n = bad_pfns(pfns, sizeof(garbage) / 4);
	char what[64];

	snprintf(what, sizeof(what), "inflate pfns=%u first=0x%x", n, pfns[0]);
	send_and_report(BQ_INFLATE, &(struct vq_buf){(uintptr_t)pfns, n * 4, false}, what);
	snprintf(what, sizeof(what), "deflate pfns=%u", n);
	send_and_report(BQ_DEFLATE, &(struct vq_buf){(uintptr_t)pfns, n * 4, false}, what);
	/* Odd sizes: no PFN at all, and a PFN cut in half. */
	send_and_report(BQ_INFLATE, &(struct vq_buf){(uintptr_t)pfns, 0, false}, "inflate len=0");
	send_and_report(BQ_INFLATE, &(struct vq_buf){(uintptr_t)pfns, 6, false}, "inflate len=6");
}

struct bad_desc_case {
	const char *name;
	void (*inject)(struct virtq *vq);
};

static void
one_desc(struct virtq *vq, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vq->desc[0] = (struct virtq_desc){addr, len, flags, next};
	vq_publish_raw(vq, 0);
}

static void
inject_addr_beyond_ram(struct virtq *vq)
{
	one_desc(vq, FAR_BEYOND_RAM, 1024, 0, 0);
}

static void
inject_addr_wraps(struct virtq *vq)
{
	one_desc(vq, 0xfffffffffffff000ull, 0x2000, 0, 0);
}

/*
 * The two buffers that start in RAM begin in the scratch page at the top of RAM, filled
 * with out-of-range PFNs: a device that used part of them would harm nothing.
 */
static uint64_t
scratch(void)
{
	uint64_t page = mem_scratch_page();

	memset((void *)(uintptr_t)page, 0xff, PAGE_SIZE);
	return page;
}

static void
inject_len_huge(struct virtq *vq)
{
	one_desc(vq, scratch(), 0xfffff000u, 0, 0);
}

static void
inject_crosses_ram_end(struct virtq *vq)
{
	one_desc(vq, scratch(), 64 * MIB, 0, 0);
}

static void
inject_mmio_addr(struct virtq *vq)
{
	one_desc(vq, 0xfee00000u, 64, 0, 0);
}

static void
inject_loop_self(struct virtq *vq)
{
	one_desc(vq, (uintptr_t)garbage, 4, VIRTQ_DESC_F_NEXT, 0);
}

static void
inject_loop_pair(struct virtq *vq)
{
	vq->desc[1] = (struct virtq_desc){(uintptr_t)garbage, 4, VIRTQ_DESC_F_NEXT, 0};
	one_desc(vq, (uintptr_t)garbage, 4, VIRTQ_DESC_F_NEXT, 1);
}

static void
inject_next_out_of_range(struct virtq *vq)
{
	one_desc(vq, (uintptr_t)garbage, 4, VIRTQ_DESC_F_NEXT, vq->size + 3);
}

static void
inject_head_out_of_range(struct virtq *vq)
{
	vq->desc[0] = (struct virtq_desc){(uintptr_t)garbage, 4, 0, 0};
	vq_publish_raw(vq, vq->size + 7);
}

static void
inject_avail_idx_jump(struct virtq *vq)
{
	vq->desc[0] = (struct virtq_desc){(uintptr_t)garbage, 4, 0, 0};
	vq_bump_avail_raw(vq, vq->size + 10);
}

static void
inject_indirect(struct virtq *vq)
{
	/* INDIRECT was never negotiated; the table itself points far beyond RAM. */
	struct virtq_desc *table = (struct virtq_desc *)garbage;
	table[0] = (struct virtq_desc){FAR_BEYOND_RAM, 4096, VIRTQ_DESC_F_NEXT, 0};
	one_desc(vq, (uintptr_t)table, 3 * sizeof(*table), VIRTQ_DESC_F_INDIRECT, 0);
}

static void
inject_device_writable(struct virtq *vq)
{
	memset(garbage, 0xff, sizeof(garbage));
	one_desc(vq, (uintptr_t)garbage, 64, VIRTQ_DESC_F_WRITE, 0);
}

static const struct bad_desc_case bad_desc_cases[] = {
	{"addr-beyond-ram", inject_addr_beyond_ram},
	{"addr-wraps", inject_addr_wraps},
	{"len-huge", inject_len_huge},
	{"crosses-ram-end", inject_crosses_ram_end},
	{"mmio-addr", inject_mmio_addr},
	{"loop-self", inject_loop_self},
	{"loop-pair", inject_loop_pair},
	{"next-out-of-range", inject_next_out_of_range},
	{"head-out-of-range", inject_head_out_of_range},
	{"avail-idx-jump", inject_avail_idx_jump},
	{"indirect-not-negotiated", inject_indirect},
	{"device-writable-inflate", inject_device_writable},
};

static bool
wait_any_used(struct virtq *vq, uint32_t timeout_ms)
{
	uint64_t deadline = clock_after_ms(timeout_ms);

	while (!vq_has_used(vq) && clock_now() < deadline)
		guest_wait(deadline);
	return vq_has_used(vq);
}

static void
run_bad_desc(void)
{
	/* Each case gets a freshly reset device; empty the balloon first so no page is lost. */
	balloon_deflate_all();
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_desc_cases) && balloon.present; i++) {
		if (!balloon_restart())
			return;
		struct virtq *vq = &balloon.vq[BQ_INFLATE];
		memset(garbage, 0xff, sizeof(garbage));
		bad_desc_cases[i].inject(vq);
		vpci_notify(&balloon.dev, vq);
		bool used = wait_any_used(vq, ANSWER_TIMEOUT_MS);
		marker("hostile bad-desc %s answer=%s device-status=0x%x",
		       bad_desc_cases[i].name,
		       answer(used),
		       vpci_status(&balloon.dev));
	}
	balloon_restart();
}

static void
run_flood(void)
{
	uint64_t start = clock_now(), n = opts.flood_count;

	for (uint64_t i = 0; i < n; i++) {
		struct virtq *vq =
			&balloon.vq[i % 3 == 2 && balloon.vq[BQ_STATS].size ? BQ_STATS : i % 2];
		vpci_notify(&balloon.dev, vq);
	}
	marker("hostile flood notifies=%llu ms=%llu",
	       (unsigned long long)n,
	       (unsigned long long)(clock_us(clock_now() - start) / 1000));
}

/*
 * Writes to every page the balloon holds, as a guest that takes its memory
 * back without telling the device: the host sees it only in what it
 * measures, never in the balloon's count.
 */
static void
run_retouch(void)
{
	uint64_t cursor = mem_first_pfn(), pfn, n = 0;

	while (mem_find_up(STATE_BIT(PAGE_BALLOON), &cursor, &pfn)) {
		*(volatile uint64_t *)(uintptr_t)(pfn << PAGE_SHIFT) = pfn;
		n++;
	}
	marker("hostile retouch pages=%llu", (unsigned long long)n);
}

/* The modes that change the driver's behaviour until exit. Returns false if not one. */
static bool
set_lasting(const char *mode, size_t len)
{
	struct balloon_hostile *h = &balloon.hostile;

	if (span_is(mode, len, "ignore-target"))
		h->ignore_target = true;
	else if (span_is(mode, len, "lie-actual"))
		h->lie_actual = true;
	else if (span_is(mode, len, "bad-stats"))
		h->bad_stats = true;
	else
		return false;
	return true;
}

/* The modes that misbehave once, now. Returns false if not one. */
static bool
run_once(const char *mode, size_t len)
{
	if (span_is(mode, len, "bad-pfn"))
		run_bad_pfn();
	else if (span_is(mode, len, "bad-desc"))
		run_bad_desc();
	else if (span_is(mode, len, "flood"))
		run_flood();
	else if (span_is(mode, len, "retouch"))
		run_retouch();
	else
		return span_is(mode, len, "none");
	return true;
}

static bool
known(const char *mode, size_t len)
{
	static const char *const modes[] = {
		"none",
		"bad-pfn",
		"bad-desc",
		"flood",
		"retouch",
		"ignore-target",
		"lie-actual",
		"bad-stats",
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(modes); i++)
		if (span_is(mode, len, modes[i]))
			return true;
	return false;
}

static bool
run_one(const char *mode, size_t len)
{
	if (!known(mode, len))
		return false;
	if (!balloon.present && !span_is(mode, len, "none")) {
		marker("hostile %.*s skipped (no balloon device)", (int)len, mode);
		return true;
	}
	if (set_lasting(mode, len)) {
		marker("hostile %.*s active", (int)len, mode);
		return true;
	}
	if (!run_once(mode, len))
		return false;
	marker("hostile %.*s done", (int)len, mode);
	return true;
}

int
hostile_run(const char *list, size_t len)
{
	int unknown = 0;
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && list[j] != ',')
			j++;
		if (j > i && !run_one(list + i, j - i)) {
			marker("error hostile: unknown mode '%.*s'", (int)(j - i), list + i);
			unknown++;
		}
		i = j + 1;
	}
	return unknown;
}

void
hostile_on_target(void)
{
	static uint32_t seen = 0xffffffffu;

	if (balloon.target == seen)
		return;
	seen = balloon.target;
	if (balloon.hostile.lie_actual) {
		balloon_write_actual(balloon.target);
		marker("hostile lie-actual wrote actual=%u real=%u pages",
		       balloon.target,
		       balloon.actual);
	} else {
		marker("hostile ignore-target target=%u actual=%u pages",
		       balloon.target,
		       balloon.actual);
	}
}

uint32_t
hostile_fill_stats(struct virtio_balloon_stat *stats, uint32_t max_bytes)
{
	const struct virtio_balloon_stat bad[] = {
		{0xffff, 1},
		{100, 2},
		{5, ~0ull},
		{4, ~0ull},
		{6, 1ull << 63},
		{5, 0},
		{3, ~0ull},
		{2, ~0ull},
		{0, ~0ull},
		{1, ~0ull},
		{7, ~0ull},
		{10, 12345},
	};
	uint32_t n = MIN(ARRAY_SIZE(bad), max_bytes / sizeof(bad[0]));

	for (uint32_t i = 0; i < n; i++)
		stats[i] = bad[i];
	/* A trailing half entry, too. */
	return MIN(n * sizeof(bad[0]) + 5, max_bytes);
}
