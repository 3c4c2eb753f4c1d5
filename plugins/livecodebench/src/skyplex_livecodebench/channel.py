"""The host's end of the grading harness's live channel: stop a program's tests at the first failure.

Expected outputs never enter the sandbox, so the harness cannot tell a wrong answer from a right one
and would run every test of a program that already failed its first (one such program in the
re-grade benchmark burns 6 s of CPU on a test whose verdict no longer matters). With a channel, the
harness sends each stdin test's record as soon as it has it; this side compares it with the expected
output and answers ``skip <job>`` when the test fails, and the harness then ends that job.

The channel only ever saves time. Verdicts are still read from the harness's stdout after the run;
a job the harness skipped without a failing test there is graded again without a channel (see
:func:`skyplex_livecodebench.grader.grade_batch`). The FIFOs are made by the harness before any
program runs and unlinked once both ends are held; this side opens only FIFOs (never following a
link, never blocking) and bounds what it buffers.
"""

from __future__ import annotations

import errno
import json
import os
import select
import stat
import threading
from pathlib import Path
from typing import Callable

#: FIFO names, as the harness makes them in the workspace
TO_HOST, TO_HARNESS = "lcb-to-host", "lcb-to-harness"
#: a record longer than this (a 16 MB output cap is about 22 MB of base64) ends the channel
MAX_LINE = 64 << 20

Judge = Callable[[int, dict], bool]


class LiveChannel:
    """Serve one sandbox run's channel in a thread: ``judge(job, record)`` says whether a stdin test's
    record fails its test; the jobs answered ``skip`` are in :attr:`skipped`. Use as a context manager
    around the run."""

    def __init__(self, workspace: Path, judge: Judge) -> None:
        self._ws, self._judge = Path(workspace), judge
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="skyplex-lcb-channel", daemon=True)
        self.skipped: set[int] = set()
        self.opened = False

    def __enter__(self) -> "LiveChannel":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # the run is over, so the harness is dead and its end of the FIFO closed: the reader sees EOF
        self._done.set()
        self._thread.join(timeout=10)

    def _open(self) -> tuple[int, int] | None:
        """Both ends, once the harness has made the FIFOs and opened its own; None when the run ends first."""
        to_harness = to_host = None
        while not self._done.wait(0.002):
            try:
                if to_harness is None:
                    to_harness = _open_fifo(self._ws / TO_HARNESS, os.O_WRONLY)  # ENXIO until the harness reads
                to_host = _open_fifo(self._ws / TO_HOST, os.O_RDONLY)
            except FileNotFoundError:
                continue  # not made yet
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    continue
                break  # not a FIFO, or anything else unexpected: no channel
            try:
                os.write(to_harness, b"hello\n")
            except OSError:
                break
            return to_host, to_harness
        for fd in (to_harness, to_host):
            if fd is not None:
                os.close(fd)
        return None

    def _serve(self) -> None:
        ends = self._open()
        if ends is None:
            return
        self.opened = True
        to_host, to_harness = ends
        buf = bytearray()
        try:
            while True:
                if not select.select([to_host], [], [], 0.05)[0]:
                    if self._done.is_set():
                        return
                    continue
                chunk = os.read(to_host, 1 << 16)
                if not chunk:
                    return
                buf += chunk
                while (cut := buf.find(b"\n")) >= 0:
                    line = bytes(buf[:cut])
                    del buf[:cut + 1]
                    self._answer(line, to_harness)
                if len(buf) > MAX_LINE:
                    return
        except OSError:
            return
        finally:
            os.close(to_host)
            os.close(to_harness)

    def _answer(self, line: bytes, to_harness: int) -> None:
        try:
            rec = json.loads(line)
            job = rec["job"]
        except (ValueError, KeyError, TypeError):
            return
        if not isinstance(job, int) or job in self.skipped:
            return
        try:
            fails = self._judge(job, rec)
        except Exception:  # a record the judge cannot read is no reason to stop: the stdout decides
            return
        if fails:
            self.skipped.add(job)
            try:
                os.write(to_harness, f"skip {job}\n".encode())
            except OSError:
                pass  # the harness is not reading (it is ending): the job simply runs on


def _open_fifo(path: Path, mode: int) -> int:
    fd = os.open(path, mode | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{path.name} is not a FIFO")
    return fd
