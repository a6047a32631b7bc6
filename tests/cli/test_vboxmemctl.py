#!/usr/bin/python3
# Copyright (C) 2026 The vboxmem authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of vboxmemctl, driving the built binary.

Run one test case per process: test_vboxmemctl.py Class.test_method.
Cases in classes marked as needing the bus run under tools/with-system-bus
(a private system bus with the real polkitd and vboxmemd); the others need
only the build. Exits 77 (skipped) when every case run was skipped.
"""

import os
import pwd
import re
import select
import signal
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from vboxmem_harness import testing  # noqa: E402
from vboxmem_harness.guest import READY as GUEST_READY  # noqa: E402
from vboxmem_harness.kvm import machines_unusable_reason  # noqa: E402
from vboxmem_harness.polling import wait_until  # noqa: E402
from vboxmem_harness.users import USER_IN_GROUP, USER_OUTSIDE, user_command  # noqa: E402

BUILD_DIR = os.environ.get("VBOXMEM_BUILD_DIR", "")
VBOXMEMCTL = os.path.join(BUILD_DIR, "cli", "vboxmemctl")
MAN_PAGE = os.path.join(BUILD_DIR, "docs", "man", "vboxmemctl.1")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NOT_AUTHORIZED = 3
EXIT_NO_SUCH_MACHINE = 4
EXIT_INVALID_ARGUMENT = 5
EXIT_INVALID_STATE = 6
EXIT_INSUFFICIENT_MEMORY = 7
EXIT_UNREACHABLE = 9

# the test guest's workload (it prints GUEST_READY once it is set up)
GUEST_COMMAND_LINE = "vboxmem.script=alloc:64M:seed=1,free:64M"
# generous: machines boot slowly on a loaded host
WAIT_SECONDS = 30
# metrics collect's bar of a machine's memory
BAR_WIDTH = 40
BAR_LEGEND = "Memory:  # used  % cache  . free  ~ balloon  = shared"

# Every command's options, as its --help must show them.
VERB_OPTIONS = {
    "list": ["--long", "vms", "runningvms", "hostinfo"],
    "showvminfo": ["--machinereadable", "--log"],
    "createvm": ["--name", "--memory", "--cpus", "--kernel", "--initrd", "--cmdline"],
    "modifyvm": [
        "--memory",
        "--cpus",
        "--kernel",
        "--initrd",
        "--cmdline",
        "--guestmemoryballoon",
        "--pagefusion",
        "--page-fusion",
        "--deflate-on-oom",
        "--free-page-reporting",
    ],
    "unregistervm": [],
    "startvm": [],
    "controlvm": ["poweroff", "pause", "resume", "guestmemoryballoon"],
    "metrics": ["list", "query", "collect", "--period", "--samples"],
}

# (argv, the command named in the message or None) that vboxmemctl must refuse
# by itself with exit status 2.
USAGE_ERRORS = [
    ([], None),
    (["frobnicate"], None),
    (["--bogus", "list", "vms"], None),
    (["list"], "list"),
    (["list", "disks"], "list"),
    (["list", "vms", "extra"], "list"),
    (["list", "hostinfo", "extra"], "list"),
    (["list", "--bogus", "vms"], "list"),
    (["createvm", "--memory", "64"], "createvm"),
    (["createvm", "--name", "vm1"], "createvm"),
    (["createvm", "--name", "vm1", "--memory", "64", "extra"], "createvm"),
    (["createvm", "--name", "vm1", "--memory", "64", "--guestmemoryballoon", "8"], "createvm"),
    (["createvm", "--name", "vm1", "--memory", "64", "--cpus", "two"], "createvm"),
    (["createvm", "--name", "vm1", "--memory", "64", "--cpus", "-1"], "createvm"),
    (["createvm", "--name", "vm1", "--memory", "64", "--cpus", "4294967296"], "createvm"),
    (["createvm", "--name", b"vm\xff".decode("utf-8", "surrogateescape"), "--memory", "64"],
     "createvm"),
    (["createvm", "--name", "vm1", "--memory", "64",
      "--cmdline", b"console=\xff".decode("utf-8", "surrogateescape")], "createvm"),
    (["modifyvm"], "modifyvm"),
    (["modifyvm", "vm1"], "modifyvm"),
    (["modifyvm", "vm1", "vm2", "--cpus", "2"], "modifyvm"),
    (["modifyvm", "vm1", "--pagefusion", "yes"], "modifyvm"),
    (["modifyvm", "vm1", "--page-fusion", "1"], "modifyvm"),
    (["modifyvm", "vm1", "--deflate-on-oom", "ON"], "modifyvm"),
    (["modifyvm", "vm1", "--free-page-reporting", ""], "modifyvm"),
    (["modifyvm", "vm1", "--guestmemoryballoon", "1.5"], "modifyvm"),
    (["modifyvm", "vm1", "--memory", "64", "--pagefusion", "maybe"], "modifyvm"),
    (["showvminfo"], "showvminfo"),
    (["showvminfo", "vm1", "vm2"], "showvminfo"),
    (["showvminfo", "--machine-readable", "vm1"], "showvminfo"),
    (["showvminfo", "--log", "--machinereadable", "vm1"], "showvminfo"),
    (["showvminfo", "--log=no", "vm1"], "showvminfo"),
    (["showvminfo", "--machinereadable=yes", "vm1"], "showvminfo"),
    (["startvm", "vm1", "--no-user-interaction=false"], "startvm"),
    (["--no-user-interaction=0", "list", "vms"], None),
    (["unregistervm"], "unregistervm"),
    (["unregistervm", "vm1", "--force"], "unregistervm"),
    (["startvm"], "startvm"),
    (["startvm", "vm1", "vm2"], "startvm"),
    (["controlvm", "vm1"], "controlvm"),
    (["controlvm", "vm1", "reboot"], "controlvm"),
    (["controlvm", "vm1", "poweroff", "now"], "controlvm"),
    (["controlvm", "vm1", "guestmemoryballoon"], "controlvm"),
    (["controlvm", "vm1", "guestmemoryballoon", "abc"], "controlvm"),
    (["controlvm", "vm1", "guestmemoryballoon", "-1"], "controlvm"),
    (["controlvm", "vm1", "guestmemoryballoon", "64", "extra"], "controlvm"),
    (["metrics"], "metrics"),
    (["metrics", "show"], "metrics"),
    (["metrics", "list", "a/b"], "metrics"),
    (["metrics", "list", "host", "Bogus/Metric"], "metrics"),
    (["metrics", "query", "--period", "2"], "metrics"),
    (["metrics", "list", "--samples", "2"], "metrics"),
    (["metrics", "collect", "--period"], "metrics"),
    (["metrics", "collect", "--period", "0"], "metrics"),
    (["metrics", "collect", "--period", "86401"], "metrics"),
    (["metrics", "collect", "--period", "1.5"], "metrics"),
    (["metrics", "collect", "--period", "-1"], "metrics"),
    (["metrics", "collect", "--samples", "0"], "metrics"),
    (["metrics", "collect", "--samples", "two"], "metrics"),
    (["metrics", "collect", "host", "RAM/VMM/Used:sum"], "metrics"),
    (["metrics", "collect", ".vm1"], "metrics"),
    (["metrics", "query", ".vm1"], "metrics"),
    (["metrics", "query", "host,a/b"], "metrics"),
    (["metrics", "query", "host,"], "metrics"),
    (["metrics", "query", "host", "Bogus/Metric"], "metrics"),
    (["metrics", "query", "host", "RAM/VMM/Used:sum"], "metrics"),
    (["metrics", "query", "host", "RAM/VMM/Used,"], "metrics"),
    (["metrics", "query", "host", "RAM/VMM/Used", "extra"], "metrics"),
]

# Sizes in MiB that must be refused: not digits only, or too large to be
# converted to bytes in 64 bits.
BAD_MIB_VALUES = ["abc", "-1", "1.5", "", "+5", " 5", "5 ", "0x10", "1e3", "17592186044416",
                  "99999999999999999999999"]


def bus_is_set_up():
    return "VBOXMEM_TEST_STATE_DIR" in os.environ and "DBUS_SYSTEM_BUS_ADDRESS" in os.environ


def run_vboxmemctl(args, user=None, env=None, cwd=None):
    """Runs vboxmemctl ARGS (as USER if given) without a terminal."""
    argv = [VBOXMEMCTL] + args
    if user is not None:
        argv = user_command(user, argv)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, cwd=cwd,
                          timeout=60, text=True, errors="surrogateescape")


def state_dir_snapshot():
    """The state directory's files with their contents and modification times."""
    state_dir = os.environ["VBOXMEM_TEST_STATE_DIR"]
    snapshot = {}
    for name in sorted(os.listdir(state_dir)):
        path = os.path.join(state_dir, name)
        with open(path, "rb") as f:
            snapshot[name] = (f.read(), os.stat(path).st_mtime_ns)
    return snapshot


def parse_machine_readable(text):
    """Parses VBoxManage-style key="value" / key=number lines into a dict."""
    values = {}
    for line in text.splitlines():
        match = re.fullmatch(r'([A-Za-z]+)=(?:"((?:[^"\\]|\\.)*)"|(\d+))', line)
        if match is None:
            raise AssertionError(f"not a machine-readable line: {line!r}")
        key, string, number = match.groups()
        values[key] = int(number) if number is not None else re.sub(r"\\(.)", r"\1", string)
    return values


def parse_human(text):
    """Parses aligned "Key:   value" lines; checks that the values are aligned."""
    values = {}
    columns = set()
    for line in text.splitlines():
        match = re.fullmatch(r"([A-Za-z][A-Za-z ]*):( +)(.*)", line)
        if match is None:
            raise AssertionError(f"not a 'Key: value' line: {line!r}")
        values[match.group(1)] = match.group(3)
        columns.add(len(match.group(1)) + 1 + len(match.group(2)))
    if len(columns) != 1:
        raise AssertionError(f"values are not aligned:\n{text}")
    return values


def parse_table(text, columns):
    """Parses a table of vboxmemctl: a header line naming COLUMNS, then one
    line per row whose fields start where the column names do (the last
    column takes the rest of the line)."""
    lines = text.splitlines()
    header = lines[0]
    starts = [header.index(column) for column in columns]
    if header.split() != columns or starts != sorted(starts):
        raise AssertionError(f"not a table of {columns}: {header!r}")
    rows = []
    for line in lines[1:]:
        ends = starts[1:] + [len(line)]
        row = {column: line[start:end].strip()
               for column, start, end in zip(columns, starts, ends)}
        for start in starts[1:]:
            if line[start - 1] != " ":
                raise AssertionError(f"columns are not aligned: {line!r}")
        rows.append(row)
    return rows


def query_values(text):
    """Parses the output of metrics query into {(object, metric): value}."""
    return {(row["Object"], row["Metric"]): row["Value"]
            for row in parse_table(text, ["Object", "Metric", "Value"])}


def poll(condition, what, timeout=WAIT_SECONDS):
    """Calls CONDITION until it returns a true value, which is returned; fails
    after TIMEOUT seconds."""
    return wait_until(condition, timeout, f"for {what}", interval=0.1)


class VboxmemctlTestCase(unittest.TestCase):
    needs_bus = False

    def setUp(self):
        if not os.access(VBOXMEMCTL, os.X_OK):
            self.fail(f"vboxmemctl is not built: {VBOXMEMCTL} (is VBOXMEM_BUILD_DIR set?)")
        if self.needs_bus and not bus_is_set_up():
            self.skipTest("needs tools/with-system-bus (a private system bus and vboxmemd)")

    def assert_one_line_error(self, result, status, verb):
        """Checks that RESULT failed with STATUS and one line on stderr naming VERB."""
        self.assertEqual(result.returncode, status,
                         f"expected exit status {status}\nstdout: {result.stdout}\n"
                         f"stderr: {result.stderr}")
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"expected one line on stderr: {result.stderr!r}")
        prefix = f"vboxmemctl: {verb}: " if verb is not None else "vboxmemctl: "
        self.assertTrue(lines[0].startswith(prefix), lines[0])
        self.assertGreater(len(lines[0]), len(prefix) + 5, lines[0])
        self.assertNotIn("GDBus.Error", lines[0])
        return lines[0]

    def assert_ok(self, result):
        self.assertEqual(result.returncode, EXIT_OK,
                         f"stdout: {result.stdout}\nstderr: {result.stderr}")
        self.assertEqual(result.stderr, "")
        return result.stdout

    def vboxmemctl_ok(self, *args, user=None):
        return self.assert_ok(run_vboxmemctl(list(args), user=user))

    def showvminfo(self, name, user=None):
        return parse_machine_readable(
            self.vboxmemctl_ok("showvminfo", "--machinereadable", name, user=user))


class StandaloneTest(VboxmemctlTestCase):
    """What vboxmemctl does without asking vboxmemd."""

    def test_global_help_lists_commands_and_exit_statuses(self):
        for option in ("--help", "-h"):
            stdout = self.vboxmemctl_ok(option)
            for verb in VERB_OPTIONS:
                self.assertRegex(stdout, rf"(?m)^  {verb} +\S")
            for status in range(10):
                self.assertRegex(stdout, rf"(?m)^  {status}  \S")
            self.assertIn("--no-user-interaction", stdout)
            self.assertIn("--version", stdout)

    def test_every_command_has_help_with_its_options(self):
        for verb, options in VERB_OPTIONS.items():
            for option in ("--help", "-h"):
                stdout = self.vboxmemctl_ok(verb, option)
                self.assertIn(f"vboxmemctl {verb}", stdout)
                self.assertIn("--no-user-interaction", stdout)
                for name in options:
                    self.assertIn(name, stdout, f"{verb} --help does not mention {name}")

    def test_version(self):
        stdout = self.vboxmemctl_ok("--version")
        self.assertRegex(stdout, r"^vboxmemctl \d+\.\d+\.\d+\n$")

    def test_usage_errors_never_reach_the_bus(self):
        # With no bus at all, contacting vboxmemd would fail with status 9.
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/vboxmem-test")
        for args, verb in self.usage_errors():
            with self.subTest(args=args):
                result = run_vboxmemctl(args, env=env)
                line = self.assert_one_line_error(result, EXIT_USAGE, verb)
                self.assertIn("(usage: vboxmemctl ", line)
                self.assertEqual(result.stdout, "")

    def test_bad_sizes_are_refused_with_a_clear_message(self):
        for value in BAD_MIB_VALUES:
            with self.subTest(value=value):
                result = run_vboxmemctl(["createvm", "--name", "vm1", f"--memory={value}"])
                line = self.assert_one_line_error(result, EXIT_USAGE, "createvm")
                self.assertIn("--memory needs a size in MiB", line)
                self.assertIn(f'"{value}"', line)

    def test_unreachable_bus_is_status_9(self):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/vboxmem-test")
        for args, verb in [(["list", "vms"], "list"), (["showvminfo", "vm1"], "showvminfo"),
                           (["createvm", "--name", "vm1", "--memory", "64"], "createvm"),
                           # An option's value that looks like a flag with a value is a value.
                           (["createvm", "--name", "vm1", "--memory", "64",
                             "--cmdline", "--no-user-interaction=1"], "createvm")]:
            with self.subTest(args=args):
                line = self.assert_one_line_error(run_vboxmemctl(args, env=env),
                                                  EXIT_UNREACHABLE, verb)
                self.assertIn("cannot connect to vboxmemd", line)

    def test_man_page_documents_every_command_option_and_status(self):
        with open(MAN_PAGE, encoding="utf-8") as f:
            man = f.read()
        help_text = self.vboxmemctl_ok("--help")
        commands = help_text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
        verbs = re.findall(r"(?m)^  (\S+)", commands)
        self.assertEqual(sorted(verbs), sorted(VERB_OPTIONS))
        for verb in verbs:
            self.assertRegex(man, rf'(?m)^\.SS "{verb}\b', f"vboxmemctl.1 lacks a section on {verb}")
            verb_help = self.vboxmemctl_ok(verb, "--help")
            for option in set(re.findall(r"(?m)^  (?:-\w, )?(--[\w-]+)", verb_help)):
                if option in ("--help", "--help-all"):
                    continue
                self.assertIn(option.replace("-", r"\-"), man,
                              f"vboxmemctl.1 does not document {verb} {option}")
        exit_status = man.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
        for status in range(10):
            self.assertIn(f".B {status}\n", exit_status)

    @staticmethod
    def usage_errors():
        errors = list(USAGE_ERRORS)
        for value in BAD_MIB_VALUES:
            errors.append((["createvm", "--name", "vm1", "--memory", value], "createvm"))
            errors.append((["modifyvm", "vm1", "--memory", value], "modifyvm"))
            errors.append((["modifyvm", "vm1", "--guestmemoryballoon", value], "modifyvm"))
            errors.append((["controlvm", "vm1", "guestmemoryballoon", value], "controlvm"))
        return errors


class DaemonTest(VboxmemctlTestCase):
    """vboxmemctl as root against the real vboxmemd."""

    needs_bus = True

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("must run as root")
        self.scratch = os.environ["VBOXMEM_TEST_DIR"]

    def make_file(self, name):
        path = os.path.join(self.scratch, name)
        with open(path, "wb") as f:
            f.write(b"\x7fELF test file\n")
        return path

    def test_create_list_modify_show_unregister(self):
        kernel = self.make_file("vmlinuz")
        initrd = self.make_file("initrd.img")
        stdout = self.vboxmemctl_ok("createvm", "--name", "web1", "--memory", "1024",
                                    "--cpus", "2", "--kernel", kernel, "--initrd", initrd,
                                    "--cmdline", "console=ttyS0 quiet")
        self.assertIn('"web1"', stdout)
        self.assertIn("/org/vboxmem/VBoxMem1/machine/web1", stdout)
        self.assertEqual(self.vboxmemctl_ok("list", "vms"),
                         '"web1" {/org/vboxmem/VBoxMem1/machine/web1}\n')
        self.assertEqual(os.listdir(os.environ["VBOXMEM_TEST_STATE_DIR"]), ["web1.vm"])

        created = self.showvminfo("web1")
        self.assertEqual(created["memory"], 1024)
        self.assertEqual(created["cpus"], 2)
        self.assertEqual(created["kernel"], kernel)
        self.assertEqual(created["initrd"], initrd)
        self.assertEqual(created["cmdline"], "console=ttyS0 quiet")
        self.assertEqual(created["guestmemoryballoon"], 0)
        self.assertEqual(created["pagefusion"], "off")

        kernel2 = self.make_file("vmlinuz-2")
        initrd2 = self.make_file("initrd-2.img")
        self.assertEqual(self.vboxmemctl_ok(
            "modifyvm", "web1", "--memory", "2048", "--cpus", "4", "--kernel", kernel2,
            "--initrd", initrd2, "--cmdline", 'console=hvc0 label="a b"',
            "--guestmemoryballoon", "256", "--pagefusion", "on", "--deflate-on-oom", "on",
            "--free-page-reporting", "on"), "")

        info = self.showvminfo("web1")
        expected = {
            "name": "web1",
            "owner": 0,
            "ownername": "root",
            "VMState": "poweroff",
            "memory": 2048,
            "cpus": 4,
            "kernel": kernel2,
            "initrd": initrd2,
            "cmdline": 'console=hvc0 label="a b"',
            "guestmemoryballoon": 256,
            "guestmemoryballoontarget": 0,
            "guestmemoryballoonactual": 0,
            "pagefusion": "on",
            "deflateonoom": "on",
            "freepagereporting": "on",
            "guestagent": "off",
            "gueststats": "unknown",
        }
        self.assertEqual({key: info.get(key) for key in expected}, expected)

        human = parse_human(self.vboxmemctl_ok("showvminfo", "web1"))
        self.assertEqual(human["Name"], "web1")
        self.assertEqual(human["Owner"], "root (uid 0)")
        self.assertEqual(human["State"], "powered off")
        self.assertEqual(human["Memory size"], "2048 MiB")
        self.assertEqual(human["CPUs"], "4")
        self.assertEqual(human["Kernel"], kernel2)
        self.assertEqual(human["Initrd"], initrd2)
        self.assertEqual(human["Command line"], 'console=hvc0 label="a b"')
        self.assertEqual(human["Balloon default size"], "256 MiB")
        self.assertEqual(human["Balloon target"], "0 MiB")
        self.assertEqual(human["Balloon actual"], "0 MiB")
        self.assertEqual(human["Page Fusion"], "on")
        self.assertEqual(human["Deflate on OOM"], "on")
        self.assertEqual(human["Free page reporting"], "on")
        self.assertEqual(human["Guest stats"], "unknown")

        # both spellings of Page Fusion; the other settings are kept
        self.vboxmemctl_ok("modifyvm", "web1", "--page-fusion", "off", "--deflate-on-oom", "off")
        info = self.showvminfo("web1")
        self.assertEqual((info["pagefusion"], info["deflateonoom"], info["freepagereporting"],
                          info["memory"]), ("off", "off", "on", 2048))
        self.vboxmemctl_ok("modifyvm", "web1", "--pagefusion", "on", "--free-page-reporting", "off")
        info = self.showvminfo("web1")
        self.assertEqual((info["pagefusion"], info["freepagereporting"]), ("on", "off"))
        # "" selects the default test guest and no initrd
        self.vboxmemctl_ok("modifyvm", "web1", "--kernel", "", "--initrd", "", "--cmdline", "")
        info = self.showvminfo("web1")
        self.assertEqual((info["kernel"], info["initrd"], info["cmdline"]), ("", "", ""))
        human = parse_human(self.vboxmemctl_ok("showvminfo", "web1"))
        self.assertEqual(human["Kernel"], "default test guest")

        self.assertEqual(self.vboxmemctl_ok("unregistervm", "web1"), "")
        self.assertEqual(self.vboxmemctl_ok("list", "vms"), "")
        self.assertEqual(os.listdir(os.environ["VBOXMEM_TEST_STATE_DIR"]), [])
        self.assert_one_line_error(run_vboxmemctl(["showvminfo", "web1"]),
                                   EXIT_NO_SUCH_MACHINE, "showvminfo")

    def test_relative_paths_are_made_absolute(self):
        os.mkdir(os.path.join(self.scratch, "boot"))
        kernel = self.make_file("boot/vmlinuz")
        initrd = self.make_file("initrd.img")
        result = run_vboxmemctl(["createvm", "--name", "rel", "--memory", "64",
                                 "--kernel", "./boot//vmlinuz", "--initrd", "boot/../initrd.img"],
                                cwd=self.scratch)
        self.assert_ok(result)
        info = self.showvminfo("rel")
        self.assertEqual(info["kernel"], kernel)
        self.assertEqual(os.path.realpath(info["initrd"]), initrd)
        self.assertTrue(os.path.isabs(info["initrd"]))
        result = run_vboxmemctl(["modifyvm", "rel", "--kernel", "initrd.img"], cwd=self.scratch)
        self.assert_ok(result)
        self.assertEqual(self.showvminfo("rel")["kernel"], initrd)

    def test_list_long_and_running(self):
        for name, memory in (("b-vm", "128"), ("a-vm", "64")):
            self.vboxmemctl_ok("createvm", "--name", name, "--memory", memory)
        self.assertEqual(self.vboxmemctl_ok("list", "vms"),
                         '"a-vm" {/org/vboxmem/VBoxMem1/machine/a_2dvm}\n'
                         '"b-vm" {/org/vboxmem/VBoxMem1/machine/b_2dvm}\n')
        self.assertEqual(self.vboxmemctl_ok("list", "runningvms"), "")
        blocks = self.vboxmemctl_ok("list", "--long", "vms").split("\n\n")
        self.assertEqual(len(blocks), 2)
        self.assertEqual(parse_human(blocks[0])["Name"], "a-vm")
        self.assertEqual(parse_human(blocks[1])["Memory size"], "128 MiB")
        self.assertEqual(self.vboxmemctl_ok("list", "-l", "runningvms"), "")

    def test_names_cannot_pass_for_others(self):
        """Bidirectional overrides and zero-width characters in a name are shown escaped,
        so that a machine cannot pass for another in a listing."""
        for name in ("evil\u202egnp.exe", "we\u200bb1", "web1\u2066"):
            self.vboxmemctl_ok("createvm", "--name", name, "--memory", "64")
        listing = self.vboxmemctl_ok("list", "vms")
        for raw in ("\u202e", "\u200b", "\u2066"):
            self.assertNotIn(raw, listing)
        self.assertIn('"evil\\u202egnp.exe"', listing)
        self.assertIn('"we\\u200bb1"', listing)
        self.assertIn('"web1\\u2066"', listing)
        self.assertIn("Name:", self.vboxmemctl_ok("list", "--long", "vms"))
        self.assertNotIn("\u202e", self.vboxmemctl_ok("list", "--long", "vms"))

    def test_usage_errors_leave_the_state_unchanged(self):
        self.vboxmemctl_ok("createvm", "--name", "vm1", "--memory", "64")
        before = state_dir_snapshot()
        for args, verb in StandaloneTest.usage_errors():
            with self.subTest(args=args):
                result = run_vboxmemctl(args)
                self.assert_one_line_error(result, EXIT_USAGE, verb)
        self.assertEqual(state_dir_snapshot(), before)
        self.assertEqual(self.showvminfo("vm1")["memory"], 64)

    def test_daemon_errors_have_their_exit_statuses(self):
        self.vboxmemctl_ok("createvm", "--name", "web1", "--memory", "1024")
        before = state_dir_snapshot()
        cases = [
            (["createvm", "--name", "web1", "--memory", "64"], EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", ".hidden", "--memory", "64"], EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", "a/b", "--memory", "64"], EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", "x" * 65, "--memory", "64"], EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", "vm2", "--memory", "0"], EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", "vm2", "--memory", "64", "--cpus", "0"],
             EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", "vm2", "--memory", "64", "--cpus", "65"],
             EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", "vm2", "--memory", "17592186044415"], EXIT_INVALID_ARGUMENT),
            (["createvm", "--name", "vm2", "--memory", "64", "--kernel", "/nonexistent/vmlinuz"],
             EXIT_INVALID_ARGUMENT),
            (["modifyvm", "web1", "--guestmemoryballoon", "2048"], EXIT_INVALID_ARGUMENT),
            (["modifyvm", "web1", "--cmdline", "a\x01b"], EXIT_INVALID_ARGUMENT),
            (["showvminfo", "nosuch"], EXIT_NO_SUCH_MACHINE),
            (["modifyvm", "nosuch", "--cpus", "2"], EXIT_NO_SUCH_MACHINE),
            (["unregistervm", "nosuch"], EXIT_NO_SUCH_MACHINE),
            (["showvminfo", "nosuch", "--log"], EXIT_NO_SUCH_MACHINE),
            (["startvm", "nosuch"], EXIT_NO_SUCH_MACHINE),
            (["controlvm", "nosuch", "poweroff"], EXIT_NO_SUCH_MACHINE),
            (["metrics", "query", "nosuch"], EXIT_NO_SUCH_MACHINE),
            (["metrics", "list", "host,nosuch"], EXIT_NO_SUCH_MACHINE),
            (["metrics", "collect", "--samples", "1", "nosuch"], EXIT_NO_SUCH_MACHINE),
            # a powered-off machine cannot be controlled; sizes are checked first
            (["controlvm", "web1", "guestmemoryballoon", "128"], EXIT_INVALID_STATE),
            (["controlvm", "web1", "poweroff"], EXIT_INVALID_STATE),
            (["controlvm", "web1", "pause"], EXIT_INVALID_STATE),
            (["controlvm", "web1", "resume"], EXIT_INVALID_STATE),
            (["controlvm", "web1", "guestmemoryballoon", "2048"], EXIT_INVALID_ARGUMENT),
        ]
        for args, status in cases:
            with self.subTest(args=args):
                self.assert_one_line_error(run_vboxmemctl(args), status, args[0])
        self.assertEqual(state_dir_snapshot(), before)
        self.assertEqual(self.showvminfo("web1")["guestmemoryballoon"], 0)


    def test_metrics_and_host_without_running_machines(self):
        self.vboxmemctl_ok("createvm", "--name", "web1", "--memory", "1024")
        listed = parse_table(self.vboxmemctl_ok("metrics", "list"),
                             ["Object", "Metric", "Unit", "Description"])
        self.assertEqual(sorted(row["Metric"] for row in listed),
                         ["RAM/VMM/Ballooned", "RAM/VMM/Free", "RAM/VMM/Shared", "RAM/VMM/Used"])
        self.assertTrue(all(row["Object"] == "host" and row["Unit"] == "MiB"
                            and row["Description"] for row in listed), listed)
        listed = parse_table(self.vboxmemctl_ok("metrics", "list", "host", "RAM/VMM/Free:max"),
                             ["Object", "Metric", "Unit", "Description"])
        self.assertEqual([row["Metric"] for row in listed], ["RAM/VMM/Free:max"])
        self.assertTrue(listed[0]["Description"].endswith(" (max)"), listed)

        values = query_values(self.vboxmemctl_ok("metrics", "query", "host,web1"))
        self.assertEqual(sorted(values), [("host", "RAM/VMM/Ballooned"), ("host", "RAM/VMM/Free"),
                                          ("host", "RAM/VMM/Shared"), ("host", "RAM/VMM/Used")])
        self.assertEqual(values[("host", "RAM/VMM/Ballooned")], "0 MiB")
        for value in values.values():
            self.assertRegex(value, r"^\d+(\.\d\d)? MiB$")
        # nothing is sampled of a powered-off machine
        self.assertEqual(query_values(self.vboxmemctl_ok("metrics", "query", "web1")), {})

        host = parse_human(self.vboxmemctl_ok("list", "hostinfo"))
        self.assertEqual(sorted(host), ["Memory available", "Memory committed",
                                        "Memory overdrawn", "Memory pool", "Page Fusion shared",
                                        "vboxmemd version"])
        self.assertEqual(host["Memory committed"], "0 MiB")
        self.assertEqual(host["Memory overdrawn"], "0 MiB")
        self.assertEqual(host["Memory available"], host["Memory pool"])
        self.assertEqual(self.vboxmemctl_ok("list", "--long", "hostinfo"),
                         self.vboxmemctl_ok("list", "hostinfo"))

        # a machine that never ran has an empty log
        self.assertEqual(self.vboxmemctl_ok("showvminfo", "web1", "--log"), "")

    def test_metrics_collect_stops_at_ctrl_c(self):
        # stderr goes to the same pipe, so what the buffer of readline() holds
        # is read with the rest
        process = subprocess.Popen([VBOXMEMCTL, "metrics", "collect", "host", "RAM/VMM/Free"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            first = process.stdout.readline()
            self.assertRegex(first, r"^Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n$")
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
            output = process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        self.assertEqual(process.returncode, EXIT_OK, output)
        # whole samples only, and nothing on stderr
        for sample in (first + output).split("\n\n"):
            lines = sample.splitlines()
            self.assertRegex(lines[0], r"^Time: ")
            values = query_values("\n".join(lines[1:]))
            self.assertEqual(list(values), [("host", "RAM/VMM/Free")])

    def test_startvm_needs_room_in_the_pool(self):
        """Runs with a pool of 64 MiB (with-system-bus --pool-mib 64)."""
        self.assertEqual(parse_human(self.vboxmemctl_ok("list", "hostinfo"))["Memory pool"],
                         "64 MiB")
        self.vboxmemctl_ok("createvm", "--name", "big", "--memory", "256", "--cmdline",
                           GUEST_COMMAND_LINE)
        line = self.assert_one_line_error(run_vboxmemctl(["startvm", "big"]),
                                          EXIT_INSUFFICIENT_MEMORY, "startvm")
        self.assertIn("256 MiB", line)
        self.assertIn("64 MiB", line)
        self.assertEqual(self.showvminfo("big")["VMState"], "poweroff")
        self.assertEqual(parse_human(self.vboxmemctl_ok("list", "hostinfo"))["Memory committed"],
                         "0 MiB")


class RunningMachineTest(VboxmemctlTestCase):
    """vboxmemctl as root on a machine that runs the test guest."""

    needs_bus = True

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("must run as root")
        reason = machines_unusable_reason()
        if reason:
            self.skipTest(f"cannot run machines: {reason}")

    def wait_for_info(self, name, condition, what):
        """Polls showvminfo NAME until CONDITION(info) holds; returns info."""
        return poll(lambda: (lambda info: info if condition(info) else None)(
            self.showvminfo(name)), what)

    def test_run_balloon_log_metrics_and_power_off(self):
        self.vboxmemctl_ok("createvm", "--name", "vm1", "--memory", "256", "--cmdline",
                           GUEST_COMMAND_LINE)
        self.assertEqual(self.vboxmemctl_ok("startvm", "vm1"),
                         'Virtual machine "vm1" has been started.\n')
        self.assertEqual(self.showvminfo("vm1")["VMState"], "running")
        self.assertEqual(parse_human(self.vboxmemctl_ok("showvminfo", "vm1"))["State"], "running")
        self.assertEqual(self.vboxmemctl_ok("list", "runningvms"),
                         '"vm1" {/org/vboxmem/VBoxMem1/machine/vm1}\n')
        line = self.assert_one_line_error(run_vboxmemctl(["startvm", "vm1"]),
                                          EXIT_INVALID_STATE, "startvm")
        self.assertIn("running", line)
        self.assert_one_line_error(run_vboxmemctl(["controlvm", "vm1", "resume"]),
                                   EXIT_INVALID_STATE, "controlvm")
        self.assert_one_line_error(run_vboxmemctl(["modifyvm", "vm1", "--cpus", "2"]),
                                   EXIT_INVALID_STATE, "modifyvm")

        # the balloon
        self.assertEqual(self.vboxmemctl_ok("controlvm", "vm1", "guestmemoryballoon", "64"),
                         'The balloon of virtual machine "vm1" is being resized to 64 MiB.\n')
        info = self.wait_for_info("vm1", lambda info: info["guestmemoryballoonactual"] == 64,
                                  "the balloon to reach 64 MiB")
        self.assertEqual(info["guestmemoryballoontarget"], 64)
        human = parse_human(self.vboxmemctl_ok("showvminfo", "vm1"))
        self.assertEqual((human["Balloon target"], human["Balloon actual"]), ("64 MiB", "64 MiB"))
        for size in ("512", "257"):
            self.assert_one_line_error(
                run_vboxmemctl(["controlvm", "vm1", "guestmemoryballoon", size]),
                EXIT_INVALID_ARGUMENT, "controlvm")
        self.assertEqual(self.showvminfo("vm1")["guestmemoryballoontarget"], 64)
        poll(lambda: parse_human(self.vboxmemctl_ok("list", "hostinfo"))["Memory committed"]
             == "192 MiB", "the pool to hold 256 - 64 MiB")

        # the guest's statistics
        info = self.wait_for_info("vm1", lambda info: "guestmemorytotal" in info,
                                  "the guest's statistics")
        self.assertGreater(info["gueststatsupdated"], 0)
        self.assertGreater(info["guestmemorytotal"], 0)
        self.assertLessEqual(info["guestmemorytotal"], 256 * 1024 * 1024)

        # metrics
        poll(lambda: query_values(self.vboxmemctl_ok("metrics", "query", "vm1")).get(
            ("vm1", "Guest/RAM/Usage/Balloon")) == "64 MiB", "Guest/RAM/Usage/Balloon = 64 MiB")
        values = query_values(self.vboxmemctl_ok("metrics", "query", "vm1"))
        self.assertEqual(sorted(metric for _, metric in values),
                         ["Guest/RAM/Usage/" + metric for metric in
                          ("Balloon", "Cache", "Free", "Hinted", "Shared", "Total")])
        values = query_values(self.vboxmemctl_ok("metrics", "query", "vm1,host",
                                                 "Guest/RAM/Usage/Balloon:max,RAM/VMM/Ballooned"))
        self.assertEqual(values, {("vm1", "Guest/RAM/Usage/Balloon:max"): "64 MiB",
                                  ("host", "RAM/VMM/Ballooned"): "64 MiB"})
        listed = parse_table(self.vboxmemctl_ok("metrics", "list", "vm1"),
                             ["Object", "Metric", "Unit", "Description"])
        self.assertEqual(len(listed), 6)

        # metrics collect: the values and a bar of the machine's memory, per sample;
        # once the guest's statistics, which come at their own pace, have seen the balloon
        def guest_saw_balloon():
            values = query_values(self.vboxmemctl_ok("metrics", "query", "vm1"))
            total = values.get(("vm1", "Guest/RAM/Usage/Total"), "256 MiB")
            return float(total.split()[0]) <= 256 - 64
        poll(guest_saw_balloon, "Guest/RAM/Usage/Total without the balloon")
        stdout = self.vboxmemctl_ok("metrics", "collect", "--samples", "2", "vm1")
        samples = stdout.split("\n\n")
        self.assertEqual(len(samples), 2, stdout)
        for sample in samples:
            lines = sample.splitlines()
            self.assertRegex(lines[0], r"^Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
            self.assertRegex(lines[-2], rf"^Machine +{re.escape(BAR_LEGEND)}$")
            match = re.fullmatch(rf"vm1 +\[([#%.~=]{{{BAR_WIDTH}}})\] 256 MiB", lines[-1])
            self.assertIsNotNone(match, lines[-1])
            # 64 of 256 MiB
            self.assertEqual(match.group(1).count("~"), BAR_WIDTH // 4, lines[-1])
            self.assertRegex(match.group(1), r"^#*%*\.*~*=*$")
            values = query_values("\n".join(lines[1:-2]))
            self.assertEqual(values[("vm1", "Guest/RAM/Usage/Balloon")], "64 MiB")
            self.assertNotIn("host", [obj for obj, _ in values])

        # pause and resume
        self.assertEqual(self.vboxmemctl_ok("controlvm", "vm1", "pause"),
                         'Virtual machine "vm1" has been paused.\n')
        self.assertEqual(self.showvminfo("vm1")["VMState"], "paused")
        self.assertIn('"vm1"', self.vboxmemctl_ok("list", "runningvms"))
        self.assert_one_line_error(run_vboxmemctl(["controlvm", "vm1", "pause"]),
                                   EXIT_INVALID_STATE, "controlvm")
        self.assertEqual(self.vboxmemctl_ok("controlvm", "vm1", "resume"),
                         'Virtual machine "vm1" has been resumed.\n')
        self.assertEqual(self.showvminfo("vm1")["VMState"], "running")

        # the console log
        log = self.vboxmemctl_ok("showvminfo", "vm1", "--log")
        self.assertTrue(any(line.startswith(GUEST_READY) for line in log.splitlines()),
                        log)
        self.assertTrue(log.endswith("\n"))

        # power off
        self.assertEqual(self.vboxmemctl_ok("controlvm", "vm1", "poweroff"),
                         'Virtual machine "vm1" has been powered off.\n')
        info = self.showvminfo("vm1")
        self.assertEqual((info["VMState"], info["guestmemoryballoonactual"], info["gueststats"]),
                         ("poweroff", 0, "unknown"))
        self.assertEqual(parse_human(self.vboxmemctl_ok("showvminfo", "vm1"))["State"],
                         "powered off")
        self.assertEqual(self.vboxmemctl_ok("list", "runningvms"), "")
        for action in (["poweroff"], ["pause"], ["resume"], ["guestmemoryballoon", "64"]):
            with self.subTest(action=action):
                self.assert_one_line_error(run_vboxmemctl(["controlvm", "vm1"] + action),
                                           EXIT_INVALID_STATE, "controlvm")
        # the sampler drops the machine's metrics at its next round
        poll(lambda: query_values(self.vboxmemctl_ok("metrics", "query", "vm1")) == {},
             "the metrics of vm1 to go")
        # no bar for a machine that does not run
        stdout = self.vboxmemctl_ok("metrics", "collect", "--samples", "1", "vm1")
        self.assertNotIn(BAR_LEGEND, stdout)
        # the log of the last run stays
        self.assertIn(GUEST_READY, self.vboxmemctl_ok("showvminfo", "vm1", "--log"))
        self.assertEqual(self.vboxmemctl_ok("unregistervm", "vm1"), "")


class NoDaemonTest(VboxmemctlTestCase):
    """vboxmemctl on a bus where vboxmemd does not run (--no-daemon)."""

    needs_bus = True

    def test_missing_daemon_is_status_9(self):
        for args, verb in [(["list", "vms"], "list"), (["showvminfo", "vm1"], "showvminfo"),
                           (["modifyvm", "vm1", "--cpus", "2"], "modifyvm")]:
            with self.subTest(args=args):
                self.assert_one_line_error(run_vboxmemctl(args), EXIT_UNREACHABLE, verb)


class NonRootTestCase(VboxmemctlTestCase):
    needs_bus = True

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("must run as root to switch to the test users")
        for user in (USER_IN_GROUP, USER_OUTSIDE):
            try:
                pwd.getpwnam(user)
            except KeyError:
                self.skipTest(f"test user {user} does not exist (tools/test creates it)")


class AuthorizationTest(NonRootTestCase):
    """vboxmemctl as users other than root, with polkit's default rules."""

    def test_non_root_without_interaction_is_not_authorized(self):
        before = state_dir_snapshot()
        for args in (["--no-user-interaction", "createvm", "--name", "vm1", "--memory", "64"],
                     ["createvm", "--no-user-interaction", "--name", "vm1", "--memory", "64"]):
            with self.subTest(args=args):
                line = self.assert_one_line_error(run_vboxmemctl(args, user=USER_OUTSIDE),
                                                  EXIT_NOT_AUTHORIZED, "createvm")
                self.assertIn("(try as root, or with a polkit rule; see ", line)
                # The example rule is named only where it is installed.
                example = "/usr/share/doc/vboxmem/50-vboxmem-group.rules.example"
                self.assertIn(f"see {example})" if os.path.isfile(example)
                              else "see AUTHORIZATION in vboxmemctl(1))", line)
        self.assertEqual(state_dir_snapshot(), before)
        # reading needs no authorization
        self.assertEqual(self.vboxmemctl_ok("--no-user-interaction", "list", "vms",
                                            user=USER_OUTSIDE), "")

    def test_non_root_cannot_touch_roots_machine(self):
        self.vboxmemctl_ok("createvm", "--name", "rootvm", "--memory", "64")
        before = state_dir_snapshot()
        for args in (["modifyvm", "rootvm", "--cpus", "2"], ["unregistervm", "rootvm"],
                     ["startvm", "rootvm"], ["controlvm", "rootvm", "poweroff"],
                     ["showvminfo", "rootvm", "--log"]):
            with self.subTest(args=args):
                self.assert_one_line_error(
                    run_vboxmemctl(["--no-user-interaction"] + args, user=USER_IN_GROUP),
                    EXIT_NOT_AUTHORIZED, args[0])
        self.assertEqual(state_dir_snapshot(), before)
        self.assertEqual(self.showvminfo("rootvm", user=USER_OUTSIDE)["ownername"], "root")

    def run_on_terminal(self, args, user, answer):
        """Runs vboxmemctl ARGS as USER on a new terminal; when it asks for a
        password, writes ANSWER. Returns (exit status, terminal output, whether
        the terminal echoes input after the exit)."""
        master, slave = os.openpty()
        env = dict(os.environ, LC_ALL="C.UTF-8", TERM="dumb")
        argv = user_command(user, [VBOXMEMCTL] + args)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(master)
                os.login_tty(slave)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        status = None
        try:
            output, status = self.read_terminal(master, pid, b"Password:", 30)
            if status is None:
                # the agent discards pending input when it turns echo off
                self.wait_for_echo_off(slave)
                os.write(master, answer)
                more, status = self.read_terminal(master, pid, None, 60)
                output += more
            # the parent keeps the terminal open, so its settings outlive the child
            echo = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
        finally:
            if status is None:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(master)
            os.close(slave)
        return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace"), echo

    @staticmethod
    def wait_for_echo_off(tty):
        deadline = time.monotonic() + 10
        while termios.tcgetattr(tty)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                raise AssertionError("the password prompt did not turn echo off")
            time.sleep(0.01)

    @staticmethod
    def read_terminal(master, pid, until, timeout):
        """Reads the terminal until UNTIL appears or PID exits. Returns the
        output and PID's wait status, None if it still runs."""
        output = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                output += os.read(master, 4096)
                if until is not None and until in output:
                    return output, None
                continue
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited == pid:
                while select.select([master], [], [], 0.2)[0]:
                    output += os.read(master, 4096)
                return output, status
        raise AssertionError(f"timed out; the terminal showed: {output!r}")

    def assert_authentication_failed(self, status, output, echo, message):
        self.assertIn("AUTHENTICATING FOR org.vboxmem.machine.create", output)
        self.assertIn("Password:", output)
        self.assertEqual(status, EXIT_NOT_AUTHORIZED, output)
        self.assertIn(message, output)
        self.assertTrue(echo, "the terminal was left without echo")
        self.assertEqual(os.listdir(os.environ["VBOXMEM_TEST_STATE_DIR"]), [])

    def test_terminal_prompts_and_wrong_password_fails(self):
        status, output, echo = self.run_on_terminal(
            ["createvm", "--name", "vm1", "--memory", "64"], USER_OUTSIDE,
            b"not-the-password\n")
        self.assert_authentication_failed(status, output, echo, "vboxmemctl: createvm: ")

    def test_terminal_prompt_cancelled_with_ctrl_c(self):
        status, output, echo = self.run_on_terminal(
            ["createvm", "--name", "vm1", "--memory", "64"], USER_OUTSIDE, b"\x03")
        self.assert_authentication_failed(status, output, echo,
                                          "vboxmemctl: createvm: authentication cancelled")

    def test_no_prompt_on_terminal_with_no_user_interaction(self):
        status, output, _ = self.run_on_terminal(
            ["--no-user-interaction", "createvm", "--name", "vm1", "--memory", "64"],
            USER_OUTSIDE, b"\x03")
        self.assertEqual(status, EXIT_NOT_AUTHORIZED, output)
        self.assertNotIn("AUTHENTICATING", output)
        self.assertNotIn("Password:", output)


class GroupRuleTest(NonRootTestCase):
    """vboxmemctl as the test users with the example polkit rule installed
    for the group vboxmem-test (--polkit-rules)."""

    def test_group_members_manage_their_own_machines(self):
        member = pwd.getpwnam(USER_IN_GROUP)
        self.vboxmemctl_ok("--no-user-interaction", "createvm", "--name", "mine", "--memory", "64",
                           user=USER_IN_GROUP)
        info = self.showvminfo("mine", user=USER_OUTSIDE)
        self.assertEqual((info["owner"], info["ownername"]), (member.pw_uid, USER_IN_GROUP))
        human = parse_human(self.vboxmemctl_ok("showvminfo", "mine"))
        self.assertEqual(human["Owner"], f"{USER_IN_GROUP} (uid {member.pw_uid})")
        self.vboxmemctl_ok("--no-user-interaction", "modifyvm", "mine", "--guestmemoryballoon",
                           "32", user=USER_IN_GROUP)
        self.assertEqual(self.showvminfo("mine")["guestmemoryballoon"], 32)
        # past authorization, the daemon's own answer
        self.assert_one_line_error(
            run_vboxmemctl(["--no-user-interaction", "controlvm", "mine", "pause"],
                           user=USER_IN_GROUP), EXIT_INVALID_STATE, "controlvm")
        # the owner reads the log of a machine that never ran
        self.assertEqual(self.vboxmemctl_ok("--no-user-interaction", "showvminfo", "mine", "--log",
                                            user=USER_IN_GROUP), "")

        before = state_dir_snapshot()
        self.assert_one_line_error(
            run_vboxmemctl(["--no-user-interaction", "modifyvm", "mine", "--cpus", "2"],
                           user=USER_OUTSIDE), EXIT_NOT_AUTHORIZED, "modifyvm")
        self.assert_one_line_error(
            run_vboxmemctl(["--no-user-interaction", "createvm", "--name", "theirs",
                            "--memory", "64"], user=USER_OUTSIDE), EXIT_NOT_AUTHORIZED,
            "createvm")
        self.assertEqual(state_dir_snapshot(), before)

        self.vboxmemctl_ok("--no-user-interaction", "unregistervm", "mine", user=USER_IN_GROUP)
        self.assertEqual(self.vboxmemctl_ok("list", "vms"), "")


    def test_group_members_run_their_own_machines(self):
        reason = machines_unusable_reason()
        if reason:
            self.skipTest(f"cannot run machines: {reason}")
        member = ["--no-user-interaction"]
        self.vboxmemctl_ok(*member, "createvm", "--name", "mine", "--memory", "128",
                           user=USER_IN_GROUP)
        self.assertEqual(self.vboxmemctl_ok(*member, "startvm", "mine", user=USER_IN_GROUP),
                         'Virtual machine "mine" has been started.\n')
        self.assertEqual(self.showvminfo("mine", user=USER_OUTSIDE)["VMState"], "running")
        self.assertIn(GUEST_READY, poll(
            lambda: (lambda log: log if GUEST_READY in log else None)(
                self.vboxmemctl_ok(*member, "showvminfo", "mine", "--log", user=USER_IN_GROUP)),
            "the guest to be ready"))
        self.vboxmemctl_ok(*member, "controlvm", "mine", "guestmemoryballoon", "32",
                           user=USER_IN_GROUP)
        # another user may neither control it nor read its log
        for args in (["controlvm", "mine", "poweroff"], ["controlvm", "mine", "pause"],
                     ["showvminfo", "mine", "--log"]):
            with self.subTest(args=args):
                self.assert_one_line_error(run_vboxmemctl(member + args, user=USER_OUTSIDE),
                                           EXIT_NOT_AUTHORIZED, args[0])
        self.assertEqual(self.vboxmemctl_ok(*member, "controlvm", "mine", "poweroff",
                                            user=USER_IN_GROUP),
                         'Virtual machine "mine" has been powered off.\n')
        self.assertEqual(self.showvminfo("mine")["VMState"], "poweroff")
        self.vboxmemctl_ok(*member, "unregistervm", "mine", user=USER_IN_GROUP)


if __name__ == "__main__":
    testing.main(meson_build="tests/cli/meson.build")
