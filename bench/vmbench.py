"""Shared helpers for the vboxmem benchmarks (bench/).

Starts vboxmem-vm and QEMU with the project's ring-3 test guest, reads the guest's
`vboxmem-guest: ...` markers from the serial console with the time each arrived,
drives the balloon (the worker's D-Bus interface, QEMU's QMP), and reads the VMM
process's memory from /proc. Every process started here is registered and killed
by cleanup(), which the entry points call from a finally block.

Stdlib only, plus PyGObject (Gio) for the worker's D-Bus interface when it can be
imported; without it the `gdbus` tool is used.
"""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MIB = 1 << 20
KIB = 1 << 10
GUEST_MARKER = "vboxmem-guest: "
READY_RE = re.compile(r"vboxmem-guest: ready ms=(\d+)")
WORKER_PATH = "/org/vboxmem/VBoxMem1/Worker"
WORKER_IFACE = "org.vboxmem.VBoxMem1.Worker"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QBOOT = "/usr/share/qemu/qboot.rom"

# How long QEMU under KVM may take to reach a marker before TCG is used instead.
# KVM here is nested PVM: the PVH entry runs the test guest in ring 0, which PVM
# emulates (~5000x slower than ring 3), see shared/FACTS.md.
KVM_READY_BOUND_S = 20.0


class BenchError(Exception):
    """A benchmark could not run (a VM did not boot, a tool is missing)."""


# ---------------------------------------------------------------- environment


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build_dir():
    return os.environ.get("VBOXMEM_BUILD_DIR") or os.path.join(REPO, "build")


def find_binaries():
    """Paths of vboxmem-vm, the test guest and qemu-system-x86_64; raises BenchError."""
    bd = build_dir()
    vmm = os.path.join(bd, "service", "vmm", "vboxmem-vm")
    guest = os.path.join(bd, "guest", "vboxmem-test-guest")
    for path in (vmm, guest):
        if not os.path.isfile(path):
            raise BenchError(
                f"{path} not found: run `meson setup build && ninja -C build` in {REPO} "
                "or set VBOXMEM_BUILD_DIR to a build directory"
            )
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise BenchError("qemu-system-x86_64 not found on PATH (Debian: qemu-system-x86)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise BenchError("/dev/kvm is not accessible")
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("vboxmem")
        except KeyError:
            raise BenchError(
                "vboxmem-vm started as root drops to the user 'vboxmem', which does not exist: "
                "useradd --system --no-create-home --shell /usr/sbin/nologin --user-group vboxmem"
            ) from None
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
        os.chmod(_tmp, 0o755)  # the worker drops to user vboxmem after creating its socket
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

    def start(self):
        argv = self.argv()
        rfd, wfd = os.pipe()
        err = open(self.stderr_path, "wb")
        self.t_start = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=wfd, stderr=err, close_fds=True
            )
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
        return read_rss_kib(self.pid)

    def cpu_s(self):
        return read_cpu_s(self.pid)

    def smaps(self):
        return read_smaps(self.pid)

    def overhead(self):
        """Memory beside guest RAM, from smaps: dict of KiB figures."""
        vmas = self.smaps()
        ram = guest_ram_vmas(vmas, self.ram_bytes())
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
    kind = "vboxmem-vm"

    def __init__(self, name, memory_mib, cmdline, vmm, guest, control=False, extra=()):
        super().__init__(name, memory_mib)
        self.vmm = vmm
        self.guest = guest
        self.cmdline = cmdline
        self.control_path = os.path.join(self.dir, "worker.sock") if control else None
        self.extra = list(extra)
        self._worker = None

    def argv(self):
        a = [self.vmm, "--kernel", self.guest, "--memory", str(self.memory_mib),
             "--cmdline", self.cmdline, "--console-log", "-"]
        if self.control_path:
            a += ["--control-socket", self.control_path]
        return a + self.extra

    def worker(self, timeout=10.0):
        if self._worker is None:
            deadline = time.monotonic() + timeout
            while not os.path.exists(self.control_path):
                if not self.alive() or time.monotonic() > deadline:
                    raise BenchError(self.describe_failure("the control socket did not appear"))
                time.sleep(0.005)
            self._worker = WorkerClient(self.control_path, timeout=max(1.0, deadline - time.monotonic()))
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
            self._qmp = Qmp(self.qmp_path, timeout=timeout)
        return self._qmp

    def close(self):
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        super().close()


# ---------------------------------------------------------------- /proc


def read_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def read_cpu_s(pid):
    """User and system CPU seconds of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


_VMA_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) (\S+) (\S+) (\d+)\s*(.*)$")


def read_smaps(pid):
    vmas = []
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = _VMA_RE.match(line)
            if m:
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                cur = {"range": f"{m.group(1)}-{m.group(2)}", "size": end - start,
                       "perms": m.group(3), "inode": int(m.group(6)), "path": m.group(7).strip()}
                vmas.append(cur)
                continue
            k, _, v = line.partition(":")
            v = v.split()
            if cur is not None and len(v) == 2 and v[1] == "kB":
                cur[k] = int(v[0])
    return vmas


def guest_ram_vmas(vmas, ram_bytes):
    """The guest-RAM mapping: the anonymous mapping of exactly the VM's size (or, if a
    VMM padded it, the smallest anonymous mapping at least that big)."""
    anon = [v for v in vmas if v["inode"] == 0 and not v["path"] and "rw" in v["perms"]]
    exact = [v for v in anon if v["size"] == ram_bytes]
    if exact:
        return exact[:1]
    bigger = sorted((v for v in anon if v["size"] >= ram_bytes), key=lambda v: v["size"])
    if bigger:
        return bigger[:1]
    raise BenchError(f"no anonymous mapping of {ram_bytes // MIB} MiB: cannot find guest RAM")


# ---------------------------------------------------------------- control channels


class Qmp:
    """A minimal QMP client over a unix socket."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise BenchError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise BenchError(f"QMP {cmd}: {r['error'].get('desc', r['error'])}")
            # an asynchronous event: skip it

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class WorkerClient:
    """The worker's org.vboxmem.VBoxMem1.Worker interface on its private socket."""

    def __init__(self, path, timeout=10.0):
        self.address = f"unix:path={path}"
        self.conn = None
        try:
            import gi

            gi.require_version("Gio", "2.0")
            from gi.repository import Gio, GLib

            self.Gio, self.GLib = Gio, GLib
        except (ImportError, ValueError):
            self.Gio = None
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.Gio is not None:
                    self.conn = self.Gio.DBusConnection.new_for_address_sync(
                        self.address, self.Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)
                else:
                    self.get("State")  # gdbus: checks that the worker answers
                return
            except Exception as e:  # the worker may not be listening yet
                if time.monotonic() > deadline:
                    raise BenchError(f"cannot connect to the worker at {path}: {e}") from None
                time.sleep(0.01)

    def call(self, iface, method, signature=None, args=()):
        if self.Gio is not None:
            params = self.GLib.Variant(signature, tuple(args)) if signature else None
            return self.conn.call_sync(None, WORKER_PATH, iface, method, params, None,
                                       self.Gio.DBusCallFlags.NONE, 10000, None)
        cmd = ["gdbus", "call", "--address", self.address, "--dest", "org.vboxmem.Worker",
               "--object-path", WORKER_PATH,
               "--method", f"{iface}.{method}"] + [str(a) for a in args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        if out.returncode:
            raise BenchError(f"gdbus {method}: {out.stderr.strip()}")
        return out.stdout

    def set_balloon_target(self, nbytes):
        self.call(WORKER_IFACE, "SetBalloonTarget", "(t)", (nbytes,))

    def get(self, prop):
        r = self.call("org.freedesktop.DBus.Properties", "Get", "(ss)", (WORKER_IFACE, prop))
        if self.Gio is not None:
            return r.unpack()[0]
        m = re.search(r"<(?:uint64 |int64 )?'?([^'>]*)'?>", r)
        v = m.group(1) if m else r.strip()
        return int(v) if v.lstrip("-").isdigit() else v

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close_sync(None)
            except Exception:
                pass
            self.conn = None


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
    except BenchError as e:
        failed = True
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        cleanup(keep_logs=failed)
