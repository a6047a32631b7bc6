"""vboxmem-vm, the per-VM worker, started and driven as vboxmemd does.

A worker takes its requests on one end of a socket.socketpair(AF_UNIX,
SOCK_SEQPACKET) that it inherits (--control-fd N); without one it runs its VM
uncontrolled. spawn() starts one either way; WorkerControl is the controller's
end: it sends HELLO, reads every record the worker sends on a thread of its own
(so the worker never meets a controller that stopped reading), keeps the latest
values those records carry, and offers the requests, each waiting for its
REPLY. Stdlib only.
"""

import atexit
import os
import select
import socket
import subprocess
import threading
import time

from . import procfs, protocol

REQUEST_TIMEOUT = 10.0  # a request to its REPLY
READY_TIMEOUT = 15.0  # HELLO to READY: the VM is created and started
STOP_TIMEOUT = 15.0  # a stop to the STOPPED record or the process's end

# Descriptors a record may carry at most (VMP_FDS_MAX): room to notice more.
_MAX_FDS = 16


class WorkerError(Exception):
    """A request the worker refused (STATUS is its status name), or a control
    channel that failed: closed, silent, or broken by the worker (STATUS None)."""

    def __init__(self, message, status=None, request=None):
        super().__init__(message)
        self.status = status
        self.request = request


class ProtocolViolation(WorkerError):
    """The worker sent what the protocol does not allow."""


def worker_argv(binary, kernel=None, memory_mib=None, cmdline=None, console_log=None,
                args=()):
    """A worker command line; options left None are left out."""
    argv = [binary]
    if kernel is not None:
        argv += ['--kernel', kernel]
    if memory_mib is not None:
        argv += ['--memory', str(memory_mib)]
    if console_log is not None:
        argv += ['--console-log', console_log]
    if cmdline:
        argv += ['--cmdline', cmdline]
    return argv + list(args)


def spawn(argv, control=True, hello=True, label='vboxmem-vm', describe=None, pass_fds=(),
          **popen_args):
    """Starts ARGV; with CONTROL, on a new socket pair with `--control-fd N` added.

    Returns (subprocess.Popen, WorkerControl or None). With HELLO the HELLO is sent
    at once: the worker waits for it before it creates its VM. POPEN_ARGS go to
    Popen (stdout, stderr, env, ...; stdin is /dev/null unless given)."""
    popen_args.setdefault('stdin', subprocess.DEVNULL)
    if not control:
        return subprocess.Popen(argv, pass_fds=pass_fds, **popen_args), None
    proto = protocol.load()  # before anything runs: the table may be missing
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        argv = list(argv) + ['--control-fd', str(theirs.fileno())]
        proc = subprocess.Popen(argv, pass_fds=tuple(pass_fds) + (theirs.fileno(),),
                                **popen_args)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    channel = WorkerControl(ours, proto, label=f'{label} {proc.pid}', describe=describe)
    if hello:
        channel.send_hello(ignore_closed=True)
    return proc, channel


class WorkerControl:
    """The controller's end of one worker's control socket.

    VALUES holds the latest of what the worker told: 'state' (a state name),
    'target', 'actual', 'guest_actual', 'reported_bytes' (BALLOON; target first
    from READY), 'memory_size', 'n_vcpus' (READY), 'guest_stats' ({name: value} of
    the statistics the guest reported), 'guest_stats_updated_us', and once it
    stopped 'stop_reason', 'exit_status' and 'stop_flags' (a set of names).
    RECORDS is every record received, in order; STOPPED the STOPPED records.
    Readers take LOCK (re-entrant) for values that belong together."""

    def __init__(self, sock, proto=None, label='vboxmem-vm', describe=None):
        self.sock = sock
        self.protocol = proto or protocol.load()
        self.label = label
        # Extra text for failure messages (the worker's stderr and console).
        self.describe = describe
        self.lock = threading.Condition(threading.RLock())
        self.values = {}
        self.records = []
        self.stopped = []
        self.ready = None
        self.closed = False  # the worker closed its end: no record comes any more
        self.violations = []
        self._replies = {}  # id: (REPLY record, kind name of its request), not yet taken
        self._pending = {}  # id: kind name of a request sent and not answered
        self._next_id = 1
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._reading = threading.Event()
        self._reading.set()
        self._stopping = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                         name=f'control {label}')
        self._reader.start()

    # -- sending --

    def send_raw(self, data, fds=(), expect_reply_to=None):
        """Sends DATA as one datagram, with FDS (SCM_RIGHTS). EXPECT_REPLY_TO: the id
        a REPLY may come back for (by default the header's, if DATA has one)."""
        data = bytes(data)
        if expect_reply_to is None and len(data) >= protocol.HEADER.size:
            expect_reply_to = protocol.HEADER.unpack_from(data)[2]
        if expect_reply_to:
            with self.lock:
                self._pending[expect_reply_to] = 'raw'
        ancillary = []
        if fds:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                          b''.join(int(fd).to_bytes(4, 'little', signed=True) for fd in fds))]
        # A worker that stopped reading must not hang the caller.
        if not select.select([], [self.sock], [], REQUEST_TIMEOUT)[1]:
            raise WorkerError(f'{self.label} has not read its control socket for '
                              f'{REQUEST_TIMEOUT:g} s' + self._details())
        sent = self.sock.sendmsg([data], ancillary, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        if sent != len(data):
            raise WorkerError(f'{self.label}: sent {sent} of {len(data)} bytes')
        return data

    def send_record(self, kind, record_id=0, check=True, fds=(), **fields):
        """Encodes and sends one record (protocol.Protocol.encode); returns its bytes."""
        data = self.protocol.encode(kind, record_id, check=check, **fields)
        return self.send_raw(data, fds)

    def send_hello(self, magic=None, version=None, ignore_closed=False):
        """HELLO with this protocol's magic and version, or with those given (then
        unchecked). IGNORE_CLOSED: a worker that already exited is not an error here."""
        custom = magic is not None or version is not None
        fields = {'magic': self.protocol.magic if magic is None else magic,
                  'version': self.protocol.version if version is None else version}
        try:
            return self.send_record('HELLO', 0, check=not custom, **fields)
        except (BrokenPipeError, ConnectionResetError):
            if not ignore_closed:
                raise

    def new_id(self):
        with self.lock:
            record_id = self._next_id
            self._next_id = self._next_id % 0xFFFFFFFF + 1
            return record_id

    def send_request(self, kind, record_id=None, check=True, **fields):
        """Sends a request without waiting; returns its id (a new one by default)."""
        kind = self.protocol.kind(kind)
        if record_id is None:
            record_id = self.new_id()
        data = self.protocol.encode(kind, record_id, check=check, **fields)
        with self.lock:
            self._pending[record_id] = kind.name
        try:
            self.send_raw(data, expect_reply_to=0)
        except (OSError, WorkerError) as error:
            with self.lock:
                self._pending.pop(record_id, None)
            if isinstance(error, WorkerError):
                raise
            raise WorkerError(f'{self.label}: cannot send {kind.name}: {error}'
                              + self._details()) from None
        return record_id

    def wait_reply(self, record_id, timeout=REQUEST_TIMEOUT, check=True):
        """The REPLY to request RECORD_ID. With CHECK, a status other than ok raises
        WorkerError with that status."""
        with self.lock:
            request = self._pending.get(record_id) or self._replies.get(record_id,
                                                                      (None, 'request'))[1]
            self._wait(lambda: record_id in self._replies, timeout,
                       f'the REPLY to {request} {record_id}')
            reply, request = self._replies.pop(record_id)
        status = self.protocol.status_name(reply['status'])
        if check and status != 'ok':
            raise WorkerError(f'{self.label}: {request} refused: {status}', status, request)
        return reply

    def request(self, kind, timeout=REQUEST_TIMEOUT, check=True, **fields):
        """Sends a request and waits for its REPLY, which is returned. A status other
        than ok raises WorkerError(status) unless CHECK is false."""
        return self.wait_reply(self.send_request(kind, **fields), timeout, check)

    def set_balloon_target(self, size, **kwargs):
        return self.request('SET_BALLOON_TARGET', bytes=size, **kwargs)

    def set_stats_interval(self, milliseconds, **kwargs):
        return self.request('SET_STATS_INTERVAL', milliseconds=milliseconds, **kwargs)

    def pause(self, **kwargs):
        return self.request('PAUSE', **kwargs)

    def resume(self, **kwargs):
        return self.request('RESUME', **kwargs)

    def power_off(self, **kwargs):
        return self.request('POWER_OFF', **kwargs)

    def query_state(self, timeout=REQUEST_TIMEOUT):
        """QUERY_STATE: the records the worker sent for it, before its REPLY, as
        {kind name: record} (STATE, BALLOON and GUEST_STATS if it has statistics),
        with 'REPLY' and 'records', the list in the order they came."""
        with self.lock:
            start = len(self.records)
        reply = self.request('QUERY_STATE', timeout=timeout)
        with self.lock:
            between = [r for r in self.records[start:reply.index]
                       if r.name in ('STATE', 'BALLOON', 'GUEST_STATS')]
        snapshot = {record.name: record for record in between}
        snapshot['REPLY'] = reply
        snapshot['records'] = between
        return snapshot

    # -- receiving --

    def _read_loop(self):
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        space = socket.CMSG_SPACE(_MAX_FDS * 4)
        while True:
            self._reading.wait()
            events = dict(poller.poll())
            if self._stopping:
                return
            if self._wake_r in events:
                os.read(self._wake_r, 64)
                continue
            try:
                data, ancillary, flags, _ = self.sock.recvmsg(
                    self.protocol.record_max + 1, space,
                    socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                # The worker closed its end with records of ours still unread, as one
                # that exits before reading HELLO does: an end, not a violation.
                self._received_end(None)
                return
            except OSError as error:
                self._received_end(f'receive failed: {error}')
                return
            fds = []
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += [int.from_bytes(payload[i:i + 4], 'little')
                            for i in range(0, len(payload) - len(payload) % 4, 4)]
            for fd in fds:
                os.close(fd)
            if not data and not fds:
                self._received_end(None)
                return
            n_fds = len(fds) + (1 if flags & socket.MSG_CTRUNC else 0)
            self._received(data, n_fds)

    def pause_reading(self):
        """Stops reading records (after the one being read, if any): the worker meets
        a controller that does not read."""
        self._reading.clear()
        os.write(self._wake_w, b'p')

    def resume_reading(self):
        self._reading.set()

    def _received_end(self, error):
        with self.lock:
            self.closed = True
            if error:
                self.violations.append(f'control socket: {error}')
            self.lock.notify_all()

    def _violation(self, text):
        self.violations.append(text)

    def _received(self, data, n_fds):
        now = time.monotonic()
        try:
            record = self.protocol.decode(data, n_fds, sender='worker')
        except protocol.DecodeError as error:
            with self.lock:
                self._violation(f'a record refused: {error}: {data.hex()}')
                self.lock.notify_all()
            return
        with self.lock:
            record.index = len(self.records)
            record.time = now
            if self.stopped:
                self._violation(f'{record} after STOPPED')
            # As vboxmemd: READY comes first (a VM that fails to start sends nothing).
            if self.ready is None and record.name != 'READY':
                self._violation(f'{record} before READY')
            self.records.append(record)
            self._apply(record)
            self.lock.notify_all()

    def _apply(self, record):
        values = self.values
        name = record.name
        if name == 'READY':
            if self.ready is not None:
                self._violation('a second READY')
            elif record['version'] != self.protocol.version:
                self._violation(f'READY of version {record["version"]}')
            self.ready = record
            values.update(memory_size=record['memory_size'], n_vcpus=record['n_vcpus'],
                          target=record['balloon_target'])
        elif name == 'STATE':
            values['state'] = self.protocol.state_name(record['state'])
        elif name == 'BALLOON':
            memory = values.get('memory_size')
            for key in ('target', 'actual'):
                if memory is not None and record[key] > memory:
                    self._violation(f'{record}: {key} beyond the memory of {memory} bytes')
            values.update(record.fields)
        elif name == 'GUEST_STATS':
            values['guest_stats'] = self.protocol.guest_stats(record)
            values['guest_stats_updated_us'] = record['updated_us']
        elif name == 'STOPPED':
            self.stopped.append(record)
            values.update(stop_reason=record['reason'], exit_status=record['exit_status'],
                          stop_flags=self.protocol.flag_names(record['flags']))
        elif name == 'REPLY':
            if record.id not in self._pending:
                self._violation(f'{record} answers no request')
            else:
                self._replies[record.id] = (record, self._pending.pop(record.id))

    def _details(self):
        with self.lock:
            values = dict(self.values)
            last = self.records[-8:]
            closed = self.closed
        text = (f'\n--- control: {"closed by the worker, " if closed else ""}values {values}; '
                f'last records {last}')
        if self.violations:
            text += '\n--- protocol violations: ' + '; '.join(self.violations)
        if self.describe is not None:
            text += '\n' + self.describe()
        return text

    def _wait(self, condition, timeout, what):
        """Waits (holding LOCK) until CONDITION() is true, which is returned; raises
        WorkerError on a protocol violation, a closed socket or after TIMEOUT."""
        deadline = time.monotonic() + timeout
        while True:
            if self.violations:
                raise ProtocolViolation(f'{self.label} broke the protocol while waiting for '
                                        f'{what}' + self._details())
            result = condition()
            if result:
                return result
            if self.closed:
                raise WorkerError(f'{self.label} closed its control socket while waiting '
                                  f'for {what}' + self._details())
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f'{self.label}: timed out after {timeout:g} s waiting for '
                                  f'{what}' + self._details())
            self.lock.wait(left)

    def check(self):
        """Raises ProtocolViolation if the worker broke the protocol so far."""
        with self.lock:
            if self.violations:
                raise ProtocolViolation(f'{self.label} broke the protocol' + self._details())

    def wait_ready(self, timeout=READY_TIMEOUT):
        """The READY record (once the worker also sent its first STATE and BALLOON)."""
        with self.lock:
            self._wait(lambda: self.ready is not None and 'state' in self.values
                       and 'actual' in self.values, timeout, 'READY, STATE and BALLOON')
            return self.ready

    def wait_for(self, predicate, timeout=REQUEST_TIMEOUT, what=None):
        """Waits until PREDICATE(values) is true, as records arrive; returns its value."""
        with self.lock:
            return self._wait(lambda: predicate(self.values), timeout,
                              what or 'the values to change')

    def wait_value(self, name, predicate, timeout=REQUEST_TIMEOUT, what=None):
        """Waits until PREDICATE(values[NAME]) holds; returns that value."""
        with self.lock:
            self._wait(lambda: name in self.values and predicate(self.values[name]),
                       timeout, f'{name} ' + (what or 'to change'))
            return self.values[name]

    def wait_record(self, kind, start=0, timeout=REQUEST_TIMEOUT):
        """The first record of KIND at index START or later."""
        with self.lock:
            return self._wait(lambda: next((r for r in self.records[start:]
                                            if r.name == kind), None),
                              timeout, f'a {kind} record')

    def wait_stopped(self, timeout=STOP_TIMEOUT):
        """The STOPPED record."""
        with self.lock:
            return self._wait(lambda: self.stopped[0] if self.stopped else None, timeout,
                              'STOPPED')

    def wait_closed(self, timeout=STOP_TIMEOUT):
        """Waits until the worker closed its end (a violation is no reason to stop)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerError(f'{self.label} did not close its control socket '
                                      f'within {timeout:g} s' + self._details())
                self.lock.wait(left)

    def value(self, name, default=None):
        with self.lock:
            return self.values.get(name, default)

    def snapshot(self):
        with self.lock:
            return dict(self.values)

    def records_of(self, *kinds, start=0):
        with self.lock:
            return [r for r in self.records[start:] if r.name in kinds]

    def mark(self):
        """The index the next record will have."""
        with self.lock:
            return len(self.records)

    # -- the end --

    def shutdown(self):
        """Closes the controller's sending side: the worker reads the end of its
        controller; records still come."""
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        """Stops reading and closes the controller's end: to the worker, the
        controller went away."""
        if self._reader is None:
            return
        self._stopping = True
        self._reading.set()
        os.write(self._wake_w, b'x')
        self._reader.join(5)
        self._reader = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.sock.close()


# Workers not yet reaped, killed at exit whatever happened.
_live = set()


def _kill_leftovers():
    for process in list(_live):
        process.kill()


atexit.register(_kill_leftovers)


class WorkerProcess:
    """One vboxmem-vm process and, with CONTROL, its control channel (CONTROL is
    then the WorkerControl). start() sends HELLO unless told not to.

    ARGV is the command line without --control-fd; POPEN_ARGS go to Popen
    (stdout, stderr, env)."""

    def __init__(self, argv, control=True, label=None, **popen_args):
        self.argv = list(argv)
        self.want_control = control
        self.label = label or os.path.basename(self.argv[0])
        self.popen_args = popen_args
        self.proc = None
        self.control = None
        self.started = None

    def describe(self):
        """Text to add to failure messages; subclasses give the logs."""
        return ''

    def start(self, hello=True):
        self.started = time.monotonic()
        self.proc, self.control = spawn(self.argv, control=self.want_control, hello=hello,
                                        label=self.label, describe=self.describe,
                                        **self.popen_args)
        _live.add(self)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def returncode(self):
        return self.proc.poll() if self.proc is not None else None

    def wait_exit(self, timeout=STOP_TIMEOUT, error=WorkerError):
        """The process's return code (negative: killed by that signal)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise error(f'{self.label} {self.pid} still runs {timeout:g} s later\n'
                        + procfs.threads_report(self.pid) + self.describe()) from None

    def power_off(self, timeout=STOP_TIMEOUT):
        """POWER_OFF, then the exit code."""
        self.control.power_off()
        return self.wait_exit(timeout)

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
        _live.discard(self)

    def close(self):
        """Closes the control channel, then kills and reaps the process."""
        if self.control is not None:
            self.control.close()
        self.kill()
