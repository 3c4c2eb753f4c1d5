"""Is a job's owner still alive? The process-wide registry of live job managers, process checks,
and the store queries behind heartbeats, cross-process cancels and orphan recovery.

A job row names its owner as ``hostname:pid:manager-id``. A job whose owner is gone is failed by
the next manager that looks (see ``JobManager.recover``), never left "running".
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta

from sqlalchemy import select, update

from .job_model import LIVE_STATUSES, STALE_AFTER_S
from .store import Store, utcnow
from .store import jobs as jobs_table

# Instance ids of the JobManagers alive in this process. Process-wide on purpose: it answers "is the
# manager that owns this job still running here?", which is a fact about the process, not one manager.
_LIVE_INSTANCES: set[str] = set()
_LIVE_LOCK = threading.Lock()


def register_instance(instance_id: str) -> None:
    """Record that a job manager with this id is alive in this process."""
    with _LIVE_LOCK:
        _LIVE_INSTANCES.add(instance_id)


def forget_instance(instance_id: str) -> None:
    """Record that the job manager with this id has shut down."""
    with _LIVE_LOCK:
        _LIVE_INSTANCES.discard(instance_id)


def instance_alive(instance_id: str) -> bool:
    """Whether a job manager with this id is alive in this process."""
    with _LIVE_LOCK:
        return instance_id in _LIVE_INSTANCES


def orphan_error(owner: str, last_seen: datetime, now: datetime, *, hostname: str, pid: int) -> str | None:
    """The error for a job whose owner is gone, or None while the owner may be alive.

    Same host (``hostname``): the owner's pid is not alive, or it is this process (``pid``) but not a
    manager alive here. Other hosts, or an owner without a pid: no heartbeat for ``STALE_AFTER_S``.
    """
    host, _, rest = owner.partition(":")
    pid_text, _, instance = rest.partition(":")
    stale = now - last_seen > timedelta(seconds=STALE_AFTER_S)
    if not pid_text.isdigit():
        return (
            f"interrupted: the process running it ({owner}) stopped before it finished; resubmit it"
            if stale
            else None
        )
    owner_pid = int(pid_text)
    error = f"interrupted: the process running it (pid {owner_pid} on {host}) stopped before it finished; resubmit it"
    if host == hostname:
        if owner_pid == pid:
            return None if instance_alive(instance) else error
        if not pid_alive(owner_pid):
            return error
    return error if stale else None


def heartbeat(store: Store, owner: str) -> None:
    """Tell the store the live jobs of ``owner`` are still being worked on."""
    with store.begin() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.owner == owner, jobs_table.c.status.in_(LIVE_STATUSES))
            .values(heartbeat_at=utcnow())
        )


def cancel_requests(store: Store, owner: str) -> list[str]:
    """Ids of ``owner``'s running jobs that someone (maybe another process) asked to cancel."""
    with store.connect() as conn:
        return list(
            conn.execute(
                select(jobs_table.c.id).where(
                    jobs_table.c.owner == owner,
                    jobs_table.c.cancel_requested.is_(True),
                    jobs_table.c.status == "running",
                )
            ).scalars()
        )


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this machine (and is not a zombie)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    try:  # a killed child its parent has not reaped yet still answers kill(0); it is gone all the same
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True
