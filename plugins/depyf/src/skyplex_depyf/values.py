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


def set_display(value: Expr) -> Expr:
    """A frozenset constant tested with ``in`` or iterated over as the set display it came from: the
    compiler turns ``x in {1, 2}`` and ``for x in {1, 2}`` into one, never a ``frozenset(...)`` call."""
    const = getattr(value, "const", None)
    if const and isinstance(const[0], frozenset) and const[0] and value.text.startswith("frozenset("):
        return Expr(value.text[len("frozenset("):-1], atom=True)
    return value


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


def fstring_pieces(part: Expr, ins: dis.Instruction) -> list:
    """The pieces of one BUILD_STRING operand: an f-string's own pieces, or a str constant as literal."""
    pieces = getattr(part, "pieces", None)
    if pieces is not None:
        return pieces
    import ast

    try:
        value = ast.literal_eval(part.text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str):
        raise Refusal(ins.offset, ins.opname, "f-string piece that is not a string constant")
    return [("literal", value)]


def _literal_body(value: str, quote: str) -> str:
    """``value`` as the inside of a string literal quoted with ``quote``, braces doubled for an f-string."""
    text = repr(value)
    inner = text[1:-1]
    if text[0] != quote:  # repr escaped only its own quote character: escape ours instead
        inner = inner.replace(quote, "\\" + quote)
    return inner.replace("{", "{{").replace("}", "}}")


def _render_pieces(pieces: list, quote: str) -> str:
    out = []
    for piece in pieces:
        if piece[0] == "literal":
            out.append(_literal_body(piece[1], quote))
        else:
            _, text, conv, spec = piece
            spec_text = ":" + _render_pieces(spec, quote) if spec is not None else ""
            out.append("{" + text + conv + spec_text + "}")
    return "".join(out)


def _field_texts(pieces: list) -> list[str]:
    texts = []
    for piece in pieces:
        if piece[0] == "field":
            texts.append(piece[1])
            texts += _field_texts(piece[3] or [])
    return texts


def fstring(pieces: list, ins: dis.Instruction) -> Expr:
    """An f-string of literal and formatted pieces, quoted with a character no field uses (3.11
    fields may not contain the f-string's own quote nor a backslash)."""
    fields = _field_texts(pieces)
    quote = next((q for q in ("'", '"') if not any(q in f for f in fields)), None)
    if quote is None:
        raise Refusal(ins.offset, ins.opname, "f-string fields use both quote characters")
    expr = Expr("f" + quote + _render_pieces(pieces, quote) + quote, atom=True)
    expr.pieces = pieces
    return expr


def ins_const_keys(executor: Any, i: int) -> tuple:
    prev = executor.instrs[i - 1]
    if prev.opname != "LOAD_CONST" or not isinstance(prev.argval, tuple):
        raise Refusal(executor.instrs[i].offset, executor.instrs[i].opname, "keys are not a constant tuple")
    return prev.argval
