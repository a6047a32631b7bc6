"""unittest glue for the integration tests of vboxmemd (needs PyGObject).

The tests run under tools/with-system-bus, which provides a private system bus
with the real polkitd and vboxmemd and exports DBUS_SYSTEM_BUS_ADDRESS,
VBOXMEM_TEST_DIR, VBOXMEM_TEST_STATE_DIR, VBOXMEMD, VBOXMEMD_PID and
VBOXMEMD_LOG.
"""

import contextlib
import os
import signal
import stat
import subprocess
import unittest

from . import MiB, kvm, procfs, users
from .daemon import BUS_NAME, Client, DBusError, UserClient, pump_main_context, worker_pids
from .polling import wait_until

WAIT_SECONDS = 10
# How long a machine may take for what the test guest does in a few seconds
# (booting, dirtying and freeing hundreds of MiB, moving its balloon): generous,
# because tests run side by side on small, nested hosts.
VM_WAIT_SECONDS = 60


def snapshot(directory, ignore=None):
    """Everything observable of DIRECTORY's entries: a rewrite with the same
    bytes still shows as a new inode or mtime. IGNORE(name) leaves entries out."""
    entries = {}
    for root, dirs, files in os.walk(directory):
        for name in sorted(dirs + files):
            if ignore is not None and ignore(name):
                continue
            path = os.path.join(root, name)
            info = os.lstat(path)
            content = None
            if stat.S_ISREG(info.st_mode):
                with open(path, 'rb') as f:
                    content = f.read()
            entries[os.path.relpath(path, directory)] = (
                stat.filemode(info.st_mode), info.st_uid, info.st_ino,
                info.st_mtime_ns, content)
    return entries


def is_console_log(name):
    """True for the console logs vboxmemd keeps next to the machine files."""
    return name.endswith('.console.log')


def run(argv):
    """Runs ARGV; returns the CompletedProcess with its text output."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


class DaemonTestCase(unittest.TestCase):
    """A test against the vboxmemd started by tools/with-system-bus."""

    def setUp(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest('needs root: polkitd and vboxmemd run on a private bus')
        for variable in ('DBUS_SYSTEM_BUS_ADDRESS', 'VBOXMEM_TEST_STATE_DIR', 'VBOXMEM_TEST_DIR'):
            if variable not in os.environ:
                self.fail(f'{variable} is not set: run the tests under tools/with-system-bus')
        self.state_dir = os.environ['VBOXMEM_TEST_STATE_DIR']
        self.test_dir = os.environ['VBOXMEM_TEST_DIR']
        self.client = Client()
        self.daemon_pid = int(os.environ.get('VBOXMEMD_PID') or 0)
        self.daemon_process = None

    def as_user(self, user):
        if not users.test_users_exist():
            raise unittest.SkipTest(f'test users {users.USER_IN_GROUP} and '
                                    f'{users.USER_OUTSIDE} are missing (tools/test creates them)')
        return UserClient(user)

    def assertDBusError(self, names, function, *args, **kwargs):
        """Calls FUNCTION and asserts it fails with one of the error NAMES."""
        if isinstance(names, str):
            names = (names,)
        with self.assertRaises(DBusError, msg=f'{function.__name__}{args} succeeded') as caught:
            function(*args, **kwargs)
        self.assertIn(caught.exception.name, names, caught.exception.message)
        return caught.exception

    @contextlib.contextmanager
    def assertStateUnchanged(self, ignore=None):
        """Asserts the state directory is the same, byte for byte, after the block
        (but for the entries IGNORE(name) is true of)."""
        before = snapshot(self.state_dir, ignore)
        yield
        self.assertEqual(snapshot(self.state_dir, ignore), before, 'the state directory changed')

    def state_files(self):
        return sorted(os.listdir(self.state_dir))

    def create_file(self, name, content=b''):
        """A regular file in the scratch directory, e.g. for a Kernel setting."""
        path = os.path.join(self.test_dir, name)
        with open(path, 'wb') as f:
            f.write(content)
        return path

    def daemon_log_size(self):
        return os.path.getsize(os.environ['VBOXMEMD_LOG'])

    def daemon_log(self, offset=0):
        with open(os.environ['VBOXMEMD_LOG'], errors='replace') as log:
            log.seek(offset)
            return log.read()

    def name_has_owner(self, name):
        return self.client.name_has_owner(name)

    def wait_for(self, condition, what, timeout=WAIT_SECONDS, interval=0.05):
        """Polls CONDITION until it returns a true value, which it returns; fails
        after TIMEOUT seconds. WHAT (or a function giving it) says what was awaited."""
        return wait_until(condition, timeout, lambda: 'until ' + (what() if callable(what)
                                                                 else what),
                          interval, idle=pump_main_context, error=self.failureException)

    def stop_daemon(self):
        """Stops the running vboxmemd with SIGTERM and waits until it is gone."""
        if self.daemon_process is not None:
            self.daemon_process.terminate()
            self.daemon_process.wait(WAIT_SECONDS)
            self.daemon_process = None
        elif self.daemon_pid:
            os.kill(self.daemon_pid, signal.SIGTERM)
            pid = self.daemon_pid
            self.wait_for(lambda: not procfs.alive(pid), f'vboxmemd ({pid}) exits')
            self.daemon_pid = 0
        self.wait_for(lambda: not self.name_has_owner(BUS_NAME), f'{BUS_NAME} is released')

    def start_daemon(self):
        """Starts vboxmemd on the test's state directory; returns its log offset."""
        offset = self.daemon_log_size()
        log = open(os.environ['VBOXMEMD_LOG'], 'ab')
        self.addCleanup(log.close)
        argv = [os.environ['VBOXMEMD'], '--state-dir', self.state_dir, '--verbose']
        # The same configuration as the first one (worker, guest image, pool).
        if os.environ.get('VBOXMEMD_CONFIG'):
            argv += ['--config', os.environ['VBOXMEMD_CONFIG']]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.daemon_process = process
        self.addCleanup(self._stop_started_daemon, process)

        def owned():
            if process.poll() is not None:
                self.fail(f'vboxmemd exited with status {process.returncode}:\n'
                          + self.daemon_log(offset))
            return self.name_has_owner(BUS_NAME)
        self.wait_for(owned, f'the new vboxmemd owns {BUS_NAME}')
        return offset

    def restart_daemon(self):
        self.stop_daemon()
        return self.start_daemon()

    @staticmethod
    def _stop_started_daemon(process):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class MachineTestCase(DaemonTestCase):
    """A test that runs machines: skipped without a usable /dev/kvm."""

    def setUp(self):
        super().setUp()
        reason = kvm.machines_unusable_reason()
        if reason:
            raise unittest.SkipTest(f'cannot run machines here: {reason}')
        if not self.daemon_pid:
            self.fail('VBOXMEMD_PID is not set: run the tests under tools/with-system-bus')

    def create_machine(self, name, client=None, **values):
        """A new machine; powered off again at the end of the test if still running."""
        client = client or self.client
        path = client.create_machine(name, **values)
        self.addCleanup(self._power_off_if_running, path)
        return path

    def _power_off_if_running(self, path):
        try:
            if self.client.state(path) in ('running', 'paused', 'starting'):
                self.client.power_off(path)
        except DBusError:
            pass

    def wait_state(self, path, state, timeout=VM_WAIT_SECONDS):
        self.wait_for(lambda: self.client.state(path) == state,
                      lambda: f'{path} is {state}, not {self.client.state(path)}', timeout)

    def wait_actual(self, path, size, timeout=VM_WAIT_SECONDS):
        """Waits until the balloon's Actual is SIZE (bytes)."""
        self.wait_for(lambda: self.client.balloon(path)[1] == size,
                      lambda: (f'the balloon of {path} holds {size // MiB} MiB; '
                               f'(Target, Actual) in MiB: '
                               f'{[v // MiB for v in self.client.balloon(path)]}'),
                      timeout, interval=0.1)

    def wait_console(self, path, marker, client=None, timeout=VM_WAIT_SECONDS):
        """Waits until a line of the console log starts with MARKER; returns the log."""
        client = client or self.client

        def found():
            log = client.read_console_log(path)
            self.assertNotIn('FAILED', log)
            lines = log.splitlines()
            return log if any(line.startswith(marker) for line in lines) else None
        return self.wait_for(found, lambda: (f'the console of {path} shows {marker!r}:\n'
                                             + client.read_console_log(path)),
                             timeout, interval=0.1)

    def workers(self):
        return worker_pids(self.daemon_pid)

    def worker_pid(self, name):
        """The pid of the running worker of machine NAME."""
        pids = [pid for pid, machine in self.workers().items() if machine == name]
        self.assertEqual(len(pids), 1, f'workers of {name}: {pids}')
        return pids[0]
