"""The voting curve band resamples queries through the kernel's bootstrap (skyplex.stats)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.stats import bootstrap_means
from skyplex_voting.fit import bootstrap_band


def _band_by_hand(per_query: np.ndarray, rounds: int, level: float, seed: int):
    """The band written out independently: resample whole rows, mean, quantiles, argmax per round."""
    rng = np.random.default_rng(seed)
    Q = per_query.shape[0]
    means = np.array([per_query[rng.integers(0, Q, Q)].mean(axis=0) for _ in range(rounds)])
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
    arg = [int(np.argmax(m >= m.max() - 1e-12)) + 1 for m in means]
    klo, khi = np.quantile(arg, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return lo, hi, (int(klo), int(khi))


@settings(max_examples=40, deadline=None)
@given(q=st.integers(1, 30), k=st.integers(1, 12), rounds=st.integers(1, 60), seed=st.integers(0, 2**31),
       level=st.floats(0.5, 0.99))
def test_band_is_the_kernel_resample_of_whole_queries(q, k, rounds, seed, level):
    per_query = np.random.default_rng(seed + 1).random((q, k))
    lo, hi, kint = bootstrap_band(per_query, rounds=rounds, level=level, seed=seed)
    want_lo, want_hi, want_k = _band_by_hand(per_query, rounds, level, seed)
    np.testing.assert_array_equal(lo, want_lo)
    np.testing.assert_array_equal(hi, want_hi)
    assert kint == want_k
    # the band is the quantiles of exactly the kernel's resampled means
    means = bootstrap_means(per_query, rounds=rounds, seed=seed)
    np.testing.assert_array_equal(lo, np.quantile(means, (1 - level) / 2, axis=0))
    assert 1 <= kint[0] <= kint[1] <= k


def test_band_of_identical_queries_is_a_point():
    per_query = np.tile(np.linspace(0.2, 0.9, 7), (5, 1))
    lo, hi, kint = bootstrap_band(per_query, rounds=50, seed=3)
    np.testing.assert_allclose(lo, per_query[0])
    np.testing.assert_allclose(hi, per_query[0])
    assert kint == (7, 7)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((0, 4)), "no items"),
    (np.array([[0.5, np.nan]]), "finite"),
    (np.zeros(4), "one accuracy curve per query"),
])
def test_band_bad_input_is_named(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        bootstrap_band(bad, rounds=10)


def test_band_level_outside_0_1_is_refused():
    with pytest.raises(InvalidInputError, match="level"):
        bootstrap_band(np.ones((3, 3)), level=1.0)
