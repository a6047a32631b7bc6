/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * Prints the worker protocol's record table as JSON: the Python test harness
 * builds its encoder and decoder from it, so that the layout is written once.
 */

#include <inttypes.h>
#include <stdio.h>

#include "vmp-table.h"

static const char *const type_names[] = {
	[VMP_FIELD_U32] = "u32",
	[VMP_FIELD_I32] = "i32",
	[VMP_FIELD_U64] = "u64",
	[VMP_FIELD_I64] = "i64",
	[VMP_FIELD_FLAGS] = "flags",
	[VMP_FIELD_TEXT] = "text",
};

static void
print_field(const VmpField *field, const char *separator)
{
	printf("        {\"name\": \"%s\", \"type\": \"%s\", \"size\": %zu, \"min\": %" PRIu64
	       ", \"max\": %" PRIu64 ", \"smin\": %" PRId64 ", \"smax\": %" PRId64
	       ", \"multiple\": %" PRIu64 "}%s\n",
	       field->name,
	       type_names[field->type],
	       vmp_field_wire_size(field->type),
	       field->min,
	       field->max,
	       field->smin,
	       field->smax,
	       field->multiple,
	       separator);
}

static void
print_kind(uint32_t kind, const VmpKindInfo *info, const char *separator)
{
	printf("    {\"kind\": %" PRIu32 ", \"name\": \"%s\", \"sender\": \"%s\", \"has_id\": %s, "
	       "\"n_fds\": %u, \"size\": %zu, \"fields\": [\n",
	       kind,
	       info->name,
	       info->sender == VMP_FROM_DAEMON ? "daemon" : "worker",
	       info->has_id ? "true" : "false",
	       info->n_fds,
	       vmp_kind_wire_size(info));
	for (unsigned i = 0; i < info->n_fields; i++)
		print_field(&info->fields[i], i + 1 < info->n_fields ? "," : "");
	printf("    ]}%s\n", separator);
}

int
main(void)
{
	uint32_t last = 0;

	for (uint32_t kind = 0; kind < 256; kind++) {
		if (vmp_kind_info(kind) != NULL)
			last = kind;
	}
	printf("{\n  \"magic\": %u, \"version\": %u, \"header_size\": %u, \"record_max\": %u,\n",
	       VMP_MAGIC,
	       VMP_VERSION,
	       VMP_HEADER_SIZE,
	       VMP_RECORD_MAX);
	printf("  \"states\": {\"running\": %d, \"paused\": %d, \"stopped\": %d},\n",
	       VMP_STATE_RUNNING,
	       VMP_STATE_PAUSED,
	       VMP_STATE_STOPPED);
	printf("  \"statuses\": {\"ok\": %d, \"invalid-argument\": %d, \"stopped\": %d},\n",
	       VMP_STATUS_OK,
	       VMP_STATUS_INVALID_ARGUMENT,
	       VMP_STATUS_STOPPED);
	printf("  \"stopped_flags\": {\"guest-exited\": %u, \"requested\": %u},\n",
	       VMP_STOPPED_GUEST_EXITED,
	       VMP_STOPPED_REQUESTED);
	printf("  \"kinds\": [\n");
	for (uint32_t kind = 0; kind <= last; kind++) {
		const VmpKindInfo *info = vmp_kind_info(kind);

		if (info != NULL)
			print_kind(kind, info, kind < last ? "," : "");
	}
	printf("  ]\n}\n");
	return 0;
}
