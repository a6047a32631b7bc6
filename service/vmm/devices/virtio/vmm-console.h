/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stddef.h>

#include "vmm-memory.h"
#include "vmm-virtio.h"

/* The only feature bit offered (virtio 1.2, 5.3.3): size and emergency write are not. */
#define VMM_CONSOLE_F_MULTIPORT 1

/*
 * Two ports: port 0, a console (hvc0 in Linux), and port 1, named at
 * creation, for the Guest Additions agent. Queues as virtio numbers them
 * with MULTIPORT: port 0 receiveq/transmitq, control receiveq/transmitq,
 * port 1 receiveq/transmitq.
 */
#define VMM_CONSOLE_N_PORTS 2
#define VMM_CONSOLE_AGENT_PORT 1
#define VMM_CONSOLE_CONTROL_RX_QUEUE 2
#define VMM_CONSOLE_CONTROL_TX_QUEUE 3
#define VMM_CONSOLE_AGENT_RX_QUEUE 4
#define VMM_CONSOLE_AGENT_TX_QUEUE 5
#define VMM_CONSOLE_QUEUE_SIZE 128
#define VMM_CONSOLE_NAME_MAX 64
/* Bytes the host may have queued for the agent before it drops what it sends. */
#define VMM_CONSOLE_HOST_QUEUE_BYTES (64 * 1024)
/* The most one transmit buffer may carry (Linux writes at most 32 KiB at a time). */
#define VMM_CONSOLE_MAX_BUFFER_BYTES (256 * 1024)

/*
 * Called from vCPU threads or the VM's notifier thread with the transport's
 * lock held: a callback must not call vmm_console_*() (hand the bytes to
 * another thread instead). data: what the guest wrote on the agent port, a
 * copy that stays valid for the call only; the stream arrives in order, in
 * pieces of any size. port_open: the guest opened or closed the agent port.
 */
typedef struct {
	void (*data)(void *user_data, const uint8_t *bytes, size_t length);
	void (*port_open)(void *user_data, bool open);
	void *user_data;
} VmmConsoleListener;

typedef struct {
	uint64_t received_bytes;  /* from the guest on the agent port */
	uint64_t console_bytes;   /* from the guest on port 0, dropped */
	uint64_t sent_bytes;      /* delivered to the guest on the agent port */
	uint64_t queued_bytes;    /* waiting for the guest to read */
	uint64_t dropped_bytes;   /* refused by vmm_console_send() */
	uint64_t dropped_sends;   /* calls of vmm_console_send() refused */
	uint64_t ignored_control; /* control messages with a bad port id or event */
} VmmConsoleCounters;

typedef struct _VmmConsole VmmConsole;

/*
 * A console over @memory, which must outlive it, whose port 1 is named
 * @port_name (at most VMM_CONSOLE_NAME_MAX bytes, no control characters);
 * NULL if the name is not acceptable. @listener is copied and may be NULL.
 */
VmmConsole *
vmm_console_new(VmmMemory *memory, const char *port_name, const VmmConsoleListener *listener);
void vmm_console_free(VmmConsole *self);
VMM_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmConsole, vmm_console_free)

/* What a transport needs to carry the console (device id 3). */
const VmmVirtioDeviceOps *vmm_console_get_ops(void);

/*
 * The functions below may be called from any thread except from inside a
 * listener callback.
 */

/* Who the console reports to from now on (@listener is copied; NULL: nobody). */
void vmm_console_set_listener(VmmConsole *self, const VmmConsoleListener *listener);
/*
 * Queues @length bytes for the agent port, all or nothing, and delivers what
 * the guest has buffers for. False (counted, logged once per overflow) when
 * they do not fit beside what the guest has not read yet.
 */
bool vmm_console_send(VmmConsole *self, const uint8_t *bytes, size_t length);
/* Whether the guest has the agent port open. */
bool vmm_console_agent_open(VmmConsole *self);
void vmm_console_get_counters(VmmConsole *self, VmmConsoleCounters *counters);
