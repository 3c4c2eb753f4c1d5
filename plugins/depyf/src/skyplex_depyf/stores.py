"""Calls, assignments and stores for the executor: a call's positional and keyword arguments (and
the compiler's own calls of comprehensions and of a with statement's exit), ``a = b.c = value``
chains, augmented assignments, tuple targets (nested ones too), and the statements a store of a
function or of an import makes. Mixed into :class:`~.executor.Executor`."""

from __future__ import annotations

import dis
import types
from typing import Any

from . import imports, suspend
from .symbolic import Compare, Expr, ForTarget, Func, InPlace, Item, Iter, Line, Null, Unpack, busy
from .values import COMPREHENSIONS, Chain


class NestedTarget:
    """The value an inner UNPACK_SEQUENCE unpacks: one slot of an outer tuple target."""

    def __init__(self, outer: Unpack) -> None:
        self.outer = outer


def keyword_of(key_text: str, ins: dis.Instruction) -> str:
    """The argument name a constant map key stands for in a call; refuses any other key."""
    import ast

    try:
        key = ast.literal_eval(key_text)
    except (ValueError, SyntaxError):
        key = None
    if not isinstance(key, str) or not key.isidentifier():
        return "**{" + key_text + ": ...}"  # never a valid keyword: a call using it fails verification
    return key


class Stores:
    """The call and store rules; they use the executor's ``code``, ``kw_names``, ``expr`` and ``refuse``."""

    code: types.CodeType
    kw_names: tuple
    declared: set
    instrs: list
    inlined: set

    def swap_stores(self, i: int, hi: int, n: int, stack: list) -> list[str]:
        """The names stored by ``SWAP n`` at ``i`` and the ``n`` plain stores after it, when these take
        ``n`` plain expressions this statement pushed: ``a, b = x, y`` (``n`` is 2 or 3, where the
        compiler swaps instead of building a tuple). Empty when the shape is not that."""
        stores = ("STORE_FAST", "STORE_DEREF", "STORE_GLOBAL", "STORE_NAME")
        if n not in (2, 3) or len(stack) < n or i + 1 + n > hi:
            return []
        names = [x.argval for x in self.instrs[i + 1:i + 1 + n]]
        if (any(x.opname not in stores for x in self.instrs[i + 1:i + 1 + n]) or len(set(names)) != n
                or any(k in self.inlined or getattr(self.instrs[k], "is_jump_target", False)
                       for k in range(i + 1, i + 1 + n))):
            return []
        values = stack[-n:]
        if (any(type(v) not in (Expr, Compare) or getattr(v, "yielded", None) is not None for v in values)
                or busy(stack[:-n])):
            return []
        return names

    def call(self, ins: dis.Instruction, argc: int, stack: list) -> None:
        args = [stack.pop() for _ in range(argc)][::-1]
        func = stack.pop()
        below = stack.pop()
        if not isinstance(below, Null):  # [callable, self, args]: the compiler's own calls (comprehensions)
            func, args = below, [func] + args
        kw, self.kw_names = self.kw_names, ()
        if isinstance(func, suspend.WithExit):
            stack.append(suspend.exit_call(self, ins, args, kw))
            return
        if isinstance(func, Func) and func.code.co_name in COMPREHENSIONS and len(args) == 1 and isinstance(args[0], Iter):
            stack.append(Expr(self.render_function(func, "comprehension", args[0].source.text), atom=True))
            return
        assertion = getattr(func, "assertion", None) == "" and len(args) == 1 and not kw
        func = self.expr(func, ins)
        positional = [self.expr(a, ins).text for a in args[:len(args) - len(kw)]]
        keywords = [f"{k}={self.expr(a, ins).text}" for k, a in zip(kw, args[len(args) - len(kw):])]
        stack.append(Expr(f"{func.p()}({', '.join(positional + keywords)})", atom=True))
        if assertion:
            stack[-1].assertion = ", " + positional[0]

    def assign(self, target: str, value: Any, ins: dis.Instruction) -> str | None:
        """``target = value``, or ``target op= x`` when the value is that same target's in-place result."""
        if isinstance(value, InPlace):
            if value.target.text != target:
                raise self.refuse(ins, "augmented assignment to a different target")
            return f"{target} {value.op} {value.value.text}"
        if isinstance(value, Chain):  # ``a = b.c = value``: the statement is written at its last target
            value.names.append(target)
            return " = ".join(value.names) + f" = {value.value.text}" if len(value.names) == value.needed else None
        if isinstance(value, Unpack) and isinstance(value.value, NestedTarget):
            raise self.refuse(ins, "attribute or subscript inside a nested tuple target")
        if isinstance(value, Unpack) and not isinstance(value.value, Item):  # ``a.x, b[k] = value``
            value.names.append(target)
            if len(value.names) < value.size:
                return None
            return "(" + ", ".join(value.names) + ("," if value.size == 1 else "") + f") = {self.expr(value.value, ins).text}"
        return f"{target} = {self.expr(value, ins).text}"

    def store(self, name: str, value: Any, ins: dis.Instruction, stmts: list) -> None:
        if isinstance(value, Chain):
            value.names.append(name)
            if len(value.names) == value.needed:
                stmts.append(Line(" = ".join(value.names) + f" = {value.value.text}"))
        elif isinstance(value, Item):
            stmts.append(ForTarget(name))
        elif isinstance(value, Unpack):
            value.names.append(name)
            if len(value.names) == value.size:
                target = "(" + ", ".join(value.names) + ("," if value.size == 1 else "") + ")"
                if isinstance(value.value, NestedTarget):  # complete: it is one name of the outer target
                    self.store(target, value.value.outer, ins, stmts)
                elif isinstance(value.value, Item):
                    stmts.append(ForTarget(target))
                else:
                    stmts.append(Line(f"{target} = {self.expr(value.value, ins).text}"))
        elif isinstance(value, InPlace):
            if value.target.text != name:
                raise self.refuse(ins, "augmented assignment to a different name")
            stmts.append(Line(f"{name} {value.op} {value.value.text}"))
        elif isinstance(value, Func) and value.code.co_name == "<lambda>":
            stmts.append(Line(f"{name} = {self.expr(value, ins).text}"))
        elif isinstance(value, Func):
            if value.code.co_name != name:
                raise self.refuse(ins, "function stored under another name than its own")
            stmts.append(Line(self.render_function(value, "def", name)))
        elif imports.is_import(value):
            line = imports.store(self, name, value, ins)
            stmts.extend([Line(line)] if line else [])
        else:
            stmts.append(Line(f"{name} = {self.expr(value, ins).text}"))
