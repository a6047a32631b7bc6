/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vmm-agent-protocol.h"

/* Holds at most one record: bytes of the next one wait in the caller's input. */
struct _VmmAgentStream {
	VmmAgentSender sender;
	uint64_t ram_limit;
	VmmAgentDecodeResult broken;
	size_t length;
	uint8_t buffer[VMM_AGENT_MAX_RECORD];
	VmmAgentRecord record;
};

VmmAgentStream *
vmm_agent_stream_new(VmmAgentSender sender, uint64_t ram_limit)
{
	VmmAgentStream *self = calloc(1, sizeof(*self));

	if (self == NULL)
		abort();
	self->sender = sender;
	self->ram_limit = ram_limit;
	return self;
}

void
vmm_agent_stream_free(VmmAgentStream *self)
{
	free(self);
}

void
vmm_agent_stream_reset(VmmAgentStream *self)
{
	self->broken = VMM_AGENT_DECODE_OK;
	self->length = 0;
}

size_t
vmm_agent_stream_pending(VmmAgentStream *self)
{
	return self->length;
}

/*
 * Takes as many bytes as the record in the buffer still needs (a header
 * first, then the length it gives), so that the buffer never holds more
 * than one record.
 */
static size_t
take(VmmAgentStream *self, const uint8_t *data, size_t length)
{
	size_t want = VMM_AGENT_HEADER_SIZE;
	size_t n;

	/* Only once vmm_agent_decode() found the header good and the record truncated. */
	if (self->length >= VMM_AGENT_HEADER_SIZE)
		want = (size_t)self->buffer[4] | (size_t)self->buffer[5] << 8 |
		       (size_t)self->buffer[6] << 16 | (size_t)self->buffer[7] << 24;
	n = want - self->length < length ? want - self->length : length;
	memcpy(self->buffer + self->length, data, n);
	self->length += n;
	return n;
}

VmmAgentDecodeResult
vmm_agent_stream_feed(VmmAgentStream *self,
		      const uint8_t *data,
		      size_t length,
		      VmmAgentRecordFunc func,
		      void *user_data)
{
	size_t at = 0;

	while (self->broken == VMM_AGENT_DECODE_OK && at < length) {
		size_t consumed;
		VmmAgentDecodeResult result;

		at += take(self, data + at, length - at);
		result = vmm_agent_decode(self->buffer,
					  self->length,
					  self->sender,
					  self->ram_limit,
					  &self->record,
					  &consumed);
		if (result == VMM_AGENT_DECODE_TRUNCATED)
			continue;
		if (result != VMM_AGENT_DECODE_OK) {
			self->broken = result;
			break;
		}
		self->length = 0;
		func(user_data, &self->record);
	}
	return self->broken;
}
