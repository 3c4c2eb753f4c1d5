"""The ``arena`` evaluator: Bradley-Terry ratings with intervals for the subjects, from a votes source.

``suite.options``:

* ``votes``: a path to a JSON/JSONL(.gz) battle file, ``"store"`` for the votes in the kernel store,
  or a list of battle records (default ``"store"``).
* ``ci``: ``sandwich`` (default), ``bootstrap`` or ``none``; ``rounds``, ``seed``, ``workers`` for the bootstrap.
* ``category``, ``level`` (0.95), ``ties``/``both_bad`` (``half`` or ``drop``), ``style_control``,
  ``exclude_flagged`` (drop the votes of voters flagged as anomalous), ``on_degenerate``
  (``regularise`` or ``refuse``).

Ratings are fitted on every model in the votes (a rating is relative to the whole pool); the report
scores the subjects. A subject with no votes is an error naming the models that have some.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import Evaluator, ItemRecord, ProgressCallback, Report, Score, Subject, Suite

from .anomaly import flagged_voters
from .battles import BattleSet, load_battles
from .leaderboard import build_leaderboard

if TYPE_CHECKING:
    from skyplex import Kernel

log = logging.getLogger(__name__)

_LEADERBOARD_OPTIONS = {"ci", "level", "category", "rounds", "seed", "workers", "ties", "both_bad", "style_control",
                        "on_degenerate", "prior_ties", "elo"}
_KNOWN_OPTIONS = _LEADERBOARD_OPTIONS | {"votes", "exclude_flagged"}


class ArenaEvaluator(Evaluator):
    """Bradley-Terry ratings (Chatbot Arena) of models from pairwise human votes."""

    name = "arena"

    def __init__(self, *, kernel: Kernel | None = None, **defaults: Any) -> None:
        unknown = set(defaults) - _KNOWN_OPTIONS
        if unknown:
            raise InvalidInputError(f"unknown arena option(s) {sorted(unknown)}; known: {sorted(_KNOWN_OPTIONS)}",
                                    field="options")
        self.kernel = kernel
        self.defaults = defaults

    def _battles(self, source: Any) -> BattleSet:
        if source in (None, "store"):
            if self.kernel is None:
                raise InvalidInputError("votes='store' needs the evaluator created by a kernel "
                                        "(kernel.evaluators.create('arena')); or give a votes file", field="votes")
            from .service import ArenaService

            return ArenaService(self.kernel).stored_battles()
        if isinstance(source, (list, tuple)):
            return load_battles(list(source))
        if isinstance(source, str):
            return load_battles(source)
        raise InvalidInputError(f"votes must be a file path, 'store' or a list of battles, got {type(source).__name__}",
                                field="votes")

    def evaluate(self, subjects: Sequence[Subject], suite: Suite, *,
                 progress: ProgressCallback | None = None) -> Report:
        """Rate the subjects; scores are ratings with their intervals, items one per subject."""
        options = {**self.defaults, **suite.options}
        unknown = set(options) - _KNOWN_OPTIONS
        if unknown:
            raise InvalidInputError(f"unknown suite option(s) {sorted(unknown)}; known: {sorted(_KNOWN_OPTIONS)}",
                                    field="suite.options")
        report = progress or (lambda d, t, m="": None)
        battles = self._battles(options.get("votes", "store"))
        names = [s.name for s in subjects] or list(battles.models)
        missing = [n for n in names if n not in battles.models]
        if missing:
            raise InvalidInputError(
                f"no votes for {', '.join(map(repr, missing))} in this votes source; models with votes: "
                f"{', '.join(sorted(battles.models))}", field="subjects")
        excluded = flagged_voters(battles) if options.get("exclude_flagged") else []
        board = build_leaderboard(battles, exclude_voters=excluded,
                                  **{k: v for k, v in options.items() if k in _LEADERBOARD_OPTIONS},
                                  progress=lambda d, t, m: report(d, t, m))
        rated = {r.model: r for r in board.rows}
        lost = [n for n in names if n not in rated]
        if lost:
            raise InvalidInputError(f"no votes left for {', '.join(map(repr, lost))} after the category/voter "
                                    "filters", field="subjects")
        scores = [Score(subject=n, metric="rating", value=rated[n].rating, ci_low=rated[n].ci_low,
                        ci_high=rated[n].ci_high, n=rated[n].votes) for n in names]
        items = [ItemRecord(item_id=n, subject=n, score=rated[n].rating,
                            data=rated[n].model_dump(exclude={"model", "rating"})) for n in names]
        return Report(
            evaluator=self.name, suite=suite.name, scores=scores, items=items,
            metadata={"ci": board.ci, "level": board.level, "category": board.category, "battles": board.battles,
                      "models": board.models, "warnings": board.warnings, "excluded_voters": board.excluded_voters,
                      "style_coefficients": board.style_coefficients, "options": board.options,
                      "seconds": board.seconds},
        )
