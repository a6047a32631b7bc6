#include "clock.h"

#include "console.h"
#include "io.h"
#include "lib.h"

#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_GATE 0x61
#define CALIBRATE_MS 10
#define FALLBACK_TSC_KHZ 2000000u
/* Without the idle port nothing wakes the guest: come back this often to poll the devices. */
#define SPIN_SLICE_US 1000

static bool pv;
static uint32_t tsc_khz;

static uint64_t
pit_measure_tsc(void)
{
	uint16_t count = PIT_HZ / (1000 / CALIBRATE_MS);

	outb(PIT_GATE, (inb(PIT_GATE) & ~0x02) | 0x01); /* gate on, speaker off */
	outb(PIT_CMD, 0xb0);                            /* channel 2, lo/hi, mode 0 */
	outb(PIT_CH2, count & 0xff);
	outb(PIT_CH2, count >> 8);
	uint64_t start = rdtsc();
	for (uint64_t i = 0; !(inb(PIT_GATE) & 0x20); i++) {
		if (i > 100000000)
			return 0;
		cpu_pause();
	}
	return rdtsc() - start;
}

static uint32_t
pit_calibrate(void)
{
	uint64_t d[3];

	for (int i = 0; i < 3; i++)
		d[i] = pit_measure_tsc();
	/* Median of three, against a vCPU descheduled in the middle of one run. */
	uint64_t med = MAX(MIN(d[0], d[1]), MIN(MAX(d[0], d[1]), d[2]));
	uint64_t khz = med / CALIBRATE_MS;
	if (khz < 100000 || khz > 100000000)
		return 0;
	return (uint32_t)khz;
}

void
clock_init(void)
{
	pv = inl(PV_PORT_IDLE) == PV_SIGNATURE;
	if (pv) {
		uint32_t khz = inl(PV_PORT_TSC_KHZ);
		if (khz && khz != 0xffffffffu)
			tsc_khz = khz;
	}
	if (!tsc_khz)
		tsc_khz = pit_calibrate();
	if (!tsc_khz) {
		marker("warning tsc calibration failed, assuming %u kHz", FALLBACK_TSC_KHZ);
		tsc_khz = FALLBACK_TSC_KHZ;
	}
}

bool
clock_pv(void)
{
	return pv;
}

uint32_t
clock_tsc_khz(void)
{
	return tsc_khz;
}

uint64_t
clock_now(void)
{
	return rdtsc();
}

uint64_t
clock_us(uint64_t tsc_delta)
{
	return tsc_delta / tsc_khz * 1000 + tsc_delta % tsc_khz * 1000 / tsc_khz;
}

uint64_t
clock_after_us(uint64_t us)
{
	return rdtsc() + us * tsc_khz / 1000;
}

uint64_t
clock_after_ms(uint64_t ms)
{
	return rdtsc() + ms * tsc_khz;
}

uint64_t
deadline_min(uint64_t a, uint64_t b)
{
	if (a == NO_DEADLINE)
		return b;
	if (b == NO_DEADLINE)
		return a;
	return MIN(a, b);
}

static void
pv_idle(uint64_t deadline, uint64_t now)
{
	uint64_t us = 0;

	if (deadline != NO_DEADLINE) {
		us = clock_us(deadline - now);
		if (us == 0)
			us = 1;
		if (us > 0xffffffffu)
			us = 0xffffffffu;
	}
	outl(PV_PORT_IDLE, (uint32_t)us);
}

void
guest_wait(uint64_t deadline)
{
	uint64_t now = rdtsc();

	if (deadline != NO_DEADLINE && now >= deadline)
		return;
	if (pv) {
		pv_idle(deadline, now);
		return;
	}
	uint64_t end = deadline_min(deadline, now + (uint64_t)SPIN_SLICE_US * tsc_khz / 1000);
	while (rdtsc() < end)
		cpu_pause();
}

void
guest_exit(int status)
{
	marker("exit %d", status);
	if (pv)
		outl(PV_PORT_EXIT, (uint32_t)status);
	else /* QEMU's isa-debug-exit, when present, exits with (status << 1) | 1. */
		outw(ISA_DEBUG_EXIT_PORT, (uint16_t)status);
	for (;;) {
		if (cpu_ring() == 0)
			__asm__ volatile("cli; hlt");
		else if (pv)
			outl(PV_PORT_IDLE, 0);
		else
			cpu_pause();
	}
}
