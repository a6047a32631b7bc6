"""Bounded waits."""

import time


def wait_until(condition, timeout, what, interval=0.05, idle=None, error=AssertionError):
    """Calls CONDITION until it returns something true, which is returned.

    After TIMEOUT seconds, raises ERROR("timed out after TIMEOUT s waiting WHAT"):
    WHAT reads on from "waiting" ("for the ready marker", "until X holds") and may be
    a callable giving that text, called only then. IDLE, if given, runs before each
    call (to dispatch a main context, for instance)."""
    deadline = time.monotonic() + timeout
    while True:
        if idle is not None:
            idle()
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise error(f'timed out after {timeout:g} s waiting '
                        + (what() if callable(what) else what))
        time.sleep(interval)
