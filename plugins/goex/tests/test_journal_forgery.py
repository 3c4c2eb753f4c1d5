"""Forging the journal from inside its database: the hash chain needs no key, so whoever can write the
database can append a correctly chained event that blesses an edited row. The head kept outside the
database must catch that, while still telling the crash window of a real transition (the database
committed, the head file not yet advanced) from a forgery."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from skyplex.interfaces.executor import Action
from skyplex.store import utcnow
from skyplex_goex.journal import JournalTampered, actions, canonical, event_hash, events, row_digest
from sqlalchemy import desc, select, update

pytestmark = pytest.mark.usefixtures("needs_sandbox")


def fs(root, command):
    return Action(kind="fs", payload={"root": str(root), "command": command})


def forge(executor, action_id: str, **fields) -> None:
    """Edit the action's row and append one event, chained exactly as the journal would chain it."""
    with executor.journal_db.store.engine.begin() as conn:
        row = dict(conn.execute(select(actions).where(actions.c.id == action_id)).mappings().one())
        new = {**row, **fields}
        last = conn.execute(select(events.c.seq, events.c.hash).order_by(desc(events.c.seq)).limit(1)).first()
        seq, data, at = last.seq + 1, canonical({"row": row_digest(new)}), utcnow().isoformat()
        conn.execute(events.insert().values(
            seq=seq, action_id=action_id, event="changeset-recorded", status=new["status"], data=data, at=at,
            prev_hash=last.hash, hash=event_hash(last.hash, seq, action_id, "changeset-recorded", new["status"], data, at)))
        conn.execute(update(actions).where(actions.c.id == action_id).values(**fields, seq=seq))


def test_a_forged_event_blessing_an_edited_root_is_not_acted_on(executor, project, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "new-file").write_text("someone else's file\n")
    rec = executor.commit(executor.run(executor.propose(fs(project, "echo x > new-file")).id).id)
    undo_data = executor.journal_db.get(rec.id)["undo_data"]
    forge(executor, rec.id, undo_data={**undo_data, "root": str(victim)})
    assert executor.verify_journal(), "a forged event went unnoticed"
    with pytest.raises(JournalTampered):
        executor.undo(rec.id, force=True)
    assert (victim / "new-file").read_text() == "someone else's file\n"
    assert (project / "new-file").exists()


def test_a_forged_approval_is_not_acted_on(executor, tmp_path):
    # an irreversible action approved by a forged event
    import sqlite3

    db = tmp_path / "a.db"
    sqlite3.connect(db).executescript("CREATE TABLE t(a)")
    rec = executor.run(executor.propose(Action(kind="sqlite", payload={"database": str(db), "sql": "SELECT 1"})).id)
    forge(executor, rec.id, classification="irreversible", approved=True)
    with pytest.raises(JournalTampered):
        executor.commit(rec.id)


def test_a_crash_between_the_database_and_the_head_is_not_tampering(tmp_path, project):
    """Every transition of a run, commit and undo, interrupted after its database commit and before the
    head file advanced: the journal verifies and the executor carries on."""
    from skyplex_goex.executor import GoexExecutor
    from skyplex_goex.faults import FaultPoints

    class Crash(BaseException):
        pass

    class CrashAtHead(FaultPoints):
        def __init__(self, nth: int) -> None:
            self.nth, self.seen = nth, 0

        def reached(self, name: str) -> None:
            if name == "journal:head":
                self.seen += 1
                if self.seen == self.nth:
                    raise Crash(name)

    stage = tempfile.mkdtemp(prefix="goex-test-stage-")  # under /tmp: the sandbox user must reach it
    for nth in range(1, 8):
        data = tmp_path / f"data{nth}"
        ex = GoexExecutor(data_dir=data, stage_dir=stage, faults=CrashAtHead(nth))
        try:
            rec = ex.propose(fs(project, f"echo {nth} >> README.md"))
            ex.commit(ex.run(rec.id).id)
            ex.undo(rec.id)
        except Crash:
            pass
        finally:
            ex.close()
        ex = GoexExecutor(data_dir=data, stage_dir=stage)
        try:
            assert ex.verify_journal() == [], nth
            for row in ex.journal_db.recent():
                ex.get(row["id"])
                ex.journal_db.get_verified(row["id"])  # acted on without JournalTampered
        finally:
            ex.close()
    shutil.rmtree(stage, ignore_errors=True)
