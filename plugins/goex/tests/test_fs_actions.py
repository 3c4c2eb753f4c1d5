"""Filesystem actions: staging, exact undo, ordering, conflicts and confinement."""

from __future__ import annotations

import os

import pytest
from skyplex.errors import InvalidInputError
from skyplex.interfaces.executor import Action
from skyplex_goex.fstree import EscapeError, SafeRoot
from skyplex_goex.handlers import ActionFailed, ConflictError

pytestmark = pytest.mark.usefixtures("needs_sandbox")


def fs(root, command):
    return Action(kind="fs", payload={"root": str(root), "command": command})


def test_edits_deletes_renames_modes_and_ignored_files_undo_exactly(executor, project, snapshot_tree):
    before = snapshot_tree(project)
    cmd = ("echo b >> README.md; mv src/pkg/mod.py src/pkg/renamed.py; rm debug.log; chmod 600 run.sh;"
           " mkdir -p new/deep; printf '\\000bin' > new/deep/blob; rm readme-link; ln -s run.sh readme-link")
    rec = executor.run(executor.propose(fs(project, cmd)).id)
    assert snapshot_tree(project) == before  # staged only
    assert "+b" in rec.preview["diff"] and rec.preview["summary"]["delete"] >= 2
    executor.commit(rec.id)
    after = snapshot_tree(project)
    assert after != before and after["run.sh"][1] == 0o600 and "debug.log" not in after
    undone = executor.undo(rec.id)
    assert undone.outcome["undo"]["restored_exactly"] is True
    assert snapshot_tree(project) == before


def test_multi_step_undo_goes_newest_first(executor, project, snapshot_tree):
    s0 = snapshot_tree(project)
    a = executor.commit(executor.run(executor.propose(fs(project, "echo 1 >> README.md")).id).id)
    s1 = snapshot_tree(project)
    b = executor.commit(executor.run(executor.propose(fs(project, "echo 2 >> README.md; touch x")).id).id)
    with pytest.raises(ConflictError, match="undo those first"):
        executor.undo(a.id)
    executor.undo(b.id)
    assert snapshot_tree(project) == s1
    executor.undo(a.id)
    assert snapshot_tree(project) == s0


def test_commit_refused_when_folder_changed_after_run(executor, project):
    rec = executor.run(executor.propose(fs(project, "echo x >> README.md")).id)
    (project / "README.md").write_text("edited by a human\n")
    with pytest.raises(ConflictError, match="changed since"):
        executor.commit(rec.id)
    assert (project / "README.md").read_text() == "edited by a human\n"


def test_undo_refused_when_changed_after_commit_unless_forced(executor, project, snapshot_tree):
    before = snapshot_tree(project)
    rec = executor.commit(executor.run(executor.propose(fs(project, "echo x >> README.md")).id).id)
    (project / "README.md").write_text("later edit\n")
    with pytest.raises(ConflictError, match="changed after"):
        executor.undo(rec.id)
    executor.undo(rec.id, force=True)
    assert snapshot_tree(project) == before


def test_ran_action_is_discarded_by_undo(executor, project, snapshot_tree):
    before = snapshot_tree(project)
    rec = executor.run(executor.propose(fs(project, "rm -rf src")).id)
    assert executor.undo(rec.id).status == "discarded"
    assert snapshot_tree(project) == before


def test_symlink_pointing_outside_is_never_committed(executor, project, tmp_path):
    with pytest.raises(ActionFailed, match="outside"):
        executor.run(executor.propose(fs(project, f"ln -s {tmp_path}/data leak")).id)
    assert not (project / "leak").exists()


def test_planted_symlink_folder_cannot_redirect_writes(executor, project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), project / "escape")
    rec = executor.run(executor.propose(fs(project, "echo pwned > escape/file 2>/dev/null; true")).id)
    executor.commit(rec.id)
    assert list(outside.iterdir()) == []
    with pytest.raises(EscapeError):
        SafeRoot(project).write_file("escape/file", project / "README.md", 0o644)
    with pytest.raises(EscapeError):
        SafeRoot(project).remove("../project/README.md")


def test_hostile_command_cannot_read_the_vault_or_journal(executor, project):
    executor.vault.set("api", "VAULT-SECRET-VALUE")
    cmd = (f"cat {executor.data_dir}/vault.key {executor.data_dir}/vault.enc {executor.data_dir}/journal.db; "
           "cat /proc/1/environ; env; true")
    rec = executor.run(executor.propose(fs(project, cmd)).id)
    out = rec.preview["stdout"] + rec.preview["stderr"]
    assert "VAULT-SECRET-VALUE" not in out
    assert executor.vault._fernet is not None and open(executor.data_dir / "vault.key").read().strip() not in out


def test_runaway_command_is_stopped_and_nothing_applies(tmp_path, project, snapshot_tree):
    from skyplex_goex.executor import GoexExecutor

    ex = GoexExecutor(data_dir=tmp_path / "d2", sandbox={"wall_timeout_s": 1, "cpu_seconds": 5})
    before = snapshot_tree(project)
    with pytest.raises(ActionFailed, match="timeout"):
        ex.run(ex.propose(fs(project, "echo x > README.md; while :; do :; done")).id)
    assert ex.journal(1)[0].status == "failed"
    assert snapshot_tree(project) == before
    ex.close()


def test_root_containing_goex_data_is_refused(executor, tmp_path):
    with pytest.raises(InvalidInputError, match="skyplex's own data"):
        executor.propose(fs(tmp_path, "true"))
