"""The plugin's bootstrap is the kernel's (skyplex.stats): the same draws for the same seed, one interval
definition across plugins, and the plugin's own shapes and edge cases kept for its callers (an empty
condition gives NaNs, not an error; unequal paired lists are refused naming both lengths)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex import stats
from skyplex_raft.evaluate import bootstrap_ci, paired_bootstrap_diff, summarize

SCORES = st.lists(st.floats(0, 1), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(values=SCORES, seed=st.integers(0, 1000), rounds=st.integers(1, 300))
def test_interval_is_the_kernel_s_for_every_seed(values, seed, rounds):
    _, low, high = stats.bootstrap_ci(values, rounds=rounds, seed=seed)
    assert bootstrap_ci(values, resamples=rounds, seed=seed) == (low, high)


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=40),
       seed=st.integers(0, 1000))
def test_paired_difference_is_the_kernel_s_for_every_seed(pairs, seed):
    treatment, control = [a for a, _ in pairs], [b for _, b in pairs]
    assert paired_bootstrap_diff(treatment, control, resamples=150, seed=seed) == \
        stats.paired_bootstrap_diff(treatment, control, rounds=150, seed=seed)


def test_interval_reads_the_percentiles_of_resample_means_drawn_one_round_at_a_time():
    """Written out independently: each round draws n indices from one generator in turn."""
    values = [0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.25]
    rng = np.random.default_rng(7)
    means = [float(np.mean([values[i] for i in rng.integers(0, len(values), len(values))])) for _ in range(400)]
    low, high = np.quantile(means, [0.025, 0.975])
    assert bootstrap_ci(values, resamples=400, seed=7) == pytest.approx((low, high), abs=1e-12)


def test_no_values_give_nan_not_an_error():
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert all(math.isnan(v) for v in paired_bootstrap_diff([], []))


def test_unequal_paired_lists_are_refused_with_both_lengths():
    with pytest.raises(ValueError, match="differ in length: 2 and 3"):
        paired_bootstrap_diff([1.0, 0.0], [1.0, 0.0, 1.0])


def test_report_intervals_are_the_kernel_s():
    rows = [{"oracle_present": i % 3 != 0, "exact_match": float(i % 2), "f1": (i % 5) / 4, "abstain": 0.0,
             "quote_precision": None, "quote_recall": None, "abstain_precision": None, "abstain_recall": None}
            for i in range(30)]
    scores = {s.metric: s for s in summarize("m", rows, resamples=300, seed=4)}
    oracle_f1 = [r["f1"] for r in rows if r["oracle_present"]]
    mean, low, high = stats.bootstrap_ci(oracle_f1, rounds=300, seed=4)
    got = scores["f1@oracle"]
    assert (got.value, got.ci_low, got.ci_high, got.n) == (pytest.approx(mean), low, high, len(oracle_f1))
