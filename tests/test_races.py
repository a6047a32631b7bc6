#!/usr/bin/python3
"""Calls that race each other in vboxmemd: what runs after polkit answers must
check that the machine is still what it was when the call arrived.

Each race is sent back to back on one connection, 20 times. The machines run
whichever worker tools/with-system-bus gives vboxmemd: meson registers every
case with the real vboxmem-vm (skipped without KVM) and with the stand-in of
tests/hostile-worker in its honest mode, which needs no KVM.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'harness'))

from gi.repository import Gio, GLib  # noqa: E402

from vboxmem_harness import MiB, kvm, procfs, testing  # noqa: E402
from vboxmem_harness.daemon import (  # noqa: E402
    BUS_NAME, ERROR, MACHINE_IFACE, DBusError, machine_file, settings_entries)
from vboxmem_harness.daemontest import DaemonTestCase  # noqa: E402

ROUNDS = 20
NO_SUCH_MACHINE = ERROR + 'NoSuchMachine'
INVALID_STATE = ERROR + 'InvalidState'
# A call that arrives once the machine's object is gone.
OBJECT_GONE = ('org.freedesktop.DBus.Error.UnknownMethod',
               'org.freedesktop.DBus.Error.UnknownObject')


def configured_worker():
    """The worker binary vboxmemd runs, from the configuration it was given."""
    with open(os.environ['VBOXMEMD_CONFIG']) as config:
        for line in config:
            if line.startswith('Path='):
                return os.path.realpath(line.split('=', 1)[1].strip())
    return None


def uses_stand_in_worker():
    return 'hostile-worker' in (configured_worker() or '')


class TestRaces(DaemonTestCase):
    def setUp(self):
        super().setUp()
        if not uses_stand_in_worker():
            reason = kvm.machines_unusable_reason()
            if reason:
                raise unittest.SkipTest(f'cannot run machines here: {reason}')

    def send_together(self, *calls):
        """Sends CALLS ((path, method, params) each) without waiting in between;
        returns the error name of each (None for success), in order."""
        results = [Ellipsis] * len(calls)
        loop = GLib.MainLoop()

        def done(connection, res, index):
            try:
                connection.call_finish(res)
                results[index] = None
            except GLib.Error as error:
                results[index] = Gio.DBusError.get_remote_error(error) or error.message
            if Ellipsis not in results:
                loop.quit()

        for index, (path, method, params) in enumerate(calls):
            self.client.connection.call(BUS_NAME, path, MACHINE_IFACE, method, params, None,
                                        Gio.DBusCallFlags.NONE, 10000, None, done, index)
        loop.run()
        return results

    def machine_exists(self, name):
        try:
            self.client.find_machine(name)
            return True
        except DBusError as error:
            self.assertEqual(error.name, NO_SUCH_MACHINE)
            return False

    def workers_of(self, name):
        """Live worker processes of vboxmemd whose console log is NAME's."""
        log = '/' + Gio.dbus_escape_object_path(name) + '.console.log'
        return [pid for pid in os.listdir('/proc')
                if pid.isdigit() and procfs.parent_pid(pid) == self.daemon_pid
                and procfs.alive(pid)
                and os.path.realpath((procfs.argv(pid) or [''])[0])
                == configured_worker()
                and any(arg.endswith(log) for arg in procfs.argv(pid))]

    def create(self, name):
        return self.client.create_machine(name, MemorySize=256 * MiB,
                                          CommandLine='hostile=honest')

    def test_unregister_then_start(self):
        options = GLib.Variant('(a{sv})', ({},))
        outcomes = set()
        for round_ in range(ROUNDS):
            name = f'race-start-{round_}'
            path = self.create(name)
            unregistered, started = self.send_together((path, 'Unregister', options),
                                                       (path, 'Start', options))
            outcomes.add((unregistered, started))
            if unregistered is None:
                self.assertIn(started, (NO_SUCH_MACHINE, INVALID_STATE) + OBJECT_GONE)
                self.assertFalse(self.machine_exists(name))
                self.wait_for(lambda: not self.workers_of(name),
                              f'a worker runs for the unregistered {name}')
                # The name is free again, and its charge is gone from the pool.
                self.create(name)
                self.client.unregister(self.client.find_machine(name))
            else:
                self.assertIsNone(started)
                self.assertEqual(unregistered, INVALID_STATE)
                self.client.power_off(path)
                self.client.unregister(path)
            self.wait_for(lambda: self.client.pool()['MemoryCommitted'] == 0,
                          lambda: f'the pool holds {self.client.pool()}')
        print(f'outcomes: {sorted(outcomes, key=str)}')

    def test_unregister_then_modify(self):
        options = GLib.Variant('(a{sv})', ({},))
        changes = GLib.Variant('(a{sv})', (settings_entries({'CPUs': 2}),))
        for round_ in range(ROUNDS):
            name = f'race-modify-{round_}'
            path = self.create(name)
            unregistered, modified = self.send_together((path, 'Unregister', options),
                                                        (path, 'Modify', changes))
            self.assertIsNone(unregistered)
            self.assertIn(modified, (NO_SUCH_MACHINE,) + OBJECT_GONE)
            self.assertFalse(os.path.exists(machine_file(self.state_dir, name)),
                             'the settings file came back')
            # The name can be taken again at once.
            path = self.create(name)
            self.client.unregister(path)


if __name__ == '__main__':
    testing.main()
