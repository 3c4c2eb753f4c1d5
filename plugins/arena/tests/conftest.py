"""Shared fixtures for the arena tests (conftest, because tests import in importlib mode).

Real votes come from ``tests/data`` (slices of the Chatbot Arena human preference release,
CC-BY-4.0; see the README there). Synthetic votes come from a
Bradley-Terry simulation with known ratings, so the tests can check that the fits recover them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "arena_140k_battles_sample2000.jsonl.gz"
PAIR_OUTCOMES = DATA / "arena_140k_pair_outcomes.csv"
#: the local model's converted weights are cached here once per machine (as in the kernel's tests)
TEST_DATA_DIR = Path(os.environ.get("SKYPLEX_TEST_DATA_DIR", REPO / ".data" / "test"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The 2,000-vote sample of real Arena votes (gzipped JSONL, as the release ships them)."""
    return SAMPLE


def full_records() -> list[dict]:
    """All 135,634 real Arena votes, rebuilt from their per-pair outcome counts (no ids or categories)."""
    import csv

    winners = {"model_a_wins": "model_a", "model_b_wins": "model_b", "ties": "tie", "both_bad": "both_bad"}
    out = []
    with PAIR_OUTCOMES.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for column, winner in winners.items():
                out.extend({"model_a": row["model_a"], "model_b": row["model_b"], "winner": winner}
                           for _ in range(int(row[column])))
    return out


@pytest.fixture(scope="session")
def full_battles():
    """All 135,634 real Arena votes as a battle set."""
    from skyplex_arena.battles import load_battles

    return load_battles(full_records())


@pytest.fixture(scope="session")
def sample_battles(sample_path):
    from skyplex_arena.battles import load_battles

    return load_battles(sample_path)


@pytest.fixture(scope="session")
def arena_test_data_dir() -> Path:
    TEST_DATA_DIR.mkdir(parents=True, exist_ok=True)
    return TEST_DATA_DIR


def simulate_records(ratings: dict[str, float], n: int, *, seed: int = 0, tie_rate: float = 0.0,
                     voters: list[str] | None = None) -> list[dict]:
    """``n`` votes between uniformly chosen pairs, decided by Bradley-Terry with ``ratings`` (Elo scale)."""
    rng = np.random.default_rng(seed)
    names = list(ratings)
    out = []
    for k in range(n):
        i, j = rng.choice(len(names), size=2, replace=False)
        a, b = names[i], names[j]
        p = 1.0 / (1.0 + 10 ** ((ratings[b] - ratings[a]) / 400.0))
        u = rng.random()
        winner = "tie" if u < tie_rate else ("model_a" if rng.random() < p else "model_b")
        rec = {"id": f"sim-{seed}-{k}", "model_a": a, "model_b": b, "winner": winner}
        if voters:
            rec["voter"] = voters[k % len(voters)]
        out.append(rec)
    return out


@pytest.fixture
def simulate():
    """The :func:`simulate_records` factory (helpers reach tests as fixtures under importlib mode)."""
    return simulate_records


@pytest.fixture
def arena_kernel(tmp_path, arena_test_data_dir):
    """A started kernel with the built-ins and the arena only, a fresh store, and the local model's cache shared."""
    from skyplex.config import Settings
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    settings = Settings(data_dir=tmp_path / "data",
                        models={"local": {"data_dir": str(arena_test_data_dir), "threads": 2}},
                        plugins={"arena": {"contestants": tiny_contestants()}})
    # the built-ins (the local model) and this plugin only: other installed plugins play no part
    pm = make_plugin_manager(builtins=True, entrypoints=True, allowlist={"arena"})
    kernel = Kernel(settings=settings, pm=pm).startup()
    yield kernel
    kernel.close()


def tiny_contestants() -> list[dict]:
    """Two configurations of the local SmolLM2 model with tiny answers, for fast battles."""
    return [
        {"name": "smollm2-greedy", "backend": "local", "temperature": 0.0, "max_tokens": 6},
        {"name": "smollm2-terse", "backend": "local", "temperature": 0.7, "seed": 1, "max_tokens": 6,
         "system_prompt": "Answer in three words."},
    ]
