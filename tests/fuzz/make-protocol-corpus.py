#!/usr/bin/env python3
# Writes the seed inputs of fuzz-protocol into corpus/protocol/ (input format:
# fuzz-protocol.c): one valid record of every kind, then malformed ones.
#
# The layouts come from the record table that vmp-describe prints
# (service/protocol/, built as worker-protocol.json), as the Python harness
# reads them, so that they are written once; regenerate after a protocol
# change:
#   tests/fuzz/make-protocol-corpus.py build/service/protocol/worker-protocol.json
import json
import os
import struct
import sys

# Byte 0 of an input: bit 0 the sender (0 daemon, 1 worker), then the fd count.
SENDERS = {'daemon': 0, 'worker': 1}
FORMATS = {'u32': '<I', 'flags': '<I', 'i32': '<i', 'u64': '<Q', 'i64': '<q'}
MIB = 1 << 20

# A plausible value by field name, for the seeds to start from the middle of
# the range rather than its edge; other fields take their minimum.
VALUES = {
    'memory_size': 512 * MIB,
    'n_vcpus': 2,
    'balloon_target': 64 * MIB,
    'bytes': 128 * MIB,
    'milliseconds': 1000,
    'state': 1,
    'target': 128 * MIB,
    'actual': 96 * MIB,
    'guest_actual': 96 * MIB,
    'reported_bytes': 8 * MIB,
    'known': 0x3f,
    'updated_us': 1_700_000_000_000_000,
    'flags': 1,
    'exit_status': 3,
    'reason': 'guest exited: status 3, señal ✓',
}


def check_range(field, value):
    if field['type'] == 'text':
        return
    if field['type'] == 'flags':
        assert value & ~field['max'] == 0, field
    elif field['type'] in ('i32', 'i64'):
        assert field['smin'] <= value <= field['smax'], field
    else:
        assert field['min'] <= value <= field['max'], field
        assert field['multiple'] == 0 or value % field['multiple'] == 0, field


def field_bytes(field, value):
    if field['type'] == 'text':
        data = value.encode('utf-8')
        assert len(data) < field['size']
        return data + bytes(field['size'] - len(data))
    return struct.pack(FORMATS[field['type']], value)


def record(table, kind, values=None, id_=None, size=None):
    """The wire form of a record of @kind; @values override fields by name."""
    values = dict(VALUES, **(values or {}))
    body = b''
    for field in kind['fields']:
        value = values.get(field['name'], field['min'] if field['type'] != 'text' else '')
        if field['name'] == 'magic':
            value = table['magic']
        body += field_bytes(field, value)
    if id_ is None:
        id_ = 7 if kind['has_id'] else 0
    size = kind['size'] if size is None else size
    return struct.pack('<HHI', kind['kind'], size, id_) + body


def prefix(kind, n_fds=None):
    n_fds = kind['n_fds'] if n_fds is None else n_fds
    return bytes([SENDERS[kind['sender']] | (n_fds << 1)])


def seeds(table):
    kinds = {kind['name']: kind for kind in table['kinds']}

    for kind in table['kinds']:
        for field in kind['fields']:
            if field['name'] in VALUES:
                check_range(field, VALUES[field['name']])
        yield 'valid-' + kind['name'].lower().replace('_', '-'), prefix(kind) + record(table, kind)

    hello, stopped, stats = kinds['HELLO'], kinds['STOPPED'], kinds['GUEST_STATS']
    target, ready = kinds['SET_BALLOON_TARGET'], kinds['READY']
    too_long = table['record_max'] + 1
    yield 'bad-truncated-header', prefix(hello) + record(table, hello)[:5]
    yield 'bad-oversized', prefix(hello) + record(table, hello, size=too_long).ljust(too_long, b'\0')
    yield 'bad-unknown-kind', b'\0' + struct.pack('<HHI', 8, 8, 0)
    # A daemon's record as if the worker sent it, and the other way round.
    yield 'bad-wrong-sender', bytes([1]) + record(table, hello)
    yield 'bad-wrong-sender-stopped', bytes([0]) + record(table, stopped)
    yield 'bad-size-field', prefix(target) + record(table, target, size=target['size'] - 1)
    yield 'bad-size-short', prefix(target) + record(table, target)[:-1]
    yield 'bad-id-missing', prefix(kinds['PAUSE']) + record(table, kinds['PAUSE'], id_=0)
    yield 'bad-id-unexpected', prefix(hello) + record(table, hello, id_=1)
    yield 'bad-fd-count', prefix(kinds['STATE'], n_fds=1) + record(table, kinds['STATE'])
    yield 'bad-target-unaligned', prefix(target) + record(table, target, {'bytes': 4097})
    yield 'bad-ready-vcpus', prefix(ready) + record(table, ready, {'n_vcpus': 65})
    yield 'bad-stats-known', prefix(stats) + record(table, stats, {'known': 0xffffffff})
    yield 'bad-reason-control', prefix(stopped) + record(table, stopped, {'reason': 'line\nbreak'})
    # The reason is the last field: an overlong NUL, then text after the terminating NUL.
    reason_size = stopped['fields'][-1]['size']
    before_reason = prefix(stopped) + record(table, stopped)[:-reason_size]
    yield 'bad-reason-overlong', before_reason + b'\xc0\x80'.ljust(reason_size, b'\0')
    yield 'bad-reason-after-nul', before_reason + b'ok\0x'.ljust(reason_size, b'\0')
    # The longest reason: 127 bytes of text, three-byte characters up to the end.
    longest = 'x' + '✓' * ((reason_size - 2) // 3)
    yield 'valid-stopped-long-reason', prefix(stopped) + record(table, stopped, {'reason': longest})

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, '..', '..', 'build', 'service', 'protocol', 'worker-protocol.json')
    with open(sys.argv[1] if len(sys.argv) > 1 else default) as f:
        table = json.load(f)
    directory = os.path.join(here, 'corpus', 'protocol')
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds(table):
        with open(os.path.join(directory, name), 'wb') as f:
            f.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
