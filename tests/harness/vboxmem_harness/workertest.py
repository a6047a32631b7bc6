"""unittest glue for the integration tests of vboxmem-vm, the per-VM worker.

A Worker starts one vboxmem-vm in a private temporary directory with a console
log, drives it over its control socket as vboxmemd would (worker.WorkerControl),
follows the guest's console markers (`vboxmem-guest: ...` lines) and always
cleans up: the process is killed and reaped and the directory removed, even
when a test fails or the test runner is stopped by a signal (testing.main with
terminate_cleanly).

Paths come from the environment meson sets (paths): VBOXMEM_VM (vboxmem-vm),
VBOXMEM_VM_TEST (vboxmem-vm-test, the build with test hooks: run for an
environment that sets a VBOXMEM_VM_TEST_* hook), VBOXMEM_TEST_GUEST and
VBOXMEM_WORKER_PROTOCOL; all default to VBOXMEM_BUILD_DIR (or ./build).
"""

import os
import shutil
import tempfile
import time
import unittest

from . import MiB, guest, kvm, paths, procfs, users
from .worker import WorkerProcess, worker_argv

BOOT_TIMEOUT = 20  # worker start to the guest's ready marker
STEP_TIMEOUT = 30  # one guest step or one value to change
EXIT_TIMEOUT = 15  # a stop request to the process's end


def require_built(test_build=False):
    """Raises SkipTest when the worker, the test guest or the protocol table is missing."""
    binary = paths.test_worker_binary() if test_build else paths.worker_binary()
    for path, what in ((binary, os.path.basename(binary)), (paths.guest_image(), 'the test guest'),
                       (paths.protocol_table(), 'the worker protocol table')):
        if not os.path.exists(path):
            raise unittest.SkipTest(f'{what} is not built: {path} is missing')


def require_kvm():
    """Raises SkipTest when the worker cannot run a VM here."""
    reason = kvm.kvm_unusable_reason()
    if reason:
        raise unittest.SkipTest(reason)
    require_built()
    if os.geteuid() == 0:
        reason = users.service_user_missing_reason()
        if reason:
            raise unittest.SkipTest(reason)


def require_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root: the worker drops privileges only when '
                                'started as root')


class Worker(WorkerProcess):
    """One vboxmem-vm process with its temporary directory.

    Construct it through WorkerTestCase.start_worker(), which registers the
    cleanup before anything can fail."""

    def __init__(self, memory_mib=256, script=None, cmdline=None, args=(), env=None,
                 control=True, kernel=None, binary=None, pass_fds=()):
        """SCRIPT: the guest's vboxmem.script; CMDLINE: more of its command line.
        CONTROL: run with --control-fd on a socket pair (as vboxmemd does), or
        without (uncontrolled). KERNEL '' and MEMORY_MIB None leave the option out.
        BINARY: the worker to run; by default vboxmem-vm, or vboxmem-vm-test when
        ENV sets a test hook (the installed worker ignores those). PASS_FDS: more
        descriptors for it to inherit."""
        self.memory_mib = memory_mib
        self.dir = tempfile.mkdtemp(prefix='vboxmem-vm-test-')
        self.console_path = os.path.join(self.dir, 'console.log')
        self.stderr_path = os.path.join(self.dir, 'stderr.log')
        self.env = dict(os.environ)
        self.env.update(env or {})
        if binary is None:
            binary = (paths.test_worker_binary() if paths.wants_test_worker(env)
                      else paths.worker_binary())
        words = []
        if script is not None:
            words.append('vboxmem.script=' + script)
        if cmdline:
            words.append(cmdline)
        argv = worker_argv(binary, kernel=None if kernel == '' else kernel or paths.guest_image(),
                           memory_mib=memory_mib, console_log=self.console_path,
                           cmdline=' '.join(words), args=args)
        super().__init__(argv, control=control, label=os.path.basename(binary), env=self.env,
                         pass_fds=tuple(pass_fds))

    def start(self, hello=True):
        print('+ ' + ' '.join(self.argv) + (' --control-fd N' if self.want_control else ''),
              flush=True)
        # Same process group as the runner: meson's timeout kill reaches the worker too.
        with open(self.stderr_path, 'wb') as err:
            self.popen_args.update(stdout=err, stderr=err)
            return super().start(hello)

    def stderr(self):
        try:
            with open(self.stderr_path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def status(self):
        return procfs.status(self.pid)

    def rss(self):
        """The worker's resident memory in bytes (VmRSS)."""
        fields = self.status()
        if 'VmRSS' not in fields:
            raise AssertionError(f'worker {self.pid} is gone: no VmRSS')
        return procfs.kib_field(fields, 'VmRSS')

    def wait_exit(self, timeout=EXIT_TIMEOUT, error=AssertionError):
        """The process's return code; fails the test if it still runs after TIMEOUT."""
        return super().wait_exit(timeout, error)

    def cleanup(self):
        self.close()
        if os.environ.get('VBOXMEM_TEST_KEEP'):
            print(f'kept {self.dir}')
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self):
        """The worker's stderr and the console's tail, for failure messages."""
        console = self.console().splitlines()[-25:]
        return ('--- worker stderr ---\n' + self.stderr()[-4000:] +
                '\n--- console (tail) ---\n' + '\n'.join(console))

    # -- console --

    def console(self):
        """Everything the guest printed so far (the tests stay far below the log's
        size limit, where the worker would restart it)."""
        try:
            with open(self.console_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def console_lines(self):
        # The log has no newline after the last marker before an exit.
        return self.console().splitlines()

    def markers(self, pattern):
        regex = guest.marker_re(pattern)
        return [m for m in (regex.search(line) for line in self.console_lines()) if m]

    def wait_marker(self, pattern, timeout=STEP_TIMEOUT, start=0):
        """Waits for a console marker `vboxmem-guest: PATTERN...` at line START or
        later; returns (match, line index). Fails early if the worker ends."""
        regex = guest.marker_re(pattern)
        deadline = time.monotonic() + timeout
        while True:
            running = self.alive()
            lines = self.console_lines()
            for i in range(start, len(lines)):
                m = regex.search(lines[i])
                if m:
                    return m, i
            if not running:
                raise AssertionError(
                    f'worker ended (code {self.proc.returncode}) before the marker '
                    f'{pattern!r}\n' + self.describe())
            if time.monotonic() >= deadline:
                raise AssertionError(f'no marker {pattern!r} within {timeout} s\n'
                                     + self.describe())
            time.sleep(0.02)


class WorkerTestCase(unittest.TestCase):
    """Starts workers whose cleanup is registered before they run."""

    needs_kvm = True
    needs_root = False

    def setUp(self):
        if self.needs_kvm:
            require_kvm()
        else:
            require_built()
        if self.needs_root:
            require_root()
        self.t0 = time.monotonic()

    def start_worker(self, hello=True, wait_ready=True, **kwargs):
        """A started Worker (see Worker for KWARGS). With a control socket: HELLO
        sent (unless HELLO is false) and, with WAIT_READY, READY received."""
        worker = Worker(**kwargs)
        if worker.argv[0] == paths.test_worker_binary():
            require_built(test_build=True)
        self.addCleanup(worker.cleanup)
        worker.start(hello)
        if worker.control is not None:
            self.addCleanup(self.check_protocol, worker)
            if hello and wait_ready:
                ready = worker.control.wait_ready(BOOT_TIMEOUT)
                if worker.memory_mib is not None:
                    # As vboxmemd, which refuses a READY that is not what it asked for.
                    self.assertEqual(ready['memory_size'], worker.memory_mib * MiB,
                                     'READY does not have the memory size asked for')
        return worker

    def check_protocol(self, worker):
        """Whatever else a test checks, the worker kept to the protocol."""
        self.assertEqual(worker.control.violations, [], 'the worker broke the protocol')

    def log(self, text):
        print(f'[{time.monotonic() - self.t0:7.3f}] {text}', flush=True)

