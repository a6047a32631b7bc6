/* Time (rdtsc), idling and exiting, through vboxmem-vm's paravirtual ports when present. */
#ifndef GUEST_CLOCK_H
#define GUEST_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define PV_PORT_IDLE 0x0f40 /* in: signature; out: idle for at most N µs (0: no limit) */
#define PV_PORT_EXIT 0x0f44
#define PV_PORT_TSC_KHZ 0x0f48
#define PV_PORT_VCPUS 0x0f4c
#define PV_SIGNATURE 0x4d584256u /* "VBXM" */

#define ISA_DEBUG_EXIT_PORT 0x0501

/* A deadline of 0 means "no deadline". */
#define NO_DEADLINE 0

void clock_init(void);
bool clock_pv(void);
uint32_t clock_tsc_khz(void);
uint64_t clock_now(void);
uint64_t clock_us(uint64_t tsc_delta);
uint64_t clock_after_us(uint64_t us);
uint64_t clock_after_ms(uint64_t ms);
uint64_t deadline_min(uint64_t a, uint64_t b);

/*
 * Block until the deadline passes or a device may have something for the guest
 * (a used buffer, a configuration change); it can also return earlier. Callers
 * re-check their conditions and call it again.
 */
void guest_wait(uint64_t deadline);

__attribute__((noreturn)) void guest_exit(int status);

#endif
