/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * The codec of the worker protocol (service/protocol/vmp-protocol.c), the
 * first code to see a record from the other side: the daemon decodes what a
 * possibly compromised worker sends, the worker what the daemon sends.
 *
 * Input: byte 0 picks the receiving side (bit 0: 0 the worker decodes what
 * the daemon sent, 1 the daemon decodes what a worker sent) and the number
 * of descriptors that came with the record ((byte 0 >> 1) % 6, 0 to 5); the
 * rest is the datagram.
 *
 * Checked on every input:
 * - vmp_decode() never reads outside the datagram (AddressSanitizer), and
 *   keeps its contract: a refused record comes back all zeros, with @field
 *   set exactly when a field was out of range;
 * - a record it accepts is one the sender may send, with as many
 *   descriptors as its kind carries, names that exist for its state and
 *   statistics, and a reason that is NUL-terminated UTF-8 without control
 *   characters (checked with GLib, not with the codec's own code);
 * - round trip: vmp_encode() of an accepted record gives back exactly the
 *   datagram;
 * - the other way round, the same bytes taken as a VmpRecord in memory (the
 *   kind chosen among the known ones by byte 1): if vmp_encode() takes it,
 *   vmp_decode() takes its wire form back, with the same values and a reason
 *   that is a prefix of the one given.
 *
 * Seeds: corpus/protocol/, written by make-protocol-corpus.py.
 */

#include "config.h"

#include <glib.h>
#include <string.h>

#include "fuzz.h"
#include "vmp-table.h"

#define N_FDS_CHOICES 6

static const VmpKind all_kinds[] = {
	VMP_KIND_HELLO,
	VMP_KIND_SET_BALLOON_TARGET,
	VMP_KIND_SET_STATS_INTERVAL,
	VMP_KIND_PAUSE,
	VMP_KIND_RESUME,
	VMP_KIND_POWER_OFF,
	VMP_KIND_QUERY_STATE,
	VMP_KIND_READY,
	VMP_KIND_REPLY,
	VMP_KIND_STATE,
	VMP_KIND_BALLOON,
	VMP_KIND_GUEST_STATS,
	VMP_KIND_STOPPED,
};

static bool
is_zero(const void *data, size_t size)
{
	const uint8_t *bytes = data;

	for (size_t i = 0; i < size; i++) {
		if (bytes[i] != 0)
			return false;
	}
	return true;
}

/* Reason text as the header promises it: NUL-terminated UTF-8, no control characters. */
static void
check_reason(const char reason[VMP_REASON_SIZE])
{
	const char *end = memchr(reason, '\0', VMP_REASON_SIZE);

	FUZZ_CHECK(end != NULL);
	FUZZ_CHECK(g_utf8_validate(reason, end - reason, NULL));
	for (const char *p = reason; p < end; p = g_utf8_next_char(p))
		FUZZ_CHECK(!g_unichar_iscntrl(g_utf8_get_char(p)));
	/* NUL-padded to the end. */
	FUZZ_CHECK(is_zero(end, reason + VMP_REASON_SIZE - end));
}

static void
check_accepted(const VmpRecord *record, unsigned n_fds, VmpSender sender)
{
	const VmpKindInfo *info = vmp_kind_info(record->kind);

	FUZZ_CHECK(info != NULL);
	FUZZ_CHECK(vmp_kind_name(record->kind) != NULL);
	FUZZ_CHECK(info->sender == sender);
	FUZZ_CHECK(vmp_kind_n_fds(record->kind) == n_fds);
	FUZZ_CHECK(info->has_id == (record->id != 0));
	switch (record->kind) {
	case VMP_KIND_STATE:
		FUZZ_CHECK(vmp_state_name(record->state.state) != NULL);
		break;
	case VMP_KIND_GUEST_STATS:
		for (unsigned i = 0; i < 32; i++) {
			if (record->guest_stats.known & (1u << i))
				FUZZ_CHECK(vmp_stat_name(i) != NULL);
		}
		break;
	case VMP_KIND_STOPPED:
		check_reason(record->stopped.reason);
		break;
	default:
		break;
	}
}

/* The datagram as received: decode, and if taken, encode it back to the same bytes. */
static void
decode_datagram(const uint8_t *datagram, size_t size, unsigned n_fds, VmpSender sender)
{
	VmpRecord record;
	uint8_t wire[VMP_RECORD_MAX];
	const char *field = "not set";
	VmpDecodeResult result = vmp_decode(datagram, size, n_fds, sender, &record, &field);

	FUZZ_CHECK(strcmp(vmp_decode_result_name(result), "unknown result") != 0);
	if (result != VMP_DECODE_OK) {
		FUZZ_CHECK(is_zero(&record, sizeof(record)));
		FUZZ_CHECK((result == VMP_DECODE_OUT_OF_RANGE) == (field != NULL));
		return;
	}
	FUZZ_CHECK(field == NULL);
	check_accepted(&record, n_fds, sender);
	FUZZ_CHECK(vmp_encode(&record, wire) == size);
	FUZZ_CHECK(memcmp(wire, datagram, size) == 0);
}

/* Any record a sender may build: vmp_encode() refuses it, or vmp_decode() takes it back. */
static void
encode_record(const uint8_t *data, size_t size)
{
	const VmpKindInfo *info;
	VmpRecord record = {0};
	VmpRecord decoded;
	uint8_t wire[VMP_RECORD_MAX];
	uint8_t again[VMP_RECORD_MAX];
	size_t wire_size;
	const char *field;

	memcpy(&record, data, MIN(size, sizeof(record)));
	record.kind = all_kinds[data[0] % G_N_ELEMENTS(all_kinds)];
	info = vmp_kind_info(record.kind);
	wire_size = vmp_encode(&record, wire);
	if (wire_size == 0)
		return;
	FUZZ_CHECK(wire_size == vmp_kind_wire_size(info));
	FUZZ_CHECK(vmp_decode(wire, wire_size, info->n_fds, info->sender, &decoded, &field) ==
		   VMP_DECODE_OK);
	FUZZ_CHECK(decoded.kind == record.kind && decoded.id == record.id);
	for (unsigned i = 0; i < info->n_fields; i++) {
		const VmpField *f = &info->fields[i];
		const char *given = (const char *)&record + f->offset;
		const char *taken = (const char *)&decoded + f->offset;

		if (f->type == VMP_FIELD_TEXT) {
			/* Truncated at a character boundary, never changed. */
			check_reason(taken);
			FUZZ_CHECK(strlen(taken) <= strnlen(given, VMP_REASON_SIZE));
			FUZZ_CHECK(memcmp(taken, given, strlen(taken)) == 0);
		} else {
			FUZZ_CHECK(memcmp(taken, given, vmp_field_wire_size(f->type)) == 0);
		}
	}
	FUZZ_CHECK(vmp_encode(&decoded, again) == wire_size);
	FUZZ_CHECK(memcmp(again, wire, wire_size) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	VmpSender sender;
	unsigned n_fds;

	if (size < 1)
		return 0;
	sender = (data[0] & 1) ? VMP_FROM_WORKER : VMP_FROM_DAEMON;
	n_fds = (data[0] >> 1) % N_FDS_CHOICES;
	/* data + 1 ends where the input ends: AddressSanitizer sees any read past the datagram. */
	decode_datagram(data + 1, size - 1, n_fds, sender);
	if (size > 1)
		encode_record(data + 1, size - 1);
	return 0;
}
