"""The arena evaluator on files and stored votes, and votes in the kernel store."""

from __future__ import annotations

import json

import pytest
from skyplex.errors import InvalidInputError, NotFoundError
from skyplex.interfaces import Subject, Suite
from skyplex_arena.evaluator import ArenaEvaluator
from skyplex_arena.store import ArenaStore, ConflictError


def test_evaluator_errors_name_the_problem(sample_path):
    ev = ArenaEvaluator()
    with pytest.raises(InvalidInputError, match="no votes for 'nobody'"):
        ev.evaluate([Subject(name="nobody")], Suite(name="s", options={"votes": str(sample_path)}))
    with pytest.raises(InvalidInputError, match="unknown suite option"):
        ev.evaluate([], Suite(name="s", options={"votes": str(sample_path), "cii": "x"}))
    with pytest.raises(InvalidInputError, match="needs the evaluator created by a kernel"):
        ev.evaluate([], Suite(name="s", options={"votes": "store"}))


def _records(n=30):
    out = []
    for k in range(n):
        a, b = ("m1", "m2") if k % 3 else ("m2", "m3")
        out.append({"id": f"r{k}", "model_a": a, "model_b": b, "winner": ["model_a", "model_b", "tie"][k % 3],
                    "voter": f"v{k % 4}"})
    return out


def test_store_import_is_idempotent_and_refuses_bad_votes(arena_kernel):
    store = ArenaStore(arena_kernel.store)
    assert store.import_records(_records(), source="t") == {"imported": 30, "duplicates": 0, "self_battles": 0}
    again = _records() + [{"id": "self", "model_a": "m1", "model_b": "m1", "winner": "tie"}]
    assert store.import_records(again, source="t") == {"imported": 0, "duplicates": 30, "self_battles": 1}
    with pytest.raises(InvalidInputError, match="unknown winner label"):
        store.import_records([{"id": "x1", "model_a": "a", "model_b": "b", "winner": "a"},
                              {"id": "x2", "model_a": "a", "model_b": "b", "winner": "??"}])
    assert store.count() == 30  # the bad batch wrote nothing

    battle = store.create_battle("hi", "m1", "m2", voter="alice")
    with pytest.raises(ConflictError, match="still answering"):
        store.vote(battle, "model_a")
    store.save_answer(battle, "a", "hello", {"length": 1, "headers": 0, "lists": 0, "bold": 0})
    store.save_answer(battle, "b", "hey", {"length": 1, "headers": 0, "lists": 0, "bold": 0})
    with pytest.raises(InvalidInputError, match="unknown winner label"):
        store.vote(battle, "model_c")
    revealed = store.vote(battle, "model_b")
    assert (revealed["model_a"], revealed["model_b"], revealed["voter"]) == ("m1", "m2", "alice")
    with pytest.raises(ConflictError, match="already has a vote"):
        store.vote(battle, "model_a")
    with pytest.raises(NotFoundError, match="no battle"):
        store.vote("nope", "model_a")
    # a fresh handle on the same database sees every vote, the first vote on the battle unchanged
    votes = ArenaStore(arena_kernel.store).votes()
    assert len(votes) == 31 and votes[-1]["winner"] == "model_b" and votes[-1]["style_a"]["length"] == 1


def test_evaluator_on_stored_votes(arena_kernel):
    ArenaStore(arena_kernel.store).import_records(_records(), source="t")
    ev = arena_kernel.evaluators.create("arena")
    rep = ev.evaluate([Subject(name="m1"), Subject(name="m3")], Suite(name="stored", options={"votes": "store"}))
    assert [s.subject for s in rep.scores] == ["m1", "m3"]
    assert rep.metadata["battles"] == 30
