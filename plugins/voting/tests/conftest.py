"""Fixtures for the voting tests: a kernel with this plugin and scripted model backends (no weights).

``cycler`` answers a cycle of letters with one unparsable reply, so K samples of a prompt really
differ and abstentions occur; the local SmolLM2 tests use the kernel's ``skyplex_local_backend``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from skyplex import Kernel, Settings, hookimpl
from skyplex.plugins import make_plugin_manager
from skyplex.testing import FakeModelBackend, ScriptedModelBackend

DATA = Path(__file__).parent / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: one prompt's K answers cycle through these: B leads, A and C follow, one reply names no option
CYCLE = ["B", "The answer is B.", "A", "(c)", "B) 7", "I am not sure", "A", "b."]


class TestModels:
    """A test-only plugin registering model backends, as a real plugin would."""

    @hookimpl
    def skyplex_register_models(self, register):
        register("cycler", lambda: ScriptedModelBackend(CYCLE, repeat=True))
        register("judge", lambda: FakeModelBackend(lambda prompt: "yes" if "Proposed answer: B" in prompt else "no"))


def make_kernel(settings: Settings) -> Kernel:
    """This plugin (through its entry point) and the test backends only."""
    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"voting"}, extra=[("test-models", TestModels())])
    return Kernel(settings=settings, pm=pm, strict=True)


@pytest.fixture
def kernel(tmp_path):
    k = make_kernel(Settings(data_dir=tmp_path / "data"))
    k.startup()
    yield k
    k.close()


@pytest.fixture
def kernel_factory():
    return make_kernel


@pytest.fixture
def data_dir() -> Path:
    return DATA


# -- the documented surface (docs/plugins/voting.md) --------------------------------------------------
REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "plugins" / "voting.md"


def _doc_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def doc_commands() -> list[str]:
    """Every ``skyplex voting ...`` line of the doc's bash blocks, as written."""
    return [line.strip() for block in _doc_blocks() for line in block.splitlines() if line.startswith("skyplex voting")]


@pytest.fixture
def doc_curls() -> list[tuple[str, dict]]:
    """Every curl of the doc's bash blocks as (path, JSON body)."""
    out = []
    for block in _doc_blocks():
        for cmd in block.replace("\\\n", " ").splitlines():
            if cmd.startswith("curl"):
                args = shlex.split(cmd)
                url = next(a for a in args if "localhost" in a)
                out.append((url.split("localhost:8000", 1)[1], json.loads(args[args.index("-d") + 1])))
    return out


@pytest.fixture
def in_tmp_repo(tmp_path, monkeypatch):
    """Run commands from a folder where the documented relative paths resolve, writing outputs there."""
    (tmp_path / "plugins").symlink_to(REPO / "plugins")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _brute_loglik(row, p, distinct: int) -> float:
    """log P(counts) summed over every ordering of the wrong columns, averaged over every ordered
    choice of the columns holding the ``distinct`` distinct wrong answers (the top, then the second)
    of the grid point ``p = [p_correct, d_1..d_distinct, q, abstain]``: the model the grid prior fits."""
    import itertools
    import math

    import numpy as np

    L = len(row) - 2
    rest = p[1 + distinct] if L > distinct else 0.0
    placements = list(itertools.permutations(range(L), distinct))
    total = 0.0
    for placed in placements:
        probs = np.concatenate([[p[0]], np.full(L, rest), [p[-1]]])
        for column, share in zip(placed, p[1 : 1 + distinct]):
            probs[1 + column] = share
        for perm in set(itertools.permutations(row[1:-1])):
            counts = np.concatenate([[row[0]], perm, [row[-1]]])
            coef = math.factorial(int(counts.sum())) / np.prod([math.factorial(int(c)) for c in counts])
            total += coef * np.prod(probs ** counts) / len(placements)
    return float(np.log(total))


@pytest.fixture(scope="session")  # stateless: safe under hypothesis
def check_grid_loglik():
    """``check(C, G, distinct)``: the grid prior's likelihood of count rows ``C`` at grid points ``G``
    equals brute force over every ordering of the wrong columns, up to a constant per row (the number
    of orderings of the observed counts), and a point that cannot give a row is (numerically) ruled out."""
    import numpy as np
    from skyplex_voting.grid_prior import support_loglik

    def check(C, G, distinct: int) -> None:
        ours = support_loglik(C, G)
        with np.errstate(divide="ignore"):
            brute = np.array([[_brute_loglik(r, g, distinct) for g in G] for r in C])
        possible = np.isfinite(brute)
        assert possible.any(axis=1).all()
        for q in range(len(C)):
            diff = (ours[q] - brute[q])[possible[q]]
            np.testing.assert_allclose(diff - diff[0], 0.0, atol=1e-9)
            assert np.all(ours[q, ~possible[q]] < ours[q, possible[q]].max() - 500)

    return check


@pytest.fixture(scope="session")
def simulated_accuracy():
    """``simulate(P, K, runs)``: the plurality vote's accuracy for the answer distribution ``P``
    (``[correct, wrong..., abstain]``) at ``K`` answers, by simulation, ties split at random (an
    abstention never wins): the independent check for laws with more columns than enumeration allows."""
    import numpy as np

    def simulate(P, K: int, runs: int = 200_000) -> float:
        counts = np.random.default_rng(20261206).multinomial(K, P, size=runs)[:, :-1]
        best = counts.max(axis=1)
        tied = (counts == best[:, None]).sum(axis=1)
        return float(np.where((counts[:, 0] == best) & (best > 0), 1.0 / tied, 0.0).mean())

    return simulate
