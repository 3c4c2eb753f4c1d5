"""3.11's block layout for 3.12+ streams: since 3.12 the compiler moves every block reached only by
an exception (``except`` clauses, ``with`` exits, their clean-ups) to the end of the code, and a
handler leaves by jumping back. 3.11 placed each handler right after the code it protects, jumped
over by the normal path. The decompiler's try and with rules read that layout, so the handlers are
put back there: before the instruction they return to, behind a ``JUMP_FORWARD`` to it.

Moving blocks changes no behaviour when every jump keeps its target, fall-throughs are made explicit
and each instruction keeps its handler: offsets are then renumbered in the new order, the exception
table is rebuilt from each instruction's handler, and jump names follow their new direction. When
the layout is not the one described (a jump from normal code into the moved part, a block that falls
into it) nothing moves, and the rules refuse what they cannot read.

Where a handler goes: before the instruction it jumps back to; after the jump that closes an
enclosing ``if`` arm (or, for a ``try`` whose ``else`` clause or body ends the arm in a ``return``,
where the next arm starts; not after the closing jump of an ``if`` inside the body whose ``else:
pass`` falls onto the exit); after a ``with`` body's final ``return``; after the normal path's copy of
a ``finally`` body (also for a ``finally`` around a ``try/except``, whose handler guards only the
except clauses since 3.12); and, for a ``try`` that always returns, where it already is, before the
code after the statement that only the handler reaches."""

from __future__ import annotations

import dis
from collections import Counter
from typing import Any

from . import finally_copies, landings
from .streams import is_jump

_TERMINATORS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD",
                "JUMP_BACKWARD_NO_INTERRUPT"}
_UNCONDITIONAL = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}
_WITH_CLEANUP = ["COPY", "POP_EXCEPT", "RERAISE"]
_WITH_EXIT = ["LOAD_CONST", "LOAD_CONST", "LOAD_CONST", "PRECALL", "CALL", "POP_TOP"]


def relayout(stream: list, entries: list) -> tuple[list, list]:
    """(instructions, entries) with handler blocks where 3.11 put them; unchanged when unsure."""
    if not entries or not stream:
        return stream, entries
    position = {ins.offset: n for n, ins in enumerate(stream)}
    cold = min(e.target for e in entries)
    c = position.get(cold)
    if c is None or c == 0 or stream[c - 1].opname not in _TERMINATORS:
        return stream, entries
    if any(is_jump(ins) and ins.argval >= cold for ins in stream[:c]):
        return stream, entries  # normal code reaches into the tail: not 3.12's cold blocks
    handler_of = {ins.offset: _handler(entries, ins.offset) for ins in stream}
    groups = _groups(stream, entries, c, cold)
    if groups is None:
        return stream, entries
    groups, outer = landings.outer_handlers_apart(groups, entries, cold)
    groups = landings.finally_tails_home(groups, entries, outer)
    before: dict[int, list] = {}  # warm offset -> the groups placed just before it, in order
    starts: dict[int, int] = {}  # id of a placed group -> the first offset its handler protects
    empty: set[int] = set()
    for group in groups:
        if id(group) in outer:  # an outer try's handler: it goes where it leaves to, like 3.11's
            land = landings.outer_landing(group, cold)
        else:
            land = _landing(group, entries, cold, stream, position)
        if land is None:
            return stream, entries
        first_protected = outer.get(id(group), min(e.start for e in entries if e.target == group[0].offset))
        nested = _nested_finally(group, entries, cold, stream, position, land)
        if nested is not None:  # a finally around a try/except: its handler goes after its own copy
            group, tail, tail_land = nested[0], _with_cleanup_first(nested[1], entries), nested[2]
            starts[id(tail)] = first_protected
            before.setdefault(tail_land, []).append(tail)
        placed = _with_cleanup_first(group, entries)
        starts[id(placed)] = first_protected
        before.setdefault(land, []).append(placed)
        if nested is not None and tail_land == land:  # the finally copy is empty: 3.11 put its handler
            empty.add(id(placed))  # after the except clauses and a jump over it
    out: list = []
    added: set[int] = set()
    for n, ins in enumerate(stream[:c] + [None]):
        if ins is None:  # handlers whose statement ends the code stay at the end, in their order
            out += [x for group in before.get(cold, []) for x in group]
            break
        early, here = landings.loop_body_groups(out, before.get(ins.offset, []), starts)
        early, here = early + [g for g in here if id(g) in empty], [g for g in here if id(g) not in empty]
        landings.jump_over(out, early, ins.offset, position, added, handler_of)
        for group in early:  # handlers of a try or with in the loop ending here (3.11 kept them in it), or
            out += group  # the except clauses of a try whose finally body's normal copy is empty (before its hop)
        if here:
            first = min(starts[id(g)] for g in here)
            # jumps from the statement's own code, as laid out so far: a handler of an earlier
            # statement placed before it keeps its jump (it came from the cold part, later offsets)
            since = next((k for k, x in enumerate(out) if x.offset == first), len(out))
            inside = [k for k, x in enumerate(out) if k >= since and is_jump(x) and x.argval == ins.offset]
            moved_ahead = (ins.opname == "JUMP_FORWARD" and (inside or (out and out[-1].opname not in _TERMINATORS))
                           and all(group[-1].opname in _TERMINATORS for group in here))
            if moved_ahead:  # the statement's end is itself a jump: 3.11 jumped over the handlers with it
                out.append(ins)
            elif inside or (out and out[-1].opname not in _TERMINATORS):  # the normal path jumps over them
                hop = out[-1].offset + 1
                while hop in position or hop in added:
                    hop += 1
                added.add(hop)
                for k in inside:  # 3.11 ended the statement there and jumped from it
                    out[k] = out[k]._replace(argval=hop)
                out.append(ins._replace(opname="JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0,
                                        argval=ins.offset, argrepr="", offset=hop))
                handler_of[hop] = None
            for group in here:
                _thread_with_exit(out, group, ins.offset, added)
                out += group
            if moved_ahead:
                continue
        out.append(ins)
    if len(out) != len(stream) + len(added) or {ins.offset for ins in out} - added != set(position):
        return stream, entries  # every instruction must still be there, once
    out, removed = landings.without_hops_to_next(out)
    out = _without_arm_end_nops(out, [land for land, groups in before.items()
                                      if any(_is_finally(group) for group in groups)], removed, added)
    return _renumber(out, handler_of, removed, type(entries[0]))


def _without_arm_end_nops(stream: list, landings: list[int], removed: dict[int, int], added: set[int]) -> list:
    """The ``NOP`` 3.12 keeps at the end of an ``if`` arm in the normal path's copy of a ``finally``
    body, whose test jumps past it to the jump over the handler: 3.11 had none (the arm's test
    landed on that jump), and a ``NOP`` does nothing. Each removed one is recorded in ``removed``."""
    targets = {ins.argval for ins in stream if is_jump(ins)}
    drop: set[int] = set()
    for land in landings:
        hop = next((n for n, ins in enumerate(stream) if ins.offset in added and ins.argval == land), None)
        if hop is None or hop < 2:
            continue
        k = hop - 1
        if (stream[k].opname == "NOP" and stream[k].offset not in targets
                and stream[k + 1].offset in targets and not is_jump(stream[k - 1])):
            drop.add(stream[k].offset)
            removed[stream[k].offset] = stream[k + 1].offset
    return [ins for ins in stream if ins.offset not in drop]


def renumbered(stream: list, entries: list) -> tuple[list, list]:
    """``stream`` (with instructions put in at odd offsets) at offsets 0, 2, 4, ..., its table rebuilt."""
    handler_of = {ins.offset: _handler(entries, ins.offset) for ins in stream}
    entry_type = type(entries[0]) if entries else tuple
    return _renumber(stream, handler_of, {}, entry_type)


def _handler(entries: list, offset: int) -> tuple | None:
    entry = next((e for e in entries if e.start <= offset < e.end), None)
    return None if entry is None else (entry.target, entry.depth, entry.lasti)


def _groups(stream: list, entries: list, c: int, cold: int) -> list[list] | None:
    """The moved tail cut at each handler that protects normal code, each with the clean-ups after it."""
    primary = sorted({e.target for e in entries if e.start < cold})
    starts = [n for n in range(c, len(stream)) if stream[n].offset in primary]
    if not starts or starts[0] != c:
        return None
    bounds = starts + [len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:])]


def _landing(group: list, entries: list, cold: int, stream: list, position: dict) -> int | None:
    """Where a handler group goes: before the normal-code instruction it jumps back to (the most used
    one), or, when it never returns there, right after the range it protects."""
    exits = Counter(ins.argval for ins in group if is_jump(ins) and ins.argval < cold)
    first = group[0].offset
    protected = [e for e in entries if e.target == first and e.start < cold]
    if not protected:
        return None
    end = max(e.end for e in protected)
    onward = _onward_exit(exits, min(e.start for e in protected))
    if onward is not None:
        after = _past_jump_over(stream, position, end, onward, cold, min(e.start for e in protected))
        return onward if after is None else after
    if end not in position or end >= cold:
        return None
    if exits:  # it goes back to a loop's head (a continue): 3.11 put it after the body's own back-jump
        k = position[end]
        while k < position[cold] and stream[k].opname not in _TERMINATORS:
            k += 1
        k = landings.loop_back_jump(stream, k, position[cold], set(exits))
        return stream[k + 1].offset if k + 1 <= position[cold] else None
    if _is_finally(group):  # 3.11 put a finally handler after the normal path's copy of the body
        copy = _finally_copy(group, entries, stream, position[end], position[cold])
        return None if copy is None else copy
    carried = _carried_on(group, stream, position, end, cold)
    return carried if carried is not None else _past_final_return(stream, position, end, group)


def _carried_on(group: list, stream: list, position: dict, end: int, cold: int) -> int | None:
    """A try whose body always returns, so the code after the statement is reached only from the
    handler: 3.12+ lays it out as 3.11 did, the handler right after the body's final ``return`` and
    the code after the statement after the handler, which jumps there. Nothing moves: the handler's
    place is ``cold`` (it stays), or None when this is not the shape. The handlers of a nested ``try``
    may stand before it (they go back to their own statement); it is then the last group."""
    if (group[0].offset != cold and group[-1] is not stream[-1]) or end not in position:
        return None
    tail = stream[position[end]:position[cold]]
    if not tail or tail[-1].opname != "RETURN_VALUE":
        return None
    if any(is_jump(x) and not end <= x.argval < cold for x in tail):
        return None  # (an ``else`` clause with branches and returns of its own may stand before it)
    inside = {ins.offset: n for n, ins in enumerate(group)}
    carries = any(ins.opname == "JUMP_FORWARD" and ins.argval in inside and inside[ins.argval] > 0
                  and group[inside[ins.argval] - 1].opname == "RERAISE" for ins in group)
    return cold if carries else None


def _onward_exit(exits: Counter, start: int) -> int | None:
    """The handler's most used way back at or past the protected code's ``start``: where the
    statement ends, not a ``continue`` back to a loop's head (which a handler may also take)."""
    onward = Counter({target: n for target, n in exits.items() if target >= start})
    return onward.most_common(1)[0][0] if onward else None


def _past_jump_over(stream: list, position: dict, end: int, exit: int, cold: int, start: int) -> int | None:
    """When the protected code ends in a ``JUMP_FORWARD`` to where the handler goes back (the end of an
    enclosing ``if`` whose other arms lie between), 3.11 put the handler right after that jump."""
    if end not in position:
        return None
    k = position[end]
    while k < len(stream) and stream[k].opname == "NOP":
        k += 1
    if [ins.opname for ins in stream[k:k + len(_WITH_EXIT)]] == _WITH_EXIT:  # a with's normal exit call
        k += len(_WITH_EXIT)
    if landings.falls_onto(stream, k, exit):  # the normal path runs straight on to where the handler goes
        return None
    if k + 1 < position[cold] and stream[k].opname != "JUMP_FORWARD":
        arm_tests = {x.argval for x in stream[:position.get(start, 0)] if x.opname.startswith("POP_JUMP_FORWARD_IF_")}
        returned = _straight_return(stream, k, position[cold])
        if returned is None:
            returned = _closed_return(stream, k, position[cold], arm_tests, exit)
        if returned is None:
            return _arm_closing(stream, position, k, exit, cold, arm_tests)
        if returned + 1 >= position[cold] or stream[returned + 1].offset == exit:
            return None
        if stream[returned + 1].offset in arm_tests:
            return stream[returned + 1].offset  # the next arm
        closed = landings.closed_after_return(stream, returned, position[cold], exit, arm_tests)
        if closed is not None:
            return closed
        return _past_inner_return(stream, position, k, returned, exit, cold)
    if k + 1 >= position[cold] or stream[k].opname != "JUMP_FORWARD" or stream[k].argval != exit:
        return None
    if _else_pass_before(stream, k, exit, start):
        return None
    return stream[k + 1].offset if stream[k + 1].offset != exit else None


def _else_pass_before(stream: list, k: int, exit: int, start: int) -> bool:
    """The jump at ``k`` closes an ``if`` arm inside the protected code whose ``else: pass`` arm (a
    ``NOP`` its test jumps to) falls onto ``exit``: the ``NOP`` is the body's, not another arm of an
    enclosing ``if``, and 3.11 put the handler after it, behind a jump to ``exit``."""
    nop = stream[k + 1]
    return (nop.opname == "NOP" and k + 2 < len(stream) and stream[k + 2].offset == exit
            and any(x.opname.startswith("POP_JUMP_FORWARD_IF_") and x.argval == nop.offset
                    and start <= x.offset < stream[k].offset for x in stream))


def _arm_closing(stream: list, position: dict, k: int, exit: int, cold: int, arm_tests: set) -> int | None:
    """A try whose ``else`` clause ends an ``if`` arm (the arm's closing ``JUMP_FORWARD`` to where the
    handler goes back, the next arm after it): 3.11 put the handler after that jump, where the next
    arm starts. Its offset, or None unless every jump between stays in the clause or goes there."""
    starts = [position[t] for t in arm_tests if t in position and k < position[t] < position[cold]]
    if not starts:
        return None
    j = min(starts)
    closing = stream[j - 1]
    if closing.opname != "JUMP_FORWARD" or closing.argval != exit or stream[j].offset == exit:
        return None
    inside = {ins.offset for ins in stream[k + 1:j + 1]}
    if any(is_jump(x) and x.argval != exit and x.argval not in inside for x in stream[k:j - 1]):
        return None
    return stream[j].offset


def _straight_return(stream: list, k: int, stop: int) -> int | None:
    """Index of the ``RETURN_VALUE`` that straight code from ``k`` runs into (a try body or ``else``
    clause ending an ``if`` arm in a ``return``, which 3.12+ leaves unprotected), or None."""
    while k < stop and not is_jump(stream[k]) and stream[k].opname not in _TERMINATORS:
        k += 1
    return k if k < stop and stream[k].opname == "RETURN_VALUE" else None


def _past_inner_return(stream: list, position: dict, k: int, returned: int, exit: int, cold: int) -> int | None:
    """A ``with`` body ending in ``if c: return v`` inside an ``if`` arm: the return leaves the protected
    range (its exit call runs unprotected), the test lands after it on the body's normal exit, and the
    arm's closing ``JUMP_FORWARD`` to where the handler goes back follows. 3.11 put the handler right
    after that jump, where the next arm starts: its offset, or None when this is not the shape."""
    landing = stream[returned + 1].offset
    if not any(x.opname.startswith("POP_JUMP_FORWARD_IF_") and x.argval == landing for x in stream[:k]):
        return None
    j = returned + 1
    while j < position[cold] and stream[j].opname == "NOP":
        j += 1
    if [ins.opname for ins in stream[j:j + len(_WITH_EXIT)]] != _WITH_EXIT:
        return None
    j += len(_WITH_EXIT)
    if j + 1 >= position[cold] or stream[j].opname != "JUMP_FORWARD" or stream[j].argval != exit:
        return None
    return stream[j + 1].offset if stream[j + 1].offset != exit else None


def _closed_return(stream: list, k: int, stop: int, arm_tests: set, exit: int) -> int | None:
    """Index of the ``RETURN_VALUE`` ending an ``else`` clause with branches or loops of its own that
    ends an ``if`` arm (the next arm's test lands right after it), every jump between staying inside
    the clause and the handler's way back (``exit``) outside it; None when that is not the shape."""
    for j in range(k, stop - 1):
        if stream[j].opname == "RETURN_VALUE" and stream[j + 1].offset in arm_tests:
            inside = {ins.offset for ins in stream[k:j + 1]}
            if exit in inside or any(is_jump(x) and x.argval not in inside for x in stream[k:j]):
                return None
            return j
    return None


def _thread_with_exit(out: list, group: list, next_offset: int, added: set[int]) -> None:
    """A ``with`` ending an ``if`` arm: 3.11's normal exit jumped to the end of the statement, where
    the exit handler's clean-up fell into the arm's own jump past the other arms; 3.12 jumps straight
    past them from both. The normal exit is pointed at the handler's closing jump again (the same
    place, one jump later)."""
    if [ins.opname for ins in group[:2]] != ["PUSH_EXC_INFO", "WITH_EXCEPT_START"] or not out:
        return
    last, before = group[-1], out[-1]
    if (last.opname in _UNCONDITIONAL and last.argval != next_offset and before.offset not in added
            and before.opname == "JUMP_FORWARD" and before.argval == last.argval):
        out[-1] = before._replace(argval=last.offset)


def _past_final_return(stream: list, position: dict, end: int, group: list) -> int:
    """A try body ending in ``if c: return x`` leaves its range before the ``return`` (which runs
    unprotected); the statement ends where the test jumps, after that return."""
    k = position[end]
    past_exits = _past_with_exits(stream, k)
    if past_exits is not None:
        return past_exits
    if stream[k].opname == "RETURN_VALUE" and k + 1 < len(stream):  # ``return value`` ending the body
        return stream[k + 1].offset
    if (k + 2 < len(stream) and stream[k].opname == "LOAD_CONST" and stream[k + 1].opname == "RETURN_VALUE"
            and _compiled_before(stream[k], group)):
        return stream[k + 2].offset  # ``return constant`` ending the body: 3.12 leaves its load unprotected
    last = stream[k - 1] if k else None
    if last is None or not last.opname.startswith("POP_JUMP_FORWARD_IF_") or last.argval not in position:
        return end
    j = position[last.argval]
    if j - 1 > k and stream[j - 1].opname == "RETURN_VALUE" and not any(
            x.opname in _TERMINATORS or is_jump(x) for x in stream[k:j - 1]):
        return last.argval
    return end


def _past_with_exits(stream: list, k: int) -> int | None:
    """A ``with`` body ending in ``return``: the value is kept below the exit call (``SWAP 2``, one exit
    per enclosing ``with``), then returned; 3.11 put the exit handler after that return. The offset
    after the return, or None when the code at ``k`` is not that."""
    j, exits = k, 0
    while True:
        swap = 1 if j < len(stream) and stream[j].opname == "SWAP" and stream[j].arg == 2 else 0
        if [ins.opname for ins in stream[j + swap:j + swap + len(_WITH_EXIT)]] != _WITH_EXIT:
            break
        j, exits = j + swap + len(_WITH_EXIT), exits + 1
    if not exits:
        return None
    if j + 1 < len(stream) and stream[j].opname == "RETURN_VALUE":
        return stream[j + 1].offset
    if j + 2 < len(stream) and [x.opname for x in stream[j:j + 2]] == ["LOAD_CONST", "RETURN_VALUE"]:
        return stream[j + 2].offset
    return None


def _compiled_before(load: Any, group: list) -> bool:
    """Whether the constant ``load`` returns was compiled before the handler's: the compiler numbers
    constants in source order (after the docstring's slot, ``None`` or the docstring), so a ``return``
    after the whole ``try`` statement (the same instructions) has a later number than a constant first
    used by the handler. ``False`` when unsure (no constant index to read)."""
    if not isinstance(load.arg, int):
        return False
    theirs = [ins.arg for ins in group if ins.opname == "LOAD_CONST" and isinstance(ins.arg, int)
              and ins.arg > 0]
    return all(arg > load.arg for arg in theirs) and load.arg > 0


def _nested_finally(group: list, entries: list, cold: int, stream: list, position: dict,
                    land: int) -> tuple[list, list, int] | None:
    """A ``try/except/finally``: 3.12+ protects no normal code with the ``finally`` handler (only the
    ``except`` clauses and their clean-ups), so it trails the except group it guards. 3.11 put it after
    the normal path's copy of the ``finally`` body, which starts where the except group lands.
    (the except group, the finally handler with its clean-up, where the latter goes), or None."""
    if land not in position or land >= cold:
        return None
    targets = {e.target for e in entries}
    inside = {ins.offset for ins in group}
    for m in range(1, len(group)):
        head = group[m]
        if head.opname != "PUSH_EXC_INFO" or head.offset not in targets:
            continue
        guarded = [e for e in entries if e.target == head.offset]
        if any(e.start >= head.offset or e.start not in inside for e in guarded):
            return None  # it guards code outside the except group: not the shape described
        tail = group[m:]
        if not _is_finally(tail):
            continue  # a try nested in an except clause
        after = _finally_copy(tail, entries, stream, position[land], position[cold])
        return (group[:m], tail, after) if after is not None else None
    return None


def _is_finally(group: list) -> bool:
    """A handler that is no ``except`` clause: no type test, no bare ``POP_TOP`` of the exception."""
    names = [ins.opname for ins in group[1:8]]
    return (group[0].opname == "PUSH_EXC_INFO" and names[:1] not in (["POP_TOP"], ["WITH_EXCEPT_START"])
            and "CHECK_EXC_MATCH" not in names)


def _finally_copy(group: list, entries: list, stream: list, at: int, cold_at: int) -> int | None:
    """Offset just after the normal path's copy of a ``finally`` body starting at index ``at``: the
    plain comparison below, or, where the body holds a ``try`` statement (whose handler the normal copy
    lays out in the cold tail), :func:`finally_copies.finally_copy_end`."""
    found = _plain_finally_copy(group, stream, at, cold_at)
    if found is None:
        found = landings.past_own_back_jump(stream, at, finally_copies.finally_copy_end(group, entries, stream, at, cold_at))
    return found


def _plain_finally_copy(group: list, stream: list, at: int, cold_at: int) -> int | None:
    """Offset just after the normal path's copy of a ``finally`` body starting at index ``at``: the
    handler's copy, up to its ``RERAISE``, without the ``POP_TOP; POP_EXCEPT`` a ``return`` in it adds."""
    body: list[str] = []
    for ins in group[1:]:
        if ins.opname == "RERAISE":
            break
        body.append(ins.opname)
    else:
        return None
    cleaned: list[str] = []
    for name in body:
        if name == "POP_EXCEPT" and cleaned and cleaned[-1] == "POP_TOP":
            cleaned.pop()
            continue
        cleaned.append(name)
    names = [ins.opname for ins in stream[at:cold_at] if ins.opname != "NOP"]
    cleaned = [name for name in cleaned if name != "NOP"]
    if names[:len(cleaned)] != cleaned:
        return None
    count, k = 0, at
    while count < len(cleaned):
        count += stream[k].opname != "NOP"
        k += 1
    if k + 1 < cold_at and stream[k].opname == "NOP" and any(
            is_jump(x) and x.argval == stream[k + 1].offset for x in stream[at:k]):
        k += 1  # the end of an if arm in the copy, kept for its line: the arm's test jumps past it
    return stream[k].offset if k <= cold_at else None


def _with_cleanup_first(group: list, entries: list) -> list:
    """3.11 put a ``with`` exit's clean-up (``COPY 3; POP_EXCEPT; RERAISE 1``) right after its
    ``RERAISE 2``, before the block that swallows the exception; 3.12 puts it last. That holds for a
    ``with`` nested in a handler too (an ``except`` clause holding a ``with``)."""
    for h in [n for n, ins in enumerate(group[:-1]) if ins.opname == "PUSH_EXC_INFO"
              and group[n + 1].opname == "WITH_EXCEPT_START"]:
        names = [ins.opname for ins in group]
        reraise = next((n for n in range(h, len(names)) if names[n] == "RERAISE"), None)
        target = next((e.target for e in entries if e.start <= group[h].offset < e.end), None)
        at = next((n for n, ins in enumerate(group) if ins.offset == target), None)
        if reraise is None or at is None or at <= reraise or names[at:at + 3] != _WITH_CLEANUP:
            continue
        cleanup = group[at:at + 3]
        rest = group[:at] + group[at + 3:]
        group = rest[:reraise + 1] + cleanup + rest[reraise + 1:]
    return group


def _renumber(stream: list, handler_of: dict, removed: dict[int, int], entry_type: Any) -> tuple[list, list]:
    """Offsets 0, 2, 4, ... in the new order; jumps renamed by their new direction; the exception
    table rebuilt from each instruction's handler."""
    new = {ins.offset: 2 * n for n, ins in enumerate(stream)}
    end = 2 * len(stream)

    def moved(offset: int) -> int:
        for _ in range(len(removed) + 1):
            if offset not in removed:
                break
            offset = removed[offset]
        return new.get(offset, end)

    out = []
    for ins in stream:
        offset = new[ins.offset]
        if is_jump(ins):
            target = moved(ins.argval)
            name = _directed(ins.opname, target > offset)
            out.append(ins._replace(offset=offset, argval=target, opname=name))
        else:
            out.append(ins._replace(offset=offset))
    entries: list = []
    for ins, original in zip(out, stream):
        handler = handler_of.get(original.offset)
        if handler is None:
            continue
        target, depth, lasti = handler
        entry = (ins.offset, ins.offset + 2, moved(target), depth, lasti)
        if entries and entries[-1][1] == ins.offset and entries[-1][2:] == entry[2:]:
            entries[-1] = (entries[-1][0],) + entry[1:]
        else:
            entries.append(entry)
    return out, [entry_type(*e) for e in entries]


def _directed(name: str, forward: bool) -> str:
    """A jump's canonical name for its direction."""
    if name.startswith("POP_JUMP_FORWARD_IF_") or name.startswith("POP_JUMP_BACKWARD_IF_"):
        condition = name.split("_IF_", 1)[1]
        return f"POP_JUMP_{'FORWARD' if forward else 'BACKWARD'}_IF_{condition}"
    if name in _UNCONDITIONAL:
        if forward:
            return "JUMP_FORWARD"
        return name if name != "JUMP_FORWARD" else "JUMP_BACKWARD"
    return name
