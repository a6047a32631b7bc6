#!/usr/bin/python3
"""Integration tests of vboxmemd on a private system bus with the real polkitd.

Run one test case under tools/with-system-bus, e.g.
  tools/with-system-bus -- /usr/bin/python3 tests/test_daemon.py TestBadInput.test_bad_cpus
tests/meson.build registers each test case as its own meson test.
"""

import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'harness'))

from gi.repository import Gio, GLib  # noqa: E402

from vboxmem_harness import MiB, kvm, procfs, testing  # noqa: E402
from vboxmem_harness.daemon import (  # noqa: E402
    BALLOON_IFACE, BUS_NAME, ERROR, GUEST_IFACE, MACHINE_IFACE, MANAGER_IFACE, MANAGER_PATH,
    NOT_AUTHORIZED, OBJECT_MANAGER_IFACE, PAGE_FUSION_IFACE, ROOT_PATH, machine_file,
    machine_path)
from vboxmem_harness.daemontest import DaemonTestCase, is_console_log, run  # noqa: E402
from vboxmem_harness.users import USER_IN_GROUP, USER_OUTSIDE  # noqa: E402

INVALID = ERROR + 'InvalidArgument'
INVALID_STATE = ERROR + 'InvalidState'
# A second call on an unregistered machine's object: the daemon may answer
# itself or, once the object is gone, GDBus answers for it.
GONE = (ERROR + 'NoSuchMachine', 'org.freedesktop.DBus.Error.UnknownObject',
        'org.freedesktop.DBus.Error.UnknownMethod')
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'


class TestAuthorization(DaemonTestCase):
    """Without a polkit rule, only root may change the registry."""

    def test_nonroot_create_refused(self):
        for user in (USER_OUTSIDE, USER_IN_GROUP):
            client = self.as_user(user)
            with self.assertStateUnchanged():
                self.assertDBusError(NOT_AUTHORIZED, client.create_machine, 'intruder',
                                     MemorySize=64 * MiB)
        self.assertEqual(self.state_files(), [])
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'intruder')

    def test_nonroot_modify_unregister_refused(self):
        path = self.client.create_machine('rootvm', MemorySize=128 * MiB, CPUs=2)
        before = self.client.machine_state(path)
        for user in (USER_OUTSIDE, USER_IN_GROUP):
            client = self.as_user(user)
            with self.assertStateUnchanged():
                self.assertDBusError(NOT_AUTHORIZED, client.modify, path, MemorySize=256 * MiB)
                self.assertDBusError(NOT_AUTHORIZED, client.unregister, path)
                for method in ('Start', 'PowerOff', 'Pause', 'Resume'):
                    self.assertDBusError(NOT_AUTHORIZED, client.machine_method, path, method)
                self.assertDBusError(NOT_AUTHORIZED, client.set_balloon_target, path, 16 * MiB)
        self.assertEqual(self.client.machine_state(path), before)
        self.assertEqual(self.client.find_machine('rootvm'), path)


class TestGroupRule(DaemonTestCase):
    """Run with tests/data/vboxmem-test-group.rules given to polkitd."""

    def test_member_manages_own_machine(self):
        member = self.as_user(USER_IN_GROUP)
        path = member.create_machine('mine', MemorySize=128 * MiB)
        self.assertEqual(path, machine_path('mine'))
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'Owner'), member.uid)

        member.modify(path, MemorySize=256 * MiB, CPUs=2, BalloonDefaultSize=64 * MiB,
                      PageFusion=True)
        state = self.client.machine_state(path)
        self.assertEqual((state['MemorySize'], state['CPUs'], state['BalloonDefaultSize'],
                          state['PageFusion']), (256 * MiB, 2, 64 * MiB, True))
        # control is granted too: the calls get past polkit to the state check.
        for method in ('PowerOff', 'Pause', 'Resume'):
            self.assertDBusError(INVALID_STATE, member.machine_method, path, method)

        member.unregister(path)
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'mine')
        self.assertEqual(self.state_files(), [])

    def test_member_starts_own_machine(self):
        reason = kvm.machines_unusable_reason()
        if reason:
            self.skipTest(f'cannot run machines here: {reason}')
        member = self.as_user(USER_IN_GROUP)
        path = member.create_machine('mine', MemorySize=64 * MiB)
        member.start(path)
        self.assertEqual(self.client.state(path), 'running')
        self.assertDBusError(INVALID_STATE, member.start, path)
        with self.assertStateUnchanged(ignore=is_console_log):
            self.assertDBusError(INVALID_STATE, member.modify, path, CPUs=2)
            self.assertDBusError(INVALID_STATE, member.unregister, path)
        member.power_off(path)
        self.assertEqual(self.client.state(path), 'powered-off')
        member.unregister(path)
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'mine')

    def test_member_refused_on_other_users_machine(self):
        member = self.as_user(USER_IN_GROUP)
        path = self.client.create_machine('rootvm', MemorySize=128 * MiB)
        before = self.client.machine_state(path)
        with self.assertStateUnchanged():
            self.assertDBusError(NOT_AUTHORIZED, member.modify, path, MemorySize=256 * MiB)
            self.assertDBusError(NOT_AUTHORIZED, member.unregister, path)
            for method in ('Start', 'PowerOff', 'Pause', 'Resume'):
                self.assertDBusError(NOT_AUTHORIZED, member.machine_method, path, method)
            self.assertDBusError(NOT_AUTHORIZED, member.set_balloon_target, path, 16 * MiB)
            self.assertDBusError(NOT_AUTHORIZED, member.read_console_log, path)
        self.assertEqual(self.client.machine_state(path), before)

    def test_nonmember_refused(self):
        member = self.as_user(USER_IN_GROUP)
        outsider = self.as_user(USER_OUTSIDE)
        path = member.create_machine('members', MemorySize=128 * MiB)
        with self.assertStateUnchanged():
            self.assertDBusError(NOT_AUTHORIZED, outsider.create_machine, 'outsiders',
                                 MemorySize=64 * MiB)
            self.assertDBusError(NOT_AUTHORIZED, outsider.modify, path, CPUs=4)
            self.assertDBusError(NOT_AUTHORIZED, outsider.unregister, path)


class TestCommandLineTools(DaemonTestCase):
    """The API is usable from busctl and gdbus, as a user would try it."""

    def busctl(self, *args):
        completed = run(['busctl', '--system'] + list(args))
        self.assertEqual(completed.returncode, 0, completed.stderr)
        return completed.stdout.strip()

    def busctl_property(self, path, iface, name):
        return self.busctl('get-property', BUS_NAME, path, iface, name)

    def gdbus_call(self, path, method, *args):
        completed = run(['gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path', path,
                         '--method', method] + list(args))
        return completed

    def test_busctl_lifecycle(self):
        reply = self.busctl('call', BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'CreateMachine',
                            'sa{sv}', 'busctlvm', '3', 'MemorySize', 't', str(256 * MiB),
                            'CPUs', 'u', '2', 'PageFusion', 'b', 'true')
        path = machine_path('busctlvm')
        self.assertEqual(reply, f'o "{path}"')
        self.assertEqual(self.busctl('call', BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                     'FindMachine', 's', 'busctlvm'), f'o "{path}"')
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'MemorySize'),
                         f't {256 * MiB}')
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'CPUs'), 'u 2')
        self.assertEqual(self.busctl_property(path, PAGE_FUSION_IFACE, 'Enabled'), 'b true')
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'Name'), 's "busctlvm"')
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'Owner'), 'u 0')
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'State'), 's "powered-off"')

        self.busctl('call', BUS_NAME, path, MACHINE_IFACE, 'Modify', 'a{sv}', '2',
                    'MemorySize', 't', str(512 * MiB), 'BalloonDefaultSize', 't', str(128 * MiB))
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'MemorySize'),
                         f't {512 * MiB}')
        self.assertEqual(self.busctl_property(path, BALLOON_IFACE, 'DefaultSize'),
                         f't {128 * MiB}')

        self.busctl('call', BUS_NAME, path, MACHINE_IFACE, 'Unregister', 'a{sv}', '0')
        completed = run(['busctl', '--system', 'call', BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                         'FindMachine', 's', 'busctlvm'])
        self.assertNotEqual(completed.returncode, 0)
        self.assertEqual(self.state_files(), [])

    def test_gdbus_lifecycle(self):
        completed = self.gdbus_call(MANAGER_PATH, MANAGER_IFACE + '.CreateMachine', 'gdbusvm',
                                    f"{{'MemorySize': <uint64 {128 * MiB}>, "
                                    "'CommandLine': <'console=ttyS0 quiet'>}")
        self.assertEqual(completed.returncode, 0, completed.stderr)
        path = machine_path('gdbusvm')
        self.assertEqual(completed.stdout.strip(), f"(objectpath '{path}',)")
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'CommandLine'),
                         's "console=ttyS0 quiet"')

        completed = self.gdbus_call(path, MACHINE_IFACE + '.Modify',
                                    "{'DeflateOnOom': <true>, 'CPUs': <uint32 3>}")
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(self.busctl_property(path, BALLOON_IFACE, 'DeflateOnOom'), 'b true')
        self.assertEqual(self.busctl_property(path, MACHINE_IFACE, 'CPUs'), 'u 3')

        completed = self.gdbus_call(path, MACHINE_IFACE + '.Modify', "{'CPUs': <uint32 0>}")
        self.assertNotEqual(completed.returncode, 0)
        self.assertIn(INVALID, completed.stderr)

        completed = self.gdbus_call(path, MACHINE_IFACE + '.Unregister', '{}')
        self.assertEqual(completed.returncode, 0, completed.stderr)
        completed = self.gdbus_call(MANAGER_PATH, MANAGER_IFACE + '.FindMachine', 'gdbusvm')
        self.assertNotEqual(completed.returncode, 0)
        self.assertIn(ERROR + 'NoSuchMachine', completed.stderr)


class TestBadInput(DaemonTestCase):
    """Every refused input names its error and leaves the state directory alone.

    Invalid UTF-8 in a name cannot be sent: D-Bus itself only carries valid
    UTF-8 strings, so GLib refuses to build such a message.
    """

    def assertInvalid(self, function, *args, key=None, **kwargs):
        with self.assertStateUnchanged():
            error = self.assertDBusError(INVALID, function, *args, **kwargs)
        if key is not None:
            self.assertIn(key, error.message, 'the error does not name the key')

    def base_machine(self, **values):
        values.setdefault('MemorySize', 64 * MiB)
        path = self.client.create_machine('base', **values)
        return path, self.client.machine_state(path)

    def test_bad_names(self):
        bad_names = ['', 'a' * 65, '\u00e9' * 32 + 'a', 'a/b', '/', '..', '.', '.hidden',
                     'tab\there', 'new\nline', 'cr\rhere', 'esc\x1b', 'del\x7f', 'c1\u0085']
        for name in bad_names:
            with self.subTest(name=name):
                self.assertInvalid(self.client.create_machine, name, MemorySize=64 * MiB)
        self.assertEqual(self.state_files(), [])

    def test_valid_name_edges(self):
        names = ['a' * 64, '\u00e9' * 32, 'web 1 (copy)', 'x..y', 'a.b', 'under_score-dash',
                 'a_2f']
        for name in names:
            with self.subTest(name=name):
                path = self.client.create_machine(name, MemorySize=64 * MiB)
                self.assertEqual(path, machine_path(name))
                self.assertEqual(self.client.find_machine(name), path)
                self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'Name'), name)
                self.assertTrue(os.path.exists(machine_file(self.state_dir, name)))
        self.assertEqual(len(self.state_files()), len(names))

    def test_duplicate_name(self):
        path, before = self.base_machine(CPUs=2)
        with self.assertStateUnchanged():
            self.assertDBusError(ERROR + 'AlreadyExists', self.client.create_machine, 'base',
                                 MemorySize=128 * MiB, CPUs=4)
        self.assertEqual(self.client.machine_state(path), before)

    def test_bad_memory_size(self):
        total = procfs.host_memory_total()
        above_host = (total // MiB + 1) * MiB
        for size in (0, MiB + 1, MiB - 1, 64 * MiB + 4096, above_host, 2**64 - MiB):
            with self.subTest(size=size):
                self.assertInvalid(self.client.create_machine, 'mem', MemorySize=size)
        path, before = self.base_machine()
        for size in (0, 3 * MiB // 2, above_host):
            with self.subTest(modify=size):
                self.assertInvalid(self.client.modify, path, MemorySize=size)
        self.assertEqual(self.client.machine_state(path), before)
        # The largest size the host allows is accepted.
        largest = total // MiB * MiB
        self.client.modify(path, MemorySize=largest)
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'MemorySize'), largest)

    def test_balloon_larger_than_memory(self):
        self.assertInvalid(self.client.create_machine, 'bal', MemorySize=64 * MiB,
                           BalloonDefaultSize=128 * MiB)
        self.assertInvalid(self.client.create_machine, 'bal', MemorySize=64 * MiB,
                           BalloonDefaultSize=MiB + 1)
        path, before = self.base_machine(BalloonDefaultSize=48 * MiB)
        self.assertInvalid(self.client.modify, path, BalloonDefaultSize=128 * MiB)
        self.assertInvalid(self.client.modify, path, BalloonDefaultSize=3 * MiB // 2)
        # Shrinking the memory below the balloon already set is refused too.
        self.assertInvalid(self.client.modify, path, MemorySize=32 * MiB)
        self.assertEqual(self.client.machine_state(path), before)
        # Both at once are checked against each other's new value.
        self.client.modify(path, MemorySize=32 * MiB, BalloonDefaultSize=32 * MiB)
        state = self.client.machine_state(path)
        self.assertEqual((state['MemorySize'], state['BalloonDefaultSize']),
                         (32 * MiB, 32 * MiB))

    def test_bad_cpus(self):
        for cpus in (0, 65, 2**32 - 1):
            with self.subTest(cpus=cpus):
                self.assertInvalid(self.client.create_machine, 'cpus', MemorySize=64 * MiB,
                                   CPUs=cpus)
        path, before = self.base_machine()
        self.assertInvalid(self.client.modify, path, CPUs=0)
        self.assertInvalid(self.client.modify, path, CPUs=65)
        self.assertEqual(self.client.machine_state(path), before)
        self.client.modify(path, CPUs=64)
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'CPUs'), 64)
        self.client.modify(path, CPUs=1)
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'CPUs'), 1)

    def test_bad_kernel_and_initrd(self):
        kernel = self.create_file('vmlinuz', b'not really a kernel')
        bad_paths = ['vmlinuz', 'relative/vmlinuz', './vmlinuz', '/nonexistent/vmlinuz',
                     self.test_dir]
        for key in ('Kernel', 'Initrd'):
            for value in bad_paths:
                with self.subTest(key=key, value=value):
                    self.assertInvalid(self.client.create_machine, 'kern', MemorySize=64 * MiB,
                                       **{key: value})
        path, before = self.base_machine()
        for key in ('Kernel', 'Initrd'):
            self.assertInvalid(self.client.modify, path, **{key: '/nonexistent/file'})
        self.assertEqual(self.client.machine_state(path), before)
        self.client.modify(path, Kernel=kernel, Initrd=kernel)
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'Kernel'), kernel)
        self.client.modify(path, Kernel='', Initrd='')
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'Kernel'), '')

    def test_bad_command_line(self):
        for index, value in enumerate(('x' * 2048, '\u00e9' * 1024, 'console=ttyS0\nquiet',
                                       'a\x01b')):
            with self.subTest(case=index):
                self.assertInvalid(self.client.create_machine, 'cmd', MemorySize=64 * MiB,
                                   CommandLine=value)
        path, before = self.base_machine()
        self.assertInvalid(self.client.modify, path, CommandLine='x' * 2048)
        self.assertEqual(self.client.machine_state(path), before)
        self.client.modify(path, CommandLine='y' * 2047)
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'CommandLine'),
                         'y' * 2047)

    def test_unknown_key(self):
        self.assertInvalid(self.client.create_machine_raw, 'unk',
                           {'MemorySize': GLib.Variant('t', 64 * MiB),
                            'Bogus': GLib.Variant('u', 1)}, key='Bogus')
        self.assertInvalid(self.client.create_machine_raw, 'unk',
                           {'MemorySize': GLib.Variant('t', 64 * MiB),
                            'memorysize': GLib.Variant('t', 64 * MiB)}, key='memorysize')
        path, before = self.base_machine()
        self.assertInvalid(self.client.modify_raw, path, {'Frobnicate': GLib.Variant('b', True)},
                           key='Frobnicate')
        self.assertEqual(self.client.machine_state(path), before)

    def test_wrong_type(self):
        wrong = {'MemorySize': GLib.Variant('s', '64'), 'CPUs': GLib.Variant('t', 2),
                 'Kernel': GLib.Variant('u', 0), 'CommandLine': GLib.Variant('as', ['a']),
                 'BalloonDefaultSize': GLib.Variant('u', 0), 'PageFusion': GLib.Variant('s', 'on'),
                 'DeflateOnOom': GLib.Variant('u', 1), 'FreePageReporting': GLib.Variant('i', 1)}
        for key, value in wrong.items():
            with self.subTest(key=key):
                entries = {'MemorySize': GLib.Variant('t', 64 * MiB), key: value}
                self.assertInvalid(self.client.create_machine_raw, 'typ', entries, key=key)
        path, before = self.base_machine()
        self.assertInvalid(self.client.modify_raw, path, {'MemorySize': GLib.Variant('u', 64)},
                           key='MemorySize')
        self.assertEqual(self.client.machine_state(path), before)

    def test_missing_memory_size(self):
        self.assertInvalid(self.client.create_machine, 'nomem')
        self.assertInvalid(self.client.create_machine, 'nomem', CPUs=2)
        self.assertEqual(self.state_files(), [])

    def test_modify_refuses_whole_call(self):
        path, before = self.base_machine()
        self.assertInvalid(self.client.modify, path, CPUs=4, PageFusion=True, MemorySize=0)
        self.assertInvalid(self.client.modify_raw, path, {'CPUs': GLib.Variant('u', 4),
                                                          'Bogus': GLib.Variant('b', True)})
        self.assertEqual(self.client.machine_state(path), before)

    def test_find_unknown_machine(self):
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'nosuchvm')
        self.client.create_machine('known', MemorySize=64 * MiB)
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'Known')

    def test_unregister_twice(self):
        path = self.client.create_machine('twice', MemorySize=64 * MiB)
        self.client.unregister(path)
        self.assertEqual(self.state_files(), [])
        with self.assertStateUnchanged():
            self.assertDBusError(GONE, self.client.unregister, path)
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'twice')


class TestPoweredOff(DaemonTestCase):
    """What a powered-off machine refuses, without running any machine."""

    def test_control_methods_need_a_running_machine(self):
        path = self.client.create_machine('ctl', MemorySize=64 * MiB)
        with self.assertStateUnchanged():
            for method in ('PowerOff', 'Pause', 'Resume'):
                with self.subTest(method=method):
                    self.assertDBusError(INVALID_STATE, self.client.machine_method, path,
                                         method)
            self.assertDBusError(INVALID_STATE, self.client.set_balloon_target, path, 16 * MiB)
            # Bad sizes are refused as such in any state.
            for size in (128 * MiB, MiB + 1):
                with self.subTest(size=size):
                    self.assertDBusError(INVALID, self.client.set_balloon_target, path, size)
            self.assertDBusError(INVALID, self.client.call, path, MACHINE_IFACE, 'Pause',
                                 GLib.Variant('(a{sv})', ({'force': GLib.Variant('b', True)},)))
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'State'), 'powered-off')
        self.assertEqual(self.client.balloon(path), (0, 0))
        self.assertEqual(self.client.read_console_log(path), '')

    def test_metrics_without_running_machines(self):
        path = self.client.create_machine('idle', MemorySize=64 * MiB)
        host = self.client.metrics()
        self.assertEqual({name for name, _metric in host}, {'host'})
        self.assertEqual({metric for _name, metric in host},
                         {'RAM/VMM/Used', 'RAM/VMM/Free', 'RAM/VMM/Ballooned', 'RAM/VMM/Shared'})
        pool = self.client.pool()
        self.assertEqual(pool['MemoryCommitted'], 0)
        self.assertEqual(pool['MemoryAvailable'], pool['MemoryPool'])
        self.assertEqual(host[('host', 'RAM/VMM/Free')][0], pool['MemoryAvailable'])
        self.assertEqual(host[('host', 'RAM/VMM/Used')][0], 0)
        self.assertEqual(self.client.query_metrics(['idle'], ['Guest/RAM/Usage/*']), [])
        self.assertEqual(self.client.query_metrics(['host'], ['Guest/*']), [])
        self.assertDBusError(INVALID, self.client.query_metrics, [], ['RAM/VMM/Used:median'])
        self.assertDBusError(INVALID, self.client.query_metrics, [], [':avg'])
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'State'), 'powered-off')


class TestPersistence(DaemonTestCase):
    def test_restart_restores_machines(self):
        kernel = self.create_file('vmlinuz', b'kernel')
        initrd = self.create_file('initrd.img', b'initrd')
        self.client.create_machine('alpha', MemorySize=256 * MiB)
        self.client.create_machine('beta', MemorySize=512 * MiB, CPUs=4, Kernel=kernel,
                                   Initrd=initrd,
                                   CommandLine='console=ttyS0 quiet "x=y z" \u00e9=1',
                                   BalloonDefaultSize=128 * MiB, PageFusion=True,
                                   DeflateOnOom=True, FreePageReporting=True)
        gamma = self.client.create_machine('gamma \u00e9 x', MemorySize=64 * MiB)
        self.client.modify(gamma, MemorySize=128 * MiB, CPUs=2, PageFusion=True)
        self.client.unregister(self.client.create_machine('delta', MemorySize=64 * MiB))
        member = self.as_user(USER_IN_GROUP)
        member.create_machine('members', MemorySize=64 * MiB, CPUs=3)

        before = {path: self.client.machine_state(path)
                  for path in self.client.managed_objects() if '/machine/' in path}
        self.assertEqual(len(before), 4)
        self.assertEqual(before[machine_path('members')]['Owner'], member.uid)

        self.restart_daemon()
        after = {path: self.client.machine_state(path)
                 for path in self.client.managed_objects() if '/machine/' in path}
        self.assertEqual(after, before)
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'delta')
        # Restored machines are live objects, not copies.
        self.client.modify(gamma, CPUs=1)
        self.assertEqual(self.client.get_property(gamma, MACHINE_IFACE, 'CPUs'), 1)

    def test_corrupted_files_are_skipped(self):
        good = self.client.create_machine('good', MemorySize=64 * MiB)
        self.client.create_machine('badvalue', MemorySize=64 * MiB)
        self.stop_daemon()

        bad_value_file = machine_file(self.state_dir, 'badvalue')
        with open(bad_value_file) as f:
            content = f.read()
        # The memory size's key, whether it counts bytes or MiB.
        memory_key = re.compile(rf'(?m)^(Memory\w*)=(64|{64 * MiB})$')
        self.assertRegex(content, memory_key, 'no memory size key found')
        with open(bad_value_file, 'w') as f:
            f.write(memory_key.sub(r'\1=0', content))
        bad_files = {
            'badvalue': bad_value_file,
            'garbage': machine_file(self.state_dir, 'garbage'),
            'nogroup': machine_file(self.state_dir, 'nogroup'),
        }
        with open(bad_files['garbage'], 'wb') as f:
            f.write(b'\x00\xff\xfe garbage [[[ not a key file\n=\n')
        with open(bad_files['nogroup'], 'w') as f:
            f.write(f'MemorySize={64 * MiB}\nCPUs=1\n')

        with self.assertStateUnchanged():
            log_offset = self.start_daemon()
            log = self.daemon_log(log_offset)
            for name, path in bad_files.items():
                with self.subTest(file=path):
                    lines = [line for line in log.splitlines() if path in line]
                    self.assertTrue(lines, f'the log does not name {path}:\n{log}')
                    self.assertGreater(len(lines[0]), len(path) + 10,
                                       f'the log gives no reason for {path}')
                    self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, name)
                    self.assertDBusError(ERROR + 'AlreadyExists', self.client.create_machine,
                                         name, MemorySize=64 * MiB)
            self.assertEqual(self.client.find_machine('good'), good)
            self.assertEqual(self.client.get_property(good, MACHINE_IFACE, 'MemorySize'),
                             64 * MiB)
        self.client.modify(good, CPUs=2)
        self.assertEqual(self.client.get_property(good, MACHINE_IFACE, 'CPUs'), 2)

    def test_writes_are_atomic_and_private(self):
        path = self.client.create_machine('durable', MemorySize=64 * MiB, CPUs=2)
        file = machine_file(self.state_dir, 'durable')
        self.assertEqual(self.state_files(), [os.path.basename(file)])
        info = os.stat(file)
        self.assertEqual(info.st_mode & 0o002, 0, 'the machine file is world-writable')
        keyfile = GLib.KeyFile()
        with open(file, 'rb') as f:
            content = f.read()
        keyfile.load_from_data(content.decode(), len(content), GLib.KeyFileFlags.NONE)

        self.client.modify(path, CPUs=3)
        self.assertEqual(self.state_files(), [os.path.basename(file)])
        new_info = os.stat(file)
        self.assertNotEqual(new_info.st_ino, info.st_ino,
                            'Modify rewrote the file in place instead of replacing it')
        with open(file, 'rb') as f:
            self.assertNotEqual(f.read(), content)
        self.assertEqual(new_info.st_mode & 0o002, 0)

        self.client.unregister(path)
        self.assertEqual(self.state_files(), [])


class TestPolkitUnavailable(DaemonTestCase):
    """Run with tools/with-system-bus --no-polkit."""

    def test_create_without_polkit(self):
        with self.assertStateUnchanged():
            self.assertDBusError(ERROR + 'PolkitUnavailable', self.client.create_machine,
                                 'nopolkit', MemorySize=64 * MiB)
        self.assertEqual(self.state_files(), [])
        # What needs no authorization still works.
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'nopolkit')
        self.assertTrue(self.client.get_property(MANAGER_PATH, MANAGER_IFACE, 'Version'))


def contract_interfaces():
    """The interfaces of dbus/org.vboxmem.VBoxMem1.xml, by name."""
    source_dir = os.environ.get('VBOXMEM_SOURCE_DIR',
                                os.path.join(os.path.dirname(__file__), '..'))
    with open(os.path.join(source_dir, 'dbus', 'org.vboxmem.VBoxMem1.xml')) as f:
        node = Gio.DBusNodeInfo.new_for_xml(f.read())
    return {iface.name: iface for iface in node.interfaces}


def busctl_members(output):
    """busctl introspect's table as {interface: {member: (kind, signature)}}."""
    interfaces = {}
    current = None
    for line in output.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 3:
            continue
        if fields[1] == 'interface':
            current = interfaces.setdefault(fields[0], {})
        elif current is not None and fields[0].startswith('.'):
            current[fields[0][1:]] = (fields[1], fields[2])
    return interfaces


class TestIntrospection(DaemonTestCase):
    def introspect(self, path):
        completed = run(['busctl', '--system', 'introspect', BUS_NAME, path])
        self.assertEqual(completed.returncode, 0, completed.stderr)
        return busctl_members(completed.stdout)

    def assertMatchesContract(self, exported, iface):
        self.assertIn(iface.name, exported)
        members = exported[iface.name]
        expected = {}
        for method in iface.methods:
            expected[method.name] = ('method', ''.join(a.signature for a in method.in_args)
                                     or '-')
        for prop in iface.properties:
            expected[prop.name] = ('property', prop.signature)
        for signal_info in iface.signals:
            expected[signal_info.name] = ('signal', ''.join(a.signature
                                                            for a in signal_info.args) or '-')
        self.assertEqual(members, expected, f'{iface.name} differs from the contract')

    def test_introspection(self):
        contract = contract_interfaces()
        self.assertIn(OBJECT_MANAGER_IFACE, self.introspect(ROOT_PATH))

        manager = self.introspect(MANAGER_PATH)
        self.assertMatchesContract(manager, contract[MANAGER_IFACE])

        path = self.client.create_machine('web1', MemorySize=64 * MiB)
        machine = self.introspect(path)
        for name in (MACHINE_IFACE, BALLOON_IFACE, PAGE_FUSION_IFACE, GUEST_IFACE):
            with self.subTest(interface=name):
                self.assertMatchesContract(machine, contract[name])
        self.assertNotIn(MANAGER_IFACE, machine)

        objects = self.client.managed_objects()
        self.assertIn(path, objects)
        self.assertTrue({MACHINE_IFACE, BALLOON_IFACE, PAGE_FUSION_IFACE,
                         GUEST_IFACE} <= set(objects[path]))
        self.assertEqual(objects[path][MACHINE_IFACE]['Name'], 'web1')


class TestBusPolicy(DaemonTestCase):
    def test_nonroot_cannot_own_name(self):
        for user in (USER_OUTSIDE, USER_IN_GROUP):
            client = self.as_user(user)
            for flags in (0, 4):
                with self.subTest(user=user, flags=flags):
                    self.assertDBusError(ACCESS_DENIED, client.request_name, BUS_NAME, flags)
        self.assertTrue(self.name_has_owner(BUS_NAME))

    def test_nonroot_can_query(self):
        path = self.client.create_machine('shared', MemorySize=128 * MiB, CPUs=2)
        outsider = self.as_user(USER_OUTSIDE)
        self.assertEqual(outsider.find_machine('shared'), path)
        self.assertDBusError(ERROR + 'NoSuchMachine', outsider.find_machine, 'unknown')
        self.assertEqual(outsider.get_property(path, MACHINE_IFACE, 'MemorySize'), 128 * MiB)
        self.assertEqual(outsider.get_all(path, MACHINE_IFACE)['CPUs'], 2)
        self.assertEqual(outsider.get_property(MANAGER_PATH, MANAGER_IFACE, 'Version'),
                         self.client.get_property(MANAGER_PATH, MANAGER_IFACE, 'Version'))
        self.assertIn(path, outsider.managed_objects())
        # Properties are read-only, and the bus policy does not even pass Set on.
        params = GLib.Variant('(ssv)', (MACHINE_IFACE, 'CPUs', GLib.Variant('u', 8)))
        self.assertDBusError(ACCESS_DENIED, outsider.call, path,
                             'org.freedesktop.DBus.Properties', 'Set', params)
        self.assertEqual(self.client.get_property(path, MACHINE_IFACE, 'CPUs'), 2)


if __name__ == '__main__':
    testing.main(meson_build='tests/meson.build')
