"""Symbolic execution of one code object's instructions into a statement tree.

Values on the simulated stack are source fragments (``Expr``) or markers for things that are not yet
expressions (the NULL a call pops, an iterator, a function being made). Control flow is rebuilt from
the jump shapes the compiler emits; any shape this module does not know raises ``Refusal`` naming the
instruction, because a guess could produce a different program.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any


class Refusal(Exception):
    """The decompiler will not guess: ``offset``/``opname`` name the instruction it could not place."""

    def __init__(self, offset: int, opname: str, reason: str) -> None:
        super().__init__(f"offset {offset} {opname}: {reason}")
        self.offset, self.opname, self.reason = offset, opname, reason


@dataclass
class Expr:
    text: str
    atom: bool = False  # safe to use without parentheses

    def p(self) -> str:
        return self.text if self.atom else f"({self.text})"


@dataclass
class Waiting(Expr):
    """A value set aside under a ``finally`` body (the try's ``return`` value): on the stack, but not an
    expression being built, so statements and loops read around it as on an empty stack."""


def busy(stack: list) -> bool:
    """Whether an expression is being built on ``stack`` (a value set aside does not count)."""
    return any(isinstance(s, Expr) and not isinstance(s, Waiting) for s in stack)


@dataclass
class Compare(Expr):
    left: Any = None
    pairs: list = field(default_factory=list)


class Null:
    """The NULL pushed before a callable (PUSH_NULL, LOAD_GLOBAL with the low bit, LOAD_METHOD)."""


@dataclass
class Iter:
    source: Expr


@dataclass
class Item:
    """The value FOR_ITER pushes: its first store is the loop target."""


@dataclass
class Func:
    code: types.CodeType
    defaults: Expr | None = None
    kwdefaults: Expr | None = None


@dataclass
class Unpack:
    """One slot of UNPACK_SEQUENCE; the shared ``names`` list fills as the slots are stored."""
    value: Any
    names: list
    size: int


@dataclass
class InPlace:
    target: Expr
    op: str
    value: Expr


@dataclass
class GenMarker:
    """What RETURN_GENERATOR or a yield used as a statement leaves for POP_TOP to discard."""
    text: str = ""
    element: str = ""


# statement tree ------------------------------------------------------------------------------------
@dataclass
class Line:
    text: str


@dataclass
class If:
    cond: str
    body: list
    orelse: list


@dataclass
class For:
    target: str
    iter: str
    body: list


@dataclass
class While:
    cond: str
    body: list


@dataclass
class ForTarget:
    target: str


@dataclass
class Append:
    """A comprehension's element: LIST_APPEND/SET_ADD/MAP_ADD, or a genexpr's yield."""
    text: str


@dataclass
class Return:
    """``return value``, or with ``raw`` a statement that also leaves the block (``raise ...``)."""
    value: Any
    raw: bool = False


@dataclass
class Loop:
    head: int       # index of the instruction ``continue`` jumps to
    exit: int       # index just after the loop
    is_for: bool
