"""Hostile fs actions beyond the structural ones: extended attributes and ACLs that undo must put back
(and file capabilities that must not pass to new content), and results too deep, too long or too
large to read, which are refused with the action failed and its stage gone, never left "running"."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.interfaces.executor import Action
from skyplex_goex.handlers import ActionFailed

pytestmark = pytest.mark.usefixtures("needs_sandbox")
AS_ROOT = os.geteuid() == 0


def fs(root, command):
    return Action(kind="fs", payload={"root": str(root), "command": command})


def xattrs_of(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                out[os.path.relpath(p, root)] = {k: os.getxattr(p, k) for k in sorted(os.listxattr(p))}
    return out


def _xattrs_supported(folder: Path) -> bool:
    probe = folder / "xattr-probe"
    probe.write_text("")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


@pytest.fixture
def attr_project(tmp_path):
    if not _xattrs_supported(tmp_path):
        pytest.skip("this file system has no user extended attributes")
    root = tmp_path / "project"
    (root / "docs" / "old").mkdir(parents=True)
    for rel, text in {"a.txt": "alpha\n", "docs/b.txt": "beta\n", "docs/old/c.txt": "gamma\n"}.items():
        (root / rel).write_text(text)
    return root


# commands that rewrite, delete or replace the attributed paths in every way the tree allows
COMMANDS = st.sampled_from([
    "echo more >> a.txt", "rm a.txt", "rm -rf docs", "rm -rf docs/old && echo file > docs/old",
    "echo x > docs/b.txt && chmod 600 docs/b.txt", "mv docs/b.txt docs/b2.txt", "rm -rf docs && mkdir docs",
    "find . -mindepth 1 -delete", "rm a.txt && mkdir a.txt",
])
ATTRS = st.dictionaries(st.sampled_from(["user.tag", "user.origin", "user.a.b"]),
                        st.binary(min_size=0, max_size=40), max_size=3)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(attrs=st.fixed_dictionaries({p: ATTRS for p in ("a.txt", "docs", "docs/b.txt", "docs/old", "docs/old/c.txt")}),
       commands=st.lists(COMMANDS, min_size=1, max_size=3))
def test_undo_puts_back_extended_attributes(executor, attr_project, snapshot_tree, attrs, commands):
    root = attr_project
    for rel, values in attrs.items():
        for k in os.listxattr(root / rel):
            os.removexattr(root / rel, k)
        for k, v in values.items():
            os.setxattr(root / rel, k, v)
    before, before_attrs = snapshot_tree(root), xattrs_of(root)
    rec = executor.run(executor.propose(fs(root, " ; ".join(commands))).id)
    if not rec.preview["changes"]:
        return
    executor.commit(rec.id)
    undone = executor.undo(rec.id)
    assert snapshot_tree(root) == before
    assert xattrs_of(root) == before_attrs
    assert undone.outcome["undo"]["restored_exactly"] is True


def test_an_edited_file_keeps_its_attributes_but_not_its_capabilities(executor, attr_project):
    if not AS_ROOT:
        pytest.skip("file capabilities can only be set by root")
    target = attr_project / "a.txt"
    os.setxattr(target, "user.tag", b"keep me")
    cap = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # VFS_CAP_REVISION_2, effective, cap_net_raw
    try:
        os.setxattr(target, "security.capability", cap)
    except OSError:
        pytest.skip("this file system does not store file capabilities")
    rec = executor.commit(executor.run(executor.propose(fs(attr_project, "echo new content > a.txt")).id).id)
    assert os.getxattr(target, "user.tag") == b"keep me"
    assert "security.capability" not in os.listxattr(target), "new content inherited the old file's capabilities"
    executor.undo(rec.id)
    assert target.read_text() == "alpha\n"
    assert os.getxattr(target, "security.capability") == cap and os.getxattr(target, "user.tag") == b"keep me"


@pytest.mark.parametrize("command", [
    # deeper than any tree goex walks (the host's recursive walks died with RecursionError here)
    "python3 -c \"import os\nfor _ in range(1200):\n    os.mkdir('x'); os.chdir('x')\nopen('deep', 'w').write('z')\"",
    # not deep, but a path longer than any the host could open by name
    "python3 -c \"import os\nfor _ in range(30):\n    os.mkdir('n' * 200); os.chdir('n' * 200)\nopen('f', 'w').write('z')\"",
])
def test_results_too_deep_long_or_large_are_refused_and_cleaned_up(tmp_path, project, snapshot_tree, command):
    from skyplex_goex.executor import GoexExecutor

    stage = Path(tempfile.mkdtemp(prefix="goex-test-stage-"))
    ex = GoexExecutor(data_dir=tmp_path / "data", stage_dir=stage, sandbox={"workspace_inodes": 1000})
    try:
        before = snapshot_tree(project)
        rec = ex.propose(fs(project, command))
        with pytest.raises(ActionFailed, match="will not commit"):
            ex.run(rec.id)
        assert ex.get(rec.id).status == "failed"
        assert list(stage.iterdir()) == [], "the stage was left behind"
        assert snapshot_tree(project) == before
        ex.close()
        ex = GoexExecutor(data_dir=tmp_path / "data", stage_dir=stage)
        assert ex.recover() == []  # nothing was left interrupted
    finally:
        ex.close()
        shutil.rmtree(stage, ignore_errors=True)


@pytest.mark.skipif(not AS_ROOT, reason="the stage is a file system of its own only when goex runs as root")
@pytest.mark.parametrize("command", [
    "i=0; while true > f$i; do i=$((i+1)); done; echo made $i",           # inodes
    "i=0; while head -c 1048576 /dev/zero > b$i; do i=$((i+1)); done; echo made $i",  # blocks
])
def test_the_kernel_bounds_what_a_run_may_add_to_its_stage(tmp_path, project, command):
    from skyplex_goex.executor import GoexExecutor

    stage = Path(tempfile.mkdtemp(prefix="goex-test-stage-"))
    ex = GoexExecutor(data_dir=tmp_path / "data", stage_dir=stage, sandbox={"workspace_inodes": 200, "disk_mb": 8})
    try:
        rec = ex.propose(fs(project, command))
        try:
            rec = ex.run(rec.id)
            made = int(rec.preview["stdout"].split()[-1])
        except ActionFailed as exc:  # the disk watchdog may also have seen the growth
            assert "(disk)" in str(exc), exc
            made = None
        if made is not None:
            assert "No space left on device" in rec.preview["stderr"]
            assert made <= 200 if "f$i" in command else made <= 8
        assert list(stage.iterdir()) == []
        assert str(stage) not in Path("/proc/mounts").read_text(), "the stage's file system was left mounted"
    finally:
        ex.close()
        shutil.rmtree(stage, ignore_errors=True)


def test_the_walk_refuses_more_entries_than_allowed(tmp_path):
    # where the stage cannot be a bounded file system (not root), the entry count is checked after the run
    from skyplex_goex.fstree import TreeTooLarge, scan

    for i in range(12):
        (tmp_path / f"f{i}").write_text("")
    assert len(scan(tmp_path, max_entries=12)) == 12
    with pytest.raises(TreeTooLarge, match="more than 11"):
        scan(tmp_path, max_entries=11)


def test_a_large_rewritten_text_file_is_named_not_diffed(executor, tmp_path):
    # the preview's text diff compared whole files line by line: a command rewriting every other line of a
    # 200,000-line file kept the host busy for longer than the test run allows
    root = tmp_path / "big"
    root.mkdir()
    (root / "big.txt").write_text("".join(f"line {i}\n" for i in range(200_000)))
    (root / "small.txt").write_text("a\nb\n")
    rec = executor.run(executor.propose(fs(root, "awk 'NR % 2 == 0 {print \"changed \" NR; next} {print}' big.txt > b "
                                                 "&& mv b big.txt && echo c >> small.txt")).id)
    assert "big.txt modify" in rec.preview["diff"] and "too large to diff" in rec.preview["diff"]
    assert "+c\n" in rec.preview["diff"]  # small files are still diffed
    executor.commit(rec.id)
    executor.undo(rec.id)
    assert (root / "big.txt").read_text().startswith("line 0\nline 1\n")


@pytest.mark.parametrize("later", ["chown", "xattr"])
def test_a_later_owner_or_attribute_change_is_a_conflict_for_undo(executor, attr_project, later):
    if later == "chown" and not AS_ROOT:
        pytest.skip("only root can give a file away")
    rec = executor.commit(executor.run(executor.propose(fs(attr_project, "echo more >> a.txt; echo new > n.txt")).id).id)
    target = attr_project / "n.txt"
    if later == "chown":
        os.chown(target, 1234, 1234)
    else:
        os.setxattr(target, "user.note", b"added after the commit")
    from skyplex_goex.handlers import ConflictError

    with pytest.raises(ConflictError, match="n.txt"):
        executor.undo(rec.id)
    assert target.exists()
    executor.undo(rec.id, force=True)  # force restores anyway
    assert not target.exists() and (attr_project / "a.txt").read_text() == "alpha\n"


@pytest.mark.parametrize("step", ["commit", "undo"])
def test_a_root_replaced_by_a_symlink_is_a_conflict(executor, tmp_path, step):
    from skyplex_goex.handlers import ConflictError

    root, other = tmp_path / "root", tmp_path / "other"
    for folder in (root, other):
        folder.mkdir()
        (folder / "f").write_text("hello\n")
    rec = executor.run(executor.propose(fs(root, "echo changed > f")).id)
    if step == "undo":
        executor.commit(rec.id)
    os.rename(root, tmp_path / "moved")
    os.symlink(other, root)
    with pytest.raises(ConflictError, match="no longer a folder"):
        executor.commit(rec.id) if step == "commit" else executor.undo(rec.id, force=True)
    assert (other / "f").read_text() == "hello\n"
    assert executor.get(rec.id).status == ("ran" if step == "commit" else "committed")
