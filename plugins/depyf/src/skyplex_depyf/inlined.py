"""Comprehensions 3.12 inlined (PEP 709) made calls of a comprehension code object again, the shape
the 3.11 rules read: the loop becomes the body of a new ``<listcomp>`` (``<setcomp>``, ``<dictcomp>``)
code object, and the loop variables the inlined code saved and restored around it are dropped."""

from __future__ import annotations

import dis
import types
from typing import Any

from .streams import DROPPED, JUMP_OPCODES as _JUMP_OPCODES, as_op as _as

COMPREHENSION_NAMES = {"BUILD_LIST": "<listcomp>", "BUILD_SET": "<setcomp>", "BUILD_MAP": "<dictcomp>"}


class InlinedComprehensions:
    """The folding rules of :class:`skyplex_depyf.versions._Reader` (its ``code``, ``entries``,
    ``synthetic`` and ``added``)."""

    code: types.CodeType
    entries: list
    synthetic: list
    added: list

    def fold_comprehensions(self, stream: list) -> list:
        """Each comprehension 3.12 inlined, innermost first, made a call of a comprehension code object
        again (3.11's shape); one whose shape is not the compiler's usual one stays and is refused."""
        failed: set[int] = set()
        while True:
            starts = [k for k, ins in enumerate(stream) if ins.opname == "LOAD_FAST_AND_CLEAR"
                      and (k == 0 or stream[k - 1].opname != "LOAD_FAST_AND_CLEAR") and ins.offset not in failed]
            for start in reversed(starts):
                folded = self.fold_one(stream, start)
                if folded is not None:
                    stream = folded
                    break
                failed.add(stream[start].offset)
            else:
                return stream

    def fold_one(self, stream: list, s: int) -> list | None:
        k = s
        while k < len(stream) and stream[k].opname == "LOAD_FAST_AND_CLEAR":
            k += 1
        saved = [ins.argval for ins in stream[s:k]]
        if s == 0 or stream[s - 1].opname != "GET_ITER" or k + 3 >= len(stream):
            return None
        swap, build, swap2, loop = stream[k], stream[k + 1], stream[k + 2], stream[k + 3]
        if (swap.opname != "SWAP" or swap.arg != len(saved) + 1 or build.opname not in COMPREHENSION_NAMES
                or build.arg != 0 or swap2.opname != "SWAP" or swap2.arg != 2 or loop.opname != "FOR_ITER"):
            return None
        end = next((q for q in range(k + 4, len(stream)) if stream[q].offset == loop.argval), None)
        if end is None or stream[end].opname != "END_FOR":
            return None
        body = stream[k + 4:end]
        if any(ins.opcode in _JUMP_OPCODES and isinstance(ins.argval, int)
               and not loop.offset <= ins.argval <= stream[end].offset for ins in body):
            return None
        hop, resume = None, end + 1
        if resume < len(stream) and stream[resume].opname == "JUMP_FORWARD":  # inside a handler: the
            hop = resume  # clean-up stays inline, jumped over, and the restore follows it
            resume = next((q for q in range(hop, len(stream)) if stream[q].offset == stream[hop].argval), len(stream))
        restore = self.restore_of(stream, resume, saved)
        if restore is None:
            return None
        dropped_restore, after = restore
        handlers = {e.target for e in self.entries if build.offset <= e.start <= stream[end].offset}
        cleanup = self.cleanup_blocks(stream, handlers)
        if cleanup is None:
            return None
        name = COMPREHENSION_NAMES[build.opname]
        synthetic_body = [build, _as(swap2, "LOAD_FAST", arg=0, argval=".0", argrepr=".0"), loop, *body,
                          _as(stream[end], "RETURN_VALUE", arg=None, argval=None, argrepr="")]
        code = self.twin_comprehension(synthetic_body)
        if code is None:
            code = self.code.replace(co_name=name, co_qualname=name, co_flags=0x13, co_exceptiontable=b"")
            self.synthetic.append((code, synthetic_body))
        covering = next((e for e in self.entries if e.target not in handlers
                         and any(e.start <= h < e.end for h in handlers)), None)
        self.entries = [e for e in self.entries if e.target not in handlers]
        if covering is not None:  # to the next instruction's offset: the table's ends are offsets of
            # instructions (a dropped one's moves on to the next kept), never an odd one between them
            past = stream[end + 1].offset if end + 1 < len(stream) else stream[end].offset + 2
            self.added.append(covering._replace(start=build.offset, end=past))
        call = [_as(build, "LOAD_CONST", arg=0, argval=code, argrepr=repr(code)),
                _as(swap2, "MAKE_FUNCTION", arg=0, argval=0, argrepr=""),
                _as(loop, "SWAP", opcode=dis.opmap["SWAP"], arg=2, argval=2, argrepr=""),
                _as(stream[end], "CALL", arg=0, argval=0, argrepr="")]
        if hop is not None and set(range(hop + 1, resume)) - cleanup:
            return None  # something besides the clean-up between the loop's end and the restore
        drop = dropped_restore | cleanup | ({hop} if hop is not None else set())
        out = stream[:s] + [_as(ins, DROPPED) for ins in stream[s:k + 1]] + call
        out += [_as(ins, DROPPED) if q in drop else ins for q, ins in enumerate(stream[end + 1:], start=end + 1)]
        return out

    def twin_comprehension(self, body: list) -> types.CodeType | None:
        """The code object already made for a comprehension with the same instructions as ``body``:
        the copies of a ``finally`` body (normal path, handler, before a ``return``/``break``/
        ``continue``) each inline the comprehension, where 3.11 loaded one shared code object, and
        the rules recognise a copy by comparing its instructions, the loaded code object included."""
        wanted = _body_key(body)
        return next((code for code, other in self.synthetic if _body_key(other) == wanted), None)

    @staticmethod
    def restore_of(stream: list, start: int, saved: list) -> tuple[set[int], int] | None:
        """The instructions after an inlined comprehension that put its saved variables back: the
        ``SWAP``s and ``STORE_FAST``s moving the saved values, interleaved with the result's own store
        or pop (the peephole pass reorders them). (indices to drop, index after them), or None."""
        model: list[Any] = ["iterator"] + [("saved", name) for name in saved]
        model[-1], model[-len(model)] = model[-len(model)], model[-1]  # the SWAP that lifted the iterator
        model[-1] = "result"  # the loop's end pops the iterator; the built list (set, dict) is on top
        drop: set[int] = set()
        q = start
        while any(m != "result" for m in model):
            if q >= len(stream):
                return None
            ins = stream[q]
            if ins.opname == "SWAP" and ins.arg <= len(model):
                model[-1], model[-ins.arg] = model[-ins.arg], model[-1]
                drop.add(q)
            elif ins.opname == "STORE_FAST" and model[-1] == ("saved", ins.argval):
                model.pop()
                drop.add(q)
            elif ins.opname in ("STORE_FAST", "POP_TOP") and model[-1] == "result":
                model.pop()
            else:
                return None
            q += 1
        return drop, q

    @staticmethod
    def cleanup_blocks(stream: list, targets: set[int]) -> set[int] | None:
        """Indices of the handlers that restore the saved variables when the comprehension raises:
        ``SWAP``/``POP_TOP``/``STORE_FAST`` up to ``RERAISE``."""
        found: set[int] = set()
        at = {ins.offset: q for q, ins in enumerate(stream)}
        for target in targets:
            q = at.get(target)
            if q is None:
                return None
            while q < len(stream) and stream[q].opname in ("SWAP", "POP_TOP", "STORE_FAST"):
                found.add(q)
                q += 1
            if q >= len(stream) or stream[q].opname != "RERAISE":
                return None
            found.add(q)
        return found


def _body_key(body: list) -> list[tuple]:
    """``body``'s instructions with jumps relative to its start and code objects by identity (the
    made ones all compare equal by value): equal keys, the same comprehension."""
    base = body[0].offset if body else 0
    return [(ins.opname, ins.argval - base if ins.opcode in _JUMP_OPCODES and isinstance(ins.argval, int)
             else ("code", id(ins.argval)) if isinstance(ins.argval, types.CodeType)
             else (type(ins.argval).__name__, repr(ins.argval)), ins.arg if ins.opcode not in _JUMP_OPCODES else None)
            for ins in body]
