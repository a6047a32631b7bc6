/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define __VBOXMEM_H_INSIDE__

#include "vboxmem-client.h"
#include "vboxmem-enum-types.h"
#include "vboxmem-enums.h"
#include "vboxmem-error.h"
#include "vboxmem-machine.h"

#undef __VBOXMEM_H_INSIDE__
