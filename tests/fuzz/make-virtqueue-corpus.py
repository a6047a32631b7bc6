#!/usr/bin/env python3
# Writes the seed inputs of fuzz-virtqueue into corpus/virtqueue/ (input format: fuzz-virtqueue.c).
import os
import random
import struct
import sys

QUEUE_STRIDE, AVAIL, USED = 0x4000, 0x1000, 0x2000
F_WRITE, F_NEXT, F_INDIRECT = 2, 1, 4


class Guest:
    def __init__(self, features, size_log2, kicks):
        self.header = bytes([features, size_log2, kicks])
        self.memory = bytearray()

    def put(self, address, data):
        end = address + len(data)
        if end > len(self.memory):
            self.memory.extend(bytes(end - len(self.memory)))
        self.memory[address:end] = data

    def desc(self, queue, index, address, length, flags=0, next_=0):
        self.put(queue * QUEUE_STRIDE + 16 * index, struct.pack('<QIHH', address, length, flags, next_))

    def avail(self, queue, heads, idx=None):
        base = queue * QUEUE_STRIDE + AVAIL
        self.put(base, struct.pack('<HH', 0, len(heads) if idx is None else idx))
        for i, head in enumerate(heads):
            self.put(base + 4 + 2 * i, struct.pack('<H', head))

    def bytes(self):
        return self.header + bytes(self.memory)


def pfns(*values):
    return struct.pack('<%dI' % len(values), *values)


def seeds():
    g = Guest(0, 3, 0x01)  # inflate a run and a stray page
    g.put(0x800, pfns(0x100, 0x101, 0x102, 0x150))
    g.desc(0, 0, 0x800, 16)
    g.avail(0, [0])
    yield 'inflate', g

    g = Guest(0, 3, 0x03)  # inflate then deflate
    g.put(0x800, pfns(0x100, 0x101))
    g.desc(0, 0, 0x800, 8)
    g.avail(0, [0])
    g.desc(1, 0, 0x800, 4)
    g.avail(1, [0])
    yield 'inflate-deflate', g

    g = Guest(0, 3, 0x01)  # a PFN beyond RAM
    g.put(0x800, pfns(0x100, 0xFFFFFF))
    g.desc(0, 0, 0x800, 8)
    g.avail(0, [0])
    yield 'pfn-out-of-range', g

    g = Guest(0, 3, 0x01)  # descriptor loop
    g.desc(0, 0, 0x10000, 4, F_NEXT, 1)
    g.desc(0, 1, 0x10000, 4, F_NEXT, 0)
    g.avail(0, [0])
    yield 'loop', g

    g = Guest(0, 3, 0x01)  # indirect descriptor, never negotiated
    g.desc(0, 0, 0x10000, 32, F_INDIRECT)
    g.avail(0, [0])
    yield 'indirect', g

    g = Guest(0, 3, 0x01)  # available index far ahead
    g.avail(0, [0], idx=500)
    yield 'avail-jump', g

    g = Guest(1, 3, 0x04)  # stats, then a request
    g.put(0x8800, struct.pack('<HQ', 4, 1 << 20) + struct.pack('<HQ', 5, 1 << 22) + b'\x07')
    g.desc(2, 0, 0x8800, 21)
    g.avail(2, [0])
    yield 'stats', g

    g = Guest(3, 3, 0x08)  # free page reporting on queue 3
    g.desc(3, 0, 0x100000, 0x2000, F_WRITE | F_NEXT, 1)
    g.desc(3, 1, 0x104000, 0x1000, F_WRITE)
    g.avail(3, [0])
    yield 'reporting', g

    g = Guest(2, 3, 0x04)  # reporting on queue 2, misaligned
    g.desc(2, 0, 0x100800, 0x1000, F_WRITE)
    g.avail(2, [0])
    yield 'reporting-unaligned', g

    rng = random.Random(1)
    for n in range(3):
        g = Guest(rng.randrange(256), rng.randrange(256), rng.randrange(256))
        g.memory = bytearray(rng.randrange(256) for _ in range(0x3000))
        yield 'random-%d' % n, g


def main():
    directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'virtqueue')
    os.makedirs(directory, exist_ok=True)
    for name, guest in seeds():
        with open(os.path.join(directory, name), 'wb') as f:
            f.write(guest.bytes())
    return 0


if __name__ == '__main__':
    sys.exit(main())
