"""Jumps 3.12+ lays out where 3.11 had others, put back for the rules written against 3.11.

:func:`spaced_for_arm_jumps`: :func:`.tails.close_threaded_arms` puts 3.11's closing jump of an ``if``
arm back at the free odd offset after the arm's last instruction. An arm ending in ``return c``
(``RETURN_CONST``, read as ``LOAD_CONST c; RETURN_VALUE`` at offsets ``n`` and ``n + 1``) leaves no
such offset before the ``else`` arm at ``n + 2``, and the threaded test was left as it was (then
refused as a jump leaving its block). Where that happens the stream is renumbered to offsets 0, 2,
4, ... first (order, jumps and handlers kept), which leaves an odd offset after every instruction.

:func:`closed_jump_arms` does what :func:`.tails.close_threaded_arms` does for an arm ending in
``return`` for an arm ending in ``break`` or ``continue``; :func:`breaks_to_loop_ends` sends a
``break`` 3.12 threaded past an ``else`` arm back to its loop's end. Both run in
:func:`spaced_for_arm_jumps`, before :func:`.tails.close_threaded_arms`, as does
:func:`nested_clause_exits`, which puts back the jump from an inner ``try`` statement's handler to
the exit of the ``except`` clause it ends, where 3.13 lets one fall into the other."""

from __future__ import annotations

import dis
import sys
from collections import Counter
from typing import Any

from .layout import renumbered
from .streams import JUMP_OPCODES, as_op, forward_jump, placed_before
from .tails import put_back_closing_jumps

_LEAVING = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"}
_LOOP_EXITS = {"JUMP_FORWARD", "JUMP_BACKWARD"}  # a break or a continue ending an arm
_BACK = {"JUMP_BACKWARD", "POP_JUMP_BACKWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_NONE",
         "POP_JUMP_BACKWARD_IF_NOT_NONE"}  # what closes a loop


def spaced_for_arm_jumps(stream: list, entries: list) -> tuple[list, list | None]:
    """(stream, entries) renumbered when an ``if`` arm's closing jump has no free offset to go to, or
    when :func:`closed_jump_arms` put closing jumps back; else (stream, None): nothing changed, the
    caller keeps its own table."""
    stream, split = nested_clause_exits(stream, entries)
    stream, folded = folded_constant_returns(closing_after_exits(folded_arm_ends(stream, entries), entries))
    stream = kept_folded_statements(stream, entries)
    stream = breaks_to_loop_ends(or_pops_to_arm_ends(loop_end_copies(_twin_loop_exits(stream, entries))))
    closed, added = closed_jump_arms(stream)
    closed, negated = closed_negated_arms(closed)
    added += negated
    if not added and not split and not folded and not _crowded(stream):
        return stream, None
    return renumbered(closed, entries)


def nested_clause_exits(stream: list, entries: list) -> tuple[list, int]:
    """An ``except`` clause whose body ends in a ``try: ... except ...:`` statement: 3.11 and 3.12 end
    the inner handler with ``POP_EXCEPT; JUMP_FORWARD`` to the outer clause's exit ``POP_EXCEPT;
    JUMP_FORWARD``, which stands after the inner handler's clean-up (``COPY 3; POP_EXCEPT; RERAISE
    1``); 3.13 lets the inner ``POP_EXCEPT`` fall into the outer one, the inner body jumping to it
    there (its jump on forward, or back to a tail laid out before the handlers, which
    :func:`.layout.relayout` moves later). The outer exit (``POP_EXCEPT``, an ``as`` name's clean-up
    ``LOAD_CONST None; STORE_FAST e; DELETE_FAST e`` where the outer clause has one, and the jump;
    their offsets and so their handlers kept) is moved after that clean-up and a ``JUMP_FORWARD`` to it put after the
    inner handler's exit (``POP_EXCEPT``, an ``as`` name's clean-up), at the free odd offset after
    it; the caller renumbers. Nothing else falls into the clean-up's end or the
    moved pair, so every path runs the same instructions. Returns the stream and how many exits
    were moved."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    referrers: dict[int, list[Any]] = {}
    for ins in stream:
        if ins.opcode in JUMP_OPCODES and isinstance(ins.argval, int):
            referrers.setdefault(ins.argval, []).append(ins)
    moves: dict[int, tuple[int, int]] = {}  # index of the inner exit's last -> (outer exit's, clean-up's end)
    for k in range(1, len(stream) - 2):
        if stream[k].opname != "POP_EXCEPT":
            continue
        m = _name_cleanup(stream, k + 1)
        s = k + 1 + m  # the outer exit's POP_EXCEPT
        if s + 1 >= len(stream) or any(x.offset in referrers for x in stream[k + 1:s]):
            continue
        n = _name_cleanup(stream, s + 1)  # the outer clause's own ``as`` name's clean-up
        second, jump = stream[s], stream[min(s + 1 + n, len(stream) - 1)]
        if (second.opname != "POP_EXCEPT" or s + 1 + n >= len(stream) or jump.opname not in _LOOP_EXITS
                or not isinstance(jump.argval, int) or second.offset - stream[s - 1].offset != 2
                or any(x.offset in referrers for x in stream[s + 1:s + 2 + n])):
            continue
        into = referrers.get(second.offset, [])
        if not into or any(j.opname != "JUMP_FORWARD" or j.offset >= stream[k].offset for j in into):
            continue
        c = _inner_cleanup(stream, position, entries, referrers, k)
        if c is None or c <= s + 1 + n:
            continue
        moves[s - 1] = (s, c + 2, s + 2 + n)
    if not moves:
        return stream, 0
    after: dict[int, list] = {}
    for s, r, e in moves.values():
        after.setdefault(r, []).extend(stream[s:e])
    skipped = {n for s, _, e in moves.values() for n in range(s, e)}
    out: list = []
    for n, ins in enumerate(stream):
        if n in skipped:
            continue
        out.append(ins)
        if n in moves:
            s, _, e = moves[n]
            out.append(forward_jump(stream[e - 1], stream[s].offset, offset=ins.offset + 1))
        out.extend(after.get(n, []))
    return out, len(moves)


def _name_cleanup(stream: list, i: int) -> int:
    """3 where ``LOAD_CONST None; STORE_FAST e; DELETE_FAST e`` (an ``except ... as e:`` clause's
    clean-up of its name) starts at index ``i``, else 0."""
    names = [(x.opname, x.argval) for x in stream[i:i + 3]]
    return 3 if (len(names) == 3 and names[0] == ("LOAD_CONST", None) and names[1][0] == "STORE_FAST"
                 and names[2] == ("DELETE_FAST", names[1][1])) else 0


def _inner_cleanup(stream: list, position: dict, entries: list, referrers: dict, k: int) -> int | None:
    """Index of the clean-up of the inner handler whose exit ``POP_EXCEPT`` is at ``k``: that of the
    handler holding the instruction before it or, where that is a return (the inner clause ends in
    ``if c: return``, its test jumping to ``k``), the one holding that test."""
    c = _cleanup(stream, position, entries, stream[k - 1].offset)
    if c is None and stream[k - 1].opname in _RETURNS:
        c = next((_cleanup(stream, position, entries, j.offset) for j in referrers.get(stream[k].offset, [])
                  if j.offset < stream[k].offset), None)
    return c


def _cleanup(stream: list, position: dict, entries: list, offset: int) -> int | None:
    """Index of the ``COPY 3; POP_EXCEPT; RERAISE 1`` clean-up of the handler whose body holds
    ``offset``: its own table entry's target, or the one after an ``as`` name's clean-up."""
    for _ in range(2):
        entry = next((e for e in entries if e.start <= offset < e.end), None)
        c = position.get(entry.target) if entry is not None else None
        if c is None or c + 3 >= len(stream):
            return None
        if [(x.opname, x.argval) for x in stream[c:c + 3]] == [("COPY", 3), ("POP_EXCEPT", None), ("RERAISE", 1)]:
            return c
        offset = stream[c].offset
    return None


_RETURNS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"}
_SMALL_EXIT = 6  # instructions of a returning block after a folded statement's NOP, at most


def kept_folded_statements(stream: list, entries: list) -> list:
    """A statement the compiler folded away (``if 5:``) leaves a ``NOP`` holding its line; where that
    ``NOP`` starts a short block ending in a return that an unconditional jump goes to, 3.12+ does not
    copy the block into the jump, as it copies a small returning block without it. The rules read a
    ``NOP`` as nothing (so does the recompile check), and the source they wrote let the compiler copy
    the block. The ``NOP`` (it and the block outside every handler's range, not a ``try:``'s; its
    line on no other instruction, unlike a ``pass`` in a ``finally`` body, which has copies) is read
    as ``LOAD_CONST True; POP_JUMP_FORWARD_IF_FALSE`` to the next instruction, at the ``NOP``'s
    offset and the free odd one after it: both ways go on, which the rules write as ``if True or 1:
    pass``, a statement the compiler folds into the same ``NOP``. Offsets are kept."""
    taken = {ins.offset for ins in stream}
    jumped = {ins.argval for ins in stream if ins.opname in ("JUMP_FORWARD", "JUMP_BACKWARD")}
    lines = Counter(_line(ins) for ins in stream)
    out: list = []
    for k, ins in enumerate(stream):
        if (ins.opname != "NOP" or ins.offset not in jumped or ins.offset + 1 in taken or k + 1 >= len(stream)
                or _line(ins) is None or lines[_line(ins)] != 1  # a finally body's NOP has its copies
                or any(e.start <= ins.offset < e.end for e in entries)):
            out.append(ins)
            continue
        block = stream[k + 1:k + 1 + _SMALL_EXIT]
        end = next((q for q, x in enumerate(block) if x.opname == "RETURN_VALUE"), None)
        if end is None or any(x.opcode in JUMP_OPCODES or x.opname == "NOP" for x in block[:end]) or any(
                e.start <= x.offset < e.end for x in block[:end + 1] for e in entries):  # a ``try:``'s NOP
            out.append(ins)
            continue
        out += [as_op(ins, "LOAD_CONST", arg=0, argval=True, argrepr="True"),
                as_op(ins, "POP_JUMP_FORWARD_IF_FALSE", opcode=dis.opmap["POP_JUMP_IF_FALSE"], arg=0,
                      argval=stream[k + 1].offset, argrepr="", offset=ins.offset + 1)]
    return out


def folded_arm_ends(stream: list, entries: list) -> list:
    """A statement the compiler folded away (``if not 6: ...``) ending an ``if`` arm leaves only its
    line, on the arm's closing ``JUMP_FORWARD``; 3.12+ threads a conditional jump to a jump only when
    both carry one line, so a test from another line still goes to the closing jump, where without the
    statement it goes where the jump goes. Where the closing jump (one a test skipping the arm lands
    right after, outside every handler's range) carries a line no other instruction has and a test
    from another line goes to it, the statement is put back before it as ``LOAD_CONST True;
    POP_JUMP_FORWARD_IF_FALSE`` to the jump (``if True or 1: pass``, which the compiler folds the
    same way), at the free odd offset before the jump and the jump's own; the jump moves to the odd
    offset after it, and what went to it goes to the statement. Offsets stay in order."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    lines = Counter(_line(ins) for ins in stream)
    skips = {ins.argval for ins in stream if ins.opname.startswith("POP_JUMP_FORWARD_IF_")}
    moved: dict[int, int] = {}
    for k, ins in enumerate(stream[1:-1], 1):
        line = _line(ins)
        if (ins.opname != "JUMP_FORWARD" or line is None or lines[line] != 1 or stream[k + 1].offset not in skips
                or ins.offset - 1 in position or ins.offset + 1 in position
                or any(e.start <= ins.offset < e.end for e in entries)):
            continue
        if any(x.opname.startswith("POP_JUMP_FORWARD_IF_") and x.argval == ins.offset and _line(x) != line
               for x in stream[:k]):
            moved[k] = ins.offset
    return _folded_before(stream, moved)


def closing_after_exits(stream: list, entries: list) -> list:
    """3.13 only: a ``for`` loop whose body ends in ``if c: break`` (or another exit) inside a folded
    ``if`` lays the loop's closing back-jump after the exit, where the test jumps to it; without the
    folded statement 3.13 puts a copy of the back-jump before the exit, the test hopping it. Where the
    closing back-jump (after an instruction that leaves, outside every handler's range) carries the
    line of a test that jumps to it, a folded statement is put back before it as in
    :func:`folded_arm_ends` (``if True or 1: pass`` ending the body, which 3.13 lays out alike)."""
    if sys.version_info[:2] < (3, 13):
        return stream
    position = {ins.offset: n for n, ins in enumerate(stream)}
    moved: dict[int, int] = {}
    for head in (ins for ins in stream if ins.opname == "FOR_ITER" and ins.argval in position):
        k = position[head.argval] - 1
        closing = stream[k]
        if (closing.opname != "JUMP_BACKWARD" or closing.argval != head.offset or k < 1
                or stream[k - 1].opname not in _LOOP_EXITS | _LEAVING or _line(closing) is None
                or closing.offset - 1 in position or closing.offset + 1 in position
                or any(e.start <= closing.offset < e.end for e in entries)):
            continue
        if any(x.opname.startswith("POP_JUMP_FORWARD_IF_") and x.argval == closing.offset
               and _line(x) == _line(closing) for x in stream[position[head.offset]:k]):
            moved[k] = closing.offset
    return _folded_before(stream, moved)


def _folded_before(stream: list, moved: dict[int, int]) -> list:
    """``stream`` with ``LOAD_CONST True; POP_JUMP_FORWARD_IF_FALSE`` (``if True or 1: pass``) put
    before each instruction ``k`` in ``moved`` (at the odd offset before it and at its own offset,
    the instruction moving to the odd offset after it); jumps to it go to the statement."""
    if not moved:
        return stream
    out: list = []
    for k, ins in enumerate(stream):
        if k in moved:
            at = moved[k]
            out += [as_op(ins, "LOAD_CONST", opcode=dis.opmap["LOAD_CONST"], arg=0, argval=True, argrepr="True",
                          offset=at - 1),
                    as_op(ins, "POP_JUMP_FORWARD_IF_FALSE", opcode=dis.opmap["POP_JUMP_IF_FALSE"], arg=0,
                          argval=at + 1, argrepr=""),
                    ins._replace(offset=at + 1)]
            continue
        if ins.opcode in JUMP_OPCODES and ins.argval in moved.values():
            ins = ins._replace(argval=ins.argval - 1)
        out.append(ins)
    return out


def loop_end_copies(stream: list) -> list:
    """An ``if`` arm before an ``else`` arm, ending a ``for`` loop's body: 3.12+ copies the loop's
    closing ``JUMP_BACKWARD`` (which has no line of its own) into the arm's end, where it takes the
    line of the arm's last instruction; a ``continue`` there would keep a line of its own and be
    jumped to, not copied. The rules read a back-jump ending an arm as ``continue``, which 3.11
    compiled alike. Each such copy (same head, same line as the instruction before it, an ``else``
    arm's first instruction after it) becomes 3.11's ``JUMP_FORWARD`` to the loop's closing jump, the
    last instruction before the loop's exit: jumping to an identical jump does the same. Offsets are
    kept."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    skips = {ins.argval for ins in stream if ins.opname.startswith("POP_JUMP_FORWARD_IF_")}
    out = list(stream)
    for head in (ins for ins in stream if ins.opname == "FOR_ITER" and ins.argval in position):
        end = position[head.argval] - 1  # the loop's closing back-jump
        closing = stream[end]
        if closing.opname != "JUMP_BACKWARD" or closing.argval != head.offset:
            continue
        for k in range(position[head.offset] + 1, end):
            ins = stream[k]
            after = stream[k + 1]  # the else arm, not another copy where an inner if without one ends
            if (ins.opname == "JUMP_BACKWARD" and ins.argval == head.offset and after.offset in skips
                    and not (after.opname == "JUMP_BACKWARD" and after.argval == head.offset)
                    and _line(ins) is not None and _line(ins) == _line(stream[k - 1])
                    and stream[k - 1].opname not in _LOOP_EXITS | _LEAVING and k + 1 < end
                    and not (stream[k - 1].opname.startswith("POP_JUMP_FORWARD_IF_")
                             and stream[k - 1].argval == stream[k + 1].offset)):  # ``if c: continue``
                out[k] = forward_jump(ins, closing.offset)
    return out


def _twin_loop_exits(stream: list, entries: list) -> list:
    """3.13 copies a loop's closing back-jump (no line of its own) once for each way out of an inner
    ``while`` loop: the bottom test's copy falls into the top test's, the same jump with the same
    line, which nothing else goes to. The first is left out (where no handler's range starts or
    ends): the bottom test falls into the one jump, as 3.11 and 3.12 lay it out."""
    targets = {ins.argval for ins in stream if ins.opcode in JUMP_OPCODES}
    bounds = {e.start for e in entries} | {e.end for e in entries}
    out = list(stream)
    for k in range(1, len(stream) - 1):
        first, second = stream[k], stream[k + 1]
        if (first.opname == second.opname == "JUMP_BACKWARD" and first.argval == second.argval
                and _line(first) is not None and _line(first) == _line(second) == _line(stream[k - 1])
                and second.offset in targets and first.offset not in targets
                and stream[k - 1].opname.startswith("POP_JUMP_BACKWARD_IF_")
                and not {first.offset, second.offset} & bounds):
            out[k] = None
    return [ins for ins in out if ins is not None]


def folded_constant_returns(stream: list) -> tuple[list, int]:
    """``return (-1 and 5)``: 3.12+ folds the operator after it has fused ``LOAD_CONST; RETURN_VALUE``
    into ``RETURN_CONST``, so the constant stays a plain ``LOAD_CONST`` (at its own even offset, where
    a ``RETURN_CONST`` read as its parts has the return at the odd offset after it), and a jump to it
    stays a jump where a ``return 5`` would be copied into it. Where an unconditional jump goes to
    such a return (or to ``NOP``s before it), the constant is read as ``() or c`` (``BUILD_TUPLE 0;
    JUMP_IF_TRUE_OR_POP`` to the return, at the constant's offset, the constant after them), which
    the compiler folds the same way. The caller renumbers. Returns the stream and how many were read
    so."""
    taken = {ins.offset for ins in stream}
    jumped = {ins.argval for ins in stream if ins.opname in ("JUMP_FORWARD", "JUMP_BACKWARD")}
    out: list = []
    starts: dict[int, int] = {}  # offsets of the constants read so
    for k, ins in enumerate(stream):
        ret = stream[k + 1] if k + 1 < len(stream) else None
        reached = ins.offset in jumped
        q = k - 1
        while not reached and q >= 0 and stream[q].opname == "NOP":
            reached = stream[q].offset in jumped
            q -= 1
        if (ins.opname != "LOAD_CONST" or ret is None or ret.opname != "RETURN_VALUE" or not reached
                or ret.offset == ins.offset + 1 or ins.offset + 1 in taken):
            out.append(ins)
            continue
        starts[ins.offset] = ins.offset
        out += [as_op(ins, "BUILD_TUPLE", opcode=dis.opmap["BUILD_TUPLE"], arg=0, argval=0, argrepr=""),
                as_op(ins, "JUMP_IF_TRUE_OR_POP", opcode=dis.opmap["POP_JUMP_IF_TRUE"], arg=0, argval=ret.offset,
                      argrepr="", offset=ins.offset + 0.5),
                ins._replace(offset=ins.offset + 1)]
    return out, len(starts)


def _line(ins: Any) -> int | None:
    positions = getattr(ins, "positions", None)
    return None if positions is None else positions.lineno


_OR_POPS = {"JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP"}


def or_pops_to_arm_ends(stream: list) -> list:
    """A boolean operator ending an arm of a conditional expression (``(y and 4) if c else z``): 3.12
    threads its short-circuit jump through the arm's closing ``JUMP_FORWARD`` to where that jump goes;
    3.11 (and the rules) jump to the closing jump itself. Each ``JUMP_IF_X_OR_POP`` whose operand
    runs straight (no jump, no exit) into a ``JUMP_FORWARD`` to its own target is sent to that jump
    again: jumping to a jump is the same as jumping where it goes. Offsets are kept."""
    out = list(stream)
    for k, ins in enumerate(stream):
        if ins.opname not in _OR_POPS or not isinstance(ins.argval, int) or ins.argval <= ins.offset:
            continue
        j = next((q for q in range(k + 1, len(stream)) if stream[q].opcode in JUMP_OPCODES
                  or stream[q].opname in _LEAVING), None)
        if (j is not None and stream[j].opname == "JUMP_FORWARD" and stream[j].argval == ins.argval
                and stream[j].offset < ins.argval):
            out[k] = ins._replace(argval=stream[j].offset)
    return out


def breaks_to_loop_ends(stream: list) -> list:
    """A ``break`` out of a ``for`` loop that ends an ``if`` arm before an ``else`` arm: 3.12 threads it
    through the arm's closing ``JUMP_FORWARD`` right after the loop, past the ``else`` arm; 3.11 (and
    the rules) jump to the loop's end, where that closing jump stands. Each forward jump in the
    innermost loop around it to where the jump after the loop goes is sent to that jump again:
    jumping to a jump is the same as jumping where it goes. Offsets are kept. (A ``while`` loop's
    end is not read here: its bottom test and a ``continue`` both jump back, to different heads.)"""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    ends: dict[int, int] = {}  # index of a for loop's FOR_ITER -> index of the instruction after the loop
    for n, ins in enumerate(stream):
        if ins.opname == "FOR_ITER" and ins.argval in position:
            ends[n] = position[ins.argval]
    loops = [(head, end) for head, end in ends.items() if end < len(stream)]
    arms = {ins.argval for ins in stream if ins.opname.startswith("POP_JUMP_FORWARD_IF_")}
    out = list(stream)
    for head, end in loops:
        after = stream[end]
        if after.opname != "JUMP_FORWARD" or not head < end or end + 1 >= len(stream):
            continue
        if stream[end + 1].offset not in arms or stream[end + 1].offset <= stream[head].offset:
            continue  # the jump after the loop closes no if arm before an else arm
        for k in range(head + 1, end):
            ins = stream[k]
            if ins.opname != "JUMP_FORWARD" or ins.argval != after.argval:
                continue
            innermost = min(((h, e) for h, e in loops if h <= k < e), key=lambda loop: loop[1] - loop[0])
            if innermost == (head, end):
                out[k] = ins._replace(argval=after.offset)
    return out


def closed_jump_arms(stream: list) -> tuple[list, int]:
    """An ``if`` arm ending in ``if c: break`` (or ``continue``) before an ``else`` arm: 3.12 threads
    the inner test's failure past the ``else`` arm, where the arm's end would have jumped; 3.11
    jumped to the arm's own closing ``JUMP_FORWARD``. That jump is put back after the ``break`` (at
    the free odd offset after it; the caller renumbers) and the arm's tests leaving past the ``else``
    go to it: jumping to a jump is the same as jumping where it goes, and nothing falls into it.
    Returns the stream and how many jumps were put back."""
    return put_back_closing_jumps(stream, _LOOP_EXITS, accept=_leaves_loop)


def closed_negated_arms(stream: list) -> tuple[list, int]:
    """An ``if`` arm ending in ``if c: return v`` whose own test jumps over a ``JUMP_FORWARD`` to the
    ``else`` arm (``if not (a and b):``, where the test's last part hops the jump when it holds): 3.12
    threads the inner test past the ``else`` arm, as for any arm (:func:`.tails.close_threaded_arms`,
    which reads only arms a conditional jump skips); 3.11 jumped to the arm's closing ``JUMP_FORWARD``
    after the return. That jump is put back at the free odd offset after the return (the caller
    renumbers) and the inner tests leaving past the ``else`` arm, all to one place, go to it: jumping
    to a jump is the same as jumping where it goes, and nothing falls into it after a return.
    Returns the stream and how many jumps were put back."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    taken = set(position)
    hops: dict[int, Any] = {}
    out = list(stream)
    for h in range(1, len(stream) - 1):
        over, hop = stream[h - 1], stream[h]
        if (hop.opname != "JUMP_FORWARD" or not over.opname.startswith("POP_JUMP_FORWARD_IF_")
                or over.argval != stream[h + 1].offset or hop.argval not in position):
            continue
        e = position[hop.argval]  # the else arm's first instruction
        if e <= h + 2 or e in hops or stream[e - 1].opname not in _LEAVING:
            continue
        inner = [k for k in range(h + 1, e - 1) if out[k].opname.startswith("POP_JUMP_FORWARD_IF_")
                 and isinstance(out[k].argval, int) and out[k].argval > hop.argval]
        targets = {out[k].argval for k in inner}
        free = stream[e - 1].offset + 1
        if len(targets) != 1 or next(iter(targets)) not in position or free in taken or free >= hop.argval:
            continue
        taken.add(free)
        hops[e] = forward_jump(stream[e - 1], next(iter(targets)), offset=free)
        for k in inner:
            out[k] = out[k]._replace(argval=free)
    return placed_before(out, hops) if hops else (stream, 0)


def _crowded(stream: list) -> bool:
    """Whether a forward conditional jump lands right after an instruction that leaves the function
    and sits at the offset just before its target: no odd offset is free between them."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    for ins in stream:
        if not ins.opname.startswith("POP_JUMP_FORWARD_IF_") or not isinstance(ins.argval, int):
            continue
        e = position.get(ins.argval)
        if e is None or e == 0:
            continue
        last: Any = stream[e - 1]
        if last.opname in _LEAVING and last.offset + 1 == ins.argval:
            return True
    return False


def _leaves_loop(stream: list, position: dict, jump: Any, i: int, target: int) -> bool:
    """Whether ``jump``, ending the arm the test at ``i`` skips, is a ``break`` (forward past
    ``target``, where the arm's threaded tests go, to the end of a loop that starts before the test:
    a ``for`` loop's exit or the instruction after a bottom test or back-jump to before the test) or a
    ``continue`` (back before the test); not a case body's jump past a ``match`` statement's other
    cases, nor a jump inside a condition (``if (x if c else y):`` jumps forward to its body)."""
    test = stream[i]
    if jump.opname != "JUMP_FORWARD":
        return jump.argval < test.offset
    end = position.get(jump.argval)
    if jump.argval <= target or end is None:
        return False
    if any(ins.opname == "FOR_ITER" and ins.argval == jump.argval for ins in stream[:i]):
        return True
    back = stream[end - 1]
    return back.opname in _BACK and isinstance(back.argval, int) and back.argval <= test.offset
