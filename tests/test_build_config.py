"""The CUDA module is built only where it can run (a CUDA device is present) or when SKYPLEX_CUDA=ON
asks for it, and CI asks for it. Checked by configuring the real CMake project (no compiling)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def configure(tmp_path: Path, mode: str) -> str:
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    pybind11 = pytest.importorskip("pybind11")
    cmd = ["cmake", "-S", str(ROOT), "-B", str(tmp_path / f"build-{mode}"), f"-DSKYPLEX_CUDA={mode}",
           f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def has_cuda_device() -> bool:
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def test_auto_skips_cuda_without_a_device(tmp_path):
    if has_cuda_device():
        pytest.skip("this machine has a CUDA device; AUTO builds the module here")
    out = configure(tmp_path, "AUTO")
    assert "skipping _C_cuda (CUDA kernels): no CUDA device here" in out
    assert "building _C (C++ kernels)" in out


def test_off_never_builds_cuda(tmp_path):
    out = configure(tmp_path, "OFF")
    assert "skipping _C_cuda (CUDA kernels): SKYPLEX_CUDA=OFF" in out


def test_ci_compiles_the_cuda_kernels():
    run = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'^export SKYPLEX_CUDA="\$\{SKYPLEX_CUDA:-ON\}"$', run, re.M)
    # the variable reaches CMake through pip's build: pyproject maps it onto the cache entry
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'cmake.define.SKYPLEX_CUDA = { env = "SKYPLEX_CUDA", default = "AUTO" }' in pyproject
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install --no-build-isolation -e ".[all,test]"' in makefile  # inherits the environment


def test_on_without_a_compiler_fails_with_the_fix(tmp_path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    pybind11 = pytest.importorskip("pybind11")
    env = {k: v for k, v in os.environ.items() if k not in ("CUDACXX", "CUDA_PATH", "CUDA_HOME")}
    env["PATH"] = "/usr/bin:/bin"  # no nvcc (it lives elsewhere, e.g. /usr/local/cuda/bin)
    if shutil.which("nvcc", path=env["PATH"]):
        pytest.skip("nvcc is on the minimal PATH here")
    cmd = ["cmake", "-S", str(ROOT), "-B", str(tmp_path / "build-on"), "-DSKYPLEX_CUDA=ON",
           f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0
    assert "SKYPLEX_CUDA=ON but no CUDA compiler was found; put nvcc on PATH" in " ".join((done.stdout + done.stderr).split())
