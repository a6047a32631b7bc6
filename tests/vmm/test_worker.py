#!/usr/bin/python3
"""Integration tests of vboxmem-vm with real KVM guests (the ring-3 test guest).

Each test starts a worker in a temporary directory, drives it over its control
socket as vboxmemd does (the typed record protocol of service/protocol/ on a
SOCK_SEQPACKET socket pair, through tests/harness: vboxmem_harness.worker) and
watches the guest's console markers. Run one test case per process, as meson
does:

    /usr/bin/python3 tests/vmm/test_worker.py TestBalloon.test_inflate_deflate

Skipped (exit 77) without a usable /dev/kvm, and for the privilege tests when
not root; the handshake and bad-option tests need no KVM. VBOXMEM_TEST_KEEP=1
keeps each worker's directory (console log, stderr) for a look after the run.
"""

import os
import re
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))

from vboxmem_harness import MiB, PAGE, kvm, paths, protocol, testing  # noqa: E402
from vboxmem_harness.polling import wait_until  # noqa: E402
from vboxmem_harness.workertest import (  # noqa: E402
    BOOT_TIMEOUT, EXIT_TIMEOUT, WorkerTestCase, require_kvm)
from vboxmem_harness.worker import WorkerError  # noqa: E402

POWERED_OFF = 'powered off by the controller'

# Feature bits of virtio-balloon in the guest's `balloon device ... features=` marker.
F_STATS_VQ = 1 << 1
F_DEFLATE_ON_OOM = 1 << 2
F_FREE_PAGE_REPORTING = 1 << 5

# The gate a script waits at until the test is ready: a one-page balloon.
GATE = 'wait-balloon:1p:timeout=60s'
GATE_SIZE = PAGE

# The worker's debug lines when the VM stops (VBOXMEM_VM_DEBUG=1).
NOTIFY_COUNTS = r'virtio notifications: (\d+) through ioeventfd, (\d+) on vCPU exits'
MSI_COUNTS = r'virtio interrupts: (\d+) MSIs through irqfd, (\d+) through KVM_SIGNAL_MSI, (\d+) routes'

# How long the worker waits for HELLO (HANDSHAKE_TIMEOUT_MS in service/vmm/main.c: 30 s),
# with room for a loaded host.
HANDSHAKE_BOUND = 45

# A 512 MiB guest that holds 64 MiB, gives 256 MiB to the balloon, checks its memory and exits.
INFLATE_SCRIPT = 'alloc:64M:seed=3,wait-balloon:256M:timeout=60s,verify,exit'


def inflate_256m(test, env, cmdline=None, before_ready=(), after_target=()):
    """Runs INFLATE_SCRIPT with the worker's debug lines on; the worker, exited with 0.
    BEFORE_READY: markers to wait for at boot; AFTER_TARGET: markers once the balloon
    is at 256 MiB, before the guest's verify."""
    w = test.start_worker(memory_mib=512, script=INFLATE_SCRIPT, cmdline=cmdline,
                          env=dict(env, VBOXMEM_VM_DEBUG='1'))
    for marker in before_ready:
        w.wait_marker(marker, BOOT_TIMEOUT)
    w.wait_marker(r'ready', BOOT_TIMEOUT)
    w.control.set_balloon_target(256 * MiB)
    w.control.wait_value('actual', lambda v: v == 256 * MiB, 30, 'to be 256 MiB')
    for marker in after_target:
        w.wait_marker(marker)
    w.wait_marker(r'verify ok pages=16384')
    test.assertEqual(w.wait_exit(), 0, w.describe())
    return w


def features(worker):
    m, _ = worker.wait_marker(r'balloon device=\S+ transport=\w+ offered=\S+ '
                              r'features=0x([0-9a-f]+)', BOOT_TIMEOUT)
    return int(m.group(1), 16)


def warnings(worker):
    """The worker's lines about a device the guest broke."""
    return [line for line in worker.stderr().splitlines()
            if re.search(r'virtio-pci .*stopped until the driver resets it', line)]


class TestBoot(WorkerTestCase):
    """The guest boots, and its exit status becomes the worker's."""

    def test_exit_success(self):
        w = self.start_worker(memory_mib=128, script=f'meminfo,{GATE},exit')
        w.wait_marker(r'ready ms=\d+', BOOT_TIMEOUT)
        values = w.control.snapshot()
        self.assertEqual(values['state'], 'running')
        self.assertNotIn('exit_status', values)
        self.assertNotIn('stop_reason', values)
        w.control.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'exit 0')
        self.assertEqual(w.wait_exit(), 0, w.describe())
        self.assertIn('the guest exited with status 0', w.stderr())
        stopped = w.control.wait_stopped(3)
        self.assertEqual(stopped['exit_status'], 0)
        self.assertIn('guest-exited', w.control.value('stop_flags'))

    def test_exit_status_nonzero(self):
        w = self.start_worker(memory_mib=128, script=f'{GATE},exit:3')
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        w.control.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'exit 3')
        self.assertEqual(w.wait_exit(), 1, w.describe())
        self.assertIn('the guest exited with status 3', w.stderr())

    def test_failed_step_fails_the_vm(self):
        # 256 MiB do not fit in a 128 MiB guest: the step fails, `exit` says 1.
        w = self.start_worker(memory_mib=128, script=f'{GATE},alloc:256M:seed=1,exit')
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        w.control.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'alloc 256 MiB FAILED out of memory')
        w.wait_marker(r'exit 1')
        self.assertEqual(w.wait_exit(), 1, w.describe())

    def test_stopped_record(self):
        # STOPPED is the worker's last record; then it closes its end and exits.
        w = self.start_worker(memory_mib=128, script=f'{GATE},exit:3')
        c = w.control
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        self.assertEqual(c.value('state'), 'running')
        c.set_balloon_target(GATE_SIZE)
        self.assertEqual(w.wait_exit(), 1, w.describe())
        c.wait_closed(3)
        stopped = c.wait_stopped(0)
        self.assertEqual((stopped['reason'], stopped['exit_status']),
                         ('the guest exited with status 3', 3))
        self.assertIn('guest-exited', c.protocol.flag_names(stopped['flags']))
        self.assertEqual(len(c.stopped), 1)
        self.assertIs(c.records[-1], stopped, 'a record came after STOPPED')
        self.assertEqual(c.value('state'), 'stopped')


class TestBalloon(WorkerTestCase):
    """SET_BALLOON_TARGET takes memory from the guest and gives it back."""

    def test_inflate_deflate(self):
        # The numbers: a 1024 MiB guest dirties 768 MiB and frees it (no free
        # page reporting), so those pages stay resident until the balloon takes them.
        # 64 MiB stay allocated throughout: the balloon must not touch them.
        script = ('alloc:64M:seed=3,alloc:768M:seed=1,free:768M,meminfo,'
                  'wait-balloon:256M:timeout=60s,verify,wait-balloon:0:timeout=60s,'
                  'alloc:896M:seed=2,verify,exit')
        w = self.start_worker(memory_mib=1024, script=script)
        c = w.control
        _, at = w.wait_marker(r'free 768 MiB done pages=196608', 60)
        before = w.rss()
        self.log(f'RSS {before / MiB:.0f} MiB with 832 MiB dirtied')
        self.assertGreaterEqual(before, 832 * MiB)

        c.set_balloon_target(256 * MiB)
        # The BALLOON event with the new target comes before the REPLY.
        self.assertEqual(c.value('target'), 256 * MiB)
        c.wait_value('actual', lambda v: v == 256 * MiB, 30, 'to be 256 MiB')
        after = wait_until(lambda: (lambda r: r if before - r >= 0.9 * 256 * MiB else None)(
            w.rss()), 10, lambda: f'for the RSS to drop: {w.rss() / MiB:.0f} MiB, was '
                                  f'{before / MiB:.0f} MiB')
        self.log(f'RSS {after / MiB:.0f} MiB with a 256 MiB balloon: '
                 f'{(before - after) / MiB:.0f} MiB returned')
        w.wait_marker(r'wait-balloon done actual=65536 pages', start=at)
        _, at = w.wait_marker(r'verify ok pages=16384', start=at)
        # The guest's own `actual` field, as it wrote it after its last batch.
        c.wait_value('guest_actual', lambda v: v == 256 * MiB, 5, 'to be 256 MiB')

        c.set_balloon_target(0)
        c.wait_value('actual', lambda v: v == 0, 30, 'to be 0')
        w.wait_marker(r'wait-balloon done actual=0 pages', start=at)
        # 64 + 896 MiB fit only when the balloon has really given its 256 MiB back.
        w.wait_marker(r'alloc 896 MiB done pages=229376 seed=2 oom-deflated=0', 60, at)
        w.wait_marker(r'verify ok pages=245760', start=at)
        self.assertEqual(w.wait_exit(), 0, w.describe())

    def test_bad_target_refused(self):
        w = self.start_worker(memory_mib=128, script='meminfo')
        c = w.control
        w.wait_marker(r'script done', BOOT_TIMEOUT)
        c.set_balloon_target(16 * MiB)
        c.wait_value('actual', lambda v: v == 16 * MiB, 30, 'to be 16 MiB')
        _, at = w.wait_marker(r'balloon actual=4096 pages')
        # Not whole pages, or beyond any memory: the record would not pass the
        # worker's decoder, so the controller does not send it (TestProtocol sends one).
        for bad in (1, PAGE + 1, 16 * MiB + 512, (1 << 64) - PAGE, (1 << 64) - 1):
            with self.subTest(target=bad):
                with self.assertRaisesRegex(protocol.EncodeError, 'bytes'):
                    c.set_balloon_target(bad)
        # Whole pages, but more than the guest's memory: the worker refuses them.
        for bad in (128 * MiB + PAGE, 1 << 40, 1 << 46):
            with self.subTest(target=bad):
                mark = c.mark()
                with self.assertRaises(WorkerError) as caught:
                    c.set_balloon_target(bad)
                self.assertEqual(caught.exception.status, 'invalid-argument')
                self.assertNotIn(bad, [r['target'] for r in c.records_of('BALLOON', start=mark)],
                                 'a refused target was announced')
        snapshot = c.query_state()
        self.assertEqual((snapshot['BALLOON']['target'], snapshot['BALLOON']['actual']),
                         (16 * MiB, 16 * MiB))
        # The whole memory is a valid (if unreachable) target: the guest is asked.
        c.set_balloon_target(128 * MiB)
        self.assertEqual(c.value('target'), 128 * MiB)
        m, _ = w.wait_marker(r'balloon target=(\d+) pages', start=at)
        self.assertEqual(int(m.group(1)), 128 * MiB // PAGE,
                         'a refused target reached the guest')
        self.assertEqual(w.power_off(), 0)

    def test_start_balloon_option(self):
        w = self.start_worker(memory_mib=128, script='wait-balloon:64M:timeout=60s',
                              args=['--balloon', '64'])
        self.assertEqual(w.control.ready['balloon_target'], 64 * MiB,
                         'READY does not show the target set by --balloon')
        w.wait_marker(r'wait-balloon done actual=16384 pages', BOOT_TIMEOUT)
        w.control.wait_value('actual', lambda v: v == 64 * MiB, 30, 'to be 64 MiB')
        self.assertEqual(w.control.value('target'), 64 * MiB)
        self.assertEqual(w.power_off(), 0)


class TestStats(WorkerTestCase):

    def test_stats_update(self):
        w = self.start_worker(memory_mib=256, script=f'{GATE},alloc:128M:seed=1,meminfo',
                              args=['--stats-interval', '500'])
        c = w.control
        self.assertTrue(features(w) & F_STATS_VQ)
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        c.wait_for(lambda _: len(c.records_of('GUEST_STATS')) >= 3, 10,
                   'three GUEST_STATS records')
        stamps = [r['updated_us'] for r in c.records_of('GUEST_STATS')]
        self.assertEqual(stamps, sorted(set(stamps)), 'updated_us went backwards or repeated')
        self.assertLess(abs(stamps[-1] / 1e6 - time.time()), 60,
                        'updated_us is not microseconds since the epoch')
        stats = c.value('guest_stats')
        self.log(f'guest stats {stats}')
        total, free = stats['memory-total'], stats['memory-free']
        self.assertLessEqual(total, 256 * MiB)
        self.assertGreaterEqual(total, 0.97 * 256 * MiB)
        self.assertLessEqual(free, total)
        self.assertLessEqual(stats['memory-available'], total)
        self.assertEqual(stats['swap-in'], 0)

        # The guest allocates 128 MiB: the next statistics show it.
        c.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'alloc 128 MiB done')
        stats = c.wait_value('guest_stats',
                             lambda s: s.get('memory-free', 1 << 64) <= free - 128 * MiB, 30,
                             f'memory-free to be at most {(free - 128 * MiB) // MiB} MiB')
        self.assertLessEqual(stats['memory-free'], stats['memory-total'])
        self.assertGreaterEqual(stats['minor-faults'], 128 * MiB // PAGE)

        # Interval 0 stops asking: over three former intervals, at most the answer to
        # a request already on its way arrives.
        c.set_stats_interval(0)
        mark = c.mark()
        time.sleep(1.5)
        self.assertLessEqual(len(c.records_of('GUEST_STATS', start=mark)), 1,
                             'statistics still updated after SET_STATS_INTERVAL 0')
        self.assertEqual(w.power_off(), 0)


class TestQueueNotifications(WorkerTestCase):
    """A 256 MiB inflate, with queue notifications through KVM's ioeventfd or vCPU exits."""

    def inflate(self, env):
        """(worker, notifications through ioeventfd, notifications on vCPU exits)"""
        w = inflate_256m(self, env, after_target=[r'wait-balloon done actual=65536 pages'])
        m = re.search(NOTIFY_COUNTS, w.stderr())
        self.assertIsNotNone(m, w.stderr())
        through_ioeventfd, on_exits = int(m.group(1)), int(m.group(2))
        self.log(f'{through_ioeventfd} notifications through ioeventfd, {on_exits} on '
                 f'vCPU exits')
        return w, through_ioeventfd, on_exits

    def test_ioeventfd(self):
        if not kvm.has_cap(kvm.KVM_CAP_IOEVENTFD):
            self.skipTest('KVM has no ioeventfd here (KVM_CAP_IOEVENTFD)')
        w, through_ioeventfd, on_exits = self.inflate({})
        self.assertIn('virtio notifications: ioeventfd', w.stderr())
        # The guest hands over 1 MiB per buffer, and notifies only after DRIVER_OK.
        self.assertGreaterEqual(through_ioeventfd, 256)
        self.assertEqual(on_exits, 0)

    def test_fallback_without_ioeventfd(self):
        # A test hook: runs vboxmem-vm-test.
        w, through_ioeventfd, on_exits = self.inflate({'VBOXMEM_VM_TEST_NO_IOEVENTFD': '1'})
        self.assertIn('virtio notifications: on vCPU exits', w.stderr())
        self.assertEqual(through_ioeventfd, 0)
        self.assertGreaterEqual(on_exits, 256)


class TestInterrupts(WorkerTestCase):
    """MSI-X interrupts of a 256 MiB inflate, through KVM's irqfd or KVM_SIGNAL_MSI."""

    def inflate(self, env):
        """(worker, MSIs through irqfd, MSIs through KVM_SIGNAL_MSI, routes)"""
        w = inflate_256m(self, env, cmdline='vboxmem.msix=on',
                         before_ready=[r'balloon msix vector=0'])
        m = re.search(MSI_COUNTS, w.stderr())
        self.assertIsNotNone(m, w.stderr())
        counts = int(m.group(1)), int(m.group(2)), int(m.group(3))
        self.log(f'{counts[0]} MSIs through irqfd, {counts[1]} through KVM_SIGNAL_MSI, '
                 f'{counts[2]} routes')
        return (w,) + counts

    def test_irqfd(self):
        if not kvm.has_cap(kvm.KVM_CAP_IRQFD):
            self.skipTest('KVM has no irqfd here (KVM_CAP_IRQFD)')
        w, through_irqfd, through_ioctl, routes = self.inflate({})
        self.assertNotIn('virtio interrupts: KVM_SIGNAL_MSI', w.stderr())
        # One MSI per used buffer at least: the guest hands over 1 MiB per buffer.
        self.assertGreaterEqual(through_irqfd, 256)
        self.assertEqual(through_ioctl, 0)
        self.assertEqual(routes, 1, 'one vector, one message: one route')

    def test_fallback_without_irqfd(self):
        # A test hook: runs vboxmem-vm-test.
        w, through_irqfd, through_ioctl, routes = self.inflate({'VBOXMEM_VM_TEST_NO_IRQFD': '1'})
        self.assertIn('virtio interrupts: KVM_SIGNAL_MSI (turned off', w.stderr())
        self.assertEqual(through_irqfd, 0)
        self.assertEqual(routes, 0)
        self.assertGreaterEqual(through_ioctl, 256)


class TestDeflateOnOom(WorkerTestCase):
    """A balloon of 192 MiB in a 256 MiB guest, then the guest wants 128 MiB."""

    SCRIPT = 'wait-balloon:192M:timeout=60s,alloc:128M:seed=3,verify,meminfo'

    def start(self, deflate_on_oom):
        w = self.start_worker(memory_mib=256, script=self.SCRIPT,
                              args=['--deflate-on-oom'] if deflate_on_oom else [])
        self.assertEqual(bool(features(w) & F_DEFLATE_ON_OOM), deflate_on_oom)
        w.control.set_balloon_target(192 * MiB)
        w.wait_marker(r'wait-balloon done actual=49152 pages')
        return w

    def test_deflate_on_oom(self):
        w = self.start(True)
        m, _ = w.wait_marker(r'alloc 128 MiB done pages=32768 seed=3 oom-deflated=(\d+)')
        deflated = int(m.group(1))
        self.assertGreater(deflated, 0)
        w.wait_marker(r'verify ok pages=32768')
        w.wait_marker(r'script done failures=0')
        # 128 MiB used + the balloon fit in 256 MiB only if the balloon shrank.
        actual = w.control.wait_value('actual', lambda v: v <= 128 * MiB, 30,
                                      'to be at most 128 MiB')
        self.log(f'oom-deflated={deflated} pages, balloon actual {actual / MiB:.1f} MiB')
        self.assertEqual(w.control.value('target'), 192 * MiB)
        self.assertEqual(w.power_off(), 0)

    def test_no_deflate_without_option(self):
        w = self.start(False)
        w.wait_marker(r'alloc 128 MiB FAILED out of memory after \d+ MiB pages=\d+ '
                      r'oom-deflated=0')
        w.wait_marker(r'script done failures=1')
        self.assertEqual(w.control.query_state()['BALLOON']['actual'], 192 * MiB)
        self.assertEqual(w.power_off(), 0)


class TestFreePageReporting(WorkerTestCase):
    """A 512 MiB guest dirties 256 MiB and frees it."""

    def test_reporting_returns_memory(self):
        w = self.start_worker(memory_mib=512, script='alloc:256M:seed=5,free:all,meminfo',
                              args=['--free-page-reporting'])
        self.assertTrue(features(w) & F_FREE_PAGE_REPORTING)
        w.wait_marker(r'free 256 MiB done')
        # Guest reports 2 s after the free (Linux's delay): nothing asked it to.
        m, _ = w.wait_marker(r'reported (\d+) MiB')
        self.assertGreaterEqual(int(m.group(1)), 256)
        w.control.wait_value('reported_bytes', lambda v: v >= 256 * MiB, 30,
                             'to be at least 256 MiB')
        peak = w.status()
        peak = int(peak['VmHWM'].split()[0]) * 1024
        rss = wait_until(lambda: (lambda r: r if peak - r >= 0.9 * 256 * MiB else None)(
            w.rss()), 10, lambda: f'for the RSS to drop: {w.rss() / MiB:.0f} MiB, peak '
                                  f'{peak / MiB:.0f} MiB')
        self.log(f'RSS {rss / MiB:.0f} MiB after reporting, peak {peak / MiB:.0f} MiB')
        self.assertEqual(w.control.value('actual'), 0)
        self.assertEqual(w.control.value('target'), 0)
        self.assertEqual(w.power_off(), 0)

    def test_nothing_reported_without_option(self):
        # `report` forces a reporting pass at once; without the feature there is none.
        w = self.start_worker(memory_mib=512,
                              script='alloc:256M:seed=5,free:all,report,meminfo')
        self.assertFalse(features(w) & F_FREE_PAGE_REPORTING)
        w.wait_marker(r'report skipped \(free page reporting not negotiated\)')
        w.wait_marker(r'script done failures=0')
        self.assertEqual(w.control.query_state()['BALLOON']['reported_bytes'], 0)
        self.assertGreaterEqual(w.rss(), 256 * MiB)
        self.assertEqual(w.power_off(), 0)


class TestHostile(WorkerTestCase):
    """A guest that breaks the balloon on purpose cannot break the worker."""

    def run_hostile(self, mode, cmdline=None, args=()):
        script = (f'hostile:{mode},wait-balloon:16M:timeout=60s,alloc:32M:seed=2,verify,'
                  'meminfo')
        w = self.start_worker(memory_mib=256, script=script, cmdline=cmdline,
                              args=['--stats-interval', '200', *args])
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        _, at = w.wait_marker(rf'hostile {mode} (done|active)', 60)
        self.assertTrue(w.alive())
        self.assertEqual(w.control.value('state'), 'running')
        return w, at

    def check_device_still_works(self, w, at):
        """The guest reset the device: a real request works and counts exactly."""
        w.control.set_balloon_target(16 * MiB)
        w.wait_marker(r'wait-balloon done actual=4096 pages', start=at)
        w.wait_marker(r'verify ok pages=8192', start=at)
        w.wait_marker(r'script done failures=0', start=at)
        self.assertEqual(w.control.query_state()['BALLOON']['actual'], 16 * MiB)
        self.assertEqual(w.power_off(), 0)

    def check_one_line_per_break(self, w, case_pattern):
        """Every request the device refused shows as one stderr line of the worker."""
        refused = [m for m in w.markers(case_pattern) if 'answer=ignored' in m.string]
        lines = warnings(w)
        self.log('worker stderr:\n' + '\n'.join(lines))
        self.assertGreater(len(refused), 0)
        self.assertEqual(len(lines), len(refused), w.stderr())

    def test_bad_pfn(self):
        w, at = self.run_hostile('bad-pfn')
        # Nothing outside RAM was counted, and the device said no to each bad list.
        self.assertEqual(w.control.value('actual'), 0)
        for what in (r'inflate pfns=\d+ first=0x[0-9a-f]+', r'deflate pfns=\d+',
                     r'inflate len=6'):
            w.wait_marker(rf'hostile bad-pfn {what} answer=ignored device-status=0x4f')
        self.check_one_line_per_break(w, r'hostile bad-pfn ')
        for line in warnings(w):
            self.assertRegex(line, r'not guest RAM|PFN buffer of 6 bytes')
        self.check_device_still_works(w, at)

    def test_bad_desc(self):
        w, at = self.run_hostile('bad-desc')
        cases = ('addr-beyond-ram', 'addr-wraps', 'len-huge', 'crosses-ram-end', 'mmio-addr',
                 'loop-self', 'loop-pair', 'next-out-of-range', 'head-out-of-range',
                 'avail-idx-jump', 'indirect-not-negotiated', 'device-writable-inflate')
        for case in cases:
            with self.subTest(case=case):
                m, _ = w.wait_marker(rf'hostile bad-desc {case} answer=(\w+)')
                self.assertEqual(m.group(1), 'ignored', 'the device used a broken chain')
        self.assertEqual(w.control.query_state()['BALLOON']['actual'], 0)
        self.check_one_line_per_break(w, r'hostile bad-desc ')
        self.check_device_still_works(w, at)

    def test_flood(self):
        w, at = self.run_hostile('flood', cmdline='vboxmem.flood=10000')
        m, _ = w.wait_marker(r'hostile flood notifies=10000 ms=(\d+)')
        self.log(f'10000 notifications in {m.group(1)} ms')
        self.assertEqual(warnings(w), [])
        # Empty notifications do not make the worker log each one.
        self.assertLess(len(w.stderr().splitlines()), 10, w.stderr())
        self.check_device_still_works(w, at)

    def test_ignore_target(self):
        w, at = self.run_hostile('ignore-target')
        w.control.set_balloon_target(16 * MiB)
        w.wait_marker(r'hostile ignore-target target=4096 actual=0 pages', start=at)
        balloon = w.control.query_state()['BALLOON']
        self.assertEqual((balloon['target'], balloon['actual'], balloon['guest_actual']),
                         (16 * MiB, 0, 0))
        self.assertEqual(w.power_off(), 0)

    def test_lie_actual(self):
        w, at = self.run_hostile('lie-actual')
        w.control.set_balloon_target(16 * MiB)
        w.wait_marker(r'hostile lie-actual wrote actual=4096 real=0 pages', start=at)
        # The guest's claim shows as such; actual counts only what the host discarded.
        w.control.wait_value('guest_actual', lambda v: v == 16 * MiB, 30, 'to be 16 MiB')
        self.assertEqual(w.control.value('actual'), 0)
        self.assertEqual(w.power_off(), 0)

    def test_bad_stats(self):
        w, at = self.run_hostile('bad-stats')
        # The bad buffer's last memory-total entry is 0: wait for a bad buffer to arrive.
        stats = w.control.wait_value('guest_stats', lambda s: s.get('memory-total') == 0, 30,
                                     'from the bad buffer (memory-total 0)')
        self.log(f'guest stats from the bad buffer: {stats}')
        self.assertLessEqual(set(stats), set(w.control.protocol.stat_names))
        self.assertEqual(stats['memory-available'], 1 << 63)
        self.assertTrue(w.alive())
        self.check_device_still_works(w, at)


class TestLifecycle(WorkerTestCase):
    # A guest that prints a marker every 100 ms for 6 s.
    HOLDS = ','.join(['hold:100ms'] * 60)

    def test_pause_resume(self):
        w = self.start_worker(memory_mib=128, script=self.HOLDS,
                              args=['--stats-interval', '100'])
        c = w.control
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        c.wait_record('GUEST_STATS', timeout=10)
        c.pause()
        # The STATE event comes before the REPLY.
        self.assertEqual(c.value('state'), 'paused')
        holds = len(w.markers(r'hold 100 ms done'))
        mark = c.mark()
        # Paused for 1 s: a running guest would print ~10 markers and answer ~10 requests.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.assertEqual(len(w.markers(r'hold 100 ms done')), holds,
                             'the guest ran while paused')
            self.assertEqual(c.records_of('GUEST_STATS', start=mark), [],
                             'the guest answered a statistics request while paused')
            time.sleep(0.05)
        self.assertEqual(c.value('state'), 'paused')
        c.resume()
        self.assertEqual(c.value('state'), 'running')
        wait_until(lambda: len(w.markers(r'hold 100 ms done')) >= holds + 3, 10,
                   'for the guest to go on after RESUME')
        c.wait_record('GUEST_STATS', start=mark, timeout=10)
        # PAUSE and RESUME twice in a row are harmless, and change nothing the second time.
        c.resume()
        c.pause()
        mark = c.mark()
        c.pause()
        self.assertEqual(c.records_of('STATE', start=mark), [])
        self.assertEqual(c.value('state'), 'paused')
        c.resume()
        self.assertEqual(c.value('state'), 'running')
        self.assertEqual(w.power_off(), 0)

    def test_power_off(self):
        w = self.start_worker(memory_mib=128, script=self.HOLDS)
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        w.control.power_off()
        self.assertEqual(w.wait_exit(), 0, w.describe())
        stopped = w.control.wait_stopped(3)
        self.assertEqual((stopped['reason'], w.control.protocol.flag_names(stopped['flags']),
                          stopped['exit_status']), (POWERED_OFF, {'requested'}, -1))
        self.assertIn(POWERED_OFF, w.stderr())

    def test_power_off_while_paused(self):
        w = self.start_worker(memory_mib=128, script=self.HOLDS)
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        w.control.pause()
        self.assertEqual(w.control.value('state'), 'paused')
        self.assertEqual(w.power_off(), 0, w.describe())
        self.assertIn(POWERED_OFF, w.stderr())


class TestProtocol(WorkerTestCase):
    """The control protocol with a running VM: what the worker sends and how it
    answers, and what it does with records it must refuse."""

    def test_ready_state_balloon_first(self):
        w = self.start_worker(memory_mib=128, script='meminfo')
        c = w.control
        w.wait_marker(r'script done', BOOT_TIMEOUT)
        first = c.records[:3]
        self.assertEqual([r.name for r in first], ['READY', 'STATE', 'BALLOON'], c.records)
        ready, state, balloon = first
        self.assertEqual((ready.id, ready['magic'], ready['version']),
                         (0, c.protocol.magic, c.protocol.version))
        self.assertEqual((ready['memory_size'], ready['n_vcpus'], ready['balloon_target']),
                         (128 * MiB, 1, 0))
        self.assertEqual(c.protocol.state_name(state['state']), 'running')
        self.assertEqual(balloon.fields, {'target': 0, 'actual': 0, 'guest_actual': 0,
                                          'reported_bytes': 0})
        self.assertEqual(w.power_off(), 0)

    def test_replies_match_ids(self):
        w = self.start_worker(memory_mib=128, script=TestLifecycle.HOLDS)
        c = w.control
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        start = c.mark()
        # Sent back to back, with ids of the controller's choosing.
        requests = [(1000, 'SET_STATS_INTERVAL', {'milliseconds': 0}),
                    (7, 'SET_BALLOON_TARGET', {'bytes': 4 * MiB}),
                    (0xFFFFFFFF, 'PAUSE', {}),
                    (3, 'PAUSE', {}),
                    (8, 'SET_BALLOON_TARGET', {'bytes': 256 * MiB}),
                    (42, 'RESUME', {}),
                    (9, 'QUERY_STATE', {}),
                    (1, 'SET_STATS_INTERVAL', {'milliseconds': 3600000})]
        for record_id, kind, fields in requests:
            c.send_request(kind, record_id, **fields)
        statuses = {record_id: c.protocol.status_name(c.wait_reply(record_id, check=False)
                                                      ['status'])
                    for record_id, _kind, _fields in requests}
        self.assertEqual(statuses, {1000: 'ok', 7: 'ok', 0xFFFFFFFF: 'ok', 3: 'ok',
                                    8: 'invalid-argument', 42: 'ok', 9: 'ok', 1: 'ok'})
        replies = c.records_of('REPLY', start=start)
        self.assertEqual(sorted(r.id for r in replies), sorted(statuses),
                         'not exactly one REPLY per request')

        def before_reply(record_id, kind):
            """The records of KIND between the REPLY to RECORD_ID and the REPLY before it."""
            index = next(r.index for r in replies if r.id == record_id)
            previous = max([r.index for r in replies if r.index < index], default=start - 1)
            return [r for r in c.records[previous + 1:index] if r.name == kind]

        # What a request changed is announced before its REPLY (BALLOON events of the
        # balloon moving meanwhile may come anywhere).
        self.assertIn(4 * MiB, [r['target'] for r in before_reply(7, 'BALLOON')])
        self.assertEqual([c.protocol.state_name(r['state']) for r in before_reply(0xFFFFFFFF,
                                                                                 'STATE')],
                         ['paused'])
        self.assertEqual(before_reply(3, 'STATE'), [], 'a second PAUSE changed the state')
        self.assertNotIn(256 * MiB, [r['target'] for r in before_reply(8, 'BALLOON')],
                         'a refused target was announced')
        self.assertEqual([c.protocol.state_name(r['state']) for r in before_reply(42, 'STATE')],
                         ['running'])
        self.assertEqual(c.value('target'), 4 * MiB)
        self.assertEqual(w.power_off(), 0)

    def test_query_state_snapshot(self):
        w = self.start_worker(memory_mib=128, script='meminfo')
        c = w.control
        w.wait_marker(r'script done', BOOT_TIMEOUT)

        def query(with_stats):
            """QUERY_STATE; checks that its STATE, BALLOON and, if the guest reported
            any (WITH_STATS: it must have), GUEST_STATS come right before its REPLY."""
            snapshot = c.query_state()
            reply = snapshot['REPLY']
            if with_stats:
                self.assertIn('GUEST_STATS', snapshot)
            expected = ['STATE', 'BALLOON'] + (['GUEST_STATS'] if 'GUEST_STATS' in snapshot
                                               else [])
            at = reply.index - len(expected)
            self.assertEqual([r.name for r in c.records[at:reply.index]], expected,
                             c.records[max(at - 3, 0):reply.index + 1])
            return snapshot

        # Without --stats-interval the guest may not have sent statistics yet.
        snapshot = query(False)
        self.assertEqual(c.protocol.state_name(snapshot['STATE']['state']), 'running')
        self.assertEqual(snapshot['BALLOON'].fields, {'target': 0, 'actual': 0,
                                                      'guest_actual': 0, 'reported_bytes': 0})

        c.set_stats_interval(100)
        c.wait_record('GUEST_STATS', timeout=10)
        c.set_balloon_target(8 * MiB)
        c.wait_for(lambda v: v['actual'] == v['guest_actual'] == 8 * MiB, 30,
                   'actual and guest_actual to be 8 MiB')
        c.set_stats_interval(0)
        c.pause()
        # Paused, nothing moves: the snapshot must agree with what the events told.
        before = c.snapshot()
        snapshot = query(True)
        self.assertEqual(c.protocol.state_name(snapshot['STATE']['state']), 'paused')
        self.assertEqual(before['state'], 'paused')
        self.assertEqual(snapshot['BALLOON'].fields,
                         {k: before[k] for k in snapshot['BALLOON'].fields})
        self.assertEqual((snapshot['BALLOON']['target'], snapshot['BALLOON']['actual']),
                         (8 * MiB, 8 * MiB))
        self.assertEqual(c.protocol.guest_stats(snapshot['GUEST_STATS']), before['guest_stats'])
        self.assertEqual(snapshot['GUEST_STATS']['updated_us'], before['guest_stats_updated_us'])
        # A query changes nothing.
        again = query(True)
        self.assertEqual([again[k].fields for k in ('STATE', 'BALLOON', 'GUEST_STATS')],
                         [snapshot[k].fields for k in ('STATE', 'BALLOON', 'GUEST_STATS')])
        self.assertEqual(w.power_off(), 0)

    def hostile_records(self):
        """[(case, wire bytes, descriptors to pass, what the stop reason must name)]"""
        p = protocol.load()
        pause = p.kind('PAUSE')
        return [
            ('garbage', b'\xff\xfe\xfd', (), r'short|truncat|header'),
            ('oversized', p.encode('PAUSE', 5) + bytes(p.record_max + 44 - pause.size), (),
             r'long|oversize|large'),
            ('unknown kind', p.header(200, p.header_size, 5), (), r'unknown'),
            ('a kind the worker sends', p.encode('REPLY', 5, check=False, status=0), (),
             r'sender|may not send'),
            ('size field wrong', p.header(pause.number, pause.size + 4, 5), (), r'size'),
            ('longer than its kind', p.header(pause.number, pause.size + 4, 5) + bytes(4), (),
             r'size'),
            ('request without id', p.encode('PAUSE', 0, check=False), (), r'\bid\b'),
            ('target not whole pages', p.encode('SET_BALLOON_TARGET', 5, check=False, bytes=1),
             (), r'range'),
            ('interval out of range', p.encode('SET_STATS_INTERVAL', 5, check=False,
                                               milliseconds=3600001), (), r'range'),
            ('a descriptor', p.encode('PAUSE', 5), ('/dev/null',), r'descriptor|\bfds?\b'),
            ('a second HELLO', p.encode('HELLO', 0, magic=p.magic, version=p.version), (),
             r'HELLO|sender|may not send'),
        ]

    def test_bad_record_stops_the_vm(self):
        for case, data, files, names in self.hostile_records():
            with self.subTest(case=case):
                w = self.start_worker(memory_mib=128, script=TestLifecycle.HOLDS)
                c = w.control
                w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
                fds = [os.open(path, os.O_RDONLY | os.O_CLOEXEC) for path in files]
                try:
                    c.send_raw(data, fds, expect_reply_to=0)
                finally:
                    for fd in fds:
                        os.close(fd)
                stopped = c.wait_stopped()
                self.log(f'{case}: {stopped}')
                self.assertRegex(stopped['reason'], r'(?i)protocol')
                self.assertRegex(stopped['reason'], r'(?i)' + names)
                self.assertEqual(stopped['exit_status'], -1)
                self.assertNotIn('guest-exited', c.protocol.flag_names(stopped['flags']))
                self.assertEqual(c.records_of('REPLY'), [], 'the bad record was answered')
                c.wait_closed()
                self.assertNotEqual(w.wait_exit(), 0, w.describe())
                self.assertIn(stopped['reason'], w.stderr())

    def test_controller_closing_stops_the_vm(self):
        w = self.start_worker(memory_mib=128, script=TestLifecycle.HOLDS)
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        w.control.close()
        code = w.wait_exit()
        self.log(f'exit {code}: {w.stderr()!r}')
        self.assertIn('the controller went away', w.stderr())
        self.assertLess(len(w.markers(r'hold 100 ms done')), 60, 'the guest ran to its end')

    def test_controller_not_reading_stops_the_vm(self):
        # The worker keeps a bounded queue for a controller that does not read.
        w = self.start_worker(memory_mib=128, script=TestLifecycle.HOLDS)
        c = w.control
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        c.pause_reading()
        sent = 0
        try:
            # Each QUERY_STATE makes the worker send STATE, BALLOON and REPLY.
            while sent < 2000 and w.alive():
                c.send_request('QUERY_STATE')
                sent += 1
        except WorkerError as error:
            self.log(f'the worker stopped reading requests: {str(error).splitlines()[0]}')
        self.log(f'{sent} QUERY_STATE sent')
        code = w.wait_exit()
        self.log(f'exit {code}')
        self.assertIn('the controller stopped reading', w.stderr())
        c.resume_reading()
        c.wait_closed()
        self.assertLess(len(w.markers(r'hold 100 ms done')), 60, 'the guest ran to its end')

    def test_runs_without_control(self):
        # Uncontrolled, as the boot benchmark runs it: no --control-fd, no HELLO.
        w = self.start_worker(memory_mib=128, script='meminfo,exit', control=False)
        self.assertNotIn('--control-fd', w.argv)
        w.wait_marker(r'exit 0', BOOT_TIMEOUT)
        self.assertEqual(w.wait_exit(), 0, w.describe())


class TestHandshake(WorkerTestCase):
    """HELLO comes first, before the worker creates its VM; without a good one the
    worker says why on stderr and exits 2. No KVM needed."""

    needs_kvm = False

    def check_refused(self, w, pattern, timeout=EXIT_TIMEOUT):
        code = w.wait_exit(timeout)
        err = w.stderr()
        self.log(f'exit {code}: {err!r}')
        self.assertEqual(code, 2, err)
        lines = [line for line in err.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, f'not one line: {err!r}')
        self.assertRegex(lines[0], r'^vboxmem-vm: ')
        self.assertRegex(lines[0], pattern, 'the message does not say what is wrong')
        w.control.wait_closed(3)
        self.assertEqual(w.control.records, [], 'the worker sent records without a handshake')
        self.assertNotIn('ready', w.console())

    def test_no_hello_times_out(self):
        w = self.start_worker(memory_mib=128, script='meminfo', hello=False)
        started = time.monotonic()
        self.check_refused(w, r'HELLO', HANDSHAKE_BOUND)
        self.log(f'refused after {time.monotonic() - started:.1f} s')

    def test_closed_before_hello(self):
        w = self.start_worker(memory_mib=128, script='meminfo', hello=False)
        w.control.shutdown()
        self.check_refused(w, r'HELLO|closed')

    def test_bad_hello_refused(self):
        p = protocol.load()
        cases = [
            ('wrong magic', p.encode('HELLO', 0, check=False, magic=p.magic ^ 0xFFFF,
                                     version=p.version), r'HELLO|magic|first record'),
            ('newer version', p.encode('HELLO', 0, check=False, magic=p.magic,
                                       version=p.version + 1), rf'version.*{p.version + 1}'),
            ('version 0', p.encode('HELLO', 0, check=False, magic=p.magic, version=0),
             r'version|HELLO|first record'),
            ('HELLO with an id', p.encode('HELLO', 9, check=False, magic=p.magic,
                                          version=p.version), r'HELLO|\bid\b|first record'),
            ('a request first', p.encode('PAUSE', 1), r'PAUSE|HELLO'),
            ('garbage', b'\x01\x00\x10', r'HELLO|first record|short'),
        ]
        for case, data, pattern in cases:
            with self.subTest(case=case):
                w = self.start_worker(memory_mib=128, script='meminfo', hello=False)
                w.control.send_raw(data, expect_reply_to=0)
                self.check_refused(w, pattern)


class TestPrivileges(WorkerTestCase):
    needs_root = True

    def test_sandbox(self):
        w = self.start_worker(memory_mib=128, script='meminfo')
        # The sandbox is in place before the first vCPU runs.
        w.wait_marker(r'script done', BOOT_TIMEOUT)
        status = w.status()
        self.log(' '.join(f'{k}={status[k]!r}' for k in
                          ('Uid', 'Gid', 'Groups', 'NoNewPrivs', 'Seccomp', 'CapEff')))
        self.assertNotIn('0', status['Uid'].split(), 'a uid of the worker is root')
        self.assertNotIn('0', status['Gid'].split(), 'a gid of the worker is root')
        self.assertEqual(status['Groups'], '')
        self.assertEqual(int(status['CapEff'], 16), 0)
        self.assertEqual(status['NoNewPrivs'], '1')
        self.assertEqual(status['Seccomp'], '2')
        # Every thread, the vCPUs among them, is filtered.
        for task in os.listdir(f'/proc/{w.pid}/task'):
            with self.subTest(thread=task):
                with open(f'/proc/{w.pid}/task/{task}/status') as f:
                    self.assertIn('Seccomp:\t2\n', f.read())
        self.assertEqual(w.control.query_state()['STATE']['state'],
                         w.control.protocol.states['running'])
        self.assertEqual(w.power_off(), 0)

    def test_forbidden_syscall_kills(self):
        # A test hook: runs vboxmem-vm-test.
        w = self.start_worker(memory_mib=128, script='meminfo', wait_ready=False,
                              env={'VBOXMEM_VM_TEST_FORBIDDEN_SYSCALL': '1'})
        self.assertEqual(os.path.basename(w.argv[0]), 'vboxmem-vm-test')
        self.assertEqual(w.wait_exit(), -signal.SIGSYS, w.describe())
        self.assertNotIn('ready', w.console())

    def test_product_ignores_test_hooks(self):
        # The installed worker has no test hooks: it runs as if they were not set (the
        # forbidden system call not made, ioeventfd and irqfd used where KVM has them).
        hooks = {'VBOXMEM_VM_TEST_FORBIDDEN_SYSCALL': '1', 'VBOXMEM_VM_TEST_NO_IOEVENTFD': '1',
                 'VBOXMEM_VM_TEST_NO_IRQFD': '1', 'VBOXMEM_VM_DEBUG': '1'}
        w = self.start_worker(memory_mib=128, script='wait-balloon:16M:timeout=60s,meminfo',
                              cmdline='vboxmem.msix=on', env=hooks, binary=paths.worker_binary())
        self.assertEqual(os.path.basename(w.argv[0]), 'vboxmem-vm')
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        w.control.set_balloon_target(16 * MiB)
        w.wait_marker(r'script done failures=0')
        self.assertTrue(w.alive())
        self.assertEqual(w.power_off(), 0, w.describe())
        err = w.stderr()
        self.assertNotIn('turned off', err)
        notifications, interrupts = re.search(NOTIFY_COUNTS, err), re.search(MSI_COUNTS, err)
        self.assertIsNotNone(notifications, err)
        self.assertIsNotNone(interrupts, err)
        if kvm.has_cap(kvm.KVM_CAP_IOEVENTFD):
            self.assertGreater(int(notifications.group(1)), 0, err)
            self.assertEqual(int(notifications.group(2)), 0, err)
        if kvm.has_cap(kvm.KVM_CAP_IRQFD):
            self.assertGreater(int(interrupts.group(1)), 0, err)
            self.assertEqual(int(interrupts.group(2)), 0, err)


class TestBadOptions(WorkerTestCase):
    """Bad command lines: exit 2 (usage) or 1, one clear line on stderr, no VM."""

    needs_kvm = False  # refused before any VM exists

    def check_refused(self, expect_in_message, **worker_args):
        w = self.start_worker(wait_ready=False, **worker_args)
        code = w.wait_exit()
        err = w.stderr()
        self.log(f'exit {code}: {err!r}')
        self.assertIn(code, (1, 2), err)
        lines = [line for line in err.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, f'not one line: {err!r}')
        self.assertTrue(lines[0].startswith('vboxmem-vm: '), lines[0])
        for word in expect_in_message:
            self.assertIn(word, lines[0], 'the message does not say what is wrong')
        if w.control is not None:
            w.control.wait_closed(3)
            self.assertEqual(w.control.records_of('READY'), [], 'READY without a VM')

    def test_missing_kernel(self):
        self.check_refused(['--kernel'], kernel='', memory_mib=128)

    def test_nonexistent_kernel(self):
        require_kvm()  # the worker opens /dev/kvm before it reads the kernel
        missing = '/nonexistent/vboxmem-kernel'
        self.check_refused([missing], kernel=missing, memory_mib=128)

    def test_zero_memory(self):
        self.check_refused(['--memory'], memory_mib=0)

    def test_balloon_larger_than_memory(self):
        self.check_refused(['--balloon'], memory_mib=128, args=['--balloon', '256'])

    def test_control_fd_not_seqpacket(self):
        # A stream socket is not the controller's socket pair.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        self.check_refused(['--control-fd', 'SOCK_SEQPACKET'], memory_mib=128, control=False,
                           args=['--control-fd', str(theirs.fileno())],
                           pass_fds=[theirs.fileno()])


if __name__ == '__main__':
    testing.main(meson_build='tests/vmm/meson.build', terminate_cleanly=True)
