"""``else: pass`` where the original had it: CPython 3.12 and 3.13 keep an empty ``else`` arm.

``if a: x = 1`` followed by the end of a loop body, an ``except`` clause or a function compiles to
one copy of what comes after (the loop's back-jump, the clause's exit, ``return``); written with
``else: pass``, 3.12 and 3.13 keep the ``pass`` line's ``NOP`` or the exit itself as an arm of its
own and copy the exit into the ``then`` arm, so the two sources compile differently. After the
version rewrites the stream has 3.11's shape, in which the two read the same, so the statement
reader builds the same ``If`` with an empty ``orelse`` for both and the source it writes has no
``else``: the recompile check refuses it.

The stream says where the original had such an arm: a forward conditional jump, over a then arm
holding a statement on a line after the test's, lands on an instruction that starts a source line of
its own (the ``pass``), right after the then arm's exit, and runs (``NOP``s aside) only into a copy
of that exit: the same instructions that end the then arm (the loop's back-jump; the clause's
``POP_EXCEPT``, clean-up of its ``as`` name and what follows; a return). Only code that
shows this gets a second reading, and only on 3.12 and 3.13: the ``If``s with an empty ``orelse``
are written with ``else: pass`` (all of them, then each choice of as many as the stream marks, up
to ``LIMIT`` tries in all), each proven by the same exact recompile check. A wrong
choice is refused, never output.

A ``try`` statement's ``else`` clause is such an arm too, when every ``except`` clause leaves (a
``return``, ``raise``, ``break`` or ``continue``): ``try: B`` / ``except E: return`` / ``else: C`` runs
exactly as ``try: B`` / ``except E: return`` followed by ``C``, and 3.11 lays the two out alike once
3.12's handlers are moved back, but 3.12 and 3.13 emit the handlers in source order, so the clause's
handler comes after those of the statements in ``C`` only when ``C`` is its ``else`` clause. When no
other reading passes, the code after such a ``try`` (to the end of its block) is written as its
``else`` clause: after every such statement at once, then after each one alone (``LIMIT`` tries in
all), each again proven by the exact recompile check.
"""

from __future__ import annotations

import contextvars
import dis
import itertools
import sys
import types
from dataclasses import replace
from typing import Any, Callable

from .handlers import Try
from .values import _ends

LIMIT = 8  # readings tried per function, the first one (every empty arm written) included

_EXITS = {"RETURN_VALUE", "RETURN_CONST", "JUMP_BACKWARD", "JUMP_FORWARD", "JUMP", "JUMP_NO_INTERRUPT",
          "JUMP_BACKWARD_NO_INTERRUPT", "RERAISE", "RAISE_VARARGS"}
_RAISES = {"RERAISE", "RAISE_VARARGS"}
_LONGEST = 12  # instructions of an exit the compiler copies (a clause's clean-up and a return), NOPs too


class _Reading:
    """Which empty arms (by their order in the rendering) are written, and how many were met."""

    def __init__(self, chosen: frozenset[int] | None):
        self.chosen = chosen  # None: every one
        self.seen = 0


_READING: contextvars.ContextVar[_Reading | None] = contextvars.ContextVar("empty_arms", default=None)
#: whether this rendering leaves the function's final ``return None`` implicit
_IMPLICIT: contextvars.ContextVar[bool] = contextvars.ContextVar("implicit_end", default=False)
#: which ``try`` statements, by their order in the rendering, take the code after them as ``else``
_CLAUSES: contextvars.ContextVar[_Reading | None] = contextvars.ContextVar("else_clauses", default=None)


def restart() -> None:
    """A new rendering of the whole function begins: count the empty arms from the first again."""
    for var in (_READING, _CLAUSES):
        reading = var.get()
        if reading is not None:
            reading.seen = 0


def else_pass(node: Any) -> bool:
    """Whether the ``If`` ``node`` (its ``orelse`` empty) is written with ``else: pass``."""
    reading = _READING.get()
    if reading is None or node.orelse or not node.body:
        return False
    index = reading.seen
    reading.seen += 1
    return reading.chosen is None or index in reading.chosen


def else_clauses(stmts: list) -> list:
    """``stmts`` with the statements after a chosen ``try`` (no ``else`` or ``finally`` clause, every
    ``except`` clause leaving) moved into its ``else`` clause; ``stmts`` itself outside a reading."""
    reading = _CLAUSES.get()
    if reading is None:
        return stmts
    for k, node in enumerate(stmts[:-1]):
        if (not isinstance(node, Try) or node.orelse or node.final is not None or not node.handlers
                or not all(_ends(body) for _, _, body in node.handlers)):
            continue
        index = reading.seen
        reading.seen += 1
        if reading.chosen is None or index in reading.chosen:
            return stmts[:k] + [replace(node, orelse=list(stmts[k + 1:]))]
    return stmts


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def empty_arm_marks(code: types.CodeType) -> int:
    """How many places in ``code`` (nested code objects included) show an empty arm kept on its own:
    a forward conditional jump, over a then arm with a statement on a line of its own, to a line of
    its own after that statement's, holding (``NOP``s aside) nothing but a copy of the exit that
    ends the then arm just before it."""
    marks = 0
    for each in _codes(code):
        instrs = list(dis.get_instructions(each))
        at = {ins.offset: k for k, ins in enumerate(instrs)}
        for ins in instrs:
            if "JUMP_IF" not in ins.opname or not isinstance(ins.argval, int) or ins.argval <= ins.offset:
                continue
            k = at.get(ins.argval)
            if k is None or k == 0 or instrs[k - 1].opname not in _EXITS:
                continue
            line = instrs[k].positions.lineno if instrs[k].positions else None
            if line is None or line == getattr(instrs[k - 1].positions, "lineno", None):
                continue
            # the then arm holds a statement of its own, written between the test and the empty arm
            test = ins.positions.lineno if ins.positions else None
            lines = {each.positions.lineno for each in instrs[at[ins.offset] + 1:k] if each.positions}
            if test is None or not any(isinstance(n, int) and test < n < line for n in lines):
                continue
            run = []  # the arm and what it runs into, up to the exit: a copy of the then arm's end
            for follow in instrs[k:k + _LONGEST]:
                if follow.opname != "NOP":
                    run.append((follow.opname, follow.argval))
                if follow.opname in _EXITS:
                    break
            if not run or run[-1][0] not in _EXITS or run[-1][0] in _RAISES:  # a match's re-raise is no arm
                continue
            marks += [(each.opname, each.argval) for each in instrs[k - len(run):k]] == run
    return marks


def second_reading(code: types.CodeType, attempt: Callable[[], Any]) -> Any | None:
    """A proven decompilation with ``else: pass`` written where the stream shows an empty arm was
    kept, or None. ``attempt`` renders and checks the whole function once."""
    marks = empty_arm_marks(code) if sys.version_info[:2] in ((3, 12), (3, 13)) else 0
    return _search(_READING, marks, attempt) if marks else None


def implicit_end() -> bool:
    """Whether this rendering leaves the function's final ``return None`` implicit (as the decompiler
    does where a rule dropped the compiler's copies of it)."""
    return _IMPLICIT.get()


def last_readings(attempt: Callable[[], Any]) -> Any | None:
    """A proven decompilation (3.12 and 3.13 only) with the function's final ``return None`` left
    implicit, or else with the code after a ``try`` whose clauses all leave written as its ``else``
    clause; None when neither passes. Tried last: only code refused by every other reading pays.

    A final ``return None`` written out is a statement of its own line: 3.12 and 3.13 then keep the
    function's end as one block where they copy a short implicit end (``y = a`` and the return)
    into an arm that jumped to it, keeping the arm's ``pass`` as a ``NOP``."""
    if sys.version_info[:2] not in ((3, 12), (3, 13)):
        return None
    token = _IMPLICIT.set(True)
    try:
        result = attempt()
    finally:
        _IMPLICIT.reset(token)
    return result if result.ok else _search(_CLAUSES, None, attempt)


def _search(var: contextvars.ContextVar, marks: int | None, attempt: Callable[[], Any]) -> Any | None:
    """The first reading under ``var`` that passes: every candidate chosen, then each choice of
    ``marks`` candidates (of one candidate when ``marks`` is None), ``LIMIT`` tries in all."""
    everything = _Reading(None)
    result = _under(var, everything, attempt)
    if result.ok:
        return result
    count = everything.seen
    if count < 2:  # one candidate: the reading above chose it
        return None
    tries = 1
    size = 1 if marks is None else marks
    if size < count:
        for chosen in itertools.combinations(range(count), size):
            if tries >= LIMIT:
                return None
            tries += 1
            result = _under(var, _Reading(frozenset(chosen)), attempt)
            if result.ok:
                return result
    return None


def _under(var: contextvars.ContextVar, reading: _Reading, attempt: Callable[[], Any]) -> Any:
    token = var.set(reading)
    try:
        return attempt()
    finally:
        var.reset(token)
