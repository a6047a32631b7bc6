#include "workload.h"

#include "balloon.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "hostile.h"
#include "lib.h"
#include "memory.h"

#define MAX_STEPS 64
#define PAGE_WORDS (PAGE_SIZE / sizeof(uint64_t))
#define PAGE_MAGIC 0x45474150474d4256ull /* "VBMGPAGE" */
#define TICK_MS 10
#define PAGES_PER_MIB (MIB / PAGE_SIZE)

enum op {
	OP_ALLOC,
	OP_FREE,
	OP_HOLD,
	OP_WAIT_BALLOON,
	OP_VERIFY,
	OP_REPORT,
	OP_MEMINFO,
	OP_HOSTILE,
	OP_EXIT,
};

enum fill {
	FILL_SEEDED, /* page i of the step: content from (seed, i) */
	FILL_SAME,   /* every page: content from (seed, 0) */
	FILL_UNIQUE, /* content from a per-boot random seed */
};

struct step {
	enum op op;
	enum fill fill;
	bool all;      /* free:all */
	bool has_size; /* wait-balloon:SIZE */
	uint64_t pages;
	uint64_t ms; /* hold time, wait-balloon timeout (0: none) */
	uint64_t seed;
	int status; /* exit; -1: 0 or 1 from the failures */
	const char *arg;
	size_t arg_len;
};

static struct step steps[MAX_STEPS];
static unsigned int n_steps;
static unsigned int failures;
static uint64_t next_tick;
static uint64_t boot_nonce;

/* ---- parsing ---- */

struct field {
	const char *s;
	size_t len;
};

static bool
is(struct field f, const char *w)
{
	return span_is(f.s, f.len, w);
}

static bool
starts(struct field f, const char *p, struct field *rest)
{
	size_t n = strlen(p);

	if (f.len < n || strncmp(f.s, p, n) != 0)
		return false;
	*rest = (struct field){f.s + n, f.len - n};
	return true;
}

static bool
parse_alloc(struct step *st, struct field *f, unsigned int n)
{
	struct field v;

	if (n < 2 || !parse_size_pages(f[1].s, f[1].len, &st->pages))
		return false;
	st->seed = 1;
	for (unsigned int i = 2; i < n; i++) {
		if (starts(f[i], "seed=", &v)) {
			if (!parse_uint(v.s, v.len, &st->seed))
				return false;
		} else if (is(f[i], "unique")) {
			st->fill = FILL_UNIQUE;
		} else if (is(f[i], "same")) {
			st->fill = FILL_SAME;
		} else {
			return false;
		}
	}
	return true;
}

static bool
parse_wait_balloon(struct step *st, struct field *f, unsigned int n)
{
	struct field v;

	for (unsigned int i = 1; i < n; i++) {
		if (starts(f[i], "timeout=", &v)) {
			if (!parse_time_ms(v.s, v.len, &st->ms))
				return false;
		} else if (!st->has_size && parse_size_pages(f[i].s, f[i].len, &st->pages)) {
			st->has_size = true;
		} else {
			return false;
		}
	}
	return true;
}

static bool
parse_step(struct step *st, struct field *f, unsigned int n)
{
	uint64_t v;

	*st = (struct step){.status = -1};
	if (is(f[0], "alloc")) {
		st->op = OP_ALLOC;
		return parse_alloc(st, f, n);
	}
	if (is(f[0], "free")) {
		st->op = OP_FREE;
		st->all = n == 2 && is(f[1], "all");
		return n == 2 && (st->all || parse_size_pages(f[1].s, f[1].len, &st->pages));
	}
	if (is(f[0], "hold")) {
		st->op = OP_HOLD;
		return n == 2 && parse_time_ms(f[1].s, f[1].len, &st->ms);
	}
	if (is(f[0], "wait-balloon")) {
		st->op = OP_WAIT_BALLOON;
		return parse_wait_balloon(st, f, n);
	}
	if (is(f[0], "hostile")) {
		st->op = OP_HOSTILE;
		st->arg = f[1].s;
		st->arg_len = f[1].len;
		return n == 2;
	}
	if (is(f[0], "exit")) {
		st->op = OP_EXIT;
		if (n == 2 && parse_uint(f[1].s, f[1].len, &v) && v <= 255)
			st->status = (int)v;
		return n == 1 || st->status >= 0;
	}
	if (is(f[0], "verify"))
		st->op = OP_VERIFY;
	else if (is(f[0], "report"))
		st->op = OP_REPORT;
	else if (is(f[0], "meminfo"))
		st->op = OP_MEMINFO;
	else
		return false;
	return n == 1;
}

/* Splits one step at ':' into at most `max` fields. */
static unsigned int
split_fields(const char *s, size_t len, struct field *f, unsigned int max)
{
	unsigned int n = 0;
	size_t i = 0;

	while (n < max) {
		size_t j = i;
		while (j < len && s[j] != ':')
			j++;
		f[n++] = (struct field){s + i, j - i};
		if (j >= len)
			return n;
		i = j + 1;
	}
	return max + 1;
}

int
workload_parse(const char *script)
{
	int errors = 0;
	size_t len = strlen(script), i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && script[j] != ',')
			j++;
		struct field f[6];
		unsigned int n = split_fields(script + i, j - i, f, ARRAY_SIZE(f));
		if (n_steps == MAX_STEPS || n > ARRAY_SIZE(f) ||
		    !parse_step(&steps[n_steps], f, n)) {
			marker("error script: bad step '%.*s'", (int)(j - i), script + i);
			errors++;
		} else {
			n_steps++;
		}
		i = j + 1;
	}
	return errors;
}

/* ---- page content ---- */

static uint64_t
content_state(uint64_t seed, uint64_t ordinal)
{
	uint64_t s = seed ^ (ordinal * 0xd1b54a32d192ed03ull);

	return splitmix64(&s) | 1; /* xorshift state must not be 0 */
}

static void
fill_page(uint64_t *p, uint64_t seed, uint64_t ordinal)
{
	uint64_t x = content_state(seed, ordinal);

	p[0] = PAGE_MAGIC;
	p[1] = seed;
	p[2] = ordinal;
	for (unsigned int i = 3; i < PAGE_WORDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

static bool
page_ok(const uint64_t *p)
{
	if (p[0] != PAGE_MAGIC)
		return false;
	uint64_t x = content_state(p[1], p[2]);
	for (unsigned int i = 3; i < PAGE_WORDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (p[i] != x)
			return false;
	}
	return true;
}

static uint64_t *
page_ptr(uint64_t pfn)
{
	return (uint64_t *)(uintptr_t)(pfn << PAGE_SHIFT);
}

/* ---- steps ---- */

void
workload_tick(void)
{
	uint64_t now = clock_now();

	if (now < next_tick)
		return;
	next_tick = now + (uint64_t)TICK_MS * clock_tsc_khz();
	balloon_service();
}

static uint64_t
elapsed_ms(uint64_t start)
{
	return clock_us(clock_now() - start) / 1000;
}

static unsigned long long
mib(uint64_t pages)
{
	return (unsigned long long)(pages / PAGES_PER_MIB);
}

static uint64_t
alloc_page(void)
{
	for (;;) {
		uint64_t pfn = mem_alloc();
		if (pfn || !balloon_oom_deflate())
			return pfn;
	}
}

static bool
run_alloc(const struct step *st, unsigned int index)
{
	uint64_t start = clock_now(), seed = st->seed, got = 0, oom_before = balloon.oom_deflated;

	if (st->fill == FILL_UNIQUE)
		seed = boot_nonce ^ ((uint64_t)index << 48);
	for (; got < st->pages; got++) {
		uint64_t pfn = alloc_page();
		if (!pfn)
			break;
		fill_page(page_ptr(pfn), seed, st->fill == FILL_SAME ? 0 : got);
		workload_tick();
	}
	uint64_t oom = balloon.oom_deflated - oom_before;
	if (got < st->pages) {
		marker("alloc %llu MiB FAILED out of memory after %llu MiB pages=%llu "
		       "oom-deflated=%llu",
		       mib(st->pages),
		       mib(got),
		       (unsigned long long)got,
		       (unsigned long long)oom);
		return false;
	}
	marker("alloc %llu MiB done pages=%llu seed=%llu oom-deflated=%llu ms=%llu",
	       mib(st->pages),
	       (unsigned long long)got,
	       (unsigned long long)seed,
	       (unsigned long long)oom,
	       (unsigned long long)elapsed_ms(start));
	return true;
}

/* Frees the highest pages first: the most recently allocated, in 2 MiB runs. */
static bool
run_free(const struct step *st)
{
	uint64_t cursor = mem_last_pfn(), pfn, n = 0;

	while ((st->all || n < st->pages) && mem_find_down(STATE_BIT(PAGE_USED), &cursor, &pfn)) {
		mem_set(pfn, PAGE_FREE);
		n++;
	}
	balloon_memory_freed();
	if (!st->all && n < st->pages) {
		marker("free %llu MiB FAILED only %llu pages held",
		       mib(st->pages),
		       (unsigned long long)n);
		return false;
	}
	marker("free %llu MiB done pages=%llu", mib(n), (unsigned long long)n);
	return true;
}

static bool
run_verify(void)
{
	uint64_t start = clock_now(), cursor = mem_first_pfn(), pfn, n = 0, bad = 0, first_bad = 0;

	while (mem_find_up(STATE_BIT(PAGE_USED), &cursor, &pfn)) {
		if (!page_ok(page_ptr(pfn)) && bad++ == 0)
			first_bad = pfn << PAGE_SHIFT;
		n++;
		workload_tick();
	}
	if (bad) {
		marker("verify FAILED at 0x%llx bad=%llu pages=%llu",
		       (unsigned long long)first_bad,
		       (unsigned long long)bad,
		       (unsigned long long)n);
		return false;
	}
	marker("verify ok pages=%llu ms=%llu",
	       (unsigned long long)n,
	       (unsigned long long)elapsed_ms(start));
	return true;
}

/* Serves the devices until the deadline or until done() holds. */
static bool
serve_until(uint64_t deadline, bool (*done)(const struct step *), const struct step *st)
{
	for (;;) {
		uint64_t next = balloon_service();
		if (done && done(st))
			return true;
		if (deadline != NO_DEADLINE && clock_now() >= deadline)
			return !done;
		guest_wait(deadline_min(next, deadline));
	}
}

static bool
balloon_reached(const struct step *st)
{
	if (st->has_size)
		return balloon.actual == st->pages;
	return balloon.target != 0 && balloon.actual == balloon.target;
}

static bool
run_wait_balloon(const struct step *st)
{
	uint64_t start = clock_now();

	if (!balloon.present || balloon.broken) {
		marker("wait-balloon FAILED no balloon");
		return false;
	}
	if (!serve_until(st->ms ? clock_after_ms(st->ms) : NO_DEADLINE, balloon_reached, st)) {
		marker("wait-balloon TIMEOUT actual=%u target=%u pages",
		       balloon.actual,
		       balloon.target);
		return false;
	}
	marker("wait-balloon done actual=%u pages ms=%llu",
	       balloon.actual,
	       (unsigned long long)elapsed_ms(start));
	return true;
}

static bool
run_report(void)
{
	if (!balloon.present || !balloon_has(VIRTIO_BALLOON_F_REPORTING)) {
		marker("report skipped (free page reporting not negotiated)");
		return true;
	}
	balloon.report_at = 0;
	uint64_t bytes = balloon_report_now();
	marker("report done MiB=%llu", (unsigned long long)(bytes / MIB));
	return !balloon.broken;
}

static void
run_meminfo(void)
{
	struct mem_counts c;

	memory_counts(&c);
	marker("meminfo total=%llu free=%llu clean=%llu used=%llu balloon=%llu pages target=%u "
	       "actual=%u",
	       (unsigned long long)c.total,
	       (unsigned long long)c.free,
	       (unsigned long long)c.clean,
	       (unsigned long long)c.used,
	       (unsigned long long)c.balloon,
	       balloon.target,
	       balloon.actual);
}

static bool
run_step(const struct step *st, unsigned int index)
{
	switch (st->op) {
	case OP_ALLOC:
		return run_alloc(st, index);
	case OP_FREE:
		return run_free(st);
	case OP_HOLD:
		serve_until(clock_after_ms(st->ms), 0, st);
		marker("hold %llu ms done", (unsigned long long)st->ms);
		return true;
	case OP_WAIT_BALLOON:
		return run_wait_balloon(st);
	case OP_VERIFY:
		return run_verify();
	case OP_REPORT:
		return run_report();
	case OP_MEMINFO:
		run_meminfo();
		return true;
	case OP_HOSTILE:
		return hostile_run(st->arg, st->arg_len) == 0;
	case OP_EXIT:
		break;
	}
	return true;
}

int
workload_run(void)
{
	uint64_t s = clock_now();

	boot_nonce = splitmix64(&s);
	for (unsigned int i = 0; i < n_steps; i++) {
		if (steps[i].op == OP_EXIT)
			return steps[i].status >= 0 ? steps[i].status : failures ? 1 : 0;
		if (!run_step(&steps[i], i))
			failures++;
	}
	if (n_steps)
		marker("script done failures=%u", failures);
	return WORKLOAD_CONTINUE;
}
