#!/usr/bin/python3
"""Integration tests of running machines: vboxmemd, its vboxmem-vm workers and
the ring-3 test guest on real KVM, on a private system bus with the real polkitd.

Run one test case under tools/with-system-bus, e.g.
  tools/with-system-bus --pool-mib 1024 -- /usr/bin/python3 tests/test_vms.py \\
      TestPool.test_balloon_makes_room_for_another_machine
tests/meson.build registers each test case as its own meson test (suite 'vms').
Every case is skipped (exit 77) without a usable /dev/kvm.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'harness'))

from gi.repository import GLib  # noqa: E402

from vboxmem_harness import MiB, procfs, testing  # noqa: E402
from vboxmem_harness.daemon import (  # noqa: E402
    BALLOON_IFACE, ERROR, GUEST_IFACE, MACHINE_IFACE, MANAGER_IFACE, MANAGER_PATH,
    NOT_AUTHORIZED, Client, PropertiesRecorder, machine_path)
from vboxmem_harness.daemontest import MachineTestCase, is_console_log  # noqa: E402
from vboxmem_harness.guest import READY as GUEST_READY  # noqa: E402
from vboxmem_harness.guest import SCRIPT_DONE as GUEST_SCRIPT_DONE  # noqa: E402
from vboxmem_harness.users import USER_IN_GROUP, USER_OUTSIDE  # noqa: E402

INVALID_STATE = ERROR + 'InvalidState'
INVALID_ARGUMENT = ERROR + 'InvalidArgument'
INSUFFICIENT_MEMORY = ERROR + 'InsufficientMemory'
UNKNOWN = 18446744073709551615  # a Guest statistic the guest has not reported

# vboxmemd's default metrics period (Metrics.PeriodMs), in seconds.
METRICS_PERIOD = 1.0


def guest_script(*steps):
    """A test guest command line running STEPS (guest/README.md)."""
    return 'vboxmem.script=' + ','.join(steps)


class TestLifecycle(MachineTestCase):
    def test_start_balloon_power_off(self):
        path = self.create_machine('life', MemorySize=1024 * MiB,
                                   CommandLine=guest_script('alloc:768M:seed=1', 'free:768M'))
        recorder = PropertiesRecorder(self.client, path)
        self.addCleanup(recorder.close)

        self.client.start(path)
        self.assertEqual(self.client.state(path), 'running')
        states = self.wait_for(lambda: 'running' in recorder.values(path, MACHINE_IFACE, 'State')
                               and recorder.values(path, MACHINE_IFACE, 'State'),
                               'PropertiesChanged announces State running')
        self.assertEqual(states[-1], 'running', states)
        self.assertTrue(set(states[:-1]) <= {'starting'}, states)
        self.assertEqual(self.client.pool()['MemoryCommitted'], 1024 * MiB)

        # The guest dirtied 768 MiB and freed them: the worker holds them until
        # a balloon takes them.
        self.wait_console(path, GUEST_SCRIPT_DONE)
        pid = self.worker_pid('life')
        rss_before = procfs.rss(pid)
        self.assertGreater(rss_before, 700 * MiB, 'the guest did not dirty its memory')

        self.client.set_balloon_target(path, 256 * MiB)
        self.assertEqual(self.client.balloon(path)[0], 256 * MiB)
        self.wait_actual(path, 256 * MiB)
        rss_after = procfs.rss(pid)
        self.assertGreaterEqual(rss_before - rss_after, 0.9 * 256 * MiB,
                                f'VmRSS of the worker went from {rss_before // MiB} MiB '
                                f'to {rss_after // MiB} MiB only')
        self.assertIn(256 * MiB, recorder.values(path, BALLOON_IFACE, 'Actual'))
        self.assertEqual(self.client.pool()['MemoryCommitted'], 768 * MiB)

        # What needs a powered-off machine is refused, and nothing changes.
        before = self.client.machine_state(path)
        with self.assertStateUnchanged(ignore=is_console_log):
            self.assertDBusError(INVALID_STATE, self.client.modify, path, CPUs=2)
            self.assertDBusError(INVALID_STATE, self.client.modify, path, MemorySize=512 * MiB)
            self.assertDBusError(INVALID_STATE, self.client.unregister, path)
            self.assertDBusError(INVALID_STATE, self.client.start, path)
            self.assertDBusError(INVALID_STATE, self.client.machine_method, path, 'Resume')
            self.assertDBusError(INVALID_ARGUMENT, self.client.set_balloon_target, path,
                                 1025 * MiB)
        self.assertEqual(self.client.machine_state(path), before)
        self.assertEqual(self.client.find_machine('life'), path)
        self.assertEqual(self.client.balloon(path), (256 * MiB, 256 * MiB))

        # Paused: the balloon target can be set, the guest gives nothing until it runs.
        self.client.machine_method(path, 'Pause')
        self.assertEqual(self.client.state(path), 'paused')
        self.assertDBusError(INVALID_STATE, self.client.machine_method, path, 'Pause')
        self.client.set_balloon_target(path, 0)
        self.assertEqual(self.client.balloon(path), (0, 256 * MiB))
        self.client.machine_method(path, 'Resume')
        self.assertEqual(self.client.state(path), 'running')
        self.wait_actual(path, 0)
        self.assertEqual(self.client.pool()['MemoryCommitted'], 1024 * MiB)

        self.client.power_off(path)
        self.assertEqual(self.client.state(path), 'powered-off')
        self.wait_for(lambda: not procfs.alive(pid), f'the worker ({pid}) is gone')
        self.assertEqual(self.client.balloon(path), (0, 0))
        self.assertEqual(self.client.get_property(path, GUEST_IFACE, 'MemoryTotal'), UNKNOWN)
        self.assertEqual(self.client.pool()['MemoryCommitted'], 0)
        states = self.wait_for(
            lambda: recorder.values(path, MACHINE_IFACE, 'State')[-1] == 'powered-off'
            and recorder.values(path, MACHINE_IFACE, 'State'),
            'PropertiesChanged announces State powered-off')
        self.assertIn('paused', states)
        after_pause = states[states.index('paused') + 1:]
        self.assertEqual([s for s in after_pause if s != 'stopping'], ['running', 'powered-off'],
                         states)
        self.assertDBusError(INVALID_STATE, self.client.power_off, path)

        # Powered off, it is a registered machine like any other again.
        self.client.modify(path, CPUs=2)
        self.client.unregister(path)
        self.assertDBusError(ERROR + 'NoSuchMachine', self.client.find_machine, 'life')


class TestRestart(MachineTestCase):
    # How long vboxmemd lets a worker take to power off before it kills it.
    POWER_OFF_GRACE = 10

    # The timer armed at PowerOff must not outlive that run: a run started
    # within POWER_OFF_GRACE of the last PowerOff must not be killed by it.
    def test_run_started_soon_after_power_off_survives(self):
        path = self.create_machine('again', MemorySize=64 * MiB)
        self.client.start(path)
        self.client.power_off(path)
        self.client.start(path)
        self.wait_console(path, GUEST_READY)
        log_offset = self.daemon_log_size()
        time.sleep(self.POWER_OFF_GRACE + 2)
        self.assertEqual(self.client.state(path), 'running')
        self.assertNotIn('killing its worker', self.daemon_log(log_offset))


class TestPool(MachineTestCase):
    """Run with tools/with-system-bus --pool-mib 1024."""

    def test_balloon_makes_room_for_another_machine(self):
        self.assertEqual(self.client.pool(), {'MemoryPool': 1024 * MiB, 'MemoryCommitted': 0,
                                              'MemoryAvailable': 1024 * MiB,
                                              'MemoryOverdrawn': 0})
        a = self.create_machine('a', MemorySize=768 * MiB,
                                CommandLine=guest_script('alloc:512M:seed=1', 'free:512M'))
        b = self.create_machine('b', MemorySize=512 * MiB)
        self.client.start(a)
        self.assertEqual(self.client.pool()['MemoryCommitted'], 768 * MiB)
        self.assertEqual(self.client.pool()['MemoryAvailable'], 256 * MiB)

        with self.assertStateUnchanged(ignore=is_console_log):
            error = self.assertDBusError(INSUFFICIENT_MEMORY, self.client.start, b)
        self.assertRegex(error.message, r'\b512 MiB\b', 'the message does not give the need')
        self.assertRegex(error.message, r'\b256 MiB\b', 'the message does not give what is left')
        self.assertEqual(self.client.state(b), 'powered-off')
        self.assertEqual(self.client.pool()['MemoryCommitted'], 768 * MiB)

        # The budget follows what the balloon really took, not the request.
        self.wait_console(a, GUEST_SCRIPT_DONE)
        self.client.set_balloon_target(a, 384 * MiB)
        self.wait_actual(a, 384 * MiB)
        self.assertEqual(self.client.pool()['MemoryCommitted'], 384 * MiB)
        self.client.start(b)
        self.assertEqual(self.client.state(b), 'running')
        self.assertEqual(self.client.pool(), {'MemoryPool': 1024 * MiB,
                                              'MemoryCommitted': (768 - 384 + 512) * MiB,
                                              'MemoryAvailable': 128 * MiB,
                                              'MemoryOverdrawn': 0})

        self.client.power_off(a)
        self.assertEqual(self.client.pool()['MemoryCommitted'], 512 * MiB)
        self.client.power_off(b)
        self.assertEqual(self.client.pool()['MemoryCommitted'], 0)


class TestPoolTrustsOnlyTheHost(MachineTestCase):
    """Run with tools/with-system-bus --pool-mib 512."""

    def test_lying_guest_gains_no_room(self):
        # The guest claims in the device's config that it gave the pages, and gives none.
        liar = self.create_machine('liar', MemorySize=384 * MiB,
                                   CommandLine='vboxmem.hostile=lie-actual')
        other = self.create_machine('other', MemorySize=256 * MiB)
        self.client.start(liar)
        self.wait_console(liar, 'vboxmem-guest: hostile lie-actual active')
        pid = self.worker_pid('liar')
        rss = procfs.rss(pid)
        self.client.set_balloon_target(liar, 256 * MiB)
        self.wait_console(liar, 'vboxmem-guest: hostile lie-actual wrote actual=65536 ')
        time.sleep(2 * METRICS_PERIOD)
        self.assertEqual(self.client.balloon(liar), (256 * MiB, 0))
        self.assertEqual(self.client.pool()['MemoryCommitted'], 384 * MiB)
        self.assertDBusError(INSUFFICIENT_MEMORY, self.client.start, other)
        self.assertLess(abs(procfs.rss(pid) - rss), 16 * MiB)


class TestRetouchingGuest(MachineTestCase):
    """Run with tools/with-system-bus --pool-mib 512."""

    def test_guest_taking_ballooned_memory_back(self):
        # The guest writes to the pages its balloon gave the host. In its memory cgroup
        # it hits its own limit; without one, the pool charges what the host measures.
        path = self.create_machine('retoucher', MemorySize=384 * MiB,
                                   CommandLine=guest_script('wait-balloon:256M:timeout=60s',
                                                            'hostile:retouch', 'hold:60s'))
        self.client.start(path)
        self.client.set_balloon_target(path, 256 * MiB)
        self.wait_actual(path, 256 * MiB)
        if 'Workers run in memory cgroups' in self.daemon_log():
            self.wait_state(path, 'aborted')
            self.assertEqual(self.client.pool()['MemoryCommitted'], 0)
            return
        self.wait_console(path, 'vboxmem-guest: hostile retouch pages=65536')
        self.wait_for(lambda: self.client.pool()['MemoryCommitted'] >= 368 * MiB,
                      lambda: f'the pool charges {self.client.pool()}')
        self.assertLessEqual(self.client.balloon(path)[1], 16 * MiB)


class TestPoolOverdrawn(MachineTestCase):
    """Run with tools/with-system-bus --pool-mib 1024."""

    def test_deflate_on_oom_overdraw_is_reported(self):
        # A gives back 384 MiB, B takes that room, then A's guest needs its memory
        # back and deflates on its own: the pool is overdrawn, and says so.
        a = self.create_machine('a', MemorySize=768 * MiB, DeflateOnOom=True,
                                CommandLine=guest_script('alloc:512M:seed=1', 'free:512M',
                                                         'wait-balloon:384M:timeout=60s',
                                                         'hold:5s', 'alloc:600M:seed=2'))
        b = self.create_machine('b', MemorySize=512 * MiB)
        self.client.start(a)
        self.client.set_balloon_target(a, 384 * MiB)
        self.wait_actual(a, 384 * MiB)
        self.client.start(b)
        self.assertEqual(self.client.pool()['MemoryOverdrawn'], 0)

        log_start = self.daemon_log_size()
        self.wait_console(a, 'vboxmem-guest: alloc 600 MiB done')
        self.wait_for(lambda: self.client.pool()['MemoryOverdrawn'] > 0,
                      'the pool to report the overdraw')
        pool = self.client.pool()
        self.assertEqual(pool['MemoryOverdrawn'], pool['MemoryCommitted'] - 1024 * MiB)
        self.assertEqual(pool['MemoryAvailable'], 0)
        target, actual = self.client.balloon(a)
        self.assertEqual(target, 384 * MiB)
        self.assertLess(actual, 384 * MiB)
        self.assertEqual(pool['MemoryCommitted'], (768 * MiB - actual) + 512 * MiB)
        self.assertIn('overdrawn', self.daemon_log(log_start))

        self.client.power_off(b)
        self.wait_for(lambda: self.client.pool()['MemoryOverdrawn'] == 0,
                      'the overdraw to end once B stopped')
        self.client.power_off(a)


class TestWorkerKilled(MachineTestCase):
    def test_kill_9_aborts_only_that_machine(self):
        victim = self.create_machine('victim', MemorySize=256 * MiB)
        other = self.create_machine('other', MemorySize=128 * MiB)
        self.client.start(victim)
        self.client.start(other)
        self.wait_console(victim, GUEST_READY)
        self.client.set_balloon_target(victim, 64 * MiB)
        self.wait_actual(victim, 64 * MiB)
        committed = self.client.pool()['MemoryCommitted']
        self.assertEqual(committed, (256 - 64 + 128) * MiB)
        recorder = PropertiesRecorder(self.client, victim)
        self.addCleanup(recorder.close)
        bystander = Client(private=True)
        pid = self.worker_pid('victim')
        log_offset = self.daemon_log_size()

        os.kill(pid, signal.SIGKILL)
        # Another client is served meanwhile.
        started = time.monotonic()
        self.assertEqual(bystander.find_machine('victim'), victim)
        self.assertTrue(bystander.query_metrics(['host'], ['RAM/VMM/*']))
        self.assertEqual(bystander.state(other), 'running')
        self.assertLess(time.monotonic() - started, 5, 'the daemon was slow to answer')

        self.wait_state(victim, 'aborted')
        self.wait_for(lambda: 'aborted' in recorder.values(victim, MACHINE_IFACE, 'State'),
                      'PropertiesChanged announces State aborted')
        # Its charge, its memory less what its balloon held, is released.
        self.assertEqual(self.client.pool()['MemoryCommitted'], committed - (256 - 64) * MiB)
        self.assertEqual(self.client.balloon(victim), (0, 0))
        self.assertEqual(self.client.state(other), 'running')
        self.assertEqual(self.workers().get(pid), None)
        self.assertRegex(self.daemon_log(log_offset), r'victim.* aborted')
        log = self.client.read_console_log(victim)
        self.assertIn(GUEST_READY, log)
        self.assertDBusError(INVALID_STATE, self.client.power_off, victim)

        # An aborted machine starts again.
        self.client.start(victim)
        self.assertEqual(self.client.state(victim), 'running')
        self.assertNotEqual(self.worker_pid('victim'), pid)
        self.wait_console(victim, GUEST_READY)
        self.assertEqual(self.client.pool()['MemoryCommitted'], (256 + 128) * MiB)
        self.client.power_off(victim)
        self.assertEqual(self.client.state(victim), 'powered-off')


class TestOwnership(MachineTestCase):
    """Run with tests/data/vboxmem-test-group.rules given to polkitd."""

    def test_owner_controls_only_own_machines(self):
        member = self.as_user(USER_IN_GROUP)
        outsider = self.as_user(USER_OUTSIDE)
        mine = self.create_machine('members', client=member, MemorySize=128 * MiB)
        roots = self.create_machine('roots', MemorySize=128 * MiB)
        self.client.start(roots)

        with self.assertStateUnchanged(ignore=is_console_log):
            self.assertDBusError(NOT_AUTHORIZED, outsider.start, mine)
        self.assertEqual(self.client.state(mine), 'powered-off')

        member.start(mine)
        self.assertEqual(self.client.state(mine), 'running')
        member.set_balloon_target(mine, 32 * MiB)
        self.assertEqual(self.client.balloon(mine)[0], 32 * MiB)
        self.wait_actual(mine, 32 * MiB)
        self.assertIn(GUEST_READY, member.read_console_log(mine))

        # Someone without a rule cannot touch it; someone with one cannot touch root's.
        for client, path, target in ((outsider, mine, 32 * MiB), (member, roots, 0)):
            with self.subTest(user=client.user, machine=path):
                for method in ('Start', 'PowerOff', 'Pause', 'Resume'):
                    self.assertDBusError(NOT_AUTHORIZED, client.machine_method, path, method)
                self.assertDBusError(NOT_AUTHORIZED, client.set_balloon_target, path, 16 * MiB)
                self.assertDBusError(NOT_AUTHORIZED, client.read_console_log, path)
                self.assertEqual(self.client.state(path), 'running')
                self.assertEqual(self.client.balloon(path)[0], target)

        member.power_off(mine)
        self.assertEqual(self.client.state(mine), 'powered-off')
        self.assertEqual(self.client.state(roots), 'running')
        self.assertEqual(self.client.pool()['MemoryCommitted'], 128 * MiB)


# One client process of TestConcurrency: runs requests for DURATION seconds and
# prints one JSON record per request: [op, machine, size, error name or None,
# serial of the reply].
def load_client(config):
    client = Client()
    rng = random.Random(config['seed'])
    memory = config['memory']
    invalid_sizes = [memory + MiB, 2 * memory, memory + 4096, MiB - 1, 3 * MiB // 2,
                     2**64 - 1]
    records = []
    deadline = time.monotonic() + config['duration']
    while time.monotonic() < deadline:
        name = rng.choice(config['machines'])
        roll = rng.random()
        if roll < 0.25:
            op, size = 'QueryMetrics', None
            objects = rng.choice([[], [name], ['host']])
            params = GLib.Variant('(asas)', (objects, []))
            path, iface = MANAGER_PATH, MANAGER_IFACE
        else:
            op = 'SetTarget'
            if roll < 0.35:
                size = rng.choice(invalid_sizes)
            else:
                size = rng.randrange(0, memory // MiB + 1) * MiB
            params = GLib.Variant('(ta{sv})', (size, {}))
            path, iface = machine_path(name), BALLOON_IFACE
        _reply, error, serial = client.call_ordered(path, iface, op, params)
        records.append([op, name, size, error, serial])
        time.sleep(rng.uniform(0, config['pause']))
    json.dump(records, sys.stdout)


class TestConcurrency(MachineTestCase):
    MACHINES = ['c1', 'c2', 'c3']
    MEMORY = 128 * MiB
    CLIENTS = 20
    DURATION = 30

    def assertCommittedMatchesBalloons(self, snapshot):
        manager = snapshot[MANAGER_PATH][MANAGER_IFACE]
        expected = sum(self.MEMORY - snapshot[machine_path(name)][BALLOON_IFACE]['Actual']
                       for name in self.MACHINES)
        self.assertEqual(manager['MemoryCommitted'], expected,
                         {name: snapshot[machine_path(name)][BALLOON_IFACE]
                          for name in self.MACHINES})

    def test_concurrent_balloon_requests(self):
        paths = {name: self.create_machine(name, MemorySize=self.MEMORY)
                 for name in self.MACHINES}
        for path in paths.values():
            self.client.start(path)
        for path in paths.values():
            self.wait_console(path, GUEST_READY)

        processes = []
        for index in range(self.CLIENTS):
            config = {'seed': index, 'duration': self.DURATION, 'machines': self.MACHINES,
                      'memory': self.MEMORY, 'pause': 0.02}
            processes.append(subprocess.Popen(
                [sys.executable, __file__, '--load-client', json.dumps(config)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # While they run, the pool always matches the balloons.
        snapshots = 0
        while any(process.poll() is None for process in processes):
            self.assertCommittedMatchesBalloons(self.client.property_snapshot())
            snapshots += 1
            time.sleep(0.2)
        records = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=30)
            self.assertEqual(process.returncode, 0, stderr)
            records.extend(json.loads(stdout))

        memory = self.MEMORY
        counts = {}
        accepted = {name: [] for name in self.MACHINES}
        for op, name, size, error, serial in records:
            valid = op == 'QueryMetrics' or (size % MiB == 0 and size <= memory)
            expected_error = None if valid else INVALID_ARGUMENT
            self.assertEqual(error, expected_error, f'{op} of {name} with {size}')
            counts[(op, error)] = counts.get((op, error), 0) + 1
            if op == 'SetTarget' and error is None:
                accepted[name].append((serial, size))
        print(f'{len(records)} requests: {counts}; {snapshots} snapshots checked')
        self.assertGreater(counts.get(('SetTarget', INVALID_ARGUMENT), 0), 0)
        self.assertGreater(counts.get(('QueryMetrics', None), 0), 0)
        serials = [serial for _op, _name, _size, _error, serial in records]
        self.assertEqual(len(set(serials)), len(serials), 'two replies have the same serial')

        for name, requests in accepted.items():
            with self.subTest(machine=name):
                self.assertTrue(requests, f'no request on {name} was accepted')
                last_serial, last_size = max(requests)
                target = self.client.balloon(paths[name])[0]
                self.assertEqual(target, last_size,
                                 f'Target of {name} is {target // MiB} MiB; the last accepted '
                                 f'request (reply serial {last_serial}) asked '
                                 f'{last_size // MiB} MiB')
        self.assertCommittedMatchesBalloons(self.client.property_snapshot())
        for name in self.MACHINES:
            self.assertEqual(self.client.state(paths[name]), 'running')


class TestMetrics(MachineTestCase):
    def read_consistently(self, read, check):
        """Calls CHECK(READ()) until it passes; READ returns the values and
        whether they could be from different samples, in which case a failing
        check is retried after a sample period."""
        for attempt in range(4):
            values, straddled = read()
            if not straddled or attempt == 3:
                check(values)
                return
            try:
                check(values)
                return
            except AssertionError as error:
                print(f'retrying after a sample period: {error}')
            time.sleep(METRICS_PERIOD)

    def test_metrics_agree_with_properties(self):
        names = ['m1', 'm2']
        paths = {
            'm1': self.create_machine('m1', MemorySize=256 * MiB, BalloonDefaultSize=64 * MiB,
                                      CommandLine=guest_script('alloc:96M:seed=1')),
            'm2': self.create_machine('m2', MemorySize=128 * MiB,
                                      CommandLine=guest_script('alloc:32M:seed=2')),
        }
        for path in paths.values():
            self.client.start(path)
        # The default balloon is requested at every start.
        self.assertEqual(self.client.balloon(paths['m1'])[0], 64 * MiB)
        self.assertEqual(self.client.balloon(paths['m2'])[0], 0)
        self.wait_actual(paths['m1'], 64 * MiB)
        for path in paths.values():
            self.wait_console(path, GUEST_SCRIPT_DONE)
        # Once both guests reported their statistics after settling, and a sample
        # was taken after that, the metrics show the settled values.
        settled = GLib.get_real_time()
        self.wait_for(lambda: all(self.client.get_property(p, GUEST_IFACE, 'LastUpdate') > settled
                                  for p in paths.values()),
                      'both guests reported statistics', timeout=10)
        reported = max(self.client.get_property(p, GUEST_IFACE, 'LastUpdate')
                       for p in paths.values())
        self.wait_for(lambda: all(stamp > reported for _v, stamp in self.client.metrics().values())
                      and {name for name, _m in self.client.metrics()} == {'host', *names},
                      'a sample of both machines is taken', timeout=10)

        def read():
            before = self.client.metrics()
            guests = {name: self.client.get_all(paths[name], GUEST_IFACE) for name in names}
            balloons = {name: self.client.balloon(paths[name]) for name in names}
            pool = self.client.pool()
            rss = sum(procfs.rss(pid) for pid in self.workers())
            after = self.client.metrics()
            stamps = {stamp for _value, stamp in before.values()}
            self.assertEqual(len(stamps), 1, 'one query mixes samples')
            sample_time = stamps.pop()
            # A sample or a guest report between the reads may separate the values.
            straddled = (before != after or any(guest['LastUpdate'] > sample_time - 100000
                                                for guest in guests.values()))
            return (before, guests, balloons, pool, rss), straddled

        def check(values):
            metrics, guests, balloons, pool, rss = values
            for name in names:
                for metric, expected in (('Balloon', balloons[name][1]),
                                         ('Total', guests[name]['MemoryTotal']),
                                         ('Free', guests[name]['MemoryFree']),
                                         ('Cache', guests[name]['DiskCaches'])):
                    self.assertEqual(metrics[(name, 'Guest/RAM/Usage/' + metric)][0], expected,
                                     f'Guest/RAM/Usage/{metric} of {name}')
            self.assertEqual(metrics[('host', 'RAM/VMM/Ballooned')][0],
                             sum(actual for _target, actual in balloons.values()))
            self.assertEqual(metrics[('host', 'RAM/VMM/Free')][0], pool['MemoryAvailable'])
            used = metrics[('host', 'RAM/VMM/Used')][0]
            self.assertGreater(rss, (96 + 32) * MiB)
            self.assertLessEqual(abs(used - rss), 0.1 * rss,
                                 f'RAM/VMM/Used is {used / MiB:.1f} MiB, the workers\' VmRSS '
                                 f'{rss / MiB:.1f} MiB')

        self.read_consistently(read, check)

        metrics = self.client.query_metrics(['m1'], ['Guest/RAM/Usage/*'])
        self.assertEqual(sorted(metric for _o, metric, _v, _u, _t in metrics),
                         ['Guest/RAM/Usage/' + m for m in ('Balloon', 'Cache', 'Free', 'Hinted',
                                                           'Shared', 'Total')])
        self.assertTrue(all(unit == 'B' for _o, _m, _v, unit, _t in metrics))
        values = {metric: value for _o, metric, value, _u, _t in self.client.query_metrics(
            ['m1'], ['Guest/RAM/Usage/Free:min', 'Guest/RAM/Usage/Free:avg',
                     'Guest/RAM/Usage/Free:max'])}
        self.assertEqual(len(values), 3, values)
        self.assertLessEqual(values['Guest/RAM/Usage/Free:min'],
                             values['Guest/RAM/Usage/Free:avg'])
        self.assertLessEqual(values['Guest/RAM/Usage/Free:avg'],
                             values['Guest/RAM/Usage/Free:max'])
        self.assertDBusError(INVALID_ARGUMENT, self.client.query_metrics, [],
                             ['Guest/RAM/Usage/Free:median'])

        # A powered-off machine's series are dropped with the next sample.
        self.client.power_off(paths['m2'])
        self.wait_for(lambda: not self.client.query_metrics(['m2']), 'm2 has no metrics',
                      timeout=5 * METRICS_PERIOD)
        self.assertTrue(self.client.query_metrics(['m1']))


class TestConsoleLog(MachineTestCase):
    def test_read_console_log(self):
        path = self.create_machine('logvm', MemorySize=128 * MiB)
        self.assertEqual(self.client.read_console_log(path), '')
        self.client.start(path)
        log = self.wait_console(path, GUEST_READY)
        self.assertTrue(log.startswith('vboxmem-guest: boot '), log)
        self.assertEqual(self.client.read_console_log(path, max_bytes=20), log[-20:])
        self.assertEqual(self.client.read_console_log(path, max_bytes=0), '')
        self.assertEqual(self.client.read_console_log(path, max_bytes=2**64 - 1), log)
        for options in ({'max-bytes': GLib.Variant('s', '20')},
                        {'bogus': GLib.Variant('t', 20)}):
            with self.subTest(options=options):
                self.assertDBusError(INVALID_ARGUMENT, self.client.call, path, MACHINE_IFACE,
                                     'ReadConsoleLog', GLib.Variant('(a{sv})', (options,)))

        outsider = self.as_user(USER_OUTSIDE)
        self.assertDBusError(NOT_AUTHORIZED, outsider.read_console_log, path)

        # The log of the last run stays readable once the machine is off.
        self.client.power_off(path)
        self.assertIn(GUEST_READY, self.client.read_console_log(path))
        self.assertDBusError(NOT_AUTHORIZED, outsider.read_console_log, path)


class TestConsoleLogOfUnregisteredMachine(MachineTestCase):
    """Run with tests/data/vboxmem-test-group.rules given to polkitd."""

    # A console log must not outlive its machine: the next machine of that
    # name may belong to someone else.
    def test_log_goes_with_the_machine(self):
        path = self.create_machine('reused', MemorySize=64 * MiB,
                                   CommandLine='token=only-for-root')
        self.client.start(path)
        self.wait_console(path, GUEST_READY)
        self.client.power_off(path)
        self.client.unregister(path)
        member = self.as_user(USER_IN_GROUP)
        path = member.create_machine('reused', MemorySize=64 * MiB)
        self.assertEqual(member.read_console_log(path), '')


if __name__ == '__main__':
    if sys.argv[1:2] == ['--load-client']:
        load_client(json.loads(sys.argv[2]))
    else:
        testing.main(meson_build='tests/meson.build')
