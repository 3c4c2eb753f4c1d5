"""A ``finally`` handler whose first ``if`` arm is empty and whose other arm holds branches: ``finally:
if c: pass / else: y = p if q else r`` (or ``elif d: return v``). 3.12 and 3.13 copy the handler's
closing ``RERAISE`` into the empty arm where 3.11 jumped to it; :func:`.tails.share_reraises` puts
the jump back when nothing between the copy and the closing ``RERAISE`` leaves, but the other arm's
conditional expression (its ``JUMP_FORWARD`` to the store) or ``return`` is such an exit, so the
copy stays, and the normal path's copy of the ``finally`` body, compared with the handler's up to
its first ``RERAISE``, is taken to end after the test: the handler is laid out inside the normal
copy and the test is refused as a jump leaving its block.

Here the copy becomes a ``JUMP_FORWARD`` to the closing ``RERAISE`` too when everything between
them is under the same handler and leaves only by a jump landing between them, the closing
``RERAISE`` included, or by a ``return`` (``SWAP; POP_EXCEPT; RETURN_VALUE``: a ``return`` in the
``finally`` body, which drops the exception). Re-raising at the copy or at the closing ``RERAISE``
does the same: both stand at the end of the handler's body with the same stack. What the decompiler
reads from the result is still proven by recompiling it and comparing the bytecode."""

from __future__ import annotations

from typing import Any

from .streams import forward_jump, is_jump

_LEAVING = {"RERAISE", "RAISE_VARARGS", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}


def share_arm_reraises(stream: list, entries: list) -> list:
    """``stream`` with each such copied ``RERAISE`` a ``JUMP_FORWARD`` to the handler's own."""
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
        q = _closing(stream, p, handler)
        if q is not None:
            out[p] = forward_jump(inner, stream[q].offset)
    return out


def _closing(stream: list, p: int, handler: Any) -> int | None:
    """Index of the closing ``RERAISE`` the copy at ``p`` stands for, or None."""
    inner = stream[p]
    for q in range(p + 1, len(stream)):
        ins = stream[q]
        if handler(ins) != handler(inner) and not _return_end(stream, q):
            return None
        if ins.opname == "RERAISE":
            if ins.arg != inner.arg or not any(is_jump(x) for x in stream[p + 1:q]):
                return None  # the plain shape is :func:`.tails.share_reraises`'s
            first, last = stream[p + 1].offset, ins.offset
            inside = all(first < x.argval <= last for x in stream[p + 1:q] if is_jump(x))
            return q if inside else None
        if ins.opname in _LEAVING or ins.opname == "PUSH_EXC_INFO":
            return None
        if ins.opname == "RETURN_VALUE" and not _return_end(stream, q):
            return None
    return None


def _return_end(stream: list, q: int) -> bool:
    """Whether ``stream[q]`` is the ``POP_EXCEPT`` or the ``RETURN_VALUE`` that end a ``return`` in a
    ``finally`` handler (``SWAP; POP_EXCEPT; RETURN_VALUE``): the table leaves those two out."""
    if stream[q].opname == "POP_EXCEPT":
        return 0 < q < len(stream) - 1 and stream[q - 1].opname == "SWAP" and stream[q + 1].opname == "RETURN_VALUE"
    if stream[q].opname == "RETURN_VALUE":
        return q >= 2 and stream[q - 2].opname == "SWAP" and stream[q - 1].opname == "POP_EXCEPT"
    return False
