"""3.11's place for the handlers of a ``try/except/finally`` whose ``finally`` body returns.

3.12+ lays out the normal path's copy of such a ``finally`` body right after the ``try`` body (the
body falls into it) and sends the ``except`` clauses back to it with a jump; the copy returns. Where
the statement ends an ``if`` arm, :func:`.layout.relayout` places the ``except`` group (the handler
from ``PUSH_EXC_INFO`` to its clean-up ``COPY 3; POP_EXCEPT; RERAISE 1``) and the ``finally`` handler
after it after that return, where the next arm starts. 3.11 put the ``except`` group before the
copy, the ``try`` body jumping over it to the copy (``JUMP_FORWARD``), and the ``finally`` handler
after the copy. Both handlers move before the copy, behind that jump, which is the layout
:func:`.finally312.finally_after_copies` knows (the ``finally`` handler before its normal copy): it
then puts the ``finally`` handler after the copy, spelling a folded test's line in both copies as the
compiler does. Nothing falls into the handlers or out of them, the new jump goes where the body
fell, every other jump keeps its target and each instruction its handler (the renumbering rebuilds
the table), so the code does the same; the decompiler's reading is proven by the recompile check."""

from __future__ import annotations

from .finally_tails import handler_cleanup
from .layout import renumbered
from .streams import forward_jump, is_jump

_CLEANUP = ["COPY", "POP_EXCEPT", "RERAISE"]


def _entry(entries: list, offset: int):
    return next((e for e in entries if e.start <= offset < e.end), None)


def except_groups_before_copies(stream: list, entries: list) -> tuple[list, list]:
    """(instructions, entries) with the handlers of each such statement put before the ``finally``
    body's normal copy; unchanged when unsure."""
    for _ in range(8):  # one group at a time: each move renumbers the stream
        moved = _move_one(stream, entries)
        if moved is None:
            break
        stream, entries = moved
    return stream, entries


def _move_one(stream: list, entries: list) -> tuple[list, list] | None:
    position = {ins.offset: n for n, ins in enumerate(stream)}
    for h, ins in enumerate(stream):
        if ins.opname != "PUSH_EXC_INFO" or h < 2 or stream[h - 1].opname != "RETURN_VALUE":
            continue
        out = _moved(stream, entries, position, h)
        if out is not None:
            return renumbered(out, entries)
    return None


def _moved(stream: list, entries: list, position: dict, h: int) -> list | None:
    own = _entry(entries, stream[h].offset)
    c = None if own is None else position.get(own.target)
    if c is None or c <= h or [x.opname for x in stream[c:c + 3]] != _CLEANUP or c + 3 >= len(stream):
        return None
    group = stream[h:c + 3]
    inside = {x.offset for x in group}
    final = stream[c + 3]  # the finally handler, guarding the except clauses
    if final.opname != "PUSH_EXC_INFO" or not any(
            (e := _entry(entries, x.offset)) is not None and e.target == final.offset for x in group):
        return None
    f = handler_cleanup(stream, entries, position, c + 3)
    if f is None:
        return None
    handlers = stream[h:f + 3]  # the except group, then the finally handler to its clean-up
    protected = [e for e in entries if e.target == stream[h].offset and e.start not in inside]
    if not protected:
        return None
    landing = max(e.end for e in protected)  # where the try body falls: the finally body's normal copy
    x = position.get(landing)
    if x is None or x < 1 or x >= h or stream[x - 1].opname in ("RETURN_VALUE", "RERAISE", "RAISE_VARARGS") \
            or is_jump(stream[x - 1]) and stream[x - 1].opname in ("JUMP_FORWARD", "JUMP_BACKWARD"):
        return None
    exits = [y for y in group if is_jump(y) and y.argval not in inside]
    if not exits or any(y.argval != landing for y in exits):
        return None  # (the except clauses all go back to the copy)
    copy = stream[x:h]
    inner = {y.offset for y in copy}
    if any(is_jump(y) and y.argval not in inner or y.opname == "PUSH_EXC_INFO" for y in copy):
        return None  # (a copy whose jumps stay inside it, returning)
    first = min(e.start for e in protected)  # (the try body's own jumps to the copy, a loop's exit, stay)
    ending = [k for k in range(x) if is_jump(stream[k]) and stream[k].argval == landing and stream[k].offset >= first]
    others = [y for k, y in enumerate(stream) if is_jump(y) and y.offset not in inside and y.offset not in inner
              and (y.argval in inside or y.argval in inner) and k not in ending]
    if others:
        return None  # normal code jumps into the group or the copy: not the shape described
    hop_at = stream[x - 1].offset + 1
    if hop_at in position:
        return None
    hop = forward_jump(stream[x - 1], landing, offset=hop_at)
    return stream[:x] + [hop] + handlers + copy + stream[f + 3:]
