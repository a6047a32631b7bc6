#!/usr/bin/python3
# The boot path of a stock Linux guest: Debian's cloud kernel, started by
# vboxmem-vm through its PVH entry, must print its banner, our command line
# and exactly the e820 map the VMM built. (On nested PVM a stock kernel gets
# no further in reasonable time; on a host with VMX/SVM it boots on.)

import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from vboxmem_harness import kvm, paths, testing  # noqa: E402
from vboxmem_harness.worker import worker_argv  # noqa: E402

VMLINUX = os.path.join(os.environ.get("VBOXMEM_LINUX_DIR", os.path.join(paths.build_dir(), "linux-guest")),
                       "vmlinux")
MARKER = "vboxmem.boot-test=7d2f"
EXPECTED_E820 = [
    ("0x0000000000000000", "0x000000000009fbff", "usable"),
    ("0x000000000009fc00", "0x00000000000fffff", "reserved"),
    ("0x0000000000100000", "0x000000000fffffff", "usable"),
]
DEADLINE_S = 90


class LinuxBootPath(unittest.TestCase):
    def setUp(self):
        reason = kvm.kvm_unusable_reason()
        if reason:
            self.skipTest(reason)
        if not os.path.exists(VMLINUX):
            self.skipTest(f"no stock kernel at {VMLINUX} (tools/test fetches it with guest/linux/fetch-kernel)")
        self.tmp = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.tmp.name, "console.log")

    def tearDown(self):
        self.tmp.cleanup()

    def console(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for_e820(self, worker):
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if len(re.findall(r"BIOS-e820:", self.console())) >= len(EXPECTED_E820):
                # The map is printed line by line: give the last line time to complete.
                time.sleep(0.5)
                break
            if worker.poll() is not None:
                break
            time.sleep(0.2)
        return self.console()

    def test_banner_command_line_and_e820(self):
        # Uncontrolled: no --control-fd, the worker runs its VM until it is stopped.
        args = worker_argv(paths.worker_binary(), kernel=VMLINUX, memory_mib=256, console_log=self.log,
                           cmdline=f"console=ttyS0 earlyprintk=serial,ttyS0,115200 8250.nr_uarts=1 "
                           f"init_on_alloc=0 {MARKER}")
        worker = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        try:
            text = self.wait_for_e820(worker)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.assertRegex(text, r"Linux version \d+\.\d+", "no kernel banner on the console")
        self.assertIn("Command line: console=ttyS0", text)
        self.assertIn(MARKER, text)
        e820 = re.findall(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (\w+)", text)
        self.assertEqual(e820, EXPECTED_E820)


if __name__ == "__main__":
    testing.main()
