"""One control group per sandboxed run: the kernel's own bound on memory (tmpfs pages included) and
process count, and a kill switch that reaches every process of the run.

Which hierarchies are used is found once per process from ``/proc/self/cgroup`` and
``/proc/self/mountinfo``: the cgroup v2 hierarchy for ``cgroup.kill`` (and ``memory.max``/``pids.max``
where those controllers are enabled for our group), else the v1 ``memory`` and ``pids`` hierarchies.
A group is created under the one this process already lives in, so limits set by whoever started
skyplex still apply above it. When nothing is writable (an unprivileged user without delegation) the
run has no cgroup; the PID-namespace kill in the runner still ends every process, and the limits fall
back to rlimits and size-limited tmpfs mounts (see docs/sandbox.md).
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

_GROUP_PREFIX = "skyplex-sandbox-"


@dataclass(frozen=True)
class _Layout:
    """Writable cgroup folders (our own group in each hierarchy) found on this host."""

    v2: str | None = None
    v2_controllers: tuple[str, ...] = ()  # what a child group of ours may use
    v1: dict[str, str] = field(default_factory=dict)  # controller -> our folder in its hierarchy


@lru_cache(maxsize=1)
def _layout() -> _Layout:
    try:
        own = open("/proc/self/cgroup").read().splitlines()
        mounts = open("/proc/self/mountinfo").read().splitlines()
    except OSError:
        return _Layout()
    v2_mount, v1_mounts = None, {}
    for line in mounts:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or len(rparts) < 3:
            continue
        fstype, options = rparts[0], rparts[2].split(",")
        if fstype == "cgroup2" and v2_mount is None:
            v2_mount = parts[4]
        elif fstype == "cgroup":
            for ctl in ("memory", "pids"):
                if ctl in options:
                    v1_mounts[ctl] = parts[4]
    v2, v1 = None, {}
    for line in own:
        hid, ctls, path = (line.split(":", 2) + ["", ""])[:3]
        if hid == "0" and ctls == "" and v2_mount:
            # the kill switch is only in non-root groups: look for it in a probe child
            v2 = _usable(os.path.join(v2_mount, path.lstrip("/")), needs="cgroup.kill")
        for ctl in ctls.split(","):
            if ctl in v1_mounts:
                folder = _usable(os.path.join(v1_mounts[ctl], path.lstrip("/")))
                if folder:
                    v1[ctl] = folder
    v2_ctls: tuple[str, ...] = ()
    if v2 is not None:
        v2_ctls = tuple(_read(os.path.join(v2, "cgroup.subtree_control")).split())
        if not {"memory", "pids"} & set(v2_ctls) and v1:
            # a v2 group without controllers would only add a kill switch, and joining each hierarchy
            # costs the run several milliseconds; the PID-namespace kill already ends every process
            v2 = None
    return _Layout(v2, v2_ctls, v1)


def _usable(folder: str, needs: str | None = None) -> str | None:
    """``folder`` if a group can be made in it (and has the file ``needs``: kernels before 5.14 have
    no cgroup.kill, and v1 groups then still bound the run)."""
    probe = os.path.join(folder, f"{_GROUP_PREFIX}probe-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        os.mkdir(probe)
    except OSError:
        return None
    try:
        ok = needs is None or os.path.exists(os.path.join(probe, needs))
    finally:
        os.rmdir(probe)
    return folder if ok else None


def available() -> bool:
    """Whether runs here get a cgroup of their own."""
    lay = _layout()
    return bool(lay.v2 or lay.v1)


class RunGroup:
    """The control groups of one run; the run's first process joins them before it execs anything
    (see :meth:`wrap`)."""

    def __init__(self, memory_bytes: int, processes: int) -> None:
        lay = _layout()
        name = f"{_GROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.folders: list[str] = []
        self.v2: str | None = None
        self.memory_limited = False
        self.pids_limited = False
        try:
            if lay.v2:
                self.v2 = self._make(os.path.join(lay.v2, name))
                ctls = _read(os.path.join(self.v2, "cgroup.controllers")).split()
                if "memory" in ctls:
                    self.memory_limited = _write(os.path.join(self.v2, "memory.max"), str(memory_bytes))
                    _write(os.path.join(self.v2, "memory.swap.max"), "0")
                if "pids" in ctls:
                    self.pids_limited = _write(os.path.join(self.v2, "pids.max"), str(processes))
            if not self.memory_limited and "memory" in lay.v1:  # only when v2 could not
                folder = self._make(os.path.join(lay.v1["memory"], name))
                self.memory_limited = _write(os.path.join(folder, "memory.limit_in_bytes"), str(memory_bytes))
                _write(os.path.join(folder, "memory.memsw.limit_in_bytes"), str(memory_bytes))
                _write(os.path.join(folder, "memory.swappiness"), "0")
            if not self.pids_limited and "pids" in lay.v1:
                folder = self._make(os.path.join(lay.v1["pids"], name))
                self.pids_limited = _write(os.path.join(folder, "pids.max"), str(processes))
        except OSError:
            self.close()
            raise

    def _make(self, folder: str) -> str:
        os.mkdir(folder)
        self.folders.append(folder)
        return folder

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` started by a shell that first moves itself into every group of the run, so that
        nothing of the run ever lives outside them (a fork-free alternative to a Python preexec_fn,
        which would force a full fork of this process for every run)."""
        moves = " && ".join(f"echo 0 > {shlex.quote(os.path.join(f, 'cgroup.procs'))}" for f in self.folders)
        return ["/bin/sh", "-c", f'{moves} || exit 125; exec "$@"', "skyplex-sandbox", *argv]

    def memory_events(self) -> int:
        """How many times the kernel killed a process of the run for memory (0 when unknown)."""
        for folder in self.folders:
            for fname, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                for line in _read(os.path.join(folder, fname)).splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
                        if int(parts[1]):
                            return int(parts[1])
        return 0

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process still in the run's groups and wait until they are gone. True when empty."""
        if self.v2:
            _write(os.path.join(self.v2, "cgroup.kill"), "1")
        deadline = time.monotonic() + timeout
        while True:
            left = set()
            for folder in self.folders:
                left.update(int(p) for p in _read(os.path.join(folder, "cgroup.procs")).split() if p.isdigit())
            if not left:
                return True
            if time.monotonic() > deadline:
                return False
            if not self.v2:  # v1 has no kill switch: pids listed in the group are the run's own
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.005)

    def close(self) -> None:
        """Kill what is left and remove the groups."""
        if self.folders:
            self.kill_all()
        for folder in reversed(self.folders):
            for _ in range(200):
                try:
                    os.rmdir(folder)
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.005)
        self.folders = []


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w") as fh:
            fh.write(value)
        return True
    except OSError:
        return False
