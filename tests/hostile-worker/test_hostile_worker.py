#!/usr/bin/python3
"""vboxmemd against a worker that a guest has taken over.

vboxmemd runs tests/hostile-worker/hostile-worker.c in place of vboxmem-vm
(tools/with-system-bus --worker); the machine's CommandLine picks how it
misbehaves. The daemon must stay bounded in memory and CPU, keep answering
other clients, abort only that machine and leak nothing in the memory pool.
No KVM is needed: the stand-in speaks only the control protocol.

Run one case under tools/with-system-bus, e.g.
  tools/with-system-bus --worker build/tests/hostile-worker/vboxmem-hostile-worker \\
      -- /usr/bin/python3 tests/hostile-worker/test_hostile_worker.py TestHostileWorker.test_flood
"""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))

from gi.repository import Gio  # noqa: E402

from vboxmem_harness import MiB, procfs, testing  # noqa: E402
from vboxmem_harness.daemon import BUS_NAME, ERROR  # noqa: E402
from vboxmem_harness.daemontest import DaemonTestCase  # noqa: E402

MEMORY = 256 * MiB
# How long a misbehaving worker is let loose before the daemon is measured.
LOOSE_SECONDS = 3


def cpu_seconds(pid):
    return sum(procfs.cpu_seconds(pid))


class TestHostileWorker(DaemonTestCase):
    def start_machine(self, mode):
        name = 'h-' + mode
        path = self.client.create_machine(name, MemorySize=MEMORY,
                                          CommandLine=f'hostile={mode}')
        self.client.start(path)
        return name, path

    def assert_answers_quickly(self):
        """Another client is served within a second."""
        started = time.monotonic()
        self.client.pool()
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 1.0, f'vboxmemd took {elapsed:.2f} s to answer')

    def assert_pool_empty(self):
        self.wait_for(lambda: self.client.pool()['MemoryCommitted'] == 0,
                      lambda: f'the pool still holds {self.client.pool()}')

    def assert_aborted_for_protocol(self, name, path, log_offset):
        self.wait_for(lambda: self.client.state(path) == 'aborted',
                      lambda: f'{name} is {self.client.state(path)}, not aborted')
        log = self.daemon_log(log_offset)
        mentions = [line for line in log.splitlines()
                    if f'Machine {name}: the worker broke the control protocol' in line]
        self.assertEqual(len(mentions), 1, log)
        self.assert_pool_empty()
        return mentions[0]

    def check_protocol_breaker(self, mode, expected):
        offset = self.daemon_log_size()
        name, path = self.start_machine(mode)
        line = self.assert_aborted_for_protocol(name, path, offset)
        self.assertIn(expected, line)
        self.assert_answers_quickly()

    def test_garbage(self):
        self.check_protocol_breaker('garbage', 'unknown record kind')

    def test_oversized(self):
        self.check_protocol_breaker('oversized', 'longer than any record')

    def test_out_of_range(self):
        self.check_protocol_breaker('out-of-range', 'a balloon of 268439552 bytes in a machine of 268435456 bytes')

    def test_descriptors(self):
        self.check_protocol_breaker('descriptors', 'wrong number of file descriptors')

    def test_after_stopped(self):
        self.check_protocol_breaker('after-stopped', 'STATE after STOPPED')

    def test_hang_up(self):
        """A worker that closes its control socket and lives on cannot be controlled."""
        offset = self.daemon_log_size()
        name, path = self.start_machine('hang-up')
        self.wait_for(lambda: self.client.state(path) == 'aborted',
                      lambda: f'{name} is {self.client.state(path)}', timeout=30)
        self.assertIn('closed its control socket but did not exit', self.daemon_log(offset))
        self.assert_pool_empty()

    def test_wrong_ready(self):
        offset = self.daemon_log_size()
        path = self.client.create_machine('h-wrong-ready', MemorySize=MEMORY,
                                          CommandLine='hostile=wrong-ready')
        self.assertDBusError(ERROR + 'Failed', self.client.start, path)
        self.assertIn(self.client.state(path), ('aborted', 'powered-off'))
        self.assertIn('READY does not match the machine', self.daemon_log(offset))
        self.assert_pool_empty()

    def test_honest(self):
        """The stand-in's honest mode: what a well-behaved worker gets."""
        name, path = self.start_machine('honest')
        self.assertEqual(self.client.state(path), 'running')
        self.assertEqual(self.client.pool()['MemoryCommitted'], MEMORY)
        self.client.set_balloon_target(path, 128 * MiB)
        self.wait_for(lambda: self.client.balloon(path)[1] == 128 * MiB, 'Actual 128 MiB')
        self.assertEqual(self.client.pool()['MemoryCommitted'], MEMORY - 128 * MiB)
        self.client.power_off(path)
        self.assertEqual(self.client.state(path), 'powered-off')
        self.assert_pool_empty()

    def start_retouching(self):
        """A 384 MiB machine whose guest takes back all it gave its balloon at once."""
        path = self.client.create_machine('h-retouch', MemorySize=384 * MiB,
                                          CommandLine='hostile=retouch')
        self.client.start(path)
        self.client.set_balloon_target(path, 256 * MiB)
        return path

    def test_retouch_without_cgroup(self):
        """Without a memory cgroup, the guest gets its ballooned memory back but gains no
        room: the pool charges what the host measures, and Balloon.Actual says so."""
        offset = self.daemon_log_size()
        path = self.start_retouching()
        self.wait_for(lambda: self.client.pool()['MemoryCommitted'] >= 368 * MiB,
                      lambda: f'the pool charges {self.client.pool()}')
        actual = self.client.balloon(path)[1]
        self.assertLessEqual(actual, 16 * MiB)
        self.assertIn('the guest took ballooned memory back', self.daemon_log(offset))
        # The room its balloon seemed to make is not there.
        other = self.client.create_machine('h-other', MemorySize=256 * MiB)
        self.assertDBusError(ERROR + 'InsufficientMemory', self.client.start, other)
        self.client.power_off(path)
        self.assert_pool_empty()

    def test_retouch_hits_its_limit(self):
        """In its memory cgroup, the guest hits its own limit: its machine aborts and its
        neighbours keep what the pool promised them."""
        if 'Workers run in memory cgroups' not in self.daemon_log():
            self.skipTest('no memory cgroup here (vboxmemd says why in its log)')
        path = self.start_retouching()
        self.wait_for(lambda: self.client.state(path) == 'aborted',
                      lambda: f'h-retouch is {self.client.state(path)}')
        self.assert_pool_empty()
        other = self.client.create_machine('h-other', MemorySize=256 * MiB,
                                           CommandLine='hostile=honest')
        self.client.start(other)
        self.client.power_off(other)

    def worker_pid(self, name):
        log = '/' + Gio.dbus_escape_object_path(name) + '.console.log'
        pids = [pid for pid in procfs.children(self.daemon_pid)
                if any(arg.endswith(log) for arg in procfs.argv(pid))]
        self.assertEqual(len(pids), 1, f'workers of {name}: {pids}')
        return int(pids[0])

    def test_leftover_after_daemon_killed(self):
        """A worker stopped when its daemon died cannot notice: the next vboxmemd ends it
        instead of running a second worker for the same machine."""
        name, path = self.start_machine('honest')
        pid = self.worker_pid(name)
        os.kill(pid, signal.SIGSTOP)
        os.kill(self.daemon_pid, signal.SIGKILL)
        self.wait_for(lambda: not self.name_has_owner(BUS_NAME), 'the bus name is released')
        self.daemon_pid = 0
        offset = self.start_daemon()
        self.daemon_pid = self.daemon_process.pid
        self.wait_for(lambda: not procfs.alive(pid), f'the leftover worker {pid} is ended')
        self.assertIn(f'Machine {name}: ending worker {pid}', self.daemon_log(offset))
        self.assertEqual(self.client.state(path), 'powered-off')
        self.client.start(path)
        self.assertNotEqual(self.worker_pid(name), pid)
        self.client.power_off(path)

    def measure_while_loose(self, mode):
        """Lets MODE run for a while; returns the daemon's CPU time and RSS growth."""
        rss_before = procfs.rss(self.daemon_pid)
        cpu_before = cpu_seconds(self.daemon_pid)
        name, path = self.start_machine(mode)
        deadline = time.monotonic() + LOOSE_SECONDS
        while time.monotonic() < deadline:
            self.assert_answers_quickly()
            time.sleep(0.2)
        cpu = cpu_seconds(self.daemon_pid) - cpu_before
        growth = procfs.rss(self.daemon_pid) - rss_before
        self.client.power_off(path)
        self.assertEqual(self.client.state(path), 'powered-off')
        self.assert_pool_empty()
        return cpu, growth

    def test_flood(self):
        cpu, growth = self.measure_while_loose('flood')
        print(f'flood: vboxmemd used {cpu:.2f} s of CPU in {LOOSE_SECONDS} s, '
              f'grew by {growth // 1024} KiB')
        self.assertLess(cpu, LOOSE_SECONDS * 0.5)
        self.assertLess(growth, 16 * MiB)

    def test_stderr_endless_line(self):
        offset = self.daemon_log_size()
        cpu, growth = self.measure_while_loose('stderr-endless')
        self.assertLess(cpu, LOOSE_SECONDS * 0.5)
        self.assertLess(growth, 16 * MiB)
        lines = [line for line in self.daemon_log(offset).splitlines()
                 if 'h-stderr-endless: ' in line]
        self.assertLess(max(map(len, lines), default=0), 1200)

    def test_stderr_flood(self):
        offset = self.daemon_log_size()
        started = time.monotonic()
        cpu, growth = self.measure_while_loose('stderr-flood')
        seconds = time.monotonic() - started
        lines = [line for line in self.daemon_log(offset).splitlines()
                 if 'h-stderr-flood: hostile-worker' in line]
        print(f'stderr flood: {len(lines)} lines logged in {seconds:.1f} s')
        self.assertLessEqual(len(lines), 20 * (int(seconds) + 2))
        self.assertIn('more lines not logged', self.daemon_log(offset))
        self.assertLess(growth, 16 * MiB)

    def test_mute(self):
        """A worker that never answers: calls fail in bounded time, saying so."""
        name, path = self.start_machine('mute')
        started = time.monotonic()
        error = self.assertDBusError(ERROR + 'Failed', self.client.set_balloon_target, path,
                                     128 * MiB)
        self.assertLess(time.monotonic() - started, 20)
        self.assertIn('did not answer within', str(error))
        self.assert_answers_quickly()
        self.client.power_off(path)
        self.assertEqual(self.client.state(path), 'powered-off')
        self.assert_pool_empty()


if __name__ == '__main__':
    testing.main()
