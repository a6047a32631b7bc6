#!/usr/bin/python3
"""Balloon inflate: MiB/s of guest memory actually returned to the host.

A 2048 MiB test guest runs `alloc:1900M:seed=1,free:all`: it writes 1900 MiB and frees
it, so those pages are resident on the host but free in the guest. Then the balloon is
set so that the guest keeps 512 MiB:

    vboxmem-vm: SET_BALLOON_TARGET 1536 MiB  (the size taken from the guest)
    QEMU:       QMP balloon value=512 MiB    (the size the guest keeps)

and the VMM process's VmRSS (/proc/PID/status) is sampled every SAMPLE_S seconds until
the guest prints `balloon actual=393216 pages` and the RSS has not moved for
STABLE_S. The rate is

    (RSS before - RSS converged) / (time of the first sample within 1% of the converged
    RSS - time the request was sent)

The test guest hands out pages it has written first, highest first, in batches of 256
PFNs sorted ascending, the same way under both VMMs.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmbench as vb  # noqa: E402

MEMORY_MIB = 2048
DIRTY_MIB = 1900
KEEP_MIB = 512
BALLOON_MIB = MEMORY_MIB - KEEP_MIB
SCRIPT = f"vboxmem.script=alloc:{DIRTY_MIB}M:seed=1,free:all"
DONE_RE = re.compile(r"vboxmem-guest: script done failures=(\d+)")
ACTUAL_RE = re.compile(r"vboxmem-guest: balloon (actual=(\d+) pages|stalled.*|error.*)")
ALLOC_RE = re.compile(r"vboxmem-guest: alloc \d+ MiB done .* ms=(\d+)")
TARGET_PAGES = BALLOON_MIB * vb.MIB // 4096
REPS = 5
SETTLE_S = 0.5
SAMPLE_S = 0.002
STABLE_S = 0.3
STABLE_KIB = 1024
WORKLOAD_BOUND_S = 120.0
INFLATE_BOUND_S = 60.0
GOAL = 2.0


def _measure(vm, request, check):
    """Boots vm, waits for the workload, inflates; returns a dict of figures."""
    with vm:
        vm.start()
        idx, t_done, m = vm.wait_marker(DONE_RE, WORKLOAD_BOUND_S,
                                        what="the end of the guest's workload")
        if int(m.group(1)):
            raise vb.BenchError(vm.describe_failure("the guest's workload failed"))
        alloc = vm.console.find(ALLOC_RE)
        # Connect the control channel now, not inside the timed window (the worker's
        # is connected from its start: its READY came before its guest booted).
        if isinstance(vm, vb.VboxmemVm):
            vm.worker().query_state()
        else:
            vm.qmp().execute("query-status")
        time.sleep(SETTLE_S)
        rss0 = vm.rss_kib()
        cpu0 = vm.cpu_s()
        t0 = time.monotonic()
        request(vm)
        samples = [(time.monotonic() - t0, vm.rss_kib())]
        t_marker = None
        ref_t, ref_rss = samples[0]  # the last time the RSS moved by STABLE_KIB or more
        while True:
            time.sleep(SAMPLE_S)
            t, rss = time.monotonic() - t0, vm.rss_kib()
            samples.append((t, rss))
            if abs(rss - ref_rss) >= STABLE_KIB:
                ref_t, ref_rss = t, rss
            if t_marker is None:
                r = vm.console.find(ACTUAL_RE, idx)
                if r is not None:
                    if not r[2].group(2) or int(r[2].group(2)) != TARGET_PAGES:
                        raise vb.BenchError(vm.describe_failure(
                            f"the balloon did not reach its target: {r[2].group(0)}"))
                    t_marker = r[1] - t0
            if t_marker is not None and t - ref_t >= STABLE_S:
                break
            if t > INFLATE_BOUND_S:
                raise vb.BenchError(vm.describe_failure(
                    f"the balloon did not converge within {INFLATE_BOUND_S:g} s "
                    f"(RSS {rss0 // 1024} -> {rss // 1024} MiB)"))
            if not vm.alive():
                raise vb.BenchError(vm.describe_failure("the VM stopped while inflating"))
        cpu1 = vm.cpu_s()
        final = samples[-1][1]
        returned = rss0 - final
        near = final + max(STABLE_KIB, returned // 100)
        t_end = next(t for t, r in samples if r <= near)
        actual = check(vm)
        return {"rss0_mib": rss0 / 1024, "final_mib": final / 1024, "returned_mib": returned / 1024,
                "seconds": t_end, "rate": returned / 1024 / t_end if t_end > 0 else float("nan"),
                "t_marker": t_marker, "actual": actual, "workload_s": t_done,
                "samples": len(samples), "alloc_ms": int(alloc[2].group(1)) if alloc else float("nan"),
                "cpu_user_ms": (cpu1[0] - cpu0[0]) * 1000, "cpu_sys_ms": (cpu1[1] - cpu0[1]) * 1000}


def _vboxmem_request(vm):
    vm.worker().set_balloon_target(BALLOON_MIB * vb.MIB)


def _vboxmem_check(vm):
    got = vm.worker().query_state()["BALLOON"]["actual"]
    if got != BALLOON_MIB * vb.MIB:
        raise vb.BenchError(f"vboxmem-vm: balloon actual is {got}, not {BALLOON_MIB * vb.MIB}")
    return f"balloon actual={got // vb.MIB} MiB"


def _qemu_request(vm):
    vm.qmp().execute("balloon", value=KEEP_MIB * vb.MIB)


def _qemu_check(vm):
    got = vm.qmp().execute("query-balloon")["actual"]
    if got != KEEP_MIB * vb.MIB:
        raise vb.BenchError(f"QEMU: query-balloon actual is {got}, not {KEEP_MIB * vb.MIB}")
    return f"query-balloon actual={got // vb.MIB} MiB"


def run(reps=REPS):
    vmm, guest, qemu = vb.find_binaries()
    vb.log(f"balloon: {reps} runs each, {MEMORY_MIB} MiB guest, {DIRTY_MIB} MiB dirtied and freed, "
           f"inflate to leave {KEEP_MIB} MiB")

    def mk_qemu(accel, i):
        return vb.QemuVm(f"balloon-qemu-{accel}-{i}", MEMORY_MIB, SCRIPT, qemu, guest, accel,
                         qmp=True)

    def mk_ours(i):
        return vb.VboxmemVm(f"balloon-vboxmem-{i}", MEMORY_MIB, SCRIPT, vmm, guest, control=True)

    # The workload, not only the ready marker, must run under KVM: the PVH entry keeps
    # the guest in ring 0, which nested PVM emulates.
    ours, theirs = [_measure(mk_ours(0), _vboxmem_request, _vboxmem_check)], []  # fail fast
    accel, _, note = vb.qemu_accel("workload", lambda a: mk_qemu(a, "probe"), DONE_RE,
                                   vb.KVM_READY_BOUND_S, f"the end of the {DIRTY_MIB} MiB workload")
    for i in range(reps):
        if i:
            ours.append(_measure(mk_ours(i), _vboxmem_request, _vboxmem_check))
        theirs.append(_measure(mk_qemu(accel, i), _qemu_request, _qemu_check))
        o, t = ours[-1], theirs[-1]
        vb.log(f"  run {i + 1}/{reps}: vboxmem-vm {o['returned_mib']:.0f} MiB in {o['seconds']:.3f} s "
               f"= {o['rate']:.0f} MiB/s; qemu/{accel} {t['returned_mib']:.0f} MiB in "
               f"{t['seconds']:.3f} s = {t['rate']:.0f} MiB/s")

    def med(runs, key):
        return vb.median([r[key] for r in runs])

    rows = []
    for name, runs in (("vboxmem-vm", ours), (f"qemu -accel {accel}", theirs)):
        rows.append([name, f"{med(runs, 'rate'):.0f}", f"{med(runs, 'returned_mib'):.0f}",
                     f"{med(runs, 'seconds') * 1000:.0f}", f"{med(runs, 't_marker') * 1000:.0f}",
                     f"{med(runs, 'rss0_mib'):.0f} -> {med(runs, 'final_mib'):.0f}",
                     f"{med(runs, 'cpu_user_ms'):.0f}+{med(runs, 'cpu_sys_ms'):.0f}",
                     f"{med(runs, 'alloc_ms') / 1000:.1f}"])
    o, t = med(ours, "rate"), med(theirs, "rate")
    ratio = o / t
    paired = vb.median([a["rate"] / b["rate"] for a, b in zip(ours, theirs)])
    ok = "yes" if ratio >= GOAL else "NO"
    report = (
        f"balloon: inflate {MEMORY_MIB} MiB guest to keep {KEEP_MIB} MiB after dirtying "
        f"{DIRTY_MIB} MiB, median of {reps}\n  {note}\n"
        + vb.table(rows, ["VMM", "MiB/s", "MiB returned", "ms to converge", "ms to guest marker",
                          "RSS MiB", "VMM CPU ms usr+sys", "guest alloc s"])
        + f"\n  goal >= 2x QEMU: {vb.fmt_ratio(ratio)} -> {ok} (median of per-run ratios: "
        f"{vb.fmt_ratio(paired)})"
        + "\n  VMM CPU: the VMM process's CPU time from the request to convergence (vCPU threads"
        "\n  included, so under TCG it includes emulating the guest's balloon driver);"
        "\n  guest alloc s: the guest's time to write the 1900 MiB (host page faults included)\n"
    )
    summary = [{"bench": "balloon inflate rate", "peer": f"QEMU {accel}",
                "ours": f"{o:.0f} MiB/s", "theirs": f"{t:.0f} MiB/s",
                "ratio": vb.fmt_ratio(ratio), "goal": ">= 2x", "met": ok}]
    return {"report": report, "summary": summary, "raw": {"ours": ours, "theirs": theirs},
            "accel": accel}


if __name__ == "__main__":
    sys.exit(vb.bench_main(run))
