"""tools/check_plugin_wheels.sh refuses bad arguments before building anything (its real run is long:
see docs/writing-a-plugin.md, "Depending on the kernel")."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "check_plugin_wheels.sh"


def test_no_plugin_is_a_usage_error_listing_the_plugins():
    res = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "usage:" in res.stderr and "arena" in res.stderr, res.stderr


def test_an_unknown_plugin_is_refused_by_name(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), "arena", "no_such_plugin"], capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin", "WORK": str(tmp_path / "work")})
    assert res.returncode == 2 and "no plugin 'no_such_plugin'" in res.stderr, res.stderr
    assert not (tmp_path / "work").exists()  # refused before any environment was made
