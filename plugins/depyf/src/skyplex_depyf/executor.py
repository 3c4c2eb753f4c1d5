"""The rules: each instruction's effect on the simulated stack, written against the canonical operation
names of :mod:`.opcodes`. The control-flow shapes live in :mod:`.flow`, calls and stores in
:mod:`.stores`, try statements in :mod:`.handlers`, with/await/async for in :mod:`.suspend`."""

from __future__ import annotations

import dis
import types
from typing import Any

from . import handlers, imports, patterns, suspend, versions
from .closings import FOLDED_TEST
from .conditions import GENERAL
from .flow import ControlFlow
from .stores import NestedTarget, Stores, keyword_of
from .opcodes import table_for
from .streams import JUMP_OPCODES
from .values import COMPREHENSIONS, Chain, _tuple, const_expr, fstring, fstring_pieces, ins_const_keys, set_display
from .symbolic import (Append, Compare, Expr, Func, GenMarker, InPlace, Iter, Line, Loop, Null, Refusal, Return,
                       Unpack, Waiting, While, busy)

__all__ = ["COMPREHENSIONS", "Executor", "const_expr", "opaque"]  # the decompiler imports these from here




def opaque(value: Expr) -> Expr:
    """A constant operand the compiler must not fold: the bytecode shows the operator was kept, so the
    original hid the constant from the AST optimizer (``not (3 or 3)``); ``c or c`` (``c and c`` when
    falsy) loads just ``c`` once the peephole pass has removed the jump."""
    const = getattr(value, "const", None)
    if const is None:
        return value
    return Expr(f"({value.text} {'or' if const[0] else 'and'} {value.text})", atom=True)


def _without_extended_args(code: types.CodeType) -> tuple[list, dict[int, int]]:
    """The instructions with ``EXTENDED_ARG`` prefixes dropped, jump targets (and, through the returned
    map, exception-table offsets) moved from a prefix to the instruction it extends."""
    raw = versions.instructions(code)  # canonical (3.11) operations whatever the interpreter
    real: dict[int, int] = {}
    pending: list[int] = []
    for ins in raw:
        if ins.opname == "EXTENDED_ARG":
            pending.append(ins.offset)
            continue
        for offset in pending:
            real[offset] = ins.offset
        pending = []
    instrs = [ins._replace(argval=real.get(ins.argval, ins.argval)) if ins.opcode in JUMP_OPCODES else ins
              for ins in raw if ins.opname != "EXTENDED_ARG"]
    return instrs, real


class Executor(ControlFlow, Stores):
    """Rebuilds the statements of one code object; ``run()`` returns the statement tree."""

    def __init__(self, code: types.CodeType, render_function: Any) -> None:
        self.code = code
        self.table = table_for()
        self.instrs, real = _without_extended_args(code)
        self.index = {ins.offset: n for n, ins in enumerate(self.instrs)}
        self.render_function = render_function  # callback for nested code objects
        self.kw_names: tuple = ()
        self.loops: list[Loop] = []
        self.declared: set[str] = set()
        self.exception_entries = [e._replace(start=real.get(e.start, e.start), end=real.get(e.end, e.end),
                                             target=real.get(e.target, e.target)) for e in versions.exception_entries(code)]
        self.consumed: set = set()
        self.try_exits: dict[int, int] = {}  # index after a try -> index its exits jump to (threaded)
        self.inlined: set[int] = set()  # copies of a finally body the compiler put before a return/break
        # a rule dropped the compiler's copies of the implicit ``return None``: the source must end without one
        self.implicit_return = False

    def run(self) -> list:
        stmts, stack = self.block(0, len(self.instrs), [])
        if stack and not all(isinstance(s, (Null, GenMarker)) for s in stack):
            raise Refusal(self.instrs[-1].offset, self.instrs[-1].opname, "values left on the stack")
        return stmts

    # helpers ---------------------------------------------------------------------------------------
    def target(self, ins: dis.Instruction) -> int:
        return self.index[ins.argval]

    def refuse(self, ins: dis.Instruction, reason: str) -> Refusal:
        return Refusal(ins.offset, ins.opname, reason)

    def expr(self, value: Any, ins: dis.Instruction) -> Expr:
        if isinstance(value, Expr):
            return value
        if isinstance(value, Func) and value.code.co_name == "<lambda>":
            return Expr(self.render_function(value, "lambda", ""))
        if isinstance(value, Chain) and value.needed == 2 and len(value.names) == 1 and value.names[0].isidentifier():
            value.needed = -1  # one copy stored, the other used: ``(name := value)``; never a statement now
            value.walrus = Expr(f"({value.names[0]} := {value.value.text})", atom=True)
        if isinstance(value, Chain) and value.needed == -1:
            return value.walrus
        raise self.refuse(ins, f"expected an expression, found {type(value).__name__}")

    # the main loop ---------------------------------------------------------------------------------
    def block(self, lo: int, hi: int, stack: list) -> tuple[list, list]:
        """Statements of instructions ``[lo, hi)`` starting from ``stack``; returns (statements, stack)."""
        stmts: list = []
        stack = list(stack)
        i = lo
        quiet_start = lo  # where the stack was last empty of expressions: a while condition starts here
        while i < hi:
            ins = self.instrs[i]
            if i in self.inlined:  # the source's ``return`` inside the try makes the compiler copy it again
                i += 1
                continue
            if not busy(stack):
                quiet_start = i
            entry = handlers.try_entry(self, i, stack) if not busy(stack) else None
            if entry is not None:
                i = handlers.try_block(self, i, entry, stack, stmts)
                continue
            loop_end = self.while_true_end(i, hi)
            if loop_end is not None and not busy(stack):
                body, _ = self.loop_body(Loop(i, loop_end + 1, False), i, loop_end, stack)
                stmts.append(While("True", body))
                i = loop_end + 1
                continue
            try:
                i = self.step(i, hi, ins, stack, stmts, quiet_start)
            except IndexError:
                # a value taken from an empty stack: this reading of the block is wrong (say, a try
                # read as try/except whose clause is a finally handler's copy); refusing lets the
                # caller try its other readings
                raise self.refuse(ins, "instruction takes a value the stack does not hold") from None
        return stmts, stack

    def swapped_stores(self, i: int, hi: int, stack: list) -> list[str]:
        """The names of a run of ``STORE_FAST`` from ``i`` that take two or more plain expressions
        this statement pushed (nothing being built below them), each name once: the stores of
        ``a, b = x, y`` once the peephole pass removed its SWAP. Empty when the shape is not that."""
        names: list[str] = []
        k = i
        while (k < hi and self.instrs[k].opname == "STORE_FAST" and len(names) < len(stack)
               and self.instrs[k].argval not in names):
            value = stack[-1 - len(names)]
            if type(value) not in (Expr, Compare) or getattr(value, "yielded", None) is not None:
                break
            names.append(self.instrs[k].argval)
            k += 1
        if len(names) < 2 or busy(stack[:-len(names)]):
            return []
        return names

    def _catcher(self, k: int) -> int | None:
        """The handler offset an exception at instruction ``k`` goes to (None when not protected)."""
        offset = self.instrs[k].offset
        return next((e.target for e in self.exception_entries if e.start <= offset < e.end), None)

    def while_true_end(self, i: int, hi: int) -> int | None:
        """Index of the unconditional back-jump closing a ``while True`` loop that starts at ``i``."""
        best = None
        if self.instrs[i].opname == "FOR_ITER":
            return None
        for j in range(i + 1, hi):
            ins = self.instrs[j]
            if ins.opname in self.table["jumps"] and ins.argval == self.instrs[i].offset and j > i:
                if not self.loops or self.loops[-1].head != i:
                    best = j
        if best is not None and any(lp.head == i for lp in self.loops):
            return None
        if best is not None and GENERAL.get() and self._tests_past(i, best):
            return None  # the loop's own test starts here: ``while cond:`` whose ``continue`` jumps back to it
        return best

    def _tests_past(self, i: int, end: int) -> bool:
        """Whether instructions from ``i`` are one expression then a conditional jump beyond ``end``."""
        for q in range(i, min(end, i + 40)):
            ins = self.instrs[q]
            if ins.opname in self.table["cond_jumps"]:
                return self.target(ins) > end
            if ins.opname in self.table["jumps"] or ins.opname.startswith(("STORE", "RETURN", "POP_TOP")):
                return False
        return False

    def speculate(self, lo: int, hi: int, stack: list) -> tuple[list, list]:
        """``block`` for a reading that may be abandoned: a refusal gives ([None], []), and the
        exception-table entries it claimed are released unless its result is an expression."""
        consumed, declared = set(self.consumed), set(self.declared)
        try:
            stmts, rest = self.block(lo, hi, stack)
        except Refusal:
            stmts, rest = [None], []
        if stmts or len(rest) != len(stack) + 1:
            self.consumed, self.declared = consumed, declared
        return stmts, rest

    def loop_body(self, loop: Loop, lo: int, hi: int, stack: list) -> tuple[list, list]:
        self.loops.append(loop)
        try:
            return self.block(lo, hi, stack)
        finally:
            self.loops.pop()

    def step(self, i: int, hi: int, ins: dis.Instruction, stack: list, stmts: list, quiet_start: int) -> int:
        op, arg, argval = ins.opname, ins.arg, ins.argval
        t = self.table
        if op in t["skip"]:
            return i + 1
        if op in suspend.OPS:
            return suspend.step(self, i, hi, stack, stmts)
        if op == "POP_EXCEPT":
            return handlers.pop_except(self, i, stack)
        if op == "PUSH_NULL":
            stack.append(Null())
        elif op in ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE", "LOAD_NAME"):
            stack.append(Expr(argval, atom=True))
        elif op == "LOAD_GLOBAL":
            if arg & 1:
                stack.append(Null())
            stack.append(Expr(argval, atom=True))
        elif op == "LOAD_CONST":
            if isinstance(argval, types.CodeType):
                stack.append(Func(argval))
            else:
                stack.append(const_expr(argval, ins))
                stack[-1].const = (argval,)  # loaded as is: an operator over it was not folded
        elif op == "LOAD_ATTR":
            stack.append(Expr(f"{self.expr(stack.pop(), ins).p()}.{argval}", atom=True))
        elif op == "LOAD_METHOD":
            obj = self.expr(stack.pop(), ins)
            stack.extend([Null(), Expr(f"{obj.p()}.{argval}", atom=True)])
        elif op == "KW_NAMES":
            self.kw_names = self.code.co_consts[arg]
        elif op == "CALL":
            self.call(ins, arg, stack)
        elif op == "CALL_FUNCTION_EX":
            kwargs = self.expr(stack.pop(), ins) if arg & 1 else None
            args = self.expr(stack.pop(), ins)
            func = self.expr(stack.pop(), ins)
            if not isinstance(stack.pop(), Null):
                raise self.refuse(ins, "call without a NULL below the callable")
            positional = getattr(args, "items", None) if args.text.startswith("(") else None
            parts = list(positional) if positional is not None else [f"*{args.p()}"]
            if kwargs is not None and getattr(kwargs, "merged", False):
                parts += kwargs.keywords  # keywords and ``**`` maps, in their order
            elif kwargs is not None:
                parts.append(f"**{kwargs.p()}")
            stack.append(Expr(f"{func.p()}({', '.join(parts)})", atom=True))
        elif op == "STORE_FAST" and (names := self.swapped_stores(i, hi, stack)):
            # ``a, b = x, y``: the peephole pass dropped the SWAP and stores the names in reverse
            values = [self.expr(v, ins) for v in stack[-len(names):]]
            del stack[-len(names):]
            stmts.append(Line(f"{', '.join(reversed(names))} = {', '.join(v.p() for v in values)}"))
            return i + len(names)
        elif op in ("STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF"):
            if op == "STORE_GLOBAL":
                self.declared.add(f"global {argval}")
            if op == "STORE_DEREF" and argval in self.code.co_freevars:
                self.declared.add(f"nonlocal {argval}")
            self.store(argval, stack.pop(), ins, stmts)
        elif op == "STORE_ATTR":
            obj, value = self.expr(stack.pop(), ins), stack.pop()
            line = self.assign(f"{obj.p()}.{argval}", value, ins)
            stmts.extend([Line(line)] if line else [])
        elif op == "STORE_SUBSCR":
            key, obj, value = self.expr(stack.pop(), ins), self.expr(stack.pop(), ins), stack.pop()
            line = self.assign(f"{obj.p()}[{key.text}]", value, ins)
            stmts.extend([Line(line)] if line else [])
        elif op in ("DELETE_FAST", "DELETE_NAME", "DELETE_GLOBAL", "DELETE_DEREF"):
            stmts.append(Line(f"del {argval}"))
        elif op == "DELETE_ATTR":
            stmts.append(Line(f"del {self.expr(stack.pop(), ins).p()}.{argval}"))
        elif op == "DELETE_SUBSCR":
            key, obj = self.expr(stack.pop(), ins), self.expr(stack.pop(), ins)
            stmts.append(Line(f"del {obj.p()}[{key.text}]"))
        elif op == "BINARY_OP":
            right, left = self.expr(stack.pop(), ins), self.expr(stack.pop(), ins)
            if hasattr(left, "const"):
                right = opaque(right)
            if ins.argrepr.endswith("=") and ins.argrepr not in ("==",):
                stack.append(InPlace(left, ins.argrepr, right))
            else:
                stack.append(Expr(f"{left.p()} {ins.argrepr} {right.p()}"))
        elif op in ("UNARY_NEGATIVE", "UNARY_POSITIVE", "UNARY_INVERT", "UNARY_NOT"):
            sym = {"UNARY_NEGATIVE": "-", "UNARY_POSITIVE": "+", "UNARY_INVERT": "~", "UNARY_NOT": "not "}[op]
            stack.append(Expr(f"{sym}{opaque(self.expr(stack.pop(), ins)).p()}"))
        elif op in ("COMPARE_OP", "IS_OP", "CONTAINS_OP"):
            right, left = self.expr(stack.pop(), ins), self.expr(stack.pop(), ins)
            sym = argval if op == "COMPARE_OP" else (
                ("is not" if arg else "is") if op == "IS_OP" else ("not in" if arg else "in"))
            if op == "CONTAINS_OP":
                right = set_display(right)
            stack.append(Compare(f"{left.p()} {sym} {right.p()}", left=left, pairs=[(sym, right)]))
        elif op == "BINARY_SUBSCR":
            key, obj = self.expr(stack.pop(), ins), self.expr(stack.pop(), ins)
            if hasattr(obj, "const") or getattr(obj, "const_items", False):
                key = opaque(key)
            stack.append(Expr(f"{obj.p()}[{key.text}]", atom=True))
        elif op == "BUILD_SLICE":
            parts = [self.expr(stack.pop(), ins) for _ in range(arg)][::-1]
            stack.append(Expr(":".join("" if p.text == "None" else p.p() for p in parts), atom=False))
            stack[-1].atom = True  # only valid inside a subscript, the only place the compiler builds one
        elif op in ("BUILD_TUPLE", "BUILD_LIST", "BUILD_SET"):
            values = [self.expr(stack.pop(), ins) for _ in range(arg)][::-1]
            all_const = bool(values) and all(hasattr(v, "const") for v in values)
            if op == "BUILD_TUPLE" and all_const:  # the compiler folds a tuple of constants it can see
                values[-1] = opaque(values[-1])
            items = [v.text for v in values]
            if op == "BUILD_TUPLE":
                stack.append(_tuple(items))
                stack[-1].const_items = all_const
            elif op == "BUILD_LIST":
                stack.append(Expr("[" + ", ".join(items) + "]", atom=True))
                stack[-1].items = items
            elif not items:
                stack.append(Expr("set()", atom=True))  # a comprehension's accumulator, or set()'s prelude
            else:
                stack.append(Expr("{" + ", ".join(items) + "}", atom=True))
        elif (op == "LIST_EXTEND" and arg == 1 and getattr(stack[-2], "items", None) is not None
              and self.instrs[i - 1].opname != "LOAD_CONST"):  # ``[a, *b]``, also a call's ``f(a, *b)``
            value = self.expr(stack.pop(), ins)
            items = stack[-1].items + [f"*{value.p()}"]
            stack[-1] = Expr("[" + ", ".join(items) + "]", atom=True)
            stack[-1].items = items
        elif op == "LIST_APPEND" and arg == 1 and getattr(stack[-2], "items", None) is not None:  # ``[*a, b]``
            value = self.expr(stack.pop(), ins)
            items = stack[-1].items + [value.text]
            stack[-1] = Expr("[" + ", ".join(items) + "]", atom=True)
            stack[-1].items = items
        elif op == "LIST_TO_TUPLE":
            items = getattr(stack[-1], "items", None)
            if items is None or not stack[-1].text.startswith("["):
                raise self.refuse(ins, "LIST_TO_TUPLE of something that is not a list display")
            stack[-1] = _tuple(list(items))
        elif op in ("LIST_EXTEND", "SET_UPDATE"):
            self.expr(stack.pop(), ins)
            prev = self.instrs[i - 1]
            target = stack[-arg]
            if (arg != 1 or prev.opname != "LOAD_CONST" or not isinstance(target, Expr)
                    or target.text not in ("[]", "set()")):
                raise self.refuse(ins, "extend of a display by a non-constant")
            items = ", ".join(const_expr(v, prev).text for v in prev.argval)
            stack[-1] = Expr(("[" + items + "]") if op == "LIST_EXTEND" else ("{" + items + "}"), atom=True)
        elif op == "BUILD_MAP":
            pairs = [(self.expr(stack.pop(-2), ins), self.expr(stack.pop(), ins)) for _ in range(arg)][::-1]
            stack.append(Expr("{" + ", ".join(f"{k.text}: {v.text}" for k, v in pairs) + "}", atom=True))
            stack[-1].keywords = [keyword_of(k.text, ins) + "=" + v.text for k, v in pairs]
        elif op == "DICT_MERGE" and arg == 1:  # ``f(k=v, **extra)``: the keyword map of a call
            extra = self.expr(stack.pop(), ins)
            target = stack[-1]
            if getattr(target, "keywords", None) is None:
                raise self.refuse(ins, "keyword merge into something that is not a call's keywords")
            inline = getattr(extra, "keywords", None) is not None and not getattr(extra, "merged", False)
            target.keywords = target.keywords + (extra.keywords if inline else [f"**{extra.p()}"])
            target.merged = True
        elif op == "BUILD_CONST_KEY_MAP":
            keys = stack.pop()
            if not isinstance(keys, Expr):
                raise self.refuse(ins, "keys are not a constant tuple")
            values = [self.expr(stack.pop(), ins).text for _ in range(arg)][::-1]
            key_texts = [const_expr(k, ins).text for k in ins_const_keys(self, i)]
            stack.append(Expr("{" + ", ".join(f"{k}: {v}" for k, v in zip(key_texts, values)) + "}", atom=True))
        elif op == "FORMAT_VALUE":
            spec = fstring_pieces(self.expr(stack.pop(), ins), ins) if arg & 4 else None
            value = self.expr(stack.pop(), ins)
            conv = {0: "", 1: "!s", 2: "!r", 3: "!a"}[arg & 3]
            if "{" in value.text or "\\" in value.text or "}" in value.text:
                raise self.refuse(ins, "f-string field containing braces or backslashes")
            stack.append(fstring([("field", value.text, conv, spec)], ins))
        elif op == "BUILD_STRING":
            parts = [self.expr(stack.pop(), ins) for _ in range(arg)][::-1]
            stack.append(fstring([piece for part in parts for piece in fstring_pieces(part, ins)], ins))
        elif op == "UNPACK_SEQUENCE":
            value, names = stack.pop(), []
            if isinstance(value, Unpack):  # ``for i, (a, b) in ...``: a tuple target inside a tuple target
                value = NestedTarget(value)
            stack.extend(Unpack(value, names, arg) for _ in range(arg))
        elif op == "FOR_ITER":
            return self.for_loop(i, ins, stack, stmts)
        elif op == "GET_ITER":
            stack.append(Iter(set_display(self.expr(stack.pop(), ins))))
        elif op == "MAKE_FUNCTION":
            func = stack.pop()
            if not isinstance(func, Func):
                raise self.refuse(ins, "MAKE_FUNCTION without a code object")
            if arg & 0x08:
                stack.pop()  # the closure tuple: cells are named by the inner code itself
            if arg & 0x04:
                raise self.refuse(ins, "annotations")
            kwdefaults = stack.pop() if arg & 0x02 else None
            defaults = stack.pop() if arg & 0x01 else None
            stack.append(Func(func.code, defaults, kwdefaults))
        elif op == "RETURN_VALUE":
            value = stack.pop()
            if isinstance(value, Expr) and (i - 1 in self.inlined or (
                    self.instrs[i - 1].opname == "LOAD_CONST" and self._catcher(i - 1) != self._catcher(i))):
                # loaded before the copy of a finally body, or inside a try it returns out of: a
                # constant the source returns is loaded after leaving the try, so this one was no
                # plain constant there (``return 5 if 1 else a``)
                value = opaque(value)
            stmts.append(Return(self.expr(value, ins)))
        elif op == "RAISE_VARARGS":
            parts = [self.expr(stack.pop(), ins) for _ in range(arg)][::-1]
            text = "raise" + (f" {parts[0].text}" if parts else "") + (f" from {parts[1].text}" if arg == 2 else "")
            stmts.append(Return(Expr(text), raw=True))
            if arg == 1 and getattr(parts[0], "assertion", None) is not None:
                stmts[-1].assertion = parts[0].assertion  # only an ``assert`` raises this exact shape
        elif op == "LOAD_ASSERTION_ERROR":
            stack.append(Expr("AssertionError", atom=True))
            stack[-1].assertion = ""
        elif op in ("IMPORT_NAME", "IMPORT_FROM"):
            imports.step(self, ins, stack)
        elif op == "RETURN_GENERATOR":
            stack.append(GenMarker())
        elif op == "YIELD_VALUE":
            value = self.expr(stack.pop(), ins)
            stack.append(Expr(f"(yield {value.text})", atom=True))
            stack[-1].yielded = value.text  # a generator expression's element when popped there
        elif op in ("LIST_APPEND", "SET_ADD"):
            stmts.append(Append(self.expr(stack.pop(), ins).text))
        elif op == "MAP_ADD":
            value, key = self.expr(stack.pop(), ins), self.expr(stack.pop(), ins)
            stmts.append(Append(f"{key.text}: {value.text}"))
        elif op == "POP_TOP" and imports.pending(stack[-1]):
            stmts.append(Line(imports.statement(self, stack.pop(), ins)))
        elif op == "POP_TOP":
            value = stack.pop()
            if isinstance(value, suspend.EarlyExit):
                suspend.leave_with(self, i, stack)
            elif isinstance(value, GenMarker):
                if value.text:
                    stmts.append(Append(value.element) if self.code.co_name == "<genexpr>" else Line(value.text))
            elif isinstance(value, Iter):
                if i + 1 < hi or not self.loops:
                    nxt = self.instrs[i + 1] if i + 1 < len(self.instrs) else None
                    returns_const = (nxt is not None and nxt.opname == "LOAD_CONST" and i + 2 < len(self.instrs)
                                     and self.instrs[i + 2].opname == "RETURN_VALUE")  # ``return 1`` in a loop
                    if not returns_const and (nxt is None or nxt.opname not in ("JUMP_FORWARD", "JUMP_BACKWARD",
                                                                                "RETURN_VALUE")):
                        raise self.refuse(ins, "iterator popped outside break/return")
            elif isinstance(value, Waiting):
                pass  # the try's return value, dropped by a ``return`` in the finally body
            elif isinstance(value, Expr) and getattr(value, "yielded", None) is not None and self.code.co_name == "<genexpr>":
                stmts.append(Append(value.yielded))
            elif isinstance(value, Expr):
                stmts.append(Line(value.text))
            else:
                raise self.refuse(ins, f"POP_TOP of {type(value).__name__}")
        elif op == "SWAP" and (names := self.swap_stores(i, hi, arg, stack)):
            # ``a, b = x, y`` storing to cells or globals: the SWAP stays (only local stores lose it)
            values = [self.expr(v, ins) for v in stack[-arg:]]
            del stack[-arg:]
            for k, name in enumerate(names):
                if self.instrs[i + 1 + k].opname == "STORE_GLOBAL":
                    self.declared.add(f"global {name}")
                elif self.instrs[i + 1 + k].opname == "STORE_DEREF" and name in self.code.co_freevars:
                    self.declared.add(f"nonlocal {name}")
            stmts.append(Line(f"{', '.join(names)} = {', '.join(v.p() for v in values)}"))
            return i + 1 + arg
        elif op == "SWAP":
            stack[-1], stack[-arg] = stack[-arg], stack[-1]
        elif (op == "COPY" and arg == 1 and isinstance(stack[-1], Expr)
              and (found := patterns.match_statement(self, i, hi, stack, stmts)) is not None):
            return found  # a match statement: the subject copied for each case but the last
        elif op in ("MATCH_SEQUENCE", "MATCH_MAPPING", "MATCH_CLASS") and isinstance(stack[-1], Expr):
            # the only case of a match statement: its pattern starts on the subject itself
            found = patterns.match_statement(self, i, hi, stack, stmts, 2 if op == "MATCH_CLASS" else 0)
            if found is None:
                raise self.refuse(ins, "match statement of an unknown shape")
            return found
        elif op == "COPY" and arg == 1 and self.instrs[i + 1].opname != "LOAD_ATTR":
            top = stack[-1]
            if isinstance(top, Chain):
                top.needed += 1
            elif isinstance(top, Expr):
                top = stack[-1] = Chain(top, 2, [])
            else:
                raise self.refuse(ins, "COPY of a non-expression")
            stack.append(top)
        elif op == "COPY" and arg == 1 and self.instrs[i + 1].opname == "LOAD_ATTR":
            stack.append(stack[-1])  # ``obj.attr op= value``: the object, kept for the store
        elif (op == "COPY" and arg == 2 and self.instrs[i + 1].opname == "COPY" and self.instrs[i + 1].arg == 2
              and self.instrs[i + 2].opname == "BINARY_SUBSCR"):
            stack.extend([stack[-2], stack[-1]])  # ``obj[key] op= value``: object and key, kept for the store
            return i + 2
        elif op == "COPY":
            if (arg == 2 and i + 2 < hi and self.instrs[i + 1].opname in ("COMPARE_OP",)
                    and self.instrs[i - 1].opname == "SWAP"):
                stack.append(stack[-2])
            else:
                raise self.refuse(ins, "COPY outside a chained comparison")
        elif op in t["cond_jumps"]:
            return self.conditional(i, hi, ins, stack, stmts, quiet_start)
        elif op in ("JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP"):
            end = self.target(ins)
            if end > hi or end <= i:
                raise self.refuse(ins, "boolean operator jumping outside its block")
            left = self.expr(stack.pop(), ins)
            if ins.argrepr != FOLDED_TEST:  # (3.13 folded this one: closings.folded_tests)
                left = opaque(left)  # a constant here survived the peephole pass
            inner, rest = self.block(i + 1, end, stack)
            if inner or len(rest) != len(stack) + 1:
                raise self.refuse(ins, "boolean operator with statements inside")
            word = "and" if op == "JUMP_IF_FALSE_OR_POP" else "or"
            stack.append(Expr(f"{left.p()} {word} {self.expr(rest[-1], ins).p()}"))
            return end
        elif op in t["jumps"]:
            return self.jump(i, hi, ins, stack, stmts)
        else:
            raise self.refuse(ins, "no rule for this instruction")
        return i + 1
