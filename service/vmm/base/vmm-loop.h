/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vmm-error.h"

/*
 * The worker's main loop: file descriptors, timeouts and calls handed over
 * from other threads, on one epoll instance. Sources are added and removed on
 * the loop's thread only (also from their own callbacks); vmm_loop_invoke()
 * and vmm_loop_quit() may be called from any thread.
 */
typedef struct _VmmLoop VmmLoop;
typedef struct _VmmLoopSource VmmLoopSource;

/* Returns false to remove the source (a timeout: to stop repeating). */
typedef bool (*VmmLoopFunc)(void *user_data);
typedef bool (*VmmLoopFdFunc)(int fd, uint32_t events, void *user_data);
typedef void (*VmmLoopCallFunc)(void *user_data);

VmmLoop *vmm_loop_new(VmmError **error);
void vmm_loop_free(VmmLoop *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmLoop, vmm_loop_free)

/* @events: EPOLLIN, EPOLLOUT...; EPOLLHUP and EPOLLERR are always reported. */
VmmLoopSource *
vmm_loop_add_fd(VmmLoop *self, int fd, uint32_t events, VmmLoopFdFunc func, void *user_data);
bool vmm_loop_set_fd_events(VmmLoop *self, VmmLoopSource *source, uint32_t events);
VmmLoopSource *
vmm_loop_add_timeout(VmmLoop *self, unsigned interval_ms, VmmLoopFunc func, void *user_data);
void vmm_loop_remove(VmmLoop *self, VmmLoopSource *source);
/* Clears *@source and removes it, if set. */
void vmm_loop_clear_source(VmmLoop *self, VmmLoopSource **source);

/* From any thread: @func runs once on the loop's thread, in the order of the calls. */
void vmm_loop_invoke(VmmLoop *self, VmmLoopCallFunc func, void *user_data);

void vmm_loop_run(VmmLoop *self);
void vmm_loop_quit(VmmLoop *self);
