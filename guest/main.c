#include <stdint.h>

#include "balloon.h"
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "hostile.h"
#include "io.h"
#include "lib.h"
#include "memory.h"
#include "workload.h"

#define ENTRY_RING3 0
#define ENTRY_PVH 1

void guest_main(uint64_t start_info, uint64_t entry);

static void
print_memory(void)
{
	struct mem_counts c;

	memory_counts(&c);
	marker("memory ram-top=0x%llx usable=%llu MiB pages=%llu first-pfn=0x%llx last-pfn=0x%llx",
	       (unsigned long long)bootinfo_ram_top(),
	       (unsigned long long)(c.total * PAGE_SIZE / MIB),
	       (unsigned long long)c.total,
	       (unsigned long long)mem_first_pfn(),
	       (unsigned long long)mem_last_pfn());
}

static void
setup(uint64_t start_info, uint64_t entry)
{
	console_init();
	clock_init();
	int err = bootinfo_load(start_info);
	marker("boot entry=%s ring=%u pv=%s tsc-khz=%u",
	       entry == ENTRY_PVH ? "pvh" : "ring3",
	       cpu_ring(),
	       clock_pv() ? "yes" : "no",
	       clock_tsc_khz());
	if (err) {
		marker("error no usable hvm_start_info (%d)", err);
		guest_exit(3);
	}
	marker("cmdline %s", boot.cmdline);
	int errors = cmdline_parse(boot.cmdline);
	errors += workload_parse(opts.script);
	if (errors)
		guest_exit(2);
	if (memory_init() < 0) {
		marker("error no usable RAM above the image");
		guest_exit(3);
	}
	print_memory();
	if (opts.have_report_delay)
		balloon.report_delay_ms = (uint32_t)opts.report_delay_ms;
	if (!opts.balloon_off)
		balloon_init();
}

void
guest_main(uint64_t start_info, uint64_t entry)
{
	uint64_t t0 = clock_now();

	setup(start_info, entry);
	marker("ready ms=%llu", (unsigned long long)(clock_us(clock_now() - t0) / 1000));
	if (opts.hostile[0] && hostile_run(opts.hostile, strlen(opts.hostile)))
		guest_exit(2);
	int status = workload_run();
	if (status != WORKLOAD_CONTINUE)
		guest_exit(status);
	for (;;)
		guest_wait(balloon_service());
}
