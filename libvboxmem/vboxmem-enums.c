/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vboxmem-enums.h"

/**
 * SECTION:vboxmem-enums
 * @title: Enumerations
 * @short_description: Machine states and their D-Bus spelling
 *
 * #VboxmemMachineState is the state of a #VboxmemMachine; the functions here
 * convert it to and from the strings of the `State` D-Bus property.
 */

static const gchar *const machine_state_names[] = {
	[VBOXMEM_MACHINE_STATE_UNKNOWN] = "unknown",
	[VBOXMEM_MACHINE_STATE_POWERED_OFF] = "powered-off",
	[VBOXMEM_MACHINE_STATE_STARTING] = "starting",
	[VBOXMEM_MACHINE_STATE_RUNNING] = "running",
	[VBOXMEM_MACHINE_STATE_PAUSED] = "paused",
	[VBOXMEM_MACHINE_STATE_STOPPING] = "stopping",
	[VBOXMEM_MACHINE_STATE_ABORTED] = "aborted",
};

/**
 * vboxmem_machine_state_to_string:
 * @state: a #VboxmemMachineState
 *
 * Converts @state to the string the `State` D-Bus property uses.
 *
 * Returns: the D-Bus spelling of @state, e.g. "powered-off"
 */
const gchar *
vboxmem_machine_state_to_string(VboxmemMachineState state)
{
	if ((guint)state >= G_N_ELEMENTS(machine_state_names))
		return machine_state_names[VBOXMEM_MACHINE_STATE_UNKNOWN];
	return machine_state_names[state];
}

/**
 * vboxmem_machine_state_from_string:
 * @state: (nullable): a state as the `State` D-Bus property spells it
 *
 * Parses the `State` D-Bus property.
 *
 * Returns: the #VboxmemMachineState, or %VBOXMEM_MACHINE_STATE_UNKNOWN
 */
VboxmemMachineState
vboxmem_machine_state_from_string(const gchar *state)
{
	for (guint i = 1; state != NULL && i < G_N_ELEMENTS(machine_state_names); i++) {
		if (g_strcmp0(state, machine_state_names[i]) == 0)
			return (VboxmemMachineState)i;
	}
	return VBOXMEM_MACHINE_STATE_UNKNOWN;
}
