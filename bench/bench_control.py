#!/usr/bin/python3
"""Control plane: round trip of balloon and metrics calls, vboxmemd vs QEMU's QMP.

vboxmemd side: VMS machines of VM_MIB MiB run the idle test guest (empty script), all
started through vboxmemd on a private system bus (tools/with-system-bus: dbus-daemon,
the real polkitd, vboxmemd from the build directory). From one client connection
(Gio, /usr/bin/python3) the bench times, call by call:

    Balloon.SetTarget(size, {})   round-robin over the VMS machines, each machine's
                                  target alternating between 0 and BALLOON_MIB MiB, so
                                  every call changes a target (the figure with the goal)
    Balloon.SetTarget, same size  round-robin, each machine's current target again
    Manager.QueryMetrics([], [])  every metric of the host and all machines
    org.freedesktop.DBus.Peer.Ping to vboxmemd   (baseline: bus + daemon, no work)
    polkit CheckAuthorization of org.vboxmem.machine.control for this connection
                                  (diagnostic: vboxmemd makes this check per SetTarget;
                                  timed after the rest)

Peer: one QEMU running the same idle test guest (VM_MIB MiB, virtio-balloon-pci, QMP
on a unix socket, -accel kvm if the guest reaches its ready marker under KVM within
vmbench.KVM_READY_BOUND_S, else tcg), timed from one QMP connection:

    balloon value=...   alternating between VM_MIB and VM_MIB - BALLOON_MIB MiB kept
    balloon value=...   the current value again
    query-balloon
    query-status        (baseline: QMP's minimal round trip)

A round trip is time.perf_counter() around one synchronous call: building the
message, sending it, waiting for the reply and parsing it (into a GVariant, or QMP's
JSON), but not unpacking a GVariant into Python objects (Daemon.call). The calls run in blocks of
BLOCK per kind, the kinds and sides alternating block by block, so load from other
processes hits both sides alike; WARMUP unmeasured calls of each kind come first.
Afterwards every Balloon.Target must be the size asked last, and all balloons are sent
to BALLOON_MIB once more to check, bounded, that the guests follow.

Not already under a system bus (DBUS_SYSTEM_BUS_ADDRESS and VBOXMEMD_PID unset), run()
re-executes this file under tools/with-system-bus --pool-mib POOL_MIB and takes the
results back through a JSON file.
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmbench as vb  # noqa: E402

VMS = 10
VM_MIB = 64
BALLOON_MIB = 8
CMDLINE = "console=ttyS0"  # no vboxmem.script: the test guest idles after ready
REPS = 6  # blocks of BLOCK measured calls per kind
BLOCK = 50
WARMUP = 20
POOL_MIB = 1024  # for VMS * VM_MIB
GOAL_SET_TARGET_MS = 5.0
IDLE_CPU_S = 1.0

START_BOUND_S = 30.0  # Start of all machines to every guest's ready marker
QEMU_BOUND_S = 60.0
SETTLE_BOUND_S = 15.0  # the balloons reaching the last target after the measurement
CALL_TIMEOUT_MS = 15000
CHILD_BOUND_S = 170.0  # the whole bench under tools/with-system-bus

WITH_SYSTEM_BUS = vb.paths.WITH_SYSTEM_BUS
PYTHON = vb.paths.PYTHON_GI  # the system's, which has PyGObject


def under_bus():
    return bool(os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") and os.environ.get("VBOXMEMD_PID"))


def pct(values, p):
    """Nearest-rank percentile (p99 of 300 calls: the 297th smallest)."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)] if s else float("nan")


# ---------------------------------------------------------------- vboxmemd side


def _daemon():
    """A Daemon: imported here, since it needs PyGObject, which only the child run under
    tools/with-system-bus (/usr/bin/python3) has to have."""
    from vboxmem_harness import daemon as dbus

    class Daemon(dbus.Client):
        """One private Gio connection to the system bus, calling vboxmemd synchronously.
        The timed calls take the reply as a GVariant, not unpacked into Python objects
        (PyGObject's unpack() of QueryMetrics' 64-entry reply alone takes ~0.85 ms here,
        a cost of this client, not of the round trip)."""

        def __init__(self):
            super().__init__(private=True, timeout_ms=CALL_TIMEOUT_MS)
            self.GLib = dbus.GLib

        def call_raw(self, dest, path, iface, method, params, unpack=True):
            try:
                return super().call_raw(dest, path, iface, method, params, unpack)
            except dbus.DBusError as e:
                raise vb.BenchError(f"vboxmemd {iface.rsplit('.', 1)[-1]}.{method}: {e.name}: "
                                    f"{e.message}") from None

        def create(self, name):
            return self.create_machine(name, MemorySize=VM_MIB * vb.MIB, CommandLine=CMDLINE)

        def console(self, path, nbytes=4096):
            return self.read_console_log(path, nbytes)

        # The timed calls.

        def set_target(self, path, nbytes):
            self.set_balloon_target(path, nbytes, unpack=False)

        def query_metrics(self):
            """The number of values returned."""
            return super().query_metrics(unpack=False).get_child_value(0).n_children()

        def ping(self):
            super().ping(unpack=False)

        def polkit_check(self):
            """The polkit check vboxmemd makes for each SetTarget, made by this client."""
            GLib = self.GLib
            subject = ("system-bus-name",
                       {"name": GLib.Variant("s", self.connection.get_unique_name())})
            params = GLib.Variant("((sa{sv})sa{ss}us)", (
                subject, "org.vboxmem.machine.control", {"machine": "bench"}, 0, ""))
            try:
                reply = dbus.Client.call_raw(self, "org.freedesktop.PolicyKit1",
                                             "/org/freedesktop/PolicyKit1/Authority",
                                             "org.freedesktop.PolicyKit1.Authority",
                                             "CheckAuthorization", params, unpack=False)
            except dbus.DBusError as e:
                raise vb.BenchError(f"polkit CheckAuthorization: {e.message}") from None
            if not reply.get_child_value(0).get_child_value(0).get_boolean():
                raise vb.BenchError("polkit does not authorize org.vboxmem.machine.control "
                                    "for root")

    return Daemon()


def _start_machines(d, names, machines):
    """Creates and starts the machines (appending to `machines` as they are created, for
    the caller's cleanup) and waits for every guest's ready marker; BenchError if one
    does not get there."""
    for name in names:
        path = d.create(name)
        machines.append(path)
        try:
            d.machine_method(path, "Start")
        except vb.BenchError as e:
            raise vb.BenchError(f"VM {name} (vboxmemd) failed to start: {e}") from None
    deadline = time.monotonic() + START_BOUND_S
    waiting = dict(zip(machines, names))
    while waiting:
        for path, name in list(waiting.items()):
            log = d.console(path)
            if vb.READY_RE.search(log):
                del waiting[path]
                continue
            state = d.state(path)
            if state not in ("starting", "running"):
                raise vb.BenchError(_machine_failure(
                    name, f"it is {state} before the guest's ready marker", log))
        if not waiting:
            break
        if time.monotonic() > deadline:
            path, name = next(iter(waiting.items()))
            raise vb.BenchError(_machine_failure(
                name, f"no guest ready marker within {START_BOUND_S:g} s "
                f"({len(waiting)} of {len(names)} machines not ready)", d.console(path)))
        time.sleep(0.05)


def _machine_failure(name, what, log):
    lines = [f"VM {name} (vboxmemd) failed to start: {what}"]
    tail = [l for l in log.splitlines() if l.strip()][-8:]
    if tail:
        lines.append("  console (last lines):")
        lines += ["    " + l for l in tail]
    lines.append("  (tools/with-system-bus prints the last lines of vboxmemd's log)")
    return "\n".join(lines)


def _stop_machines(d, machines):
    """Powers off and unregisters every machine; logs what fails, raises nothing."""
    for path in machines:
        try:
            if d.state(path) not in ("powered-off", "aborted"):
                d.machine_method(path, "PowerOff")
            d.machine_method(path, "Unregister")
        except Exception as e:  # noqa: BLE001 - cleanup goes on with the others
            vb.log(f"  cleanup of {path}: {e}")


# ---------------------------------------------------------------- QEMU side


def _start_qemu(qemu, guest):
    """A running QEMU with QMP connected; -accel kvm if the guest gets ready under it
    within the bound, else tcg. Returns (vm, accel, note)."""
    def mk(accel):
        return vb.QemuVm(f"control-qemu-{accel}", VM_MIB, CMDLINE, qemu, guest, accel, qmp=True)

    vm = mk("kvm").start()
    r = vm.console.wait(vb.READY_RE, vb.KVM_READY_BOUND_S, alive=vm.alive)
    if r is not None:
        note = f"QEMU -accel kvm reached the test guest's ready marker in {r[1] - vm.t_start:.2f} s"
        accel = "kvm"
    else:
        if not vm.alive():
            raise vb.BenchError(vm.describe_failure("QEMU -accel kvm exited before the ready marker"))
        vm.close()
        note = (f"QEMU -accel kvm did not reach the ready marker within "
                f"{vb.KVM_READY_BOUND_S:g} s: using -accel tcg")
        vm = mk("tcg").start()
        vm.wait_ready(QEMU_BOUND_S)
        accel = "tcg"
    vm.qmp().execute("query-status")
    return vm, accel, note


# ---------------------------------------------------------------- measurement


def _cpu_s(pid):
    try:
        return sum(vb.procfs.cpu_seconds(pid))
    except OSError:
        return 0.0


def _idle_cpu(qemu_pid, seconds=IDLE_CPU_S):
    """CPU use, in % of one CPU, while no call is made: (vboxmemd + its workers, QEMU)."""
    daemon = int(os.environ.get("VBOXMEMD_PID") or 0)
    ours = [daemon] + vb.procfs.children(daemon) if daemon else []
    o0, q0 = sum(map(_cpu_s, ours)), _cpu_s(qemu_pid)
    time.sleep(seconds)
    o1, q1 = sum(map(_cpu_s, ours)), _cpu_s(qemu_pid)
    return (o1 - o0) / seconds * 100, (q1 - q0) / seconds * 100


def _time(fn, n, out):
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)


def _measure(reps):
    vmm, guest, qemu = vb.find_binaries()
    d = _daemon()
    machines = []
    qvm = None
    try:
        pool = d.pool()["MemoryAvailable"]
        if pool < VMS * VM_MIB * vb.MIB:
            raise vb.BenchError(f"vboxmemd has {pool // vb.MIB} MiB of its pool available, "
                                f"{VMS * VM_MIB} MiB are needed (tools/with-system-bus "
                                f"--pool-mib {POOL_MIB})")
        vb.log(f"control: {VMS} vboxmemd machines of {VM_MIB} MiB, one QEMU of {VM_MIB} MiB, "
               f"{reps} x {BLOCK} calls per kind and side")
        t0 = time.monotonic()
        names = [f"bench-control-{os.getpid()}-{i}" for i in range(VMS)]
        _start_machines(d, names, machines)
        vb.log(f"  {VMS} machines running, guests ready in {time.monotonic() - t0:.2f} s")
        t0 = time.monotonic()
        qvm, accel, note = _start_qemu(qemu, guest)
        vb.log(f"  {note}; QEMU ready after {time.monotonic() - t0:.2f} s")
        qmp = qvm.qmp()

        # Every SetTarget / balloon call changes the target: each machine's balloon
        # alternates between 0 and BALLOON_MIB, QEMU's guest between VM_MIB and
        # VM_MIB - BALLOON_MIB kept. The "same" calls repeat the current target.
        ours_now = {p: 0 for p in machines}
        rr = [0]

        def set_target():
            path = machines[rr[0] % VMS]
            rr[0] += 1
            ours_now[path] = BALLOON_MIB * vb.MIB - ours_now[path]
            d.set_target(path, ours_now[path])

        def set_same():
            path = machines[rr[0] % VMS]
            rr[0] += 1
            d.set_target(path, ours_now[path])

        qemu_now = [VM_MIB * vb.MIB]

        def balloon():
            qemu_now[0] = (2 * VM_MIB - BALLOON_MIB) * vb.MIB - qemu_now[0]
            qmp.execute("balloon", value=qemu_now[0])

        metrics = [0]

        def query_metrics():
            metrics[0] = d.query_metrics()

        kinds = {  # kind: (vboxmemd call, QEMU call)
            "set": (set_target, balloon),
            "same": (set_same, lambda: qmp.execute("balloon", value=qemu_now[0])),
            "query": (query_metrics, lambda: qmp.execute("query-balloon")),
            "ping": (d.ping, lambda: qmp.execute("query-status")),
        }
        res = {f"{k}_{side}": [] for k in kinds for side in ("ours", "theirs")}
        for ours, theirs in kinds.values():
            _time(ours, WARMUP, [])
            _time(theirs, WARMUP, [])
        idle = _idle_cpu(qvm.pid)
        t0 = time.monotonic()
        for b in range(reps):
            for k, (ours, theirs) in kinds.items():
                # Which side goes first alternates block by block.
                sides = [("ours", ours), ("theirs", theirs)]
                for side, fn in sides[:: 1 if b % 2 == 0 else -1]:
                    _time(fn, BLOCK, res[f"{k}_{side}"])
            vb.log(f"  block {b + 1}/{reps}: SetTarget {vb.median(res['set_ours'][-BLOCK:]) * 1e3:.2f} ms,"
                   f" balloon {vb.median(res['set_theirs'][-BLOCK:]) * 1e3:.2f} ms, QueryMetrics "
                   f"{vb.median(res['query_ours'][-BLOCK:]) * 1e3:.2f} ms, query-balloon "
                   f"{vb.median(res['query_theirs'][-BLOCK:]) * 1e3:.2f} ms")
        measured_s = time.monotonic() - t0
        # Diagnostic, after the measurement, so that polkitd's extra work cannot touch
        # the measured calls (interleaved, the SetTarget blocks after it looked ~0.5 ms
        # slower in a few runs, about the run-to-run noise).
        res["polkit_ours"] = []
        _time(d.polkit_check, WARMUP, [])
        _time(d.polkit_check, reps * BLOCK, res["polkit_ours"])

        settle = _check_settled(d, machines, ours_now, qmp)
        res.update(accel=accel, note=note, metrics=metrics[0], settle=settle, idle=idle,
                   measured_s=measured_s, reps=reps, load=os.getloadavg())
        return res
    finally:
        if qvm is not None:
            qvm.close()
        _stop_machines(d, machines)
        d.close()


def _check_settled(d, machines, now, qmp):
    """Checks that the measured calls took effect (every Balloon.Target is the last size
    asked), then asks every balloon for BALLOON_MIB once more (untimed) and waits,
    bounded, until the guests have reached it; returns a line for the report."""
    for path in machines:
        target = d.balloon(path)[0]
        if target != now[path]:
            raise vb.BenchError(f"{path}: Balloon.Target is {target}, not the {now[path]} "
                                "asked last")
    want, qwant = BALLOON_MIB * vb.MIB, (VM_MIB - BALLOON_MIB) * vb.MIB
    t0 = time.monotonic()
    for path in machines:
        d.set_target(path, want)
    qmp.execute("balloon", value=qwant)
    pending, t_ours, t_qemu = list(machines), None, None
    while t_ours is None or t_qemu is None:
        pending = [p for p in pending if d.balloon(p)[1] != want]
        t = time.monotonic() - t0
        if t_ours is None and not pending:
            t_ours = t
        if t_qemu is None and qmp.execute("query-balloon")["actual"] == qwant:
            t_qemu = t
        if t > SETTLE_BOUND_S:
            break
        time.sleep(0.02)
    def fmt(t, what):
        return f"{t * 1000:.0f} ms" if t is not None else f"NOT within {SETTLE_BOUND_S:g} s ({what})"
    return (f"balloons check: after the measurement, all {len(machines)} machines' Balloon.Actual "
            f"reached {BALLOON_MIB} MiB in {fmt(t_ours, f'{len(pending)} not')}, QEMU's "
            f"query-balloon actual {VM_MIB - BALLOON_MIB} MiB in {fmt(t_qemu, 'not')}")


def _report(res):
    accel, reps = res["accel"], res["reps"]
    n = len(res["set_ours"])
    ms = lambda v: (vb.median(v) * 1e3, pct(v, 99) * 1e3)  # noqa: E731
    rows, summary = [], []
    specs = (
        ("set", "Balloon.SetTarget", "QMP balloon", True),
        ("same", "Balloon.SetTarget, same target", "QMP balloon, same value", False),
        ("query", f"Manager.QueryMetrics ({res['metrics']} values)", "QMP query-balloon", False),
        ("ping", "Peer.Ping (baseline)", "QMP query-status (baseline)", False),
    )
    for k, ours_name, theirs_name, goal in specs:
        (om, op), (tm, tp) = ms(res[f"{k}_ours"]), ms(res[f"{k}_theirs"])
        met = ("yes" if om < GOAL_SET_TARGET_MS else "NO") if goal else ""
        rows.append([ours_name, f"{om:.3f}", f"{op:.3f}", theirs_name, f"{tm:.3f}", f"{tp:.3f}",
                     vb.fmt_ratio(om / tm), vb.fmt_ratio(op / tp),
                     f"< {GOAL_SET_TARGET_MS:g} ms: {met}" if goal else ""])
        if k in ("set", "query"):
            summary.append({"bench": f"{ours_name.split(' (')[0]} round trip, {VMS} VMs",
                            "peer": f"QEMU {accel}, {theirs_name}",
                            "ours": f"{om:.2f} ms (p99 {op:.2f})",
                            "theirs": f"{tm:.3f} ms (p99 {tp:.3f})",
                            "ratio": vb.fmt_ratio(om / tm),
                            "goal": f"median < {GOAL_SET_TARGET_MS:g} ms" if goal else "-",
                            "met": met or "-"})
    pm, pp = ms(res["polkit_ours"])
    report = (
        f"control: round trip of one call from one client connection, median and p99 of {n} "
        f"calls each ({reps} blocks of {BLOCK})\n"
        f"  vboxmemd: {VMS} running machines of {VM_MIB} MiB (idle test guest), system bus "
        f"(dbus-daemon), Gio call_sync, replies not unpacked into Python objects\n"
        f"  QEMU: one running VM of {VM_MIB} MiB (same idle guest), -accel {accel}, QMP on a "
        f"unix socket\n  {res['note']}\n"
        + vb.table(rows, ["vboxmemd call", "median ms", "p99 ms", "QEMU call", "median ms",
                          "p99 ms", "ratio med", "ratio p99", "goal (median)"])
        + f"\n  SetTarget: round-robin over the {VMS} machines, each alternating 0 / {BALLOON_MIB} "
        f"MiB, so the guests move their balloons meanwhile; balloon: alternating {VM_MIB} / "
        f"{VM_MIB - BALLOON_MIB} MiB kept; \"same\": the current target again"
        f"\n  polkit CheckAuthorization of org.vboxmem.machine.control for this client (vboxmemd "
        f"makes one per SetTarget), timed after the rest: {pm:.3f} ms median, {pp:.3f} ms p99"
        f"\n  CPU while idle: vboxmemd and its {VMS} workers {res['idle'][0]:.0f}% of one CPU, "
        f"QEMU {res['idle'][1]:.0f}% (the test guest busy-polls without vboxmem-vm's idle port)"
        f"\n  {res['settle']}"
        f"\n  measured calls took {res['measured_s']:.1f} s; load average at the end "
        f"{res['load'][0]:.2f}\n"
    )
    return {"report": report, "summary": summary, "raw": res, "accel": accel}


# ---------------------------------------------------------------- entry points


def _run_under_bus(reps):
    """Re-executes this file under tools/with-system-bus; returns its result."""
    vb.find_binaries()  # clear errors before starting a bus
    daemon = os.path.join(vb.build_dir(), "service", "vboxmemd")
    if not os.access(daemon, os.X_OK):
        raise vb.BenchError(f"{daemon} is not built: `ninja -C {vb.build_dir()}`")
    if not os.access(PYTHON, os.X_OK):
        raise vb.BenchError(f"{PYTHON} not found (the system's Python, with PyGObject)")
    scratch = tempfile.mkdtemp(prefix="vboxmem-bench-control-")
    try:
        return _run_child(reps, os.path.join(scratch, "result.json"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_child(reps, result):
    argv = [WITH_SYSTEM_BUS, "--build-dir", vb.build_dir(), "--pool-mib", str(POOL_MIB), "--",
            PYTHON, os.path.abspath(__file__), "--reps", str(reps), "--result", result]
    vb.log(f"  starting a private system bus: {WITH_SYSTEM_BUS} --pool-mib {POOL_MIB}")
    # Its stdout (and ours in the child) goes to stderr: stdout is for reports.
    # Its own session: a terminal's Ctrl-C reaches only us, and the finally below stops it.
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(),
                            start_new_session=True)
    try:
        try:
            status = proc.wait(CHILD_BOUND_S)
        except subprocess.TimeoutExpired:
            raise vb.BenchError(f"the control benchmark did not finish within {CHILD_BOUND_S:g} s") \
                from None
    finally:
        if proc.poll() is None:
            proc.terminate()  # with-system-bus stops the bench, vboxmemd, polkitd, the bus
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its session: the bus, polkitd, vboxmemd
                proc.wait(5)
    try:
        with open(result) as f:
            out = json.load(f)
    except (OSError, ValueError):
        out = {}
    if "error" in out:
        raise vb.BenchError(out["error"])
    if status == 77:
        raise vb.BenchError("tools/with-system-bus needs root")
    if status != 0 or "report" not in out:
        raise vb.BenchError(f"the control benchmark under tools/with-system-bus exited with "
                            f"status {status} (its messages are above)")
    return out


def run(reps=REPS):
    if under_bus():
        return _report(_measure(reps))
    return _run_under_bus(reps)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=REPS, help=f"blocks of {BLOCK} calls per kind and side")
    p.add_argument("--result", help=argparse.SUPPRESS)  # set by run() for the re-executed child
    args = p.parse_args()
    if args.reps < 1:
        p.error("--reps must be at least 1")
    vb.install_signal_handlers()
    failed = False
    try:
        res = run(args.reps)
        if args.result:
            with open(args.result, "w") as f:
                json.dump({k: res[k] for k in ("report", "summary", "accel")}, f)
        else:
            print(res["report"], flush=True)
        return 0
    except vb.FAILURES as e:
        failed = True
        if args.result:
            with open(args.result, "w") as f:
                json.dump({"error": str(e)}, f)
        else:
            print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        vb.cleanup(keep_logs=failed)


if __name__ == "__main__":
    sys.exit(main())
