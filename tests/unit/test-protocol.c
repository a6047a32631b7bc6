/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmp-table.h"

/* The control protocol's codec: what both vboxmemd and vboxmem-vm accept. */

static VmpSender
other_sender(VmpSender sender)
{
	return sender == VMP_FROM_DAEMON ? VMP_FROM_WORKER : VMP_FROM_DAEMON;
}

/* A valid record of @kind, with every field at a value of its own. */
static VmpRecord
sample_record(uint32_t kind)
{
	const VmpKindInfo *info = vmp_kind_info(kind);
	VmpRecord record = {.kind = (VmpKind)kind, .id = info->has_id ? 4242 : 0};

	for (unsigned i = 0; i < info->n_fields; i++) {
		const VmpField *field = &info->fields[i];
		uint8_t *at = (uint8_t *)&record + field->offset;
		uint64_t value = field->max;
		int32_t s32 = (int32_t)field->smax;
		int64_t s64 = field->smax;
		uint32_t u32;

		if (field->multiple != 0)
			value -= value % field->multiple;
		switch (field->type) {
		case VMP_FIELD_TEXT:
			g_strlcpy((char *)at, "stopped: ünïcode is fine", VMP_REASON_SIZE);
			break;
		case VMP_FIELD_U64:
			memcpy(at, &value, sizeof(value));
			break;
		case VMP_FIELD_I64:
			memcpy(at, &s64, sizeof(s64));
			break;
		case VMP_FIELD_I32:
			memcpy(at, &s32, sizeof(s32));
			break;
		default:
			u32 = (uint32_t)value;
			memcpy(at, &u32, sizeof(u32));
			break;
		}
	}
	return record;
}

static void
for_each_kind(void (*func)(uint32_t kind, const VmpKindInfo *info))
{
	guint n = 0;

	for (uint32_t kind = 0; kind < 0x10000; kind++) {
		const VmpKindInfo *info = vmp_kind_info(kind);

		if (info != NULL) {
			func(kind, info);
			n++;
		}
	}
	g_assert_cmpuint(n, ==, 13);
}

static void
check_round_trip(uint32_t kind, const VmpKindInfo *info)
{
	VmpRecord record = sample_record(kind);
	VmpRecord decoded;
	uint8_t buffer[VMP_RECORD_MAX];
	uint8_t again[VMP_RECORD_MAX];
	size_t size = vmp_encode(&record, buffer);

	g_test_message("%s", info->name);
	g_assert_cmpuint(size, ==, vmp_kind_wire_size(info));
	g_assert_cmpuint(size, <=, VMP_RECORD_MAX);
	g_assert_cmpint(vmp_decode(buffer, size, info->n_fds, info->sender, &decoded, NULL),
			==,
			VMP_DECODE_OK);
	g_assert_cmpuint(vmp_encode(&decoded, again), ==, size);
	g_assert_cmpmem(buffer, size, again, size);
	g_assert_cmpuint(decoded.kind, ==, kind);
	g_assert_cmpuint(decoded.id, ==, record.id);
	/* Who may send it is part of the record. */
	g_assert_cmpint(
		vmp_decode(buffer, size, info->n_fds, other_sender(info->sender), &decoded, NULL),
		==,
		VMP_DECODE_WRONG_SENDER);
	g_assert_cmpuint(decoded.kind, ==, 0);
}

static void
test_round_trip(void)
{
	for_each_kind(check_round_trip);
}

/* The layout on the wire does not depend on the host: little-endian, packed. */
static void
test_wire_layout(void)
{
	VmpRecord record = {.kind = VMP_KIND_SET_BALLOON_TARGET, .id = 0x01020304};
	static const uint8_t expected[] = {
		2,
		0,
		16,
		0,
		4,
		3,
		2,
		1,
		0x00,
		0x10,
		0x20,
		0x30,
		0x40,
		0x30,
		0x00,
		0x00,
	};
	uint8_t buffer[VMP_RECORD_MAX];

	record.set_balloon_target.bytes = UINT64_C(0x304030201000);
	g_assert_cmpuint(vmp_encode(&record, buffer), ==, sizeof(expected));
	g_assert_cmpmem(buffer, sizeof(expected), expected, sizeof(expected));
}

static void
check_bad_sizes(uint32_t kind, const VmpKindInfo *info)
{
	VmpRecord record = sample_record(kind);
	VmpRecord decoded;
	uint8_t buffer[VMP_RECORD_MAX + 8] = {0};
	size_t size = vmp_encode(&record, buffer);

	for (size_t cut = 0; cut < size; cut++) {
		VmpDecodeResult result =
			vmp_decode(buffer, cut, info->n_fds, info->sender, &decoded, NULL);

		g_assert_cmpint(result,
				==,
				cut < VMP_HEADER_SIZE ? VMP_DECODE_TRUNCATED : VMP_DECODE_BAD_SIZE);
	}
	/* One byte more, with the header saying so or not. */
	g_assert_cmpint(vmp_decode(buffer, size + 1, info->n_fds, info->sender, &decoded, NULL),
			==,
			VMP_DECODE_BAD_SIZE);
	buffer[2] = (uint8_t)(size + 1);
	g_assert_cmpint(vmp_decode(buffer, size + 1, info->n_fds, info->sender, &decoded, NULL),
			==,
			VMP_DECODE_BAD_SIZE);
	g_assert_cmpint(
		vmp_decode(buffer, VMP_RECORD_MAX + 1, info->n_fds, info->sender, &decoded, NULL),
		==,
		VMP_DECODE_OVERSIZED);
}

static void
test_bad_sizes(void)
{
	for_each_kind(check_bad_sizes);
}

static void
check_fd_count_and_id(uint32_t kind, const VmpKindInfo *info)
{
	VmpRecord record = sample_record(kind);
	VmpRecord decoded;
	uint8_t buffer[VMP_RECORD_MAX];
	size_t size = vmp_encode(&record, buffer);

	g_assert_cmpint(vmp_decode(buffer, size, info->n_fds + 1, info->sender, &decoded, NULL),
			==,
			VMP_DECODE_FD_COUNT);
	g_assert_cmpint(vmp_decode(buffer, size, VMP_FDS_MAX + 1, info->sender, &decoded, NULL),
			==,
			VMP_DECODE_FD_COUNT);
	/* Requests and replies carry an id; nothing else does. */
	memset(buffer + 4, 0, 4);
	buffer[4] = info->has_id ? 0 : 1;
	g_assert_cmpint(vmp_decode(buffer, size, info->n_fds, info->sender, &decoded, NULL),
			==,
			VMP_DECODE_BAD_ID);
}

static void
test_fd_count_and_id(void)
{
	for_each_kind(check_fd_count_and_id);
}

static void
test_unknown_kinds(void)
{
	VmpRecord decoded;

	for (uint32_t kind = 0; kind < 0x10000; kind++) {
		uint8_t buffer[VMP_HEADER_SIZE] = {kind & 0xff, kind >> 8, VMP_HEADER_SIZE, 0, 1};

		if (vmp_kind_info(kind) != NULL)
			continue;
		g_assert_cmpint(
			vmp_decode(buffer, sizeof(buffer), 0, VMP_FROM_WORKER, &decoded, NULL),
			==,
			VMP_DECODE_UNKNOWN_KIND);
		g_assert_null(vmp_kind_name(kind));
	}
}

/* Encodes @record, then sets the field named @name on the wire to @value. */
static size_t
encode_with(VmpRecord *record, const char *name, uint64_t value, uint8_t *buffer)
{
	const VmpKindInfo *info = vmp_kind_info(record->kind);
	size_t size = vmp_encode(record, buffer);
	size_t at = VMP_HEADER_SIZE;

	g_assert_cmpuint(size, >, 0);
	for (unsigned i = 0; i < info->n_fields; i++) {
		size_t field_size = vmp_field_wire_size(info->fields[i].type);

		if (g_str_equal(info->fields[i].name, name)) {
			for (size_t b = 0; b < field_size; b++)
				buffer[at + b] = (uint8_t)(value >> (8 * b));
			return size;
		}
		at += field_size;
	}
	g_error("no field %s", name);
}

static void
expect_out_of_range(uint32_t kind, const char *name, uint64_t value)
{
	VmpRecord record = sample_record(kind);
	VmpRecord decoded;
	uint8_t buffer[VMP_RECORD_MAX];
	const char *field = NULL;
	const VmpKindInfo *info = vmp_kind_info(kind);
	size_t size = encode_with(&record, name, value, buffer);

	g_test_message("%s.%s = %" G_GUINT64_FORMAT, info->name, name, value);
	g_assert_cmpint(vmp_decode(buffer, size, info->n_fds, info->sender, &decoded, &field),
			==,
			VMP_DECODE_OUT_OF_RANGE);
	g_assert_cmpstr(field, ==, name);
}

static void
test_out_of_range(void)
{
	expect_out_of_range(VMP_KIND_HELLO, "magic", 0x12345678);
	expect_out_of_range(VMP_KIND_HELLO, "version", 0);
	expect_out_of_range(VMP_KIND_SET_BALLOON_TARGET, "bytes", 4097);
	expect_out_of_range(VMP_KIND_SET_BALLOON_TARGET, "bytes", VMP_MEMORY_MAX + VMP_PAGE_SIZE);
	expect_out_of_range(VMP_KIND_SET_STATS_INTERVAL, "milliseconds", UINT32_MAX);
	expect_out_of_range(VMP_KIND_READY, "n_vcpus", 0);
	expect_out_of_range(VMP_KIND_READY, "n_vcpus", VMP_VCPUS_MAX + 1);
	expect_out_of_range(VMP_KIND_READY, "memory_size", 123);
	expect_out_of_range(VMP_KIND_REPLY, "status", 3);
	expect_out_of_range(VMP_KIND_STATE, "state", 0);
	expect_out_of_range(VMP_KIND_STATE, "state", 4);
	expect_out_of_range(VMP_KIND_BALLOON, "actual", UINT64_MAX);
	expect_out_of_range(VMP_KIND_BALLOON, "guest_actual", VMP_GUEST_CLAIM_MAX + VMP_PAGE_SIZE);
	expect_out_of_range(VMP_KIND_GUEST_STATS, "known", 1u << VMP_STAT_COUNT);
	expect_out_of_range(VMP_KIND_GUEST_STATS, "updated_us", UINT64_MAX);
	expect_out_of_range(VMP_KIND_STOPPED, "flags", 4);
}

static void
expect_reason(const char *raw, size_t length, gboolean valid)
{
	VmpRecord record = sample_record(VMP_KIND_STOPPED);
	VmpRecord decoded;
	uint8_t buffer[VMP_RECORD_MAX];
	size_t size = vmp_encode(&record, buffer);
	uint8_t *reason = buffer + size - VMP_REASON_SIZE;

	memset(reason, 0, VMP_REASON_SIZE);
	memcpy(reason, raw, length);
	g_assert_cmpint(vmp_decode(buffer, size, 0, VMP_FROM_WORKER, &decoded, NULL),
			==,
			valid ? VMP_DECODE_OK : VMP_DECODE_OUT_OF_RANGE);
	if (valid)
		g_assert_cmpstr(decoded.stopped.reason, ==, raw);
}

/* Reasons are printable UTF-8, NUL-terminated and NUL-padded: safe to log and to publish. */
static void
test_reason_text(void)
{
	char full[VMP_REASON_SIZE];
	char too_long[VMP_REASON_SIZE];
	VmpRecord record = {.kind = VMP_KIND_STOPPED};
	uint8_t buffer[VMP_RECORD_MAX];
	VmpRecord decoded;
	size_t size;

	expect_reason("", 0, TRUE);
	expect_reason("the guest exited", 16, TRUE);
	expect_reason("caf\xc3\xa9", 5, TRUE);
	expect_reason("line\nbreak", 10, FALSE);
	expect_reason("escape\x1b[31m", 11, FALSE);
	expect_reason("del\x7f", 4, FALSE);
	expect_reason("c1 \xc2\x9b", 5, FALSE);
	expect_reason("bad \xc3", 5, FALSE);
	expect_reason("overlong \xc0\xaf", 11, FALSE);
	expect_reason("surrogate \xed\xa0\x80", 13, FALSE);
	expect_reason("nul then \0junk", 14, FALSE);
	memset(full, 'x', sizeof(full));
	expect_reason(full, sizeof(full), FALSE); /* no NUL */
	full[sizeof(full) - 1] = '\0';
	expect_reason(full, sizeof(full) - 1, TRUE);

	/* The encoder cuts a long or invalid reason at a character boundary. */
	memset(too_long, 'a', VMP_REASON_SIZE - 2);
	memcpy(too_long + VMP_REASON_SIZE - 2, "\xc3\xa9", 2);
	memcpy(record.stopped.reason, too_long, sizeof(too_long));
	size = vmp_encode(&record, buffer);
	g_assert_cmpint(
		vmp_decode(buffer, size, 0, VMP_FROM_WORKER, &decoded, NULL), ==, VMP_DECODE_OK);
	g_assert_cmpuint(strlen(decoded.stopped.reason), ==, VMP_REASON_SIZE - 2);
	g_strlcpy(record.stopped.reason, "ok\x01hidden", VMP_REASON_SIZE);
	size = vmp_encode(&record, buffer);
	g_assert_cmpint(
		vmp_decode(buffer, size, 0, VMP_FROM_WORKER, &decoded, NULL), ==, VMP_DECODE_OK);
	g_assert_cmpstr(decoded.stopped.reason, ==, "ok");
}

/* Descriptors travel with their record; more than VMP_FDS_MAX are closed, not kept. */
static void
test_send_recv_fds(void)
{
	VmpRecord pause = {.kind = VMP_KIND_PAUSE, .id = 9};
	uint8_t buffer[VMP_RECORD_MAX];
	int received[VMP_FDS_MAX];
	int many[VMP_FDS_MAX + 2];
	unsigned n_fds = 0;
	int pair[2];
	long size;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), ==, 0);
	for (unsigned i = 0; i < G_N_ELEMENTS(many); i++)
		many[i] = dup(STDERR_FILENO);
	g_assert_cmpint(vmp_send(pair[0], &pause, many, 2), ==, 0);
	size = vmp_recv(pair[1], buffer, received, &n_fds);
	g_assert_cmpint(size, ==, VMP_HEADER_SIZE);
	g_assert_cmpuint(n_fds, ==, 2);
	g_assert_cmpint(fcntl(received[0], F_GETFD) & FD_CLOEXEC, !=, 0);
	vmp_close_fds(received, n_fds);
	/* vmp_send refuses more than the protocol allows; a raw sender is cut short. */
	g_assert_cmpint(vmp_send(pair[0], &pause, many, VMP_FDS_MAX + 1), ==, EINVAL);
	{
		union {
			struct cmsghdr header;
			char space[CMSG_SPACE(sizeof(many))];
		} control = {0};
		struct iovec iov = {buffer, VMP_HEADER_SIZE};
		struct msghdr message = {.msg_iov = &iov,
					 .msg_iovlen = 1,
					 .msg_control = control.space,
					 .msg_controllen = sizeof(control.space)};

		control.header.cmsg_level = SOL_SOCKET;
		control.header.cmsg_type = SCM_RIGHTS;
		control.header.cmsg_len = CMSG_LEN(sizeof(many));
		memcpy(CMSG_DATA(&control.header), many, sizeof(many));
		g_assert_cmpint(sendmsg(pair[0], &message, 0), ==, VMP_HEADER_SIZE);
	}
	size = vmp_recv(pair[1], buffer, received, &n_fds);
	g_assert_cmpint(size, ==, VMP_HEADER_SIZE);
	g_assert_cmpuint(n_fds, ==, VMP_FDS_MAX + 1);
	/* An oversized datagram is reported as such, not cut to look valid. */
	{
		uint8_t big[VMP_RECORD_MAX * 2] = {0};

		g_assert_cmpint(send(pair[0], big, sizeof(big), 0), ==, sizeof(big));
		g_assert_cmpint(
			vmp_recv(pair[1], buffer, received, &n_fds), ==, VMP_RECORD_MAX + 1);
	}
	g_assert_cmpint(vmp_recv(pair[1], buffer, received, &n_fds), ==, -EAGAIN);
	close(pair[0]);
	g_assert_cmpint(vmp_recv(pair[1], buffer, received, &n_fds), ==, 0);
	close(pair[1]);
	for (unsigned i = 0; i < G_N_ELEMENTS(many); i++)
		close(many[i]);
}

/* Random bytes never decode to something the encoder would not write. */
static void
test_random_bytes(void)
{
	GRand *rand = g_rand_new_with_seed(20261204);

	for (guint round = 0; round < 200000; round++) {
		uint8_t buffer[VMP_RECORD_MAX + 1];
		uint8_t again[VMP_RECORD_MAX];
		size_t size = (size_t)g_rand_int_range(rand, 0, sizeof(buffer) + 1);
		VmpRecord decoded;
		uint32_t kinds[] = {1, 2, 3, 4, 5, 6, 7, 64, 65, 66, 67, 68, 69};

		for (size_t i = 0; i < size; i++)
			buffer[i] = (uint8_t)g_rand_int(rand);
		/* Mostly well-formed headers, so that the fields are what gets checked. */
		if (size >= VMP_HEADER_SIZE && (round % 4) != 0) {
			uint32_t kind = kinds[g_rand_int_range(rand, 0, G_N_ELEMENTS(kinds))];

			buffer[0] = (uint8_t)kind;
			buffer[1] = 0;
			size = vmp_kind_wire_size(vmp_kind_info(kind));
			buffer[2] = (uint8_t)size;
			buffer[3] = 0;
		}
		for (int sender = VMP_FROM_DAEMON; sender <= VMP_FROM_WORKER; sender++) {
			if (vmp_decode(buffer, size, 0, (VmpSender)sender, &decoded, NULL) !=
			    VMP_DECODE_OK)
				continue;
			g_assert_cmpuint(vmp_encode(&decoded, again), ==, size);
			g_assert_cmpmem(buffer, size, again, size);
		}
	}
	g_rand_free(rand);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/protocol/round-trip", test_round_trip);
	g_test_add_func("/protocol/wire-layout", test_wire_layout);
	g_test_add_func("/protocol/bad-sizes", test_bad_sizes);
	g_test_add_func("/protocol/fd-count-and-id", test_fd_count_and_id);
	g_test_add_func("/protocol/unknown-kinds", test_unknown_kinds);
	g_test_add_func("/protocol/out-of-range", test_out_of_range);
	g_test_add_func("/protocol/reason-text", test_reason_text);
	g_test_add_func("/protocol/send-recv-fds", test_send_recv_fds);
	g_test_add_func("/protocol/random-bytes", test_random_bytes);
	return g_test_run();
}
