"""A temp workspace is its own tmpfs (as root); a process killed with SIGKILL never runs the clean-up that
unmounts it. The next workspace made under the same folder unmounts what dead makers left, and never
touches a live maker's."""

from __future__ import annotations

import os
import subprocess
import sys
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
