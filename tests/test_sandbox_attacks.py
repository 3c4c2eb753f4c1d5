"""Attacks on the hand-over of a workspace to the sandbox user: trees an earlier run left thousands of
levels deep, and planted hard links hidden deeper than the hand-over descends. Verdicts are taken on
the host (owners, modes, contents), never from what the code prints about itself."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from skyplex.sandbox import Sandbox, SandboxPolicy, available
from skyplex.sandbox.workspace import MAX_HANDOVER_DEPTH

OK, REASON = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"sandbox unavailable here: {REASON}")
AS_ROOT = os.geteuid() == 0
POLICY = SandboxPolicy(memory_mb=256, cpu_seconds=10, wall_timeout_s=30, processes=16)


@pytest.fixture
def plain_ws():
    """A workspace on the host's own file system, reused by several runs as callers may do."""
    path = Path(tempfile.mkdtemp(prefix="skyplex-attack-ws-"))
    os.chmod(path, 0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _descend(depth: int) -> str:
    return f"import os\nfor _ in range({depth}):\n    os.makedirs('d', exist_ok=True); os.chdir('d')\n"


def test_a_workspace_left_thousands_of_levels_deep_can_be_run_again(plain_ws):
    first = Sandbox(POLICY).run(["python3", "-c", _descend(1500) + "open('bottom', 'w').write('x')"],
                                workspace=plain_ws)
    assert first.ok, first.text("stderr")
    # the next run's hand-over walked the tree recursively and died with RecursionError
    second = Sandbox(POLICY).run(["python3", "-c", _descend(1500) + "print(open('bottom').read())"],
                                 workspace=plain_ws)
    assert second.ok and second.text().strip() == "x", second.text("stderr")


@pytest.mark.skipif(not AS_ROOT, reason="only root can plant a link to a file the sandbox user does not own")
def test_a_planted_link_below_the_hand_over_depth_is_neither_chowned_nor_readable(plain_ws):
    secret_dir = Path(tempfile.mkdtemp(prefix="skyplex-secret-"))
    try:
        secret = secret_dir / "secret"
        secret.write_text("root only\n")
        os.chmod(secret, 0o600)
        deep = plain_ws.joinpath(*["d"] * (MAX_HANDOVER_DEPTH + 20))
        deep.mkdir(parents=True)
        os.link(secret, deep / "planted")
        code = _descend(MAX_HANDOVER_DEPTH + 20) + (
            "try:\n    print(open('planted').read())\nexcept OSError as exc:\n    print('denied', exc.errno)\n"
            "try:\n    open('planted', 'a').write('appended')\nexcept OSError as exc:\n    print('denied', exc.errno)\n")
        res = Sandbox(POLICY).run(["python3", "-c", code], workspace=plain_ws)
        assert "root only" not in res.text()
        st = secret.lstat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o600)
        assert secret.read_text() == "root only\n"
    finally:
        subprocess.run(["rm", "-rf", str(secret_dir)], check=False)
