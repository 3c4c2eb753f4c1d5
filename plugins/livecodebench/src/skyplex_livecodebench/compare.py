"""Output comparison: the benchmark's own semantics (the default) and a float-tolerant checker.

Benchmark semantics for stdin problems: both texts are stripped and split on newlines, each line is
stripped; the line counts must match; each line must be equal, or else both lines must parse as
whitespace-separated decimals that are equal element by element (``Decimal``, so ``1.0`` equals
``1`` but ``0.3333`` does not equal ``0.33333``). Functional results compare with Python's ``==``
after a top-level tuple becomes a list.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any


def stripped_lines(text: str) -> list[str]:
    """The benchmark's normal form of an output: stripped, split on newlines, each line stripped."""
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(tok) for tok in line.split()]
    except (InvalidOperation, ValueError):
        return None


def compare_stdout(got: str, expected: str) -> tuple[bool, str]:
    """Benchmark comparison of one stdout; returns (equal, why not)."""
    a, b = stripped_lines(got), stripped_lines(expected)
    if len(a) != len(b):
        return False, f"output has {len(a)} lines, expected {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        dx, dy = _decimals(x), _decimals(y)
        if dx is None or dy is None or dx != dy:
            return False, f"line {i + 1} differs: {_short(x)!r} != {_short(y)!r}"
    return True, ""


def compare_stdout_tolerant(got: str, expected: str, *, rel: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """A checker that accepts numbers within ``rel``/``abs_tol`` token by token (tokens across all lines)."""
    a, b = got.split(), expected.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            return False
        if not (math.isfinite(fx) and math.isfinite(fy) and math.isclose(fx, fy, rel_tol=rel, abs_tol=abs_tol)):
            return False
    return True


def compare_value(got: Any, expected: Any) -> bool:
    """Benchmark comparison of a functional result (``==`` after a top-level tuple becomes a list)."""
    if isinstance(got, tuple):
        got = list(got)
    try:
        return bool(got == expected)
    except Exception:  # an exotic value whose == raises is simply not equal
        return False


def compare_value_tolerant(got: Any, expected: Any, *, rel: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Like :func:`compare_value` but numbers (also nested in lists) may differ within tolerance."""
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(got, bool) or isinstance(expected, bool):
        return got == expected
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        return math.isclose(got, expected, rel_tol=rel, abs_tol=abs_tol)
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(compare_value_tolerant(x, y) for x, y in zip(got, expected))
    return compare_value(got, expected)


def line_diff(got: str, expected: str, *, context: int = 2) -> str:
    """A short diff around the first differing line, for people and for self-repair feedback."""
    a, b = stripped_lines(got), stripped_lines(expected)
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "<missing>"
        y = b[i] if i < len(b) else "<missing>"
        if x != y:
            lo = max(0, i - context)
            rows = [f"  {a[j] if j < len(a) else ''}" for j in range(lo, i)]
            rows += [f"- {_short(y)}", f"+ {_short(x)}"]
            return f"line {i + 1}:\n" + "\n".join(rows)
    return ""


def _short(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n // 2] + " ... " + text[-n // 2:]
