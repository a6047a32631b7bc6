"""Helpers for the integration tests of vboxmem-vm, the per-VM worker.

A Worker starts one vboxmem-vm in a private temporary directory with a control
socket and a console log, talks to it over that socket as vboxmemd would (a
peer-to-peer D-Bus connection, no bus), follows the guest's console markers
(`vboxmem-guest: ...` lines) and always cleans up: the process is killed and
reaped and the directory removed, even when a test fails or the test runner
is stopped by a signal.

Paths come from the environment meson sets: VBOXMEM_VM (the vboxmem-vm
binary) and VBOXMEM_TEST_GUEST (the ring-3 test guest image); both default to
VBOXMEM_BUILD_DIR (or ./build).
"""

import atexit
import fcntl
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from gi.repository import Gio, GLib

SKIP = 77
MiB = 1024 * 1024
PAGE = 4096

WORKER_PATH = '/org/vboxmem/VBoxMem1/Worker'
WORKER_IFACE = 'org.vboxmem.VBoxMem1.Worker'
PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties'
SERVICE_USER = 'vboxmem'

CALL_TIMEOUT_MS = 10000
START_TIMEOUT = 15  # worker start to a connected control socket
BOOT_TIMEOUT = 20  # worker start to the guest's ready marker
STEP_TIMEOUT = 30  # one guest step or one property change
EXIT_TIMEOUT = 15  # a stop request to the process's end

KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12

# Workers not yet reaped, killed at exit whatever happened.
_live_workers = set()


class TestTerminated(Exception):
    pass


def _terminate_handler(signum, frame):
    signal.signal(signum, signal.SIG_DFL)
    raise TestTerminated(f'test runner got signal {signum}')


def _kill_leftovers():
    for worker in list(_live_workers):
        worker.kill()


def install_signal_handlers():
    """SIGTERM/SIGINT (meson's timeout) fail the test so its cleanups still run."""
    signal.signal(signal.SIGTERM, _terminate_handler)
    signal.signal(signal.SIGINT, _terminate_handler)
    atexit.register(_kill_leftovers)


# ---- environment ----

def build_dir():
    return os.environ.get('VBOXMEM_BUILD_DIR') or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', '..', 'build')


def vm_binary():
    return os.environ.get('VBOXMEM_VM') or os.path.join(build_dir(), 'service', 'vmm',
                                                       'vboxmem-vm')


def guest_image():
    return os.environ.get('VBOXMEM_TEST_GUEST') or os.path.join(build_dir(), 'guest',
                                                               'vboxmem-test-guest')


def kvm_unusable_reason():
    """None if this process can create VMs through /dev/kvm, else why not."""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f'/dev/kvm is not usable: {e.strerror}'
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return f'/dev/kvm does not answer KVM_GET_API_VERSION: {e.strerror}'
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return f'/dev/kvm has KVM API version {version}, not {KVM_API_VERSION}'
    return None


def require_built():
    for path, what in ((vm_binary(), 'vboxmem-vm'), (guest_image(), 'the test guest')):
        if not os.path.exists(path):
            raise unittest.SkipTest(f'{what} is not built: {path} is missing')


def require_kvm():
    """Raises SkipTest when the worker cannot run a VM here."""
    reason = kvm_unusable_reason()
    if reason:
        raise unittest.SkipTest(reason)
    require_built()
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise unittest.SkipTest(
                f'no user {SERVICE_USER!r} for the worker to drop to; create it with '
                f'useradd --system --no-create-home --shell /usr/sbin/nologin '
                f'--user-group {SERVICE_USER} (tools/test does)') from None


def require_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root: the worker drops privileges only when '
                                'started as root')


def proc_status(pid):
    """/proc/PID/status as a dict of strings; {} once the process is gone."""
    fields = {}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields[key] = value.strip()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return fields


def kib_field(fields, name):
    return int(fields[name].split()[0]) * 1024


# ---- D-Bus ----

class DBusError(Exception):
    """A D-Bus error reply, by its error name."""

    def __init__(self, name, message):
        super().__init__(f'{name}: {message}')
        self.name = name
        self.message = message


def _dbus_error(error):
    name = Gio.DBusError.get_remote_error(error)
    message = error.message
    prefix = f'GDBus.Error:{name}: '
    if name and message.startswith(prefix):
        message = message[len(prefix):]
    return DBusError(name or f'{error.domain}:{error.code}', message)


def poll(condition, timeout, what, interval=0.05):
    """Calls CONDITION until it returns something true, at most TIMEOUT seconds;
    fails the test with WHAT (a string or a callable giving one) otherwise."""
    deadline = time.monotonic() + timeout
    context = GLib.MainContext.default()
    while True:
        while context.pending():
            context.iteration(False)
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f'after {timeout} s: ' + (what() if callable(what) else what))
        time.sleep(interval)


class Worker:
    """One vboxmem-vm process with its temporary directory.

    Construct it through WorkerTestCase.start_worker(), which registers the
    cleanup before anything can fail.
    """

    def __init__(self, memory_mib=256, script=None, cmdline=None, args=(), env=None,
                 control='socket', kernel=None):
        """SCRIPT: the guest's vboxmem.script; CMDLINE: more of its command line.
        CONTROL: 'socket' (--control-socket in the temporary directory, as tests
        and admins use), 'fd' (--control-fd with a socketpair, as vboxmemd does) or
        None (no control interface)."""
        self.dir = tempfile.mkdtemp(prefix='vboxmem-vm-test-')
        # The worker creates its files as root, then runs as the service user, who
        # removes the control socket at exit.
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.console_path = os.path.join(self.dir, 'console.log')
        self.stderr_path = os.path.join(self.dir, 'stderr.log')
        self.control = control
        self.socket_path = os.path.join(self.dir, 'worker.sock')
        self._socketpair = None
        words = []
        if script is not None:
            words.append('vboxmem.script=' + script)
        if cmdline:
            words.append(cmdline)
        # KERNEL '' and MEMORY_MIB None leave the option out.
        self.argv = [vm_binary()]
        if kernel != '':
            self.argv += ['--kernel', kernel or guest_image()]
        if memory_mib is not None:
            self.argv += ['--memory', str(memory_mib)]
        self.argv += ['--console-log', self.console_path]
        if words:
            self.argv += ['--cmdline', ' '.join(words)]
        if control == 'socket':
            self.argv += ['--control-socket', self.socket_path]
        elif control == 'fd':
            self._socketpair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.argv += ['--control-fd', str(self._socketpair[1].fileno())]
        self.argv += list(args)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.connection = None
        self.signals = []  # (reason, guest_exited, exit_status) of each Stopped signal
        self._subscription = None

    # -- process --

    def start(self):
        print('+ ' + ' '.join(self.argv), flush=True)
        self.started = time.monotonic()
        with open(self.stderr_path, 'wb') as err:
            # Same process group as the runner: meson's timeout kill reaches the worker too.
            pass_fds = [self._socketpair[1].fileno()] if self._socketpair else []
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, env=self.env,
                                         pass_fds=pass_fds)
        _live_workers.add(self)
        if self._socketpair:
            self._socketpair[1].close()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        try:
            with open(self.stderr_path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def status(self):
        return proc_status(self.pid)

    def rss(self):
        """The worker's resident memory in bytes (VmRSS)."""
        fields = self.status()
        if 'VmRSS' not in fields:
            raise AssertionError(f'worker {self.pid} is gone: no VmRSS')
        return kib_field(fields, 'VmRSS')

    def wait_exit(self, timeout=EXIT_TIMEOUT):
        """The process's return code (negative: killed by that signal)."""
        deadline = time.monotonic() + timeout
        context = GLib.MainContext.default()
        while self.proc.poll() is None:
            # Signals from the worker are dispatched while it exits.
            while context.pending():
                context.iteration(False)
            if time.monotonic() >= deadline:
                raise AssertionError(f'worker {self.pid} still runs {timeout} s later\n'
                                     + self.threads_report() + self.describe())
            time.sleep(0.02)
        while context.pending():
            context.iteration(False)
        return self.proc.returncode

    def threads_report(self):
        """What a process that does not end is doing: its threads and children."""
        lines = []
        try:
            tasks = sorted(os.listdir(f'/proc/{self.pid}/task'), key=int)
        except FileNotFoundError:
            tasks = []
        for task in tasks:
            fields = proc_status(f'{self.pid}/task/{task}')
            try:
                with open(f'/proc/{self.pid}/task/{task}/wchan') as f:
                    wchan = f.read().strip()
            except OSError:
                wchan = '?'
            lines.append(f'  thread {task} {fields.get("Name")} {fields.get("State")} '
                         f'wchan={wchan}')
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                fields = proc_status(pid)
                if fields.get('PPid') == str(self.pid):
                    lines.append(f'  child {pid} {fields.get("Name")} {fields.get("State")}')
                    if fields.get('State', '').startswith('Z'):
                        lines.append('  (under ASan, a zombie child is LeakSanitizer\'s '
                                     'tracer: the seccomp filter killed it)')
        return '--- worker threads ---\n' + '\n'.join(lines) + '\n'

    def power_off(self):
        """PowerOff, then the exit code. The reply itself is checked by the lifecycle
        tests; here a reply lost as the worker exits does not matter."""
        try:
            self.call('PowerOff')
        except DBusError as error:
            if 'closed' not in error.message:
                raise
        return self.wait_exit()

    def kill(self):
        """Stops the process for good (SIGTERM, then SIGKILL) and reaps it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _live_workers.discard(self)

    def cleanup(self):
        if self.connection is not None:
            if self._subscription is not None:
                self.connection.signal_unsubscribe(self._subscription)
                self._subscription = None
            try:
                self.connection.close_sync(None)
            except GLib.Error:
                pass
            self.connection = None
        if self._socketpair:
            for end in self._socketpair:
                end.close()
            self._socketpair = None
        self.kill()
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
        regex = re.compile(r'^vboxmem-guest: ' + pattern)
        return [m for m in (regex.search(line) for line in self.console_lines()) if m]

    def wait_marker(self, pattern, timeout=STEP_TIMEOUT, start=0):
        """Waits for a console marker `vboxmem-guest: PATTERN...` at line START or
        later; returns (match, line index). Fails early if the worker ends."""
        regex = re.compile(r'^vboxmem-guest: ' + pattern)
        deadline = time.monotonic() + timeout
        context = GLib.MainContext.default()
        while True:
            while context.pending():
                context.iteration(False)
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

    # -- control interface --

    def connect(self, timeout=START_TIMEOUT):
        """Connects to the control interface (once the worker listens on its socket)."""
        if self.control == 'fd':
            sock = Gio.Socket.new_from_fd(self._socketpair[0].detach())
            self._socketpair = None
            try:
                self.connection = Gio.DBusConnection.new_sync(
                    sock.connection_factory_create_connection(), None,
                    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)
            except GLib.Error as error:
                raise AssertionError(f'no D-Bus peer on --control-fd: {error.message}\n'
                                     + self.describe()) from None
            return self._subscribe()
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise AssertionError(f'worker ended (code {self.proc.returncode}) before '
                                     f'its control socket answered\n' + self.describe())
            if os.path.exists(self.socket_path):
                address = 'unix:path=' + Gio.dbus_address_escape_value(self.socket_path)
                try:
                    self.connection = Gio.DBusConnection.new_for_address_sync(
                        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)
                    break
                except GLib.Error as error:
                    last = error.message
            else:
                last = 'no socket yet'
            if time.monotonic() >= deadline:
                raise AssertionError(f'cannot connect to {self.socket_path} within '
                                     f'{timeout} s: {last}\n' + self.describe())
            time.sleep(0.02)
        return self._subscribe()

    def _subscribe(self):
        self.connection.set_exit_on_close(False)
        self._subscription = self.connection.signal_subscribe(
            None, WORKER_IFACE, 'Stopped', WORKER_PATH, None, Gio.DBusSignalFlags.NONE,
            self._on_stopped)
        return self

    def _on_stopped(self, connection, sender, path, iface, name, params):
        self.signals.append(tuple(params.unpack()))

    def call(self, method, signature=None, *args, timeout_ms=CALL_TIMEOUT_MS):
        params = GLib.Variant(f'({signature})', args) if signature else None
        try:
            reply = self.connection.call_sync(None, WORKER_PATH, WORKER_IFACE, method,
                                              params, None, Gio.DBusCallFlags.NONE,
                                              timeout_ms, None)
        except GLib.Error as error:
            raise _dbus_error(error) from None
        return reply.unpack() if reply is not None else None

    def get(self, prop):
        try:
            reply = self.connection.call_sync(None, WORKER_PATH, PROPERTIES_IFACE, 'Get',
                                              GLib.Variant('(ss)', (WORKER_IFACE, prop)),
                                              GLib.VariantType('(v)'), Gio.DBusCallFlags.NONE,
                                              CALL_TIMEOUT_MS, None)
        except GLib.Error as error:
            raise _dbus_error(error) from None
        return reply.unpack()[0]

    def get_all(self):
        try:
            reply = self.connection.call_sync(None, WORKER_PATH, PROPERTIES_IFACE, 'GetAll',
                                              GLib.Variant('(s)', (WORKER_IFACE,)),
                                              GLib.VariantType('(a{sv})'),
                                              Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        except GLib.Error as error:
            raise _dbus_error(error) from None
        return reply.unpack()[0]

    def set_balloon_target(self, size):
        self.call('SetBalloonTarget', 't', size)

    def wait_property(self, prop, predicate, timeout=STEP_TIMEOUT, what=None):
        """Polls PROP until PREDICATE(value) holds; returns the value."""
        last = []

        def check():
            last[:] = [self.get(prop)]
            return predicate(last[0])

        poll(check, timeout,
             lambda: f'{prop} is {last[0] if last else "?"}' + (f', expected {what}' if what
                                                                else '') + '\n'
             + self.describe())
        return last[0]

    def wait_stopped_signal(self, timeout=None):
        """The first Stopped signal's arguments. Once the worker has exited, a signal
        still on its way needs far less than a stop does."""
        if timeout is None:
            timeout = EXIT_TIMEOUT if self.alive() else 3
        poll(lambda: self.signals, timeout, lambda: 'no Stopped signal\n' + self.describe())
        return self.signals[0]


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

    def start_worker(self, connect=True, **kwargs):
        worker = Worker(**kwargs)
        self.addCleanup(worker.cleanup)
        worker.start()
        if connect and worker.control:
            worker.connect()
        return worker

    def log(self, text):
        print(f'[{time.monotonic() - self.t0:7.3f}] {text}', flush=True)


def main():
    """Runs the test cases named on the command line; exit 77 when every one skipped."""
    install_signal_handlers()
    program = unittest.main(exit=False, verbosity=2)
    result = program.result
    if result.testsRun and len(result.skipped) == result.testsRun and \
            result.wasSuccessful():
        for test, reason in result.skipped:
            print(f'SKIP {test.id()}: {reason}')
        sys.exit(SKIP)
    sys.exit(0 if result.wasSuccessful() else 1)
