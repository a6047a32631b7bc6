/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VboxmemMachineState:
 * @VBOXMEM_MACHINE_STATE_UNKNOWN: The daemon reported a state this library does not know.
 * @VBOXMEM_MACHINE_STATE_POWERED_OFF: Not running; settings may be changed.
 * @VBOXMEM_MACHINE_STATE_STARTING: The worker process is starting the guest.
 * @VBOXMEM_MACHINE_STATE_RUNNING: The guest runs.
 * @VBOXMEM_MACHINE_STATE_PAUSED: The guest's virtual CPUs are stopped.
 * @VBOXMEM_MACHINE_STATE_STOPPING: The machine is being powered off.
 * @VBOXMEM_MACHINE_STATE_ABORTED: The worker process ended unexpectedly.
 *
 * The state of a machine, as the `State` property of
 * `org.vboxmem.VBoxMem1.Machine` spells it.
 */
typedef enum {
	VBOXMEM_MACHINE_STATE_UNKNOWN,
	VBOXMEM_MACHINE_STATE_POWERED_OFF,
	VBOXMEM_MACHINE_STATE_STARTING,
	VBOXMEM_MACHINE_STATE_RUNNING,
	VBOXMEM_MACHINE_STATE_PAUSED,
	VBOXMEM_MACHINE_STATE_STOPPING,
	VBOXMEM_MACHINE_STATE_ABORTED,
} VboxmemMachineState;

const gchar *vboxmem_machine_state_to_string(VboxmemMachineState state);
VboxmemMachineState vboxmem_machine_state_from_string(const gchar *state);

G_END_DECLS
