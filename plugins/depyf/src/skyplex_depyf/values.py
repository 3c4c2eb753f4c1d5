"""Source fragments for values: constants as literals, tuples, f-string pieces, and the small
markers the executor's rules share."""

from __future__ import annotations

import dis
from dataclasses import dataclass
from typing import Any

from .symbolic import Expr, Line, Refusal, Return


@dataclass
class Chain:
    """``a = b = value``: the copies COPY 1 makes for each extra target, filled in as they are stored."""
    value: Expr
    needed: int
    names: list


COMPREHENSIONS = {"<listcomp>": ("[", "]"), "<setcomp>": ("{", "}"), "<dictcomp>": ("{", "}"),
                  "<genexpr>": ("(", ")")}


def const_expr(value: Any, where: dis.Instruction) -> Expr:
    """A constant as source; refuses values whose repr does not read back as the same constant."""
    if value is None or value is Ellipsis or isinstance(value, (bool, int, str, bytes)):
        return Expr("..." if value is Ellipsis else repr(value), atom=not (isinstance(value, int) and value < 0))
    if isinstance(value, float):
        text = repr(value)
        if text in ("inf", "-inf", "nan") or (value == 0 and text.startswith("-")):
            raise Refusal(where.offset, where.opname, f"float constant {text} has no literal")
        return Expr(text, atom=value >= 0)
    if isinstance(value, complex):
        if value.real != 0:
            raise Refusal(where.offset, where.opname, f"complex constant {value!r} is not a literal")
        return Expr(repr(value), atom=False)
    if isinstance(value, (tuple, frozenset)):
        items = [const_expr(v, where).text for v in value]
        if isinstance(value, frozenset):
            return Expr("frozenset({" + ", ".join(items) + "})" if items else "frozenset()", atom=True)
        return _tuple(items)
    raise Refusal(where.offset, where.opname, f"constant of type {type(value).__name__}")


def _ends(stmts: list) -> bool:
    """Whether a block ends by leaving it (return, break, continue): its stack no longer matters."""
    last = stmts[-1] if stmts else None
    return isinstance(last, Return) or (isinstance(last, Line) and last.text in ("break", "continue"))


def _tuple(items: list) -> Expr:
    expr = Expr("(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")", atom=True)
    expr.items = items
    return expr


def _paren(text: str) -> str:
    return f"({text})"


def _fstring_body(part: str, ins: dis.Instruction) -> str:
    """The inside of an f-string for one BUILD_STRING part: a formatted field or a literal piece."""
    if part.startswith("f'") and part.endswith("'"):
        return part[2:-1]
    if part.startswith("'") and part.endswith("'") and '"' not in part and "\\" not in part:
        return part[1:-1].replace("{", "{{").replace("}", "}}")
    raise Refusal(ins.offset, ins.opname, "f-string piece with quotes or escapes")


def ins_const_keys(executor: Any, i: int) -> tuple:
    prev = executor.instrs[i - 1]
    if prev.opname != "LOAD_CONST" or not isinstance(prev.argval, tuple):
        raise Refusal(executor.instrs[i].offset, executor.instrs[i].opname, "keys are not a constant tuple")
    return prev.argval
