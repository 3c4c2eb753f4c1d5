"""Shared fixtures for the LLM-SQL tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest
from skyplex.interfaces.model import ModelInfo
from skyplex.testing.fakes import FakeModelBackend

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


@pytest.fixture
def beer_csv(tmp_path, beer) -> Path:
    """The first 40 committed Beer rows as a CSV with the column names the docs use."""
    path = tmp_path / "beer.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(beer[0]))
        writer.writeheader()
        writer.writerows(beer[:40])
    return path


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


def prompt_values(prompt: str) -> dict[str, str]:
    """The ``field: value`` lines of an instruction-form prompt, by field."""
    _, _, body = prompt.partition("\n\n")
    out = {}
    for line in body.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            out[name] = value
    return out


def values_in_field_order(prompt: str) -> str:
    """The prompt's values joined by ``|`` in field-name order, so the answer does not depend on the
    planned field order and an answer that lands on the wrong row is visible."""
    values = prompt_values(prompt)
    return "|".join(values[k] for k in sorted(values)) if values else prompt


def _sent_text(prompt) -> str:
    # LLM-SQL sends one user message per prompt (or raw text): the rule sees what the person wrote
    return prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt)


class EchoBackend(FakeModelBackend):
    """The kernel's fake model answering :func:`values_in_field_order` (or ``rule``) of each prompt's text;
    ``fail_on`` makes a batch holding a prompt with that text raise (one bad row), ``context_length``
    bounds the prompts it accepts, and ``batches`` holds the text of every batch it was sent."""

    def __init__(self, rule=values_in_field_order, *, fail_on: str | None = None,
                 context_length: int | None = 4096) -> None:
        super().__init__(rule, model="echo")
        self.fail_on = fail_on
        self.context_length = context_length

    def info(self) -> ModelInfo:
        return super().info().model_copy(update={"context_length": self.context_length})

    @property
    def batches(self) -> list[list[str]]:
        """The text of each prompt, batch by batch, as sent."""
        return [[_sent_text(p) for p in prompts] for prompts, _ in self.calls]

    def generate(self, prompts, params=None):
        texts = [_sent_text(p) for p in prompts]
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            with self._lock:
                self.calls.append((list(prompts), params))
            raise RuntimeError(f"refused a prompt containing {self.fail_on!r}")
        return super().generate(prompts, params)

    def reply(self, prompt: str) -> str:
        # FakeModelBackend renders a chat prompt as 'user: ...'; the rule sees the message itself
        return self.rule(prompt[len("user: "):] if prompt.startswith("user: ") else prompt)


@pytest.fixture
def echo_backend():
    """The :class:`EchoBackend` class (helpers reach tests as fixtures under importlib mode)."""
    return EchoBackend


class _EchoPlugin:
    """Registers the deterministic echo model as ``echo`` (and one that fails on 'BAD' as ``echo_bad``)."""

    def __init__(self) -> None:
        from skyplex import hookimpl

        @hookimpl
        def skyplex_register_models(register):
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
