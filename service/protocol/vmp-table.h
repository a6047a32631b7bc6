/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/*
 * The one definition of every record's layout and limits: the codec in
 * vmp-protocol.c reads and writes records from it, and vmp-describe prints
 * it for the Python test harness, so neither repeats it.
 */

#include "vmp-protocol.h"

typedef enum {
	VMP_FIELD_U32,
	VMP_FIELD_I32,
	VMP_FIELD_U64,
	VMP_FIELD_I64,
	VMP_FIELD_FLAGS, /* u32 whose bits outside max are refused */
	VMP_FIELD_TEXT,  /* VMP_REASON_SIZE bytes */
} VmpFieldType;

typedef struct {
	const char *name;
	VmpFieldType type;
	size_t offset; /* in VmpRecord */
	/* Accepted values: min..max (signed fields: smin..smax), a multiple of @multiple if set. */
	uint64_t min;
	uint64_t max;
	int64_t smin;
	int64_t smax;
	uint64_t multiple;
} VmpField;

typedef struct {
	const char *name;
	VmpSender sender;
	bool has_id; /* a request or its reply: the id is not 0; otherwise it is 0 */
	unsigned n_fds;
	const VmpField *fields;
	unsigned n_fields;
} VmpKindInfo;

/* NULL for an unknown kind. */
const VmpKindInfo *vmp_kind_info(uint32_t kind);
size_t vmp_field_wire_size(VmpFieldType type);
/* The record's size on the wire, header included. */
size_t vmp_kind_wire_size(const VmpKindInfo *info);
