"""Shared helpers for the vboxmem benchmarks (bench/).

Starts vboxmem-vm and QEMU with the project's ring-3 test guest, reads the guest's
`vboxmem-guest: ...` markers from the serial console with the time each arrived,
drives the balloon (the worker's control protocol, QEMU's QMP), and reads the VMM
process's memory from /proc. Every process started here is registered and killed
by cleanup(), which the entry points call from a finally block.

What the tests share with the benchmarks (paths, the KVM check, /proc readers, the
worker's launcher and protocol client, QMP) comes from tests/harness
(vboxmem_harness). Stdlib only.
"""

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "harness"))
from vboxmem_harness import KiB as KIB, MiB as MIB  # noqa: E402
from vboxmem_harness import guest as _guest, kvm, paths, procfs, users  # noqa: E402
from vboxmem_harness.qmp import Qmp  # noqa: E402
from vboxmem_harness.worker import WorkerError, spawn, worker_argv  # noqa: E402

READY_RE = _guest.READY_RE
REPO = paths.SOURCE_DIR
QBOOT = "/usr/share/qemu/qboot.rom"

# How long QEMU under KVM may take to reach a marker before TCG is used instead.
# KVM here is nested PVM: the PVH entry runs the test guest in ring 0, which PVM
# emulates (~5000x slower than ring 3), see shared/FACTS.md.
KVM_READY_BOUND_S = 20.0


class BenchError(Exception):
    """A benchmark could not run (a VM did not boot, a tool is missing)."""


# What the entry points report as a failed benchmark: the worker's control channel
# raises WorkerError (a refused request, a worker that went silent or away).
FAILURES = (BenchError, WorkerError)


# ---------------------------------------------------------------- environment


def log(msg):
    print(msg, file=sys.stderr, flush=True)


build_dir = paths.build_dir


def find_binaries():
    """Paths of vboxmem-vm, the test guest and qemu-system-x86_64; raises BenchError."""
    vmm = paths.worker_binary()
    guest = paths.guest_image()
    for path in (vmm, guest, paths.protocol_table()):
        if not os.path.isfile(path):
            raise BenchError(
                f"{path} not found: run `meson setup build && ninja -C build` in {REPO} "
                "or set VBOXMEM_BUILD_DIR to a build directory"
            )
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise BenchError("qemu-system-x86_64 not found on PATH (Debian: qemu-system-x86)")
    reason = kvm.kvm_unusable_reason()
    if reason:
        raise BenchError(reason)
    if os.geteuid() == 0:
        reason = users.service_user_missing_reason()
        if reason:
            raise BenchError(reason)
    return vmm, guest, qemu


def qemu_version(qemu):
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def source_revision():
    """The checkout's commit, and whether the tree has changes, for the report header."""
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev or 'unknown'}{' with local changes' if dirty else ''}"


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt_ratio(x):
    if x != x:  # NaN
        return "n/a"
    return f"{x:.3g}x" if x >= 0.01 else f"{x:.2g}x"


# ---------------------------------------------------------------- processes

_live = []  # every VM started and not yet closed
_tmp = None


def tmpdir():
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="vboxmem-bench-")
    return _tmp


def cleanup(keep_logs=False):
    """Kills every VM still running and removes the scratch directory (or, after a
    failure, keeps it for its console and stderr logs)."""
    global _tmp
    for vm in list(_live):
        vm.close()
    if _tmp is not None:
        if keep_logs:
            log(f"bench: console and stderr logs kept in {_tmp}")
        else:
            shutil.rmtree(_tmp, ignore_errors=True)
        _tmp = None


def install_signal_handlers():
    """SIGINT raises KeyboardInterrupt, SIGTERM/SIGHUP SystemExit, so the callers' finally
    blocks clean up (also when SIGINT was ignored, as in a background job)."""

    def handler(signum, frame):
        log(f"bench: {signal.Signals(signum).name}: stopping the VMs")
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


class Console:
    """Reads a VMM's serial console from a pipe, timestamping each complete line."""

    def __init__(self, fd, tee_path):
        self.fd = fd
        self.lines = []  # (time.monotonic(), text)
        self.cond = threading.Condition()
        self.eof = False
        self.tee = open(tee_path, "wb")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = b""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            now = time.monotonic()
            if not data:
                break
            self.tee.write(data)
            buf += data
            *done, buf = buf.split(b"\n")
            if done:
                with self.cond:
                    for line in done:
                        self.lines.append((now, line.decode("utf-8", "replace").rstrip("\r")))
                    self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()
        self.tee.close()
        os.close(self.fd)

    def find(self, regex, start=0):
        """(index, time, match) of the first line from `start` matching, or None."""
        with self.cond:
            for i in range(start, len(self.lines)):
                m = regex.search(self.lines[i][1])
                if m:
                    return i, self.lines[i][0], m
        return None

    def wait(self, regex, timeout, start=0, alive=None):
        """Waits for a matching line; returns (index, time, match) or None on timeout/EOF."""
        if isinstance(regex, str):
            regex = re.compile(regex)
        deadline = time.monotonic() + timeout
        pos = start
        while True:
            with self.cond:
                for i in range(pos, len(self.lines)):
                    m = regex.search(self.lines[i][1])
                    if m:
                        return i, self.lines[i][0], m
                pos = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return None
                self.cond.wait(min(left, 0.5))
            if alive is not None and not alive():
                # Let the reader drain what the process wrote before it died.
                self.thread.join(1.0)

    def tail(self, n=8):
        with self.cond:
            return [t for _, t in self.lines[-n:]]


class Vm:
    """One VMM process running the test guest; subclasses build the command line."""

    kind = "vm"

    def __init__(self, name, memory_mib):
        self.name = name
        self.memory_mib = memory_mib
        self.proc = None
        self.console = None
        self.t_start = None
        self.dir = os.path.join(tmpdir(), name)
        os.makedirs(self.dir, exist_ok=True)
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.console_path = os.path.join(self.dir, "console.log")

    def argv(self):
        raise NotImplementedError

    def spawn(self, argv, **popen_args):
        """Starts the process (subprocess.Popen)."""
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, **popen_args)

    def start(self):
        argv = self.argv()
        rfd, wfd = os.pipe()
        err = open(self.stderr_path, "wb")
        self.t_start = time.monotonic()
        try:
            self.proc = self.spawn(argv, stdout=wfd, stderr=err, close_fds=True)
        except OSError as e:
            os.close(rfd)
            raise BenchError(f"cannot start {argv[0]}: {e}") from None
        finally:
            os.close(wfd)
            err.close()
        _live.append(self)
        self.console = Console(rfd, self.console_path)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def describe_failure(self, what):
        lines = [f"{self.label()}: {what}"]
        if self.proc is not None and self.console is not None and self.console.eof:
            try:
                self.proc.wait(2)  # its console closed: it is exiting
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.poll() is not None:
            lines.append(f"  process exited with status {self.proc.returncode}")
        tail = self.console.tail() if self.console else []
        if tail:
            lines.append("  console (last lines):")
            lines += ["    " + t for t in tail]
        try:
            with open(self.stderr_path, errors="replace") as f:
                err = [l.rstrip() for l in f.readlines()[-6:] if "CPUID" not in l]
        except OSError:
            err = []
        if err:
            lines.append("  stderr (last lines):")
            lines += ["    " + t for t in err]
        return "\n".join(lines)

    def wait_marker(self, regex, timeout, start=0, what=None):
        """(index, seconds since process start, match); raises BenchError on timeout.
        `what` names the awaited event ("the guest's ready marker")."""
        r = self.console.wait(regex, timeout, start, alive=self.alive)
        if r is None:
            pat = regex if isinstance(regex, str) else regex.pattern
            what = what or f"a console line matching '{pat}'"
            self.console.thread.join(1.0)
            if self.console.eof or not self.alive():
                raise BenchError(self.describe_failure(f"the VMM stopped before {what}"))
            raise BenchError(self.describe_failure(f"no {what} within {timeout:g} s"))
        i, t, m = r
        return i, t - self.t_start, m

    def wait_ready(self, timeout):
        return self.wait_marker(READY_RE, timeout, what="the guest's ready marker")

    def label(self):
        return self.kind

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self in _live:
            _live.remove(self)
        if self.console is not None:
            self.console.thread.join(2.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- memory of the VMM process

    def rss_kib(self):
        try:
            return procfs.rss_kib(self.pid)
        except OSError:
            raise BenchError(f"no VmRSS for pid {self.pid}") from None

    def cpu_s(self):
        return procfs.cpu_seconds(self.pid)

    def smaps(self):
        return procfs.smaps(self.pid)

    def overhead(self):
        """Memory beside guest RAM, from smaps: dict of KiB figures."""
        vmas = self.smaps()
        ram = procfs.guest_ram_vmas(vmas, self.ram_bytes())
        if not ram:
            raise BenchError(f"no anonymous mapping of {self.ram_bytes() // MIB} MiB: cannot "
                             "find guest RAM")
        keys = ("Rss", "Pss", "Private_Dirty", "Anonymous")
        total = {k: sum(v.get(k, 0) for v in vmas) for k in keys}
        guest = {k: sum(v.get(k, 0) for v in ram) for k in keys}
        return {
            "rss_total": total["Rss"],
            "guest_rss": guest["Rss"],
            "overhead_rss": total["Rss"] - guest["Rss"],
            "overhead_pss": total["Pss"] - guest["Pss"],
            "overhead_private_dirty": total["Private_Dirty"] - guest["Private_Dirty"],
            "overhead_anon": total["Anonymous"] - guest["Anonymous"],
            "overhead_file": (total["Rss"] - guest["Rss"]) - (total["Anonymous"] - guest["Anonymous"]),
            "guest_vmas": [(v["range"], v["size"] // KIB) for v in ram],
        }

    def ram_bytes(self):
        return self.memory_mib * MIB


class VboxmemVm(Vm):
    """vboxmem-vm; with CONTROL on a control socket pair (--control-fd), as vboxmemd
    runs it: its HELLO is sent at once (the worker waits for it before it creates its
    VM), and worker() gives the controller's end (vboxmem_harness.worker.WorkerControl)."""

    kind = "vboxmem-vm"

    def __init__(self, name, memory_mib, cmdline, vmm, guest, control=False, extra=()):
        super().__init__(name, memory_mib)
        self.vmm = vmm
        self.guest = guest
        self.cmdline = cmdline
        self.control = control
        self.extra = list(extra)
        self._worker = None
        self._ready = False

    def argv(self):
        return worker_argv(self.vmm, kernel=self.guest, memory_mib=self.memory_mib,
                           cmdline=self.cmdline, console_log="-", args=self.extra)

    def spawn(self, argv, **popen_args):
        proc, self._worker = spawn(argv, control=self.control, label=self.name, **popen_args)
        return proc

    def worker(self, timeout=10.0):
        """The control channel, once the worker is READY."""
        if self._worker is None:
            raise BenchError(f"{self.name} runs without a control channel")
        if not self._ready:
            try:
                self._worker.wait_ready(timeout)
            except WorkerError as e:
                raise BenchError(self.describe_failure(f"the worker did not get ready: "
                                                       f"{str(e).splitlines()[0]}")) from None
            self._ready = True
        return self._worker

    def close(self):
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        super().close()


class QemuVm(Vm):
    kind = "qemu"

    def __init__(self, name, memory_mib, append, qemu, guest, accel, qmp=False, firmware=None):
        super().__init__(name, memory_mib)
        self.qemu = qemu
        self.guest = guest
        self.append = append
        self.accel = accel
        self.firmware = firmware if firmware is not None else (QBOOT if os.path.exists(QBOOT) else "")
        self.qmp_path = os.path.join(self.dir, "qmp.sock") if qmp else None
        self._qmp = None

    def argv(self):
        # The i440fx PC with qboot is the fastest QEMU machine that has the legacy PCI
        # configuration ports the test guest uses (microvm has no PCI on 0xCF8).
        a = [self.qemu, "-accel", self.accel, "-M", "pc", "-m", str(self.memory_mib),
             "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
             "-kernel", self.guest, "-append", self.append,
             "-serial", "stdio", "-device", "virtio-balloon-pci,id=balloon0"]
        if self.firmware:
            a += ["-bios", self.firmware]
        if self.qmp_path:
            a += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        return a

    def label(self):
        return f"qemu ({self.accel})"

    def qmp(self, timeout=10.0):
        if self._qmp is None:
            deadline = time.monotonic() + timeout
            while not os.path.exists(self.qmp_path):
                if not self.alive() or time.monotonic() > deadline:
                    raise BenchError(self.describe_failure("the QMP socket did not appear"))
                time.sleep(0.005)
            self._qmp = Qmp(self.qmp_path, timeout=timeout, error=BenchError)
        return self._qmp

    def close(self):
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        super().close()


# ---------------------------------------------------------------- QEMU accelerator choice


_accel_cache = {}


def qemu_accel(key, make_vm, marker, bound_s, what):
    """choose_qemu_accel(), remembered per key for the rest of this run."""
    if key not in _accel_cache:
        log(f"  probing QEMU -accel kvm ({what}, bound {bound_s:g} s) ...")
        _accel_cache[key] = choose_qemu_accel(make_vm, marker, bound_s, what)
        log(f"  {_accel_cache[key][2]}")
    return _accel_cache[key]


def choose_qemu_accel(make_vm, marker, bound_s, what):
    """Starts one QEMU with -accel kvm; if `marker` appears within bound_s, returns
    ("kvm", seconds-to-marker, note), otherwise ("tcg", None, note). make_vm(accel)
    builds an unstarted QemuVm."""
    vm = make_vm("kvm")
    try:
        vm.start()
        r = vm.console.wait(marker, bound_s, alive=vm.alive)
        if r is not None:
            return "kvm", r[1] - vm.t_start, f"QEMU -accel kvm reached {what} in {r[1] - vm.t_start:.2f} s"
        if not vm.alive():
            raise BenchError(vm.describe_failure(f"QEMU -accel kvm exited before {what}"))
        return "tcg", None, (f"QEMU -accel kvm did not reach {what} within {bound_s:g} s (nested "
                             "PVM runs the PVH entry's ring-0 code ~5000x slower): using -accel tcg")
    finally:
        vm.close()


# ---------------------------------------------------------------- output


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)),
           "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def bench_main(run_fn, argv=None):
    """Entry point for running one bench module directly."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=None, help="repetitions per side")
    args = p.parse_args(argv)
    install_signal_handlers()
    failed = False
    try:
        res = run_fn(reps=args.reps) if args.reps else run_fn()
        print(res["report"])
        return 0
    except FAILURES as e:
        failed = True
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        cleanup(keep_logs=failed)
