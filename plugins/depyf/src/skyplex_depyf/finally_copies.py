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
    handler is ``group``, where that body holds a ``try`` statement or always returns; None when the
    copies differ, or when the body is neither (the plain comparison is then the one that reads it)."""
    expected = _handler_copy(group, entries)
    if not expected:
        cold = stream[cold_at].offset if cold_at < len(stream) else None
        protected = [e.end for e in entries if e.target == group[0].offset and cold is not None and e.start < cold]
        if at >= len(stream) or stream[at].offset != max(protected, default=None):
            return None  # (a finally around a try/except: its normal copy starts where the except group lands)
        for start in [at] + _nested_ends(stream, entries, at, cold_at):
            for find in (_returning_copy_end, _copy_with_returns_end, _straight_copy_end):
                found = find(group, stream, start, cold_at) if find is not _straight_copy_end or start > at else None
                if found is not None:
                    return found
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
    end = _past_arm_end_nop(stream, at, last + 1, cold_at)
    return stream[end].offset if end < len(stream) else None


def _past_arm_end_nop(stream: list, at: int, k: int, cold_at: int) -> int:
    """``k``, or ``k + 1`` where ``stream[k]`` is the ``NOP`` 3.12+ keeps for its line at the end of an
    ``if`` arm ending the copy (from ``at``), which a test in the copy jumps past: 3.11 had none and
    put the handler after it (:func:`.layout.relayout` drops it where the copy jumps over the handler)."""
    if (k + 1 < cold_at and stream[k].opname == "NOP" and not any(is_jump(x) and x.argval == stream[k].offset for x in stream)
            and any(is_jump(x) and x.argval == stream[k + 1].offset for x in stream[at:k])):
        return k + 1
    return k


def _nested_ends(stream: list, entries: list, at: int, cold_at: int) -> list[int]:
    """Indices after ``at`` where a ``try`` body ending in ``try`` statements of its own may end, its
    ``finally`` body's normal copy starting there: the places the moved handlers jump back to, every
    instruction from ``at`` up to them (line ``NOP``s aside) run under a handler (the nested
    statements' bodies, which the ``finally`` handler guards through their handlers)."""
    back = {x.argval for x in stream[cold_at:] if is_jump(x)}
    found: list[int] = []
    for k in range(at + 1, cold_at):
        before = stream[k - 1]
        if before.opname != "NOP" and not any(e.start <= before.offset < e.end for e in entries):
            break
        if stream[k].offset in back:
            found.append(k)
    return found


def _straight_copy_end(group: list, stream: list, at: int, cold_at: int) -> int | None:
    """A ``finally`` body without a ``try`` or a ``return`` of its own (its handler's copy ends in its
    one ``RERAISE 0``): the offset just after its normal copy from index ``at``, which matches the
    handler's copy instruction by instruction (line ``NOP``s aside); None otherwise."""
    if [x.opname for x in group[-3:]] != ["COPY", "POP_EXCEPT", "RERAISE"]:
        return None
    body = group[1:-3]
    if not body or body[-1].opname != "RERAISE" or body[-1].arg != 0:
        return None
    if any(x.opname in ("PUSH_EXC_INFO", "RERAISE", "RETURN_VALUE") for x in body[:-1]):
        return None
    return _matched_end(stream, [x for x in body[:-1] if x.opname != "NOP"], at, cold_at)


def _matched_end(stream: list, expected: list, at: int, cold_at: int) -> int | None:
    """The offset just after the instructions from ``at`` that are ``expected`` (line ``NOP``s aside),
    past an arm's closing ``NOP``; None when they differ."""
    k, last = at, None
    for other in expected:
        while k < cold_at and stream[k].opname == "NOP":
            k += 1
        if k >= cold_at or not _same(stream[k], other):
            return None
        last = k
        k += 1
    if last is None or last + 1 > cold_at:
        return None
    return stream[_past_arm_end_nop(stream, at, last + 1, cold_at)].offset


def _without_return_pops(body: list) -> list:
    """``body`` (a handler's copy of a ``finally`` body) less its line ``NOP``s and the exception pops
    before each ``return``: what the normal copy holds."""
    out: list = []
    k = 0
    while k < len(body):
        names = [x.opname for x in body[k:k + 5]]
        if names == _RETURN_POPS + ["RETURN_VALUE"] or names == _RETURN_POPS + ["SWAP"]:
            k += 4  # (in a loop the return then drops the iterator, as the normal copy does too)
            continue
        if names[:2] == _LEAVE_POPS and len(names) > 3 and names[3] == "RETURN_VALUE":
            k += 2
            continue
        if body[k].opname != "NOP":
            out.append(body[k])
        k += 1
    return out


def _copy_with_returns_end(group: list, stream: list, at: int, cold_at: int) -> int | None:
    """A ``finally`` body without a ``try`` of its own that returns on some paths and falls out of the
    statement on others (its handler's copy ends in its one ``RERAISE 0``): the offset just after the
    normal copy, from index ``at``, which matches the handler's copy instruction by instruction (line
    ``NOP``s, the exception pops before each return and the final re-raise aside; the plain
    comparison misses it for the pops a ``return value`` adds); None otherwise."""
    if [x.opname for x in group[-3:]] != ["COPY", "POP_EXCEPT", "RERAISE"]:
        return None
    body = group[1:-3]
    if not body or body[-1].opname != "RERAISE" or body[-1].arg != 0:
        return None
    if any(x.opname in ("PUSH_EXC_INFO", "RERAISE") for x in body[:-1]):
        return None
    expected = _without_return_pops(body[:-1])
    if not any(x.opname == "RETURN_VALUE" for x in expected):
        return None  # (the plain comparison reads the others)
    return _matched_end(stream, expected, at, cold_at)


def _returning_copy_end(group: list, stream: list, at: int, cold_at: int) -> int | None:
    """A ``finally`` body without a ``try`` of its own that returns on every path (its handler's copy
    has no ``RERAISE 0``), right after the ``try`` body it guards (``at`` is where the protected range
    ends): its normal copy returns too and ends the normal code, so 3.11's place for the handler is
    where 3.12+ left it, right after that copy: the offset of ``stream[cold_at]``. The copies must
    match instruction by instruction (line ``NOP``s and the exception pops before each return aside);
    None otherwise."""
    if [x.opname for x in group[-3:]] != ["COPY", "POP_EXCEPT", "RERAISE"] or cold_at >= len(stream) or at >= cold_at:
        return None
    body = group[1:-3]
    if any(x.opname in ("PUSH_EXC_INFO", "RERAISE") for x in body) or not body or body[-1].opname != "RETURN_VALUE":
        return None
    expected = _without_return_pops(body)
    copy = [x for x in stream[at:cold_at] if x.opname != "NOP"]
    if len(copy) != len(expected) or not all(_same(a, b) for a, b in zip(copy, expected)):
        return None
    return stream[cold_at].offset
