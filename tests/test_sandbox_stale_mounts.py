"""What a process that dies without its clean-up leaves, and who removes it.

A temp workspace is its own tmpfs (as root); a process killed with SIGKILL never runs the clean-up that
unmounts it. The next workspace made under the same folder unmounts what dead makers left, and never
touches a live maker's. The prepared ``/etc`` folder is removed at exit, which a pool worker's
``os._exit`` skips: the next process that prepares one removes those of vanished makers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workspaces are their own file systems only as root")

HOLD = """
import os, signal, sys
from skyplex.sandbox import Sandbox, SandboxPolicy
with Sandbox(SandboxPolicy()).temp_workspace(parent=sys.argv[1]) as ws:
    (ws / "result.txt").write_text("half-written")
    print(ws, flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.readline()  # held open until the test says so
"""


def _hold(parent: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(parent), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    path = Path(proc.stdout.readline().strip())
    assert path.name, "the child made no workspace"
    return proc, path


def test_a_killed_makers_workspace_is_unmounted_by_the_next_and_a_live_one_is_kept(tmp_path):
    from skyplex.sandbox import Sandbox, SandboxPolicy

    dead, left = _hold(tmp_path, "die")
    assert dead.wait(timeout=60) == -9
    assert os.path.ismount(left)  # what SIGKILL leaves behind
    live, held = _hold(tmp_path, "hold")
    try:
        with Sandbox(SandboxPolicy()).temp_workspace(parent=tmp_path) as ws:
            assert os.path.ismount(ws)
            assert not os.path.ismount(left) and not left.exists()
            assert os.path.ismount(held) and (held / "result.txt").read_text() == "half-written"
    finally:
        live.communicate("done\n", timeout=60)
    assert live.returncode == 0 and not held.exists()
    assert list(tmp_path.iterdir()) == []


RUN_AND_VANISH = """
import os, sys, tempfile
from skyplex.sandbox import Sandbox, SandboxPolicy
box = Sandbox(SandboxPolicy())
with box.temp_workspace() as ws:
    assert box.run(["true"], workspace=ws).returncode == 0
print(os.getpid(), flush=True)
if sys.argv[1] == "vanish":
    os._exit(0)  # how a process-pool worker ends: no exit handlers run
sys.stdin.readline()
"""


def _etc_folders(parent: Path) -> set[str]:
    return {p.name for p in parent.iterdir() if p.name.startswith("skyplex-sandbox-etc-")}


@pytest.fixture
def temp_root():
    # a TMPDIR the sandbox user can pass through (pytest's own folders are private to root)
    root = Path(tempfile.mkdtemp(prefix="skyplex-etc-sweep-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_vanished_makers_etc_folder_is_removed_by_the_next_and_a_live_ones_kept(temp_root):
    from skyplex.sandbox import available

    ok, reason = available()
    if not ok:
        pytest.skip(f"sandbox unavailable here: {reason}")
    tmp_path = temp_root
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    vanished = subprocess.run([sys.executable, "-c", RUN_AND_VANISH, "vanish"], env=env, capture_output=True,
                              text=True, timeout=120)
    assert vanished.returncode == 0, vanished.stderr
    left = _etc_folders(tmp_path)
    assert [name.split("-")[3] for name in left] == [vanished.stdout.strip()]  # named after its maker
    live = subprocess.Popen([sys.executable, "-c", RUN_AND_VANISH, "hold"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        live_pid = live.stdout.readline().strip()
        held = _etc_folders(tmp_path) - left
        assert [name.split("-")[3] for name in held] == [live_pid]
        unrelated = tmp_path / "skyplex-sandbox-etc-notapid"
        unrelated.mkdir()
        last = subprocess.run([sys.executable, "-c", RUN_AND_VANISH, "exit"], env=env, input="\n",
                              capture_output=True, text=True, timeout=120)
        assert last.returncode == 0, last.stderr
        # the vanished maker's folder is gone; the live one's and a name this module never makes stay;
        # the last process removed its own on a normal exit
        assert _etc_folders(tmp_path) == held | {unrelated.name}
    finally:
        live.communicate("done\n", timeout=60)
    assert _etc_folders(tmp_path) == {unrelated.name}
