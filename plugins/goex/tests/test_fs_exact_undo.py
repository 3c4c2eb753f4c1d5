"""Attacks on the fs actions' promises: commit applies exactly what was previewed, undo restores exactly
(nested deletes, type changes, deleting everything, modes with set-uid, long and odd names, links),
later edits by someone else are conflicts, and goex's own folders are out of reach."""

from __future__ import annotations

import os
import stat
import time

import pytest
from skyplex.errors import InvalidInputError
from skyplex.interfaces.executor import Action
from skyplex_goex.handlers import ActionFailed, ConflictError

pytestmark = pytest.mark.usefixtures("needs_sandbox")
AS_ROOT = os.geteuid() == 0


def fs(root, command):
    return Action(kind="fs", payload={"root": str(root), "command": command})


def roundtrip(executor, root, command, snapshot_tree):
    """Run, commit and undo ``command``; the tree must come back exactly and undo must say so."""
    before = snapshot_tree(root)
    rec = executor.run(executor.propose(fs(root, command)).id)
    executor.commit(rec.id)
    committed = snapshot_tree(root)
    undone = executor.undo(rec.id)
    assert snapshot_tree(root) == before
    assert undone.outcome["undo"]["restored_exactly"] is True
    return committed


@pytest.mark.parametrize("command", [
    "rm -rf src",                                   # nested delete of a non-empty folder
    "rm -rf src && echo now-a-file > src",          # folder replaced by a file
    "rm README.md && mkdir -p README.md/inner && echo x > README.md/inner/f",  # file replaced by a folder
    "find . -mindepth 1 -delete",                   # everything, dotfiles included
    "rm readme-link && mkdir readme-link",          # symlink replaced by a folder
    "rm -rf src && ln -s README.md src",            # folder replaced by a symlink
])
def test_structural_changes_undo_exactly(executor, project, snapshot_tree, command):
    committed = roundtrip(executor, project, command, snapshot_tree)
    assert committed != snapshot_tree(project)


def test_long_and_odd_names_commit_and_undo(executor, project, snapshot_tree, tmp_path):
    long_name = "n" * 250
    (project / long_name).write_text("long\n")
    (project / "sp ace\tand\nnewline").write_text("odd\n")
    (project / "ünï-çødé").write_text("utf8\n")
    roundtrip(executor, project, f"echo more >> {long_name}; echo more >> 'sp ace'*; rm ünï-çødé; "
                                 f"echo new > {'m' * 254}", snapshot_tree)
    from skyplex_goex.executor import GoexExecutor

    GoexExecutor(data_dir=executor.data_dir.parent, stage_dir=executor.handlers["fs"].stage_base).close()


def test_files_named_like_goex_temp_files_survive(executor, project, snapshot_tree):
    for name in (".README.md.goex-tmp", ".goex-0123.tmp", "README.md.tmp"):
        (project / name).write_text(f"user data {name}\n")
    roundtrip(executor, project, "echo changed >> README.md; rm .goex-0123.tmp", snapshot_tree)
    assert (project / ".README.md.goex-tmp").read_text() == "user data .README.md.goex-tmp\n"


@pytest.mark.skipif(not AS_ROOT, reason="set-uid files and other owners need root")
def test_set_uid_bits_and_owners_are_kept_and_restored(executor, project, snapshot_tree):
    os.chmod(project / "run.sh", 0o4755)
    os.chown(project / "README.md", 1234, 2345)
    os.chmod(project / "src", 0o2775)
    before_mode = lambda p: stat.S_IMODE(os.lstat(p).st_mode)  # noqa: E731
    # an untouched set-uid file keeps its bit through a commit
    rec = executor.commit(executor.run(executor.propose(fs(project, "echo y > other")).id).id)
    assert before_mode(project / "run.sh") == 0o4755
    executor.undo(rec.id)
    # one the action rewrites loses it (as a write would), and undo gives it back with the owner
    before = snapshot_tree(project)
    rec = executor.commit(executor.run(executor.propose(fs(project, "echo z >> run.sh; rm README.md; rm -rf src")).id).id)
    assert before_mode(project / "run.sh") & 0o6000 == 0
    executor.undo(rec.id)
    assert snapshot_tree(project) == before
    assert before_mode(project / "run.sh") == 0o4755 and before_mode(project / "src") == 0o2775
    st = os.lstat(project / "README.md")
    assert (st.st_uid, st.st_gid) == (1234, 2345)


def test_hard_links_are_declared_inexact_before_commit(executor, project):
    os.link(project / "README.md", project / "README-hardlink")
    rec = executor.run(executor.propose(fs(project, "echo more >> README.md")).id)
    assert rec.preview["exact_undo"] is False
    assert "hard link" in rec.preview["inexact_undo_reasons"][0]
    executor.commit(rec.id)
    assert executor.undo(rec.id).outcome["undo"]["restored_exactly"] is False


@pytest.mark.parametrize("command", [
    "mkdir sub && ln -s .. sub/up && ln -s sub/up/.. out",   # each link inside alone, the chain leaves
    "ln -s /etc abs",
    "ln -s ../../.. rel",
    "mkdir a && ln -s a/../.. b",
])
def test_links_resolving_outside_are_never_committed(executor, project, snapshot_tree, command):
    before = snapshot_tree(project)
    with pytest.raises(ActionFailed, match="outside"):
        executor.run(executor.propose(fs(project, command)).id)
    assert snapshot_tree(project) == before


def test_roots_inside_goex_own_folders_are_refused(executor):
    for inside in (executor.data_dir / "blobs", executor.data_dir, executor.handlers["fs"].stage_base):
        inside.mkdir(parents=True, exist_ok=True)
        with pytest.raises(InvalidInputError, match="own data"):
            executor.propose(fs(inside, "true"))


def test_file_added_later_in_a_created_folder_is_a_conflict_even_forced(executor, project, snapshot_tree):
    rec = executor.commit(executor.run(executor.propose(fs(project, "mkdir -p made/deep && echo a > made/deep/a")).id).id)
    (project / "made" / "deep" / "human.txt").write_text("added by a person\n")
    for force in (False, True):
        with pytest.raises(ConflictError, match="added after"):
            executor.undo(rec.id, force=force)
    assert (project / "made" / "deep" / "human.txt").read_text() == "added by a person\n"
    (project / "made" / "deep" / "human.txt").unlink()
    executor.undo(rec.id)
    assert not (project / "made").exists()


def test_recreated_deleted_path_is_a_conflict(executor, project):
    rec = executor.commit(executor.run(executor.propose(fs(project, "rm debug.log")).id).id)
    (project / "debug.log").write_text("a new log by someone else\n")
    with pytest.raises(ConflictError, match="changed after"):
        executor.undo(rec.id)
    assert (project / "debug.log").read_text() == "a new log by someone else\n"


def test_commit_applies_exactly_the_previewed_content(executor, project):
    # a process left behind by the command would keep rewriting the staged file; it must be dead,
    # the stage gone, and what lands must hash to the previewed digest
    cmd = "(sleep 0.2; while :; do echo evil >> README.md; sleep 0.02; done) >/dev/null 2>&1 & echo good > README.md"
    rec = executor.run(executor.propose(fs(project, cmd)).id)
    change = next(c for c in rec.preview["changes"] if c["path"] == "README.md")
    assert len(rec.preview["staged_hash"]) == 64
    time.sleep(0.6)
    executor.commit(rec.id)
    import hashlib

    assert (project / "README.md").read_text() == "good\n"
    assert hashlib.sha256((project / "README.md").read_bytes()).hexdigest() == change["after"]["digest"]


def test_commit_refuses_a_preview_altered_after_it_was_shown(executor, project, snapshot_tree):
    before = snapshot_tree(project)
    rec = executor.run(executor.propose(fs(project, "echo good > README.md")).id)
    row = executor.journal_db.get(rec.id)
    preview = dict(row["preview"])
    preview["changes"] = [dict(c) for c in preview["changes"]]
    preview["changes"][0]["path"] = "run.sh"  # a tampered preview: same blob, another target
    from sqlalchemy import update
    from skyplex_goex.journal import actions

    with executor.journal_db.store.engine.begin() as conn:
        conn.execute(update(actions).where(actions.c.id == rec.id).values(preview=preview))
    with pytest.raises(Exception, match="hash|tamper|journal"):
        executor.commit(rec.id)
    assert snapshot_tree(project) == before
