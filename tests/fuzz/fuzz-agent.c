/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * The Guest Additions agent protocol (service/vmm/fusion/), which reads
 * what a guest's agent writes on its console port.
 *
 * Input: byte 0 picks the sender (bit 0: 0 guest, 1 host) and the end of
 * guest RAM ((byte 0 >> 1) % 5, from ram_limits); byte 1 the size of the
 * pieces the stream arrives in (1 + byte 1); the rest is the stream.
 *
 * Checked on every input:
 * - vmm_agent_decode() never reads outside the stream (AddressSanitizer) and
 *   names every result;
 * - a record it accepts has a known kind of its sender, names that are UTF-8
 *   without control characters (checked with GLib, not the codec's code),
 *   bounded counts and ranges that are page-aligned, not empty, and inside
 *   RAM, and vmm_agent_encode() gives back exactly the bytes it took;
 * - the reassembler, fed the stream in pieces, yields the same records as
 *   decoding it record after record, and breaks with the same reason, or
 *   holds exactly the incomplete tail.
 *
 * Seeds: corpus/agent/, written by make-agent-corpus.py.
 */

#include "config.h"

#include <glib.h>
#include <string.h>

#include "fuzz.h"
#include "vmm-agent-protocol.h"

static const uint64_t ram_limits[] = {
	0,
	4096,
	UINT64_C(1) << 30,
	UINT64_C(0x140000000),
	UINT64_MAX,
};

static VmmAgentRecord decoded;
static uint8_t wire[VMM_AGENT_MAX_RECORD];

static void
check_name(const char *name)
{
	size_t length = strlen(name);

	FUZZ_CHECK(length >= 1 && length <= VMM_AGENT_NAME_MAX);
	FUZZ_CHECK(g_utf8_validate(name, length, NULL));
	for (const char *p = name; *p != '\0'; p = g_utf8_next_char(p))
		FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
}

static void
check_accepted(const VmmAgentRecord *record, VmmAgentSender sender, uint64_t ram_limit)
{
	FUZZ_CHECK(vmm_agent_kind_name(record->kind) != NULL);
	FUZZ_CHECK((record->kind & 0x80 ? VMM_AGENT_FROM_HOST : VMM_AGENT_FROM_GUEST) == sender);
	if (record->kind == VMM_AGENT_HELLO || record->kind == VMM_AGENT_HOST_HELLO)
		check_name(record->hello.name);
	if (record->kind == VMM_AGENT_REGISTER_REGION) {
		check_name(record->region.name);
		FUZZ_CHECK(record->region.build_id_length <= VMM_AGENT_BUILD_ID_MAX);
	}
	FUZZ_CHECK(record->n_ranges <= VMM_AGENT_MAX_RANGES);
	for (uint32_t i = 0; i < record->n_ranges; i++) {
		const VmmAgentRange *range = &record->ranges[i];
		FUZZ_CHECK(range->start % VMM_AGENT_PAGE_SIZE == 0 && range->n_pages > 0);
		FUZZ_CHECK(range->start < ram_limit);
		FUZZ_CHECK(range->n_pages <= (ram_limit - range->start) / VMM_AGENT_PAGE_SIZE);
	}
}

typedef struct {
	const uint8_t *stream;
	size_t at; /* where the next record the reassembler gives must start */
	unsigned n_records;
} Expected;

/* Each record the reassembler yields is the next one decoded from the whole stream. */
static void
on_record(void *user_data, const VmmAgentRecord *record)
{
	Expected *expected = user_data;
	size_t length = vmm_agent_encode(record, wire, sizeof(wire));

	FUZZ_CHECK(length > 0);
	FUZZ_CHECK(memcmp(wire, expected->stream + expected->at, length) == 0);
	expected->at += length;
	expected->n_records++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	VmmAgentSender sender;
	uint64_t ram_limit;
	size_t piece, at = 0, consumed;
	VmmAgentDecodeResult result;
	VmmAgentStream *stream;
	Expected expected = {0};

	if (size < 2)
		return 0;
	sender = data[0] & 1 ? VMM_AGENT_FROM_HOST : VMM_AGENT_FROM_GUEST;
	ram_limit = ram_limits[(data[0] >> 1) % G_N_ELEMENTS(ram_limits)];
	piece = 1 + data[1];
	data += 2, size -= 2;
	expected.stream = data;

	/* Record after record, straight from the input. */
	while ((result = vmm_agent_decode(
			data + at, size - at, sender, ram_limit, &decoded, &consumed)) ==
	       VMM_AGENT_DECODE_OK) {
		FUZZ_CHECK(consumed >= VMM_AGENT_HEADER_SIZE && consumed <= size - at);
		check_accepted(&decoded, sender, ram_limit);
		FUZZ_CHECK(vmm_agent_encode(&decoded, wire, sizeof(wire)) == consumed);
		FUZZ_CHECK(memcmp(wire, data + at, consumed) == 0);
		at += consumed;
	}
	FUZZ_CHECK(vmm_agent_decode_result_name(result) != NULL);
	FUZZ_CHECK(consumed == 0);

	/* The same stream in pieces. */
	stream = vmm_agent_stream_new(sender, ram_limit);
	for (size_t offset = 0; offset < size; offset += piece) {
		size_t n = size - offset < piece ? size - offset : piece;
		if (vmm_agent_stream_feed(stream, data + offset, n, on_record, &expected) !=
		    VMM_AGENT_DECODE_OK)
			break;
	}
	FUZZ_CHECK(expected.at == at);
	if (result == VMM_AGENT_DECODE_TRUNCATED) {
		FUZZ_CHECK(vmm_agent_stream_feed(stream, NULL, 0, on_record, &expected) ==
			   VMM_AGENT_DECODE_OK);
		FUZZ_CHECK(vmm_agent_stream_pending(stream) == size - at);
	} else {
		FUZZ_CHECK(vmm_agent_stream_feed(stream, NULL, 0, on_record, &expected) == result);
	}
	vmm_agent_stream_free(stream);
	return 0;
}
