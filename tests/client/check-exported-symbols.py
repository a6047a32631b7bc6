#!/usr/bin/env python3
# Copyright (C) 2026 The vboxmem authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fails when the library exports a symbol that its GIR does not describe.

Usage: check-exported-symbols.py LIBRARY GIR

Every exported function must be reachable through GObject Introspection: a
function, method or constructor (c:identifier) or a type's get-type function.
"""

import subprocess
import sys
import xml.etree.ElementTree as ET

CORE = '{http://www.gtk.org/introspection/core/1.0}'
C = '{http://www.gtk.org/introspection/c/1.0}'
GLIB = '{http://www.gtk.org/introspection/glib/1.0}'


def exported_symbols(library):
    output = subprocess.run(['nm', '-D', '--defined-only', library],
                            check=True, capture_output=True, text=True).stdout
    symbols = set()
    for line in output.splitlines():
        fields = line.split()
        # 'A' is the version node of the version script, not a symbol of the API
        if len(fields) == 3 and fields[1] != 'A':
            symbols.add(fields[2].split('@')[0])
    return symbols


def gir_symbols(gir):
    symbols = set()
    for element in ET.parse(gir).iter():
        identifier = element.get(C + 'identifier')
        if identifier and element.tag in (CORE + 'function', CORE + 'method', CORE + 'constructor'):
            symbols.add(identifier)
        get_type = element.get(GLIB + 'get-type')
        if get_type and get_type != 'intern':
            symbols.add(get_type)
    return symbols


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    library, gir = sys.argv[1:]
    exported = exported_symbols(library)
    described = gir_symbols(gir)
    if not exported:
        print(f'{library} exports no symbols', file=sys.stderr)
        return 1
    missing = sorted(exported - described)
    for symbol in missing:
        print(f'{library} exports {symbol}, which {gir} does not describe', file=sys.stderr)
    if missing:
        return 1
    print(f'all {len(exported)} exported symbols are in {gir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
