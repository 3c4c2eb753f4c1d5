"""Cost-aware optimum, and answer distributions read from logprobs checked against real samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skyplex.errors import InvalidInputError
from skyplex.interfaces.model import GenerationParams
from skyplex.testing import FakeModelBackend
from skyplex_voting.law import cost_optimal_k, optimal_k, two_level_curves
from skyplex_voting.sampling import letter_distribution, load_queries
from skyplex_voting.tasks import DIGITS, digit_arithmetic, digit_distribution

DATA = Path(__file__).parent / "data"


def test_cost_aware_optimum_is_the_argmax_of_net_value():
    pc = np.concatenate([np.full(30, 0.62), np.full(20, 0.45)])
    curve = two_level_curves(pc, 1 - pc, 300).mean(axis=0)
    free, _ = cost_optimal_k(curve, cost_per_call=0.0)
    assert free == optimal_k(curve)[0]
    k, net = cost_optimal_k(curve, cost_per_call=0.002)
    brute = max(range(1, 301), key=lambda j: (curve[j - 1] - 0.002 * j, -j))
    assert k == brute and k <= free and net == pytest.approx(curve[k - 1] - 0.002 * k)
    with pytest.raises(InvalidInputError):
        cost_optimal_k(curve, cost_per_call=-1)


def test_letter_prompt_ending_in_a_space_is_refused():
    with pytest.raises(InvalidInputError, match="ends in whitespace"):
        letter_distribution(FakeModelBackend(), ["Question: ...\nAnswer: "])


@pytest.mark.slow
def test_letter_distribution_matches_sampled_letters(skyplex_local_backend):
    queries = load_queries(DATA / "mmlu_geography_slice.jsonl")
    dists = letter_distribution(skyplex_local_backend, [q.prompt for q in queries[:3]])
    for row in dists:
        assert len(row) == 5 and all(x >= 0 for x in row) and sum(row) == pytest.approx(1.0)
        assert sum(row[:4]) > 0.05  # the letters get real mass when the prompt stops right before them
    # one-token temperature-1 samples of the first prompt fall on " A".." D" as the logprobs say
    n = 96
    params = GenerationParams(max_tokens=1, temperature=1.0, seed=5)
    texts = [c.text for c in skyplex_local_backend.generate([queries[0].prompt] * n, params)]
    for i, letter in enumerate("ABCD"):
        p = dists[0][i]
        freq = sum(t == f" {letter}" for t in texts) / n
        assert abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n) + 0.02, (letter, freq, p)


@pytest.mark.slow
def test_digit_distribution_of_a_real_model(skyplex_local_backend):
    queries = digit_arithmetic(4, seed=1, ops="+")
    dists = digit_distribution(skyplex_local_backend, [q["prompt"] for q in queries])
    assert all(set(d) <= set(DIGITS) and 0.5 < sum(d.values()) <= 1.0 + 1e-6 for d in dists)
    # few-shot sums of single digits: SmolLM2 puts most mass on the right digit for most of them
    assert sum(max(d, key=d.get) == q["answer"] for d, q in zip(dists, queries)) >= 2
    json.dumps(dists)
