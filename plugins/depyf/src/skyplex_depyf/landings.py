"""Where :mod:`.layout` puts 3.12+'s moved handler blocks back in a few shapes it reads with help:
an outer ``try``'s ``except`` clause trailing a later ``finally`` handler, a handler going back to a
loop's head past an ``else`` clause's own jumps, a try body ending in ``if c: return v`` that ends an
``if`` arm, the handlers of a ``try`` or ``with`` in a loop body (kept in the loop, its exit and
``break``s jumping past them), a ``finally`` handler laid out after the handler of a statement in its
body, the copy of a ``finally`` body ending in ``for`` loops, and the except clauses of a ``try`` whose
``finally`` body's normal copy is empty (before the jump over its handler). Each returns None (or
what it was given) when unsure; the layout then keeps the stream as it is and the rules refuse what
they cannot read."""

from __future__ import annotations

from collections import Counter

from .streams import forward_jump, is_jump

_UNCONDITIONAL = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}
_ENDS = _UNCONDITIONAL | {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"}


def outer_handlers_apart(groups: list[list], entries: list, cold: int) -> tuple[list[list], dict[int, int]]:
    """The groups with each trailing handler that guards only the handler code of an earlier group
    (an outer ``try``'s ``except`` clause around a nested ``try/except``, trailing the ``finally``
    handler of a later ``try`` in its ``else`` clause) cut off into a group of its own, when it
    leaves to normal code; and ``{id of such a group: the first offset the earlier group's handler
    protects}``, where the outer statement starts."""
    out: list[list] = []
    outer: dict[int, int] = {}
    for n, group in enumerate(groups):
        cut = None
        for m in range(1, len(group)):
            head = group[m]
            guarded = [e for e in entries if e.target == head.offset]
            if head.opname != "PUSH_EXC_INFO" or not guarded or any(e.start < cold for e in guarded):
                continue
            home = [g for g in groups[:n] if all(g[0].offset <= e.start and e.end <= g[-1].offset + 2
                                                  for e in guarded)]
            if home and any(is_jump(x) and x.argval < cold for x in group[m:]):
                cut = (m, min(e.start for e in entries if e.target == home[-1][0].offset))
                break
        if cut is None:
            out.append(group)
            continue
        m, start = cut
        out += [group[:m], group[m:]]
        outer[id(out[-1])] = start
    return out, outer


def outer_landing(group: list, cold: int) -> int | None:
    """Where an outer ``try``'s handler cut off by :func:`outer_handlers_apart` goes: before the
    normal-code instruction it leaves to (the most used one), where the statement ends."""
    exits = Counter(x.argval for x in group if is_jump(x) and x.argval < cold)
    return exits.most_common(1)[0][0] if exits else None


def loop_back_jump(stream: list, k: int, stop: int, heads: set) -> int:
    """The index of the body's own back-jump to one of ``heads`` when ``stream[k]``, the first
    instruction ending a block after the protected code, is a ``JUMP_FORWARD`` inside the code that
    still runs before it (a conditional expression or an ``if`` arm in an ``else`` clause): every jump
    from ``k`` to it lands between the two. Else ``k``."""
    if k >= stop or stream[k].opname != "JUMP_FORWARD":
        return k
    back = next((j for j in range(k + 1, stop) if stream[j].opname in _UNCONDITIONAL
                 and stream[j].argval in heads and stream[j].argval < stream[k].offset), None)
    if back is None:
        return k
    inside = {ins.offset for ins in stream[k + 1:back + 1]}
    if any(is_jump(x) and x.argval not in inside for x in stream[k:back]):
        return k
    return back


def closed_after_return(stream: list, returned: int, stop: int, exit: int, arm_tests: set) -> int | None:
    """A try body ending in ``if c: return v`` that ends an ``if`` arm: the test lands after the
    return on the arm's closing ``JUMP_FORWARD`` to where the handler goes back, the next arm after
    it. 3.11 put the handler after that jump, where the next arm starts: its offset, or None."""
    j = returned + 1
    if j + 1 >= stop or stream[j].opname != "JUMP_FORWARD" or stream[j].argval != exit:
        return None
    landing = stream[j].offset
    if not any(x.opname.startswith("POP_JUMP_FORWARD_IF_") and x.argval == landing for x in stream[:returned]):
        return None
    return stream[j + 1].offset if stream[j + 1].offset in arm_tests else None


def falls_onto(stream: list, k: int, exit: int) -> bool:
    """Whether the protected code's normal path (the instruction at ``k``, past a ``with``'s exit
    call) is already where the handler goes back: a ``with`` followed by a folded ``if`` of a
    constant, whose ``NOP`` 3.12+ jumps back to. 3.11 put the handler right before it, the normal
    path jumping over it; :func:`.layout.relayout` does that when the handler lands there."""
    return k < len(stream) and stream[k].offset == exit


def loop_body_groups(out: list, groups: list[list], starts: dict[int, int]) -> tuple[list[list], list[list]]:
    """(the leading ``groups`` that belong inside the loop whose back-jump ends ``out``, the rest):
    handlers of a ``try`` or ``with`` in the loop body (each goes back to the loop's head, which lies
    before the first offset it protects, ``starts[id(group)]``). 3.11 laid them out there, before
    the loop's exit, where its ``FOR_ITER`` and ``break``s jump past them; an outer statement's
    handlers landing at the same place come after them, behind the jump over them that the loop's
    exit then is."""
    if not groups or not out or out[-1].opname not in _UNCONDITIONAL or out[-1].argval >= out[-1].offset:
        return [], groups
    head = out[-1].argval
    n = 0
    while n < len(groups) and head < starts[id(groups[n])] and any(
            is_jump(x) and x.argval == head for x in groups[n]):
        n += 1
    return groups[:n], groups[n:]


def finally_tails_home(groups: list[list], entries: list, outer: dict[int, int]) -> list[list]:
    """``groups``, each trailing ``finally`` handler that guards only an earlier group's code (the
    ``except`` clauses of a ``try/except/finally`` whose ``finally`` body holds a ``with``: 3.12+ lays
    the handler out after that ``with``'s exit handler, the last block moved) moved to the end of that
    group, which it trails otherwise: :func:`.layout._nested_finally` then places it after the normal
    path's copy of the ``finally`` body. (A body holding a ``try`` is :mod:`.finally_tails`'s.) The
    groups are changed in place."""
    for n in range(1, len(groups)):
        group = groups[n]
        if id(group) in outer or [x.opname for x in group[:2]] != ["PUSH_EXC_INFO", "WITH_EXCEPT_START"]:
            continue
        for m in range(1, len(group)):
            head = group[m]
            guarded = [e for e in entries if e.target == head.offset]
            if head.opname != "PUSH_EXC_INFO" or not guarded:
                continue
            home = [g for g in groups[:n] if all(g[0].offset <= e.start and e.end <= g[-1].offset + 2
                                                  for e in guarded)]
            names = [x.opname for x in group[m + 1:m + 8]]
            if not home or names[:1] in (["POP_TOP"], ["WITH_EXCEPT_START"]) or "CHECK_EXC_MATCH" in names:
                continue  # (not a finally handler, or not one guarding an earlier group)
            if any(is_jump(x) and not head.offset <= x.argval <= group[-1].offset for x in group[m:]):
                continue  # it leaves its own block: not the shape described
            home[-1].extend(group[m:])
            del group[m:]
            break
    return groups


def past_own_back_jump(stream: list, at: int, end: int | None) -> int | None:
    """``end`` (where a copy of a ``finally`` body starting at index ``at`` was found to end, its
    comparison blind to unconditional jumps), or the offset past the back-jumps there when they are
    those of loops inside the copy, ending it (``for i in r: pass`` closing the body, maybe nested)."""
    k = next((n for n in range(at, len(stream)) if stream[n].offset == end), None) if end is not None else None
    while k is not None and stream[k].opname in _UNCONDITIONAL and k + 1 < len(stream):
        inside = {x.offset for x in stream[at:k]}
        head = next((x for x in stream[at:k] if x.offset == stream[k].argval), None)
        if head is None or head.opname != "FOR_ITER" or head.argval in inside:
            break
        k += 1
        end = stream[k].offset
    return end


def jump_over(out: list, groups: list[list], land: int, position: dict, added: set[int], handler_of: dict) -> None:
    """Where the normal path laid out so far in ``out`` falls through and ``groups`` are put next: a
    ``JUMP_FORWARD`` to ``land`` appended, at a free odd offset (recorded in ``added``, under no
    handler), so that it jumps over them (the placing then sends it on to the jump over the next)."""
    if not groups or not out or out[-1].opname in _ENDS:
        return
    hop = out[-1].offset + 1
    while hop in position or hop in added:
        hop += 1
    added.add(hop)
    handler_of[hop] = None
    out.append(forward_jump(out[-1], land, offset=hop))


def without_hops_to_next(stream: list) -> tuple[list, dict[int, int]]:
    """Unconditional jumps to the very next instruction do nothing; 3.11 never emits them. Returns
    the rest and, for each removed jump, the instruction that stands for it (the next one)."""
    out = []
    removed: dict[int, int] = {}
    for n, ins in enumerate(stream):
        if ins.opname in _UNCONDITIONAL and n + 1 < len(stream) and stream[n + 1].offset == ins.argval:
            removed[ins.offset] = ins.argval
            continue
        out.append(ins)
    return out, removed
