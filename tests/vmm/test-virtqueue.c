/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "vmm-test-error.h"
#include "vmm-test-driver.h"
#include "vmm-virtqueue.h"

#define RAM_SIZE (16 * VMM_MIB)
#define RING_BASE 0x10000
#define BUFFERS 0x100000
#define QUEUE_SIZE 16

typedef struct {
	VmmMemory *memory;
	VmmVirtqueue *queue;
	TestRing ring;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
	vmm_autoptr(VmmError) error = NULL;

	fx->memory = vmm_memory_new(RAM_SIZE, &error);
	vmm_assert_no_error(error);
	fx->queue = vmm_virtqueue_new(fx->memory, QUEUE_SIZE);
	test_ring_init(&fx->ring, fx->memory, RING_BASE, QUEUE_SIZE);
	vmm_virtqueue_set_size(fx->queue, QUEUE_SIZE);
	vmm_virtqueue_set_addresses(fx->queue, fx->ring.desc, fx->ring.avail, fx->ring.used);
	vmm_virtqueue_enable(fx->queue, &error);
	vmm_assert_no_error(error);
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
	vmm_virtqueue_free(fx->queue);
	vmm_memory_free(fx->memory);
}

/* Pops and expects garbage: the queue reports it and does not move on. */
static void
assert_broken(Fixture *fx, const gchar *message_part)
{
	vmm_autoptr(VmmError) error = NULL;
	VmmVirtqChain chain;

	g_assert_cmpint(vmm_virtqueue_pop(fx->queue, &chain, &error), ==, VMM_VIRTQ_BROKEN);
	vmm_assert_error(error, EBADMSG);
	g_assert_nonnull(strstr(error->message, message_part));
}

static void
test_valid_chain(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffers[] = {{BUFFERS, 100, FALSE},
				      {BUFFERS + 0x1000, 200, FALSE},
				      {BUFFERS + 0x2000, 4096, TRUE}};
	vmm_autoptr(VmmError) error = NULL;
	VmmVirtqChain chain;
	guint32 id, length;
	guint16 head = test_ring_post(&fx->ring, buffers, 3);

	g_assert_cmpint(vmm_virtqueue_pop(fx->queue, &chain, &error), ==, VMM_VIRTQ_CHAIN);
	vmm_assert_no_error(error);
	g_assert_cmpuint(chain.head, ==, head);
	g_assert_cmpuint(chain.n_descs, ==, 3);
	for (guint i = 0; i < 3; i++) {
		g_assert_cmpuint(chain.descs[i].address, ==, buffers[i].address);
		g_assert_cmpuint(chain.descs[i].length, ==, buffers[i].length);
		g_assert_cmpint(chain.descs[i].device_writable, ==, buffers[i].writable);
	}
	g_assert_cmpint(vmm_virtqueue_pop(fx->queue, &chain, &error), ==, VMM_VIRTQ_EMPTY);

	g_assert_false(test_ring_take_used(&fx->ring, &id, &length));
	g_assert_true(vmm_virtqueue_push(fx->queue, head, 42, &error));
	g_assert_true(test_ring_take_used(&fx->ring, &id, &length));
	g_assert_cmpuint(id, ==, head);
	g_assert_cmpuint(length, ==, 42);
}

static void
test_index_wraparound(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffer = {BUFFERS, 8, FALSE};
	vmm_autoptr(VmmError) error = NULL;
	VmmVirtqChain chain;
	guint32 id, length;

	/* 70000 buffers: both 16-bit indices wrap. */
	for (guint i = 0; i < 70000; i++) {
		guint16 head = test_ring_post(&fx->ring, &buffer, 1);
		g_assert_cmpint(vmm_virtqueue_pop(fx->queue, &chain, &error), ==, VMM_VIRTQ_CHAIN);
		g_assert_true(vmm_virtqueue_push(fx->queue, head, 0, &error));
		g_assert_true(test_ring_take_used(&fx->ring, &id, &length));
		g_assert_cmpuint(id, ==, head);
	}
	vmm_assert_no_error(error);
}

static void
test_buffer_outside_ram(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffer = {RAM_SIZE - 8, 16, FALSE};

	test_ring_post(&fx->ring, &buffer, 1);
	assert_broken(fx, "not inside guest RAM");
}

static void
test_length_wraps(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffer = {G_MAXUINT64 - 0xFFF, 0x2000, FALSE};

	test_ring_post(&fx->ring, &buffer, 1);
	assert_broken(fx, "not inside guest RAM");
}

static void
test_loop(Fixture *fx, gconstpointer user_data)
{
	test_ring_write_desc(&fx->ring, 0, BUFFERS, 8, TEST_DESC_F_NEXT, 1);
	test_ring_write_desc(&fx->ring, 1, BUFFERS, 8, TEST_DESC_F_NEXT, 2);
	test_ring_write_desc(&fx->ring, 2, BUFFERS, 8, TEST_DESC_F_NEXT, 0);
	test_ring_publish(&fx->ring, 0);
	assert_broken(fx, "loops");
}

static void
test_self_loop(Fixture *fx, gconstpointer user_data)
{
	test_ring_write_desc(&fx->ring, 5, BUFFERS, 8, TEST_DESC_F_NEXT, 5);
	test_ring_publish(&fx->ring, 5);
	assert_broken(fx, "loops");
}

static void
test_too_long(Fixture *fx, gconstpointer user_data)
{
	vmm_autoptr(VmmError) error = NULL;
	vmm_autoptr(VmmVirtqueue) big = vmm_virtqueue_new(fx->memory, 256);
	g_autofree TestBuffer *buffers = g_new0(TestBuffer, VMM_VIRTQ_MAX_CHAIN + 1);
	TestRing ring;
	VmmVirtqChain chain;

	test_ring_init(&ring, fx->memory, 0x40000, 256);
	vmm_virtqueue_set_addresses(big, ring.desc, ring.avail, ring.used);
	g_assert_true(vmm_virtqueue_enable(big, &error));
	for (guint i = 0; i <= VMM_VIRTQ_MAX_CHAIN; i++)
		buffers[i] = (TestBuffer){BUFFERS, 8, FALSE};
	test_ring_post(&ring, buffers, VMM_VIRTQ_MAX_CHAIN);
	g_assert_cmpint(vmm_virtqueue_pop(big, &chain, &error), ==, VMM_VIRTQ_CHAIN);
	g_assert_cmpuint(chain.n_descs, ==, VMM_VIRTQ_MAX_CHAIN);
	test_ring_post(&ring, buffers, VMM_VIRTQ_MAX_CHAIN + 1);
	g_assert_cmpint(vmm_virtqueue_pop(big, &chain, &error), ==, VMM_VIRTQ_BROKEN);
	g_assert_nonnull(strstr(error->message, "longer than"));
}

/* A chain may use the whole queue; one more descriptor can only be a repeat, i.e. a loop. */
static void
test_whole_queue_chain(Fixture *fx, gconstpointer user_data)
{
	vmm_autoptr(VmmError) error = NULL;
	VmmVirtqChain chain;

	for (guint i = 0; i < QUEUE_SIZE; i++)
		test_ring_write_desc(
			&fx->ring, i, BUFFERS, 8, i + 1 < QUEUE_SIZE ? TEST_DESC_F_NEXT : 0, i + 1);
	test_ring_publish(&fx->ring, 0);
	g_assert_cmpint(vmm_virtqueue_pop(fx->queue, &chain, &error), ==, VMM_VIRTQ_CHAIN);
	g_assert_cmpuint(chain.n_descs, ==, QUEUE_SIZE);

	test_ring_write_desc(&fx->ring, QUEUE_SIZE - 1, BUFFERS, 8, TEST_DESC_F_NEXT, 0);
	test_ring_publish(&fx->ring, 0);
	assert_broken(fx, "loops at 0");
}

static void
test_bad_head(Fixture *fx, gconstpointer user_data)
{
	test_ring_publish(&fx->ring, QUEUE_SIZE);
	assert_broken(fx, "head 16 beyond");
}

static void
test_bad_next(Fixture *fx, gconstpointer user_data)
{
	test_ring_write_desc(&fx->ring, 0, BUFFERS, 8, TEST_DESC_F_NEXT, 0xFFFF);
	test_ring_publish(&fx->ring, 0);
	assert_broken(fx, "next descriptor 65535");
}

static void
test_avail_jump(Fixture *fx, gconstpointer user_data)
{
	test_ring_set_avail_idx(&fx->ring, QUEUE_SIZE + 1);
	assert_broken(fx, "jumped");
}

static void
test_indirect_refused(Fixture *fx, gconstpointer user_data)
{
	test_ring_write_desc(&fx->ring, 0, BUFFERS, 64, TEST_DESC_F_INDIRECT, 0);
	test_ring_publish(&fx->ring, 0);
	assert_broken(fx, "indirect");
}

static void
test_readable_after_writable(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffers[] = {{BUFFERS, 8, TRUE}, {BUFFERS, 8, FALSE}};

	test_ring_post(&fx->ring, buffers, 2);
	assert_broken(fx, "readable descriptor after");
}

static void
test_enable_checks(Fixture *fx, gconstpointer user_data)
{
	vmm_autoptr(VmmVirtqueue) queue = vmm_virtqueue_new(fx->memory, 256);
	struct {
		guint16 size;
		guint64 desc, avail, used;
		const gchar *message;
	} cases[] = {
		{0, 0x1000, 0x3000, 0x4000, "power of 2"},
		{100, 0x1000, 0x3000, 0x4000, "power of 2"},
		{512, 0x1000, 0x3000, 0x4000, "power of 2"},
		{256, 0x1008, 0x3000, 0x4000, "aligned"},
		{256, 0x1000, 0x3001, 0x4000, "aligned"},
		{256, 0x1000, 0x3000, 0x4002, "aligned"},
		{256, RAM_SIZE - 0x800, 0x3000, 0x4000, "descriptor ring"},
		{256, 0x1000, RAM_SIZE - 0x100, 0x4000, "available ring"},
		{256, 0x1000, 0x3000, RAM_SIZE - 0x100, "used ring"},
		{256, 0x1000, 0x3000, G_GUINT64_CONSTANT(0xFFFFFFFFFFFFF000), "used ring"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		vmm_autoptr(VmmError) error = NULL;
		vmm_virtqueue_reset(queue);
		vmm_virtqueue_set_size(queue, cases[i].size);
		vmm_virtqueue_set_addresses(queue, cases[i].desc, cases[i].avail, cases[i].used);
		g_assert_false(vmm_virtqueue_enable(queue, &error));
		g_assert_nonnull(strstr(error->message, cases[i].message));
		g_assert_false(vmm_virtqueue_is_enabled(queue));
	}
}

static void
test_no_interrupt_flag(Fixture *fx, gconstpointer user_data)
{
	g_assert_true(vmm_virtqueue_wants_interrupt(fx->queue));
	test_ring_set_avail_flags(&fx->ring, 1);
	g_assert_false(vmm_virtqueue_wants_interrupt(fx->queue));
}

static void
test_chain_read(Fixture *fx, gconstpointer user_data)
{
	const TestBuffer buffers[] = {{BUFFERS, 3, FALSE}, {BUFFERS + 0x100, 4, FALSE}};
	vmm_autoptr(VmmError) error = NULL;
	VmmVirtqChain chain;
	guint8 out[16] = {0};

	test_memory_write(fx->memory, BUFFERS, "abc", 3);
	test_memory_write(fx->memory, BUFFERS + 0x100, "defg", 4);
	test_ring_post(&fx->ring, buffers, 2);
	g_assert_cmpint(vmm_virtqueue_pop(fx->queue, &chain, &error), ==, VMM_VIRTQ_CHAIN);
	g_assert_cmpuint(vmm_virtq_chain_read(fx->memory, &chain, out, sizeof(out)), ==, 7);
	g_assert_cmpstr((const gchar *)out, ==, "abcdefg");
	g_assert_cmpuint(vmm_virtq_chain_read(fx->memory, &chain, out, 5), ==, 5);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	test_log_init();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/virtqueue/valid-chain", test_valid_chain);
	ADD("/virtqueue/index-wraparound", test_index_wraparound);
	ADD("/virtqueue/buffer-outside-ram", test_buffer_outside_ram);
	ADD("/virtqueue/length-wraps", test_length_wraps);
	ADD("/virtqueue/loop", test_loop);
	ADD("/virtqueue/self-loop", test_self_loop);
	ADD("/virtqueue/too-long", test_too_long);
	ADD("/virtqueue/whole-queue-chain", test_whole_queue_chain);
	ADD("/virtqueue/bad-head", test_bad_head);
	ADD("/virtqueue/bad-next", test_bad_next);
	ADD("/virtqueue/avail-jump", test_avail_jump);
	ADD("/virtqueue/indirect-refused", test_indirect_refused);
	ADD("/virtqueue/readable-after-writable", test_readable_after_writable);
	ADD("/virtqueue/enable-checks", test_enable_checks);
	ADD("/virtqueue/no-interrupt-flag", test_no_interrupt_flag);
	ADD("/virtqueue/chain-read", test_chain_read);
#undef ADD
	return g_test_run();
}
