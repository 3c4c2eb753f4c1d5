"""Shared ends for 3.12+ streams: where the two arms of a branch end alike (``... ; STORE_FAST y;
RERAISE``), 3.12 copies that end into both arms; 3.11 jumped from the first arm to the second's copy.
The rules read 3.11's shape, so the first arm's copy becomes a ``JUMP_FORWARD`` into the second's.

Running an identical copy or jumping to it does the same, so this changes no behaviour; only copies
that run straight (no jump, no protected instruction, entered only at the top) are merged."""

from __future__ import annotations

import dis
from typing import Any

from .streams import DROPPED, as_op, forward_jump, is_jump, placed_before

_ENDS = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD",
         "JUMP_BACKWARD_NO_INTERRUPT"}
_MERGED = {"RERAISE"}  # the ends whose copies are merged
_UNCONDITIONAL = ("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")


def share_branch_ends(stream: list, entries: list) -> list:
    """``stream`` with each first arm's copy of a shared end replaced by a jump to the second arm's
    (offsets kept; the replaced instructions marked :data:`DROPPED` for the caller to compact). Both
    copies must be protected by the same handler, instruction by instruction."""
    targets = {ins.argval for ins in stream if is_jump(ins)} | {e.target for e in entries}

    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    out = list(stream)
    for p, end in enumerate(stream[:-1]):
        if end.opname not in _MERGED or stream[p + 1].offset not in targets:
            continue
        q = next((k for k in range(p + 1, len(stream)) if stream[k].opname in _ENDS or is_jump(stream[k])), None)
        if q is None or (stream[q].opname, stream[q].argval) != (end.opname, end.argval):
            continue
        same = 1
        while (p - same >= 0 and q - same > p + 1 and _plain(stream[p - same]) and _plain(stream[q - same])
               and (stream[p - same].opname, stream[p - same].argval)
               == (stream[q - same].opname, stream[q - same].argval)
               and _same_source(stream[p - same], stream[q - same])
               and stream[p - same + 1].offset not in targets and stream[q - same + 1].offset not in targets):
            same += 1
        if same < 2 or any(handler(stream[p - k]) != handler(stream[q - k]) for k in range(same)):
            continue
        first = p - same + 1
        out[first] = forward_jump(stream[first], stream[q - same + 1].offset)
        for k in range(first + 1, p + 1):
            out[k] = as_op(stream[k], DROPPED)
    return out


def drop_twin_reraises(stream: list, entries: list) -> list:
    """``RERAISE n; RERAISE n`` under the same handler: 3.12 copies the re-raise that ends a
    ``finally`` handler into an ``if`` arm that falls into it; 3.11 let the arm fall into the one
    re-raise. Falling into an identical instruction does the same, so the first is marked
    :data:`DROPPED` (jumps to it move to the second)."""
    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    out = list(stream)
    for k, (first, second) in enumerate(zip(stream, stream[1:])):
        if (first.opname == second.opname == "RERAISE" and first.arg == second.arg
                and handler(first) == handler(second)):
            out[k] = as_op(first, DROPPED)
    return out


def drop_twin_jumps(stream: list, entries: list) -> list:
    """A ``break`` out of a ``for`` loop whose end is the enclosing loop's back-jump: 3.12 copies that
    back-jump into the ``break`` (``POP_TOP; JUMP_BACKWARD head``); 3.11 jumped forward to the inner
    loop's end, or fell into it when it came next. Jumping to an identical jump does the same, so the
    copy becomes a ``JUMP_FORWARD`` there (or is marked :data:`DROPPED` when the end follows it)."""
    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    position = {ins.offset: n for n, ins in enumerate(stream)}
    out = list(stream)
    for k, jump in enumerate(stream):
        if not k or stream[k - 1].opname != "POP_TOP" or jump.opname != "JUMP_BACKWARD":
            continue
        loops = [ins for ins in stream[:k] if ins.opname == "FOR_ITER" and ins.argval in position
                 and position[ins.argval] > k]
        if not loops:
            continue
        end = position[loops[-1].argval]  # where the innermost loop around the break ends
        twin = stream[end]
        if twin.opname != "JUMP_BACKWARD" or twin.argval != jump.argval or handler(twin) != handler(jump):
            continue
        if end == k + 1:
            out[k] = as_op(jump, DROPPED)
        else:
            out[k] = forward_jump(jump, twin.offset)
    return out


def share_reraises(stream: list, entries: list) -> list:
    """A ``finally`` handler whose ``if`` arm ends the body (``if c: pass``): 3.12 copies the closing
    ``RERAISE`` into the arm where 3.11 jumped to it. An inner ``RERAISE n`` that the next arm
    follows, before the handler's own ``RERAISE n`` under the same handler with no other exit
    between, becomes a ``JUMP_FORWARD`` to that one: re-raising there or here does the same."""
    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    targets = {ins.argval for ins in stream if is_jump(ins)} | {e.target for e in entries}
    cold = min((e.target for e in entries), default=None)
    out = list(stream)
    for p, inner in enumerate(stream[:-1]):
        if (inner.opname != "RERAISE" or cold is None or inner.offset < cold
                or stream[p + 1].offset not in targets or handler(inner) is None):
            continue
        q = next((k for k in range(p + 1, len(stream)) if stream[k].opname in _ENDS), None)
        if q is None or stream[q].opname != "RERAISE" or stream[q].arg != inner.arg:
            continue
        if any(handler(ins) != handler(inner) for ins in stream[p:q + 1]):
            continue
        out[p] = forward_jump(inner, stream[q].offset)
    return out


def _same_source(first: Any, second: Any) -> bool:
    """Whether two instructions carry the same source positions: a copy the compiler made of one
    piece of code (the store of ``y = a if c else b``), not two statements that happen to compile
    alike (``if c: y = 1 else: y = 2`` in a ``finally`` handler, each arm with its own store)."""
    here, there = getattr(first, "positions", None), getattr(second, "positions", None)
    return here is not None and here.lineno is not None and tuple(here) == tuple(there or ())


def _plain(ins: Any) -> bool:
    return ins.opname not in _ENDS and not is_jump(ins) and ins.opname != DROPPED


_WITH_EXIT = ["LOAD_CONST", "LOAD_CONST", "LOAD_CONST", "PRECALL", "CALL", "POP_TOP"]
_WITH_SWALLOW = ["POP_TOP", "POP_EXCEPT", "POP_TOP", "POP_TOP"]


def share_with_exit_tails(stream: list, entries: list) -> list:
    """A ``with`` in an ``except`` clause: its normal exit and its exit handler both leave the clause
    with ``POP_EXCEPT; JUMP_FORWARD t``; 3.13 gives the normal exit its own copy, where 3.11 and 3.12
    jumped to the handler's. The copy becomes that jump (offsets kept; the copy's jump marked
    :data:`DROPPED`): running an identical copy or jumping to it does the same, under one handler."""
    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    targets = {ins.argval for ins in stream if is_jump(ins)} | {e.target for e in entries}
    out = list(stream)
    for n, ins in enumerate(stream[:-1]):
        if n < 4 or ins.opname != "PUSH_EXC_INFO" or stream[n + 1].opname != "WITH_EXCEPT_START":
            continue
        leave, jump = stream[n - 2], stream[n - 1]
        if ([x.opname for x in stream[n - 4:n - 1]] != ["CALL", "POP_TOP", "POP_EXCEPT"]
                or jump.opname not in _UNCONDITIONAL or jump.offset in targets):
            continue
        names = [x.opname for x in stream[n:n + 16]]
        s = next((k for k in range(len(names) - 5) if names[k:k + 4] == _WITH_SWALLOW), None)
        if s is None:
            continue
        theirs, their_jump = stream[n + s + 4], stream[n + s + 5]
        if (theirs.opname != "POP_EXCEPT" or their_jump.opname not in _UNCONDITIONAL or their_jump.argval != jump.argval
                or handler(theirs) != handler(leave) or handler(their_jump) != handler(jump)):
            continue
        out[n - 2] = forward_jump(leave, theirs.offset)
        out[n - 1] = as_op(jump, DROPPED)
    return out


def share_with_continuations(stream: list, entries: list) -> list:
    """A ``with`` exit handler that ends in a copy of the code after the statement (3.12 copies a
    short ``return`` there) jumps to that code instead, as in 3.11, where the handler fell into it."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    out = list(stream)
    for n, ins in enumerate(stream[:-1]):
        if ins.opname != "PUSH_EXC_INFO" or stream[n + 1].opname != "WITH_EXCEPT_START":
            continue
        names = [x.opname for x in stream[n:n + 16]]
        t = next((k for k in range(len(names) - 3) if names[k:k + 4] == _WITH_SWALLOW), None)
        if t is None:
            continue
        start = n + t + 4
        stop = next((k for k in range(start, min(len(stream), start + 12))
                     if stream[k].opname in _ENDS or is_jump(stream[k])), None)
        if stop is None or stream[stop].opname != "RETURN_VALUE":
            continue
        copy = [(x.opname, x.argval) for x in stream[start:stop + 1]]
        protected = [e.end for e in entries if e.target == ins.offset]
        if not protected or max(protected) not in position:
            continue
        k = position[max(protected)]
        while k < len(stream) and stream[k].opname == "NOP":
            k += 1
        after = k + len(_WITH_EXIT)
        if ([x.opname for x in stream[k:after]] != _WITH_EXIT
                or [(x.opname, x.argval) for x in stream[after:after + len(copy)]] != copy):
            continue
        out[start] = forward_jump(stream[start], stream[after].offset)
        for q in range(start + 1, stop + 1):
            out[q] = as_op(stream[q], DROPPED)
    return out


_LEAVING = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"}


def close_threaded_arms(stream: list) -> tuple[list, int]:
    """3.12 threads a test inside an ``if`` arm that ends in a ``return`` straight past the ``else``
    arm; 3.11 jumped to the arm's own closing ``JUMP_FORWARD`` over the ``else``. That jump is put
    back (at a free odd offset before the ``else``; the caller renumbers) and the arm's tests that
    leave past the ``else`` go to it: jumping to a jump is the same as jumping to where it goes.
    Returns the stream and how many jumps were put back."""
    return put_back_closing_jumps(stream, _LEAVING)


def put_back_closing_jumps(stream: list, ends: set, accept: Any = None) -> tuple[list, int]:
    """3.11's closing ``JUMP_FORWARD`` of each ``if`` arm whose last instruction is one of ``ends`` and
    whose tests 3.12 threads past the ``else`` arm (all to one place), put back at the free odd offset
    after that last instruction, the threaded tests sent to it; ``accept(stream, position, last, i,
    target)``, where given, must also hold. Returns the stream and how many jumps were put back."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    taken = set(position)
    hops: dict[int, Any] = {}  # index of the else arm's first instruction -> the closing jump before it
    out = list(stream)
    for i, test in enumerate(stream):
        if not test.opname.startswith("POP_JUMP_FORWARD_IF_") or test.argval not in position:
            continue
        e = position[test.argval]  # the else arm's first instruction
        if e <= i + 2 or e in hops or stream[e - 1].opname not in ends:
            continue
        inner = [k for k in range(i + 1, e - 1) if out[k].opname.startswith("POP_JUMP_FORWARD_IF_")
                 and isinstance(out[k].argval, int) and out[k].argval > test.argval]
        targets = {out[k].argval for k in inner}
        if len(targets) != 1:
            continue
        target = next(iter(targets))
        free = stream[e - 1].offset + 1
        if (target not in position or free in taken or free >= test.argval
                or (accept is not None and not accept(stream, position, stream[e - 1], i, target))):
            continue
        taken.add(free)
        hops[e] = forward_jump(stream[e - 1], target, offset=free)
        for k in inner:
            out[k] = out[k]._replace(argval=free)
    return placed_before(out, hops) if hops else (stream, 0)


_SWALLOWED = ["POP_TOP", "POP_EXCEPT", "POP_TOP", "POP_TOP"]


def thread_with_exits(stream: list, entries: list) -> tuple[list, list]:
    """A ``with`` whose exit handler stands right after its normal exit, both jumping to the same
    place: 3.11's normal exit jumped to the handler's closing jump (the statement's end, which the
    handler fell into), and that jump belonged to the enclosing code, not to the handler's clean-up.
    Jumping to a jump is the same as jumping where it goes, and a jump raises nothing."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    out, table = list(stream), list(entries)
    for n, ins in enumerate(stream[1:-1], 1):
        if ins.opname != "PUSH_EXC_INFO" or stream[n + 1].opname != "WITH_EXCEPT_START":
            continue
        normal = stream[n - 1]
        names = [x.opname for x in stream[n:n + 16]]
        s = next((k for k in range(len(names) - 4) if names[k:k + 4] == _SWALLOWED), None)
        if s is None or normal.opname != "JUMP_FORWARD":
            continue
        closing = stream[n + s + 4]
        if closing.opname != "JUMP_FORWARD" or closing.argval != normal.argval or closing.argval not in position:
            continue
        out[n - 1] = normal._replace(argval=closing.offset)
        table = [_without(e, closing.offset) for e in table]
        table = [e for e in table if e is not None and e.start < e.end]
    return out, table


def _without(entry: Any, offset: int) -> Any:
    """``entry`` no longer covering ``offset`` when it is its last instruction."""
    if entry.start <= offset < entry.end and entry.end == offset + 2:
        return entry._replace(end=offset)
    return entry


def plain_back_jumps(stream: list) -> list:
    """3.13 leaves every handler (an ``except`` clause, a ``with`` exit) whose way on was laid out
    before it with ``JUMP_BACKWARD_NO_INTERRUPT`` where 3.11 and 3.12 have a plain ``JUMP_BACKWARD``;
    the two go to the same place (one skips the interpreter's check for signals on the way), so it is
    read as the plain jump. The jump closing a ``yield from``/``await`` loop, which goes back to its
    ``SEND``, is the one the rules read by that name, and stays."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    out = list(stream)
    for k, ins in enumerate(stream):
        if (ins.opname == "JUMP_BACKWARD_NO_INTERRUPT" and ins.argval in position
                and stream[position[ins.argval]].opname != "SEND"):
            out[k] = as_op(ins, "JUMP_BACKWARD", opcode=dis.opmap["JUMP_BACKWARD"])
    return out



def share_clause_exits(stream: list, entries: list) -> list:
    """An ``except`` clause left from more than one place (a ``break`` out of a loop in it, both arms
    of an ``if``): 3.13 copies the clause's exit (``POP_EXCEPT``, the name's clean-up, the jump on)
    into each place, where 3.11 and 3.12 jumped to the one exit the clause's body falls into, its
    last copy. Each earlier exact copy, under the same handler and entered only at its top, becomes a
    ``JUMP_FORWARD`` to the last (its other instructions marked :data:`DROPPED`): running an
    identical copy or jumping to it does the same. Only copies closing one clause are merged (see
    :func:`_clause`): two ``try`` statements whose clauses both leave to a loop's head each keep
    their own exit, as in 3.11."""
    def handler(ins: Any) -> tuple | None:
        entry = next((e for e in entries if e.start <= ins.offset < e.end), None)
        return None if entry is None else (entry.target, entry.depth, entry.lasti)

    def key(k: int) -> tuple | None:  # the exit starting at k, as (name, argument) pairs with its handlers
        names = [x.opname for x in stream[k:k + 5]]
        size = 5 if names[1:4] == ["LOAD_CONST", "STORE_FAST", "DELETE_FAST"] else 2
        if size == 5 and stream[k + 1].argval is not None:
            return None
        last = stream[k + size - 1] if k + size - 1 < len(stream) else None
        if last is None or last.opname not in _UNCONDITIONAL or any(x.offset in targets for x in stream[k + 1:k + size]):
            return None
        into = [x.offset for x in stream if is_jump(x) and x.argval == stream[k].offset]
        if k and stream[k - 1].opname not in _ENDS:
            into.append(stream[k - 1].offset)  # the code falling into the exit, and the jumps to it
        clauses = {_clause(stream, entries, position, offset) for offset in into}
        if len(clauses) != 1 or None in clauses:  # not known which clause this exit closes
            return None
        clause = clauses.pop()
        return (clause,) + tuple((x.opname, x.argval, handler(x)) for x in stream[k:k + size])

    targets = {ins.argval for ins in stream if is_jump(ins)} | {e.target for e in entries}
    position = {ins.offset: n for n, ins in enumerate(stream)}
    copies: dict[tuple, list[int]] = {}
    for k, ins in enumerate(stream[:-1]):
        if ins.opname == "POP_EXCEPT":
            found = key(k)
            if found is not None:
                copies.setdefault(found, []).append(k)
    out = list(stream)
    for found, starts in copies.items():
        last = starts[-1]
        for k in starts[:-1]:
            out[k] = forward_jump(stream[k], stream[last].offset)
            for q in range(k + 1, k + len(found) - 1):
                out[q] = as_op(stream[q], DROPPED)
    return out


def _clause(stream: list, entries: list, position: dict, offset: int) -> int | None:
    """The handler that cleans up the ``except`` clause the code at ``offset`` runs in: the handler
    of ``offset``, or, inside a ``try`` body nested in the clause, the handler of that statement's
    own clean-up (a ``try`` body's handler opens with ``PUSH_EXC_INFO``, whose clean-up is
    protected by what encloses the statement). ``None`` when there is none or the chain is odd."""
    def handler(at: int) -> int | None:
        entry = next((e for e in entries if e.start <= at < e.end), None)
        return None if entry is None else entry.target

    found = handler(offset)
    for _ in range(32):  # nesting is shallow; a longer chain is not read
        if found is None or found not in position:
            return None
        if stream[position[found]].opname != "PUSH_EXC_INFO":
            return found
        cleanup = handler(found)
        found = None if cleanup is None else handler(cleanup)
    return None
