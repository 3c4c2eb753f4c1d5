"""Property tests for fs actions: random trees, random action scripts (creates, deletes, renames, links,
modes, type changes). For every one, commit lands what the script does, undo(commit(x)) == x, and an
edit by someone else after the commit makes undo a conflict that changes nothing."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.interfaces.executor import Action
from skyplex_goex.handlers import ConflictError

pytestmark = pytest.mark.usefixtures("needs_sandbox")

NAMES = st.sampled_from(["a", "b", "c", "d d", ".hid", "x" * 200])
MODES = st.sampled_from([0o644, 0o600, 0o755, 0o640])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)


@st.composite
def trees(draw):
    """A tree as (path, kind, payload) entries; parents are created as folders on the way."""
    items = draw(st.lists(st.tuples(PATHS, st.sampled_from(["f", "f", "d", "l"]), st.binary(max_size=40), MODES),
                          max_size=8))
    return items


def build(root: Path, items) -> None:
    root.mkdir(parents=True)
    for path, kind, data, mode in items:
        p = root / path
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.exists() or p.is_symlink():
                continue
            if kind == "f":
                p.write_bytes(data)
                os.chmod(p, mode)
            elif kind == "d":
                p.mkdir()
            else:
                os.symlink(os.path.basename(path) + "-target", p)  # dangling, inside
        except (NotADirectoryError, FileExistsError):
            continue


OPS = st.one_of(
    st.tuples(st.just("write"), PATHS, st.text(alphabet="xyz\n", max_size=10)),
    st.tuples(st.just("append"), PATHS, st.text(alphabet="xyz", max_size=5)),
    st.tuples(st.just("rm"), PATHS),
    st.tuples(st.just("rmrf"), PATHS),
    st.tuples(st.just("mkdir"), PATHS),
    st.tuples(st.just("mv"), PATHS, PATHS),
    st.tuples(st.just("chmod"), PATHS, MODES),
    st.tuples(st.just("ln"), PATHS, NAMES),
    st.tuples(st.just("tofile"), PATHS),
    st.tuples(st.just("todir"), PATHS),
)


def script(ops) -> str:
    q = shlex.quote
    lines = []
    for op in ops:
        kind, path = op[0], op[1]
        if kind == "write":
            lines.append(f"mkdir -p $(dirname {q(path)}) && printf %s {q(op[2])} > {q(path)}")
        elif kind == "append":
            lines.append(f"printf %s {q(op[2])} >> {q(path)}")
        elif kind == "rm":
            lines.append(f"rm -f {q(path)}")
        elif kind == "rmrf":
            lines.append(f"rm -rf {q(path)}")
        elif kind == "mkdir":
            lines.append(f"mkdir -p {q(path)}")
        elif kind == "mv":
            lines.append(f"mv -T {q(path)} {q(op[2])}")
        elif kind == "chmod":
            lines.append(f"chmod {op[2]:o} {q(path)}")
        elif kind == "ln":
            lines.append(f"ln -sfn {q(op[2])} {q(path)}")
        elif kind == "tofile":
            lines.append(f"rm -rf {q(path)} && echo file > {q(path)}")
        else:
            lines.append(f"rm -rf {q(path)} && mkdir -p {q(path)}")
    return "\n".join(f"{line} 2>/dev/null" for line in lines) + "\ntrue"


def without_mtimes(state: dict) -> dict:
    return {k: v[:3] if v[0] == "f" else v for k, v in state.items()}


SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SETTINGS
@given(items=trees(), ops=st.lists(OPS, min_size=1, max_size=6))
def test_undo_of_commit_is_identity_and_commit_is_the_script(executor, tmp_path, snapshot_tree, items, ops):
    root = tmp_path / uuid.uuid4().hex / "root"
    build(root, items)
    before = snapshot_tree(root)
    cmd = script(ops)
    # what the script does to a plain copy, outside any sandbox
    reference = root.parent / "reference"
    shutil.copytree(root, reference, symlinks=True)
    subprocess.run(["sh", "-c", cmd], cwd=reference, check=False, capture_output=True)
    rec = executor.run(executor.propose(Action(kind="fs", payload={"root": str(root), "command": cmd})).id)
    executor.commit(rec.id)
    assert without_mtimes(snapshot_tree(root)) == without_mtimes(snapshot_tree(reference))
    undone = executor.undo(rec.id)
    assert snapshot_tree(root) == before
    assert undone.outcome["undo"]["restored_exactly"] is True


EDITS = st.sampled_from(["rewrite", "add-inside", "delete", "chmod"])


@SETTINGS
@given(items=trees(), ops=st.lists(OPS, min_size=1, max_size=5), edit=EDITS, pick=st.integers(0, 50))
def test_later_edit_makes_undo_a_conflict(executor, tmp_path, snapshot_tree, items, ops, edit, pick):
    root = tmp_path / uuid.uuid4().hex / "root"
    build(root, items)
    rec = executor.run(executor.propose(Action(kind="fs", payload={"root": str(root), "command": script(ops)})).id)
    changes = [c for c in rec.preview["changes"] if c.get("after") is not None]
    if not changes:
        executor.undo(rec.id)
        return
    executor.commit(rec.id)
    change = changes[pick % len(changes)]
    target = root / change["path"]
    kind = change["after"]["type"]
    if kind == "d" and (change.get("before") or {}).get("type") == "d":
        # a folder that existed before stays after undo: a file added to it is no conflict, and is kept
        (target / f"later-{edit}").write_text("someone else's file\n")
        executor.undo(rec.id)
        assert (target / f"later-{edit}").read_text() == "someone else's file\n"
        return
    if kind == "d":
        (target / f"later-{edit}").write_text("someone else's file\n")
    elif kind == "f" and edit in ("rewrite", "add-inside"):
        target.write_bytes(target.read_bytes() + b"+someone else")
    elif kind == "f" and edit == "chmod":
        os.chmod(target, (os.lstat(target).st_mode & 0o777) ^ 0o100)
    else:
        target.unlink()
    edited = snapshot_tree(root)
    with pytest.raises(ConflictError):
        executor.undo(rec.id)
    assert snapshot_tree(root) == edited
