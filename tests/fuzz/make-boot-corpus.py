#!/usr/bin/env python3
# Writes the seed inputs of fuzz-elf and fuzz-bzimage into corpus/elf/ and
# corpus/bzimage/ (see fuzz-elf.c, fuzz-bzimage.c): small kernels that load
# into the targets' 16 MiB guest, then broken ones. The layouts are those of
# tests/vmm/test-boot.c.
import os
import struct
import sys

MIB = 1 << 20
LOAD = 0x100000

# ELF: Elf64_Ehdr, Elf64_Phdr, Elf64_Nhdr.
PT_LOAD, PT_NOTE = 1, 4
EM_X86_64, EM_AARCH64 = 62, 183
EHDR_SIZE, PHDR_SIZE = 64, 56


def note(name, type_, desc):
    name = name.encode() + b'\0'
    pad = lambda data: data + bytes(-len(data) % 4)
    return struct.pack('<III', len(name), len(desc), type_) + pad(name) + pad(desc)


def ring3_note(entry):
    return note('vboxmem', 1, struct.pack('<Q', entry))


def pvh_note(entry, size=4):
    return note('Xen', 18, struct.pack('<Q', entry)[:size])


def elf(segments, notes=b'', machine=EM_X86_64, phoff=None, truncate=None, notes_first=False):
    """@segments: (address, code size, memory size); one PT_NOTE of @notes if any."""
    phnum = len(segments) + (1 if notes else 0)
    offset = EHDR_SIZE + phnum * PHDR_SIZE
    phdrs, body = b'', b''
    note_phdr = b''
    if notes:
        note_phdr = struct.pack('<IIQQQQQQ', PT_NOTE, 4, offset, 0, 0, len(notes), 0, 4)
        body += notes
        offset += len(notes)
    for address, code_size, memsz in segments:
        phdrs += struct.pack('<IIQQQQQQ', PT_LOAD, 5, offset, address, address, code_size,
                             max(memsz, code_size), 0x1000)
        body += b'\xcc' * code_size
        offset += code_size
    phdrs = note_phdr + phdrs if notes_first else phdrs + note_phdr
    ident = b'\x7fELF' + bytes([2, 1, 1]) + bytes(9)
    entry = segments[0][0] if segments else 0
    header = ident + struct.pack('<HHIQQQIHHHHHH', 2, machine, 1, entry,
                                 EHDR_SIZE if phoff is None else phoff, 0, 0, EHDR_SIZE,
                                 PHDR_SIZE, phnum, 0, 0, 0)
    image = header + phdrs + body
    return image[:truncate] if truncate is not None else image


def elf_seeds():
    code = [(LOAD, 256, 8192)]
    yield 'valid-ring3', elf(code, ring3_note(LOAD + 0x10))
    yield 'valid-pvh', elf(code, note('GNU', 3, b'abcd') + pvh_note(LOAD + 4), notes_first=True)
    yield 'valid-pvh-8-byte-note', elf(code, pvh_note(LOAD + 4, size=8))
    yield 'valid-both-notes', elf(code, pvh_note(LOAD + 4) + ring3_note(LOAD + 0x20))
    yield 'valid-two-segments', elf([(LOAD, 128, 128), (2 * MIB, 64, 4 * MIB)],
                                    ring3_note(2 * MIB + 8))
    yield 'valid-up-to-the-end', elf([(LOAD, 64, 15 * MIB)], ring3_note(16 * MIB - 1))
    yield 'broken-truncated-header', elf(code, ring3_note(LOAD), truncate=40)
    yield 'broken-phdrs-outside', elf(code, ring3_note(LOAD), phoff=MIB)
    yield 'broken-aarch64', elf(code, ring3_note(LOAD), machine=EM_AARCH64)
    yield 'broken-below-1-mib', elf([(0x8000, 64, 64)], ring3_note(0x8000))
    yield 'broken-too-large', elf([(LOAD, 64, 64 * MIB)], ring3_note(LOAD))
    yield 'broken-cut-segment', elf([(LOAD, 2048, 2048)], ring3_note(LOAD), truncate=1000)
    # A PVH note with a 2-byte value, then one whose size runs past the segment.
    yield 'broken-note-past-segment', elf(code, pvh_note(LOAD, size=2) +
                                          struct.pack('<III', 4, 0xffff, 18) + b'Xen\0')
    yield 'broken-no-entry-note', elf(code, note('GNU', 3, b'abcd'))
    yield 'broken-entry-outside-ram', elf(code, ring3_note(64 * MIB))
    yield 'broken-no-load-segment', elf([], ring3_note(LOAD))


def put(image, offset, value, width):
    image[offset:offset + width] = value.to_bytes(width, 'little')


def bzimage(version=0x020f, xloadflags=1, kernel_size=512, setup_sects=1, header_length=0x6a,
            pref_address=LOAD, init_size=64 * 1024, initrd_addr_max=0x7fffffff, truncate=None):
    setup = ((setup_sects or 4) + 1) * 512
    image = bytearray(setup + kernel_size)
    image[0x1f1] = setup_sects
    image[0x201] = header_length  # the setup header ends at 0x202 + this
    put(image, 0x202, 0x53726448, 4)  # "HdrS"
    put(image, 0x206, version, 2)
    put(image, 0x22c, initrd_addr_max, 4)
    put(image, 0x236, xloadflags, 2)
    put(image, 0x258, pref_address, 8)
    put(image, 0x260, init_size, 4)
    image[setup:] = b'\x90' * kernel_size
    return bytes(image[:truncate] if truncate is not None else image)


def bzimage_seeds():
    yield 'valid', bzimage()
    yield 'valid-setup-sects-0', bzimage(setup_sects=0, kernel_size=256)
    yield 'valid-pref-address-low', bzimage(pref_address=0, init_size=0)
    yield 'valid-pref-address-high', bzimage(pref_address=12 * MIB, init_size=MIB)
    # The header ends right after xloadflags: pref_address and init_size are not read.
    yield 'valid-short-header', bzimage(header_length=0x36)
    yield 'valid-initrd-low', bzimage(initrd_addr_max=4 * MIB - 1)
    yield 'broken-protocol-2-06', bzimage(version=0x0206)
    yield 'broken-no-64-bit-entry', bzimage(xloadflags=0)
    yield 'broken-init-size-too-large', bzimage(init_size=32 * MIB)
    yield 'broken-pref-address-outside-ram', bzimage(pref_address=64 * MIB)
    yield 'broken-header-outside-file', bzimage(header_length=0xff, truncate=0x280)
    yield 'broken-no-kernel', bzimage(kernel_size=0)
    # Fits without an initrd; with one, initrd_addr_max leaves it no room.
    yield 'broken-initrd-above-max', bzimage(initrd_addr_max=LOAD + 64 * 1024)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for name, seeds in (('elf', elf_seeds()), ('bzimage', bzimage_seeds())):
        directory = os.path.join(here, 'corpus', name)
        os.makedirs(directory, exist_ok=True)
        for seed, data in seeds:
            with open(os.path.join(directory, seed), 'wb') as f:
                f.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
