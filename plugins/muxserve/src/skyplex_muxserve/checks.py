"""Checks for the numbers and keys of workload and placement files, each refusal naming its entry.

The files come from people (YAML by hand) and from clients (JSON over the gateway), so every value
is checked for its type and range before anything is computed from it: a boolean is not a count, a
fraction is not a GPU count, NaN and infinity are refused, and an unknown key (a typo such as
``avg_output_lenn``) is refused rather than silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from skyplex.errors import InvalidInputError

# Bounds that keep one request cheap to serve: the placement search tries every cut of the cluster
# (combinations of per-node patterns), so the cluster and LLM counts bound its work.
MAX_NODES = 64
MAX_GPUS_PER_NODE = 64
MAX_LLMS = 64  # 64 LLMs on 6 nodes of 8 GPUs: about 20 CPU seconds of search on a loaded 2-core machine
MAX_TOKENS = 32768  # mean prompt/output length; the profile stops at 2048 tokens
MAX_BATCH = 4096


def number(value: Any, field: str, what: str, *, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False) -> float:
    """``value`` as a finite float within [lo, hi] (``lo_open``: strictly above ``lo``), else an error naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInputError(f"{what} must be a number, got {value!r}", field=field)
    try:
        x = float(value)
    except (ValueError, OverflowError):
        raise InvalidInputError(f"{what} must be a number, got {value!r}", field=field) from None
    if not math.isfinite(x):
        raise InvalidInputError(f"{what} must be a finite number, got {value!r}", field=field)
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise InvalidInputError(f"{what} must be {'>' if lo_open else '>='} {lo:g}, got {value!r}", field=field)
    if hi is not None and x > hi:
        raise InvalidInputError(f"{what} must be <= {hi:g}, got {value!r}", field=field)
    return x


def integer(value: Any, field: str, what: str, *, lo: int, hi: int) -> int:
    """``value`` as a whole number within [lo, hi]: ``2.0`` is accepted, ``1.5`` and ``True`` are refused."""
    x = number(value, field, what)
    if x != int(x):
        raise InvalidInputError(f"{what} must be a whole number, got {value!r}", field=field)
    if not lo <= x <= hi:
        raise InvalidInputError(f"{what} must be between {lo} and {hi}, got {value!r}", field=field)
    return int(x)


def name(value: Any, field: str, what: str = "name") -> str:
    """A non-empty name: a string or a number written as one (YAML reads ``name: 7`` as an int)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInputError(f"{what} must be a string, got {value!r}", field=field)
    text = str(value).strip()
    if not text:
        raise InvalidInputError(f"{what} must not be empty", field=field)
    return text


def known_keys(data: Mapping[str, Any], allowed: Iterable[str], field: str, label: str | None = None) -> None:
    """Refuse keys outside ``allowed`` (a misspelt key would otherwise be ignored without a word)."""
    allowed = set(allowed)
    extra = sorted(str(k) for k in data if k not in allowed)
    if extra:
        raise InvalidInputError(f"{label or field}: unknown key(s) {extra}; known keys are {sorted(allowed)}", field=field)
