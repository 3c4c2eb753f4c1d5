"""Where :mod:`.layout` puts 3.12+'s moved handler blocks back in a few shapes it reads with help:
an outer ``try``'s ``except`` clause trailing a later ``finally`` handler, a handler going back to a
loop's head past an ``else`` clause's own jumps, and a try body ending in ``if c: return v`` that
ends an ``if`` arm. Each returns None (or what it was given) when unsure; the layout then keeps the
stream as it is and the rules refuse what they cannot read."""

from __future__ import annotations

from collections import Counter

from .streams import is_jump

_UNCONDITIONAL = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}


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
