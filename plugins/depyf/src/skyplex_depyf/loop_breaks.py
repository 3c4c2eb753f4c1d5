"""Loop exits 3.12+ lay out where 3.11 had others.

:func:`breaking_whiles`: a ``while`` loop whose body always ends in ``break``. Nothing jumps back to
its test, so the stream is ``test; POP_JUMP_FORWARD_IF_* exit; body; JUMP_FORWARD`` with the
``break`` going where the loop's exit goes (the exit itself, right after it, or the jump there that
closes an ``if`` arm). 3.11 compiled ``if test: body`` the same way, so its rules read that, which
3.12+ compile without the ``break``'s jump: the recompile check refuses it. The ``break`` is pointed
at the loop's exit (the same place, maybe one jump earlier) and a ``JUMP_BACKWARD`` to the test, which
never runs, is put after it at the free odd offset: the shape of 3.11's ``while`` loop left by
``continue`` and a final ``break``, which the rules read as a ``while`` loop. Running the stream does
the same; only what the rules read changes, and the recompile check proves it. Where the shape
differs (a jump lands in the body from outside it, something already jumps back to the test, the
test spans more than its own line, neither the jump nor a ``NOP`` before it carries the source span
of a ``break`` statement, as an ``if`` body's end does) the stream is left as it is.

:func:`breaks_onto_exit_nops`: a ``for`` loop whose exit is a ``NOP`` kept for a line: a ``break``
3.12+ sends past the ``NOP`` goes to it again, the loop's exit, as 3.11 had it."""

from __future__ import annotations

import dis
from typing import Any

from .streams import as_op, forward_jump, is_jump

_ENDS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}


def _line(ins: Any) -> int | None:
    positions = getattr(ins, "positions", None)
    return None if positions is None else positions.lineno


def _break_span(ins: Any) -> bool:
    """Whether ``ins`` carries the source span of a ``break`` statement: one line, five columns."""
    span = getattr(ins, "positions", None)
    return (span is not None and span.lineno is not None and span.lineno == span.end_lineno
            and span.col_offset is not None and span.end_col_offset - span.col_offset == len("break"))


def _test_start(stream: list, j: int, landed: set) -> int | None:
    """Index of the first instruction of the loop test ending in the conditional jump at ``j``: the run
    of instructions on the jump's line before it, none of them a jump or landed on but the first."""
    line = _line(stream[j])
    if line is None:
        return None
    s = j
    while s > 0 and _line(stream[s - 1]) == line and not is_jump(stream[s - 1]) and stream[s - 1].opname not in _ENDS:
        if stream[s].offset in landed:
            return None
        s -= 1
    return s if s < j else None


def breaking_whiles(stream: list) -> list:
    """``stream`` with each such ``while`` loop's ``break`` made a jump to the exit followed by a dead
    back-jump to the test (put at the odd offset after the ``break``; the caller renumbers)."""
    landed: dict[int, list[int]] = {}
    for n, ins in enumerate(stream):
        if is_jump(ins):
            landed.setdefault(ins.argval, []).append(n)
    taken = {ins.offset for ins in stream}
    position = {ins.offset: n for n, ins in enumerate(stream)}
    out = list(stream)
    added: dict[int, Any] = {}
    for k in range(2, len(stream) - 1):
        brk, exit_ = stream[k], stream[k + 1]
        if brk.opname != "JUMP_FORWARD" or brk.offset + 1 in taken or brk.offset in landed:
            continue
        if not (brk.argval == exit_.offset or (exit_.opname == "JUMP_FORWARD" and exit_.argval == brk.argval)):
            continue
        if not (_break_span(brk) or (stream[k - 1].opname == "NOP" and _break_span(stream[k - 1]))):
            continue  # (an if's body running into the code after it: no break written there)
        tests = [j for j in landed.get(exit_.offset, []) if j < k and stream[j].opname.startswith("POP_JUMP_FORWARD_IF_")]
        if len(tests) != 1:
            continue
        j = tests[0]
        start = _test_start(stream, j, set(landed))
        if start is None:
            continue
        body = range(j + 1, k + 1)
        if any(position.get(ins.argval, -1) in body and not j < n <= k
               for n, ins in enumerate(stream) if is_jump(ins)):
            continue  # a jump from outside lands in the body
        if any(is_jump(stream[n]) and stream[n].argval == stream[start].offset for n in range(len(stream))):
            continue  # something already goes back to the test: a loop the rules read as it is
        if any(is_jump(stream[n]) and position.get(stream[n].argval, k + 2) <= j for n in body):
            continue  # (a jump back out of the body: not this shape)
        out[k] = forward_jump(brk, exit_.offset)
        added[k] = as_op(brk, "JUMP_BACKWARD", opcode=dis.opmap["JUMP_BACKWARD"], arg=0,
                         argval=stream[start].offset, argrepr="", offset=brk.offset + 1)
    if not added:
        return stream
    placed: list = []
    for n, ins in enumerate(out):
        placed.append(ins)
        if n in added:
            placed.append(added[n])
    return placed


def breaks_onto_exit_nops(stream: list) -> list:
    """A ``for`` loop whose exit is a ``NOP`` kept for a line (a folded statement the loop ends): 3.12+
    send a ``break`` past the ``NOP``, 3.11 to the loop's exit like the ``FOR_ITER``. Falling through
    the ``NOP`` does nothing, so each such ``break`` is pointed at it."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    out = list(stream)
    for head in (ins for ins in stream if ins.opname == "FOR_ITER" and ins.argval in position):
        h, x = position[head.offset], position[head.argval]
        if stream[x].opname != "NOP" or x + 1 >= len(stream):
            continue
        past = stream[x + 1].offset
        for k in range(h + 1, x):
            if stream[k].opname == "JUMP_FORWARD" and stream[k].argval == past:
                out[k] = stream[k]._replace(argval=head.argval)
    return out
