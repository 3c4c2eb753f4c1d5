"""Shared fixtures for the LLM-SQL tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BEER = REPO / ".." / "shared" / "data" / "llmsql" / "beer.csv"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: a few Beer rows (BeerAdvocate-derived LLM-SQL table) so the tests run without ../shared
BEER_SAMPLE = [
    ["hopdog", "1157587200", "13/20", "6/10", "3/5", "4/5", "John Harvards Simcoe IPA", "India Pale Ale (IPA)", "63836"],
    ["TomDecapolis", "1157241600", "13/20", "7/10", "4/5", "4/5", "John Harvards Simcoe IPA", "India Pale Ale (IPA)", "63836"],
    ["hopdog", "1157587200", "8/20", "4/10", "2/5", "2/5", "John Harvards Fancy Lawnmower Beer", "Klsch", "64125"],
    ["JFGrind", "1107302400", "14/20", "7/10", "3/5", "2/5", "John Harvards Grand Cru", "Belgian Ale", "71719"],
    ["egajdzis", "1102896000", "16/20", "7/10", "3/5", "4/5", "John Harvards Grand Cru", "Belgian Ale", "71719"],
    ["PhillyBeer2112", "996105600", "17/20", "8/10", "4/5", "3/5", "John Harvards Grand Cru", "Belgian Ale", "71719"],
    ["PhillyBeer2112", "958694400", "11/20", "5/10", "2/5", "4/5", "John Harvards Belgian Tripel", "Abbey Tripel", "71715"],
    ["PhillyBeer2112", "958694400", "14/20", "7/10", "3/5", "3/5", "John Harvards Cassis Wit", "Belgian White (Witbier)", "1470"],
    ["TomDecapolis", "1157587200", "12/20", "6/10", "3/5", "3/5", "John Harvards Yin Yang Lager", "Pale Lager", "64126"],
    ["hopdog", "1157587200", "9/20", "5/10", "2/5", "3/5", "John Harvards Yin Yang Lager", "Pale Lager", "64126"],
    ["JJClark", "1249257600", "15/20", "8/10", "4/5", "4/5", "Barley Island Barrel-Aged Count Hopula", "Imperial/Double IPA", "91592"],
    ["CaptainCougar", "1245283200", "15/20", "8/10", "4/5", "4/5", "Barley Island Barrel-Aged Count Hopula", "Imperial/Double IPA", "91592"],
]
BEER_FIELDS = ["review_profileName", "review_time", "review_overall", "review_taste", "review_palate",
               "review_appearance", "beer_name", "beer_style", "beer_beerId"]


def beer_rows(limit: int | None = None) -> list[dict[str, str]]:
    """Beer rows as dicts (the shared CSV when present, else the embedded sample)."""
    if BEER.exists():
        with BEER.open(newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows = []
            for row in reader:
                rows.append(dict(zip(BEER_FIELDS, row)))
                if limit is not None and len(rows) >= limit:
                    break
        return rows
    return [dict(zip(BEER_FIELDS, r)) for r in BEER_SAMPLE][:limit]


@pytest.fixture
def beer() -> list[dict[str, str]]:
    """200 Beer rows (or the embedded 12)."""
    return beer_rows(200)


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


@pytest.fixture(scope="session")
def all_beer() -> list[dict[str, str]]:
    """All 28k Beer rows; skips where ../shared/data/llmsql/beer.csv is absent."""
    if not BEER.exists():
        pytest.skip("needs ../shared/data/llmsql/beer.csv")
    return beer_rows()
