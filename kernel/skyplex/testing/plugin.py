"""pytest plugin (entry point ``pytest11: skyplex``): fixtures for testing skyplex and its plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def skyplex_settings(tmp_path: Path):
    """Settings with a fresh data dir (SQLite store, keys, caches) under the test's tmp_path."""
    from skyplex.config import Settings

    return Settings(data_dir=tmp_path / "skyplex-data")


@pytest.fixture
def skyplex_kernel(skyplex_settings):
    """A started Kernel with built-ins and installed plugins, closed after the test."""
    from skyplex.kernel import Kernel

    kernel = Kernel(settings=skyplex_settings)
    kernel.startup()
    yield kernel
    kernel.close()


@pytest.fixture(scope="session")
def skyplex_model_cache_dir(pytestconfig: pytest.Config) -> Path:
    """A data dir for the local model's one-time GGUF -> safetensors conversion, shared by every test
    in the session and kept between sessions: ``$SKYPLEX_TEST_DATA_DIR``, else ``<rootdir>/.data/test``
    (add ``.data/`` to your .gitignore)."""
    path = Path(os.environ.get("SKYPLEX_TEST_DATA_DIR") or pytestconfig.rootpath / ".data" / "test")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def skyplex_local_backend(skyplex_model_cache_dir: Path):
    """The real local SmolLM2 backend, loaded once per session and shared by kernel and plugin tests."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from skyplex.models.local import LocalBackend

    backend = LocalBackend(data_dir=skyplex_model_cache_dir, threads=int(os.environ.get("SKYPLEX_TEST_THREADS", "2")))
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def skyplex_vllm_backend(skyplex_model_cache_dir: Path):
    """A vLLM OpenAI server serving the local model's SmolLM2 folder, started once per session.

    Skips with the reason where no Python environment with vLLM exists (``make install-vllm`` builds
    ``.venv-vllm``), unless ``SKYPLEX_REQUIRE_VLLM`` is set (``make test`` sets it), then fails.
    Eager mode: vLLM's torch.compile warm-up takes minutes on a small CPU machine.
    """
    from skyplex.errors import ModelUnavailableError
    from skyplex.models.vllm_backend import VLLMBackend

    try:
        backend = VLLMBackend(data_dir=skyplex_model_cache_dir, enforce_eager=True, startup_timeout_s=900)
        backend.ensure_server()
    except ModelUnavailableError as exc:
        if os.environ.get("SKYPLEX_REQUIRE_VLLM"):
            pytest.fail(f"vLLM is required (SKYPLEX_REQUIRE_VLLM) but could not start: {exc.message}")
        pytest.skip(f"vLLM not available: {exc.message}")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    """URL of a throwaway PostgreSQL server for the session (or ``SKYPLEX_TEST_POSTGRES_URL``).

    Skips with the reason when no server can be started here, so the skip is visible in the report.
    """
    if os.environ.get("SKYPLEX_TEST_POSTGRES_URL"):
        yield os.environ["SKYPLEX_TEST_POSTGRES_URL"]
        return
    from skyplex.testing.postgres import PostgresUnavailable, start_postgres

    try:
        server = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        if os.environ.get("SKYPLEX_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required (SKYPLEX_REQUIRE_POSTGRES) but could not start: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield server.url
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    for marker in (
        "slow: integration tests that start servers or load the model",
        "postgres: needs a PostgreSQL server (skipped with a reason if none can start)",
        "gpu: needs a CUDA device (skipped without one)",
    ):
        config.addinivalue_line("markers", marker)
