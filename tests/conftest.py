"""Kernel test configuration shared by every test under tests/.

The local model's one-time GGUF -> safetensors conversion is cached under ``.data/test`` in the
repository (git-ignored), so it happens once per machine rather than once per test session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = Path(os.environ.get("SKYPLEX_TEST_DATA_DIR", REPO / ".data" / "test"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    TEST_DATA_DIR.mkdir(parents=True, exist_ok=True)
    return TEST_DATA_DIR


@pytest.fixture(scope="session")
def local_backend(test_data_dir):
    """The real SmolLM2 backend, loaded once for the whole session."""
    from skyplex.models.local import LocalBackend

    backend = LocalBackend(data_dir=test_data_dir, threads=2)
    yield backend
    backend.close()
