"""Small exit blocks 3.12+ copied where 3.11 jumped: since 3.12 the compiler copies a block of a few
instructions that ends in ``return`` into every place that jumps to it unconditionally, line number
and all; 3.11 copied only blocks without a line number. An ``except`` clause that ends the ``try``
before ``k = 0; return None`` therefore ends in its own copy of those instructions, and the rules,
written for 3.11, read a clause that never rejoins the code after the statement.

A copy is recognised by its source positions: every instruction of it carries the same line and
columns as the block it was copied from, which no other source statement can share. The copy in the
moved handler code is replaced by a jump to the block in the normal code: running the block or
jumping to it does the same, provided both run under the same exception handler. The same copying
puts the code after an ``if`` that ends a ``finally`` body into each of its arms in the normal code:
all copies but the last become jumps to the last (:func:`share_return_copies`)."""

from __future__ import annotations

import dis
from typing import Any

from .streams import DROPPED, as_op, forward_jump, is_jump, source_key

_MOST = 5  # instructions in the longest copy: 3.12 copies blocks of up to 4 (``RETURN_CONST`` is 2 here)
_ENDS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD",
         "JUMP_BACKWARD_NO_INTERRUPT"}
_UNCONDITIONAL = ("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")


def _self_contained(block: list) -> bool:
    """Whether ``block`` (ending in ``RETURN_VALUE``) computes the value it returns from an empty
    stack: a block the compiler copied, not the tail of a ``return`` whose value waits below (a
    ``finally`` body copied before each ``return``, which 3.11 copies too)."""
    depth = 0
    for ins in block[:-1]:
        try:
            depth += dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None)
        except (ValueError, TypeError):
            return False
        if depth < 0:
            return False
    return depth == 1


def _statement_end(stream: list, entries: list, cold: int, offset: int) -> int | None:
    """Index of the code after the ``try`` statement whose handler code holds ``offset``: where its
    protected range ends (past ``NOP``s and a jump forward there). Only a copy of that code is the
    compiler's copy of an exit block; a ``finally`` body copied before each ``return`` is not."""
    primary = sorted({e.target for e in entries if e.start < cold})
    handler = max((t for t in primary if t <= offset), default=None)
    if handler is None:
        return None
    end = max(e.end for e in entries if e.target == handler and e.start < cold)
    position = {ins.offset: n for n, ins in enumerate(stream)}
    k = position.get(end)
    for _ in range(4):
        if k is None or stream[k].offset >= cold:
            return None
        if stream[k].opname == "NOP":
            k += 1
        elif stream[k].opname == "JUMP_FORWARD":
            k = position.get(stream[k].argval)
        else:
            return k
    return None


def share_exit_copies(stream: list, entries: list) -> list:
    """``stream`` with each copy of a small returning block in the handler code (past the first
    handler) replaced by a jump to the block's first copy in the normal code; replaced instructions
    are marked :data:`DROPPED` (offsets kept) for the caller to compact."""
    if not entries or not stream:
        return stream
    cold = min(e.target for e in entries)
    targets = {ins.argval for ins in stream if is_jump(ins)} | {e.target for e in entries}

    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    out = list(stream)
    for q, end in enumerate(stream):
        if end.opname != "RETURN_VALUE" or end.offset < cold:
            continue
        for n in range(min(_MOST, q + 1), 1, -1):  # the longest copy first
            p = q - n + 1
            if stream[p].offset < cold or any(is_jump(ins) or ins.opname in _ENDS for ins in stream[p:q]):
                continue
            copy = [source_key(ins) for ins in stream[p:q + 1]]
            if (None in copy or not _self_contained(stream[p:q + 1])
                    or any(ins.offset in targets for ins in stream[p + 1:q + 1])):
                continue
            w = _statement_end(stream, entries, cold, stream[p].offset)
            original = None if w is None else _original(stream, w, copy, targets, cold)
            if original is None or any(handler(stream[original + k]) != handler(stream[p + k]) for k in range(n)):
                continue
            out[p] = as_op(stream[p], "JUMP_BACKWARD", opcode=dis.opmap["JUMP_BACKWARD"], arg=0,
                           argval=stream[original].offset, argrepr="")
            for k in range(p + 1, q + 1):
                out[k] = as_op(stream[k], DROPPED)
            break
    return out


def _original(stream: list, w: int, copy: list, targets: set, cold: int) -> int | None:
    """Index of the normal code's block with the source positions ``copy`` lists, from the code after
    the ``try`` statement (index ``w``) on: there, or past the ``else`` clause that falls into it, code
    the handlers hold no copy of (unlike a ``finally`` body's normal copy)."""
    n = len(copy)
    handled = {source_key(ins) for ins in stream if ins.offset >= cold} - {None}
    for k in range(w, len(stream) - n + 1):
        if stream[k + n - 1].offset >= cold:
            return None
        if ([source_key(ins) for ins in stream[k:k + n]] == copy
                and not any(ins.offset in targets for ins in stream[k + 1:k + n])):
            return k
        if source_key(stream[k]) in handled:
            return None
    return None


def share_return_copies(stream: list, entries: list) -> list:
    """``stream`` with each but the last of the copies of a small returning block in the normal code
    (ahead of every handler) replaced by a jump to the last: 3.12+ copies the code after an ``if``
    that ends a ``finally`` body (``return x``) into the end of each arm, where 3.11 jumped from each
    arm to the one block after the statement. A copy is told by its source positions, which only a copy shares with what it copies; the
    first must end an arm (the next arm starts right after it). Replaced instructions are marked
    :data:`DROPPED` (offsets kept) for the caller to compact."""
    if not stream:
        return stream
    cold = min((e.target for e in entries), default=stream[-1].offset + 2)
    targets = {ins.argval for ins in stream if is_jump(ins)} | {e.target for e in entries}

    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    out = list(stream)
    done: set[int] = set()
    for q, end in enumerate(stream[:-1]):
        if end.opname != "RETURN_VALUE" or end.offset >= cold or stream[q + 1].offset not in targets:
            continue
        for n in range(min(_MOST, q + 1), 1, -1):  # the longest copy first
            p = q - n + 1
            block = stream[p:q + 1]
            if p in done or any(is_jump(ins) or ins.opname in _ENDS for ins in block[:-1]):
                continue
            if _whole_if_body(stream, p, q) or _loop_exits(stream, p, q):
                continue
            copy = [source_key(ins) for ins in block]
            if (None in copy or not _self_contained(block)
                    or any(ins.offset in targets for ins in stream[p + 1:q + 1])):
                continue
            w = next((k for k in range(len(stream) - n, q, -1) if stream[k + n - 1].offset < cold
                      and [source_key(ins) for ins in stream[k:k + n]] == copy), None)  # the last copy
            if (w is None or any(ins.offset in targets for ins in stream[w + 1:w + n])
                    or any(handler(stream[w + k]) != handler(stream[p + k]) for k in range(n))):
                continue
            out[p] = forward_jump(stream[p], stream[w].offset)
            for k in range(p + 1, q + 1):
                out[k] = as_op(stream[k], DROPPED)
            done.update(range(p, q + 1))
            break
    return _one_jump_per_landing(_threaded(out, stream))


def _threaded(out: list, stream: list) -> list:
    """An unconditional jump to a copy made a jump (an ``except`` clause's copy already shared with it)
    goes where that jump goes: 3.11 threads a jump to a jump, and both do the same."""
    made = {new.offset: new.argval for new, old in zip(out, stream)
            if new.opname == "JUMP_FORWARD" and old.opname != "JUMP_FORWARD"}
    return [ins._replace(argval=made[ins.argval]) if ins.opname in _UNCONDITIONAL and ins.argval in made
            and ins.offset not in made else ins for ins in out]


def _whole_if_body(stream: list, p: int, q: int) -> bool:
    """Whether ``stream[p:q + 1]`` is the whole body of an ``if`` (its test jumps just past it):
    ``if c: return 5`` in a ``finally`` body, whose copies before each ``return`` 3.11 makes too, not
    the code after an ``if`` copied into the end of an arm."""
    before = stream[p - 1] if p else None
    return (before is not None and before.opname.startswith("POP_JUMP_") and q + 1 < len(stream)
            and before.argval == stream[q + 1].offset)


def _loop_exits(stream: list, p: int, q: int) -> bool:
    """Whether ``stream[p:q + 1]`` is where a ``while`` loop's bottom test falls out, the block after
    it where its top test goes: the compiler copies the code after the loop to both exits, 3.11 too
    (an arm's end is what 3.12 adds copies to, not a loop's)."""
    bottom = stream[p - 1] if p else None
    if bottom is None or not bottom.opname.startswith("POP_JUMP_BACKWARD_IF_") or q + 1 >= len(stream):
        return False
    head = next((k for k, ins in enumerate(stream[:p]) if ins.offset == bottom.argval), None)
    if head is None or head == 0:
        return False
    top = stream[head - 1]
    return top.opname.startswith("POP_JUMP_FORWARD_IF_") and top.argval == stream[q + 1].offset


def _one_jump_per_landing(out: list) -> list:
    """Two jumps put in for copies standing next to each other, to the same block (an arm's end and
    the test that skips it): 3.11 had one, the test landing on the arm's. Jumps to the second go to
    the first, which goes to the same place; the second is then marked :data:`DROPPED`."""
    kept = [k for k, ins in enumerate(out) if ins.opname != DROPPED]
    for a, b in zip(kept, kept[1:]):
        first, second = out[a], out[b]
        if (first.opname == second.opname == "JUMP_FORWARD" and first.argval == second.argval
                and first.arg == second.arg == 0 and first.argrepr == second.argrepr == ""
                and any(x.opname == DROPPED for x in out[a + 1:b])):
            out = [x._replace(argval=first.offset) if is_jump(x) and x.argval == second.offset else x
                   for x in out]
            out[b] = as_op(second, DROPPED)
    return out
