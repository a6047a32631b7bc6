"""Clients of vboxmemd on the system bus (needs PyGObject: Debian's /usr/bin/python3).

Client calls as the process itself; UserClient as another user, through setpriv
and a short Python program, so that vboxmemd and polkit see that user's
credentials. D-Bus error replies become DBusError, by error name.
"""

import json
import os
import pwd
import subprocess

import gi

gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

from . import paths, procfs, users  # noqa: E402

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
PEER_IFACE = 'org.freedesktop.DBus.Peer'
ERROR = BUS_NAME + '.Error.'
NOT_AUTHORIZED = (ERROR + 'NotAuthorized', ERROR + 'NotAuthorizedCanObtain')

CALL_TIMEOUT_MS = 10000

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


def worker_pids(daemon_pid):
    """{pid: machine name} of the live vboxmem-vm children of DAEMON_PID.

    The machine is recognized by its console log, which vboxmemd names after
    the escaped machine name."""
    workers = {}
    binary = os.path.realpath(paths.worker_binary())
    for pid in procfs.children(daemon_pid):
        if not procfs.alive(pid):
            continue
        argv = procfs.argv(pid)
        if not argv or os.path.realpath(argv[0]) != binary:
            continue
        for arg in argv[1:]:
            if arg.startswith('--console-log='):
                escaped = os.path.basename(arg.split('=', 1)[1])
                escaped = escaped.removesuffix('.console.log')
                workers[pid] = Gio.dbus_unescape_object_path(escaped).decode()
    return workers


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


def pump_main_context():
    """Dispatches what is pending in the default main context (signal callbacks)."""
    context = GLib.MainContext.default()
    while context.pending():
        context.iteration(False)


class Client:
    """Calls vboxmemd as the process itself. PRIVATE: on a connection of its own
    rather than the process's shared one. TIMEOUT_MS: of each call."""

    def __init__(self, private=False, timeout_ms=CALL_TIMEOUT_MS):
        self.timeout_ms = timeout_ms
        self.private = private
        if private:
            address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SYSTEM, None)
            flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                     | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
            self.connection = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        else:
            self.connection = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)

    def call_raw(self, dest, path, iface, method, params, unpack=True):
        """The reply unpacked into Python objects, or with UNPACK false as the GVariant."""
        try:
            reply = self.connection.call_sync(dest, path, iface, method, params, None,
                                              Gio.DBusCallFlags.NONE, self.timeout_ms, None)
        except GLib.Error as error:
            raise DBusError.from_glib(error) from None
        return reply.unpack() if unpack and reply is not None else reply

    def call(self, path, iface, method, params=None, unpack=True):
        return self.call_raw(BUS_NAME, path, iface, method, params, unpack)

    def call_ordered(self, path, iface, method, params=None):
        """Calls METHOD; returns (reply, error name or None, the reply's serial).

        vboxmemd numbers the messages it sends on its connection, so the serials
        of its replies give the order in which it answered, across clients."""
        message = Gio.DBusMessage.new_method_call(BUS_NAME, path, iface, method)
        if params is not None:
            message.set_body(params)
        reply, _serial = self.connection.send_message_with_reply_sync(
            message, Gio.DBusSendMessageFlags.NONE, self.timeout_ms, None)
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

    def set_balloon_target(self, path, size, unpack=True):
        return self.call(path, BALLOON_IFACE, 'SetTarget', GLib.Variant('(ta{sv})', (size, {})),
                         unpack)

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

    def query_metrics(self, objects=(), metrics=(), unpack=True):
        params = GLib.Variant('(asas)', (list(objects), list(metrics)))
        reply = self.call(MANAGER_PATH, MANAGER_IFACE, 'QueryMetrics', params, unpack)
        return reply[0] if unpack else reply

    def ping(self, unpack=True):
        """org.freedesktop.DBus.Peer.Ping to vboxmemd."""
        return self.call(ROOT_PATH, PEER_IFACE, 'Ping', None, unpack)

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

    def name_has_owner(self, name):
        params = GLib.Variant('(s)', (name,))
        return self.call_raw('org.freedesktop.DBus', '/org/freedesktop/DBus',
                             'org.freedesktop.DBus', 'NameHasOwner', params)[0]

    def machine_state(self, path):
        """Name, Owner, State and every setting of the machine at PATH."""
        state = {key: self.get_property(path, MACHINE_IFACE, key)
                 for key in ('Name', 'Owner', 'State')}
        for key, (iface, prop) in SETTING_PROPERTIES.items():
            state[key] = self.get_property(path, iface, prop)
        return state

    def close(self):
        """Closes a private connection (the shared one stays)."""
        if not self.private:
            return
        try:
            self.connection.close_sync(None)
        except GLib.Error:
            pass


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


class UserClient(Client):
    """Calls vboxmemd from a process running as USER."""

    def __init__(self, user, timeout_ms=CALL_TIMEOUT_MS):
        self.user = user
        self.uid = pwd.getpwnam(user).pw_uid
        self.timeout_ms = timeout_ms

    def call_raw(self, dest, path, iface, method, params, unpack=True):
        request = json.dumps({'dest': dest, 'path': path, 'iface': iface, 'method': method,
                              'params': params.print_(True) if params is not None else None,
                              'timeout': self.timeout_ms})
        argv = users.user_command(self.user, [paths.PYTHON_GI, '-I', '-B', '-c',
                                              _CALL_PROGRAM, request])
        completed = subprocess.run(argv, capture_output=True, text=True, check=False,
                                   cwd='/', timeout=self.timeout_ms / 1000 + 20)
        if completed.returncode != 0:
            raise RuntimeError(f'call as {self.user} failed ({completed.returncode}): '
                               f'{completed.stderr}')
        answer = json.loads(completed.stdout)
        if 'error' in answer:
            raise DBusError.from_parts(answer['error'], answer['message'], answer['domain'],
                                       answer['code'])
        if answer['reply'] is None:
            return None
        reply = GLib.Variant.parse(None, answer['reply'], None, None)
        return reply.unpack() if unpack else reply

    def close(self):
        pass


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
