"""3.11's place for a ``finally`` handler in 3.12+ streams: right after the normal path's copy of
the ``finally`` body, which jumps over it. Two layouts of 3.12+ differ, where the ``try`` part is
not moved to the end of the code:

- the handler (``PUSH_EXC_INFO`` to its ``COPY 3; POP_EXCEPT; RERAISE 1``) comes first and the normal
  copy after it, falling into the code after the statement (an ``except`` clause that returns keeps
  the ``try`` in place): the handler moves after the copy, and the copy gets 3.11's closing
  ``JUMP_FORWARD`` (its tests leaving the copy go to that jump, as in 3.11; ending a loop's body,
  the copy's tests back to the loop's head go to a closing ``JUMP_BACKWARD`` there); an empty body's
  copy is the line's ``NOP``, which becomes that jump;
- a ``try/finally`` ending an ``except`` clause: the normal copy runs into the clause's exit
  (``POP_EXCEPT``, the name's clean-up, the jump on) and the handler follows that exit: the handler
  moves before the exit, behind a ``JUMP_FORWARD`` from the copy to it.

Moving a block that nothing falls into or jumps into, and making a fall-through an explicit jump,
changes no behaviour: every jump keeps its target and every instruction its handler (the
renumbering rebuilds the table from each instruction's handler). The normal copy is only taken as
such when its instructions are the handler's copy's, less the handler's exception pops before a
``return``, ``break`` or ``continue`` and line ``NOP``s; anything else is left as it is. A body that
ends in ``return`` has no re-raise in its handler, and its normal copy may end the code; where the
handler's arms jump to one return (``return a if t else b``), 3.12+ returns in each arm of the normal
copy: that arm's ``RETURN_VALUE`` becomes 3.11's jump to the copy's return (returning the same value
from an identical instruction does the same)."""

from __future__ import annotations

import dis
from typing import Any

from .finally_landings import except_groups_before_copies
from .finally_tails import handler_cleanup, share_finally_tails
from .layout import renumbered
from .streams import as_op, forward_jump, is_jump

_TERMINATORS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD",
                "JUMP_BACKWARD_NO_INTERRUPT"}
# what the handler's copy does before leaving that the normal copy does not: drop the exception
_RETURN_POPS = ["SWAP", "POP_TOP", "SWAP", "POP_EXCEPT"]  # before ``return value``
_LEAVE_POPS = ["POP_TOP", "POP_EXCEPT"]  # before ``return constant``, ``break``, ``continue``


def finally_after_copies(stream: list, entries: list) -> tuple[list, list]:
    """(instructions, entries) with each ``finally`` handler that stands just before the normal
    path's copy of its body put after that copy, as 3.11 laid them out; unchanged when unsure."""
    stream, entries = except_groups_before_copies(*share_finally_tails(stream, entries))
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
        block = range(h, c + 3)
        if any(is_jump(x) and position.get(x.argval, -1) in block for k, x in enumerate(stream) if k not in block):
            continue  # normal code jumps into the handler: not the shape described
        expected = _expected(stream, h, c)
        moved = _after_copy(stream, entries, position, h, c, expected)
        if moved is None:
            moved = _before_tail(stream, position, h, c, expected)
        if moved is not None:
            return renumbered(moved, entries)
    return None


def _after_copy(stream: list, entries: list, position: dict, h: int, c: int, expected: list) -> list | None:
    """The handler put after the normal copy that follows it, the copy closed by a jump over it."""
    n = c + 3  # the normal copy starts right after the handler
    if not expected:  # ``finally: pass``: the normal copy is the line's NOP, 3.11's jump over the handler
        if n + 1 >= len(stream) or stream[n].opname != "NOP" or stream[n + 1].opname == "NOP":
            return None
        if stream[h - 1].opname in ("JUMP_FORWARD", "JUMP_BACKWARD") and stream[h - 1].argval == stream[n].offset:
            return None  # the try's body jumps over the handler right before it: 3.11's own layout
        hop = forward_jump(stream[n], stream[n + 1].offset)
        return stream[:h] + [hop] + stream[h:n] + stream[n + 1:]
    returns = _shared_return_jumps(stream, position, expected)
    at = _matched(stream, n, expected, returns)
    if at is None:
        return None
    kept = _kept_return_line(stream, position, n, at)
    if kept is not None:  # the copy's return line kept as ``if True or 1: pass``: matched again
        stream = kept
        position = {ins.offset: k for k, ins in enumerate(stream)}
        at = _matched(stream, n, expected, returns)
        if at is None:
            return None
    handler = _folded_alike(stream, position, h, c, n, at, expected)
    if handler is None:
        return None
    end = at[-1] + 1
    if end > len(stream) or any(e.target == stream[n].offset for e in entries):
        return None
    closing = stream[end - 1]
    if end == len(stream) and closing.opname not in _TERMINATORS:
        return None
    # (a copy ending the code, as a finally body that returns does: nothing comes after it)
    after = stream[end].offset if end < len(stream) else None
    copy = stream[n:end]
    for k, r in zip(at, returns):  # 3.12+ copied the shared return into the arm that jumped to it
        if r is not None and r < len(at) and stream[k].opname == "RETURN_VALUE":
            copy[k - n] = forward_jump(stream[k], stream[at[r]].offset)
    leaving = [k for k, x in enumerate(copy) if is_jump(x) and x.argval == after]
    heads = {x.argval for x in copy if x.opname.startswith("POP_JUMP_BACKWARD_IF_") and x.argval < stream[h].offset}
    if closing.opname in _TERMINATORS and not leaving and len(heads) == 1:
        # the copy ends a loop's body: its tests go back to the head, where 3.11 went to the copy's
        # closing jump back there
        after = heads.pop()
        leaving = [k for k, x in enumerate(copy) if is_jump(x) and x.argval == after and x.opname.startswith("POP_")]
    if closing.opname not in _TERMINATORS or leaving:
        hop = _hop(closing, after, position)
        if hop is None:
            return None
        for k in leaving:  # 3.11's tests leaving the copy went to its jump over the handler
            copy[k] = copy[k]._replace(argval=hop.offset)
        copy.append(hop)
    return stream[:h] + copy + handler + stream[end:]


def _kept_return_line(stream: list, position: dict, n: int, at: list) -> list | None:
    """``stream`` with the line ``NOP`` (a folded test's, ``if 3:``) that an unconditional jump goes to
    in the normal copy (from ``n``, its instructions ``at``), right before a short straight block of
    the copy ending in ``return``, made ``LOAD_CONST True; POP_JUMP_FORWARD_IF_FALSE`` to the next
    instruction (``if True or 1: pass``, which the compiler folds into the same ``NOP``): spelt as a
    ``NOP``, the source would let the compiler copy the return into that jump. Both ways go on, so the
    code does the same. :func:`.jumps312.kept_folded_statements` leaves such a ``NOP`` alone, its
    line being on the handler's copy too; :func:`_folded_alike` spells that copy alike. None when
    there is none."""
    jumped = {x.argval for x in stream if x.opname in ("JUMP_FORWARD", "JUMP_BACKWARD")}
    for i, k in enumerate(at):
        q = k - 1
        if q < n or stream[q].opname != "NOP" or stream[q].offset not in jumped or stream[q].offset + 1 in position:
            continue
        ret = next((j for j in range(i, min(i + 5, len(at))) if stream[at[j]].opname == "RETURN_VALUE"), None)
        if ret is None or at[ret] - k != ret - i or any(is_jump(stream[at[j]]) for j in range(i, ret)):
            continue  # (a straight block: the copy's own instructions one after another)
        nop = stream[q]
        pair = [as_op(nop, "LOAD_CONST", arg=0, argval=True, argrepr="True"),
                as_op(nop, "POP_JUMP_FORWARD_IF_FALSE", opcode=dis.opmap["POP_JUMP_IF_FALSE"], arg=0,
                      argval=stream[k].offset, argrepr="", offset=nop.offset + 1)]
        return stream[:q] + pair + stream[q + 1:]
    return None


def _folded(stream: list, k: int) -> bool:
    """Whether ``LOAD_CONST True; POP_JUMP_FORWARD_IF_FALSE`` to the next instruction starts at ``k``:
    a folded statement's line kept as ``if True or 1: pass`` (:func:`.jumps312.kept_folded_statements`)."""
    return (k + 2 < len(stream) and stream[k].opname == "LOAD_CONST" and stream[k].argval is True
            and stream[k + 1].opname == "POP_JUMP_FORWARD_IF_FALSE" and stream[k + 1].argval == stream[k + 2].offset)


def _folded_alike(stream: list, position: dict, h: int, c: int, n: int, at: list, expected: list) -> list | None:
    """The handler ``stream[h:n]``, where the normal copy (its instructions ``at``, from ``n``) keeps a
    folded statement as ``if True or 1: pass``, with the handler's copy of that statement (the line's
    ``NOP`` right before the same instruction, or before the exception pops a return adds) spelt alike, as the compiler spells both copies of
    such a source; None when the handler's copy has no such ``NOP``."""
    handler = stream[h:n]
    for i, k in enumerate(at):
        if not (k - 2 >= n and _folded(stream, k - 2)):
            continue
        mine = next((q for q in range(h + 1, c) if stream[q] is expected[i]), None)
        q = -1 if mine is None else mine - 1
        while q > h and stream[q].opname in ("POP_TOP", "POP_EXCEPT", "SWAP"):
            q -= 1  # (the handler's exception pops before a return stand after the line's NOP)
        if q <= h or stream[q].opname != "NOP" or stream[q].offset + 1 in position:
            return None
        nop = stream[q]
        pair = [as_op(nop, "LOAD_CONST", arg=0, argval=True, argrepr="True"),
                as_op(nop, "POP_JUMP_FORWARD_IF_FALSE", opcode=dis.opmap["POP_JUMP_IF_FALSE"], arg=0,
                      argval=stream[q + 1].offset, argrepr="", offset=nop.offset + 1)]
        handler = handler[:q - h] + pair + handler[q - h + 1:]
    return handler


def _before_tail(stream: list, position: dict, h: int, c: int, expected: list) -> list | None:
    """A finally statement ending an ``except`` clause: 3.12+ runs the normal copy into the clause's
    exit (``POP_EXCEPT``, the name's clean-up, the jump on) and puts the handler after that exit;
    3.11 jumped from the copy over the handler to the exit. The handler goes back before the exit."""
    targets = {x.argval for x in stream if is_jump(x)}
    for t in range(1, 6):  # the exit: a few instructions ending in the jump before the handler
        start = h - t
        if start < 1 or any(stream[k].opname in _TERMINATORS or stream[k].offset in targets
                            for k in range(start + 1, h - 1)):
            return None
        if stream[start - 1].opname in _TERMINATORS or stream[start].opname != "POP_EXCEPT":
            continue
        first = _matched_back(stream, start, expected)
        if first is None:
            continue
        closing, after = stream[start - 1], stream[start].offset
        copy = stream[first:start]
        hop = _hop(closing, after, position)
        if hop is None:
            return None
        copy = [x._replace(argval=hop.offset) if is_jump(x) and x.argval == after else x for x in copy]
        return stream[:first] + copy + [hop] + stream[h:c + 3] + stream[start:h] + stream[c + 3:]
    return None


def _hop(closing: Any, after: int, position: dict) -> Any:
    """A jump to ``after`` at the odd offset after ``closing`` (the caller renumbers)."""
    free = closing.offset + 1
    if free in position:
        return None
    name = "JUMP_FORWARD" if after > closing.offset else "JUMP_BACKWARD"
    return as_op(closing, name, opcode=dis.opmap[name], arg=0, argval=after, argrepr="", offset=free)


def _cleanup(stream: list, entries: list, position: dict, h: int) -> int | None:
    """Index of the ``COPY 3; POP_EXCEPT; RERAISE 1`` closing the ``finally`` handler at ``h``: the
    handler of ``h`` itself (one deeper, with the instruction offset pushed), when the handler is
    entered from a try (an entry without it) and its copy ends in ``RERAISE 0`` (or in
    ``return``, a body that returns)."""
    c = handler_cleanup(stream, entries, position, h)
    if c is None:
        return None
    if not (stream[c - 1].opname == "RERAISE" and stream[c - 1].arg == 0) and stream[c - 1].opname != "RETURN_VALUE":
        return None  # (a body ending in ``return`` has no re-raise: its copy returns)
    if any(x.opname == "PUSH_EXC_INFO" for x in stream[h + 1:c]):
        return None  # a try or with inside the finally body: its copies differ in more than the pops
    return c


def _expected(stream: list, h: int, c: int) -> list:
    """The handler's copy of the body, ``stream[h + 1:c - 1]``, less its exception pops before a
    ``return``, ``break`` or ``continue`` and its line ``NOP``s: what the normal copy holds."""
    stop = c if stream[c - 1].opname == "RETURN_VALUE" else c - 1  # a body ending in return: the normal copy's too
    theirs = [x for x in stream[h + 1:stop] if x.opname != "NOP"]
    expected: list = []
    k = 0
    while k < len(theirs):
        names = [x.opname for x in theirs[k:k + 5]]
        if names == _RETURN_POPS + ["RETURN_VALUE"] or names == _RETURN_POPS + ["SWAP"]:
            k += 4  # (in a loop the return then drops the iterator, as the normal copy does too)
        elif names[:2] == _LEAVE_POPS and (k < 2 or theirs[k - 2].opname != "CHECK_EXC_MATCH"):
            k += 2
        expected.append(theirs[k])
        k += 1
    return expected


def _same(mine: Any, other: Any) -> bool:
    # (a jump's target differs between the copies, and so may its direction: the recompile check
    # proves where it goes; the arguments of a yield and of the RESUME after it say how deep in handlers
    # it stands, one deeper in the handler's copy)
    if is_jump(mine) and is_jump(other):
        return mine.opname.replace("BACKWARD", "FORWARD") == other.opname.replace("BACKWARD", "FORWARD")
    return mine.opname == other.opname and (mine.argval == other.argval or mine.opname in ("YIELD_VALUE", "RESUME"))


def _shared_return_jumps(stream: list, position: dict, expected: list) -> list:
    """For each of ``expected``, the index in ``expected`` of the return it jumps to through the
    exception pops (``JUMP_FORWARD`` to ``SWAP; POP_TOP; SWAP; POP_EXCEPT; RETURN_VALUE``), as the
    arms of ``return a if t else b`` end in the handler; None for the others. 3.12+ copies that
    return into the normal copy's arm."""
    out: list = []
    for x in expected:
        t = position.get(x.argval, -1) if x.opname == "JUMP_FORWARD" else -1
        ret = stream[t + 4] if 0 <= t and t + 4 < len(stream) else None
        if ret is None or [y.opname for y in stream[t:t + 5]] != _RETURN_POPS + ["RETURN_VALUE"]:
            out.append(None)
            continue
        out.append(next((r for r, y in enumerate(expected) if y is ret), None))
    return out


def _matched(stream: list, n: int, expected: list, returns: list) -> list | None:
    """The indices of the instructions from ``n`` that are ``expected`` (line ``NOP``s aside), or
    None; where ``returns`` names a jump to a return, a ``RETURN_VALUE`` stands for it."""
    at: list = []
    k = n
    for other, shared in zip(expected, returns):
        while k < len(stream) and (stream[k].opname == "NOP" or _folded(stream, k)):
            k += 2 if _folded(stream, k) else 1
        if k >= len(stream):
            return None
        if not _same(stream[k], other) and not (shared is not None and stream[k].opname == "RETURN_VALUE"):
            return None
        at.append(k)
        k += 1
    return at or None


def _matched_back(stream: list, stop: int, expected: list) -> int | None:
    """Index of the first of the instructions before ``stop`` that are ``expected``, or None."""
    k = stop
    for other in reversed(expected):
        k -= 1
        while k >= 0 and stream[k].opname == "NOP":
            k -= 1
        if k < 0 or not _same(stream[k], other):
            return None
    return k if expected else None


def kept_finally_returns(before: list, after: list) -> list:
    """``after`` (:func:`.copies.share_exit_copies` of ``before``) with the copies it shared inside a
    ``finally`` handler put back: a ``finally`` body that returns is copied into the handler by 3.11
    as well (its normal copy is what the handler's copy looks like from the statement's end), so the
    handler keeps its own ``return``. A ``finally`` handler is told by what follows ``PUSH_EXC_INFO``:
    no exception test, no bare ``POP_TOP`` of the exception (an ``except:`` clause) and no ``with``
    exit; the copy must stand in the handler's first block. Putting back the compiler's own
    instructions changes nothing."""
    out = list(after)
    targets = {x.argval for x in before if is_jump(x)}
    for p, (new, old) in enumerate(zip(after, before)):
        if new.opname == old.opname or new.opname not in _TERMINATORS:
            continue
        h = p - 1
        while h >= 0 and before[h].opname != "PUSH_EXC_INFO":
            if before[h].opname in _TERMINATORS or is_jump(before[h]) or before[h + 1].offset in targets:
                h = -1
                break
            h -= 1
        if h < 0 or before[h + 1].opname in ("POP_TOP", "WITH_EXCEPT_START") or any(
                x.opname == "CHECK_EXC_MATCH" for x in before[h + 1:p]):
            continue
        q = p
        while q + 1 < len(after) and after[q + 1].opname != before[q + 1].opname:
            q += 1  # the copy's other instructions, marked dropped
        out[p:q + 1] = before[p:q + 1]
    return out
