"""Other CPython interpreters. The decompiler reads the bytecode of the interpreter it runs in, so
3.10, 3.12 and 3.13 are read by running a script under that interpreter in a subprocess with only
this package on its path (it imports neither torch nor the kernel). One place finds those
interpreters and runs scripts under them: ``benchmarks/depyf_versions.py`` and the version tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

#: the folder holding this package (a checkout's src/, or site-packages where the wheel is installed),
#: put alone on the other interpreter's path
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ("3.10", "3.11", "3.12", "3.13")


def find(version: str) -> str | None:
    """The CPython ``version`` binary ("3.13"): pyenv's newest such version, else one on PATH."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob(f"versions/{version}.*/bin/python{version}"))
    return str(found[-1]) if found else shutil.which(f"python{version}")


def installed(versions: Sequence[str] = VERSIONS) -> dict[str, str]:
    """``{version: path}`` for each of ``versions`` found."""
    return {version: path for version in versions if (path := find(version))}


def child_env(package_root: Path = PACKAGE_ROOT) -> dict[str, str]:
    """This process's environment with only ``package_root`` (this package's folder unless told) on the
    path and a fixed hash seed (so set iteration, and with it some bytecode, is the same on every run)."""
    return dict(os.environ, PYTHONPATH=str(package_root), PYTHONHASHSEED="0")


def run(path: str, args: Sequence[str], stdin: str | None = None, timeout: float = 600,
        package_root: Path = PACKAGE_ROOT) -> subprocess.CompletedProcess[str]:
    """``path args...`` in the child environment, its output captured as text."""
    return subprocess.run([path, *args], input=stdin, env=child_env(package_root), capture_output=True,
                          text=True, timeout=timeout)


def report(version: str, script: str | Path, *args: str, stdin: str | None = None, timeout: float = 600,
           missing: Callable[[str], NoReturn] | None = None) -> dict:
    """The JSON object ``script`` prints on its last line when run under CPython ``version``; its
    ``"python"`` entry must name that version. Where the interpreter is not installed, ``missing`` is
    called with a sentence saying so (the tests pass ``pytest.skip``), else ``LookupError`` is raised;
    a child that fails raises ``RuntimeError`` with the end of its error output."""
    path = find(version)
    if path is None:
        reason = f"CPython {version} is not installed (no pyenv version {version}.x, no python{version} on PATH)"
        if missing is not None:
            missing(reason)
        raise LookupError(reason)
    done = run(path, [str(script), *args], stdin=stdin, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} under {path} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("python") != [int(part) for part in version.split(".")]:
        raise RuntimeError(f"{path} reported Python {result.get('python')}, not {version}")
    return result
