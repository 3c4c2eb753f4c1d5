"""Bad input gets clear errors (or a visible warning), never silent nonsense."""

from __future__ import annotations

import json

import pytest
from skyplex.errors import InvalidInputError
from skyplex_arena.battles import load_battles, parse_records, read_records
from skyplex_arena.leaderboard import build_leaderboard


def _rec(a, b, w, i=None):
    return {"id": i or f"{a}-{b}-{w}", "model_a": a, "model_b": b, "winner": w}


def test_unknown_winner_label_names_it():
    with pytest.raises(InvalidInputError, match=r"unknown winner label 'model_c'.*battle #2"):
        load_battles([_rec("x", "y", "model_a"), _rec("x", "y", "model_c")])


def test_winner_spellings_of_the_arena_releases_are_accepted():
    b = load_battles([_rec("x", "y", "tie (bothbad)"), _rec("x", "y", "both_bad"), _rec("x", "y", "Model_A")])
    assert b.outcome.tolist() == [3, 3, 0]


def test_self_battles_are_dropped_and_reported():
    b = load_battles([_rec("x", "x", "model_a"), _rec("x", "y", "model_a"), _rec("y", "x", "tie")])
    assert len(b) == 2 and "self-battle" in b.notes[0]
    assert any("self-battle" in w for w in build_leaderboard(b).warnings)
    with pytest.raises(InvalidInputError, match="against itself"):
        load_battles([_rec("x", "x", "model_a")])


def test_empty_and_malformed_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InvalidInputError, match="empty"):
        read_records(empty)
    with pytest.raises(InvalidInputError, match="holds no battles"):
        load_battles([])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_rec("x", "y", "model_a")) + "\n{not json\n")
    with pytest.raises(InvalidInputError, match="line 2"):
        read_records(bad)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_records(tmp_path / "missing.jsonl")
    with pytest.raises(InvalidInputError, match="model_a/model_b"):
        load_battles([{"model_a": "x", "winner": "tie"}])


def test_json_array_and_wrapped_object_are_read():
    records = [_rec("x", "y", "model_a"), _rec("y", "x", "tie")]
    assert parse_records(json.dumps(records)) == records
    assert parse_records(json.dumps({"battles": records})) == records


def test_single_battle_model_gets_a_warning_and_a_wide_interval():
    records = [_rec("x", "y", w, f"{k}") for k, w in enumerate(["model_a", "model_b", "tie"] * 20)]
    records.append(_rec("z", "x", "tie", "only"))
    board = build_leaderboard(load_battles(records))
    assert any("single battle" in w and "z" in w for w in board.warnings)
    z, x = board.row("z"), board.row("x")
    assert (z.ci_high - z.ci_low) > 3 * (x.ci_high - x.ci_low)


def test_disconnected_graph_is_refused_or_regularised_with_a_warning():
    records = [_rec("x", "y", w, f"a{k}") for k, w in enumerate(["model_a", "model_b", "model_a"])]
    records += [_rec("p", "q", w, f"b{k}") for k, w in enumerate(["model_a", "model_b", "tie"])]
    battles = load_battles(records)
    with pytest.raises(InvalidInputError, match="disconnected into 2 groups"):
        build_leaderboard(battles, on_degenerate="refuse")
    board = build_leaderboard(battles)
    assert any("not comparable" in w for w in board.warnings)
    assert all(abs(r.rating - 1000) < 300 for r in board.rows)


def test_unbeaten_model_is_reported_and_kept_finite():
    records = [_rec("x", "y", w, f"{k}") for k, w in enumerate(["model_a", "model_b"] * 5)]
    records += [_rec("champ", "x", "model_a", f"c{k}") for k in range(4)]
    battles = load_battles(records)
    with pytest.raises(InvalidInputError, match="never lost a vote.*champ"):
        build_leaderboard(battles, on_degenerate="refuse")
    board = build_leaderboard(battles)
    assert board.rows[0].model == "champ" and board.rows[0].rating < 1600
    assert any("regularised" in w for w in board.warnings)


def test_unknown_category_and_options_are_refused(sample_battles):
    with pytest.raises(InvalidInputError, match="no battle is in category 'poetry'.*math"):
        build_leaderboard(sample_battles, category="poetry")
    with pytest.raises(InvalidInputError, match="unknown CI method"):
        build_leaderboard(sample_battles, ci="jackknife")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="'half' or 'drop'"):
        build_leaderboard(sample_battles, ties="third")  # type: ignore[arg-type]


def test_a_bad_contestant_in_the_settings_names_its_field(arena_kernel):
    from skyplex_arena.service import ArenaService

    with pytest.raises(InvalidInputError, match=r"plugins\.arena\.contestants\[1\]\.temperature: .*got 9"):
        ArenaService(arena_kernel, contestants=[{"name": "a"}, {"name": "b", "temperature": 9}])
    with pytest.raises(InvalidInputError, match=r"plugins\.arena\.contestants\[0\]\.name"):
        ArenaService(arena_kernel, contestants=[{"backend": "local"}, {"name": "b"}])
