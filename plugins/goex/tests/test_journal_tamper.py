"""Tampering with the journal's database: edited rows are never acted on, and removing events from the
end (even with the row rolled back to match) is detected through the head kept outside the database."""

from __future__ import annotations

import pytest
from skyplex.interfaces.executor import Action
from skyplex_goex.fs_actions import staged_hash
from skyplex_goex.journal import JournalTampered, actions, events
from sqlalchemy import delete, select, update

pytestmark = pytest.mark.usefixtures("needs_sandbox")


def fs(root, command):
    return Action(kind="fs", payload={"root": str(root), "command": command})


def _set_row(executor, action_id, **values):
    with executor.journal_db.store.engine.begin() as conn:
        conn.execute(update(actions).where(actions.c.id == action_id).values(**values))


def test_edited_preview_with_a_matching_staged_hash_is_not_committed(executor, project, snapshot_tree):
    before = snapshot_tree(project)
    rec = executor.run(executor.propose(fs(project, "echo good > README.md")).id)
    preview = executor.journal_db.get(rec.id)["preview"]
    changes = [dict(c) for c in preview["changes"]]
    changes[0]["path"] = "run.sh"  # the approved content, aimed at another file
    _set_row(executor, rec.id, preview={**preview, "changes": changes, "staged_hash": staged_hash(changes)})
    with pytest.raises(JournalTampered, match="differ from what the journal recorded"):
        executor.commit(rec.id)
    assert snapshot_tree(project) == before
    assert any("differ from what its journal recorded" in p for p in executor.verify_journal())


@pytest.mark.parametrize("field", ["action", "undo_data"])
def test_edited_root_or_undo_data_is_not_undone(executor, project, tmp_path, field):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep\n")
    rec = executor.commit(executor.run(executor.propose(fs(project, "echo x > new-file")).id).id)
    row = executor.journal_db.get(rec.id)
    if field == "action":
        action = {**row["action"], "payload": {**row["action"]["payload"], "root": str(victim)}}
        _set_row(executor, rec.id, action=action)
    else:
        undo = {**row["undo_data"], "root": str(victim),
                "pre_images": [{**row["undo_data"]["pre_images"][0], "path": "precious"}]}
        _set_row(executor, rec.id, undo_data=undo)
    with pytest.raises(JournalTampered):
        executor.undo(rec.id, force=True)
    assert (victim / "precious").read_text() == "keep\n"
    assert (project / "new-file").exists()


def test_removed_tail_with_the_row_rolled_back_is_detected(executor, project, snapshot_tree):
    rec = executor.run(executor.propose(fs(project, "echo x >> README.md")).id)
    ran_row = executor.journal_db.get(rec.id)
    executor.commit(rec.id)
    # an attacker deletes the commit's events and puts the row back as it was when it had only run
    with executor.journal_db.store.engine.begin() as conn:
        conn.execute(delete(events).where(events.c.seq > ran_row["seq"]))
        conn.execute(update(actions).where(actions.c.id == rec.id).values(
            **{k: ran_row[k] for k in ("status", "phase", "undo_data", "outcome", "seq")}))
    problems = executor.verify_journal()
    assert any("removed from its end" in p for p in problems), problems
    with pytest.raises(JournalTampered, match="removed from its end"):
        executor.commit(rec.id)  # a second commit would apply the change twice


def test_altered_event_breaks_the_chain(executor, project):
    rec = executor.commit(executor.run(executor.propose(fs(project, "echo x >> README.md")).id).id)
    with executor.journal_db.store.engine.begin() as conn:
        first = conn.execute(select(events.c.seq).where(events.c.action_id == rec.id).order_by(events.c.seq)).first()
        conn.execute(update(events).where(events.c.seq == first.seq).values(data='{"forged":true}'))
    assert any("altered" in p for p in executor.verify_journal())


def test_head_one_event_behind_is_a_crash_window_not_tampering(executor, project):
    rec = executor.run(executor.propose(fs(project, "echo x >> README.md")).id)
    seq, h = executor.journal_db.read_head()
    with executor.journal_db.store.engine.begin() as conn:
        prev = conn.execute(select(events.c.hash).where(events.c.seq == seq - 1)).scalar_one()
    # without the announcement written before the COMMIT, an event ahead of the head is not the journal's
    executor.journal_db.head_path.write_text(f"{seq - 1} {prev}\n")
    assert any("not written by the journal" in p for p in executor.verify_journal())
    # died after the DB commit, before the head advanced: the event was announced, so it is the journal's
    executor.journal_db.head_path.write_text(f"{seq - 1} {prev} {seq} {h}\n")
    assert executor.verify_journal() == []
    executor.commit(rec.id)
    assert executor.verify_journal() == []
