"""Battles: the votes the ratings are fitted on, read from the common battle format and checked.

A battle is one vote between two models: ``model_a``, ``model_b`` and ``winner`` (``model_a``,
``model_b``, ``tie`` or ``both_bad``; ``tie (bothbad)`` is read as ``both_bad``). Optional fields:
``id``, ``voter`` (or ``judge``/``voter_id``), ``tstamp``, ``category`` (a string or a list) or
``category_tag`` (the nested tags of the Arena releases), and style features of both answers
(``style_a``/``style_b`` dicts, or the ``conv_metadata`` block of the Arena releases).

:class:`BattleSet` keeps them as numpy columns, so every fit downstream is vectorised.
"""

from __future__ import annotations

import gzip
import math
import zlib
import io
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError

log = logging.getLogger(__name__)

#: outcome codes, from model_a's point of view
A_WINS, B_WINS, TIE, BOTH_BAD = 0, 1, 2, 3
OUTCOMES = ("model_a", "model_b", "tie", "both_bad")
#: every spelling of a winner label we accept, and the outcome it means
WINNER_LABELS: dict[str, int] = {
    "model_a": A_WINS, "a": A_WINS,
    "model_b": B_WINS, "b": B_WINS,
    "tie": TIE,
    "both_bad": BOTH_BAD, "tie (bothbad)": BOTH_BAD, "bothbad": BOTH_BAD, "both bad": BOTH_BAD,
}
#: style features, in the order of the style columns
STYLE_FEATURES = ("length", "headers", "lists", "bold")
#: a prompt is "hard" when it meets at least this many of the 7 criteria tags (the Arena's convention)
HARD_PROMPT_CRITERIA = 6


def parse_winner(label: Any, *, where: str = "") -> int:
    """The outcome code for a winner label, or an error naming the label and the accepted ones."""
    code = WINNER_LABELS.get(str(label).strip().lower()) if isinstance(label, str) else None
    if code is None:
        raise InvalidInputError(
            f"unknown winner label {label!r}{where}; use one of model_a, model_b, tie, both_bad",
            field="winner",
        )
    return code


def categories_of(record: Mapping[str, Any]) -> tuple[str, ...]:
    """Category names of one battle record: its ``category`` field(s) and its flattened ``category_tag``.

    From the Arena's nested tags: ``math``, ``creative_writing``, ``instruction_following``, each
    criterion that holds (``complexity``, ``creativity``, ...), and ``hard_prompts`` when at least
    six of the seven criteria hold.
    """
    cats: list[str] = []
    plain = record.get("category")
    if isinstance(plain, str) and plain:
        cats.append(plain)
    elif isinstance(plain, (list, tuple)):
        cats.extend(str(c) for c in plain if c)
    tags = record.get("category_tag")
    if isinstance(tags, Mapping):
        for group, values in tags.items():
            if not isinstance(values, Mapping):
                continue
            base = str(group).split("_v")[0]
            if base == "criteria":
                met = [k for k, v in values.items() if v is True]
                cats.extend(met)
                if len(met) >= HARD_PROMPT_CRITERIA:
                    cats.append("hard_prompts")
            elif values.get(base) is True:
                cats.append("instruction_following" if base == "if" else base)
    return tuple(cats)


def style_of(record: Mapping[str, Any], side: str) -> list[float] | None:
    """Style features (length, headers, lists, bold) of answer ``side`` ("a"/"b"), or None if absent."""
    own = record.get(f"style_{side}")
    if isinstance(own, Mapping):
        try:
            values = [float(own.get(k, 0.0) or 0.0) for k in STYLE_FEATURES]
        except (TypeError, ValueError):
            raise InvalidInputError(f"style_{side} of battle {record.get('id')!r} has a non-numeric value: {own}",
                                    field=f"style_{side}") from None
        if not all(math.isfinite(v) and v >= 0 for v in values):  # counts: NaN/inf/negative would poison the fit
            raise InvalidInputError(f"style_{side} of battle {record.get('id')!r} must hold counts (finite, not "
                                    f"negative): {own}", field=f"style_{side}")
        return values
    meta = record.get("conv_metadata")
    if isinstance(meta, Mapping) and f"sum_assistant_{side}_tokens" in meta:
        def total(key: str) -> float:
            value = meta.get(f"{key}_{side}") or {}
            return float(sum(value.values())) if isinstance(value, Mapping) else float(value)

        return [float(meta[f"sum_assistant_{side}_tokens"]), total("header_count"), total("list_count"),
                total("bold_count")]
    return None


@dataclass
class BattleSet:
    """Battles as columns: model indices, outcome codes, and optional voters, times, categories, style."""

    models: list[str]
    model_a: np.ndarray  # int32 indices into models
    model_b: np.ndarray
    outcome: np.ndarray  # int8 outcome codes
    ids: list[str] = field(default_factory=list)
    voters: list[str | None] = field(default_factory=list)
    categories: list[tuple[str, ...]] = field(default_factory=list)
    #: (n, 2, 4) style features of answers a and b, NaN where unknown; None when no battle has any
    style: np.ndarray | None = None
    #: what was dropped while reading, and why (self-battles), for the report
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.outcome.shape[0])

    @property
    def has_style(self) -> bool:
        """True when every battle carries style features for both answers."""
        return self.style is not None and not np.isnan(self.style).any()

    def subset(self, mask: np.ndarray) -> BattleSet:
        """The battles where ``mask`` holds, keeping the model list (indices stay valid)."""
        idx = np.flatnonzero(mask)
        pick = lambda xs: [xs[i] for i in idx] if xs else []  # noqa: E731
        return BattleSet(
            models=list(self.models), model_a=self.model_a[idx], model_b=self.model_b[idx], outcome=self.outcome[idx],
            ids=pick(self.ids), voters=pick(self.voters), categories=pick(self.categories),
            style=None if self.style is None else self.style[idx], notes=list(self.notes),
        )

    def compact(self) -> BattleSet:
        """The same battles with models that appear in none of them removed from the model list."""
        used = np.unique(np.concatenate([self.model_a, self.model_b])) if len(self) else np.array([], dtype=np.int32)
        remap = np.full(len(self.models), -1, dtype=np.int32)
        remap[used] = np.arange(used.size, dtype=np.int32)
        return BattleSet(
            models=[self.models[i] for i in used], model_a=remap[self.model_a], model_b=remap[self.model_b],
            outcome=self.outcome, ids=self.ids, voters=self.voters, categories=self.categories, style=self.style,
            notes=self.notes,
        )

    def in_category(self, category: str | None) -> BattleSet:
        """Only the battles tagged ``category`` (None or "all": every battle); an error if none are."""
        if category in (None, "", "all", "overall"):
            return self
        mask = np.fromiter((category in cats for cats in self.categories), dtype=bool, count=len(self))
        if not mask.any():
            known = sorted({c for cats in self.categories for c in cats})
            raise InvalidInputError(
                f"no battle is in category {category!r}; categories present: {', '.join(known) or 'none'}",
                field="category",
            )
        return self.subset(mask).compact()

    def excluding_voters(self, voters: Iterable[str]) -> BattleSet:
        """The battles not cast by any of ``voters``."""
        drop = set(voters)
        if not drop or not self.voters:
            return self
        mask = np.fromiter((v not in drop for v in self.voters), dtype=bool, count=len(self))
        return self.subset(mask).compact()

    def category_names(self) -> list[str]:
        """Every category some battle carries, sorted."""
        return sorted({c for cats in self.categories for c in cats})

    def to_records(self) -> list[dict[str, Any]]:
        """The battles back in the common battle format (for export and round trips)."""
        out = []
        for i in range(len(self)):
            rec: dict[str, Any] = {"model_a": self.models[self.model_a[i]], "model_b": self.models[self.model_b[i]],
                                   "winner": OUTCOMES[self.outcome[i]]}
            if self.ids:
                rec["id"] = self.ids[i]
            if self.voters and self.voters[i] is not None:
                rec["voter"] = self.voters[i]
            if self.categories and self.categories[i]:
                rec["category"] = list(self.categories[i])
            if self.style is not None and not np.isnan(self.style[i]).any():
                rec["style_a"] = dict(zip(STYLE_FEATURES, self.style[i, 0].tolist()))
                rec["style_b"] = dict(zip(STYLE_FEATURES, self.style[i, 1].tolist()))
            out.append(rec)
        return out


def battles_from_records(records: Iterable[Mapping[str, Any]], *, source: str = "input") -> BattleSet:
    """A :class:`BattleSet` from battle records, refusing bad ones with the record's position and id.

    Self-battles (a model against itself) carry no information about ratings: they are dropped and
    counted in ``notes`` rather than refused, because real logs contain a few. Unknown winner labels,
    missing model names and an empty input are errors.
    """
    index: dict[str, int] = {}
    a_idx: list[int] = []
    b_idx: list[int] = []
    outcomes: list[int] = []
    ids: list[str] = []
    voters: list[str | None] = []
    cats: list[tuple[str, ...]] = []
    styles: list[list[list[float]] | None] = []
    self_battles = 0
    seen = 0
    for n, rec in enumerate(records, start=1):
        seen += 1
        if not isinstance(rec, Mapping):
            raise InvalidInputError(f"{source}: battle #{n} is {type(rec).__name__}, not an object with "
                                    "model_a, model_b and winner", field="battles")
        where = f" in battle #{n} (id {rec.get('id')!r}) of {source}"
        a, b = rec.get("model_a"), rec.get("model_b")
        if not isinstance(a, str) or not a or not isinstance(b, str) or not b:
            raise InvalidInputError(f"missing or empty model_a/model_b{where}; each battle names two models",
                                    field="model_a")
        code = parse_winner(rec.get("winner"), where=where)
        if a == b:
            self_battles += 1
            continue
        a_idx.append(index.setdefault(a, len(index)))
        b_idx.append(index.setdefault(b, len(index)))
        outcomes.append(code)
        ids.append(str(rec.get("id") or rec.get("question_id") or f"{source}#{n}"))
        voter = rec.get("voter", rec.get("voter_id", rec.get("judge")))
        voters.append(None if voter is None else str(voter))
        cats.append(categories_of(rec))
        sa, sb = style_of(rec, "a"), style_of(rec, "b")
        styles.append([sa, sb] if sa is not None and sb is not None else None)
    if seen == 0:
        raise InvalidInputError(f"{source} holds no battles; give JSON/JSONL records with model_a, model_b, winner",
                                field="battles")
    notes = []
    if self_battles:
        notes.append(f"dropped {self_battles} self-battle(s) (a model against itself carries no rating information)")
        log.warning("%s: %s", source, notes[-1])
    if not outcomes:
        raise InvalidInputError(f"{source}: every battle is a model against itself; nothing to rate", field="battles")
    style = None
    if any(s is not None for s in styles):
        style = np.full((len(styles), 2, len(STYLE_FEATURES)), np.nan)
        for i, s in enumerate(styles):
            if s is not None:
                style[i] = s
    return BattleSet(
        models=list(index), model_a=np.asarray(a_idx, dtype=np.int32), model_b=np.asarray(b_idx, dtype=np.int32),
        outcome=np.asarray(outcomes, dtype=np.int8), ids=ids, voters=voters, categories=cats, style=style, notes=notes,
    )


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Battle records from a JSON array, a JSON object with a ``battles`` list, or JSONL (``.gz`` too)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"votes file {path} does not exist", field="votes") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read votes file {path}: {exc.strerror}", field="votes") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt: EOFError is not "interrupted"
            raise InvalidInputError(f"votes file {path} is a damaged gzip file ({exc or type(exc).__name__}); "
                                    "download or copy it again", field="votes") from None
    return parse_records(raw.decode("utf-8", errors="replace"), source=str(path))


def parse_records(text: str, *, source: str = "input") -> list[dict[str, Any]]:
    """Battle records from JSON or JSONL text (see :func:`read_records`)."""
    stripped = text.lstrip()
    if not stripped:
        raise InvalidInputError(f"{source} is empty; give JSON/JSONL records with model_a, model_b, winner",
                                field="battles")
    if stripped[0] == "[" or (stripped[0] == "{" and "\n{" not in stripped.rstrip()):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source} is not valid JSON: {exc}", field="battles") from None
        if isinstance(data, Mapping):
            data = data.get("battles", data.get("votes", [data] if "model_a" in data else None))
        if not isinstance(data, list):
            raise InvalidInputError(f"{source}: expected a list of battles (or {{'battles': [...]}})", field="battles")
        return data
    records = []
    for n, line in enumerate(io.StringIO(stripped), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source}, line {n} is not valid JSON: {exc.msg}", field="battles") from None
    return records


def load_battles(source: str | Path | Sequence[Mapping[str, Any]]) -> BattleSet:
    """Battles from a file path or from records already in memory."""
    if isinstance(source, (str, Path)):
        return battles_from_records(read_records(source), source=str(source))
    return battles_from_records(source)
