"""The host-side end of a run: the PID namespace's init, held as a pidfd and killed from outside."""

from __future__ import annotations

import json
import os
import select
import signal
import time


class NamespaceInit:
    """The host-side handle on the PID namespace's init. Killing it from outside (SIGKILL from an
    ancestor namespace cannot be blocked) makes the kernel kill every process in the namespace."""

    def __init__(self, info_r: int) -> None:
        self._info_r: int | None = info_r
        self._pidfd: int | None = None

    def start(self, bwrap_pid: int) -> None:
        """Read bubblewrap's ``child-pid`` and hold a pidfd on it (the pid cannot be reused while held)."""
        data = b""
        deadline = time.monotonic() + 10
        try:
            while b"}" not in data and time.monotonic() < deadline:
                ready, _, _ = select.select([self._info_r], [], [], 0.5)
                if not ready:
                    continue
                chunk = os.read(self._info_r, 4096)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(self._info_r)
            self._info_r = None
        try:
            pid = int(json.loads(data.decode())["child-pid"])
        except (ValueError, KeyError):
            return  # bubblewrap failed before making the namespace: nothing runs in it
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return  # already gone, and with it the namespace
        # only ours if it is still bubblewrap's child: a pid reused after a very early exit is not
        if _parent_of(pid) != bwrap_pid:
            os.close(fd)
            return
        self._pidfd = fd

    def kill(self) -> None:
        """SIGKILL the init and wait until it is gone (the kernel reaps the namespace before that)."""
        if self._info_r is not None:  # never started (bubblewrap could not be launched)
            os.close(self._info_r)
            self._info_r = None
        if self._pidfd is None:
            return
        try:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except OSError:
            pass
        select.select([self._pidfd], [], [], 5)
        os.close(self._pidfd)
        self._pidfd = None


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
