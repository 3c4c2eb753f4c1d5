"""Where the normal path's copy of a ``finally`` body ends, for a body holding a ``try`` statement.

:func:`.layout.relayout` puts a ``finally`` handler moved to the end of the code (3.12+) back after
the normal path's copy of its body, found by comparing the two copies instruction by instruction.
The handler's copy of a body holding a ``try`` statement carries that statement's handler inline
and jumps over it, where the normal copy's handler is one of the moved blocks and its ``try`` body
runs straight on; 3.12+ may also end the handler's copy of the inner ``try`` body in a copy of the
code after the inner statement. :func:`finally_copy_end` compares the two copies without the inner
handlers (each ``PUSH_EXC_INFO`` to the end of its clean-up ``COPY 3; POP_EXCEPT; RERAISE 1``), the
unconditional jumps and the line ``NOP``s, up to the handler copy's ``RERAISE 0`` (or its
``return``, less the exception pops before it). It only says where a block goes; moving blocks
changes no behaviour, and the recompile check proves what the decompiler makes of the result."""

from __future__ import annotations

from typing import Any

from .streams import is_jump

_SKIPPED = {"NOP", "JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}
_RETURN_POPS = ["SWAP", "POP_TOP", "SWAP", "POP_EXCEPT"]  # before ``return value`` in the handler
_LEAVE_POPS = ["POP_TOP", "POP_EXCEPT"]  # before ``return constant``


def _same(a: Any, b: Any) -> bool:
    if is_jump(a) or is_jump(b):  # (targets differ between the copies)
        return a.opname.replace("BACKWARD", "FORWARD") == b.opname.replace("BACKWARD", "FORWARD")
    return a.opname == b.opname and a.argval == b.argval


def _handler_copy(group: list, entries: list) -> list | None:
    """The instructions of the handler's copy of the body in ``group`` (from its ``PUSH_EXC_INFO``),
    without inner handlers, unconditional jumps, ``NOP``s and the exception pops before a return; None
    when it has no inner handler (the plain comparison reads it) or no end."""
    position = {ins.offset: n for n, ins in enumerate(group)}
    stop = len(group) - 3 if [x.opname for x in group[-3:]] == ["COPY", "POP_EXCEPT", "RERAISE"] else len(group)
    out: list = []
    inner = False
    k = 1
    while k < stop:
        ins = group[k]
        if ins.opname == "PUSH_EXC_INFO":  # an inner handler: on past its clean-up
            entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
            c = None if entry is None else position.get(entry.target)
            if c is None or c <= k or [x.opname for x in group[c:c + 3]] != ["COPY", "POP_EXCEPT", "RERAISE"]:
                return None
            inner = True
            k = c + 3
            continue
        if ins.opname == "RERAISE" and ins.arg == 0:
            return out if inner else None
        names = [x.opname for x in group[k:k + 5]]
        if names == _RETURN_POPS + ["RETURN_VALUE"]:
            k += 4
            continue
        if names[:2] == _LEAVE_POPS and len(names) > 3 and names[3] == "RETURN_VALUE":
            k += 2
            continue
        if ins.opname not in _SKIPPED:
            out.append(ins)
        k += 1
    return out if inner and out and out[-1].opname == "RETURN_VALUE" else None


def finally_copy_end(group: list, entries: list, stream: list, at: int, cold_at: int) -> int | None:
    """Offset just after the normal path's copy, from index ``at``, of the ``finally`` body whose
    handler is ``group``, where that body holds a ``try`` statement; None when the copies differ, or
    when the body holds none (the plain comparison is then the one that reads it)."""
    expected = _handler_copy(group, entries)
    if not expected:
        return None
    k = at
    last = None
    for other in expected:
        while k < cold_at and stream[k].opname in _SKIPPED:
            k += 1
        if k >= cold_at or not _same(stream[k], other):
            return None
        last = k
        k += 1
    if last is None or last + 1 > cold_at:
        return None
    return stream[last + 1].offset if last + 1 < len(stream) else None
