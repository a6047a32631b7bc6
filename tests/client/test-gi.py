#!/usr/bin/python3
# Copyright (C) 2026 The vboxmem authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libvboxmem through GObject Introspection, against the real vboxmemd.

Runs as root under tools/with-system-bus, with GI_TYPELIB_PATH and
LD_LIBRARY_PATH pointing at the built library.
"""

import unittest

import gi

gi.require_version('Vboxmem', '1.0')
from gi.repository import GLib, Vboxmem  # noqa: E402

MiB = 1024 * 1024
WAIT_SECONDS = 10


def settings(**values):
    types = {'MemorySize': 't', 'CPUs': 'u', 'CommandLine': 's', 'PageFusion': 'b', 'Colour': 's'}
    return GLib.Variant('a{sv}', {key: GLib.Variant(types[key], value) for key, value in values.items()})


def run_until(done):
    """Iterates the default main context until done() is true, at most WAIT_SECONDS."""
    timed_out = []
    timeout_id = GLib.timeout_add_seconds(WAIT_SECONDS, lambda: timed_out.append(True))
    context = GLib.MainContext.default()
    while not done() and not timed_out:
        context.iteration(True)
    if timed_out:
        raise AssertionError('timed out waiting')
    GLib.source_remove(timeout_id)


def finish_async(start, finish):
    """Calls start(callback) and returns finish(result) once the callback ran."""
    results = []
    start(lambda source, result: results.append(result))
    run_until(lambda: results)
    return finish(results[0])


class TestIntrospection(unittest.TestCase):

    def setUp(self):
        self.client = Vboxmem.Client.new_sync(None)

    def test_lifecycle(self):
        added = []
        self.client.connect('machine-added', lambda client, machine: added.append(machine))

        machine = finish_async(
            lambda cb: self.client.create_machine(
                'gi-vm', settings(MemorySize=256 * MiB, CPUs=2, CommandLine='quiet'), None, cb),
            self.client.create_machine_finish)
        self.assertEqual(machine.props.name, 'gi-vm')
        self.assertEqual(machine.get_memory_size(), 256 * MiB)
        self.assertEqual(machine.props.cpus, 2)
        self.assertEqual(machine.props.command_line, 'quiet')
        self.assertEqual(machine.props.state, Vboxmem.MachineState.POWERED_OFF)
        # VBOXMEM_GUEST_STAT_UNKNOWN (G_MAXUINT64) is not in the GIR
        self.assertEqual(machine.props.guest_memory_total, GLib.MAXUINT64)
        run_until(lambda: added)
        self.assertEqual(added[0], machine)

        self.assertEqual(self.client.lookup_machine('gi-vm'), machine)
        self.assertEqual(self.client.find_machine_sync('gi-vm', None), machine)
        self.assertIn('gi-vm', [m.props.name for m in self.client.get_machines()])

        notified = []
        machine.connect('notify::memory-size', lambda obj, pspec: notified.append(pspec.name))
        self.assertTrue(machine.modify_sync(settings(MemorySize=512 * MiB), None))
        run_until(lambda: notified)
        self.assertEqual(machine.props.memory_size, 512 * MiB)
        self.assertEqual(machine.props.cpus, 2)

        removed = []
        self.client.connect('machine-removed', lambda client, m: removed.append(m))
        self.assertTrue(finish_async(lambda cb: machine.unregister(None, cb), machine.unregister_finish))
        run_until(lambda: removed)
        self.assertEqual(removed[0], machine)
        self.assertIsNone(self.client.lookup_machine('gi-vm'))

    def test_errors(self):
        with self.assertRaises(GLib.Error) as caught:
            self.client.find_machine_sync('nonexistent', None)
        self.assertEqual(caught.exception.domain, 'vboxmem-error-quark')
        self.assertEqual(caught.exception.code, Vboxmem.Error.NO_SUCH_MACHINE)
        self.assertTrue(caught.exception.matches(Vboxmem.error_quark(), Vboxmem.Error.NO_SUCH_MACHINE))

        with self.assertRaises(GLib.Error) as caught:
            self.client.create_machine_sync('bad/name', settings(MemorySize=256 * MiB), None)
        self.assertEqual(caught.exception.domain, 'vboxmem-error-quark')
        self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_ARGUMENT)

        machine = self.client.create_machine_sync('gi-errors', settings(MemorySize=256 * MiB), None)
        with self.assertRaises(GLib.Error) as caught:
            machine.modify_sync(settings(Colour='blue'), None)
        self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_ARGUMENT)
        self.assertIn('Colour', caught.exception.message)
        with self.assertRaises(GLib.Error) as caught:
            machine.start_sync(None)
        self.assertEqual(caught.exception.code, Vboxmem.Error.NOT_SUPPORTED)


if __name__ == '__main__':
    unittest.main(verbosity=2)
