/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * Arbitrary bytes as guest memory: rings, descriptors, PFN arrays, stats and
 * reported ranges all come from the input. First through the virtqueue
 * parser alone, then through a whole balloon behind virtio-pci that a driver
 * brings up on those rings. Nothing may crash or touch memory outside the
 * guest's, whatever the input.
 *
 * Input: byte 0 balloon features (bit 0 stats, bit 1 reporting), byte 1 queue
 * size (log2), byte 2 which queues to kick, the rest copied to guest address 0.
 *
 * Seeds: corpus/virtqueue/, written by make-virtqueue-corpus.py. Built with
 * libFuzzer (clang, -Dfuzzing=true) it is a fuzz target; otherwise
 * fuzz-replay.c runs it over every file of the directories given.
 */

#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "vmm-test-error.h"
#include "vmm-balloon.h"
#include "vmm-test-driver.h"
#include "vmm-virtio-pci.h"

#define RAM_SIZE (2 * VMM_MIB)
#define QUEUE_STRIDE 0x4000
#define AVAIL_OFFSET 0x1000
#define USED_OFFSET 0x2000
#define N_QUEUES 4
#define VERSION_1 (G_GUINT64_CONSTANT(1) << 32)

typedef struct {
	VmmMemory *memory;
	VmmBus *pio;
	VmmBus *mmio;
	TestIrq irq_recorder;
	VmmIrq irq;
} Machine;

static void
ignore_log(VmmLogLevel level, const char *message, void *user_data)
{
}

static Machine *
machine_get(void)
{
	static Machine machine;

	if (machine.memory == NULL) {
		vmm_log_set_handler(ignore_log, NULL);
		machine.memory = vmm_memory_new(RAM_SIZE, NULL);
		machine.pio = vmm_bus_new("pio");
		machine.mmio = vmm_bus_new("mmio");
		test_irq_init(&machine.irq_recorder, &machine.irq);
	}
	return &machine;
}

static void
load_memory(Machine *machine, const guint8 *data, gsize size)
{
	guint8 *ram = vmm_memory_get(machine->memory, 0, RAM_SIZE);

	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data, MIN(size, RAM_SIZE));
}

static void
parse_queue(Machine *machine, guint16 queue_size)
{
	vmm_autoptr(VmmVirtqueue) queue = vmm_virtqueue_new(machine->memory, 256);
	VmmVirtqChain chain;
	guint8 scratch[256];

	vmm_virtqueue_set_size(queue, queue_size);
	vmm_virtqueue_set_addresses(queue, 0, AVAIL_OFFSET, USED_OFFSET);
	if (!vmm_virtqueue_enable(queue, NULL))
		return;
	for (guint i = 0; i < 2u * queue_size; i++) {
		vmm_autoptr(VmmError) error = NULL;
		if (vmm_virtqueue_pop(queue, &chain, &error) != VMM_VIRTQ_CHAIN)
			break;
		vmm_virtq_chain_read(machine->memory, &chain, scratch, sizeof(scratch));
		vmm_virtqueue_push(queue, chain.head, chain.n_descs, NULL);
		vmm_virtqueue_wants_interrupt(queue);
	}
}

static void
run_balloon(Machine *machine, guint8 features, guint16 queue_size, guint8 kicks)
{
	const VmmBalloonFeatures offered = {TRUE, TRUE, TRUE};
	/* A bridge per input: BAR windows are handed out once and never reclaimed. */
	vmm_autoptr(VmmPci) pci = vmm_pci_new(machine->pio, machine->mmio, NULL);
	vmm_autoptr(VmmBalloon) balloon = vmm_balloon_new(machine->memory, &offered, NULL);
	vmm_autoptr(VmmVirtio) transport = vmm_virtio_pci_new(
		pci, machine->memory, &machine->irq, vmm_balloon_get_ops(), balloon, NULL);
	guint64 wanted = VERSION_1 | ((features & 1) ? 1u << VMM_BALLOON_F_STATS_VQ : 0) |
			 ((features & 2) ? 1u << VMM_BALLOON_F_FREE_PAGE_REPORTING : 0);
	TestVirtio driver;
	TestRing ring = {machine->memory, queue_size};

	test_virtio_find(&driver,
			 machine->pio,
			 machine->mmio,
			 vmm_pci_device_get_slot(vmm_virtio_pci_get_pci_device(transport)));
	test_virtio_negotiate(&driver, wanted);
	for (guint q = 0; q < N_QUEUES; q++) {
		ring.desc = q * QUEUE_STRIDE;
		ring.avail = ring.desc + AVAIL_OFFSET;
		ring.used = ring.desc + USED_OFFSET;
		test_virtio_setup_queue(&driver, q, &ring);
	}
	test_virtio_set_status(&driver, 0x0F);
	for (guint q = 0; q < N_QUEUES; q++)
		if (kicks & (1u << q))
			test_virtio_notify(&driver, q);
	vmm_balloon_request_stats(balloon);
	vmm_balloon_set_target(balloon, VMM_MIB);
	test_virtio_read_isr(&driver);
	for (guint q = 0; q < N_QUEUES; q++)
		if (kicks & (0x10u << q))
			test_virtio_notify(&driver, q);
	test_virtio_set_status(&driver, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Machine *machine = machine_get();
	guint16 queue_size;

	if (size < 3)
		return 0;
	queue_size = 1u << (data[1] % 9);
	load_memory(machine, data + 3, size - 3);
	parse_queue(machine, queue_size);
	load_memory(machine, data + 3, size - 3);
	run_balloon(machine, data[0], queue_size, data[2]);
	return 0;
}
