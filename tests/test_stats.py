"""The kernel's bootstrap helpers: intervals that hold the mean, seeds that name the same resamples,
curves per item that agree with one column at a time, and clear errors for what cannot be bootstrapped."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyplex.errors import InvalidInputError
from skyplex.stats import bootstrap_ci, bootstrap_means, paired_bootstrap_diff

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(finite, min_size=1, max_size=40), seed=st.integers(0, 2**32 - 1), level=st.floats(0.5, 0.99))
def test_interval_holds_the_mean_and_stays_within_the_values(values, seed, level):
    mean, low, high = bootstrap_ci(values, rounds=200, level=level, seed=seed)
    assert math.isclose(mean, float(np.mean(values)), rel_tol=1e-12, abs_tol=1e-9)
    assert low <= mean <= high
    slack = 1e-9 * max(1.0, max(abs(v) for v in values))
    assert min(values) - slack <= low and high <= max(values) + slack
    assert bootstrap_ci(values, rounds=200, level=level, seed=seed) == (mean, low, high)  # a seed is a fixed draw


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 5), seed=st.integers(0, 1000), data=st.data())
def test_a_curve_per_item_resamples_whole_rows(rows, cols, seed, data):
    table = np.array(data.draw(st.lists(st.lists(finite, min_size=cols, max_size=cols), min_size=rows, max_size=rows)))
    curves = bootstrap_means(table, rounds=50, seed=seed)
    assert curves.shape == (50, cols)
    # the same rounds drawn by hand: each round picks n whole rows, so every column shares the same picks
    rng = np.random.default_rng(seed)
    expected = np.array([table[rng.integers(0, rows, rows)].mean(axis=0) for _ in range(50)])
    np.testing.assert_allclose(curves, expected, rtol=1e-12, atol=1e-9)
    for j in range(cols):
        np.testing.assert_allclose(bootstrap_means(table[:, j], rounds=50, seed=seed), curves[:, j], rtol=1e-12, atol=1e-9)


def test_width_matches_the_normal_approximation_on_many_items():
    rng = np.random.default_rng(7)
    values = rng.normal(3.0, 2.0, size=400)
    mean, low, high = bootstrap_ci(values, rounds=2000, seed=1)
    expected = 2 * 1.959964 * values.std(ddof=1) / math.sqrt(len(values))
    assert abs((high - low) / expected - 1) < 0.1
    assert abs((low + high) / 2 - mean) < 0.05 * expected


def test_paired_difference_cancels_what_each_item_shares():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 5, size=200)  # large per-item spread shared by both arms
    control = difficulty + rng.normal(0, 0.1, size=200)
    treatment = difficulty + 0.3 + rng.normal(0, 0.1, size=200)
    diff, low, high = paired_bootstrap_diff(treatment, control, seed=0)
    assert low > 0.25 and high < 0.35 and low <= diff <= high
    assert (diff, low, high) == bootstrap_ci(treatment - control, rounds=2000, seed=0)
    _, unpaired_low, unpaired_high = bootstrap_ci(treatment, seed=0)
    assert unpaired_high - unpaired_low > 10 * (high - low)


def test_one_item_or_equal_items_give_a_point():
    assert bootstrap_ci([0.5]) == (0.5, 0.5, 0.5)
    assert bootstrap_ci([1.0] * 9) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bootstrap_ci([]), "no items"),
        (lambda: bootstrap_means(np.zeros((0, 3))), "no items"),
        (lambda: bootstrap_ci([1.0, float("nan")]), "NaN"),
        (lambda: bootstrap_ci([1.0, 2.0], level=1.0), "between 0 and 1"),
        (lambda: bootstrap_ci([1.0, 2.0], rounds=0), "at least 1"),
        (lambda: bootstrap_ci([[1.0, 2.0]]), "one number per item"),
        (lambda: bootstrap_means(np.zeros((2, 2, 2))), "one row per item"),
        (lambda: paired_bootstrap_diff([1.0, 2.0], [1.0]), "equal-length"),
    ],
)
def test_what_cannot_be_bootstrapped_is_named(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()
