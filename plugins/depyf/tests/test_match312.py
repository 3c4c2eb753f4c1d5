"""``match`` statements under CPython 3.12 and 3.13: ``match312_child.py`` runs in each interpreter (the
decompiler reads the bytecode of the interpreter it runs in) with only the plugin's source on its
path, round-trips fixed match statements and a seeded sample of the generated match corpus, and the
outputs are judged by their results. A broken rewrite must make outputs refused, never wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters
from skyplex_depyf.corpus import gen_match

HERE = Path(__file__).resolve().parent
CHILD = HERE / "match312_child.py"
VERSIONS = ["3.12", "3.13"]


def run_child(version: str, seed: int, count: int, mutation: str = "none", sources: list[str] | None = None) -> dict:
    """The child's report under CPython ``version`` (on ``sources`` when given, else on its own constructs
    and ``count`` match statements drawn with ``seed``); skips when that interpreter is not installed."""
    extra = ["--sources"] if sources is not None else []
    return interpreters.report(version, CHILD, str(seed), str(count), mutation, *extra,
                               stdin=json.dumps(sources or []), missing=pytest.skip)


def outcomes(report: dict) -> list[str]:
    return list(report["constructs"].values()) + report["generated"]


@pytest.fixture(scope="module", params=VERSIONS)
def healthy(request: pytest.FixtureRequest) -> tuple[str, dict]:
    return request.param, run_child(request.param, seed=5, count=60)


def test_every_match_construct_round_trips(healthy: tuple[str, dict]) -> None:
    _, report = healthy
    assert {name: o for name, o in report["constructs"].items() if o != "ok"} == {}


def test_generated_match_statements_are_never_silently_wrong(healthy: tuple[str, dict]) -> None:
    _, report = healthy
    assert [o for o in report["generated"] if not (o == "ok" or o.startswith("refused"))] == []
    # the pattern rules read nearly all of them: without the rewrites 3.12 and 3.13 read under half
    assert sum(o == "ok" for o in report["generated"]) >= 0.9 * len(report["generated"])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mutation", ["pattern_tests", "match_ends", "lone_case_ends"])
def test_a_broken_match_rewrite_is_refused_never_wrong(version: str, mutation: str) -> None:
    healthy = run_child(version, seed=5, count=60)
    broken = run_child(version, seed=5, count=60, mutation=mutation)
    assert [o for o in outcomes(broken) if o.startswith(("wrong", "no-compile"))] == []
    ok = lambda report: sum(o == "ok" for o in outcomes(report))  # noqa: E731
    assert ok(broken) < ok(healthy)  # the mutation took effect


def test_an_unknown_mutation_is_named() -> None:
    path = interpreters.find("3.12") or interpreters.find("3.13")
    if path is None:
        pytest.skip("neither CPython 3.12 nor 3.13 is installed")
    done = interpreters.run(path, [str(CHILD), "0", "0", "nonsense"], timeout=120)
    assert done.returncode != 0 and "unknown mutation 'nonsense'" in done.stderr


def valid_matches(data: st.DataObject, count: int) -> list[str]:
    """``count`` match statements of the generated corpus's grammar, drawn by hypothesis (draws that are
    not valid Python, such as a name bound twice, are drawn again)."""
    found: list[str] = []
    while len(found) < count:
        source = gen_match(lambda lo, hi: data.draw(st.integers(lo, hi)))
        try:
            compile(source, "<generated>", "exec", dont_inherit=True)
        except SyntaxError:
            continue
        found.append(source)
    return found


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_drawn_match_statement_round_trips_or_is_refused(version: str, data: st.DataObject) -> None:
    # one interpreter run per example reads a batch: what the rewrites give is proven or refused
    sources = valid_matches(data, 25)
    report = run_child(version, seed=0, count=0, sources=sources)
    assert len(report["given"]) == len(sources)
    wrong = [(source, o) for source, o in zip(sources, report["given"]) if not (o == "ok" or o.startswith("refused"))]
    assert wrong == []
