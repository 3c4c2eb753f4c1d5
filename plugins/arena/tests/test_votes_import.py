"""No vote is ever lost: imports of any files, in any order, next to live battles.

A vote's identity: a record with an id is that id (the same id in two files is one vote); a record
without an id is its position in its file (the same file imported twice is the same votes; two
different files are different votes). Page votes are keyed by their battle, which no import can take.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.store import Store
from skyplex_arena.store import ArenaStore, ConflictError

MODELS = ["m1", "m2", "m3"]
STYLE = {"length": 1, "headers": 0, "lists": 0, "bold": 0}


def _vote(k: int, vote_id: str | None) -> dict:
    a, b = MODELS[k % 3], MODELS[(k + 1) % 3]
    rec = {"model_a": a, "model_b": b, "winner": ["model_a", "model_b", "tie", "both_bad"][k % 4]}
    if vote_id is not None:
        rec["id"] = vote_id
    return rec


#: a file: votes whose ids come from a small pool (so files overlap) or are absent
files_strategy = st.lists(
    st.lists(st.tuples(st.integers(0, 11), st.one_of(st.none(), st.sampled_from([f"v{i}" for i in range(8)]))),
             min_size=1, max_size=6).map(lambda votes: [_vote(k, vid) for k, vid in votes]),
    min_size=1, max_size=4,
)


def _distinct_votes(files: list[list[dict]]) -> int:
    """What the store must hold after importing ``files`` (each at least once, any order)."""
    keys = set()
    for f in files:
        content = json.dumps(f, sort_keys=True)
        for n, rec in enumerate(f, start=1):
            keys.add(("id", rec["id"]) if "id" in rec else ("position", content, n))
    return len(keys)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=files_strategy, order=st.randoms(use_true_random=False), repeats=st.integers(0, 3))
def test_no_vote_is_ever_lost_whatever_files_and_order(tmp_path_factory, files, order, repeats):
    store = ArenaStore(Store(f"sqlite:///{tmp_path_factory.mktemp('votes')}/s.db"))
    plan = list(range(len(files))) + [order.randrange(len(files)) for _ in range(repeats)]
    order.shuffle(plan)
    for i in plan:  # every file under the same source name, as `arena import votes.jsonl` from two folders
        store.import_records(files[i], source="votes.jsonl")
    assert store.count() == _distinct_votes(files)


def test_two_id_less_files_keep_all_their_votes(arena_kernel, tmp_path):
    """The reported case: two files of votes without ids, both named votes.jsonl (5 votes, 3 were kept)."""
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    first, second = tmp_path / "a" / "votes.jsonl", tmp_path / "b" / "votes.jsonl"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("".join(json.dumps(_vote(k, None)) + "\n" for k in range(3)))
    second.write_text("".join(json.dumps(_vote(k, None)) + "\n" for k in range(5, 7)))
    for path in (first, second, first):
        res = CliRunner().invoke(cli, ["arena", "import", str(path)],
                                 obj=CliState(kernel_factory=lambda settings: arena_kernel))
        assert res.exit_code == 0, res.output
    assert ArenaStore(arena_kernel.store).count() == 5


def test_an_import_cannot_take_a_live_battles_vote(arena_kernel):
    store = ArenaStore(arena_kernel.store)
    battle = store.create_battle("hi", "m1", "m2")
    assert store.import_records([{"id": battle, "model_a": "m1", "model_b": "m2", "winner": "model_a"}]) == \
        {"imported": 1, "duplicates": 0, "self_battles": 0}
    store.save_answer(battle, "a", "hello", STYLE)
    store.save_answer(battle, "b", "hey", STYLE)
    assert store.vote(battle, "model_b")["winner"] == "model_b"  # the honest vote stands
    with pytest.raises(ConflictError):
        store.vote(battle, "model_a")
    assert store.count() == 2


def test_exported_votes_imported_back_add_nothing(arena_kernel):
    store = ArenaStore(arena_kernel.store)
    battle = store.create_battle("hi", "m1", "m2")
    store.save_answer(battle, "a", "hello", STYLE)
    store.save_answer(battle, "b", "hey", STYLE)
    store.vote(battle, "tie")
    store.import_records([_vote(k, None) for k in range(4)], source="x")
    exported = store.votes()
    assert store.import_records(exported, source="export") == {"imported": 0, "duplicates": 5, "self_battles": 0}
    assert store.count() == 5


def test_over_long_ids_and_names_are_refused_before_anything_is_written(arena_kernel):
    from skyplex.errors import InvalidInputError

    store = ArenaStore(arena_kernel.store)
    with pytest.raises(InvalidInputError, match="id of 300 characters"):
        store.import_records([_vote(0, "ok"), _vote(1, "x" * 300)])
    with pytest.raises(InvalidInputError, match="model_a of 201 characters"):
        store.import_records([{"model_a": "m" * 201, "model_b": "m2", "winner": "tie"}])
    assert store.count() == 0
