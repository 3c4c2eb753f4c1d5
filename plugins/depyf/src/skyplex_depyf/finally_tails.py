"""3.11's shared tail in a ``finally`` handler's copy of a body that holds a ``try`` statement.

Where a ``finally`` body holds a ``try`` statement followed by more code (``finally: try: ...
except E: ...; b = 2``), the handler's copy of the body ends in that code and ``RERAISE 0``. 3.11
jumps from the end of the inner ``try`` body and of each of its clauses to that one tail, put right
before the handler's own clean-up (``COPY 3; POP_EXCEPT; RERAISE 1``); 3.12+ copies the tail, small
and ending in a re-raise, into each place that jumped to it. The copies are told by their source
positions, which only copies of one statement share, and all run under the handler's clean-up entry;
each becomes a ``JUMP_FORWARD`` to one copy moved before the clean-up, which runs the same
instructions under the same handler: nothing changes what the code does. The recompile check proves
what the decompiler makes of it."""

from __future__ import annotations

from .layout import renumbered
from .streams import forward_jump, is_jump, source_key

_ENDS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD",
         "JUMP_BACKWARD_NO_INTERRUPT"}
_CLEANUP = ["COPY", "POP_EXCEPT", "RERAISE"]


def _handler(entries: list, offset: int) -> tuple | None:
    entry = next((e for e in entries if e.start <= offset < e.end), None)
    return None if entry is None else (entry.target, entry.depth, entry.lasti)


def share_finally_tails(stream: list, entries: list) -> tuple[list, list]:
    """(instructions, entries) with each ``finally`` handler's copied tails shared again, and the
    normal copy's tail put back before the handler; unchanged when unsure."""
    for _ in range(16):  # one handler at a time: each change renumbers the stream
        shared = _share_one(stream, entries)
        if shared is None:
            break
        stream, entries = shared
    for _ in range(16):
        moved = _tail_first(stream, entries)
        if moved is None:
            break
        stream, entries = moved
    return stream, entries


def _tail_first(stream: list, entries: list) -> tuple[list, list] | None:
    """The normal copy of such a body, its ``try`` statement before the handler and its tail (the
    code after the inner statement, falling into the code after the ``finally`` statement) after the
    handler's clean-up, reached by the jumps that end the inner ``try``: 3.11 laid the tail out before
    the handler, jumping over the handler from the tail's end. The handler (``PUSH_EXC_INFO`` to its
    clean-up) moves after the tail, behind a ``JUMP_FORWARD`` to what the tail fell into; nothing
    falls into the handler or the tail, so every path runs the same instructions. The tail is taken
    as such only when it is the handler's own copy of it (same operations, arguments and source
    positions) and a jump lands on it."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    targets = {x.argval for x in stream if is_jump(x)}
    for h, ins in enumerate(stream):
        if ins.opname != "PUSH_EXC_INFO" or h == 0 or stream[h - 1].opname not in _ENDS:
            continue
        c = handler_cleanup(stream, entries, position, h)
        if c is None or not (stream[c - 1].opname == "RERAISE" and stream[c - 1].arg == 0):
            continue
        s = c - 1  # the handler's tail: the straight code before its RERAISE 0
        while s - 1 > h and not is_jump(stream[s - 1]) and stream[s - 1].opname not in _ENDS \
                and stream[s].offset not in targets:
            s -= 1
        if s == c - 1 or not (is_jump(stream[s - 1]) or stream[s - 1].opname in _ENDS):
            continue  # (a body without a jump or an end in it: finally312 moves the handler whole)
        tail = [source_key(x) for x in stream[s:c - 1]]
        n = c + 3
        m = n + len(tail)
        if (None in tail or m >= len(stream) or stream[n].offset not in targets
                or [source_key(x) for x in stream[n:m]] != tail
                or any(x.offset in targets for x in stream[n + 1:m])):
            continue
        hop = forward_jump(stream[m - 1], stream[m].offset, offset=stream[m - 1].offset + 1)
        if hop.offset in position:
            continue
        out = stream[:h] + stream[n:m] + [hop] + stream[h:n] + stream[m:]
        return renumbered(out, entries)
    return None


def _share_one(stream: list, entries: list) -> tuple[list, list] | None:
    position = {ins.offset: n for n, ins in enumerate(stream)}
    for h, ins in enumerate(stream):
        if ins.opname != "PUSH_EXC_INFO":
            continue
        c = handler_cleanup(stream, entries, position, h)
        if c is None:
            continue
        out = _shared(stream, entries, h, c)
        if out is not None:
            return renumbered(out, entries)
    return None


def handler_cleanup(stream: list, entries: list, position: dict, h: int) -> int | None:
    """Index of the ``COPY 3; POP_EXCEPT; RERAISE 1`` closing the ``finally`` handler at ``h`` (entered
    from a ``try``, its own entry one deeper with the instruction offset pushed)."""
    own = next((e for e in entries if e.start <= stream[h].offset < e.end), None)
    entered = [e for e in entries if e.target == stream[h].offset]
    if own is None or not own.lasti or not entered or any(e.lasti or e.depth + 1 != own.depth for e in entered):
        return None
    c = position.get(own.target)
    if c is None or c < h + 2 or [x.opname for x in stream[c:c + 3]] != _CLEANUP:
        return None
    if stream[c].arg != 3 or stream[c + 2].arg != 1:
        return None
    return c


def _shared(stream: list, entries: list, h: int, c: int) -> list | None:
    """``stream`` with the copies of the tail ending in the handler's ``RERAISE 0`` turned into jumps
    to the last copy, moved right before the clean-up at ``c``; None when there are fewer than two."""
    outer = _handler(entries, stream[c - 1].offset + 1)  # what runs the moved tail: the clean-up's entry
    if outer is None or outer[0] != stream[c].offset:
        return None
    ends = [k for k in range(h + 1, c) if stream[k].opname == "RERAISE" and stream[k].arg == 0
            and _handler(entries, stream[k].offset) == outer]
    if len(ends) < 2 or stream[c - 1].opname == "RERAISE" and stream[c - 1].arg == 0:
        return None  # (a tail already right before the clean-up is 3.11's layout)
    targets = {x.argval for x in stream if is_jump(x)} | {e.target for e in entries}
    n = _common_tail(stream, entries, ends, outer, targets, h)
    if n < 2:
        return None
    last = ends[-1]
    copy = stream[last - n + 1:last + 1]
    free = copy[0].offset + 1  # the last copy's place keeps a jump, at the odd offset after it
    if free in {x.offset for x in stream}:
        return None
    out: list = []
    starts = {k - n + 1: k for k in ends}
    k = 0
    while k < len(stream):
        if k == c:
            out += copy
        if k in starts:
            at = stream[k].offset if k != last - n + 1 else free
            out.append(forward_jump(stream[k], copy[0].offset, offset=at))
            k = starts[k] + 1
            continue
        out.append(stream[k])
        k += 1
    return out


def _common_tail(stream: list, entries: list, ends: list, outer: tuple, targets: set, h: int) -> int:
    """How many instructions, up to each of ``ends``, the copies share (same operation, argument and
    source position), all under ``outer``, none a jump or an end but the last, none but the first a
    jump's landing."""
    n = 0
    while True:
        at = [k - n for k in ends]
        if any(k <= h for k in at):
            return n
        keys = [source_key(stream[k]) for k in at]
        if keys[0] is None or any(key != keys[0] for key in keys):
            return n
        if any(_handler(entries, stream[k].offset) != outer for k in at):
            return n
        if n and any(is_jump(stream[k]) or stream[k].opname in _ENDS for k in at):
            return n
        if n and any(stream[k + 1].offset in targets for k in at):
            return n
        if any(b - n <= a for a, b in zip(ends, ends[1:])):
            return n  # (copies overlapping each other)
        n += 1
