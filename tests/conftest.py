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


@pytest.fixture
def scheduler(local_backend):
    """The local backend's batch scheduler, idle; the chunk sizes and batch limit a test changes are
    put back afterwards (the backend is shared by the whole session)."""
    from skyplex.testing import wait_for

    sched = local_backend._scheduler_loaded()
    saved = (sched.prefill_chunk_tokens, sched.busy_prefill_chunk_tokens, local_backend.max_batch_size)
    wait_for(lambda: sched.running() == 0 and sched.waiting() == 0, "an idle scheduler")
    yield sched
    sched.prefill_chunk_tokens, sched.busy_prefill_chunk_tokens, local_backend.max_batch_size = saved


@pytest.fixture(scope="module")
def vllm_gateway(skyplex_vllm_backend, skyplex_model_cache_dir):
    """The gateway in this process (a background server), serving the session's vLLM server as ``vllm``."""
    from skyplex import Kernel, Settings, make_plugin_manager
    from skyplex.gateway import background_server, create_app

    settings = Settings(data_dir=skyplex_model_cache_dir, models={"vllm": {"base_url": skyplex_vllm_backend.base_url}})
    kernel = Kernel(settings=settings, pm=make_plugin_manager(entrypoints=False))
    with background_server(create_app(kernel, api_key=None, auth=False)) as url:
        yield url
    kernel.close()
