#!/usr/bin/python3
"""Tests of the test harness itself (tests/harness/vboxmem_harness), without KVM.

The protocol codec against the build's table, and WorkerControl against a
stand-in worker written here from the contract (a thread, or a process started
through worker.spawn as vboxmem-vm would be). Stdlib only.

    python3 tests/harness/test_harness.py [TestCase.test_method ...]
"""

import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vboxmem_harness import MiB, PAGE, paths, protocol, testing  # noqa: E402
from vboxmem_harness.worker import (  # noqa: E402
    ProtocolViolation, WorkerControl, WorkerError, WorkerProcess)


def load_protocol():
    try:
        return protocol.load()
    except protocol.ProtocolError as error:
        raise unittest.SkipTest(str(error)) from None


class FakeWorker:
    """The worker's side of the protocol, as the contract describes it, for a VM of
    MEMORY bytes that does nothing. MISBEHAVE: 'reply-unknown-id', 'after-stopped'."""

    def __init__(self, sock, memory=128 * MiB, misbehave=None, answer=True):
        self.sock = sock
        self.p = protocol.load()
        self.memory = memory
        self.misbehave = misbehave
        self.answer = answer
        self.state = 'running'
        self.balloon = {'target': 0, 'actual': 0, 'guest_actual': 0, 'reported_bytes': 0}
        self.received = []

    def send(self, kind, record_id=0, **fields):
        self.sock.send(self.p.encode(kind, record_id, sender='worker', **fields))

    def send_state(self):
        self.send('STATE', state=self.p.states[self.state])

    def stop(self, reason, flags=()):
        self.state = 'stopped'
        self.send_state()
        self.send('STOPPED', flags=self.p.flags(*flags), exit_status=-1, reason=reason)
        if self.misbehave == 'after-stopped':
            self.send_state()
        self.sock.close()

    def run(self):
        hello = self.p.decode(self.sock.recv(512), sender='daemon')
        assert hello.name == 'HELLO', hello
        self.send('READY', magic=self.p.magic, version=self.p.version, memory_size=self.memory,
                  n_vcpus=1, balloon_target=0)
        self.send_state()
        self.send('BALLOON', **self.balloon)
        while True:
            data, ancillary, _flags, _ = self.sock.recvmsg(512, socket.CMSG_SPACE(16))
            if not data:
                return
            try:
                record = self.p.decode(data, len(ancillary), sender='daemon')
                if record.name == 'HELLO':
                    raise protocol.DecodeError(protocol.WRONG_SENDER)
            except protocol.DecodeError as error:
                return self.stop(f'protocol error from the controller: {error.result}')
            self.received.append(record)
            if self.answer and self.handle(record):
                return

    def handle(self, record):
        """Answers RECORD; True once stopped."""
        status = 'ok'
        if record.name == 'SET_BALLOON_TARGET':
            if record['bytes'] > self.memory:
                status = 'invalid-argument'
            elif record['bytes'] != self.balloon['target']:
                self.balloon.update(target=record['bytes'], actual=record['bytes'])
                self.send('BALLOON', **self.balloon)
        elif record.name in ('PAUSE', 'RESUME'):
            state = 'paused' if record.name == 'PAUSE' else 'running'
            if state != self.state:
                self.state = state
                self.send_state()
        elif record.name == 'QUERY_STATE':
            self.send_state()
            self.send('BALLOON', **self.balloon)
        reply_id = record.id + 1 if self.misbehave == 'reply-unknown-id' else record.id
        self.send('REPLY', reply_id, status=self.p.statuses[status])
        if record.name == 'POWER_OFF':
            self.stop('powered off by the controller', ['requested'])
            return True
        return False


class TestCodec(unittest.TestCase):
    def setUp(self):
        self.p = load_protocol()

    def test_every_kind_round_trips(self):
        for kind in self.p.kinds.values():
            with self.subTest(kind=kind.name):
                fields = {}
                for field in kind.fields:
                    if field.type == 'text':
                        fields[field.name] = 'stopped: é'
                    elif field.type in ('i32', 'i64'):
                        fields[field.name] = field.smax
                    elif field.type == 'flags':
                        fields[field.name] = field.max
                    else:
                        fields[field.name] = field.max - field.max % (field.multiple or 1)
                record_id = 77 if kind.has_id else 0
                data = self.p.encode(kind.name, record_id, sender=kind.sender, **fields)
                self.assertEqual(len(data), kind.size)
                self.assertEqual(struct.unpack_from('<HHI', data), (kind.number, kind.size,
                                                                    record_id))
                record = self.p.decode(data, sender=kind.sender)
                self.assertEqual((record.name, record.id, record.fields),
                                 (kind.name, record_id, fields))

    def test_layout_from_the_table(self):
        self.assertEqual(self.p.kind('HELLO').field_names, ['magic', 'version'])
        self.assertEqual(self.p.kind('SET_BALLOON_TARGET').size, 16)
        self.assertEqual(len(self.p.stat_names), 10)
        self.assertEqual(self.p.stat_names[0], 'swap-in')
        self.assertEqual(set(self.p.statuses), {'ok', 'invalid-argument', 'stopped'})
        self.assertEqual(set(self.p.states), {'running', 'paused', 'stopped'})

    def test_encoder_refuses_what_the_decoder_refuses(self):
        refused = [
            ('SET_BALLOON_TARGET', 1, {'bytes': PAGE + 1}),
            ('SET_BALLOON_TARGET', 1, {'bytes': (1 << 46) + PAGE}),
            ('SET_BALLOON_TARGET', 0, {'bytes': PAGE}),
            ('SET_STATS_INTERVAL', 1, {'milliseconds': 3600001}),
            ('HELLO', 0, {'magic': 1, 'version': 1}),
            ('HELLO', 0, {'magic': self.p.magic, 'version': 0}),
            ('HELLO', 3, {'magic': self.p.magic, 'version': 1}),
            ('PAUSE', 0, {}),
            ('REPLY', 1, {'status': 0}),  # the worker's, not the daemon's
        ]
        for kind, record_id, fields in refused:
            with self.subTest(kind=kind, id=record_id, fields=fields):
                with self.assertRaises(protocol.EncodeError):
                    self.p.encode(kind, record_id, **fields)
                data = self.p.encode(kind, record_id, check=False, **fields)
                with self.assertRaises(protocol.DecodeError):
                    self.p.decode(data, sender='daemon')
        with self.assertRaises(protocol.EncodeError):
            self.p.encode('STOPPED', sender='worker', flags=4, exit_status=0, reason='')
        with self.assertRaises(protocol.EncodeError):
            self.p.encode('STOPPED', sender='worker', flags=0, exit_status=0, reason='a\nb')
        with self.assertRaises(protocol.EncodeError):
            self.p.encode('STOPPED', sender='worker', flags=0, exit_status=0, reason='x' * 128)
        with self.assertRaises(protocol.EncodeError):
            self.p.encode('NO_SUCH_KIND')
        with self.assertRaisesRegex(protocol.EncodeError, 'needs bytes'):
            self.p.encode('SET_BALLOON_TARGET', 1)

    def test_decoder_failures(self):
        p = self.p
        pause = p.encode('PAUSE', 1)
        cases = [
            (b'\x01\x00', 0, protocol.TRUNCATED),
            (pause + bytes(p.record_max), 0, protocol.OVERSIZED),
            (p.header(300, 8, 1), 0, protocol.UNKNOWN_KIND),
            (p.encode('REPLY', 1, check=False, status=0), 0, protocol.WRONG_SENDER),
            (pause + bytes(4), 0, protocol.BAD_SIZE),
            (p.header(p.kind('PAUSE').number, 12, 1), 0, protocol.BAD_SIZE),
            (p.encode('PAUSE', 0, check=False), 0, protocol.BAD_ID),
            (pause, 1, protocol.FD_COUNT),
            (p.encode('SET_STATS_INTERVAL', 1, check=False, milliseconds=1 << 31), 0,
             protocol.OUT_OF_RANGE),
        ]
        for data, n_fds, result in cases:
            with self.subTest(result=result, data=data.hex()):
                with self.assertRaises(protocol.DecodeError) as caught:
                    p.decode(data, n_fds, sender='daemon')
                self.assertEqual(caught.exception.result, result)
        stopped = p.encode('STOPPED', sender='worker', flags=0, exit_status=-1, reason='bye')
        for bad in (b'\xff', b'\x01', b'\xc3('):
            data = stopped[:16] + bad + stopped[16 + len(bad):]
            with self.subTest(text=bad):
                with self.assertRaises(protocol.DecodeError) as caught:
                    p.decode(data)
                self.assertEqual(caught.exception.field, 'reason')
        # Bytes after the first NUL must be NUL too.
        data = bytearray(stopped)
        data[-1] = ord('x')
        with self.assertRaises(protocol.DecodeError):
            p.decode(bytes(data))

    def test_guest_stats_by_name(self):
        p = self.p
        values = {name: i + 1 for i, name in enumerate(p.stat_names)}
        data = p.encode('GUEST_STATS', sender='worker', known=0b10000001, updated_us=5, **values)
        record = p.decode(data)
        self.assertEqual(p.guest_stats(record), {'swap-in': 1, 'disk-caches': 8})


class ControlTestCase(unittest.TestCase):
    def setUp(self):
        load_protocol()

    def start(self, **fake_args):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.fake = FakeWorker(theirs, **fake_args)
        thread = threading.Thread(target=self.fake.run, daemon=True)
        thread.start()
        control = WorkerControl(ours, label='fake worker')
        self.addCleanup(control.close)
        control.send_hello()
        control.wait_ready(5)
        return control


class TestControl(ControlTestCase):
    def test_requests_and_values(self):
        c = self.start()
        self.assertEqual(c.snapshot(), {'memory_size': 128 * MiB, 'n_vcpus': 1, 'target': 0,
                                        'state': 'running', 'actual': 0, 'guest_actual': 0,
                                        'reported_bytes': 0})
        reply = c.set_balloon_target(16 * MiB)
        self.assertEqual(reply.name, 'REPLY')
        self.assertEqual(c.value('target'), 16 * MiB)
        with self.assertRaises(WorkerError) as caught:
            c.set_balloon_target(256 * MiB)
        self.assertEqual(caught.exception.status, 'invalid-argument')
        self.assertEqual(c.set_balloon_target(256 * MiB, check=False)['status'],
                         c.protocol.statuses['invalid-argument'])
        with self.assertRaises(protocol.EncodeError):
            c.set_balloon_target(1)
        c.pause()
        self.assertEqual(c.value('state'), 'paused')
        snapshot = c.query_state()
        self.assertEqual([r.name for r in snapshot['records']], ['STATE', 'BALLOON'])
        self.assertEqual(snapshot['BALLOON']['target'], 16 * MiB)
        c.resume()
        self.assertEqual(c.wait_value('state', lambda s: s == 'running'), 'running')
        c.power_off()
        stopped = c.wait_stopped(5)
        self.assertEqual(stopped['reason'], 'powered off by the controller')
        self.assertEqual(c.value('stop_flags'), {'requested'})
        self.assertEqual(c.value('exit_status'), -1)
        c.wait_closed(5)
        c.check()
        ids = [r.id for r in self.fake.received]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertNotIn(0, ids)

    def test_pipelined_ids(self):
        c = self.start()
        ids = [c.send_request('PAUSE', 5), c.send_request('RESUME', 0xFFFFFFFF),
               c.send_request('QUERY_STATE')]
        for record_id in ids:
            self.assertEqual(c.wait_reply(record_id, 5)['status'], 0)

    def test_bad_record_stops_the_fake(self):
        c = self.start()
        c.send_raw(b'\x01\x02\x03')
        self.assertIn('protocol error', c.wait_stopped(5)['reason'])
        c.wait_closed(5)
        c.check()

    def test_reply_to_no_request_is_a_violation(self):
        c = self.start(misbehave='reply-unknown-id')
        with self.assertRaises(ProtocolViolation):
            c.pause(timeout=5)

    def test_record_after_stopped_is_a_violation(self):
        c = self.start(misbehave='after-stopped')
        c.send_raw(b'\x00')
        c.wait_closed(5)
        self.assertTrue(any('after STOPPED' in v for v in c.violations), c.violations)
        with self.assertRaises(ProtocolViolation):
            c.check()

    def test_silent_worker_times_out(self):
        c = self.start(answer=False)
        started = time.monotonic()
        with self.assertRaisesRegex(WorkerError, 'waiting for the REPLY to PAUSE') as caught:
            c.pause(timeout=0.3)
        self.assertIsNone(caught.exception.status)
        self.assertLess(time.monotonic() - started, 3)

    def test_pause_reading(self):
        c = self.start()
        c.pause_reading()
        time.sleep(0.1)
        mark = c.mark()
        ids = [c.send_request('QUERY_STATE') for _ in range(40)]
        time.sleep(0.3)
        self.assertEqual(c.mark(), mark, 'records read while paused')
        c.resume_reading()
        for record_id in ids:
            c.wait_reply(record_id, 5)
        self.assertEqual(len(c.records_of('REPLY', start=mark)), 40)

    def test_balloon_beyond_memory_is_a_violation(self):
        c = self.start()
        self.fake.send('BALLOON', target=0, actual=256 * MiB, guest_actual=0, reported_bytes=0)
        with self.assertRaisesRegex(ProtocolViolation, 'beyond the memory'):
            c.wait_for(lambda v: False, 2)

    def test_close_is_seen_by_the_worker(self):
        c = self.start(answer=False)
        c.close()
        self.assertEqual(self.fake.sock.recv(512), b'')


class TestSpawn(unittest.TestCase):
    """worker.spawn and WorkerProcess with a stand-in process on --control-fd."""

    def test_spawn_and_power_off(self):
        load_protocol()
        process = WorkerProcess([sys.executable, os.path.abspath(__file__), '--fake-worker'],
                                label='fake worker', env=dict(os.environ))
        self.addCleanup(process.close)
        process.start()
        ready = process.control.wait_ready(10)
        self.assertEqual(ready['memory_size'], 128 * MiB)
        self.assertEqual(process.power_off(10), 0)
        self.assertEqual(process.control.value('stop_reason'), 'powered off by the controller')

    def test_paths(self):
        self.assertTrue(os.path.exists(os.path.join(paths.SOURCE_DIR, 'meson.build')))
        self.assertTrue(paths.wants_test_worker({'VBOXMEM_VM_TEST_NO_IRQFD': '1'}))
        self.assertFalse(paths.wants_test_worker({'VBOXMEM_VM_DEBUG': '1'}))


def fake_worker_main():
    """Serves the inherited --control-fd as FakeWorker, as a worker process would."""
    fd = int(sys.argv[sys.argv.index('--control-fd') + 1])
    FakeWorker(socket.socket(fileno=fd)).run()
    sys.exit(0)


if __name__ == '__main__':
    if sys.argv[1:2] == ['--fake-worker']:
        fake_worker_main()
    testing.main()
