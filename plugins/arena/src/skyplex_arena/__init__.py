"""Chatbot Arena for skyplex: pairwise battles between anonymous models and Bradley-Terry leaderboards.

The Python API::

    from skyplex_arena import load_battles, build_leaderboard

    board = build_leaderboard(load_battles("votes.jsonl"), ci="sandwich")
    board.rows[0].model, board.rows[0].rating, board.rows[0].ci_low, board.rows[0].ci_high

Modules load lazily: importing the package costs nothing beyond the names below.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "ArenaEvaluator",
    "ArenaService",
    "BattleSet",
    "Contestant",
    "Leaderboard",
    "build_leaderboard",
    "fit_bradley_terry",
    "flag_voters",
    "load_battles",
    "online_elo",
]

_WHERE = {
    "ArenaEvaluator": "evaluator",
    "ArenaService": "service",
    "Contestant": "service",
    "BattleSet": "battles",
    "load_battles": "battles",
    "Leaderboard": "leaderboard",
    "build_leaderboard": "leaderboard",
    "fit_bradley_terry": "ratings",
    "online_elo": "ratings",
    "flag_voters": "anomaly",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'skyplex_arena' has no attribute {name!r}")
