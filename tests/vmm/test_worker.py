#!/usr/bin/python3
"""Integration tests of vboxmem-vm with real KVM guests (the ring-3 test guest).

Each test starts a worker in a temporary directory, drives it over its control
interface (org.vboxmem.VBoxMem1.Worker, peer-to-peer D-Bus) and watches the
guest's console markers. Run one test case per process, as meson does:

    /usr/bin/python3 tests/vmm/test_worker.py TestBalloon.test_inflate_deflate

Skipped (exit 77) without a usable /dev/kvm, and for the privilege tests when
not root. VBOXMEM_TEST_KEEP=1 keeps each worker's directory (console log,
stderr) for a look after the run.
"""

import fcntl
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vmmtest import (  # noqa: E402
    BOOT_TIMEOUT, PAGE, DBusError, MiB, WorkerTestCase, kib_field, main, poll, require_kvm)

INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
POWERED_OFF = 'powered off by the controller'

# Feature bits of virtio-balloon in the guest's `balloon device ... features=` marker.
F_STATS_VQ = 1 << 1
F_DEFLATE_ON_OOM = 1 << 2
F_FREE_PAGE_REPORTING = 1 << 5

# The gate a script waits at until the test is ready: a one-page balloon.
GATE = 'wait-balloon:1p:timeout=60s'
GATE_SIZE = PAGE


KVM_CHECK_EXTENSION = 0xAE03
KVM_CAP_IOEVENTFD = 36
KVM_CAP_IRQFD = 32

# The worker's debug lines when the VM stops (VBOXMEM_VM_DEBUG=1).
NOTIFY_COUNTS = r'virtio notifications: (\d+) through ioeventfd, (\d+) on vCPU exits'
MSI_COUNTS = r'virtio interrupts: (\d+) MSIs through irqfd, (\d+) through KVM_SIGNAL_MSI, (\d+) routes'


def kvm_has_cap(cap):
    fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0
    finally:
        os.close(fd)


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
    w.set_balloon_target(256 * MiB)
    w.wait_property('BalloonActual', lambda v: v == 256 * MiB, what='256 MiB')
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
        props = w.get_all()
        self.assertEqual(props['State'], 'running')
        self.assertEqual(props['ExitStatus'], -1)
        self.assertEqual(props['StopReason'], '')
        w.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'exit 0')
        self.assertEqual(w.wait_exit(), 0, w.describe())
        self.assertIn('the guest exited with status 0', w.stderr())

    def test_exit_status_nonzero(self):
        w = self.start_worker(memory_mib=128, script=f'{GATE},exit:3')
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        w.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'exit 3')
        self.assertEqual(w.wait_exit(), 1, w.describe())
        self.assertIn('the guest exited with status 3', w.stderr())

    def test_failed_step_fails_the_vm(self):
        # 256 MiB do not fit in a 128 MiB guest: the step fails, `exit` says 1.
        w = self.start_worker(memory_mib=128, script=f'{GATE},alloc:256M:seed=1,exit')
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        w.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'alloc 256 MiB FAILED out of memory')
        w.wait_marker(r'exit 1')
        self.assertEqual(w.wait_exit(), 1, w.describe())

    def stopped_signal(self, control):
        w = self.start_worker(memory_mib=128, script=f'{GATE},exit:3', control=control)
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        self.assertEqual(w.get('State'), 'running')
        w.set_balloon_target(GATE_SIZE)
        self.assertEqual(w.wait_exit(), 1, w.describe())
        self.assertEqual(w.wait_stopped_signal(),
                         ('the guest exited with status 3', True, 3))
        self.assertEqual(len(w.signals), 1)

    def test_stopped_signal(self):
        # Over --control-socket, as tests, benchmarks and admins with gdbus use it.
        self.stopped_signal('socket')

    def test_stopped_signal_on_control_fd(self):
        # Over --control-fd, the socketpair vboxmemd uses.
        self.stopped_signal('fd')


class TestBalloon(WorkerTestCase):
    """SetBalloonTarget takes memory from the guest and gives it back."""

    def test_inflate_deflate(self):
        # The numbers: a 1024 MiB guest dirties 768 MiB and frees it (no free
        # page reporting), so those pages stay resident until the balloon takes them.
        # 64 MiB stay allocated throughout: the balloon must not touch them.
        script = ('alloc:64M:seed=3,alloc:768M:seed=1,free:768M,meminfo,'
                  'wait-balloon:256M:timeout=60s,verify,wait-balloon:0:timeout=60s,'
                  'alloc:896M:seed=2,verify,exit')
        w = self.start_worker(memory_mib=1024, script=script)
        _, at = w.wait_marker(r'free 768 MiB done pages=196608', 60)
        before = w.rss()
        self.log(f'RSS {before / MiB:.0f} MiB with 832 MiB dirtied')
        self.assertGreaterEqual(before, 832 * MiB)

        w.set_balloon_target(256 * MiB)
        self.assertEqual(w.get('BalloonTarget'), 256 * MiB)
        w.wait_property('BalloonActual', lambda v: v == 256 * MiB, what='256 MiB')
        after = poll(lambda: (lambda r: r if before - r >= 0.9 * 256 * MiB else None)(
            w.rss()), 10, lambda: f'RSS {w.rss() / MiB:.0f} MiB, was {before / MiB:.0f} MiB')
        self.log(f'RSS {after / MiB:.0f} MiB with a 256 MiB balloon: '
                 f'{(before - after) / MiB:.0f} MiB returned')
        w.wait_marker(r'wait-balloon done actual=65536 pages', start=at)
        _, at = w.wait_marker(r'verify ok pages=16384', start=at)
        # The guest's own `actual` field, as it wrote it after its last batch.
        w.wait_property('BalloonGuestActual', lambda v: v == 256 * MiB, 5, '256 MiB')

        w.set_balloon_target(0)
        w.wait_property('BalloonActual', lambda v: v == 0, what='0')
        w.wait_marker(r'wait-balloon done actual=0 pages', start=at)
        # 64 + 896 MiB fit only when the balloon has really given its 256 MiB back.
        w.wait_marker(r'alloc 896 MiB done pages=229376 seed=2 oom-deflated=0', 60, at)
        w.wait_marker(r'verify ok pages=245760', start=at)
        self.assertEqual(w.wait_exit(), 0, w.describe())

    def test_bad_target_refused(self):
        w = self.start_worker(memory_mib=128, script='meminfo')
        w.wait_marker(r'script done', BOOT_TIMEOUT)
        w.set_balloon_target(16 * MiB)
        w.wait_property('BalloonActual', lambda v: v == 16 * MiB, what='16 MiB')
        _, at = w.wait_marker(r'balloon actual=4096 pages')
        for bad in (1, PAGE + 1, 16 * MiB + 512, 128 * MiB + PAGE, 1 << 40,
                    (1 << 64) - PAGE, (1 << 64) - 1):
            with self.subTest(target=bad):
                with self.assertRaises(DBusError) as caught:
                    w.set_balloon_target(bad)
                self.assertEqual(caught.exception.name, INVALID_ARGS)
                self.assertIn('4 KiB pages', caught.exception.message)
        self.assertEqual(w.get('BalloonTarget'), 16 * MiB)
        self.assertEqual(w.get('BalloonActual'), 16 * MiB)
        # The whole memory is a valid (if unreachable) target: the guest is asked.
        w.set_balloon_target(128 * MiB)
        self.assertEqual(w.get('BalloonTarget'), 128 * MiB)
        m, _ = w.wait_marker(r'balloon target=(\d+) pages', start=at)
        self.assertEqual(int(m.group(1)), 128 * MiB // PAGE,
                         'a refused target reached the guest')
        self.assertEqual(w.power_off(), 0)

    def test_start_balloon_option(self):
        w = self.start_worker(memory_mib=128, script='wait-balloon:64M:timeout=60s',
                              args=['--balloon', '64'])
        w.wait_marker(r'wait-balloon done actual=16384 pages', BOOT_TIMEOUT)
        w.wait_property('BalloonActual', lambda v: v == 64 * MiB, what='64 MiB')
        self.assertEqual(w.get('BalloonTarget'), 64 * MiB,
                         'BalloonTarget does not show the target set by --balloon')
        self.assertEqual(w.power_off(), 0)


class TestStats(WorkerTestCase):

    def test_stats_update(self):
        w = self.start_worker(memory_mib=256, script=f'{GATE},alloc:128M:seed=1,meminfo',
                              args=['--stats-interval', '500'])
        self.assertTrue(features(w) & F_STATS_VQ)
        w.wait_marker(r'ready', BOOT_TIMEOUT)
        stamps = []

        def three_updates():
            stamp = w.get('GuestStatsUpdated')
            if stamp and (not stamps or stamp != stamps[-1]):
                stamps.append(stamp)
            return len(stamps) >= 3

        poll(three_updates, 10, lambda: f'GuestStatsUpdated only took {stamps}')
        self.assertEqual(stamps, sorted(stamps), 'GuestStatsUpdated went backwards')
        self.assertLess(abs(stamps[-1] / 1e6 - time.time()), 60,
                        'GuestStatsUpdated is not microseconds since the epoch')
        stats = w.get('GuestStats')
        self.log(f'GuestStats {stats}')
        total, free = stats['memory-total'], stats['memory-free']
        self.assertLessEqual(total, 256 * MiB)
        self.assertGreaterEqual(total, 0.97 * 256 * MiB)
        self.assertLessEqual(free, total)
        self.assertLessEqual(stats['memory-available'], total)
        self.assertEqual(stats['swap-in'], 0)

        # The guest allocates 128 MiB: the next statistics show it.
        w.set_balloon_target(GATE_SIZE)
        w.wait_marker(r'alloc 128 MiB done')
        stats = w.wait_property('GuestStats',
                                lambda s: s['memory-free'] <= free - 128 * MiB,
                                what=f'memory-free at most {(free - 128 * MiB) // MiB} MiB')
        self.assertLessEqual(stats['memory-free'], stats['memory-total'])
        self.assertGreaterEqual(stats['minor-faults'], 128 * MiB // PAGE)

        # Interval 0 stops asking: over three former intervals, at most the answer to
        # a request already on its way arrives.
        w.call('SetStatsInterval', 'u', 0)
        seen = {w.get('GuestStatsUpdated')}
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            seen.add(w.get('GuestStatsUpdated'))
            self.assertLessEqual(len(seen), 2,
                                 'statistics still updated after SetStatsInterval(0)')
            time.sleep(0.1)
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
        if not kvm_has_cap(KVM_CAP_IOEVENTFD):
            self.skipTest('KVM has no ioeventfd here (KVM_CAP_IOEVENTFD)')
        w, through_ioeventfd, on_exits = self.inflate({})
        self.assertIn('virtio notifications: ioeventfd', w.stderr())
        # The guest hands over 1 MiB per buffer, and notifies only after DRIVER_OK.
        self.assertGreaterEqual(through_ioeventfd, 256)
        self.assertEqual(on_exits, 0)

    def test_fallback_without_ioeventfd(self):
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
        if not kvm_has_cap(KVM_CAP_IRQFD):
            self.skipTest('KVM has no irqfd here (KVM_CAP_IRQFD)')
        w, through_irqfd, through_ioctl, routes = self.inflate({})
        self.assertNotIn('virtio interrupts: KVM_SIGNAL_MSI', w.stderr())
        # One MSI per used buffer at least: the guest hands over 1 MiB per buffer.
        self.assertGreaterEqual(through_irqfd, 256)
        self.assertEqual(through_ioctl, 0)
        self.assertEqual(routes, 1, 'one vector, one message: one route')

    def test_fallback_without_irqfd(self):
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
        w.set_balloon_target(192 * MiB)
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
        actual = w.wait_property('BalloonActual', lambda v: v <= 128 * MiB,
                                 what='at most 128 MiB')
        self.log(f'oom-deflated={deflated} pages, BalloonActual {actual / MiB:.1f} MiB')
        self.assertEqual(w.get('BalloonTarget'), 192 * MiB)
        self.assertEqual(w.power_off(), 0)

    def test_no_deflate_without_option(self):
        w = self.start(False)
        w.wait_marker(r'alloc 128 MiB FAILED out of memory after \d+ MiB pages=\d+ '
                      r'oom-deflated=0')
        w.wait_marker(r'script done failures=1')
        self.assertEqual(w.get('BalloonActual'), 192 * MiB)
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
        w.wait_property('BalloonReportedBytes', lambda v: v >= 256 * MiB,
                        what='at least 256 MiB')
        status = w.status()
        peak = kib_field(status, 'VmHWM')
        rss = poll(lambda: (lambda r: r if peak - r >= 0.9 * 256 * MiB else None)(w.rss()),
                   10, lambda: f'RSS {w.rss() / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB')
        self.log(f'RSS {rss / MiB:.0f} MiB after reporting, peak {peak / MiB:.0f} MiB')
        self.assertEqual(w.get('BalloonActual'), 0)
        self.assertEqual(w.get('BalloonTarget'), 0)
        self.assertEqual(w.power_off(), 0)

    def test_nothing_reported_without_option(self):
        # `report` forces a reporting pass at once; without the feature there is none.
        w = self.start_worker(memory_mib=512,
                              script='alloc:256M:seed=5,free:all,report,meminfo')
        self.assertFalse(features(w) & F_FREE_PAGE_REPORTING)
        w.wait_marker(r'report skipped \(free page reporting not negotiated\)')
        w.wait_marker(r'script done failures=0')
        self.assertEqual(w.get('BalloonReportedBytes'), 0)
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
        self.assertEqual(w.get('State'), 'running')
        return w, at

    def check_device_still_works(self, w, at):
        """The guest reset the device: a real request works and counts exactly."""
        w.set_balloon_target(16 * MiB)
        w.wait_marker(r'wait-balloon done actual=4096 pages', start=at)
        w.wait_marker(r'verify ok pages=8192', start=at)
        w.wait_marker(r'script done failures=0', start=at)
        self.assertEqual(w.get('BalloonActual'), 16 * MiB)
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
        self.assertEqual(w.get('BalloonActual'), 0)
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
        self.assertEqual(w.get('BalloonActual'), 0)
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
        w.set_balloon_target(16 * MiB)
        w.wait_marker(r'hostile ignore-target target=4096 actual=0 pages', start=at)
        self.assertEqual(w.get('BalloonTarget'), 16 * MiB)
        self.assertEqual(w.get('BalloonActual'), 0)
        self.assertEqual(w.get('BalloonGuestActual'), 0)
        self.assertEqual(w.power_off(), 0)

    def test_lie_actual(self):
        w, at = self.run_hostile('lie-actual')
        w.set_balloon_target(16 * MiB)
        w.wait_marker(r'hostile lie-actual wrote actual=4096 real=0 pages', start=at)
        # The guest's claim shows as such; Actual counts only what the host discarded.
        w.wait_property('BalloonGuestActual', lambda v: v == 16 * MiB, what='16 MiB')
        self.assertEqual(w.get('BalloonActual'), 0)
        self.assertEqual(w.power_off(), 0)

    def test_bad_stats(self):
        w, at = self.run_hostile('bad-stats')
        known = {'swap-in', 'swap-out', 'major-faults', 'minor-faults', 'memory-free',
                 'memory-total', 'memory-available', 'disk-caches', 'hugetlb-allocations',
                 'hugetlb-failures'}
        # The bad buffer's last memory-total entry is 0: wait for a bad buffer to arrive.
        stats = w.wait_property('GuestStats', lambda s: s.get('memory-total') == 0,
                                what='the bad buffer (memory-total 0)')
        self.log(f'GuestStats from the bad buffer: {stats}')
        self.assertLessEqual(set(stats), known)
        self.assertEqual(stats['memory-available'], 1 << 63)
        self.assertTrue(w.alive())
        self.check_device_still_works(w, at)


class TestLifecycle(WorkerTestCase):
    # A guest that prints a marker every 100 ms for 6 s.
    HOLDS = ','.join(['hold:100ms'] * 60)

    def test_pause_resume(self):
        w = self.start_worker(memory_mib=128, script=self.HOLDS,
                              args=['--stats-interval', '100'])
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        w.call('Pause')
        self.assertEqual(w.get('State'), 'paused')
        holds = len(w.markers(r'hold 100 ms done'))
        stamp = w.get('GuestStatsUpdated')
        # Paused for 1 s: a running guest would print ~10 markers and answer ~10 requests.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.assertEqual(len(w.markers(r'hold 100 ms done')), holds,
                             'the guest ran while paused')
            self.assertEqual(w.get('GuestStatsUpdated'), stamp,
                             'the guest answered a statistics request while paused')
            time.sleep(0.05)
        self.assertEqual(w.get('State'), 'paused')
        w.call('Resume')
        self.assertEqual(w.get('State'), 'running')
        poll(lambda: len(w.markers(r'hold 100 ms done')) >= holds + 3, 10,
             'the guest did not go on after Resume')
        w.wait_property('GuestStatsUpdated', lambda v: v > stamp, what=f'newer than {stamp}')
        # Pause and Resume twice in a row are harmless.
        w.call('Resume')
        w.call('Pause')
        w.call('Pause')
        self.assertEqual(w.get('State'), 'paused')
        w.call('Resume')
        self.assertEqual(w.get('State'), 'running')
        self.assertEqual(w.power_off(), 0)

    def test_power_off(self):
        w = self.start_worker(memory_mib=128, script=self.HOLDS)
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        w.call('PowerOff')
        self.assertEqual(w.wait_exit(), 0, w.describe())
        self.assertEqual(w.wait_stopped_signal(), (POWERED_OFF, False, -1))
        self.assertIn(POWERED_OFF, w.stderr())

    def test_power_off_while_paused(self):
        w = self.start_worker(memory_mib=128, script=self.HOLDS)
        w.wait_marker(r'hold 100 ms done', BOOT_TIMEOUT)
        w.call('Pause')
        self.assertEqual(w.get('State'), 'paused')
        self.assertEqual(w.power_off(), 0, w.describe())
        self.assertIn(POWERED_OFF, w.stderr())


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
        # Every thread, the vCPUs and GDBus's among them, is filtered.
        for task in os.listdir(f'/proc/{w.pid}/task'):
            with self.subTest(thread=task):
                with open(f'/proc/{w.pid}/task/{task}/status') as f:
                    self.assertIn('Seccomp:\t2\n', f.read())
        self.assertEqual(w.get('State'), 'running')
        self.assertEqual(w.power_off(), 0)

    def test_forbidden_syscall_kills(self):
        w = self.start_worker(memory_mib=128, script='meminfo', connect=False,
                              env={'VBOXMEM_VM_TEST_FORBIDDEN_SYSCALL': '1'})
        self.assertEqual(w.wait_exit(), -signal.SIGSYS, w.describe())
        self.assertNotIn('ready', w.console())


class TestBadOptions(WorkerTestCase):
    """Bad command lines: exit 2 (usage) or 1, one clear line on stderr, nothing left."""

    needs_kvm = False  # refused before any VM exists

    def check_refused(self, expect_in_message, **worker_args):
        w = self.start_worker(connect=False, **worker_args)
        code = w.wait_exit()
        err = w.stderr()
        self.log(f'exit {code}: {err!r}')
        self.assertIn(code, (1, 2), err)
        lines = [line for line in err.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, f'not one line: {err!r}')
        self.assertTrue(lines[0].startswith('vboxmem-vm: '), lines[0])
        for word in expect_in_message:
            self.assertIn(word, lines[0], 'the message does not say what is wrong')
        self.assertFalse(os.path.exists(w.socket_path), 'control socket left behind')

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

if __name__ == '__main__':
    main()
