"""A bounded search over the readings of compound conditions, for a function no global preference
proves.

Each compound condition has several equivalent readings (``a and (b if c else 0)`` or
``a and (c and (1 or 0))``), and the peephole pass threads each one's jumps in its own order, so only
one of them recompiles to the original bytecode. The decompiler's preferences pick one reading style
for the whole function; a function whose conditions need different styles is searched here instead:
one condition at a time, each of its readings is tried, and a reading is kept when the recompiled
code agrees with the original for longer than before. The first reading the recompile check proves
wins, exactly as for the preferences: the search only chooses among guesses, the proof stays the
same, so nothing it finds can be wrong."""

from __future__ import annotations

import types
from typing import Any, Callable

from .conditions import CHOICES, PREFERENCE, SEEN

#: the most whole-function attempts one search may make
BUDGET = 48


def search(code: types.CodeType, preferences: list[int], attempt: Callable[[list], Any]) -> Any | None:
    """The first proven decompilation over readings of the conditions, under each of ``preferences``
    in turn; ``attempt(sources)`` decompiles once under the current settings, appending the rendered
    source (proven or not) to ``sources``. None when nothing within the budget is proven."""
    left = BUDGET
    for preference in preferences:
        chosen = PREFERENCE.set(preference)
        try:
            found, left = _search_one(code, attempt, left)
        finally:
            PREFERENCE.reset(chosen)
        if found is not None or left <= 0:
            return found
    return None


def _search_one(code: types.CodeType, attempt: Callable[[list], Any], left: int) -> tuple[Any | None, int]:
    choices: dict = {}
    result, seen, progress = _run(code, attempt, choices)
    left -= 1
    if result.ok:
        return result, left
    k = 0
    while k < len(seen) and left > 0:
        key, count = seen[k]
        for alternative in range(1, count):
            if left <= 0:
                break
            trial = {**choices, key: alternative}
            result, more, reached = _run(code, attempt, trial)
            left -= 1
            if result.ok:
                return result, left
            if reached > progress:  # this reading takes the recompiled code further: keep it
                choices, progress = trial, reached
                seen += [entry for entry in more if all(entry[0] != s[0] for s in seen)]
        k += 1
    return None, left


def _run(code: types.CodeType, attempt: Callable[[list], Any], choices: dict) -> tuple[Any, list, tuple]:
    seen: list = []
    sources: list = []
    chosen, told = CHOICES.set(choices), SEEN.set(seen)
    try:
        result = attempt(sources)
    finally:
        CHOICES.reset(chosen)
        SEEN.reset(told)
    return result, seen, (agreement(code, sources[-1]) if sources and not result.ok else (-1, -1))


def agreement(original: types.CodeType, source: str) -> tuple[int, int]:
    """How far the recompiled ``source`` agrees with ``original``: the length of the common prefix of
    their instructions (nested code objects after their parent's) with jump targets left out, then
    with them; (-1, -1) when it does not compile."""
    from .decompiler import compile_like, find_code

    try:
        rebuilt = find_code(compile_like(original, source), original.co_name)
    except SyntaxError:
        return (-1, -1)
    if rebuilt is None:
        return (-1, -1)
    a, b = _flat(original), _flat(rebuilt)
    return (_common(_masked(a), _masked(b)), _common(a, b))


def _flat(code: types.CodeType) -> list[tuple]:
    from .decompiler import _loaded_code, _real_code

    try:
        shape = _real_code(code)[0]
    except Exception:  # an exception table that does not parse: compared by the check itself
        return []
    for nested in _loaded_code(code):
        shape = shape + _flat(nested)
    return shape


def _masked(shape: list[tuple]) -> list[tuple]:
    return [(op, arg, "to") if isinstance(value, tuple) and value[:1] == ("to",) else (op, arg, value)
            for op, arg, value in shape]


def _common(a: list, b: list) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
