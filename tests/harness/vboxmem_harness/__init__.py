"""What the tests (tests/) and the benchmarks (bench/) of vboxmem share.

Stdlib only, so that bench/ runs with any Python 3:

    paths      the source and build trees: binaries, the test guest, the protocol table
    kvm        whether /dev/kvm can run VMs here (and machines, with the service user)
    users      the service and test users, commands run as one of them (setpriv)
    procfs     /proc readers: status, RSS, CPU time, smaps, children, threads
    polling    bounded waits
    protocol   the worker's control protocol (records), built from the build's JSON table
    worker     starting vboxmem-vm and driving it over that protocol, as vboxmemd does
    qmp        a QMP client for QEMU, the peer of the benchmarks and the guest tests
    guest      the test guest's console markers
    testing    running unittest cases as meson tests (skip status 77, registration checks)
    workertest unittest glue for the tests of vboxmem-vm (tests/vmm/test_worker.py)

Need PyGObject (Debian's python3-gi, so /usr/bin/python3):

    daemon     D-Bus clients of vboxmemd: as root, as another user, signal recorders
    daemontest unittest glue for the tests on the private system bus (tools/with-system-bus)

Scripts find this package by putting tests/harness first on sys.path.
"""

KiB = 1024
MiB = 1024 * 1024
# The guest page size, the unit of every balloon size.
PAGE = 4096
# The exit status meson and automake read as "skipped".
SKIP = 77
