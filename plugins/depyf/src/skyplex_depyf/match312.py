"""``match`` statements of CPython 3.12 and 3.13, read as 3.11's for :mod:`.patterns`.

A failing pattern test jumps into a run of ``POP_TOP`` that clears what the pattern had pushed, each
test entering the run where the values still on the stack are popped; a case whose body ends in
``return`` stands right before that run. :func:`.tails.close_threaded_arms` takes such a test and the
later tests of the same pattern, which jump further into the run, for an ``if`` arm whose inner tests
3.12 threaded past the ``else`` arm, and routes the later tests through a ``JUMP_FORWARD`` it puts
before the run. 3.11 has no such jump, and the pattern rules read none: :func:`keep_pattern_tests`
takes those jumps out again, the tests jumping straight into the run as the compiler laid them out.
Jumping to a jump is the same as jumping where it goes, and the removed jump follows an instruction
that leaves the function, so nothing falls into it: the code does the same either way.

The newer compilers also copy the short block after a ``match`` (``return r``) where 3.11 jumped to it:
into a case body that ended in a jump to the statement's end, and into the failure path of a last
case whose or-pattern's success block follows it (the block itself then disappears, reached only
through the copy). :func:`share_match_ends` puts 3.11's layout back: the failure path's block goes
to the end of the code behind a ``JUMP_FORWARD`` to it, and a case body's copy, told by its source
positions (a copy keeps those of the block it copies, a ``return`` written in the body has its own),
becomes a ``JUMP_FORWARD`` to the block; where every case returns, the block's only copy, at the end
of a case body and from source lines after all that follows it, goes to the end of the code too. A
guarded last case keeps a jump to the block right after it: the body ending in a copy is what tells
``case v if c: body`` from ``case v: if c: body`` (see :func:`.patterns._head`). Running a copy or
jumping to an identical block does the same; the recompile check proves each reading.

An or-pattern whose case body is a small returning block gets that body (with the subject's pops)
copied into each alternative; :func:`share_alternative_bodies` makes the copies jumps to one block
laid out after the pattern's failure path again, as 3.11 had it."""

from __future__ import annotations

import dis
from typing import Any

from .streams import JUMP_OPCODES, forward_jump

_LEAVING = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"}
_ENDS = _LEAVING | {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}
_LONGEST_COPY = 6  # the compiler copies exit blocks of a few instructions (4 in 3.12, before splitting)


def match_layout(given: list, stream: list, hops: int) -> tuple[list, int]:
    """3.11's layout of the ``match`` statements in ``stream`` (see the module's description), which
    :func:`.tails.close_threaded_arms` made of ``given`` putting back ``hops`` jumps; and the count of
    those jumps left."""
    stream, hops = keep_pattern_tests(given, stream, hops)
    stream, shared = share_alternative_bodies(share_match_ends(stream))
    stream, copied = copy_lone_case_ends(stream)
    return stream, hops + shared + copied  # (a shared body or a copy stands at new offsets: the caller renumbers)


def share_alternative_bodies(stream: list) -> tuple[list, int]:
    """An or-pattern whose case body is a small returning block: 3.12 copies the body (with the pops
    of the subject before it) into each alternative, where 3.11 jumped from each to one block laid
    out after the pattern's failure path, which then jumped over it to the next case. Each copy
    becomes a ``JUMP_FORWARD`` to that block again, put back after the failure path behind its
    jump (at new offsets, for the caller to renumber). Returns the stream and how many were put back."""
    if any(ins.opname in ("PUSH_EXC_INFO", "JUMP_BACKWARD") for ins in stream):
        return stream, 0
    targets = _targets(stream)
    fresh = max((ins.offset for ins in stream), default=0) + 2
    k, done = 0, 0
    while k < len(stream):
        found = _copied_alternatives(stream, k, targets)
        if found is None:
            k += 1
            continue
        copies, fail, after = found
        body = stream[copies[0][0]:copies[0][1] + 1]
        landing = fresh
        shared = [ins._replace(offset=fresh + 2 * (m + 1)) for m, ins in enumerate(body)]
        fresh += 2 * (len(body) + 2)
        out = list(stream[:after])
        for first, last in copies:
            out[first] = forward_jump(stream[first], shared[0].offset)
            for q in range(first + 1, last + 1):
                out[q] = None
        onward = forward_jump(stream[after - 1], stream[after].offset)._replace(offset=landing)
        stream = [ins for ins in out if ins is not None] + [onward] + shared + stream[after:]
        targets = _targets(stream)
        k = len(out) - sum(x is None for x in out) + 1 + len(shared)
        done += 1
    return stream, done


def _copied_alternatives(stream: list, k: int, targets: dict) -> tuple[list, int, int] | None:
    """([(first, last) index of each alternative's copy], index of the failure path's first pop, index
    after its pops) of an or-pattern from the ``COPY 1`` at ``k`` whose alternatives each end in the
    same straight block ending in ``RETURN_VALUE``; None when it is not one. A copy may end early in a
    ``JUMP_FORWARD`` to the same point of another, full copy (an earlier rule joins copies so)."""
    copies: list[tuple[int, int]] = []
    a = k
    while a < len(stream) and stream[a].opname == "COPY" and stream[a].arg == 1:
        c = next((q for q in range(a + 1, min(len(stream), a + 12)) if stream[q].opname in _ENDS
                  or stream[q].opcode in JUMP_OPCODES), None)
        if c is None or not stream[c].opname.startswith("POP_JUMP_FORWARD_IF_"):
            return None
        r = next((q for q in range(c + 1, min(len(stream), c + 1 + _LONGEST_COPY)) if stream[q].opname in _ENDS
                  or stream[q].opcode in JUMP_OPCODES), None)
        if (r is None or r == c + 1 or stream[r].opname not in ("RETURN_VALUE", "JUMP_FORWARD")
                or r + 1 >= len(stream) or stream[c].argval != stream[r + 1].offset
                or any(stream[q].opname in _ENDS or stream[q].opcode in JUMP_OPCODES for q in range(c + 1, r))):
            return None
        copies.append((c + 1, r))
        a = r + 1
    if len(copies) < 2 or a >= len(stream) or stream[a].opname != "POP_TOP":
        return None
    ends = {stream[last].offset for _, last in copies}
    if any(any(x.offset not in ends for x in targets.get(stream[q].offset, ())) for first, last in copies
           for q in range(first + 1, last + 1)):
        return None  # a jump from elsewhere lands inside a copy
    full = [(first, last) for first, last in copies if stream[last].opname == "RETURN_VALUE"]
    if not full:
        return None
    first, last = full[-1]
    for start, end in copies:
        joined = stream[end].opname == "JUMP_FORWARD"
        size = end - start + (0 if joined else 1)  # the instructions copied before the jump, if any
        if size > last - first + 1 or not all(_same(stream[start + m], stream[first + m]) for m in range(size)):
            return None
        if joined and not any(stream[end].argval == stream[f + size].offset for f, g in full if f + size <= g):
            return None
        if not joined and size != last - first + 1:
            return None
    after = a
    while after < len(stream) and stream[after].opname == "POP_TOP":
        after += 1
    if after >= len(stream) or any(stream[q].offset in targets for q in range(a + 1, after)):
        return None
    return [(first, last)] + [x for x in copies if x != (first, last)], a, after


def share_match_ends(stream: list) -> list:
    """``stream`` with the copies of the block after a ``match`` statement made jumps to that block,
    as 3.11 laid them out; unchanged where the code has handlers or loops (the block would not go to
    the end of the code) or holds no pattern test."""
    if any(ins.opname in ("PUSH_EXC_INFO", "JUMP_BACKWARD") for ins in stream):
        return stream
    if not _has_patterns(stream):
        return stream
    stream = _move_failure_tail(stream)
    targets = _targets(stream)
    tail = _tail(stream)
    if tail is None:
        return stream
    out: list = list(stream)
    start = len(stream) - len(tail)
    position = {ins.offset: k for k, ins in enumerate(stream)}
    for j in range(start):  # j: a copy's RETURN_VALUE, followed by where a pattern test fails
        if stream[j].opname == "JUMP_FORWARD" and _failure_target(stream, j + 1, targets):
            # a body jumping to another copy (an earlier rule joined two copies): to the block
            landing = _copy_of_tail(stream, position, stream[j].argval, tail)
            if landing is not None:
                out[j] = stream[j]._replace(argval=landing)
            continue
        if stream[j].opname != "RETURN_VALUE" or not _failure_target(stream, j + 1, targets):
            continue
        n = _copied_length(stream, j, tail)
        if n == 0 or any(stream[q].offset in targets for q in range(j - n + 2, j + 1)):
            continue
        first = j - n + 1
        # (a jump to the block right after it is kept: the last case's guard failing there, and its
        # body ending in a copy, tell ``case v if c: body`` from ``case v: if c: body``)
        out[first] = forward_jump(stream[first], stream[start + len(tail) - n].offset)
        for q in range(first + 1, j + 1):
            out[q] = None
    return [ins for ins in out if ins is not None]


def copy_lone_case_ends(stream: list) -> tuple[list, int]:
    """A lone case testing one literal (``case 0:``, which the pattern rules read as ``if x == 0:``) or a
    capture with a guard (``case v if c:``, read as ``v = x; if c:``):
    3.12 copies the block after the statement to the end of the case, and
    :func:`.copies.share_return_copies` makes that copy a ``JUMP_FORWARD`` to the block right after
    it, which no ``if`` compiles to. The copy is put back (at new offsets, for the caller to renumber)
    where only such a test's failure jumps to the block too, so the case reads as ``if`` arm ending
    in ``return``, which 3.12 compiles to the same. Returns the stream and how many were put back."""
    if _has_patterns(stream) or any(ins.opname in ("PUSH_EXC_INFO", "JUMP_BACKWARD") for ins in stream):
        return stream, 0
    targets = _targets(stream)
    fresh = max((ins.offset for ins in stream), default=0) + 2
    out: list = []
    copied = 0
    for j, ins in enumerate(stream):
        others = [x for x in targets.get(ins.argval, ()) if x is not ins] if ins.opname == "JUMP_FORWARD" else []
        if (j + 1 < len(stream) and ins.argval == stream[j + 1].offset and others
                and all(_literal_test(stream, x) or _guard_test(stream, x) for x in others)):
            r = next((q for q in range(j + 1, min(len(stream), j + 1 + _LONGEST_COPY)) if stream[q].opname in _ENDS
                      or stream[q].opcode in JUMP_OPCODES), None)
            if r is not None and stream[r].opname == "RETURN_VALUE" and _straight(stream, j + 1, r, targets):
                block = stream[j + 1:r + 1]
                out += [block[0]._replace(offset=ins.offset)] + [x._replace(offset=fresh + 2 * m)
                                                                 for m, x in enumerate(block[1:])]
                fresh += 2 * len(block)
                copied += 1
                continue
        out.append(ins)
    return out, copied


def _guard_test(stream: list, jump: Any) -> bool:
    """Whether ``jump`` is a lone capture case's guard (``case v if c:``, read as ``v = x; if c:``): a
    forward conditional jump after a ``STORE_FAST`` of the subject with no other jump between."""
    k = next((n for n, ins in enumerate(stream) if ins is jump), None)
    if k is None or not jump.opname.startswith("POP_JUMP_FORWARD_IF_"):
        return False
    q = k - 1
    while q > 0 and stream[q].opcode not in JUMP_OPCODES and stream[q].opname not in ("STORE_FAST", "RESUME"):
        q -= 1
    return q > 0 and stream[q].opname == "STORE_FAST" and stream[q - 1].opname in ("LOAD_FAST", "LOAD_NAME",
                                                                                    "LOAD_GLOBAL", "LOAD_DEREF")


def _literal_test(stream: list, jump: Any) -> bool:
    """Whether ``jump`` is the failure of a literal pattern tested on the subject itself: ``LOAD_CONST c;
    COMPARE_OP ==`` or ``LOAD_CONST None/True/False; IS_OP 0`` before a forward conditional jump, or
    ``case None``'s jump right after the subject's load."""
    k = next((n for n, ins in enumerate(stream) if ins is jump), None)
    if k is None or k < 3 or not jump.opname.startswith("POP_JUMP_FORWARD_IF_"):
        return False
    if jump.opname == "POP_JUMP_FORWARD_IF_NOT_NONE":  # ``case None``: the peephole pass's one jump
        return stream[k - 1].opname in ("LOAD_FAST", "LOAD_NAME", "LOAD_GLOBAL", "LOAD_DEREF")
    load, test = stream[k - 2], stream[k - 1]
    return load.opname == "LOAD_CONST" and ((test.opname == "COMPARE_OP" and test.argval == "==")
                                            or (test.opname == "IS_OP" and test.arg == 0))


def _copy_of_tail(stream: list, position: dict, offset: Any, tail: list) -> int | None:
    """Where in ``tail`` a jump to ``offset`` goes on when it lands (past other ``JUMP_FORWARD``s) on a
    straight block ending in ``RETURN_VALUE`` that copies the end of ``tail``; None otherwise."""
    t = position.get(offset)
    seen = 0
    while t is not None and stream[t].opname == "JUMP_FORWARD" and seen < len(stream):
        t, seen = position.get(stream[t].argval), seen + 1
    if t is None:
        return None
    r = next((q for q in range(t, min(len(stream), t + len(tail))) if stream[q].opname in _ENDS
              or stream[q].opcode in JUMP_OPCODES), None)
    if r is None or stream[r].opname != "RETURN_VALUE":
        return None
    n = r - t + 1
    if all(_same(stream[t + m], tail[len(tail) - n + m]) for m in range(n)):
        return tail[len(tail) - n].offset
    return None


def _has_patterns(stream: list) -> bool:
    """Whether ``stream`` tests a pattern: a ``MATCH_*`` instruction, or a literal compared with a copy
    of the subject (``COPY 1; LOAD_CONST; COMPARE_OP ==`` or ``IS_OP``, or ``case None``'s jump)."""
    for k, ins in enumerate(stream):
        if ins.opname.startswith("MATCH_"):
            return True
        if (ins.opname == "COPY" and ins.arg == 1 and k + 2 < len(stream) and stream[k + 1].opname == "LOAD_CONST"
                and stream[k + 2].opname in ("COMPARE_OP", "IS_OP")):
            return True
        if (ins.opname == "COPY" and ins.arg == 1 and k + 2 < len(stream)  # ``case None``: one jump
                and stream[k + 1].opname == "POP_JUMP_FORWARD_IF_NOT_NONE" and stream[k + 2].opname == "POP_TOP"):
            return True
    return False


def _targets(stream: list) -> dict[int, list]:
    found: dict[int, list] = {}
    for ins in stream:
        if ins.opcode in JUMP_OPCODES and isinstance(ins.argval, int):
            found.setdefault(ins.argval, []).append(ins)
    return found


def _failure_target(stream: list, k: int, targets: dict) -> bool:
    """Whether a forward jump from before ``k`` lands on ``stream[k]``: a pattern test failing there,
    or an or-pattern's failure path (``POP_TOP; JUMP_FORWARD``) going on to the next case."""
    return any((ins.opname.startswith("POP_JUMP_FORWARD_IF_") or ins.opname == "JUMP_FORWARD")
               and ins.offset < stream[k].offset for ins in targets.get(stream[k].offset, ()))


def _straight(stream: list, first: int, last: int, targets: dict) -> bool:
    """Whether ``stream[first:last]`` runs straight: no jump, no end, nothing jumps into it after its
    first instruction."""
    return all(stream[q].opname not in _ENDS and stream[q].opcode not in JUMP_OPCODES
               and (q == first or stream[q].offset not in targets) for q in range(first, last))


def _tail(stream: list) -> list | None:
    """The straight block ending the code in ``RETURN_VALUE`` (its last instructions, at most
    :data:`_LONGEST_COPY`), or None."""
    if not stream or stream[-1].opname != "RETURN_VALUE":
        return None
    targets = _targets(stream)
    k = len(stream) - 1
    while (k > 0 and len(stream) - k < _LONGEST_COPY and stream[k - 1].opname not in _ENDS
           and stream[k - 1].opcode not in JUMP_OPCODES and stream[k].offset not in targets):
        k -= 1
    return stream[k:]


def _copied_length(stream: list, j: int, tail: list) -> int:
    """How many instructions ending at ``stream[j]`` are a copy of the end of ``tail``: the same
    operations at the same source positions."""
    n = 0
    while n < len(tail) and j - n >= 0 and _same(stream[j - n], tail[-1 - n]):
        n += 1
    return n


def _same(a: dis.Instruction, b: dis.Instruction) -> bool:
    return ((a.opname, a.arg, a.argval) == (b.opname, b.arg, b.argval) and a.positions is not None
            and a.positions == b.positions and a.opcode not in JUMP_OPCODES)


def _move_failure_tail(stream: list) -> list:
    """A last case whose or-pattern's success block follows the failure path: the failure path's
    ``POP_TOP`` then a straight block ending in ``RETURN_VALUE``, then the success block (reached
    only by the alternatives' jumps, and ending the code). The block goes to the end of the code,
    behind a ``JUMP_FORWARD`` to it."""
    targets = _targets(stream)
    for k, pop in enumerate(stream[:-2]):
        if pop.opname != "POP_TOP" or not _failure_target(stream, k, targets):
            continue
        j = next((q for q in range(k + 1, min(len(stream), k + 2 + _LONGEST_COPY))
                  if stream[q].opname in _ENDS or stream[q].opcode in JUMP_OPCODES), None)
        if (j is None or j == k + 1 or stream[j].opname != "RETURN_VALUE" or j + 1 >= len(stream)
                or not _straight(stream, k + 1, j, targets) or stream[k + 1].offset in targets):
            continue
        success = stream[j + 1]
        jumpers = targets.get(success.offset, [])
        if (success.opname != "POP_TOP" or not jumpers or any(x.opname != "JUMP_FORWARD" or x.offset > pop.offset
                                                                for x in jumpers)):
            continue
        if _first_line(stream[k + 1:j + 1]) <= _last_line(stream[j + 1:]):
            continue  # not the code after the statement
        return _moved_to_end(stream, k + 1, j)
    return _move_body_tail(stream, targets)


def _move_body_tail(stream: list, targets: dict) -> list:
    """A case body ending in the only copy of the block after the statement (every case and the
    default returning, the block itself is gone): a straight block ending in ``RETURN_VALUE`` before
    where a pattern test fails, from source lines after all the code that follows it. It goes to the
    end of the code, behind a ``JUMP_FORWARD`` to it."""
    for j in range(len(stream) - 1):
        if stream[j].opname != "RETURN_VALUE" or not _failure_target(stream, j + 1, targets):
            continue
        after = _last_line(stream[j + 1:])
        first = j
        while (first > 0 and j - first + 1 < _LONGEST_COPY and stream[first - 1].opname not in _ENDS
               and stream[first - 1].opcode not in JUMP_OPCODES and stream[first].offset not in targets
               and _first_line([stream[first - 1]]) > after):
            first -= 1
        if _first_line(stream[first:j + 1]) > after and _straight(stream, first, j, targets):
            return _moved_to_end(stream, first, j)
    return stream


def _first_line(block: list) -> int:
    lines = [ins.positions.lineno for ins in block if ins.positions is not None and ins.positions.lineno is not None]
    return min(lines) if len(lines) == len(block) else -1  # a line unknown: never after anything


def _last_line(block: list) -> int:
    lines = [ins.positions.lineno for ins in block if ins.positions is not None and ins.positions.lineno is not None]
    return max(lines, default=-1)


def _moved_to_end(stream: list, first: int, last: int) -> list:
    """``stream`` with ``stream[first:last + 1]`` moved to its end, a ``JUMP_FORWARD`` to it in its place."""
    block = stream[first:last + 1]
    offset = stream[-1].offset + 2
    moved = [ins._replace(offset=offset + 2 * m) for m, ins in enumerate(block)]
    return stream[:first] + [forward_jump(block[0], offset)] + stream[last + 1:] + moved


def keep_pattern_tests(given: list, stream: list, hops: int) -> tuple[list, int]:
    """``stream``, which :func:`.tails.close_threaded_arms` made of ``given`` putting back ``hops``
    jumps, and the count of those jumps left, without those that stand before a pattern's run of pops
    and jump into or just past it (the run a failing pattern test enters): the tests routed through
    such a jump go straight to its target again."""
    if not hops:
        return stream, hops
    kept = {ins.offset for ins in given}  # a jump put back stands at an offset no given instruction has
    position = {ins.offset: n for n, ins in enumerate(stream)}
    undone: dict[int, int] = {}  # offset of a removed jump -> its target
    for n, hop in enumerate(stream[1:-1], 1):
        if hop.offset in kept or not _is_pattern_hop(stream, n, position):
            continue
        undone[hop.offset] = hop.argval
    if not undone:
        return stream, hops
    out: list = []
    for ins in stream:
        if ins.offset in undone:
            continue
        if ins.opcode in JUMP_OPCODES and ins.argval in undone:
            ins = ins._replace(argval=undone[ins.argval])
        out.append(ins)
    return out, hops - len(undone)


def _is_pattern_hop(stream: list, n: int, position: dict) -> bool:
    """Whether ``stream[n]`` is a jump :func:`.tails.close_threaded_arms` put before a pattern's pops:
    after an instruction that leaves, before a run of ``POP_TOP``, jumping into the run or to just past it,
    and reached only by forward conditional jumps."""
    hop, before = stream[n], stream[n - 1]
    if (hop.opname != "JUMP_FORWARD" or before.opname not in _LEAVING
            or not isinstance(hop.argval, int) or hop.argval not in position):
        return False
    run = n + 1
    while run < len(stream) and stream[run].opname == "POP_TOP":
        run += 1
    if run == n + 1 or not n + 1 < position[hop.argval] <= run:
        return False
    jumpers = [ins for ins in stream if ins.opcode in JUMP_OPCODES and ins.argval == hop.offset]
    return bool(jumpers) and all(_forward_test(ins, hop) for ins in jumpers)


def _forward_test(ins: Any, hop: Any) -> bool:
    return ins.opname.startswith("POP_JUMP_FORWARD_IF_") and ins.offset < hop.offset
