"""Owner liveness for jobs (skyplex.job_liveness): when is a queued or running job's owner taken for
dead? Searched over owners, hosts and silences rather than a few examples."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from skyplex import jobs
from skyplex.job_liveness import forget_instance, orphan_error, pid_alive, register_instance
from skyplex.job_model import STALE_AFTER_S

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
HOST = "this-host"
silences = st.floats(min_value=0, max_value=3 * STALE_AFTER_S, allow_nan=False)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_old_import_paths_still_work():
    assert jobs.Job is __import__("skyplex.job_model", fromlist=["Job"]).Job
    assert jobs.JobContext.__module__ == "skyplex.job_context"
    assert jobs.STALE_AFTER_S == STALE_AFTER_S


@settings(max_examples=200, deadline=None)
@given(silence=silences, registered=st.booleans())
def test_this_process_owner_is_alive_exactly_while_its_manager_is(silence, registered):
    instance = uuid.uuid4().hex
    if registered:
        register_instance(instance)
    try:
        error = orphan_error(f"{HOST}:{os.getpid()}:{instance}", NOW - timedelta(seconds=silence), NOW,
                             hostname=HOST, pid=os.getpid())
    finally:
        forget_instance(instance)
    assert (error is None) == registered  # silence does not matter: the process itself knows


@settings(max_examples=100, deadline=None)
@given(silence=silences)
def test_other_hosts_are_dead_only_after_the_stale_period(silence):
    error = orphan_error(f"elsewhere:{os.getpid()}:x", NOW - timedelta(seconds=silence), NOW,
                         hostname=HOST, pid=os.getpid())
    assert (error is not None) == (silence > STALE_AFTER_S)
    if error:
        assert "elsewhere" in error and "resubmit" in error


@settings(max_examples=100, deadline=None)
@given(silence=silences, owner=st.text(alphabet="abc:-", max_size=12).filter(lambda o: not o.split(":")[1:2] or
                                                                          not o.split(":")[1].isdigit()))
def test_owner_without_a_pid_is_judged_by_silence(silence, owner):
    error = orphan_error(owner, NOW - timedelta(seconds=silence), NOW, hostname=HOST, pid=1)
    assert (error is not None) == (silence > STALE_AFTER_S)


def test_dead_process_on_this_host_is_dead_at_once():
    pid = dead_pid()
    assert not pid_alive(pid)
    assert orphan_error(f"{HOST}:{pid}:m", NOW, NOW, hostname=HOST, pid=os.getpid()) is not None


def test_live_process_on_this_host_is_alive_until_stale():
    parent = os.getppid()
    assert pid_alive(parent)
    assert orphan_error(f"{HOST}:{parent}:m", NOW, NOW, hostname=HOST, pid=os.getpid()) is None
    stale = NOW - timedelta(seconds=STALE_AFTER_S + 1)
    assert orphan_error(f"{HOST}:{parent}:m", stale, NOW, hostname=HOST, pid=os.getpid()) is not None


def test_pid_alive_edge_cases():
    assert pid_alive(os.getpid())
    assert not pid_alive(0) and not pid_alive(-5)
