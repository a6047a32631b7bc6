"""Helpers for the integration tests of vboxmemd.

The tests run under tools/with-system-bus, which provides a private system bus
with the real polkitd and vboxmemd and exports DBUS_SYSTEM_BUS_ADDRESS,
VBOXMEM_TEST_DIR, VBOXMEM_TEST_STATE_DIR, VBOXMEMD, VBOXMEMD_PID and
VBOXMEMD_LOG. Calls as a non-root user go through setpriv and a short Python
program, so they reach the daemon from a process with that user's credentials.
"""

import contextlib
import fcntl
import json
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
import unittest

from gi.repository import Gio, GLib

BUS_NAME = 'org.vboxmem.VBoxMem1'
ROOT_PATH = '/org/vboxmem/VBoxMem1'
MANAGER_PATH = ROOT_PATH + '/Manager'
MANAGER_IFACE = BUS_NAME + '.Manager'
MACHINE_IFACE = BUS_NAME + '.Machine'
BALLOON_IFACE = BUS_NAME + '.Balloon'
PAGE_FUSION_IFACE = BUS_NAME + '.PageFusion'
GUEST_IFACE = BUS_NAME + '.Guest'
OBJECT_MANAGER_IFACE = 'org.freedesktop.DBus.ObjectManager'
PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties'
ERROR = BUS_NAME + '.Error.'
NOT_AUTHORIZED = (ERROR + 'NotAuthorized', ERROR + 'NotAuthorizedCanObtain')

MiB = 1024 * 1024
CALL_TIMEOUT_MS = 10000
WAIT_SECONDS = 10

USER_IN_GROUP = 'vboxmem-test1'
USER_OUTSIDE = 'vboxmem-test2'
# The unprivileged user vboxmemd runs its workers (vboxmem-vm) as.
SERVICE_USER = 'vboxmem'

# How long a machine may take for what the test guest does in a few seconds
# (booting, dirtying and freeing hundreds of MiB, moving its balloon): generous,
# because tests run side by side on small, nested hosts.
VM_WAIT_SECONDS = 60
# The guest's first line on the console once its set-up is finished.
GUEST_READY = 'vboxmem-guest: ready'
GUEST_SCRIPT_DONE = 'vboxmem-guest: script done failures=0'

KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12

SETTING_TYPES = {
    'MemorySize': 't',
    'CPUs': 'u',
    'Kernel': 's',
    'Initrd': 's',
    'CommandLine': 's',
    'BalloonDefaultSize': 't',
    'PageFusion': 'b',
    'DeflateOnOom': 'b',
    'FreePageReporting': 'b',
}

# Where each setting shows on a machine object: (interface, property).
SETTING_PROPERTIES = {
    'MemorySize': (MACHINE_IFACE, 'MemorySize'),
    'CPUs': (MACHINE_IFACE, 'CPUs'),
    'Kernel': (MACHINE_IFACE, 'Kernel'),
    'Initrd': (MACHINE_IFACE, 'Initrd'),
    'CommandLine': (MACHINE_IFACE, 'CommandLine'),
    'BalloonDefaultSize': (BALLOON_IFACE, 'DefaultSize'),
    'PageFusion': (PAGE_FUSION_IFACE, 'Enabled'),
    'DeflateOnOom': (BALLOON_IFACE, 'DeflateOnOom'),
    'FreePageReporting': (BALLOON_IFACE, 'FreePageReporting'),
}


def settings_entries(values):
    """VALUES as a{sv} entries, each of its setting's type."""
    return {key: GLib.Variant(SETTING_TYPES[key], value) for key, value in values.items()}


def machine_path(name):
    return ROOT_PATH + '/machine/' + Gio.dbus_escape_object_path(name)


def machine_file(state_dir, name):
    return os.path.join(state_dir, Gio.dbus_escape_object_path(name) + '.vm')


def build_dir():
    """The build directory tools/with-system-bus runs vboxmemd and its workers from."""
    directory = os.environ.get('VBOXMEM_BUILD_DIR')
    if directory:
        return directory
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'build')


def worker_binary():
    """vboxmem-vm as tools/with-system-bus configures vboxmemd to run it."""
    return os.path.realpath(os.path.join(build_dir(), 'service', 'vmm', 'vboxmem-vm'))


def guest_image():
    return os.path.realpath(os.path.join(build_dir(), 'guest', 'vboxmem-test-guest'))


def kvm_unusable_reason():
    """None if machines can run here, else why not (for a skip message)."""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        return f'/dev/kvm is not usable: {error.strerror}'
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as error:
        return f'/dev/kvm does not answer KVM_GET_API_VERSION: {error.strerror}'
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return f'/dev/kvm has KVM API version {version}, not {KVM_API_VERSION}'
    for path, what in ((worker_binary(), 'vboxmem-vm'), (guest_image(), 'the test guest')):
        if not os.path.exists(path):
            return f'{what} is not built: {path} is missing'
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return (f'no user {SERVICE_USER!r} for the workers to run as; create it with '
                f'useradd --system --no-create-home --shell /usr/sbin/nologin '
                f'--user-group {SERVICE_USER} (tools/test does)')
    return None


def process_status(pid):
    """/proc/PID/status as {field: value}, or None once PID is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return dict(line.split(':\t', 1) for line in lines if ':\t' in line)


def process_rss(pid):
    """VmRSS of PID in bytes (0 once it is gone)."""
    status = process_status(pid)
    if status is None or 'VmRSS' not in status:
        return 0
    value, unit = status['VmRSS'].split()
    assert unit == 'kB', status['VmRSS']
    return int(value) * 1024


def parent_pid(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_argv(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return [arg.decode(errors='replace') for arg in f.read().split(b'\0')[:-1]]
    except (FileNotFoundError, ProcessLookupError):
        return []


def worker_pids(daemon_pid):
    """{pid: machine name} of the live vboxmem-vm children of DAEMON_PID.

    The machine is recognized by its console log, which vboxmemd names after
    the escaped machine name."""
    workers = {}
    binary = worker_binary()
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or parent_pid(entry) != daemon_pid or not process_alive(entry):
            continue
        argv = process_argv(entry)
        if not argv or os.path.realpath(argv[0]) != binary:
            continue
        for arg in argv[1:]:
            if arg.startswith('--console-log='):
                escaped = os.path.basename(arg.split('=', 1)[1])
                escaped = escaped.removesuffix('.console.log')
                workers[int(entry)] = Gio.dbus_unescape_object_path(escaped).decode()
    return workers


def host_memory_total():
    """MemTotal of /proc/meminfo, in bytes."""
    with open('/proc/meminfo') as meminfo:
        for line in meminfo:
            if line.startswith('MemTotal:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no MemTotal in /proc/meminfo')


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


class DBusError(Exception):
    """A D-Bus error reply, by its error name."""

    def __init__(self, name, message):
        super().__init__(f'{name}: {message}')
        self.name = name
        self.message = message

    @classmethod
    def from_glib(cls, error):
        return cls.from_parts(Gio.DBusError.get_remote_error(error), error.message,
                              error.domain, error.code)

    @classmethod
    def from_parts(cls, name, message, domain, code):
        """NAME is None for an error that did not come from the bus."""
        prefix = f'GDBus.Error:{name}: '
        if name and message.startswith(prefix):
            message = message[len(prefix):]
        return cls(name or f'{domain}:{code}', message)


class Client:
    """Calls vboxmemd as the test process itself (root). PRIVATE: on a
    connection of its own rather than the process's shared one."""

    def __init__(self, private=False):
        if private:
            address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SYSTEM, None)
            flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                     | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
            self.connection = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        else:
            self.connection = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)

    def call_raw(self, dest, path, iface, method, params):
        try:
            reply = self.connection.call_sync(dest, path, iface, method, params, None,
                                              Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        except GLib.Error as error:
            raise DBusError.from_glib(error) from None
        return reply.unpack() if reply is not None else None

    def call(self, path, iface, method, params=None):
        return self.call_raw(BUS_NAME, path, iface, method, params)

    def call_ordered(self, path, iface, method, params=None):
        """Calls METHOD; returns (reply, error name or None, the reply's serial).

        vboxmemd numbers the messages it sends on its connection, so the serials
        of its replies give the order in which it answered, across clients."""
        message = Gio.DBusMessage.new_method_call(BUS_NAME, path, iface, method)
        if params is not None:
            message.set_body(params)
        reply, _serial = self.connection.send_message_with_reply_sync(
            message, Gio.DBusSendMessageFlags.NONE, CALL_TIMEOUT_MS, None)
        if reply.get_message_type() == Gio.DBusMessageType.ERROR:
            return None, reply.get_error_name(), reply.get_serial()
        body = reply.get_body()
        return (body.unpack() if body is not None else None), None, reply.get_serial()

    def create_machine(self, name, **values):
        return self.create_machine_raw(name, settings_entries(values))

    def create_machine_raw(self, name, settings):
        """CreateMachine with a{sv} entries built by the caller (wrong types, ...)."""
        params = GLib.Variant('(sa{sv})', (name, settings))
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'CreateMachine', params)[0]

    def find_machine(self, name):
        params = GLib.Variant('(s)', (name,))
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'FindMachine', params)[0]

    def modify(self, path, **values):
        self.modify_raw(path, settings_entries(values))

    def modify_raw(self, path, settings):
        params = GLib.Variant('(a{sv})', (settings,))
        self.call(path, MACHINE_IFACE, 'Modify', params)

    def machine_method(self, path, method):
        """One of the Machine methods that take only a{sv} options."""
        self.call(path, MACHINE_IFACE, method, GLib.Variant('(a{sv})', ({},)))

    def unregister(self, path):
        self.machine_method(path, 'Unregister')

    def start(self, path):
        self.machine_method(path, 'Start')

    def power_off(self, path):
        self.machine_method(path, 'PowerOff')

    def set_balloon_target(self, path, size):
        self.call(path, BALLOON_IFACE, 'SetTarget', GLib.Variant('(ta{sv})', (size, {})))

    def read_console_log(self, path, max_bytes=None):
        options = {} if max_bytes is None else {'max-bytes': GLib.Variant('t', max_bytes)}
        return self.call(path, MACHINE_IFACE, 'ReadConsoleLog',
                         GLib.Variant('(a{sv})', (options,)))[0]

    def state(self, path):
        return self.get_property(path, MACHINE_IFACE, 'State')

    def balloon(self, path):
        """(Target, Actual) of the machine's balloon."""
        values = self.get_all(path, BALLOON_IFACE)
        return values['Target'], values['Actual']

    def pool(self):
        """The Manager's memory properties, read in one call."""
        values = self.get_all(MANAGER_PATH, MANAGER_IFACE)
        return {key: values[key] for key in ('MemoryPool', 'MemoryCommitted', 'MemoryAvailable',
                                             'MemoryOverdrawn')}

    def metrics(self, objects=(), metrics=()):
        """QueryMetrics as {(object, metric): (value, timestamp)}."""
        return {(obj, metric): (value, time)
                for obj, metric, value, _unit, time in self.query_metrics(objects, metrics)}

    def query_metrics(self, objects=(), metrics=()):
        params = GLib.Variant('(asas)', (list(objects), list(metrics)))
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'QueryMetrics', params)[0]

    def get_property(self, path, iface, name):
        params = GLib.Variant('(ss)', (iface, name))
        return self.call(path, PROPERTIES_IFACE, 'Get', params)[0]

    def get_all(self, path, iface):
        return self.call(path, PROPERTIES_IFACE, 'GetAll', GLib.Variant('(s)', (iface,)))[0]

    def managed_objects(self):
        return self.call(ROOT_PATH, OBJECT_MANAGER_IFACE, 'GetManagedObjects')[0]

    def property_snapshot(self):
        """Every property of the Manager and all machines, read in one call, so the
        values belong together: {path: {interface: {property: value}}}."""
        return self.managed_objects()

    def request_name(self, name, flags=0):
        params = GLib.Variant('(su)', (name, flags))
        return self.call_raw('org.freedesktop.DBus', '/org/freedesktop/DBus',
                             'org.freedesktop.DBus', 'RequestName', params)[0]

    def machine_state(self, path):
        """Name, Owner, State and every setting of the machine at PATH."""
        state = {key: self.get_property(path, MACHINE_IFACE, key)
                 for key in ('Name', 'Owner', 'State')}
        for key, (iface, prop) in SETTING_PROPERTIES.items():
            state[key] = self.get_property(path, iface, prop)
        return state


# Runs one D-Bus call and prints the reply or the error as JSON. It is run by
# a non-root user, so it reads nothing from the source tree.
_CALL_PROGRAM = r'''
import json, sys
from gi.repository import Gio, GLib
request = json.loads(sys.argv[1])
params = None
if request["params"] is not None:
    params = GLib.Variant.parse(None, request["params"], None, None)
connection = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
try:
    reply = connection.call_sync(request["dest"], request["path"], request["iface"],
                                 request["method"], params, None, Gio.DBusCallFlags.NONE,
                                 request["timeout"], None)
    print(json.dumps({"reply": reply.print_(True) if reply is not None else None}))
except GLib.Error as error:
    print(json.dumps({"error": Gio.DBusError.get_remote_error(error),
                      "domain": error.domain, "code": error.code,
                      "message": error.message}))
'''


def user_command(user, argv):
    """ARGV run with USER's uid, primary gid and supplementary groups."""
    entry = pwd.getpwnam(user)
    return ['setpriv', f'--reuid={entry.pw_uid}', f'--regid={entry.pw_gid}',
            '--init-groups', '--'] + list(argv)


class UserClient(Client):
    """Calls vboxmemd from a process running as USER."""

    def __init__(self, user):
        self.user = user
        self.uid = pwd.getpwnam(user).pw_uid

    def call_raw(self, dest, path, iface, method, params):
        request = json.dumps({'dest': dest, 'path': path, 'iface': iface, 'method': method,
                              'params': params.print_(True) if params is not None else None,
                              'timeout': CALL_TIMEOUT_MS})
        argv = user_command(self.user, ['/usr/bin/python3', '-I', '-B', '-c', _CALL_PROGRAM,
                                        request])
        completed = subprocess.run(argv, capture_output=True, text=True, check=False,
                                   cwd='/', timeout=CALL_TIMEOUT_MS / 1000 + 20)
        if completed.returncode != 0:
            raise RuntimeError(f'call as {self.user} failed ({completed.returncode}): '
                               f'{completed.stderr}')
        answer = json.loads(completed.stdout)
        if 'error' in answer:
            raise DBusError.from_parts(answer['error'], answer['message'], answer['domain'],
                                       answer['code'])
        if answer['reply'] is None:
            return None
        return GLib.Variant.parse(None, answer['reply'], None, None).unpack()


def pump_main_context():
    """Dispatches what is pending in the default main context (signal callbacks)."""
    context = GLib.MainContext.default()
    while context.pending():
        context.iteration(False)


class PropertiesRecorder:
    """Records the PropertiesChanged signals vboxmemd sends for the object at
    PATH (for all objects if None), on CLIENT's connection, in their order."""

    def __init__(self, client, path=None):
        self.connection = client.connection
        self.changes = []  # (path, interface, {property: value})
        self.subscription = self.connection.signal_subscribe(
            BUS_NAME, PROPERTIES_IFACE, 'PropertiesChanged', path, None,
            Gio.DBusSignalFlags.NONE, self._changed)

    def _changed(self, connection, sender, path, iface, signal_name, parameters):
        interface, changed, _invalidated = parameters.unpack()
        self.changes.append((path, interface, changed))

    def values(self, path, interface, name):
        """The values property NAME of INTERFACE was announced with, oldest first."""
        pump_main_context()
        return [changed[name] for p, i, changed in self.changes
                if p == path and i == interface and name in changed]

    def close(self):
        self.connection.signal_unsubscribe(self.subscription)


def run(argv):
    """Runs ARGV; returns the CompletedProcess with its text output."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def users_exist():
    try:
        pwd.getpwnam(USER_IN_GROUP)
        pwd.getpwnam(USER_OUTSIDE)
    except KeyError:
        return False
    return True


def process_alive(pid):
    """True unless PID is gone or a zombie."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != 'Z'


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
        if not users_exist():
            raise unittest.SkipTest(f'test users {USER_IN_GROUP} and {USER_OUTSIDE} are missing '
                                    '(tools/test creates them)')
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
        params = GLib.Variant('(s)', (name,))
        return self.client.call_raw('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                    'org.freedesktop.DBus', 'NameHasOwner', params)[0]

    def wait_for(self, condition, what, timeout=WAIT_SECONDS, interval=0.05):
        """Polls CONDITION until it returns a true value, which it returns; fails
        after TIMEOUT seconds. WHAT may be a function giving the message."""
        deadline = time.monotonic() + timeout
        while True:
            pump_main_context()
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                if callable(what):
                    what = what()
                self.fail(f'timed out after {timeout} s waiting until {what}')
            time.sleep(interval)

    def stop_daemon(self):
        """Stops the running vboxmemd with SIGTERM and waits until it is gone."""
        if self.daemon_process is not None:
            self.daemon_process.terminate()
            self.daemon_process.wait(WAIT_SECONDS)
            self.daemon_process = None
        elif self.daemon_pid:
            os.kill(self.daemon_pid, signal.SIGTERM)
            pid = self.daemon_pid
            self.wait_for(lambda: not process_alive(pid), f'vboxmemd ({pid}) exits')
            self.daemon_pid = 0
        self.wait_for(lambda: not self.name_has_owner(BUS_NAME), f'{BUS_NAME} is released')

    def start_daemon(self):
        """Starts vboxmemd on the test's state directory; returns its log offset."""
        offset = self.daemon_log_size()
        log = open(os.environ['VBOXMEMD_LOG'], 'ab')
        self.addCleanup(log.close)
        process = subprocess.Popen([os.environ['VBOXMEMD'], '--state-dir', self.state_dir,
                                    '--verbose'], stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=log)
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


def is_console_log(name):
    """True for the console logs vboxmemd keeps next to the machine files."""
    return name.endswith('.console.log')


class MachineTestCase(DaemonTestCase):
    """A test that runs machines: skipped without a usable /dev/kvm."""

    def setUp(self):
        super().setUp()
        reason = kvm_unusable_reason()
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


def main():
    """Runs the test cases named on the command line (all if none).

    Exits 77, the skip status of meson and automake, when every test that ran
    was skipped.
    """
    module = sys.modules['__main__']
    loader = unittest.TestLoader()
    if len(sys.argv) > 1:
        suite = loader.loadTestsFromNames(sys.argv[1:], module)
    else:
        suite = loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun == 0 or len(result.skipped) == result.testsRun:
        sys.exit(77)
    sys.exit(0)
