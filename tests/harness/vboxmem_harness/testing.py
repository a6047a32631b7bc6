"""Running unittest cases as meson tests.

Each test script runs the cases named on its command line (all without any) and
exits 0, 1 on a failure, or 77 (skipped, for meson and automake) when every case
it ran was skipped. `SCRIPT --check-registered CASE...` checks that the cases
its meson.build registers are exactly those the script has.
"""

import signal
import sys
import unittest

from . import SKIP


class TestTerminated(Exception):
    pass


def _terminate_handler(signum, frame):
    signal.signal(signum, signal.SIG_DFL)
    raise TestTerminated(f'test runner got signal {signum}')


def fail_on_signals():
    """SIGTERM/SIGINT (meson's timeout) fail the running test, so that its cleanups
    still run."""
    signal.signal(signal.SIGTERM, _terminate_handler)
    signal.signal(signal.SIGINT, _terminate_handler)


def test_ids(module):
    """Every test case of MODULE, as Class.test_method."""
    def flatten(suite):
        for test in suite:
            if isinstance(test, unittest.TestSuite):
                yield from flatten(test)
            else:
                yield test.id().split('.', 1)[1]
    return sorted(flatten(unittest.defaultTestLoader.loadTestsFromModule(module)))


def check_registered(module, registered, meson_build):
    """Exits 1 if a test case of MODULE is not among REGISTERED or one of those does
    not exist, saying which; else 0."""
    known = set(test_ids(module))
    missing = sorted(known - set(registered))
    unknown = sorted(set(registered) - known)
    for name in missing:
        print(f'test case not registered in {meson_build}: {name}')
    for name in unknown:
        print(f'registered test case does not exist: {name}')
    sys.exit(1 if missing or unknown else 0)


def main(meson_build=None, terminate_cleanly=False):
    """Runs the test cases of __main__ named on the command line (all if none).

    MESON_BUILD: the file that registers them, for --check-registered.
    TERMINATE_CLEANLY: SIGTERM/SIGINT fail the running test (fail_on_signals)."""
    module = sys.modules['__main__']
    names = sys.argv[1:]
    if names[:1] == ['--check-registered']:
        check_registered(module, names[1:], meson_build or 'meson.build')
    if terminate_cleanly:
        fail_on_signals()
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames(names, module)
    else:
        suite = loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun == 0 or len(result.skipped) == result.testsRun:
        for test, reason in result.skipped:
            print(f'SKIP {test.id()}: {reason}')
        sys.exit(SKIP)
    sys.exit(0)
