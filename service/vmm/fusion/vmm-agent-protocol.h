/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The Guest Additions agent protocol (docs/agent-protocol.md): little-endian
 * records on the byte stream of the console's agent port. Whatever the guest
 * sends is hostile: vmm_agent_decode() checks every length, count, name and
 * range, and never reads past what it is given.
 */

#define VMM_AGENT_MAGIC 0x4756 /* "VG" on the wire */
#define VMM_AGENT_VERSION 1
#define VMM_AGENT_HEADER_SIZE 12
#define VMM_AGENT_NAME_MAX 64
#define VMM_AGENT_BUILD_ID_MAX 64
#define VMM_AGENT_MAX_RANGES 4096
#define VMM_AGENT_RANGE_SIZE 16
#define VMM_AGENT_PAGE_SIZE 4096
/* REGISTER_REGION with every field at its largest. */
#define VMM_AGENT_MAX_RECORD                                                                       \
	(VMM_AGENT_HEADER_SIZE + 12 + VMM_AGENT_NAME_MAX + VMM_AGENT_BUILD_ID_MAX +                \
	 VMM_AGENT_MAX_RANGES * VMM_AGENT_RANGE_SIZE)
/* REHINT of every region. */
#define VMM_AGENT_ALL_REGIONS 0xFFFFFFFFu

typedef enum {
	/* Guest to host. */
	VMM_AGENT_HELLO = 1,
	VMM_AGENT_REGISTER_REGION = 2,
	VMM_AGENT_HINT = 3,
	VMM_AGENT_WITHDRAW = 4,
	VMM_AGENT_STATUS = 5,
	/* Host to guest. */
	VMM_AGENT_HOST_HELLO = 0x81,
	VMM_AGENT_REHINT = 0x82,
	VMM_AGENT_STATUS_REQUEST = 0x83,
} VmmAgentKind;

typedef enum {
	VMM_AGENT_FROM_GUEST,
	VMM_AGENT_FROM_HOST,
} VmmAgentSender;

typedef enum {
	VMM_AGENT_DECODE_OK = 0,
	VMM_AGENT_DECODE_TRUNCATED, /* not a whole record yet */
	VMM_AGENT_DECODE_BAD_MAGIC,
	VMM_AGENT_DECODE_OVERSIZED,
	VMM_AGENT_DECODE_UNKNOWN_KIND,
	VMM_AGENT_DECODE_WRONG_SENDER,
	VMM_AGENT_DECODE_BAD_LENGTH, /* the length does not match what the record holds */
	VMM_AGENT_DECODE_RESERVED,   /* a reserved field is not zero */
	VMM_AGENT_DECODE_OUT_OF_RANGE,
	VMM_AGENT_DECODE_BAD_NAME,
	VMM_AGENT_DECODE_TOO_MANY_RANGES,
	VMM_AGENT_DECODE_BAD_RANGE,
} VmmAgentDecodeResult;

/* Guest-physical [start, start + n_pages * 4 KiB): start page-aligned, n_pages >= 1. */
typedef struct {
	uint64_t start;
	uint64_t n_pages;
} VmmAgentRange;

/*
 * One record. HELLO and HOST_HELLO use hello; REGISTER_REGION region and
 * the ranges; HINT and WITHDRAW region.id and the ranges (WITHDRAW without
 * ranges: the whole region); REHINT region.id; STATUS status. Large
 * (ranges): allocate it, never put it on a thread's stack.
 */
typedef struct {
	VmmAgentKind kind;
	uint32_t seq;
	struct {
		uint32_t version;
		char name[VMM_AGENT_NAME_MAX + 1]; /* NUL-terminated UTF-8 */
	} hello;
	struct {
		uint32_t id;
		char name[VMM_AGENT_NAME_MAX + 1];
		uint16_t build_id_length;
		uint8_t build_id[VMM_AGENT_BUILD_ID_MAX];
	} region;
	struct {
		uint32_t n_regions;
		uint64_t hinted_pages;
	} status;
	uint32_t n_ranges;
	VmmAgentRange ranges[VMM_AGENT_MAX_RANGES];
} VmmAgentRecord;

const char *vmm_agent_decode_result_name(VmmAgentDecodeResult result);
const char *vmm_agent_kind_name(VmmAgentKind kind);

/*
 * Decodes the record at the start of @buffer, sent by @sender, into @record
 * and sets @consumed to its length. Ranges must lie below @ram_limit (the
 * end of guest RAM; holes in it are the caller's to check). TRUNCATED: the
 * first @size bytes are a valid beginning, more are needed. Any other
 * refusal means the stream cannot be trusted any more.
 */
VmmAgentDecodeResult vmm_agent_decode(const uint8_t *buffer,
				      size_t size,
				      VmmAgentSender sender,
				      uint64_t ram_limit,
				      VmmAgentRecord *record,
				      size_t *consumed);

/*
 * Writes @record into @buffer; returns its length, or 0 if it does not fit
 * in @size or is not a record vmm_agent_decode() takes with any RAM size.
 */
size_t vmm_agent_encode(const VmmAgentRecord *record, uint8_t *buffer, size_t size);

/*
 * A reassembler: bytes in, whole records out, with a buffer of one record
 * at most. Once a record is refused the stream stays broken.
 */
typedef struct _VmmAgentStream VmmAgentStream;
typedef void (*VmmAgentRecordFunc)(void *user_data, const VmmAgentRecord *record);

VmmAgentStream *vmm_agent_stream_new(VmmAgentSender sender, uint64_t ram_limit);
void vmm_agent_stream_free(VmmAgentStream *self);
/* Back to an empty, unbroken stream (the guest reopened the port). */
void vmm_agent_stream_reset(VmmAgentStream *self);
/* Calls @func for each whole record in order; OK, or why the stream broke. */
VmmAgentDecodeResult vmm_agent_stream_feed(VmmAgentStream *self,
					   const uint8_t *data,
					   size_t length,
					   VmmAgentRecordFunc func,
					   void *user_data);
/* Bytes held of a record not yet whole. */
size_t vmm_agent_stream_pending(VmmAgentStream *self);
