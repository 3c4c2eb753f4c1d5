"""The handle a job's function receives (``ctx``), and the manager's bookkeeping per live job."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, JobCancelled
from .job_model import PROGRESS_MIN_INTERVAL_S

if TYPE_CHECKING:
    from .jobs import JobManager


class JobContext:
    """What a job's function receives as ``ctx``: report progress, notice cancellation."""

    def __init__(self, manager: JobManager, job_id: str, cancel_event: threading.Event) -> None:
        self.job_id = job_id
        self._manager = manager
        self._cancel_event = cancel_event
        self._lock = threading.Lock()  # guards the fields below
        self._write_lock = threading.Lock()  # keeps progress writes in order
        self._done = 0
        self._total: int | None = None
        self._fraction = 0.0
        self._message = ""
        self._dirty = False
        self._last_write = 0.0
        self._closed = False

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """Report ``done`` of ``total`` units (total kept from the last call when None) and a status line.

        Cheap to call in a tight loop: the store is written at most ~5 times a second, and the latest
        report is always written (by the housekeeping thread, or when the job ends).
        """
        if isinstance(done, bool) or not isinstance(done, (int, float)) or done < 0:
            raise InvalidInputError(f"job progress 'done' must be a number >= 0, got {done!r}", field="done")
        if total is not None and (isinstance(total, bool) or not isinstance(total, (int, float)) or total <= 0):
            raise InvalidInputError(f"job progress 'total' must be a number > 0, got {total!r}", field="total")
        with self._lock:
            self._done = int(done)
            if total is not None:
                self._total = int(total)
                self._fraction = min(float(done) / float(total), 1.0)
            elif self._total:
                self._fraction = min(float(done) / self._total, 1.0)
            if message:
                self._message = message
            self._dirty = True
            due = time.monotonic() - self._last_write >= PROGRESS_MIN_INTERVAL_S
        if due:
            self.flush()

    @property
    def cancelled(self) -> bool:
        """True once someone asked to cancel this job (from this process or another)."""
        return self._cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled; call it between units of work."""
        if self._cancel_event.is_set():
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def flush(self) -> None:
        """Write the latest progress report to the store, if it has not been written yet."""
        with self._write_lock:
            with self._lock:
                if not self._dirty or self._closed:
                    return
                values = self._snapshot()
                self._dirty = False
                self._last_write = time.monotonic()
            self._manager._write_progress(self.job_id, values)

    def close(self) -> dict[str, Any]:
        """Stop further writes and return the latest report, for the job's final row."""
        with self._write_lock, self._lock:
            self._closed = True
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {"done": self._done, "total": self._total, "progress": self._fraction, "message": self._message}


class LiveJob:
    """This manager's bookkeeping for a job it owns and has not finished."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cancel_event = threading.Event()
        self.finished = threading.Event()
        self.future: Future | None = None
        self.ctx: JobContext | None = None
