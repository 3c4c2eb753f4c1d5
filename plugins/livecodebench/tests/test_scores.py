"""pass@k against the combinatorial definition, bootstrap intervals, breakdowns, official file import."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex import InvalidInputError
from skyplex.stats import bootstrap_ci
from skyplex_livecodebench.scores import bootstrap_mean, load_official, pass_at_k, score


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
@settings(max_examples=200, deadline=None)
def test_pass_at_k_is_the_chance_a_random_k_subset_has_a_pass(nck):
    n, c, k = nck
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    exact = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_pass_at_k_refuses_k_above_n():
    with pytest.raises(InvalidInputError, match="at least 5 samples"):
        pass_at_k(3, 1, 5)


def test_pass_at_k_reported_only_when_every_problem_has_enough():
    t = score({"a": [True, False, True], "b": [False]}, ks=(1, 2))
    assert set(t.pass_at) == {1} and t.samples_per_problem == (1, 3)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.integers(0, 5))
@settings(max_examples=50, deadline=None)
def test_bootstrap_interval_brackets_mean(values, seed):
    e = bootstrap_mean(values, rounds=200, seed=seed)
    assert e.ci_low <= e.value <= e.ci_high and min(values) - 1e-12 <= e.ci_low and e.ci_high <= max(values) + 1e-12
    assert math.isclose(e.value, sum(values) / len(values))


@given(st.lists(st.sampled_from([0.0, 1.0, 0.5, 1 / 3]), min_size=1, max_size=60), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_bootstrap_interval_is_the_kernels(values, seed):
    # one percentile bootstrap for every plugin: the same seed names the same resamples and interval
    e = bootstrap_mean(values, rounds=300, seed=seed, level=0.9)
    assert (e.value, e.ci_low, e.ci_high) == bootstrap_ci(values, rounds=300, seed=seed, level=0.9)
    assert e.n == len(values)


def test_bootstrap_interval_narrows_with_more_problems():
    few = bootstrap_mean([1.0, 0.0] * 10, seed=3)
    many = bootstrap_mean([1.0, 0.0] * 500, seed=3)
    assert few.value == many.value == 0.5
    assert many.ci_high - many.ci_low < (few.ci_high - few.ci_low) / 3


def test_bootstrap_of_no_problems_is_an_error():
    with pytest.raises(InvalidInputError, match="no problems to score"):
        bootstrap_mean([])


def test_official_slice_rescored(graded_path, problems):
    official = load_official(graded_path)
    results = {q: r.graded for q, r in official.items()}
    t = score(results, problems.values(), cutoff="2023-09-01")
    assert t.pass_at[1].value == pytest.approx(sum(all(v) for v in results.values()) / len(results))
    assert set(t.groups) == {"difficulty", "platform", "window"}
    assert sum(e[1].n for e in t.groups["platform"].values()) == len(results)


def test_bad_official_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": 1}')
    with pytest.raises(InvalidInputError, match="list of graded problems"):
        load_official(p)
