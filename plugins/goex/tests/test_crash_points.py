"""A crash at every durable write of run, commit and undo, in turn.

A clean run records the list of fault points (every journal transaction, journal head, blob, file
and folder change, database COMMIT). Then, for each point, a fresh process repeats the step and dies
there (``os._exit``, no cleanup, as with kill -9). After each crash a new executor must start, the
data must be exactly the state before or after the step (no stray temp files either), the journal
must verify, and the action must still be finishable (commit, undo) from where it was left.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from skyplex.interfaces.executor import Action
from skyplex_goex.executor import GoexExecutor

CHILD = textwrap.dedent("""
    import json, os, sys
    from skyplex.interfaces.executor import Action
    from skyplex_goex.executor import GoexExecutor
    from skyplex_goex.faults import FaultPoints

    data, stage, step, action_json, action_id, crash_at, record = sys.argv[1:8]
    crash_at = int(crash_at)

    class Crash(FaultPoints):
        count = 0
        names = []

        def reached(self, name):
            self.count += 1
            self.names.append(name)
            if self.count == crash_at:
                os._exit(137)  # no cleanup, no flush: a process killed at this very point

    faults = Crash()
    ex = GoexExecutor(data_dir=data, stage_dir=stage, faults=faults)
    faults.count, faults.names = 0, []  # points reached by start-up recovery are not part of the step
    if step == "run":
        ex.run(ex.propose(Action.model_validate_json(action_json)).id)
    elif step == "commit":
        ex.commit(action_id)
    else:
        ex.undo(action_id)
    if record:
        with open(record, "w") as fh:
            json.dump(faults.names, fh)
""")


def tree(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            p = Path(dirpath, name)
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("l", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("d", st.st_mode & 0o7777)
            else:
                out[rel] = ("f", st.st_mode & 0o7777, p.read_bytes(), st.st_mtime_ns)
    return out


def shape(state):
    """A state without file mtimes: a committed file's mtime is when its staged copy was written."""
    if isinstance(state, dict):
        return {k: v[:3] if v[0] == "f" else v for k, v in state.items()}
    return state


def db_rows(db: Path) -> list:
    conn = sqlite3.connect(db)
    try:
        return [conn.execute("SELECT * FROM items ORDER BY id").fetchall(),
                conn.execute("SELECT * FROM tags ORDER BY rowid").fetchall()]
    finally:
        conn.close()


class Harness:
    def __init__(self, base: Path, kind: str) -> None:
        self.base, self.kind = base, kind
        self.data = base / "data"
        self.stage = Path(tempfile.mkdtemp(prefix="goex-crash-stage-"))
        os.chmod(self.stage, 0o711)
        self.root = base / "root"
        self.db = base / "shop.db"

    def fresh_target(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "sub" / "deep").mkdir(parents=True)
        (self.root / "a.txt").write_text("alpha\n")
        (self.root / "sub" / "x").write_text("x\n")
        (self.root / "sub" / "deep" / "y").write_text("y\n")
        os.symlink("a.txt", self.root / "link")
        for f in ("a.txt", "sub/x", "sub/deep/y"):  # the same state every time, mtimes included
            os.utime(self.root / f, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
        self.db.unlink(missing_ok=True)
        conn = sqlite3.connect(self.db)
        conn.executescript("""CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);
            CREATE TABLE tags(item INTEGER, tag TEXT);
            INSERT INTO items(name, price) VALUES ('pen', 1.5), ('cup', 0.5);
            INSERT INTO tags VALUES (1, 'office'), (2, 'kitchen');""")
        conn.close()

    def action(self) -> Action:
        if self.kind == "fs":
            return Action(kind="fs", payload={"root": str(self.root), "command":
                          "echo more >> a.txt; rm -rf sub; mkdir -p new && echo z > new/z; rm link; ln -s new link"})
        return Action(kind="sqlite", payload={"database": str(self.db),
                                              "sql": "UPDATE items SET price = price * 2; DELETE FROM tags WHERE item = 1"})

    def state(self):
        return tree(self.root) if self.kind == "fs" else db_rows(self.db)

    def executor(self) -> GoexExecutor:
        return GoexExecutor(data_dir=self.data, stage_dir=self.stage)

    def child(self, step: str, action_id: str = "", crash_at: int = 0, record: str = "") -> int:
        argv = [sys.executable, "-c", CHILD, str(self.data), str(self.stage), step,
                self.action().model_dump_json(), action_id, str(crash_at), record]
        return subprocess.run(argv, capture_output=True, timeout=120).returncode

    def prepare(self, upto: str) -> str:
        """A fresh target and journal with one action that has done the steps before ``upto``."""
        shutil.rmtree(self.data, ignore_errors=True)
        self.fresh_target()
        if upto == "run":
            return ""
        ex = self.executor()
        try:
            rec = ex.run(ex.propose(self.action()).id)
            if upto == "undo":
                ex.commit(rec.id)
            return rec.id
        finally:
            ex.close()

    def points(self, step: str) -> list[str]:
        action_id = self.prepare(step)
        record = str(self.base / "points.json")
        assert self.child(step, action_id, 0, record) == 0
        return json.loads(Path(record).read_text())


def _no_stray_temps(root: Path) -> None:
    if root.exists():
        stray = [str(p) for p in root.rglob(".goex-*")]
        assert stray == [], f"temp files left in the user's folder: {stray}"


@pytest.mark.usefixtures("needs_sandbox")
@pytest.mark.parametrize("kind", ["fs", "sqlite"])
@pytest.mark.parametrize("step", ["run", "commit", "undo"])
def test_crash_at_every_fault_point(tmp_path, kind, step):
    h = Harness(tmp_path, kind)
    try:
        # the states the data may be in: before the step and after it
        h.prepare("undo")
        ex = h.executor()
        committed = h.state()
        ex.undo(ex.journal(1)[0].id)
        ex.close()
        original = h.state()
        before, after = {"run": (original, original), "commit": (original, committed),
                         "undo": (committed, original)}[step]
        points = h.points(step)
        assert len(points) >= 3 and all(":" in p for p in points), points
        for i, name in enumerate(points, start=1):
            action_id = h.prepare(step)
            rc = h.child(step, action_id, i)
            assert rc == 137, f"the child did not stop at fault point {i} ({name})"
            ex = h.executor()  # must start: recovery runs here
            try:
                state = h.state()
                # the original must come back exactly (mtimes too); a committed state is compared without
                # mtimes, which are those of the staged copy of a different run
                assert any(state == x if x is original else shape(state) == shape(x) for x in (before, after)), \
                    f"crash at point {i} ({name}) left a state that is neither before nor after"
                _no_stray_temps(h.root)
                assert ex.verify_journal() == [], f"journal broken after a crash at point {i} ({name})"
                recs = ex.journal(5)
                assert all(r.status != "running" for r in recs), f"action left running after point {i} ({name})"
                if not recs:  # died before the action was journalled: nothing to finish
                    assert step == "run" and h.state() == original
                    continue
                # and it can be taken to a final state from wherever it was left
                rec = recs[0]
                if rec.status == "ran":
                    ex.commit(rec.id)
                    rec = ex.get(rec.id)
                if rec.status == "committed":
                    assert shape(h.state()) == shape(committed)
                    ex.undo(rec.id)
                assert h.state() == original, f"after a crash at point {i} ({name}) the data did not come back"
            finally:
                ex.close()
    finally:
        shutil.rmtree(h.stage, ignore_errors=True)
