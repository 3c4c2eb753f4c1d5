"""Long work as jobs: persisted rows with status, progress, result and error, run on a worker pool.

``JobManager.submit(fn, name=...)`` stores a queued job and runs ``fn(ctx, **params)`` on a worker
thread; ``ctx.progress(...)`` and ``ctx.check_cancelled()`` connect the function to the job's row.
Every state change is written to the store, so ``watch``/``wait`` work from any process (the gateway's
SSE stream, the CLI's progress bars) and a job whose process died is marked failed, never left running.

The pieces live beside this module: ``job_model`` (the ``Job`` row and statuses), ``job_context``
(``ctx`` for job functions) and ``job_liveness`` (owner liveness, heartbeats, orphan recovery); their
public names are importable from here.
"""

from __future__ import annotations

import builtins
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from .errors import ConflictError, InvalidInputError, JobCancelled, NotFoundError, SkyplexError
from .job_context import JobContext, LiveJob
from .job_liveness import cancel_requests, forget_instance, heartbeat, orphan_error, register_instance
from .job_model import (
    CANCEL_POLL_S,
    FINAL_STATUSES,
    HEARTBEAT_S,
    LIVE_STATUSES,
    PROGRESS_MIN_INTERVAL_S,
    RECOVERY_S,
    STALE_AFTER_S,
    STATUSES,
    Job,
    JobStatus,
)
from .store import Store, utcnow
from .store import jobs as jobs_table
from .store.jsonvalue import to_json_value

__all__ = [
    "CANCEL_POLL_S",
    "FINAL_STATUSES",
    "HEARTBEAT_S",
    "LIVE_STATUSES",
    "PROGRESS_MIN_INTERVAL_S",
    "RECOVERY_S",
    "STALE_AFTER_S",
    "STATUSES",
    "Job",
    "JobContext",
    "JobManager",
    "JobStatus",
]

log = logging.getLogger(__name__)


class JobManager:
    """Runs jobs on a pool of ``workers`` threads and keeps their rows in ``store`` up to date.

    ``on_finished(job)`` is called once for every job that reaches a final state under this manager
    (including jobs it marks failed because their process died); exceptions in it are logged.
    """

    def __init__(
        self,
        store: Store,
        *,
        workers: int = 2,
        on_finished: Callable[[Job], Any] | None = None,
    ) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise InvalidInputError(f"job workers must be an integer >= 1, got {workers!r}", field="workers")
        self.store = store
        self.instance_id = uuid.uuid4().hex
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.hostname}:{self.pid}:{self.instance_id}"
        self._on_finished = on_finished
        self._live: dict[str, LiveJob] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skyplex-job")
        register_instance(self.instance_id)
        # recover now, so callers see orphaned jobs failed as soon as the manager exists; their
        # on_finished calls wait for the housekeeping thread (the caller may hold locks on_finished needs)
        self._recovered = self.recover()
        self._stop = threading.Event()
        self._housekeeper = threading.Thread(target=self._housekeeping, name="skyplex-jobs", daemon=True)
        self._housekeeper.start()

    # submitting -----------------------------------------------------------------------------------
    def submit(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        kind: str = "job",
        params: dict[str, Any] | None = None,
    ) -> Job:
        """Queue ``fn(ctx, **params)`` as a job and return it (status ``queued``).

        ``params`` are stored as JSON (pydantic models dumped) and passed to ``fn`` as given; the return
        value becomes the job's ``result`` and must be JSON data or a pydantic model.
        """
        if self._closed:
            raise SkyplexError("this job manager is shut down; submit jobs through a running kernel")
        if not callable(fn):
            raise InvalidInputError(f"job {name!r}: fn must be callable, got {type(fn).__name__}", field="fn")
        for what, value, limit in (("name", name, 200), ("kind", kind, 64)):
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise InvalidInputError(
                    f"job {what} must be a non-empty string of at most {limit} characters, got {value!r}", field=what
                )
        params = dict(params or {})
        bad = [k for k in params if not isinstance(k, str) or not k.isidentifier()]
        if bad:
            raise InvalidInputError(
                f"job {name!r}: params keys must be identifiers (keyword arguments), got {bad}", field="params"
            )
        stored = to_json_value(params, what=f"the params of job {name!r}", field="params")
        job_id = uuid.uuid4().hex
        now = utcnow()
        with self.store.begin() as conn:
            conn.execute(
                jobs_table.insert().values(
                    id=job_id,
                    kind=kind,
                    name=name,
                    status="queued",
                    progress=0.0,
                    done=0,
                    message="",
                    params=stored,
                    created_at=now,
                    owner=self.owner,
                    cancel_requested=False,
                    heartbeat_at=now,
                )
            )
        job = self.get(job_id)  # read before a worker can start it, so callers always see it queued
        live = LiveJob(name)
        with self._lock:
            self._live[job_id] = live
        live.future = self._executor.submit(self._run, job_id, fn, params, live)
        log.info("job %s (%s %r) queued", job_id, kind, name)
        return job

    # reading --------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job with id ``job_id`` as stored now; NotFoundError if there is none."""
        with self.store.connect() as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"no job with id {job_id!r}; list jobs with `skyplex jobs list`", field="job_id")
        return Job.from_row(row)

    def list(self, status: str | None = None, kind: str | None = None, limit: int = 50) -> builtins.list[Job]:
        """Jobs, newest first, optionally only those with ``status`` and/or ``kind``."""
        if status is not None and status not in STATUSES:
            raise InvalidInputError(
                f"unknown job status {status!r}; statuses are {', '.join(STATUSES)}", field="status"
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInputError(f"limit must be an integer from 1 to 10000, got {limit!r}", field="limit")
        query = select(jobs_table).order_by(jobs_table.c.created_at.desc(), jobs_table.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(jobs_table.c.status == status)
        if kind is not None:
            query = query.where(jobs_table.c.kind == kind)
        with self.store.connect() as conn:
            return [Job.from_row(row) for row in conn.execute(query)]

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is final and return it; TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            live = self._live.get(job_id)
        if live is not None:
            if not live.finished.wait(timeout):
                raise TimeoutError(f"job {job_id} did not finish within {timeout} s")
            return self.get(job_id)
        while True:  # another process's job (or one already done): poll the store
            job = self.get(job_id)
            if job.final:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} did not finish within {timeout} s (it is {job.status})")
            time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))

    def watch(self, job_id: str, interval: float = 0.2, timeout: float | None = None) -> Iterator[Job]:
        """Yield the job each time its status, progress or message changes, ending after its final state.

        It polls the store every ``interval`` seconds, so it follows jobs run by other processes too.
        TimeoutError if the job is not final after ``timeout`` seconds.
        """
        if interval <= 0:
            raise InvalidInputError(f"watch interval must be > 0 seconds, got {interval!r}", field="interval")
        deadline = None if timeout is None else time.monotonic() + timeout
        last: tuple | None = None
        while True:
            job = self.get(job_id)
            seen = (job.status, job.progress, job.done, job.total, job.message)
            if seen != last:
                last = seen
                yield job
            if job.final:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} did not finish within {timeout} s (it is {job.status})")
            with self._lock:
                live = self._live.get(job_id)
            if live is not None:
                live.finished.wait(interval)  # wakes early when the job ends here
            else:
                time.sleep(interval)

    # cancelling -----------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one is cancelled at once; a running one is flagged and ends cancelled
        when its function checks (``ctx.check_cancelled()``) or returns. Works on other processes' jobs.
        """
        job = self.get(job_id)
        if job.final:
            raise ConflictError(
                f"job {job_id} is already {job.status}; only queued or running jobs can be cancelled", field="job_id"
            )
        with self.store.begin() as conn:
            queued = conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job_id, jobs_table.c.status == "queued")
                .values(
                    status="cancelled",
                    cancel_requested=True,
                    finished_at=utcnow(),
                    message="cancelled before it started",
                )
            ).rowcount
            running = (
                0
                if queued
                else conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.id == job_id, jobs_table.c.status == "running")
                    .values(cancel_requested=True)
                ).rowcount
            )
        with self._lock:
            live = self._live.get(job_id)
        if queued:
            log.info("job %s cancelled before it started", job_id)
            # a job still waiting in our pool never runs, so finish it here; otherwise its worker
            # (here or in the owning process) finds it cancelled and finishes it
            if live is not None and live.future is not None and live.future.cancel():
                self._finished(job_id, live, self.get(job_id))
        elif running:
            log.info("job %s: cancel requested", job_id)
            if live is not None:
                live.cancel_event.set()
        else:
            job = self.get(job_id)
            raise InvalidInputError(
                f"job {job_id} is already {job.status}; only queued or running jobs can be cancelled", field="job_id"
            )
        return self.get(job_id)

    # running --------------------------------------------------------------------------------------
    def _run(self, job_id: str, fn: Callable[..., Any], params: dict[str, Any], live: LiveJob) -> None:
        job: Job | None = None
        try:
            with self.store.begin() as conn:
                started = conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.id == job_id, jobs_table.c.status == "queued")
                    .values(status="running", started_at=utcnow(), heartbeat_at=utcnow())
                ).rowcount
            if not started:  # cancelled (or failed by recovery) while it waited
                job = self.get(job_id)
                return
            ctx = JobContext(self, job_id, live.cancel_event)
            live.ctx = ctx
            outcome = self._call(job_id, live.name, fn, ctx, params)
            final = {**ctx.close(), **outcome, "finished_at": utcnow()}
            if final["status"] == "succeeded":
                final["progress"] = 1.0
            with self.store.begin() as conn:
                conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.id == job_id, jobs_table.c.status == "running")
                    .values(**final)
                )
            job = self.get(job_id)
            log.info("job %s (%r) %s", job_id, live.name, job.status)
        except Exception:
            # the store itself failed; nothing more can be recorded, but waiters must not hang
            log.exception("job %s (%r): could not record its state in %s", job_id, live.name, self.store)
        finally:
            self._finished(job_id, live, job if job is not None and job.final else None)

    def _call(
        self, job_id: str, name: str, fn: Callable[..., Any], ctx: JobContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Run the job's function; the columns that say how it ended."""
        try:
            value = fn(ctx, **params)
        except JobCancelled:
            return {"status": "cancelled", "message": "cancelled while running"}
        except Exception as exc:
            log.exception("job %s (%r) failed", job_id, name)
            return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        except BaseException as exc:  # KeyboardInterrupt/SystemExit in a worker: record it, then let it go on
            log.error("job %s (%r) interrupted by %s", job_id, name, type(exc).__name__)
            self._record_failure(job_id, f"interrupted: {type(exc).__name__}")
            raise
        if ctx.cancelled:
            return {"status": "cancelled", "message": "cancelled while running; its result was discarded"}
        try:
            result = to_json_value(value, what=f"the result of job {name!r}")
        except InvalidInputError as exc:
            return {"status": "failed", "error": f"InvalidInputError: {exc}"}
        return {"status": "succeeded", "result": result}

    def _record_failure(self, job_id: str, error: str) -> None:
        with self.store.begin() as conn:
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job_id, jobs_table.c.status.in_(LIVE_STATUSES))
                .values(status="failed", error=error, finished_at=utcnow())
            )

    def _write_progress(self, job_id: str, values: dict[str, Any]) -> None:
        with self.store.begin() as conn:
            conn.execute(
                update(jobs_table).where(jobs_table.c.id == job_id, jobs_table.c.status == "running").values(**values)
            )

    def _finished(self, job_id: str, live: LiveJob, job: Job | None) -> None:
        """Forget a job this manager owned, tell on_finished (if it ended), then wake its waiters."""
        with self._lock:
            self._live.pop(job_id, None)
            last = self._closed and not self._live
        if job is not None:
            self._notify(job)
        live.finished.set()
        if last:
            forget_instance(self.instance_id)

    def _notify(self, job: Job) -> None:
        if self._on_finished is None:
            return
        try:
            self._on_finished(job)
        except Exception:
            log.exception("on_finished raised for job %s (%r); the job itself is unaffected", job.id, job.name)

    # crash recovery -------------------------------------------------------------------------------
    def recover(self) -> builtins.list[Job]:
        """Mark failed every queued or running job whose owning process is gone; return those jobs.

        Same host: the owner's pid is not alive, or it is this process but not a manager alive here.
        Other hosts (or a pid that may have been reused): no heartbeat for STALE_AFTER_S seconds.
        """
        with self.store.connect() as conn:
            rows = conn.execute(
                select(jobs_table.c.id, jobs_table.c.owner, jobs_table.c.heartbeat_at, jobs_table.c.created_at).where(
                    jobs_table.c.status.in_(LIVE_STATUSES)
                )
            ).all()
        now = utcnow()
        recovered = []
        for row in rows:
            error = self._orphan_error(row.owner, row.heartbeat_at or row.created_at, now)
            if error is None:
                continue
            with self.store.begin() as conn:
                changed = conn.execute(
                    update(jobs_table)
                    .where(
                        jobs_table.c.id == row.id,
                        jobs_table.c.owner == row.owner,
                        jobs_table.c.status.in_(LIVE_STATUSES),
                    )
                    .values(status="failed", error=error, finished_at=now)
                ).rowcount
            if changed:  # another manager may have recovered it first
                log.warning("job %s: %s", row.id, error)
                recovered.append(self.get(row.id))
        return recovered

    def _orphan_error(self, owner: str, last_seen: datetime, now: datetime) -> str | None:
        """The error for a job whose owner is gone, or None while the owner may be alive."""
        return orphan_error(owner, last_seen, now, hostname=self.hostname, pid=self.pid)

    # housekeeping -----------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        """Background duties: trailing progress writes, cross-process cancels, heartbeats, recovery."""
        for job in self._recovered:
            self._notify(job)
        self._recovered = []
        last_cancel_poll = last_heartbeat = last_recovery = time.monotonic()
        while not self._stop.wait(PROGRESS_MIN_INTERVAL_S):
            try:
                with self._lock:
                    live = dict(self._live)
                for state in live.values():
                    if state.ctx is not None:
                        state.ctx.flush()
                now = time.monotonic()
                if live and now - last_cancel_poll >= CANCEL_POLL_S:
                    last_cancel_poll = now
                    self._poll_cancel_requests(live)
                if live and now - last_heartbeat >= HEARTBEAT_S:
                    last_heartbeat = now
                    self._heartbeat()
                if now - last_recovery >= RECOVERY_S:
                    last_recovery = now
                    for job in self.recover():
                        self._notify(job)
            except Exception:  # a database hiccup must not stop the housekeeping for good
                log.warning("job housekeeping failed; retrying", exc_info=True)

    def _poll_cancel_requests(self, live: dict[str, LiveJob]) -> None:
        for job_id in cancel_requests(self.store, self.owner):
            if job_id in live:
                live[job_id].cancel_event.set()

    def _heartbeat(self) -> None:
        heartbeat(self.store, self.owner)

    # lifecycle ------------------------------------------------------------------------------------
    def shutdown(self, wait: bool = True, *, cancel_running: bool = False) -> None:
        """Stop taking jobs. Jobs not yet started are marked failed (resubmit them later); running ones
        finish (``wait`` blocks until they have), or are asked to cancel with ``cancel_running``.
        """
        if self._closed:
            return
        self._closed = True
        with self._lock:
            live = dict(self._live)
        for job_id, state in live.items():
            if state.future is not None and state.future.cancel():
                error = "interrupted: the job manager shut down before it started; resubmit it"
                try:
                    self._record_failure(job_id, error)
                    job = self.get(job_id)
                except Exception:
                    log.exception("job %s: could not record that it was never started", job_id)
                    job = None
                self._finished(job_id, state, job if job is not None and job.final else None)
            elif cancel_running:
                state.cancel_event.set()
        self._executor.shutdown(wait=wait)
        self._stop.set()
        if self._housekeeper is not threading.current_thread():
            self._housekeeper.join(timeout=5)
        with self._lock:
            idle = not self._live
        if idle:
            forget_instance(self.instance_id)

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"JobManager({self.store!r}, owner={self.owner!r})"
