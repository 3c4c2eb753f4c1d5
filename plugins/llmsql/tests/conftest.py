"""Shared fixtures for the LLM-SQL tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

#: the first 2,000 rows of the LLM-SQL Beer table (BeerAdvocate-derived), committed with the tests
BEER = Path(__file__).resolve().parent / "data" / "beer_first2000.csv"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BEER_FIELDS = ["review_profileName", "review_time", "review_overall", "review_taste", "review_palate",
               "review_appearance", "beer_name", "beer_style", "beer_beerId"]


def beer_rows(limit: int | None = None) -> list[dict[str, str]]:
    """The committed Beer rows as dicts (the first ``limit`` of them)."""
    with BEER.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = []
        for row in reader:
            rows.append(dict(zip(BEER_FIELDS, row)))
            if limit is not None and len(rows) >= limit:
                break
    return rows


@pytest.fixture
def beer() -> list[dict[str, str]]:
    """The first 200 Beer rows."""
    return beer_rows(200)


@pytest.fixture(scope="session")
def beer_slice() -> list[dict[str, str]]:
    """All 2,000 committed Beer rows."""
    return beer_rows()


@pytest.fixture
def shuffled():
    """shuffled(rows, seed) -> a shuffled copy."""
    def shuffle(rows, seed=0):
        rows = list(rows)
        random.Random(seed).shuffle(rows)
        return rows

    return shuffle


class _EchoPlugin:
    """Registers the deterministic echo model as ``echo`` (and one that fails on 'BAD' as ``echo_bad``)."""

    def __init__(self) -> None:
        from skyplex import hookimpl

        @hookimpl
        def skyplex_register_models(register):
            from skyplex_llmsql.testing import EchoBackend

            register("echo", EchoBackend)
            register("echo_bad", lambda: EchoBackend(fail_on="BAD"))

        self.skyplex_register_models = skyplex_register_models


@pytest.fixture
def make_kernel(tmp_path):
    """make_kernel() -> a started Kernel with the llmsql plugin (entry point) and the echo models."""
    from skyplex.config import Settings
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    made = []

    def make(**plugin_settings):
        pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"llmsql"},
                                 extra=[("echo_models", _EchoPlugin())])
        settings = Settings(data_dir=tmp_path / "data", plugins={"llmsql": plugin_settings} if plugin_settings else {})
        kernel = Kernel(settings=settings, pm=pm, strict=True).startup()
        made.append(kernel)
        return kernel

    yield make
    for k in made:
        k.close()


@pytest.fixture(scope="session")
def local_backend(skyplex_local_backend):
    """The real SmolLM2 backend, shared with every other test of the session (skyplex.testing)."""
    return skyplex_local_backend
