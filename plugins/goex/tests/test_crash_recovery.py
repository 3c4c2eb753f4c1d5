"""kill -9 of the executor in the middle of a commit, then a restart: consistent state, complete journal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from skyplex_goex.executor import GoexExecutor

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from skyplex.interfaces.executor import Action
    from skyplex_goex.executor import GoexExecutor

    from skyplex_goex.faults import FaultPoints

    data, root, marker, kind, target = sys.argv[1:6]

    class StopMidCommit(FaultPoints):
        armed = False
        writes = 0

        def reached(self, name):
            if not self.armed:
                return
            self.writes += name in ("fs:rename", "fs:remove")
            if self.writes == 10 or name == "sqlite:commit":
                Path(marker).write_text(rec.id)
                time.sleep(60)  # the parent kills us here, mid-commit

    faults = StopMidCommit()
    ex = GoexExecutor(data_dir=data, faults=faults)
    if kind == "fs":
        action = Action(kind="fs", payload={"root": root, "command": "for i in $(seq 1 40); do echo new > f$i; done; rm -f keep*"})
    else:
        action = Action(kind="sqlite", payload={"database": target, "sql": "UPDATE items SET price = 0; DELETE FROM tags"})
    rec = ex.run(ex.propose(action).id)
    faults.armed = True
    ex.commit(rec.id)
""")


def _kill_mid_commit(tmp_path, kind, target=""):
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "data"), str(root), str(marker), kind, target])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the child died before reaching the commit"
        assert time.monotonic() < deadline, "the child never reached the commit"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return root, marker.read_text()


@pytest.mark.usefixtures("needs_sandbox")
def test_fs_commit_killed_midway_is_rolled_back(tmp_path, snapshot_tree):
    root = tmp_path / "project"
    root.mkdir()
    for i in range(20):
        (root / f"keep{i}").write_text(f"old {i}\n")
    before = snapshot_tree(root)
    _root, action_id = _kill_mid_commit(tmp_path, "fs")
    assert snapshot_tree(root) != before  # really half-applied
    ex = GoexExecutor(data_dir=tmp_path / "data")  # restart: recovery runs
    try:
        rec = ex.get(action_id)
        assert rec.status == "failed" and "rolled back" in rec.error
        assert snapshot_tree(root) == before
        events = [e["event"] for e in ex.events(action_id)]
        assert events == ["proposed", "run-started", "ran", "commit-intent", "recovered"]
        assert ex.verify_journal() == []
    finally:
        ex.close()


def test_sqlite_commit_killed_before_commit_leaves_db_untouched(tmp_path, db, db_state):
    before = db_state(db)
    _root, action_id = _kill_mid_commit(tmp_path, "sqlite", str(db))
    ex = GoexExecutor(data_dir=tmp_path / "data")
    try:
        rec = ex.get(action_id)
        assert rec.status == "failed"
        assert db_state(db) == before
        assert ex.verify_journal() == []
    finally:
        ex.close()


def test_tampering_is_detected(executor, db):
    from skyplex.interfaces.executor import Action
    from sqlalchemy import update
    from skyplex_goex.journal import actions, events

    rec = executor.run(executor.propose(Action(kind="sqlite", payload={"database": str(db), "sql": "SELECT 1"})).id)
    assert executor.verify_journal() == []
    with executor.journal_db.store.begin() as conn:
        conn.execute(update(events).where(events.c.seq == 2).values(data='{"forged": true}'))
    assert any("altered" in p for p in executor.verify_journal())
    with executor.journal_db.store.begin() as conn:
        conn.execute(update(actions).where(actions.c.id == rec.id).values(status="committed"))
    assert any("not what its journal says" in p for p in executor.verify_journal())
