"""Kernel test configuration shared by every test under tests/.

The local model's one-time GGUF -> safetensors conversion is cached under ``.data/test`` in the
repository (git-ignored; see the ``skyplex_model_cache_dir`` fixture of ``skyplex.testing``), so it
happens once per machine, and one loaded backend serves the whole session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def test_data_dir(skyplex_model_cache_dir: Path) -> Path:
    return skyplex_model_cache_dir


@pytest.fixture(scope="session")
def local_backend(skyplex_local_backend):
    """The real SmolLM2 backend, loaded once for the whole session."""
    return skyplex_local_backend
