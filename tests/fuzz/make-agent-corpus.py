#!/usr/bin/env python3
# Writes the seed inputs of fuzz-agent into corpus/agent/ (input format:
# fuzz-agent.c): valid records of every kind, a stream of several, and
# malformed ones. The layouts are docs/agent-protocol.md's, written here
# independently of the C encoder.
import os
import struct
import sys

MAGIC = 0x4756
HEADER = '<HHII'
GIB = 1 << 30


def record(kind, body, seq=1, length=None):
    size = struct.calcsize(HEADER) + len(body)
    return struct.pack(HEADER, MAGIC, kind, size if length is None else length, seq) + body


def ranges(pairs):
    return b''.join(struct.pack('<QQ', start, pages) for start, pages in pairs)


def hello(kind=1, version=1, name=b'vboxmem-guestd'):
    return record(kind, struct.pack('<IHH', version, len(name), 0) + name)


def register(region=1, name=b'kernel text', build_id=b'\xb1' * 20,
             pairs=((0x100000, 16), (0x200000, 1))):
    body = struct.pack('<IHHI', region, len(name), len(build_id), len(pairs))
    return record(2, body + name + build_id + ranges(pairs))


def hint(kind=3, region=1, pairs=((0x100000, 1),), count=None):
    n = len(pairs) if count is None else count
    return record(kind, struct.pack('<II', region, n) + ranges(pairs))


def status():
    return record(5, struct.pack('<IIQ', 2, 0, 12345))


# Byte 0: sender (bit 0) and RAM limit ((byte >> 1) % 5: 2 is 1 GiB); byte 1: piece size - 1.
GUEST = bytes([2 << 1, 255])
GUEST_SMALL_PIECES = bytes([2 << 1, 6])
HOST = bytes([(2 << 1) | 1, 255])

SEEDS = {
    'valid-hello': GUEST + hello(),
    'valid-register-region': GUEST + register(),
    'valid-hint': GUEST + hint(),
    'valid-withdraw': GUEST + hint(kind=4),
    'valid-withdraw-whole-region': GUEST + hint(kind=4, pairs=()),
    'valid-status': GUEST + status(),
    'valid-host-hello': HOST + hello(kind=0x81, name=b'vboxmem-vm'),
    'valid-rehint': HOST + record(0x82, struct.pack('<II', 0xFFFFFFFF, 0)),
    'valid-status-request': HOST + record(0x83, b''),
    'valid-stream': GUEST_SMALL_PIECES + hello() + register() + hint() + status() + hint(kind=4),
    'valid-stream-truncated': GUEST_SMALL_PIECES + hello() + register()[:-5],
    'valid-many-ranges': GUEST + hint(pairs=[(i * 8192, 1) for i in range(4096)]),
    'bad-magic': GUEST + b'XX' + hello()[2:],
    'bad-unknown-kind': GUEST + record(9, b''),
    'bad-wrong-sender': GUEST + hello(kind=0x81),
    'bad-oversized': GUEST + record(3, b'', length=0xFFFFFFFF),
    'bad-length-short': GUEST + record(5, b'', length=4),
    'bad-trailing-bytes': GUEST + record(5, struct.pack('<IIQ', 2, 0, 1) + b'\0'),
    'bad-reserved': GUEST + record(5, struct.pack('<IIQ', 2, 1, 1)),
    'bad-version-0': GUEST + hello(version=0),
    'bad-name-utf8': GUEST + hello(name=b'\xc0\xaf'),
    'bad-name-control': GUEST + hello(name=b'a\nb'),
    'bad-name-empty': GUEST + hello(name=b''),
    'bad-range-unaligned': GUEST + hint(pairs=((0x1001, 1),)),
    'bad-range-empty': GUEST + hint(pairs=((0x1000, 0),)),
    'bad-range-wraps': GUEST + hint(pairs=((0xFFFFFFFFFFFFF000, 2),)),
    'bad-range-beyond-ram': GUEST + hint(pairs=((GIB - 4096, 2),)),
    'bad-too-many-ranges': GUEST + hint(pairs=((0, 1),), count=4097),
    'bad-count-mismatch': GUEST + hint(pairs=((0, 1), (8192, 1)), count=1),
    'bad-region-0': GUEST + hint(region=0),
    'bad-build-id-too-long': GUEST + register(build_id=b'\1' * 65),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'agent')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
