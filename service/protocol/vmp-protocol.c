/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmp-table.h"

#define N_ELEMENTS(array) (sizeof(array) / sizeof((array)[0]))
#define AT(member) offsetof(VmpRecord, member)

#define U32(name, member, lo, hi)                                                                  \
	{                                                                                          \
		name, VMP_FIELD_U32, AT(member), lo, hi, 0, 0, 0                                   \
	}
#define I32(name, member, lo, hi)                                                                  \
	{                                                                                          \
		name, VMP_FIELD_I32, AT(member), 0, 0, lo, hi, 0                                   \
	}
#define I64(name, member, lo, hi)                                                                  \
	{                                                                                          \
		name, VMP_FIELD_I64, AT(member), 0, 0, lo, hi, 0                                   \
	}
#define U64(name, member, hi, step)                                                                \
	{                                                                                          \
		name, VMP_FIELD_U64, AT(member), 0, hi, 0, 0, step                                 \
	}
#define FLAGS(name, member, mask)                                                                  \
	{                                                                                          \
		name, VMP_FIELD_FLAGS, AT(member), 0, mask, 0, 0, 0                                \
	}
#define TEXT(name, member)                                                                         \
	{                                                                                          \
		name, VMP_FIELD_TEXT, AT(member), 0, 0, 0, 0, 0                                    \
	}
/* Named as in VirtualBox and in QEMU's balloon statistics; by virtio-balloon stat tag. */
#define STAT(i, name) U64(name, guest_stats.values[i], UINT64_MAX, 0)
#define FIRST_STAT_FIELD 2

static const VmpField hello_fields[] = {
	U32("magic", hello.magic, VMP_MAGIC, VMP_MAGIC),
	U32("version", hello.version, 1, UINT32_MAX),
};

static const VmpField ready_fields[] = {
	U32("magic", ready.magic, VMP_MAGIC, VMP_MAGIC),
	U32("version", ready.version, 1, UINT32_MAX),
	U64("memory_size", ready.memory_size, VMP_MEMORY_MAX, VMP_PAGE_SIZE),
	U32("n_vcpus", ready.n_vcpus, 1, VMP_VCPUS_MAX),
	U64("balloon_target", ready.balloon_target, VMP_MEMORY_MAX, VMP_PAGE_SIZE),
};

static const VmpField set_balloon_target_fields[] = {
	U64("bytes", set_balloon_target.bytes, VMP_MEMORY_MAX, VMP_PAGE_SIZE),
};

static const VmpField set_stats_interval_fields[] = {
	U32("milliseconds", set_stats_interval.milliseconds, 0, VMP_STATS_INTERVAL_MAX_MS),
};

static const VmpField reply_fields[] = {
	U32("status", reply.status, VMP_STATUS_OK, VMP_STATUS_STOPPED),
};

static const VmpField state_fields[] = {
	U32("state", state.state, VMP_STATE_RUNNING, VMP_STATE_STOPPED),
};

static const VmpField balloon_fields[] = {
	U64("target", balloon.target, VMP_MEMORY_MAX, VMP_PAGE_SIZE),
	U64("actual", balloon.actual, VMP_MEMORY_MAX, VMP_PAGE_SIZE),
	U64("guest_actual", balloon.guest_actual, VMP_GUEST_CLAIM_MAX, VMP_PAGE_SIZE),
	U64("reported_bytes", balloon.reported_bytes, INT64_MAX, VMP_PAGE_SIZE),
};

static const VmpField guest_stats_fields[] = {
	FLAGS("known", guest_stats.known, (1u << VMP_STAT_COUNT) - 1),
	I64("updated_us", guest_stats.updated_us, 0, INT64_MAX),
	STAT(0, "swap-in"),
	STAT(1, "swap-out"),
	STAT(2, "major-faults"),
	STAT(3, "minor-faults"),
	STAT(4, "memory-free"),
	STAT(5, "memory-total"),
	STAT(6, "memory-available"),
	STAT(7, "disk-caches"),
	STAT(8, "hugetlb-allocations"),
	STAT(9, "hugetlb-failures"),
};

static const VmpField stopped_fields[] = {
	FLAGS("flags", stopped.flags, VMP_STOPPED_GUEST_EXITED | VMP_STOPPED_REQUESTED),
	I32("exit_status", stopped.exit_status, INT32_MIN, INT32_MAX),
	TEXT("reason", stopped.reason),
};

#define KIND(id, sender, has_id, fields)                                                           \
	[id] = {&#id[9], sender, has_id, 0, fields, N_ELEMENTS(fields)}
#define EMPTY(id, sender) [id] = {&#id[9], sender, true, 0, NULL, 0}

static const VmpKindInfo kinds[] = {
	KIND(VMP_KIND_HELLO, VMP_FROM_DAEMON, false, hello_fields),
	KIND(VMP_KIND_SET_BALLOON_TARGET, VMP_FROM_DAEMON, true, set_balloon_target_fields),
	KIND(VMP_KIND_SET_STATS_INTERVAL, VMP_FROM_DAEMON, true, set_stats_interval_fields),
	EMPTY(VMP_KIND_PAUSE, VMP_FROM_DAEMON),
	EMPTY(VMP_KIND_RESUME, VMP_FROM_DAEMON),
	EMPTY(VMP_KIND_POWER_OFF, VMP_FROM_DAEMON),
	EMPTY(VMP_KIND_QUERY_STATE, VMP_FROM_DAEMON),
	KIND(VMP_KIND_READY, VMP_FROM_WORKER, false, ready_fields),
	KIND(VMP_KIND_REPLY, VMP_FROM_WORKER, true, reply_fields),
	KIND(VMP_KIND_STATE, VMP_FROM_WORKER, false, state_fields),
	KIND(VMP_KIND_BALLOON, VMP_FROM_WORKER, false, balloon_fields),
	KIND(VMP_KIND_GUEST_STATS, VMP_FROM_WORKER, false, guest_stats_fields),
	KIND(VMP_KIND_STOPPED, VMP_FROM_WORKER, false, stopped_fields),
};

static const char *const decode_result_names[] = {
	[VMP_DECODE_OK] = "ok",
	[VMP_DECODE_TRUNCATED] = "shorter than a record header",
	[VMP_DECODE_OVERSIZED] = "longer than any record",
	[VMP_DECODE_UNKNOWN_KIND] = "unknown record kind",
	[VMP_DECODE_WRONG_SENDER] = "a record the sender may not send",
	[VMP_DECODE_BAD_SIZE] = "wrong size for its kind",
	[VMP_DECODE_BAD_ID] = "wrong request id for its kind",
	[VMP_DECODE_FD_COUNT] = "wrong number of file descriptors for its kind",
	[VMP_DECODE_OUT_OF_RANGE] = "a field out of range",
};

const VmpKindInfo *
vmp_kind_info(uint32_t kind)
{
	if (kind >= N_ELEMENTS(kinds) || kinds[kind].name == NULL)
		return NULL;
	return &kinds[kind];
}

const char *
vmp_kind_name(uint32_t kind)
{
	const VmpKindInfo *info = vmp_kind_info(kind);
	return info != NULL ? info->name : NULL;
}

const char *
vmp_stat_name(unsigned index)
{
	return index < VMP_STAT_COUNT ? guest_stats_fields[FIRST_STAT_FIELD + index].name : NULL;
}

const char *
vmp_state_name(uint32_t state)
{
	switch (state) {
	case VMP_STATE_RUNNING:
		return "running";
	case VMP_STATE_PAUSED:
		return "paused";
	case VMP_STATE_STOPPED:
		return "stopped";
	default:
		return NULL;
	}
}

const char *
vmp_decode_result_name(VmpDecodeResult result)
{
	if ((unsigned)result >= N_ELEMENTS(decode_result_names))
		return "unknown result";
	return decode_result_names[result];
}

unsigned
vmp_kind_n_fds(uint32_t kind)
{
	const VmpKindInfo *info = vmp_kind_info(kind);
	return info != NULL ? info->n_fds : 0;
}

size_t
vmp_field_wire_size(VmpFieldType type)
{
	switch (type) {
	case VMP_FIELD_U64:
	case VMP_FIELD_I64:
		return 8;
	case VMP_FIELD_TEXT:
		return VMP_REASON_SIZE;
	default:
		return 4;
	}
}

size_t
vmp_kind_wire_size(const VmpKindInfo *info)
{
	size_t size = VMP_HEADER_SIZE;

	for (unsigned i = 0; i < info->n_fields; i++)
		size += vmp_field_wire_size(info->fields[i].type);
	return size;
}

static void
put_le(uint8_t *out, uint64_t value, size_t size)
{
	for (size_t i = 0; i < size; i++)
		out[i] = (uint8_t)(value >> (8 * i));
}

static uint64_t
get_le(const uint8_t *in, size_t size)
{
	uint64_t value = 0;

	for (size_t i = 0; i < size; i++)
		value |= (uint64_t)in[i] << (8 * i);
	return value;
}

/* Reads an integer field of @record as it is stored there (4 or 8 bytes). */
static uint64_t
load_field(const VmpRecord *record, const VmpField *field)
{
	const uint8_t *at = (const uint8_t *)record + field->offset;
	uint32_t u32;
	uint64_t u64;

	if (vmp_field_wire_size(field->type) == 8) {
		memcpy(&u64, at, sizeof(u64));
		return u64;
	}
	memcpy(&u32, at, sizeof(u32));
	return u32;
}

static void
store_field(VmpRecord *record, const VmpField *field, uint64_t value)
{
	uint8_t *at = (uint8_t *)record + field->offset;
	uint32_t u32 = (uint32_t)value;

	if (vmp_field_wire_size(field->type) == 8)
		memcpy(at, &value, sizeof(value));
	else
		memcpy(at, &u32, sizeof(u32));
}

/* One code point of well-formed UTF-8 at @text; returns its length, or 0. */
static size_t
utf8_char_length(const uint8_t *text, size_t left)
{
	size_t length;
	uint32_t code;

	if (text[0] < 0x80)
		return 1;
	if (text[0] >= 0xc2 && text[0] <= 0xdf)
		length = 2, code = text[0] & 0x1f;
	else if (text[0] >= 0xe0 && text[0] <= 0xef)
		length = 3, code = text[0] & 0x0f;
	else if (text[0] >= 0xf0 && text[0] <= 0xf4)
		length = 4, code = text[0] & 0x07;
	else
		return 0;
	if (length > left)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;
		code = (code << 6) | (text[i] & 0x3f);
	}
	if ((length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) ||
	    (length == 4 && (code < 0x10000 || code > 0x10ffff)))
		return 0;
	/* C1 controls. */
	if (code >= 0x80 && code <= 0x9f)
		return 0;
	return length;
}

/* The length of the longest prefix of @text (at most @size bytes) that is valid reason text. */
static size_t
valid_text_length(const uint8_t *text, size_t size)
{
	size_t at = 0;

	while (at < size && text[at] != '\0') {
		size_t length = utf8_char_length(text + at, size - at);

		if (length == 0 || (length == 1 && (text[at] < 0x20 || text[at] == 0x7f)))
			break;
		at += length;
	}
	return at;
}

/* A text field: valid text, then NUL bytes to its end (at least one). */
static bool
text_is_valid(const uint8_t *text)
{
	size_t length = valid_text_length(text, VMP_REASON_SIZE - 1);

	for (size_t i = length; i < VMP_REASON_SIZE; i++) {
		if (text[i] != '\0')
			return false;
	}
	return true;
}

static bool
value_in_range(const VmpField *field, uint64_t value)
{
	switch (field->type) {
	case VMP_FIELD_I32:
		return (int32_t)(uint32_t)value >= field->smin &&
		       (int32_t)(uint32_t)value <= field->smax;
	case VMP_FIELD_I64:
		return (int64_t)value >= field->smin && (int64_t)value <= field->smax;
	case VMP_FIELD_FLAGS:
		return (value & ~field->max) == 0;
	default:
		return value >= field->min && value <= field->max &&
		       (field->multiple == 0 || value % field->multiple == 0);
	}
}

static void
encode_text(uint8_t *out, const char *text)
{
	size_t length =
		valid_text_length((const uint8_t *)text, strnlen(text, VMP_REASON_SIZE - 1));

	memset(out, 0, VMP_REASON_SIZE);
	memcpy(out, text, length);
}

size_t
vmp_encode(const VmpRecord *record, uint8_t buffer[VMP_RECORD_MAX])
{
	const VmpKindInfo *info = vmp_kind_info(record->kind);
	size_t at = VMP_HEADER_SIZE;

	if (info == NULL || (info->has_id != (record->id != 0)))
		return 0;
	put_le(buffer, record->kind, 2);
	put_le(buffer + 2, vmp_kind_wire_size(info), 2);
	put_le(buffer + 4, record->id, 4);
	for (unsigned i = 0; i < info->n_fields; i++) {
		const VmpField *field = &info->fields[i];
		size_t size = vmp_field_wire_size(field->type);

		if (field->type == VMP_FIELD_TEXT) {
			encode_text(buffer + at, (const char *)record + field->offset);
		} else {
			uint64_t value = load_field(record, field);

			if (!value_in_range(field, value))
				return 0;
			put_le(buffer + at, value, size);
		}
		at += size;
	}
	return at;
}

static VmpDecodeResult
decode_fields(const VmpKindInfo *info,
	      const uint8_t *buffer,
	      VmpRecord *record,
	      const char **field_name)
{
	size_t at = VMP_HEADER_SIZE;

	for (unsigned i = 0; i < info->n_fields; i++) {
		const VmpField *field = &info->fields[i];
		size_t size = vmp_field_wire_size(field->type);

		if (field->type == VMP_FIELD_TEXT) {
			if (!text_is_valid(buffer + at))
				goto out_of_range;
			memcpy((uint8_t *)record + field->offset, buffer + at, size);
		} else {
			uint64_t value = get_le(buffer + at, size);

			if (!value_in_range(field, value))
				goto out_of_range;
			store_field(record, field, value);
		}
		at += size;
		continue;
	out_of_range:
		if (field_name != NULL)
			*field_name = field->name;
		return VMP_DECODE_OUT_OF_RANGE;
	}
	return VMP_DECODE_OK;
}

static VmpDecodeResult
decode(const uint8_t *buffer,
       size_t size,
       unsigned n_fds,
       VmpSender sender,
       VmpRecord *record,
       const char **field)
{
	const VmpKindInfo *info;
	uint32_t kind;

	if (size < VMP_HEADER_SIZE)
		return VMP_DECODE_TRUNCATED;
	if (size > VMP_RECORD_MAX)
		return VMP_DECODE_OVERSIZED;
	kind = (uint32_t)get_le(buffer, 2);
	info = vmp_kind_info(kind);
	if (info == NULL)
		return VMP_DECODE_UNKNOWN_KIND;
	if (info->sender != sender)
		return VMP_DECODE_WRONG_SENDER;
	if (get_le(buffer + 2, 2) != size || size != vmp_kind_wire_size(info))
		return VMP_DECODE_BAD_SIZE;
	record->kind = (VmpKind)kind;
	record->id = (uint32_t)get_le(buffer + 4, 4);
	if (info->has_id != (record->id != 0))
		return VMP_DECODE_BAD_ID;
	if (n_fds != info->n_fds)
		return VMP_DECODE_FD_COUNT;
	return decode_fields(info, buffer, record, field);
}

VmpDecodeResult
vmp_decode(const uint8_t *buffer,
	   size_t size,
	   unsigned n_fds,
	   VmpSender sender,
	   VmpRecord *record,
	   const char **field)
{
	VmpDecodeResult result;

	memset(record, 0, sizeof(*record));
	if (field != NULL)
		*field = NULL;
	result = decode(buffer, size, n_fds, sender, record, field);
	if (result != VMP_DECODE_OK)
		memset(record, 0, sizeof(*record));
	return result;
}

int
vmp_send(int fd, const VmpRecord *record, const int *fds, unsigned n_fds)
{
	uint8_t buffer[VMP_RECORD_MAX];
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int) * VMP_FDS_MAX)];
	} control;
	size_t size = vmp_encode(record, buffer);
	struct iovec iov = {buffer, size};
	struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t sent;

	if (size == 0 || n_fds > VMP_FDS_MAX)
		return EINVAL;
	if (n_fds > 0) {
		memset(&control, 0, sizeof(control));
		message.msg_control = control.space;
		message.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		control.header.cmsg_level = SOL_SOCKET;
		control.header.cmsg_type = SCM_RIGHTS;
		control.header.cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(&control.header), fds, sizeof(int) * n_fds);
	}
	do
		sent = sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return errno;
	return (size_t)sent == size ? 0 : EMSGSIZE;
}

void
vmp_close_fds(int *fds, unsigned n_fds)
{
	for (unsigned i = 0; i < n_fds && i < VMP_FDS_MAX; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Takes the descriptors of every SCM_RIGHTS message; any beyond VMP_FDS_MAX are closed. */
static unsigned
take_fds(struct msghdr *message, int fds[VMP_FDS_MAX])
{
	unsigned n_fds = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(message); c != NULL; c = CMSG_NXTHDR(message, c)) {
		size_t count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int received;

			memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n_fds < VMP_FDS_MAX)
				fds[n_fds] = received;
			else
				close(received);
			n_fds++;
		}
	}
	return n_fds;
}

long
vmp_recv(int fd, uint8_t buffer[VMP_RECORD_MAX], int fds[VMP_FDS_MAX], unsigned *n_fds)
{
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int) * VMP_FDS_MAX)];
	} control;
	struct iovec iov = {buffer, VMP_RECORD_MAX};
	struct msghdr message = {.msg_iov = &iov,
				 .msg_iovlen = 1,
				 .msg_control = control.space,
				 .msg_controllen = sizeof(control.space)};
	ssize_t received;
	unsigned count;

	*n_fds = 0;
	do
		received = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (received < 0 && errno == EINTR);
	if (received < 0)
		return -errno;
	count = take_fds(&message, fds);
	if (count > VMP_FDS_MAX || (message.msg_flags & MSG_CTRUNC)) {
		vmp_close_fds(fds, count > VMP_FDS_MAX ? VMP_FDS_MAX : count);
		count = VMP_FDS_MAX + 1;
	}
	*n_fds = count;
	if (message.msg_flags & MSG_TRUNC)
		return VMP_RECORD_MAX + 1;
	return received;
}
