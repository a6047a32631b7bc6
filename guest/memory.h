/*
 * The page allocator over RAM above the image. Two bits of state per 4 KiB page:
 * free, free and clean (the host holds no memory for it: never touched since boot,
 * reported free, or given back by the balloon), used by the workload, or in the
 * balloon. The guest never touches a ballooned page; driver memory lives in .bss.
 */
#ifndef GUEST_MEMORY_H
#define GUEST_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

enum page_state {
	PAGE_FREE = 0,
	PAGE_CLEAN = 1,
	PAGE_USED = 2,
	PAGE_BALLOON = 3,
};

#define STATE_BIT(s) (1u << (s))
#define STATES_FREE (STATE_BIT(PAGE_FREE) | STATE_BIT(PAGE_CLEAN))

/* In pages. */
struct mem_counts {
	uint64_t total;
	uint64_t free; /* clean or not */
	uint64_t clean;
	uint64_t used;
	uint64_t balloon;
	uint64_t allocations; /* pages handed out since boot */
};

/* Returns 0, or a negative number when there is no usable RAM. */
int memory_init(void);
void memory_counts(struct mem_counts *out);

/* A free page for the workload, as a PFN; 0 when none is left. */
uint64_t mem_alloc(void);
void mem_set(uint64_t pfn, enum page_state st);

/*
 * Walk pages whose state is in the STATE_BIT() set `states`, upward or downward from
 * *cursor (a PFN, inclusive). Returns false at the end; *cursor moves past the find.
 */
bool mem_find_up(unsigned int states, uint64_t *cursor, uint64_t *pfn);
bool mem_find_down(unsigned int states, uint64_t *cursor, uint64_t *pfn);
uint64_t mem_first_pfn(void);
uint64_t mem_last_pfn(void);

/* The last page of RAM, kept out of the allocator as scratch for the hostile modes. */
uint64_t mem_scratch_page(void);

/*
 * The next 2 MiB-aligned run of 512 free pages at or above *cursor of which at least
 * one is not clean: worth reporting to the device. Returns its first PFN, or 0 when there is none.
 */
uint64_t mem_next_reportable(uint64_t *cursor);
void mem_mark_run(uint64_t pfn, uint64_t npages, enum page_state st);

#endif
