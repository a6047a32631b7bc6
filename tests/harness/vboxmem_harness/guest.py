"""The project's ring-3 test guest: its console markers (docs/guest-interface.md)."""

import re

MARKER = 'vboxmem-guest: '
# Its first line once its set-up is finished.
READY = MARKER + 'ready'
READY_RE = re.compile(r'vboxmem-guest: ready ms=(\d+)')
SCRIPT_DONE = MARKER + 'script done failures=0'


def marker_re(pattern):
    """A regular expression for a console line `vboxmem-guest: PATTERN...`."""
    return re.compile(r'^' + re.escape(MARKER) + pattern)
