"""`skyplex new-plugin` prints "Next" steps; run them exactly as printed, in a fresh virtualenv.

The fresh environment sees the kernel's installed environment through a site hook (so no
dependency is downloaded) and nothing is installed into it except the new plugin, by the printed
`pip install -e "<path>[test]"`; then the printed `python -m pytest <path>/tests` must pass, which
needs pytest and the gateway's test dependencies to come with the test extra.
"""

from __future__ import annotations

import os
import shlex
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from skyplex.cli.main import cli

pytestmark = pytest.mark.slow


def printed_steps(output: str) -> list[list[str]]:
    """The commands under 'Next:', comments dropped, split as a shell would."""
    lines = output.split("Next:", 1)[1].strip().splitlines()
    return [shlex.split(line.split("#", 1)[0]) for line in lines if line.strip()]


def test_next_steps_work_as_printed(tmp_path):
    dest = tmp_path / "skyplex-stepcheck"
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "new-plugin", "stepcheck", "--dest", str(dest)])
    assert result.exit_code == 0, result.output
    steps = printed_steps(result.stdout)
    assert [s[:2] for s in steps] == [["pip", "install"], ["python", "-m"], ["skyplex", "plugins"]]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    env_site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    # the kernel's environment, .pth hooks included (the kernel itself is an editable install)
    (env_site / "zz_kernel_env.pth").write_text(f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n")
    bin_dir = env_dir / "bin"
    (bin_dir / "pip").write_text(f"#!/bin/sh\nexec {bin_dir / 'python'} -m pip \"$@\"\n")
    (bin_dir / "pip").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir),
           "SKYPLEX_DATA_DIR": str(tmp_path / "data"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           # setuptools comes from the kernel's environment instead of being downloaded
           "PIP_NO_BUILD_ISOLATION": "0"}
    env.pop("PYTHONPATH", None)

    install, tests, listing = steps
    done = subprocess.run([*install, "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (env_site / "__editable__.skyplex_stepcheck-0.1.0.pth").exists(), "installed into the fresh venv"
    ran = subprocess.run([*tests, "-q", "-p", "no:cacheprovider"], env=env, capture_output=True, text=True,
                         timeout=300, cwd=dest)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout and "skipped" not in ran.stdout
    for name in ("test_conformance.py", "test_cli.py", "test_routes.py", "test_evaluator.py"):
        assert (dest / "tests" / name).is_file()
    listed = subprocess.run([str(bin_dir / "python"), "-m", "skyplex.cli.main", *listing[1:], "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert '"stepcheck"' in listed.stdout
    assert sys.prefix != str(env_dir)
