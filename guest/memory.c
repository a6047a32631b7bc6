#include "memory.h"

#include "bootinfo.h"
#include "lib.h"

#define MAX_RANGES 32
#define PER_WORD 32 /* two bits per page */
#define LO_BITS 0x5555555555555555ull
#define HI_BITS 0xaaaaaaaaaaaaaaaaull
#define LOW_MEMORY_END (1ull * MIB)
#define REPORT_RUN_PAGES 512

extern char _end[];

/* A contiguous run of RAM pages; its states start at index `first` of the state array. */
struct mem_range {
	uint64_t base_pfn;
	uint64_t npages;
	uint64_t first;
};

static struct mem_range ranges[MAX_RANGES];
static unsigned int n_ranges;
static uint64_t *state;
static uint64_t counts[4];
static uint64_t total_pages;
static uint64_t allocations;
static uint64_t alloc_cursor;
static uint64_t scratch_page;

static unsigned int
get_index(uint64_t i)
{
	return (state[i / PER_WORD] >> (i % PER_WORD * 2)) & 3;
}

static void
set_index(uint64_t i, unsigned int st)
{
	uint64_t shift = i % PER_WORD * 2;
	uint64_t *w = &state[i / PER_WORD];

	counts[(*w >> shift) & 3]--;
	counts[st]++;
	*w = (*w & ~(3ull << shift)) | ((uint64_t)st << shift);
}

/* Whether any of the 32 pages of a state word is in one of `states`. */
static bool
word_has(uint64_t w, unsigned int states)
{
	for (unsigned int s = 0; s < 4; s++) {
		if (!(states & STATE_BIT(s)))
			continue;
		uint64_t x = w ^ (LO_BITS * s);
		if (~(x | (x >> 1)) & LO_BITS)
			return true;
	}
	return false;
}

static const struct mem_range *
range_of_pfn(uint64_t pfn)
{
	for (unsigned int r = 0; r < n_ranges; r++)
		if (pfn >= ranges[r].base_pfn && pfn < ranges[r].base_pfn + ranges[r].npages)
			return &ranges[r];
	return 0;
}

static void
add_range(uint64_t start, uint64_t end)
{
	start = ALIGN_UP(start, PAGE_SIZE);
	end = ALIGN_DOWN(end, PAGE_SIZE);
	if (end <= start || n_ranges == MAX_RANGES)
		return;
	ranges[n_ranges++] =
		(struct mem_range){start >> PAGE_SHIFT, (end - start) >> PAGE_SHIFT, 0};
}

/* Cut [start, end) out of the range list. */
static void
remove_span(uint64_t start, uint64_t end)
{
	uint64_t s = start >> PAGE_SHIFT, e = ALIGN_UP(end, PAGE_SIZE) >> PAGE_SHIFT;

	for (unsigned int r = 0; r < n_ranges; r++) {
		uint64_t rs = ranges[r].base_pfn, re = rs + ranges[r].npages;
		if (e <= rs || s >= re)
			continue;
		ranges[r].npages = s > rs ? s - rs : 0;
		if (e < re)
			add_range(e << PAGE_SHIFT, re << PAGE_SHIFT);
	}
}

static void
sort_ranges(void)
{
	for (unsigned int i = 1; i < n_ranges; i++)
		for (unsigned int j = i; j > 0 && ranges[j].base_pfn < ranges[j - 1].base_pfn;
		     j--) {
			struct mem_range t = ranges[j];
			ranges[j] = ranges[j - 1];
			ranges[j - 1] = t;
		}
	unsigned int n = 0;
	for (unsigned int i = 0; i < n_ranges; i++)
		if (ranges[i].npages)
			ranges[n++] = ranges[i];
	n_ranges = n;
}

/*
 * Index space: each range starts at an index congruent to its base PFN modulo 32, so a
 * 2 MiB-aligned run of pages covers whole state words.
 */
static uint64_t
assign_indexes(void)
{
	uint64_t next = 0;

	for (unsigned int r = 0; r < n_ranges; r++) {
		next = ALIGN_UP(next, PER_WORD) + ranges[r].base_pfn % PER_WORD;
		ranges[r].first = next;
		next += ranges[r].npages;
	}
	return next;
}

/* Take the state array from the start of the first range large enough. */
static int
place_state(uint64_t bytes)
{
	uint64_t pages = ALIGN_UP(bytes, PAGE_SIZE) >> PAGE_SHIFT;

	for (unsigned int r = 0; r < n_ranges; r++) {
		if (ranges[r].npages <= pages)
			continue;
		state = (uint64_t *)(uintptr_t)(ranges[r].base_pfn << PAGE_SHIFT);
		ranges[r].base_pfn += pages;
		ranges[r].npages -= pages;
		return 0;
	}
	return -1;
}

int
memory_init(void)
{
	uint64_t floor = MAX(LOW_MEMORY_END, ALIGN_UP((uintptr_t)_end, PAGE_SIZE));

	for (unsigned int i = 0; i < boot.n_e820; i++) {
		const struct hvm_memmap_table_entry *e = &boot.e820[i];
		if (e->type == XEN_HVM_MEMMAP_TYPE_RAM && e->addr + e->size > floor)
			add_range(MAX(e->addr, floor), e->addr + e->size);
	}
	for (unsigned int i = 0; i < boot.n_modules; i++)
		remove_span(boot.modules[i].addr, boot.modules[i].addr + boot.modules[i].size);
	sort_ranges();
	if (n_ranges) {
		struct mem_range *last = &ranges[n_ranges - 1];
		scratch_page = (last->base_pfn + last->npages - 1) << PAGE_SHIFT;
		last->npages--;
	}
	/* Taking the array's own pages can move a range's padding by one word at most. */
	uint64_t words = (assign_indexes() + PER_WORD - 1) / PER_WORD + n_ranges + 1;
	if (place_state(words * sizeof(uint64_t)) < 0)
		return -1;
	sort_ranges();
	assign_indexes();
	/* Nothing has touched these pages yet, so the host holds no memory for them. */
	for (uint64_t w = 0; w < words; w++)
		state[w] = LO_BITS * PAGE_CLEAN;
	for (unsigned int r = 0; r < n_ranges; r++)
		total_pages += ranges[r].npages;
	counts[PAGE_CLEAN] = total_pages;
	return total_pages ? 0 : -1;
}

void
memory_counts(struct mem_counts *out)
{
	*out = (struct mem_counts){
		.total = total_pages,
		.free = counts[PAGE_FREE] + counts[PAGE_CLEAN],
		.clean = counts[PAGE_CLEAN],
		.used = counts[PAGE_USED],
		.balloon = counts[PAGE_BALLOON],
		.allocations = allocations,
	};
}

uint64_t
mem_first_pfn(void)
{
	return n_ranges ? ranges[0].base_pfn : 0;
}

uint64_t
mem_last_pfn(void)
{
	return n_ranges ? ranges[n_ranges - 1].base_pfn + ranges[n_ranges - 1].npages - 1 : 0;
}

uint64_t
mem_scratch_page(void)
{
	return scratch_page;
}

void
mem_set(uint64_t pfn, enum page_state st)
{
	const struct mem_range *r = range_of_pfn(pfn);

	if (r)
		set_index(r->first + pfn - r->base_pfn, st);
}

static bool
scan_range_up(const struct mem_range *r, uint64_t from, unsigned int states, uint64_t *pfn)
{
	uint64_t i = r->first + from - r->base_pfn, end = r->first + r->npages;

	while (i < end) {
		if (i % PER_WORD == 0 && i + PER_WORD <= end &&
		    !word_has(state[i / PER_WORD], states)) {
			i += PER_WORD;
			continue;
		}
		if (states & STATE_BIT(get_index(i))) {
			*pfn = r->base_pfn + i - r->first;
			return true;
		}
		i++;
	}
	return false;
}

static bool
scan_range_down(const struct mem_range *r, uint64_t from, unsigned int states, uint64_t *pfn)
{
	uint64_t i = r->first + from - r->base_pfn + 1;

	while (i > r->first) {
		if (i % PER_WORD == 0 && i - PER_WORD >= r->first &&
		    !word_has(state[i / PER_WORD - 1], states)) {
			i -= PER_WORD;
			continue;
		}
		i--;
		if (states & STATE_BIT(get_index(i))) {
			*pfn = r->base_pfn + i - r->first;
			return true;
		}
	}
	return false;
}

bool
mem_find_up(unsigned int states, uint64_t *cursor, uint64_t *pfn)
{
	for (unsigned int r = 0; r < n_ranges; r++) {
		const struct mem_range *m = &ranges[r];
		if (*cursor >= m->base_pfn + m->npages)
			continue;
		if (scan_range_up(m, MAX(*cursor, m->base_pfn), states, pfn)) {
			*cursor = *pfn + 1;
			return true;
		}
	}
	*cursor = mem_last_pfn() + 1;
	return false;
}

bool
mem_find_down(unsigned int states, uint64_t *cursor, uint64_t *pfn)
{
	for (unsigned int r = n_ranges; r-- > 0;) {
		const struct mem_range *m = &ranges[r];
		if (*cursor < m->base_pfn)
			continue;
		if (scan_range_down(m, MIN(*cursor, m->base_pfn + m->npages - 1), states, pfn)) {
			*cursor = *pfn - 1;
			return true;
		}
	}
	*cursor = 0;
	return false;
}

uint64_t
mem_alloc(void)
{
	uint64_t pfn;

	if (counts[PAGE_FREE] + counts[PAGE_CLEAN] == 0)
		return 0;
	if (!mem_find_up(STATES_FREE, &alloc_cursor, &pfn)) {
		alloc_cursor = 0;
		if (!mem_find_up(STATES_FREE, &alloc_cursor, &pfn))
			return 0;
	}
	mem_set(pfn, PAGE_USED);
	allocations++;
	return pfn;
}

static bool
run_reportable(const struct mem_range *r, uint64_t pfn)
{
	uint64_t w = (r->first + pfn - r->base_pfn) / PER_WORD;
	bool dirty = false;

	for (unsigned int k = 0; k < REPORT_RUN_PAGES / PER_WORD; k++) {
		if (state[w + k] & HI_BITS)
			return false;
		if (~state[w + k] & LO_BITS)
			dirty = true;
	}
	return dirty;
}

uint64_t
mem_next_reportable(uint64_t *cursor)
{
	for (unsigned int r = 0; r < n_ranges; r++) {
		const struct mem_range *m = &ranges[r];
		uint64_t pfn = ALIGN_UP(MAX(*cursor, m->base_pfn), REPORT_RUN_PAGES);
		for (; pfn + REPORT_RUN_PAGES <= m->base_pfn + m->npages; pfn += REPORT_RUN_PAGES) {
			if (run_reportable(m, pfn)) {
				*cursor = pfn + REPORT_RUN_PAGES;
				return pfn;
			}
		}
	}
	*cursor = mem_last_pfn() + 1;
	return 0;
}

void
mem_mark_run(uint64_t pfn, uint64_t npages, enum page_state st)
{
	for (uint64_t i = 0; i < npages; i++)
		mem_set(pfn + i, st);
}
