"""3.11's place for a ``finally`` handler in 3.12+ streams: after the normal path's copy of the
``finally`` body. Where the ``try`` part is not moved to the end of the code (an ``except`` clause
that returns keeps it in place), 3.12 puts the handler's copy of the body first and the normal
path's copy after it, falling into the code after the statement; 3.11 put the normal copy first,
closed by a ``JUMP_FORWARD`` over the handler to that code. The rules read 3.11's order, so the
handler (``PUSH_EXC_INFO`` to its ``COPY 3; POP_EXCEPT; RERAISE 1``) is moved after the normal
copy and the jump is put in.

Moving a block that nothing falls into, and making the normal copy's fall-through an explicit jump,
changes no behaviour: every jump keeps its target and every instruction its handler (the caller's
renumbering rebuilds the table from each instruction's handler). The normal copy is only taken as
such when its instructions are the handler's copy's, less the handler's exception pops before a
``return``, ``break`` or ``continue``; anything else is left as it is."""

from __future__ import annotations

import dis
from typing import Any

from .layout import renumbered
from .streams import JUMP_OPCODES, as_op

_TERMINATORS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD",
                "JUMP_BACKWARD_NO_INTERRUPT"}
_CLEANUP = ["COPY", "POP_EXCEPT", "RERAISE"]
# what the handler's copy does before leaving that the normal copy does not: drop the exception
_RETURN_POPS = ["SWAP", "POP_TOP", "SWAP", "POP_EXCEPT"]  # before ``return value``
_LEAVE_POPS = ["POP_TOP", "POP_EXCEPT"]  # before ``return constant``, ``break``, ``continue``


def _is_jump(ins: Any) -> bool:
    return ins.opcode in JUMP_OPCODES and isinstance(ins.argval, int)


def _entry_at(entries: list, offset: int) -> Any:
    return next((e for e in entries if e.start <= offset < e.end), None)


def finally_after_copies(stream: list, entries: list) -> tuple[list, list]:
    """(instructions, entries) with each ``finally`` handler that stands just before the normal
    path's copy of its body put after that copy, as 3.11 laid them out; unchanged when unsure."""
    for _ in range(16):  # one handler at a time: each move renumbers the stream
        moved = _move_one(stream, entries)
        if moved is None:
            return stream, entries
        stream, entries = moved
    return stream, entries


def _move_one(stream: list, entries: list) -> tuple[list, list] | None:
    position = {ins.offset: n for n, ins in enumerate(stream)}
    for h, ins in enumerate(stream):
        if ins.opname != "PUSH_EXC_INFO" or h == 0 or stream[h - 1].opname not in _TERMINATORS:
            continue
        c = _cleanup(stream, entries, position, h)
        if c is None:
            continue
        n = c + 3  # the normal copy starts right after the handler
        size = _normal_copy(stream, h, c, n)
        if size is None:
            continue
        block = range(h, n)
        if any(_is_jump(x) and position.get(x.argval, -1) in block for k, x in enumerate(stream) if k not in block):
            continue  # normal code jumps into the handler: not the shape described
        end = n + size
        if end >= len(stream) or any(e.target == stream[n].offset for e in entries):
            continue
        closing, after = stream[end - 1], stream[end].offset
        copy = stream[n:end]
        leaving = [k for k, x in enumerate(copy) if _is_jump(x) and x.argval == after]
        if closing.opname not in _TERMINATORS or leaving:
            # 3.11 closed the copy with a jump over the handler, and its tests leaving the copy went there
            free = closing.offset + 1
            if free in position:
                continue
            for k in leaving:
                copy[k] = copy[k]._replace(argval=free)
            copy.append(as_op(closing, "JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0, argval=after,
                              argrepr="", offset=free))
        out = stream[:h] + copy
        out += stream[h:n] + stream[end:]
        return renumbered(out, entries)
    return None


def _cleanup(stream: list, entries: list, position: dict, h: int) -> int | None:
    """Index of the ``COPY 3; POP_EXCEPT; RERAISE 1`` closing the ``finally`` handler at ``h``: the
    handler of ``h`` itself (one deeper, with the instruction offset pushed), when the handler is
    entered from a try (an entry without it) and its copy ends in ``RERAISE 0``."""
    own = _entry_at(entries, stream[h].offset)
    entered = [e for e in entries if e.target == stream[h].offset]
    if own is None or not own.lasti or not entered or any(e.lasti or e.depth + 1 != own.depth for e in entered):
        return None
    c = position.get(own.target)
    if c is None or c < h + 2 or [x.opname for x in stream[c:c + 3]] != _CLEANUP:
        return None
    if stream[c].arg != 3 or stream[c + 2].arg != 1 or stream[c - 1].opname != "RERAISE" or stream[c - 1].arg != 0:
        return None
    if any(x.opname == "PUSH_EXC_INFO" for x in stream[h + 1:c]):
        return None  # a try or with inside the finally body: its copies differ in more than the pops
    return c


def _normal_copy(stream: list, h: int, c: int, n: int) -> int | None:
    """Instructions in the normal copy at ``n`` of the handler's copy ``stream[h + 1:c - 1]``, or None
    when the instructions there are not that copy less its exception pops and line ``NOP``s."""
    theirs = [x for x in stream[h + 1:c - 1] if x.opname != "NOP"]
    expected: list = []
    k = 0
    while k < len(theirs):
        names = [x.opname for x in theirs[k:k + 5]]
        if names == _RETURN_POPS + ["RETURN_VALUE"]:
            k += 4
        elif names[:2] == _LEAVE_POPS and (k < 2 or theirs[k - 2].opname != "CHECK_EXC_MATCH"):
            k += 2
        expected.append(theirs[k])
        k += 1
    size, matched = 0, 0
    while matched < len(expected):
        if n + size >= len(stream):
            return None
        mine = stream[n + size]
        size += 1
        if mine.opname == "NOP":
            continue
        other = expected[matched]
        if mine.opname != other.opname:
            return None
        if not _is_jump(mine) and mine.argval != other.argval:
            return None  # (a jump's target differs between the copies: the recompile check proves it)
        matched += 1
    if not expected:
        return None
    return size
