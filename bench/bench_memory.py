#!/usr/bin/python3
"""VMM memory overhead beside guest RAM, vboxmem-vm vs QEMU.

A 512 MiB guest (the test guest, no workload) boots, reaches its ready marker and
idles for IDLE_S seconds. Then, from /proc/PID/smaps of the VMM process:

    overhead = (sum of Rss over all mappings) - (Rss of the guest-RAM mapping)

The guest-RAM mapping is the anonymous mapping of exactly the VM's size (vboxmem-vm's
guest RAM; QEMU's `pc.ram` RAM block). The Rss figure counts shared-library pages in
full, as `ps` does; the Pss, anonymous and private-dirty parts are printed beside it.
Both VMMs have their control channel connected, as when managed: the worker's control
socket pair (--control-fd, after HELLO and READY) and QEMU's QMP socket (a client
connected).
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmbench as vb  # noqa: E402

MEMORY_MIB = 512
CMDLINE = "console=ttyS0"
IDLE_S = 2.0
REPS = 3
GOAL = 1 / 20


def _measure(vm, bound):
    with vm:
        vm.start()
        vm.wait_ready(bound)
        # As when managed (vboxmemd / libvirt): the control channel is connected.
        if isinstance(vm, vb.VboxmemVm):
            vm.worker().query_state()
        else:
            vm.qmp().execute("query-balloon")
        time.sleep(IDLE_S)
        if not vm.alive():
            raise vb.BenchError(vm.describe_failure("the VM stopped while idle"))
        return vm.overhead()


def run(reps=REPS):
    vmm, guest, qemu = vb.find_binaries()
    vb.log(f"memory: {reps} runs each, {MEMORY_MIB} MiB guest, {IDLE_S:g} s idle after ready")

    def mk_qemu(accel, i):
        return vb.QemuVm(f"mem-qemu-{accel}-{i}", MEMORY_MIB, CMDLINE, qemu, guest, accel,
                         qmp=True)

    def mk_ours(i):
        return vb.VboxmemVm(f"mem-vboxmem-{i}", MEMORY_MIB, CMDLINE, vmm, guest, control=True)

    ours, theirs = [_measure(mk_ours(0), 10)], []  # ours first: a broken build fails fast
    accel, _, note = vb.qemu_accel("ready", lambda a: mk_qemu(a, "probe"), vb.READY_RE,
                                   vb.KVM_READY_BOUND_S, "the test guest's ready marker")
    for i in range(reps):
        if i:
            ours.append(_measure(mk_ours(i), 10))
        theirs.append(_measure(mk_qemu(accel, i), 60))
        vb.log(f"  run {i + 1}/{reps}: vboxmem-vm {ours[-1]['overhead_rss'] / 1024:.2f} MiB, "
               f"qemu/{accel} {theirs[-1]['overhead_rss'] / 1024:.2f} MiB "
               f"(guest RAM mappings {ours[-1]['guest_vmas']} / {theirs[-1]['guest_vmas']})")

    def med(runs, key):
        return vb.median([r[key] for r in runs]) / 1024  # MiB

    keys = [("overhead_rss", "Rss - guest Rss (the measure)"),
            ("overhead_pss", "Pss - guest Pss"),
            ("overhead_anon", "anonymous, beside guest RAM"),
            ("overhead_file", "file-backed (binary, libraries)"),
            ("overhead_private_dirty", "private dirty, beside guest RAM"),
            ("rss_total", "total Rss (incl. guest RAM)"),
            ("guest_rss", "guest-RAM mapping Rss")]
    rows = []
    for k, label in keys:
        o, t = med(ours, k), med(theirs, k)
        rows.append([label, f"{o:.2f}", f"{t:.2f}", vb.fmt_ratio(o / t if t else float("nan"))])
    o, t = med(ours, "overhead_rss"), med(theirs, "overhead_rss")
    ratio = o / t
    ok = "yes" if ratio <= GOAL else "NO"
    report = (
        f"memory: VMM overhead beside guest RAM, {MEMORY_MIB} MiB guest, idle {IDLE_S:g} s after "
        f"ready, median of {reps}\n  {note}\n"
        + vb.table(rows, ["MiB", "vboxmem-vm", f"qemu ({accel})", "ours/theirs"])
        + f"\n  goal <= 0.05x on Rss - guest Rss: {vb.fmt_ratio(ratio)} -> {ok}\n"
    )
    summary = [{"bench": "VMM memory overhead", "peer": f"QEMU {accel}",
                "ours": f"{o:.2f} MiB", "theirs": f"{t:.2f} MiB",
                "ratio": vb.fmt_ratio(ratio), "goal": "<= 0.05x", "met": ok}]
    return {"report": report, "summary": summary, "raw": {"ours": ours, "theirs": theirs},
            "accel": accel}


if __name__ == "__main__":
    sys.exit(vb.bench_main(run))
