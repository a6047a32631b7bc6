/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

#define VMM_SANDBOX_DEFAULT_USER "vboxmem"
/* Descriptors a worker may hold: guest RAM, KVM, its vCPUs, eventfds and a few sockets. */
#define VMM_SANDBOX_MAX_FILES 1024

bool vmm_sandbox_give_file(const char *path, const char *user, VmmError **error);
bool vmm_sandbox_enter(const char *user, VmmError **error);
