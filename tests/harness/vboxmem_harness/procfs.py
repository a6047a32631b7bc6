"""Readers of /proc: what a process uses and what it is doing."""

import os
import re


def status(pid):
    """/proc/PID/status as {field: value}; {} once the process is gone. PID may be
    'PID/task/TID' for a thread."""
    fields = {}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields[key] = value.strip()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return fields


def kib_field(fields, name):
    """A `NNN kB` field of status() in bytes."""
    value, unit = fields[name].split()
    assert unit == 'kB', fields[name]
    return int(value) * 1024


def rss(pid):
    """VmRSS of PID in bytes; 0 once it is gone."""
    fields = status(pid)
    return kib_field(fields, 'VmRSS') if 'VmRSS' in fields else 0


def rss_kib(pid):
    """VmRSS of PID in KiB; OSError once it is gone."""
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise ProcessLookupError(f'no VmRSS for pid {pid}')


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state is [0])."""
    with open(f'/proc/{pid}/stat') as f:
        return f.read().rsplit(')', 1)[1].split()


def cpu_seconds(pid):
    """(user, system) CPU seconds of a process (all its threads) so far."""
    fields = _stat_fields(pid)
    tick = os.sysconf('SC_CLK_TCK')
    return int(fields[11]) / tick, int(fields[12]) / tick


def parent_pid(pid):
    try:
        return int(_stat_fields(pid)[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid):
    """True unless PID is gone or a zombie."""
    try:
        return _stat_fields(pid)[0] != 'Z'
    except (FileNotFoundError, ProcessLookupError):
        return False


def argv(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return [arg.decode(errors='replace') for arg in f.read().split(b'\0')[:-1]]
    except (FileNotFoundError, ProcessLookupError):
        return []


def children(pid):
    """The pids whose parent is PID."""
    kids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                if int(_stat_fields(entry)[1]) == pid:
                    kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def threads_report(pid):
    """What a process that does not end is doing: its threads and children."""
    lines = []
    try:
        tasks = sorted(os.listdir(f'/proc/{pid}/task'), key=int)
    except FileNotFoundError:
        tasks = []
    for task in tasks:
        fields = status(f'{pid}/task/{task}')
        try:
            with open(f'/proc/{pid}/task/{task}/wchan') as f:
                wchan = f.read().strip()
        except OSError:
            wchan = '?'
        lines.append(f'  thread {task} {fields.get("Name")} {fields.get("State")} '
                     f'wchan={wchan}')
    for child in children(pid):
        fields = status(child)
        lines.append(f'  child {child} {fields.get("Name")} {fields.get("State")}')
        if fields.get('State', '').startswith('Z'):
            lines.append("  (under ASan, a zombie child is LeakSanitizer's tracer: the "
                         'seccomp filter killed it)')
    return '--- threads ---\n' + '\n'.join(lines) + '\n'


_VMA_RE = re.compile(r'^([0-9a-f]+)-([0-9a-f]+) (\S+) (\S+) (\S+) (\d+)\s*(.*)$')


def smaps(pid):
    """/proc/PID/smaps: one dict per mapping, range, size (bytes), perms, inode, path
    and its `kB` figures (Rss, Pss, ...) in KiB."""
    vmas = []
    current = None
    with open(f'/proc/{pid}/smaps') as f:
        for line in f:
            m = _VMA_RE.match(line)
            if m:
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                current = {'range': f'{m.group(1)}-{m.group(2)}', 'size': end - start,
                           'perms': m.group(3), 'inode': int(m.group(6)),
                           'path': m.group(7).strip()}
                vmas.append(current)
                continue
            key, _, value = line.partition(':')
            value = value.split()
            if current is not None and len(value) == 2 and value[1] == 'kB':
                current[key] = int(value[0])
    return vmas


def guest_ram_vmas(vmas, ram_bytes):
    """The guest-RAM mapping among smaps() VMAS: the anonymous mapping of exactly the
    VM's size (or, if a VMM padded it, the smallest anonymous mapping at least that
    big); [] if there is none."""
    anon = [v for v in vmas if v['inode'] == 0 and not v['path'] and 'rw' in v['perms']]
    exact = [v for v in anon if v['size'] == ram_bytes]
    if exact:
        return exact[:1]
    return sorted((v for v in anon if v['size'] >= ram_bytes), key=lambda v: v['size'])[:1]


def host_memory_total():
    """MemTotal of /proc/meminfo, in bytes."""
    with open('/proc/meminfo') as meminfo:
        for line in meminfo:
            if line.startswith('MemTotal:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no MemTotal in /proc/meminfo')
