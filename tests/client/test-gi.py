#!/usr/bin/python3
# Copyright (C) 2026 The vboxmem authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libvboxmem through GObject Introspection, against the real vboxmemd.

Runs as root under tools/with-system-bus, with GI_TYPELIB_PATH and
LD_LIBRARY_PATH pointing at the built library.
"""

import os
import sys
import unittest

import gi

gi.require_version('Vboxmem', '1.0')
from gi.repository import GLib, Vboxmem  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
from vboxmem_harness import MiB, testing  # noqa: E402
from vboxmem_harness.guest import READY as GUEST_READY  # noqa: E402
from vboxmem_harness.kvm import machines_unusable_reason  # noqa: E402

# generous: machines boot slowly on a loaded host
WAIT_SECONDS = 30
POLL_MS = 100

GUEST_COMMAND_LINE = 'vboxmem.script=alloc:64M:seed=1,free:64M'


def settings(**values):
    types = {'MemorySize': 't', 'CPUs': 'u', 'CommandLine': 's', 'PageFusion': 'b', 'Colour': 's'}
    return GLib.Variant('a{sv}', {key: GLib.Variant(types[key], value) for key, value in values.items()})


def run_until(done):
    """Iterates the default main context until done() is true, at most
    WAIT_SECONDS; looks at done() at least every POLL_MS, so it may poll."""
    timed_out = []
    timeout_id = GLib.timeout_add_seconds(WAIT_SECONDS, lambda: timed_out.append(True))
    poll_id = GLib.timeout_add(POLL_MS, lambda: GLib.SOURCE_CONTINUE)
    context = GLib.MainContext.default()
    try:
        while not done() and not timed_out:
            context.iteration(True)
    finally:
        GLib.source_remove(poll_id)
        if not timed_out:
            GLib.source_remove(timeout_id)
    if timed_out:
        raise AssertionError(f'timed out waiting for {done.__doc__ or done}')


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
        # a powered-off machine cannot be controlled; sizes are checked first
        for call in (lambda: machine.set_balloon_target_sync(64 * MiB, None),
                     lambda: machine.pause_sync(None),
                     lambda: machine.power_off_sync(None)):
            with self.assertRaises(GLib.Error) as caught:
                call()
            self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_STATE)
        for size in (257 * MiB, 64 * MiB + 4096):
            with self.assertRaises(GLib.Error) as caught:
                machine.set_balloon_target_sync(size, None)
            self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_ARGUMENT)
        with self.assertRaises(GLib.Error) as caught:
            self.client.query_metrics_sync(['host'], ['RAM/VMM/Used:sum'], None)
        self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_ARGUMENT)
        # a machine that never ran has an empty log
        self.assertEqual(machine.read_console_log_sync(0, None), '')
        self.assertEqual(self.client.props.memory_overdrawn, 0)
        self.assertEqual(self.client.get_memory_overdrawn(), 0)

    def test_run(self):
        reason = machines_unusable_reason()
        if reason:
            self.skipTest(reason)
        machine = self.client.create_machine_sync(
            'gi-run', settings(MemorySize=256 * MiB, CommandLine=GUEST_COMMAND_LINE), None)
        states = []
        machine.connect('notify::state', lambda m, pspec: states.append(m.props.state))

        self.assertTrue(finish_async(lambda cb: machine.start(None, cb), machine.start_finish))

        def running():
            """the machine running"""
            return machine.props.state == Vboxmem.MachineState.RUNNING
        run_until(running)
        self.assertIn(Vboxmem.MachineState.RUNNING, states)
        with self.assertRaises(GLib.Error) as caught:
            machine.start_sync(None)
        self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_STATE)
        with self.assertRaises(GLib.Error) as caught:
            machine.set_balloon_target_sync(512 * MiB, None)
        self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_ARGUMENT)

        self.assertTrue(machine.set_balloon_target_sync(64 * MiB, None))

        def balloon_reached():
            """balloon-actual to reach 64 MiB"""
            return machine.props.balloon_actual == 64 * MiB
        run_until(balloon_reached)
        self.assertEqual(machine.props.balloon_target, 64 * MiB)

        def stats_known():
            """the guest's statistics"""
            return machine.props.guest_memory_total != GLib.MAXUINT64
        run_until(stats_known)
        self.assertGreater(machine.props.guest_memory_total, 0)
        self.assertLessEqual(machine.props.guest_memory_total, 256 * MiB)
        self.assertGreater(machine.props.guest_last_update, 0)

        def balloon_metric():
            """Guest/RAM/Usage/Balloon to show 64 MiB"""
            values = self.client.query_metrics_sync(['gi-run'], ['Guest/RAM/Usage/Balloon'], None)
            return [value for _, _, value, _, _ in values.unpack()] == [64 * MiB]
        run_until(balloon_metric)
        values = finish_async(
            lambda cb: self.client.query_metrics(['gi-run', 'host'], ['Guest/RAM/Usage/*', 'RAM/VMM/*'],
                                                 None, cb),
            self.client.query_metrics_finish).unpack()
        metrics = {(obj, metric): (value, unit) for obj, metric, value, unit, time in values}
        for metric in ('Total', 'Free', 'Balloon', 'Shared', 'Cache', 'Hinted'):
            self.assertIn(('gi-run', 'Guest/RAM/Usage/' + metric), metrics)
        for metric in ('Used', 'Free', 'Ballooned', 'Shared'):
            self.assertIn(('host', 'RAM/VMM/' + metric), metrics)
        self.assertTrue(all(unit == 'B' for value, unit in metrics.values()))
        self.assertTrue(all(time > 0 for _, _, _, _, time in values))

        log = machine.read_console_log_sync(0, None)
        self.assertIn(GUEST_READY, log)
        tail = finish_async(lambda cb: machine.read_console_log(10, None, cb),
                            machine.read_console_log_finish)
        self.assertGreater(len(tail.encode()), 0)
        self.assertLessEqual(len(tail.encode()), 10)

        self.assertTrue(machine.pause_sync(None))
        run_until(lambda: machine.props.state == Vboxmem.MachineState.PAUSED)
        self.assertTrue(machine.resume_sync(None))
        run_until(running)

        self.assertTrue(finish_async(lambda cb: machine.power_off(None, cb), machine.power_off_finish))

        def powered_off():
            """the machine powered off, its balloon and statistics reset"""
            return (machine.props.state == Vboxmem.MachineState.POWERED_OFF
                    and machine.props.balloon_actual == 0
                    and machine.props.guest_memory_total == GLib.MAXUINT64)
        run_until(powered_off)
        self.assertNotIn(Vboxmem.MachineState.ABORTED, states)
        with self.assertRaises(GLib.Error) as caught:
            machine.set_balloon_target_sync(64 * MiB, None)
        self.assertEqual(caught.exception.code, Vboxmem.Error.INVALID_STATE)
        self.assertIn(GUEST_READY, machine.read_console_log_sync(0, None))


if __name__ == '__main__':
    testing.main()
