/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vmm-agent-protocol.h"

/* A bounded little-endian reader over one record; reading past it fails. */
typedef struct {
	const uint8_t *data;
	size_t size;
	size_t at;
} Reader;

static bool
read_bytes(Reader *r, void *out, size_t n)
{
	if (n > r->size - r->at)
		return false;
	memcpy(out, r->data + r->at, n);
	r->at += n;
	return true;
}

static bool
read_u16(Reader *r, uint16_t *value)
{
	uint8_t b[2];

	if (!read_bytes(r, b, 2))
		return false;
	*value = (uint16_t)(b[0] | b[1] << 8);
	return true;
}

static bool
read_u32(Reader *r, uint32_t *value)
{
	uint16_t low, high;

	if (!read_u16(r, &low) || !read_u16(r, &high))
		return false;
	*value = (uint32_t)low | (uint32_t)high << 16;
	return true;
}

static bool
read_u64(Reader *r, uint64_t *value)
{
	uint32_t low, high;

	if (!read_u32(r, &low) || !read_u32(r, &high))
		return false;
	*value = (uint64_t)low | (uint64_t)high << 32;
	return true;
}

/* Writer: the encoder checks the room it needs before writing. */

static uint8_t *
put_u16(uint8_t *p, uint16_t value)
{
	p[0] = value;
	p[1] = value >> 8;
	return p + 2;
}

static uint8_t *
put_u32(uint8_t *p, uint32_t value)
{
	return put_u16(put_u16(p, value), value >> 16);
}

static uint8_t *
put_u64(uint8_t *p, uint64_t value)
{
	return put_u32(put_u32(p, value), value >> 32);
}

static uint8_t *
put_bytes(uint8_t *p, const void *data, size_t n)
{
	memcpy(p, data, n);
	return p + n;
}

/* Names: 1 to VMM_AGENT_NAME_MAX bytes of UTF-8 (RFC 3629), no control characters. */

static size_t
utf8_sequence(const uint8_t *s, size_t n)
{
	uint32_t c;
	size_t length;

	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7F;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		length = 2, c = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		length = 3, c = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		length = 4, c = s[0] & 0x07;
	else
		return 0;
	if (length > n)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF; C1 controls. */
	if ((length == 3 && c < 0x800) || (length == 4 && c < 0x10000) ||
	    (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF || (c >= 0x80 && c < 0xA0))
		return 0;
	return length;
}

static bool
valid_name(const uint8_t *name, size_t length)
{
	if (length == 0 || length > VMM_AGENT_NAME_MAX)
		return false;
	for (size_t at = 0, n; at < length; at += n)
		if ((n = utf8_sequence(name + at, length - at)) == 0)
			return false;
	return true;
}

static VmmAgentDecodeResult
read_name(Reader *r, size_t length, char name[VMM_AGENT_NAME_MAX + 1])
{
	if (length == 0 || length > VMM_AGENT_NAME_MAX)
		return VMM_AGENT_DECODE_BAD_NAME;
	if (!read_bytes(r, name, length))
		return VMM_AGENT_DECODE_BAD_LENGTH;
	name[length] = '\0';
	return valid_name((const uint8_t *)name, length) ? VMM_AGENT_DECODE_OK
							 : VMM_AGENT_DECODE_BAD_NAME;
}

/* Ranges: page-aligned, at least one page, not wrapping, below @ram_limit. */

static bool
valid_range(const VmmAgentRange *range, uint64_t ram_limit)
{
	uint64_t max_pages = ram_limit / VMM_AGENT_PAGE_SIZE;

	return range->start % VMM_AGENT_PAGE_SIZE == 0 && range->n_pages != 0 &&
	       range->n_pages <= max_pages && range->start <= ram_limit &&
	       range->n_pages * VMM_AGENT_PAGE_SIZE <= ram_limit - range->start;
}

static VmmAgentDecodeResult
read_ranges(Reader *r, uint32_t n_ranges, uint64_t ram_limit, VmmAgentRecord *record)
{
	if (n_ranges > VMM_AGENT_MAX_RANGES)
		return VMM_AGENT_DECODE_TOO_MANY_RANGES;
	if ((uint64_t)n_ranges * VMM_AGENT_RANGE_SIZE != r->size - r->at)
		return VMM_AGENT_DECODE_BAD_LENGTH;
	for (uint32_t i = 0; i < n_ranges; i++) {
		VmmAgentRange *range = &record->ranges[i];
		read_u64(r, &range->start);
		read_u64(r, &range->n_pages);
		if (!valid_range(range, ram_limit))
			return VMM_AGENT_DECODE_BAD_RANGE;
	}
	record->n_ranges = n_ranges;
	return VMM_AGENT_DECODE_OK;
}

/* Bodies, one per kind; each reads exactly its record or refuses it. */

static VmmAgentDecodeResult
decode_hello(Reader *r, VmmAgentRecord *record)
{
	uint16_t name_length, reserved;

	if (!read_u32(r, &record->hello.version) || !read_u16(r, &name_length) ||
	    !read_u16(r, &reserved))
		return VMM_AGENT_DECODE_BAD_LENGTH;
	if (reserved != 0)
		return VMM_AGENT_DECODE_RESERVED;
	if (record->hello.version == 0)
		return VMM_AGENT_DECODE_OUT_OF_RANGE;
	return read_name(r, name_length, record->hello.name);
}

static VmmAgentDecodeResult
decode_region_id(VmmAgentRecord *record, bool all_allowed)
{
	uint32_t id = record->region.id;

	if (id == 0 || (id == VMM_AGENT_ALL_REGIONS && !all_allowed))
		return VMM_AGENT_DECODE_OUT_OF_RANGE;
	return VMM_AGENT_DECODE_OK;
}

static VmmAgentDecodeResult
decode_register(Reader *r, uint64_t ram_limit, VmmAgentRecord *record)
{
	uint16_t name_length, build_id_length;
	uint32_t n_ranges;
	VmmAgentDecodeResult result;

	if (!read_u32(r, &record->region.id) || !read_u16(r, &name_length) ||
	    !read_u16(r, &build_id_length) || !read_u32(r, &n_ranges))
		return VMM_AGENT_DECODE_BAD_LENGTH;
	if ((result = decode_region_id(record, false)) != VMM_AGENT_DECODE_OK ||
	    (result = read_name(r, name_length, record->region.name)) != VMM_AGENT_DECODE_OK)
		return result;
	if (build_id_length > VMM_AGENT_BUILD_ID_MAX)
		return VMM_AGENT_DECODE_OUT_OF_RANGE;
	if (!read_bytes(r, record->region.build_id, build_id_length))
		return VMM_AGENT_DECODE_BAD_LENGTH;
	record->region.build_id_length = build_id_length;
	return read_ranges(r, n_ranges, ram_limit, record);
}

static VmmAgentDecodeResult
decode_ranges(Reader *r, uint64_t ram_limit, bool may_be_empty, VmmAgentRecord *record)
{
	uint32_t n_ranges;
	VmmAgentDecodeResult result;

	if (!read_u32(r, &record->region.id) || !read_u32(r, &n_ranges))
		return VMM_AGENT_DECODE_BAD_LENGTH;
	if ((result = decode_region_id(record, false)) != VMM_AGENT_DECODE_OK)
		return result;
	if (n_ranges == 0 && !may_be_empty)
		return VMM_AGENT_DECODE_OUT_OF_RANGE;
	return read_ranges(r, n_ranges, ram_limit, record);
}

static VmmAgentDecodeResult
decode_status(Reader *r, VmmAgentRecord *record)
{
	uint32_t reserved;

	if (!read_u32(r, &record->status.n_regions) || !read_u32(r, &reserved) ||
	    !read_u64(r, &record->status.hinted_pages))
		return VMM_AGENT_DECODE_BAD_LENGTH;
	return reserved == 0 ? VMM_AGENT_DECODE_OK : VMM_AGENT_DECODE_RESERVED;
}

static VmmAgentDecodeResult
decode_rehint(Reader *r, VmmAgentRecord *record)
{
	uint32_t reserved;

	if (!read_u32(r, &record->region.id) || !read_u32(r, &reserved))
		return VMM_AGENT_DECODE_BAD_LENGTH;
	if (reserved != 0)
		return VMM_AGENT_DECODE_RESERVED;
	return decode_region_id(record, true);
}

static VmmAgentDecodeResult
decode_body(Reader *r, uint64_t ram_limit, VmmAgentRecord *record)
{
	switch (record->kind) {
	case VMM_AGENT_HELLO:
	case VMM_AGENT_HOST_HELLO:
		return decode_hello(r, record);
	case VMM_AGENT_REGISTER_REGION:
		return decode_register(r, ram_limit, record);
	case VMM_AGENT_HINT:
		return decode_ranges(r, ram_limit, false, record);
	case VMM_AGENT_WITHDRAW:
		return decode_ranges(r, ram_limit, true, record);
	case VMM_AGENT_STATUS:
		return decode_status(r, record);
	case VMM_AGENT_REHINT:
		return decode_rehint(r, record);
	case VMM_AGENT_STATUS_REQUEST:
		return VMM_AGENT_DECODE_OK;
	}
	return VMM_AGENT_DECODE_UNKNOWN_KIND;
}

static bool
known_kind(uint16_t kind, VmmAgentSender *sender)
{
	*sender = kind & 0x80 ? VMM_AGENT_FROM_HOST : VMM_AGENT_FROM_GUEST;
	return (kind >= VMM_AGENT_HELLO && kind <= VMM_AGENT_STATUS) ||
	       (kind >= VMM_AGENT_HOST_HELLO && kind <= VMM_AGENT_STATUS_REQUEST);
}

/* The header alone: each field is refused as soon as it has arrived. */
static VmmAgentDecodeResult
decode_header(const uint8_t *buffer, size_t size, VmmAgentSender sender, uint32_t *length)
{
	const uint8_t magic_bytes[2] = {VMM_AGENT_MAGIC & 0xFF, VMM_AGENT_MAGIC >> 8};
	Reader r = {buffer, size < VMM_AGENT_HEADER_SIZE ? size : VMM_AGENT_HEADER_SIZE, 0};
	uint16_t magic, kind;
	VmmAgentSender kind_sender;

	if (size == 0)
		return VMM_AGENT_DECODE_TRUNCATED;
	if (memcmp(buffer, magic_bytes, size < 2 ? size : 2) != 0)
		return VMM_AGENT_DECODE_BAD_MAGIC;
	if (!read_u16(&r, &magic) || !read_u16(&r, &kind))
		return VMM_AGENT_DECODE_TRUNCATED;
	if (!known_kind(kind, &kind_sender))
		return VMM_AGENT_DECODE_UNKNOWN_KIND;
	if (kind_sender != sender)
		return VMM_AGENT_DECODE_WRONG_SENDER;
	if (!read_u32(&r, length))
		return VMM_AGENT_DECODE_TRUNCATED;
	if (*length > VMM_AGENT_MAX_RECORD)
		return VMM_AGENT_DECODE_OVERSIZED;
	if (*length < VMM_AGENT_HEADER_SIZE)
		return VMM_AGENT_DECODE_BAD_LENGTH;
	return size < *length ? VMM_AGENT_DECODE_TRUNCATED : VMM_AGENT_DECODE_OK;
}

VmmAgentDecodeResult
vmm_agent_decode(const uint8_t *buffer,
		 size_t size,
		 VmmAgentSender sender,
		 uint64_t ram_limit,
		 VmmAgentRecord *record,
		 size_t *consumed)
{
	uint32_t length = 0;
	VmmAgentDecodeResult result = decode_header(buffer, size, sender, &length);
	Reader r = {buffer, length, 2};
	uint16_t kind;

	*consumed = 0;
	if (result != VMM_AGENT_DECODE_OK)
		return result;
	memset(record, 0, offsetof(VmmAgentRecord, ranges));
	read_u16(&r, &kind);
	read_u32(&r, &length);
	read_u32(&r, &record->seq);
	record->kind = kind;
	result = decode_body(&r, ram_limit, record);
	if (result == VMM_AGENT_DECODE_OK && r.at != length)
		result = VMM_AGENT_DECODE_BAD_LENGTH;
	if (result == VMM_AGENT_DECODE_OK)
		*consumed = length;
	return result;
}

/* Encoding: the same rules as decoding, with no RAM limit but address wrap-around. */

static bool
encodable_ranges(const VmmAgentRecord *record, bool may_be_empty)
{
	if (record->n_ranges > VMM_AGENT_MAX_RANGES || (record->n_ranges == 0 && !may_be_empty))
		return false;
	for (uint32_t i = 0; i < record->n_ranges; i++)
		if (!valid_range(&record->ranges[i], UINT64_MAX))
			return false;
	return true;
}

static bool
encodable_name(const char *name)
{
	size_t length = strnlen(name, VMM_AGENT_NAME_MAX + 1);

	return valid_name((const uint8_t *)name, length);
}

static bool
encodable_id(uint32_t id, bool all_allowed)
{
	return id != 0 && (id != VMM_AGENT_ALL_REGIONS || all_allowed);
}

/* The record's length if it may be sent, else 0. */
static size_t
encoded_length(const VmmAgentRecord *r)
{
	size_t ranges = (size_t)r->n_ranges * VMM_AGENT_RANGE_SIZE;

	switch (r->kind) {
	case VMM_AGENT_HELLO:
	case VMM_AGENT_HOST_HELLO:
		return r->hello.version != 0 && encodable_name(r->hello.name)
			       ? VMM_AGENT_HEADER_SIZE + 8 + strlen(r->hello.name)
			       : 0;
	case VMM_AGENT_REGISTER_REGION:
		return encodable_id(r->region.id, false) && encodable_name(r->region.name) &&
				       r->region.build_id_length <= VMM_AGENT_BUILD_ID_MAX &&
				       encodable_ranges(r, true)
			       ? VMM_AGENT_HEADER_SIZE + 12 + strlen(r->region.name) +
					 r->region.build_id_length + ranges
			       : 0;
	case VMM_AGENT_HINT:
	case VMM_AGENT_WITHDRAW:
		return encodable_id(r->region.id, false) &&
				       encodable_ranges(r, r->kind == VMM_AGENT_WITHDRAW)
			       ? VMM_AGENT_HEADER_SIZE + 8 + ranges
			       : 0;
	case VMM_AGENT_STATUS:
		return VMM_AGENT_HEADER_SIZE + 16;
	case VMM_AGENT_REHINT:
		return encodable_id(r->region.id, true) ? VMM_AGENT_HEADER_SIZE + 8 : 0;
	case VMM_AGENT_STATUS_REQUEST:
		return VMM_AGENT_HEADER_SIZE;
	}
	return 0;
}

static uint8_t *
put_ranges(uint8_t *p, const VmmAgentRecord *record)
{
	for (uint32_t i = 0; i < record->n_ranges; i++)
		p = put_u64(put_u64(p, record->ranges[i].start), record->ranges[i].n_pages);
	return p;
}

static void
encode_body(const VmmAgentRecord *r, uint8_t *p)
{
	switch (r->kind) {
	case VMM_AGENT_HELLO:
	case VMM_AGENT_HOST_HELLO:
		p = put_u16(put_u32(p, r->hello.version), strlen(r->hello.name));
		put_bytes(put_u16(p, 0), r->hello.name, strlen(r->hello.name));
		break;
	case VMM_AGENT_REGISTER_REGION:
		p = put_u16(put_u32(p, r->region.id), strlen(r->region.name));
		p = put_u32(put_u16(p, r->region.build_id_length), r->n_ranges);
		p = put_bytes(p, r->region.name, strlen(r->region.name));
		put_ranges(put_bytes(p, r->region.build_id, r->region.build_id_length), r);
		break;
	case VMM_AGENT_HINT:
	case VMM_AGENT_WITHDRAW:
		put_ranges(put_u32(put_u32(p, r->region.id), r->n_ranges), r);
		break;
	case VMM_AGENT_STATUS:
		put_u64(put_u32(put_u32(p, r->status.n_regions), 0), r->status.hinted_pages);
		break;
	case VMM_AGENT_REHINT:
		put_u32(put_u32(p, r->region.id), 0);
		break;
	case VMM_AGENT_STATUS_REQUEST:
		break;
	}
}

size_t
vmm_agent_encode(const VmmAgentRecord *record, uint8_t *buffer, size_t size)
{
	size_t length = encoded_length(record);
	uint8_t *p = buffer;

	if (length == 0 || length > size)
		return 0;
	p = put_u16(put_u16(p, VMM_AGENT_MAGIC), record->kind);
	p = put_u32(put_u32(p, length), record->seq);
	encode_body(record, p);
	return length;
}

/* Names for logs. */

const char *
vmm_agent_decode_result_name(VmmAgentDecodeResult result)
{
	static const char *const names[] = {
		[VMM_AGENT_DECODE_OK] = "ok",
		[VMM_AGENT_DECODE_TRUNCATED] = "truncated",
		[VMM_AGENT_DECODE_BAD_MAGIC] = "bad magic",
		[VMM_AGENT_DECODE_OVERSIZED] = "oversized",
		[VMM_AGENT_DECODE_UNKNOWN_KIND] = "unknown kind",
		[VMM_AGENT_DECODE_WRONG_SENDER] = "wrong sender",
		[VMM_AGENT_DECODE_BAD_LENGTH] = "bad length",
		[VMM_AGENT_DECODE_RESERVED] = "reserved field not zero",
		[VMM_AGENT_DECODE_OUT_OF_RANGE] = "field out of range",
		[VMM_AGENT_DECODE_BAD_NAME] = "bad name",
		[VMM_AGENT_DECODE_TOO_MANY_RANGES] = "too many ranges",
		[VMM_AGENT_DECODE_BAD_RANGE] = "bad page range",
	};

	return (unsigned)result < sizeof(names) / sizeof(names[0]) ? names[result] : NULL;
}

const char *
vmm_agent_kind_name(VmmAgentKind kind)
{
	switch (kind) {
	case VMM_AGENT_HELLO:
		return "HELLO";
	case VMM_AGENT_REGISTER_REGION:
		return "REGISTER_REGION";
	case VMM_AGENT_HINT:
		return "HINT";
	case VMM_AGENT_WITHDRAW:
		return "WITHDRAW";
	case VMM_AGENT_STATUS:
		return "STATUS";
	case VMM_AGENT_HOST_HELLO:
		return "HOST_HELLO";
	case VMM_AGENT_REHINT:
		return "REHINT";
	case VMM_AGENT_STATUS_REQUEST:
		return "STATUS_REQUEST";
	}
	return NULL;
}
