#!/usr/bin/env python3
# Copyright (C) 2026 The vboxmem authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes a C header with the <interface> elements of a D-Bus introspection
file, as Introspectable.Introspect returns them: the XML stays the one
description of the interface.

    gen-introspection.py INPUT.xml OUTPUT.h VARIABLE
"""

import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape


def element_lines(element, indent):
    """The element, its attributes in file order, without comments or text."""
    attributes = ''.join(f' {name}="{escape(value, {chr(34): "&quot;"})}"'
                         for name, value in element.attrib.items())
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return [f'{indent}<{element.tag}{attributes}/>']
    lines = [f'{indent}<{element.tag}{attributes}>']
    for child in children:
        lines += element_lines(child, indent + '  ')
    return lines + [f'{indent}</{element.tag}>']


def c_string(line):
    escaped = line.replace('\\', '\\\\').replace('"', '\\"')
    if not escaped.isascii():
        raise SystemExit(f'non-ASCII text in the interface: {line!r}')
    return f'\t"{escaped}\\n"'


def main():
    source, output, variable = sys.argv[1:4]
    interfaces = ET.parse(source).getroot().findall('interface')
    if not interfaces:
        raise SystemExit(f'{source}: no <interface>')
    lines = []
    for interface in interfaces:
        lines += element_lines(interface, '  ')
    with open(output, 'w') as out:
        out.write(f'/* Generated from {source.split("/")[-1]} by gen-introspection.py. */\n\n')
        out.write('#pragma once\n\n')
        out.write(f'static const char {variable}[] =\n')
        out.write('\n'.join(c_string(line) for line in lines) + ';\n')


if __name__ == '__main__':
    main()
