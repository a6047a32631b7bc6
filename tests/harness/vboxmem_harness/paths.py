"""Where things are: the source tree, the build tree and what is built there.

The build directory is $VBOXMEM_BUILD_DIR, else <source>/build. Binaries can be
given one by one in the environment, as tests/vmm/meson.build does: VBOXMEM_VM,
VBOXMEM_VM_TEST, VBOXMEM_TEST_GUEST and VBOXMEM_WORKER_PROTOCOL.
"""

import os

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
# Debian's Python, the one that has PyGObject (python3-gi).
PYTHON_GI = '/usr/bin/python3'
WITH_SYSTEM_BUS = os.path.join(SOURCE_DIR, 'tools', 'with-system-bus')

# Environment variables that only the test build of the worker (vboxmem-vm-test) reads.
TEST_HOOK_PREFIX = 'VBOXMEM_VM_TEST_'


def build_dir():
    return os.environ.get('VBOXMEM_BUILD_DIR') or os.path.join(SOURCE_DIR, 'build')


def _built(variable, *parts):
    return os.environ.get(variable) or os.path.join(build_dir(), *parts)


def worker_binary():
    """vboxmem-vm, the worker as installed."""
    return _built('VBOXMEM_VM', 'service', 'vmm', 'vboxmem-vm')


def test_worker_binary():
    """vboxmem-vm-test: the same worker with the VBOXMEM_VM_TEST_* hooks; never installed."""
    return _built('VBOXMEM_VM_TEST', 'service', 'vmm', 'vboxmem-vm-test')


def wants_test_worker(env):
    """True if ENV sets a hook that only vboxmem-vm-test reads."""
    return any(key.startswith(TEST_HOOK_PREFIX) for key in (env or {}))


def guest_image():
    """The project's ring-3 test guest."""
    return _built('VBOXMEM_TEST_GUEST', 'guest', 'vboxmem-test-guest')


def daemon_binary():
    return os.path.join(build_dir(), 'service', 'vboxmemd')


def protocol_table():
    """The worker protocol's record table as JSON, printed by service/protocol/vmp-describe."""
    return _built('VBOXMEM_WORKER_PROTOCOL', 'service', 'protocol', 'worker-protocol.json')


def missing(*paths):
    """The first of PATHS that does not exist, or None."""
    for path in paths:
        if not os.path.exists(path):
            return path
    return None
