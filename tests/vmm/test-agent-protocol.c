/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib.h>
#include <string.h>

#include "vmm-agent-protocol.h"

#define RAM_LIMIT (G_GUINT64_CONSTANT(1) << 30)
#define PAGE VMM_AGENT_PAGE_SIZE

static VmmAgentRecord *
record_new(VmmAgentKind kind)
{
	VmmAgentRecord *record = g_new0(VmmAgentRecord, 1);

	record->kind = kind;
	record->seq = 7;
	return record;
}

static void
add_range(VmmAgentRecord *record, guint64 start, guint64 n_pages)
{
	record->ranges[record->n_ranges++] = (VmmAgentRange){start, n_pages};
}

/* One valid record of every kind. */
static VmmAgentRecord *
sample(VmmAgentKind kind)
{
	VmmAgentRecord *r = record_new(kind);

	switch (kind) {
	case VMM_AGENT_HELLO:
	case VMM_AGENT_HOST_HELLO:
		r->hello.version = VMM_AGENT_VERSION;
		strcpy(r->hello.name,
		       kind == VMM_AGENT_HELLO ? "vboxmem-guestd 1.0 ÿ€" : "vboxmem-vm");
		break;
	case VMM_AGENT_REGISTER_REGION:
		r->region.id = 3;
		strcpy(r->region.name, "kernel text");
		r->region.build_id_length = 20;
		memset(r->region.build_id, 0xB1, 20);
		add_range(r, 0x100000, 16);
		add_range(r, RAM_LIMIT - 4 * PAGE, 4);
		break;
	case VMM_AGENT_HINT:
	case VMM_AGENT_WITHDRAW:
		r->region.id = 3;
		add_range(r, 0x200000, 1);
		break;
	case VMM_AGENT_STATUS:
		r->status.n_regions = 2;
		r->status.hinted_pages = 123456789012;
		break;
	case VMM_AGENT_REHINT:
		r->region.id = VMM_AGENT_ALL_REGIONS;
		break;
	case VMM_AGENT_STATUS_REQUEST:
		break;
	}
	return r;
}

static const VmmAgentKind all_kinds[] = {
	VMM_AGENT_HELLO,
	VMM_AGENT_REGISTER_REGION,
	VMM_AGENT_HINT,
	VMM_AGENT_WITHDRAW,
	VMM_AGENT_STATUS,
	VMM_AGENT_HOST_HELLO,
	VMM_AGENT_REHINT,
	VMM_AGENT_STATUS_REQUEST,
};

static VmmAgentSender
sender_of(VmmAgentKind kind)
{
	return kind & 0x80 ? VMM_AGENT_FROM_HOST : VMM_AGENT_FROM_GUEST;
}

static GBytes *
encode(const VmmAgentRecord *record)
{
	guint8 *buffer = g_malloc(VMM_AGENT_MAX_RECORD);
	gsize length = vmm_agent_encode(record, buffer, VMM_AGENT_MAX_RECORD);

	g_assert_cmpuint(length, >=, VMM_AGENT_HEADER_SIZE);
	return g_bytes_new_take(buffer, length);
}

static VmmAgentDecodeResult
decode(const guint8 *data, gsize size, VmmAgentSender sender)
{
	g_autofree VmmAgentRecord *record = g_new0(VmmAgentRecord, 1);
	gsize consumed = 1;
	VmmAgentDecodeResult result =
		vmm_agent_decode(data, size, sender, RAM_LIMIT, record, &consumed);

	g_assert_cmpuint(consumed, ==, result == VMM_AGENT_DECODE_OK ? size : 0);
	return result;
}

static void
assert_same(const VmmAgentRecord *a, const VmmAgentRecord *b)
{
	g_assert_cmpint(a->kind, ==, b->kind);
	g_assert_cmpuint(a->seq, ==, b->seq);
	g_assert_cmpmem(&a->hello, sizeof(a->hello), &b->hello, sizeof(b->hello));
	g_assert_cmpmem(&a->region, sizeof(a->region), &b->region, sizeof(b->region));
	g_assert_cmpmem(&a->status, sizeof(a->status), &b->status, sizeof(b->status));
	g_assert_cmpmem(a->ranges,
			a->n_ranges * sizeof(VmmAgentRange),
			b->ranges,
			b->n_ranges * sizeof(VmmAgentRange));
}

static void
test_round_trip(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(all_kinds); i++) {
		g_autofree VmmAgentRecord *record = sample(all_kinds[i]);
		g_autofree VmmAgentRecord *back = g_new0(VmmAgentRecord, 1);
		g_autoptr(GBytes) bytes = encode(record);
		gsize size, consumed;
		const guint8 *data = g_bytes_get_data(bytes, &size);

		g_assert_cmpint(
			vmm_agent_decode(
				data, size, sender_of(all_kinds[i]), RAM_LIMIT, back, &consumed),
			==,
			VMM_AGENT_DECODE_OK);
		g_assert_cmpuint(consumed, ==, size);
		assert_same(record, back);
		g_assert_nonnull(vmm_agent_kind_name(all_kinds[i]));
		/* The other side never sends it. */
		g_assert_cmpint(decode(data, size, !sender_of(all_kinds[i])),
				==,
				VMM_AGENT_DECODE_WRONG_SENDER);
	}
}

/* A guest's stream: one record of every kind it sends, and a large REGISTER_REGION. */
static GByteArray *
guest_stream(guint *n_records)
{
	static const VmmAgentKind kinds[] = {VMM_AGENT_HELLO,
					     VMM_AGENT_REGISTER_REGION,
					     VMM_AGENT_HINT,
					     VMM_AGENT_WITHDRAW,
					     VMM_AGENT_STATUS};
	GByteArray *stream = g_byte_array_new();
	g_autofree VmmAgentRecord *big = sample(VMM_AGENT_REGISTER_REGION);
	g_autoptr(GBytes) big_bytes = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
		g_autofree VmmAgentRecord *record = sample(kinds[i]);
		g_autoptr(GBytes) bytes = encode(record);
		g_byte_array_append(stream, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	}
	big->n_ranges = 0;
	for (guint i = 0; i < VMM_AGENT_MAX_RANGES; i++)
		add_range(big, (guint64)i * 2 * PAGE, 1);
	big_bytes = encode(big);
	g_assert_cmpuint(g_bytes_get_size(big_bytes),
			 ==,
			 VMM_AGENT_HEADER_SIZE + 12 + strlen("kernel text") + 20 +
				 VMM_AGENT_MAX_RANGES * VMM_AGENT_RANGE_SIZE);
	g_byte_array_append(stream, g_bytes_get_data(big_bytes, NULL), g_bytes_get_size(big_bytes));
	*n_records = G_N_ELEMENTS(kinds) + 1;
	return stream;
}

typedef struct {
	GArray *kinds;
	guint32 last_n_ranges;
} Collected;

static void
collect(gpointer user_data, const VmmAgentRecord *record)
{
	Collected *collected = user_data;

	g_array_append_val(collected->kinds, record->kind);
	collected->last_n_ranges = record->n_ranges;
}

/* Feeds @stream in pieces of 1 to @max_piece bytes. */
static void
check_reassembly(GByteArray *stream, guint n_records, guint max_piece, GRand *rand)
{
	VmmAgentStream *reassembler = vmm_agent_stream_new(VMM_AGENT_FROM_GUEST, RAM_LIMIT);
	Collected collected = {g_array_new(FALSE, FALSE, sizeof(VmmAgentKind)), 0};

	for (gsize at = 0; at < stream->len;) {
		gsize random_piece = g_rand_int_range(rand, 1, max_piece + 1);
		gsize piece = MIN(stream->len - at, random_piece);
		g_assert_cmpint(vmm_agent_stream_feed(
					reassembler, stream->data + at, piece, collect, &collected),
				==,
				VMM_AGENT_DECODE_OK);
		at += piece;
	}
	g_assert_cmpuint(collected.kinds->len, ==, n_records);
	g_assert_cmpint(g_array_index(collected.kinds, VmmAgentKind, 0), ==, VMM_AGENT_HELLO);
	g_assert_cmpuint(collected.last_n_ranges, ==, VMM_AGENT_MAX_RANGES);
	g_assert_cmpuint(vmm_agent_stream_pending(reassembler), ==, 0);
	g_array_unref(collected.kinds);
	vmm_agent_stream_free(reassembler);
}

static void
test_stream_split(void)
{
	guint n_records;
	g_autoptr(GByteArray) stream = guest_stream(&n_records);
	g_autoptr(GRand) rand = g_rand_new_with_seed(11);

	check_reassembly(stream, n_records, 1, rand);
	for (guint i = 0; i < 20; i++)
		check_reassembly(stream, n_records, 1 + i * 997, rand);
}

static void
test_stream_concatenated(void)
{
	guint n_records;
	g_autoptr(GByteArray) stream = guest_stream(&n_records);
	g_autoptr(GRand) rand = g_rand_new_with_seed(12);

	/* Everything in one piece; then doubled. */
	check_reassembly(stream, n_records, stream->len, rand);
	g_autofree guint8 *copy = g_memdup2(stream->data, stream->len);
	g_byte_array_append(stream, copy, stream->len);
	check_reassembly(stream, 2 * n_records, stream->len, rand);
}

/* A refused record breaks the stream for good, until reset. */
static void
test_stream_broken(void)
{
	VmmAgentStream *reassembler = vmm_agent_stream_new(VMM_AGENT_FROM_GUEST, RAM_LIMIT);
	Collected collected = {g_array_new(FALSE, FALSE, sizeof(VmmAgentKind)), 0};
	g_autofree VmmAgentRecord *hello = sample(VMM_AGENT_HELLO);
	g_autoptr(GBytes) bytes = encode(hello);
	const guint8 garbage[] = {'V', 'G', 0x99, 0};

	g_assert_cmpint(vmm_agent_stream_feed(reassembler, garbage, 3, collect, &collected),
			==,
			VMM_AGENT_DECODE_OK);
	g_assert_cmpint(vmm_agent_stream_feed(reassembler, garbage + 3, 1, collect, &collected),
			==,
			VMM_AGENT_DECODE_UNKNOWN_KIND);
	g_assert_cmpint(vmm_agent_stream_feed(reassembler,
					      g_bytes_get_data(bytes, NULL),
					      g_bytes_get_size(bytes),
					      collect,
					      &collected),
			==,
			VMM_AGENT_DECODE_UNKNOWN_KIND);
	g_assert_cmpuint(collected.kinds->len, ==, 0);
	vmm_agent_stream_reset(reassembler);
	g_assert_cmpint(vmm_agent_stream_feed(reassembler,
					      g_bytes_get_data(bytes, NULL),
					      g_bytes_get_size(bytes),
					      collect,
					      &collected),
			==,
			VMM_AGENT_DECODE_OK);
	g_assert_cmpuint(collected.kinds->len, ==, 1);
	g_array_unref(collected.kinds);
	vmm_agent_stream_free(reassembler);
}

static void
test_truncated(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(all_kinds); i++) {
		g_autofree VmmAgentRecord *record = sample(all_kinds[i]);
		g_autoptr(GBytes) bytes = encode(record);
		gsize size;
		const guint8 *data = g_bytes_get_data(bytes, &size);

		/* Every prefix is a good beginning, never read past (copied to its own block). */
		for (gsize n = 0; n < size; n++) {
			g_autofree guint8 *prefix = g_memdup2(data, MAX(n, 1));
			g_assert_cmpint(decode(prefix, n, sender_of(all_kinds[i])),
					==,
					VMM_AGENT_DECODE_TRUNCATED);
		}
	}
}

static void
put32(guint8 *data, gsize offset, guint32 value)
{
	value = GUINT32_TO_LE(value);
	memcpy(data + offset, &value, 4);
}

static void
test_bad_header(void)
{
	g_autofree VmmAgentRecord *record = sample(VMM_AGENT_STATUS);
	g_autoptr(GBytes) bytes = encode(record);
	gsize size;
	g_autofree guint8 *data = g_bytes_unref_to_data(g_steal_pointer(&bytes), &size);

	data[0] ^= 1;
	g_assert_cmpint(decode(data, 1, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_BAD_MAGIC);
	data[0] ^= 1;
	data[2] = 0x40;
	g_assert_cmpint(decode(data, 4, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_UNKNOWN_KIND);
	data[2] = 0;
	g_assert_cmpint(
		decode(data, size, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_UNKNOWN_KIND);
	data[2] = VMM_AGENT_STATUS;
	/* The length is refused as soon as it arrives. */
	put32(data, 4, VMM_AGENT_MAX_RECORD + 1);
	g_assert_cmpint(decode(data, 8, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_OVERSIZED);
	put32(data, 4, G_MAXUINT32);
	g_assert_cmpint(decode(data, 8, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_OVERSIZED);
	put32(data, 4, VMM_AGENT_HEADER_SIZE - 1);
	g_assert_cmpint(decode(data, size, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_BAD_LENGTH);
	/* Shorter or longer than its fields. */
	put32(data, 4, size - 1);
	g_assert_cmpint(
		decode(data, size - 1, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_BAD_LENGTH);
	data = g_realloc(data, size + 1);
	put32(data, 4, size + 1);
	g_assert_cmpint(
		decode(data, size + 1, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_BAD_LENGTH);
	/* Reserved fields. */
	put32(data, 4, size);
	data[VMM_AGENT_HEADER_SIZE + 4] = 1;
	g_assert_cmpint(decode(data, size, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_RESERVED);
}

static VmmAgentDecodeResult
decode_record(const VmmAgentRecord *record)
{
	g_autoptr(GBytes) bytes = encode(record);
	gsize size;
	const guint8 *data = g_bytes_get_data(bytes, &size);

	return decode(data, size, sender_of(record->kind));
}

/* Ranges the encoder takes (it knows no RAM size) but the decoder refuses for this guest. */
static void
test_ranges_out_of_ram(void)
{
	g_autofree VmmAgentRecord *record = sample(VMM_AGENT_HINT);

	record->ranges[0] = (VmmAgentRange){RAM_LIMIT - PAGE, 2};
	g_assert_cmpint(decode_record(record), ==, VMM_AGENT_DECODE_BAD_RANGE);
	record->ranges[0] = (VmmAgentRange){RAM_LIMIT, 1};
	g_assert_cmpint(decode_record(record), ==, VMM_AGENT_DECODE_BAD_RANGE);
	record->ranges[0] = (VmmAgentRange){0, RAM_LIMIT / PAGE + 1};
	g_assert_cmpint(decode_record(record), ==, VMM_AGENT_DECODE_BAD_RANGE);
	record->ranges[0] = (VmmAgentRange){0, RAM_LIMIT / PAGE};
	g_assert_cmpint(decode_record(record), ==, VMM_AGENT_DECODE_OK);
}

static void
test_ranges_refused(void)
{
	g_autofree VmmAgentRecord *record = sample(VMM_AGENT_HINT);
	guint8 buffer[256];
	const VmmAgentRange bad[] = {
		{0x1001, 1},                               /* unaligned */
		{0x1000, 0},                               /* empty */
		{G_MAXUINT64 - PAGE + 1, 2},               /* wraps */
		{0x1000, G_MAXUINT64 / PAGE},              /* wraps */
		{G_GUINT64_CONSTANT(1) << 63, 1ull << 51}, /* wraps exactly to 0 */
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		record->ranges[0] = bad[i];
		g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
	}
	/* Written by hand, the decoder refuses them too. */
	record->ranges[0] = (VmmAgentRange){0x1000, 1};
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 36);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		guint64 start = GUINT64_TO_LE(bad[i].start), n = GUINT64_TO_LE(bad[i].n_pages);
		memcpy(buffer + 20, &start, 8);
		memcpy(buffer + 28, &n, 8);
		g_assert_cmpint(
			decode(buffer, 36, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_BAD_RANGE);
	}
	/* A HINT needs a range; a WITHDRAW without one is the whole region. */
	record->n_ranges = 0;
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
	record->kind = VMM_AGENT_WITHDRAW;
	g_assert_cmpint(decode_record(record), ==, VMM_AGENT_DECODE_OK);
}

static void
test_too_many_ranges(void)
{
	g_autofree VmmAgentRecord *record = sample(VMM_AGENT_HINT);
	g_autofree guint8 *buffer = g_malloc0(VMM_AGENT_MAX_RECORD);
	gsize length;

	record->n_ranges = 0;
	for (guint i = 0; i < VMM_AGENT_MAX_RANGES; i++)
		add_range(record, (guint64)i * PAGE, 1);
	length = vmm_agent_encode(record, buffer, VMM_AGENT_MAX_RECORD);
	g_assert_cmpuint(length, ==, VMM_AGENT_HEADER_SIZE + 8 + VMM_AGENT_MAX_RANGES * 16);
	g_assert_cmpint(decode(buffer, length, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_OK);
	record->n_ranges++;
	g_assert_cmpuint(vmm_agent_encode(record, buffer, VMM_AGENT_MAX_RECORD), ==, 0);
	/* The count says one more than allowed; the record is within the size limit. */
	put32(buffer, VMM_AGENT_HEADER_SIZE + 4, VMM_AGENT_MAX_RANGES + 1);
	g_assert_cmpint(
		decode(buffer, length, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_TOO_MANY_RANGES);
	put32(buffer, VMM_AGENT_HEADER_SIZE + 4, G_MAXUINT32);
	g_assert_cmpint(
		decode(buffer, length, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_TOO_MANY_RANGES);
	/* A count that does not match the length. */
	put32(buffer, VMM_AGENT_HEADER_SIZE + 4, 3);
	g_assert_cmpint(
		decode(buffer, length, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_BAD_LENGTH);
}

/* HELLO with a name of @length bytes from @name, written by hand. */
static VmmAgentDecodeResult
decode_hello_name(const gchar *name, gsize length)
{
	guint8 buffer[VMM_AGENT_HEADER_SIZE + 8 + 80] = {'V', 'G', VMM_AGENT_HELLO, 0};
	gsize size = VMM_AGENT_HEADER_SIZE + 8 + length;

	put32(buffer, 4, size);
	put32(buffer, VMM_AGENT_HEADER_SIZE, 1);
	buffer[VMM_AGENT_HEADER_SIZE + 4] = length;
	memcpy(buffer + VMM_AGENT_HEADER_SIZE + 8, name, length);
	return decode(buffer, size, VMM_AGENT_FROM_GUEST);
}

static void
test_bad_names(void)
{
	const gchar *const bad[] = {
		"\xC0\xAF",         /* overlong '/' */
		"\xE0\x80\xAF",     /* overlong */
		"\xED\xA0\x80",     /* surrogate */
		"\xF4\x90\x80\x80", /* beyond U+10FFFF */
		"ab\xE2\x82",       /* cut short */
		"\x80",             /* continuation first */
		"a\nb",             /* control */
		"a\x7F",            /* DEL */
		"\xC2\x85",         /* C1 control */
		"a\0b",             /* NUL inside */
		"\xFF",
	};
	gchar long_name[VMM_AGENT_NAME_MAX + 1];
	g_autofree VmmAgentRecord *record = sample(VMM_AGENT_REGISTER_REGION);
	guint8 buffer[512];

	g_assert_cmpint(decode_hello_name("agent", 5), ==, VMM_AGENT_DECODE_OK);
	g_assert_cmpint(decode_hello_name("\xF0\x9F\x90\xA7 ü", 7), ==, VMM_AGENT_DECODE_OK);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_cmpint(decode_hello_name(bad[i], i == 9 ? 3 : strlen(bad[i])),
				==,
				VMM_AGENT_DECODE_BAD_NAME);
	g_assert_cmpint(decode_hello_name("", 0), ==, VMM_AGENT_DECODE_BAD_NAME);
	memset(long_name, 'x', sizeof(long_name));
	g_assert_cmpint(decode_hello_name(long_name, VMM_AGENT_NAME_MAX), ==, VMM_AGENT_DECODE_OK);
	g_assert_cmpint(decode_hello_name(long_name, VMM_AGENT_NAME_MAX + 1),
			==,
			VMM_AGENT_DECODE_BAD_NAME);
	/* The encoder sends none of them either. */
	strcpy(record->region.name, "\xED\xA0\x80");
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
	memset(record->region.name, 'x', sizeof(record->region.name));
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
	record->region.name[0] = '\0';
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
}

static void
test_out_of_range_fields(void)
{
	g_autofree VmmAgentRecord *record = sample(VMM_AGENT_REGISTER_REGION);
	guint8 buffer[512];
	gsize length;

	/* Region 0 and ALL are not region ids; ALL is for REHINT only. */
	record->region.id = 0;
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
	record->region.id = 1;
	record->region.build_id_length = VMM_AGENT_BUILD_ID_MAX + 1;
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
	record->region.build_id_length = 0;
	length = vmm_agent_encode(record, buffer, sizeof(buffer));
	g_assert_cmpint(decode(buffer, length, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_OK);
	put32(buffer, VMM_AGENT_HEADER_SIZE, VMM_AGENT_ALL_REGIONS);
	g_assert_cmpint(
		decode(buffer, length, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_OUT_OF_RANGE);
	/* Build id length past the limit, by hand. */
	put32(buffer, VMM_AGENT_HEADER_SIZE, 1);
	buffer[VMM_AGENT_HEADER_SIZE + 6] = VMM_AGENT_BUILD_ID_MAX + 1;
	g_assert_cmpint(
		decode(buffer, length, VMM_AGENT_FROM_GUEST), ==, VMM_AGENT_DECODE_OUT_OF_RANGE);
	/* Version 0; a buffer too small for the record. */
	g_free(record);
	record = sample(VMM_AGENT_HOST_HELLO);
	g_assert_cmpuint(vmm_agent_encode(record, buffer, 20), ==, 0);
	record->hello.version = 0;
	g_assert_cmpuint(vmm_agent_encode(record, buffer, sizeof(buffer)), ==, 0);
	g_assert_cmpint(decode_hello_name("x", 1), ==, VMM_AGENT_DECODE_OK);
}

/* Random streams, some starting like a record so that the decoder goes deeper. */
static void
test_random_streams(void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(0xA6E7);
	g_autofree VmmAgentRecord *record = g_new0(VmmAgentRecord, 1);
	VmmAgentStream *reassembler = vmm_agent_stream_new(VMM_AGENT_FROM_GUEST, RAM_LIMIT);
	Collected collected = {g_array_new(FALSE, FALSE, sizeof(VmmAgentKind)), 0};

	for (guint i = 0; i < 100000; i++) {
		gsize size = g_rand_int_range(rand, 0, i % 100 == 0 ? 8192 : 96);
		g_autofree guint8 *data = g_malloc(MAX(size, 1));
		gsize consumed;

		for (gsize j = 0; j < size; j++)
			data[j] = g_rand_int(rand);
		if (size >= 8 && g_rand_boolean(rand)) {
			data[0] = 'V', data[1] = 'G', data[2] = g_rand_int_range(rand, 1, 6);
			data[3] = 0;
			put32(data, 4, g_rand_int_range(rand, 0, size + 8));
		}
		vmm_agent_decode(data, size, i % 2, RAM_LIMIT, record, &consumed);
		g_assert_cmpuint(consumed, <=, size);
		vmm_agent_stream_feed(reassembler, data, size, collect, &collected);
		vmm_agent_stream_reset(reassembler);
	}
	g_array_unref(collected.kinds);
	vmm_agent_stream_free(reassembler);
}

static void
test_result_names(void)
{
	for (int r = VMM_AGENT_DECODE_OK; r <= VMM_AGENT_DECODE_BAD_RANGE; r++)
		g_assert_nonnull(vmm_agent_decode_result_name(r));
	g_assert_null(vmm_agent_decode_result_name(VMM_AGENT_DECODE_BAD_RANGE + 1));
	g_assert_null(vmm_agent_kind_name(0));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/agent-protocol/round-trip", test_round_trip);
	g_test_add_func("/agent-protocol/stream-split", test_stream_split);
	g_test_add_func("/agent-protocol/stream-concatenated", test_stream_concatenated);
	g_test_add_func("/agent-protocol/stream-broken", test_stream_broken);
	g_test_add_func("/agent-protocol/truncated", test_truncated);
	g_test_add_func("/agent-protocol/bad-header", test_bad_header);
	g_test_add_func("/agent-protocol/ranges-out-of-ram", test_ranges_out_of_ram);
	g_test_add_func("/agent-protocol/ranges-refused", test_ranges_refused);
	g_test_add_func("/agent-protocol/too-many-ranges", test_too_many_ranges);
	g_test_add_func("/agent-protocol/bad-names", test_bad_names);
	g_test_add_func("/agent-protocol/out-of-range-fields", test_out_of_range_fields);
	g_test_add_func("/agent-protocol/random-streams", test_random_streams);
	g_test_add_func("/agent-protocol/result-names", test_result_names);
	return g_test_run();
}
