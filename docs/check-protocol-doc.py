#!/usr/bin/python3
"""Checks that docs/worker-protocol.md lists the records as the codec defines them.

Usage: check-protocol-doc.py DOC.md WORKER-PROTOCOL.json
The JSON is what service/protocol/vmp-describe prints from the codec's table.
"""

import json
import re
import sys


def documented_records(text):
    section = text.split('## Records', 1)[1].split('\n## ', 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) == 5 and cells[0].isdigit():
            rows[int(cells[0])] = cells
    return rows, section


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    with open(sys.argv[2]) as f:
        table = json.load(f)
    rows, section = documented_records(text)
    problems = []
    for kind in table['kinds']:
        row = rows.pop(kind['kind'], None)
        if row is None:
            problems.append(f'{kind["name"]} ({kind["kind"]}) is not documented')
            continue
        expected = [str(kind['kind']), kind['name'], kind['sender'], str(kind['size'])]
        if row[:4] != expected:
            problems.append(f'row {row[:4]} should be {expected}')
        for field in kind['fields']:
            if not re.search(r'\b' + re.escape(field['name']) + r'\b', row[4] + section):
                problems.append(f'{kind["name"]}: field {field["name"]} is not documented')
    for number, row in rows.items():
        problems.append(f'{row[1]} ({number}) is documented but does not exist')
    for problem in problems:
        print(problem)
    print(f'{len(table["kinds"])} records checked, {len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
