"""Jobs: results, failures, progress, cancellation, watching, and recovery after a crash."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from skyplex.errors import ConflictError, InvalidInputError, JobCancelled, NotFoundError
from skyplex.interfaces.common import GPUType
from skyplex.jobs import Job, JobManager
from skyplex.store import Store, utcnow
from skyplex.store import jobs as jobs_table
from skyplex.testing.postgres import temporary_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'skyplex.db'}"
        return
    with temporary_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'skyplex.db'}"


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.dispose()


@pytest.fixture
def finished() -> list[Job]:
    return []


@pytest.fixture
def manager(store, finished):
    m = JobManager(store, workers=2, on_finished=finished.append)
    yield m
    m.shutdown(cancel_running=True)


def wait_for(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def count_to(ctx, n: int, delay: float = 0.0) -> dict:
    for i in range(n):
        ctx.check_cancelled()
        if delay:
            time.sleep(delay)
        ctx.progress(i + 1, n, f"item {i + 1}")
    return {"counted": n}


def until_cancelled(ctx) -> str:
    while True:
        ctx.check_cancelled()
        time.sleep(0.01)


def test_job_succeeds_with_progress_and_result(manager, finished):
    job = manager.submit(count_to, name="count", kind="test", params={"n": 20})
    assert job.status == "queued" and job.name == "count" and job.kind == "test"
    assert len(job.id) == 32 and job.params == {"n": 20}
    done = manager.wait(job.id, timeout=10)
    assert done.status == "succeeded"
    assert done.result == {"counted": 20}
    assert (done.progress, done.done, done.total, done.message) == (1.0, 20, 20, "item 20")
    assert done.error is None
    assert done.created_at <= done.started_at <= done.finished_at
    assert done.created_at.tzinfo is not None
    assert [j.id for j in finished] == [job.id]


def test_pydantic_results_are_dumped_as_json(manager):
    gpu = GPUType(name="L4", memory_gb=24, price_per_hour=0.7)
    job = manager.wait(manager.submit(lambda ctx, g: g, name="model", params={"g": gpu}).id, timeout=10)
    assert job.result == gpu.model_dump(mode="json")
    assert job.params == {"g": gpu.model_dump(mode="json")}  # stored as JSON, passed as the model


def test_failure_records_type_and_message_and_logs_traceback(manager, finished, caplog):
    def broken(ctx, x):
        raise ValueError(f"bad input {x}")

    with caplog.at_level(logging.ERROR, logger="skyplex.jobs"):
        job = manager.wait(manager.submit(broken, name="broken", params={"x": 7}).id, timeout=10)
    assert job.status == "failed"
    assert job.error == "ValueError: bad input 7"
    assert job.result is None
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)
    assert [j.status for j in finished] == ["failed"]


def test_result_that_is_not_json_fails_the_job(manager):
    job = manager.wait(manager.submit(lambda ctx: object(), name="odd").id, timeout=10)
    assert job.status == "failed" and "not JSON-serialisable" in job.error


def test_bad_submissions_are_refused(manager):
    with pytest.raises(InvalidInputError, match="params of job 'p' is not JSON"):
        manager.submit(count_to, name="p", params={"n": object()})
    with pytest.raises(InvalidInputError, match="name"):
        manager.submit(count_to, name="")
    with pytest.raises(InvalidInputError, match="callable"):
        manager.submit("count_to", name="x")  # type: ignore[arg-type]


def test_cancel_queued_job_at_once(store):
    release = threading.Event()
    calls: list[str] = []
    finished: list[Job] = []
    with JobManager(store, workers=1, on_finished=finished.append) as manager:
        blocker = manager.submit(lambda ctx: release.wait(10), name="blocker")
        waiting = manager.submit(lambda ctx: calls.append("ran"), name="waiting")
        wait_for(lambda: manager.get(blocker.id).status == "running", what="the blocker to start")
        cancelled = manager.cancel(waiting.id)
        assert cancelled.status == "cancelled" and cancelled.finished_at is not None
        assert manager.wait(waiting.id, timeout=1).status == "cancelled"
        release.set()
        assert manager.wait(blocker.id, timeout=10).status == "succeeded"
    assert calls == []  # it never ran
    assert sorted(j.name for j in finished) == ["blocker", "waiting"]


def test_cancel_running_job(manager, finished):
    job = manager.submit(until_cancelled, name="forever")
    wait_for(lambda: manager.get(job.id).status == "running", what="the job to start")
    flagged = manager.cancel(job.id)
    assert flagged.cancel_requested is True
    final = manager.wait(job.id, timeout=10)
    assert final.status == "cancelled" and final.error is None and final.finished_at is not None
    assert [j.status for j in finished] == ["cancelled"]


def test_running_job_that_ignores_cancel_ends_cancelled_when_it_returns(manager):
    go = threading.Event()
    job = manager.submit(lambda ctx: go.wait(10) and "result", name="stubborn")
    wait_for(lambda: manager.get(job.id).status == "running", what="the job to start")
    manager.cancel(job.id)
    go.set()
    final = manager.wait(job.id, timeout=10)
    assert final.status == "cancelled" and final.result is None


def test_cancel_of_a_final_job_says_its_status(manager):
    job = manager.wait(manager.submit(count_to, name="quick", params={"n": 1}).id, timeout=10)
    with pytest.raises(ConflictError, match=f"job {job.id} is already succeeded"):
        manager.cancel(job.id)


def test_cancel_from_another_manager_reaches_the_running_job(store):
    with JobManager(store) as runner, JobManager(store) as other:
        job = runner.submit(until_cancelled, name="remote")
        wait_for(lambda: other.get(job.id).status == "running", what="the job to start")
        other.cancel(job.id)  # only the store connects them, as between two processes
        assert runner.wait(job.id, timeout=5).status == "cancelled"


def test_get_and_list(manager):
    with pytest.raises(NotFoundError, match="no job with id 'nope'"):
        manager.get("nope")
    first = manager.wait(manager.submit(count_to, name="a", kind="eval", params={"n": 1}).id, timeout=10)
    second = manager.wait(manager.submit(lambda ctx: 1 / 0, name="b", kind="proof").id, timeout=10)
    assert [j.id for j in manager.list()] == [second.id, first.id]  # newest first
    assert [j.id for j in manager.list(kind="eval")] == [first.id]
    assert [j.id for j in manager.list(status="failed")] == [second.id]
    assert [j.id for j in manager.list(limit=1)] == [second.id]
    with pytest.raises(InvalidInputError, match="unknown job status 'done'"):
        manager.list(status="done")


def test_watch_yields_increasing_progress_and_ends(manager):
    job = manager.submit(count_to, name="watched", params={"n": 15, "delay": 0.02})
    snapshots = list(manager.watch(job.id, interval=0.02, timeout=10))
    progress = [s.progress for s in snapshots]
    assert progress == sorted(progress)
    assert len(set(progress)) >= 3  # it saw the job move, not just start and end
    assert snapshots[-1].status == "succeeded" and snapshots[-1].progress == 1.0
    assert all(not s.final for s in snapshots[:-1])


def test_watch_from_another_manager_polls_the_store(store):
    with JobManager(store) as runner, JobManager(store) as viewer:
        job = runner.submit(count_to, name="elsewhere", params={"n": 10, "delay": 0.02})
        snapshots = list(viewer.watch(job.id, interval=0.02, timeout=10))
    assert snapshots[-1].status == "succeeded"
    assert [s.progress for s in snapshots] == sorted(s.progress for s in snapshots)


def test_watch_and_wait_time_out(manager):
    job = manager.submit(until_cancelled, name="slow")
    with pytest.raises(TimeoutError, match=job.id):
        list(manager.watch(job.id, interval=0.02, timeout=0.2))
    with pytest.raises(TimeoutError):
        manager.wait(job.id, timeout=0.1)


def test_progress_writes_are_throttled_but_the_last_is_kept(manager, monkeypatch):
    writes: list[dict] = []
    real = manager._write_progress
    monkeypatch.setattr(
        manager, "_write_progress", lambda job_id, values: (writes.append(values), real(job_id, values))
    )

    def chatty(ctx):
        start = time.monotonic()
        for i in range(20_000):
            ctx.progress(i + 1, 20_000)
        return time.monotonic() - start

    job = manager.wait(manager.submit(chatty, name="chatty").id, timeout=30)
    assert len(writes) <= job.result * 5 + 3  # ~5 writes a second at most
    assert (job.done, job.total, job.progress) == (20_000, 20_000, 1.0)


def test_trailing_progress_is_written_while_the_job_still_runs(manager):
    go = threading.Event()

    def report_then_block(ctx):
        ctx.progress(1, 10, "first")
        ctx.progress(7, 10, "latest")  # throttled: written by the housekeeping thread, not here
        go.wait(10)

    job = manager.submit(report_then_block, name="trailing")
    wait_for(lambda: manager.get(job.id).done == 7, what="the trailing progress write")
    assert manager.get(job.id).message == "latest"
    go.set()
    manager.wait(job.id, timeout=10)


def test_on_finished_runs_once_and_its_errors_do_not_break_workers(store, caplog):
    calls: list[str] = []

    def explode(job: Job) -> None:
        calls.append(job.name)
        raise RuntimeError("hook bug")

    with caplog.at_level(logging.ERROR, logger="skyplex.jobs"), JobManager(store, on_finished=explode) as manager:
        for name in ("one", "two", "three"):
            assert (
                manager.wait(manager.submit(count_to, name=name, params={"n": 2}).id, timeout=10).status == "succeeded"
            )
    assert calls == ["one", "two", "three"]
    assert "on_finished raised" in caplog.text


def test_shutdown_fails_jobs_that_never_started(store):
    release = threading.Event()
    manager = JobManager(store, workers=1)
    running = manager.submit(lambda ctx: release.wait(10), name="running")
    pending = manager.submit(count_to, name="pending", params={"n": 1})
    wait_for(lambda: manager.get(running.id).status == "running", what="the first job to start")
    release.set()
    manager.shutdown(wait=True)
    assert manager.get(running.id).status == "succeeded"
    job = manager.get(pending.id)
    assert job.status == "failed" and "shut down before it started" in job.error
    with pytest.raises(Exception, match="shut down"):
        manager.submit(count_to, name="late", params={"n": 1})


def test_job_fn_sees_cancellation_through_ctx(manager):
    seen: list[bool] = []

    def polite(ctx):
        while not ctx.cancelled:
            time.sleep(0.01)
        seen.append(ctx.cancelled)
        with pytest.raises(JobCancelled):
            ctx.check_cancelled()
        return "stopped"

    job = manager.submit(polite, name="polite")
    wait_for(lambda: manager.get(job.id).status == "running", what="the job to start")
    manager.cancel(job.id)
    assert manager.wait(job.id, timeout=5).status == "cancelled"
    assert seen == [True]


# crash recovery ---------------------------------------------------------------------------------------

CRASHING_PROCESS = textwrap.dedent(
    """
    import sys, time
    from skyplex.store import Store
    from skyplex.jobs import JobManager

    def forever(ctx):
        while True:
            ctx.progress(1, 2, "working")
            time.sleep(0.05)

    manager = JobManager(Store(sys.argv[1]), workers=1)
    running = manager.submit(forever, name="long", kind="test")
    queued = manager.submit(forever, name="behind", kind="test")
    while manager.get(running.id).status != "running":
        time.sleep(0.01)
    print(running.id, queued.id, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jobs_of_a_killed_process_are_failed_on_next_start(backend, request, tmp_path):
    if backend == "sqlite":
        _check_crash_recovery(f"sqlite:///{tmp_path / 'skyplex.db'}")
    else:
        with temporary_database(request.getfixturevalue("postgres_url")) as url:
            _check_crash_recovery(url)


def _check_crash_recovery(url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_PROCESS, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line, f"the job process exited early: {proc.stderr.read()}"
        running_id, queued_id = line.split()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()

    store = Store(url)
    finished: list[Job] = []
    try:
        # a new manager on the same database recovers at start
        with JobManager(store, on_finished=finished.append) as manager:
            expected = (
                f"interrupted: the process running it (pid {proc.pid} on {socket.gethostname()}) stopped before it "
                "finished; resubmit it"
            )
            for job_id in (running_id, queued_id):
                job = manager.get(job_id)
                assert job.status == "failed", job
                assert job.error == expected
                assert job.finished_at is not None
            wait_for(lambda: len(finished) == 2, what="on_finished for the recovered jobs")
    finally:
        store.dispose()


def test_recovery_leaves_live_managers_alone_and_fails_dead_owners(sqlite_url):
    store = Store(sqlite_url)
    go = threading.Event()
    try:
        with JobManager(store) as live:
            job = live.submit(lambda ctx: go.wait(10), name="alive")
            wait_for(lambda: live.get(job.id).status == "running", what="the job to start")
            now = utcnow()
            host = socket.gethostname()
            ghosts = {
                "same-pid-old-manager": f"{host}:{os.getpid()}:0123456789abcdef",
                "other-host-fresh": "elsewhere:1234:feedface",
                "other-host-silent": "faraway:1234:feedface",
            }
            with store.begin() as conn:
                for name, owner in ghosts.items():
                    conn.execute(
                        jobs_table.insert().values(
                            id=name.replace("-", "")[:32],
                            kind="test",
                            name=name,
                            status="running",
                            owner=owner,
                            created_at=now,
                            heartbeat_at=now,
                            progress=0.0,
                            done=0,
                            message="",
                        )
                    )
                conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.name == "other-host-silent")
                    .values(heartbeat_at=now - timedelta(hours=1))
                )
            with JobManager(store) as second:
                status = {j.name: j for j in second.list(kind="test")}
                assert status["same-pid-old-manager"].status == "failed"
                assert f"(pid {os.getpid()} on {host})" in status["same-pid-old-manager"].error
                assert status["other-host-fresh"].status == "running"  # may still be alive over there
                assert status["other-host-silent"].status == "failed"
                assert "(pid 1234 on faraway)" in status["other-host-silent"].error
                assert second.get(job.id).status == "running"  # its manager is alive in this process
            go.set()
            assert live.wait(job.id, timeout=10).status == "succeeded"
    finally:
        store.dispose()
