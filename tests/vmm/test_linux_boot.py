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

BUILD_DIR = os.environ.get("VBOXMEM_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
WORKER = os.path.join(BUILD_DIR, "service", "vmm", "vboxmem-vm")
VMLINUX = os.path.join(os.environ.get("VBOXMEM_LINUX_DIR", os.path.join(BUILD_DIR, "linux-guest")), "vmlinux")
MARKER = "vboxmem.boot-test=7d2f"
EXPECTED_E820 = [
    ("0x0000000000000000", "0x000000000009fbff", "usable"),
    ("0x000000000009fc00", "0x00000000000fffff", "reserved"),
    ("0x0000000000100000", "0x000000000fffffff", "usable"),
]
DEADLINE_S = 90


class LinuxBootPath(unittest.TestCase):
    def setUp(self):
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            self.skipTest("/dev/kvm is not usable here")
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
        args = [WORKER, "--kernel", VMLINUX, "--memory", "256", "--console-log", self.log,
                "--cmdline", f"console=ttyS0 earlyprintk=serial,ttyS0,115200 8250.nr_uarts=1 init_on_alloc=0 {MARKER}"]
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
        self.assertIn(f"Command line: console=ttyS0", text)
        self.assertIn(MARKER, text)
        e820 = re.findall(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (\w+)", text)
        self.assertEqual(e820, EXPECTED_E820)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    if not result.wasSuccessful():
        sys.exit(1)
    sys.exit(77 if result.skipped and result.testsRun == len(result.skipped) else 0)
