#!/usr/bin/python3
"""Boots vboxmem-test-guest under QEMU (TCG) with QEMU's virtio-balloon-pci.

QEMU's device is the reference implementation the guest's balloon driver is checked
against. One test case per run; exit 77 (skip) when qemu-system-x86_64 is missing.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
from vboxmem_harness import PAGE, SKIP, MiB as MIB, procfs  # noqa: E402
from vboxmem_harness.qmp import Qmp  # noqa: E402

RAM_MIB = 512
QEMU = 'qemu-system-x86_64'
BOOT_TIMEOUT = 30
STEP_TIMEOUT = 40


class Failure(Exception):
    pass


class Guest:
    """One QEMU running the test guest; its console is collected line by line."""

    def __init__(self, image, append, device='', machine='pc'):
        self.tmp = tempfile.TemporaryDirectory(prefix='vboxmem-guest-')
        qmp_path = os.path.join(self.tmp.name, 'qmp.sock')
        argv = [
            QEMU, '-accel', 'tcg', '-machine', machine, '-m', str(RAM_MIB),
            '-nodefaults', '-display', 'none', '-no-reboot',
            '-kernel', image, '-append', append,
            '-serial', 'stdio',
            '-qmp', f'unix:{qmp_path},server=on,wait=off',
            '-device', 'virtio-balloon-pci,id=balloon0' + (',' + device if device else ''),
            '-device', 'isa-debug-exit,iobase=0x501,iosize=2',
        ]
        print('+', ' '.join(argv), flush=True)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors='replace')
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read_console, daemon=True)
        self.reader.start()
        self.qmp = Qmp(qmp_path, timeout=10, connect_timeout=10, error=Failure)

    def _read_console(self):
        for line in self.proc.stdout:
            line = line.rstrip('\r\n')
            print(f'[{time.monotonic() - self.started:7.3f}] {line}', flush=True)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pattern, timeout=STEP_TIMEOUT, start=0):
        """Waits for a console line matching the regex; returns (match, line index)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = regex.search(self.lines[i])
                    if m:
                        return m, i
                    i += 1
                if not self.reader.is_alive():
                    raise Failure(f'QEMU ended before a line matching {pattern!r}')
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f'no line matching {pattern!r} within {timeout} s')
                self.cond.wait(left)

    def marker(self, text, timeout=STEP_TIMEOUT, start=0):
        return self.wait_for(r'^vboxmem-guest: ' + text, timeout, start)

    def wait_exit(self, timeout=STEP_TIMEOUT):
        """The guest's exit status, from isa-debug-exit: QEMU exits with (status << 1) | 1."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f'QEMU still running {timeout} s after the guest should have exited')
        self.reader.join(5)
        if rc % 2 != 1:
            raise Failure(f'QEMU exited with {rc}, not through isa-debug-exit')
        return rc >> 1

    def balloon_remaining(self, mib):
        """QEMU's balloon argument is what the guest keeps, not what the balloon takes."""
        self.qmp.execute('balloon', value=mib * MIB)

    def balloon_actual_mib(self):
        return self.qmp.execute('query-balloon')['actual'] / MIB

    def wait_balloon_actual(self, mib, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            actual = self.balloon_actual_mib()
            if actual == mib:
                return
            if time.monotonic() > deadline:
                raise Failure(f'query-balloon says {actual} MiB, expected {mib} MiB')
            time.sleep(0.1)

    def guest_stats(self):
        return self.qmp.execute('qom-get', path='/machine/peripheral/balloon0', property='guest-stats')

    def rss_mib(self):
        try:
            return procfs.rss_kib(self.proc.pid) / 1024
        except OSError:
            raise Failure('no VmRSS') from None

    def close(self):
        try:
            self.qmp.close()
        except (AttributeError, OSError):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()


def check(cond, what):
    if not cond:
        raise Failure(what)


def boot_and_exit(image, device, machine, transport):
    script = 'alloc:64M:seed=7,verify,free:16M,verify,meminfo,exit'
    g = Guest(image, f'console=ttyS0 vboxmem.script={script}', device, machine)
    try:
        m, _ = g.marker(r'balloon device=\S+ transport=(\w+)', BOOT_TIMEOUT)
        check(m.group(1) == transport, f'transport {m.group(1)}, expected {transport}')
        g.marker(r'ready', BOOT_TIMEOUT)
        print(f'boot to ready: {time.monotonic() - g.started:.2f} s (QEMU start to marker)')
        g.marker(r'alloc 64 MiB done pages=16384 seed=7')
        g.marker(r'verify ok pages=16384')
        g.marker(r'verify ok pages=12288')
        check(g.wait_exit() == 0, 'guest exit status not 0')
        g.marker(r'exit 0')
    finally:
        g.close()


def case_boot_modern(image):
    boot_and_exit(image, '', 'pc', 'modern')


def case_boot_legacy(image):
    boot_and_exit(image, 'disable-modern=on', 'pc', 'legacy')


def case_boot_q35(image):
    # On q35's PCIe root bus the device is modern-only (1af4:1045).
    boot_and_exit(image, '', 'q35', 'modern')


def case_pci_reassign(image):
    # SeaBIOS assigns every BAR; the guest clears the balloon's and assigns them itself,
    # as it must under a VMM that leaves them at 0.
    script = 'alloc:64M:seed=4,free:all,report,wait-balloon:32M:timeout=60s,hold:3s,exit'
    g = Guest(image, f'vboxmem.pci=reassign vboxmem.script={script}', 'free-page-reporting=on')
    try:
        g.marker(r'balloon device=\S+ transport=modern .* base=0xe0000000', BOOT_TIMEOUT)
        g.marker(r'report done MiB=6[0-4]')
        g.balloon_remaining(RAM_MIB - 32)
        g.marker(r'wait-balloon done actual=8192 pages')
        g.wait_balloon_actual(RAM_MIB - 32)
        check(g.wait_exit() == 0, 'guest exit status not 0')
    finally:
        g.close()


def case_balloon(image):
    script = ('alloc:64M:seed=7,verify,wait-balloon:128M:timeout=60s,verify,'
              'wait-balloon:0:timeout=60s,alloc:384M:seed=9,verify,exit')
    g = Guest(image, f'vboxmem.script={script}')
    try:
        _, at = g.marker(r'verify ok pages=16384', BOOT_TIMEOUT)
        g.balloon_remaining(RAM_MIB - 128)
        g.marker(r'balloon target=32768 pages', start=at)
        g.marker(r'balloon actual=32768 pages', start=at)
        _, at = g.marker(r'wait-balloon done actual=32768 pages', start=at)
        g.wait_balloon_actual(RAM_MIB - 128)
        g.marker(r'verify ok pages=16384', start=at)
        g.balloon_remaining(RAM_MIB)
        g.marker(r'balloon actual=0 pages', start=at)
        g.wait_balloon_actual(RAM_MIB)
        # 64 + 384 MiB only fit when the balloon has really given its pages back.
        g.marker(r'alloc 384 MiB done', start=at)
        g.marker(r'verify ok pages=114688', start=at)
        check(g.wait_exit() == 0, 'guest exit status not 0')
    finally:
        g.close()


def case_stats(image):
    g = Guest(image, 'vboxmem.script=alloc:32M:seed=1,meminfo')
    try:
        m, _ = g.marker(r'meminfo total=(\d+) free=(\d+) ', BOOT_TIMEOUT)
        total, free = int(m.group(1)) * PAGE, int(m.group(2)) * PAGE
        g.qmp.execute('qom-set', path='/machine/peripheral/balloon0',
                  property='guest-stats-polling-interval', value=1)
        deadline = time.monotonic() + STEP_TIMEOUT
        first = None
        while time.monotonic() < deadline:
            s = g.guest_stats()
            if s['last-update'] and s['stats']['stat-total-memory'] == total:
                if first is None:
                    first = s
                elif s['last-update'] >= first['last-update'] + 2:
                    break
            time.sleep(0.2)
        else:
            raise Failure(f'stats did not arrive and refresh: {g.guest_stats()}')
        stats = s['stats']
        print('guest-stats:', json.dumps(s))
        check(stats['stat-free-memory'] == free, f'free {stats["stat-free-memory"]} != {free}')
        check(stats['stat-available-memory'] == free, 'available != free')
        check(stats['stat-minor-faults'] == 32 * MIB // PAGE, 'minor faults != pages allocated')
        check(stats['stat-swap-in'] == 0 and stats['stat-major-faults'] == 0, 'swap/majflt')
    finally:
        g.close()


def case_deflate_on_oom(image):
    script = 'wait-balloon:256M:timeout=60s,alloc:400M:seed=3,verify,meminfo,hold:3s,exit'
    g = Guest(image, f'vboxmem.script={script}', 'deflate-on-oom=on')
    try:
        m, _ = g.marker(r'balloon device=\S+ transport=\w+ offered=\S+ features=(\S+)',
                        BOOT_TIMEOUT)
        check(int(m.group(1), 16) & (1 << 2), 'DEFLATE_ON_OOM not negotiated')
        g.marker('ready', BOOT_TIMEOUT)
        g.balloon_remaining(RAM_MIB - 256)
        g.marker(r'wait-balloon done actual=65536 pages')
        m, _ = g.marker(r'alloc 400 MiB done pages=102400 seed=3 oom-deflated=(\d+)')
        check(int(m.group(1)) > 0, 'no pages deflated on OOM')
        g.marker(r'verify ok pages=102400')
        actual = g.balloon_actual_mib()
        check(actual >= RAM_MIB - 256 + 140, f'QEMU still sees {actual} MiB after OOM deflation')
        check(g.wait_exit() == 0, 'guest exit status not 0')
    finally:
        g.close()


def case_free_page_reporting(image):
    script = 'alloc:256M:seed=5,hold:1s,free:all,hold:8s,meminfo,exit'
    g = Guest(image, f'vboxmem.script={script}', 'free-page-reporting=on')
    try:
        g.marker(r'alloc 256 MiB done', BOOT_TIMEOUT)
        _, at = g.marker(r'hold 1000 ms done')
        before = g.rss_mib()
        g.marker(r'free 256 MiB done', start=at)
        m, _ = g.marker(r'reported (\d+) MiB', timeout=10, start=at)
        check(int(m.group(1)) >= 250, f'only {m.group(1)} MiB reported')
        time.sleep(0.5)
        after = g.rss_mib()
        print(f'QEMU RSS {before:.0f} MiB -> {after:.0f} MiB after free page reporting')
        check(before - after >= 200, 'QEMU did not get the reported memory back')
        g.marker(r'meminfo .* used=0 ', start=at)
        check(g.wait_exit() == 0, 'guest exit status not 0')
    finally:
        g.close()


def case_inflate_returns_memory(image):
    # Without reporting, freed pages stay backed; inflation must take those first.
    script = 'alloc:256M:seed=5,free:all,wait-balloon:256M:timeout=60s,hold:2s,exit'
    g = Guest(image, f'vboxmem.script={script}')
    try:
        g.marker(r'free 256 MiB done', BOOT_TIMEOUT)
        before = g.rss_mib()
        g.balloon_remaining(RAM_MIB - 256)
        g.marker(r'wait-balloon done actual=65536 pages')
        after = g.rss_mib()
        print(f'QEMU RSS {before:.0f} MiB -> {after:.0f} MiB after inflating 256 MiB')
        check(before - after >= 200, 'inflation did not give the host memory back')
        check(g.wait_exit() == 0, 'guest exit status not 0')
    finally:
        g.close()


def hostile(image, device):
    script = 'wait-balloon:64M:timeout=60s,hold:3s,alloc:64M:seed=2,verify,exit'
    append = (f'vboxmem.hostile=bad-pfn,flood,bad-stats,bad-desc vboxmem.flood=20000 '
              f'vboxmem.script={script}')
    g = Guest(image, append, device)
    try:
        g.marker(r'hostile bad-pfn inflate pfns=\d+', BOOT_TIMEOUT)
        g.marker(r'hostile flood notifies=20000')
        g.marker(r'hostile bad-stats active')
        g.marker(r'hostile bad-pfn done')
        for case in ('addr-beyond-ram', 'loop-self', 'loop-pair', 'next-out-of-range',
                     'head-out-of-range', 'avail-idx-jump', 'len-huge'):
            g.marker(rf'hostile bad-desc {case} answer=\w+')
        _, at = g.marker(r'hostile bad-desc done')
        # The device, reset after each broken queue, must still work.
        g.balloon_remaining(RAM_MIB - 64)
        g.marker(r'wait-balloon done actual=16384 pages', start=at)
        g.wait_balloon_actual(RAM_MIB - 64)
        g.marker(r'verify ok pages=16384', start=at)
        check(g.wait_exit() == 0, 'guest exit status not 0')
    finally:
        g.close()


def case_hostile(image):
    hostile(image, '')


def case_hostile_legacy(image):
    hostile(image, 'disable-modern=on')


def case_hostile_lie_actual(image):
    g = Guest(image, 'vboxmem.hostile=lie-actual vboxmem.script=meminfo')
    try:
        g.marker('script done', BOOT_TIMEOUT)
        g.balloon_remaining(RAM_MIB - 100)
        g.marker(r'hostile lie-actual wrote actual=25600 real=0 pages')
        g.wait_balloon_actual(RAM_MIB - 100)  # QEMU believes the guest
    finally:
        g.close()


def case_bad_script(image):
    g = Guest(image, 'vboxmem.script=alloc:12X,bogus,hold:5 vboxmem.nonsense=1')
    try:
        g.marker(r"error cmdline: bad option 'vboxmem.nonsense=1'", BOOT_TIMEOUT)
        g.marker(r"error script: bad step 'alloc:12X'")
        g.marker(r"error script: bad step 'bogus'")
        g.marker(r"error script: bad step 'hold:5'")
        check(g.wait_exit() == 2, 'guest exit status not 2')
    finally:
        g.close()


CASES = {name[len('case_'):].replace('_', '-'): fn
         for name, fn in globals().items() if name.startswith('case_')}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--guest', required=True, help='the vboxmem-test-guest image')
    parser.add_argument('case', choices=sorted(CASES))
    args = parser.parse_args()
    if not shutil.which(QEMU):
        print(f'{QEMU} not found: skipping')
        return SKIP
    if not os.path.exists(args.guest):
        print(f'{args.guest} does not exist')
        return 1
    start = time.monotonic()
    try:
        CASES[args.case](args.guest)
    except (Failure, OSError) as e:
        print(f'FAIL {args.case}: {e}')
        return 1
    print(f'PASS {args.case} in {time.monotonic() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
